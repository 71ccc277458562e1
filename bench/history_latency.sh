#!/usr/bin/env bash
# history_latency.sh - delivery latency with and without history: the same clients,
# the same rate, the same 256 B events, published once through FCALL pulse_publish
# (pulse-publish's default: offset, stream, TTL, then PUBLISH) and once as a raw
# PUBLISH (pulse-publish --raw). Figures, not pass/fail.
#
#   bench/history_latency.sh [REPEAT]    runs per mode and case (default 2), the modes
#                                        interleaved (raw, fcall, raw, fcall...) so the
#                                        machine's load falls on both alike
#
# One redis-server and one gateway on loopback; the channel is events.critical (history
# by the built-in rule: 1000 events, one day). Cases (clients x events/s for 10 s):
#   classic   50 x 10/s      light load
#   fanout  1000 x 100/s     100,000 deliveries/s
# pulse-wsbench measures: latency = receive time minus the event's published_at_us
# (pulse-publish stamps it just before sending). Each row also gives Redis CPU over the
# run in ms (INFO cpu; at these rates Redis's own timers weigh as much as the
# publishes: bench/history_cost.sh and history_steps.sh measure per publish) and the
# gateway's CPU per delivery.
# Results in bench/results/latency-<timestamp>/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
pulse_bench_init latency "${1:-}"
REPEAT=${1:-2}
CH=events.critical
pulse_build "$BUILD" RelWithDebInfo pulse-gateway pulse-publish pulse-wsbench
fail() { echo "history_latency.sh: $*" >&2; exit 1; }

pulse_start_redis "$OUT" "$OUT/redis.log"
PIDS+=("$PULSE_REDIS_PID")
REDIS=$PULSE_REDIS_URL
pulse_start_gateway "$OUT/gw.out" "$OUT/gw.err" --redis "$REDIS" --node-id lat --log-level warn ||
  fail "the gateway did not start"
WS_PORT=$PULSE_GW_PORT

# warm up: the library loaded, the stream there
"$PUB" --redis "$REDIS" --channel "$CH" --count 100 --quiet 2>>"$OUT/publish.err"

FMT='%-7s %-6s %7s %6s %7s %9s %9s %7s %7s %7s %9s %8s\n'
run() { # case mode clients rate
  local cs=$1 mode=$2 clients=$3 rate=$4 events dir sub c0 c1 g0 g1 done_line args=()
  events=$((rate * 10))
  dir="$OUT/$cs-$mode-$RUN"
  mkdir -p "$dir"
  [ "$mode" = raw ] && args=(--raw)
  "$WSB" sub --url "ws://127.0.0.1:$WS_PORT/ws?channels=$CH" --subprotocol pulse.v1 --ready-match '"subscribed"' \
    --clients "$clients" --expect $((clients * events)) --duration 60 --quiet-ms 5000 \
    >"$dir/client.out" 2>"$dir/client.err" &
  sub=$!
  PIDS+=("$sub")
  pulse_wait_line "$dir/client.out" '^wsbench ready' 60 "$sub" >/dev/null || fail "the clients did not get ready"
  c0=$(pulse_redis_cpu_us "$PULSE_REDIS_PORT"); g0=$(pulse_cpu_ticks "$GW_PID")
  "$PUB" --redis "$REDIS" --channel "$CH" "${args[@]}" --count "$events" --rate "$rate" --payload-bytes 256 \
    --quiet 2>>"$dir/publish.err"
  # (the client may print its line and exit between two looks: look once more)
  done_line=$(pulse_wait_line "$dir/client.out" '^wsbench done' 70 "$sub") ||
    done_line=$(grep -m1 '^wsbench done' "$dir/client.out" || true)
  c1=$(pulse_redis_cpu_us "$PULSE_REDIS_PORT"); g1=$(pulse_cpu_ticks "$GW_PID")
  pulse_stop_pid "$sub" TERM 50
  # shellcheck disable=SC2059
  printf "$FMT" "$cs" "$mode" "$clients" "$rate" "$events" "$(pulse_kv deliveries "$done_line")" \
    "$(pulse_kv dropped "$done_line")" "$(pulse_kv p50_ms "$done_line")" "$(pulse_kv p99_ms "$done_line")" \
    "$(pulse_kv max_ms "$done_line")" "$(((c1 - c0) / 1000))" \
    "$(awk -v t=$((g1 - g0)) -v hz="$HZ" -v d="$(pulse_kv deliveries "$done_line")" 'BEGIN {printf "%.2f", d ? t / hz * 1e6 / d : 0}')"
}

{
  echo "# history_latency.sh $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, redis $(redis-server --version | awk '{print $3}'), load $(cut -d' ' -f1-3 /proc/loadavg), 256 B events on $CH"
  # shellcheck disable=SC2059
  printf "$FMT" case mode clients rate/s events received dropped p50_ms p99_ms max_ms redis_ms gwus/dl
} | tee "$OUT/summary.txt"
for ((RUN = 1; RUN <= REPEAT; RUN++)); do
  for cs in classic fanout; do
    case $cs in classic) c=50 r=10 ;; fanout) c=1000 r=100 ;; esac
    for mode in raw fcall; do
      run "$cs" "$mode" "$c" "$r" | tee -a "$OUT/summary.txt"
    done
  done
done
