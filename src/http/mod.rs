//! HTTP: incremental HTTP/1.x parsing of reassembled byte streams.
//!
//! Owns one [`HttpSession`] per flow: a request parser (explicit state
//! machine; httparse for the head; Content-Length and chunked bodies; limits
//! on header bytes, header count and inspected body bytes) and a response
//! parser that consumes the other direction so it never confuses request
//! parsing. Malformed or ambiguous input never stops parsing: it is recorded
//! as [`Anomaly`] flags on the [`Request`]. After a gap the parser
//! resynchronises on the next request line. Sees stream events only, never
//! addresses. Hands on [`HttpEvent`]s.

use crate::capture::Timestamp;
use crate::reassembly::Direction;

/// Limits of one session. Each has a counter in [`HttpStats`] when hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Most bytes of a request line plus headers; longer heads are cut
    /// (anomaly `HeaderTooLong`), the request is still reported with what was
    /// parsed, and parsing resynchronises.
    pub max_header_bytes: usize,
    /// Most header fields kept per request (anomaly `TooManyHeaders`).
    pub max_headers: usize,
    /// Most body bytes kept for inspection per request; the rest is counted
    /// in `body_len` and skipped, never buffered.
    pub max_body_inspect_bytes: usize,
    /// Most requests parsed but not yet answered kept per flow for response
    /// pairing (HEAD / 1xx handling); older ones are forgotten.
    pub max_tx_per_flow: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_header_bytes: 64 * 1024,
            max_headers: 256,
            max_body_inspect_bytes: 64 * 1024,
            max_tx_per_flow: 64,
        }
    }
}

/// Protocol anomalies seen on a request. A bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Anomalies(pub u32);

/// One protocol anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Anomaly {
    /// Both Content-Length and Transfer-Encoding (RFC 9112 §6.3: smuggling risk).
    ClAndTe = 1 << 0,
    /// More than one Content-Length header (differing or not).
    DuplicateCl = 1 << 1,
    /// Content-Length that is not a decimal number.
    InvalidCl = 1 << 2,
    /// Transfer-Encoding other than a final `chunked`.
    InvalidTe = 1 << 3,
    /// Chunk size line that does not parse.
    InvalidChunk = 1 << 4,
    /// A CR not followed by LF in the head.
    BareCr = 1 << 5,
    /// Head longer than `max_header_bytes`.
    HeaderTooLong = 1 << 6,
    /// More header fields than `max_headers`.
    TooManyHeaders = 1 << 7,
    /// Request line that is not `METHOD SP target SP HTTP/x.y`.
    InvalidRequestLine = 1 << 8,
    /// Header line that httparse rejects (no colon, bad name, ...).
    InvalidHeader = 1 << 9,
    /// Lines ended by LF alone.
    BareLf = 1 << 10,
    /// Whitespace inside the request-target.
    SpaceInUri = 1 << 11,
    /// HTTP version other than 1.0 / 1.1.
    UnusualVersion = 1 << 12,
    /// Part of the request was lost to a capture gap.
    Gap = 1 << 13,
    /// The stream ended before the request was complete.
    Incomplete = 1 << 14,
    /// Whitespace between a header name and the colon, or obs-fold.
    HeaderWhitespace = 1 << 15,
    /// Missing Host on HTTP/1.1.
    MissingHost = 1 << 16,
    /// Bytes before a request that could not be a request line (skipped).
    GarbageBeforeRequest = 1 << 17,
}

impl Anomaly {
    pub const ALL: [Anomaly; 18] = [
        Anomaly::ClAndTe,
        Anomaly::DuplicateCl,
        Anomaly::InvalidCl,
        Anomaly::InvalidTe,
        Anomaly::InvalidChunk,
        Anomaly::BareCr,
        Anomaly::HeaderTooLong,
        Anomaly::TooManyHeaders,
        Anomaly::InvalidRequestLine,
        Anomaly::InvalidHeader,
        Anomaly::BareLf,
        Anomaly::SpaceInUri,
        Anomaly::UnusualVersion,
        Anomaly::Gap,
        Anomaly::Incomplete,
        Anomaly::HeaderWhitespace,
        Anomaly::MissingHost,
        Anomaly::GarbageBeforeRequest,
    ];

    /// Stable snake_case name (used in rule ids and metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Anomaly::ClAndTe => "cl_and_te",
            Anomaly::DuplicateCl => "duplicate_cl",
            Anomaly::InvalidCl => "invalid_cl",
            Anomaly::InvalidTe => "invalid_te",
            Anomaly::InvalidChunk => "invalid_chunk",
            Anomaly::BareCr => "bare_cr",
            Anomaly::HeaderTooLong => "header_too_long",
            Anomaly::TooManyHeaders => "too_many_headers",
            Anomaly::InvalidRequestLine => "invalid_request_line",
            Anomaly::InvalidHeader => "invalid_header",
            Anomaly::BareLf => "bare_lf",
            Anomaly::SpaceInUri => "space_in_uri",
            Anomaly::UnusualVersion => "unusual_version",
            Anomaly::Gap => "gap",
            Anomaly::Incomplete => "incomplete",
            Anomaly::HeaderWhitespace => "header_whitespace",
            Anomaly::MissingHost => "missing_host",
            Anomaly::GarbageBeforeRequest => "garbage_before_request",
        }
    }
}

impl Anomalies {
    pub fn set(&mut self, a: Anomaly) {
        self.0 |= a as u32;
    }
    pub fn has(self, a: Anomaly) -> bool {
        self.0 & (a as u32) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Anomaly> {
        Anomaly::ALL.into_iter().filter(move |a| self.has(*a))
    }
}

/// HTTP version of a request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `HTTP/0.9`-style line with no version.
    Http09,
    Http10,
    Http11,
    /// Any other `HTTP/x.y` (major, minor digits as sent).
    Other(u8, u8),
}

/// One header field as sent (name case kept, value without surrounding OWS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

/// A parsed request. Emitted once the body is complete, or at stream end /
/// gap with `complete == false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Capture time of the request's first byte.
    pub ts: Timestamp,
    /// Direction of the stream that carried it (normally `ToServer`; a
    /// `ToClient` request means reassembly guessed the roles wrongly).
    pub dir: Direction,
    /// 0-based index of this request within its flow.
    pub index: u32,
    pub method: Vec<u8>,
    /// The request-target exactly as sent (spaces inside kept).
    pub uri: Vec<u8>,
    pub version: Version,
    pub headers: Vec<Header>,
    /// Body after de-chunking, at most `max_body_inspect_bytes`.
    pub body: Vec<u8>,
    /// Total body bytes after de-chunking (including those not kept).
    pub body_len: u64,
    pub anomalies: Anomalies,
    pub complete: bool,
}

impl Request {
    /// First header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value.as_slice())
    }
}

/// A parsed response head (body consumed and counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub ts: Timestamp,
    pub status: u16,
    /// Body bytes after de-chunking.
    pub body_len: u64,
    /// Index of the request this answers, when known.
    pub request_index: Option<u32>,
}

/// What a session produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpEvent {
    Request(Request),
    Response(Response),
}

/// Counters, all monotonic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpStats {
    pub requests: u64,
    pub responses: u64,
    pub incomplete_requests: u64,
    pub header_limit_hits: u64,
    pub header_count_limit_hits: u64,
    pub body_bytes_skipped: u64,
    pub resync_bytes_skipped: u64,
    pub gaps: u64,
    pub non_http_bytes: u64,
}

/// HTTP state of one flow (both directions). See the module docs.
#[derive(Debug, Default)]
pub struct HttpSession {}

impl HttpSession {
    /// In-order bytes of one direction.
    pub fn on_data(
        &mut self,
        limits: &HttpLimits,
        stats: &mut HttpStats,
        dir: Direction,
        ts: Timestamp,
        data: &[u8],
        out: &mut Vec<HttpEvent>,
    ) {
        let _ = (limits, stats, dir, ts, data, out);
    }

    /// `len` bytes of one direction were lost.
    pub fn on_gap(
        &mut self,
        limits: &HttpLimits,
        stats: &mut HttpStats,
        dir: Direction,
        len: u64,
        out: &mut Vec<HttpEvent>,
    ) {
        let _ = (limits, stats, dir, len, out);
    }

    /// The flow ended: emit what is pending (incomplete requests too).
    pub fn on_end(&mut self, limits: &HttpLimits, stats: &mut HttpStats, out: &mut Vec<HttpEvent>) {
        let _ = (limits, stats, out);
    }
}
