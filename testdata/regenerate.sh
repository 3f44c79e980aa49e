#!/bin/sh
# Rebuild every capture and truth file in testdata/ from src/synth/testdata.rs.
# Deterministic: running it twice, or on another machine, gives identical bytes
# (the test synth::testdata::tests::committed_testdata_is_current checks this).
set -eu
cd "$(dirname "$0")/.."
cargo run --quiet --bin specula-gen -- testdata --dir testdata
