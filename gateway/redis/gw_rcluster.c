/*
 * gw_rcluster.c - gw_redis over Redis Cluster; see gw_rcluster.h.
 *
 * Two tables: the nodes this module has heard of (rnode: address, its command
 * connection, since when it is down; never removed, so an index stays valid) and the
 * channels the ingest thread wants (rchan, a chained hash: state, slot, and the node it
 * was subscribed on). Callbacks into the ingest thread are never made while a table is
 * being walked: names are collected first, then reported.
 */
#include "gw_rcluster.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_slot.h"
#include "gw_slotmap.h"
#include "gw_ssub.h"
#include "pulse_alloc.h"
#include "pulse_channel.h"
#include "pulse_clock.h"
#include "pulse_functions.h"
#include "pulse_log.h"

#define RC_REFRESH_RETRY_MS 250
#define RC_REFRESH_PERIOD_MS 5000
#define RC_REFRESH_TIMEOUT_MS 1000
#define RC_NODES_MAX 4096

typedef enum { CH_WANT = 0, CH_SENT, CH_UP, CH_DROP } ch_state;

typedef struct rchan {
    struct rchan *next;
    uint16_t slot;
    uint8_t state;
    int node;      /* index in r->nodes it was sent to (CH_SENT/UP/DROP), else -1 */
    char name[];
} rchan;

typedef struct rnode {
    gw_rcluster *owner;
    int index;
    char host[GW_CNODE_HOST_MAX + 1];
    int port;
    redisAsyncContext *ac;
    bool up, freeing, lib_sent;
    int64_t down_since; /* ms; 0 when not known to be down */
    char err[128];
} rnode;

struct gw_rcluster {
    struct event_base *base;
    const gw_config *cfg;
    gw_redis_cbs cbs;
    void *ud;
    bool started, stopped, sub_announced;
    gw_ssub *ssub;
    rnode **nodes;
    int nnodes, capnodes;
    rchan **buckets;
    size_t nbuckets, nchans;
    char **unsub_done; /* names whose unsubscription is confirmed without Redis */
    size_t nunsub, capunsub;
    struct event *flush_ev, *refresh_ev, *period_ev, *start_ev;
    bool flush_queued;
    bool refreshing, refresh_again;
    uint64_t refresh_gen;
    unsigned refresh_pick;
    int64_t refresh_sent_ms;
    char *library, *library_version;
    int lib_ok, lib_failed;
    uint64_t reconnects, refreshes, resubscribed;
    uint64_t refresh_why[4]; /* by reason: down, sunsubscribe, moved, periodic */
    uint64_t redirects[2];   /* routed commands redirected: MOVED, ASK */
    gw_read_queue pending; /* history reads waiting for a slot map */
    char reason[256], detail[256];
};

static void schedule_refresh(gw_rcluster *r, int ms);

/* A read that waited for the slot map, sent now (the map is there: no more waiting). */
static int read_now(void *r, const char *channel, bool has_after, uint64_t after, uint32_t count, bool reverse,
                    gw_reply_cb cb, void *ud)
{
    return gw_rcluster_history_read(r, channel, has_after, after, count, reverse, false, cb, ud);
}
static void queue_flush(gw_rcluster *r);

/* ---- the channel table ---- */

static size_t chan_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

static rchan *chan_get(const gw_rcluster *r, const char *name)
{
    if (!r->nbuckets)
        return NULL;
    for (rchan *c = r->buckets[chan_hash(name) & (r->nbuckets - 1)]; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static void chan_grow(gw_rcluster *r)
{
    size_t nb = r->nbuckets ? r->nbuckets * 2 : 256;
    rchan **b = pulse_xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < r->nbuckets; i++) {
        rchan *c = r->buckets[i];
        while (c) {
            rchan *next = c->next;
            size_t k = chan_hash(c->name) & (nb - 1);
            c->next = b[k];
            b[k] = c;
            c = next;
        }
    }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = nb;
}

static rchan *chan_add(gw_rcluster *r, const char *name)
{
    if (r->nchans >= r->nbuckets)
        chan_grow(r);
    size_t len = strlen(name);
    rchan *c = pulse_xcalloc(1, sizeof(*c) + len + 1);
    memcpy(c->name, name, len + 1);
    c->slot = (uint16_t)gw_slot_of(name, len);
    c->node = -1;
    size_t k = chan_hash(name) & (r->nbuckets - 1);
    c->next = r->buckets[k];
    r->buckets[k] = c;
    r->nchans++;
    return c;
}

static void chan_remove(gw_rcluster *r, rchan *c)
{
    rchan **pp = &r->buckets[chan_hash(c->name) & (r->nbuckets - 1)];
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = c->next;
        r->nchans--;
    }
    free(c);
}

/* A growable list of names, reported after a walk. */
typedef struct {
    char **v;
    size_t n, cap;
} namelist;

static void names_add(namelist *l, const char *name)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = pulse_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = pulse_xstrdup(name);
}

static void names_free(namelist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* Tells the ingest thread that names lost their subscription (they are subscribed
 * again by this module; on_subscribed follows). */
static void report_lost(gw_rcluster *r, namelist *l)
{
    for (size_t i = 0; i < l->n && !r->stopped; i++)
        if (r->cbs.on_lost)
            r->cbs.on_lost(r->ud, l->v[i], false);
    r->resubscribed += l->n;
    names_free(l);
}

/* ---- nodes and their command connections ---- */

static rnode *node_find(gw_rcluster *r, const char *host, int port)
{
    for (int i = 0; i < r->nnodes; i++)
        if (r->nodes[i]->port == port && strcmp(r->nodes[i]->host, host) == 0)
            return r->nodes[i];
    return NULL;
}

static rnode *node_get(gw_rcluster *r, const char *host, int port)
{
    rnode *n = node_find(r, host, port);
    if (n || r->nnodes >= RC_NODES_MAX)
        return n;
    if (r->nnodes == r->capnodes) {
        r->capnodes = r->capnodes ? r->capnodes * 2 : 8;
        r->nodes = pulse_xrealloc(r->nodes, (size_t)r->capnodes * sizeof(*r->nodes));
    }
    n = pulse_xcalloc(1, sizeof(*n));
    n->owner = r;
    n->index = r->nnodes;
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    snprintf(n->err, sizeof n->err, "not connected yet");
    r->nodes[r->nnodes++] = n;
    return n;
}

static const gw_slotmap *cur_map(const gw_rcluster *r)
{
    return r->ssub ? gw_ssub_map(r->ssub) : NULL;
}

/* The node serving slot as primary in the current map, or NULL. */
static rnode *slot_node(gw_rcluster *r, unsigned slot)
{
    const gw_cshard *sh = cur_map(r) ? gw_slotmap_shard(cur_map(r), slot) : NULL;
    return sh ? node_get(r, sh->primary.host, sh->primary.port) : NULL;
}

static void node_mark_down(rnode *n, const char *why)
{
    snprintf(n->err, sizeof n->err, "%s", why);
    if (!n->down_since)
        n->down_since = pulse_mono_ms();
}

static void cconn_lost(rnode *n, const char *why)
{
    bool was_up = n->up;
    n->ac = NULL;
    n->up = false;
    n->lib_sent = false;
    node_mark_down(n, why);
    if (was_up)
        PLOG_WARN("redis", "cluster command connection to %s:%d lost: %s", n->host, n->port, why);
}

static void cc_on_connect(const redisAsyncContext *ac, int status)
{
    rnode *n = ac->data;
    if (!n || n->freeing)
        return;
    if (status != REDIS_OK) {
        cconn_lost(n, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    n->up = true;
    n->down_since = 0;
    redisEnableKeepAlive((redisContext *)&ac->c);
}

static void cc_on_disconnect(const redisAsyncContext *ac, int status)
{
    rnode *n = ac->data;
    if (!n || n->freeing)
        return;
    cconn_lost(n, status == REDIS_OK ? "closed" : (ac->errstr[0] ? ac->errstr : "error"));
}

static void on_auth_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    redisReply *reply = reply_;
    rnode *n = ac->data;
    if (reply && reply->type == REDIS_REPLY_ERROR && n)
        PLOG_ERR("redis", "cluster node %s:%d: AUTH failed: %s", n->host, n->port, reply->str);
}

/* The node's command connection, opened (non-blocking) when there is none. Commands may
 * be queued on it at once: hiredis writes them once connected. NULL when it cannot be
 * opened now. */
static redisAsyncContext *cconn(rnode *n)
{
    gw_rcluster *r = n->owner;
    if (r->stopped)
        return NULL;
    if (n->ac)
        return n->ac;
    redisAsyncContext *ac = redisAsyncConnect(n->host, n->port);
    if (!ac)
        return NULL;
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        cconn_lost(n, why);
        return NULL;
    }
    ac->data = n;
    n->ac = ac;
    redisLibeventAttach(ac, r->base);
    redisAsyncSetConnectCallback(ac, cc_on_connect);
    redisAsyncSetDisconnectCallback(ac, cc_on_disconnect);
    if (r->cfg->redis_password && r->cfg->redis_password[0])
        redisAsyncCommand(ac, on_auth_reply, NULL, "AUTH %s", r->cfg->redis_password);
    return ac;
}

static void on_library_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    redisReply *reply = reply_;
    rnode *n = ac->data;
    if (!reply || !n || n->freeing)
        return;
    gw_rcluster *r = n->owner;
    if (reply->type == REDIS_REPLY_ERROR) {
        r->lib_failed++;
        PLOG_ERR("redis", "FUNCTION LOAD on cluster primary %s:%d failed: %s", n->host, n->port, reply->str);
        return;
    }
    r->lib_ok++;
    PLOG_INFO("redis", "function library pulse %s loaded on cluster primary %s:%d",
              r->library_version ? r->library_version : "", n->host, n->port);
}

/* The command connection of a primary, with the function library queued first. */
static redisAsyncContext *primary_conn(rnode *n)
{
    redisAsyncContext *ac = cconn(n);
    if (ac && !n->lib_sent && n->owner->library) {
        n->lib_sent = true;
        redisAsyncCommand(ac, on_library_reply, NULL, "FUNCTION LOAD REPLACE %s", n->owner->library);
    }
    return ac;
}

/* ---- subscriptions ---- */

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    gw_rcluster *r = arg;
    r->flush_queued = false;
    if (r->stopped)
        return;
    /* unsubscriptions confirmed without Redis (the channel had no subscription) */
    size_t nun = r->nunsub;
    char **un = r->unsub_done;
    r->unsub_done = NULL;
    r->nunsub = r->capunsub = 0;
    for (size_t i = 0; i < nun; i++) {
        if (!r->stopped && r->cbs.on_unsubscribed)
            r->cbs.on_unsubscribed(r->ud, un[i], false);
        free(un[i]);
    }
    free(un);
    if (!cur_map(r))
        return;
    /* every wanted channel whose slot has a primary: one SSUBSCRIBE per slot batch */
    const char **names = NULL;
    rchan **sent = NULL;
    size_t n = 0, cap = 0;
    for (size_t b = 0; b < r->nbuckets; b++)
        for (rchan *c = r->buckets[b]; c; c = c->next) {
            if (c->state != CH_WANT)
                continue;
            rnode *node = slot_node(r, c->slot);
            if (!node)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                names = pulse_xrealloc(names, cap * sizeof(*names));
                sent = pulse_xrealloc(sent, cap * sizeof(*sent));
            }
            c->state = CH_SENT;
            c->node = node->index;
            names[n] = c->name;
            sent[n++] = c;
        }
    if (n) {
        pulse_error err = {0};
        if (gw_ssub_subscribe(r->ssub, names, NULL, n, &err) != 0)
            PLOG_WARN("redis", "cluster: %s", err.text);
    }
    free(names);
    free(sent);
}

static void queue_flush(gw_rcluster *r)
{
    if (!r->flush_queued && !r->stopped) {
        r->flush_queued = true;
        event_active(r->flush_ev, 0, 0);
    }
}

static void unsub_confirm_later(gw_rcluster *r, const char *name)
{
    if (r->nunsub == r->capunsub) {
        r->capunsub = r->capunsub ? r->capunsub * 2 : 16;
        r->unsub_done = pulse_xrealloc(r->unsub_done, r->capunsub * sizeof(*r->unsub_done));
    }
    r->unsub_done[r->nunsub++] = pulse_xstrdup(name);
    queue_flush(r);
}

int gw_rcluster_subscribe(gw_rcluster *r, const char *name, bool is_pattern)
{
    if (r->stopped || is_pattern)
        return -1; /* sharded pub/sub has no patterns */
    rchan *c = chan_get(r, name);
    if (!c)
        c = chan_add(r, name);
    if (c->state == CH_DROP) /* the ingest thread waits for the unsubscription; never here */
        return -1;
    if (c->state == CH_UP) {
        /* already there (a lost report crossed this call): confirm again */
        c->state = CH_WANT;
    }
    if (c->state == CH_WANT)
        queue_flush(r);
    return 0;
}

int gw_rcluster_unsubscribe(gw_rcluster *r, const char *name, bool is_pattern)
{
    if (r->stopped || is_pattern)
        return -1;
    rchan *c = chan_get(r, name);
    if (!c) {
        unsub_confirm_later(r, name);
        return 0;
    }
    if ((c->state == CH_UP || c->state == CH_SENT) && c->node >= 0) {
        rnode *node = r->nodes[c->node];
        const char *names[1] = {c->name};
        pulse_error err = {0};
        if (node == slot_node(r, c->slot) && gw_ssub_unsubscribe(r->ssub, names, NULL, 1, &err) == 0) {
            c->state = CH_DROP;
            return 0;
        }
    }
    if (c->state == CH_DROP)
        return 0;
    unsub_confirm_later(r, name);
    chan_remove(r, c);
    return 0;
}

/* A channel name of a push, NUL-terminated in buf; "" for one that cannot be valid. */
static const char *push_name(const char *s, size_t len, char *buf, size_t cap)
{
    if (!s || len >= cap || memchr(s, '\0', len)) {
        buf[0] = '\0';
        return buf;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return buf;
}

static void on_push(gw_ssub *s, const gw_cnode *cn, const gw_spush *p, void *arg)
{
    gw_rcluster *r = arg;
    if (r->stopped)
        return;
    char name[PULSE_CHANNEL_MAX + 2];
    rnode *node = node_find(r, cn->host, cn->port);
    switch (p->kind) {
    case GW_SPUSH_SMESSAGE:
        r->cbs.on_message(r->ud, push_name(p->channel, p->channel_len, name, sizeof name), NULL, p->payload,
                          p->payload_len);
        return;
    case GW_SPUSH_SSUBSCRIBE: {
        if (node)
            node->down_since = 0;
        rchan *c = chan_get(r, push_name(p->channel, p->channel_len, name, sizeof name));
        if (c && c->state == CH_SENT && node && c->node == node->index) {
            c->state = CH_UP;
            if (r->cbs.on_subscribed)
                r->cbs.on_subscribed(r->ud, c->name, false);
        }
        return;
    }
    case GW_SPUSH_SUNSUBSCRIBE: {
        if (!p->channel)
            return;
        rchan *c = chan_get(r, push_name(p->channel, p->channel_len, name, sizeof name));
        if (!c || !node || c->node != node->index)
            return; /* from a node the channel already left: nothing to do */
        if (c->state == CH_DROP) {
            chan_remove(r, c);
            if (r->cbs.on_unsubscribed)
                r->cbs.on_unsubscribed(r->ud, name, false);
            return;
        }
        /* Redis dropped a channel we still want: its slot left that node */
        bool was_up = c->state == CH_UP;
        c->state = CH_WANT;
        c->node = -1;
        PLOG_INFO("redis", "cluster: %s:%d dropped shard channel %s (slot %u moved); resubscribing", cn->host,
                  cn->port, name, (unsigned)c->slot);
        if (was_up) {
            namelist l = {0};
            names_add(&l, name);
            report_lost(r, &l);
        }
        r->refresh_why[1]++;
        schedule_refresh(r, 0);
        return;
    }
    case GW_SPUSH_REDIRECT: {
        /* SSUBSCRIBE answered MOVED/ASK: the map is stale for that slot */
        for (size_t b = 0; b < r->nbuckets; b++)
            for (rchan *c = r->buckets[b]; c; c = c->next)
                if (c->state == CH_SENT && c->slot == p->redirect.slot) {
                    c->state = CH_WANT;
                    c->node = -1;
                }
        r->refresh_why[2]++;
        schedule_refresh(r, p->redirect.kind == GW_REDIRECT_ASK ? RC_REFRESH_RETRY_MS : 0);
        return;
    }
    case GW_SPUSH_ERROR:
    case GW_SPUSH_UNEXPECTED: {
        static pulse_log_limit lim;
        PULSE_LOG_LIMITED(&lim, 1000, PULSE_LOG_WARN, "redis", "cluster subscriber %s:%d: %s: %.*s", cn->host,
                          cn->port, gw_spush_kind_name(p->kind), (int)p->text_len, p->text ? p->text : "");
        return;
    }
    default:
        return;
    }
}

/* A subscriber connection is gone: every channel on it lost its subscription. */
static void on_down(gw_ssub *s, const gw_cnode *cn, const char *reason, void *arg)
{
    gw_rcluster *r = arg;
    if (r->stopped)
        return;
    rnode *node = node_get(r, cn->host, cn->port);
    if (!node)
        return;
    static pulse_log_limit lim;
    PULSE_LOG_LIMITED(&lim, 1000, PULSE_LOG_WARN, "redis", "cluster subscriber connection to %s:%d down: %s",
                      cn->host, cn->port, reason);
    bool again = node->down_since != 0;
    if (!again)
        r->reconnects++;
    node_mark_down(node, reason);
    namelist lost = {0}, dropped = {0};
    for (size_t b = 0; b < r->nbuckets; b++) {
        rchan **pp = &r->buckets[b];
        while (*pp) {
            rchan *c = *pp;
            if (c->node != node->index) {
                pp = &c->next;
                continue;
            }
            if (c->state == CH_DROP) {
                names_add(&dropped, c->name);
                *pp = c->next;
                r->nchans--;
                free(c);
                continue;
            }
            if (c->state == CH_UP)
                names_add(&lost, c->name);
            c->state = CH_WANT;
            c->node = -1;
            pp = &c->next;
        }
    }
    report_lost(r, &lost);
    for (size_t i = 0; i < dropped.n && !r->stopped; i++)
        if (r->cbs.on_unsubscribed)
            r->cbs.on_unsubscribed(r->ud, dropped.v[i], false);
    names_free(&dropped);
    /* the first loss refreshes at once; a node still refusing is tried at the retry pace */
    r->refresh_why[0]++;
    schedule_refresh(r, again ? RC_REFRESH_RETRY_MS : 0);
}

/* ---- the slot map ---- */

/* A new map: channels whose slot now has another primary lost their subscription
 * (the old connection is closed by gw_ssub_set_map, or Redis pushes sunsubscribe
 * there, which is then ignored); every primary gets the library; what waits is sent. */
static void apply_map(gw_rcluster *r, gw_slotmap *m)
{
    const gw_slotmap *old = cur_map(r);
    bool first = old == NULL;
    namelist lost = {0};
    for (size_t b = 0; b < r->nbuckets; b++)
        for (rchan *c = r->buckets[b]; c; c = c->next) {
            if (c->state != CH_SENT && c->state != CH_UP)
                continue;
            const gw_cshard *sh = gw_slotmap_shard(m, c->slot);
            rnode *was = r->nodes[c->node];
            if (sh && sh->primary.port == was->port && strcmp(sh->primary.host, was->host) == 0)
                continue;
            if (c->state == CH_UP)
                names_add(&lost, c->name);
            c->state = CH_WANT;
            c->node = -1;
        }
    gw_ssub_set_map(r->ssub, m);
    r->refreshes++;
    for (size_t i = 0; i < m->nshards; i++)
        if (m->shards[i].nslots > 0) {
            rnode *n = node_get(r, m->shards[i].primary.host, m->shards[i].primary.port);
            if (n)
                primary_conn(n);
        }
    if (first)
        PLOG_INFO("redis", "cluster: slot map learned, %zu shards, %u slots uncovered", m->nshards, m->uncovered);
    report_lost(r, &lost);
    queue_flush(r);
    if (!r->sub_announced && !r->stopped) {
        r->sub_announced = true;
        if (r->cbs.on_sub_state)
            r->cbs.on_sub_state(r->ud, true);
    }
    /* reads that waited for a map */
    gw_read_queue_flush(&r->pending, read_now, r, "Redis Cluster not reachable");
    /* a shard whose primary is down: look again soon (a failover takes node timeout +
     * election) */
    for (size_t i = 0; i < m->nshards; i++) {
        rnode *n = m->shards[i].nslots ? node_find(r, m->shards[i].primary.host, m->shards[i].primary.port) : NULL;
        if ((n && n->down_since) || m->uncovered)
            schedule_refresh(r, RC_REFRESH_RETRY_MS);
    }
}

typedef struct {
    gw_rcluster *r;
    uint64_t gen;
    int node;
} refresh_ctx;

static void on_map_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    refresh_ctx *x = privdata;
    gw_rcluster *r = x->r;
    redisReply *reply = reply_;
    rnode *n = r->nodes[x->node];
    bool current = x->gen == r->refresh_gen && !r->stopped;
    free(x);
    if (!current)
        return;
    r->refreshing = false;
    evtimer_del(r->refresh_ev); /* the answer came: no timeout retry */
    gw_slotmap *m = NULL;
    pulse_error err = {0};
    if (!reply) {
        schedule_refresh(r, RC_REFRESH_RETRY_MS);
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 && reply->element[0]->type == REDIS_REPLY_ARRAY &&
        reply->element[0]->elements > 0 && reply->element[0]->element[0]->type == REDIS_REPLY_INTEGER)
        gw_slotmap_from_slots(&m, reply, &err); /* CLUSTER SLOTS: [start, end, nodes...] */
    else if (reply->type == REDIS_REPLY_ERROR && strcasestr(reply->str, "unknown subcommand")) {
        refresh_ctx *y = pulse_xmalloc(sizeof(*y));
        *y = (refresh_ctx){r, r->refresh_gen, n->index};
        r->refreshing = true;
        if (redisAsyncCommand(ac, on_map_reply, y, "CLUSTER SLOTS") != REDIS_OK) {
            free(y);
            r->refreshing = false;
        }
        return;
    } else
        gw_slotmap_from_shards(&m, reply, &err);
    if (m && gw_slotmap_fill_host(m, n->host) != 0) {
        gw_slotmap_free(m);
        m = NULL;
    }
    if (!m) {
        static pulse_log_limit lim;
        PULSE_LOG_LIMITED(&lim, 5000, PULSE_LOG_WARN, "redis", "cluster map from %s:%d refused: %s", n->host, n->port,
                          err.text[0] ? err.text : "bad reply");
        schedule_refresh(r, RC_REFRESH_RETRY_MS);
        return;
    }
    apply_map(r, m);
    if (r->refresh_again) {
        r->refresh_again = false;
        schedule_refresh(r, 0);
    }
}

/* The node to ask: the seeds and every node of the map, in turn. */
static rnode *pick_map_node(gw_rcluster *r)
{
    const gw_slotmap *m = cur_map(r);
    size_t nseeds = r->cfg->n_redis_seeds;
    size_t total = nseeds + (m ? m->nshards : 0);
    for (size_t tries = 0; tries < total; tries++) {
        size_t k = r->refresh_pick++ % total;
        rnode *n;
        if (k < nseeds)
            n = node_get(r, r->cfg->redis_seeds[k].host, r->cfg->redis_seeds[k].port);
        else
            n = node_get(r, m->shards[k - nseeds].primary.host, m->shards[k - nseeds].primary.port);
        /* skip a node known down unless nothing else is left */
        if (n && (!n->down_since || tries + 1 == total))
            return n;
    }
    return NULL;
}

static void do_refresh(gw_rcluster *r)
{
    if (r->stopped)
        return;
    int64_t now = pulse_mono_ms();
    if (r->refreshing && now - r->refresh_sent_ms < RC_REFRESH_TIMEOUT_MS) {
        r->refresh_again = true;
        return;
    }
    rnode *n = pick_map_node(r);
    redisAsyncContext *ac = n ? cconn(n) : NULL;
    r->refresh_gen++;
    r->refreshing = false;
    if (!ac) {
        schedule_refresh(r, RC_REFRESH_RETRY_MS);
        return;
    }
    refresh_ctx *x = pulse_xmalloc(sizeof(*x));
    *x = (refresh_ctx){r, r->refresh_gen, n->index};
    if (redisAsyncCommand(ac, on_map_reply, x, "CLUSTER SHARDS") != REDIS_OK) {
        free(x);
        schedule_refresh(r, RC_REFRESH_RETRY_MS);
        return;
    }
    r->refreshing = true;
    r->refresh_sent_ms = now;
    /* no answer within the timeout: the next attempt asks another node */
    schedule_refresh(r, RC_REFRESH_TIMEOUT_MS);
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
    do_refresh(arg);
}

/* Refresh in ms (0: on the next loop iteration); an earlier schedule wins. */
static void schedule_refresh(gw_rcluster *r, int ms)
{
    if (r->stopped)
        return;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    struct timeval left;
    if (evtimer_pending(r->refresh_ev, &left)) {
        struct timeval now;
        event_base_gettimeofday_cached(r->base, &now);
        int64_t due = (int64_t)left.tv_sec * 1000 + left.tv_usec / 1000;
        int64_t want = (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000 + ms;
        if (due <= want)
            return;
    }
    evtimer_add(r->refresh_ev, &tv);
}

static void on_period(evutil_socket_t fd, short what, void *arg)
{
    gw_rcluster *r = arg;
    r->refresh_why[3]++;
    schedule_refresh(r, 0);
    gw_ssub_ping(r->ssub);
}

static void on_start(evutil_socket_t fd, short what, void *arg)
{
    do_refresh(arg);
}

/* ---- lifecycle ---- */

gw_rcluster *gw_rcluster_new(struct event_base *base, const gw_config *cfg, const gw_redis_cbs *cbs, void *ud)
{
    gw_rcluster *r = pulse_xcalloc(1, sizeof(*r));
    r->base = base;
    r->cfg = cfg;
    r->cbs = *cbs;
    r->ud = ud;
    gw_ssub_options opts = {cfg->redis_password, 0, 0};
    static const gw_ssub_callbacks scbs = {on_push, on_down};
    r->ssub = gw_ssub_new(base, &opts, &scbs, r);
    r->flush_ev = event_new(base, -1, 0, on_flush, r);
    r->refresh_ev = evtimer_new(base, on_refresh, r);
    r->period_ev = event_new(base, -1, EV_PERSIST, on_period, r);
    r->start_ev = evtimer_new(base, on_start, r);
    if (!r->flush_ev || !r->refresh_ev || !r->period_ev || !r->start_ev)
        pulse_oom();
    return r;
}

void gw_rcluster_start(gw_rcluster *r)
{
    r->started = true;
    struct timeval period = {RC_REFRESH_PERIOD_MS / 1000, 0}, now = {0, 0};
    event_add(r->period_ev, &period);
    evtimer_add(r->start_ev, &now);
}

static void fail_pending(gw_rcluster *r)
{
    gw_read_queue_flush(&r->pending, NULL, NULL, "Redis connection lost");
}

void gw_rcluster_stop(gw_rcluster *r)
{
    if (!r || r->stopped)
        return;
    r->stopped = true;
    event_del(r->period_ev);
    event_del(r->refresh_ev);
    event_del(r->start_ev);
    event_del(r->flush_ev);
    gw_ssub_free(r->ssub);
    r->ssub = NULL;
    for (int i = 0; i < r->nnodes; i++) {
        rnode *n = r->nodes[i];
        if (n->ac) {
            n->freeing = true;
            redisAsyncFree(n->ac); /* pending callbacks run with no reply */
            n->ac = NULL;
            n->up = false;
        }
    }
    fail_pending(r);
}

void gw_rcluster_free(gw_rcluster *r)
{
    if (!r)
        return;
    gw_rcluster_stop(r);
    event_free(r->flush_ev);
    event_free(r->refresh_ev);
    event_free(r->period_ev);
    event_free(r->start_ev);
    for (int i = 0; i < r->nnodes; i++)
        free(r->nodes[i]);
    free(r->nodes);
    for (size_t b = 0; b < r->nbuckets; b++) {
        rchan *c = r->buckets[b];
        while (c) {
            rchan *next = c->next;
            free(c);
            c = next;
        }
    }
    free(r->buckets);
    for (size_t i = 0; i < r->nunsub; i++)
        free(r->unsub_done[i]);
    free(r->unsub_done);
    free(r->library);
    free(r->library_version);
    free(r);
}

void gw_rcluster_set_library(gw_rcluster *r, const char *src, const char *version)
{
    free(r->library);
    free(r->library_version);
    r->library = src ? pulse_xstrdup(src) : NULL;
    r->library_version = version ? pulse_xstrdup(version) : NULL;
}

bool gw_rcluster_library_loaded(const gw_rcluster *r)
{
    return r->lib_ok > 0 && r->lib_failed == 0;
}

/* ---- commands routed by slot, following MOVED/ASK once ---- */

typedef struct {
    gw_rcluster *r;
    int argc;
    char **argv;
    size_t *lens;
    bool redirected;
    int node;
    gw_publish_cb pcb; /* a publish: the integer result */
    gw_reply_cb rcb;   /* any command: the reply */
    void *ud;
} routed;

static void routed_free(routed *x)
{
    for (int i = 0; i < x->argc; i++)
        free(x->argv[i]);
    free(x->argv);
    free(x->lens);
    free(x);
}

static void routed_done(routed *x, const redisReply *reply, const char *err)
{
    if (x->pcb) {
        if (!reply)
            x->pcb(x->ud, -1, err ? err : "Redis connection lost");
        else if (reply->type == REDIS_REPLY_INTEGER)
            x->pcb(x->ud, reply->integer, NULL);
        else
            x->pcb(x->ud, -1, reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    } else {
        x->rcb(x->ud, reply, reply ? NULL : err ? err : "Redis connection lost");
    }
    routed_free(x);
}

static int routed_send(routed *x, rnode *n, bool asking);

static void on_routed_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    routed *x = privdata;
    redisReply *reply = reply_;
    gw_rcluster *r = x->r;
    if (reply && reply->type == REDIS_REPLY_ERROR && !x->redirected && !r->stopped) {
        gw_redirect rd;
        if (gw_redirect_parse(reply->str, reply->len, &rd, NULL) == 0) {
            const char *host = rd.host[0] ? rd.host : r->nodes[x->node]->host;
            rnode *to = node_get(r, host, rd.port);
            x->redirected = true;
            r->redirects[rd.kind == GW_REDIRECT_ASK]++;
            if (rd.kind == GW_REDIRECT_MOVED) {
                r->refresh_why[2]++;
                schedule_refresh(r, 0);
            }
            if (to && routed_send(x, to, rd.kind == GW_REDIRECT_ASK) == 0)
                return;
        }
    }
    routed_done(x, reply, NULL);
}

static int routed_send(routed *x, rnode *n, bool asking)
{
    redisAsyncContext *ac = primary_conn(n);
    if (!ac)
        return -1;
    x->node = n->index;
    if (asking)
        redisAsyncCommand(ac, NULL, NULL, "ASKING");
    return redisAsyncCommandArgv(ac, on_routed_reply, x, x->argc, (const char **)x->argv, x->lens) == REDIS_OK
               ? 0
               : -1;
}

/* Sends argv to the primary of key's slot. 0, or -1 (no callback) when the map does not
 * know a primary for it or its connection cannot be opened. */
static int route(gw_rcluster *r, const char *key, int argc, const char **argv, const size_t *lens, gw_publish_cb pcb,
                 gw_reply_cb rcb, void *ud)
{
    if (r->stopped || !cur_map(r))
        return -1;
    rnode *n = slot_node(r, gw_slot_of(key, strlen(key)));
    if (!n)
        return -1;
    routed *x = pulse_xcalloc(1, sizeof(*x));
    x->r = r;
    x->argc = argc;
    x->argv = pulse_xcalloc((size_t)argc, sizeof(*x->argv));
    x->lens = pulse_xcalloc((size_t)argc, sizeof(*x->lens));
    for (int i = 0; i < argc; i++) {
        x->lens[i] = lens ? lens[i] : strlen(argv[i]);
        x->argv[i] = pulse_xmalloc(x->lens[i] + 1);
        memcpy(x->argv[i], argv[i], x->lens[i]);
        x->argv[i][x->lens[i]] = '\0';
    }
    x->pcb = pcb;
    x->rcb = rcb;
    x->ud = ud;
    if (routed_send(x, n, false) != 0) {
        routed_free(x);
        return -1;
    }
    return 0;
}

int gw_rcluster_publish(gw_rcluster *r, const char *channel, const char *payload, size_t len, gw_publish_cb cb,
                        void *ud)
{
    const char *argv[6];
    size_t lens[6];
    char meta[PULSE_CHANNEL_MAX + 16], stream[PULSE_CHANNEL_MAX + 16];
    int argc;
    if (r->library) {
        /* the cluster form: the keys it touches declared (see pulse_cluster_keys) */
        if (pulse_cluster_keys(channel, meta, sizeof meta, stream, sizeof stream) != 0)
            return -1;
        argv[0] = "FCALL", argv[1] = PULSE_FN_PUBLISH, argv[2] = "2", argv[3] = meta, argv[4] = stream;
        argv[5] = payload;
        argc = 6;
    } else {
        argv[0] = "SPUBLISH", argv[1] = channel, argv[2] = payload;
        argc = 3;
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    lens[argc - 1] = len;
    return route(r, channel, argc, argv, lens, cb, NULL, ud);
}

int gw_rcluster_command(gw_rcluster *r, int argc, const char **argv, const size_t *argvlen, gw_reply_cb cb,
                        void *ud)
{
    /* FCALL[_RO] fn 1 <channel> ...: routed by its key; anything else to the primary of
     * slot 0 */
    const char *key = "";
    if (argc >= 4 && (strcasecmp(argv[0], "FCALL") == 0 || strcasecmp(argv[0], "FCALL_RO") == 0) &&
        strcmp(argv[2], "0") != 0)
        key = argv[3];
    return route(r, key, argc, argv, argvlen, NULL, cb, ud);
}

int gw_rcluster_history_read(gw_rcluster *r, const char *channel, bool has_after, uint64_t after, uint32_t count,
                             bool reverse, bool wait, gw_reply_cb cb, void *ud)
{
    if (r->stopped || pulse_channel_validate(channel, strlen(channel)) != 0)
        return -1;
    rnode *n = cur_map(r) ? slot_node(r, gw_slot_of(channel, strlen(channel))) : NULL;
    redisAsyncContext *ac = n ? primary_conn(n) : NULL;
    if (!ac && wait && !cur_map(r)) {
        gw_read_queue_push(&r->pending, channel, has_after, after, count, reverse, cb, ud);
        return 0;
    }
    if (!ac)
        return -1;
    /* the history keys share the channel's slot: one transaction on its primary */
    return gw_redis_read_on(ac, channel, has_after, after, count, reverse, cb, ud);
}

/* ---- health ---- */

/* Shards serving slots whose primary is known down; *first gets one of them. */
static int shards_down(const gw_rcluster *r, const gw_slotmap *m, const rnode **first, int *serving)
{
    int down = 0;
    *serving = 0;
    *first = NULL;
    for (size_t i = 0; i < m->nshards; i++) {
        if (!m->shards[i].nslots)
            continue;
        (*serving)++;
        const rnode *n = node_find((gw_rcluster *)r, m->shards[i].primary.host, m->shards[i].primary.port);
        if (n && n->down_since) {
            down++;
            if (!*first)
                *first = n;
        }
    }
    return down;
}

bool gw_rcluster_healthy(const gw_rcluster *r, const char **reason)
{
    gw_rcluster *m = (gw_rcluster *)r;
    const gw_slotmap *map = cur_map(r);
    const rnode *first = NULL;
    int serving = 0;
    bool ok = !r->stopped && map && map->uncovered == 0 && shards_down(r, map, &first, &serving) < serving;
    if (ok || !reason)
        return ok;
    if (r->stopped)
        snprintf(m->reason, sizeof m->reason, "shutting down");
    else if (!map)
        snprintf(m->reason, sizeof m->reason, "learning the Redis Cluster slot map (%zu seeds, first %s:%d)",
                 r->cfg->n_redis_seeds, r->cfg->redis_host, r->cfg->redis_port);
    else if (map->uncovered)
        snprintf(m->reason, sizeof m->reason, "Redis Cluster: %u slots have no primary", map->uncovered);
    else
        snprintf(m->reason, sizeof m->reason, "Redis Cluster: every shard is down (%.64s:%d: %.100s)",
                 first ? first->host : "?", first ? first->port : 0, first ? first->err : "?");
    *reason = m->reason;
    return false;
}

const char *gw_rcluster_detail(const gw_rcluster *r)
{
    gw_rcluster *m = (gw_rcluster *)r;
    const gw_slotmap *map = cur_map(r);
    if (!map) {
        snprintf(m->detail, sizeof m->detail, "cluster: no slot map yet");
        return m->detail;
    }
    const rnode *first = NULL;
    int serving = 0;
    int down = shards_down(r, map, &first, &serving);
    if (down && first)
        snprintf(m->detail, sizeof m->detail,
                 "cluster: %d shards, %d without a reachable primary (%.64s:%d down for %lld ms: %.60s); "
                 "%llu map refreshes, %llu resubscriptions",
                 serving, down, first->host, first->port, (long long)(pulse_mono_ms() - first->down_since),
                 first->err, (unsigned long long)r->refreshes, (unsigned long long)r->resubscribed);
    else
        snprintf(m->detail, sizeof m->detail,
                 "cluster: %d shards, all up; %llu map refreshes, %llu resubscriptions", serving,
                 (unsigned long long)r->refreshes, (unsigned long long)r->resubscribed);
    return m->detail;
}

bool gw_rcluster_sub_up(const gw_rcluster *r)
{
    return !r->stopped && r->sub_announced;
}

uint64_t gw_rcluster_reconnects(const gw_rcluster *r)
{
    return r->reconnects;
}

static const char *const refresh_reasons[4] = {"down", "sunsubscribe", "moved", "periodic"};

void gw_rcluster_metrics(const gw_rcluster *r, struct evbuffer *o)
{
    const gw_slotmap *map = cur_map(r);
    const rnode *first = NULL;
    int serving = 0, down = map ? shards_down(r, map, &first, &serving) : 0;
    evbuffer_add_printf(o, "# HELP pulse_redis_cluster_primaries Redis Cluster primaries serving slots.\n"
                           "# TYPE pulse_redis_cluster_primaries gauge\npulse_redis_cluster_primaries %d\n",
                        serving);
    evbuffer_add_printf(o, "# HELP pulse_redis_cluster_shards_down Shards whose primary this node cannot reach.\n"
                           "# TYPE pulse_redis_cluster_shards_down gauge\npulse_redis_cluster_shards_down %d\n",
                        down);
    evbuffer_add_printf(o, "# HELP pulse_redis_cluster_map_refreshes_total Slot map fetches asked, by reason.\n"
                           "# TYPE pulse_redis_cluster_map_refreshes_total counter\n");
    for (int i = 0; i < 4; i++)
        evbuffer_add_printf(o, "pulse_redis_cluster_map_refreshes_total{reason=\"%s\"} %llu\n", refresh_reasons[i],
                            (unsigned long long)r->refresh_why[i]);
    evbuffer_add_printf(o, "# HELP pulse_redis_cluster_resubscribed_total Channel subscriptions lost to a shard "
                           "change and made again.\n# TYPE pulse_redis_cluster_resubscribed_total counter\n"
                           "pulse_redis_cluster_resubscribed_total %llu\n",
                        (unsigned long long)r->resubscribed);
    evbuffer_add_printf(o, "# HELP pulse_redis_cluster_redirects_total Commands sent to a channel's primary and "
                           "redirected (followed once).\n# TYPE pulse_redis_cluster_redirects_total counter\n"
                           "pulse_redis_cluster_redirects_total{kind=\"moved\"} %llu\n"
                           "pulse_redis_cluster_redirects_total{kind=\"ask\"} %llu\n",
                        (unsigned long long)r->redirects[0], (unsigned long long)r->redirects[1]);
}
