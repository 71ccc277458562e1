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
#   6. HAProxy's log holds the clients' requests without their ?token= query.
#   7. the loadtest profile runs to its report with every delivery (verdict OK).
#   8. teardown: compose down, the podman service and the health loop stopped. The
#      images stay cached (the next run rebuilds only what changed).
# Hook for later (history, its own issue): a replica killed mid-stream with 0 events
# lost goes after step 5, as step 5b (see "HOOK" below).
#
# Environment: PULSE_TEST_CACHE (debootstrap tree, default /var/cache/pulse-test),
# PULSE_LB_PORT (HAProxy's client port, default 8080, or a free one when 8080 is
# taken), PULSE_BIN_DIR (build directory with the native pulse-subscribe; default
# build/, built when missing), PULSE_COMPOSE_STANDINS (auto|always: always skips the
# registry probe).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
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
SERVICE_PID="" HEALTH_PID=""
SUB_PIDS=()
cleanup() {
  local rc=$?
  set +e
  for p in ${SUB_PIDS[@]+"${SUB_PIDS[@]}"}; do pulse_stop_pid "$p"; done
  if [ -n "$SERVICE_PID" ]; then
    if [ "$rc" != 0 ]; then
      log "logs of the failed run:"
      compose logs --no-color --tail 40 >&2 2>&1
    fi
    compose --profile publisher --profile loadtest down --remove-orphans --timeout 10 >/dev/null 2>&1
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
pulse_build "$BIN" RelWithDebInfo pulse-subscribe || die "building pulse-subscribe failed"
SUBSCRIBE=$BIN/subscriber-client/pulse-subscribe

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

export PULSE_LB_PORT=${PULSE_LB_PORT:-8080}
if pulse_port_in_use "$PULSE_LB_PORT"; then
  PULSE_LB_PORT=$(pulse_free_port)
  log "port 8080 is taken on this host: HAProxy is published on $PULSE_LB_PORT instead"
fi
PULSE_LB_STATS_PORT=$(pulse_free_port)
export PULSE_LB_STATS_PORT
LB=127.0.0.1:$PULSE_LB_PORT

# ---- helpers --------------------------------------------------------------------------
# HAProxy's view: gateways UP, and current sessions on the backend.
lb_csv() { curl -fsS --max-time 2 "http://127.0.0.1:$PULSE_LB_STATS_PORT/stats;csv" 2>/dev/null; }
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
healthy_gateways() {
  local n=0 c
  for c in $(compose ps -q gateway 2>/dev/null); do
    [ "$(podman inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null)" = healthy ] && n=$((n + 1))
  done
  echo "$n"
}
healthy_is() { [ "$(healthy_gateways)" = "$1" ]; }
publish() { # event type; prints the publisher's summary line
  # The profile's own arguments plus --raw: plain PUBLISH, whose summary counts the
  # nodes that took each event (redis_deliveries); by default it answers via=fcall.
  PULSE_PUB_TYPE=$1 compose --profile publisher run --rm publisher --redis redis://redis:6379 \
    --channel events.critical --type "$1" --count 10 --rate 10 --raw 2>"$WORK/publish-$1.err" |
    tr -d '\r' | grep 'pulse-publish: sent=' || { cat "$WORK/publish-$1.err" >&2; die "publisher ($1) failed"; }
}
# Every client of subscriber run $2 (its out dir under $WORK) got sequences 1..10 of
# event type $1 exactly once; $3 is how many clients that run holds.
all_got() {
  awk -F, -v type="$1" -v clients="$3" '
    $6 == type { if (seen[$1 "," $5]++) dup++; else per[$1]++ }
    END { ok = 0; for (c in per) if (per[c] == 10) ok++;
          if (ok != clients || dup) { printf "%d of %d clients got all 10, %d duplicates\n", ok, clients, dup; exit 1 } }
  ' "$WORK/$2/deliveries.csv"
}
wait_all_got() { # type run clients
  local end=$(( $(date +%s) + 30 ))
  until all_got "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || die "$1 ($2): $(all_got "$@")"
    sleep 0.5
  done
}
# Starts pulse-subscribe run $1 with $2 clients through HAProxy; its pid in SUB_PIDS.
subscribe() {
  # The token is a marker for step 6: the gateways have no auth, so it is ignored there.
  "$SUBSCRIBE" --url "ws://$LB/ws?token=pulse-compose-secret-marker" --clients "$2" \
    --channels events.critical --out "$WORK/$1" --duration 600 >"$WORK/$1.log" 2>&1 &
  SUB_PIDS+=($!)
  wait_for 30 "pulse-subscribe $1 ready through HAProxy" grep -q 'pulse-subscribe ready' "$WORK/$1.log"
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
gaps=$(( $(cat "$WORK/sub1/gaps.csv" "$WORK/sub2/gaps.csv" | grep -vc '^client') ))
log "scaled to 2 in $(( $(date +%s) - t )) s: $gaps clients reconnected through HAProxy, all 10 served"
[ "$gaps" -ge 1 ] || die "no client was on a removed node: the scale-down proved nothing"
publish_to_all SCALED_TO_2 2
# HOOK (history issue): a replica killed mid-stream with 0 events lost goes here:
#   publish at a steady rate, `podman kill` one gateway container while it runs, then
#   check every sequence arrived (clients resume from history after reconnecting).

for p in "${SUB_PIDS[@]}"; do pulse_stop_pid "$p"; done
SUB_PIDS=()

# ---- 6. tokens stay out of HAProxy's log ---------------------------------------------------
# A tunnelled (WebSocket) session is logged when it ends: the clients just closed.
lb_logged() { compose logs --no-color haproxy 2>&1 | grep -c '"GET /ws HTTP/1.1"' | grep -qx "[1-9][0-9]*"; }
wait_for 15 "HAProxy's log lines for the closed client sessions" lb_logged
compose logs --no-color haproxy 2>&1 | grep -q 'pulse-compose-secret-marker' &&
  die "HAProxy's log holds the ?token= value"
log "HAProxy logged the clients' requests without their ?token="

# ---- 7. the loadtest profile ---------------------------------------------------------------
t=$(date +%s)
compose --profile loadtest up --no-color --scale gateway=2 --exit-code-from loadtest loadtest \
  >"$WORK/loadtest.log" 2>&1 || { tail -40 "$WORK/loadtest.log" >&2; die "the loadtest profile failed"; }
tr -d '\r' <"$WORK/loadtest.log" | grep -E 'expected .* received|verdict' | sed 's/^[^|]*| *//' >&2
grep -q 'verdict: OK' "$WORK/loadtest.log" || die "the loadtest report has no 'verdict: OK'"
log "loadtest profile: report OK in $(( $(date +%s) - t )) s"
