/*
 * check_record.c - unit tests for the delivery-log and manifest line formats: format
 * then parse round trips, exact line text, writer refusals, and malformed lines whose
 * error text must name the offending field; the older lines without the trailing
 * offset fields (8-field deliveries, 5-field manifests) still read, as offset 0.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts_check.h"
#include "pulse_record.h"

#define UUID1 "0b9e7a4c-3f1d-4c2e-9a8b-1234567890ab"

static pulse_delivery_rec sample_delivery(void)
{
    pulse_delivery_rec r;
    memset(&r, 0, sizeof r);
    r.client = 4294967295u;
    snprintf(r.node, sizeof r.node, "node-1");
    snprintf(r.channel, sizeof r.channel, "events.critical");
    snprintf(r.event_id, sizeof r.event_id, UUID1);
    r.sequence = 18446744073709551615ull;
    snprintf(r.event_type, sizeof r.event_type, "SERVER_DOWN");
    r.published_at_us = 1768068834227123LL;
    r.received_at_us = 1768068834228456LL;
    r.offset = 9223372036854775807ull;
    r.recovered = 1;
    return r;
}

static pulse_manifest_rec sample_manifest(void)
{
    pulse_manifest_rec m;
    memset(&m, 0, sizeof m);
    snprintf(m.event_id, sizeof m.event_id, UUID1);
    m.sequence = 17;
    snprintf(m.channel, sizeof m.channel, "alerts.disk");
    m.priority = PULSE_PRIO_CRITICAL;
    m.published_at_us = 1768068834227123LL;
    m.offset = 42;
    return m;
}

static void assert_delivery_eq(const pulse_delivery_rec *a, const pulse_delivery_rec *b)
{
    ck_assert_uint_eq(a->client, b->client);
    ck_assert_str_eq(a->node, b->node);
    ck_assert_str_eq(a->channel, b->channel);
    ck_assert_str_eq(a->event_id, b->event_id);
    ck_assert_uint_eq(a->sequence, b->sequence);
    ck_assert_str_eq(a->event_type, b->event_type);
    ck_assert_int_eq(a->published_at_us, b->published_at_us);
    ck_assert_int_eq(a->received_at_us, b->received_at_us);
    ck_assert_uint_eq(a->offset, b->offset);
    ck_assert_int_eq(a->recovered, b->recovered);
}

static void assert_manifest_eq(const pulse_manifest_rec *a, const pulse_manifest_rec *b)
{
    ck_assert_str_eq(a->event_id, b->event_id);
    ck_assert_uint_eq(a->sequence, b->sequence);
    ck_assert_str_eq(a->channel, b->channel);
    ck_assert_int_eq(a->priority, b->priority);
    ck_assert_int_eq(a->published_at_us, b->published_at_us);
    ck_assert_uint_eq(a->offset, b->offset);
}

START_TEST(test_delivery_roundtrip)
{
    pulse_delivery_rec r = sample_delivery(), back;
    char buf[512];
    pulse_error err = {0};
    int n = pulse_delivery_rec_format(&r, buf, sizeof buf);
    const char *want = "4294967295,node-1,events.critical," UUID1
                       ",18446744073709551615,SERVER_DOWN,1768068834227123,1768068834228456,"
                       "9223372036854775807,1\n";
    ck_assert_str_eq(buf, want);
    ck_assert_int_eq(n, (int)strlen(want));
    ck_assert_msg(pulse_delivery_rec_parse(buf, (size_t)n, &back, &err) == 0, "%s", err.text);
    assert_delivery_eq(&r, &back);
    /* without the newline, and with CRLF */
    ck_assert_int_eq(pulse_delivery_rec_parse(buf, (size_t)n - 1, &back, &err), 0);
    assert_delivery_eq(&r, &back);
    buf[n - 1] = '\r';
    buf[n] = '\n';
    ck_assert_int_eq(pulse_delivery_rec_parse(buf, (size_t)n + 1, &back, &err), 0);
    ck_assert_int_eq(back.received_at_us, r.received_at_us);
}
END_TEST

/* pulse-report reads logs written before the offset fields existed. */
START_TEST(test_old_lines)
{
    pulse_delivery_rec r;
    pulse_manifest_rec m;
    const char *d8 = "3,node-1,events.critical," UUID1 ",5,SERVER_DOWN,10,20\n";
    const char *m5 = UUID1 ",17,alerts.disk,critical,1768068834227123\n";

    memset(&r, 0x55, sizeof r);
    ck_assert_int_eq(pulse_delivery_rec_parse(d8, strlen(d8), &r, NULL), 0);
    ck_assert_uint_eq(r.client, 3);
    ck_assert_int_eq(r.received_at_us, 20);
    ck_assert_uint_eq(r.offset, 0);
    ck_assert_int_eq(r.recovered, 0);
    memset(&m, 0x55, sizeof m);
    ck_assert_int_eq(pulse_manifest_rec_parse(m5, strlen(m5), &m, NULL), 0);
    ck_assert_uint_eq(m.sequence, 17);
    ck_assert_uint_eq(m.offset, 0);
}
END_TEST

START_TEST(test_delivery_empty_optional_fields)
{
    pulse_delivery_rec r = sample_delivery(), back;
    char buf[512];
    r.node[0] = '\0';
    r.event_type[0] = '\0';
    r.client = 0;
    int n = pulse_delivery_rec_format(&r, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(pulse_delivery_rec_parse(buf, (size_t)n, &back, NULL), 0);
    assert_delivery_eq(&r, &back);
}
END_TEST

START_TEST(test_manifest_roundtrip)
{
    pulse_manifest_rec m = sample_manifest(), back;
    char buf[512];
    pulse_error err = {0};
    int n = pulse_manifest_rec_format(&m, buf, sizeof buf);
    ck_assert_str_eq(buf, UUID1 ",17,alerts.disk,critical,1768068834227123,42\n");
    ck_assert_int_eq(pulse_manifest_rec_parse(buf, (size_t)n, &back, &err), 0);
    assert_manifest_eq(&m, &back);

    m.priority = PULSE_PRIO_NORMAL;
    n = pulse_manifest_rec_format(&m, buf, sizeof buf);
    ck_assert_str_eq(buf, UUID1 ",17,alerts.disk,normal,1768068834227123,42\n");
    ck_assert_int_eq(pulse_manifest_rec_parse(buf, (size_t)n, &back, &err), 0);
    ck_assert_int_eq(back.priority, PULSE_PRIO_NORMAL);

    m.priority = PULSE_PRIO_UNSET;
    m.offset = 0;
    n = pulse_manifest_rec_format(&m, buf, sizeof buf);
    ck_assert_str_eq(buf, UUID1 ",17,alerts.disk,,1768068834227123,0\n");
    ck_assert_int_eq(pulse_manifest_rec_parse(buf, (size_t)n, &back, &err), 0);
    ck_assert_int_eq(back.priority, PULSE_PRIO_UNSET);
}
END_TEST

START_TEST(test_format_refusals)
{
    pulse_delivery_rec r;
    pulse_manifest_rec m;
    char buf[512];
    int n;

    r = sample_delivery();
    snprintf(r.event_type, sizeof r.event_type, "A,B");
    ck_assert_int_eq(pulse_delivery_rec_format(&r, buf, sizeof buf), PULSE_EINVAL);
    r = sample_delivery();
    snprintf(r.event_type, sizeof r.event_type, "say \"hi\"");
    ck_assert_int_eq(pulse_delivery_rec_format(&r, buf, sizeof buf), PULSE_EINVAL);
    r = sample_delivery();
    snprintf(r.node, sizeof r.node, "a\nb");
    ck_assert_int_eq(pulse_delivery_rec_format(&r, buf, sizeof buf), PULSE_EINVAL);
    r = sample_delivery();
    r.channel[0] = '\0';
    ck_assert_int_eq(pulse_delivery_rec_format(&r, buf, sizeof buf), PULSE_EINVAL);
    r = sample_delivery();
    r.recovered = 2;
    ck_assert_int_eq(pulse_delivery_rec_format(&r, buf, sizeof buf), PULSE_EINVAL);
    r = sample_delivery();
    memset(r.node, 'x', sizeof r.node); /* not NUL-terminated */
    ck_assert_int_eq(pulse_delivery_rec_format(&r, buf, sizeof buf), PULSE_EINVAL);

    r = sample_delivery();
    n = pulse_delivery_rec_format(&r, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(pulse_delivery_rec_format(&r, buf, (size_t)n), PULSE_ENOSPC);
    ck_assert_int_eq(pulse_delivery_rec_format(&r, buf, (size_t)n + 1), n);

    m = sample_manifest();
    m.priority = (pulse_priority)9;
    ck_assert_int_eq(pulse_manifest_rec_format(&m, buf, sizeof buf), PULSE_EINVAL);
    m = sample_manifest();
    snprintf(m.channel, sizeof m.channel, "a,b");
    ck_assert_int_eq(pulse_manifest_rec_format(&m, buf, sizeof buf), PULSE_EINVAL);
    m = sample_manifest();
    ck_assert_int_eq(pulse_manifest_rec_format(&m, buf, 8), PULSE_ENOSPC);
}
END_TEST

static const struct {
    const char *line, *text;
} bad_delivery[] = {
    {"", "delivery record: expected 10 (or 8) fields, got 1"},
    {"1,n,c," UUID1 ",5,T,10", "delivery record: expected 10 (or 8) fields, got 7"},
    {"1,n,c," UUID1 ",5,T,10,20,30", "delivery record: expected 10 (or 8) fields, got 9"},
    {"1,n,c," UUID1 ",5,T,10,20,30,0,1", "delivery record: expected 10 (or 8) fields, got 11"},
    {"1,n,c," UUID1 ",5,T,10,20,x,0", "field 9 (offset): not a number"},
    {"1,n,c," UUID1 ",5,T,10,20,9223372036854775808,0", "field 9 (offset): out of range"},
    {"1,n,c," UUID1 ",5,T,10,20,3,2", "field 10 (recovered): out of range"},
    {"1,n,c," UUID1 ",5,T,10,20,3,", "field 10 (recovered): empty"},
    {"x,n,c," UUID1 ",5,T,10,20", "field 1 (client): not a number"},
    {"-1,n,c," UUID1 ",5,T,10,20", "field 1 (client): not a number"},
    {"4294967296,n,c," UUID1 ",5,T,10,20", "field 1 (client): out of range"},
    {"1,n,," UUID1 ",5,T,10,20", "field 3 (channel): empty"},
    {"1,n,c,,5,T,10,20", "field 4 (event_id): empty"},
    {"1,n,c," UUID1 "0,5,T,10,20", "field 4 (event_id): too long (37 bytes, max 36)"},
    {"1,n,c," UUID1 ",5x,T,10,20", "field 5 (sequence): not a number"},
    {"1,n,c," UUID1 ",,T,10,20", "field 5 (sequence): empty"},
    {"1,n,c," UUID1 ",18446744073709551616,T,10,20", "field 5 (sequence): out of range"},
    {"1,n,c," UUID1 ",5,T,1.5,20", "field 7 (published_at_us): not a number"},
    {"1,n,c," UUID1 ",5,T,10,", "field 8 (received_at_us): empty"},
    {"1,n,c," UUID1 ",5,T,10,9223372036854775808", "field 8 (received_at_us): out of range"},
    {"1,n,c," UUID1 ",5,T,10,20\n\n", "delivery record: unexpected newline in line"},
    {"1,n,c," UUID1 ",5,T, 10,20", "field 7 (published_at_us): not a number"},
};

START_TEST(test_delivery_bad)
{
    pulse_delivery_rec r;
    pulse_error err = {0};
    const char *line = bad_delivery[_i].line;
    ck_assert_int_eq(pulse_delivery_rec_parse(line, strlen(line), &r, &err), PULSE_EINVAL);
    ck_assert_str_eq(err.text, bad_delivery[_i].text);
}
END_TEST

START_TEST(test_delivery_oversized_fields)
{
    char line[1024], node[70], chan[140], type[70];
    pulse_delivery_rec r;
    pulse_error err;
    memset(node, 'n', 64); node[64] = '\0';
    memset(chan, 'c', 129); chan[129] = '\0';
    memset(type, 't', 65); type[65] = '\0';
    snprintf(line, sizeof line, "1,%s,c," UUID1 ",5,T,10,20", node);
    ck_assert_int_eq(pulse_delivery_rec_parse(line, strlen(line), &r, &err), PULSE_EINVAL);
    ck_assert_str_eq(err.text, "field 2 (node): too long (64 bytes, max 63)");
    snprintf(line, sizeof line, "1,n,%s," UUID1 ",5,T,10,20", chan);
    ck_assert_int_eq(pulse_delivery_rec_parse(line, strlen(line), &r, &err), PULSE_EINVAL);
    ck_assert_str_eq(err.text, "field 3 (channel): too long (129 bytes, max 128)");
    snprintf(line, sizeof line, "1,n,c," UUID1 ",5,%s,10,20", type);
    ck_assert_int_eq(pulse_delivery_rec_parse(line, strlen(line), &r, &err), PULSE_EINVAL);
    ck_assert_str_eq(err.text, "field 6 (event_type): too long (65 bytes, max 64)");
    /* negative timestamps are representable (clock skew), the extremes too */
    snprintf(line, sizeof line, "1,n,c," UUID1 ",5,T,-9223372036854775808,-1");
    ck_assert_int_eq(pulse_delivery_rec_parse(line, strlen(line), &r, &err), 0);
    ck_assert_int_eq(r.published_at_us, INT64_MIN);
    ck_assert_int_eq(r.received_at_us, -1);
}
END_TEST

static const struct {
    const char *line, *text;
} bad_manifest[] = {
    {UUID1 ",1,c,critical", "manifest record: expected 6 (or 5) fields, got 4"},
    {UUID1 ",1,c,critical,5,6,7", "manifest record: expected 6 (or 5) fields, got 7"},
    {UUID1 ",1,c,critical,5,-6", "field 6 (offset): not a number"},
    {UUID1 ",1,c,critical,5,", "field 6 (offset): empty"},
    {",1,c,critical,5", "field 1 (event_id): empty"},
    {UUID1 ",one,c,critical,5", "field 2 (sequence): not a number"},
    {UUID1 ",1,,critical,5", "field 3 (channel): empty"},
    {UUID1 ",1,c,urgent,5", "field 4 (priority): must be critical, normal or empty"},
    {UUID1 ",1,c,critical,5s", "field 5 (published_at_us): not a number"},
    {UUID1 ",1,c,critical,", "field 5 (published_at_us): empty"},
};

START_TEST(test_manifest_bad)
{
    pulse_manifest_rec m;
    pulse_error err = {0};
    const char *line = bad_manifest[_i].line;
    ck_assert_int_eq(pulse_manifest_rec_parse(line, strlen(line), &m, &err), PULSE_EINVAL);
    ck_assert_str_eq(err.text, bad_manifest[_i].text);
}
END_TEST

/* The delivery line is built by hand (no snprintf): it must be the very text printf's
 * format gives, at the extremes of every number, and fit or refuse at every size. */
START_TEST(test_delivery_format_matches_printf)
{
    static const int64_t times[] = {0, -1, 1, INT64_MIN, INT64_MAX, 1768068834227123LL};
    static const uint64_t counts[] = {0, 1, 9, 10, 99, 100, 101, 999, 1000, 12345, 18446744073709551615ull};
    pulse_delivery_rec r = sample_delivery();
    char got[512], want[512];

    for (size_t i = 0; i < N_ELEMS(times); i++) {
        for (size_t j = 0; j < N_ELEMS(counts); j++) {
            int n, w;
            r.client = (uint32_t)counts[j];
            r.sequence = counts[j];
            r.offset = counts[(j + 1) % N_ELEMS(counts)];
            r.published_at_us = j == 9 ? 1234567 : times[i];
            r.received_at_us = j == 9 ? -98765 : times[(i + 3) % N_ELEMS(times)];
            r.recovered = (int)((i + j) & 1);
            r.node[0] = j == 2 ? '\0' : 'n'; /* an empty node is allowed */
            w = snprintf(want, sizeof want, "%u,%s,%s,%s,%llu,%s,%lld,%lld,%llu,%d\n", r.client,
                         r.node, r.channel, r.event_id, (unsigned long long)r.sequence,
                         r.event_type, (long long)r.published_at_us,
                         (long long)r.received_at_us, (unsigned long long)r.offset,
                         r.recovered);
            n = pulse_delivery_rec_format(&r, got, sizeof got);
            ck_assert_int_eq(n, w);
            ck_assert_str_eq(got, want);
            for (size_t cap = 0; cap <= (size_t)w + 1; cap++) {
                memset(got, 'x', sizeof got);
                n = pulse_delivery_rec_format(&r, got, cap);
                if (cap <= (size_t)w) {
                    ck_assert_int_eq(n, PULSE_ENOSPC);
                    ck_assert_int_eq(got[cap], 'x'); /* nothing written past cap */
                } else {
                    ck_assert_int_eq(n, w);
                    ck_assert_str_eq(got, want);
                }
            }
        }
    }
}
END_TEST

/* The line in two steps (the event's part once, then each delivery) is the same text,
 * for every client of one part; bad fields are refused at the step that takes them. */
START_TEST(test_delivery_part_and_line)
{
    pulse_delivery_rec r = sample_delivery();
    pulse_delivery_part part;
    char got[512], want[512], longer[200];
    int n, w;

    ck_assert_int_eq(pulse_delivery_part_make(&part, r.channel, strlen(r.channel), r.event_id,
                                              strlen(r.event_id), r.sequence, r.event_type,
                                              strlen(r.event_type), r.published_at_us, r.offset), 0);
    for (uint32_t client = 0; client < 3; client++) {
        const char *node = client == 1 ? "" : "gw-7";
        int64_t rx = 1768068834228456LL + client;
        w = snprintf(want, sizeof want, "%u,%s,%s,%s,%llu,%s,%lld,%lld,%llu,%d\n", client, node,
                     r.channel, r.event_id, (unsigned long long)r.sequence, r.event_type,
                     (long long)r.published_at_us, (long long)rx, (unsigned long long)r.offset,
                     (int)(client & 1));
        n = pulse_delivery_line(&part, client, node, rx, (int)(client & 1), got, sizeof got);
        ck_assert_int_eq(n, w);
        ck_assert_str_eq(got, want);
        for (size_t cap = 0; cap <= (size_t)w; cap++) {
            memset(got, 'x', sizeof got);
            ck_assert_int_eq(pulse_delivery_line(&part, client, node, rx, 0, got, cap), PULSE_ENOSPC);
            ck_assert_int_eq(got[cap], 'x');
        }
    }
    /* the same line from its kept pieces: prefix, part, stamp */
    {
        char prefix[96], stamp[24];
        int pl = pulse_delivery_prefix(prefix, sizeof prefix, 42, "gw-7");
        int sl = pulse_delivery_stamp(stamp, sizeof stamp, INT64_MIN);
        ck_assert_int_eq(pl, 8);
        ck_assert_str_eq(prefix, "42,gw-7,");
        ck_assert_int_eq(sl, 21);
        ck_assert_str_eq(stamp, "-9223372036854775808,");
        w = pulse_delivery_line(&part, 42, "gw-7", INT64_MIN, 1, want, sizeof want);
        ck_assert_int_gt(w, 0);
        n = pulse_delivery_join(prefix, (size_t)pl, &part, stamp, (size_t)sl, 1, got, sizeof got);
        ck_assert_int_eq(n, w);
        ck_assert_str_eq(got, want);
        for (size_t cap = 0; cap <= (size_t)w; cap++)
            ck_assert_int_eq(pulse_delivery_join(prefix, (size_t)pl, &part, stamp, (size_t)sl, 1, got, cap),
                             PULSE_ENOSPC);
        ck_assert_int_eq(pulse_delivery_join(prefix, (size_t)pl, &part, stamp, (size_t)sl, 2, got, sizeof got),
                         PULSE_EINVAL);
        for (size_t cap = 0; cap <= 8; cap++)
            ck_assert_int_eq(pulse_delivery_prefix(prefix, cap, 42, "gw-7"), PULSE_ENOSPC);
        for (size_t cap = 0; cap <= 21; cap++)
            ck_assert_int_eq(pulse_delivery_stamp(stamp, cap, INT64_MIN), PULSE_ENOSPC);
        ck_assert_int_eq(pulse_delivery_prefix(prefix, sizeof prefix, 1, "a\"b"), PULSE_EINVAL);
    }
    /* an empty event type is allowed, as in pulse_delivery_rec_format */
    ck_assert_int_eq(pulse_delivery_part_make(&part, "c", 1, "e", 1, 0, NULL, 0, 5, 0), 0);
    ck_assert_int_eq(pulse_delivery_line(&part, 1, "n", 6, 0, got, sizeof got), 19);
    ck_assert_str_eq(got, "1,n,c,e,0,,5,6,0,0\n");

    memset(longer, 'a', sizeof longer);
#define PART(ch, chl, id, idl, ty, tyl) \
    pulse_delivery_part_make(&part, ch, chl, id, idl, 1, ty, tyl, 2, 3)
    ck_assert_int_eq(PART("c", 0, "e", 1, "t", 1), PULSE_EINVAL);       /* empty channel */
    ck_assert_int_eq(PART(longer, 128, "e", 1, "t", 1), 0);
    ck_assert_int_eq(PART(longer, 129, "e", 1, "t", 1), PULSE_EINVAL);  /* channel too long */
    ck_assert_int_eq(PART("a,b", 3, "e", 1, "t", 1), PULSE_EINVAL);     /* a comma */
    ck_assert_int_eq(PART("c", 1, "", 0, "t", 1), PULSE_EINVAL);        /* empty event id */
    ck_assert_int_eq(PART("c", 1, longer, 36, "t", 1), 0);
    ck_assert_int_eq(PART("c", 1, longer, 37, "t", 1), PULSE_EINVAL);   /* id too long */
    ck_assert_int_eq(PART("c", 1, "e\0f", 3, "t", 1), PULSE_EINVAL);    /* a NUL */
    ck_assert_int_eq(PART("c", 1, "e", 1, "a\"b", 3), PULSE_EINVAL);    /* a quote */
    ck_assert_int_eq(PART("c", 1, "e", 1, "a\x7f", 2), PULSE_EINVAL);   /* DEL */
    ck_assert_int_eq(PART("c", 1, "e", 1, "a\nb", 3), PULSE_EINVAL);    /* a control character */
    ck_assert_int_eq(PART("c", 1, "e", 1, longer, 64), 0);
    ck_assert_int_eq(PART("c", 1, "e", 1, longer, 65), PULSE_EINVAL);   /* type too long */
#undef PART
    ck_assert_int_eq(pulse_delivery_part_make(&part, "c", 1, "e", 1, 0, "t", 1, 5, 0), 0);
    ck_assert_int_eq(pulse_delivery_line(&part, 1, "a,b", 6, 0, got, sizeof got), PULSE_EINVAL);
    ck_assert_int_eq(pulse_delivery_line(&part, 1, NULL, 6, 0, got, sizeof got), PULSE_EINVAL);
    ck_assert_int_eq(pulse_delivery_line(&part, 1, "n", 6, 2, got, sizeof got), PULSE_EINVAL);
    longer[sizeof longer - 1] = '\0';
    ck_assert_int_eq(pulse_delivery_line(&part, 1, longer, 6, 0, got, sizeof got), PULSE_EINVAL);
    longer[63] = '\0'; /* 63 bytes: the longest node */
    ck_assert_int_gt(pulse_delivery_line(&part, 1, longer, 6, 0, got, sizeof got), 63);
}
END_TEST

START_TEST(test_parse_honours_len)
{
    /* The line is parsed from exactly len bytes: a following line is not read. */
    const char *two = UUID1 ",1,c,critical,5\n" UUID1 ",2,d,normal,6\n";
    size_t first = strlen(UUID1 ",1,c,critical,5\n");
    pulse_manifest_rec m;
    ck_assert_int_eq(pulse_manifest_rec_parse(two, first, &m, NULL), 0);
    ck_assert_uint_eq(m.sequence, 1);
    ck_assert_int_eq(m.published_at_us, 5);
    ck_assert_int_eq(pulse_manifest_rec_parse(two, strlen(two), &m, NULL), PULSE_EINVAL);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("record");
    TCase *tc = ts_tcase(s, "record", 0);
    ts_add_tests(tc, test_delivery_roundtrip, test_delivery_empty_optional_fields,
                 test_old_lines, test_manifest_roundtrip, test_format_refusals);
    tcase_add_loop_test(tc, test_delivery_bad, 0, N_ELEMS(bad_delivery));
    tcase_add_test(tc, test_delivery_oversized_fields);
    tcase_add_loop_test(tc, test_manifest_bad, 0, N_ELEMS(bad_manifest));
    tcase_add_test(tc, test_parse_honours_len);
    tcase_add_test(tc, test_delivery_format_matches_printf);
    tcase_add_test(tc, test_delivery_part_and_line);
    return s;
}
