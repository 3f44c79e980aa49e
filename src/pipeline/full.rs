//! What a producer does when a bounded queue is full ([`WhenFull`], after
//! Vector's policy of the same name), and the per-queue state that makes
//! `live` wait for a busy worker without letting one overloaded worker stall
//! the capture of all the others ([`FullQueue`]). A queue is anything
//! [`Bounded`]: a crossbeam channel, or the sink queue, which is also
//! bounded by bytes (`sink_queue`).

use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};

/// Why a [`Bounded`] queue did not take a message.
pub(crate) enum Refused<M> {
    /// No room (now, or within the wait): the message comes back.
    Full(M),
    /// The consumer is gone.
    Gone,
}

/// A bounded queue, as a producer under a [`WhenFull`] policy uses it.
pub(crate) trait Bounded<M> {
    /// Queues `msg` if there is room now.
    fn try_put(&self, msg: M) -> Result<(), Refused<M>>;
    /// Queues `msg`, waiting at most `patience` for room.
    fn put_within(&self, msg: M, patience: Duration) -> Result<(), Refused<M>>;
    /// Queues `msg`, waiting as long as it takes; false if the consumer is gone.
    fn put(&self, msg: M) -> bool;
    /// Whether it holds at most half of what it can (an unbounded queue
    /// always has room).
    fn drained_to_half(&self) -> bool;
}

impl<T> Bounded<T> for Sender<T> {
    fn try_put(&self, msg: T) -> Result<(), Refused<T>> {
        self.try_send(msg).map_err(|e| match e {
            TrySendError::Full(m) => Refused::Full(m),
            TrySendError::Disconnected(_) => Refused::Gone,
        })
    }

    fn put_within(&self, msg: T, patience: Duration) -> Result<(), Refused<T>> {
        self.send_timeout(msg, patience).map_err(|e| match e {
            SendTimeoutError::Timeout(m) => Refused::Full(m),
            SendTimeoutError::Disconnected(_) => Refused::Gone,
        })
    }

    fn put(&self, msg: T) -> bool {
        self.send(msg).is_ok()
    }

    fn drained_to_half(&self) -> bool {
        self.capacity().map_or(true, |cap| self.len() * 2 <= cap)
    }
}

/// What to do when a queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for room: nothing is lost (offline files can wait).
    Block,
    /// Wait for room within a budget of this much waiting, then drop the
    /// newest batch and count it. While a live capture thread waits, the
    /// kernel ring (64 MiB by default, ~0.5 s at 1 Gbit/s) buffers, so a
    /// short stall of a worker costs nothing; dropping at once would throw
    /// segments away while that much larger buffer sat empty.
    ///
    /// The budget is a token bucket, not a limit per send: it holds at most
    /// this duration, waits spend it, and it refills at half a second per
    /// second, so the capture waits on one queue in bursts of at most this
    /// long and, over time, at most half of its time. Reading and decoding
    /// take a fraction of the other half at line rate (the reader thread is
    /// under a tenth of the sensor's CPU), so the ring still drains. A
    /// worker that frees a slot now and then but falls further behind would
    /// otherwise pace the capture (and so every other worker) until the ring
    /// overflowed for all flows. When the budget runs out the queue is
    /// overloaded: its batches are dropped without a wait until it has
    /// drained to half, which also refills the budget.
    WaitThenDrop(Duration),
    /// Drop the newest batch at once and count it.
    DropNewest,
}

/// The outcome of one [`FullQueue::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    /// The message is in the queue.
    pub queued: bool,
    /// The queue was full and the sender waited (counted as a wait).
    pub waited: bool,
    /// This send used up the wait budget: the consumer is overloaded from
    /// now until its queue has drained to half.
    pub overload_began: bool,
}

/// The producer's view of one bounded queue: whether its consumer is
/// currently overloaded, and the state of its wait budget (see
/// [`WhenFull::WaitThenDrop`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct FullQueue {
    overloaded: bool,
    /// Waiting owed against the budget (the bucket's empty part).
    waited: Duration,
    /// When the debt was last reduced by the refill.
    refilled_at: Option<Instant>,
}

impl FullQueue {
    /// Whether the consumer is treated as overloaded (batches dropped without
    /// waiting).
    #[cfg(test)]
    pub(crate) fn is_overloaded(&self) -> bool {
        self.overloaded
    }

    /// Send `msg` on `tx` under `policy`. A message that could not be queued
    /// is dropped (the caller counts it); so is any message once the consumer
    /// has hung up.
    pub(crate) fn send<M>(&mut self, policy: WhenFull, tx: &impl Bounded<M>, msg: M) -> Sent {
        let mut sent = Sent {
            queued: false,
            waited: false,
            overload_began: false,
        };
        match policy {
            WhenFull::Block => match tx.try_put(msg) {
                Ok(()) => sent.queued = true,
                Err(Refused::Gone) => {}
                Err(Refused::Full(msg)) => {
                    sent.waited = true;
                    sent.queued = tx.put(msg);
                }
            },
            WhenFull::DropNewest => sent.queued = tx.try_put(msg).is_ok(),
            WhenFull::WaitThenDrop(patience) => {
                let now = Instant::now();
                if tx.drained_to_half() {
                    // The consumer caught up: the whole budget again.
                    self.overloaded = false;
                    self.waited = Duration::ZERO;
                } else if let Some(then) = self.refilled_at {
                    // Refill at half the elapsed time.
                    let refill = now.saturating_duration_since(then) / 2;
                    self.waited = self.waited.saturating_sub(refill);
                }
                self.refilled_at = Some(now);
                let msg = match tx.try_put(msg) {
                    Ok(()) => {
                        sent.queued = true;
                        return sent;
                    }
                    Err(Refused::Gone) => return sent,
                    Err(Refused::Full(msg)) => msg,
                };
                if self.overloaded {
                    return sent;
                }
                sent.waited = true;
                let result = tx.put_within(msg, patience.saturating_sub(self.waited));
                // The wait is spent, not refilled while it lasts.
                let after = Instant::now();
                self.waited += after.saturating_duration_since(now);
                self.refilled_at = Some(after);
                match result {
                    Ok(()) => sent.queued = true,
                    Err(Refused::Full(_)) => {
                        self.overloaded = true;
                        sent.overload_began = true;
                    }
                    Err(Refused::Gone) => {}
                }
            }
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crossbeam_channel::bounded;

    use super::*;

    /// A long patience: a send that waited for it would make the test take
    /// at least this long, so "returned well before" proves it did not wait.
    const LONG: Duration = Duration::from_secs(20);

    #[test]
    fn a_short_stall_is_waited_out_and_nothing_is_dropped() {
        let (tx, rx) = bounded::<u32>(1);
        let mut q = FullQueue::default();
        assert!(q.send(WhenFull::WaitThenDrop(LONG), &tx, 1).queued);
        let consumer = std::thread::spawn(move || {
            // Long enough that the send below finds the queue full.
            std::thread::sleep(Duration::from_millis(200));
            let first = rx.recv().unwrap();
            (first, rx.recv().unwrap())
        });
        let s = q.send(WhenFull::WaitThenDrop(LONG), &tx, 2);
        assert_eq!(
            s,
            Sent {
                queued: true,
                waited: true,
                overload_began: false
            }
        );
        assert_eq!(consumer.join().unwrap(), (1, 2));
        assert!(!q.is_overloaded());
    }

    #[test]
    fn an_overloaded_consumer_is_not_waited_for_again_until_it_drains_to_half() {
        let (tx, rx) = bounded::<u32>(4);
        let mut q = FullQueue::default();
        for i in 0..4 {
            assert!(q.send(WhenFull::WaitThenDrop(LONG), &tx, i).queued);
        }
        // Full and nobody reading: the wait runs out, the batch is dropped.
        let s = q.send(WhenFull::WaitThenDrop(Duration::from_millis(20)), &tx, 4);
        assert_eq!(
            s,
            Sent {
                queued: false,
                waited: true,
                overload_began: true
            }
        );
        assert!(q.is_overloaded());
        // Overloaded: dropped at once, however long the patience.
        let t = Instant::now();
        let s = q.send(WhenFull::WaitThenDrop(LONG), &tx, 5);
        assert!(t.elapsed() < LONG / 2, "waited {:?}", t.elapsed());
        assert_eq!(
            s,
            Sent {
                queued: false,
                waited: false,
                overload_began: false
            }
        );
        // One slot free (3 of 4 held): queued, but still overloaded.
        assert_eq!(rx.recv().unwrap(), 0);
        assert!(q.send(WhenFull::WaitThenDrop(LONG), &tx, 6).queued);
        assert!(q.is_overloaded());
        let t = Instant::now();
        assert!(!q.send(WhenFull::WaitThenDrop(LONG), &tx, 7).queued);
        assert!(t.elapsed() < LONG / 2, "waited {:?}", t.elapsed());
        // Drained to half (2 of 4): waiting again, and the send goes through.
        assert_eq!((rx.recv().unwrap(), rx.recv().unwrap()), (1, 2));
        assert!(q.send(WhenFull::WaitThenDrop(LONG), &tx, 8).queued);
        assert!(!q.is_overloaded());
        let got: Vec<u32> = rx.try_iter().collect();
        assert_eq!(got, [3, 6, 8]);
    }

    /// A consumer that takes one message now and then but never catches up
    /// must not pace the producer forever: the waits add up to the budget,
    /// then the queue is overloaded (each single wait here is far shorter
    /// than the budget, so a limit per send would never trip).
    #[test]
    fn a_slow_consumer_that_never_catches_up_uses_up_the_budget() {
        let (tx, rx) = bounded::<u32>(4);
        let consumer = std::thread::spawn(move || {
            let mut got = 0u32;
            while rx.recv_timeout(Duration::from_secs(2)).is_ok() {
                got += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            got
        });
        let mut q = FullQueue::default();
        let budget = WhenFull::WaitThenDrop(Duration::from_millis(200));
        let (mut queued, mut waits, mut overloads) = (0, 0, 0);
        for i in 0..200 {
            let s = q.send(budget, &tx, i);
            queued += u32::from(s.queued);
            waits += u32::from(s.waited);
            overloads += u32::from(s.overload_began);
            if overloads > 0 {
                break;
            }
        }
        assert_eq!(overloads, 1, "never overloaded after {waits} waits");
        assert!(q.is_overloaded());
        // More than one wait went into the budget.
        assert!(waits > 1, "{waits}");
        drop(tx);
        assert_eq!(consumer.join().unwrap(), queued);
    }

    #[test]
    fn block_waits_and_drop_newest_does_not() {
        let (tx, rx) = bounded::<u32>(1);
        let mut q = FullQueue::default();
        assert!(q.send(WhenFull::DropNewest, &tx, 1).queued);
        assert_eq!(
            q.send(WhenFull::DropNewest, &tx, 2),
            Sent {
                queued: false,
                waited: false,
                overload_began: false
            }
        );
        let consumer = std::thread::spawn(move || {
            // Long enough that the send below finds the queue full.
            std::thread::sleep(Duration::from_millis(200));
            rx.iter().collect::<Vec<_>>()
        });
        let s = q.send(WhenFull::Block, &tx, 3);
        assert!(s.queued && s.waited);
        drop(tx);
        assert_eq!(consumer.join().unwrap(), [1, 3]);
    }

    #[test]
    fn a_hung_up_consumer_drops_without_waiting() {
        let (tx, rx) = bounded::<u32>(1);
        drop(rx);
        let mut q = FullQueue::default();
        let t = Instant::now();
        for policy in [
            WhenFull::Block,
            WhenFull::DropNewest,
            WhenFull::WaitThenDrop(LONG),
        ] {
            assert!(!q.send(policy, &tx, 1).queued);
        }
        assert!(t.elapsed() < LONG / 2);
    }
}
