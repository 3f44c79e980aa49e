//! decode → reassembly → http → detect on a sequence of arbitrary frames:
//! never panics, memory stays within the configured caps.
//!
//! Deterministic: the detector's scratch buffers and clean-value cache
//! belong to the input (not to the thread, as `Detector::inspect`'s do), so
//! coverage does not depend on the inputs run before.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::capture::{LinkType, Timestamp};
use specula::decode::decode_frame;
use specula::detect::{DetectLimits, DetectStats, Detector, RuleSet, Scratch};
use specula::http::{HttpEvent, HttpLimits, HttpSession, HttpStats};
use specula::reassembly::{Direction, EndReason, FlowInfo, FlowTable, ReassemblyConfig, Reread, Stamp, StreamHandler};
use std::sync::OnceLock;

struct Sink {
    limits: HttpLimits,
    stats: HttpStats,
    events: Vec<HttpEvent>,
    detect_stats: DetectStats,
    scratch: Scratch,
}

fn detector() -> &'static Detector {
    static D: OnceLock<Detector> = OnceLock::new();
    D.get_or_init(|| Detector::new(&RuleSet::builtin(), DetectLimits::default()))
}

impl Sink {
    fn drain(&mut self) {
        let mut hits = Vec::new();
        for ev in self.events.drain(..) {
            if let HttpEvent::Request(r) = ev {
                detector().inspect_with(&r, &mut self.scratch, &mut self.detect_stats, &mut hits);
            }
        }
    }
}

impl StreamHandler<HttpSession> for Sink {
    fn on_data(&mut self, _f: &FlowInfo, s: &mut HttpSession, dir: Direction, at: Stamp, data: &[u8]) {
        s.on_data(&self.limits, &mut self.stats, dir, at, data, &mut self.events);
        self.drain();
    }
    fn on_gap(&mut self, _f: &FlowInfo, s: &mut HttpSession, dir: Direction, len: u64) {
        s.on_gap(&self.limits, &mut self.stats, dir, len, &mut self.events);
        self.drain();
    }
    fn over_memcap(&self) -> bool {
        self.stats.buffered_bytes > self.limits.max_buffered_bytes as u64
    }
    fn on_restart(&mut self, _f: &FlowInfo, s: &mut HttpSession, dir: Direction) -> Reread {
        let reread = s.on_restart(&self.limits, &mut self.stats, dir, &mut self.events);
        self.drain();
        reread
    }
    fn on_fin(&mut self, _f: &FlowInfo, s: &mut HttpSession, dir: Direction) {
        s.on_fin(&self.limits, &mut self.stats, dir, &mut self.events);
        self.drain();
    }
    fn on_end(&mut self, _f: &FlowInfo, s: &mut HttpSession, _r: EndReason) {
        s.on_end(&self.limits, &mut self.stats, &mut self.events);
        self.drain();
    }
}

fuzz_target!(|data: &[u8]| {
    let cfg = ReassemblyConfig {
        max_flows: 8,
        max_buffered_bytes_per_flow: 4096,
        memcap_bytes: 16384,
        idle_timeout_ns: 10_000,
        closed_linger_ns: 1_000,
        ..ReassemblyConfig::default()
    };
    let mut table: FlowTable<HttpSession> = FlowTable::new(cfg.clone());
    let limits = HttpLimits { max_header_bytes: 2048, max_headers: 16, max_body_inspect_bytes: 1024, max_tx_per_flow: 4, max_buffered_bytes: 4096 };
    let mut sink = Sink { limits, stats: HttpStats::default(), events: Vec::new(), detect_stats: DetectStats::default(), scratch: Scratch::default() };
    // Frames are length-prefixed (u16 LE) raw IPv4/IPv6 packets.
    let mut rest = data;
    let mut ts = 1u64;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])) % 1600;
        rest = &rest[2..];
        let take = len.min(rest.len());
        let (frame, tail) = rest.split_at(take);
        rest = tail;
        ts += u64::from(frame.first().copied().unwrap_or(1));
        if let Ok(seg) = decode_frame(LinkType::RAW, frame) {
            table.process(Timestamp(ts), &seg, &mut sink);
            assert!(table.buffered_bytes() <= cfg.memcap_bytes + 1600);
            assert!(table.len() <= cfg.max_flows);
        }
    }
    table.end_all(&mut sink);
    // Every session released what it held.
    assert_eq!(sink.stats.buffered_bytes, 0);
});
