/*
 * check_memo.c - unit tests for pulse-subscribe's memo of scanned envelopes
 * (subscriber-client/sub_memo.c): whatever it answers must be what scanning the same
 * bytes answers, whether the envelope was kept, evicted, overwritten by the ring,
 * shares a hash with another, follows another reader's stream or was never a delivery.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts_check.h"
#include "pulse_record.h"
#include "sub_memo.h"

#define ENV_MAX (SUB_MEMO_LINE_MAX + 2048)

/* Envelope i of a kind: 0 a delivery with history, 1 one without (published_at_ms), 2
 * one too long to keep, 3 a control frame, 4 a truncated envelope, 5 a delivery whose
 * event type the log cannot hold. */
static size_t make_env(char *buf, unsigned i, int kind)
{
    char pad[SUB_MEMO_LINE_MAX + 1024];
    size_t padlen = kind == 2 ? SUB_MEMO_LINE_MAX + 100 + i % 7 : i % 97;
    int n;

    memset(pad, 'x', padlen);
    pad[padlen] = '\0';
    switch (kind) {
    case 1:
        n = snprintf(buf, ENV_MAX,
                     "{\"channel\":\"c%u\",\"data\":{\"event_id\":\"%08x-0000-4000-8000-%012x\","
                     "\"sequence\":%u,\"published_at_ms\":%u,\"data\":\"%s\"}}",
                     i % 3, i, i * 7, i, 1000 + i, pad);
        break;
    case 3:
        n = snprintf(buf, ENV_MAX, "{\"op\":\"pong\",\"n\":%u}", i);
        break;
    case 5:
        n = snprintf(buf, ENV_MAX,
                     "{\"channel\":\"c\",\"data\":{\"event_id\":\"e%u\",\"event_type\":\"a,b\","
                     "\"sequence\":%u,\"published_at_us\":5}}", i, i);
        break;
    default:
        n = snprintf(buf, ENV_MAX,
                     "{\"channel\":\"events.c%u\",\"offset\":%u,\"epoch\":\"ep%u\",\"data\":{"
                     "\"event_id\":\"%08x-0000-4000-8000-%012x\",\"event_type\":\"T%u\","
                     "\"sequence\":%u,\"published_at_us\":%llu,\"priority\":\"critical\","
                     "\"data\":{\"pad\":\"%s\"}}}",
                     i % 4, i + 1, i / 50, i, i * 3, i % 5, i, 1768068834227123ULL + i, pad);
        break;
    }
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, ENV_MAX);
    if (kind == 4)
        n = n * (int)(i % 9 + 1) / 10; /* cut short */
    return (size_t)n;
}

static void same(const char *a, size_t alen, const char *b, size_t blen)
{
    ck_assert_uint_eq(alen, blen);
    ck_assert(alen == 0 || memcmp(a, b, alen) == 0);
}

/* Gets line from the memo through a scratch copy that is scribbled over afterwards (a
 * kept answer must point into the memo, not into the caller's bytes), and checks it
 * against a scan of the same bytes. */
static int get_checked(sub_memo *m, const char *line, size_t len, uint64_t *next)
{
    static char scratch[ENV_MAX], copy[ENV_MAX];
    const pulse_delivery *d;
    const pulse_delivery_part *part;
    pulse_delivery want;
    pulse_delivery_part want_part;
    pulse_error err, want_err;
    int rc, want_rc;

    memcpy(copy, line, len);
    want_rc = pulse_delivery_scan(copy, len, &want, &want_err);
    if (want_rc == 0 &&
        pulse_delivery_part_make(&want_part, want.channel, want.channel_len, want.event_id,
                                 want.event_id_len, want.sequence, want.event_type,
                                 want.event_type_len, want.published_at_us, want.offset) != 0)
        want_rc = PULSE_EINVAL;

    memcpy(scratch, line, len);
    rc = sub_memo_get(m, scratch, len, next, &d, &part, &err);
    if (len <= SUB_MEMO_LINE_MAX)
        memset(scratch, 'X', len);
    ck_assert_int_eq(rc, want_rc);
    if (rc != 0) {
        ck_assert_ptr_null(d);
        ck_assert_ptr_null(part);
        if (rc == PULSE_EINVAL)
            ck_assert(err.text[0] != '\0');
        return rc;
    }
    same(d->channel, d->channel_len, want.channel, want.channel_len);
    same(d->event_id, d->event_id_len, want.event_id, want.event_id_len);
    same(d->event_type, d->event_type_len, want.event_type, want.event_type_len);
    same(d->epoch, d->epoch_len, want.epoch, want.epoch_len);
    ck_assert_uint_eq(d->sequence, want.sequence);
    ck_assert_int_eq(d->published_at_us, want.published_at_us);
    ck_assert_uint_eq(d->offset, want.offset);
    ck_assert_int_eq(d->priority, want.priority);
    same(part->text, part->len, want_part.text, want_part.len);
    same(part->offset_text, part->offset_len, want_part.offset_text, want_part.offset_len);
    return 0;
}

START_TEST(test_init_sizes)
{
    sub_memo m;
    ck_assert_int_eq(sub_memo_init(&m, 0, 1u << 20), -1);
    ck_assert_int_eq(sub_memo_init(&m, 3, 1u << 20), -1);
    ck_assert_int_eq(sub_memo_init(&m, 4, 1000), -1);          /* under 64 KiB */
    ck_assert_int_eq(sub_memo_init(&m, 4, (64u << 10) + 1), -1); /* not a multiple of 64 */
    ck_assert_int_eq(sub_memo_init(&m, 1, 64u << 10), 0);
    sub_memo_free(&m);
}
END_TEST

/* The case it is for: reader 0 meets 300 envelopes first, 9 more readers meet the same
 * ones in the same order: one scan an envelope, every other answer a hit. */
START_TEST(test_readers_follow)
{
    static char env[ENV_MAX];
    sub_memo m;
    uint64_t next[10] = {0};

    ck_assert_int_eq(sub_memo_init(&m, 1024, 4u << 20), 0);
    for (unsigned r = 0; r < 10; r++) {
        for (unsigned i = 0; i < 300; i++)
            ck_assert_int_eq(get_checked(&m, env, make_env(env, i, (int)(i % 2)), &next[r]), 0);
    }
    ck_assert_uint_eq(m.scans, 300);
    ck_assert_uint_eq(m.hits, 2700);
    sub_memo_free(&m);
}
END_TEST

/* Two envelopes of one length that differ only where the hash does not look (the middle)
 * share a set: each must still get its own answer, by every path (index, a reader's
 * prediction naming the other). */
START_TEST(test_same_hash_other_bytes)
{
    static char a[ENV_MAX], b[ENV_MAX];
    sub_memo m;
    uint64_t next = 0, other;
    size_t la = make_env(a, 7, 0), lb;

    memcpy(b, a, la);
    lb = la;
    {
        char *seq = strstr(b, "\"sequence\":7,");
        ck_assert_ptr_nonnull(seq);
        ck_assert_uint_gt((size_t)(seq - b), 96);
        ck_assert_uint_lt((size_t)(seq - b), lb - 32);
        seq[11] = '8'; /* "sequence":8 */
    }
    ck_assert_int_eq(sub_memo_init(&m, 1, 64u << 10), 0);
    ck_assert_int_eq(get_checked(&m, b, lb, &next), 0); /* kept first */
    ck_assert_int_eq(get_checked(&m, a, la, &next), 0); /* kept after b */
    for (int round = 0; round < 4; round++) {
        other = 0;
        ck_assert_int_eq(get_checked(&m, b, lb, &other), 0); /* found by the index... */
        ck_assert_int_eq(get_checked(&m, b, lb, &other), 0); /* ...then predicted to be a */
        ck_assert_int_eq(get_checked(&m, a, la, &other), 0);
        ck_assert_int_eq(get_checked(&m, a, la, &next), 0);
    }
    ck_assert_uint_eq(m.scans, 2); /* both kept, each in its own way of the one set */
    sub_memo_free(&m);
}
END_TEST

/* What is not a delivery is answered as a scan answers it, every time. */
START_TEST(test_failures_not_kept)
{
    static char env[ENV_MAX];
    sub_memo m;
    uint64_t next = 0;
    size_t len;

    ck_assert_int_eq(sub_memo_init(&m, 16, 64u << 10), 0);
    for (int kind = 3; kind <= 5; kind++) {
        len = make_env(env, 11, kind);
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(get_checked(&m, env, len, &next), kind == 3 ? PULSE_ENOENT : PULSE_EINVAL);
    }
    ck_assert_uint_eq(m.scans, 9);
    ck_assert_uint_eq(m.hits, 0);
    len = make_env(env, 12, 2); /* too long to keep: scanned each time, answered right */
    ck_assert_int_eq(get_checked(&m, env, len, &next), 0);
    ck_assert_int_eq(get_checked(&m, env, len, &next), 0);
    ck_assert_uint_eq(m.scans, 11);
    sub_memo_free(&m);
}
END_TEST

/* Random walks over every kind, many readers, a ring small enough to wrap hundreds of
 * times and an index of one set (constant eviction) or many. */
static void random_walk(size_t nsets, size_t ring, unsigned seed)
{
    static char env[ENV_MAX];
    sub_memo m;
    uint64_t next[8] = {0};
    unsigned pos[8] = {0};

    srand(seed);
    ck_assert_int_eq(sub_memo_init(&m, nsets, ring), 0);
    for (int step = 0; step < 20000; step++) {
        unsigned r = (unsigned)rand() % 8, i;
        int kind, roll = rand() % 100;

        if (roll < 70) {
            i = pos[r]++ % 400; /* the common stream, each reader at its own place */
        } else if (roll < 90) {
            i = (unsigned)rand() % 400;
        } else {
            i = 1000 + (unsigned)rand() % 50;
        }
        kind = i >= 1000 ? 2 + rand() % 4 : (int)(i % 3 == 0);
        if (kind == 2 && rand() % 8 != 0)
            kind = 0; /* long envelopes are slow to make: fewer */
        get_checked(&m, env, make_env(env, i, kind), &next[r]);
    }
    ck_assert_uint_gt(m.hits, 0);
    sub_memo_free(&m);
}

START_TEST(test_random_walks)
{
    random_walk(1, 64u << 10, 1);
    random_walk(2, 64u << 10, 2);
    random_walk(256, 128u << 10, 3);
    random_walk(4096, 4u << 20, 4);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("memo");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_init_sizes);
    tcase_add_test(tc, test_readers_follow);
    tcase_add_test(tc, test_same_hash_other_bytes);
    tcase_add_test(tc, test_failures_not_kept);
    tcase_add_test(tc, test_random_walks);
    suite_add_tcase(s, tc);
    return s;
}
