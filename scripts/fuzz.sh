#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 60), seeded from testdata/.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); uses RUSTC_BOOTSTRAP because the
# machine's toolchain is stable and libFuzzer's sanitizer flags are nightly-only.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
targets=$(cd fuzz && cargo fuzz list)
for t in $targets; do
  mkdir -p "fuzz/corpus/$t"
  case "$t" in
    capture_file) cp -n testdata/*.pcap* "fuzz/corpus/$t/" 2>/dev/null || true ;;
    rules) cp -n rules/*.toml "fuzz/corpus/$t/" 2>/dev/null || true ;;
    config) cp -n specula.example.toml "fuzz/corpus/$t/" 2>/dev/null || true ;;
    lex) # one seed per CRS sqli/xss request target (the tokenizers' real diet)
      if [ -f ../shared/corpus/crs/tests.jsonl ]; then
        python3 - "fuzz/corpus/$t" <<'PY' || true
import base64, json, sys, hashlib, pathlib
out = pathlib.Path(sys.argv[1])
for line in open("../shared/corpus/crs/tests.jsonl"):
    t = json.loads(line)
    if str(t.get("category", "")) not in ("sqli", "xss"):
        continue
    seed = base64.b64decode(t.get("raw", ""))[:4096]
    (out / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
PY
      fi ;;
    decode) cp -n fuzz/seeds/decode/* "fuzz/corpus/$t/" 2>/dev/null || true ;;
  esac
  echo "== fuzz $t for ${secs}s"
  (cd fuzz && cargo fuzz run -O "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536)
done
