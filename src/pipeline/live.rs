//! The capture thread of `specula live`: interface → decode → dispatch, until
//! asked to stop. Queues that are full drop (and count): the kernel ring
//! cannot wait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::capture::{CaptureError, LiveCapture, Timestamp};
use crate::decode::decode_frame;
use crate::metrics::CaptureCounters;

use super::Pipeline;

/// Pause when the ring is empty: short enough to add no real latency, long
/// enough to cost no CPU on an idle link.
const IDLE_WAIT: Duration = Duration::from_millis(2);

/// How often idle flows are expired when no packet moves the clock.
const IDLE_TICK: Duration = Duration::from_secs(1);

/// Capture until `stop` is set (or the capture fails), then return.
pub fn capture_until(
    cap: &mut LiveCapture,
    pipeline: &mut Pipeline,
    counters: &mut CaptureCounters,
    stop: &AtomicBool,
) -> Result<(), CaptureError> {
    let mut last_tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match cap.next_frame()? {
            Some(frame) => {
                counters.frames += 1;
                counters.bytes += u64::from(frame.orig_len).max(frame.data.len() as u64);
                match decode_frame(frame.linktype, frame.data) {
                    Ok(seg) => {
                        counters.tcp_segments += 1;
                        pipeline.push(frame.ts, &seg);
                    }
                    Err(reason) => counters.skip(reason),
                }
            }
            // Nothing waiting: idle briefly (the kernel ring keeps what arrives).
            None => std::thread::sleep(IDLE_WAIT),
        }
        if last_tick.elapsed() >= IDLE_TICK {
            last_tick = Instant::now();
            // No packet for a while: let the wall clock drive expiry.
            pipeline.advance_to(wall_clock());
        }
    }
    let s = cap.stats();
    counters.kernel_received = s.received;
    counters.kernel_dropped = s.dropped_by_kernel;
    counters.interface_dropped = s.dropped_by_interface;
    Ok(())
}

fn wall_clock() -> Timestamp {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => Timestamp::from_secs_nanos(d.as_secs(), d.subsec_nanos()),
        Err(_) => Timestamp(0),
    }
}
