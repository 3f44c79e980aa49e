#!/usr/bin/env bash
# Do two specula binaries write the same output, byte for byte? Used to check
# that a speed change changes no verdict (docs/BENCHMARKS.md).
#
# Usage: scripts/same-output.sh OLD_BINARY NEW_BINARY [PCAP...]
# Default captures: the CRS regression pcap and every Suricata-verify pcap of
# ../shared/corpus, plus any PCAP given (e.g. a specula-gen mix). Masking uses a
# fixed key so that masked values compare; --emit both writes every request.
set -euo pipefail
old="$1"; new="$2"; shift 2
corpus="$(dirname "$0")/../../shared/corpus"
export SPECULA_MASK_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
rc=0
compare() { # name pcap...
  local name="$1"; shift
  "$old" read --workers 1 --no-progress --emit both --output "$work/old.jsonl" "$@" 2>/dev/null
  "$new" read --workers 1 --no-progress --emit both --output "$work/new.jsonl" "$@" 2>/dev/null
  if cmp -s "$work/old.jsonl" "$work/new.jsonl"; then
    echo "same      $(wc -l < "$work/new.jsonl") records  $name"
  else
    echo "DIFFERENT $name"; rc=1
  fi
}
for f in "$@"; do compare "$f" "$f"; done
compare crs "$corpus/crs/crs.pcap"
compare suricata-verify "$corpus"/suricata-verify/*.pcap
exit $rc
