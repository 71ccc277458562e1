#!/usr/bin/env bash
# bench.sh - Pulse's benchmarks: figures, not pass/fail. A throwaway redis-server, one
# gateway node (the per-core figures) and a measuring client, all on loopback; every
# run is bounded in events and time. bench/README.md explains each scenario.
#
#   bench/bench.sh [--workers N] [--client ws|pulse|both] [--server pulse|nchan] [SCENARIO...]
#
#   classic   50 clients x 10 events/s for 10 s, 256 B
#   fanout    1000 clients x 100 events/s for 10 s, 256 B
#   payload   1000 clients x 20 events/s for 5 s at 64 B, 256 B, 1 KiB, 4 KiB, 16 KiB
#   sweep     1000 clients, 256 B, 3 s per rate from 100/s doubling until p99 passes
#             100 ms or anything drops (at most 12800/s)
#             (BENCH_RATES="1600 3200" runs only the rates given)
#   storm     10,000 clients connecting at once: handshakes per second
#   idle      10,000 idle connections: gateway memory per connection
#   closes    10,000 connections whose client dies at once: gateway CPU per close
#             (not in the default set; Pulse only)
#   slow      100 clients x 200 events/s x 1 KiB for 30 s, without and with one client that
#             stops reading (pulse-subscribe; lag limit 2 s): the others' p99 holds
#   big       100,000 connections over several gateways and client processes (not in
#             the default set; bench/big.sh; minutes and most of the machine)
#   default: classic fanout payload sweep storm idle slow
#
# --client ws (default): bench/wsbench.c, the neutral client (raw RFC 6455 over
# epoll, no libwebsockets), publishing with its own raw-RESP publisher; payload sizes
# are exact. --client pulse: pulse-subscribe + pulse-publish + pulse-report (ours;
# payload sizes approximate), publishing with plain PUBLISH (pulse-publish --raw) like
# the neutral client, so the two rows differ only in the measuring client;
# PULSE_BENCH_HISTORY=1 publishes through the history function instead (FCALL
# pulse_publish: on 2 cores its Redis CPU, about a sixth of a core at 3200/s, comes
# out of the cores the gateway and the client share). --workers: the gateway's
# --workers (default 1).
#
# Every delivery row: p50/p99/max latency (receive time minus published_at_us), drops
# (expected - received), sends per delivery (snd/dl: perf stat -e
# syscalls:sys_enter_sendto, sendmsg and writev on the gateway during the run, plus
# the sends it submitted through io_uring, pulse_ring_sends_total), system calls on
# the send path per delivery (sc/dl: those send calls plus io_uring_enter; with
# ws.io_uring a fan-out is one io_uring_enter), gateway CPU microseconds per
# delivery and gateway/client CPU as a share of one core (utime+stime from /proc
# over the run). Results also go to bench/results/<timestamp>/.
#
# --server nchan runs the same scenarios against nginx + nchan (Debian's nginx-light
# and libnginx-mod-nchan, installed when missing; in-memory channels, --workers nginx
# workers) with the same neutral client, publishing through nchan's HTTP publisher
# (pulse-wsbench pub --http): the side-by-side on this machine in this hour, since the
# machine's speed varies by the hour. The "gw" columns are then nginx's workers'. The
# scenarios that need pulse-subscribe (--client pulse, slow) and big are Pulse only.
#
# PULSE_BENCH_GW_ARGS="--ws.io-uring=false ..." adds gateway options to every run
# (an A/B of one setting with one binary).
#
# PULSE_BENCH_OUT=dir puts the results there instead of bench/results (a tmpfs such as
# /dev/shm keeps pulse-subscribe's delivery logs, about 110 B per delivery, off the
# disk at high rates). A delivery log is removed once its report is made (1 GB for
# 3 s at 3200/s); PULSE_BENCH_KEEP_LOGS=1 keeps them.
#
# PULSE_BENCH_BUILD=dir takes the gateway and our own client (pulse-publish,
# pulse-subscribe, pulse-report: they must match the gateway's wire format) from
# another build directory, an older checkout for a before and after; pulse-wsbench
# stays this checkout's.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
BUILD=${PULSE_BUILD_DIR:-$(pulse_build_dir "$ROOT" RelWithDebInfo)}
WORKERS=${PULSE_BENCH_WORKERS:-1}
CLIENT=ws
SERVER=pulse
SCENARIOS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) WORKERS=${2:?--workers N}; shift 2 ;;
    --client) CLIENT=${2:?--client ws|pulse|both}; shift 2 ;;
    --server) SERVER=${2:?--server pulse|nchan}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) SCENARIOS+=("$1"); shift ;;
  esac
done
# pulse-wsbench's readiness: Pulse's "subscribed" message; nchan sends nothing on
# subscribe, so there a connection is ready at its 101
READY=(--ready-match '"subscribed"')
case "$SERVER" in pulse) ;; nchan)
  [ "$CLIENT" = ws ] || { echo "bench: --server nchan takes only --client ws" >&2; exit 2; }
  READY=() ;;
  *) echo "bench: --server pulse|nchan" >&2; exit 2 ;; esac
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(classic fanout payload sweep storm idle slow)
case "$CLIENT" in ws) CLIENTS_USED=(ws) ;; pulse) CLIENTS_USED=(pulse) ;; both) CLIENTS_USED=(ws pulse) ;;
  *) echo "bench: --client ws|pulse|both" >&2; exit 2 ;; esac

"$ROOT/scripts/install-deps.sh" python3 linux-perf
[ "$SERVER" = pulse ] || "$ROOT/scripts/install-deps.sh" nginx-light libnginx-mod-nchan
pulse_build "$BUILD" RelWithDebInfo pulse-gateway pulse-publish pulse-subscribe pulse-report pulse-wsbench
OTHER=${PULSE_BENCH_BUILD:-$BUILD}
GW="$OTHER/gateway/pulse-gateway"; PUB="$OTHER/publisher/pulse-publish"
SUB="$OTHER/subscriber-client/pulse-subscribe"; REP="$OTHER/report/pulse-report"
WSB="$BUILD/bench/pulse-wsbench"
HZ=$(getconf CLK_TCK)

OUTROOT="${PULSE_BENCH_OUT:-$ROOT/bench/results}/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUTROOT"
PIDS=()
cleanup() { pulse_stop_pids; }
trap cleanup EXIT INT TERM

# nginx + nchan in dir on a free port, WORKERS workers; sets GW_PIDS (the workers,
# comma-separated, for perf -p) and WS_PORT.
start_nchan() { # dir
  local dir=$1 i
  WS_PORT=$(pulse_free_port)
  cat >"$dir/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes $WORKERS;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
daemon off;
events { worker_connections 19000; multi_accept on; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$WS_PORT backlog=4096;
    location /ws { nchan_subscriber websocket; nchan_channel_id \$arg_channels; }
    location /pub { nchan_publisher; nchan_channel_id \$arg_channels; }
  }
}
CONF
  /usr/sbin/nginx -p "$dir" -e "$dir/nginx-error.log" -c "$dir/nginx.conf" >"$dir/nginx.out" 2>&1 &
  PIDS+=("$!")
  GW_PIDS=""
  for ((i = 0; i < 100; i++)); do
    GW_PIDS=$(pgrep -d, -P "${PIDS[-1]}" || true)
    [ "$(tr , '\n' <<<"$GW_PIDS" | grep -c .)" -ge "$WORKERS" ] && pulse_port_in_use "$WS_PORT" && break
    sleep 0.1
  done
  [ -n "$GW_PIDS" ] || { echo "bench: nginx did not start (see $dir)" >&2; return 1; }
}

# CPU ticks and RSS of the server under test (all of nginx's workers for nchan)
gw_ticks() { local p t=0; for p in ${GW_PIDS//,/ }; do t=$((t + $(pulse_cpu_ticks "$p"))); done; echo "$t"; }
gw_rss_kib() { local p t=0; for p in ${GW_PIDS//,/ }; do t=$((t + $(pulse_rss_kib "$p"))); done; echo "$t"; }

start_stack() { # dir [extra gateway args...]
  local dir=$1
  shift
  mkdir -p "$dir"
  if [ "$SERVER" = nchan ]; then start_nchan "$dir"; return; fi
  pulse_start_redis "$dir" "$dir/redis.log"
  PIDS+=("$PULSE_REDIS_PID")
  REDIS=$PULSE_REDIS_URL REDIS_PORT=$PULSE_REDIS_PORT
  # shellcheck disable=SC2086 # PULSE_BENCH_GW_ARGS: words, on purpose
  pulse_start_gateway "$dir/gateway.out" "$dir/gateway.err" --redis "$REDIS" --node-id bench --workers "$WORKERS" \
    --log-level warn ${PULSE_BENCH_GW_ARGS:-} "$@" || exit 3
  WS_PORT=$PULSE_GW_PORT
  GW_PIDS=$GW_PID
}

# perf stat on the gateway's send syscalls and io_uring_enter; perf_stop prints the
# send calls (sendto, sendmsg, writev) and the io_uring_enter calls.
perf_start() { # dir
  perf stat -x, -o "$1/perf.txt" -e syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_writev \
    -e syscalls:sys_enter_io_uring_enter -p "$GW_PIDS" >/dev/null 2>"$1/perf.err" &
  PERF_PID=$!
  sleep 0.3 # perf prints nothing when attached; this is the time it takes here
}
perf_stop() { # dir
  pulse_stop_pid "$PERF_PID" INT 50
  awk -F, '/sys_enter_io_uring/ { u += $1; next } /sys_enter/ { s += $1 } END { print s + 0, u + 0 }' \
    "$1/perf.txt" 2>/dev/null || echo 0 0
}

# Sends the gateway handed to the kernel through io_uring (ws.io_uring), from its
# /metrics; 0 for nchan and for a gateway without the counter.
ring_sends() {
  [ "$SERVER" = pulse ] || { echo 0; return; }
  local v
  v=$(pulse_metric "$PULSE_GW_ADMIN_PORT" pulse_ring_sends_total 2>/dev/null || true)
  echo "${v:-0}"
}

# Waits for pid to exit (at most secs), sampling its CPU ticks every 0.1 s; prints the
# last sample. Bash builtins only (pulse_alive, pulse_nap: scripts/lib.sh), no process
# per sample: on this VM the three processes a sample used to start (cut, awk, sleep),
# ten times a second, doubled the p99 the run measured at 100 events/s (7.0-8.0 ms
# without them, 15.4-19.0 ms with).
wait_ticks() { # pid secs
  local pid=$1 end=$((SECONDS + $2)) last=0 st
  while [ "$SECONDS" -lt "$end" ] && pulse_alive "$pid"; do
    read -r -a st 2>/dev/null <"/proc/$pid/stat" && last=$((st[13] + st[14]))
    pulse_nap 0.1
  done
  echo "$last"
}


ROW_FMT='%-5s %7s %6s %6s %6s %9s %9s %7s %8s %8s %8s %6s %6s %7s %6s %6s\n'
header() {
  echo "$1"
  # shellcheck disable=SC2059
  printf "$ROW_FMT" client clients rate/s bytes events expected received dropped p50_ms p99_ms max_ms \
    snd/dl sc/dl gwus/dl gw%cpu cl%cpu
}

# run_case CLIENT CLIENTS RATE EVENTS BYTES DIR [gateway args...]: one stack, one run,
# one row. Sets LAST_P99 and LAST_DROPPED for the sweep.
run_case() {
  local client=$1 clients=$2 rate=$3 events=$4 bytes=$5 dir=$6
  shift 6
  start_stack "$dir" "$@"
  if [ -n "${BENCH_SLOW:-}" ]; then # one client that subscribes and never reads
    python3 "$ROOT/bench/slow_client.py" "$WS_PORT" events.critical 120 >"$dir/slow.log" 2>&1 &
    PIDS+=("$!")
    pulse_wait_line "$dir/slow.log" subscribed 10 "$!" >/dev/null
  fi
  local expect=$((clients * events)) secs=$((events / rate + 60)) sub
  if [ "$client" = ws ]; then
    "$WSB" sub --url "ws://127.0.0.1:$WS_PORT/ws?channels=events.critical" --subprotocol pulse.v1 \
      "${READY[@]}" --clients "$clients" --expect "$expect" --duration "$secs" --quiet-ms 5000 \
      >"$dir/client.out" 2>"$dir/client.err" &
  else
    "$SUB" --url "ws://127.0.0.1:$WS_PORT/ws" --clients "$clients" --channels events.critical --out "$dir" \
      --expect "$expect" --duration "$secs" >"$dir/client.out" 2>&1 &
  fi
  sub=$!
  PIDS+=("$sub")
  pulse_wait_line "$dir/client.out" '^(wsbench|pulse-subscribe) ready' 120 "$sub" >/dev/null ||
    { echo "bench: the client did not get ready (see $dir)" >&2; cleanup; return 1; }
  local r0 r1
  r0=$(ring_sends)
  perf_start "$dir"
  local t0 g0 s0 t1 g1 s1 sends enters
  t0=$(date +%s%N); g0=$(gw_ticks); s0=$(pulse_cpu_ticks "$sub")
  if [ "$client" = ws ]; then # in the background: the client's CPU is sampled meanwhile
    local to=(--http "127.0.0.1:$WS_PORT")
    [ "$SERVER" = nchan ] || to=(--redis "127.0.0.1:$REDIS_PORT")
    "$WSB" pub "${to[@]}" --channel events.critical --count "$events" --rate "$rate" \
      --bytes "$bytes" >"$dir/publisher.out" &
  else
    # raw PUBLISH, as the neutral client's publisher, unless PULSE_BENCH_HISTORY is set
    local how=(--raw)
    [ -z "${PULSE_BENCH_HISTORY:-}" ] || how=()
    "$PUB" --redis "$REDIS" --channel events.critical --count "$events" --rate "$rate" \
      --manifest "$dir/manifest.csv" --quiet --payload-bytes "$bytes" "${how[@]}" &
  fi
  local pub=$!
  s1=$(wait_ticks "$sub" "$secs")
  wait "$pub" || echo "bench: the publisher failed (see $dir)" >&2
  t1=$(date +%s%N); g1=$(gw_ticks)
  read -r sends enters < <(perf_stop "$dir")
  r1=$(ring_sends)
  sends=$((sends + r1 - r0))
  cleanup
  local received p50 p99 max line
  if [ "$client" = ws ]; then
    line=$(grep '^wsbench done' "$dir/client.out" || true)
    received=$(pulse_kv deliveries "$line"); p50=$(pulse_kv p50_ms "$line"); p99=$(pulse_kv p99_ms "$line"); max=$(pulse_kv max_ms "$line")
    s1=$((s0 + $(pulse_kv cpu_ms "$line" | cut -d. -f1) * HZ / 1000)) # its own count, since ready
  else
    "$REP" --json --no-svg "$dir" >"$dir/report.json" 2>"$dir/report.err" || true
    # The delivery log (about 110 B a delivery: 1 GB for 3 s at 3200/s) has given its
    # report: removed unless kept, so a sweep does not pile up gigabytes (on a tmpfs,
    # in memory) that its later runs would have to write beside.
    [ -n "${PULSE_BENCH_KEEP_LOGS:-}" ] || rm -f "$dir/deliveries.csv"
    read -r received p50 p99 max < <(python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))["overall"]; l = o["latency_ms"]
print(o["received"], l["p50"], l["p99"], l["max"])' "$dir/report.json")
  fi
  received=${received:-0}
  LAST_DROPPED=$((expect > received ? expect - received : 0))
  LAST_P99=${p99:-0}
  local ms=$(((t1 - t0) / 1000000))
  # shellcheck disable=SC2059
  printf "$ROW_FMT" "$client" "$clients" "$rate" "$bytes" "$events" "$expect" "$received" "$LAST_DROPPED" \
    "$p50" "$p99" "$max" \
    "$(awk -v s="$sends" -v r="$received" 'BEGIN { printf "%.2f", r ? s / r : 0 }')" \
    "$(awk -v s="$((sends - r1 + r0 + enters))" -v r="$received" 'BEGIN { printf "%.3f", r ? s / r : 0 }')" \
    "$(awk -v t="$((g1 - g0))" -v hz="$HZ" -v r="$received" 'BEGIN { printf "%.2f", r ? t / hz * 1e6 / r : 0 }')" \
    "$(awk -v t="$((g1 - g0))" -v hz="$HZ" -v ms="$ms" 'BEGIN { printf "%.0f", ms ? 100 * t / hz / (ms / 1000) : 0 }')" \
    "$(awk -v t="$((s1 - s0))" -v hz="$HZ" -v ms="$ms" 'BEGIN { printf "%.0f", ms ? 100 * t / hz / (ms / 1000) : 0 }')"
}

# The kernel's count of SYNs dropped because an accept queue was full (machine-wide:
# another program's storm counts too); each costs its client a 1 s retry.
listen_overflows() { awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) k[i] = $i; h = 1 } else for (i = 1; i <= NF; i++) if (k[i] == "ListenOverflows") print $i }' /proc/net/netstat; }

# The previous run's connections in TIME_WAIT (tens of thousands after a storm) slow
# every lookup of the next storm's sockets: wait (at most 70 s) until fewer than 1000.
wait_timewait() {
  local end=$((SECONDS + 70)) tw
  while [ "$SECONDS" -lt "$end" ]; do
    tw=$(ss -s | sed -n 's/.*timewait \([0-9]*\).*/\1/p')
    [ "${tw:-0}" -lt 1000 ] && return 0
    sleep 1
  done
}

# hold_clients N CONCURRENCY DIR SECS [pulse-wsbench args...]: pulse-wsbench holding N
# connections on events.critical for at most SECS, output in DIR; sets HOLD_PID. The
# caller waits for its "wsbench ready" line.
hold_clients() {
  local n=$1 conc=$2 dir=$3 secs=$4
  shift 4
  "$WSB" sub --url "ws://127.0.0.1:$WS_PORT/ws?channels=events.critical" --subprotocol pulse.v1 \
    "$@" --clients "$n" --concurrency "$conc" --duration "$secs" --hold >"$dir/client.out" 2>"$dir/client.err" &
  HOLD_PID=$!
  PIDS+=("$HOLD_PID")
}

storm() { # clients dir: all connect at once; the gateway's CPU for it beside the wall time
  local n=$1 dir=$2 line g0 g1 o0 o1
  wait_timewait
  start_stack "$dir"
  g0=$(gw_ticks); o0=$(listen_overflows)
  hold_clients "$n" 0 "$dir" 30
  line=$(pulse_wait_line "$dir/client.out" '^wsbench ready' 40 "$HOLD_PID") || line=""
  g1=$(gw_ticks); o1=$(listen_overflows)
  cleanup
  # shellcheck disable=SC2059
  printf "$STORM_FMT" "$WORKERS" "$n" "$(pulse_kv failed "$line")" "$(pulse_kv handshake_ms "$line")" \
    "$(pulse_kv handshakes_per_s "$line")" "$(((g1 - g0) * 1000 / HZ))" "$((o1 - o0))" "$(cut -d' ' -f1 /proc/loadavg)"
}
STORM_FMT='%8s %7s %7s %12s %10s %10s %9s %6s\n'

# closes N dir: N connections held, then their client killed (the kernel closes every
# socket at once); the gateway's CPU from the kill until pulse_connections_active is 0.
closes() {
  local n=$1 dir=$2 g0 g1 t0 t1 left=-1 end
  wait_timewait
  start_stack "$dir"
  hold_clients "$n" 0 "$dir" 60 "${READY[@]}"
  pulse_wait_line "$dir/client.out" '^wsbench ready' 60 "$HOLD_PID" >/dev/null ||
    { echo "bench: the client did not get ready (see $dir)" >&2; cleanup; return 1; }
  pulse_nap 1
  g0=$(gw_ticks); t0=$(date +%s%N)
  kill -KILL "$HOLD_PID"
  wait "$HOLD_PID" 2>/dev/null || true
  end=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$end" ]; do
    left=$(pulse_metric "$PULSE_GW_ADMIN_PORT" pulse_connections_active 2>/dev/null || echo -1)
    [ "$left" = 0 ] && break
    pulse_nap 0.05
  done
  t1=$(date +%s%N); g1=$(gw_ticks)
  cleanup
  printf '%8s %8s %8s %10s %10s\n' "$n" "$left" "$(((t1 - t0) / 1000000))" "$(((g1 - g0) * 1000 / HZ))" \
    "$(awk -v t="$((g1 - g0))" -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
}

[ "$SERVER" = pulse ] || echo "server: nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*nginx\///') + nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan), $WORKERS worker(s); gw columns: nginx's workers"
for s in "${SCENARIOS[@]}"; do
  for c in "${CLIENTS_USED[@]}"; do
    case "$s" in
      classic)
        header "== classic: 50 clients x 10 events/s for 10 s, 256 B, $WORKERS worker(s)"
        run_case "$c" 50 10 100 256 "$OUTROOT/classic-$c" ;;
      fanout)
        header "== fanout: 1000 clients x 100 events/s for 10 s, 256 B, $WORKERS worker(s)"
        run_case "$c" 1000 100 1000 256 "$OUTROOT/fanout-$c" ;;
      payload)
        header "== payload: 1000 clients x 20 events/s for 5 s, $WORKERS worker(s)"
        for b in 64 256 1024 4096 16384; do
          run_case "$c" 1000 20 100 "$b" "$OUTROOT/payload-$b-$c"
        done ;;
      sweep)
        header "== sweep: 1000 clients, 256 B, 3 s per rate, until p99 > 100 ms or a drop, $WORKERS worker(s)"
        for rate in ${BENCH_RATES:-100 200 400 800 1600 3200 6400 12800}; do
          run_case "$c" 1000 "$rate" $((rate * 3)) 256 "$OUTROOT/sweep-$rate-$c"
          if [ "$LAST_DROPPED" -gt 0 ] || awk -v p="$LAST_P99" 'BEGIN { exit !(p > 100) }'; then break; fi
        done ;;
      storm)
        [ "$c" = ws ] || continue
        echo "== storm: 10,000 clients connecting at once (pulse-wsbench --concurrency 0)"
        # shellcheck disable=SC2059
        printf "$STORM_FMT" workers clients failed handshake_ms per_s gw_cpu_ms overflows load
        storm 10000 "$OUTROOT/storm" ;;
      closes)
        [ "$c" = ws ] || continue
        [ "$SERVER" = pulse ] || { echo "== closes: Pulse only (it reads the gateway's /metrics)"; continue; }
        n=${PULSE_BENCH_CLOSES:-10000}
        echo "== closes: $n connections, then their client killed, $WORKERS worker(s)"
        printf '%8s %8s %8s %10s %10s\n' closed left wall_ms gw_cpu_ms us/close
        closes "$n" "$OUTROOT/closes" ;;
      idle)
        [ "$c" = ws ] || continue
        echo "== idle: gateway memory per idle connection (subscribed to one channel), $WORKERS worker(s)"
        dir="$OUTROOT/idle"; start_stack "$dir"
        base=$(gw_rss_kib)
        n=${PULSE_BENCH_IDLE:-10000}
        hold_clients "$n" 200 "$dir" 60 "${READY[@]}"
        pulse_wait_line "$dir/client.out" '^wsbench ready' 60 "$HOLD_PID" >/dev/null
        sleep 1
        after=$(gw_rss_kib)
        echo "  $n connections: gateway RSS ${base} KiB -> ${after} KiB = $(((after - base) * 1024 / n)) bytes per connection"
        cleanup ;;
      slow)
        [ "$c" = pulse ] || [ "$CLIENT" = ws ] || continue
        [ "$SERVER" = pulse ] || { echo "== slow: Pulse only (pulse-subscribe), skipped for nchan"; continue; }
        # 30 s: the first ~4 MB a client does not read fit in the kernel's socket buffers
        # (the gateway's send buffer grows to tcp_wmem's 4 MB), so in 10 s at 200 KB/s
        # the gateway's queue for it never lagged and the lag limit was never reached
        header "== slow consumer: 100 clients x 200 events/s x 1 KiB for 30 s, lag limit 2 s (pulse-subscribe)"
        run_case pulse 100 200 6000 1000 "$OUTROOT/slow-without" --limits.lag-limit-ms 2000
        # the same with one client that stops reading (bench/slow_client.py)
        dir="$OUTROOT/slow-with"
        BENCH_SLOW=1 run_case pulse 100 200 6000 1000 "$dir" --limits.lag-limit-ms 2000
        echo "  (slow consumers closed with 1008: $(grep -c 'closed with 1008' "$dir/gateway.err" || true))" ;;
      big)
        [ "$c" = ws ] || continue
        [ "$SERVER" = pulse ] || { echo "== big: Pulse only, skipped for nchan"; continue; }
        "$ROOT/bench/big.sh" ;;
      *) echo "bench: unknown scenario '$s' (see --help)" >&2; exit 2 ;;
    esac
  done
done 2>&1 | tee "$OUTROOT/summary.txt"
