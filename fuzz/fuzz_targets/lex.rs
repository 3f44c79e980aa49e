//! The SQL and XSS tokenizer checks on arbitrary bytes: they never panic,
//! and a finding's range always lies inside the bytes it indexes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::detect::{sqli, xss};

fuzz_target!(|data: &[u8]| {
    let mut scratch = Vec::new();
    if let Some(f) = sqli::check(data, &mut scratch) {
        let src = if f.joined { &scratch[..] } else { data };
        assert!(f.range.start <= f.range.end && f.range.end <= src.len());
        assert!(!f.fingerprint.is_empty());
    }
    if let Some(f) = xss::check(data) {
        assert!(f.range.start <= f.range.end && f.range.end <= data.len());
    }
});
