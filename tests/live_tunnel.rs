//! `specula live` as a cloud mirroring target: VXLAN and Geneve datagrams
//! sent to its UDP listeners on loopback, no capture interface. Needs root
//! (CI runs as root) for the privilege drop it checks.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use specula::capture::{FileReader, LinkType, Timestamp};
use specula::synth::{write_pcap, TcpConversation};

use common::*;

/// Outer addresses of the synthetic mirror session (AWS-style: the mirror
/// source ENI sends to the target ENI on UDP 4789).
const OUTER_SRC: [u8; 4] = [172, 31, 0, 10];
const OUTER_DST: [u8; 4] = [172, 31, 0, 20];

fn vxlan_header(vni: u32) -> Vec<u8> {
    let mut h = vec![0x08, 0, 0, 0];
    h.extend_from_slice(&(vni << 8).to_be_bytes());
    h
}

/// Geneve (RFC 8926) with no options, carrying Ethernet (0x6558).
fn geneve_header(vni: u32) -> Vec<u8> {
    let mut h = vec![0x00, 0x00, 0x65, 0x58];
    h.extend_from_slice(&(vni << 8).to_be_bytes());
    h
}

/// The outer Ethernet/IPv4/UDP frame a mirror target's NIC would see.
fn outer_frame(dst_port: u16, udp_payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x0a], [2, 0, 0, 0, 0, 0x14])
        .ipv4(OUTER_SRC, OUTER_DST, 64)
        .udp(49152, dst_port)
        .write(&mut f, udp_payload)
        .unwrap();
    f
}

/// Every Ethernet frame of `pcap`, with its timestamp.
fn frames_of(pcap: &Path) -> Vec<(Timestamp, Vec<u8>)> {
    let mut r = FileReader::open(pcap).unwrap();
    let mut frames = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        assert_eq!(f.linktype, LinkType::ETHERNET);
        frames.push((f.ts, f.data.to_vec()));
    }
    frames
}

/// Wrap every frame of testdata/sample-mirror.pcap in VXLAN VNI 7 and
/// write the outer capture to `dir`; returns its path and the UDP payloads.
fn vxlan_sample(dir: &Path) -> (std::path::PathBuf, Vec<Vec<u8>>) {
    let inner = frames_of(&repo().join("testdata/sample-mirror.pcap"));
    let mut payloads = Vec::new();
    let mut outer = Vec::new();
    for (ts, frame) in inner {
        let mut p = vxlan_header(7);
        p.extend_from_slice(&frame);
        outer.push((ts, outer_frame(4789, &p)));
        payloads.push(p);
    }
    let path = dir.join("sample-mirror-vxlan.pcap");
    let f = std::fs::File::create(&path).unwrap();
    write_pcap(f, LinkType::ETHERNET, &outer, false, false).unwrap();
    (path, payloads)
}

/// A record without its timestamp and what live derives from arrival time.
fn timeless(r: &Value) -> Value {
    let mut r = r.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("ts");
        o.remove("request_key");
    }
    r
}

/// Records grouped by flow (client and server endpoints), in order.
fn by_flow(records: &[Value]) -> std::collections::BTreeMap<String, Vec<Value>> {
    let mut m = std::collections::BTreeMap::<String, Vec<Value>>::new();
    for r in records {
        let key = format!(
            "{}:{} > {}:{}",
            s(r, "src_ip"),
            s(r, "src_port"),
            s(r, "dst_ip"),
            s(r, "dst_port")
        );
        m.entry(key).or_default().push(timeless(r));
    }
    m
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_tcp_addr() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// Real user id of a running process, from /proc.
fn proc_uid(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
}

/// `specula live` with its stderr collected line by line.
struct LiveSensor {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    log: Vec<String>,
}

impl LiveSensor {
    fn start(args: &[&str]) -> LiveSensor {
        let mut child = specula().args(args).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sensor = LiveSensor {
            child,
            lines: rx,
            log: Vec::new(),
        };
        sensor.wait_for("capturing on");
        sensor
    }

    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no log line with '{needle}'; log so far: {:#?}", self.log),
            }
        }
    }

    /// SIGTERM, wait for a clean exit, return the whole log.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let started = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "specula live did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.log.push(line);
        }
        let log = self.log.join("\n");
        assert!(status.success(), "exit {status}: {log}");
        log
    }
}

/// Poll `/metrics` until `name` reaches `want` (at most 20 s); returns the text.
fn wait_metric(metrics: &str, name: &str, want: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, text) = http_get(metrics, "/metrics");
        assert_eq!(code, 200, "{text}");
        if metric(&text, name).unwrap_or(0) >= want {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never reached {want}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The check: the same traffic read offline from a VXLAN capture
/// and received live on the VXLAN listener gives the same records.
#[test]
fn vxlan_listener_gives_the_records_of_the_same_capture_read_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, payloads) = vxlan_sample(dir.path());
    let offline = requests_of(&[&pcap]);
    // The tunnel changes nothing: the same records as the bare capture.
    let bare = requests_of(&[&repo().join("testdata/sample-mirror.pcap")]);
    assert_eq!(offline.len(), 200);
    assert_eq!(by_flow(&offline), by_flow(&bare));

    let port = free_udp_port();
    let listen = format!("127.0.0.1:{port}");
    let metrics = free_tcp_addr();
    let out = dir.path().join("live.jsonl");
    let sensor = LiveSensor::start(&[
        "live",
        "--listen-vxlan",
        &listen,
        "--emit",
        "requests",
        "--metrics",
        &metrics,
        "--output",
        out.to_str().unwrap(),
    ]);
    let line = sensor.log.last().unwrap().clone();
    assert!(line.contains(&format!("vxlan:{listen}")), "{line}");
    // Started as root with only a listener, it still dropped privileges.
    assert_ne!(proc_uid(sensor.child.id()), 0, "still root: {line}");

    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to: SocketAddr = listen.parse().unwrap();
    for p in &payloads {
        tx.send_to(p, to).unwrap();
        // Paced so that neither the socket nor the queues drop.
        std::thread::sleep(Duration::from_micros(200));
    }
    let text = wait_metric(
        &metrics,
        "specula_capture_packets_total ",
        payloads.len() as u64,
    );
    let up = format!("specula_capture_up{{interface=\"vxlan:{listen}\"}} ");
    assert_eq!(metric(&text, &up), Some(1), "{text}");
    assert_eq!(
        metric(
            &text,
            "specula_capture_dropped_packets_total{reason=\"kernel\"} "
        ),
        Some(0),
        "{text}"
    );
    let log = sensor.stop();
    let live = read_jsonl_file(&out);
    assert_eq!(live.len(), offline.len(), "{log}");
    assert_eq!(by_flow(&live), by_flow(&offline));
    assert!(
        log.contains(&format!("{} packets", payloads.len())),
        "{log}"
    );
}

fn request_frames(client_port: u16, id: &str) -> Vec<Vec<u8>> {
    let client: SocketAddr = format!("10.1.0.5:{client_port}").parse().unwrap();
    let server: SocketAddr = "10.2.0.9:80".parse().unwrap();
    let req =
        format!("GET /app?id={id} HTTP/1.1\r\nHost: gwlb.example\r\nX-Request-ID: {id}\r\n\r\n");
    TcpConversation::new(client, server)
        .client(req.into_bytes())
        .server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec())
        .frames(LinkType::ETHERNET)
        .unwrap()
        .into_iter()
        .map(|(_, f)| f)
        .collect()
}

/// Geneve with a VNI filter: the listed VNI is analysed, another is counted
/// as filtered and yields nothing, a header whose VNI cannot be read is
/// counted as malformed; all visible on /metrics.
#[test]
fn geneve_listener_with_a_vni_filter() {
    let port = free_udp_port();
    let listen = format!("127.0.0.1:{port}");
    let metrics = free_tcp_addr();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("geneve.jsonl");
    let sensor = LiveSensor::start(&[
        "live",
        "--listen-geneve",
        &listen,
        "--vni",
        "7",
        "--vni",
        "12",
        "--emit",
        "requests",
        "--metrics",
        &metrics,
        "--output",
        out.to_str().unwrap(),
    ]);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sent = 0u64;
    let mut send = |vni: u32, frames: &[Vec<u8>]| {
        for f in frames {
            let mut p = geneve_header(vni);
            p.extend_from_slice(f);
            tx.send_to(&p, &listen).unwrap();
            sent += 1;
        }
    };
    let kept = request_frames(40001, "vni-7");
    let other = request_frames(40002, "vni-9");
    send(7, &kept);
    send(9, &other);
    // Geneve version 3 and a 5-byte stub: their VNI is unknown.
    tx.send_to(&[0xc0, 0, 0x65, 0x58, 0, 0, 7, 0], &listen)
        .unwrap();
    tx.send_to(&[0, 0, 0x65, 0x58, 0], &listen).unwrap();
    sent += 2;
    let text = wait_metric(&metrics, "specula_capture_packets_total ", sent);
    assert_eq!(
        metric(&text, "specula_capture_vni_filtered_packets_total "),
        Some(other.len() as u64),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "specula_decode_skipped_packets_total{reason=\"malformed_tunnel\"} "
        ),
        Some(2),
        "{text}"
    );
    let up = format!("specula_capture_up{{interface=\"geneve:{listen}\"}} ");
    assert_eq!(metric(&text, &up), Some(1), "{text}");
    sensor.stop();
    let ids: Vec<String> = read_jsonl_file(&out)
        .iter()
        .map(|r| s(r, "request_id"))
        .collect();
    assert_eq!(ids, vec!["vni-7"]);
}

/// Garbage on a VXLAN listener (short, I flag missing) is counted by the
/// decoder and the listener goes on.
#[test]
fn garbage_datagrams_are_counted_not_fatal() {
    let port = free_udp_port();
    let listen = format!("127.0.0.1:{port}");
    let metrics = free_tcp_addr();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("garbage.jsonl");
    let sensor = LiveSensor::start(&[
        "live",
        "--listen-vxlan",
        &listen,
        "--emit",
        "requests",
        "--metrics",
        &metrics,
        "--output",
        out.to_str().unwrap(),
    ]);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.send_to(&[0x08, 0], &listen).unwrap();
    let mut no_flag = vec![0u8, 0, 0, 0, 0, 0, 7, 0];
    no_flag.extend_from_slice(&[0xee; 60]);
    tx.send_to(&no_flag, &listen).unwrap();
    tx.send_to(&[], &listen).unwrap();
    let frames = request_frames(40003, "after-garbage");
    for f in &frames {
        let mut p = vxlan_header(3);
        p.extend_from_slice(f);
        tx.send_to(&p, &listen).unwrap();
    }
    let total = 3 + frames.len() as u64;
    let text = wait_metric(&metrics, "specula_capture_packets_total ", total);
    // The decoder calls a header cut short `truncated`, a bad one `malformed_tunnel`.
    let skipped = ["truncated", "malformed_tunnel"]
        .iter()
        .map(|r| {
            let name = format!("specula_decode_skipped_packets_total{{reason=\"{r}\"}} ");
            metric(&text, &name).unwrap_or(0)
        })
        .sum::<u64>();
    assert_eq!(skipped, 3, "{text}");
    let log = sensor.stop();
    assert!(!log.contains("listener failed"), "{log}");
    let ids: Vec<String> = read_jsonl_file(&out)
        .iter()
        .map(|r| s(r, "request_id"))
        .collect();
    assert_eq!(ids, vec!["after-garbage"]);
}

#[test]
fn live_without_any_source_is_a_clear_error() {
    let out = run(&["live", "--config", "/dev/null"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no packet source"), "{err}");
    assert!(err.contains("--listen-vxlan"), "{err}");
}

#[test]
fn a_listener_on_a_taken_port_is_an_error_naming_it() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["live", "--listen-geneve", &addr]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("geneve:{addr}")), "{err}");
    let out = run(&[
        "live",
        "--listen-vxlan",
        "127.0.0.1:4789",
        "--vni",
        "16777216",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("16777216"), "{err}");
}

/// AWS Traffic Mirroring to a Gateway Load Balancer endpoint: the GWLB's
/// Geneve (with a TLV option, as GWLB adds) carries the mirror's VXLAN.
#[test]
fn geneve_listener_opens_vxlan_nested_inside() {
    let port = free_udp_port();
    let listen = format!("127.0.0.1:{port}");
    let metrics = free_tcp_addr();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested.jsonl");
    let sensor = LiveSensor::start(&[
        "live",
        "--listen-geneve",
        &listen,
        "--emit",
        "requests",
        "--metrics",
        &metrics,
        "--output",
        out.to_str().unwrap(),
    ]);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let frames = request_frames(40004, "nested");
    for f in &frames {
        let mut vx = vxlan_header(7);
        vx.extend_from_slice(f);
        // Geneve with 8 bytes of options (length 2 words): class 0x0108, type 1, 4 bytes of data.
        let mut p = vec![0x02, 0x00, 0x65, 0x58, 0, 0, 0, 0];
        p.extend_from_slice(&[0x01, 0x08, 0x01, 0x01, 0xde, 0xad, 0xbe, 0xef]);
        p.extend_from_slice(&outer_frame(4789, &vx));
        tx.send_to(&p, &listen).unwrap();
    }
    wait_metric(
        &metrics,
        "specula_capture_packets_total ",
        frames.len() as u64,
    );
    sensor.stop();
    let ids: Vec<String> = read_jsonl_file(&out)
        .iter()
        .map(|r| s(r, "request_id"))
        .collect();
    assert_eq!(ids, vec!["nested"]);
}
