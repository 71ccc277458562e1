#!/usr/bin/env bash
# loadtest/cluster.sh - the docker-compose topology, natively: one redis-server, N
# pulse-gateway nodes and HAProxy in front of them, all on 127.0.0.1, with the SAME
# HAProxy configuration the compose file mounts (deploy/haproxy.cfg; its server-template
# block is replaced by one rendered "server" line per node).
#
#   loadtest/cluster.sh up     [--nodes N] [--redis URL | --redis-cluster P] [--port P]
#                              [--workers W] [--dir STATE] [--bin-dir BUILD]
#   loadtest/cluster.sh status [--dir STATE]
#   loadtest/cluster.sh down   [--dir STATE]
#   loadtest/cluster.sh render --gateway ID=HOST:PORT:ADMIN_PORT [...] [--config FILE]
#
# up      starts redis-server (free port, data in the state dir) unless --redis is given,
#         N gateways (--port 0 --admin-port 0: they pick free ports and print them) and
#         haproxy on --port (default: a free port), waits until HAProxy sees every node
#         UP, and writes the state dir: pids/*.pid, logs/*.log, haproxy.cfg and
#         cluster.env (sourceable: PULSE_LB_URL, PULSE_REDIS, PULSE_NODE_<i>_*, ...).
#         --redis-cluster P starts a local Redis Cluster instead of one redis-server
#         (loadtest/redis_cluster.sh: P primaries and P replicas, state in STATE/rcluster)
#         and gives the gateways its redis+cluster:// URL.
# status  prints Redis, HAProxy and, per node, /healthz and /stats connections.
# down    stops exactly the processes `up` started, by the PIDs it recorded (SIGTERM,
#         then SIGKILL after 10 s), and leaves the logs in place.
# render  prints deploy/haproxy.cfg with the given servers (used by the tests).
#
# Environment: PULSE_CLUSTER_DIR (default state dir), PULSE_BIN_DIR (build directory
# holding gateway/pulse-gateway; default: the first of build*/ that has one, then PATH),
# PULSE_LOG_LEVEL (passed to the gateways).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
STATE=${PULSE_CLUSTER_DIR:-${TMPDIR:-/tmp}/pulse-cluster-$(id -u)}
CONFIG=$ROOT/deploy/haproxy.cfg
NODES=3
REDIS_URL=""
RCLUSTER=""
LB_PORT=""
WORKERS=1
BIN_DIR=${PULSE_BIN_DIR:-}
GATEWAYS=()

die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { echo "cluster.sh: $*" >&2; }

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

# ---- helpers ----

free_port() { pulse_free_port || die "no free port found"; }

# Is pid alive and still the program we started (by /proc comm or argv[0] name)?
pid_is() { # pid name
  local pid=$1 name=$2 comm arg0
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [ -r "/proc/$pid/comm" ] || return 0 # no /proc: trust the PID file
  comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
  arg0=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1 || true)
  arg0=${arg0%% *}
  case "$comm" in "${name:0:15}"*) return 0 ;; esac
  case "${arg0##*/}" in "$name"*) return 0 ;; esac
  return 1
}

find_gateway_bin() {
  local d
  if [ -n "$BIN_DIR" ]; then
    [ -x "$BIN_DIR/gateway/pulse-gateway" ] && { echo "$BIN_DIR/gateway/pulse-gateway"; return; }
    [ -x "$BIN_DIR/pulse-gateway" ] && { echo "$BIN_DIR/pulse-gateway"; return; }
    die "no pulse-gateway in $BIN_DIR"
  fi
  for d in "$ROOT/build" "$ROOT"/build*; do
    [ -x "$d/gateway/pulse-gateway" ] && { echo "$d/gateway/pulse-gateway"; return; }
  done
  command -v pulse-gateway && return
  die "pulse-gateway not found: build it (cmake -S $ROOT -B $ROOT/build && cmake --build $ROOT/build --target pulse-gateway) or set PULSE_BIN_DIR"
}

ensure_haproxy() {
  command -v haproxy >/dev/null 2>&1 && return
  "$ROOT/scripts/install-deps.sh" haproxy || die "could not install haproxy"
  PATH=$PATH:/usr/sbin
  command -v haproxy >/dev/null 2>&1 || die "haproxy installed but not found on PATH"
}

# Prints deploy/haproxy.cfg with the @servers block replaced by GATEWAYS
# (each ID=HOST:PORT:ADMIN).
render() {
  local g id rest host port admin lines=""
  [ ${#GATEWAYS[@]} -gt 0 ] || die "render: no --gateway given"
  for g in "${GATEWAYS[@]}"; do
    id=${g%%=*}; rest=${g#*=}
    IFS=: read -r host port admin <<<"$rest"
    [[ "$id" =~ ^[A-Za-z0-9._:@-]+$ && "$port" =~ ^[0-9]+$ && "$admin" =~ ^[0-9]+$ && -n "$host" ]] ||
      die "render: bad --gateway '$g' (want ID=HOST:PORT:ADMIN_PORT)"
    lines+="    server $id $host:$port check port $admin"$'\n'
  done
  if ! grep -q "^[[:space:]]*# @servers-begin" "$CONFIG" || ! grep -q "^[[:space:]]*# @servers-end" "$CONFIG"; then
    die "render: $CONFIG has no @servers-begin/@servers-end block"
  fi
  PULSE_RENDER_SERVERS=$lines awk '
    /^[ \t]*# @servers-begin/ { print; printf "%s", ENVIRON["PULSE_RENDER_SERVERS"]; skip = 1; next }
    /^[ \t]*# @servers-end/   { skip = 0; print; next }
    !skip            { print }' "$CONFIG"
}

wait_http() { # url want_code timeout_s
  local i code
  for ((i = 0; i < $3 * 10; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" 2>/dev/null || true)
    [ "$code" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# ---- up ----

stop_pidfile() { # name pid-file: the PID recorded there, if it is still that program
  local name=$1 f=$2 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if pid_is "$pid" "$name"; then
    pulse_stop_pid "$pid" TERM 100
    log "stopped $name (pid $pid)"
  fi
  rm -f "$f"
}

cmd_down() {
  [ -d "$STATE/pids" ] || { log "nothing to stop in $STATE"; return 0; }
  stop_pidfile haproxy "$STATE/pids/haproxy.pid"
  local f
  for f in "$STATE"/pids/node-*.pid; do
    [ -e "$f" ] && stop_pidfile pulse-gateway "$f"
  done
  stop_pidfile redis-server "$STATE/pids/redis.pid"
  if [ -f "$STATE/rcluster/cluster.env" ]; then
    bash "$ROOT/loadtest/redis_cluster.sh" stop "$STATE/rcluster" >&2 || true
    rm -f "$STATE/rcluster/cluster.env"
  fi
  rm -f "$STATE/cluster.env"
  return 0
}

cmd_up() {
  local gw pid i line port admin lb_port stats_port
  [[ "$NODES" =~ ^[0-9]+$ && "$NODES" -ge 1 && "$NODES" -le 64 ]] || die "--nodes: 1..64"
  if [ -f "$STATE/cluster.env" ]; then
    for f in "$STATE"/pids/*.pid; do
      [ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && die "a cluster is already up in $STATE (run: $0 down)"
    done
  fi
  gw=$(find_gateway_bin)
  ensure_haproxy
  mkdir -p "$STATE/pids" "$STATE/logs" "$STATE/redis"
  # From here on, a failure stops whatever was started.
  trap 'log "up failed; stopping what was started"; cmd_down' ERR

  if [ -n "$RCLUSTER" ]; then
    [ -z "$REDIS_URL" ] || die "--redis and --redis-cluster exclude each other"
    [[ "$RCLUSTER" =~ ^[0-9]+$ && "$RCLUSTER" -ge 3 ]] || die "--redis-cluster: 3 or more primaries"
    bash "$ROOT/loadtest/redis_cluster.sh" start "$RCLUSTER" "$STATE/rcluster" >"$STATE/logs/rcluster.log" 2>&1 ||
      { cat "$STATE/logs/rcluster.log" >&2; false; }
    REDIS_URL=$(. "$STATE/rcluster/cluster.env" && echo "$PULSE_RCLUSTER_URL")
    log "redis cluster: $RCLUSTER primaries + $RCLUSTER replicas, $REDIS_URL"
  elif [ -z "$REDIS_URL" ]; then
    pulse_start_redis "$STATE/redis" "$STATE/logs/redis.log" setsid || false
    echo "$PULSE_REDIS_PID" >"$STATE/pids/redis.pid"
    REDIS_URL=$PULSE_REDIS_URL
    log "redis $REDIS_URL (pid $(cat "$STATE/pids/redis.pid"))"
  fi

  GATEWAYS=()
  {
    echo "# written by loadtest/cluster.sh up; source it"
    echo "PULSE_CLUSTER_DIR=$STATE"
    echo "PULSE_REDIS=$REDIS_URL"
    echo "PULSE_CLUSTER_NODES=$NODES"
  } >"$STATE/cluster.env.tmp"
  local urls="" admins=""
  for ((i = 1; i <= NODES; i++)); do
    local id="node-$i" lf="$STATE/logs/node-$i.log"
    : >"$lf"
    setsid "$gw" --port 0 --admin-port 0 --bind 127.0.0.1 --admin-bind 127.0.0.1 \
      --redis "$REDIS_URL" --node-id "$id" --workers "$WORKERS" >"$lf" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$STATE/pids/$id.pid"
    line=$(pulse_wait_line "$lf" "^pulse-gateway ready node=$id " 10 "$pid") ||
      { log "$id did not start:"; cat "$lf" >&2; false; }
    pulse_ready_ports "$line" || { log "$id: cannot read ports from: $line"; false; }
    port=$PULSE_GW_PORT admin=$PULSE_GW_ADMIN_PORT
    GATEWAYS+=("$id=127.0.0.1:$port:$admin")
    urls+="${urls:+,}ws://127.0.0.1:$port/ws"
    admins+="${admins:+,}$admin"
    {
      echo "PULSE_NODE_${i}_ID=$id"
      echo "PULSE_NODE_${i}_PORT=$port"
      echo "PULSE_NODE_${i}_ADMIN_PORT=$admin"
      echo "PULSE_NODE_${i}_PID=$pid"
    } >>"$STATE/cluster.env.tmp"
    log "$id ws://127.0.0.1:$port/ws admin http://127.0.0.1:$admin (pid $pid)"
  done

  # A free port can be taken between choosing it and HAProxy binding it; when
  # HAProxy exits at once saying so, choose again (ports we chose only; a --port
  # given by the caller is theirs to fix).
  local attempt up=0
  for ((attempt = 1; attempt <= 5; attempt++)); do
    lb_port=${LB_PORT:-$(free_port)}
    pulse_port_in_use "$lb_port" && { log "port $lb_port is taken"; false; }
    stats_port=$(free_port)
    render >"$STATE/haproxy.cfg"
    export PULSE_LB_BIND="127.0.0.1:$lb_port" PULSE_LB_STATS_BIND="127.0.0.1:$stats_port"
    haproxy -c -q -f "$STATE/haproxy.cfg" || { log "haproxy -c rejected $STATE/haproxy.cfg"; false; }
    setsid haproxy -db -f "$STATE/haproxy.cfg" >"$STATE/logs/haproxy.log" 2>&1 </dev/null &
    echo $! >"$STATE/pids/haproxy.pid"
    for ((t = 0; t < 10; t++)); do
      grep -q 'cannot bind socket' "$STATE/logs/haproxy.log" && break
      sleep 0.05
    done
    grep -q 'cannot bind socket' "$STATE/logs/haproxy.log" || break
    pulse_stop_pid "$(cat "$STATE/pids/haproxy.pid")"
    [ -z "${LB_PORT:-}" ] || break
    log "haproxy could not bind (port taken since it was chosen); choosing again ($attempt of 5)"
  done
  # Every node UP in HAProxy's eyes (health checks every second, rise 2).
  for ((t = 0; t < 150; t++)); do
    up=$({ curl -s --max-time 1 "http://127.0.0.1:$stats_port/stats;csv" 2>/dev/null || true; } |
      awk -F, '$1 == "gateways" && $2 != "BACKEND" && $18 == "UP" && $37 == "L7OK"' | wc -l)
    [ "$up" -ge "$NODES" ] && break
    kill -0 "$(cat "$STATE/pids/haproxy.pid")" 2>/dev/null || break
    sleep 0.1
  done
  [ "$up" -ge "$NODES" ] || { log "HAProxy sees $up of $NODES nodes up:"; tail -20 "$STATE/logs/haproxy.log" >&2; false; }
  {
    echo "PULSE_LB_PORT=$lb_port"
    echo "PULSE_LB_STATS_PORT=$stats_port"
    echo "PULSE_LB_URL=ws://127.0.0.1:$lb_port/ws"
    echo "PULSE_GATEWAY_URLS=$urls"
    echo "PULSE_ADMIN_PORTS=$admins"
    echo "PULSE_HAPROXY_PID=$(cat "$STATE/pids/haproxy.pid")"
    [ -f "$STATE/pids/redis.pid" ] && echo "PULSE_REDIS_PID=$(cat "$STATE/pids/redis.pid")"
  } >>"$STATE/cluster.env.tmp"
  mv "$STATE/cluster.env.tmp" "$STATE/cluster.env"
  trap - ERR
  log "haproxy ws://127.0.0.1:$lb_port/ws stats http://127.0.0.1:$stats_port/stats (pid $(cat "$STATE/pids/haproxy.pid"))"
  echo "cluster up: $NODES nodes behind ws://127.0.0.1:$lb_port/ws; state in $STATE (source $STATE/cluster.env)"
}

# ---- status ----

cmd_status() {
  [ -f "$STATE/cluster.env" ] || { echo "no cluster in $STATE"; return 1; }
  # shellcheck disable=SC1091
  . "$STATE/cluster.env"
  local rc=0 i id port admin pid hz stats conns total=0 lbstate csv st
  if [ -f "$STATE/pids/redis.pid" ]; then
    pid=$(cat "$STATE/pids/redis.pid")
    if pid_is "$pid" redis-server; then st=running; else st=DEAD; rc=1; fi
  elif [ -f "$STATE/rcluster/cluster.env" ]; then
    pid="-"
    if bash "$ROOT/loadtest/redis_cluster.sh" status "$STATE/rcluster" >/dev/null 2>&1; then st="cluster ok"; else st="cluster NOT ok"; rc=1; fi
  else pid="-"; st="external"; fi
  echo "redis    $PULSE_REDIS  pid $pid  $st"
  pid=$(cat "$STATE/pids/haproxy.pid" 2>/dev/null || echo -)
  if pid_is "$pid" haproxy; then st=running; else st=DEAD; rc=1; fi
  echo "haproxy  $PULSE_LB_URL  pid $pid  $st  stats http://127.0.0.1:$PULSE_LB_STATS_PORT/stats"
  csv=$(curl -s --max-time 2 "http://127.0.0.1:$PULSE_LB_STATS_PORT/stats;csv" 2>/dev/null || true)
  for ((i = 1; i <= PULSE_CLUSTER_NODES; i++)); do
    eval "id=\$PULSE_NODE_${i}_ID port=\$PULSE_NODE_${i}_PORT admin=\$PULSE_NODE_${i}_ADMIN_PORT"
    pid=$(cat "$STATE/pids/$id.pid" 2>/dev/null || echo -)
    hz=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$admin/healthz" 2>/dev/null || true)
    stats=$(curl -s --max-time 2 "http://127.0.0.1:$admin/stats" 2>/dev/null || true)
    conns=$(grep -o '"connections": *[0-9]*' <<<"$stats" | head -1 | grep -o '[0-9]*$' || true)
    lbstate=$(awk -F, -v id="$id" '$1 == "gateways" && $2 == id { print $18 }' <<<"$csv")
    [ "$hz" = 200 ] || rc=1
    pid_is "$pid" pulse-gateway || { pid="$pid(DEAD)"; rc=1; }
    total=$((total + ${conns:-0}))
    printf '%-8s pid %-12s ws :%-5s admin :%-5s healthz %-3s connections %-6s haproxy %s\n' \
      "$id" "$pid" "$port" "$admin" "${hz:-000}" "${conns:--}" "${lbstate:-?}"
  done
  echo "total connections: $total"
  return $rc
}

# ---- main ----

cmd=${1:-}
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=${2:?--nodes N}; shift 2 ;;
    --redis) REDIS_URL=${2:?--redis URL}; shift 2 ;;
    --redis-cluster) RCLUSTER=${2:?--redis-cluster P}; shift 2 ;;
    --port) LB_PORT=${2:?--port P}; shift 2 ;;
    --workers) WORKERS=${2:?--workers W}; shift 2 ;;
    --dir) STATE=${2:?--dir DIR}; shift 2 ;;
    --bin-dir) BIN_DIR=${2:?--bin-dir DIR}; shift 2 ;;
    --gateway) GATEWAYS+=("${2:?--gateway ID=HOST:PORT:ADMIN}"); shift 2 ;;
    --config) CONFIG=${2:?--config FILE}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
case "$cmd" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  render) render ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
