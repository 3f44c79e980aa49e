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
    /// Per worker queue: its wait budget and overload ([`WhenFull`]).
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
        let idx = (FlowKey::of_segment(seg).worker_hash() % n as u64) as usize;
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
        let (Some(tx), Some(queue)) = (self.senders.get(idx), self.queues.get_mut(idx)) else {
            return;
        };
        let segs = batch.len() as u64;
        self.stats.batches_sent += 1;
        if segs == 0 && self.when_full != WhenFull::Block {
            // A tick carries only the clock: never worth a wait, and losing
            // one loses no segment (the next tick carries a later time).
            let _ = tx.try_send(WorkerMsg::Batch(batch));
            return;
        }
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
            timestamp: None,
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            src_port: 40000,
            dst_port: 8445,
            seq: 1,
            ack: 1,
            flags: TcpFlags(TcpFlags::ACK),
            window: 1024,
            urgent: 0,
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

    /// Two workers, one slow but never stuck: it frees a slot now and then,
    /// so no single wait runs out, yet it must not pace the capture. Its
    /// waits use up the budget, then its batches are dropped, while every
    /// batch for the other worker is queued. A tick (an empty batch) to the
    /// full queue neither waits nor counts.
    #[test]
    fn a_slow_worker_does_not_pace_the_capture_for_the_other() {
        let (slow_tx, slow_rx) = bounded::<WorkerMsg>(2);
        let (fast_tx, fast_rx) = bounded::<WorkerMsg>(10_000);
        let (_recycle_tx, recycle_rx) = bounded::<SegmentBatch>(4);
        let budget = Duration::from_millis(150);
        let mut d = Dispatcher::new(
            vec![slow_tx, fast_tx],
            recycle_rx,
            1,
            WhenFull::WaitThenDrop(budget),
        );
        // A port for each worker (dispatch is by flow hash).
        let port_of = |worker: u64| {
            (1000u16..)
                .find(|&p| {
                    let seg = TcpSegment {
                        timestamp: None,
                        src_port: p,
                        ..segment(b"")
                    };
                    FlowKey::of_segment(&seg).worker_hash() % 2 == worker
                })
                .unwrap()
        };
        let (slow_port, fast_port) = (port_of(0), port_of(1));
        let slow = std::thread::spawn(move || {
            // Batches with segments (a tick's empty one may get in too).
            let mut got = 0u64;
            while let Ok(WorkerMsg::Batch(b)) = slow_rx.recv_timeout(Duration::from_secs(2)) {
                got += u64::from(b.len() > 0);
                std::thread::sleep(Duration::from_millis(10));
            }
            got
        });
        let ts = Timestamp(1);
        let mut pushed_slow = 0u64;
        for _ in 0..300 {
            for port in [slow_port, fast_port] {
                let seg = TcpSegment {
                    timestamp: None,
                    src_port: port,
                    ..segment(b"x")
                };
                d.push(ts, &seg);
            }
            pushed_slow += 1;
            if d.stats().queue_overloads > 0 {
                break;
            }
        }
        let s = d.stats().clone();
        assert_eq!(s.queue_overloads, 1, "{s:?}");
        assert!(s.queue_full_waits > 1, "{s:?}");
        // Overloaded: the next batches for it are dropped at once.
        let before = s.dropped_batches;
        for _ in 0..5 {
            d.push(
                ts,
                &TcpSegment {
                    timestamp: None,
                    src_port: slow_port,
                    ..segment(b"y")
                },
            );
        }
        assert_eq!(d.stats().dropped_batches, before + 5);
        assert_eq!(d.stats().queue_full_waits, s.queue_full_waits);
        // A tick to the full queue: no wait, nothing counted.
        d.tick();
        let after_tick = d.stats().clone();
        assert_eq!(after_tick.queue_full_waits, s.queue_full_waits);
        assert_eq!(after_tick.dropped_batches, before + 5);
        // Every batch for the other worker made it (its one-segment batches,
        // plus the tick's empty one).
        let fast_batches: Vec<usize> = fast_rx
            .try_iter()
            .map(|WorkerMsg::Batch(b)| b.len())
            .collect();
        assert_eq!(
            fast_batches.iter().filter(|&&n| n == 1).count() as u64,
            pushed_slow
        );
        // Every batch for the slow worker was either queued or counted.
        drop(d);
        assert_eq!(slow.join().unwrap() + before + 5, pushed_slow + 5);
    }
}
