/*
 * test_history_redis.c - the Redis function library `pulse` (libpulse/pulse_functions.c)
 * inside a real, throwaway redis-server: FUNCTION LOAD REPLACE of the generated text;
 * `FCALL pulse_publish 1 events.critical <payload>` from redis-cli answering 1, 2, 3;
 * what a plain SUBSCRIBE client receives ("#pulse1 <offset> <epoch>\n<payload>", read
 * back with pulse_position_hdr_parse); the stream entries <offset>-0 with field d; the
 * MAXLEN ~ cap; the TTL of both keys set, and refreshed once below 99% of it; a new
 * epoch and offsets from 1 after FLUSHALL and after the meta expired; plain PUBLISH and 0 for channels without
 * history; explicit size/TTL arguments; pulse_position and pulse_version; usage errors
 * that change nothing; and the library's rule matching agreeing with
 * pulse_history_rule_for channel by channel.
 */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pulse_functions.h"
#include "ts_check.h"
#include "ts.h"

static ts_stack stack;

/* One command (NULL-terminated words) through the fixture; the flattened reply. */
static const char *vcmd(const char *first, va_list ap)
{
    static char out[8192];
    const char *argv[16];
    int argc = 0;

    argv[argc++] = first;
    while (argc < 16 && (argv[argc] = va_arg(ap, const char *)) != NULL)
        argc++;
    ck_assert_int_eq(ts_redis_cmd(stack.redis.port, out, sizeof out, argc, argv), 0);
    return out;
}

static const char *cmd(const char *first, ...)
{
    va_list ap;
    const char *out;

    va_start(ap, first);
    out = vcmd(first, ap);
    va_end(ap);
    return out;
}

static long cmd_int(const char *first, ...)
{
    va_list ap;
    const char *out;
    char *end;
    long v;

    va_start(ap, first);
    out = vcmd(first, ap);
    va_end(ap);
    v = strtol(out, &end, 10);
    ck_assert_msg(end != out && *end == '\0', "%s: not an integer reply: %s", first, out);
    return v;
}

static void load_library(const pulse_history_rule *rules, size_t n, char *version)
{
    char *src = NULL;
    pulse_error err;
    const char *r;

    ck_assert_msg(pulse_functions_source(rules, n, &src, version, &err) == 0, "%s", err.text);
    r = cmd("FUNCTION", "LOAD", "REPLACE", src, NULL);
    ck_assert_msg(strcmp(r, "pulse") == 0, "FUNCTION LOAD: %s", r);
    free(src);
}

/* redis-cli -p P args... (single words without quotes): its stdout, trailing newline cut. */
static const char *cli(const char *args)
{
    static char out[4096];
    char command[1024];
    FILE *f;
    size_t n;

    snprintf(command, sizeof command, "redis-cli -p %d %s 2>&1", stack.redis.port, args);
    f = popen(command, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    ck_assert_int_eq(pclose(f), 0);
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    return out;
}

static redisContext *subscribe(const char *channel)
{
    struct timeval tv = {.tv_sec = 5};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", stack.redis.port, tv);
    redisReply *r;

    ck_assert_msg(c != NULL && c->err == 0, "cannot connect to redis");
    ck_assert_int_eq(redisSetTimeout(c, tv), REDIS_OK);
    r = redisCommand(c, "SUBSCRIBE %s", channel);
    ck_assert_ptr_nonnull(r);
    freeReplyObject(r);
    return c;
}

/* The next message's payload (malloc'd, *len set). */
static char *next_message(redisContext *c, size_t *len)
{
    redisReply *r = NULL;
    char *p;

    ck_assert_msg(redisGetReply(c, (void **)&r) == REDIS_OK && r != NULL, "no message: %s",
                  c->errstr);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(r->elements, 3);
    p = malloc(r->element[2]->len + 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, r->element[2]->str, r->element[2]->len);
    p[r->element[2]->len] = '\0';
    *len = r->element[2]->len;
    freeReplyObject(r);
    return p;
}

/* Reads one message and checks it carries offset and payload; returns its epoch. */
static void expect_positioned(redisContext *c, unsigned long long offset, const char *payload,
                              char *epoch)
{
    size_t len;
    char *m = next_message(c, &len);
    pulse_position_hdr h;

    ck_assert_msg(pulse_position_hdr_parse(m, len, &h) == 0, "no header: %s", m);
    ck_assert_uint_eq(h.offset, offset);
    ck_assert_str_eq(m + h.header_len, payload);
    ck_assert_uint_eq(strlen(h.epoch), PULSE_EPOCH_LEN);
    ck_assert_uint_eq(strspn(h.epoch, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
                      PULSE_EPOCH_LEN);
    if (epoch[0] == '\0')
        snprintf(epoch, PULSE_EPOCH_MAX + 1, "%s", h.epoch);
    else
        ck_assert_str_eq(h.epoch, epoch);
    free(m);
}

START_TEST(test_publish_from_redis_cli)
{
    char version[PULSE_FN_VERSION_MAX], epoch[PULSE_EPOCH_MAX + 1] = "", want[64];
    redisContext *sub;
    long ttl;

    load_library(NULL, 0, version);
    ck_assert_str_eq(cmd("FCALL_RO", "pulse_version", "0", NULL), version);
    ck_assert_str_eq(cmd("FCALL_RO", "pulse_position", "1", "events.critical", NULL), "0\n");
    sub = subscribe("events.critical");

    ck_assert_str_eq(cli("FCALL pulse_publish 1 events.critical '{\"n\":1}'"), "1");
    ck_assert_str_eq(cli("FCALL pulse_publish 1 events.critical '{\"n\":2}'"), "2");
    ck_assert_str_eq(cli("FCALL pulse_publish 1 events.critical '{\"n\":3}'"), "3");
    expect_positioned(sub, 1, "{\"n\":1}", epoch);
    expect_positioned(sub, 2, "{\"n\":2}", epoch);
    expect_positioned(sub, 3, "{\"n\":3}", epoch);
    redisFree(sub);

    snprintf(want, sizeof want, "3\n%s", epoch);
    ck_assert_str_eq(cmd("FCALL_RO", "pulse_position", "1", "events.critical", NULL), want);
    ck_assert_str_eq(cmd("HGET", "pulse:{events.critical}:meta", "epoch", NULL), epoch);
    ck_assert_str_eq(cmd("XRANGE", "pulse:{events.critical}:stream", "-", "+", NULL),
                     "1-0\nd\n{\"n\":1}\n2-0\nd\n{\"n\":2}\n3-0\nd\n{\"n\":3}");
    ttl = cmd_int("TTL", "pulse:{events.critical}:meta", NULL);
    ck_assert_msg(ttl > PULSE_HISTORY_DEFAULT_TTL_S - 10 && ttl <= PULSE_HISTORY_DEFAULT_TTL_S,
                  "meta TTL %ld", ttl);
    ttl = cmd_int("TTL", "pulse:{events.critical}:stream", NULL);
    ck_assert_msg(ttl > PULSE_HISTORY_DEFAULT_TTL_S - 10 && ttl <= PULSE_HISTORY_DEFAULT_TTL_S,
                  "stream TTL %ld", ttl);
    /* loading again (REPLACE) is idempotent and keeps the history */
    load_library(NULL, 0, NULL);
    ck_assert_str_eq(cli("FCALL pulse_publish 1 events.critical x"), "4");
    /* the Redis Cluster form names the two keys instead of the channel: the same history */
    ck_assert_str_eq(cli("FCALL pulse_publish 2 pulse:{events.critical}:meta pulse:{events.critical}:stream y"), "5");
    ck_assert_str_eq(cli("FCALL pulse_publish 1 events.critical z"), "6");
}
END_TEST

START_TEST(test_no_history_channels)
{
    redisContext *sub;
    size_t len;
    char *m;

    load_library(NULL, 0, NULL);
    sub = subscribe("feed:user-1");
    ck_assert_str_eq(cli("FCALL pulse_publish 1 feed:user-1 plain"), "0");
    m = next_message(sub, &len);
    ck_assert_str_eq(m, "plain"); /* no header: exactly what PUBLISH would carry */
    free(m);
    /* an explicit size of 0 on a channel with history by the rules: plain too */
    redisFree(sub);
    sub = subscribe("events.critical");
    ck_assert_str_eq(cli("FCALL pulse_publish 1 events.critical raw 0 60"), "0");
    m = next_message(sub, &len);
    ck_assert_str_eq(m, "raw");
    free(m);
    redisFree(sub);
    ck_assert_str_eq(cmd("KEYS", "pulse:*", NULL), "");
    ck_assert_str_eq(cmd("FCALL_RO", "pulse_position", "1", "feed:user-1", NULL), "0\n");
    /* explicit arguments give any channel history */
    ck_assert_str_eq(cli("FCALL pulse_publish 1 feed:user-1 a 10 60"), "1");
    ck_assert_str_eq(cli("FCALL pulse_publish 1 feed:user-1 b 10 60"), "2");
    ck_assert_int_eq(cmd_int("XLEN", "pulse:{feed:user-1}:stream", NULL), 2);
}
END_TEST

START_TEST(test_maxlen_and_ttl)
{
    const char *argv_payload = "p";
    long len, ttl;
    redisContext *c;
    struct timeval tv = {.tv_sec = 5};

    load_library(NULL, 0, NULL);
    c = redisConnectWithTimeout("127.0.0.1", stack.redis.port, tv);
    ck_assert(c != NULL && c->err == 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(redisAppendCommand(c, "FCALL pulse_publish 1 alerts.cap %s 10 60",
                                            argv_payload), REDIS_OK);
    for (int i = 0; i < 1000; i++) {
        redisReply *r = NULL;
        ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
        ck_assert_int_eq(r->integer, i + 1);
        freeReplyObject(r);
    }
    /* a large window is trimmed every 1 + size/64 events (at most every 16): after the
     * trim at offset 2016 at most 1000 + a stream node; 15 events later 15 more */
    for (int k = 0; k < 2; k++) {
        int n = k ? 15 : 2016;
        for (int i = 0; i < n; i++)
            ck_assert_int_eq(redisAppendCommand(c, "FCALL pulse_publish 1 alerts.big %s 1000 60",
                                                argv_payload), REDIS_OK);
        for (int i = 0; i < n; i++) {
            redisReply *r = NULL;
            ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
            ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
            freeReplyObject(r);
        }
        len = cmd_int("XLEN", "pulse:{alerts.big}:stream", NULL);
        ck_assert_msg(len >= 1000 && len < 1000 + 100 + 15 * k, "XLEN %ld after %d", len, k ? 2031 : 2016);
    }
    redisFree(c);
    /* MAXLEN ~ 10 trims whole stream nodes (100 entries by default): about 10, never 1000 */
    len = cmd_int("XLEN", "pulse:{alerts.cap}:stream", NULL);
    ck_assert_msg(len >= 10 && len <= 110, "XLEN %ld", len);
    ck_assert_str_eq(cmd("XREVRANGE", "pulse:{alerts.cap}:stream", "+", "-", "COUNT", "1", NULL),
                     "1000-0\nd\np");
    /* TTL from the explicit argument; refreshed by a publish whenever the meta's has
     * fallen below 99% of it, not by every publish */
    ttl = cmd_int("TTL", "pulse:{alerts.cap}:stream", NULL);
    ck_assert_msg(ttl > 50 && ttl <= 60, "TTL %ld", ttl);
    ck_assert_int_eq(cmd_int("PEXPIRE", "pulse:{alerts.cap}:meta", "59800", NULL), 1);
    ck_assert_int_eq(cmd_int("PEXPIRE", "pulse:{alerts.cap}:stream", "59800", NULL), 1);
    ck_assert_str_eq(cli("FCALL pulse_publish 1 alerts.cap q 10 60"), "1001");
    ck_assert_int_le(cmd_int("PTTL", "pulse:{alerts.cap}:meta", NULL), 59800); /* not refreshed */
    ck_assert_int_le(cmd_int("PTTL", "pulse:{alerts.cap}:stream", NULL), 59800);
    ck_assert_int_eq(cmd_int("EXPIRE", "pulse:{alerts.cap}:meta", "5", NULL), 1);
    ck_assert_int_eq(cmd_int("EXPIRE", "pulse:{alerts.cap}:stream", "5", NULL), 1);
    ck_assert_str_eq(cli("FCALL pulse_publish 1 alerts.cap q 10 60"), "1002");
    ttl = cmd_int("TTL", "pulse:{alerts.cap}:meta", NULL);
    ck_assert_msg(ttl > 50 && ttl <= 60, "meta TTL after refresh %ld", ttl);
    ttl = cmd_int("TTL", "pulse:{alerts.cap}:stream", NULL);
    ck_assert_msg(ttl > 50 && ttl <= 60, "stream TTL after refresh %ld", ttl);
    /* a new epoch always sets the TTL at once */
    ck_assert_int_eq(cmd_int("DEL", "pulse:{alerts.cap}:meta", NULL), 1);
    ck_assert_str_eq(cli("FCALL pulse_publish 1 alerts.cap r 10 60"), "1");
    ttl = cmd_int("TTL", "pulse:{alerts.cap}:stream", NULL);
    ck_assert_msg(ttl > 50 && ttl <= 60, "stream TTL of a new epoch %ld", ttl);
}
END_TEST

START_TEST(test_new_epoch)
{
    char e1[PULSE_EPOCH_MAX + 1] = "", e2[PULSE_EPOCH_MAX + 1] = "", e3[PULSE_EPOCH_MAX + 1] = "";
    redisContext *sub;

    load_library(NULL, 0, NULL);
    sub = subscribe("alerts.db");
    ck_assert_str_eq(cli("FCALL pulse_publish 1 alerts.db a"), "1");
    ck_assert_str_eq(cli("FCALL pulse_publish 1 alerts.db b"), "2");
    expect_positioned(sub, 1, "a", e1);
    expect_positioned(sub, 2, "b", e1);

    /* FLUSHALL (SYNC) loses the history (functions survive it: FUNCTION FLUSH is apart) */
    ck_assert_str_eq(cmd("FLUSHALL", NULL), "OK");
    ck_assert_str_eq(cmd("FCALL_RO", "pulse_position", "1", "alerts.db", NULL), "0\n");
    ck_assert_str_eq(cli("FCALL pulse_publish 1 alerts.db c"), "1");
    expect_positioned(sub, 1, "c", e2);
    ck_assert_str_ne(e1, e2);
    ck_assert_str_eq(cmd("XRANGE", "pulse:{alerts.db}:stream", "-", "+", NULL), "1-0\nd\nc");

    /* the meta expired while the stream did not: a new epoch, the old entries gone */
    ck_assert_str_eq(cli("FCALL pulse_publish 1 alerts.db d"), "2");
    expect_positioned(sub, 2, "d", e2);
    ck_assert_int_eq(cmd_int("PEXPIRE", "pulse:{alerts.db}:meta", "1", NULL), 1);
    ts_sleep_ms(20);
    ck_assert_str_eq(cli("FCALL pulse_publish 1 alerts.db e"), "1");
    expect_positioned(sub, 1, "e", e3);
    ck_assert_str_ne(e2, e3);
    ck_assert_str_eq(cmd("XRANGE", "pulse:{alerts.db}:stream", "-", "+", NULL), "1-0\nd\ne");

    /* a stream ahead of its meta (edited by hand): history restarts instead of failing */
    ck_assert_str_eq(cmd("XADD", "pulse:{alerts.db}:stream", "50-0", "d", "z", NULL), "50-0");
    ck_assert_str_eq(cli("FCALL pulse_publish 1 alerts.db f"), "1");
    ck_assert_str_eq(cmd("XRANGE", "pulse:{alerts.db}:stream", "-", "+", NULL), "1-0\nd\nf");
    ck_assert_int_eq(cmd_int("TTL", "pulse:{alerts.db}:stream", NULL) > 0, 1);
    redisFree(sub);
}
END_TEST

START_TEST(test_usage_errors)
{
    static const char *const bad[] = {
        "FCALL pulse_publish 1 alerts.x",               /* no payload */
        "FCALL pulse_publish 1 alerts.x p 10",          /* size without TTL */
        "FCALL pulse_publish 1 alerts.x p 10 60 9",
        "FCALL pulse_publish 1 alerts.x p -1 60",
        "FCALL pulse_publish 1 alerts.x p 10 0",
        "FCALL pulse_publish 1 alerts.x p 1.5 60",
        "FCALL pulse_publish 1 alerts.x p 10000001 60",
        "FCALL pulse_publish 1 alerts.x p 10 31536001",
        "FCALL pulse_publish 0 alerts.x p",
        /* the cluster form: the two keys of one channel, in order */
        "FCALL pulse_publish 2 pulse:{alerts.x}:meta pulse:{alerts.y}:stream p",
        "FCALL pulse_publish 2 pulse:{alerts.x}:stream pulse:{alerts.x}:meta p",
        "FCALL pulse_publish 2 alerts.x pulse:{alerts.x}:stream p",
        "FCALL pulse_publish 2 pulse:{alerts.x}:meta pulse:{alerts.x}:stream",
        "FCALL pulse_publish 3 alerts.x pulse:{alerts.x}:meta pulse:{alerts.x}:stream p",
        "FCALL_RO pulse_position 0",
        "FCALL_RO pulse_publish 1 alerts.x p",          /* writes are refused read-only */
    };
    load_library(NULL, 0, NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *out = cli(bad[i]);
        ck_assert_msg(strncmp(out, "ERR", 3) == 0 || strstr(out, "ERR") != NULL ||
                          strstr(out, "rror") != NULL,
                      "%s answered %s", bad[i], out);
    }
    ck_assert_str_eq(cmd("KEYS", "*", NULL), "");
    ck_assert_str_eq(cmd("PUBSUB", "NUMSUB", "alerts.x", NULL), "alerts.x\n0");
}
END_TEST

/* The library and pulse_history_rule_for decide alike, pattern by pattern. */
START_TEST(test_rules_agree)
{
    static const pulse_history_rule rules[] = {
        {"feed:vip-*", 3, 60},
        {"feed:*", 0, 0},
        {"*:user-*-x", 4, 60},
        {"a*b*c", 5, 60},
        {"exact.one", 6, 60},
        {"*", 7, 60},
    };
    static const char *const channels[] = {
        "feed:vip-1", "feed:vip-", "feed:user-1", "feed:", "notifications:user-9-x",
        "notifications:user-9-y", "abc", "aXbYc", "ac", "abcc", "exact.one", "exact.one2",
        "events.critical", "alerts.db", "a", "a:user--x",
    };
    char version[PULSE_FN_VERSION_MAX];
    size_t nrules = sizeof rules / sizeof rules[0];

    load_library(rules, nrules, version);
    ck_assert_str_eq(cmd("FCALL_RO", "pulse_version", "0", NULL), version);
    for (size_t i = 0; i < sizeof channels / sizeof channels[0]; i++) {
        const pulse_history_rule *r = pulse_history_rule_for(rules, nrules, channels[i]);
        long want = r != NULL && r->history_size > 0 ? 1 : 0;
        long got = cmd_int("FCALL", "pulse_publish", "1", channels[i], "x", NULL);
        ck_assert_msg(got == want, "%s: library %ld, C %ld", channels[i], got, want);
        if (want) {
            char key[200];
            ck_assert_int_gt(pulse_history_key(channels[i], "meta", key, sizeof key), 0);
            long ttl = cmd_int("TTL", key, NULL);
            ck_assert_msg(ttl > 50 && ttl <= 60, "%s: TTL %ld", channels[i], ttl);
            /* the size is the matched rule's: visible as the MAXLEN once past a node */
        }
    }
}
END_TEST

Suite *ts_suite(void)
{
    return ts_stack_suite("history_redis", "history_redis", 60, &stack, TS_FIX_REDIS, 0, NULL, NULL,
                          test_publish_from_redis_cli, test_no_history_channels,
                          test_maxlen_and_ttl, test_new_epoch, test_usage_errors, test_rules_agree);
}
