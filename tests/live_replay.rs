//! `tcpreplay` of a committed capture into a veth pair while `specula live`
//! captures on the peer end: the live path must find exactly the attacks the
//! offline path (`specula read`) finds in the same file, with no drops.
//!
//! Both ends sit in a namespace of their own (nothing touches the host's
//! interfaces); the namespace, the pair and the sensor are removed by guards,
//! also when the test fails. Needs root, `ip` and `tcpreplay`
//! (scripts/deps.sh); a missing tool fails the test.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::netns::{sh, summary_counter, summary_list_values, Netns, Sensor, Side, Veth};
use common::*;
use serde_json::Value;

/// A record without the fields that legitimately differ between a replay and
/// the file: the capture time, and the request key derived from it.
fn comparable(mut v: Value) -> String {
    if let Some(o) = v.as_object_mut() {
        o.remove("ts");
        o.remove("request_key");
    }
    // serde_json's maps are ordered by key: a stable text form.
    v.to_string()
}

/// Records as a multiset of their comparable form.
fn multiset(records: Vec<Value>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in records {
        *m.entry(comparable(r)).or_insert(0) += 1;
    }
    m
}

/// Replay `pcap` into `iface` (inside `ns`) at 50 Mbit/s.
fn replay(ns: &Netns, iface: &str, pcap: &std::path::Path) {
    let out = sh(ns
        .command("tcpreplay")
        .args(["-i", iface, "--mbps", "50"])
        .arg(pcap));
    assert!(out.contains("Successful packets"), "tcpreplay: {out}");
}

/// Let the last packets reach the sensor, stop it; its summary.
fn settle_and_stop(sensor: Sensor) -> String {
    std::thread::sleep(Duration::from_millis(500));
    let (status, summary) = sensor.stop();
    assert!(status.success(), "specula live exit {status}: {summary}");
    summary
}

/// No drop anywhere: kernel, interface, worker queues, sink queue.
fn assert_no_drops(summary: &str) {
    for counter in [
        "capture_dropped_packets{kernel}",
        "capture_dropped_packets{interface}",
        "pipeline_dropped_segments{queue_full}",
        "pipeline_dropped_records",
    ] {
        assert_eq!(summary_counter(summary, counter), 0, "{counter}: {summary}");
    }
}

#[test]
fn replayed_capture_gives_the_same_attacks_as_reading_it() {
    let pcap = repo().join("testdata/sample-mirror.pcap");
    let truth = read_jsonl_file(&repo().join("testdata/sample-mirror.truth.jsonl"));
    let truth_attacks = truth
        .iter()
        .filter(|t| t.get("attack_class").is_some())
        .count();
    assert!(truth_attacks >= 50, "the chosen capture carries attacks");

    // What the offline path finds.
    let offline = run(&[
        "read",
        "--no-progress",
        "--emit",
        "attacks",
        pcap.to_str().unwrap(),
    ]);
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    let offline_summary = String::from_utf8_lossy(&offline.stderr).into_owned();
    let expected = parse_jsonl(&offline.stdout);
    assert!(!expected.is_empty());

    let ns = Netns::new("rpl");
    let veth = Veth::new(Side::In(&ns), Side::In(&ns), false);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.jsonl");

    let mut cmd = ns.command(env!("CARGO_BIN_EXE_specula"));
    // The same masking key as `read` above, or the masks would differ.
    cmd.env("SPECULA_MASK_KEY", TEST_MASK_KEY);
    cmd.args([
        "live", "-i", &veth.b, "--filter", "tcp", "--emit", "attacks", "--output",
    ])
    .arg(&out);
    let sensor = Sensor::start(cmd, &veth.b);
    replay(&ns, &veth.a, &pcap);
    let summary = settle_and_stop(sensor);
    assert_no_drops(&summary);
    assert_eq!(
        summary_count(&summary, "packets"),
        summary_count(&offline_summary, "packets"),
        "every packet of the file was captured\nlive: {summary}\nread: {offline_summary}"
    );

    let live = read_jsonl_file(&out);
    let (want, got) = (multiset(expected), multiset(live));
    let missing: Vec<&String> = want
        .keys()
        .filter(|k| got.get(*k) != want.get(*k))
        .collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "live and offline attacks differ\nmissing or miscounted: {missing:#?}\nextra: {extra:#?}\n{summary}"
    );
}

#[test]
fn summary_counters_are_read_by_name() {
    let s = "specula: 1 file(s), 12 packets, 3 bytes\n  drops and anomalies: capture_dropped_packets{kernel}=7, \
             pipeline_dropped_segments{queue_full}=3\n";
    assert_eq!(summary_counter(s, "capture_dropped_packets{kernel}"), 7);
    assert_eq!(
        summary_counter(s, "pipeline_dropped_segments{queue_full}"),
        3
    );
    assert_eq!(summary_counter(s, "pipeline_dropped_records"), 0);
    assert_eq!(summary_count(s, "packets"), 12);
}

#[test]
fn interface_names_fit_ifnamsiz() {
    for _ in 0..300 {
        assert!(common::netns::ifname("abc").len() <= 15);
    }
}

/// `N` of the summary's `packets per capture thread` line for `source`.
fn per_source_packets(summary: &str, source: &str) -> u64 {
    summary_list_values(summary, "packets per capture thread:", source)
        .next()
        .unwrap_or_else(|| panic!("no packet count for {source}: {summary}"))
}

#[test]
fn fanout_splits_one_interface_between_capture_threads_and_loses_nothing() {
    // Many flows (500 concurrent connections of the mix generator, ~970 in
    // all) so the kernel's flow hash spreads them over both members.
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("mix.pcap");
    let gen = std::process::Command::new(env!("CARGO_BIN_EXE_specula-gen"))
        .args([
            "mix", "--seed", "7", "--size", "4MiB", "--flows", "500", "--out",
        ])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );

    let offline = run(&[
        "read",
        "--no-progress",
        "--emit",
        "requests",
        pcap.to_str().unwrap(),
    ]);
    assert!(offline.status.success());
    let offline_summary = String::from_utf8_lossy(&offline.stderr).into_owned();
    let expected = parse_jsonl(&offline.stdout);
    assert!(expected.len() > 1000, "{offline_summary}");

    let ns = Netns::new("fan");
    let veth = Veth::new(Side::In(&ns), Side::In(&ns), false);
    let out = dir.path().join("live.jsonl");
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_specula"));
    cmd.env("SPECULA_MASK_KEY", TEST_MASK_KEY);
    cmd.args([
        "live",
        "-i",
        &veth.b,
        "--threads-per-interface",
        "2",
        "--filter",
        "tcp",
        "--emit",
        "requests",
        "--output",
    ])
    .arg(&out);
    let sensor = Sensor::start(cmd, &veth.b);
    replay(&ns, &veth.a, &pcap);
    let summary = settle_and_stop(sensor);
    assert!(summary.contains("2 threads, kernel fan-out"), "{summary}");
    assert_no_drops(&summary);
    // Every packet once, split between the two members.
    let total = summary_count(&summary, "packets");
    assert_eq!(
        total,
        summary_count(&offline_summary, "packets"),
        "{summary}"
    );
    let first = per_source_packets(&summary, &format!("{}#0", veth.b));
    let second = per_source_packets(&summary, &format!("{}#1", veth.b));
    assert_eq!(first + second, total, "{summary}");
    assert!(
        first > total / 10 && second > total / 10,
        "the flows were not spread: {first} and {second} of {total}"
    );

    // The response time is the replay's, not the file's.
    let timeless = |records: Vec<Value>| -> Vec<Value> {
        records
            .into_iter()
            .map(|mut r| {
                if let Some(o) = r.as_object_mut() {
                    o.remove("response_time_ms");
                }
                r
            })
            .collect()
    };
    let live = read_jsonl_file(&out);
    let (want, got) = (multiset(timeless(expected)), multiset(timeless(live)));
    let missing = want.keys().filter(|k| got.get(*k) != want.get(*k)).count();
    let extra = got.keys().filter(|k| !want.contains_key(*k)).count();
    assert!(
        missing == 0 && extra == 0,
        "live and offline requests differ: {missing} missing or miscounted, {extra} extra\n{summary}"
    );
}

#[test]
fn fanout_on_two_interfaces_makes_a_group_each() {
    // Two interfaces with two sockets each: each interface gets a group of
    // its own (a shared group id would refuse the second interface), and
    // every packet of both replays is captured once.
    let ns = Netns::new("fa2");
    let one = Veth::new(Side::In(&ns), Side::In(&ns), false);
    let two = Veth::new(Side::In(&ns), Side::In(&ns), false);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.jsonl");
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_specula"));
    cmd.args([
        "live",
        "-i",
        &one.b,
        "-i",
        &two.b,
        "--threads-per-interface",
        "2",
        "--filter",
        "tcp",
        "--output",
    ])
    .arg(&out);
    let sensor = Sensor::start(cmd, &one.b);
    let mut sent = 0;
    for (veth, pcap) in [
        (&one, "testdata/sample-mirror.pcap"),
        (&two, "testdata/chunked.pcap"),
    ] {
        let pcap = repo().join(pcap);
        replay(&ns, &veth.a, &pcap);
        let read = run(&["read", "--no-progress", pcap.to_str().unwrap()]);
        sent += summary_count(&String::from_utf8_lossy(&read.stderr), "packets");
    }
    let summary = settle_and_stop(sensor);
    assert_no_drops(&summary);
    let groups: Vec<&str> = summary
        .lines()
        .filter_map(|l| l.split("kernel fan-out group ").nth(1))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    assert_eq!(groups.len(), 2, "one group per interface: {summary}");
    assert_ne!(groups[0], groups[1], "{summary}");
    assert_eq!(summary_count(&summary, "packets"), sent, "{summary}");
    let members: u64 = [&one.b, &two.b]
        .iter()
        .flat_map(|i| [0, 1].map(|m| per_source_packets(&summary, &format!("{i}#{m}"))))
        .sum();
    assert_eq!(members, sent, "{summary}");
}
