/*
 * ts_check.h - what every Check binary under tests/ shares. A test file builds its
 * suite in ts_suite(); the one main() (ts_check_main.c, linked into every unit and
 * integration test) runs it with each test in its own forked child, prints Check's
 * normal summary and exits 0 only when every test passed. N_ELEMS sizes the case
 * tables of the table-driven tests (tcase_add_loop_test); ts_add_tests adds a list of
 * plain tests in one call; ts_suite_of builds a whole suite of one TCase.
 *
 * Single-threaded: ts_suite() is called once, by main(), before any test runs.
 */
#ifndef PULSE_TS_CHECK_H
#define PULSE_TS_CHECK_H

#include <check.h>

#define N_ELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The test file's suite (defined once per test binary; main() owns and frees it). */
Suite *ts_suite(void);

/* A TCase called name, added to s; timeout_s > 0 sets its per-test timeout (else
 * Check's default). Add its fixtures and tests after. */
TCase *ts_tcase(Suite *s, const char *name, int timeout_s);

/* Adds the tests (START_TEST names), in this order, to tc: one tcase_add_test each.
 *   ts_add_tests(tc, test_a, test_b, test_c); */
#define ts_add_tests(tc, ...) ts__add_tests((tc), (const TTest *const[]){__VA_ARGS__, NULL})
void ts__add_tests(TCase *tc, const TTest *const tests[]);

/* The suite of a test file with one TCase and no fixtures: suite_create(name),
 * ts_tcase(s, tcase, timeout_s) and the tests in this order.
 *   Suite *ts_suite(void) { return ts_suite_of("fuzz_smoke", "fuzz_smoke", 300, test_a); } */
#define ts_suite_of(name, tcase, timeout_s, ...)                                            \
    ts__suite_of((name), (tcase), (timeout_s), NULL, NULL, NULL, NULL,                       \
                 (const TTest *const[]){__VA_ARGS__, NULL})
/* The same with fixtures: the unchecked one (up, down: once per suite, in the runner)
 * and the checked one (setup, teardown: around each test), each left out when both
 * its functions are NULL. */
#define ts_suite_fixed(name, tcase, timeout_s, up, down, setup, teardown, ...)               \
    ts__suite_of((name), (tcase), (timeout_s), (up), (down), (setup), (teardown),            \
                 (const TTest *const[]){__VA_ARGS__, NULL})
Suite *ts__suite_of(const char *name, const char *tcase, int timeout_s, SFun up, SFun down,
                    SFun setup, SFun teardown, const TTest *const tests[]);

#endif
