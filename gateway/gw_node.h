/*
 * gw_node.h - one gateway node: what the ingest thread and the worker threads share.
 *
 * Threads: the ingest thread (main thread; libevent: Redis, admin HTTP, signals) and
 * cfg->workers worker threads (one lws context each). They talk only through two
 * kinds of queue, each drained whole by its reader:
 *   worker -> ingest: gw_subreq (subscribe / unsubscribe a channel in Redis, "done"),
 *                     under node->lock, woken by event_active() on empty -> non-empty;
 *   ingest -> worker: gw_msg and gw_wcmd, under the worker's lock, woken by
 *                     lws_cancel_service() on empty -> non-empty (gw_worker.h).
 */
#ifndef GW_NODE_H
#define GW_NODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gw_auth.h"
#include "gw_chantab.h"
#include "gw_config.h"
#include "gw_queue.h"

struct event_base;
struct event;
struct evhttp;
struct evconnlistener;
typedef struct gw_worker gw_worker;
typedef struct gw_redis gw_redis;

/* Sockets accepted beyond a connection limit (node-wide and per address), so that
 * their handshake can be answered 503/429 rather than reset; past them, closed at
 * accept. */
#define GW_ANSWER_SLOTS 8
/* Descriptors kept back from the fd limit for Redis, the admin API, lws and logs. */
#define GW_FD_RESERVE 64

/* Why a subscription was refused node-wide (pulse_subscriptions_refused_total). */
typedef enum {
    GW_SUBREF_CHANNELS = 0, /* limits.max_channels */
    GW_SUBREF_PATTERNS,     /* limits.max_patterns */
    GW_SUBREF_STARS,        /* limits.max_pattern_stars */
    GW_SUBREF_RATE,         /* limits.new_subscriptions_per_second */
    GW_SUBREF_NREASONS
} gw_subref_reason;
extern const char *const gw_subref_names[GW_SUBREF_NREASONS];

typedef enum { GW_REQ_SUBSCRIBE, GW_REQ_UNSUBSCRIBE, GW_REQ_WORKER_DONE } gw_req_kind;

typedef struct gw_subreq {
    struct gw_subreq *next;
    gw_req_kind kind;
    int worker;
    bool is_pattern;
    char name[];
} gw_subreq;

typedef struct gw_node {
    const gw_config *cfg;
    gw_queue_limits qlimits;
    int64_t started_ms;

    int nworkers;
    gw_worker **workers;
    int ws_port;

    /* ingest thread */
    struct event_base *base;
    gw_redis *redis;
    gw_chantab *chans;           /* channel -> worker mask, refs, Redis state */
    struct event *wake_ev;       /* woken by workers */
    struct event *sigterm_ev, *sigint_ev, *drain_ev;
    struct evhttp *http;
    int admin_port;
    struct evconnlistener *listener; /* multi-worker mode: accepts, workers adopt */
    uint64_t accepted;
    uint64_t refused;                /* refused by the node listener (limits, draining) */
    int shutdown_signals;
    int workers_done;
    uint64_t events_received[3]; /* by pulse_priority */
    uint64_t events_unrouted;    /* arrived with no local subscriber */
    uint64_t events_bad_channel; /* refused: the channel name from Redis is not valid */

    /* worker -> ingest queue */
    pthread_mutex_t lock;
    gw_subreq *req_head, *req_tail;

    /* all threads */
    _Atomic int64_t connections; /* established, node-wide, for max_connections */
    /* Sockets from accept to close (handshakes included): past max_sockets a socket
     * is closed at accept, so the node stays below its fd limit (issue 13.1). */
    _Atomic int64_t sockets;
    int64_t max_conns;           /* max_connections, lowered to fit the fd limit */
    int64_t max_sockets;         /* max_conns + GW_ANSWER_SLOTS */
    /* Node-wide subscription limits (issue 13.2, gw_node_sub_admit): distinct
     * channels [0] and patterns [1] summed over the workers' tables, the bucket of
     * new Redis subscriptions (under sub_lock), and the refusals by reason. */
    _Atomic int64_t sub_names[2];
    pthread_mutex_t sub_lock;
    gw_ratelimit sub_rl;
    _Atomic uint64_t subs_refused[GW_SUBREF_NREASONS];
    _Atomic bool draining;
} gw_node;

/* Worker threads, before a worker holds a name it did not hold: 0 when the node's
 * limits allow it (its slot is taken: give it back with gw_node_sub_release when the
 * worker drops the name), else the reason it is refused (counted). Any thread. */
int gw_node_sub_admit(gw_node *n, const char *name, bool is_pattern);
void gw_node_sub_release(gw_node *n, bool is_pattern);

/* Worker threads: ask the ingest thread to (un)subscribe name in Redis for worker w.
 * Copies name. */
void gw_node_request(gw_node *n, gw_req_kind kind, int worker, const char *name, bool is_pattern);

/* Ingest thread. */
int gw_node_init(gw_node *n, const gw_config *cfg, struct event_base *base);
void gw_node_start(gw_node *n);      /* Redis connect, static subscriptions */
void gw_node_shutdown(gw_node *n);   /* begin the graceful drain */
void gw_node_cleanup(gw_node *n);
/* Listen on cfg->bind:cfg->port on the ingest thread and hand each accepted socket to
 * the worker with the fewest connections (lws 4.1.6 cannot share a port between
 * contexts: its listen-share option sets no SO_REUSEPORT on Linux; and owning accept
 * lets the node count sockets from accept and pause on EMFILE). Sets n->ws_port. 0,
 * or a negative code with err filled. */
int gw_node_listen(gw_node *n, pulse_error *err);
/* An evconnlistener error callback (the WebSocket and the admin listeners): on
 * EMFILE/ENFILE/ENOBUFS/ENOMEM it pauses accepting for 100 ms instead of spinning on
 * the still-readable socket; logs at most once a second. */
void gw_node_accept_error(struct evconnlistener *l, void *arg);

/* Admin HTTP (gw_admin.c). Binds cfg->admin_bind:cfg->admin_port; sets n->admin_port. */
int gw_admin_start(gw_node *n, pulse_error *err);
void gw_admin_stop(gw_node *n);

#endif
