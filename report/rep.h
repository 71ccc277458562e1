/*
 * rep.h - repcore, the library behind pulse-report: it reads a measuring run's files
 * (pulse-publish's manifest, pulse-subscribe's clients.csv and delivery logs), works out
 * what every subscriber should have received and what it did receive, and writes the
 * answer as text, JSON and an SVG chart. No sockets, no threads; one rep_run per caller.
 *
 * Definitions (the report's glossary says the same in words):
 *   expected   for each manifest event, the clients subscribed to its channel (exactly or
 *              by pattern) whose subscriptions were all acknowledged at or before the
 *              event's published_at_us (clients.csv connected_at_us; never-ready clients
 *              expect nothing).
 *   received   distinct (client, event) pairs that were expected and logged.
 *   dropped    expected - received.
 *   duplicates delivery lines beyond the first for the same (client, event).
 *   out_of_order  first deliveries of an event (re-deliveries are duplicates) that arrive
 *              after the same client already received a higher sequence on that channel.
 *   unexpected distinct (client, event) pairs logged but not expected (not subscribed, or
 *              published before the client was ready).
 *   unknown    delivery lines whose event_id is not in the manifest (ignored otherwise).
 *   recovered  received pairs whose delivery line says it came from a recovery replay
 *              (pulse-subscribe's recovered field, after a resubscribe with `since`).
 *   lost       the part of dropped whose event was published with history (a manifest
 *              offset > 0): what recovery should have delivered. Per priority and
 *              overall; 0 for node rows.
 *   latency    received_at_us - published_at_us of every logged delivery of a manifest
 *              event (duplicates included), in microseconds; percentiles are nearest-rank,
 *              exact up to rep_options.exact_limit samples and within 1% beyond.
 * Groups: overall, per priority (the manifest's priority, else the channel default:
 * events.critical and alerts.* critical) and per gateway node (clients.csv's node for
 * counts, the delivery line's node for latency).
 */
#ifndef REP_H
#define REP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pulse_err.h"

#define REP_LAT_BINS 180        /* log-spaced latency bins: 20 per decade from 1 us */
#define REP_LAT_BINS_PER_DECADE 20
#define REP_SERIES_MAX 120      /* latency-over-time buckets */

typedef struct {
    size_t exact_limit;  /* samples kept for exact percentiles per group (default 2,000,000) */
    bool lenient;        /* skip malformed lines (counted) instead of failing */
} rep_options;

typedef struct {
    uint64_t clients, events;
    uint64_t expected, received, dropped, duplicates, out_of_order, unexpected;
    uint64_t recovered, lost;
    uint64_t samples;     /* latency samples */
    bool exact;           /* percentiles are exact */
    double mean_us;
    int64_t min_us, p50_us, p90_us, p95_us, p99_us, p999_us, max_us;
} rep_stats;

typedef struct {
    char name[64];
    rep_stats s;
} rep_node_stats;

typedef struct {
    double t_s;          /* bucket start, seconds after the first publish */
    uint64_t count;
    int64_t p50_us, p99_us, max_us;
} rep_point;

#define REP_WORST_MAX 10       /* events and clients listed with the most missing deliveries */

typedef struct {
    char event_id[37];
    char channel[129];
    int priority;            /* pulse_priority */
    uint64_t expected, received;
} rep_missing_event;

typedef struct {
    uint32_t client;
    char node[64];
    uint64_t expected, received;
} rep_missing_client;

typedef struct {
    rep_stats overall;
    rep_stats critical, normal;
    rep_node_stats *nodes;   /* owned; sorted by name */
    size_t n_nodes;
    uint64_t clients_total, clients_connected, disconnects, gaps;
    uint64_t delivery_lines, unknown_events, unknown_clients, bad_lines;
    int64_t first_pub_us, last_pub_us;
    uint64_t lat_bins[REP_LAT_BINS]; /* bin i: [10^(i/20), 10^((i+1)/20)) us; bin 0 from 0 */
    rep_point series[REP_SERIES_MAX];
    size_t n_series;
    double series_step_s;
    /* Where the drops are: how many events and clients miss deliveries, and the worst
     * ones (critical first, then by missing count). */
    uint64_t events_incomplete, clients_incomplete;
    rep_missing_event worst_events[REP_WORST_MAX];
    size_t n_worst_events;
    rep_missing_client worst_clients[REP_WORST_MAX];
    size_t n_worst_clients;
} rep_result;

typedef struct rep_run rep_run;

void rep_options_default(rep_options *o);
/* Returns NULL on out-of-memory. Caller owns; rep_run_free accepts NULL. */
rep_run *rep_run_new(const rep_options *opt);
void rep_run_free(rep_run *r);

/* Loaders, to call in this order: manifest, clients, then any number of delivery logs
 * (and optionally gaps). Each returns 0, or PULSE_EINVAL/PULSE_EIO with err filled:
 * err->line is the 1-based line and err->text reads "FILE:LINE: what is wrong". */
int rep_load_manifest(rep_run *r, const char *path, pulse_error *err);
int rep_load_clients(rep_run *r, const char *path, pulse_error *err);
int rep_load_deliveries(rep_run *r, const char *path, pulse_error *err);
int rep_load_gaps(rep_run *r, const char *path, pulse_error *err);
/* All of a run directory: DIR/manifest.csv, DIR/clients.csv, DIR/deliveries*.csv and
 * DIR/gaps.csv when present. */
int rep_load_dir(rep_run *r, const char *dir, pulse_error *err);

/* Computes the result (may be called once, after loading). 0 or PULSE_ENOMEM.
 * rep_result_free releases out->nodes. */
int rep_compute(rep_run *r, rep_result *out);
void rep_result_free(rep_result *res);

/* Writers. 0, or -1 when writing failed. */
int rep_print_text(FILE *f, const rep_result *res, const char *title);
int rep_print_json(FILE *f, const rep_result *res, const char *dir);
int rep_write_svg(const char *path, const rep_result *res, const char *title);

#endif
