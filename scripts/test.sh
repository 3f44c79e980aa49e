#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, property and integration tests.
# Needs ../shared/corpus beside the repository (the corpora others wrote).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -d ../shared/corpus ] || { echo "error: ../shared/corpus is missing (the shared corpora must sit beside the repository)" >&2; exit 1; }
echo "== cargo fmt --check"; cargo fmt --all -- --check
echo "== cargo clippy"; cargo clippy --all-targets --quiet -- -D warnings
echo "== fuzz smoke (every target, ${FUZZ_SECONDS:-20} s each)"; bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
echo "== ClickHouse (Debian clickhouse-server, private instance on loopback)"
ch_dir=$(mktemp -d /tmp/specula-ch-test.XXXXXX)
SPECULA_TEST_CLICKHOUSE_URL=$(bash scripts/clickhouse.sh start "$ch_dir")
export SPECULA_TEST_CLICKHOUSE_URL
# The same server over HTTPS, with the private CA that signed its certificate (tests/clickhouse_tls.rs).
SPECULA_TEST_CLICKHOUSE_TLS_URL=$(bash scripts/clickhouse.sh https-url "$ch_dir")
SPECULA_TEST_CLICKHOUSE_CA=$(bash scripts/clickhouse.sh ca "$ch_dir")
export SPECULA_TEST_CLICKHOUSE_TLS_URL SPECULA_TEST_CLICKHOUSE_CA
trap 'bash scripts/clickhouse.sh stop "$ch_dir" >/dev/null 2>&1 || true' EXIT
echo "ClickHouse at $SPECULA_TEST_CLICKHOUSE_URL and $SPECULA_TEST_CLICKHOUSE_TLS_URL (CA $SPECULA_TEST_CLICKHOUSE_CA)"
echo "== cargo test"; cargo test --all-targets --no-fail-fast -- --nocapture 2>&1 | tee /tmp/specula-test.log
grep -q "test result: ok" /tmp/specula-test.log
