//! Values that no rule can match, known from their bytes alone.
//!
//! Owns a few fixed byte classes (digits and dots; hex digits and dots;
//! addresses and lists of them) and, per compiled rule set, which rules *may*
//! match a value made only of a class's bytes. The engine takes a point's
//! narrowest class and drops from the point's rules every rule that cannot
//! match it; when none is left the point is skipped without a decoding
//! layer, a prefilter scan or a cache lookup.
//!
//! Why: the values that repeat least are the ones a mirror adds to every
//! request (`X-Request-ID`, `X-Real-IP`, `X-Forwarded-For`), session ids
//! and lengths, so the clean-value cache ([`super::clean_cache`]) never
//! learns them; an attacker can make every value unique too. Their shape is
//! what makes them harmless, and that is decided once per rule set, not
//! once per value.
//!
//! Soundness, rule by rule:
//! - a regex may match a class when some string of class bytes is in its
//!   language (walked on its syntax tree; look-around assertions such as
//!   `\b` are assumed to hold, so the answer errs towards "may match");
//! - the SQL and XSS tokenizers state which classes they cannot flag
//!   ([`super::sqli::inert_over`], [`super::xss::inert_over`]);
//! - no class holds a byte that a decoding layer rewrites (`%`, `&`, `\`,
//!   NUL, non-ASCII), and each normalisation maps class values to class
//!   values, so every layer a rule would see is itself a class value
//!   (checked in the tests below).

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use regex_syntax::hir::{Class, Hir, HirKind};

/// Number of byte classes.
pub(crate) const CLASSES: usize = 4;

/// Class names, for tests and messages.
#[cfg(test)]
pub(crate) const CLASS_NAMES: [&str; CLASSES] =
    ["digits", "address list", "hex", "hex address list"];

/// Whether byte `b` belongs to class `c`. Classes are listed narrowest
/// first: of the classes that hold a value, the first has the fewest rules
/// that may match.
pub(crate) fn member(c: usize, b: u8) -> bool {
    match c {
        // Lengths, counters, IPv4 addresses.
        0 => b.is_ascii_digit() || b == b'.',
        // Lists of IPv4 addresses (`X-Forwarded-For: a, b`).
        1 => b.is_ascii_digit() || matches!(b, b'.' | b',' | b' '),
        // Hex ids (`$request_id`, session ids, hashes).
        2 => b.is_ascii_hexdigit() || b == b'.',
        // IPv6 addresses and lists of any addresses.
        3 => b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b',' | b' '),
        _ => false,
    }
}

/// Bit `c` set when the byte belongs to class `c`.
// Built in a const block, where `get_mut` is not available; `b < 256`.
#[allow(clippy::indexing_slicing)]
static MEMBERSHIP: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let x = b as u8;
        let digit = x.is_ascii_digit();
        let hex = x.is_ascii_hexdigit();
        let list = x == b',' || x == b' ';
        let mut m = 0u8;
        if digit || x == b'.' {
            m |= 1;
        }
        if digit || x == b'.' || list {
            m |= 2;
        }
        if hex || x == b'.' {
            m |= 4;
        }
        if hex || x == b'.' || x == b':' || list {
            m |= 8;
        }
        t[b] = m;
        b += 1;
    }
    t
};

/// The first (narrowest) class holding every byte of `value`, if any. Empty values
/// have none (the engine has nothing to run on them anyway).
pub(crate) fn class_of(value: &[u8]) -> Option<usize> {
    if value.is_empty() {
        return None;
    }
    let mut m = 0xffu8;
    // Chunks keep the loop branch-light; the early exit catches the usual
    // text value within its first chunk.
    for chunk in value.chunks(16) {
        for &b in chunk {
            m &= MEMBERSHIP.get(usize::from(b)).copied().unwrap_or(0);
        }
        if m == 0 {
            return None;
        }
    }
    Some(m.trailing_zeros() as usize).filter(|&c| c < CLASSES)
}

/// For each class, whether some string made only of its bytes matches
/// `pattern` (parsed as the rule engine compiles it: bytes, no Unicode). A
/// pattern that does not parse may match anything.
///
/// Answers are kept per pattern for the life of the process: parsing is
/// most of the cost (about 0.5 M instructions for a long rule) and a reload
/// or a tuning change compiles the same patterns again. At most
/// [`MAX_MEMO`] patterns are kept; past that the memo starts afresh.
pub(crate) fn regex_may_match(pattern: &str) -> [bool; CLASSES] {
    static MEMO: OnceLock<Mutex<BTreeMap<String, [bool; CLASSES]>>> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    if let Some(known) = memo.lock().ok().and_then(|m| m.get(pattern).copied()) {
        return known;
    }
    let answer = match parse(pattern) {
        Some(hir) => std::array::from_fn(|c| hir_may_match(&hir, &|b| member(c, b))),
        None => [true; CLASSES],
    };
    if let Ok(mut m) = memo.lock() {
        if m.len() >= MAX_MEMO {
            m.clear();
        }
        m.insert(pattern.to_owned(), answer);
    }
    answer
}

/// Most patterns whose answers [`regex_may_match`] keeps.
const MAX_MEMO: usize = 4096;

/// Whether some string made only of bytes for which `alphabet` holds
/// matches `pattern` (also used on the SQL tokenizer's shapes, whose
/// alphabet is token kinds).
pub(crate) fn pattern_may_match(pattern: &str, alphabet: &dyn Fn(u8) -> bool) -> bool {
    parse(pattern).map_or(true, |hir| hir_may_match(&hir, alphabet))
}

fn parse(pattern: &str) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .utf8(false)
        .unicode(false)
        .build()
        .parse(pattern)
        .ok()
}

/// Whether the language of `hir` holds a string of `alphabet` bytes.
fn hir_may_match(hir: &Hir, alphabet: &dyn Fn(u8) -> bool) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(lit) => lit.0.iter().all(|&b| alphabet(b)),
        HirKind::Class(Class::Bytes(cls)) => cls
            .ranges()
            .iter()
            .any(|r| (r.start()..=r.end()).any(alphabet)),
        // Alphabets are ASCII, so only a class's ASCII chars can be in them.
        HirKind::Class(Class::Unicode(cls)) => cls.ranges().iter().any(|r| {
            (r.start()..=r.end())
                .take_while(char::is_ascii)
                .any(|ch| alphabet(ch as u8))
        }),
        HirKind::Repetition(rep) => rep.min == 0 || hir_may_match(&rep.sub, alphabet),
        HirKind::Capture(cap) => hir_may_match(&cap.sub, alphabet),
        HirKind::Concat(parts) => parts.iter().all(|h| hir_may_match(h, alphabet)),
        HirKind::Alternation(alts) => alts.iter().any(|h| hir_may_match(h, alphabet)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::decode::{
        backslash_escapes, fold_fullwidth, fold_overlong_utf8, html_entities, percent_decode,
        remove_nul,
    };
    use crate::detect::normalize::Normalize;
    use proptest::prelude::*;

    fn class_bytes(c: usize) -> Vec<u8> {
        (0..=255u8).filter(|&b| member(c, b)).collect()
    }

    fn class_value(c: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(proptest::sample::select(class_bytes(c)), 1..80)
    }

    #[test]
    fn table_agrees_with_member() {
        for b in 0..=255u8 {
            for c in 0..CLASSES {
                assert_eq!(
                    MEMBERSHIP[b as usize] & (1 << c) != 0,
                    member(c, b),
                    "{b} {c}"
                );
            }
            // Only ASCII, and never a byte a decoding layer rewrites.
            if (0..CLASSES).any(|c| member(c, b)) {
                assert!(b.is_ascii() && !b"%&\\+\0".contains(&b), "{b}");
            }
        }
    }

    #[test]
    fn narrowest_class() {
        assert_eq!(class_of(b"52"), Some(0));
        assert_eq!(class_of(b"124.33.229.200"), Some(0));
        assert_eq!(class_of(b"124.33.229.200, 10.0.91.151"), Some(1));
        assert_eq!(class_of(b"00000001000000013a7f1dc514e18203"), Some(2));
        assert_eq!(class_of(b"fe80::1"), Some(3));
        assert_eq!(class_of(b"fe80::1, 10.0.0.1"), Some(3));
        assert_eq!(class_of(b""), None);
        assert_eq!(class_of(b"1 union select 2"), None);
        assert_eq!(class_of(b"1%27"), None);
        assert_eq!(class_of(b"1'"), None);
        // A bad byte after the first chunk still rules the value out.
        assert_eq!(class_of(b"0123456789012345678901234567890123456789<"), None);
    }

    #[test]
    fn regexes_by_class() {
        // Words and quotes cannot be spelt in digits.
        assert!(!regex_may_match(r"(?i)\bunion\b.{0,20}select")[0]);
        assert!(!regex_may_match(r"'\s*or\s*'")[3]);
        // Case-insensitive letters within the hex digits can.
        assert!(regex_may_match(r"(?i)\bdeadbeef\b")[2]);
        assert!(!regex_may_match(r"(?i)\bdeadbeef\b")[0]);
        assert!(!regex_may_match(r"(?i)\bdeadbeef\b")[1]);
        // Specific addresses are matchable in digits: an SSRF rule on the
        // metadata address must still see X-Real-IP.
        assert!(regex_may_match(r"169\.254\.169\.254")[0]);
        // A regex that matches the empty string matches every value.
        assert!(regex_may_match(r"x*")[0]);
        // Optional parts and alternations.
        assert!(regex_may_match(r"(?:<script|\d{3,})")[0]);
        assert!(!regex_may_match(r"(?:<script|\d{3,}<)")[3]);
        assert!(regex_may_match(r"a(?:x)?b")[2]);
        // Spaces and commas only in the list classes.
        assert!(regex_may_match(r"\d+,\s\d+")[1]);
        assert!(regex_may_match(r"\d+,\s\d+")[3]);
        assert!(!regex_may_match(r"\d+,\s\d+")[2]);
        // Unparseable: assumed to match.
        assert!(regex_may_match(r"(")[0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every decoding layer leaves a class value as it is, and each
        /// normalisation keeps it inside its class, so the engine's layers
        /// of a class value are class values.
        #[test]
        fn layers_of_a_class_value_stay_in_the_class(
            (c, v) in (0..CLASSES).prop_flat_map(|c| (Just(c), class_value(c)))
        ) {
            let mut out = Vec::new();
            prop_assert!(!percent_decode(&v, false, &mut out));
            out.clear();
            prop_assert!(!percent_decode(&v, true, &mut out));
            out.clear();
            prop_assert!(!html_entities(&v, &mut out));
            out.clear();
            prop_assert!(!backslash_escapes(&v, &mut out));
            out.clear();
            prop_assert!(!fold_overlong_utf8(&v, &mut out));
            out.clear();
            prop_assert!(!fold_fullwidth(&v, &mut out));
            out.clear();
            prop_assert!(!remove_nul(&v, &mut out));
            for n in Normalize::ALL {
                if n.apply(&v, &mut out) {
                    prop_assert!(out.iter().all(|&b| member(c, b)), "{n:?} of {v:?} gave {out:?}");
                }
            }
        }

        /// The tokenizers' claims: a value of a class they call inert is
        /// never flagged.
        #[test]
        fn tokenizers_never_flag_their_inert_classes(
            (c, v) in (0..CLASSES).prop_flat_map(|c| (Just(c), class_value(c)))
        ) {
            if crate::detect::sqli::inert_over(|b| member(c, b)) {
                prop_assert!(crate::detect::sqli::check(&v, &mut Vec::new()).is_none(), "{v:?}");
            }
            if crate::detect::xss::inert_over(|b| member(c, b)) {
                prop_assert!(crate::detect::xss::check(&v).is_none(), "{v:?}");
            }
        }
    }

    /// Every digits-and-dots value up to five bytes: the SQL tokenizer reads
    /// numbers only, and no shape is numbers alone.
    #[test]
    fn sqli_never_flags_short_digit_values_exhaustively() {
        assert!(crate::detect::sqli::inert_over(|b| member(0, b)));
        let alphabet = class_bytes(0);
        let mut scratch = Vec::new();
        let mut v = Vec::new();
        fn walk(v: &mut Vec<u8>, alphabet: &[u8], scratch: &mut Vec<u8>, left: usize) {
            assert!(
                crate::detect::sqli::check(v, scratch).is_none(),
                "{:?}",
                String::from_utf8_lossy(v)
            );
            if left == 0 {
                return;
            }
            for &b in alphabet {
                v.push(b);
                walk(v, alphabet, scratch, left - 1);
                v.pop();
            }
        }
        walk(&mut v, &alphabet, &mut scratch, 5);
    }

    #[test]
    fn tokenizer_claims_are_narrow() {
        // The SQL tokenizer: hex digits spell no keyword and `:` `,` are
        // not enough for a shape, but other letters, a dash (a comment), a
        // quote or parentheses are.
        for c in 0..CLASSES {
            assert!(crate::detect::sqli::inert_over(|b| member(c, b)), "{c}");
        }
        assert!(!crate::detect::sqli::inert_over(
            |b| b.is_ascii_alphanumeric()
        ));
        for b in [b'-', b'\'', b'(', b';', b'@', b'#', b'/', b'='] {
            assert!(
                !crate::detect::sqli::inert_over(|x| x == b),
                "{}",
                b as char
            );
        }
        // The XSS tokenizer needs `<`, `=`, `:`, a quote or non-ASCII.
        assert!(crate::detect::xss::inert_over(|b| member(0, b)));
        assert!(crate::detect::xss::inert_over(|b| member(1, b)));
        assert!(crate::detect::xss::inert_over(|b| member(2, b)));
        assert!(!crate::detect::xss::inert_over(|b| member(3, b)));
        assert!(!crate::detect::xss::inert_over(|b| b == b'<'));
        assert!(!crate::detect::xss::inert_over(|b| b == 0xbc));
    }

    /// Whether some string of `alphabet` bytes reaches a match state of the
    /// pattern's Thompson NFA, compiled as the engine compiles rules (bytes,
    /// no Unicode); look-arounds are assumed to hold. An independent way to
    /// the answer `hir_may_match` gives.
    fn nfa_may_match(pattern: &str, alphabet: &dyn Fn(u8) -> bool) -> bool {
        use regex_automata::nfa::thompson::{Compiler, Config, State};
        use regex_automata::util::syntax;
        let nfa = Compiler::new()
            .syntax(syntax::Config::new().utf8(false).unicode(false))
            .configure(Config::new().utf8(false).shrink(false))
            .build(pattern)
            .unwrap();
        let mut seen = vec![false; nfa.states().len()];
        let mut todo = vec![nfa.start_anchored()];
        while let Some(id) = todo.pop() {
            if std::mem::replace(&mut seen[id.as_usize()], true) {
                continue;
            }
            match nfa.state(id) {
                State::ByteRange { trans } => {
                    if (trans.start..=trans.end).any(alphabet) {
                        todo.push(trans.next);
                    }
                }
                State::Sparse(sparse) => todo.extend(
                    sparse
                        .transitions
                        .iter()
                        .filter(|t| (t.start..=t.end).any(alphabet))
                        .map(|t| t.next),
                ),
                State::Dense(dense) => todo.extend(
                    dense
                        .transitions
                        .iter()
                        .enumerate()
                        .filter(|&(b, _)| alphabet(b as u8))
                        .map(|(_, &next)| next),
                ),
                State::Look { next, .. } | State::Capture { next, .. } => todo.push(*next),
                State::Union { alternates } => todo.extend(alternates.iter().copied()),
                State::BinaryUnion { alt1, alt2 } => todo.extend([*alt1, *alt2]),
                State::Fail => {}
                State::Match { .. } => return true,
            }
        }
        false
    }

    /// The syntax-tree walk gives, for every built-in rule and some odd
    /// patterns, exactly the answer of a search of the compiled automaton.
    #[test]
    fn syntax_walk_agrees_with_the_automaton() {
        let set = crate::detect::RuleSet::builtin();
        let mut patterns: Vec<String> = set
            .rules()
            .iter()
            .filter_map(|r| match &r.matcher {
                crate::detect::rule::Matcher::Regex(re) => Some(re.as_str().to_string()),
                _ => None,
            })
            .collect();
        assert!(patterns.len() > 100);
        for odd in [
            r"(?i)[^a-f]",
            r"[^\x00-\xff]",
            r"a{0}1",
            r"(?x) 1 2",
            r"\B1\b",
            r"(?m)^\d+$",
            r"[\d--\d]x?",
            r"(?:[^\x00-\xff])*1",
            r"[[:xdigit:]]{4}:",
            r"(?i)DEAD|beef,",
        ] {
            patterns.push(odd.to_string());
        }
        for p in &patterns {
            let walked = regex_may_match(p);
            for (c, &walk) in walked.iter().enumerate() {
                let nfa = nfa_may_match(p, &|b| member(c, b));
                assert_eq!(walk, nfa, "class {} on {p}", CLASS_NAMES[c]);
            }
        }
    }

    #[test]
    fn class_names_cover_the_classes() {
        assert_eq!(CLASS_NAMES.len(), CLASSES);
    }
}
