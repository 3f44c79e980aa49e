//! Turning a request and its hits into output records: endpoints, the real
//! client behind trusted proxies, the request key, and (attack records) the
//! request context, all masked by the [`Masker`] before they leave the worker.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{ClientIpHeader, EmitMode};
use crate::detect::Hit;
use crate::http::{Request, Version};
use crate::reassembly::{Direction, Endpoint, FlowInfo};
use crate::sink::{escape_bytes, format_ts, AttackFields, Record, RequestContext};

use super::mask::{MaskedRequest, Masker};

/// Which packet sources may tell us the real client (`X-Real-IP`,
/// `X-Forwarded-For`).
#[derive(Debug, Clone, Default)]
pub struct ClientIpPolicy {
    pub trusted_proxies: Vec<IpNet>,
    /// Which header names the client (`[trust] client_ip_header`).
    pub header: ClientIpHeader,
}

impl ClientIpPolicy {
    /// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.2`, what a proxy on a
    /// dual-stack socket writes) match IPv4 networks, as in nginx.
    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }

    /// The real client of a request sent from `src`, and whether it came from
    /// a header. Headers are believed only when `src` is a trusted proxy;
    /// the last `X-Real-IP` wins, then `X-Forwarded-For` walked from the right,
    /// skipping trusted hops (the rightmost untrusted address is the first
    /// one no trusted proxy could have forged).
    pub fn resolve(&self, src: IpAddr, req: &Request) -> (IpAddr, bool) {
        if !self.is_trusted(src) {
            return (src, false);
        }
        // The last `X-Real-IP` (and the last address in it): the one the
        // nearest proxy wrote. A proxy that adds its own instead of
        // replacing it (HAProxy `add-header`) passes the client's forged one
        // on in front of it (review round 15).
        // Only `auto` and `x-real-ip` read it: behind a proxy that writes
        // one of the chains alone, a client's own `X-Real-IP` passes through.
        let reads_real_ip = matches!(self.header, ClientIpHeader::Auto | ClientIpHeader::XRealIp);
        let real_ip = reads_real_ip
            .then(|| {
                req.head_fields()
                    .rev()
                    .find(|h| h.name.eq_ignore_ascii_case(b"x-real-ip"))
            })
            .flatten()
            .and_then(|h| h.value.rsplit(|b| *b == b',').next())
            .and_then(parse_ip);
        if let Some(ip) = real_ip {
            return (ip, true);
        }
        let chain = match self.header {
            ClientIpHeader::XRealIp => None,
            ClientIpHeader::XForwardedFor => self.walk(xff_hops(req)),
            ClientIpHeader::Forwarded => self.walk(forwarded_hops(req)),
            // A proxy speaking RFC 7239 only (HAProxy `option forwarded`)
            // writes no `X-Forwarded-For`.
            ClientIpHeader::Auto => self
                .walk(xff_hops(req))
                .or_else(|| self.walk(forwarded_hops(req))),
        };
        chain.map_or((src, false), |ip| (ip, true))
    }

    /// Walks a proxy chain from the right (the nearest hop first) to the
    /// first address no trusted proxy wrote. A hop that is no address
    /// (garbage, `unknown`, an obfuscated `_node`) ends the walk at the
    /// last good one: whatever lies left of it was never vouched for.
    fn walk(&self, hops: impl Iterator<Item = Option<IpAddr>>) -> Option<IpAddr> {
        let mut last = None;
        for hop in hops {
            let Some(ip) = hop else {
                return last;
            };
            if !self.is_trusted(ip) {
                return Some(ip);
            }
            last = Some(ip);
        }
        last
    }
}

/// `X-Forwarded-For` hops, nearest first (the last header's last address).
/// Trailer fields are the client's own, written after the head a proxy
/// appended to (review round 27): no server reads an address there.
fn xff_hops(req: &Request) -> impl Iterator<Item = Option<IpAddr>> + '_ {
    req.head_fields()
        .rev()
        .filter(|h| h.name.eq_ignore_ascii_case(b"x-forwarded-for"))
        .flat_map(|h| h.value.rsplit(|b| *b == b','))
        .map(parse_ip)
}

/// RFC 7239 `Forwarded` hops, nearest first: the `for=` of each element
/// (`for=192.0.2.60;proto=http`, `for="[2001:db8::17]:4711"`). An element
/// without one is no address, and so is a header whose quoting never
/// closes: a proxy appending `, for=…` to the client's `for=6.6.6.6;x="`
/// would otherwise have its element swallowed into the client's.
fn forwarded_hops(req: &Request) -> impl Iterator<Item = Option<IpAddr>> + '_ {
    req.head_fields()
        .rev()
        .filter(|h| h.name.eq_ignore_ascii_case(b"forwarded"))
        .flat_map(|h| match split_unquoted(h.value, b',') {
            Some(elements) => elements.into_iter().rev().map(forwarded_for).collect(),
            None => vec![None],
        })
}

/// The `for=` address of one `Forwarded` element.
fn forwarded_for(element: &[u8]) -> Option<IpAddr> {
    split_unquoted(element, b';')?.into_iter().find_map(|pair| {
        let (name, value) = pair.split_at(pair.iter().position(|&b| b == b'=')?);
        let value = value.get(1..)?.trim_ascii();
        let value = value
            .strip_prefix(b"\"")
            .and_then(|v| v.strip_suffix(b"\""))
            .unwrap_or(value);
        name.trim_ascii()
            .eq_ignore_ascii_case(b"for")
            .then(|| parse_ip(value))
            .flatten()
    })
}

/// `value` cut at every `sep` outside a quoted string (RFC 9110 §5.6.4:
/// a quoted `for="[::1]:80"` may hold anything but an unescaped quote);
/// `None` when a quoted string never closes.
fn split_unquoted(value: &[u8], sep: u8) -> Option<Vec<&[u8]>> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, &b) in value.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            _ if b == sep && !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    parts.push(&value[start..]);
    Some(parts)
}

/// Most bytes of an untrusted claim kept in `client_ip_claimed`.
const MAX_CLAIM_BYTES: usize = 128;

impl ClientIpPolicy {
    /// What `src` claimed as the client when it is not a trusted proxy: the
    /// `X-Real-IP` value, else the `X-Forwarded-For` chain (a spoofing
    /// attempt, or a proxy missing from `--trusted-proxy`), cut to
    /// [`MAX_CLAIM_BYTES`].
    pub fn untrusted_claim(&self, src: IpAddr, req: &Request) -> Option<String> {
        let (_, value) = self.untrusted_claim_header(src, req)?;
        let value = value.get(..MAX_CLAIM_BYTES).unwrap_or(value);
        Some(escape_bytes(value.trim_ascii()))
    }

    /// [`untrusted_claim`](Self::untrusted_claim) masked as its header is
    /// in `headers` (a header configured to be masked must not show in
    /// clear at the top level: review round 21).
    pub fn untrusted_claim_masked(
        &self,
        src: IpAddr,
        req: &Request,
        masker: &Masker,
    ) -> Option<String> {
        let (name, value) = self.untrusted_claim_header(src, req)?;
        // Masked before it is cut, never inside a mask: a cut token or card
        // number would no longer have its shape (review round 24). A secret
        // longer than the sweep's is a known limit anyway.
        let value = value
            .get(..MAX_CLAIM_BYTES + super::mask::SWEEP_MAX_BYTES)
            .unwrap_or(value);
        let masked = masker.mask_header(name.as_bytes(), value.trim_ascii());
        let cut = super::mask::cut_excerpt(&masked, MAX_CLAIM_BYTES);
        Some(escape_bytes(
            masked.get(..cut).unwrap_or_default().trim_ascii(),
        ))
    }

    /// Whether `src`, not a trusted proxy, claims a client in `X-Real-IP` /
    /// `X-Forwarded-For` (what `specula_http_client_ip_claims_untrusted_total`
    /// counts, per request, whether or not a record is written).
    pub fn claims_untrusted(&self, src: IpAddr, req: &Request) -> bool {
        self.untrusted_claim_bytes(src, req).is_some()
    }

    fn untrusted_claim_bytes<'r>(&self, src: IpAddr, req: &'r Request) -> Option<&'r [u8]> {
        self.untrusted_claim_header(src, req).map(|(_, v)| v)
    }

    /// The claiming header's name and value.
    fn untrusted_claim_header<'r>(
        &self,
        src: IpAddr,
        req: &'r Request,
    ) -> Option<(&'static str, &'r [u8])> {
        if self.is_trusted(src) {
            return None;
        }
        ["x-real-ip", "x-forwarded-for", "forwarded"]
            .into_iter()
            .find_map(|name| req.header(name).map(|v| (name, v)))
    }
}

fn parse_ip(raw: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(raw).ok()?.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .unwrap_or(s);
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    // "192.0.2.1:1234"
    let (host, _port) = s.rsplit_once(':')?;
    host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

fn version_str(v: Version) -> String {
    match v {
        Version::Http09 => "HTTP/0.9".to_string(),
        Version::Http10 => "HTTP/1.0".to_string(),
        Version::Http11 => "HTTP/1.1".to_string(),
        Version::Other(a, b) => format!("HTTP/{a}.{b}"),
    }
}

/// Most bytes of `matched` kept (contract: at most 256).
const MATCHED_MAX: usize = 256;

/// The request context of attack records, from the masked request.
fn context(req: &Request, masked: &MaskedRequest) -> RequestContext {
    let mut line = escape_bytes(&req.method);
    line.push(' ');
    line.push_str(&escape_bytes(&masked.uri));
    if req.version != Version::Http09 {
        line.push(' ');
        line.push_str(&version_str(req.version));
    }
    RequestContext {
        request_line: line,
        headers: masked
            .headers
            .iter()
            .map(|(n, v)| (escape_bytes(n), escape_bytes(v)))
            .collect(),
        body_excerpt: escape_bytes(&masked.body_excerpt),
    }
}

/// A header copied to a record's top level, masked as in `headers` (a
/// header configured to be masked must not show in clear here).
fn top_header(
    req: &Request,
    masked: Option<&MaskedRequest>,
    masker: &Masker,
    name: &str,
) -> Option<String> {
    match masked {
        // The first of that name, as `Request::header` picks.
        Some(m) => m
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| escape_bytes(v)),
        None => req
            .header(name)
            .map(|v| escape_bytes(&masker.mask_header(name.as_bytes(), v))),
    }
}

/// Append the records of one request to `out`: one per hit with
/// `EmitMode::Attacks`, exactly one with `EmitMode::Requests`, the request
/// record then the hits with `EmitMode::Both`.
pub(crate) fn build_records(
    flow: &FlowInfo,
    req: &Request,
    hits: &[Hit],
    emit: EmitMode,
    policy: &ClientIpPolicy,
    masker: &Masker,
    out: &mut Vec<Record>,
) {
    if emit == EmitMode::Attacks && hits.is_empty() {
        return;
    }
    // Masked once per request: the whole view for attack records, only the
    // target for a request record (masking is not per packet, nor per hit).
    let masked = (emit != EmitMode::Requests && !hits.is_empty()).then(|| masker.mask_request(req));
    let uri = match &masked {
        Some(m) => escape_bytes(&m.uri),
        None => escape_bytes(&masker.mask_uri(&req.uri)),
    };
    let (src, dst): (Endpoint, Endpoint) = match req.dir {
        Direction::ToServer => (flow.client, flow.server),
        Direction::ToClient => (flow.server, flow.client),
    };
    let (client, from_header) = policy.resolve(src.ip, req);
    let base = Record {
        ts: format_ts(req.ts),
        src_ip: src.ip.to_string(),
        src_port: src.port,
        dst_ip: dst.ip.to_string(),
        dst_port: dst.port,
        client_ip: client.to_string(),
        method: escape_bytes(&req.method),
        uri,
        host: top_header(req, masked.as_ref(), masker, "host"),
        user_agent: top_header(req, masked.as_ref(), masker, "user-agent"),
        request_id: top_header(req, masked.as_ref(), masker, "x-request-id"),
        body_len: req.body_len,
        version: version_str(req.version),
        complete: req.complete,
        // The capture time and sequence number of the request's first byte
        // name it within its flow, also when a midstream restart reads it
        // again (its index then differs): the rows of both readings share
        // a key, so `attacks` collapses them as it does retried rows.
        request_key: format!(
            "{:016x}-{:016x}-{:08x}",
            req.ts.0,
            flow.key.stable_hash(),
            req.seq
        ),
        client_ip_from_header: from_header,
        client_ip_claimed: policy.untrusted_claim_masked(src.ip, req, masker),
        response_status: 0,
        response_bytes: 0,
        response_time_ms: 0,
        blocked: false,
        attack: None,
        context: None,
        attack_classes: None,
    };
    if emit != EmitMode::Attacks {
        let mut classes: Vec<&'static str> = hits.iter().map(|h| h.class.as_str()).collect();
        classes.sort_unstable();
        classes.dedup();
        out.push(Record {
            attack_classes: Some(classes),
            ..base.clone()
        });
    }
    if let Some(masked) = &masked {
        // One context for all of the request's hit records.
        let ctx = std::sync::Arc::new(context(req, masked));
        for h in hits {
            let matched = masker.mask_matched(masked, &h.location, &h.matched, MATCHED_MAX);
            out.push(Record {
                attack: Some(AttackFields {
                    attack_class: h.class.as_str(),
                    rule_id: h.rule_id.to_string(),
                    severity: h.severity.as_str(),
                    location: h.location.clone(),
                    matched: escape_bytes(&matched),
                }),
                context: Some(std::sync::Arc::clone(&ctx)),
                ..base.clone()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request {
        crate::detect::tests::req("GET", "/", headers, b"")
    }

    fn policy(nets: &[&str]) -> ClientIpPolicy {
        ClientIpPolicy {
            trusted_proxies: nets
                .iter()
                .map(|n| crate::config::parse_cidr("t", n).unwrap())
                .collect(),
            header: ClientIpHeader::Auto,
        }
    }

    /// Behind a proxy that only appends to `X-Forwarded-For` (AWS ALB,
    /// HAProxy `option forwardfor`), the client's own `X-Real-IP` arrives
    /// untouched; `x-forwarded-for` believes only the chain. `x-real-ip`
    /// ignores the chain.
    #[test]
    fn the_configured_header_alone_names_the_client() {
        let r = req(&[
            ("X-Real-IP", "6.6.6.6"),
            ("X-Forwarded-For", "203.0.113.9, 10.0.0.3"),
        ]);
        let src = ip("10.0.0.2");
        let mut p = policy(&["10.0.0.0/8"]);
        assert_eq!(p.resolve(src, &r), (ip("6.6.6.6"), true));
        p.header = ClientIpHeader::XForwardedFor;
        assert_eq!(p.resolve(src, &r), (ip("203.0.113.9"), true));
        p.header = ClientIpHeader::XRealIp;
        assert_eq!(p.resolve(src, &r), (ip("6.6.6.6"), true));
        let only_xff = req(&[("X-Forwarded-For", "203.0.113.9")]);
        assert_eq!(p.resolve(src, &only_xff), (src, false));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The request a server reads from `wire` (one request, from the client).
    fn parsed(wire: &[u8]) -> Request {
        use crate::http::{HttpEvent, HttpLimits, HttpSession, HttpStats};
        use crate::reassembly::Stamp;
        let (limits, mut stats, mut out) =
            (HttpLimits::default(), HttpStats::default(), Vec::new());
        let mut s = HttpSession::default();
        let at = Stamp {
            ts: crate::capture::Timestamp(0),
            seq: 0,
        };
        s.on_data(&limits, &mut stats, Direction::ToServer, at, wire, &mut out);
        s.on_end(&limits, &mut stats, &mut out);
        out.into_iter()
            .find_map(|e| match e {
                HttpEvent::Request(r) => Some(r),
                HttpEvent::Response(_) => None,
            })
            .unwrap()
    }

    /// review27b: the trailer section of a chunked request is the client's
    /// own, after the head a trusted proxy wrote. No proxy or server takes a
    /// client address from it: nginx's realip and Apache's mod_remoteip read
    /// the head before the body (post_read_request), Go keeps trailers in
    /// `Request.Trailer` and Node in `req.trailers`, while HAProxy (HTX)
    /// forwards a client's request trailers untouched after the
    /// `X-Forwarded-For` it appended to the head. Specula appended trailer
    /// fields to `headers` and took the last `X-Real-IP` and the rightmost
    /// `X-Forwarded-For` / `Forwarded` hop from them: an attacker behind a
    /// trusted proxy chose the recorded `client_ip`.
    /// Severity: High (an attacker-controlled recorded client address).
    #[test]
    fn review27b_trailer_fields_never_name_the_client() {
        let src = ip("10.0.0.2");
        let mut p = policy(&["10.0.0.0/8"]);
        for trailer in [
            "X-Real-IP: 6.6.6.6",
            "X-Forwarded-For: 6.6.6.6",
            "Forwarded: for=6.6.6.6",
        ] {
            let wire = format!(
                "POST /login HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: 203.0.113.9\r\n\
                 Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n{trailer}\r\n\r\n"
            );
            let r = parsed(wire.as_bytes());
            assert!(r.complete, "{trailer}");
            for header in [
                ClientIpHeader::Auto,
                ClientIpHeader::XForwardedFor,
                ClientIpHeader::Forwarded,
                ClientIpHeader::XRealIp,
            ] {
                p.header = header;
                let want = match header {
                    ClientIpHeader::Auto | ClientIpHeader::XForwardedFor => {
                        (ip("203.0.113.9"), true)
                    }
                    _ => (src, false),
                };
                assert_eq!(p.resolve(src, &r), want, "{trailer} {header:?}");
            }
        }
    }

    #[test]
    fn untrusted_source_headers_are_ignored() {
        let p = policy(&["10.0.0.0/8"]);
        let r = req(&[("X-Real-IP", "1.2.3.4"), ("X-Forwarded-For", "5.6.7.8")]);
        assert_eq!(p.resolve(ip("192.0.2.9"), &r), (ip("192.0.2.9"), false));
    }

    #[test]
    fn trusted_source_real_ip_wins() {
        let p = policy(&["10.0.0.0/8"]);
        let r = req(&[("X-Forwarded-For", "5.6.7.8"), ("X-Real-IP", "1.2.3.4")]);
        assert_eq!(p.resolve(ip("10.0.0.1"), &r), (ip("1.2.3.4"), true));
    }

    #[test]
    fn forwarded_for_walks_from_the_right_skipping_trusted_hops() {
        let p = policy(&["10.0.0.0/8"]);
        let r = req(&[("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.1.1.1")]);
        // 6.6.6.6 may be forged by the client; 198.51.100.7 is what our trusted proxy saw.
        assert_eq!(p.resolve(ip("10.0.0.1"), &r), (ip("198.51.100.7"), true));
    }

    /// RFC 7239: a proxy that writes only `Forwarded` (HAProxy `option
    /// forwarded`) names the client in `for=`, walked from the right as
    /// `X-Forwarded-For` is; quoted IPv6 with a port, mixed case and
    /// several headers are read, and `unknown` or an obfuscated node ends
    /// the walk at the last good hop.
    #[test]
    fn forwarded_names_the_client_when_no_other_header_does() {
        let p = policy(&["10.0.0.0/8"]);
        let src = ip("10.0.0.2");
        for (value, want) in [
            ("for=192.0.2.60;proto=http;by=10.0.0.2", "192.0.2.60"),
            (
                "For=6.6.6.6, for=198.51.100.7;proto=https, for=10.1.1.1",
                "198.51.100.7",
            ),
            (r#"for="[2001:db8:cafe::17]:4711""#, "2001:db8:cafe::17"),
            (
                r#"proto=http;for="192.0.2.1:80", for=10.1.1.1"#,
                "192.0.2.1",
            ),
            // Nothing untrusted before `unknown`: the last trusted hop.
            ("for=6.6.6.6, for=unknown, for=10.1.1.1", "10.1.1.1"),
            (r#"by=x;for="_hidden", for=10.1.1.1"#, "10.1.1.1"),
        ] {
            let r = req(&[("Forwarded", value)]);
            assert_eq!(p.resolve(src, &r), (ip(want), true), "{value}");
        }
        // Two headers: the last one holds the nearest hops.
        let r = req(&[
            ("Forwarded", "for=203.0.113.5"),
            ("Forwarded", "for=10.1.1.1"),
        ]);
        assert_eq!(p.resolve(src, &r), (ip("203.0.113.5"), true));
        // Only read when the others name no one (auto) or when chosen.
        let both = req(&[
            ("X-Forwarded-For", "198.51.100.7"),
            ("Forwarded", "for=203.0.113.5"),
        ]);
        assert_eq!(p.resolve(src, &both), (ip("198.51.100.7"), true));
        let mut only = p.clone();
        only.header = ClientIpHeader::Forwarded;
        assert_eq!(only.resolve(src, &both), (ip("203.0.113.5"), true));
        only.header = ClientIpHeader::XForwardedFor;
        let r = req(&[("Forwarded", "for=203.0.113.5")]);
        assert_eq!(only.resolve(src, &r), (src, false));
        // From an untrusted source it is a visible claim, not believed.
        let outside = ip("203.0.113.9");
        assert_eq!(p.resolve(outside, &r), (outside, false));
        assert_eq!(
            p.untrusted_claim(outside, &r).as_deref(),
            Some("for=203.0.113.5")
        );
    }

    #[test]
    fn garbage_header_falls_back() {
        let p = policy(&["10.0.0.0/8"]);
        let r = req(&[("X-Real-IP", "not an ip")]);
        assert_eq!(p.resolve(ip("10.0.0.1"), &r), (ip("10.0.0.1"), false));
        let r = req(&[("X-Real-IP", "[2001:db8::1]:443")]);
        assert_eq!(p.resolve(ip("10.0.0.1"), &r), (ip("2001:db8::1"), true));
    }

    #[test]
    fn untrusted_claims_are_kept_visible_but_not_believed() {
        let p = policy(&["10.0.0.0/8"]);
        let r = req(&[("X-Forwarded-For", " 1.2.3.4, 5.6.7.8 ")]);
        // From the Internet: not believed, but recorded as a claim.
        assert_eq!(p.resolve(ip("203.0.113.9"), &r), (ip("203.0.113.9"), false));
        assert_eq!(
            p.untrusted_claim(ip("203.0.113.9"), &r).as_deref(),
            Some("1.2.3.4, 5.6.7.8")
        );
        assert!(p.claims_untrusted(ip("203.0.113.9"), &r));
        // From the trusted proxy: believed, no claim to report.
        assert_eq!(p.untrusted_claim(ip("10.0.0.1"), &r), None);
        assert!(!p.claims_untrusted(ip("10.0.0.1"), &r));
        // Nothing claimed.
        assert_eq!(p.untrusted_claim(ip("203.0.113.9"), &req(&[])), None);
        assert!(!p.claims_untrusted(ip("203.0.113.9"), &req(&[])));
        // Without any trusted proxy, every claim is untrusted.
        let none = policy(&[]);
        let r = req(&[("X-Real-IP", "1.2.3.4")]);
        assert!(none.claims_untrusted(ip("10.0.0.1"), &r));
        // A claim is cut and escaped, never stored whole.
        let long = "9".repeat(1000);
        let r = req(&[("X-Real-IP", long.as_str())]);
        assert_eq!(
            p.untrusted_claim(ip("203.0.113.9"), &r).map(|c| c.len()),
            Some(MAX_CLAIM_BYTES)
        );
    }

    /// A masker with `cfg` and a fixed key, and a flow from 192.0.2.1:40000
    /// to 192.0.2.2:80 whose handshake was seen.
    fn masker_and_flow(cfg: &super::super::mask::MaskingSection) -> (Masker, FlowInfo) {
        use crate::reassembly::{Endpoint, FlowKey};
        let masker = Masker::with_key(cfg, [3u8; 32], super::super::mask::KeySource::Random);
        let client = Endpoint {
            ip: ip("192.0.2.1"),
            port: 40000,
        };
        let server = Endpoint {
            ip: ip("192.0.2.2"),
            port: 80,
        };
        let flow = FlowInfo {
            id: 1,
            key: FlowKey::new(client, server),
            client,
            server,
            handshake_seen: true,
            first_ts: crate::capture::Timestamp(0),
            paws_floor: 0,
            paws_syn_recv: false,
        };
        (masker, flow)
    }

    /// The top-level `host`, `user_agent` and `request_id` are
    /// masked when their header is, on attack and request records alike.
    #[test]
    fn top_level_header_copies_follow_header_masking() {
        use crate::detect::{AttackClass, Hit, Severity};
        let cfg = super::super::mask::MaskingSection {
            extra_headers: vec!["x-request-id".into(), "user-agent".into()],
            ..Default::default()
        };
        let (masker, flow) = masker_and_flow(&cfg);
        let r = req(&[
            ("Host", "h.test"),
            ("User-Agent", "agent-secret-1"),
            ("X-Request-Id", "rid-secret-42"),
        ]);
        let hit = Hit {
            rule_id: "t".into(),
            class: AttackClass::Xss,
            severity: Severity::High,
            location: "path".into(),
            name_end: 4,
            matched: b"x".to_vec(),
        };
        for emit in [EmitMode::Attacks, EmitMode::Requests, EmitMode::Both] {
            let mut out = Vec::new();
            build_records(
                &flow,
                &r,
                std::slice::from_ref(&hit),
                emit,
                &policy(&[]),
                &masker,
                &mut out,
            );
            assert!(!out.is_empty());
            for rec in &out {
                let want_rid = String::from_utf8(masker.token(b"rid-secret-42")).unwrap();
                let want_ua = String::from_utf8(masker.token(b"agent-secret-1")).unwrap();
                assert_eq!(
                    rec.request_id.as_deref(),
                    Some(want_rid.as_str()),
                    "{emit:?}"
                );
                assert_eq!(
                    rec.user_agent.as_deref(),
                    Some(want_ua.as_str()),
                    "{emit:?}"
                );
                assert_eq!(rec.host.as_deref(), Some("h.test"), "{emit:?}");
            }
        }
        // The hit records of one request share one context, not copies.
        let second = Hit {
            rule_id: "u".into(),
            ..hit.clone()
        };
        let mut out = Vec::new();
        build_records(
            &flow,
            &r,
            &[hit, second],
            EmitMode::Attacks,
            &policy(&[]),
            &masker,
            &mut out,
        );
        let contexts: Vec<_> = out.iter().filter_map(|r| r.context.as_ref()).collect();
        assert_eq!(contexts.len(), 2);
        assert!(std::sync::Arc::ptr_eq(contexts[0], contexts[1]));
    }

    /// `client_ip_claimed` copies the `X-Real-IP` / `X-Forwarded-For` /
    /// `Forwarded` value of an untrusted source to the record's top level;
    /// with that header configured to be masked (`extra_headers`, as
    /// deployments that treat client addresses as personal data do), the
    /// `headers` copy is masked but this one was written in clear.
    /// Severity: Low (a value configured secret stored in clear; not with
    /// the default names).
    #[test]
    fn review21c_claimed_client_follows_header_masking() {
        let cfg = super::super::mask::MaskingSection {
            extra_headers: vec!["x-forwarded-for".into(), "forwarded".into()],
            ..Default::default()
        };
        let (masker, flow) = masker_and_flow(&cfg);
        let r = req(&[("X-Forwarded-For", "198.51.100.77")]);
        for emit in [EmitMode::Requests, EmitMode::Both] {
            let mut out = Vec::new();
            build_records(&flow, &r, &[], emit, &policy(&[]), &masker, &mut out);
            assert!(!out.is_empty());
            for rec in &out {
                let claim = rec.client_ip_claimed.as_deref().unwrap_or_default();
                assert!(!claim.contains("198.51.100.77"), "{emit:?}: {claim}");
            }
        }
    }

    /// Review round 15: with two `X-Real-IP` headers from a trusted proxy,
    /// the first (sent by the client, passed through by a proxy that adds
    /// its own, e.g. HAProxy `http-request add-header X-Real-IP %[src]`) is
    /// believed as the client address. The one the trusted proxy wrote is
    /// the last; the forged one must never become `client_ip`.
    #[test]
    fn review15_a_forged_first_x_real_ip_is_not_believed() {
        let p = policy(&["10.0.0.0/8"]);
        let r = req(&[
            ("X-Real-IP", "6.6.6.6"),
            ("X-Forwarded-For", "6.6.6.6, 198.51.100.7"),
            ("X-Real-IP", "198.51.100.7"),
        ]);
        let (client, _) = p.resolve(ip("10.0.0.1"), &r);
        assert_ne!(
            client,
            ip("6.6.6.6"),
            "the client's forged X-Real-IP was believed"
        );
        assert_eq!(client, ip("198.51.100.7"));
    }

    /// Review round 16. Defect: a trusted hop written as an IPv4-mapped IPv6
    /// address (`::ffff:10.0.0.2`) is not recognised as trusted, so the walk
    /// of `X-Forwarded-For` stops there and the inner proxy's own address
    /// becomes `client_ip` (with `client_ip_from_header`), hiding the real
    /// attacker one hop further left. A proxy on a dual-stack socket writes
    /// its IPv4 peers that way: Node.js (`http-proxy`, Express, Next.js)
    /// reports `req.socket.remoteAddress` as `::ffff:a.b.c.d` when it
    /// listens on `::`, and appends that to `X-Forwarded-For`; so do Java
    /// servers with `-Djava.net.preferIPv6Addresses=true`. nginx's realip
    /// (`ngx_cidr_match`) and access modules match a mapped address against
    /// IPv4 `set_real_ip_from` / `allow` entries; Go's `netip.Addr.Unmap`
    /// is there for the same reason. The same attacker's rows also split
    /// between `6.6.6.6` and `::ffff:6.6.6.6` in `client_ip` (a `String`
    /// column: `top_client_ips` counts two clients). Severity: Low.
    #[test]
    fn review16_an_ipv4_mapped_trusted_hop_is_skipped() {
        let p = policy(&["10.0.0.0/8"]);
        let r = req(&[("X-Forwarded-For", "6.6.6.6, ::ffff:10.0.0.2")]);
        assert_eq!(
            p.resolve(ip("10.0.0.1"), &r),
            (ip("6.6.6.6"), true),
            "the inner proxy's mapped address was taken for the client"
        );
    }

    /// Review round 19. Defect: `[trust] client_ip_header = "forwarded"`
    /// ("RFC 7239 `Forwarded` only", for a proxy that writes that alone,
    /// such as HAProxy `option forwarded`) still believes `X-Real-IP` first:
    /// `resolve` reads it for every mode but `x-forwarded-for`. HAProxy
    /// `option forwarded` (`http_handle_7239_header`) neither writes nor
    /// removes `X-Real-IP`, so the client's own `X-Real-IP: 6.6.6.6` passes
    /// through the trusted proxy and becomes `client_ip` (with
    /// `client_ip_from_header`), hiding the attacker behind any address he
    /// likes. Severity: High (a forged client address is believed).
    #[test]
    fn review19c_forwarded_mode_ignores_a_client_x_real_ip() {
        let mut p = policy(&["10.0.0.0/8"]);
        p.header = ClientIpHeader::Forwarded;
        let r = req(&[
            ("X-Real-IP", "6.6.6.6"),
            ("Forwarded", "for=198.51.100.7;proto=https"),
        ]);
        assert_eq!(p.resolve(ip("10.0.0.2"), &r), (ip("198.51.100.7"), true));
        let no_chain = req(&[("X-Real-IP", "6.6.6.6")]);
        assert_eq!(
            p.resolve(ip("10.0.0.2"), &no_chain),
            (ip("10.0.0.2"), false),
            "X-Real-IP was believed with client_ip_header = forwarded"
        );
    }

    /// Review round 19. Defect: a proxy that appends its element to the
    /// client's `Forwarded` on the same line (nginx's documented
    /// `proxy_set_header Forwarded "$http_forwarded, $proxy_forwarded_elem"`,
    /// whose guide guards it with a syntax check for exactly this reason;
    /// OpenShift's HAProxy router `set-forwarded-headers: append`; any
    /// recipient that combines field lines, RFC 9110 §5.3) sends the server
    /// `for=6.6.6.6;x=", for=198.51.100.7`. The client's unterminated
    /// quoted string swallows the proxy's element: `split_unquoted` finds a
    /// single element, its first `for=` is the forged `6.6.6.6`, and the
    /// walk believes it as the nearest untrusted hop. A header value whose
    /// quoting never closes cannot say which element the trusted proxy
    /// wrote; nothing in it may be believed. Severity: High (a forged
    /// client address is believed).
    #[test]
    fn review19c_an_unterminated_quote_cannot_swallow_the_proxys_element() {
        let p = policy(&["10.0.0.0/8"]);
        let src = ip("10.0.0.2");
        for value in [
            r#"for=6.6.6.6;x=", for=198.51.100.7"#,
            r#"for=6.6.6.6;x="\", for=198.51.100.7"#,
            r#"for=6.6.6.6;x=a"b, for=198.51.100.7"#,
        ] {
            let r = req(&[("Forwarded", value)]);
            let (client, _) = p.resolve(src, &r);
            assert_ne!(client, ip("6.6.6.6"), "forged for= believed: {value}");
        }
        // Balanced quoting still reads the proxy's element.
        let r = req(&[("Forwarded", r#"for=6.6.6.6;x="a,b", for=198.51.100.7"#)]);
        assert_eq!(p.resolve(src, &r), (ip("198.51.100.7"), true));
    }

    /// Attack records of `r` with one hit at `location` quoting `matched`,
    /// default masking, as JSON Lines text.
    fn review24b_json_records(r: &Request, location: &str, matched: &[u8]) -> String {
        use crate::detect::{AttackClass, Hit, Severity};
        let (masker, flow) = masker_and_flow(&super::super::mask::MaskingSection::default());
        let hit = Hit {
            rule_id: "t".into(),
            class: AttackClass::Sqli,
            severity: Severity::High,
            location: location.into(),
            name_end: location.len(),
            matched: matched.to_vec(),
        };
        let mut out = Vec::new();
        build_records(
            &flow,
            r,
            std::slice::from_ref(&hit),
            EmitMode::Both,
            &policy(&[]),
            &masker,
            &mut out,
        );
        assert!(!out.is_empty());
        out.iter()
            .map(|rec| serde_json::to_string(rec).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A form sent under a JSON, XML or multipart type (jQuery's
    /// `$.ajax({contentType: 'application/json', data: {user, password}})`
    /// serialises `data` as `user=…&password=…` whatever the type says; an
    /// application that reads `php://input` with `parse_str`, or a body
    /// parser configured with `type: '*/*'`, takes it as the form it is).
    /// The masker chose the JSON / XML / multipart scanner by the declared
    /// type alone; none of them finds `password=` pairs, and a multipart
    /// body without its delimiter was copied as it is, so `body_excerpt`
    /// and a hit on the raw body (`matched`: `or 1=1--&password=…`) stored
    /// the password in clear, against "anything else scanned as if it were
    /// a form". Severity: High (a password stored in clear by default).
    #[test]
    fn review24b_a_form_under_another_type_is_masked() {
        let body = b"username=admin' or 1=1--&password=Hunter2Secret";
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "text/xml",
            "application/soap+xml",
            "multipart/form-data; boundary=zzz",
        ] {
            let r = crate::detect::tests::req("POST", "/login", &[("Content-Type", ct)], body);
            let text = review24b_json_records(&r, "body", b"or 1=1--&password=Hunter2Secret");
            assert!(!text.contains("Hunter2Secret"), "{ct}: {text}");
        }
        // Real JSON and XML bodies are still read by their type.
        let r = crate::detect::tests::req(
            "POST",
            "/login",
            &[("Content-Type", "application/json")],
            br#"{"q":"' or 1=1--","password":"Hunter2Secret"}"#,
        );
        assert!(!review24b_json_records(&r, "body:json:q", b"' or 1=1--").contains("Hunter2Secret"));
    }

    /// Detection keeps at most 256 bytes of a match (`MAX_MATCHED_BYTES`),
    /// cut before masking: a match that runs on (the SQL lexer's `--`
    /// comment takes the rest of the value) and is cut inside a card number
    /// keeps 15 of its 16 digits, which fail Luhn and are no longer masked
    /// as a card, while the 16th is the Luhn check digit and follows from
    /// them: the whole number is in `matched`. A token cut below its
    /// shape's length (`ghp_` + 36) shows in clear the same way.
    /// Severity: Medium (a card number recoverable from a record by
    /// default; needs a match running 256 bytes into a value holding one).
    #[test]
    fn review24b_a_card_cut_by_the_match_cap_is_not_stored() {
        let card = "4111111111111111";
        let pad = "a".repeat(231);
        let value = format!("x' or 1=1-- {pad} {card}");
        let full = format!("or 1=1-- {pad} {card}");
        let matched = &full.as_bytes()[..256];
        let body = format!("comment={value}");
        let r = crate::detect::tests::req(
            "POST",
            "/order",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        );
        let text = review24b_json_records(&r, "body:comment", matched);
        assert!(!text.contains(&card[..15]), "{text}");
        // Grouped as printed on the card.
        let spaced = "4111 1111 1111 1111";
        let full = format!("or 1=1-- {} {spaced}", "a".repeat(228));
        let matched = &full.as_bytes()[..256];
        let body = format!("comment=x' {full}");
        let r = crate::detect::tests::req("POST", "/order", &[], body.as_bytes());
        let text = review24b_json_records(&r, "body:comment", matched);
        assert!(!text.contains("4111 1111 1111"), "{text}");
        // A provider token cut short of its shape.
        let token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        let full = format!("or 1=1-- {} {token}", "a".repeat(236));
        let matched = &full.as_bytes()[..256];
        let body = format!("comment=x' {full}");
        let r = crate::detect::tests::req("POST", "/order", &[], body.as_bytes());
        let text = review24b_json_records(&r, "body:comment", matched);
        assert!(!text.contains("ghp_abcdefgh"), "{text}");
    }

    /// `client_ip_claimed` is cut to 128 bytes before it is masked: a
    /// provider token, JWT or card number that the cut breaks no longer has
    /// its shape and is written in clear (the `headers` copy of the same
    /// value masks it whole). Severity: Low (a secret in a client-address
    /// header).
    #[test]
    fn review24b_claimed_client_is_masked_before_it_is_cut() {
        let token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        let xff = format!("{} {token}", "1".repeat(110));
        let r = req(&[("X-Forwarded-For", &xff)]);
        let text = review24b_json_records(&r, "query:q", b"x");
        assert!(!text.contains("ghp_abcdefgh"), "{text}");
    }

    /// A header line without `:` is kept whole as the name of a header with
    /// no value (so detection sees it), and names are written as they are:
    /// `Authorization Bearer <token>` (a client that lost the colon) put
    /// the bearer token in clear in `headers`. Severity: Low (the server
    /// answers 400, but the credential was sent and is stored).
    #[test]
    fn review24b_a_header_line_without_colon_is_masked() {
        let token = "abcdefghijklmnopqrstuvwxyz0123456789";
        let line = format!("Authorization Bearer {token}");
        let r = req(&[(line.as_str(), "")]);
        let text = review24b_json_records(&r, "query:q", b"x");
        assert!(!text.contains(token), "{text}");
        assert!(text.contains("Authorization Bearer [masked:"), "{text}");
    }

    /// A SOAP request sent as MTOM/XOP (`multipart/related; type=
    /// "application/xop+xml"`: Apache CXF and Axis2 with MTOM enabled, WCF
    /// `messageEncoding="Mtom"`, JAX-WS `@MTOM`) carries its envelope in the
    /// root part; the server's multipart/related reader (CXF
    /// `AttachmentDeserializer`, Axis2 `MIMEMessage`) hands that part to its
    /// XML parser, WS-Security `<wsse:Password>` included. The masker only
    /// splits `multipart/form-data` into parts: any other multipart type
    /// falls through to the form scanner, which finds no `password=` pair
    /// and copies the envelope as it is, so `body_excerpt` stores the
    /// password in clear. Severity: High (a password stored in clear by
    /// default).
    #[test]
    fn review26b_an_xml_part_of_multipart_related_is_masked() {
        let body = "--uuid:abc\r\n\
            Content-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\n\
            Content-ID: <root.message@cxf.apache.org>\r\n\r\n\
            <soap:Envelope><soap:Header><wsse:Security><wsse:UsernameToken>\
            <wsse:Username>admin' or 1=1--</wsse:Username>\
            <wsse:Password>Hunter2Secret</wsse:Password>\
            </wsse:UsernameToken></wsse:Security></soap:Header><soap:Body/></soap:Envelope>\r\n\
            --uuid:abc--\r\n";
        for ct in [
            r#"multipart/related; type="application/xop+xml"; boundary="uuid:abc"; start="<root.message@cxf.apache.org>"; start-info="text/xml""#,
            "multipart/mixed; boundary=uuid:abc",
        ] {
            let r =
                crate::detect::tests::req("POST", "/ws", &[("Content-Type", ct)], body.as_bytes());
            let text = review24b_json_records(&r, "body", b"admin' or 1=1--");
            assert!(!text.contains("Hunter2Secret"), "{ct}: {text}");
        }
    }

    /// Rules that ask for SQL normalisation (`normalize = ["sql"]`:
    /// `sqli-select-from`, `sqli-union-select`, ...) match on the value
    /// lowercased (`detect/normalize.rs` `sql`), and their `matched` quotes
    /// that layer: `union select null,null&password=hu5ter2secret9` for a
    /// raw body or a `Referer` holding `…union*/ select null,null&password=
    /// Hu5TeR2SeCReT9` (the lazy `[\s\S]{0,200}?` runs to the end of the
    /// value). The masker finds a secret elsewhere only as its exact bytes
    /// (the sweep) or by a case-sensitive 6-byte piece, so a mixed-case
    /// password with no all-lowercase 6-byte run is written lowercased in
    /// `matched`: all but its case, in clear. Severity: High (a password
    /// stored nearly in clear by default).
    #[test]
    fn review28c_a_secret_quoted_by_a_lowercasing_layer_is_masked() {
        use crate::detect::{DetectLimits, DetectStats, Detector, RuleSet};
        let secret = "Hu5TeR2SeCReT9";
        let detector = Detector::new(&RuleSet::builtin(), DetectLimits::default());
        let body = format!("username=admin'/*!50000union*/  select null,null&password={secret}");
        let referer = format!(
            "https://shop.example.com/login?u=1'/*!50000union*/  select null&password={secret}"
        );
        for r in [
            crate::detect::tests::req(
                "POST",
                "/login",
                &[("Content-Type", "text/plain")],
                body.as_bytes(),
            ),
            req(&[("Referer", &referer)]),
        ] {
            let mut hits = Vec::new();
            detector.inspect(&r, &mut DetectStats::default(), &mut hits);
            let lowered = hits
                .iter()
                .find(|h| {
                    String::from_utf8_lossy(&h.matched).contains(&secret.to_ascii_lowercase())
                })
                .expect("a hit quotes the lowercased secret");
            let text = review24b_json_records(&r, &lowered.location, &lowered.matched);
            assert!(
                !text
                    .to_ascii_lowercase()
                    .contains(&secret.to_ascii_lowercase()),
                "{text}"
            );
        }
    }

    /// A body declared JSON that starts with `<` (a SOAP or XML-RPC client
    /// that sets `application/json` by mistake; PHP endpoints that read
    /// `php://input` with `simplexml_load_string`, and XML-RPC servers,
    /// ignore the type) is scanned only by the JSON scanner, which finds no
    /// member in it; the round 24 fallback to the form scanner only runs
    /// when the body does not start with `{`, `[` or `<`, so the XML scanner
    /// never sees it and `<password>` is stored in clear. Severity: High (a
    /// password stored in clear by default).
    #[test]
    fn review26b_xml_under_a_json_type_is_masked() {
        let body = b"<methodCall><methodName>login</methodName><params>\
            <param><value><struct>\
            <member><name>user</name><value><string>admin' or 1=1--</string></value></member>\
            <member><name>password</name><value><string>Hunter2Secret</string></value></member>\
            </struct></value></param></params></methodCall>";
        let r = crate::detect::tests::req(
            "POST",
            "/xmlrpc.php",
            &[("Content-Type", "application/json")],
            body,
        );
        let text = review24b_json_records(&r, "body", b"admin' or 1=1--");
        assert!(!text.contains("Hunter2Secret"), "{text}");
    }

    /// Attack records of a POST to `uri` with `Content-Type: ct` and `body`,
    /// one hit on the body, default masking, as JSON Lines text.
    fn review30b_records(uri: &str, ct: &str, body: &[u8]) -> String {
        let r = crate::detect::tests::req("POST", uri, &[("Content-Type", ct)], body);
        review24b_json_records(&r, "body", b"admin' or 1=1--")
    }

    /// A form body with `;` between pairs: CGI.pm (`parse_params` splits
    /// POST data on `[&;]`), Python's `parse_qsl` before 3.9.2 and Rack 1
    /// read `user=…;password=…` as two fields, as Specula already reads a
    /// query. The form scanner split a body on `&` only, so `password=` was
    /// the value of `user` and stored in clear. The other way round, a
    /// query `password=Hunter2;Secret99` (one value for PHP, Node, Go and
    /// Java) was masked up to its `;` only and `Secret99` stored in clear.
    /// Severity: High (a password stored in clear by default).
    #[test]
    fn review30b_semicolon_separated_pairs_are_masked_both_ways() {
        let text = review30b_records(
            "/login",
            "application/x-www-form-urlencoded",
            b"user=admin' or 1=1--;password=Hunter2Secret",
        );
        assert!(!text.contains("Hunter2Secret"), "{text}");
        let text = review30b_records(
            "/login?user=bob&password=Hunter2;Secret99",
            "application/x-www-form-urlencoded",
            b"user=admin' or 1=1--&pwd=Hunter2;Secret99",
        );
        assert!(!text.contains("Secret99"), "{text}");
    }

    /// XML 1.0 §3.1 allows `>` in a quoted attribute value (only `<` and
    /// `&` are excluded), so every XML parser reads `password="x>…"` as one
    /// value and `<password a="/>">…</password>` as an element with text.
    /// The XML scanner ended a tag at its first `>`: the rest of the
    /// password was copied as text, and an attribute holding `/>` made the
    /// `<password>` element look self-closing, so its text was copied.
    /// Severity: High (a password stored in clear by default).
    #[test]
    fn review30b_xml_attribute_values_holding_gt_are_masked() {
        for body in [
            &b"<login user=\"admin' or 1=1--\" password=\"x>Hunter2Secret\"/>"[..],
            b"<login><user>admin' or 1=1--</user><password a=\"/>\">Hunter2Secret</password></login>",
            b"<login><user>admin' or 1=1--</user><password a='x>'>Hunter2Secret</password></login>",
        ] {
            let text = review30b_records("/login", "text/xml", body);
            assert!(!text.contains("Hunter2Secret"), "{text}");
        }
    }

    /// graphql-js reads a block string (`"""…"""`, GraphQL spec §2.9.4) and
    /// an escaped quote inside a string (`"Hunter2\"Secret99"`) as one
    /// argument value. The GraphQL argument scanner took the first `\"` as
    /// the end: a block string masked as empty and its content copied, and a
    /// password holding `"` copied from that quote on. Severity: High (a
    /// password stored in clear by default).
    #[test]
    fn review30b_graphql_block_strings_and_escaped_quotes_are_masked() {
        let text = review30b_records(
            "/graphql",
            "application/json",
            br#"{"query":"mutation { login(user: \"admin' or 1=1--\", password: \"\"\"Hunter2Secret\"\"\") { ok } }"}"#,
        );
        assert!(!text.contains("Hunter2Secret"), "{text}");
        let text = review30b_records(
            "/graphql",
            "application/json",
            br#"{"query":"mutation { login(user: \"admin' or 1=1--\", password: \"Hunter2\\\"Secret99\") { ok } }"}"#,
        );
        assert!(!text.contains("Secret99"), "{text}");
    }

    /// A GraphQL document sent as the body itself with `Content-Type:
    /// application/graphql`, which express-graphql (`parseBody`),
    /// graphql-go's handler and GraphQL Yoga read as the query. The masker
    /// read it as a form (or, opening with `{`, as JSON) and found no
    /// argument in it. Severity: High (a password stored in clear by
    /// default).
    #[test]
    fn review30b_an_application_graphql_body_is_masked() {
        for body in [
            &b"mutation { login(user: \"admin' or 1=1--\", password: \"Hunter2Secret\") { ok } }"[..],
            b"{ login(user: \"admin' or 1=1--\", password: \"Hunter2Secret\") { ok } }",
        ] {
            let text = review30b_records("/graphql", "application/graphql", body);
            assert!(!text.contains("Hunter2Secret"), "{text}");
        }
    }

    /// A multipart part's name as servers parse `Content-Disposition`: PHP
    /// (rfc1867), Go (`mime.ParseMediaType`) and busboy honour quoted
    /// strings, so `filename="a; name=b"; name="password"` names the part
    /// `password`; Go and busboy decode RFC 2231 `name*=UTF-8''password`
    /// and Go joins `name*0=pass; name*1=word`. The masker split the value
    /// on every `;` and took the first `name=` (`b"`), and knew no `name*`.
    /// Severity: High (a password stored in clear by default).
    #[test]
    fn review30b_multipart_names_are_read_as_servers_parse_them() {
        for disposition in [
            "form-data; filename=\"a; name=b\"; name=\"password\"",
            "form-data; name*=UTF-8''password",
            "form-data; name*0=pass; name*1=word",
        ] {
            let body = format!(
                "--zz\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nadmin' or 1=1--\r\n\
                 --zz\r\nContent-Disposition: {disposition}\r\n\r\nHunter2Secret\r\n--zz--\r\n"
            );
            let text = review30b_records(
                "/login",
                "multipart/form-data; boundary=zz",
                body.as_bytes(),
            );
            assert!(!text.contains("Hunter2Secret"), "{disposition}: {text}");
        }
    }

    /// Password fields named `new_pass`, `old_pass`, `user_pass`,
    /// `db_pass`, `confirm_pass` (PHP applications and installers) matched
    /// no default pattern (`pass` only whole, `*passw*` needs the `w`).
    /// Severity: High (a password stored in clear by default).
    #[test]
    fn review30b_names_ending_in_pass_are_masked() {
        let text = review30b_records(
            "/account",
            "application/x-www-form-urlencoded",
            b"user=admin' or 1=1--&old_pass=Hunter2Secret&new_pass=Hunter3Secret&confirmPass=Hunter3Secret",
        );
        assert!(!text.contains("Hunter2Secret"), "{text}");
        assert!(!text.contains("Hunter3Secret"), "{text}");
    }
}
