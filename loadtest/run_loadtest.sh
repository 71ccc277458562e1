#!/usr/bin/env bash
# run_loadtest.sh - Pulse's main measuring job. With no arguments it reproduces the
# classic run: 2 gateway nodes on one throwaway Redis, 50 WebSocket subscribers spread
# over the nodes, 50 events on events.critical at 1000/s, then the delivery report.
# It installs missing Debian packages, builds what is missing or stale (incremental
# cmake --build), starts a local redis-server unless --redis is given, waits for every
# component by polling (ready lines, /healthz; never blind sleeps), and stops everything
# it started, by PID, on exit, Ctrl-C or failure. Every wait has a deadline.
# Exit status: pulse-report's (0 ok, 1 critical deliveries dropped, 2 bad input), or 2
# for bad usage, 3 when a component failed to start.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLIENTS=${PULSE_CLIENTS:-50}
EVENTS=${PULSE_EVENTS:-50}
RATE=${PULSE_RATE:-1000}
NODES=${PULSE_NODES:-2}
MIX=${PULSE_MIX:-0}
DURATION=${PULSE_DURATION:-}
USERS=${PULSE_USERS:-100}
SPIKE=${PULSE_SPIKE:-}
REDIS_URL=${PULSE_REDIS:-}
OUT=${PULSE_OUT:-}
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
BUILD=${PULSE_BUILD_DIR:-$(pulse_build_dir "$ROOT" Release)}
TIMEOUT=${PULSE_TIMEOUT:-120}
WORKERS=${PULSE_WORKERS:-}
VIA=${PULSE_VIA:-redis}
BATCH=${PULSE_BATCH:-0}
SECURE=${PULSE_SECURE:-0}
PAYLOAD=${PULSE_PAYLOAD_BYTES:-0}
NO_BUILD=${PULSE_NO_BUILD:-0}
VIA_LB=${PULSE_VIA_LB:-0}
KILL_NODE=${PULSE_KILL_NODE:-0}
RESTART_REDIS=${PULSE_RESTART_REDIS:-0}
RAW=${PULSE_RAW:-0}
CLUSTER_UP=0
RCLUSTER=${PULSE_REDIS_CLUSTER:-}
RCLUSTER_UP=0
GIVEN=" $* " # the flags given, so --kill-node's defaults do not override them

usage() {
  cat <<'USAGE'
usage: loadtest/run_loadtest.sh [options]
Starts Redis (unless --redis), N gateway nodes, pulse-subscribe and pulse-publish, then
prints pulse-report's report. Every option can also be set from the environment
(PULSE_CLIENTS, PULSE_EVENTS, ...).
  --clients N        WebSocket subscribers, spread round-robin over the nodes (50)
  --events N         events to publish on events.critical (50)
  --rate N           events per second, evenly paced; 0 = as fast as possible (1000)
  --nodes N          gateway nodes (2)
  --mix              simulator traffic: 70% PostCreated, 20% Notification (per-user
                     channels), 10% SystemAlert (events.critical); needs --duration
  --duration S       publish for S seconds (instead of --events)
  --users N          users for --mix; subscriber i follows user (i mod N)+1 (100)
  --spike F:S:E      with --mix/--duration: rate x F for S seconds every E seconds
  --payload-bytes N  pad each event's data to about N bytes
  --via redis|http   publish with Redis PUBLISH (default) or node 1's POST /publish
  --batch            subscribers ask for batched frames (?batch=1)
  --secure           gateways require tokens (HS256, a fresh secret) and an admin key;
                     the subscribers get a minted token, --via http the key
  --workers N        --workers for each gateway
  --via-lb           the subscribers connect through HAProxy in front of the nodes
                     (loadtest/cluster.sh: the deploy/haproxy.cfg docker-compose uses);
                     cluster state and logs in <out>/cluster
  --raw              publish with plain PUBLISH (no offsets, no history)
  --kill-node        3 nodes behind HAProxy (--via-lb); a third of the way through
                     publishing, SIGKILL node-2 and restart it on its ports; defaults
                     become --events 3000 --rate 200. The subscribers reconnect with
                     since; the report says how many deliveries were lost (events with
                     history) and how long reconnecting and recovering took
  --restart-redis    halfway through publishing, SIGKILL Redis and restart it on its port
                     (no persistence: history, functions and subscriptions are gone);
                     the second half is published as soon as Redis answers PING
  --redis URL        use this Redis instead of starting one (redis+cluster://... too)
  --redis-cluster N  start a local Redis Cluster instead (loadtest/redis_cluster.sh: N
                     primaries and N replicas on loopback, state in <out>/rcluster) and
                     run the gateways and pulse-publish on it (sharded pub/sub)
  --out DIR          run directory (default ./results/<timestamp>)
  --build-dir DIR    where to build (default <repo>/build-release: a Release build)
  --no-build         use the binaries already in the build directory as they are
  --timeout S        how long to wait for deliveries after publishing (120)
  --scenario NAME    preset from loadtest/scenarios/NAME.env (classic, fanout, social,
                     spike) or a file of KEY=VALUE lines; other flags override it
  --help             this text
USAGE
}

die_usage() { echo "run_loadtest: $*" >&2; echo "(see --help)" >&2; exit 2; }

# --scenario NAME|FILE: KEY=VALUE lines (loadtest/scenarios/NAME.env); read first, so
# flags given on the command line still win. Only known keys are taken; nothing is run.
load_scenario() {
  local f=$1 line key val
  [ -f "$f" ] || f="$ROOT/loadtest/scenarios/$1.env"
  [ -f "$f" ] || die_usage "no scenario '$1' (see loadtest/scenarios/)"
  while IFS= read -r line || [ -n "$line" ]; do
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    [[ "$line" =~ ^([A-Z_]+)=([A-Za-z0-9._:/@-]*)$ ]] || die_usage "$f: bad line '$line'"
    key=${BASH_REMATCH[1]}; val=${BASH_REMATCH[2]}
    case "$key" in
      CLIENTS|EVENTS|RATE|NODES|MIX|DURATION|USERS|SPIKE|WORKERS|VIA|BATCH|PAYLOAD|TIMEOUT)
        printf -v "$key" '%s' "$val"; GIVEN+="--${key,,} " ;;
      *) die_usage "$f: unknown key '$key'" ;;
    esac
  done <"$f"
}
prev=""
for a in "$@"; do
  if [ "$prev" = --scenario ]; then load_scenario "$a"; fi
  prev=$a
done
log() { echo "loadtest: $*" >&2; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

while [ $# -gt 0 ]; do
  case "$1" in
    --clients) [ $# -ge 2 ] || die_usage "--clients needs a value"; CLIENTS=$2; shift 2 ;;
    --events) [ $# -ge 2 ] || die_usage "--events needs a value"; EVENTS=$2; shift 2 ;;
    --rate) [ $# -ge 2 ] || die_usage "--rate needs a value"; RATE=$2; shift 2 ;;
    --nodes) [ $# -ge 2 ] || die_usage "--nodes needs a value"; NODES=$2; shift 2 ;;
    --mix) MIX=1; shift ;;
    --duration) [ $# -ge 2 ] || die_usage "--duration needs a value"; DURATION=$2; shift 2 ;;
    --users) [ $# -ge 2 ] || die_usage "--users needs a value"; USERS=$2; shift 2 ;;
    --spike) [ $# -ge 2 ] || die_usage "--spike needs a value"; SPIKE=$2; shift 2 ;;
    --payload-bytes) [ $# -ge 2 ] || die_usage "--payload-bytes needs a value"; PAYLOAD=$2; shift 2 ;;
    --via) [ $# -ge 2 ] || die_usage "--via needs a value"; VIA=$2; shift 2 ;;
    --batch) BATCH=1; shift ;;
    --secure) SECURE=1; shift ;;
    --via-lb) VIA_LB=1; shift ;;
    --workers) [ $# -ge 2 ] || die_usage "--workers needs a value"; WORKERS=$2; shift 2 ;;
    --redis) [ $# -ge 2 ] || die_usage "--redis needs a value"; REDIS_URL=$2; shift 2 ;;
    --redis-cluster) [ $# -ge 2 ] || die_usage "--redis-cluster needs a value"; RCLUSTER=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || die_usage "--out needs a value"; OUT=$2; shift 2 ;;
    --build-dir) [ $# -ge 2 ] || die_usage "--build-dir needs a value"; BUILD=$2; shift 2 ;;
    --timeout) [ $# -ge 2 ] || die_usage "--timeout needs a value"; TIMEOUT=$2; shift 2 ;;
    --no-build) NO_BUILD=1; shift ;;
    --raw) RAW=1; shift ;;
    --kill-node) KILL_NODE=1; VIA_LB=1; shift ;;
    --restart-redis) RESTART_REDIS=1; shift ;;
    --scenario) [ $# -ge 2 ] || die_usage "--scenario needs a value"; shift 2 ;; # read above
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown option '$1'" ;;
  esac
done
if [ "$KILL_NODE" = 1 ]; then
  [[ "$GIVEN" == *" --nodes "* ]] || NODES=3
  [[ "$GIVEN" == *" --events "* ]] || EVENTS=3000
  [[ "$GIVEN" == *" --rate "* ]] || RATE=200
  [ "$NODES" -ge 2 ] || die_usage "--kill-node needs at least 2 nodes"
fi
if [ "$KILL_NODE" = 1 ] || [ "$RESTART_REDIS" = 1 ]; then
  [ -z "$DURATION" ] && [ "$MIX" = 0 ] && [ "$VIA" = redis ] ||
    die_usage "--kill-node/--restart-redis publish --events to events.critical through Redis"
  [ "$RATE" != 0 ] || die_usage "--kill-node/--restart-redis need a --rate (mid-stream)"
fi
[ "$RESTART_REDIS" = 0 ] || [ -z "$REDIS_URL" ] || die_usage "--restart-redis restarts its own Redis: drop --redis"
if [ -n "$RCLUSTER" ]; then
  is_uint "$RCLUSTER" && [ "$RCLUSTER" -ge 3 ] || die_usage "--redis-cluster needs 3 or more primaries"
  [ -z "$REDIS_URL" ] && [ "$RESTART_REDIS" = 0 ] || die_usage "--redis-cluster starts its own cluster: drop --redis/--restart-redis"
fi

for v in CLIENTS EVENTS NODES USERS TIMEOUT PAYLOAD; do
  is_uint "${!v}" || die_usage "${v} (--${v,,}) must be a whole number, not '${!v}'"
done
[[ "$RATE" =~ ^[0-9]+([.][0-9]+)?$ ]] || die_usage "--rate must be a number, not '$RATE'"
[ -z "$DURATION" ] || [[ "$DURATION" =~ ^[0-9]+([.][0-9]+)?$ ]] || die_usage "--duration must be seconds"
[ "$CLIENTS" -ge 1 ] && [ "$NODES" -ge 1 ] || die_usage "--clients and --nodes must be at least 1"
[ "$MIX" = 0 ] || [ -n "$DURATION" ] || die_usage "--mix needs --duration"
[ -n "$DURATION" ] || [ "$EVENTS" -ge 1 ] || die_usage "--events must be at least 1 (or give --duration)"
[ -z "$SPIKE" ] || [ -n "$DURATION" ] || die_usage "--spike needs --duration"
[ "$VIA" = redis ] || [ "$VIA" = http ] || die_usage "--via must be redis or http"
[ -n "$OUT" ] || OUT="$PWD/results/$(date +%Y%m%d-%H%M%S)"

# ---- everything we start, stopped by PID on the way out ----
WORK=""
REDIS_PID=""
SUB_PID=""
PUB_PID=""
GW_PIDS=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  pulse_stop_pid "$PUB_PID" TERM 30
  pulse_stop_pid "$SUB_PID" INT 50
  for p in "${GW_PIDS[@]}"; do pulse_stop_pid "$p" TERM 50; done
  [ "$CLUSTER_UP" = 0 ] || "$ROOT/loadtest/cluster.sh" down --dir "$OUT/cluster" >/dev/null 2>&1 || true
  pulse_stop_pid "$REDIS_PID" TERM 50
  [ "$RCLUSTER_UP" = 0 ] || bash "$ROOT/loadtest/redis_cluster.sh" stop "$OUT/rcluster" >/dev/null 2>&1 || true
  [ -z "$WORK" ] || rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

fail_start() { # what logfile
  log "$1 did not start; its log ($2):"
  tail -n 30 "$2" >&2 || true
  exit 3
}

# ---- dependencies and build ----
"$ROOT/scripts/install-deps.sh"
GW="$BUILD/gateway/pulse-gateway"
PUB="$BUILD/publisher/pulse-publish"
SUB="$BUILD/subscriber-client/pulse-subscribe"
REP="$BUILD/report/pulse-report"
if [ "$NO_BUILD" = 0 ]; then
  log "building $BUILD (Release, incremental)"
  pulse_build "$BUILD" Release pulse-gateway pulse-publish pulse-subscribe pulse-report ||
    { log "the build failed (see above)"; exit 3; }
fi
for b in "$GW" "$PUB" "$SUB" "$REP"; do
  [ -x "$b" ] || { log "missing $b (build it, or drop --no-build)"; exit 3; }
done

mkdir -p "$OUT/logs"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pulse-loadtest.XXXXXX")
log "run directory $OUT"

# ---- --secure: a fresh HS256 secret, an admin key, and a token for the subscribers ----
SEC_GW_ARGS=()
TOKEN=""
APIKEY=""
if [ "$SECURE" = 1 ]; then
  [ "$MIX" = 0 ] || { log "--secure works with events.critical runs only (--mix needs a token per user)"; exit 2; }
  [ "$VIA_LB" = 0 ] || { log "--secure and --via-lb cannot be combined yet"; exit 2; }
  b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
  umask 077
  head -c 48 /dev/urandom | base64 -w0 >"$OUT/jwt.secret"
  head -c 24 /dev/urandom | base64 -w0 >"$OUT/admin.key"
  APIKEY=$(cat "$OUT/admin.key")
  hdr=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
  claims=$(printf '{"sub":"loadtest","channels":["events.*"],"exp":%d}' $(($(date +%s) + 3600)) | b64url)
  sig=$(printf '%s.%s' "$hdr" "$claims" |
    openssl dgst -sha256 -mac HMAC -macopt "key:$(cat "$OUT/jwt.secret")" -binary | b64url)
  TOKEN="$hdr.$claims.$sig"
  SEC_GW_ARGS=(--jwt-secret-file "$OUT/jwt.secret" --admin.api-key-file "$OUT/admin.key")
  log "secure mode: tokens required (secret $OUT/jwt.secret), admin key $OUT/admin.key"
fi

# ---- Redis ----
if [ -n "$RCLUSTER" ]; then
  RCLUSTER_UP=1
  bash "$ROOT/loadtest/redis_cluster.sh" start "$RCLUSTER" "$OUT/rcluster" >"$OUT/logs/rcluster.log" 2>&1 ||
    fail_start "redis cluster" "$OUT/logs/rcluster.log"
  REDIS_URL=$(. "$OUT/rcluster/cluster.env" && echo "$PULSE_RCLUSTER_URL")
  log "redis cluster: $RCLUSTER primaries + $RCLUSTER replicas, $REDIS_URL"
elif [ -z "$REDIS_URL" ]; then
  pulse_start_redis "$WORK" "$OUT/logs/redis.log" || fail_start "redis-server" "$OUT/logs/redis.log"
  REDIS_PID=$PULSE_REDIS_PID
  REDIS_URL=$PULSE_REDIS_URL
  log "redis-server pid $REDIS_PID on $REDIS_URL"
fi

# ---- gateway nodes ----
WS_URLS=()
ADMIN_PORTS=()
if [ "$VIA_LB" = 1 ]; then
  # Redis (ours or --redis), N nodes and HAProxy; cluster.sh waits until HAProxy sees
  # every node UP and stops only what it started (by PID) on `down`.
  CLUSTER_UP=1
  PULSE_BIN_DIR="$BUILD" "$ROOT/loadtest/cluster.sh" up --nodes "$NODES" --redis "$REDIS_URL" \
    --dir "$OUT/cluster" ${WORKERS:+--workers "$WORKERS"} >"$OUT/logs/cluster.log" 2>&1 ||
    fail_start "loadtest/cluster.sh up" "$OUT/logs/cluster.log"
  # shellcheck disable=SC1091
  . "$OUT/cluster/cluster.env"
  WS_URLS=(--url "$PULSE_LB_URL")
  IFS=, read -r -a ADMIN_PORTS <<<"$PULSE_ADMIN_PORTS"
  log "$NODES gateway nodes behind HAProxy $PULSE_LB_URL (stats http://127.0.0.1:$PULSE_LB_STATS_PORT/stats)"
fi
for ((i = 1; i <= NODES && VIA_LB == 0; i++)); do
  node="node-$i"
  glog="$OUT/logs/gateway-$node.log"
  args=(--port 0 --admin-port 0 --redis "$REDIS_URL" --node-id "$node")
  [ -z "$WORKERS" ] || args+=(--workers "$WORKERS")
  args+=(${SEC_GW_ARGS[@]+"${SEC_GW_ARGS[@]}"})
  "$GW" "${args[@]}" >"$glog" 2>&1 &
  GW_PIDS+=($!)
  line=$(pulse_wait_line "$glog" '^pulse-gateway ready ' 15 "${GW_PIDS[-1]}") || fail_start "pulse-gateway $node" "$glog"
  pulse_ready_ports "$line" || { log "cannot read ports from: $line"; exit 3; }
  wsport=$PULSE_GW_PORT admin=$PULSE_GW_ADMIN_PORT
  WS_URLS+=(--url "ws://127.0.0.1:$wsport/ws")
  ADMIN_PORTS+=("$admin")
  log "$node pid ${GW_PIDS[-1]} ws port $wsport admin port $admin"
done
for ((i = 0; i < NODES; i++)); do
  end=$((SECONDS + 15)); ok=0
  while [ "$SECONDS" -lt "$end" ]; do
    if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:${ADMIN_PORTS[$i]}/healthz"; then ok=1; break; fi
    pulse_alive "${GW_PIDS[$i]}" || break
    sleep 0.1
  done
  [ "$ok" = 1 ] || fail_start "pulse-gateway node-$((i + 1)) (/healthz never answered 200)" "$OUT/logs/gateway-node-$((i + 1)).log"
done
log "all $NODES gateway nodes healthy"

# ---- subscribers ----
sub_args=(--clients "$CLIENTS" --out "$OUT" "${WS_URLS[@]}")
EXPECT=0
if [ "$MIX" = 1 ]; then
  sub_args+=(--users "$USERS")
else
  sub_args+=(--channels events.critical)
  if [ -z "$DURATION" ] && [ "$KILL_NODE$RESTART_REDIS" = 00 ]; then
    EXPECT=$((CLIENTS * EVENTS))
    sub_args+=(--expect "$EXPECT")
  fi
fi
[ "$BATCH" = 0 ] || sub_args+=(--batch)
[ -z "$TOKEN" ] || sub_args+=(--token "$TOKEN")
"$SUB" "${sub_args[@]}" >"$OUT/logs/subscriber.log" 2>&1 &
SUB_PID=$!
pulse_wait_line "$OUT/logs/subscriber.log" '^pulse-subscribe ready' $((30 + CLIENTS / 200)) "$SUB_PID" >/dev/null ||
  fail_start "pulse-subscribe ($CLIENTS connections)" "$OUT/logs/subscriber.log"
log "pulse-subscribe pid $SUB_PID: $CLIENTS connections ready"

# ---- publisher ----
pub_args=(--rate "$RATE" --manifest "$OUT/manifest.csv")
if [ "$VIA" = http ]; then
  pub_args+=(--http "http://127.0.0.1:${ADMIN_PORTS[0]}/publish")
  [ -z "$APIKEY" ] || pub_args+=(--api-key "$APIKEY")
else
  pub_args+=(--redis "$REDIS_URL")
fi
[ "$PAYLOAD" = 0 ] || pub_args+=(--payload-bytes "$PAYLOAD")
if [ "$MIX" = 1 ]; then
  pub_args+=(--mix --users "$USERS" --duration "$DURATION")
elif [ -n "$DURATION" ]; then
  pub_args+=(--channel events.critical --duration "$DURATION")
else
  pub_args+=(--channel events.critical --count "$EVENTS")
fi
[ -z "$SPIKE" ] || pub_args+=(--spike "$SPIKE")
[ "$RAW" = 0 ] || pub_args+=(--raw)

# ---- --kill-node / --restart-redis: the disruption, timed from the publishing start ----
KILL_US=0
kill_node() { # SIGKILL node-2, restart it on its ports (HAProxy's server line stays valid)
  local pid port admin glog newpid try
  # shellcheck disable=SC1091
  . "$OUT/cluster/cluster.env"
  pid=$(cat "$OUT/cluster/pids/node-2.pid") port=$PULSE_NODE_2_PORT admin=$PULSE_NODE_2_ADMIN_PORT
  glog="$OUT/cluster/logs/node-2.restart.log"
  KILL_US=$(date +%s%6N)
  kill -KILL "$pid"
  log "SIGKILL node-2 (pid $pid)"
  for try in 1 2 3 4 5 6 7 8 9 10; do
    setsid "$GW" --port "$port" --admin-port "$admin" --bind 127.0.0.1 --admin-bind 127.0.0.1 \
      --redis "$REDIS_URL" --node-id node-2 ${WORKERS:+--workers "$WORKERS"} >>"$glog" 2>&1 </dev/null &
    newpid=$!
    echo "$newpid" >"$OUT/cluster/pids/node-2.pid" # cluster.sh down stops it
    pulse_wait_line "$glog" '^pulse-gateway ready node=node-2 ' 5 "$newpid" >/dev/null && break
    log "node-2 restart attempt $try failed (ports still held?)"
    sleep 0.2
  done
  log "node-2 restarted (pid $newpid) $((($(date +%s%6N) - KILL_US) / 1000)) ms after the kill"
}
restart_redis() { # SIGKILL our Redis, start a new one on the same port (no persistence)
  local port=${REDIS_URL##*:} i
  KILL_US=$(date +%s%6N)
  kill -KILL "$REDIS_PID"
  wait "$REDIS_PID" 2>/dev/null || true
  log "SIGKILL redis-server (pid $REDIS_PID)"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$WORK" --save '' --appendonly no \
    >>"$OUT/logs/redis.log" 2>&1 </dev/null &
  REDIS_PID=$!
  for ((i = 0; i < 200; i++)); do
    [ "$(redis-cli -p "$port" ping 2>/dev/null || true)" = PONG ] && break
    sleep 0.05
  done
  log "redis-server back (pid $REDIS_PID) $((($(date +%s%6N) - KILL_US) / 1000)) ms after the kill"
}
disruption_summary() { # what happened after KILL_US, from the subscriber's files
  local back rec
  pulse_disruption "$OUT" "$KILL_US"
  back="$PULSE_DIS_RECONNECTS clients reconnected, the last $PULSE_DIS_RECONNECT_MS ms after the kill"
  rec="$PULSE_DIS_RECOVERIES channel recoveries ($PULSE_DIS_RECOVERED recovered,"
  rec+=" $((PULSE_DIS_RECOVERIES - PULSE_DIS_RECOVERED)) not), the last caught up $PULSE_DIS_CATCHUP_MS ms after the kill"
  [ "$KILL_NODE" = 0 ] || log "$back; $rec"
  grep -E '^  (history|expected)' "$OUT/report.txt" | sed 's/^ */loadtest: /' >&2 || true
}

log "publishing: pulse-publish ${pub_args[*]}"
part1=()
[ "$RESTART_REDIS" = 0 ] || part1=(--count $((EVENTS / 2)))
"$PUB" "${pub_args[@]}" ${part1[@]+"${part1[@]}"} >"$OUT/logs/publisher.log" 2>&1 &
PUB_PID=$!
if [ "$KILL_NODE" = 1 ]; then
  sleep "$(awk -v n="$EVENTS" -v r="$RATE" 'BEGIN {printf "%.3f", n / r / 3}')"
  kill_node
fi
pub_rc=0
wait "$PUB_PID" || pub_rc=$?
PUB_PID=""
if [ "$RESTART_REDIS" = 1 ] && [ "$pub_rc" = 0 ]; then
  restart_redis
  "$PUB" "${pub_args[@]}" --count $((EVENTS - EVENTS / 2)) --first-sequence $((EVENTS / 2 + 1)) \
    --manifest "$OUT/manifest-2.csv" >>"$OUT/logs/publisher.log" 2>&1 &
  PUB_PID=$!
  wait "$PUB_PID" || pub_rc=$?
  PUB_PID=""
  cat "$OUT/manifest-2.csv" >>"$OUT/manifest.csv" && rm -f "$OUT/manifest-2.csv"
fi
cat "$OUT/logs/publisher.log" >&2
[ "$pub_rc" = 0 ] || log "pulse-publish exited with status $pub_rc"

# ---- wait for the deliveries ----
if [ "$EXPECT" -gt 0 ]; then
  log "waiting up to ${TIMEOUT}s for $EXPECT deliveries"
  end=$((SECONDS + TIMEOUT))
  while [ "$SECONDS" -lt "$end" ] && pulse_alive "$SUB_PID"; do sleep 0.1; done
else
  # Unknown total: stop once the delivery log has been still for 2 s (it is flushed
  # every second), or at the timeout.
  log "waiting for deliveries to settle (at most ${TIMEOUT}s)"
  end=$((SECONDS + TIMEOUT)); last=-1; still=0
  while [ "$SECONDS" -lt "$end" ] && pulse_alive "$SUB_PID"; do
    size=$(stat -c %s "$OUT/deliveries.csv" 2>/dev/null || echo 0)
    if [ "$size" = "$last" ]; then still=$((still + 1)); else still=0; last=$size; fi
    [ "$still" -ge 20 ] && break
    sleep 0.1
  done
fi
pulse_stop_pid "$SUB_PID" INT 100
SUB_PID=""
grep -E '^pulse-subscribe: ' "$OUT/logs/subscriber.log" >&2 || true

# ---- report ----
rep_rc=0
"$REP" "$OUT" >"$OUT/report.txt" || rep_rc=$?
"$REP" --json --no-svg "$OUT" >"$OUT/report.json" || true
cat "$OUT/report.txt"
[ "$KILL_US" = 0 ] || disruption_summary
exit "$rep_rc"
