/*
 * check_event.c - unit tests for the event schema: pulse_event_parse (valid events,
 * each missing field, wrong types, size limit, ms-only timestamps, priorities),
 * the built-in channel priority rule pulse_priority_for_channel, pulse_event_format
 * (round trip through parse, escaping, buffer limits) and the
 * allocation-free envelope scanner pulse_delivery_scan (key order, whitespace, nested
 * data, control frames, truncated and malformed input).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts_check.h"
#include "pulse_event.h"

#define UUID1 "0b9e7a4c-3f1d-4c2e-9a8b-1234567890ab"
#define GOOD_EVENT                                                                     \
    "{\"event_id\":\"" UUID1 "\",\"event_type\":\"SERVER_DOWN\",\"source\":\"server-a\","    \
    "\"sequence\":7,\"published_at_ms\":1768068834227,\"published_at_us\":1768068834227123," \
    "\"priority\":\"critical\",\"data\":{\"k\":[1,2,{\"x\":\"}\"}]}}"

static int parse_str(const char *s, pulse_event *ev, pulse_error *err)
{
    return pulse_event_parse(s, strlen(s), ev, err);
}

START_TEST(test_parse_good)
{
    pulse_event ev;
    pulse_error err = {0};
    ck_assert_int_eq(parse_str(GOOD_EVENT, &ev, &err), 0);
    ck_assert_str_eq(ev.event_id, UUID1);
    ck_assert_str_eq(ev.event_type, "SERVER_DOWN");
    ck_assert_str_eq(ev.source, "server-a");
    ck_assert_uint_eq(ev.sequence, 7);
    ck_assert_int_eq(ev.published_at_us, 1768068834227123LL);
    ck_assert_int_eq(ev.priority, PULSE_PRIO_CRITICAL);
}
END_TEST

START_TEST(test_parse_not_nul_terminated)
{
    /* The parser must honour len, not look for a NUL. */
    size_t n = strlen(GOOD_EVENT);
    char *buf = malloc(n + 10);
    pulse_event ev;
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, GOOD_EVENT, n);
    memcpy(buf + n, "garbage!!", 9);
    buf[n + 9] = 'x';
    ck_assert_int_eq(pulse_event_parse(buf, n, &ev, NULL), 0);
    ck_assert_int_eq(pulse_event_parse(buf, n + 10, &ev, NULL), PULSE_EINVAL);
    free(buf);
}
END_TEST

START_TEST(test_parse_ms_only)
{
    pulse_event ev;
    const char *s = "{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"\","
                    "\"sequence\":0,\"published_at_ms\":1768068834227}";
    ck_assert_int_eq(parse_str(s, &ev, NULL), 0);
    ck_assert_int_eq(ev.published_at_us, 1768068834227000LL);
    ck_assert_uint_eq(ev.sequence, 0);
    ck_assert_str_eq(ev.source, "");
    ck_assert_int_eq(ev.priority, PULSE_PRIO_UNSET);
}
END_TEST

START_TEST(test_parse_us_wins_over_ms)
{
    pulse_event ev;
    const char *s = "{\"published_at_us\":5000001,\"published_at_ms\":9,\"event_id\":\"" UUID1
                    "\",\"event_type\":\"T\",\"source\":\"s\",\"sequence\":1}";
    ck_assert_int_eq(parse_str(s, &ev, NULL), 0);
    ck_assert_int_eq(ev.published_at_us, 5000001);
}
END_TEST

/* Table: a field replaced (or removed) and the error text expected. */
static const struct {
    const char *json;
    const char *err_prefix;
} bad_events[] = {
    {"{\"event_type\":\"T\",\"source\":\"s\",\"sequence\":1,\"published_at_us\":1}", "event_id: missing"},
    {"{\"event_id\":\"" UUID1 "\",\"source\":\"s\",\"sequence\":1,\"published_at_us\":1}", "event_type: missing"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"sequence\":1,\"published_at_us\":1}", "source: missing"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\",\"published_at_us\":1}", "sequence: missing"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\",\"sequence\":1}", "published_at_us: missing"},
    {"{\"event_id\":42,\"event_type\":\"T\",\"source\":\"s\",\"sequence\":1,\"published_at_us\":1}", "event_id: must be a string"},
    {"{\"event_id\":\"not-a-uuid\",\"event_type\":\"T\",\"source\":\"s\",\"sequence\":1,\"published_at_us\":1}", "event_id: must be a UUID"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":7,\"source\":\"s\",\"sequence\":1,\"published_at_us\":1}", "event_type: must be a string"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"\",\"source\":\"s\",\"sequence\":1,\"published_at_us\":1}", "event_type: must be 1 to 64 bytes"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":null,\"sequence\":1,\"published_at_us\":1}", "source: must be a string"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\",\"sequence\":-1,\"published_at_us\":1}", "sequence: must be a non-negative integer"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\",\"sequence\":1.5,\"published_at_us\":1}", "sequence: must be a non-negative integer"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\",\"sequence\":\"1\",\"published_at_us\":1}", "sequence: must be a non-negative integer"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\",\"sequence\":1,\"published_at_us\":0}", "published_at_us: must be a positive integer"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\",\"sequence\":1,\"published_at_us\":\"5\"}", "published_at_us: must be a positive integer"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\",\"sequence\":1,\"published_at_ms\":-4}", "published_at_ms: must be a positive integer"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\",\"sequence\":1,\"published_at_ms\":9223372036854775807}", "published_at_ms: out of range"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\",\"sequence\":1,\"published_at_us\":1,\"priority\":\"urgent\"}", "priority: must be"},
    {"{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\",\"sequence\":1,\"published_at_us\":1,\"priority\":2}", "priority: must be"},
    {"[1,2,3]", "event: must be a JSON object"},
    {"{\"event_id\":", "event: invalid JSON"},
    {"", "event: invalid JSON"},
    {"{\"event_id\":\"" UUID1 "\",\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\",\"sequence\":1,\"published_at_us\":1}", "event: invalid JSON"},
};

START_TEST(test_parse_bad)
{
    pulse_event ev;
    pulse_error err;
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(parse_str(bad_events[_i].json, &ev, &err), PULSE_EINVAL);
    ck_assert_int_eq(err.code, PULSE_EINVAL);
    ck_assert_msg(strncmp(err.text, bad_events[_i].err_prefix, strlen(bad_events[_i].err_prefix)) == 0,
                  "case %d: got '%s', want prefix '%s'", _i, err.text, bad_events[_i].err_prefix);
}
END_TEST

START_TEST(test_parse_long_strings)
{
    char json[1024];
    char type65[66], src128[129], src129[130];
    pulse_event ev;
    pulse_error err;
    memset(type65, 'A', 65); type65[65] = '\0';
    memset(src128, 's', 128); src128[128] = '\0';
    memset(src129, 's', 129); src129[129] = '\0';

    snprintf(json, sizeof json, "{\"event_id\":\"" UUID1 "\",\"event_type\":\"%.64s\",\"source\":\"%s\","
             "\"sequence\":1,\"published_at_us\":1}", type65, src128);
    ck_assert_int_eq(parse_str(json, &ev, &err), 0);
    ck_assert_uint_eq(strlen(ev.event_type), 64);
    ck_assert_uint_eq(strlen(ev.source), 128);

    snprintf(json, sizeof json, "{\"event_id\":\"" UUID1 "\",\"event_type\":\"%s\",\"source\":\"s\","
             "\"sequence\":1,\"published_at_us\":1}", type65);
    ck_assert_int_eq(parse_str(json, &ev, &err), PULSE_EINVAL);
    ck_assert_str_eq(err.text, "event_type: must be 1 to 64 bytes (got 65)");

    snprintf(json, sizeof json, "{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"%s\","
             "\"sequence\":1,\"published_at_us\":1}", src129);
    ck_assert_int_eq(parse_str(json, &ev, &err), PULSE_EINVAL);
    ck_assert_str_eq(err.text, "source: must be 0 to 128 bytes (got 129)");
}
END_TEST

START_TEST(test_parse_huge)
{
    /* A syntactically valid event whose data makes it larger than 1 MiB. */
    const char *head = "{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\","
                       "\"sequence\":1,\"published_at_us\":1,\"data\":\"";
    size_t hl = strlen(head), total = PULSE_EVENT_MAX_BYTES + 100;
    char *buf = malloc(total);
    pulse_event ev;
    pulse_error err;
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, head, hl);
    memset(buf + hl, 'x', total - hl - 2);
    buf[total - 2] = '"';
    buf[total - 1] = '}';
    ck_assert_int_eq(pulse_event_parse(buf, total, &ev, &err), PULSE_EINVAL);
    ck_assert_msg(strstr(err.text, "too large") != NULL, "got '%s'", err.text);
    /* The same shape just under the limit parses. */
    size_t small = PULSE_EVENT_MAX_BYTES;
    memset(buf + hl, 'x', small - hl - 2);
    buf[small - 2] = '"';
    buf[small - 1] = '}';
    ck_assert_int_eq(pulse_event_parse(buf, small, &ev, &err), 0);
    free(buf);
}
END_TEST

static const struct {
    const char *text;
    pulse_priority want;
} prio_cases[] = {
    {"critical", PULSE_PRIO_CRITICAL}, {"normal", PULSE_PRIO_NORMAL}, {"", PULSE_PRIO_UNSET},
    {"Critical", PULSE_PRIO_UNSET},    {"critica", PULSE_PRIO_UNSET}, {"normally", PULSE_PRIO_UNSET},
};

START_TEST(test_priority_parse)
{
    const char *t = prio_cases[_i].text;
    ck_assert_int_eq(pulse_priority_parse(t, strlen(t)), prio_cases[_i].want);
}
END_TEST

/* The built-in default: events.critical and alerts.* critical, everything else normal. */
static const struct {
    const char *channel;
    pulse_priority want;
} chan_prio_cases[] = {
    {"events.critical", PULSE_PRIO_CRITICAL},  {"alerts.disk", PULSE_PRIO_CRITICAL},
    {"alerts.a.b", PULSE_PRIO_CRITICAL},       {"alerts.", PULSE_PRIO_CRITICAL},
    {"events.critical2", PULSE_PRIO_NORMAL},   {"events.critica", PULSE_PRIO_NORMAL},
    {"events.normal", PULSE_PRIO_NORMAL},      {"alerts", PULSE_PRIO_NORMAL},
    {"alertsx.disk", PULSE_PRIO_NORMAL},       {"Alerts.disk", PULSE_PRIO_NORMAL},
    {"feed:user-1", PULSE_PRIO_NORMAL},        {"notifications:user-7", PULSE_PRIO_NORMAL},
    {"", PULSE_PRIO_NORMAL},
};

START_TEST(test_priority_for_channel)
{
    const char *ch = chan_prio_cases[_i].channel;
    ck_assert_msg(pulse_priority_for_channel(ch) == chan_prio_cases[_i].want,
                  "channel '%s': got %d, want %d", ch, (int)pulse_priority_for_channel(ch),
                  (int)chan_prio_cases[_i].want);
}
END_TEST

START_TEST(test_priority_name_and_event)
{
    pulse_event ev;
    char json[512];
    ck_assert_str_eq(pulse_priority_name(PULSE_PRIO_CRITICAL), "critical");
    ck_assert_str_eq(pulse_priority_name(PULSE_PRIO_NORMAL), "normal");
    ck_assert_ptr_null(pulse_priority_name(PULSE_PRIO_UNSET));
    snprintf(json, sizeof json, "{\"event_id\":\"" UUID1 "\",\"event_type\":\"T\",\"source\":\"s\","
             "\"sequence\":1,\"published_at_us\":1,\"priority\":\"normal\"}");
    ck_assert_int_eq(parse_str(json, &ev, NULL), 0);
    ck_assert_int_eq(ev.priority, PULSE_PRIO_NORMAL);
}
END_TEST

static pulse_event sample_event(void)
{
    pulse_event ev;
    memset(&ev, 0, sizeof ev);
    memcpy(ev.event_id, UUID1, sizeof UUID1);
    snprintf(ev.event_type, sizeof ev.event_type, "TYPE \"quoted\" \\ back\nline\x01");
    snprintf(ev.source, sizeof ev.source, "src\t\"a\"");
    ev.sequence = 9007199254740993ULL; /* not representable as a double */
    ev.published_at_us = 1768068834227123LL;
    ev.priority = PULSE_PRIO_CRITICAL;
    return ev;
}

START_TEST(test_format_roundtrip)
{
    pulse_event ev = sample_event(), back;
    char buf[1024];
    pulse_error err;
    int n = pulse_event_format(&ev, "{\"a\":[1,\"}\"]}", buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq(strlen(buf), (size_t)n);
    ck_assert_msg(strstr(buf, "\"published_at_ms\":1768068834227,") != NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "\"published_at_us\":1768068834227123") != NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "\"priority\":\"critical\"") != NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "\"data\":{\"a\":[1,\"}\"]}}") != NULL, "%s", buf);
    ck_assert_int_eq(pulse_event_parse(buf, (size_t)n, &back, &err), 0);
    ck_assert_str_eq(back.event_id, ev.event_id);
    ck_assert_str_eq(back.event_type, ev.event_type);
    ck_assert_str_eq(back.source, ev.source);
    ck_assert_uint_eq(back.sequence, ev.sequence);
    ck_assert_int_eq(back.published_at_us, ev.published_at_us);
    ck_assert_int_eq(back.priority, ev.priority);
}
END_TEST

/* Found by fuzz_event: below 1000 us, published_at_ms would be 0, which parse rejects. */
START_TEST(test_format_roundtrip_sub_millisecond)
{
    pulse_event ev = sample_event(), back;
    char buf[1024];
    pulse_error err;
    for (int64_t us = 1; us <= 1000; us += 333) {
        ev.published_at_us = us;
        int n = pulse_event_format(&ev, NULL, buf, sizeof buf);
        ck_assert_int_gt(n, 0);
        ck_assert_msg(pulse_event_parse(buf, (size_t)n, &back, &err) == 0, "us=%lld: %s (%s)", (long long)us,
                      err.text, buf);
        ck_assert_int_eq(back.published_at_us, us);
        ck_assert_int_eq(strstr(buf, "published_at_ms") != NULL, us >= 1000);
    }
}
END_TEST

START_TEST(test_format_defaults)
{
    pulse_event ev = sample_event(), back;
    char buf[1024];
    int n;
    ev.priority = PULSE_PRIO_UNSET;
    snprintf(ev.event_type, sizeof ev.event_type, "SERVER_DOWN");
    snprintf(ev.source, sizeof ev.source, "server-a");
    ev.sequence = 1;
    n = pulse_event_format(&ev, NULL, buf, sizeof buf);
    ck_assert_str_eq(buf, "{\"event_id\":\"" UUID1 "\",\"event_type\":\"SERVER_DOWN\","
                          "\"source\":\"server-a\",\"sequence\":1,\"published_at_ms\":1768068834227,"
                          "\"published_at_us\":1768068834227123,\"data\":{}}");
    ck_assert_int_eq(n, (int)strlen(buf));
    ck_assert_int_eq(pulse_event_parse(buf, (size_t)n, &back, NULL), 0);
    ck_assert_int_eq(back.priority, PULSE_PRIO_UNSET);
}
END_TEST

START_TEST(test_format_nospc)
{
    pulse_event ev = sample_event();
    char full[1024], small[1024];
    int n = pulse_event_format(&ev, NULL, full, sizeof full);
    ck_assert_int_gt(n, 0);
    /* Exactly n + 1 fits; n does not (no room for the NUL). */
    ck_assert_int_eq(pulse_event_format(&ev, NULL, small, (size_t)n + 1), n);
    ck_assert_str_eq(small, full);
    ck_assert_int_eq(pulse_event_format(&ev, NULL, small, (size_t)n), PULSE_ENOSPC);
    ck_assert_int_eq(pulse_event_format(&ev, NULL, small, 10), PULSE_ENOSPC);
    ck_assert_int_eq(pulse_event_format(&ev, NULL, small, 0), PULSE_ENOSPC);
}
END_TEST

START_TEST(test_format_invalid)
{
    pulse_event ev;
    char buf[1024];
    ev = sample_event(); ev.event_id[3] = 'z';
    ck_assert_int_eq(pulse_event_format(&ev, NULL, buf, sizeof buf), PULSE_EINVAL);
    ev = sample_event(); ev.event_type[0] = '\0';
    ck_assert_int_eq(pulse_event_format(&ev, NULL, buf, sizeof buf), PULSE_EINVAL);
    ev = sample_event(); ev.published_at_us = 0;
    ck_assert_int_eq(pulse_event_format(&ev, NULL, buf, sizeof buf), PULSE_EINVAL);
    ev = sample_event(); ev.priority = (pulse_priority)7;
    ck_assert_int_eq(pulse_event_format(&ev, NULL, buf, sizeof buf), PULSE_EINVAL);
    ev = sample_event();
    ck_assert_int_eq(pulse_event_format(&ev, "", buf, sizeof buf), PULSE_EINVAL);
}
END_TEST

/* ------------------------------------------------------------ delivery scan */

static int scan_str(const char *s, pulse_delivery *d, pulse_error *err)
{
    return pulse_delivery_scan(s, strlen(s), d, err);
}

static void assert_span(const char *p, size_t len, const char *want)
{
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_msg(memcmp(p, want, len) == 0, "got '%.*s', want '%s'", (int)len, p, want);
}

static const char *const good_envelopes[] = {
    "{\"channel\":\"events.critical\",\"data\":{\"event_id\":\"" UUID1 "\",\"event_type\":\"SERVER_DOWN\","
    "\"source\":\"a\",\"sequence\":42,\"published_at_ms\":1768068834227,\"published_at_us\":1768068834227123,"
    "\"priority\":\"critical\",\"data\":{}}}",
    /* data first, keys reordered, whitespace everywhere */
    " \r\n{ \"data\" : { \"priority\" : \"critical\" , \"published_at_us\" :\t1768068834227123 ,"
    " \"sequence\" : 42 , \"event_type\" : \"SERVER_DOWN\" , \"event_id\" : \"" UUID1 "\" } ,\n"
    " \"channel\" : \"events.critical\" }\n",
    /* nested data with braces, brackets, escaped quotes and decoy keys inside strings */
    "{\"data\":{\"data\":{\"event_id\":\"decoy\",\"s\":\"}}]]{{\\\"sequence\\\":1\",\"a\":[{},[],[{\"b\":null}],"
    "true,false,-1.5e+3,0,\"\\u00e9\\n\\\\\"]},\"event_id\":\"" UUID1 "\",\"sequence\":42,"
    "\"event_type\":\"SERVER_DOWN\",\"published_at_us\":1768068834227123,\"priority\":\"critical\"},"
    "\"extra\":{\"channel\":\"decoy\"},\"channel\":\"events.critical\"}",
    /* both timestamps, ms first: published_at_us wins */
    "{\"channel\":\"events.critical\",\"data\":{\"event_id\":\"" UUID1 "\",\"event_type\":\"SERVER_DOWN\","
    "\"sequence\":42,\"published_at_ms\":1768068834227,\"published_at_us\":1768068834227123,\"priority\":\"critical\"}}",
};

START_TEST(test_scan_good)
{
    pulse_delivery d;
    pulse_error err = {0};
    int rc = scan_str(good_envelopes[_i], &d, &err);
    ck_assert_msg(rc == 0, "case %d: rc %d: %s", _i, rc, err.text);
    assert_span(d.channel, d.channel_len, "events.critical");
    assert_span(d.event_id, d.event_id_len, UUID1);
    assert_span(d.event_type, d.event_type_len, "SERVER_DOWN");
    ck_assert_uint_eq(d.sequence, 42);
    ck_assert_int_eq(d.published_at_us, 1768068834227123LL);
    ck_assert_int_eq(d.priority, PULSE_PRIO_CRITICAL);
}
END_TEST

/* Table: envelopes on channel "c" and the fields scanned from them. */
static const struct {
    const char *what;
    const char *env;
    long long us;
    uint64_t sequence;
    pulse_priority priority;
} scan_field_cases[] = {
    {"ms only, no priority, the largest sequence",
     "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"event_type\":\"T\","
     "\"sequence\":18446744073709551615,\"published_at_ms\":1768068834227}}",
     1768068834227000LL, UINT64_MAX, PULSE_PRIO_UNSET},
    {"priority normal",
     "{\"channel\":\"c\",\"data\":{\"priority\":\"normal\",\"event_id\":\"e\","
     "\"event_type\":\"T\",\"sequence\":1,\"published_at_us\":5}}",
     5, 1, PULSE_PRIO_NORMAL},
};

START_TEST(test_scan_fields)
{
    pulse_delivery d;
    const char *what = scan_field_cases[_i].what;
    ck_assert_msg(scan_str(scan_field_cases[_i].env, &d, NULL) == 0, "%s: not scanned", what);
    ck_assert_msg(d.published_at_us == scan_field_cases[_i].us, "%s: published_at_us %lld", what,
                  (long long)d.published_at_us);
    ck_assert_msg(d.sequence == scan_field_cases[_i].sequence, "%s: sequence %llu", what,
                  (unsigned long long)d.sequence);
    ck_assert_msg(d.priority == scan_field_cases[_i].priority, "%s: priority %d", what, (int)d.priority);
    assert_span(d.channel, d.channel_len, "c");
}
END_TEST

/* Envelopes of events published with history carry offset and epoch (any key order);
 * without them offset is 0 and epoch "". */
START_TEST(test_scan_offset_epoch)
{
    pulse_delivery d;
    const char *ev = "{\"event_id\":\"e\",\"event_type\":\"T\",\"sequence\":1,\"published_at_us\":5}";
    char buf[512];
    pulse_error err = {0};

    snprintf(buf, sizeof buf, "{\"channel\":\"c\",\"offset\":42,\"epoch\":\"x7Qp\",\"data\":%s}", ev);
    ck_assert_msg(scan_str(buf, &d, &err) == 0, "%s", err.text);
    ck_assert_uint_eq(d.offset, 42);
    assert_span(d.epoch, d.epoch_len, "x7Qp");
    snprintf(buf, sizeof buf, "{\"data\":%s,\"epoch\":\"E\",\"channel\":\"c\",\"offset\":9223372036854775807}", ev);
    ck_assert_int_eq(scan_str(buf, &d, NULL), 0);
    ck_assert_uint_eq(d.offset, 9223372036854775807ULL);
    assert_span(d.epoch, d.epoch_len, "E");
    snprintf(buf, sizeof buf, "{\"channel\":\"c\",\"data\":%s}", ev);
    ck_assert_int_eq(scan_str(buf, &d, NULL), 0);
    ck_assert_uint_eq(d.offset, 0);
    ck_assert_uint_eq(d.epoch_len, 0);
    ck_assert_ptr_nonnull(d.epoch);
    /* a bad offset is a bad envelope, named */
    snprintf(buf, sizeof buf, "{\"channel\":\"c\",\"offset\":-1,\"data\":%s}", ev);
    ck_assert_int_eq(scan_str(buf, &d, &err), PULSE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "offset"));
    snprintf(buf, sizeof buf, "{\"channel\":\"c\",\"offset\":1.5,\"data\":%s}", ev);
    ck_assert_int_eq(scan_str(buf, &d, &err), PULSE_EINVAL);
    /* in a control frame the same keys are not a delivery */
    ck_assert_int_eq(scan_str("{\"op\":\"subscribed\",\"channel\":\"c\",\"offset\":3,\"epoch\":\"E\","
                              "\"recovered\":true}", &d, NULL), PULSE_ENOENT);
}
END_TEST

static const char *const control_frames[] = {
    "{\"op\":\"pong\"}",
    "{\"op\":\"subscribed\",\"channel\":\"a\"}",
    " { \"channel\" : \"a\" , \"op\" : \"unsubscribed\" } ",
    "{\"op\":\"error\",\"code\":\"bad_request\",\"reason\":\"x \\\"y\\\" {\",\"channel\":null}",
};

START_TEST(test_scan_control)
{
    pulse_delivery d;
    pulse_error err = {0};
    ck_assert_int_eq(scan_str(control_frames[_i], &d, &err), PULSE_ENOENT);
    ck_assert_int_eq(err.code, PULSE_ENOENT);
}
END_TEST

static const char *const bad_envelopes[] = {
    "",
    "   ",
    "[]",
    "{}",
    "{\"channel\":\"c\"}",
    "{\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":5}}",
    "{\"channel\":\"c\",\"data\":[]}",
    "{\"channel\":\"c\",\"data\":\"x\"}",
    "{\"channel\":5,\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":5}}",
    "{\"channel\":\"c\",\"data\":{\"sequence\":1,\"published_at_us\":5}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"published_at_us\":5}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":1}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":-1,\"published_at_us\":5}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":1.5,\"published_at_us\":5}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":\"1\",\"published_at_us\":5}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":18446744073709551616,\"published_at_us\":5}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":0}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":9223372036854775808}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":7,\"sequence\":1,\"published_at_us\":5}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":01,\"published_at_us\":5}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":5}}x",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":5},}",
    "{\"channel\":\"c\" \"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":5}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":5,\"x\":tru}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":5,\"x\":\"\\q\"}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":5,\"x\":\"\\u12\"}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":5,\"x\":[1,]}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":5,\"x\":{\"a\"}}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":5,\"x\":1.}}",
    "{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":5,\"x\":\"a\tb\"}}",
    "{\"op\":\"pong\"",
    "{\"op\":}",
    "{op:\"pong\"}",
};

START_TEST(test_scan_bad)
{
    pulse_delivery d;
    pulse_error err = {0};
    int rc = scan_str(bad_envelopes[_i], &d, &err);
    ck_assert_msg(rc == PULSE_EINVAL, "case %d: rc %d for %s", _i, rc, bad_envelopes[_i]);
    ck_assert_int_eq(err.code, PULSE_EINVAL);
    ck_assert_msg(err.text[0] != '\0', "case %d: empty error text", _i);
}
END_TEST

START_TEST(test_scan_error_texts)
{
    pulse_delivery d;
    pulse_error err;
    ck_assert_int_eq(scan_str("{\"channel\":\"c\",\"data\":{\"event_id\":\"e\",\"sequence\":-1,"
                              "\"published_at_us\":5}}", &d, &err), PULSE_EINVAL);
    ck_assert_msg(strncmp(err.text, "data.sequence:", 14) == 0, "%s", err.text);
    ck_assert_int_eq(scan_str("{\"data\":{\"event_id\":\"e\",\"sequence\":1,\"published_at_us\":5}}",
                              &d, &err), PULSE_EINVAL);
    ck_assert_str_eq(err.text, "channel: missing");
}
END_TEST

/* Every strict prefix of a good envelope is truncated input: EINVAL, and (under ASan)
 * no byte past the prefix is read, because each prefix lives in an exact-size buffer. */
START_TEST(test_scan_every_prefix)
{
    const char *src = good_envelopes[2];
    size_t n = strlen(src);
    for (size_t len = 0; len < n; len++) {
        char *buf = malloc(len > 0 ? len : 1);
        pulse_delivery d;
        int rc;
        ck_assert_ptr_nonnull(buf);
        memcpy(buf, src, len);
        rc = pulse_delivery_scan(buf, len, &d, NULL);
        ck_assert_msg(rc == PULSE_EINVAL, "prefix %zu: rc %d", len, rc);
        free(buf);
    }
}
END_TEST

/* Strings are skipped eight bytes at a time: put each byte the scan must see ('"' in an
 * escape, '\\', a control character) and a UTF-8 byte at every position of strings up to
 * 40 bytes long, so each lands at every place in a word and at the buffer's end. */
START_TEST(test_scan_string_every_position)
{
    static const struct {
        const char *ins; /* written at position k of the string */
        bool ok;
    } cases[] = {
        {"\\\"", true}, {"\\\\", true}, {"\\u00e9", true}, {"\xc3\xa9", true},
        {"\x01", false}, {"\x1f", false}, {"\t", false}, {"\\x", false}, {"\"", false},
    };

    for (size_t c = 0; c < N_ELEMS(cases); c++) {
        for (size_t len = 0; len <= 40; len++) {
            for (size_t k = 0; k <= len; k++) {
                char str[64], env[256];
                pulse_delivery d;
                pulse_error err = {0};
                int n, rc;

                memset(str, 'a', len);
                str[len] = '\0';
                n = snprintf(env, sizeof env, "%.*s%s%s", (int)k, str, cases[c].ins, str + k);
                ck_assert_int_lt(n, (int)sizeof str);
                memcpy(str, env, (size_t)n + 1);
                n = snprintf(env, sizeof env,
                             "{\"channel\":\"c\",\"data\":{\"x\":\"%s\",\"event_id\":\"e\","
                             "\"event_type\":\"%s\",\"sequence\":1,\"published_at_us\":5}}",
                             str, str);
                rc = pulse_delivery_scan(env, (size_t)n, &d, &err);
                if (!cases[c].ok) {
                    ck_assert_msg(rc == PULSE_EINVAL, "case %zu len %zu at %zu: accepted %s", c,
                                  len, k, env);
                    continue;
                }
                ck_assert_msg(rc == 0, "case %zu len %zu at %zu: %s (%s)", c, len, k, err.text, env);
                assert_span(d.event_type, d.event_type_len, str);
                ck_assert_int_eq(d.published_at_us, 5);
            }
        }
    }
}
END_TEST

START_TEST(test_scan_deep_nesting)
{
    /* Nesting far deeper than the scanner allows must fail cleanly, not overflow. */
    size_t depth = 100000, pos = 0;
    const char *head = "{\"channel\":\"c\",\"data\":{\"x\":";
    char *buf = malloc(strlen(head) + depth * 2 + 8);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, head, strlen(head));
    pos = strlen(head);
    memset(buf + pos, '[', depth);
    pos += depth;
    memset(buf + pos, ']', depth);
    pos += depth;
    memcpy(buf + pos, "}}", 2);
    pos += 2;
    ck_assert_int_eq(pulse_delivery_scan(buf, pos, &(pulse_delivery){0}, NULL), PULSE_EINVAL);
    free(buf);
}
END_TEST

START_TEST(test_scan_format_roundtrip)
{
    /* What the publisher writes, wrapped by the gateway, is what the subscriber reads. */
    pulse_event ev = sample_event();
    char evbuf[1024], env[1200];
    pulse_delivery d;
    pulse_error err = {0};
    snprintf(ev.event_type, sizeof ev.event_type, "SERVER_DOWN");
    int n = pulse_event_format(&ev, "{\"nested\":{\"event_id\":\"x\"}}", evbuf, sizeof evbuf);
    ck_assert_int_gt(n, 0);
    snprintf(env, sizeof env, "{\"channel\":\"alerts.disk\",\"data\":%s}", evbuf);
    ck_assert_msg(scan_str(env, &d, &err) == 0, "%s", err.text);
    assert_span(d.channel, d.channel_len, "alerts.disk");
    assert_span(d.event_id, d.event_id_len, UUID1);
    assert_span(d.event_type, d.event_type_len, "SERVER_DOWN");
    ck_assert_uint_eq(d.sequence, ev.sequence);
    ck_assert_int_eq(d.published_at_us, ev.published_at_us);
    ck_assert_int_eq(d.priority, PULSE_PRIO_CRITICAL);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("event");
    TCase *tc = ts_tcase(s, "parse", 0);
    ts_add_tests(tc, test_parse_good, test_parse_not_nul_terminated, test_parse_ms_only,
                 test_parse_us_wins_over_ms);
    tcase_add_loop_test(tc, test_parse_bad, 0, N_ELEMS(bad_events));
    ts_add_tests(tc, test_parse_long_strings, test_parse_huge);
    tcase_add_loop_test(tc, test_priority_parse, 0, N_ELEMS(prio_cases));
    tcase_add_loop_test(tc, test_priority_for_channel, 0, N_ELEMS(chan_prio_cases));
    tcase_add_test(tc, test_priority_name_and_event);

    tc = ts_tcase(s, "format", 0);
    ts_add_tests(tc, test_format_roundtrip, test_format_roundtrip_sub_millisecond,
                 test_format_defaults, test_format_nospc, test_format_invalid);

    tc = ts_tcase(s, "scan", 30);
    tcase_add_loop_test(tc, test_scan_good, 0, N_ELEMS(good_envelopes));
    tcase_add_loop_test(tc, test_scan_fields, 0, N_ELEMS(scan_field_cases));
    tcase_add_test(tc, test_scan_offset_epoch);
    tcase_add_loop_test(tc, test_scan_control, 0, N_ELEMS(control_frames));
    tcase_add_loop_test(tc, test_scan_bad, 0, N_ELEMS(bad_envelopes));
    ts_add_tests(tc, test_scan_error_texts, test_scan_every_prefix, test_scan_deep_nesting,
                 test_scan_string_every_position,
                 test_scan_format_roundtrip);
    return s;
}
