//! Every decoder of `detect::decode` on arbitrary bytes, checking what its
//! doc comments promise: output is appended (the buffer's prefix is kept),
//! never longer than the input, a "changed" result exactly when the output
//! differs (every decoding step but `+` → space shrinks), NUL removal removes exactly the
//! NULs, and path normalisation leaves no `\`, `//` or `/./` and is
//! idempotent.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::detect::decode::{
    backslash_escapes, html_entities, normalise_path, percent_decode, quoted_printable,
    remove_nul,
};

const PREFIX: &[u8] = b"kept/";

/// Run `f` with a non-empty output buffer; check the prefix is kept and
/// return what was appended.
fn appended(f: impl FnOnce(&mut Vec<u8>) -> bool) -> (Vec<u8>, bool) {
    let mut out = PREFIX.to_vec();
    let changed = f(&mut out);
    assert!(out.starts_with(PREFIX), "decoder overwrote the caller's bytes");
    (out.split_off(PREFIX.len()), changed)
}

/// `shrinks`: every decoding step makes the output shorter (all but `+`).
fn check_decoder(name: &str, data: &[u8], shrinks: bool, f: impl FnOnce(&mut Vec<u8>) -> bool) {
    let (out, changed) = appended(f);
    assert!(out.len() <= data.len(), "{name}: output longer than input");
    assert_eq!(changed, out != data, "{name}: changed flag disagrees with output");
    if changed && shrinks {
        assert!(out.len() < data.len(), "{name}: a decoding step did not shrink");
    }
}

fuzz_target!(|data: &[u8]| {
    check_decoder("percent+", data, !data.contains(&b'+'), |o| percent_decode(data, true, o));
    check_decoder("percent", data, true, |o| percent_decode(data, false, o));
    check_decoder("html", data, true, |o| html_entities(data, o));
    check_decoder("backslash", data, true, |o| backslash_escapes(data, o));
    check_decoder("quoted-printable", data, true, |o| quoted_printable(data, o));

    let (out, changed) = appended(|o| remove_nul(data, o));
    let expect: Vec<u8> = data.iter().copied().filter(|&b| b != 0).collect();
    assert_eq!(out, expect);
    assert_eq!(changed, data.contains(&0));

    let (once, _) = appended(|o| {
        normalise_path(data, o);
        false
    });
    assert!(once.len() <= data.len());
    assert!(!once.contains(&b'\\'));
    assert!(!once.windows(2).any(|w| w == b"//"), "run of / left");
    assert!(!once.windows(3).any(|w| w == b"/./"), "/./ left");
    let (twice, _) = appended(|o| {
        normalise_path(&once, o);
        false
    });
    assert_eq!(once, twice, "normalise_path is not idempotent");
});
