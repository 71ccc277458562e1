#!/usr/bin/env bash
# Installs the Debian packages Pulse needs to build, test and run, when any is missing.
# Safe to run again: it only calls apt-get when dpkg says a package is absent.
set -euo pipefail

PKGS=(build-essential cmake pkg-config git curl ca-certificates
      libwebsockets-dev libhiredis-dev libevent-dev libjansson-dev libconfig-dev
      libjwt-dev libssl-dev openssl
      check redis-server redis-tools haproxy docker-compose python3 clang "$@")

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
