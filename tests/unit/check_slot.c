/*
 * check_slot.c - the Redis Cluster key slot (gateway/redis/gw_slot.c): CRC16/XMODEM
 * and the hash-tag rule against values a real Redis 7.0.15 cluster gave for
 * `CLUSTER KEYSLOT <key>` (recorded 2026-12-02 on this machine; the integration test
 * test_redis_cluster.c asks a live cluster again), the table against a bit-by-bit
 * CRC, the history keys' slot, and the per-slot batching plan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_slot.h"
#include "pulse_channel.h"
#include "ts_check.h"

static const struct {
    const char *key;
    unsigned slot;
} keyslot_cases[] = {
    {"", 0},
    {"a", 15495},
    {"foo", 12182},
    {"bar", 5061},
    {"123456789", 12739},
    {"events.critical", 8761},
    {"alerts.cpu", 2510},
    {"alerts.*", 1819},
    {"user:1000", 1649},
    {"chat:room-42", 1959},
    {"x@y-z_w.v", 15567},
    /* hash tags */
    {"{user1000}.following", 3443},
    {"{user1000}.followers", 3443},
    {"foo{}{bar}", 8363},     /* empty first tag: the whole key is hashed */
    {"foo{{bar}}zap", 4015},  /* tag is "{bar" */
    {"foo{bar}{zap}", 5061},  /* tag is "bar", like "bar" */
    {"{}", 15257},
    {"}{", 12793},
    {"{a", 10276},
    {"a}", 5921},
    {"{a}", 15495},           /* like "a" */
    {"{", 4092},
    {"}", 12090},
    {"ab{cd}ef{gh}", 12891},
    {"{ab}", 13567},
    {"pulse:{events.critical}:meta", 8761},
    {"pulse:{events.critical}:stream", 8761},
    {"pulse:{alerts.cpu}:meta", 2510},
};

START_TEST(test_keyslot_table)
{
    const char *key = keyslot_cases[_i].key;
    unsigned got = gw_slot_of(key, strlen(key));
    ck_assert_msg(got == keyslot_cases[_i].slot, "CLUSTER KEYSLOT \"%s\": Redis says %u, we say %u", key,
                  keyslot_cases[_i].slot, got);
}
END_TEST

START_TEST(test_binary_key)
{
    /* redis-cli -x CLUSTER KEYSLOT < (printf '\xff\x00\x80binary') -> 5226 */
    const char key[] = "\xff\x00\x80" "binary";
    ck_assert_uint_eq(gw_slot_of(key, sizeof key - 1), 5226);
}
END_TEST

START_TEST(test_crc16_check_value)
{
    /* the CRC-16/XMODEM check value, and the table against the bitwise definition */
    ck_assert_uint_eq(gw_crc16("123456789", 9), 0x31c3);
    ck_assert_uint_eq(gw_crc16("", 0), 0);
    unsigned char buf[256];
    for (int i = 0; i < 256; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof buf; len += 17) {
        uint16_t crc = 0;
        for (size_t i = 0; i < len; i++) {
            crc ^= (uint16_t)(buf[i] << 8);
            for (int b = 0; b < 8; b++)
                crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        }
        ck_assert_uint_eq(gw_crc16(buf, len), crc);
    }
}
END_TEST

START_TEST(test_history_keys_share_the_channel_slot)
{
    /* every valid channel name: pulse:{C}:meta and pulse:{C}:stream hash like C */
    char name[PULSE_CHANNEL_MAX + 1], key[PULSE_CHANNEL_MAX + 32];
    const char alphabet[] = "abcXYZ019._:@-";
    unsigned seed = 12345;
    for (int i = 0; i < 5000; i++) {
        size_t len = 1 + (seed = seed * 1103515245u + 12345u) % PULSE_CHANNEL_MAX;
        for (size_t k = 0; k < len; k++)
            name[k] = alphabet[(seed = seed * 1103515245u + 12345u) % (sizeof alphabet - 1)];
        name[len] = '\0';
        ck_assert_int_eq(pulse_channel_validate(name, len), 0);
        unsigned slot = gw_slot_of(name, len);
        int n = snprintf(key, sizeof key, "pulse:{%s}:meta", name);
        ck_assert_uint_eq(gw_slot_of(key, (size_t)n), slot);
        n = snprintf(key, sizeof key, "pulse:{%s}:stream", name);
        ck_assert_uint_eq(gw_slot_of(key, (size_t)n), slot);
    }
}
END_TEST

START_TEST(test_plan_groups_by_slot)
{
    /* "{user1000}.following" and "{user1000}.followers" share slot 3443; "a" and "{a}"
     * share 15495; "bar" and "foo{bar}{zap}" share 5061 */
    const char *names[] = {"a", "{user1000}.following", "bar", "{a}", "foo", "{user1000}.followers",
                           "foo{bar}{zap}"};
    size_t n = sizeof names / sizeof names[0];
    gw_slot_ref refs[7];
    gw_slot_batch b[7];
    size_t nb = gw_slot_plan(names, NULL, n, 0, refs, b);
    ck_assert_uint_eq(nb, 4);
    ck_assert_uint_eq(b[0].slot, 3443);
    ck_assert_uint_eq(b[0].count, 2);
    ck_assert_uint_eq(refs[b[0].first].index, 1); /* the caller's order is kept */
    ck_assert_uint_eq(refs[b[0].first + 1].index, 5);
    ck_assert_uint_eq(b[1].slot, 5061);
    ck_assert_uint_eq(b[1].count, 2);
    ck_assert_uint_eq(refs[b[1].first].index, 2);
    ck_assert_uint_eq(refs[b[1].first + 1].index, 6);
    ck_assert_uint_eq(b[2].slot, 12182);
    ck_assert_uint_eq(b[2].count, 1);
    ck_assert_uint_eq(b[3].slot, 15495);
    ck_assert_uint_eq(b[3].count, 2);
    ck_assert_uint_eq(refs[b[3].first].index, 0);
    ck_assert_uint_eq(refs[b[3].first + 1].index, 3);
    /* every index exactly once */
    int seen[7] = {0};
    for (size_t i = 0; i < n; i++)
        seen[refs[i].index]++;
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(seen[i], 1);
}
END_TEST

START_TEST(test_plan_splits_long_runs_and_uses_lens)
{
    /* 5 names in one slot (one hash tag), at most 2 per batch -> 2 + 2 + 1 */
    const char *names[] = {"{t}1", "{t}2", "{t}3", "{t}4", "{t}5xxx"};
    size_t lens[] = {4, 4, 4, 4, 4}; /* the last one is "{t}5" by its length */
    gw_slot_ref refs[5];
    gw_slot_batch b[5];
    size_t nb = gw_slot_plan(names, lens, 5, 2, refs, b);
    ck_assert_uint_eq(nb, 3);
    ck_assert_uint_eq(b[0].count, 2);
    ck_assert_uint_eq(b[1].count, 2);
    ck_assert_uint_eq(b[2].count, 1);
    ck_assert_uint_eq(b[2].first, 4);
    for (size_t i = 0; i < nb; i++)
        ck_assert_uint_eq(b[i].slot, gw_slot_of("t", 1));
    ck_assert_uint_eq(gw_slot_plan(names, lens, 0, 2, refs, b), 0);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("slot");
    TCase *tc = ts_tcase(s, "slot", 0);
    tcase_add_loop_test(tc, test_keyslot_table, 0, N_ELEMS(keyslot_cases));
    ts_add_tests(tc, test_binary_key, test_crc16_check_value,
                 test_history_keys_share_the_channel_slot, test_plan_groups_by_slot,
                 test_plan_splits_long_runs_and_uses_lens);
    return s;
}
