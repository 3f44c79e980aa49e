#!/usr/bin/env bash
# Install the system packages Specula needs to build and test (Debian).
# Idempotent: only calls apt-get when something is missing.
set -euo pipefail
need=()
# nginx, tcpreplay, iproute2: the live end-to-end tests (tests/live_*.rs) and scripts/bench-live.sh.
for pkg in libpcap-dev pkg-config curl nginx tcpreplay iproute2; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "installing: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
