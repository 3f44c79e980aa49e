//! The queue from the workers to the sink thread, bounded twice: by record
//! groups (the channel's capacity) and by the bytes those groups hold
//! ([`ByteBudget`], `[pipeline] sink_queue_max_bytes`). A group is up to
//! 256 records, each a few hundred bytes or, with a long URI, headers and a
//! body excerpt, tens of KiB, so a count alone bounds nothing useful.
//!
//! A worker charges a group's bytes (`pairing::records_bytes`: its strings,
//! a shared request context once) before it sends it, and the sink thread
//! releases them when it takes the group. Bytes that do not fit make the
//! queue full just as a full channel does, so the same [`WhenFull`] policy
//! applies: `read` waits and loses nothing, `live` waits within its budget,
//! then drops and counts (`records_dropped`). A group larger than the whole
//! budget goes through when nothing else is in flight: it waits, it never
//! blocks forever.
//!
//! [`WhenFull`]: super::WhenFull

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{
    bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError,
};

use crate::sink::Record;

use super::full::{Bounded, Refused};

/// Records handed to the sink thread, with the bytes charged for them.
pub(crate) struct RecordGroup {
    pub records: Vec<Record>,
    pub bytes: usize,
}

/// Bytes of records between the workers and the sink thread, and their cap.
pub struct ByteBudget {
    max: usize,
    used: AtomicUsize,
    /// The sink thread is gone: nobody releases bytes any more, so nobody
    /// may wait for them.
    closed: AtomicBool,
    /// Held only to wait on `freed` and to signal it, so that a release
    /// between a waiter's check and its wait is not missed.
    lock: Mutex<()>,
    freed: Condvar,
}

impl ByteBudget {
    pub fn new(max: usize) -> ByteBudget {
        ByteBudget {
            max,
            used: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            lock: Mutex::new(()),
            freed: Condvar::new(),
        }
    }

    /// Bytes charged now (a gauge).
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Charges `bytes` if they fit, or if nothing is charged (a group larger
    /// than the cap passes alone), or once the sink thread is gone.
    fn try_take(&self, bytes: usize) -> bool {
        let closed = self.closed.load(Ordering::Acquire);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let fits = used == 0 || used.saturating_add(bytes) <= self.max || closed;
                fits.then(|| used.saturating_add(bytes))
            })
            .is_ok()
    }

    /// Charges `bytes`, waiting for room until `deadline` (`None`: as long
    /// as it takes). False if there was no room by then.
    fn take_until(&self, bytes: usize, deadline: Option<Instant>) -> bool {
        if self.try_take(bytes) {
            return true;
        }
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            // Checked under the lock: a release signals only after taking it.
            if self.try_take(bytes) {
                return true;
            }
            guard = match deadline {
                None => self
                    .freed
                    .wait(guard)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    match self.freed.wait_timeout(guard, left) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    }
                }
            };
        }
    }

    /// Gives back `bytes` and wakes whoever waits for room.
    pub fn release(&self, bytes: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
        self.wake_all();
    }

    /// The consumer is gone: every wait ends, every charge fits (the send
    /// behind it then finds the channel closed).
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake_all();
    }

    fn wake_all(&self) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.freed.notify_all();
    }

    fn drained_to_half(&self) -> bool {
        self.used().saturating_mul(2) <= self.max
    }
}

/// A worker's end of the sink queue.
#[derive(Clone)]
pub(crate) struct SinkSender {
    tx: Sender<RecordGroup>,
    budget: Arc<ByteBudget>,
}

/// The sink thread's end: taking a group releases its bytes; dropping it
/// (also by a panic) closes the budget so that no worker waits for bytes
/// nobody will release.
pub(crate) struct SinkReceiver {
    // Declared first, so dropped first: a worker let go by the closed
    // budget then finds the channel closed too, not a slot nobody reads.
    rx: Receiver<RecordGroup>,
    budget: ClosingBudget,
}

/// Closes the budget when dropped.
struct ClosingBudget(Arc<ByteBudget>);

impl Drop for ClosingBudget {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A sink queue of at most `groups` record groups and `max_bytes` bytes.
pub(crate) fn sink_queue(groups: usize, max_bytes: usize) -> (SinkSender, SinkReceiver) {
    let (tx, rx) = bounded(groups.max(1));
    let budget = Arc::new(ByteBudget::new(max_bytes));
    (
        SinkSender {
            tx,
            budget: Arc::clone(&budget),
        },
        SinkReceiver {
            rx,
            budget: ClosingBudget(budget),
        },
    )
}

impl SinkSender {
    pub fn budget(&self) -> Arc<ByteBudget> {
        Arc::clone(&self.budget)
    }

    /// A group charged but not queued: the charge goes back.
    fn refuse(&self, g: RecordGroup, gone: bool) -> Refused<RecordGroup> {
        self.budget.release(g.bytes);
        if gone {
            Refused::Gone
        } else {
            Refused::Full(g)
        }
    }
}

impl Bounded<RecordGroup> for SinkSender {
    fn try_put(&self, g: RecordGroup) -> Result<(), Refused<RecordGroup>> {
        if !self.budget.try_take(g.bytes) {
            return Err(Refused::Full(g));
        }
        self.tx.try_send(g).map_err(|e| match e {
            TrySendError::Full(g) => self.refuse(g, false),
            TrySendError::Disconnected(g) => self.refuse(g, true),
        })
    }

    fn put_within(&self, g: RecordGroup, patience: Duration) -> Result<(), Refused<RecordGroup>> {
        let start = Instant::now();
        // One deadline for both waits: for bytes, then for a slot.
        let deadline = start.checked_add(patience);
        if !self.budget.take_until(g.bytes, deadline) {
            return Err(Refused::Full(g));
        }
        let left = patience.saturating_sub(start.elapsed());
        self.tx.send_timeout(g, left).map_err(|e| match e {
            SendTimeoutError::Timeout(g) => self.refuse(g, false),
            SendTimeoutError::Disconnected(g) => self.refuse(g, true),
        })
    }

    fn put(&self, g: RecordGroup) -> bool {
        // Returns once there is room or the sink thread is gone.
        self.budget.take_until(g.bytes, None);
        match self.tx.send(g) {
            Ok(()) => true,
            Err(e) => {
                self.refuse(e.into_inner(), true);
                false
            }
        }
    }

    fn drained_to_half(&self) -> bool {
        self.tx.drained_to_half() && self.budget.drained_to_half()
    }
}

impl SinkReceiver {
    /// The next group's records, its bytes released.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Vec<Record>, RecvTimeoutError> {
        let g = self.rx.recv_timeout(timeout)?;
        self.budget.0.release(g.bytes);
        Ok(g.records)
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::super::full::{FullQueue, Sent};
    use super::super::WhenFull;
    use super::*;

    /// A group of no records charged `bytes`.
    fn group(bytes: usize) -> RecordGroup {
        RecordGroup {
            records: Vec::new(),
            bytes,
        }
    }

    const LONG: Duration = Duration::from_secs(20);

    /// Issue 8: with slots to spare, the bytes alone make the queue full;
    /// `read` waits for the sink thread to take a group and loses nothing.
    #[test]
    fn block_waits_for_bytes_and_loses_nothing() {
        let (tx, rx) = sink_queue(1024, 1000);
        let budget = tx.budget();
        let producer = thread::spawn(move || {
            let mut q = FullQueue::default();
            (0..3)
                .map(|_| q.send(WhenFull::Block, &tx, group(400)))
                .collect::<Vec<Sent>>()
        });
        // Two fit (800 of 1000); the third waits for bytes.
        let deadline = Instant::now() + LONG;
        while rx.rx.len() < 2 {
            assert!(Instant::now() < deadline);
            thread::sleep(Duration::from_millis(5));
        }
        thread::sleep(Duration::from_millis(100));
        assert_eq!(rx.rx.len(), 2, "the third group did not wait");
        assert_eq!(budget.used(), 800);
        rx.recv_timeout(LONG).unwrap();
        let sent = producer.join().unwrap();
        assert!(sent.iter().all(|s| s.queued));
        assert_eq!(
            sent.iter().map(|s| s.waited).collect::<Vec<_>>(),
            [false, false, true]
        );
        rx.recv_timeout(LONG).unwrap();
        rx.recv_timeout(LONG).unwrap();
        assert_eq!(budget.used(), 0);
    }

    /// `live` waits for bytes within its budget, then drops the group (the
    /// caller counts it) and gives its charge back; later groups are
    /// dropped without a wait until the queue has drained to half.
    #[test]
    fn wait_then_drop_applies_to_bytes() {
        let (tx, rx) = sink_queue(1024, 1000);
        let mut q = FullQueue::default();
        let patience = WhenFull::WaitThenDrop(Duration::from_millis(20));
        assert!(q.send(patience, &tx, group(400)).queued);
        assert!(q.send(patience, &tx, group(400)).queued);
        assert_eq!(
            q.send(patience, &tx, group(400)),
            Sent {
                queued: false,
                waited: true,
                overload_began: true
            }
        );
        assert_eq!(
            tx.budget().used(),
            800,
            "the dropped group's charge is back"
        );
        let t = Instant::now();
        let s = q.send(WhenFull::WaitThenDrop(LONG), &tx, group(100));
        assert!(s.queued, "100 more bytes fit");
        assert!(!q.send(WhenFull::WaitThenDrop(LONG), &tx, group(400)).queued);
        assert!(t.elapsed() < LONG / 2, "overloaded: no wait");
        assert!(!q.send(WhenFull::DropNewest, &tx, group(400)).queued);
        // Drained to half by bytes (100 of 1000 left): waiting again.
        rx.recv_timeout(LONG).unwrap();
        rx.recv_timeout(LONG).unwrap();
        assert!(q.send(WhenFull::WaitThenDrop(LONG), &tx, group(400)).queued);
        assert_eq!(tx.budget().used(), 500);
    }

    /// A group larger than the whole cap goes through alone, so it can
    /// wait but never blocks forever; nothing else goes with it.
    #[test]
    fn a_group_over_the_cap_passes_alone() {
        let (tx, rx) = sink_queue(1024, 100);
        assert!(tx.try_put(group(500)).is_ok());
        assert!(matches!(tx.try_put(group(1)), Err(Refused::Full(_))));
        rx.recv_timeout(LONG).unwrap();
        assert!(tx.try_put(group(1)).is_ok());
        assert!(matches!(tx.try_put(group(500)), Err(Refused::Full(_))));
    }

    /// A worker waiting for bytes is let go when the sink thread ends (or
    /// panics), instead of waiting for a release that never comes.
    #[test]
    fn a_gone_sink_thread_ends_every_wait() {
        let (tx, rx) = sink_queue(1024, 100);
        assert!(tx.try_put(group(100)).is_ok());
        let waiter = {
            let tx = tx.clone();
            thread::spawn(move || tx.put(group(100)))
        };
        thread::sleep(Duration::from_millis(50));
        drop(rx);
        assert!(!waiter.join().unwrap(), "not queued: the consumer is gone");
        let t = Instant::now();
        let mut q = FullQueue::default();
        assert!(!q.send(WhenFull::Block, &tx, group(100)).queued);
        assert!(!q.send(WhenFull::WaitThenDrop(LONG), &tx, group(100)).queued);
        assert!(t.elapsed() < LONG / 2);
    }

    /// Many producers, one slow consumer: the charge never exceeds the cap
    /// and every group arrives.
    #[test]
    fn concurrent_producers_stay_under_the_cap() {
        let (tx, rx) = sink_queue(1024, 1000);
        let budget = tx.budget();
        let producers: Vec<_> = (0..4)
            .map(|_| {
                let tx = tx.clone();
                thread::spawn(move || {
                    let mut q = FullQueue::default();
                    for i in 0..50 {
                        assert!(q.send(WhenFull::Block, &tx, group(100 + i * 5)).queued);
                    }
                })
            })
            .collect();
        drop(tx);
        let mut got = 0;
        while let Ok(g) = rx.rx.recv_timeout(LONG) {
            assert!(budget.used() <= 1000, "{}", budget.used());
            budget.release(g.bytes);
            got += 1;
            if got % 16 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(got, 200);
        assert_eq!(budget.used(), 0);
    }
}
