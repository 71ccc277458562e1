/*
 * test_shutdown.c - graceful shutdown: on SIGTERM the gateway delivers what it has
 * queued, closes every client with 1001 and exits 0 within the drain timeout; a client
 * that cannot take its queue does not hold the exit past the drain timeout; a second
 * signal exits at once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts_check.h"
#include "ts.h"

#define N_CLIENTS 3
#define N_EVENTS 50

static ts_stack stack;

static void wait_received(const char *label, double want)
{
    char name[128];
    snprintf(name, sizeof name, "pulse_events_received_total{priority=\"%s\"}", label);
    double v = -1;
    int64_t deadline = ts_now_ms() + 10000;
    while (ts_now_ms() < deadline && (v = ts_metric(stack.gw[0].admin_port, name)) < want)
        ts_sleep_ms(20);
    ck_assert_msg(v >= want, "%s = %g before the signal (want %g)", name, v, want);
}

START_TEST(test_sigterm_drains_and_closes_1001)
{
    char *extra[] = {(char *)"--limits.drain-timeout-ms", (char *)"3000", NULL};
    ck_assert(ts_stack_start_gateway(&stack, "node-t", extra) == 0);
    ts_ws c[N_CLIENTS];
    for (int i = 0; i < N_CLIENTS; i++)
        ck_assert(ts_ws_open(&c[i], stack.gw[0].port, "events.critical", "node-t", 5000) == 0);
    static char events[N_EVENTS][1024];
    for (int i = 0; i < N_EVENTS; i++) {
        ck_assert_int_gt(ts_event_json(events[i], sizeof events[i], "SERVER_DOWN", (uint64_t)i + 1,
                                       "critical", "{\"k\":\"v\"}"),
                         0);
        ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.critical", events[i]), 1);
    }
    /* The node has them all (clients have read nothing yet). */
    wait_received("critical", N_EVENTS);

    int64_t t0 = ts_now_ms();
    ck_assert_int_eq(ts_proc_signal(&stack.gw[0].proc, SIGTERM), 0);
    for (int i = 0; i < N_CLIENTS; i++) {
        for (int e = 0; e < N_EVENTS; e++) {
            char *want = ts_envelope("events.critical", events[e]);
            char *m = NULL;
            int r = ts_ws_recv(&c[i], &m, NULL, 5000);
            ck_assert_msg(r == 1 && strcmp(m, want) == 0,
                          "client %d after SIGTERM: event %d: want %.200s\n got (%d, close %d) %.200s",
                          i, e + 1, want, r, c[i].close_code, m ? m : "(nothing)");
            free(m);
            free(want);
        }
        int code = ts_ws_wait_closed(&c[i], 5000);
        ck_assert_msg(code == 1001, "client %d: close code %d after the events (want 1001)", i,
                      code);
    }
    int st = ts_proc_wait(&stack.gw[0].proc, 3000 + 3000);
    ck_assert_msg(st == 0, "exit status after SIGTERM: %d (want 0 within drain 3 s + 3 s)", st);
    fprintf(stderr, "shutdown: exited 0 after %lld ms\n", (long long)(ts_now_ms() - t0));
    /* It unsubscribed (or at least let go of Redis). */
    const char *numsub[] = {"PUBSUB", "NUMSUB", "events.critical"};
    ck_assert(ts_redis_wait_line(stack.redis.port, "0", true, 2000, 3, numsub) == 0);
    for (int i = 0; i < N_CLIENTS; i++)
        ts_ws_close(&c[i]);
}
END_TEST

/* Fills a non-reading client's queue so the drain cannot finish. */
static void stall_one_client(ts_ws *slow)
{
    ck_assert(ts_ws_open(slow, stack.gw[0].port, "events.critical", stack.gw[0].node_id, 5000) == 0);
    char *pad = malloc(8200);
    ck_assert_ptr_nonnull(pad);
    char *ev = malloc(9000);
    ck_assert_ptr_nonnull(ev);
    int n = 2500; /* ~20 MiB: more than the socket buffers hold */
    for (int i = 0; i < n; i++) {
        snprintf(pad, 8200, "{\"pad\":\"%08000d\"}", i);
        ck_assert_int_gt(ts_event_json(ev, 9000, "FILL", (uint64_t)i + 1, "critical", pad), 0);
        ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.critical", ev), 1);
    }
    free(pad);
    free(ev);
    wait_received("critical", n);
}

START_TEST(test_drain_timeout_bounds_exit)
{
    char *extra[] = {(char *)"--limits.drain-timeout-ms", (char *)"1500",
                     (char *)"--limits.queue-hard-bytes", (char *)"268435456",
                     (char *)"--limits.queue-hard-messages", (char *)"100000",
                     (char *)"--limits.lag-limit-ms", (char *)"600000", NULL};
    ck_assert(ts_stack_start_gateway(&stack, "node-d", extra) == 0);
    ts_ws slow;
    stall_one_client(&slow);
    int64_t t0 = ts_now_ms();
    ck_assert_int_eq(ts_proc_signal(&stack.gw[0].proc, SIGTERM), 0);
    int st = ts_proc_wait(&stack.gw[0].proc, 1500 + 3000);
    int64_t took = ts_now_ms() - t0;
    ck_assert_msg(st == 0, "exit status %d %lld ms after SIGTERM with a stuck client "
                  "(want 0 within drain 1.5 s + 3 s)", st, (long long)took);
    ts_ws_close(&slow);
}
END_TEST

START_TEST(test_second_signal_exits_at_once)
{
    char *extra[] = {(char *)"--limits.drain-timeout-ms", (char *)"30000",
                     (char *)"--limits.queue-hard-bytes", (char *)"268435456",
                     (char *)"--limits.queue-hard-messages", (char *)"100000",
                     (char *)"--limits.lag-limit-ms", (char *)"600000", NULL};
    ck_assert(ts_stack_start_gateway(&stack, "node-2", extra) == 0);
    ts_ws slow;
    stall_one_client(&slow);
    ck_assert_int_eq(ts_proc_signal(&stack.gw[0].proc, SIGTERM), 0);
    ck_assert_msg(ts_proc_wait(&stack.gw[0].proc, 700) == -1,
                  "exited within 0.7 s of SIGTERM although a client's queue could not drain "
                  "(drain timeout 30 s)");
    /* Stopped accepting: a new connection is refused or not upgraded. */
    ts_ws late;
    int rc = ts_ws_connect(&late, stack.gw[0].port, "/ws", "pulse.v1");
    if (rc == 0) {
        int code = ts_ws_wait_closed(&late, 3000);
        ck_assert_msg(code == 1001 || code == 0,
                      "a connection accepted while draining was not closed (%d)", code);
        ts_ws_close(&late);
    }
    int64_t t0 = ts_now_ms();
    ck_assert_int_eq(ts_proc_signal(&stack.gw[0].proc, SIGTERM), 0);
    int st = ts_proc_wait(&stack.gw[0].proc, 2000);
    ck_assert_msg(st >= 0, "still running %lld ms after the second SIGTERM",
                  (long long)(ts_now_ms() - t0));
    ts_ws_close(&slow);
}
END_TEST

START_TEST(test_sigint_is_graceful)
{
    ck_assert(ts_stack_start_gateway(&stack, "node-i", NULL) == 0);
    ts_ws c;
    ck_assert(ts_ws_open(&c, stack.gw[0].port, "events.critical", "node-i", 5000) == 0);
    char ev[1024];
    ck_assert_int_gt(ts_event_json(ev, sizeof ev, "LAST", 1, NULL, NULL), 0);
    ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.critical", ev), 1);
    wait_received("critical", 1);
    ck_assert_int_eq(ts_proc_signal(&stack.gw[0].proc, SIGINT), 0);
    ts_assert_delivery(&c, "events.critical", ev, "events.critical");
    int code = ts_ws_wait_closed(&c, 5000);
    ck_assert_msg(code == 1001, "SIGINT: close code %d (want 1001)", code);
    int st = ts_proc_wait(&stack.gw[0].proc, 8000);
    ck_assert_msg(st == 0, "SIGINT: exit status %d (want 0)", st);
    ts_ws_close(&c);
}
END_TEST

Suite *ts_suite(void)
{
    /* The tests check the gateway's exit themselves: teardown only makes sure it is gone. */
    return ts_stack_suite("shutdown", "shutdown", 60, &stack, TS_FIX_REDIS | TS_FIX_EXIT_UNCHECKED,
                          0, NULL, NULL, test_sigterm_drains_and_closes_1001,
                          test_drain_timeout_bounds_exit, test_second_signal_exits_at_once,
                          test_sigint_is_graceful);
}
