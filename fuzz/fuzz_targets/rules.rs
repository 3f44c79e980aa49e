//! The rule-file parser on arbitrary text: errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::detect::RuleSet;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = RuleSet::parse(text, std::path::Path::new("fuzz.toml"));
    }
});
