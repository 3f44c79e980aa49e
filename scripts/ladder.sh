#!/usr/bin/env bash
# The stage ladder, interleaved: ROUNDS rounds of the libpcap read loop, then
# `specula read --workers 2` cut after capture, reassembly and http
# (--stop-after), with an empty rule set, and whole; one line per run with
# wall s, user s, sys s and peak RSS KiB (docs/BENCHMARKS.md, session 15).
#
# Usage: scripts/ladder.sh PCAP [ROUNDS=5]   (e.g. the capture scripts/bench.sh caches)
set -euo pipefail
cd "$(dirname "$0")/.."
pcap="$1"; rounds="${2:-5}"
cargo build --release --quiet --bins --example pcap_floor
bin=./target/release/specula
floor=./target/release/examples/pcap_floor
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/no-rules"; echo "rule = []" > "$tmp/no-rules/empty.toml"
"$floor" "$pcap" >/dev/null # warm the page cache
timed() { # label cmd...
  local label="$1"; shift
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "$@" >/dev/null 2>&1
  echo "$label $(cat "$tmp/time")"
}
echo "run round: wall_s user_s sys_s peak_rss_kib"
for r in $(seq "$rounds"); do
  timed "floor r$r:" "$floor" "$pcap"
  for stage in capture reassembly http no-rules full; do
    case $stage in
      full) extra=() ;;
      no-rules) extra=(--rules "$tmp/no-rules") ;;
      *) extra=(--stop-after "$stage") ;;
    esac
    timed "$stage r$r:" "$bin" read --no-progress --workers 2 "${extra[@]}" \
      --emit attacks --output "$tmp/out.jsonl" "$pcap"
  done
done
