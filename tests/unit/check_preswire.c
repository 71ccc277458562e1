/*
 * check_preswire.c - the presence wire: entries, the replies of the presence functions
 * (list, stats, touch's missing clients; good and malformed) parsed from real RESP
 * bytes by hiredis's own reader, and the join/leave messages the library publishes.
 */
#include <check.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_preswire.h"
#include "ts_check.h"
#include "pulse_err.h"

static redisReply *resp(const char *bytes, size_t len)
{
    redisReader *rd = redisReaderCreate();
    ck_assert_ptr_nonnull(rd);
    ck_assert_int_eq(redisReaderFeed(rd, bytes, len), REDIS_OK);
    void *r = NULL;
    ck_assert_int_eq(redisReaderGetReply(rd, &r), REDIS_OK);
    ck_assert_msg(r != NULL, "incomplete RESP in the test: %s", bytes);
    redisReaderFree(rd);
    return r;
}
#define RESP(lit) resp(lit, sizeof(lit) - 1)

#define E1 "{\"client\":\"gw-1:1\",\"user\":\"u1\",\"node\":\"gw-1\"}"
#define E2 "{\"client\":\"gw-2:9\",\"user\":\"\",\"node\":\"gw-2\",\"info\":{\"n\":1}}"

START_TEST(test_entry_valid)
{
    ck_assert(gw_pres_entry_valid(E1, strlen(E1)));
    ck_assert(gw_pres_entry_valid(E2, strlen(E2)));
    static const char *bad[] = {
        "", "{}", "[]", "x", "{\"client\":\"a:1\",\"user\":\"u\"}",                /* no node */
        "{\"client\":\"\",\"user\":\"u\",\"node\":\"n\"}",                           /* empty client */
        "{\"client\":1,\"user\":\"u\",\"node\":\"n\"}",                              /* not a string */
        "{\"client\":\"a:1\",\"user\":\"u\",\"node\":\"n\",\"info\":[1]}",           /* info not an object */
        "{\"client\":\"a:1\",\"user\":\"u\",\"node\":\"n\"", "{\"client\":\"a:1\",\"client\":\"b\",\"user\":\"u\",\"node\":\"n\"}",
        " {\"client\":\"a:1\",\"user\":\"u\",\"node\":\"n\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!gw_pres_entry_valid(bad[i], strlen(bad[i])), "accepted: %s", bad[i]);
    ck_assert(!gw_pres_entry_valid(NULL, 0));
    /* bytes beyond len are not read */
    ck_assert(!gw_pres_entry_valid(E1, strlen(E1) - 1));
}
END_TEST

typedef struct {
    char got[8][256];
    size_t n;
} sink;

static void collect(void *ud, const char *s, size_t len)
{
    sink *k = ud;
    ck_assert_uint_lt(k->n, 8);
    ck_assert_uint_lt(len, 256);
    memcpy(k->got[k->n], s, len);
    k->got[k->n++][len] = '\0';
}

START_TEST(test_list)
{
    char err[GW_PRES_ERR_MAX];
    char bytes[1024];
    int n = snprintf(bytes, sizeof bytes, "*4\r\n$%zu\r\n%s\r\n$3\r\nbad\r\n:7\r\n$%zu\r\n%s\r\n", strlen(E1), E1,
                     strlen(E2), E2);
    redisReply *r = resp(bytes, (size_t)n);
    sink k = {0};
    size_t skipped = 0;
    ck_assert_int_eq(gw_pres_parse_list(r, collect, &k, &skipped, err, sizeof err), 0);
    ck_assert_uint_eq(k.n, 2);
    ck_assert_str_eq(k.got[0], E1);
    ck_assert_str_eq(k.got[1], E2);
    ck_assert_uint_eq(skipped, 2);
    freeReplyObject(r);
    r = RESP("*0\r\n");
    k.n = 0;
    ck_assert_int_eq(gw_pres_parse_list(r, collect, &k, NULL, err, sizeof err), 0);
    ck_assert_uint_eq(k.n, 0);
    freeReplyObject(r);
    r = RESP("-ERR usage: FCALL pulse_presence 1 <channel> <limit>\r\n");
    ck_assert_int_eq(gw_pres_parse_list(r, collect, &k, NULL, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "ERR usage"));
    freeReplyObject(r);
    ck_assert_int_eq(gw_pres_parse_list(NULL, collect, &k, NULL, err, sizeof err), -1);
}
END_TEST

START_TEST(test_stats)
{
    char err[GW_PRES_ERR_MAX];
    uint64_t c = 99, u = 99;
    redisReply *r = RESP("*2\r\n:100000\r\n:3\r\n");
    ck_assert_int_eq(gw_pres_parse_stats(r, &c, &u, err, sizeof err), 0);
    ck_assert_uint_eq(c, 100000);
    ck_assert_uint_eq(u, 3);
    freeReplyObject(r);
    static const char *bad[] = {"*1\r\n:1\r\n", "*3\r\n:1\r\n:2\r\n:3\r\n", "*2\r\n:-1\r\n:2\r\n",
                                "*2\r\n$1\r\n1\r\n:2\r\n", ":5\r\n", "-ERR x\r\n", "*-1\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = u = 7;
        r = resp(bad[i], strlen(bad[i]));
        ck_assert_int_eq(gw_pres_parse_stats(r, &c, &u, err, sizeof err), -1);
        ck_assert(c == 7 && u == 7);
        freeReplyObject(r);
    }
}
END_TEST

START_TEST(test_missing)
{
    char err[GW_PRES_ERR_MAX];
    sink k = {0};
    redisReply *r = RESP("*2\r\n$6\r\ngw-1:1\r\n$7\r\ngw-1:22\r\n");
    ck_assert_int_eq(gw_pres_parse_missing(r, collect, &k, err, sizeof err), 0);
    ck_assert_uint_eq(k.n, 2);
    ck_assert_str_eq(k.got[1], "gw-1:22");
    freeReplyObject(r);
    /* one bad element: nothing reported */
    k.n = 0;
    r = RESP("*2\r\n$6\r\ngw-1:1\r\n:5\r\n");
    ck_assert_int_eq(gw_pres_parse_missing(r, collect, &k, err, sizeof err), -1);
    ck_assert_uint_eq(k.n, 0);
    freeReplyObject(r);
    r = RESP("*1\r\n$0\r\n\r\n");
    ck_assert_int_eq(gw_pres_parse_missing(r, collect, &k, err, sizeof err), -1);
    freeReplyObject(r);
    r = RESP("-ERR usage: FCALL pulse_presence_touch\r\n");
    ck_assert_int_eq(gw_pres_parse_missing(r, collect, &k, err, sizeof err), -1);
    freeReplyObject(r);
}
END_TEST

START_TEST(test_event)
{
    gw_pres_kind kind = GW_PRES_LEAVE;
    const char *json = NULL;
    size_t jl = 0;
    const char join[] = "#pulse1 join\n{\"op\":\"join\",\"channel\":\"room\",\"client\":\"gw-1:1\",\"user\":\"u1\",\"node\":\"gw-1\"}";
    ck_assert_int_eq(gw_pres_event_parse(join, strlen(join), "room", &kind, &json, &jl), 0);
    ck_assert_int_eq(kind, GW_PRES_JOIN);
    ck_assert_ptr_eq(json, join + strlen(GW_PRES_JOIN_PREFIX));
    ck_assert_uint_eq(jl, strlen(join) - strlen(GW_PRES_JOIN_PREFIX));
    const char leave[] = "#pulse1 leave\n{\"op\":\"leave\",\"channel\":\"room\",\"client\":\"gw-1:1\",\"user\":\"\","
                         "\"node\":\"gw-1\",\"info\":{}}";
    ck_assert_int_eq(gw_pres_event_parse(leave, strlen(leave), "room", &kind, &json, &jl), 0);
    ck_assert_int_eq(kind, GW_PRES_LEAVE);
    /* another channel's, the op not matching the header, cut short, bad entry */
    ck_assert_int_eq(gw_pres_event_parse(join, strlen(join), "room2", &kind, &json, &jl), PULSE_EINVAL);
    const char lie[] = "#pulse1 join\n{\"op\":\"leave\",\"channel\":\"room\",\"client\":\"gw-1:1\",\"user\":\"u1\",\"node\":\"gw-1\"}";
    ck_assert_int_eq(gw_pres_event_parse(lie, strlen(lie), "room", &kind, &json, &jl), PULSE_EINVAL);
    ck_assert_int_eq(gw_pres_event_parse(join, strlen(join) - 1, "room", &kind, &json, &jl), PULSE_EINVAL);
    const char forged[] = "#pulse1 join\n{\"op\":\"join\",\"channel\":\"room\",\"client\":\"a:1\",\"user\":\"\",\"node\":\"a\"\n}";
    ck_assert_int_eq(gw_pres_event_parse(forged, strlen(forged), "room", &kind, &json, &jl), PULSE_EINVAL);
    ck_assert(!gw_pres_entry_valid("{\"client\":\"a:1\",\r\"user\":\"\",\"node\":\"a\"}", 38));
    const char noclient[] = "#pulse1 join\n{\"op\":\"join\",\"channel\":\"room\",\"user\":\"u1\",\"node\":\"gw-1\"}";
    ck_assert_int_eq(gw_pres_event_parse(noclient, strlen(noclient), "room", &kind, &json, &jl), PULSE_EINVAL);
    const char nul[] = "#pulse1 join\n{\"op\":\"join\",\"channel\":\"room\\u0000x\",\"client\":\"a:1\",\"user\":\"\",\"node\":\"a\"}";
    ck_assert_int_eq(gw_pres_event_parse(nul, strlen(nul), "room", &kind, &json, &jl), PULSE_EINVAL);
    /* not presence messages at all */
    ck_assert_int_eq(gw_pres_event_parse("#pulse1 7 abc\n{}", 16, "room", &kind, &json, &jl), PULSE_ENOENT);
    ck_assert_int_eq(gw_pres_event_parse("{\"a\":1}", 7, "room", &kind, &json, &jl), PULSE_ENOENT);
    ck_assert_int_eq(gw_pres_event_parse("#pulse1 joi", 11, "room", &kind, &json, &jl), PULSE_ENOENT);
    ck_assert_int_eq(gw_pres_event_parse(NULL, 0, "room", &kind, &json, &jl), PULSE_ENOENT);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_suite_of("preswire", "core", 0, test_entry_valid, test_list, test_stats, test_missing,
                       test_event);
}
