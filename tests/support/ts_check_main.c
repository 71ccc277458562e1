/*
 * ts_check_main.c - the main() of every Check test binary (unit and integration):
 * runs the suite of ts_suite() in fork mode (a crashing or timed-out test fails alone
 * and its fixtures' children die with it), and turns the failures into the exit
 * status ctest reads. The runner owns the suite and frees it. Also the helpers
 * of ts_check.h that build suites (ts_tcase, ts__add_tests behind ts_add_tests,
 * ts__suite_of behind ts_suite_of and ts_suite_fixed).
 */
#include <stdlib.h>

#include "ts_check.h"

int main(void)
{
    SRunner *sr = srunner_create(ts_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

TCase *ts_tcase(Suite *s, const char *name, int timeout_s)
{
    TCase *tc = tcase_create(name);
    if (timeout_s > 0)
        tcase_set_timeout(tc, (double)timeout_s);
    suite_add_tcase(s, tc);
    return tc;
}

void ts__add_tests(TCase *tc, const TTest *const tests[])
{
    for (int i = 0; tests[i] != NULL; i++)
        _tcase_add_test(tc, tests[i], 0, 0, 0, 1); /* = tcase_add_test(tc, tests[i]) */
}

Suite *ts__suite_of(const char *name, const char *tcase, int timeout_s, SFun up, SFun down,
                    SFun setup, SFun teardown, const TTest *const tests[])
{
    Suite *s = suite_create(name);
    TCase *tc = ts_tcase(s, tcase, timeout_s);
    if (up != NULL || down != NULL)
        tcase_add_unchecked_fixture(tc, up, down);
    if (setup != NULL || teardown != NULL)
        tcase_add_checked_fixture(tc, setup, teardown);
    ts__add_tests(tc, tests);
    return s;
}
