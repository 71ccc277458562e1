#!/usr/bin/env bash
# big.sh - the 100,000-connection scenario (bench/bench.sh big runs it; not in CI: it
# takes a few minutes and most of the machine). A process here may hold at most
# 20,000 file descriptors, so the connections are spread over several gateway nodes
# on one Redis, each with its own pulse-wsbench process, every client process bound
# to its own 127.0.0.x source address (so ephemeral ports never run short). It holds
# them all, publishes events to every one, and prints: time to connect all, gateway
# and client memory per connection, deliveries, drops, p50/p99 per node.
#
#   bench/big.sh                  6 nodes x 17,000 connections, 10 events at 2/s
#   PULSE_BIG_NODES=3 PULSE_BIG_PER_NODE=5000 bench/big.sh    a smaller run
#
# Environment: PULSE_BIG_NODES (6), PULSE_BIG_PER_NODE (17000, at most 19,000),
# PULSE_BIG_EVENTS (10), PULSE_BIG_RATE (2), PULSE_BIG_BYTES (256), PULSE_BIG_GW_ARGS (gateway
# flags; default a 120 s + 60 s heartbeat), PULSE_BUILD_DIR.
# Everything it starts is stopped by PID on exit; every wait has a deadline.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
NODES=${PULSE_BIG_NODES:-6}
PER=${PULSE_BIG_PER_NODE:-17000}
EVENTS=${PULSE_BIG_EVENTS:-10}
RATE=${PULSE_BIG_RATE:-2}
BYTES=${PULSE_BIG_BYTES:-256}
# Heartbeat 120 s + 60 s: with the default 30 s + 10 s, a node still taking the last of
# its 17,000 handshakes on a loaded machine turns PONGs around too late and closes
# live connections (the scenario measures holding them, not a tight heartbeat).
read -r -a GW_ARGS <<<"${PULSE_BIG_GW_ARGS:---limits.heartbeat-interval-s 120 --limits.heartbeat-timeout-s 60}"
[ "$PER" -le 19000 ] || { echo "big.sh: PULSE_BIG_PER_NODE at most 19000 (20,000 fds per process)" >&2; exit 2; }

pulse_bench_init big "${1:-}"
PULSE_STOP_TENTHS=100
pulse_build "$BUILD" RelWithDebInfo pulse-gateway pulse-wsbench

pulse_start_redis "$OUT" "$OUT/redis.log"
PIDS+=("$PULSE_REDIS_PID")
GW_PIDS=() PORTS=() BASE_RSS=()
for ((i = 1; i <= NODES; i++)); do
  pulse_start_gateway "$OUT/gateway-$i.out" "$OUT/gateway-$i.err" --redis "$PULSE_REDIS_URL" --node-id "big-$i" \
    --workers 1 --log-level warn "${GW_ARGS[@]}" || exit 3
  GW_PIDS+=("$GW_PID")
  PORTS+=("$PULSE_GW_PORT")
  BASE_RSS+=("$(pulse_rss_kib "$GW_PID")")
done

echo "== big: $NODES nodes x $PER connections = $((NODES * PER)), then $EVENTS events of $BYTES B at $RATE/s"
t0=$(date +%s%N)
CL_PIDS=()
for ((i = 1; i <= NODES; i++)); do
  "$WSB" sub --url "ws://127.0.0.1:${PORTS[$((i - 1))]}/ws?channels=events.critical" --subprotocol pulse.v1 \
    --ready-match '"subscribed"' --clients "$PER" --concurrency 500 --bind "127.0.0.$((i + 1))" \
    --expect $((PER * EVENTS)) --duration 600 --quiet-ms 20000 >"$OUT/client-$i.out" 2>"$OUT/client-$i.err" &
  CL_PIDS+=("$!"); PIDS+=("$!")
done
for ((i = 1; i <= NODES; i++)); do
  pulse_wait_line "$OUT/client-$i.out" '^wsbench ready' 400 "${CL_PIDS[$((i - 1))]}" >/dev/null ||
    { echo "big.sh: client $i did not get ready" >&2; cat "$OUT/client-$i.out" >&2; exit 3; }
done
t1=$(date +%s%N)
sleep 2
gw_kib=0 cl_kib=0 ready=0
for ((i = 1; i <= NODES; i++)); do
  gw_kib=$((gw_kib + $(pulse_rss_kib "${GW_PIDS[$((i - 1))]}") - BASE_RSS[i - 1]))
  cl_kib=$((cl_kib + $(pulse_rss_kib "${CL_PIDS[$((i - 1))]}")))
  ready=$((ready + $(sed -n 's/^wsbench ready .* ready=\([0-9]*\) .*/\1/p' "$OUT/client-$i.out")))
done
echo "  $ready connections live (of $((NODES * PER))) after $(((t1 - t0) / 1000000)) ms;" \
  "gateway memory $((gw_kib * 1024 / (ready > 0 ? ready : 1))) B/connection," \
  "client $((cl_kib * 1024 / (ready > 0 ? ready : 1))) B/connection"

"$WSB" pub --redis "127.0.0.1:$PULSE_REDIS_PORT" --channel events.critical --count "$EVENTS" --rate "$RATE" \
  --bytes "$BYTES" >"$OUT/publisher.out"
for p in "${CL_PIDS[@]}"; do
  end=$((SECONDS + 120))
  while pulse_alive "$p" && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
done
printf '  %-6s %9s %9s %8s %8s %8s %8s\n' node conns deliveries dropped p50_ms p99_ms max_ms
for ((i = 1; i <= NODES; i++)); do
  line=$(grep '^wsbench done' "$OUT/client-$i.out" || echo "")
  kv() { pulse_kv "$1" "$line"; }
  r=$(kv ready) d=$(kv deliveries)
  # dropped: of what the live connections should have had (failed handshakes aside)
  printf '  %-6s %9s %9s %8s %8s %8s %8s\n' "big-$i" "${r:-0}" "${d:-0}" "$((${r:-0} * EVENTS - ${d:-0}))" \
    "$(kv p50_ms)" "$(kv p99_ms)" "$(kv max_ms)"
done
echo "  results in $OUT"
