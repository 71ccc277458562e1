/*
 * test_cf_gateway.c - the Centrifugo-compatible endpoint /connection/websocket of real
 * pulse-gateway nodes with the unmodified `centrifuge` SDK 5.8.0 and `ws` in Node:
 * redis-server, three gateways (channel rules: hist.* with history, room.* with
 * presence and join/leave; a JWT secret) and HAProxy in front of them configured from
 * deploy/haproxy.cfg by loadtest/cluster.sh render, as test_cluster does. Then
 * tests/sdk/cf_gateway_check.js runs the SDK: connect with a token, subscribe,
 * pulse-publish and raw PUBLISH events, publish from the SDK, presence,
 * presence_stats, join/leave, history, refusals (RPC 108, pattern 102, owner rule
 * 103), a token refreshed before expiry, and recovery: its client behind HAProxy has
 * its node SIGKILLed (by the PID this test gives it), events are published, the SDK
 * reconnects by itself and reports recovered:true with exactly the missed
 * publications. Each check prints an ok / not ok line; the exit status counts the
 * failures. The nodes still alive must exit 0 at SIGTERM. About 15 s.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts_check.h"
#include "ts.h"
#include "ts_jwt.h"

#define N_NODES 3

static ts_stack stack;
static ts_proc haproxy;
static bool haproxy_started;
static int lb_port, stats_port;
static char conf_path[600], secret_path[700];
static const char secret[] = "centrifugo-secret-centrifugo-secret-0123";
static const char conf[] = "auth = { leeway_s = 0; };\n"
                           "channels = { rules = (\n"
                           "  { pattern = \"hist.*\"; history_size = 100; history_ttl_s = 600; },\n"
                           "  { pattern = \"room.*\"; presence = true; join_leave = true; }\n"
                           "); };\n";

/* HAProxy on lb_port, every node UP (its /healthz check) before it returns. */
static void start_haproxy(void)
{
    const char *bin = ts_haproxy_bin();
    ck_assert_msg(bin != NULL, "haproxy not installed (scripts/install-deps.sh installs it)");
    char cfg[1024], cmd[4096];
    snprintf(cfg, sizeof cfg, "%s/haproxy.cfg", stack.tmp);
    int n = snprintf(cmd, sizeof cmd, "bash '%s/loadtest/cluster.sh' render", PULSE_SOURCE_DIR);
    for (int i = 0; i < N_NODES; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --gateway %s=127.0.0.1:%d:%d", stack.gw[i].node_id,
                      stack.gw[i].port, stack.gw[i].admin_port);
    snprintf(cmd + n, sizeof cmd - (size_t)n, " > '%s' 2> '%s/render.err'", cfg, stack.tmp);
    ck_assert_msg(system(cmd) == 0, "cluster.sh render failed: %s", cmd);
    lb_port = ts_free_port();
    stats_port = ts_free_port();
    while (stats_port == lb_port)
        stats_port = ts_free_port();
    char bind[64], stats_bind[64], log[1024];
    snprintf(bind, sizeof bind, "PULSE_LB_BIND=127.0.0.1:%d", lb_port);
    snprintf(stats_bind, sizeof stats_bind, "PULSE_LB_STATS_BIND=127.0.0.1:%d", stats_port);
    char *env[] = {bind, stats_bind, NULL};
    char *argv[] = {(char *)bin, (char *)"-db", (char *)"-f", cfg, NULL};
    snprintf(log, sizeof log, "%s/haproxy.log", stack.tmp);
    ck_assert_int_eq(ts_proc_start(&haproxy, argv, env, log), 0);
    haproxy_started = true;
    /* every node UP: HAProxy's stats CSV lists it with status UP */
    static char body[65536];
    int up = 0;
    for (int64_t end = ts_now_ms() + 10000; ts_now_ms() < end && up < N_NODES; ts_sleep_ms(100)) {
        ck_assert_msg(ts_proc_wait(&haproxy, 0) == -1, "haproxy exited at start");
        up = 0;
        if (ts_http(stats_port, "GET", "/stats;csv", NULL, NULL, body, sizeof body) != 200)
            continue;
        char *save = NULL;
        for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            if (strncmp(line, "gateways,", 9) == 0 && strncmp(line, "gateways,BACKEND", 16) != 0 &&
                strncmp(line, "gateways,FRONTEND", 17) != 0 && strstr(line, ",UP,"))
                up++;
    }
    if (up < N_NODES)
        ts_proc_dump_log(&haproxy, "haproxy");
    ck_assert_msg(up == N_NODES, "HAProxy reports %d of %d gateways UP after 10 s", up, N_NODES);
}

static void setup(void)
{
    ck_assert_int_eq(ts_stack_setup(&stack), 0);
    haproxy_started = false;
    snprintf(conf_path, sizeof conf_path, "%s/cf.conf", stack.tmp);
    ck_assert_int_eq(tsj_write_file(conf_path, conf, strlen(conf)), 0);
    snprintf(secret_path, sizeof secret_path, "%s/jwt.secret", stack.tmp);
    ck_assert_int_eq(tsj_write_file(secret_path, secret, strlen(secret)), 0);
    const char *args[] = {"--config", conf_path, "--jwt-secret-file", secret_path, NULL};
    static const char *ids[N_NODES] = {"node-a", "node-b", "node-c"};
    for (int i = 0; i < N_NODES; i++)
        ck_assert_int_eq(ts_stack_start_gateway(&stack, ids[i], (char *const *)args), i);
}

static void teardown(void)
{
    if (haproxy_started)
        ts_proc_stop(&haproxy, 5000);
    ts_stack_teardown(&stack, -1);
}

START_TEST(test_sdk_against_gateways)
{
    char cmd[4096];
    ts_sdk_install();
    start_haproxy();
    int n = snprintf(cmd, sizeof cmd,
                     "timeout 100 node '%s/tests/sdk/cf_gateway_check.js'"
                     " --direct ws://127.0.0.1:%d/connection/websocket"
                     " --lb ws://127.0.0.1:%d/connection/websocket --secret-file '%s' --redis-port %d"
                     " --publish '%s/publisher/pulse-publish'",
                     PULSE_SOURCE_DIR, stack.gw[0].port, lb_port, secret_path, stack.redis.port, PULSE_BIN_DIR);
    /* the script kills the node its HAProxy client lands on (the direct clients are gone by then) */
    for (int i = 0; i < N_NODES; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " --node %s=%d", stack.gw[i].node_id, (int)stack.gw[i].proc.pid);
    int code = ts_run(cmd);
    if (code != 0)
        for (int i = 0; i < N_NODES; i++)
            ts_proc_dump_log(&stack.gw[i].proc, stack.gw[i].node_id);
    ck_assert_msg(code == 0, "cf_gateway_check.js exited %d: see its not ok lines above", code);
    /* the node the script killed is gone; the others drain and exit 0 */
    int killed = 0;
    for (int i = 0; i < N_NODES; i++) {
        if (ts_proc_wait(&stack.gw[i].proc, 0) != -1) {
            ts_gateway_stop(&stack.gw[i]);
            stack.gw_started[i] = false;
            killed++;
            continue;
        }
        ck_assert_int_eq(ts_stack_stop_gateway(&stack, i, 8000), 0);
    }
    ck_assert_int_eq(killed, 1);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_suite_fixed("cf_gateway", "sdk", 240, NULL, NULL, setup, teardown,
                          test_sdk_against_gateways);
}
