#!/usr/bin/env python3
"""Run a command and report each of its threads' CPU time (user, sys), read
from /proc/PID/task/*/stat every 20 ms; the last values seen before each
thread ended. E.g. where `specula read`'s capture thread saturates:

    python3 scripts/thread-cpu.py target/release/specula read --no-progress \\
        --workers 2 --output /dev/null CAPTURE.pcap
"""
import os
import subprocess
import sys
import time

tick = os.sysconf("SC_CLK_TCK")
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
seen = {}
start = time.time()
while proc.poll() is None:
    try:
        tids = os.listdir(f"/proc/{proc.pid}/task")
    except OSError:
        tids = []
    for tid in tids:
        try:
            stat = open(f"/proc/{proc.pid}/task/{tid}/stat").read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seen[tid] = (name, int(fields[11]) / tick, int(fields[12]) / tick)
    time.sleep(0.02)
print(f"wall {time.time() - start:.2f} s, exit {proc.returncode}")
for tid, (name, user, system) in sorted(seen.items(), key=lambda kv: int(kv[0])):
    print(f"{tid} {name:16s} user {user:.2f} sys {system:.2f}")
