/*
 * test_toolchain.c - the measuring toolchain end to end through the real binaries: a
 * throwaway Redis, two pulse-gateway nodes, pulse-subscribe holding 20 connections
 * across them, pulse-publish sending 20 critical events, and pulse-report --json, whose
 * numbers must say expected = received = 400, 0 dropped, 0 duplicates, split 200/200 by
 * node. Also: pulse-report's exit status 1 when critical deliveries are missing and 2
 * (with file and line) on a malformed log; pulse-subscribe reconnecting after its
 * gateway restarts (the gap is logged, later events still arrive); 16 KiB events to 40
 * clients arriving complete; a scripted server cutting its stream anywhere in a frame
 * (every delivery logged once, in order, intact); the subscriber's
 * command-line contract; the mechanics of loadtest/run_loadtest.sh --kill-node (three
 * nodes behind HAProxy, node-2 SIGKILLed mid-stream and restarted, its clients
 * reconnecting, the summary lines, the report).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ts_check.h"
#include "ts.h"
#include "ts_internal.h"
#include "pulse_clock.h"

static ts_stack stack; /* tmp dir and Redis (no gateway of its own) */

/* Starts bin with args (NULL-terminated), output to stack.tmp/<log>. */
static void start(ts_proc *p, const char *bin, const char *log, const char *const args[])
{
    char *argv[48];
    int n = 0;

    argv[n++] = ts_bin(bin);
    for (; *args != NULL && n < 46; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    ck_assert_int_eq(ts_proc_start(p, argv, NULL, ts_stack_path(&stack, log)), 0);
    free(argv[0]);
}

/* Runs to completion (bounded); returns the exit status. */
static int run(const char *bin, const char *log, const char *const args[], int timeout_ms)
{
    ts_proc p;
    int rc;

    start(&p, bin, log, args);
    rc = ts_proc_wait(&p, timeout_ms);
    if (rc < 0 || rc > 2)
        ts_proc_dump_log(&p, log);
    ts_proc_stop(&p, 2000);
    return rc;
}

static long count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    int c;

    if (f == NULL)
        return -1;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static json_int_t jint(json_t *root, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(root, a);
    if (b != NULL)
        v = json_object_get(v, b);
    if (c != NULL)
        v = json_object_get(v, c);
    ck_assert_msg(json_is_integer(v), "%s.%s.%s missing", a, b ? b : "", c ? c : "");
    return json_integer_value(v);
}

/* Runs pulse-report --json on out; returns the parsed report (and its exit status). */
static json_t *report_json(const char *out, int *status)
{
    static int calls;
    const char *args[] = {"--json", out, NULL};
    char name[32];
    json_error_t jerr;
    json_t *root;

    snprintf(name, sizeof(name), "report-%d.json", ++calls); /* logs are appended to */
    *status = run("pulse-report", name, args, 30000);
    root = json_load_file(ts_stack_path(&stack, name), 0, &jerr);
    ck_assert_msg(root != NULL, "report is not JSON: %s", jerr.text);
    return root;
}

START_TEST(test_end_to_end)
{
    ts_gateway gw1, gw2;
    ts_proc sub;
    char u1[64], u2[64], line[256], out[700];
    json_t *rep, *nodes;
    int status;

    snprintf(out, sizeof(out), "%s", ts_stack_path(&stack, "run"));
    ck_assert_int_eq(ts_gateway_start(&gw1, stack.tmp, stack.redis.port, "node-1", NULL), 0);
    ck_assert_int_eq(ts_gateway_start(&gw2, stack.tmp, stack.redis.port, "node-2", NULL), 0);
    ck_assert_int_eq(ts_http_wait_status(gw1.admin_port, "/healthz", 200, 10000), 0);
    ck_assert_int_eq(ts_http_wait_status(gw2.admin_port, "/healthz", 200, 10000), 0);
    snprintf(u1, sizeof(u1), "ws://127.0.0.1:%d/ws", gw1.port);
    snprintf(u2, sizeof(u2), "ws://127.0.0.1:%d/ws", gw2.port);
    {
        const char *args[] = {"--url", u1, "--url", u2, "--clients", "20", "--channels",
                              "events.critical", "--out", out, "--expect", "400", "--duration",
                              "40", NULL};
        start(&sub, "pulse-subscribe", "subscribe.log", args);
    }
    ck_assert_msg(ts_proc_wait_line(&sub, "pulse-subscribe ready", line, sizeof(line), 15000) == 0,
                  "subscriber never ready");
    ck_assert_str_eq(line, "pulse-subscribe ready clients=20");
    {
        char redis_url[64];
        const char *args[] = {"--count", "20", "--rate", "200", "--redis", redis_url, "--manifest",
                              NULL, NULL};
        char man[800];
        snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d", stack.redis.port);
        snprintf(man, sizeof(man), "%s/manifest.csv", out);
        args[7] = man;
        ck_assert_int_eq(run("pulse-publish", "publish.log", args, 30000), 0);
    }
    /* --expect 400: the subscriber stops by itself once everything arrived. */
    status = ts_proc_wait(&sub, 30000);
    if (status != 0) {
        ts_proc_dump_log(&sub, "pulse-subscribe");
        ts_proc_dump_log(&gw1.proc, "gateway node-1");
        ts_proc_dump_log(&gw2.proc, "gateway node-2");
    }
    ck_assert_int_eq(status, 0);
    ts_proc_stop(&sub, 2000);
    ck_assert(ts_file_contains(sub.log_path, "stop=expected deliveries reached"));
    ck_assert_int_eq(count_lines(ts_stack_path(&stack, "run/deliveries.csv")), 400);
    ck_assert_int_eq(count_lines(ts_stack_path(&stack, "run/clients.csv")), 21); /* header + 20 */

    rep = report_json(out, &status);
    ck_assert_int_eq(status, 0);
    ck_assert_int_eq(jint(rep, "events", NULL, NULL), 20);
    ck_assert_int_eq(jint(rep, "clients", "connected", NULL), 20);
    ck_assert_int_eq(jint(rep, "overall", "expected", NULL), 400);
    ck_assert_int_eq(jint(rep, "overall", "received", NULL), 400);
    ck_assert_int_eq(jint(rep, "overall", "dropped", NULL), 0);
    ck_assert_int_eq(jint(rep, "overall", "duplicates", NULL), 0);
    ck_assert_int_eq(jint(rep, "overall", "out_of_order", NULL), 0);
    ck_assert_int_eq(jint(rep, "overall", "unexpected", NULL), 0);
    ck_assert_int_eq(jint(rep, "by_priority", "critical", "received"), 400);
    ck_assert_int_eq(jint(rep, "overall", "latency_ms", "count"), 400);
    {
        double p50 = json_real_value(
            json_object_get(json_object_get(json_object_get(rep, "overall"), "latency_ms"), "p50"));
        double max = json_real_value(
            json_object_get(json_object_get(json_object_get(rep, "overall"), "latency_ms"), "max"));
        ck_assert_msg(p50 > 0 && p50 <= max && max < 5000, "p50 %.3f ms, max %.3f ms", p50, max);
    }
    nodes = json_object_get(rep, "by_node");
    ck_assert_int_eq(json_object_size(nodes), 2);
    ck_assert_int_eq(jint(nodes, "node-1", "clients", NULL), 10);
    ck_assert_int_eq(jint(nodes, "node-1", "received", NULL), 200);
    ck_assert_int_eq(jint(nodes, "node-2", "clients", NULL), 10);
    ck_assert_int_eq(jint(nodes, "node-2", "received", NULL), 200);
    json_decref(rep);
    ck_assert(ts_file_contains(ts_stack_path(&stack, "run/latency.svg"), "</svg>"));

    /* The gate: lose the last 5 delivery lines and the report exits 1. */
    {
        FILE *f = fopen(ts_stack_path(&stack, "run/deliveries.csv"), "r"), *g;
        char buf[512];
        long n = 0;
        ck_assert_ptr_nonnull(f);
        g = fopen(ts_stack_path(&stack, "run/deliveries.tmp"), "w");
        ck_assert_ptr_nonnull(g);
        while (fgets(buf, sizeof(buf), f) != NULL && n++ < 395)
            fputs(buf, g);
        fclose(f);
        ck_assert_int_eq(fclose(g), 0);
        ck_assert_int_eq(rename(ts_stack_path(&stack, "run/deliveries.tmp"), ts_stack_path(&stack, "run/deliveries.csv")), 0);
    }
    rep = report_json(out, &status);
    ck_assert_int_eq(status, 1);
    ck_assert_int_eq(jint(rep, "overall", "dropped", NULL), 5);
    ck_assert_int_eq(jint(rep, "by_priority", "critical", "dropped"), 5);
    json_decref(rep);

    /* A malformed line: exit 2 and the message names the file and line. */
    {
        FILE *f = fopen(ts_stack_path(&stack, "run/deliveries.csv"), "a");
        ck_assert_ptr_nonnull(f);
        fputs("0,node-1,events.critical,broken-line\n", f);
        ck_assert_int_eq(fclose(f), 0);
        {
            const char *args[] = {out, NULL};
            ck_assert_int_eq(run("pulse-report", "report-bad.log", args, 30000), 2);
        }
        ck_assert(ts_file_contains(ts_stack_path(&stack, "report-bad.log"), "deliveries.csv:396:"));
    }
    ts_gateway_stop(&gw1);
    ts_gateway_stop(&gw2);
}
END_TEST

/* The gateway goes away and comes back on the same port: every client reconnects with
 * backoff, the gap is logged, and events published afterwards still arrive. */
START_TEST(test_reconnect)
{
    ts_proc gw, sub;
    char port[16], redis_url[64], ws[64], out[700];
    char *gwbin = ts_bin("pulse-gateway");
    char o_port[] = "--port", o_admin[] = "--admin-port", zero[] = "0", o_redis[] = "--redis";
    char o_node[] = "--node-id", node[] = "rc-node";
    char *gw_argv[] = {gwbin, o_port, port, o_admin, zero, o_redis, redis_url, o_node, node, NULL};
    int p = ts_free_port();

    snprintf(out, sizeof(out), "%s", ts_stack_path(&stack, "rc"));
    snprintf(port, sizeof(port), "%d", p);
    snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d", stack.redis.port);
    snprintf(ws, sizeof(ws), "ws://127.0.0.1:%d/ws", p);
    ck_assert_int_eq(ts_proc_start(&gw, gw_argv, NULL, ts_stack_path(&stack, "gw-a.log")), 0);
    ck_assert_int_eq(ts_proc_wait_line(&gw, "pulse-gateway ready", NULL, 0, 10000), 0);
    {
        const char *args[] = {"--url", ws, "--clients", "4", "--out", out, "--expect", "40",
                              "--duration", "40", NULL};
        start(&sub, "pulse-subscribe", "sub-rc.log", args);
    }
    ck_assert_int_eq(ts_proc_wait_line(&sub, "pulse-subscribe ready", NULL, 0, 10000), 0);
    ts_proc_stop(&gw, 5000);
    ts_sleep_ms(300); /* let every client notice and start backing off */
    ck_assert_int_eq(ts_proc_start(&gw, gw_argv, NULL, ts_stack_path(&stack, "gw-b.log")), 0);
    ck_assert_int_eq(ts_proc_wait_line(&gw, "pulse-gateway ready", NULL, 0, 10000), 0);
    /* Wait (bounded) until all four gaps are logged, i.e. every client re-subscribed. */
    {
        int64_t deadline = ts_now_ms() + 15000;
        while (ts_now_ms() < deadline) {
            if (count_lines(ts_stack_path(&stack, "rc/gaps.csv")) == 4)
                break;
            ts_sleep_ms(100);
        }
    }
    ck_assert_int_eq(count_lines(ts_stack_path(&stack, "rc/gaps.csv")), 4);
    {
        char man[800];
        const char *args[] = {"--raw", "--count", "10", "--redis", redis_url, "--manifest", man,
                              NULL};
        snprintf(man, sizeof(man), "%s/manifest.csv", out);
        ck_assert_int_eq(run("pulse-publish", "pub-rc.log", args, 30000), 0);
    }
    ck_assert_int_eq(ts_proc_wait(&sub, 20000), 0);
    ts_proc_stop(&sub, 2000);
    ck_assert(ts_file_contains(ts_stack_path(&stack, "rc/clients.csv"), "rc-node"));
    {
        int status;
        json_t *rep = report_json(out, &status);
        ck_assert_int_eq(status, 0);
        ck_assert_int_eq(jint(rep, "clients", "disconnects", NULL), 4);
        ck_assert_int_eq(jint(rep, "clients", "gaps", NULL), 4);
        ck_assert_int_eq(jint(rep, "overall", "expected", NULL), 40);
        ck_assert_int_eq(jint(rep, "overall", "received", NULL), 40);
        json_decref(rep);
    }
    ts_proc_stop(&gw, 5000);
    free(gwbin);
}
END_TEST

/* Large events: 40 clients x 100 events of 16 KiB (frames far larger than one read of
 * the old libwebsockets client, several frames per read of the new one, frames cut
 * across reads): every one arrives, none twice, none garbled. */
START_TEST(test_large_events)
{
    ts_gateway gw;
    ts_proc sub;
    char u[64], out[700], redis_url[64], man[800];
    int status;

    snprintf(out, sizeof(out), "%s", ts_stack_path(&stack, "big"));
    ck_assert_int_eq(ts_gateway_start(&gw, stack.tmp, stack.redis.port, "node-big", NULL), 0);
    snprintf(u, sizeof(u), "ws://127.0.0.1:%d/ws", gw.port);
    {
        const char *args[] = {"--url", u, "--clients", "40", "--out", out, "--expect", "4000",
                              "--duration", "60", NULL};
        start(&sub, "pulse-subscribe", "sub-big.log", args);
    }
    ck_assert_int_eq(ts_proc_wait_line(&sub, "pulse-subscribe ready", NULL, 0, 15000), 0);
    snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d", stack.redis.port);
    snprintf(man, sizeof(man), "%s/manifest.csv", out);
    {
        const char *args[] = {"--count", "100", "--rate", "200", "--payload-bytes", "16384",
                              "--redis", redis_url, "--manifest", man, NULL};
        ck_assert_int_eq(run("pulse-publish", "pub-big.log", args, 30000), 0);
    }
    status = ts_proc_wait(&sub, 40000);
    if (status != 0)
        ts_proc_dump_log(&sub, "pulse-subscribe");
    ck_assert_int_eq(status, 0);
    ts_proc_stop(&sub, 2000);
    /* 4000 deliveries + a hello and a subscribed reply per client */
    ck_assert(ts_file_contains(sub.log_path, "deliveries=4000 frames=4080 bad_frames=0"));
    {
        json_t *rep = report_json(out, &status);
        ck_assert_int_eq(status, 0);
        ck_assert_int_eq(jint(rep, "overall", "expected", NULL), 4000);
        ck_assert_int_eq(jint(rep, "overall", "received", NULL), 4000);
        ck_assert_int_eq(jint(rep, "overall", "duplicates", NULL), 0);
        ck_assert_int_eq(jint(rep, "overall", "unexpected", NULL), 0);
        ck_assert_int_eq(jint(rep, "clients", "disconnects", NULL), 0);
        json_decref(rep);
    }
    ts_gateway_stop(&gw);
}
END_TEST

/* ------------------------------------------------- reads that end anywhere in a frame */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} bytes;

static void put_bytes(bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* One unmasked text frame, with each of the three length forms as its size asks. */
static void put_frame(bytes *b, const char *payload, size_t n)
{
    unsigned char h[10];
    put_bytes(b, h, ts_ws_frame_head(h, 0x81, n, false));
    put_bytes(b, payload, n);
}

#define CUT_EVENTS 150

static void event_id(char out[37], int i)
{
    snprintf(out, 37, "00000000-0000-4000-8000-%012d", i);
}

/* A scripted gateway on one connection: hello, subscribed, then CUT_EVENTS deliveries
 * in frames of 1 to 40 envelopes (a client that asked for ?batch=1; 7-bit, 16-bit and
 * 64-bit lengths), written in pieces
 * of 1 byte to 70 KB a few ms apart, so pulse-subscribe's reads end inside frame
 * headers, inside payloads just short of and far from their ends, and exactly on frame
 * boundaries. Every delivery must be logged once, in order, with its fields intact. */
START_TEST(test_reads_cut_anywhere)
{
    static const size_t pieces[] = {1, 1, 2, 3, 7, 9, 120, 1000, 4095, 20000, 70000, 5, 300};
    static const int group[] = {1, 1, 3, 1, 40, 2, 1, 7, 25};
    int port = ts_free_port(), lfd, fd, one = 1, frames = 2, status;
    struct sockaddr_in a;
    char u[64], out[700], req[4096], acc[32], path[800], line[512], *key, *end;
    size_t got = 0;
    bytes st = {0};
    ts_proc sub;
    FILE *f;

    ck_assert_int_gt(port, 0);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(lfd, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);

    snprintf(out, sizeof(out), "%s", ts_stack_path(&stack, "cut"));
    snprintf(u, sizeof(u), "ws://127.0.0.1:%d/ws", port);
    {
        char expect[16];
        snprintf(expect, sizeof expect, "%d", CUT_EVENTS);
        /* --batch: several envelopes per frame are what a client asks for with ?batch=1 */
        const char *args[] = {"--url", u, "--out", out, "--expect", expect, "--duration", "30",
                              "--batch", NULL};
        start(&sub, "pulse-subscribe", "sub-cut.log", args);
    }
    {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        ck_assert_msg(poll(&p, 1, 10000) == 1, "pulse-subscribe did not connect");
    }
    fd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    while (got < sizeof req - 1) {
        ssize_t n = recv(fd, req + got, sizeof req - 1 - got, 0);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    ck_assert_msg(strstr(req, "batch=1") != NULL, "pulse-subscribe --batch did not ask for batches: %s", req);
    key = strcasestr(req, "\r\nSec-WebSocket-Key:");
    ck_assert_ptr_nonnull(key);
    key += strlen("\r\nSec-WebSocket-Key:");
    while (*key == ' ')
        key++;
    end = strstr(key, "\r\n");
    ck_assert_ptr_nonnull(end);
    *end = '\0';
    ts__ws_accept(key, acc);
    {
        char head[256];
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
        put_bytes(&st, head, (size_t)n);
    }
    put_frame(&st, "{\"op\":\"hello\",\"node\":\"cut\"}", strlen("{\"op\":\"hello\",\"node\":\"cut\"}"));
    put_frame(&st, "{\"op\":\"subscribed\",\"channel\":\"events.critical\"}",
              strlen("{\"op\":\"subscribed\",\"channel\":\"events.critical\"}"));
    for (int i = 0, g = 0; i < CUT_EVENTS; g++) {
        bytes msg = {0};
        for (int k = 0; k < group[g % (int)N_ELEMS(group)] && i < CUT_EVENTS; k++, i++) {
            char id[37], env[4096], pad[3000];
            size_t padn = (size_t)(i * 397) % sizeof pad;
            int n;
            memset(pad, 'a' + i % 26, padn);
            event_id(id, i);
            n = snprintf(env, sizeof env,
                         "%s{\"channel\":\"events.critical\",\"data\":{\"event_id\":\"%s\","
                         "\"event_type\":\"CUT\",\"sequence\":%d,\"published_at_us\":%lld,"
                         "\"priority\":\"critical\",\"data\":{\"pad\":\"%.*s\"}}}",
                         k > 0 ? "\n" : "", id, i + 1, (long long)pulse_now_us(), (int)padn, pad);
            ck_assert_int_lt(n, (int)sizeof env);
            put_bytes(&msg, env, (size_t)n);
        }
        put_frame(&st, (const char *)msg.p, msg.len);
        frames++;
        free(msg.p);
    }
    for (size_t off = 0, k = 0; off < st.len; k++) {
        size_t n = pieces[k % N_ELEMS(pieces)];
        if (n > st.len - off)
            n = st.len - off;
        ck_assert_int_eq(send(fd, st.p + off, n, MSG_NOSIGNAL), (ssize_t)n);
        off += n;
        usleep(3000);
    }
    status = ts_proc_wait(&sub, 20000);
    if (status != 0)
        ts_proc_dump_log(&sub, "pulse-subscribe");
    ck_assert_int_eq(status, 0);
    ts_proc_stop(&sub, 2000);
    close(fd);
    close(lfd);
    free(st.p);

    snprintf(line, sizeof line, "deliveries=%d frames=%d bad_frames=0", CUT_EVENTS, frames);
    ck_assert_msg(ts_file_contains(sub.log_path, line), "summary line '%s' missing", line);
    snprintf(path, sizeof path, "%s/deliveries.csv", out);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < CUT_EVENTS; i++) {
        char id[37], want[128];
        ck_assert_msg(fgets(line, sizeof line, f) != NULL, "deliveries.csv ends after %d lines", i);
        event_id(id, i);
        snprintf(want, sizeof want, "0,cut,events.critical,%s,%d,CUT,", id, i + 1);
        ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "line %d: '%s', want '%s...'", i, line,
                      want);
    }
    ck_assert_msg(fgets(line, sizeof line, f) == NULL, "more than %d deliveries: %s", CUT_EVENTS, line);
    fclose(f);
}
END_TEST

START_TEST(test_subscriber_cli)
{
    int p = ts_free_port();
    char ws[64], out[700];

    snprintf(out, sizeof(out), "%s", ts_stack_path(&stack, "cli"));
    snprintf(ws, sizeof(ws), "ws://127.0.0.1:%d/ws", p);
    {
        const char *args[] = {"--help", NULL};
        ck_assert_int_eq(run("pulse-subscribe", "s0.log", args, 5000), 0);
        ck_assert(ts_file_contains(ts_stack_path(&stack, "s0.log"), "Usage: pulse-subscribe"));
    }
    {
        const char *args[] = {"--clients", "0", "--out", out, NULL};
        ck_assert_int_eq(run("pulse-subscribe", "s1.log", args, 5000), 2);
        ck_assert(ts_file_contains(ts_stack_path(&stack, "s1.log"), "--clients"));
    }
    {
        const char *args[] = {"--url", "http://x", "--out", out, NULL};
        ck_assert_int_eq(run("pulse-subscribe", "s2.log", args, 5000), 2);
    }
    {
        const char *args[] = {"--channels", "bad channel!", "--out", out, NULL};
        ck_assert_int_eq(run("pulse-subscribe", "s3.log", args, 5000), 2);
    }
    {
        const char *args[] = {"--url", ws, NULL};
        ck_assert_int_eq(run("pulse-subscribe", "s4.log", args, 5000), 2);
        ck_assert(ts_file_contains(ts_stack_path(&stack, "s4.log"), "--out"));
    }
    {
        /* Nobody listens there: it keeps retrying, then says so and exits 1. */
        const char *args[] = {"--url", ws, "--clients", "3", "--out", out, "--duration", "1", NULL};
        ck_assert_int_eq(run("pulse-subscribe", "s5.log", args, 10000), 1);
        ck_assert(ts_file_contains(ts_stack_path(&stack, "s5.log"), "no connection was ever ready"));
        ck_assert_int_eq(count_lines(ts_stack_path(&stack, "cli/clients.csv")), 4);
    }
    {
        const char *args[] = {"--bogus", NULL};
        ck_assert_int_eq(run("pulse-report", "r1.log", args, 5000), 2);
    }
    {
        const char *args[] = {ts_stack_path(&stack, "nonexistent"), NULL};
        ck_assert_int_eq(run("pulse-report", "r2.log", args, 5000), 2);
        ck_assert(ts_file_contains(ts_stack_path(&stack, "r2.log"), "manifest.csv"));
    }
}
END_TEST

/* loadtest/run_loadtest.sh --kill-node, small: 24 clients through HAProxy, 400 events
 * at 100/s on events.critical (history by default), node-2 killed after about 1.3 s
 * and restarted. Its clients reconnect with since and recover what they missed: every
 * expected delivery arrives, some of them recovered, none lost, none twice. */
START_TEST(test_kill_node)
{
    char cmd[2048], line[512];
    const char *out = ts_stack_path(&stack, "kill"), *log = ts_stack_path(&stack, "kill.log");
    int st, code, reconnected = -1;
    FILE *f;
    json_t *rep;

    snprintf(cmd, sizeof cmd,
             "timeout 240 bash '%s/loadtest/run_loadtest.sh' --kill-node --no-build "
             "--build-dir '%s' --clients 24 --events 400 --rate 100 --timeout 20 --out '%s' "
             ">'%s' 2>&1",
             PULSE_SOURCE_DIR, PULSE_BIN_DIR, out, log);
    st = system(cmd);
    code = st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (code != 0 && code != 1) {
        snprintf(cmd, sizeof cmd, "tail -40 '%s' >&2", log);
        (void)!system(cmd);
    }
    ck_assert_msg(code == 0, "run_loadtest.sh --kill-node exited %d", code);
    ck_assert(ts_file_contains(log, "loadtest: SIGKILL node-2 (pid "));
    ck_assert(ts_file_contains(log, "loadtest: node-2 restarted (pid "));
    f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "loadtest: %d clients reconnected", &reconnected) == 1)
            break;
    fclose(f);
    ck_assert_msg(reconnected >= 1 && reconnected <= 24, "%d clients reconnected", reconnected);
    ck_assert(ts_file_contains(log, "loadtest: history: recovered "));
    rep = report_json(out, &st);
    ck_assert_int_eq(jint(rep, "overall", "expected", NULL), 24 * 400);
    ck_assert_int_eq(jint(rep, "overall", "received", NULL), 24 * 400);
    ck_assert_int_eq(jint(rep, "overall", "dropped", NULL), 0);
    ck_assert_int_eq(jint(rep, "overall", "lost", NULL), 0);
    ck_assert_int_gt(jint(rep, "overall", "recovered", NULL), 0);
    ck_assert_int_eq(jint(rep, "overall", "duplicates", NULL), 0);
    ck_assert_int_ge(jint(rep, "clients", "disconnects", NULL), reconnected);
    json_decref(rep);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("toolchain", "e2e", 120, &stack, TS_FIX_REDIS, 0, NULL, NULL,
                          test_end_to_end, test_reconnect, test_large_events, test_reads_cut_anywhere,
                          test_subscriber_cli, test_kill_node);
}
