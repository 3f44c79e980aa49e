//! Per-class normalisation: an extra inspection layer for the rules that ask
//! for it (`normalize = ["shell"]` or `["sql"]` in a rule file, see
//! [`super::rule`]).
//!
//! The decoding layers ([`super::decode`]) undo transport encodings that any
//! application would undo too. The transforms here undo what the *target
//! interpreter* ignores, so an evasion such as `c''at /e\tc/pa$@sswd` or
//! `UNION/**/SELECT` reads as the plain attack to the rules that want it,
//! and only to them (a shell quote means nothing to an SQL rule).
//!
//! Each transform reads one value and writes into a caller-owned buffer,
//! which is cleared first; the output is never longer than the input, so the
//! buffer's capacity stops growing once it has held the longest value
//! ([`super::DetectLimits`] caps that), and a call allocates nothing after
//! that. Each returns whether the output differs from the input, so the
//! engine skips a layer that would only repeat the last one. All are a single
//! forward pass (linear in the value) with no panics on any bytes.

/// A normalisation a rule can ask for; also a bit in a rule's mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Normalize {
    /// What a POSIX shell (or `cmd.exe`) ignores: quotes and backslashes
    /// inside words, carets, `$IFS`, empty expansions, brace lists.
    Shell,
    /// What an SQL parser ignores: comments, whitespace runs, case.
    Sql,
}

impl Normalize {
    /// Every normalisation, in the order the engine applies them.
    pub const ALL: [Normalize; 2] = [Normalize::Shell, Normalize::Sql];

    /// Parse a `normalize` entry of a rule file.
    pub fn parse(s: &str) -> Option<Normalize> {
        match s {
            "shell" => Some(Normalize::Shell),
            "sql" => Some(Normalize::Sql),
            _ => None,
        }
    }

    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Normalize::Shell => "shell",
            Normalize::Sql => "sql",
        }
    }

    /// This normalisation's bit in a rule's mask.
    pub fn bit(self) -> u8 {
        match self {
            Normalize::Shell => 1,
            Normalize::Sql => 2,
        }
    }

    /// Write the normalised `input` into `out` (cleared first) and return
    /// true when it differs from `input`; on false `out` is not meaningful.
    /// Most values hold no byte a transform rewrites, so that is checked
    /// first, without writing anything.
    pub fn apply(self, input: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        match self {
            Normalize::Shell => shell_may_change(input) && shell(input, out),
            Normalize::Sql => sql_may_change(input) && sql(input, out),
        }
    }
}

/// False only when [`shell`] would copy `input` unchanged: none of the bytes
/// it removes or rewrites occurs, and no blank follows a space (a space
/// before a tab is caught by the tab).
fn shell_may_change(input: &[u8]) -> bool {
    any_byte_or_pair(
        input,
        |b| matches!(b, b'\'' | b'"' | b'^' | b'\\' | b'$' | b'{' | b'\t' | b'`'),
        |b, next| ((b == b'<') | (b == b'>')) & (next == b'(') | (b == b' ') & (next == b' '),
    )
}

/// False only when [`sql`] would report no change: no comment opener or
/// closer, no whitespace other than single spaces (a space before other
/// whitespace is caught by that byte).
fn sql_may_change(input: &[u8]) -> bool {
    any_byte_or_pair(
        input,
        |b| matches!(b, b'#' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c),
        |b, next| {
            (b == b'/') & (next == b'*')
                | (b == b'*') & (next == b'/')
                | (b == b'-') & (next == b'-')
                | (b == b' ') & (next == b' ')
        },
    )
}

/// Whether `byte` holds for a byte of `input` or `pair` for two adjacent
/// ones. One pass with no early exit, so it vectorises: a value is nearly
/// always unchanged and read to its end anyway.
#[inline(always)]
fn any_byte_or_pair(
    input: &[u8],
    byte: impl Fn(u8) -> bool,
    pair: impl Fn(u8, u8) -> bool,
) -> bool {
    input.last().is_some_and(|&b| byte(b))
        || input
            .iter()
            .zip(input.iter().skip(1))
            .fold(false, |any, (&b, &next)| any | byte(b) | pair(b, next))
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Shell normalisation.
///
/// * `'`, `"`, `\` and `^` (the `cmd.exe` escape) are removed, so `c''at`,
///   `c"a"t`, `c\at` and `c^a^t` read `cat`; an escaped space or newline
///   (`\ `) stays a space.
/// * `$IFS`, `${IFS}` and `$IFS$9` read as one space; `$@`, `$*`, `$#`-less
///   positional parameters `$0`..`$9` and `${9}`-style empty expansions
///   between letters are removed (`c$@at`, `w$9ho$1ami`).
/// * A brace list `{cat,/etc/passwd}` reads `cat /etc/passwd`.
/// * Runs of spaces and tabs read as one space.
///
/// Glob patterns (`/???/c?t`) cannot be expanded without a file system;
/// rules match their shape instead.
pub fn shell(input: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut i = 0;
    // Depth of brace lists being flattened; commas inside read as spaces.
    let mut brace = 0usize;
    while let Some(&b) = input.get(i) {
        match b {
            b'\'' | b'"' | b'^' => i += 1,
            b'\\' => {
                // `\<newline>` is a line continuation; `\x` is x.
                match input.get(i + 1) {
                    Some(b'\n') => i += 2,
                    Some(b'\r') if input.get(i + 2) == Some(&b'\n') => i += 3,
                    _ => i += 1,
                }
            }
            b'$' => {
                let rest = input.get(i + 1..).unwrap_or_default();
                if let Some(n) = ifs_len(rest) {
                    push_space(out);
                    i += 1 + n;
                    // `$IFS$9`: the trailing empty positional too.
                    if input.get(i) == Some(&b'$')
                        && input.get(i + 1).is_some_and(|c| c.is_ascii_digit())
                    {
                        i += 2;
                    }
                } else if let Some(n) = empty_expansion_len(rest) {
                    i += 1 + n;
                } else if let Some(n) = filler_expansion_len(rest, out.last().copied()) {
                    i += 1 + n;
                } else {
                    out.push(b);
                    i += 1;
                }
            }
            b'{' if brace_list_ahead(input.get(i + 1..).unwrap_or_default()) => {
                brace += 1;
                i += 1;
            }
            b',' if brace > 0 => {
                push_space(out);
                i += 1;
            }
            b'}' if brace > 0 => {
                brace -= 1;
                i += 1;
            }
            b' ' | b'\t' => {
                push_space(out);
                i += 1;
            }
            // An empty command substitution: `` ping`` 127 ``, `` w` `hoami ``.
            b'`' if empty_backticks_len(input.get(i + 1..).unwrap_or_default()).is_some() => {
                i += 2 + empty_backticks_len(input.get(i + 1..).unwrap_or_default()).unwrap_or(0);
            }
            // An empty process substitution glued inside a word: `pi>()ng`.
            b'<' | b'>'
                if input.get(i + 1..i + 3) == Some(b"()".as_slice())
                    && out.last().is_some_and(|c| c.is_ascii_alphanumeric()) =>
            {
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out.as_slice() != input
}

fn push_space(out: &mut Vec<u8>) {
    if out.last() != Some(&b' ') {
        out.push(b' ');
    }
}

/// Length after the `$` of `IFS` or `{IFS}`, when the name ends there
/// (`$IFSX` is another variable).
fn ifs_len(rest: &[u8]) -> Option<usize> {
    if rest.len() >= 5
        && rest
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"{ifs}"))
    {
        return Some(5);
    }
    let name = rest.get(..3)?;
    if name.eq_ignore_ascii_case(b"ifs") && !rest.get(3).is_some_and(|&c| is_word(c)) {
        return Some(3);
    }
    None
}

/// Length after the `$` of an expansion that is empty in a non-interactive
/// command: `$@`, `$*`, a positional `$0`..`$9` (`$0` is the shell's name,
/// but attackers use it as filler too), `${9}`, `${@}`, `${x:-}`-less short
/// forms are not guessed.
fn empty_expansion_len(rest: &[u8]) -> Option<usize> {
    match rest.first()? {
        b'@' | b'*' => Some(1),
        c if c.is_ascii_digit() => Some(1),
        b'{' => {
            let inner = rest.get(1)?;
            if (inner.is_ascii_digit() || *inner == b'@' || *inner == b'*')
                && rest.get(2) == Some(&b'}')
            {
                Some(3)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Length after the `$` of an expansion used as filler inside or before a
/// command word, given the byte written before it:
///
/// * `$()` anywhere: an empty command substitution;
/// * `$$`, `$-`, `$!`, `$?`, `$#` between a letter or digit and a letter,
///   digit or `/` (`c$$at`, `c$-at`): their values are never part of a
///   command name, attackers use them to split one;
/// * an unset-looking short variable (`$u`, `$XX`: 1 to 3 word bytes, not a
///   positional) right after a letter or digit (`cat$u`, `/etc$u/passwd`,
///   `sh$XX -c`), or standing alone before a space at the start of a
///   command (`;$a cat x`, `|$u wget x`).
///
/// Removing them only builds the extra normalised layer: the rules still see
/// the value as sent.
fn filler_expansion_len(rest: &[u8], prev: Option<u8>) -> Option<usize> {
    if rest.starts_with(b"()") {
        return Some(2);
    }
    let after_word = prev.is_some_and(|c| c.is_ascii_alphanumeric());
    let first = *rest.first()?;
    if matches!(first, b'$' | b'-' | b'!' | b'?' | b'#') {
        let next = rest.get(1)?;
        return (after_word && (next.is_ascii_alphanumeric() || *next == b'/')).then_some(1);
    }
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let len = rest.iter().take_while(|&&c| is_word(c)).count();
    if len > 3 {
        return None;
    }
    let next = rest.get(len).copied();
    if next.is_some_and(|c| c == b'{' || c == b'(' || c == b'[' || c == b'=') {
        return None;
    }
    let at_command_start = matches!(prev, None | Some(b';' | b'|' | b'&' | b'(' | b'`' | b'\n'));
    if after_word || (at_command_start && next.is_some_and(|c| c == b' ' || c == b'\t')) {
        Some(len)
    } else {
        None
    }
}

/// Length of the blanks between two backticks when the substitution they
/// delimit is empty (`` `` `` or `` ` ` ``), given the bytes after the first.
fn empty_backticks_len(rest: &[u8]) -> Option<usize> {
    let blanks = rest
        .iter()
        .take_while(|&&c| c == b' ' || c == b'\t')
        .count();
    (rest.get(blanks) == Some(&b'`')).then_some(blanks)
}

/// Whether the bytes after a `{` form a brace list: a `,` before the closing
/// `}`, no space or `{`/`$` (which would be a block, an expansion or JSON),
/// within 256 bytes.
fn brace_list_ahead(rest: &[u8]) -> bool {
    let mut comma = false;
    for &c in rest.iter().take(256) {
        match c {
            b',' => comma = true,
            b'}' => return comma,
            b' ' | b'\t' | b'\n' | b'{' | b'$' | b'"' | b':' => return false,
            _ => {}
        }
    }
    false
}

/// SQL normalisation.
///
/// * `/* ... */` comments read as one space; a MySQL executable comment
///   `/*!50000 select*/` keeps its content (`select`), since MySQL runs it.
///   An unterminated `/*` comments out the rest.
/// * `-- ` and `#` comments read as one space up to the end of the line, so
///   `union--x\nselect` reads `union select`.
/// * Runs of whitespace (space, tab, CR, LF, VT, FF) read as one space.
/// * ASCII letters are lowercased. Case alone does not count as a change:
///   rule patterns and prefilters are case-insensitive, so a layer that only
///   differs in case would be searched again for nothing.
///
/// Quoted strings are not parsed: a `#` or `--` inside one is rare in
/// an injection, and the raw layers still see the value as sent.
pub fn sql(input: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut i = 0;
    let mut changed = false;
    while let Some(&b) = input.get(i) {
        match b {
            b'/' if input.get(i + 1) == Some(&b'*') => {
                changed = true;
                push_space(out);
                if input.get(i + 2) == Some(&b'!') {
                    // Executable comment: drop `/*!` and its version digits.
                    i += 3;
                    while input.get(i).is_some_and(|c| c.is_ascii_digit()) {
                        i += 1;
                    }
                } else {
                    let body = input.get(i + 2..).unwrap_or_default();
                    i = match body.windows(2).position(|w| w == b"*/") {
                        Some(p) => i + 2 + p + 2,
                        None => input.len(),
                    };
                }
            }
            b'*' if input.get(i + 1) == Some(&b'/') => {
                // The end of an executable comment (or a stray one).
                changed = true;
                push_space(out);
                i += 2;
            }
            b'-' if input.get(i + 1) == Some(&b'-') => {
                changed = true;
                push_space(out);
                i = to_line_end(input, i);
            }
            b'#' => {
                changed = true;
                push_space(out);
                i = to_line_end(input, i);
            }
            b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c => {
                if b != b' ' || input.get(i + 1).is_some_and(|c| c.is_ascii_whitespace()) {
                    changed = true;
                }
                push_space(out);
                i += 1;
            }
            _ => {
                out.push(b.to_ascii_lowercase());
                i += 1;
            }
        }
    }
    changed
}

/// Index of the line feed ending the line that holds `i` (or the end).
fn to_line_end(input: &[u8], i: usize) -> usize {
    input
        .get(i..)
        .and_then(|r| r.iter().position(|&c| c == b'\n'))
        .map_or(input.len(), |p| i + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(s: &str) -> String {
        let mut out = Vec::new();
        shell(s.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }
    fn sq(s: &str) -> String {
        let mut out = Vec::new();
        sql(s.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn shell_evasions() {
        let cases = [
            ("c''at /etc/passwd", "cat /etc/passwd"),
            ("c\"a\"t /etc/passwd", "cat /etc/passwd"),
            ("c\\at /e\\tc/pa\\ss\\wd", "cat /etc/passwd"),
            ("c^m^d /c dir", "cmd /c dir"),
            ("cat$IFS/etc/passwd", "cat /etc/passwd"),
            ("cat${IFS}/etc/passwd", "cat /etc/passwd"),
            ("cat$IFS$9/etc/passwd", "cat /etc/passwd"),
            ("c$@at /etc/pa$9sswd", "cat /etc/passwd"),
            ("w${9}ho$*ami", "whoami"),
            ("{cat,/etc/passwd}", "cat /etc/passwd"),
            (";{ls,-la,/}", ";ls -la /"),
            ("cat \t  /etc/passwd", "cat /etc/passwd"),
            ("ca\\\nt x", "cat x"),
            // Filler expansions (CRS 932200, 932230, 932235, 932240).
            ("c$-at /et$-c/pas$-swd", "cat /etc/passwd"),
            ("una$$me -a", "uname -a"),
            ("cat$u /etc$u/passwd", "cat /etc/passwd"),
            ("sh$XX -c whoami", "sh -c whoami"),
            ("n$u\\c$u -nlvp", "nc -nlvp"),
            ("ping$() 127.0.0.1", "ping 127.0.0.1"),
            ("ping`` 127.0.0.1", "ping 127.0.0.1"),
            ("w` `hoami", "whoami"),
            ("pi>()ng 127.0.0.1", "ping 127.0.0.1"),
            (";$a cat test.txt", "; cat test.txt"),
            ("|$u wget x", "| wget x"),
        ];
        for (input, want) in cases {
            assert_eq!(sh(input), want, "{input:?}");
        }
    }

    #[test]
    fn shell_keeps_what_is_not_an_evasion() {
        let mut out = Vec::new();
        assert!(!shell(b"plain text, 100$ and {json}", &mut out));
        assert_eq!(out, b"plain text, 100$ and {json}");
        // `$IFSX`, `$HOME` and JSON objects are left alone.
        assert_eq!(sh("$IFSX $HOME"), "$IFSX $HOME");
        // Longer or assigned variables, expansions with operators and a
        // price stay.
        assert_eq!(sh("echo $HOME $path"), "echo $HOME $path");
        assert_eq!(
            sh("cost$total=1 x$a{b} a$b[0]"),
            "cost$total=1 x$a{b} a$b[0]"
        );
        assert_eq!(sh("100$ or $$ alone"), "100$ or $$ alone");
        assert_eq!(sh("a <(b) c >()"), "a <(b) c >()");
        assert_eq!(sh("{\"a\":1,\"b\":2}"), "{a:1,b:2}");
        // Glob patterns stay as sent (rules match their shape).
        assert_eq!(sh("/???/c?t /???/p??s??"), "/???/c?t /???/p??s??");
    }

    #[test]
    fn shell_edge_bytes() {
        for input in [
            &b""[..],
            b"$",
            b"\\",
            b"{",
            b"{,",
            b"${",
            b"${9",
            b"\xff$\xfe",
        ] {
            let mut out = Vec::new();
            shell(input, &mut out);
            assert!(out.len() <= input.len());
        }
    }

    #[test]
    fn sql_evasions() {
        let cases = [
            ("1 UNION/**/SELECT 1", "1 union select 1"),
            ("1/*foo*/union/*bar*/select", "1 union select"),
            ("1 /*!50000UNION*/ /*!SELECT*/ 1", "1 union select 1"),
            ("1 union--x\nselect 1", "1 union select 1"),
            ("1 union#x\nselect 1", "1 union select 1"),
            ("1\t\r\n  UnIoN \x0b SeLeCt", "1 union select"),
            ("' or 1=1-- -", "' or 1=1 "),
            ("1 /* unterminated union select", "1 "),
        ];
        for (input, want) in cases {
            assert_eq!(sq(input), want, "{input:?}");
        }
    }

    #[test]
    fn sql_reports_no_change_when_there_is_none() {
        let mut out = Vec::new();
        assert!(!sql(b"1 union select 1", &mut out));
        // Case alone is no change (rules are case-insensitive), but the
        // output is still lowercase.
        assert!(!sql(b"1 Union SELECT 1", &mut out));
        assert_eq!(out, b"1 union select 1");
        assert!(sql(b"1 Union  SELECT 1", &mut out));
        for input in [&b""[..], b"/", b"/*", b"/*!", b"-", b"*", b"\xff#"] {
            sql(input, &mut out);
            assert!(out.len() <= input.len());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// The quick checks never skip a value the transforms would change.
        #[test]
        fn quick_checks_never_skip_a_change(
            input in proptest::collection::vec(proptest::prop_oneof![
                8 => proptest::sample::select(b" \t\n'\"^\\$`{},()<>/*-#@0aI;".to_vec()),
                1 => proptest::num::u8::ANY,
            ], 0..12)
        ) {
            let mut out = Vec::new();
            if !shell_may_change(&input) {
                proptest::prop_assert!(!shell(&input, &mut out), "{:?}", input);
            }
            if !sql_may_change(&input) {
                proptest::prop_assert!(!sql(&input, &mut out), "{:?}", input);
            }
        }
    }

    /// One value per rewrite each transform makes: the quick check must let
    /// every one through (the property test above rarely builds the longer
    /// ones, such as `pi>()ng`).
    #[test]
    fn quick_checks_pass_every_kind_of_rewrite() {
        let mut out = Vec::new();
        for v in [
            "c'a't", "c\"a\"t", "c^a^t", "c\\at", "c$@at", "c${IFS}x", "{cat,x}", "a\tb", "a  b",
            "a` `b", "pi>()ng", "pi<()ng",
        ] {
            assert!(shell(v.as_bytes(), &mut out), "{v}");
            assert!(Normalize::Shell.apply(v.as_bytes(), &mut out), "{v}");
        }
        for v in [
            "a/**/b",
            "a/*!5 b*/",
            "a--x",
            "a#x",
            "a\tb",
            "a\rb",
            "a\nb",
            "a\x0bb",
            "a\x0cb",
            "a \tb",
            "a  b",
        ] {
            assert!(sql(v.as_bytes(), &mut out), "{v:?}");
            assert!(Normalize::Sql.apply(v.as_bytes(), &mut out), "{v:?}");
        }
    }

    #[test]
    fn no_allocation_once_warmed() {
        let mut out = Vec::with_capacity(64);
        let cap = out.capacity();
        for n in Normalize::ALL {
            n.apply(b"c''at${IFS}/etc/passwd UNION/**/SELECT", &mut out);
        }
        assert_eq!(out.capacity(), cap);
    }

    #[test]
    fn names_round_trip() {
        for n in Normalize::ALL {
            assert_eq!(Normalize::parse(n.as_str()), Some(n));
        }
        assert_eq!(Normalize::parse("path"), None);
    }

    /// The engine runs a rule on the normalised layer only when the rule
    /// asks for it.
    #[test]
    fn engine_runs_normalised_layer_for_rules_that_ask() {
        use crate::detect::tests::req;
        use crate::detect::{DetectLimits, DetectStats, Detector, RuleSet};
        let src = r#"
[[rule]]
id = "with"
class = "rce"
severity = "high"
normalize = ["shell"]
targets = ["query"]
pattern = '(?i)\bcat /etc/passwd'
prefilter = ["cat"]
description = "d"

[[rule]]
id = "without"
class = "rce"
severity = "high"
targets = ["query"]
pattern = '(?i)\bcat /etc/passwd'
prefilter = ["cat"]
description = "d"

[[rule]]
id = "sql"
class = "sqli"
severity = "high"
normalize = ["sql"]
targets = ["query"]
pattern = 'union select'
description = "d"
"#;
        let set = RuleSet::parse(src, std::path::Path::new("t.toml")).unwrap();
        let det = Detector::new(&set, DetectLimits::default());
        let ids = |uri: &str| {
            let mut stats = DetectStats::default();
            let mut hits = Vec::new();
            det.inspect(&req("GET", uri, &[], b""), &mut stats, &mut hits);
            let mut v: Vec<String> = hits.iter().map(|h| h.rule_id.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(ids("/?a=cat%20/etc/passwd"), ["with", "without"]);
        assert_eq!(ids("/?a=c%27%27at$IFS/etc/pa%5Csswd"), ["with"]);
        assert_eq!(ids("/?a={cat,/etc/passwd}"), ["with"]);
        // `union select` is lowercase only: the raw layer misses the
        // commented, upper-case form, the normalised one sees it.
        assert_eq!(ids("/?a=1%20UNION/**/SELECT%201"), ["sql"]);
        assert!(ids("/?a=c%27%27at%20/etc/hosts").is_empty());
    }

    /// Evasions of each kind reach the built-in rules.
    #[test]
    fn builtin_rules_see_shell_and_sql_evasions() {
        use crate::detect::tests::req;
        use crate::detect::{AttackClass, DetectLimits, DetectStats, Detector, RuleSet};
        let det = Detector::new(&RuleSet::builtin(), DetectLimits::default());
        let cases: &[(&str, AttackClass)] = &[
            ("/?q=x;c%27%27at%20/etc/passwd", AttackClass::Rce),
            ("/?q=x|c%5Cat${IFS}/etc/passwd", AttackClass::Rce),
            ("/?q=x;c$@at%20/etc/pa$9sswd", AttackClass::Rce),
            ("/?q=;{cat,/etc/passwd}", AttackClass::Rce),
            ("/?q=a%26%26c^m^d%20/c%20dir", AttackClass::Rce),
            ("/?q=time%20who", AttackClass::Rce),
            (
                "/?id=1%20UNION/**/SELECT%20password%20FROM%20users",
                AttackClass::Sqli,
            ),
            (
                "/?id=1%27%20and%20benchmark(5000000,md5(1))--",
                AttackClass::Sqli,
            ),
            ("/?t=HJ1bnRpbWU", AttackClass::Rce),
            (
                "/?u=http://[0:0:0:0:0:ffff:169.254.169.254]/",
                AttackClass::Ssrf,
            ),
        ];
        for (uri, class) in cases {
            let mut stats = DetectStats::default();
            let mut hits = Vec::new();
            det.inspect(&req("GET", uri, &[], b""), &mut stats, &mut hits);
            assert!(
                hits.iter().any(|h| h.class == *class),
                "{uri}: {:?}",
                hits.iter().map(|h| &h.rule_id).collect::<Vec<_>>()
            );
        }
    }
}
