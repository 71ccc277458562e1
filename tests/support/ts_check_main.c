/*
 * ts_check_main.c - the main() of every Check test binary (unit and integration):
 * runs the suite of ts_suite() in fork mode (a crashing or timed-out test fails alone
 * and its fixtures' children die with it), and turns the failures into the exit
 * status ctest reads. The runner owns the suite and frees it.
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
