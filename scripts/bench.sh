#!/usr/bin/env bash
# End-to-end benchmark on one generated capture of mixed mirror traffic, every
# tool on the same file in one run: a bare libpcap read loop (the floor),
# Specula with 1 and 2 workers (and with 2 workers: an empty rule set, and the
# pipeline cut after each stage with --stop-after, to see each stage's share),
# and Suricata 7 when installed (single and autofp runmodes with Specula's
# rules converted and eve.json alert + HTTP logging, then single with no
# rules and no logging). See docs/BENCHMARKS.md.
#
# Usage: scripts/bench.sh [SIZE]   (default 1GiB; e.g. 200MiB for a quick run)
# Environment: BENCH_DIR (default /tmp/specula-bench; captures are cached there),
#              SURICATA=0 to leave Suricata out even when installed,
#              PGO=1 to measure the profile-guided build (scripts/build-pgo.sh)
#              instead of the plain release build.
set -euo pipefail
cd "$(dirname "$0")/.."
size="${1:-1GiB}"
dir="${BENCH_DIR:-/tmp/specula-bench}"
mkdir -p "$dir"
bash scripts/deps.sh
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet --bins --example pcap_floor
specula=./target/release/specula
if [ "${PGO:-0}" = 1 ]; then
  specula=$(bash scripts/build-pgo.sh | tail -1)
fi
pcap="$dir/mix-$size.pcap"
truth="$dir/mix-$size.truth.jsonl"
if [ ! -s "$pcap" ] || [ ! -s "$truth" ]; then
  ./target/release/specula-gen mix --seed 1 --size "$size" --flows 2000 --attack-ratio 0.03 \
    --out "$pcap" --truth "$truth"
fi
bytes=$(stat -c %s "$pcap")
packets=$(./target/release/examples/pcap_floor "$pcap" | awk '{print $1}')
requests=$(wc -l < "$truth")
attacks=$(grep -c '"attack_class"' "$truth" || true)

declare -A wall cpu
run() { # name cmd...
  local name="$1"; shift
  local log="$dir/${name//[^A-Za-z0-9]/_}"
  if ! /usr/bin/time -f "%e %U %S %M" -o "$dir/time.txt" "$@" >"$log.stdout" 2>"$log.stderr"; then
    echo "$name failed:"; tail -5 "$log.stderr"; return
  fi
  local secs user sys rss
  read -r secs user sys rss < <(tail -1 "$dir/time.txt")
  wall[$name]=$secs
  cpu[$name]=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  awk -v n="$name" -v s="$secs" -v c="${cpu[$name]}" -v m="$rss" -v b="$bytes" -v p="$packets" -v r="$requests" 'BEGIN {
    if (s <= 0) s = 0.01
    printf "%-34s %8.2f %8.2f %8.2f %11.0f %11.0f %5.0f MiB\n", n, s, c, b*8/s/1e9, p/s, r/s, m/1024 }'
}
ratio() { # label numerator-name denominator-name [cpu]
  local a=${wall[$2]:-} b=${wall[$3]:-}
  [ "${4:-}" = cpu ] && { a=${cpu[$2]:-}; b=${cpu[$3]:-}; }
  [ -n "$a" ] && [ -n "$b" ] || return 0
  awk -v l="$1" -v a="$a" -v b="$b" 'BEGIN { if (b <= 0) b = 0.01; printf "  %-58s %6.2f\n", l, a / b }'
}

echo "machine: $(nproc) cores, load:$(uptime | sed 's/.*load average://')"
echo "specula: $specula"
echo "capture: $pcap ($bytes bytes, $packets packets, $requests requests, $attacks attacks)"
printf '%-34s %8s %8s %8s %11s %11s %9s\n' tool "wall s" "CPU s" "Gbit/s" "packets/s" "requests/s" "peak RSS"
run "libpcap read loop" ./target/release/examples/pcap_floor "$pcap"
for w in 1 2; do
  run "specula --workers $w" "$specula" read --no-progress --workers "$w" \
    --emit attacks --output "$dir/specula-w$w.jsonl" "$pcap"
done
echo "specula: $(wc -l < "$dir/specula-w1.jsonl") attack records (w1), $(wc -l < "$dir/specula-w2.jsonl") (w2)"
# The same pipeline with an empty rule set: capture, reassembly, HTTP, point
# extraction and protocol checks, no rule evaluated. What the floor ratio can
# come down to by making rules cheaper alone.
mkdir -p "$dir/no-rules"
echo "rule = []" > "$dir/no-rules/empty.toml"
run "specula w2, no rules" "$specula" read --no-progress --workers 2 --rules "$dir/no-rules" \
  --emit attacks --output "$dir/specula-w2-no-rules.jsonl" "$pcap"
# The stage ladder: the same two-worker pipeline cut after capture (read,
# decode, dispatch), after reassembly, and after HTTP parsing (no request
# inspected). Each step's increase is what that stage costs.
for stage in capture reassembly http; do
  run "specula w2, stop after $stage" "$specula" read --no-progress --workers 2 \
    --stop-after "$stage" --emit attacks --output /dev/null "$pcap"
done

have_suricata=0
if [ "${SURICATA:-1}" != 0 ] && command -v suricata >/dev/null; then
  have_suricata=1
  sdir="$dir/suricata"
  bash scripts/suricata.sh config "$sdir" >/dev/null
  srun() { # name runmode config rules
    rm -rf "$sdir/log" && mkdir -p "$sdir/log"
    run "$1" suricata -c "$sdir/$3" -S "$4" -k none --runmode "$2" -l "$sdir/log" -r "$pcap"
  }
  srun "suricata single" single logging.yaml "$sdir/specula.rules"
  python3 scripts/suricata-check.py "$truth" "$sdir/log/eve.json" "$dir/specula-w1.jsonl"
  srun "suricata autofp" autofp logging.yaml "$sdir/specula.rules"
  srun "suricata single, no rules/log" single quiet.yaml /dev/null
  echo "suricata: $(grep -c '^alert' "$sdir/specula.rules") rules converted from Specula's (scripts/suricata-rules.py)"
elif [ "${SURICATA:-1}" = 0 ]; then
  echo "suricata: left out (SURICATA=0)"
else
  echo "suricata: not installed (bash scripts/suricata.sh install)"
fi

echo "machine load after: $(uptime | sed 's/.*load average://')"
echo "ratios (wall time unless noted; targets from issue 7 in brackets):"
if [ "$have_suricata" = 1 ]; then
  ratio "suricata single / specula w1          [>= 10]" "suricata single" "specula --workers 1"
  ratio "suricata single / specula w1, CPU s   [>= 10]" "suricata single" "specula --workers 1" cpu
  ratio "suricata autofp / specula w2" "suricata autofp" "specula --workers 2"
  ratio "suricata autofp / specula w2, CPU s" "suricata autofp" "specula --workers 2" cpu
fi
ratio "specula w2 / libpcap read loop         [<= 5]" "specula --workers 2" "libpcap read loop"
ratio "specula w2, no rules / libpcap read loop" "specula w2, no rules" "libpcap read loop"
for stage in capture reassembly http; do
  ratio "specula w2, stop after $stage / libpcap read loop" "specula w2, stop after $stage" "libpcap read loop"
done
ratio "scaling: specula w1 / specula w2       [>= 1.8]" "specula --workers 1" "specula --workers 2"
