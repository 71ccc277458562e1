/*
 * gw_presence.c - the ingest thread's side of presence; see gw_presence.h.
 *
 * The registry is two gw_chantab tables of the ingest thread, both holding the same
 * entries (pentry) as their "subscribers": `chans` maps a presence channel to its
 * entries (the refresh walks it), `conns` maps a connection id (in decimal) to its
 * entries (at most limits.max_subscriptions, so finding one to remove is a short
 * scan). Each entry keeps its slot in both (ci, ni) and gw_chan_remove_sub's `moved`
 * keeps them right, so add and remove are O(1) plus that scan.
 *
 * Every Redis call names its channel by value in a small context: a reply that comes
 * back after the channel or the entry went away changes nothing.
 */
#include "gw_presence.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_cf.h"
#include "gw_frame.h"
#include "gw_history.h"
#include "gw_ingest.h"
#include "gw_preswire.h"
#include "gw_redis.h"
#include "pulse_alloc.h"
#include "pulse_channel.h"
#include "pulse_functions.h"
#include "pulse_log.h"

/* bits of a channel entry's `state` (the table's field free for its owner) */
#define PC_JOIN_LEAVE 1

typedef struct pentry {
    uint64_t conn_id;
    uint32_t ci, ni;     /* slots in the channel's and the connection's subs */
    gw_chan *chan;       /* in reg->chans */
    gw_chan *conn;       /* in reg->conns */
    char *user;          /* inside this allocation */
    size_t json_len;
    char json[];         /* the entry, then NUL, then the user */
} pentry;

typedef struct gw_pres_reg {
    gw_chantab *chans, *conns;
    uint64_t entries;
    struct event *timer;
    char expire_ms[24];
} gw_pres_reg;

typedef enum { PR_WRITE, PR_TOUCH, PR_LIST, PR_STATS, PR_HTTP_LIST, PR_HTTP_STATS } pr_kind;

typedef struct {
    gw_node *n;
    pr_kind kind;
    int worker;                   /* PR_LIST, PR_STATS */
    uint64_t conn_id;
    uint32_t cf_id;               /* PR_LIST, PR_STATS from the Centrifugo endpoint: command id */
    struct evhttp_request *http;  /* PR_HTTP_*; NULL once the client went away */
    struct evhttp_connection *hconn;
    char channel[PULSE_CHANNEL_MAX + 1];
} pr_ctx;

static gw_pres_reg *reg(const gw_node *n)
{
    return n->presence;
}

static bool join_leave_of(const gw_node *n, const char *channel)
{
    const gw_channel_rule *r = gw_config_presence_for(n->cfg, channel);
    return r->presence > 0 && r->join_leave > 0;
}

static void client_id(const gw_node *n, uint64_t conn_id, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s:%" PRIu64, n->cfg->node_id, conn_id);
}

static pr_ctx *ctx_new(gw_node *n, pr_kind kind, const char *channel)
{
    pr_ctx *x = pulse_xcalloc(1, sizeof(*x));
    x->n = n;
    x->kind = kind;
    snprintf(x->channel, sizeof x->channel, "%s", channel);
    return x;
}

/* ---- Redis calls ---- */

static void on_reply(void *ud, const struct redisReply *reply, const char *err);

/* FCALL fn 1 channel args[0..nargs) (nargs <= 6): 0, or -1 (cb never runs) when Redis
 * is not there. */
static int fcall(gw_node *n, const char *fn, pr_ctx *x, int nargs, const char **args, const size_t *lens)
{
    const char *argv[10];
    size_t lv[10];
    argv[0] = "FCALL";
    argv[1] = fn;
    argv[2] = "1";
    argv[3] = x->channel;
    for (int i = 0; i < 4; i++)
        lv[i] = strlen(argv[i]);
    for (int i = 0; i < nargs; i++) {
        argv[4 + i] = args[i];
        lv[4 + i] = lens ? lens[i] : strlen(args[i]);
    }
    return gw_redis_command(n->redis, 4 + nargs, argv, lv, on_reply, x);
}

static void send_add(gw_node *n, const pentry *e)
{
    char client[GW_PRES_CLIENT_MAX + 1];
    client_id(n, e->conn_id, client, sizeof client);
    pr_ctx *x = ctx_new(n, PR_WRITE, e->chan->name);
    const char *args[] = {client, e->user, e->json, reg(n)->expire_ms, (e->chan->state & PC_JOIN_LEAVE) ? "1" : "0"};
    size_t lens[] = {strlen(client), strlen(e->user), e->json_len, strlen(args[3]), 1};
    if (fcall(n, PULSE_FN_PRESENCE_ADD, x, 5, args, lens) != 0)
        free(x); /* Redis away: the next refresh finds it missing and adds it */
}

static void send_remove(gw_node *n, const char *channel, uint64_t conn_id, bool join_leave)
{
    char client[GW_PRES_CLIENT_MAX + 1];
    client_id(n, conn_id, client, sizeof client);
    pr_ctx *x = ctx_new(n, PR_WRITE, channel);
    const char *args[] = {client, join_leave ? "1" : "0"};
    if (fcall(n, PULSE_FN_PRESENCE_REMOVE, x, 2, args, NULL) != 0)
        free(x); /* Redis away: the entry expires within the bound */
}

/* ---- the registry ---- */

static pentry *find(gw_pres_reg *g, uint64_t conn_id, const char *channel, gw_chan **conn_out)
{
    if (!g)
        return NULL; /* a reply after cleanup */
    char key[24];
    snprintf(key, sizeof key, "%" PRIu64, conn_id);
    gw_chan *conn = gw_chantab_get(g->conns, key, false);
    if (conn_out)
        *conn_out = conn;
    for (uint32_t i = 0; conn && i < conn->nsubs; i++) {
        pentry *e = conn->subs[i].sub;
        if (strcmp(e->chan->name, channel) == 0)
            return e;
    }
    return NULL;
}

static void unlink_entry(gw_pres_reg *g, pentry *e)
{
    gw_sub moved;
    if (gw_chan_remove_sub(e->chan, e->ci, &moved))
        ((pentry *)moved.sub)->ci = e->ci;
    if (gw_chan_remove_sub(e->conn, e->ni, &moved))
        ((pentry *)moved.sub)->ni = e->ni;
    if (e->chan->nsubs == 0)
        gw_chantab_remove(g->chans, e->chan);
    if (e->conn->nsubs == 0)
        gw_chantab_remove(g->conns, e->conn);
    g->entries--;
    free(e);
}

static void add(gw_node *n, const gw_preq *r)
{
    gw_pres_reg *g = reg(n);
    gw_chan *conn = NULL;
    if (find(g, r->conn_id, r->channel, &conn))
        return; /* already held (the worker sends one add per subscription) */
    char json[GW_PRES_ENTRY_MAX + 1];
    int jl = gw_frame_presence_entry(json, sizeof json, n->cfg->node_id, r->conn_id, r->user, r->info,
                                     r->info ? strlen(r->info) : 0);
    if (jl < 0 || !gw_pres_entry_valid(json, (size_t)jl)) {
        PLOG_WARN("presence", "conn=%" PRIu64 " %s: entry too large or invalid; not recorded", r->conn_id,
                  r->channel);
        return;
    }
    size_t ul = strlen(r->user);
    pentry *e = pulse_xmalloc(sizeof(*e) + (size_t)jl + 1 + ul + 1);
    e->conn_id = r->conn_id;
    e->json_len = (size_t)jl;
    memcpy(e->json, json, (size_t)jl + 1);
    e->user = e->json + jl + 1;
    memcpy(e->user, r->user, ul + 1);
    bool created = false;
    e->chan = gw_chantab_add(g->chans, r->channel, false, &created);
    if (created)
        e->chan->state = join_leave_of(n, r->channel) ? PC_JOIN_LEAVE : 0;
    if (!conn) {
        char key[24];
        snprintf(key, sizeof key, "%" PRIu64, r->conn_id);
        conn = gw_chantab_add(g->conns, key, false, NULL);
    }
    e->conn = conn;
    e->ci = gw_chan_add_sub(e->chan, e, 0);
    e->ni = gw_chan_add_sub(conn, e, 0);
    g->entries++;
    send_add(n, e);
}

static void remove_one(gw_node *n, const gw_preq *r)
{
    gw_pres_reg *g = reg(n);
    pentry *e = find(g, r->conn_id, r->channel, NULL);
    if (!e)
        return;
    bool jl = e->chan->state & PC_JOIN_LEAVE;
    unlink_entry(g, e);
    send_remove(n, r->channel, r->conn_id, jl);
}

/* ---- refresh ---- */

typedef struct {
    gw_node *n;
    int sent;
} touch_walk;

/* One channel: its entries in calls of at most GW_PRES_TOUCH_MAX clients, pipelined. */
static void touch_chan(gw_chan *c, void *ud)
{
    touch_walk *t = ud;
    gw_node *n = t->n;
    gw_pres_reg *g = reg(n);
    size_t per = c->nsubs < GW_PRES_TOUCH_MAX ? c->nsubs : GW_PRES_TOUCH_MAX;
    const char **argv = pulse_xcalloc(6 + per, sizeof(*argv));
    size_t *lv = pulse_xcalloc(6 + per, sizeof(*lv));
    char (*ids)[GW_PRES_CLIENT_MAX + 1] = pulse_xcalloc(per ? per : 1, sizeof(*ids));
    for (uint32_t from = 0; from < c->nsubs; from += (uint32_t)per) {
        size_t k = 0;
        argv[k++] = "FCALL";
        argv[k++] = PULSE_FN_PRESENCE_TOUCH;
        argv[k++] = "1";
        argv[k++] = c->name;
        argv[k++] = g->expire_ms;
        argv[k++] = (c->state & PC_JOIN_LEAVE) ? "1" : "0";
        for (uint32_t i = from; i < c->nsubs && i - from < per; i++) {
            const pentry *e = c->subs[i].sub;
            client_id(n, e->conn_id, ids[i - from], sizeof ids[0]);
            argv[k++] = ids[i - from];
        }
        for (size_t i = 0; i < k; i++)
            lv[i] = strlen(argv[i]);
        pr_ctx *x = ctx_new(n, PR_TOUCH, c->name);
        if (gw_redis_command(n->redis, (int)k, argv, lv, on_reply, x) != 0)
            free(x);
        else
            t->sent++;
    }
    free(ids);
    free(argv);
    free(lv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    gw_node *n = arg;
    gw_pres_reg *g = reg(n);
    if (n->shutdown_signals || gw_chantab_count(g->chans) == 0 || !gw_redis_healthy(n->redis, NULL))
        return;
    touch_walk t = {n, 0};
    gw_chantab_foreach(g->chans, touch_chan, &t);
    if (t.sent)
        n->presence_refreshes++; /* all pipelined: one round trip */
}

/* A touch answered the members Redis does not hold: add those still here again. */
typedef struct {
    gw_node *n;
    const char *channel;
} missing_walk;

static void on_missing(void *ud, const char *client, size_t len)
{
    missing_walk *m = ud;
    const char *colon = memrchr(client, ':', len);
    if (!colon)
        return;
    uint64_t id = 0;
    for (const char *p = colon + 1; p < client + len; p++) {
        if (*p < '0' || *p > '9')
            return;
        id = id * 10 + (uint64_t)(*p - '0');
    }
    pentry *e = find(reg(m->n), id, m->channel, NULL);
    if (e) {
        PLOG_DEBUG("presence", "%s: %.*s missing in Redis; added again", m->channel, (int)len, client);
        send_add(m->n, e);
    }
}

/* ---- reads and their answers ---- */

typedef struct {
    const char **v;
    size_t *lens;
    size_t n, cap, bytes;
} entry_list;

static void on_entry(void *ud, const char *entry, size_t len)
{
    entry_list *l = ud;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = pulse_xrealloc(l->v, l->cap * sizeof(*l->v));
        l->lens = pulse_xrealloc(l->lens, l->cap * sizeof(*l->lens));
    }
    l->v[l->n] = entry;
    l->lens[l->n++] = len;
    l->bytes += len;
}

/* The answer frame of a read (malloc'd), or NULL with why filled. */
static char *read_frame(const pr_ctx *x, const struct redisReply *reply, int *len, char *why, size_t whycap)
{
    if (x->kind == PR_STATS || x->kind == PR_HTTP_STATS) {
        uint64_t clients = 0, users = 0;
        if (gw_pres_parse_stats(reply, &clients, &users, why, whycap) != 0)
            return NULL;
        char *buf = pulse_xmalloc(PULSE_CHANNEL_MAX * 6 + 128);
        if (x->cf_id) {
            gw_frame_buf f;
            gw_frame_begin(&f, buf, PULSE_CHANNEL_MAX * 6 + 128);
            gw_cf_reply_presence_stats(&f, x->cf_id, clients, users);
            *len = gw_frame_end(&f);
        } else {
            *len = gw_frame_presence_stats(buf, PULSE_CHANNEL_MAX * 6 + 128, x->channel, clients, users);
        }
        return buf;
    }
    entry_list l = {0};
    size_t skipped = 0;
    char *buf = NULL;
    if (gw_pres_parse_list(reply, on_entry, &l, &skipped, why, whycap) == 0) {
        if (skipped)
            PLOG_WARN("presence", "%s: %zu malformed entries in Redis skipped", x->channel, skipped);
        /* the Centrifugo form repeats each client id once as the key */
        size_t cap = gw_frame_presence_cap(strlen(x->channel), 2 * l.bytes, l.n) + 32;
        buf = pulse_xmalloc(cap);
        if (x->cf_id) {
            gw_frame_buf f;
            gw_frame_begin(&f, buf, cap);
            gw_cf_reply_presence_entries(&f, x->cf_id, l.v, l.lens, l.n);
            *len = gw_frame_end(&f);
        } else {
            *len = gw_frame_presence(buf, cap, x->channel, l.v, l.lens, l.n);
        }
    }
    free(l.v);
    free(l.lens);
    return buf;
}

/* Answers the worker's connection (or the HTTP client): the frame, or an error. */
static void answer(pr_ctx *x, char *frame, int len, const char *code, const char *why)
{
    gw_node *n = x->n;
    if (x->kind == PR_HTTP_LIST || x->kind == PR_HTTP_STATS) {
        if (!x->http)
            return;
        evhttp_connection_set_closecb(x->hconn, NULL, NULL);
        if (frame && len > 0)
            gw_http_json(x->http, 200, "OK", frame, (size_t)len);
        else
            gw_http_json_error(x->http, 503, "Service Unavailable", why);
        return;
    }
    gw_hans *a = gw_hans_new(GW_MAIL_REPLY, x->conn_id, x->channel);
    if (frame && len > 0) {
        a->frame = gw_msg_new_control(frame, (size_t)len);
    } else {
        char buf[512];
        int el;
        if (x->cf_id) {
            gw_frame_buf f;
            gw_frame_begin(&f, buf, sizeof buf);
            gw_cf_reply_error(&f, x->cf_id, GW_CF_ERR_INTERNAL, NULL);
            el = gw_frame_end(&f);
        } else {
            el = gw_frame_error(buf, sizeof buf, code, why);
        }
        a->frame = gw_msg_new_control(buf, el > 0 ? (size_t)el : 0);
    }
    if (gw_bridge_post(&n->inbox[x->worker], &a->mail, 0) != 0)
        gw_hans_free(a);
}

static void on_reply(void *ud, const struct redisReply *reply, const char *err)
{
    pr_ctx *x = ud;
    gw_node *n = x->n;
    char why[GW_PRES_ERR_MAX] = "";
    switch (x->kind) {
    case PR_WRITE:
        if (!reply || reply->type == REDIS_REPLY_ERROR)
            PLOG_WARN("presence", "%s: presence write failed: %s", x->channel,
                      reply ? reply->str : err ? err : "no reply");
        break;
    case PR_TOUCH: {
        missing_walk m = {n, x->channel};
        if (!reply)
            break; /* the connection went: the next round tries again */
        if (gw_pres_parse_missing(reply, on_missing, &m, why, sizeof why) != 0)
            PLOG_WARN("presence", "%s: refresh failed: %s", x->channel, why);
        break;
    }
    default: {
        int len = 0;
        char *frame = NULL;
        if (reply)
            frame = read_frame(x, reply, &len, why, sizeof why);
        else
            snprintf(why, sizeof why, "%s", err ? err : "Redis connection lost");
        if (!frame)
            PLOG_WARN("presence", "%s: presence read failed: %s", x->channel, why);
        answer(x, frame, len, "unavailable", why);
        free(frame);
        break;
    }
    }
    free(x);
}

static void read_request(gw_node *n, pr_ctx *x)
{
    char limit[24];
    const char *jl = join_leave_of(n, x->channel) ? "1" : "0";
    int rc;
    n->presence_reads++;
    if (x->kind == PR_STATS || x->kind == PR_HTTP_STATS) {
        const char *args[] = {jl};
        rc = fcall(n, PULSE_FN_PRESENCE_STATS, x, 1, args, NULL);
    } else {
        snprintf(limit, sizeof limit, "%d", n->cfg->presence_list_max);
        const char *args[] = {limit, jl};
        rc = fcall(n, PULSE_FN_PRESENCE, x, 2, args, NULL);
    }
    if (rc != 0) {
        answer(x, NULL, 0, "unavailable", "redis not connected");
        free(x);
    }
}

void gw_presence_request(gw_node *n, gw_preq *r)
{
    switch (r->mail.kind) {
    case GW_MAIL_PRES_ADD:
        add(n, r);
        break;
    case GW_MAIL_PRES_REMOVE:
        remove_one(n, r);
        break;
    case GW_MAIL_PRES_LIST:
    case GW_MAIL_PRES_STATS: {
        pr_ctx *x = ctx_new(n, r->mail.kind == GW_MAIL_PRES_LIST ? PR_LIST : PR_STATS, r->channel);
        x->worker = r->worker;
        x->conn_id = r->conn_id;
        x->cf_id = r->cf_id;
        read_request(n, x);
        break;
    }
    default:
        break;
    }
    free(r);
}

/* ---- join / leave ---- */

bool gw_presence_message(gw_node *n, const char *channel, const char *pattern, uint64_t mask, const char *payload,
                         size_t len, int64_t arrived_ns)
{
    gw_pres_kind kind;
    const char *json = NULL;
    size_t jl = 0;
    int rc = gw_pres_event_parse(payload, len, channel, &kind, &json, &jl);
    if (rc == PULSE_ENOENT)
        return false;
    if (rc != 0) {
        PLOG_DEBUG("presence", "a malformed join/leave message on %s dropped", channel);
        return true;
    }
    n->presence_events[kind]++;
    if (!mask)
        return true;
    const gw_channel_rule *rule = gw_config_rule_for(n->cfg, channel);
    gw_msg *m = gw_msg_new_text(channel, pattern, json, jl, rule->policy, arrived_ns);
    gw_ingest_fanout(n, mask, m);
    return true;
}

/* ---- GET /presence ---- */

static void on_http_gone(struct evhttp_connection *conn, void *arg)
{
    pr_ctx *x = arg;
    x->http = NULL;
}

void gw_presence_http(gw_node *n, struct evhttp_request *req)
{
    struct evkeyvalq q;
    memset(&q, 0, sizeof q);
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *query = u ? evhttp_uri_get_query(u) : NULL;
    if (!query || evhttp_parse_query_str(query, &q) != 0) {
        gw_http_json_error(req, 400, "Bad Request", "expected ?channel=C");
        return;
    }
    const char *ch = evhttp_find_header(&q, "channel");
    const char *stats = evhttp_find_header(&q, "stats");
    const char *why = NULL;
    if (!ch || pulse_channel_validate(ch, strlen(ch)) != 0)
        why = "?channel= must be a channel name: 1-128 bytes of [A-Za-z0-9._:@-]";
    else if (stats && strcmp(stats, "1") != 0 && strcmp(stats, "0") != 0)
        why = "?stats= must be 1 or 0";
    if (why) {
        gw_http_json_error(req, 400, "Bad Request", why);
    } else if (gw_config_presence_for(n->cfg, ch)->presence <= 0) {
        gw_http_json_error(req, 404, "Not Found", "presence is not enabled for this channel");
    } else {
        pr_ctx *x = ctx_new(n, stats && strcmp(stats, "1") == 0 ? PR_HTTP_STATS : PR_HTTP_LIST, ch);
        x->http = req;
        x->hconn = evhttp_request_get_connection(req);
        evhttp_connection_set_closecb(x->hconn, on_http_gone, x);
        read_request(n, x);
    }
    evhttp_clear_headers(&q);
}

/* ---- setup ---- */

void gw_presence_init(gw_node *n)
{
    gw_pres_reg *g = pulse_xcalloc(1, sizeof(*g));
    g->chans = gw_chantab_new();
    g->conns = gw_chantab_new();
    snprintf(g->expire_ms, sizeof g->expire_ms, "%lld",
             (long long)n->cfg->presence_refresh_interval_s * 1000 * GW_PRES_EXPIRE_INTERVALS);
    n->presence = g;
    g->timer = event_new(n->base, -1, EV_PERSIST, on_timer, n);
    if (!g->timer)
        pulse_oom();
    struct timeval tv = {n->cfg->presence_refresh_interval_s, 0};
    event_add(g->timer, &tv);
}

static void free_entries(gw_chan *c, void *ud)
{
    for (uint32_t i = 0; i < c->nsubs; i++)
        free(c->subs[i].sub);
}

void gw_presence_cleanup(gw_node *n)
{
    gw_pres_reg *g = reg(n);
    if (!g)
        return;
    if (g->timer)
        event_free(g->timer);
    gw_chantab_foreach(g->chans, free_entries, NULL);
    gw_chantab_free(g->chans);
    gw_chantab_free(g->conns);
    free(g);
    n->presence = NULL;
}

uint64_t gw_presence_entries(const gw_node *n)
{
    return reg(n) ? reg(n)->entries : 0;
}
