//! Splitting a request into named inspection points.
//!
//! Owns the mapping from a [`Request`] to `(kind, location, value)` triples:
//! the decoded and normalised path, each query argument (name and value),
//! each header, each cookie, and the body split by its Content-Type (form,
//! JSON, multipart, XML/SOAP, GraphQL, else raw), after inflating a
//! `Content-Encoding: gzip / deflate` body (see [`super::body`]). Values that
//! have the shape of base64 text, and the header and payload of JWTs, are
//! decoded into extra points (`cookie:s:base64`, `header:Authorization:jwt.payload`). Values live in one reusable byte arena and
//! locations in one reusable string arena of [`Points`], so a worker that
//! keeps its `Points` allocates nothing once they have grown. Bounded by
//! [`DetectLimits`]: at most `max_points` points (the rest are dropped and
//! counted in `point_limit_hits`), at most `max_point_bytes` bytes per value
//! (cut and counted in `point_bytes_truncated`).

use std::fmt::Write as _;
use std::ops::Range;

use super::body::inflate::{self, Coding, Inflated};
use super::body::{graphql, xml};
use super::decode::{base64_text, fold_overlong_utf8, normalise_path, percent_decode};
use super::{DetectLimits, DetectStats};
use crate::http::Request;

/// Most nesting levels of a JSON body that are walked.
pub const MAX_JSON_DEPTH: usize = 32;
/// Most bytes of a name kept in a location string.
pub const MAX_LOCATION_NAME: usize = 128;
/// Most multipart parts split out of one body.
pub const MAX_MULTIPART_PARTS: usize = 64;
/// Most nesting levels of an XML body that are walked.
pub const MAX_XML_DEPTH: usize = 32;

/// The kind of an inspection point (what rule targets select on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Path,
    Query,
    Body,
    Cookie,
    Header,
    Method,
    Uri,
}

/// One inspection point; ranges index the arenas of [`Points`].
#[derive(Debug, Clone)]
pub struct Point {
    pub kind: Kind,
    /// Location string (`query:id`), in `Points::locs`.
    pub loc: Range<usize>,
    /// Lowercase header name for `Kind::Header`, in `Points::locs`.
    pub header: Range<usize>,
    /// Value bytes, in `Points::values`.
    pub value: Range<usize>,
}

/// The inspection points of one request, with reusable arenas.
#[derive(Debug, Default)]
pub struct Points {
    pub points: Vec<Point>,
    pub locs: String,
    pub values: Vec<u8>,
    /// Protocol findings of the body (`compression-bomb`), reported by the
    /// engine as `protocol-NAME` hits at `body`.
    pub findings: Vec<&'static str>,
    tmp: Vec<u8>,
    tmp2: Vec<u8>,
    /// The inflated body (at most `max_inflated_body_bytes`).
    inflated: Vec<u8>,
    inflated2: Vec<u8>,
    /// Base64-decoded values.
    b64: Vec<u8>,
    limit_hit: bool,
}

impl Points {
    pub fn value(&self, p: &Point) -> &[u8] {
        self.values.get(p.value.clone()).unwrap_or_default()
    }
    pub fn loc(&self, p: &Point) -> &str {
        self.locs.get(p.loc.clone()).unwrap_or_default()
    }
    pub fn header_name(&self, p: &Point) -> &str {
        self.locs.get(p.header.clone()).unwrap_or_default()
    }

    fn clear(&mut self) {
        self.points.clear();
        self.locs.clear();
        self.values.clear();
        self.findings.clear();
        self.limit_hit = false;
    }

    /// Add a point whose location is `prefix` + `name` (lossy, bounded).
    fn push(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        kind: Kind,
        prefix: &str,
        name: &[u8],
        value: &[u8],
    ) {
        self.push_with(limits, stats, kind, prefix, name, "", value);
    }

    /// Add a point, then the base64 text or JWT parts it carries as extra
    /// points (`LOC:base64`, `LOC:jwt.header`, `LOC:jwt.payload`). For
    /// header values an auth scheme (`Basic `, `Bearer `) is skipped.
    #[allow(clippy::too_many_arguments)]
    fn push_decoding(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        kind: Kind,
        prefix: &str,
        name: &[u8],
        value: &[u8],
    ) {
        self.push(limits, stats, kind, prefix, name, value);
        if value.len() < super::decode::MIN_BASE64_LEN {
            return;
        }
        let v = match memchr::memrchr(b' ', value) {
            Some(i) if kind == Kind::Header => value.get(i + 1..).unwrap_or_default(),
            _ => value,
        };
        let mut b64 = std::mem::take(&mut self.b64);
        let mut parts = v.split(|&b| b == b'.');
        if let (Some(h), Some(p), Some(_sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            if h.starts_with(b"eyJ") {
                for (part, suffix) in [(h, ":jwt.header"), (p, ":jwt.payload")] {
                    b64.clear();
                    if base64_text(part, &mut b64) {
                        stats.base64_decoded += 1;
                        self.push_with(limits, stats, kind, prefix, name, suffix, &b64);
                    }
                }
            }
        } else {
            b64.clear();
            if base64_text(v, &mut b64) {
                stats.base64_decoded += 1;
                self.push_with(limits, stats, kind, prefix, name, ":base64", &b64);
            }
        }
        self.b64 = b64;
    }

    /// Add a point whose location is `prefix` + `name` + `suffix`.
    #[allow(clippy::too_many_arguments)]
    fn push_with(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        kind: Kind,
        prefix: &str,
        name: &[u8],
        suffix: &str,
        value: &[u8],
    ) {
        if self.points.len() >= limits.max_points {
            if !self.limit_hit {
                self.limit_hit = true;
                stats.point_limit_hits += 1;
            }
            return;
        }
        let loc_start = self.locs.len();
        self.locs.push_str(prefix);
        push_name(&mut self.locs, name);
        self.locs.push_str(suffix);
        let loc = loc_start..self.locs.len();
        let header = if kind == Kind::Header {
            let s = self.locs.len();
            for &b in name.iter().take(MAX_LOCATION_NAME) {
                self.locs.push(char::from(b.to_ascii_lowercase()));
            }
            s..self.locs.len()
        } else {
            0..0
        };
        let mut v = value;
        if v.len() > limits.max_point_bytes {
            stats.point_bytes_truncated += 1;
            v = v.get(..limits.max_point_bytes).unwrap_or(v);
        }
        let vs = self.values.len();
        self.values.extend_from_slice(v);
        self.points.push(Point {
            kind,
            loc,
            header,
            value: vs..self.values.len(),
        });
    }

    /// Fill with the points of `req`.
    pub fn extract(&mut self, req: &Request, limits: &DetectLimits, stats: &mut DetectStats) {
        self.clear();
        let mut tmp = std::mem::take(&mut self.tmp);
        let mut tmp2 = std::mem::take(&mut self.tmp2);

        self.push(limits, stats, Kind::Method, "method", b"", &req.method);
        self.push(limits, stats, Kind::Uri, "uri", b"", &req.uri);

        let uri = req.uri.as_slice();
        let (path, query) = match memchr::memchr(b'?', uri) {
            Some(i) => (
                uri.get(..i).unwrap_or_default(),
                uri.get(i + 1..).unwrap_or_default(),
            ),
            None => (uri, &b""[..]),
        };
        let path = strip_fragment(strip_authority(path));
        // Path: percent-decode until stable (double encoding), then normalise.
        tmp.clear();
        tmp.extend_from_slice(path);
        let mut rounds = 0;
        loop {
            tmp2.clear();
            if !percent_decode(&tmp, false, &mut tmp2) {
                break;
            }
            std::mem::swap(&mut tmp, &mut tmp2);
            rounds += 1;
            if rounds >= limits.max_decode_depth.max(1) {
                tmp2.clear();
                if percent_decode(&tmp, false, &mut tmp2) {
                    stats.decode_depth_hits += 1;
                }
                break;
            }
        }
        // Overlong UTF-8 (`%c0%af`) folded to ASCII before normalising.
        tmp2.clear();
        if fold_overlong_utf8(&tmp, &mut tmp2) {
            std::mem::swap(&mut tmp, &mut tmp2);
        }
        tmp2.clear();
        normalise_path(&tmp, &mut tmp2);
        self.push(limits, stats, Kind::Path, "path", b"", &tmp2);

        let query = strip_fragment(query);
        self.urlencoded(
            limits,
            stats,
            Kind::Query,
            "query:",
            query,
            &mut tmp,
            &mut tmp2,
        );

        let mut content_type: &[u8] = b"";
        let mut content_encoding: &[u8] = b"";
        for h in &req.headers {
            self.push_decoding(limits, stats, Kind::Header, "header:", &h.name, &h.value);
            if h.name.eq_ignore_ascii_case(b"cookie") {
                self.cookies(limits, stats, &h.value);
            } else if h.name.eq_ignore_ascii_case(b"content-type") {
                content_type = &h.value;
            } else if h.name.eq_ignore_ascii_case(b"content-encoding") {
                content_encoding = &h.value;
            }
        }

        if !req.body.is_empty() {
            let mut inflated = std::mem::take(&mut self.inflated);
            let mut inflated2 = std::mem::take(&mut self.inflated2);
            let body = self.decode_body(
                limits,
                stats,
                content_encoding,
                &req.body,
                &mut inflated,
                &mut inflated2,
            );
            self.body(limits, stats, content_type, body, &mut tmp, &mut tmp2);
            self.inflated = inflated;
            self.inflated2 = inflated2;
        }
        self.tmp = tmp;
        self.tmp2 = tmp2;
    }

    /// Undo `Content-Encoding` (RFC 9110 §8.4: codings listed in the order
    /// applied, so undone from the last). Returns the bytes to inspect: the
    /// inflated body, or the body as it came when it is not encoded or
    /// cannot be inflated (counted). A bomb adds a `compression-bomb`
    /// finding and the first `max_inflated_body_bytes` are inspected.
    fn decode_body<'a>(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        content_encoding: &[u8],
        body: &'a [u8],
        a: &'a mut Vec<u8>,
        b: &'a mut Vec<u8>,
    ) -> &'a [u8] {
        if content_encoding.trim_ascii().is_empty() {
            return body;
        }
        let mut codings = Vec::with_capacity(inflate::MAX_CODINGS);
        for name in content_encoding.split(|&c| c == b',') {
            match Coding::parse(name) {
                Ok(Some(c)) => codings.push(c),
                Ok(None) => {}
                Err(inflate::Unsupported) => {
                    stats.body_inflate_errors += 1;
                    return body;
                }
            }
        }
        if codings.len() > inflate::MAX_CODINGS {
            stats.body_inflate_errors += 1;
            return body;
        }
        // Which buffer holds the current bytes: the body, `a` or `b`.
        let mut cur = 0u8;
        for c in codings.into_iter().rev() {
            let (input, out): (&[u8], &mut Vec<u8>) = match cur {
                0 => (body, &mut *a),
                1 => (a.as_slice(), &mut *b),
                _ => (b.as_slice(), &mut *a),
            };
            let r = inflate::inflate(
                c,
                input,
                limits.max_inflated_body_bytes,
                limits.max_inflate_ratio,
                out,
            );
            match r {
                Inflated::Complete | Inflated::Truncated => cur = if cur == 1 { 2 } else { 1 },
                Inflated::Bomb => {
                    stats.body_inflate_bombs += 1;
                    self.findings.push("compression-bomb");
                    cur = if cur == 1 { 2 } else { 1 };
                    break;
                }
                Inflated::Invalid => {
                    stats.body_inflate_errors += 1;
                    break;
                }
            }
        }
        match cur {
            0 => body,
            1 => a,
            _ => b,
        }
    }

    /// `a=1&b=2` data: each name and value, `+` as space, percent-decoded.
    #[allow(clippy::too_many_arguments)]
    fn urlencoded(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        kind: Kind,
        prefix: &str,
        data: &[u8],
        name_buf: &mut Vec<u8>,
        value_buf: &mut Vec<u8>,
    ) {
        for pair in data.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = match memchr::memchr(b'=', pair) {
                Some(i) => (
                    pair.get(..i).unwrap_or_default(),
                    pair.get(i + 1..).unwrap_or_default(),
                ),
                None => (pair, &b""[..]),
            };
            name_buf.clear();
            percent_decode(name, true, name_buf);
            value_buf.clear();
            percent_decode(value, true, value_buf);
            if !name_buf.is_empty() {
                self.push(limits, stats, kind, prefix, name_buf, name_buf);
            }
            if !value_buf.is_empty() {
                self.push_decoding(limits, stats, kind, prefix, name_buf, value_buf);
                // GraphQL over GET (`?query={...}`) or a form field.
                if name_buf.as_slice() == b"query" && graphql::looks_like_query(value_buf) {
                    let gp = if kind == Kind::Query {
                        "query:graphql:"
                    } else {
                        "body:graphql:"
                    };
                    self.graphql(limits, stats, kind, gp, value_buf);
                }
            }
        }
    }

    /// `Cookie: a=1; b=2` (RFC 6265 §4.2.1): each cookie name and value.
    fn cookies(&mut self, limits: &DetectLimits, stats: &mut DetectStats, header: &[u8]) {
        for c in header.split(|&b| b == b';') {
            let c = c.trim_ascii();
            if c.is_empty() {
                continue;
            }
            let (name, value) = match memchr::memchr(b'=', c) {
                Some(i) => (
                    c.get(..i).unwrap_or_default().trim_ascii(),
                    c.get(i + 1..).unwrap_or_default().trim_ascii(),
                ),
                None => (&b""[..], c),
            };
            // Names are attacker-chosen too, but ordinary names are not worth
            // a point each: only inspect names with non-token bytes.
            if name
                .iter()
                .any(|&b| !(b.is_ascii_alphanumeric() || b"_-.$".contains(&b)))
            {
                self.push(limits, stats, Kind::Cookie, "cookie:", name, name);
            }
            if !value.is_empty() {
                self.push_decoding(limits, stats, Kind::Cookie, "cookie:", name, value);
            }
        }
    }

    fn body(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        content_type: &[u8],
        body: &[u8],
        tmp: &mut Vec<u8>,
        tmp2: &mut Vec<u8>,
    ) {
        let ct = content_type.trim_ascii();
        let mime = media_type(ct);
        if mime.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") {
            self.urlencoded(limits, stats, Kind::Body, "body:", body, tmp, tmp2);
            return;
        }
        let is_json = mime.eq_ignore_ascii_case(b"application/json")
            || (mime.len() >= 5
                && mime
                    .get(mime.len() - 5..)
                    .is_some_and(|s| s.eq_ignore_ascii_case(b"+json")));
        if is_json {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
                if !self.graphql_json(limits, stats, &v) {
                    let mut path = String::new();
                    self.json(limits, stats, &v, &mut path, 0);
                }
                return;
            }
        }
        if mime.eq_ignore_ascii_case(b"application/graphql") {
            self.graphql(limits, stats, Kind::Body, "body:graphql:", body);
            return;
        }
        if mime.eq_ignore_ascii_case(b"multipart/form-data")
            && self.multipart(limits, stats, ct, body)
        {
            return;
        }
        self.push(limits, stats, Kind::Body, "body", b"", body);
        // XML is walked as well as inspected raw: markup across elements
        // (an XSS payload as XML) only shows in the raw body.
        if xml::is_xml_media_type(mime) || xml::sniff(body) {
            let r = xml::walk(body, MAX_XML_DEPTH, |loc, v| {
                self.push(limits, stats, Kind::Body, "body:xml:", loc.as_bytes(), v)
            });
            match r {
                Ok(()) => {}
                Err(xml::XmlStop::Malformed) => stats.body_parse_errors += 1,
                Err(xml::XmlStop::TooDeep) => stats.body_depth_hits += 1,
            }
        }
    }

    /// A GraphQL document: the text as `PREFIX query`, and its string
    /// literals as `PREFIX arg:NAME` / `PREFIX string`.
    fn graphql(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        kind: Kind,
        prefix: &str,
        text: &[u8],
    ) {
        self.push(limits, stats, kind, prefix, b"query", text);
        graphql::walk(text, |loc, v| {
            self.push(limits, stats, kind, prefix, loc.as_bytes(), v)
        });
    }

    /// A JSON GraphQL request (or a batch of them): `query` as a GraphQL
    /// document, `variables` (also when sent as a JSON string) and the
    /// other members as JSON points. False when `v` is not one.
    fn graphql_json(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        v: &serde_json::Value,
    ) -> bool {
        use serde_json::Value as J;
        fn is_op(v: &J) -> bool {
            v.get("query")
                .and_then(J::as_str)
                .is_some_and(|q| graphql::looks_like_query(q.as_bytes()))
        }
        let ops: Vec<&serde_json::Map<String, J>> = match v {
            J::Object(o) if is_op(v) => vec![o],
            J::Array(a) if !a.is_empty() && a.iter().all(is_op) => {
                a.iter().filter_map(J::as_object).collect()
            }
            _ => return false,
        };
        let mut path = String::new();
        for o in ops {
            for (k, x) in o {
                path.clear();
                path.push_str(k);
                match (k.as_str(), x) {
                    ("query", J::String(q)) => {
                        self.graphql(limits, stats, Kind::Body, "body:graphql:", q.as_bytes());
                    }
                    ("variables", J::String(vs)) => match serde_json::from_str::<J>(vs) {
                        Ok(inner) => self.json(limits, stats, &inner, &mut path, 1),
                        Err(_) => self.json(limits, stats, x, &mut path, 1),
                    },
                    _ => self.json(limits, stats, x, &mut path, 1),
                }
            }
        }
        true
    }

    fn json(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        v: &serde_json::Value,
        path: &mut String,
        depth: usize,
    ) {
        use serde_json::Value as J;
        if depth > MAX_JSON_DEPTH {
            stats.decode_depth_hits += 1;
            return;
        }
        let base = path.len();
        match v {
            J::String(s) => {
                self.push(
                    limits,
                    stats,
                    Kind::Body,
                    "body:json:",
                    path.as_bytes(),
                    s.as_bytes(),
                );
            }
            J::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let _ = write!(path, "[{i}]");
                    self.json(limits, stats, x, path, depth + 1);
                    path.truncate(base);
                }
            }
            J::Object(o) => {
                for (k, x) in o {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    self.push(
                        limits,
                        stats,
                        Kind::Body,
                        "body:json:",
                        path.as_bytes(),
                        k.as_bytes(),
                    );
                    self.json(limits, stats, x, path, depth + 1);
                    path.truncate(base);
                }
            }
            // Numbers, booleans and null carry no attack text.
            _ => {}
        }
    }

    /// multipart/form-data (RFC 7578): each part's content as `body:NAME`,
    /// and its filename. Returns false when the body is not well-formed
    /// enough to split (it is then inspected raw).
    fn multipart(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        content_type: &[u8],
        body: &[u8],
    ) -> bool {
        let Some(boundary) = header_param(content_type, b"boundary") else {
            return false;
        };
        if boundary.is_empty() {
            return false;
        }
        let mut delim = Vec::with_capacity(boundary.len() + 2);
        delim.extend_from_slice(b"--");
        delim.extend_from_slice(boundary);
        let finder = memchr::memmem::Finder::new(&delim);
        let starts: Vec<usize> = finder
            .find_iter(body)
            .take(MAX_MULTIPART_PARTS + 1)
            .collect();
        if starts.len() < 2 {
            return false;
        }
        for w in starts.windows(2) {
            let (Some(&a), Some(&b)) = (w.first(), w.get(1)) else {
                continue;
            };
            let Some(part) = body.get(a + delim.len()..b) else {
                continue;
            };
            let part = part
                .strip_prefix(b"\r\n")
                .or_else(|| part.strip_prefix(b"\n"))
                .unwrap_or(part);
            let part = part
                .strip_suffix(b"\r\n")
                .or_else(|| part.strip_suffix(b"\n"))
                .unwrap_or(part);
            let (head, content) = match memchr::memmem::find(part, b"\r\n\r\n") {
                Some(i) => (
                    part.get(..i).unwrap_or_default(),
                    part.get(i + 4..).unwrap_or_default(),
                ),
                None => match memchr::memmem::find(part, b"\n\n") {
                    Some(i) => (
                        part.get(..i).unwrap_or_default(),
                        part.get(i + 2..).unwrap_or_default(),
                    ),
                    None => (part, &b""[..]),
                },
            };
            let mut name: &[u8] = b"";
            let mut filename: Option<&[u8]> = None;
            for line in head.split(|&b| b == b'\n') {
                let line = line.trim_ascii();
                let Some(colon) = memchr::memchr(b':', line) else {
                    continue;
                };
                let hname = line.get(..colon).unwrap_or_default().trim_ascii();
                let hval = line.get(colon + 1..).unwrap_or_default();
                if hname.eq_ignore_ascii_case(b"content-disposition") {
                    name = header_param(hval, b"name").unwrap_or_default();
                    filename = header_param(hval, b"filename");
                } else {
                    // Part headers (Content-Type of an upload) are attacker text too.
                    self.push(limits, stats, Kind::Body, "body:", name, hval.trim_ascii());
                }
            }
            if let Some(f) = filename {
                self.push(limits, stats, Kind::Body, "body:", name, f);
            }
            if !content.is_empty() {
                self.push(limits, stats, Kind::Body, "body:", name, content);
            }
        }
        true
    }
}

/// The media type of a `Content-Type` value, without its parameters
/// (RFC 9110 §8.3.1): `multipart/form-data; boundary=x` → `multipart/form-data`.
pub fn media_type(content_type: &[u8]) -> &[u8] {
    content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii()
}

/// A `key=value` parameter of a header value (`; boundary="x"`), quotes removed.
pub fn header_param<'a>(header: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    for piece in header.split(|&b| b == b';') {
        let piece = piece.trim_ascii();
        let Some(eq) = memchr::memchr(b'=', piece) else {
            continue;
        };
        let k = piece.get(..eq).unwrap_or_default().trim_ascii();
        if k.eq_ignore_ascii_case(key) {
            let v = piece.get(eq + 1..).unwrap_or_default().trim_ascii();
            let v = v
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(v);
            return Some(v);
        }
    }
    None
}

/// Remove `scheme://authority` of an absolute-form target (RFC 9112 §3.2.2).
fn strip_authority(path: &[u8]) -> &[u8] {
    if let Some(i) = memchr::memmem::find(path, b"://") {
        if path
            .get(..i)
            .is_some_and(|s| !s.is_empty() && s.iter().all(|b| b.is_ascii_alphabetic()))
        {
            let rest = path.get(i + 3..).unwrap_or_default();
            return match memchr::memchr(b'/', rest) {
                Some(j) => rest.get(j..).unwrap_or_default(),
                None => b"/",
            };
        }
    }
    path
}

fn strip_fragment(s: &[u8]) -> &[u8] {
    match memchr::memchr(b'#', s) {
        Some(i) => s.get(..i).unwrap_or_default(),
        None => s,
    }
}

/// Append a name to a location: lossy UTF-8, at most `MAX_LOCATION_NAME` bytes.
fn push_name(out: &mut String, name: &[u8]) {
    let name = name.get(..MAX_LOCATION_NAME).unwrap_or(name);
    out.push_str(&String::from_utf8_lossy(name));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::tests::req;

    fn points(r: &Request) -> Vec<(String, String)> {
        let mut p = Points::default();
        let mut st = DetectStats::default();
        p.extract(r, &DetectLimits::default(), &mut st);
        p.points
            .iter()
            .map(|x| {
                (
                    p.loc(x).to_string(),
                    String::from_utf8_lossy(p.value(x)).into_owned(),
                )
            })
            .collect()
    }

    fn has(ps: &[(String, String)], loc: &str, val: &str) -> bool {
        ps.iter().any(|(l, v)| l == loc && v == val)
    }

    #[test]
    fn path_query_headers_cookies() {
        let r = req(
            "GET",
            "/a%252e%252e%5c..//x?id=1+or+1%3D1&id=2&%3Cn%3E=v#frag",
            &[("User-Agent", "x"), ("Cookie", "s=abc; _ga=GA1.2.3; t=%27")],
            b"",
        );
        let ps = points(&r);
        assert!(has(&ps, "path", "/a../../x"), "{ps:?}");
        assert!(has(&ps, "query:id", "1 or 1=1"));
        assert!(has(&ps, "query:id", "2"));
        assert!(has(&ps, "query:id", "id"));
        assert!(has(&ps, "query:<n>", "<n>"));
        assert!(has(&ps, "header:User-Agent", "x"));
        assert!(has(&ps, "cookie:t", "%27"));
        assert!(has(&ps, "cookie:_ga", "GA1.2.3"));
        assert!(has(&ps, "method", "GET"));
        assert!(ps.iter().all(|(l, v)| l == "uri" || !v.contains("frag")));
    }

    #[test]
    fn absolute_form_target() {
        let r = req("GET", "http://h.example:80/p/q?a=b", &[], b"");
        assert!(has(&points(&r), "path", "/p/q"));
    }

    #[test]
    fn form_json_multipart_raw_bodies() {
        let r = req(
            "POST",
            "/",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"a=%3Cb%3E&c=d+e",
        );
        let ps = points(&r);
        assert!(has(&ps, "body:a", "<b>") && has(&ps, "body:c", "d e"));

        let r = req(
            "POST",
            "/",
            &[("Content-Type", "application/vnd.api+json; charset=utf-8")],
            br#"{"a":{"b":[1,"x",{"c":"y"}]},"k":null}"#,
        );
        let ps = points(&r);
        assert!(has(&ps, "body:json:a.b[1]", "x"), "{ps:?}");
        assert!(has(&ps, "body:json:a.b[2].c", "y"));
        assert!(has(&ps, "body:json:a.b[2].c", "c"));
        assert!(has(&ps, "body:json:k", "k"));

        let body = b"--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.php\"\r\nContent-Type: text/plain\r\n\r\n<?php x\r\n--XX\r\nContent-Disposition: form-data; name=\"g\"\r\n\r\nhello\r\n--XX--\r\n";
        let r = req(
            "POST",
            "/",
            &[("Content-Type", "multipart/form-data; boundary=XX")],
            body,
        );
        let ps = points(&r);
        assert!(has(&ps, "body:f", "a.php"), "{ps:?}");
        assert!(has(&ps, "body:f", "<?php x"));
        assert!(has(&ps, "body:f", "text/plain"));
        assert!(has(&ps, "body:g", "hello"));

        let r = req("POST", "/", &[("Content-Type", "text/xml")], b"<x/>");
        assert!(has(&points(&r), "body", "<x/>"));
        let r = req(
            "POST",
            "/",
            &[("Content-Type", "application/json")],
            b"{bad",
        );
        assert!(has(&points(&r), "body", "{bad"));
    }

    fn stats_of(r: &Request) -> DetectStats {
        let mut p = Points::default();
        let mut st = DetectStats::default();
        p.extract(r, &DetectLimits::default(), &mut st);
        st
    }

    #[test]
    fn xml_and_soap_bodies() {
        let body = br#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><login user="a' or 1=1--">&x;</login></soap:Body></soap:Envelope>"#;
        for ct in [
            "application/soap+xml; charset=utf-8",
            "text/xml",
            "application/atom+xml",
        ] {
            let r = req("POST", "/ws", &[("Content-Type", ct)], body);
            let ps = points(&r);
            assert!(
                has(
                    &ps,
                    "body:xml:/soap:Envelope/soap:Body/login/@user",
                    "a' or 1=1--"
                ),
                "{ps:?}"
            );
            assert!(has(&ps, "body:xml:/soap:Envelope/soap:Body/login", "&x;"));
            assert!(has(
                &ps,
                "body:xml:!ENTITY",
                r#"<!ENTITY x SYSTEM "file:///etc/passwd">"#
            ));
            // The raw body stays a point.
            assert!(ps.iter().any(|(l, v)| l == "body" && v.len() == body.len()));
        }
        // A lying Content-Type: sniffed.
        let r = req(
            "POST",
            "/",
            &[("Content-Type", "text/plain")],
            br#"<?xml version="1.0"?><a b="c">d</a>"#,
        );
        let ps = points(&r);
        assert!(
            has(&ps, "body:xml:/a/@b", "c") && has(&ps, "body:xml:/a", "d"),
            "{ps:?}"
        );
        // Malformed: what parsed is kept, the raw body is there, counted.
        let r = req(
            "POST",
            "/",
            &[("Content-Type", "application/xml")],
            b"<a><b>x</b><",
        );
        assert!(has(&points(&r), "body:xml:/a/b", "x"));
        assert!(has(&points(&r), "body", "<a><b>x</b><"));
        assert_eq!(stats_of(&r).body_parse_errors, 1);
        let deep = format!(
            "{}x{}",
            "<a>".repeat(MAX_XML_DEPTH + 1),
            "</a>".repeat(MAX_XML_DEPTH + 1)
        );
        let r = req(
            "POST",
            "/",
            &[("Content-Type", "application/xml")],
            deep.as_bytes(),
        );
        assert_eq!(stats_of(&r).body_depth_hits, 1);
    }

    #[test]
    fn graphql_requests() {
        let body = br#"{"operationName":"Q","query":"query Q($n: String) { user(name: \"x' union select 1--\") { id } }","variables":{"n":"<svg onload=x>"}}"#;
        let r = req(
            "POST",
            "/graphql",
            &[("Content-Type", "application/json")],
            body,
        );
        let ps = points(&r);
        assert!(
            has(&ps, "body:graphql:arg:name", "x' union select 1--"),
            "{ps:?}"
        );
        assert!(ps
            .iter()
            .any(|(l, v)| l == "body:graphql:query" && v.starts_with("query Q")));
        assert!(has(&ps, "body:json:variables.n", "<svg onload=x>"));
        assert!(has(&ps, "body:json:operationName", "Q"));
        assert!(!ps.iter().any(|(l, _)| l == "body:json:query"), "{ps:?}");
        // Variables sent as a JSON string, and a batch.
        let body = br#"[{"query":"{ a }","variables":"{\"id\":\"1 or 1=1\"}"},{"query":"mutation { b(x: \"y\") }"}]"#;
        let r = req(
            "POST",
            "/graphql",
            &[("Content-Type", "application/json")],
            body,
        );
        let ps = points(&r);
        assert!(has(&ps, "body:json:variables.id", "1 or 1=1"), "{ps:?}");
        assert!(has(&ps, "body:graphql:arg:x", "y"));
        // application/graphql and GET ?query=.
        let r = req(
            "POST",
            "/g",
            &[("Content-Type", "application/graphql")],
            br#"{ f(p: "../../etc/passwd") }"#,
        );
        assert!(has(&points(&r), "body:graphql:arg:p", "../../etc/passwd"));
        let r = req(
            "GET",
            "/g?query=%7B%20f(p%3A%20%22%3Cscript%3E%22)%20%7D",
            &[],
            b"",
        );
        let ps = points(&r);
        assert!(has(&ps, "query:graphql:arg:p", "<script>"), "{ps:?}");
        // An ordinary `query` parameter is not GraphQL.
        let r = req("GET", "/s?query=shoes", &[], b"");
        assert!(!points(&r).iter().any(|(l, _)| l.contains("graphql")));
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn compressed_bodies() {
        let form = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Encoding", "gzip"),
        ];
        let r = req("POST", "/", &form, &gzip(b"a=1%27+or+1%3D1--"));
        assert!(has(&points(&r), "body:a", "1' or 1=1--"));
        // Two codings, undone from the last.
        let enc = [
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip, x-gzip"),
        ];
        let r = req("POST", "/", &enc, &gzip(&gzip(br#"{"k":"v"}"#)));
        assert!(has(&points(&r), "body:json:k", "v"));
        // Not gzip after all, or a coding not supported: inspected raw, counted.
        let r = req("POST", "/", &form, b"a=b");
        assert!(has(&points(&r), "body:a", "b"));
        assert_eq!(stats_of(&r).body_inflate_errors, 1);
        let r = req("POST", "/", &[("Content-Encoding", "br")], b"x");
        assert_eq!(stats_of(&r).body_inflate_errors, 1);
        // A bomb: a finding, counted, the first bytes inspected.
        let r = req(
            "POST",
            "/",
            &[("Content-Encoding", "gzip")],
            &gzip(&vec![b'A'; 4 << 20]),
        );
        let mut p = Points::default();
        let mut st = DetectStats::default();
        p.extract(&r, &DetectLimits::default(), &mut st);
        assert_eq!(st.body_inflate_bombs, 1);
        assert_eq!(p.findings, vec!["compression-bomb"]);
        let body = p
            .points
            .iter()
            .find(|x| p.loc(x) == "body")
            .map(|x| p.value(x).len());
        assert_eq!(body, Some(DetectLimits::default().max_point_bytes));
    }

    #[test]
    fn base64_and_jwt_values() {
        // {"alg":"none"} . {"sub":"' or 1=1--"} . (no signature)
        let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiInIG9yIDE9MS0tIn0.";
        let auth = format!("Bearer {jwt}");
        let r = req(
            "GET",
            "/?d=PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg%3D%3D&id=0123456789abcdef0123",
            &[
                ("Authorization", auth.as_str()),
                ("Cookie", &format!("t={jwt}")),
            ],
            b"",
        );
        let ps = points(&r);
        assert!(
            has(&ps, "query:d:base64", "<script>alert(1)</script>"),
            "{ps:?}"
        );
        assert!(has(
            &ps,
            "header:Authorization:jwt.header",
            r#"{"alg":"none"}"#
        ));
        assert!(has(
            &ps,
            "header:Authorization:jwt.payload",
            r#"{"sub":"' or 1=1--"}"#
        ));
        assert!(has(&ps, "cookie:t:jwt.payload", r#"{"sub":"' or 1=1--"}"#));
        assert!(!ps.iter().any(|(l, _)| l == "query:id:base64"), "{ps:?}");
        assert_eq!(stats_of(&r).base64_decoded, 5);
    }

    #[test]
    fn overlong_utf8_path() {
        let r = req(
            "GET",
            "/scripts/..%c0%af..%e0%80%afwinnt/system32/cmd.exe",
            &[],
            b"",
        );
        assert!(has(
            &points(&r),
            "path",
            "/scripts/../../winnt/system32/cmd.exe"
        ));
    }

    #[test]
    fn limits_are_counted() {
        let limits = DetectLimits {
            max_points: 4,
            max_point_bytes: 3,
            ..DetectLimits::default()
        };
        let r = req("GET", "/?a=1&b=2&c=3&d=4", &[], b"");
        let mut p = Points::default();
        let mut st = DetectStats::default();
        p.extract(&r, &limits, &mut st);
        assert_eq!(p.points.len(), 4);
        assert_eq!(st.point_limit_hits, 1);
        // "/?a=1&b=2&c=3&d=4" is cut to 3 bytes as the `uri` point.
        assert_eq!(st.point_bytes_truncated, 1);
        let uri = p.points.iter().find(|x| x.kind == Kind::Uri);
        assert_eq!(uri.map(|x| p.value(x)), Some(&b"/?a"[..]));
    }

    #[test]
    fn json_depth_guard() {
        let deep = format!("{}\"x\"{}", "[".repeat(40), "]".repeat(40));
        let r = req(
            "POST",
            "/",
            &[("Content-Type", "application/json")],
            deep.as_bytes(),
        );
        let mut p = Points::default();
        let mut st = DetectStats::default();
        p.extract(&r, &DetectLimits::default(), &mut st);
        assert_eq!(st.decode_depth_hits, 1);
    }
}
