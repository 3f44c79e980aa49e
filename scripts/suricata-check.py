#!/usr/bin/env python3
"""How many of a generated capture's attacks Suricata alerted on.

Usage: scripts/suricata-check.py TRUTH.jsonl EVE.json [SPECULA.jsonl]

The truth file (specula-gen --truth) names every request by method, host and
URI; attacks carry an attack_class. Suricata's alerts name the transaction the
same way. A request whose (method, host, uri) also belongs to a benign request
(a POST to a common form) cannot be told apart and is counted as "ambiguous".
Prints one line: attacks seen / attacks, alerts on benign requests. With
Specula's attack records (`--emit attacks`) it prints the same for Specula,
matched exactly by request_id.
"""

import json
import sys


def key(method, host, uri):
    return (method or "", (host or "").lower(), uri or "")


def main() -> None:
    truth, eve = sys.argv[1], sys.argv[2]
    attack, benign, is_attack = set(), set(), {}
    for line in open(truth, encoding="utf-8"):
        r = json.loads(line)
        (attack if r.get("attack_class") else benign).add(key(r["method"], r["host"], r["uri"]))
        is_attack[r["request_id"]] = bool(r.get("attack_class"))
    only_attack = attack - benign
    alerted, alerts = set(), 0
    for line in open(eve, encoding="utf-8", errors="replace"):
        e = json.loads(line)
        if e.get("event_type") != "alert":
            continue
        alerts += 1
        h = e.get("http") or {}
        alerted.add(key(h.get("http_method"), h.get("hostname"), h.get("url")))
    seen = len(only_attack & alerted)
    fp = len((benign - attack) & alerted)
    amb = len(attack & benign)
    print(
        f"suricata: {alerts} alerts; {seen} of {len(only_attack)} distinct attack requests "
        f"({100 * seen / max(1, len(only_attack)):.1f}%) alerted, {fp} distinct benign "
        f"requests alerted ({amb} attack requests share method+host+uri with benign ones, not counted)"
    )

    if len(sys.argv) > 3:
        flagged = set()
        for line in open(sys.argv[3], encoding="utf-8"):
            flagged.add(json.loads(line).get("request_id"))
        total = sum(is_attack.values())
        tp = sum(1 for k in flagged if is_attack.get(k))
        fp = sum(1 for k in flagged if is_attack.get(k) is False)
        print(
            f"specula: {tp} of {total} attack requests ({100 * tp / max(1, total):.1f}%) recorded, "
            f"{fp} benign requests recorded"
        )


if __name__ == "__main__":
    main()
