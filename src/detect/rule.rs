//! Rule file format: parsing and validation with line-precise errors.
//!
//! A rule file is TOML holding an array of `[[rule]]` tables:
//!
//! ```toml
//! [[rule]]
//! id = "sqli-union-select"          # unique, [a-z0-9_.-]+
//! class = "sqli"                    # an AttackClass name (sqli, xss, rce, ptrav, scanner, ...)
//! severity = "high"                 # low | medium | high | critical
//! targets = ["path", "query", "body", "cookie", "header:user-agent", "headers"]
//! pattern = '''(?i)\bunion\b[\s\S]{0,40}?\bselect\b'''
//! prefilter = ["union"]             # optional, see below
//! description = "UNION-based SQL injection"
//! references = ["https://owasp.org/..."]   # optional
//! paranoia = 1                      # optional, 1-4 (default 1), see below
//! ```
//!
//! * `targets`: `path` (decoded, normalised path), `query` (each argument
//!   name and value), `body` (each form / JSON / multipart name and value, or
//!   the raw body), `cookie` (each cookie), `headers` (every header value),
//!   `custom-headers` (every header that is not a standard one with a fixed
//!   format, see [`is_standard_header`]),
//!   `header:NAME` (one header, name case-insensitive), `method`, `uri` (the
//!   raw request-target).
//! * `pattern`: a `regex` crate expression matched on bytes. The engine is
//!   linear-time (no backtracking, no look-around, no back-references) and
//!   compiled with a size limit of [`REGEX_SIZE_LIMIT`] bytes. Unicode mode
//!   is off: the input is bytes, `.` matches any byte, and `\w`, `\s`, `\b`
//!   and `(?i)` are ASCII-only (which also keeps automata small).
//! * `kind` (optional): `regex` (the default), or one of the built-in
//!   tokenizer checks, `sqli-lex` ([`super::sqli`]) or `xss-lex`
//!   ([`super::xss`]), which take no `pattern` or `prefilter`; `id`,
//!   `class`, `severity` and `targets` work as for any rule, so such an
//!   entry is how a rule file turns a tokenizer check on, points it at
//!   request parts, or (by leaving it out) turns it off.
//! * `normalize` (optional): a list of per-class normalisations
//!   ([`super::normalize`]), `shell` or `sql`. The rule then also runs on
//!   the normalised form of every layer it sees (quotes, `$IFS`, brace lists
//!   removed for `shell`; comments, whitespace runs and case for `sql`), so
//!   one pattern covers the evasions. Regex rules only.
//! * `paranoia` (optional): the lowest `[detect] paranoia` level (1-4) at
//!   which the rule runs; default 1. Broad signatures that also flag some
//!   ordinary traffic belong at 2 and above.
//! * `prefilter`: literals, matched ASCII case-insensitively; the regex only
//!   runs on a value in which at least one occurs. When absent they are
//!   derived from the pattern (regex-syntax literal extraction, prefix then
//!   suffix); a rule with no usable literal (shorter than
//!   [`MIN_DERIVED_LITERAL`] bytes, or too many) is evaluated on every value.
//!
//! Every problem is reported, not just the first, as a [`RuleError`] whose
//! line and column point at the offending key or value.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use toml_edit::{ImDocument, Item, Table, Value};

use super::normalize::Normalize;
use super::{AttackClass, RuleError, Severity};

/// Compiled size limit of one rule's regex, bytes.
pub const REGEX_SIZE_LIMIT: usize = 2 * 1024 * 1024;
/// Derived prefilter literals shorter than this make the rule always-evaluated.
pub const MIN_DERIVED_LITERAL: usize = 3;
/// More derived literals than this make the rule always-evaluated.
const MAX_DERIVED_LITERALS: usize = 64;

/// Where in a request a rule looks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Path,
    Query,
    Body,
    Cookie,
    /// Every header value.
    Headers,
    /// Every header that is not a standard header with a fixed format
    /// (see [`is_standard_header`]): application headers such as
    /// `X-Search-Filter` carry user input, `Accept` or `Sec-Fetch-Mode` do not.
    CustomHeaders,
    /// One header, lowercase name.
    Header(String),
    Method,
    Uri,
}

impl Target {
    /// Parse a `targets` entry.
    pub fn parse(s: &str) -> Option<Target> {
        Some(match s {
            "path" => Target::Path,
            "query" => Target::Query,
            "body" => Target::Body,
            "cookie" => Target::Cookie,
            "headers" => Target::Headers,
            "custom-headers" => Target::CustomHeaders,
            "method" => Target::Method,
            "uri" => Target::Uri,
            _ => {
                let name = s.strip_prefix("header:")?;
                if name.is_empty() || !name.bytes().all(is_token_byte) {
                    return None;
                }
                Target::Header(name.to_ascii_lowercase())
            }
        })
    }
}

/// Headers whose values browsers, proxies and HTTP stacks fill with a fixed
/// grammar (RFC 9110/9111, Fetch metadata, client hints), or that other
/// targets already cover (`cookie`, `header:user-agent`, `header:referer`).
/// Lowercase names.
pub fn is_standard_header(name: &[u8]) -> bool {
    // A `match` compiles to a switch on the length, then one comparison.
    matches!(
        name,
        b"accept"
            | b"accept-charset"
            | b"accept-encoding"
            | b"accept-language"
            | b"authorization"
            | b"cache-control"
            | b"connection"
            | b"content-encoding"
            | b"content-length"
            | b"content-type"
            | b"cookie"
            | b"date"
            | b"dnt"
            | b"expect"
            | b"forwarded"
            | b"host"
            | b"if-match"
            | b"if-modified-since"
            | b"if-none-match"
            | b"if-range"
            | b"if-unmodified-since"
            | b"keep-alive"
            | b"max-forwards"
            | b"origin"
            | b"pragma"
            | b"priority"
            | b"proxy-authorization"
            | b"proxy-connection"
            | b"range"
            | b"referer"
            | b"te"
            | b"trailer"
            | b"transfer-encoding"
            | b"upgrade"
            | b"upgrade-insecure-requests"
            | b"user-agent"
            | b"via"
            | b"x-forwarded-for"
            | b"x-forwarded-host"
            | b"x-forwarded-port"
            | b"x-forwarded-proto"
            | b"x-real-ip"
            | b"x-request-id"
            | b"x-requested-with"
            | b"x-correlation-id"
            | b"traceparent"
            | b"tracestate"
            | b"x-server-addr"
            | b"x-server-port"
            | b"content-md5"
            | b"purpose"
            | b"save-data"
    ) || name.starts_with(b"sec-")
        || name.starts_with(b"x-b3-")
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// How a rule matches a value.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// `kind = "regex"` (the default): the `pattern`.
    Regex(Regex),
    /// `kind = "sqli-lex"`: the SQL tokenizer check ([`super::sqli`]).
    SqliLex,
    /// `kind = "xss-lex"`: the HTML/JS tokenizer check ([`super::xss`]).
    XssLex,
}

/// One validated, compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub class: AttackClass,
    pub severity: Severity,
    pub targets: Vec<Target>,
    /// The regex source; empty for tokenizer rules.
    pub pattern: String,
    pub matcher: Matcher,
    /// Prefilter literals (lowercase); empty means always evaluated.
    pub prefilter: Vec<Vec<u8>>,
    /// Whether `prefilter` was written in the file (else derived).
    pub prefilter_explicit: bool,
    /// Extra normalised layers the rule also runs on (`normalize`).
    pub normalize: Vec<Normalize>,
    pub description: String,
    pub references: Vec<String>,
    /// Paranoia level 1-4 (default 1): the rule runs only when the
    /// configured `[detect] paranoia` is at least this. Higher levels hold
    /// broader signatures that catch more and flag more ordinary traffic.
    pub paranoia: u8,
}

/// Highest paranoia level a rule or the configuration can name.
pub const MAX_PARANOIA: u8 = 4;

const KEYS: [&str; 11] = [
    "id",
    "paranoia",
    "kind",
    "normalize",
    "class",
    "severity",
    "targets",
    "pattern",
    "prefilter",
    "description",
    "references",
];

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

struct Ctx<'a> {
    source: &'a str,
    path: &'a Path,
    errors: Vec<RuleError>,
    /// Whether written prefilter lists are checked against their pattern
    /// (not for the built-in rules: a test checks those, and the check
    /// costs ~0.1 s of start-up for all of them).
    check_prefilters: bool,
}

impl Ctx<'_> {
    fn err(&mut self, span: Option<Range<usize>>, message: String) {
        let (line, col) = line_col(self.source, span.map_or(0, |s| s.start));
        self.errors.push(RuleError {
            path: self.path.to_path_buf(),
            line,
            col,
            message,
        });
    }
}

/// Parse one rule file. Returns the valid rules and every error found;
/// `seen` carries ids across files for the duplicate check.
pub(crate) fn parse_source(
    source: &str,
    path: &Path,
    seen: &mut BTreeMap<String, (std::path::PathBuf, usize, usize)>,
) -> (Vec<Rule>, Vec<RuleError>) {
    parse_source_with(source, path, seen, true)
}

/// [`parse_source`] for the built-in rules, whose prefilter lists the
/// tests check (`review23b_written_prefilters_hold_a_literal_of_every_match`).
pub(crate) fn parse_builtin_source(
    source: &str,
    path: &Path,
    seen: &mut BTreeMap<String, (std::path::PathBuf, usize, usize)>,
) -> (Vec<Rule>, Vec<RuleError>) {
    parse_source_with(source, path, seen, false)
}

fn parse_source_with(
    source: &str,
    path: &Path,
    seen: &mut BTreeMap<String, (std::path::PathBuf, usize, usize)>,
    check_prefilters: bool,
) -> (Vec<Rule>, Vec<RuleError>) {
    let mut ctx = Ctx {
        source,
        path,
        errors: Vec::new(),
        check_prefilters,
    };
    let doc = match ImDocument::parse(source) {
        Ok(d) => d,
        Err(e) => {
            let msg = e.message().trim().to_string();
            ctx.err(e.span(), format!("TOML syntax: {msg}"));
            return (Vec::new(), ctx.errors);
        }
    };
    let root = doc.as_table();
    for (key, _) in root.iter() {
        if key != "rule" {
            let span = root.key(key).and_then(|k| k.span());
            ctx.err(
                span,
                format!("unknown top-level key `{key}` (expected `[[rule]]`)"),
            );
        }
    }
    let mut rules = Vec::new();
    match root.get("rule") {
        // `rule = []`: no rules, on purpose (see `declares_no_rules`).
        None => {}
        Some(Item::Value(Value::Array(a))) if a.is_empty() => {}
        Some(Item::ArrayOfTables(arr)) => {
            for table in arr.iter() {
                if let Some(rule) = parse_rule(&mut ctx, table, seen) {
                    rules.push(rule);
                }
            }
        }
        Some(other) => ctx.err(
            other.span(),
            "`rule` must be an array of tables `[[rule]]`".into(),
        ),
    }
    (rules, ctx.errors)
}

/// Whether a rule file says it holds no rules on purpose (`rule = []`). A
/// rule set loaded from files that hold no rule is otherwise an error: a
/// file truncated by an editor or a deploy at the moment of a reload would
/// leave the sensor running with none (review round 15).
pub(crate) fn declares_no_rules(source: &str) -> bool {
    ImDocument::parse(source).is_ok_and(|doc| {
        matches!(doc.as_table().get("rule"), Some(Item::Value(Value::Array(a))) if a.is_empty())
    })
}

fn parse_rule(
    ctx: &mut Ctx<'_>,
    table: &Table,
    seen: &mut BTreeMap<String, (std::path::PathBuf, usize, usize)>,
) -> Option<Rule> {
    let errors_before = ctx.errors.len();
    let table_span = table.span();
    for (key, _) in table.iter() {
        if !KEYS.contains(&key) {
            let span = table.key(key).and_then(|k| k.span());
            ctx.err(
                span,
                format!("unknown key `{key}` (expected one of {})", KEYS.join(", ")),
            );
        }
    }
    let id = req_str(ctx, table, "id", table_span.clone());
    let class = req_str(ctx, table, "class", table_span.clone());
    let severity = req_str(ctx, table, "severity", table_span.clone());
    let kind = match table.get("kind") {
        None => Some("regex".to_string()),
        Some(Item::Value(Value::String(k))) => match k.value().as_str() {
            v @ ("regex" | "sqli-lex" | "xss-lex") => Some(v.to_string()),
            other => {
                ctx.err(
                    k.span(),
                    format!("unknown kind `{other}` (expected regex, sqli-lex or xss-lex)"),
                );
                None
            }
        },
        Some(_) => {
            ctx.err(value_span(table, "kind"), "`kind` must be a string".into());
            None
        }
    };
    let lex = kind.as_deref().is_some_and(|k| k != "regex");
    let pattern = if lex {
        for key in ["pattern", "prefilter"] {
            if table.contains_key(key) {
                ctx.err(
                    table.key(key).and_then(|k| k.span()),
                    format!(
                        "`{key}` is not used by a tokenizer rule (kind `{}`)",
                        kind.as_deref().unwrap_or_default()
                    ),
                );
            }
        }
        Some((String::new(), 0..0))
    } else {
        req_str(ctx, table, "pattern", table_span.clone())
    };
    let description = req_str(ctx, table, "description", table_span.clone());
    let targets = req_str_array(ctx, table, "targets", table_span.clone(), true);
    let prefilter = opt_str_array(ctx, table, "prefilter");
    let references = opt_str_array(ctx, table, "references");
    let paranoia = match table.get("paranoia") {
        None => 1,
        Some(Item::Value(Value::Integer(n)))
            if (1..=i64::from(MAX_PARANOIA)).contains(n.value()) =>
        {
            *n.value() as u8
        }
        Some(_) => {
            ctx.err(
                value_span(table, "paranoia"),
                format!("`paranoia` must be an integer from 1 to {MAX_PARANOIA}"),
            );
            1
        }
    };
    let mut normalize = Vec::new();
    for (n, span) in opt_str_array(ctx, table, "normalize").unwrap_or_default() {
        match Normalize::parse(&n) {
            Some(_) if lex => ctx.err(
                Some(span),
                "`normalize` is not used by a tokenizer rule".into(),
            ),
            Some(v) if !normalize.contains(&v) => normalize.push(v),
            Some(_) => {}
            None => ctx.err(
                Some(span),
                format!("unknown normalize `{n}` (expected shell or sql)"),
            ),
        }
    }

    if let Some((id, span)) = &id {
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
        {
            ctx.err(
                Some(span.clone()),
                format!("invalid id `{id}`: must match [a-z0-9_.-]+"),
            );
        } else if let Some((p, l, c)) = seen.get(id) {
            ctx.err(
                Some(span.clone()),
                format!(
                    "duplicate id `{id}` (first defined at {}:{l}:{c})",
                    p.display()
                ),
            );
        } else {
            let (l, c) = line_col(ctx.source, span.start);
            seen.insert(id.clone(), (ctx.path.to_path_buf(), l, c));
        }
    }
    let class = class.and_then(|(c, span)| {
        let parsed = AttackClass::parse(&c);
        if parsed.is_none() {
            let names: Vec<&str> = AttackClass::ALL.iter().map(|c| c.as_str()).collect();
            ctx.err(
                Some(span),
                format!("unknown class `{c}` (expected one of {})", names.join(", ")),
            );
        }
        parsed
    });
    let severity = severity.and_then(|(s, span)| {
        let parsed = Severity::parse(&s);
        if parsed.is_none() {
            ctx.err(
                Some(span),
                format!("unknown severity `{s}` (expected low, medium, high or critical)"),
            );
        }
        parsed
    });
    let mut parsed_targets = Vec::new();
    for (t, span) in targets.unwrap_or_default() {
        match Target::parse(&t) {
            Some(t) => parsed_targets.push(t),
            None => ctx.err(
                Some(span),
                format!(
                    "unknown target `{t}` (expected path, query, body, cookie, headers, \
                     header:NAME, method or uri)"
                ),
            ),
        }
    }
    let regex = pattern.as_ref().filter(|_| !lex).and_then(|(p, span)| {
        match RegexBuilder::new(p)
            .unicode(false)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(r) => Some(r),
            Err(e) => {
                ctx.err(Some(span.clone()), format!("pattern does not compile: {e}"));
                None
            }
        }
    });
    let prefilter = prefilter.filter(|_| !lex);
    let prefilter_explicit = prefilter.is_some();
    let mut literals = Vec::new();
    for (lit, span) in prefilter.unwrap_or_default() {
        if lit.is_empty() {
            ctx.err(Some(span), "empty prefilter literal".into());
        } else {
            literals.push(lit.to_ascii_lowercase().into_bytes());
        }
    }
    // A written list skips the regex on values without its literals: it
    // must not skip one the regex matches (review round 23: 13 built-in
    // rules did, and the attacks went unreported).
    let clean_so_far = ctx.errors.len() == errors_before && ctx.check_prefilters;
    if let (true, Some(re), false, true) = (
        prefilter_explicit,
        &regex,
        literals.is_empty(),
        clean_so_far,
    ) {
        let span = value_span(table, "prefilter");
        match prefilter_counterexample(re, &literals) {
            PrefilterCheck::NoMissFound => {}
            PrefilterCheck::Miss(value) => ctx.err(
                span,
                format!(
                    "the pattern matches \"{}\", which holds none of the prefilter literals, \
                     so the rule would never see it: add a literal such values hold, or \
                     remove `prefilter` to derive one",
                    value.escape_ascii()
                ),
            ),
            PrefilterCheck::TooLarge => ctx.err(
                span,
                format!(
                    "the pattern is too large to check that every match holds a prefilter \
                     literal (over {PREFILTER_CHECK_STATES} states): remove `prefilter` to \
                     derive one"
                ),
            ),
        }
    }
    if ctx.errors.len() != errors_before {
        return None;
    }
    let (id, _) = id?;
    let (pattern, _) = pattern?;
    if !prefilter_explicit && !lex {
        literals = derive_literals(&pattern);
    }
    let matcher = match kind?.as_str() {
        "sqli-lex" => Matcher::SqliLex,
        "xss-lex" => Matcher::XssLex,
        _ => Matcher::Regex(regex?),
    };
    literals.sort();
    literals.dedup();
    Some(Rule {
        id,
        class: class?,
        severity: severity?,
        targets: parsed_targets,
        matcher,
        pattern,
        prefilter: literals,
        prefilter_explicit,
        normalize,
        description: description?.0,
        references: references
            .unwrap_or_default()
            .into_iter()
            .map(|(s, _)| s)
            .collect(),
        paranoia,
    })
}

/// Most (pattern state, literal state) pairs [`prefilter_counterexample`]
/// visits before it gives up; the largest built-in rule needs far fewer.
pub const PREFILTER_CHECK_STATES: usize = 500_000;

/// What [`prefilter_counterexample`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrefilterCheck {
    /// No value the pattern matches without a literal was found.
    NoMissFound,
    /// A value the pattern matches that holds none of the literals.
    Miss(Vec<u8>),
    /// The search went past [`PREFILTER_CHECK_STATES`].
    TooLarge,
}

/// A value on which `re` matches while none of `prefilter` occurs (ASCII
/// case-insensitively, as the engine's automaton finds them). A
/// breadth-first search of the product of the pattern's Thompson NFA
/// (compiled as the rules are: bytes, no Unicode; look-arounds assumed to
/// hold) and the literal automaton, never entering a state where a literal
/// ends. Bytes in no literal all move the automaton alike, so one of them
/// stands for all. A witness is confirmed on the real regex and automaton,
/// so the look-around assumption can only hide a miss, never invent one.
pub(crate) fn prefilter_counterexample(re: &Regex, prefilter: &[Vec<u8>]) -> PrefilterCheck {
    use aho_corasick::automaton::{Automaton, StateID as LiteralState};
    use aho_corasick::{Anchored, MatchKind, StartKind};
    use regex_automata::nfa::thompson::{Compiler, Config, State};
    use regex_automata::util::primitives::StateID as NfaState;
    use regex_automata::util::syntax;
    use std::collections::hash_map::Entry;
    use std::collections::VecDeque;
    type Pair = (NfaState, LiteralState);

    if prefilter.is_empty() {
        return PrefilterCheck::NoMissFound;
    }
    let Ok(ac) = aho_corasick::dfa::Builder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .prefilter(false)
        .start_kind(StartKind::Unanchored)
        .build(prefilter)
    else {
        return PrefilterCheck::TooLarge;
    };
    let Ok(nfa) = Compiler::new()
        .syntax(syntax::Config::new().utf8(false).unicode(false))
        .configure(Config::new().utf8(false).shrink(false))
        .build(re.as_str())
    else {
        return PrefilterCheck::TooLarge;
    };
    let Ok(ac_start) = ac.start_state(Anchored::No) else {
        return PrefilterCheck::TooLarge;
    };
    // The bytes of the literals, both cases, as a 256-bit set.
    let mut literal_bytes = [0u128; 2];
    let bit = |b: u8| (usize::from(b >> 7), 1u128 << (b & 127));
    for &b in prefilter.iter().flatten() {
        for b in [b.to_ascii_lowercase(), b.to_ascii_uppercase()] {
            let (half, mask) = bit(b);
            if let Some(h) = literal_bytes.get_mut(half) {
                *h |= mask;
            }
        }
    }
    let in_literal = |b: u8| {
        let (half, mask) = bit(b);
        literal_bytes.get(half).is_some_and(|h| h & mask != 0)
    };
    let start: Pair = (nfa.start_anchored(), ac_start);
    let mut came_from: ahash::AHashMap<Pair, Option<(Pair, Option<u8>)>> = Default::default();
    came_from.insert(start, None);
    let mut todo = VecDeque::from([start]);
    let mut matched = None;
    let mut next: Vec<(Pair, Option<u8>)> = Vec::new();
    while let Some(cur) = todo.pop_front() {
        let (n, a) = cur;
        next.clear();
        let bytes = |lo: u8, hi: u8, to: NfaState, next: &mut Vec<(Pair, Option<u8>)>| {
            let mut other = false;
            for b in lo..=hi {
                if !in_literal(b) && std::mem::replace(&mut other, true) {
                    continue;
                }
                let sa = ac.next_state(Anchored::No, a, b);
                if !ac.is_match(sa) {
                    next.push(((to, sa), Some(b)));
                }
            }
        };
        match nfa.state(n) {
            State::ByteRange { trans } => bytes(trans.start, trans.end, trans.next, &mut next),
            State::Sparse(s) => {
                for t in s.transitions.iter() {
                    bytes(t.start, t.end, t.next, &mut next);
                }
            }
            State::Dense(d) => {
                for (b, &to) in (0..=u8::MAX).zip(d.transitions.iter()) {
                    bytes(b, b, to, &mut next);
                }
            }
            State::Look { next: to, .. } | State::Capture { next: to, .. } => {
                next.push(((*to, a), None))
            }
            State::Union { alternates } => {
                next.extend(alternates.iter().map(|&to| ((to, a), None)))
            }
            State::BinaryUnion { alt1, alt2 } => {
                next.extend([((*alt1, a), None), ((*alt2, a), None)])
            }
            State::Fail => {}
            State::Match { .. } => {
                matched = Some(cur);
                break;
            }
        }
        for &(pair, b) in &next {
            if let Entry::Vacant(e) = came_from.entry(pair) {
                e.insert(Some((cur, b)));
                todo.push_back(pair);
            }
        }
        if came_from.len() > PREFILTER_CHECK_STATES {
            return PrefilterCheck::TooLarge;
        }
    }
    let Some(mut at) = matched else {
        return PrefilterCheck::NoMissFound;
    };
    let mut witness = Vec::new();
    while let Some(Some((prev, b))) = came_from.get(&at) {
        witness.extend(b);
        at = *prev;
    }
    witness.reverse();
    let holds_literal = aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(prefilter)
        .map_or(true, |literals| literals.is_match(&witness));
    if re.is_match(&witness) && !holds_literal {
        PrefilterCheck::Miss(witness)
    } else {
        PrefilterCheck::NoMissFound
    }
}

fn value_span(table: &Table, key: &str) -> Option<Range<usize>> {
    table
        .get(key)
        .and_then(|i| i.span())
        .or_else(|| table.key(key).and_then(|k| k.span()))
}

fn req_str(
    ctx: &mut Ctx<'_>,
    table: &Table,
    key: &str,
    table_span: Option<Range<usize>>,
) -> Option<(String, Range<usize>)> {
    match table.get(key) {
        None => {
            ctx.err(table_span, format!("missing key `{key}`"));
            None
        }
        Some(Item::Value(Value::String(s))) => {
            Some((s.value().clone(), s.span().unwrap_or_default()))
        }
        Some(_) => {
            ctx.err(value_span(table, key), format!("`{key}` must be a string"));
            None
        }
    }
}

fn opt_str_array(
    ctx: &mut Ctx<'_>,
    table: &Table,
    key: &str,
) -> Option<Vec<(String, Range<usize>)>> {
    table.get(key)?;
    req_str_array(ctx, table, key, None, false)
}

fn req_str_array(
    ctx: &mut Ctx<'_>,
    table: &Table,
    key: &str,
    table_span: Option<Range<usize>>,
    non_empty: bool,
) -> Option<Vec<(String, Range<usize>)>> {
    match table.get(key) {
        None => {
            ctx.err(table_span, format!("missing key `{key}`"));
            None
        }
        Some(Item::Value(Value::Array(arr))) => {
            let mut out = Vec::new();
            for v in arr.iter() {
                match v {
                    Value::String(s) => out.push((s.value().clone(), s.span().unwrap_or_default())),
                    other => ctx.err(other.span(), format!("`{key}` entries must be strings")),
                }
            }
            if non_empty && arr.is_empty() {
                ctx.err(arr.span(), format!("`{key}` must not be empty"));
            }
            Some(out)
        }
        Some(_) => {
            ctx.err(
                value_span(table, key),
                format!("`{key}` must be an array of strings"),
            );
            None
        }
    }
}

/// Literals one of which occurs in every match of `pattern`, lowercase, or
/// empty when none are usable. Case-insensitivity is dropped before
/// extraction: the prefilter matches ASCII case-insensitively anyway, so the
/// literal set is a (sound) superset.
pub(crate) fn derive_literals(pattern: &str) -> Vec<Vec<u8>> {
    let stripped = pattern.strip_prefix("(?i)").unwrap_or(pattern);
    let Ok(hir) = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .unicode(false)
        .build()
        .parse(stripped)
    else {
        return Vec::new();
    };
    for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
        let mut ex = Extractor::new();
        // limit_class(1): stop at any real class (`\s`, `[a-z]`) instead of
        // multiplying literals by its members.
        ex.kind(kind)
            .limit_class(1)
            .limit_total(MAX_DERIVED_LITERALS);
        let seq = ex.extract(&hir);
        let Some(lits) = seq.literals() else { continue };
        if lits.is_empty() || lits.len() > MAX_DERIVED_LITERALS {
            continue;
        }
        if lits
            .iter()
            .all(|l| l.as_bytes().len() >= MIN_DERIVED_LITERAL)
        {
            let mut out: Vec<Vec<u8>> = lits
                .iter()
                .map(|l| l.as_bytes().to_ascii_lowercase())
                .collect();
            out.sort();
            out.dedup();
            return out;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(src: &str) -> Vec<(usize, usize, String)> {
        let mut seen = BTreeMap::new();
        let (_, e) = parse_source(src, Path::new("t.toml"), &mut seen);
        e.into_iter().map(|e| (e.line, e.col, e.message)).collect()
    }

    const GOOD: &str = r#"
[[rule]]
id = "a-1"
class = "sqli"
severity = "high"
targets = ["query", "header:user-agent"]
pattern = '(?i)\bunion\b\s+select'
description = "d"
"#;

    #[test]
    fn good_rule_parses_and_derives_literal() {
        let mut seen = BTreeMap::new();
        let (rules, e) = parse_source(GOOD, Path::new("t.toml"), &mut seen);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].prefilter, vec![b"union".to_vec()]);
        assert_eq!(rules[0].targets[1], Target::Header("user-agent".into()));
        assert!(!rules[0].prefilter_explicit);
    }

    #[test]
    fn normalize_field_parses_and_rejects_unknown_names() {
        let src = GOOD.replace(
            "description",
            "normalize = [\"shell\", \"sql\", \"shell\"]\ndescription",
        );
        let mut seen = BTreeMap::new();
        let (rules, e) = parse_source(&src, Path::new("t.toml"), &mut seen);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(rules[0].normalize, vec![Normalize::Shell, Normalize::Sql]);
        let bad = errs(&GOOD.replace("description", "normalize = [\"path\"]\ndescription"));
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].2.contains("unknown normalize `path`"), "{bad:?}");
    }

    #[test]
    fn syntax_error_position() {
        let e = errs("[[rule]]\nid = \"x\nclass = 1\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, 2, "{e:?}");
        assert!(e[0].2.starts_with("TOML syntax"));
    }

    #[test]
    fn unknown_key_points_at_key() {
        let src = GOOD.replace(
            "description = \"d\"",
            "description = \"d\"\n  colour = \"red\"",
        );
        let e = errs(&src);
        assert_eq!(e, vec![(9, 3, e[0].2.clone())]);
        assert!(e[0].2.contains("unknown key `colour`"));
    }

    #[test]
    fn missing_key_points_at_table() {
        let src = GOOD.replace("severity = \"high\"\n", "");
        let e = errs(&src);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].0, e[0].1), (2, 1));
        assert!(e[0].2.contains("missing key `severity`"));
    }

    #[test]
    fn unknown_class_severity_target_point_at_value() {
        let src = GOOD
            .replace("\"sqli\"", "\"sqlx\"")
            .replace("\"high\"", "\"extreme\"")
            .replace("\"query\"", "\"querystring\"");
        let e = errs(&src);
        assert_eq!(e.len(), 3, "{e:?}");
        let pos: Vec<(usize, usize)> = e.iter().map(|x| (x.0, x.1)).collect();
        assert!(pos.contains(&(4, 9)), "{e:?}");
        assert!(pos.contains(&(5, 12)), "{e:?}");
        assert!(pos.contains(&(6, 12)), "{e:?}");
    }

    #[test]
    fn bad_regex_has_regex_text() {
        let src = GOOD.replace(r"(?i)\bunion\b\s+select", "(unclosed");
        let e = errs(&src);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].0, e[0].1), (7, 11));
        assert!(e[0].2.contains("pattern does not compile"));
        assert!(e[0].2.contains("unclosed group"), "{}", e[0].2);
    }

    #[test]
    fn empty_prefilter_literal() {
        let src = GOOD.replace(
            "description = \"d\"",
            "description = \"d\"\nprefilter = [\"ok\", \"\"]",
        );
        let e = errs(&src);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].0, e[0].1), (9, 20));
        assert_eq!(e[0].2, "empty prefilter literal");
    }

    /// A written prefilter that misses a spelling its pattern matches is an
    /// error naming such a value, at the prefilter; one that covers every
    /// match (here `union` is in every match) loads.
    #[test]
    fn prefilter_missing_a_spelling_of_the_pattern_is_an_error() {
        let src = GOOD.replace(
            r"pattern = '(?i)\bunion\b\s+select'",
            "pattern = '(?i)union\\s+select|or\\s+1=1'\nprefilter = [\"union\"]",
        );
        let e = errs(&src);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, 8);
        assert!(
            e[0].2.contains("none of the prefilter literals"),
            "{}",
            e[0].2
        );
        let witness = e[0].2.split('"').nth(1).unwrap_or_default().to_string();
        // Escaped for the message: `OR\t1=1` or the like.
        assert!(
            witness.to_ascii_lowercase().starts_with("or") && witness.ends_with("1=1"),
            "{witness}"
        );
        let covered = src.replace("[\"union\"]", "[\"union\", \"1=1\"]");
        let mut seen = BTreeMap::new();
        let (rules, e) = parse_source(&covered, Path::new("t.toml"), &mut seen);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(rules.len(), 1);
    }

    #[test]
    fn duplicate_id_across_files_and_all_errors_reported() {
        let mut seen = BTreeMap::new();
        let (_, e) = parse_source(GOOD, Path::new("a.toml"), &mut seen);
        assert!(e.is_empty());
        let two = format!("{GOOD}{}", GOOD.replace("\"high\"", "\"nope\""));
        let (rules, e) = parse_source(&two, Path::new("b.toml"), &mut seen);
        assert!(rules.is_empty());
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0]
            .message
            .contains("duplicate id `a-1` (first defined at a.toml:3:6)"));
        assert_eq!((e[0].line, e[0].col), (3, 6));
        assert_eq!((e[1].line, e[1].col), (11, 6));
        assert_eq!((e[2].line, e[2].col), (13, 12));
    }

    #[test]
    fn derived_literals() {
        assert_eq!(derive_literals("(?i)<script"), vec![b"<script".to_vec()]);
        assert_eq!(
            derive_literals("(?i)(?:sleep|benchmark)\\s*\\("),
            vec![b"benchmark".to_vec(), b"sleep".to_vec()]
        );
        // Leading wildcard: falls back to suffix extraction.
        assert_eq!(
            derive_literals(r"[\s\S]{0,10}passwd"),
            vec![b"passwd".to_vec()]
        );
        assert!(derive_literals(r"\d+").is_empty());
        assert!(derive_literals(r"a.b").is_empty());
    }

    #[test]
    fn targets_parse() {
        assert_eq!(
            Target::parse("header:X-Api"),
            Some(Target::Header("x-api".into()))
        );
        assert_eq!(Target::parse("header:"), None);
        assert_eq!(Target::parse("header:a b"), None);
        assert_eq!(Target::parse("cookies"), None);
    }
}
