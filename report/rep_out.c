/*
 * rep_out.c - pulse-report's text and JSON writers. The text report is two tables (the
 * counts, then the latency percentiles in milliseconds) for the overall run, each
 * priority and each gateway node, followed by a one-line verdict. The JSON carries the
 * same numbers (latency in milliseconds as floats, counts as integers) for scripts and
 * tests; it is built with jansson so it is always well-formed.
 */
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "pulse_event.h"
#include "rep.h"

static void count_row(FILE *f, const char *name, const rep_stats *s, bool with_events)
{
    char events[24];

    if (with_events)
        snprintf(events, sizeof(events), "%" PRIu64, s->events);
    else
        snprintf(events, sizeof(events), "-");
    fprintf(f,
            "  %-18s %8" PRIu64 " %8s %10" PRIu64 " %10" PRIu64 " %9" PRIu64 " %10" PRIu64
            " %12" PRIu64 " %10" PRIu64 "\n",
            name, s->clients, events, s->expected, s->received, s->dropped, s->duplicates,
            s->out_of_order, s->unexpected);
}

static void latency_row(FILE *f, const char *name, const rep_stats *s)
{
    if (s->samples == 0) {
        fprintf(f, "  %-18s %10s %9s %9s %9s %9s %9s %9s %9s\n", name, "0", "-", "-", "-", "-",
                "-", "-", "-");
        return;
    }
    fprintf(f, "  %-18s %10" PRIu64 " %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n", name,
            s->samples, (double)s->p50_us / 1000.0, (double)s->p90_us / 1000.0,
            (double)s->p95_us / 1000.0, (double)s->p99_us / 1000.0, (double)s->p999_us / 1000.0,
            (double)s->max_us / 1000.0, s->mean_us / 1000.0);
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* The run in four lines: events, clients, deliveries, history. */
static void text_summary(FILE *f, const rep_result *res, const char *title)
{
    fprintf(f, "Pulse delivery report: %s\n", title);
    fprintf(f, "  events %" PRIu64 " (%" PRIu64 " critical, %" PRIu64 " normal) published over %.3f s\n",
            res->overall.events, res->critical.events, res->normal.events,
            res->overall.events ? (double)(res->last_pub_us - res->first_pub_us) / 1e6 : 0.0);
    fprintf(f, "  clients %" PRIu64 " connected of %" PRIu64 ", %" PRIu64 " disconnects, %" PRIu64
               " reconnect gaps\n",
            res->clients_connected, res->clients_total, res->disconnects, res->gaps);
    fprintf(f, "  expected %" PRIu64 ", received %" PRIu64 " (%.2f%%), dropped %" PRIu64
               " (%.2f%%), duplicates %" PRIu64 "\n",
            res->overall.expected, res->overall.received,
            pct(res->overall.received, res->overall.expected), res->overall.dropped,
            pct(res->overall.dropped, res->overall.expected), res->overall.duplicates);
    fprintf(f, "  history: recovered %" PRIu64 " (%" PRIu64 " critical), lost %" PRIu64
               " (%" PRIu64 " critical) of the events published with history\n\n",
            res->overall.recovered, res->critical.recovered, res->overall.lost,
            res->critical.lost);
}

/* The delivery counts table: overall, per priority, per node. */
static void text_counts(FILE *f, const rep_result *res)
{
    size_t i;
    char name[80];
    fprintf(f, "  %-18s %8s %8s %10s %10s %9s %10s %12s %10s\n", "deliveries", "clients", "events",
            "expected", "received", "dropped", "duplicates", "out-of-order", "unexpected");
    count_row(f, "overall", &res->overall, true);
    count_row(f, "critical", &res->critical, true);
    count_row(f, "normal", &res->normal, true);
    for (i = 0; i < res->n_nodes; i++) {
        snprintf(name, sizeof(name), "node %s", res->nodes[i].name);
        count_row(f, name, &res->nodes[i].s, false);
    }
}

/* The latency table and what its percentiles are. */
static void text_latency(FILE *f, const rep_result *res)
{
    size_t i;
    char name[80];
    bool exact = res->overall.exact;
    fprintf(f, "\n  %-18s %10s %9s %9s %9s %9s %9s %9s %9s\n", "latency (ms)", "count", "p50",
            "p90", "p95", "p99", "p99.9", "max", "mean");
    latency_row(f, "overall", &res->overall);
    latency_row(f, "critical", &res->critical);
    latency_row(f, "normal", &res->normal);
    for (i = 0; i < res->n_nodes; i++) {
        snprintf(name, sizeof(name), "node %s", res->nodes[i].name);
        latency_row(f, name, &res->nodes[i].s);
        exact = exact && (res->nodes[i].s.samples == 0 || res->nodes[i].s.exact);
    }
    fprintf(f, "\n  percentiles: %s; latency = received_at_us - published_at_us (wall clocks)\n",
            exact ? "exact (nearest rank)" : "HDR buckets (within 1%)");
    fprintf(f, "  log lines %" PRIu64 ", unknown events %" PRIu64 ", unknown clients %" PRIu64
               ", skipped bad lines %" PRIu64 "\n",
            res->delivery_lines, res->unknown_events, res->unknown_clients, res->bad_lines);
}

/* The events and clients missing deliveries, worst first (at most 5 of each). */
static void text_worst(FILE *f, const rep_result *res)
{
    size_t i;
    if (res->events_incomplete > 0) {
        fprintf(f, "\n  %" PRIu64 " events and %" PRIu64 " clients are missing deliveries; the worst"
                   " (up to 10 of each in --json):\n",
                res->events_incomplete, res->clients_incomplete);
        for (i = 0; i < res->n_worst_events && i < 5; i++) {
            const rep_missing_event *m = &res->worst_events[i];
            fprintf(f, "    event %s (%s, %s): %" PRIu64 " of %" PRIu64 " delivered\n",
                    m->event_id, m->channel,
                    m->priority == PULSE_PRIO_CRITICAL ? "critical" : "normal", m->received,
                    m->expected);
        }
        for (i = 0; i < res->n_worst_clients && i < 5; i++) {
            const rep_missing_client *m = &res->worst_clients[i];
            fprintf(f, "    client %u (node %s): %" PRIu64 " of %" PRIu64 " received\n", m->client,
                    m->node, m->received, m->expected);
        }
    }
}

/* Clients that never got ready, then the one-line verdict. */
static void text_verdict(FILE *f, const rep_result *res)
{
    if (res->clients_connected < res->clients_total)
        fprintf(f, "  warning: %" PRIu64 " of %" PRIu64 " clients never got ready; they expect "
                   "nothing and are not counted as drops\n",
                res->clients_total - res->clients_connected, res->clients_total);
    if (res->overall.expected == 0)
        fprintf(f, "  verdict: NO DATA, nothing was expected (no ready client subscribed to a "
                   "published channel)\n");
    else if (res->critical.dropped > 0)
        fprintf(f, "  verdict: FAIL, %" PRIu64 " critical deliveries dropped\n",
                res->critical.dropped);
    else if (res->overall.dropped > 0)
        fprintf(f, "  verdict: OK for critical events; %" PRIu64 " normal deliveries dropped\n",
                res->overall.dropped);
    else
        fprintf(f, "  verdict: OK, every expected delivery arrived\n");
}

int rep_print_text(FILE *f, const rep_result *res, const char *title)
{
    text_summary(f, res, title);
    text_counts(f, res);
    text_latency(f, res);
    text_worst(f, res);
    text_verdict(f, res);
    return ferror(f) ? -1 : 0;
}

static json_t *stats_json(const rep_stats *s, bool with_events)
{
    json_t *o = json_object(), *lat = json_object();

    if (o == NULL || lat == NULL) {
        json_decref(o);
        json_decref(lat);
        return NULL;
    }
    json_object_set_new(o, "clients", json_integer((json_int_t)s->clients));
    if (with_events)
        json_object_set_new(o, "events", json_integer((json_int_t)s->events));
    json_object_set_new(o, "expected", json_integer((json_int_t)s->expected));
    json_object_set_new(o, "received", json_integer((json_int_t)s->received));
    json_object_set_new(o, "dropped", json_integer((json_int_t)s->dropped));
    json_object_set_new(o, "duplicates", json_integer((json_int_t)s->duplicates));
    json_object_set_new(o, "recovered", json_integer((json_int_t)s->recovered));
    json_object_set_new(o, "lost", json_integer((json_int_t)s->lost));
    json_object_set_new(o, "out_of_order", json_integer((json_int_t)s->out_of_order));
    json_object_set_new(o, "unexpected", json_integer((json_int_t)s->unexpected));
    json_object_set_new(lat, "count", json_integer((json_int_t)s->samples));
    json_object_set_new(lat, "exact", json_boolean(s->exact));
    json_object_set_new(lat, "min", json_real((double)s->min_us / 1000.0));
    json_object_set_new(lat, "mean", json_real(s->mean_us / 1000.0));
    json_object_set_new(lat, "p50", json_real((double)s->p50_us / 1000.0));
    json_object_set_new(lat, "p90", json_real((double)s->p90_us / 1000.0));
    json_object_set_new(lat, "p95", json_real((double)s->p95_us / 1000.0));
    json_object_set_new(lat, "p99", json_real((double)s->p99_us / 1000.0));
    json_object_set_new(lat, "p99_9", json_real((double)s->p999_us / 1000.0));
    json_object_set_new(lat, "max", json_real((double)s->max_us / 1000.0));
    json_object_set_new(o, "latency_ms", lat);
    return o;
}

int rep_print_json(FILE *f, const rep_result *res, const char *dir)
{
    json_t *root = json_object(), *prio = json_object(), *nodes = json_object();
    json_t *clients = json_object(), *logs = json_object();
    size_t i;
    int rc;

    if (root == NULL || prio == NULL || nodes == NULL || clients == NULL || logs == NULL) {
        json_decref(root);
        json_decref(prio);
        json_decref(nodes);
        json_decref(clients);
        json_decref(logs);
        return -1;
    }
    json_object_set_new(root, "dir", json_string(dir));
    json_object_set_new(clients, "total", json_integer((json_int_t)res->clients_total));
    json_object_set_new(clients, "connected", json_integer((json_int_t)res->clients_connected));
    json_object_set_new(clients, "disconnects", json_integer((json_int_t)res->disconnects));
    json_object_set_new(clients, "gaps", json_integer((json_int_t)res->gaps));
    json_object_set_new(root, "clients", clients);
    json_object_set_new(root, "events", json_integer((json_int_t)res->overall.events));
    json_object_set_new(root, "published_span_s",
                        json_real((double)(res->last_pub_us - res->first_pub_us) / 1e6));
    json_object_set_new(root, "overall", stats_json(&res->overall, true));
    json_object_set_new(prio, "critical", stats_json(&res->critical, true));
    json_object_set_new(prio, "normal", stats_json(&res->normal, true));
    json_object_set_new(root, "by_priority", prio);
    for (i = 0; i < res->n_nodes; i++)
        json_object_set_new(nodes, res->nodes[i].name, stats_json(&res->nodes[i].s, false));
    json_object_set_new(root, "by_node", nodes);
    json_object_set_new(logs, "delivery_lines", json_integer((json_int_t)res->delivery_lines));
    json_object_set_new(logs, "unknown_events", json_integer((json_int_t)res->unknown_events));
    json_object_set_new(logs, "unknown_clients", json_integer((json_int_t)res->unknown_clients));
    json_object_set_new(logs, "bad_lines", json_integer((json_int_t)res->bad_lines));
    json_object_set_new(root, "logs", logs);
    json_object_set_new(root, "critical_dropped", json_boolean(res->critical.dropped > 0));
    {
        json_t *inc = json_object(), *evs = json_array(), *cls = json_array();
        if (inc == NULL || evs == NULL || cls == NULL) {
            json_decref(inc);
            json_decref(evs);
            json_decref(cls);
            json_decref(root);
            return -1;
        }
        json_object_set_new(inc, "events", json_integer((json_int_t)res->events_incomplete));
        json_object_set_new(inc, "clients", json_integer((json_int_t)res->clients_incomplete));
        for (i = 0; i < res->n_worst_events; i++) {
            const rep_missing_event *m = &res->worst_events[i];
            json_array_append_new(
                evs, json_pack("{s:s, s:s, s:s, s:I, s:I}", "event_id", m->event_id, "channel",
                               m->channel, "priority",
                               m->priority == PULSE_PRIO_CRITICAL ? "critical" : "normal",
                               "expected", (json_int_t)m->expected, "received",
                               (json_int_t)m->received));
        }
        for (i = 0; i < res->n_worst_clients; i++) {
            const rep_missing_client *m = &res->worst_clients[i];
            json_array_append_new(cls, json_pack("{s:I, s:s, s:I, s:I}", "client",
                                                 (json_int_t)m->client, "node", m->node,
                                                 "expected", (json_int_t)m->expected,
                                                 "received", (json_int_t)m->received));
        }
        json_object_set_new(inc, "worst_events", evs);
        json_object_set_new(inc, "worst_clients", cls);
        json_object_set_new(root, "incomplete", inc);
    }
    rc = json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(root);
    if (rc != 0 || fputc('\n', f) == EOF)
        return -1;
    return ferror(f) ? -1 : 0;
}
