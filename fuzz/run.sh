#!/bin/sh
# fuzz/run.sh [seconds] - build the libFuzzer targets with clang and run each one for
# the given number of seconds (default 20) on a copy of its seed corpus.
#
#   fuzz/run.sh          20 s per target (9 targets: about 180 s plus the build)
#   fuzz/run.sh 10       the short run the test suite does (tests/integration/test_fuzz_smoke.c)
#   fuzz/run.sh 3600     a long run; findings land in $PULSE_FUZZ_DIR/artifacts/
#
# Installs clang with scripts/install-deps.sh when it is missing. Builds in
# ${PULSE_FUZZ_BUILD:-<repo>/build-fuzz} from fuzz/CMakeLists.txt alone (standalone mode:
# only the code under test, nothing else of the project, so it builds in seconds).
# The seed corpus in fuzz/corpus/<target>/ is never written; new inputs go to a work
# copy in ${PULSE_FUZZ_DIR:-<build dir>/work}. Exit status 0 when no target crashed.
set -eu

secs=${1:-20}
case $secs in
    ''|*[!0-9]*) echo "usage: $0 [seconds]" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${PULSE_FUZZ_BUILD:-$root/build-fuzz}
work=${PULSE_FUZZ_DIR:-$build/work}
jobs=${PULSE_FUZZ_JOBS:-2}

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz/run.sh: clang not found; installing it (scripts/install-deps.sh clang)" >&2
    "$root/scripts/install-deps.sh" clang
fi

CC=clang cmake -S "$here" -B "$build" -DPULSE_FUZZ=ON -DPULSE_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log" >&2; exit 1; }
cmake --build "$build" -j"$jobs" >"$build.build.log" 2>&1 ||
    { tail -50 "$build.build.log" >&2; exit 1; }

status=0
for t in fuzz_proto fuzz_cf fuzz_event fuzz_delivery fuzz_position fuzz_histwire fuzz_slotmap fuzz_preswire fuzz_adminhdr fuzz_url fuzz_subws; do
    mkdir -p "$work/$t" "$work/artifacts"
    cp "$here/corpus/$t/"* "$work/$t/" 2>/dev/null || true
    log="$work/$t.log"
    echo "fuzz/run.sh: $t for ${secs}s" >&2
    if "$build/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$work/artifacts/$t-" -print_final_stats=1 "$work/$t" >"$log" 2>&1; then
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
        echo "fuzz/run.sh: $t: ok, $execs runs, $cov" >&2
    else
        status=1
        echo "fuzz/run.sh: $t FAILED; last lines of $log:" >&2
        tail -40 "$log" >&2
        ls "$work/artifacts/" >&2 || true
    fi
done
exit $status
