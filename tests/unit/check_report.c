/*
 * check_report.c - unit tests for repcore (report/rep_*.c): the report's arithmetic on
 * small hand-written runs whose answers were worked out by hand (expected deliveries
 * with patterns, late and never-ready clients; drops, duplicates, out-of-order,
 * unexpected and unknown deliveries; nearest-rank percentiles; the per-priority and
 * per-node split), the bounded-memory mode on a large generated run, malformed input
 * (an error naming file and line, or counted and skipped with --lenient), and the JSON
 * and SVG writers; recovered and lost deliveries of events published with history,
 * from logs that mix the current lines with the older ones without offsets. Each case
 * writes its files into its own temp directory.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts_check.h"
#include "pulse_err.h"
#include "rep.h"

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/check_report-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    const char *names[] = {"manifest.csv", "clients.csv", "deliveries.csv", "deliveries-2.csv",
                           "gaps.csv", "latency.svg", "report.json"};
    char path[512];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

/* The hand-worked run.
 * Clients: 0 (gw-a, events.critical), 1 (gw-b, events.critical + feed:user-1),
 * 2 (gw-a, pattern feed:*, ready only at 1001500 so it expects e3 and e4 but not e1/e2),
 * 3 (gw-b, never ready: expects nothing).
 * Expected: c0 e1 e2 e5 = 3; c1 e1 e2 e5 e3 = 4; c2 e3 e4 = 2  -> 9 (critical 6, normal 3);
 * per node gw-a 5, gw-b 4.
 * Logged: c0 e1 e2 e5 + e1 again (duplicate); c1 e1 e5 then e2 (out of order), no e3
 * (dropped); c2 e3 e4 and e1 (unexpected: not subscribed); one unknown event id.
 * Latencies (us): c0 1000 2000 3000 5000; c1 4000 1000 10000; c2 500 700 100. */
static const char *MANIFEST =
    "e1,1,events.critical,critical,1000000\n"
    "e2,2,events.critical,critical,1001000\n"
    "e3,3,feed:user-1,normal,1002000\n"
    "e4,4,feed:user-2,normal,1003000\n"
    "e5,5,events.critical,,1004000\n"; /* empty priority: the channel's default, critical */
static const char *CLIENTS =
    "client,url,node,channels,connected_at_us,disconnects\n"
    "0,ws://127.0.0.1:1/ws,gw-a,events.critical,500000,0\n"
    "1,ws://127.0.0.1:2/ws,gw-b,events.critical;feed:user-1,500000,1\n"
    "2,ws://127.0.0.1:1/ws,gw-a,feed:*,1001500,0\n"
    "3,ws://127.0.0.1:2/ws,gw-b,events.critical,0,0\n";
static const char *DELIVERIES =
    "0,gw-a,events.critical,e1,1,T,1000000,1001000\n"
    "0,gw-a,events.critical,e2,2,T,1001000,1003000\n"
    "1,gw-b,events.critical,e1,1,T,1000000,1004000\n"
    "1,gw-b,events.critical,e5,5,T,1004000,1005000\n"
    "0,gw-a,events.critical,e5,5,T,1004000,1007000\n"
    "1,gw-b,events.critical,e2,2,T,1001000,1011000\n"
    "2,gw-a,feed:user-1,e3,3,T,1002000,1002500\n"
    "2,gw-a,feed:user-2,e4,4,T,1003000,1003700\n"
    "2,gw-a,events.critical,e1,1,T,1000000,1000100\n"
    "0,gw-a,events.critical,e1,1,T,1000000,1005000\n"
    "0,gw-a,events.critical,zz,9,T,1000000,1005000\n";

static void load_and_compute(const rep_options *opt, rep_result *res)
{
    rep_run *run = rep_run_new(opt);
    pulse_error err;
    int rc;

    ck_assert_ptr_nonnull(run);
    memset(&err, 0, sizeof(err));
    rc = rep_load_dir(run, tmpdir, &err);
    ck_assert_msg(rc == 0, "load failed: %s", err.text);
    ck_assert_int_eq(rep_compute(run, res), 0);
    rep_run_free(run);
}

static const rep_node_stats *node(const rep_result *res, const char *name)
{
    size_t i;

    for (i = 0; i < res->n_nodes; i++) {
        if (strcmp(res->nodes[i].name, name) == 0)
            return &res->nodes[i];
    }
    ck_abort_msg("node %s missing", name);
    return NULL;
}

static void write_hand_run(void)
{
    write_file("manifest.csv", MANIFEST);
    write_file("clients.csv", CLIENTS);
    write_file("deliveries.csv", DELIVERIES);
    write_file("gaps.csv", "1,gw-b,1000000,1000500,0.500,closed\n");
}

START_TEST(test_counts)
{
    rep_result res;

    write_hand_run();
    load_and_compute(NULL, &res);
    ck_assert_uint_eq(res.clients_total, 4);
    ck_assert_uint_eq(res.clients_connected, 3);
    ck_assert_uint_eq(res.disconnects, 1);
    ck_assert_uint_eq(res.gaps, 1);
    ck_assert_uint_eq(res.overall.events, 5);
    ck_assert_uint_eq(res.overall.expected, 9);
    ck_assert_uint_eq(res.overall.received, 8);
    ck_assert_uint_eq(res.overall.dropped, 1);
    ck_assert_uint_eq(res.overall.duplicates, 1);
    ck_assert_uint_eq(res.overall.out_of_order, 1);
    ck_assert_uint_eq(res.overall.unexpected, 1);
    ck_assert_uint_eq(res.delivery_lines, 11);
    ck_assert_uint_eq(res.unknown_events, 1);
    ck_assert_uint_eq(res.unknown_clients, 0);
    ck_assert_uint_eq(res.bad_lines, 0);
    /* where the drop is: e3 reached client 2 but not client 1 */
    ck_assert_uint_eq(res.events_incomplete, 1);
    ck_assert_uint_eq(res.n_worst_events, 1);
    ck_assert_str_eq(res.worst_events[0].event_id, "e3");
    ck_assert_str_eq(res.worst_events[0].channel, "feed:user-1");
    ck_assert_uint_eq(res.worst_events[0].expected, 2);
    ck_assert_uint_eq(res.worst_events[0].received, 1);
    ck_assert_uint_eq(res.clients_incomplete, 1);
    ck_assert_uint_eq(res.worst_clients[0].client, 1);
    ck_assert_str_eq(res.worst_clients[0].node, "gw-b");
    ck_assert_uint_eq(res.worst_clients[0].expected, 4);
    ck_assert_uint_eq(res.worst_clients[0].received, 3);
    rep_result_free(&res);
}
END_TEST

START_TEST(test_per_priority)
{
    rep_result res;

    write_hand_run();
    load_and_compute(NULL, &res);
    ck_assert_uint_eq(res.critical.events, 3);
    ck_assert_uint_eq(res.critical.expected, 6);
    ck_assert_uint_eq(res.critical.received, 6);
    ck_assert_uint_eq(res.critical.dropped, 0);
    ck_assert_uint_eq(res.critical.duplicates, 1);
    ck_assert_uint_eq(res.critical.out_of_order, 1);
    ck_assert_uint_eq(res.critical.unexpected, 1);
    ck_assert_uint_eq(res.normal.events, 2);
    ck_assert_uint_eq(res.normal.expected, 3);
    ck_assert_uint_eq(res.normal.received, 2);
    ck_assert_uint_eq(res.normal.dropped, 1);
    ck_assert_uint_eq(res.normal.duplicates, 0);
    /* critical samples: 100 1000 1000 2000 3000 4000 5000 10000 */
    ck_assert_uint_eq(res.critical.samples, 8);
    ck_assert_int_eq(res.critical.p50_us, 2000);
    ck_assert_int_eq(res.critical.max_us, 10000);
    ck_assert_int_eq(res.critical.min_us, 100);
    /* normal samples: 500 700 */
    ck_assert_uint_eq(res.normal.samples, 2);
    ck_assert_int_eq(res.normal.p50_us, 500);
    ck_assert_int_eq(res.normal.max_us, 700);
    rep_result_free(&res);
}
END_TEST

START_TEST(test_percentiles)
{
    rep_result res;

    write_hand_run();
    load_and_compute(NULL, &res);
    /* all samples: 100 500 700 1000 1000 2000 3000 4000 5000 10000 (nearest rank) */
    ck_assert_uint_eq(res.overall.samples, 10);
    ck_assert(res.overall.exact);
    ck_assert_int_eq(res.overall.min_us, 100);
    ck_assert_int_eq(res.overall.p50_us, 1000);
    ck_assert_int_eq(res.overall.p90_us, 5000);
    ck_assert_int_eq(res.overall.p95_us, 10000);
    ck_assert_int_eq(res.overall.p99_us, 10000);
    ck_assert_int_eq(res.overall.max_us, 10000);
    ck_assert_double_eq_tol(res.overall.mean_us, 2730.0, 1e-6);
    rep_result_free(&res);
}
END_TEST

START_TEST(test_per_node)
{
    rep_result res;
    const rep_node_stats *a, *b;

    write_hand_run();
    load_and_compute(NULL, &res);
    ck_assert_uint_eq(res.n_nodes, 2);
    ck_assert_str_eq(res.nodes[0].name, "gw-a"); /* sorted by name */
    a = node(&res, "gw-a");
    b = node(&res, "gw-b");
    ck_assert_uint_eq(a->s.clients, 2);
    ck_assert_uint_eq(a->s.expected, 5);
    ck_assert_uint_eq(a->s.received, 5);
    ck_assert_uint_eq(a->s.dropped, 0);
    ck_assert_uint_eq(a->s.duplicates, 1);
    ck_assert_uint_eq(a->s.unexpected, 1);
    ck_assert_uint_eq(a->s.out_of_order, 0);
    ck_assert_uint_eq(a->s.samples, 7);
    ck_assert_int_eq(a->s.max_us, 5000);
    ck_assert_uint_eq(b->s.clients, 1); /* client 3 never got ready */
    ck_assert_uint_eq(b->s.expected, 4);
    ck_assert_uint_eq(b->s.received, 3);
    ck_assert_uint_eq(b->s.dropped, 1);
    ck_assert_uint_eq(b->s.out_of_order, 1);
    ck_assert_uint_eq(b->s.samples, 3);
    ck_assert_int_eq(b->s.p50_us, 4000);
    ck_assert_int_eq(b->s.max_us, 10000);
    rep_result_free(&res);
}
END_TEST

START_TEST(test_critical_drop_and_split_logs)
{
    rep_result res;

    write_file("manifest.csv", MANIFEST);
    write_file("clients.csv", CLIENTS);
    /* client 0's deliveries in one log, client 1's and 2's in another; client 0 misses e5 */
    write_file("deliveries.csv", "0,gw-a,events.critical,e1,1,T,1000000,1001000\n"
                                 "0,gw-a,events.critical,e2,2,T,1001000,1003000\n");
    write_file("deliveries-2.csv", "1,gw-b,events.critical,e1,1,T,1000000,1004000\n"
                                   "1,gw-b,events.critical,e2,2,T,1001000,1011000\n"
                                   "1,gw-b,events.critical,e5,5,T,1004000,1005000\n"
                                   "1,gw-b,feed:user-1,e3,3,T,1002000,1003000\n"
                                   "2,gw-a,feed:user-1,e3,3,T,1002000,1002500\n"
                                   "2,gw-a,feed:user-2,e4,4,T,1003000,1003700\n");
    load_and_compute(NULL, &res);
    ck_assert_uint_eq(res.overall.expected, 9);
    ck_assert_uint_eq(res.overall.received, 8);
    ck_assert_uint_eq(res.critical.dropped, 1);
    ck_assert_uint_eq(res.normal.dropped, 0);
    ck_assert_uint_eq(res.overall.out_of_order, 0);
    ck_assert_uint_eq(res.overall.duplicates, 0);
    ck_assert_uint_eq(res.events_incomplete, 1);
    ck_assert_str_eq(res.worst_events[0].event_id, "e5");
    ck_assert_int_eq(res.worst_events[0].priority, 2 /* critical */);
    ck_assert_uint_eq(res.worst_events[0].expected, 2);
    ck_assert_uint_eq(res.worst_events[0].received, 1);
    ck_assert_uint_eq(res.clients_incomplete, 1);
    ck_assert_uint_eq(res.worst_clients[0].client, 0);
    ck_assert_uint_eq(res.worst_clients[0].received, 2);
    rep_result_free(&res);
}
END_TEST

/* A malformed line fails the load with file and line in the message. */
START_TEST(test_malformed_delivery)
{
    rep_run *run = rep_run_new(NULL);
    pulse_error err;

    write_file("manifest.csv", MANIFEST);
    write_file("clients.csv", CLIENTS);
    write_file("deliveries.csv", "0,gw-a,events.critical,e1,1,T,1000000,1001000\n"
                                 "\n" /* blank lines are skipped but counted */
                                 "0,gw-a,events.critical,e2,two,T,1001000,1003000\n"
                                 "0,gw-a,events.critical,e5,5,T,1004000,1007000\n");
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(rep_load_dir(run, tmpdir, &err), PULSE_EINVAL);
    ck_assert_int_eq(err.line, 3);
    ck_assert_msg(strstr(err.text, "deliveries.csv:3:") != NULL, "text: %s", err.text);
    ck_assert_msg(strstr(err.text, "sequence") != NULL, "text: %s", err.text);
    rep_run_free(run);
}
END_TEST

START_TEST(test_malformed_variants)
{
    static const struct {
        const char *file, *text, *needle;
        int line;
    } cases[] = {
        {"manifest.csv", "e1,1,events.critical,critical,1000000\ne2,2,events.critical\n",
         "manifest.csv:2:", 2},
        {"manifest.csv", "e1,1,events.critical,urgent,1000000\n", "manifest.csv:1:", 1},
        {"manifest.csv", "e1,1,events.critical,critical,1000000\ne1,2,x,normal,1000001\n",
         "duplicate event_id", 2},
        {"clients.csv", "client,url,node,channels,connected_at_us,disconnects\n0,u,n,c,-5,0\n",
         "clients.csv:2:", 2},
        {"clients.csv", "0,u,n,events.critical,1,0\n0,u,n,events.critical,1,0\n",
         "listed twice", 2},
        {"deliveries.csv", "0,gw-a,events.critical,e1,1,T,1000000\n", "deliveries.csv:1:", 1},
        {"deliveries.csv", "0,gw-a,events.critical,e1,1,T,1000000,1001000,extra\n",
         "deliveries.csv:1:", 1},
        {"deliveries.csv", "x,gw-a,events.critical,e1,1,T,1000000,1001000\n", "client", 1},
        {"deliveries.csv", "0,gw-a,events.critical,e1,1,T,1000000,10010\x01\n", "deliveries.csv:1:", 1},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rep_run *run = rep_run_new(NULL);
        pulse_error err;
        write_file("manifest.csv", "e1,1,events.critical,critical,1000000\n");
        write_file("clients.csv", "0,ws://h:1/ws,gw-a,events.critical,1,0\n");
        write_file("deliveries.csv", "");
        write_file(cases[i].file, cases[i].text);
        memset(&err, 0, sizeof(err));
        ck_assert_msg(rep_load_dir(run, tmpdir, &err) == PULSE_EINVAL, "case %zu loaded", i);
        ck_assert_msg(strstr(err.text, cases[i].needle) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.text, cases[i].needle);
        ck_assert_msg(err.line == cases[i].line, "case %zu: line %d", i, err.line);
        rep_run_free(run);
    }
}
END_TEST

START_TEST(test_lenient)
{
    rep_options opt;
    rep_result res;

    rep_options_default(&opt);
    opt.lenient = true;
    write_file("manifest.csv", MANIFEST);
    write_file("clients.csv", CLIENTS);
    write_file("deliveries.csv", "0,gw-a,events.critical,e1,1,T,1000000,1001000\n"
                                 "garbage\n"
                                 "0,gw-a,events.critical,e2,2,T,1001000,10030"); /* cut short */
    load_and_compute(&opt, &res);
    ck_assert_uint_eq(res.bad_lines, 1);
    ck_assert_uint_eq(res.overall.received, 2);
    ck_assert_uint_eq(res.overall.samples, 2);
    rep_result_free(&res);
}
END_TEST

START_TEST(test_missing_files)
{
    rep_run *run = rep_run_new(NULL);
    pulse_error err;

    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(rep_load_dir(run, tmpdir, &err), PULSE_EIO);
    ck_assert_msg(strstr(err.text, "manifest.csv") != NULL, "text: %s", err.text);
    rep_run_free(run);

    run = rep_run_new(NULL);
    write_file("manifest.csv", MANIFEST);
    write_file("clients.csv", CLIENTS);
    ck_assert_int_eq(rep_load_dir(run, tmpdir, &err), PULSE_EIO);
    ck_assert_msg(strstr(err.text, "deliveries") != NULL, "text: %s", err.text);
    rep_run_free(run);
}
END_TEST

/* Bounded memory: past exact_limit the buckets answer within 1%. 100,000 deliveries with
 * latencies 1..100000 us: p50 = 50,000, p99 = 99,000, max exact. */
START_TEST(test_hdr_mode)
{
    rep_options opt;
    rep_result res;
    char path[512];
    FILE *m, *d;
    int i;

    rep_options_default(&opt);
    opt.exact_limit = 1000;
    snprintf(path, sizeof(path), "%s/manifest.csv", tmpdir);
    m = fopen(path, "w");
    snprintf(path, sizeof(path), "%s/deliveries.csv", tmpdir);
    d = fopen(path, "w");
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(d);
    for (i = 1; i <= 100000; i++) {
        long long pub = 1000000000LL + i * 10LL;
        fprintf(m, "ev-%d,%d,events.critical,critical,%lld\n", i, i, pub);
        fprintf(d, "0,gw-a,events.critical,ev-%d,%d,T,%lld,%lld\n", i, i, pub, pub + i);
    }
    ck_assert_int_eq(fclose(m), 0);
    ck_assert_int_eq(fclose(d), 0);
    write_file("clients.csv", "0,ws://h:1/ws,gw-a,events.critical,1,0\n");
    load_and_compute(&opt, &res);
    ck_assert_uint_eq(res.overall.expected, 100000);
    ck_assert_uint_eq(res.overall.received, 100000);
    ck_assert(!res.overall.exact);
    ck_assert_double_eq_tol((double)res.overall.p50_us, 50000.0, 500.0);
    ck_assert_double_eq_tol((double)res.overall.p99_us, 99000.0, 990.0);
    ck_assert_int_eq(res.overall.max_us, 100000);
    ck_assert_uint_eq(res.n_series, REP_SERIES_MAX);
    rep_result_free(&res);
}
END_TEST

START_TEST(test_json_and_svg)
{
    rep_result res;
    char path[512];
    FILE *f;
    json_t *root;
    json_error_t jerr;

    write_hand_run();
    load_and_compute(NULL, &res);
    snprintf(path, sizeof(path), "%s/report.json", tmpdir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(rep_print_json(f, &res, tmpdir), 0);
    ck_assert_int_eq(fclose(f), 0);
    root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root != NULL, "bad JSON: %s", jerr.text);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(root, "overall"), "expected")), 9);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(root, "overall"), "dropped")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(json_object_get(root, "by_node"), "gw-b"), "out_of_order")),
                     1);
    ck_assert_double_eq_tol(json_real_value(json_object_get(
                                json_object_get(json_object_get(root, "overall"), "latency_ms"), "p50")),
                            1.0, 1e-9);
    ck_assert(json_is_false(json_object_get(root, "critical_dropped")));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(json_object_get(root, "incomplete"),
                                                        "worst_events"), 0),
                         "event_id")),
                     "e3");
    json_decref(root);

    snprintf(path, sizeof(path), "%s/latency.svg", tmpdir);
    ck_assert_int_eq(rep_write_svg(path, &res, "a <title> & more"), 0);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    {
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        ck_assert_ptr_nonnull(strstr(buf, "<svg"));
        ck_assert_ptr_nonnull(strstr(buf, "</svg>"));
        ck_assert_ptr_nonnull(strstr(buf, "a &lt;title&gt; &amp; more"));
        ck_assert_ptr_nonnull(strstr(buf, "<polyline"));
    }
    fclose(f);
    rep_result_free(&res);
}
END_TEST

/* History: alerts.db events h1..h4 were published with offsets 1..4, feed:user-1
 * events n1 (offset 0) and n2 (an old 5-field manifest line) without history.
 * Client 0 (gw-a: alerts.db + feed:user-1) got h1 live, h2 h3 from a recovery replay
 * (h2 twice), h4 live, n2 (an old 8-field line), not n1. Client 1 (gw-b: alerts.db) got
 * h1 and h4 live and lost h2 h3; its n1 line is unexpected (not subscribed), recovered
 * flag or not. Expected 6 + 4 = 10, received 7, dropped 3 (n1 to c0, h2 h3 to c1), of
 * which lost 2 (h2 h3: with history; n1 had none); recovered 2 (c0's h2 h3). */
START_TEST(test_recovered_and_lost)
{
    rep_result res;
    char path[512];
    FILE *f;
    json_t *root;
    static char text[8192];
    size_t n;

    write_file("manifest.csv",
               "h1,1,alerts.db,critical,1000000,1\n"
               "h2,2,alerts.db,critical,1001000,2\n"
               "h3,3,alerts.db,critical,1002000,3\n"
               "h4,4,alerts.db,critical,1003000,4\n"
               "n1,5,feed:user-1,normal,1001500,0\n"
               "n2,6,feed:user-1,normal,1002500\n");
    write_file("clients.csv", "client,url,node,channels,connected_at_us,disconnects\n"
                              "0,ws://127.0.0.1:1/ws,gw-a,alerts.db;feed:user-1,500000,1\n"
                              "1,ws://127.0.0.1:2/ws,gw-b,alerts.db,500000,1\n");
    write_file("deliveries.csv", "0,gw-a,alerts.db,h1,1,T,1000000,1000100,1,0\n"
                                 "1,gw-b,alerts.db,h1,1,T,1000000,1000200,1,0\n"
                                 "0,gw-a,alerts.db,h2,2,T,1001000,1500000,2,1\n"
                                 "0,gw-a,alerts.db,h2,2,T,1001000,1500001,2,1\n"
                                 "0,gw-a,alerts.db,h3,3,T,1002000,1500002,3,1\n"
                                 "0,gw-a,alerts.db,h4,4,T,1003000,1500003,4,0\n"
                                 "1,gw-b,alerts.db,h4,4,T,1003000,1500004,4,0\n"
                                 "0,gw-a,feed:user-1,n2,6,T,1002500,1002600\n"
                                 "1,gw-b,feed:user-1,n1,5,T,1001500,1500005,0,1\n");
    load_and_compute(NULL, &res);
    ck_assert_uint_eq(res.overall.expected, 10);
    ck_assert_uint_eq(res.overall.received, 7);
    ck_assert_uint_eq(res.overall.dropped, 3);
    ck_assert_uint_eq(res.overall.duplicates, 1);
    ck_assert_uint_eq(res.overall.unexpected, 1);
    ck_assert_uint_eq(res.overall.recovered, 2);
    ck_assert_uint_eq(res.overall.lost, 2);
    ck_assert_uint_eq(res.critical.recovered, 2);
    ck_assert_uint_eq(res.critical.lost, 2);
    ck_assert_uint_eq(res.normal.recovered, 0);
    ck_assert_uint_eq(res.normal.lost, 0);
    ck_assert_uint_eq(res.normal.dropped, 1);
    ck_assert_uint_eq(node(&res, "gw-a")->s.recovered, 2);
    ck_assert_uint_eq(node(&res, "gw-b")->s.recovered, 0);

    snprintf(path, sizeof(path), "%s/report.json", tmpdir);
    f = fopen(path, "w+");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(rep_print_json(f, &res, tmpdir), 0);
    ck_assert_int_eq(fclose(f), 0);
    root = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(root, "overall"), "recovered")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(root, "overall"), "lost")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_object_get(json_object_get(root, "by_priority"), "critical"), "lost")), 2);
    json_decref(root);

    f = fopen(path, "w+");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(rep_print_text(f, &res, "history"), 0);
    rewind(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    ck_assert_msg(strstr(text, "history: recovered 2 (2 critical), lost 2 (2 critical)") != NULL,
                  "%s", text);
    rep_result_free(&res);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = ts_tcase(s, "repcore", 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    ts_add_tests(tc, test_counts, test_per_priority, test_percentiles, test_per_node,
                 test_critical_drop_and_split_logs, test_malformed_delivery,
                 test_malformed_variants, test_lenient, test_missing_files, test_hdr_mode,
                 test_json_and_svg, test_recovered_and_lost);
    return s;
}
