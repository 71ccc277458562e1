/*
 * test_fuzz_smoke.c - the short bounded fuzz run as part of the suite: fuzz/run.sh 10
 * builds the libFuzzer targets with clang (installing clang when missing) in
 * <build dir>/fuzz-smoke and runs fuzz_proto, fuzz_cf, fuzz_event, fuzz_delivery,
 * fuzz_position, fuzz_histwire, fuzz_slotmap, fuzz_preswire, fuzz_adminhdr, fuzz_url and
 * fuzz_subws for 10 s each, starting from the seed corpora in fuzz/corpus/. Passes when
 * none crashed or broke an invariant; a finding is kept in
 * <build dir>/fuzz-smoke/work/artifacts/ and the tail of its log is printed. About
 * 125 s on two cores. The long run is
 * documented in docs/RELIABILITY.md (fuzz/run.sh 3600).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "ts_check.h"
#include "ts.h"

START_TEST(test_fuzz_run_10s)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "PULSE_FUZZ_BUILD='%s/fuzz-smoke' PULSE_FUZZ_DIR='%s/fuzz-smoke/work' timeout 300 sh '%s/fuzz/run.sh' 10",
             PULSE_BIN_DIR, PULSE_BIN_DIR, PULSE_SOURCE_DIR);
    int64_t t0 = ts_now_ms();
    int st = system(cmd);
    int64_t dt = ts_now_ms() - t0;
    int code = st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    fprintf(stderr, "fuzz smoke: fuzz/run.sh 10 exited %d after %lld ms\n", code, (long long)dt);
    ck_assert_msg(code == 0, "fuzz/run.sh 10 exited %d (see its output above; crash inputs in %s/fuzz-smoke/work/artifacts/)",
                  code, PULSE_BIN_DIR);
}
END_TEST

Suite *ts_suite(void)
{
    return ts_suite_of("fuzz_smoke", "fuzz_smoke", 300, test_fuzz_run_10s);
}
