/*
 * gw_node.h - one gateway node: the struct the ingest thread and the worker threads
 * share. Its functions live with their threads: gw_ingest.h (the ingest thread: node
 * lifecycle, Redis, the multi-worker listener), gw_worker.h (a worker thread),
 * gw_admin.h (admin HTTP, on the ingest thread).
 *
 * Threads: the ingest thread (main thread; libevent: Redis, admin HTTP, signals) and
 * cfg->workers worker threads (one lws context each). They talk only through mailboxes
 * (gw_bridge.h), each drained whole by its reader and woken once on empty -> non-empty:
 *   worker -> ingest: requests (subscribe / unsubscribe a channel in Redis, "done") and
 *                     publishes (a client's PUBLISH, bounded), woken by event_active();
 *   ingest -> worker: inbox[w] (gw_msg deliveries and commands), woken by
 *                     lws_cancel_service().
 */
#ifndef GW_NODE_H
#define GW_NODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gw_bridge.h"
#include "gw_chantab.h"
#include "gw_config.h"
#include "gw_limits.h"
#include "gw_metrics.h"
#include "gw_queue.h"

struct event_base;
struct event;
struct evhttp;
struct evconnlistener;
typedef struct gw_waiting gw_waiting;
typedef struct gw_worker gw_worker;
typedef struct gw_redis gw_redis;
typedef struct gw_auth gw_auth;
typedef struct gw_limits gw_limits;

/* Bound of the worker -> ingest PUBLISH mailbox: past it a client publish is refused
 * ("unavailable"), not buffered. */
#define GW_PUBLISH_MAX_ITEMS 10000
#define GW_PUBLISH_MAX_BYTES (16 * 1024 * 1024)

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

typedef struct gw_node {
    const gw_config *cfg;
    gw_queue_limits qlimits;
    int64_t started_ms;

    int nworkers;
    gw_worker **workers;   /* [nworkers], ingest thread (created in main.c) */
    gw_wstats *wstats;     /* [nworkers]: worker i is the only writer of wstats[i] */
    gw_bridge *inbox;      /* [nworkers]: ingest -> worker i */
    gw_bridge requests;    /* worker -> ingest: GW_MAIL_SUBSCRIBE/UNSUBSCRIBE/WORKER_DONE */
    gw_bridge publishes;   /* worker -> ingest: GW_MAIL_PUBLISH, bounded */
    const gw_auth *auth;   /* tokens, grants, admin key, Origins (pure; built by main) */
    gw_limits *limits;     /* per-address counts (own lock; gw_limits.h) */
    int ws_port;

    /* ingest thread */
    struct event_base *base;
    gw_redis *redis;
    gw_chantab *chans;           /* channel -> worker mask, refs, Redis state */
    struct event *wake_ev;       /* woken by workers */
    struct event *sigterm_ev, *sigint_ev, *drain_ev;
    struct evhttp *http;
    int admin_port;
    struct evconnlistener *listener; /* accepts, workers adopt (one worker too) */
    uint64_t accepted;
    uint64_t refused;                /* refused by the node listener (limits, draining) */
    gw_waiting *waiting, *waiting_tail; /* accepted, waiting for their first bytes (gw_ingest.c) */
    int64_t nwaiting;
    int wait_ep;                     /* their epoll set */
    struct event *wait_ev, *wait_tick;
    uint64_t silent_closed;          /* waited handshake_timeout_s for a first byte */
    int shutdown_signals;
    int workers_done;
    uint64_t events_received[3]; /* by pulse_priority */
    uint64_t events_unrouted;    /* arrived with no local subscriber */
    uint64_t events_bad_channel; /* refused: the channel name from Redis is not valid */
    /* history (gw_history.c) */
    uint64_t history_reads;      /* history op and GET /history reads */
    uint64_t gap_repairs;        /* node gap repairs started (offset jump or Redis outage) */
    uint64_t gap_repairs_filled; /* ... that the stream filled completely */
    uint64_t gap_notices_reconnect; /* gaps history could not fill (channels x workers told) */
    uint64_t events_duplicate;   /* live events dropped as already delivered */
    /* presence (gw_presence.c) */
    void *presence;              /* the registry */
    uint64_t presence_refreshes; /* refresh round trips */
    uint64_t presence_reads;     /* presence / presence_stats reads (ops and GET /presence) */
    uint64_t presence_events[2]; /* join / leave messages received from Redis */

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
    /* client publishes: Redis took it / Redis down or refused / mailbox full */
    _Atomic uint64_t ws_published, ws_publish_failed, ws_publish_refused;
} gw_node;

/* Worker threads (gw_ingest.c), before a worker holds a name it did not hold: 0 when
 * the node's limits allow it (its slot is taken: give it back with
 * gw_node_sub_release when the worker drops the name), else 1 + the gw_subref_reason
 * it is refused for (counted). Any thread. */
int gw_node_sub_admit(gw_node *n, const char *name, bool is_pattern);
void gw_node_sub_release(gw_node *n, bool is_pattern);

#endif
