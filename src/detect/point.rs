//! Splitting a request into named inspection points.
//!
//! Owns the mapping from a [`Request`] to `(kind, location, value)` triples:
//! the decoded and normalised path, each query argument (name and value),
//! each header, each cookie, and the body split by its Content-Type (form,
//! JSON, multipart, XML/SOAP, GraphQL, else raw), after inflating a
//! `Content-Encoding: gzip / deflate` body (see [`super::body`]). Values that
//! have the shape of base64 text, and the header and payload of JWTs, are
//! decoded into extra points (`cookie:s:base64`, `header:Authorization:jwt.payload`). Values and names live in two reusable byte
//! arenas of [`Points`], so a worker that keeps its `Points` allocates
//! nothing once they have grown; a point's location string is assembled
//! only when asked for ([`Points::loc`], in practice for a hit). Bounded by
//! [`DetectLimits`]: at most `max_points` points (the rest are dropped and
//! counted in `point_limit_hits`; the query, each later header and `Cookie`
//! header and the body are then inspected whole, one point each past the
//! budget), at most `max_point_bytes` bytes per value (cut and counted in
//! `point_bytes_truncated`).

use std::fmt::Write as _;
use std::ops::Range;

use super::body::inflate::{self, Inflated};
use super::body::json::Node;
use super::body::{graphql, xml};
use super::clean_cache::CleanCache;
use super::decode::{base64_text, fold_overlong_utf8, jwt_parts, normalise_path, percent_decode};
use super::{DetectLimits, DetectStats};
use crate::http::Request;

/// Most nesting levels of a JSON body that are walked.
pub const MAX_JSON_DEPTH: usize = 32;
/// Most bytes of a name kept in a location string.
pub const MAX_LOCATION_NAME: usize = 128;
/// Most bytes of a whole location string: prefix, name and suffix (a part
/// header's suffix holds a second name). Names are capped first, so this is
/// a backstop; when it bites, the name is cut before the suffix, which names
/// the decoded layer (`:base64`, `:jwt.payload`).
pub const MAX_LOCATION_LEN: usize = 320;
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
///
/// The location string (`query:id`) is not built here: most points never
/// produce a hit, so [`Points::loc`] assembles it from the prefix, the raw
/// name and the suffix only when asked.
#[derive(Debug, Clone)]
pub struct Point {
    pub kind: Kind,
    /// Location prefix (`query:`, `header:`).
    prefix: &'static str,
    /// The name as sent, in `Points::names`.
    name: Range<usize>,
    /// Location suffix (`:base64`, a part header's `:header:NAME`), UTF-8,
    /// in `Points::names`.
    suffix: Range<usize>,
    /// Value bytes, in `Points::values`.
    pub value: Range<usize>,
}

/// The inspection points of one request, with reusable arenas.
#[derive(Debug, Default)]
pub struct Points {
    pub points: Vec<Point>,
    /// Names and suffixes of the points.
    names: Vec<u8>,
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
    /// Points not made because their header line was known clean: charged
    /// against `max_points` as if they had been.
    skipped: usize,
    /// The header lines split into points, each with its points' indices.
    pub header_lines: Vec<HeaderLine>,
}

/// A header line of the request and the points made from it (the value and
/// its base64 or JWT decodings).
#[derive(Debug, Clone)]
pub struct HeaderLine {
    /// Index into `Request::headers`.
    pub header: usize,
    /// The line's [`CleanCache::line_hash`], when it was looked up.
    pub hash: Option<u64>,
    /// Indices into [`Points::points`].
    pub points: Range<usize>,
    /// False when the point budget ran out during the line (then its
    /// verdict is not complete).
    pub complete: bool,
}

/// A cookie or field name of letters, digits and `_-.$` only (or empty).
/// Names are attacker-chosen too, but ordinary ones are not worth a point
/// each: only names with other bytes are inspected.
fn plain_name(name: &[u8]) -> bool {
    name.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"_-.$".contains(&b))
}

impl Points {
    pub fn value(&self, p: &Point) -> &[u8] {
        self.values.get(p.value.clone()).unwrap_or_default()
    }

    /// The location string: prefix, the name (lossy UTF-8, at most
    /// [`MAX_LOCATION_NAME`] bytes) and the suffix, at most
    /// [`MAX_LOCATION_LEN`] bytes; when that bound bites the name is cut,
    /// not the suffix.
    pub fn loc(&self, p: &Point) -> String {
        self.loc_and_name_end(p).0
    }

    /// [`Self::loc`] and the length of its part before the suffix (see
    /// [`super::Hit::name_end`]).
    pub fn loc_and_name_end(&self, p: &Point) -> (String, usize) {
        let suffix = self.names.get(p.suffix.clone()).unwrap_or_default();
        let suffix = String::from_utf8_lossy(suffix);
        let mut out = String::with_capacity(p.prefix.len() + p.name.len() + suffix.len());
        out.push_str(p.prefix);
        push_name(&mut out, self.name(p));
        truncate_at_char(&mut out, MAX_LOCATION_LEN.saturating_sub(suffix.len()));
        let name_end = out.len();
        out.push_str(&suffix);
        truncate_at_char(&mut out, MAX_LOCATION_LEN);
        let name_end = name_end.min(out.len());
        (out, name_end)
    }

    /// The name as sent (a header's name for `Kind::Header`).
    fn name(&self, p: &Point) -> &[u8] {
        self.names.get(p.name.clone()).unwrap_or_default()
    }

    /// A header point's name as rules target it: its first
    /// [`MAX_LOCATION_NAME`] bytes, compared ASCII case-insensitively
    /// (empty for other kinds).
    pub fn header_name_bytes(&self, p: &Point) -> &[u8] {
        if p.kind != Kind::Header {
            return b"";
        }
        let name = self.name(p);
        name.get(..MAX_LOCATION_NAME).unwrap_or(name)
    }

    /// [`Self::header_name_bytes`] lowercased, each non-ASCII byte as the
    /// character of that code point.
    pub fn header_name(&self, p: &Point) -> String {
        self.header_name_bytes(p)
            .iter()
            .map(|&b| char::from(b.to_ascii_lowercase()))
            .collect()
    }

    fn clear(&mut self) {
        self.points.clear();
        self.names.clear();
        self.values.clear();
        self.findings.clear();
        self.limit_hit = false;
        self.skipped = 0;
        self.header_lines.clear();
    }

    /// Add a point whose location is `prefix` + `name` (lossy, bounded).
    fn push(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        kind: Kind,
        prefix: &'static str,
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
        prefix: &'static str,
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
        if let Some((h, p)) = jwt_parts(v) {
            for (part, suffix) in [(h, ":jwt.header"), (p, ":jwt.payload")] {
                self.push_base64(limits, stats, kind, prefix, name, suffix, part);
            }
        } else {
            self.push_base64(limits, stats, kind, prefix, name, ":base64", v);
        }
    }

    /// Add `text` decoded from base64, when it decodes to text, as a point
    /// whose location is `prefix` + `name` + `suffix`.
    #[allow(clippy::too_many_arguments)]
    fn push_base64(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        kind: Kind,
        prefix: &'static str,
        name: &[u8],
        suffix: &str,
        text: &[u8],
    ) {
        let mut b64 = std::mem::take(&mut self.b64);
        b64.clear();
        if base64_text(text, &mut b64) {
            stats.base64_decoded += 1;
            self.push_with(limits, stats, kind, prefix, name, suffix, &b64);
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
        prefix: &'static str,
        name: &[u8],
        suffix: &str,
        value: &[u8],
    ) {
        if self.points.len() + self.skipped >= limits.max_points {
            if !self.limit_hit {
                self.limit_hit = true;
                stats.point_limit_hits += 1;
            }
            return;
        }
        self.push_capped(limits, stats, kind, prefix, name, suffix, value, true);
    }

    /// Add the whole text of a source (the query, a header, a `Cookie`
    /// header, the body) whose points the spent budget dropped: else
    /// padding (520 cookies, a JSON array of short strings, base64 form
    /// values) hides whatever follows it from every rule (review round 30).
    /// Bounded by the request, not by `max_points`: at most one for the
    /// query, one per header line, one per `Cookie` header and one for the
    /// body, each cut to head and tail as any point.
    #[allow(clippy::too_many_arguments)]
    fn push_over_budget(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        kind: Kind,
        prefix: &'static str,
        name: &[u8],
        value: &[u8],
    ) {
        if !value.is_empty() {
            self.push_capped(limits, stats, kind, prefix, name, "", value, false);
        }
    }

    /// Store a point, its value cut to `max_point_bytes` with the tail as a
    /// second point (that one within the budget when `budgeted`).
    #[allow(clippy::too_many_arguments)]
    fn push_capped(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        kind: Kind,
        prefix: &'static str,
        name: &[u8],
        suffix: &str,
        value: &[u8],
        budgeted: bool,
    ) {
        let name_start = self.names.len();
        self.names.extend_from_slice(name);
        let name = name_start..self.names.len();
        self.names.extend_from_slice(suffix.as_bytes());
        let suffix = name.end..self.names.len();
        let mut v = value;
        let mut tail = None;
        if v.len() > limits.max_point_bytes {
            stats.point_bytes_truncated += 1;
            v = v.get(..limits.max_point_bytes).unwrap_or(v);
            // Its end too, as a second point of the same location: padding
            // before a payload (17 KB of `+`, spaces to SQL and HTML) must
            // not push it past what is inspected (review round 15). The
            // middle of a value over twice the cap is not inspected.
            tail = value.get(value.len() - limits.max_point_bytes..);
        }
        self.push_point(kind, prefix, name.clone(), suffix.clone(), v);
        if let Some(t) =
            tail.filter(|_| !budgeted || self.points.len() + self.skipped < limits.max_points)
        {
            self.push_point(kind, prefix, name, suffix, t);
        }
    }

    /// Store `value` and a point at it.
    #[inline]
    fn push_point(
        &mut self,
        kind: Kind,
        prefix: &'static str,
        name: Range<usize>,
        suffix: Range<usize>,
        value: &[u8],
    ) {
        let start = self.values.len();
        self.values.extend_from_slice(value);
        self.points.push(Point {
            kind,
            prefix,
            name,
            suffix,
            value: start..self.values.len(),
        });
    }

    /// Fill with the points of `req`.
    pub fn extract(&mut self, req: &Request, limits: &DetectLimits, stats: &mut DetectStats) {
        self.extract_skipping(req, limits, stats, None);
    }

    /// [`Self::extract`], except that a header line found in `known_clean`
    /// (see [`CleanCache::lookup_line`]) is not split into points: its
    /// remembered point count is charged against `max_points` instead, so
    /// the budget bites where it would have (`clean_header_hits`). A line
    /// is skipped only when all of its points would fit, and only when its
    /// value is within `max_point_bytes` (nothing would have been cut).
    pub fn extract_skipping(
        &mut self,
        req: &Request,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        mut known_clean: Option<&mut CleanCache>,
    ) {
        self.clear();
        // Request-level protocol findings (method, framing, Range, encodings).
        super::protocol::check(req, &limits.protocol, &mut |f| self.finding(f));
        let mut tmp = std::mem::take(&mut self.tmp);
        let mut tmp2 = std::mem::take(&mut self.tmp2);

        self.push(limits, stats, Kind::Method, "method", b"", &req.method);
        self.push(limits, stats, Kind::Uri, "uri", b"", &req.uri);

        let uri = req.uri.as_slice();
        let (path, query) = super::decode::split_once(uri, b'?');
        // A `#` stays: Go's `url.ParseRequestURI` keeps what follows it in
        // the path and query the application reads (review round 15). Not
        // a finding: crawlers send fragments.
        let path = super::decode::split_absolute_form(path).map_or(path, |(_, p)| p);
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

        self.urlencoded(
            limits,
            stats,
            Kind::Query,
            "query:",
            query,
            &mut tmp,
            &mut tmp2,
        );
        if self.limit_hit {
            self.push_over_budget(limits, stats, Kind::Query, "query:", b"", query);
        }

        let mut content_type: Option<&[u8]> = None;
        let mut last_content_type: &[u8] = b"";
        // Every line, joined as one list: Apache merges repeated lines
        // before mod_deflate reads the last coding, Go reads the first.
        let mut content_encodings: Vec<&[u8]> = Vec::new();
        for (i, h) in req.headers.iter().enumerate() {
            let mut hash = None;
            let known = known_clean.as_deref_mut().and_then(|c| {
                if h.value.len() > limits.max_point_bytes {
                    return None;
                }
                hash = c.line_hash(h.name, h.value);
                let n = usize::from(c.lookup_line(hash?, h.name, h.value)?);
                (self.points.len() + self.skipped + n <= limits.max_points).then_some(n)
            });
            if let Some(n) = known {
                self.skipped += n;
                stats.clean_header_hits += 1;
            } else {
                let start = self.points.len();
                self.push_decoding(limits, stats, Kind::Header, "header:", h.name, h.value);
                self.header_lines.push(HeaderLine {
                    header: i,
                    hash,
                    points: start..self.points.len(),
                    complete: !self.limit_hit,
                });
            }
            // Trailer fields are points like any header, but no server
            // takes a body's type or coding from them.
            let in_head = !req.trailers_from.is_some_and(|t| i >= t);
            if self.limit_hit {
                self.push_over_budget(limits, stats, Kind::Header, "header:", h.name, h.value);
            }
            if h.name.eq_ignore_ascii_case(b"cookie") {
                self.cookies(limits, stats, h.value);
                if self.limit_hit {
                    self.push_over_budget(limits, stats, Kind::Cookie, "cookie:", b"", h.value);
                }
            } else if !in_head {
            } else if h.name.eq_ignore_ascii_case(b"content-type") {
                // The first, as nginx (`$content_type`), Go, Node, Tomcat
                // and PHP read it; a repeat is a protocol finding (review
                // round 17).
                if content_type.is_none() {
                    content_type = Some(h.value);
                }
                last_content_type = h.value;
            } else if h.name.eq_ignore_ascii_case(b"content-encoding") {
                content_encodings.push(h.value);
            }
        }

        if !req.body.is_empty() {
            let mut inflated = std::mem::take(&mut self.inflated);
            let mut inflated2 = std::mem::take(&mut self.inflated2);
            let body = self.decode_body(
                limits,
                stats,
                &content_encodings,
                &req.body,
                &mut inflated,
                &mut inflated2,
            );
            let ct = content_type.unwrap_or_default();
            self.body(limits, stats, ct, body, &mut tmp, &mut tmp2);
            // gunicorn (Django, Flask) keeps the last Content-Type: a
            // repeat of another type splits the body its way too (review
            // round 20).
            // So does one of the same type with another boundary (review
            // round 21).
            if !media_type(last_content_type).eq_ignore_ascii_case(media_type(ct))
                || header_param(last_content_type, b"boundary") != header_param(ct, b"boundary")
            {
                self.body(limits, stats, last_content_type, body, &mut tmp, &mut tmp2);
            }
            if self.limit_hit {
                self.push_over_budget(limits, stats, Kind::Body, "body", b"", body);
            }
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
        content_encodings: &[&[u8]],
        body: &'a [u8],
        a: &'a mut Vec<u8>,
        b: &'a mut Vec<u8>,
    ) -> &'a [u8] {
        if content_encodings.iter().all(|v| v.trim_ascii().is_empty()) {
            return body;
        }
        let Ok(codings) = inflate::codings(content_encodings.iter().copied()) else {
            stats.body_inflate_errors += 1;
            // A coding the application may undo (zstd, compress) and no
            // rule reads through: at least a record.
            self.finding("content-encoding-unsupported");
            return body;
        };
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
                // Nothing came out: the bytes stay as they were for the
                // next coding (a Go handler undoes only the first line's).
                Inflated::Invalid => stats.body_inflate_errors += 1,
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
        prefix: &'static str,
        data: &[u8],
        name_buf: &mut Vec<u8>,
        value_buf: &mut Vec<u8>,
    ) {
        for pair in data.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            self.urlencoded_pair(limits, stats, kind, prefix, pair, name_buf, value_buf);
            // Rack 2 (Rails) and Python before 3.9.2 also split a query at
            // `;`: each piece as a parameter too (review round 18); so do
            // Tornado (Python before 3.9.2) and Bottle a form body (review
            // round 25).
            if memchr::memchr(b';', pair).is_some() {
                for piece in pair.split(|&b| b == b';').filter(|p| !p.is_empty()) {
                    self.urlencoded_pair(limits, stats, kind, prefix, piece, name_buf, value_buf);
                }
            }
        }
    }

    /// One `name=value` pair of [`Self::urlencoded`].
    #[allow(clippy::too_many_arguments)]
    fn urlencoded_pair(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        kind: Kind,
        prefix: &'static str,
        pair: &[u8],
        name_buf: &mut Vec<u8>,
        value_buf: &mut Vec<u8>,
    ) {
        let (name, value) = super::decode::split_arg(pair);
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
            if !plain_name(name) {
                self.push(limits, stats, Kind::Cookie, "cookie:", name, name);
            }
            if !value.is_empty() {
                self.push_decoding(limits, stats, Kind::Cookie, "cookie:", name, value);
                // PHP decodes `$_COOKIE` with `urldecode`, `+` as a space
                // (the decoding layers leave `+`): that reading too
                // (review round 17).
                if memchr::memchr(b'+', value).is_some() {
                    let mut plus = std::mem::take(&mut self.b64);
                    plus.clear();
                    plus.extend(value.iter().map(|&b| if b == b'+' { b' ' } else { b }));
                    self.push(limits, stats, Kind::Cookie, "cookie:", name, &plus);
                    self.b64 = plus;
                }
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
        let depth_hits = stats.decode_depth_hits;
        const FORM: &[u8] = b"application/x-www-form-urlencoded";
        // PHP ends the type at a `,` or a space as well as at `;`
        // (`sapi_read_post_data`): `FORM, text/plain` fills `$_POST`. The
        // other back ends refuse such a type and read the body raw, so it
        // is inspected raw too (review round 20).
        let php_form =
            !mime.eq_ignore_ascii_case(FORM) && php_media_type(ct).eq_ignore_ascii_case(FORM);
        if mime.eq_ignore_ascii_case(FORM) || php_form {
            self.urlencoded(limits, stats, Kind::Body, "body:", body, tmp, tmp2);
            if php_form {
                self.push(limits, stats, Kind::Body, "body", b"", body);
            }
            return;
        }
        let declared_json = mime.eq_ignore_ascii_case(b"application/json")
            // ASP.NET Core's JSON input formatters read `text/json` too
            // (review round 25).
            || mime.eq_ignore_ascii_case(b"text/json")
            || (mime.len() >= 5
                && mime
                    .get(mime.len() - 5..)
                    .is_some_and(|s| s.eq_ignore_ascii_case(b"+json")));
        // Go's `json.NewDecoder(r.Body)` and PHP's
        // `json_decode(file_get_contents('php://input'))` read the body
        // whatever its type says: a JSON document sent as text or with
        // no type is split too (review round 15), and so is one of any
        // other type no parser here owns, its raw body kept as well
        // (review round 25).
        let boundary_for_php = php_boundary(ct);
        let unclaimed = !declared_json
            && !mime.eq_ignore_ascii_case(b"application/graphql")
            && !mime.eq_ignore_ascii_case(b"multipart/form-data")
            && boundary_for_php.is_none()
            && !xml::is_xml_media_type(mime);
        let sniffed = unclaimed && looks_like_json(body);
        // Text or no type is how clients send JSON by mistake; under any
        // other type the raw body is kept too.
        let sniffed_other =
            sniffed && !(mime.is_empty() || mime.eq_ignore_ascii_case(b"text/plain"));
        let is_json = declared_json || sniffed;
        // Jackson (Spring, no charset given) reads UTF-16 and UTF-32 JSON,
        // found from its first bytes (RFC 4627 §3): split it as text
        // (review round 18).
        let wide = if is_json { wide_json(body) } else { None };
        if is_json {
            let json_body = wide.as_deref().unwrap_or(body);
            let mut scratch = Vec::new();
            if let Ok((v, relaxed)) = Node::parse_relaxed(json_body, &mut scratch) {
                if !self.graphql_json(limits, stats, &v) {
                    let mut path = String::new();
                    self.json(limits, stats, &v, &mut path, 0);
                }
                // Members below the walk's depth limit were not handed on,
                // but back ends read them (Node has no limit, PHP 512): the
                // raw body at least, as XML does (review round 16). So is a
                // body only read leniently: what follows the first value
                // was not split (review round 17).
                if stats.decode_depth_hits != depth_hits || relaxed || sniffed_other {
                    self.push(limits, stats, Kind::Body, "body", b"", json_body);
                }
                return;
            }
        }
        if mime.eq_ignore_ascii_case(b"application/graphql") {
            self.graphql(limits, stats, Kind::Body, "body:graphql:", body);
            return;
        }
        // PHP finds the boundary its own way (`php_boundary`): where it
        // finds another one, the body is split at that one too.
        if let Some(boundary) =
            boundary_for_php.filter(|b| Some(*b) != header_param(ct, b"boundary"))
        {
            self.finding(MultipartFinding::BadBoundary.as_str());
            self.multipart_at(limits, stats, boundary, body);
        }
        if mime.eq_ignore_ascii_case(b"multipart/form-data")
            && self.multipart(limits, stats, ct, body)
        {
            return;
        }
        self.push(limits, stats, Kind::Body, "body", b"", body);
        // XML in UTF-16 or UTF-32, which libxml2, Xerces, .NET and expat
        // decode (XML 1.0 Appendix F): walked and inspected as text, else
        // every other byte is NUL and no entity in it is unescaped (review
        // round 35).
        let wide = wide_xml(mime, body);
        if let Some(text) = &wide {
            self.push(limits, stats, Kind::Body, "body", b"", text);
        }
        let body = wide.as_deref().unwrap_or(body);
        // EBCDIC (`<?xm` in IBM037), which the JDK's Xerces decodes by the
        // declaration: no byte of it is text to a rule.
        if body.starts_with(&[0x4C, 0x6F, 0xA7, 0x94])
            || xml_declared_encoding(body).is_some_and(|e| {
                // Wide text was decoded above; any other charset a rule
                // cannot read (UTF-7, ISO-2022, EBCDIC by name), which
                // libxml2 with iconv and .NET decode by the declaration.
                let wide = e.get(..6).is_some_and(|p| {
                    p.eq_ignore_ascii_case(b"utf-16") || p.eq_ignore_ascii_case(b"utf-32")
                });
                !wide && !super::protocol::charset_known(e)
            })
        {
            self.finding("charset-evasion");
        }
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
        prefix: &'static str,
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
    fn graphql_json(&mut self, limits: &DetectLimits, stats: &mut DetectStats, v: &Node) -> bool {
        fn is_op(v: &Node) -> bool {
            v.members("query")
                .filter_map(Node::as_str)
                .any(|q| graphql::looks_like_query(q.as_bytes()))
        }
        let ops: &[Node] = match v {
            Node::Object(_) if is_op(v) => std::slice::from_ref(v),
            Node::Array(a) if !a.is_empty() && a.iter().all(is_op) => a,
            _ => return false,
        };
        let mut path = String::new();
        for o in ops {
            let Node::Object(members) = o else {
                continue;
            };
            if o.repeats_a_key() {
                self.finding("json-duplicate-key");
            }
            for (k, x) in members {
                path.clear();
                path.push_str(k);
                match (k.as_ref(), x) {
                    ("query", Node::String(q)) => {
                        self.graphql(limits, stats, Kind::Body, "body:graphql:", q.as_bytes());
                    }
                    ("variables", Node::String(vs)) => {
                        let mut scratch = Vec::new();
                        match Node::parse_lenient(vs.as_bytes(), &mut scratch) {
                            Ok(inner) => self.json(limits, stats, &inner, &mut path, 1),
                            Err(_) => self.json(limits, stats, x, &mut path, 1),
                        }
                    }
                    _ => self.json(limits, stats, x, &mut path, 1),
                }
            }
        }
        true
    }

    /// One `body:json:PATH` point.
    fn json_point(&mut self, limits: &DetectLimits, stats: &mut DetectStats, path: &str, v: &[u8]) {
        self.push(limits, stats, Kind::Body, "body:json:", path.as_bytes(), v);
    }

    /// JSON strings and member names as `body:json:PATH` points, every
    /// member in document order (repeated keys included, see [`Node`]).
    fn json(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        v: &Node,
        path: &mut String,
        depth: usize,
    ) {
        if depth > MAX_JSON_DEPTH {
            stats.decode_depth_hits += 1;
            return;
        }
        let base = path.len();
        match v {
            Node::String(s) => self.json_point(limits, stats, path, s.as_bytes()),
            Node::Array(a) => {
                let mut i = 0usize;
                for x in a {
                    if let Node::Skipped(run) = x {
                        i = i.saturating_add(*run as usize);
                        continue;
                    }
                    let _ = write!(path, "[{i}]");
                    self.json(limits, stats, x, path, depth + 1);
                    path.truncate(base);
                    i += 1;
                }
            }
            Node::Object(o) => {
                if v.repeats_a_key() {
                    self.finding("json-duplicate-key");
                }
                for (k, x) in o {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    self.json_point(limits, stats, path, k.as_bytes());
                    // `{"constructor": {"prototype": …}}`: a deep merge in
                    // Node writes `Object.prototype` through it, but each
                    // name alone is harmless: hand on the pair as the rules
                    // know it from a query (review round 16).
                    if k == "prototype"
                        && path.get(..base).is_some_and(|p| p.ends_with("constructor"))
                    {
                        self.json_point(limits, stats, path, b"constructor.prototype");
                    }
                    self.json(limits, stats, x, path, depth + 1);
                    path.truncate(base);
                }
            }
            // Numbers, booleans and null carry no attack text.
            Node::Other | Node::Skipped(_) => {}
        }
    }

    /// Record a protocol finding once per request.
    fn finding(&mut self, f: &'static str) {
        if !self.findings.contains(&f) {
            self.findings.push(f);
        }
    }

    /// Record a finding of one part unless it is an unclosed tail.
    fn part_finding(&mut self, tail: bool, f: MultipartFinding) {
        if !tail {
            self.finding(f.as_str());
        }
    }

    /// multipart/form-data (RFC 7578, RFC 2046 §5.1): each part's content as
    /// `body:NAME`, each part header as `body:multipart:NAME:header:HNAME`,
    /// its filename as `body:multipart:NAME:filename` and the boundary as
    /// `body:multipart:boundary`. Parser-differential shapes are recorded
    /// as `multipart-*` findings (see [`MultipartFinding`]). Returns false
    /// when the body is not well-formed enough to split (it is then
    /// inspected raw).
    fn multipart(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        content_type: &[u8],
        body: &[u8],
    ) -> bool {
        let Some(boundary) = header_param(content_type, b"boundary") else {
            self.finding(MultipartFinding::BadBoundary.as_str());
            return false;
        };
        if !boundary_ok(content_type, boundary) {
            self.finding(MultipartFinding::BadBoundary.as_str());
        }
        self.multipart_at(limits, stats, boundary, body)
    }

    /// [`Self::multipart`] at a boundary already found.
    fn multipart_at(
        &mut self,
        limits: &DetectLimits,
        stats: &mut DetectStats,
        boundary: &[u8],
        body: &[u8],
    ) -> bool {
        if boundary.is_empty() {
            return false;
        }
        self.push(
            limits,
            stats,
            Kind::Body,
            "body:multipart:boundary",
            b"",
            boundary,
        );
        let mut delim = Vec::with_capacity(boundary.len() + 2);
        delim.extend_from_slice(b"--");
        delim.extend_from_slice(boundary);
        let finder = memchr::memmem::Finder::new(&delim);
        let mut starts: Vec<usize> = Vec::new();
        let mut closed = false;
        for i in finder.find_iter(body).take(MAX_MULTIPART_PARTS + 1) {
            // A delimiter starts a line (RFC 2046 §5.1.1); elsewhere some
            // parsers split and others do not.
            if i > 0 && body.get(i - 1) != Some(&b'\n') {
                self.finding(MultipartFinding::BoundaryMidLine.as_str());
            }
            starts.push(i);
            let after = body.get(i + delim.len()..).unwrap_or_default();
            if let Some(epilogue) = after.strip_prefix(b"--") {
                closed = true;
                // RFC 2046 allows an epilogue, but no client sends one and
                // parsers differ on whether more parts follow; it is
                // inspected as one value.
                let epilogue = epilogue.trim_ascii();
                if !epilogue.is_empty() {
                    self.finding(MultipartFinding::DataAfterClose.as_str());
                    self.push(
                        limits,
                        stats,
                        Kind::Body,
                        "body:multipart:epilogue",
                        b"",
                        epilogue,
                    );
                }
                break;
            }
        }
        if !closed && (1..=MAX_MULTIPART_PARTS).contains(&starts.len()) {
            // No closing delimiter: the last part runs to the end (it is
            // inspected, not dropped; a capture may have cut the body).
            starts.push(body.len());
        }
        if starts.len() < 2 {
            return false;
        }
        let mut line_ends = LineEnds::default();
        for w in starts.windows(2) {
            let (Some(&a), Some(&b)) = (w.first(), w.get(1)) else {
                continue;
            };
            let Some(part) = body.get(a + delim.len()..b) else {
                continue;
            };
            // The part after the last delimiter of an unclosed body: it may
            // have been cut by a capture limit, so it is inspected but its
            // shape is not judged, and an empty one is ignored.
            let tail = !closed && b == body.len();
            if tail && part.trim_ascii().is_empty() {
                continue;
            }
            let part = match part.strip_prefix(b"\r\n") {
                Some(p) => {
                    line_ends.crlf = true;
                    p
                }
                None => match part.strip_prefix(b"\n") {
                    Some(p) => {
                        line_ends.lf = true;
                        p
                    }
                    None => part,
                },
            };
            let part = part
                .strip_suffix(b"\r\n")
                .or_else(|| part.strip_suffix(b"\n"))
                .unwrap_or(part);
            let (head, content) = match memchr::memmem::find(part, b"\r\n\r\n") {
                Some(i) => {
                    line_ends.crlf = true;
                    (
                        part.get(..i + 2).unwrap_or_default(),
                        part.get(i + 4..).unwrap_or_default(),
                    )
                }
                None => match memchr::memmem::find(part, b"\n\n") {
                    Some(i) => {
                        line_ends.lf = true;
                        (
                            part.get(..i + 1).unwrap_or_default(),
                            part.get(i + 2..).unwrap_or_default(),
                        )
                    }
                    None => (part, &b""[..]),
                },
            };
            let mut name: &[u8] = b"";
            let mut name_star: Option<Vec<u8>> = None;
            let mut filename: Option<&[u8]> = None;
            let mut filename_star: Option<&[u8]> = None;
            let mut filename_continued: Option<Vec<u8>> = None;
            let mut base64_cte = false;
            let mut qp_cte = false;
            let mut dispositions = 0usize;
            let mut headers: Vec<(&[u8], &[u8])> = Vec::new();
            // `head` keeps its last line end, so every line but an empty
            // tail (or an unterminated head) was ended by a `\n`.
            let mut lines = head.split(|&b| b == b'\n').peekable();
            while let Some(raw) = lines.next() {
                if lines.peek().is_some() {
                    match raw.strip_suffix(b"\r") {
                        Some(_) => line_ends.crlf = true,
                        None => line_ends.lf = true,
                    }
                }
                if raw.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                    // Obsolete line folding (RFC 7578 §4.8 forbids it).
                    self.part_finding(tail, MultipartFinding::MalformedHeader);
                }
                let line = raw.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                let Some(colon) = memchr::memchr(b':', line) else {
                    self.part_finding(tail, MultipartFinding::MalformedHeader);
                    continue;
                };
                let hname = line.get(..colon).unwrap_or_default();
                let hval = line.get(colon + 1..).unwrap_or_default().trim_ascii();
                if hname.is_empty() || !hname.iter().all(|&b| is_tchar(b)) {
                    // `Content- Disposition`: a name no header parser agrees on.
                    self.part_finding(tail, MultipartFinding::MalformedHeader);
                }
                if hname.eq_ignore_ascii_case(b"content-disposition") {
                    dispositions += 1;
                    if !quotes_balanced(hval)
                        || !media_type(hval).eq_ignore_ascii_case(b"form-data")
                    {
                        self.part_finding(tail, MultipartFinding::MalformedDisposition);
                    }
                    if super::protocol::disposition_param_injection(hval) {
                        self.part_finding(tail, MultipartFinding::ParamInjection);
                    }
                    // `name="a"; name="b"`: PHP, Django and busboy take the
                    // last, this location the first, Go refuses the part
                    // (review round 17).
                    if repeats_a_param(hval, b"name") || repeats_a_param(hval, b"filename") {
                        self.part_finding(tail, MultipartFinding::MalformedDisposition);
                    }
                    if dispositions == 1 {
                        name = header_param(hval, b"name").unwrap_or_default();
                        // Django and Go take an RFC 2231 `name*` for the
                        // name (`parse_header_parameters`,
                        // `mime.ParseMediaType`), PHP the `name`: the part
                        // is read under both. No browser sends one
                        // (review round 21).
                        // Go also joins continuations (`name*0`, `name*1`)
                        // into the name: those are only a finding.
                        name_star = header_param(hval, b"name*").map(rfc2231_value);
                        let extended = hval.split(|&b| b == b';').any(|p| {
                            p.trim_ascii_start()
                                .get(..5)
                                .is_some_and(|k| k.eq_ignore_ascii_case(b"name*"))
                        });
                        filename = header_param(hval, b"filename");
                        filename_star = header_param(hval, b"filename*");
                        // Go (and Python's email package) read a file name
                        // sent in continuations as the joined pieces: an
                        // attack split across them is in no single piece.
                        filename_continued = rfc2231_continued(hval, b"filename");
                        if extended || filename_continued.is_some() {
                            self.part_finding(tail, MultipartFinding::MalformedDisposition);
                        }
                    }
                } else {
                    if hname.eq_ignore_ascii_case(b"content-type") {
                        if let Some(cs) = header_param(hval, b"charset") {
                            if !charset_allowed(cs) {
                                self.part_finding(tail, MultipartFinding::PartCharset);
                            }
                        }
                    }
                    if hname.eq_ignore_ascii_case(b"content-transfer-encoding") {
                        // Django reads the value up to a `;` (its
                        // `parse_header_parameters`): `base64; x=1` is
                        // base64 (review round 21).
                        let cte = media_type(hval);
                        if cte.eq_ignore_ascii_case(b"base64") {
                            base64_cte = true;
                        } else if cte.eq_ignore_ascii_case(b"quoted-printable") {
                            qp_cte = true;
                        }
                    }
                    headers.push((hname, hval));
                }
            }
            match dispositions {
                0 => self.part_finding(tail, MultipartFinding::NoDisposition),
                1 => {}
                _ => self.part_finding(tail, MultipartFinding::DuplicateDisposition),
            }
            for (hname, hval) in headers {
                // Part headers (Content-Type of an upload) are attacker text too.
                let mut suffix = String::from(":header:");
                push_name(&mut suffix, hname);
                suffix.make_ascii_lowercase();
                self.push_with(
                    limits,
                    stats,
                    Kind::Body,
                    "body:multipart:",
                    name,
                    &suffix,
                    hval,
                );
            }
            let joined = filename_continued.as_deref();
            for (suffix, f) in [
                (":filename", filename),
                (":filename*", filename_star),
                (":filename*", joined),
            ] {
                if let Some(f) = f {
                    self.push_with(
                        limits,
                        stats,
                        Kind::Body,
                        "body:multipart:",
                        name,
                        suffix,
                        f,
                    );
                }
            }
            // Field names are attacker text (`password[$ne]` is an operator
            // to PHP and multer), as in a urlencoded body.
            if !plain_name(name) {
                self.push_with(
                    limits,
                    stats,
                    Kind::Body,
                    "body:multipart:",
                    name,
                    ":name",
                    name,
                );
            }
            // `_charset_` names the charset of the other fields (RFC 7578 §4.6).
            if name.eq_ignore_ascii_case(b"_charset_") && !charset_allowed(content.trim_ascii()) {
                self.part_finding(tail, MultipartFinding::CharsetField);
            }
            if !content.is_empty() {
                // Django decodes a `Content-Transfer-Encoding: base64`
                // field as `base64.b64decode` does, whatever it holds.
                let mut b64 = Vec::new();
                if base64_cte && super::decode::base64_declared(content, &mut b64) {
                    stats.base64_decoded += 1;
                }
                // Go's mime/multipart (`NextPart`, so `ParseMultipartForm`)
                // decodes a quoted-printable part.
                let mut qp = Vec::new();
                if qp_cte && !super::decode::quoted_printable(content, &mut qp) {
                    qp.clear();
                }
                let alias = name_star.as_deref().filter(|n| *n != name);
                for n in std::iter::once(name).chain(alias) {
                    self.push(limits, stats, Kind::Body, "body:", n, content);
                    if !b64.is_empty() {
                        self.push_with(limits, stats, Kind::Body, "body:", n, ":base64", &b64);
                    }
                    if !qp.is_empty() {
                        self.push_with(limits, stats, Kind::Body, "body:", n, ":qp", &qp);
                    }
                }
            }
        }
        if line_ends.crlf && line_ends.lf {
            self.finding(MultipartFinding::MixedLineEnds.as_str());
        }
        // More delimiters than parts split: what follows the last one split
        // is read by back ends (PHP up to 1000 fields, busboy without
        // limit), so it is inspected raw (review round 16).
        if !closed && starts.len() > MAX_MULTIPART_PARTS {
            if let Some(rest) = starts.last().and_then(|&s| body.get(s..)) {
                self.push(limits, stats, Kind::Body, "body", b"", rest);
            }
        }
        true
    }
}

/// A multipart shape that parsers disagree on or RFC 7578 forbids; reported
/// as a `protocol-multipart-*` hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultipartFinding {
    /// No `boundary` parameter, or one outside RFC 2046 `bchars` / longer
    /// than 70 / with an unmatched quote / given twice.
    BadBoundary,
    /// A delimiter not at the start of a line.
    BoundaryMidLine,
    /// Text after the closing delimiter.
    DataAfterClose,
    /// A part without `Content-Disposition`.
    NoDisposition,
    /// A part with more than one `Content-Disposition`.
    DuplicateDisposition,
    /// A `Content-Disposition` that is not `form-data`, has an unmatched
    /// quote, or names `name` or `filename` twice.
    MalformedDisposition,
    /// A part header line without a colon, with a non-token name, or folded.
    MalformedHeader,
    /// A part `Content-Type` charset other than UTF-8, ISO-8859-1/15,
    /// windows-1252 or US-ASCII.
    PartCharset,
    /// A `_charset_` field naming such a charset.
    CharsetField,
    /// Both CRLF and bare LF line ends in the multipart framing.
    MixedLineEnds,
    /// `;`, `=`, `"` or `\` inside a part's `name` / `filename` (see
    /// [`super::protocol::disposition_param_injection`]).
    ParamInjection,
}

impl MultipartFinding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadBoundary => "multipart-bad-boundary",
            Self::BoundaryMidLine => "multipart-boundary-mid-line",
            Self::DataAfterClose => "multipart-data-after-close",
            Self::NoDisposition => "multipart-no-disposition",
            Self::DuplicateDisposition => "multipart-duplicate-disposition",
            Self::MalformedDisposition => "multipart-malformed-disposition",
            Self::MalformedHeader => "multipart-malformed-header",
            Self::PartCharset => "multipart-part-charset",
            Self::CharsetField => "multipart-charset-field",
            Self::MixedLineEnds => "multipart-mixed-line-ends",
            Self::ParamInjection => "multipart-param-injection",
        }
    }
}

#[derive(Default)]
struct LineEnds {
    crlf: bool,
    lf: bool,
}

/// Charsets a form may declare (the CRS default
/// `allowed_request_content_type_charset` plus US-ASCII).
fn charset_allowed(cs: &[u8]) -> bool {
    let cs = cs.trim_ascii();
    let cs = cs
        .strip_prefix(b"\"")
        .and_then(|c| c.strip_suffix(b"\""))
        .unwrap_or(cs);
    [
        &b"utf-8"[..],
        b"utf8",
        b"iso-8859-1",
        b"iso-8859-15",
        b"windows-1252",
        b"us-ascii",
    ]
    .iter()
    .any(|a| cs.eq_ignore_ascii_case(a))
}

/// The boundary parameter is a valid RFC 2046 §5.1.1 boundary, given once,
/// with matched quotes.
/// The media type as PHP reads it (`sapi_read_post_data`): cut at the
/// first `;`, `,` or space.
fn php_media_type(content_type: &[u8]) -> &[u8] {
    content_type
        .split(|&b| matches!(b, b';' | b',' | b' '))
        .next()
        .unwrap_or_default()
}

/// The boundary PHP splits a body at (`rfc1867.c`), when its reading of the
/// type (cut at `;`, `,` or a space, `sapi_read_post_data`) is
/// multipart/form-data: the text after the first `=` following the first
/// `boundary` anywhere in the header (case-sensitive, else any case), to
/// the closing quote or to `,` or `;`. So `multipart/form-data,
/// boundary=b` and `…; xboundary=a; boundary=b` (PHP splits at `a`) are
/// split as PHP splits them.
pub(crate) fn php_boundary(content_type: &[u8]) -> Option<&[u8]> {
    if !php_media_type(content_type).eq_ignore_ascii_case(b"multipart/form-data") {
        return None;
    }
    let at = memchr::memmem::find(content_type, b"boundary").or_else(|| {
        content_type
            .windows(8)
            .position(|w| w.eq_ignore_ascii_case(b"boundary"))
    })?;
    let rest = content_type.get(at..)?;
    let value = rest.get(memchr::memchr(b'=', rest)? + 1..)?;
    match value.strip_prefix(b"\"") {
        Some(quoted) => quoted.get(..memchr::memchr(b'"', quoted)?),
        None => Some(
            value
                .split(|&b| matches!(b, b',' | b';'))
                .next()
                .unwrap_or_default(),
        ),
    }
}

fn boundary_ok(content_type: &[u8], boundary: &[u8]) -> bool {
    let given = content_type
        .split(|&b| b == b';')
        .filter(|p| {
            let p = p.trim_ascii();
            p.len() >= 9
                && p.get(..8)
                    .is_some_and(|k| k.eq_ignore_ascii_case(b"boundary"))
                && p.get(8..)
                    .is_some_and(|r| r.trim_ascii_start().starts_with(b"="))
        })
        .count();
    given == 1
        && quotes_balanced(content_type)
        && (1..=70).contains(&boundary.len())
        && !boundary.ends_with(b" ")
        && boundary
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b))
}

/// An RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Every `"` opened in a header value is closed (`\"` escapes one).
fn quotes_balanced(v: &[u8]) -> bool {
    let mut open = false;
    let mut esc = false;
    for &b in v {
        if esc {
            esc = false;
        } else if open && b == b'\\' {
            esc = true;
        } else if b == b'"' {
            open = !open;
        }
    }
    !open
}

/// Whether the header value names parameter `key` more than once (ASCII
/// case-insensitively, quotes not considered: a `;` inside a quoted value
/// is a `multipart-param-injection` finding anyway).
fn repeats_a_param(header: &[u8], key: &[u8]) -> bool {
    header
        .split(|&b| b == b';')
        .filter(|piece| {
            let piece = piece.trim_ascii();
            memchr::memchr(b'=', piece)
                .and_then(|eq| piece.get(..eq))
                .is_some_and(|k| k.trim_ascii().eq_ignore_ascii_case(key))
        })
        .nth(1)
        .is_some()
}

/// A JSON body in UTF-16 or UTF-32 (a byte order mark, or the zero bytes
/// of an ASCII first character, as Jackson's `ByteSourceJsonBootstrapper`
/// detects them) as UTF-8; None for any other body or a broken one.
fn wide_json(body: &[u8]) -> Option<Vec<u8>> {
    let head: [u8; 4] = body.get(..4)?.try_into().ok()?;
    let (unit, be, skip) = match head {
        [0, 0, 0xFE, 0xFF] => (4, true, 4),
        [0xFF, 0xFE, 0, 0] => (4, false, 4),
        [0xFE, 0xFF, _, _] => (2, true, 2),
        [0xFF, 0xFE, _, _] => (2, false, 2),
        [0, 0, 0, x] if x != 0 => (4, true, 0),
        [x, 0, 0, 0] if x != 0 => (4, false, 0),
        [0, x, 0, _] if x != 0 => (2, true, 0),
        [x, 0, _, 0] if x != 0 => (2, false, 0),
        _ => return None,
    };
    let data = body.get(skip..)?;
    if unit == 2 {
        let units = data.chunks_exact(2).map(|c| {
            let pair = [
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ];
            if be {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            }
        });
        let text: String = char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
        return Some(text.into_bytes());
    }
    let mut text = String::with_capacity(data.len() / 4);
    for c in data.chunks_exact(4) {
        let q: [u8; 4] = c.try_into().ok()?;
        let n = if be {
            u32::from_be_bytes(q)
        } else {
            u32::from_le_bytes(q)
        };
        text.push(char::from_u32(n).unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    Some(text.into_bytes())
}

/// The `encoding` of an XML declaration at the start of `body`
/// (`<?xml version="1.0" encoding="UTF-7"?>`), if there is one.
fn xml_declared_encoding(body: &[u8]) -> Option<&[u8]> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let decl = body.strip_prefix(b"<?xml")?;
    let decl = decl.get(..memchr::memmem::find(decl.get(..256).unwrap_or(decl), b"?>")?)?;
    let at = memchr::memmem::find(decl, b"encoding")?;
    let rest = decl.get(at + b"encoding".len()..)?.trim_ascii_start();
    let rest = rest.strip_prefix(b"=")?.trim_ascii_start();
    let (&quote, value) = rest.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    value.get(..memchr::memchr(quote, value)?)
}

/// An XML body in UTF-16 or UTF-32 (see [`wide_json`]) as UTF-8, when its
/// type is XML or its text starts like XML; None otherwise. The first bytes
/// are looked at first, so a binary upload is not transcoded whole.
fn wide_xml(mime: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let head = wide_json(body.get(..64).unwrap_or(body))?;
    let starts_like_xml = String::from_utf8_lossy(&head).trim_start().starts_with('<');
    if !starts_like_xml && !xml::is_xml_media_type(mime) {
        return None;
    }
    wide_json(body).filter(|text| xml::is_xml_media_type(mime) || xml::sniff(text))
}

/// An RFC 2231 extended parameter value as Django and Go read it:
/// `UTF-8'en'%71` is `q` (charset and language dropped, percent-decoded,
/// `+` kept); a value without exactly two `'` as sent (Django).
fn rfc2231_value(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut pieces = v.splitn(3, |&b| b == b'\'');
    match (pieces.next(), pieces.next(), pieces.next()) {
        (Some(_), Some(_), Some(text)) if memchr::memchr(b'\'', text).is_none() => {
            percent_decode(text, false, &mut out);
        }
        _ => out.extend_from_slice(v),
    }
    out
}

/// An RFC 2231 parameter sent in continuations (`filename*0="a";
/// filename*1*=%62`), joined as Go's `mime.ParseMediaType` joins them:
/// pieces 0, 1, … while each is present, a piece whose name ends in `*`
/// percent-decoded (piece 0 also loses its charset and language). None when
/// there is no piece 0.
fn rfc2231_continued(header: &[u8], key: &[u8]) -> Option<Vec<u8>> {
    // (index, encoded, value); one pass, so many pieces cost linear time.
    let mut pieces: Vec<(usize, bool, &[u8])> = Vec::new();
    for piece in header.split(|&b| b == b';') {
        let piece = piece.trim_ascii();
        let Some(eq) = memchr::memchr(b'=', piece) else {
            continue;
        };
        let k = piece.get(..eq).unwrap_or_default().trim_ascii();
        let Some(rest) = k
            .get(..key.len())
            .filter(|head| head.eq_ignore_ascii_case(key))
            .and_then(|_| k.get(key.len()..))
            .and_then(|rest| rest.strip_prefix(b"*"))
        else {
            continue;
        };
        let (digits, encoded) = match rest.strip_suffix(b"*") {
            Some(d) => (d, true),
            None => (rest, false),
        };
        // Go looks the pieces up as `key*0`, `key*1`…: `key*01` is none.
        let Some(index) = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<usize>().ok())
            .filter(|n| n.to_string().as_bytes() == digits)
        else {
            continue;
        };
        let v = piece.get(eq + 1..).unwrap_or_default().trim_ascii();
        let v = v
            .strip_prefix(b"\"")
            .and_then(|v| v.strip_suffix(b"\""))
            .unwrap_or(v);
        pieces.push((index, encoded, v));
    }
    pieces.sort_by_key(|&(index, encoded, _)| (index, encoded));
    let mut out = Vec::new();
    let mut next = 0;
    for (index, encoded, v) in pieces {
        // A plain and an encoded piece of one index: Go takes the plain.
        if index + 1 == next {
            continue;
        }
        if index != next {
            break;
        }
        match (encoded, index) {
            (false, _) => out.extend_from_slice(v),
            (true, 0) => out.extend_from_slice(&rfc2231_value(v)),
            (true, _) => {
                percent_decode(v, false, &mut out);
            }
        }
        next += 1;
    }
    (next > 0).then_some(out)
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

/// A body that starts (after a byte order mark and whitespace) like a JSON
/// object or array.
fn looks_like_json(body: &[u8]) -> bool {
    matches!(
        super::body::skip_bom(body).trim_ascii_start().first(),
        Some(b'{' | b'[')
    )
}

/// Append a name to a location: lossy UTF-8, at most `MAX_LOCATION_NAME`
/// bytes after the conversion (an invalid byte becomes a 3-byte U+FFFD).
fn push_name(out: &mut String, name: &[u8]) {
    let name = name.get(..MAX_LOCATION_NAME).unwrap_or(name);
    let start = out.len();
    // Names are nearly always ASCII: the plain check is the fast one.
    match std::str::from_utf8(name) {
        Ok(s) => out.push_str(s),
        Err(_) => out.push_str(&String::from_utf8_lossy(name)),
    }
    truncate_at_char(out, start + MAX_LOCATION_NAME);
}

/// Cut `s` to at most `len` bytes, at a character boundary.
fn truncate_at_char(s: &mut String, len: usize) {
    if s.len() > len {
        let mut end = len;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
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
    fn rfc2231_continuations_join_as_go_joins_them() {
        let join = |h: &str| {
            rfc2231_continued(h.as_bytes(), b"filename")
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        };
        assert_eq!(join(r#"form-data; name="f"; filename="a.txt""#), None);
        assert_eq!(
            join(r#"form-data; FILENAME*1="b"; filename*0="a""#).as_deref(),
            Some("ab")
        );
        // Piece 0 encoded loses its charset and language; later encoded
        // pieces are only percent-decoded.
        assert_eq!(
            join("x; filename*0*=UTF-8'en'%61; filename*1*=%62%20; filename*2=%63").as_deref(),
            Some("ab %63")
        );
        // Pieces stop at the first missing index; `*01` is not piece 1.
        assert_eq!(
            join(r#"x; filename*0="a"; filename*2="c""#).as_deref(),
            Some("a")
        );
        assert_eq!(
            join(r#"x; filename*0="a"; filename*01="b""#).as_deref(),
            Some("a")
        );
        assert_eq!(join(r#"x; filename*1="b""#), None);
        // A plain and an encoded piece of one index: the plain one.
        assert_eq!(
            join(r#"x; filename*0*=%41; filename*0="a"; filename*1="b""#).as_deref(),
            Some("ab")
        );
        // `filename*` alone is not a continuation; `name*0` is not `filename`.
        assert_eq!(join("x; filename*=UTF-8''a; name*0=b"), None);
    }

    /// A chunked body's trailer fields are points, but no server decodes
    /// or types the body by them (review round 27).
    #[test]
    fn trailer_fields_do_not_type_or_decode_the_body() {
        let mut r = req(
            "POST",
            "/",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Content-Encoding", "gzip"),
                ("X-Note", "<svg onload=alert(1)>"),
            ],
            b"a=1%27+or+1%3D1--",
        );
        r.trailers_from = Some(1);
        let ps = points(&r);
        assert!(has(&ps, "body:a", "1' or 1=1--"), "{ps:?}");
        assert!(has(&ps, "header:X-Note", "<svg onload=alert(1)>"), "{ps:?}");
        assert_eq!(stats_of(&r).body_inflate_errors, 0);
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(
            r.header("content-type"),
            Some(&b"application/x-www-form-urlencoded"[..])
        );
    }

    /// Runs of items with nothing to inspect are kept as counts: the
    /// strings after them keep their document index.
    #[test]
    fn json_indexes_count_skipped_items() {
        let body = br#"{"a":[0,null,[],{},[[1]],"x",2,"y"]}"#;
        let ps = points(&req(
            "POST",
            "/api",
            &[("Content-Type", "application/json")],
            body,
        ));
        assert!(has(&ps, "body:json:a[5]", "x"), "{ps:?}");
        assert!(has(&ps, "body:json:a[7]", "y"), "{ps:?}");
    }

    /// A lone surrogate escape (Node, Python and Jackson keep it, Go reads
    /// U+FFFD) no longer keeps the whole document from being split.
    #[test]
    fn json_with_a_lone_surrogate_is_split() {
        let body = br#"{"z":"\ud800","id":"1\u0027 UNION SELECT 1--"}"#;
        let ps = points(&req(
            "POST",
            "/api",
            &[("Content-Type", "application/json")],
            body,
        ));
        assert!(has(&ps, "body:json:id", "1' UNION SELECT 1--"), "{ps:?}");
        assert!(has(&ps, "body:json:z", "\u{fffd}"), "{ps:?}");
    }

    /// Found by the body_points fuzz target: a name of invalid UTF-8 (each
    /// byte becomes a 3-byte U+FFFD) plus a decoded-layer suffix overran the
    /// location bound. The whole location is bounded; the suffix survives.
    #[test]
    fn location_is_bounded_and_keeps_its_layer_suffix() {
        let mut r = req("POST", "/", &[], b"");
        let mut cookie = vec![0xffu8; 200];
        cookie.extend_from_slice(b"=PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==");
        r.headers = [
            (&b"Cookie"[..], &cookie[..]),
            (b"Content-Type", b"multipart/form-data; boundary=B"),
        ]
        .into_iter()
        .collect();
        let mut body = b"--B\r\nContent-Disposition: form-data; name=\"".to_vec();
        body.extend_from_slice(&[0xfe; 200]);
        body.extend_from_slice(b"\"\r\n");
        body.extend_from_slice(&[0xfd; 200]);
        body.extend_from_slice(b": v\r\n\r\ncontent\r\n--B--\r\n");
        r.body = body;
        let ps = points(&r);
        assert!(!ps.is_empty());
        for (loc, _) in &ps {
            assert!(loc.len() <= MAX_LOCATION_LEN, "{} bytes: {loc}", loc.len());
        }
        let b64 = ps.iter().find(|(l, _)| l.ends_with(":base64"));
        assert_eq!(
            b64.map(|(l, v)| (l.starts_with("cookie:\u{fffd}"), v.as_str())),
            Some((true, "<script>alert(1)</script>")),
            "{ps:?}"
        );
        assert!(
            ps.iter()
                .any(|(l, v)| l.starts_with("body:multipart:\u{fffd}")
                    && l.contains(":header:\u{fffd}")
                    && v == "v"),
            "{ps:?}"
        );
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
        // What follows a `#` is read as Go reads it (review round 15).
        assert!(has(&ps, "query:<n>", "v#frag"), "{ps:?}");
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
        assert!(has(&ps, "body:multipart:f:filename", "a.php"), "{ps:?}");
        assert!(has(&ps, "body:f", "<?php x"));
        assert!(has(
            &ps,
            "body:multipart:f:header:content-type",
            "text/plain"
        ));
        assert!(has(&ps, "body:g", "hello"));
        assert!(has(&ps, "body:multipart:boundary", "XX"));
        assert!(findings(&r).is_empty(), "{:?}", findings(&r));

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

    fn findings(r: &Request) -> Vec<&'static str> {
        let mut p = Points::default();
        let mut st = DetectStats::default();
        p.extract(r, &DetectLimits::default(), &mut st);
        p.findings
    }

    fn multipart_findings(content_type: &str, body: &[u8]) -> Vec<&'static str> {
        findings(&req("POST", "/", &[("Content-Type", content_type)], body))
    }

    const MP: &str = "multipart/form-data; boundary=b";

    #[test]
    fn multipart_well_formed_has_no_findings() {
        // RFC 7578 §4 shapes: a field, a file, a `_charset_` field, LF-only
        // framing throughout, a quoted boundary and a preamble.
        let crlf = b"--b\r\nContent-Disposition: form-data; name=\"_charset_\"\r\n\r\nUTF-8\r\n--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a b.txt\"\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nx\r\n--b--\r\n";
        assert!(multipart_findings(MP, crlf).is_empty());
        let lf = b"--b\nContent-Disposition: form-data; name=\"a\"\n\n1\n--b--\n";
        assert!(multipart_findings(MP, lf).is_empty());
        let quoted = b"preamble\r\n--a b:c\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--a b:c--\r\n";
        assert!(multipart_findings("multipart/form-data; boundary=\"a b:c\"", quoted).is_empty());
    }

    #[test]
    fn multipart_part_charsets() {
        for cs in ["utf-7", "UTF-16", "shift_jis", "\"utf-7\""] {
            let body = format!("--b\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Type: text/plain;  CHARSET = {cs}\r\n\r\n+ADw-\r\n--b--\r\n");
            assert_eq!(
                multipart_findings(MP, body.as_bytes()),
                vec!["multipart-part-charset"],
                "{cs}"
            );
        }
        let body =
            b"--b\r\nContent-Disposition: form-data; name=\"_charset_\"\r\n\r\nutf-\r\n--b--\r\n";
        assert_eq!(
            multipart_findings(MP, body),
            vec!["multipart-charset-field"]
        );
    }

    #[test]
    fn multipart_dispositions() {
        let dup = b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"1.php\"\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\nx\r\n--b--\r\n";
        assert_eq!(
            multipart_findings(MP, dup),
            vec!["multipart-duplicate-disposition"]
        );
        // The first disposition names the part, as most parsers keep it.
        let r = req("POST", "/", &[("Content-Type", MP)], dup);
        assert!(has(&points(&r), "body:f", "x"));
        let none = b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n";
        assert_eq!(
            multipart_findings(MP, none),
            vec!["multipart-no-disposition"]
        );
        let quote = b"--b\r\nContent-Disposition: form-data; name=\"a\"; filename=\"x.php\r\n\r\nx\r\n--b--\r\n";
        assert_eq!(
            multipart_findings(MP, quote),
            vec!["multipart-malformed-disposition"]
        );
        let kind = b"--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--b--\r\n";
        assert_eq!(
            multipart_findings(MP, kind),
            vec!["multipart-malformed-disposition"]
        );
    }

    #[test]
    fn multipart_malformed_headers() {
        let space = b"--b\r\nContent- Disposition: form-data; name=\"f\"\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--\r\n";
        assert_eq!(
            multipart_findings(MP, space),
            vec!["multipart-malformed-header"]
        );
        let folded = b"--b\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\nx\r\n--b--\r\n";
        assert!(multipart_findings(MP, folded).contains(&"multipart-malformed-header"));
        let no_colon =
            b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\njunk\r\n\r\nx\r\n--b--\r\n";
        assert_eq!(
            multipart_findings(MP, no_colon),
            vec!["multipart-malformed-header"]
        );
    }

    #[test]
    fn multipart_framing() {
        let mixed = b"--b\r\nContent-Disposition: form-data; name=\"a\"\n\nx\r\n--b--\r\n";
        assert_eq!(
            multipart_findings(MP, mixed),
            vec!["multipart-mixed-line-ends"]
        );
        let after = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--\r\n--b\r\nContent-Disposition: form-data; name=\"c\"\r\n\r\n<script>\r\n";
        assert!(multipart_findings(MP, after).contains(&"multipart-data-after-close"));
        let mid = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx--b\r\nContent-Disposition: form-data; name=\"c\"\r\n\r\ny\r\n--b--\r\n";
        assert_eq!(
            multipart_findings(MP, mid),
            vec!["multipart-boundary-mid-line"]
        );
        let ok = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b--\r\n";
        for ct in [
            "multipart/form-data",
            "multipart/form-data; boundary=\"b",
            "multipart/form-data; boundary=b; boundary=c",
            "multipart/form-data; boundary=b<",
        ] {
            assert!(
                multipart_findings(ct, ok).contains(&"multipart-bad-boundary"),
                "{ct}"
            );
        }
    }

    #[test]
    fn multipart_unterminated_last_part_is_inspected() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name=\"c\"\r\n\r\n<script>";
        let r = req("POST", "/", &[("Content-Type", MP)], body);
        let ps = points(&r);
        assert!(has(&ps, "body:c", "<script>"), "{ps:?}");
        assert!(findings(&r).is_empty());
        // A tail cut inside its headers, or an empty one, is not judged.
        let cut =
            b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b\r\nContent-Dispo";
        assert!(multipart_findings(MP, cut).is_empty());
        let empty = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b\r\n";
        assert!(multipart_findings(MP, empty).is_empty());
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
            &[("Content-Encoding", "gzip"), ("Content-Type", "text/plain")],
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

    /// Apache httpd joins repeated field lines into one list (ap_get_mime_headers
    /// then apr_table_compress with APR_OVERLAP_TABLES_MERGE: `gzip, identity`);
    /// mod_deflate's check_gzip (SetInputFilter DEFLATE) strips the trailing
    /// `identity` and gunzips the body. Go's `Header.Get` reads the first line
    /// (`gzip`), so a Go handler that undoes `gzip` does too. Specula took the
    /// last line only (`identity`) and inspected the compressed bytes: the
    /// attack inside was missed (masking already joined all lines).
    /// Severity: High.
    #[test]
    fn review35a_repeated_content_encoding_lines_join() {
        for last in ["identity", ""] {
            let r = gzipped_injection_form(last);
            assert!(
                has(&points(&r), "body:q", INJECTION),
                "second line {last:?}: {:?}",
                points(&r)
            );
        }
    }

    const INJECTION: &str = "1' union select password from users--";

    /// A form posting `INJECTION` gzipped, with the lines
    /// `Content-Encoding: gzip` and `Content-Encoding: second`.
    fn gzipped_injection_form(second: &str) -> Request {
        req(
            "POST",
            "/",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Content-Encoding", "gzip"),
                ("Content-Encoding", second),
            ],
            &gzip(b"q=1%27+union+select+password+from+users--"),
        )
    }

    /// A Go handler that undoes the coding `r.Header.Get("Content-Encoding")`
    /// names reads the first line (`gzip`) and ignores a second (`br`).
    /// Specula undid the codings from the last, `br` failed on the gzip
    /// bytes and it stopped there, inspecting the compressed bytes. A coding
    /// whose data is not valid now leaves the bytes as they are for the next.
    /// Severity: Medium (depends on the application undoing the coding).
    #[test]
    fn review35a_invalid_outer_coding_does_not_hide_inner() {
        let r = gzipped_injection_form("br");
        assert!(has(&points(&r), "body:q", INJECTION), "{:?}", points(&r));
        assert_eq!(stats_of(&r).body_inflate_errors, 1);
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
        // Four points, then the whole query past the budget (its head and
        // tail: it is cut to 3 bytes too).
        assert_eq!(p.points.len(), 6);
        assert_eq!(st.point_limit_hits, 1);
        // "/?a=1&b=2&c=3&d=4" is cut to 3 bytes as the `uri` point, and so
        // is the whole query.
        assert_eq!(st.point_bytes_truncated, 2);
        let uri = p.points.iter().find(|x| x.kind == Kind::Uri);
        assert_eq!(uri.map(|x| p.value(x)), Some(&b"/?a"[..]));
        let whole: Vec<_> = p
            .points
            .get(4..)
            .unwrap_or_default()
            .iter()
            .map(|x| (p.loc(x).to_string(), p.value(x).to_vec()))
            .collect();
        assert_eq!(
            whole,
            [
                ("query:".to_string(), b"a=1".to_vec()),
                ("query:".to_string(), b"d=4".to_vec())
            ]
        );
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

    /// A JSON body with one branch nested deeper than serde_json's
    /// recursion limit (128): Node's `JSON.parse` has no limit, PHP's
    /// `json_decode` allows 512, Jackson 1000 (`StreamReadConstraints`),
    /// Python's `json` about 1000 and Go's `encoding/json` 10000, so the
    /// application reads `q` with its attack. Specula's parse failed and the
    /// body was kept only as one raw point: `body:json:q` was never made
    /// (and a raw body over 32 KiB loses its middle, see
    /// `review25b_deep_json_branch_hides_padded_member` in tests.rs).
    /// Severity: High.
    #[test]
    fn review25b_json_nested_past_serde_limit_is_still_split() {
        let body = format!(
            "{{\"q\":\"1' UNION SELECT pass FROM users--\",\"d\":{}1{}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        let r = req(
            "POST",
            "/",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        let ps = points(&r);
        assert!(
            has(&ps, "body:json:q", "1' UNION SELECT pass FROM users--"),
            "{:?}",
            ps.iter().map(|(l, _)| l).collect::<Vec<_>>()
        );
        assert!(ps.iter().any(|(l, _)| l == "body"), "raw body kept too");
    }

    /// Tornado's forms (`parse_body_arguments` → `urllib.parse.parse_qs`)
    /// on Python before 3.9.2, and Bottle's `_parse_qsl`, split a form body
    /// at `;` as well as `&`: `a=x;q=…` gives the application a field `q`.
    /// Specula split only a query that way, so the form's attack showed only
    /// inside `body:a` (a scoped exclusion or tuning of `body:a` silences
    /// it; `specula-sqli-lex` missed `1 OR 1=1` there). Severity: Medium.
    #[test]
    fn review25b_form_body_split_at_semicolons() {
        let r = req(
            "POST",
            "/",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"a=x;q=1%20OR%201=1&b=2",
        );
        let ps = points(&r);
        assert!(has(&ps, "body:q", "1 OR 1=1"), "{ps:?}");
        assert!(has(&ps, "body:a", "x;q=1 OR 1=1"), "{ps:?}");
        assert!(has(&ps, "body:b", "2"), "{ps:?}");
    }

    /// ASP.NET Core's `SystemTextJsonInputFormatter` reads `text/json` as
    /// JSON (its supported media types are `application/json`, `text/json`
    /// and `application/*+json`); Go's `json.NewDecoder(r.Body)` and PHP's
    /// `json_decode(file_get_contents('php://input'))` read any type. Specula
    /// split JSON only for `application/json`, `+json`, `text/plain` or no
    /// type: a `text/json` body was one raw point. Severity: Medium (High
    /// with a body over 32 KiB, see tests.rs).
    #[test]
    fn review25b_text_json_body_is_split() {
        for ct in [
            "text/json",
            "text/json; charset=utf-8",
            "application/octet-stream",
        ] {
            let r = req(
                "POST",
                "/",
                &[("Content-Type", ct)],
                br#"{"q":"<script>alert(1)</script>"}"#,
            );
            let ps = points(&r);
            assert!(
                has(&ps, "body:json:q", "<script>alert(1)</script>"),
                "{ct}: {ps:?}"
            );
        }
    }
}
