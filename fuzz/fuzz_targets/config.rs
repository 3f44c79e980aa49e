//! The configuration parser on arbitrary text: an error or a config, never a
//! panic (the file is written by people, and `config check` must explain).
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text, std::path::Path::new("fuzz.toml"));
    }
});
