/*
 * test_cli.c - the real binaries' command lines. pulse-gateway: --help/--version exit
 * 0; a bad value (flag, PULSE_* variable or file key) exits 2 quickly with one line
 * naming the key; file < environment < flags precedence, seen through the node id on
 * the ready line. All four programs behave alike: -h and --help print the same layout
 * (Usage, Options with defaults in brackets, Exit status) and exit 0, --version prints
 * "PROG VERSION", an unknown option is one line "PROG: ... (see --help)" and exit 2.
 * The tools take their Redis, URL and key settings from the gateway's PULSE_*
 * variables (PULSE_REDIS, PULSE_ADMIN_API_KEY, PULSE_PORT, plus PULSE_URL and
 * PULSE_TOKEN), a flag winning over the variable; pulse-publish's summary gives the
 * last offset through FCALL and, with --raw, counts redis_deliveries (nodes times
 * events), checked against a real gateway and Redis.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts_check.h"
#include "ts.h"

static ts_stack stack; /* its temp dir only (stack.tmp) */

/* Copies the file at log (a process's output) into out, "" when it is missing. */
static void read_log(const char *log, char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen(log, "r");
    if (f != NULL) {
        size_t r = fread(out, 1, cap - 1, f);
        out[r] = '\0';
        fclose(f);
    }
}

/* Runs the gateway with args (after argv[0]) and env; returns its exit status
 * (waiting up to 5 s) and leaves its output in out. Unless the case is about the
 * environment's port, "--port 0 --admin-port 0 --redis redis://127.0.0.1:1" go first,
 * so a case that wrongly starts never takes a fixed port (later flags override). */
static int run(char *const args[], char *const env[], char *out, size_t cap)
{
    bool env_port = env != NULL && env[0] != NULL && strncmp(env[0], "PULSE_PORT=", 11) == 0;
    static int seq;
    char log[600];
    snprintf(log, sizeof log, "%s/run-%d.log", stack.tmp, ++seq);
    char *argv[32];
    int n = 0;
    argv[n++] = ts_bin("pulse-gateway");
    if (!env_port) {
        argv[n++] = (char *)"--port";
        argv[n++] = (char *)"0";
        argv[n++] = (char *)"--admin-port";
        argv[n++] = (char *)"0";
        argv[n++] = (char *)"--redis";
        argv[n++] = (char *)"redis://127.0.0.1:1";
    } else {
        argv[n++] = (char *)"--admin-port";
        argv[n++] = (char *)"0";
    }
    for (int i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    ts_proc p;
    ck_assert_int_eq(ts_proc_start(&p, argv, env, log), 0);
    free(argv[0]);
    int st = ts_proc_wait(&p, 5000);
    if (st < 0)
        ts_proc_dump_log(&p, "pulse-gateway still running after 5 s");
    ts_proc_stop(&p, 1000);
    read_log(log, out, cap);
    return st;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

START_TEST(test_help_and_version)
{
    char out[16384];
    char *help[] = {(char *)"--help", NULL};
    ck_assert_int_eq(run(help, NULL, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "--port") != NULL && strstr(out, "--redis") != NULL &&
                      strstr(out, "--node-id") != NULL,
                  "--help output lacks the main flags:\n%s", out);
    char *version[] = {(char *)"--version", NULL};
    ck_assert_int_eq(run(version, NULL, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "0.") != NULL || strstr(out, "1.") != NULL, "--version: %s", out);
}
END_TEST

typedef struct {
    const char *args[4];
    const char *env;
    const char *key; /* the error line must name this */
} bad_case;

START_TEST(test_bad_values_exit_2)
{
    static const bad_case cases[] = {
        {{"--port", "99999", NULL}, NULL, "port"},
        {{"--port", "abc", NULL}, NULL, "port"},
        {{"--admin-port", "-1", NULL}, NULL, "admin"},
        {{"--redis", "http://x", NULL}, NULL, "redis"},
        {{"--redis", "redis://127.0.0.1:70000", NULL}, NULL, "redis"},
        {{"--workers", "0", NULL}, NULL, "workers"},
        {{"--log-level", "loud", NULL}, NULL, "log"},
        {{"--limits.max-subscriptions", "x", NULL}, NULL, "max"},
        {{"--limits.queue-hard-messages", "1", "--limits.queue-max-messages", "10"}, NULL, "queue"},
        {{"--no-such-flag", "1", NULL}, NULL, "no-such-flag"},
        {{"--node-id", "bad id", NULL}, NULL, "node"},
        {{NULL}, "PULSE_PORT=70000", "PULSE_PORT"},
        {{NULL}, "PULSE_LOG_LEVEL=loud", "PULSE_LOG_LEVEL"},
    };
    char out[16384];
    char failures[8192] = "";
    size_t fl = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *args[8];
        int n = 0;
        for (int j = 0; j < 4 && cases[i].args[j] != NULL; j++)
            args[n++] = (char *)cases[i].args[j];
        args[n] = NULL;
        char envbuf[128];
        char *env[2] = {NULL, NULL};
        if (cases[i].env != NULL) {
            snprintf(envbuf, sizeof envbuf, "%s", cases[i].env);
            env[0] = envbuf;
        }
        int64_t t0 = ts_now_ms();
        int st = run(args, env, out, sizeof out);
        int64_t took = ts_now_ms() - t0;
        if (st != 2 || strstr(out, cases[i].key) == NULL || count_lines(out) != 1 || took > 2000)
            fl += (size_t)snprintf(failures + fl, sizeof failures - fl,
                                   "\n  %s %s %s%s: exit %d after %lld ms, output: %s",
                                   cases[i].args[0] ? cases[i].args[0] : "",
                                   cases[i].args[1] ? cases[i].args[1] : "",
                                   cases[i].env ? "env " : "", cases[i].env ? cases[i].env : "",
                                   st, (long long)took, out);
        if (fl >= sizeof failures)
            break;
    }
    ck_assert_msg(failures[0] == '\0',
                  "want exit 2 within 2 s and one line naming the key:%s", failures);
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Starts the gateway with --config file and the given extra args/env, returns the
 * node= value of its ready line in node (stops it again). */
static void ready_node(const char *conf, int redis_port, const char *flag_node, char *const env[],
                       char *node, size_t cap)
{
    static int seq;
    char log[600];
    snprintf(log, sizeof log, "%s/prec-%d.log", stack.tmp, ++seq);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", redis_port);
    char *bin = ts_bin("pulse-gateway");
    char *argv[16] = {bin, (char *)"--config", (char *)conf, (char *)"--port", (char *)"0",
                      (char *)"--admin-port", (char *)"0", (char *)"--redis", url, NULL};
    if (flag_node != NULL) {
        argv[9] = (char *)"--node-id";
        argv[10] = (char *)flag_node;
        argv[11] = NULL;
    }
    ts_proc p;
    ck_assert_int_eq(ts_proc_start(&p, argv, env, log), 0);
    free(bin);
    char line[512];
    int rc = ts_proc_wait_line(&p, "pulse-gateway ready node=", line, sizeof line, 10000);
    if (rc != 0)
        ts_proc_dump_log(&p, "pulse-gateway");
    ck_assert_msg(rc == 0, "no ready line with --config %s", conf);
    ts_proc_signal(&p, SIGTERM);
    int st = ts_proc_wait(&p, 8000);
    ts_proc_stop(&p, 1000);
    ck_assert_msg(st == 0, "exit status %d after SIGTERM", st);
    const char *v = strstr(line, "node=") + 5;
    size_t n = strcspn(v, " ");
    snprintf(node, cap, "%.*s", (int)n, v);
}

START_TEST(test_file_env_flag_precedence)
{
    ts_redis redis;
    ck_assert_int_eq(ts_redis_start(&redis, stack.tmp, 0), 0);
    char conf[600];
    snprintf(conf, sizeof conf, "%s/pulse.conf", stack.tmp);
    write_file(conf, "# test\nnode_id = \"file-node\";\nport = 8080;\nlimits = {\n"
                     "    drain_timeout_ms = 1000;\n};\n");
    char node[128];
    ready_node(conf, redis.port, NULL, NULL, node, sizeof node);
    ck_assert_str_eq(node, "file-node");
    char *env[] = {(char *)"PULSE_NODE_ID=env-node", NULL};
    ready_node(conf, redis.port, NULL, env, node, sizeof node);
    ck_assert_str_eq(node, "env-node");
    ready_node(conf, redis.port, "flag-node", env, node, sizeof node);
    ck_assert_str_eq(node, "flag-node");

    /* A bad file: unknown key and wrong type, each named with its line. */
    char out[16384];
    write_file(conf, "node_id = \"x\";\nlimits = {\n  no_such_key = 1;\n};\n");
    char *args[] = {(char *)"--config", conf, NULL};
    int st = run(args, NULL, out, sizeof out);
    ck_assert_msg(st == 2 && strstr(out, "no_such_key") != NULL && strstr(out, "3") != NULL,
                  "unknown key in file: exit %d, output %s", st, out);
    write_file(conf, "port = \"eighty\";\n");
    st = run(args, NULL, out, sizeof out);
    ck_assert_msg(st == 2 && strstr(out, "port") != NULL, "wrong type in file: exit %d, output %s",
                  st, out);
    write_file(conf, "port = = 80;\n");
    st = run(args, NULL, out, sizeof out);
    ck_assert_msg(st == 2 && count_lines(out) == 1, "syntax error in file: exit %d, output %s", st,
                  out);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/nope.conf", stack.tmp);
    char *args2[] = {(char *)"--config", missing, NULL};
    st = run(args2, NULL, out, sizeof out);
    ck_assert_msg(st == 2 && strstr(out, "nope.conf") != NULL, "missing file: exit %d, output %s",
                  st, out);
    ts_redis_stop(&redis);
}
END_TEST

static const char *const tools[] = {"pulse-gateway", "pulse-publish", "pulse-subscribe",
                                    "pulse-report"};

/* Runs a program (argv[0] a name under the build dir) with extra env, waits up to
 * timeout_ms, copies its output into out; returns its exit status (-1: timed out). */
static int run_prog(const char *const args[], char *const env[], char *out, size_t cap,
                    int timeout_ms)
{
    static int seq;
    char log[600];
    char *argv[32];
    int n = 0;

    snprintf(log, sizeof log, "%s/prog-%d.log", stack.tmp, ++seq);
    argv[n++] = ts_bin(args[0]);
    for (int i = 1; args[i] != NULL && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    ts_proc p;
    ck_assert_int_eq(ts_proc_start(&p, argv, env, log), 0);
    free(argv[0]);
    int st = ts_proc_wait(&p, timeout_ms);
    ts_proc_stop(&p, 1000);
    read_log(log, out, cap);
    return st;
}

START_TEST(test_tools_alike)
{
    char out[16384], want[128];
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        const char *t = tools[i];
        for (int form = 0; form < 2; form++) {
            const char *args[] = {t, form ? "--help" : "-h", NULL};
            int st = run_prog(args, NULL, out, sizeof out, 5000);
            snprintf(want, sizeof want, "Usage: %s ", t);
            ck_assert_msg(st == 0 && strncmp(out, want, strlen(want)) == 0 &&
                              strstr(out, "\nOptions (default in brackets):\n"
                                          "  -h, --help                   show this text and exit\n"
                                          "      --version                print the version and exit\n") &&
                              strstr(out, "\nExit status: 0 ") && strstr(out, ", 2 bad usage"),
                          "%s %s: exit %d, not the common layout:\n%s", t, args[1], st, out);
        }
        const char *ver[] = {t, "--version", NULL};
        int st = run_prog(ver, NULL, out, sizeof out, 5000);
        snprintf(want, sizeof want, "%s %s\n", t, PULSE_VERSION);
        ck_assert_msg(st == 0 && strcmp(out, want) == 0, "%s --version: exit %d, '%s' (want '%s')",
                      t, st, out, want);
        const char *bad[] = {t, "--no-such-option", NULL};
        st = run_prog(bad, NULL, out, sizeof out, 5000);
        snprintf(want, sizeof want, "%s: ", t);
        ck_assert_msg(st == 2 && strncmp(out, want, strlen(want)) == 0 && count_lines(out) == 1 &&
                          strstr(out, "'--no-such-option'") && strstr(out, "(see --help)\n"),
                      "%s --no-such-option: exit %d, output %s", t, st, out);
    }
}
END_TEST

/* The number after key= in s, or -1. */
static long long field(const char *s, const char *key)
{
    const char *p = strstr(s, key);
    return p ? atoll(p + strlen(key)) : -1;
}

START_TEST(test_tools_take_gateway_env)
{
    ts_redis redis;
    ts_gateway gw;
    char out[16384], env_redis[64], env_dead[64], flag_redis[64], env_port[32], env_url[96],
        keyfile[600], http[96];
    ck_assert_int_eq(ts_redis_start(&redis, stack.tmp, 0), 0);
    snprintf(keyfile, sizeof keyfile, "%s/admin.key", stack.tmp);
    write_file(keyfile, "s3cret-admin-key\n");
    char *gw_args[] = {(char *)"--channel", (char *)"events.critical", (char *)"--admin.api-key-file",
                       keyfile, NULL};
    ck_assert_int_eq(ts_gateway_start(&gw, stack.tmp, redis.port, "gw-env", gw_args), 0);
    snprintf(env_redis, sizeof env_redis, "PULSE_REDIS=redis://127.0.0.1:%d", redis.port);
    snprintf(env_dead, sizeof env_dead, "PULSE_REDIS=redis://127.0.0.1:%d", ts_free_port());
    snprintf(flag_redis, sizeof flag_redis, "redis://127.0.0.1:%d", redis.port);
    snprintf(env_port, sizeof env_port, "PULSE_PORT=%d", gw.port);
    snprintf(env_url, sizeof env_url, "PULSE_URL=ws://127.0.0.1:%d/ws", gw.port);
    snprintf(http, sizeof http, "http://127.0.0.1:%d/publish", gw.admin_port);

    /* The README's publish example, typed as is, with the gateway's PULSE_REDIS. */
    char *env1[] = {env_redis, NULL};
    const char *pub[] = {"pulse-publish", "--type", "SERVER_DOWN", "--count", "10", NULL};
    int st = run_prog(pub, env1, out, sizeof out, 10000);
    ck_assert_msg(st == 0 && field(out, "sent=") == 10 && strstr(out, "via=fcall") &&
                      field(out, "last_offset=") == 10,
                  "PULSE_REDIS: exit %d, %s (want sent=10 via=fcall last_offset=10: events.critical "
                  "keeps history)", st, out);
    /* --raw: plain PUBLISH, the summary counts redis_deliveries (nodes times events). */
    const char *pub_raw[] = {"pulse-publish", "--raw", "--count", "10", NULL};
    st = run_prog(pub_raw, env1, out, sizeof out, 10000);
    ck_assert_msg(st == 0 && field(out, "sent=") == 10 && field(out, "redis_deliveries=") == 10 &&
                      strstr(out, "receivers=") == NULL,
                  "--raw: exit %d, %s (want sent=10 redis_deliveries=10: one node)", st, out);
    /* The flag wins over the variable, both ways. */
    char *env2[] = {env_dead, NULL};
    const char *pub_flag[] = {"pulse-publish", "--count", "2", "--redis", flag_redis, NULL};
    st = run_prog(pub_flag, env2, out, sizeof out, 10000);
    ck_assert_msg(st == 0 && field(out, "sent=") == 2, "--redis over PULSE_REDIS: exit %d, %s", st,
                  out);
    const char *pub_dead[] = {"pulse-publish", "--count", "2", "--redis",
                              env_dead + strlen("PULSE_REDIS="), NULL};
    st = run_prog(pub_dead, env1, out, sizeof out, 10000);
    ck_assert_msg(st == 1 && strstr(out, "cannot connect to Redis"),
                  "--redis (dead) over PULSE_REDIS (live): exit %d, %s", st, out);

    /* The admin key: PULSE_ADMIN_API_KEY, and --api-key over it. */
    char env_key[] = "PULSE_ADMIN_API_KEY=s3cret-admin-key";
    char *env3[] = {env_key, NULL};
    const char *pub_http[] = {"pulse-publish", "--http", http, "--count", "3", NULL};
    st = run_prog(pub_http, env3, out, sizeof out, 10000);
    ck_assert_msg(st == 0 && field(out, "sent=") == 3 && strstr(out, "via=http"),
                  "PULSE_ADMIN_API_KEY: exit %d, %s", st, out);
    const char *pub_badkey[] = {"pulse-publish", "--http", http, "--count", "1", "--api-key",
                                "wrong", NULL};
    st = run_prog(pub_badkey, env3, out, sizeof out, 10000);
    ck_assert_msg(st == 1 && field(out, "failed=") == 1 && strstr(out, "answered 401"),
                  "--api-key (wrong) over PULSE_ADMIN_API_KEY: exit %d, %s", st, out);

    /* pulse-subscribe finds the gateway through PULSE_PORT, then PULSE_URL (which wins
     * over PULSE_PORT), and --url wins over both. */
    char dead_port[32];
    snprintf(dead_port, sizeof dead_port, "PULSE_PORT=%d", ts_free_port());
    char *sub_envs[3][3] = {{env_port, NULL, NULL}, {dead_port, env_url, NULL}, {dead_port, NULL, NULL}};
    for (int k = 0; k < 3; k++) {
        char dir[600], log[600], url[96];
        snprintf(dir, sizeof dir, "%s/sub-%d", stack.tmp, k);
        snprintf(log, sizeof log, "%s/sub-%d.log", stack.tmp, k);
        snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws", gw.port);
        char *bin = ts_bin("pulse-subscribe");
        char *argv[] = {bin, (char *)"--out", dir, (char *)"--expect", (char *)"4",
                        (char *)"--duration", (char *)"20", k == 2 ? (char *)"--url" : NULL, url, NULL};
        ts_proc sub;
        ck_assert_int_eq(ts_proc_start(&sub, argv, sub_envs[k], log), 0);
        free(bin);
        int rc = ts_proc_wait_line(&sub, "pulse-subscribe ready clients=1", NULL, 0, 10000);
        if (rc != 0)
            ts_proc_dump_log(&sub, "pulse-subscribe");
        ck_assert_msg(rc == 0, "pulse-subscribe (case %d) never got ready", k);
        const char *pub4[] = {"pulse-publish", "--count", "4", NULL};
        st = run_prog(pub4, env1, out, sizeof out, 10000);
        ck_assert_msg(st == 0, "publish for the subscriber: exit %d, %s", st, out);
        st = ts_proc_wait(&sub, 10000);
        if (st != 0)
            ts_proc_dump_log(&sub, "pulse-subscribe");
        ts_proc_stop(&sub, 1000);
        ck_assert_msg(st == 0, "pulse-subscribe (case %d): exit %d", k, st);
    }
    /* A bad PULSE_TOKEN is a usage error naming the variable; --token wins over it. */
    char bad_token[] = "PULSE_TOKEN=not a token";
    char *env4[] = {env_port, bad_token, NULL};
    const char *sub_bad[] = {"pulse-subscribe", "--out", stack.tmp, "--duration", "1", NULL};
    st = run_prog(sub_bad, env4, out, sizeof out, 5000);
    ck_assert_msg(st == 2 && strstr(out, "PULSE_TOKEN") && count_lines(out) == 1,
                  "bad PULSE_TOKEN: exit %d, %s", st, out);

    ck_assert_int_eq(ts_gateway_shutdown(&gw, 8000), 0);
    ts_redis_stop(&redis);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("cli", "cli", 60, &stack, TS_FIX_DIR, 0, NULL, NULL,
                          test_help_and_version, test_bad_values_exit_2,
                          test_file_env_flag_precedence, test_tools_alike,
                          test_tools_take_gateway_env);
}
