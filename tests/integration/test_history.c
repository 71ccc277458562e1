/*
 * test_history.c - history and recovery end to end: one real redis-server, two real
 * gateways (A and B) loading the function library pulse, events published with
 * FCALL pulse_publish (as any third-party publisher would, from redis-cli or a client
 * library), clients over real WebSockets.
 *
 *   - a client leaves node A, events are published, it comes back on node B with
 *     ?since= (and with the subscribe op): exactly the missed events, in order,
 *     recovered:true, then live;
 *   - events published all through a recovery: every recovering client sees each offset
 *     once, in order, no hole;
 *   - FLUSHALL (history lost, new epoch): recovered:false with the new position;
 *   - a capped stream (history_size 10) and the replay cap (history_recover_max 30):
 *     recovered:false past the window, true inside it;
 *   - the node repairs its own gap after a Redis restart (events published while it was
 *     away come from the stream before newer ones), and says "gap" where the history
 *     is gone; and when a live offset jumps;
 *   - the history op (limit, since, reverse), GET /history, and the op's authorization
 *     (the subscribe grant of the token);
 *   - a client whose queue dropped events is told {"op":"gap",...,"reason":"dropped"}.
 */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pulse_functions.h"
#include "ts.h"
#include "ts_jwt.h"

static ts_stack stack;
static ts_gateway *A, *B; /* node A (every test), node B (started by the tests that need it) */
static char conf_path[600];

static const char conf[] = "channels = { rules = (\n"
                           "  { pattern = \"hist.*\"; history_size = 1000; history_ttl_s = 3600; },\n"
                           "  { pattern = \"capped.*\"; history_size = 10; history_ttl_s = 3600; },\n"
                           "  { pattern = \"slow.*\"; priority = \"normal\"; policy = \"drop\"; history_size = 5000; }\n"
                           "); };\n";

static void write_conf(void)
{
    snprintf(conf_path, sizeof conf_path, "%s/history.conf", stack.tmp);
    FILE *f = fopen(conf_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(conf, f);
    fclose(f);
}

/* After the stack's own setup (temp dir, Redis): the config file and node A. */
static void setup(void)
{
    write_conf();
    const char *args[] = {"--config", conf_path, NULL};
    A = ts_fixture_gateway("node-a", (char *const *)args);
    B = NULL;
    /* the ready line comes before the function library is loaded; /healthz says 200
     * only after (the tests FCALL pulse_publish at once) */
    ck_assert_int_eq(ts_http_wait_status(A->admin_port, "/healthz", 200, 5000), 0);
}

static void start_b(const char *const extra[])
{
    const char *args[16] = {"--config", conf_path};
    ts_argv_append(args, 2, 16, extra);
    B = ts_fixture_gateway("node-b", (char *const *)args);
}

/* FCALL pulse_publish 1 channel {"n":n} on port; returns the offset. */
static long long fcall_port(int port, const char *channel, int n)
{
    char payload[64], out[256] = "";
    snprintf(payload, sizeof payload, "{\"n\":%d}", n);
    const char *argv[] = {"FCALL", "pulse_publish", "1", channel, payload};
    ck_assert_int_eq(ts_redis_cmd(port, out, sizeof out, 5, argv), 0);
    char *end = NULL;
    long long off = strtoll(out, &end, 10);
    ck_assert_msg(end != out && *end == '\0', "FCALL pulse_publish %s: %s", channel, out);
    return off;
}

static long long fcall(const char *channel, int n)
{
    return fcall_port(stack.redis.port, channel, n);
}

/* One frame; fails unless it is a delivery on channel. Fills offset, epoch, n. */
typedef struct {
    long long offset;
    char epoch[40];
    long long n;
} delivery;

static delivery recv_delivery(ts_ws *w, const char *channel, const char *who)
{
    char *m = NULL;
    int r = ts_ws_recv(w, &m, NULL, 5000);
    ck_assert_msg(r == 1, "%s: no delivery on %s (recv %d)", who, channel, r);
    json_t *o = json_loads(m, 0, NULL);
    ck_assert_msg(o && json_is_string(json_object_get(o, "channel")) && !json_object_get(o, "op"),
                  "%s: want a delivery on %s, got %s", who, channel, m);
    ck_assert_str_eq(json_string_value(json_object_get(o, "channel")), channel);
    delivery d = {0};
    d.offset = json_integer_value(json_object_get(o, "offset"));
    const char *e = json_string_value(json_object_get(o, "epoch"));
    snprintf(d.epoch, sizeof d.epoch, "%s", e ? e : "");
    d.n = json_integer_value(json_object_get(json_object_get(o, "data"), "n"));
    json_decref(o);
    free(m);
    return d;
}

/* The next frames are exactly the deliveries from..to of channel, in order. */
static void expect_range(ts_ws *w, const char *channel, long long from, long long to, const char *epoch,
                         const char *who)
{
    for (long long off = from; off <= to; off++) {
        delivery d = recv_delivery(w, channel, who);
        ck_assert_msg(d.offset == off, "%s: want offset %lld, got %lld", who, off, d.offset);
        ck_assert_msg(d.n == off, "%s: offset %lld carries n=%lld", who, off, d.n);
        if (epoch)
            ck_assert_str_eq(d.epoch, epoch);
    }
}

/* The next frame is {"op":"subscribed",...} with offset/epoch/recovered; returns it. */
static json_t *expect_subscribed(ts_ws *w, const char *channel, long long top, bool recovered, const char *who)
{
    char *m = NULL;
    int r = ts_ws_recv(w, &m, NULL, 5000);
    ck_assert_msg(r == 1, "%s: no subscribed frame (recv %d)", who, r);
    json_t *o = json_loads(m, 0, NULL);
    ck_assert_msg(o && json_is_string(json_object_get(o, "op")) &&
                      strcmp(json_string_value(json_object_get(o, "op")), "subscribed") == 0,
                  "%s: want subscribed, got %s", who, m);
    ck_assert_str_eq(json_string_value(json_object_get(o, "channel")), channel);
    ck_assert_msg(json_integer_value(json_object_get(o, "offset")) == top, "%s: top %lld in %s", who, top, m);
    ck_assert_msg(json_is_boolean(json_object_get(o, "recovered")) &&
                      json_is_true(json_object_get(o, "recovered")) == recovered,
                  "%s: want recovered:%s in %s", who, recovered ? "true" : "false", m);
    free(m);
    return o;
}

static void expect_hello(ts_ws *w, const char *who)
{
    char *m = NULL;
    ck_assert_msg(ts_ws_recv(w, &m, NULL, 5000) == 1 && strstr(m, "\"op\":\"hello\""), "%s: no hello: %s", who,
                  m ? m : "(nothing)");
    free(m);
}

static void expect_silence(ts_ws *w, int ms, const char *who)
{
    char *m = NULL;
    int r = ts_ws_recv(w, &m, NULL, ms);
    ck_assert_msg(r == 0, "%s: want nothing more, got %s", who, m ? m : "(close/eof)");
}

/* Connects to port with ?channels=channel and ?since=channel:since:epoch. */
static void connect_since(ts_ws *w, int port, const char *channel, long long since, const char *epoch)
{
    char path[512];
    snprintf(path, sizeof path, "/ws?channels=%s&since=%s:%lld:%s", channel, channel, since, epoch);
    ck_assert_int_eq(ts_ws_connect(w, port, path, "pulse.v1"), 0);
    expect_hello(w, path);
}

START_TEST(test_recover_on_another_node)
{
    start_b(NULL);
    ts_ws a;
    ck_assert_int_eq(ts_ws_open(&a, A->port, "hist.a", "node-a", 5000), 0);
    for (int i = 1; i <= 3; i++)
        ck_assert_int_eq(fcall("hist.a", i), i);
    delivery d = {0};
    for (int i = 1; i <= 3; i++) {
        d = recv_delivery(&a, "hist.a", "client on A");
        ck_assert_int_eq(d.offset, i);
    }
    ck_assert_int_eq((int)strlen(d.epoch), 8);
    char epoch[40];
    snprintf(epoch, sizeof epoch, "%s", d.epoch);
    ts_ws_close(&a); /* the client drops off node A */

    for (int i = 4; i <= 8; i++)
        ck_assert_int_eq(fcall("hist.a", i), i);

    /* back on node B with the URL form: exactly 4..8, then live */
    ts_ws b;
    connect_since(&b, B->port, "hist.a", 3, epoch);
    json_decref(expect_subscribed(&b, "hist.a", 8, true, "?since= on B"));
    expect_range(&b, "hist.a", 4, 8, epoch, "?since= on B");
    ck_assert_int_eq(fcall("hist.a", 9), 9);
    expect_range(&b, "hist.a", 9, 9, epoch, "live after the recovery");
    expect_silence(&b, 300, "after live 9");

    /* the subscribe op on B: from 6 */
    ts_ws c;
    ck_assert_int_eq(ts_ws_connect(&c, B->port, "/ws", "pulse.v1"), 0);
    expect_hello(&c, "op client");
    char req[256];
    snprintf(req, sizeof req, "{\"op\":\"subscribe\",\"channel\":\"hist.a\",\"since\":{\"offset\":6,\"epoch\":\"%s\"}}",
             epoch);
    ck_assert_int_eq(ts_ws_send_text(&c, req), 0);
    json_decref(expect_subscribed(&c, "hist.a", 9, true, "op on B"));
    expect_range(&c, "hist.a", 7, 9, epoch, "op on B");
    /* nothing missed: recovered, nothing replayed */
    ts_ws e;
    connect_since(&e, A->port, "hist.a", 9, epoch);
    json_decref(expect_subscribed(&e, "hist.a", 9, true, "up to date"));
    expect_silence(&e, 300, "up to date");

    ck_assert(ts_metric(B->admin_port, "pulse_recoveries_total{result=\"recovered\"}") == 2);
    ck_assert(ts_metric(B->admin_port, "pulse_recovered_events_total") == 8);
    ts_ws_close(&b);
    ts_ws_close(&c);
    ts_ws_close(&e);
}
END_TEST

/* expect_subscribed with any top: returns the top. */
static long long subscribed_any(ts_ws *w, const char *channel, bool recovered, const char *who)
{
    char *m = NULL;
    int r = ts_ws_recv(w, &m, NULL, 5000);
    ck_assert_msg(r == 1, "%s: no subscribed frame", who);
    json_t *o = json_loads(m, 0, NULL);
    ck_assert_msg(o && strstr(m, "\"op\":\"subscribed\""), "%s: want subscribed, got %s", who, m);
    ck_assert_str_eq(json_string_value(json_object_get(o, "channel")), channel);
    ck_assert_msg(json_is_true(json_object_get(o, "recovered")) == recovered, "%s: %s", who, m);
    long long top = json_integer_value(json_object_get(o, "offset"));
    json_decref(o);
    free(m);
    return top;
}

/* ---- publishing during recoveries ---- */

#define BURST 400

typedef struct {
    int port;
    const char *channel;
} burst;

static void *publisher(void *arg)
{
    const burst *b = arg;
    for (int i = 2; i <= BURST + 1; i++) {
        char payload[64], out[64];
        snprintf(payload, sizeof payload, "{\"n\":%d}", i);
        const char *argv[] = {"FCALL", "pulse_publish", "1", b->channel, payload};
        int port = b->port;
        if (ts_redis_cmd(port, out, sizeof out, 5, argv) != 0)
            break;
        if (i % 50 == 0)
            ts_sleep_ms(5);
    }
    return NULL;
}

/* After a burst (publisher()) met n clients recovering channel from offset 1 of epoch:
 * each client is subscribed (recovered, whatever the top was then), then gets
 * 2..BURST+1 exactly (the replay and the live events meet without a hole or a repeat),
 * then nothing more for 200 ms (client 0) or rest_silence_ms (the others); closed. */
static void expect_burst_recovered(ts_ws *c, int n, const char *channel, const char *epoch,
                                   int rest_silence_ms)
{
    for (int i = 0; i < n; i++) {
        char who[32];
        snprintf(who, sizeof who, "client %d", i);
        long long top = subscribed_any(&c[i], channel, true, who);
        ck_assert_int_ge(top, 1);
        expect_range(&c[i], channel, 2, BURST + 1, epoch, who);
        expect_silence(&c[i], i ? rest_silence_ms : 200, who);
        ts_ws_close(&c[i]);
    }
}

START_TEST(test_publish_during_recovery)
{
    start_b(NULL);
    ck_assert_int_eq(fcall("hist.burst", 1), 1);
    char out[256];
    const char *pos[] = {"FCALL_RO", "pulse_position", "1", "hist.burst"};
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 4, pos), 0);
    char *nl = strchr(out, '\n');
    ck_assert_ptr_nonnull(nl);
    char epoch[40];
    snprintf(epoch, sizeof epoch, "%s", nl + 1);

    pthread_t th;
    burst b = {stack.redis.port, "hist.burst"};
    ck_assert_int_eq(pthread_create(&th, NULL, publisher, &b), 0);
    /* clients come back one after another while the burst is being published */
    enum { NC = 6 };
    ts_ws c[NC];
    for (int i = 0; i < NC; i++) {
        connect_since(&c[i], i % 2 ? B->port : A->port, "hist.burst", 1, epoch);
        ts_sleep_ms(40);
    }
    pthread_join(th, NULL);
    expect_burst_recovered(c, NC, "hist.burst", epoch, 200);
}
END_TEST

START_TEST(test_storm_during_publishing)
{
    /* 20 clients come back at once from the same offset on a node that has the channel,
     * while a burst is being published: recoveries join reads in flight, and those that
     * came after an event the read may not have seen read again; each client still gets
     * exactly 2..BURST+1, once each, in order */
    ts_ws live;
    ck_assert_int_eq(ts_ws_open(&live, A->port, "hist.burst2", "node-a", 5000), 0);
    ck_assert_int_eq(fcall("hist.burst2", 1), 1);
    delivery d = recv_delivery(&live, "hist.burst2", "the live subscriber");
    pthread_t th;
    burst b = {stack.redis.port, "hist.burst2"};
    ck_assert_int_eq(pthread_create(&th, NULL, publisher, &b), 0);
    enum { NC = 20 };
    ts_ws c[NC];
    for (int i = 0; i < NC; i++)
        connect_since(&c[i], A->port, "hist.burst2", 1, d.epoch);
    pthread_join(th, NULL);
    expect_burst_recovered(c, NC, "hist.burst2", d.epoch, 0);
    ts_ws_close(&live);
}
END_TEST

START_TEST(test_flushall_not_recovered)
{
    ts_ws a;
    ck_assert_int_eq(ts_ws_open(&a, A->port, "hist.f", "node-a", 5000), 0);
    fcall("hist.f", 1);
    fcall("hist.f", 2);
    delivery d = recv_delivery(&a, "hist.f", "before FLUSHALL");
    d = recv_delivery(&a, "hist.f", "before FLUSHALL");
    ts_ws_close(&a);
    char out[64];
    const char *flush[] = {"FLUSHALL"};
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 1, flush), 0);
    ck_assert_int_eq(fcall("hist.f", 1), 1); /* a new history: offset 1 of a new epoch */

    ts_ws b;
    connect_since(&b, A->port, "hist.f", 2, d.epoch);
    json_t *o = expect_subscribed(&b, "hist.f", 1, false, "after FLUSHALL");
    const char *e2 = json_string_value(json_object_get(o, "epoch"));
    ck_assert_msg(e2 && strlen(e2) == 8 && strcmp(e2, d.epoch) != 0, "epoch %s after FLUSHALL (was %s)", e2,
                  d.epoch);
    json_decref(o);
    expect_silence(&b, 300, "nothing replayed when not recovered");
    ck_assert_int_eq(fcall("hist.f", 2), 2);
    expect_range(&b, "hist.f", 2, 2, NULL, "live after recovered:false");
    ck_assert(ts_metric(A->admin_port, "pulse_recoveries_total{result=\"not_recovered\"}") == 1);
    ts_ws_close(&b);
}
END_TEST

START_TEST(test_window)
{
    /* capped.* keeps about 10 events: with small stream nodes Redis trims close to it */
    char out[64];
    const char *cfg[] = {"CONFIG", "SET", "stream-node-max-entries", "4"};
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 4, cfg), 0);
    ts_ws a;
    ck_assert_int_eq(ts_ws_open(&a, A->port, "capped.x", "node-a", 5000), 0);
    for (int i = 1; i <= 50; i++)
        fcall("capped.x", i);
    delivery d = recv_delivery(&a, "capped.x", "capped");
    ts_ws_close(&a);
    const char *len[] = {"XLEN", "pulse:{capped.x}:stream"};
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 2, len), 0);
    long xlen = strtol(out, NULL, 10);
    ck_assert_msg(xlen >= 10 && xlen < 20, "the capped stream holds %ld events", xlen);

    ts_ws b;
    connect_since(&b, A->port, "capped.x", 1, d.epoch); /* 2 is long gone */
    ck_assert_int_eq(subscribed_any(&b, "capped.x", false, "past the window"), 50);
    expect_silence(&b, 300, "past the window");
    ts_ws_close(&b);
    ts_ws c;
    connect_since(&c, A->port, "capped.x", 45, d.epoch); /* inside it */
    ck_assert_int_eq(subscribed_any(&c, "capped.x", true, "inside the window"), 50);
    expect_range(&c, "capped.x", 46, 50, d.epoch, "inside the window");
    ts_ws_close(&c);

    /* the replay cap (node B: history_recover_max 30) on a stream that holds everything */
    const char *extra[] = {"--limits.history-recover-max", "30", NULL};
    start_b(extra);
    for (int i = 1; i <= 40; i++)
        fcall("hist.cap", i);
    const char *pos[] = {"FCALL_RO", "pulse_position", "1", "hist.cap"};
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 4, pos), 0);
    char *nl = strchr(out, '\n');
    ck_assert_ptr_nonnull(nl);
    ts_ws e, f;
    connect_since(&e, B->port, "hist.cap", 9, nl + 1); /* 31 missed */
    ck_assert_int_eq(subscribed_any(&e, "hist.cap", false, "past the cap"), 40);
    expect_silence(&e, 300, "past the cap");
    connect_since(&f, B->port, "hist.cap", 10, nl + 1); /* 30 missed */
    ck_assert_int_eq(subscribed_any(&f, "hist.cap", true, "at the cap"), 40);
    expect_range(&f, "hist.cap", 11, 40, nl + 1, "at the cap");
    ts_ws_close(&e);
    ts_ws_close(&f);
}
END_TEST

/* ---- the node's own gap repair ---- */

static void redis_save(int port)
{
    char out[64];
    const char *save[] = {"SAVE"};
    ck_assert_int_eq(ts_redis_cmd(port, out, sizeof out, 1, save), 0);
    ck_assert_str_eq(out, "OK");
}

START_TEST(test_node_repairs_after_redis_restart)
{
    ts_ws a, z;
    ck_assert_int_eq(ts_ws_open(&a, A->port, "hist.r", "node-a", 5000), 0);
    ck_assert_int_eq(ts_ws_open(&z, A->port, "hist.z", "node-a", 5000), 0); /* no history yet */
    for (int i = 1; i <= 3; i++)
        fcall("hist.r", i);
    delivery d = {0};
    for (int i = 1; i <= 3; i++)
        d = recv_delivery(&a, "hist.r", "before the restart");
    ck_assert_int_eq(d.offset, 3);

    /* Redis goes away. While the node cannot see it, 4..6 are published (on the same
     * data, served on another port), then Redis comes back where the node looks. */
    int port = stack.redis.port;
    redis_save(port);
    ts_redis_stop(&stack.redis);
    ts_redis other;
    ck_assert_int_eq(ts_redis_start(&other, stack.tmp, 0), 0);
    for (int i = 4; i <= 6; i++)
        ck_assert_int_eq(fcall_port(other.port, "hist.r", i), i);
    ck_assert_int_eq(fcall_port(other.port, "hist.z", 1), 1); /* hist.z's history begins */
    ck_assert_int_eq(fcall_port(other.port, "hist.z", 2), 2);
    redis_save(other.port);
    ts_redis_stop(&other);
    ck_assert_int_eq(ts_redis_start(&stack.redis, stack.tmp, port), 0);

    /* the node reconnects, finds 4..6 in the stream and delivers them first */
    expect_range(&a, "hist.r", 4, 6, d.epoch, "repaired after the restart");
    ck_assert_int_eq(fcall("hist.r", 7), 7);
    expect_range(&a, "hist.r", 7, 7, d.epoch, "live after the repair");
    ck_assert_int_eq(ts_proc_wait_line(&A->proc, "hist.r: repaired after offset 3: 3 events replayed, 0 gaps",
                                       NULL, 0, 2000),
                     0);
    ck_assert(ts_metric(A->admin_port, "pulse_gap_repairs_total{result=\"filled\"}") >= 1);
    /* the channel that had no history when Redis left gets its first events too, after
     * the blanket notice (raw publishes, which no stream keeps, may have been missed) */
    char *zg = NULL;
    ck_assert_int_eq(ts_ws_recv(&z, &zg, NULL, 5000), 1);
    ck_assert_str_eq(zg, "{\"op\":\"gap\",\"channel\":\"hist.z\",\"reason\":\"redis_reconnect\"}");
    free(zg);
    delivery z1 = recv_delivery(&z, "hist.z", "hist.z after the restart");
    ck_assert_int_eq(z1.offset, 1);
    expect_range(&z, "hist.z", 2, 2, z1.epoch, "hist.z after the restart");
    ts_ws_close(&z);

    /* now Redis comes back without the data (a new history of two events started while
     * the node was away): the node says the rest of the old one is lost, then reads
     * the new one from its start */
    ts_redis_stop(&stack.redis);
    char rdb[700];
    snprintf(rdb, sizeof rdb, "%s/dump.rdb", stack.tmp);
    unlink(rdb);
    ck_assert_int_eq(ts_redis_start(&other, stack.tmp, 0), 0);
    /* an empty Redis has no functions either: load the library as a publisher would */
    pulse_history_rule rules[] = {{"hist.*", 1000, 3600}};
    char *src = NULL;
    pulse_error perr;
    ck_assert_int_eq(pulse_functions_source(rules, 1, &src, NULL, &perr), 0);
    const char *load[] = {"FUNCTION", "LOAD", src};
    char out[256];
    ck_assert_int_eq(ts_redis_cmd(other.port, out, sizeof out, 3, load), 0);
    ck_assert_str_eq(out, "pulse");
    free(src);
    ck_assert_int_eq(fcall_port(other.port, "hist.r", 1), 1);
    ck_assert_int_eq(fcall_port(other.port, "hist.r", 2), 2);
    redis_save(other.port);
    ts_redis_stop(&other);
    ck_assert_int_eq(ts_redis_start(&stack.redis, stack.tmp, port), 0);
    char *gap = NULL;
    ck_assert_int_eq(ts_ws_recv(&a, &gap, NULL, 10000), 1);
    ck_assert_msg(strcmp(gap, "{\"op\":\"gap\",\"channel\":\"hist.r\",\"from\":8,\"reason\":\"redis_reconnect\"}") == 0,
                  "want the gap from 8 after losing the history, got %s", gap);
    free(gap);
    delivery n1 = recv_delivery(&a, "hist.r", "the new history");
    ck_assert_int_eq(n1.offset, 1);
    ck_assert_str_ne(n1.epoch, d.epoch);
    expect_range(&a, "hist.r", 2, 2, n1.epoch, "the new history");
    ck_assert_int_eq(fcall("hist.r", 3), 3);
    expect_range(&a, "hist.r", 3, 3, n1.epoch, "live in the new history");
    expect_silence(&a, 200, "after the new history");
    ts_ws_close(&a);
}
END_TEST

START_TEST(test_node_repairs_offset_jump)
{
    /* Events 3 and 4 reach the stream but never the node's live channel (as when Redis
     * drops a pub/sub client over its output buffer): the node sees 2 then 5, reads 3
     * and 4 from the stream and delivers 3, 4, 5 in order. */
    ts_ws a;
    ck_assert_int_eq(ts_ws_open(&a, A->port, "hist.j", "node-a", 5000), 0);
    fcall("hist.j", 1);
    fcall("hist.j", 2);
    recv_delivery(&a, "hist.j", "before the jump");
    delivery d = recv_delivery(&a, "hist.j", "before the jump");
    char out[128];
    const char *x3[] = {"XADD", "pulse:{hist.j}:stream", "3-0", "d", "{\"n\":3}"};
    const char *x4[] = {"XADD", "pulse:{hist.j}:stream", "4-0", "d", "{\"n\":4}"};
    const char *meta[] = {"HSET", "pulse:{hist.j}:meta", "offset", "4"};
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 5, x3), 0);
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 5, x4), 0);
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 4, meta), 0);
    ck_assert_int_eq(fcall("hist.j", 5), 5);
    expect_range(&a, "hist.j", 3, 5, d.epoch, "repaired jump");
    ck_assert_int_eq(fcall("hist.j", 6), 6);
    expect_range(&a, "hist.j", 6, 6, d.epoch, "live after the jump");
    expect_silence(&a, 200, "after the jump");
    ck_assert(ts_metric(A->admin_port, "pulse_gap_repairs_total{result=\"filled\"}") == 1);
    ts_ws_close(&a);
}
END_TEST

/* ---- the history op, GET /history, authorization ---- */

static json_t *history_op(ts_ws *w, const char *req)
{
    char *reply = NULL;
    ck_assert_msg(ts_ws_op(w, req, "history", &reply, 5000) == 0, "%s -> %s", req, reply ? reply : "(nothing)");
    json_t *o = json_loads(reply, 0, NULL);
    free(reply);
    ck_assert_ptr_nonnull(o);
    return o;
}

static void expect_offsets(json_t *o, const long long *want, size_t n)
{
    json_t *ev = json_object_get(o, "events");
    ck_assert_uint_eq(json_array_size(ev), n);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(ev, i);
        ck_assert_int_eq(json_integer_value(json_object_get(e, "offset")), want[i]);
        ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(e, "data"), "n")), want[i]);
    }
}

START_TEST(test_history_op)
{
    for (int i = 1; i <= 10; i++)
        fcall("hist.h", i);
    ts_ws w;
    ck_assert_int_eq(ts_ws_connect(&w, A->port, "/ws", "pulse.v1"), 0);
    expect_hello(&w, "history client");
    json_t *o = history_op(&w, "{\"op\":\"history\",\"channel\":\"hist.h\",\"limit\":3}");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "offset")), 10);
    char epoch[40];
    snprintf(epoch, sizeof epoch, "%s", json_string_value(json_object_get(o, "epoch")));
    static const long long first3[] = {1, 2, 3};
    expect_offsets(o, first3, 3);
    json_decref(o);
    char req[256];
    snprintf(req, sizeof req, "{\"op\":\"history\",\"channel\":\"hist.h\",\"since\":{\"offset\":7,\"epoch\":\"%s\"}}",
             epoch);
    o = history_op(&w, req);
    static const long long after7[] = {8, 9, 10};
    expect_offsets(o, after7, 3);
    json_decref(o);
    o = history_op(&w, "{\"op\":\"history\",\"channel\":\"hist.h\",\"limit\":2,\"reverse\":true}");
    static const long long newest2[] = {10, 9};
    expect_offsets(o, newest2, 2);
    json_decref(o);
    o = history_op(&w, "{\"op\":\"history\",\"channel\":\"nohist.x\",\"limit\":2}");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "offset")), 0);
    expect_offsets(o, NULL, 0);
    json_decref(o);
    char *reply = NULL;
    ck_assert_int_eq(ts_ws_op(&w, "{\"op\":\"history\",\"channel\":\"hist.*\"}", "error", &reply, 5000), 0);
    ck_assert_msg(strstr(reply, "not a pattern"), "%s", reply);
    free(reply);
    ts_ws_close(&w);

    char body[8192];
    ck_assert_int_eq(ts_http(A->admin_port, "GET", "/history?channel=hist.h&limit=2&reverse=1", NULL, NULL,
                             body, sizeof body),
                     200);
    o = json_loads(body, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "op")), "history");
    expect_offsets(o, newest2, 2);
    json_decref(o);
    ck_assert_int_eq(ts_http(A->admin_port, "GET", "/history?channel=a%20b", NULL, NULL, body, sizeof body),
                     400);
    /* POST /publish goes through FCALL pulse_publish: it answers the offset */
    ck_assert_int_eq(ts_http(A->admin_port, "POST", "/publish", NULL, "{\"channel\":\"hist.h\",\"data\":{\"n\":11}}",
                             body, sizeof body),
                     202);
    ck_assert_msg(strstr(body, "\"offset\":11"), "POST /publish: %s", body);
    ck_assert_int_eq(ts_http(A->admin_port, "GET", "/history?channel=hist.h&limit=1&reverse=true", NULL, NULL, body,
                             sizeof body),
                     200);
    o = json_loads(body, 0, NULL);
    static const long long newest1[] = {11};
    expect_offsets(o, newest1, 1);
    json_decref(o);
    ck_assert(ts_metric(A->admin_port, "pulse_history_reads_total") == 6);
}
END_TEST

START_TEST(test_history_authorization)
{
    static const char secret[] = "history-secret-history-secret-0123456789abcdef";
    char secret_path[700];
    snprintf(secret_path, sizeof secret_path, "%s/jwt.secret", stack.tmp);
    ck_assert_int_eq(tsj_write_file(secret_path, secret, strlen(secret)), 0);
    const char *extra[] = {"--jwt-secret-file", secret_path, NULL};
    start_b(extra);
    for (int i = 1; i <= 3; i++) {
        fcall("hist.open", i);
        fcall("hist.secret", i);
    }
    char payload[256];
    snprintf(payload, sizeof payload, "{\"sub\":\"u1\",\"exp\":%ld,\"channels\":[\"hist.open\"]}",
             (long)time(NULL) + 600);
    char *tok = tsj_make("HS256", payload, TSJ_HS256, secret, strlen(secret), NULL);
    char path[2048];
    snprintf(path, sizeof path, "/ws?token=%s", tok);
    free(tok);
    ts_ws w;
    ck_assert_int_eq(ts_ws_connect(&w, B->port, path, "pulse.v1"), 0);
    expect_hello(&w, "token client");
    json_t *o = history_op(&w, "{\"op\":\"history\",\"channel\":\"hist.open\",\"limit\":5}");
    static const long long all3[] = {1, 2, 3};
    expect_offsets(o, all3, 3);
    json_decref(o);
    char *reply = NULL;
    ck_assert_int_eq(ts_ws_op(&w, "{\"op\":\"history\",\"channel\":\"hist.secret\",\"limit\":5}", "error", &reply,
                              5000),
                     0);
    ck_assert_msg(strstr(reply, "\"code\":\"forbidden\""), "%s", reply);
    free(reply);
    /* a recovery needs the same grant */
    reply = NULL;
    ck_assert_int_eq(ts_ws_op(&w, "{\"op\":\"subscribe\",\"channel\":\"hist.secret\",\"since\":{\"offset\":1,\"epoch\":\"x\"}}",
                              "error", &reply, 5000),
                     0);
    ck_assert_msg(strstr(reply, "\"code\":\"forbidden\""), "%s", reply);
    free(reply);
    ts_ws_close(&w);
    /* no token at all */
    ts_ws anon;
    ck_assert_int_eq(ts_ws_connect(&anon, B->port, "/ws", "pulse.v1"), 0);
    expect_hello(&anon, "anonymous");
    reply = NULL;
    ck_assert_int_eq(ts_ws_op(&anon, "{\"op\":\"history\",\"channel\":\"hist.open\"}", "error", &reply, 5000), 0);
    ck_assert_msg(strstr(reply, "\"code\":\"unauthorized\""), "%s", reply);
    free(reply);
    ts_ws_close(&anon);
}
END_TEST

/* ---- a full queue drops: the client is told which offsets ---- */

#define N_SLOW 600

START_TEST(test_dropped_notice)
{
    /* slow.* is normal/drop with a soft queue bound of 8 messages: a client that does
     * not read while the events arrive loses most of them and is told which */
    const char *extra[] = {"--limits.queue-max-messages", "8", NULL};
    start_b(extra);
    ts_ws w;
    ck_assert_int_eq(ts_ws_connect(&w, B->port, "/ws?channels=slow.q", "pulse.v1"), 0);
    expect_hello(&w, "slow client");
    char *m = ts_ws_recv_until(&w, "\"op\":\"subscribed\"", 5000);
    ck_assert_ptr_nonnull(m);
    free(m);
    /* 600 events of 32 KiB: far more than the socket buffers and 8 queued messages */
    char *payload = malloc(40000);
    for (int i = 1; i <= N_SLOW; i++) {
        int n = snprintf(payload, 40000, "{\"n\":%d,\"pad\":\"", i);
        memset(payload + n, 'x', 32768);
        snprintf(payload + n + 32768, 40000 - (size_t)n - 32768, "\"}");
        const char *argv[] = {"FCALL", "pulse_publish", "1", "slow.q", payload};
        char out[64];
        ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 5, argv), 0);
    }
    free(payload);
    /* read everything now: deliveries in order, with gap notices covering the holes */
    long long next = 1;
    int gaps = 0;
    int64_t deadline = ts_now_ms() + 20000;
    while (next <= N_SLOW && ts_now_ms() < deadline) {
        char *f = NULL;
        int r = ts_ws_recv(&w, &f, NULL, 3000);
        ck_assert_msg(r == 1, "stopped at %lld (recv %d)", next, r);
        json_t *o = json_loads(f, 0, NULL);
        ck_assert_ptr_nonnull(o);
        if (json_object_get(o, "op")) {
            ck_assert_msg(strstr(f, "\"op\":\"gap\"") && strstr(f, "\"reason\":\"dropped\""), "unexpected %s", f);
            long long from = json_integer_value(json_object_get(o, "from"));
            long long to = json_integer_value(json_object_get(o, "to"));
            ck_assert_msg(from == next && to >= from, "gap %lld..%lld while expecting %lld", from, to, next);
            next = to + 1;
            gaps++;
        } else {
            long long off = json_integer_value(json_object_get(o, "offset"));
            ck_assert_msg(off == next, "delivery %lld while expecting %lld", off, next);
            ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o, "data"), "n")), off);
            next++;
        }
        json_decref(o);
        free(f);
    }
    ck_assert_msg(next == N_SLOW + 1, "accounted up to %lld of %d", next - 1, N_SLOW);
    ck_assert_msg(gaps > 0, "no event was dropped: the test did not fill the queue");
    ck_assert(ts_metric(B->admin_port, "pulse_gap_notices_total{reason=\"dropped\"}") == gaps);
    ts_ws_close(&w);
}
END_TEST

/* ---- a reconnect storm shares the node's reads ---- */

/* calls of cmd (e.g. "xrange") in INFO commandstats */
static long redis_calls(const char *cmd)
{
    char out[16384] = "", key[64];
    const char *argv[] = {"INFO", "commandstats"};
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 2, argv), 0);
    snprintf(key, sizeof key, "cmdstat_%s:calls=", cmd);
    const char *p = strstr(out, key);
    return p ? strtol(p + strlen(key), NULL, 10) : 0;
}

static void redis_pause(const char *ms)
{
    char out[64];
    const char *argv[] = {"CLIENT", "PAUSE", ms, "ALL"};
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 4, argv), 0);
}

START_TEST(test_recovery_storm_shares_reads)
{
    /* Clients of a dead node come back at once from the same offset, while Redis is
     * paused (so the node's first recovery read is still in flight when the others
     * come): every one gets exactly the missed events, recovered:true, and the node
     * reads the stream once for all of them, on a channel it had no subscriber of
     * (they wait for the subscription) and on one it had (they join the read). */
    enum { NS = 30 };
    for (int i = 1; i <= 20; i++)
        ck_assert_int_eq(fcall("hist.storm", i), i);
    ts_ws live;
    ck_assert_int_eq(ts_ws_open(&live, A->port, "hist.warm", "node-a", 5000), 0);
    for (int i = 1; i <= 20; i++)
        ck_assert_int_eq(fcall("hist.warm", i), i);
    expect_range(&live, "hist.warm", 1, 20, NULL, "the warm channel's subscriber");
    const char *channels[] = {"hist.storm", "hist.warm"};
    for (int k = 0; k < 2; k++) {
        const char *ch = channels[k];
        char out[256], epoch[40];
        const char *pos[] = {"FCALL_RO", "pulse_position", "1", ch};
        ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 4, pos), 0);
        snprintf(epoch, sizeof epoch, "%s", strchr(out, '\n') + 1);
        long before = redis_calls("xrange");
        redis_pause("700");
        ts_ws c[NS];
        for (int i = 0; i < NS; i++)
            connect_since(&c[i], A->port, ch, 5, epoch);
        for (int i = 0; i < NS; i++) {
            char who[64];
            snprintf(who, sizeof who, "%s client %d", ch, i);
            json_decref(expect_subscribed(&c[i], ch, 20, true, who));
            expect_range(&c[i], ch, 6, 20, epoch, who);
        }
        ck_assert_int_eq(fcall(ch, 21), 21);
        for (int i = 0; i < NS; i++) {
            expect_range(&c[i], ch, 21, 21, epoch, "live after the storm");
            expect_silence(&c[i], i ? 0 : 200, "after live 21");
            ts_ws_close(&c[i]);
        }
        long reads = redis_calls("xrange") - before;
        ck_assert_msg(reads >= 1 && reads <= 2, "%s: %d recoveries read the stream %ld times", ch, NS, reads);
    }
    ck_assert(ts_metric(A->admin_port, "pulse_recoveries_total{result=\"recovered\"}") == 2 * NS);
    ck_assert(ts_metric(A->admin_port, "pulse_recovered_events_total") == 2 * NS * 15);
    ts_ws_close(&live);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("history", "history", 120, &stack, TS_FIX_REDIS, 8000, setup, NULL,
                          test_recover_on_another_node, test_publish_during_recovery,
                          test_flushall_not_recovered, test_window,
                          test_node_repairs_after_redis_restart, test_node_repairs_offset_jump,
                          test_history_op, test_history_authorization, test_dropped_notice,
                          test_recovery_storm_shares_reads, test_storm_during_publishing);
}
