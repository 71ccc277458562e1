/*
 * check_hist.c - unit tests for the latency histogram: exact nearest-rank answers in
 * exact mode, bucket answers within 1% of the sorted truth on a large deterministic
 * data set, the switch from exact to bucket mode, merge, and edge cases (empty,
 * negative values, huge values).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "ts_check.h"
#include "pulse_err.h"
#include "pulse_hist.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank on sorted v[0..n). */
static int64_t truth(const int64_t *v, size_t n, double q)
{
    size_t rank = (size_t)ceil(q / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

/* A deterministic xorshift generator, so failures reproduce. */
static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

START_TEST(test_empty)
{
    pulse_hist *h = pulse_hist_new(100);
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(pulse_hist_count(h), 0);
    ck_assert_int_eq(pulse_hist_min(h), 0);
    ck_assert_int_eq(pulse_hist_max(h), 0);
    ck_assert(pulse_hist_mean(h) == 0.0);
    ck_assert_int_eq(pulse_hist_percentile(h, 50), 0);
    pulse_hist_free(h);
    pulse_hist_free(NULL);
}
END_TEST

static const struct {
    double q;
    int64_t want;
} exact_1_100[] = {
    {0, 1}, {1, 1}, {1.5, 2}, {50, 50}, {90, 90}, {95, 95}, {99, 99}, {99.9, 100}, {100, 100},
};

START_TEST(test_exact_1_to_100)
{
    pulse_hist *h = pulse_hist_new(1000);
    /* recorded out of order so the lazy sort matters */
    for (int64_t v = 100; v >= 1; v -= 2)
        pulse_hist_record(h, v);
    for (int64_t v = 1; v <= 99; v += 2)
        pulse_hist_record(h, v);
    ck_assert(pulse_hist_is_exact(h));
    ck_assert_uint_eq(pulse_hist_count(h), 100);
    ck_assert_int_eq(pulse_hist_min(h), 1);
    ck_assert_int_eq(pulse_hist_max(h), 100);
    ck_assert_double_eq_tol(pulse_hist_mean(h), 50.5, 1e-9);
    ck_assert_int_eq(pulse_hist_percentile(h, exact_1_100[_i].q), exact_1_100[_i].want);
    pulse_hist_free(h);
}
END_TEST

START_TEST(test_exact_large_values_and_resort)
{
    /* Large values (each in a wide bucket) are still answered exactly in exact mode,
     * and recording after a query invalidates the sorted cache. */
    pulse_hist *h = pulse_hist_new(10);
    pulse_hist_record(h, 1000003);
    pulse_hist_record(h, 1000001);
    pulse_hist_record(h, 1000002);
    ck_assert_int_eq(pulse_hist_percentile(h, 50), 1000002);
    pulse_hist_record(h, 5);
    pulse_hist_record(h, 6);
    ck_assert_int_eq(pulse_hist_percentile(h, 50), 1000001);
    ck_assert_int_eq(pulse_hist_percentile(h, 40), 6);
    ck_assert_int_eq(pulse_hist_min(h), 5);
    ck_assert(pulse_hist_is_exact(h));
    pulse_hist_free(h);
}
END_TEST

START_TEST(test_negative_counts_as_zero)
{
    pulse_hist *h = pulse_hist_new(10);
    pulse_hist_record(h, -5);
    pulse_hist_record(h, 10);
    ck_assert_int_eq(pulse_hist_min(h), 0);
    ck_assert_int_eq(pulse_hist_percentile(h, 50), 0);
    ck_assert_double_eq_tol(pulse_hist_mean(h), 5.0, 1e-9);
    pulse_hist_free(h);
}
END_TEST

START_TEST(test_exact_limit_switch)
{
    pulse_hist *h = pulse_hist_new(5);
    for (int64_t v = 1; v <= 5; v++)
        pulse_hist_record(h, v * 1000);
    ck_assert(pulse_hist_is_exact(h));
    ck_assert_int_eq(pulse_hist_percentile(h, 60), 3000);
    pulse_hist_record(h, 6000);
    ck_assert(!pulse_hist_is_exact(h));
    ck_assert_uint_eq(pulse_hist_count(h), 6);
    ck_assert_int_eq(pulse_hist_max(h), 6000);
    ck_assert_int_eq(pulse_hist_min(h), 1000);
    ck_assert_double_eq_tol(pulse_hist_mean(h), 3500.0, 1e-9);
    /* bucket answer for rank 3 (value 3000) within 1% */
    ck_assert_int_le(llabs(pulse_hist_percentile(h, 50) - 3000), 30);

    pulse_hist *never = pulse_hist_new(0);
    pulse_hist_record(never, 1);
    ck_assert(!pulse_hist_is_exact(never));
    ck_assert_int_eq(pulse_hist_percentile(never, 50), 1);
    pulse_hist_free(never);
    pulse_hist_free(h);
}
END_TEST

static const double bucket_qs[] = {0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100};

/* 200000 values spread over many orders of magnitude (1 us .. ~2^40 us). */
START_TEST(test_bucket_within_1pct)
{
    size_t n = 200000;
    int64_t *v = malloc(n * sizeof *v);
    pulse_hist *h = pulse_hist_new(1000);
    long double sum = 0;
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++) {
        int shift = (int)(rng() % 41);
        v[i] = (int64_t)(rng() % ((uint64_t)1 << shift)) + 1;
        sum += v[i];
        pulse_hist_record(h, v[i]);
    }
    qsort(v, n, sizeof *v, cmp_i64);
    ck_assert(!pulse_hist_is_exact(h));
    ck_assert_int_eq(pulse_hist_min(h), v[0]);
    ck_assert_int_eq(pulse_hist_max(h), v[n - 1]);
    ck_assert_double_eq_tol(pulse_hist_mean(h), (double)(sum / n), 1e-3);
    for (size_t i = 0; i < sizeof bucket_qs / sizeof bucket_qs[0]; i++) {
        int64_t want = truth(v, n, bucket_qs[i]);
        int64_t got = pulse_hist_percentile(h, bucket_qs[i]);
        ck_assert_msg(fabs((double)(got - want)) <= 0.01 * (double)want,
                      "q=%g got %lld want %lld", bucket_qs[i], (long long)got, (long long)want);
    }
    /* every percentile from 0.1 to 100 in steps of 0.1 */
    for (int k = 1; k <= 1000; k++) {
        double q = k / 10.0;
        int64_t want = truth(v, n, q), got = pulse_hist_percentile(h, q);
        ck_assert_msg(fabs((double)(got - want)) <= 0.01 * (double)want,
                      "q=%g got %lld want %lld", q, (long long)got, (long long)want);
    }
    free(v);
    pulse_hist_free(h);
}
END_TEST

START_TEST(test_bucket_small_values_exact)
{
    /* values below 256 have a bucket each, so bucket answers are exact there */
    pulse_hist *h = pulse_hist_new(0);
    for (int64_t v = 0; v < 256; v++)
        pulse_hist_record(h, v);
    ck_assert_int_eq(pulse_hist_percentile(h, 50), 127);
    ck_assert_int_eq(pulse_hist_percentile(h, 10), 25);
    pulse_hist_free(h);
}
END_TEST

START_TEST(test_huge_values)
{
    pulse_hist *h = pulse_hist_new(0);
    pulse_hist_record(h, INT64_MAX);
    pulse_hist_record(h, INT64_MAX - 1);
    pulse_hist_record(h, (int64_t)1 << 40);
    pulse_hist_record(h, ((int64_t)1 << 40) + 12345);
    ck_assert_int_eq(pulse_hist_max(h), INT64_MAX);
    ck_assert_double_eq_tol(pulse_hist_percentile(h, 50) / (double)((int64_t)1 << 40), 1.0, 0.01);
    ck_assert_double_eq_tol(pulse_hist_percentile(h, 75) / (double)INT64_MAX, 1.0, 0.01);
    ck_assert_double_eq_tol(pulse_hist_mean(h),
                            ((double)INT64_MAX * 2 + (double)((int64_t)1 << 41)) / 4, 1e6);
    pulse_hist_free(h);
}
END_TEST

START_TEST(test_merge_exact)
{
    pulse_hist *a = pulse_hist_new(200), *b = pulse_hist_new(200), *empty = pulse_hist_new(5);
    for (int64_t v = 1; v <= 50; v++)
        pulse_hist_record(a, v);
    for (int64_t v = 51; v <= 100; v++)
        pulse_hist_record(b, v);
    ck_assert_int_eq(pulse_hist_merge(a, b), 0);
    ck_assert_int_eq(pulse_hist_merge(a, empty), 0);
    ck_assert(pulse_hist_is_exact(a));
    ck_assert_uint_eq(pulse_hist_count(a), 100);
    ck_assert_int_eq(pulse_hist_percentile(a, 50), 50);
    ck_assert_int_eq(pulse_hist_percentile(a, 99), 99);
    ck_assert_int_eq(pulse_hist_max(a), 100);
    ck_assert_int_eq(pulse_hist_min(a), 1);
    ck_assert_double_eq_tol(pulse_hist_mean(a), 50.5, 1e-9);
    /* src unchanged */
    ck_assert_uint_eq(pulse_hist_count(b), 50);
    ck_assert_int_eq(pulse_hist_min(b), 51);
    /* merging into an empty histogram */
    ck_assert_int_eq(pulse_hist_merge(empty, b), PULSE_OK);
    ck_assert_uint_eq(pulse_hist_count(empty), 50);
    ck_assert(!pulse_hist_is_exact(empty)); /* 50 > its limit of 5 */
    ck_assert_int_eq(pulse_hist_min(empty), 51);
    ck_assert_int_eq(pulse_hist_percentile(empty, 50), 75);
    pulse_hist_free(a);
    pulse_hist_free(b);
    pulse_hist_free(empty);
}
END_TEST

START_TEST(test_merge_overflowing_exact)
{
    size_t n = 50000;
    int64_t *v = malloc(2 * n * sizeof *v);
    pulse_hist *a = pulse_hist_new(60000), *b = pulse_hist_new(60000);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < 2 * n; i++) {
        v[i] = (int64_t)(rng() % 5000000) + 100;
        pulse_hist_record(i < n ? a : b, v[i]);
    }
    ck_assert(pulse_hist_is_exact(a));
    ck_assert_int_eq(pulse_hist_merge(a, b), 0);
    ck_assert(!pulse_hist_is_exact(a)); /* 100000 > 60000 */
    ck_assert_uint_eq(pulse_hist_count(a), 2 * n);
    qsort(v, 2 * n, sizeof *v, cmp_i64);
    ck_assert_int_eq(pulse_hist_max(a), v[2 * n - 1]);
    ck_assert_int_eq(pulse_hist_min(a), v[0]);
    for (size_t i = 0; i < sizeof bucket_qs / sizeof bucket_qs[0]; i++) {
        int64_t want = truth(v, 2 * n, bucket_qs[i]);
        int64_t got = pulse_hist_percentile(a, bucket_qs[i]);
        ck_assert_msg(fabs((double)(got - want)) <= 0.01 * (double)want,
                      "q=%g got %lld want %lld", bucket_qs[i], (long long)got, (long long)want);
    }
    free(v);
    pulse_hist_free(a);
    pulse_hist_free(b);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("hist");
    TCase *tc = ts_tcase(s, "hist", 30);
    tcase_add_test(tc, test_empty);
    tcase_add_loop_test(tc, test_exact_1_to_100, 0,
                        N_ELEMS(exact_1_100));
    ts_add_tests(tc, test_exact_large_values_and_resort, test_negative_counts_as_zero,
                 test_exact_limit_switch, test_bucket_within_1pct, test_bucket_small_values_exact,
                 test_huge_values, test_merge_exact, test_merge_overflowing_exact);
    return s;
}
