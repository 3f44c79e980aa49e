//! Decoders and normalisers applied to inspection points.
//!
//! Every function reads a byte slice and appends to an output buffer that the
//! caller owns and reuses (no allocation once the buffer has grown). Input is
//! attacker-controlled: malformed escapes are copied through unchanged, never
//! rejected, and nothing here panics. Output is never longer than the input
//! except for `%uXXXX` / `\uXXXX` (up to 4 UTF-8 bytes from 6 input bytes, so
//! still shorter).

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_n(s: &[u8]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &b| {
        Some(acc.checked_mul(16)? + u32::from(hex_val(b)?))
    })
}

/// Append a code point as UTF-8. Invalid code points (surrogates, > U+10FFFF)
/// fall back to their low byte, which is what IIS-style `%u` decoders did.
fn push_code_point(out: &mut Vec<u8>, cp: u32) {
    match char::from_u32(cp) {
        Some(c) => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        None => out.push((cp & 0xff) as u8),
    }
}

/// Percent-decoding: `%XX`, IIS `%uXXXX`, and `+` → space when `plus` is set
/// (form and query data, WHATWG urlencoded parsing). Returns true when
/// anything was decoded.
pub fn percent_decode(input: &[u8], plus: bool, out: &mut Vec<u8>) -> bool {
    // Most values have nothing to decode: find out without copying.
    let trigger = if plus {
        memchr::memchr2(b'%', b'+', input)
    } else {
        memchr::memchr(b'%', input)
    };
    if trigger.is_none() {
        out.extend_from_slice(input);
        return false;
    }
    let mut changed = false;
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'%' {
            if let Some(v) = input.get(i + 1..i + 3).and_then(hex_n) {
                out.push(v as u8);
                i += 3;
                changed = true;
                continue;
            }
            if matches!(input.get(i + 1), Some(b'u' | b'U')) {
                if let Some(cp) = input.get(i + 2..i + 6).and_then(hex_n) {
                    push_code_point(out, cp);
                    i += 6;
                    changed = true;
                    continue;
                }
            }
        } else if b == b'+' && plus {
            out.push(b' ');
            i += 1;
            changed = true;
            continue;
        }
        out.push(b);
        i += 1;
    }
    changed
}

/// Common named entities (those used to smuggle markup and code).
const NAMED: &[(&[u8], &[u8])] = &[
    (b"lt", b"<"),
    (b"gt", b">"),
    (b"amp", b"&"),
    (b"quot", b"\""),
    (b"apos", b"'"),
    (b"nbsp", b" "),
    (b"tab", b"\t"),
    (b"newline", b"\n"),
    (b"colon", b":"),
    (b"sol", b"/"),
    (b"bsol", b"\\"),
    (b"lpar", b"("),
    (b"rpar", b")"),
    (b"semi", b";"),
    (b"equals", b"="),
    (b"period", b"."),
    (b"comma", b","),
    (b"excl", b"!"),
    (b"grave", b"`"),
    (b"lsqb", b"["),
    (b"rsqb", b"]"),
    (b"lcub", b"{"),
    (b"rcub", b"}"),
    (b"num", b"#"),
    (b"percnt", b"%"),
    (b"dollar", b"$"),
    (b"vert", b"|"),
];

/// HTML character references: named (see `NAMED`), decimal `&#NN`, hex
/// `&#xHH`, with or without the final `;` (browsers accept both). Returns
/// true when anything was decoded.
pub fn html_entities(input: &[u8], out: &mut Vec<u8>) -> bool {
    if memchr::memchr(b'&', input).is_none() {
        out.extend_from_slice(input);
        return false;
    }
    let mut changed = false;
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'&' {
            if let Some(consumed) = decode_entity(input.get(i + 1..).unwrap_or_default(), out) {
                i += 1 + consumed;
                changed = true;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    changed
}

/// Decode the entity after `&`; returns bytes consumed after the `&`.
fn decode_entity(rest: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    if rest.first() == Some(&b'#') {
        let (radix_hex, start) = match rest.get(1) {
            Some(b'x' | b'X') => (true, 2),
            _ => (false, 1),
        };
        let digits = rest
            .get(start..)?
            .iter()
            .take_while(|b| {
                if radix_hex {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            })
            .count();
        // Leading zeros are a classic evasion (`&#0000060`): allow up to 10 digits.
        if digits == 0 || digits > 10 {
            return None;
        }
        let ds = rest.get(start..start + digits)?;
        let cp = if radix_hex {
            hex_n(ds)?
        } else {
            ds.iter().try_fold(0u32, |a, &d| {
                a.checked_mul(10)?.checked_add(u32::from(d - b'0'))
            })?
        };
        push_code_point(out, cp);
        let mut used = start + digits;
        if rest.get(used) == Some(&b';') {
            used += 1;
        }
        return Some(used);
    }
    for (name, val) in NAMED {
        let n = name.len();
        if rest.get(..n).is_some_and(|p| p.eq_ignore_ascii_case(name)) {
            out.extend_from_slice(val);
            let mut used = n;
            if rest.get(n) == Some(&b';') {
                used += 1;
            }
            return Some(used);
        }
    }
    None
}

/// Backslash escapes as found in JavaScript, JSON, PHP and shell strings:
/// `\xNN`, `\uXXXX`, `\u{X..}`. Other backslashes are kept. Returns true when
/// anything was decoded.
pub fn backslash_escapes(input: &[u8], out: &mut Vec<u8>) -> bool {
    if memchr::memchr(b'\\', input).is_none() {
        out.extend_from_slice(input);
        return false;
    }
    let mut changed = false;
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'\\' {
            match input.get(i + 1) {
                Some(b'x' | b'X') => {
                    if let Some(v) = input.get(i + 2..i + 4).and_then(hex_n) {
                        out.push(v as u8);
                        i += 4;
                        changed = true;
                        continue;
                    }
                }
                Some(b'u' | b'U') => {
                    if let Some(cp) = input.get(i + 2..i + 6).and_then(hex_n) {
                        push_code_point(out, cp);
                        i += 6;
                        changed = true;
                        continue;
                    }
                    if input.get(i + 2) == Some(&b'{') {
                        let tail = input.get(i + 3..).unwrap_or_default();
                        let n = tail
                            .iter()
                            .take(7)
                            .take_while(|b| b.is_ascii_hexdigit())
                            .count();
                        if tail.get(n) == Some(&b'}') {
                            if let Some(cp) = tail.get(..n).and_then(hex_n) {
                                push_code_point(out, cp);
                                i += 3 + n + 1;
                                changed = true;
                                continue;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        out.push(b);
        i += 1;
    }
    changed
}

/// Drop NUL bytes (C-string truncation tricks, `sel%00ect`). Returns true
/// when any was removed.
pub fn remove_nul(input: &[u8], out: &mut Vec<u8>) -> bool {
    if memchr::memchr(0, input).is_none() {
        out.extend_from_slice(input);
        return false;
    }
    let before = out.len();
    out.extend(input.iter().copied().filter(|&b| b != 0));
    out.len() - before != input.len()
}

/// Path normalisation: `\` → `/`, runs of `/` folded, `/./` removed. `../`
/// is deliberately kept so traversal rules still see it.
pub fn normalise_path(input: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    for &b in input {
        let b = if b == b'\\' { b'/' } else { b };
        if b == b'/' && out.len() > start && out.last() == Some(&b'/') {
            continue;
        }
        out.push(b);
        // Collapse "/./" to "/".
        if b == b'/' && out.len() >= start + 3 && out.ends_with(b"/./") {
            out.truncate(out.len() - 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl Fn(&[u8], &mut Vec<u8>) -> bool, s: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let c = f(s, &mut out);
        (out, c)
    }

    #[test]
    fn percent() {
        let p = |s: &[u8], o: &mut Vec<u8>| percent_decode(s, true, o);
        assert_eq!(run(p, b"a%20b+c"), (b"a b c".to_vec(), true));
        assert_eq!(run(p, b"%u003cscript"), (b"<script".to_vec(), true));
        assert_eq!(run(p, b"%2"), (b"%2".to_vec(), false));
        assert_eq!(run(p, b"%zz%"), (b"%zz%".to_vec(), false));
        assert_eq!(run(p, b"%252e"), (b"%2e".to_vec(), true));
        let np = |s: &[u8], o: &mut Vec<u8>| percent_decode(s, false, o);
        assert_eq!(run(np, b"a+b"), (b"a+b".to_vec(), false));
        assert_eq!(run(p, b"%uD800"), (vec![0], true));
    }

    #[test]
    fn entities() {
        assert_eq!(
            run(html_entities, b"&lt;svg&gt;"),
            (b"<svg>".to_vec(), true)
        );
        assert_eq!(
            run(html_entities, b"&#60&#x3C;&#0000060;"),
            (b"<<<".to_vec(), true)
        );
        assert_eq!(run(html_entities, b"java&Tab;"), (b"java\t".to_vec(), true));
        assert_eq!(
            run(html_entities, b"a & b &unknown;"),
            (b"a & b &unknown;".to_vec(), false)
        );
        assert_eq!(
            run(html_entities, b"&#99999999999;"),
            (b"&#99999999999;".to_vec(), false)
        );
        assert_eq!(run(html_entities, b"&"), (b"&".to_vec(), false));
    }

    #[test]
    fn escapes() {
        assert_eq!(
            run(backslash_escapes, br"\x3cscript\u003e"),
            (b"<script>".to_vec(), true)
        );
        assert_eq!(run(backslash_escapes, br"\u{6a}s"), (b"js".to_vec(), true));
        assert_eq!(
            run(backslash_escapes, br"C:\windows\x"),
            (br"C:\windows\x".to_vec(), false)
        );
        assert_eq!(run(backslash_escapes, br"\u{"), (br"\u{".to_vec(), false));
    }

    #[test]
    fn nul_and_path() {
        assert_eq!(run(remove_nul, b"se\0lect"), (b"select".to_vec(), true));
        assert_eq!(run(remove_nul, b"x"), (b"x".to_vec(), false));
        let mut out = Vec::new();
        normalise_path(br"/a\\b//./c/../../etc", &mut out);
        assert_eq!(out, b"/a/b/c/../../etc");
    }
}
