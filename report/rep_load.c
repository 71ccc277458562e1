/*
 * rep_load.c - repcore's readers: the manifest (pulse-publish), clients.csv, the delivery
 * logs and gaps.csv (pulse-subscribe). Line formats come from pulse_record.h, so this
 * file only adds file handling, line numbers in errors, and the per-line bookkeeping
 * that needs no global view: which event and client a delivery is, its latency into the
 * histograms, and out-of-order detection per (client, channel). Everything that needs
 * all inputs at once (expected counts, duplicates) is in rep_calc.c.
 */
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pulse_alloc.h"
#include "pulse_event.h"
#include "pulse_record.h"
#include "rep_internal.h"

#define REP_MAX_LENIENT_REPORTS 5

void rep_options_default(rep_options *o)
{
    memset(o, 0, sizeof(*o));
    o->exact_limit = 2000000;
}

rep_run *rep_run_new(const rep_options *opt)
{
    rep_run *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    if (opt != NULL)
        r->opt = *opt;
    else
        rep_options_default(&r->opt);
    r->overall.lat = pulse_hist_new(r->opt.exact_limit);
    r->prio[PULSE_PRIO_NORMAL].lat = pulse_hist_new(r->opt.exact_limit);
    r->prio[PULSE_PRIO_CRITICAL].lat = pulse_hist_new(r->opt.exact_limit);
    if (r->overall.lat == NULL || r->prio[1].lat == NULL || r->prio[2].lat == NULL) {
        rep_run_free(r);
        return NULL;
    }
    return r;
}

void rep_run_free(rep_run *r)
{
    size_t i;

    if (r == NULL)
        return;
    free(r->events);
    rep_u64map_free(&r->event_by_hash);
    rep_intern_free(&r->channels);
    rep_intern_free(&r->nodes);
    for (i = 0; i < r->n_clients; i++) {
        free(r->clients[i].channels);
        free(r->clients[i].chans);
    }
    free(r->clients);
    rep_u64map_free(&r->client_by_id);
    free(r->pairs);
    free(r->ooo_pos);
    rep_u64map_free(&r->last_seq);
    rep_u64map_free(&r->recovered);
    pulse_hist_free(r->overall.lat);
    for (i = 0; i < 3; i++)
        pulse_hist_free(r->prio[i].lat);
    for (i = 0; i < r->node_acc_cap; i++)
        pulse_hist_free(r->node_acc[i].lat);
    free(r->node_acc);
    for (i = 0; i < REP_SERIES_MAX; i++)
        pulse_hist_free(r->series[i]);
    free(r);
}

rep_acc *rep_node_acc(rep_run *r, uint32_t n)
{
    if (n >= r->node_acc_cap) {
        size_t cap = r->node_acc_cap ? r->node_acc_cap : 8;
        while (cap <= n)
            cap *= 2;
        r->node_acc = pulse_xrealloc(r->node_acc, cap * sizeof(*r->node_acc));
        memset(r->node_acc + r->node_acc_cap, 0, (cap - r->node_acc_cap) * sizeof(*r->node_acc));
        r->node_acc_cap = cap;
    }
    if (r->node_acc[n].lat == NULL) {
        r->node_acc[n].lat = pulse_hist_new(r->opt.exact_limit);
        if (r->node_acc[n].lat == NULL)
            pulse_oom();
    }
    return &r->node_acc[n];
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Reads path line by line, calling fn for each non-empty line (without its newline).
 * A line error from fn either stops the load (the error names file and line) or, in
 * lenient mode, is counted and reported for the first few lines. */
typedef int (*line_fn)(rep_run *r, const char *line, size_t len, long lineno, pulse_error *err);

static int for_each_line(rep_run *r, const char *path, line_fn fn, pulse_error *err)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;

    if (f == NULL)
        return pulse_error_set(err, PULSE_EIO, 0, "%.100s: %s", path, strerror(errno));
    while ((n = getline(&line, &cap, f)) >= 0) {
        pulse_error lerr;
        size_t len = (size_t)n;
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        memset(&lerr, 0, sizeof(lerr));
        rc = fn(r, line, len, lineno, &lerr);
        if (rc == 0)
            continue;
        if (r->opt.lenient && rc == PULSE_EINVAL) {
            r->bad_lines++;
            if (r->bad_lines <= REP_MAX_LENIENT_REPORTS)
                fprintf(stderr, "pulse-report: %s:%ld: %s (skipped)\n", base_name(path), lineno,
                        lerr.text);
            rc = 0;
            continue;
        }
        pulse_error_set(err, rc, (int)lineno, "%.60s:%ld: %.90s", base_name(path), lineno,
                        lerr.text);
        break;
    }
    if (rc == 0 && ferror(f))
        rc = pulse_error_set(err, PULSE_EIO, 0, "%.100s: read error", path);
    free(line);
    fclose(f);
    return rc;
}

static int manifest_line(rep_run *r, const char *line, size_t len, long lineno, pulse_error *err)
{
    pulse_manifest_rec m;
    rep_event *e;
    uint64_t *slot;
    bool ins;
    int rc = pulse_manifest_rec_parse(line, len, &m, err);

    (void)lineno;
    if (rc != 0)
        return rc;
    if (m.published_at_us <= 0)
        return pulse_error_set(err, PULSE_EINVAL, 0, "published_at_us must be positive");
    slot = rep_u64map_upsert(&r->event_by_hash, rep_hash_bytes(m.event_id, strlen(m.event_id)),
                             r->n_events + 1, &ins);
    if (!ins) {
        const rep_event *old = &r->events[*slot - 1];
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s event_id %s",
                               strcmp(old->event_id, m.event_id) == 0 ? "duplicate"
                                                                      : "hash collision for",
                               m.event_id);
    }
    if (r->n_events == r->events_cap) {
        r->events_cap = r->events_cap ? r->events_cap * 2 : 1024;
        r->events = pulse_xrealloc(r->events, r->events_cap * sizeof(*r->events));
    }
    e = &r->events[r->n_events++];
    memcpy(e->event_id, m.event_id, sizeof(e->event_id));
    e->chan = rep_intern_add(&r->channels, m.channel, strlen(m.channel));
    e->prio = (uint8_t)(m.priority != PULSE_PRIO_UNSET ? m.priority
                                                        : pulse_priority_for_channel(m.channel));
    e->pub_us = m.published_at_us;
    e->history = m.offset > 0;
    if (r->n_events == 1 || m.published_at_us < r->first_pub_us)
        r->first_pub_us = m.published_at_us;
    if (r->n_events == 1 || m.published_at_us > r->last_pub_us)
        r->last_pub_us = m.published_at_us;
    return 0;
}

int rep_load_manifest(rep_run *r, const char *path, pulse_error *err)
{
    int rc = for_each_line(r, path, manifest_line, err);

    if (rc == 0)
        r->have_manifest = true;
    return rc;
}

/* Splits a line into exactly n comma-separated fields (pointers into line). */
static int split_fields(const char *line, size_t len, const char **f, size_t *flen, size_t n,
                        pulse_error *err)
{
    size_t i = 0;
    const char *p = line, *end = line + len;

    for (;;) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        if (i == n)
            return pulse_error_set(err, PULSE_EINVAL, 0, "more than %zu fields", n);
        f[i] = p;
        flen[i] = c ? (size_t)(c - p) : (size_t)(end - p);
        i++;
        if (c == NULL)
            break;
        p = c + 1;
    }
    if (i != n)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%zu fields, expected %zu", i, n);
    return 0;
}

static int field_i64(const char *s, size_t len, const char *name, int64_t *out, pulse_error *err)
{
    char buf[32], *end;
    long long v;

    if (len == 0 || len >= sizeof(buf))
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: not a number", name);
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        return pulse_error_set(err, PULSE_EINVAL, 0, "%s: '%s' is not a non-negative number", name,
                               buf);
    *out = v;
    return 0;
}

static int clients_line(rep_run *r, const char *line, size_t len, long lineno, pulse_error *err)
{
    const char *f[6];
    size_t fl[6];
    int64_t id, at, disc;
    rep_client *c;
    bool ins;
    int rc;

    if (lineno == 1 && len >= 7 && memcmp(line, "client,", 7) == 0)
        return 0; /* header */
    rc = split_fields(line, len, f, fl, 6, err);
    if (rc == 0)
        rc = field_i64(f[0], fl[0], "client", &id, err);
    if (rc == 0)
        rc = field_i64(f[4], fl[4], "connected_at_us", &at, err);
    if (rc == 0)
        rc = field_i64(f[5], fl[5], "disconnects", &disc, err);
    if (rc != 0)
        return rc;
    if (id > UINT32_MAX)
        return pulse_error_set(err, PULSE_EINVAL, 0, "client id out of range");
    if (fl[2] == 0 || fl[2] >= 64 || fl[3] == 0)
        return pulse_error_set(err, PULSE_EINVAL, 0, "empty or too long node or channels");
    rep_u64map_upsert(&r->client_by_id, (uint64_t)id, r->n_clients, &ins);
    if (!ins)
        return pulse_error_set(err, PULSE_EINVAL, 0, "client %" PRId64 " listed twice", id);
    if (r->n_clients == r->clients_cap) {
        r->clients_cap = r->clients_cap ? r->clients_cap * 2 : 256;
        r->clients = pulse_xrealloc(r->clients, r->clients_cap * sizeof(*r->clients));
    }
    c = &r->clients[r->n_clients++];
    memset(c, 0, sizeof(*c));
    c->id = (uint32_t)id;
    c->node = rep_intern_add(&r->nodes, f[2], fl[2]);
    c->connected_at_us = at;
    c->disconnects = (unsigned)disc;
    c->channels = pulse_xrealloc(NULL, fl[3] + 1);
    memcpy(c->channels, f[3], fl[3]);
    c->channels[fl[3]] = '\0';
    return 0;
}

int rep_load_clients(rep_run *r, const char *path, pulse_error *err)
{
    int rc = for_each_line(r, path, clients_line, err);

    if (rc == 0)
        r->have_clients = true;
    return rc;
}

static size_t lat_bin(int64_t us)
{
    double b;

    if (us < 1)
        return 0;
    b = floor(log10((double)us) * REP_LAT_BINS_PER_DECADE);
    if (b < 0)
        return 0;
    if (b >= REP_LAT_BINS)
        return REP_LAT_BINS - 1;
    return (size_t)b;
}

static int delivery_line(rep_run *r, const char *line, size_t len, long lineno, pulse_error *err)
{
    pulse_delivery_rec d;
    uint64_t *slot, key, *last;
    const rep_event *e;
    uint32_t ei, ci, line_node;
    int64_t lat;
    bool ins;
    int rc = pulse_delivery_rec_parse(line, len, &d, err);

    (void)lineno;
    if (rc != 0)
        return rc;
    r->delivery_lines++;
    slot = rep_u64map_get(&r->event_by_hash, rep_hash_bytes(d.event_id, strlen(d.event_id)));
    if (slot == NULL || strcmp(r->events[*slot - 1].event_id, d.event_id) != 0) {
        r->unknown_events++;
        return 0;
    }
    ei = (uint32_t)(*slot - 1);
    e = &r->events[ei];
    slot = rep_u64map_get(&r->client_by_id, d.client);
    if (slot == NULL) {
        r->unknown_clients++;
        return 0;
    }
    ci = (uint32_t)*slot;

    if (r->n_pairs == r->pairs_cap) {
        r->pairs_cap = r->pairs_cap ? r->pairs_cap * 2 : 4096;
        r->pairs = pulse_xrealloc(r->pairs, r->pairs_cap * sizeof(*r->pairs));
    }
    r->pairs[r->n_pairs++] = ((uint64_t)ci << 32) | ei;
    if (d.recovered)
        rep_u64map_upsert(&r->recovered, ((uint64_t)ci << 32) | ei, 1, &ins);

    /* Out of order: a lower sequence than one this client already had on this channel. */
    key = ((uint64_t)ci << 32) | e->chan;
    last = rep_u64map_upsert(&r->last_seq, key, d.sequence + 1, &ins);
    if (!ins) {
        if (d.sequence + 1 < *last) {
            if (r->n_ooo == r->ooo_cap) {
                r->ooo_cap = r->ooo_cap ? r->ooo_cap * 2 : 64;
                r->ooo_pos = pulse_xrealloc(r->ooo_pos, r->ooo_cap * sizeof(*r->ooo_pos));
            }
            r->ooo_pos[r->n_ooo++] = r->n_pairs - 1;
        } else {
            *last = d.sequence + 1;
        }
    }

    lat = d.received_at_us - e->pub_us;
    line_node = rep_intern_add(&r->nodes, d.node, strlen(d.node));
    pulse_hist_record(r->overall.lat, lat);
    pulse_hist_record(r->prio[e->prio].lat, lat);
    pulse_hist_record(rep_node_acc(r, line_node)->lat, lat);
    r->lat_bins[lat_bin(lat)]++;

    if (r->n_series == 0) {
        int64_t span = r->last_pub_us - r->first_pub_us;
        r->n_series = span > 0 ? REP_SERIES_MAX : 1;
        r->series_step_us = span > 0 ? (span + REP_SERIES_MAX - 1) / REP_SERIES_MAX : 1;
    }
    {
        size_t b = (size_t)((e->pub_us - r->first_pub_us) / r->series_step_us);
        if (b >= r->n_series)
            b = r->n_series - 1;
        if (r->series[b] == NULL) {
            r->series[b] = pulse_hist_new(4096);
            if (r->series[b] == NULL)
                pulse_oom();
        }
        pulse_hist_record(r->series[b], lat);
    }
    return 0;
}

int rep_load_deliveries(rep_run *r, const char *path, pulse_error *err)
{
    if (!r->have_manifest || !r->have_clients)
        return pulse_error_set(err, PULSE_EINVAL, 0,
                               "load the manifest and clients.csv before delivery logs");
    return for_each_line(r, path, delivery_line, err);
}

static int gaps_line(rep_run *r, const char *line, size_t len, long lineno, pulse_error *err)
{
    (void)line;
    (void)len;
    (void)lineno;
    (void)err;
    r->gaps++;
    return 0;
}

int rep_load_gaps(rep_run *r, const char *path, pulse_error *err)
{
    return for_each_line(r, path, gaps_line, err);
}

int rep_load_dir(rep_run *r, const char *dir, pulse_error *err)
{
    char path[4096];
    glob_t g;
    size_t i;
    int rc;

    snprintf(path, sizeof(path), "%s/manifest.csv", dir);
    rc = rep_load_manifest(r, path, err);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof(path), "%s/clients.csv", dir);
    rc = rep_load_clients(r, path, err);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof(path), "%s/deliveries*.csv", dir);
    memset(&g, 0, sizeof(g));
    rc = glob(path, 0, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        globfree(&g);
        return pulse_error_set(err, PULSE_EIO, 0, "%.100s: no deliveries*.csv", dir);
    }
    if (rc != 0) {
        globfree(&g);
        return pulse_error_set(err, PULSE_EIO, 0, "%.100s: cannot list files", dir);
    }
    for (i = 0; i < g.gl_pathc && rc == 0; i++)
        rc = rep_load_deliveries(r, g.gl_pathv[i], err);
    globfree(&g);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof(path), "%s/gaps.csv", dir);
    {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            fclose(f);
            rc = rep_load_gaps(r, path, err);
        }
    }
    return rc;
}
