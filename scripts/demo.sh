#!/usr/bin/env bash
# Build Specula and analyse the sample mirror capture shipped in testdata/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release --quiet
./target/release/specula read testdata/sample-mirror.pcap --output - "$@"
