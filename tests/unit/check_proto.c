/*
 * check_proto.c - unit tests for gateway/gw_proto.c: every client op, every error
 * with its code and exact reason, the ?channels= list, and the control frames the
 * gateway writes (exact bytes, escaping, buffer limits).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_frame.h"
#include "ts_check.h"
#include "gw_proto.h"

/* ---- gw_proto_parse: valid frames ---- */

typedef struct {
    const char *frame;
    gw_op op;
    const char *channel;
    bool is_pattern;
} ok_case;

static const char ch128[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static const ok_case ok_cases[] = {
    {"{\"op\":\"subscribe\",\"channel\":\"feed:user-42\"}", GW_OP_SUBSCRIBE, "feed:user-42", false},
    {"{\"op\":\"unsubscribe\",\"channel\":\"feed:user-42\"}", GW_OP_UNSUBSCRIBE, "feed:user-42", false},
    {"{\"op\":\"ping\"}", GW_OP_PING, "", false},
    {"{\"op\":\"subscribe\",\"channel\":\"events.*\"}", GW_OP_SUBSCRIBE, "events.*", true},
    {"{\"op\":\"unsubscribe\",\"channel\":\"*\"}", GW_OP_UNSUBSCRIBE, "*", true},
    {"{\"op\":\"subscribe\",\"channel\":\"A-z_0.9:@-\"}", GW_OP_SUBSCRIBE, "A-z_0.9:@-", false},
    /* key order, whitespace, escapes, extra keys */
    {" {\n \"channel\" : \"a\" ,\t\"op\" : \"subscribe\" } \n", GW_OP_SUBSCRIBE, "a", false},
    {"{\"op\":\"subscribe\",\"channel\":\"a\\u002eb\"}", GW_OP_SUBSCRIBE, "a.b", false},
    {"{\"op\":\"subscribe\",\"channel\":\"x\",\"id\":7,\"meta\":{\"a\":[1,2]}}", GW_OP_SUBSCRIBE, "x", false},
    /* ping ignores a channel, even a bad one */
    {"{\"op\":\"ping\",\"channel\":\"not valid\"}", GW_OP_PING, "", false},
    {"{\"op\":\"ping\",\"channel\":5}", GW_OP_PING, "", false},
};

START_TEST(test_parse_ok)
{
    const ok_case *tc = &ok_cases[_i];
    gw_command cmd;
    const char *code = NULL;
    char reason[128] = "untouched";
    int rc = gw_proto_parse(tc->frame, strlen(tc->frame), &cmd, &code, reason, sizeof reason);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, reason);
    ck_assert_int_eq(cmd.op, tc->op);
    ck_assert_str_eq(cmd.channel, tc->channel);
    ck_assert_int_eq(cmd.is_pattern, tc->is_pattern);
}
END_TEST

START_TEST(test_parse_longest_channel)
{
    char frame[256];
    gw_command cmd;
    const char *code;
    char reason[128];
    ck_assert_uint_eq(strlen(ch128), 128);
    int n = snprintf(frame, sizeof frame, "{\"op\":\"subscribe\",\"channel\":\"%s\"}", ch128);
    ck_assert_int_eq(gw_proto_parse(frame, (size_t)n, &cmd, &code, reason, sizeof reason), 0);
    ck_assert_str_eq(cmd.channel, ch128);
    /* one more byte is too long */
    n = snprintf(frame, sizeof frame, "{\"op\":\"subscribe\",\"channel\":\"%sx\"}", ch128);
    ck_assert_int_eq(gw_proto_parse(frame, (size_t)n, &cmd, &code, reason, sizeof reason), -1);
    ck_assert_str_eq(code, "bad_request");
    ck_assert_str_eq(reason, "bad channel name: must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'");
}
END_TEST

START_TEST(test_parse_uses_len_not_nul)
{
    /* the frame is not NUL-terminated: only len bytes count */
    const char buf[] = "{\"op\":\"ping\"}GARBAGE";
    gw_command cmd;
    const char *code;
    char reason[128];
    ck_assert_int_eq(gw_proto_parse(buf, 13, &cmd, &code, reason, sizeof reason), 0);
    ck_assert_int_eq(cmd.op, GW_OP_PING);
    ck_assert_int_eq(gw_proto_parse(buf, 12, &cmd, &code, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "malformed JSON at column 12: unexpected end of input");
}
END_TEST

/* ---- gw_proto_parse: errors ---- */

typedef struct {
    const char *frame;
    size_t len; /* 0: strlen */
    const char *reason;
} err_case;

static const err_case err_cases[] = {
    {"", 0, "malformed JSON: empty frame"},
    {"{", 0, "malformed JSON at column 1: unexpected end of input"},
    {"{\"op\":\"ping\"", 0, "malformed JSON at column 12: unexpected end of input"},
    {"{'op':'ping'}", 0, "malformed JSON at column 2"},
    {"{\"op\":\"ping\",}", 0, "malformed JSON at column 14"},
    {"{\"op\":\"ping\"} {}", 0, "malformed JSON at column 15: trailing data"},
    {"{\"op\":\"ping\"}\n\n{", 0, "malformed JSON at line 3 column 1: trailing data"},
    {"{\"op\":\"ping\",\"op\":\"ping\"}", 0, "malformed JSON at column 17: duplicate key"},
    {"{\"op\":\"\xff\"}", 0, "malformed JSON at column 7: invalid UTF-8"},
    {"{\"op\":\"subscribe\",\"channel\":\"a\\u0000b\"}", 0, "malformed JSON at column 38: NUL character"},
    {"{\"op\":\"ping\"\0}", 14, "malformed JSON at column 13: unexpected end of input"}, /* a raw NUL */
    {"subscribe", 0, "malformed JSON at column 9"},
    /* not an object */
    {"[\"ping\"]", 0, "a command must be a JSON object"},
    {"\"ping\"", 0, "a command must be a JSON object"},
    {"null", 0, "a command must be a JSON object"},
    {"42", 0, "a command must be a JSON object"},
    /* op */
    {"{}", 0, "missing \"op\""},
    {"{\"OP\":\"ping\"}", 0, "missing \"op\""},
    {"{\"op\":1}", 0, "\"op\" must be a string"},
    {"{\"op\":null}", 0, "\"op\" must be a string"},
    {"{\"op\":[\"ping\"]}", 0, "\"op\" must be a string"},
    {"{\"op\":\"foo\"}", 0, "unknown op 'foo'"},
    {"{\"op\":\"\"}", 0, "unknown op ''"},
    {"{\"op\":\"PING\"}", 0, "unknown op 'PING'"},
    {"{\"op\":\"Subscribe\",\"channel\":\"a\"}", 0, "unknown op 'Subscribe'"},
    {"{\"op\":\"subscribe \",\"channel\":\"a\"}", 0, "unknown op 'subscribe '"},
    /* at most 32 bytes of the op are quoted */
    {"{\"op\":\"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\"}", 0,
     "unknown op 'abcdefghijklmnopqrstuvwxyz012345...'"},
    /* non-printable and non-ASCII bytes become '?'; quotes are kept (escaped later) */
    {"{\"op\":\"a\\\"b\\u00e9\\n\"}", 0, "unknown op 'a\"b\?\?\?'"},
    /* channel */
    {"{\"op\":\"subscribe\"}", 0, "missing \"channel\""},
    {"{\"op\":\"unsubscribe\",\"chan\":\"a\"}", 0, "missing \"channel\""},
    {"{\"op\":\"subscribe\",\"channel\":5}", 0, "\"channel\" must be a string"},
    {"{\"op\":\"unsubscribe\",\"channel\":null}", 0, "\"channel\" must be a string"},
    {"{\"op\":\"subscribe\",\"channel\":[\"a\"]}", 0, "\"channel\" must be a string"},
    {"{\"op\":\"subscribe\",\"channel\":\"\"}", 0,
     "bad channel name: must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"{\"op\":\"subscribe\",\"channel\":\"a b\"}", 0,
     "bad channel name: must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"{\"op\":\"subscribe\",\"channel\":\"a,b\"}", 0,
     "bad channel name: must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"{\"op\":\"subscribe\",\"channel\":\"caf\\u00e9\"}", 0,
     "bad channel name: must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"{\"op\":\"unsubscribe\",\"channel\":\"a/b\"}", 0,
     "bad channel name: must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    /* since and history */
    {"{\"op\":\"subscribe\",\"channel\":\"a\",\"since\":5}", 0,
     "\"since\" must be {\"offset\":N,\"epoch\":\"...\"}"},
    {"{\"op\":\"subscribe\",\"channel\":\"a\",\"since\":{\"offset\":1,\"epoch\":\"e\",\"x\":1}}", 0,
     "\"since\" must be {\"offset\":N,\"epoch\":\"...\"}"},
    {"{\"op\":\"subscribe\",\"channel\":\"a\",\"since\":{\"offset\":-1,\"epoch\":\"e\"}}", 0,
     "\"since\".\"offset\" must be an integer >= 0"},
    {"{\"op\":\"subscribe\",\"channel\":\"a\",\"since\":{\"offset\":\"1\",\"epoch\":\"e\"}}", 0,
     "\"since\".\"offset\" must be an integer >= 0"},
    {"{\"op\":\"subscribe\",\"channel\":\"a\",\"since\":{\"offset\":1.5,\"epoch\":\"e\"}}", 0,
     "\"since\".\"offset\" must be an integer >= 0"},
    {"{\"op\":\"subscribe\",\"channel\":\"a\",\"since\":{\"offset\":1}}", 0,
     "\"since\".\"epoch\" must be 1-32 of [A-Za-z0-9_-]"},
    {"{\"op\":\"subscribe\",\"channel\":\"a\",\"since\":{\"offset\":1,\"epoch\":\"\"}}", 0,
     "\"since\".\"epoch\" must be 1-32 of [A-Za-z0-9_-]"},
    {"{\"op\":\"subscribe\",\"channel\":\"a\",\"since\":{\"offset\":1,\"epoch\":\"a b\"}}", 0,
     "\"since\".\"epoch\" must be 1-32 of [A-Za-z0-9_-]"},
    {"{\"op\":\"subscribe\",\"channel\":\"a.*\",\"since\":{\"offset\":1,\"epoch\":\"e\"}}", 0,
     "\"since\" needs a channel, not a pattern"},
    {"{\"op\":\"history\",\"channel\":\"a.*\"}", 0, "history needs a channel, not a pattern"},
    {"{\"op\":\"history\"}", 0, "missing \"channel\""},
    {"{\"op\":\"history\",\"channel\":\"a\",\"limit\":0}", 0, "\"limit\" must be an integer from 1 to 1000000"},
    {"{\"op\":\"history\",\"channel\":\"a\",\"limit\":1000001}", 0,
     "\"limit\" must be an integer from 1 to 1000000"},
    {"{\"op\":\"history\",\"channel\":\"a\",\"limit\":\"5\"}", 0,
     "\"limit\" must be an integer from 1 to 1000000"},
    {"{\"op\":\"history\",\"channel\":\"a\",\"reverse\":1}", 0, "\"reverse\" must be true or false"},
};

START_TEST(test_parse_errors)
{
    const err_case *tc = &err_cases[_i];
    gw_command cmd;
    const char *code = NULL;
    char reason[128] = "";
    size_t len = tc->len ? tc->len : strlen(tc->frame);
    memset(&cmd, 0x5a, sizeof cmd);
    ck_assert_int_eq(gw_proto_parse(tc->frame, len, &cmd, &code, reason, sizeof reason), -1);
    ck_assert_ptr_nonnull(code);
    ck_assert_str_eq(code, "bad_request");
    ck_assert_str_eq(reason, tc->reason);
    ck_assert_int_eq(cmd.op, 0);
    ck_assert_str_eq(cmd.channel, "");

    /* the reason goes into an error frame that is valid JSON and gives it back */
    char frame[512];
    int n = gw_frame_error(frame, sizeof frame, code, reason);
    ck_assert_int_gt(n, 0);
    json_error_t jerr;
    json_t *j = json_loadb(frame, (size_t)n, 0, &jerr);
    ck_assert_msg(j != NULL, "not JSON: %s (%s)", frame, jerr.text);
    ck_assert_str_eq(json_string_value(json_object_get(j, "op")), "error");
    ck_assert_str_eq(json_string_value(json_object_get(j, "code")), "bad_request");
    ck_assert_str_eq(json_string_value(json_object_get(j, "reason")), tc->reason);
    json_decref(j);
}
END_TEST

START_TEST(test_parse_reason_cap)
{
    gw_command cmd;
    const char *code;
    char reason[8];
    const char f[] = "{\"op\":\"foo\"}";
    ck_assert_int_eq(gw_proto_parse(f, strlen(f), &cmd, &code, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "unknown"); /* cut to the buffer, NUL-terminated */
    /* no reason buffer at all is allowed */
    ck_assert_int_eq(gw_proto_parse(f, strlen(f), &cmd, &code, NULL, 0), -1);
    ck_assert_str_eq(code, "bad_request");
}
END_TEST

START_TEST(test_parse_never_echoes_much)
{
    /* a huge op: the reason stays short whatever the input */
    size_t n = 100000;
    char *f = malloc(n + 32);
    ck_assert_ptr_nonnull(f);
    int p = snprintf(f, n + 32, "{\"op\":\"");
    memset(f + p, 'A', n);
    memcpy(f + p + n, "\"}", 3);
    gw_command cmd;
    const char *code;
    char reason[256];
    ck_assert_int_eq(gw_proto_parse(f, strlen(f), &cmd, &code, reason, sizeof reason), -1);
    ck_assert_uint_le(strlen(reason), 64);
    ck_assert_str_eq(reason, "unknown op 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA...'");
    free(f);
}
END_TEST

/* ---- gw_proto_parse_channel_list ---- */

typedef struct {
    char names[16][PULSE_CHANNEL_MAX + 1];
    bool pattern[16];
    int n;
    int stop_at; /* return -7 on this call (1-based); 0: never */
} collect;

static int collect_cb(void *ud, const char *channel, bool is_pattern)
{
    collect *c = ud;
    ck_assert_int_lt(c->n, 16);
    snprintf(c->names[c->n], sizeof c->names[c->n], "%s", channel);
    c->pattern[c->n] = is_pattern;
    c->n++;
    return c->n == c->stop_at ? -7 : 0;
}

typedef struct {
    const char *list;
    int rc;
    const char *joined; /* names seen, joined with '|', patterns marked with '!' */
    const char *reason;
} list_case;

static const list_case list_cases[] = {
    {"a,b,c", 0, "a|b|c", NULL},
    {"events.critical,feed:user-42", 0, "events.critical|feed:user-42", NULL},
    {"a%2Cb%2cc", 0, "a|b|c", NULL},
    {"a,b%2Cc", 0, "a|b|c", NULL},
    {"feed%3Auser-42", 0, "feed:user-42", NULL},       /* percent-encoded ':' */
    {"events.*,alerts%2A", 0, "events.*!|alerts*!", NULL},
    {"single", 0, "single", NULL},
    {"", 0, "", NULL},
    {",", 0, "", NULL},
    {"a,,b,", 0, "a|b", NULL},
    {"%2C%2Ca", 0, "a", NULL},
    {"a,b c,d", -1, "a", "bad channel name 'b c': must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"a%2Cb c", -1, "a", "bad channel name 'b c': must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"a,%zz", -1, "a", "bad channel name '%zz': must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"a,b%2", -1, "a", "bad channel name 'b%2': must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"x%00y", -1, "", "bad channel name 'x%00y': must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"x%20y", -1, "", "bad channel name 'x%20y': must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"a/b", -1, "", "bad channel name 'a/b': must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"ok,\"quoted\"", -1, "ok", "bad channel name '\"quoted\"': must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
    {"caf\xc3\xa9", -1, "", "bad channel name 'caf\?\?': must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'"},
};

START_TEST(test_channel_list)
{
    const list_case *tc = &list_cases[_i];
    collect c;
    char reason[160] = "";
    char joined[512] = "";
    memset(&c, 0, sizeof c);
    int rc = gw_proto_parse_channel_list(tc->list, strlen(tc->list), collect_cb, &c, reason, sizeof reason);
    ck_assert_int_eq(rc, tc->rc);
    for (int i = 0; i < c.n; i++) {
        size_t l = strlen(joined);
        snprintf(joined + l, sizeof joined - l, "%s%s%s", i ? "|" : "", c.names[i], c.pattern[i] ? "!" : "");
    }
    ck_assert_str_eq(joined, tc->joined);
    if (tc->reason)
        ck_assert_str_eq(reason, tc->reason);
}
END_TEST

START_TEST(test_channel_list_lengths)
{
    collect c;
    char reason[160];
    char list[512];

    /* len bounds the input: "a,b" seen as "a" */
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(gw_proto_parse_channel_list("a,b", 1, collect_cb, &c, reason, sizeof reason), 0);
    ck_assert_int_eq(c.n, 1);
    ck_assert_str_eq(c.names[0], "a");
    /* "a%2C" cut to "a%2": a bad escape, not a separator */
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(gw_proto_parse_channel_list("a%2Cb", 3, collect_cb, &c, reason, sizeof reason), -1);
    ck_assert_int_eq(c.n, 0);

    /* 128 bytes pass, 129 do not; the quote is cut at 32 bytes */
    memset(&c, 0, sizeof c);
    snprintf(list, sizeof list, "%s,x", ch128);
    ck_assert_int_eq(gw_proto_parse_channel_list(list, strlen(list), collect_cb, &c, reason, sizeof reason), 0);
    ck_assert_int_eq(c.n, 2);
    ck_assert_str_eq(c.names[0], ch128);
    memset(&c, 0, sizeof c);
    snprintf(list, sizeof list, "x,%sy", ch128);
    ck_assert_int_eq(gw_proto_parse_channel_list(list, strlen(list), collect_cb, &c, reason, sizeof reason), -1);
    ck_assert_int_eq(c.n, 1);
    ck_assert_str_eq(reason, "bad channel name '0123456789abcdef0123456789abcdef...': "
                             "must be 1-128 bytes of [A-Za-z0-9._:@-] or '*'");
    /* 128 bytes once decoded, more before: fine */
    memset(&c, 0, sizeof c);
    snprintf(list, sizeof list, "%.125s%%3A%%2A", ch128);
    ck_assert_int_eq(gw_proto_parse_channel_list(list, strlen(list), collect_cb, &c, reason, sizeof reason), 0);
    ck_assert_int_eq(c.n, 1);
    ck_assert_uint_eq(strlen(c.names[0]), 127);
    ck_assert(c.pattern[0]);
}
END_TEST

START_TEST(test_channel_list_cb_stops)
{
    collect c;
    char reason[160] = "";
    memset(&c, 0, sizeof c);
    c.stop_at = 2;
    ck_assert_int_eq(gw_proto_parse_channel_list("a,b,c", 5, collect_cb, &c, reason, sizeof reason), -7);
    ck_assert_int_eq(c.n, 2);
    ck_assert_str_eq(c.names[1], "b");
    ck_assert_str_eq(reason, "channel 'b' not accepted");
}
END_TEST

/* ---- since and history ---- */

START_TEST(test_parse_since_history)
{
    gw_command cmd;
    const char *code = NULL;
    char reason[128] = "";
    const char *f = "{\"op\":\"subscribe\",\"channel\":\"c\",\"since\":{\"offset\":40,\"epoch\":\"x7QpAb12\"}}";
    ck_assert_int_eq(gw_proto_parse(f, strlen(f), &cmd, &code, reason, sizeof reason), 0);
    ck_assert_int_eq(cmd.op, GW_OP_SUBSCRIBE);
    ck_assert(cmd.has_since);
    ck_assert_uint_eq(cmd.since.offset, 40);
    ck_assert_str_eq(cmd.since.epoch, "x7QpAb12");

    f = "{\"op\":\"subscribe\",\"channel\":\"c\"}";
    ck_assert_int_eq(gw_proto_parse(f, strlen(f), &cmd, &code, reason, sizeof reason), 0);
    ck_assert(!cmd.has_since);

    f = "{\"op\":\"history\",\"channel\":\"feed:u-1\",\"limit\":50}";
    ck_assert_int_eq(gw_proto_parse(f, strlen(f), &cmd, &code, reason, sizeof reason), 0);
    ck_assert_int_eq(cmd.op, GW_OP_HISTORY);
    ck_assert_str_eq(cmd.channel, "feed:u-1");
    ck_assert_uint_eq(cmd.limit, 50);
    ck_assert(!cmd.reverse);
    ck_assert(!cmd.has_since);

    f = "{\"op\":\"history\",\"channel\":\"c\",\"reverse\":true,\"since\":{\"offset\":0,\"epoch\":\"E\"}}";
    ck_assert_int_eq(gw_proto_parse(f, strlen(f), &cmd, &code, reason, sizeof reason), 0);
    ck_assert_uint_eq(cmd.limit, 0); /* the node's default */
    ck_assert(cmd.reverse);
    ck_assert(cmd.has_since);
    ck_assert_uint_eq(cmd.since.offset, 0);
}
END_TEST

typedef struct {
    int n, stop_at;
    char joined[512];
} since_collect;

static int since_cb(void *ud, const char *channel, const gw_hpos *since)
{
    since_collect *c = ud;
    size_t l = strlen(c->joined);
    snprintf(c->joined + l, sizeof c->joined - l, "%s%s@%llu/%s", c->n ? "|" : "", channel,
             (unsigned long long)since->offset, since->epoch);
    c->n++;
    return c->n == c->stop_at ? -7 : 0;
}

static const struct {
    const char *list;
    int rc;
    const char *joined;
    const char *reason;
} since_cases[] = {
    {"events.critical:41:x7QpAb12", 0, "events.critical@41/x7QpAb12", NULL},
    {"feed:user-42:0:E,alerts.disk:9:F", 0, "feed:user-42@0/E|alerts.disk@9/F", NULL}, /* ':' in a name */
    {"a:1:E%2Cb%3A2%3AF", 0, "a@1/E|b@2/F", NULL},
    {",,a:1:E,", 0, "a@1/E", NULL},
    {"", 0, "", NULL},
    {"a:1:E,b:1", -1, "a@1/E", "bad since item 'b:1': must be channel:offset:epoch"},
    {"a::E", -1, "", "bad since item 'a::E': must be channel:offset:epoch"},
    {":1:E", -1, "", "bad since item ':1:E': must be channel:offset:epoch"},
    {"a:01:E", -1, "", "bad since item 'a:01:E': must be channel:offset:epoch"},
    {"a:-1:E", -1, "", "bad since item 'a:-1:E': must be channel:offset:epoch"},
    {"a:1:", -1, "", "bad since item 'a:1:': must be channel:offset:epoch"},
    {"a:1:E!", -1, "", "bad since item 'a:1:E!': must be channel:offset:epoch"},
    {"a*:1:E", -1, "", "bad since item 'a*:1:E': must be channel:offset:epoch"},
    {"a b:1:E", -1, "", "bad since item 'a b:1:E': must be channel:offset:epoch"},
    {"a:99999999999999999999:E", -1, "", "bad since item 'a:99999999999999999999:E': must be channel:offset:epoch"},
    {"a:9223372036854775808:E", -1, "", "bad since item 'a:9223372036854775808:E': must be channel:offset:epoch"},
    {"a:1:E%00", -1, "", "bad since item 'a:1:E%00': must be channel:offset:epoch"},
};

START_TEST(test_since_list)
{
    since_collect c;
    memset(&c, 0, sizeof c);
    char reason[160] = "";
    const char *list = since_cases[_i].list;
    int rc = gw_proto_parse_since_list(list, strlen(list), since_cb, &c, reason, sizeof reason);
    ck_assert_msg(rc == since_cases[_i].rc, "case %d: rc %d (%s)", _i, rc, reason);
    ck_assert_str_eq(c.joined, since_cases[_i].joined);
    if (since_cases[_i].reason)
        ck_assert_str_eq(reason, since_cases[_i].reason);
}
END_TEST

START_TEST(test_since_list_cb_stops)
{
    since_collect c;
    memset(&c, 0, sizeof c);
    c.stop_at = 1;
    char reason[160] = "";
    ck_assert_int_eq(gw_proto_parse_since_list("a:1:E,b:2:F", 11, since_cb, &c, reason, sizeof reason), -7);
    ck_assert_int_eq(c.n, 1);
    ck_assert_str_eq(reason, "since for 'a' not accepted");
    /* a channel of 128 bytes with the longest offset and epoch still fits */
    char list[512];
    snprintf(list, sizeof list, "%s:9223372036854775807:%s", ch128, "abcdefghijklmnopabcdefghijklmnop");
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(gw_proto_parse_since_list(list, strlen(list), since_cb, &c, reason, sizeof reason), 0);
    ck_assert_int_eq(c.n, 1);
}
END_TEST

/* ---- control frames ---- */

START_TEST(test_reply)
{
    static const struct {
        const char *op, *channel, *want;
    } cases[] = {
        {"subscribed", "feed:user-42", "{\"op\":\"subscribed\",\"channel\":\"feed:user-42\"}"},
        {"unsubscribed", "events.*", "{\"op\":\"unsubscribed\",\"channel\":\"events.*\"}"},
        {"pong", NULL, "{\"op\":\"pong\"}"},
        /* escaping applies to the channel too */
        {"subscribed", "a\"b\\c", "{\"op\":\"subscribed\",\"channel\":\"a\\\"b\\\\c\"}"},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = gw_frame_reply(buf, sizeof buf, cases[i].op, cases[i].channel);
        ck_assert_str_eq(buf, cases[i].want);
        ck_assert_int_eq(n, (int)strlen(cases[i].want));
    }
}
END_TEST

typedef struct {
    const char *code;
    const char *reason;
    const char *want;
} errfmt_case;

static const errfmt_case errfmt_cases[] = {
    {"bad_request", "missing \"op\"", "{\"op\":\"error\",\"code\":\"bad_request\",\"reason\":\"missing \\\"op\\\"\"}"},
    {"forbidden", "no", "{\"op\":\"error\",\"code\":\"forbidden\",\"reason\":\"no\"}"},
    {"limit", "", "{\"op\":\"error\",\"code\":\"limit\",\"reason\":\"\"}"},
    {"x", "back\\slash", "{\"op\":\"error\",\"code\":\"x\",\"reason\":\"back\\\\slash\"}"},
    {"x", "a\nb\rc\td\be\ff", "{\"op\":\"error\",\"code\":\"x\",\"reason\":\"a\\nb\\rc\\td\\be\\ff\"}"},
    {"x", "\x01\x1f\x7f", "{\"op\":\"error\",\"code\":\"x\",\"reason\":\"\\u0001\\u001f\x7f\"}"},
    {"x", "/<script>", "{\"op\":\"error\",\"code\":\"x\",\"reason\":\"/<script>\"}"},
    /* valid UTF-8 passes as is; invalid bytes become U+FFFD */
    {"x", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "{\"op\":\"error\",\"code\":\"x\",\"reason\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}"},
    {"x", "a\xff" "b", "{\"op\":\"error\",\"code\":\"x\",\"reason\":\"a\\ufffdb\"}"},
    {"x", "a\xc3", "{\"op\":\"error\",\"code\":\"x\",\"reason\":\"a\\ufffd\"}"},
    {"x", "\xc0\xaf", "{\"op\":\"error\",\"code\":\"x\",\"reason\":\"\\ufffd\\ufffd\"}"},         /* overlong */
    {"x", "\xed\xa0\x80", "{\"op\":\"error\",\"code\":\"x\",\"reason\":\"\\ufffd\\ufffd\\ufffd\"}"}, /* surrogate */
    {"q\"", "r", "{\"op\":\"error\",\"code\":\"q\\\"\",\"reason\":\"r\"}"},
};

START_TEST(test_error_format)
{
    const errfmt_case *tc = &errfmt_cases[_i];
    char buf[256];
    int n = gw_frame_error(buf, sizeof buf, tc->code, tc->reason);
    ck_assert_str_eq(buf, tc->want);
    ck_assert_int_eq(n, (int)strlen(tc->want));
    /* and it is valid JSON */
    json_error_t jerr;
    json_t *j = json_loadb(buf, (size_t)n, 0, &jerr);
    ck_assert_msg(j != NULL, "%s: %s", buf, jerr.text);
    json_decref(j);
}
END_TEST

START_TEST(test_format_cap)
{
    char buf[64];
    const char *want = "{\"op\":\"pong\"}"; /* 13 bytes */
    ck_assert_int_eq(gw_frame_reply(buf, 14, "pong", NULL), 13);
    ck_assert_str_eq(buf, want);
    memset(buf, 'x', sizeof buf);
    ck_assert_int_eq(gw_frame_reply(buf, 13, "pong", NULL), -1); /* no room for the NUL */
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(gw_frame_reply(buf, 0, "pong", NULL), -1);
    ck_assert_int_eq(buf[0], '\0');

    /* escaping counts: 10 quotes need 20 bytes */
    const char *want2 = "{\"op\":\"error\",\"code\":\"c\",\"reason\":\"\\\"\\\"\\\"\"}";
    size_t l2 = strlen(want2);
    ck_assert_int_eq(gw_frame_error(buf, l2 + 1, "c", "\"\"\""), (int)l2);
    ck_assert_str_eq(buf, want2);
    ck_assert_int_eq(gw_frame_error(buf, l2, "c", "\"\"\""), -1);
    ck_assert_str_eq(buf, "");
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("gw_proto");
    TCase *tc;

    tc = ts_tcase(s, "parse", 0);
    tcase_add_loop_test(tc, test_parse_ok, 0, N_ELEMS(ok_cases));
    ts_add_tests(tc, test_parse_longest_channel, test_parse_uses_len_not_nul);
    tcase_add_loop_test(tc, test_parse_errors, 0, N_ELEMS(err_cases));
    ts_add_tests(tc, test_parse_reason_cap, test_parse_never_echoes_much);

    tc = ts_tcase(s, "channel_list", 0);
    tcase_add_loop_test(tc, test_channel_list, 0, N_ELEMS(list_cases));
    ts_add_tests(tc, test_channel_list_lengths, test_channel_list_cb_stops, test_parse_since_history);
    tcase_add_loop_test(tc, test_since_list, 0, N_ELEMS(since_cases));
    ts_add_tests(tc, test_since_list_cb_stops);

    tc = ts_tcase(s, "format", 0);
    tcase_add_test(tc, test_reply);
    tcase_add_loop_test(tc, test_error_format, 0, N_ELEMS(errfmt_cases));
    tcase_add_test(tc, test_format_cap);
    return s;
}
