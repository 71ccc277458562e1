/*
 * gw_admin.h - the admin HTTP server (gw_admin.c; libevent evhttp on the ingest
 * thread): /metrics, /healthz, /stats, POST /publish, GET /history, GET /presence,
 * and the node's page at / (gw_web.h).
 */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include "gw_node.h"
#include "pulse_err.h"

/* Every worker's counters added up (any thread; each a relaxed read). */
typedef struct {
    uint64_t conns_total, refused, deliveries[3], dropped[GW_DROP_NREASONS], slow, bytes, errors;
    uint64_t ring_sends, ring_enters; /* ws.io_uring */
    uint64_t auth_failures[GW_AUTH_FAIL_NREASONS];
    uint64_t recoveries[2], replayed, gap_dropped; /* history: see gw_wstats */
    int64_t conns_active;
    uint64_t buckets[GW_FANOUT_NB + 1], sum_ns;
} gw_totals;
void gw_admin_sum_workers(const gw_node *n, gw_totals *t);

/* Binds cfg->admin_bind:cfg->admin_port; sets n->admin_port. 0, or a negative code
 * with err filled. */
int gw_admin_start(gw_node *n, pulse_error *err);
void gw_admin_stop(gw_node *n);

#endif
