//! The capture side of the pipeline: batching decoded segments per worker
//! and sending them by symmetric flow hash. One [`Dispatcher`] per capture
//! thread; several (one per interface) feed the same workers, so the two
//! directions of a TAP seen on two interfaces still meet in one flow.

use crossbeam_channel::{Receiver, Sender};

use crate::capture::Timestamp;
use crate::decode::TcpSegment;
use crate::metrics::DispatchStats;
use crate::reassembly::FlowKey;

use super::batch::SegmentBatch;
use super::full::FullQueue;
use super::{WhenFull, WorkerMsg};

/// Capture time between two ticks that let idle flows expire on workers
/// that receive no traffic.
const TICK_NS: u64 = 1_000_000_000;
/// A batch is sent once it holds this many payload bytes, whatever its count.
const BATCH_MAX_PAYLOAD_BYTES: usize = 512 * 1024;

/// Batches segments for the workers and sends them; see the module doc.
pub struct Dispatcher {
    senders: Vec<Sender<WorkerMsg>>,
    /// Per worker queue: whether its worker is overloaded ([`WhenFull`]).
    queues: Vec<FullQueue>,
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
            queues: vec![FullQueue::default(); senders.len()],
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
        let Some(queue) = self.queues.get_mut(idx) else {
            return;
        };
        let sent = queue.send(self.when_full, tx, WorkerMsg::Batch(batch));
        self.stats.queue_full_waits += u64::from(sent.waited);
        self.stats.queue_overloads += u64::from(sent.overload_began);
        if !sent.queued {
            self.stats.dropped_segments += segs;
            self.stats.dropped_batches += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::{Duration, Instant};

    use crossbeam_channel::bounded;

    use super::*;
    use crate::decode::TcpFlags;

    fn segment(payload: &[u8]) -> TcpSegment<'_> {
        TcpSegment {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            src_port: 40000,
            dst_port: 8445,
            seq: 1,
            ack: 1,
            flags: TcpFlags(TcpFlags::ACK),
            window: 1024,
            payload,
            tunnel: 0,
        }
    }

    /// `live`'s policy through the dispatcher: a full worker queue is waited
    /// for, then its batches are dropped and counted (segments, batches,
    /// waits, overloads); once overloaded, without waiting again.
    #[test]
    fn a_stuck_worker_costs_one_wait_then_its_batches_are_dropped_and_counted() {
        let (tx, rx) = bounded::<WorkerMsg>(1);
        let (_recycle_tx, recycle_rx) = bounded::<SegmentBatch>(4);
        let patience = Duration::from_millis(30);
        let mut d = Dispatcher::new(vec![tx], recycle_rx, 2, WhenFull::WaitThenDrop(patience));
        let ts = Timestamp(1);
        // Batches of two segments: the first fills the queue.
        d.push(ts, &segment(b"a"));
        d.push(ts, &segment(b"b"));
        assert_eq!(d.stats().dropped_segments, 0);
        // The second finds it full, waits, and is dropped.
        let t = Instant::now();
        d.push(ts, &segment(b"c"));
        d.push(ts, &segment(b"d"));
        assert!(t.elapsed() >= patience, "did not wait: {:?}", t.elapsed());
        // The third is dropped without a wait (a worker stuck for good would
        // otherwise cost the capture `patience` per batch).
        d.push(ts, &segment(b"e"));
        d.push(ts, &segment(b"f"));
        let s = d.stats().clone();
        assert_eq!(
            (s.batches_sent, s.queue_full_waits, s.queue_overloads),
            (3, 1, 1)
        );
        assert_eq!((s.dropped_batches, s.dropped_segments), (2, 4));
        // The worker wakes up and drains: the next batch is queued again.
        let Ok(WorkerMsg::Batch(first)) = rx.try_recv() else {
            panic!("the first batch was not queued");
        };
        assert_eq!(first.len(), 2);
        d.push(ts, &segment(b"g"));
        d.push(ts, &segment(b"h"));
        assert_eq!(d.stats().dropped_segments, 4);
        assert!(matches!(rx.try_recv(), Ok(WorkerMsg::Batch(b)) if b.len() == 2));
    }
}
