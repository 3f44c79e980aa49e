//! Pipeline: threads and bounded channels.
//!
//! Owns the wiring of the stages: the capture thread (the caller of
//! [`Pipeline::push`]) decodes frames and hands each TCP segment, by
//! symmetric flow hash, to one of N worker threads over bounded crossbeam
//! channels, in batches. Each worker owns its share of the flow table (no
//! locks on the hot path) and runs reassembly → http → detect, turning
//! requests and hits into [`Record`](crate::sink::Record)s for the single
//! sink thread. Every queue is bounded; what happens when one is full is the
//! [`WhenFull`] policy: `read` waits, `live` drops and counts.

mod batch;
pub mod live;
pub mod mask;
pub mod offline;
mod record;
mod worker;

pub use mask::Masker;
pub use record::ClientIpPolicy;

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::capture::Timestamp;
use crate::config::EmitMode;
use crate::decode::TcpSegment;
use crate::detect::Detector;
use crate::http::HttpLimits;
use crate::metrics::{DispatchStats, PipelineReport, WorkerReport};
use crate::reassembly::{FlowKey, ReassemblyConfig};
use crate::sink::{Record, RecordSink, SinkError, SinkStats};

use batch::SegmentBatch;

/// What to do when a queue is full (Vector's `WhenFull`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for room: nothing is lost (offline files can wait).
    Block,
    /// Drop the newest batch and count it (a live ring buffer cannot wait).
    DropNewest,
}

/// Everything the pipeline needs to start.
#[derive(Clone)]
pub struct PipelineOptions {
    pub workers: usize,
    /// Capacity of each worker queue, in batches.
    pub queue_batches: usize,
    /// Segments per batch.
    pub batch_segments: usize,
    pub reassembly: ReassemblyConfig,
    pub http: HttpLimits,
    pub detector: Arc<Detector>,
    pub emit: EmitMode,
    pub client_ip: ClientIpPolicy,
    pub when_full: WhenFull,
    /// Masks secrets in records before they leave the worker.
    pub masker: Arc<Masker>,
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
            reassembly: config.reassembly_config(workers),
            http: config.http_limits(),
            detector,
            emit: EmitMode::Attacks,
            client_ip: ClientIpPolicy::default(),
            when_full: WhenFull::Block,
            masker: Arc::new(Masker::default()),
        }
    }
}

/// Capture time between two ticks that let idle flows expire on workers
/// that receive no traffic.
const TICK_NS: u64 = 1_000_000_000;
/// A batch is sent once it holds this many payload bytes, whatever its count.
const BATCH_MAX_PAYLOAD_BYTES: usize = 512 * 1024;
/// Capacity of the worker → sink queue, in record batches.
const SINK_QUEUE_BATCHES: usize = 1024;

enum WorkerMsg {
    Batch(SegmentBatch),
}

/// A running pipeline. Feed it with [`push`](Pipeline::push), end it with
/// [`finish`](Pipeline::finish).
pub struct Pipeline {
    senders: Vec<Sender<WorkerMsg>>,
    pending: Vec<SegmentBatch>,
    recycle: Receiver<SegmentBatch>,
    workers: Vec<JoinHandle<WorkerReport>>,
    sink: JoinHandle<Result<SinkStats, SinkError>>,
    batch_segments: usize,
    when_full: WhenFull,
    last_tick: Timestamp,
    now: Timestamp,
    dispatch: DispatchStats,
}

impl Pipeline {
    pub fn start(opts: PipelineOptions, sink: Box<dyn RecordSink>) -> Pipeline {
        let n = opts.workers.max(1);
        let (rec_tx, rec_rx) = bounded::<Vec<Record>>(SINK_QUEUE_BATCHES);
        let (recycle_tx, recycle_rx) = bounded::<SegmentBatch>(n * (opts.queue_batches + 2));
        let mut senders = Vec::with_capacity(n);
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = bounded::<WorkerMsg>(opts.queue_batches.max(1));
            senders.push(tx);
            let ctx = worker::Worker::new(&opts, rec_tx.clone(), recycle_tx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("specula-worker-{i}"))
                .spawn(move || ctx.run(rx))
                .unwrap_or_else(|e| panic!("cannot start worker thread: {e}"));
            workers.push(handle);
        }
        drop(rec_tx);
        let sink = std::thread::Builder::new()
            .name("specula-sink".into())
            .spawn(move || run_sink(sink, rec_rx))
            .unwrap_or_else(|e| panic!("cannot start sink thread: {e}"));
        let batch_segments = opts.batch_segments.max(1);
        Pipeline {
            pending: (0..n)
                .map(|_| SegmentBatch::with_capacity(batch_segments))
                .collect(),
            senders,
            recycle: recycle_rx,
            workers,
            sink,
            batch_segments,
            when_full: opts.when_full,
            last_tick: Timestamp(0),
            now: Timestamp(0),
            dispatch: DispatchStats::default(),
        }
    }

    /// Hand one decoded segment captured at `ts` to its worker.
    pub fn push(&mut self, ts: Timestamp, seg: &TcpSegment<'_>) {
        let n = self.senders.len();
        let idx = (FlowKey::of_segment(seg).dispatch_hash() % n as u64) as usize;
        if ts > self.now {
            self.now = ts;
        }
        let full = match self.pending.get_mut(idx) {
            Some(batch) => {
                batch.push(ts, seg);
                batch.len() >= self.batch_segments || batch.payload_len() >= BATCH_MAX_PAYLOAD_BYTES
            }
            None => false,
        };
        if full {
            self.send(idx);
        }
        if self.now.since(self.last_tick) >= TICK_NS {
            self.tick();
        }
    }

    /// Send every pending batch (even empty ones, which carry the capture
    /// time so idle flows expire on every worker).
    pub fn tick(&mut self) {
        self.last_tick = self.now;
        for i in 0..self.senders.len() {
            self.send(i);
        }
    }

    fn send(&mut self, idx: usize) {
        let fresh = self
            .recycle
            .try_recv()
            .unwrap_or_else(|_| SegmentBatch::with_capacity(self.batch_segments));
        let Some(slot) = self.pending.get_mut(idx) else {
            return;
        };
        let mut batch = std::mem::replace(slot, fresh);
        batch.now = self.now;
        let Some(tx) = self.senders.get(idx) else {
            return;
        };
        let segs = batch.len() as u64;
        self.dispatch.batches_sent += 1;
        match self.when_full {
            WhenFull::Block => {
                if tx.is_full() {
                    self.dispatch.queue_full_waits += 1;
                }
                if tx.send(WorkerMsg::Batch(batch)).is_err() {
                    self.dispatch.dropped_segments += segs;
                }
            }
            WhenFull::DropNewest => match tx.try_send(WorkerMsg::Batch(batch)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.dispatch.dropped_segments += segs;
                    self.dispatch.dropped_batches += 1;
                }
            },
        }
    }

    /// Move the capture clock forward (live capture with no packets) and
    /// send what is pending, so idle flows expire.
    pub fn advance_to(&mut self, now: Timestamp) {
        if now > self.now {
            self.now = now;
        }
        self.tick();
    }

    /// Current depth of each worker queue (batches).
    pub fn queue_depths(&self) -> Vec<usize> {
        self.senders.iter().map(|s| s.len()).collect()
    }

    /// Send what is pending, end every flow, drain the workers and the sink.
    pub fn finish(mut self) -> (PipelineReport, Result<SinkStats, SinkError>) {
        self.tick();
        let Pipeline {
            senders,
            workers,
            sink,
            dispatch,
            ..
        } = self;
        drop(senders);
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
        (report, sink_result)
    }
}

fn run_sink(
    mut sink: Box<dyn RecordSink>,
    rx: Receiver<Vec<Record>>,
) -> Result<SinkStats, SinkError> {
    let mut result = Ok(());
    for batch in rx.iter() {
        if result.is_ok() {
            result = sink.write_batch(&batch);
        }
        // After a failure keep draining so workers never block on a dead sink.
    }
    if result.is_ok() {
        result = sink.flush();
    }
    result.map(|()| sink.stats())
}
