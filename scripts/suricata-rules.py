#!/usr/bin/env python3
"""Turn Specula's rules (rules/*.toml) into equivalent Suricata 7 rules, the
yardstick of scripts/bench.sh. Not part of Specula; never used by the tests.

Usage: scripts/suricata-rules.py [RULES_DIR] > specula.rules

Each Specula rule becomes one Suricata rule per buffer its targets reach
(Suricata options are ANDed, so one rule cannot look in two buffers):
  path, query, uri                         -> http.uri (normalised) + url_decode
  body                                     -> http.request_body + url_decode
  headers, custom-headers, header:*, cookie -> http.header (Suricata keeps the
                                              Cookie line in it) + url_decode
The regex becomes a `pcre` (Rust `regex` syntax is, for what the rules use,
PCRE syntax; a leading `(?i)` becomes the `i` modifier). Specula matches each
point (one parameter value, one header value) on its own, so `^` and `$`
outside character classes are widened to also match at the separators of the
buffer Suricata sees (`?&=;/`, header lines, JSON quotes). A rule whose prefilter is a
single literal also gets `content:"..."; nocase; fast_pattern;` so Suricata's
multi-pattern matcher selects it the way Specula's prefilter does; a rule with
several alternative literals has no content (Suricata contents are ANDed, so
an alternative cannot be expressed) and is evaluated on every transaction.
The two lexer rules (kind = "sqli-lex" / "xss-lex", libinjection-like) have no
Suricata equivalent and are left out (a comment line says so).
"""

import pathlib
import re
import sys
import tomllib

# What Suricata sees before `^` / after `$` where Specula sees a point's edge.
START = r"(?:^|(?<=[?&=/;\n\"])|(?<=: ))"
END = r"(?:$|(?=[&;#\r\"]))"


# Buffers whose CR/LF are separators (header lines, multipart parts) where
# Specula sees one value at a time: the classes whose signal is a CR/LF in a value
# would fire on every request there, so they only go on http.uri.
MULTILINE = ("http.header", "http.request_body")


LINE_BREAK_CLASSES = ("crlf", "mail_injection")


def widen_anchors(pattern: str) -> str:
    """Replace `^` and `$` outside character classes (not escaped)."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append(c)
        elif c == "[":
            in_class = True
            out.append(c)
            # `[]...]` and `[^]...]`: a leading `]` is a literal.
            j = i + 1
            if j < len(pattern) and pattern[j] == "^":
                out.append("^")
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                out.append("]")
                j += 1
            i = j
            continue
        elif c == "^":
            out.append(START)
        elif c == "$":
            out.append(END)
        else:
            out.append(c)
        i += 1
    return "".join(out)


def rule_escape(text: str) -> str:
    """Suricata option values: `"` and `;` must be backslash-escaped."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            # An escaped quote or semicolon is already in rule form.
            out.append(c + nxt)
            i += 2
            continue
        if c in '";':
            out.append("\\" + c)
        else:
            out.append(c)
        i += 1
    return "".join(out)


def content_escape(literal: str) -> str:
    """A `content` literal: `"`, `;`, `\\` and `|` as hex bytes."""
    out = []
    for ch in literal:
        if ch in '";\\|' or not ch.isprintable():
            out.append("|" + " ".join(f"{b:02X}" for b in ch.encode()) + "|")
        else:
            out.append(ch)
    return "".join(out)


def drop_unicode_flag(pattern: str) -> str:
    """Rust's `(?-u:...)` (bytes) is Suricata's PCRE default: drop the `u`."""

    def fix(m: re.Match) -> str:
        on, off, end = m.group(1), m.group(2).replace("u", ""), m.group(3)
        flags = on + ("-" + off if off else "")
        if not flags:
            return "(?:" if end == ":" else ""
        return f"(?{flags}{end}"

    return re.sub(r"\(\?([a-zA-Z]*)-([a-zA-Z]*)([:)])", fix, pattern)


def pcre_of(pattern: str) -> str:
    pattern = drop_unicode_flag(pattern)
    flags = ""
    if pattern.startswith("(?i)"):
        pattern, flags = pattern[4:], "i"
    return f'pcre:"/{rule_escape(widen_anchors(pattern))}/{flags}"'


def buffers(targets):
    seen = []
    for t in targets:
        if t in ("path", "query", "uri"):
            b = "http.uri"
        elif t == "body":
            b = "http.request_body"
        elif t in ("headers", "custom-headers", "cookie") or t.startswith("header:"):
            b = "http.header"
        elif t == "method":
            b = "http.method"
        else:
            raise SystemExit(f"unknown target {t!r}")
        if b not in seen:
            seen.append(b)
    return seen


def main() -> None:
    rules_dir = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "rules")
    sid = 9_100_000
    emitted = skipped = 0
    print("# Generated by scripts/suricata-rules.py from Specula's", rules_dir, "- do not edit")
    for path in sorted(rules_dir.glob("*.toml")):
        for rule in tomllib.loads(path.read_text()).get("rule", []):
            if "pattern" not in rule:
                print(f"# {rule['id']}: kind {rule.get('kind')!r} has no Suricata equivalent")
                skipped += 1
                continue
            prefilter = rule.get("prefilter") or []
            for buf in buffers(rule["targets"]):
                if buf in MULTILINE and rule["class"] in LINE_BREAK_CLASSES:
                    print(f"# {rule['id']}: not on {buf} (its own CR/LF separators would match)")
                    continue
                sid += 1
                opts = [f'msg:"specula {rule["id"]} ({buf})"', "flow:to_server,established", buf]
                if buf != "http.method":
                    opts.append("url_decode")
                if len(prefilter) == 1:
                    opts.append(f'content:"{content_escape(prefilter[0])}"')
                    opts += ["nocase", "fast_pattern"]
                opts.append(pcre_of(rule["pattern"]))
                opts += [f'classtype:web-application-attack', f"sid:{sid}", "rev:1"]
                print(f"alert http any any -> any any ({'; '.join(opts)};)")
                emitted += 1
    print(f"# {emitted} rules emitted, {skipped} Specula rules without equivalent")


if __name__ == "__main__":
    main()
