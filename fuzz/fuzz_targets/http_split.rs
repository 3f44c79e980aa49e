//! The response parser and the chunked body decoder, driven through a
//! session with a fixed head in front of the fuzzed bytes so that the
//! fuzzer starts inside a chunked request body, a chunked response body or
//! a response head. The same streams fed whole and cut at arbitrary points
//! must give the same events and counters (streaming parsers may not
//! depend on where TCP segments end), kept bodies stay within
//! `max_body_inspect_bytes`, and a finished session holds nothing.
//!
//! Input: mode byte, cut seed byte, then the fuzzed bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::capture::Timestamp;
use specula::http::{HttpEvent, HttpLimits, HttpSession, HttpStats};
use specula::reassembly::{Direction, Stamp};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
const POST_CHUNKED: &[u8] = b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
const RESP_CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

const LIMITS: HttpLimits = HttpLimits {
    max_header_bytes: 1024,
    max_headers: 16,
    max_body_inspect_bytes: 256,
    max_tx_per_flow: 4,
    max_buffered_bytes: 1 << 20,
};

/// Feed both streams (requests first, then responses), cut into pieces of
/// 1..=32 bytes drawn from `seed` (0: whole).
fn run(to_server: &[u8], to_client: &[u8], seed: u8) -> (Vec<HttpEvent>, HttpStats) {
    let mut stats = HttpStats::default();
    let mut s = HttpSession::default();
    let mut out = Vec::new();
    let mut x = u32::from(seed) | 0x100;
    for (dir, mut data) in [(Direction::ToServer, to_server), (Direction::ToClient, to_client)] {
        // Numbered from near the wrap: stamps must not depend on the cuts.
        let mut at = Stamp { ts: Timestamp(0), seq: u32::MAX - 100 };
        while !data.is_empty() {
            let n = if seed == 0 {
                data.len()
            } else {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x % 32 + 1) as usize
            };
            let (piece, rest) = data.split_at(n.min(data.len()));
            s.on_data(&LIMITS, &mut stats, dir, at, piece, &mut out);
            at = at.advanced(piece.len());
            data = rest;
        }
    }
    s.on_end(&LIMITS, &mut stats, &mut out);
    (out, stats)
}

fuzz_target!(|data: &[u8]| {
    let [mode, seed, rest @ ..] = data else { return };
    let (to_server, to_client): (Vec<u8>, Vec<u8>) = match mode % 4 {
        0 => (rest.to_vec(), Vec::new()),
        1 => ([POST_CHUNKED, rest].concat(), Vec::new()),
        2 => (GET.to_vec(), [RESP_CHUNKED, rest].concat()),
        _ => (GET.to_vec(), rest.to_vec()),
    };
    let (whole, whole_stats) = run(&to_server, &to_client, 0);
    for ev in &whole {
        if let HttpEvent::Request(r) = ev {
            assert!(r.body.len() <= LIMITS.max_body_inspect_bytes);
            assert!(r.body.len() as u64 <= r.body_len);
        }
    }
    assert_eq!(whole_stats.buffered_bytes, 0, "session still holds bytes after its end");
    if *seed != 0 {
        let (cut, cut_stats) = run(&to_server, &to_client, *seed);
        assert_eq!(whole, cut, "events depend on segment boundaries");
        assert_eq!(whole_stats, cut_stats, "counters depend on segment boundaries");
    }
});
