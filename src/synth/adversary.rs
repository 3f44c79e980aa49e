//! Hostile captures for load tests: each [`Scenario`] is traffic an attacker
//! can send on purpose to exhaust a passive sensor (a SYN flood, idle
//! half-open connections, one-byte trickles, a huge body, a huge head,
//! deep nesting, regex-hostile text), followed by ordinary attack requests
//! (the *canaries*) that a sensor which held must still report.
//!
//! Output is streamed frame by frame (a 1 GB body never sits in memory) and
//! deterministic: the same scenario and scale give the same bytes.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use etherparse::{EtherType, Ethernet2Header};
use pcap_file::pcap::PcapWriter;

use super::conversation::{ip_tcp, Direction, Segment, TcpConversation, Teardown};
use super::writer::{pcap_writer, write_frame};
use super::SynthError;
use crate::capture::{LinkType, Timestamp};

/// The hostile traffic of a capture; `scale` in [`AdversaryConfig`] means
/// what each variant says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// `scale` SYNs, each from a new client endpoint, never followed up.
    SynFlood,
    /// `scale` connections with a full handshake and half a request head,
    /// then silence.
    HalfOpen,
    /// `scale` connections sending a request one byte per segment,
    /// interleaved round robin; each request is an attack to report.
    Trickle,
    /// One keep-alive connection: a POST whose body is `scale` bytes, then an
    /// attack request on the same connection.
    BigBody,
    /// One request with `scale` header fields, then an attack request on the
    /// same connection.
    ManyHeaders,
    /// `scale` levels of JSON nesting, then the same in XML.
    DeepNesting,
    /// `scale` requests whose query and body are regex-hostile runs
    /// (`'((((`, `<<<<`, `%%%%`, `\\\\`, …), 60 KiB each.
    Pathological,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::SynFlood,
        Scenario::HalfOpen,
        Scenario::Trickle,
        Scenario::BigBody,
        Scenario::ManyHeaders,
        Scenario::DeepNesting,
        Scenario::Pathological,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::SynFlood => "syn-flood",
            Scenario::HalfOpen => "half-open",
            Scenario::Trickle => "trickle",
            Scenario::BigBody => "big-body",
            Scenario::ManyHeaders => "many-headers",
            Scenario::DeepNesting => "deep-nesting",
            Scenario::Pathological => "pathological",
        }
    }

    pub fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The scale the issue asks for (a million flows, a 1 GB body, 100,000
    /// headers, ...).
    pub fn full_scale(self) -> u64 {
        match self {
            Scenario::SynFlood | Scenario::HalfOpen => 1_000_000,
            Scenario::Trickle => 2_000,
            Scenario::BigBody => 1_000_000_000,
            Scenario::ManyHeaders => 100_000,
            Scenario::DeepNesting => 100_000,
            Scenario::Pathological => 2_000,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct AdversaryConfig {
    pub scenario: Scenario,
    pub scale: u64,
    /// Ordinary attack requests sent after the hostile traffic.
    pub canaries: u32,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdversarySummary {
    pub frames: u64,
    pub bytes: u64,
    /// `X-Request-ID`s of the requests that are attacks a sensor must report
    /// (the canaries, plus the trickled requests).
    pub attack_request_ids: Vec<String>,
}

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 20, 0, 1);
const SERVER_PORT: u16 = 8445;
const MSS: usize = 1448;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// The attack every canary carries (SQL injection in a query argument).
pub fn attack_request(id: &str) -> Vec<u8> {
    format!(
        "GET /search?q=1%27%20UNION%20SELECT%20username,password%20FROM%20users--%20- HTTP/1.1\r\n\
         Host: shop.example\r\nUser-Agent: adversary\r\nX-Request-ID: {id}\r\n\r\n"
    )
    .into_bytes()
}

/// The `i`-th distinct client endpoint (10.64.0.0/10, ports 1024..=65535).
fn client(i: u64) -> SocketAddrV4 {
    let per_ip = 64_512u64;
    let ip = u32::from(Ipv4Addr::new(10, 64, 0, 0)) + (i / per_ip) as u32;
    let port = 1024 + (i % per_ip) as u16;
    SocketAddrV4::new(Ipv4Addr::from(ip), port)
}

/// Frames to a pcap, one at a time, `step_ns` apart.
struct Emitter<W: Write> {
    w: PcapWriter<W>,
    ts: Timestamp,
    step_ns: u64,
    buf: Vec<u8>,
    summary: AdversarySummary,
}

impl<W: Write> Emitter<W> {
    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> Result<(), SynthError> {
        let seg = Segment {
            dir: Direction::ClientToServer,
            seq,
            ack,
            flags,
            payload: payload.to_vec(),
            client_index: None,
        };
        let ip = ip_tcp(SocketAddr::V4(src), SocketAddr::V4(dst), &seg)?;
        let eth = Ethernet2Header {
            source: [2, 0, 0, 0, 0, 1],
            destination: [2, 0, 0, 0, 0, 2],
            ether_type: EtherType::IPV4,
        };
        self.buf.clear();
        self.buf.extend_from_slice(&eth.to_bytes());
        self.buf.extend_from_slice(&ip);
        let frame = std::mem::take(&mut self.buf);
        let r = self.frame(&frame);
        self.buf = frame;
        r
    }

    fn frame(&mut self, data: &[u8]) -> Result<(), SynthError> {
        self.summary.bytes += write_frame(&mut self.w, self.ts, data)? as u64;
        self.summary.frames += 1;
        self.ts = Timestamp(self.ts.0 + self.step_ns);
        Ok(())
    }

    /// A whole conversation (handshake, request bytes, 200 answer, FIN)
    /// rendered by [`TcpConversation`] and placed at the current time.
    fn conversation(&mut self, client: SocketAddrV4, request: Vec<u8>) -> Result<(), SynthError> {
        let frames = TcpConversation::new(
            SocketAddr::V4(client),
            SocketAddr::V4(SocketAddrV4::new(SERVER, SERVER_PORT)),
        )
        .client(request)
        .server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec())
        .teardown(Teardown::Fin)
        .timing(self.ts, self.step_ns)
        .frames(LinkType::ETHERNET)?;
        for (_, f) in frames {
            self.frame(&f)?;
        }
        Ok(())
    }

    /// The client side of one connection, sent as `payload` in MSS-sized
    /// segments after a handshake; the server only ACKs. Returns the next
    /// client sequence number.
    fn stream(
        &mut self,
        client: SocketAddrV4,
        chunks: &mut dyn Iterator<Item = Vec<u8>>,
    ) -> Result<u32, SynthError> {
        let server = SocketAddrV4::new(SERVER, SERVER_PORT);
        let (cisn, sisn) = (1000u32, 5000u32);
        self.tcp(client, server, cisn, 0, SYN, b"")?;
        self.tcp(server, client, sisn, cisn + 1, SYN | ACK, b"")?;
        self.tcp(client, server, cisn + 1, sisn + 1, ACK, b"")?;
        let mut seq = cisn.wrapping_add(1);
        for chunk in chunks {
            for piece in chunk.chunks(MSS) {
                self.tcp(client, server, seq, sisn + 1, ACK | PSH, piece)?;
                seq = seq.wrapping_add(piece.len() as u32);
            }
        }
        Ok(seq)
    }
}

/// Write the scenario as an Ethernet pcap to `out`.
pub fn write_adversary<W: Write>(
    out: W,
    cfg: &AdversaryConfig,
) -> Result<AdversarySummary, SynthError> {
    let w = pcap_writer(out, LinkType::ETHERNET, false, false)?;
    let mut e = Emitter {
        w,
        ts: super::DEFAULT_START,
        step_ns: 1_000,
        buf: Vec::with_capacity(2048),
        summary: AdversarySummary {
            bytes: 24,
            ..AdversarySummary::default()
        },
    };
    let server = SocketAddrV4::new(SERVER, SERVER_PORT);
    let n = cfg.scale;
    match cfg.scenario {
        Scenario::SynFlood => {
            for i in 0..n {
                e.tcp(
                    client(i),
                    server,
                    (i as u32).wrapping_mul(7919),
                    0,
                    SYN,
                    b"",
                )?;
            }
        }
        Scenario::HalfOpen => {
            let half = b"GET /account/settings HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: slow";
            for i in 0..n {
                let c = client(i);
                e.tcp(c, server, 1000, 0, SYN, b"")?;
                e.tcp(server, c, 5000, 1001, SYN | ACK, b"")?;
                e.tcp(c, server, 1001, 5001, ACK | PSH, half)?;
            }
        }
        Scenario::Trickle => {
            let flows: Vec<(SocketAddrV4, Vec<u8>)> = (0..n)
                .map(|i| {
                    let id = format!("trickle-{i}");
                    e.summary.attack_request_ids.push(id.clone());
                    (client(i), attack_request(&id))
                })
                .collect();
            for (c, _) in &flows {
                e.tcp(*c, server, 1000, 0, SYN, b"")?;
                e.tcp(server, *c, 5000, 1001, SYN | ACK, b"")?;
            }
            let longest = flows.iter().map(|(_, r)| r.len()).max().unwrap_or(0);
            for at in 0..longest {
                for (c, req) in &flows {
                    if let Some(b) = req.get(at..at + 1) {
                        e.tcp(*c, server, 1001 + at as u32, 5001, ACK | PSH, b)?;
                    }
                }
            }
        }
        Scenario::BigBody => {
            let head = format!(
                "POST /upload HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {n}\r\nX-Request-ID: big-body\r\n\r\n"
            );
            let id = "big-body-follow-up".to_string();
            let follow = attack_request(&id);
            e.summary.attack_request_ids.push(id);
            let block: Vec<u8> = b"abcdefgh"
                .iter()
                .copied()
                .cycle()
                .take(64 * 1024)
                .collect();
            let mut left = n;
            let body = std::iter::from_fn(move || {
                if left == 0 {
                    return None;
                }
                let take = left.min(block.len() as u64) as usize;
                left -= take as u64;
                block.get(..take).map(<[u8]>::to_vec)
            });
            let mut all = std::iter::once(head.into_bytes())
                .chain(body)
                .chain(std::iter::once(follow));
            e.stream(client(0), &mut all)?;
        }
        Scenario::ManyHeaders => {
            let id = "many-headers-follow-up".to_string();
            let follow = attack_request(&id);
            e.summary.attack_request_ids.push(id);
            let mut head = b"GET /profile HTTP/1.1\r\nHost: shop.example\r\n".to_vec();
            for i in 0..n {
                head.extend_from_slice(format!("X-Pad-{i}: v\r\n").as_bytes());
            }
            head.extend_from_slice(b"\r\n");
            let mut all = [head, follow].into_iter();
            e.stream(client(0), &mut all)?;
        }
        Scenario::DeepNesting => {
            let depth = n as usize;
            let mut json = Vec::with_capacity(depth * 6 + 64);
            for _ in 0..depth {
                json.extend_from_slice(b"{\"a\":");
            }
            json.extend_from_slice(b"\"1' OR '1'='1\"");
            json.extend(std::iter::repeat(b'}').take(depth));
            let mut xml = Vec::with_capacity(depth * 7 + 64);
            xml.extend(b"<a>".repeat(depth));
            xml.extend_from_slice(b"<script>alert(1)</script>");
            xml.extend(b"</a>".repeat(depth));
            let mut reqs = Vec::new();
            for (ct, body) in [("application/json", json), ("application/xml", xml)] {
                let mut r = format!(
                    "POST /api/items HTTP/1.1\r\nHost: shop.example\r\nContent-Type: {ct}\r\n\
                     Content-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(&body);
                reqs.push(r);
            }
            e.stream(client(0), &mut reqs.into_iter())?;
        }
        Scenario::Pathological => {
            const RUNS: [&[u8]; 6] = [b"'((", b"<<a", b"%%", b"\\\\x", b"/**/", b"${${"];
            for i in 0..n {
                let run = RUNS
                    .get((i % RUNS.len() as u64) as usize)
                    .copied()
                    .unwrap_or(b"'");
                let text: Vec<u8> = run.iter().copied().cycle().take(60 * 1024).collect();
                let mut r = format!(
                    "POST /p?q={} HTTP/1.1\r\nHost: shop.example\r\n\
                     Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
                    String::from_utf8_lossy(text.get(..4096).unwrap_or(&text)),
                    text.len() + 2
                )
                .into_bytes();
                r.extend_from_slice(b"b=");
                r.extend_from_slice(&text);
                e.conversation(client(i), r)?;
            }
        }
    }
    // The canaries: fresh connections after the hostile traffic, one second
    // later (so nothing above has timed out yet).
    e.ts = Timestamp(e.ts.0 + 1_000_000_000);
    e.step_ns = 100_000;
    for k in 0..cfg.canaries {
        let id = format!("canary-{k}");
        e.conversation(client(10_000_000 + u64::from(k)), attack_request(&id))?;
        e.summary.attack_request_ids.push(id);
    }
    let Emitter { w, summary, .. } = e;
    w.into_writer().flush()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::FileReader;

    #[test]
    fn every_scenario_writes_a_readable_capture_with_canaries() {
        for s in Scenario::ALL {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("a.pcap");
            let f = std::fs::File::create(&path).unwrap();
            let cfg = AdversaryConfig {
                scenario: s,
                scale: 50,
                canaries: 3,
            };
            let sum = write_adversary(std::io::BufWriter::new(f), &cfg).unwrap();
            assert!(sum.frames > 3 * 9, "{s:?}");
            assert_eq!(std::fs::metadata(&path).unwrap().len(), sum.bytes, "{s:?}");
            assert!(sum.attack_request_ids.iter().any(|i| i == "canary-2"));
            let mut r = FileReader::open(&path).unwrap();
            let mut n = 0;
            while r.next_frame().unwrap().is_some() {
                n += 1;
            }
            assert_eq!(n, sum.frames, "{s:?}");
            assert_eq!(Scenario::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn client_endpoints_are_distinct() {
        let a: std::collections::HashSet<_> = (0..200_000).map(client).collect();
        assert_eq!(a.len(), 200_000);
    }
}
