//! `specula read` on the tunnel and fragment captures of `testdata/` with
//! non-default `[decode]` settings: what the options change is visible.
//! (The default settings are checked against the truth files by
//! `tests/testdata.rs`.)

mod common;

use std::collections::BTreeSet;

use common::*;

fn read_with(config: &str, capture: &str) -> (Vec<serde_json::Value>, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("specula.toml");
    std::fs::write(&cfg, config).unwrap();
    let pcap = repo().join("testdata").join(capture);
    let out = run(&[
        "read",
        "--no-progress",
        "--emit",
        "requests",
        "--config",
        cfg.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    (
        parse_jsonl(&out.stdout),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ids(records: &[serde_json::Value]) -> BTreeSet<String> {
    records.iter().map(|r| s(r, "request_id")).collect()
}

#[test]
fn the_same_tuple_in_two_vnis_is_two_flows_only_with_the_tunnel_in_the_key() {
    let (with, _) = read_with("", "tunnel-two-vnis.pcap");
    assert_eq!(ids(&with).len(), 6, "{:?}", ids(&with));
    // Without the tunnel identity both VPCs' packets land in one flow whose
    // sequence numbers disagree: requests are lost.
    let (without, _) = read_with(
        "[decode]\ntunnel_in_flow_key = false\n",
        "tunnel-two-vnis.pcap",
    );
    assert!(ids(&without).len() < 6, "{:?}", ids(&without));
}

#[test]
fn overlap_policy_decides_which_bytes_are_analysed() {
    let (first, err) = read_with("", "frag-overlap.pcap");
    assert!(
        err.contains("decode_defrag_overlap_different_data=3"),
        "{err}"
    );
    let uris: BTreeSet<String> = first.iter().map(|r| s(r, "uri")).collect();
    assert!(uris.contains("/account/comment"), "{uris:?}");
    let (last, _) = read_with(
        "[decode]\ndefrag_ipv4_overlap = \"last\"\n",
        "frag-overlap.pcap",
    );
    let uris: BTreeSet<String> = last.iter().map(|r| s(r, "uri")).collect();
    // The later fragment rewrote the end of the third request's target.
    assert!(uris.contains("/account/commenx"), "{uris:?}");
    let (dropped, err) = read_with(
        "[decode]\ndefrag_ipv4_overlap = \"drop_different\"\n",
        "frag-overlap.pcap",
    );
    assert!(ids(&dropped).len() < 3, "{:?}", ids(&dropped));
    assert!(
        err.contains("decode_defrag_dropped_datagrams{overlap}=3"),
        "{err}"
    );
}

#[test]
fn timed_out_fragments_are_counted_and_defrag_can_be_off() {
    let (recs, err) = read_with("", "frag-timeout.pcap");
    assert_eq!(
        ids(&recs),
        BTreeSet::from(["frag-timeout-1".to_string(), "frag-timeout-3".to_string()])
    );
    // The first half of request 2 times out; its late second half starts
    // a datagram that the end of the capture leaves incomplete: both count.
    assert!(
        err.contains("decode_defrag_dropped_datagrams{timed_out}=2"),
        "{err}"
    );
    let (recs, _) = read_with("[decode]\ndefrag = false\n", "frag-in-order.pcap");
    assert!(recs.is_empty(), "{recs:?}");
}

#[test]
fn a_disabled_decapsulation_is_counted() {
    let (recs, err) = read_with(
        "[decode]\ndecapsulate = [\"gre\"]\n",
        "tunnel-vxlan-aws.pcap",
    );
    assert!(recs.is_empty());
    assert!(
        err.contains("decode_skipped_packets{decap_disabled}="),
        "{err}"
    );
    let (recs, _) = read_with("[decode]\nvxlan_ports = [8472]\n", "tunnel-vxlan-aws.pcap");
    assert!(recs.is_empty());
}
