/*
 * test_hardening.c - the regression tests of issue 13 (docs/SECURITY.md, "Hardening"):
 * each case reproduces one hole that a hostile client, publisher or web page could
 * use, against the real gateway, a throwaway redis-server and real sockets, and
 * asserts that it is closed. One START_TEST per item, named after it.
 *
 * Tokens are signed here at run time (tests/support/ts_jwt.h); nothing is hard-coded.
 */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ts_check.h"
#include "ts.h"
#include "ts_jwt.h"

static ts_stack stack;
static char secret_path[600];
static const char secret[] = "hardening-secret-hardening-secret-0123456789";

/* After the stack's setup: the HS256 secret file in its temp dir; sockets the gateway
 * closes at accept must not kill the test with SIGPIPE. */
static void write_secret(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(secret_path, sizeof secret_path, "%s/jwt.secret", stack.tmp);
    ck_assert_int_eq(tsj_write_file(secret_path, secret, strlen(secret)), 0);
}

static void start_gw(const char *const extra[])
{
    ck_assert_msg(ts_stack_start_gateway(&stack, "node-hard", (char *const *)extra) == 0, "gateway did not start");
}

/* Every line of a delivered frame (a ?batch=1 client splits on '\n') must be an
 * envelope of want_channel: asserts that, and that no CR hides in it either. */
static void assert_unbroken(const char *frame, const char *want_channel)
{
    ck_assert_msg(strchr(frame, '\r') == NULL, "a delivered frame holds a raw CR: %s", frame);
    char *copy = strdup(frame);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *env = json_loads(line, 0, NULL);
        ck_assert_msg(env && json_is_object(env), "a line that is not an envelope: %s (frame %s)", line, frame);
        const char *ch = json_string_value(json_object_get(env, "channel"));
        ck_assert_msg(ch && strcmp(ch, want_channel) == 0, "forged envelope for '%s' in a frame of %s: %s",
                      ch ? ch : "(none)", want_channel, frame);
        json_decref(env);
    }
    free(copy);
}

/* ---- 4: envelope forgery on ?batch=1 ---- */

START_TEST(test_batch_envelope_forgery)
{
    start_gw(NULL);
    ts_ws w;
    ck_assert_int_eq(ts_ws_connect(&w, stack.gw[0].port, "/ws?channels=chat.room&batch=1", "pulse.v1"), 0);
    char *sub = ts_ws_recv_until(&w, "\"op\":\"subscribed\"", 5000);
    ck_assert_msg(sub != NULL, "not subscribed");
    free(sub);

    /* 1. straight into Redis: the forged line sits in the payload's whitespace */
    static const char forged[] = "{\"a\":\n{\"channel\":\"feed:user-43\",\"data\":{\"secret\":1}}\r\n}";
    ck_assert_int_eq(ts_redis_publish(stack.redis.port, "chat.room", forged), 1);
    char *m = ts_ws_recv_until(&w, "secret", 5000);
    ck_assert_msg(m != NULL, "the publish was not delivered");
    assert_unbroken(m, "chat.room");
    ck_assert_msg(strstr(m, "{\"a\":{\"channel\":\"feed:user-43\",\"data\":{\"secret\":1}}}") != NULL,
                  "the value changed: %s", m);
    free(m);

    /* 2. the bare-event form of POST /publish copied the body verbatim */
    char ev[1024], body[1100], out[512];
    int n = ts_event_json(ev, sizeof ev, "forge", 1, "normal",
                          "{\"x\":\n{\"channel\":\"feed:user-43\",\"data\":{\"bare\":1}}\n}");
    ck_assert_int_gt(n, 0);
    snprintf(body, sizeof body, "{\n%s", ev + 1); /* and a line break of its own */
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "POST", "/publish?channel=chat.room", NULL, body, out, sizeof out),
                     202);
    m = ts_ws_recv_until(&w, "bare", 5000);
    ck_assert_msg(m != NULL, "the bare event was not delivered");
    assert_unbroken(m, "chat.room");
    free(m);

    /* 3. the {"channel","data"} form (re-encoded already): stays unbroken */
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "POST", "/publish", NULL,
                             "{\"channel\":\"chat.room\",\"data\":{\"y\":\n\"wrapped\"\r\n}}", out, sizeof out),
                     202);
    m = ts_ws_recv_until(&w, "wrapped", 5000);
    ck_assert_msg(m != NULL, "the wrapped publish was not delivered");
    assert_unbroken(m, "chat.room");
    free(m);
    ts_ws_close(&w);
}
END_TEST

/* ---- 6: far-future exp ---- */

/* An HS256 token of ours with the claims JSON as given; malloc'd. */
static char *token_raw(const char *claims)
{
    char *t = tsj_make("HS256", claims, TSJ_HS256, secret, strlen(secret), NULL);
    ck_assert_ptr_nonnull(t);
    return t;
}

START_TEST(test_far_future_exp)
{
    const char *extra[] = {"--jwt-secret-file", secret_path, NULL};
    start_gw(extra);
    /* the sanitizer build aborted the node on left_s * 1000; the release build got a
     * deadline in the past and closed the connection 4401 "token expired" */
    char *tok = token_raw("{\"sub\":\"u1\",\"exp\":9200000000000000000,\"channels\":[\"chat.*\"]}");
    char path[1024];
    snprintf(path, sizeof path, "/ws?channels=chat.room&token=%s", tok);
    ts_ws w;
    ck_assert_int_eq(ts_ws_connect(&w, stack.gw[0].port, path, "pulse.v1"), 0);
    char *m = ts_ws_recv_until(&w, "\"op\":\"subscribed\"", 5000);
    ck_assert_msg(m != NULL, "not subscribed");
    free(m);
    ts_sleep_ms(2300); /* two expiry sweeps */
    ck_assert_msg(ts_ws_op(&w, "{\"op\":\"ping\"}", "pong", NULL, 3000) == 0,
                  "a token valid until far in the future was closed: %d %s", w.close_code, w.close_reason);
    /* the in-band form takes the same path */
    ts_ws w2;
    ck_assert_int_eq(ts_ws_connect(&w2, stack.gw[0].port, "/ws", "pulse.v1"), 0);
    m = ts_ws_recv_until(&w2, "\"op\":\"hello\"", 5000);
    ck_assert_msg(m != NULL, "no hello");
    free(m);
    char auth[1024];
    snprintf(auth, sizeof auth, "{\"op\":\"auth\",\"token\":\"%s\"}", tok);
    ck_assert_int_eq(ts_ws_op(&w2, auth, "authenticated", NULL, 3000), 0);
    ts_sleep_ms(1200);
    ck_assert_int_eq(ts_ws_op(&w2, "{\"op\":\"ping\"}", "pong", NULL, 3000), 0);
    ts_ws_close(&w2);
    ts_ws_close(&w);
    free(tok);
}
END_TEST

/* ---- 5: channel names arriving from Redis ---- */

START_TEST(test_redis_channel_names)
{
    start_gw(NULL);
    ts_ws w;
    ck_assert_int_eq(ts_ws_open(&w, stack.gw[0].port, "events.*", NULL, 5000), 0);
    /* a publisher needs no grant to PUBLISH on any name in Redis */
    ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.\xff\"\n", "{\"bad\":1}"), 1);
    ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.caf\xc3", "{\"bad\":2}"), 1);
    ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.ok", "{\"good\":1}"), 1);
    for (;;) {
        char *m = NULL;
        size_t len = 0;
        int op = ts_ws_recv(&w, &m, &len, 5000);
        ck_assert_msg(op == 1, "the subscriber lost its connection or got nothing: op %d close %d", op, w.close_code);
        json_error_t jerr;
        json_t *j = json_loadb(m, len, 0, &jerr);
        ck_assert_msg(j != NULL, "a text frame that is not UTF-8 JSON (%s): %s", jerr.text, m);
        json_decref(j);
        ck_assert_msg(strstr(m, "\"bad\"") == NULL, "delivered on an invalid channel name: %s", m);
        bool good = strstr(m, "\"good\"") != NULL;
        free(m);
        if (good)
            break;
    }
    ck_assert_int_eq((int)ts_metric(stack.gw[0].admin_port, "pulse_events_refused_total{reason=\"bad_channel\"}"), 2);
    ck_assert_int_eq(ts_ws_op(&w, "{\"op\":\"ping\"}", "pong", NULL, 3000), 0);
    ts_ws_close(&w);
    char line[512];
    ck_assert_int_eq(ts_proc_wait_line(&stack.gw[0].proc, "invalid channel name", line, sizeof line, 2000), 0);
    ck_assert_msg(strstr(line, "\\xff") != NULL, "log line: %s", line);
}
END_TEST

/* ---- 3: priority is the channel rule's ---- */

static double received(const char *prio)
{
    char name[96];
    snprintf(name, sizeof name, "pulse_events_received_total{priority=\"%s\"}", prio);
    return ts_metric(stack.gw[0].admin_port, name);
}

START_TEST(test_priority_capped_by_rule)
{
    char conf[700];
    snprintf(conf, sizeof conf, "%s/pulse.conf", stack.tmp);
    static const char text[] = "channels = { rules = (\n"
                               "  { pattern = \"capped.*\"; max_priority = \"normal\"; },\n"
                               "  { pattern = \"vip.*\"; ws_priority = true; }\n"
                               "); };\n";
    ck_assert_int_eq(tsj_write_file(conf, text, strlen(text)), 0);
    const char *extra[] = {"--config", conf, "--jwt-secret-file", secret_path, NULL};
    start_gw(extra);
    char *tok = token_raw("{\"sub\":\"pub1\",\"channels\":[\"chat.*\",\"vip.*\",\"capped.*\"],"
                          "\"publish\":[\"chat.*\",\"vip.*\"]}");
    char path[1024];
    snprintf(path, sizeof path, "/ws?channels=chat.room,vip.room,capped.x&token=%s", tok);
    free(tok);
    ts_ws w;
    ck_assert_int_eq(ts_ws_connect(&w, stack.gw[0].port, path, "pulse.v1"), 0);
    char *m = ts_ws_recv_until(&w, "\"channel\":\"capped.x\"", 5000);
    ck_assert_msg(m != NULL, "not subscribed");
    free(m);

    /* a WebSocket publisher on chat.* asks for critical: ignored (the rule says normal) */
    ck_assert_int_eq(ts_ws_op(&w, "{\"op\":\"publish\",\"channel\":\"chat.room\","
                                  "\"data\":{\"priority\":\"critical\",\"n\":1}}",
                              "published", NULL, 3000), 0);
    m = ts_ws_recv_until(&w, "\"n\":1", 5000);
    ck_assert_msg(m != NULL, "the publish was not delivered");
    ck_assert_msg(strstr(m, "critical") == NULL, "the client's priority travelled on: %s", m);
    free(m);
    ck_assert_int_eq((int)received("critical"), 0);
    ck_assert_int_eq((int)received("normal"), 1);

    /* where the rule allows it (ws_priority = true) it counts */
    ck_assert_int_eq(ts_ws_op(&w, "{\"op\":\"publish\",\"channel\":\"vip.room\","
                                  "\"data\":{\"priority\":\"critical\",\"n\":2}}",
                              "published", NULL, 3000), 0);
    m = ts_ws_recv_until(&w, "\"n\":2", 5000);
    ck_assert_msg(m != NULL && strstr(m, "critical"), "vip publish: %s", m ? m : "(none)");
    free(m);
    ck_assert_int_eq((int)received("critical"), 1);

    /* a server-side publisher is capped by max_priority */
    ck_assert_int_eq(ts_redis_publish(stack.redis.port, "capped.x", "{\"priority\":\"critical\",\"n\":3}"), 1);
    m = ts_ws_recv_until(&w, "\"n\":3", 5000);
    ck_assert_msg(m != NULL, "capped publish not delivered");
    free(m);
    ck_assert_int_eq((int)received("critical"), 1);
    ck_assert_int_eq((int)received("normal"), 2);
    ts_ws_close(&w);
}
END_TEST

/* ---- 12: refusals every client can read ---- */

/* Runs cmd (a shell line, stdout captured into out); returns its exit status. */
static int run_capture(const char *cmd, char *out, size_t cap)
{
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    return pclose(f);
}

/* curl's view of an upgrade of path with subprotocol proto and origin (NULL: none):
 * "<http version> <status>\n<body>". */
static void curl_upgrade(const char *path, const char *proto, const char *origin, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "curl -s --max-time 5 -o - -w '\\n%%{http_version} %%{http_code}' -H 'Connection: Upgrade' "
             "-H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' "
             "-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Protocol: %s' %s%s%s "
             "'http://127.0.0.1:%d%s'",
             proto, origin ? "-H 'Origin: " : "", origin ? origin : "", origin ? "'" : "", stack.gw[0].port, path);
    run_capture(cmd, out, cap);
}

static void expect_curl(const char *path, const char *proto, const char *origin, const char *want_status,
                        const char *want_error)
{
    char out[2048], want[64];
    curl_upgrade(path, proto, origin, out, sizeof out);
    snprintf(want, sizeof want, "\n1.1 %s", want_status);
    ck_assert_msg(strstr(out, want) != NULL, "curl %s (%s): want HTTP/1.1 %s, got: %s", path, proto, want_status,
                  out);
    char *nl = strrchr(out, '\n');
    *nl = '\0';
    json_t *body = json_loads(out, 0, NULL);
    const char *err = json_string_value(json_object_get(body, "error"));
    ck_assert_msg(err && strcmp(err, want_error) == 0 && json_is_string(json_object_get(body, "reason")),
                  "curl %s: body %s (want error %s)", path, out, want_error);
    json_decref(body);
}

/* Debian's python3-websockets (10.x), a client that reads the status line strictly:
 * prints "<label> <status>" per attempt, or "<label> <exception class>". */
static const char py_client[] =
    "import asyncio, sys, websockets\n"
    "port = sys.argv[1]\n"
    "cases = [('token', '/ws?token=not.a.token', ['pulse.v1'], None),\n"
    "         ('subprotocol', '/ws', ['pulse.v2'], None),\n"
    "         ('origin', '/ws', ['pulse.v1'], 'https://evil.example'),\n"
    "         ('path', '/other', ['pulse.v1'], None)]\n"
    "async def one(label, path, protos, origin):\n"
    "    try:\n"
    "        async with websockets.connect('ws://127.0.0.1:' + port + path, subprotocols=protos,\n"
    "                                      origin=origin, open_timeout=5):\n"
    "            print(label, 'open')\n"
    "    except websockets.exceptions.InvalidStatusCode as e:\n"
    "        print(label, e.status_code)\n"
    "    except Exception as e:\n"
    "        print(label, type(e).__name__)\n"
    "async def main():\n"
    "    for c in cases:\n"
    "        await one(*c)\n"
    "asyncio.run(main())\n";

START_TEST(test_refusals_readable)
{
    const char *extra[] = {"--jwt-secret-file", secret_path, "--ws.allowed-origins", "https://app.example", NULL};
    start_gw(extra);
    expect_curl("/ws?token=not.a.token", "pulse.v1", NULL, "401", "unauthorized");
    expect_curl("/ws", "pulse.v2", NULL, "400", "unsupported_subprotocol");
    expect_curl("/ws", "pulse.v1", "https://evil.example", "403", "forbidden");
    expect_curl("/nowhere", "pulse.v1", NULL, "404", "not_found");
    char out[2048];
    curl_upgrade("/ws", "pulse.v2, pulse.v1", NULL, out, sizeof out);
    ck_assert_msg(strstr(out, "\n1.1 101") != NULL, "a list naming pulse.v1 is accepted: %s", out);

    char script[700], cmd[1024];
    snprintf(script, sizeof script, "%s/refusals.py", stack.tmp);
    ck_assert_int_eq(tsj_write_file(script, py_client, strlen(py_client)), 0);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %d 2>&1", script, stack.gw[0].port);
    ck_assert_int_eq(run_capture(cmd, out, sizeof out), 0);
    /* before: InvalidMessage ("did not receive a valid HTTP response") for each */
    ck_assert_msg(strstr(out, "token 401\n") && strstr(out, "subprotocol 400\n") && strstr(out, "origin 403\n") &&
                      strstr(out, "path 404\n"),
                  "python3-websockets saw: %s", out);
}
END_TEST

/* ---- 1: half-open handshakes and fd exhaustion ---- */

/* Starts the gateway under `ulimit -n nofile` (through sh) with extra flags, as
 * stack.gw (the teardown stops it). */
static void start_gw_ulimit(int nofile, const char *const extra[])
{
    char *bin = ts_bin("pulse-gateway"), url[64], script[64], log[700], line[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", stack.redis.port);
    snprintf(script, sizeof script, "ulimit -n %d && exec \"$0\" \"$@\"", nofile);
    const char *argv[40] = {"/bin/sh", "-c", script, bin, "--port", "0", "--admin-port", "0", "--redis", url,
                            "--node-id", "node-fd"};
    ts_argv_append(argv, 12, 40, extra);
    snprintf(log, sizeof log, "%s/gateway-fd.log", stack.tmp);
    ck_assert_int_eq(ts_proc_start(&stack.gw[0].proc, (char *const *)argv, NULL, log), 0);
    free(bin);
    ck_assert_msg(ts_proc_wait_line(&stack.gw[0].proc, "pulse-gateway ready node=", line, sizeof line, 10000) == 0,
                  "no ready line");
    ck_assert_int_eq(sscanf(strstr(line, " port="), " port=%d admin_port=%d", &stack.gw[0].port, &stack.gw[0].admin_port),
                     2);
    stack.gw_started[0] = true;
}

static long proc_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    long ut = 0, st = 0;
    ck_assert_int_eq(sscanf(strrchr(buf, ')') + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st), 2);
    return ut + st;
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static int count_fds(pid_t pid)
{
    char cmd[96], out[32];
    snprintf(cmd, sizeof cmd, "ls /proc/%d/fd | wc -l", (int)pid);
    run_capture(cmd, out, sizeof out);
    return atoi(out);
}

/* A socket from src (127.0.0.x) to the gateway that sends only the request line. */
static int half_open(const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in me = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &me.sin_addr);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&me, sizeof me), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)stack.gw[0].port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    /* may fail: a node at its limit closes the socket at accept (SIGPIPE ignored) */
    static const char req[] = "GET /ws HTTP/1.1\r\n";
    ssize_t sent = write(fd, req, sizeof req - 1);
    (void)sent;
    return fd;
}

/* A whole upgrade from src: the status of its answer (101, 429, ...), -1 on none. */
static int upgrade_from(const char *src)
{
    int fd = half_open(src);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static const char rest[] = "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    char resp[256] = "";
    if (write(fd, rest, sizeof rest - 1) == (ssize_t)(sizeof rest - 1)) {
        ssize_t n = read(fd, resp, sizeof resp - 1);
        resp[n > 0 ? n : 0] = '\0';
    }
    close(fd);
    return strncmp(resp, "HTTP/1.1 ", 9) == 0 ? atoi(resp + 9) : -1;
}

/* 140 half-open handshakes against a node with 128 descriptors: what it holds, what
 * it costs, and whether a client elsewhere still gets in. */
static void flood_half_open(int *fds, int n, int max_held)
{
    pid_t pid = stack.gw[0].proc.pid;
    int fds0 = count_fds(pid);
    for (int i = 0; i < n; i++)
        fds[i] = half_open("127.0.0.1");
    ts_sleep_ms(500);
    long cpu0 = proc_cpu_ticks(pid), log0 = file_size(stack.gw[0].proc.log_path);
    ts_sleep_ms(2000);
    long cpu = proc_cpu_ticks(pid) - cpu0, logged = file_size(stack.gw[0].proc.log_path) - log0;
    int held = count_fds(pid) - fds0;
    fprintf(stderr, "hardening: %d half-open sockets: node holds %d more fds, %ld CPU ticks in 2 s, log +%ld B\n", n,
            held, cpu, logged);
    ck_assert_msg(held <= max_held, "the node holds %d sockets of %d half-open ones (want <= %d)", held, n, max_held);
    ck_assert_msg(cpu < 100, "the node spun: %ld ticks of CPU in 2 s", cpu); /* 100 ticks = one core for 1 s */
    ck_assert_msg(logged < 4096, "the log grew %ld bytes in 2 s", logged);
}

START_TEST(test_half_open_handshakes)
{
    const char *extra[] = {"--limits.max-connections", "50", "--limits.max-connections-per-ip", "2",
                           "--limits.handshake-timeout-s", "20", NULL};
    start_gw_ulimit(128, extra);
    int fds[140];
    /* per address from accept: 2 + the 8 answer slots */
    flood_half_open(fds, 140, 2 + 8 + 2);
    /* the flooding address is refused (answered, or closed at accept) ... */
    int st = upgrade_from("127.0.0.1");
    ck_assert_msg(st == 429 || st == -1, "a flooding address got %d", st);
    /* ... while another gets in */
    ck_assert_int_eq(upgrade_from("127.0.0.2"), 101);
    for (int i = 0; i < 140; i++)
        close(fds[i]);
}
END_TEST

START_TEST(test_fd_limit_headroom)
{
    const char *extra[] = {"--limits.max-connections", "1000", "--limits.handshake-timeout-s", "20", NULL};
    start_gw_ulimit(128, extra);
    ck_assert_int_eq(ts_proc_wait_line(&stack.gw[0].proc, "limits.max_connections 1000 lowered", NULL, 0, 2000), 0);
    int fds[140];
    flood_half_open(fds, 140, 128 - 64 + 2);
    for (int i = 0; i < 140; i++)
        close(fds[i]);
    /* the slots come back as the half-open sockets go */
    int st = -1;
    for (int i = 0; i < 50 && st != 101; i++) {
        st = upgrade_from("127.0.0.2");
        if (st != 101)
            ts_sleep_ms(100);
    }
    ck_assert_int_eq(st, 101);
}
END_TEST

/* ---- 7: cross-site and DNS-rebinding requests to the admin API ---- */

/* The status curl gets for a POST /publish of body with these extra curl options. */
static int curl_admin(const char *method, const char *path, const char *opts, const char *body)
{
    char cmd[1024], out[64];
    snprintf(cmd, sizeof cmd, "curl -s --max-time 5 -o /dev/null -w '%%{http_code}' -X %s %s %s%s%s "
             "'http://127.0.0.1:%d%s'", method, opts, body ? "--data '" : "", body ? body : "", body ? "'" : "",
             stack.gw[0].admin_port, path);
    run_capture(cmd, out, sizeof out);
    return atoi(out);
}

START_TEST(test_admin_cross_site)
{
    const char *extra[] = {"--jwt-secret-file", secret_path, NULL};
    start_gw(extra);
    static const char body[] = "{\"channel\":\"feed:user-42\",\"data\":{}}";
    static const char json[] = "-H 'Content-Type: application/json'";
    /* the request: text/plain, a foreign Origin, a rebinding Host (before: 202) */
    ck_assert_int_eq(curl_admin("POST", "/publish",
                                "-H 'Content-Type: text/plain' -H 'Origin: https://evil.example' "
                                "-H 'Host: rebind.evil.example'", body), 403);
    /* each part alone */
    ck_assert_int_eq(curl_admin("POST", "/publish", "-H 'Content-Type: text/plain'", body), 415);
    ck_assert_int_eq(curl_admin("POST", "/publish", "-H 'Content-Type: application/x-www-form-urlencoded'", body),
                     415);
    ck_assert_int_eq(curl_admin("POST", "/publish", "-H 'Content-Type: application/json' -H 'Origin: https://evil.example'",
                                body), 403);
    ck_assert_int_eq(curl_admin("POST", "/publish", "-H 'Content-Type: application/json' -H 'Origin: null'", body),
                     403);
    ck_assert_int_eq(curl_admin("POST", "/publish", "-H 'Content-Type: application/json' -H 'Host: rebind.evil.example'",
                                body), 403);
    ck_assert_int_eq(curl_admin("GET", "/stats", "-H 'Host: rebind.evil.example:9090'", NULL), 403);
    ck_assert_int_eq(curl_admin("GET", "/metrics", "-H 'Origin: https://evil.example'", NULL), 403);
    /* what operators and tools send still works */
    ck_assert_int_eq(curl_admin("POST", "/publish", json, body), 202);
    ck_assert_int_eq(curl_admin("POST", "/publish", "-H 'Content-Type: application/json; charset=utf-8' "
                                                     "-H 'Host: localhost:1'", body), 202);
    ck_assert_int_eq(curl_admin("GET", "/healthz", "-H 'Host: [::1]:9090'", NULL), 200);
    /* /healthz says only ok or not, and load balancers probe it by service name */
    ck_assert_int_eq(curl_admin("GET", "/healthz", "-H 'Host: pulse-gateway'", NULL), 200);
    char opts[128];
    snprintf(opts, sizeof opts, "-H 'Origin: http://127.0.0.1:%d'", stack.gw[0].admin_port);
    ck_assert_int_eq(curl_admin("GET", "/stats", opts, NULL), 200);
    ck_assert_int_eq(curl_admin("GET", "/stats", "-0 -H 'Host:'", NULL), 200); /* HTTP/1.0, no Host */
    /* tokens on and no admin key: said at start */
    ck_assert_int_eq(ts_proc_wait_line(&stack.gw[0].proc, "the admin API has no key", NULL, 0, 2000), 0);
}
END_TEST

/* ---- 8: admin reads show who is online ---- */

START_TEST(test_admin_reads)
{
    char kp[700], out[4096];
    snprintf(kp, sizeof kp, "%s/admin.key", stack.tmp);
    static const char key[] = "admin-key-for-hardening-tests";
    ck_assert_int_eq(tsj_write_file(kp, key, strlen(key)), 0);
    const char *extra[] = {"--admin.api-key-file", kp, NULL};
    start_gw(extra);
    ts_ws w;
    ck_assert_int_eq(ts_ws_open(&w, stack.gw[0].port, "feed:user-alice-1234,notifications:user-alice-1234,chat.room",
                                NULL, 5000), 0);
    /* a key is set: /stats and /metrics need it (before: 200 with the channel list) */
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "GET", "/stats", NULL, NULL, out, sizeof out), 401);
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "GET", "/metrics", NULL, NULL, out, sizeof out), 401);
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "GET", "/healthz", NULL, NULL, out, sizeof out), 200);
    /* with it, the listing leaves owner channels out */
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "GET", "/stats",
                             "Authorization: Bearer admin-key-for-hardening-tests\r\n", NULL, out, sizeof out), 200);
    ck_assert_msg(strstr(out, "chat.room") != NULL, "stats: %s", out);
    ck_assert_msg(strstr(out, "user-alice") == NULL, "an owner channel is listed: %s", out);
    ts_ws_close(&w);
}
END_TEST

/* ---- 9: the Redis password in the log ---- */

START_TEST(test_redis_password_redacted)
{
    /* a Redis with a password, and the gateway given it in the URL */
    char out[256], url[128], log[700];
    const char *set[] = {"CONFIG", "SET", "requirepass", "s3cret-redis-pw"};
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 4, set), 0);
    snprintf(url, sizeof url, "redis://:s3cret-redis-pw@127.0.0.1:%d", stack.redis.port);
    const char *extra[] = {"--redis", url, NULL};
    start_gw(extra);
    ck_assert_int_eq(ts_http_wait_status(stack.gw[0].admin_port, "/healthz", 200, 5000), 0);
    /* and a config error that quotes the URL */
    char *bin = ts_bin("pulse-gateway");
    const char *argv[] = {bin, "--redis", "redis://:s3cret-redis-pw@bad host", NULL};
    ts_proc p;
    snprintf(log, sizeof log, "%s/bad-url.log", stack.tmp);
    ck_assert_int_eq(ts_proc_start(&p, (char *const *)argv, NULL, log), 0);
    ck_assert_int_eq(ts_proc_wait(&p, 5000), 2);
    free(bin);
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "cat %s %s", stack.gw[0].proc.log_path, log);
    static char all[65536];
    run_capture(cmd, all, sizeof all);
    ck_assert_msg(strstr(all, "redis redis://***@127.0.0.1") != NULL, "no redacted URL in: %s", all);
    ck_assert_msg(strstr(all, "s3cret") == NULL, "the password is printed: %s", all);
    const char *unset[] = {"CONFIG", "SET", "requirepass", ""};
    ts_redis_cmd(stack.redis.port, out, sizeof out, 4, unset); /* for the teardown's SHUTDOWN, if any */
}
END_TEST

/* ---- 2: node-wide caps on channels and patterns ---- */

/* Sends a subscribe of name and returns the first control reply (malloc'd). */
static char *subscribe(ts_ws *w, const char *name)
{
    char req[256], *reply = NULL;
    snprintf(req, sizeof req, "{\"op\":\"subscribe\",\"channel\":\"%s\"}", name);
    ts_ws_op(w, req, "subscribed", &reply, 5000);
    ck_assert_msg(reply != NULL, "no reply to subscribe %s", name);
    return reply;
}

static void expect_limit(ts_ws *w, const char *name, const char *why)
{
    char *r = subscribe(w, name);
    ck_assert_msg(strstr(r, "\"code\":\"limit\"") && strstr(r, why), "subscribe %s: %s (want limit: %s)", name, r,
                  why);
    free(r);
}

static void expect_subscribed(ts_ws *w, const char *name)
{
    char *r = subscribe(w, name);
    ck_assert_msg(strstr(r, "\"op\":\"subscribed\"") != NULL, "subscribe %s: %s", name, r);
    free(r);
}

static double refused(const char *why)
{
    char name[96];
    snprintf(name, sizeof name, "pulse_subscriptions_refused_total{reason=\"%s\"}", why);
    return ts_metric(stack.gw[0].admin_port, name);
}

START_TEST(test_node_pattern_caps)
{
    start_gw(NULL); /* the defaults: 100 patterns, 3 '*' per pattern */
    ts_ws a, b;
    ck_assert_int_eq(ts_ws_open(&a, stack.gw[0].port, NULL, NULL, 5000), 0);
    ck_assert_int_eq(ts_ws_open(&b, stack.gw[0].port, NULL, NULL, 5000), 0);
    /* the kind of pattern: many stars make every PUBLISH on the Redis slower */
    expect_limit(&a, "events.*e*e*e*", "max_pattern_stars");
    expect_subscribed(&a, "events.*e*e*");
    char name[64];
    for (int i = 1; i < 100; i++) { /* 64 per connection: spread over two */
        snprintf(name, sizeof name, "p%d.*", i);
        expect_subscribed(i < 60 ? &a : &b, name);
    }
    expect_limit(&b, "one-too-many.*", "max_patterns");
    expect_subscribed(&b, "p1.*"); /* a pattern the node holds costs nothing more */
    ck_assert_int_eq((int)refused("pattern_stars"), 1);
    ck_assert_int_eq((int)refused("patterns"), 1);
    /* the slot comes back with the pattern */
    ck_assert_int_eq(ts_ws_op(&a, "{\"op\":\"unsubscribe\",\"channel\":\"events.*e*e*\"}", "unsubscribed", NULL,
                              5000), 0);
    expect_subscribed(&b, "now-it-fits.*");
    ts_ws_close(&a);
    ts_ws_close(&b);
}
END_TEST

START_TEST(test_node_channel_caps)
{
    const char *extra[] = {"--limits.max-channels", "5", "--limits.new-subscriptions-per-second", "20",
                           "--limits.commands-per-second", "0", NULL};
    start_gw(extra);
    ts_ws a;
    ck_assert_int_eq(ts_ws_open(&a, stack.gw[0].port, NULL, NULL, 5000), 0);
    char name[64];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "c%d", i);
        expect_subscribed(&a, name);
    }
    expect_limit(&a, "c5", "max_channels");
    ck_assert_int_eq(ts_ws_op(&a, "{\"op\":\"unsubscribe\",\"channel\":\"c0\"}", "unsubscribed", NULL, 5000), 0);
    expect_subscribed(&a, "c5");
    ck_assert_int_eq((int)refused("channels"), 1);
    for (int i = 1; i <= 5; i++) {
        char req[128];
        snprintf(req, sizeof req, "{\"op\":\"unsubscribe\",\"channel\":\"c%d\"}", i);
        ck_assert_int_eq(ts_ws_op(&a, req, "unsubscribed", NULL, 5000), 0);
    }
    /* churn: subscribe/unsubscribe of new names is one Redis command each, rate limited
     * node-wide (20/s, bursts of 40; 7 taken so far) */
    int limited = 0;
    int64_t t0 = ts_now_ms();
    for (int i = 0; i < 60; i++) {
        snprintf(name, sizeof name, "churn%d", i);
        char *r = subscribe(&a, name);
        if (strstr(r, "\"code\":\"limit\"")) {
            ck_assert_msg(strstr(r, "new subscriptions") != NULL, "%s", r);
            limited++;
        } else {
            char req[128];
            snprintf(req, sizeof req, "{\"op\":\"unsubscribe\",\"channel\":\"%s\"}", name);
            ck_assert_int_eq(ts_ws_op(&a, req, "unsubscribed", NULL, 5000), 0);
        }
        free(r);
    }
    /* what the bucket lets through in the time it took (the test may be slowed) */
    double secs = (double)(ts_now_ms() - t0) / 1000.0 + 0.2;
    int bound = 40 + (int)(20 * secs); /* a full bucket at most, then its refill */
    ck_assert_msg(60 - limited <= bound, "%d of 60 new subscriptions in %.1f s (bound %d)", 60 - limited, secs, bound);
    if (bound < 60)
        ck_assert_msg(limited > 0, "none of 60 new subscriptions in %.1f s was limited", secs);
    ck_assert_int_eq((int)refused("rate"), limited);
    ts_ws_close(&a);
}
END_TEST

/* ---- 11: loopback by address, --bind names, ALPN ---- */

START_TEST(test_bind_names_and_alpn)
{
    char log[700], line[512] = "", *bin = ts_bin("pulse-gateway");
    /* a name that merely starts with 127. is not loopback: refused without auth */
    const char *argv[] = {bin, "--port", "0", "--admin-port", "0", "--bind", "127.evil.example", NULL};
    ts_proc p;
    snprintf(log, sizeof log, "%s/evil-bind.log", stack.tmp);
    ck_assert_int_eq(ts_proc_start(&p, (char *const *)argv, NULL, log), 0);
    ck_assert_int_eq(ts_proc_wait(&p, 5000), 2);
    ck_assert_int_eq(ts_proc_wait_line(&p, "refusing to listen on 127.evil.example", line, sizeof line, 100), 0);
    free(bin);

    /* --bind localhost: resolved, and something listens where ready says */
    const char *extra[] = {"--bind", "localhost", NULL};
    start_gw(extra);
    ts_ws w;
    ck_assert_int_eq(ts_ws_open(&w, stack.gw[0].port, "chat.room", NULL, 5000), 0);
    ts_ws_close(&w);
    ck_assert_int_eq(ts_stack_stop_gateway(&stack, 0, 8000), 0);

    /* wss:// offers http/1.1 only: a client asking h2 first gets http/1.1 */
    char cert[600], key[600], cmd[2048], out[8192];
    ck_assert_msg(tsj_make_cert(stack.tmp, cert, sizeof cert, key, sizeof key) == 0, "openssl req failed");
    const char *tls[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    start_gw(tls);
    snprintf(cmd, sizeof cmd,
             "openssl s_client -connect 127.0.0.1:%d -alpn h2,http/1.1 </dev/null 2>/dev/null | grep -i alpn",
             stack.gw[0].port);
    run_capture(cmd, out, sizeof out);
    ck_assert_msg(strstr(out, "ALPN protocol: http/1.1") != NULL, "ALPN: %s", out);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("hardening", "hardening", 90, &stack, TS_FIX_REDIS, 8000, write_secret,
                          NULL, test_batch_envelope_forgery, test_far_future_exp,
                          test_redis_channel_names, test_priority_capped_by_rule,
                          test_refusals_readable, test_half_open_handshakes, test_fd_limit_headroom,
                          test_admin_cross_site, test_admin_reads, test_redis_password_redacted,
                          test_node_pattern_caps, test_node_channel_caps, test_bind_names_and_alpn);
}
