//! Looking for the start of a message: skip bytes up to a line start whose
//! first bytes a classifier accepts (a plausible request or status line).
//!
//! Used at the start of a stream (midstream pickup), between messages and
//! after a gap or broken framing. Keeps at most one candidate prefix
//! (bounded by the classifier: it answers within `MAX_METHOD_LEN`, `MAX_EXTRA_SPACES`
//! and `MAX_SCHEME_LEN` bytes and a few more).

use memchr::memchr;

use super::head::{LineJudge, LineKind, Plausible};
use crate::capture::Timestamp;

#[derive(Debug)]
pub(super) struct Seek {
    /// The next byte starts a line.
    at_line_start: bool,
    /// Bytes of the current line start, judged `More` so far.
    cand: Vec<u8>,
    /// Where the judgement of `cand` stands: each byte is judged once.
    judge: LineJudge,
    cand_ts: Timestamp,
    /// Bytes skipped since the last message (decides GarbageBeforeRequest).
    pub skipped: u64,
    /// Also look for a request start in the middle of a line. Used where the
    /// previous message's end is unknown (midstream pickup, after a gap): the
    /// next request then follows the unknown tail of a body directly, not
    /// after a line break.
    anywhere: bool,
    /// `anywhere` mode: the end of the previous call's bytes that may be the
    /// start of a method token cut by a segment boundary (`...GE` | `T /`),
    /// at most `METHOD_TOKEN_MAX - 1` bytes; decided by the next call.
    held: Vec<u8>,
    held_ts: Timestamp,
}

impl Default for Seek {
    fn default() -> Self {
        Seek {
            at_line_start: true,
            cand: Vec::new(),
            judge: LineJudge::default(),
            cand_ts: Timestamp::default(),
            skipped: 0,
            anywhere: false,
            held: Vec::new(),
            held_ts: Timestamp::default(),
        }
    }
}

/// Method tokens (with their space) that may start a request in the middle
/// of a line in [`Seek::anywhere`] mode. Case-sensitive (RFC 9110 §9.1).
const METHOD_TOKENS: [&str; 10] = [
    "GET ",
    "POST ",
    "HEAD ",
    "PUT ",
    "DELETE ",
    "OPTIONS ",
    "PATCH ",
    "CONNECT ",
    "TRACE ",
    "PROPFIND ",
];

/// Longest of [`METHOD_TOKENS`].
const METHOD_TOKEN_MAX: usize = 9;

fn method_starts() -> Option<&'static aho_corasick::AhoCorasick> {
    static AC: std::sync::OnceLock<Option<aho_corasick::AhoCorasick>> = std::sync::OnceLock::new();
    AC.get_or_init(|| {
        // The patterns are fixed and valid; an error here is impossible, and a
        // missing automaton only disables mid-line search.
        aho_corasick::AhoCorasick::new(METHOD_TOKENS).ok()
    })
    .as_ref()
}

/// How `s` relates to the method tokens: `Some(true)` when one starts `s`,
/// `Some(false)` when `s` is a proper prefix of one, else `None`.
fn method_prefix(s: &[u8]) -> Option<bool> {
    let mut partial = false;
    for m in METHOD_TOKENS {
        let m = m.as_bytes();
        if s.starts_with(m) {
            return Some(true);
        }
        partial |= m.starts_with(s);
    }
    partial.then_some(false)
}

/// A message start was found.
#[derive(Debug)]
pub(super) struct Found {
    /// Input bytes used (the accepted prefix's last byte included).
    pub consumed: usize,
    /// The accepted prefix: the first bytes of the message (no LF).
    pub prefix: Vec<u8>,
    /// `ts` of the call that carried the prefix's first byte.
    pub ts: Timestamp,
}

impl Seek {
    /// A seeker that also finds request starts in the middle of a line.
    pub fn anywhere() -> Seek {
        Seek {
            anywhere: true,
            ..Seek::default()
        }
    }

    /// Drop any candidate (its bytes count as skipped) and treat the next
    /// byte as a line start: after a gap we cannot know better, and the
    /// classifier guards against false starts.
    pub fn restart(&mut self, counter: &mut u64) {
        let n = (self.cand.len() + self.held.len()) as u64;
        self.skipped += n;
        *counter += n;
        self.cand.clear();
        self.judge = LineJudge::default();
        self.held.clear();
        self.at_line_start = true;
    }

    /// Bytes held as an undecided candidate.
    pub fn pending(&self) -> usize {
        self.cand.len() + self.held.len()
    }

    /// `anywhere` mode, in the middle of a line, with `held` bytes from the
    /// previous call: does a method token start in them and go on in
    /// `data`? A found start becomes the candidate (and the line start);
    /// bytes before it are skipped. Returns false when all of `data` was
    /// taken into `held` (still undecided).
    fn resolve_held(&mut self, data: &[u8], counter: &mut u64) -> bool {
        let held = std::mem::take(&mut self.held);
        let next = data.get(..METHOD_TOKEN_MAX).unwrap_or(data);
        let mut joined = Vec::with_capacity(held.len() + next.len());
        for skip in 0..held.len() {
            joined.clear();
            joined.extend_from_slice(held.get(skip..).unwrap_or_default());
            joined.extend_from_slice(next);
            match method_prefix(&joined) {
                None => continue,
                Some(true) => {
                    // A method token and its space: the judge takes them
                    // in turn (they are `More` to it).
                    for &b in held.get(skip..).unwrap_or_default() {
                        self.cand.push(b);
                        self.judge.push(LineKind::Request, &self.cand);
                    }
                    self.cand_ts = self.held_ts;
                    self.at_line_start = true;
                }
                // Still a proper prefix: `data` was too short to decide.
                Some(false) => {
                    self.held.extend_from_slice(&joined);
                }
            }
            self.skipped += skip as u64;
            *counter += skip as u64;
            return self.held.is_empty();
        }
        self.skipped += held.len() as u64;
        *counter += held.len() as u64;
        true
    }

    /// Feed bytes; skipped bytes are added to `counter`. Blank lines
    /// (CR, LF) at a line start are skipped silently (RFC 9112 §2.2).
    pub fn feed(
        &mut self,
        data: &[u8],
        ts: Timestamp,
        kind: LineKind,
        counter: &mut u64,
    ) -> Option<Found> {
        if !self.held.is_empty() && !self.resolve_held(data, counter) {
            return None;
        }
        let mut pos = 0;
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or_default();
            if !self.at_line_start {
                let newline = memchr(b'\n', rest);
                let method = if self.anywhere {
                    let upto = newline.unwrap_or(rest.len());
                    method_starts()
                        .and_then(|ac| ac.find(rest.get(..upto).unwrap_or_default()))
                        .map(|m| m.start())
                } else {
                    None
                };
                let skip = match (method, newline) {
                    (Some(i), _) => {
                        self.at_line_start = true;
                        i
                    }
                    (None, Some(i)) => {
                        self.at_line_start = true;
                        i + 1
                    }
                    // A method token may start in the last bytes and go on
                    // in the next call's: hold those back.
                    (None, None) if self.anywhere => {
                        let from = rest.len().saturating_sub(METHOD_TOKEN_MAX - 1);
                        let tail = rest.get(from..).unwrap_or_default();
                        let keep = (0..tail.len())
                            .find(|&i| {
                                method_prefix(tail.get(i..).unwrap_or_default()) == Some(false)
                            })
                            .map_or(0, |i| tail.len() - i);
                        self.held
                            .extend_from_slice(rest.get(rest.len() - keep..).unwrap_or_default());
                        self.held_ts = ts;
                        rest.len() - keep
                    }
                    (None, None) => rest.len(),
                };
                self.skipped += skip as u64;
                *counter += skip as u64;
                if !self.held.is_empty() {
                    return None;
                }
                pos += skip;
                continue;
            }
            let b = rest.first().copied().unwrap_or_default();
            pos += 1;
            if self.cand.is_empty() {
                if b == b'\r' || b == b'\n' {
                    continue;
                }
                self.cand_ts = ts;
            }
            self.cand.push(b);
            match self.judge.push(kind, &self.cand) {
                Plausible::Yes => {
                    self.judge = LineJudge::default();
                    return Some(Found {
                        consumed: pos,
                        prefix: std::mem::take(&mut self.cand),
                        ts: self.cand_ts,
                    });
                }
                Plausible::More => {}
                Plausible::No => {
                    let n = self.cand.len() as u64;
                    self.skipped += n;
                    *counter += n;
                    // The classifier says No at the first bad byte, so an LF
                    // can only be the last byte.
                    self.at_line_start = b == b'\n';
                    self.cand.clear();
                    self.judge = LineJudge::default();
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `pieces` one call each; the prefix found, the bytes skipped.
    fn seek(pieces: &[&[u8]]) -> (Option<Vec<u8>>, u64) {
        let mut s = Seek::anywhere();
        let mut counter = 0;
        for p in pieces {
            if let Some(f) = s.feed(p, Timestamp(0), LineKind::Request, &mut counter) {
                return (Some(f.prefix), counter);
            }
        }
        (None, counter + s.pending() as u64)
    }

    // Found by the http_split fuzz target (input `e/GET` | ` e`): a method
    // token cut by a segment boundary in the middle of a line was skipped,
    // while the same bytes in one segment started a request.
    #[test]
    fn method_token_across_calls() {
        let whole = seek(&[b"e/GET / HTTP/1.1\r\n"]);
        assert!(whole.0.as_deref().is_some_and(|p| p.starts_with(b"GET ")));
        assert_eq!(seek(&[b"e/GE", b"T / HTTP/1.1\r\n"]), whole);
        assert_eq!(seek(&[b"e/G", b"E", b"T", b" / HTTP/1.1\r\n"]), whole);
        // The longest held prefix (OP..., for OPTIONS) fails; a shorter one
        // (P..., PUT) goes on.
        let put = seek(&[b"x/OP", b"UT / HTTP/1.1\r\n"]);
        assert_eq!(put, seek(&[b"x/OPUT / HTTP/1.1\r\n"]));
        assert!(put.0.as_deref().is_some_and(|p| p.starts_with(b"PUT ")));
        // Held bytes that do not go on are skipped like any others.
        assert_eq!(seek(&[b"a/ GE", b"X\n"]), (None, 7));
        assert_eq!(seek(&[b"a/ GEX\n"]), (None, 7));
        assert_eq!(seek(&[b"a/ GE"]), (None, 5));
    }
}
