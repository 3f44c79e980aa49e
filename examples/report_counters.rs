//! Run the offline pipeline on captures and print every final counter in the
//! Prometheus text format (what `live --metrics` would show at the end): a
//! measurement aid for where inspection work goes (points, cache hits,
//! regex evaluations).
//!
//! `cargo run --release --example report_counters -- [--workers N] CAPTURE...`

use std::path::PathBuf;
use std::sync::Arc;

use specula::detect::{DetectLimits, Detector, RuleSet};
use specula::pipeline::{offline, PipelineOptions};
use specula::sink::JsonLinesWriter;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut workers = 1;
    if args.first().map(String::as_str) == Some("--workers") {
        workers = args.get(1).and_then(|w| w.parse().ok()).unwrap_or(1);
        args.drain(..2);
    }
    let files: Vec<PathBuf> = args.iter().map(PathBuf::from).collect();
    let detector = Arc::new(Detector::new(&RuleSet::builtin(), DetectLimits::default()));
    let opts = PipelineOptions {
        workers,
        ..PipelineOptions::new(detector)
    };
    let started = std::time::Instant::now();
    let run = offline::run(
        &files,
        None,
        &mut specula::decode::Decoder::default(),
        opts,
        Box::new(JsonLinesWriter::new(Box::new(std::io::sink()), "null")),
        &mut |_, _, _| {},
    )
    .expect("start the pipeline");
    for o in &run.outcomes {
        if let Some(e) = &o.error {
            eprintln!("{e}");
        }
    }
    let report = run.report;
    print!("{}", report.prometheus());
    eprintln!("{}", report.summary(started.elapsed()));
}
