//! The capture side of the pipeline: batching decoded segments per worker
//! and sending them by symmetric flow hash. One [`Dispatcher`] per capture
//! thread; several (one per interface) feed the same workers, so the two
//! directions of a TAP seen on two interfaces still meet in one flow.

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::capture::Timestamp;
use crate::decode::TcpSegment;
use crate::metrics::DispatchStats;
use crate::reassembly::FlowKey;

use super::batch::SegmentBatch;
use super::{WhenFull, WorkerMsg};

/// Capture time between two ticks that let idle flows expire on workers
/// that receive no traffic.
const TICK_NS: u64 = 1_000_000_000;
/// A batch is sent once it holds this many payload bytes, whatever its count.
const BATCH_MAX_PAYLOAD_BYTES: usize = 512 * 1024;

/// Batches segments for the workers and sends them; see the module doc.
pub struct Dispatcher {
    senders: Vec<Sender<WorkerMsg>>,
    pending: Vec<SegmentBatch>,
    recycle: Receiver<SegmentBatch>,
    batch_segments: usize,
    when_full: WhenFull,
    last_tick: Timestamp,
    now: Timestamp,
    stats: DispatchStats,
}

impl Dispatcher {
    pub(super) fn new(
        senders: Vec<Sender<WorkerMsg>>,
        recycle: Receiver<SegmentBatch>,
        batch_segments: usize,
        when_full: WhenFull,
    ) -> Dispatcher {
        let batch_segments = batch_segments.max(1);
        Dispatcher {
            pending: (0..senders.len())
                .map(|_| SegmentBatch::with_capacity(batch_segments))
                .collect(),
            senders,
            recycle,
            batch_segments,
            when_full,
            last_tick: Timestamp(0),
            now: Timestamp(0),
            stats: DispatchStats::default(),
        }
    }

    /// Another dispatcher feeding the same workers (for another capture thread).
    pub(super) fn sibling(&self) -> Dispatcher {
        Dispatcher::new(
            self.senders.clone(),
            self.recycle.clone(),
            self.batch_segments,
            self.when_full,
        )
    }

    /// Hand one decoded segment captured at `ts` to its worker.
    pub fn push(&mut self, ts: Timestamp, seg: &TcpSegment<'_>) {
        let n = self.senders.len().max(1);
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

    /// Counters so far.
    pub fn stats(&self) -> &DispatchStats {
        &self.stats
    }

    /// Send what is pending and let go of the workers; returns the counters.
    pub fn finish(mut self) -> DispatchStats {
        self.tick();
        std::mem::take(&mut self.stats)
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
        self.stats.batches_sent += 1;
        match self.when_full {
            WhenFull::Block => {
                if tx.is_full() {
                    self.stats.queue_full_waits += 1;
                }
                if tx.send(WorkerMsg::Batch(batch)).is_err() {
                    self.stats.dropped_segments += segs;
                }
            }
            WhenFull::DropNewest => match tx.try_send(WorkerMsg::Batch(batch)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.stats.dropped_segments += segs;
                    self.stats.dropped_batches += 1;
                }
            },
        }
    }
}
