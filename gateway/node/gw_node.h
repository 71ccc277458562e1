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

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gw_bridge.h"
#include "gw_chantab.h"
#include "gw_config.h"
#include "gw_metrics.h"
#include "gw_queue.h"

struct event_base;
struct event;
struct evhttp;
struct evconnlistener;
typedef struct gw_worker gw_worker;
typedef struct gw_redis gw_redis;
typedef struct gw_auth gw_auth;
typedef struct gw_limits gw_limits;

/* Bound of the worker -> ingest PUBLISH mailbox: past it a client publish is refused
 * ("unavailable"), not buffered. */
#define GW_PUBLISH_MAX_ITEMS 10000
#define GW_PUBLISH_MAX_BYTES (16 * 1024 * 1024)

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
    struct evconnlistener *listener; /* multi-worker mode: accepts, workers adopt */
    uint64_t accepted;
    uint64_t refused;                /* refused by the node listener (limits, draining) */
    int shutdown_signals;
    int workers_done;
    uint64_t events_received[3]; /* by pulse_priority */
    uint64_t events_unrouted;    /* arrived with no local subscriber */

    /* all threads */
    _Atomic int64_t connections; /* node-wide, for max_connections */
    _Atomic bool draining;
    /* client publishes: Redis took it / Redis down or refused / mailbox full */
    _Atomic uint64_t ws_published, ws_publish_failed, ws_publish_refused;
} gw_node;

#endif
