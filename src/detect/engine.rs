//! Matching engine: literal prefilter, then regex confirmation.
//!
//! All prefilter literals of all rules are compiled into one ASCII
//! case-insensitive Aho-Corasick DFA, walked byte by byte with overlapping
//! semantics so that every rule whose literal occurs is selected (leftmost
//! semantics would hide a literal that overlaps an earlier one). Per point
//! and decoding layer: automaton → candidate bitset → target filter → regex.
//! Rules without literals run on every layer after that. Regexes are the
//! `regex` crate's (finite automata, linear time in the input). Tokenizer
//! rules (`kind = "sqli-lex"` / `"xss-lex"`, see [`super::sqli`] and
//! [`super::xss`]) have no literals and run on every layer of the points
//! they target, like any rule; both are linear in the (capped) value.
//! Rules with a `normalize` list also run on each layer's normalised form
//! ([`super::normalize`]), built only when some rule asks for it and only
//! searched again when it differs from the layer.

use std::sync::Arc;

use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind, StartKind};

use super::clean_cache::CleanCache;
use super::decode::{
    backslash_escapes, fold_fullwidth, fold_overlong_utf8, html_entities, layers_may_change,
    percent_decode, remove_nul,
};
use super::inert;
use super::normalize::Normalize;
use super::point::{Kind, Point, Points, MAX_LOCATION_NAME};
use super::rule::{Matcher, Rule, Target};
use super::{sqli, xss};
use super::{AttackClass, DetectLimits, DetectStats, Hit, RuleSet, Severity};
use crate::http::{Anomaly, Request};

/// Most bytes of matched text kept in a [`Hit`].
pub const MAX_MATCHED_BYTES: usize = 256;

#[derive(Debug)]
struct Compiled {
    id: Arc<str>,
    class: AttackClass,
    severity: Severity,
    matcher: Matcher,
    /// Bit per [`Kind`] (see `kind_bit`).
    kinds: u8,
    /// Lowercase header names for `header:NAME` targets.
    headers: Vec<String>,
    /// The `custom-headers` target.
    custom_headers: bool,
    /// Bits of the normalisations the rule also runs on ([`Normalize::bit`]).
    normalize: u8,
}

fn kind_bit(k: Kind) -> u8 {
    match k {
        Kind::Path => 1,
        Kind::Query => 2,
        Kind::Body => 4,
        Kind::Cookie => 8,
        Kind::Header => 16,
        Kind::Method => 32,
        Kind::Uri => 64,
    }
}

impl Compiled {
    /// Whether the rule targets point `p` (the reference for
    /// `Engine::applicable`, which computes it for all rules at once).
    #[cfg(test)]
    fn applies(&self, p: &Point, points: &Points) -> bool {
        if self.kinds & kind_bit(p.kind) != 0 {
            return true;
        }
        p.kind == Kind::Header
            && ((self.custom_headers
                && !super::rule::is_standard_header(points.header_name(p).as_bytes()))
                || self.headers.iter().any(|h| *h == points.header_name(p)))
    }
}

/// Reusable per-thread buffers of [`super::Detector::inspect_with`].
#[derive(Debug, Default)]
pub struct Scratch {
    points: Points,
    layer_a: Vec<u8>,
    layer_b: Vec<u8>,
    layer_c: Vec<u8>,
    candidates: Vec<u64>,
    hit_here: Vec<u64>,
    /// Rules whose targets include the current point (see `Engine::applicable`).
    applicable: Vec<u64>,
    /// The comment-free copy the SQL tokenizer reads a second time.
    lex: Vec<u8>,
    /// The per-class normalised copy of the current layer.
    norm: Vec<u8>,
    /// Values this thread already found clean ([`super::clean_cache`]).
    clean: CleanCache,
    /// Header lines this thread already found clean, with their point counts.
    clean_lines: CleanCache,
    /// Per point of the current request: its verdict is complete and clean.
    point_clean: Vec<bool>,
}

fn set_clean(flags: &mut [bool], i: usize) {
    if let Some(f) = flags.get_mut(i) {
        *f = true;
    }
}

fn bit_set(bits: &mut [u64], i: usize) {
    if let Some(w) = bits.get_mut(i / 64) {
        *w |= 1 << (i % 64);
    }
}
fn bit_get(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// The compiled form of a [`RuleSet`].
#[derive(Debug)]
pub(crate) struct Engine {
    /// Unique per compiled rule set: what a [`CleanCache`] verdict belongs to.
    id: u64,
    rules: Vec<Compiled>,
    /// All prefilter literals, ASCII case-insensitive, as a full DFA walked
    /// directly (one table lookup per byte; see `rules_on`).
    ac: Option<DFA>,
    /// The rules of each automaton pattern, as one bitset per pattern
    /// (`words` u64s each).
    pattern_bits: Vec<u64>,
    /// Rules with no literal, always evaluated.
    always: Vec<u32>,
    /// `always` as a bitset.
    always_bits: Vec<u64>,
    /// Rules targeting each point [`Kind`] (index: `kind_bit` position).
    kind_rules: [Vec<u64>; 7],
    /// Rules with the `custom-headers` target.
    custom_header_rules: Vec<u64>,
    /// Rules naming a header (`header:NAME`), by lowercase name.
    named_header_rules: Vec<(String, Vec<u64>)>,
    /// Per normalisation ([`Normalize::ALL`] order), the rules that ask for
    /// it: a point builds a normalised layer only when one of its rules does.
    normalize_rules: [Vec<u64>; Normalize::ALL.len()],
    /// Rules with prefilter literals: the automaton runs only for them.
    literal_bits: Vec<u64>,
    /// Per [`inert`] class, the rules that may match a value of that class;
    /// the others are dropped from such a point's rules.
    may_match: [Vec<u64>; inert::CLASSES],
    limits: DetectLimits,
}

/// Severity of each anomaly that becomes a `protocol` hit; `None` for those
/// that do not.
fn anomaly_severity(a: Anomaly) -> Option<Severity> {
    use Anomaly as A;
    match a {
        // Framing ambiguities: the request smuggling toolbox (RFC 9112 §6.3, §11.2).
        A::ClAndTe | A::DuplicateCl | A::InvalidTe => Some(Severity::High),
        A::InvalidCl | A::InvalidChunk | A::BareCr => Some(Severity::Medium),
        // Oversized heads and header floods: fuzzing, overflow attempts.
        A::HeaderTooLong | A::TooManyHeaders => Some(Severity::Medium),
        A::InvalidRequestLine | A::InvalidHeader | A::GarbageBeforeRequest => {
            Some(Severity::Medium)
        }
        A::SpaceInUri | A::UnusualVersion => Some(Severity::Low),
        // Not attacks: Gap and Incomplete are capture artefacts. BareLf is
        // sent by many hand-written clients and IoT stacks and is tolerated by
        // RFC 9112 §2.2; MissingHost is common from scripts and HTTP/1.0-style
        // clients; HeaderWhitespace (obs-fold, space before colon) shows up in
        // old proxies. All three would flood real traffic with low-value
        // records, and the dangerous variants are caught as InvalidHeader.
        A::BareLf | A::Gap | A::Incomplete | A::HeaderWhitespace | A::MissingHost => None,
    }
}

impl Engine {
    pub(crate) fn rule_count(&self) -> usize {
        self.rules.len()
    }
}

impl Engine {
    pub(crate) fn new(set: &RuleSet, limits: DetectLimits) -> Engine {
        let mut rules = Vec::with_capacity(set.rules().len());
        let words = set.rules().len().div_ceil(64);
        let mut literals: Vec<Vec<u8>> = Vec::new();
        // The rules of each literal, `words` u64s per literal.
        let mut pattern_bits: Vec<u64> = Vec::new();
        let mut lit_index: std::collections::BTreeMap<Vec<u8>, usize> = Default::default();
        let mut always = Vec::new();
        for (i, r) in set.rules().iter().enumerate() {
            rules.push(compile(r));
            if r.prefilter.is_empty() {
                always.push(i as u32);
            }
            for lit in &r.prefilter {
                let lit = lit.to_ascii_lowercase();
                let slot = *lit_index.entry(lit.clone()).or_insert_with(|| {
                    literals.push(lit);
                    pattern_bits.resize(pattern_bits.len() + words, 0);
                    literals.len() - 1
                });
                if let Some(bits) = pattern_bits.get_mut(slot * words..(slot + 1) * words) {
                    bit_set(bits, i);
                }
            }
        }
        let ac = if literals.is_empty() {
            None
        } else {
            match aho_corasick::dfa::Builder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                // Walked byte by byte in `rules_on`: no prefilter to skip to.
                .prefilter(false)
                .start_kind(StartKind::Unanchored)
                .build(&literals)
            {
                Ok(ac) => Some(ac),
                Err(e) => {
                    // Only possible past aho-corasick's size limits; fall back
                    // to evaluating every rule rather than none.
                    tracing::error!("prefilter automaton failed ({e}); evaluating all rules");
                    always = (0..rules.len() as u32).collect();
                    None
                }
            }
        };
        let mut always_bits = vec![0u64; words];
        for &ri in &always {
            bit_set(&mut always_bits, ri as usize);
        }
        let mut kind_rules: [Vec<u64>; 7] = Default::default();
        kind_rules.iter_mut().for_each(|v| v.resize(words, 0));
        let mut custom_header_rules = vec![0u64; words];
        let mut named_header_rules: Vec<(String, Vec<u64>)> = Vec::new();
        for (ri, rule) in rules.iter().enumerate() {
            for (k, bits) in kind_rules.iter_mut().enumerate() {
                if rule.kinds & (1 << k) != 0 {
                    bit_set(bits, ri);
                }
            }
            if rule.custom_headers {
                bit_set(&mut custom_header_rules, ri);
            }
            for h in &rule.headers {
                let slot = match named_header_rules.iter().position(|(n, _)| n == h) {
                    Some(i) => i,
                    None => {
                        named_header_rules.push((h.clone(), vec![0u64; words]));
                        named_header_rules.len() - 1
                    }
                };
                if let Some((_, bits)) = named_header_rules.get_mut(slot) {
                    bit_set(bits, ri);
                }
            }
        }
        let mut normalize_rules: [Vec<u64>; Normalize::ALL.len()] = Default::default();
        for (bits, n) in normalize_rules.iter_mut().zip(Normalize::ALL) {
            bits.resize(words, 0);
            for (ri, r) in rules.iter().enumerate() {
                if r.normalize & n.bit() != 0 {
                    bit_set(bits, ri);
                }
            }
        }
        let mut literal_bits = vec![0u64; words];
        for (ri, r) in set.rules().iter().enumerate() {
            if !r.prefilter.is_empty() && ac.is_some() {
                bit_set(&mut literal_bits, ri);
            }
        }
        let mut may_match: [Vec<u64>; inert::CLASSES] = Default::default();
        may_match.iter_mut().for_each(|v| v.resize(words, 0));
        for (ri, rule) in rules.iter().enumerate() {
            let may = match &rule.matcher {
                Matcher::Regex(re) => inert::regex_may_match(re.as_str()),
                Matcher::SqliLex => {
                    std::array::from_fn(|c| !sqli::inert_over(|b| inert::member(c, b)))
                }
                Matcher::XssLex => {
                    std::array::from_fn(|c| !xss::inert_over(|b| inert::member(c, b)))
                }
            };
            for (bits, may) in may_match.iter_mut().zip(may) {
                if may {
                    bit_set(bits, ri);
                }
            }
        }
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Engine {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            rules,
            normalize_rules,
            ac,
            pattern_bits,
            always,
            always_bits,
            kind_rules,
            custom_header_rules,
            named_header_rules,
            literal_bits,
            may_match,
            limits,
        }
    }

    /// The rules whose targets include point `p`, as a bitset in `out`
    /// (the same test as [`Compiled::applies`], done once per point rather
    /// than once per rule and decoding layer).
    fn applicable(&self, p: &Point, points: &Points, out: &mut [u64]) {
        let kind = self
            .kind_rules
            .get(kind_bit(p.kind).trailing_zeros() as usize);
        for (i, w) in out.iter_mut().enumerate() {
            *w = kind.and_then(|k| k.get(i)).copied().unwrap_or(0);
        }
        if p.kind != Kind::Header {
            return;
        }
        // The name lowercased on the stack (at most MAX_LOCATION_NAME bytes).
        let raw = points.header_name_bytes(p);
        let mut buf = [0u8; MAX_LOCATION_NAME];
        for (d, s) in buf.iter_mut().zip(raw) {
            *d = s.to_ascii_lowercase();
        }
        let name = buf.get(..raw.len()).unwrap_or_default();
        let mut add = |bits: &[u64]| {
            for (w, b) in out.iter_mut().zip(bits) {
                *w |= b;
            }
        };
        if !super::rule::is_standard_header(name) {
            add(&self.custom_header_rules);
        }
        if let Some((_, bits)) = self
            .named_header_rules
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
        {
            add(bits);
        }
    }

    pub(crate) fn always_evaluated(&self) -> usize {
        self.always.len()
    }

    pub(crate) fn inspect(
        &self,
        req: &Request,
        scratch: &mut Scratch,
        stats: &mut DetectStats,
        hits: &mut Vec<Hit>,
    ) {
        stats.requests += 1;
        let max_hits = self.limits.max_hits_per_request;
        let mut count = 0usize;

        for a in req.anomalies.iter() {
            let Some(severity) = anomaly_severity(a) else {
                continue;
            };
            if count >= max_hits {
                stats.hit_limit_hits += 1;
                return;
            }
            hits.push(Hit {
                rule_id: Arc::from(format!("protocol-{}", a.as_str())),
                class: AttackClass::Protocol,
                severity,
                location: "request".to_string(),
                name_end: "request".len(),
                matched: Vec::new(),
            });
            count += 1;
        }

        let Scratch {
            points,
            layer_a,
            layer_b,
            layer_c,
            candidates,
            hit_here,
            applicable,
            lex,
            norm,
            clean,
            clean_lines,
            point_clean,
        } = scratch;
        // A quarter of the budget for whole header lines, the rest for values.
        let lines_cap = self.limits.clean_cache_bytes / 4;
        clean.bind(self.id, self.limits.clean_cache_bytes - lines_cap);
        clean_lines.bind(self.id, lines_cap);
        points.extract_skipping(req, &self.limits, stats, Some(&mut *clean_lines));
        point_clean.clear();
        point_clean.resize(points.points.len(), false);
        // Body findings (a compression bomb) are protocol hits like anomalies.
        for &f in &points.findings {
            if count >= max_hits {
                stats.hit_limit_hits += 1;
                return;
            }
            // Multipart, JSON and inflation findings are about the body; the
            // others (src/detect/protocol.rs) about the request as a whole.
            let location =
                if f.starts_with("multipart-") || f.starts_with("json-") || f == "compression-bomb"
                {
                    "body"
                } else {
                    "request"
                };
            hits.push(Hit {
                rule_id: Arc::from(format!("protocol-{f}")),
                class: AttackClass::Protocol,
                severity: Severity::Medium,
                location: location.to_string(),
                name_end: location.len(),
                matched: Vec::new(),
            });
            count += 1;
        }
        let words = self.rules.len().div_ceil(64);
        candidates.clear();
        candidates.resize(words, 0);
        hit_here.clear();
        hit_here.resize(words, 0);
        applicable.clear();
        applicable.resize(words, 0);
        let first_hit = hits.len();

        for (pi, p) in points.points.iter().enumerate() {
            stats.points += 1;
            hit_here.iter_mut().for_each(|w| *w = 0);
            self.applicable(p, points, applicable);
            let value = points.value(p);
            // A value of an inert class: only the rules that can match
            // such bytes at all stay (see `inert`); often none does.
            let class = inert::class_of(value).filter(|_| self.limits.skip_inert_values);
            if let Some(may) = class.and_then(|c| self.may_match.get(c)) {
                let mut left = 0;
                for (a, m) in applicable.iter_mut().zip(may) {
                    *a &= m;
                    left |= *a;
                }
                if left == 0 {
                    stats.inert_points += 1;
                    set_clean(point_clean, pi);
                    continue;
                }
            }
            // Query, form and cookie values are form-encoded: an application
            // that decodes one once more (`urldecode($_GET['q'])`, Java's
            // `URLDecoder`, `unquote_plus`) reads a `+` (sent as `%2B`) as a
            // space, so the decoding layers do too (review round 27).
            let plus = matches!(p.kind, Kind::Query | Kind::Body | Kind::Cookie);
            let cacheable = clean.prepare_read(applicable, plus, value);
            if cacheable && clean.contains() {
                stats.clean_cache_hits += 1;
                set_clean(point_clean, pi);
                continue;
            }
            let depth_hits_before = stats.decode_depth_hits;
            // Layer 0: the value as extracted.
            let mut cur: &mut Vec<u8> = layer_a;
            cur.clear();
            cur.extend_from_slice(value);
            if !self.layer(
                p, points, cur, candidates, applicable, hit_here, lex, norm, stats, hits,
                first_hit, &mut count,
            ) {
                return;
            }
            let mut next: &mut Vec<u8> = layer_b;
            let spare: &mut Vec<u8> = layer_c;
            let depth = self.limits.max_decode_depth;
            let mut round = 0;
            // Most values hold no byte any decoding layer rewrites.
            let mut still_changing =
                layers_may_change(cur) || plus && memchr::memchr(b'+', cur).is_some();
            while still_changing && round < depth {
                still_changing = false;
                round += 1;
                for step in 0..5u8 {
                    next.clear();
                    let changed = match step {
                        0 => percent_decode(cur, plus, next),
                        1 => html_entities(cur, next),
                        2 => backslash_escapes(cur, next),
                        3 => fold_overlong_utf8(cur, next),
                        _ => fold_fullwidth(cur, next),
                    };
                    if changed {
                        still_changing = true;
                        std::mem::swap(&mut cur, &mut next);
                        if !self.layer(
                            p, points, cur, candidates, applicable, hit_here, lex, norm, stats,
                            hits, first_hit, &mut count,
                        ) {
                            return;
                        }
                    }
                }
            }
            if still_changing && round >= depth {
                next.clear();
                spare.clear();
                if percent_decode(cur, plus, next) || html_entities(cur, spare) {
                    stats.decode_depth_hits += 1;
                }
            }
            next.clear();
            if remove_nul(cur, next)
                && !self.layer(
                    p, points, next, candidates, applicable, hit_here, lex, norm, stats, hits,
                    first_hit, &mut count,
                )
            {
                return;
            }
            // Clean: no rule matched on any layer (not even one whose hit was
            // merged into an earlier one at the same location), and the
            // verdict is complete (no decoding cut short).
            if hit_here.iter().all(|&w| w == 0) && stats.decode_depth_hits == depth_hits_before {
                set_clean(point_clean, pi);
                if cacheable {
                    clean.insert();
                }
            }
        }
        // Header lines all of whose points were found clean, completely.
        for line in &points.header_lines {
            let (Some(hash), true) = (line.hash, line.complete) else {
                continue;
            };
            let all_clean = point_clean
                .get(line.points.clone())
                .is_some_and(|c| c.iter().all(|&c| c));
            let (Ok(count), Some(h)) = (
                u8::try_from(line.points.len()),
                req.headers.get(line.header),
            ) else {
                continue;
            };
            if all_clean {
                clean_lines.insert_line(hash, h.name, h.value, count);
            }
        }
    }

    /// Run the rules on one layer of one point, then the rules that ask for
    /// a normalisation on that layer's normalised form (when it differs).
    /// Only rules in `applicable` (those targeting the point) are evaluated.
    /// Returns false once the hit limit is reached (the request is done).
    #[allow(clippy::too_many_arguments)]
    fn layer(
        &self,
        p: &Point,
        points: &Points,
        data: &[u8],
        candidates: &mut [u64],
        applicable: &[u64],
        hit_here: &mut [u64],
        lex: &mut Vec<u8>,
        norm: &mut Vec<u8>,
        stats: &mut DetectStats,
        hits: &mut Vec<Hit>,
        first_hit: usize,
        count: &mut usize,
    ) -> bool {
        if !self.rules_on(
            p, points, data, 0, candidates, applicable, hit_here, lex, stats, hits, first_hit,
            count,
        ) {
            return false;
        }
        for (n, wanting) in Normalize::ALL.into_iter().zip(&self.normalize_rules) {
            if applicable.iter().zip(wanting).any(|(a, w)| a & w != 0)
                && n.apply(data, norm)
                && !self.rules_on(
                    p,
                    points,
                    norm,
                    n.bit(),
                    candidates,
                    applicable,
                    hit_here,
                    lex,
                    stats,
                    hits,
                    first_hit,
                    count,
                )
            {
                return false;
            }
        }
        true
    }

    /// Run the rules on `data`: all of them when `only` is 0, else those
    /// whose normalisation mask has a bit of `only`. Returns false once the
    /// hit limit is reached.
    #[allow(clippy::too_many_arguments)]
    fn rules_on(
        &self,
        p: &Point,
        points: &Points,
        data: &[u8],
        only: u8,
        candidates: &mut [u64],
        applicable: &[u64],
        hit_here: &mut [u64],
        lex: &mut Vec<u8>,
        stats: &mut DetectStats,
        hits: &mut Vec<Hit>,
        first_hit: usize,
        count: &mut usize,
    ) -> bool {
        if data.is_empty() {
            return true;
        }
        candidates.iter_mut().for_each(|w| *w = 0);
        let mut any = false;
        let literal_rules_apply = applicable
            .iter()
            .zip(&self.literal_bits)
            .any(|(a, l)| a & l != 0);
        if let Some(ac) = self.ac.as_ref().filter(|_| literal_rules_apply) {
            any = self.literal_candidates(ac, data, candidates);
        }
        // Prefilter candidates first, then the rules without literals, each
        // in rule order and only where the rule targets this point.
        if any
            && !self.eval_set(
                candidates, applicable, only, p, points, data, hit_here, lex, stats, hits,
                first_hit, count,
            )
        {
            return false;
        }
        self.eval_set(
            &self.always_bits,
            applicable,
            only,
            p,
            points,
            data,
            hit_here,
            lex,
            stats,
            hits,
            first_hit,
            count,
        )
    }

    /// Mark in `candidates` every rule one of whose literals occurs in
    /// `data` (overlapping: a literal inside or across another still
    /// counts). The DFA is walked directly rather than through an iterator
    /// of matches: benign values are full of short literals (`/`, `=`,
    /// `on`), and a match here costs one OR of a precomputed bitset instead
    /// of a resumed search. Returns whether any rule was marked.
    fn literal_candidates(&self, ac: &DFA, data: &[u8], candidates: &mut [u64]) -> bool {
        let Ok(mut sid) = ac.start_state(Anchored::No) else {
            return false;
        };
        let words = candidates.len();
        let mut any = false;
        for &b in data {
            sid = ac.next_state(Anchored::No, sid, b);
            if !ac.is_special(sid) {
                continue;
            }
            if ac.is_dead(sid) {
                break;
            }
            if !ac.is_match(sid) {
                continue;
            }
            for i in 0..ac.match_len(sid) {
                let pattern = ac.match_pattern(sid, i).as_usize();
                let bits = self
                    .pattern_bits
                    .get(pattern * words..(pattern + 1) * words)
                    .unwrap_or_default();
                for (c, b) in candidates.iter_mut().zip(bits) {
                    *c |= b;
                }
                any = true;
            }
        }
        any
    }

    /// Evaluate the rules in `set & applicable` (skipping, when `only` is
    /// set, those that did not ask for that normalisation). Returns false
    /// once the hit limit is reached.
    #[allow(clippy::too_many_arguments)]
    fn eval_set(
        &self,
        set: &[u64],
        applicable: &[u64],
        only: u8,
        p: &Point,
        points: &Points,
        data: &[u8],
        hit_here: &mut [u64],
        lex: &mut Vec<u8>,
        stats: &mut DetectStats,
        hits: &mut Vec<Hit>,
        first_hit: usize,
        count: &mut usize,
    ) -> bool {
        for (wi, (&w, &a)) in set.iter().zip(applicable).enumerate() {
            let mut w = w & a;
            while w != 0 {
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                let ri = wi * 64 + bit;
                if only != 0 && self.rules.get(ri).map_or(true, |r| r.normalize & only == 0) {
                    continue;
                }
                if !self.eval(
                    ri, p, points, data, hit_here, lex, stats, hits, first_hit, count,
                ) {
                    return false;
                }
            }
        }
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn eval(
        &self,
        ri: usize,
        p: &Point,
        points: &Points,
        data: &[u8],
        hit_here: &mut [u64],
        lex: &mut Vec<u8>,
        stats: &mut DetectStats,
        hits: &mut Vec<Hit>,
        first_hit: usize,
        count: &mut usize,
    ) -> bool {
        let Some(rule) = self.rules.get(ri) else {
            return true;
        };
        // `layer` passes only rules that apply to `p`.
        if bit_get(hit_here, ri) {
            return true;
        }
        stats.regex_evaluations += 1;
        let mb: &[u8] = match &rule.matcher {
            Matcher::Regex(re) => match re.find(data) {
                Some(m) => m.as_bytes(),
                None => return true,
            },
            Matcher::SqliLex => match sqli::check(data, lex) {
                Some(f) => f.matched(data, lex),
                None => return true,
            },
            Matcher::XssLex => match xss::check(data) {
                Some(f) => data.get(f.range).unwrap_or_default(),
                None => return true,
            },
        };
        bit_set(hit_here, ri);
        let (loc, name_end) = points.loc_and_name_end(p);
        // One hit per (rule, location): repeated names share a location.
        // `q` decoded (`query:q:base64`) and a parameter named `q:base64`
        // share the string, not the name, and an exclusion may drop one.
        if hits
            .get(first_hit..)
            .unwrap_or_default()
            .iter()
            .any(|h| h.rule_id == rule.id && h.location == loc && h.name_end == name_end)
        {
            return true;
        }
        if *count >= self.limits.max_hits_per_request {
            stats.hit_limit_hits += 1;
            return false;
        }
        hits.push(Hit {
            rule_id: rule.id.clone(),
            class: rule.class,
            severity: rule.severity,
            location: loc,
            name_end,
            matched: mb.get(..MAX_MATCHED_BYTES).unwrap_or(mb).to_vec(),
        });
        *count += 1;
        true
    }
}

fn compile(r: &Rule) -> Compiled {
    let mut kinds = 0u8;
    let mut headers = Vec::new();
    let mut custom_headers = false;
    for t in &r.targets {
        match t {
            Target::Path => kinds |= kind_bit(Kind::Path),
            Target::Query => kinds |= kind_bit(Kind::Query),
            Target::Body => kinds |= kind_bit(Kind::Body),
            Target::Cookie => kinds |= kind_bit(Kind::Cookie),
            Target::Headers => kinds |= kind_bit(Kind::Header),
            Target::Method => kinds |= kind_bit(Kind::Method),
            Target::Uri => kinds |= kind_bit(Kind::Uri),
            Target::Header(h) => headers.push(h.clone()),
            Target::CustomHeaders => custom_headers = true,
        }
    }
    Compiled {
        normalize: r.normalize.iter().fold(0, |m, n| m | n.bit()),
        id: Arc::from(r.id.as_str()),
        class: r.class,
        severity: r.severity,
        matcher: r.matcher.clone(),
        kinds,
        headers,
        custom_headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::rule::PrefilterCheck;
    use crate::detect::tests::req;

    /// The per-point bitset selects exactly the rules whose targets include
    /// the point, for every kind of point and standard, custom and named headers.
    #[test]
    fn applicable_bitset_matches_each_rules_targets() {
        let engine = Engine::new(&RuleSet::builtin(), DetectLimits::default());
        let mut headers: Vec<(&str, &str)> = vec![
            ("Host", "a"),
            ("User-Agent", "x"),
            ("Referer", "http://b/"),
            ("Cookie", "s=1; t=2"),
            ("X-Custom", "v"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        let named: Vec<String> = engine
            .named_header_rules
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        headers.extend(named.iter().map(|n| (n.as_str(), "v")));
        let r = req("POST", "/p/a?q=1&r=2", &headers, b"f=1&g=2");
        let mut points = Points::default();
        points.extract(&r, &DetectLimits::default(), &mut DetectStats::default());
        let mut bits = vec![0u64; engine.rules.len().div_ceil(64)];
        let mut kinds = std::collections::HashSet::new();
        for p in &points.points {
            kinds.insert(kind_bit(p.kind));
            engine.applicable(p, &points, &mut bits);
            for (ri, rule) in engine.rules.iter().enumerate() {
                assert_eq!(
                    bit_get(&bits, ri),
                    rule.applies(p, &points),
                    "rule {} at {}",
                    rule.id,
                    points.loc(p)
                );
            }
        }
        assert!(kinds.len() >= 6, "{kinds:?}");
    }

    /// A value `rule`'s regex matches with none of its prefilter literals.
    fn prefilter_miss(rule: &Rule) -> Option<Vec<u8>> {
        let Matcher::Regex(re) = &rule.matcher else {
            return None;
        };
        match super::super::rule::prefilter_counterexample(re, &rule.prefilter) {
            PrefilterCheck::Miss(w) => Some(w),
            PrefilterCheck::NoMissFound => None,
            PrefilterCheck::TooLarge => panic!("{}: too large to check", rule.id),
        }
    }

    /// The prefilter may only skip a rule on a value it cannot match: the
    /// engine evaluates a rule with literals only where one occurs, so a
    /// `prefilter` written in a rule file must hold a literal of every match
    /// of its pattern (derived ones do by construction). Several written
    /// lists missed a spelling their own pattern accepts, and the attack
    /// went unreported by every rule: `http://x@[fd00::1]/` (userinfo before
    /// the bracket: no `://[`), `f( ){ f|f& };f` (bash takes `( )` as `()`),
    /// PHP's `$<tab>{$b}(1)` (a tab is whitespace to PHP's lexer as a space
    /// is), `ipv6-loopback:8080/`, `imap:127.0.0.1`, `.shell whoami`.
    /// Severity: High (a shortcut hides a hit the full rule evaluation makes).
    #[test]
    fn review23b_written_prefilters_hold_a_literal_of_every_match() {
        let set = RuleSet::builtin();
        let misses: Vec<String> = set
            .rules()
            .iter()
            .filter(|r| r.prefilter_explicit)
            .filter_map(|r| {
                prefilter_miss(r).map(|w| format!("{}: {:?}", r.id, String::from_utf8_lossy(&w)))
            })
            .collect();
        assert!(
            misses.is_empty(),
            "matches without a prefilter literal:\n{}",
            misses.join("\n")
        );
    }
}
