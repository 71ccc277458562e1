/*
 * gw_evloop.c - see gw_evloop.h.
 *
 * libev is opened with dlopen(RTLD_LOCAL), never linked: Debian's libev.so.4 also
 * exports a libevent emulation (event_add, event_base_new...), which, linked into the
 * gateway, would take those names from the real libevent the ingest thread runs on.
 * Loaded locally (as lws loads it for its evlib plugin), its symbols stay out of the
 * global scope and this file reaches the few it needs through dlsym. <ev.h> gives the
 * types and the watcher-initialising macros only.
 */
#include "gw_evloop.h"

#include <dlfcn.h>
#include <ev.h>
#include <stdlib.h>

#include "pulse_alloc.h"

static struct {
    void *dl;
    struct ev_loop *(*loop_new)(unsigned int flags);
    void (*loop_destroy)(struct ev_loop *loop);
    int (*run)(struct ev_loop *loop, int flags);
    void (*brk)(struct ev_loop *loop, int how);
    void (*check_start)(struct ev_loop *loop, ev_check *w);
    void (*check_stop)(struct ev_loop *loop, ev_check *w);
} ev;

struct gw_evloop {
    struct ev_loop *loop;
    void *foreign[1];
    ev_check check;   /* after each round: has the worker stopped? */
    const bool *stop;
};

/* Called from gw_worker_new on the main thread, before any worker runs. */
static int ev_open(void)
{
    if (ev.dl != NULL)
        return 0;
    ev.dl = dlopen("libev.so.4", RTLD_NOW | RTLD_LOCAL);
    if (ev.dl == NULL)
        return -1;
    *(void **)&ev.loop_new = dlsym(ev.dl, "ev_loop_new");
    *(void **)&ev.loop_destroy = dlsym(ev.dl, "ev_loop_destroy");
    *(void **)&ev.run = dlsym(ev.dl, "ev_run");
    *(void **)&ev.brk = dlsym(ev.dl, "ev_break");
    *(void **)&ev.check_start = dlsym(ev.dl, "ev_check_start");
    *(void **)&ev.check_stop = dlsym(ev.dl, "ev_check_stop");
    if (!ev.loop_new || !ev.loop_destroy || !ev.run || !ev.brk || !ev.check_start || !ev.check_stop) {
        dlclose(ev.dl);
        ev.dl = NULL;
        return -1;
    }
    return 0;
}

gw_evloop *gw_evloop_new(void)
{
    gw_evloop *l;

    if (ev_open() != 0)
        return NULL;
    l = pulse_xcalloc(1, sizeof(*l));
    /* epoll only; NOSIGMASK: this thread's signal mask stays as the node set it */
    l->loop = ev.loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK);
    if (l->loop == NULL) {
        free(l);
        return NULL;
    }
    l->foreign[0] = l->loop;
    return l;
}

void **gw_evloop_foreign(gw_evloop *l)
{
    return l->foreign;
}

static void on_check(struct ev_loop *loop, ev_check *w, int revents)
{
    gw_evloop *l = w->data;

    (void)revents;
    if (*l->stop)
        ev.brk(loop, EVBREAK_ALL);
}

void gw_evloop_run(gw_evloop *l, const bool *stop)
{
    l->stop = stop;
    ev_check_init(&l->check, on_check);
    l->check.data = l;
    ev.check_start(l->loop, &l->check);
    if (!*stop)
        ev.run(l->loop, 0);
    ev.check_stop(l->loop, &l->check);
}

void gw_evloop_free(gw_evloop *l)
{
    if (l == NULL)
        return;
    ev.loop_destroy(l->loop);
    free(l);
}
