/*
 * test_admin.c - the admin HTTP port: /healthz, /metrics (every metric name the
 * README lists, counters that move with traffic), /stats, and POST /publish, which goes
 * through Redis so a client on another node receives it; bad bodies get 400 with a
 * JSON reason, a wrong method 405.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ts_check.h"
#include "ts.h"

static ts_stack stack; /* tmp dir, Redis and the gateways the tests start */

/* Polls a metric until it is >= want; returns the last value read. */
static double metric_at_least(int admin_port, const char *name, double want)
{
    int64_t deadline = ts_now_ms() + 5000;
    double v = -1;
    while (ts_now_ms() < deadline) {
        v = ts_metric(admin_port, name);
        if (v >= want)
            return v;
        ts_sleep_ms(20);
    }
    return v;
}

static json_t *json_body(const char *body)
{
    json_error_t e;
    return json_loads(body, 0, &e);
}

START_TEST(test_healthz_metrics_stats)
{
    ts_gateway *g = ts_fixture_gateway("node-m", NULL);
    static char body[1 << 20];
    /* ready is printed before Redis (and the function library) is confirmed */
    ck_assert_int_eq(ts_http_wait_status(g->admin_port, "/healthz", 200, 5000), 0);
    ck_assert_int_eq(ts_http(g->admin_port, "GET", "/healthz", NULL, NULL, body, sizeof body), 200);

    ck_assert_int_eq(ts_http(g->admin_port, "GET", "/metrics", NULL, NULL, body, sizeof body), 200);
    const char *names[] = {
        "pulse_connections_active",
        "pulse_connections_total",
        "pulse_events_received_total{priority=\"critical\"}",
        "pulse_events_received_total{priority=\"normal\"}",
        "pulse_deliveries_total{priority=\"critical\"}",
        "pulse_deliveries_total{priority=\"normal\"}",
        "pulse_dropped_total{reason=\"queue_full\"}",
        "pulse_slow_consumers_total",
        "pulse_channels_active",
        "pulse_redis_connected",
        "pulse_redis_reconnects_total",
        "pulse_bytes_sent_total",
        "pulse_ring_sends_total",
        "pulse_ring_enters_total",
        "pulse_fanout_seconds_bucket{le=\"+Inf\"}",
        "pulse_fanout_seconds_sum",
        "pulse_fanout_seconds_count",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "\n%s ", names[i]);
        ck_assert_msg(strstr(body, line) != NULL, "/metrics lacks a sample line for %s", names[i]);
    }
    ck_assert_msg(strstr(body, "# TYPE pulse_fanout_seconds histogram") != NULL,
                  "/metrics: pulse_fanout_seconds is not typed as a histogram");
    ck_assert_msg(strstr(body, "# TYPE pulse_connections_total counter") != NULL,
                  "/metrics: pulse_connections_total is not typed as a counter");
    ck_assert(ts_metric(g->admin_port, "pulse_redis_connected") == 1);
    ck_assert(ts_metric(g->admin_port, "pulse_connections_active") == 0);

    double conn0 = ts_metric(g->admin_port, "pulse_connections_total");
    double crit0 = ts_metric(g->admin_port, "pulse_deliveries_total{priority=\"critical\"}");
    double norm0 = ts_metric(g->admin_port, "pulse_deliveries_total{priority=\"normal\"}");
    double rcrit0 = ts_metric(g->admin_port, "pulse_events_received_total{priority=\"critical\"}");
    double rnorm0 = ts_metric(g->admin_port, "pulse_events_received_total{priority=\"normal\"}");
    double bytes0 = ts_metric(g->admin_port, "pulse_bytes_sent_total");
    double fan0 = ts_metric(g->admin_port, "pulse_fanout_seconds_count");

    ts_ws a, b;
    ck_assert(ts_ws_open(&a, g->port, "events.critical,news", "node-m", 5000) == 0);
    ck_assert(ts_ws_open(&b, g->port, "events.critical", "node-m", 5000) == 0);
    ck_assert(metric_at_least(g->admin_port, "pulse_connections_active", 2) == 2);
    ck_assert(metric_at_least(g->admin_port, "pulse_connections_total", conn0 + 2) >= conn0 + 2);
    ck_assert(metric_at_least(g->admin_port, "pulse_channels_active", 2) >= 2);

    /* 5 critical events to 2 clients, 3 normal ones (channel default) to 1 client. */
    size_t payload_bytes = 0;
    for (int i = 1; i <= 8; i++) {
        char ev[1024];
        bool crit = i <= 5;
        ck_assert_int_gt(ts_event_json(ev, sizeof ev, "METRIC_TEST", (uint64_t)i, NULL, NULL), 0);
        ck_assert_int_eq(ts_redis_publish(stack.redis.port, crit ? "events.critical" : "news", ev), 1);
        char *want = ts_envelope(crit ? "events.critical" : "news", ev);
        payload_bytes += strlen(want) * (crit ? 2 : 1);
        char *m = NULL;
        ck_assert_int_eq(ts_ws_recv(&a, &m, NULL, 5000), 1);
        ck_assert_str_eq(m, want);
        free(m);
        if (crit) {
            ck_assert_int_eq(ts_ws_recv(&b, &m, NULL, 5000), 1);
            ck_assert_str_eq(m, want);
            free(m);
        }
        free(want);
    }
    double v;
    v = metric_at_least(g->admin_port, "pulse_events_received_total{priority=\"critical\"}", rcrit0 + 5);
    ck_assert_msg(v == rcrit0 + 5, "events_received critical: %g, want %g", v, rcrit0 + 5);
    v = metric_at_least(g->admin_port, "pulse_events_received_total{priority=\"normal\"}", rnorm0 + 3);
    ck_assert_msg(v == rnorm0 + 3, "events_received normal: %g, want %g", v, rnorm0 + 3);
    v = metric_at_least(g->admin_port, "pulse_deliveries_total{priority=\"critical\"}", crit0 + 10);
    ck_assert_msg(v == crit0 + 10, "deliveries critical: %g, want %g", v, crit0 + 10);
    v = metric_at_least(g->admin_port, "pulse_deliveries_total{priority=\"normal\"}", norm0 + 3);
    ck_assert_msg(v == norm0 + 3, "deliveries normal: %g, want %g", v, norm0 + 3);
    v = metric_at_least(g->admin_port, "pulse_bytes_sent_total", bytes0 + (double)payload_bytes);
    ck_assert_msg(v >= bytes0 + (double)payload_bytes, "bytes_sent: %g, want >= %g", v,
                  bytes0 + (double)payload_bytes);
    v = metric_at_least(g->admin_port, "pulse_fanout_seconds_count", fan0 + 8);
    ck_assert_msg(v >= fan0 + 8, "fanout_seconds_count: %g, want >= %g", v, fan0 + 8);
    ck_assert(ts_metric(g->admin_port, "pulse_dropped_total{reason=\"queue_full\"}") == 0);

    /* /stats: JSON with node, connections, channels. */
    ck_assert_int_eq(ts_http(g->admin_port, "GET", "/stats", NULL, NULL, body, sizeof body), 200);
    json_t *st = json_body(body);
    ck_assert_msg(st != NULL && json_is_object(st), "/stats is not a JSON object: %.300s", body);
    const char *node = json_string_value(json_object_get(st, "node"));
    ck_assert_msg(node != NULL && strcmp(node, "node-m") == 0, "/stats node: %.300s", body);
    ck_assert_msg(json_object_get(st, "connections") != NULL, "/stats lacks connections: %.300s",
                  body);
    ck_assert_msg(json_object_get(st, "channels") != NULL, "/stats lacks channels: %.300s", body);
    /* everything published here had a local subscriber */
    json_t *unrouted = json_object_get(st, "events_unrouted");
    ck_assert_msg(json_is_integer(unrouted) && json_integer_value(unrouted) == 0, "/stats events_unrouted: %.300s",
                  body);
    if (json_is_integer(json_object_get(st, "connections")))
        ck_assert_int_eq(json_integer_value(json_object_get(st, "connections")), 2);
    json_decref(st);

    ts_ws_close(&a);
    ts_ws_close(&b);
    v = -1;
    int64_t deadline = ts_now_ms() + 5000;
    while (ts_now_ms() < deadline && (v = ts_metric(g->admin_port, "pulse_connections_active")) != 0)
        ts_sleep_ms(20);
    ck_assert_msg(v == 0, "connections_active after both clients left: %g", v);
}
END_TEST

START_TEST(test_publish_cross_node)
{
    ts_gateway *a = ts_fixture_gateway("node-a", NULL);
    ts_gateway *b = ts_fixture_gateway("node-b", NULL);
    ts_ws on_a, on_b;
    ck_assert(ts_ws_open(&on_a, a->port, "orders", "node-a", 5000) == 0);
    ck_assert(ts_ws_open(&on_b, b->port, "orders", "node-b", 5000) == 0);
    const char *argv[] = {"PUBSUB", "NUMSUB", "orders"};
    ck_assert(ts_redis_wait_line(stack.redis.port, "2", true, 5000, 3, argv) == 0);

    char ev[1024];
    ck_assert_int_gt(ts_event_json(ev, sizeof ev, "ORDER_PLACED", 1, "normal", "{\"id\":7}"), 0);
    char req[2048];
    snprintf(req, sizeof req, "{\"channel\":\"orders\",\"data\":%s}", ev);
    char body[4096];
    int st = ts_http(a->admin_port, "POST", "/publish", NULL, req, body, sizeof body);
    ck_assert_msg(st == 202, "POST /publish %s: status %d body %s", req, st, body);

    json_t *sent = json_loads(ev, 0, NULL);
    ts_ws *clients[] = {&on_b, &on_a};
    for (int i = 0; i < 2; i++) {
        char *m = NULL;
        int r = ts_ws_recv(clients[i], &m, NULL, 5000);
        ck_assert_msg(r == 1, "client on node-%c: no delivery of the POSTed event", i ? 'a' : 'b');
        json_t *got = json_loads(m, 0, NULL);
        const char *ch = json_string_value(json_object_get(got, "channel"));
        ck_assert_msg(ch != NULL && strcmp(ch, "orders") == 0 &&
                          json_equal(json_object_get(got, "data"), sent),
                      "client on node-%c: want {\"channel\":\"orders\",\"data\":%s}, got %s",
                      i ? 'a' : 'b', ev, m);
        json_decref(got);
        free(m);
    }
    json_decref(sent);
    ts_ws_close(&on_a);
    ts_ws_close(&on_b);
}
END_TEST

START_TEST(test_publish_bad_requests)
{
    ts_gateway *g = ts_fixture_gateway("node-x", NULL);
    ts_ws c;
    ck_assert(ts_ws_open(&c, g->port, "x", "node-x", 5000) == 0);
    const char *bad[] = {
        "{\"channel\":\"x\",\"data\":",       /* malformed */
        "not json at all",
        "[]",
        "{\"data\":{\"a\":1}}",                /* missing channel */
        "{\"channel\":42,\"data\":{}}",
        "{\"channel\":\"a b\",\"data\":{}}",   /* bad channel names */
        "{\"channel\":\"\",\"data\":{}}",
        "{\"channel\":\"ev.*\",\"data\":{}}",  /* a pattern is not a channel */
        "",
    };
    char body[4096];
    char failures[4096] = "";
    size_t fl = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = ts_http(g->admin_port, "POST", "/publish", NULL, bad[i], body, sizeof body);
        json_t *o = json_body(body);
        const char *reason = json_string_value(json_object_get(o, "reason"));
        if (st != 400 || reason == NULL || reason[0] == '\0')
            fl += (size_t)snprintf(failures + fl, sizeof failures - fl,
                                   "\n  POST /publish '%s' -> %d %s", bad[i], st, body);
        json_decref(o);
        if (fl >= sizeof failures)
            break;
    }
    int st = ts_http(g->admin_port, "GET", "/publish", NULL, NULL, body, sizeof body);
    ck_assert_msg(st == 405, "GET /publish: %d (want 405)", st);
    st = ts_http(g->admin_port, "POST", "/healthz", NULL, "{}", body, sizeof body);
    ck_assert_msg(st == 405, "POST /healthz: %d (want 405)", st);
    ck_assert_msg(strstr(body, "\"reason\"") != NULL, "POST /healthz: no JSON reason in %s", body);
    st = ts_http(g->admin_port, "GET", "/no-such-path", NULL, NULL, body, sizeof body);
    ck_assert_msg(st == 404, "GET /no-such-path: %d (want 404)", st);
    /* None of that reached the client; the node still serves. */
    char *reply = NULL;
    ck_assert_msg(ts_ws_op(&c, "{\"op\":\"ping\"}", "pong", &reply, 5000) == 0,
                  "after bad /publish requests: %s", reply ? reply : "(nothing)");
    free(reply);
    char *m = NULL;
    ck_assert_int_eq(ts_ws_recv(&c, &m, NULL, 200), 0);
    ts_ws_close(&c);
    ck_assert_int_eq(ts_http(g->admin_port, "GET", "/healthz", NULL, NULL, body, sizeof body), 200);
    /* Checked last so the rest runs first. */
    ck_assert_msg(failures[0] == '\0', "want 400 with a JSON body {\"reason\":\"...\"}:%s", failures);
}
END_TEST

START_TEST(test_priority_rules)
{
    /* events.critical and alerts.* are critical, anything else normal, unless the
     * event itself says "priority". Seen through the per-priority counters. */
    ts_gateway *g = ts_fixture_gateway("node-p", NULL);
    ts_ws c;
    ck_assert(ts_ws_open(&c, g->port, "news,events.critical,alerts.disk", "node-p", 5000) == 0);
    const char *rc_name = "pulse_events_received_total{priority=\"critical\"}";
    const char *rn_name = "pulse_events_received_total{priority=\"normal\"}";
    const char *dc_name = "pulse_deliveries_total{priority=\"critical\"}";
    const char *dn_name = "pulse_deliveries_total{priority=\"normal\"}";
    double rc0 = ts_metric(g->admin_port, rc_name), rn0 = ts_metric(g->admin_port, rn_name);
    double dc0 = ts_metric(g->admin_port, dc_name), dn0 = ts_metric(g->admin_port, dn_name);
    static const struct {
        const char *channel;
        const char *priority; /* in the event, NULL: absent */
        bool critical;        /* expected class */
    } cases[] = {
        {"news", NULL, false},
        {"news", "critical", true},
        {"events.critical", NULL, true},
        {"events.critical", "normal", false},
        {"alerts.disk", NULL, true},
        {"alerts.disk", "normal", false},
    };
    int want_c = 0, want_n = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char ev[1024];
        ck_assert_int_gt(ts_event_json(ev, sizeof ev, "PRIO", i + 1, cases[i].priority, NULL), 0);
        ck_assert_int_eq(ts_redis_publish(stack.redis.port, cases[i].channel, ev), 1);
        ts_assert_delivery(&c, cases[i].channel, ev, cases[i].channel);
        if (cases[i].critical)
            want_c++;
        else
            want_n++;
    }
    double rc1 = metric_at_least(g->admin_port, rc_name, rc0 + want_c);
    double rn1 = metric_at_least(g->admin_port, rn_name, rn0 + want_n);
    double dc1 = metric_at_least(g->admin_port, dc_name, dc0 + want_c);
    double dn1 = metric_at_least(g->admin_port, dn_name, dn0 + want_n);
    ck_assert_msg(rc1 - rc0 == want_c && rn1 - rn0 == want_n && dc1 - dc0 == want_c &&
                      dn1 - dn0 == want_n,
                  "priority classes: received critical +%g normal +%g, delivered critical +%g "
                  "normal +%g; want critical +%d normal +%d (news+critical, events.critical, "
                  "alerts.disk critical; news, events.critical+normal, alerts.disk+normal normal)",
                  rc1 - rc0, rn1 - rn0, dc1 - dc0, dn1 - dn0, want_c, want_n);
    /* channels_active follows unsubscribes. */
    double ch0 = ts_metric(g->admin_port, "pulse_channels_active");
    char *reply = NULL;
    ck_assert(ts_ws_op(&c, "{\"op\":\"unsubscribe\",\"channel\":\"news\"}", "unsubscribed", &reply,
                       5000) == 0);
    free(reply);
    double ch1 = ch0;
    int64_t deadline = ts_now_ms() + 5000;
    while (ts_now_ms() < deadline && (ch1 = ts_metric(g->admin_port, "pulse_channels_active")) != ch0 - 1)
        ts_sleep_ms(20);
    ck_assert_msg(ch1 == ch0 - 1, "pulse_channels_active %g -> %g after the last unsubscribe of "
                  "news (want -1)", ch0, ch1);
    ts_ws_close(&c);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("admin", "admin", 60, &stack, TS_FIX_REDIS, 8000, NULL, NULL,
                          test_healthz_metrics_stats, test_publish_cross_node,
                          test_publish_bad_requests, test_priority_rules);
}
