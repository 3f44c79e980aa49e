#!/usr/bin/env python3
"""Split a fuzz target's coverage by crate, from libFuzzer's -print_coverage.

A target's `cov:` counts every instrumented edge reached, in Specula and in
every dependency (the regex compiler, aho-corasick, std, ...). This says how
much of it, and of its growth between two corpora, is Specula's own code.

Produce the input by loading a corpus once, e.g. from fuzz/:

    target/x86_64-unknown-linux-gnu/release/TARGET -runs=0 -seed=1 \\
        -print_coverage=1 -rss_limit_mb=2048 -max_len=65536 \\
        $(cat options/TARGET 2>/dev/null) EMPTY_DIR CORPUS_DIR > cov.txt 2>&1

Usage:
    python3 fuzz/coverage_split.py COV.txt            # edges per crate
    python3 fuzz/coverage_split.py BEFORE.txt AFTER.txt  # and what grew

A function is attributed by the file it is defined in: `specula` for the
crate's src/, `fuzz-target` for fuzz/fuzz_targets/, the crate name for a
registry crate, `std` for the standard library (including std's generic
functions instantiated with Specula's types).
"""
import collections
import re
import sys

LINE = re.compile(r"\s*COVERED_FUNC: hits: \d+ edges: (\d+)/(\d+) (.*) (\S+):\d+$")
CRATE = re.compile(r"/index\.crates\.io-[0-9a-f]+/(.+?)-\d+\.\d+")


def crate_of(path):
    if "/fuzz/fuzz_targets/" in path:
        return "fuzz-target"
    if "/rustc/" in path or "/rust/deps/" in path:
        return "std"
    m = CRATE.search(path)
    if m:
        return m.group(1)
    if "/src/" in path:
        return "specula"
    return "other"


def load(path):
    """{(crate, function): edges reached}"""
    funcs = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                key = (crate_of(m.group(4)), m.group(3))
                funcs[key] = funcs.get(key, 0) + int(m.group(1))
    return funcs


def per_crate(funcs):
    total = collections.Counter()
    for (crate, _), edges in funcs.items():
        total[crate] += edges
    return total


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    before = load(sys.argv[1])
    if len(sys.argv) == 2:
        crates = per_crate(before)
        print(f"total {sum(crates.values())}")
        for crate, edges in crates.most_common():
            print(f"{crate:24} {edges:7}")
        return
    after = load(sys.argv[2])
    cb, ca = per_crate(before), per_crate(after)
    print(f"total {sum(cb.values())} -> {sum(ca.values())}")
    for crate in sorted(set(cb) | set(ca), key=lambda c: -(ca[c] - cb[c])):
        if ca[crate] != cb[crate]:
            print(f"{crate:24} {cb[crate]:7} -> {ca[crate]:7}  ({ca[crate] - cb[crate]:+})")
    grew = sorted(
        ((after.get(k, 0) - before.get(k, 0), k) for k in set(before) | set(after)),
        reverse=True,
    )
    print("\nSpecula functions whose edges changed:")
    for delta, (crate, func) in grew:
        if crate == "specula" and delta != 0:
            print(f"  {delta:+4}  {func}")


if __name__ == "__main__":
    main()
