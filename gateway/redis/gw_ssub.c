/*
 * gw_ssub.c - one non-blocking hiredis redisContext per cluster primary, driven by
 * libevent; see gw_ssub.h for the contract.
 *
 * Per connection: a one-shot write event (first the connect completion, then whenever
 * hiredis's output buffer holds commands), a persistent read event (after connect),
 * and a timer (connect timeout, or a failure found while opening, reported from the
 * loop so that callbacks never run inside a gw_ssub_* call). A connection that dies
 * or is closed is unhooked at once (its events deleted, removed from the live list)
 * and freed later by the reaper event, so a callback may close the connection whose
 * read handler is running: the handler sees `closed` and stops.
 */
#include "gw_ssub.h"

#include <errno.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pulse_alloc.h"
#include <sys/socket.h>

#define SSUB_DEFAULT_CONNECT_MS 2000
#define SSUB_DEFAULT_BATCH 512

typedef struct sconn {
    gw_ssub *s;
    gw_cnode node;
    redisContext *c;
    struct event *rev, *wev, *tev;
    bool connected;
    bool auth_pending;
    bool closed;
    char fail_reason[160]; /* a failure found while opening, reported by tev */
} sconn;

struct gw_ssub {
    struct event_base *base;
    gw_ssub_callbacks cbs;
    void *arg;
    char *password;
    int connect_timeout_ms;
    size_t batch_max;
    gw_slotmap *map;
    sconn **live;
    size_t nlive, caplive;
    sconn **dead; /* closed, waiting for the reaper */
    size_t ndead, capdead;
    struct event *reap_ev;
};

static void push_conn(sconn ***arr, size_t *n, size_t *cap, sconn *c)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *arr = pulse_xrealloc(*arr, *cap * sizeof **arr);
    }
    (*arr)[(*n)++] = c;
}

static void conn_destroy(sconn *c)
{
    if (c->rev)
        event_free(c->rev);
    if (c->wev)
        event_free(c->wev);
    if (c->tev)
        event_free(c->tev);
    if (c->c)
        redisFree(c->c);
    free(c);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    gw_ssub *s = arg;
    for (size_t i = 0; i < s->ndead; i++)
        conn_destroy(s->dead[i]);
    s->ndead = 0;
}

/* Unhooks c (no more events, not live) and hands it to the reaper. */
static void conn_unhook(sconn *c)
{
    gw_ssub *s = c->s;
    if (c->closed)
        return;
    c->closed = true;
    if (c->rev)
        event_del(c->rev);
    if (c->wev)
        event_del(c->wev);
    if (c->tev)
        event_del(c->tev);
    for (size_t i = 0; i < s->nlive; i++) {
        if (s->live[i] == c) {
            s->live[i] = s->live[--s->nlive];
            break;
        }
    }
    push_conn(&s->dead, &s->ndead, &s->capdead, c);
    event_active(s->reap_ev, 0, 0);
}

/* Only from event handlers: the connection is lost; tell the owner once. */
static void conn_fail(sconn *c, const char *reason)
{
    if (c->closed)
        return;
    gw_cnode node = c->node; /* the owner may open a new connection to it */
    conn_unhook(c);
    if (c->s->cbs.on_down)
        c->s->cbs.on_down(c->s, &node, reason, c->s->arg);
}

static void conn_flush(sconn *c)
{
    int done = 0;
    if (redisBufferWrite(c->c, &done) == REDIS_ERR) {
        char why[200];
        snprintf(why, sizeof why, "write: %s", c->c->errstr[0] ? c->c->errstr : "error");
        conn_fail(c, why);
        return;
    }
    if (!done)
        event_add(c->wev, NULL);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    sconn *c = arg;
    if (!c->connected) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            soerr = errno;
        if (soerr != 0) {
            char why[200];
            snprintf(why, sizeof why, "connect: %s", strerror(soerr));
            conn_fail(c, why);
            return;
        }
        c->connected = true;
        c->c->flags |= REDIS_CONNECTED;
        event_del(c->tev);
        event_add(c->rev, NULL);
    }
    conn_flush(c);
}

static void handle_reply(sconn *c, redisReply *r)
{
    if (c->auth_pending) {
        c->auth_pending = false;
        if (r->type == REDIS_REPLY_ERROR) {
            char why[200];
            snprintf(why, sizeof why, "AUTH refused: %.150s", r->str);
            conn_fail(c, why);
        }
        return;
    }
    gw_spush push;
    gw_spush_classify(r, &push);
    c->s->cbs.on_push(c->s, &c->node, &push, c->s->arg);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    sconn *c = arg;
    if (redisBufferRead(c->c) == REDIS_ERR) {
        char why[200];
        snprintf(why, sizeof why, "read: %s", c->c->errstr[0] ? c->c->errstr : "error");
        conn_fail(c, why);
        return;
    }
    while (!c->closed) {
        void *reply = NULL;
        if (redisGetReplyFromReader(c->c, &reply) != REDIS_OK) {
            char why[200];
            snprintf(why, sizeof why, "protocol error: %s", c->c->errstr);
            conn_fail(c, why);
            return;
        }
        if (reply == NULL)
            break;
        handle_reply(c, reply);
        freeReplyObject(reply);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    sconn *c = arg;
    char why[200];
    if (c->connected)
        return;
    if (c->fail_reason[0])
        snprintf(why, sizeof why, "%s", c->fail_reason);
    else
        snprintf(why, sizeof why, "connect timeout after %d ms", c->s->connect_timeout_ms);
    conn_fail(c, why);
}

static sconn *conn_open(gw_ssub *s, const gw_cnode *node)
{
    sconn *c = pulse_xcalloc(1, sizeof *c);
    c->s = s;
    c->node = *node;
    push_conn(&s->live, &s->nlive, &s->caplive, c);
    c->tev = evtimer_new(s->base, on_timer, c);
    if (c->tev == NULL)
        pulse_oom();
    c->c = redisConnectNonBlock(node->host, node->port);
    if (c->c == NULL)
        pulse_oom(); /* hiredis returns NULL only when it cannot allocate */
    if (c->c->err) {
        /* reported from the loop, never from inside the caller's gw_ssub_* call */
        snprintf(c->fail_reason, sizeof c->fail_reason, "connect: %.140s", c->c->errstr);
        struct timeval now = {0, 0};
        evtimer_add(c->tev, &now);
        return c;
    }
    c->rev = event_new(s->base, c->c->fd, EV_READ | EV_PERSIST, on_read, c);
    c->wev = event_new(s->base, c->c->fd, EV_WRITE, on_write, c);
    if (c->rev == NULL || c->wev == NULL)
        pulse_oom();
    struct timeval tmo = {s->connect_timeout_ms / 1000, (s->connect_timeout_ms % 1000) * 1000};
    evtimer_add(c->tev, &tmo);
    event_add(c->wev, NULL); /* writable = connect finished (or failed) */
    if (s->password) {
        const char *argv[2] = {"AUTH", s->password};
        size_t lens[2] = {4, strlen(s->password)};
        redisAppendCommandArgv(c->c, 2, argv, lens);
        c->auth_pending = true;
    }
    return c;
}

static sconn *conn_find(gw_ssub *s, const gw_cnode *node)
{
    for (size_t i = 0; i < s->nlive; i++) {
        if (gw_cnode_same(&s->live[i]->node, node))
            return s->live[i];
    }
    return NULL;
}

/* Queued commands go out when the socket is writable (after connect, if connecting). */
static void conn_want_write(sconn *c)
{
    if (c->connected && !c->closed)
        event_add(c->wev, NULL);
}

gw_ssub *gw_ssub_new(struct event_base *base, const gw_ssub_options *opts,
                     const gw_ssub_callbacks *cbs, void *arg)
{
    gw_ssub *s = pulse_xcalloc(1, sizeof *s);
    s->base = base;
    s->cbs = *cbs;
    s->arg = arg;
    s->connect_timeout_ms = SSUB_DEFAULT_CONNECT_MS;
    s->batch_max = SSUB_DEFAULT_BATCH;
    if (opts) {
        if (opts->password && opts->password[0]) {
            s->password = pulse_xstrdup(opts->password);
        }
        if (opts->connect_timeout_ms > 0)
            s->connect_timeout_ms = opts->connect_timeout_ms;
        if (opts->batch_max > 0)
            s->batch_max = opts->batch_max;
    }
    s->reap_ev = event_new(base, -1, 0, on_reap, s);
    if (s->reap_ev == NULL)
        pulse_oom();
    return s;
}

void gw_ssub_free(gw_ssub *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nlive; i++)
        conn_destroy(s->live[i]);
    for (size_t i = 0; i < s->ndead; i++)
        conn_destroy(s->dead[i]);
    free(s->live);
    free(s->dead);
    event_free(s->reap_ev);
    gw_slotmap_free(s->map);
    free(s->password);
    free(s);
}

void gw_ssub_set_map(gw_ssub *s, gw_slotmap *map)
{
    for (size_t i = s->nlive; i-- > 0;) {
        sconn *c = s->live[i];
        int idx = map ? gw_slotmap_find_primary(map, c->node.host, c->node.port) : -1;
        if (idx < 0 || map->shards[idx].nslots == 0 ||
            !gw_cnode_same(&map->shards[idx].primary, &c->node))
            conn_unhook(c);
    }
    gw_slotmap_free(s->map);
    s->map = map;
}

const gw_slotmap *gw_ssub_map(const gw_ssub *s)
{
    return s->map;
}

static int send_batches(gw_ssub *s, const char *cmd, const char *const *names, const size_t *lens,
                        size_t n, bool open_missing, pulse_error *err)
{
    if (n == 0)
        return 0;
    if (s->map == NULL)
        return pulse_error_set(err, PULSE_ENOENT, 0, "%s: no slot map yet; %zu channels not sent", cmd, n);
    gw_slot_ref *refs = pulse_xcalloc(n, sizeof *refs);
    gw_slot_batch *batches = pulse_xcalloc(n, sizeof *batches);
    const char **argv = pulse_xcalloc(s->batch_max + 1, sizeof *argv);
    size_t *argl = pulse_xcalloc(s->batch_max + 1, sizeof *argl);
    size_t nb = gw_slot_plan(names, lens, n, s->batch_max, refs, batches);
    size_t left_out = 0;
    argv[0] = cmd;
    argl[0] = strlen(cmd);
    for (size_t b = 0; b < nb; b++) {
        const gw_cshard *sh = gw_slotmap_shard(s->map, batches[b].slot);
        if (sh == NULL) {
            left_out += batches[b].count;
            continue;
        }
        sconn *c = conn_find(s, &sh->primary);
        if (c == NULL && !open_missing)
            continue;
        if (c == NULL)
            c = conn_open(s, &sh->primary);
        for (size_t k = 0; k < batches[b].count; k++) {
            size_t i = refs[batches[b].first + k].index;
            argv[k + 1] = names[i];
            argl[k + 1] = lens ? lens[i] : strlen(names[i]);
        }
        if (redisAppendCommandArgv(c->c, (int)batches[b].count + 1, argv, argl) != REDIS_OK)
            pulse_oom(); /* it only fails when it cannot allocate */
        conn_want_write(c);
    }
    free(argl);
    free(argv);
    free(batches);
    free(refs);
    if (left_out > 0)
        return pulse_error_set(err, PULSE_ENOENT, 0, "%s: %zu of %zu channels are in slots no primary serves",
                               cmd, left_out, n);
    return 0;
}

int gw_ssub_subscribe(gw_ssub *s, const char *const *names, const size_t *lens, size_t n,
                      pulse_error *err)
{
    return send_batches(s, "SSUBSCRIBE", names, lens, n, true, err);
}

int gw_ssub_unsubscribe(gw_ssub *s, const char *const *names, const size_t *lens, size_t n,
                        pulse_error *err)
{
    return send_batches(s, "SUNSUBSCRIBE", names, lens, n, false, err);
}

void gw_ssub_ping(gw_ssub *s)
{
    const char *argv[1] = {"PING"};
    size_t len[1] = {4};
    for (size_t i = 0; i < s->nlive; i++) {
        sconn *c = s->live[i];
        if (c->c->err)
            continue;
        if (redisAppendCommandArgv(c->c, 1, argv, len) != REDIS_OK)
            pulse_oom();
        conn_want_write(c);
    }
}

size_t gw_ssub_connections(const gw_ssub *s)
{
    return s->nlive;
}
