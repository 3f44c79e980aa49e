//! HTTP session on arbitrary bytes split at arbitrary points, both
//! directions and gaps: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::http::{HttpLimits, HttpSession, HttpStats};
use specula::reassembly::{Direction, Stamp};

fuzz_target!(|data: &[u8]| {
    let limits = HttpLimits { max_header_bytes: 1024, max_headers: 16, max_body_inspect_bytes: 512, max_tx_per_flow: 4, ..HttpLimits::default() };
    let mut stats = HttpStats::default();
    let mut s = HttpSession::default();
    let mut out = Vec::new();
    // Each chunk: 1 control byte (bit 0: direction, bit 1: gap, bits 2..7: length).
    let mut rest = data;
    while let Some((&ctl, tail)) = rest.split_first() {
        let dir = if ctl & 1 == 0 { Direction::ToServer } else { Direction::ToClient };
        let len = usize::from(ctl >> 2) + 1;
        let take = len.min(tail.len());
        let (chunk, tail) = tail.split_at(take);
        rest = tail;
        if ctl & 2 != 0 {
            s.on_gap(&limits, &mut stats, dir, take as u64, &mut out);
        } else {
            s.on_data(&limits, &mut stats, dir, Stamp::default(), chunk, &mut out);
        }
        out.clear();
    }
    s.on_end(&limits, &mut stats, &mut out);
});
