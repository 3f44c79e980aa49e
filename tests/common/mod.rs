//! Helpers shared by the integration tests: run the binary, read JSON Lines.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub mod netns;

/// The binary, with a fixed masking key: without one every process masks
/// with its own random key, and two runs could not be compared.
pub fn specula() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_specula"));
    cmd.env("SPECULA_MASK_KEY", TEST_MASK_KEY);
    cmd
}

/// The masking key of [`specula`] (tests that check key handling override it).
pub const TEST_MASK_KEY: &str = "specula-integration-tests-key-0001";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/corpus` beside the repository (CI clones it there). Tests that
/// need it fail loudly when it is missing: a silent skip would prove nothing.
pub fn corpus() -> PathBuf {
    let p = repo().join("../shared/corpus");
    assert!(
        p.is_dir(),
        "the shared corpus is missing at {}",
        p.display()
    );
    p
}

pub fn run(args: &[&str]) -> Output {
    let out = specula().args(args).output().expect("run specula");
    out
}

/// Run `specula` with `args`, expect success, parse standard output as JSON Lines.
pub fn run_jsonl(args: &[&str]) -> Vec<Value> {
    let out = run(args);
    assert!(
        out.status.success(),
        "specula {:?} failed: {}\n{}",
        args,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_jsonl(&out.stdout)
}

/// `specula read --no-progress --emit requests FILE...`: one record per request.
pub fn requests_of(files: &[&Path]) -> Vec<Value> {
    let mut args = vec!["read", "--no-progress", "--emit", "requests"];
    args.extend(files.iter().map(|f| f.to_str().expect("UTF-8 path")));
    run_jsonl(&args)
}

pub fn parse_jsonl(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes)
        .expect("output is UTF-8")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

pub fn read_jsonl_file(path: &Path) -> Vec<Value> {
    parse_jsonl(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

pub fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The `attack_classes` of a `--emit requests` record.
pub fn attack_classes(r: &Value) -> BTreeSet<String> {
    r["attack_classes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A stand-in mirror target on `addr` (port chosen by the kernel): accept,
/// read, answer 204 to whatever arrives. Returns the port.
pub fn answer_204_on(addr: &str) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind((addr, 0)).expect("bind the stand-in target");
    let port = listener.local_addr().expect("local addr").port();
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
    port
}

/// A tiny HTTP/1.1 GET (for `/metrics`, `/healthz`): (status code, body).
pub fn http_get(addr: impl std::net::ToSocketAddrs, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    let _ = conn.read_to_string(&mut text);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// The number just before `word` in the end summary's first line
/// (`specula: 1 file(s), 12 packets, ...`), e.g. `packets`, `flows`,
/// `requests,`; panics when there is none.
pub fn summary_count(summary: &str, word: &str) -> u64 {
    let line = summary
        .lines()
        .find(|l| l.starts_with("specula:") && l.contains(" file(s),"))
        .unwrap_or_else(|| panic!("no summary in {summary}"));
    let at = line
        .find(&format!(" {word}"))
        .unwrap_or_else(|| panic!("no {word} in {line}"));
    line[..at]
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before {word} in {line}"))
}
