/*
 * gw_epoll.h - lws's poll() answered from an epoll set (ws.event_loop = epoll, the
 * default).
 *
 * lws 4.1.6 as Debian builds it (no LWS_WITH_EXTERNAL_POLL) services a worker's
 * sockets with one poll() over its whole descriptor array per round, and the kernel
 * looks at every socket on every call: about 0.1 us each on this VM, 1 ms per round
 * at 10,000 connections whatever happened (a third of a worker's CPU in a storm of
 * 10,000 handshakes). libev (ws.event_loop = libev) avoids the walk but costs 128 B
 * per connection (two watchers in every wsi and libev's descriptor table).
 *
 * The gateway therefore defines poll() and close() itself: the dynamic linker binds
 * lws's calls to the executable's definitions before the C library's. On a worker
 * thread that attached an epoll set, lws's poll() over its own array is answered from
 * that set: a walk of the array in user space (a few ns per socket) registers the
 * descriptors the set does not hold yet and the events that changed, then one
 * epoll_wait(), and revents are written for the whole array as poll() writes them. A
 * descriptor that epoll reports but the array no longer holds leaves the set. Every
 * other call (other threads, other arrays) goes to the C library's poll().
 *
 * Descriptor numbers are reused. The kernel drops a closed descriptor from every epoll
 * set; close() here first forgets the descriptor in the process-wide table (8 bytes a
 * descriptor, touched only for sockets a worker polled), so a new socket that gets the
 * same number is registered again, even at the same place in the array with the same
 * events. tests/unit/check_epoll.c holds the emulation to ppoll()'s answers.
 */
#ifndef GW_EPOLL_H
#define GW_EPOLL_H

typedef struct gw_epoll gw_epoll;

/* A new epoll set, or NULL (errno set). The first call sizes the process-wide
 * descriptor table to RLIMIT_NOFILE: raise the limit before. */
gw_epoll *gw_epoll_new(void);
/* This thread's poll() calls are answered from e from now on (NULL: the C library's
 * again). The first array polled through it is the one it keeps in step with. */
void gw_epoll_attach(gw_epoll *e);
/* Frees e (after its thread detached it). NULL-safe. */
void gw_epoll_free(gw_epoll *e);

#endif
