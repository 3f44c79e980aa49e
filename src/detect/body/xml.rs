//! XML and SOAP bodies (RFC 7303 media types, SOAP 1.1/1.2 envelopes).
//!
//! Walks a body with `quick-xml`'s streaming reader (no DOM, no entity
//! expansion, no network or file access) and hands on every piece of
//! attacker text with an XPath-like location: element text and CDATA as
//! `/a/b`, attribute names and values as `/a/b/@name`, the DOCTYPE as
//! `!DOCTYPE` (rebuilt as `<!DOCTYPE …>` so XXE signatures see it), each
//! `<!ENTITY …>` declaration of its internal subset as `!ENTITY`, processing
//! instructions as `?target` and comments as `!--`. Text is handed on as
//! written (entities still escaped): the engine's decoding layers unescape.
//! Bounded by `max_depth` (nesting) and by the body itself (the caller caps
//! it); the location is cut by the caller.

use quick_xml::events::Event;
use quick_xml::Reader;

/// Why a walk stopped early. Points handed on before it stay valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlStop {
    /// Not well-formed where the reader could tell.
    Malformed,
    /// Nested deeper than `max_depth`.
    TooDeep,
}

/// Most bytes of the element path kept while walking; deeper names are
/// still walked but no longer added to the path.
const MAX_PATH_BYTES: usize = 512;

/// True when `body` looks like an XML document whatever its Content-Type
/// says: an XML declaration, a DOCTYPE, or a root element `<name` … `>`.
pub fn sniff(body: &[u8]) -> bool {
    let b = super::skip_bom(body).trim_ascii();
    let starts = |p: &[u8]| b.get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p));
    if starts(b"<?xml") || starts(b"<!doctype") || starts(b"<!entity") {
        return true;
    }
    b.first() == Some(&b'<')
        && b.get(1).is_some_and(|c| c.is_ascii_alphabetic())
        && b.last() == Some(&b'>')
        && memchr::memmem::find(b, b"</").is_some()
}

/// True for XML media types: `application/xml`, `text/xml`, `*+xml`.
pub fn is_xml_media_type(mime: &[u8]) -> bool {
    mime.eq_ignore_ascii_case(b"application/xml")
        || mime.eq_ignore_ascii_case(b"text/xml")
        || mime
            .len()
            .checked_sub(4)
            .and_then(|i| mime.get(i..))
            .is_some_and(|s| s.eq_ignore_ascii_case(b"+xml"))
}

/// Walk `body`, calling `emit(location, value)` for each piece of text.
pub fn walk(
    body: &[u8],
    max_depth: usize,
    mut emit: impl FnMut(&str, &[u8]),
) -> Result<(), XmlStop> {
    let mut reader = Reader::from_reader(body);
    let cfg = reader.config_mut();
    cfg.trim_text(false);
    cfg.check_end_names = false;
    cfg.allow_unmatched_ends = true;
    cfg.expand_empty_elements = false;
    // Element path and the length before each pushed name.
    let mut path = String::new();
    let mut marks: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut tmp: Vec<u8> = Vec::new();
    // An element's text and CDATA read as one string by the back end (DOM
    // `textContent`, JAXB, .NET `InnerText`): comments and processing
    // instructions between them vanish, so `un<!--x-->ion` is `union`.
    // When there was more than one segment, the joined text is handed on
    // too (review round 16).
    let mut joined: Vec<u8> = Vec::new();
    let mut segments = 0usize;
    macro_rules! flush {
        () => {
            if segments > 1 && !joined.trim_ascii().is_empty() {
                emit(path_or_root(&path), &joined);
            }
            joined.clear();
            segments = 0;
        };
    }
    loop {
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(_) => {
                if segments > 1 && !joined.trim_ascii().is_empty() {
                    emit(path_or_root(&path), &joined);
                }
                return Err(XmlStop::Malformed);
            }
        };
        if matches!(
            ev,
            Event::Start(_) | Event::Empty(_) | Event::End(_) | Event::DocType(_) | Event::Eof
        ) {
            flush!();
        }
        match ev {
            Event::Start(e) => {
                depth += 1;
                if depth > max_depth {
                    return Err(XmlStop::TooDeep);
                }
                marks.push(path.len());
                push_segment(&mut path, e.name().as_ref());
                attributes(&e, &path, &mut emit);
            }
            Event::Empty(e) => {
                if depth + 1 > max_depth {
                    return Err(XmlStop::TooDeep);
                }
                let mark = path.len();
                push_segment(&mut path, e.name().as_ref());
                attributes(&e, &path, &mut emit);
                path.truncate(mark);
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if let Some(m) = marks.pop() {
                    path.truncate(m);
                }
            }
            Event::Text(t) => {
                if !t.trim_ascii().is_empty() {
                    emit(path_or_root(&path), &t);
                    segments += 1;
                }
                joined.extend_from_slice(&t);
            }
            Event::CData(t) => {
                if !t.is_empty() {
                    emit(path_or_root(&path), &t);
                    segments += 1;
                }
                joined.extend_from_slice(&t);
            }
            Event::Comment(t) => {
                if !t.trim_ascii().is_empty() {
                    emit("!--", &t);
                }
            }
            Event::PI(pi) => {
                let target = String::from_utf8_lossy(pi.target());
                let loc = format!("?{}", target.get(..64).unwrap_or(&target));
                emit(&loc, &pi);
            }
            Event::DocType(t) => {
                tmp.clear();
                tmp.extend_from_slice(b"<!DOCTYPE ");
                tmp.extend_from_slice(&t);
                tmp.push(b'>');
                emit("!DOCTYPE", &tmp);
                entities(&t, &mut emit);
            }
            Event::Decl(_) => {}
            Event::Eof => return Ok(()),
        }
    }
}

fn path_or_root(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

fn push_segment(path: &mut String, name: &[u8]) {
    if path.len() >= MAX_PATH_BYTES {
        return;
    }
    path.push('/');
    let room = MAX_PATH_BYTES.saturating_sub(path.len());
    let name = name.get(..room).unwrap_or(name);
    path.push_str(&String::from_utf8_lossy(name));
}

/// Each attribute's name and value at `path/@name`. A broken attribute ends
/// the list (the raw body still carries it).
fn attributes(
    e: &quick_xml::events::BytesStart<'_>,
    path: &str,
    emit: &mut impl FnMut(&str, &[u8]),
) {
    let mut loc_s = String::with_capacity(path.len() + 16);
    for a in e.attributes().with_checks(false) {
        let Ok(a) = a else { break };
        let key = a.key.as_ref();
        loc_s.clear();
        loc_s.push_str(path);
        loc_s.push_str("/@");
        loc_s.push_str(&String::from_utf8_lossy(key.get(..128).unwrap_or(key)));
        // Ordinary attribute names are not worth a point; odd ones are.
        if key
            .iter()
            .any(|&b| !(b.is_ascii_alphanumeric() || b"_-.:".contains(&b)))
        {
            emit(&loc_s, key);
        }
        if !a.value.is_empty() {
            emit(&loc_s, &a.value);
        }
    }
}

/// Each `<!ENTITY …>` declaration of a DOCTYPE's internal subset.
fn entities(doctype: &[u8], emit: &mut impl FnMut(&str, &[u8])) {
    let mut rest = doctype;
    while let Some(i) = find_ci(rest, b"<!entity") {
        let decl = rest.get(i..).unwrap_or_default();
        let end = memchr::memchr(b'>', decl).map_or(decl.len(), |e| e + 1);
        emit("!ENTITY", decl.get(..end).unwrap_or(decl));
        rest = decl.get(end..).unwrap_or_default();
    }
}

fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(body: &[u8], depth: usize) -> (Vec<(String, String)>, Result<(), XmlStop>) {
        let mut v = Vec::new();
        let r = walk(body, depth, |l, x| {
            v.push((l.to_string(), String::from_utf8_lossy(x).into_owned()))
        });
        (v, r)
    }

    fn has(v: &[(String, String)], l: &str, x: &str) -> bool {
        v.iter().any(|(a, b)| a == l && b == x)
    }

    #[test]
    fn soap_envelope() {
        let body = br#"<?xml version="1.0"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">
  <soap:Body><login user="admin' or '1'='1" pass="x"><note><![CDATA[<script>x</script>]]></note>t&lt;</login></soap:Body>
</soap:Envelope>"#;
        let (v, r) = collect(body, 32);
        assert_eq!(r, Ok(()));
        assert!(
            has(
                &v,
                "/soap:Envelope/soap:Body/login/@user",
                "admin' or '1'='1"
            ),
            "{v:?}"
        );
        assert!(has(&v, "/soap:Envelope/soap:Body/login/@pass", "x"));
        assert!(has(
            &v,
            "/soap:Envelope/soap:Body/login/note",
            "<script>x</script>"
        ));
        assert!(has(&v, "/soap:Envelope/soap:Body/login", "t&lt;"));
        assert!(has(
            &v,
            "/soap:Envelope/@xmlns:soap",
            "http://www.w3.org/2003/05/soap-envelope"
        ));
    }

    #[test]
    fn doctype_entities_pi_comment() {
        let body = br#"<?xml version="1.0"?><!DOCTYPE foo [<!ELEMENT foo ANY><!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY % p SYSTEM "http://e.example/x.dtd">]><?php system('id'); ?><!-- hi --><foo>&xxe;</foo>"#;
        let (v, r) = collect(body, 32);
        assert_eq!(r, Ok(()));
        assert!(
            v.iter().any(|(l, x)| l == "!DOCTYPE"
                && x.starts_with("<!DOCTYPE foo [")
                && x.ends_with("]>")),
            "{v:?}"
        );
        assert!(has(
            &v,
            "!ENTITY",
            r#"<!ENTITY xxe SYSTEM "file:///etc/passwd">"#
        ));
        assert!(has(
            &v,
            "!ENTITY",
            r#"<!ENTITY % p SYSTEM "http://e.example/x.dtd">"#
        ));
        assert!(
            v.iter()
                .any(|(l, x)| l == "?php" && x.contains("system('id')")),
            "{v:?}"
        );
        assert!(has(&v, "!--", " hi "));
        assert!(has(&v, "/foo", "&xxe;"));
    }

    #[test]
    fn malformed_and_deep_and_truncated() {
        let (v, r) = collect(b"<a><b x='1'>text</b><c", 32);
        assert_eq!(r, Err(XmlStop::Malformed));
        assert!(has(&v, "/a/b", "text") && has(&v, "/a/b/@x", "1"));
        let deep = format!("{}x{}", "<a>".repeat(40), "</a>".repeat(40));
        assert_eq!(collect(deep.as_bytes(), 32).1, Err(XmlStop::TooDeep));
        let ok = format!("{}x{}", "<a>".repeat(32), "</a>".repeat(32));
        assert_eq!(collect(ok.as_bytes(), 32).1, Ok(()));
        // Mismatched end tags are tolerated (browsers and lax servers do).
        let (v, r) = collect(b"<a><b>1</c></a>", 32);
        assert_eq!(r, Ok(()));
        assert!(has(&v, "/a/b", "1"));
        assert_eq!(collect(b"", 32), (vec![], Ok(())));
    }

    #[test]
    fn sniffing_and_media_types() {
        assert!(sniff(b"  <?xml version='1.0'?><a/>"));
        assert!(sniff(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>"));
        assert!(sniff(
            b"<methodCall><methodName>x</methodName></methodCall>"
        ));
        assert!(!sniff(b"<script>alert(1)"));
        assert!(!sniff(b"a=<b>"));
        assert!(!sniff(b""));
        assert!(is_xml_media_type(b"application/soap+xml"));
        assert!(is_xml_media_type(b"TEXT/XML"));
        assert!(!is_xml_media_type(b"xml"));
        assert!(!is_xml_media_type(b"application/json"));
    }
}
