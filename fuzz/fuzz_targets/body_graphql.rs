//! The GraphQL lexer on arbitrary bytes: it never panics, and every string
//! literal it hands on is a piece of the input with a bounded location.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::detect::body::graphql;

fuzz_target!(|data: &[u8]| {
    let _ = graphql::looks_like_query(data);
    graphql::walk(data, |loc, v| {
        assert!(loc == "string" || loc.starts_with("arg:"));
        assert!(loc.len() <= 4 + 128 * 3);
        assert!(!v.is_empty() && v.len() <= data.len());
    });
});
