//! The flow table alone, on a sequence of arbitrary TCP segments between
//! one client and one server (up to four client ports, so flows compete for
//! a small table), with sequence numbers near the wrap and far jumps: the
//! midstream pickups, forged starts, RST holds and corrections that raw
//! frames (the `stream` target) seldom reach.
//!
//! Asserts after every segment what `FlowTable::check_consistency` checks
//! (sound flow lists, the index, the memcap accounting), the caps, and of
//! the handler's view: a flow's data and gaps come before its one end.
//! After `end_all` nothing is held.
//!
//! Input: records of 8 bytes, then the payload they take from the rest:
//! `[dir|far|port] [reread|flags] [seq lo] [seq hi] [ack lo] [ack hi] [len] [dt]`
//! (`reread`, bit 6: a restart this segment causes asks for both sides).
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::capture::Timestamp;
use specula::decode::{TcpFlags, TcpSegment};
use specula::reassembly::{Direction, EndReason, FlowInfo, FlowTable, ReassemblyConfig, Reread, Stamp, StreamHandler};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

/// Near the wrap, so the forged and real numbers straddle it.
const CLIENT_ISN: u32 = 0xFFFF_F000;
const SERVER_ISN: u32 = 0x7FFF_FF00;

#[derive(Default)]
struct Check {
    ended: HashSet<u64>,
    /// What `on_restart` answers; set by the latest record (flags bit 6).
    reread_both: bool,
}

impl Check {
    fn alive(&self, f: &FlowInfo) {
        assert!(!self.ended.contains(&f.id), "flow {} fed after its end", f.id);
    }
}

impl StreamHandler<()> for Check {
    fn on_data(&mut self, f: &FlowInfo, _: &mut (), _: Direction, _: Stamp, data: &[u8]) {
        self.alive(f);
        assert!(!data.is_empty());
    }
    fn on_gap(&mut self, f: &FlowInfo, _: &mut (), _: Direction, len: u64) {
        self.alive(f);
        assert!(len > 0);
    }
    fn on_restart(&mut self, f: &FlowInfo, _: &mut (), _: Direction) -> Reread {
        self.alive(f);
        if self.reread_both {
            Reread::Both
        } else {
            Reread::Restarted
        }
    }
    fn on_end(&mut self, f: &FlowInfo, _: &mut (), _: EndReason) {
        assert!(self.ended.insert(f.id), "flow {} ended twice", f.id);
    }
}

fuzz_target!(|data: &[u8]| {
    let cfg = ReassemblyConfig {
        max_flows: 3,
        max_buffered_bytes_per_flow: 600,
        memcap_bytes: 1500,
        idle_timeout_ns: 50_000,
        closed_linger_ns: 5_000,
        rst_hold_ns: 20_000,
        ..ReassemblyConfig::default()
    };
    let mut table: FlowTable<()> = FlowTable::new(cfg.clone());
    let mut check = Check::default();
    let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let server = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let (mut ts, mut rest) = (1u64, data);
    while rest.len() >= 8 {
        let (rec, tail) = rest.split_at(8);
        let len = usize::from(rec[6]).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        let from_client = rec[0] & 0x80 == 0;
        let far = rec[0] & 0x40 != 0;
        let port = 40000 + u16::from(rec[0] & 3);
        // Offsets from each side's ISN; `far` moves the sequence number
        // 2^16 times further (forged numbers a quarter of the space away).
        let shift = if far { 16 } else { 0 };
        let seq_off = (i32::from(i16::from_le_bytes([rec[2], rec[3]]))) << shift;
        let ack_off = i32::from(i16::from_le_bytes([rec[4], rec[5]]));
        let (isn, peer_isn) = if from_client { (CLIENT_ISN, SERVER_ISN) } else { (SERVER_ISN, CLIENT_ISN) };
        // dt: mostly small steps; 255 jumps past every timeout.
        ts += if rec[7] == 255 { 1_000_000 } else { u64::from(rec[7]) * 100 };
        let (src, dst, src_port, dst_port) =
            if from_client { (client, server, port, 80) } else { (server, client, 80, port) };
        let seg = TcpSegment {
            timestamp: None,
            src,
            dst,
            src_port,
            dst_port,
            seq: isn.wrapping_add(seq_off as u32),
            ack: peer_isn.wrapping_add(ack_off as u32),
            flags: TcpFlags(rec[1] & 0x3f),
            window: 65535,
            // Read only with URG (0x20) set: a pointer near the payload.
            urgent: u16::from(rec[7] ^ rec[2]),
            payload,
            tunnel: 0,
        };
        check.reread_both = rec[1] & 0x40 != 0;
        table.process(Timestamp(ts), &seg, &mut check);
        if let Err(e) = table.check_consistency() {
            panic!("{e}");
        }
        assert!(table.len() <= cfg.max_flows);
        assert!(table.buffered_bytes() <= cfg.memcap_bytes + 255, "{}", table.buffered_bytes());
    }
    table.advance_time(Timestamp(ts + 10_000_000), &mut check);
    if let Err(e) = table.check_consistency() {
        panic!("{e}");
    }
    table.end_all(&mut check);
    assert_eq!(table.buffered_bytes(), 0);
    assert!(table.is_empty());
});
