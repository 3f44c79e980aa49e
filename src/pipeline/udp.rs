//! The UDP tunnel source threads of `specula live`: one per listener
//! (`--listen-vxlan`, `--listen-geneve`), datagram → VNI filter → decode →
//! dispatch, until asked to stop. Like the interface threads of
//! [`live`](super::live): each has its own [`Dispatcher`] over the shared
//! worker queues, under the same full-queue policy (the socket's receive
//! buffer, `udp_buffer_bytes`, holds datagrams while it waits; when the
//! kernel granted less, less is held), and counters are published
//! to the [`PipelineView`] as a source named after the listener
//! (`vxlan:0.0.0.0:4789`). Counters reuse [`CaptureCounters`]: a frame is a
//! datagram, `kernel_dropped` is the socket's `SO_RXQ_OVFL` count.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::capture::udp::{wall_clock, VniVerdict};
use crate::capture::{CaptureError, UdpTunnelSocket, VniFilter};
use crate::decode::{Decoder, SkipReason};
use crate::metrics::CaptureCounters;

use super::live::SourceOutcome;
use super::view::{PipelineView, PUBLISH_EVERY};
use super::Dispatcher;

/// How often idle flows (and decoder state) are expired when no datagram
/// moves the clock.
const IDLE_TICK: Duration = Duration::from_secs(1);

/// Datagrams read between two looks at the clock and the stop flag.
const DATAGRAMS_PER_CHECK: u32 = 256;

/// Receive from `sock` into `dispatcher` on a new thread until `stop` is set
/// or the socket fails; datagrams whose VNI `vnis` rejects are counted in
/// `vni_filtered` and dropped.
pub fn spawn_listener(
    mut sock: UdpTunnelSocket,
    vnis: VniFilter,
    mut dispatcher: Dispatcher,
    mut decoder: Decoder,
    view: Arc<PipelineView>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<SourceOutcome>> {
    let name = sock.name().to_string();
    std::thread::Builder::new()
        .name(format!("specula-{}", sock.kind().as_str()))
        .spawn(move || {
            let slot = view.register_source(&name);
            let mut counters = CaptureCounters::default();
            let result = receive_until(
                &mut sock,
                &vnis,
                &mut decoder,
                &mut dispatcher,
                &mut counters,
                &stop,
                Some((&view, slot)),
            );
            if let Err(e) = &result {
                tracing::error!(listener = %name, "listener failed: {e}");
            }
            super::live::end_source(&view, slot, name, counters, dispatcher, result)
        })
}

/// Receive until `stop` is set (or the socket fails), then return.
pub fn receive_until(
    sock: &mut UdpTunnelSocket,
    vnis: &VniFilter,
    decoder: &mut Decoder,
    dispatcher: &mut Dispatcher,
    counters: &mut CaptureCounters,
    stop: &AtomicBool,
    view: Option<(&PipelineView, usize)>,
) -> Result<(), CaptureError> {
    let kind = sock.kind();
    let linktype = kind.linktype();
    let mut last_tick = Instant::now();
    let mut last_publish = Instant::now();
    let mut since_check = 0u32;
    loop {
        // `recv` waits at most RECV_TIMEOUT, so the flag is seen promptly.
        if let Some(d) = sock.recv()? {
            counters.frames += 1;
            counters.bytes += d.payload.len() as u64;
            if !d.source_allowed {
                // Not from a mirror source: forged, whatever it carries.
                counters.source_filtered += 1;
            } else if d.truncated {
                counters.skip(SkipReason::Truncated);
            } else {
                match vnis.check(kind, d.payload) {
                    VniVerdict::Pass => match decoder.decode(d.ts, linktype, d.payload) {
                        Ok((seg, _)) => {
                            counters.tcp_segments += 1;
                            dispatcher.push(d.ts, &seg);
                        }
                        Err(reason) => counters.skip(reason),
                    },
                    VniVerdict::Filtered => counters.vni_filtered += 1,
                    VniVerdict::Malformed => counters.skip(SkipReason::MalformedTunnel),
                }
            }
            since_check += 1;
            if since_check < DATAGRAMS_PER_CHECK {
                continue;
            }
        }
        since_check = 0;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if last_tick.elapsed() >= IDLE_TICK {
            last_tick = Instant::now();
            // Let the wall clock drive expiry even when no datagram moves it.
            let now = wall_clock();
            decoder.expire(now);
            dispatcher.advance_to(now);
        }
        if let Some((view, slot)) = view {
            if last_publish.elapsed() >= PUBLISH_EVERY {
                last_publish = Instant::now();
                counters.kernel_dropped = sock.kernel_dropped();
                counters.defrag = decoder.stats().clone();
                view.publish_source(slot, counters, dispatcher.stats());
            }
        }
    }
    counters.kernel_dropped = sock.kernel_dropped();
    decoder.finish();
    counters.defrag = decoder.stats().clone();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::UdpSocket;
    use std::sync::Mutex;

    use super::*;
    use crate::capture::{TunnelKind, UdpTunnelOptions};
    use crate::config::EmitMode;
    use crate::decode::DecodeOptions;
    use crate::detect::{DetectLimits, Detector, RuleSet};
    use crate::pipeline::{Pipeline, PipelineOptions, WhenFull};
    use crate::sink::JsonLinesWriter;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A VXLAN datagram carrying one Ethernet/IPv4/TCP segment with `data`.
    fn vxlan_tcp(vni: u32, data: &[u8]) -> Vec<u8> {
        let mut d = vec![0x08, 0, 0, 0];
        d.extend_from_slice(&(vni << 8).to_be_bytes());
        etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1000, 65535)
            .ack(1)
            .psh()
            .write(&mut d, data)
            .unwrap();
        d
    }

    /// One worker with the built-in rules writing every request to `out`.
    fn requests_pipeline(out: &Shared) -> Pipeline {
        let mut opts = PipelineOptions::new(Arc::new(Detector::new(
            &RuleSet::builtin(),
            DetectLimits::default(),
        )));
        opts.workers = 1;
        opts.emit = EmitMode::Requests;
        opts.when_full = WhenFull::DropNewest;
        Pipeline::start(
            opts,
            Box::new(JsonLinesWriter::new(Box::new(out.clone()), "test")),
        )
        .unwrap()
    }

    /// A VXLAN listener on loopback for VNI 7 taking datagrams from
    /// `sources` (empty: any), feeding `pipeline`: its address, the view,
    /// the stop flag and the thread.
    fn vni7_listener(
        pipeline: &Pipeline,
        sources: Vec<ipnet::IpNet>,
    ) -> (
        std::net::SocketAddr,
        Arc<PipelineView>,
        Arc<AtomicBool>,
        JoinHandle<SourceOutcome>,
    ) {
        let sock = UdpTunnelSocket::bind(&UdpTunnelOptions {
            kind: TunnelKind::Vxlan,
            listen: "127.0.0.1:0".parse().unwrap(),
            recv_buffer_bytes: 1 << 20,
            sources,
        })
        .unwrap();
        let addr = sock.local_addr();
        let stop = Arc::new(AtomicBool::new(false));
        let view = pipeline.view();
        let handle = spawn_listener(
            sock,
            VniFilter::new(&[7]),
            pipeline.new_dispatcher(),
            Decoder::new(DecodeOptions::default()),
            Arc::clone(&view),
            Arc::clone(&stop),
        )
        .unwrap();
        (addr, view, stop, handle)
    }

    #[test]
    fn listener_filters_by_vni_counts_garbage_and_stops_on_the_flag() {
        let out = Shared::default();
        let pipeline = requests_pipeline(&out);
        let (addr, view, stop, handle) = vni7_listener(&pipeline, Vec::new());
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let req = b"GET /via-vni-7 HTTP/1.1\r\nHost: a\r\nX-Request-ID: vni7\r\n\r\n";
        tx.send_to(&vxlan_tcp(7, req), addr).unwrap();
        let other = b"GET /via-vni-8 HTTP/1.1\r\nHost: a\r\nX-Request-ID: vni8\r\n\r\n";
        tx.send_to(&vxlan_tcp(8, other), addr).unwrap();
        tx.send_to(&[0xff, 1, 2], addr).unwrap();
        // Wait until the three datagrams are published, then stop.
        let deadline = Instant::now() + Duration::from_secs(20);
        while view.snapshot().capture.frames < 3 {
            assert!(Instant::now() < deadline, "datagrams not received");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(view.sources()[0].name, format!("vxlan:{addr}"));
        stop.store(true, Ordering::Relaxed);
        let outcome = handle.join().unwrap();
        assert!(outcome.error.is_none());
        let c = &outcome.capture;
        assert_eq!(c.frames, 3);
        assert_eq!(c.vni_filtered, 1);
        assert_eq!(c.tcp_segments, 1);
        let malformed = SkipReason::ALL
            .iter()
            .position(|r| *r == SkipReason::MalformedTunnel)
            .unwrap();
        assert_eq!(c.skipped[malformed], 1);
        assert!(!view.sources()[0].running);
        let (_, sink) = pipeline.finish();
        sink.unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("\"request_id\":\"vni7\""), "{text}");
        assert!(!text.contains("vni8"), "{text}");
    }

    /// Review 31c: a datagram from a host outside `[capture] tunnel_sources`
    /// carries a well-formed attack request in the right VNI; it is counted
    /// in `source_filtered` and never reaches the decoder, so no row is
    /// written. Before, any host that could reach the UDP port could inject
    /// fake flows or forged segments of real ones. Severity: High.
    #[test]
    fn review31c_forged_datagram_from_an_unlisted_source_records_nothing() {
        let out = Shared::default();
        let pipeline = requests_pipeline(&out);
        // The mirror source: not this test's sender.
        let sources = vec!["192.0.2.10/32".parse().unwrap()];
        let (addr, view, stop, handle) = vni7_listener(&pipeline, sources);
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let forged =
            b"GET /?q=1%27%20OR%201=1-- HTTP/1.1\r\nHost: a\r\nX-Request-ID: forged\r\n\r\n";
        tx.send_to(&vxlan_tcp(7, forged), addr).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while view.snapshot().capture.frames < 1 {
            assert!(Instant::now() < deadline, "datagram not received");
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        let outcome = handle.join().unwrap();
        let c = &outcome.capture;
        assert_eq!(c.frames, 1);
        assert_eq!(c.source_filtered, 1);
        assert_eq!(c.tcp_segments, 0);
        let (_, sink) = pipeline.finish();
        sink.unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("forged"), "{text}");
    }
}
