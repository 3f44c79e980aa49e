//! The response side of a session: `Seek → Head → Body → Seek`, pairing
//! each final response with the oldest unanswered request (FIFO).
//!
//! Responses only consume bytes and pair transactions; whatever a hostile
//! server sends, the only effects on the request side are pairing and the
//! switch to "not HTTP" after a `101` answering a request that asked for an
//! Upgrade, or a 2xx answering CONNECT (RFC 9112 §6.3 items 1-2).

use super::body::{Body, BodyTarget, Progress};
use super::head::{self, Framing, HeadBuf, Scan};
use super::request::{Cx, TxInfo};
use super::seek::Seek;
use super::{Anomaly, Headers, HttpEvent, Response};
use crate::capture::Timestamp;

#[derive(Debug)]
enum State {
    Seek(Seek),
    Head {
        head: HeadBuf,
        ts: Timestamp,
    },
    /// Head over `max_header_bytes`: skipping to its end, then until close.
    SkipHead {
        resp: Response,
        line_has_content: bool,
    },
    Body {
        resp: Response,
        body: Body,
    },
    /// The body of a CONNECT's 2xx, already emitted, skipped once the
    /// tunnel turned out to carry HTTP (see `ResponseSide::tunnel_body`).
    SkipBody(Body),
    Tunnel,
}

#[derive(Debug)]
pub(super) struct ResponseSide {
    state: State,
    at_start: bool,
    /// The framing of the 2xx that answered a CONNECT and opened the
    /// tunnel, when it announced a body (Content-Length or chunked), and
    /// that body as the tunnel's bytes went by. A server that is no proxy
    /// (Go's net/http hands `CONNECT /path` to the handler) answers with a
    /// framed body and reads the next request as HTTP: when the tunnel
    /// turns out to carry HTTP, the body is skipped, not searched for a
    /// status line (review round 36b: a reflected `HTTP/1.1 403` in it was
    /// paired with the next request). A tunnelling proxy frames no body
    /// (RFC 9110 §9.3.6).
    tunnel_framing: Option<Framing>,
    tunnel_body: Option<Body>,
}

impl Default for ResponseSide {
    fn default() -> Self {
        ResponseSide {
            state: State::Seek(Seek::default()),
            at_start: true,
            tunnel_framing: None,
            tunnel_body: None,
        }
    }
}

/// A body of this framing, from its start.
fn framed_body(framing: Framing) -> Option<Body> {
    match framing {
        Framing::Length(n) if n > 0 => Some(Body::length(n)),
        Framing::Chunked => Some(Body::chunked()),
        _ => None,
    }
}

/// Follow the framing of `body` through tunnel bytes; None once it ended
/// or broke (what follows is read as responses again).
fn track_body(body: Option<Body>, data: &[u8], max_trailer_bytes: usize) -> Option<Body> {
    let mut body = body?;
    let mut skipped = 0u64;
    match body.feed(data, max_trailer_bytes, &mut Count(&mut skipped)) {
        Progress::More => Some(body),
        Progress::Done(_) | Progress::Invalid { .. } => None,
    }
}

/// Counts body bytes; keeps nothing.
struct Count<'a>(&'a mut u64);

impl BodyTarget for Count<'_> {
    fn data(&mut self, bytes: &[u8]) {
        *self.0 = self.0.saturating_add(bytes.len() as u64);
    }
    fn gap(&mut self, len: u64) {
        *self.0 = self.0.saturating_add(len);
    }
    fn trailer(&mut self, _name: &[u8], _value: &[u8]) {}
    fn anomaly(&mut self, _a: Anomaly) {}
}

/// What the session must do after a response chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Outcome {
    /// The flow is no longer HTTP.
    pub tunnel: bool,
    /// Where in the chunk the tunnel's bytes began (counted as non-HTTP):
    /// read again if the session keeps the flow HTTP after all.
    pub tunnel_at: Option<usize>,
}

impl ResponseSide {
    fn counter<'s>(&self, cx: &'s mut Cx<'_>) -> &'s mut u64 {
        if self.at_start {
            &mut cx.stats.non_http_bytes
        } else {
            &mut cx.stats.resync_bytes_skipped
        }
    }

    pub fn on_data(&mut self, cx: &mut Cx<'_>, ts: Timestamp, data: &[u8]) -> Outcome {
        let mut pos = 0;
        let mut outcome = Outcome::default();
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or_default();
            let state = std::mem::replace(&mut self.state, State::Tunnel);
            self.state = match state {
                State::Tunnel => {
                    cx.stats.non_http_bytes += rest.len() as u64;
                    self.tunnel_body =
                        track_body(self.tunnel_body.take(), rest, cx.limits.max_header_bytes);
                    pos = data.len();
                    State::Tunnel
                }
                State::SkipBody(mut body) => {
                    let mut skipped = 0u64;
                    match body.feed(rest, cx.limits.max_header_bytes, &mut Count(&mut skipped)) {
                        Progress::More => {
                            pos = data.len();
                            State::SkipBody(body)
                        }
                        Progress::Done(n) | Progress::Invalid { consumed: n, .. } => {
                            pos += n;
                            State::Seek(Seek::default())
                        }
                    }
                }
                State::Seek(mut seek) => {
                    let counter = self.counter(cx);
                    match seek.feed(rest, ts, head::LineKind::Response, counter) {
                        Some(found) => {
                            pos += found.consumed;
                            State::Head {
                                head: HeadBuf::new(found.prefix, false),
                                ts: found.ts,
                            }
                        }
                        None => {
                            pos = data.len();
                            State::Seek(seek)
                        }
                    }
                }
                State::Head { mut head, ts } => match head.feed(rest, cx.limits.max_header_bytes) {
                    Scan::NeedMore => {
                        pos = data.len();
                        State::Head { head, ts }
                    }
                    Scan::Complete(n) => {
                        pos += n;
                        self.at_start = false;
                        let h = head::parse_response(&head, true, cx.limits.max_headers);
                        self.after_head(cx, ts, h.status, &h.headers, &mut outcome)
                    }
                    Scan::TooLong(n) => {
                        pos += n;
                        self.at_start = false;
                        cx.stats.header_limit_hits += 1;
                        let h = head::parse_response(&head, false, cx.limits.max_headers);
                        let request_index = cx.take_tx().map(|t| t.index);
                        State::SkipHead {
                            resp: Response {
                                ts,
                                status: h.status,
                                body_len: 0,
                                request_index,
                            },
                            line_has_content: head.partial_line_has_content(),
                        }
                    }
                },
                State::SkipHead {
                    resp,
                    mut line_has_content,
                } => {
                    let (seg, eol) = match memchr::memchr(b'\n', rest) {
                        Some(i) => (rest.get(..i).unwrap_or_default(), true),
                        None => (rest, false),
                    };
                    pos += seg.len() + usize::from(eol);
                    line_has_content |= seg.iter().any(|b| *b != b'\r');
                    if eol && !line_has_content {
                        // Framing unknown: read until close.
                        State::Body {
                            resp,
                            body: Body::UntilClose,
                        }
                    } else {
                        State::SkipHead {
                            resp,
                            line_has_content: line_has_content && !eol,
                        }
                    }
                }
                State::Body { mut resp, mut body } => {
                    match body.feed(
                        rest,
                        cx.limits.max_header_bytes,
                        &mut Count(&mut resp.body_len),
                    ) {
                        Progress::More => {
                            pos = data.len();
                            State::Body { resp, body }
                        }
                        Progress::Done(n) => {
                            pos += n;
                            emit(cx, resp);
                            State::Seek(Seek::default())
                        }
                        Progress::Invalid { consumed, .. } => {
                            pos += consumed;
                            emit(cx, resp);
                            State::Seek(Seek::default())
                        }
                    }
                }
            };
            if outcome.tunnel {
                self.state = State::Tunnel;
                outcome.tunnel_at = Some(pos);
                let rest = data.get(pos..).unwrap_or_default();
                cx.stats.non_http_bytes += rest.len() as u64;
                self.tunnel_body = track_body(
                    self.tunnel_framing.and_then(framed_body),
                    rest,
                    cx.limits.max_header_bytes,
                );
                break;
            }
        }
        outcome
    }

    /// The announced tunnel turned out to carry HTTP/1 (a proxy tunnel to a
    /// plain-HTTP origin, or a server that is no proxy): parse responses
    /// again, after the rest of the switching 2xx's own body. `at_switch`:
    /// the bytes from the switch on are read again (else those seen in
    /// the tunnel were its body's).
    pub fn resume(&mut self, at_switch: bool) {
        let framing = self.tunnel_framing.take();
        let seen = self.tunnel_body.take();
        if matches!(self.state, State::Tunnel) {
            let body = if at_switch {
                framing.and_then(framed_body)
            } else {
                seen
            };
            self.state = match body {
                Some(body) => State::SkipBody(body),
                None => State::Seek(Seek::default()),
            };
        }
    }

    /// Pair and frame a response (RFC 9112 §6.3).
    fn after_head(
        &mut self,
        cx: &mut Cx<'_>,
        ts: Timestamp,
        status: u16,
        headers: &Headers,
        outcome: &mut Outcome,
    ) -> State {
        let front: Option<TxInfo> = cx.txq.front().copied();
        let mut resp = Response {
            ts,
            status,
            body_len: 0,
            request_index: front.map(|t| t.index),
        };
        if (100..200).contains(&status) {
            // Interim: the request stays unanswered, unless this is the
            // switch its Upgrade asked for.
            if status == 101 && front.is_some_and(|t| t.upgrade) {
                cx.take_tx();
                outcome.tunnel = true;
                self.tunnel_framing = None;
            }
            emit(cx, resp);
            return State::Seek(Seek::default());
        }
        cx.take_tx();
        let tx = front;
        if tx.is_some_and(|t| t.connect) && (200..300).contains(&status) {
            outcome.tunnel = true;
            // Only an explicit framing: without one a proxy's tunnel
            // starts right after the head.
            self.tunnel_framing = match head::te_cl(headers, &mut super::Anomalies::default()) {
                (Some(true), _, _) => Some(Framing::Chunked),
                (None, Some(n), _) => Some(Framing::Length(n)),
                _ => None,
            };
            emit(cx, resp);
            return State::Seek(Seek::default());
        }
        if tx.is_some_and(|t| t.head) || status == 204 || status == 304 {
            emit(cx, resp);
            return State::Seek(Seek::default());
        }
        let mut a = super::Anomalies::default();
        let body = match head::te_cl(headers, &mut a) {
            (Some(true), _, _) => Body::chunked(),
            (Some(false), _, _) => Body::UntilClose,
            (None, Some(0), _) => {
                emit(cx, resp);
                return State::Seek(Seek::default());
            }
            (None, Some(n), _) => Body::length(n),
            (None, None, _) => Body::UntilClose,
        };
        resp.body_len = 0;
        State::Body { resp, body }
    }

    /// Bytes buffered now (head or candidate, a chunked body's size or
    /// trailer line).
    pub fn held(&self) -> usize {
        match &self.state {
            State::Seek(seek) => seek.pending(),
            State::Head { head, .. } => head.buf.len(),
            State::Body { body, .. } | State::SkipBody(body) => body.held(),
            State::Tunnel => self.tunnel_body.as_ref().map_or(0, Body::held),
            State::SkipHead { .. } => 0,
        }
    }

    pub fn on_gap(&mut self, cx: &mut Cx<'_>, len: u64) {
        let state = std::mem::replace(&mut self.state, State::Tunnel);
        self.state = match state {
            State::Tunnel => {
                cx.stats.non_http_bytes = cx.stats.non_http_bytes.saturating_add(len);
                // A gap inside the body keeps its framing; one past it
                // loses it (responses are sought again at the resume).
                let mut skipped = 0u64;
                self.tunnel_body = self.tunnel_body.take().and_then(|mut body| {
                    (body.gap(len, &mut Count(&mut skipped)) && !body.is_done()).then_some(body)
                });
                State::Tunnel
            }
            State::SkipBody(mut body) => {
                let mut skipped = 0u64;
                if body.gap(len, &mut Count(&mut skipped)) && !body.is_done() {
                    State::SkipBody(body)
                } else {
                    self.resync()
                }
            }
            State::Body { mut resp, mut body } => {
                if body.gap(len, &mut Count(&mut resp.body_len)) {
                    if body.is_done() {
                        emit(cx, resp);
                        self.resync()
                    } else {
                        State::Body { resp, body }
                    }
                } else {
                    emit(cx, resp);
                    self.resync()
                }
            }
            State::SkipHead { resp, .. } => {
                emit(cx, resp);
                self.resync()
            }
            State::Head { .. } => self.resync(),
            State::Seek(mut seek) => {
                let counter = self.counter(cx);
                seek.restart(counter);
                State::Seek(seek)
            }
        };
    }

    /// The server closed its side: a body read until the close is
    /// complete (as is one whose oversized head left its framing unknown).
    /// Anything else waits for more bytes or the flow's end as before.
    pub fn on_close(&mut self, cx: &mut Cx<'_>) {
        let state = std::mem::replace(&mut self.state, State::Tunnel);
        self.state = match state {
            State::Body {
                resp,
                body: Body::UntilClose,
            }
            | State::SkipHead { resp, .. } => {
                emit(cx, resp);
                self.resync()
            }
            other => other,
        };
    }

    fn resync(&mut self) -> State {
        self.at_start = false;
        State::Seek(Seek::default())
    }

    /// The direction starts again elsewhere (see `HttpSession::on_restart`):
    /// emit what was started, and take what follows as a fresh start.
    pub fn restart(&mut self, cx: &mut Cx<'_>) {
        self.on_end(cx);
        *self = ResponseSide::default();
    }

    pub fn on_end(&mut self, cx: &mut Cx<'_>) {
        let state = std::mem::replace(&mut self.state, State::Tunnel);
        match state {
            State::Body { resp, .. } | State::SkipHead { resp, .. } => emit(cx, resp),
            State::SkipBody(_) => {}
            State::Head { head, ts } => {
                let h = head::parse_response(&head, false, cx.limits.max_headers);
                let request_index = cx.take_tx().map(|t| t.index);
                emit(
                    cx,
                    Response {
                        ts,
                        status: h.status,
                        body_len: 0,
                        request_index,
                    },
                );
            }
            State::Seek(_) | State::Tunnel => {}
        }
    }
}

fn emit(cx: &mut Cx<'_>, resp: Response) {
    cx.stats.responses += 1;
    cx.out.push(HttpEvent::Response(resp));
}
