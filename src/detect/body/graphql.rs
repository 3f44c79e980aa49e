//! GraphQL requests (the GraphQL over HTTP draft: `application/graphql`
//! bodies, JSON bodies with `query` / `variables` / `operationName`, and GET
//! `?query=`).
//!
//! Owns a small lexer over the query document (GraphQL spec §2.1: names,
//! punctuators, comments, strings and block strings) that hands on each
//! string literal with the argument or field it belongs to, as `arg:NAME`
//! (or `string` when no name precedes it). The query text itself and the
//! variables are handed on by the caller. Linear in the input, allocates
//! nothing but the caller's callback; never fails (unterminated strings run
//! to the end of the input).

/// True when `text` looks like a GraphQL document: it starts (after
/// whitespace and comments) with `{`, or an operation or fragment keyword
/// followed by a name, `(`, `{` or `@`.
pub fn looks_like_query(text: &[u8]) -> bool {
    let t = skip_ignored(text, 0);
    let t = text.get(t..).unwrap_or_default();
    if t.first() == Some(&b'{') {
        return true;
    }
    for kw in [&b"query"[..], b"mutation", b"subscription", b"fragment"] {
        if let Some(rest) = t.strip_prefix(kw) {
            let r = rest.get(skip_ignored(rest, 0)..).unwrap_or_default();
            return match r.first() {
                Some(b'{' | b'(' | b'@') => true,
                Some(c) => {
                    rest.first().is_some_and(|w| w.is_ascii_whitespace()) && is_name_start(*c)
                }
                None => false,
            };
        }
    }
    false
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Skip whitespace, commas (insignificant in GraphQL), BOMs and `#` comments.
fn skip_ignored(s: &[u8], mut i: usize) -> usize {
    while let Some(&c) = s.get(i) {
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            0xef if s.get(i..i + 3) == Some(b"\xef\xbb\xbf") => i += 3,
            b'#' => {
                i = match memchr::memchr2(b'\n', b'\r', s.get(i..).unwrap_or_default()) {
                    Some(n) => i + n,
                    None => s.len(),
                }
            }
            _ => break,
        }
    }
    i
}

/// Call `emit(location, value)` for each string literal of `query`, with
/// `arg:NAME` when it is the value of `NAME:` (an argument, an input object
/// field or a variable default), else `string`. Values are the literal's
/// contents as written (escapes kept: the engine decodes `\uXXXX`).
pub fn walk(query: &[u8], mut emit: impl FnMut(&str, &[u8])) {
    let mut loc = String::new();
    // The last name seen, if a `:` followed it.
    let mut last_name: (usize, usize) = (0, 0);
    let mut name_then_colon = false;
    let mut i = 0;
    while i < query.len() {
        i = skip_ignored(query, i);
        let Some(&c) = query.get(i) else { break };
        if is_name_start(c) {
            let start = i;
            while query.get(i).is_some_and(|&b| is_name(b)) {
                i += 1;
            }
            last_name = (start, i);
            name_then_colon = false;
            continue;
        }
        if c == b':' {
            name_then_colon = last_name.1 > last_name.0;
            i += 1;
            continue;
        }
        if c == b'"' {
            let block = query.get(i..i + 3) == Some(b"\"\"\"");
            let (value, next) = if block {
                string_end(query, i + 3, true)
            } else {
                string_end(query, i + 1, false)
            };
            loc.clear();
            if name_then_colon {
                loc.push_str("arg:");
                let n = query.get(last_name.0..last_name.1).unwrap_or_default();
                loc.push_str(&String::from_utf8_lossy(n.get(..128).unwrap_or(n)));
            } else {
                loc.push_str("string");
            }
            if !value.is_empty() {
                emit(&loc, value);
            }
            i = next;
            // A list of strings keeps the name (`ids: ["a", "b"]`).
            continue;
        }
        // `[` keeps the pending `name:` (a list of values); anything else ends it.
        if c != b'[' {
            name_then_colon = false;
            last_name = (0, 0);
        }
        i += 1;
    }
}

/// The contents of a string starting at `from` (after its opening quote)
/// and the index after its closing quote.
fn string_end(s: &[u8], from: usize, block: bool) -> (&[u8], usize) {
    let mut i = from;
    while let Some(&c) = s.get(i) {
        if block {
            if c == b'\\' && s.get(i + 1..i + 4) == Some(b"\"\"\"") {
                i += 4;
                continue;
            }
            if s.get(i..i + 3) == Some(b"\"\"\"") {
                return (s.get(from..i).unwrap_or_default(), i + 3);
            }
        } else {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == b'"' || c == b'\n' {
                return (s.get(from..i).unwrap_or_default(), i + 1);
            }
        }
        i += 1;
    }
    (s.get(from..).unwrap_or_default(), s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(q: &[u8]) -> Vec<(String, String)> {
        let mut v = Vec::new();
        walk(q, |l, x| {
            v.push((l.to_string(), String::from_utf8_lossy(x).into_owned()))
        });
        v
    }

    #[test]
    fn strings_with_their_argument() {
        let q = br#"query Q($id: ID = "d\"flt") { user(name: "x' OR 1=1--", ids: ["a", "b"]) { posts(filter: {title: """<script>
x"""}) { id } } s: search(term: "t") # c: "not a string"
 other("lone") }"#;
        let v = collect(q);
        let want = [
            ("string", r#"d\"flt"#),
            ("arg:name", "x' OR 1=1--"),
            ("arg:ids", "a"),
            ("arg:ids", "b"),
            ("arg:title", "<script>\nx"),
            ("arg:term", "t"),
            ("string", "lone"),
        ];
        for (l, x) in want {
            assert!(v.iter().any(|(a, b)| a == l && b == x), "{l} {x} in {v:?}");
        }
        assert_eq!(v.len(), want.len(), "{v:?}");
    }

    #[test]
    fn truncated_and_odd_input() {
        assert_eq!(
            collect(br#"{ a(b: "unterminated"#),
            vec![("arg:b".to_string(), "unterminated".to_string())]
        );
        assert_eq!(collect(br#"{ a(b: """open"#).len(), 1);
        assert!(collect(b"").is_empty());
        assert!(collect(b"\"").is_empty());
        assert_eq!(
            collect(br#"{a(b:"x\"#),
            vec![("arg:b".to_string(), r"x\".to_string())]
        );
    }

    #[test]
    fn query_shapes() {
        assert!(looks_like_query(b"{ me { id } }"));
        assert!(looks_like_query(b"  # c\n query Q($a: Int) { x }"));
        assert!(looks_like_query(b"mutation { x }"));
        assert!(looks_like_query(b"query Me { x }"));
        assert!(!looks_like_query(b"query"));
        assert!(!looks_like_query(b"queryset"));
        assert!(!looks_like_query(b"select * from t"));
        assert!(!looks_like_query(b"hello world"));
    }
}
