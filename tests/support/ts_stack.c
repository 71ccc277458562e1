/*
 * ts_stack.c - the setup and teardown the integration suites share: a temp dir, a
 * throwaway redis-server in it, and up to TS_STACK_GATEWAYS gateways on that Redis;
 * and the Check fixture (ts_stack_tcase) that brings a suite's stack up before each test
 * and down after it, asserting every gateway it started exited 0.
 *
 * Single-threaded. The stack belongs to the suite (a static there); the fixture only
 * keeps a pointer to it and its flags, one set per test process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ts.h"

int ts_stack_setup_dir(ts_stack *s)
{
    s->redis_up = false;
    for (int i = 0; i < TS_STACK_GATEWAYS; i++)
        s->gw_started[i] = false;
    s->tmp = ts_tmpdir();
    if (s->tmp == NULL) {
        fprintf(stderr, "ts_stack: ts_tmpdir() failed\n");
        return -1;
    }
    return 0;
}

char *ts_stack_path(const ts_stack *s, const char *name)
{
    static char p[8][700];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", s->tmp, name);
    return p[k];
}

int ts_stack_start_redis(ts_stack *s, int port)
{
    if (ts_redis_start(&s->redis, s->tmp, port) != 0) {
        fprintf(stderr, "ts_stack: redis-server did not start in %s (port %d)\n", s->tmp, port);
        return -1;
    }
    s->redis_up = true;
    return 0;
}

int ts_stack_setup(ts_stack *s)
{
    if (ts_stack_setup_dir(s) != 0)
        return -1;
    if (ts_stack_start_redis(s, 0) != 0) {
        ts_rmtree(s->tmp);
        free(s->tmp);
        s->tmp = NULL;
        return -1;
    }
    return 0;
}

int ts_stack_start_gateway(ts_stack *s, const char *node_id, char *const extra[])
{
    int i = 0;
    while (i < TS_STACK_GATEWAYS && s->gw_started[i])
        i++;
    if (i == TS_STACK_GATEWAYS) {
        fprintf(stderr, "ts_stack: no free gateway slot for %s (%d started)\n", node_id, i);
        return -1;
    }
    if (ts_gateway_start(&s->gw[i], s->tmp, s->redis.port, node_id, extra) != 0) {
        fprintf(stderr, "ts_stack: gateway %s did not start\n", node_id);
        return -1;
    }
    s->gw_started[i] = true;
    return i;
}

int ts_stack_stop_gateway(ts_stack *s, int i, int timeout_ms)
{
    int st = ts_gateway_shutdown(&s->gw[i], timeout_ms);
    s->gw_started[i] = false;
    return st;
}

/* Shuts down every gateway still marked started; *bad (when not NULL) gets the slot of
 * the first one whose status was not 0. Returns that status, or 0. */
static int shutdown_gateways(ts_stack *s, int timeout_ms, int *bad)
{
    int first = 0;
    for (int i = 0; i < TS_STACK_GATEWAYS; i++) {
        if (!s->gw_started[i])
            continue;
        int st = 0;
        if (timeout_ms < 0)
            ts_gateway_stop(&s->gw[i]);
        else
            st = ts_gateway_shutdown(&s->gw[i], timeout_ms);
        s->gw_started[i] = false;
        if (st != 0 && first == 0) {
            first = st;
            if (bad != NULL)
                *bad = i;
        }
    }
    return first;
}

static int stack_teardown(ts_stack *s, int timeout_ms, int *bad)
{
    int st = shutdown_gateways(s, timeout_ms, bad);
    if (s->redis_up) {
        ts_redis_stop(&s->redis);
        s->redis_up = false;
    }
    if (s->tmp != NULL) {
        ts_rmtree(s->tmp);
        free(s->tmp);
        s->tmp = NULL;
    }
    return st;
}

int ts_stack_teardown(ts_stack *s, int timeout_ms)
{
    return stack_teardown(s, timeout_ms, NULL);
}

/* ---- the Check fixture ---- */
static ts_stack *fix_stack;
static int fix_flags;
static int fix_shutdown_ms;

static void fixture_setup(void)
{
    ck_assert_msg(fix_stack != NULL, "ts_stack_tcase: no stack");
    if (fix_flags & TS_FIX_REDIS)
        ck_assert_int_eq(ts_stack_setup(fix_stack), 0);
    else
        ck_assert_int_eq(ts_stack_setup_dir(fix_stack), 0);
}

static void fixture_teardown(void)
{
    int ms = (fix_flags & TS_FIX_EXIT_UNCHECKED) ? -1 : fix_shutdown_ms;
    int bad = 0;
    int st = stack_teardown(fix_stack, ms, &bad); /* everything is down before we assert */
    ck_assert_msg(st == 0, "gateway %s: exit status %d after SIGTERM at teardown (want 0)",
                  fix_stack->gw[bad].node_id, st);
}

TCase *ts_stack_tcase(Suite *s, const char *name, int timeout_s, ts_stack *st, int flags,
                      int shutdown_ms)
{
    TCase *tc = ts_tcase(s, name, timeout_s);
    fix_stack = st;
    fix_flags = flags;
    fix_shutdown_ms = shutdown_ms;
    tcase_add_unchecked_fixture(tc, ts_suite_setup, ts_suite_teardown);
    tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
    return tc;
}

Suite *ts__stack_suite(const char *name, const char *tcase, int timeout_s, ts_stack *st, int flags,
                       int shutdown_ms, SFun setup, SFun teardown, const TTest *const tests[])
{
    Suite *s = suite_create(name);
    TCase *tc = ts_stack_tcase(s, tcase, timeout_s, st, flags, shutdown_ms);
    if (setup != NULL || teardown != NULL)
        tcase_add_checked_fixture(tc, setup, teardown);
    ts__add_tests(tc, tests);
    return s;
}

ts_gateway *ts_fixture_gateway(const char *node_id, char *const extra[])
{
    ck_assert_msg(fix_stack != NULL, "ts_stack_tcase: no stack");
    int i = ts_stack_start_gateway(fix_stack, node_id, extra);
    ck_assert_msg(i >= 0, "gateway %s did not start", node_id);
    return &fix_stack->gw[i];
}

int ts_run(const char *cmd)
{
    int st = system(cmd);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void ts_assert_png(const char *path, const char *who)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: no screenshot at %s", who, path);
    unsigned char sig[8] = {0};
    size_t n = fread(sig, 1, sizeof sig, f);
    fclose(f);
    ck_assert_msg(n == 8 && memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0, "%s: %s is not a PNG", who, path);
    printf("%s: screenshot: %s\n", who, path);
}

void ts_sdk_install(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "timeout 120 sh '%s/tests/sdk/install.sh'", PULSE_SOURCE_DIR);
    int code = ts_run(cmd);
    ck_assert_msg(code == 0, "tests/sdk/install.sh exited %d (node/npm missing? scripts/install-deps.sh --test)", code);
}

void ts_artifact(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/tests/artifacts/%s", PULSE_BIN_DIR, name);
    remove(out);
}

const char *ts_haproxy_bin(void)
{
    static const char *cands[] = {"/usr/sbin/haproxy", "/usr/bin/haproxy", "/usr/local/sbin/haproxy",
                                  "/usr/local/bin/haproxy"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++)
        if (access(cands[i], X_OK) == 0)
            return cands[i];
    return NULL;
}

int ts_argv_append(const char **argv, int n, int cap, const char *const extra[])
{
    for (int i = 0; extra && extra[i]; i++) {
        ck_assert_msg(n < cap - 1, "ts_argv_append: more than %d arguments", cap - 1);
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    return n;
}
