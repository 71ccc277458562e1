/*
 * test_redis_restart.c - losing Redis: the gateway keeps its WebSocket clients (and
 * accepts new ones), /healthz turns 503 with a JSON reason, it reconnects with backoff
 * once Redis is back on the same port, resubscribes, counts the reconnect, and events
 * published after the restart reach a client that stayed connected all along. Also:
 * Redis down when the gateway starts.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ts_check.h"
#include "ts.h"

static ts_stack stack; /* the tests start (and stop) Redis themselves */

static int gaps_seen;

static void publish_and_expect(ts_ws *const clients[], int n_clients, uint64_t seq, const char *when)
{
    char ev[1024];
    ck_assert_int_gt(ts_event_json(ev, sizeof ev, "SERVER_DOWN", seq, "critical", NULL), 0);
    long receivers = ts_redis_publish(stack.redis.port, "events.critical", ev);
    ck_assert_msg(receivers == 1, "%s: PUBLISH seq %llu reached %ld subscribers (want 1)", when,
                  (unsigned long long)seq, receivers);
    char *want = ts_envelope("events.critical", ev);
    for (int i = 0; i < n_clients; i++) {
        char *m = NULL;
        int r = ts_ws_recv(clients[i], &m, NULL, 5000);
        /* After a reconnect the gateway may say that events could have been missed:
         * {"op":"gap","channel":...,"reason":"redis_reconnect"}. Allowed, not required. */
        for (int skip = 0; skip < 4 && r == 1 && strncmp(m, "{\"op\":\"gap\",", 12) == 0; skip++) {
            gaps_seen++;
            free(m);
            m = NULL;
            r = ts_ws_recv(clients[i], &m, NULL, 5000);
        }
        ck_assert_msg(r == 1 && strcmp(m, want) == 0, "%s: client %d: want %s\n got (%d) %s", when,
                      i, want, r, m ? m : "(nothing)");
        free(m);
    }
    free(want);
}

static void healthz_503(int admin_port)
{
    char body[4096];
    int st = -1;
    int64_t deadline = ts_now_ms() + 5000;
    while (ts_now_ms() < deadline) {
        st = ts_http(admin_port, "GET", "/healthz", NULL, NULL, body, sizeof body);
        if (st == 503)
            break;
        ts_sleep_ms(20);
    }
    ck_assert_msg(st == 503, "/healthz with Redis down: %d (want 503 within 5 s)", st);
    json_t *o = json_loads(body, 0, NULL);
    const char *reason = json_string_value(json_object_get(o, "reason"));
    ck_assert_msg(reason != NULL && reason[0] != '\0', "/healthz 503 body lacks a reason: %s", body);
    json_decref(o);
}

START_TEST(test_redis_restart_mid_stream)
{
    ck_assert_int_eq(ts_stack_start_redis(&stack, 0), 0);
    int port = stack.redis.port;
    char *extra[] = {(char *)"--log-level", (char *)"debug", NULL};
    ck_assert(ts_stack_start_gateway(&stack, "node-r", extra) == 0); /* port is Redis's */

    ts_ws stayer;
    ck_assert(ts_ws_open(&stayer, stack.gw[0].port, "events.critical", "node-r", 5000) == 0);
    const char *chans[] = {"PUBSUB", "CHANNELS"};
    ck_assert(ts_redis_wait_line(port, "events.critical", true, 5000, 2, chans) == 0);
    ts_ws *one[] = {&stayer};
    for (uint64_t s = 1; s <= 5; s++)
        publish_and_expect(one, 1, s, "before the restart");
    ck_assert_int_eq(ts_http_wait_status(stack.gw[0].admin_port, "/healthz", 200, 2000), 0);
    double rec0 = ts_metric(stack.gw[0].admin_port, "pulse_redis_reconnects_total");
    ck_assert_msg(rec0 >= 0, "pulse_redis_reconnects_total missing");

    ts_redis_stop(&stack.redis);
    stack.redis_up = false;
    healthz_503(stack.gw[0].admin_port);
    ck_assert_msg(ts_metric(stack.gw[0].admin_port, "pulse_redis_connected") == 0,
                  "pulse_redis_connected should be 0 with Redis down");

    /* WebSocket service goes on: the old client pings, a new one connects and
     * subscribes (its Redis subscription waits for the reconnect). */
    ts_assert_pong(&stayer, "stayer while Redis is down");
    ts_ws newcomer;
    ck_assert_msg(ts_ws_open(&newcomer, stack.gw[0].port, "events.critical", "node-r", 5000) == 0,
                  "a new client could not connect while Redis was down");
    ts_sleep_ms(1500); /* a few reconnect attempts against a closed port */
    ts_assert_pong(&stayer, "stayer after 1.5 s without Redis");

    ck_assert_int_eq(ts_stack_start_redis(&stack, port), 0);
    ck_assert_msg(ts_http_wait_status(stack.gw[0].admin_port, "/healthz", 200, 5000) == 0,
                  "/healthz not 200 within 5 s of Redis coming back");
    ck_assert_msg(ts_redis_wait_line(port, "events.critical", true, 5000, 2, chans) == 0,
                  "events.critical not resubscribed after the restart");
    double rec1 = ts_metric(stack.gw[0].admin_port, "pulse_redis_reconnects_total");
    ck_assert_msg(rec1 >= rec0 + 1, "pulse_redis_reconnects_total %g -> %g (want +1)", rec0, rec1);
    ck_assert(ts_metric(stack.gw[0].admin_port, "pulse_redis_connected") == 1);

    ts_ws *both[] = {&stayer, &newcomer};
    gaps_seen = 0;
    for (uint64_t s = 6; s <= 10; s++)
        publish_and_expect(both, 2, s, "after the restart");
    fprintf(stderr, "redis_restart: %d gap notices after the reconnect\n", gaps_seen);
    ts_ws_close(&stayer);
    ts_ws_close(&newcomer);
}
END_TEST

START_TEST(test_redis_down_at_start)
{
    int port = ts_free_port();
    ck_assert_int_gt(port, 0);
    ck_assert_msg(ts_gateway_start(&stack.gw[0], stack.tmp, port, "node-late", NULL) == 0,
                  "the gateway must start (and print its ready line) without Redis");
    stack.gw_started[0] = true;
    healthz_503(stack.gw[0].admin_port);
    /* WebSocket service works without Redis. The "subscribed" ack of a channel new to
     * the node may wait for Redis to confirm the SUBSCRIBE (this gateway does that), so
     * it is only required once Redis is up. */
    ts_ws c;
    ck_assert_int_eq(ts_ws_connect(&c, stack.gw[0].port, "/ws?channels=events.critical", "pulse.v1"), 0);
    char *m = ts_ws_recv_until(&c, "\"hello\"", 5000);
    ck_assert_msg(m != NULL, "no hello while Redis is down");
    free(m);
    ts_assert_pong(&c, "client while Redis has never been up");
    ck_assert_int_eq(ts_stack_start_redis(&stack, port), 0);
    m = ts_ws_recv_until(&c, "\"subscribed\"", 5000);
    ck_assert_msg(m != NULL && strcmp(m, "{\"op\":\"subscribed\",\"channel\":\"events.critical\"}") == 0,
                  "no subscribed ack within 5 s of Redis appearing: %s", m ? m : "(nothing)");
    free(m);
    ck_assert_msg(ts_http_wait_status(stack.gw[0].admin_port, "/healthz", 200, 5000) == 0,
                  "/healthz not 200 within 5 s of Redis appearing");
    const char *chans[] = {"PUBSUB", "CHANNELS"};
    ck_assert_msg(ts_redis_wait_line(port, "events.critical", true, 5000, 2, chans) == 0,
                  "a subscription made while Redis was down never reached Redis");
    ts_ws *one[] = {&c};
    publish_and_expect(one, 1, 1, "Redis started after the gateway");
    ts_ws_close(&c);
}
END_TEST

START_TEST(test_redis_stalled)
{
    /* hiredis 0.14 has no timeouts: a Redis that stops answering (SIGSTOP) without
     * closing its sockets is only noticed by the PING watchdog. */
    ck_assert_int_eq(ts_stack_start_redis(&stack, 0), 0);
    char *extra[] = {(char *)"--limits.redis-ping-interval-ms", (char *)"200",
                     (char *)"--limits.redis-ping-timeout-ms", (char *)"600", NULL};
    ck_assert(ts_stack_start_gateway(&stack, "node-st", extra) == 0);
    ts_ws c;
    ck_assert(ts_ws_open(&c, stack.gw[0].port, "events.critical", "node-st", 5000) == 0);
    const char *chans[] = {"PUBSUB", "CHANNELS"};
    ck_assert(ts_redis_wait_line(stack.redis.port, "events.critical", true, 5000, 2, chans) == 0);
    ts_ws *one[] = {&c};
    publish_and_expect(one, 1, 1, "before the stall");
    double rec0 = ts_metric(stack.gw[0].admin_port, "pulse_redis_reconnects_total");

    ck_assert_int_eq(ts_proc_signal(&stack.redis.proc, SIGSTOP), 0);
    int64_t t0 = ts_now_ms();
    char body[4096];
    int st = -1;
    while (ts_now_ms() - t0 < 5000) {
        st = ts_http(stack.gw[0].admin_port, "GET", "/healthz", NULL, NULL, body, sizeof body);
        if (st == 503)
            break;
        ts_sleep_ms(50);
    }
    int64_t noticed = ts_now_ms() - t0;
    /* Hold the stall well past the PONG timeout so the connection gets rebuilt. */
    ts_sleep_ms(2000 - (int)noticed > 0 ? 2000 - (int)noticed : 0);
    ts_proc_signal(&stack.redis.proc, SIGCONT);
    ck_assert_msg(st == 503, "/healthz still %d 5 s into a Redis stall (watchdog 200 ms + 600 ms)",
                  st);
    fprintf(stderr, "redis_stalled: noticed after %lld ms\n", (long long)noticed);
    ts_assert_pong(&c, "client during the stall");

    ck_assert_msg(ts_http_wait_status(stack.gw[0].admin_port, "/healthz", 200, 5000) == 0,
                  "/healthz not back to 200 within 5 s of SIGCONT");
    ck_assert(ts_redis_wait_line(stack.redis.port, "events.critical", true, 5000, 2, chans) == 0);
    double rec1 = ts_metric(stack.gw[0].admin_port, "pulse_redis_reconnects_total");
    ck_assert_msg(rec1 >= rec0 + 1, "pulse_redis_reconnects_total %g -> %g after a stall", rec0,
                  rec1);
    /* Wait until exactly one subscriber (the new connection) is there, then deliver. */
    const char *numsub[] = {"PUBSUB", "NUMSUB", "events.critical"};
    ck_assert(ts_redis_wait_line(stack.redis.port, "1", true, 5000, 3, numsub) == 0);
    gaps_seen = 0;
    publish_and_expect(one, 1, 2, "after the stall");
    ts_ws_close(&c);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("redis_restart", "redis_restart", 60, &stack, TS_FIX_DIR, 8000, NULL,
                          NULL, test_redis_restart_mid_stream, test_redis_down_at_start,
                          test_redis_stalled);
}
