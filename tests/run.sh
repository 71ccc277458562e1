#!/usr/bin/env bash
# Runs every Pulse test: installs missing Debian packages, builds, runs the unit and
# integration tests (ctest), then does it all again under AddressSanitizer +
# UndefinedBehaviorSanitizer. Tests start their own redis-server on free loopback ports.
#
#   tests/run.sh            everything (normal build, then ASan+UBSan build)
#   tests/run.sh --quick    normal build only
#   tests/run.sh -R regex   only the ctest cases matching regex (both builds)
#   tests/run.sh --compose  only tests/compose/run.sh: docker-compose.yml executed with
#                           podman (root; 1.5-2 min with cached images, ~4 min cold
#                           here: the debootstrap tree alone takes 1-9 min by mirror)
#   tests/run.sh --package  only tests/package/run.sh: the .deb installed into a clean
#                           debootstrap tree and run from it (root; ~3 min warm)
# The last two need `scripts/install-deps.sh --heavy` (they install it) and are not
# part of the default run.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    -R) ctest_args+=(-R "$2"); shift ;;
    --compose|--package)
      scripts/install-deps.sh --test --heavy
      cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
      cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
      exec "tests/${1#--}/run.sh" ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "tests/run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh --test

jobs=$(nproc 2>/dev/null || echo 2)
run_suite() { # build-dir, extra ctest args (one word or ""), cmake args...
  local dir=$1 extra=$2; shift 2
  echo "==> configure $dir $*"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  echo "==> build $dir"
  cmake --build "$dir" -j"$jobs" 2>&1 | grep -Ev '^\[ *[0-9]+%\]|^(Consolidate|Scanning|Built target)' || true
  cmake --build "$dir" -j"$jobs" >/dev/null  # fail here if the build failed
  echo "==> test $dir"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" ${ctest_args[@]+"${ctest_args[@]}"} $extra)
}

run_suite build ""
if [ "$quick" = 0 ]; then
  # detect_leaks: every test ends with nothing leaked; halt_on_error keeps failures loud
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # test_fuzz_smoke builds its own clang + libFuzzer + ASan binaries: once is enough
  run_suite build-asan "-E test_fuzz_smoke" -DPULSE_SANITIZE=ON
fi
echo "==> all tests passed"
