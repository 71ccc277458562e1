/*
 * check_frame.c - every frame the gateway sends a client (gw_frame): the envelope,
 * hello, pong, gap, replies and errors byte for byte, the one JSON string escaper,
 * and the bounded writer's overflow rule. (check_proto.c covers the escaping of
 * replies and errors case by case.)
 */
#include <check.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ts_check.h"
#include "gw_frame.h"

START_TEST(test_envelope)
{
    char buf[128];
    const char *data = "{\"a\":[1,2]}";
    int n = gw_frame_envelope(buf, sizeof buf, "feed:user-1", 11, data, strlen(data));
    ck_assert_str_eq(buf, "{\"channel\":\"feed:user-1\",\"data\":{\"a\":[1,2]}}");
    ck_assert_int_eq(n, (int)strlen(buf));
    /* the cap it promises always fits, the worst case included */
    const char worst[] = "\x01\x02\xff";
    size_t cap = gw_frame_envelope_cap(3, 1);
    char *b = malloc(cap);
    ck_assert_int_gt(gw_frame_envelope(b, cap, worst, 3, "1", 1), 0);
    ck_assert_str_eq(b, "{\"channel\":\"\\u0001\\u0002\\ufffd\",\"data\":1}");
    free(b);
    ck_assert_int_eq(gw_frame_envelope(buf, 20, "feed:user-1", 11, data, strlen(data)), -1);
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_control_frames)
{
    char buf[256];
    ck_assert_int_eq(gw_frame_hello(buf, sizeof buf, "gw-1", 281474976710657ull), (int)strlen(buf));
    ck_assert_str_eq(buf, "{\"op\":\"hello\",\"node\":\"gw-1\",\"conn\":281474976710657,\"protocol\":\"pulse.v1\"}");
    ck_assert_int_eq(gw_frame_pong(buf, sizeof buf), 13);
    ck_assert_str_eq(buf, "{\"op\":\"pong\"}");
    ck_assert_int_eq(gw_frame_gap(buf, sizeof buf, "events.*", "redis_reconnect"), (int)strlen(buf));
    ck_assert_str_eq(buf, "{\"op\":\"gap\",\"channel\":\"events.*\",\"reason\":\"redis_reconnect\"}");
    gw_frame_reply(buf, sizeof buf, "subscribed", "a.b");
    ck_assert_str_eq(buf, "{\"op\":\"subscribed\",\"channel\":\"a.b\"}");
    gw_frame_reply(buf, sizeof buf, "authenticated", NULL);
    ck_assert_str_eq(buf, "{\"op\":\"authenticated\"}");
    gw_frame_error(buf, sizeof buf, "bad_request", "say \"hi\"");
    ck_assert_str_eq(buf, "{\"op\":\"error\",\"code\":\"bad_request\",\"reason\":\"say \\\"hi\\\"\"}");
    ck_assert_int_eq(gw_frame_hello(buf, 30, "gw-1", 1), -1);
}
END_TEST

START_TEST(test_history_frames)
{
    char buf[512];
    gw_hpos pos = {42, "x7QpAb12"};
    int n = gw_frame_envelope_pos(buf, sizeof buf, "c", 1, &pos, "{\"a\":1}", 7);
    ck_assert_str_eq(buf, "{\"channel\":\"c\",\"offset\":42,\"epoch\":\"x7QpAb12\",\"data\":{\"a\":1}}");
    ck_assert_int_eq(n, (int)strlen(buf));
    gw_hpos none = {0, ""};
    gw_frame_envelope_pos(buf, sizeof buf, "c", 1, &none, "1", 1);
    ck_assert_str_eq(buf, "{\"channel\":\"c\",\"data\":1}");
    /* the promised cap holds the longest position too */
    gw_hpos big = {UINT64_MAX, "abcdefghijklmnopabcdefghijklmnop"};
    size_t cap = gw_frame_envelope_cap(1, 1);
    char *b = malloc(cap);
    ck_assert_int_gt(gw_frame_envelope_pos(b, cap, "c", 1, &big, "1", 1), 0);
    free(b);

    gw_frame_subscribed_pos(buf, sizeof buf, "c", &pos, true);
    ck_assert_str_eq(buf, "{\"op\":\"subscribed\",\"channel\":\"c\",\"offset\":42,\"epoch\":\"x7QpAb12\",\"recovered\":true}");
    gw_frame_subscribed_pos(buf, sizeof buf, "c", &none, false);
    ck_assert_str_eq(buf, "{\"op\":\"subscribed\",\"channel\":\"c\",\"offset\":0,\"epoch\":\"\",\"recovered\":false}");

    gw_frame_gap_range(buf, sizeof buf, "c", 17, 20, "dropped");
    ck_assert_str_eq(buf, "{\"op\":\"gap\",\"channel\":\"c\",\"from\":17,\"to\":20,\"reason\":\"dropped\"}");
    gw_frame_gap_range(buf, sizeof buf, "c", 0, 0, "dropped");
    ck_assert_str_eq(buf, "{\"op\":\"gap\",\"channel\":\"c\",\"reason\":\"dropped\"}");
    gw_frame_gap_range(buf, sizeof buf, "c", 5, 0, "redis_reconnect");
    ck_assert_str_eq(buf, "{\"op\":\"gap\",\"channel\":\"c\",\"from\":5,\"reason\":\"redis_reconnect\"}");

    gw_hentry e[2] = {{41, "{\"a\":1}", 7}, {42, "\"x\"", 3}};
    cap = gw_frame_history_cap(1, e, 2);
    b = malloc(cap);
    n = gw_frame_history(b, cap, "c", &pos, e, 2);
    ck_assert_str_eq(b, "{\"op\":\"history\",\"channel\":\"c\",\"offset\":42,\"epoch\":\"x7QpAb12\",\"events\":["
                        "{\"offset\":41,\"data\":{\"a\":1}},{\"offset\":42,\"data\":\"x\"}]}");
    ck_assert_int_eq(n, (int)strlen(b));
    ck_assert_int_eq(gw_frame_history(b, cap, "c", &pos, e, 0), (int)strlen(b));
    ck_assert_str_eq(b, "{\"op\":\"history\",\"channel\":\"c\",\"offset\":42,\"epoch\":\"x7QpAb12\",\"events\":[]}");
    free(b);
}
END_TEST

START_TEST(test_escaper)
{
    char out[64];
    ck_assert_int_eq(gw_json_quote("a\n\"\\\x01", 5, out, sizeof out), 15);
    ck_assert_str_eq(out, "\"a\\n\\\"\\\\\\u0001\"");
    ck_assert_int_eq(gw_json_quote("caf\xc3\xa9", 5, out, sizeof out), 7); /* valid UTF-8 kept */
    ck_assert_str_eq(out, "\"caf\xc3\xa9\"");
    ck_assert_int_eq(gw_json_quote("", 0, out, sizeof out), 2);
    ck_assert_int_eq(gw_json_quote("abc", 3, out, 5), -1); /* 5 bytes + NUL */
    ck_assert_int_eq(gw_json_quote("abc", 3, out, 6), 5);
}
END_TEST

START_TEST(test_writer_overflow_sticks)
{
    char buf[8];
    gw_frame_buf f;
    gw_frame_begin(&f, buf, sizeof buf);
    gw_frame_lit(&f, "abcdefghij"); /* does not fit */
    gw_frame_lit(&f, "x");          /* would fit, ignored after an overflow */
    ck_assert_int_eq(gw_frame_end(&f), -1);
    ck_assert_str_eq(buf, "");
    gw_frame_begin(&f, buf, sizeof buf);
    gw_frame_u64(&f, 1234567);
    ck_assert_int_eq(gw_frame_end(&f), 7);
    ck_assert_str_eq(buf, "1234567");
    gw_frame_begin(&f, NULL, 0);
    ck_assert_int_eq(gw_frame_end(&f), -1);
}
END_TEST

START_TEST(test_presence_frames)
{
    char buf[512];
    ck_assert_int_gt(gw_frame_presence_entry(buf, sizeof buf, "gw-1", 17, "u1", NULL, 0), 0);
    ck_assert_str_eq(buf, "{\"client\":\"gw-1:17\",\"user\":\"u1\",\"node\":\"gw-1\"}");
    const char info[] = "{\"name\":\"A\"}";
    ck_assert_int_gt(gw_frame_presence_entry(buf, sizeof buf, "gw-1", 3, NULL, info, strlen(info)), 0);
    ck_assert_str_eq(buf, "{\"client\":\"gw-1:3\",\"user\":\"\",\"node\":\"gw-1\",\"info\":{\"name\":\"A\"}}");
    ck_assert_int_gt(gw_frame_presence_entry(buf, sizeof buf, "gw-1", 3, "a\"b", NULL, 0), 0);
    ck_assert_ptr_nonnull(strstr(buf, "\"user\":\"a\\\"b\""));
    ck_assert_int_eq(gw_frame_presence_entry(buf, 20, "gw-1", 3, "u", NULL, 0), -1);

    const char *e[] = {"{\"client\":\"a:1\"}", "{\"client\":\"b:2\"}"};
    size_t lens[] = {strlen(e[0]), strlen(e[1])};
    size_t cap = gw_frame_presence_cap(4, lens[0] + lens[1], 2);
    int n = gw_frame_presence(buf, cap, "room", e, lens, 2);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_le((size_t)n + 1, cap);
    ck_assert_str_eq(buf, "{\"op\":\"presence\",\"channel\":\"room\",\"clients\":[{\"client\":\"a:1\"},{\"client\":\"b:2\"}]}");
    n = gw_frame_presence(buf, gw_frame_presence_cap(4, 0, 0), "room", NULL, NULL, 0);
    ck_assert_str_eq(buf, "{\"op\":\"presence\",\"channel\":\"room\",\"clients\":[]}");
    ck_assert_int_gt(gw_frame_presence_stats(buf, sizeof buf, "room", 100000, 3), 0);
    ck_assert_str_eq(buf, "{\"op\":\"presence_stats\",\"channel\":\"room\",\"clients\":100000,\"users\":3}");
}
END_TEST

/* issue 13.12: a refused handshake is an HTTP/1.1 answer with a JSON body */
START_TEST(test_http_refusal)
{
    char buf[1024];
    int n = gw_frame_http_refusal(buf, sizeof buf, 401, "unauthorized", "bad \"token\"");
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq((int)strlen(buf), n);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 401 Unauthorized\r\n", 26) == 0, "%s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "content-type: application/json\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "www-authenticate: Bearer\r\n"));
    const char *body = strstr(buf, "\r\n\r\n") + 4;
    ck_assert_str_eq(body, "{\"error\":\"unauthorized\",\"reason\":\"bad \\\"token\\\"\"}\n");
    char cl[64];
    snprintf(cl, sizeof cl, "content-length: %zu\r\n", strlen(body));
    ck_assert_ptr_nonnull(strstr(buf, cl));
    ck_assert_int_gt(gw_frame_http_refusal(buf, sizeof buf, 418, "x", "y"), 0);
    ck_assert_msg(strncmp(buf, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", buf);
    ck_assert_int_eq(gw_frame_http_refusal(buf, 40, 429, "too_many_connections", "too many"), -1);
    ck_assert_str_eq(buf, "");
}
END_TEST

Suite *ts_suite(void)
{
    return ts_suite_of("frame", "core", 0, test_envelope, test_control_frames, test_history_frames,
                       test_escaper, test_writer_overflow_sticks, test_http_refusal,
                       test_presence_frames);
}
