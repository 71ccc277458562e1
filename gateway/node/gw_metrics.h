/*
 * gw_metrics.h - counters and the fan-out latency histogram.
 *
 * Each worker owns one gw_wstats and is its only writer; the ingest thread reads them
 * for /metrics and /stats. Writers use GW_ADD (a relaxed load and store: a plain move
 * on x86, no locked instruction on the per-delivery path); readers use GW_GET.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#define GW_ADD(field, n)                                                                 \
    atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + (n), \
                          memory_order_relaxed)
#define GW_GET(field) atomic_load_explicit(&(field), memory_order_relaxed)

typedef enum {
    GW_DROP_QUEUE_FULL = 0, /* normal event, connection queue past its soft bound */
    GW_DROP_SUPERSEDED,     /* policy latest: replaced by a newer one */
    GW_DROP_SLOW_CONSUMER,  /* still queued when a slow consumer was closed */
    GW_DROP_SHUTDOWN,       /* still queued when the drain timeout ran out */
    GW_DROP_NREASONS
} gw_drop_reason;

typedef enum {
    GW_AUTH_FAIL_INVALID = 0, /* a token that did not verify (handshake, auth or refresh) */
    GW_AUTH_FAIL_TIMEOUT,     /* no auth frame within auth.handshake_timeout_ms */
    GW_AUTH_FAIL_EXPIRED,     /* closed at the token's exp, not refreshed */
    GW_AUTH_FAIL_FORBIDDEN,   /* subscribe or publish the token does not grant */
    GW_AUTH_FAIL_NREASONS
} gw_auth_fail;

/* Upper bounds of the fan-out histogram buckets, in seconds (then +Inf). */
#define GW_FANOUT_NB 14

typedef struct {
    _Atomic uint64_t connections_total;
    _Atomic int64_t connections_active;
    _Atomic uint64_t connections_refused;
    _Atomic uint64_t deliveries[3]; /* by pulse_priority (1 normal, 2 critical) */
    _Atomic uint64_t dropped[GW_DROP_NREASONS];
    _Atomic uint64_t slow_consumers;
    _Atomic uint64_t bytes_sent;
    _Atomic uint64_t ring_sends;      /* ws.io_uring: sends submitted through the ring */
    _Atomic uint64_t ring_enters;     /* ws.io_uring: io_uring_enter calls made for them */
    _Atomic uint64_t fanout_buckets[GW_FANOUT_NB + 1];
    _Atomic uint64_t fanout_sum_ns;
    _Atomic int64_t channels;         /* channels with local subscribers on this worker */
    _Atomic uint64_t client_errors;   /* error frames sent */
    _Atomic uint64_t auth_failures[GW_AUTH_FAIL_NREASONS];
    _Atomic uint64_t recoveries[2];   /* subscribes with since: [0] not recovered, [1] recovered */
    _Atomic uint64_t events_replayed; /* stream events delivered by recoveries */
    _Atomic uint64_t gap_notices_dropped; /* {"op":"gap",...,"reason":"dropped"} sent */
} gw_wstats;

extern const double gw_fanout_bounds_s[GW_FANOUT_NB];
extern const char *const gw_drop_reason_names[GW_DROP_NREASONS];
extern const char *const gw_auth_fail_names[GW_AUTH_FAIL_NREASONS];

/* Records one Redis-arrival-to-socket-write latency. Worker thread. */
void gw_metrics_fanout_observe(gw_wstats *s, int64_t ns);

#endif
