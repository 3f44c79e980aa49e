//! Looking for the start of a message: skip bytes up to a line start whose
//! first bytes a classifier accepts (a plausible request or status line).
//!
//! Used at the start of a stream (midstream pickup), between messages and
//! after a gap or broken framing. Keeps at most one candidate prefix
//! (bounded by the classifier: it answers within `MAX_METHOD_LEN + 6` bytes).

use memchr::memchr;

use super::head::Plausible;
use crate::capture::Timestamp;

#[derive(Debug)]
pub(super) struct Seek {
    /// The next byte starts a line.
    at_line_start: bool,
    /// Bytes of the current line start, not yet judged.
    cand: Vec<u8>,
    cand_ts: Timestamp,
    /// Bytes skipped since the last message (decides GarbageBeforeRequest).
    pub skipped: u64,
    /// Also look for a request start in the middle of a line. Used where the
    /// previous message's end is unknown (midstream pickup, after a gap): the
    /// next request then follows the unknown tail of a body directly, not
    /// after a line break.
    anywhere: bool,
}

impl Default for Seek {
    fn default() -> Self {
        Seek {
            at_line_start: true,
            cand: Vec::new(),
            cand_ts: Timestamp::default(),
            skipped: 0,
            anywhere: false,
        }
    }
}

/// Method tokens (with their space) that may start a request in the middle
/// of a line in [`Seek::anywhere`] mode. Case-sensitive (RFC 9110 §9.1).
fn method_starts() -> Option<&'static aho_corasick::AhoCorasick> {
    static AC: std::sync::OnceLock<Option<aho_corasick::AhoCorasick>> = std::sync::OnceLock::new();
    AC.get_or_init(|| {
        let methods = [
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
        // The patterns are fixed and valid; an error here is impossible, and a
        // missing automaton only disables mid-line search.
        aho_corasick::AhoCorasick::new(methods).ok()
    })
    .as_ref()
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
        let n = self.cand.len() as u64;
        self.skipped += n;
        *counter += n;
        self.cand.clear();
        self.at_line_start = true;
    }

    /// Bytes held as an undecided candidate.
    pub fn pending(&self) -> usize {
        self.cand.len()
    }

    /// Feed bytes; skipped bytes are added to `counter`. Blank lines
    /// (CR, LF) at a line start are skipped silently (RFC 9112 §2.2).
    pub fn feed(
        &mut self,
        data: &[u8],
        ts: Timestamp,
        classify: fn(&[u8]) -> Plausible,
        counter: &mut u64,
    ) -> Option<Found> {
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
                    (None, None) => rest.len(),
                };
                self.skipped += skip as u64;
                *counter += skip as u64;
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
            match classify(&self.cand) {
                Plausible::Yes => {
                    return Some(Found {
                        consumed: pos,
                        prefix: std::mem::take(&mut self.cand),
                        ts: self.cand_ts,
                    })
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
                }
            }
        }
        None
    }
}
