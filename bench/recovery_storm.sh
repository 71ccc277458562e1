#!/usr/bin/env bash
# recovery_storm.sh - a node dies, its clients all come back at once on another node
# and each recovers what it missed: the time until every client has every missed
# event, and what that costs Redis and the node. Figures, not pass/fail.
#
#   bench/recovery_storm.sh [CLIENTS [EVENTS]]     default 1000 clients, 1000 events
#   PULSE_STORM_WARM=N   N clients already subscribed on B before the storm (default 0:
#                        B has no subscriber of the channel, the recoveries wait for its
#                        subscription; with N > 0 they come to a subscribed channel)
#   PULSE_STORM_WORKERS=W  worker threads per gateway (default 1)
#
# One redis-server and two gateways (A, B) on loopback, both with the rule
#   storm.*: priority critical, history_size 2000 (>= EVENTS), history_ttl_s 3600
# 1. CLIENTS pulse-wsbench connections subscribe storm.recovery on A; one event is
#    published (FCALL pulse_publish) and its position (offset O, epoch E) read back.
# 2. A is killed (SIGKILL, by its PID); its clients see their connections drop.
# 3. EVENTS events of 256 B are published with FCALL pulse_publish (pulse-publish).
# 4. CLIENTS connections open on B all at once (--concurrency 0), each with
#    ?channels=storm.recovery&since=storm.recovery:O:E, so each one is answered
#    `subscribed` with recovered:true and replayed the EVENTS events.
# Measured over step 4: the time from the first connect until the last client has its
# last event (pulse-wsbench's elapsed_s once deliveries = CLIENTS x EVENTS), Redis CPU
# (INFO cpu used_cpu_sys + used_cpu_user before/after), the calls Redis served (INFO
# commandstats), B's CPU (/proc), and B's pulse_recoveries_total and
# pulse_recovered_events_total. Bounded: every wait has a timeout, the clients stop at
# 180 s. Everything started here is stopped by its PID. Results in
# bench/results/storm-<timestamp>/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
pulse_bench_init storm "${1:-}"
CLIENTS=${1:-1000}
EVENTS=${2:-1000}
WARM=${PULSE_STORM_WARM:-0}
WORKERS=${PULSE_STORM_WORKERS:-1}
CH=storm.recovery
pulse_build "$BUILD" RelWithDebInfo pulse-gateway pulse-publish pulse-wsbench
fail() { echo "recovery_storm.sh: $*" >&2; exit 1; }

cat >"$OUT/pulse.conf" <<EOF
limits = { history_recover_max = $((EVENTS + 100)); };
channels = {
    rules = (
        { pattern = "storm.*"; priority = "critical"; history_size = $((EVENTS > 2000 ? EVENTS : 2000)); history_ttl_s = 3600; }
    );
};
EOF

pulse_start_redis "$OUT" "$OUT/redis.log"
PIDS+=("$PULSE_REDIS_PID")
REDIS=$PULSE_REDIS_URL
rcli() { redis-cli -p "$PULSE_REDIS_PORT" "$@"; }

start_gw() { # name -> GW_PID, WS_PORT, ADMIN_PORT
  pulse_start_gateway "$OUT/gw-$1.out" "$OUT/gw-$1.err" --config "$OUT/pulse.conf" --redis "$REDIS" --node-id "$1" \
    --workers "$WORKERS" --log-level warn || fail "gateway $1 did not start"
  WS_PORT=$PULSE_GW_PORT ADMIN_PORT=$PULSE_GW_ADMIN_PORT
}
start_gw a
A_PID=$GW_PID A_PORT=$WS_PORT
start_gw b
B_PID=$GW_PID B_PORT=$WS_PORT B_ADMIN=$ADMIN_PORT

metric() { pulse_metric "$B_ADMIN" "$1"; } # name -> value on B's /metrics

# 0. B's own clients, if asked: they get every event live
if [ "$WARM" -gt 0 ]; then
  "$WSB" sub --url "ws://127.0.0.1:$B_PORT/ws?channels=$CH" --subprotocol pulse.v1 --ready-match '"subscribed"' \
    --clients "$WARM" --hold --duration 180 >"$OUT/clients-warm.out" 2>"$OUT/clients-warm.err" &
  PIDS+=("$!")
  pulse_wait_line "$OUT/clients-warm.out" '^wsbench ready' 60 "$!" >/dev/null || fail "B's own clients did not get ready"
fi

# 1. the clients on A
"$WSB" sub --url "ws://127.0.0.1:$A_PORT/ws?channels=$CH" --subprotocol pulse.v1 --ready-match '"subscribed"' \
  --clients "$CLIENTS" --concurrency 200 --hold --duration 180 >"$OUT/clients-a.out" 2>"$OUT/clients-a.err" &
SUBA=$!
PIDS+=("$SUBA")
pulse_wait_line "$OUT/clients-a.out" '^wsbench ready' 60 "$SUBA" >/dev/null || fail "the clients on A did not get ready"
"$PUB" --redis "$REDIS" --channel "$CH" --count 1 --quiet 2>>"$OUT/publish.err"
POS=$(rcli FCALL_RO pulse_position 1 "$CH")
O=$(sed -n 1p <<<"$POS") E=$(sed -n 2p <<<"$POS")
[ -n "${E:-}" ] || fail "no position for $CH"

# 2. A dies; its clients see it
kill -KILL "$A_PID"
wait "$A_PID" 2>/dev/null || true
sleep 0.5
pulse_stop_pid "$SUBA" TERM 50

# 3. the events they miss
"$PUB" --redis "$REDIS" --channel "$CH" --count "$EVENTS" --payload-bytes 256 --quiet 2>>"$OUT/publish.err"
TOP=$(rcli FCALL_RO pulse_position 1 "$CH" | head -1)
[ "$TOP" = $((O + EVENTS)) ] || fail "expected offset $((O + EVENTS)) after publishing, Redis says $TOP"

# 4. the storm on B
rcli CONFIG RESETSTAT >/dev/null
c0=$(pulse_redis_cpu_us "$PULSE_REDIS_PORT"); g0=$(pulse_cpu_ticks "$B_PID")
"$WSB" sub --url "ws://127.0.0.1:$B_PORT/ws?channels=$CH&since=$CH:$O:$E" --subprotocol pulse.v1 \
  --ready-match '"subscribed"' --clients "$CLIENTS" --concurrency 0 --expect $((CLIENTS * EVENTS)) \
  --duration 180 --quiet-ms 20000 >"$OUT/clients-b.out" 2>"$OUT/clients-b.err" &
SUBB=$!
PIDS+=("$SUBB")
# (the client may print its line and exit between two looks: look once more)
line=$(pulse_wait_line "$OUT/clients-b.out" '^wsbench done' 200 "$SUBB") ||
  line=$(grep -m1 '^wsbench done' "$OUT/clients-b.out") || fail "the clients on B did not finish"
c1=$(pulse_redis_cpu_us "$PULSE_REDIS_PORT"); g1=$(pulse_cpu_ticks "$B_PID")
ready=$(grep '^wsbench ready' "$OUT/clients-b.out" || true)
rcli INFO commandstats | tr -d '\r' >"$OUT/commandstats.txt"

calls() { # cmd -> "calls usec"
  awk -F'[:=,]' -v c="cmdstat_$1" '$1 == c {print $3, $5}' "$OUT/commandstats.txt"
}
read -r xr_calls xr_us < <(calls xrange || echo "0 0")
read -r fc_calls fc_us < <(calls fcall_ro || echo "0 0")
rec=$(metric 'pulse_recoveries_total{result="recovered"}')
notrec=$(metric 'pulse_recoveries_total{result="not_recovered"}')
replayed=$(metric pulse_recovered_events_total)
{
  echo "# recovery_storm.sh $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, redis $(redis-server --version | awk '{print $3}'), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "clients=$CLIENTS events_each=$EVENTS warm_on_b=$WARM workers=$WORKERS expected=$((CLIENTS * EVENTS)) delivered=$(pulse_kv deliveries "$line") missing=$(pulse_kv dropped "$line") failed=$(pulse_kv failed "$line")"
  echo "all_recovered_s=$(pulse_kv elapsed_s "$line") handshake_ms=$(pulse_kv handshake_ms "$ready") all_subscribed_ms=$(pulse_kv ready_ms "$ready")"
  echo "recoveries recovered=${rec:-?} not_recovered=${notrec:-?} events_replayed=${replayed:-?}"
  echo "redis_cpu_ms=$(((c1 - c0) / 1000)) redis_cpu_us_per_client=$(((c1 - c0) / CLIENTS)) xrange_calls=$xr_calls xrange_usec=$xr_us fcall_ro_calls=$fc_calls fcall_ro_usec=$fc_us"
  echo "node_b_cpu_ms=$(((g1 - g0) * 1000 / HZ)) client_cpu_ms=$(pulse_kv cpu_ms "$line")"
} | tee "$OUT/summary.txt"
