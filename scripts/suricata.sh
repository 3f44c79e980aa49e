#!/usr/bin/env bash
# Suricata 7 as the yardstick of scripts/bench.sh; never needed by the test suite.
#
#   scripts/suricata.sh install     add bookworm-backports, install suricata 7 (idempotent, root)
#   scripts/suricata.sh config DIR  write into DIR: specula.rules (Specula's rules converted by
#                                   scripts/suricata-rules.py), logging.yaml (the packaged
#                                   suricata.yaml with eve.json logging only alerts and HTTP
#                                   transactions) and quiet.yaml (no output at all)
set -euo pipefail
cd "$(dirname "$0")/.."

install() {
    if command -v suricata >/dev/null && suricata -V 2>/dev/null | grep -q 'version 7'; then
        suricata -V
        return
    fi
    local list=/etc/apt/sources.list.d/bookworm-backports.sources
    if [ ! -f "$list" ]; then
        cat > "$list" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports suricata >/dev/null
    # The package enables a service; the benchmark runs suricata on files only.
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now suricata >/dev/null 2>&1 || true
    fi
    suricata -V
}

# The packaged configuration with its `outputs:` section replaced by $2.
with_outputs() { # base outputs-file
    awk -v f="$2" '
        /^outputs:/ { print "outputs:"; while ((getline l < f) > 0) print l; skip = 1; next }
        skip && /^[A-Za-z]/ { skip = 0 }
        !skip' "$1"
}

config() {
    local dir=$1 base=/etc/suricata/suricata.yaml
    mkdir -p "$dir"
    python3 scripts/suricata-rules.py rules > "$dir/specula.rules"
    cat > "$dir/outputs-logging" <<'OUT'
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - alert:
            payload: no
            tagged-packets: no
        - http:
            extended: yes
OUT
    : > "$dir/outputs-quiet"
    with_outputs "$base" "$dir/outputs-logging" > "$dir/logging.yaml"
    with_outputs "$base" "$dir/outputs-quiet" > "$dir/quiet.yaml"
    suricata -T -c "$dir/logging.yaml" -S "$dir/specula.rules" -l "$dir" >/dev/null 2>"$dir/check.log" ||
        { cat "$dir/check.log" >&2; exit 1; }
    echo "$dir/specula.rules: $(grep -c '^alert' "$dir/specula.rules") rules"
}

case "${1:-install}" in
    install) install ;;
    config) config "${2:?usage: scripts/suricata.sh config DIR}" ;;
    *) echo "usage: scripts/suricata.sh [install | config DIR]" >&2; exit 2 ;;
esac
