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
