#!/usr/bin/env bash
# Installs the Debian packages Pulse needs to build and run, when any is missing.
#   scripts/install-deps.sh            build + run (the load test needs no more)
#   scripts/install-deps.sh --test     also what the test suite uses (HAProxy for the
#                                      cluster test, docker-compose to validate the
#                                      compose file, clang for libFuzzer, python3,
#                                      python3-websockets as a third-party client,
#                                      prometheus + promtool for test_prometheus,
#                                      strace to count the gateway's send calls,
#                                      node + npm and the pinned npm packages of
#                                      tests/sdk/ (the Centrifugo SDK), via
#                                      tests/sdk/install.sh), chromium (headless, driven
#                                      by playwright-core for the admin page test)
#   scripts/install-deps.sh --heavy    also what the flagged tests outside ctest use
#                                      (tests/run.sh --compose / --package): podman,
#                                      runc, CNI DNS, iptables, debootstrap
#   scripts/install-deps.sh PKG...     also these packages
# Safe to run again: it only calls apt-get when dpkg says a package is absent.
set -euo pipefail

PKGS=(build-essential cmake pkg-config git curl ca-certificates
      libwebsockets-dev libhiredis-dev libevent-dev libjansson-dev libconfig-dev
      libjwt-dev libssl-dev openssl check redis-server redis-tools help2man
      libev-dev libwebsockets-evlib-ev  # these two: ws.event_loop = libev
      liburing-dev)                     # ws.io_uring
with_sdk=0
for arg in "$@"; do
  case "$arg" in
    --test) PKGS+=(haproxy docker-compose clang python3 python3-websockets strace prometheus chromium)
            with_sdk=1 ;;
    --heavy) PKGS+=(podman runc golang-github-containernetworking-plugin-dnsname iptables
                    debootstrap docker-compose python3 curl) ;;
    *) PKGS+=("$arg") ;;
  esac
done

# node and npm: Debian's packages only when no node is installed at all (a NodeSource
# nodejs already holds npm, and Debian's npm package would conflict with it)
if [ "$with_sdk" = 1 ] && ! command -v npm >/dev/null 2>&1; then
  PKGS+=(nodejs npm)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$with_sdk" = 1 ]; then
  "$(cd "$(dirname "$0")/.." && pwd)/tests/sdk/install.sh"
fi
