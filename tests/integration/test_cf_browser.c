/*
 * test_cf_browser.c - the unmodified Centrifugo SDK (`centrifuge` 5.8.0, its browser
 * build dist/centrifuge.js) in a real headless Chromium against a real gateway's
 * /connection/websocket (issue 15): Debian's /usr/bin/chromium driven by
 * playwright-core from tests/sdk (pinned, installed by tests/sdk/install.sh; no browser
 * download, nothing from the network).
 *
 * A real redis-server and one gateway requiring tokens (HS256) with hist.* keeping
 * history. node tests/sdk/cf_browser.js serves a test page and the SDK from a tiny
 * HTTP server on a free loopback port; the page connects with a token, subscribes to
 * hist.browser and lists publications. The script checks that it is subscribed at
 * the stream top (3 events were published before the page came), that 10 events published meanwhile by pulse-publish appear with
 * consecutive offsets after it, that a publish from the page comes back, that history
 * from the page lists the newest offsets and that the page logs no error; each check
 * is an ok / not ok line. The screenshot goes to
 * build/tests/artifacts/cf-browser.png (the path is printed). About 5 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts.h"
#include "ts_check.h"
#include "ts_jwt.h"

static ts_stack stack;
static const char secret[] = "cf-browser-secret-cf-browser-secret-0123";
static const char conf[] = "channels = { rules = (\n"
                           "  { pattern = \"hist.*\"; history_size = 100; history_ttl_s = 600; }\n"
                           "); };\n";

#define NEVENTS 10

START_TEST(test_sdk_in_chromium)
{
    char conf_path[600], secret_path[600];
    snprintf(conf_path, sizeof conf_path, "%s/browser.conf", stack.tmp);
    snprintf(secret_path, sizeof secret_path, "%s/jwt.secret", stack.tmp);
    ck_assert_int_eq(tsj_write_file(conf_path, conf, strlen(conf)), 0);
    ck_assert_int_eq(tsj_write_file(secret_path, secret, strlen(secret)), 0);
    const char *args[] = {"--config", conf_path, "--jwt-secret-file", secret_path, NULL};
    ts_gateway *g = ts_fixture_gateway("browser-1", (char *const *)args);

    char cmd[4096], shot[1024];
    ts_sdk_install();
    ts_artifact(shot, sizeof shot, "cf-browser.png");
    char *publish = ts_bin("pulse-publish");
    snprintf(cmd, sizeof cmd,
             "timeout 90 node '%s/tests/sdk/cf_browser.js' --url ws://127.0.0.1:%d/connection/websocket"
             " --secret-file '%s' --redis-port %d --publish '%s' --channel hist.browser --count %d"
             " --node browser-1 --screenshot '%s'",
             PULSE_SOURCE_DIR, g->port, secret_path, stack.redis.port, publish, NEVENTS, shot);
    free(publish);
    int code = ts_run(cmd);
    ck_assert_msg(code == 0, "cf_browser.js exited %d: see its not ok lines above", code);
    ts_assert_png(shot, "test_cf_browser");
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("cf_browser", "browser", 180, &stack, TS_FIX_REDIS, 8000, NULL, NULL,
                          test_sdk_in_chromium);
}
