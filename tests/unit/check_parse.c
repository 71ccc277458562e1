/*
 * check_parse.c - unit tests for pulse_parse_u64 and pulse_parse_double, the strict
 * option parsers of the tools: good values, the bounds themselves, and rejection of the
 * empty string, signs, overflow, trailing garbage and values beyond the bounds (with
 * the output left untouched).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "ts_check.h"
#include "pulse_parse.h"

#define UNTOUCHED_U64 0xdeadbeefULL
#define UNTOUCHED_DBL -12345.5

static const struct {
    const char *in;
    uint64_t max;
    int rc;        /* 0 or PULSE_EINVAL */
    uint64_t want; /* when rc is 0 */
} u64_cases[] = {
    /* good */
    {"0", 10, 0, 0},
    {"7", 10, 0, 7},
    {"007", 10, 0, 7},
    {"1000000", 1000000000ULL, 0, 1000000},
    {"18446744073709551615", UINT64_MAX, 0, UINT64_MAX},
    /* max bound: equal is fine, one more is not */
    {"10", 10, 0, 10},
    {"11", 10, PULSE_EINVAL, 0},
    {"1000000001", 1000000000ULL, PULSE_EINVAL, 0},
    {"5", 0, PULSE_EINVAL, 0},
    /* empty */
    {"", UINT64_MAX, PULSE_EINVAL, 0},
    /* negative */
    {"-1", UINT64_MAX, PULSE_EINVAL, 0},
    {"-0", UINT64_MAX, PULSE_EINVAL, 0},
    /* overflow */
    {"18446744073709551616", UINT64_MAX, PULSE_EINVAL, 0},
    {"99999999999999999999999", UINT64_MAX, PULSE_EINVAL, 0},
    /* trailing garbage and no digits */
    {"12abc", UINT64_MAX, PULSE_EINVAL, 0},
    {"12 ", UINT64_MAX, PULSE_EINVAL, 0},
    {"1.5", UINT64_MAX, PULSE_EINVAL, 0},
    {"0x10", UINT64_MAX, PULSE_EINVAL, 0},
    {"abc", UINT64_MAX, PULSE_EINVAL, 0},
    {" ", UINT64_MAX, PULSE_EINVAL, 0},
};

START_TEST(test_u64)
{
    uint64_t v = UNTOUCHED_U64;
    int rc = pulse_parse_u64(u64_cases[_i].in, u64_cases[_i].max, &v);
    ck_assert_msg(rc == u64_cases[_i].rc, "'%s' (max %llu): rc %d, want %d", u64_cases[_i].in,
                  (unsigned long long)u64_cases[_i].max, rc, u64_cases[_i].rc);
    if (rc == 0)
        ck_assert_msg(v == u64_cases[_i].want, "'%s': got %llu, want %llu", u64_cases[_i].in,
                      (unsigned long long)v, (unsigned long long)u64_cases[_i].want);
    else
        ck_assert_msg(v == UNTOUCHED_U64, "'%s': output written on error", u64_cases[_i].in);
}
END_TEST

static const struct {
    const char *in;
    double min, max;
    int rc;
    double want;
} dbl_cases[] = {
    /* good */
    {"0", 0, 1e7, 0, 0},
    {"2.5", 0, 10, 0, 2.5},
    {"1e3", 0, 1e7, 0, 1000},
    {"-3.25", -10, 10, 0, -3.25},
    {"0.001", 0.001, 1e7, 0, 0.001},
    /* bounds: both ends are inclusive */
    {"10000000", 0, 1e7, 0, 1e7},
    {"10000000.5", 0, 1e7, PULSE_EINVAL, 0},
    {"0.0009", 0.001, 1e7, PULSE_EINVAL, 0},
    /* empty */
    {"", 0, 1e7, PULSE_EINVAL, 0},
    /* negative below the minimum */
    {"-1", 0, 1e7, PULSE_EINVAL, 0},
    /* overflow */
    {"1e999", 0, INFINITY, PULSE_EINVAL, 0},
    {"-1e999", -INFINITY, 0, PULSE_EINVAL, 0},
    /* not numbers in range */
    {"nan", -1e9, 1e9, PULSE_EINVAL, 0},
    {"inf", 0, 1e7, PULSE_EINVAL, 0},
    /* trailing garbage and no digits */
    {"1.5x", 0, 1e7, PULSE_EINVAL, 0},
    {"2 ", 0, 1e7, PULSE_EINVAL, 0},
    {"1:2", 0, 1e7, PULSE_EINVAL, 0},
    {"abc", 0, 1e7, PULSE_EINVAL, 0},
    {".", 0, 1e7, PULSE_EINVAL, 0},
};

START_TEST(test_double)
{
    double v = UNTOUCHED_DBL;
    int rc = pulse_parse_double(dbl_cases[_i].in, dbl_cases[_i].min, dbl_cases[_i].max, &v);
    ck_assert_msg(rc == dbl_cases[_i].rc, "'%s' (%g..%g): rc %d, want %d", dbl_cases[_i].in,
                  dbl_cases[_i].min, dbl_cases[_i].max, rc, dbl_cases[_i].rc);
    if (rc == 0)
        ck_assert_msg(v == dbl_cases[_i].want, "'%s': got %.17g, want %.17g", dbl_cases[_i].in, v,
                      dbl_cases[_i].want);
    else
        ck_assert_msg(v == UNTOUCHED_DBL, "'%s': output written on error", dbl_cases[_i].in);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("parse");
    TCase *tc = ts_tcase(s, "u64", 0);
    tcase_add_loop_test(tc, test_u64, 0, N_ELEMS(u64_cases));

    tc = ts_tcase(s, "double", 0);
    tcase_add_loop_test(tc, test_double, 0, N_ELEMS(dbl_cases));
    return s;
}
