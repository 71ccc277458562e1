#!/usr/bin/env bash
# tests/compose/run.sh - docker-compose.yml executed for real, with Debian's podman
# standing in for the Docker engine (docker-compose talks to podman's Docker-compatible
# API socket). Not part of ctest (it takes minutes): run it as `tests/run.sh --compose`
# or directly. Needs root and `scripts/install-deps.sh --heavy`.
#
# What it does, failing at the first step that does not hold:
#   1. images: debian:bookworm-slim, redis:7-bookworm and haproxy:2.6 are pulled when a
#      registry answers; when none does, local stand-ins are built instead (the base
#      from a debootstrap tree cached in $PULSE_TEST_CACHE, redis and haproxy from
#      deploy/standin/ with Debian's packages). Then `podman build` of the Dockerfile.
#   2. `podman system service` on a private socket, and a loop that runs the
#      containers' health checks (there is no systemd to run them).
#   3. `docker-compose up -d --scale gateway=3`; 6 WebSocket clients (pulse-subscribe)
#      through HAProxy, on all 3 nodes; the publisher profile with --raw (SERVER_DOWN x 10):
#      every client gets all 10, and the publisher's redis_deliveries is 30 (3 x 10).
#   4. --scale gateway=5: 5 nodes healthy and UP in HAProxy; 4 more clients land on the
#      new nodes; 10 more events reach all 5 nodes (redis_deliveries=50) and every
#      one of the 10 clients.
#   5. --scale gateway=2: the 3 removed nodes close their clients with 1001, the clients
#      reconnect through HAProxy to the 2 left; 10 more events, every client gets them.
#   5b. --scale gateway=3; 30 clients through HAProxy on events.critical (history);
#      600 events at 100/s through the function library; a third of the way through,
#      `podman kill` of the replica with the most clients; it comes back (restart
#      policy, else `podman start`) healthy and UP. pulse-report on the run: lost 0,
#      dropped 0, duplicates 0, recovered > 0 (the killed replica's clients reconnected
#      with since), every recovery granted; the figures and the catch-up time printed.
#   6. HAProxy's log holds the clients' requests without their ?token= query.
#   7. the loadtest profile runs to its report with every delivery (verdict OK).
#   8. the rcluster profile (default set taken down first): 6 Redis Cluster nodes,
#      rc-init, 3 gateway-rc and haproxy-rc; cluster_state:ok on all 6 nodes, 3 primaries;
#      the 3 gateway-rc healthy and UP in haproxy-rc; 6 WebSocket clients through
#      haproxy-rc on all 3 nodes, each on 6 channels (2 per shard: PUBSUB SHARDCHANNELS on
#      each primary lists exactly its 2, SHARDNUMSUB 3); the publisher-rc profile sends 10
#      events to each channel: every client gets all 60, each once.
#   9. teardown: compose down (every profile), the podman service and the health loop
#      stopped; no container or network of the project may be left. The images stay
#      cached (the next run rebuilds only what changed).
#
# Option: --rcluster-only runs steps 1, 2, 8 and 9 (the rcluster profile alone).
#
# Environment: PULSE_TEST_CACHE (debootstrap tree, default /var/cache/pulse-test),
# PULSE_LB_PORT (HAProxy's client port, default 8080, or a free one when 8080 is
# taken), PULSE_BIN_DIR (build directory with the native pulse-subscribe; default
# build/, built when missing), PULSE_COMPOSE_STANDINS (auto|always: always skips the
# registry probe), PULSE_RC_LB_PORT (haproxy-rc's client port, default 8081, or a free
# one when 8081 is taken).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RC_ONLY=0
case "${1:-}" in
  --rcluster-only) RC_ONLY=1 ;;
  "") ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
  *) echo "tests/compose/run.sh: unknown option '$1' (--rcluster-only)" >&2; exit 2 ;;
esac
. "$ROOT/scripts/lib.sh"
. "$ROOT/tests/support/base-tree.sh"
BIN=${PULSE_BIN_DIR:-$ROOT/build}
STANDINS=${PULSE_COMPOSE_STANDINS:-auto}
PROJECT=pulsecompose
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pulse-compose.XXXXXX")
SOCK=$WORK/podman.sock
export CONTAINERS_CONF=$ROOT/tests/compose/containers.conf
export DOCKER_HOST=unix://$SOCK
export COMPOSE_PROJECT_NAME=$PROJECT
T0=$(date +%s)

compose() { docker-compose -f "$WORK/docker-compose.yml" --project-directory "$ROOT" "$@"; }
log() { echo "compose-test [$(( $(date +%s) - T0 ))s]: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# ---- cleanup: only what this script started --------------------------------------
SERVICE_PID="" HEALTH_PID="" PUB_PID=""
SUB_PIDS=()
cleanup() {
  local rc=$?
  set +e
  for p in ${SUB_PIDS[@]+"${SUB_PIDS[@]}"}; do pulse_stop_pid "$p"; done
  pulse_stop_pid "$PUB_PID"
  if [ -n "$SERVICE_PID" ]; then
    if [ "$rc" != 0 ]; then
      log "logs of the failed run:"
      compose logs --no-color --tail 40 >&2 2>&1
    fi
    compose --profile publisher --profile loadtest --profile rcluster down --remove-orphans --timeout 10 >/dev/null 2>&1
    # Nothing of the project may outlive the run.
    left=$(podman ps -aq --filter "label=com.docker.compose.project=$PROJECT" | wc -l)
    nets=$(podman network ls -q | grep -c "^${PROJECT}_" || true)
    if [ "$left" != 0 ] || [ "$nets" != 0 ]; then
      log "left behind: $left containers, $nets networks of project $PROJECT"
      [ "$rc" = 0 ] && rc=1
    else
      log "teardown: no container or network of project $PROJECT left"
    fi
  fi
  pulse_stop_pid "$HEALTH_PID"
  pulse_stop_pid "$SERVICE_PID"
  rm -rf "$WORK"
  log "$([ "$rc" = 0 ] && echo PASS || echo "FAILED (exit $rc)") in $(( $(date +%s) - T0 )) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "needs root (podman builds images and creates networks)"
for t in podman docker-compose debootstrap curl; do
  command -v "$t" >/dev/null || die "$t missing: scripts/install-deps.sh --heavy"
done

# ---- 1. images ----------------------------------------------------------------------
registry_answers() {
  [ "$STANDINS" = always ] && return 1
  timeout 20 podman pull -q docker.io/library/debian:bookworm-slim >/dev/null 2>&1
}
if registry_answers; then
  log "a registry answers: official images"
  podman pull -q docker.io/library/redis:7-bookworm >/dev/null
  podman pull -q docker.io/library/haproxy:2.6 >/dev/null
else
  log "no registry: local stand-ins for debian:bookworm-slim, redis:7-bookworm, haproxy:2.6"
  if ! podman image exists debian:bookworm-slim; then
    tree=$(pulse_base_tree) || die "no base tree"
    tar -C "$tree" -c . | podman import -q - debian:bookworm-slim >/dev/null
  fi
  for img in redis:7-bookworm haproxy:2.6; do
    name=${img%%:*}
    if ! podman image exists "$img"; then
      log "podman build $img (deploy/standin/$name.Dockerfile)"
      podman build -q --isolation chroot --network host -t "$img" \
        -f "$ROOT/deploy/standin/$name.Dockerfile" "$ROOT/deploy/standin" >/dev/null
    fi
  done
fi
log "podman build -t pulse:latest . (cached layers when nothing changed)"
t=$(date +%s)
podman build -q --isolation chroot --network host -t pulse:latest "$ROOT" >"$WORK/build.log" 2>&1 ||
  { tail -30 "$WORK/build.log" >&2; die "podman build of the Dockerfile failed"; }
log "image pulse:latest ready in $(( $(date +%s) - t )) s"

# The native client for step 3 (the image has it too, but the clients run on the host
# so they go through the published port as a user's would).
pulse_build "$BIN" RelWithDebInfo pulse-subscribe pulse-report || die "building the tools failed"
SUBSCRIBE=$BIN/subscriber-client/pulse-subscribe
REPORT=$BIN/report/pulse-report

# ---- 2. the engine ------------------------------------------------------------------
podman system service --time=0 "unix://$SOCK" >"$WORK/podman-service.log" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || die "podman system service did not open $SOCK"

# Podman runs health checks from systemd timers; without systemd nothing runs them, and
# compose's "condition: service_healthy" would wait forever. This loop is that timer.
( while :; do
    for c in $(podman ps -q --filter "label=com.docker.compose.project=$PROJECT" 2>/dev/null); do
      podman healthcheck run "$c" >/dev/null 2>&1 || true
    done
    sleep 1
  done ) &
HEALTH_PID=$!

# The compose file as shipped, minus its ulimits entries: podman here sets RLIMIT_NPROC
# with any of them and the sandbox refuses both ("operation not permitted").
awk '/^    ulimits:/ {skip=1; next} skip && /^      / {next} {skip=0; print}' \
  "$ROOT/docker-compose.yml" >"$WORK/docker-compose.yml"
grep -q '^ *ulimits:' "$WORK/docker-compose.yml" && die "could not drop the ulimits entries"

# Sets and exports the client port variable $1 (its value, else $2, else a free port when
# that is taken) and the stats port variable $3 (a free port) of HAProxy service $4;
# LB and LB_STATS then point at that HAProxy.
lb_ports() {
  local p=${!1:-$2}
  if pulse_port_in_use "$p"; then
    p=$(pulse_free_port)
    log "port $2 is taken on this host: $4 is published on $p instead"
  fi
  printf -v "$1" %s "$p"
  printf -v "$3" %s "$(pulse_free_port)"
  export "${1?}" "${3?}"
  LB=127.0.0.1:$p LB_STATS=${!3}
}
lb_ports PULSE_LB_PORT 8080 PULSE_LB_STATS_PORT HAProxy

# ---- helpers --------------------------------------------------------------------------
# HAProxy's view: gateways UP, and current sessions on the backend.
# LB_STATS: the stats port of the HAProxy in use (haproxy, or haproxy-rc in step 8).
lb_csv() { curl -fsS --max-time 2 "http://127.0.0.1:$LB_STATS/stats;csv" 2>/dev/null; }
lb_up() { lb_csv | awk -F, '$1 == "gateways" && $2 != "BACKEND" && $18 == "UP"' | wc -l; }
lb_sessions() { lb_csv | awk -F, '$1 == "gateways" && $2 == "BACKEND" {print $5}'; }
wait_for() { # seconds, description, command...
  local secs=$1 what=$2; shift 2
  local end=$(( $(date +%s) + secs ))
  until "$@"; do
    [ "$(date +%s)" -lt "$end" ] || die "$what: not within $secs s"
    sleep 0.5
  done
}
up_is() { [ "$(lb_up)" = "$1" ]; }
sessions_are() { [ "$(lb_sessions)" = "$1" ]; }
healthy_gateways() { # [service, default gateway]
  local n=0 c
  for c in $(compose --profile rcluster ps -q "${1:-gateway}" 2>/dev/null); do
    [ "$(podman inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null)" = healthy ] && n=$((n + 1))
  done
  echo "$n"
}
healthy_is() { [ "$(healthy_gateways "${2:-gateway}")" = "$1" ]; }
publish() { # event type; prints the publisher's summary line
  # The profile's own arguments plus --raw: plain PUBLISH, whose summary counts the
  # nodes that took each event (redis_deliveries); by default it answers via=fcall.
  PULSE_PUB_TYPE=$1 compose --profile publisher run --rm publisher --redis redis://redis:6379 \
    --channel events.critical --type "$1" --count 10 --rate 10 --raw 2>"$WORK/publish-$1.err" |
    tr -d '\r' | grep 'pulse-publish: sent=' || { cat "$WORK/publish-$1.err" >&2; die "publisher ($1) failed"; }
}
# Every client of subscriber run $2 (its out dir under $WORK) got sequences 1..N (N = $4,
# default 10) of event type $1 exactly once; $3 is how many clients that run holds.
all_got() {
  awk -F, -v type="$1" -v clients="$3" -v n="${4:-10}" '
    $6 == type { if (seen[$1 "," $5]++) dup++; else per[$1]++ }
    END { ok = 0; for (c in per) if (per[c] == n) ok++;
          if (ok != clients || dup) { printf "%d of %d clients got all %d, %d duplicates\n", ok, clients, n, dup; exit 1 } }
  ' "$WORK/$2/deliveries.csv"
}
wait_all_got() { # type run clients
  local end=$(( $(date +%s) + 30 ))
  until all_got "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || die "$1 ($2): $(all_got "$@")"
    sleep 0.5
  done
}
# Starts pulse-subscribe run $1 with $2 clients through HAProxy ($LB) on channels $3
# (default events.critical); its pid in SUB_PIDS.
subscribe() {
  # The token is a marker for step 6: the gateways have no auth, so it is ignored there.
  "$SUBSCRIBE" --url "ws://$LB/ws?token=pulse-compose-secret-marker" --clients "$2" \
    --channels "${3:-events.critical}" --out "$WORK/$1" --duration 600 >"$WORK/$1.log" 2>&1 &
  SUB_PIDS+=($!)
  wait_for 30 "pulse-subscribe $1 ready through HAProxy" grep -qs 'pulse-subscribe ready' "$WORK/$1.log"
}
# Publishes 10 events of type $1 with $2 nodes serving clients: every node takes each
# event (redis_deliveries = $2 x 10) and all 10 clients (sub1, sub2) get all 10.
publish_to_all() {
  local summary
  summary=$(publish "$1")
  case "$summary" in *"redis_deliveries=$(( $2 * 10 ))"*) ;;
    *) die "$1: $summary (want redis_deliveries=$(( $2 * 10 )): $2 nodes x 10)";; esac
  wait_all_got "$1" sub1 6
  wait_all_got "$1" sub2 4
  log "at $2 nodes all 10 clients got all 10 ($summary)"
}
nodes_of() { awk -F, 'NR > 1 {print $3}' "$WORK/$1/clients.csv" | sort -u | wc -l; }

# ---- 8. the rcluster profile: Redis Cluster, gateway-rc, haproxy-rc, publisher-rc --------
# Channels 2 per shard of a 3-primary cluster made by `redis-cli --cluster create` (slots
# 0-5460, 5461-10922, 10923-16383): rc.3 and rc.7 in the first, rc.2 and rc.6 in the
# second, rc.1 and rc.4 in the third. PUBSUB SHARDCHANNELS on every primary checks it.
RC_CHANNELS="rc.1 rc.2 rc.3 rc.4 rc.6 rc.7" RC_CLIENTS=6 RC_EVENTS=10
rc_exec() { # node (rc-1..rc-6), redis-cli arguments...
  local n=$1; shift
  podman exec "$(compose --profile rcluster ps -q "$n")" redis-cli "$@" 2>/dev/null | tr -d '\r'
}
rc_all_ok() {
  local n
  for n in rc-1 rc-2 rc-3 rc-4 rc-5 rc-6; do
    rc_exec "$n" cluster info | grep -q '^cluster_state:ok' || return 1
  done
}
rcluster_step() {
  local t ch n got primaries=() summary
  lb_ports PULSE_RC_LB_PORT 8081 PULSE_RC_LB_STATS_PORT haproxy-rc

  log "docker-compose --profile rcluster up -d --scale gateway-rc=3 haproxy-rc"
  t=$(date +%s)
  compose --profile rcluster up -d --scale gateway-rc=3 haproxy-rc >"$WORK/up-rc.log" 2>&1 ||
    { cat "$WORK/up-rc.log" >&2; die "compose --profile rcluster up failed"; }
  [ "$(compose ps -q redis gateway haproxy 2>/dev/null | wc -l)" = 0 ] ||
    die "naming haproxy-rc started services of the default set"
  wait_for 60 "cluster_state:ok on all 6 nodes" rc_all_ok
  for n in rc-1 rc-2 rc-3 rc-4 rc-5 rc-6; do
    rc_exec "$n" role | head -1 | grep -qx master || continue
    primaries+=("$n")
  done
  [ "${#primaries[@]}" = 3 ] || die "${#primaries[@]} primaries (${primaries[*]}), want 3 of the 6 nodes"
  log "Redis Cluster ok in $(( $(date +%s) - t )) s: primaries ${primaries[*]}, one replica each"
  wait_for 90 "3 gateway-rc healthy" healthy_is 3 gateway-rc
  wait_for 60 "3 gateway-rc UP in haproxy-rc" up_is 3
  log "3 gateway-rc healthy and UP in haproxy-rc (127.0.0.1:$LB_STATS) $(( $(date +%s) - t )) s after up"
  compose --profile rcluster logs --no-color rc-init 2>&1 | tr -d '\r' | grep -q 'rc-init: cluster ok' ||
    die "rc-init did not report 'cluster ok'"
  for c in $(compose --profile rcluster ps -q gateway-rc); do
    podman exec "$c" curl -fsS http://127.0.0.1:9090/healthz 2>/dev/null | grep -q '"cluster: 3 shards, all up' ||
      die "gateway-rc ${c:0:12}: /healthz does not say 'cluster: 3 shards, all up'"
  done
  log "each gateway-rc /healthz: cluster: 3 shards, all up"

  subscribe rc "$RC_CLIENTS" "$(echo "$RC_CHANNELS" | tr ' ' ,)"
  [ "$(nodes_of rc)" = 3 ] || die "leastconn should have put the $RC_CLIENTS clients on all 3 gateway-rc"
  log "$RC_CLIENTS clients through haproxy-rc on $LB, on $(nodes_of rc) nodes, each on $RC_CHANNELS"
  # Each primary holds the sharded subscriptions of its 2 channels, from all 3 nodes.
  for n in "${primaries[@]}"; do
    got=$(rc_exec "$n" pubsub shardchannels | sort | tr '\n' ' ')
    [ "$(echo "$got" | wc -w)" = 2 ] || die "$n: PUBSUB SHARDCHANNELS '$got', want 2 of $RC_CHANNELS"
    for ch in $got; do
      [ "$(rc_exec "$n" pubsub shardnumsub "$ch" | sed -n 2p)" = 3 ] ||
        die "$n: PUBSUB SHARDNUMSUB $ch is not 3 (one per gateway-rc)"
    done
    log "$n: PUBSUB SHARDCHANNELS $got(SHARDNUMSUB 3 each)"
  done
  for ch in $RC_CHANNELS; do
    summary=$(PULSE_PUB_CHANNEL=$ch PULSE_PUB_TYPE=$ch PULSE_PUB_COUNT=$RC_EVENTS PULSE_PUB_RATE=50 \
      compose --profile rcluster run --rm -T publisher-rc </dev/null 2>"$WORK/publish-rc-$ch.err" |
      tr -d '\r' | grep 'pulse-publish: sent=') ||
      { cat "$WORK/publish-rc-$ch.err" >&2; die "publisher-rc ($ch) failed"; }
    case "$summary" in *"sent=$RC_EVENTS "*) ;; *) die "publisher-rc $ch: $summary";; esac
    log "publisher-rc $ch: $summary"
  done
  for ch in $RC_CHANNELS; do wait_all_got "$ch" rc "$RC_CLIENTS" "$RC_EVENTS"; done
  n=$(awk -F, '$6 ~ /^rc\./ && $3 == $6' "$WORK/rc/deliveries.csv" | wc -l)
  [ "$n" = $(( RC_CLIENTS * 6 * RC_EVENTS )) ] || die "$n deliveries, want $(( RC_CLIENTS * 6 * RC_EVENTS ))"
  log "rcluster: every one of the $RC_CLIENTS clients got all $RC_EVENTS events on each of the 6 channels ($n deliveries, no duplicates) in $(( $(date +%s) - t )) s"
  for p in "${SUB_PIDS[@]}"; do pulse_stop_pid "$p" INT 100; done
  SUB_PIDS=()
  compose --profile rcluster down --timeout 10 >"$WORK/down-rc.log" 2>&1 ||
    { cat "$WORK/down-rc.log" >&2; die "compose --profile rcluster down failed"; }
}
if [ "$RC_ONLY" = 1 ]; then
  rcluster_step
  exit 0
fi

# ---- 3. up with 3 gateways; 6 clients; the publisher profile ---------------------------
log "docker-compose up -d --scale gateway=3"
t=$(date +%s)
compose up -d --scale gateway=3 >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; die "compose up failed"; }
wait_for 90 "3 gateways UP in HAProxy" up_is 3
log "redis, 3 gateways and haproxy up and healthy in $(( $(date +%s) - t )) s"

subscribe sub1 6
log "6 clients subscribed through HAProxy on $LB, spread over $(nodes_of sub1) nodes"
[ "$(nodes_of sub1)" = 3 ] || die "leastconn should have put the 6 clients on all 3 nodes"

summary=$(publish SERVER_DOWN)
log "publisher profile: $summary"
case "$summary" in *"sent=10 "*"redis_deliveries=30"*) ;; *) die "want sent=10 and redis_deliveries=30 (3 nodes x 10)";; esac
wait_all_got SERVER_DOWN sub1 6
log "every client got all 10 events of the publisher profile"

# ---- 4. scale to 5 -----------------------------------------------------------------------
t=$(date +%s)
compose up -d --scale gateway=5 --no-recreate >"$WORK/up5.log" 2>&1 || { cat "$WORK/up5.log" >&2; die "scale to 5 failed"; }
wait_for 90 "5 gateways healthy" healthy_is 5
wait_for 60 "5 gateways UP in HAProxy" up_is 5
log "scaled to 5: 5 gateways UP in HAProxy after $(( $(date +%s) - t )) s"
# New clients go to the new nodes (leastconn): all 5 then serve events.critical.
subscribe sub2 4
log "4 more clients, on $(nodes_of sub2) nodes"
publish_to_all SCALED_TO_5 5

# ---- 5. scale back to 2 ------------------------------------------------------------------
t=$(date +%s)
compose up -d --scale gateway=2 --no-recreate >"$WORK/up2.log" 2>&1 || { cat "$WORK/up2.log" >&2; die "scale to 2 failed"; }
wait_for 60 "2 gateways UP in HAProxy" up_is 2
wait_for 60 "all 10 clients back on the 2 remaining gateways" sessions_are 10
for p in "${SUB_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || die "a pulse-subscribe exited during the scale-down"; done
gaps=$(cat "$WORK/sub1/gaps.csv" "$WORK/sub2/gaps.csv" | grep -vc "^client" || true) # (grep -c exits 1 on 0)
log "scaled to 2 in $(( $(date +%s) - t )) s: $gaps clients reconnected through HAProxy, all 10 served"
[ "$gaps" -ge 1 ] || die "no client was on a removed node: the scale-down proved nothing"
publish_to_all SCALED_TO_2 2
for p in "${SUB_PIDS[@]}"; do pulse_stop_pid "$p"; done
SUB_PIDS=()

# ---- 5b. a replica killed mid-stream: 0 events lost --------------------------------------
# events.critical keeps history, and the publisher (without --raw) publishes through the
# function library, so every event has an offset. 30 clients on 3 replicas; a third of
# the way through 600 events at 100/s one replica gets SIGKILL (podman kill). Its
# clients reconnect through HAProxy with since and the survivors replay what they
# missed; the replica comes back (its restart policy, else podman start). pulse-report:
# lost 0, recovered > 0.
KILL_CLIENTS=30 KILL_EVENTS=600 KILL_RATE=100
compose up -d --scale gateway=3 --no-recreate >"$WORK/up3.log" 2>&1 || { cat "$WORK/up3.log" >&2; die "scale to 3 failed"; }
wait_for 90 "3 gateways healthy" healthy_is 3
wait_for 60 "3 gateways UP in HAProxy" up_is 3
wait_for 30 "the earlier clients' sessions closed" sessions_are 0
mkdir -m 1777 "$WORK/kill" # the publisher's container (user pulse) writes its manifest here
subscribe kill "$KILL_CLIENTS"
[ "$(nodes_of kill)" = 3 ] || die "leastconn should have put the $KILL_CLIENTS clients on all 3 nodes"
victim_node=$(awk -F, 'NR > 1 {print $3}' "$WORK/kill/clients.csv" | sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}')
victim=""
for c in $(compose ps -q gateway); do [[ "$c" == "$victim_node"* ]] && victim=$c; done
[ -n "$victim" ] || die "no gateway container for node id $victim_node"
victim_clients=$(awk -F, -v n="$victim_node" 'NR > 1 && $3 == n' "$WORK/kill/clients.csv" | wc -l)

PULSE_PUB_TYPE=REPLICA_KILLED compose --profile publisher run --rm -T -v "$WORK/kill:/out" publisher \
  --redis redis://redis:6379 --channel events.critical --type REPLICA_KILLED \
  --count "$KILL_EVENTS" --rate "$KILL_RATE" --manifest /out/manifest.csv \
  </dev/null >"$WORK/publish-kill.out" 2>&1 &
PUB_PID=$!
delivered() { awk -F, '$6 == "REPLICA_KILLED"' "$WORK/kill/deliveries.csv" | wc -l; }
third_delivered() { [ "$(delivered)" -ge $(( KILL_CLIENTS * KILL_EVENTS / 3 )) ]; }
wait_for 60 "a third of the events delivered" third_delivered
pulse_alive "$PUB_PID" || die "the publisher ended before the kill: not mid-stream"
KILL_US=$(date +%s%6N)
podman kill "$victim" >/dev/null || die "podman kill $victim_node failed"
log "podman kill of replica $victim_node ($victim_clients of $KILL_CLIENTS clients) after $(delivered) deliveries"
# Back by its restart policy (unless-stopped) when the engine applies it to a kill;
# podman counts `podman kill` as stopped by the user, so start it after 5 s.
back_by="its restart policy"
state() { podman inspect -f '{{.State.Status}}' "$victim" 2>/dev/null; }
restarted() { [ "$(state)" = running ] && [ "$(podman inspect -f '{{.State.StartedAt.UnixMicro}}' "$victim" 2>/dev/null || echo 0)" -gt "$KILL_US" ]; }
end=$(( $(date +%s) + 5 ))
until restarted || [ "$(date +%s)" -ge "$end" ]; do sleep 0.2; done
if ! restarted; then
  back_by="podman start"
  # (stderr: podman's complaint that no systemd runs health checks; the loop above does)
  podman start "$victim" >/dev/null 2>"$WORK/podman-start.err" ||
    { cat "$WORK/podman-start.err" >&2; die "podman start $victim_node failed"; }
fi
wait_for 60 "the killed replica healthy again" healthy_is 3
wait_for 60 "3 gateways UP in HAProxy after the kill" up_is 3
log "replica $victim_node back ($back_by), healthy and UP $(( ($(date +%s%6N) - KILL_US) / 1000 )) ms after the kill"

wait "$PUB_PID" || { cat "$WORK/publish-kill.out" >&2; die "the publisher failed"; }
PUB_PID=""
summary=$(tr -d '\r' <"$WORK/publish-kill.out" | grep 'pulse-publish: sent=') || die "no publisher summary"
case "$summary" in *"sent=$KILL_EVENTS "*) ;; *) die "publisher: $summary (want sent=$KILL_EVENTS)";; esac
after=$(awk -F, -v k="$KILL_US" '$5 > k' "$WORK/kill/manifest.csv" | wc -l)
[ "$after" -ge 1 ] || die "no event was published after the kill: not mid-stream"
awk -F, '$6 == 0 {bad++} END {exit bad > 0}' "$WORK/kill/manifest.csv" ||
  die "events without an offset: published without history"
complete() { all_got REPLICA_KILLED kill "$KILL_CLIENTS" "$KILL_EVENTS" >/dev/null 2>&1; }
end=$(( $(date +%s) + 60 ))
until complete || [ "$(date +%s)" -ge "$end" ]; do sleep 0.5; done
pulse_stop_pid "${SUB_PIDS[0]}" INT 100
SUB_PIDS=()
"$REPORT" --no-svg "$WORK/kill" >"$WORK/kill/report.txt" 2>&1 || true
pulse_disruption "$WORK/kill" "$KILL_US"
grep -E '^  (clients|expected|history)' "$WORK/kill/report.txt" | sed 's/^ */compose-test: /' >&2
field() { grep -E "^  $1 " "$WORK/kill/report.txt" | grep -oE "$2 [0-9]+" | head -1 | cut -d' ' -f2; }
expected=$(field expected expected) dropped=$(field expected dropped) dups=$(field expected duplicates)
recovered=$(field history: recovered) lost=$(field history: lost)
log "replica killed mid-stream: $KILL_CLIENTS clients, $KILL_EVENTS events ($after after the kill)," \
  "$PULSE_DIS_RECONNECTS clients reconnected (the last $PULSE_DIS_RECONNECT_MS ms after the kill)," \
  "recovered $recovered deliveries in $PULSE_DIS_RECOVERED of $PULSE_DIS_RECOVERIES recoveries," \
  "lost $lost, caught up $PULSE_DIS_CATCHUP_MS ms after the kill"
[ "$expected" = $(( KILL_CLIENTS * KILL_EVENTS )) ] || die "the report expected $expected deliveries, want $(( KILL_CLIENTS * KILL_EVENTS ))"
[[ "$lost" == 0 && "$dropped" == 0 ]] || die "lost $lost, dropped $dropped: want 0"
[ "$dups" = 0 ] || die "$dups duplicates: recovery must deliver each event once"
[ "${recovered:-0}" -gt 0 ] || die "recovered 0: no client resumed from history"
[[ "$PULSE_DIS_RECONNECTS" -ge 1 && "$PULSE_DIS_RECOVERED" == "$PULSE_DIS_RECOVERIES" ]] ||
  die "$PULSE_DIS_RECONNECTS reconnects, $PULSE_DIS_RECOVERED of $PULSE_DIS_RECOVERIES recoveries granted"
all_got REPLICA_KILLED kill "$KILL_CLIENTS" "$KILL_EVENTS" >/dev/null || die "$(all_got REPLICA_KILLED kill "$KILL_CLIENTS" "$KILL_EVENTS")"

# ---- 6. tokens stay out of HAProxy's log ---------------------------------------------------
# A tunnelled (WebSocket) session is logged when it ends: the clients just closed.
lb_logged() { compose logs --no-color haproxy 2>&1 | grep -c '"GET /ws HTTP/1.1"' | grep -qx "[1-9][0-9]*"; }
wait_for 15 "HAProxy's log lines for the closed client sessions" lb_logged
compose logs --no-color haproxy 2>&1 | grep -q 'pulse-compose-secret-marker' &&
  die "HAProxy's log holds the ?token= value"
log "HAProxy logged the clients' requests without their ?token="

# ---- 7. the loadtest profile ---------------------------------------------------------------
t=$(date +%s)
compose --profile loadtest up --no-color --scale gateway=3 --exit-code-from loadtest loadtest \
  >"$WORK/loadtest.log" 2>&1 || { tail -40 "$WORK/loadtest.log" >&2; die "the loadtest profile failed"; }
tr -d '\r' <"$WORK/loadtest.log" | grep -E 'expected .* received|verdict' | sed 's/^[^|]*| *//' >&2
grep -q 'verdict: OK' "$WORK/loadtest.log" || die "the loadtest report has no 'verdict: OK'"
log "loadtest profile: report OK in $(( $(date +%s) - t )) s"

# ---- 8. the rcluster profile, after the default set is down ------------------------------
compose --profile loadtest down --timeout 10 >"$WORK/down.log" 2>&1 ||
  { cat "$WORK/down.log" >&2; die "compose down of the default set failed"; }
rcluster_step
