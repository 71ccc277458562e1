/*
 * gw_redis.c - Redis connections with reconnect and watchdog; see gw_redis.h.
 *
 * hiredis 0.14 notes that shape this file:
 *  - a context that fails to connect or disconnects is freed by hiredis right after
 *    our callback returns; we only forget the pointer.
 *  - redisAsyncFree() on a context that never finished connecting does not call the
 *    disconnect callback, so the watchdog path handles the loss itself.
 *  - in subscribe mode each channel's callback also receives its (un)subscribe reply,
 *    and runs with a NULL reply when the context is freed.
 */
#include "gw_redis.h"
#include "gw_rcluster.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pulse_alloc.h"
#include "pulse_channel.h"
#include "pulse_clock.h"
#include "pulse_err.h"
#include "pulse_functions.h"
#include "pulse_log.h"

typedef enum { RC_DOWN = 0, RC_CONNECTING, RC_UP } rc_state;

typedef struct {
    gw_redis *owner;
    const char *name; /* "subscriber" / "command" */
    redisAsyncContext *ac;
    rc_state state;
    bool freeing;      /* we are freeing ac ourselves: ignore its disconnect callback */
    bool ever_up;
    int backoff_ms;
    struct event *retry_ev;
    char err[128];
} rconn;

struct gw_redis {
    struct event_base *base;
    const gw_config *cfg;
    gw_redis_cbs cbs;
    void *ud;
    rconn sub, cmd;
    bool stopped;
    bool verified;        /* a PING was answered since the command connection came up */
    bool ping_outstanding;
    int64_t ping_sent_ms;
    struct event *watchdog_ev;
    uint64_t reconnects;
    char reason[192];
    char errstr[128];     /* why the last call here failed (gw_redis_errstr) */
    gw_read_queue pending; /* reads waiting for the command connection */
    char *library;        /* FUNCTION LOAD REPLACE text, NULL: none */
    char *library_version;
    bool library_loaded;  /* on the current command connection */
    gw_rcluster *cl;      /* Redis Cluster: every call goes there */
};

static void rconn_connect(rconn *rc);
static void flush_pending(gw_redis *r, bool send);

static void schedule_retry(rconn *rc)
{
    gw_redis *r = rc->owner;
    if (r->stopped)
        return;
    struct timeval tv = {rc->backoff_ms / 1000, (rc->backoff_ms % 1000) * 1000};
    evtimer_add(rc->retry_ev, &tv);
    rc->backoff_ms *= 2;
    if (rc->backoff_ms > r->cfg->redis_backoff_max_ms)
        rc->backoff_ms = r->cfg->redis_backoff_max_ms;
}

/* The connection is gone (failed, dropped, or freed by us). */
static void rconn_lost(rconn *rc, const char *why)
{
    gw_redis *r = rc->owner;
    bool was_up = rc->state == RC_UP;
    rc->ac = NULL;
    rc->state = RC_DOWN;
    snprintf(rc->err, sizeof(rc->err), "%s", why);
    if (was_up)
        PLOG_WARN("redis", "%s connection to %s:%d lost: %s", rc->name, r->cfg->redis_host,
                  r->cfg->redis_port, why);
    else
        PLOG_DEBUG("redis", "%s connection to %s:%d failed: %s", rc->name, r->cfg->redis_host,
                   r->cfg->redis_port, why);
    if (rc == &r->cmd) {
        r->verified = false;
        r->ping_outstanding = false;
        r->library_loaded = false;
    }
    if (rc == &r->sub && was_up && r->cbs.on_sub_state)
        r->cbs.on_sub_state(r->ud, false);
    schedule_retry(rc);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    rconn *rc = ac->data;
    if (!rc || rc->freeing)
        return;
    rconn_lost(rc, status == REDIS_OK ? "closed" : (ac->errstr[0] ? ac->errstr : "error"));
}

/* A channel name from a (p)message: a name holding a NUL byte is never valid and
 * would read as a shorter one, so it is handed on as "" (which the ingest refuses). */
static const char *ch_name(const redisReply *ch)
{
    return strlen(ch->str) == ch->len ? ch->str : "";
}

static void on_sub_reply(redisAsyncContext *ac, void *reply_, void *privdata);

static void on_ping_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    rconn *rc = ac->data;
    redisReply *reply = reply_;
    if (!rc || !reply)
        return;
    gw_redis *r = rc->owner;
    r->ping_outstanding = false;
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(r->reason, sizeof(r->reason), "PING failed: %s", reply->str);
        if (r->verified)
            PLOG_WARN("redis", "PING failed: %s", reply->str);
        r->verified = false;
        return;
    }
    if (!r->verified) {
        r->verified = true;
        if (gw_redis_healthy(r, NULL))
            PLOG_INFO("redis", "connected to %s:%d", r->cfg->redis_host, r->cfg->redis_port);
        flush_pending(r, true);
    }
}

static void send_ping(gw_redis *r)
{
    if (r->cmd.state != RC_UP || r->ping_outstanding)
        return;
    if (redisAsyncCommand(r->cmd.ac, on_ping_reply, NULL, "PING") == REDIS_OK) {
        r->ping_outstanding = true;
        r->ping_sent_ms = pulse_mono_ms();
    }
}

static void on_auth_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    redisReply *reply = reply_;
    rconn *rc = ac->data;
    if (reply && reply->type == REDIS_REPLY_ERROR && rc)
        PLOG_ERR("redis", "%s connection: AUTH failed: %s", rc->name, reply->str);
}

static void on_library_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    redisReply *reply = reply_;
    rconn *rc = ac->data;
    if (!reply || !rc || rc->freeing)
        return;
    gw_redis *r = rc->owner;
    if (reply->type == REDIS_REPLY_ERROR) {
        PLOG_ERR("redis", "FUNCTION LOAD of the history library failed: %s (publishes with history fail "
                          "until it loads)", reply->str);
        return;
    }
    r->library_loaded = true;
    PLOG_INFO("redis", "function library pulse %s loaded", r->library_version ? r->library_version : "");
}

/* First on every new command connection: whatever follows on it sees the library. */
static void load_library(gw_redis *r)
{
    if (!r->library)
        return;
    redisAsyncCommand(r->cmd.ac, on_library_reply, NULL, "FUNCTION LOAD REPLACE %s", r->library);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    rconn *rc = ac->data;
    if (!rc)
        return;
    gw_redis *r = rc->owner;
    if (status != REDIS_OK) {
        rconn_lost(rc, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    rc->state = RC_UP;
    rc->backoff_ms = 50;
    if (rc->ever_up && rc == &r->sub)
        r->reconnects++; /* the subscriber connection is the one deliveries depend on */
    rc->ever_up = true;
    redisEnableKeepAlive((redisContext *)&ac->c);
    PLOG_DEBUG("redis", "%s connection up", rc->name);
    if (rc == &r->cmd) {
        load_library(r);
        send_ping(r);
    } else if (r->cbs.on_sub_state) {
        r->cbs.on_sub_state(r->ud, true);
        if (r->verified)
            PLOG_INFO("redis", "connected to %s:%d", r->cfg->redis_host, r->cfg->redis_port);
    }
}

static void rconn_connect(rconn *rc)
{
    gw_redis *r = rc->owner;
    if (r->stopped || rc->ac)
        return;
    redisAsyncContext *ac = redisAsyncConnect(r->cfg->redis_host, r->cfg->redis_port);
    if (!ac) {
        rconn_lost(rc, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof(why), "%s", ac->errstr);
        redisAsyncFree(ac);
        rconn_lost(rc, why);
        return;
    }
    ac->data = rc;
    rc->ac = ac;
    rc->state = RC_CONNECTING;
    redisLibeventAttach(ac, r->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (r->cfg->redis_password && r->cfg->redis_password[0])
        redisAsyncCommand(ac, on_auth_reply, NULL, "AUTH %s", r->cfg->redis_password);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    rconn_connect(arg);
}

/* Frees a context ourselves (watchdog, stop) and reports the loss. */
static void rconn_drop(rconn *rc, const char *why, bool retry)
{
    if (rc->ac) {
        redisAsyncContext *ac = rc->ac;
        rc->freeing = true;
        redisAsyncFree(ac);
        rc->freeing = false;
    }
    if (retry) {
        rconn_lost(rc, why);
    } else {
        rc->ac = NULL;
        rc->state = RC_DOWN;
    }
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    gw_redis *r = arg;
    if (r->cmd.state != RC_UP)
        return;
    if (r->ping_outstanding) {
        int64_t waited = pulse_mono_ms() - r->ping_sent_ms;
        if (waited >= r->cfg->redis_ping_timeout_ms) {
            char why[96];
            snprintf(why, sizeof(why), "no PONG for %lld ms (Redis stalled)", (long long)waited);
            PLOG_WARN("redis", "%s: dropping both connections", why);
            rconn_drop(&r->cmd, why, true);
            rconn_drop(&r->sub, why, true);
            /* the first retry of a stalled server should not wait out a long backoff */
        }
        return;
    }
    send_ping(r);
}

gw_redis *gw_redis_new(struct event_base *base, const gw_config *cfg, const gw_redis_cbs *cbs, void *ud)
{
    gw_redis *r = pulse_xcalloc(1, sizeof(*r));
    r->base = base;
    r->cfg = cfg;
    r->cbs = *cbs;
    r->ud = ud;
    rconn *both[2] = {&r->sub, &r->cmd};
    for (int i = 0; i < 2; i++) {
        both[i]->owner = r;
        both[i]->name = i == 0 ? "subscriber" : "command";
        both[i]->backoff_ms = 50;
        both[i]->retry_ev = evtimer_new(base, on_retry, both[i]);
        snprintf(both[i]->err, sizeof(both[i]->err), "not connected yet");
    }
    r->watchdog_ev = event_new(base, -1, EV_PERSIST, on_watchdog, r);
    if (cfg->redis_cluster)
        r->cl = gw_rcluster_new(base, cfg, cbs, ud);
    return r;
}

void gw_redis_start(gw_redis *r)
{
    if (r->cl) {
        gw_rcluster_start(r->cl);
        return;
    }
    int ms = r->cfg->redis_ping_interval_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(r->watchdog_ev, &tv);
    rconn_connect(&r->cmd);
    rconn_connect(&r->sub);
}

void gw_redis_stop(gw_redis *r)
{
    if (r && r->cl)
        gw_rcluster_stop(r->cl);
    if (!r || r->stopped)
        return;
    r->stopped = true;
    event_del(r->watchdog_ev);
    evtimer_del(r->sub.retry_ev);
    evtimer_del(r->cmd.retry_ev);
    rconn_drop(&r->sub, "stopped", false);
    rconn_drop(&r->cmd, "stopped", false);
    flush_pending(r, false);
}

void gw_redis_free(gw_redis *r)
{
    if (!r)
        return;
    gw_redis_stop(r);
    gw_rcluster_free(r->cl);
    event_free(r->sub.retry_ev);
    event_free(r->cmd.retry_ev);
    event_free(r->watchdog_ev);
    free(r->library);
    free(r->library_version);
    free(r);
}

void gw_redis_set_library(gw_redis *r, const char *src, const char *version)
{
    if (r->cl)
        gw_rcluster_set_library(r->cl, src, version);
    free(r->library);
    free(r->library_version);
    r->library = src ? pulse_xstrdup(src) : NULL;
    r->library_version = version ? pulse_xstrdup(version) : NULL;
}

bool gw_redis_library_loaded(const gw_redis *r)
{
    if (r->cl)
        return gw_rcluster_library_loaded(r->cl);
    return r->library_loaded;
}

static void on_sub_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    redisReply *reply = reply_;
    rconn *rc = ac->data;
    if (!reply || !rc || rc->freeing)
        return; /* context going away */
    gw_redis *r = rc->owner;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = reply->element[0]->str;
    if (strcmp(kind, "message") == 0) {
        redisReply *ch = reply->element[1], *pl = reply->element[2];
        if (ch->type == REDIS_REPLY_STRING && pl->type == REDIS_REPLY_STRING)
            r->cbs.on_message(r->ud, ch_name(ch), NULL, pl->str, pl->len);
    } else if (strcmp(kind, "pmessage") == 0 && reply->elements >= 4) {
        redisReply *pat = reply->element[1], *ch = reply->element[2], *pl = reply->element[3];
        if (pat->type == REDIS_REPLY_STRING && ch->type == REDIS_REPLY_STRING &&
            pl->type == REDIS_REPLY_STRING)
            r->cbs.on_message(r->ud, ch_name(ch), pat->str, pl->str, pl->len);
    } else if (reply->element[1]->type == REDIS_REPLY_STRING) {
        const char *name = reply->element[1]->str;
        if (strcmp(kind, "subscribe") == 0)
            r->cbs.on_subscribed(r->ud, name, false);
        else if (strcmp(kind, "psubscribe") == 0)
            r->cbs.on_subscribed(r->ud, name, true);
        else if (strcmp(kind, "unsubscribe") == 0)
            r->cbs.on_unsubscribed(r->ud, name, false);
        else if (strcmp(kind, "punsubscribe") == 0)
            r->cbs.on_unsubscribed(r->ud, name, true);
    }
}

/* Fills r->errstr and returns code: the one way a call here fails. */
static int redis_fail(gw_redis *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int redis_fail(gw_redis *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errstr, sizeof r->errstr, fmt, ap);
    va_end(ap);
    return code;
}

/* A connection is not there to send on: PULSE_ESHUTDOWN after gw_redis_stop, else
 * PULSE_ENOTCONN. */
static int not_up(gw_redis *r, const char *which)
{
    if (r->stopped)
        return redis_fail(r, PULSE_ESHUTDOWN, "stopped");
    return redis_fail(r, PULSE_ENOTCONN, "%s connection not ready", which);
}

/* hiredis refused a command (its context is failing or being torn down). */
static int refused(gw_redis *r, const redisAsyncContext *ac)
{
    return redis_fail(r, PULSE_EIO, "hiredis refused the command: %s",
                      ac->err ? ac->errstr : "connection closing");
}

/* gw_rcluster answers 0 or -1; a refusal there is told in this module's terms (it
 * refuses when the slot's primary is unknown or down, or a pattern is asked for). */
static int cluster_rc(gw_redis *r, int rc, const char *what)
{
    if (rc == 0)
        return 0;
    if (r->stopped)
        return redis_fail(r, PULSE_ESHUTDOWN, "stopped");
    return redis_fail(r, PULSE_ENOTCONN, "Redis Cluster: %s refused (no primary up for the slot, or a pattern)",
                      what);
}

const char *gw_redis_errstr(const gw_redis *r)
{
    return r->errstr;
}

int gw_redis_subscribe(gw_redis *r, const char *name, bool is_pattern)
{
    if (r->cl)
        return cluster_rc(r, gw_rcluster_subscribe(r->cl, name, is_pattern), "subscribe");
    if (r->sub.state != RC_UP)
        return not_up(r, "subscriber");
    int rc = redisAsyncCommand(r->sub.ac, on_sub_reply, NULL, is_pattern ? "PSUBSCRIBE %s" : "SUBSCRIBE %s",
                               name);
    return rc == REDIS_OK ? 0 : refused(r, r->sub.ac);
}

int gw_redis_unsubscribe(gw_redis *r, const char *name, bool is_pattern)
{
    if (r->cl)
        return cluster_rc(r, gw_rcluster_unsubscribe(r->cl, name, is_pattern), "unsubscribe");
    if (r->sub.state != RC_UP)
        return not_up(r, "subscriber");
    int rc = redisAsyncCommand(r->sub.ac, NULL, NULL, is_pattern ? "PUNSUBSCRIBE %s" : "UNSUBSCRIBE %s", name);
    return rc == REDIS_OK ? 0 : refused(r, r->sub.ac);
}

typedef struct {
    gw_publish_cb cb;
    void *ud;
} pub_ctx;

static void on_publish_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    redisReply *reply = reply_;
    pub_ctx *pc = privdata;
    if (!reply)
        pc->cb(pc->ud, -1, "Redis connection lost");
    else if (reply->type == REDIS_REPLY_INTEGER)
        pc->cb(pc->ud, reply->integer, NULL);
    else
        pc->cb(pc->ud, -1, reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    free(pc);
}

int gw_redis_publish(gw_redis *r, const char *channel, const char *payload, size_t len, gw_publish_cb cb,
                     void *ud)
{
    if (r->cl)
        return cluster_rc(r, gw_rcluster_publish(r->cl, channel, payload, len, cb, ud), "publish");
    if (r->cmd.state != RC_UP || !r->verified)
        return not_up(r, "command");
    pub_ctx *pc = pulse_xmalloc(sizeof(*pc));
    pc->cb = cb;
    pc->ud = ud;
    int rc = r->library ? redisAsyncCommand(r->cmd.ac, on_publish_reply, pc, "FCALL " PULSE_FN_PUBLISH " 1 %s %b",
                                            channel, payload, len)
                        : redisAsyncCommand(r->cmd.ac, on_publish_reply, pc, "PUBLISH %s %b", channel, payload, len);
    if (rc != REDIS_OK) {
        free(pc);
        return refused(r, r->cmd.ac);
    }
    return 0;
}

typedef struct {
    gw_reply_cb cb;
    void *ud;
} read_ctx;

struct gw_read_wait {
    gw_read_wait *next;
    bool has_after, reverse;
    uint64_t after;
    uint32_t count;
    gw_reply_cb cb;
    void *ud;
    char channel[PULSE_CHANNEL_MAX + 1];
};

void gw_read_queue_push(gw_read_queue *q, const char *channel, bool has_after, uint64_t after, uint32_t count,
                        bool reverse, gw_reply_cb cb, void *ud)
{
    gw_read_wait *p = pulse_xcalloc(1, sizeof(*p));
    *p = (gw_read_wait){NULL, has_after, reverse, after, count, cb, ud, ""};
    snprintf(p->channel, sizeof p->channel, "%s", channel);
    if (q->tail)
        q->tail->next = p;
    else
        q->head = p;
    q->tail = p;
}

void gw_read_queue_flush(gw_read_queue *q, gw_read_send send, void *ctx, const char *err)
{
    gw_read_wait *p = q->head;
    q->head = q->tail = NULL;
    while (p) {
        gw_read_wait *next = p->next;
        if (!send || send(ctx, p->channel, p->has_after, p->after, p->count, p->reverse, p->cb, p->ud) != 0)
            p->cb(p->ud, NULL, err);
        free(p);
        p = next;
    }
}

static void on_read_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    read_ctx *rc = privdata;
    rc->cb(rc->ud, reply_, reply_ ? NULL : "Redis connection lost");
    free(rc);
}

static int send_read(gw_redis *r, const char *channel, bool has_after, uint64_t after, uint32_t count,
                     bool reverse, gw_reply_cb cb, void *ud);

static int send_read_ctx(void *r, const char *channel, bool has_after, uint64_t after, uint32_t count,
                         bool reverse, gw_reply_cb cb, void *ud)
{
    return send_read(r, channel, has_after, after, count, reverse, cb, ud);
}

/* The command connection answered its first PING (send = true: send what waited), or
 * the node stops (send = false: every callback runs with no reply). */
static void flush_pending(gw_redis *r, bool send)
{
    gw_read_queue_flush(&r->pending, send ? send_read_ctx : NULL, r, "Redis connection lost");
}

int gw_redis_history_read(gw_redis *r, const char *channel, bool has_after, uint64_t after, uint32_t count,
                          bool reverse, bool wait, gw_reply_cb cb, void *ud)
{
    if (r->cl)
        return cluster_rc(r, gw_rcluster_history_read(r->cl, channel, has_after, after, count, reverse, wait, cb, ud),
                          "history read");
    if (r->stopped)
        return not_up(r, "command");
    if (strlen(channel) > PULSE_CHANNEL_MAX)
        return redis_fail(r, PULSE_EINVAL, "channel name longer than %d bytes", PULSE_CHANNEL_MAX);
    if ((r->cmd.state != RC_UP || !r->verified) && wait) {
        gw_read_queue_push(&r->pending, channel, has_after, after, count, reverse, cb, ud);
        return 0;
    }
    return send_read(r, channel, has_after, after, count, reverse, cb, ud);
}

static int send_read(gw_redis *r, const char *channel, bool has_after, uint64_t after, uint32_t count,
                     bool reverse, gw_reply_cb cb, void *ud)
{
    if (r->cmd.state != RC_UP || !r->verified)
        return not_up(r, "command");
    char key[PULSE_CHANNEL_MAX + 32];
    if (pulse_history_key(channel, "stream", key, sizeof key) < 0)
        return redis_fail(r, PULSE_EINVAL, "no history key for channel %.64s", channel);
    int rc = gw_redis_read_on(r->cmd.ac, channel, has_after, after, count, reverse, cb, ud);
    return rc == 0 ? 0 : refused(r, r->cmd.ac);
}

int gw_redis_read_on(struct redisAsyncContext *ac, const char *channel, bool has_after, uint64_t after,
                     uint32_t count, bool reverse, gw_reply_cb cb, void *ud)
{
    char key[PULSE_CHANNEL_MAX + 32], from[32];
    if (pulse_history_key(channel, "stream", key, sizeof key) < 0)
        return PULSE_EINVAL;
    if (has_after)
        snprintf(from, sizeof from, "%llu-0", (unsigned long long)after + 1);
    else
        snprintf(from, sizeof from, "-");
    read_ctx *rc = pulse_xmalloc(sizeof(*rc));
    rc->cb = cb;
    rc->ud = ud;
    /* one transaction: the position and the range are read at the same instant */
    redisAsyncCommand(ac, NULL, NULL, "MULTI");
    redisAsyncCommand(ac, NULL, NULL, "FCALL_RO " PULSE_FN_POSITION " 1 %s", channel);
    if (reverse)
        redisAsyncCommand(ac, NULL, NULL, "XREVRANGE %s + %s COUNT %u", key, from, (unsigned)count);
    else
        redisAsyncCommand(ac, NULL, NULL, "XRANGE %s %s + COUNT %u", key, from, (unsigned)count);
    if (redisAsyncCommand(ac, on_read_reply, rc, "EXEC") != REDIS_OK) {
        free(rc);
        return PULSE_EIO;
    }
    return 0;
}

int gw_redis_command(gw_redis *r, int argc, const char **argv, const size_t *argvlen, gw_reply_cb cb, void *ud)
{
    if (r->cl)
        return cluster_rc(r, gw_rcluster_command(r->cl, argc, argv, argvlen, cb, ud), "command");
    if (r->stopped || r->cmd.state != RC_UP || !r->verified)
        return not_up(r, "command");
    read_ctx *rc = pulse_xmalloc(sizeof(*rc));
    rc->cb = cb;
    rc->ud = ud;
    if (redisAsyncCommandArgv(r->cmd.ac, on_read_reply, rc, argc, argv, argvlen) != REDIS_OK) {
        free(rc);
        return refused(r, r->cmd.ac);
    }
    return 0;
}

bool gw_redis_healthy(const gw_redis *r, const char **reason)
{
    if (r->cl)
        return gw_rcluster_healthy(r->cl, reason);
    gw_redis *m = (gw_redis *)r;
    int64_t waited = r->ping_outstanding ? pulse_mono_ms() - r->ping_sent_ms : 0;
    bool slow = waited > r->cfg->redis_ping_interval_ms;
    if (r->cmd.state == RC_UP && r->verified && r->sub.state == RC_UP && !slow)
        return true;
    if (reason) {
        if (r->stopped)
            snprintf(m->reason, sizeof(m->reason), "shutting down");
        else if (slow && r->cmd.state == RC_UP)
            snprintf(m->reason, sizeof(m->reason), "redis %s:%d not answering PING for %lld ms",
                     r->cfg->redis_host, r->cfg->redis_port, (long long)waited);
        else if (r->cmd.state == RC_UP && !r->verified && r->ping_outstanding)
            snprintf(m->reason, sizeof(m->reason), "connected to %s:%d, waiting for PONG",
                     r->cfg->redis_host, r->cfg->redis_port);
        else if (r->cmd.state != RC_UP)
            snprintf(m->reason, sizeof(m->reason), "redis %s:%d unreachable: %s", r->cfg->redis_host,
                     r->cfg->redis_port, r->cmd.err);
        else
            snprintf(m->reason, sizeof(m->reason), "redis subscriber connection down: %s", r->sub.err);
        *reason = m->reason;
    }
    return false;
}

bool gw_redis_sub_up(const gw_redis *r)
{
    if (r->cl)
        return gw_rcluster_sub_up(r->cl);
    return r->sub.state == RC_UP;
}

uint64_t gw_redis_reconnects(const gw_redis *r)
{
    if (r->cl)
        return gw_rcluster_reconnects(r->cl);
    return r->reconnects;
}

const char *gw_redis_detail(const gw_redis *r)
{
    return r->cl ? gw_rcluster_detail(r->cl) : NULL;
}

bool gw_redis_is_cluster(const gw_redis *r)
{
    return r->cl != NULL;
}

void gw_redis_metrics(const gw_redis *r, struct evbuffer *o)
{
    if (r->cl)
        gw_rcluster_metrics(r->cl, o);
}
