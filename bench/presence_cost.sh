#!/usr/bin/env bash
# presence_cost.sh - what presence costs Redis, and how fast the presence reads are on a
# big channel. Figures, not pass/fail. One throwaway redis-server and one gateway node
# on loopback; pulse-subscribe holds N connections (default 10000) all subscribed to
# pres.bench, a channel whose rule has presence. Without join_leave: with it, each of
# the N joins goes to every member already there (N^2/2 deliveries, 50 million for
# 10,000): that is the fan-out's cost, not presence's, and it would dominate the run.
#
#   bench/presence_cost.sh [N] [SECONDS]   N connections; measure the steady state for
#                                          SECONDS (default 30, 6 refresh intervals)
#
# Redis cost: over the window, with nothing else talking to Redis but the node's
# watchdog PING, INFO commandstats (reset at its start) gives every command Redis ran:
# the node's FCALL pulse_presence_touch calls (1000 clients each, pipelined once per
# refresh interval) and the commands they run inside (ZRANGEBYSCORE, ZMSCORE, ZADD,
# ZRANGE, PEXPIREAT, TIME); the FCALL's usec already holds its inner commands' time, so
# "Redis busy" is the FCALLs' usec per second.
# Latency: bench/presence_ops.py sends presence_stats then presence (the list capped by
# presence.list_max 1000) one at a time on one more connection; then the whole list
# (N entries) straight from Redis with redis-cli.
# Results also go to bench/results/presence-<timestamp>/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
pulse_bench_init presence "${1:-}"
PULSE_STOP_TENTHS=100
N=${1:-10000}
WINDOW=${2:-30}
pulse_build "$BUILD" RelWithDebInfo pulse-gateway pulse-subscribe

cat >"$OUT/presence.conf" <<CONF
channels = { rules = ( { pattern = "pres.*"; presence = true; } ); };
CONF

pulse_start_redis "$OUT" "$OUT/redis.log"
PIDS+=("$PULSE_REDIS_PID")
PORT=$PULSE_REDIS_PORT

start_gateway() { # list_max
  pulse_start_gateway "$OUT/gateway.out" "$OUT/gateway.err" --redis "$PULSE_REDIS_URL" --node-id bench --log-level warn \
    --config "$OUT/presence.conf" --presence.list-max "$1" --limits.commands-per-second 0 || exit 3
}

metric() { pulse_metric "$PULSE_GW_ADMIN_PORT" "$1"; }

start_gateway 1000
"$SUB" --url "ws://127.0.0.1:$PULSE_GW_PORT/ws" --clients "$N" --channels pres.bench --out "$OUT" \
  --duration $((WINDOW + 900)) --connect-concurrency 100 --log-level warn >"$OUT/subscriber.log" 2>&1 &
PIDS+=($!)
pulse_wait_line "$OUT/subscriber.log" '^pulse-subscribe ready' 180 "${PIDS[-1]}" >/dev/null
for ((i = 0; i < 100; i++)); do
  [ "$(metric pulse_presence_entries)" = "$N" ] && break
  sleep 0.2
done
sleep 2 # the joins settle
redis-cli -p "$PORT" CONFIG RESETSTAT >/dev/null
r0=$(metric pulse_presence_refresh_total)
sleep "$WINDOW"
redis-cli -p "$PORT" INFO commandstats | tr -d '\r' >"$OUT/commandstats.txt"
r1=$(metric pulse_presence_refresh_total)

{
  echo "# presence_cost.sh $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(redis-server --version | awk '{print $3}')"
  echo "== Redis cost of $N presence connections on one node, refresh every 5 s, over ${WINDOW} s"
  awk -F'[:,=]' -v w="$WINDOW" '
    /^cmdstat_/ { name = substr($1, 9); calls = $3; usec = $5
                  if (name == "ping" || name ~ /^config/) next
                  if (name == "fcall") { fc = calls; fus = usec } else inner += calls
                  printf "  %-16s calls=%-8d usec=%d\n", name, calls, usec }
    END { printf "  presence: %.2f FCALL/s running %.1f commands/s inside; Redis busy %.0f us/s (%.2f%% of one core), %.0f us per FCALL\n",
                 fc / w, inner / w, fus / w, fus / w / 10000, fc ? fus / fc : 0 }' "$OUT/commandstats.txt"
  echo "  refresh round trips: $((r1 - r0)) in ${WINDOW} s; entries held: $(metric pulse_presence_entries)"
  echo "  Redis memory for the channel: pres $(redis-cli -p "$PORT" MEMORY USAGE 'pulse:{pres.bench}:pres') B," \
    "pexp $(redis-cli -p "$PORT" MEMORY USAGE 'pulse:{pres.bench}:pexp') B," \
    "pusers $(redis-cli -p "$PORT" MEMORY USAGE 'pulse:{pres.bench}:pusers') B"
  echo "== latency of the ops on pres.bench ($N members), one client, one op at a time"
  python3 "$ROOT/bench/presence_ops.py" "$PULSE_GW_PORT" pres.bench presence_stats 200
  python3 "$ROOT/bench/presence_ops.py" "$PULSE_GW_PORT" pres.bench presence 50
  echo "  (the list capped by presence.list_max 1000; the whole list straight from Redis:)"
  t0=$(date +%s%N)
  redis-cli -p "$PORT" -r 20 FCALL pulse_presence 1 pres.bench "$N" | wc -l >"$OUT/list_lines.txt"
  t1=$(date +%s%N)
  echo "  FCALL pulse_presence 1 pres.bench $N: $(( (t1 - t0) / 20000 )) us per call from redis-cli" \
    "($(( $(cat "$OUT/list_lines.txt") / 20 )) entries each)"
} | tee "$OUT/summary.txt"
