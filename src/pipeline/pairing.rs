//! Pairing requests with responses on two-sided captures (SPAN, TAP).
//!
//! Owns the records a worker holds back until the response to their request
//! is seen, and the evidence that decides whether a flow can show responses
//! at all. Hands on records with `response_status`, `response_bytes`,
//! `response_time_ms` and `blocked` filled in (or left at zero when no
//! response came), in the order the requests were made on each flow.
//!
//! Guarantees:
//! - Only flows that showed the server's side hold records: a SYN-ACK, or
//!   payload in the direction opposite to the requests. A one-sided mirror
//!   capture never delays a record. Flows whose server port is in
//!   `ignore_ports` (the mirror target's own port, whose `204` answers are not
//!   the application's) are never paired.
//! - No record waits longer than `timeout_ns` on the capture clock after its
//!   request was complete (checked at every worker batch, and the dispatcher
//!   sends a batch at least every second of capture time), nor past its
//!   flow's end.
//! - At most `max_held_records` records, and `max_held_bytes` of them, are
//!   held per worker, and at most twice `max_held_records` slots are queued
//!   (answered ones wait behind an unanswered one); beyond that the oldest
//!   are released unpaired and counted (`over_cap`).
//! - Holding allocates nothing per request beyond the records themselves:
//!   record vectors are recycled, the queues grow to their peak once.
//!
//! Pairing follows the HTTP layer's FIFO pairing (`HttpEvent::Response`
//! carries the index of the request it answers): interim `1xx` responses are
//! not answers, except `101` (the switch an Upgrade asked for). A response
//! can come before its request is complete (a WAF refusing a large upload
//! early): it is kept per flow until that request is emitted.

use std::collections::{HashMap, VecDeque};

use crate::capture::Timestamp;
use crate::decode::TcpSegment;
use crate::http::Response;
use crate::reassembly::{Direction, FlowInfo, FlowKey};
use crate::sink::Record;

/// How the worker pairs requests with responses (`[responses]` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingOptions {
    /// Pair at all; off, no record is ever held and every response field is 0.
    pub enabled: bool,
    /// Longest wait for a response after the request was complete, in
    /// nanoseconds of capture time.
    pub timeout_ns: u64,
    /// Statuses that mean the request was refused (`blocked = true`).
    pub blocked_statuses: Vec<u16>,
    /// Server ports whose responses are not paired and never hold records.
    pub ignore_ports: Vec<u16>,
    /// Most records held per worker; 0 holds nothing.
    pub max_held_records: usize,
    /// Most bytes of held records per worker (counted as in `records_bytes`): an
    /// attack record carries the request's target, headers and body
    /// excerpt, so a count alone does not bound memory.
    pub max_held_bytes: usize,
    /// Most flows remembered between their SYN-ACK and their first data, per
    /// worker (the flow table's per-worker cap is the natural value).
    pub max_hints: usize,
    /// Hints older than this (the flow idle timeout) are forgotten first when
    /// `max_hints` is reached.
    pub hint_max_age_ns: u64,
}

/// Default `[responses] timeout_ms`.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Default `[responses] max_held_records`.
pub const DEFAULT_MAX_HELD_RECORDS: usize = 65_536;
/// Default `[responses] max_held_bytes`.
pub const DEFAULT_MAX_HELD_BYTES: usize = 32 << 20;
/// Default `[responses] blocked_statuses`.
pub const DEFAULT_BLOCKED_STATUSES: [u16; 3] = [403, 406, 429];
/// Default `[responses] ignore_ports`: `specula live --sink`'s usual port.
pub const DEFAULT_IGNORE_PORTS: [u16; 1] = [8445];

impl Default for PairingOptions {
    fn default() -> Self {
        PairingOptions {
            enabled: true,
            timeout_ns: DEFAULT_TIMEOUT_MS * 1_000_000,
            blocked_statuses: DEFAULT_BLOCKED_STATUSES.to_vec(),
            ignore_ports: DEFAULT_IGNORE_PORTS.to_vec(),
            max_held_records: DEFAULT_MAX_HELD_RECORDS,
            max_held_bytes: DEFAULT_MAX_HELD_BYTES,
            max_hints: 1 << 20,
            hint_max_age_ns: 120 * 1_000_000_000,
        }
    }
}

/// Counters of one worker's pairing (requests, not records, except the gauge).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairingStats {
    /// Held requests released with their response.
    pub paired: u64,
    /// Released unpaired: no response within the timeout.
    pub released_timeout: u64,
    /// Released unpaired: the flow ended first.
    pub released_flow_end: u64,
    /// Released unpaired: `max_held_records` or `max_held_bytes` was reached.
    pub released_over_cap: u64,
    /// Released unpaired: the HTTP layer paired a later request, so this one
    /// will never get an answer (its transaction was forgotten).
    pub released_unanswered: u64,
    /// SYN-ACK evidence not remembered because `max_hints` was reached.
    pub hints_dropped: u64,
    /// Records held now (gauge).
    pub held_records: u64,
    /// Bytes of the records held now (gauge, counted as in `records_bytes`).
    pub held_bytes: u64,
}

/// What a response tells about its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answer {
    ts: Timestamp,
    status: u16,
    bytes: u64,
}

/// Pairing state of one flow (lives in the flow table's per-flow state).
#[derive(Debug, Default)]
pub(crate) struct FlowPairing {
    /// A SYN-ACK was seen (the server's side is in the capture).
    synack: bool,
    /// The SYN-ACK hint table was consulted (once per flow).
    hint_checked: bool,
    /// Directions that carried payload (bit 0 to server, bit 1 to client).
    data_dirs: u8,
    /// Index of the next request the flow will emit.
    next_request: u32,
    /// Held requests, oldest first: (request index, slot sequence number).
    /// Entries whose slot was released by timeout or cap are stale (their
    /// sequence number is below the queue's base) and skipped lazily.
    waiting: VecDeque<(u32, u64)>,
    /// A final response that came before its request was complete.
    early: Option<(u32, Answer)>,
}

/// What a request's records hold ([`Record::own_bytes`] each), each shared
/// request context counted once.
pub(super) fn records_bytes(records: &[Record]) -> usize {
    let mut last: *const crate::sink::RequestContext = std::ptr::null();
    let mut n = 0;
    for r in records {
        n += r.own_bytes();
        if let Some(c) = &r.context {
            if !std::ptr::eq(std::sync::Arc::as_ptr(c), last) {
                last = std::sync::Arc::as_ptr(c);
                n += c.approx_bytes();
            }
        }
    }
    n
}

fn dir_bit(d: Direction) -> u8 {
    match d {
        Direction::ToServer => 1,
        Direction::ToClient => 2,
    }
}

impl FlowPairing {
    /// In-order payload of `dir` was seen.
    pub fn note_data(&mut self, dir: Direction) {
        self.data_dirs |= dir_bit(dir);
    }
}

/// One held request's records.
#[derive(Debug)]
struct Slot {
    /// Capture time after which the records go out unpaired.
    deadline: Timestamp,
    /// Capture time of the request's first byte.
    req_ts: Timestamp,
    /// What its records cost ([`records_bytes`]), while live.
    bytes: usize,
    /// False once released (the slot stays until it reaches the front).
    live: bool,
    records: Vec<Record>,
}

/// Most recycled record vectors kept.
const SPARE_VECS: usize = 1024;

/// The held records of one worker. See the module docs.
#[derive(Debug)]
pub(crate) struct Pairing {
    opts: PairingOptions,
    /// Held requests in the order they were completed (so deadlines rise).
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`.
    base: u64,
    /// Records in live slots, and their bytes.
    held: usize,
    held_bytes: usize,
    spare: Vec<Vec<Record>>,
    /// Flows whose SYN-ACK was seen before their first data, and when.
    hints: HashMap<FlowKey, Timestamp>,
    /// When `hints` was last swept of old entries, and how many sweeps ran.
    last_sweep: Timestamp,
    hint_sweeps: u64,
    stats: PairingStats,
}

impl Pairing {
    pub fn new(opts: PairingOptions) -> Pairing {
        Pairing {
            opts,
            slots: VecDeque::new(),
            base: 0,
            held: 0,
            held_bytes: 0,
            spare: Vec::new(),
            hints: HashMap::new(),
            last_sweep: Timestamp(0),
            hint_sweeps: 0,
            stats: PairingStats::default(),
        }
    }

    pub fn stats(&self) -> PairingStats {
        let mut s = self.stats.clone();
        s.held_records = self.held as u64;
        s.held_bytes = self.held_bytes as u64;
        s
    }

    fn holds(&self) -> bool {
        self.opts.enabled && self.opts.max_held_records > 0
    }

    /// Look at a segment before reassembly: a SYN-ACK proves that the
    /// capture shows the server's side of its flow.
    pub fn note_segment(&mut self, ts: Timestamp, seg: &TcpSegment<'_>) {
        // A SYN-ACK with RST creates no flow, so its hint would never be
        // taken by `touch`: it would only fill the map.
        let synack = seg.flags.syn() && seg.flags.ack() && !seg.flags.rst();
        if !(self.holds() && synack) || self.opts.ignore_ports.contains(&seg.src_port) {
            return;
        }
        let key = FlowKey::of_segment(seg);
        if self.hints.len() >= self.opts.max_hints && !self.hints.contains_key(&key) {
            // Flows that never sent data (scans) or ended unseen. A sweep
            // visits every hint, so it runs at most once per eighth of the
            // age limit: a flood of SYN-ACKs at the cap costs a counter per
            // packet, not a walk of the whole map.
            let max_age = self.opts.hint_max_age_ns;
            if self.hint_sweeps == 0 || ts.0.saturating_sub(self.last_sweep.0) >= max_age / 8 {
                self.hint_sweeps += 1;
                self.last_sweep = ts;
                self.hints
                    .retain(|_, seen| ts.0.saturating_sub(seen.0) <= max_age);
            }
            if self.hints.len() >= self.opts.max_hints {
                self.stats.hints_dropped += 1;
                return;
            }
        }
        self.hints.insert(key, ts);
    }

    /// Called on every stream event of a flow, before its HTTP events.
    pub fn touch(&mut self, flow: &FlowInfo, fp: &mut FlowPairing) {
        if !fp.hint_checked {
            fp.hint_checked = true;
            if !self.hints.is_empty() && self.hints.remove(&flow.key).is_some() {
                fp.synack = true;
            }
        }
    }

    /// Whether the records of a request sent in `dir` to port `dst_port`
    /// wait for its response.
    pub fn should_hold(&self, fp: &FlowPairing, dir: Direction, dst_port: u16) -> bool {
        self.holds()
            && (fp.synack || fp.data_dirs & dir_bit(dir.reverse()) != 0)
            && !self.opts.ignore_ports.contains(&dst_port)
    }

    /// A vector to build a held request's records in (recycled).
    pub fn take_vec(&mut self) -> Vec<Record> {
        self.spare.pop().unwrap_or_default()
    }

    /// The records of request `index` (first byte at `req_ts`, complete at
    /// `now`), built into a vector from [`take_vec`](Self::take_vec): held
    /// until the answer, or released into `out` at once when the answer
    /// came first.
    pub fn hold(
        &mut self,
        fp: &mut FlowPairing,
        index: u32,
        req_ts: Timestamp,
        now: Timestamp,
        mut records: Vec<Record>,
        out: &mut Vec<Record>,
    ) {
        fp.next_request = index.saturating_add(1);
        if let Some((i, answer)) = fp.early.take() {
            if i == index {
                self.stats.paired += 1;
                self.apply(&mut records, req_ts, answer);
                out.append(&mut records);
                self.recycle(records);
                return;
            }
            if i > index {
                fp.early = Some((i, answer));
            }
        }
        if records.is_empty() {
            self.recycle(records);
            return;
        }
        self.drop_stale(fp);
        let seq = self.base + self.slots.len() as u64;
        let bytes = records_bytes(&records);
        self.held += records.len();
        self.held_bytes += bytes;
        self.slots.push_back(Slot {
            deadline: Timestamp(now.0.saturating_add(self.opts.timeout_ns)),
            req_ts,
            bytes,
            live: true,
            records,
        });
        fp.waiting.push_back((index, seq));
        // Released slots stay queued behind an unanswered one until it goes:
        // at most twice the record cap of them, so one request waiting for
        // its answer (forever, in a capture whose clock stands still) cannot
        // make the queue grow with all the traffic answered behind it.
        let max_slots = self.opts.max_held_records.saturating_mul(2).max(1);
        loop {
            self.pop_dead();
            let over = self.held > self.opts.max_held_records
                || self.held_bytes > self.opts.max_held_bytes
                || self.slots.len() > max_slots;
            // After `pop_dead` the front is live: each pop releases records.
            if !over || !self.release_front(out) {
                break;
            }
            self.stats.released_over_cap += 1;
        }
    }

    /// Note that request `index` produced no held records (a flow that does
    /// not wait, or no record to emit).
    pub fn passed(&mut self, fp: &mut FlowPairing, index: u32) {
        fp.next_request = index.saturating_add(1);
        if fp.early.is_some_and(|(i, _)| i <= index) {
            fp.early = None;
        }
    }

    /// A response of this flow (pairing index from the HTTP layer).
    pub fn on_response(&mut self, fp: &mut FlowPairing, resp: &Response, out: &mut Vec<Record>) {
        if !self.holds() {
            return;
        }
        if (100..200).contains(&resp.status) && resp.status != 101 {
            return; // interim: the request is still unanswered
        }
        let Some(index) = resp.request_index else {
            return;
        };
        let answer = Answer {
            ts: resp.ts,
            status: resp.status,
            bytes: resp.body_len,
        };
        self.drop_stale(fp);
        while let Some(&(i, seq)) = fp.waiting.front() {
            if i > index {
                break;
            }
            fp.waiting.pop_front();
            let Some(slot) = self.slot_mut(seq) else {
                continue;
            };
            if !slot.live {
                continue;
            }
            let mut records = std::mem::take(&mut slot.records);
            slot.live = false;
            let req_ts = slot.req_ts;
            let bytes = std::mem::take(&mut slot.bytes);
            self.held = self.held.saturating_sub(records.len());
            self.held_bytes = self.held_bytes.saturating_sub(bytes);
            if i == index {
                self.stats.paired += 1;
                self.apply(&mut records, req_ts, answer);
            } else {
                self.stats.released_unanswered += 1;
            }
            out.append(&mut records);
            self.recycle(records);
            if i == index {
                break;
            }
        }
        if index >= fp.next_request {
            fp.early = Some((index, answer));
        }
        self.pop_dead();
    }

    /// The flow ended: every record it holds goes out, unpaired. Call after
    /// the HTTP events of the end were handled.
    pub fn end_flow(&mut self, flow: &FlowInfo, fp: &mut FlowPairing, out: &mut Vec<Record>) {
        if !fp.hint_checked && !self.hints.is_empty() {
            self.hints.remove(&flow.key);
        }
        while let Some((_, seq)) = fp.waiting.pop_front() {
            if self.release_seq(seq, out) {
                self.stats.released_flow_end += 1;
            }
        }
        fp.early = None;
        self.pop_dead();
    }

    /// Release every record whose deadline is at or before `now`.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<Record>) {
        while let Some(front) = self.slots.front() {
            if front.live && front.deadline > now {
                break;
            }
            let live = front.live;
            self.release_front(out);
            if live {
                self.stats.released_timeout += 1;
            }
        }
    }

    /// Release everything (end of the run, after every flow ended).
    pub fn release_all(&mut self, out: &mut Vec<Record>) {
        while !self.slots.is_empty() {
            let live = self.slots.front().is_some_and(|s| s.live);
            self.release_front(out);
            if live {
                self.stats.released_flow_end += 1;
            }
        }
    }

    /// Fill the response fields of a request's records.
    fn apply(&self, records: &mut [Record], req_ts: Timestamp, a: Answer) {
        let ms = a.ts.0.saturating_sub(req_ts.0) / 1_000_000;
        let blocked = self.opts.blocked_statuses.contains(&a.status);
        for r in records {
            r.response_status = a.status;
            r.response_bytes = a.bytes;
            r.response_time_ms = u32::try_from(ms).unwrap_or(u32::MAX);
            r.blocked = blocked;
        }
    }

    fn slot_mut(&mut self, seq: u64) -> Option<&mut Slot> {
        let i = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.slots.get_mut(i)
    }

    /// Release one slot by sequence number; false when already released.
    fn release_seq(&mut self, seq: u64, out: &mut Vec<Record>) -> bool {
        let Some(slot) = self.slot_mut(seq) else {
            return false;
        };
        if !slot.live {
            return false;
        }
        slot.live = false;
        let mut records = std::mem::take(&mut slot.records);
        let bytes = std::mem::take(&mut slot.bytes);
        self.held = self.held.saturating_sub(records.len());
        self.held_bytes = self.held_bytes.saturating_sub(bytes);
        out.append(&mut records);
        self.recycle(records);
        true
    }

    /// Pop the front slot, releasing its records if live; false when empty.
    fn release_front(&mut self, out: &mut Vec<Record>) -> bool {
        let Some(mut slot) = self.slots.pop_front() else {
            return false;
        };
        self.base += 1;
        if slot.live {
            self.held = self.held.saturating_sub(slot.records.len());
            self.held_bytes = self.held_bytes.saturating_sub(slot.bytes);
            out.append(&mut slot.records);
        }
        self.recycle(slot.records);
        true
    }

    /// Drop released slots from the front.
    fn pop_dead(&mut self) {
        while self.slots.front().is_some_and(|s| !s.live) {
            if let Some(slot) = self.slots.pop_front() {
                self.base += 1;
                self.recycle(slot.records);
            }
        }
    }

    /// Forget a flow's entries whose slots were released by timeout or cap.
    fn drop_stale(&self, fp: &mut FlowPairing) {
        while fp.waiting.front().is_some_and(|(_, seq)| *seq < self.base) {
            fp.waiting.pop_front();
        }
    }

    fn recycle(&mut self, v: Vec<Record>) {
        if v.capacity() > 0 && self.spare.len() < SPARE_VECS {
            debug_assert!(v.is_empty());
            self.spare.push(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpFlags;
    use std::net::{IpAddr, Ipv4Addr};

    fn synack(client_port: u16, flags: u8) -> TcpSegment<'static> {
        TcpSegment {
            timestamp: None,
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            src_port: 80,
            dst_port: client_port,
            seq: 1,
            ack: 1,
            flags: TcpFlags(flags),
            window: 0,
            urgent: 0,
            payload: b"",
            tunnel: 0,
        }
    }

    fn pairing(max_hints: usize) -> Pairing {
        Pairing::new(PairingOptions {
            max_hints,
            ..PairingOptions::default()
        })
    }

    #[test]
    fn syn_acks_with_rst_leave_no_hint() {
        let mut p = pairing(4);
        for port in 1..=4 {
            p.note_segment(
                Timestamp(1),
                &synack(port, TcpFlags::SYN | TcpFlags::ACK | TcpFlags::RST),
            );
        }
        assert!(p.hints.is_empty());
        p.note_segment(Timestamp(1), &synack(5, TcpFlags::SYN | TcpFlags::ACK));
        assert_eq!(p.hints.len(), 1);
    }

    #[test]
    fn a_syn_ack_flood_at_the_cap_sweeps_the_hints_once_per_age_window() {
        let mut p = pairing(100);
        let sa = TcpFlags::SYN | TcpFlags::ACK;
        for port in 0..100 {
            p.note_segment(Timestamp(1), &synack(port, sa));
        }
        // 10,000 new flows at the cap within one eighth of the age limit:
        // one sweep (nothing is old), every one of them counted as dropped.
        for port in 100..10_100 {
            p.note_segment(Timestamp(2), &synack(port, sa));
        }
        assert_eq!(p.hint_sweeps, 1);
        assert_eq!(p.stats.hints_dropped, 10_000);
        assert_eq!(p.hints.len(), 100);
        // Past the age limit the next sweep frees the old hints.
        let later = Timestamp(2 + p.opts.hint_max_age_ns + 1);
        p.note_segment(later, &synack(20_000, sa));
        assert_eq!(p.hint_sweeps, 2);
        assert_eq!(p.hints.len(), 1);
    }

    /// One request that is never answered, then many answered ones on
    /// other flows, on a clock that stands still: the released slots queued
    /// behind the unanswered one stay bounded (twice the record cap), and
    /// the unanswered one goes out unpaired to make room.
    #[test]
    fn answered_requests_behind_an_unanswered_one_do_not_pile_up() {
        use crate::sink::clickhouse::row::tests::record;
        let mut p = Pairing::new(PairingOptions {
            max_held_records: 4,
            ..PairingOptions::default()
        });
        let mut out = Vec::new();
        let mut silent = FlowPairing::default();
        p.hold(
            &mut silent,
            0,
            Timestamp(1),
            Timestamp(1),
            vec![record(0, true)],
            &mut out,
        );
        let mut most = 0;
        for i in 1..1000u32 {
            let mut fp = FlowPairing::default();
            p.hold(
                &mut fp,
                0,
                Timestamp(1),
                Timestamp(1),
                vec![record(i, true)],
                &mut out,
            );
            let answer = Response {
                ts: Timestamp(1),
                status: 200,
                body_len: 0,
                request_index: Some(0),
            };
            p.on_response(&mut fp, &answer, &mut out);
            most = most.max(p.slots.len());
        }
        assert!(most <= 9, "{most} slots queued");
        assert_eq!(out.len(), 1000, "every record out once");
        assert_eq!(p.stats.released_over_cap, 1, "{:?}", p.stats);
        assert_eq!(p.stats.paired, 999);
    }
}
