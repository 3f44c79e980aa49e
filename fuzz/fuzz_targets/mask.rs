//! Secrets masking on arbitrary requests: the bytes are parsed as HTTP (so
//! heads, query strings, cookies, form/JSON/multipart bodies are whatever the
//! fuzzer makes of them), then every masking entry point runs. Never panics,
//! and a masked excerpt never exceeds its cap by more than one mask.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::http::{HttpEvent, HttpLimits, HttpSession, HttpStats};
use specula::pipeline::mask::{KeySource, MaskingSection};
use specula::pipeline::Masker;
use specula::reassembly::{Direction, Stamp};

fuzz_target!(|data: &[u8]| {
    let limits = HttpLimits { max_header_bytes: 4096, max_headers: 64, max_body_inspect_bytes: 8192, max_tx_per_flow: 4, ..HttpLimits::default() };
    let cfg = MaskingSection { body_excerpt_bytes: 256, ..MaskingSection::default() };
    let masker = Masker::with_key(&cfg, [7u8; 32], KeySource::Random);
    let mut stats = HttpStats::default();
    let mut s = HttpSession::default();
    let mut out = Vec::new();
    s.on_data(&limits, &mut stats, Direction::ToServer, Stamp::default(), data, &mut out);
    s.on_end(&limits, &mut stats, &mut out);
    for ev in &out {
        if let HttpEvent::Request(req) = ev {
            let masked = masker.mask_request(req);
            let _ = masker.mask_uri(&req.uri);
            for loc in ["query:password", "cookie:sid", "header:authorization", "body:json:a.b", "path"] {
                let m = masker.mask_matched(&masked, loc, data.get(..64).unwrap_or(data), 256);
                assert!(m.len() <= 256 + 32, "matched cap");
            }
        }
    }
});
