/*
 * test_limits.c - per-node and per-connection limits that are not about queues:
 * max connections (the extra client is refused or closed, the others unaffected, room
 * again once one leaves), the heartbeat (a client that never answers PINGs is closed,
 * one that does stays), and the handshake timeout (a TCP connection that never
 * finishes its upgrade is dropped), sockets waiting for their first bytes, and
 * upgrade requests with WebSocket frames right behind them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ts_check.h"
#include "ts.h"

static ts_stack stack;

static void start_gateway(char *const extra[])
{
    ck_assert_msg(ts_stack_start_gateway(&stack, "node-l", extra) == 0, "gateway did not start");
}

START_TEST(test_max_connections)
{
    char *extra[] = {(char *)"--limits.max-connections", (char *)"2", NULL};
    start_gateway(extra);
    ts_ws a, b, c;
    ck_assert(ts_ws_open(&a, stack.gw[0].port, "lim", "node-l", 5000) == 0);
    ck_assert(ts_ws_open(&b, stack.gw[0].port, "lim", "node-l", 5000) == 0);
    int rc = ts_ws_connect(&c, stack.gw[0].port, "/ws?channels=lim", "pulse.v1");
    if (rc == 0) {
        /* Upgraded, then it must be closed at once (it may see an error first). */
        int code = ts_ws_wait_closed(&c, 3000);
        ck_assert_msg(code >= 0, "a third connection over max_connections=2 stayed open");
        ts_ws_close(&c);
    } else {
        ck_assert_msg(rc == -1 || rc >= 400, "third connection: status %d", rc);
    }
    ck_assert_msg(ts_metric(stack.gw[0].admin_port, "pulse_connections_active") <= 2,
                  "more than 2 connections active");
    ts_assert_pong(&a, "first client");
    ts_assert_pong(&b, "second client");
    ts_ws_close(&a);
    /* Room again (the gateway notices the close asynchronously: poll). */
    int64_t deadline = ts_now_ms() + 5000;
    bool ok = false;
    while (!ok && ts_now_ms() < deadline) {
        if (ts_ws_open(&c, stack.gw[0].port, "lim", "node-l", 2000) == 0)
            ok = true;
        else
            ts_sleep_ms(100);
    }
    ck_assert_msg(ok, "no room for a new client after one of two left");
    ts_assert_pong(&c, "replacement client");
    ts_ws_close(&b);
    ts_ws_close(&c);
}
END_TEST

START_TEST(test_heartbeat)
{
    char *extra[] = {(char *)"--limits.heartbeat-interval-s", (char *)"1",
                     (char *)"--limits.heartbeat-timeout-s", (char *)"1", NULL};
    start_gateway(extra);
    ts_ws live, mute;
    ck_assert(ts_ws_open(&live, stack.gw[0].port, "hb", "node-l", 5000) == 0);
    ck_assert(ts_ws_open(&mute, stack.gw[0].port, "hb", "node-l", 5000) == 0);
    /* live reads (and so answers PINGs) for 4 s; mute reads nothing. */
    int64_t end = ts_now_ms() + 4000;
    while (ts_now_ms() < end) {
        char *m = NULL;
        int r = ts_ws_recv(&live, &m, NULL, (int)(end - ts_now_ms()));
        free(m);
        ck_assert_msg(r >= 0 && r != 8, "the client answering PINGs was closed (%d, code %d)", r,
                      live.close_code);
    }
    ts_assert_pong(&live, "client answering PINGs");
    int code = ts_ws_wait_closed(&mute, 3000);
    ck_assert_msg(code >= 0, "a client that never answered PINGs for 4 s is still open "
                             "(heartbeat 1 s + timeout 1 s)");
    ts_ws_close(&mute);
    ts_ws_close(&live);
}
END_TEST

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    return fd;
}

/* Waits for EOF (or reset) on fd; returns ms waited or -1 on timeout. */
static int64_t wait_eof(int fd, int timeout_ms)
{
    int64_t t0 = ts_now_ms();
    int64_t deadline = t0 + timeout_ms;
    for (;;) {
        int64_t left = deadline - ts_now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return ts_now_ms() - t0;
    }
}

START_TEST(test_handshake_timeout)
{
    char *extra[] = {(char *)"--limits.handshake-timeout-s", (char *)"1", NULL};
    start_gateway(extra);
    int silent = raw_connect(stack.gw[0].port);
    int partial = raw_connect(stack.gw[0].port);
    ck_assert(silent >= 0 && partial >= 0);
    const char *half = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n";
    ck_assert_int_eq(send(partial, half, strlen(half), MSG_NOSIGNAL), (ssize_t)strlen(half));
    int64_t t1 = wait_eof(silent, 5000);
    int64_t t2 = wait_eof(partial, 5000);
    ck_assert_msg(t1 >= 0, "a connection that sent nothing was not dropped within 5 s "
                           "(handshake timeout 1 s)");
    ck_assert_msg(t2 >= 0, "a half-sent handshake was not dropped within 5 s (timeout 1 s)");
    close(silent);
    close(partial);
    /* Real clients are unaffected. */
    ts_ws ok;
    ck_assert(ts_ws_open(&ok, stack.gw[0].port, "hs", "node-l", 5000) == 0);
    ts_assert_pong(&ok, "a client after the stalled handshakes");
    ts_ws_close(&ok);
}
END_TEST

/* Data segments this client socket received: tcpi_data_segs_in of the kernel's
 * struct tcp_info (Linux 4.6+), at byte 152; glibc's copy of the struct ends earlier. */
static unsigned data_segs_in(int fd)
{
    unsigned char ti[256];
    socklen_t len = sizeof ti;
    memset(ti, 0, sizeof ti);
    ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len), 0);
    ck_assert_msg(len >= 156, "struct tcp_info of %u bytes has no tcpi_data_segs_in", (unsigned)len);
    uint32_t v;
    memcpy(&v, ti + 152, sizeof v);
    return v;
}

/* Reads from fd until want appears (5 s at most); true when it did. */
static bool read_until(int fd, const char *want, char *buf, size_t cap)
{
    size_t have = 0;
    int64_t deadline = ts_now_ms() + 5000;
    buf[0] = '\0';
    while (have + 1 < cap && !memmem(buf, have, want, strlen(want)) && ts_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(fd, buf + have, cap - 1 - have, 0);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
    }
    return memmem(buf, have, want, strlen(want)) != NULL;
}

static double wait_metric(int admin_port, const char *name, double want)
{
    double v = -1;
    for (int64_t end = ts_now_ms() + 5000; ts_now_ms() < end; ts_sleep_ms(20))
        if ((v = ts_metric(admin_port, name)) == want)
            break;
    return v;
}

/* Accepted sockets wait on the node until their first bytes arrive and only then go
 * to a worker (a reconnect storm must not fill lws's lists); the 101 and the first
 * frame (hello) leave in one TCP segment. */
START_TEST(test_first_bytes)
{
    char *extra[] = {(char *)"--limits.handshake-timeout-s", (char *)"2", NULL};
    start_gateway(extra);
    enum { N = 6 };
    int fd[N + 1];
    for (int i = 0; i <= N; i++)
        ck_assert_int_ge(fd[i] = raw_connect(stack.gw[0].port), 0);
    int admin = stack.gw[0].admin_port;
    double w = wait_metric(admin, "pulse_sockets_waiting", N + 1);
    ck_assert_msg(w == N + 1, "pulse_sockets_waiting %g with %d silent sockets (want %d)", w, N + 1, N + 1);
    ck_assert_msg(ts_metric(admin, "pulse_connections_active") == 0, "a silent socket counted as a connection");
    static const char req[] = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: pulse.v1\r\n\r\n";
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(send(fd[i], req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    char buf[2048];
    for (int i = 0; i < N; i++) {
        ck_assert_msg(read_until(fd[i], "\"op\":\"hello\"", buf, sizeof buf),
                      "socket %d: no 101 and hello after its upgrade request: %.200s", i, buf);
        ck_assert_msg(strncmp(buf, "HTTP/1.1 101", 12) == 0, "socket %d: %.100s", i, buf);
        unsigned segs = data_segs_in(fd[i]);
        ck_assert_msg(segs == 1, "socket %d: the 101 and the hello came in %u TCP segments (want 1)", i, segs);
    }
    w = wait_metric(admin, "pulse_sockets_waiting", 1);
    ck_assert_msg(w == 1, "pulse_sockets_waiting %g once %d of %d sockets spoke (want 1)", w, N, N + 1);
    ck_assert_int_eq(ts_metric(admin, "pulse_connections_active"), N);
    /* The one that never speaks is closed by the node after handshake_timeout_s. */
    int64_t t = wait_eof(fd[N], 5000);
    ck_assert_msg(t >= 0, "a socket that sent nothing was still open 5 s later (handshake timeout 2 s)");
    ck_assert_int_eq(wait_metric(admin, "pulse_sockets_waiting", 0), 0);
    ck_assert_int_eq(ts_metric(admin, "pulse_sockets_silent_closed_total"), 1);
    for (int i = 0; i <= N; i++)
        close(fd[i]);
}
END_TEST

/* A masked client frame (RFC 6455 5.3) of a short payload, written to out; its length. */
static size_t client_frame(unsigned char *out, int opcode, const void *data, size_t len)
{
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    out[0] = (unsigned char)(0x80 | opcode);
    out[1] = (unsigned char)(0x80 | len); /* len < 126 */
    memcpy(out + 2, mask, 4);
    for (size_t i = 0; i < len; i++)
        out[6 + i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
    return 6 + len;
}

/* Reads fd until EOF (5 s at most) into buf; the bytes read, -1 if it stayed open. */
static ssize_t read_to_eof(int fd, char *buf, size_t cap)
{
    size_t have = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (int64_t end = ts_now_ms() + 5000; ts_now_ms() < end && have < cap;) {
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(fd, buf + have, cap - have, 0);
        if (n <= 0)
            return (ssize_t)have;
        have += (size_t)n;
    }
    return -1;
}

/* A socket whose upgrade request has arrived is served as the worker adopts it; its
 * first frames are written once that batch of adoptions is done. Clients that send
 * their first WebSocket frame in the same segment as the request, all in one batch:
 * a subscribe is answered and delivered to, a close is answered with a close, a frame
 * of a reserved opcode (a protocol error) gets its connection closed, and the others
 * in the batch do not notice. */
START_TEST(test_pipelined_frames)
{
    start_gateway(NULL);
    enum { N = 40 };
    int fd[N];
    for (int i = 0; i < N; i++)
        ck_assert_int_ge(fd[i] = raw_connect(stack.gw[0].port), 0);
    int admin = stack.gw[0].admin_port;
    ck_assert_int_eq(wait_metric(admin, "pulse_sockets_waiting", N), N);
    static const char req[] = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: pulse.v1\r\n\r\n";
    static const char sub[] = "{\"op\":\"subscribe\",\"channel\":\"pipe\"}";
    static const unsigned char bye[] = {0x03, 0xe8}; /* 1000 */
    for (int i = 0; i < N; i++) { /* all sent before the node wakes: one batch */
        unsigned char msg[sizeof req + 64];
        size_t len = sizeof req - 1;
        memcpy(msg, req, len);
        if (i % 2)
            len += client_frame(msg + len, 0x1, sub, sizeof sub - 1);
        else if (i % 4 == 0)
            len += client_frame(msg + len, 0x8, bye, sizeof bye);
        else
            len += client_frame(msg + len, 0x3, "x", 1); /* reserved: a protocol error */
        ck_assert_int_eq(send(fd[i], msg, len, MSG_NOSIGNAL), (ssize_t)len);
    }
    char buf[4096];
    for (int i = 1; i < N; i += 2)
        ck_assert_msg(read_until(fd[i], "\"op\":\"subscribed\"", buf, sizeof buf),
                      "socket %d: no subscribed after its pipelined subscribe: %.300s", i, buf);
    for (int i = 0; i < N; i += 2) {
        ssize_t have = read_to_eof(fd[i], buf, sizeof buf);
        ck_assert_msg(have >= 0, "socket %d: still open 5 s after its %s", i, i % 4 ? "bad frame" : "close");
        ck_assert_msg(have > 12 && strncmp(buf, "HTTP/1.1 101", 12) == 0, "socket %d: no 101", i);
        if (i % 4)
            continue;
        const char *end = memmem(buf, (size_t)have, "\r\n\r\n", 4);
        ck_assert_msg(end != NULL, "socket %d: the 101 has no end", i);
        bool closed = false; /* a close frame among the frames after the 101 */
        for (const unsigned char *f = (const unsigned char *)end + 4;
             f + 2 <= (const unsigned char *)buf + have; f += 2 + (f[1] & 0x7f))
            closed = closed || (f[0] & 0x0f) == 0x8;
        ck_assert_msg(closed, "socket %d: its close was not answered with a close", i);
    }
    ck_assert_int_eq(wait_metric(admin, "pulse_connections_active", N / 2), N / 2);
    char event[512];
    ck_assert_int_gt(ts_event_json(event, sizeof event, "PIPE", 1, "critical", "{}"), 0);
    ck_assert_int_eq(ts_redis_publish(stack.redis.port, "pipe", event), 1);
    for (int i = 1; i < N; i += 2)
        ck_assert_msg(read_until(fd[i], "\"PIPE\"", buf, sizeof buf), "socket %d: no delivery", i);
    for (int i = 0; i < N; i++)
        close(fd[i]);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("limits", "limits", 60, &stack, TS_FIX_REDIS, 8000, NULL, NULL,
                          test_max_connections, test_heartbeat, test_handshake_timeout, test_first_bytes,
                          test_pipelined_frames);
}
