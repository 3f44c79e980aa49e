//! `specula live` on the loopback interface: real packets through libpcap,
//! a clean stop on SIGTERM with everything flushed. Needs root (CI runs as
//! root); generates traffic only on 127.0.0.1.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn live_capture_on_loopback_finds_requests_and_flushes_on_sigterm() {
    let port = answer_204();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.jsonl");
    let filter = format!("tcp port {port}");
    let mut child = specula()
        .args([
            "live",
            "--interface",
            "lo",
            "--filter",
            &filter,
            "--emit",
            "requests",
            "--output",
        ])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the capture is open.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.contains("capturing on lo"),
        "unexpected first line: {line}"
    );
    // Started as root, it dropped to an unprivileged user before any packet.
    let uid = proc_uid(child.id());
    assert_ne!(uid, 0, "still root after the capture opened: {line}");

    let requests = [
        ("live-1", "/index.html"),
        (
            "live-2",
            "/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--",
        ),
        ("live-3", "/static/app.js"),
    ];
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for (id, uri) in requests {
        let req =
            format!("GET {uri} HTTP/1.1\r\nHost: shop.example.com\r\nX-Request-ID: {id}\r\n\r\n");
        conn.write_all(req.as_bytes()).unwrap();
        let mut buf = [0u8; 64];
        let _ = conn.read(&mut buf);
    }
    drop(conn);
    std::thread::sleep(Duration::from_millis(500));

    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "specula live did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "exit {status}: {rest}");
    assert!(
        rest.contains("packets"),
        "a summary is printed at the end: {rest}"
    );

    let records = read_jsonl_file(&out);
    let ids: Vec<String> = records.iter().map(|r| s(r, "request_id")).collect();
    assert_eq!(ids, vec!["live-1", "live-2", "live-3"], "{records:?}");
    let attack = &records[1];
    assert_eq!(
        attack["attack_classes"],
        serde_json::json!(["sqli"]),
        "{attack}"
    );
    assert_eq!(s(attack, "dst_port"), port.to_string());
}

#[test]
fn live_on_a_missing_interface_is_a_clear_error() {
    let out = run(&["live", "--interface", "nosuchif0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nosuchif0"), "{err}");
}

/// Real user id of a running process, from /proc.
fn proc_uid(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A stand-in mirror target on loopback: accept, read, answer 204.
fn answer_204() -> u16 {
    answer_204_on("127.0.0.1")
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

    /// Wait (at most 20 s) for a log line containing `needle`.
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

    fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    }

    /// SIGTERM, wait for a clean exit, return the whole log.
    fn stop(mut self) -> String {
        self.signal("-TERM");
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

fn get(port: u16, uri: &str, id: &str) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let req = format!("GET {uri} HTTP/1.1\r\nHost: t.example\r\nX-Request-ID: {id}\r\n\r\n");
    conn.write_all(req.as_bytes()).unwrap();
    let mut buf = [0u8; 64];
    let _ = conn.read(&mut buf);
}

fn rule_file(token: &str) -> String {
    format!(
        "[[rule]]\nid = \"test-{token}\"\nclass = \"rce\"\nseverity = \"high\"\ntargets = [\"query\"]\npattern = '{token}-zz9'\ndescription = \"test rule\"\n"
    )
}

#[test]
fn sighup_reloads_rules_and_broken_rules_keep_the_running_ones() {
    let port = answer_204();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, rule_file("alpha")).unwrap();
    let out = dir.path().join("attacks.jsonl");
    let filter = format!("tcp port {port}");
    let mut sensor = LiveSensor::start(&[
        "live",
        "-i",
        "lo",
        "--filter",
        &filter,
        "--rules",
        rules.to_str().unwrap(),
        "--workers",
        "1",
        "--output",
        out.to_str().unwrap(),
    ]);
    // The capture thread sends what it holds at least once a second.
    let settle = || std::thread::sleep(Duration::from_millis(1500));
    get(port, "/?q=alpha-zz9", "r1");
    settle();
    std::fs::write(&rules, rule_file("beta")).unwrap();
    sensor.signal("-HUP");
    sensor.wait_for("rules reloaded");
    get(port, "/?q=beta-zz9", "r2");
    get(port, "/?q=alpha-zz9", "r3");
    settle();
    std::fs::write(&rules, "[[rule]]\nid = \"broken\"\npattern = '('\n").unwrap();
    sensor.signal("-HUP");
    let failed = sensor.wait_for("rule reload failed");
    assert!(failed.contains("rules.toml"), "{failed}");
    get(port, "/?q=beta-zz9&again=1", "r4");
    settle();
    sensor.stop();
    let hits: Vec<(String, String)> = read_jsonl_file(&out)
        .iter()
        .map(|r| (s(r, "request_id"), s(r, "rule_id")))
        .collect();
    assert_eq!(
        hits,
        vec![
            ("r1".to_string(), "test-alpha".to_string()),
            ("r2".to_string(), "test-beta".to_string()),
            ("r4".to_string(), "test-beta".to_string()),
        ]
    );
}

fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
}

/// Two interfaces in one process (loopback and a veth to a namespace), the
/// metrics endpoint counting both, /healthz healthy while they run.
#[test]
fn two_interfaces_one_pipeline_and_live_metrics() {
    use common::netns::{Netns, Side, Veth};
    let ns = Netns::new("mif");
    let veth = Veth::new(Side::Root, Side::In(&ns), true);
    let port = answer_204_on("0.0.0.0");
    let metrics_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("requests.jsonl");
    let filter = format!("tcp port {port}");
    let sensor = LiveSensor::start(&[
        "live",
        "-i",
        "lo",
        "-i",
        &veth.a,
        "--filter",
        &filter,
        "--emit",
        "requests",
        "--metrics",
        &metrics_addr,
        "--output",
        out.to_str().unwrap(),
    ]);
    get(port, "/via-loopback", "lo-1");
    let status = ns
        .command("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-H",
            "X-Request-ID: veth-1",
        ])
        .arg(format!("http://{}:{port}/via-veth", veth.a_addr))
        .status()
        .unwrap();
    assert!(status.success(), "curl from the namespace");
    let deadline = Instant::now() + Duration::from_secs(15);
    let text = loop {
        let (code, text) = http_get(&metrics_addr, "/metrics");
        assert_eq!(code, 200, "{text}");
        if metric(&text, "specula_http_requests_total ").unwrap_or(0) >= 2 {
            break text;
        }
        assert!(Instant::now() < deadline, "requests not counted:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        metric(&text, "specula_capture_up{interface=\"lo\"} "),
        Some(1),
        "{text}"
    );
    let veth_up = format!("specula_capture_up{{interface=\"{}\"}} ", veth.a);
    assert_eq!(metric(&text, &veth_up), Some(1), "{text}");
    assert!(
        text.contains("# TYPE specula_pipeline_queue_batches gauge"),
        "{text}"
    );
    let (code, health) = http_get(&metrics_addr, "/healthz");
    assert_eq!(code, 200, "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    sensor.stop();
    let mut ids: Vec<String> = read_jsonl_file(&out)
        .iter()
        .map(|r| s(r, "request_id"))
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["lo-1", "veth-1"]);
}
