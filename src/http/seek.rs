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

/// Capacity a cleared candidate keeps (its allocation is not counted as
/// held): a common request line's start.
const CAND_KEPT_CAPACITY: usize = 256;

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

#[cfg(test)]
thread_local! {
    /// Bytes the line-end search looked at on this thread (linearity tests).
    static LF_SCANNED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The first LF in `s`, its search counted (tests).
fn find_lf(s: &[u8]) -> Option<usize> {
    let found = memchr(b'\n', s);
    #[cfg(test)]
    LF_SCANNED.with(|c| c.set(c.get() + found.map_or(s.len(), |i| i + 1) as u64));
    found
}

/// What judging a refused candidate's method token again gave.
enum Again {
    Found(Found),
    /// Still undecided: the token is the candidate now.
    More,
    Refused,
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
        self.skip(self.pending(), counter);
        self.drop_cand();
        self.judge = LineJudge::default();
        self.held.clear();
        self.at_line_start = true;
    }

    /// Bytes held as an undecided candidate.
    pub fn pending(&self) -> usize {
        self.cand.len() + self.held.len()
    }

    /// Count `n` bytes as skipped, here and in the caller's counter.
    fn skip(&mut self, n: usize, counter: &mut u64) {
        self.skipped += n as u64;
        *counter += n as u64;
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
            self.skip(skip, counter);
            return self.held.is_empty();
        }
        self.skip(held.len(), counter);
        true
    }

    /// Clear the candidate. A long one refused (an unknown method, 8 KiB
    /// of spaces and 8 KiB of scheme) left up to 32 KiB of capacity that
    /// `pending()` does not count, in every flow between two requests
    /// (review round 25): it is given back.
    fn drop_cand(&mut self) {
        self.cand.clear();
        self.cand.shrink_to(CAND_KEPT_CAPACITY);
    }

    /// The candidate was refused; judge its bytes from `from` (a method
    /// token) as a new one, each once. On `Yes` the bytes after the deciding
    /// one (already taken from the input, `consumed` in all) stay in the
    /// prefix; on `More` they are the candidate; on `No` too, for the
    /// caller to count as skipped.
    fn judge_again(&mut self, kind: LineKind, from: usize, consumed: usize) -> Again {
        let again = self.cand.split_off(from);
        self.cand.clear();
        for (k, &c) in again.iter().enumerate() {
            self.cand.push(c);
            match self.judge.push(kind, &self.cand) {
                Plausible::More => {}
                Plausible::Yes => {
                    self.judge = LineJudge::default();
                    self.cand
                        .extend_from_slice(again.get(k + 1..).unwrap_or_default());
                    return Again::Found(Found {
                        consumed,
                        prefix: std::mem::take(&mut self.cand),
                        ts: self.cand_ts,
                    });
                }
                Plausible::No => {
                    self.judge = LineJudge::default();
                    self.cand = again;
                    return Again::Refused;
                }
            }
        }
        Again::More
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
        // Where the next LF of `data` is (`Some(None)`: none from there to
        // the end), once looked for: a line of many refused mid-line
        // candidates (`GET \r GET \r ...`) searched the rest of `data`
        // again for each (quadratic, review round 25).
        let mut next_lf: Option<Option<usize>> = None;
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or_default();
            if !self.at_line_start {
                let newline = match next_lf {
                    Some(Some(lf)) if lf >= pos => Some(lf - pos),
                    Some(None) => None,
                    _ => {
                        let found = find_lf(rest);
                        next_lf = Some(found.map(|i| pos + i));
                        found
                    }
                };
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
                self.skip(skip, counter);
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
                    self.judge = LineJudge::default();
                    // `anywhere` mode: a method token inside the refused
                    // bytes (`A  GET ` refused at the space after the scheme
                    // `GET`) may start a request that follows an unknown
                    // body's last line directly (review round 25). It is
                    // judged again, once: after a known method only CR or
                    // LF refuses, and neither is a token's. Only after the
                    // candidate's method: a token inside it (`XGET  GET `)
                    // is followed by what was judged already, and the judge
                    // takes more after a known method (review round 26).
                    let method_end = self
                        .cand
                        .iter()
                        .position(|&c| c == b' ' || c == b'\t')
                        .map_or(self.cand.len(), |k| k + 1);
                    let inside = match self.cand.get(method_end..) {
                        Some(after) if self.anywhere && b != b'\n' => method_starts()
                            .and_then(|ac| ac.find(after))
                            .map(|m| m.start() + method_end),
                        _ => None,
                    };
                    self.skip(inside.unwrap_or(self.cand.len()), counter);
                    if let Some(i) = inside {
                        match self.judge_again(kind, i, pos) {
                            Again::Found(found) => return Some(found),
                            Again::More => continue,
                            // Refused again: skipped too.
                            Again::Refused => self.skip(self.cand.len(), counter),
                        }
                    }
                    // The classifier says No at the first bad byte, so an LF
                    // can only be the last byte.
                    self.at_line_start = b == b'\n';
                    self.drop_cand();
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
    pub(super) fn seek(pieces: &[&[u8]]) -> (Option<Vec<u8>>, u64) {
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

#[cfg(test)]
mod review25a {
    use super::tests::seek;
    use super::*;

    /// Review round 25 (reviewer a). In `anywhere` mode (every flow's
    /// first request, midstream pickup, after a gap) a method token found
    /// in the middle of a line becomes a candidate; when the judge refuses
    /// it (`GET ` then CR), the next loop looks for the line's end again
    /// with `memchr` over all the rest of the call's bytes before the
    /// Aho-Corasick search finds the next token a few bytes on. 64 KiB of
    /// `GET \r` (one segment; nginx answers the first line with 400) cost
    /// ~13,000 scans of ~32 KiB: quadratic, where a server looks at each
    /// byte once. Counted here as the bytes the line-end search looks at.
    /// Severity: Medium (CPU amplification, per segment).
    #[test]
    fn review25a_mid_line_candidates_rescan_to_the_line_end() {
        let input = b"GET \r".repeat(64 * 1024 / 5);
        LF_SCANNED.with(|c| c.set(0));
        let mut s = Seek::anywhere();
        let mut counter = 0;
        let found = s.feed(&input, Timestamp(0), LineKind::Request, &mut counter);
        assert!(found.is_none());
        let scanned = LF_SCANNED.with(|c| c.get());
        assert!(
            scanned <= 4 * input.len() as u64,
            "{} input bytes, {scanned} scanned for a line end",
            input.len()
        );
    }

    /// A candidate refused after a long run (an unknown method, 8 KiB of
    /// spaces and 8 KiB of scheme letters, now taken since review round
    /// 23) leaves `cand` with its ~32 KiB of capacity: `clear` keeps it.
    /// `pending()` (what `RequestSide::held` and the memcap eviction count)
    /// then says 0, so every flow left between two requests after such a
    /// line holds 32 KiB that no budget sees: a million flows (the default
    /// `max_flows`) hold 32 GiB past `max_buffered_bytes`. The body
    /// framer counts its buffers' capacity (`Body::held`).
    /// Severity: High (memory growth past the accounted bounds).
    #[test]
    fn review25a_refused_long_candidate_keeps_unaccounted_capacity() {
        let mut line = b"X".to_vec();
        line.extend(std::iter::repeat_n(b' ', 8000));
        line.extend(std::iter::repeat_n(b'a', 8000));
        line.push(b' ');
        let mut s = Seek::default();
        let mut counter = 0;
        assert!(s
            .feed(&line, Timestamp(0), LineKind::Request, &mut counter)
            .is_none());
        assert_eq!(counter, line.len() as u64);
        assert_eq!(s.pending(), 0);
        assert!(
            s.cand.capacity() <= 1024,
            "{} bytes of capacity held, {} accounted",
            s.cand.capacity(),
            s.pending()
        );
    }

    /// In `anywhere` mode a line-start candidate refused at its first bad
    /// byte drops all its bytes, also a method token inside it: after a
    /// body Specula did not frame (midstream pickup, a gap) whose last
    /// line is `A ` and a space, the next request `GET /?q=… HTTP/1.1`
    /// follows it directly, as nginx reads it (the body ends at its
    /// length), and is judged as the scheme `GET` of `A  GET`, refused at
    /// its space, and skipped unseen. Since review round 23 (spaces after
    /// an unknown method, schemes up to 8 KiB) the candidate swallowing
    /// the token can be any run of spaces and letters; before it `A ` and
    /// one letter. Severity: Medium (a pickup inside the body is needed).
    #[test]
    fn review25a_refused_candidate_hides_a_method_token() {
        for tail in [
            &b"x\nA  "[..],
            b"x\nA ",
            b"x\nFOO\t\t",
            b"x\nA schemeletters",
        ] {
            let mut whole = tail.to_vec();
            whole.extend_from_slice(b"GET /?q=<script> HTTP/1.1\r\n");
            let (found, _) = seek(&[&whole]);
            assert_eq!(
                found.as_deref(),
                Some(&b"GET /"[..]),
                "{}",
                String::from_utf8_lossy(tail)
            );
        }
    }
}
