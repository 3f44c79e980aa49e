//! The XML/SOAP body walker on arbitrary bytes: it never panics, stops
//! within the depth cap, and every value it hands on is a slice of (or
//! rebuilt from) the input, so it is never longer than the input plus the
//! `<!DOCTYPE >` it adds back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::detect::body::xml;

fuzz_target!(|data: &[u8]| {
    let _ = xml::sniff(data);
    let _ = xml::walk(data, 8, |loc, v| {
        assert!(!loc.is_empty());
        assert!(v.len() <= data.len() + b"<!DOCTYPE >".len());
    });
});
