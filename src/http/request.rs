//! The request side of a session: an explicit state machine
//! `Seek → Head → (SkipHead) → Body → Seek`, fed with arbitrary chunks.
//!
//! Guarantees: at most `max_header_bytes` of head and
//! `max_body_inspect_bytes` of body are held per request; every byte is
//! looked at a bounded number of times; a request whose head was read is
//! always emitted (complete, or incomplete at a gap / the end).

use super::body::{Body, BodyTarget, Progress};
use super::head::{self, Framing, HeadBuf, Scan};
use super::seek::Seek;
use super::{Anomaly, HttpEvent, HttpLimits, HttpStats, Request, Version};
use crate::reassembly::{Direction, Stamp};

/// What the response side needs to know of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TxInfo {
    pub index: u32,
    pub head: bool,
    pub connect: bool,
    pub upgrade: bool,
}

/// Borrowed session context.
pub(super) struct Cx<'a> {
    pub limits: &'a HttpLimits,
    pub stats: &'a mut HttpStats,
    pub out: &'a mut Vec<HttpEvent>,
    pub txq: &'a mut std::collections::VecDeque<TxInfo>,
    /// The requests the last responses answered, newest last (at most
    /// [`ANSWERED_KEPT`]): a restarted response side gives them back.
    pub answered: &'a mut std::collections::VecDeque<TxInfo>,
    /// This flow's queue overflowed once: responses may pair with the wrong
    /// request from then on, so none of them may switch the flow to a tunnel.
    pub tx_overflowed: &'a mut bool,
}

/// Answered requests a session keeps for a response-side restart to give
/// back (`Cx::unanswer`). Every flow carries them, restart or not, so few:
/// a restart comes at the peer's first ACKs of the response side, after a
/// few responses at most; past them the pairing is marked unsure.
pub(super) const ANSWERED_KEPT: usize = 8;

impl Cx<'_> {
    fn answered_kept(&self) -> usize {
        ANSWERED_KEPT.min(self.limits.max_tx_per_flow)
    }

    /// The oldest unanswered request, now answered.
    pub fn take_tx(&mut self) -> Option<TxInfo> {
        let tx = self.txq.pop_front()?;
        if self.answered.len() >= self.answered_kept() {
            self.answered.pop_front();
        }
        self.answered.push_back(tx);
        Some(tx)
    }

    /// The pairing may be shifted from now on: a 2xx meant for another
    /// request must not open a tunnel that hides the rest of the flow.
    fn mark_overflowed(&mut self) {
        *self.tx_overflowed = true;
        for t in self.txq.iter_mut() {
            t.connect = false;
            t.upgrade = false;
        }
    }

    /// The response side starts again (see `HttpSession::on_restart`):
    /// what its responses answered waits for an answer again. When more
    /// were answered than `answered` keeps, or the queue overflows, the
    /// pairing is no longer sure.
    pub fn unanswer(&mut self) {
        let lost = self.answered.len() >= self.answered_kept();
        while let Some(tx) = self.answered.pop_back() {
            self.txq.push_front(tx);
        }
        let mut overflowed = lost;
        while self.txq.len() > self.limits.max_tx_per_flow {
            self.txq.pop_back();
            self.stats.tx_queue_overflows += 1;
            overflowed = true;
        }
        if overflowed {
            self.mark_overflowed();
        }
    }

    /// The request side starts again: every request waiting for an answer
    /// came from the disowned read.
    pub fn forget_requests(&mut self) {
        self.txq.clear();
        self.answered.clear();
        *self.tx_overflowed = false;
    }

    /// Remember a request for response pairing; the queue is bounded by
    /// `max_tx_per_flow` (the oldest is forgotten).
    pub fn push_tx(&mut self, mut tx: TxInfo) {
        if self.limits.max_tx_per_flow == 0 {
            return;
        }
        while self.txq.len() >= self.limits.max_tx_per_flow {
            self.txq.pop_front();
            self.stats.tx_queue_overflows += 1;
            self.mark_overflowed();
        }
        if *self.tx_overflowed {
            tx.connect = false;
            tx.upgrade = false;
        }
        self.txq.push_back(tx);
    }
}

#[derive(Debug)]
enum State {
    Seek(Seek),
    Head {
        head: HeadBuf,
        /// Where the head's first byte was seen.
        at: Stamp,
        garbage: bool,
    },
    /// The head hit `max_header_bytes`: skipping to its end.
    SkipHead {
        req: Box<Request>,
        /// Still inside the request line: keep its last bytes for the version.
        in_first_line: bool,
        tail: Vec<u8>,
        line_has_content: bool,
        /// The first bytes of the current header line (at most
        /// `FRAMING_LINE_BYTES`): a framing field among the skipped lines
        /// still frames the body.
        line: Vec<u8>,
        /// The last Transfer-Encoding among the skipped lines (obs-fold
        /// lines joined, its last coding kept however long the line), and
        /// whether the line before was it: pushed at the head's end, as the
        /// last field (Apache httpd merges them and reads the last coding).
        te: Option<Vec<u8>>,
        after_te: bool,
        /// The line before was a kept Content-Length with an empty value:
        /// an obs-fold line gives its value (Apache httpd joins the lines).
        after_empty_cl: bool,
    },
    Body {
        req: Box<Request>,
        body: Body,
    },
    /// No longer HTTP (after 101 / CONNECT).
    Tunnel,
}

/// Bytes of the request line's end kept while skipping an over-long line.
const TAIL_BYTES: usize = 16;

/// Bytes of a skipped header line kept to spot a framing field.
const FRAMING_LINE_BYTES: usize = 64;

/// Keep what a framing field needs of a skipped header line, at most
/// `FRAMING_LINE_BYTES`: its name, then its value without the whitespace
/// and leading zeros servers skip (Go and Apache httpd read `Content-Length:
/// 000…027` as 27: review round 14 found the value read from a cut of
/// zeros). Bytes past the bound are not looked at.
fn keep_framing_prefix(line: &mut Vec<u8>, seg: &[u8]) {
    for &b in seg {
        if line.len() >= FRAMING_LINE_BYTES {
            return;
        }
        // The value starts after the colon, or after the first byte of an
        // obs-fold line (the value of a field folded onto it).
        let value_from = match line.first() {
            Some(b' ' | b'\t') => Some(1),
            _ => memchr::memchr(b':', line).map(|colon| colon + 1),
        };
        if let Some(from) = value_from {
            let value = line.get(from..).unwrap_or_default();
            if value.is_empty() && (b == b' ' || b == b'\t') {
                continue;
            }
            if value == b"0" && b.is_ascii_digit() {
                line.pop();
            }
        }
        line.push(b);
    }
}

/// Keep the last `TAIL_BYTES` of a line seen in pieces.
fn keep_tail(tail: &mut Vec<u8>, seg: &[u8]) {
    tail.extend_from_slice(
        seg.get(seg.len().saturating_sub(TAIL_BYTES)..)
            .unwrap_or_default(),
    );
    let cut = tail.len().saturating_sub(TAIL_BYTES);
    tail.drain(..cut);
}

/// Longest Transfer-Encoding value kept from a skipped head: its end (the
/// last coding) is what frames.
const SKIPPED_TE_BYTES: usize = 2 * FRAMING_LINE_BYTES;

/// Add to a Transfer-Encoding value kept from a skipped head `piece`, the
/// kept start of a line (`line_len` bytes before its cut at
/// `FRAMING_LINE_BYTES`) whose last bytes are `tail`: a cut line's last
/// coding, read from its tail, ends the value, whose end is kept.
fn extend_te(v: &mut Vec<u8>, piece: &[u8], line_len: usize, tail: &[u8]) {
    v.extend_from_slice(piece);
    if line_len >= FRAMING_LINE_BYTES {
        let mut t = head::trim_ws(head::strip_crs(tail));
        // Empty list elements at the end are skipped, as `te_cl` does.
        while let Some(rest) = t.strip_suffix(b",") {
            t = head::trim_ws(rest);
        }
        if let Some(i) = memchr::memrchr(b',', t) {
            v.extend_from_slice(b", ");
            v.extend_from_slice(head::trim_ws(t.get(i + 1..).unwrap_or_default()));
        }
    }
    let cut = v.len().saturating_sub(SKIPPED_TE_BYTES);
    v.drain(..cut);
}

/// Framing fields kept from the skipped part of an over-long head: enough
/// to see a conflict (two lengths, a length and a coding), while a head of
/// endless framing lines holds no more.
const SKIPPED_FRAMING_FIELDS: usize = 4;

#[derive(Debug)]
pub(super) struct RequestSide {
    state: State,
    next_index: u32,
    /// No request seen yet: skipped bytes are `non_http_bytes`.
    at_start: bool,
    /// At the stream start or after a gap: bytes before the next request
    /// are expected (the tail of a message we did not see).
    expect_garbage: bool,
    dir: Direction,
}

impl Default for RequestSide {
    fn default() -> Self {
        RequestSide {
            state: State::Seek(Seek::anywhere()),
            next_index: 0,
            at_start: true,
            expect_garbage: true,
            dir: Direction::ToServer,
        }
    }
}

/// Keeps body bytes up to `max_body_inspect_bytes`, counts all of them.
struct ReqBody<'a> {
    req: &'a mut Request,
    limits: &'a HttpLimits,
    stats: &'a mut HttpStats,
}

impl BodyTarget for ReqBody<'_> {
    fn data(&mut self, bytes: &[u8]) {
        let room = self
            .limits
            .max_body_inspect_bytes
            .saturating_sub(self.req.body.len());
        let keep = bytes.len().min(room);
        self.req
            .body
            .extend_from_slice(bytes.get(..keep).unwrap_or_default());
        self.stats.body_bytes_skipped += (bytes.len() - keep) as u64;
        self.req.body_len = self.req.body_len.saturating_add(bytes.len() as u64);
    }
    fn gap(&mut self, len: u64) {
        // Gap lengths come from sequence numbers an attacker picks.
        self.req.body_len = self.req.body_len.saturating_add(len);
        self.req.anomalies.set(Anomaly::Gap);
    }
    fn trailer(&mut self, name: &[u8], value: &[u8]) {
        if self.req.headers.len() < self.limits.max_headers {
            self.req.trailers_from.get_or_insert(self.req.headers.len());
            self.req.headers.push(name, value);
        } else if !self.req.anomalies.has(Anomaly::TooManyHeaders) {
            self.req.anomalies.set(Anomaly::TooManyHeaders);
            self.stats.header_count_limit_hits += 1;
        }
    }
    fn anomaly(&mut self, a: Anomaly) {
        self.req.anomalies.set(a);
    }
}

impl RequestSide {
    pub fn set_dir(&mut self, dir: Direction) {
        self.dir = dir;
    }

    fn counter<'s>(&self, stats: &'s mut HttpStats) -> &'s mut u64 {
        if self.at_start {
            &mut stats.non_http_bytes
        } else {
            &mut stats.resync_bytes_skipped
        }
    }

    pub fn on_data(&mut self, cx: &mut Cx<'_>, at: Stamp, data: &[u8]) {
        let mut pos = 0;
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or_default();
            let state = std::mem::replace(&mut self.state, State::Tunnel);
            self.state = match state {
                State::Tunnel => {
                    cx.stats.non_http_bytes += rest.len() as u64;
                    pos = data.len();
                    State::Tunnel
                }
                State::Seek(mut seek) => {
                    let counter = self.counter(cx.stats);
                    match seek.feed(rest, at.ts, head::LineKind::Request, counter) {
                        Some(found) => {
                            // The prefix may have begun in an earlier chunk.
                            let head_at = at.advanced(pos).of_held(
                                found.ts,
                                found.consumed,
                                found.prefix.len(),
                            );
                            pos += found.consumed;
                            State::Head {
                                head: HeadBuf::new(found.prefix, true),
                                at: head_at,
                                // Skipped bytes at a midstream start or after a gap are
                                // the unknown tail of a message, not an anomaly.
                                garbage: seek.skipped > 0 && !self.expect_garbage,
                            }
                        }
                        None => {
                            pos = data.len();
                            State::Seek(seek)
                        }
                    }
                }
                State::Head {
                    mut head,
                    at: head_at,
                    garbage,
                } => match head.feed(rest, cx.limits.max_header_bytes) {
                    Scan::NeedMore => {
                        pos = data.len();
                        State::Head {
                            head,
                            at: head_at,
                            garbage,
                        }
                    }
                    Scan::Complete(n) => {
                        pos += n;
                        let req = self.build(cx, &head, true, head_at, garbage);
                        self.after_head(cx, req)
                    }
                    Scan::TooLong(n) => {
                        pos += n;
                        cx.stats.header_limit_hits += 1;
                        let mut req = self.build(cx, &head, false, head_at, garbage);
                        req.anomalies.set(Anomaly::HeaderTooLong);
                        // Host may be among the headers cut off.
                        req.anomalies.0 &= !(Anomaly::MissingHost as u32);
                        let in_first_line = head.lines == 0;
                        let tail = if in_first_line {
                            let b = &head.buf;
                            b.get(b.len().saturating_sub(TAIL_BYTES)..)
                                .unwrap_or_default()
                                .to_vec()
                        } else {
                            Vec::new()
                        };
                        let mut line = Vec::new();
                        let mut tail = tail;
                        if !in_first_line {
                            keep_framing_prefix(&mut line, head.partial_line());
                            keep_tail(&mut tail, head.partial_line());
                        }
                        State::SkipHead {
                            req,
                            in_first_line,
                            tail,
                            line_has_content: head.partial_line_has_content(),
                            line,
                            te: None,
                            after_te: false,
                            after_empty_cl: false,
                        }
                    }
                },
                State::SkipHead {
                    mut req,
                    mut in_first_line,
                    mut tail,
                    mut line_has_content,
                    mut line,
                    mut te,
                    mut after_te,
                    mut after_empty_cl,
                } => {
                    let (seg, eol) = match memchr::memchr(b'\n', rest) {
                        Some(i) => (rest.get(..i).unwrap_or_default(), true),
                        None => (rest, false),
                    };
                    pos += seg.len() + usize::from(eol);
                    line_has_content |= seg.iter().any(|b| *b != b'\r');
                    if !in_first_line {
                        keep_framing_prefix(&mut line, seg);
                        keep_tail(&mut tail, seg);
                        if eol {
                            let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
                            let was_te = std::mem::take(&mut after_te);
                            let was_empty_cl = std::mem::take(&mut after_empty_cl);
                            if folded {
                                let piece = head::trim_ws(head::strip_crs(&line));
                                if let Some(v) = te.as_mut().filter(|_| was_te) {
                                    v.push(b' ');
                                    extend_te(v, piece, line.len(), &tail);
                                    after_te = true;
                                } else if was_empty_cl {
                                    // `Content-Length:` folded onto ` 27` is 27 to
                                    // Apache httpd. The kept field is the last one
                                    // (skipped lines push framing fields only; the
                                    // Transfer-Encoding waits for the head's end),
                                    // and the value, a kept line's, is bounded.
                                    if piece.is_empty() {
                                        after_empty_cl = true;
                                    } else {
                                        req.headers.extend_last_value(piece);
                                    }
                                }
                            } else if let Some((n, v)) = head::framing_line(&line) {
                                if n.eq_ignore_ascii_case(b"transfer-encoding") {
                                    let mut kept = Vec::new();
                                    extend_te(&mut kept, v, line.len(), &tail);
                                    te = Some(kept);
                                    after_te = true;
                                } else {
                                    let kept = req
                                        .headers
                                        .iter()
                                        .filter(|h| head::is_framing_name(h.name))
                                        .count();
                                    if kept < SKIPPED_FRAMING_FIELDS {
                                        after_empty_cl = req.headers.push(n, v) && v.is_empty();
                                    }
                                }
                            }
                            line.clear();
                            tail.clear();
                        }
                    }
                    if in_first_line {
                        tail.extend_from_slice(
                            seg.get(seg.len().saturating_sub(TAIL_BYTES)..)
                                .unwrap_or_default(),
                        );
                        let cut = tail.len().saturating_sub(TAIL_BYTES);
                        tail.drain(..cut);
                    }
                    if !eol {
                        State::SkipHead {
                            req,
                            in_first_line,
                            tail,
                            line_has_content,
                            line,
                            te,
                            after_te,
                            after_empty_cl,
                        }
                    } else if in_first_line {
                        req.version = head::version_from_tail(&tail);
                        // The guess made on the cut line no longer holds.
                        req.anomalies.0 &= !(Anomaly::UnusualVersion as u32);
                        if matches!(req.version, Version::Http09 | Version::Other(..)) {
                            req.anomalies.set(Anomaly::UnusualVersion);
                        }
                        if req.version == Version::Http09 {
                            self.after_head(cx, req)
                        } else {
                            in_first_line = false;
                            State::SkipHead {
                                req,
                                in_first_line,
                                tail: Vec::new(),
                                line_has_content: false,
                                line: Vec::new(),
                                te: None,
                                after_te: false,
                                after_empty_cl: false,
                            }
                        }
                    } else if !line_has_content {
                        if let Some(v) = te {
                            req.headers.push(b"Transfer-Encoding", &v);
                        }
                        self.after_head(cx, req)
                    } else {
                        State::SkipHead {
                            req,
                            in_first_line,
                            tail,
                            line_has_content: false,
                            line,
                            te,
                            after_te,
                            after_empty_cl,
                        }
                    }
                }
                State::Body { mut req, mut body } => {
                    let mut t = ReqBody {
                        req: &mut req,
                        limits: cx.limits,
                        stats: cx.stats,
                    };
                    match body.feed(rest, cx.limits.max_header_bytes, &mut t) {
                        Progress::More => {
                            pos = data.len();
                            State::Body { req, body }
                        }
                        Progress::Done(n) => {
                            pos += n;
                            self.emit(cx, *req, true);
                            State::Seek(Seek::default())
                        }
                        Progress::Invalid { consumed, replay } => {
                            // The size line may have begun in an earlier chunk.
                            let replay_at = at.advanced(pos).of_held(at.ts, consumed, replay.len());
                            pos += consumed;
                            let length = head::te_cl(&req.headers, &mut Default::default()).1;
                            if let (Some(zeros), Some(n)) = (body.doubtful_start(), length) {
                                // An HTTP/1.0 body that is not chunked after
                                // all, with a Content-Length: Go and Tomcat
                                // frame it by that (review round 15). The
                                // zeros the size line dropped were its
                                // first bytes.
                                self.state = match n.saturating_sub(zeros) {
                                    0 => {
                                        self.emit(cx, *req, true);
                                        State::Seek(Seek::default())
                                    }
                                    n => State::Body {
                                        req,
                                        body: Body::length(n),
                                    },
                                };
                                self.on_data(cx, replay_at, &replay);
                                continue;
                            }
                            self.emit(cx, *req, false);
                            self.state = State::Seek(Seek::default());
                            // The broken size line may be a smuggled request line.
                            self.on_data(cx, replay_at, &replay);
                            continue;
                        }
                    }
                }
            };
        }
    }

    /// Build the request of a head read so far.
    fn build(
        &mut self,
        cx: &mut Cx<'_>,
        head: &HeadBuf,
        complete: bool,
        at: Stamp,
        garbage: bool,
    ) -> Box<Request> {
        let h = head::parse_request(head, complete, cx.limits.max_headers);
        let mut anomalies = h.anomalies;
        if anomalies.has(Anomaly::TooManyHeaders) {
            cx.stats.header_count_limit_hits += 1;
        }
        if garbage {
            anomalies.set(Anomaly::GarbageBeforeRequest);
        }
        let index = self.next_index;
        self.next_index = self.next_index.wrapping_add(1);
        self.at_start = false;
        self.expect_garbage = false;
        Box::new(Request {
            ts: at.ts,
            seq: at.seq,
            dir: self.dir,
            index,
            method: h.method,
            uri: h.uri,
            version: h.version.unwrap_or(Version::Http09),
            headers: h.headers,
            trailers_from: None,
            body: Vec::new(),
            body_len: 0,
            anomalies,
            complete: false,
        })
    }

    /// The head is over: register the transaction, pick the body framing
    /// (RFC 9112 §6.3: TE chunked wins over CL; neither means no body).
    fn after_head(&mut self, cx: &mut Cx<'_>, mut req: Box<Request>) -> State {
        cx.push_tx(TxInfo {
            index: req.index,
            // Methods are case-sensitive (RFC 9110 §9.1): Go answers a
            // `head` with a body (review round 14).
            head: req.method == b"HEAD",
            connect: req.method == b"CONNECT",
            upgrade: req.header("upgrade").is_some(),
        });
        let framing = if req.version == Version::Http09 {
            Framing::None
        } else {
            let te = head::te_cl(&req.headers, &mut req.anomalies);
            // Transfer-Encoding on an HTTP/1.0 request: Go's net/http and
            // Tomcat ignore it (the next bytes are the next request), Apache
            // httpd reads the chunked body, nginx refuses it. A smuggling
            // signal; the first line after the head says which reading
            // holds (`Body::chunked_if_sized`).
            let doubtful = req.version == Version::Http10 && te.0.is_some();
            if doubtful {
                req.anomalies.set(Anomaly::InvalidTe);
            }
            match te {
                (Some(true), _, _) if doubtful => Framing::ChunkedIfSized,
                (Some(true), _, _) => Framing::Chunked,
                (_, Some(n), _) if n > 0 => Framing::Length(n),
                _ => Framing::None,
            }
        };
        match framing {
            Framing::Chunked => State::Body {
                req,
                body: Body::chunked(),
            },
            Framing::ChunkedIfSized => State::Body {
                req,
                body: Body::chunked_if_sized(),
            },
            Framing::Length(n) => State::Body {
                req,
                body: Body::length(n),
            },
            Framing::None => {
                self.emit(cx, *req, true);
                State::Seek(Seek::default())
            }
        }
    }

    fn emit(&mut self, cx: &mut Cx<'_>, mut req: Request, complete: bool) {
        req.complete = complete;
        cx.stats.requests += 1;
        if !complete {
            cx.stats.incomplete_requests += 1;
        }
        cx.out.push(HttpEvent::Request(req));
    }

    /// Between requests with nothing held: a tunnel can start here cleanly.
    pub fn idle(&self) -> bool {
        matches!(&self.state, State::Seek(seek) if seek.pending() == 0)
    }

    /// Bytes buffered now: the head or candidate, or the parsed request
    /// (target, headers, kept body, the chunk framing's line) while its body
    /// streams by or an over-long head is skipped.
    pub fn held(&self) -> usize {
        let parsed = |req: &Request| req.uri.len() + req.method.len() + req.headers.byte_len();
        match &self.state {
            State::Seek(seek) => seek.pending(),
            State::Head { head, .. } => head.buf.len(),
            // The request parsed from the head cut at `max_header_bytes`.
            State::SkipHead {
                req,
                tail,
                line,
                te,
                ..
            } => tail.len() + line.len() + te.as_ref().map_or(0, Vec::len) + parsed(req),
            State::Body { req, body } => req.body.len() + parsed(req) + body.held(),
            State::Tunnel => 0,
        }
    }

    pub fn on_gap(&mut self, cx: &mut Cx<'_>, len: u64) {
        let state = std::mem::replace(&mut self.state, State::Tunnel);
        self.state = match state {
            State::Tunnel => {
                cx.stats.non_http_bytes = cx.stats.non_http_bytes.saturating_add(len);
                State::Tunnel
            }
            State::Body { mut req, mut body } => {
                let mut t = ReqBody {
                    req: &mut req,
                    limits: cx.limits,
                    stats: cx.stats,
                };
                if body.gap(len, &mut t) {
                    if body.is_done() {
                        self.emit(cx, *req, true);
                        State::Seek(Seek::default())
                    } else {
                        State::Body { req, body }
                    }
                } else {
                    req.anomalies.set(Anomaly::Gap);
                    self.emit(cx, *req, false);
                    self.after_gap()
                }
            }
            State::Head { head, at, garbage } => {
                let mut req = self.build(cx, &head, false, at, garbage);
                req.anomalies.set(Anomaly::Gap);
                self.emit(cx, *req, false);
                self.after_gap()
            }
            State::SkipHead { mut req, .. } => {
                req.anomalies.set(Anomaly::Gap);
                self.emit(cx, *req, false);
                self.after_gap()
            }
            State::Seek(mut seek) => {
                let counter = self.counter(cx.stats);
                seek.restart(counter);
                // The gap may have taken the start of the next request: its
                // tail follows, and the request after it starts in the
                // middle of a line (review round 23).
                self.expect_garbage = true;
                State::Seek(Seek::anywhere())
            }
        };
    }

    fn after_gap(&mut self) -> State {
        // Later skipped bytes are resynchronisation, not a midstream start.
        self.at_start = false;
        self.expect_garbage = true;
        State::Seek(Seek::anywhere())
    }

    /// The direction starts again elsewhere (see `HttpSession::on_restart`):
    /// emit what was started, as at an end, and take what follows as a
    /// fresh midstream start. Request numbering goes on.
    pub fn restart(&mut self, cx: &mut Cx<'_>) {
        self.on_end(cx);
        self.reopen();
    }

    /// A fresh parser, as at a midstream start; numbering goes on.
    pub fn reopen(&mut self) {
        *self = RequestSide {
            next_index: self.next_index,
            dir: self.dir,
            ..RequestSide::default()
        };
    }

    /// The stream ended: emit what was started.
    pub fn on_end(&mut self, cx: &mut Cx<'_>) {
        let state = std::mem::replace(&mut self.state, State::Tunnel);
        match state {
            State::Head { head, at, garbage } => {
                let mut req = self.build(cx, &head, false, at, garbage);
                req.anomalies.set(Anomaly::Incomplete);
                self.emit(cx, *req, false);
            }
            State::SkipHead { mut req, .. } | State::Body { mut req, .. } => {
                req.anomalies.set(Anomaly::Incomplete);
                self.emit(cx, *req, false);
            }
            State::Seek(seek) => {
                let n = seek.pending() as u64;
                *self.counter(cx.stats) += n;
            }
            State::Tunnel => {}
        }
    }

    /// The flow stopped being HTTP: emit a request already started (its
    /// request line was seen: it is inspected, marked incomplete, like at
    /// the end of a stream), ignore everything after.
    pub fn enter_tunnel(&mut self, cx: &mut Cx<'_>) {
        let state = std::mem::replace(&mut self.state, State::Tunnel);
        match state {
            State::Head { head, at, garbage } => {
                let mut req = self.build(cx, &head, false, at, garbage);
                req.anomalies.set(Anomaly::Incomplete);
                self.emit(cx, *req, false);
            }
            State::SkipHead { mut req, .. } | State::Body { mut req, .. } => {
                req.anomalies.set(Anomaly::Incomplete);
                self.emit(cx, *req, false);
            }
            State::Seek(seek) => cx.stats.non_http_bytes += seek.pending() as u64,
            State::Tunnel => {}
        }
    }
}
