#!/usr/bin/env bash
# tests/package/run.sh - the Debian package, installed and run as an operator would.
# Not part of ctest (about 2 minutes with a warm cache): `tests/run.sh --package` or
# directly. Needs root and `scripts/install-deps.sh --heavy` (debootstrap).
#
#   1. `cpack -G DEB` in the build directory: pulse_<version>_amd64.deb.
#   2. A copy of the clean bookworm minbase tree (tests/support/base-tree.sh, cached
#      outside the repository) gets the package with `apt-get install ./pulse.deb`,
#      which must resolve every Depends from Debian alone, and systemd (for the check).
#   3. What the package put there: the four programs, their man pages, the conffile
#      /etc/pulse/pulse.conf, the unit, the system user "pulse" (no login shell);
#      `systemd-analyze verify` of the installed unit against that tree is clean.
#   4. The installed programs run from the tree, as user pulse: pulse-gateway with the
#      packaged /etc/pulse/pulse.conf (ports and Redis overridden on the command line),
#      pulse-subscribe through it, pulse-publish through Redis, pulse-report OK.
#   5. Everything this script started is stopped; the tree copy is removed.
#
# Environment: PULSE_TEST_CACHE (base tree and apt archives, default
# /var/cache/pulse-test), PULSE_BIN_DIR (build directory, default build/).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
. "$ROOT/tests/support/base-tree.sh"
BIN=${PULSE_BIN_DIR:-$ROOT/build}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pulse-package.XXXXXX")
T=$WORK/root
T0=$(date +%s)
log() { echo "package-test [$(( $(date +%s) - T0 ))s]: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

MOUNTS=() PIDS=()
cleanup() {
  local rc=$? i
  set +e
  # Newest first (the gateway before its Redis); SIGKILL what outlives 10 s.
  for (( i = ${#PIDS[@]} - 1; i >= 0; i-- )); do pulse_stop_pid "${PIDS[$i]}" TERM 100; done
  for (( i = ${#MOUNTS[@]} - 1; i >= 0; i-- )); do umount "${MOUNTS[$i]}"; done
  # Only remove the copy once nothing is mounted inside it.
  if ! grep -q " $WORK" /proc/mounts; then rm -rf "$WORK"; fi
  log "$([ "$rc" = 0 ] && echo PASS || echo "FAILED (exit $rc)") in $(( $(date +%s) - T0 )) s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "needs root (chroot, mounts)"
command -v debootstrap >/dev/null || die "debootstrap missing: scripts/install-deps.sh --heavy"

# ---- 1. the package --------------------------------------------------------------
pulse_build "$BIN" RelWithDebInfo all || die "the build failed"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BIN/CMakeCache.txt")
deb=$BIN/pulse_${version}_amd64.deb
rm -f "$deb"
(cd "$BIN" && cpack -G DEB >"$WORK/cpack.log" 2>&1) || { cat "$WORK/cpack.log" >&2; die "cpack failed"; }
[ -f "$deb" ] || die "cpack made no $(basename "$deb")"
log "$(basename "$deb"): $(dpkg-deb -f "$deb" Depends)"

# ---- 2. a clean tree with the package installed --------------------------------------
tree=$(pulse_base_tree) || die "no base tree"
cp -a "$tree" "$T"
mnt() { mount "$@"; MOUNTS+=("${!#}"); }
mnt -t proc proc "$T/proc"
mkdir -p "$PULSE_TEST_CACHE/apt-archives/partial"
mnt --bind "$PULSE_TEST_CACHE/apt-archives" "$T/var/cache/apt/archives"
cp /etc/resolv.conf "$T/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$T/usr/sbin/policy-rc.d" # no service starts in a chroot
chmod 755 "$T/usr/sbin/policy-rc.d"
cp "$deb" "$T/tmp/pulse.deb"
in_tree() { chroot "$T" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
in_tree apt-get update -qq >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; die "apt-get update in the tree"; }
DEBIAN_FRONTEND=noninteractive in_tree apt-get install -y -qq --no-install-recommends \
  /tmp/pulse.deb systemd >>"$WORK/apt.log" 2>&1 || { tail -30 "$WORK/apt.log" >&2; die "apt-get install ./pulse.deb"; }
log "installed into a clean bookworm tree: $(in_tree dpkg-query -W -f '${Package} ${Version} ${Status}' pulse)"

# ---- 3. what the package installed -------------------------------------------------------
files=$(in_tree dpkg -L pulse)
for f in /usr/bin/pulse-gateway /usr/bin/pulse-publish /usr/bin/pulse-subscribe /usr/bin/pulse-report \
         /usr/share/man/man1/pulse-gateway.1 /usr/share/man/man1/pulse-publish.1 \
         /usr/share/man/man1/pulse-subscribe.1 /usr/share/man/man1/pulse-report.1 \
         /etc/pulse/pulse.conf /lib/systemd/system/pulse-gateway.service; do
  echo "$files" | grep -qx "$f" || die "the package lacks $f"
done
in_tree dpkg-query -W -f '${Conffiles}' pulse | grep -q '/etc/pulse/pulse.conf' ||
  die "/etc/pulse/pulse.conf is not a conffile"
grep -q 'PULSE_REDIS' "$T/usr/share/man/man1/pulse-publish.1" || die "pulse-publish.1 lacks its options"
user=$(in_tree getent passwd pulse) || die "postinst made no user pulse"
case "$user" in *:/usr/sbin/nologin) ;; *) die "user pulse can log in: $user";; esac
systemd-analyze verify --man=no --root="$T" pulse-gateway.service >"$WORK/verify.log" 2>&1 ||
  { cat "$WORK/verify.log" >&2; die "systemd-analyze verify"; }
[ -s "$WORK/verify.log" ] && { cat "$WORK/verify.log" >&2; die "systemd-analyze verify printed warnings"; }
unit=$T/lib/systemd/system/pulse-gateway.service
for k in '^User=pulse' '^NoNewPrivileges=yes' '^ProtectSystem=strict' '^LimitNOFILE=' '^Restart=on-failure'; do
  grep -q "$k" "$unit" || die "the unit lacks $k"
done
log "4 programs, 4 man pages, conffile, user pulse, unit verified (systemd-analyze verify clean)"

# ---- 4. the installed programs, run from the tree as user pulse --------------------------
pulse_start_redis "$WORK/redis" "$WORK/redis.log" || die "redis-server did not start"
PIDS+=("$PULSE_REDIS_PID")
rport=$PULSE_REDIS_PORT
# As user pulse in the tree, with the gateway's PULSE_REDIS (the tools read it too).
as_pulse() { chroot --userspec=pulse:pulse "$T" env -i PATH=/usr/bin:/bin PULSE_REDIS="redis://127.0.0.1:$rport" "$@"; }
# The same in the background, output to $1; its PID (the program's: chroot and env
# exec) is appended to PIDS.
as_pulse_bg() {
  local out=$1; shift
  chroot --userspec=pulse:pulse "$T" env -i PATH=/usr/bin:/bin PULSE_REDIS="redis://127.0.0.1:$rport" \
    "$@" >"$out" 2>&1 &
  PIDS+=($!)
}
as_pulse_bg "$WORK/gateway.log" /usr/bin/pulse-gateway --config /etc/pulse/pulse.conf --port 0 \
  --admin-port 0 --node-id deb-node
gw=${PIDS[-1]}
ready=$(pulse_wait_line "$WORK/gateway.log" 'pulse-gateway ready' 10 "$gw") && pulse_ready_ports "$ready" ||
  { cat "$WORK/gateway.log" >&2; die "the installed gateway never got ready"; }
port=$PULSE_GW_PORT admin=$PULSE_GW_ADMIN_PORT
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$admin/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$admin/healthz" >/dev/null || die "/healthz of the installed gateway is not 200"
log "pulse-gateway from the package, as user pulse, with /etc/pulse/pulse.conf: $ready"

mkdir -p "$T/tmp/run" && chown "$(in_tree id -u pulse):$(in_tree id -g pulse)" "$T/tmp/run"
as_pulse_bg "$WORK/subscribe.log" /usr/bin/pulse-subscribe --url "ws://127.0.0.1:$port/ws" \
  --clients 3 --out /tmp/run --expect 30 --duration 30
sub=${PIDS[-1]}
pulse_wait_line "$WORK/subscribe.log" 'pulse-subscribe ready' 10 "$sub" >/dev/null ||
  { cat "$WORK/subscribe.log" >&2; die "subscriber not ready"; }
pub=$(as_pulse /usr/bin/pulse-publish --type SERVER_DOWN --count 10 --manifest /tmp/run/manifest.csv) ||
  die "pulse-publish from the package failed: $pub"
wait "$sub" || die "pulse-subscribe from the package: exit $?"
report=$(as_pulse /usr/bin/pulse-report --no-svg /tmp/run) || { echo "$report" >&2; die "pulse-report: not OK"; }
echo "$report" | grep -q 'received 30 (100.00%)' || { echo "$report" >&2; die "want 30 of 30 delivered"; }
log "publish -> gateway -> 3 subscribers -> report, all from the package: $pub; 30 of 30 delivered"
kill -TERM "$gw"
st=0; wait "$gw" || st=$?
[ "$st" = 0 ] || die "the installed gateway exited $st after SIGTERM"
