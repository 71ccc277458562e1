#!/usr/bin/env bash
# bench.sh - Pulse's benchmarks: figures, not pass/fail. One gateway node (the per-core
# figures), a throwaway redis-server, pulse-subscribe and pulse-publish, all on
# loopback; every run is bounded in events and time.
#
#   bench/bench.sh              every scenario below
#   bench/bench.sh classic      50 clients x 50 events (the classic comparison)
#   bench/bench.sh fanout       1000 clients x 100 events/s for 10 s: p99 and gateway CPU
#   bench/bench.sh ramp         1000 clients at 200..1600 events/s: where p99 passes 100 ms
#   bench/bench.sh idle         10000 idle connections: gateway memory per connection
#   bench/bench.sh slowconsumer 100 clients x 200 events/s x 1 KiB, without and with one
#                               client that stops reading: the others' p99 should hold
#
# Gateway CPU is read from /proc/<pid>/stat (utime+stime) over the publishing window,
# as a share of one core. Results also go to bench/results/<timestamp>/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
BUILD=${PULSE_BUILD_DIR:-$(pulse_build_dir "$ROOT" RelWithDebInfo)}
GW_WORKERS=${PULSE_BENCH_WORKERS:-1}
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -eq 0 ] && SCENARIOS=(classic fanout ramp slowconsumer idle)
case "${SCENARIOS[0]}" in -h|--help) sed -n '2,15p' "$0"; exit 0 ;; esac

"$ROOT/scripts/install-deps.sh" python3
pulse_build "$BUILD" RelWithDebInfo pulse-gateway pulse-publish pulse-subscribe pulse-report
GW="$BUILD/gateway/pulse-gateway"; PUB="$BUILD/publisher/pulse-publish"
SUB="$BUILD/subscriber-client/pulse-subscribe"; REP="$BUILD/report/pulse-report"

OUTROOT="$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUTROOT"
PIDS=()
cleanup() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do pulse_stop_pid "${PIDS[$i]}" TERM 50; done
  PIDS=()
}
trap cleanup EXIT INT TERM

cpu_ticks() { pulse_cpu_ticks "$1"; }
rss_kib() { pulse_rss_kib "$1"; }

start_stack() { # dir
  local dir=$1 line
  mkdir -p "$dir"
  pulse_start_redis "$dir" "$dir/redis.log"
  PIDS+=("$PULSE_REDIS_PID")
  REDIS=$PULSE_REDIS_URL
  # shellcheck disable=SC2086
  "$GW" --port 0 --admin-port 0 --redis "$REDIS" --node-id bench --workers "$GW_WORKERS" --log-level warn ${BENCH_GW_ARGS:-} \
    >"$dir/gateway.out" 2>"$dir/gateway.err" &
  GW_PID=$!
  PIDS+=("$GW_PID")
  line=$(pulse_wait_line "$dir/gateway.out" '^pulse-gateway ready' 10 "$GW_PID") || { tail -20 "$dir/gateway.err" >&2; exit 3; }
  pulse_ready_ports "$line"
  WS_PORT=$PULSE_GW_PORT
}

# run clients rate events dir [extra subscriber args] -> prints one result line
run_case() {
  local clients=$1 rate=$2 events=$3 dir=$4
  shift 4
  start_stack "$dir"
  if [ -n "${BENCH_SLOW:-}" ]; then
    python3 "$ROOT/bench/slow_client.py" "$WS_PORT" events.critical 120 >"$dir/slow.log" 2>&1 &
    PIDS+=($!)
    pulse_wait_line "$dir/slow.log" 'subscribed' 10 >/dev/null
  fi
  "$SUB" --url "ws://127.0.0.1:$WS_PORT/ws" --clients "$clients" --channels events.critical --out "$dir" \
    --expect $((clients * events)) --duration $((events / (rate > 0 ? rate : 1000) + 60)) "$@" \
    >"$dir/subscriber.log" 2>&1 &
  local sub=$!
  PIDS+=("$sub")
  pulse_wait_line "$dir/subscriber.log" '^pulse-subscribe ready' 60 "$sub" >/dev/null
  local t0 c0 t1 c1
  t0=$(date +%s%N); c0=$(cpu_ticks "$GW_PID")
  "$PUB" --redis "$REDIS" --channel events.critical --count "$events" --rate "$rate" \
    --manifest "$dir/manifest.csv" --quiet ${BENCH_PAYLOAD:+--payload-bytes "$BENCH_PAYLOAD"}
  local slow_closed=""
  [ -z "${BENCH_SLOW:-}" ] || slow_closed=$(grep -c "closed with 1008" "$dir/gateway.err" || true)
  wait "$sub" || true
  t1=$(date +%s%N); c1=$(cpu_ticks "$GW_PID")
  local rss; rss=$(rss_kib "$GW_PID")
  cleanup
  "$REP" --json "$dir" >"$dir/report.json" 2>"$dir/report.err" || true
  [ -z "$slow_closed" ] || echo "  (slow consumers closed with 1008: $slow_closed)" >&2
  local hz; hz=$(getconf CLK_TCK)
  python3 - "$dir/report.json" "$clients" "$rate" "$events" "$(( (c1 - c0) ))" "$hz" "$(( (t1 - t0) / 1000000 ))" "$rss" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); o = r["overall"]; l = o["latency_ms"]
ticks, hz, ms, rss = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
cpu = 100.0 * ticks / hz / (ms / 1000.0) if ms else 0
print(f"{sys.argv[2]:>7} {sys.argv[3]:>6} {sys.argv[4]:>6} {o['expected']:>9} {o['received']:>9} {o['dropped']:>7}"
      f" {l['p50']:>8.3f} {l['p99']:>8.3f} {l['max']:>8.3f} {cpu:>6.1f}% {rss/1024:>7.1f}")
PY
}

header() {
  echo "$1"
  printf '%7s %6s %6s %9s %9s %7s %8s %8s %8s %7s %7s\n' clients rate/s events expected received dropped \
    p50_ms p99_ms max_ms gw_cpu rss_MiB
}

for s in "${SCENARIOS[@]}"; do
  case "$s" in
    classic)
      header "== classic: 50 clients x 50 events at 1000/s, 1 node"
      run_case 50 1000 50 "$OUTROOT/classic" ;;
    fanout)
      header "== fanout: 1000 clients x 100 events/s for 10 s, 1 node"
      run_case 1000 100 1000 "$OUTROOT/fanout" ;;
    ramp)
      header "== ramp: 1000 clients, rising rate, 5 s each, 1 node"
      for rate in 200 400 800 1200 1600; do
        run_case 1000 "$rate" $((rate * 5)) "$OUTROOT/ramp-$rate"
      done ;;
    slowconsumer)
      # 1 KiB events: what pulse-subscribe itself can take (lws's client parses frames
      # byte by byte); the slow client's tiny receive buffer still fills in a second.
      header "== slow consumer: 100 clients x 200 events/s x 1 KiB for 10 s, lag limit 2 s, 1 node"
      BENCH_GW_ARGS="--limits.lag-limit-ms 2000" BENCH_PAYLOAD=1000 run_case 100 200 2000 "$OUTROOT/slow-without"
      BENCH_GW_ARGS="--limits.lag-limit-ms 2000" BENCH_PAYLOAD=1000 BENCH_SLOW=1 \
        run_case 100 200 2000 "$OUTROOT/slow-with" ;;
    idle)
      echo "== idle: gateway memory per idle connection (subscribed to one channel)"
      dir="$OUTROOT/idle"; start_stack "$dir"
      base=$(rss_kib "$GW_PID")
      n=${PULSE_BENCH_IDLE:-10000}
      "$SUB" --url "ws://127.0.0.1:$WS_PORT/ws" --clients "$n" --channels events.critical --out "$dir" \
        --duration 60 --connect-concurrency 100 >"$dir/subscriber.log" 2>&1 &
      sub=$!; PIDS+=("$sub")
      pulse_wait_line "$dir/subscriber.log" '^pulse-subscribe ready' 120 "$sub" >/dev/null
      sleep 1
      after=$(rss_kib "$GW_PID")
      echo "  $n connections: gateway RSS ${base} KiB -> ${after} KiB = $(( (after - base) * 1024 / n )) bytes per connection"
      cleanup ;;
    *) echo "bench: unknown scenario '$s' (see --help)" >&2; exit 2 ;;
  esac
done | tee "$OUTROOT/summary.txt"
