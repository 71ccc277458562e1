/*
 * gw_history.c - the ingest thread's side of channel history; see gw_history.h.
 *
 * Each exact channel entry of the ingest table may own a gw_hchan (c->hist): the
 * tracker of the last position delivered, the live events held while a repair read is
 * in flight, and the client recoveries waiting for the live subscription. Every stream
 * read goes through one callback (on_read) with a small context that names the channel
 * by value: a reply that comes back after its channel went away (or after a newer read
 * replaced it: `gen`) changes nothing.
 *
 * Messages handed to workers are owned by exactly one thread at a time (gw_msg.h), so
 * a merge never shares a message: each item sits in a slot, and emitting it moves it
 * out of its slot; whatever is left in the slots afterwards is released here.
 */
#include "gw_history.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_cf.h"
#include "gw_frame.h"
#include "gw_histmerge.h"
#include "gw_histwire.h"
#include "gw_ingest.h"
#include "gw_redis.h"
#include "pulse_alloc.h"
#include "pulse_channel.h"
#include "pulse_clock.h"
#include "pulse_functions.h"
#include "pulse_log.h"
#include "pulse_parse.h"

#define READ_COUNT_MAX 10000000u /* "no cap": still one bounded XRANGE */
#define HELD_MAX 100000          /* live events held by one repair before it gives up */
#define JOIN_MAX 100000          /* recoveries sharing one read */

struct rd_ctx;

typedef struct gw_hchan {
    gw_htrack track;
    gw_hpos floor;       /* the position read when first subscribed (used if no event came) */
    gw_msg **held;       /* live events held during a repair, owned */
    size_t nheld, heldcap;
    uint32_t gen;        /* the repair read that counts */
    bool first_read;     /* the first position read was sent */
    bool raw_seen;       /* a raw PUBLISH (no position) came: the stream cannot cover all */
    gw_mail *waiting;    /* gw_hreq recoveries waiting for the live subscription */
    struct rd_ctx *rec;  /* the latest recovery read in flight (later ones may share it) */
} gw_hchan;

typedef enum { RD_REPAIR, RD_FIRST, RD_RECOVER, RD_HISTORY, RD_HTTP } rd_kind;

/* A recovery that shares a read issued before it: served by that read only if the read
 * saw every event the node had passed on when the recovery came (q); else read again. */
typedef struct {
    gw_hreq *req; /* owned */
    gw_hpos q;    /* the channel's last position passed on to workers when it came */
} rd_join;

typedef struct rd_ctx {
    gw_node *n;
    rd_kind kind;
    uint32_t gen;                 /* RD_REPAIR */
    gw_hreq *req;                 /* RD_RECOVER, RD_HISTORY: the worker's request, owned */
    struct evhttp_request *http;  /* RD_HTTP; NULL once the client went away */
    struct evhttp_connection *conn;
    bool has_since, reverse;
    gw_hpos since;
    rd_join *joined;              /* RD_RECOVER: later recoveries from the same offset */
    size_t njoined, capjoined;
    char channel[PULSE_CHANNEL_MAX + 1];
} rd_ctx;

static uint32_t recover_cap(const gw_node *n)
{
    return n->cfg->history_recover_max > 0 ? (uint32_t)n->cfg->history_recover_max : READ_COUNT_MAX;
}

static gw_hchan *hchan(gw_chan *c)
{
    if (!c->hist)
        c->hist = pulse_xcalloc(1, sizeof(gw_hchan));
    return c->hist;
}

static void held_push(gw_hchan *h, gw_msg *m)
{
    if (h->nheld == h->heldcap) {
        h->heldcap = h->heldcap ? h->heldcap * 2 : 16;
        h->held = pulse_xrealloc(h->held, h->heldcap * sizeof(*h->held));
    }
    h->held[h->nheld++] = m;
}

void gw_history_chan_free(gw_chan *c)
{
    gw_hchan *h = c->hist;
    if (!h)
        return;
    for (size_t i = 0; i < h->nheld; i++)
        gw_msg_unref(h->held[i]);
    free(h->held);
    while (h->waiting) {
        gw_mail *next = h->waiting->next;
        free(h->waiting);
        h->waiting = next;
    }
    free(h);
    c->hist = NULL;
}

int gw_history_init(gw_node *n, pulse_error *err)
{
    size_t nrules = 0;
    pulse_history_rule *rules = gw_config_history_rules(n->cfg, &nrules);
    char *src = NULL, version[PULSE_FN_VERSION_MAX];
    int rc = pulse_functions_source_for(rules, nrules, n->cfg->redis_cluster, &src, version, err);
    free(rules);
    if (rc != 0)
        return -1;
    gw_redis_set_library(n->redis, src, version);
    free(src);
    return 0;
}

/* ---- reads ---- */

static void on_read(void *ud, const struct redisReply *reply, const char *err);

/* Sends the read; when it cannot go out, its callback runs now with no reply. The
 * node's own reads (repairs, recoveries) wait for the command connection; a history
 * read asked by a client fails at once when Redis is away. */
static void issue(rd_ctx *x, bool has_after, uint64_t after, uint32_t count, bool reverse)
{
    bool wait = x->kind != RD_HISTORY && x->kind != RD_HTTP;
    if (gw_redis_history_read(x->n->redis, x->channel, has_after, after, count, reverse, wait, on_read, x) != 0)
        on_read(x, NULL, "redis not connected");
}

static rd_ctx *ctx_new(gw_node *n, rd_kind kind, const char *channel)
{
    rd_ctx *x = pulse_xcalloc(1, sizeof(*x));
    x->n = n;
    x->kind = kind;
    snprintf(x->channel, sizeof(x->channel), "%s", channel);
    return x;
}

static void start_repair(gw_node *n, gw_chan *c, gw_hchan *h, uint64_t after)
{
    rd_ctx *x = ctx_new(n, RD_REPAIR, c->name);
    x->gen = ++h->gen;
    x->since = h->track.pos;
    n->gap_repairs++;
    PLOG_DEBUG("history", "%s: repairing after offset %llu", c->name, (unsigned long long)after);
    issue(x, true, after, recover_cap(n), false);
}

/* A recovery from the offset of a read already in flight on the channel shares it (a
 * reconnect storm: a thousand clients of a dead node coming back from the same offset
 * cost Redis one XRANGE, not a thousand); recover_done decides when it returns. */
static void issue_recover(gw_node *n, gw_chan *c, gw_hreq *r)
{
    gw_hchan *h = hchan(c);
    rd_ctx *s = h->rec;
    /* (a position-only read carries no events: only its like may share it) */
    if (s && s->since.offset == r->since.offset && s->req->position_only == r->position_only &&
        s->njoined < JOIN_MAX) {
        if (s->njoined == s->capjoined) {
            s->capjoined = s->capjoined ? s->capjoined * 2 : 16;
            s->joined = pulse_xrealloc(s->joined, s->capjoined * sizeof(*s->joined));
        }
        s->joined[s->njoined++] = (rd_join){r, h->track.pos};
        return;
    }
    rd_ctx *x = ctx_new(n, RD_RECOVER, r->channel);
    x->req = r;
    x->since = r->since;
    h->rec = x; /* before issue: its callback may run at once, and clears this */
    /* one more than the cap: past it the merge says recovered:false */
    uint32_t cap = recover_cap(n);
    if (r->position_only)
        cap = 0;
    else if (cap < READ_COUNT_MAX)
        cap++;
    issue(x, !r->position_only, r->since.offset, cap, false);
}

/* A slot per merged item: emitting moves the message out. */
typedef struct {
    gw_msg *m;
} slot;

/* Events [from, to] of c are lost for good (to 0: unknown): every subscriber is told. */
static void post_gap(gw_node *n, const gw_chan *c, uint64_t from, uint64_t to)
{
    for (int w = 0; w < n->nworkers; w++) {
        if (!(c->mask & (1ull << w)))
            continue;
        gw_hans *a = gw_hans_new(GW_MAIL_GAP_RANGE, 0, c->name);
        a->from = from;
        a->to = to;
        if (gw_bridge_post(&n->inbox[w], &a->mail, 0) != 0)
            gw_hans_free(a);
    }
    n->gap_notices_reconnect++;
}

/* The node's repair read is back: range + held, in order, out to the workers. */
static void repair_done(gw_node *n, const rd_ctx *x, bool ok, const gw_hpos *top, const gw_hentries *e)
{
    gw_chan *c = gw_chantab_get(n->chans, x->channel, false);
    gw_hchan *h = c ? c->hist : NULL;
    if (!h || h->gen != x->gen || !h->track.repairing)
        return; /* gone, or replaced by a newer read */
    if (ok && top->epoch[0] && strcmp(top->epoch, h->track.pos.epoch) != 0 && top->offset > 0) {
        /* The history the node stood in is gone (or it had none yet) and a new one has
         * started: what was left of the old one is lost, the new one is read from its
         * first event (the held events stay held for that read). */
        if (h->track.pos.epoch[0])
            post_gap(n, c, h->track.pos.offset + 1, 0);
        PLOG_INFO("history", "%s: history restarted (epoch %s, was %s at %llu): reading the new one", c->name,
                  top->epoch, h->track.pos.epoch, (unsigned long long)h->track.pos.offset);
        h->track.pos.offset = 0;
        memcpy(h->track.pos.epoch, top->epoch, sizeof(h->track.pos.epoch));
        start_repair(n, c, h, 0);
        return;
    }
    gw_hpos t = ok ? *top : h->track.pos; /* a failed read fills nothing: holes become gaps */
    size_t nr = ok ? e->n : 0, nh = h->nheld;
    slot *slots = pulse_xcalloc(nr + nh + 1, sizeof(*slots));
    gw_hitem *items = pulse_xcalloc(nr + nh + 1, sizeof(*items));
    gw_hout *out = pulse_xcalloc(GW_HMERGE_OUT_MAX(nr, nh), sizeof(*out));
    int64_t now = pulse_mono_ns();
    for (size_t i = 0; i < nr; i++) {
        gw_hpos p = {e->v[i].offset, ""};
        memcpy(p.epoch, t.epoch, sizeof(p.epoch));
        slots[i].m = gw_ingest_event(n, x->channel, NULL, &p, e->v[i].data, e->v[i].len, now);
        items[i] = (gw_hitem){e->v[i].offset, NULL, &slots[i]};
    }
    for (size_t j = 0; j < nh; j++) {
        gw_msg *m = h->held[j];
        slots[nr + j].m = m;
        items[nr + j] = (gw_hitem){m->pos.offset, m->pos.epoch, &slots[nr + j]};
    }
    gw_hmerge_in in = {.since = h->track.pos, .top = t, .range = items, .nrange = nr, .held = items + nr,
                       .nheld = nh, .cap = n->cfg->history_recover_max, .partial = true};
    gw_hmerge_res res;
    gw_hist_merge(&in, out, &res);
    for (size_t i = 0; i < res.n; i++) {
        if (out[i].src == GW_HOUT_GAP) {
            post_gap(n, c, out[i].offset, out[i].gap_to);
            continue;
        }
        slot *s = out[i].item;
        if (s->m && c->mask)
            gw_ingest_fanout(n, c->mask, s->m);
        else
            gw_msg_unref(s->m);
        s->m = NULL;
    }
    for (size_t i = 0; i < nr + nh; i++)
        gw_msg_unref(slots[i].m);
    if (res.gaps == 0)
        n->gap_repairs_filled++;
    PLOG_INFO("history", "%s: repaired after offset %llu: %zu events replayed, %zu gaps, now at %llu",
              x->channel, (unsigned long long)h->track.pos.offset, res.replayed, res.gaps,
              (unsigned long long)res.last.offset);
    h->nheld = 0;
    gw_htrack_repaired(&h->track, &res.last);
    free(slots);
    free(items);
    free(out);
}

static void first_done(gw_node *n, const rd_ctx *x, bool ok, const gw_hpos *top)
{
    gw_chan *c = gw_chantab_get(n->chans, x->channel, false);
    if (ok && c && c->hist && top->epoch[0])
        ((gw_hchan *)c->hist)->floor = *top;
}

/* Client recoveries reqs[0..nreq) of one channel, from one read, are answered: the
 * events after since go to each one's worker, which merges them with what it held.
 * The answers of one worker share one framed copy of each event: its reference count
 * is set for all of them before the first hand-off (after it, that worker owns the
 * count). A hand-off fails only when the worker's inbox is closed (shutdown): the
 * answer's references are dropped here only if none went to that worker before. */
static void recover_answer(gw_node *n, gw_hreq *const *reqs, size_t nreq, bool ok, const gw_hpos *top,
                           const gw_hentries *e)
{
    uint64_t cap = n->cfg->history_recover_max;
    bool *usable = pulse_xcalloc(nreq + 1, sizeof(*usable));
    for (size_t i = 0; i < nreq; i++) {
        const gw_hreq *r = reqs[i];
        /* since {N, ""}: a subscriber that joined the channel before it had any history
         * (the Centrifugo endpoint: its offsets since came from the epoch now in force) */
        bool from_start = !r->since.epoch[0] && !r->position_only;
        usable[i] = ok && top->epoch[0] && (from_start || strcmp(top->epoch, r->since.epoch) == 0) &&
                    top->offset >= r->since.offset && (cap == 0 || top->offset - r->since.offset <= cap);
    }
    for (int w = 0; w < n->nworkers; w++) {
        uint32_t users = 0;
        size_t nm = 0, posted = 0;
        gw_msg **msgs = NULL;
        for (size_t i = 0; i < nreq; i++)
            users += reqs[i]->worker == w && usable[i];
        if (users && e->n) {
            msgs = pulse_xcalloc(e->n, sizeof(*msgs));
            int64_t now = pulse_mono_ns();
            for (size_t i = 0; i < e->n; i++) {
                gw_hpos p = {e->v[i].offset, ""};
                memcpy(p.epoch, top->epoch, sizeof(p.epoch));
                gw_msg *m = gw_ingest_event(n, reqs[0]->channel, NULL, &p, e->v[i].data, e->v[i].len, now);
                if (!m)
                    continue;
                m->policy = GW_POLICY_NEVER; /* a replay is owed in full: never dropped for a full queue */
                m->refs = users;
                msgs[nm++] = m;
            }
        }
        for (size_t i = 0; i < nreq; i++) {
            const gw_hreq *r = reqs[i];
            if (r->worker != w)
                continue;
            gw_hans *a = gw_hans_new(GW_MAIL_RECOVERED, r->conn_id, r->channel);
            a->ok = ok;
            if (ok)
                a->top = *top;
            if (usable[i] && nm) {
                a->events = pulse_xcalloc(nm, sizeof(*a->events));
                memcpy(a->events, msgs, nm * sizeof(*msgs));
                a->n = nm;
            }
            if (gw_bridge_post(&n->inbox[w], &a->mail, 0) == 0) {
                posted++;
                continue;
            }
            if (posted)
                a->n = 0;
            gw_hans_free(a);
        }
        free(msgs);
    }
    free(usable);
}

/* The history frame for a read (NULL when it cannot be built); *len its length. */
static char *history_frame(gw_node *n, const rd_ctx *x, const gw_hpos *top, const gw_hentries *e, int *len)
{
    bool other_epoch = x->has_since && strcmp(x->since.epoch, top->epoch) != 0;
    size_t ne = other_epoch ? 0 : e->n;
    gw_hentry *v = pulse_xcalloc(ne + 1, sizeof(*v));
    char **owned = pulse_xcalloc(ne + 1, sizeof(*owned));
    size_t k = 0;
    for (size_t i = 0; i < ne; i++) {
        size_t dl = 0;
        const char *d = gw_ingest_json_data(e->v[i].data, e->v[i].len, &dl, &owned[k]);
        if (d)
            v[k++] = (gw_hentry){e->v[i].offset, d, dl};
        else
            free(owned[k]);
    }
    size_t cap = gw_frame_history_cap(strlen(x->channel), v, k);
    char *buf = pulse_xmalloc(cap);
    *len = gw_frame_history(buf, cap, x->channel, top, v, k);
    for (size_t i = 0; i < k; i++)
        free(owned[i]);
    free(owned);
    free(v);
    if (*len < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The Centrifugo endpoint's history reply or error (docs/CENTRIFUGO.md), a control
 * message: a `since` of another epoch, or whose next offset the stream no longer
 * holds, is error 112. */
static gw_msg *history_cf(const rd_ctx *x, bool ok, const gw_hpos *top, const gw_hentries *e)
{
    uint32_t id = x->req->cf_id;
    int code = !ok ? GW_CF_ERR_INTERNAL : 0;
    if (ok && x->has_since && !x->reverse &&
        (strcmp(x->since.epoch, top->epoch) != 0 || x->since.offset > top->offset ||
         (x->since.offset < top->offset && !x->req->position_only &&
          (e->n == 0 || e->v[0].offset != x->since.offset + 1))))
        code = GW_CF_ERR_UNRECOVERABLE_POSITION;
    size_t bytes = 256;
    gw_cf_pub *pubs = pulse_xcalloc(e && ok ? e->n + 1 : 1, sizeof(*pubs));
    char **owned = pulse_xcalloc(e && ok ? e->n + 1 : 1, sizeof(*owned));
    size_t k = 0;
    for (size_t i = 0; !code && i < e->n; i++) {
        size_t dl = 0;
        const char *d = gw_ingest_json_data(e->v[i].data, e->v[i].len, &dl, &owned[k]);
        if (d) {
            pubs[k++] = (gw_cf_pub){d, dl, e->v[i].offset};
            bytes += dl + 40;
        } else {
            free(owned[k]);
        }
    }
    char *buf = pulse_xmalloc(bytes);
    gw_frame_buf f;
    gw_frame_begin(&f, buf, bytes);
    if (code)
        gw_cf_reply_error(&f, id, code, NULL);
    else
        gw_cf_reply_history(&f, id, pubs, k, top->epoch, top->offset);
    int len = gw_frame_end(&f);
    gw_msg *m = gw_msg_new_control(buf, len > 0 ? (size_t)len : 0);
    for (size_t i = 0; i < k; i++)
        free(owned[i]);
    free(owned);
    free(pubs);
    free(buf);
    return m;
}

static void on_http_gone(struct evhttp_connection *conn, void *arg)
{
    rd_ctx *x = arg;
    x->http = NULL;
}

void gw_http_json(struct evhttp_request *req, int code, const char *reason, const char *body, size_t len)
{
    struct evbuffer *out = evbuffer_new();
    if (!out)
        pulse_oom();
    evbuffer_add(out, body, len);
    evbuffer_add(out, "\n", 1);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, code, reason, out);
    evbuffer_free(out);
}

void gw_http_json_error(struct evhttp_request *req, int code, const char *status, const char *why)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "{\"error\":\"%s\",\"reason\":",
                     code == 400   ? "bad_request"
                     : code == 404 ? "not_available"
                     : code == 503 ? "unavailable"
                                   : "error");
    gw_frame_buf f;
    gw_frame_begin(&f, buf + n, sizeof buf - (size_t)n - 2);
    gw_frame_str(&f, why, strlen(why));
    int m = gw_frame_end(&f);
    n += m > 0 ? m : 0;
    buf[n++] = '}';
    gw_http_json(req, code, status, buf, (size_t)n);
}

static void history_done(gw_node *n, rd_ctx *x, bool ok, const gw_hpos *top, const gw_hentries *e,
                         const char *why)
{
    int len = 0;
    if (x->kind == RD_HISTORY && x->req->cf_id) {
        gw_hans *a = gw_hans_new(GW_MAIL_REPLY, x->req->conn_id, x->channel);
        a->frame = history_cf(x, ok, top, e);
        if (gw_bridge_post(&n->inbox[x->req->worker], &a->mail, 0) != 0)
            gw_hans_free(a);
        return;
    }
    char *frame = ok ? history_frame(n, x, top, e, &len) : NULL;
    if (x->kind == RD_HTTP) {
        if (x->http) {
            evhttp_connection_set_closecb(x->conn, NULL, NULL);
            if (frame)
                gw_http_json(x->http, 200, "OK", frame, (size_t)len);
            else
                gw_http_json_error(x->http, 503, "Service Unavailable", why ? why : "history read failed");
        }
    } else {
        gw_hans *a = gw_hans_new(GW_MAIL_REPLY, x->req->conn_id, x->channel);
        char buf[512];
        if (frame) {
            a->frame = gw_msg_new_control(frame, (size_t)len);
        } else {
            int el = gw_frame_error(buf, sizeof buf, "unavailable", why ? why : "history read failed");
            a->frame = gw_msg_new_control(buf, el > 0 ? (size_t)el : 0);
        }
        if (gw_bridge_post(&n->inbox[x->req->worker], &a->mail, 0) != 0)
            gw_hans_free(a);
    }
    free(frame);
}

/* The recoveries that shared x's read: the read serves one when it saw everything the
 * node had passed on when that recovery came (its events after that reach the
 * connection live, held by the worker's merge); a failed read fails them all as it
 * would have each; the others (an event came between the read and them) read again. */
static void recover_done(gw_node *n, rd_ctx *x, bool ok, const gw_hpos *top, const gw_hentries *e)
{
    gw_hreq **reqs = pulse_xcalloc(x->njoined + 1, sizeof(*reqs));
    size_t nreq = 0;
    reqs[nreq++] = x->req;
    for (size_t i = 0; i < x->njoined; i++) {
        gw_hreq *r = x->joined[i].req;
        const gw_hpos *q = &x->joined[i].q;
        if (!ok || !q->epoch[0] || (strcmp(q->epoch, top->epoch) == 0 && top->offset >= q->offset)) {
            x->joined[i].req = NULL;
            reqs[nreq++] = r;
        }
    }
    PLOG_DEBUG("history", "%s: one read for %zu recoveries, %zu read again", x->channel, nreq,
               x->njoined + 1 - nreq);
    recover_answer(n, reqs, nreq, ok, top, e);
    for (size_t i = 1; i < nreq; i++)
        free(reqs[i]);
    free(reqs);
    for (size_t i = 0; i < x->njoined; i++) /* those left read again */
        if (x->joined[i].req)
            gw_history_request(n, x->joined[i].req);
}

static void on_read(void *ud, const struct redisReply *reply, const char *err)
{
    rd_ctx *x = ud;
    gw_node *n = x->n;
    if (x->kind == RD_RECOVER) { /* no later recovery joins it now */
        gw_chan *c = gw_chantab_get(n->chans, x->channel, false);
        if (c && c->hist && ((gw_hchan *)c->hist)->rec == x)
            ((gw_hchan *)c->hist)->rec = NULL;
    }
    gw_hpos top = {0, ""};
    gw_hentries e = {0};
    char why[GW_HIST_ERR_MAX] = "";
    bool ok = false;
    if (reply)
        ok = gw_hist_parse_exec(reply, x->reverse, &top, &e, why, sizeof why) == 0;
    else
        snprintf(why, sizeof why, "%s", err ? err : "no reply");
    if (!ok && x->kind != RD_FIRST)
        PLOG_WARN("history", "%s: stream read failed: %s", x->channel, why);
    switch (x->kind) {
    case RD_REPAIR:
        repair_done(n, x, ok, &top, &e);
        break;
    case RD_FIRST:
        first_done(n, x, ok, &top);
        break;
    case RD_RECOVER:
        recover_done(n, x, ok, &top, &e);
        break;
    case RD_HISTORY:
    case RD_HTTP:
        history_done(n, x, ok, &top, &e, why);
        break;
    }
    gw_hentries_free(&e);
    free(x->joined);
    free(x->req);
    free(x);
}

/* ---- live events and subscriptions ---- */

bool gw_history_live(gw_node *n, gw_chan *c, gw_msg *m)
{
    gw_hchan *h = c->hist;
    if (m->pos.offset == 0) {
        if (h)
            h->raw_seen = true;
        if (!h || !h->track.repairing)
            return false;
        held_push(h, m); /* a raw event keeps its place among the held ones */
        return true;
    }
    h = hchan(c);
    uint64_t from = 0, to = 0;
    switch (gw_htrack_event(&h->track, &m->pos, &from, &to)) {
    case GW_HT_DELIVER:
    case GW_HT_RESET:
        return false;
    case GW_HT_DUP:
        n->events_duplicate++;
        gw_msg_unref(m);
        return true;
    case GW_HT_HOLD:
        held_push(h, m);
        if (h->nheld > HELD_MAX) {
            /* the read never came back: give up on it, what is held goes out with gaps */
            rd_ctx x = {.n = n, .kind = RD_REPAIR, .gen = h->gen};
            snprintf(x.channel, sizeof x.channel, "%s", c->name);
            repair_done(n, &x, false, NULL, NULL);
            h->gen++;
        }
        return true;
    case GW_HT_REPAIR:
        held_push(h, m);
        PLOG_INFO("history", "%s: offsets %llu..%llu missed on the live channel", c->name,
                  (unsigned long long)from, (unsigned long long)to);
        start_repair(n, c, h, from - 1);
        return true;
    }
    return false;
}

bool gw_history_subscribed(gw_node *n, gw_chan *c, bool after_outage)
{
    if (c->is_pattern)
        return false;
    gw_hchan *h = c->hist;
    if (h) {
        gw_mail *w = h->waiting;
        h->waiting = NULL;
        while (w) {
            gw_mail *next = w->next;
            w->next = NULL;
            issue_recover(n, c, (gw_hreq *)w);
            w = next;
        }
    }
    bool handled = false;
    if (after_outage && h) {
        if (!h->track.pos.epoch[0] && h->floor.epoch[0])
            h->track.pos = h->floor;
        uint64_t from = 0;
        /* Raw publishes on the channel cannot be read back: their clients still get
         * the blanket gap notice (so does a channel the node saw nothing on). */
        if (gw_htrack_reconnect(&h->track, &from)) {
            start_repair(n, c, h, from - 1);
            handled = !h->raw_seen;
        } else if (gw_config_history_for(n->cfg, c->name)->history_size > 0) {
            /* a channel with history that had none yet: whatever was published with
             * history while the node was away is the start of a new one */
            h->track.repairing = true;
            start_repair(n, c, h, 0);
        }
    }
    if (gw_config_history_for(n->cfg, c->name)->history_size > 0 && !(h && h->first_read)) {
        h = hchan(c);
        h->first_read = true;
        rd_ctx *x = ctx_new(n, RD_FIRST, c->name);
        issue(x, false, 0, 1, true);
    }
    return handled;
}

void gw_history_request(gw_node *n, gw_hreq *r)
{
    if (r->mail.kind == GW_MAIL_RECOVER) {
        gw_chan *c = gw_chantab_get(n->chans, r->channel, false);
        if (c && c->state == GW_RS_SUBSCRIBED) {
            issue_recover(n, c, r);
        } else if (c) {
            gw_hchan *h = hchan(c);
            r->mail.next = h->waiting;
            h->waiting = &r->mail;
        } else {
            recover_answer(n, &r, 1, false, NULL, NULL);
            free(r);
        }
        return;
    }
    n->history_reads++;
    rd_ctx *x = ctx_new(n, RD_HISTORY, r->channel);
    x->req = r;
    x->has_since = r->has_since;
    x->since = r->since;
    x->reverse = r->reverse;
    uint32_t max = (uint32_t)n->cfg->history_read_max;
    issue(x, r->has_since, r->since.offset, r->position_only ? 0 : r->limit && r->limit < max ? r->limit : max,
          r->reverse);
}

/* ---- GET /history ---- */

void gw_history_http(gw_node *n, struct evhttp_request *req)
{
    struct evkeyvalq q;
    memset(&q, 0, sizeof q);
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *query = u ? evhttp_uri_get_query(u) : NULL;
    if (!query || evhttp_parse_query_str(query, &q) != 0) {
        gw_http_json_error(req, 400, "Bad Request", "expected ?channel=C&limit=N");
        return;
    }
    const char *ch = evhttp_find_header(&q, "channel");
    const char *lim = evhttp_find_header(&q, "limit");
    const char *since = evhttp_find_header(&q, "since");
    const char *rev = evhttp_find_header(&q, "reverse");
    uint64_t limit = (uint64_t)n->cfg->history_read_max;
    const char *why = NULL;
    gw_hpos sp = {0, ""};
    if (!ch || pulse_channel_validate(ch, strlen(ch)) != 0)
        why = "?channel= must be a channel name: 1-128 bytes of [A-Za-z0-9._:@-]";
    else if (lim && (pulse_parse_u64(lim, (uint64_t)n->cfg->history_read_max, &limit) != 0 || limit == 0))
        why = "?limit= must be an integer from 1 to limits.history_read_max";
    else if (rev && strcmp(rev, "1") != 0 && strcmp(rev, "true") != 0 && strcmp(rev, "0") != 0 &&
             strcmp(rev, "false") != 0)
        why = "?reverse= must be 1, true, 0 or false";
    if (!why && since) {
        const char *colon = strchr(since, ':');
        char num[24];
        size_t nl = colon ? (size_t)(colon - since) : 0;
        if (!colon || nl == 0 || nl >= sizeof num ||
            (memcpy(num, since, nl), num[nl] = '\0', pulse_parse_u64(num, INT64_MAX, &sp.offset) != 0) ||
            gw_hpos_set_epoch(&sp, colon + 1, strlen(colon + 1)) != 0)
            why = "?since= must be OFFSET:EPOCH";
    }
    if (why) {
        evhttp_clear_headers(&q);
        gw_http_json_error(req, 400, "Bad Request", why);
        return;
    }
    n->history_reads++;
    rd_ctx *x = ctx_new(n, RD_HTTP, ch);
    x->http = req;
    x->conn = evhttp_request_get_connection(req);
    x->has_since = since != NULL;
    x->since = sp;
    x->reverse = rev && (strcmp(rev, "1") == 0 || strcmp(rev, "true") == 0);
    evhttp_clear_headers(&q);
    evhttp_connection_set_closecb(x->conn, on_http_gone, x);
    issue(x, x->has_since, sp.offset, (uint32_t)limit, x->reverse);
}
