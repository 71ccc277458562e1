/*
 * test_fanout.c - Redis Pub/Sub to WebSocket fan-out across a cluster: two gateway
 * nodes on one Redis, three clients on each; every client gets every event of its
 * channel, in order, in the exact envelope {"channel":...,"data":<event as published>};
 * a pattern subscription (events.*) names the real channel of each delivery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ts_check.h"
#include "ts.h"

#define N_EVENTS 20
#define CLIENTS_PER_NODE 3

static ts_stack stack; /* tmp dir, Redis and the gateways the tests start */

/* Waits until `count` nodes are subscribed to channel in Redis. */
static void wait_numsub(const char *channel, const char *count)
{
    const char *argv[] = {"PUBSUB", "NUMSUB", channel};
    char out[256] = "";
    int64_t deadline = ts_now_ms() + 5000;
    char want[256];
    snprintf(want, sizeof want, "%s\n%s", channel, count);
    while (ts_now_ms() < deadline) {
        if (ts_redis_cmd(stack.redis.port, out, sizeof out, 3, argv) == 0 && strcmp(out, want) == 0)
            return;
        ts_sleep_ms(20);
    }
    ck_abort_msg("PUBSUB NUMSUB %s: got '%s', want '%s'", channel, out, want);
}

static void expect_frame(ts_ws *w, const char *who, const char *want)
{
    char *m = NULL;
    int r = ts_ws_recv(w, &m, NULL, 5000);
    ck_assert_msg(r == 1 && m != NULL && strcmp(m, want) == 0,
                  "%s: want text frame %.300s\n got (%d) %.300s", who, want, r,
                  m != NULL ? m : "(nothing)");
    free(m);
}

START_TEST(test_two_nodes_six_clients)
{
    ts_gateway *a = ts_fixture_gateway("node-a", NULL);
    ts_gateway *b = ts_fixture_gateway("node-b", NULL);
    ts_ws clients[2 * CLIENTS_PER_NODE];
    for (int i = 0; i < 2 * CLIENTS_PER_NODE; i++) {
        ts_gateway *g = i < CLIENTS_PER_NODE ? a : b;
        ck_assert_msg(ts_ws_open(&clients[i], g->port, "events.critical", g->node_id, 5000) == 0,
                      "client %d on %s: bad greeting", i, g->node_id);
    }
    /* One Redis subscription per node, however many clients it has. */
    wait_numsub("events.critical", "2");

    static char events[N_EVENTS][2048];
    for (int i = 0; i < N_EVENTS; i++) {
        char data[128];
        snprintf(data, sizeof data, "{\"host\":\"server-%d\",\"cpu\":%d.5,\"tags\":[\"a\",\"b\"]}",
                 i, i);
        int n = ts_event_json(events[i], sizeof events[i], "SERVER_DOWN", (uint64_t)i + 1,
                              "critical", data);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.critical", events[i]), 2);
    }
    for (int c = 0; c < 2 * CLIENTS_PER_NODE; c++) {
        char who[64];
        snprintf(who, sizeof who, "client %d on %s", c, c < CLIENTS_PER_NODE ? "node-a" : "node-b");
        for (int i = 0; i < N_EVENTS; i++) {
            char *want = ts_envelope("events.critical", events[i]);
            expect_frame(&clients[c], who, want);
            free(want);
        }
        /* Nothing more: the next reply is the pong to our ping. */
        char *reply = NULL;
        ck_assert_msg(ts_ws_op(&clients[c], "{\"op\":\"ping\"}", "pong", &reply, 5000) == 0,
                      "%s: ping after the 20 events got %s", who, reply ? reply : "(nothing)");
        free(reply);
    }
    for (int c = 0; c < 2 * CLIENTS_PER_NODE; c++)
        ts_ws_close(&clients[c]);
}
END_TEST

START_TEST(test_pattern_subscription)
{
    ts_gateway *a = ts_fixture_gateway("node-p", NULL);
    ts_ws pat, exact, other;
    ck_assert(ts_ws_open(&pat, a->port, "events.*", "node-p", 5000) == 0);
    ck_assert(ts_ws_open(&exact, a->port, "events.critical", "node-p", 5000) == 0);
    ck_assert(ts_ws_open(&other, a->port, "alerts.disk", "node-p", 5000) == 0);
    const char *numpat[] = {"PUBSUB", "NUMPAT"};
    ck_assert_msg(ts_redis_wait_line(stack.redis.port, "1", true, 5000, 2, numpat) == 0,
                  "events.* was not PSUBSCRIBEd (PUBSUB NUMPAT != 1)");
    const char *pchans[] = {"PUBSUB", "CHANNELS"};
    /* The pattern itself is not a plain SUBSCRIBE. */
    ck_assert(ts_redis_wait_line(stack.redis.port, "events.*", false, 100, 2, pchans) == 0);
    wait_numsub("events.critical", "1");
    wait_numsub("alerts.disk", "1");

    char e1[2048], e2[2048], e3[2048];
    ck_assert_int_gt(ts_event_json(e1, sizeof e1, "SERVER_DOWN", 1, "critical", NULL), 0);
    ck_assert_int_gt(ts_event_json(e2, sizeof e2, "CPU_HIGH", 2, NULL, "{\"v\":1}"), 0);
    ck_assert_int_gt(ts_event_json(e3, sizeof e3, "DISK_FULL", 3, NULL, NULL), 0);
    /* events.critical: one SUBSCRIBE (exact) and one PSUBSCRIBE match, same node. */
    ck_assert_int_ge(ts_redis_publish(stack.redis.port, "events.critical", e1), 1);
    ck_assert_int_ge(ts_redis_publish(stack.redis.port, "events.normal", e2), 1);
    ck_assert_int_ge(ts_redis_publish(stack.redis.port, "alerts.disk", e3), 1);

    char *w1 = ts_envelope("events.critical", e1);
    char *w2 = ts_envelope("events.normal", e2);
    char *w3 = ts_envelope("alerts.disk", e3);
    expect_frame(&pat, "events.* client", w1);
    expect_frame(&pat, "events.* client", w2);
    expect_frame(&exact, "events.critical client", w1);
    expect_frame(&other, "alerts.disk client", w3);
    /* Each got exactly that: the next reply is a pong. */
    ts_ws *all[] = {&pat, &exact, &other};
    for (int i = 0; i < 3; i++) {
        char *reply = NULL;
        ck_assert_msg(ts_ws_op(all[i], "{\"op\":\"ping\"}", "pong", &reply, 5000) == 0,
                      "client %d: unexpected frame before the pong: %s", i,
                      reply ? reply : "(nothing)");
        free(reply);
    }
    free(w1);
    free(w2);
    free(w3);
    ts_ws_close(&pat);
    ts_ws_close(&exact);
    ts_ws_close(&other);
    /* The last pattern subscriber gone: PUNSUBSCRIBE. */
    ck_assert_msg(ts_redis_wait_line(stack.redis.port, "0", true, 5000, 2, numpat) == 0,
                  "events.* still PSUBSCRIBEd after its only client left");
}
END_TEST

START_TEST(test_two_workers)
{
    /* Several worker threads on one port (SO_REUSEPORT): still one Redis subscription
     * per node, and every client, whichever worker holds it, gets every event. */
    char *extra[] = {(char *)"--workers", (char *)"2", NULL};
    ts_gateway *g = ts_fixture_gateway("node-w", extra);
    enum { N = 8 };
    ts_ws c[N];
    for (int i = 0; i < N; i++)
        ck_assert_msg(ts_ws_open(&c[i], g->port, "events.critical", "node-w", 5000) == 0,
                      "client %d: bad greeting", i);
    wait_numsub("events.critical", "1");
    static char events[5][1024];
    for (int e = 0; e < 5; e++) {
        ck_assert_int_gt(ts_event_json(events[e], sizeof events[e], "W", (uint64_t)e + 1, NULL, NULL),
                         0);
        ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.critical", events[e]), 1);
    }
    for (int i = 0; i < N; i++) {
        for (int e = 0; e < 5; e++) {
            char *want = ts_envelope("events.critical", events[e]);
            char who[32];
            snprintf(who, sizeof who, "client %d", i);
            expect_frame(&c[i], who, want);
            free(want);
        }
        ts_ws_close(&c[i]);
    }
}
END_TEST

START_TEST(test_payload_fidelity)
{
    /* The data goes out byte for byte: raw UTF-8, escapes, odd spacing, big events. */
    ts_gateway *g = ts_fixture_gateway("node-f", NULL);
    ts_ws c;
    ck_assert(ts_ws_open(&c, g->port, "events.critical", "node-f", 5000) == 0);
    wait_numsub("events.critical", "1");
    char base[1024];
    ck_assert_int_gt(ts_event_json(base, sizeof base, "UNICODE", 1, "critical",
                                   "{\"msg\":\"caf\u00e9 \u2713 \\\"q\\\" \\n \\u00e9 \\/\","
                                   "\"n\":[1.5e3,-0,null,true],\"e\":{}}"),
                     0);
    /* Same event with insignificant whitespace the gateway must not normalise. */
    char spaced[1100];
    snprintf(spaced, sizeof spaced, "  %s\t", base);
    size_t big_len = 512 * 1024;
    char *pad = malloc(big_len);
    char *big = malloc(big_len + 1024);
    ck_assert(pad != NULL && big != NULL);
    memset(pad, 'z', big_len);
    memcpy(pad, "{\"blob\":\"", 9);
    memcpy(pad + big_len - 3, "\"}", 3);
    ck_assert_int_gt(ts_event_json(big, big_len + 1024, "BIG", 3, "critical", pad), 0);
    const char *payloads[] = {base, spaced, big};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.critical", payloads[i]), 1);
        char *want = ts_envelope("events.critical", payloads[i]);
        char *m = NULL;
        size_t len = 0;
        int r = ts_ws_recv(&c, &m, &len, 5000);
        ck_assert_msg(r == 1 && len == strlen(want) && memcmp(m, want, len) == 0,
                      "payload %d (%zu bytes): delivered %zu bytes, differs: %.200s", i,
                      strlen(payloads[i]), len, m ? m : "(nothing)");
        free(m);
        free(want);
    }
    free(pad);
    free(big);
    /* Not JSON, empty, not an object: whatever the gateway does with them, it sends no
     * broken JSON and goes on delivering. */
    const char *junk[] = {"hello", "", "{\"unterminated\":", "[1,2]", "42"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.critical", junk[i]), 1);
    char after[1024];
    ck_assert_int_gt(ts_event_json(after, sizeof after, "AFTER_JUNK", 4, "critical", NULL), 0);
    ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.critical", after), 1);
    char *want = ts_envelope("events.critical", after);
    bool seen = false;
    for (int i = 0; i < 10 && !seen; i++) {
        char *m = NULL;
        int r = ts_ws_recv(&c, &m, NULL, 5000);
        ck_assert_msg(r == 1, "after junk payloads: recv %d (close %d)", r, c.close_code);
        json_error_t e;
        json_t *o = json_loads(m, 0, &e);
        ck_assert_msg(o != NULL, "the gateway sent invalid JSON for a junk payload: %s", m);
        json_decref(o);
        seen = strcmp(m, want) == 0;
        free(m);
    }
    ck_assert_msg(seen, "the valid event after the junk never arrived");
    free(want);
    ts_ws_close(&c);
    ck_assert_int_eq(ts_http(g->admin_port, "GET", "/healthz", NULL, NULL, after, sizeof after), 200);
}
END_TEST

START_TEST(test_batch_mode)
{
    /* ?batch=1 may pack several envelopes in one frame, separated by '\n'; unpacked,
     * the stream is the same: every event, in order, exact. */
    ts_gateway *g = ts_fixture_gateway("node-b", NULL);
    ts_ws c;
    ck_assert_int_eq(ts_ws_connect(&c, g->port, "/ws?batch=1&channels=events.critical", "pulse.v1"),
                     0);
    char *m = ts_ws_recv_until(&c, "\"subscribed\"", 5000);
    ck_assert_msg(m != NULL, "batch client: no subscribed");
    free(m);
    wait_numsub("events.critical", "1");
    enum { N = 200 };
    static char events[N][512];
    for (int i = 0; i < N; i++) {
        ck_assert_int_gt(ts_event_json(events[i], sizeof events[i], "B", (uint64_t)i + 1, NULL, NULL),
                         0);
        ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.critical", events[i]), 1);
    }
    int got = 0, frames = 0;
    while (got < N) {
        m = NULL;
        int r = ts_ws_recv(&c, &m, NULL, 5000);
        ck_assert_msg(r == 1, "batch client: recv %d after %d events", r, got);
        frames++;
        char *save = NULL;
        for (char *line = strtok_r(m, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
            ck_assert_int_lt(got, N);
            char *want = ts_envelope("events.critical", events[got]);
            ck_assert_msg(strcmp(line, want) == 0, "batch client: event %d: got %.200s", got + 1,
                          line);
            free(want);
            got++;
        }
        free(m);
    }
    fprintf(stderr, "fanout: batch client got %d events in %d frames\n", got, frames);
    ts_ws_close(&c);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("fanout", "fanout", 60, &stack, TS_FIX_REDIS, 8000, NULL, NULL,
                          test_two_nodes_six_clients, test_pattern_subscription, test_two_workers,
                          test_payload_fidelity, test_batch_mode);
}
