/*
 * rep_calc.c - repcore's arithmetic once every file is loaded: resolve each client's
 * subscriptions (names and '*' patterns) against the manifest's channels, count expected
 * deliveries with binary searches over per-channel sorted publish times (so the cost is
 * clients x channels x log(events), not clients x events), then sort the logged
 * (client, event) pairs to count received, duplicate and unexpected deliveries.
 * Definitions are in rep.h.
 */
#include <stdlib.h>
#include <string.h>

#include "pulse_channel.h"
#include "pulse_event.h"
#include "rep_internal.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Fills c->chans with the manifest channels the client's subscriptions cover. */
static void resolve_client(rep_run *r, rep_client *c)
{
    const char *p = c->channels;
    size_t n = 0, cap = 0, i;

    while (*p != '\0') {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        if (memchr(p, '*', len) != NULL) {
            char pat[PULSE_CHANNEL_MAX + 1];
            if (len <= PULSE_CHANNEL_MAX) {
                memcpy(pat, p, len);
                pat[len] = '\0';
                for (i = 0; i < r->channels.n; i++) {
                    if (pulse_channel_match(pat, r->channels.names[i])) {
                        if (n == cap) {
                            cap = cap ? cap * 2 : 8;
                            c->chans = pulse_xrealloc(c->chans, cap * sizeof(*c->chans));
                        }
                        c->chans[n++] = (uint32_t)i;
                    }
                }
            }
        } else {
            long idx = rep_intern_find(&r->channels, p, len);
            if (idx >= 0) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 8;
                    c->chans = pulse_xrealloc(c->chans, cap * sizeof(*c->chans));
                }
                c->chans[n++] = (uint32_t)idx;
            }
        }
        if (semi == NULL)
            break;
        p = semi + 1;
    }
    qsort(c->chans, n, sizeof(*c->chans), cmp_u32);
    /* A channel named twice, or by a name and a pattern, counts once. */
    c->n_chans = 0;
    for (i = 0; i < n; i++) {
        if (c->n_chans == 0 || c->chans[c->n_chans - 1] != c->chans[i])
            c->chans[c->n_chans++] = c->chans[i];
    }
}

static bool client_has_chan(const rep_client *c, uint32_t ch)
{
    return bsearch(&ch, c->chans, c->n_chans, sizeof(ch), cmp_u32) != NULL;
}

/* Number of values in the sorted v[0..n) that are >= x. */
static size_t count_at_or_after(const int64_t *v, size_t n, int64_t x)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return n - lo;
}

static void fill_latency(rep_stats *s, const pulse_hist *h)
{
    if (h == NULL)
        return;
    s->samples = pulse_hist_count(h);
    s->exact = pulse_hist_is_exact(h) != 0;
    s->mean_us = pulse_hist_mean(h);
    s->min_us = pulse_hist_min(h);
    s->p50_us = pulse_hist_percentile(h, 50);
    s->p90_us = pulse_hist_percentile(h, 90);
    s->p95_us = pulse_hist_percentile(h, 95);
    s->p99_us = pulse_hist_percentile(h, 99);
    s->p999_us = pulse_hist_percentile(h, 99.9);
    s->max_us = pulse_hist_max(h);
}

static void finish(rep_stats *s)
{
    s->dropped = s->expected > s->received ? s->expected - s->received : 0;
}

static int cmp_node(const void *a, const void *b)
{
    return strcmp(((const rep_node_stats *)a)->name, ((const rep_node_stats *)b)->name);
}

typedef struct {
    uint32_t idx;
    bool critical;
    uint64_t expected, missing;
} rep_gap;

static int cmp_gap(const void *a, const void *b)
{
    const rep_gap *x = a, *y = b;
    if (x->critical != y->critical)
        return x->critical ? -1 : 1;
    if (x->missing != y->missing)
        return x->missing > y->missing ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* The connect times of the clients ready on each channel, sorted: channel c's are
 * (*ready_out)[off[c] .. off[c + 1]). 0 or PULSE_ENOMEM (nothing allocated). */
static int ready_times(const rep_run *r, size_t **off_out, int64_t **ready_out)
{
    size_t nch = r->channels.n, i, j;
    size_t *off = calloc(nch + 1, sizeof(*off)), *fill = calloc(nch + 1, sizeof(*fill));
    int64_t *ready = NULL;

    if (off == NULL || fill == NULL)
        goto oom;
    for (i = 0; i < r->n_clients; i++) {
        if (r->clients[i].connected_at_us <= 0)
            continue;
        for (j = 0; j < r->clients[i].n_chans; j++)
            off[r->clients[i].chans[j] + 1]++;
    }
    for (i = 1; i <= nch; i++)
        off[i] += off[i - 1];
    ready = malloc((off[nch] ? off[nch] : 1) * sizeof(*ready));
    if (ready == NULL)
        goto oom;
    for (i = 0; i < r->n_clients; i++) {
        const rep_client *c = &r->clients[i];
        if (c->connected_at_us <= 0)
            continue;
        for (j = 0; j < c->n_chans; j++)
            ready[off[c->chans[j]] + fill[c->chans[j]]++] = c->connected_at_us;
    }
    for (i = 0; i < nch; i++)
        qsort(ready + off[i], off[i + 1] - off[i], sizeof(*ready), cmp_i64);
    free(fill);
    *off_out = off;
    *ready_out = ready;
    return 0;
oom:
    free(off);
    free(fill);
    free(ready);
    return PULSE_ENOMEM;
}

/* Events with deliveries missing (counting what history would have kept as lost),
 * worst first, into out; gaps has room for every event. */
static void worst_events(const rep_run *r, rep_result *out, const size_t *off, const int64_t *ready,
                         const uint64_t *recv_e, rep_gap *gaps)
{
    size_t i, n = 0;
    for (i = 0; i < r->n_events; i++) {
        const rep_event *e = &r->events[i];
        size_t cnt = off[e->chan + 1] - off[e->chan];
        uint64_t expected = cnt - count_at_or_after(ready + off[e->chan], cnt, e->pub_us + 1);
        if (recv_e[i] < expected && e->history) {
            uint64_t lost = expected - recv_e[i];
            out->overall.lost += lost;
            (e->prio == PULSE_PRIO_CRITICAL ? &out->critical : &out->normal)->lost += lost;
        }
        if (recv_e[i] < expected) {
            gaps[n].idx = (uint32_t)i;
            gaps[n].critical = e->prio == PULSE_PRIO_CRITICAL;
            gaps[n].expected = expected;
            gaps[n].missing = expected - recv_e[i];
            n++;
        }
    }
    out->events_incomplete = n;
    qsort(gaps, n, sizeof(*gaps), cmp_gap);
    for (i = 0; i < n && i < REP_WORST_MAX; i++) {
        const rep_event *e = &r->events[gaps[i].idx];
        rep_missing_event *m = &out->worst_events[out->n_worst_events++];
        snprintf(m->event_id, sizeof(m->event_id), "%s", e->event_id);
        snprintf(m->channel, sizeof(m->channel), "%s", r->channels.names[e->chan]);
        m->priority = e->prio;
        m->expected = gaps[i].expected;
        m->received = gaps[i].expected - gaps[i].missing;
    }
}

/* Clients with deliveries missing, worst first, into out; gaps has room for every client. */
static void worst_clients(const rep_run *r, rep_result *out, const uint64_t *exp_c, const uint64_t *recv_c,
                          rep_gap *gaps)
{
    size_t i, n = 0;
    for (i = 0; i < r->n_clients; i++) {
        if (recv_c[i] < exp_c[i]) {
            gaps[n].idx = (uint32_t)i;
            gaps[n].critical = false;
            gaps[n].expected = exp_c[i];
            gaps[n].missing = exp_c[i] - recv_c[i];
            n++;
        }
    }
    out->clients_incomplete = n;
    qsort(gaps, n, sizeof(*gaps), cmp_gap);
    for (i = 0; i < n && i < REP_WORST_MAX; i++) {
        const rep_client *c = &r->clients[gaps[i].idx];
        rep_missing_client *m = &out->worst_clients[out->n_worst_clients++];
        m->client = c->id;
        snprintf(m->node, sizeof(m->node), "%s", r->nodes.names[c->node]);
        m->expected = gaps[i].expected;
        m->received = gaps[i].expected - gaps[i].missing;
    }
}

/* Per event: expected = subscribed clients ready at or before its publish time (from
 * per-channel sorted ready times); the events and clients with deliveries missing,
 * worst first. */
static int worst_lists(rep_run *r, rep_result *out, const uint64_t *exp_c,
                       const uint64_t *recv_c, const uint64_t *recv_e)
{
    size_t *off;
    int64_t *ready;
    rep_gap *gaps;

    if (ready_times(r, &off, &ready) != 0)
        return PULSE_ENOMEM;
    gaps = malloc(((r->n_events > r->n_clients ? r->n_events : r->n_clients) + 1) * sizeof(*gaps));
    if (gaps == NULL) {
        free(off);
        free(ready);
        return PULSE_ENOMEM;
    }
    worst_events(r, out, off, ready, recv_e, gaps);
    worst_clients(r, out, exp_c, recv_c, gaps);
    free(off);
    free(ready);
    free(gaps);
    return 0;
}

/* Publish times grouped by (channel, priority), each group sorted: group g =
 * channel * 3 + priority is times[off[g] .. off[g + 1]). Counts events per priority. */
static void group_publish_times(const rep_run *r, rep_result *out, size_t **off_out, int64_t **times_out)
{
    size_t nch = r->channels.n, i;
    size_t *off = pulse_xcalloc(nch * 3 + 1, sizeof(*off));
    size_t *fill = pulse_xcalloc(nch * 3 + 1, sizeof(*fill));
    int64_t *times = pulse_xmalloc((r->n_events ? r->n_events : 1) * sizeof(*times));
    for (i = 0; i < r->n_events; i++) {
        const rep_event *e = &r->events[i];
        off[e->chan * 3 + e->prio + 1]++;
        if (e->prio == PULSE_PRIO_CRITICAL)
            out->critical.events++;
        else
            out->normal.events++;
    }
    for (i = 1; i <= nch * 3; i++)
        off[i] += off[i - 1];
    for (i = 0; i < r->n_events; i++) {
        const rep_event *e = &r->events[i];
        size_t g = e->chan * 3 + e->prio;
        times[off[g] + fill[g]++] = e->pub_us;
    }
    for (i = 0; i < nch * 3; i++)
        qsort(times + off[i], off[i + 1] - off[i], sizeof(*times), cmp_i64);
    free(fill);
    *off_out = off;
    *times_out = times;
}

/* Expected, per client (exp_c) and in total. */
static void count_expected(rep_run *r, rep_result *out, const size_t *off, const int64_t *times,
                           rep_stats *node_s, uint64_t *exp_c)
{
    size_t i, j;
    for (i = 0; i < r->n_clients; i++) {
        rep_client *c = &r->clients[i];
        uint64_t exp_p[3] = {0, 0, 0};
        resolve_client(r, c);
        out->disconnects += c->disconnects;
        if (c->connected_at_us <= 0)
            continue;
        out->clients_connected++;
        node_s[c->node].clients++;
        for (j = 0; j < c->n_chans; j++) {
            int p;
            for (p = PULSE_PRIO_NORMAL; p <= PULSE_PRIO_CRITICAL; p++) {
                size_t g = c->chans[j] * 3 + (size_t)p;
                exp_p[p] += count_at_or_after(times + off[g], off[g + 1] - off[g],
                                              c->connected_at_us);
            }
        }
        out->normal.expected += exp_p[PULSE_PRIO_NORMAL];
        out->critical.expected += exp_p[PULSE_PRIO_CRITICAL];
        if (exp_p[PULSE_PRIO_NORMAL] > 0)
            out->normal.clients++;
        if (exp_p[PULSE_PRIO_CRITICAL] > 0)
            out->critical.clients++;
        node_s[c->node].expected += exp_p[1] + exp_p[2];
        exp_c[i] = exp_p[1] + exp_p[2];
    }
    out->overall.clients = out->clients_connected;
    out->overall.expected = out->normal.expected + out->critical.expected;
}

/* Out of order: a delivery flagged while loading counts only when it is the first
 * delivery of its (client, event); a late re-delivery is a duplicate instead. The
 * pairs are still in log order here, and the flagged set is small. */
static void count_out_of_order(const rep_run *r, rep_result *out, rep_stats *node_s)
{
    rep_u64map first = {0};
    bool ins;
    size_t i;
    if (r->n_ooo == 0)
        return;
    for (i = 0; i < r->n_ooo; i++)
        rep_u64map_upsert(&first, r->pairs[r->ooo_pos[i]], r->ooo_pos[i], &ins);
    for (i = 0; i < r->n_pairs; i++) {
        uint64_t *pos = rep_u64map_get(&first, r->pairs[i]);
        if (pos != NULL && *pos != UINT64_MAX && i < *pos)
            *pos = UINT64_MAX; /* an earlier copy exists: a re-delivery */
    }
    for (i = 0; i < first.cap; i++) {
        uint64_t pair = first.keys[i];
        const rep_client *c;
        const rep_event *e;
        if (!first.used[i] || first.vals[i] == UINT64_MAX)
            continue;
        c = &r->clients[pair >> 32];
        e = &r->events[(uint32_t)pair];
        out->overall.out_of_order++;
        (e->prio == PULSE_PRIO_CRITICAL ? &out->critical : &out->normal)->out_of_order++;
        node_s[c->node].out_of_order++;
    }
    rep_u64map_free(&first);
}

/* Received, duplicates, unexpected: one pass over the sorted pairs. */
static void count_received(rep_run *r, rep_result *out, rep_stats *node_s, uint64_t *recv_c, uint64_t *recv_e)
{
    size_t i, j;
    qsort(r->pairs, r->n_pairs, sizeof(*r->pairs), cmp_u64);
    for (i = 0; i < r->n_pairs;) {
        uint64_t pair = r->pairs[i];
        const rep_client *c = &r->clients[pair >> 32];
        const rep_event *e = &r->events[(uint32_t)pair];
        rep_stats *ps = e->prio == PULSE_PRIO_CRITICAL ? &out->critical : &out->normal;
        uint64_t dups;
        for (j = i + 1; j < r->n_pairs && r->pairs[j] == pair; j++)
            ;
        dups = j - i - 1;
        out->overall.duplicates += dups;
        ps->duplicates += dups;
        node_s[c->node].duplicates += dups;
        if (c->connected_at_us > 0 && c->connected_at_us <= e->pub_us &&
            client_has_chan(c, e->chan)) {
            out->overall.received++;
            ps->received++;
            node_s[c->node].received++;
            recv_c[pair >> 32]++;
            recv_e[(uint32_t)pair]++;
            if (rep_u64map_get(&r->recovered, pair) != NULL) {
                out->overall.recovered++;
                ps->recovered++;
                node_s[c->node].recovered++;
            }
        } else {
            out->overall.unexpected++;
            ps->unexpected++;
            node_s[c->node].unexpected++;
        }
        i = j;
    }
}

/* Per node: its counts, latency and rates, sorted by name. */
static void fill_nodes(const rep_run *r, rep_result *out, const rep_stats *node_s)
{
    size_t i;
    out->n_nodes = r->nodes.n;
    out->nodes = pulse_xcalloc(out->n_nodes ? out->n_nodes : 1, sizeof(*out->nodes));
    for (i = 0; i < out->n_nodes; i++) {
        rep_node_stats *n = &out->nodes[i];
        snprintf(n->name, sizeof(n->name), "%s", r->nodes.names[i]);
        n->s = node_s[i];
        if (i < r->node_acc_cap)
            fill_latency(&n->s, r->node_acc[i].lat);
        finish(&n->s);
    }
    qsort(out->nodes, out->n_nodes, sizeof(*out->nodes), cmp_node);
}

/* The latency time series: one point per non-empty step. */
static void fill_series(const rep_run *r, rep_result *out)
{
    size_t i;
    out->series_step_s = (double)r->series_step_us / 1e6;
    for (i = 0; i < r->n_series; i++) {
        rep_point *pt;
        if (r->series[i] == NULL || pulse_hist_count(r->series[i]) == 0)
            continue;
        pt = &out->series[out->n_series++];
        pt->t_s = (double)i * out->series_step_s;
        pt->count = pulse_hist_count(r->series[i]);
        pt->p50_us = pulse_hist_percentile(r->series[i], 50);
        pt->p99_us = pulse_hist_percentile(r->series[i], 99);
        pt->max_us = pulse_hist_max(r->series[i]);
    }
}

int rep_compute(rep_run *r, rep_result *out)
{
    size_t *off;
    int64_t *times;
    memset(out, 0, sizeof(*out));
    out->clients_total = r->n_clients;
    out->delivery_lines = r->delivery_lines;
    out->unknown_events = r->unknown_events;
    out->unknown_clients = r->unknown_clients;
    out->bad_lines = r->bad_lines;
    out->gaps = r->gaps;
    out->first_pub_us = r->first_pub_us;
    out->last_pub_us = r->last_pub_us;
    out->overall.events = r->n_events;

    rep_stats *node_s = pulse_xcalloc(r->nodes.n ? r->nodes.n : 1, sizeof(*node_s));
    uint64_t *exp_c = pulse_xcalloc(r->n_clients ? r->n_clients : 1, sizeof(*exp_c));
    uint64_t *recv_c = pulse_xcalloc(r->n_clients ? r->n_clients : 1, sizeof(*recv_c));
    uint64_t *recv_e = pulse_xcalloc(r->n_events ? r->n_events : 1, sizeof(*recv_e));
    group_publish_times(r, out, &off, &times);
    count_expected(r, out, off, times, node_s, exp_c);
    count_out_of_order(r, out, node_s);
    count_received(r, out, node_s, recv_c, recv_e);

    fill_latency(&out->overall, r->overall.lat);
    fill_latency(&out->normal, r->prio[PULSE_PRIO_NORMAL].lat);
    fill_latency(&out->critical, r->prio[PULSE_PRIO_CRITICAL].lat);
    finish(&out->overall);
    finish(&out->normal);
    finish(&out->critical);
    fill_nodes(r, out, node_s);
    memcpy(out->lat_bins, r->lat_bins, sizeof(out->lat_bins));
    fill_series(r, out);

    int rc = worst_lists(r, out, exp_c, recv_c, recv_e);
    free(off);
    free(times);
    free(node_s);
    free(exp_c);
    free(recv_c);
    free(recv_e);
    return rc;
}

void rep_result_free(rep_result *res)
{
    if (res == NULL)
        return;
    free(res->nodes);
    res->nodes = NULL;
    res->n_nodes = 0;
}
