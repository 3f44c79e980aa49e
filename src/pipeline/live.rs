//! The capture threads of `specula live`: interface → decode → dispatch,
//! one thread per interface, until asked to stop. A full worker queue is
//! waited for within the `WhenFull` budget (the kernel ring buffers
//! meanwhile), then its batches are dropped and counted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::capture::{CaptureError, LiveCapture, Timestamp};
use crate::decode::Decoder;
use crate::metrics::{CaptureCounters, DispatchStats};

use super::view::{PipelineView, PUBLISH_EVERY};
use super::Dispatcher;

/// Longest blocking wait on an empty ring: the capture socket wakes the
/// thread as soon as frames are handed over (in immediate mode at the first
/// frame; otherwise when the kernel retires a block, full or at most 100 ms
/// after its first frame), with no CPU while idle; the bound only sets how
/// soon an idle thread sees its stop flag.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// After the stop flag: how long frames are still read, so that the block
/// the kernel retires within its 100 ms timeout is not left in the ring.
const FINAL_DRAIN: Duration = Duration::from_millis(150);

/// How often idle flows are expired when no packet moves the clock.
const IDLE_TICK: Duration = Duration::from_secs(1);

/// Frames read between two looks at the clock and the stop flag.
const FRAMES_PER_CHECK: u32 = 256;

/// What one capture thread did.
pub struct SourceOutcome {
    pub interface: String,
    pub capture: CaptureCounters,
    pub dispatch: DispatchStats,
    pub error: Option<CaptureError>,
}

/// Capture from `cap` into `dispatcher` on a new thread until `stop` is set
/// or the capture fails. Counters are published to `view` as they grow.
pub fn spawn_capture(
    mut cap: LiveCapture,
    mut dispatcher: Dispatcher,
    mut decoder: Decoder,
    view: Arc<PipelineView>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<SourceOutcome>> {
    let interface = cap.source().to_string();
    std::thread::Builder::new()
        .name(format!("specula-capture-{interface}"))
        .spawn(move || {
            let slot = view.register_source(&interface);
            let mut counters = CaptureCounters::default();
            let result = capture_until(
                &mut cap,
                &mut decoder,
                &mut dispatcher,
                &mut counters,
                &stop,
                Some((&view, slot)),
            );
            if let Err(e) = &result {
                tracing::error!(interface = %interface, "capture failed: {e}");
            }
            end_source(&view, slot, interface, counters, dispatcher, result)
        })
}

/// The end of a source thread (an interface or a UDP listener): send what
/// its dispatcher holds, publish its last counters and how it ended.
pub(super) fn end_source(
    view: &PipelineView,
    slot: usize,
    interface: String,
    counters: CaptureCounters,
    dispatcher: Dispatcher,
    result: Result<(), CaptureError>,
) -> SourceOutcome {
    let error = result.err();
    let dispatch = dispatcher.finish();
    view.publish_source(slot, &counters, &dispatch);
    view.source_ended(slot, error.as_ref().map(|e| e.to_string()));
    SourceOutcome {
        interface,
        capture: counters,
        dispatch,
        error,
    }
}

/// Capture until `stop` is set (or the capture fails), then return.
pub fn capture_until(
    cap: &mut LiveCapture,
    decoder: &mut Decoder,
    dispatcher: &mut Dispatcher,
    counters: &mut CaptureCounters,
    stop: &AtomicBool,
    view: Option<(&PipelineView, usize)>,
) -> Result<(), CaptureError> {
    let mut last_tick = Instant::now();
    let mut last_publish = Instant::now();
    let mut since_check = 0u32;
    loop {
        match cap.next_frame()? {
            Some(frame) => {
                take_frame(&frame, decoder, dispatcher, counters);
                since_check += 1;
                if since_check < FRAMES_PER_CHECK {
                    continue;
                }
            }
            // Nothing waiting: block until the kernel has a frame (or the
            // bound passes), then look at the stop flag and the clock (cheap,
            // and a slow trickle must not postpone them by FRAMES_PER_CHECK).
            None => {
                cap.wait_readable(IDLE_WAIT)?;
            }
        }
        since_check = 0;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if last_tick.elapsed() >= IDLE_TICK {
            last_tick = Instant::now();
            // Let the wall clock drive expiry even when no packet moves it.
            let now = wall_clock();
            decoder.expire(now);
            dispatcher.advance_to(now);
        }
        if let Some((view, slot)) = view {
            if last_publish.elapsed() >= PUBLISH_EVERY {
                last_publish = Instant::now();
                kernel_stats(cap, counters);
                counters.defrag = decoder.stats().clone();
                view.publish_source(slot, counters, dispatcher.stats());
            }
        }
    }
    // Frames still in the ring's current block, until it is retired.
    let deadline = Instant::now() + FINAL_DRAIN;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match cap.next_frame()? {
            Some(frame) => take_frame(&frame, decoder, dispatcher, counters),
            None => {
                cap.wait_readable(left)?;
            }
        }
    }
    kernel_stats(cap, counters);
    decoder.finish();
    counters.defrag = decoder.stats().clone();
    Ok(())
}

/// Count, decode and dispatch one captured frame.
fn take_frame(
    frame: &crate::capture::Frame<'_>,
    decoder: &mut Decoder,
    dispatcher: &mut Dispatcher,
    counters: &mut CaptureCounters,
) {
    counters.frames += 1;
    counters.bytes += u64::from(frame.orig_len).max(frame.data.len() as u64);
    match decoder.decode(frame.ts, frame.linktype, frame.data) {
        Ok((seg, _)) => {
            counters.tcp_segments += 1;
            dispatcher.push(frame.ts, &seg);
        }
        Err(reason) => counters.skip(reason),
    }
}

fn kernel_stats(cap: &mut LiveCapture, counters: &mut CaptureCounters) {
    let s = cap.stats();
    counters.kernel_received = s.received;
    counters.kernel_dropped = s.dropped_by_kernel;
    counters.interface_dropped = s.dropped_by_interface;
}

fn wall_clock() -> Timestamp {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => Timestamp::from_secs_nanos(d.as_secs(), d.subsec_nanos()),
        Err(_) => Timestamp(0),
    }
}
