//! Hostile traffic at CI scale (`synth::adversary`), through `specula read`
//! with small caps: whatever the flood, every canary attack sent after it is
//! still reported, the caps are what gave way (counted), and nothing panics.
//! Full-scale runs with peak RSS: `scripts/adversarial.sh`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use specula::synth::adversary::{write_adversary, AdversaryConfig, Scenario};

/// Caps small enough that the scaled-down floods hit them. For the
/// half-open flood the parser buffers' cap (64 KiB) must bind before the
/// flow table's: 1.5 MiB holds ~1,100 flows (1 MiB did until session 24
/// counted a copies' box in every flow, 1.25 MiB until session 29 kept
/// urgent pointers seen before a side's start in every flow).
const CAPS: &str = "[reassembly]\nflow_memcap_bytes = 1572864\n\
                    [http]\nmax_buffered_bytes = 65536\n";

struct Outcome {
    reported: BTreeSet<String>,
    wanted: Vec<String>,
    summary: String,
}

fn run_scenario(dir: &Path, scenario: Scenario, scale: u64) -> Outcome {
    let pcap = dir.join(format!("{}.pcap", scenario.as_str()));
    let f = std::fs::File::create(&pcap).unwrap();
    let sum = write_adversary(
        std::io::BufWriter::new(f),
        &AdversaryConfig {
            scenario,
            scale,
            canaries: 5,
        },
    )
    .unwrap();
    let config = dir.join("caps.toml");
    std::fs::write(&config, CAPS).unwrap();
    let out = run(&[
        "read",
        "--no-progress",
        "--workers",
        "2",
        "--config",
        config.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    let summary = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{scenario:?}: {summary}");
    assert!(!summary.contains("panic"), "{summary}");
    let reported = parse_jsonl(&out.stdout)
        .iter()
        .filter_map(|r| r["request_id"].as_str().map(str::to_string))
        .collect();
    Outcome {
        reported,
        wanted: sum.attack_request_ids,
        summary,
    }
}

fn counter(summary: &str, name: &str) -> u64 {
    summary
        .split(|c: char| c.is_whitespace() || c == ',')
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn floods_give_way_at_the_caps_and_canaries_are_still_reported() {
    let dir = tempfile::tempdir().unwrap();
    for (scenario, scale) in [
        (Scenario::SynFlood, 60_000),
        (Scenario::HalfOpen, 30_000),
        (Scenario::Trickle, 300),
        (Scenario::BigBody, 20_000_000),
        (Scenario::ManyHeaders, 20_000),
        (Scenario::DeepNesting, 20_000),
        (Scenario::Pathological, 50),
    ] {
        let o = run_scenario(dir.path(), scenario, scale);
        let missing: Vec<_> = o
            .wanted
            .iter()
            .filter(|id| !o.reported.contains(*id))
            .collect();
        assert!(
            missing.is_empty(),
            "{scenario:?} lost {missing:?}\n{}",
            o.summary
        );
        match scenario {
            // 1.5 MiB of flow table holds far fewer than 60,000 flows.
            Scenario::SynFlood => {
                assert!(
                    counter(&o.summary, "reassembly_flows_evicted") > 10_000,
                    "{}",
                    o.summary
                )
            }
            // 30,000 half heads of ~70 bytes overflow 64 KiB of parser buffers.
            Scenario::HalfOpen => assert!(
                counter(&o.summary, "reassembly_flows_evicted_memcap") > 10_000,
                "{}",
                o.summary
            ),
            Scenario::BigBody => assert!(
                counter(&o.summary, "http_body_skipped_bytes") > 19_000_000,
                "{}",
                o.summary
            ),
            Scenario::ManyHeaders => assert!(
                counter(&o.summary, "http_header_limit_hits") >= 1,
                "{}",
                o.summary
            ),
            _ => {}
        }
    }
}
