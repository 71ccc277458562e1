/*
 * check_uuid.c - unit tests for version-4 UUID generation (shape, version and variant
 * bits, uniqueness) and for pulse_uuid_valid.
 */
#include <stdlib.h>
#include <string.h>

#include "ts_check.h"
#include "pulse_uuid.h"

#define N_UUIDS 10000

static int cmp_uuid(const void *a, const void *b)
{
    return memcmp(a, b, 37);
}

START_TEST(test_shape_and_bits)
{
    for (int i = 0; i < 1000; i++) {
        char u[37];
        memset(u, 'Z', sizeof u);
        pulse_uuid4(u);
        ck_assert_uint_eq(strlen(u), 36);
        ck_assert(pulse_uuid_valid(u, 36));
        ck_assert_int_eq(u[8], '-');
        ck_assert_int_eq(u[13], '-');
        ck_assert_int_eq(u[18], '-');
        ck_assert_int_eq(u[23], '-');
        ck_assert_int_eq(u[14], '4'); /* version */
        ck_assert_msg(strchr("89ab", u[19]) != NULL, "variant nibble %c", u[19]);
        for (int j = 0; j < 36; j++)
            ck_assert_msg(strchr("0123456789abcdef-", u[j]) != NULL, "%s", u);
    }
}
END_TEST

START_TEST(test_unique)
{
    char (*all)[37] = malloc(N_UUIDS * sizeof *all);
    ck_assert_ptr_nonnull(all);
    for (int i = 0; i < N_UUIDS; i++)
        pulse_uuid4(all[i]);
    qsort(all, N_UUIDS, sizeof *all, cmp_uuid);
    for (int i = 1; i < N_UUIDS; i++)
        ck_assert_msg(strcmp(all[i - 1], all[i]) != 0, "duplicate %s", all[i]);
    free(all);
}
END_TEST

static const struct {
    const char *s;
    int want;
} valid_cases[] = {
    {"0b9e7a4c-3f1d-4c2e-9a8b-1234567890ab", 1},
    {"0B9E7A4C-3F1D-4C2E-9A8B-1234567890AB", 1},
    {"00000000-0000-0000-0000-000000000000", 1},
    {"0b9e7a4c-3f1d-4c2e-9a8b-1234567890a", 0},
    {"0b9e7a4c-3f1d-4c2e-9a8b-1234567890abc", 0},
    {"0b9e7a4c3f1d-4c2e-9a8b-1234567890abc", 0},
    {"0b9e7a4c-3f1d-4c2e-9a8b_1234567890ab", 0},
    {"0b9e7a4g-3f1d-4c2e-9a8b-1234567890ab", 0},
    {"", 0},
};

START_TEST(test_valid)
{
    const char *s = valid_cases[_i].s;
    ck_assert_int_eq(pulse_uuid_valid(s, strlen(s)), valid_cases[_i].want);
}
END_TEST

START_TEST(test_valid_honours_len)
{
    ck_assert_int_eq(pulse_uuid_valid("0b9e7a4c-3f1d-4c2e-9a8b-1234567890abXYZ", 36), 1);
    ck_assert_int_eq(pulse_uuid_valid(NULL, 36), 0);
}
END_TEST

Suite *ts_suite(void)
{
    Suite *s = suite_create("uuid");
    TCase *tc = ts_tcase(s, "uuid", 0);
    ts_add_tests(tc, test_shape_and_bits, test_unique);
    tcase_add_loop_test(tc, test_valid, 0, N_ELEMS(valid_cases));
    tcase_add_test(tc, test_valid_honours_len);
    return s;
}
