/*
 * test_sends.c - how many send syscalls the gateway spends on the wire (issue 9).
 * libwebsockets 4.1.6 caps every send() at the protocol's rx_buffer_size (256) unless
 * tx_packet_size is set: a frame over 276 bytes then left in two sends (the rest
 * buffered, a malloc per frame) and a packed backlog in 276-byte pieces. These tests
 * attach strace to the real gateway (one worker, one client) and read the sendto/
 * sendmsg/writev calls it makes: a 3 KiB frame must leave in exactly one send, and a
 * backlog of small frames built while the client does not read must leave in sends of
 * far more than 276 bytes on average. With ws.io_uring (the default) a flush's single
 * frames go to the kernel in one io_uring_enter instead of one sendto each: strace
 * shows the call and how many sends it submits, so a fan-out to 20 clients must be one
 * io_uring_enter of 20 and no sendto, and the backlog (whose first frames go through
 * the ring and the rest, when the socket is full, through lws) must arrive whole and
 * in order. The test process owns every process it starts (redis-server,
 * pulse-gateway, strace) and stops each by PID.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "ts.h"
#include "ts_check.h"

#define CHANNEL "events.critical"

static ts_stack stack;
static ts_proc tracer;
static char trace_path[600];

static void setup(void)
{
    memset(&tracer, 0, sizeof tracer);
}

/* One gateway, one worker, its sends through io_uring or not (after the stack's setup:
 * Redis is up). */
static void start_gateway(bool uring)
{
    char *extra[] = {(char *)"--workers", (char *)"1", (char *)(uring ? "--ws.io-uring=true" : "--ws.io-uring=false"),
                     NULL};
    ck_assert_int_eq(ts_stack_start_gateway(&stack, "node-sends", extra), 0);
}

/* Before the stack's teardown: strace, when a test failed with it still attached. */
static void teardown(void)
{
    ts_proc_stop(&tracer, 2000);
}

/* Prints a file to stderr (the strace output of a failed test). */
static void dump_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    fprintf(stderr, "==== %s ====\n", path);
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        fputs(line, stderr);
    if (f != NULL)
        fclose(f);
}

/* Lines of path containing needle. */
static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strstr(line, needle) != NULL)
            n++;
    fclose(f);
    return n;
}

/* strace on every thread of the gateway, tracing the system calls named in calls
 * (strace's trace= list); returns once strace says it has attached ("Process N
 * attached with K threads": after the last one). */
static void trace_calls(const char *calls)
{
    char trace[200];
    snprintf(trace, sizeof trace, "trace=%s", calls);
    char pid[16], log[600];
    snprintf(pid, sizeof pid, "%d", (int)stack.gw[0].proc.pid);
    snprintf(trace_path, sizeof trace_path, "%s/sends.strace", stack.tmp);
    snprintf(log, sizeof log, "%s/strace.log", stack.tmp);
    char *argv[] = {(char *)"/usr/bin/strace", (char *)"-f", (char *)"-s", (char *)"0", (char *)"-e", trace,
                    (char *)"-o", trace_path, (char *)"-p", pid, NULL};
    ck_assert_int_eq(ts_proc_start(&tracer, argv, NULL, log), 0);
    int64_t deadline = ts_now_ms() + 10000;
    while (count_lines(log, " attached") < 1) {
        ck_assert_msg(ts_now_ms() < deadline, "strace did not attach (see %s)", log);
        ck_assert_msg(ts_proc_wait(&tracer, 0) == -1, "strace exited early (ptrace not allowed?)");
        ts_sleep_ms(20);
    }
}

/* strace on the gateway's socket sends (trace_calls). */
static void trace_start(void)
{
    trace_calls("sendto,sendmsg,writev,io_uring_enter");
}

typedef struct {
    int sends;    /* send calls the gateway entered */
    long max_len; /* the largest length one sendto() was asked to write */
    int enters;   /* io_uring_enter calls that submitted something */
    int submitted; /* the sends they submitted (the ring carries nothing else) */
} send_stats;

/* Stops strace (SIGINT: it detaches and flushes) and reads the send calls it saw. A
 * call is counted at its entry line: the gateway is stopped there until strace has
 * logged it, so a call whose bytes the client already has is always in the file (its
 * result may not be: strace can be interrupted before it logs the exit). A call split
 * by another thread's line goes on in a "<... resumed>" line, not counted again. */
static send_stats trace_stop(void)
{
    ts_proc_signal(&tracer, SIGINT);
    ck_assert_int_ge(ts_proc_wait(&tracer, 5000), 0);
    ts_proc_stop(&tracer, 0); /* reaped: marks it stopped for the fixtures */
    send_stats s = {0, 0, 0, 0};
    FILE *f = fopen(trace_path, "r");
    ck_assert_msg(f != NULL, "no strace output %s", trace_path);
    char line[4096];
    static const char *const calls[] = {"sendto(", "sendmsg(", "writev("};
    while (fgets(line, sizeof line, f) != NULL) {
        for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
            const char *p = strstr(line, calls[i]);
            if (p == NULL)
                continue;
            s.sends++;
            int fd;
            long len;
            if (i == 0 && sscanf(p, "sendto(%d, %*[^,], %ld", &fd, &len) == 2 && len > s.max_len)
                s.max_len = len;
        }
        const char *u = strstr(line, "io_uring_enter(");
        int fd, n;
        if (u != NULL && sscanf(u, "io_uring_enter(%d, %d,", &fd, &n) == 2 && n > 0) {
            s.enters++;
            s.submitted += n;
        }
    }
    fclose(f);
    return s;
}

/* n events of about pad_bytes each, PUBLISHed pipelined over one connection; *env_len
 * gets the length of the first event's delivery frame payload. */
static void publish_events(int n, int pad_bytes, size_t *env_len)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", stack.redis.port, tv);
    ck_assert(c != NULL && c->err == 0);
    redisSetTimeout(c, tv);
    char *pad = malloc((size_t)pad_bytes + 64), *ev = malloc((size_t)pad_bytes + 1024);
    ck_assert(pad != NULL && ev != NULL);
    for (int i = 0; i < n; i++) {
        snprintf(pad, (size_t)pad_bytes + 64, "{\"i\":%d,\"pad\":\"%0*d\"}", i, pad_bytes, i);
        ck_assert_int_gt(ts_event_json(ev, (size_t)pad_bytes + 1024, "SENDS", (uint64_t)i + 1, "critical", pad), 0);
        if (i == 0 && env_len != NULL) {
            char *env = ts_envelope(CHANNEL, ev);
            *env_len = strlen(env);
            free(env);
        }
        ck_assert_int_eq(redisAppendCommand(c, "PUBLISH %s %s", CHANNEL, ev), REDIS_OK);
    }
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        ck_assert_msg(r->type == REDIS_REPLY_INTEGER && r->integer == 1, "PUBLISH %d: %lld receivers (want 1)", i,
                      (long long)r->integer);
        freeReplyObject(r);
    }
    free(pad);
    free(ev);
    redisFree(c);
}

/* Reads deliveries until n have arrived; returns the bytes they took on the wire
 * (unmasked server frames: 2 header bytes, 4 from 126 bytes, 10 from 64 KiB). */
static long receive_events(ts_ws *w, int n)
{
    long wire = 0;
    for (int got = 0; got < n; got++) {
        char *m = NULL;
        size_t len = 0;
        int r = ts_ws_recv(w, &m, &len, 10000);
        wire += (long)len + (len < 126 ? 2 : len < 65536 ? 4 : 10);
        char want[48];
        snprintf(want, sizeof want, "{\"i\":%d,\"pad\":", got);
        ck_assert_msg(r == 1 && m != NULL && strstr(m, "\"SENDS\"") != NULL && strstr(m, want) != NULL,
                      "delivery %d of %d (want %s, whole and in order): (%d) %.80s", got, n, want, r,
                      m != NULL ? m : "(nothing)");
        free(m);
    }
    return wire;
}

/* One frame of about 3 KiB (over 256 + 20 bytes) reaches the socket in one send. */
START_TEST(test_large_frame_one_send)
{
    start_gateway(false);
    ts_ws w;
    ck_assert_int_eq(ts_ws_open(&w, stack.gw[0].port, CHANNEL, NULL, 5000), 0);
    trace_start();
    size_t env_len = 0;
    publish_events(1, 3000, &env_len);
    receive_events(&w, 1);
    send_stats s = trace_stop();
    if (s.sends != 1)
        dump_file(trace_path);
    long frame = (long)env_len + 4; /* 126..65535 bytes: 2 + 2 header bytes, unmasked */
    ck_assert_msg(s.sends == 1 && s.max_len == frame,
                  "a %ld-byte frame left in %d sends (largest %ld bytes; want 1 send of %ld)", frame, s.sends,
                  s.max_len, frame);
    ts_ws_close(&w);
}
END_TEST

/* A client that stops reading builds a backlog in the gateway (6.8 MB published, far
 * more than the socket buffers hold); once it reads again the queued frames (2.3 KB
 * each) leave packed, many to a send. The frames the kernel takes one by one before
 * the client's window shuts (up to 1 MB here when the gateway outruns the publisher,
 * as under ASan) must stay a small part of the whole: with 1.4 MB they were most. */
static void backlog(bool uring)
{
    start_gateway(uring);
    enum { N = 3000, PAD = 2000 };
    ts_ws w;
    ck_assert_int_eq(ts_ws_open(&w, stack.gw[0].port, CHANNEL, NULL, 5000), 0);
    trace_start();
    publish_events(N, PAD, NULL);
    ts_sleep_ms(300); /* the gateway has taken every event in; the client has read none */
    long wire = receive_events(&w, N);
    send_stats s = trace_stop();
    int sends = s.sends + s.submitted;
    double per_send = sends > 0 ? (double)wire / sends : 0;
    fprintf(stderr, "sends: backlog, io_uring %s: %d frames (%ld bytes) in %d sendto/writev + %d through the ring\n",
            uring ? "on" : "off", N, wire, s.sends, s.submitted);
    if (uring) /* the backlog's first frames, packed, went through the ring */
        ck_assert_msg(s.submitted > 0, "io_uring on: no send went through the ring");
    ck_assert_msg(per_send > 4.0 * 276, "%d frames (%ld bytes) left in %d sends: %.0f bytes per send (want > %d)", N,
                  wire, sends, per_send, 4 * 276);
    ts_ws_close(&w);
}

START_TEST(test_backlog_few_sends)
{
    backlog(false);
}
END_TEST

/* The same with io_uring: the first frames go through the ring, those a full socket
 * refused through lws; all arrive whole and in order. */
START_TEST(test_backlog_uring)
{
    backlog(true);
}
END_TEST

/* ws.io_uring: one event of about 3 KiB to 20 clients leaves in one io_uring_enter
 * submitting 20 sends, no sendto; every client gets it whole. */
START_TEST(test_fanout_one_enter)
{
    enum { CLIENTS = 20 };
    start_gateway(true);
    ts_ws w[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        ck_assert_int_eq(ts_ws_open(&w[i], stack.gw[0].port, CHANNEL, NULL, 5000), 0);
    double sends0 = ts_metric(stack.gw[0].admin_port, "pulse_ring_sends_total");
    double enters0 = ts_metric(stack.gw[0].admin_port, "pulse_ring_enters_total");
    trace_start();
    publish_events(1, 3000, NULL);
    for (int i = 0; i < CLIENTS; i++)
        receive_events(&w[i], 1);
    send_stats s = trace_stop();
    double sends1 = ts_metric(stack.gw[0].admin_port, "pulse_ring_sends_total");
    double enters1 = ts_metric(stack.gw[0].admin_port, "pulse_ring_enters_total");
    ck_assert_msg(sends1 - sends0 == CLIENTS && enters1 - enters0 == 1,
                  "pulse_ring_sends_total +%.0f, pulse_ring_enters_total +%.0f (want +%d, +1)", sends1 - sends0,
                  enters1 - enters0, CLIENTS);
    if (s.sends != 0 || s.enters != 1 || s.submitted != CLIENTS)
        dump_file(trace_path);
    ck_assert_msg(s.sends == 0 && s.enters == 1 && s.submitted == CLIENTS,
                  "one event to %d clients: %d sendto/writev, %d io_uring_enter submitting %d (want 0, 1, %d)",
                  CLIENTS, s.sends, s.enters, s.submitted, CLIENTS);
    for (int i = 0; i < CLIENTS; i++)
        ts_ws_close(&w[i]);
}
END_TEST

/* The frame at *p (an unmasked server frame with a payload under 126 bytes): its
 * first byte and payload; advances *p. false when what is left is not one. */
static bool next_frame(const unsigned char **p, const unsigned char *end, unsigned *b0, char *payload, size_t cap)
{
    if (end - *p < 2 || ((*p)[1] & 0x80) || (*p)[1] >= 126 || end - *p < 2 + (*p)[1] || (*p)[1] >= cap)
        return false;
    *b0 = (*p)[0];
    memcpy(payload, *p + 2, (*p)[1]);
    payload[(*p)[1]] = '\0';
    *p += 2 + (*p)[1];
    return true;
}

/* A handshake is one send: the 101 with the connection's first frames after it
 * (hello, and subscribed for a channel Redis has already confirmed), then an
 * unsolicited PONG whose payload is the CRLF lws ends the 101 with. No TCP_CORK to take
 * off (no setsockopt), and the worker watches its sockets through epoll (no poll()). */
START_TEST(test_handshake_one_send)
{
    enum { CLIENTS = 20 };
    start_gateway(true);
    int port = stack.gw[0].port;
    ts_ws first; /* Redis confirms the channel: the next ones are answered at once */
    ck_assert_int_eq(ts_ws_open(&first, port, CHANNEL, NULL, 5000), 0);
    trace_calls("sendto,sendmsg,writev,io_uring_enter,setsockopt,poll,ppoll,epoll_wait");
    ts_ws w[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        ck_assert_int_eq(ts_ws_connect(&w[i], port, "/ws?channels=" CHANNEL, "pulse.v1"), 0);
        /* what came with the 101, in the same read */
        const unsigned char *p = w[i].buf, *end = w[i].buf + w[i].len;
        unsigned b0 = 0;
        char pl[128];
        ck_assert_msg(next_frame(&p, end, &b0, pl, sizeof pl) && b0 == 0x81 && strstr(pl, "\"op\":\"hello\"") &&
                          strstr(pl, "\"protocol\":\"pulse.v1\""),
                      "client %d: the 101 was not followed by the hello (%zu bytes after it)", i, w[i].len);
        ck_assert_msg(next_frame(&p, end, &b0, pl, sizeof pl) && b0 == 0x81 &&
                          strcmp(pl, "{\"op\":\"subscribed\",\"channel\":\"" CHANNEL "\"}") == 0,
                      "client %d: the hello was not followed by subscribed", i);
        ck_assert_msg(next_frame(&p, end, &b0, pl, sizeof pl) && b0 == 0x8a && strcmp(pl, "\r\n") == 0,
                      "client %d: the first frames were not followed by a PONG of CRLF", i);
        ck_assert_msg(p == end, "client %d: %zu more bytes after the PONG", i, (size_t)(end - p));
        w[i].len = 0; /* read */
    }
    send_stats s = trace_stop();
    int setsockopts = count_lines(trace_path, " setsockopt(");
    int polls = count_lines(trace_path, " poll(") + count_lines(trace_path, " ppoll(");
    int waits = count_lines(trace_path, " epoll_wait(");
    if (s.sends + s.submitted != CLIENTS || setsockopts != 0 || polls != 0 || waits == 0)
        dump_file(trace_path);
    ck_assert_msg(s.sends + s.submitted == CLIENTS, "%d handshakes: %d sends (want one each)", CLIENTS,
                  s.sends + s.submitted);
    ck_assert_msg(setsockopts == 0, "%d setsockopt calls for %d handshakes (want none)", setsockopts, CLIENTS);
    ck_assert_msg(polls == 0 && waits > 0, "the worker's loop made %d poll()/ppoll() and %d epoll_wait() calls (want 0, > 0)",
                  polls, waits);
    /* and each is an ordinary subscriber: the PONG was ignored, the event arrives */
    publish_events(1, 100, NULL);
    receive_events(&first, 1);
    for (int i = 0; i < CLIENTS; i++) {
        receive_events(&w[i], 1);
        ts_ws_close(&w[i]);
    }
    ts_ws_close(&first);
}
END_TEST

/* A kernel (or a container's seccomp profile) that refuses io_uring: the gateway says
 * so once and every client still gets every event, through send(). */
START_TEST(test_uring_refused)
{
    enum { CLIENTS = 20, EVENTS = 5 };
    char wrap[600];
    snprintf(wrap, sizeof wrap, "%s/tests/support/ts_no_uring", PULSE_BIN_DIR);
    ck_assert_int_eq(setenv("TS_GATEWAY_WRAP", wrap, 1), 0);
    start_gateway(true);
    unsetenv("TS_GATEWAY_WRAP");
    ts_ws w[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        ck_assert_int_eq(ts_ws_open(&w[i], stack.gw[0].port, CHANNEL, NULL, 5000), 0);
    trace_start();
    publish_events(EVENTS, 100, NULL);
    for (int i = 0; i < CLIENTS; i++)
        receive_events(&w[i], EVENTS);
    send_stats s = trace_stop();
    ck_assert_msg(s.sends >= CLIENTS && s.submitted == 0,
                  "io_uring refused: %d sendto/writev, %d through the ring (want >= %d, 0)", s.sends, s.submitted,
                  CLIENTS);
    ck_assert_int_eq((int)ts_metric(stack.gw[0].admin_port, "pulse_ring_sends_total"), 0);
    ck_assert_int_eq((int)ts_metric(stack.gw[0].admin_port, "pulse_deliveries_total{priority=\"critical\"}"),
                     CLIENTS * EVENTS);
    const char *warn = "io_uring unavailable (Function not implemented): one send() per delivery";
    int warned = count_lines(stack.gw[0].proc.log_path, warn);
    ck_assert_msg(warned > 0, "the gateway's log lacks '%s'", warn);
    ck_assert_msg(warned == 1, "the io_uring warning was logged more than once (%d)", warned);
    for (int i = 0; i < CLIENTS; i++)
        ts_ws_close(&w[i]);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("sends", "sends", 60, &stack, TS_FIX_REDIS, 10000, setup, teardown,
                          test_large_frame_one_send, test_backlog_few_sends, test_backlog_uring,
                          test_fanout_one_enter, test_uring_refused, test_handshake_one_send);
}
