#!/usr/bin/env bash
# Run fuzz targets for SECONDS each (default 60), seeded from testdata/,
# fuzz/seeds/, fuzz/minimized/ (the last campaign's corpus, minimized) and
# ../shared/corpus (CRS requests).
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]     (no TARGET: all of them)
#   FUZZ_SEED_ONLY=1 bash scripts/fuzz.sh 0 [TARGET...]   (seed, do not run)
# Needs cargo-fuzz (`cargo install cargo-fuzz`); uses RUSTC_BOOTSTRAP because the
# machine's toolchain is stable and libFuzzer's sanitizer flags are nightly-only.
# Plateau runs (stop when coverage stops growing): see docs/FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
if [ "$#" -gt 0 ]; then targets="$*"; else targets=$(cd fuzz && cargo fuzz list); fi
crs=../shared/corpus/crs/tests.jsonl

# Seeds from the CRS regression requests (base64 raw HTTP in tests.jsonl), in
# the input format of target $1: raw (whole request), sqli-xss (raw, those
# categories only), parts (target and body, one seed each), points
# (content-type \n target \n cookie \n body), split (mode 0, cut seed, raw).
crs_seeds() {
  [ -f "$crs" ] || return 0
  python3 - "$1" "$2" "$crs" <<'PY' || true
import base64, hashlib, json, pathlib, sys
fmt, out, src = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
def put(seed):
    seed = seed[:4096]
    if seed:
        (out / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
for line in open(src):
    t = json.loads(line)
    raw = base64.b64decode(t.get("raw", ""))
    if fmt == "sqli-xss":
        if str(t.get("category", "")) in ("sqli", "xss"):
            put(raw)
        continue
    if fmt == "raw":
        put(raw)
        continue
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    target = lines[0].split(b" ")[1] if len(lines[0].split(b" ")) > 1 else b""
    hdr = {}
    for l in lines[1:]:
        k, _, v = l.partition(b":")
        hdr.setdefault(k.strip().lower(), v.strip())
    if fmt == "parts":
        put(target)
        put(body)
    elif fmt == "points":
        put(b"\n".join([hdr.get(b"content-type", b""), target, hdr.get(b"cookie", b""), body]))
    elif fmt == "split":
        put(b"\x00\x07" + raw)
PY
}

for t in $targets; do
  c="fuzz/corpus/$t"
  mkdir -p "$c"
  [ -d "fuzz/seeds/$t" ] && cp -n fuzz/seeds/"$t"/* "$c/" 2>/dev/null || true
  # The minimized corpus the last campaign reached (docs/FUZZING.md), so a
  # fresh clone starts where it stopped, not from the seeds.
  [ -d "fuzz/minimized/$t" ] && cp -n fuzz/minimized/"$t"/* "$c/" 2>/dev/null || true
  case "$t" in
    capture_file) cp -n testdata/*.pcap* "$c/" 2>/dev/null || true ;;
    rules) cp -n rules/*.toml "$c/" 2>/dev/null || true ;;
    config) cp -n specula.example.toml "$c/" 2>/dev/null || true ;;
    lex) crs_seeds sqli-xss "$c" ;; # the tokenizers' real diet
    decoders) crs_seeds parts "$c" ;;
    body_points) crs_seeds points "$c" ;;
    detect_request) crs_seeds raw "$c" ;;
    http_split) crs_seeds split "$c" ;;
  esac
  [ -n "${FUZZ_SEED_ONLY:-}" ] && continue
  echo "== fuzz $t for ${secs}s"
  # Per-target libFuzzer options: fuzz/options/README.md.
  opts=""
  [ -f "fuzz/options/$t" ] && opts=$(cat "fuzz/options/$t")
  # shellcheck disable=SC2086
  (cd fuzz && cargo fuzz run -O "$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 $opts)
done
