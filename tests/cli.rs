//! The command line's contract: errors name the file or option, exit codes,
//! damaged input analysed up to the damage.

mod common;

use common::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn missing_file_is_a_clear_error() {
    let out = run(&["read", "--no-progress", "/nonexistent/x.pcap"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/nonexistent/x.pcap"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_file_that_is_not_a_capture_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.txt");
    std::fs::write(&p, b"hello, this is not a capture file at all\n").unwrap();
    let out = run(&["read", "--no-progress", p.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("notes.txt"), "{}", stderr(&out));
}

#[test]
fn unknown_option_fails() {
    let out = run(&["read", "--no-such-option", "x.pcap"]);
    assert!(!out.status.success());
}

#[test]
fn truncated_capture_is_analysed_up_to_the_damage() {
    // Cut a real capture in the middle of a packet: what precedes is analysed,
    // the damage is reported, and since something was read the exit is 0.
    let src = std::fs::read(corpus().join("crs/crs.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.pcap");
    std::fs::write(&p, &src[..src.len() / 2 + 7]).unwrap();
    let out = run(&[
        "read",
        "--no-progress",
        "--emit",
        "requests",
        p.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert!(
        err.contains("cut.pcap"),
        "damage must be reported naming the file: {err}"
    );
    let records = parse_jsonl(&out.stdout);
    assert!(
        records.len() > 2000,
        "requests before the damage are reported, got {}",
        records.len()
    );
    assert_eq!(out.status.code(), Some(0), "{err}");
}

#[test]
fn summary_goes_to_stderr() {
    let out = run(&[
        "read",
        "--no-progress",
        corpus().join("crs/crs.pcap").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let err = stderr(&out);
    for word in ["packets", "flows", "requests", "elapsed", "Mbit/s", "drops"] {
        assert!(err.contains(word), "summary lacks {word}: {err}");
    }
}

#[test]
fn stdin_and_gzip_give_the_same_records_as_the_file() {
    use std::io::Write;
    let pcap = corpus().join("crs/crs.pcap");
    let direct = run_jsonl(&[
        "read",
        "--no-progress",
        "--emit",
        "requests",
        "--workers",
        "1",
        pcap.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&pcap).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    let gz = gz.finish().unwrap();
    let mut child = specula()
        .args([
            "read",
            "--no-progress",
            "--emit",
            "requests",
            "--workers",
            "1",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&gz));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let via_stdin = parse_jsonl(&out.stdout);
    assert_eq!(direct.len(), via_stdin.len());
    let key = |v: &serde_json::Value| s(v, "request_key");
    let mut a: Vec<String> = direct.iter().map(key).collect();
    let mut b: Vec<String> = via_stdin.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn rules_check_reports_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "[[rule]]\nid = \"x-1\"\nclass = \"sqli\"\nseverity = \"high\"\ntargets = [\"query\"]\npattern = '''(unclosed'''\n",
    )
    .unwrap();
    let out = run(&["rules", "check", p.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml:6:"),
        "error must point at line 6: {err}"
    );
    let ok = run(&["rules", "check"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("rules ok"));
}

#[test]
fn bpf_filter_is_applied_to_files() {
    let pcap = corpus().join("crs/crs.pcap");
    let all = requests_of(&[&pcap]);
    let none = run_jsonl(&[
        "read",
        "--no-progress",
        "--emit",
        "requests",
        "--filter",
        "tcp port 9",
        pcap.to_str().unwrap(),
    ]);
    assert!(!all.is_empty());
    assert!(
        none.is_empty(),
        "a filter matching nothing must leave no records"
    );
    let bad = run(&[
        "read",
        "--no-progress",
        "--filter",
        "tcp portt 80",
        pcap.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("--filter"), "{}", stderr(&bad));
}

#[test]
fn several_files_in_one_run_give_the_records_of_each() {
    let a = repo().join("testdata/linktypes-sll2.pcap");
    let b = repo().join("testdata/multi-interface.pcapng");
    let one = requests_of(&[&a]);
    let two = requests_of(&[&b]);
    let both = requests_of(&[&a, &b]);
    assert!(!one.is_empty() && !two.is_empty());
    assert_eq!(both.len(), one.len() + two.len());
}

#[test]
fn a_missing_file_among_good_ones_fails_the_run_but_analyses_the_rest() {
    let good = repo().join("testdata/linktypes-ethernet.pcap");
    let out = run(&[
        "read",
        "--no-progress",
        "--emit",
        "requests",
        "/nonexistent.pcap",
        good.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("/nonexistent.pcap"));
    assert!(
        !parse_jsonl(&out.stdout).is_empty(),
        "the good file is still analysed"
    );
}

/// The configurations we ship or document pass `specula config check`; a
/// bad value is refused with its key and line.
#[test]
fn shipped_and_documented_configs_check() {
    let example = repo().join("specula.example.toml");
    let out = run(&["config", "check", example.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let install = std::fs::read_to_string(repo().join("docs/INSTALL.md")).unwrap();
    let blocks: Vec<&str> = install
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert!(!blocks.is_empty(), "docs/INSTALL.md has a TOML example");
    let dir = tempfile::tempdir().unwrap();
    for (i, b) in blocks.iter().enumerate() {
        let p = dir.path().join(format!("install-{i}.toml"));
        std::fs::write(&p, b).unwrap();
        let out = run(&["config", "check", p.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "docs/INSTALL.md example {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[sink]\nlisten = \"0.0.0.0:8445\"\n[metrics]\nlisten = \"nowhere\"\n",
    )
    .unwrap();
    let out = run(&["config", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 4") && err.contains("listen"), "{err}");
}

/// `[[detect.exclude]]` drops exactly the hits it scopes (class + host
/// here), every other hit stays, and `[detect] paranoia` out of range is a
/// config error naming the line.
#[test]
fn exclusions_in_the_config_drop_exactly_what_they_scope() {
    let sample = repo().join("testdata/sample-mirror.pcap");
    let classes_by_host = |config: Option<&std::path::Path>| {
        let mut args = vec!["read".to_string(), "--no-progress".into()];
        if let Some(c) = config {
            args.push("--config".into());
            args.push(c.display().to_string());
        }
        args.push(sample.display().to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut v: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let r: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    r["attack_class"].as_str().unwrap_or_default().to_string(),
                    r["host"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let all = classes_by_host(None);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tune.toml");
    std::fs::write(
        &config,
        "[[detect.exclude]]\nclass = \"sqli\"\nhost = \"shop.example.com\"\n",
    )
    .unwrap();
    let tuned = classes_by_host(Some(&config));
    let expected: Vec<_> = all
        .iter()
        .filter(|(c, h)| !(c == "sqli" && h == "shop.example.com"))
        .cloned()
        .collect();
    assert!(
        expected.len() < all.len(),
        "the sample has no sqli on shop.example.com"
    );
    assert_eq!(tuned, expected);

    std::fs::write(&config, "[detect]\nmax_points = 512\nparanoia = 0\n").unwrap();
    let out = run(&["config", "check", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("line 3") && err.contains("paranoia"), "{err}");
}

/// `specula read --emit requests PCAP`, cut after `stage` when given; it must succeed.
fn read_stopped(pcap: &std::path::Path, stage: Option<&str>) -> std::process::Output {
    let mut args = vec!["read", "--no-progress", "--emit", "requests"];
    if let Some(s) = stage {
        args.extend(["--stop-after", s]);
    }
    args.push(pcap.to_str().unwrap());
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

#[test]
fn stop_after_cuts_the_pipeline_at_each_stage() {
    let pcap = corpus().join("crs/crs.pcap");
    let read = |stage| read_stopped(&pcap, stage);
    let full = read(None);
    let full_err = stderr(&full);
    let packets = summary_count(&full_err, "packets");
    let flows = summary_count(&full_err, "flows");
    let requests = summary_count(&full_err, "requests,");
    assert!(flows > 1000 && requests > 1000, "{full_err}");
    assert!(summary_count(&full_err, "attack hits") > 1000, "{full_err}");
    assert!(!full_err.contains("stopped after"), "{full_err}");

    // Each cut keeps what comes before it and does none of what follows.
    for (stage, want_flows, want_requests) in [
        ("capture", 0, 0),
        ("reassembly", flows, 0),
        ("http", flows, requests),
    ] {
        let out = read(Some(stage));
        let err = stderr(&out);
        assert_eq!(summary_count(&err, "packets"), packets, "{stage}: {err}");
        assert_eq!(summary_count(&err, "flows"), want_flows, "{stage}: {err}");
        assert_eq!(
            summary_count(&err, "requests,"),
            want_requests,
            "{stage}: {err}"
        );
        assert_eq!(summary_count(&err, "attack hits"), 0, "{stage}: {err}");
        assert!(
            err.contains(&format!("stopped after {stage}: later stages did not run")),
            "{stage}: {err}"
        );
        let records = parse_jsonl(&out.stdout);
        assert_eq!(records.len() as u64, want_requests, "{stage}");
        assert!(
            records
                .iter()
                .all(|r| r["attack_classes"] == serde_json::json!([])),
            "{stage}: a record claims an attack"
        );
    }
}

#[test]
fn stop_after_reassembly_gives_http_nothing_even_at_a_gap() {
    // A capture with a sequence gap: the full run counts it in HTTP; cut after
    // reassembly, HTTP sees neither the bytes nor the gap.
    let pcap = repo().join("testdata/gap.pcap");
    let read = |stage| stderr(&read_stopped(&pcap, stage));
    let full = read(None);
    assert!(full.contains("http_gaps="), "{full}");
    let cut = read(Some("reassembly"));
    assert!(summary_count(&cut, "flows") > 0, "{cut}");
    assert_eq!(summary_count(&cut, "requests,"), 0, "{cut}");
    assert!(!cut.contains("http_"), "HTTP counted something: {cut}");
}
