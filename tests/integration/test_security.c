/*
 * test_security.c - the gateway's security controls end to end (docs/SECURITY.md):
 * tokens at the handshake (HTTP 401) and in-band (close 4401), the auth timeout,
 * refresh and the close at expiry, channel authorization with a forbidden client that
 * receives nothing while an allowed one receives all, publishing over WebSocket with
 * and without the grant, the admin API key, wss:// with a certificate made in the
 * test, the Origin list, the per-IP limit, the command rate limit, and the refusal to
 * start insecurely.
 *
 * Tokens are signed here at run time (tests/support/ts_jwt.h); nothing is hard-coded.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
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
static const char secret[] = "integration-secret-integration-secret-0123456789";

/* After the stack's setup: the HS256 secret file in its temp dir. */
static void write_secret(void)
{
    snprintf(secret_path, sizeof secret_path, "%s/jwt.secret", stack.tmp);
    ck_assert_int_eq(tsj_write_file(secret_path, secret, strlen(secret)), 0);
}

/* Starts the gateway with JWT auth (HS256, our secret) plus extra flags. */
static void start_secured(const char *const extra[])
{
    const char *args[32] = {"--jwt-secret-file", secret_path};
    ts_argv_append(args, 2, 32, extra);
    ck_assert_msg(ts_stack_start_gateway(&stack, "node-sec", (char *const *)args) == 0, "gateway did not start");
}

/* A token for sub with exp now+exp_s (0: none) and the claims' JSON arrays (NULL: absent). */
static char *token(const char *sub, long exp_s, const char *channels, const char *publish)
{
    char payload[1024];
    int n = snprintf(payload, sizeof payload, "{\"sub\":\"%s\"", sub);
    if (exp_s)
        n += snprintf(payload + n, sizeof payload - (size_t)n, ",\"exp\":%ld", (long)time(NULL) + exp_s);
    if (channels)
        n += snprintf(payload + n, sizeof payload - (size_t)n, ",\"channels\":%s", channels);
    if (publish)
        n += snprintf(payload + n, sizeof payload - (size_t)n, ",\"publish\":%s", publish);
    snprintf(payload + n, sizeof payload - (size_t)n, "}");
    return tsj_make("HS256", payload, TSJ_HS256, secret, strlen(secret), NULL);
}

/* The HTTP status a WebSocket upgrade of path gets (101, 401, ...), or -1: the status
 * line is read here as it comes, whatever the body (refusals carry a JSON reason). */
static int upgrade_status(int port, const char *path, const char *origin)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    char req[8192];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: pulse.v1\r\n%s%s%s\r\n",
                     path, origin ? "Origin: " : "", origin ? origin : "", origin ? "\r\n" : "");
    char resp[512] = "";
    size_t len = 0;
    if (write(fd, req, (size_t)n) == n) {
        for (int i = 0; i < 20 && len < sizeof resp - 1 && !strstr(resp, "\r\n"); i++) {
            ssize_t got = read(fd, resp + len, sizeof resp - 1 - len);
            if (got <= 0)
                break;
            len += (size_t)got;
            resp[len] = '\0';
        }
    }
    close(fd);
    if (len < 12 || strncmp(resp, "HTTP/1.", 7) != 0)
        return -1;
    return (int)strtol(resp + 9, NULL, 10);
}

static int tok_status(const char *tok)
{
    char path[4096];
    snprintf(path, sizeof path, "/ws?channels=events.critical&token=%s", tok);
    return upgrade_status(stack.gw[0].port, path, NULL);
}

/* Connects with ?token=tok[&channels=...]; returns what ts_ws_connect returned and
 * (on 0) checks the hello. */
static int connect_tok(ts_ws *w, const char *tok, const char *channels)
{
    char path[4096];
    snprintf(path, sizeof path, "/ws?%s%s%s%s", tok ? "token=" : "", tok ? tok : "",
             channels ? (tok ? "&channels=" : "channels=") : "", channels ? channels : "");
    int rc = ts_ws_connect(w, stack.gw[0].port, path, "pulse.v1");
    if (rc == 0) {
        char *hello = ts_ws_recv_until(w, "\"op\":\"hello\"", 5000);
        ck_assert_msg(hello != NULL, "no hello");
        free(hello);
    }
    return rc;
}

/* Sends request and expects a control reply containing want. */
static void expect_reply(ts_ws *w, const char *request, const char *want)
{
    if (request)
        ck_assert_int_eq(ts_ws_send_text(w, request), 0);
    char *m = ts_ws_recv_until(w, want, 5000);
    ck_assert_msg(m != NULL, "sent %s: no reply with %s", request ? request : "(nothing)", want);
    free(m);
}

static void expect_closed(ts_ws *w, int code, const char *reason, int timeout_ms)
{
    int got = ts_ws_wait_closed(w, timeout_ms);
    ck_assert_msg(got == code, "want close %d, got %d (%s)", code, got, w->close_reason);
    if (reason)
        ck_assert_msg(strstr(w->close_reason, reason) != NULL, "close reason '%s' lacks '%s'", w->close_reason,
                      reason);
    ts_ws_close(w);
}

/* ---- tokens at the handshake and in-band ---- */

START_TEST(test_handshake_tokens)
{
    const char *extra[] = {"--auth.handshake-timeout-ms", "400", NULL};
    start_secured(extra);
    ts_ws w;

    char *good = token("42", 600, "[\"events.*\"]", NULL);
    ck_assert_int_eq(connect_tok(&w, good, "events.critical"), 0);
    expect_reply(&w, NULL, "{\"op\":\"subscribed\",\"channel\":\"events.critical\"}");
    ts_ws_close(&w);

    /* wrong signature, expired, alg none, malformed: refused with 401 */
    char payload[128];
    snprintf(payload, sizeof payload, "{\"sub\":\"42\",\"exp\":%ld}", (long)time(NULL) + 600);
    const char other[] = "another-secret-another-secret-another-secret";
    char *bad[] = {
        tsj_make("HS256", payload, TSJ_HS256, other, strlen(other), NULL),
        token("42", -3600, "[\"events.*\"]", NULL),
        tsj_make("none", payload, TSJ_UNSIGNED, NULL, 0, NULL),
        strdup("not-a-token"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = tok_status(bad[i]);
        ck_assert_msg(rc == 401, "bad token %zu: want HTTP 401, got %d", i, rc);
        free(bad[i]);
    }

    /* missing: the handshake succeeds, then 400 ms to authenticate */
    ck_assert_int_eq(connect_tok(&w, NULL, "events.critical"), 0);
    expect_reply(&w, NULL, "\"code\":\"unauthorized\""); /* ?channels= before auth */
    expect_reply(&w, "{\"op\":\"subscribe\",\"channel\":\"events.critical\"}", "\"code\":\"unauthorized\"");
    expect_closed(&w, 4401, "auth timeout", 3000);

    /* in-band auth, then subscribe */
    ck_assert_int_eq(connect_tok(&w, NULL, NULL), 0);
    char req[2048];
    snprintf(req, sizeof req, "{\"op\":\"auth\",\"token\":\"%s\"}", good);
    expect_reply(&w, req, "{\"op\":\"authenticated\"}");
    expect_reply(&w, "{\"op\":\"subscribe\",\"channel\":\"events.x\"}", "{\"op\":\"subscribed\"");
    expect_reply(&w, "{\"op\":\"ping\"}", "pong");
    ts_ws_close(&w);

    /* in-band with a bad token: closed 4401 with the reason, never the secret */
    ck_assert_int_eq(connect_tok(&w, NULL, NULL), 0);
    char *forged = tsj_make("HS256", payload, TSJ_HS256, other, strlen(other), NULL);
    snprintf(req, sizeof req, "{\"op\":\"auth\",\"token\":\"%s\"}", forged);
    ck_assert_int_eq(ts_ws_send_text(&w, req), 0);
    expect_closed(&w, 4401, "invalid token signature", 3000);
    free(forged);
    free(good);

    /* every refusal is counted: 4 bad tokens at the handshake + 1 in-band, 1 timeout */
    int ap = stack.gw[0].admin_port;
    ck_assert_int_eq((int)ts_metric(ap, "pulse_auth_failures_total{reason=\"invalid_token\"}"), 5);
    ck_assert_int_eq((int)ts_metric(ap, "pulse_auth_failures_total{reason=\"auth_timeout\"}"), 1);
    ck_assert_int_eq((int)ts_metric(ap, "pulse_auth_failures_total{reason=\"token_expired\"}"), 0);
    ck_assert_int_eq((int)ts_metric(ap, "pulse_auth_failures_total{reason=\"forbidden\"}"), 0);
}
END_TEST

START_TEST(test_refresh_and_expiry)
{
    const char *extra[] = {"--auth.leeway-s", "0", NULL};
    start_secured(extra);
    ts_ws a, b;
    char *short_a = token("7", 2, "[\"events.*\"]", NULL);
    char *short_b = token("7", 2, "[\"events.*\"]", NULL);
    ck_assert_int_eq(connect_tok(&a, short_a, NULL), 0);
    ck_assert_int_eq(connect_tok(&b, short_b, "events.critical"), 0);
    expect_reply(&b, NULL, "\"op\":\"subscribed\"");

    /* b refreshes: another sub is refused, the same sub with a longer exp accepted */
    char req[2048];
    char *intruder = token("8", 600, "[\"*\"]", NULL);
    snprintf(req, sizeof req, "{\"op\":\"refresh\",\"token\":\"%s\"}", intruder);
    expect_reply(&b, req, "another subject");
    char *longer = token("7", 600, "[\"events.*\"]", NULL);
    snprintf(req, sizeof req, "{\"op\":\"refresh\",\"token\":\"%s\"}", longer);
    expect_reply(&b, req, "{\"op\":\"refreshed\"}");

    /* a: closed at expiry (2 s, checked each second) */
    int64_t t0 = ts_now_ms();
    expect_closed(&a, 4401, "token expired", 6000);
    ck_assert_int_ge(ts_now_ms() - t0, 500);
    ck_assert_int_eq((int)ts_metric(stack.gw[0].admin_port, "pulse_auth_failures_total{reason=\"token_expired\"}"), 1);
    /* the intruder's refresh (another subject) */
    ck_assert_int_eq((int)ts_metric(stack.gw[0].admin_port, "pulse_auth_failures_total{reason=\"invalid_token\"}"), 1);

    /* b lives on past the first exp and still gets events */
    ts_sleep_ms(1200);
    expect_reply(&b, "{\"op\":\"ping\"}", "pong");
    char ev[1024];
    ck_assert_int_gt(ts_event_json(ev, sizeof ev, "REFRESHED", 1, NULL, NULL), 0);
    ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.critical", ev), 1);
    expect_reply(&b, NULL, "REFRESHED");

    /* a refresh that grants less drops what is no longer allowed */
    char *narrow = token("7", 600, "[\"other.*\"]", NULL);
    snprintf(req, sizeof req, "{\"op\":\"refresh\",\"token\":\"%s\"}", narrow);
    expect_reply(&b, req, "{\"op\":\"unsubscribed\",\"channel\":\"events.critical\"}");
    ts_ws_close(&b);
    free(short_a);
    free(short_b);
    free(intruder);
    free(longer);
    free(narrow);
}
END_TEST

/* ---- authorization ---- */

START_TEST(test_forbidden_receives_nothing)
{
    start_secured(NULL);
    ts_ws ok, no;
    char *ta = token("42", 600, "[\"secret.*\"]", NULL);
    char *tb = token("99", 600, "[\"events.*\",\"feed:*\"]", NULL);
    ck_assert_int_eq(connect_tok(&ok, ta, "secret.x,feed:user-42"), 0);
    expect_reply(&ok, NULL, "{\"op\":\"subscribed\",\"channel\":\"secret.x\"}");
    expect_reply(&ok, NULL, "{\"op\":\"subscribed\",\"channel\":\"feed:user-42\"}");
    ck_assert_int_eq(connect_tok(&no, tb, NULL), 0);
    const char *tries[] = {
        "{\"op\":\"subscribe\",\"channel\":\"secret.x\"}",     /* not in the claim */
        "{\"op\":\"subscribe\",\"channel\":\"feed:user-42\"}", /* someone else's feed */
        "{\"op\":\"subscribe\",\"channel\":\"secret.*\"}",     /* pattern not covered */
        "{\"op\":\"subscribe\",\"channel\":\"feed:*\"}",       /* could reach others' feeds */
        "{\"op\":\"subscribe\",\"channel\":\"*\"}",
    };
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++)
        expect_reply(&no, tries[i], "\"code\":\"forbidden\"");
    ck_assert_int_eq((int)ts_metric(stack.gw[0].admin_port, "pulse_auth_failures_total{reason=\"forbidden\"}"),
                     N_ELEMS(tries));
    expect_reply(&no, "{\"op\":\"subscribe\",\"channel\":\"feed:user-99\"}", "{\"op\":\"subscribed\"");

    const int N = 20;
    for (int i = 1; i <= N; i++) {
        char ev[1024];
        ck_assert_int_gt(ts_event_json(ev, sizeof ev, "PRIVATE", (uint64_t)i, NULL, NULL), 0);
        ck_assert_int_eq(ts_redis_publish(stack.redis.port, "secret.x", ev), 1);
        ck_assert_int_eq(ts_redis_publish(stack.redis.port, "feed:user-42", ev), 1);
    }
    int got = 0;
    for (int i = 0; i < 2 * N; i++) {
        char *m = ts_ws_recv_until(&ok, "PRIVATE", 5000);
        ck_assert_msg(m != NULL, "allowed client got %d of %d", got, 2 * N);
        got++;
        free(m);
    }
    /* the forbidden one: its pong comes after every delivery would have */
    ck_assert_int_eq(ts_ws_send_text(&no, "{\"op\":\"ping\"}"), 0);
    for (int i = 0; i < 10; i++) {
        char *m = NULL;
        int op = ts_ws_recv(&no, &m, NULL, 3000);
        ck_assert_int_eq(op, 1);
        ck_assert_msg(strstr(m, "PRIVATE") == NULL, "forbidden client received %s", m);
        bool pong = strstr(m, "pong") != NULL;
        free(m);
        if (pong)
            break;
    }
    ts_ws_close(&ok);
    ts_ws_close(&no);
    free(ta);
    free(tb);
}
END_TEST

START_TEST(test_publish_over_ws)
{
    start_secured(NULL);
    ts_ws sub, pub, nopub;
    char *ts = token("s", 600, "[\"chat.*\"]", NULL);
    char *tp = token("p", 600, "[]", "[\"chat.*\"]");
    char *tn = token("n", 600, "[\"chat.*\"]", NULL);
    ck_assert_int_eq(connect_tok(&sub, ts, "chat.room"), 0);
    expect_reply(&sub, NULL, "\"op\":\"subscribed\"");
    ck_assert_int_eq(connect_tok(&pub, tp, NULL), 0);
    ck_assert_int_eq(connect_tok(&nopub, tn, NULL), 0);

    expect_reply(&nopub, "{\"op\":\"publish\",\"channel\":\"chat.room\",\"data\":{\"from\":\"nopub\"}}",
                 "\"code\":\"forbidden\"");
    expect_reply(&pub, "{\"op\":\"publish\",\"channel\":\"events.critical\",\"data\":1}", "\"code\":\"forbidden\"");
    expect_reply(&pub, "{\"op\":\"publish\",\"channel\":\"chat.room\",\"data\":{\"from\":\"pub\"}}",
                 "{\"op\":\"published\",\"channel\":\"chat.room\"}");
    char *m = NULL;
    ck_assert_int_eq(ts_ws_recv(&sub, &m, NULL, 5000), 1);
    ck_assert_str_eq(m, "{\"channel\":\"chat.room\",\"data\":{\"from\":\"pub\"}}"); /* and nothing before it */
    free(m);
    /* the PUBLISH reply may reach the gateway just after the delivery: wait up to 2 s */
    for (int i = 0; i < 40 && ts_metric(stack.gw[0].admin_port, "pulse_client_publishes_total{result=\"published\"}") < 1; i++)
        usleep(50000);
    ck_assert_int_eq((int)ts_metric(stack.gw[0].admin_port, "pulse_client_publishes_total{result=\"published\"}"), 1);
    ck_assert_int_eq((int)ts_metric(stack.gw[0].admin_port, "pulse_client_publishes_total{result=\"failed\"}"), 0);
    ck_assert_int_eq((int)ts_metric(stack.gw[0].admin_port, "pulse_client_publishes_total{result=\"refused\"}"), 0);
    ts_ws_close(&sub);
    ts_ws_close(&pub);
    ts_ws_close(&nopub);
    free(ts);
    free(tp);
    free(tn);
}
END_TEST

/* ---- admin API ---- */

START_TEST(test_admin_key)
{
    char kp[600];
    snprintf(kp, sizeof kp, "%s/admin.key", stack.tmp);
    const char key[] = "admin-key-admin-key-42";
    ck_assert_int_eq(tsj_write_file(kp, key, strlen(key)), 0);
    const char *extra[] = {"--admin.api-key-file", kp, NULL};
    start_secured(extra);
    ck_assert_int_eq(ts_http_wait_status(stack.gw[0].admin_port, "/healthz", 200, 5000), 0); /* reads open */
    char body[2048];
    const char ev[] = "{\"channel\":\"events.critical\",\"data\":{\"x\":1}}";
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "POST", "/publish", NULL, ev, body, sizeof body), 401);
    ck_assert_ptr_nonnull(strstr(body, "\"error\":\"unauthorized\""));
    ck_assert_ptr_nonnull(strstr(body, "\"reason\""));
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "POST", "/publish", "Authorization: Bearer admin-key-admin-key-43\r\n", ev,
                             body, sizeof body),
                     401);
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "POST", "/publish", "Authorization: Basic YWRtaW46eA==\r\n", ev, body,
                             sizeof body),
                     401);
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "POST", "/publish", "Authorization: Bearer admin-key-admin-key-42\r\n",
                             ev, body, sizeof body),
                     202);
    /* with a key, reads need it too by default; /healthz stays open for probes */
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "GET", "/metrics", NULL, NULL, body, sizeof body), 401);
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "GET", "/healthz", NULL, NULL, body, sizeof body), 200);
    ck_assert_int_eq(ts_stack_stop_gateway(&stack, 0, 8000), 0);

    const char *extra2[] = {"--admin.api-key-file", kp, "--admin.protect-reads", NULL};
    start_secured(extra2);
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "GET", "/metrics", NULL, NULL, body, sizeof body), 401);
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "GET", "/healthz", NULL, NULL, body, sizeof body), 401);
    ck_assert_int_eq(ts_http(stack.gw[0].admin_port, "GET", "/metrics", "Authorization: Bearer admin-key-admin-key-42\r\n",
                             NULL, body, sizeof body),
                     200);
}
END_TEST

/* ---- transport ---- */

/* Connects with TLS (verifying the test's own certificate for "localhost"), sends the
 * upgrade and returns the first frame's text in out. 0 or -1. */
static int wss_first_frame(int port, const char *ca, char *out, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        SSL_CTX_free(ctx);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = -1;
    SSL *ssl = NULL;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto out;
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
    if (SSL_connect(ssl) != 1) {
        ERR_print_errors_fp(stderr);
        goto out;
    }
    const char req[] = "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Protocol: pulse.v1\r\n\r\n";
    if (SSL_write(ssl, req, (int)strlen(req)) != (int)strlen(req))
        goto out;
    unsigned char buf[4096];
    size_t len = 0;
    for (int i = 0; i < 20 && len < sizeof buf - 1; i++) {
        int n = SSL_read(ssl, buf + len, (int)(sizeof buf - 1 - len));
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr((char *)buf, "\r\n\r\n");
        if (!end)
            continue;
        if (strncmp((char *)buf, "HTTP/1.1 101", 12) != 0)
            break;
        unsigned char *f = (unsigned char *)end + 4;
        size_t have = len - (size_t)(f - buf);
        if (have >= 2 && f[0] == 0x81 && (f[1] & 0x7f) < 126 && have >= 2u + (f[1] & 0x7fu)) {
            size_t pl = f[1] & 0x7f;
            snprintf(out, cap, "%.*s", (int)pl, (char *)f + 2);
            rc = 0;
            break;
        }
    }
out:
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    close(fd);
    SSL_CTX_free(ctx);
    return rc;
}

START_TEST(test_wss)
{
    char cert[600], key[600];
    ck_assert_msg(tsj_make_cert(stack.tmp, cert, sizeof cert, key, sizeof key) == 0, "openssl req failed");
    const char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    ck_assert(ts_stack_start_gateway(&stack, "node-tls", (char *const *)extra) == 0);
    char frame[512] = "";
    ck_assert_msg(wss_first_frame(stack.gw[0].port, cert, frame, sizeof frame) == 0, "no wss handshake");
    ck_assert_msg(strstr(frame, "\"op\":\"hello\"") && strstr(frame, "node-tls"), "first frame: %s", frame);
    /* plain ws:// on the TLS port does not get a WebSocket */
    ts_ws w;
    ck_assert_int_ne(ts_ws_connect(&w, stack.gw[0].port, "/ws", "pulse.v1"), 0);
}
END_TEST

START_TEST(test_origin_ip_rate_limits)
{
    /* ts_ws sends Origin: http://127.0.0.1 */
    const char *extra[] = {"--ws.allowed-origins", "https://app.example", NULL};
    ck_assert(ts_stack_start_gateway(&stack, "node-o", (char *const *)extra) == 0);
    ck_assert_int_eq(upgrade_status(stack.gw[0].port, "/ws", "http://127.0.0.1"), 403);
    ck_assert_int_eq(upgrade_status(stack.gw[0].port, "/ws", "https://APP.example"), 101);
    ck_assert_int_eq(upgrade_status(stack.gw[0].port, "/ws", NULL), 101); /* no Origin: not a browser */
    ck_assert_int_eq(ts_stack_stop_gateway(&stack, 0, 8000), 0);

    const char *extra2[] = {"--ws.allowed-origins", "http://127.0.0.1", "--limits.max-connections-per-ip", "2",
                            "--limits.commands-per-second", "5", NULL};
    ck_assert(ts_stack_start_gateway(&stack, "node-o", (char *const *)extra2) == 0);
    ts_ws a, b;
    ck_assert_int_eq(ts_ws_open(&a, stack.gw[0].port, NULL, NULL, 5000), 0);
    ck_assert_int_eq(ts_ws_open(&b, stack.gw[0].port, NULL, NULL, 5000), 0);
    ck_assert_int_eq(upgrade_status(stack.gw[0].port, "/ws", NULL), 429);
    ts_ws_close(&b);
    ts_sleep_ms(200);
    ck_assert_int_eq(ts_ws_open(&b, stack.gw[0].port, NULL, NULL, 5000), 0); /* a slot again */
    ts_ws_close(&b);

    /* 5 per second, bursts of 10: the 11th ping at once is refused ... */
    for (int i = 0; i < 11; i++)
        ck_assert_int_eq(ts_ws_send_text(&a, "{\"op\":\"ping\"}"), 0);
    expect_reply(&a, NULL, "\"code\":\"rate_limited\"");
    /* ... and a flood is closed 1008 */
    for (int i = 0; i < 40; i++)
        if (ts_ws_send_text(&a, "{\"op\":\"ping\"}") != 0)
            break;
    expect_closed(&a, 1008, "rate limit", 5000);
}
END_TEST

/* ---- refusing to start insecurely ---- */

static int run_gateway_expect_exit(const char *const extra[], const char *log_name, char *line, size_t cap)
{
    char *bin = ts_bin("pulse-gateway");
    char redis_url[64], log[600];
    snprintf(redis_url, sizeof redis_url, "redis://127.0.0.1:%d", stack.redis.port);
    snprintf(log, sizeof log, "%s/%s", stack.tmp, log_name);
    const char *argv[32] = {bin, "--port", "0", "--admin-port", "0", "--redis", redis_url};
    int n = 7;
    for (int i = 0; extra[i]; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    ts_proc p;
    ck_assert_int_eq(ts_proc_start(&p, (char *const *)argv, NULL, log), 0);
    int st = ts_proc_wait(&p, 5000);
    if (st < 0)
        ts_proc_stop(&p, 1000);
    ts_proc_wait_line(&p, "refusing", line, cap, 100);
    free(bin);
    return st;
}

START_TEST(test_refuse_insecure)
{
    char line[512] = "";
    const char *open_ws[] = {"--bind", "0.0.0.0", NULL};
    ck_assert_int_eq(run_gateway_expect_exit(open_ws, "open-ws.log", line, sizeof line), 2);
    ck_assert_msg(strstr(line, "refusing to listen on 0.0.0.0 with auth off") && strstr(line, "--insecure"),
                  "message: %s", line);
    line[0] = '\0';
    const char *open_admin[] = {"--jwt-secret-file", secret_path, "--admin-bind", "0.0.0.0", NULL};
    ck_assert_int_eq(run_gateway_expect_exit(open_admin, "open-admin.log", line, sizeof line), 2);
    ck_assert_msg(strstr(line, "refusing admin HTTP on 0.0.0.0 without an API key"), "message: %s", line);
    line[0] = '\0';
    const char *bad_key[] = {"--jwt-public-key", secret_path, NULL};
    ck_assert_int_eq(run_gateway_expect_exit(bad_key, "bad-key.log", line, sizeof line), 2);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("security", "security", 60, &stack, TS_FIX_REDIS, 8000, write_secret,
                          NULL, test_handshake_tokens, test_refresh_and_expiry,
                          test_forbidden_receives_nothing, test_publish_over_ws, test_admin_key,
                          test_wss, test_origin_ip_rate_limits, test_refuse_insecure);
}
