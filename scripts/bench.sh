#!/usr/bin/env bash
# End-to-end benchmark on a large generated capture of mixed mirror traffic:
# Specula (1 and 2 workers), a bare libpcap read loop (the floor), and Suricata when installed.
# Usage: scripts/bench.sh [SIZE]   (default 1GiB; e.g. 200MiB for a quick run)
set -euo pipefail
cd "$(dirname "$0")/.."
size="${1:-1GiB}"
dir="${BENCH_DIR:-/tmp/specula-bench}"
mkdir -p "$dir"
bash scripts/deps.sh
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet --bins --example pcap_floor
pcap="$dir/mix-$size.pcap"
if [ ! -s "$pcap" ]; then
  ./target/release/specula-gen mix --seed 1 --size "$size" --flows 2000 --attack-ratio 0.03 --out "$pcap" --truth "$dir/mix-$size.truth.jsonl"
fi
bytes=$(stat -c %s "$pcap")
packets=$(./target/release/examples/pcap_floor "$pcap" | awk '{print $1}')
requests=$(wc -l < "$dir/mix-$size.truth.jsonl" 2>/dev/null || echo 0)
report() { # name seconds maxrss_kb
  awk -v n="$1" -v s="$2" -v m="$3" -v b="$bytes" -v p="$packets" -v r="$requests" 'BEGIN {
    printf "%-28s %8.2f s %8.2f Gbit/s %10.0f packets/s %9.0f requests/s  peak RSS %6.0f MiB\n", n, s, b*8/s/1e9, p/s, r/s, m/1024 }'
}
run() { # name cmd...
  local name="$1"; shift
  /usr/bin/time -f "%e %M" -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/$name.stderr" || { echo "$name failed:"; tail -5 "$dir/$name.stderr"; return; }
  read -r secs rss < "$dir/time.txt"
  report "$name" "$secs" "$rss"
}
echo "capture: $pcap ($bytes bytes, $packets packets, $requests requests)"
run "libpcap read loop" ./target/release/examples/pcap_floor "$pcap"
run "specula --workers 1" ./target/release/specula read --no-progress --workers 1 "$pcap"
run "specula --workers 2" ./target/release/specula read --no-progress --workers 2 "$pcap"
if command -v suricata >/dev/null; then
  mkdir -p "$dir/suricata-log"
  run "suricata single" suricata -c /etc/suricata/suricata.yaml -k none --runmode single -l "$dir/suricata-log" -r "$pcap"
  run "suricata autofp" suricata -c /etc/suricata/suricata.yaml -k none --runmode autofp -l "$dir/suricata-log" -r "$pcap"
else
  echo "suricata: not installed (apt-get install -t bookworm-backports suricata)"
fi
