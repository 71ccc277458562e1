/*
 * check_histwire.c - the history wire: epochs, and the replies of the history reads
 * (position, XRANGE / XREVRANGE, MULTI/EXEC; good and malformed) parsed from real RESP
 * bytes by hiredis's own reader (no hand-built reply structs).
 */
#include <check.h>

#include "ts_check.h"
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_histwire.h"

/* A reply tree from RESP bytes, exactly as hiredis builds it off the socket. */
static redisReply *resp(const char *bytes)
{
    redisReader *rd = redisReaderCreate();
    ck_assert_ptr_nonnull(rd);
    ck_assert_int_eq(redisReaderFeed(rd, bytes, strlen(bytes)), REDIS_OK);
    void *r = NULL;
    ck_assert_int_eq(redisReaderGetReply(rd, &r), REDIS_OK);
    ck_assert_msg(r != NULL, "incomplete RESP in the test: %s", bytes);
    redisReaderFree(rd);
    return r;
}

START_TEST(test_epoch_valid)
{
    ck_assert(gw_epoch_valid("aZ09_-", 6));
    ck_assert(!gw_epoch_valid("", 0));
    ck_assert(!gw_epoch_valid("a b", 3));
    ck_assert(!gw_epoch_valid("a\0b", 3));
    ck_assert(gw_epoch_valid("abcdefghijklmnopabcdefghijklmnop", 32));
    ck_assert(!gw_epoch_valid("abcdefghijklmnopabcdefghijklmnopq", 33));
    gw_hpos p = {0, "old"};
    ck_assert_int_eq(gw_hpos_set_epoch(&p, "x!", 2), -1);
    ck_assert_str_eq(p.epoch, "old");
    ck_assert_int_eq(gw_hpos_set_epoch(&p, "new1xyz", 3), 0);
    ck_assert_str_eq(p.epoch, "new");
}
END_TEST

START_TEST(test_position)
{
    char err[GW_HIST_ERR_MAX];
    gw_hpos p;
    redisReply *r = resp("*2\r\n:42\r\n$8\r\nx7QpAb12\r\n");
    ck_assert_int_eq(gw_hist_parse_position(r, &p, err, sizeof err), 0);
    ck_assert_uint_eq(p.offset, 42);
    ck_assert_str_eq(p.epoch, "x7QpAb12");
    freeReplyObject(r);

    /* offset as a string (HGET), and "no history" */
    r = resp("*2\r\n$2\r\n17\r\n$1\r\nE\r\n");
    ck_assert_int_eq(gw_hist_parse_position(r, &p, err, sizeof err), 0);
    ck_assert_uint_eq(p.offset, 17);
    freeReplyObject(r);
    r = resp("*2\r\n:0\r\n$0\r\n\r\n");
    ck_assert_int_eq(gw_hist_parse_position(r, &p, err, sizeof err), 0);
    ck_assert_uint_eq(p.offset, 0);
    ck_assert_str_eq(p.epoch, "");
    freeReplyObject(r);

    static const char *bad[] = {
        "-ERR Function not found\r\n",
        "*1\r\n:1\r\n",
        "*2\r\n:-1\r\n$1\r\nE\r\n",
        "*2\r\n:5\r\n$0\r\n\r\n",       /* an offset without an epoch */
        "*2\r\n:5\r\n$3\r\na b\r\n",    /* a bad epoch */
        "*2\r\n$2\r\n1x\r\n$1\r\nE\r\n",
        "*2\r\n:5\r\n:7\r\n",
        ":5\r\n",
        "$-1\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = resp(bad[i]);
        err[0] = '\0';
        ck_assert_msg(gw_hist_parse_position(r, &p, err, sizeof err) == -1, "bad[%zu] accepted", i);
        ck_assert_msg(err[0] != '\0', "bad[%zu]: no error text", i);
        freeReplyObject(r);
    }
    r = resp("-ERR Function not found\r\n");
    gw_hist_parse_position(r, &p, err, sizeof err);
    ck_assert_str_eq(err, "pulse_position: Redis error 'ERR Function not found'");
    freeReplyObject(r);
    ck_assert_int_eq(gw_hist_parse_position(NULL, &p, err, sizeof err), -1);
}
END_TEST

START_TEST(test_range)
{
    char err[GW_HIST_ERR_MAX];
    gw_hentries e = {0};
    redisReply *r = resp("*3\r\n"
                         "*2\r\n$4\r\n41-0\r\n*2\r\n$1\r\nd\r\n$7\r\n{\"a\":1}\r\n"
                         "*2\r\n$4\r\n42-0\r\n*4\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nd\r\n$1\r\n2\r\n"
                         "*2\r\n$4\r\n45-0\r\n*2\r\n$1\r\nd\r\n$0\r\n\r\n");
    ck_assert_int_eq(gw_hist_parse_range(r, false, &e, err, sizeof err), 0);
    ck_assert_uint_eq(e.n, 3);
    ck_assert_uint_eq(e.v[0].offset, 41);
    ck_assert_uint_eq(e.v[0].len, 7);
    ck_assert(memcmp(e.v[0].data, "{\"a\":1}", 7) == 0);
    ck_assert_uint_eq(e.v[1].offset, 42);
    ck_assert(e.v[1].len == 1 && e.v[1].data[0] == '2');
    ck_assert_uint_eq(e.v[2].offset, 45);
    ck_assert_uint_eq(e.v[2].len, 0);
    /* ascending required: the same reply read as XREVRANGE is out of order */
    ck_assert_int_eq(gw_hist_parse_range(r, true, &e, err, sizeof err), -1);
    ck_assert_uint_eq(e.n, 3); /* untouched on error */
    freeReplyObject(r);

    r = resp("*2\r\n*2\r\n$3\r\n9-0\r\n*2\r\n$1\r\nd\r\n$1\r\n9\r\n*2\r\n$3\r\n8-0\r\n*2\r\n$1\r\nd\r\n$1\r\n8\r\n");
    ck_assert_int_eq(gw_hist_parse_range(r, true, &e, err, sizeof err), 0);
    ck_assert_uint_eq(e.n, 5);
    ck_assert_uint_eq(e.v[3].offset, 9);
    ck_assert_uint_eq(e.v[4].offset, 8);
    freeReplyObject(r);

    r = resp("*0\r\n");
    ck_assert_int_eq(gw_hist_parse_range(r, false, &e, err, sizeof err), 0);
    ck_assert_uint_eq(e.n, 5);
    freeReplyObject(r);
    gw_hentries_free(&e);
    ck_assert_ptr_null(e.v);

    static const char *bad[] = {
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ":1\r\n",
        "*1\r\n:1\r\n",
        "*1\r\n*1\r\n$3\r\n1-0\r\n",
        "*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nd\r\n$1\r\n1\r\n",   /* seq not 0 */
        "*1\r\n*2\r\n$3\r\n0-0\r\n*2\r\n$1\r\nd\r\n$1\r\n1\r\n",   /* offset 0 */
        "*1\r\n*2\r\n$2\r\n-0\r\n*2\r\n$1\r\nd\r\n$1\r\n1\r\n",
        "*1\r\n*2\r\n$4\r\n1x-0\r\n*2\r\n$1\r\nd\r\n$1\r\n1\r\n",
        "*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\ne\r\n$1\r\n1\r\n",   /* no field d */
        "*1\r\n*2\r\n$3\r\n1-0\r\n*1\r\n$1\r\nd\r\n",              /* odd fields */
        "*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nd\r\n:1\r\n",        /* value not a string */
        "*2\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nd\r\n$1\r\n1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nd\r\n$1\r\n1\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = resp(bad[i]);
        err[0] = '\0';
        ck_assert_msg(gw_hist_parse_range(r, false, &e, err, sizeof err) == -1, "bad[%zu] accepted", i);
        ck_assert_msg(err[0] != '\0', "bad[%zu]: no error text", i);
        ck_assert_uint_eq(e.n, 0);
        freeReplyObject(r);
    }
    gw_hentries_free(&e);
}
END_TEST

START_TEST(test_exec)
{
    char err[GW_HIST_ERR_MAX];
    gw_hentries e = {0};
    gw_hpos p = {0};
    redisReply *r = resp("*2\r\n*2\r\n:2\r\n$4\r\nEpch\r\n"
                         "*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nd\r\n$1\r\na\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nd\r\n$1\r\nb\r\n");
    ck_assert_int_eq(gw_hist_parse_exec(r, false, &p, &e, err, sizeof err), 0);
    ck_assert_uint_eq(p.offset, 2);
    ck_assert_str_eq(p.epoch, "Epch");
    ck_assert_uint_eq(e.n, 2);
    ck_assert(e.v[1].data[0] == 'b');
    freeReplyObject(r);
    gw_hentries_free(&e);

    static const char *bad[] = {
        "*-1\r\n",                                 /* aborted */
        "-EXECABORT Transaction discarded\r\n",
        "*1\r\n*2\r\n:2\r\n$4\r\nEpch\r\n",
        "*2\r\n-ERR no such function\r\n*0\r\n",
        "*2\r\n*2\r\n:2\r\n$4\r\nEpch\r\n-WRONGTYPE x\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = resp(bad[i]);
        p = (gw_hpos){5, "keep"};
        ck_assert_msg(gw_hist_parse_exec(r, false, &p, &e, err, sizeof err) == -1, "bad[%zu] accepted", i);
        ck_assert_uint_eq(p.offset, 5);
        ck_assert_uint_eq(e.n, 0);
        freeReplyObject(r);
    }
    gw_hentries_free(&e);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_suite_of("histwire", "core", 0, test_epoch_valid, test_position, test_range,
                       test_exec);
}
