/*
 * gw_worker.c - the WebSocket side: one thread, one lws context; see gw_worker.h.
 *
 * Per connection (gw_conn, lws's per-session data) we keep about 130 bytes: the
 * outgoing queue (a ring allocated on first use), the subscriptions (an array
 * allocated on first subscribe) and a few flags. A message from Redis reaches a
 * connection as one more reference on the worker's copy of the framed message; the
 * connection writes it in LWS_CALLBACK_SERVER_WRITEABLE, one lws_write per callback,
 * as lws's coding guide asks.
 *
 * The Centrifugo endpoint's connection side (/connection/websocket) is gw_cfconn.c;
 * the types and helpers the two files share are in gw_worker_int.h.
 */
#include "gw_worker_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gw_auth.h"
#include "gw_cf.h"
#include "gw_proto.h"
#include "gw_bridge.h"
#include "gw_epoll.h"
#include "gw_evloop.h"
#include "gw_frame.h"
#include "gw_limits.h"
#include "gw_slab.h"
#include "gw_usend.h"
#include "pulse_alloc.h"
#include "pulse_clock.h"
#include "pulse_log.h"

_Static_assert(GW_FRAME_PRE >= LWS_PRE, "gw_msg headroom must cover LWS_PRE");

#define GW_BATCH_MAX (64 * 1024) /* bytes per packed write (frames or a ?batch=1 frame) */

/* Messages fanned out per wake-up: lws gets to write between slices, so a burst from
 * Redis does not pile up in the connection queues before the first write. A slice is
 * at most 64 messages and a quarter of the soft queue bound (messages and bytes), so a
 * client that keeps reading never sees its queue near the bound because of a burst. */
#define GW_INBOX_SLICE 64

/* Sockets adopted per wake-up. A socket is served as it is adopted (its request is
 * already there), so its handshake timeout leaves lws 4.1.6's sorted timeout list at
 * once and the list stays short; what a slice bounds is the time between two poll()s,
 * each a walk of every socket of the worker (about 0.5 us per socket here): 10,000
 * handshakes in slices of 256 cost 40 of them, in slices of 1024 ten (gateway CPU for
 * the storm -23%), and a slice is about 40 ms of handshakes. What the handshakes
 * queued (101 and hello leave together) is written every GW_ADOPT_FLUSH adoptions, so
 * the clients are not kept waiting for the whole slice. */
#define GW_ADOPT_SLICE 1024
#define GW_ADOPT_FLUSH 128

/* ---- helpers ---- */

/* Asks the ingest thread to act in Redis for this worker (the requests mailbox is
 * unbounded: a request is never lost). */
static void request(gw_worker *w, gw_mail_kind kind, const char *name, bool is_pattern)
{
    gw_note *r = gw_note_new(kind, name, is_pattern, NULL, 0);
    r->worker = w->index;
    if (gw_bridge_post(&w->node->requests, &r->mail, 0) != 0)
        free(r);
}

/* Presence mail for the ingest thread (gw_presence.h); user and info from the token. */
static void presence_post(gw_worker *w, const gw_conn *c, gw_mail_kind kind, const char *channel)
{
    const gw_principal *p = c->principal;
    gw_preq *r = gw_preq_new(kind, w->index, c->id, channel, p && p->sub ? p->sub : "", p ? p->info : NULL);
    if (gw_bridge_post(&w->node->requests, &r->mail, 0) != 0)
        free(r);
}

static bool sec_may_subscribe(gw_worker *w, gw_conn *c, const char *name, bool is_pattern);

static void mark_dirty(gw_worker *w, gw_conn *c)
{
    if (c->dirty)
        return;
    if (w->ndirty == w->dirtycap) {
        uint32_t ncap = w->dirtycap ? w->dirtycap * 2 : 256;
        w->dirty = pulse_xrealloc(w->dirty, ncap * sizeof(*w->dirty));
        w->dirtycap = ncap;
    }
    c->dirty = 1;
    w->dirty[w->ndirty++] = c;
}

/* Queues the pending "dropped" gap notice of c (a control frame: never dropped). */
static void flush_dropped(gw_worker *w, gw_conn *c, int64_t now_ms)
{
    drop_gap *d = c->dropped;
    d->active = false;
    if (c->cf) {
        cf_gap(w, c, d->channel);
        return;
    }
    char buf[PULSE_CHANNEL_MAX * 6 + 128];
    int n = gw_frame_gap_range(buf, sizeof(buf), d->channel, d->from, d->to, "dropped");
    if (n > 0) {
        gw_msg *g = gw_msg_new_control(buf, (size_t)n);
        conn_push(w, c, g, now_ms);
        gw_msg_unref(g);
        GW_ADD(w->stats->gap_notices_dropped, 1);
    }
}

/* m was dropped for c: extend the pending notice or start a new one. */
static void note_dropped(gw_worker *w, gw_conn *c, const gw_msg *m, int64_t now_ms)
{
    if (!c->dropped)
        c->dropped = pulse_xcalloc(1, sizeof(*c->dropped));
    drop_gap *d = c->dropped;
    bool same = d->active && strcmp(d->channel, m->channel) == 0;
    if (same && m->pos.offset && d->to && m->pos.offset == d->to + 1 && strcmp(m->pos.epoch, d->last.epoch) == 0) {
        d->to = m->pos.offset;
        return;
    }
    if (same && !m->pos.offset && !d->from)
        return;
    if (d->active)
        flush_dropped(w, c, now_ms);
    d->active = true;
    d->from = d->to = m->pos.offset;
    d->last = m->pos;
    snprintf(d->channel, sizeof(d->channel), "%s", m->channel);
}

/* Would the queue take m now (the soft bounds of the drop policy)? */
static bool queue_has_room(const gw_worker *w, const gw_conn *c, const gw_msg *m)
{
    const gw_queue_limits *l = &w->node->qlimits;
    return m->policy == GW_POLICY_NEVER || (c->q.count < l->soft_msgs && c->q.bytes + m->len <= l->soft_bytes);
}

void conn_push(gw_worker *w, gw_conn *c, gw_msg *m, int64_t now_ms)
{
    if (c->close_code)
        return;
    if (m->kind == GW_MSG_EVENT && c->dropped && c->dropped->active && queue_has_room(w, c, m)) {
        flush_dropped(w, c, now_ms); /* the notice goes before the next event that gets through */
        if (c->cf && cf_gapped_on(c, m->channel))
            return; /* told to resubscribe (2500): it recovers this one then */
    }
    bool was_empty = c->q.count == 0;
    switch (gw_queue_push(&c->q, m, &w->node->qlimits)) {
    case GW_Q_QUEUED:
        if (was_empty) {
            c->backlog_since_ms = now_ms;
            if (w->in_drain)
                mark_dirty(w, c);
            else
                lws_callback_on_writable(c->wsi);
        } else if (now_ms - c->backlog_since_ms > w->cfg->lag_limit_ms) {
            conn_close(w, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow consumer: lag limit");
        }
        break;
    case GW_Q_REPLACED:
        GW_ADD(w->stats->dropped[GW_DROP_SUPERSEDED], 1);
        break;
    case GW_Q_DROPPED:
        GW_ADD(w->stats->dropped[GW_DROP_QUEUE_FULL], 1);
        if (m->kind == GW_MSG_EVENT)
            note_dropped(w, c, m, now_ms);
        break;
    case GW_Q_OVERFLOW:
        if (m->kind == GW_MSG_EVENT)
            GW_ADD(w->stats->dropped[GW_DROP_SLOW_CONSUMER], 1);
        conn_close(w, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow consumer: queue limit");
        break;
    }
}

void conn_send_text(gw_worker *w, gw_conn *c, const char *text, int len)
{
    if (len <= 0)
        return;
    gw_msg *m = gw_msg_new_control(text, (size_t)len);
    conn_push(w, c, m, pulse_mono_ms());
    gw_msg_unref(m);
}

static void conn_reply(gw_worker *w, gw_conn *c, const char *op, const char *channel)
{
    char buf[320];
    conn_send_text(w, c, buf, gw_frame_reply(buf, sizeof(buf), op, channel));
}

static void conn_error(gw_worker *w, gw_conn *c, const char *code, const char *reason)
{
    char buf[512];
    GW_ADD(w->stats->client_errors, 1);
    conn_send_text(w, c, buf, gw_frame_error(buf, sizeof(buf), code, reason));
}

/* Closes c with code: the close frame goes out at the next WRITEABLE; if the socket
 * never drains (a peer that stopped reading) lws kills it after 2 s. */
void conn_close(gw_worker *w, gw_conn *c, uint16_t code, const char *reason)
{
    if (c->close_code)
        return;
    c->close_code = code;
    c->close_reason = reason;
    uint32_t lost = gw_queue_clear(&c->q);
    if (code == LWS_CLOSE_STATUS_POLICY_VIOLATION) {
        char peer[64] = "";
        lws_get_peer_simple(c->wsi, peer, sizeof(peer));
        GW_ADD(w->stats->slow_consumers, 1);
        GW_ADD(w->stats->dropped[GW_DROP_SLOW_CONSUMER], lost);
        PLOG_WARN("ws", "conn=%llu peer=%s closed with 1008 (%s); %u queued events dropped",
                  (unsigned long long)c->id, peer, reason, lost);
    } else if (lost) {
        GW_ADD(w->stats->dropped[GW_DROP_SHUTDOWN], lost);
    }
    if (c->cf) /* the same events in the Centrifugo codes (the SDK reconnects after 30xx) */
        c->close_code = code == LWS_CLOSE_STATUS_POLICY_VIOLATION ? GW_CF_DISC_SLOW
                        : code == LWS_CLOSE_STATUS_GOINGAWAY      ? GW_CF_DISC_SHUTDOWN
                        : code == 4401                            ? GW_CF_DISC_INVALID_TOKEN
                                                                  : code;
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 2);
    lws_callback_on_writable(c->wsi);
}

/* ---- subscriptions ---- */

int conn_find_sub(const gw_conn *c, const char *name, bool is_pattern)
{
    for (uint32_t i = 0; i < c->nsubs; i++) {
        const gw_chan *ch = c->subs[i].chan;
        if (ch->is_pattern == is_pattern && strcmp(ch->name, name) == 0)
            return (int)i;
    }
    return -1;
}

/* A recovery is over: the held events are out (or not owed), live from now on. */
void sub_hist_settled(sub_hist *h)
{
    h->recovering = false;
    for (uint32_t i = 0; i < h->nheld; i++)
        gw_msg_unref(h->held[i]);
    free(h->held);
    h->held = NULL;
    h->nheld = h->heldcap = 0;
}

static void sub_hist_free(sub_hist *h)
{
    if (!h)
        return;
    for (uint32_t i = 0; i < h->nheld; i++)
        gw_msg_unref(h->held[i]);
    free(h->held);
    free(h);
}

/* Adds the subscription (admitted already): the channel's entry in this worker (and
 * its Redis subscription when new), the slot, the presence entry. Returns the slot. */
uint32_t sub_add(gw_worker *w, gw_conn *c, const char *name, bool is_pattern)
{
    if (c->nsubs == c->subcap) {
        uint32_t ncap = c->subcap ? c->subcap * 2 : 1; /* most connections hold one */
        c->subs = pulse_xrealloc(c->subs, ncap * sizeof(*c->subs));
        c->subcap = ncap;
    }
    bool created = false;
    gw_chan *ch = gw_chantab_add(w->chans, name, is_pattern, &created);
    if (created) {
        GW_ADD(w->stats->channels, 1);
        request(w, GW_MAIL_SUBSCRIBE, name, is_pattern);
    }
    uint32_t slot = c->nsubs++;
    c->subs[slot].chan = ch;
    c->subs[slot].idx = gw_chan_add_sub(ch, c, slot);
    c->subs[slot].h = NULL;
    c->subs[slot].acked = 0;
    c->subs[slot].presence = !is_pattern && gw_config_presence_for(w->cfg, name)->presence > 0;
    if (c->subs[slot].presence)
        presence_post(w, c, GW_MAIL_PRES_ADD, name);
    return slot;
}

/* since (NULL: a plain subscribe): the subscription starts by recovering what was
 * published after it; "subscribed" comes with the recovery's answer. */
static void conn_subscribe(gw_worker *w, gw_conn *c, const char *name, bool is_pattern, const gw_hpos *since)
{
    if (!sec_may_subscribe(w, c, name, is_pattern))
        return;
    if (is_pattern && w->cfg->redis_cluster) {
        conn_error(w, c, "pattern_unsupported",
                   "patterns are not available with Redis Cluster (sharded pub/sub has none); subscribe to channels");
        return;
    }
    int have = conn_find_sub(c, name, is_pattern);
    if (have >= 0) {
        if (c->subs[have].acked)
            conn_reply(w, c, "subscribed", name);
        return;
    }
    if (c->nsubs >= (uint32_t)w->cfg->max_subscriptions) {
        char reason[96];
        snprintf(reason, sizeof(reason), "too many subscriptions (limit %d per connection)",
                 w->cfg->max_subscriptions);
        conn_error(w, c, "limit", reason);
        return;
    }
    if (!gw_chantab_get(w->chans, name, is_pattern)) {
        /* a name new to this worker: a Redis subscription, within the node's limits */
        int why = gw_node_sub_admit(w->node, name, is_pattern);
        if (why) {
            static const char *const reasons[] = {
                "too many channels on this node (limits.max_channels); try again later",
                "too many patterns on this node (limits.max_patterns); subscribe to channels",
                "too many '*' in the pattern (limits.max_pattern_stars)",
                "too many new subscriptions on this node; try again in a second",
            };
            conn_error(w, c, "limit", reasons[why - 1]);
            return;
        }
    }
    uint32_t slot = sub_add(w, c, name, is_pattern);
    gw_chan *ch = c->subs[slot].chan;
    if (since && !is_pattern) {
        /* live first (the SUBSCRIBE above, or the channel is live already), then the
         * read: the ingest thread sends it once Redis confirmed the subscription */
        sub_hist *h = pulse_xcalloc(1, sizeof(*h));
        h->since = *since;
        h->recovering = true;
        c->subs[slot].h = h;
        c->subs[slot].acked = 0;
        gw_hreq *r = gw_hreq_new(GW_MAIL_RECOVER, w->index, c->id, name);
        r->has_since = true;
        r->since = *since;
        if (gw_bridge_post(&w->node->requests, &r->mail, 0) != 0)
            free(r);
        return;
    }
    c->subs[slot].acked = ch->confirmed;
    if (ch->confirmed)
        conn_reply(w, c, "subscribed", name);
}

void conn_unsubscribe_slot(gw_worker *w, gw_conn *c, uint32_t slot)
{
    conn_sub *s = &c->subs[slot];
    gw_chan *ch = s->chan;
    if (s->presence)
        presence_post(w, c, GW_MAIL_PRES_REMOVE, ch->name);
    sub_hist_free(s->h);
    s->h = NULL;
    gw_sub moved;
    if (gw_chan_remove_sub(ch, s->idx, &moved)) {
        gw_conn *mc = moved.sub;
        mc->subs[moved.back].idx = s->idx;
    }
    if (ch->nsubs == 0) {
        request(w, GW_MAIL_UNSUBSCRIBE, ch->name, ch->is_pattern);
        gw_node_sub_release(w->node, ch->is_pattern);
        GW_ADD(w->stats->channels, -1);
        gw_chantab_remove(w->chans, ch);
    }
    uint32_t last = --c->nsubs;
    if (slot != last) {
        c->subs[slot] = c->subs[last];
        c->subs[slot].chan->subs[c->subs[slot].idx].back = slot;
    }
}

/* The ?channels= walk: pair = {worker, conn, since list (or NULL)}. */
typedef struct {
    char channel[PULSE_CHANNEL_MAX + 1];
    gw_hpos since;
} url_since;

typedef struct {
    gw_worker *w;
    gw_conn *c;
    url_since *since;
    size_t nsince, sincecap;
} url_walk;

static int on_list_channel(void *ud, const char *channel, bool is_pattern)
{
    url_walk *u = ud;
    const gw_hpos *since = NULL;
    for (size_t i = 0; i < u->nsince && !is_pattern; i++)
        if (strcmp(u->since[i].channel, channel) == 0)
            since = &u->since[i].since;
    conn_subscribe(u->w, u->c, channel, is_pattern, since);
    return 0;
}

static int on_list_since(void *ud, const char *channel, const gw_hpos *since)
{
    url_walk *u = ud;
    if (u->nsince == (size_t)u->w->cfg->max_subscriptions)
        return -1;
    if (u->nsince == u->sincecap) {
        u->sincecap = u->sincecap ? u->sincecap * 2 : 4;
        u->since = pulse_xrealloc(u->since, u->sincecap * sizeof(*u->since));
    }
    snprintf(u->since[u->nsince].channel, sizeof(u->since[0].channel), "%s", channel);
    u->since[u->nsince].since = *since;
    u->nsince++;
    return 0;
}

/* ---- security hooks: the decisions are gw_auth.c's (docs/SECURITY.md) ---- */

#define GW_CLOSE_UNAUTHORIZED 4401

static bool sec_may_subscribe(gw_worker *w, gw_conn *c, const char *name, bool is_pattern)
{
    if (gw_auth_may_subscribe(w->node->auth, c->principal, name, is_pattern))
        return true;
    char reason[200];
    if (!c->principal) {
        conn_error(w, c, "unauthorized", "authenticate first: {\"op\":\"auth\",\"token\":...}");
        return false;
    }
    snprintf(reason, sizeof(reason), "not allowed to subscribe to '%s'", name);
    GW_ADD(w->stats->auth_failures[GW_AUTH_FAIL_FORBIDDEN], 1);
    conn_error(w, c, "forbidden", reason);
    return false;
}

/* The monotonic time at which p stops being valid (exp + leeway), 0 for never. */
int64_t sec_deadline(const gw_worker *w, const gw_principal *p)
{
    return gw_auth_deadline_ms(p->exp, w->cfg->auth_leeway_s, (int64_t)time(NULL), pulse_mono_ms());
}

/* Copies ?token= into buf; its length, or 0 when absent. */
static int sec_url_token(struct lws *wsi, char *buf, int cap)
{
    for (int i = 0; i < 32; i++) {
        int len = lws_hdr_copy_fragment(wsi, buf, cap, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (len <= 0 && lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) <= 0)
            return 0;
        if (len > 6 && strncmp(buf, "token=", 6) == 0) {
            memmove(buf, buf + 6, (size_t)len - 5);
            return len - 6;
        }
    }
    return 0;
}

/* Answers a handshake it refuses with an HTTP/1.1 status and a JSON reason (lws's
 * own refusal is an HTTP/1.0 HTML page, or nothing at all), counted in
 * connections_refused. Returns 1: the caller returns it to lws, which hangs up. */
static int http_refuse(gw_worker *w, struct lws *wsi, unsigned status, const char *code, const char *why)
{
    unsigned char buf[LWS_PRE + 768];
    int n = gw_frame_http_refusal((char *)buf + LWS_PRE, sizeof(buf) - LWS_PRE, status, code, why);
    GW_ADD(w->stats->connections_refused, 1);
    PLOG_DEBUG("ws", "handshake refused with %u: %s", status, why);
    if (n > 0)
        lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP);
    return 1;
}

/* Each adopted socket carries its count: lws's opaque user data holds its address's
 * key, or 1 when that is 0 (a socket without it was not counted). */
static void *sock_tag(uint64_t ip_key)
{
    return (void *)(uintptr_t)(ip_key ? ip_key : 1);
}

static uint64_t sock_ip_key(struct lws *wsi)
{
    uintptr_t t = (uintptr_t)lws_get_opaque_user_data(wsi);
    return t == 1 ? 0 : (uint64_t)t;
}

/* WSI_DESTROY: the socket is gone; release what gw_node counted at accept. */
static void sock_release(gw_worker *w, struct lws *wsi)
{
    if (!lws_get_opaque_user_data(wsi))
        return;
    gw_limits_ip_release(w->node->limits, sock_ip_key(wsi));
    lws_set_opaque_user_data(wsi, NULL);
    atomic_fetch_sub(&w->node->sockets, 1);
}

/* HTTP_CONFIRM_UPGRADE, before lws picks a protocol: a Sec-WebSocket-Protocol list
 * naming none of ours gets a 400 that says which it could use (lws hung up without a
 * word). No header is fine: pulse.v1 is the default. */
static int sec_confirm_upgrade(gw_worker *w, struct lws *wsi)
{
    char list[256], *save = NULL;
    int n = lws_hdr_copy(wsi, list, sizeof(list), WSI_TOKEN_PROTOCOL);
    if (n <= 0)
        return n < 0 ? http_refuse(w, wsi, 400, "bad_request", "Sec-WebSocket-Protocol too long") : 0;
    for (char *t = strtok_r(list, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save))
        for (const struct lws_protocols *p = w->protocols; p->name; p++)
            if (strcmp(t, p->name) == 0)
                return 0;
    return http_refuse(w, wsi, 400, "unsupported_subprotocol",
                       "unsupported Sec-WebSocket-Protocol: this gateway speaks pulse.v1");
}

/* FILTER_PROTOCOL_CONNECTION: Origin allow-list (403), per-IP limit (429) and a
 * ?token= that does not verify (401) refuse the handshake with that HTTP status. */
static int sec_filter(gw_worker *w, struct lws *wsi)
{
    const gw_auth *a = w->node->auth;
    char buf[GW_AUTH_TOKEN_MAX + 1];
    int n = lws_hdr_copy(wsi, buf, 512, WSI_TOKEN_ORIGIN);
    if (!gw_auth_origin_allowed(a, n < 0 ? "?" : buf))
        return http_refuse(w, wsi, HTTP_STATUS_FORBIDDEN, "forbidden", "origin not allowed");
    if (gw_limits_ip_over(w->node->limits, sock_ip_key(wsi)))
        return http_refuse(w, wsi, 429, "too_many_connections", "too many connections from this address");
    if (gw_auth_enabled(a) && (n = sec_url_token(wsi, buf, sizeof(buf))) > 0) {
        gw_principal *p = NULL;
        int rc = gw_auth_verify(a, buf, (size_t)n, (int64_t)time(NULL), &p);
        gw_auth_principal_free(p);
        if (rc != 0) {
            GW_ADD(w->stats->auth_failures[GW_AUTH_FAIL_INVALID], 1);
            return http_refuse(w, wsi, HTTP_STATUS_UNAUTHORIZED, "unauthorized", gw_auth_reason(rc));
        }
    }
    return 0;
}

/* ESTABLISHED: take ?token= (checked at the handshake, verified
 * again: time moved on) or start the clock for {"op":"auth"}. -1: being closed. */
static int sec_connect(gw_worker *w, gw_conn *c, struct lws *wsi)
{
    const gw_auth *a = w->node->auth;
    char buf[GW_AUTH_TOKEN_MAX + 1];
    if (!gw_auth_enabled(a))
        return 0;
    int n = sec_url_token(wsi, buf, sizeof(buf));
    if (n <= 0) {
        c->auth_deadline_ms = pulse_mono_ms() + w->cfg->auth_handshake_timeout_ms;
        return 0;
    }
    int rc = gw_auth_verify(a, buf, (size_t)n, (int64_t)time(NULL), &c->principal);
    if (rc != 0) {
        GW_ADD(w->stats->auth_failures[GW_AUTH_FAIL_INVALID], 1);
        conn_close(w, c, GW_CLOSE_UNAUTHORIZED, gw_auth_reason(rc));
        return -1;
    }
    c->auth_deadline_ms = sec_deadline(w, c->principal);
    return 0;
}

/* true when the command must be dropped (answered "rate_limited", or closed 1008). */
static bool sec_rate_limited(gw_worker *w, gw_conn *c)
{
    int rl = gw_ratelimit_take(&c->rl, w->cfg->commands_per_second, pulse_mono_ms());
    if (rl == GW_RL_OK)
        return false;
    if (rl == GW_RL_LIMITED) {
        conn_error(w, c, "rate_limited", "too many commands; slow down");
        return true;
    }
    if (!c->close_code) {
        /* conn_close would count a 1008 as a slow consumer */
        c->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
        c->close_reason = "command rate limit exceeded";
        gw_queue_clear(&c->q);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 2);
        lws_callback_on_writable(c->wsi);
        PLOG_INFO("ws", "conn=%llu closed with 1008: command rate limit exceeded", (unsigned long long)c->id);
    }
    return true;
}

/* {"op":"auth"} and {"op":"refresh"}. A bad auth closes 4401; a bad refresh is an
 * error frame and the old token stays in force until it expires. */
static void sec_auth_op(gw_worker *w, gw_conn *c, const gw_command *cmd)
{
    const gw_auth *a = w->node->auth;
    bool refresh = cmd->op == GW_OP_REFRESH;
    if (!gw_auth_enabled(a)) {
        conn_error(w, c, "bad_request", "authentication is not enabled on this gateway");
        return;
    }
    if (refresh != (c->principal != NULL)) {
        conn_error(w, c, refresh ? "unauthorized" : "bad_request",
                   refresh ? "nothing to refresh: authenticate first" : "already authenticated: use refresh");
        return;
    }
    gw_principal *p = NULL;
    int rc = gw_auth_verify(a, cmd->arg, cmd->arg_len, (int64_t)time(NULL), &p);
    if (rc == 0 && refresh && !(p->sub == NULL ? c->principal->sub == NULL
                                               : c->principal->sub && strcmp(p->sub, c->principal->sub) == 0))
        rc = GW_AUTH_ESUB;
    if (rc != 0) {
        GW_ADD(w->stats->auth_failures[GW_AUTH_FAIL_INVALID], 1);
        gw_auth_principal_free(p);
        PLOG_DEBUG("ws", "conn=%llu %s refused: %s", (unsigned long long)c->id, refresh ? "refresh" : "auth",
                   gw_auth_reason(rc));
        if (refresh)
            conn_error(w, c, "unauthorized", gw_auth_reason(rc));
        else
            conn_close(w, c, GW_CLOSE_UNAUTHORIZED, gw_auth_reason(rc));
        return;
    }
    gw_auth_principal_free(c->principal);
    c->principal = p;
    c->auth_deadline_ms = sec_deadline(w, p);
    for (uint32_t i = c->nsubs; refresh && i-- > 0;) {
        /* the new token may grant less: drop what it no longer allows */
        const gw_chan *ch = c->subs[i].chan;
        if (!gw_auth_may_subscribe(a, p, ch->name, ch->is_pattern)) {
            char name[PULSE_CHANNEL_MAX + 1];
            snprintf(name, sizeof(name), "%s", ch->name);
            conn_unsubscribe_slot(w, c, i);
            conn_reply(w, c, "unsubscribed", name);
        }
    }
    conn_reply(w, c, refresh ? "refreshed" : "authenticated", NULL);
}

/* Queues the PUBLISH of data[0..len) on channel for the ingest thread; false when
 * its mailbox is full. */
static bool post_publish(gw_worker *w, const char *channel, const char *data, size_t len)
{
    gw_note *p = gw_note_new(GW_MAIL_PUBLISH, channel, false, data, len);
    if (gw_bridge_post(&w->node->publishes, &p->mail, len) == 0)
        return true;
    free(p);
    atomic_fetch_add(&w->node->ws_publish_refused, 1);
    return false;
}

/* A client's publish (either protocol): false when the queue is full. */
bool publish_data(gw_worker *w, const char *channel, const char *data, size_t len)
{
    /* a client's own "priority" counts only where the channel's rule allows it */
    char *own = gw_config_rule_for(w->cfg, channel)->ws_priority ? NULL
                                                                   : gw_json_drop_key(data, len, "priority", &len);
    bool ok = post_publish(w, channel, own ? own : data, len);
    free(own);
    return ok;
}

/* {"op":"publish"}: a token's publish grant, then the ingest thread PUBLISHes it. */
static void sec_publish_op(gw_worker *w, gw_conn *c, const gw_command *cmd)
{
    if (!gw_auth_may_publish(w->node->auth, c->principal, cmd->channel)) {
        char reason[200];
        snprintf(reason, sizeof(reason), "not allowed to publish to '%s'", cmd->channel);
        GW_ADD(w->stats->auth_failures[GW_AUTH_FAIL_FORBIDDEN], 1);
        conn_error(w, c, "forbidden", reason);
        return;
    }
    if (!publish_data(w, cmd->channel, cmd->arg, cmd->arg_len))
        conn_error(w, c, "unavailable", "publish queue full; try again later");
    else
        conn_reply(w, c, "published", cmd->channel);
}

/* ---- connection life ---- */

static void conn_established(gw_worker *w, gw_conn *c, struct lws *wsi)
{
    memset(c, 0, sizeof(*c));
    c->wsi = wsi;
    c->established = 1;
    c->valid_ms = pulse_mono_ms();
    c->id = ((uint64_t)w->index << 48) | ++w->next_id;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    atomic_fetch_add(&w->node->connections, 1);
    GW_ADD(w->stats->connections_total, 1);
    GW_ADD(w->stats->connections_active, 1);

    char buf[256];
    if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_GET_URI) > 0 &&
        (strcmp(buf, CF_PATH) == 0 || strcmp(buf, CF_PATH "/") == 0)) {
        cf_established(w, c, wsi);
        return;
    }
    conn_send_text(w, c, buf, gw_frame_hello(buf, sizeof(buf), w->cfg->node_id, (unsigned long long)c->id));
    if (w->draining) {
        conn_close(w, c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
        return;
    }
    if (sec_connect(w, c, wsi) != 0)
        return;

    char args[4096], reason[200];
    url_walk u = {w, c, NULL, 0, 0};
    /* two passes: ?since= applies to the ?channels= that may come before it */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 32; i++) {
            int flen = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
            if (flen <= 0)
                break; /* no more query arguments */
            if (flen >= (int)sizeof(args)) {
                if (pass == 1)
                    conn_error(w, c, "bad_request", "query argument too long");
                continue;
            }
            int len = lws_hdr_copy_fragment(wsi, args, sizeof(args), WSI_TOKEN_HTTP_URI_ARGS, i);
            if (len <= 0)
                break;
            if (pass == 0 && strncmp(args, "since=", 6) == 0) {
                if (gw_proto_parse_since_list(args + 6, (size_t)len - 6, on_list_since, &u, reason,
                                              sizeof(reason)) < 0)
                    conn_error(w, c, "bad_request", reason);
            } else if (pass == 1 && strncmp(args, "channels=", 9) == 0) {
                if (gw_proto_parse_channel_list(args + 9, (size_t)len - 9, on_list_channel, &u, reason,
                                                sizeof(reason)) < 0)
                    conn_error(w, c, "bad_request", reason);
            } else if (pass == 1 && strcmp(args, "batch=1") == 0) {
                c->batch = 1;
            }
        }
    }
    free(u.since);
}

static void conn_destroy(gw_worker *w, gw_conn *c)
{
    if (!c->established)
        return;
    if (c->dirty) /* closed while the inbox drains: lws closing a socket served at adoption */
        for (uint32_t i = 0; i < w->ndirty; i++)
            if (w->dirty[i] == c)
                w->dirty[i] = NULL;
    while (c->nsubs)
        conn_unsubscribe_slot(w, c, c->nsubs - 1);
    free(c->subs);
    uint32_t lost = gw_queue_clear(&c->q);
    if (lost && !c->close_code)
        GW_ADD(w->stats->dropped[GW_DROP_SHUTDOWN], lost);
    gw_queue_release(&c->q);
    free(c->dropped);
    c->dropped = NULL;
    free(c->rx);
    free(c->cf);
    c->cf = NULL;
    gw_auth_principal_free(c->principal);
    c->principal = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->established = 0;
    w->nconns--;
    atomic_fetch_sub(&w->node->connections, 1);
    GW_ADD(w->stats->connections_active, -1);
    if (w->draining && w->nconns == 0)
        w->stop = true;
}

static void conn_command(gw_worker *w, gw_conn *c, const char *text, size_t len)
{
    gw_command cmd;
    const char *code = "bad_request";
    char reason[200];
    if (sec_rate_limited(w, c))
        return;
    if (gw_proto_parse(text, len, &cmd, &code, reason, sizeof(reason)) < 0) {
        conn_error(w, c, code, reason);
        return;
    }
    switch (cmd.op) {
    case GW_OP_SUBSCRIBE:
        conn_subscribe(w, c, cmd.channel, cmd.is_pattern, cmd.has_since ? &cmd.since : NULL);
        break;
    case GW_OP_UNSUBSCRIBE: {
        int slot = conn_find_sub(c, cmd.channel, cmd.is_pattern);
        if (slot >= 0)
            conn_unsubscribe_slot(w, c, (uint32_t)slot);
        conn_reply(w, c, "unsubscribed", cmd.channel);
        break;
    }
    case GW_OP_PING:
        conn_reply(w, c, "pong", NULL); /* gw_frame_pong */
        break;
    case GW_OP_AUTH:
    case GW_OP_REFRESH:
        sec_auth_op(w, c, &cmd);
        break;
    case GW_OP_PUBLISH:
        sec_publish_op(w, c, &cmd);
        break;
    case GW_OP_PRESENCE:
    case GW_OP_PRESENCE_STATS:
        if (!sec_may_subscribe(w, c, cmd.channel, false))
            break;
        if (gw_config_presence_for(w->cfg, cmd.channel)->presence <= 0) {
            conn_error(w, c, "not_available", "presence is not enabled for this channel");
            break;
        }
        /* the ingest thread reads and answers this connection (GW_MAIL_REPLY) */
        presence_post(w, c, cmd.op == GW_OP_PRESENCE ? GW_MAIL_PRES_LIST : GW_MAIL_PRES_STATS, cmd.channel);
        break;
    case GW_OP_HISTORY:
        if (sec_may_subscribe(w, c, cmd.channel, false)) {
            /* the ingest thread reads and answers this connection (GW_MAIL_REPLY) */
            gw_hreq *r = gw_hreq_new(GW_MAIL_HISTORY, w->index, c->id, cmd.channel);
            r->has_since = cmd.has_since;
            r->since = cmd.since;
            r->limit = cmd.limit;
            r->reverse = cmd.reverse;
            if (gw_bridge_post(&w->node->requests, &r->mail, 0) != 0)
                free(r);
        }
        break;
    }
    gw_command_release(&cmd);
}

/* Returns -1 to close. Counts bytes across fragments against max_message_size. */
static int conn_receive(gw_worker *w, gw_conn *c, struct lws *wsi, const char *in, size_t len)
{
    size_t max = (size_t)w->cfg->max_message_size;
    size_t remaining = lws_remaining_packet_payload(wsi);
    int final = lws_is_final_fragment(wsi) && remaining == 0;
    if (c->rx_len + len + remaining > max) {
        /* Not return -1: closing the socket with the rest of the client's frame unread
         * makes the kernel send a reset that destroys our close frame, and the client
         * never learns it hit the limit. Free the partial message now, send the 1009
         * at the next WRITEABLE and discard what still arrives (RECEIVE is ignored
         * once close_code is set; conn_close bounds it all to 2 s). */
        free(c->rx);
        c->rx = NULL;
        c->rx_len = 0;
        conn_close(w, c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
        return 0;
    }
    if (final && !c->rx && c->cf) {
        if (lws_frame_is_binary(wsi))
            cf_close(w, c, GW_CF_DISC_BAD_REQUEST);
        else
            cf_frame(w, c, in, len);
        return 0;
    }
    if (final && !c->rx) {
        if (lws_frame_is_binary(wsi))
            conn_error(w, c, "bad_request", "binary frames are not supported; send JSON text");
        else
            conn_command(w, c, in, len);
        return 0;
    }
    if (!c->rx) {
        c->rx = pulse_xmalloc(max);
    }
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += (uint32_t)len;
    if (final) {
        if (c->cf && lws_frame_is_binary(wsi))
            cf_close(w, c, GW_CF_DISC_BAD_REQUEST);
        else if (c->cf)
            cf_frame(w, c, c->rx, c->rx_len);
        else if (lws_frame_is_binary(wsi))
            conn_error(w, c, "bad_request", "binary frames are not supported; send JSON text");
        else
            conn_command(w, c, c->rx, c->rx_len);
        free(c->rx);
        c->rx = NULL;
        c->rx_len = 0;
    }
    return 0;
}

static void observe_delivery(gw_worker *w, const gw_msg *m, int64_t now_ns)
{
    if (m->kind != GW_MSG_EVENT)
        return;
    GW_ADD(w->stats->deliveries[m->priority], 1);
    gw_metrics_fanout_observe(w->stats, now_ns - m->arrived_ns);
}

/* Writes the header of an unmasked server frame (FIN, text) of len payload bytes to
 * out; returns its length (2, 4 or 10). */
static size_t put_head(unsigned char *out, size_t len)
{
    size_t h = 0;
    out[h++] = 0x81;
    if (len < 126) {
        out[h++] = (unsigned char)len;
    } else if (len < 65536) {
        out[h++] = 126;
        out[h++] = (unsigned char)(len >> 8);
        out[h++] = (unsigned char)len;
    } else {
        out[h++] = 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    return h;
}

/* Appends one unmasked server frame (FIN, text) holding m to out. */
static size_t put_frame(unsigned char *out, const gw_msg *m)
{
    size_t h = put_head(out, m->len);
    memcpy(out + h, m->payload, m->len);
    return h + m->len;
}

/* One lws_write per call. With one message queued it is written from the shared
 * buffer (no copy). With a backlog, several queued messages leave in one send:
 * complete frames packed back to back (or, with ?batch=1, envelopes joined by '\n' in
 * one frame) in the worker's scratch buffer, which lws's own partial-send buffering
 * makes safe to reuse. Returns -1 to close. */
/* The heartbeat's PING (see sweep); lws drops empty PONGs unseen. */
static inline int write_ping(gw_worker *w, gw_conn *c, struct lws *wsi)
{
    c->ping_due = 0;
    memcpy(w->batch_buf + LWS_PRE, "pulse", 5);
    if (lws_write(wsi, w->batch_buf + LWS_PRE, 5, LWS_WRITE_PING) < 0)
        return -1;
    if (gw_queue_peek(&c->q) || c->draining)
        lws_callback_on_writable(wsi);
    return 0;
}

/* ?batch=1: m and the consecutive deliveries after it in one frame, '\n'-separated,
 * into out. Returns the bytes packed; m and the packed messages are released. */
static inline size_t pack_batch(gw_worker *w, gw_conn *c, gw_msg *m, unsigned char *out, int64_t now_ns)
{
    gw_msg *next;
    memcpy(out, m->payload, m->len);
    size_t total = m->len;
    observe_delivery(w, m, now_ns);
    gw_msg_unref(m);
    while ((next = gw_queue_peek(&c->q)) && next->kind == GW_MSG_EVENT && total + 1 + next->len <= GW_BATCH_MAX) {
        next = gw_queue_pop(&c->q);
        out[total++] = '\n';
        memcpy(out + total, next->payload, next->len);
        total += next->len;
        observe_delivery(w, next, now_ns);
        gw_msg_unref(next);
    }
    return total;
}

/* A backlog: m and the frames after it whole, back to back in out, for one send, as
 * long as they fit in cap bytes (m always goes). Returns the bytes packed; m and the
 * packed messages are released. */
static inline size_t pack_frames(gw_worker *w, gw_conn *c, gw_msg *m, unsigned char *out, size_t cap,
                                 int64_t now_ns)
{
    gw_msg *next;
    size_t total = put_frame(out, m);
    observe_delivery(w, m, now_ns);
    gw_msg_unref(m);
    while ((next = gw_queue_peek(&c->q)) && total + next->len + 10 <= cap) {
        next = gw_queue_pop(&c->q);
        total += put_frame(out + total, next);
        observe_delivery(w, next, now_ns);
        gw_msg_unref(next);
    }
    return total;
}

/* After total bytes for c went to the socket (or to lws's buffer of what it did not
 * take yet): what comes next for c. */
static void conn_wrote(gw_worker *w, gw_conn *c, struct lws *wsi, size_t total, int64_t now_ns)
{
    GW_ADD(w->stats->bytes_sent, total);
    if (!c->q.count && c->dropped && c->dropped->active)
        flush_dropped(w, c, now_ns / 1000000); /* caught up: say what was lost */
    if (c->q.count) {
        c->backlog_since_ms = now_ns / 1000000;
        lws_callback_on_writable(wsi);
    } else if (c->draining) {
        lws_callback_on_writable(wsi);
    }
}

/* The connection's first frames (hello, and subscribed when the channels were already
 * confirmed) go out inside the 101: one send per handshake, where the 101, the frames
 * and the uncork of a corked socket were three system calls. lws 4.1.6 lets the
 * protocol add to the 101's header block here (LWS_CALLBACK_ADD_HEADERS, `in` the
 * place and the room left), then appends the CRLF that ends the block and writes the
 * whole buffer in one send. So this ends the header block itself, appends the frames,
 * and ends with the 2-byte header of an unsolicited PONG (RFC 6455 5.5.3: allowed, no
 * answer expected; every client ignores it) whose payload is lws's CRLF. Frames that
 * do not fit stay queued and leave as usual; nothing is appended when none fit. */
static void conn_first_frames(gw_worker *w, gw_conn *c, struct lws *wsi, struct lws_process_html_args *a)
{
    /* room for the frames: less the header block's CRLF, the PONG's header and lws's
     * CRLF after it */
    size_t cap = a->max_len > 6 ? (size_t)a->max_len - 6 : 0;
    gw_msg *m = gw_queue_peek(&c->q);
    if (c->close_code || !m || m->len + 10 > cap)
        return;
    unsigned char *out = (unsigned char *)a->p;
    int64_t now_ns = pulse_mono_ns();
    out[0] = '\r';
    out[1] = '\n';
    size_t total = 2 + pack_frames(w, c, gw_queue_pop(&c->q), out + 2, cap, now_ns);
    out[total++] = 0x8a; /* FIN, PONG */
    out[total++] = 2;    /* "\r\n" */
    a->p += total;
    a->max_len -= (int)total;
    conn_wrote(w, c, wsi, total - 4, now_ns);
}

static int conn_writeable(gw_worker *w, gw_conn *c, struct lws *wsi)
{
    if (c->close_code) {
        const char *r = c->close_reason ? c->close_reason : "";
        lws_close_reason(wsi, (enum lws_close_status)c->close_code, (unsigned char *)r, strlen(r));
        return -1;
    }
    if (c->ping_due)
        return write_ping(w, c, wsi);
    gw_msg *m = gw_queue_pop(&c->q);
    if (!m) {
        if (c->draining) {
            const char *why = c->cf ? "shutdown" : "server shutting down";
            lws_close_reason(wsi, c->cf ? (enum lws_close_status)GW_CF_DISC_SHUTDOWN : LWS_CLOSE_STATUS_GOINGAWAY,
                             (unsigned char *)why, strlen(why));
            return -1;
        }
        return 0;
    }
    int64_t now_ns = pulse_mono_ns();
    size_t total;
    int n;
    gw_msg *next = gw_queue_peek(&c->q);
    unsigned char *out = w->batch_buf + LWS_PRE;
    if (c->batch && m->kind == GW_MSG_EVENT && next && next->kind == GW_MSG_EVENT &&
        m->len + 1 + next->len <= GW_BATCH_MAX) {
        total = pack_batch(w, c, m, out, now_ns);
        n = lws_write(wsi, out, total, LWS_WRITE_TEXT);
    } else if (!c->batch && next && m->len + next->len + 20 <= GW_BATCH_MAX) {
        total = pack_frames(w, c, m, out, GW_BATCH_MAX, now_ns);
        n = lws_write(wsi, out, total, LWS_WRITE_RAW);
    } else {
        total = m->len;
        n = lws_write(wsi, m->payload, total, LWS_WRITE_TEXT);
        observe_delivery(w, m, now_ns);
        gw_msg_unref(m);
    }
    if (n < (int)total)
        return -1;
    conn_wrote(w, c, wsi, total, now_ns);
    return 0;
}

/* ---- inbox ---- */

/* A subscription with since: hold during its recovery, then skip what it replayed.
 * true when m must not be queued now. */
static bool sub_hist_take(gw_worker *w, gw_conn *c, sub_hist *h, gw_msg *m)
{
    if (h->recovering) {
        if (h->nheld >= w->node->qlimits.hard_msgs) {
            conn_close(w, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow consumer: queue limit");
            return true;
        }
        if (h->nheld == h->heldcap) {
            h->heldcap = h->heldcap ? h->heldcap * 2 : 16;
            h->held = pulse_xrealloc(h->held, h->heldcap * sizeof(*h->held));
        }
        h->held[h->nheld++] = gw_msg_ref(m);
        return true;
    }
    if (!m->pos.offset)
        return false;
    if (gw_hpos_seen(&h->last, &m->pos))
        return true;
    h->last = m->pos;
    return false;
}

static void fanout(gw_worker *w, gw_msg *m, int64_t now_ms)
{
    gw_chan *ch = gw_chantab_get(w->chans, m->route, m->is_pattern);
    if (!ch)
        return;
    for (uint32_t i = 0; i < ch->nsubs; i++) {
        gw_conn *c = ch->subs[i].sub;
        sub_hist *h = c->subs[ch->subs[i].back].h;
        gw_msg *out = m;
        if (c->cf) { /* the Centrifugo push, framed once for all of them */
            if (h->cf_gapped || (m->text && !h->cf_join_leave) || !(out = gw_msg_cf(m)))
                continue;
        }
        if (h && sub_hist_take(w, c, h, m))
            continue;
        conn_push(w, c, out, now_ms);
    }
}

static void confirm(gw_worker *w, const char *name, bool is_pattern)
{
    gw_chan *ch = gw_chantab_get(w->chans, name, is_pattern);
    if (!ch || ch->confirmed)
        return;
    ch->confirmed = true;
    for (uint32_t i = 0; i < ch->nsubs; i++) {
        gw_conn *c = ch->subs[i].sub;
        conn_sub *s = &c->subs[ch->subs[i].back];
        if (!s->acked && !(s->h && s->h->recovering)) {
            s->acked = 1;
            if (c->cf)
                cf_subscribed_plain(w, c, s->h->cf_id);
            else
                conn_reply(w, c, "subscribed", name);
        }
    }
}

/* After a Redis outage: tell each subscriber of the channel it may have missed events. */
static void notify_gap(gw_worker *w, const char *name, bool is_pattern)
{
    gw_chan *ch = gw_chantab_get(w->chans, name, is_pattern);
    if (!ch)
        return;
    char buf[PULSE_CHANNEL_MAX * 6 + 64];
    int n = gw_frame_gap(buf, sizeof(buf), name, "redis_reconnect");
    for (uint32_t i = 0; i < ch->nsubs; i++) {
        gw_conn *c = ch->subs[i].sub;
        if (c->cf)
            cf_gap(w, c, name);
        else
            conn_send_text(w, c, buf, n);
    }
}

/* Events of a channel the stream could not give back after an outage. */
static void notify_gap_range(gw_worker *w, const gw_hans *a)
{
    gw_chan *ch = gw_chantab_get(w->chans, a->channel, false);
    if (!ch)
        return;
    char buf[PULSE_CHANNEL_MAX * 6 + 128];
    int n = gw_frame_gap_range(buf, sizeof(buf), a->channel, a->from, a->to, "redis_reconnect");
    for (uint32_t i = 0; i < ch->nsubs; i++) {
        gw_conn *c = ch->subs[i].sub;
        const sub_hist *h = c->subs[ch->subs[i].back].h;
        if (h && h->recovering) /* a recovery finds the same hole in its own read */
            continue;
        if (c->cf)
            cf_gap(w, c, a->channel);
        else
            conn_send_text(w, c, buf, n);
    }
}

/* The stream read of a recovery is back: "subscribed" with the position, then the
 * missed events and the held live ones in offset order, then live as usual. */
static void recovered(gw_worker *w, gw_hans *a)
{
    gw_chan *ch = gw_chantab_get(w->chans, a->channel, false);
    gw_conn *c = NULL;
    conn_sub *s = NULL;
    uint32_t slot = 0;
    for (uint32_t i = 0; ch && i < ch->nsubs; i++) {
        gw_conn *cc = ch->subs[i].sub;
        if (cc->id == a->conn_id) {
            c = cc;
            slot = ch->subs[i].back;
            s = &cc->subs[slot];
        }
    }
    if (!s || !s->h || !s->h->recovering)
        return; /* the client left or unsubscribed meanwhile */
    if (c->cf) {
        cf_recovered(w, c, slot, a);
        return;
    }
    sub_hist *h = s->h;
    size_t nr = a->n, nh = h->nheld;
    gw_hitem *items = pulse_xcalloc(nr + nh + 1, sizeof(*items));
    gw_hout *out = pulse_xcalloc(GW_HMERGE_OUT_MAX(nr, nh), sizeof(*out));
    for (size_t i = 0; i < nr; i++)
        items[i] = (gw_hitem){a->events[i]->pos.offset, NULL, a->events[i]};
    for (size_t j = 0; j < nh; j++)
        items[nr + j] = (gw_hitem){h->held[j]->pos.offset, h->held[j]->pos.epoch, h->held[j]};
    gw_hmerge_in in = {.since = h->since, .range = items, .nrange = nr, .held = items + nr, .nheld = nh,
                       .cap = (uint64_t)w->cfg->history_recover_max, .partial = false};
    if (a->ok)
        in.top = a->top;
    gw_hmerge_res res;
    gw_hist_merge(&in, out, &res);

    int64_t now_ms = pulse_mono_ms();
    char buf[PULSE_CHANNEL_MAX * 6 + 160];
    conn_send_text(w, c, buf, gw_frame_subscribed_pos(buf, sizeof(buf), a->channel, &in.top, res.recovered));
    for (size_t i = 0; i < res.n; i++) {
        if (out[i].src == GW_HOUT_GAP)
            conn_send_text(w, c, buf,
                           gw_frame_gap_range(buf, sizeof(buf), a->channel, out[i].offset, out[i].gap_to,
                                              "redis_reconnect"));
        else
            conn_push(w, c, out[i].item, now_ms);
    }
    GW_ADD(w->stats->recoveries[res.recovered ? 1 : 0], 1);
    GW_ADD(w->stats->events_replayed, res.replayed);
    PLOG_DEBUG("ws", "conn=%llu %s since %llu: %s, %zu replayed, now at %llu", (unsigned long long)c->id,
               a->channel, (unsigned long long)h->since.offset, res.recovered ? "recovered" : "not recovered",
               res.replayed, (unsigned long long)res.last.offset);
    h->last = res.last;
    sub_hist_settled(h);
    s->acked = 1;
    free(items);
    free(out);
}

/* A frame for one connection (the history answer). */
static void reply_to(gw_worker *w, gw_hans *a)
{
    for (gw_conn *c = w->conns; c; c = c->next) {
        if (c->id == a->conn_id) {
            conn_push(w, c, a->frame, pulse_mono_ms());
            return;
        }
    }
}

static void begin_drain(gw_worker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    w->drain_deadline_ms = pulse_mono_ms() + w->cfg->drain_timeout_ms;
    for (gw_conn *c = w->conns; c; c = c->next) {
        c->draining = 1;
        lws_callback_on_writable(c->wsi);
    }
    if (w->nconns == 0)
        w->stop = true;
}

/* ---- ws.io_uring: a flush's sends in one system call ---- */

/* One send queued in the ring: the first n (up to USEND_PACK) of c's queued frames,
 * each framed in place (its header written into its message's headroom, the same
 * bytes for every connection) and sent from there as one piece of a sendmsg: packed
 * without a copy. The frames stay in c's queue until the result says which went. */
typedef struct gw_usent {
    gw_conn *c;
    uint32_t first, n; /* its pieces: w->uiov[first .. first + n) */
    size_t total;      /* their bytes */
    int res;           /* the send's result; USEND_NONE until it has one */
} gw_usent;

#define USEND_DEPTH 1024  /* sends per submission */
#define USEND_PACK 64     /* frames per send at most (and GW_BATCH_MAX bytes, as packed writes) */
#define USEND_FRAMES 8192 /* frames per submission */
#define USEND_NONE INT32_MIN

static void usend_done(void *ud, uint32_t tag, int res)
{
    gw_worker *w = ud;
    if (tag < w->nusent)
        w->usent[tag].res = res;
}

/* The ring, created by the worker thread at its first flush; NULL when ws.io_uring is
 * off, with TLS (lws encrypts), or when the kernel refuses io_uring (said once). */
static gw_usend *usend_ring(gw_worker *w)
{
    if (w->usend || w->usend_tried)
        return w->usend;
    w->usend_tried = true;
    if (!w->cfg->ws_io_uring || (w->cfg->tls_cert && w->cfg->tls_cert[0]))
        return NULL;
    const char *why = "";
    w->usend = gw_usend_new(USEND_DEPTH, &why);
    if (!w->usend) {
        PLOG_WARN("ws", "worker %d: io_uring unavailable (%s): one send() per delivery (ws.io_uring)", w->index, why);
        return NULL;
    }
    w->usent = pulse_xmalloc(USEND_DEPTH * sizeof(*w->usent));
    w->uiov = pulse_xmalloc(USEND_FRAMES * sizeof(*w->uiov));
    return w->usend;
}

/* Can c's next write go to the ring? Frames queued and nothing else to say first (a
 * ping, a close, the end of a drain); ?batch=1
 * joins a backlog into one frame, which lws's path does. */
static bool usend_fits(const gw_conn *c)
{
    return c->q.count >= 1 && (c->q.count == 1 || !c->batch) && !c->ping_due && !c->draining;
}

/* Submits the queued sends and finishes each: the frames that went leave the queue; of
 * a frame cut short by a full socket the rest goes to lws (lws_write sends what fits
 * and keeps the rest until POLLOUT, as for any write); the frames not sent at all
 * stay queued for WRITEABLE, which packs them as usual; a failed socket is closed. If
 * the kernel refused the submission the ring is given up for send(). */
static void usend_flush(gw_worker *w)
{
    if (w->nusent == 0)
        return;
    unsigned submitted = 0;
    int enters = gw_usend_flush(w->usend, usend_done, w, &submitted);
    GW_ADD(w->stats->ring_sends, submitted);
    GW_ADD(w->stats->ring_enters, enters > 0 ? (uint64_t)enters : 0);
    if (enters < 0) {
        PLOG_WARN("ws", "worker %d: io_uring submission failed: one send() per delivery from now on", w->index);
        gw_usend_free(w->usend);
        w->usend = NULL;
    }
    int64_t now_ns = pulse_mono_ns();
    for (uint32_t i = 0; i < w->nusent; i++) {
        gw_usent *s = &w->usent[i];
        gw_conn *c = s->c;
        int res = s->res;
        if (res == USEND_NONE) /* sent to the kernel with no answer: its bytes unknown */
            res = i < submitted ? -EIO : 0;
        if (res == -EAGAIN)
            res = 0;
        if (res < 0) {
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            continue;
        }
        size_t sent = (size_t)res, wrote = 0;
        bool ok = true;
        for (uint32_t k = s->first; k < s->first + s->n && sent > 0; k++) {
            const struct iovec *v = &w->uiov[k];
            if (sent < v->iov_len) { /* the rest of this frame, after what went */
                size_t rest = v->iov_len - sent;
                ok = lws_write(c->wsi, (unsigned char *)v->iov_base + sent, rest, LWS_WRITE_RAW) >= (int)rest;
            }
            sent = sent > v->iov_len ? sent - v->iov_len : 0;
            wrote += v->iov_len;
            gw_msg *m = gw_queue_pop(&c->q);
            if (ok)
                observe_delivery(w, m, now_ns);
            gw_msg_unref(m);
            if (!ok)
                break;
        }
        if (!ok)
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        else if (wrote)
            conn_wrote(w, c, c->wsi, wrote, now_ns);
        else /* the socket was full: no progress, WRITEABLE when it drains */
            lws_callback_on_writable(c->wsi);
    }
    w->nusent = 0;
    w->nuframes = 0;
}

/* Queues c's next frames in the ring (usend_fits(c)). */
static void usend_queue(gw_worker *w, gw_conn *c)
{
    if (gw_usend_room(w->usend) == 0 || w->nuframes + USEND_PACK > USEND_FRAMES)
        usend_flush(w);
    if (!w->usend) { /* given up just now */
        if (conn_writeable(w, c, c->wsi) < 0)
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    gw_usent *s = &w->usent[w->nusent];
    *s = (gw_usent){.c = c, .first = w->nuframes, .res = USEND_NONE};
    gw_msg *m;
    while (s->n < USEND_PACK && (m = gw_queue_at(&c->q, s->n)) &&
           (s->n == 0 || s->total + m->len + 10 <= GW_BATCH_MAX)) {
        unsigned char head[10];
        size_t h = put_head(head, m->len);
        memcpy(m->payload - h, head, h);
        w->uiov[s->first + s->n] = (struct iovec){.iov_base = m->payload - h, .iov_len = h + m->len};
        s->total += h + m->len;
        s->n++;
    }
    w->nuframes += s->n;
    int fd = lws_get_socket_fd(c->wsi);
    if (s->n == 1)
        gw_usend_add(w->usend, fd, w->uiov[s->first].iov_base, w->uiov[s->first].iov_len, w->nusent);
    else
        gw_usend_add_iov(w->usend, fd, &w->uiov[s->first], s->n, w->nusent);
    w->nusent++;
}

/* Writes what this drain queued, now, for every connection lws holds no unsent output
 * for (one send each, packing what the slice queued; with ws.io_uring those sends
 * go to the kernel together); the others wait for WRITEABLE as usual. Saves a
 * poll round and a POLLOUT dispatch per connection and event. */
static void flush_dirty(gw_worker *w)
{
    if (w->ndirty)
        usend_ring(w); /* w->usend from now on, unless io_uring is off or refused */
    for (uint32_t i = 0; i < w->ndirty; i++) {
        gw_conn *c = w->dirty[i];
        if (!c)
            continue; /* closed since (conn_destroy) */
        c->dirty = 0;
        if (!c->established || c->close_code || !c->q.count)
            continue;
        if (lws_partial_buffered(c->wsi)) {
            lws_callback_on_writable(c->wsi);
            continue;
        }
        if (w->usend && usend_fits(c)) {
            usend_queue(w, c);
            continue;
        }
        if (conn_writeable(w, c, c->wsi) < 0) /* the socket failed: let lws close it */
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    w->ndirty = 0;
    usend_flush(w);
}

/* One command from the ingest thread. */
static void handle_note(gw_worker *w, gw_note *note)
{
    switch (note->mail.kind) {
    case GW_MAIL_RECOVERED:
    case GW_MAIL_REPLY:
    case GW_MAIL_GAP_RANGE: {
        gw_hans *a = (gw_hans *)note;
        if (a->mail.kind == GW_MAIL_RECOVERED)
            recovered(w, a);
        else if (a->mail.kind == GW_MAIL_REPLY)
            reply_to(w, a);
        else
            notify_gap_range(w, a);
        gw_hans_free(a);
        return;
    }
    case GW_MAIL_CONFIRM:
        confirm(w, note->name, note->is_pattern);
        break;
    case GW_MAIL_DRAIN:
        w->drain_requested = true; /* once what is already in the inbox is out */
        break;
    case GW_MAIL_GAP:
        notify_gap(w, note->name, note->is_pattern);
        break;
    case GW_MAIL_ADOPT: {
        struct lws *wsi = w->draining ? NULL : lws_adopt_socket_vhost(w->vh, note->fd);
        if (wsi) {
            lws_set_opaque_user_data(wsi, sock_tag(note->ip_key));
            if (note->readable) {
                /* its request is already here: served now, not after the next poll()
                 * over every socket; what it queues is written by flush_dirty */
                struct lws_pollfd pfd = {.fd = note->fd, .events = LWS_POLLIN, .revents = LWS_POLLIN};
                lws_service_fd(w->ctx, &pfd);
            }
        } else {
            GW_ADD(w->stats->connections_refused, 1);
            close(note->fd);
            gw_limits_ip_release(w->node->limits, note->ip_key);
            atomic_fetch_sub(&w->node->sockets, 1);
        }
        break;
    }
    default:
        break;
    }
    free(note);
}

/* Takes the whole inbox, then handles it in order up to one slice of messages and
 * one of adopted sockets (other commands do not count); what is left waits for the
 * next wake-up, which it asks for. */
static void drain_inbox(gw_worker *w)
{
    gw_mail *taken = gw_bridge_take(&w->node->inbox[w->index]);
    if (taken) {
        if (w->pending_tail)
            w->pending_tail->next = taken;
        else
            w->pending = taken;
        while (taken->next)
            taken = taken->next;
        w->pending_tail = taken;
    }
    uint32_t n = 0, adopts = 0;
    uint64_t bytes = 0;
    int64_t now_ms = pulse_mono_ms();
    w->in_drain = true;
    gw_mail *m;
    while ((m = w->pending)) {
        if (m->kind == GW_MAIL_ADOPT && adopts++ >= GW_ADOPT_SLICE)
            break;
        if (m->kind == GW_MAIL_MSG) {
            gw_msg *msg = (gw_msg *)m;
            if (n > 0 && (n >= w->slice_msgs || bytes + msg->len > w->slice_bytes))
                break;
            n++;
            bytes += msg->len;
        }
        w->pending = m->next;
        if (m->kind == GW_MAIL_MSG) {
            fanout(w, (gw_msg *)m, now_ms);
            gw_msg_unref((gw_msg *)m);
        } else {
            bool flush = m->kind == GW_MAIL_ADOPT && adopts % GW_ADOPT_FLUSH == 0;
            handle_note(w, (gw_note *)m); /* frees m */
            if (flush) { /* the last GW_ADOPT_FLUSH handshakes' 101s and hellos */
                w->in_drain = false;
                flush_dirty(w);
                w->in_drain = true;
            }
        }
    }
    if (!w->pending)
        w->pending_tail = NULL;
    w->in_drain = false;
    flush_dirty(w);
    if (w->pending)
        lws_cancel_service(w->ctx); /* come back for the next slice after writing */
    else if (w->drain_requested)
        begin_drain(w);
}

/* ---- lws's memory ---- */

/* Header tables (lws's "ah struct" and its "ah data", max_http_header_data bytes)
 * live only for a handshake: they come from a slab of their own (gw_slab.h says why).
 * The four allocations every connection keeps for its life (lws's wsi, its WebSocket
 * state, its receive buffer and our gw_conn, 1.4 KiB together) come from a slab each:
 * slots packed side by side and faulted in 64 KiB at a time, where glibc's heap grew
 * a page at a time and each first touch cost a page fault (13% of a storm's worker
 * CPU on this VM). Everything else comes from malloc as lws would do itself (without
 * its per-call debug log and heap accounting). */
#define GW_AH_SLOT 4096
static gw_slab *ah_slab;

/* Under AddressSanitizer the connection's structures come from malloc, so that a use
 * after free of a wsi is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define GW_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GW_ASAN 1
#endif
#endif
#ifndef GW_ASAN
#define GW_ASAN 0
#endif

static const char *const conn_reasons[] = {"new server wsi", "ws struct", "user space", "rx_ubuf"};
#define GW_CONN_KINDS (sizeof(conn_reasons) / sizeof(conn_reasons[0]))
/* made at the first allocation of each kind, its size the slot's (lws's structures
 * are opaque); a larger request of the same kind goes to malloc */
static _Atomic(gw_slab *) conn_slab[GW_CONN_KINDS];
static uint32_t conn_slots;
static pthread_mutex_t conn_slab_lock = PTHREAD_MUTEX_INITIALIZER;

static gw_slab *conn_slab_for(const char *reason, size_t size)
{
    if (!conn_slots) /* under ASan (gw_worker_memory_init): malloc, and no lock */
        return NULL;
    for (size_t i = 0; i < GW_CONN_KINDS; i++) {
        if (strcmp(reason, conn_reasons[i]) != 0)
            continue;
        gw_slab *sl = atomic_load(&conn_slab[i]);
        if (!sl) {
            pthread_mutex_lock(&conn_slab_lock);
            sl = atomic_load(&conn_slab[i]);
            if (!sl) {
                sl = gw_slab_new(size, conn_slots);
                atomic_store(&conn_slab[i], sl);
            }
            pthread_mutex_unlock(&conn_slab_lock);
        }
        return sl && size <= gw_slab_slot_size(sl) ? sl : NULL;
    }
    return NULL;
}

/* The slab that holds ptr, or NULL. */
static gw_slab *slab_of(const void *ptr)
{
    if (gw_slab_owns(ah_slab, ptr))
        return ah_slab;
    for (size_t i = 0; i < GW_CONN_KINDS; i++) {
        gw_slab *sl = atomic_load(&conn_slab[i]);
        if (gw_slab_owns(sl, ptr))
            return sl;
    }
    return NULL;
}

static void *lws_mem(void *ptr, size_t size, const char *reason)
{
    gw_slab *sl = ptr ? slab_of(ptr) : NULL;
    if (sl) {
        if (!size) {
            gw_slab_free(sl, ptr);
            return NULL;
        }
        size_t slot = gw_slab_slot_size(sl);
        if (size <= slot)
            return ptr;
        void *p = malloc(size);
        if (p) {
            memcpy(p, ptr, slot);
            gw_slab_free(sl, ptr);
        }
        return p;
    }
    if (!ptr && size && reason) {
        sl = size <= GW_AH_SLOT && strncmp(reason, "ah ", 3) == 0 ? ah_slab : conn_slab_for(reason, size);
        void *p = sl ? gw_slab_alloc(sl) : NULL;
        if (p)
            return p;
    }
    if (size)
        return realloc(ptr, size);
    free(ptr);
    return NULL;
}

void gw_worker_memory_init(int64_t max_sockets)
{
    if (ah_slab)
        return;
    /* two header tables per handshake in flight, one set of connection slots per
     * socket the node admits (and lws's own few); past that, malloc */
    uint64_t n = (uint64_t)(max_sockets > 0 ? max_sockets : 1024);
    ah_slab = gw_slab_new(GW_AH_SLOT, (uint32_t)(2 * n < (1u << 20) ? 2 * n : (1u << 20)));
    conn_slots = GW_ASAN ? 0 : (uint32_t)(n + 64 < (1u << 20) ? n + 64 : (1u << 20));
    lws_set_allocator(lws_mem);
}

/* Once a second: close connections past the lag limit; enforce the drain deadline. */
static void sweep(lws_sorted_usec_list_t *sul)
{
    gw_worker *w = lws_container_of(sul, gw_worker, sweep_sul);
    int64_t now_ms = pulse_mono_ms();
    bool deadline = w->draining && now_ms >= w->drain_deadline_ms;
    for (gw_conn *c = w->conns; c; c = c->next) {
        if (c->cf && !deadline) {
            if (c->q.count && now_ms - c->backlog_since_ms > w->cfg->lag_limit_ms)
                conn_close(w, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow consumer: lag limit");
            cf_sweep(w, c, now_ms);
            continue;
        }
        if (deadline) {
            if (!c->close_code)
                conn_close(w, c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        } else if (!c->close_code && c->q.count && now_ms - c->backlog_since_ms > w->cfg->lag_limit_ms) {
            conn_close(w, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow consumer: lag limit");
        } else if (!c->close_code && c->auth_deadline_ms && now_ms >= c->auth_deadline_ms) {
            GW_ADD(w->stats->auth_failures[c->principal ? GW_AUTH_FAIL_EXPIRED : GW_AUTH_FAIL_TIMEOUT], 1);
            conn_close(w, c, GW_CLOSE_UNAUTHORIZED, c->principal ? "token expired" : "auth timeout");
        }
        /* The heartbeat, here rather than lws's per-connection validity timers: lws
         * 4.1.6 keeps those in one sorted list it walks from the head on every insert
         * (each connect and each PONG), N*N steps when N clients connect together. */
        int hb_s = w->cfg->heartbeat_interval_s;
        if (hb_s > 0 && !c->close_code && !c->ping_ms && now_ms - c->valid_ms >= hb_s * 1000LL) {
            c->ping_ms = now_ms;
            c->ping_due = 1;
            lws_callback_on_writable(c->wsi);
        } else if (hb_s > 0 && c->ping_ms && now_ms - c->ping_ms >= w->cfg->heartbeat_timeout_s * 1000LL) {
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC); /* no PONG: dead peer */
        }
    }
    if (ah_slab)
        gw_slab_trim(ah_slab); /* no handshake in flight: the header tables' pages go back */
    for (size_t i = 0; i < GW_CONN_KINDS; i++) { /* no connection left: theirs too */
        gw_slab *sl = atomic_load(&conn_slab[i]);
        if (sl)
            gw_slab_trim(sl);
    }
    lws_sul_schedule(w->ctx, 0, &w->sweep_sul, sweep, (w->draining ? 100 : 1000) * LWS_US_PER_MS);
}

/* ---- the lws protocol callback ---- */

static int cb_pulse(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    gw_worker *w = lws_context_user(lws_get_context(wsi));
    gw_conn *c = user;
    char buf[64];

    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (w)
            drain_inbox(w);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (w)
            sock_release(w, wsi);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return sec_confirm_upgrade(w, wsi);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_GET_URI) < 0 ||
            (strcmp(buf, "/ws") != 0 && strcmp(buf, "/ws/") != 0 && strcmp(buf, CF_PATH) != 0 &&
             strcmp(buf, CF_PATH "/") != 0))
            return http_refuse(w, wsi, HTTP_STATUS_NOT_FOUND, "not_found", "connect to /ws or " CF_PATH);
        if (w->draining)
            return http_refuse(w, wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable", "server shutting down");
        if (atomic_load(&w->node->connections) >= w->node->max_conns)
            return http_refuse(w, wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable", "too many connections");
        return sec_filter(w, wsi);
    case LWS_CALLBACK_ADD_HEADERS: /* lws 4.1.6: only from the WebSocket 101 (no mounts here) */
        if (c && in) {
            conn_established(w, c, wsi);
            conn_first_frames(w, c, wsi, in);
        }
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        if (!c->established) /* a handshake that added no headers */
            conn_established(w, c, wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        if (!c->established || c->close_code)
            return 0;
        return conn_receive(w, c, wsi, in, len);
    case LWS_CALLBACK_RECEIVE_PONG:
        if (c->established) {
            c->valid_ms = pulse_mono_ms();
            c->ping_ms = 0;
        }
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!c->established)
            return 0;
        return conn_writeable(w, c, wsi);
    case LWS_CALLBACK_CLOSED:
        conn_destroy(w, c);
        return 0;
    case LWS_CALLBACK_HTTP: {
        /* not a WebSocket upgrade: this port only speaks WebSocket at /ws */
        static const char body[] = "pulse-gateway: connect with WebSocket to /ws\n";
        if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, body))
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* ---- lifecycle ---- */

static void wake_worker(void *arg)
{
    gw_worker *w = arg;
    lws_cancel_service(w->ctx);
}

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & LLL_ERR)
        PLOG_ERR("lws", "%.*s", (int)n, line);
    else if (level & LLL_WARN)
        PLOG_WARN("lws", "%.*s", (int)n, line);
    else
        PLOG_DEBUG("lws", "%.*s", (int)n, line);
}

/* The pulse.v1 protocol table of the worker's lws context. */
static void init_protocols(gw_worker *w)
{
    w->protocols[0].name = "pulse.v1";
    w->protocols[0].callback = cb_pulse;
    w->protocols[0].per_session_data_size = sizeof(gw_conn);
    /* Per connection (lws allocates it at the upgrade and keeps it): client messages
     * longer than this arrive in pieces that conn_receive joins; control frames (at
     * most 125 bytes) must fit whole, lws parses them from this buffer. */
    w->protocols[0].rx_buffer_size = 128;
    /* lws 4.1.6 restricts each send() to rx_buffer_size when this is 0: every frame
     * over ~276 bytes would leave in two sends and a packed backlog in 276-byte
     * pieces. One send per packed write (frame header + GW_BATCH_MAX bytes). */
    w->protocols[0].tx_packet_size = GW_BATCH_MAX + 14;
}

/* The lws context settings: bind address, TLS, handshake timeouts, no lws heartbeat. */
static struct lws_context_creation_info context_info(gw_worker *w, int port)
{
    const gw_config *cfg = w->cfg;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = port;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    /* lws 4.1.6 with IPv6 on opens a dual-stack socket and cannot bind it to an IPv4
     * address, so it silently listens on every interface: an IPv4 bind address (and
     * 0.0.0.0) must turn IPv6 off. */
    struct in_addr v4;
    bool bind_v4 = cfg->bind && inet_pton(AF_INET, cfg->bind, &v4) == 1;
    if (bind_v4)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    if (cfg->bind && cfg->bind[0] && strcmp(cfg->bind, "0.0.0.0") != 0 && strcmp(cfg->bind, "::") != 0 &&
        strcmp(cfg->bind, "*") != 0)
        info.iface = cfg->bind;
    info.protocols = w->protocols;
    info.user = w;
    if (cfg->tls_cert && cfg->tls_cert[0]) { /* wss:// (gw_auth_new checked both files) */
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
        /* HTTP/1.1 only: lws would negotiate h2 by ALPN, whose limits (streams,
         * resets: CVE-2023-44487) Pulse never designed or tested */
        info.alpn = "http/1.1";
    }
    if (port < 0)
        info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* sockets arrive by gw_worker_adopt */
    info.timeout_secs = (unsigned int)cfg->handshake_timeout_s;
    /* lws replaces the accept timeout above with this one (default 10 s) as soon as
     * the first header bytes arrive: without it a slowloris client holds a slot for
     * 10 s whatever handshake_timeout_s says */
    info.timeout_secs_ah_idle = (unsigned int)cfg->handshake_timeout_s;
    info.max_http_header_data = GW_AH_SLOT; /* a header table's space fills one slab slot */
    /* all zero: no lws validity timers (the worker's sweep does the heartbeat);
     * without a policy lws would apply its own (PING after 300 s) */
    info.retry_and_idle_policy = &w->retry;
    return info;
}

gw_worker *gw_worker_new(gw_node *n, int index, int port, pulse_error *err)
{
    const gw_config *cfg = n->cfg;
    gw_worker *w = pulse_xcalloc(1, sizeof(*w));
    w->node = n;
    w->cfg = cfg;
    w->index = index;
    w->stats = &n->wstats[index];
    w->chans = gw_chantab_new();
    w->slice_msgs = (uint32_t)cfg->queue_max_messages / 4;
    if (w->slice_msgs > GW_INBOX_SLICE)
        w->slice_msgs = GW_INBOX_SLICE;
    if (w->slice_msgs < 1)
        w->slice_msgs = 1;
    w->slice_bytes = (uint64_t)cfg->queue_max_bytes / 4;
    w->batch_buf = pulse_xmalloc(LWS_PRE + GW_BATCH_MAX);

    lws_set_log_level(pulse_log_current_level >= PULSE_LOG_DEBUG ? (LLL_ERR | LLL_WARN | LLL_NOTICE)
                                                                 : (LLL_ERR | LLL_WARN),
                      lws_log_emit);

    init_protocols(w);
    struct lws_context_creation_info info = context_info(w, port);
    if (cfg->ws_event_loop == GW_EVLOOP_EPOLL) { /* lws's poll() answered by epoll (gw_epoll.h) */
        w->epoll = gw_epoll_new();
        if (!w->epoll) {
            pulse_error_set(err, PULSE_EIO, 0, "ws.event_loop = epoll: cannot create an epoll set: %s",
                            strerror(errno));
            gw_worker_free(w);
            return NULL;
        }
    }
    if (cfg->ws_event_loop == GW_EVLOOP_LIBEV) { /* libev through lws's evlib plugin (gw_evloop.h) */
        w->evloop = gw_evloop_new();
        if (!w->evloop) {
            pulse_error_set(err, PULSE_EIO, 0, "ws.event_loop = libev: cannot load libev.so.4 (libev4)");
            gw_worker_free(w);
            return NULL;
        }
        info.options |= LWS_SERVER_OPTION_LIBEV;
        info.foreign_loops = gw_evloop_foreign(w->evloop);
    }
    w->ctx = lws_create_context(&info);
    if (!w->ctx) {
        pulse_error_set(err, PULSE_EIO, 0, "cannot listen on %s:%d (WebSocket, worker %d)",
                        cfg->bind ? cfg->bind : "*", port, index);
        gw_worker_free(w);
        return NULL;
    }
    w->vh = lws_get_vhost_by_name(w->ctx, "default");
    /* before any thread runs: from now on a post to the inbox wakes this context */
    n->inbox[index].wake_ud = w;
    n->inbox[index].wake = wake_worker;
    w->port = (w->vh && port >= 0) ? lws_get_vhost_listen_port(w->vh) : port;
    return w;
}

int gw_worker_port(const gw_worker *w)
{
    return w->port;
}

static void *worker_main(void *arg)
{
    gw_worker *w = arg;
    char name[16];
    snprintf(name, sizeof(name), "pulse-ws-%d", w->index);
    pthread_setname_np(pthread_self(), name);
    lws_sul_schedule(w->ctx, 0, &w->sweep_sul, sweep, 1000 * LWS_US_PER_MS);
    if (w->evloop)
        gw_evloop_run(w->evloop, &w->stop);
    gw_epoll_attach(w->epoll); /* NULL (poll, libev): the C library's poll() */
    while (!w->evloop && !w->stop) {
        if (lws_service(w->ctx, 0) < 0)
            break;
    }
    gw_epoll_attach(NULL);
    lws_sul_cancel(&w->sweep_sul);
    request(w, GW_MAIL_WORKER_DONE, NULL, false);
    return NULL;
}

int gw_worker_start(gw_worker *w)
{
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return -1;
    w->started = true;
    return 0;
}

void gw_worker_join(gw_worker *w)
{
    if (w && w->started) {
        pthread_join(w->thread, NULL);
        w->started = false;
    }
}

void gw_worker_free(gw_worker *w)
{
    if (!w)
        return;
    gw_bridge *inbox = &w->node->inbox[w->index];
    if (inbox->wake_ud == w) { /* the ingest thread is past posting by now */
        inbox->wake = NULL;
        inbox->wake_ud = NULL;
    }
    if (w->ctx)
        lws_context_destroy(w->ctx);
    gw_evloop_free(w->evloop);
    gw_epoll_free(w->epoll);
    gw_bridge_discard(w->pending);
    gw_chantab_free(w->chans);
    free(w->dirty);
    gw_usend_free(w->usend);
    free(w->usent);
    free(w->uiov);
    free(w->batch_buf);
    free(w->cf_cmds);
    free(w);
}
