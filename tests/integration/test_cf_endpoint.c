/*
 * test_cf_endpoint.c - the Centrifugo endpoint's timers, limits and refusals over real
 * sockets (the test support's raw WebSocket client against a real gateway and
 * redis-server), the parts the SDK never provokes by itself (docs/CENTRIFUGO.md):
 *
 *   - the server ping {} every centrifugo.ping_interval_s, kept alive by the client's
 *     {}, and close 3012 "no pong" when the {} does not come within
 *     centrifugo.pong_timeout_s;
 *   - close 3005 "connection expired" once the token's exp + expired_close_delay_s
 *     passed without a refresh, while a connection that refreshed stays;
 *   - a command flood: replies while the bucket lasts, then error 111, then close 3013;
 *   - binary frames and ?format=protobuf refused with 3501;
 *   - a slow reader whose queue dropped events of a history channel gets the
 *     unsubscribe push 2500, no publication of that channel until it subscribes again,
 *     and then recovers exactly what it missed.
 *
 * Each test starts its own gateway with the settings it needs. About 15 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ts.h"
#include "ts_check.h"
#include "ts_jwt.h"

static ts_stack stack;
static const char secret[] = "cf-endpoint-secret-cf-endpoint-secret-01";

/* A gateway with the config text conf (and the JWT secret when auth). */
static ts_gateway *start_node(const char *id, const char *conf, bool auth)
{
    static char conf_path[600], secret_path[600];
    snprintf(conf_path, sizeof conf_path, "%s/%s.conf", stack.tmp, id);
    snprintf(secret_path, sizeof secret_path, "%s/jwt.secret", stack.tmp);
    ck_assert_int_eq(tsj_write_file(conf_path, conf, strlen(conf)), 0);
    ck_assert_int_eq(tsj_write_file(secret_path, secret, strlen(secret)), 0);
    const char *args[] = {"--config", conf_path, auth ? "--jwt-secret-file" : NULL, secret_path, NULL};
    ts_gateway *g = ts_fixture_gateway(id, (char *const *)args);
    /* the ready line comes before the node has loaded its Redis function library and
     * connected (a test that FCALLs pulse_publish at once raced it: "Function not
     * found"); /healthz answers 200 only after both */
    ck_assert_int_eq(ts_http_wait_status(g->admin_port, "/healthz", 200, 5000), 0);
    return g;
}

static char *token(const char *sub, long ttl_s)
{
    char payload[256];
    snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"exp\":%ld,\"channels\":[\"hist.*\",\"plain.*\"]}", sub,
             (long)time(NULL) + ttl_s);
    return tsj_make("HS256", payload, TSJ_HS256, secret, strlen(secret), NULL);
}

/* Opens /connection/websocket<query> and sends connect (with tok unless NULL); returns
 * the connect reply (malloc'd), asserted. */
static char *cf_open(ts_ws *w, int port, const char *query, const char *tok)
{
    char path[256], cmd[2048];
    snprintf(path, sizeof path, "/connection/websocket%s", query ? query : "");
    ck_assert_int_eq(ts_ws_connect(w, port, path, NULL), 0);
    if (tok)
        snprintf(cmd, sizeof cmd, "{\"connect\":{\"token\":\"%s\",\"name\":\"c\"},\"id\":1}", tok);
    else
        snprintf(cmd, sizeof cmd, "{\"connect\":{\"name\":\"c\"},\"id\":1}");
    ck_assert_int_eq(ts_ws_send_text(w, cmd), 0);
    char *r = ts_ws_recv_until(w, "\"id\":1,", 5000);
    ck_assert_msg(r != NULL && strstr(r, "\"connect\":{") != NULL, "no connect reply: %s", r ? r : "(none)");
    return r;
}

/* Counts the non-overlapping occurrences of needle in s. */
static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + strlen(needle), needle))
        n++;
    return n;
}

/* w is closed (waiting up to timeout_ms) with code want and reason want_reason, between
 * lo_ms and hi_ms after t0 ("<what>: close <code> (<reason>) after <ms> ms, want <want>
 * in lo..hi ms"); then released. */
static void expect_closed_in(ts_ws *w, int64_t t0, int timeout_ms, int want, const char *want_reason,
                             int64_t lo_ms, int64_t hi_ms, const char *what)
{
    int code = ts_ws_wait_closed(w, timeout_ms);
    long long took = (long long)(ts_now_ms() - t0);
    ck_assert_msg(code == want, "%s: close %d (%s) after %lld ms, want %d", what, code, w->close_reason, took,
                  want);
    ck_assert_str_eq(w->close_reason, want_reason);
    ck_assert_msg(took >= lo_ms && took <= hi_ms, "%s: %d came %lld ms after, want %lld..%lld ms", what, want,
                  took, (long long)lo_ms, (long long)hi_ms);
    ts_ws_close(w);
}

START_TEST(test_ping_pong_and_3012)
{
    ts_gateway *g = start_node("cf-ping", "centrifugo = { ping_interval_s = 1; pong_timeout_s = 1; };\n", false);
    ts_ws w;
    char *r = cf_open(&w, g->port, NULL, NULL);
    ck_assert_msg(strstr(r, "\"ping\":1,\"pong\":true") != NULL, "connect reply: %s", r);
    free(r);
    /* three pings answered: the connection outlives 3 pong timeouts */
    for (int i = 0; i < 3; i++) {
        char *m = NULL;
        size_t len = 0;
        int op = ts_ws_recv(&w, &m, &len, 3000);
        ck_assert_msg(op == 1 && strcmp(m, "{}") == 0, "ping %d: op %d, %s", i, op, m ? m : "(none)");
        free(m);
        ck_assert_int_eq(ts_ws_send_text(&w, "{}"), 0);
    }
    ck_assert_int_eq(w.close_code, 0);
    /* the next ping unanswered: 3012 "no pong", after the pong timeout and not before */
    char *m = NULL;
    size_t len = 0;
    ck_assert_int_eq(ts_ws_recv(&w, &m, &len, 3000), 1);
    ck_assert_str_eq(m, "{}");
    free(m);
    /* pong timeout 1 s */
    expect_closed_in(&w, ts_now_ms(), 4000, 3012, "no pong", 900, 3000, "unanswered ping");
}
END_TEST

START_TEST(test_expiry_3005)
{
    ts_gateway *g = start_node("cf-exp",
                               "auth = { leeway_s = 0; };\n"
                               "centrifugo = { expired_close_delay_s = 1; };\n",
                               true);
    ts_ws a, b;
    char *ta = token("u1", 2), *tb = token("u1", 2);
    int64_t t0 = ts_now_ms();
    char *r = cf_open(&a, g->port, NULL, ta);
    ck_assert_msg(strstr(r, "\"expires\":true") != NULL, "connect reply: %s", r);
    free(r);
    r = cf_open(&b, g->port, NULL, tb);
    free(r);
    free(ta);
    free(tb);
    /* b refreshes with a long token before exp; a does not */
    char *fresh = token("u1", 600), cmd[2048];
    snprintf(cmd, sizeof cmd, "{\"refresh\":{\"token\":\"%s\"},\"id\":2}", fresh);
    free(fresh);
    ck_assert_int_eq(ts_ws_send_text(&b, cmd), 0);
    r = ts_ws_recv_until(&b, "\"id\":2,", 3000);
    ck_assert_msg(r && strstr(r, "\"refresh\":{") && strstr(r, "\"expires\":true"), "refresh reply: %s", r ? r : "(none)");
    free(r);

    /* exp is 1-2 s after connect (whole seconds), then the 1 s delay */
    expect_closed_in(&a, t0, 8000, 3005, "connection expired", 1900, 5000, "expired token");
    /* b is alive past a's end: a command is answered */
    ts_sleep_ms(1000);
    ck_assert_int_eq(ts_ws_send_text(&b, "{\"history\":{\"channel\":\"plain.x\"},\"id\":3}"), 0);
    r = ts_ws_recv_until(&b, "\"id\":3,", 3000);
    ck_assert_msg(r && strstr(r, "\"code\":108"), "refreshed connection: %s (close %d)", r ? r : "(none)", b.close_code);
    free(r);
    ts_ws_close(&b);
}
END_TEST

/* Sends n presence_stats commands (a channel without presence: 108 each) in one frame
 * from id 2, reads until the replies stop or the connection closes; counts 108 and 111. */
static int flood(ts_ws *w, int n, int *n108, int *n111)
{
    size_t cap = (size_t)n * 80 + 1;
    char *frame = malloc(cap);
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(frame + len, cap - len, "%s{\"presence_stats\":{\"channel\":\"plain.x\"},\"id\":%d}",
                                i ? "\n" : "", i + 2);
    ck_assert_int_eq(ts_ws_send_text(w, frame), 0);
    free(frame);
    *n108 = *n111 = 0;
    for (;;) {
        char *m = NULL;
        size_t mlen = 0;
        int op = ts_ws_recv(w, &m, &mlen, 1500);
        if (op != 1) {
            free(m);
            return op == 8 ? w->close_code : 0;
        }
        *n108 += count_of(m, "\"code\":108");
        *n111 += count_of(m, "\"code\":111");
        free(m);
    }
}

START_TEST(test_command_flood_111_3013)
{
    /* 5 commands/s: a bucket of 10, then 111 for 20 refusals, then 3013 */
    ts_gateway *g = start_node("cf-flood", "limits = { commands_per_second = 5; };\n", false);
    ts_ws calm, w;
    int n108, n111;
    free(cf_open(&calm, g->port, NULL, NULL));
    ck_assert_int_eq(flood(&calm, 5, &n108, &n111), 0);
    ck_assert_msg(n108 == 5 && n111 == 0, "5 commands under the rate: %d x 108, %d x 111", n108, n111);
    ck_assert_int_eq(calm.close_code, 0);

    /* 25 at once: the bucket (10, the connect took one) answered, the rest refused
     * with 111 (temporary: the SDK retries); still connected */
    free(cf_open(&w, g->port, NULL, NULL));
    int code = flood(&w, 25, &n108, &n111);
    ck_assert_msg(code == 0, "25 commands at once: closed %d (%s)", code, w.close_reason);
    ck_assert_msg(n108 >= 9 && n108 <= 10 && n108 + n111 == 25, "25 commands at once: %d x 108, %d x 111", n108, n111);
    /* more while refused (over 2x the rate + 10 refusals): 3013, the replies queued
     * in that frame dropped with the connection */
    code = flood(&w, 20, &n108, &n111);
    ck_assert_msg(code == 3013, "20 more: close %d (%s), want 3013", code, w.close_reason);
    ck_assert_str_eq(w.close_reason, "too many requests");
    ts_ws_close(&w);
    /* the calm one is untouched */
    ck_assert_int_eq(flood(&calm, 1, &n108, &n111), 0);
    ck_assert_int_eq(n108, 1);
    ts_ws_close(&calm);
}
END_TEST

START_TEST(test_binary_refused_3501)
{
    ts_gateway *g = start_node("cf-bin", "", false);
    ts_ws w;
    /* a binary frame (a Protobuf command) after connect */
    free(cf_open(&w, g->port, NULL, NULL));
    const unsigned char pb[] = {0x08, 0x02, 0x2a, 0x06, 0x0a, 0x04, 'n', 'e', 'w', 's'};
    ck_assert_int_eq(ts_ws_send_frame(&w, 2, true, pb, sizeof pb), 0);
    int code = ts_ws_wait_closed(&w, 3000);
    ck_assert_msg(code == 3501, "binary frame: close %d (%s), want 3501", code, w.close_reason);
    ck_assert_str_eq(w.close_reason, "bad request");
    ts_ws_close(&w);
    /* a binary frame as the first message */
    ck_assert_int_eq(ts_ws_connect(&w, g->port, "/connection/websocket", NULL), 0);
    ck_assert_int_eq(ts_ws_send_frame(&w, 2, true, pb, sizeof pb), 0);
    code = ts_ws_wait_closed(&w, 3000);
    ck_assert_msg(code == 3501, "binary first frame: close %d (%s), want 3501", code, w.close_reason);
    ts_ws_close(&w);
    /* the Protobuf format asked in the URL, as the SDK's protobuf build does */
    ck_assert_int_eq(ts_ws_connect(&w, g->port, "/connection/websocket?format=protobuf", NULL), 0);
    code = ts_ws_wait_closed(&w, 3000);
    ck_assert_msg(code == 3501, "?format=protobuf: close %d (%s), want 3501", code, w.close_reason);
    ts_ws_close(&w);
}
END_TEST

/* FCALL pulse_publish 1 channel payload; returns the offset. */
static long publish_hist(const char *channel, const char *payload)
{
    char out[128];
    const char *argv[] = {"FCALL", "pulse_publish", "1", channel, payload};
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 5, argv), 0);
    char *end;
    long off = strtol(out, &end, 10);
    ck_assert_msg(end != out && *end == '\0', "FCALL pulse_publish %s: %s", channel, out);
    return off;
}

/* The largest "offset":N of a publication push of channel in frame m (0: none). */
static long last_pub_offset(const char *m, const char *channel, long last)
{
    char head[128];
    snprintf(head, sizeof head, "{\"push\":{\"channel\":\"%s\",\"pub\":", channel);
    for (const char *p = strstr(m, head); p; p = strstr(p + 1, head)) {
        const char *nl = strchr(p, '\n');
        const char *o = strstr(p, "},\"offset\":");
        if (o && (!nl || o < nl)) {
            long v = strtol(o + 11, NULL, 10);
            ck_assert_msg(v == last + 1, "publication offset %ld after %ld", v, last);
            last = v;
        }
    }
    return last;
}

START_TEST(test_slow_reader_2500_then_recovers)
{
    /* a soft bound of 4 messages drops events at once; the hard bound and the lag
     * limit out of reach, so the reader is not closed; no ping to answer meanwhile */
    ts_gateway *g = start_node("cf-gap",
                               "limits = { queue_max_messages = 4; queue_hard_messages = 1000000;"
                               " queue_hard_bytes = 1073741824; lag_limit_ms = 600000; };\n"
                               "centrifugo = { ping_interval_s = 600; };\n"
                               "channels = { rules = (\n"
                               "  { pattern = \"hist.*\"; history_size = 5000; history_ttl_s = 600; }\n"
                               "); };\n",
                               false);
    static char pad[16384 + 64];
    memset(pad, 'x', sizeof pad);
    char payload[sizeof pad + 64];
    snprintf(payload, sizeof payload, "{\"n\":0,\"pad\":\"%.16384s\"}", pad);
    ck_assert_int_eq(publish_hist("hist.gap", payload), 1); /* the channel has an epoch */

    ts_ws w;
    free(cf_open(&w, g->port, NULL, NULL));
    ck_assert_int_eq(ts_ws_send_text(&w, "{\"subscribe\":{\"channel\":\"hist.gap\"},\"id\":2}"), 0);
    char *r = ts_ws_recv_until(&w, "\"id\":2,", 5000);
    ck_assert_msg(r && strstr(r, "\"offset\":1,") && strstr(r, "\"positioned\":true"), "subscribe: %s", r ? r : "?");
    char epoch[80] = "";
    const char *e = strstr(r, "\"epoch\":\"");
    ck_assert_ptr_nonnull(e);
    snprintf(epoch, sizeof epoch, "%.*s", (int)strcspn(e + 9, "\""), e + 9);
    free(r);

    /* publish without reading until the node reports a drop (bounded) */
    long top = 1;
    double dropped = 0;
    for (int i = 1; i <= 3000 && dropped <= 0; i++) {
        snprintf(payload, sizeof payload, "{\"n\":%d,\"pad\":\"%.16384s\"}", i, pad);
        top = publish_hist("hist.gap", payload);
        if (i % 10 == 0)
            dropped = ts_metric(g->admin_port, "pulse_dropped_total{reason=\"queue_full\"}");
    }
    ck_assert_msg(dropped > 0, "no drop after %ld events to a reader that does not read", top);

    /* read what was queued (consecutive offsets): once caught up, the node says what
     * was lost with the unsubscribe push 2500, and delivers nothing more on it */
    long last = 1;
    char *push = NULL;
    for (int64_t end = ts_now_ms() + 15000; !push && ts_now_ms() < end;) {
        char *m = NULL;
        size_t len = 0;
        int op = ts_ws_recv(&w, &m, &len, 2000);
        ck_assert_msg(op == 1, "reading the backlog: op %d, close %d %s", op, w.close_code, w.close_reason);
        const char *u = strstr(m, "{\"push\":{\"channel\":\"hist.gap\",\"unsubscribe\":{");
        if (u) {
            ck_assert_msg(strstr(u, "\"pub\":") == NULL, "a publication after the 2500 push: %.300s", u);
            push = strndup(u, strcspn(u, "\n"));
        }
        last = last_pub_offset(m, "hist.gap", last);
        free(m);
    }
    ck_assert_msg(push != NULL, "no unsubscribe push after the drop (read up to offset %ld of %ld)", last, top);
    ck_assert_msg(strcmp(push, "{\"push\":{\"channel\":\"hist.gap\",\"unsubscribe\":{\"code\":2500,"
                                "\"reason\":\"insufficient state\"}}}") == 0,
                  "unsubscribe push: %s", push);
    free(push);
    ck_assert_msg(last < top, "every event arrived (%ld of %ld): nothing was dropped", last, top);
    /* a later event is not delivered to the gapped subscription */
    snprintf(payload, sizeof payload, "{\"n\":\"after\"}");
    top = publish_hist("hist.gap", payload);
    char *m = NULL;
    size_t len = 0;
    int op = ts_ws_recv(&w, &m, &len, 700);
    ck_assert_msg(op == 0, "after 2500: op %d %.200s", op, m ? m : "");
    free(m);

    /* the SDK's answer: subscribe again recovering from the last offset it has */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "{\"subscribe\":{\"channel\":\"hist.gap\",\"recover\":true,\"offset\":%ld,\"epoch\":\"%s\"},\"id\":3}",
             last, epoch);
    ck_assert_int_eq(ts_ws_send_text(&w, cmd), 0);
    r = ts_ws_recv_until(&w, "\"id\":3,", 10000);
    ck_assert_msg(r != NULL, "no answer to the recovering subscribe");
    ck_assert_msg(strstr(r, "\"recovered\":true") && strstr(r, "\"was_recovering\":true"), "resubscribe: %.300s", r);
    int got = count_of(r, "},\"offset\":");
    ck_assert_msg(got == top - last, "recovered %d publications, missed %ld (%ld..%ld)", got, top - last, last + 1, top);
    char want[64];
    snprintf(want, sizeof want, "},\"offset\":%ld}", last + 1);
    ck_assert_msg(strstr(r, want) != NULL, "recovery does not start at %ld", last + 1);
    snprintf(want, sizeof want, "{\"data\":{\"n\":\"after\"},\"offset\":%ld}", top);
    ck_assert_msg(strstr(r, want) != NULL, "recovery lacks the last event %s", want);
    free(r);
    ts_ws_close(&w);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("cf_endpoint", "endpoint", 120, &stack, TS_FIX_REDIS, 8000, NULL, NULL,
                          test_ping_pong_and_3012, test_expiry_3005, test_command_flood_111_3013,
                          test_binary_refused_3501, test_slow_reader_2500_then_recovers);
}
