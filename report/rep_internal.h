/*
 * rep_internal.h - the state a rep_run accumulates while loading, shared by repcore's
 * loader (rep_load.c) and arithmetic (rep_calc.c). Not part of the API.
 */
#ifndef REP_INTERNAL_H
#define REP_INTERNAL_H

#include "pulse_hist.h"
#include "rep.h"
#include "rep_map.h"

typedef struct {
    char event_id[37];
    uint32_t chan;        /* interned channel */
    uint8_t prio;         /* PULSE_PRIO_NORMAL or PULSE_PRIO_CRITICAL (resolved) */
    uint8_t history;      /* 1: published with history (manifest offset > 0) */
    int64_t pub_us;
} rep_event;

typedef struct {
    uint32_t id;
    uint32_t node;        /* interned node */
    int64_t connected_at_us;
    unsigned disconnects;
    char *channels;       /* ';'-separated as in clients.csv; owned */
    uint32_t *chans;      /* resolved, sorted interned channels (rep_compute) */
    size_t n_chans;
} rep_client;

/* Latency accumulator of one group (overall, a priority, a node). */
typedef struct {
    pulse_hist *lat;
} rep_acc;

struct rep_run {
    rep_options opt;
    bool have_manifest, have_clients;
    rep_event *events;
    size_t n_events, events_cap;
    rep_u64map event_by_hash;   /* FNV-1a(event_id) -> index + 1 */
    rep_intern channels;
    rep_intern nodes;
    rep_client *clients;
    size_t n_clients, clients_cap;
    rep_u64map client_by_id;    /* client id -> index */
    int64_t first_pub_us, last_pub_us;
    /* deliveries */
    uint64_t *pairs;            /* (client index << 32) | event index, one per line */
    size_t n_pairs, pairs_cap;
    rep_u64map last_seq;        /* (client index << 32 | channel) -> highest sequence + 1 */
    rep_u64map recovered;       /* pairs logged with recovered=1 -> 1 */
    size_t *ooo_pos;            /* positions in pairs[] that arrived after a higher sequence;
                                 * rep_compute drops those that are re-deliveries */
    size_t n_ooo, ooo_cap;
    rep_acc overall, prio[3];
    rep_acc *node_acc;          /* by interned node (line's node for latency) */
    size_t node_acc_cap;
    uint64_t lat_bins[REP_LAT_BINS];
    pulse_hist *series[REP_SERIES_MAX];
    size_t n_series;
    int64_t series_step_us;
    uint64_t delivery_lines, unknown_events, unknown_clients, bad_lines, gaps;
};

/* The accumulator of node index n, created on first use. */
rep_acc *rep_node_acc(rep_run *r, uint32_t n);

#endif
