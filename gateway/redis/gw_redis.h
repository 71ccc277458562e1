/*
 * gw_redis.h - the gateway's two Redis connections (async hiredis on libevent):
 * a subscriber connection (SUBSCRIBE/PSUBSCRIBE and the messages) and a command
 * connection (the function library, publishes, history reads, and the PING watchdog).
 *
 * Each connection runs a small state machine: DOWN -> CONNECTING -> UP -> DOWN, with
 * capped exponential backoff between attempts. hiredis 0.14 has no timeouts, so a
 * watchdog PINGs over the command connection; no PONG within redis_ping_timeout_ms
 * declares Redis stalled and both connections are dropped and re-established.
 * Health = the command connection has answered a PING since it connected, and the
 * subscriber connection is up.
 *
 * With redis+cluster:// every function here is forwarded to gw_rcluster (sharded pub/sub
 * over Redis Cluster), which keeps this contract.
 *
 * Runs on the ingest thread only: every function here and every callback it makes.
 * Channel bookkeeping is the caller's: this module only forwards (un)subscriptions and
 * reports their replies; after the subscriber connection comes back the caller
 * resubscribes (on_sub_state(up=true)).
 *
 * Errors (docs/DESIGN.md "Errors"), hiredis-style: a call that cannot send returns a
 * negative PULSE_E* code and leaves one line in gw_redis_errstr:
 *   PULSE_ENOTCONN   the connection it needs is not up, or (command connection) has
 *                    not answered its first PING yet
 *   PULSE_ESHUTDOWN  gw_redis_stop ran
 *   PULSE_EINVAL     a bad argument (a channel name too long for a history key)
 *   PULSE_EIO        hiredis refused the command (its context is failing)
 * When a call fails its callback never runs; when it returns 0 the callback runs
 * exactly once, later.
 */
#ifndef GW_REDIS_H
#define GW_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_config.h"

struct event_base;
struct redisReply;
typedef struct gw_redis gw_redis;

typedef struct {
    /* A message; pattern is NULL unless it came through PSUBSCRIBE. Strings borrowed
     * for the call only. */
    void (*on_message)(void *ud, const char *channel, const char *pattern, const char *payload,
                       size_t len);
    /* Redis confirmed a (P)SUBSCRIBE / (P)UNSUBSCRIBE. */
    void (*on_subscribed)(void *ud, const char *name, bool is_pattern);
    void (*on_unsubscribed)(void *ud, const char *name, bool is_pattern);
    /* The subscriber connection came up (resubscribe everything now) or went down
     * (every subscription is gone). */
    void (*on_sub_state)(void *ud, bool up);
    /* Redis Cluster only: name's subscription was lost (its shard's primary went down,
     * or its slot moved) while the rest stay; the module subscribes it again and
     * confirms with on_subscribed. */
    void (*on_lost)(void *ud, const char *name, bool is_pattern);
} gw_redis_cbs;

gw_redis *gw_redis_new(struct event_base *base, const gw_config *cfg, const gw_redis_cbs *cbs, void *ud);
/* Starts connecting (both connections); failures are retried for ever. */
void gw_redis_start(gw_redis *r);
/* Drops both connections and stops retrying (shutdown). Pending publish callbacks run
 * with an error. */
void gw_redis_stop(gw_redis *r);
void gw_redis_free(gw_redis *r); /* NULL is fine */

/* Why the last failed call here failed: one line, owned by r, valid until the next
 * call (ingest thread). */
const char *gw_redis_errstr(const gw_redis *r);

/* Send (P)SUBSCRIBE / (P)UNSUBSCRIBE for one name. 0, or a PULSE_E* code (nothing
 * sent): PULSE_ENOTCONN when the subscriber connection is not up. */
int gw_redis_subscribe(gw_redis *r, const char *name, bool is_pattern);
int gw_redis_unsubscribe(gw_redis *r, const char *name, bool is_pattern);

/* The function library (libpulse/pulse_functions.h) this node loads with FUNCTION LOAD
 * REPLACE each time the command connection comes up, before any other command on it.
 * src is copied; call before gw_redis_start. NULL: none (publishes stay plain PUBLISH). */
void gw_redis_set_library(gw_redis *r, const char *src, const char *version);
/* true once Redis accepted the library on the current command connection. */
bool gw_redis_library_loaded(const gw_redis *r);

/* Publishes over the command connection: `FCALL pulse_publish 1 channel payload` when a
 * library is set (the rules decide about history), else PUBLISH. cb runs exactly once,
 * later: the result (the offset, 0 without history; PUBLISH: receivers) >= 0 on
 * success, or -1 with err set. Returns a PULSE_E* code (cb never runs) when the command
 * connection is not up (PULSE_ENOTCONN) or the command cannot be sent. */
typedef void (*gw_publish_cb)(void *ud, long long result, const char *err);
int gw_redis_publish(gw_redis *r, const char *channel, const char *payload, size_t len, gw_publish_cb cb,
                     void *ud);

/* A history read over the command connection, as one transaction:
 *   MULTI; FCALL_RO pulse_position 1 C; XRANGE pulse:{C}:stream <after+1>-0 + COUNT n; EXEC
 * (reverse: XREVRANGE pulse:{C}:stream + <after+1>-0 COUNT n; has_after false: from the
 * first / newest entry). cb runs exactly once, later, with the EXEC reply (borrowed for
 * the call; gw_hist_parse_exec reads it) or NULL and err when the connection went away.
 * When the command connection is not up: wait true keeps the read until it is (or
 * the node stops: cb with NULL), wait false returns PULSE_ENOTCONN (cb never runs).
 * PULSE_EINVAL for a channel name longer than PULSE_CHANNEL_MAX, PULSE_ESHUTDOWN
 * after gw_redis_stop. */
typedef void (*gw_reply_cb)(void *ud, const struct redisReply *reply, const char *err);
int gw_redis_history_read(gw_redis *r, const char *channel, bool has_after, uint64_t after, uint32_t count,
                          bool reverse, bool wait, gw_reply_cb cb, void *ud);

/* The same read sent on ac (gw_rcluster sends it to the channel's primary). 0, or
 * PULSE_EINVAL (no history key for the name) or PULSE_EIO (hiredis refused the
 * command); cb never runs then. */
struct redisAsyncContext;
int gw_redis_read_on(struct redisAsyncContext *ac, const char *channel, bool has_after, uint64_t after,
                     uint32_t count, bool reverse, gw_reply_cb cb, void *ud);

/* History reads waiting for a connection (gw_redis: its command connection's first
 * PING; gw_rcluster: a slot map), in arrival order. */
typedef struct gw_read_wait gw_read_wait;
typedef struct {
    gw_read_wait *head, *tail;
} gw_read_queue;
typedef int (*gw_read_send)(void *ctx, const char *channel, bool has_after, uint64_t after, uint32_t count,
                            bool reverse, gw_reply_cb cb, void *ud);
void gw_read_queue_push(gw_read_queue *q, const char *channel, bool has_after, uint64_t after, uint32_t count,
                        bool reverse, gw_reply_cb cb, void *ud);
/* Empties q: each read goes to send(ctx, ...); with send NULL, or where send answers
 * non-zero, its cb runs at once with no reply and err. */
void gw_read_queue_flush(gw_read_queue *q, gw_read_send send, void *ctx, const char *err);

/* Any command, argv style, over the command connection (the presence functions): cb
 * runs exactly once, later, with the reply (borrowed for the call) or NULL and err when
 * the connection went away. Returns a PULSE_E* code (cb never runs) when the command
 * connection is not up (PULSE_ENOTCONN) or the command cannot be sent. */
int gw_redis_command(gw_redis *r, int argc, const char **argv, const size_t *argvlen, gw_reply_cb cb, void *ud);

/* true when healthy; otherwise *reason says why ("connecting to 127.0.0.1:6379",
 * "no PONG for 3000 ms", ...). reason may be NULL. */
bool gw_redis_healthy(const gw_redis *r, const char **reason);
bool gw_redis_sub_up(const gw_redis *r);
/* Redis Cluster: one line on the shards (gw_rcluster_detail); NULL with one Redis. */
const char *gw_redis_detail(const gw_redis *r);
/* Redis Cluster: appends its Prometheus lines (pulse_redis_cluster_*) to o; nothing
 * with one Redis. */
struct evbuffer;
void gw_redis_metrics(const gw_redis *r, struct evbuffer *o);
/* true in Redis Cluster mode (redis+cluster://). */
bool gw_redis_is_cluster(const gw_redis *r);
uint64_t gw_redis_reconnects(const gw_redis *r);

#endif
