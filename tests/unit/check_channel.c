/*
 * check_channel.c - unit tests for channel name and pattern validation and for the
 * '*' glob match (including patterns that would make a naive backtracking matcher
 * take exponential time).
 */
#include <stdlib.h>
#include <string.h>

#include "ts_check.h"
#include "pulse_channel.h"
#include "pulse_err.h"

START_TEST(test_validate_good)
{
    static const char *const good[] = {"a", "events.critical", "feed:user-42", "x@y_z-1.2:3",
                                       "ABCxyz0123456789"};
    for (int i = 0; i < N_ELEMS(good); i++)
        ck_assert_msg(pulse_channel_validate(good[i], strlen(good[i])) == 0, "%s", good[i]);
}
END_TEST

START_TEST(test_validate_length)
{
    char name[PULSE_CHANNEL_MAX + 2];
    memset(name, 'c', sizeof name);
    ck_assert_int_eq(pulse_channel_validate(name, 0), PULSE_EINVAL);
    ck_assert_int_eq(pulse_channel_validate(name, 1), 0);
    ck_assert_int_eq(pulse_channel_validate(name, 128), 0);
    ck_assert_int_eq(pulse_channel_validate(name, 129), PULSE_EINVAL);
    ck_assert_int_eq(pulse_channel_validate(NULL, 3), PULSE_EINVAL);
    /* len is honoured: the bad character after it is not looked at */
    ck_assert_int_eq(pulse_channel_validate("abc def", 3), 0);
}
END_TEST

/* Every byte value outside [A-Za-z0-9._:@-] is rejected, in first, middle and last
 * position; each one in the alphabet is accepted. */
START_TEST(test_validate_each_char)
{
    int c = _i;
    char name[3] = {'a', 'a', 'a'};
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
    for (int pos = 0; pos < 3; pos++) {
        memset(name, 'a', sizeof name);
        name[pos] = (char)c;
        ck_assert_msg(pulse_channel_validate(name, 3) == (ok ? 0 : PULSE_EINVAL),
                      "char %d at %d", c, pos);
    }
}
END_TEST

START_TEST(test_validate_pattern)
{
    bool pat = true;
    char name[PULSE_CHANNEL_MAX + 1];
    ck_assert_int_eq(pulse_channel_validate_pattern("events.critical", 15, &pat), 0);
    ck_assert(!pat);
    ck_assert_int_eq(pulse_channel_validate_pattern("events.*", 8, &pat), 0);
    ck_assert(pat);
    ck_assert_int_eq(pulse_channel_validate_pattern("*", 1, &pat), 0);
    ck_assert(pat);
    ck_assert_int_eq(pulse_channel_validate_pattern("a*b*c", 5, NULL), 0);
    ck_assert_int_eq(pulse_channel_validate_pattern("", 0, &pat), PULSE_EINVAL);
    ck_assert_int_eq(pulse_channel_validate_pattern("events.?", 8, &pat), PULSE_EINVAL);
    ck_assert_int_eq(pulse_channel_validate_pattern("ev[a]", 5, &pat), PULSE_EINVAL);
    ck_assert_int_eq(pulse_channel_validate_pattern("a b*", 4, &pat), PULSE_EINVAL);
    /* '*' is not a valid character of a plain channel name */
    ck_assert_int_eq(pulse_channel_validate("events.*", 8), PULSE_EINVAL);
    memset(name, '*', sizeof name);
    ck_assert_int_eq(pulse_channel_validate_pattern(name, 128, &pat), 0);
    ck_assert_int_eq(pulse_channel_validate_pattern(name, 129, &pat), PULSE_EINVAL);
}
END_TEST

static const struct {
    const char *pattern, *channel;
    bool want;
} match_cases[] = {
    {"*", "anything", true},
    {"*", "", true},
    {"events.*", "events.critical", true},
    {"events.*", "events.", true},
    {"events.*", "events", false},
    {"events.*", "alerts.critical", false},
    {"*.critical", "events.critical", true},
    {"*.critical", "events.critical.x", false},
    {"a*b*c", "abc", true},
    {"a*b*c", "aXXbYYc", true},
    {"a*b*c", "abcabc", true},
    {"a*b*c", "acb", false},
    {"a*b*c", "abcab", false},
    {"a**b", "ab", true},
    {"exact", "exact", true},
    {"exact", "exacter", false},
    {"exact", "exac", false},
    {"", "", true},
    {"", "a", false},
    {"feed:*-42", "feed:user-42", true},
    {"feed:*-42", "feed:user-43", false},
    {"*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
};

START_TEST(test_match)
{
    ck_assert_msg(pulse_channel_match(match_cases[_i].pattern, match_cases[_i].channel) ==
                      match_cases[_i].want,
                  "'%s' vs '%s'", match_cases[_i].pattern, match_cases[_i].channel);
}
END_TEST

START_TEST(test_match_pathological_is_fast)
{
    /* 64 stars against 128 'a's with no final 'b': exponential for a naive matcher.
     * The TCase timeout (2 s) turns a slow matcher into a failure. */
    char pattern[130], channel[129];
    for (int i = 0; i < 64; i++) {
        pattern[2 * i] = '*';
        pattern[2 * i + 1] = 'a';
    }
    pattern[128] = 'b';
    pattern[129] = '\0';
    memset(channel, 'a', 128);
    channel[128] = '\0';
    for (int rep = 0; rep < 1000; rep++)
        ck_assert(!pulse_channel_match(pattern, channel));
    channel[127] = 'b';
    ck_assert(pulse_channel_match(pattern, channel));
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("channel");
    TCase *tc = ts_tcase(s, "validate", 0);
    ts_add_tests(tc, test_validate_good, test_validate_length);
    tcase_add_loop_test(tc, test_validate_each_char, 0, 256);
    tcase_add_test(tc, test_validate_pattern);
    tc = ts_tcase(s, "match", 2);
    tcase_add_loop_test(tc, test_match, 0, N_ELEMS(match_cases));
    tcase_add_test(tc, test_match_pathological_is_fast);
    return s;
}
