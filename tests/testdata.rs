//! `specula read` on every capture in `testdata/` against its ground truth
//! (`NAME.truth.jsonl`, written by the generator in `src/synth`): every whole
//! request is found with its method, target and host; every attack is found
//! with its class; benign requests (which quote attack words in prose) are
//! not flagged; on two-sided (`span-*`) captures every request carries the
//! response its truth names.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::*;
use serde_json::Value;

fn captures() -> Vec<(PathBuf, PathBuf)> {
    let dir = repo().join("testdata");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if let Some(stem) = name.strip_suffix(".truth.jsonl") {
            let capture = ["pcap", "pcapng", "pcap.gz"]
                .iter()
                .map(|ext| dir.join(format!("{stem}.{ext}")))
                .find(|c| c.exists())
                .unwrap_or_else(|| panic!("no capture for {name}"));
            out.push((capture, p));
        }
    }
    out.sort();
    assert!(out.len() >= 15, "testdata looks incomplete: {out:?}");
    out
}

#[test]
fn every_testdata_capture_matches_its_truth() {
    let mut problems = Vec::new();
    let mut counted = (0, 0, 0);
    for (capture, truth) in captures() {
        let out = run(&[
            "read",
            "--no-progress",
            "--emit",
            "requests",
            capture.to_str().unwrap(),
        ]);
        let name = capture.file_name().unwrap().to_string_lossy().to_string();
        if !out.status.success() {
            problems.push(format!(
                "{name}: exit {:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let records = parse_jsonl(&out.stdout);
        let by_id: HashMap<String, &Value> =
            records.iter().map(|r| (s(r, "request_id"), r)).collect();
        for t in read_jsonl_file(&truth) {
            let id = s(&t, "request_id");
            let partial = t["partial"].as_bool().unwrap_or(false);
            let Some(r) = by_id.get(&id) else {
                if !partial {
                    problems.push(format!("{name}: request {id} not found"));
                }
                continue;
            };
            counted.0 += 1;
            for k in ["method", "uri", "host"] {
                if s(r, k) != s(&t, k) {
                    problems.push(format!(
                        "{name} {id}: {k} = {:?}, truth {:?}",
                        s(r, k),
                        s(&t, k)
                    ));
                }
            }
            // Response fields: always present; on two-sided fixtures the
            // truth says what each request's response was (0 = none).
            for k in [
                "response_status",
                "response_bytes",
                "response_time_ms",
                "blocked",
            ] {
                match (r.get(k), t.get(k)) {
                    (None, _) => problems.push(format!("{name} {id}: no {k}")),
                    (Some(got), Some(want)) if got != want => {
                        problems.push(format!("{name} {id}: {k} = {got}, truth {want}"))
                    }
                    _ => {}
                }
            }
            let classes = attack_classes(r);
            match t.get("attack_class").and_then(Value::as_str) {
                Some(class) => {
                    counted.1 += 1;
                    if !classes.contains(class) {
                        problems.push(format!(
                            "{name} {id}: attack {class} at {} missed (got {classes:?})",
                            s(&t, "location")
                        ));
                    }
                }
                None => {
                    counted.2 += 1;
                    // Capture artefacts (gaps) may legitimately raise protocol anomalies.
                    let flagged: Vec<&String> = classes
                        .iter()
                        .filter(|c| !(partial && *c == "protocol"))
                        .collect();
                    if !flagged.is_empty() {
                        problems.push(format!(
                            "{name} {id}: benign request flagged as {flagged:?}: {}",
                            s(r, "uri")
                        ));
                    }
                }
            }
        }
    }
    eprintln!(
        "testdata: {} requests checked, {} attacks, {} benign",
        counted.0, counted.1, counted.2
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn overlapping_different_data_is_counted() {
    let out = run(&[
        "read",
        "--no-progress",
        repo()
            .join("testdata/overlap-different.pcap")
            .to_str()
            .unwrap(),
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("overlap_different_data="),
        "the summary must show the overlap anomaly: {err}"
    );
}

#[test]
fn a_lost_segment_is_counted_as_a_gap() {
    let out = run(&[
        "read",
        "--no-progress",
        repo().join("testdata/gap.pcap").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("reassembly_gaps="),
        "the summary must show the gap: {err}"
    );
}

#[test]
fn attack_records_carry_contract_fields() {
    let records = run_jsonl(&[
        "read",
        "--no-progress",
        repo().join("testdata/sample-mirror.pcap").to_str().unwrap(),
    ]);
    assert!(!records.is_empty());
    let classes = [
        "sqli",
        "nosqli",
        "xss",
        "rce",
        "ptrav",
        "rfi",
        "ssrf",
        "ssti",
        "xxe",
        "ldapi",
        "crlf",
        "ssi",
        "mail_injection",
        "scanner",
        "protocol",
    ];
    for r in &records {
        for k in [
            "ts",
            "src_ip",
            "dst_ip",
            "client_ip",
            "method",
            "uri",
            "attack_class",
            "rule_id",
            "severity",
            "location",
            "matched",
        ] {
            assert!(r[k].is_string(), "{k} must be a string in {r}");
        }
        for k in ["src_port", "dst_port", "body_len"] {
            assert!(r[k].is_u64(), "{k} must be a number in {r}");
        }
        assert!(classes.contains(&r["attack_class"].as_str().unwrap()));
        assert!(["low", "medium", "high", "critical"].contains(&r["severity"].as_str().unwrap()));
        assert!(r["matched"].as_str().unwrap().len() <= 256 * 4);
        let ts = r["ts"].as_str().unwrap();
        assert!(
            ts.len() == 27 && ts.ends_with('Z') && ts.as_bytes()[19] == b'.',
            "ts format: {ts}"
        );
    }
}

#[test]
fn trusted_proxy_headers_give_the_client_ip() {
    let pcap = repo().join("testdata/sample-mirror.pcap");
    let untrusted = run_jsonl(&[
        "read",
        "--no-progress",
        "--emit",
        "requests",
        pcap.to_str().unwrap(),
    ]);
    assert!(
        untrusted
            .iter()
            .all(|r| s(r, "client_ip") == s(r, "src_ip")),
        "headers must not be believed by default"
    );
    let trusted = run_jsonl(&[
        "read",
        "--no-progress",
        "--emit",
        "requests",
        "--trusted-proxy",
        "0.0.0.0/0",
        pcap.to_str().unwrap(),
    ]);
    let from_header = trusted
        .iter()
        .filter(|r| r["client_ip_from_header"] == true)
        .count();
    assert!(
        from_header > trusted.len() / 2,
        "mirror headers should give most client IPs: {from_header}/{}",
        trusted.len()
    );
    assert!(trusted.iter().any(|r| s(r, "client_ip") != s(r, "src_ip")));
}

/// Every request whose untrusted source claims a client is counted
/// (`specula_http_client_ip_claims_untrusted_total`, shown in the summary),
/// whatever the emit mode; from a trusted proxy nothing is.
#[test]
fn untrusted_client_ip_claims_are_counted() {
    let pcap = repo().join("testdata/sample-mirror.pcap");
    let pcap = pcap.to_str().unwrap();
    let claimed = run_jsonl(&["read", "--no-progress", "--emit", "requests", pcap])
        .iter()
        .filter(|r| r.get("client_ip_claimed").is_some_and(|c| !c.is_null()))
        .count();
    assert!(claimed > 10, "the mirror capture carries claims: {claimed}");
    let summary = |extra: &[&str]| {
        let mut args = vec!["read", "--no-progress", "--emit", "attacks"];
        args.extend_from_slice(extra);
        args.push(pcap);
        let out = run(&args);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = summary(&[]);
    assert!(
        err.contains(&format!("http_client_ip_claims_untrusted={claimed}")),
        "{err}"
    );
    let err = summary(&["--trusted-proxy", "0.0.0.0/0"]);
    assert!(!err.contains("claims_untrusted"), "{err}");
}
