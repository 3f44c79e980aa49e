//! The committed `testdata/` captures: each file is built here from fixed
//! parameters, so `specula-gen testdata --dir testdata` rebuilds the folder
//! byte for byte. Every capture `X.pcap` gets `X.truth.jsonl`, one
//! [`TruthRequest`] per line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use super::conversation::{Direction, DEFAULT_START};
use super::{
    generate_mix, gzip, write_pcap, write_pcapng, Impairment, MixConfig, PcapNgInterface,
    SynthError, TcpConversation, TruthRequest,
};
use crate::capture::{LinkType, Timestamp};

/// One generated file: name, bytes, truth.
pub struct Fixture {
    pub name: String,
    pub bytes: Vec<u8>,
    pub truth: Vec<TruthRequest>,
}

/// Build a request with `X-Request-ID: id` and (for a body) Content-Length.
pub fn request(
    id: &str,
    method: &str,
    uri: &str,
    host: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut s = format!(
        "{method} {uri} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\r\nAccept: */*\r\nX-Real-IP: 203.0.113.7\r\nX-Request-ID: {id}\r\n"
    );
    for (k, v) in extra {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty()
        && !extra.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case("transfer-encoding") || k.eq_ignore_ascii_case("content-length")
        })
    {
        s.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    s.push_str("\r\n");
    let mut v = s.into_bytes();
    v.extend_from_slice(body);
    v
}

const HOST: &str = "shop.example.com";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
const NO_CONTENT: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";

fn addrs(v6: bool) -> (SocketAddr, SocketAddr) {
    if v6 {
        (
            SocketAddr::from(([0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 7], 51000)),
            SocketAddr::from(([0x2001, 0xdb8, 0x20, 0, 0, 0, 0, 5], 8445)),
        )
    } else {
        (
            SocketAddr::from(([10, 10, 0, 7], 51000)),
            SocketAddr::from(([10, 20, 0, 5], 8445)),
        )
    }
}

fn attack(
    mut t: TruthRequest,
    class: &str,
    kind: &str,
    location: &str,
    encoding: &str,
) -> TruthRequest {
    t.attack_class = Some(class.into());
    t.location_kind = Some(kind.into());
    t.location = Some(location.into());
    t.encoding = Some(encoding.into());
    t
}

/// The three-request conversation used for link types, VLAN, IPv6,
/// nanosecond, gzip and pcapng cases.
pub(super) fn basic(prefix: &str, v6: bool) -> (TcpConversation, Vec<TruthRequest>) {
    let (c, s) = addrs(v6);
    let id = |n: u32| format!("{prefix}-{n}");
    let sqli_uri = "/search?q=1%27%20OR%20%271%27%3D%271";
    let body = b"username=obrien&comment=select+a+plan+for+drop+shipping";
    let conv = TcpConversation::new(c, s)
        .client(request(&id(1), "GET", "/index.html", HOST, &[], b""))
        .server(OK)
        .client(request(&id(2), "GET", sqli_uri, HOST, &[], b""))
        .server(OK)
        .client(request(
            &id(3),
            "POST",
            "/account/comment",
            HOST,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body,
        ))
        .server(NO_CONTENT);
    let truth = vec![
        TruthRequest::benign(&id(1), "GET", "/index.html", HOST),
        attack(
            TruthRequest::benign(&id(2), "GET", sqli_uri, HOST),
            "sqli",
            "query",
            "query:q",
            "percent",
        ),
        TruthRequest::benign(&id(3), "POST", "/account/comment", HOST),
    ];
    (conv, truth)
}

pub(super) fn pcap(frames: &[(Timestamp, Vec<u8>)], lt: LinkType) -> Result<Vec<u8>, SynthError> {
    let mut v = Vec::new();
    write_pcap(&mut v, lt, frames, false, false)?;
    Ok(v)
}

pub(super) fn fx(name: &str, bytes: Vec<u8>, truth: Vec<TruthRequest>) -> Fixture {
    Fixture {
        name: name.into(),
        bytes,
        truth,
    }
}

/// Build every fixture in memory.
pub fn fixtures() -> Result<Vec<Fixture>, SynthError> {
    let mut out = Vec::new();

    let mix_cfg = MixConfig {
        seed: 2026,
        target_bytes: u64::MAX,
        max_requests: Some(200),
        concurrent_flows: 8,
        attack_ratio: 0.5,
        reorder_prob: 0.01,
        retrans_prob: 0.01,
        ..MixConfig::default()
    };
    let mut mix = Vec::new();
    let t = generate_mix(&mix_cfg, &mut mix)?;
    out.push(fx("sample-mirror.pcap", mix, t.requests));

    for (name, lt) in [
        ("ethernet", LinkType::ETHERNET),
        ("raw", LinkType::RAW),
        ("sll", LinkType::LINUX_SLL),
        ("sll2", LinkType::LINUX_SLL2),
        ("null", LinkType::NULL),
    ] {
        let (c, t) = basic(&format!("linktypes-{name}"), false);
        out.push(fx(
            &format!("linktypes-{name}.pcap"),
            pcap(&c.frames(lt)?, lt)?,
            t,
        ));
    }

    let (c, t) = basic("vlan-qinq", false);
    out.push(fx(
        "vlan-qinq.pcap",
        pcap(
            &c.vlans(&[100, 200]).frames(LinkType::ETHERNET)?,
            LinkType::ETHERNET,
        )?,
        t,
    ));

    let (c, t) = basic("ipv6", true);
    out.push(fx(
        "ipv6.pcap",
        pcap(&c.frames(LinkType::ETHERNET)?, LinkType::ETHERNET)?,
        t,
    ));

    let (c, t) = basic("nanosecond-bigendian", false);
    let c = c.timing(Timestamp(DEFAULT_START.0 + 123_456_789), 100_003);
    let mut v = Vec::new();
    write_pcap(
        &mut v,
        LinkType::ETHERNET,
        &c.frames(LinkType::ETHERNET)?,
        true,
        true,
    )?;
    out.push(fx("nanosecond-bigendian.pcap", v, t));

    let (a, mut ta) = basic("multi-interface-eth", false);
    let (b, tb) = basic("multi-interface-sll", true);
    let b = b.timing(Timestamp(DEFAULT_START.0 + 50_000), 100_000);
    let mut v = Vec::new();
    write_pcapng(
        &mut v,
        &[
            PcapNgInterface {
                linktype: LinkType::ETHERNET,
                frames: a.frames(LinkType::ETHERNET)?,
            },
            PcapNgInterface {
                linktype: LinkType::LINUX_SLL,
                frames: b.frames(LinkType::LINUX_SLL)?,
            },
        ],
    )?;
    ta.extend(tb);
    out.push(fx("multi-interface.pcapng", v, ta));

    let (c, t) = basic("gzip", false);
    out.push(fx(
        "gzip.pcap.gz",
        gzip(&pcap(&c.frames(LinkType::ETHERNET)?, LinkType::ETHERNET)?)?,
        t,
    ));

    out.push(truncated()?);
    out.push(reorder_retrans()?);
    out.push(overlap_different()?);
    out.push(gap()?);
    out.push(pipelining()?);
    out.push(chunked()?);
    out.push(midstream()?);
    out.push(seq_wrap()?);
    out.push(smuggling()?);
    out.push(one_sided()?);
    out.extend(super::span::fixtures()?);
    out.extend(super::tunnel::fixtures()?);
    Ok(out)
}

/// Cut inside the first segment of request 3: requests 1 and 2 are whole.
fn truncated() -> Result<Fixture, SynthError> {
    let (c, mut t) = basic("truncated", false);
    let frames = c.frames(LinkType::ETHERNET)?;
    let bytes = pcap(&frames, LinkType::ETHERNET)?;
    let marker = b"POST /account/comment";
    let idx = frames
        .iter()
        .position(|(_, f)| f.windows(marker.len()).any(|w| w == marker))
        .ok_or_else(|| SynthError::Invalid("truncated: request 3 not found".into()))?;
    let before: usize = frames.iter().take(idx).map(|(_, f)| 16 + f.len()).sum();
    let frame_len = frames.get(idx).map_or(0, |(_, f)| f.len());
    let cut = 24 + before + 16 + frame_len / 2;
    t.truncate(2);
    Ok(fx(
        "truncated.pcap",
        bytes.get(..cut).unwrap_or_default().to_vec(),
        t,
    ))
}

fn reorder_retrans() -> Result<Fixture, SynthError> {
    let (c, s) = addrs(false);
    let xss_uri = "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    let body = b"title=notes&text="
        .iter()
        .copied()
        .chain((0..600).map(|i| b'a' + (i % 26) as u8))
        .collect::<Vec<u8>>();
    let conv = TcpConversation::new(c, s)
        .mss(64)
        .seed(7)
        .client(request(
            "reorder-retrans-1",
            "POST",
            "/notes",
            HOST,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &body,
        ))
        .server(NO_CONTENT)
        .client(request("reorder-retrans-2", "GET", xss_uri, HOST, &[], b""))
        .server(NO_CONTENT)
        .client(request(
            "reorder-retrans-3",
            "GET",
            "/products/42",
            HOST,
            &[],
            b"",
        ))
        .server(NO_CONTENT)
        .impair(Impairment::Reorder { window: 4 })
        .impair(Impairment::Retransmit { index: 2 })
        .impair(Impairment::Retransmit { index: 9 })
        .impair(Impairment::OverlapRetransmit { index: 5 })
        .impair(Impairment::OverlapRetransmit { index: 15 });
    let truth = vec![
        TruthRequest::benign("reorder-retrans-1", "POST", "/notes", HOST),
        attack(
            TruthRequest::benign("reorder-retrans-2", "GET", xss_uri, HOST),
            "xss",
            "query",
            "query:q",
            "percent",
        ),
        TruthRequest::benign("reorder-retrans-3", "GET", "/products/42", HOST),
    ];
    Ok(fx(
        "reorder-retrans.pcap",
        pcap(&conv.frames(LinkType::ETHERNET)?, LinkType::ETHERNET)?,
        truth,
    ))
}

/// mss 32: each request line's first segment is `GET /q?s=` + 20 bytes +
/// ` HT`. Request 1 is sent benign then re-sent carrying SQL injection;
/// request 2 the other way round. Delivered bytes stay (first data wins
/// over a copy of bytes already read, as in Linux).
fn overlap_different() -> Result<Fixture, SynthError> {
    let (c, s) = addrs(false);
    let benign = "good_morning_friends";
    let evil = "1%27+OR+1%3D1--+-xyz";
    let r1 = request(
        "overlap-different-1",
        "GET",
        &format!("/q?s={benign}"),
        HOST,
        &[],
        b"",
    );
    let r2 = request(
        "overlap-different-2",
        "GET",
        &format!("/q?s={evil}"),
        HOST,
        &[],
        b"",
    );
    let first_segs = r1.len().div_ceil(32);
    let copy1 = format!("GET /q?s={evil} HT").into_bytes();
    let copy2 = format!("GET /q?s={benign} HT").into_bytes();
    let conv = TcpConversation::new(c, s)
        .mss(32)
        .client(r1)
        .server(NO_CONTENT)
        .client(r2)
        .server(NO_CONTENT)
        .impair(Impairment::OverlapDifferent {
            index: 0,
            data: copy1,
        })
        .impair(Impairment::OverlapDifferent {
            index: first_segs,
            data: copy2,
        });
    let mut t1 = TruthRequest::benign(
        "overlap-different-1",
        "GET",
        &format!("/q?s={benign}"),
        HOST,
    );
    t1.note = Some(format!(
        "client bytes 0..32 of this request are sent twice: first `GET /q?s={benign} HT`, then `GET /q?s={evil} HT`; a first-wins reassembler sees the benign first copy and should flag overlap with different data"
    ));
    let mut t2 = attack(
        TruthRequest::benign("overlap-different-2", "GET", &format!("/q?s={evil}"), HOST),
        "sqli",
        "query",
        "query:s",
        "plus",
    );
    t2.note = Some(format!(
        "bytes 0..32 of this request are sent twice: first `GET /q?s={evil} HT` (kept by first-wins), then the benign `GET /q?s={benign} HT`"
    ));
    Ok(fx(
        "overlap-different.pcap",
        pcap(&conv.frames(LinkType::ETHERNET)?, LinkType::ETHERNET)?,
        vec![t1, t2],
    ))
}

/// Four requests on one keep-alive connection, mss 200; a segment inside
/// the body of request 2 is lost.
fn gap() -> Result<Fixture, SynthError> {
    let (c, s) = addrs(false);
    let r1 = request("gap-1", "GET", "/a", HOST, &[], b"");
    let body: Vec<u8> = (0..1200).map(|i| b'a' + (i % 26) as u8).collect();
    let r2 = request(
        "gap-2",
        "POST",
        "/upload",
        HOST,
        &[("Content-Type", "text/plain")],
        &body,
    );
    let sqli = "/items?id=1%20UNION%20SELECT%20username%2Cpassword%20FROM%20users--";
    let r3 = request("gap-3", "GET", sqli, HOST, &[], b"");
    let r4 = request("gap-4", "GET", "/b", HOST, &[], b"");
    let header_len = r2.len() - body.len();
    // The lost segment: the fourth of request 2, well inside its body.
    let lost = r1.len().div_ceil(200) + 3;
    if header_len > 600 {
        return Err(SynthError::Invalid(
            "gap: request 2 headers too long".into(),
        ));
    }
    let conv = TcpConversation::new(c, s)
        .mss(200)
        .client(r1)
        .server(NO_CONTENT)
        .client(r2)
        .server(NO_CONTENT)
        .client(r3)
        .server(NO_CONTENT)
        .client(r4)
        .server(NO_CONTENT)
        .impair(Impairment::Drop { index: lost });
    let mut t2 = TruthRequest::benign("gap-2", "POST", "/upload", HOST);
    t2.partial = true;
    t2.note = Some("200 body bytes lost (one segment): headers complete, body has a gap".into());
    let truth = vec![
        TruthRequest::benign("gap-1", "GET", "/a", HOST),
        t2,
        attack(
            TruthRequest::benign("gap-3", "GET", sqli, HOST),
            "sqli",
            "query",
            "query:id",
            "percent",
        ),
        TruthRequest::benign("gap-4", "GET", "/b", HOST),
    ];
    Ok(fx(
        "gap.pcap",
        pcap(&conv.frames(LinkType::ETHERNET)?, LinkType::ETHERNET)?,
        truth,
    ))
}

/// Three requests in one write (segment boundaries mid-request), then
/// three responses in one write.
fn pipelining() -> Result<Fixture, SynthError> {
    let (c, s) = addrs(false);
    let rce = "/ping?host=127.0.0.1%3Bcat%20%2Fetc%2Fpasswd";
    let mut all = request("pipelining-1", "GET", "/one", HOST, &[], b"");
    all.extend(request("pipelining-2", "GET", rce, HOST, &[], b""));
    all.extend(request(
        "pipelining-3",
        "POST",
        "/three",
        HOST,
        &[("Content-Type", "application/json")],
        br#"{"note":"O'Brien wants to select a plan"}"#,
    ));
    let mut resp = OK.to_vec();
    resp.extend_from_slice(OK);
    resp.extend_from_slice(NO_CONTENT);
    let conv = TcpConversation::new(c, s).mss(100).client(all).server(resp);
    let truth = vec![
        TruthRequest::benign("pipelining-1", "GET", "/one", HOST),
        attack(
            TruthRequest::benign("pipelining-2", "GET", rce, HOST),
            "rce",
            "query",
            "query:host",
            "percent",
        ),
        TruthRequest::benign("pipelining-3", "POST", "/three", HOST),
    ];
    Ok(fx(
        "pipelining.pcap",
        pcap(&conv.frames(LinkType::ETHERNET)?, LinkType::ETHERNET)?,
        truth,
    ))
}

/// Chunked bodies (RFC 9112 §7.1): extensions, upper/lower hex, a trailer,
/// and a form value split across chunks.
fn chunked() -> Result<Fixture, SynthError> {
    let (c, s) = addrs(false);
    // Form body `name=x&q=1'+UNION+SELECT+password+FROM+users--` in chunks.
    let body1 = b"5;ext=1\r\nname=\r\n7\r\nx&q=1'+\r\nA\r\nUNION+SELE\r\n1c\r\nCT+password+FROM+users--&z=\r\n0\r\nX-Trailer: yes\r\n\r\n";
    let r1 = request(
        "chunked-1",
        "POST",
        "/search",
        HOST,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Transfer-Encoding", "chunked"),
        ],
        body1,
    );
    let body2 = b"10\r\n{\"plan\":\"select \r\nb\r\na plan\",\"x\"\r\n3\r\n:1}\r\n0\r\n\r\n";
    let r2 = request(
        "chunked-2",
        "POST",
        "/api/v1/plans",
        HOST,
        &[
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
        ],
        body2,
    );
    let conv = TcpConversation::new(c, s)
        .mss(40)
        .client(r1)
        .server(NO_CONTENT)
        .client(r2)
        .server(NO_CONTENT);
    let mut t1 = attack(
        TruthRequest::benign("chunked-1", "POST", "/search", HOST),
        "sqli",
        "body",
        "body:q",
        "plus",
    );
    t1.note = Some("de-chunked body: name=x&q=1'+UNION+SELECT+password+FROM+users--&z=".into());
    let mut t2 = TruthRequest::benign("chunked-2", "POST", "/api/v1/plans", HOST);
    t2.note = Some("de-chunked body: {\"plan\":\"select a plan\",\"x\":1}".into());
    Ok(fx(
        "chunked.pcap",
        pcap(&conv.frames(LinkType::ETHERNET)?, LinkType::ETHERNET)?,
        vec![t1, t2],
    ))
}

/// No handshake; the capture starts 700 bytes into a POST body. Only the
/// two requests after it are in the capture.
fn midstream() -> Result<Fixture, SynthError> {
    let (c, s) = addrs(false);
    let body: Vec<u8> = (0..2000).map(|i| b'a' + (i % 26) as u8).collect();
    let r0 = request(
        "midstream-0",
        "POST",
        "/big",
        HOST,
        &[("Content-Type", "text/plain")],
        &body,
    );
    let skip = r0.len() - body.len() + 700;
    let xss = "/comment?text=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E";
    let conv = TcpConversation::new(c, s)
        .handshake(false)
        .isns(0x1234_5678, 0x8765_4321)
        .skip_client_bytes(skip)
        .client(r0)
        .server(NO_CONTENT)
        .client(request("midstream-1", "GET", xss, HOST, &[], b""))
        .server(NO_CONTENT)
        .client(request("midstream-2", "GET", "/after", HOST, &[], b""))
        .server(NO_CONTENT);
    let truth = vec![
        attack(
            TruthRequest::benign("midstream-1", "GET", xss, HOST),
            "xss",
            "query",
            "query:text",
            "percent",
        ),
        TruthRequest::benign("midstream-2", "GET", "/after", HOST),
    ];
    Ok(fx(
        "midstream.pcap",
        pcap(&conv.frames(LinkType::ETHERNET)?, LinkType::ETHERNET)?,
        truth,
    ))
}

/// ISNs just below 2^32: the client sequence wraps inside request 1.
fn seq_wrap() -> Result<Fixture, SynthError> {
    let (c, s) = addrs(false);
    let ptrav = "/download?file=..%2F..%2F..%2F..%2Fetc%2Fpasswd";
    let body: Vec<u8> = (0..900).map(|i| b'0' + (i % 10) as u8).collect();
    let conv = TcpConversation::new(c, s)
        .isns(0xFFFF_FE00, 0xFFFF_FFF0)
        .mss(200)
        .client(request(
            "seq-wrap-1",
            "POST",
            "/data",
            HOST,
            &[("Content-Type", "text/plain")],
            &body,
        ))
        .server(OK)
        .client(request("seq-wrap-2", "GET", ptrav, HOST, &[], b""))
        .server(OK);
    let truth = vec![
        TruthRequest::benign("seq-wrap-1", "POST", "/data", HOST),
        attack(
            TruthRequest::benign("seq-wrap-2", "GET", ptrav, HOST),
            "ptrav",
            "query",
            "query:file",
            "percent",
        ),
    ];
    Ok(fx(
        "seq-wrap.pcap",
        pcap(&conv.frames(LinkType::ETHERNET)?, LinkType::ETHERNET)?,
        truth,
    ))
}

/// Request smuggling shapes (RFC 9112 §6.1, §6.3): Content-Length with
/// Transfer-Encoding, and two different Content-Length values. Each ends
/// its connection.
fn smuggling() -> Result<Fixture, SynthError> {
    let (c, s) = addrs(false);
    let s2 = SocketAddr::new(c.ip(), 51001);
    let r1 = request("smuggling-1", "GET", "/", HOST, &[], b"");
    let r2 = request(
        "smuggling-2",
        "POST",
        "/login",
        HOST,
        &[("Content-Length", "4"), ("Transfer-Encoding", "chunked")],
        b"5\r\nhello\r\n0\r\n\r\n",
    );
    let r3 = request(
        "smuggling-3",
        "POST",
        "/login",
        HOST,
        &[("Content-Length", "5"), ("Content-Length", "11")],
        b"hello world",
    );
    let a = TcpConversation::new(c, s)
        .client(r1)
        .server(OK)
        .client(r2)
        .server(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n".to_vec());
    let b = TcpConversation::new(s2, s)
        .client(r3)
        .server(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n".to_vec())
        .timing(Timestamp(DEFAULT_START.0 + 10_000_000), 100_000);
    let mut frames = a.frames(LinkType::ETHERNET)?;
    frames.extend(b.frames(LinkType::ETHERNET)?);
    let mut t2 = attack(
        TruthRequest::benign("smuggling-2", "POST", "/login", HOST),
        "protocol",
        "header",
        "header:transfer-encoding",
        "none",
    );
    t2.note = Some("Content-Length: 4 and Transfer-Encoding: chunked; chunked body `hello`".into());
    let mut t3 = attack(
        TruthRequest::benign("smuggling-3", "POST", "/login", HOST),
        "protocol",
        "header",
        "header:content-length",
        "none",
    );
    t3.note = Some("Content-Length: 5 and Content-Length: 11; 11 body bytes sent".into());
    let truth = vec![
        TruthRequest::benign("smuggling-1", "GET", "/", HOST),
        t2,
        t3,
    ];
    Ok(fx(
        "smuggling.pcap",
        pcap(&frames, LinkType::ETHERNET)?,
        truth,
    ))
}

/// Client to server only: no handshake, no server packets at all.
fn one_sided() -> Result<Fixture, SynthError> {
    let (c, s) = addrs(false);
    let cookie_val = "%24%28id%29";
    let conv = TcpConversation::new(c, s)
        .handshake(false)
        .server_silent(true)
        .client(request("one-sided-1", "GET", "/x", HOST, &[], b""))
        .client(request(
            "one-sided-2",
            "GET",
            "/profile",
            HOST,
            &[("Cookie", &format!("session=abc; pref={cookie_val}"))],
            b"",
        ))
        .client(request(
            "one-sided-3",
            "GET",
            "/y?q=drop+shipping",
            HOST,
            &[],
            b"",
        ));
    let truth = vec![
        TruthRequest::benign("one-sided-1", "GET", "/x", HOST),
        attack(
            TruthRequest::benign("one-sided-2", "GET", "/profile", HOST),
            "rce",
            "cookie",
            "cookie:pref",
            "percent",
        ),
        TruthRequest::benign("one-sided-3", "GET", "/y?q=drop+shipping", HOST),
    ];
    debug_assert!(conv
        .segments()
        .iter()
        .all(|s| s.dir == Direction::ClientToServer));
    Ok(fx(
        "one-sided.pcap",
        pcap(&conv.frames(LinkType::ETHERNET)?, LinkType::ETHERNET)?,
        truth,
    ))
}

/// Truth as JSON Lines.
pub fn truth_jsonl(truth: &[TruthRequest]) -> Result<Vec<u8>, SynthError> {
    let mut v = Vec::new();
    for t in truth {
        serde_json::to_writer(&mut v, t)?;
        v.write_all(b"\n")?;
    }
    Ok(v)
}

/// `X.pcap` → `X.truth.jsonl` (also for `.pcapng` and `.pcap.gz`).
pub fn truth_name(name: &str) -> String {
    let stem = name.split('.').next().unwrap_or(name);
    format!("{stem}.truth.jsonl")
}

/// Write every fixture and its truth into `dir`. Returns (file, requests).
pub fn write_all(dir: &Path) -> Result<Vec<(String, usize)>, SynthError> {
    std::fs::create_dir_all(dir)?;
    let mut done = Vec::new();
    for f in fixtures()? {
        std::fs::write(dir.join(&f.name), &f.bytes)?;
        std::fs::write(dir.join(truth_name(&f.name)), truth_jsonl(&f.truth)?)?;
        done.push((f.name, f.truth.len()));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_are_deterministic_and_small() {
        let a = fixtures().unwrap();
        let b = fixtures().unwrap();
        assert_eq!(a.len(), 41);
        let mut total = 0;
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.name, y.name);
            assert_eq!(x.bytes, y.bytes, "{}", x.name);
            assert!(!x.truth.is_empty(), "{}", x.name);
            total += x.bytes.len();
        }
        assert!(total < 1_800_000, "{total}");
    }

    #[test]
    fn truth_names() {
        assert_eq!(truth_name("gzip.pcap.gz"), "gzip.truth.jsonl");
        assert_eq!(
            truth_name("multi-interface.pcapng"),
            "multi-interface.truth.jsonl"
        );
    }

    /// Every truth request's request line and id appear in the capture
    /// bytes (for the uncompressed files whose segments are large enough
    /// to hold them whole).
    #[test]
    fn truth_lines_in_capture() {
        for f in fixtures().unwrap() {
            if [
                "gzip.pcap.gz",
                "overlap-different.pcap",
                "reorder-retrans.pcap",
                "pipelining.pcap",
                "span-pipelining.pcap",
                "gap.pcap",
                "chunked.pcap",
                "seq-wrap.pcap",
                "sample-mirror.pcap",
            ]
            .contains(&f.name.as_str())
                // Fragments split request lines between packets.
                || f.name.starts_with("frag-")
            {
                continue;
            }
            for t in &f.truth {
                let id = format!("X-Request-ID: {}\r\n", t.request_id);
                assert!(
                    f.bytes.windows(id.len()).any(|w| w == id.as_bytes()),
                    "{} {}",
                    f.name,
                    t.request_id
                );
                let line = format!("{} {} HTTP/1.1\r\n", t.method, t.uri);
                assert!(
                    f.bytes.windows(line.len()).any(|w| w == line.as_bytes()),
                    "{} {}",
                    f.name,
                    line
                );
            }
        }
    }

    #[test]
    fn truncated_cuts_inside_a_packet() {
        let f = truncated().unwrap();
        let mut r = pcap_file::pcap::PcapReader::new(&f.bytes[..]).unwrap();
        let mut whole = 0;
        let mut err = false;
        while let Some(p) = r.next_packet() {
            match p {
                Ok(_) => whole += 1,
                Err(_) => {
                    err = true;
                    break;
                }
            }
        }
        assert!(err, "last record is cut");
        assert!(whole > 5);
        assert_eq!(f.truth.len(), 2);
    }

    /// The committed files are exactly what the generator makes now.
    #[test]
    fn committed_testdata_is_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        for f in fixtures().unwrap() {
            let on_disk = std::fs::read(dir.join(&f.name)).unwrap();
            assert!(
                on_disk == f.bytes,
                "{} is stale: run testdata/regenerate.sh",
                f.name
            );
            let truth = std::fs::read(dir.join(truth_name(&f.name))).unwrap();
            assert_eq!(
                truth,
                truth_jsonl(&f.truth).unwrap(),
                "{} truth is stale",
                f.name
            );
        }
    }

    fn frames_of(bytes: &[u8]) -> (LinkType, Vec<(Timestamp, Vec<u8>)>) {
        let mut r = pcap_file::pcap::PcapReader::new(bytes).unwrap();
        let lt = LinkType(u32::from(r.header().datalink));
        let mut v = Vec::new();
        while let Some(Ok(p)) = r.next_packet() {
            v.push((Timestamp(p.timestamp.as_nanos() as u64), p.data.to_vec()));
        }
        (lt, v)
    }

    fn stream_of(name: &str) -> String {
        let f = fixtures()
            .unwrap()
            .into_iter()
            .find(|f| f.name == name)
            .unwrap();
        let (lt, frames) = frames_of(&f.bytes);
        let s = crate::synth::conversation::tests::rejoin(&frames, lt, 51000);
        String::from_utf8(s).unwrap()
    }

    #[test]
    fn edge_case_streams_hold_what_the_truth_says() {
        // First data wins: request 1 benign, request 2 the SQLi.
        let s = stream_of("overlap-different.pcap");
        assert!(s.contains("GET /q?s=good_morning_friends HTTP/1.1"));
        assert!(s.contains("GET /q?s=1%27+OR+1%3D1--+-xyz HTTP/1.1"));
        // A 200-byte hole inside request 2's body; 3 and 4 intact.
        let s = stream_of("gap.pcap");
        let hole = s.find(&"?".repeat(200)).unwrap();
        let r2 = s.find("X-Request-ID: gap-2").unwrap();
        let r3 = s.find("GET /items?id=1%20UNION").unwrap();
        assert!(r2 < hole && hole < r3);
        assert!(s.contains("X-Request-ID: gap-4"));
        // Reordered and retransmitted: all three requests whole.
        let s = stream_of("reorder-retrans.pcap");
        assert!(!s.contains("??"), "no hole");
        for id in [
            "reorder-retrans-1",
            "reorder-retrans-2",
            "reorder-retrans-3",
        ] {
            assert!(s.contains(&format!("X-Request-ID: {id}\r\n")), "{id}");
        }
        // Sequence wrap: both requests whole.
        let s = stream_of("seq-wrap.pcap");
        assert!(s.contains("POST /data HTTP/1.1") && s.contains("GET /download?file=..%2F"));
        // Midstream: starts inside the body, no request line before it.
        let s = stream_of("midstream.pcap");
        // body byte 700 is b'a' + 700 % 26 = 'y'
        assert!(s.starts_with("yzabcdef"), "{}", &s[..20]);
        assert!(!s.contains("midstream-0"));
        let s = stream_of("pipelining.pcap");
        assert_eq!(s.matches(" HTTP/1.1\r\n").count(), 3);
    }
}
