/*
 * gw_epoll.c - lws's poll() answered from an epoll set (gw_epoll.h says why and how).
 */
#include "gw_epoll.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define GW_EPOLL_EVENTS 1024 /* per epoll_wait(); more ready ones come at the next call */

/* One descriptor: the set that holds it (0: none) and what it was registered for, and
 * its place in that set's array at the last walk. */
typedef struct {
    _Atomic uint16_t set;
    uint16_t events;
    uint32_t idx;
} fd_slot;

static fd_slot *_Atomic table; /* indexed by descriptor; never freed */
static size_t table_cap;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static _Atomic uint32_t last_id;

struct gw_epoll {
    int ep;
    uint16_t id;
    const struct pollfd *arr; /* lws's array (pt->fds, allocated once per context) */
    struct epoll_event evs[GW_EPOLL_EVENTS];
};

static __thread gw_epoll *attached;

static void table_init(void)
{
    struct rlimit rl;
    size_t cap = 1u << 16;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        cap = (size_t)rl.rlim_cur;
    if (cap > (1u << 24))
        cap = 1u << 24;
    fd_slot *t = calloc(cap, sizeof(*t)); /* pages are touched only for descriptors polled */
    if (t) {
        table_cap = cap;
        atomic_store_explicit(&table, t, memory_order_release);
    }
}

static int libc_poll(struct pollfd *fds, nfds_t n, int timeout)
{
    struct timespec ts, *tp = NULL;
    if (timeout >= 0) {
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
        tp = &ts;
    }
    return ppoll(fds, n, tp, NULL);
}

int close(int fd)
{
    static int (*_Atomic next)(int);
    fd_slot *t = atomic_load_explicit(&table, memory_order_acquire);
    if (t && fd >= 0 && (size_t)fd < table_cap)
        atomic_store_explicit(&t[fd].set, 0, memory_order_relaxed);
    int (*f)(int) = atomic_load_explicit(&next, memory_order_relaxed);
    if (!f) {
        f = (int (*)(int))dlsym(RTLD_NEXT, "close");
        if (!f)
            return (int)syscall(SYS_close, fd);
        atomic_store_explicit(&next, f, memory_order_relaxed);
    }
    return f(fd);
}

/* (Re)registers fd in e for want; false when epoll will not take it (errno set). */
static bool enroll(gw_epoll *e, fd_slot *s, int fd, uint16_t want, bool held)
{
    struct epoll_event ev = {.events = want, .data.fd = fd};
    int op = held ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(e->ep, op, fd, &ev) != 0) {
        /* ADD of one it still holds (closed behind the table's back, or a duplicate),
         * MOD of one the kernel dropped at its close */
        if (errno != (held ? ENOENT : EEXIST))
            return false;
        if (epoll_ctl(e->ep, held ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0)
            return false;
    }
    atomic_store_explicit(&s->set, e->id, memory_order_relaxed);
    s->events = want;
    return true;
}

static int answer(gw_epoll *e, struct pollfd *fds, nfds_t nfds, int timeout)
{
    fd_slot *t = atomic_load_explicit(&table, memory_order_acquire);
    int ready = 0;
    for (nfds_t i = 0; i < nfds; i++) {
        struct pollfd *p = &fds[i];
        p->revents = 0;
        int fd = p->fd;
        if (fd < 0)
            continue; /* poll() skips it */
        if ((size_t)fd >= table_cap)
            return libc_poll(fds, nfds, timeout); /* cannot track it: the C library answers */
        fd_slot *s = &t[fd];
        uint16_t want = (uint16_t)p->events;
        bool held = atomic_load_explicit(&s->set, memory_order_relaxed) == e->id;
        if ((!held || s->events != want) && !enroll(e, s, fd, want, held)) {
            if (errno == EBADF) { /* not open: what poll() says of it */
                p->revents = POLLNVAL;
                ready++;
                continue;
            }
            return libc_poll(fds, nfds, timeout); /* a kind epoll refuses (a regular file) */
        }
        s->idx = (uint32_t)i;
    }
    int k = epoll_wait(e->ep, e->evs, GW_EPOLL_EVENTS, ready ? 0 : timeout);
    if (k < 0)
        return ready ? ready : -1; /* EINTR, as poll() */
    for (int j = 0; j < k; j++) {
        int fd = e->evs[j].data.fd;
        fd_slot *s = &t[fd];
        uint32_t i = s->idx;
        if (atomic_load_explicit(&s->set, memory_order_relaxed) != e->id || i >= nfds || fds[i].fd != fd) {
            /* held by the set but gone from the array without a close: it would be
             * reported on every call */
            epoll_ctl(e->ep, EPOLL_CTL_DEL, fd, NULL);
            if (atomic_load_explicit(&s->set, memory_order_relaxed) == e->id)
                atomic_store_explicit(&s->set, 0, memory_order_relaxed);
            continue;
        }
        short rev = (short)(e->evs[j].events & ((uint32_t)(uint16_t)fds[i].events | POLLERR | POLLHUP));
        if (rev) {
            fds[i].revents = rev;
            ready++;
        }
    }
    return ready;
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    gw_epoll *e = attached;
    if (!e)
        return libc_poll(fds, nfds, timeout);
    if (!e->arr)
        e->arr = fds;
    if (fds != e->arr)
        return libc_poll(fds, nfds, timeout);
    return answer(e, fds, nfds, timeout);
}

gw_epoll *gw_epoll_new(void)
{
    pthread_once(&table_once, table_init);
    if (!atomic_load_explicit(&table, memory_order_acquire)) {
        errno = ENOMEM;
        return NULL;
    }
    uint32_t id = atomic_fetch_add(&last_id, 1) + 1;
    if (id > UINT16_MAX) {
        errno = EMFILE;
        return NULL;
    }
    gw_epoll *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->ep = epoll_create1(EPOLL_CLOEXEC);
    if (e->ep < 0) {
        int err = errno;
        free(e);
        errno = err;
        return NULL;
    }
    e->id = (uint16_t)id;
    return e;
}

void gw_epoll_attach(gw_epoll *e)
{
    attached = e;
}

void gw_epoll_free(gw_epoll *e)
{
    if (!e)
        return;
    close(e->ep);
    free(e);
}
