/*
 * test_slow_consumer.c - the delivery policy under a client that stops reading.
 * Critical events (events.critical, policy never): the slow client's queue grows past
 * the hard bound, it is closed with 1008 (or killed when the close frame cannot get
 * through) and counted in pulse_slow_consumers_total; what it did get is a gap-free
 * prefix of the stream; the two reading clients get every event. Normal events (policy
 * drop): the slow client loses events, counted in pulse_dropped_total, but stays
 * connected, and what it gets is in order, each run of lost events told by one
 * {"op":"gap",...,"reason":"dropped"}; the reading client gets everything.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "ts_check.h"
#include "ts.h"

#define N_EVENTS 3000
#define PAD_BYTES 8000

static ts_stack stack;
static char **events;    /* N_EVENTS published payloads */
static char **envelopes; /* what a client must receive for each */
static int n_events = N_EVENTS;

static void make_events(const char *channel, const char *priority)
{
    static char pad[PAD_BYTES + 32];
    events = calloc(n_events, sizeof *events);
    envelopes = calloc(n_events, sizeof *envelopes);
    ck_assert(events != NULL && envelopes != NULL);
    for (int i = 0; i < n_events; i++) {
        snprintf(pad, sizeof pad, "{\"i\":%d,\"pad\":\"%0*d\"}", i, PAD_BYTES - 32, i);
        size_t cap = PAD_BYTES + 1024;
        events[i] = malloc(cap);
        ck_assert(events[i] != NULL);
        ck_assert_int_gt(ts_event_json(events[i], cap, "LOAD", (uint64_t)i + 1, priority, pad), 0);
        envelopes[i] = ts_envelope(channel, events[i]);
    }
}

/* Publishes all events over one connection, in bursts, so the stream is fast but the
 * reading clients (and the publisher's own PUBLISH round trips) keep up. */
static void publish_all(const char *channel, long want_receivers)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", stack.redis.port, tv);
    ck_assert(c != NULL && c->err == 0);
    redisSetTimeout(c, tv);
    for (int i = 0; i < n_events; i++) {
        redisReply *r = redisCommand(c, "PUBLISH %s %s", channel, events[i]);
        ck_assert_msg(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == want_receivers,
                      "PUBLISH %d: reply %lld (want %ld receivers)", i,
                      r != NULL ? (long long)r->integer : -1LL, want_receivers);
        freeReplyObject(r);
        /* ~1000 events/s (8 MB/s per client): a steady stream a reading client can
         * take with a 1 MiB hard bound; at ~5000/s the gateway cannot write 8 KiB
         * frames fast enough and closes readers too (see the report). */
        if (i % 5 == 4)
            ts_sleep_ms(4);
    }
    redisFree(c);
}

typedef struct {
    ts_ws *w;
    int got;            /* messages matching the stream in order */
    char failure[512];  /* first problem, "" when none */
} reader;

static void *read_all(void *arg)
{
    reader *rd = arg;
    while (rd->got < n_events) {
        char *m = NULL;
        int r = ts_ws_recv(rd->w, &m, NULL, 10000);
        if (r != 1) {
            snprintf(rd->failure, sizeof rd->failure,
                     "recv returned %d (close code %d) after %d of %d events", r,
                     rd->w->close_code, rd->got, n_events);
            free(m);
            break;
        }
        if (strcmp(m, envelopes[rd->got]) != 0) {
            snprintf(rd->failure, sizeof rd->failure, "event %d: got %.160s...", rd->got + 1, m);
            free(m);
            break;
        }
        free(m);
        rd->got++;
    }
    return NULL;
}

static double metric_poll(const char *name, double at_least, int timeout_ms)
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    double v = -1;
    for (;;) {
        v = ts_metric(stack.gw[0].admin_port, name);
        if (v >= at_least || ts_now_ms() >= deadline)
            return v;
        ts_sleep_ms(50);
    }
}

static void free_events(void)
{
    for (int i = 0; i < n_events; i++) {
        free(events[i]);
        free(envelopes[i]);
    }
    free(events);
    free(envelopes);
}

START_TEST(test_critical_slow_consumer_closed)
{
    char *extra[] = {(char *)"--limits.queue-max-messages", (char *)"64",
                     (char *)"--limits.queue-hard-messages", (char *)"256",
                     (char *)"--limits.queue-max-bytes", (char *)"262144",
                     (char *)"--limits.queue-hard-bytes", (char *)"1048576",
                     (char *)"--limits.lag-limit-ms", (char *)"3000", NULL};
    ck_assert(ts_stack_start_gateway(&stack, "node-slow", extra) == 0);
    make_events("events.critical", "critical");

    ts_ws slow, fast[2];
    ck_assert(ts_ws_open(&slow, stack.gw[0].port, "events.critical", "node-slow", 5000) == 0);
    for (int i = 0; i < 2; i++)
        ck_assert(ts_ws_open(&fast[i], stack.gw[0].port, "events.critical", "node-slow", 5000) == 0);
    reader rd[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        rd[i] = (reader){.w = &fast[i]};
        ck_assert_int_eq(pthread_create(&th[i], NULL, read_all, &rd[i]), 0);
    }
    int64_t t0 = ts_now_ms();
    publish_all("events.critical", 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    fprintf(stderr, "slow_consumer: %d events x %d bytes published and read in %lld ms\n",
            n_events, PAD_BYTES, (long long)(ts_now_ms() - t0));
    for (int i = 0; i < 2; i++)
        ck_assert_msg(rd[i].failure[0] == '\0' && rd[i].got == n_events,
                      "reading client %d: %s (got %d of %d)", i, rd[i].failure, rd[i].got,
                      n_events);

    double slow_n = metric_poll("pulse_slow_consumers_total", 1, 10000);
    ck_assert_msg(slow_n >= 1, "pulse_slow_consumers_total = %g (want >= 1)", slow_n);

    /* The slow client finally reads: a gap-free prefix, then 1008 or EOF. */
    int got = 0;
    int end = -2;
    int64_t deadline = ts_now_ms() + 30000;
    while (ts_now_ms() < deadline) {
        char *m = NULL;
        int r = ts_ws_recv(&slow, &m, NULL, 10000);
        if (r == 1) {
            ck_assert_msg(got < n_events && strcmp(m, envelopes[got]) == 0,
                          "slow client: message %d is not event %d: %.160s", got + 1, got + 1, m);
            got++;
            free(m);
            continue;
        }
        free(m);
        end = r == 8 ? slow.close_code : r;
        break;
    }
    fprintf(stderr, "slow_consumer: slow client got %d events, then %d\n", got, end);
    ck_assert_msg(end == 1008 || end == -1,
                  "slow client: want close 1008 or EOF after its events, got %d (0 = timeout)", end);
    ck_assert_msg(got < n_events, "slow client got all %d events: never cut off", n_events);
    ts_ws_close(&slow);

    double active = -1;
    deadline = ts_now_ms() + 5000;
    while (ts_now_ms() < deadline && (active = ts_metric(stack.gw[0].admin_port, "pulse_connections_active")) != 2)
        ts_sleep_ms(20);
    ck_assert_msg(active == 2, "pulse_connections_active = %g after the slow client (want 2)", active);
    /* The readers are still served. */
    for (int i = 0; i < 2; i++) {
        char *reply = NULL;
        ck_assert_msg(ts_ws_op(&fast[i], "{\"op\":\"ping\"}", "pong", &reply, 5000) == 0,
                      "reader %d after the storm: %s", i, reply ? reply : "(nothing)");
        free(reply);
        ts_ws_close(&fast[i]);
    }
    free_events();
}
END_TEST

START_TEST(test_normal_events_dropped)
{
    char *extra[] = {(char *)"--limits.queue-max-messages", (char *)"64",
                     (char *)"--limits.queue-hard-messages", (char *)"256",
                     (char *)"--limits.queue-max-bytes", (char *)"524288",
                     (char *)"--limits.queue-hard-bytes", (char *)"1048576",
                     (char *)"--limits.lag-limit-ms", (char *)"60000", NULL};
    ck_assert(ts_stack_start_gateway(&stack, "node-drop", extra) == 0);
    /* No "priority" in the events: the channel's default (normal, drop) applies. */
    make_events("news", NULL);
    ts_ws slow, fast;
    ck_assert(ts_ws_open(&slow, stack.gw[0].port, "news", "node-drop", 5000) == 0);
    ck_assert(ts_ws_open(&fast, stack.gw[0].port, "news", "node-drop", 5000) == 0);
    double dropped0 = ts_metric(stack.gw[0].admin_port, "pulse_dropped_total{reason=\"queue_full\"}");
    ck_assert_msg(dropped0 >= 0, "pulse_dropped_total{reason=\"queue_full\"} missing");
    reader rd = {.w = &fast};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, read_all, &rd), 0);
    publish_all("news", 1);
    pthread_join(th, NULL);
    ck_assert_msg(rd.failure[0] == '\0' && rd.got == n_events, "reading client: %s (got %d of %d)",
                  rd.failure, rd.got, n_events);

    /* The slow client catches up: events in order with gaps, then the pong. */
    ck_assert_int_eq(ts_ws_send_text(&slow, "{\"op\":\"ping\"}"), 0);
    int got = 0, idx = 0, gaps = 0;
    bool pong = false, gap_last = false;
    static const char gap_frame[] = "{\"op\":\"gap\",\"channel\":\"news\",\"reason\":\"dropped\"}";
    int64_t deadline = ts_now_ms() + 30000;
    while (!pong && ts_now_ms() < deadline) {
        char *m = NULL;
        int r = ts_ws_recv(&slow, &m, NULL, 10000);
        ck_assert_msg(r == 1, "slow client (normal events): recv %d (close code %d) after %d events",
                      r, slow.close_code, got);
        if (strstr(m, "\"pong\"") != NULL && strstr(m, "\"op\"") != NULL) {
            pong = true;
        } else if (strcmp(m, gap_frame) == 0) {
            /* raw PUBLISH: no offsets, so the notice says only that events were lost */
            ck_assert_msg(!gap_last, "two dropped notices in a row");
            gaps++;
            gap_last = true;
        } else {
            gap_last = false;
            while (idx < n_events && strcmp(m, envelopes[idx]) != 0)
                idx++;
            ck_assert_msg(idx < n_events, "slow client: message %d out of order or unknown: %.160s",
                          got + 1, m);
            idx++;
            got++;
        }
        free(m);
    }
    ck_assert_msg(pong, "slow client: no pong");
    fprintf(stderr, "slow_consumer: normal-priority slow client got %d of %d events\n", got,
            n_events);
    ck_assert_msg(got < n_events, "slow client got every event: nothing was dropped");
    double want = dropped0 + (n_events - got);
    double dropped = metric_poll("pulse_dropped_total{reason=\"queue_full\"}", want, 5000);
    ck_assert_msg(dropped == want,
                  "pulse_dropped_total{reason=\"queue_full\"} = %g, want %g (%d events not delivered)",
                  dropped, want, n_events - got);
    ck_assert_msg(ts_metric(stack.gw[0].admin_port, "pulse_slow_consumers_total") == 0,
                  "a drop-policy client must not be closed as a slow consumer");
    /* The last run of drops is told once the queue is empty (after the pong, then). */
    if (!gap_last) {
        char *g = NULL;
        ck_assert_int_eq(ts_ws_recv(&slow, &g, NULL, 5000), 1);
        ck_assert_str_eq(g, gap_frame);
        free(g);
        gaps++;
    }
    ck_assert(ts_metric(stack.gw[0].admin_port, "pulse_gap_notices_total{reason=\"dropped\"}") == gaps);
    /* Still connected and subscribed. */
    char ev[1024];
    ck_assert_int_gt(ts_event_json(ev, sizeof ev, "AFTER", n_events + 1, NULL, NULL), 0);
    ck_assert_int_eq(ts_redis_publish(stack.redis.port, "news", ev), 1);
    ts_assert_delivery(&slow, "news", ev, "the slow client");
    ts_ws_close(&slow);
    ts_ws_close(&fast);
    free_events();
}
END_TEST

START_TEST(test_lag_limit)
{
    /* Hard bounds far away: only the lag limit (1 s unwritable) can close the slow
     * client. */
    char *extra[] = {(char *)"--limits.queue-hard-messages", (char *)"1000000",
                     (char *)"--limits.queue-hard-bytes", (char *)"1073741824",
                     (char *)"--limits.lag-limit-ms", (char *)"1000", NULL};
    ck_assert(ts_stack_start_gateway(&stack, "node-lag", extra) == 0);
    n_events = 800;
    make_events("events.critical", "critical");
    ts_ws slow, fast;
    ck_assert(ts_ws_open(&slow, stack.gw[0].port, "events.critical", "node-lag", 5000) == 0);
    ck_assert(ts_ws_open(&fast, stack.gw[0].port, "events.critical", "node-lag", 5000) == 0);
    reader rd = {.w = &fast};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, read_all, &rd), 0);
    publish_all("events.critical", 1);
    int64_t t_done = ts_now_ms();
    pthread_join(th, NULL);
    ck_assert_msg(rd.failure[0] == '\0' && rd.got == n_events, "reading client: %s (got %d of %d)",
                  rd.failure, rd.got, n_events);
    double slow_n = metric_poll("pulse_slow_consumers_total", 1, 5000);
    ck_assert_msg(slow_n >= 1, "pulse_slow_consumers_total = %g %lld ms after the last publish "
                  "(lag limit 1 s)", slow_n, (long long)(ts_now_ms() - t_done));
    int got = 0, end = -2;
    for (int guard = 0; guard <= n_events; guard++) {
        char *m = NULL;
        int r = ts_ws_recv(&slow, &m, NULL, 10000);
        if (r != 1) {
            end = r == 8 ? slow.close_code : r;
            free(m);
            break;
        }
        ck_assert_msg(got < n_events && strcmp(m, envelopes[got]) == 0,
                      "slow client: message %d is not event %d", got + 1, got + 1);
        got++;
        free(m);
    }
    fprintf(stderr, "lag limit: slow client got %d events, then %d\n", got, end);
    ck_assert_msg(end == 1008 || end == -1, "slow client: want 1008 or EOF, got %d", end);
    ck_assert_msg(got < n_events, "the slow client got everything: never cut off");
    ts_ws_close(&slow);
    ts_ws_close(&fast);
    free_events();
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("slow_consumer", "slow_consumer", 120, &stack, TS_FIX_REDIS, 10000, NULL,
                          NULL, test_critical_slow_consumer_closed, test_normal_events_dropped,
                          test_lag_limit);
}
