//! End to end through the real pipeline (reader thread, workers, sink) on
//! whole captures: the CRS corpus capture and the shipped sample. Reports
//! bytes of capture per second. For the large-capture comparison with
//! Suricata and a bare libpcap loop, see `scripts/bench.sh`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use specula::detect::{DetectLimits, Detector, RuleSet};
use specula::pipeline::{offline, PipelineOptions};
use specula::sink::JsonLinesWriter;

fn run(path: &Path, workers: usize, detector: &Arc<Detector>) -> u64 {
    let opts = PipelineOptions {
        workers,
        ..PipelineOptions::new(Arc::clone(detector))
    };
    let run = offline::run(
        &[path.to_path_buf()],
        None,
        &mut specula::decode::Decoder::default(),
        opts,
        Box::new(JsonLinesWriter::new(Box::new(std::io::sink()), "null")),
        &mut |_, _, _| {},
    )
    .expect("start the pipeline");
    assert!(
        run.outcomes.iter().all(|o| o.error.is_none()),
        "{:?}",
        run.outcomes
    );
    assert!(run.sink.is_ok());
    run.report.requests()
}

fn bench(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let detector = Arc::new(Detector::new(&RuleSet::builtin(), DetectLimits::default()));
    let mut g = c.benchmark_group("end_to_end");
    g.sample_size(10);
    for (name, path) in [
        ("crs_pcap", root.join("../shared/corpus/crs/crs.pcap")),
        ("sample_mirror", root.join("testdata/sample-mirror.pcap")),
    ] {
        let Ok(meta) = std::fs::metadata(&path) else {
            panic!("{} is missing", path.display());
        };
        g.throughput(Throughput::Bytes(meta.len()));
        for workers in [1usize, 2] {
            g.bench_function(format!("{name}_workers_{workers}"), |b| {
                b.iter(|| run(&path, workers, &detector))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
