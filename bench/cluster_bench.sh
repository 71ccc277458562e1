#!/usr/bin/env bash
# bench/cluster_bench.sh - one Redis versus a Redis Cluster of P primaries for the same
# offered load: deliveries per second and the Redis CPU it cost (used_cpu_sys +
# used_cpu_user from INFO cpu, summed over every primary and replica, before and after).
#
#   bench/cluster_bench.sh [--build-dir DIR] [--primaries P] [--users U] [--clients C]
#                          [--duration S] [--rates "R1 R2 ..."] [--out DIR]
#
# Each rate runs once per setup through loadtest/run_loadtest.sh --mix (pulse-publish's
# simulator: 2 channels per user plus events.critical, so --users 150 spreads the events
# over 301 channels and every shard; subscriber i follows user (i mod U)+1), one gateway
# node, --redis pointing at the setup (redis:// or redis+cluster://). Rate 0 = as fast
# as pulse-publish goes (pipelined on one Redis, one command at a time in a cluster).
# Then, for contrast, classic PUBLISH into the cluster (redis-benchmark, the same count
# as SPUBLISH): a classic message is copied to every node over the cluster bus.
# Bounded: every run has --duration and run_loadtest's own deadlines; everything
# started is stopped by PID. Prints one line per run and writes OUT/summary.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
BUILD=$ROOT/build
PRIMARIES=3
USERS=150
CLIENTS=300
DURATION=10
RATES="2000 0"
OUT=${TMPDIR:-/tmp}/pulse-cluster-bench-$$

while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD=$(cd "${2:?}" && pwd); shift 2 ;;
    --primaries) PRIMARIES=${2:?}; shift 2 ;;
    --users) USERS=${2:?}; shift 2 ;;
    --clients) CLIENTS=${2:?}; shift 2 ;;
    --duration) DURATION=${2:?}; shift 2 ;;
    --rates) RATES=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "cluster_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
REDIS_PID=""
RC_UP=0
cleanup() {
  [ -z "$REDIS_PID" ] || pulse_stop_pid "$REDIS_PID" TERM 100 || true
  [ "$RC_UP" = 0 ] || bash "$ROOT/loadtest/redis_cluster.sh" stop "$OUT/rcluster" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Redis CPU seconds (sys + user) summed over the given ports.
redis_cpu() {
  local p sum=0 v
  for p in "$@"; do
    v=$(redis-cli -p "$p" INFO cpu | tr -d '\r' |
      awk -F: '$1 == "used_cpu_sys" || $1 == "used_cpu_user" { s += $2 } END { printf "%.3f", s }')
    sum=$(awk -v a="$sum" -v b="$v" 'BEGIN { printf "%.3f", a + b }')
  done
  echo "$sum"
}

# One measured run: label url ports...
run() {
  local label=$1 url=$2 rate=$3
  shift 3
  local dir=$OUT/$label-rate$rate c0 c1 rc=0
  c0=$(redis_cpu "$@")
  bash "$ROOT/loadtest/run_loadtest.sh" --redis "$url" --mix --users "$USERS" --clients "$CLIENTS" \
    --duration "$DURATION" --rate "$rate" --nodes 1 --build-dir "$BUILD" --no-build --timeout 60 \
    --out "$dir" >"$dir.log" 2>&1 || rc=$?
  c1=$(redis_cpu "$@")
  python3 - "$dir/report.json" "$label" "$rate" "$c0" "$c1" "$rc" "$DURATION" <<'PY' | tee -a "$SUMMARY"
import json, sys
path, label, rate, c0, c1, rc, dur = sys.argv[1:]
try:
    d = json.load(open(path))
except Exception as e:
    print(f"{label:8} rate {rate:>5}: no report ({e}), run_loadtest exit {rc}")
    sys.exit(0)
o = d.get("overall", {})
ev, exp, got, lost = d.get("events"), o.get("expected"), o.get("received"), o.get("dropped")
cpu = float(c1) - float(c0)
per = (cpu / ev * 1e6) if ev else 0
rate_s = "max" if rate == "0" else rate
print(f"{label:8} rate {rate_s:>5}/s: events {ev} in {dur} s, delivered {got} of {exp} "
      f"({(got or 0) / float(dur):.0f} deliveries/s, {lost} dropped); "
      f"Redis CPU {cpu:.2f} s ({per:.1f} us per event); exit {rc}")
PY
}

# ---- one Redis ----
pulse_start_redis "$OUT/redis" "$OUT/redis.log" setsid
REDIS_PID=$PULSE_REDIS_PID
SINGLE_PORT=${PULSE_REDIS_URL##*:}
for rate in $RATES; do run single "$PULSE_REDIS_URL" "$rate" "$SINGLE_PORT"; done
pulse_stop_pid "$REDIS_PID" TERM 100 || true
REDIS_PID=""

# ---- Redis Cluster ----
RC_UP=1
bash "$ROOT/loadtest/redis_cluster.sh" start "$PRIMARIES" "$OUT/rcluster" >"$OUT/rcluster.log" 2>&1
URL=$(. "$OUT/rcluster/cluster.env" && echo "$PULSE_RCLUSTER_URL")
mapfile -t PORTS <"$OUT/rcluster/ports"
for rate in $RATES; do run "cluster$PRIMARIES" "$URL" "$rate" "${PORTS[@]}"; done

# ---- contrast: classic PUBLISH versus SPUBLISH into the cluster, Redis CPU only ----
N=200000
CH=""
for i in $(seq 1 200); do # a channel served by PORTS[0] (SPUBLISH elsewhere answers MOVED)
  case "$(redis-cli -p "${PORTS[0]}" SPUBLISH "bench.c$i" x 2>&1)" in MOVED* | *MOVED*) ;; *) CH=bench.c$i; break ;; esac
done
[ -n "$CH" ] || { echo "cluster_bench: no channel on ${PORTS[0]}" >&2; exit 1; }
for cmd in PUBLISH SPUBLISH; do
  c0=$(redis_cpu "${PORTS[@]}")
  redis-benchmark -p "${PORTS[0]}" -n "$N" -c 4 -q "$cmd" "$CH" x >"$OUT/benchmark-$cmd.log" 2>&1 || true
  c1=$(redis_cpu "${PORTS[@]}")
  awk -v c="$cmd" -v n="$N" -v a="$c0" -v b="$c1" -v l="$(tr '\r' '\n' <"$OUT/benchmark-$cmd.log" | grep -a 'requests per second' | tail -1)" \
    'BEGIN { printf "contrast %-8s x %d to one node: Redis CPU over all %s nodes %.2f s (%.1f us per message); %s\n", c, n, "'"${#PORTS[@]}"'", b - a, (b - a) / n * 1e6, l }' |
    tee -a "$SUMMARY"
done
echo "cluster_bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); runs in $OUT" |
  tee -a "$SUMMARY"
