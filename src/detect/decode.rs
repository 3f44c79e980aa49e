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

pub(crate) fn hex_n(s: &[u8]) -> Option<u32> {
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

/// Quoted-printable (RFC 2045 §6.7) as Go's `mime/quotedprintable` reads
/// it: `=XX` is a byte, `=` before a line end is a soft line break (removed
/// with the line end), anything else is copied. Returns whether anything
/// was decoded.
pub fn quoted_printable(input: &[u8], out: &mut Vec<u8>) -> bool {
    let mut changed = false;
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'=' {
            let rest = input.get(i + 1..).unwrap_or_default();
            // A soft line break: `=`, optional blanks, then CRLF or LF.
            let blanks = rest
                .iter()
                .take_while(|&&c| c == b' ' || c == b'\t')
                .count();
            let after = rest.get(blanks..).unwrap_or_default();
            if let Some(n) = [&b"\r\n"[..], b"\n"]
                .iter()
                .find(|e| after.starts_with(e))
                .map(|e| e.len())
            {
                i += 1 + blanks + n;
                changed = true;
                continue;
            }
            if let Some(v) = rest.get(..2).and_then(hex_n) {
                out.push(v as u8);
                i += 3;
                changed = true;
                continue;
            }
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
        // Leading zeros are a classic evasion (`&#0000060`) and browsers
        // read any number of them: only the significant digits are bounded.
        let zeros = rest
            .get(start..start + digits)?
            .iter()
            .take_while(|&&b| b == b'0')
            .count();
        if digits == 0 || digits - zeros > 10 {
            return None;
        }
        let ds = rest.get(start + zeros..start + digits)?;
        let cp = if ds.is_empty() {
            0
        } else if radix_hex {
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
/// `\xNN`, `\uXXXX`, `\u{X..}`, and octal `\N`, `\NN`, `\NNN` (JavaScript's
/// legacy escapes in sloppy-mode strings, PHP double quotes, bash `$'…'`,
/// printf: `eval('\141lert(1)')`, `$'\143\141\164' /etc/passwd`), read as
/// JavaScript does: three digits only when the first is 0–3, so the value
/// is one byte. Other backslashes are kept. Returns true when anything was
/// decoded.
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
                Some(&d @ b'0'..=b'7') => {
                    let most = if d <= b'3' { 3 } else { 2 };
                    let digits = input
                        .get(i + 1..)
                        .unwrap_or_default()
                        .iter()
                        .take(most)
                        .take_while(|b| matches!(b, b'0'..=b'7'))
                        .fold((0u32, 0usize), |(v, n), &b| {
                            (v * 8 + u32::from(b - b'0'), n + 1)
                        });
                    out.push(digits.0 as u8);
                    i += 1 + digits.1;
                    changed = true;
                    continue;
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

/// An absolute-form request target (RFC 9112 §3.2.2: `scheme://authority`
/// then the path; the caller has cut the query) as (authority, path), the
/// path `/` when none follows; None for any other form. The scheme is
/// spelt as RFC 3986 allows (a letter, then letters, digits, `+`, `-`,
/// `.`), so `/a/x://b/c` stays an origin-form path.
pub fn split_absolute_form(target: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = memchr::memmem::find(target, b"://")?;
    let (first, scheme_rest) = target.get(..i)?.split_first()?;
    if !first.is_ascii_alphabetic()
        || !scheme_rest
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
    {
        return None;
    }
    let after = target.get(i + 3..).unwrap_or_default();
    Some(match memchr::memchr(b'/', after) {
        Some(j) => (
            after.get(..j).unwrap_or_default(),
            after.get(j..).unwrap_or_default(),
        ),
        None => (after, b"/"),
    })
}

/// `s` split at the first `sep`, which belongs to neither side (no `sep`:
/// all of `s`, then nothing). A request-target at `?`, an argument at `=`.
pub fn split_once(s: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match memchr::memchr(sep, s) {
        Some(i) => (
            s.get(..i).unwrap_or_default(),
            s.get(i + 1..).unwrap_or_default(),
        ),
        None => (s, &[]),
    }
}

/// One `name=value` argument of a query or form body (no `=`: all name,
/// empty value). Not decoded.
pub fn split_arg(pair: &[u8]) -> (&[u8], &[u8]) {
    split_once(pair, b'=')
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

/// Overlong UTF-8 forms of ASCII folded to the ASCII byte (`%c0%af` → `/`,
/// `%e0%80%af` → `/`, `%f0%80%80%af` → `/`, and `%c1%9c` → `\`), the IIS
/// and Tomcat path-traversal evasions (CVE-2000-0884, CVE-2008-2938). Only
/// sequences that decode to U+0000..U+007F are folded; other bytes are
/// copied. Returns true when any was folded.
pub fn fold_overlong_utf8(input: &[u8], out: &mut Vec<u8>) -> bool {
    if !input
        .iter()
        .any(|&b| matches!(b, 0xc0 | 0xc1 | 0xe0 | 0xf0))
    {
        out.extend_from_slice(input);
        return false;
    }
    let cont = |b: Option<&u8>| {
        b.filter(|&&c| c & 0xc0 == 0x80)
            .map(|&c| u32::from(c & 0x3f))
    };
    let mut changed = false;
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        let folded = match b {
            0xc0 | 0xc1 => cont(input.get(i + 1)).map(|c1| ((u32::from(b & 0x1f) << 6) | c1, 2)),
            0xe0 => match (cont(input.get(i + 1)), cont(input.get(i + 2))) {
                (Some(c1), Some(c2)) => Some(((c1 << 6) | c2, 3)),
                _ => None,
            },
            0xf0 => match (
                cont(input.get(i + 1)),
                cont(input.get(i + 2)),
                cont(input.get(i + 3)),
            ) {
                (Some(c1), Some(c2), Some(c3)) => Some(((c1 << 12) | (c2 << 6) | c3, 4)),
                _ => None,
            },
            _ => None,
        };
        match folded {
            Some((cp, n)) if cp < 0x80 => {
                out.push(cp as u8);
                i += n;
                changed = true;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    changed
}

/// Full-width ASCII (U+FF01..U+FF5E, `＜ｓｃｒｉｐｔ＞`, `＇ ｏｒ １＝１`), the
/// small form variants (U+FE50..U+FE6B, `﹤script﹥`) and the ideographic
/// space (U+3000) folded to ASCII, as NFKC normalisation,
/// Windows best-fit conversion and some database collations do on the way
/// to the application. Returns true when anything was folded.
pub fn fold_fullwidth(input: &[u8], out: &mut Vec<u8>) -> bool {
    if memchr::memchr2(0xef, 0xe3, input).is_none() {
        out.extend_from_slice(input);
        return false;
    }
    let mut changed = false;
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        let folded = match (b, input.get(i + 1), input.get(i + 2)) {
            // U+FF01..U+FF3F: EF BC 81..BF; U+FF40..U+FF5E: EF BD 80..9E.
            (0xef, Some(0xbc), Some(&c)) if (0x81..=0xbf).contains(&c) => Some(c - 0x60),
            (0xef, Some(0xbd), Some(&c)) if (0x80..=0x9e).contains(&c) => Some(c - 0x20),
            (0xe3, Some(0x80), Some(0x80)) => Some(b' '),
            // Small Form Variants U+FE50..U+FE6B (EF B9 90..AB), which NFKC
            // maps to ASCII too (`﹤` is `<`, `﹨` is `\`); the few that
            // map to other characters are left alone.
            (0xef, Some(0xb9), Some(&c)) => small_form(c),
            _ => None,
        };
        match folded {
            Some(a) => {
                out.push(a);
                i += 3;
                changed = true;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    changed
}

/// The ASCII character NFKC makes of the Small Form Variant whose UTF-8
/// is EF B9 `last`, if any.
fn small_form(last: u8) -> Option<u8> {
    const ASCII: &[u8; 28] = b",\0.\0;:?!\0(){}\0\0#&*+-<>=\0\\$%@";
    let i = usize::from(last.checked_sub(0x90)?);
    ASCII.get(i).copied().filter(|&a| a != 0)
}

/// False only when none of the engine's decoding layers ([`percent_decode`]
/// without `plus`, [`html_entities`], [`backslash_escapes`],
/// [`fold_overlong_utf8`], [`fold_fullwidth`]) can change `input`: each
/// needs `%`, `&`, `\` or a non-ASCII byte. One pass with no early exit,
/// so it vectorises; the layers' own checks are one pass each.
pub fn layers_may_change(input: &[u8]) -> bool {
    input.iter().fold(false, |any, &b| {
        any | (b >= 0x80) | (b == b'%') | (b == b'&') | (b == b'\\')
    })
}

/// Shortest value tried as base64 (shorter ones are words and ids).
pub const MIN_BASE64_LEN: usize = 16;

/// The two base64 alphabets (RFC 4648 §4 and §5), decoding with or without
/// padding and ignoring trailing bits.
fn base64_engine(url: bool) -> &'static base64::engine::GeneralPurpose {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const CFG: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    static STD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CFG);
    static URL: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CFG);
    if url {
        &URL
    } else {
        &STD
    }
}

/// Decode the text of a part its headers declare base64 as Python's
/// `base64.b64decode` does (Django's `MultiPartParser`; `validate=False`,
/// CPython's non-strict `binascii.a2b_base64`): bytes outside the standard
/// alphabet are skipped, a `=` is padding only after two symbols of a
/// quantum and ends the data there. Unlike [`base64_text`] it sniffs
/// nothing: the sender said it is base64, and short or binary-looking
/// text reaches the application decoded all the same. A dangling symbol
/// (which Python refuses) is dropped. Appends to `out`; true when
/// anything was decoded.
pub fn base64_declared(input: &[u8], out: &mut Vec<u8>) -> bool {
    use base64::Engine as _;
    let mut symbols = Vec::with_capacity(input.len());
    for &b in input {
        if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' {
            symbols.push(b);
        } else if b == b'=' && symbols.len() % 4 >= 2 {
            break;
        }
    }
    if symbols.len() % 4 == 1 {
        symbols.pop();
    }
    let start = out.len();
    if base64_engine(false).decode_vec(&symbols, out).is_err() {
        out.truncate(start);
        return false;
    }
    out.len() > start
}

/// The symbols of `input` without padding, and whether they are base64url,
/// when `input` has the shape [`base64_text`] asks for.
fn base64_shape(input: &[u8]) -> Option<(&[u8], bool)> {
    let body = input
        .strip_suffix(b"==")
        .or_else(|| input.strip_suffix(b"="))
        .unwrap_or(input);
    if body.len() < MIN_BASE64_LEN || body.len() % 4 == 1 {
        return None;
    }
    let (mut std, mut url, mut upper, mut lower, mut digit) = (false, false, false, false, false);
    for &b in body {
        match b {
            b'A'..=b'Z' => upper = true,
            b'a'..=b'z' => lower = true,
            b'0'..=b'9' => digit = true,
            b'+' | b'/' => std = true,
            b'-' | b'_' => url = true,
            _ => return None,
        }
    }
    if (std && url) || !(digit || upper && lower) || !(upper || lower) {
        return None;
    }
    Some((body, url))
}

/// The header and payload of a JSON Web Token (`eyJ…` `.` `…` `.` `sig`,
/// RFC 7519): three dot-separated parts, the first the base64url of a JSON
/// object. Detection inspects both decoded; masking remembers the payload.
pub fn jwt_parts(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut parts = value.split(|&b| b == b'.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(_sig), None) if h.starts_with(b"eyJ") => Some((h, p)),
        _ => None,
    }
}

/// Decode `input` when it has the shape of base64 or base64url text (at
/// least [`MIN_BASE64_LEN`] bytes of one alphabet, padding only at the end,
/// a length that can be base64, both letter cases or a digit present) and
/// what it decodes to is mostly printable text (at least 90% printable ASCII
/// or whitespace, so keys, hashes and random ids are not handed on). The
/// decoded bytes are appended to `out`; returns true when they were.
pub fn base64_text(input: &[u8], out: &mut Vec<u8>) -> bool {
    use base64::Engine as _;
    let Some((body, url)) = base64_shape(input) else {
        return false;
    };
    // The decoded length follows from the input's (padding stripped,
    // trailing bits allowed): 3 bytes per 4 symbols, 1 or 2 for a tail.
    let decoded_len = body.len() / 4 * 3
        + match body.len() % 4 {
            2 => 1,
            3 => 2,
            _ => 0,
        };
    let engine = base64_engine(url);
    let start = out.len();
    let mut unprintable = 0usize;
    // Decoded a few quanta at a time (16 symbols), so a value that decodes
    // to binary (a key, a hash, a random id) is given up as soon as more
    // than a tenth of its whole decoded length is unprintable, usually in
    // the first piece. Pieces of whole quanta decode exactly as the whole.
    for piece in body.chunks(16) {
        let at = out.len();
        if engine.decode_vec(piece, out).is_err() {
            out.truncate(start);
            return false;
        }
        unprintable += out
            .get(at..)
            .unwrap_or_default()
            .iter()
            .filter(|&&b| !((0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r')))
            .count();
        // Less than 90% printable: unprintable * 10 > decoded_len.
        if unprintable * 10 > decoded_len {
            out.truncate(start);
            return false;
        }
    }
    out.len() > start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl Fn(&[u8], &mut Vec<u8>) -> bool, s: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let c = f(s, &mut out);
        (out, c)
    }

    /// `base64_text` as it was before it decoded piece by piece: decode the
    /// whole value, then count printable bytes.
    fn base64_text_whole(input: &[u8], out: &mut Vec<u8>) -> bool {
        use base64::Engine as _;
        // The shape checks are shared; only the decoding differs.
        let Some((body, url)) = super::base64_shape(input) else {
            return false;
        };
        let start = out.len();
        if base64_engine(url).decode_vec(body, out).is_err() {
            out.truncate(start);
            return false;
        }
        let decoded = out.get(start..).unwrap_or_default();
        let printable = decoded
            .iter()
            .filter(|&&b| (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r'))
            .count();
        if decoded.is_empty() || printable * 10 < decoded.len() * 9 {
            out.truncate(start);
            return false;
        }
        true
    }

    proptest::proptest! {
        /// Decoding piece by piece, with its early give-up, decides and
        /// decodes exactly as decoding the whole value. Inputs are the
        /// base64 of mostly-printable text with a few bytes flipped (near
        /// the 90% line), or random symbols.
        #[test]
        fn base64_pieces_agree_with_whole_decoding(
            text in proptest::collection::vec(0x20u8..0x7f, 0..80),
            flips in proptest::collection::vec((0usize..80, proptest::num::u8::ANY), 0..10),
            url in proptest::bool::ANY,
            pad in proptest::bool::ANY,
            symbols in proptest::collection::vec(
                proptest::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=".to_vec()),
                0..70,
            ),
        ) {
            use base64::Engine as _;
            let mut raw = text.clone();
            for (i, b) in &flips {
                if let Some(x) = raw.get_mut(*i) {
                    *x = *b;
                }
            }
            let engine = if url {
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
            } else {
                &base64::engine::general_purpose::STANDARD_NO_PAD
            };
            let mut encoded = engine.encode(&raw).into_bytes();
            if pad {
                while encoded.len() % 4 != 0 {
                    encoded.push(b'=');
                }
            }
            for input in [&encoded, &symbols] {
                let mut whole = b"keep".to_vec();
                let mut pieces = b"keep".to_vec();
                let a = base64_text_whole(input, &mut whole);
                let b = base64_text(input, &mut pieces);
                proptest::prop_assert_eq!(a, b, "{:?}", String::from_utf8_lossy(input));
                proptest::prop_assert_eq!(&whole, &pieces);
            }
        }

        /// `layers_may_change` never skips a change: without its bytes,
        /// every layer leaves the value as it is. The alphabet mixes each
        /// layer's trigger bytes with the ASCII around them.
        #[test]
        fn layers_may_change_never_skips_a_change(
            v in proptest::collection::vec(
                proptest::sample::select(
                    b"%&\\#;xu{}0123456789abcdefABCDEF lt;gt;amp \x80\xaf\xbc\xbd\xc0\xc1\xe0\xe3\xef\xf0\x00'<>/".to_vec()
                ),
                0..24,
            )
        ) {
            if !layers_may_change(&v) {
                let mut out = Vec::new();
                proptest::prop_assert!(!percent_decode(&v, false, &mut out));
                out.clear();
                proptest::prop_assert!(!html_entities(&v, &mut out));
                out.clear();
                proptest::prop_assert!(!backslash_escapes(&v, &mut out));
                out.clear();
                proptest::prop_assert!(!fold_overlong_utf8(&v, &mut out));
                out.clear();
                proptest::prop_assert!(!fold_fullwidth(&v, &mut out));
            }
        }
    }

    #[test]
    fn layers_may_change_sees_each_layer() {
        for v in [
            &b"%41"[..],
            b"&lt;",
            b"\\x41",
            b"\xc0\xaf",
            b"\xef\xbc\x9c",
            b"\xe3\x80\x80",
        ] {
            assert!(layers_may_change(v), "{v:?}");
        }
        assert!(!layers_may_change(b"plain text, 1.2.3.4 / <b> 'q'"));
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
        // Octal, as JavaScript reads it: at most one byte's worth of digits.
        assert_eq!(
            run(backslash_escapes, br"eval('\141lert(1)')"),
            (b"eval('alert(1)')".to_vec(), true)
        );
        assert_eq!(
            run(backslash_escapes, br"$'\143\141\164' /etc/passwd"),
            (b"$'cat' /etc/passwd".to_vec(), true)
        );
        assert_eq!(
            run(backslash_escapes, br"\0\7\101\477\8"),
            (b"\0\x07A'7\\8".to_vec(), true)
        );
    }

    #[test]
    fn overlong_utf8() {
        let f = fold_overlong_utf8;
        assert_eq!(
            run(f, b"..\xc0\xaf..\xc0\xafetc"),
            (b"../../etc".to_vec(), true)
        );
        assert_eq!(
            run(f, b"\xe0\x80\xaf\xf0\x80\x80\xaf"),
            (b"//".to_vec(), true)
        );
        assert_eq!(run(f, b"\xc1\x9c"), (b"\\".to_vec(), true));
        // Real UTF-8 and broken sequences are copied.
        assert_eq!(
            run(f, "é€😀".as_bytes()),
            ("é€😀".as_bytes().to_vec(), false)
        );
        assert_eq!(run(f, b"\xc0"), (b"\xc0".to_vec(), false));
        assert_eq!(run(f, b"\xe0\x80"), (b"\xe0\x80".to_vec(), false));
        assert_eq!(run(f, b"\xc0A"), (b"\xc0A".to_vec(), false));
        // An overlong form of a non-ASCII code point is left alone.
        assert_eq!(run(f, b"\xe0\x83\xbf"), (b"\xe0\x83\xbf".to_vec(), false));
    }

    #[test]
    fn base64_shape() {
        // "<script>alert(1)</script>" in both alphabets, padded or not.
        assert_eq!(
            run(base64_text, b"PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
            (b"<script>alert(1)</script>".to_vec(), true)
        );
        assert_eq!(
            run(base64_text, b"PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg"),
            (b"<script>alert(1)</script>".to_vec(), true)
        );
        // "?>" runs have '/' and '+' in std and '_' and '-' in url form.
        let q = b"?>?>?>?>?>?>?>?>".to_vec();
        assert_eq!(
            run(base64_text, b"Pz4_Pj8-Pz4_Pj8-Pz4_Pg=="),
            (q.clone(), true)
        );
        assert_eq!(run(base64_text, b"Pz4/Pj8+Pz4/Pj8+Pz4/Pg=="), (q, true));
        // Too short, mixed alphabets, words, random bytes, bad length.
        assert!(!run(base64_text, b"YWRtaW4=").1);
        assert!(!run(base64_text, b"Pz4_Pj8+Pz4_Pj8-Pz4_Pg==").1);
        assert!(!run(base64_text, b"abcdefghijklmnopqrstuvwxyz").1);
        assert!(!run(base64_text, b"3q2+7wAAAAD/////3q2+7wAAAAD/////").1);
        assert!(!run(base64_text, b"PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0P").1);
        assert!(!run(base64_text, b"PHNjcmlwdD5h bGVydCgxKTwvc2NyaXB0Pg").1);
        assert!(!run(base64_text, b"1234567890123456").1);
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
