#!/usr/bin/env bash
# Profile-guided release build of `specula` (rustc PGO, LLVM profiles).
#
# 1. builds an instrumented specula;
# 2. trains it on a generated capture of mixed mirror traffic (seed 7, not the
#    benchmark's seed 1), on every pcap in testdata/ and, when they sit beside
#    the repository, on the shared corpora (CRS requests, Suricata-verify pcaps),
#    so attack paths are profiled too;
# 3. merges the profiles with llvm-profdata (rustup's llvm-tools component,
#    installed when missing) and builds specula again with them.
#
# The result is target/pgo/use/release/specula (its path is printed last). Same
# code, same output as `cargo build --release`: only code layout, inlining and
# branch order follow the profile (docs/BENCHMARKS.md, session 10, for what it
# buys). The plain build in target/release is left untouched.
#
# Usage: scripts/build-pgo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash scripts/deps.sh
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
  command -v rustup >/dev/null || { echo "error: llvm-profdata not found and no rustup to install llvm-tools" >&2; exit 1; }
  rustup component add llvm-tools-preview >&2
fi
[ -x "$profdata" ] || { echo "error: $profdata missing after installing llvm-tools" >&2; exit 1; }

work="$root/target/pgo"
rm -rf "$work/profiles"
mkdir -p "$work/profiles"
echo "== instrumented build" >&2
# The generator only writes the training capture: a dev build is enough.
cargo build --quiet --bin specula-gen
RUSTFLAGS="-Cprofile-generate=$work/profiles" \
  cargo build --release --quiet --bin specula --target-dir "$work/gen"
train="$work/train.pcap"
[ -s "$train" ] || ./target/debug/specula-gen mix --seed 7 --size 40MiB --flows 500 \
  --attack-ratio 0.05 --reorder 0.01 --retrans 0.01 --out "$train" >/dev/null
echo "== training runs" >&2
bin="$work/gen/release/specula"
"$bin" read --no-progress --workers 2 --output /dev/null "$train"
"$bin" read --no-progress --workers 1 --emit both --output /dev/null testdata/*.pcap
corpus="$root/../shared/corpus"
if [ -d "$corpus" ]; then
  "$bin" read --no-progress --workers 1 --emit both --output /dev/null "$corpus"/crs/crs.pcap
  "$bin" read --no-progress --workers 1 --emit both --output /dev/null "$corpus"/suricata-verify/*.pcap
fi
"$profdata" merge -o "$work/specula.profdata" "$work/profiles"
echo "== optimised build" >&2
RUSTFLAGS="-Cprofile-use=$work/specula.profdata" \
  cargo build --release --quiet --bin specula --target-dir "$work/use"
echo "$work/use/release/specula"
