/*
 * test_prometheus.c - a live node as Prometheus sees it, with Debian's prometheus and
 * promtool (installed by scripts/install-deps.sh --test):
 *   - `promtool check metrics` finds no problem in GET /metrics of a gateway that has
 *     served a client (counters moved, histogram filled);
 *   - prometheus (loopback, free port, throwaway TSDB in the test's temp dir) scrapes
 *     that admin port with a configuration rendered from deploy/prometheus/prometheus.yml:
 *     the target turns "up" and a query returns the node's series
 *     (pulse_connections_active with its instance, pulse_deliveries_total > 0);
 *   - every query of deploy/grafana/pulse-dashboard.json (Grafana's $__rate_interval,
 *     $__range and $instance replaced by 1m, 5m and .*) is accepted by
 *     `promtool query instant` against that Prometheus, and the gauges' panels return
 *     the node's series.
 * One process per test; prometheus and the gateway are stopped by PID.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ts.h"

static ts_stack stack;
static ts_gateway *gw; /* the node Prometheus scrapes (a slot of stack) */
static ts_proc prom;
static bool prom_up;
static int prom_port;

/* Runs cmd through sh, output (stdout+stderr) into out; returns the exit status. */
static int sh(const char *cmd, char *out, size_t cap)
{
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    ck_assert_msg(p != NULL, "popen %s", cmd);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* GETs a Prometheus API path (already URL-encoded) into body; returns the status. */
static int prom_get(const char *path, char *body, size_t cap)
{
    return ts_http(prom_port, "GET", path, NULL, NULL, body, cap);
}

static void setup(void)
{
    gw = ts_fixture_gateway("prom-node", NULL);
    /* One client that gets one event: counters and the fan-out histogram move. */
    ts_ws w;
    ck_assert_int_eq(ts_ws_open(&w, gw->port, "events.critical", "prom-node", 5000), 0);
    char ev[512];
    ts_event_json(ev, sizeof ev, "PROM", 1, "critical", NULL);
    ck_assert_int_eq(ts_redis_publish(stack.redis.port, "events.critical", ev), 1);
    char *got = ts_ws_recv_until(&w, "\"PROM\"", 5000);
    ck_assert_msg(got != NULL, "the client never got the event");
    free(got);
    ts_ws_close(&w);

    /* prometheus.yml from deploy/, pointed at this node's admin port. */
    char cmd[4096], out[8192], cfg[600], data[600], web[64];
    prom_port = ts_free_port();
    snprintf(cfg, sizeof cfg, "%s/prometheus.yml", stack.tmp);
    snprintf(data, sizeof data, "%s/tsdb", stack.tmp);
    snprintf(cmd, sizeof cmd,
             "sed -e 's/\"127.0.0.1:9090\"/\"127.0.0.1:%d\"/' -e 's/5s$/1s/' "
             "'%s/deploy/prometheus/prometheus.yml' >'%s' && grep -q '127.0.0.1:%d' '%s'",
             gw->admin_port, PULSE_SOURCE_DIR, cfg, gw->admin_port, cfg);
    ck_assert_msg(sh(cmd, out, sizeof out) == 0, "rendering prometheus.yml: %s", out);
    snprintf(cmd, sizeof cmd, "promtool check config '%s'", cfg);
    ck_assert_msg(sh(cmd, out, sizeof out) == 0, "promtool check config: %s", out);
    snprintf(web, sizeof web, "--web.listen-address=127.0.0.1:%d", prom_port);
    char cfg_arg[640], data_arg[640];
    snprintf(cfg_arg, sizeof cfg_arg, "--config.file=%s", cfg);
    snprintf(data_arg, sizeof data_arg, "--storage.tsdb.path=%s", data);
    char *argv[] = {(char *)"/usr/bin/prometheus", cfg_arg, data_arg, web, (char *)"--log.level=warn", NULL};
    char log[640];
    snprintf(log, sizeof log, "%s/prometheus.log", stack.tmp);
    ck_assert_int_eq(ts_proc_start(&prom, argv, NULL, log), 0);
    prom_up = true;
    ck_assert_msg(ts_http_wait_status(prom_port, "/-/ready", 200, 30000) == 0,
                  "prometheus not ready on 127.0.0.1:%d", prom_port);
}

/* Before the stack's teardown (which stops the gateway and Redis). */
static void teardown(void)
{
    if (prom_up) {
        ts_proc_stop(&prom, 5000);
        prom_up = false;
    }
}

START_TEST(test_promtool_check_metrics)
{
    char cmd[256], out[8192];
    snprintf(cmd, sizeof cmd, "curl -fsS http://127.0.0.1:%d/metrics | promtool check metrics",
             gw->admin_port);
    int st = sh(cmd, out, sizeof out);
    ck_assert_msg(st == 0 && out[0] == '\0', "promtool check metrics: exit %d\n%s", st, out);
}
END_TEST

/* Waits until the query returns a result containing needle; the last body in body. */
static bool wait_query(const char *enc_query, const char *needle, char *body, size_t cap)
{
    char path[1024];
    snprintf(path, sizeof path, "/api/v1/query?query=%s", enc_query);
    for (int i = 0; i < 100; i++) {
        if (prom_get(path, body, cap) == 200 && strstr(body, needle) != NULL)
            return true;
        ts_sleep_ms(200);
    }
    return false;
}

START_TEST(test_scrape_and_query)
{
    char body[65536], want[128];
    snprintf(want, sizeof want, "\"instance\":\"127.0.0.1:%d\"", gw->admin_port);
    ck_assert_msg(wait_query("up%7Bjob%3D%22pulse%22%7D", "\"value\":[", body, sizeof body) &&
                      strstr(body, want) && strstr(body, "\"1\"]"),
                  "the scrape never succeeded (up != 1): %s", body);
    ck_assert_msg(wait_query("pulse_connections_active", want, body, sizeof body),
                  "no pulse_connections_active series of the node: %s", body);
    ck_assert_msg(wait_query("pulse_deliveries_total%7Bpriority%3D%22critical%22%7D%20%3E%200", want,
                             body, sizeof body),
                  "pulse_deliveries_total{priority=\"critical\"} of the node is not > 0: %s", body);
}
END_TEST

/* s with every occurrence of from replaced by to (malloc'd). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = strstr(s, from); p; p = strstr(p + fl, from))
        n++;
    char *r = malloc(strlen(s) + n * tl + 1), *o = r;
    ck_assert_ptr_nonnull(r);
    const char *q;
    while ((q = strstr(s, from)) != NULL) {
        memcpy(o, s, (size_t)(q - s));
        o += q - s;
        memcpy(o, to, tl);
        o += tl;
        s = q + fl;
    }
    strcpy(o, s);
    return r;
}

START_TEST(test_dashboard_queries)
{
    char path[600], body[65536], want[128];
    snprintf(want, sizeof want, "127.0.0.1:%d", gw->admin_port);
    /* Wait for a first scrape so the series exist. */
    ck_assert(wait_query("pulse_redis_connected", want, body, sizeof body));
    snprintf(path, sizeof path, "%s/deploy/grafana/pulse-dashboard.json", PULSE_SOURCE_DIR);
    json_error_t jerr;
    json_t *dash = json_load_file(path, 0, &jerr);
    ck_assert_msg(dash != NULL, "%s: line %d: %s", path, jerr.line, jerr.text);
    json_t *panels = json_object_get(dash, "panels");
    ck_assert_msg(json_array_size(panels) >= 8, "the dashboard has %zu panels", json_array_size(panels));
    size_t i, j, nq = 0, nseries = 0;
    json_t *panel, *target;
    char failures[8192] = "";
    size_t fl = 0;
    json_array_foreach(panels, i, panel) {
        json_array_foreach(json_object_get(panel, "targets"), j, target) {
            const char *expr = json_string_value(json_object_get(target, "expr"));
            ck_assert_msg(expr != NULL, "panel %zu target %zu has no expr", i, j);
            char *a = replace_all(expr, "$__rate_interval", "1m");
            char *b = replace_all(a, "$__range", "5m");
            char *q = replace_all(b, "$instance", ".*");
            free(a);
            free(b);
            ck_assert_msg(strchr(q, '\'') == NULL && strchr(q, '$') == NULL,
                          "unexpected character or variable in %s", expr);
            char cmd[4096], out[16384];
            snprintf(cmd, sizeof cmd, "promtool query instant -o json http://127.0.0.1:%d '%s'",
                     prom_port, q);
            int st = sh(cmd, out, sizeof out);
            nq++;
            if (st != 0 && fl < sizeof failures)
                fl += (size_t)snprintf(failures + fl, sizeof failures - fl, "\n  %s: exit %d %s", q,
                                       st, out);
            /* Plain gauges must return this node's series right away. */
            if (strncmp(q, "sum by (instance) (pulse_connections_active", 43) == 0 ||
                strncmp(q, "min by (instance) (pulse_redis_connected", 40) == 0 ||
                strncmp(q, "sum by (instance) (pulse_channels_active", 40) == 0) {
                if (strstr(out, want) != NULL)
                    nseries++;
                else if (fl < sizeof failures)
                    fl += (size_t)snprintf(failures + fl, sizeof failures - fl,
                                           "\n  %s: no series of %s: %s", q, want, out);
            }
            free(q);
        }
    }
    json_decref(dash);
    ck_assert_msg(failures[0] == '\0', "dashboard queries promtool refused:%s", failures);
    ck_assert_msg(nq >= 12 && nseries == 3, "%zu queries, %zu gauge panels with the node's series", nq,
                  nseries);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("prometheus", "prometheus", 90, &stack, TS_FIX_REDIS, 8000, setup,
                          teardown, test_promtool_check_metrics, test_scrape_and_query,
                          test_dashboard_queries);
}
