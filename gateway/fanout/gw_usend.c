/*
 * gw_usend.c - many sends, one system call (io_uring); see gw_usend.h.
 */
#include "gw_usend.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct gw_usend {
    struct io_uring ring;
    unsigned queued;   /* SQEs prepared since the last flush */
    unsigned depth;    /* SQ entries */
    struct msghdr *mh; /* one per SQE, for gw_usend_add_iov (the kernel reads it) */
};

gw_usend *gw_usend_new(unsigned depth, const char **why)
{
    gw_usend *u = calloc(1, sizeof(*u));
    if (!u) {
        *why = "out of memory";
        return NULL;
    }
    /* One thread submits and reaps; completions need no task work from other CPUs. */
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
    p.cq_entries = 2 * depth;
    p.flags |= IORING_SETUP_CQSIZE;
    int rc = io_uring_queue_init_params(depth, &u->ring, &p);
    if (rc == -EINVAL) { /* a kernel before 6.0: no SINGLE_ISSUER */
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = 2 * depth;
        rc = io_uring_queue_init_params(depth, &u->ring, &p);
    }
    if (rc < 0) {
        *why = strerror(-rc);
        free(u);
        return NULL;
    }
    u->depth = p.sq_entries;
    u->mh = calloc(u->depth, sizeof(*u->mh));
    if (!u->mh) {
        *why = "out of memory";
        io_uring_queue_exit(&u->ring);
        free(u);
        return NULL;
    }
    return u;
}

void gw_usend_free(gw_usend *u)
{
    if (!u)
        return;
    io_uring_queue_exit(&u->ring);
    free(u->mh);
    free(u);
}

unsigned gw_usend_pending(const gw_usend *u)
{
    return u->queued;
}

unsigned gw_usend_room(const gw_usend *u)
{
    return u->depth - u->queued;
}

int gw_usend_add(gw_usend *u, int fd, const void *buf, size_t len, uint32_t tag)
{
    if (u->queued >= u->depth)
        return -1;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe)
        return -1;
    io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    io_uring_sqe_set_data64(sqe, tag);
    u->queued++;
    return 0;
}

int gw_usend_add_iov(gw_usend *u, int fd, const struct iovec *iov, unsigned n, uint32_t tag)
{
    if (u->queued >= u->depth)
        return -1;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe)
        return -1;
    struct msghdr *mh = &u->mh[u->queued];
    memset(mh, 0, sizeof(*mh));
    mh->msg_iov = (struct iovec *)iov;
    mh->msg_iovlen = n;
    io_uring_prep_sendmsg(sqe, fd, mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    io_uring_sqe_set_data64(sqe, tag);
    u->queued++;
    return 0;
}

/* Calls done for every completion posted so far; returns how many. */
static unsigned reap(gw_usend *u, gw_usend_done_fn done, void *ud)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe)
    {
        done(ud, (uint32_t)io_uring_cqe_get_data64(cqe), cqe->res);
        n++;
    }
    io_uring_cq_advance(&u->ring, n);
    return n;
}

int gw_usend_flush(gw_usend *u, gw_usend_done_fn done, void *ud, unsigned *submitted)
{
    unsigned want = u->queued, sent = 0, got = 0;
    int enters = 0, refusals = 0, rc = 0;
    u->queued = 0;
    /* Each send runs inline at submission (MSG_DONTWAIT never parks one on a poll), so
     * one enter usually submits and completes them all. */
    while (sent < want) {
        rc = io_uring_submit(&u->ring);
        enters++;
        if (rc > 0) {
            sent += (unsigned)rc;
        } else if ((rc == -EINTR || rc == -EAGAIN || rc == -EBUSY) && ++refusals < 4) {
            got += reap(u, done, ud); /* EBUSY: completions to take first */
            continue;
        } else {
            break;
        }
        got += reap(u, done, ud);
    }
    while (got < sent) {
        struct io_uring_cqe *cqe;
        int w = io_uring_wait_cqe(&u->ring, &cqe);
        enters++;
        if (w < 0 && w != -EINTR)
            break;
        got += reap(u, done, ud);
    }
    *submitted = sent;
    return sent == want && got == sent ? enters : -1;
}
