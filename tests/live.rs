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
    // A stand-in for the mirror target: accept, read, answer 204.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut conn = conn;
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
                }
            });
        }
    });
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
