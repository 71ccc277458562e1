/*
 * check_spush.c - the classification of what a sharded subscriber connection reads
 * (gateway/redis/gw_spush.c). The first case is a byte-for-byte recording of a real
 * Redis 7.0.15 cluster node's answers to SSUBSCRIBE foo, SSUBSCRIBE foo a (CROSSSLOT),
 * PING, GET x (refused in subscribed mode), two SPUBLISH foo, SUNSUBSCRIBE foo and a
 * bare SUNSUBSCRIBE, read with hiredis's reader as gw_ssub.c reads them; then the
 * shapes that must come out as unexpected, with their reasons.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_spush.h"
#include "ts_check.h"

static const char recorded[] =
    "*3\r\n$10\r\nssubscribe\r\n$3\r\nfoo\r\n:1\r\n"
    "-CROSSSLOT Keys in request don't hash to the same slot\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "
    "allowed in this context\r\n"
    "*3\r\n$8\r\nsmessage\r\n$3\r\nfoo\r\n$11\r\nhello world\r\n*3\r\n$8\r\nsmessage\r\n$3\r\n"
    "foo\r\n$0\r\n\r\n*3\r\n$12\r\nsunsubscribe\r\n$3\r\nfoo\r\n:0\r\n*3\r\n$12\r\n"
    "sunsubscribe\r\n$-1\r\n:0\r\n"
    "-MOVED 12182 127.0.0.1:46222\r\n+OK\r\n";

static bool bytes_eq(const char *p, size_t len, const char *want)
{
    return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}

START_TEST(test_recorded_session)
{
    redisReader *rd = redisReaderCreate();
    ck_assert_int_eq(redisReaderFeed(rd, recorded, sizeof recorded - 1), REDIS_OK);
    static const gw_spush_kind want[] = {GW_SPUSH_SSUBSCRIBE, GW_SPUSH_ERROR, GW_SPUSH_PONG,
                                         GW_SPUSH_ERROR, GW_SPUSH_SMESSAGE, GW_SPUSH_SMESSAGE,
                                         GW_SPUSH_SUNSUBSCRIBE, GW_SPUSH_SUNSUBSCRIBE,
                                         GW_SPUSH_REDIRECT, GW_SPUSH_STATUS};
    size_t n = 0;
    for (;;) {
        void *reply = NULL;
        ck_assert_int_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
        if (reply == NULL)
            break;
        gw_spush p;
        ck_assert_uint_lt(n, sizeof want / sizeof want[0]);
        ck_assert_msg(gw_spush_classify(reply, &p) == want[n], "reply %zu: %s, want %s", n,
                      gw_spush_kind_name(p.kind), gw_spush_kind_name(want[n]));
        switch (n) {
        case 0:
            ck_assert(bytes_eq(p.channel, p.channel_len, "foo"));
            ck_assert_int_eq(p.count, 1);
            break;
        case 1:
            ck_assert(bytes_eq(p.text, 9, "CROSSSLOT"));
            break;
        case 2:
            ck_assert(bytes_eq(p.payload, p.payload_len, ""));
            break;
        case 4:
            ck_assert(bytes_eq(p.channel, p.channel_len, "foo"));
            ck_assert(bytes_eq(p.payload, p.payload_len, "hello world"));
            break;
        case 5:
            ck_assert_uint_eq(p.payload_len, 0);
            break;
        case 6:
            ck_assert(bytes_eq(p.channel, p.channel_len, "foo"));
            ck_assert_int_eq(p.count, 0);
            break;
        case 7:
            ck_assert_ptr_null(p.channel); /* nothing left to drop */
            break;
        case 8:
            ck_assert_int_eq(p.redirect.kind, GW_REDIRECT_MOVED);
            ck_assert_uint_eq(p.redirect.slot, 12182);
            ck_assert_int_eq(p.redirect.port, 46222);
            break;
        case 9:
            ck_assert(bytes_eq(p.text, p.text_len, "OK"));
            break;
        default:
            break;
        }
        freeReplyObject(reply);
        n++;
    }
    ck_assert_uint_eq(n, sizeof want / sizeof want[0]);
    redisReaderFree(rd);
}
END_TEST

static const struct {
    const char *resp;
    const char *why;
} odd_cases[] = {
    {":1\r\n", "not an array, an error or a status"},
    {"$3\r\nabc\r\n", "not an array, an error or a status"},
    {"$-1\r\n", "not an array, an error or a status"},
    {"*0\r\n", "shorter than a push"},
    {"*1\r\n$8\r\nsmessage\r\n", "shorter than a push"},
    {"*2\r\n$8\r\nsmessage\r\n$1\r\nc\r\n", "not a 3-element push"},
    {"*4\r\n$8\r\nsmessage\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n", "not a 3-element push"},
    {"*3\r\n$8\r\nsmessage\r\n:1\r\n$1\r\nd\r\n", "smessage without a channel and a payload"},
    {"*3\r\n$8\r\nsmessage\r\n$1\r\nc\r\n*0\r\n", "smessage without a channel and a payload"},
    {"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nd\r\n", "not ssubscribe, sunsubscribe, smessage or pong"},
    {"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n", "not ssubscribe, sunsubscribe, smessage or pong"},
    {"*3\r\n$8\r\nSMESSAGE\r\n$1\r\nc\r\n$1\r\nd\r\n", "not ssubscribe, sunsubscribe, smessage or pong"},
    {"*3\r\n:1\r\n$1\r\nc\r\n$1\r\nd\r\n", "not ssubscribe, sunsubscribe, smessage or pong"},
    {"*3\r\n$10\r\nssubscribe\r\n$1\r\nc\r\n$1\r\n1\r\n", "without a count"},
    {"*3\r\n$10\r\nssubscribe\r\n$-1\r\n:1\r\n", "without a channel"},
    {"*3\r\n$12\r\nsunsubscribe\r\n:5\r\n:1\r\n", "without a channel"},
    {"*2\r\n$4\r\npong\r\n:1\r\n", "not a 3-element push"},
};

START_TEST(test_unexpected_shapes)
{
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    ck_assert_int_eq(redisReaderFeed(rd, odd_cases[_i].resp, strlen(odd_cases[_i].resp)), REDIS_OK);
    ck_assert_int_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
    ck_assert_ptr_nonnull(reply);
    gw_spush p;
    ck_assert_int_eq(gw_spush_classify(reply, &p), GW_SPUSH_UNEXPECTED);
    ck_assert_msg(strstr(p.text, odd_cases[_i].why) != NULL, "case %d: \"%s\" lacks \"%s\"", _i, p.text,
                  odd_cases[_i].why);
    ck_assert_str_eq(gw_spush_kind_name(p.kind), "unexpected");
    freeReplyObject(reply);
    redisReaderFree(rd);
    ck_assert_int_eq(gw_spush_classify(NULL, &p), GW_SPUSH_UNEXPECTED);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("spush");
    TCase *tc = ts_tcase(s, "spush", 0);
    tcase_add_test(tc, test_recorded_session);
    tcase_add_loop_test(tc, test_unexpected_shapes, 0, N_ELEMS(odd_cases));
    return s;
}
