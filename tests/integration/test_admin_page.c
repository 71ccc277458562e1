/*
 * test_admin_page.c - the node's admin page (GET / on the admin port, issue 15) in a
 * real headless Chromium: Debian's /usr/bin/chromium driven by playwright-core from
 * tests/sdk (pinned, installed by tests/sdk/install.sh; no browser download).
 *
 * A real redis-server and one gateway requiring tokens (HS256), with room.* keeping
 * history and presence; three pulse.v1 clients on room.lobby. Then node
 * tests/sdk/admin_page.js loads the page and checks that the live view shows this
 * node's numbers (3 connections, Redis connected, the delivery total /stats gives),
 * that the channel inspector asks for a token without one and goes live with it,
 * that presence lists the 4 subscribers, that 12 events published meanwhile by
 * pulse-publish appear with consecutive offsets and in the history panel, and that
 * the page logs no error or CSP violation. The screenshot goes to
 * build/tests/artifacts/admin-page.png (the path is printed). Also, over plain HTTP:
 * the page's security headers, and a foreign Host or Origin refused. About 10 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ts.h"
#include "ts_check.h"
#include "ts_jwt.h"

static ts_stack stack;
static const char secret[] = "admin-page-secret-admin-page-secret-0123";
static const char conf[] = "channels = { rules = (\n"
                           "  { pattern = \"room.*\"; presence = true; join_leave = true;"
                           " history_size = 100; history_ttl_s = 3600; }\n"
                           "); };\n";

#define NCLIENTS 3
#define NEVENTS 12

static char *token(const char *sub)
{
    char payload[256];
    snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"exp\":%ld,\"channels\":[\"room.*\"]}", sub,
             (long)time(NULL) + 600);
    return tsj_make("HS256", payload, TSJ_HS256, secret, strlen(secret), NULL);
}

static ts_gateway *start_node(void)
{
    static char conf_path[600], secret_path[600];
    snprintf(conf_path, sizeof conf_path, "%s/page.conf", stack.tmp);
    snprintf(secret_path, sizeof secret_path, "%s/jwt.secret", stack.tmp);
    ck_assert_int_eq(tsj_write_file(conf_path, conf, strlen(conf)), 0);
    ck_assert_int_eq(tsj_write_file(secret_path, secret, strlen(secret)), 0);
    const char *args[] = {"--config", conf_path, "--jwt-secret-file", secret_path, NULL};
    return ts_fixture_gateway("page-1", (char *const *)args);
}

START_TEST(test_page_in_chromium)
{
    ts_gateway *g = start_node();
    ts_ws c[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        char sub[16], path[1024];
        snprintf(sub, sizeof sub, "user-%d", i);
        char *t = token(sub);
        snprintf(path, sizeof path, "/ws?channels=room.lobby&token=%s", t);
        free(t);
        ck_assert_int_eq(ts_ws_connect(&c[i], g->port, path, "pulse.v1"), 0);
        char *m = ts_ws_recv_until(&c[i], "\"subscribed\"", 5000);
        ck_assert_msg(m != NULL, "client %d: no subscribed", i);
        free(m);
    }

    char cmd[4096], shot[1024];
    ts_sdk_install();
    ts_artifact(shot, sizeof shot, "admin-page.png");
    char *t = token("admin-page");
    char *publish = ts_bin("pulse-publish");
    snprintf(cmd, sizeof cmd,
             "timeout 90 node '%s/tests/sdk/admin_page.js' --admin http://127.0.0.1:%d --publish '%s'"
             " --redis redis://127.0.0.1:%d --channel room.lobby --clients %d --token '%s' --count %d"
             " --screenshot '%s'",
             PULSE_SOURCE_DIR, g->admin_port, publish, stack.redis.port, NCLIENTS, t, NEVENTS, shot);
    free(t);
    free(publish);
    int code = ts_run(cmd);
    ck_assert_msg(code == 0, "admin_page.js exited %d: see its check lines above", code);
    ts_assert_png(shot, "test_admin_page");

    /* the clients the page counted got every event too */
    for (int i = 0; i < NCLIENTS; i++) {
        int got = 0;
        char *m;
        while (got < NEVENTS && (m = ts_ws_recv_until(&c[i], "PAGE_CHECK", 3000)) != NULL) {
            got++;
            free(m);
        }
        ck_assert_msg(got == NEVENTS, "client %d got %d of %d events", i, got, NEVENTS);
        ts_ws_close(&c[i]);
    }
}
END_TEST

/* curl GET http://127.0.0.1:port<path> with one extra header (or none): the status, and
 * the response headers in out. */
static int curl_get(int port, const char *path, const char *header, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "curl -sS --max-time 5 -o /dev/null -D - -w 'status=%%{http_code}' %s%s%s 'http://127.0.0.1:%d%s'",
             header ? "-H '" : "", header ? header : "", header ? "'" : "", port, path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    pclose(p);
    const char *st = strstr(out, "status=");
    return st ? (int)strtol(st + 7, NULL, 10) : -1;
}

/* The page's files and headers, and the admin port's Host and Origin rules on them. */
START_TEST(test_page_headers)
{
    ts_gateway *g = ts_fixture_gateway("page-2", NULL);
    int a = g->admin_port;
    char body[8192], out[4096];
    ck_assert_int_eq(ts_http(a, "GET", "/", NULL, NULL, body, sizeof body), 200);
    ck_assert_msg(strstr(body, "<title>Pulse node</title>") != NULL, "GET / is not the page: %.200s", body);
    ck_assert_int_eq(ts_http(a, "GET", "/ui/app.js", NULL, NULL, body, sizeof body), 200);
    ck_assert_int_eq(ts_http(a, "GET", "/ui/app.css", NULL, NULL, body, sizeof body), 200);
    ck_assert_int_eq(ts_http(a, "GET", "/ui/nope.js", NULL, NULL, body, sizeof body), 404);
    ck_assert_int_eq(ts_http(a, "POST", "/", "Content-Type: application/json\r\n", "{}", body, sizeof body), 405);
    ck_assert_int_eq(curl_get(a, "/", "Host: rebind.evil.example", out, sizeof out), 403);
    ck_assert_int_eq(curl_get(a, "/ui/app.js", "Origin: http://evil.example", out, sizeof out), 403);
    ck_assert_int_eq(curl_get(a, "/history?channel=x", "Origin: http://evil.example", out, sizeof out), 403);
    ck_assert_int_eq(curl_get(a, "/presence?channel=x", "Host: rebind.evil.example", out, sizeof out), 403);

    char host[64], want[256];
    snprintf(host, sizeof host, "Host: localhost:%d", a);
    ck_assert_int_eq(curl_get(a, "/", host, out, sizeof out), 200);
    snprintf(want, sizeof want, "connect-src 'self' ws://localhost:%d;", g->port);
    const char *need[] = {"Content-Type: text/html; charset=utf-8", "default-src 'none'", "script-src 'self';", want,
                          "frame-ancestors 'none'", "X-Content-Type-Options: nosniff", "X-Frame-Options: DENY",
                          "Referrer-Policy: no-referrer"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        ck_assert_msg(strstr(out, need[i]) != NULL, "GET / lacks %s:\n%s", need[i], out);
    ck_assert_msg(strstr(out, "unsafe-inline") == NULL, "the CSP allows inline code:\n%s", out);
    /* a Host a CSP cannot name (an IPv6 literal): any host, the client port only */
    ck_assert_int_eq(curl_get(a, "/", "Host: [::1]:1", out, sizeof out), 200);
    snprintf(want, sizeof want, "connect-src 'self' ws://*:%d;", g->port);
    ck_assert_msg(strstr(out, want) != NULL, "Host [::1]: want %s in:\n%s", want, out);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("admin_page", "page", 180, &stack, TS_FIX_REDIS, 8000, NULL, NULL,
                          test_page_headers, test_page_in_chromium);
}
