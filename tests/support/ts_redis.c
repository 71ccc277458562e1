/*
 * ts_redis.c - a throwaway redis-server per test (free loopback port, no persistence,
 * its own directory) and a synchronous hiredis client for test assertions
 * (PUBSUB CHANNELS, PUBLISH, ...). Also the gateway launcher, which needs the Redis URL.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "pulse_event.h"
#include "pulse_uuid.h"
#include "pulse_clock.h"
#include "ts.h"
#include "ts_internal.h"

#define TS_REDIS_SERVER "/usr/bin/redis-server"

/* First of base.log, base-2.log, ... that does not exist yet, so a restarted process
 * gets a fresh log and an old ready line is never mistaken for a new one. */
static void fresh_log_path(char *out, size_t cap, const char *dir, const char *base)
{
    snprintf(out, cap, "%s/%s.log", dir, base);
    struct stat st;
    for (int i = 2; i < 1000 && stat(out, &st) == 0; i++)
        snprintf(out, cap, "%s/%s-%d.log", dir, base, i);
}

static redisContext *connect_sync(int port, int timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == NULL)
        return NULL;
    if (c->err) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

static bool redis_pings(int port)
{
    redisContext *c = connect_sync(port, 200);
    if (c == NULL)
        return false;
    redisReply *r = redisCommand(c, "PING");
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r != NULL)
        freeReplyObject(r);
    redisFree(c);
    return ok;
}

int ts_redis_start(ts_redis *r, const char *dir, int port)
{
    memset(r, 0, sizeof *r);
    r->proc.pid = -1;
    r->proc.status = -1;
    if (port == 0)
        port = ts_free_port();
    if (port <= 0)
        return -1;
    r->port = port;
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    char log[512];
    char base[64];
    snprintf(base, sizeof base, "redis-%d", port);
    fresh_log_path(log, sizeof log, dir, base);
    char *argv[] = {(char *)TS_REDIS_SERVER, (char *)"--port", portstr, (char *)"--bind",
                    (char *)"127.0.0.1", (char *)"--save", (char *)"", (char *)"--appendonly",
                    (char *)"no", (char *)"--dir", (char *)dir, (char *)"--logfile", (char *)"",
                    (char *)"--daemonize", (char *)"no", NULL};
    if (ts_proc_start(&r->proc, argv, NULL, log) != 0)
        return -1;
    int64_t deadline = ts_now_ms() + 5000;
    while (ts_now_ms() < deadline) {
        if (redis_pings(port))
            return 0;
        if (ts_proc_wait(&r->proc, 0) >= 0)
            break;
        ts_sleep_ms(20);
    }
    fprintf(stderr, "ts_redis_start: redis-server on port %d did not answer PING\n", port);
    ts_proc_dump_log(&r->proc, "redis-server");
    ts_proc_stop(&r->proc, 1000);
    return -1;
}

void ts_redis_stop(ts_redis *r)
{
    ts_proc_stop(&r->proc, 3000);
}

static void append(char *out, size_t cap, size_t *off, const char *s, size_t n)
{
    if (cap == 0)
        return;
    size_t room = cap - 1 - *off;
    if (n > room)
        n = room;
    memcpy(out + *off, s, n);
    *off += n;
    out[*off] = '\0';
}

static void flatten(const redisReply *r, char *out, size_t cap, size_t *off)
{
    char num[32];
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        append(out, cap, off, r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER:
        snprintf(num, sizeof num, "%lld", (long long)r->integer);
        append(out, cap, off, num, strlen(num));
        break;
    case REDIS_REPLY_ARRAY:
        for (size_t i = 0; i < r->elements; i++) {
            if (i > 0)
                append(out, cap, off, "\n", 1);
            flatten(r->element[i], out, cap, off);
        }
        break;
    default: /* nil */
        break;
    }
}

int ts_redis_cmd(int port, char *out, size_t cap, int argc, const char *const argv[])
{
    if (out != NULL && cap > 0)
        out[0] = '\0';
    redisContext *c = connect_sync(port, 1000);
    if (c == NULL)
        return -1;
    redisReply *r = redisCommandArgv(c, argc, (const char **)argv, NULL);
    int rc = -1;
    if (r != NULL) {
        size_t off = 0;
        if (out != NULL && cap > 0)
            flatten(r, out, cap, &off);
        freeReplyObject(r);
        rc = 0;
    }
    redisFree(c);
    return rc;
}

long ts_redis_publish(int port, const char *channel, const char *payload)
{
    redisContext *c = connect_sync(port, 1000);
    if (c == NULL)
        return -1;
    const char *argv[] = {"PUBLISH", channel, payload};
    size_t lens[] = {7, strlen(channel), strlen(payload)};
    redisReply *r = redisCommandArgv(c, 3, argv, lens);
    long n = -1;
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        n = (long)r->integer;
    if (r != NULL)
        freeReplyObject(r);
    redisFree(c);
    return n;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    const char *p = text;
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (len == n && memcmp(p, line, n) == 0)
            return true;
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    return false;
}

int ts_redis_wait_line(int port, const char *line, bool present, int timeout_ms, int argc,
                       const char *const argv[])
{
    int64_t deadline = ts_now_ms() + timeout_ms;
    char out[8192];
    for (;;) {
        if (ts_redis_cmd(port, out, sizeof out, argc, argv) == 0 &&
            has_line(out, line) == present)
            return 0;
        if (ts_now_ms() >= deadline)
            return -1;
        ts_sleep_ms(20);
    }
}

int ts_event_json(char *buf, size_t cap, const char *event_type, uint64_t sequence,
                  const char *priority, const char *data_json)
{
    pulse_event ev;
    memset(&ev, 0, sizeof ev);
    pulse_uuid4(ev.event_id);
    snprintf(ev.event_type, sizeof ev.event_type, "%s", event_type);
    snprintf(ev.source, sizeof ev.source, "%s", "pulse-tests");
    ev.sequence = sequence;
    ev.published_at_us = pulse_now_us();
    ev.priority = PULSE_PRIO_UNSET;
    if (priority != NULL)
        ev.priority = pulse_priority_parse(priority, strlen(priority));
    return pulse_event_format(&ev, data_json, buf, cap);
}

/* ---- the gateway ---- */

int ts_gateway_start(ts_gateway *g, const char *dir, int redis_port, const char *node_id,
                     char *const extra_args[])
{
    memset(g, 0, sizeof *g);
    g->proc.pid = -1;
    g->proc.status = -1;
    snprintf(g->node_id, sizeof g->node_id, "%s", node_id);
    char *bin = ts_bin("pulse-gateway");
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", redis_port);
    char *argv[64];
    int n = 0;
    const char *wrap = getenv("TS_GATEWAY_WRAP"); /* a program that runs the gateway (ts_no_uring) */
    if (wrap != NULL && wrap[0] != '\0')
        argv[n++] = (char *)wrap;
    argv[n++] = bin;
    argv[n++] = (char *)"--port";
    argv[n++] = (char *)"0";
    argv[n++] = (char *)"--admin-port";
    argv[n++] = (char *)"0";
    argv[n++] = (char *)"--redis";
    argv[n++] = url;
    argv[n++] = (char *)"--node-id";
    argv[n++] = (char *)node_id;
    for (int i = 0; extra_args != NULL && extra_args[i] != NULL && n < 63; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;
    char log[512];
    char base[96];
    snprintf(base, sizeof base, "gateway-%s", node_id);
    fresh_log_path(log, sizeof log, dir, base);
    int rc = ts_proc_start(&g->proc, argv, NULL, log);
    free(bin);
    if (rc != 0)
        return -1;
    char line[512];
    if (ts_proc_wait_line(&g->proc, "pulse-gateway ready node=", line, sizeof line, 10000) != 0) {
        int st = ts_proc_wait(&g->proc, 0);
        if (st >= 0)
            fprintf(stderr, "ts_gateway_start: node %s exited with status %d before its ready line\n",
                    node_id, st);
        else
            fprintf(stderr, "ts_gateway_start: no ready line from node %s within 10 s\n", node_id);
        ts_proc_dump_log(&g->proc, "pulse-gateway");
        ts_proc_stop(&g->proc, 2000);
        return -1;
    }
    const char *p = strstr(line, " port=");
    const char *a = strstr(line, " admin_port=");
    if (p == NULL || a == NULL) {
        fprintf(stderr, "ts_gateway_start: cannot parse ready line: %s\n", line);
        ts_proc_stop(&g->proc, 2000);
        return -1;
    }
    g->port = (int)strtol(p + 6, NULL, 10);
    g->admin_port = (int)strtol(a + 12, NULL, 10);
    if (g->port <= 0 || g->admin_port <= 0) {
        fprintf(stderr, "ts_gateway_start: bad ports in ready line: %s\n", line);
        ts_proc_stop(&g->proc, 2000);
        return -1;
    }
    return 0;
}

void ts_gateway_stop(ts_gateway *g)
{
    ts_proc_stop(&g->proc, 5000);
}

int ts_gateway_shutdown(ts_gateway *g, int timeout_ms)
{
    ts_proc_signal(&g->proc, SIGTERM);
    int st = ts_proc_wait(&g->proc, timeout_ms);
    ts_gateway_stop(g);
    if (st != 0)
        ts_proc_dump_log(&g->proc, "gateway (bad exit at teardown)");
    return st;
}

struct redisReply *ts_redis_argv(int port, int argc, const char **argv)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == NULL || c->err) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    redisFree(c);
    return r;
}

int ts_rcluster_script(const char *verb, const char *dir)
{
    char cmd[1500];
    bool start = strcmp(verb, "start") == 0;
    snprintf(cmd, sizeof cmd, "bash '%s/loadtest/redis_cluster.sh' %s %s '%s' %s", PULSE_SOURCE_DIR, verb,
             start ? "3" : "", dir, start ? "1500" : "");
    int st = system(cmd);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void ts_rcluster_up(ts_rcluster *c)
{
    c->tmp = ts_tmpdir();
    ck_assert_ptr_nonnull(c->tmp);
    snprintf(c->dir, sizeof c->dir, "%s/rc", c->tmp);
    int64_t t0 = ts_now_ms();
    int rc = ts_rcluster_script("start", c->dir);
    if (rc != 0) { /* the script stopped what it started and printed the logs */
        ts_rmtree(c->tmp);
        free(c->tmp);
        c->tmp = NULL;
        ck_abort_msg("loadtest/redis_cluster.sh start exited %d", rc);
    }
    fprintf(stderr, "redis cluster: %d nodes up in %lld ms\n", TS_RCLUSTER_NODES,
            (long long)(ts_now_ms() - t0));
    char path[700];
    snprintf(path, sizeof path, "%s/ports", c->dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < TS_RCLUSTER_NODES; i++)
        ck_assert_int_eq(fscanf(f, "%d", &c->ports[i]), 1);
    fclose(f);
}

void ts_rcluster_down(ts_rcluster *c)
{
    if (c->tmp == NULL)
        return;
    int rc = ts_rcluster_script("stop", c->dir);
    if (rc != 0)
        fprintf(stderr, "loadtest/redis_cluster.sh stop exited %d\n", rc);
    ts_rmtree(c->tmp);
    free(c->tmp);
    c->tmp = NULL;
}

pid_t ts_rcluster_pid(const ts_rcluster *c, int port)
{
    char path[800], pidbuf[32];
    snprintf(path, sizeof path, "%s/pids/%d.pid", c->dir, port);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no pid file %s", path);
    ck_assert_ptr_nonnull(fgets(pidbuf, sizeof pidbuf, f));
    fclose(f);
    pid_t pid = (pid_t)strtol(pidbuf, NULL, 10);
    ck_assert_int_gt(pid, 1);
    return pid;
}
