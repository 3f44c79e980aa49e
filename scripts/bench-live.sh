#!/usr/bin/env bash
# Live benchmark: push a large capture through a veth pair with tcpreplay while
# `specula live` (release build) captures on the peer end; find the highest
# rate with zero kernel drops and zero pipeline drops.
#
#   scripts/bench-live.sh                 generate a 1GiB mix (cached in /tmp) and run
#   scripts/bench-live.sh 200MiB          the same with a smaller generated capture
#   scripts/bench-live.sh FILE.pcap       use an existing capture
#
# Environment: FILTER (default `tcp port 8445`, the generator's port), WORKERS
# (specula --workers, default: cores), STEPS (binary-search steps, default 6),
# BUFFER_BYTES (specula --buffer-bytes, default specula's), PROFILE (`release`,
# the default, or `dev` for a quick look without the release build),
# CONFIG (a specula TOML configuration, e.g. `[capture] immediate = false`),
# TOPSPEED_ONLY=1 (stop after the --topspeed run: no search for a lower rate),
# REPLAY_OPTS (extra tcpreplay options, default `--preload-pcap`: the capture is
# read into memory first so the disk does not set the rate), PGO=1 (the
# profile-guided build of scripts/build-pgo.sh instead of the release build),
# SPECULA_BIN (an already built specula binary to run instead of building one),
# SENSOR_CPUS / REPLAY_CPUS (taskset CPU lists for the sensor and tcpreplay, e.g.
# 1 and 0: on a small machine each then keeps its own core instead of both
# sharing every core; the kernel's veth and AF_PACKET work runs in tcpreplay's
# send path, so it is charged to tcpreplay's core).
#
# Runs as root. Both veth ends live in a namespace created for this run
# (nothing touches the host's interfaces); a trap removes it and stops the
# processes it started, also on failure or Ctrl-C. Prints one table row per
# run: rate asked, what tcpreplay achieved (Gbit/s, packets/s), kernel drops,
# pipeline drops (segments + records), requests found, packets sent, and how
# often the capture waited for a full worker queue / found one overloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "bench-live.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, packet capture)"
for t in ip tcpreplay cargo; do command -v "$t" >/dev/null || die "$t not found (bash scripts/deps.sh)"; done

arg=${1:-1GiB}
filter=${FILTER:-tcp port 8445}
steps=${STEPS:-6}

if [ "${PROFILE:-release}" = release ]; then
    cargo build --release --quiet --bin specula --bin specula-gen
    bindir=$PWD/target/release
else
    cargo build --quiet --bin specula --bin specula-gen
    bindir=$PWD/target/debug
fi
bin=$bindir/specula
# PGO=1: the profile-guided build (scripts/build-pgo.sh) runs the sensor.
[ "${PGO:-0}" = 1 ] && bin=$(bash scripts/build-pgo.sh | tail -1)
if [ -n "${SPECULA_BIN:-}" ]; then
    [ -x "$SPECULA_BIN" ] || die "SPECULA_BIN=$SPECULA_BIN is not an executable"
    bin=$SPECULA_BIN
fi
# Optional CPU pinning (see the header).
sensor_pin=(); replay_pin=()
if [ -n "${SENSOR_CPUS:-}" ] || [ -n "${REPLAY_CPUS:-}" ]; then
    command -v taskset >/dev/null || die "taskset not found (util-linux)"
fi
[ -n "${SENSOR_CPUS:-}" ] && sensor_pin=(taskset -c "$SENSOR_CPUS")
[ -n "${REPLAY_CPUS:-}" ] && replay_pin=(taskset -c "$REPLAY_CPUS")

if [ -f "$arg" ]; then
    cap=$arg
else
    cap=/tmp/specula-bench-live-$arg.pcap
    if [ ! -s "$cap" ]; then
        echo "generating $cap ($arg)..." >&2
        "$bindir/specula-gen" mix --seed 1 --size "$arg" --flows 2000 --attack-ratio 0.03 \
            --out "$cap.tmp" && mv "$cap.tmp" "$cap"
    fi
fi

ns=specula-bench-$$
va=sbl$$a
vb=sbl$$b
work=$(mktemp -d /tmp/specula-bench-live.XXXXXX)
sensor_pid=""

cleanup() {
    if [ -n "$sensor_pid" ] && kill -0 "$sensor_pid" 2>/dev/null; then
        kill -KILL "$sensor_pid" 2>/dev/null || true
    fi
    if ip netns list | grep -qw "$ns"; then
        # Anything still inside is ours: nobody else knows the name.
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    fi
    ip link del "$va" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns"
ip link add "$va" type veth peer name "$vb"
for v in "$va" "$vb"; do
    ip link set "$v" netns "$ns"
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$v.disable_ipv6=1"
    ip -n "$ns" link set "$v" up
done
ip -n "$ns" link set lo up

# One run: start the sensor, replay with "$@" as tcpreplay's rate options,
# stop the sensor, print a row, and set $drops (kernel + pipeline).
run_one() {
    local label=$1; shift
    local log=$work/sensor.log tlog=$work/tcpreplay.log
    local args=(live -i "$vb" --filter "$filter" --emit attacks --output /dev/null)
    [ -n "${WORKERS:-}" ] && args+=(--workers "$WORKERS")
    [ -n "${BUFFER_BYTES:-}" ] && args+=(--buffer-bytes "$BUFFER_BYTES")
    [ -n "${CONFIG:-}" ] && args+=(--config "$CONFIG")
    ip netns exec "$ns" "${sensor_pin[@]}" "$bin" "${args[@]}" 2>"$log" &
    sensor_pid=$!
    local i
    for i in $(seq 300); do
        grep -q "capturing on $vb" "$log" && break
        kill -0 "$sensor_pid" 2>/dev/null || die "specula live exited: $(cat "$log")"
        sleep 0.1
    done
    grep -q "capturing on $vb" "$log" || die "specula live did not open the capture: $(cat "$log")"
    # shellcheck disable=SC2086 # REPLAY_OPTS is a list of options
    ip netns exec "$ns" "${replay_pin[@]}" tcpreplay -i "$va" ${REPLAY_OPTS---preload-pcap} "$@" "$cap" >"$tlog" 2>&1 || die "tcpreplay failed: $(cat "$tlog")"
    sleep 2   # let the workers drain what is queued
    kill -TERM "$sensor_pid"
    wait "$sensor_pid" || die "specula live failed: $(cat "$log")"
    sensor_pid=""
    local mbps pps kernel iface segs recs reqs
    mbps=$(awk '/Rated:/ {print $4}' "$tlog")
    pps=$(awk '/Rated:/ {print $6}' "$tlog")
    counter() { grep -o "$1=[0-9]*" "$log" | head -1 | cut -d= -f2 || true; }
    kernel=$(counter 'capture_dropped_packets{kernel}'); kernel=${kernel:-0}
    iface=$(counter 'capture_dropped_packets{interface}'); iface=${iface:-0}
    segs=$(counter 'pipeline_dropped_segments{queue_full}'); segs=${segs:-0}
    recs=$(counter 'pipeline_dropped_records'); recs=${recs:-0}
    local waits overloads
    waits=$(counter 'pipeline_queue_full_waits'); waits=${waits:-0}
    overloads=$(counter 'pipeline_queue_overloads'); overloads=${overloads:-0}
    reqs=$(sed -n 's/^specula: .*, \([0-9]*\) requests, .*/\1/p' "$log" | head -1)
    local total
    total=$(awk '/Actual:/ {print $2}' "$tlog")
    printf '%-12s %10.3f %12.0f %10s %14s %10s %12s %14s\n' "$label" \
        "$(awk -v m="${mbps:-0}" 'BEGIN {print m / 1000}')" "${pps:-0}" "$((kernel + iface))" \
        "$segs+$recs" "${reqs:-?}" "${total:-?}" "$waits/$overloads"
    drops=$((kernel + iface + segs + recs))
    last_mbps=${mbps:-0}
    last_kernel=$((kernel + iface))
    last_total=${total:-0}
}

echo "capture: $cap ($(du -h "$cap" | cut -f1)), filter: $filter, workers: ${WORKERS:-cores}, sensor cpus: ${SENSOR_CPUS:-any}, replay cpus: ${REPLAY_CPUS:-any}"
printf '%-12s %10s %12s %10s %14s %10s %12s %14s\n' "rate asked" "Gbit/s" "packets/s" "kernel" "pipeline s+r" "requests" "packets sent" "waits/overload"

# What tcpreplay manages on its own (no sensor): the ceiling of this method.
ip netns exec "$ns" "${replay_pin[@]}" tcpreplay -i "$va" ${REPLAY_OPTS---preload-pcap} --topspeed "$cap" >"$work/alone.log" 2>&1 ||
    die "tcpreplay failed: $(cat "$work/alone.log")"
printf '%-12s %10.3f %12.0f   (no sensor: the replay ceiling)\n' "tcpreplay" \
    "$(awk '/Rated:/ {print $4 / 1000}' "$work/alone.log")" "$(awk '/Rated:/ {print $6}' "$work/alone.log")"

run_one topspeed --topspeed
top_mbps=${last_mbps%.*}
top_drops=$drops
topspeed_drop_pct=$(awk -v d="$last_kernel" -v t="$last_total" 'BEGIN { if (t > 0) printf "%.2f", 100 * d / t; else print "?" }')

best=""
if [ "${TOPSPEED_ONLY:-0}" = 1 ]; then
    best="not searched (TOPSPEED_ONLY=1); --topspeed had $top_drops drops"
elif [ "$top_drops" -eq 0 ]; then
    best="topspeed (${top_mbps} Mbit/s)"
else
    # Binary search in Mbit/s between a rate that does not drop and one that does.
    hi=$top_mbps
    lo=$((top_mbps / 8)); [ "$lo" -ge 1 ] || lo=1
    while :; do
        run_one "${lo}Mbps" --mbps "$lo"
        [ "$drops" -eq 0 ] && break
        hi=$lo; lo=$((lo / 2))
        [ "$lo" -ge 1 ] || die "drops even at 1 Mbit/s"
    done
    best="${lo} Mbit/s"
    for _ in $(seq "$steps"); do
        mid=$(((lo + hi) / 2))
        [ "$mid" -gt "$lo" ] || break
        run_one "${mid}Mbps" --mbps "$mid"
        if [ "$drops" -eq 0 ]; then lo=$mid; best="${mid} Mbit/s"; else hi=$mid; fi
    done
fi
echo
echo "highest rate without kernel or pipeline drops: $best"
echo "kernel drop rate at --topspeed: ${topspeed_drop_pct}% of packets sent"
