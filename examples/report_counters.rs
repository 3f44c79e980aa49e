//! Run the offline pipeline on captures and print every final counter in the
//! Prometheus text format (what `live --metrics` would show at the end): a
//! measurement aid for where inspection work goes (points, cache hits,
//! regex evaluations).
//!
//! `cargo run --release --example report_counters -- [--workers N] CAPTURE...`

use std::path::PathBuf;
use std::sync::Arc;

use specula::detect::{DetectLimits, Detector, RuleSet};
use specula::metrics::CaptureCounters;
use specula::pipeline::{offline, Pipeline, PipelineOptions};
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
    let mut p = Pipeline::start(
        opts,
        Box::new(JsonLinesWriter::new(Box::new(std::io::sink()), "null")),
    );
    let mut counters = CaptureCounters::default();
    let started = std::time::Instant::now();
    let outcomes = offline::read_files(
        &files,
        None,
        &mut specula::decode::Decoder::default(),
        &mut p,
        &mut counters,
        &mut |_, _, _| {},
    );
    for o in &outcomes {
        if let Some(e) = &o.error {
            eprintln!("{e}");
        }
    }
    let (mut report, _) = p.finish();
    report.capture = counters;
    print!("{}", report.prometheus());
    eprintln!("{}", report.summary(started.elapsed()));
}
