/*
 * test_support.c - proves the integration fixtures themselves against a real
 * redis-server, so a failing gateway test is never a fixture bug: temp dirs, free
 * ports, process start/wait/stop, Redis start/stop/restart, commands and PUBLISH, the
 * HTTP client (against a tiny in-test server) and the WebSocket client's framing
 * (against an in-test echo server that does the server side of RFC 6455).
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ts_check.h"
#include "pulse_event.h"
#include "ts.h"
#include "ts_internal.h"

static ts_stack stack; /* its temp dir only (stack.tmp) */

START_TEST(test_tmpdir_port_bin)
{
    struct stat st;
    ck_assert_int_eq(stat(stack.tmp, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    char path[600];
    snprintf(path, sizeof path, "%s/sub", stack.tmp);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/sub/file", stack.tmp);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("x", f);
    fclose(f);

    int p1 = ts_free_port();
    int p2 = ts_free_port();
    ck_assert_int_gt(p1, 0);
    ck_assert_int_lt(p1, 65536);
    ck_assert_int_gt(p2, 0);

    char *gw = ts_bin("pulse-gateway");
    ck_assert_str_eq(gw, PULSE_BIN_DIR "/gateway/pulse-gateway");
    free(gw);
    char *rep = ts_bin("pulse-report");
    ck_assert_str_eq(rep, PULSE_BIN_DIR "/report/pulse-report");
    free(rep);

    int64_t t0 = ts_now_ms();
    ts_sleep_ms(50);
    ck_assert_int_ge(ts_now_ms() - t0, 50);

    char *other = ts_tmpdir();
    ts_rmtree(other);
    ck_assert_int_ne(stat(other, &st), 0);
    free(other);
}
END_TEST

START_TEST(test_proc_lifecycle)
{
    char log[600];
    snprintf(log, sizeof log, "%s/sh.log", stack.tmp);
    char *argv[] = {(char *)"/bin/sh", (char *)"-c",
                    (char *)"echo \"hello $TS_GREETING\"; echo to-stderr >&2; exit 3", NULL};
    char *env[] = {(char *)"TS_GREETING=world", NULL};
    ts_proc p;
    ck_assert_int_eq(ts_proc_start(&p, argv, env, log), 0);
    char line[128];
    ck_assert_int_eq(ts_proc_wait_line(&p, "hello", line, sizeof line, 5000), 0);
    ck_assert_str_eq(line, "hello world");
    ck_assert_int_eq(ts_proc_wait(&p, 5000), 3);
    ck_assert_int_eq(ts_proc_wait_line(&p, "to-stderr", NULL, 0, 1000), 0);
    /* Exited: a line that never comes returns at once, not after the timeout. */
    int64_t t0 = ts_now_ms();
    ck_assert_int_eq(ts_proc_wait_line(&p, "never", NULL, 0, 5000), -1);
    ck_assert_int_lt(ts_now_ms() - t0, 1000);
    ts_proc_stop(&p, 100);
    ts_proc_stop(&p, 100); /* twice is fine */

    /* A process that ignores SIGTERM is killed after the grace period. */
    char *argv2[] = {(char *)"/bin/sh", (char *)"-c",
                     (char *)"trap '' TERM; echo started; exec sleep 30", NULL};
    ts_proc q;
    ck_assert_int_eq(ts_proc_start(&q, argv2, NULL, log), 0);
    ck_assert_int_eq(ts_proc_wait_line(&q, "started", NULL, 0, 5000), 0);
    ck_assert_int_eq(ts_proc_wait(&q, 100), -1); /* still running */
    t0 = ts_now_ms();
    ts_proc_stop(&q, 300);
    ck_assert_int_lt(ts_now_ms() - t0, 3000);
    ck_assert_int_eq(ts_proc_wait(&q, 0), 128 + SIGKILL);

    /* Signals: SIGTERM on a plain sleep gives 128+15. */
    char *argv3[] = {(char *)"/bin/sleep", (char *)"30", NULL};
    ts_proc s;
    ck_assert_int_eq(ts_proc_start(&s, argv3, NULL, log), 0);
    ck_assert_int_eq(ts_proc_signal(&s, SIGTERM), 0);
    ck_assert_int_eq(ts_proc_wait(&s, 5000), 128 + SIGTERM);
    ts_proc_stop(&s, 100);

    /* A missing binary exits 127 with a message in the log. */
    char *argv4[] = {(char *)"/nonexistent/binary", NULL};
    ts_proc m;
    ck_assert_int_eq(ts_proc_start(&m, argv4, NULL, log), 0);
    ck_assert_int_eq(ts_proc_wait(&m, 5000), 127);
    m.status = 0; /* it is expected: no dump at stop */
    ts_proc_stop(&m, 100);
}
END_TEST

START_TEST(test_redis_fixture)
{
    ts_redis r;
    ck_assert_int_eq(ts_redis_start(&r, stack.tmp, 0), 0);
    ck_assert_int_gt(r.port, 0);
    char out[4096];
    const char *ping[] = {"PING"};
    ck_assert_int_eq(ts_redis_cmd(r.port, out, sizeof out, 1, ping), 0);
    ck_assert_str_eq(out, "PONG");
    const char *set[] = {"SET", "k", "v a l"};
    ck_assert_int_eq(ts_redis_cmd(r.port, out, sizeof out, 3, set), 0);
    ck_assert_str_eq(out, "OK");
    const char *rpush[] = {"RPUSH", "l", "a", "b", "c"};
    ck_assert_int_eq(ts_redis_cmd(r.port, out, sizeof out, 5, rpush), 0);
    ck_assert_str_eq(out, "3");
    const char *lrange[] = {"LRANGE", "l", "0", "-1"};
    ck_assert_int_eq(ts_redis_cmd(r.port, out, sizeof out, 4, lrange), 0);
    ck_assert_str_eq(out, "a\nb\nc");
    const char *bad[] = {"NOSUCHCOMMAND"};
    ck_assert_int_eq(ts_redis_cmd(r.port, out, sizeof out, 1, bad), 0);
    ck_assert_ptr_nonnull(strstr(out, "ERR"));
    /* Truncation keeps the buffer NUL-terminated. */
    char small[3];
    ck_assert_int_eq(ts_redis_cmd(r.port, small, sizeof small, 4, lrange), 0);
    ck_assert_str_eq(small, "a\n");

    ck_assert_int_eq(ts_redis_publish(r.port, "nobody", "{}"), 0);

    /* A subscriber (redis-cli would do, a raw RESP socket is enough) counts. */
    int port = r.port;
    ts_proc sub;
    char log[600];
    snprintf(log, sizeof log, "%s/sub.log", stack.tmp);
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    char *argv[] = {(char *)"/usr/bin/redis-cli", (char *)"-p", portstr, (char *)"SUBSCRIBE",
                    (char *)"events.critical", NULL};
    ck_assert_int_eq(ts_proc_start(&sub, argv, NULL, log), 0);
    const char *chans[] = {"PUBSUB", "CHANNELS"};
    ck_assert_int_eq(ts_redis_wait_line(port, "events.critical", true, 5000, 2, chans), 0);
    ck_assert_int_eq(ts_redis_wait_line(port, "events", false, 100, 2, chans), 0);
    char ev[1024];
    int n = ts_event_json(ev, sizeof ev, "SERVER_DOWN", 7, "critical", "{\"k\":1}");
    ck_assert_int_gt(n, 0);
    pulse_event parsed;
    ck_assert_int_eq(pulse_event_parse(ev, (size_t)n, &parsed, NULL), 0);
    ck_assert_int_eq(parsed.sequence, 7);
    ck_assert_int_eq(parsed.priority, PULSE_PRIO_CRITICAL);
    ck_assert_int_eq(ts_redis_publish(port, "events.critical", ev), 1);
    ck_assert_int_eq(ts_proc_wait_line(&sub, "SERVER_DOWN", NULL, 0, 5000), 0);
    ts_proc_stop(&sub, 1000);
    ck_assert_int_eq(ts_redis_wait_line(port, "events.critical", false, 5000, 2, chans), 0);

    /* Stop, then restart on the same port. */
    ts_redis_stop(&r);
    ck_assert_int_eq(ts_redis_cmd(port, out, sizeof out, 1, ping), -1);
    ck_assert_int_eq(ts_redis_publish(port, "x", "y"), -1);
    ts_redis r2;
    ck_assert_int_eq(ts_redis_start(&r2, stack.tmp, port), 0);
    ck_assert_int_eq(r2.port, port);
    ck_assert_int_eq(ts_redis_cmd(port, out, sizeof out, 1, ping), 0);
    ck_assert_str_eq(out, "PONG");
    /* The restart wrote a fresh log beside the first one. */
    ck_assert_str_ne(r2.proc.log_path, r.proc.log_path);
    ts_redis_stop(&r2);
    ts_redis_stop(&r2);
}
END_TEST

/* ---- a tiny in-process HTTP server: one response per connection ---- */

/* The Sec-WebSocket-Accept a fake server answers to the upgrade request req; -1 when it
 * has no Sec-WebSocket-Key. */
static int accept_for(const char *req, char out[32])
{
    char key[64] = "";
    const char *k = strstr(req, "Sec-WebSocket-Key: ");
    if (k == NULL || sscanf(k + 19, "%63[^\r]", key) != 1)
        return -1;
    ts__ws_accept(key, out);
    return 0;
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Child side: reads one request from c into req (NUL-terminated, cap bytes) up to the
 * end of its head and, when body is set, of the body its Content-Length announces (or
 * until req is full). 0, or -1 when the peer closed first. */
static int read_request(int c, char *req, size_t cap, bool body)
{
    size_t len = 0;
    req[0] = '\0';
    while (len < cap - 1) {
        ssize_t k = recv(c, req + len, cap - 1 - len, 0);
        if (k <= 0)
            return -1;
        len += (size_t)k;
        req[len] = '\0';
        char *e = strstr(req, "\r\n\r\n");
        if (e == NULL)
            continue;
        const char *cl = body ? strstr(req, "Content-Length: ") : NULL;
        size_t n = cl != NULL ? strtoul(cl + 16, NULL, 10) : 0;
        if (len >= (size_t)(e - req) + 4 + n)
            break;
    }
    return 0;
}

/* Child: serves n connections from lfd, answering each with responses[i]. The
 * request head is echoed into the body of the response marked with %s. */
static pid_t serve_http(int lfd, const char *const responses[], int n)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    alarm(20);
    for (int i = 0; i < n; i++) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0)
            _exit(1);
        char req[8192];
        (void)read_request(c, req, sizeof req, true); /* answered even when cut short */
        char out[16384];
        int m;
        if (strstr(responses[i], "%s") != NULL)
            m = snprintf(out, sizeof out, responses[i], (int)strlen(req), req);
        else
            m = snprintf(out, sizeof out, "%s", responses[i]);
        send(c, out, (size_t)m, MSG_NOSIGNAL);
        close(c);
    }
    _exit(0);
}

START_TEST(test_http_client)
{
    int port;
    int lfd = listen_loopback(&port);
    ck_assert_int_ge(lfd, 0);
    const char *responses[] = {
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 22\r\n\r\n{\"reason\":\"no redis\"}\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
        "HTTP/1.0 202 Accepted\r\n\r\nto-eof",
        "HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n"
        "# HELP x\npulse_a 3\npulse_b{k=\"1\"} 2.5\npulse_b{k=\"2\"} 1\npulse_ab 9\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n"
        "# HELP x\npulse_a 3\npulse_b{k=\"1\"} 2.5\npulse_b{k=\"2\"} 1\npulse_ab 9\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n"
        "# HELP x\npulse_a 3\npulse_b{k=\"1\"} 2.5\npulse_b{k=\"2\"} 1\npulse_ab 9\n",
    };
    pid_t srv = serve_http(lfd, responses, 7);
    close(lfd);
    char body[8192];
    int st = ts_http(port, "POST", "/publish", "X-Test: 1\r\n", "{\"channel\":\"x\"}", body,
                     sizeof body);
    ck_assert_int_eq(st, 200);
    ck_assert_ptr_nonnull(strstr(body, "POST /publish HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strstr(body, "Connection: close\r\n"));
    ck_assert_ptr_nonnull(strstr(body, "X-Test: 1\r\n"));
    ck_assert_ptr_nonnull(strstr(body, "Content-Length: 15\r\n"));
    ck_assert_ptr_nonnull(strstr(body, "\r\n\r\n{\"channel\":\"x\"}"));
    ck_assert_int_eq(ts_http(port, "GET", "/healthz", NULL, NULL, body, sizeof body), 503);
    ck_assert_str_eq(body, "{\"reason\":\"no redis\"}\n");
    ck_assert_int_eq(ts_http(port, "GET", "/c", NULL, NULL, body, sizeof body), 200);
    ck_assert_str_eq(body, "hello, world");
    ck_assert_int_eq(ts_http(port, "GET", "/eof", NULL, NULL, body, sizeof body), 202);
    ck_assert_str_eq(body, "to-eof");
    ck_assert(ts_metric(port, "pulse_a") == 3);
    ck_assert(ts_metric(port, "pulse_b{k=\"1\"}") == 2.5);
    ck_assert(ts_metric_sum(port, "pulse_b") == 3.5);
    int status;
    ck_assert_int_eq(waitpid(srv, &status, 0), srv);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Nobody listening any more. */
    ck_assert_int_eq(ts_http(port, "GET", "/", NULL, NULL, body, sizeof body), -1);
    ck_assert_int_eq(ts_http_wait_status(port, "/", 200, 200), -1);
}
END_TEST

/* ---- a tiny in-process WebSocket server (server side of RFC 6455) ---- */

static int read_exact(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = recv(fd, (char *)buf + got, n - got, 0);
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

static void send_frame(int fd, int b0, const void *data, size_t len)
{
    unsigned char h[10];
    size_t hl = 0;
    h[hl++] = (unsigned char)b0;
    if (len < 126) {
        h[hl++] = (unsigned char)len;
    } else if (len <= 0xffff) {
        h[hl++] = 126;
        h[hl++] = (unsigned char)(len >> 8);
        h[hl++] = (unsigned char)len;
    } else {
        h[hl++] = 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    send(fd, h, hl, MSG_NOSIGNAL);
    send(fd, data, len, MSG_NOSIGNAL);
}

/* Child: accepts one client and plays the server side. mode 0: a correct handshake,
 * then a greeting in the same write as the 101, a fragmented text with a ping in the
 * middle, 16- and 64-bit lengths; expects the pong and one masked text to echo, then
 * closes with 1008 and waits for the client's close echo. mode 1: a wrong
 * Sec-WebSocket-Accept. mode 2: a 503 refusal. Exit status 0 means all went as planned. */
static pid_t serve_ws(int lfd, int mode)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    alarm(20);
    int c = accept(lfd, NULL, NULL);
    if (c < 0)
        _exit(1);
    char req[4096];
    if (read_request(c, req, sizeof req, false) != 0)
        _exit(2);
    if (strstr(req, "Sec-WebSocket-Protocol: pulse.v1\r\n") == NULL ||
        strstr(req, "Sec-WebSocket-Version: 13\r\n") == NULL)
        _exit(3);
    if (mode == 2) {
        const char *r = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
        send(c, r, strlen(r), MSG_NOSIGNAL);
        close(c);
        _exit(0);
    }
    char accept_v[32];
    if (accept_for(req, accept_v) != 0)
        _exit(3);
    if (mode == 1)
        accept_v[0] = accept_v[0] == 'A' ? 'B' : 'A';
    char resp[512];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                     "Sec-WebSocket-Protocol: pulse.v1\r\n\r\n",
                     accept_v);
    memcpy(resp + n, "\x81\x05hello", 7);
    send(c, resp, (size_t)n + 7, MSG_NOSIGNAL);
    if (mode == 1) {
        ts_sleep_ms(500);
        _exit(0);
    }
    send_frame(c, 0x01, "frag", 4);   /* text, not fin */
    send_frame(c, 0x89, "pp", 2);     /* ping in the middle */
    send_frame(c, 0x00, "men", 3);    /* continuation */
    send_frame(c, 0x80, "ted", 3);    /* continuation, fin */
    static char big[70000];
    memset(big, 'b', sizeof big);
    send_frame(c, 0x82, big, 300);        /* binary, 16-bit length */
    send_frame(c, 0x81, big, sizeof big); /* 64-bit length */
    for (int i = 0; i < 2; i++) {
        unsigned char h[2];
        if (read_exact(c, h, 2) != 0)
            _exit(4);
        if ((h[1] & 0x80) == 0)
            _exit(5); /* client frames must be masked */
        size_t pl = h[1] & 0x7f;
        if (pl == 126) {
            unsigned char e[2];
            if (read_exact(c, e, 2) != 0)
                _exit(4);
            pl = (size_t)e[0] << 8 | e[1];
        }
        unsigned char mk[4];
        if (read_exact(c, mk, 4) != 0)
            _exit(4);
        static char p[70000];
        if (pl > sizeof p || read_exact(c, p, pl) != 0)
            _exit(6);
        for (size_t j = 0; j < pl; j++)
            p[j] ^= (char)mk[j & 3];
        int op = h[0] & 0x0f;
        if (i == 0 && (op != 10 || pl != 2 || memcmp(p, "pp", 2) != 0))
            _exit(7);
        if (i == 1 && (op != 1 || pl != 200))
            _exit(9);
        if (i == 1)
            send_frame(c, 0x81, p, pl);
    }
    send_frame(c, 0x88, "\x03\xf0slow", 6);
    unsigned char h[2];
    if (read_exact(c, h, 2) != 0 || (h[0] & 0x0f) != 8)
        _exit(8);
    close(c);
    _exit(0);
}

START_TEST(test_sha1_base64)
{
    unsigned char d[20];
    char b[64];
    ts__sha1("abc", 3, d);
    ts__base64(d, 20, b);
    ck_assert_str_eq(b, "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
    /* 56 bytes: padding spills into a second block. */
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ts__sha1(two, strlen(two), d);
    ts__base64(d, 20, b);
    ck_assert_str_eq(b, "hJg+RBw70m66rkqh+VEp5eVGcPE=");
    /* The RFC 6455 sample handshake. */
    const char *cat = "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    ts__sha1(cat, strlen(cat), d);
    ts__base64(d, 20, b);
    ck_assert_str_eq(b, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ts__ws_accept("dGhlIHNhbXBsZSBub25jZQ==", b);
    ck_assert_str_eq(b, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ts__base64((const unsigned char *)"ab", 2, b);
    ck_assert_str_eq(b, "YWI=");
    ts__base64((const unsigned char *)"a", 1, b);
    ck_assert_str_eq(b, "YQ==");
}
END_TEST

static int reap(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

START_TEST(test_ws_client)
{
    int port;
    int lfd = listen_loopback(&port);
    ck_assert_int_ge(lfd, 0);
    pid_t srv = serve_ws(lfd, 0);
    ts_ws w;
    ck_assert_int_eq(ts_ws_connect(&w, port, "/ws?channels=a", "pulse.v1"), 0);
    char *m = NULL;
    size_t len = 0;
    ck_assert_int_eq(ts_ws_recv(&w, &m, &len, 5000), 1);
    ck_assert_str_eq(m, "hello");
    free(m);
    ck_assert_int_eq(ts_ws_recv(&w, &m, &len, 5000), 1);
    ck_assert_str_eq(m, "fragmented");
    ck_assert_uint_eq(len, 10);
    free(m);
    ck_assert_int_eq(ts_ws_recv(&w, &m, &len, 5000), 2);
    ck_assert_uint_eq(len, 300);
    free(m);
    m = ts_ws_recv_until(&w, "bbbb", 5000);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(strlen(m), 70000);
    free(m);
    char text[201];
    memset(text, 't', 200);
    text[200] = '\0';
    ck_assert_int_eq(ts_ws_send_text(&w, text), 0);
    ck_assert_int_eq(ts_ws_recv(&w, &m, &len, 5000), 1);
    ck_assert_str_eq(m, text);
    free(m);
    ck_assert_int_eq(ts_ws_wait_closed(&w, 5000), 1008);
    ck_assert_int_eq(w.close_code, 1008);
    ck_assert_str_eq(w.close_reason, "slow");
    ck_assert_int_eq(reap(srv), 0);
    /* After the close: EOF, not a hang. */
    ck_assert_int_eq(ts_ws_recv(&w, &m, &len, 2000), -1);
    ts_ws_close(&w);

    /* A wrong Sec-WebSocket-Accept is refused. */
    srv = serve_ws(lfd, 1);
    ck_assert_int_eq(ts_ws_connect(&w, port, "/ws", "pulse.v1"), -1);
    ck_assert_int_eq(w.fd, -1);
    ck_assert_int_eq(reap(srv), 0);
    /* A refusal returns the HTTP status. */
    srv = serve_ws(lfd, 2);
    ck_assert_int_eq(ts_ws_connect(&w, port, "/ws", "pulse.v1"), 503);
    ck_assert_int_eq(reap(srv), 0);
    close(lfd);
    /* Nobody listening. */
    ck_assert_int_eq(ts_ws_connect(&w, port, "/ws", "pulse.v1"), -1);
    /* A timeout returns 0 quickly enough. */
    lfd = listen_loopback(&port);
    srv = fork();
    if (srv == 0) {
        alarm(10);
        int c = accept(lfd, NULL, NULL);
        char buf[4096];
        ssize_t k = recv(c, buf, sizeof buf, 0);
        (void)k;
        char acc[32];
        if (accept_for(buf, acc) != 0)
            _exit(3);
        dprintf(c, "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
                   "connection: upgrade\r\nsec-websocket-accept: %s\r\n\r\n", acc);
        ts_sleep_ms(1500);
        close(c);
        _exit(0);
    }
    close(lfd);
    ck_assert_int_eq(ts_ws_connect(&w, port, "/ws", NULL), 0);
    int64_t t0 = ts_now_ms();
    ck_assert_int_eq(ts_ws_recv(&w, &m, &len, 300), 0);
    ck_assert_int_lt(ts_now_ms() - t0, 1000);
    ck_assert_int_eq(ts_ws_wait_closed(&w, 5000), 0); /* EOF without a close frame */
    ts_ws_close(&w);
    ck_assert_int_eq(reap(srv), 0);
}
END_TEST

/* The stack holds several gateways: each start takes the first free slot, a stopped
 * slot is taken again, a full stack refuses, and teardown shuts every one down. */
START_TEST(test_stack_gateways)
{
    ck_assert_int_eq(ts_stack_start_redis(&stack, 0), 0);
    ck_assert_int_eq(ts_stack_start_gateway(&stack, "node-0", NULL), 0);
    ck_assert_int_eq(ts_stack_start_gateway(&stack, "node-1", NULL), 1);
    ck_assert_int_ne(stack.gw[0].port, stack.gw[1].port);
    ck_assert_str_eq(stack.gw[1].node_id, "node-1");
    ck_assert_int_eq(ts_stack_stop_gateway(&stack, 0, 8000), 0);
    ck_assert(!stack.gw_started[0] && stack.gw_started[1]);
    ts_gateway *g = ts_fixture_gateway("node-0b", NULL);
    ck_assert_ptr_eq(g, &stack.gw[0]);
    for (int i = 2; i < TS_STACK_GATEWAYS; i++) {
        char id[16];
        snprintf(id, sizeof id, "node-%d", i);
        ck_assert_int_eq(ts_stack_start_gateway(&stack, id, NULL), i);
    }
    ck_assert_int_eq(ts_stack_start_gateway(&stack, "node-full", NULL), -1);
    ck_assert_int_eq(ts_stack_teardown(&stack, 8000), 0); /* every one exited 0 */
    for (int i = 0; i < TS_STACK_GATEWAYS; i++)
        ck_assert(!stack.gw_started[i]);
    ck_assert_ptr_null(stack.tmp);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("support", "fixtures", 60, &stack, TS_FIX_DIR, 0, NULL, NULL,
                          test_tmpdir_port_bin, test_proc_lifecycle, test_redis_fixture,
                          test_http_client, test_sha1_base64, test_ws_client, test_stack_gateways);
}
