//! Pipeline: threads and bounded channels.
//!
//! Owns the wiring of the stages: the capture thread (the caller of
//! [`Pipeline::push`]) decodes frames and hands each TCP segment, by
//! symmetric flow hash, to one of N worker threads over bounded crossbeam
//! channels, in batches. Each worker owns its share of the flow table (no
//! locks on the hot path) and runs reassembly → http → detect, turning
//! requests and hits into [`Record`](crate::sink::Record)s for the single
//! sink thread. Every queue is bounded; what happens when one is full is the
//! [`WhenFull`] policy: `read` waits; `live` waits a bounded time (the
//! kernel ring buffers meanwhile), then drops and counts.

mod batch;
mod dispatch;
mod full;
pub mod live;
pub mod mask;
pub mod offline;
pub mod pairing;
mod record;
mod sink_queue;
pub mod udp;
mod view;
mod worker;

pub use dispatch::Dispatcher;
pub use mask::Masker;
pub use pairing::{PairingOptions, PairingStats};
pub use record::ClientIpPolicy;
pub use sink_queue::ByteBudget;
pub use view::{PipelineView, SourceStatus};

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use arc_swap::ArcSwap;
use crossbeam_channel::{bounded, RecvTimeoutError};

use crate::capture::Timestamp;
use crate::config::EmitMode;
use crate::decode::TcpSegment;
use crate::detect::Detector;
use crate::http::HttpLimits;
use crate::metrics::{PipelineReport, WorkerReport};
use crate::reassembly::ReassemblyConfig;
use crate::sink::{RecordSink, SinkError, SinkStats};

use batch::SegmentBatch;
use sink_queue::{sink_queue, SinkReceiver};

pub use full::WhenFull;

/// Everything the pipeline needs to start.
#[derive(Clone)]
pub struct PipelineOptions {
    pub workers: usize,
    /// Capacity of each worker queue, in batches.
    pub queue_batches: usize,
    /// Segments per batch.
    pub batch_segments: usize,
    /// Most bytes of records waiting for the sink thread
    /// (`[pipeline] sink_queue_max_bytes`).
    pub sink_queue_max_bytes: usize,
    pub reassembly: ReassemblyConfig,
    pub http: HttpLimits,
    pub detector: Arc<Detector>,
    pub emit: EmitMode,
    pub client_ip: ClientIpPolicy,
    pub when_full: WhenFull,
    /// Masks secrets in records before they leave the worker.
    pub masker: Arc<Masker>,
    /// Pairing requests with responses on two-sided captures (`[responses]`).
    pub pairing: PairingOptions,
    /// Run the workers only up to this stage (a measurement aid; `None`: all).
    pub stop_after: Option<StopAfter>,
}

/// The last stage a worker runs, to measure what each stage costs on a real
/// capture (`specula read --stop-after`; Suricata's `--disable-detection` is
/// the same idea). Everything before the cut runs as usual, except what a
/// later stage feeds back: past the reassembly cut there is no HTTP memory
/// to end flows early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StopAfter {
    /// Capture, decode and dispatch: workers receive batches and drop them.
    Capture,
    /// Reassembly: in-order stream bytes, gaps and flow ends are produced;
    /// HTTP sees none of them.
    Reassembly,
    /// HTTP parsing, pairing and records: requests are never inspected, so
    /// there are no hits and only `--emit requests` writes records.
    Http,
}

impl PipelineOptions {
    /// The defaults of the configuration file, with `detector`: one worker per
    /// core, attack records, no trusted proxy, waiting when a queue is full.
    pub fn new(detector: Arc<Detector>) -> PipelineOptions {
        let config = crate::config::Config::default();
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        PipelineOptions {
            workers,
            queue_batches: config.pipeline.queue_batches,
            batch_segments: config.pipeline.batch_segments,
            sink_queue_max_bytes: config.pipeline.sink_queue_max_bytes,
            reassembly: config.reassembly_config(workers),
            http: config.http_limits(workers),
            detector,
            emit: EmitMode::Attacks,
            client_ip: ClientIpPolicy::default(),
            when_full: WhenFull::Block,
            masker: Arc::new(Masker::default()),
            pairing: config
                .responses
                .pairing_options(&config.reassembly_config(workers)),
            stop_after: None,
        }
    }
}

/// Capacity of the worker → sink queue, in record batches (its bytes are
/// bounded by [`PipelineOptions::sink_queue_max_bytes`]).
const SINK_QUEUE_BATCHES: usize = 1024;

pub(crate) enum WorkerMsg {
    Batch(SegmentBatch),
}

/// Swaps the detector of running workers (SIGHUP): each worker picks up the
/// new one before its next batch; requests in flight finish with the old.
#[derive(Clone)]
pub struct RulesHandle {
    current: Arc<ArcSwap<Detector>>,
    view: Arc<PipelineView>,
}

impl RulesHandle {
    pub fn replace(&self, detector: Detector, rules: usize) {
        self.current.store(Arc::new(detector));
        self.view.rule_reload(Some(rules));
    }

    /// Count a reload that failed (the old rules stay).
    pub fn failed(&self) {
        self.view.rule_reload(None);
    }
}

/// The error of a thread the system would not start, naming the thread.
fn thread_error(what: &str, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("cannot start the {what}: {e}"))
}

/// A running pipeline. Feed it with [`push`](Pipeline::push) (or through
/// more [`Dispatcher`]s), end it with [`finish`](Pipeline::finish).
pub struct Pipeline {
    dispatcher: Dispatcher,
    workers: Vec<JoinHandle<WorkerReport>>,
    sink: JoinHandle<Result<SinkStats, SinkError>>,
    view: Arc<PipelineView>,
    rules: Arc<ArcSwap<Detector>>,
}

impl Pipeline {
    /// Start the worker and sink threads. Fails only when the system cannot
    /// start a thread; threads already started then see their channels close
    /// and end on their own.
    pub fn start(opts: PipelineOptions, sink: Box<dyn RecordSink>) -> std::io::Result<Pipeline> {
        let n = opts.workers.max(1);
        let (rec_tx, rec_rx) = sink_queue(SINK_QUEUE_BATCHES, opts.sink_queue_max_bytes);
        let (recycle_tx, recycle_rx) = bounded::<SegmentBatch>(n * (opts.queue_batches + 2));
        let rules = Arc::new(ArcSwap::from(Arc::clone(&opts.detector)));
        let mut senders = Vec::with_capacity(n);
        let mut receivers = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = bounded::<WorkerMsg>(opts.queue_batches.max(1));
            senders.push(tx);
            receivers.push(rx);
        }
        let view = Arc::new(PipelineView::new(
            receivers.clone(),
            opts.queue_batches.max(1),
            Some(rec_tx.budget()),
        ));
        view.set_rules_loaded(opts.detector.rule_count());
        let mut workers = Vec::with_capacity(n);
        for (i, rx) in receivers.into_iter().enumerate() {
            let ctx = worker::Worker::new(
                &opts,
                i,
                Arc::clone(&rules),
                Arc::clone(&view),
                rec_tx.clone(),
                recycle_tx.clone(),
            );
            let handle = std::thread::Builder::new()
                .name(format!("specula-worker-{i}"))
                .spawn(move || ctx.run(rx))
                .map_err(|e| thread_error(&format!("worker thread {i}"), e))?;
            workers.push(handle);
        }
        drop(rec_tx);
        let sink_view = Arc::clone(&view);
        let sink = std::thread::Builder::new()
            .name("specula-sink".into())
            .spawn(move || run_sink(sink, rec_rx, &sink_view))
            .map_err(|e| thread_error("sink thread", e))?;
        Ok(Pipeline {
            dispatcher: Dispatcher::new(senders, recycle_rx, opts.batch_segments, opts.when_full),
            workers,
            sink,
            view,
            rules,
        })
    }

    /// Hand one decoded segment captured at `ts` to its worker.
    pub fn push(&mut self, ts: Timestamp, seg: &TcpSegment<'_>) {
        self.dispatcher.push(ts, seg);
    }

    /// Send every pending batch.
    pub fn tick(&mut self) {
        self.dispatcher.tick();
    }

    /// Move the capture clock forward and send what is pending.
    pub fn advance_to(&mut self, now: Timestamp) {
        self.dispatcher.advance_to(now);
    }

    /// The dispatcher of the calling capture thread.
    pub fn dispatcher(&mut self) -> &mut Dispatcher {
        &mut self.dispatcher
    }

    /// Another dispatcher for another capture thread. Every one must be
    /// [`finish`](Dispatcher::finish)ed before [`Pipeline::finish`], which
    /// waits for the workers, and the workers for every dispatcher.
    pub fn new_dispatcher(&self) -> Dispatcher {
        self.dispatcher.sibling()
    }

    /// The live view (for `/metrics`, `/healthz`).
    pub fn view(&self) -> Arc<PipelineView> {
        Arc::clone(&self.view)
    }

    /// The handle that swaps the rules of the running workers.
    pub fn rules(&self) -> RulesHandle {
        RulesHandle {
            current: Arc::clone(&self.rules),
            view: Arc::clone(&self.view),
        }
    }

    /// Current depth of each worker queue (batches).
    pub fn queue_depths(&self) -> Vec<usize> {
        self.dispatcher.queue_depths()
    }

    /// Send what is pending, end every flow, drain the workers and the sink.
    /// The report holds the sink's counters also when the sink failed, so
    /// what it lost is in the summary of a failed run too.
    pub fn finish(self) -> (PipelineReport, Result<SinkStats, SinkError>) {
        let Pipeline {
            dispatcher,
            workers,
            sink,
            view,
            ..
        } = self;
        let dispatch = dispatcher.finish();
        let mut report = PipelineReport {
            dispatch,
            ..PipelineReport::default()
        };
        for w in workers {
            match w.join() {
                Ok(r) => report.add_worker(&r),
                Err(_) => report.worker_panics += 1,
            }
        }
        let sink_result = match sink.join() {
            Ok(r) => r,
            Err(_) => {
                report.worker_panics += 1;
                Err(SinkError::Closed)
            }
        };
        report.sink = match &sink_result {
            Ok(stats) => stats.clone(),
            Err(_) => view.sink_stats(),
        };
        (report, sink_result)
    }
}

fn run_sink(
    mut sink: Box<dyn RecordSink>,
    rx: SinkReceiver,
    view: &PipelineView,
) -> Result<SinkStats, SinkError> {
    let mut result = Ok(());
    // Records drained and thrown away after the sink failed.
    let (mut discarded_batches, mut discarded_rows) = (0u64, 0u64);
    let stats = |sink: &dyn RecordSink, batches: u64, rows: u64| {
        let mut s = sink.stats();
        s.batches_lost += batches;
        s.rows_lost += rows;
        s
    };
    let mut last_publish = Instant::now();
    loop {
        let batch = match rx.recv_timeout(view::PUBLISH_EVERY) {
            Ok(b) => b,
            Err(RecvTimeoutError::Timeout) => {
                if result.is_ok() {
                    // Nothing came for a while: let a buffering sink show what it holds.
                    result = sink.idle();
                }
                view.publish_sink(stats(sink.as_ref(), discarded_batches, discarded_rows));
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if result.is_ok() {
            result = sink.write_batch(&batch);
        } else {
            // After a failure keep draining so workers never block on a
            // dead sink, and count what is thrown away.
            discarded_batches += 1;
            discarded_rows += batch.len() as u64;
        }
        if last_publish.elapsed() >= view::PUBLISH_EVERY {
            last_publish = Instant::now();
            view.publish_sink(stats(sink.as_ref(), discarded_batches, discarded_rows));
        }
    }
    if result.is_ok() {
        result = sink.flush();
    }
    view.publish_sink(stats(sink.as_ref(), discarded_batches, discarded_rows));
    result.map(|()| sink.stats())
}

#[cfg(test)]
mod tests {
    use super::full::Bounded;
    use super::sink_queue::RecordGroup;
    use super::*;
    use crate::sink::clickhouse::row::tests::record;
    use crate::sink::Record;

    /// Fails every write and counts what it was handed.
    #[derive(Default)]
    struct FailingSink {
        stats: SinkStats,
    }

    impl RecordSink for FailingSink {
        fn write_batch(&mut self, records: &[Record]) -> Result<(), SinkError> {
            self.stats.healthy = false;
            self.stats.batches_lost += 1;
            self.stats.rows_lost += records.len() as u64;
            Err(SinkError::Io {
                what: "test".into(),
                source: std::io::Error::other("disk full"),
            })
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        fn stats(&self) -> SinkStats {
            self.stats.clone()
        }
    }

    /// Issue 8: a run whose sink failed still reports what the sink lost
    /// (the `read` summary is printed from this report before the error).
    #[test]
    fn the_report_of_a_failed_sink_holds_its_counters() {
        struct LostAtFlush;
        impl RecordSink for LostAtFlush {
            fn write_batch(&mut self, _: &[Record]) -> Result<(), SinkError> {
                Ok(())
            }
            fn flush(&mut self) -> Result<(), SinkError> {
                Err(SinkError::Io {
                    what: "test".into(),
                    source: std::io::Error::other("disk full"),
                })
            }
            fn stats(&self) -> SinkStats {
                SinkStats {
                    rows_lost: 3,
                    batches_lost: 1,
                    healthy: false,
                    ..SinkStats::default()
                }
            }
        }
        let detector = Arc::new(Detector::new(
            &crate::detect::RuleSet::builtin(),
            crate::detect::DetectLimits::default(),
        ));
        let mut opts = PipelineOptions::new(detector);
        opts.workers = 1;
        let pipeline = Pipeline::start(opts, Box::new(LostAtFlush)).unwrap();
        let (report, sink) = pipeline.finish();
        assert!(sink.is_err());
        assert_eq!((report.sink.rows_lost, report.sink.batches_lost), (3, 1));
        assert!(!report.sink.healthy);
        assert!(report
            .summary(std::time::Duration::from_secs(1))
            .contains("sink_lost_rows=3"));
    }

    /// Keeps what it is handed, in arrival order.
    #[derive(Default)]
    struct Keep(Arc<std::sync::Mutex<Vec<String>>>);

    impl RecordSink for Keep {
        fn write_batch(&mut self, records: &[Record]) -> Result<(), SinkError> {
            let mut kept = self.0.lock().unwrap();
            kept.extend(records.iter().map(|r| serde_json::to_string(r).unwrap()));
            Ok(())
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        fn stats(&self) -> SinkStats {
            SinkStats::default()
        }
    }

    /// Issue 8: `read` with a sink queue bounded to one group at a time by
    /// bytes waits for the sink thread and gives the same records as with
    /// the default bound; nothing is dropped.
    #[test]
    fn read_under_a_tiny_sink_queue_byte_bound_loses_nothing() {
        let capture =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample-mirror.pcap");
        let run = |max_bytes: usize| {
            let detector = Arc::new(Detector::new(
                &crate::detect::RuleSet::builtin(),
                crate::detect::DetectLimits::default(),
            ));
            let mut opts = PipelineOptions::new(detector);
            opts.workers = 2;
            opts.emit = EmitMode::Requests;
            opts.sink_queue_max_bytes = max_bytes;
            let kept = Keep::default();
            let lines = Arc::clone(&kept.0);
            let run = offline::run(
                std::slice::from_ref(&capture),
                None,
                &mut crate::decode::Decoder::default(),
                opts,
                Box::new(kept),
                &mut |_, _, _| {},
            )
            .unwrap();
            run.sink.unwrap();
            let dropped: u64 = run.report.workers.iter().map(|w| w.records_dropped).sum();
            let mut lines = lines.lock().unwrap().clone();
            lines.sort();
            (lines, dropped)
        };
        let (tiny, dropped) = run(1);
        assert_eq!(dropped, 0);
        let (default, _) = run(64 << 20);
        assert!(tiny.len() >= 100, "{} records", tiny.len());
        assert!(
            tiny == default,
            "{} vs {} records",
            tiny.len(),
            default.len()
        );
    }

    /// Records drained after the sink failed are counted as
    /// lost in the published stats, not silently dropped.
    #[test]
    fn records_drained_after_a_sink_failure_are_counted_lost() {
        let (tx, rx) = sink_queue(8, 1 << 20);
        let view = PipelineView::new(Vec::new(), 1, None);
        for records in [
            vec![record(1, true), record(2, true)],
            vec![record(3, true)],
            vec![record(4, true), record(5, true), record(6, true)],
        ] {
            assert!(tx.put(RecordGroup { records, bytes: 1 }));
        }
        drop(tx);
        let result = run_sink(Box::new(FailingSink::default()), rx, &view);
        assert!(result.is_err());
        let s = view.snapshot().sink;
        assert!(!s.healthy);
        assert_eq!((s.batches_lost, s.rows_lost), (3, 6), "{s:?}");
    }
}
