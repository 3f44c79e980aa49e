#!/usr/bin/env bash
# Start, stop or locate a private ClickHouse server for tests and CI.
#
#   scripts/clickhouse.sh start [DIR]   install (apt) if missing, start, wait, print the URL
#   scripts/clickhouse.sh stop  [DIR]   stop the server started from DIR (data is kept)
#   scripts/clickhouse.sh url   [DIR]   print the URL of the running server
#
# DIR defaults to $SPECULA_CH_DIR or /tmp/specula-ch. The server listens on
# 127.0.0.1 only, on free ports chosen at the first start and kept in DIR, and
# runs as the `clickhouse` user with its own data directory. Idempotent: start
# on a running server only prints its URL; stop on a stopped one does nothing.
set -euo pipefail

cmd=${1:-}
dir=${2:-${SPECULA_CH_DIR:-/tmp/specula-ch}}

die() { echo "clickhouse.sh: $*" >&2; exit 1; }

free_port() {
    # Ask the kernel for an unused port (bind to 0), falling back to a scan.
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
        return
    fi
    local p
    for p in $(seq 18123 18999); do
        if ! in_use "$p"; then echo "$p"; return; fi
    done
    die "no free port"
}

server_pid() {
    # The server started from this DIR: exact command line, never a broad match.
    pgrep -o -x -f "clickhouse-server --config-file=$dir/config.xml" || true
}

in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

running() {
    local pid
    pid=$(server_pid)
    [[ -n "$pid" ]] && echo "$pid" >"$dir/pid"
}

url() { echo "http://127.0.0.1:$(cat "$dir/http_port")"; }

answers() {
    local out
    out=$(curl -fsS --max-time 2 "$(url)/?query=SELECT%201" 2>/dev/null) || return 1
    [[ "$out" == "1" ]]
}

write_config() {
    mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
    # Keep the ports of an earlier start unless something else took them.
    local f
    for f in http_port tcp_port; do
        if [[ ! -s "$dir/$f" ]] || in_use "$(cat "$dir/$f")"; then free_port >"$dir/$f"; fi
    done
    local http tcp
    http=$(cat "$dir/http_port"); tcp=$(cat "$dir/tcp_port")
    cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>$dir/log/server.log</log>
        <errorlog>$dir/log/server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <http_port>$http</http_port>
    <tcp_port>$tcp</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <max_connections>256</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>64</max_concurrent_queries>
    <uncompressed_cache_size>1073741824</uncompressed_cache_size>
    <mark_cache_size>536870912</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
XML
    cat >"$dir/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries><errors>0</errors><result_rows>0</result_rows>
                <read_rows>0</read_rows><execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
XML
    if [[ $(id -u) -eq 0 ]]; then chown -R clickhouse:clickhouse "$dir"; fi
}

start() {
    if ! command -v clickhouse-server >/dev/null 2>&1; then
        [[ $(id -u) -eq 0 ]] || die "clickhouse-server is not installed and installing needs root"
        DEBIAN_FRONTEND=noninteractive apt-get install -y clickhouse-server >&2 \
            || die "apt-get install clickhouse-server failed"
    fi
    command -v curl >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y curl >&2
    if [[ $(id -u) -eq 0 ]] && ! id clickhouse >/dev/null 2>&1; then
        useradd --system --no-create-home clickhouse
    fi
    mkdir -p "$dir"
    if running && answers; then url; return; fi
    write_config
    # The server changes to its own user only when told by a wrapper; start it
    # as that user directly so files in DIR stay owned by it.
    local runas=(runuser -u clickhouse --)
    [[ $(id -u) -eq 0 ]] || runas=()
    rm -f "$dir/pid"
    (cd "$dir" && exec "${runas[@]}" setsid clickhouse-server --config-file="$dir/config.xml" \
        >"$dir/log/stdout.log" 2>&1 </dev/null &)
    local i
    for i in $(seq 1 120); do
        # Our own process must answer (not another server on a reused port).
        if running && answers; then url; return; fi
        # Gone after a few seconds: it failed (port taken, bad config).
        if [[ $i -gt 10 ]] && ! running; then break; fi
        sleep 0.5
    done
    echo "clickhouse.sh: server did not answer on $(url); log tail:" >&2
    for f in "$dir/log/server.err.log" "$dir/log/stdout.log"; do
        [[ -s "$f" ]] && { echo "==> $f" >&2; tail -n 40 "$f" >&2; }
    done
    exit 1
}

stop() {
    if running; then
        local pid i
        pid=$(cat "$dir/pid")
        kill "$pid" 2>/dev/null || true
        for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/pid"
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    url) running || die "not running (dir $dir)"; url ;;
    *) die "usage: $0 start|stop|url [DIR]" ;;
esac
