//! Body parsers beyond form and multipart: JSON as a tree that keeps
//! repeated keys ([`json`]), XML/SOAP ([`xml`]), GraphQL ([`graphql`]) and
//! Content-Encoding inflation ([`inflate`]).
//!
//! Each parser reads untrusted bytes, never panics, is bounded (depth, size,
//! ratio) and hands on `(location, value)` pairs through a callback, so it
//! knows nothing of [`super::point::Points`] and can be fuzzed alone.
//! `point.rs` turns the pairs into inspection points and counts the caps.

pub mod graphql;
pub mod inflate;
pub mod json;
pub mod xml;

/// `body` without a leading UTF-8 byte order mark, which JSON and XML
/// parsers skip (body-parser, Jackson, System.Text.Json, Python's
/// `utf-8-sig`).
pub fn skip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body)
}
