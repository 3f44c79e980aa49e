#!/usr/bin/env python3
"""Run one cargo-fuzz target until its coverage plateaus.

Usage (from the repository root, after scripts/fuzz.sh has seeded the corpus):
    python3 fuzz/plateau.py TARGET [MAX_SECONDS=360] [FLAT_SECONDS=120]

Stops when `cov:` has not grown for FLAT_SECONDS of the campaign's own CPU
time, or at MAX_SECONDS of wall time. Prints one summary line: target, runs,
seconds, CPU seconds, final cov, ft, corpus, crashes.

The flat window counts CPU time, not wall time, so a fuzzer starved by other
work on the machine (a build, a CI run) or paused (SIGSTOP) does not look
as if it had stopped finding coverage.
"""
import os, re, signal, subprocess, sys, time

target = sys.argv[1]
max_s = int(sys.argv[2]) if len(sys.argv) > 2 else 360
flat_s = int(sys.argv[3]) if len(sys.argv) > 3 else 120
root = os.path.dirname(os.path.abspath(__file__))
log_path = os.path.join("/tmp", f"fuzz-plateau-{target}.log")
env = dict(os.environ, RUSTC_BOOTSTRAP="1")
cmd = ["cargo", "fuzz", "run", "-O", target, "--",
       f"-max_total_time={max_s}", "-rss_limit_mb=2048", "-max_len=65536",
       "-print_final_stats=1"]
# Per-target libFuzzer options (fuzz/options/README.md).
options = os.path.join(root, "options", target)
if os.path.exists(options):
    cmd += open(options).read().split()
# Build first, so compile time is never taken for a coverage plateau.
subprocess.run(["cargo", "fuzz", "build", "-O", target], cwd=root, env=env, check=True)
start = time.time()
clock_ticks = os.sysconf("SC_CLK_TCK")


def session_cpu_seconds(sid):
    """User + system CPU seconds of the live processes in session `sid`
    (cargo and the fuzzer it runs)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the command name, which may hold spaces: state is
        # field 3, session field 6, utime 14 and stime 15.
        fields = stat[stat.rindex(b")") + 2:].split()
        if int(fields[3]) == sid:
            total += int(fields[11]) + int(fields[12])
    return total / clock_ticks


status = re.compile(rb"^#(\d+)\s+\S+\s+cov: (\d+) ft: (\d+)(?: corp: (\d+))?")
inited_re = re.compile(rb"^#\d+\s+INITED\s")
last = {"runs": 0, "cov": 0, "ft": 0, "corp": 0}
grew_at = 0.0  # campaign CPU seconds at the last coverage growth
cpu = 0.0
crashes = 0
# libFuzzer's slow-unit reports (a unit over 10 s): counted apart, since a
# paused campaign (SIGSTOP, a suspended machine) makes any unit look slow.
slow_units = 0
with open(log_path, "wb") as log:
    p = subprocess.Popen(cmd, cwd=root, env=env, stderr=subprocess.PIPE,
                         stdout=log, start_new_session=True)
    os.set_blocking(p.stderr.fileno(), False)
    buf = b""
    stopped = False
    inited = False
    while p.poll() is None:
        time.sleep(1)
        cpu = max(cpu, session_cpu_seconds(p.pid))
        try:
            chunk = p.stderr.read() or b""
        except BlockingIOError:
            chunk = b""
        log.write(chunk)
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            m = status.match(line)
            # libFuzzer writes "#393\tINITED cov: ...": a tab, not a space,
            # before the word (matching " INITED " never started the flat
            # timer, so no run could stop at a plateau).
            if inited_re.match(line):
                inited = True
                grew_at = cpu
            if m:
                runs, cov, ft, corp = (int(x or 0) for x in m.groups())
                if cov > last["cov"]:
                    grew_at = cpu
                last.update(runs=runs, cov=cov, ft=ft, corp=corp)
            if b"Test unit written to" in line:
                if b"/slow-unit-" in line:
                    slow_units += 1
                else:
                    crashes += 1
        # Only once the corpus is loaded (INITED): while loading, libFuzzer
        # prints a line only at powers of two, which looks flat.
        if not stopped and inited and cpu - grew_at > flat_s:
            os.killpg(p.pid, signal.SIGINT)
            stopped = True
    rest = p.stderr.read() or b""
    log.write(rest)
    for line in rest.split(b"\n"):
        m = status.match(line)
        if m:
            runs, cov, ft, corp = (int(x or 0) for x in m.groups())
            last.update(runs=runs, cov=cov, ft=ft, corp=corp)
        if b"Test unit written to" in line:
            if b"/slow-unit-" in line:
                slow_units += 1
            else:
                crashes += 1
        m = re.match(rb"stat::number_of_executed_units: (\d+)", line)
        if m:
            last["runs"] = int(m.group(1))
secs = int(time.time() - start)
why = "plateau" if stopped else ("crash" if crashes else "max_time")
print(f"{target}\truns={last['runs']}\tsecs={secs}\tcpu_secs={int(cpu)}\tcov={last['cov']}\tft={last['ft']}"
      f"\tcorpus={last['corp']}\tcrashes={crashes}\tslow_units={slow_units}\tstop={why}"
      f"\tlog={log_path}", flush=True)
