/*
 * test_faults.c - faults around the gateway: Redis down at start (reconnect timing),
 * Redis stalled (SIGSTOP/SIGCONT: the PING watchdog, /healthz, gap notices), dead
 * peers (no pongs: closed by the heartbeat, resources released), connection churn
 * while events flow (counters and memory come back), and SIGTERM in the middle of a
 * heavy fan-out (everything delivered or counted, exit 0 within the drain timeout).
 * test_redis_restart.c covers a Redis restart mid-stream and test_slow_consumer.c the
 * 1008 path; this file does not repeat them.
 *
 * Every test ends with SIGTERM and asserts exit status 0 (the ASan/LSan build reports
 * leaks there). Figures are printed with a "faults:" prefix; docs/RELIABILITY.md
 * quotes them. PULSE_LONG_TESTS=1 makes the churn and fan-out runs ten times longer.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "ts_check.h"
#include "ts.h"
#include "ts_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define FAULTS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FAULTS_ASAN 1
#endif
#endif
#ifndef FAULTS_ASAN
#define FAULTS_ASAN 0
#endif

static ts_stack stack;     /* the tests start Redis themselves (start_redis) */
static bool redis_stopped; /* SIGSTOPped by the test */
static bool gw_exit_checked;

static bool long_tests(void)
{
    const char *v = getenv("PULSE_LONG_TESTS");
    return v != NULL && v[0] == '1';
}

/* Around the stack's fixture (its setup runs first, its teardown last). */
static void setup(void)
{
    redis_stopped = gw_exit_checked = false;
}

static void teardown(void)
{
    if (redis_stopped)
        kill(stack.redis.proc.pid, SIGCONT);
    if (stack.gw_started[0] && gw_exit_checked) {
        ts_gateway_stop(&stack.gw[0]); /* the test asserted its exit status already */
        stack.gw_started[0] = false;
    }
}

static void start_redis(int port)
{
    ck_assert_int_eq(ts_stack_start_redis(&stack, port), 0);
}

static void start_gateway(const char *node, char *const extra[])
{
    ck_assert(ts_stack_start_gateway(&stack, node, extra) == 0);
}

/* Polls a metric until it equals want (up to timeout_ms); returns the last value. */
static double wait_metric(const char *name, double want, int timeout_ms)
{
    double v = -1;
    int64_t deadline = ts_now_ms() + timeout_ms;
    while ((v = ts_metric(stack.gw[0].admin_port, name)) != want && ts_now_ms() < deadline)
        ts_sleep_ms(20);
    return v;
}

/* Publishes one event on channel; the exact envelope the clients must get (malloc'd). */
static char *publish(const char *channel, const char *type, uint64_t seq, const char *prio, long want_receivers)
{
    char ev[1024];
    ck_assert_int_gt(ts_event_json(ev, sizeof ev, type, seq, prio, NULL), 0);
    long r = ts_redis_publish(stack.redis.port, channel, ev);
    ck_assert_msg(r == want_receivers, "PUBLISH %s seq %llu reached %ld nodes (want %ld)", channel,
                  (unsigned long long)seq, r, want_receivers);
    return ts_envelope(channel, ev);
}

static void expect_msg(ts_ws *c, const char *want, const char *who)
{
    char *m = NULL;
    int r = ts_ws_recv(c, &m, NULL, 5000);
    ck_assert_msg(r == 1 && m != NULL && strcmp(m, want) == 0, "%s: want %.200s\n got (%d, close %d) %.200s", who,
                  want, r, c->close_code, m ? m : "(nothing)");
    free(m);
}

static void sigterm_expect_exit0(int within_ms, int64_t *took_ms)
{
    int64_t t0 = ts_now_ms();
    ck_assert_int_eq(ts_proc_signal(&stack.gw[0].proc, SIGTERM), 0);
    int st = ts_proc_wait(&stack.gw[0].proc, within_ms);
    int64_t dt = ts_now_ms() - t0;
    gw_exit_checked = true;
    if (took_ms)
        *took_ms = dt;
    if (st != 0)
        ts_proc_dump_log(&stack.gw[0].proc, "gateway (bad exit)");
    ck_assert_msg(st == 0, "gateway exit status %d %lld ms after SIGTERM (want 0 within %d ms)", st, (long long)dt,
                  within_ms);
}

/* ---------------------------------------------------------------------------------- */

START_TEST(test_redis_down_at_start_timing)
{
    int port = ts_free_port();
    ck_assert_int_gt(port, 0);
    stack.redis.port = port;
    start_gateway("node-f1", NULL); /* default backoff cap: 1000 ms */
    char body[2048];
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "GET", "/healthz", NULL, NULL, body, sizeof body), 503);
    json_t *o = json_loads(body, 0, NULL);
    const char *reason = json_string_value(json_object_get(o, "reason"));
    fprintf(stderr, "faults: redis down at start: /healthz 503 %s", body);
    ck_assert_msg(reason != NULL && strstr(reason, "unreachable") != NULL, "503 reason: %s", body);
    json_decref(o);
    ts_ws c;
    ck_assert_int_eq(ts_ws_connect(&c, stack.gw[0].port, "/ws?channels=events.critical", "pulse.v1"), 0);
    char *m = ts_ws_recv_until(&c, "\"hello\"", 5000);
    ck_assert_ptr_nonnull(m);
    free(m);
    ts_sleep_ms(2500); /* long enough for the backoff to reach its cap */
    ck_assert(ts_ws_usable(&c));
    int64_t t0 = ts_now_ms();
    start_redis(port);
    ck_assert_int_eq(ts_http_wait_status(stack.gw[0].admin_port, "/healthz", 200, 5000), 0);
    int64_t up_ms = ts_now_ms() - t0;
    m = ts_ws_recv_until(&c, "\"subscribed\"", 5000);
    ck_assert_msg(m != NULL, "no subscribed ack after Redis appeared");
    free(m);
    int64_t sub_ms = ts_now_ms() - t0;
    fprintf(stderr, "faults: redis down at start: /healthz 200 %lld ms and the pending subscription acked %lld ms "
            "after redis-server was started (backoff cap 1000 ms)\n",
            (long long)up_ms, (long long)sub_ms);
    ck_assert_msg(up_ms <= 2500, "/healthz 200 only %lld ms after Redis came up (cap 1000 ms + start-up)",
                  (long long)up_ms);
    char *want = publish("events.critical", "AFTER_START", 1, "critical", 1);
    expect_msg(&c, want, "client connected before Redis existed");
    free(want);
    ts_ws_close(&c);
    sigterm_expect_exit0(8000, NULL);
}
END_TEST

/* ---------------------------------------------------------------------------------- */

START_TEST(test_redis_stall_sigstop)
{
    start_redis(0);
    char *extra[] = {(char *)"--limits.redis-ping-interval-ms", (char *)"200", (char *)"--limits.redis-ping-timeout-ms",
                     (char *)"1000", NULL};
    start_gateway("node-f2", extra);
    ts_ws a, b;
    ck_assert(ts_ws_open(&a, stack.gw[0].port, "events.critical", "node-f2", 5000) == 0);
    ck_assert(ts_ws_open(&b, stack.gw[0].port, "events.critical,feed.stall", "node-f2", 5000) == 0);
    ck_assert_int_eq(ts_http_wait_status(stack.gw[0].admin_port, "/healthz", 200, 3000), 0);
    char *want = publish("events.critical", "BEFORE_STALL", 1, "critical", 1);
    expect_msg(&a, want, "a before the stall");
    expect_msg(&b, want, "b before the stall");
    free(want);
    double rec0 = ts_metric(stack.gw[0].admin_port, "pulse_redis_reconnects_total");
    ck_assert(rec0 >= 0);

    ck_assert_int_eq(kill(stack.redis.proc.pid, SIGSTOP), 0);
    redis_stopped = true;
    int64_t t_stop = ts_now_ms();
    char body[2048];
    int st = -1;
    while (ts_now_ms() - t_stop < 5000 &&
           (st = ts_http(stack.gw[0].admin_port, "GET", "/healthz", NULL, NULL, body, sizeof body)) != 503)
        ts_sleep_ms(20);
    int64_t t503 = ts_now_ms() - t_stop;
    ck_assert_msg(st == 503, "/healthz %d within 5 s of SIGSTOP (want 503)", st);
    json_t *o = json_loads(body, 0, NULL);
    const char *reason = json_string_value(json_object_get(o, "reason"));
    ck_assert_msg(reason != NULL && reason[0] != '\0', "503 without a reason: %s", body);
    fprintf(stderr, "faults: redis SIGSTOP: /healthz 503 after %lld ms: %s", (long long)t503, body);
    json_decref(o);
    ck_assert_msg(t503 <= 2000, "stall reported after %lld ms (ping interval 200, timeout 1000)", (long long)t503);

    /* The WebSocket side keeps working during the stall, new clients included. */
    ck_assert(ts_ws_usable(&a));
    ts_ws during;
    ck_assert_int_eq(ts_ws_connect(&during, stack.gw[0].port, "/ws?channels=events.critical", "pulse.v1"), 0);
    char *m = ts_ws_recv_until(&during, "\"hello\"", 5000);
    ck_assert_ptr_nonnull(m);
    free(m);
    ts_sleep_ms(2500); /* past the watchdog timeout: connections dropped, retries hang */
    ck_assert(ts_ws_usable(&b));
    ck_assert(ts_metric(stack.gw[0].admin_port, "pulse_redis_connected") == 0);
    /* the reason after the watchdog fired */
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "GET", "/healthz", NULL, NULL, body, sizeof body), 503);
    fprintf(stderr, "faults: redis SIGSTOP: /healthz after 2.5 s more: %s", body);

    ck_assert_int_eq(kill(stack.redis.proc.pid, SIGCONT), 0);
    redis_stopped = false;
    int64_t t_cont = ts_now_ms();
    ck_assert_msg(ts_http_wait_status(stack.gw[0].admin_port, "/healthz", 200, 5000) == 0, "/healthz not 200 within 5 s of SIGCONT");
    int64_t t200 = ts_now_ms() - t_cont;
    /* the gap notices, one per channel per client */
    char *g1 = ts_ws_recv_until(&a, "\"gap\"", 5000);
    int64_t tgap = ts_now_ms() - t_cont;
    ck_assert_msg(g1 != NULL && strcmp(g1, "{\"op\":\"gap\",\"channel\":\"events.critical\",\"reason\":\"redis_reconnect\"}") == 0,
                  "client a: gap notice: %s", g1 ? g1 : "(nothing)");
    free(g1);
    int gaps_b = 0;
    bool gap_crit = false, gap_feed = false;
    for (int i = 0; i < 2; i++) {
        char *g = ts_ws_recv_until(&b, "\"gap\"", 5000);
        if (g == NULL)
            break;
        gaps_b++;
        gap_crit |= strstr(g, "\"events.critical\"") != NULL;
        gap_feed |= strstr(g, "\"feed.stall\"") != NULL;
        free(g);
    }
    ck_assert_msg(gaps_b == 2 && gap_crit && gap_feed, "client b: %d gap notices (critical %d, feed %d); want one per channel",
                  gaps_b, gap_crit, gap_feed);
    double rec1 = ts_metric(stack.gw[0].admin_port, "pulse_redis_reconnects_total");
    fprintf(stderr, "faults: redis SIGCONT: /healthz 200 after %lld ms, gap notice after %lld ms, "
            "pulse_redis_reconnects_total %g -> %g\n",
            (long long)t200, (long long)tgap, rec0, rec1);
    ck_assert_msg(t200 <= 2000, "/healthz 200 only %lld ms after SIGCONT (want <= 2000)", (long long)t200);
    ck_assert_msg(rec1 >= rec0 + 1, "pulse_redis_reconnects_total %g -> %g (want +1)", rec0, rec1);
    const char *chans[] = {"PUBSUB", "CHANNELS"};
    ck_assert(ts_redis_wait_line(stack.redis.port, "feed.stall", true, 5000, 2, chans) == 0);
    ck_assert(ts_redis_wait_line(stack.redis.port, "events.critical", true, 5000, 2, chans) == 0);
    /* events after the recovery reach everyone, the client that came during the stall too */
    m = ts_ws_recv_until(&during, "\"subscribed\"", 5000);
    ck_assert_msg(m != NULL, "the client that connected during the stall never got its subscription");
    free(m);
    for (uint64_t s = 2; s <= 4; s++) {
        want = publish("events.critical", "AFTER_STALL", s, "critical", 1);
        expect_msg(&a, want, "a after SIGCONT");
        expect_msg(&b, want, "b after SIGCONT");
        char *d = ts_ws_recv_until(&during, "AFTER_STALL", 5000);
        ck_assert_msg(d != NULL && strcmp(d, want) == 0, "client from the stall: %s", d ? d : "(nothing)");
        free(d);
        free(want);
    }
    want = publish("feed.stall", "AFTER_STALL", 5, "normal", 1);
    expect_msg(&b, want, "b on feed.stall after SIGCONT");
    free(want);
    ts_ws_close(&a);
    ts_ws_close(&b);
    ts_ws_close(&during);
    sigterm_expect_exit0(8000, NULL);
}
END_TEST

/* ---------------------------------------------------------------------------------- */

START_TEST(test_dead_peer)
{
    start_redis(0);
    char *extra[] = {(char *)"--limits.heartbeat-interval-s", (char *)"1", (char *)"--limits.heartbeat-timeout-s",
                     (char *)"1", NULL};
    start_gateway("node-f3", extra);
    /* A live idle client that answers pings (it reads). */
    ts_ws live;
    ck_assert(ts_ws_open(&live, stack.gw[0].port, "events.critical", "node-f3", 5000) == 0);
    /* A client in another process that reads (answers pings) until we freeze it. */
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        ts_ws c;
        if (ts_ws_open(&c, stack.gw[0].port, "dead.frozen", "node-f3", 5000) != 0)
            _exit(2);
        int64_t end = ts_now_ms() + 30000; /* bounded: the parent kills us long before */
        while (ts_now_ms() < end) {
            char *m = NULL;
            if (ts_ws_recv(&c, &m, NULL, 200) < 0)
                _exit(3);
            free(m);
        }
        _exit(0);
    }
    ck_assert_msg(wait_metric("pulse_connections_active", 2, 5000) == 2, "the child client did not connect");
    /* 3 s: heartbeats go both ways; nobody is closed */
    for (int i = 0; i < 30; i++) {
        char *m = NULL;
        int r = ts_ws_recv(&live, &m, NULL, 100);
        free(m);
        ck_assert_msg(r == 0 || r == 1, "live client lost during heartbeats (%d, close %d)", r, live.close_code);
    }
    ck_assert_msg(ts_metric(stack.gw[0].admin_port, "pulse_connections_active") == 2,
                  "a client answering pings was closed (active %g)", ts_metric(stack.gw[0].admin_port, "pulse_connections_active"));
    /* Now: freeze the child, and open a raw client that never reads a byte. */
    ts_ws mute;
    ck_assert(ts_ws_open(&mute, stack.gw[0].port, "dead.mute", "node-f3", 5000) == 0);
    ck_assert_int_eq(kill(child, SIGSTOP), 0);
    int64_t t0 = ts_now_ms();
    const char *chans[] = {"PUBSUB", "CHANNELS"};
    ck_assert(ts_redis_wait_line(stack.redis.port, "dead.frozen", true, 3000, 2, chans) == 0);
    double active = -1;
    int64_t t_gone = -1;
    for (int i = 0; i < 400 && ts_now_ms() - t0 < 8000; i++) {
        char *m = NULL;
        (void)ts_ws_recv(&live, &m, NULL, 20); /* the live one keeps answering */
        free(m);
        active = ts_metric(stack.gw[0].admin_port, "pulse_connections_active");
        if (active == 1) {
            t_gone = ts_now_ms() - t0;
            break;
        }
    }
    fprintf(stderr, "faults: dead peers (SIGSTOPped process, raw client that never reads): both closed %lld ms "
            "after going silent (heartbeat interval 1 s + timeout 1 s)\n",
            (long long)t_gone);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    ck_assert_msg(active == 1, "dead peers still counted after 8 s (active %g, want 1)", active);
    ck_assert_msg(t_gone <= 2000 + 2000, "dead peers closed after %lld ms (want <= 4000)", (long long)t_gone);
    /* their subscriptions are released */
    ck_assert_msg(ts_redis_wait_line(stack.redis.port, "dead.frozen", false, 3000, 2, chans) == 0,
                  "dead.frozen still subscribed in Redis after its only client died");
    ck_assert(ts_redis_wait_line(stack.redis.port, "dead.mute", false, 3000, 2, chans) == 0);
    ck_assert_msg(wait_metric("pulse_channels_active", 1, 3000) == 1, "pulse_channels_active %g (want 1)",
                  ts_metric(stack.gw[0].admin_port, "pulse_channels_active"));
    /* the mute client's socket was closed by the gateway */
    int code = ts_ws_wait_closed(&mute, 3000);
    ck_assert_msg(code != -1, "the mute client's socket is still open");
    ts_ws_close(&mute);
    /* the live client is still served */
    char *want = publish("events.critical", "AFTER_DEAD", 1, "critical", 1);
    char *m = ts_ws_recv_until(&live, "AFTER_DEAD", 5000);
    ck_assert_msg(m != NULL && strcmp(m, want) == 0, "live client after the dead peers: %s", m ? m : "(nothing)");
    free(m);
    free(want);
    ts_ws_close(&live);
    sigterm_expect_exit0(8000, NULL);
}
END_TEST

/* ---------------------------------------------------------------------------------- */

static void linger_rst(ts_ws *c)
{
    struct linger lg = {1, 0};
    if (c->fd >= 0)
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

START_TEST(test_churn)
{
    start_redis(0);
    start_gateway("node-f4", NULL);
    ts_ws watcher;
    ck_assert(ts_ws_open(&watcher, stack.gw[0].port, "events.critical", "node-f4", 5000) == 0);
    const int total = long_tests() ? 20000 : 2000;
    const int warmup = 200;
    int connected = 0, failed = 0, published = 0, watcher_got = 0;
    uint64_t seq = 0;
    long rss_before = -1;
    double total0 = -1;
    int64_t t0 = ts_now_ms(), t_churn = 0;
    const int64_t budget_ms = long_tests() ? 200000 : 20000;
    char ev[1024];
    int i;
    for (i = 0; i < warmup + total && ts_now_ms() - t0 < budget_ms; i++) {
        if (i == warmup) {
            /* measure after a warm-up, so allocator pools are already sized */
            ck_assert_msg(wait_metric("pulse_connections_active", 1, 5000) == 1, "warm-up connections linger");
            rss_before = ts_proc_rss_kib(stack.gw[0].proc.pid);
            /* the worker counts a connection just after its 101 leaves, so the last
             * warm-up client may be gone (active back to 1) before it is counted: read
             * the total once it holds still */
            total0 = ts_metric(stack.gw[0].admin_port, "pulse_connections_total");
            for (int k = 0; k < 50; k++) {
                ts_sleep_ms(100);
                double again = ts_metric(stack.gw[0].admin_port, "pulse_connections_total");
                if (again == total0)
                    break;
                total0 = again;
            }
            connected = 0;
            t_churn = ts_now_ms();
        }
        char path[128];
        snprintf(path, sizeof path, "/ws?channels=churn.%d,events.critical%s", i % 50, i % 7 == 0 ? "&batch=1" : "");
        ts_ws c;
        int rc = ts_ws_connect(&c, stack.gw[0].port, path, "pulse.v1");
        if (rc != 0) {
            failed++;
            continue;
        }
        connected++;
        switch (i % 5) {
        case 0: /* subscribe more, wait for the answer, RST */
        {
            char cmd[128];
            snprintf(cmd, sizeof cmd, "{\"op\":\"subscribe\",\"channel\":\"churn.x.%d\"}", i % 20);
            ts_ws_send_text(&c, cmd);
            char *m = ts_ws_recv_until(&c, "churn.x.", 2000);
            free(m);
            linger_rst(&c);
            break;
        }
        case 1: /* a half-sent fragmented message, RST */
            ts_ws_send_frame(&c, 1, false, "{\"op\":\"subscr", 13);
            linger_rst(&c);
            break;
        case 2: /* a polite close */
            ts_ws_send_frame(&c, 8, true, "\x03\xe8", 2);
            break;
        case 3: /* subscribe and vanish without reading (FIN) */
            ts_ws_send_text(&c, "{\"op\":\"subscribe\",\"channel\":\"churn.y\"}");
            break;
        default: /* connect and drop at once */
            break;
        }
        ts_ws_close(&c);
        if (i % 25 == 0) {
            ck_assert_int_gt(ts_event_json(ev, sizeof ev, "CHURN", ++seq, "critical", NULL), 0);
            ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.critical", ev), 1);
            ck_assert_int_gt(ts_event_json(ev, sizeof ev, "CHURN", seq, "normal", NULL), 0);
            (void)ts_redis_publish(stack.redis.port, "churn.3", ev);
            published++;
        }
        /* the watcher keeps up */
        for (;;) {
            char *m = NULL;
            int r = ts_ws_recv(&watcher, &m, NULL, 0);
            if (r == 1 && strstr(m, "\"CHURN\"") != NULL)
                watcher_got++;
            free(m);
            ck_assert_msg(r >= 0 && r != 8, "the watcher was closed during the churn (close %d)", watcher.close_code);
            if (r == 0)
                break;
        }
    }
    int64_t churn_ms = ts_now_ms() - t_churn;
    for (int k = 0; k < 1000 && watcher_got < published; k++) {
        char *m = NULL;
        int r = ts_ws_recv(&watcher, &m, NULL, 5000);
        if (r == 1 && strstr(m, "\"CHURN\"") != NULL)
            watcher_got++;
        free(m);
        if (r <= 0 || r == 8)
            break;
    }
    ck_assert_msg(ts_proc_wait(&stack.gw[0].proc, 0) == -1, "the gateway died during the churn");
    double active = wait_metric("pulse_connections_active", 1, 5000);
    double total1 = ts_metric(stack.gw[0].admin_port, "pulse_connections_total");
    const char *chans[] = {"PUBSUB", "CHANNELS"};
    char out[8192] = "";
    int64_t deadline = ts_now_ms() + 5000;
    while (ts_now_ms() < deadline) {
        ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 2, chans), 0);
        if (strstr(out, "churn") == NULL)
            break;
        ts_sleep_ms(50);
    }
    double chans_active = wait_metric("pulse_channels_active", 1, 5000);
    ts_sleep_ms(300);
    long rss_after = ts_proc_rss_kib(stack.gw[0].proc.pid);
    long bound = FAULTS_ASAN ? 512 * 1024 : 8 * 1024;
    fprintf(stderr, "faults: churn: %d connects (+%d warm-up, %d failed) in %lld ms with subscribes and abrupt "
            "closes, %d events published: watcher got %d; connections_active back to %g, connections_total +%g; "
            "RSS %ld -> %ld KiB (bound +%ld)\n",
            connected, warmup, failed, (long long)churn_ms, published, watcher_got, active, total1 - total0,
            rss_before, rss_after, bound);
    ck_assert_msg(failed == 0, "%d of the churn connects failed", failed);
    ck_assert_msg(i == warmup + total, "the churn loop ran out of time after %d of %d connects", i, warmup + total);
    ck_assert_msg(watcher_got == published, "the watcher got %d of %d events during the churn", watcher_got,
                  published);
    ck_assert_msg(active == 1, "pulse_connections_active %g after the churn (want 1, the watcher)", active);
    ck_assert_msg(total1 - total0 == connected, "pulse_connections_total grew by %g, %d connects were accepted",
                  total1 - total0, connected);
    ck_assert_msg(strstr(out, "churn") == NULL, "churn channels still subscribed in Redis: %s", out);
    ck_assert_msg(chans_active == 1, "pulse_channels_active %g after the churn (want 1)", chans_active);
    ck_assert_msg(rss_after - rss_before < bound, "gateway RSS %ld -> %ld KiB over the churn (bound +%ld)", rss_before,
                  rss_after, bound);
    ck_assert(ts_ws_usable(&watcher));
    ts_ws_close(&watcher);
    sigterm_expect_exit0(8000, NULL);
}
END_TEST

/* ---------------------------------------------------------------------------------- */

/* Publishes n events (pipelined, one connection) alternating between two channels;
 * data_bytes of padding each. Returns how many Redis acknowledged. */
static int publish_burst(int port, const char *ch_a, const char *ch_b, int n, size_t data_bytes)
{
    int fd = ts__connect(port, 5000);
    ck_assert_int_ge(fd, 0);
    char *pad = malloc(data_bytes + 1);
    ck_assert_ptr_nonnull(pad);
    memset(pad, 'x', data_bytes);
    pad[data_bytes] = '\0';
    char *data = malloc(data_bytes + 32);
    ck_assert_ptr_nonnull(data);
    snprintf(data, data_bytes + 32, "{\"pad\":\"%s\"}", pad);
    size_t cap = data_bytes + 2048;
    char *ev = malloc(cap), *cmd = malloc(cap + 256);
    ck_assert(ev && cmd);
    int64_t deadline = ts_now_ms() + 20000;
    for (int i = 0; i < n; i++) {
        const char *ch = i % 2 ? ch_b : ch_a;
        int el = ts_event_json(ev, cap, "FANOUT", (uint64_t)i + 1, i % 2 ? "normal" : "critical", data);
        ck_assert_int_gt(el, 0);
        int cl = snprintf(cmd, cap + 256, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%d\r\n%s\r\n", strlen(ch), ch, el, ev);
        ck_assert_int_eq(ts__send_all(fd, cmd, (size_t)cl, deadline), 0);
    }
    /* n integer replies */
    int replies = 0;
    char buf[65536];
    while (replies < n && ts__wait_readable(fd, deadline) > 0) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0)
            break;
        for (ssize_t k = 0; k < r; k++)
            if (buf[k] == '\n')
                replies++;
    }
    close(fd);
    free(pad);
    free(data);
    free(ev);
    free(cmd);
    return replies;
}

/* Parses "key=N" from the final counters line. */
static unsigned long long field(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

START_TEST(test_sigterm_heavy_fanout)
{
    start_redis(0);
    const int drain_ms = 2000;
    char *extra[] = {(char *)"--limits.drain-timeout-ms", (char *)"2000", NULL};
    start_gateway("node-f5", extra);
    enum { READERS = 8, CLIENTS = READERS + 1 };
    ts_ws c[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        ck_assert(ts_ws_open(&c[i], stack.gw[0].port, "events.critical,fan.normal", "node-f5", 5000) == 0);
    const int n_events = long_tests() ? 20000 : 2000;
    const size_t pad = 2048;
    int64_t t_pub = ts_now_ms();
    int acked = publish_burst(stack.redis.port, "events.critical", "fan.normal", n_events, pad);
    ck_assert_int_eq(acked, n_events);
    int64_t pub_ms = ts_now_ms() - t_pub;
    int got[CLIENTS] = {0};
    int got_crit[CLIENTS] = {0};
    bool closed[CLIENTS] = {false};
    int close_code[CLIENTS] = {0};
    /* The readers read while the node takes the burst; the last client never reads. */
    int64_t deadline = ts_now_ms() + 15000;
    double received = 0;
    for (int guard = 0; guard < 1000000 && ts_now_ms() < deadline; guard++) {
        for (int i = 0; i < READERS; i++) {
            char *m = NULL;
            int r = ts_ws_recv(&c[i], &m, NULL, 0);
            if (r == 1) {
                got[i]++;
                got_crit[i] += strstr(m, "\"priority\":\"critical\"") != NULL;
            }
            free(m);
        }
        if (guard % 200 == 0) {
            received = ts_metric_sum(stack.gw[0].admin_port, "pulse_events_received_total");
            if (received >= n_events)
                break;
        }
    }
    ck_assert_msg(received == n_events, "the node received %g of %d events", received, n_events);
    /* Scrape right before the signal, then SIGTERM while deliveries are in flight. */
    double dlv_pre = ts_metric_sum(stack.gw[0].admin_port, "pulse_deliveries_total");
    double drop_pre = ts_metric_sum(stack.gw[0].admin_port, "pulse_dropped_total");
    int64_t t_term = ts_now_ms();
    ck_assert_int_eq(ts_proc_signal(&stack.gw[0].proc, SIGTERM), 0);
    int open_left = READERS;
    for (int guard = 0; guard < 10000000 && open_left > 0 && ts_now_ms() - t_term < drain_ms + 5000; guard++) {
        for (int i = 0; i < READERS; i++) {
            if (closed[i])
                continue;
            char *m = NULL;
            int r = ts_ws_recv(&c[i], &m, NULL, 0);
            if (r == 1) {
                got[i]++;
                got_crit[i] += strstr(m, "\"priority\":\"critical\"") != NULL;
            } else if (r == 8 || r < 0) {
                closed[i] = true;
                close_code[i] = c[i].close_code;
                open_left--;
            }
            free(m);
        }
    }
    int st = ts_proc_wait(&stack.gw[0].proc, drain_ms + 5000);
    int64_t exit_ms = ts_now_ms() - t_term;
    gw_exit_checked = true;
    /* The silent client: what the kernel took counts as delivered by the gateway. */
    int64_t readers_total = 0;
    int min_crit = n_events, min_got = 2 * n_events;
    for (int i = 0; i < READERS; i++) {
        readers_total += got[i];
        if (got_crit[i] < min_crit)
            min_crit = got_crit[i];
        if (got[i] < min_got)
            min_got = got[i];
    }
    char line[1024] = "";
    FILE *f = fopen(stack.gw[0].proc.log_path, "r");
    ck_assert_ptr_nonnull(f);
    char l[1024];
    while (fgets(l, sizeof l, f) != NULL)
        if (strstr(l, "final counters:") != NULL)
            snprintf(line, sizeof line, "%s", l);
    fclose(f);
    unsigned long long rc = field(line, "received critical="), rn = field(line, "normal=");
    unsigned long long dc = field(line, "delivered critical="), dn = 0;
    const char *dpos = strstr(line, "delivered critical=");
    if (dpos)
        dn = field(dpos, "normal=");
    unsigned long long dq = field(line, "queue_full="), ds = field(line, "superseded="),
                       dsc = field(line, "slow_consumer="), dsh = field(line, "shutdown=");
    unsigned long long expected = (rc + rn) * CLIENTS;
    unsigned long long accounted = dc + dn + dq + ds + dsc + dsh;
    fprintf(stderr, "faults: SIGTERM during fan-out: %d events x %zu B published in %lld ms to %d clients (%d reading, "
            "1 silent); before SIGTERM: delivered %g, dropped %g; exit status %d after %lld ms (drain timeout %d ms); "
            "readers got %lld (min %d per reader, min %d of %d critical); final: %s",
            n_events, pad, (long long)pub_ms, CLIENTS, READERS, dlv_pre, drop_pre, st, (long long)exit_ms, drain_ms,
            (long long)readers_total, min_got, min_crit, n_events / 2, line[0] ? line : "(no final counters line)\n");
    ck_assert_msg(st == 0, "exit status %d after SIGTERM (want 0)", st);
    ck_assert_msg(exit_ms <= drain_ms + 3000, "exit took %lld ms (drain timeout %d ms)", (long long)exit_ms, drain_ms);
    ck_assert_msg(line[0] != '\0', "no 'final counters' line in the gateway log");
    ck_assert_msg(rc + rn == (unsigned long long)n_events, "final received %llu (want %d)", rc + rn, n_events);
    ck_assert_msg(accounted == expected,
                  "every event x subscriber must be delivered or counted as dropped: delivered %llu + dropped %llu = %llu, "
                  "want %llu",
                  dc + dn, dq + ds + dsc + dsh, accounted, expected);
    ck_assert_msg(dlv_pre <= (double)(dc + dn) && drop_pre <= (double)(dq + ds + dsc + dsh),
                  "counters went backwards between the scrape and the final line");
    ck_assert_msg((unsigned long long)readers_total <= dc + dn, "readers got %lld, more than the %llu delivered",
                  (long long)readers_total, dc + dn);
    for (int i = 0; i < READERS; i++) {
        ck_assert_msg(closed[i] && (close_code[i] == 1001 || close_code[i] == 0),
                      "reader %d: closed %d with %d (want 1001)", i, closed[i], close_code[i]);
        /* A reader never loses a critical event (policy never; it keeps up). */
        ck_assert_msg(got_crit[i] == n_events / 2, "reader %d got %d of %d critical events", i, got_crit[i],
                      n_events / 2);
    }
    for (int i = 0; i < CLIENTS; i++)
        ts_ws_close(&c[i]);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("faults", "faults", long_tests() ? 600 : 90, &stack, TS_FIX_DIR, 10000,
                          setup, teardown, test_redis_down_at_start_timing,
                          test_redis_stall_sigstop, test_dead_peer, test_churn,
                          test_sigterm_heavy_fanout);
}
