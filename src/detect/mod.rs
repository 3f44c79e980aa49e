//! Detect: signatures over a normalised view of one request.
//!
//! Owns the rule file format ([`rule`]: parsing, validation with
//! line-precise errors, the built-in set of `rules/*.toml` compiled into the
//! binary), the splitting of a request into named inspection points
//! ([`point`]: path, query arguments, headers, cookies, form / JSON /
//! multipart bodies), their decoding layers ([`decode`]: percent, `%u`, HTML
//! entities, `\x`/`\u` escapes, NUL removal, path normalisation), and the
//! matching engine: one Aho-Corasick literal prefilter that selects candidate
//! rules, then linear-time regex confirmation. Protocol anomalies found by
//! `http` become `protocol` hits.
//!
//! Guarantees: never panics on request bytes; work per request is bounded by
//! [`DetectLimits`] (points, bytes per point, decoding depth, hits), and each
//! limit hit is counted in [`DetectStats`]; one hit per (rule, location);
//! [`Detector`] is `Send + Sync` and inspection reuses per-thread buffers.
//! Sees a [`Request`], nothing below it. Hands on
//! [`Hit`]s.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::http::Request;

pub mod body;
mod builtin;
pub mod clean_cache;
pub mod decode;
mod engine;
mod inert;
pub mod normalize;
pub mod point;
pub mod protocol;
pub mod rule;
pub mod sqli;
#[cfg(test)]
pub(crate) mod tests;
pub mod tuning;
pub mod xss;

use engine::Engine;
pub use engine::{Scratch, MAX_MATCHED_BYTES};
pub use rule::{Matcher, Rule, Target};

/// Attack class, as stored in records (`attack_class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttackClass {
    Sqli,
    Nosqli,
    Xss,
    Rce,
    Ptrav,
    Rfi,
    Ssrf,
    Ssti,
    Xxe,
    Ldapi,
    Crlf,
    Ssi,
    MailInjection,
    /// Setting or planting a session identifier for the victim (CRS 943).
    SessionFixation,
    Scanner,
    Protocol,
}

impl AttackClass {
    pub const ALL: [AttackClass; 16] = [
        AttackClass::Sqli,
        AttackClass::Nosqli,
        AttackClass::Xss,
        AttackClass::Rce,
        AttackClass::Ptrav,
        AttackClass::Rfi,
        AttackClass::Ssrf,
        AttackClass::Ssti,
        AttackClass::Xxe,
        AttackClass::Ldapi,
        AttackClass::Crlf,
        AttackClass::Ssi,
        AttackClass::MailInjection,
        AttackClass::SessionFixation,
        AttackClass::Scanner,
        AttackClass::Protocol,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttackClass::Sqli => "sqli",
            AttackClass::Nosqli => "nosqli",
            AttackClass::Xss => "xss",
            AttackClass::Rce => "rce",
            AttackClass::Ptrav => "ptrav",
            AttackClass::Rfi => "rfi",
            AttackClass::Ssrf => "ssrf",
            AttackClass::Ssti => "ssti",
            AttackClass::Xxe => "xxe",
            AttackClass::Ldapi => "ldapi",
            AttackClass::Crlf => "crlf",
            AttackClass::Ssi => "ssi",
            AttackClass::MailInjection => "mail_injection",
            AttackClass::SessionFixation => "session_fixation",
            AttackClass::Scanner => "scanner",
            AttackClass::Protocol => "protocol",
        }
    }

    pub fn parse(s: &str) -> Option<AttackClass> {
        AttackClass::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Severity of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// One detection: a rule matched at a location of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub rule_id: Arc<str>,
    pub class: AttackClass,
    pub severity: Severity,
    /// `path`, `query:NAME`, `header:NAME`, `cookie:NAME`, `body:NAME`,
    /// `body:json:a.b[2]` or `body`.
    pub location: String,
    /// Bytes of `location` up to the end of the name the request chose;
    /// what follows is a suffix Specula appended (`:base64`,
    /// `:jwt.payload`, `:filename`). A name may hold `:` itself
    /// (`?q:base64=`), so exclusions need to know where it ends.
    pub name_end: usize,
    /// The matching text after decoding, at most 256 bytes.
    pub matched: Vec<u8>,
}

/// A rule file could not be used. Displays as `path:line:col: message`.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}:{col}: {message}", path.display())]
pub struct RuleError {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// A validated set of rules.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// The signatures compiled into the binary (`rules/*.toml`). They are
    /// validated by the tests; should one ever fail to parse, the error is
    /// logged and the remaining rules are used.
    pub fn builtin() -> RuleSet {
        let mut seen = BTreeMap::new();
        let mut rules = Vec::new();
        for (name, source) in builtin::FILES {
            let (mut r, errors) = rule::parse_builtin_source(source, Path::new(name), &mut seen);
            for e in errors {
                tracing::error!("built-in rules: {e}");
            }
            rules.append(&mut r);
        }
        RuleSet { rules }
    }

    /// Parse one rule file's text; `path` is only used in errors.
    pub fn parse(source: &str, path: &Path) -> Result<RuleSet, Vec<RuleError>> {
        let mut seen = BTreeMap::new();
        let (rules, errors) = rule::parse_source(source, path, &mut seen);
        if errors.is_empty() {
            Ok(RuleSet { rules })
        } else {
            Err(errors)
        }
    }

    /// Load a rule file, or every `*.toml` file of a folder (sorted by name).
    /// Returns every error of every file. Finding no rule at all (an empty
    /// file, a folder without rule files) is an error, unless a file says
    /// `rule = []`: a reload must not swap the running rules for none
    /// because a file was caught half-written.
    pub fn load(path: &Path) -> Result<RuleSet, Vec<RuleError>> {
        let io_err = |p: &Path, e: std::io::Error| RuleError {
            path: p.to_path_buf(),
            line: 0,
            col: 0,
            message: e.to_string(),
        };
        let files = if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| vec![io_err(path, e)])?;
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| vec![io_err(path, e)])?;
                let p = entry.path();
                if p.extension().is_some_and(|x| x == "toml") && p.is_file() {
                    files.push(p);
                }
            }
            files.sort();
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut seen = BTreeMap::new();
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        let mut empty_on_purpose = false;
        let no_files = files.is_empty();
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(src) => {
                    let (mut r, mut e) = rule::parse_source(&src, &f, &mut seen);
                    empty_on_purpose |= r.is_empty() && rule::declares_no_rules(&src);
                    rules.append(&mut r);
                    errors.append(&mut e);
                }
                Err(e) => errors.push(io_err(&f, e)),
            }
        }
        if rules.is_empty() && errors.is_empty() && !empty_on_purpose {
            errors.push(RuleError {
                path: path.to_path_buf(),
                line: 0,
                col: 0,
                message: if no_files {
                    "no *.toml rule file in this folder (write `rule = []` in one for no rules)"
                        .into()
                } else {
                    "no rule found (write `rule = []` for no rules on purpose)".into()
                },
            });
        }
        if errors.is_empty() {
            Ok(RuleSet { rules })
        } else {
            Err(errors)
        }
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bounds on the work spent on one request. Hitting one is recorded in
/// [`DetectStats`], never silent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectLimits {
    /// Most inspection points per request (default 512); later points are
    /// not made (`point_limit_hits`), but the query, each later header and
    /// `Cookie` header and the body are inspected whole, one point each.
    pub max_points: usize,
    /// Most bytes inspected per point (default 16 KiB); the rest is not
    /// inspected (`point_bytes_truncated`).
    pub max_point_bytes: usize,
    /// Most decoding rounds per point (one round = percent, HTML entities,
    /// backslash escapes; each layer that changes is inspected). Also bounds
    /// the repeated percent-decoding of the path. Default 3. Input still
    /// encoded after that is inspected as is and counted in
    /// `decode_depth_hits`.
    pub max_decode_depth: usize,
    /// Most hits reported per request (default 32); inspection of the
    /// request stops there (`hit_limit_hits`).
    pub max_hits_per_request: usize,
    /// Most bytes a `Content-Encoding: gzip / x-gzip / deflate` request body
    /// is inflated to (default 256 KiB). Beyond it the body is a bomb: a
    /// `protocol-compression-bomb` hit, `body_inflate_bombs`, and only the
    /// first bytes are inspected.
    pub max_inflated_body_bytes: usize,
    /// Most inflated bytes per compressed byte (default 100; outputs under
    /// 4 KiB never count). Beyond it: a bomb, as above.
    pub max_inflate_ratio: usize,
    /// Bytes per worker for remembering point values found clean, so that
    /// repeated header values are not inspected again (default 2 MiB; 0
    /// turns it off); a quarter of it remembers whole header lines. See
    /// [`clean_cache`].
    pub clean_cache_bytes: usize,
    /// Whether a point whose value is made only of digits, hex digits and
    /// address punctuation skips the rules that cannot match such bytes
    /// ([`inert`]). Changes no verdict; off only to compare.
    pub skip_inert_values: bool,
    /// Thresholds of the request-level protocol checks (`[detect.protocol]`).
    pub protocol: protocol::ProtocolPolicy,
}

impl Default for DetectLimits {
    fn default() -> Self {
        DetectLimits {
            max_points: 512,
            max_point_bytes: 16 * 1024,
            max_decode_depth: 3,
            max_hits_per_request: 32,
            max_inflated_body_bytes: 256 * 1024,
            max_inflate_ratio: 100,
            clean_cache_bytes: 2 << 20,
            skip_inert_values: true,
            protocol: protocol::ProtocolPolicy::default(),
        }
    }
}

/// Counters, all monotonic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectStats {
    pub requests: u64,
    pub points: u64,
    pub regex_evaluations: u64,
    pub point_limit_hits: u64,
    pub point_bytes_truncated: u64,
    pub decode_depth_hits: u64,
    pub hit_limit_hits: u64,
    /// Points skipped because the same value was found clean before under
    /// the same rules ([`clean_cache`]).
    pub clean_cache_hits: u64,
    /// Header lines not even split into points because the same name and
    /// value were found clean before ([`clean_cache`]).
    pub clean_header_hits: u64,
    /// Points skipped because no rule targeting them can match a value of
    /// their byte class (digits, hex, address lists; [`inert`]).
    pub inert_points: u64,
    /// XML bodies that were not well-formed (inspected raw as well).
    pub body_parse_errors: u64,
    /// XML bodies nested deeper than the walk goes.
    pub body_depth_hits: u64,
    /// Compressed bodies over `max_inflated_body_bytes` or `max_inflate_ratio`.
    pub body_inflate_bombs: u64,
    /// Compressed bodies that could not be inflated (bad data or a coding
    /// that is not supported); inspected as they are.
    pub body_inflate_errors: u64,
    /// Values decoded from base64 / JWT parts and inspected as extra points.
    pub base64_decoded: u64,
    /// Hits dropped by a `[[detect.exclude]]` entry.
    pub hits_excluded: u64,
}

/// Compiled rules, shared read-only by every worker (`Send + Sync`).
#[derive(Debug)]
pub struct Detector {
    engine: Engine,
    exclusions: Vec<tuning::Exclusion>,
    /// Rules left out because their paranoia level is above the configured one.
    rules_above_paranoia: usize,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Detector {
    pub fn new(rules: &RuleSet, limits: DetectLimits) -> Detector {
        Detector::with_tuning(rules, limits, &tuning::Tuning::default())
    }

    /// Compile the rules of `rules` whose paranoia level is at most
    /// `tuning.paranoia`, and drop hits `tuning.exclude` names.
    pub fn with_tuning(rules: &RuleSet, limits: DetectLimits, tuning: &tuning::Tuning) -> Detector {
        let kept: Vec<Rule> = rules
            .rules
            .iter()
            .filter(|r| r.paranoia <= tuning.paranoia)
            .cloned()
            .collect();
        let rules_above_paranoia = rules.rules.len() - kept.len();
        Detector {
            engine: Engine::new(&RuleSet { rules: kept }, limits),
            exclusions: tuning.exclude.clone(),
            rules_above_paranoia,
        }
    }

    /// Rules of the set not compiled because of the paranoia level.
    pub fn rules_above_paranoia(&self) -> usize {
        self.rules_above_paranoia
    }

    /// Drop the hits from `first` on that an exclusion names.
    fn apply_exclusions(
        &self,
        req: &Request,
        stats: &mut DetectStats,
        hits: &mut Vec<Hit>,
        first: usize,
    ) {
        if self.exclusions.is_empty() || hits.len() <= first {
            return;
        }
        let scope = tuning::Scope::of(req);
        let mut kept = first;
        for i in first..hits.len() {
            let drop = hits
                .get(i)
                .is_some_and(|h| tuning::excluded(&self.exclusions, &scope, h));
            if drop {
                stats.hits_excluded += 1;
            } else {
                hits.swap(kept, i);
                kept += 1;
            }
        }
        hits.truncate(kept);
    }

    /// Number of compiled rules.
    pub fn rule_count(&self) -> usize {
        self.engine.rule_count()
    }

    /// Number of rules without prefilter literals (run on every value).
    pub fn always_evaluated_rules(&self) -> usize {
        self.engine.always_evaluated()
    }

    /// Inspect one request; hits are appended to `hits`. Uses a thread-local
    /// [`Scratch`], so steady-state inspection allocates only the hits.
    pub fn inspect(&self, req: &Request, stats: &mut DetectStats, hits: &mut Vec<Hit>) {
        let first = hits.len();
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => self.engine.inspect(req, &mut scratch, stats, hits),
            // Re-entrance cannot happen today; stay correct if it ever does.
            Err(_) => self
                .engine
                .inspect(req, &mut Scratch::default(), stats, hits),
        });
        self.apply_exclusions(req, stats, hits, first);
    }

    /// Like [`Detector::inspect`] with caller-owned buffers.
    pub fn inspect_with(
        &self,
        req: &Request,
        scratch: &mut Scratch,
        stats: &mut DetectStats,
        hits: &mut Vec<Hit>,
    ) {
        let first = hits.len();
        self.engine.inspect(req, scratch, stats, hits);
        self.apply_exclusions(req, stats, hits, first);
    }
}
