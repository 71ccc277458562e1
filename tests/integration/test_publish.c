/*
 * test_publish.c - pulse-publish against a real, throwaway redis-server: the number of
 * events published through FCALL pulse_publish by default (the library loaded by
 * pulse-publish when Redis has none, never replaced when it has one; offsets in the
 * manifest and in the messages), --raw PUBLISH, --history-size/--history-ttl, pacing on its absolute schedule (200/s for 2 s within 10%), the manifest
 * matching event for event what a plain Redis SUBSCRIBE client saw, the pipelined
 * as-fast-as-possible mode, the --mix simulator's channels and shares, publishing through
 * a gateway's POST /publish, and the command-line contract (--help, exit 2 on bad flags,
 * exit 1 when Redis is unreachable).
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "ts_check.h"
#include "pulse_event.h"
#include "pulse_functions.h"
#include "pulse_record.h"
#include "ts.h"

#define MAX_EVENTS 6000

static ts_stack stack; /* tmp dir and Redis (no gateway of its own) */

/* Runs pulse-publish with args (NULL-terminated) to completion; returns its exit status
 * and leaves its output in stack.tmp/<log>. */
static int run_publish(const char *log, const char *const args[], ts_proc *p)
{
    char *argv[48], logpath[600];
    int n = 0, rc;

    argv[n++] = ts_bin("pulse-publish");
    for (; *args != NULL && n < 46; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    snprintf(logpath, sizeof(logpath), "%s/%s", stack.tmp, log);
    ck_assert_int_eq(ts_proc_start(p, argv, NULL, logpath), 0);
    rc = ts_proc_wait(p, 60000);
    if (rc != 0 && rc != 1 && rc != 2)
        ts_proc_dump_log(p, log);
    ts_proc_stop(p, 2000); /* reaped already (or killed on timeout): marks it stopped */
    free(argv[0]);
    return rc;
}

static redisContext *subscriber(const char *cmd, const char *what)
{
    struct timeval tv = {.tv_sec = 5};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", stack.redis.port, tv);
    redisReply *r;

    ck_assert_msg(c != NULL && c->err == 0, "cannot connect to redis");
    ck_assert_int_eq(redisSetTimeout(c, tv), REDIS_OK);
    r = redisCommand(c, "%s %s", cmd, what);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    return c;
}

typedef struct {
    pulse_event ev;
    char channel[129];
    uint64_t offset; /* from the #pulse1 header, 0 when the message had none */
} seen_event;

/* Reads n messages (message or pmessage) from a subscribed connection. */
static void read_messages(redisContext *c, seen_event *out, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        redisReply *r = NULL;
        pulse_error err;
        size_t k;
        ck_assert_msg(redisGetReply(c, (void **)&r) == REDIS_OK && r != NULL,
                      "message %d of %d did not arrive: %s", i + 1, n, c->errstr);
        ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
        k = r->elements;
        ck_assert(k == 3 || k == 4);
        pulse_position_hdr h;
        const char *msg;
        size_t len;
        snprintf(out[i].channel, sizeof(out[i].channel), "%s", r->element[k - 2]->str);
        msg = r->element[k - 1]->str;
        len = r->element[k - 1]->len;
        out[i].offset = 0;
        if (pulse_position_hdr_parse(msg, len, &h) == 0) {
            out[i].offset = h.offset;
            msg += h.header_len;
            len -= h.header_len;
        }
        ck_assert_msg(pulse_event_parse(msg, len, &out[i].ev, &err) == 0, "bad event: %s",
                      err.text);
        freeReplyObject(r);
    }
}

/* Loads the manifest into recs; returns the line count. */
static int load_manifest(const char *name, pulse_manifest_rec *recs, int max)
{
    char path[600], line[1024];
    FILE *f;
    int n = 0;

    snprintf(path, sizeof(path), "%s/%s", stack.tmp, name);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        pulse_error err;
        ck_assert_int_lt(n, max);
        ck_assert_msg(pulse_manifest_rec_parse(line, strlen(line), &recs[n], &err) == 0,
                      "manifest line %d: %s", n + 1, err.text);
        n++;
    }
    fclose(f);
    return n;
}

static char *redis_url(void)
{
    static char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", stack.redis.port);
    return url;
}

START_TEST(test_count_and_manifest_match)
{
    static seen_event seen[20];
    static pulse_manifest_rec man[40];
    redisContext *sub = subscriber("SUBSCRIBE", "events.critical");
    const char *args[] = {"--type", "SERVER_DOWN", "--source", "server-a", "--count", "20",
                          "--redis", redis_url(), "--manifest", ts_stack_path(&stack, "m.csv"), NULL};
    ts_proc p;
    int i, n;

    ck_assert_int_eq(run_publish("publish.log", args, &p), 0);
    ck_assert(ts_file_contains(p.log_path, "sent=20 failed=0"));
    ck_assert(ts_file_contains(p.log_path, "via=fcall last_offset=20"));
    /* Redis had no library: pulse-publish loaded it */
    ck_assert(ts_file_contains(p.log_path, "loaded the Redis function library pulse"));
    read_messages(sub, seen, 20);
    n = load_manifest("m.csv", man, 40);
    ck_assert_int_eq(n, 20);
    for (i = 0; i < 20; i++) {
        /* Redis keeps one publisher's order: message i is manifest line i. */
        ck_assert_str_eq(seen[i].ev.event_id, man[i].event_id);
        ck_assert_uint_eq(seen[i].ev.sequence, (uint64_t)(i + 1));
        ck_assert_uint_eq(man[i].sequence, (uint64_t)(i + 1));
        ck_assert_str_eq(seen[i].channel, "events.critical");
        ck_assert_str_eq(man[i].channel, "events.critical");
        ck_assert_int_eq(seen[i].ev.published_at_us, man[i].published_at_us);
        ck_assert_int_eq(seen[i].ev.priority, PULSE_PRIO_CRITICAL);
        ck_assert_int_eq(man[i].priority, PULSE_PRIO_CRITICAL);
        ck_assert_str_eq(seen[i].ev.event_type, "SERVER_DOWN");
        ck_assert_str_eq(seen[i].ev.source, "server-a");
        /* events.critical keeps history by the built-in rules: offsets 1..20 */
        ck_assert_uint_eq(seen[i].offset, (uint64_t)(i + 1));
        ck_assert_uint_eq(man[i].offset, (uint64_t)(i + 1));
        if (i > 0)
            ck_assert_str_ne(seen[i].ev.event_id, seen[i - 1].ev.event_id);
    }
    redisFree(sub);
}
END_TEST

/* --raw: plain PUBLISH, as before history: no header, no keys, no library, offset 0. */
START_TEST(test_raw)
{
    static seen_event seen[20];
    static pulse_manifest_rec man[40];
    redisContext *sub = subscriber("SUBSCRIBE", "events.critical");
    const char *args[] = {"--raw", "--count", "20", "--redis", redis_url(), "--manifest",
                          ts_stack_path(&stack, "raw.csv"), NULL};
    const char *keys[] = {"KEYS", "*"}, *fl[] = {"FUNCTION", "LIST"};
    char out[256];
    ts_proc p;

    ck_assert_int_eq(run_publish("raw.log", args, &p), 0);
    ck_assert(ts_file_contains(p.log_path, "redis_deliveries=20")); /* our one subscriber, 20 times */
    read_messages(sub, seen, 20);
    ck_assert_int_eq(load_manifest("raw.csv", man, 40), 20);
    for (int i = 0; i < 20; i++) {
        ck_assert_uint_eq(seen[i].offset, 0);
        ck_assert_uint_eq(man[i].offset, 0);
        ck_assert_str_eq(seen[i].ev.event_id, man[i].event_id);
    }
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 2, keys), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 2, fl), 0);
    ck_assert_str_eq(out, "");
    redisFree(sub);
}
END_TEST

/* A library already in Redis (a gateway's, here with no history anywhere) is used as it
 * is, never replaced; --history-size/--history-ttl still give this run's events history
 * (explicit FCALL arguments). */
START_TEST(test_history_flags)
{
    static pulse_manifest_rec man[400];
    static const pulse_history_rule none[] = {{"*", 0, 0}};
    char version[PULSE_FN_VERSION_MAX], out[512];
    char *src = NULL;
    const char *ver[] = {"FCALL_RO", "pulse_version", "0"};
    const char *xlen[] = {"XLEN", "pulse:{feed:user-1}:stream"};
    const char *ttl[] = {"TTL", "pulse:{feed:user-1}:meta"};
    ts_proc p;
    long v;

    ck_assert_int_eq(pulse_functions_source(none, 1, &src, version, NULL), 0);
    {
        const char *load[] = {"FUNCTION", "LOAD", src};
        ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 3, load), 0);
        ck_assert_str_eq(out, "pulse");
    }
    free(src);
    {
        const char *args[] = {"--count", "10", "--redis", redis_url(), "--manifest",
                              ts_stack_path(&stack, "none.csv"), NULL};
        ck_assert_int_eq(run_publish("none.log", args, &p), 0);
        ck_assert(!ts_file_contains(p.log_path, "loaded the Redis function library"));
        ck_assert(ts_file_contains(p.log_path, "via=fcall last_offset=0"));
        ck_assert_int_eq(load_manifest("none.csv", man, 400), 10);
        ck_assert_uint_eq(man[9].offset, 0);
    }
    {
        const char *args[] = {"--channel", "feed:user-1", "--count", "300", "--history-size",
                              "5", "--history-ttl", "60", "--redis", redis_url(), "--manifest",
                              ts_stack_path(&stack, "hist.csv"), NULL};
        ck_assert_int_eq(run_publish("hist.log", args, &p), 0);
        ck_assert(ts_file_contains(p.log_path, "sent=300 failed=0"));
        ck_assert_int_eq(load_manifest("hist.csv", man, 400), 300);
        for (int i = 0; i < 300; i++)
            ck_assert_uint_eq(man[i].offset, (uint64_t)(i + 1));
    }
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 3, ver), 0);
    ck_assert_str_eq(out, version); /* not replaced */
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 2, xlen), 0);
    v = strtol(out, NULL, 10);
    ck_assert_msg(v >= 5 && v <= 105, "XLEN %ld with MAXLEN ~ 5", v);
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, 2, ttl), 0);
    v = strtol(out, NULL, 10);
    ck_assert_msg(v > 50 && v <= 60, "TTL %ld", v);
}
END_TEST

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void sort_i64(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_i64);
}

/* 200/s for 2 s: about 400 events, spread evenly (no bursts), within 10%. */
START_TEST(test_pacing)
{
    static pulse_manifest_rec man[MAX_EVENTS];
    static int64_t gaps[MAX_EVENTS], offs[MAX_EVENTS];
    const char *args[] = {"--rate", "200", "--duration", "2", "--channel", "pace.test",
                          "--redis", redis_url(), "--manifest", ts_stack_path(&stack, "pace.csv"), NULL};
    ts_proc p;
    int64_t t0 = ts_now_ms(), took, span;
    int n, i, off_slot = 0;
    int64_t start_us;

    ck_assert_int_eq(run_publish("pace.log", args, &p), 0);
    took = ts_now_ms() - t0;
    n = load_manifest("pace.csv", man, MAX_EVENTS);
    ck_assert_msg(n >= 360 && n <= 440, "%d events at 200/s for 2 s", n);
    span = man[n - 1].published_at_us - man[0].published_at_us;
    ck_assert_msg(span >= 1800000 && span <= 2200000, "span %lld us", (long long)span);
    ck_assert_msg(took >= 1800 && took <= 4000, "run took %lld ms", (long long)took);
    ck_assert_int_eq(man[0].priority, PULSE_PRIO_NORMAL); /* pace.test: a normal channel */
    /* Evenly paced on an absolute schedule: event i goes out at start + i * 5 ms, so
     * pub_i - i * 5 ms is the same for every event. We take its median as the start:
     * no event may be ahead of its slot (that would be a burst), and most are within
     * 1 ms of it (a stalled publisher catches up instead of drifting, and a
     * sleep-after-send publisher would drift by its send time on every event). */
    for (i = 0; i < n; i++)
        offs[i] = man[i].published_at_us - (int64_t)i * 5000;
    sort_i64(offs, n);
    start_us = offs[n / 2];
    for (i = 0; i < n; i++) {
        int64_t late = man[i].published_at_us - (start_us + (int64_t)i * 5000);
        ck_assert_msg(late > -2000, "event %d is %lld us ahead of its slot", i, (long long)-late);
        if (late > 1000 || late < -1000)
            off_slot++;
        if (i > 0)
            gaps[i - 1] = man[i].published_at_us - man[i - 1].published_at_us;
    }
    ck_assert_msg(off_slot < n / 5, "%d of %d events more than 1 ms off their slot", off_slot, n);
    sort_i64(gaps, n - 1);
    ck_assert_msg(gaps[(n - 1) / 2] >= 4500 && gaps[(n - 1) / 2] <= 5500, "median gap %lld us",
                  (long long)gaps[(n - 1) / 2]);
}
END_TEST

/* --rate 0: pipelined; every event arrives, in order. */
START_TEST(test_fast_pipelined)
{
    static seen_event seen[5000];
    redisContext *sub = subscriber("SUBSCRIBE", "events.critical");
    const char *args[] = {"--count", "5000", "--redis", redis_url(), "--payload-bytes", "200",
                          "--manifest", ts_stack_path(&stack, "fast.csv"), NULL};
    static pulse_manifest_rec man[MAX_EVENTS];
    ts_proc p;
    int i;

    ck_assert_int_eq(run_publish("fast.log", args, &p), 0);
    ck_assert(ts_file_contains(p.log_path, "sent=5000 failed=0"));
    read_messages(sub, seen, 5000);
    ck_assert_int_eq(load_manifest("fast.csv", man, MAX_EVENTS), 5000);
    for (i = 0; i < 5000; i++) {
        ck_assert_uint_eq(seen[i].ev.sequence, (uint64_t)(i + 1));
        ck_assert_str_eq(seen[i].ev.event_id, man[i].event_id);
    }
    redisFree(sub);
}
END_TEST

START_TEST(test_mix)
{
    static seen_event seen[1000];
    redisContext *sub = subscriber("PSUBSCRIBE", "*");
    const char *args[] = {"--mix", "--users", "10", "--count", "1000", "--seed", "42", "--redis",
                          redis_url(), "--manifest", ts_stack_path(&stack, "mix.csv"), NULL};
    ts_proc p;
    int i, posts = 0, notes = 0, alerts = 0;

    ck_assert_int_eq(run_publish("mix.log", args, &p), 0);
    read_messages(sub, seen, 1000);
    for (i = 0; i < 1000; i++) {
        const pulse_event *e = &seen[i].ev;
        int k = 0;
        if (strcmp(e->event_type, "PostCreated") == 0) {
            posts++;
            ck_assert_int_eq(sscanf(seen[i].channel, "feed:user-%d", &k), 1);
            ck_assert_int_eq(e->priority, PULSE_PRIO_NORMAL);
        } else if (strcmp(e->event_type, "Notification") == 0) {
            notes++;
            ck_assert_int_eq(sscanf(seen[i].channel, "notifications:user-%d", &k), 1);
            ck_assert_int_eq(e->priority, PULSE_PRIO_NORMAL);
        } else {
            ck_assert_str_eq(e->event_type, "SystemAlert");
            alerts++;
            k = 1;
            ck_assert_str_eq(seen[i].channel, "events.critical");
            ck_assert_int_eq(e->priority, PULSE_PRIO_CRITICAL);
        }
        ck_assert_msg(k >= 1 && k <= 10, "user %d out of 1..10", k);
    }
    ck_assert_msg(posts > 620 && posts < 780, "PostCreated %d/1000", posts);
    ck_assert_msg(notes > 140 && notes < 260, "Notification %d/1000", notes);
    ck_assert_msg(alerts > 50 && alerts < 150, "SystemAlert %d/1000", alerts);
    redisFree(sub);
}
END_TEST

START_TEST(test_via_http)
{
    static seen_event seen[10];
    static pulse_manifest_rec man[20];
    ts_gateway gw;
    redisContext *sub;
    char url[128];
    ts_proc p;
    int i;

    ck_assert_int_eq(ts_gateway_start(&gw, stack.tmp, stack.redis.port, "pub-node", NULL), 0);
    ck_assert_int_eq(ts_http_wait_status(gw.admin_port, "/healthz", 200, 10000), 0);
    sub = subscriber("SUBSCRIBE", "http.test");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/publish", gw.admin_port);
    {
        const char *args[] = {"--http", url, "--channel", "http.test", "--count", "10", "--rate",
                              "100", "--manifest", ts_stack_path(&stack, "http.csv"), NULL};
        int rc = run_publish("http.log", args, &p);
        if (rc != 0)
            ts_proc_dump_log(&gw.proc, "gateway");
        ck_assert_int_eq(rc, 0);
    }
    ck_assert(ts_file_contains(p.log_path, "sent=10 failed=0"));
    read_messages(sub, seen, 10);
    ck_assert_int_eq(load_manifest("http.csv", man, 20), 10);
    for (i = 0; i < 10; i++) {
        ck_assert_str_eq(seen[i].channel, "http.test");
        ck_assert_str_eq(seen[i].ev.event_id, man[i].event_id);
        ck_assert_int_eq(seen[i].ev.published_at_us, man[i].published_at_us);
    }
    redisFree(sub);
    ts_gateway_stop(&gw);
}
END_TEST

START_TEST(test_cli_contract)
{
    static const struct {
        const char *args[6];
        int status;
        const char *needle;
    } cases[] = {
        {{"--help", NULL}, 0, "Usage: pulse-publish"},
        {{"--bogus", NULL}, 2, "unknown"},
        {{"--count", "ten", NULL}, 2, "--count"},
        {{"--rate", "-5", NULL}, 2, "--rate"},
        {{"--channel", "bad channel", NULL}, 2, "--channel"},
        {{"--priority", "urgent", NULL}, 2, "--priority"},
        {{"--spike", "3:2", "--rate", "10", NULL}, 2, "--spike"},
        {{"--redis", "redis://127.0.0.1:1", "--count", "1", NULL}, 1, "cannot connect"},
        {{"--raw", "--history-size", "5", NULL}, 2, "--history-size"},
        {{"--history-size", "-1", NULL}, 2, "--history-size"},
        {{"--history-ttl", "0", NULL}, 2, "--history-ttl"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ts_proc p;
        char log[32];
        snprintf(log, sizeof(log), "cli-%zu.log", i);
        ck_assert_msg(run_publish(log, cases[i].args, &p) == cases[i].status, "case %zu", i);
        ck_assert_msg(ts_file_contains(p.log_path, cases[i].needle), "case %zu: no '%s' in output", i,
                      cases[i].needle);
    }
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("publish", "redis", 90, &stack, TS_FIX_REDIS, 0, NULL, NULL,
                          test_count_and_manifest_match, test_raw, test_history_flags, test_pacing,
                          test_fast_pipelined, test_mix, test_via_http, test_cli_contract);
}
