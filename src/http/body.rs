//! Message bodies: Content-Length, chunked (RFC 9112 §7.1) and
//! read-until-close, decoded incrementally into a [`BodyTarget`].
//!
//! Nothing here buffers body bytes: data slices are handed on as they come;
//! only a chunk-size line (at most [`MAX_CHUNK_DIGITS`] digits, extensions
//! skipped up to [`MAX_CHUNK_EXT_BYTES`]) and one trailer line (bounded by
//! the caller's limit) are kept.

use super::head::trim_ws;
use super::Anomaly;

/// More hex digits than this cannot be a u64 chunk size.
pub(super) const MAX_CHUNK_DIGITS: usize = 16;
/// Longest chunk extension (`;name=value...`) skipped before the size line
/// is declared invalid.
/// Apache httpd bounds the whole size line by `LimitRequestFieldSize`
/// (8190), llhttp the extensions by 16 KiB, nginx not at all; nothing of
/// it is held.
pub(super) const MAX_CHUNK_EXT_BYTES: usize = 16 * 1024;

/// Where decoded body bytes go.
pub(super) trait BodyTarget {
    fn data(&mut self, bytes: &[u8]);
    /// `len` body bytes were lost to a capture gap.
    fn gap(&mut self, len: u64);
    fn trailer(&mut self, name: &[u8], value: &[u8]);
    fn anomaly(&mut self, a: Anomaly);
}

#[derive(Debug)]
pub(super) enum Chunk {
    /// Reading a chunk-size line.
    Size {
        digits: Vec<u8>,
        /// In the extension / after the digits, up to LF.
        in_ext: bool,
        ext_len: usize,
        /// A CR began the line (no digits): only its LF may follow.
        cr: bool,
        /// Only digits, then `;` or CR (no whitespace): the first size line
        /// of a body whose chunked framing is in doubt (see
        /// [`Body::chunked_if_sized`]).
        strict: bool,
        /// Leading zeros dropped from `digits` (not in a replay).
        zeros: u64,
    },
    Data {
        remaining: u64,
    },
    /// CRLF after chunk data.
    DataEnd {
        seen_cr: bool,
    },
    /// Trailer section after the last chunk (RFC 9112 §7.1.2): field
    /// lines up to an empty line.
    Trailer {
        /// Kept bytes of the current line: all of it while it may still
        /// fit, at most one byte more than the room left.
        line: Vec<u8>,
        /// Length of the current line so far (CR included, LF not), kept
        /// or not.
        line_len: usize,
        /// Bytes of the field lines before this one (LF included).
        total: usize,
    },
}

impl Chunk {
    fn size() -> Chunk {
        Chunk::size_line(false)
    }

    /// A size line to read, `strict` for the first of a doubtful body.
    fn size_line(strict: bool) -> Chunk {
        Chunk::Size {
            digits: Vec::new(),
            in_ext: false,
            ext_len: 0,
            cr: false,
            strict,
            zeros: 0,
        }
    }
}

/// State of one body being read.
#[derive(Debug)]
pub(super) enum Body {
    Length { remaining: u64 },
    Chunked(Chunk),
    UntilClose,
}

/// What feeding a body did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Progress {
    /// The body ended after this many input bytes.
    Done(usize),
    /// All input consumed; more body to come.
    More,
    /// The chunked framing broke after this many input bytes. `replay`
    /// holds the bytes of the broken size line (not yet seen by anyone; at
    /// most `MAX_CHUNK_DIGITS + 1`, no LF) so the caller can look for a
    /// request line there.
    Invalid { consumed: usize, replay: Vec<u8> },
}

impl Body {
    /// Bytes this body's framing holds: the size line being read, or the
    /// trailer line (up to `max_trailer_bytes` + 1, so the HTTP memory cap
    /// must see it).
    pub fn held(&self) -> usize {
        match self {
            Body::Chunked(Chunk::Size { digits, .. }) => digits.capacity(),
            Body::Chunked(Chunk::Trailer { line, .. }) => line.capacity(),
            _ => 0,
        }
    }

    pub fn length(n: u64) -> Body {
        Body::Length { remaining: n }
    }
    pub fn chunked() -> Body {
        Body::Chunked(Chunk::size())
    }

    /// A chunked body when its first line is a plain size line (digits,
    /// then `;` or CRLF); otherwise the line is handed back
    /// (`Progress::Invalid`, see [`Body::doubtful_start`]) to be read as
    /// the next request, or as a body of the request's Content-Length. For an
    /// HTTP/1.0 request with `Transfer-Encoding`, which servers frame both
    /// ways: Apache httpd reads the chunked body, Go and Tomcat the next
    /// request (review rounds 13–14).
    pub fn chunked_if_sized() -> Body {
        Body::Chunked(Chunk::size_line(true))
    }

    /// Still at the first line of a [`Body::chunked_if_sized`] body: the
    /// leading zeros its size line dropped (bytes of the body's start that
    /// a replay does not hold).
    pub fn doubtful_start(&self) -> Option<u64> {
        match self {
            Body::Chunked(Chunk::Size {
                strict: true,
                zeros,
                ..
            }) => Some(*zeros),
            _ => None,
        }
    }

    /// Decode `data`. `max_trailer_bytes` bounds the trailer section kept.
    pub fn feed(
        &mut self,
        data: &[u8],
        max_trailer_bytes: usize,
        t: &mut impl BodyTarget,
    ) -> Progress {
        match self {
            Body::UntilClose => {
                t.data(data);
                Progress::More
            }
            Body::Length { remaining } => {
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                t.data(data.get(..n).unwrap_or_default());
                *remaining -= n as u64;
                if *remaining == 0 {
                    Progress::Done(n)
                } else {
                    Progress::More
                }
            }
            Body::Chunked(c) => feed_chunked(c, data, max_trailer_bytes, t),
        }
    }

    /// `len` bytes were lost. True when the body absorbed them (the gap fell
    /// inside data of known length); false when framing is lost.
    pub fn gap(&mut self, len: u64, t: &mut impl BodyTarget) -> bool {
        match self {
            Body::UntilClose => {
                t.gap(len);
                true
            }
            Body::Length { remaining } | Body::Chunked(Chunk::Data { remaining })
                if len <= *remaining =>
            {
                *remaining -= len;
                t.gap(len);
                true
            }
            _ => false,
        }
    }

    /// True when the body ended exactly here (a gap may have used it up).
    pub fn is_done(&self) -> bool {
        matches!(self, Body::Length { remaining: 0 })
    }
}

fn feed_chunked(
    c: &mut Chunk,
    data: &[u8],
    max_trailer_bytes: usize,
    t: &mut impl BodyTarget,
) -> Progress {
    let mut pos = 0;
    while pos < data.len() {
        let rest = data.get(pos..).unwrap_or_default();
        match c {
            Chunk::Data { remaining } => {
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(rest.len());
                t.data(rest.get(..n).unwrap_or_default());
                *remaining -= n as u64;
                pos += n;
                if *remaining == 0 {
                    *c = Chunk::DataEnd { seen_cr: false };
                }
            }
            Chunk::DataEnd { seen_cr } => {
                let b = rest.first().copied().unwrap_or_default();
                match (b, *seen_cr) {
                    (b'\r', false) => {
                        *seen_cr = true;
                        pos += 1;
                    }
                    (b'\n', _) => {
                        if !*seen_cr {
                            t.anomaly(Anomaly::BareLf);
                        }
                        pos += 1;
                        *c = Chunk::size();
                    }
                    _ => {
                        // Missing CRLF: read this byte as the next size line.
                        t.anomaly(Anomaly::InvalidChunk);
                        *c = Chunk::size();
                    }
                }
            }
            Chunk::Size {
                digits,
                in_ext,
                ext_len,
                cr,
                strict,
                zeros,
            } => {
                let b = rest.first().copied().unwrap_or_default();
                pos += 1;
                if b == b'\n' {
                    if digits.is_empty() {
                        // An empty line where a size belongs: tolerated.
                        t.anomaly(Anomaly::InvalidChunk);
                        *in_ext = false;
                        *cr = false;
                        continue;
                    }
                    let size = digits
                        .iter()
                        .fold(0u64, |acc, d| (acc << 4) | u64::from(hex_val(*d)));
                    *c = if size == 0 {
                        Chunk::Trailer {
                            line: Vec::new(),
                            line_len: 0,
                            total: 0,
                        }
                    } else {
                        Chunk::Data { remaining: size }
                    };
                } else if *in_ext {
                    *ext_len += 1;
                    if *ext_len > MAX_CHUNK_EXT_BYTES {
                        t.anomaly(Anomaly::InvalidChunk);
                        return Progress::Invalid {
                            consumed: pos,
                            replay: Vec::new(),
                        };
                    }
                } else if !*cr && b.is_ascii_hexdigit() && digits.as_slice() == b"0" {
                    // Leading zeros do not count against the digit bound
                    // (nginx, Apache httpd and llhttp read any number).
                    digits.clear();
                    digits.push(b);
                    *zeros = zeros.saturating_add(1);
                } else if !*cr && b.is_ascii_hexdigit() && digits.len() < MAX_CHUNK_DIGITS {
                    digits.push(b);
                } else if !*cr
                    && (b == b'\r' || b == b';' || (!*strict && (b == b' ' || b == b'\t')))
                    && (!digits.is_empty() || b == b'\r')
                {
                    // Extension, BWS or the CR of CRLF: skipped up to LF.
                    // A CR with no digits before it must end the line: what
                    // follows it may be a request line (servers skip a CR
                    // before one).
                    if digits.is_empty() {
                        *cr = true;
                    } else {
                        *in_ext = true;
                    }
                } else {
                    t.anomaly(Anomaly::InvalidChunk);
                    let mut replay = if *cr { vec![b'\r'] } else { Vec::new() };
                    replay.append(digits);
                    replay.push(b);
                    return Progress::Invalid {
                        consumed: pos,
                        replay,
                    };
                }
            }
            Chunk::Trailer {
                line,
                line_len,
                total,
            } => {
                let (seg, done_line) = match memchr::memchr(b'\n', rest) {
                    Some(i) => (rest.get(..i).unwrap_or_default(), true),
                    None => (rest, false),
                };
                pos += seg.len() + usize::from(done_line);
                // Only lengths decide, never where a segment ended: a line
                // is kept whole or dropped whole.
                let room = max_trailer_bytes.saturating_sub(*total);
                let keep = room.saturating_add(1).saturating_sub(line.len());
                line.extend_from_slice(seg.get(..keep.min(seg.len())).unwrap_or_default());
                *line_len = line_len.saturating_add(seg.len());
                if !done_line {
                    continue;
                }
                let l = line.strip_suffix(b"\r").unwrap_or(line);
                if *line_len <= 1 && l.is_empty() {
                    // The empty line ends the section, whatever its size.
                    return Progress::Done(pos);
                }
                let len = line_len.saturating_add(1);
                if len > room {
                    // Over the section bound: dropped, and the section
                    // goes on to its empty line.
                    t.anomaly(Anomaly::HeaderTooLong);
                } else if let Some(i) = memchr::memchr(b':', l) {
                    t.trailer(
                        trim_ws(l.get(..i).unwrap_or_default()),
                        trim_ws(l.get(i + 1..).unwrap_or_default()),
                    );
                } else {
                    t.anomaly(Anomaly::InvalidHeader);
                }
                *total = total.saturating_add(len);
                *line_len = 0;
                line.clear();
            }
        }
    }
    Progress::More
}

fn hex_val(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        b'A'..=b'F' => d - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Anomalies;

    #[derive(Default)]
    struct Sink {
        data: Vec<u8>,
        gap: u64,
        trailers: Vec<(Vec<u8>, Vec<u8>)>,
        a: Anomalies,
    }
    impl BodyTarget for Sink {
        fn data(&mut self, bytes: &[u8]) {
            self.data.extend_from_slice(bytes);
        }
        fn gap(&mut self, len: u64) {
            self.gap += len;
        }
        fn trailer(&mut self, name: &[u8], value: &[u8]) {
            self.trailers.push((name.to_vec(), value.to_vec()));
        }
        fn anomaly(&mut self, a: Anomaly) {
            self.a.set(a);
        }
    }

    #[test]
    fn chunked_with_ext_and_trailer() {
        let input = b"4;a=b\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for split in 0..input.len() {
            let mut s = Sink::default();
            let mut b = Body::chunked();
            let (x, y) = input.split_at(split);
            let mut consumed = None;
            if let Progress::Done(n) = b.feed(x, 1000, &mut s) {
                consumed = Some(n);
            } else if let Progress::Done(n) = b.feed(y, 1000, &mut s) {
                consumed = Some(split + n);
            }
            assert_eq!(consumed, Some(input.len() - 4), "split {split}");
            assert_eq!(s.data, b"Wikipedia");
            assert_eq!(s.trailers.len(), 1);
            assert!(s.a.is_empty());
        }
    }

    /// Fuzz finding `http_split-chunked-trailer` (minimised): a trailer
    /// line over the limit ended the body when it came in one piece (it
    /// was kept as an empty line) and was kept truncated when cut. Both
    /// must drop the line with `HeaderTooLong` and go on to the empty line.
    #[test]
    fn over_long_trailer_line_same_whole_and_cut() {
        let input = b"0\r\nX-B: 1\r\nX-Trailer: 0123456789\r\n\r\nNEXT";
        let max = 16;
        for step in 1..=input.len() {
            let mut s = Sink::default();
            let mut b = Body::chunked();
            let mut done = None;
            for (i, piece) in input.chunks(step).enumerate() {
                if let Progress::Done(n) = b.feed(piece, max, &mut s) {
                    done = Some(i * step + n);
                    break;
                }
            }
            assert_eq!(done, Some(input.len() - 4), "step {step}");
            let names: Vec<&[u8]> = s.trailers.iter().map(|h| h.0.as_slice()).collect();
            assert_eq!(names, [&b"X-B"[..]], "step {step}");
            assert!(s.a.has(Anomaly::HeaderTooLong), "step {step}");
        }
    }

    #[test]
    fn invalid_chunk_size_replays_line() {
        let mut s = Sink::default();
        let mut b = Body::chunked();
        assert_eq!(
            b.feed(b"zz\r\n", 100, &mut s),
            Progress::Invalid {
                consumed: 1,
                replay: b"z".to_vec()
            }
        );
        assert!(s.a.has(Anomaly::InvalidChunk));
        let mut b = Body::chunked();
        let p = b.feed(b"11111111111111111\r\n", 100, &mut s);
        assert!(matches!(p, Progress::Invalid { consumed: 17, .. }));
    }

    #[test]
    fn length_and_gap() {
        let mut s = Sink::default();
        let mut b = Body::length(10);
        assert_eq!(b.feed(b"abc", 0, &mut s), Progress::More);
        assert!(b.gap(4, &mut s));
        assert!(!b.gap(4, &mut s));
        assert_eq!(b.feed(b"defXYZ", 0, &mut s), Progress::Done(3));
        assert_eq!((s.data.as_slice(), s.gap), (&b"abcdef"[..], 4));
    }
}
