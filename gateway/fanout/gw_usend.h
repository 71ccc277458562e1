/*
 * gw_usend.h - many sends, one system call (io_uring).
 *
 * A fan-out writes the same frame to every subscriber's socket: one send() each, and
 * on this kind of VM the system call itself (entry and exit) costs about as much as
 * the TCP work it carries. gw_usend queues those sends in an io_uring submission ring
 * and hands them to the kernel in one io_uring_enter, which runs each send on the spot
 * (MSG_DONTWAIT: a full socket answers -EAGAIN, it never waits) and posts its result.
 * gw_usend_flush returns only when every queued send has its result, so a caller's
 * buffers and connections need live only until then.
 *
 * The worker thread that creates a gw_usend is the only one to use it.
 */
#ifndef GW_USEND_H
#define GW_USEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct gw_usend gw_usend;

/* The result of one send: tag as given to gw_usend_add; res the bytes sent, or
 * -errno (-EAGAIN: the socket's buffer was full). */
typedef void (*gw_usend_done_fn)(void *ud, uint32_t tag, int res);

/* A ring for up to depth sends in flight (rounded up to a power of two by the kernel).
 * NULL when io_uring is not available (old kernel, disabled by the
 * kernel.io_uring_disabled sysctl or a seccomp filter); *why then says why. */
gw_usend *gw_usend_new(unsigned depth, const char **why);
void gw_usend_free(gw_usend *u);

/* Sends queued and not flushed yet. */
unsigned gw_usend_pending(const gw_usend *u);
/* How many sends fit before a flush is needed. */
unsigned gw_usend_room(const gw_usend *u);

/* Queues send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT). -1 when the ring is full
 * (flush first). buf must stay valid until the flush returns. */
int gw_usend_add(gw_usend *u, int fd, const void *buf, size_t len, uint32_t tag);

/* Queues sendmsg(fd, iov[0..n), MSG_NOSIGNAL | MSG_DONTWAIT): the pieces leave as one
 * send, in order (n <= 1024). -1 when the ring is full. iov and the bytes it points to
 * must stay valid until the flush returns. */
int gw_usend_add_iov(gw_usend *u, int fd, const struct iovec *iov, unsigned n, uint32_t tag);

/* Submits what is queued and calls done for each send, in completion order, before it
 * returns. Returns the io_uring_enter calls made (1 as a rule), or -1 when the kernel
 * refused part of it: then *submitted sends (the first ones added) went to the kernel
 * and those of them with no done call have an unknown fate, the rest were never
 * tried; the ring should not be used again (gw_usend_free). */
int gw_usend_flush(gw_usend *u, gw_usend_done_fn done, void *ud, unsigned *submitted);

#endif
