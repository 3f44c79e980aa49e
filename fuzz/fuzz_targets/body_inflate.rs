//! gzip / deflate / brotli inflation of arbitrary bytes: it never panics and never
//! hands on more than the size and ratio caps allow; a bomb is reported
//! exactly when the output would pass them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::detect::body::inflate::{inflate, Coding, Inflated, RATIO_FLOOR_BYTES};

fuzz_target!(|data: &[u8]| {
    let (max_bytes, max_ratio) = (64 * 1024, 20);
    let cap = (data.len() * max_ratio).max(RATIO_FLOOR_BYTES).min(max_bytes);
    let mut out = Vec::new();
    for coding in [Coding::Gzip, Coding::Deflate, Coding::Brotli] {
        let r = inflate(coding, data, max_bytes, max_ratio, &mut out);
        assert!(out.len() <= cap);
        if r == Inflated::Invalid {
            assert!(out.is_empty());
        }
    }
});
