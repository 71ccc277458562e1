#!/usr/bin/env bash
# loadtest/redis_cluster.sh - a local Redis Cluster on loopback for tests and load
# runs: N primaries with one replica each (2N redis-server processes), free ports,
# everything under one state directory, stopped by the PIDs it recorded.
#
#   loadtest/redis_cluster.sh start  N DIR [NODE_TIMEOUT_MS]
#   loadtest/redis_cluster.sh status DIR
#   loadtest/redis_cluster.sh stop   DIR
#
# start   picks 2N free ports P on 127.0.0.1 (P and its cluster bus port P+10000 both
#         free and below the ephemeral port range), starts `redis-server
#         --cluster-enabled yes` on each (no persistence, cluster-node-timeout
#         NODE_TIMEOUT_MS, default 1500, no diskless sync delay), joins them with
#         `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`, and waits
#         (bounded: 30 s for PING, 60 s more) until every node reports cluster_state:ok
#         and sees all 2N nodes, and every replica's link to its primary is up (a
#         replica that never synced cannot be promoted). N is 3 or more (Redis Cluster
#         needs 3 primaries). It writes:
#           DIR/ports                one port a line, in start order
#           DIR/pids/<port>.pid      the PID of each redis-server
#           DIR/<port>/              each node's working dir (nodes.conf, redis.log)
#           DIR/cluster.env          sourceable: PULSE_RCLUSTER_PORTS="p1 p2 ...",
#                                    PULSE_RCLUSTER_SEEDS=127.0.0.1:p1,127.0.0.1:p2,...,
#                                    PULSE_RCLUSTER_URL=redis+cluster://<seeds>
#         and prints "redis cluster ready nodes=2N seeds=<seeds>" on stdout.
#         On failure it stops what it started and prints the node logs' tails.
# status  prints each node's role and cluster_state; exit 1 when a node is down.
# stop    SIGTERM to each recorded PID that is still a redis-server (SIGKILL after
#         5 s), then removes the pid files; the logs stay in DIR.
#
# Self-contained on purpose (no shared shell library), so tests can call it as is.
set -euo pipefail

NODE_TIMEOUT=1500

die() { echo "redis_cluster.sh: $*" >&2; exit 1; }
log() { echo "redis_cluster.sh: $*" >&2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

port_in_use() { # port -> 0 when something listens on 127.0.0.1:port
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

port_taken() { # port -> 0 when port or its cluster bus port is in use (any state)
  port_in_use "$1" || port_in_use $(($1 + 10000)) ||
    ss -Htan "( sport = :$1 or sport = :$(($1 + 10000)) )" 2>/dev/null | grep -q .
}

# Ports below the kernel's ephemeral range (ip_local_port_range, usually from 32768):
# there no outgoing connection (other tests, the nodes' own gossip links) can hold a
# node's port or its bus port (+10000) by the time redis-server binds it.
pick_ports() { # n -> n distinct free ports P with P and P+10000 below the range
  local n=$1 i p got=() q dup lo hi
  lo=15000
  hi=$(($(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768) - 10001))
  [ "$hi" -gt $((lo + 100)) ] || hi=22767
  for ((i = 0; i < 400 && ${#got[@]} < n; i++)); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
    dup=0
    for q in "${got[@]}"; do
      if [ "$q" = "$p" ] || [ "$q" = $((p + 10000)) ] || [ $((q + 10000)) = "$p" ]; then dup=1; fi
    done
    [ $dup = 0 ] && ! port_taken "$p" && got+=("$p")
  done
  [ ${#got[@]} = "$n" ] || die "could not find $n free port pairs"
  echo "${got[@]}"
}

pid_is_redis() { # pid -> 0 when alive and a redis-server
  local pid=$1 comm
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  [ -r "/proc/$pid/comm" ] || return 0
  comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
  case "$comm" in redis-server* | redis-check*) return 0 ;; esac
  return 1
}

cli() { # port args... (bounded by timeout)
  local p=$1; shift
  timeout 5 redis-cli -h 127.0.0.1 -p "$p" "$@"
}

do_stop() { # dir
  local dir=$1 f pid i
  [ -d "$dir/pids" ] || return 0
  for f in "$dir"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if pid_is_redis "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for f in "$dir"/pids/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    for ((i = 0; i < 50; i++)); do pid_is_redis "$pid" || break; sleep 0.1; done
    if pid_is_redis "$pid"; then
      log "redis-server $pid did not exit on SIGTERM; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

dump_logs() { # dir
  local l
  for l in "$1"/*/redis.log; do
    [ -e "$l" ] || continue
    echo "---- $l (tail) ----" >&2
    tail -15 "$l" >&2
  done
}

do_start() { # n dir
  local n=$1 dir=$2 total ports p f info deadline seeds="" addrs=()
  case $n in ''|*[!0-9]*) die "N must be a number" ;; esac
  [ "$n" -ge 3 ] || die "Redis Cluster needs at least 3 primaries (got $n)"
  command -v redis-server >/dev/null || die "redis-server not found (scripts/install-deps.sh)"
  command -v redis-cli >/dev/null || die "redis-cli not found (scripts/install-deps.sh)"
  mkdir -p "$dir/pids"
  for f in "$dir"/pids/*.pid; do
    [ -e "$f" ] && pid_is_redis "$(cat "$f")" && die "a cluster already runs in $dir (stop it first)"
  done
  total=$((n * 2))
  read -r -a ports <<<"$(pick_ports "$total")"
  : >"$dir/ports"
  trap 'log "start failed"; dump_logs "$dir"; do_stop "$dir"' ERR
  for p in "${ports[@]}"; do
    mkdir -p "$dir/$p"
    rm -f "$dir/$p/nodes.conf"
    setsid redis-server --bind 127.0.0.1 --port "$p" --dir "$dir/$p" \
      --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout "$NODE_TIMEOUT" --save '' --appendonly no \
      --repl-diskless-sync-delay 0 \
      --daemonize no --logfile "$dir/$p/redis.log" </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/pids/$p.pid"
    echo "$p" >>"$dir/ports"
    addrs+=("127.0.0.1:$p")
  done
  # Deadlines, not try counts: on a loaded machine one redis-cli call can take 100 ms.
  deadline=$((SECONDS + 30))
  for p in "${ports[@]}"; do
    until [ "$(cli "$p" PING 2>/dev/null)" = PONG ]; do
      [ $SECONDS -lt $deadline ] || { log "node $p does not answer PING after 30 s"; false; }
      sleep 0.05
    done
  done
  timeout 60 redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
    >"$dir/create.log" 2>&1 || { cat "$dir/create.log" >&2; log "redis-cli --cluster create failed"; false; }
  # Every node must say ok and know all nodes (gossip converges in a few seconds).
  deadline=$((SECONDS + 60))
  for p in "${ports[@]}"; do
    until info=$(cli "$p" CLUSTER INFO 2>/dev/null | tr -d '\r') &&
      grep -q '^cluster_state:ok' <<<"$info" && grep -qx "cluster_known_nodes:$total" <<<"$info"; do
      [ $SECONDS -lt $deadline ] || {
        log "node $p: no cluster_state:ok with $total known nodes after 60 s:"
        grep -E '^cluster_(state|known_nodes|slots_assigned)' <<<"$info" >&2 || true
        false
      }
      sleep 0.1
    done
  done
  # A replica can only be promoted once it has synced with its primary (else "Disconnected
  # from master for longer than allowed"): wait until every replica's link is up.
  for p in "${ports[@]}"; do
    until info=$(cli "$p" INFO replication 2>/dev/null | tr -d '\r') &&
      { grep -qx 'role:master' <<<"$info" || grep -qx 'master_link_status:up' <<<"$info"; }; do
      [ $SECONDS -lt $deadline ] || { log "replica $p: link to its primary not up after 60 s"; false; }
      sleep 0.1
    done
  done
  # Every node must see the replicas as replicas: right after the links come up, gossip
  # may not have told a node yet, and its CLUSTER SHARDS then lists a replica as a
  # slot-less shard of its own.
  for p in "${ports[@]}"; do
    until [ "$(cli "$p" CLUSTER NODES 2>/dev/null | awk '$3 ~ /master/' | wc -l)" -eq "$n" ]; do
      [ $SECONDS -lt $deadline ] || { log "node $p: does not see $n primaries after 60 s"; false; }
      sleep 0.1
    done
  done
  trap - ERR
  for p in "${ports[@]}"; do seeds+="${seeds:+,}127.0.0.1:$p"; done
  cat >"$dir/cluster.env" <<EOF
PULSE_RCLUSTER_PORTS="${ports[*]}"
PULSE_RCLUSTER_SEEDS=$seeds
PULSE_RCLUSTER_URL=redis+cluster://$seeds
EOF
  echo "redis cluster ready nodes=$total seeds=$seeds"
}

do_status() { # dir
  local dir=$1 p rc=0 role state
  [ -e "$dir/ports" ] || die "no cluster in $dir"
  while read -r p; do
    if pid_is_redis "$(cat "$dir/pids/$p.pid" 2>/dev/null || true)"; then
      role=$(cli "$p" ROLE 2>/dev/null | head -1 || true)
      state=$(cli "$p" CLUSTER INFO 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p' || true)
      echo "127.0.0.1:$p ${role:-?} cluster_state=${state:-?}"
    else
      echo "127.0.0.1:$p DOWN"; rc=1
    fi
  done <"$dir/ports"
  return $rc
}

cmd=${1:-}
case $cmd in
  start)
    [ $# -ge 3 ] || { usage >&2; exit 2; }
    [ -n "${4:-}" ] && NODE_TIMEOUT=$4
    case $NODE_TIMEOUT in ''|*[!0-9]*) die "NODE_TIMEOUT_MS must be a number" ;; esac
    do_start "$2" "$3" ;;
  status) [ $# -ge 2 ] || { usage >&2; exit 2; }; do_status "$2" ;;
  stop) [ $# -ge 2 ] || { usage >&2; exit 2; }; do_stop "$2" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
