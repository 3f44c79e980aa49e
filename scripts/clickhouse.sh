#!/usr/bin/env bash
# Start, stop or locate a private ClickHouse server for tests and CI.
#
#   scripts/clickhouse.sh start [DIR]   install (apt) if missing, start, wait, print the URL
#   scripts/clickhouse.sh stop  [DIR]   stop the server started from DIR (data is kept)
#   scripts/clickhouse.sh url   [DIR]   print the URL of the running server
#   scripts/clickhouse.sh https-url [DIR]  print its HTTPS URL (https://127.0.0.1:PORT)
#   scripts/clickhouse.sh ca    [DIR]   print the path of the private CA (PEM) that signed its certificate
#
# Besides the HTTP port the server serves HTTPS (<https_port>) with a certificate
# from a private CA generated in DIR/tls at the first start (openssl CLI):
#   ca.crt            the CA to trust (what `[clickhouse] tls_ca_file` names)
#   server.crt/.key   the server's certificate, for IP 127.0.0.1 only: no DNS name,
#                     so https://localhost:PORT is a host-name mismatch tests can use
#   client.crt/.key   a client certificate from the same CA (mutual TLS)
#   other-ca.crt      a second CA that signed nothing here (a wrong CA for tests)
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
https_url() { echo "https://127.0.0.1:$(cat "$dir/https_port")"; }

# A private CA, a server certificate for 127.0.0.1 and a client certificate.
# Kept across starts; webpki (rustls) needs v3 certificates with a SAN and a
# CA with basicConstraints CA:TRUE.
make_certs() {
    local t="$dir/tls"
    [[ -s "$t/ca.crt" && -s "$t/server.crt" && -s "$t/client.crt" && -s "$t/other-ca.crt" ]] && return
    command -v openssl >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y openssl >&2
    mkdir -p "$t"
    local ca
    for ca in ca other-ca; do
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -subj "/CN=specula test $ca" \
            -keyout "$t/$ca.key" -out "$t/$ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    done
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1" >"$t/server.ext"
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
        -days 3650 -sha256 -extfile "$t/server.ext" -out "$t/server.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=specula-sensor" \
        -keyout "$t/client.key" -out "$t/client.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=clientAuth" >"$t/client.ext"
    openssl x509 -req -in "$t/client.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
        -days 3650 -sha256 -extfile "$t/client.ext" -out "$t/client.crt" 2>/dev/null
    rm -f "$t"/*.csr "$t"/*.ext
    [[ -s "$t/server.crt" && -s "$t/client.crt" ]] || die "generating the test certificates failed"
}

answers() {
    local out
    out=$(curl -fsS --max-time 2 "$(url)/?query=SELECT%201" 2>/dev/null) || return 1
    [[ "$out" == "1" ]]
}

write_config() {
    mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
    # Keep the ports of an earlier start unless something else took them.
    local f
    for f in http_port https_port tcp_port; do
        if [[ ! -s "$dir/$f" ]] || in_use "$(cat "$dir/$f")"; then free_port >"$dir/$f"; fi
    done
    make_certs
    local http https tcp
    http=$(cat "$dir/http_port"); https=$(cat "$dir/https_port"); tcp=$(cat "$dir/tcp_port")
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
    <https_port>$https</https_port>
    <openSSL>
        <server>
            <certificateFile>$dir/tls/server.crt</certificateFile>
            <privateKeyFile>$dir/tls/server.key</privateKeyFile>
            <!-- relaxed: a client certificate is asked for and, when sent, must come from this CA -->
            <caConfig>$dir/tls/ca.crt</caConfig>
            <verificationMode>relaxed</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>true</cacheSessions>
            <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>
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
    # The CA and the client key are read by tests run by any user.
    chmod 755 "$dir" "$dir/tls"; chmod 644 "$dir/tls"/*.crt "$dir/tls/client.key"
}

# The HTTPS port answers too (through the private CA): a server that cannot
# load its certificate still answers on HTTP.
answers_https() {
    local out
    out=$(curl -fsS --max-time 2 --cacert "$dir/tls/ca.crt" "$(https_url)/?query=SELECT%201" 2>/dev/null) || return 1
    [[ "$out" == "1" ]]
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
        if running && answers && answers_https; then url; return; fi
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
    https-url) running || die "not running (dir $dir)"
        [[ -s "$dir/https_port" ]] || die "no HTTPS port in $dir: started by an older script; stop and start it"
        https_url ;;
    ca) [[ -s "$dir/tls/ca.crt" ]] || die "no CA in $dir/tls (start the server first)"; echo "$dir/tls/ca.crt" ;;
    *) die "usage: $0 start|stop|url|https-url|ca [DIR]" ;;
esac
