#!/usr/bin/env bash
# Hostile-traffic load runs (issue 8): each scenario of `specula-gen adversary`
# at full scale (a million flows, a 1 GB body, 100,000 headers, ...) through
# `specula read`, printing peak RSS, elapsed time, whether every canary attack
# sent after the hostile traffic was still reported, and the drop counters.
# Usage: scripts/adversarial.sh [SCENARIO...]   (default: all)
#        CONFIG=caps.toml scripts/adversarial.sh half-open   (custom caps)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${ADV_DIR:-/tmp/specula-adversarial}"
mkdir -p "$dir"
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet --bins
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(syn-flood half-open trickle big-body many-headers deep-nesting pathological)
config_args=()
[ -n "${CONFIG:-}" ] && config_args=(--config "$CONFIG")
printf '%-14s %12s %10s %9s %8s  %s\n' scenario packets "peak RSS" elapsed canaries "drops and anomalies"
for s in "${scenarios[@]}"; do
  pcap="$dir/$s.pcap"
  [ -s "$pcap" ] || ./target/release/specula-gen adversary --scenario "$s" --out "$pcap" --ids "$dir/$s.ids" 2>/dev/null
  /usr/bin/time -f "%e %M" -o "$dir/time.txt" ./target/release/specula read --no-progress --workers 2 \
    "${config_args[@]}" --output "$dir/$s.jsonl" "$pcap" 2>"$dir/$s.stderr" || { echo "$s: specula failed"; tail -5 "$dir/$s.stderr"; exit 1; }
  read -r secs rss < "$dir/time.txt"
  want=$(wc -l < "$dir/$s.ids")
  got=$(grep -o '"request_id":"[^"]*"' "$dir/$s.jsonl" | sort -u | cut -d'"' -f4 | grep -cxF -f "$dir/$s.ids" || true)
  packets=$(grep -o '[0-9]* packets' "$dir/$s.stderr" | head -1 | cut -d' ' -f1)
  drops=$(grep 'drops and anomalies' "$dir/$s.stderr" | sed 's/.*anomalies: //' || true)
  printf '%-14s %12s %7.0f MiB %8.2fs %4s/%-4s %s\n' "$s" "$packets" "$(echo "$rss/1024" | bc -l)" "$secs" "$got" "$want" "${drops:-none}"
  [ "$got" = "$want" ] || { echo "$s: canaries lost"; exit 1; }
done
