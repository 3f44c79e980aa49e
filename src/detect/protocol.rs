//! Request-level protocol findings: HTTP semantics a well-behaved client
//! never produces and that attacks rely on (method confusion, framing on
//! bodyless methods, Range abuse, control bytes and broken encodings in
//! arguments, charset and Content-Type confusion, argument floods).
//!
//! Each finding is a stable id reported by the engine as a `protocol-ID`
//! hit (like the body findings of [`super::point`]). Only violations of the
//! HTTP / URL / UTF-8 grammars or of registries are flagged; policy choices
//! that legal traffic makes every day (no Accept header, non-ASCII header
//! text, IP-literal Host, HTTP/1.0 without Host, `_method` overrides) are
//! deliberately not.

use super::decode::percent_decode;
use crate::http::Request;

/// Thresholds of the request-level checks (`[detect.protocol]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProtocolPolicy {
    /// Most byte ranges in one `Range` header (default 5). Browsers and
    /// media players ask for one; more overlapping or many ranges is the
    /// Apache-Killer shape (CVE-2011-3192). PDF byte-serving asks for more,
    /// hence `max_ranges_pdf`.
    pub max_ranges: usize,
    /// Most ranges for a `.pdf` target (default 62, as CRS 920201).
    pub max_ranges_pdf: usize,
    /// Longest argument name, in bytes after decoding (default 100, the
    /// CRS setup example `tx.arg_name_length`). Names are identifiers.
    pub max_arg_name_len: usize,
    /// Most arguments in the query plus a urlencoded body (default 255, the
    /// CRS setup example `tx.max_num_args`; hash-collision floods use
    /// thousands).
    pub max_args: usize,
}

impl Default for ProtocolPolicy {
    fn default() -> Self {
        ProtocolPolicy {
            max_ranges: 5,
            max_ranges_pdf: 62,
            max_arg_name_len: 100,
            max_args: 255,
        }
    }
}

/// Methods of the IANA HTTP Method Registry (RFC 9110, WebDAV, DeltaV,
/// CalDAV, ...) plus the widespread `PURGE` of HTTP caches.
const REGISTERED_METHODS: &[&[u8]] = &[
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"CONNECT",
    b"OPTIONS",
    b"TRACE",
    b"PATCH",
    b"QUERY",
    b"ACL",
    b"BASELINE-CONTROL",
    b"BIND",
    b"CHECKIN",
    b"CHECKOUT",
    b"COPY",
    b"LABEL",
    b"LINK",
    b"LOCK",
    b"MERGE",
    b"MKACTIVITY",
    b"MKCALENDAR",
    b"MKCOL",
    b"MKREDIRECTREF",
    b"MKWORKSPACE",
    b"MOVE",
    b"ORDERPATCH",
    b"PRI",
    b"PROPFIND",
    b"PROPPATCH",
    b"REBIND",
    b"REPORT",
    b"SEARCH",
    b"UNBIND",
    b"UNCHECKOUT",
    b"UNLINK",
    b"UNLOCK",
    b"UPDATE",
    b"UPDATEREDIRECTREF",
    b"VERSION-CONTROL",
    b"PURGE",
];

/// Charsets a request body or an Accept header plausibly names. Anything
/// else (EBCDIC `ibm037`/`cp1026`, UTF-7/16/32, made-up names) makes the
/// server decode differently from an inspecting proxy: a WAF bypass.
const CHARSETS: &[&[u8]] = &[
    b"utf-8",
    b"utf8",
    b"us-ascii",
    b"ascii",
    b"iso-8859-1",
    b"iso-8859-2",
    b"iso-8859-15",
    b"latin1",
    b"windows-1250",
    b"windows-1251",
    b"windows-1252",
    b"shift_jis",
    b"euc-jp",
    b"euc-kr",
    b"gb2312",
    b"gbk",
    b"gb18030",
    b"big5",
    b"koi8-r",
];

/// Run every request-level check; `found` receives each finding id.
pub fn check(req: &Request, policy: &ProtocolPolicy, found: &mut dyn FnMut(&'static str)) {
    method(req, found);
    framing(req, found);
    // Percent-encoded controls need a `%`: one scan of the whole head
    // instead of one per value, most heads having none.
    let any_percent = memchr::memchr(b'%', req.headers.all_bytes()).is_some();
    let mut content_types = 0u32;
    for h in &req.headers {
        let (name, value) = (h.name, h.value);
        if name.eq_ignore_ascii_case(b"range") {
            range(req, value, policy, found);
        } else if name.eq_ignore_ascii_case(b"request-range") {
            // Netscape-era header no current client sends; the Apache-Killer
            // variant that slipped past `Range` limits.
            found("request-range");
        } else if name.eq_ignore_ascii_case(b"connection") {
            connection(value, found);
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            // Cleartext HTTP/2 (RFC 7540 §3.2): once the server switches,
            // nothing more of the connection is read as HTTP/1 (review
            // round 16; "h2c smuggling" past inspecting proxies). Browsers
            // never send it.
            if value
                .split(|&b| b == b',')
                .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"h2c"))
            {
                found("upgrade-h2c");
            }
        } else if name.eq_ignore_ascii_case(b"content-type") {
            content_type(value, found);
            // Servers read the first; a filter reading the last sees
            // another body type (review round 17).
            content_types += 1;
            if content_types == 2 {
                found("content-type-duplicate");
            }
        } else if name.eq_ignore_ascii_case(b"accept") {
            accept(value, found);
        } else if name.eq_ignore_ascii_case(b"host") {
            // RFC 9112 §3.2: an empty Host is only for targets without an
            // authority, which http(s) never are.
            if value.trim_ascii().is_empty() {
                found("host-empty");
            }
        } else if name.eq_ignore_ascii_case(b"cookie") {
            // RFC 2109 `$Version` from a client: servers that still honour
            // it switch to quoted-string cookie parsing, so `"a; b=c"` is
            // one value to them and several cookies to a filter (cookie
            // smuggling). RFC 6265 clients never send it.
            let first = value.trim_ascii_start();
            if first.len() >= 8
                && first
                    .get(..8)
                    .is_some_and(|p| p.eq_ignore_ascii_case(b"$version"))
            {
                found("cookie-v1-attribute");
            }
        } else if name.eq_ignore_ascii_case(b"x-up-devcap-post-charset") {
            // Openwave UP browsers: the charset of the POST body.
            if !charset_known(value) {
                found("charset-evasion");
            }
        }
        if any_percent && !name.eq_ignore_ascii_case(b"user-agent") {
            control_bytes_in_header(value, found);
        }
    }
    arguments(req, policy, found);
}

fn method(req: &Request, found: &mut dyn FnMut(&'static str)) {
    let m = req.method.as_slice();
    if m.is_empty() {
        return;
    }
    if req.is_http2_preface() {
        // The rest of the connection is HTTP/2, which is not inspected: the
        // preface makes that visible (review round 16's open item).
        found("http2-prior-knowledge");
        return;
    }
    if !m
        .iter()
        .all(|b| b.is_ascii_uppercase() || *b == b'-' || *b == b'_')
    {
        // Lowercase, digits or punctuation (`|GET`): a token no server's
        // method table has, probing parser leniency.
        found("method-invalid");
    } else if !REGISTERED_METHODS.contains(&m) {
        found("method-unregistered");
    }
}

fn has_header(req: &Request, name: &str) -> bool {
    req.header(name).is_some()
}

/// Framing on methods that carry no content, and content without framing.
fn framing(req: &Request, found: &mut dyn FnMut(&'static str)) {
    let m = req.method.as_slice();
    let te = has_header(req, "transfer-encoding");
    let cl = req.header("content-length");
    if m == b"GET" || m == b"HEAD" {
        // RFC 9110 §9.3.1-2: content on GET / HEAD has no meaning and is
        // rejected or ignored by many servers; a front end that forwards it
        // while the back end ignores it desynchronises the connection.
        let cl_nonzero = cl.is_some_and(|v| v.trim_ascii() != b"0");
        if te || cl_nonzero || req.body_len > 0 {
            found("body-on-get");
        }
    } else if !te && cl.is_none() && req.body_len == 0 && has_header(req, "content-type") {
        // Content-Type announces content, yet nothing frames it (RFC 9112
        // §6.3: the body is then empty): whoever parses next may read the
        // following bytes as this request's body.
        found("body-length-missing");
    } else if req.body_len > 0 && !has_header(req, "content-type") {
        // RFC 9110 §8.3: content without a Content-Type. Body parsers of
        // inspecting proxies skip it, while the application sniffs and
        // parses it (JSON, XML): the classic way past body inspection.
        found("body-content-type-missing");
    }
}

/// `Range` (RFC 9110 §14.2): unit `bytes`, each spec `first-last`,
/// `first-` or `-suffix`, with first <= last.
fn range(
    req: &Request,
    value: &[u8],
    policy: &ProtocolPolicy,
    found: &mut dyn FnMut(&'static str),
) {
    let v = value.trim_ascii();
    let Some(eq) = memchr::memchr(b'=', v) else {
        found("range-invalid");
        return;
    };
    let unit = v.get(..eq).unwrap_or_default().trim_ascii();
    let specs = v.get(eq + 1..).unwrap_or_default();
    if !unit.eq_ignore_ascii_case(b"bytes") {
        // Other units are legal but no server implements them.
        if unit.is_empty() || !unit.iter().all(|b| b.is_ascii_alphabetic()) {
            found("range-invalid");
        }
        return;
    }
    let mut count = 0usize;
    let mut invalid = false;
    for spec in specs.split(|&b| b == b',') {
        let spec = spec.trim_ascii();
        if spec.is_empty() {
            continue;
        }
        count += 1;
        let Some(dash) = memchr::memchr(b'-', spec) else {
            invalid = true;
            continue;
        };
        let first = spec.get(..dash).unwrap_or_default().trim_ascii();
        let last = spec.get(dash + 1..).unwrap_or_default().trim_ascii();
        match (number(first), number(last)) {
            (Some(f), Some(l)) if l < f => invalid = true,
            (Some(_), _) if !last.is_empty() && number(last).is_none() => invalid = true,
            (None, _) if !first.is_empty() => invalid = true,
            (None, None) => invalid = true,
            _ => {}
        }
    }
    if invalid || count == 0 {
        found("range-invalid");
    }
    let path = req
        .uri
        .split(|&b| b == b'?')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let max = if path.ends_with(b".pdf") {
        policy.max_ranges_pdf
    } else {
        policy.max_ranges
    };
    if count > max {
        found("range-many");
    }
}

fn number(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// `Connection` with a repeated option or both `close` and `keep-alive`:
/// no client library produces it; it probes hop-by-hop handling.
fn connection(value: &[u8], found: &mut dyn FnMut(&'static str)) {
    let mut close = 0;
    let mut keep = 0;
    for t in value.split(|&b| b == b',') {
        let t = t.trim_ascii();
        if t.eq_ignore_ascii_case(b"close") {
            close += 1;
        } else if t.eq_ignore_ascii_case(b"keep-alive") {
            keep += 1;
        }
    }
    if close + keep > 1 {
        found("connection-conflict");
    }
}

fn unquote(v: &[u8]) -> &[u8] {
    let v = v.trim_ascii();
    v.strip_prefix(b"\"")
        .and_then(|c| c.strip_suffix(b"\""))
        .or_else(|| v.strip_prefix(b"'").and_then(|c| c.strip_suffix(b"'")))
        .unwrap_or(v)
}

/// RFC 9110 §5.6.2 tchar.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(crate) fn charset_known(cs: &[u8]) -> bool {
    let cs = unquote(cs);
    CHARSETS.iter().any(|c| cs.eq_ignore_ascii_case(c))
}

/// Split a media type's parameters (`; a=b; c="d;e"`), quotes respected.
fn params(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(v);
    std::iter::from_fn(move || {
        let r = rest?;
        let mut quoted = false;
        for (i, &b) in r.iter().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b';' if !quoted => {
                    rest = r.get(i + 1..);
                    return r.get(..i);
                }
                _ => {}
            }
        }
        rest = None;
        Some(r)
    })
}

/// Content-Type of the request: a charset the body decoder and an
/// inspecting proxy will not agree on, several charsets, or a parameter
/// carrying another media type (`;boundary="application/json"`), which
/// parsers that search the header for a type pick instead of the real one.
fn content_type(value: &[u8], found: &mut dyn FnMut(&'static str)) {
    let mut charsets = 0;
    let mut confusion = false;
    let mut malformed = false;
    let mut multipart = false;
    let mut boundary = false;
    for (i, p) in params(value).enumerate() {
        let p = p.trim_ascii();
        if i == 0 {
            // RFC 9110 §8.3.1: media-type = type "/" subtype, both tokens.
            let (t, sub) = match memchr::memchr(b'/', p) {
                Some(k) => (
                    p.get(..k).unwrap_or_default(),
                    p.get(k + 1..).unwrap_or_default(),
                ),
                None => (p, &b""[..]),
            };
            let token = |x: &[u8]| !x.is_empty() && x.iter().all(|&b| is_tchar(b));
            if !token(t) || !token(sub) {
                malformed = true;
            }
            multipart = t.eq_ignore_ascii_case(b"multipart");
            continue;
        }
        if p.is_empty() {
            continue;
        }
        let Some(eq) = memchr::memchr(b'=', p) else {
            // RFC 9110 §5.6.6: parameter = token "=" ( token / quoted-string ).
            malformed = true;
            continue;
        };
        let key = p.get(..eq).unwrap_or_default().trim_ascii();
        let val = p.get(eq + 1..).unwrap_or_default();
        if val.first().is_some_and(|b| b.is_ascii_whitespace()) {
            malformed = true;
        }
        let val = unquote(val);
        if key.eq_ignore_ascii_case(b"boundary") {
            boundary = true;
        }
        if key.eq_ignore_ascii_case(b"charset") {
            charsets += 1;
            if !charset_known(val) {
                found("charset-evasion");
            }
        }
        if looks_like_media_type(val) || contains_ci(val, b"charset=") {
            confusion = true;
        }
    }
    if charsets > 1 {
        found("charset-evasion");
    }
    if confusion {
        found("content-type-confusion");
    }
    if malformed || (multipart && !boundary) {
        // A multipart type without a boundary cannot be split.
        found("content-type-malformed");
    }
}

fn looks_like_media_type(v: &[u8]) -> bool {
    let Some(slash) = memchr::memchr(b'/', v) else {
        return false;
    };
    let (t, s) = (
        v.get(..slash).unwrap_or_default(),
        v.get(slash + 1..).unwrap_or_default(),
    );
    const TYPES: &[&[u8]] = &[
        b"application",
        b"text",
        b"multipart",
        b"image",
        b"audio",
        b"video",
        b"message",
        b"model",
        b"font",
    ];
    TYPES.iter().any(|x| t.eq_ignore_ascii_case(x))
        && !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// Whether `h` holds `n`, ASCII case-insensitively (`n` lowercase and
/// non-empty): only the positions of its first letter are compared.
fn contains_ci(h: &[u8], n: &[u8]) -> bool {
    let Some(&first) = n.first() else {
        return true;
    };
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), h).any(|i| {
        h.get(i..i + n.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(n))
    })
}

/// `Accept: text/html;charset=cp1026`: asking for a response in a charset
/// an output filter cannot read (EBCDIC, UTF-16) hides leaked data.
fn accept(value: &[u8], found: &mut dyn FnMut(&'static str)) {
    // Browsers' long Accept lists name no charset.
    if !contains_ci(value, b"charset") {
        return;
    }
    for range in value.split(|&b| b == b',') {
        for p in params(range).skip(1) {
            let p = p.trim_ascii();
            if let Some(eq) = memchr::memchr(b'=', p) {
                let key = p.get(..eq).unwrap_or_default().trim_ascii();
                if key.eq_ignore_ascii_case(b"charset")
                    && !charset_known(p.get(eq + 1..).unwrap_or_default())
                {
                    found("charset-evasion");
                    return;
                }
            }
        }
    }
}

/// NUL and other C0 controls (CR/LF included) that a header value carries
/// percent-encoded: they reach the application decoded (log injection,
/// response splitting, string truncation).
fn control_bytes_in_header(value: &[u8], found: &mut dyn FnMut(&'static str)) {
    if memchr::memchr(b'%', value).is_none() {
        return;
    }
    let mut dec = Vec::new();
    percent_decode(value, false, &mut dec);
    if dec.contains(&0) {
        found("nul-byte");
    } else if dec.iter().any(|&b| b == b'\r' || b == b'\n') {
        found("crlf-in-header");
    } else if dec.iter().any(|&b| is_control(b)) {
        found("control-char");
    }
}

/// C0 controls other than TAB, CR, LF, and DEL.
fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t' && b != b'\r' && b != b'\n') || b == 0x7f
}

/// `%` followed by a letter or digit and another text byte that do not
/// make a hex pair (`%1G`, `%w2`, `%7%6F`, `%u0F`): an escape that decoders repair differently (IIS, ASP and
/// PHP disagree). A `%` before a space, punctuation or the end is a literal
/// percent sign a sloppy client left unencoded and is not flagged.
fn bad_percent(raw: &[u8]) -> bool {
    let mut i = 0;
    while let Some(off) = raw.get(i..).and_then(|r| memchr::memchr(b'%', r)) {
        let p = i + off;
        let h1 = raw.get(p + 1).copied();
        let h2 = raw.get(p + 2).copied();
        let is_hex = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_hexdigit());
        let u = h1.is_some_and(|c| c == b'u' || c == b'U')
            && (2..6).all(|k| is_hex(raw.get(p + k).copied()));
        let alnum = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        let h2_text = h2.is_some_and(|c| !c.is_ascii_whitespace() && c != b'&' && c != b'=');
        if alnum(h1) && h2_text && !(is_hex(h1) && is_hex(h2)) && !u {
            return true;
        }
        i = p + 1;
    }
    false
}

/// `%uFF01`-`%uFF5E`: IIS `%u` escapes of fullwidth ASCII forms, which
/// best-fit mapping turns back into `/`, `<`, `'` behind the inspection.
fn fullwidth_u(raw: &[u8]) -> bool {
    memchr::memchr_iter(b'%', raw).any(|i| {
        // `raw[i]` is the `%`; a tail shorter than six bytes is empty.
        let w = raw.get(i..i + 6).unwrap_or_default();
        w.get(1).is_some_and(|c| c.eq_ignore_ascii_case(&b'u'))
            && w.get(2).is_some_and(|c| c.eq_ignore_ascii_case(&b'f'))
            && w.get(3).is_some_and(|c| c.eq_ignore_ascii_case(&b'f'))
            // FF00-FF5F: fullwidth ASCII. FF61 on (halfwidth katakana) is
            // what JavaScript `escape()` produces for Japanese text.
            && w.get(4).is_some_and(|c| b"012345".contains(c))
            && w.get(5).is_some_and(u8::is_ascii_hexdigit)
    })
}

/// Printable ASCII without `%`: what most arguments are. One branch-free
/// pass (the compiler vectorises the fold) instead of decoding and then
/// scanning for controls, NUL and broken UTF-8.
fn plain_text(v: &[u8]) -> bool {
    !v.iter().fold(false, |odd, &b| {
        odd | !(0x20..0x7f).contains(&b) | (b == b'%')
    })
}

/// A UTF-8 lead byte followed by continuation bytes that do not form a
/// valid character: overlong forms (`%c0%af` for `/`), surrogates, code
/// points above U+10FFFF, truncated sequences. A lone high byte followed by
/// ASCII is legacy single-byte text (Latin-1) and is not flagged.
fn utf8_abuse(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        let b = s.get(i).copied().unwrap_or(0);
        if b < 0xC0 {
            i += 1;
            continue;
        }
        let cont = |k: usize| s.get(i + k).is_some_and(|c| (0x80..0xC0).contains(c));
        if !cont(1) {
            i += 1;
            continue;
        }
        let need = match b {
            0xC2..=0xDF => 1,
            0xE0..=0xEF => 2,
            0xF0..=0xF4 => 3,
            // C0/C1 (overlong two-byte) and F5-FF (beyond Unicode) followed
            // by a continuation byte.
            _ => return true,
        };
        let end = (i + 1 + need).min(s.len());
        if std::str::from_utf8(s.get(i..end).unwrap_or_default()).is_err() {
            return true;
        }
        i += 1 + need;
    }
    false
}

/// Checks over the arguments of the query and of a urlencoded body.
fn arguments(req: &Request, policy: &ProtocolPolicy, found: &mut dyn FnMut(&'static str)) {
    let uri = req.uri.as_slice();
    let (path, query) = super::decode::split_once(uri, b'?');
    let mut dec = Vec::new();
    // Path: CR/LF or NUL decoded from the request-target.
    if memchr::memchr(b'%', path).is_some() {
        percent_decode(path, false, &mut dec);
        if dec.iter().any(|&b| b == b'\r' || b == b'\n') {
            found("crlf-in-path");
        }
        if dec.contains(&0) {
            found("nul-byte");
        }
        if utf8_abuse(&dec) {
            found("utf8-invalid");
        }
    }
    let form = req.header("content-type").is_some_and(|ct| {
        let ct = ct.trim_ascii();
        ct.len() >= 33
            && ct
                .get(..33)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"application/x-www-form-urlencoded"))
    });
    let mut count = 0usize;
    // A hand-written form body often ends in a line break: not part of
    // its last argument.
    let body: &[u8] = if form {
        let mut b = req.body.as_slice();
        while let Some(rest) = b.strip_suffix(b"\n").or_else(|| b.strip_suffix(b"\r")) {
            b = rest;
        }
        b
    } else {
        b""
    };
    let sources: [&[u8]; 2] = [query, body];
    for (si, src) in sources.into_iter().enumerate() {
        if src.is_empty() {
            continue;
        }
        if bad_percent(src) {
            found("percent-invalid");
        }
        if fullwidth_u(src) {
            found("percent-u-fullwidth");
        }
        let last = src.split(|&b| b == b'&').count().saturating_sub(1);
        for (pi, pair) in src.split(|&b| b == b'&').enumerate() {
            if pair.is_empty() {
                continue;
            }
            count += 1;
            let (name, value) = super::decode::split_arg(pair);
            if plain_text(pair) {
                // Nothing to decode and no control or non-ASCII byte: of
                // the checks below only the name's length can fire (`+`
                // decodes to a space, one byte for one).
                if name.len() > policy.max_arg_name_len {
                    found("arg-name-long");
                }
                continue;
            }
            pair_checks(name, value, si == 1 && pi == last, policy, &mut dec, found);
        }
    }
    if count > policy.max_args {
        found("args-many");
    }
}

/// The checks on one argument: its decoded name (length, line breaks) and
/// both decoded halves (NUL, controls, broken UTF-8). `last_in_body`: the
/// body's last argument, whose trailing line break is the form's own.
fn pair_checks(
    name: &[u8],
    value: &[u8],
    last_in_body: bool,
    policy: &ProtocolPolicy,
    dec: &mut Vec<u8>,
    found: &mut dyn FnMut(&'static str),
) {
    dec.clear();
    percent_decode(name, true, dec);
    if dec.is_empty() {
        dec.extend_from_slice(name);
    }
    if dec.len() > policy.max_arg_name_len {
        found("arg-name-long");
    }
    let name_dec = if last_in_body {
        dec.trim_ascii_end()
    } else {
        dec.as_slice()
    };
    if name_dec.iter().any(|&b| b == b'\r' || b == b'\n') {
        // A line break in a parameter name: header or log injection.
        found("crlf-in-arg-name");
    }
    check_decoded(dec, found);
    dec.clear();
    percent_decode(value, true, dec);
    if dec.is_empty() {
        dec.extend_from_slice(value);
    }
    check_decoded(dec, found);
}

fn check_decoded(dec: &[u8], found: &mut dyn FnMut(&'static str)) {
    if dec.contains(&0) {
        found("nul-byte");
    } else if dec.iter().any(|&b| is_control(b)) {
        found("control-char");
    }
    if utf8_abuse(dec) {
        found("utf8-invalid");
    }
}

/// A multipart `Content-Disposition` whose `name` or `filename` carries
/// `;`, `=`, `"` or `\` inside its value: parsers that split on `;` or
/// honour backslash escapes read another name (or a second `filename`)
/// than the one an inspecting proxy saw (CRS 920120). Named HTML entities
/// (`&eacute;`, which browsers send for characters outside the form's
/// charset) and Windows paths in a filename (`C:\dir\a.txt`, old IE) are
/// legitimate.
pub fn disposition_param_injection(hval: &[u8]) -> bool {
    for p in params(hval).skip(1) {
        let p = p.trim_ascii();
        let Some(eq) = memchr::memchr(b'=', p) else {
            continue;
        };
        let key = p.get(..eq).unwrap_or_default().trim_ascii();
        let is_file = key.eq_ignore_ascii_case(b"filename");
        if !is_file && !key.eq_ignore_ascii_case(b"name") {
            continue;
        }
        let v = p.get(eq + 1..).unwrap_or_default().trim_ascii();
        let inner = match v.strip_prefix(b"\"") {
            Some(rest) => rest.strip_suffix(b"\"").unwrap_or(rest),
            None => v,
        };
        if param_value_injected(inner, is_file) {
            return true;
        }
    }
    false
}

fn param_value_injected(v: &[u8], is_file: bool) -> bool {
    let windows_path = is_file
        && (v.starts_with(b"\\\\")
            || (v.get(1) == Some(&b':')
                && v.get(2) == Some(&b'\\')
                && v.first().is_some_and(u8::is_ascii_alphabetic)));
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        match b {
            b'&' => {
                // `&name;` / `&#123;`: skip a whole entity.
                let rest = v.get(i + 1..).unwrap_or_default();
                let n = rest
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'#')
                    .count();
                if n > 0 && rest.get(n) == Some(&b';') {
                    i += n + 2;
                    continue;
                }
            }
            b';' | b'=' | b'"' => return true,
            b'\\' if !windows_path => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let interesting = proptest::sample::select(
            b"%uUfF05+=;\"cChHsS\r\n\0\x01\x1f\x7f\x80\xc0\xaf\xffa9 Z".to_vec(),
        );
        proptest::collection::vec(prop_oneof![3 => interesting, 1 => any::<u8>()], 0..24)
    }

    fn fullwidth_u_reference(raw: &[u8]) -> bool {
        raw.windows(6).any(|w| {
            w[0] == b'%'
                && w[1].eq_ignore_ascii_case(&b'u')
                && w[2].eq_ignore_ascii_case(&b'f')
                && w[3].eq_ignore_ascii_case(&b'f')
                && b"012345".contains(&w[4])
                && w[5].is_ascii_hexdigit()
        })
    }

    proptest::proptest! {
        /// The shortcut for plain arguments reports what the full checks
        /// report on them.
        #[test]
        fn plain_arguments_shortcut_agrees(
            name in bytes(),
            value in bytes(),
            max_name in 0usize..8,
            last_in_body: bool,
        ) {
            let mut pair = name.clone();
            pair.push(b'=');
            pair.extend_from_slice(&value);
            let (n, v) = super::super::decode::split_arg(&pair);
            let policy = ProtocolPolicy { max_arg_name_len: max_name, ..ProtocolPolicy::default() };
            let mut full = Vec::new();
            pair_checks(n, v, last_in_body, &policy, &mut Vec::new(), &mut |f| full.push(f));
            if plain_text(&pair) {
                let short: Vec<&str> = if n.len() > max_name { vec!["arg-name-long"] } else { vec![] };
                proptest::prop_assert_eq!(full, short);
            }
        }

        #[test]
        fn contains_ci_agrees_with_a_window_scan(
            pre in bytes(),
            mid in proptest::sample::select(vec!["", "charset", "CharSet", "charse", "chARSET="]),
            post in bytes(),
        ) {
            let mut h = pre.clone();
            h.extend_from_slice(mid.as_bytes());
            h.extend_from_slice(&post);
            for n in [&b"charset"[..], b"charset=", b"c"] {
                let reference = h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
                proptest::prop_assert_eq!(contains_ci(&h, n), reference);
            }
        }

        /// Parameters split at unquoted `;` only, and nothing is lost.
        #[test]
        fn params_split_at_unquoted_semicolons(v in bytes()) {
            let parts: Vec<&[u8]> = params(&v).collect();
            proptest::prop_assert_eq!(parts.join(&b';'), v.clone());
            let mut quoted = false;
            let mut cuts = 0;
            for &b in &v {
                match b {
                    b'"' => quoted = !quoted,
                    b';' if !quoted => cuts += 1,
                    _ => {}
                }
            }
            proptest::prop_assert_eq!(parts.len(), cuts + 1);
        }

        #[test]
        fn fullwidth_u_agrees_with_a_window_scan(raw in bytes()) {
            proptest::prop_assert_eq!(fullwidth_u(&raw), fullwidth_u_reference(&raw));
        }
    }

    /// The HTTP/2 preface names itself, and only the exact one does.
    #[test]
    fn the_http2_preface_is_a_finding() {
        let ids = |method: &str, target: &str| {
            let mut r = crate::detect::tests::req(method, target, &[], b"");
            r.version = crate::http::Version::Other(2, 0);
            let mut ids = Vec::new();
            check(&r, &ProtocolPolicy::default(), &mut |id| ids.push(id));
            ids
        };
        assert_eq!(ids("PRI", "*"), ["http2-prior-knowledge"]);
        assert!(!ids("PRI", "/").contains(&"http2-prior-knowledge"));
    }

    /// Review round 16. Defect: a request asking to switch to cleartext
    /// HTTP/2 (`Upgrade: h2c`) is not a finding, and once the server
    /// answers `101` the HTTP layer treats the rest of the connection as an
    /// opaque tunnel (`HttpSession` `tunnel`, counted only in
    /// `non_http_bytes`), so every request the client then sends as HTTP/2
    /// frames goes uninspected, with no record at all. Servers that take
    /// the upgrade: Go with `x/net/http2/h2c`, Apache httpd with `Protocols
    /// h2c http/1.1` (mod_http2), Tomcat with `UpgradeProtocol
    /// Http2Protocol`, Envoy, nghttpx; "h2c smuggling" (Bishop Fox, 2020)
    /// uses it to get past inspecting proxies. Browsers never send h2c.
    /// Severity: Medium (a whole connection hidden, on h2c-capable back ends).
    #[test]
    fn review16_h2c_upgrade_is_a_finding() {
        let r = crate::detect::tests::req(
            "GET",
            "/",
            &[
                ("Host", "a"),
                ("Connection", "Upgrade, HTTP2-Settings"),
                ("Upgrade", "h2c"),
                ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"),
            ],
            b"",
        );
        let mut ids = Vec::new();
        check(&r, &ProtocolPolicy::default(), &mut |id| ids.push(id));
        assert!(ids.iter().any(|id| id.contains("h2c")), "{ids:?}");
    }

    #[test]
    fn plain_text_is_printable_ascii_without_percent() {
        assert!(plain_text(b"a+b=c d~"));
        assert!(plain_text(b""));
        for odd in [
            &b"a%20"[..],
            b"a\x00",
            b"\x1f",
            b"\x7f",
            b"caf\xc3\xa9",
            b"a\r\n",
        ] {
            assert!(!plain_text(odd), "{odd:?}");
        }
        assert!(fullwidth_u(b"x=%uFF1c"));
        assert!(!fullwidth_u(b"x=%uFF6"));
    }
}
