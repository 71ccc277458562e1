#!/usr/bin/env bash
# history_cost.sh - what history costs Redis: publishes per second and Redis CPU per
# publish through the function (FCALL pulse_publish) versus a plain PUBLISH, at a few
# payload sizes. Figures, not pass/fail. One throwaway redis-server on loopback, one
# plain SUBSCRIBE client per channel (standing for a gateway node), pulse-publish as
# fast as it goes (pipelined, at most 1024 replies outstanding).
#
#   bench/history_cost.sh [EVENTS]      EVENTS per run (default 50000; a fifth of that
#                                       at 16 KiB); each figure is the best of 3 runs
#                                       ($PULSE_BENCH_REPEAT), the machine being shared
#
# Modes: raw      PUBLISH events.critical <event>           (pulse-publish --raw)
#        fcall-0  FCALL pulse_publish to feed:bench, a channel without history
#                 (the function falls back to PUBLISH)
#        fcall-h  FCALL pulse_publish to events.critical (history: HINCRBY, XADD
#                 MAXLEN ~ 1000, PEXPIRE x2, PUBLISH with the #pulse1 header)
# Redis CPU per publish = the growth of INFO cpu used_cpu_sys + used_cpu_user over the
# run, divided by the events; "x raw" compares it with the raw run of the same size.
# Results also go to bench/results/history-<timestamp>/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
pulse_bench_init history "${1:-}"
EVENTS=${1:-50000}
REPEAT=${PULSE_BENCH_REPEAT:-3}
pulse_build "$BUILD" RelWithDebInfo pulse-publish

pulse_start_redis "$OUT" "$OUT/redis.log"
PIDS+=("$PULSE_REDIS_PID")
PORT=$PULSE_REDIS_PORT
# The SUBSCRIBE clients stand for nodes that keep up: Redis must not drop them over its
# default pub/sub output buffer limit (32 MiB) when one falls behind (16 KiB payloads
# at full speed), or the PUBLISHes after that reach nobody and cost less.
redis-cli -p "$PORT" CONFIG SET client-output-buffer-limit "pubsub 1gb 1gb 0" >/dev/null
for ch in events.critical feed:bench; do
  redis-cli -p "$PORT" SUBSCRIBE "$ch" >/dev/null &
  PIDS+=($!)
done


run() { # mode bytes events -> "pub_per_s redis_us_per_publish", the best of REPEAT runs
  local mode=$1 bytes=$2 n=$3 args c0 c1 line rate k
  case $mode in
    raw) args=(--raw --channel events.critical) ;;
    fcall-0) args=(--channel feed:bench) ;;
    fcall-h) args=(--channel events.critical) ;;
  esac
  for ((k = 0; k < REPEAT; k++)); do
    c0=$(pulse_redis_cpu_us "$PULSE_REDIS_PORT")
    line=$("$PUB" --redis "$PULSE_REDIS_URL" "${args[@]}" --count "$n" --payload-bytes "$bytes" \
      2>>"$OUT/publish.err" | tail -1)
    c1=$(pulse_redis_cpu_us "$PULSE_REDIS_PORT")
    echo "$mode $bytes $line redis_cpu_us=$((c1 - c0))" >>"$OUT/publish.log"
    rate=$(sed -n 's/.* rate=\([0-9.]*\)\/s.*/\1/p' <<<"$line")
    echo "$rate $((c1 - c0))"
  done | awk -v n="$n" 'NR == 1 || $1 > r {r = $1} NR == 1 || $2 < d {d = $2}
                         END {printf "%.0f %.2f\n", r, d / n}'
}

# Warm up: the library gets loaded, the stream exists, the allocator settles.
"$PUB" --redis "$PULSE_REDIS_URL" --count 2000 --quiet 2>>"$OUT/publish.err"
"$PUB" --redis "$PULSE_REDIS_URL" --raw --count 2000 --quiet

{
  echo "# history_cost.sh $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(redis-server --version | awk '{print $3}')"
  printf "%-8s %7s %8s %10s %14s %7s\n" mode bytes events "pub/s" "redis us/pub" "x raw"
  for bytes in 100 1000 16384; do
    n=$EVENTS
    [ "$bytes" -ge 16384 ] && n=$((EVENTS / 5))
    raw_us=
    for mode in raw fcall-0 fcall-h; do
      read -r rate us < <(run "$mode" "$bytes" "$n")
      [ "$mode" = raw ] && raw_us=$us
      printf "%-8s %7s %8s %10s %14s %7s\n" "$mode" "$bytes" "$n" "$rate" "$us" \
        "$(awk -v a="$us" -v b="$raw_us" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}')"
    done
  done
  echo "# stream events.critical: XLEN $(redis-cli -p "$PORT" XLEN 'pulse:{events.critical}:stream')," \
    "memory $(redis-cli -p "$PORT" MEMORY USAGE 'pulse:{events.critical}:stream') bytes"
} | tee "$OUT/summary.txt"
