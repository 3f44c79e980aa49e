//! The flow table: flows by symmetric key, least-recently-seen order, caps.
//!
//! Entries live in a slab (fixed-size chunks of slots with a free list, see
//! [`Slab`]) and are threaded on one of three intrusive doubly linked lists
//! ordered by last-seen capture time: open flows, flows held after an RST,
//! and lingering closed flows. Touching a flow moves it to the tail; expiry
//! pops from the head until the head is recent enough and eviction takes the
//! head, so both are O(1) per flow affected and never scan the table. The
//! table clock only moves forward (the largest capture time seen), which
//! keeps the lists sorted even when capture timestamps jump backwards.

use std::collections::VecDeque;

use ahash::AHashMap;

use super::assembler::{Acct, Assembler, Deliver, MAX_CHUNKS_PER_DIRECTION};
use super::seq::seq_diff;
use super::{
    Direction, EndReason, Endpoint, FlowInfo, FlowKey, ReassemblyConfig, ReassemblyStats, Reread,
    Stamp, StreamHandler,
};
use crate::capture::Timestamp;
use crate::decode::{TcpFlags, TcpSegment};

/// End of a list / no slot.
const NIL: u32 = u32::MAX;

/// Whether an RST at distance `rel` from its sender's next expected byte
/// ends the flow. Receivers that follow RFC 5961 §3 (Linux, the BSDs, macOS,
/// current Windows) reset only on an exact match and answer any other
/// in-window RST with a challenge ACK; believing such an RST would let a
/// sender end our view of a connection that goes on, and the rest of a
/// request sent after it would be lost to inspection. One more byte is
/// allowed after a FIN the receiver reached, which takes a sequence number
/// of its own (not after one still out of order ahead). A sender
/// we never saw data from is believed (a refused connection's RST).
fn rst_believed(started: bool, rel: i64, fin_reached: bool) -> bool {
    !started || rel == 0 || (fin_reached && rel == 1)
}

/// Whether `seg` was sent by `end`.
fn from(seg: &TcpSegment<'_>, end: Endpoint) -> bool {
    seg.src == end.ip && seg.src_port == end.port
}

/// A tracked connection.
struct Flow<S> {
    info: FlowInfo,
    state: S,
    to_server: Assembler,
    to_client: Assembler,
    /// Copies of what each provisional side sent (see [`Stash`]).
    stash: Option<Box<Stashes>>,
}

/// Whether the server's PAWS check (RFC 7323 §5) drops a client segment
/// with `tsval`: Linux's `tcp_paws_check` lets through a TSval at most
/// `TCP_PAWS_WINDOW` (1) behind `ts_recent`, which is at least the newest
/// TSecr it sent (`floor`, 0 when unknown).
fn paws_rejects(floor: u32, tsval: u32, window: i32) -> bool {
    // Timestamps compare modulo 2^32 as sequence numbers do (RFC 7323 §5.2).
    floor != 0 && seq_diff(floor, tsval) > window
}

/// A side whose start was fixed by its own first data (a midstream pickup:
/// the sensor started late, or an attacker waited out an RST hold) is
/// provisional: that first data may be forged, with a made-up sequence
/// number and a TTL too low to reach the receiver, so that the real bytes
/// read as old (or, forged just before the real ones, so that they read as
/// a continuation). Until the peer's ACK decides, every data segment of the
/// side is also copied here, in arrival order, besides being read as
/// usual. The peer's ACK ends a run of the copied bytes (touching or
/// overlapping segments): when that run starts where the side started, the
/// start is confirmed and the copies freed; when it starts elsewhere, the
/// side starts again there, in place, and reads the copies again in arrival
/// order (so overlaps read as they would have; see
/// [`FlowTable::restart_from_stash`]). An ACK that ends no run (bytes sent
/// before the capture started, or lost to it) decides nothing. Bounded like
/// one direction's out-of-order buffer and charged to the table's memcap.
/// Past it (`midstream_stash_full`: forged segments can fill it) the copies
/// are dropped but the side stays provisional: the peer's next ACKs decide
/// on their numbers alone (see `feed_flow`; what came before is lost, but
/// not the rest of the connection).
///
/// A side confirmed while its peer is still provisional keeps its copies
/// (`kept`, and goes on copying) until the peer is decided: should the peer
/// restart, its consumer may ask for this side to be read again too
/// ([`Reread::Both`]: the disowned bytes decided which side is the client).
#[derive(Debug, Default)]
struct Stash {
    /// Copied segments, in arrival order (the oldest go first when the
    /// watched copies are over their bound: a deque, so that dropping one
    /// per segment does not shift the rest).
    segments: VecDeque<Copy>,
    /// Payload bytes held.
    bytes: usize,
    /// The copies reached a cap and were dropped (see above).
    full: bool,
    /// The last ACK that decided nothing (not looked at again until a copy
    /// is added or lost).
    undecided: Option<u32>,
    /// Where the side's segments read as old (below its start) begin. With
    /// the copies full, an ACK below the start moves the side only past
    /// that: the in-flight ACKs of a bulk upload picked up midstream
    /// acknowledge bytes sent before the pickup, none of which were seen
    /// (review round 10).
    old_from: Option<u32>,
    /// The side is confirmed; the copies are kept for its peer's decision.
    kept: bool,
    /// The side is confirmed and started midstream; the copies hold its
    /// bytes read as out of its range (below its start, or far past what it
    /// read), kept until the flow ends: the ACKs that confirmed it may have
    /// been forged (a forged ACK of forged first data makes the real stream
    /// read as old), and a later ACK of the peer that ends a run of them
    /// starts the side again there (review round 10). Only the newest
    /// `KEPT_FOR_SILENT_PEER_BYTES`.
    watched: bool,
    /// Watched copies were pushed out or not made (over a cap): an ACK of
    /// the peer out of the side's range that ends no run moves the side to
    /// it.
    evicted: bool,
}

/// What a copy costs besides its payload: its entry in the stash's vector,
/// which may hold twice as many as it uses (it grows by doubling), and the
/// allocator's rounding of the payload's box. Review round 10 found copies
/// charged 64 bytes each while a one-byte copy took about three times that.
pub(crate) const COPY_OVERHEAD_BYTES: usize = 2 * std::mem::size_of::<Copy>() + 16;

/// One copied segment.
#[derive(Debug)]
struct Copy {
    /// Arrival order among both sides' copies (`Stashes::arrivals`).
    order: u32,
    seq: u32,
    ts: Timestamp,
    fin: bool,
    /// The segment's urgent pointer, if URG was set: read again, it must
    /// take its byte out again (it sits in the padding after `fin`).
    urgent: Option<u16>,
    data: Box<[u8]>,
}

/// The copies of each side.
#[derive(Debug, Default)]
struct Stashes {
    to_server: Stash,
    to_client: Stash,
    /// Copies made so far, both sides: the next copy's `order`.
    arrivals: u32,
}

impl Stashes {
    /// The copies of the side sending in `dir`.
    fn of(&mut self, dir: Direction) -> &mut Stash {
        match dir {
            Direction::ToServer => &mut self.to_server,
            Direction::ToClient => &mut self.to_client,
        }
    }

    fn charged(&self) -> usize {
        self.to_server.charged() + self.to_client.charged()
    }

    /// Either side holds watched copies (see [`Stash::watched`]).
    fn watched(&self) -> bool {
        (self.to_server.watched && (!self.to_server.segments.is_empty() || self.to_server.evicted))
            || (self.to_client.watched
                && (!self.to_client.segments.is_empty() || self.to_client.evicted))
    }

    /// The copies of the side sending in `dir`, to look at.
    fn get(&self, dir: Direction) -> &Stash {
        match dir {
            Direction::ToServer => &self.to_server,
            Direction::ToClient => &self.to_client,
        }
    }
}

impl Stash {
    /// What the stash adds to the table's memcap.
    fn charged(&self) -> usize {
        self.bytes + self.segments.len() * COPY_OVERHEAD_BYTES
    }

    /// Drop the oldest copies while `over(bytes, count)` says what is left
    /// is too much (watched copies keep the newest); returns what they were
    /// charged.
    fn drop_oldest(&mut self, mut over: impl FnMut(usize, usize) -> bool) -> usize {
        let before = self.charged();
        let mut dropped = 0;
        for c in &self.segments {
            if !over(self.bytes, self.segments.len() - dropped) {
                break;
            }
            self.bytes -= c.data.len();
            dropped += 1;
        }
        self.segments.drain(..dropped);
        before - self.charged()
    }

    /// Drop the copies (a cap was reached); returns what they were charged.
    fn overflow(&mut self) -> usize {
        let charged = self.charged();
        self.segments = VecDeque::new();
        self.bytes = 0;
        self.full = true;
        charged
    }

    /// Where the run of copied bytes (touching or overlapping segments)
    /// the peer's acknowledgment `ack` ends starts: the run that holds the
    /// byte before `ack`. `None` when none does: the peer took bytes not
    /// (yet) captured, and a run ending below them proves nothing (forged
    /// bytes below a hole would look like the real stream's first part).
    fn run_start(&self, ack: u32) -> Option<u32> {
        // Offsets relative to `ack`: every sequence number is within 2^31.
        let mut spans: Vec<(i64, i64)> = self
            .segments
            .iter()
            .map(|c| {
                // A FIN takes one sequence number after the data.
                let start = i64::from(seq_diff(c.seq, ack));
                (start, start + c.data.len() as i64 + i64::from(c.fin))
            })
            .collect();
        spans.sort_unstable();
        let mut runs: Vec<(i64, i64)> = Vec::new();
        for (start, end) in spans {
            match runs.last_mut() {
                Some((_, e)) if start <= *e => *e = (*e).max(end),
                _ => runs.push((start, end)),
            }
        }
        let (s, _) = runs.iter().find(|&&(s, e)| s <= -1 && -1 < e)?;
        Some(ack.wrapping_add(*s as u32))
    }
}

/// Copies a confirmed side keeps while its peer has not started (see
/// [`Stash`]).
const KEPT_FOR_SILENT_PEER_BYTES: usize = 64 << 10;

/// What all copies together may take of the memcap (`FlowTable::stashed`):
/// a quarter.
fn copies_budget(config: &ReassemblyConfig) -> usize {
    config.memcap_bytes / 4
}

/// Copies charged `charged` bytes are gone: off the table's total and off
/// the copies' share of it (the two move together).
fn uncharge_copies(buffered: &mut usize, stashed: &mut usize, charged: usize) {
    *buffered = buffered.saturating_sub(charged);
    *stashed = stashed.saturating_sub(charged);
}

/// Whether a segment at `seq` with `len` bytes lies out of a started side's
/// range: wholly below its start, or past what it read by more than one
/// direction's buffer (see [`Stash::watched`]).
fn outside(side: &Assembler, seq: u32, len: usize, config: &ReassemblyConfig) -> bool {
    // Stream offsets, not distances from the start (which wrap past 2 GiB:
    // review round 11).
    let at = side.offset_of(seq);
    let horizon = i128::from(side.next_offset()) + config.max_buffered_bytes_per_flow as i128;
    at + len as i128 <= 0 || at > horizon
}

/// Whether a held flow's segment from `side` may be the real stream even
/// when it reads as old or far off: data of a provisional side (behind
/// forged first data), or a watched side's data out of its range (forged
/// first data confirmed by a forged ACK). It resumes an RST or FIN hold
/// (review rounds 11–13).
fn maybe_real_stream(side: &Assembler, seg: &TcpSegment<'_>, config: &ReassemblyConfig) -> bool {
    !seg.payload.is_empty()
        && (side.provisional || side.midstream && outside(side, seg.seq, seg.payload.len(), config))
}

/// The copies of a side whose start is settled go, except, for a side
/// started midstream, those out of its range: they stay watched (see
/// [`Stash::watched`]; the newest, within the caps). Copies made before a
/// forged ACK confirmed forged first data hold the real request, read as
/// old (review round 12).
fn keep_watched(
    copies: &mut Stash,
    side: &Assembler,
    config: &ReassemblyConfig,
    total: &mut usize,
    stashed: &mut usize,
) {
    let mut taken = std::mem::take(copies);
    uncharge_copies(total, stashed, taken.charged());
    if !side.midstream || taken.full {
        return;
    }
    taken
        .segments
        .retain(|c| !c.data.is_empty() && outside(side, c.seq, c.data.len(), config));
    let cap = config
        .max_buffered_bytes_per_flow
        .min(KEPT_FOR_SILENT_PEER_BYTES);
    taken.bytes = taken.segments.iter().map(|c| c.data.len()).sum();
    taken.drop_oldest(|bytes, _| bytes > cap);
    if taken.segments.is_empty() {
        return;
    }
    taken.segments.shrink_to_fit();
    let cost = taken.charged();
    if *total + cost <= config.memcap_bytes && *stashed + cost <= copies_budget(config) {
        taken.watched = true;
        taken.kept = false;
        taken.undecided = None;
        taken.old_from = None;
        *total += cost;
        *stashed += cost;
        *copies = taken;
    }
}

/// A side whose start is settled: fixed by a SYN, or confirmed (or moved)
/// by the peer's ACK. Not yet: unstarted, or provisional (see [`Stash`]).
fn decided(side: &Assembler) -> bool {
    side.started() && !side.provisional
}

/// A provisional side the peer's ACK disowned: where it really starts, and
/// its copies to read again.
struct Correction {
    dir: Direction,
    start: u32,
    stash: Stash,
}

impl<S> Flow<S> {
    /// What the flow adds to the table's memcap.
    fn charged(&self) -> usize {
        self.to_server.charged()
            + self.to_client.charged()
            + self.stash.as_ref().map_or(0, |s| s.charged())
    }

    /// Reset by a believed RST, state kept for `rst_hold_ns` on the
    /// `resetting` list: an RST that never reached the receiver (a TTL too
    /// low, a bad checksum its stack drops) must not end our view while the
    /// connection goes on. New data in that time resumes the flow where it
    /// was (`rst_resumed`); otherwise it ends with `Rst` and lingers. The
    /// mark is kept in the assembler of the direction that sent the RST
    /// (where it fits in padding), not in a variant of [`Body`], which would
    /// grow every slot by 8 bytes.
    fn reset(&self) -> bool {
        self.to_server.rst_held || self.to_client.rst_held
    }

    /// Mark the flow held after an RST from the client (or the server).
    fn hold(&mut self, from_client: bool) {
        if from_client {
            self.to_server.rst_held = true;
        } else {
            self.to_client.rst_held = true;
        }
    }

    fn resume(&mut self) {
        self.to_server.rst_held = false;
        self.to_client.rst_held = false;
    }

    /// Both directions finished, state kept for `closed_linger_ns` on the
    /// `closing` list: a FIN with a TTL too low never reaches the receiver,
    /// and two forged FINs (one each way: the server's goes towards the
    /// attacker itself) would otherwise end our view of a connection the
    /// server keeps open. Data past a side's FIN in that time disproves it
    /// and resumes the flow (`fin_resumed`); otherwise it ends with `Fin`
    /// and lingers. The mark is kept in the client's assembler (padding).
    fn closing(&self) -> bool {
        self.to_server.fin_held
    }
}

// Entries are stored inline in the slab: a box per flow would cost an
// allocation and a pointer chase on the hot path to save space only on
// lingering and vacant slots.
#[allow(clippy::large_enum_variant)]
enum Body<S> {
    /// Open, or held after an RST (see [`Flow::reset`]).
    Open(Flow<S>),
    /// Ended with FIN/RST; kept only to absorb late segments.
    Lingering {
        /// Ended by an RST (see `process`: data after it starts a new flow).
        by_rst: bool,
        /// The flow's server: after an RST only its SYN-ACK starts a new
        /// connection on the 4-tuple (see [`FlowTable::on_reset_segment`]).
        server: Endpoint,
    },
}

impl<S> Body<S> {
    /// The list an entry with this body is threaded on.
    fn list(&self) -> Which {
        match self {
            Body::Open(flow) => Self::list_of(flow),
            Body::Lingering { .. } => Which::Lingering,
        }
    }

    /// The list an open flow is threaded on.
    fn list_of(flow: &Flow<S>) -> Which {
        if flow.reset() {
            Which::Resetting
        } else if flow.closing() {
            Which::Closing
        } else {
            Which::Open
        }
    }
}

/// What a segment of a flow held after an RST does to it.
enum Held {
    /// New data or a FIN from the RST's sender: the RST did not end the
    /// connection.
    Resume,
    /// From the other side: fed as usual, the hold goes on.
    Peer,
    /// A retransmission or an ACK of the RST's sender: nothing to do.
    Stale,
}

struct Node<S> {
    key: FlowKey,
    prev: u32,
    next: u32,
    last_seen: Timestamp,
    body: Body<S>,
}

/// Slots per [`Slab`] chunk.
const SLAB_CHUNK: usize = 1024;

/// The entries, in chunks of [`SLAB_CHUNK`] slots that never move. A `Vec`
/// grown by doubling held its old and new arrays at once while it copied
/// them: under a flood that fills the table, the last growth peaked at 1.5
/// times the entries `flow_memcap_bytes` was computed for (and the
/// allocator kept part of the freed array). Chunks grow without copying and
/// the last one is sized to what the capacity still allows.
struct Slab<T> {
    /// Every chunk but the last holds exactly `SLAB_CHUNK` slots.
    chunks: Vec<Vec<T>>,
}

impl<T> Slab<T> {
    fn new() -> Self {
        Slab { chunks: Vec::new() }
    }

    fn len(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |last| (self.chunks.len() - 1) * SLAB_CHUNK + last.len())
    }

    fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / SLAB_CHUNK)?.get(i % SLAB_CHUNK)
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.chunks.get_mut(i / SLAB_CHUNK)?.get_mut(i % SLAB_CHUNK)
    }

    /// Append a slot at index `len()`. `limit`: the most slots the table
    /// will hold, so that a new chunk is no larger than still needed.
    fn push(&mut self, v: T, limit: usize) {
        let len = self.len();
        let ci = len / SLAB_CHUNK;
        if ci == self.chunks.len() {
            let room = limit.saturating_sub(len).clamp(1, SLAB_CHUNK);
            self.chunks.push(Vec::with_capacity(room));
        }
        if let Some(chunk) = self.chunks.get_mut(ci) {
            chunk.push(v);
        }
    }
}

#[allow(clippy::large_enum_variant)]
enum Slot<S> {
    Vacant { next_free: u32 },
    Occupied(Node<S>),
}

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
    len: usize,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
    };
}

/// Which list a node is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Open,
    Resetting,
    Closing,
    Lingering,
}

/// Hands one direction's output to the user's handler.
struct Out<'a, S, H> {
    info: &'a FlowInfo,
    state: &'a mut S,
    handler: &'a mut H,
    dir: Direction,
}

impl<S, H: StreamHandler<S>> Deliver for Out<'_, S, H> {
    fn data(&mut self, at: Stamp, data: &[u8]) {
        if !data.is_empty() {
            self.handler
                .on_data(self.info, self.state, self.dir, at, data);
        }
    }
    fn gap(&mut self, len: u64) {
        self.handler.on_gap(self.info, self.state, self.dir, len);
    }
}

/// The flow table. See the module docs of [`reassembly`](super).
pub struct FlowTable<S> {
    config: ReassemblyConfig,
    stats: ReassemblyStats,
    map: AHashMap<FlowKey, u32>,
    slab: Slab<Slot<S>>,
    free: u32,
    open: List,
    /// Flows held after an RST (see [`Flow::reset`]), oldest first.
    resetting: List,
    /// Flows whose two directions finished (see [`Flow::closing`]), oldest
    /// first.
    closing: List,
    lingering: List,
    /// Out-of-order bytes held by every assembler.
    buffered: usize,
    /// What midstream copies take of `buffered` (see [`Stash`]): at most
    /// a quarter of the memcap, so that copies, which a one-sided capture
    /// never sees decided, cannot starve ordinary reordering.
    stashed: usize,
    /// Largest capture time seen.
    now: Timestamp,
    next_id: u64,
    /// Most entries: `max_flows`, lowered to what `flow_memcap_bytes` holds.
    capacity: usize,
}

/// Bytes of table memory that `n` entries can take: the slab (at most `n`
/// slots, see [`Slab::push`]), a copies' box per entry, and the index (a hashbrown table of
/// `next_power_of_two(n * 8 / 7)` buckets, each an entry plus a control byte).
fn table_bytes<S>(n: usize) -> usize {
    let buckets = (n.saturating_mul(8) / 7).max(1).next_power_of_two();
    n.saturating_mul(std::mem::size_of::<Slot<S>>() + STASHES_BOX_BYTES)
        .saturating_add(buckets.saturating_mul(std::mem::size_of::<(FlowKey, u32)>() + 1))
}

/// What the box of a flow's copies takes (see [`Stashes`]), besides the
/// copies (charged to `memcap_bytes`): any flow may hold one (a flow picked
/// up midstream does until both sides are decided), so a flood of such
/// flows is bounded by `flow_memcap_bytes` like the slots themselves
/// (review round 10 found the box charged nowhere).
const STASHES_BOX_BYTES: usize = std::mem::size_of::<Stashes>() + 16;

/// The largest entry count whose table fits in `memcap`, at most
/// `max_flows` (at least 1 unless `max_flows` is 0).
fn capacity_for<S>(max_flows: usize, memcap: usize) -> usize {
    if max_flows == 0 {
        return 0;
    }
    let (mut lo, mut hi) = (1usize, max_flows.min(NIL as usize - 1));
    if table_bytes::<S>(hi) <= memcap {
        return hi;
    }
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if table_bytes::<S>(mid) <= memcap {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

impl<S: Default> FlowTable<S> {
    pub fn new(config: ReassemblyConfig) -> Self {
        FlowTable {
            capacity: capacity_for::<S>(config.max_flows, config.flow_memcap_bytes),
            config,
            stats: ReassemblyStats::default(),
            map: AHashMap::with_hasher(crate::table_hasher()),
            slab: Slab::new(),
            free: NIL,
            open: List::EMPTY,
            resetting: List::EMPTY,
            closing: List::EMPTY,
            lingering: List::EMPTY,
            buffered: 0,
            stashed: 0,
            now: Timestamp(0),
            next_id: 1,
        }
    }

    /// Feed one segment captured at `ts`. When `ts` is later than any time
    /// seen so far, idle and lingering flows are expired first.
    pub fn process<H: StreamHandler<S>>(
        &mut self,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        handler: &mut H,
    ) {
        self.stats.segments += 1;
        if ts > self.now {
            self.now = ts;
            self.expire(handler);
        }
        let flags = seg.flags;
        if !flags.ack() && !flags.syn() && !flags.rst() {
            // Every receiver discards it, data, FIN and urgent pointer
            // (Linux: `tcp_rcv_established`, `tcp_rcv_state_process`,
            // `tcp_check_req`; RFC 9293 §3.10.7.4): read, a benign copy
            // without ACK took the place of the attack sent after it at
            // the same numbers (review round 19).
            self.stats.ignored_segments += 1;
            return;
        }
        let key = FlowKey::of_segment(seg);
        match self.map.get(&key).copied() {
            Some(idx) => {
                let (which, lingering) = match self.node(idx).map(|n| &n.body) {
                    Some(body @ Body::Lingering { by_rst, server }) => {
                        (body.list(), Some((*by_rst, *server)))
                    }
                    Some(body) => (body.list(), None),
                    None => (Which::Open, None),
                };
                match lingering {
                    None if which == Which::Resetting => {
                        self.on_reset_segment(idx, key, ts, seg, handler)
                    }
                    None if which == Which::Closing => {
                        self.on_closing_segment(idx, key, ts, seg, handler)
                    }
                    None => self.on_flow_segment(idx, ts, seg, handler),
                    Some((false, _)) if flags.syn() && !flags.ack() && !flags.rst() => {
                        // Port reuse: a new connection on a closed 4-tuple.
                        self.remove(idx);
                        self.create(key, ts, seg, handler);
                    }
                    Some((true, server)) if flags.syn() && !flags.rst() => {
                        // After an RST, only the server's SYN-ACK is a new
                        // connection (see `on_reset_segment`); a SYN alone
                        // may be forged, and the data that follows it is
                        // picked up midstream below.
                        if flags.ack() && from(seg, server) {
                            self.remove(idx);
                            self.create(key, ts, seg, handler);
                        } else {
                            self.stats.ignored_segments += 1;
                        }
                    }
                    Some((true, _)) if !flags.rst() && (!seg.payload.is_empty() || flags.urg()) => {
                        // Data after an RST: an RST the receiver dropped (bad
                        // checksum, out of window for its stack) is a classic
                        // way to blind a sensor. Pick the data up as a new
                        // midstream flow rather than lose it.
                        self.stats.data_after_rst += 1;
                        self.remove(idx);
                        self.create(key, ts, seg, handler);
                    }
                    Some(_) => self.stats.ignored_segments += 1,
                }
            }
            None => {
                // An urgent pointer too: the data after it is read without
                // its byte (see `Assembler::start_midstream`).
                if !flags.rst() && (flags.syn() || !seg.payload.is_empty() || flags.urg()) {
                    self.create(key, ts, seg, handler);
                } else {
                    // Pure ACKs, FINs and RSTs of flows we do not know.
                    self.stats.ignored_segments += 1;
                }
            }
        }
        if !seg.payload.is_empty() {
            self.relieve(handler);
        }
    }

    /// Most flows held at once (see [`ReassemblyConfig::flow_memcap_bytes`]).
    pub fn flow_capacity(&self) -> usize {
        self.capacity
    }

    /// A segment of a flow held after an RST (see [`Flow::reset`]).
    fn on_reset_segment<H: StreamHandler<S>>(
        &mut self,
        idx: u32,
        key: FlowKey,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        handler: &mut H,
    ) {
        let flags = seg.flags;
        if flags.syn() && !flags.rst() {
            self.syn_on_held_flow(idx, key, ts, seg, EndReason::Rst, handler);
            return;
        }
        match self.held_segment(idx, seg) {
            Held::Resume if !flags.rst() => {}
            Held::Peer if !flags.rst() => {
                // The other side goes on (a response in flight, ACKs): its
                // data is inspected and paired, without reviving the flow.
                if let Some(fix) = self.feed_flow(idx, ts, seg, handler) {
                    self.restart_from_stash(idx, ts, seg, fix, handler);
                }
                return;
            }
            _ => {
                // Late retransmissions and ACKs of a connection that was
                // reset do not revive it: it would wait for the idle timeout.
                self.stats.ignored_segments += 1;
                return;
            }
        }
        self.stats.rst_resumed += 1;
        if let Some(Slot::Occupied(Node {
            body: Body::Open(flow),
            ..
        })) = self.slab.get_mut(idx as usize)
        {
            flow.resume();
        }
        self.unlink(Which::Resetting, idx);
        self.link_tail(Which::Open, idx);
        self.on_flow_segment(idx, ts, seg, handler);
    }

    /// A SYN on a flow held after an RST or both FINs. A new connection on
    /// the 4-tuple ends the hold, but only once the server accepts it: a
    /// SYN alone can be forged like the RST or the FINs (a TTL too low, a
    /// made-up ISN), and a new flow started from it would take the rest of
    /// the old connection for retransmissions. The server's SYN-ACK ends
    /// the held flow with `reason` and starts the new one.
    fn syn_on_held_flow<H: StreamHandler<S>>(
        &mut self,
        idx: u32,
        key: FlowKey,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        reason: EndReason,
        handler: &mut H,
    ) {
        let server = self.node(idx).and_then(|n| match &n.body {
            Body::Open(flow) => Some(flow.info.server),
            Body::Lingering { .. } => None,
        });
        if seg.flags.ack() && server.is_some_and(|s| from(seg, s)) {
            self.end_flow(idx, reason, false, handler);
            self.create(key, ts, seg, handler);
        } else {
            self.stats.ignored_segments += 1;
        }
    }

    /// Whether `seg` comes from the side that sent the RST with a FIN or
    /// bytes past what its direction has delivered so far (it resumes the
    /// flow), or from the other side. The other side's data does not resume
    /// it: a server goes on sending what was in flight when a client really
    /// reset, and that would keep the flow open until the idle timeout.
    fn held_segment(&self, idx: u32, seg: &TcpSegment<'_>) -> Held {
        let Some(Node {
            body: Body::Open(flow),
            ..
        }) = self.node(idx)
        else {
            return Held::Stale;
        };
        let me = if from(seg, flow.info.client) {
            &flow.to_server
        } else {
            &flow.to_client
        };
        if !me.rst_held {
            return Held::Peer;
        }
        // Data that may be the real stream resumes the flow even when it
        // reads as old (its copies go to the peer's ACK, see `Stash`).
        // An urgent pointer too, on a pure ACK that is not old: the server
        // that never got the RST takes it and skips its byte in the data
        // that follows (review round 20).
        let resumes = if me.started() && !me.provisional {
            let end = me.rel(seg.seq) + seg.payload.len() as i64;
            (!seg.payload.is_empty() && end > 0)
                || (seg.flags.fin() && end >= 0 && !me.fin_seen())
                || (seg.flags.urg() && end >= 0)
                || maybe_real_stream(me, seg, &self.config)
        } else {
            // An RST from a side never seen sending is believed (see
            // `rst_believed`); any data of it is new.
            !seg.payload.is_empty() || seg.flags.fin() || seg.flags.urg()
        };
        if resumes {
            Held::Resume
        } else {
            Held::Stale
        }
    }

    /// Hold a flow after a believed RST (see [`Flow::reset`]).
    fn hold_reset(&mut self, idx: u32, from_client: bool) {
        match self.slab.get_mut(idx as usize) {
            Some(Slot::Occupied(Node {
                body: Body::Open(flow),
                ..
            })) if !flow.reset() => flow.hold(from_client),
            _ => return,
        }
        self.unlink(Which::Open, idx);
        self.link_tail(Which::Resetting, idx);
    }

    /// End least recently seen flows while the handler is over its memory
    /// budget, sparing the most recent one (the flow being fed). Flows held
    /// after an RST go first: they are most likely over.
    fn relieve<H: StreamHandler<S>>(&mut self, handler: &mut H) {
        while handler.over_memcap() && self.closing.head != NIL {
            self.end_flow(self.closing.head, EndReason::Fin, true, handler);
        }
        while handler.over_memcap() && self.resetting.head != NIL {
            self.end_flow(self.resetting.head, EndReason::Rst, true, handler);
        }
        while handler.over_memcap() && self.open.len > 1 && self.open.head != NIL {
            self.stats.flows_evicted_memcap += 1;
            self.end_flow(self.open.head, EndReason::Evicted, false, handler);
        }
    }

    /// Advance capture time: ends idle flows (and lingering closed ones).
    pub fn advance_time<H: StreamHandler<S>>(&mut self, now: Timestamp, handler: &mut H) {
        if now > self.now {
            self.now = now;
        }
        self.expire(handler);
    }

    /// End every flow (capture finished); buffered data is delivered first,
    /// holes reported as gaps. The table is empty afterwards.
    pub fn end_all<H: StreamHandler<S>>(&mut self, handler: &mut H) {
        while self.resetting.head != NIL {
            self.end_flow(self.resetting.head, EndReason::Rst, false, handler);
        }
        while self.closing.head != NIL {
            self.end_flow(self.closing.head, EndReason::Fin, false, handler);
        }
        while self.open.head != NIL {
            self.end_flow(self.open.head, EndReason::Shutdown, false, handler);
        }
        while self.lingering.head != NIL {
            self.remove(self.lingering.head);
        }
    }

    /// Flows whose state is kept: open ones and those held after an RST or
    /// after both FINs (lingering closed flows are not counted).
    pub fn len(&self) -> usize {
        self.open.len + self.resetting.len + self.closing.len
    }

    /// Flows held after an RST (see [`Flow::reset`]); counted in `len`.
    pub fn resetting(&self) -> usize {
        self.resetting.len
    }

    /// Flows held after both FINs (see [`Flow::closing`]); counted in `len`.
    pub fn closing(&self) -> usize {
        self.closing.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closed flows kept for `closed_linger_ns` to absorb late segments.
    pub fn lingering(&self) -> usize {
        self.lingering.len
    }

    /// Out-of-order bytes currently buffered across all flows, with each
    /// chunk's overhead (what `memcap_bytes` bounds).
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    pub fn stats(&self) -> &ReassemblyStats {
        &self.stats
    }

    /// Checks the table's invariants by walking all of it: each list is a
    /// sound doubly linked chain, of its length, of entries whose state
    /// belongs on it and which the index finds under their key; every
    /// occupied slot is on a list; the buffered total is what the open
    /// flows are charged, and the copies' share of it is what their copies
    /// are, within a quarter of the memcap. For tests and fuzz targets, not
    /// the hot path.
    #[doc(hidden)]
    pub fn check_consistency(&self) -> Result<(), String> {
        let mut on_lists = 0usize;
        for (which, list) in [
            (Which::Open, &self.open),
            (Which::Resetting, &self.resetting),
            (Which::Closing, &self.closing),
            (Which::Lingering, &self.lingering),
        ] {
            let (mut prev, mut at, mut n) = (NIL, list.head, 0usize);
            let mut seen = Timestamp(0);
            while at != NIL {
                if n > self.slab.len() {
                    return Err(format!("{which:?} list loops"));
                }
                let Some(Slot::Occupied(node)) = self.slab.get(at as usize) else {
                    return Err(format!("{which:?} list reaches vacant slot {at}"));
                };
                if node.prev != prev {
                    return Err(format!("{which:?} list: {at}'s prev is not {prev}"));
                }
                if node.body.list() != which {
                    return Err(format!(
                        "{which:?} list holds {at}, a {:?}",
                        node.body.list()
                    ));
                }
                if self.map.get(&node.key) != Some(&at) {
                    return Err(format!("{which:?} list holds {at}, not indexed by its key"));
                }
                // Idle expiry walks the open list from its head and stops
                // at the first flow seen recently enough.
                if which == Which::Open && node.last_seen < seen {
                    return Err(format!("open list out of last-seen order at {at}"));
                }
                seen = node.last_seen;
                (prev, at, n) = (at, node.next, n + 1);
            }
            if list.tail != prev || list.len != n {
                return Err(format!(
                    "{which:?} list: tail {} len {} but walked to {prev}, {n}",
                    list.tail, list.len
                ));
            }
            on_lists += n;
        }
        let mut occupied = 0usize;
        let mut charged = 0usize;
        let mut copies = 0usize;
        for i in 0..self.slab.len() {
            if let Some(Slot::Occupied(node)) = self.slab.get(i) {
                occupied += 1;
                if let Body::Open(flow) = &node.body {
                    charged += flow.charged();
                    copies += flow.stash.as_ref().map_or(0, |st| st.charged());
                }
            }
        }
        if occupied != on_lists || self.map.len() != occupied {
            return Err(format!(
                "{occupied} occupied slots, {on_lists} on lists, {} indexed",
                self.map.len()
            ));
        }
        if charged != self.buffered {
            return Err(format!(
                "buffered {} but flows charged {charged}",
                self.buffered
            ));
        }
        if copies != self.stashed || copies > copies_budget(&self.config) {
            return Err(format!(
                "stashed {} but flows' copies charged {copies} (budget {})",
                self.stashed,
                copies_budget(&self.config)
            ));
        }
        Ok(())
    }

    pub fn config(&self) -> &ReassemblyConfig {
        &self.config
    }

    /// The head of list `which` when it was last seen `age_ns` ago or more.
    fn expired_head(&mut self, which: Which, age_ns: u64) -> Option<u32> {
        let head = self.list(which).head;
        let node = self.node(head)?;
        (self.now.since(node.last_seen) >= age_ns).then_some(head)
    }

    fn expire<H: StreamHandler<S>>(&mut self, handler: &mut H) {
        while let Some(head) = self.expired_head(Which::Open, self.config.idle_timeout_ns) {
            let fin = matches!(self.node(head), Some(Node { body: Body::Open(f), .. })
                if f.to_server.fin_seen() || f.to_client.fin_seen());
            // One FIN then silence is a close whose last packets we missed.
            let reason = if fin {
                EndReason::Fin
            } else {
                EndReason::IdleTimeout
            };
            self.stats.flows_timed_out += 1;
            self.end_flow(head, reason, false, handler);
        }
        while let Some(head) = self.expired_head(Which::Resetting, self.config.rst_hold_ns) {
            self.end_flow(head, EndReason::Rst, true, handler);
        }
        let linger = self.config.closed_linger_ns;
        while let Some(head) = self.expired_head(Which::Closing, linger) {
            self.end_flow(head, EndReason::Fin, true, handler);
        }
        while let Some(head) = self.expired_head(Which::Lingering, linger) {
            self.remove(head);
        }
    }

    fn node(&self, idx: u32) -> Option<&Node<S>> {
        match self.slab.get(idx as usize) {
            Some(Slot::Occupied(n)) => Some(n),
            _ => None,
        }
    }

    /// Start a flow with the segment that creates it.
    fn create<H: StreamHandler<S>>(
        &mut self,
        key: FlowKey,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        handler: &mut H,
    ) {
        if !self.make_room(handler) {
            self.stats.ignored_segments += 1;
            return;
        }
        let src = Endpoint {
            ip: seg.src,
            port: seg.src_port,
        };
        let dst = Endpoint {
            ip: seg.dst,
            port: seg.dst_port,
        };
        let (syn, ack) = (seg.flags.syn(), seg.flags.ack());
        let (client, server) = if syn && !ack {
            (src, dst)
        } else if syn {
            (dst, src)
        } else if seg.src_port < seg.dst_port {
            // Midstream: services listen on the lower port ...
            (dst, src)
        } else {
            // ... and with equal ports the first packet goes to the server.
            (src, dst)
        };
        if !syn {
            self.stats.midstream_pickups += 1;
        }
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        let mut flow = Flow {
            info: FlowInfo {
                id,
                key,
                client,
                server,
                handshake_seen: syn && !ack,
                first_ts: ts,
                paws_floor: 0,
                paws_syn_recv: false,
            },
            state: S::default(),
            to_server: Assembler::default(),
            to_client: Assembler::default(),
            stash: None,
        };
        if syn && ack {
            // The server's SYN-ACK acknowledges where the client's data
            // starts: pinned now, so no later segment (forged data ahead of
            // the real stream) fixes it midstream.
            flow.to_server.start(seg.ack);
        }
        if let Some(idx) = self.insert_flow(key, flow) {
            self.on_flow_segment(idx, ts, seg, handler);
        }
    }

    /// Put a new open flow in the table (room was made); returns its index.
    fn insert_flow(&mut self, key: FlowKey, flow: Flow<S>) -> Option<u32> {
        let node = Node {
            key,
            prev: NIL,
            next: NIL,
            last_seen: self.now,
            body: Body::Open(flow),
        };
        let idx = if self.free != NIL {
            let idx = self.free;
            if let Some(slot) = self.slab.get_mut(idx as usize) {
                if let Slot::Vacant { next_free } = slot {
                    self.free = *next_free;
                }
                *slot = Slot::Occupied(node);
            }
            idx
        } else {
            let Ok(idx) = u32::try_from(self.slab.len()) else {
                self.stats.ignored_segments += 1;
                return None;
            };
            self.slab.push(Slot::Occupied(node), self.capacity);
            idx
        };
        self.map.insert(key, idx);
        self.link_tail(Which::Open, idx);
        self.stats.flows_created += 1;
        Some(idx)
    }

    /// Make room for one more entry under `max_flows`: drop the oldest
    /// lingering entry, else end the oldest flow held after an RST, else
    /// evict the least recently seen open flow.
    fn make_room<H: StreamHandler<S>>(&mut self, handler: &mut H) -> bool {
        let cap = self.capacity;
        while self.map.len() >= cap {
            if self.lingering.head != NIL {
                self.remove(self.lingering.head);
            } else if self.closing.head != NIL {
                self.end_flow(self.closing.head, EndReason::Fin, false, handler);
            } else if self.resetting.head != NIL {
                self.end_flow(self.resetting.head, EndReason::Rst, false, handler);
            } else if self.open.head != NIL {
                self.stats.flows_evicted += 1;
                self.end_flow(self.open.head, EndReason::Evicted, false, handler);
            } else {
                return false;
            }
        }
        true
    }

    /// A segment of an open flow.
    fn on_flow_segment<H: StreamHandler<S>>(
        &mut self,
        idx: u32,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        handler: &mut H,
    ) {
        if seg.flags.syn() && seg.flags.ack() && !seg.flags.rst() && self.syn_ack_disowns(idx, seg)
        {
            // What was read of the client was never the server's
            // connection: end it and start again from this SYN-ACK.
            let key = FlowKey::of_segment(seg);
            self.end_flow(idx, EndReason::Superseded, false, handler);
            self.create(key, ts, seg, handler);
            return;
        }
        self.touch(idx);
        if let Some(fix) = self.feed_flow(idx, ts, seg, handler) {
            self.restart_from_stash(idx, ts, seg, fix, handler);
        }
    }

    /// The peer's ACK covered copied bytes of a provisional side that start
    /// elsewhere than that side did (see [`Stash`]): what was read of it was
    /// not the connection the peer took. The side starts again, in place,
    /// where the acknowledged run does: its consumer is told
    /// ([`StreamHandler::on_restart`]), the copies are read again in arrival
    /// order, then the peer's segment. The other direction, its consumer
    /// and the flow (id, RST hold) go on untouched, so a correction cannot
    /// cut what the other side is sending in two.
    fn restart_from_stash<H: StreamHandler<S>>(
        &mut self,
        idx: u32,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        fix: Correction,
        handler: &mut H,
    ) {
        let Some(Slot::Occupied(Node {
            body: Body::Open(flow),
            ..
        })) = self.slab.get_mut(idx as usize)
        else {
            return;
        };
        let was_on = Body::<S>::list_of(flow);
        // A restarted side has no FIN (its copies may bring it again).
        flow.to_server.fin_held = false;
        let Flow {
            info,
            state,
            to_server,
            to_client,
            stash,
        } = flow;
        let (side, other) = match fix.dir {
            Direction::ToServer => (to_server, to_client),
            Direction::ToClient => (to_client, to_server),
        };
        self.buffered = self.buffered.saturating_sub(side.charged());
        *side = side.restarted(fix.start);
        self.stats.midstream_start_corrected += 1;
        let reread = handler.on_restart(info, state, fix.dir);
        // The other side's copies, when it is confirmed and kept them (see
        // `Stash`) and its consumer asks for it to be read again.
        let mut theirs = None;
        let other_decided = decided(other);
        if other_decided {
            // Both sides decided: the copies' box goes too.
            if let Some(mut box_) = stash.take() {
                uncharge_copies(&mut self.buffered, &mut self.stashed, box_.charged());
                let kept = std::mem::take(box_.of(fix.dir.reverse()));
                if reread == Reread::Both && kept.kept && !kept.full {
                    theirs = Some(kept);
                }
            }
        }
        if reread == Reread::Both && theirs.is_none() {
            // Asked for, but the other side's copies are gone (over a cap),
            // were never kept, or it is still undecided.
            self.stats.midstream_reread_unavailable += 1;
        }
        if theirs.is_some() {
            // Read again from its confirmed start, with the restarted side's
            // copies in arrival order.
            self.buffered = self.buffered.saturating_sub(other.charged());
            *other = other.restarted(other.base());
            self.stats.midstream_reread_both += 1;
        }
        let now_on = Body::<S>::list_of(flow);
        let (sender, receiver) = match fix.dir {
            Direction::ToServer => (flow.info.client, flow.info.server),
            Direction::ToClient => (flow.info.server, flow.info.client),
        };
        if now_on != was_on {
            // The side's own RST hold went with it: the flow is open again,
            // seen now (the open list is kept in last-seen order).
            self.unlink(was_on, idx);
            self.link_tail(now_on, idx);
            self.touch(idx);
        }
        // Copies far past the ACK are not read again: the forged first data
        // itself, which would sit buffered 2^30 bytes ahead until the flow
        // ends (copies just past it are, in arrival order, as anywhere).
        let horizon = self.config.max_buffered_bytes_per_flow as i64;
        let mut mine = fix.stash;
        mine.segments
            .retain(|c| i64::from(seq_diff(c.seq, seg.ack)) <= horizon);
        // They may be kept (`keep_copies`), charged by count: the room of
        // those dropped goes (review round 12).
        mine.segments.shrink_to_fit();
        let ours = mine.segments.iter().map(|c| (c, sender, receiver));
        let mut copies: Vec<_> = match &theirs {
            None => ours.collect(),
            Some(kept) => {
                let others = kept.segments.iter().map(|c| (c, receiver, sender));
                let mut both: Vec<_> = ours.chain(others).collect();
                both.sort_by_key(|(c, _, _)| c.order);
                both
            }
        };
        for (c, sender, receiver) in copies.drain(..) {
            let mut flags = if c.fin {
                TcpFlags::PSH | TcpFlags::FIN
            } else {
                TcpFlags::PSH
            };
            if c.urgent.is_some() {
                flags |= TcpFlags::URG;
            }
            let replay = TcpSegment {
                timestamp: None,
                src: sender.ip,
                dst: receiver.ip,
                src_port: sender.port,
                dst_port: receiver.port,
                seq: c.seq,
                ack: 0,
                flags: TcpFlags(flags),
                window: 0,
                urgent: c.urgent.unwrap_or(0),
                payload: &c.data,
                tunnel: seg.tunnel,
            };
            // Data on a side that is not provisional now, and no ACK:
            // nothing to correct.
            let _ = self.feed_flow(idx, c.ts, &replay, handler);
            if !self.is_open(idx) {
                // A copied FIN ended it (both sides finished): the entry
                // lingers or is gone; what the peer's segment adds after
                // both FINs is dropped as on any closed flow.
                return;
            }
        }
        drop(copies);
        if !other_decided {
            // The other side is still undecided: should it restart in turn,
            // this one may have to be read again (see `Stash`).
            self.keep_copies(idx, fix.dir, mine);
        }
        // Its ACK is for the corrected side, which is not provisional now.
        if let Some(again) = self.feed_flow(idx, ts, seg, handler) {
            // Cannot happen (see above); end it rather than loop.
            drop(again);
        }
    }

    /// Keep `copies` of the side sending in `dir`, confirmed by a restart
    /// while its peer is undecided, as a side confirmed by an ACK keeps
    /// them (see [`Stash`]): within the caps, or not at all (`full`).
    fn keep_copies(&mut self, idx: u32, dir: Direction, mut copies: Stash) {
        let Some(Slot::Occupied(Node {
            body: Body::Open(flow),
            ..
        })) = self.slab.get_mut(idx as usize)
        else {
            return;
        };
        let Some(stashes) = flow.stash.as_mut() else {
            return;
        };
        copies.bytes = copies.segments.iter().map(|c| c.data.len()).sum();
        copies.undecided = None;
        copies.kept = true;
        copies.full = false;
        let cost = copies.charged();
        let slot = stashes.of(dir);
        let fits = copies.bytes <= self.config.max_buffered_bytes_per_flow
            && self.buffered + cost <= self.config.memcap_bytes
            && self.stashed + cost <= copies_budget(&self.config);
        // What the slot held (nothing: taken with the correction) goes.
        let old = std::mem::take(slot).charged();
        uncharge_copies(&mut self.buffered, &mut self.stashed, old);
        if fits {
            self.buffered += cost;
            self.stashed += cost;
            *slot = copies;
        } else {
            slot.kept = true;
            slot.full = true;
            self.stats.midstream_stash_full += 1;
        }
    }

    /// The server's SYN-ACK says which client ISN the server took, so
    /// where the client's stream starts. When the client's side started
    /// elsewhere (an earlier SYN with another ISN: forged, with a TTL too
    /// low to reach the server, or re-sent with a new ISN; or forged data
    /// before the handshake), the bytes read from there would be a stream
    /// the server never saw, and the real one would look like old or
    /// far-ahead data. While nothing of the client's side was read, its
    /// start moves to the acknowledged number; otherwise this returns true
    /// and the flow is superseded by a new one started from the SYN-ACK.
    /// A SYN-ACK from the side taken for the client is the server's when
    /// the other side sent a pure SYN, which only a client does (roles
    /// reversed by forged data from a low port, or by a SYN-ACK the client
    /// forged first): while nothing of its side was read, the flow is
    /// superseded by one started from it, with the roles it gives. Any
    /// other SYN-ACK from the client's side is ignored here (the client
    /// could forge it). Each correction counts `isn_corrected`.
    fn syn_ack_disowns(&mut self, idx: u32, seg: &TcpSegment<'_>) -> bool {
        let Some(Slot::Occupied(Node {
            body: Body::Open(flow),
            ..
        })) = self.slab.get_mut(idx as usize)
        else {
            return false;
        };
        let from_server = from(seg, flow.info.server);
        let client = &mut flow.to_server;
        if !from_server {
            // The roles are reversed when the side taken for the server
            // sent a pure SYN, which only a client does (a flow started by
            // forged data from a low port, or by a SYN-ACK the client
            // forged): this SYN-ACK is the server's. Otherwise the client
            // could have forged it.
            if flow.to_client.sent_syn && client.untouched() {
                self.stats.isn_corrected += 1;
                return true;
            }
            return false;
        }
        // A SYN-ACK of the SYN alone refuses the SYN's data (Linux takes it
        // only for a Fast Open server and a valid cookie): the client sends
        // its bytes again, and those are what the server reads.
        let syn_data_refused = seg.ack == client.base() && client.syn_data_read();
        if !client.started() || (client.agrees_with_syn_ack(seg.ack) && !syn_data_refused) {
            return false;
        }
        self.stats.isn_corrected += 1;
        if client.untouched() {
            client.start(seg.ack);
            return false;
        }
        true
    }

    /// A segment of a flow, without marking it seen (a flow held after an
    /// RST is fed its peer's segments this way and stays held). Returns,
    /// without feeding the segment, the correction its ACK asks for when it
    /// disowns the start of a provisional side (see [`Stash`]): the caller
    /// restarts that side ([`Self::restart_from_stash`]).
    fn feed_flow<H: StreamHandler<S>>(
        &mut self,
        idx: u32,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        handler: &mut H,
    ) -> Option<Correction> {
        let Some(Slot::Occupied(Node {
            body: Body::Open(flow),
            ..
        })) = self.slab.get_mut(idx as usize)
        else {
            return None;
        };
        let Flow {
            info,
            state,
            to_server,
            to_client,
            stash,
        } = flow;
        let from_client = from(seg, info.client);
        let (dir, me, peer) = if from_client {
            (Direction::ToServer, to_server, to_client)
        } else {
            (Direction::ToClient, to_client, to_server)
        };
        let flags = seg.flags;
        if let Some((tsval, tsecr)) = seg.timestamp {
            // PAWS (RFC 7323 §5): Linux's `tcp_validate_incoming` drops a
            // segment whose TSval is behind the newest one it took before
            // anything else reads it (an RST excepted), so a forged copy
            // with an old TSval must not be read in place of the real one
            // (review round 23). Only the server's echoes set the floor
            // (forged packets come from the client), and only the client's
            // segments are checked against it; SYNs are left to the
            // handshake rules.
            // Until the client's ACK completes the handshake, the server's
            // request socket allows no TSval behind the SYN's
            // (`tcp_check_req`: `tcp_paws_reject`, window 0; review 24).
            let floor = &mut info.paws_floor;
            if !from_client && flags.ack() {
                if *floor == 0 || seq_diff(tsecr, *floor) > 0 {
                    *floor = tsecr;
                }
                if flags.syn() {
                    info.paws_syn_recv = *floor != 0;
                }
            } else if from_client && !flags.rst() && !flags.syn() {
                let window = if info.paws_syn_recv { 0 } else { 1 };
                if paws_rejects(*floor, tsval, window) {
                    self.stats.ignored_segments += 1;
                    return None;
                }
                // The ACK that completes it: at the client's first byte,
                // acknowledging the SYN-ACK (another one leaves the server
                // in SYN-RECV: dropped, or answered with an RST).
                if flags.ack()
                    && me.started()
                    && me.starts_at(seg.seq)
                    && peer.started()
                    && peer.starts_at(seg.ack)
                {
                    info.paws_syn_recv = false;
                }
            }
        }
        let mut acct = Acct {
            stats: &mut self.stats,
            total: &mut self.buffered,
        };

        if peer.midstream
            && !peer.provisional
            && flags.ack()
            && !flags.syn()
            && !flags.rst()
            && stash.as_ref().is_some_and(|st| {
                let theirs = st.get(dir.reverse());
                !theirs.segments.is_empty() || theirs.evicted
            })
        {
            // The peer's ACK on a confirmed midstream side, past what it
            // read or below its start, ending a run of copied bytes that
            // lie there too: the peer took bytes read as out of range, so
            // the ACKs that confirmed the start were not the peer's (a
            // forged ACK of forged first data). The side starts again at
            // that run (see `Stash::watched`).
            // Stream offsets (64 bits: past 2 GiB a distance from the start
            // wraps, review round 11).
            let at = peer.offset_of(seg.ack);
            let read = i128::from(peer.next_offset());
            // Past what was read, bytes the side holds: the ACK's gap
            // reaches them (`Assembler::ack`), a capture loss is no
            // correction.
            // Any bytes held past what was read put the stream ahead (a
            // capture loss or reordering; the real stream behind a forged
            // start read as far ahead is held too): no correction, even for
            // an ACK past them (review round 14).
            let held = at > read && peer.held_end() > peer.next_offset();
            if at < 0 || (at > read && !held) {
                let horizon = self.config.max_buffered_bytes_per_flow as i128;
                let beyond = |s: u32| {
                    let from_start = peer.offset_of(s);
                    from_start < 0 || from_start > read + horizon
                };
                // An ACK that decided nothing is not looked at again until
                // a copy is added or lost (repeated ACKs would each sort up
                // to 1,024 copies); reading on only makes fewer copies lie
                // beyond what was read.
                if let Some(copies) = stash
                    .as_mut()
                    .map(|st| st.of(dir.reverse()))
                    .filter(|c| c.undecided != Some(seg.ack))
                {
                    // With watched copies lost (the oldest pushed out, or
                    // over a budget), the ACK's number alone: the side
                    // starts again at it, losing what came before, not
                    // what follows.
                    let run = copies.run_start(seg.ack).filter(|&s| beyond(s));
                    let lost = (copies.evicted && beyond(seg.ack)).then_some(seg.ack);
                    if let Some(start) = run.or(lost) {
                        let taken = std::mem::take(copies);
                        uncharge_copies(acct.total, &mut self.stashed, taken.charged());
                        return Some(Correction {
                            dir: dir.reverse(),
                            start,
                            stash: taken,
                        });
                    }
                    copies.undecided = Some(seg.ack);
                }
            }
        }
        if peer.provisional && flags.ack() && !flags.syn() && !flags.rst() {
            // The peer's ACK on a side started by its own first data (see
            // `Stash`): the run of copied bytes it ends confirms the start
            // when it starts there, and disowns it when it starts anywhere
            // else (the side then starts again there, in place, and the
            // segment is fed after it). An ACK that ends no run decides
            // nothing.
            let copies = stash.get_or_insert_with(Box::default).of(dir.reverse());
            let verdict = if copies.full {
                // No copies left: the ACK's number alone. Within what was
                // read in order, it confirms the start. Past it, the peer
                // took bytes read as far ahead (a forged head below the
                // real stream) or never captured: start at the ACK. Below
                // the start, it may be in flight from before the pickup,
                // so only a second, later one below it says the peer takes
                // bytes read as old.
                let at = peer.since_start(seg.ack);
                let seen_old = copies.old_from.is_some_and(|lo| seq_diff(seg.ack, lo) > 0);
                let below_again = seen_old
                    && copies.undecided.is_some_and(|prev| {
                        peer.since_start(prev) < 0 && seq_diff(seg.ack, prev) > 0
                    });
                if at >= 0 && at.unsigned_abs() <= peer.next_offset() {
                    Some(peer.base())
                } else if at >= 0 || below_again {
                    Some(seg.ack)
                } else {
                    None
                }
            } else if copies.undecided == Some(seg.ack) {
                None
            } else {
                copies.run_start(seg.ack)
            };
            match verdict {
                None => copies.undecided = Some(seg.ack),
                Some(start) if !peer.starts_at(start) => {
                    let taken = std::mem::take(copies);
                    uncharge_copies(acct.total, &mut self.stashed, taken.charged());
                    return Some(Correction {
                        dir: dir.reverse(),
                        start,
                        stash: taken,
                    });
                }
                Some(_) => {
                    peer.provisional = false;
                    if !decided(me) && !copies.full {
                        // This side is undecided (provisional, or not yet
                        // started: this may be its first segment): should it
                        // restart, the peer may have to be read again (see
                        // `Stash`).
                        copies.kept = true;
                        copies.undecided = None;
                    } else {
                        keep_watched(copies, peer, &self.config, acct.total, &mut self.stashed);
                    }
                }
            }
        }
        if stash.as_ref().is_some_and(|st| !st.watched()) && decided(me) && decided(peer) {
            // Both sides decided: the copies' box goes too (with what a
            // confirmed side kept), unless copies out of a side's range
            // stay watched.
            if let Some(mut box_) = stash.take() {
                keep_watched(
                    box_.of(dir),
                    me,
                    &self.config,
                    acct.total,
                    &mut self.stashed,
                );
                let theirs = box_.of(dir.reverse());
                keep_watched(theirs, peer, &self.config, acct.total, &mut self.stashed);
                if box_.watched() {
                    *stash = Some(box_);
                }
            }
        }

        if flags.rst() {
            // The FIN's own number counts once the receiver took it, i.e.
            // once every byte before it arrived: a FIN still waiting ahead
            // of the stream left `rcv_nxt` where it was.
            let believed = rst_believed(me.started(), me.rel(seg.seq), me.finished());
            if !believed {
                acct.stats.ignored_segments += 1;
            } else if self.config.rst_hold_ns > 0 {
                self.hold_reset(idx, from_client);
            } else {
                self.end_flow(idx, EndReason::Rst, true, handler);
            }
            return None;
        }

        // Where the payload starts: after the SYN's own sequence number.
        let data_seq = if flags.syn() {
            let first = seg.seq.wrapping_add(1);
            if !flags.ack() {
                me.sent_syn = true;
            }
            // A SYN starts its side only in its place in a handshake: a SYN
            // before the other side spoke, a SYN-ACK from the server.
            let in_place = if flags.ack() {
                !from_client
            } else {
                !peer.started()
            };
            if !me.started() && in_place {
                me.start(first);
                me.set_syn_len(seg.payload.len());
                if flags.ack() {
                    // The server's SYN-ACK: an urgent pointer the client
                    // sent before it went to a request socket, which
                    // dropped it (review round 19).
                    peer.forget_urgent();
                }
            } else if !me.started() {
                // Out of place (a SYN-ACK from the client, a SYN after the
                // server's data): forged or stale, it fixes nothing; the
                // side's first data will.
                acct.stats.ignored_segments += 1;
                return None;
            } else if me.starts_at(first)
                && peer.started()
                && (!seg.payload.is_empty() || flags.fin())
            {
                // The side's SYN again, once the peer answered: a real
                // receiver answers it with a challenge ACK and discards it,
                // data and all (Linux's `tcp_validate_incoming`, RFC 5961
                // §4); only the SYN that fixed the start carries data read
                // (Fast Open). Reading it let a benign copy on a SYN take
                // the place of the attack sent after it (review round 17).
                acct.stats.ignored_segments += 1;
                return None;
            } else if !me.starts_at(first) {
                me.note_other_syn(first, seg.payload.len());
                if me.untouched() && !peer.started() {
                    // Another ISN before anything of this side was read and
                    // before the peer answered: the latest is as good a
                    // guess as the first, and the peer's SYN-ACK decides
                    // (`syn_ack_disowns`). Taking it keeps the Fast Open
                    // data of a real SYN sent after a forged one.
                    me.start(first);
                    me.set_syn_len(seg.payload.len());
                } else {
                    // A SYN with another ISN on a live flow: a real endpoint
                    // answers it with a challenge ACK (RFC 9293 §3.10.7.4),
                    // it does not restart; we ignore it rather than let it
                    // reset our view, until the server's SYN-ACK says it
                    // took this one.
                    acct.stats.ignored_segments += 1;
                    return None;
                }
            }
            first
        } else {
            seg.seq
        };
        if !me.started() && (!seg.payload.is_empty() || flags.fin()) {
            // Midstream: the first data (or FIN) fixes the start, until the
            // peer's ACK says otherwise (see `Stash`).
            me.start_midstream(data_seq);
        }
        // A confirmed midstream side's bytes read as out of its range (below
        // its start, or far past what it read): the ACKs that confirmed it
        // may have been forged, and these may be the real stream (see
        // `Stash::watched`).
        let out_of_range = me.midstream
            && !me.provisional
            && !seg.payload.is_empty()
            && outside(me, data_seq, seg.payload.len(), &self.config);
        let kept = stash.as_ref().is_some_and(|st| st.get(dir).kept);
        let copied = me.provisional || (!decided(peer) && kept) || out_of_range;
        if copied && (!seg.payload.is_empty() || flags.fin()) {
            let stashes = stash.get_or_insert_with(Box::default);
            let order = stashes.arrivals;
            let copies = stashes.of(dir);
            let cost = seg.payload.len() + COPY_OVERHEAD_BYTES;
            // Kept for a peer that has not spoken (an upload answered by
            // pure ACKs): only its first bytes, so that such flows cannot
            // pin the copies' budget (review round 9).
            let watched_only = !me.provisional && (!kept || decided(peer));
            let cap = if (me.provisional || peer.started()) && !watched_only {
                self.config.max_buffered_bytes_per_flow
            } else {
                self.config
                    .max_buffered_bytes_per_flow
                    .min(KEPT_FOR_SILENT_PEER_BYTES)
            };
            let mut fits = copies.bytes + seg.payload.len() <= cap
                && copies.segments.len() < MAX_CHUNKS_PER_DIRECTION
                && *acct.total + cost <= self.config.memcap_bytes
                && self.stashed + cost <= copies_budget(&self.config);
            let mut skip = false;
            if !fits && !copies.full && watched_only && seg.payload.len() <= cap {
                // Watched copies keep the newest: bytes sent first (junk
                // out of range) must not push the real request out, nor
                // end the watch (review round 12). The oldest go.
                let len = seg.payload.len();
                let freed = copies.drop_oldest(|bytes, count| {
                    bytes + len > cap || count >= MAX_CHUNKS_PER_DIRECTION
                });
                copies.evicted |= freed > 0;
                uncharge_copies(acct.total, &mut self.stashed, freed);
                fits = copies.bytes + seg.payload.len() <= cap
                    && *acct.total + cost <= self.config.memcap_bytes
                    && self.stashed + cost <= copies_budget(&self.config);
                if !fits {
                    // Over the memcap or the copies' budget: this one is not
                    // watched; the next may be.
                    acct.stats.midstream_stash_full += 1;
                    copies.evicted = true;
                    copies.watched = true;
                    copies.undecided = None;
                    skip = true;
                }
            }
            if me.provisional && me.since_start(data_seq) < 0 && !seg.payload.is_empty() {
                copies.old_from = Some(match copies.old_from {
                    Some(lo) if seq_diff(lo, data_seq) <= 0 => lo,
                    _ => data_seq,
                });
            }
            if copies.full || skip {
                // Decided on the peer's ACK number alone (see `Stash`).
            } else if fits {
                copies.watched |= watched_only;
                copies.bytes += seg.payload.len();
                copies.segments.push_back(Copy {
                    order,
                    seq: data_seq,
                    ts,
                    fin: flags.fin(),
                    urgent: flags.urg().then_some(seg.urgent),
                    data: seg.payload.into(),
                });
                copies.undecided = None;
                *acct.total += cost;
                self.stashed += cost;
                stashes.arrivals = stashes.arrivals.saturating_add(1);
            } else {
                uncharge_copies(acct.total, &mut self.stashed, copies.overflow());
                acct.stats.midstream_stash_full += 1;
            }
        }

        if flags.ack() {
            let mut out = Out {
                info,
                state: &mut *state,
                handler: &mut *handler,
                dir: dir.reverse(),
            };
            peer.ack(seg.ack, &mut out, &mut acct);
        }
        if !me.started() && flags.urg() && !flags.syn() && me.urgent(seg.seq, 0, seg.urgent) {
            // Before a midstream side's first data (see `start_midstream`).
            acct.stats.urgent_pointers += 1;
        }
        if me.started() {
            let mut out = Out {
                info,
                state: &mut *state,
                handler: &mut *handler,
                dir,
            };
            let seq_len = seg.payload.len() + usize::from(flags.syn()) + usize::from(flags.fin());
            // Not on a SYN: Linux queues a Fast Open SYN's data without
            // looking at its pointer (`tcp_fastopen_add_skb`, no `tcp_urg`).
            if flags.urg() && !flags.syn() && me.urgent(seg.seq, seq_len, seg.urgent) {
                acct.stats.urgent_pointers += 1;
            }
            if flags.urg() && !flags.syn() && me.provisional && seq_len == 0 {
                // A pure ACK is not copied: its pointer is kept for a
                // restart at the real start, which reads it as one seen
                // before the start (review round 22).
                me.keep_urgent_for_restart(seg.seq, seg.urgent);
            }
            me.segment(data_seq, seg.payload, ts, &mut out, &mut acct);
            me.enforce_caps(
                self.config.max_buffered_bytes_per_flow,
                self.config.memcap_bytes,
                &mut out,
                &mut acct,
            );
            // A FIN from before a provisional side's start is not taken:
            // it may be the real stream's (read as old behind forged first
            // data), and would end the flow before the peer's ACK decides.
            // It is in the copies, and a correction reads it in its place.
            let before_start = me.provisional
                && me
                    .since_start(data_seq)
                    .saturating_add(seg.payload.len() as i64)
                    < 0;
            if flags.fin() && !before_start {
                me.set_fin(data_seq, seg.payload.len());
            }
            if me.take_fin_to_tell() {
                handler.on_fin(info, &mut *state, dir);
            }
        }
        if me.finished() && peer.finished() {
            self.close_flow(idx, handler);
        }
        None
    }

    /// Both directions of an open flow finished: hold it (see
    /// [`Flow::closing`]), or end it when it was held after an RST or
    /// nothing lingers.
    fn close_flow<H: StreamHandler<S>>(&mut self, idx: u32, handler: &mut H) {
        let now = self.now;
        let which = match self.slab.get_mut(idx as usize) {
            Some(Slot::Occupied(Node {
                body: Body::Open(flow),
                last_seen,
                ..
            })) => {
                let which = Body::<S>::list_of(flow);
                if which == Which::Open && self.config.closed_linger_ns > 0 {
                    flow.to_server.fin_held = true;
                    *last_seen = now;
                }
                which
            }
            _ => return,
        };
        match which {
            Which::Closing => {}
            Which::Open if self.config.closed_linger_ns > 0 => {
                self.unlink(Which::Open, idx);
                self.link_tail(Which::Closing, idx);
            }
            _ => self.end_flow(idx, EndReason::Fin, true, handler),
        }
    }

    /// A segment of a flow held after both FINs (see [`Flow::closing`]).
    fn on_closing_segment<H: StreamHandler<S>>(
        &mut self,
        idx: u32,
        key: FlowKey,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        handler: &mut H,
    ) {
        let flags = seg.flags;
        let Some(Node {
            body: Body::Open(flow),
            ..
        }) = self.node(idx)
        else {
            return;
        };
        if flags.rst() {
            // The connection is over either way; a forged RST must not end
            // the hold early (the data after it would be lost).
            self.stats.ignored_segments += 1;
            return;
        }
        if flags.syn() {
            self.syn_on_held_flow(idx, key, ts, seg, EndReason::Fin, handler);
            return;
        }
        let from_client = from(seg, flow.info.client);
        let me = if from_client {
            &flow.to_server
        } else {
            &flow.to_client
        };
        let horizon = self.config.max_buffered_bytes_per_flow;
        // Data that may be the real stream behind forged first data (with
        // a forged FIN) resumes the flow, as in the RST hold.
        if maybe_real_stream(me, seg, &self.config)
            || me.past_fin(seg.seq, seg.payload.len(), horizon)
        {
            // Bytes where the FIN was, or just past it: it never reached
            // the receiver. The flow goes on with its state.
            self.stats.fin_resumed += 1;
            if let Some(Slot::Occupied(Node {
                body: Body::Open(flow),
                ..
            })) = self.slab.get_mut(idx as usize)
            {
                flow.to_server.fin_held = false;
                if from_client {
                    flow.to_server.unfin();
                } else {
                    flow.to_client.unfin();
                }
            }
            self.unlink(Which::Closing, idx);
            self.link_tail(Which::Open, idx);
            self.on_flow_segment(idx, ts, seg, handler);
            return;
        }
        if !seg.payload.is_empty() {
            // A late retransmission, or far-off bytes: nothing to read.
            self.stats.ignored_segments += 1;
            return;
        }
        // ACKs (they may still decide a midstream start) and FINs: fed
        // without extending the hold.
        if let Some(fix) = self.feed_flow(idx, ts, seg, handler) {
            self.restart_from_stash(idx, ts, seg, fix, handler);
        }
    }

    /// Flush an open flow, call `on_end` once, then keep it lingering (FIN,
    /// RST) or forget it.
    fn end_flow<H: StreamHandler<S>>(
        &mut self,
        idx: u32,
        reason: EndReason,
        linger: bool,
        handler: &mut H,
    ) {
        let Some(Slot::Occupied(node)) = self.slab.get_mut(idx as usize) else {
            return;
        };
        let which = node.body.list();
        let Body::Open(flow) = &mut node.body else {
            return;
        };
        let Flow {
            info,
            state,
            to_server,
            to_client,
            stash,
        } = flow;
        let mut acct = Acct {
            stats: &mut self.stats,
            total: &mut self.buffered,
        };
        if let Some(st) = stash.take() {
            uncharge_copies(acct.total, &mut self.stashed, st.charged());
        }
        for (dir, asm) in [
            (Direction::ToServer, to_server),
            (Direction::ToClient, to_client),
        ] {
            let mut out = Out {
                info,
                state: &mut *state,
                handler: &mut *handler,
                dir,
            };
            asm.flush(&mut out, &mut acct);
        }
        handler.on_end(info, state, reason);
        self.stats.flows_ended += 1;
        if linger && self.config.closed_linger_ns > 0 {
            node.body = Body::Lingering {
                by_rst: reason == EndReason::Rst,
                server: info.server,
            };
            node.last_seen = self.now;
            self.unlink(which, idx);
            self.link_tail(Which::Lingering, idx);
        } else {
            self.remove(idx);
        }
    }

    /// Forget an entry entirely (it must have been ended if it was open).
    fn remove(&mut self, idx: u32) {
        let Some(which) = self.node(idx).map(|n| n.body.list()) else {
            return;
        };
        self.unlink(which, idx);
        let free = self.free;
        if let Some(slot) = self.slab.get_mut(idx as usize) {
            let old = std::mem::replace(slot, Slot::Vacant { next_free: free });
            if let Slot::Occupied(node) = old {
                self.map.remove(&node.key);
                if let Body::Open(flow) = node.body {
                    // Never happens after end_flow; keep the count honest anyway.
                    self.buffered = self.buffered.saturating_sub(flow.charged());
                    let copies = flow.stash.as_ref().map_or(0, |st| st.charged());
                    self.stashed = self.stashed.saturating_sub(copies);
                }
            }
            self.free = idx;
        }
    }

    /// Whether `idx` holds a flow still open (not lingering, not vacant).
    fn is_open(&self, idx: u32) -> bool {
        matches!(
            self.slab.get(idx as usize),
            Some(Slot::Occupied(Node {
                body: Body::Open(_),
                ..
            }))
        )
    }

    /// Mark an open flow as just seen.
    fn touch(&mut self, idx: u32) {
        let now = self.now;
        if let Some(Slot::Occupied(node)) = self.slab.get_mut(idx as usize) {
            node.last_seen = now;
        }
        if self.open.tail != idx {
            self.unlink(Which::Open, idx);
            self.link_tail(Which::Open, idx);
        }
    }

    fn list(&mut self, which: Which) -> &mut List {
        match which {
            Which::Open => &mut self.open,
            Which::Resetting => &mut self.resetting,
            Which::Closing => &mut self.closing,
            Which::Lingering => &mut self.lingering,
        }
    }

    fn links(&mut self, idx: u32) -> Option<(&mut u32, &mut u32)> {
        match self.slab.get_mut(idx as usize) {
            Some(Slot::Occupied(n)) => Some((&mut n.prev, &mut n.next)),
            _ => None,
        }
    }

    fn link_tail(&mut self, which: Which, idx: u32) {
        let tail = self.list(which).tail;
        if let Some((prev, next)) = self.links(idx) {
            *prev = tail;
            *next = NIL;
        } else {
            return;
        }
        if let Some((_, next)) = self.links(tail) {
            *next = idx;
        }
        let list = self.list(which);
        if list.head == NIL {
            list.head = idx;
        }
        list.tail = idx;
        list.len += 1;
    }

    fn unlink(&mut self, which: Which, idx: u32) {
        let Some((prev, next)) = self.links(idx) else {
            return;
        };
        let (p, n) = (*prev, *next);
        *prev = NIL;
        *next = NIL;
        match self.links(p) {
            Some((_, pn)) => *pn = n,
            None => self.list(which).head = n,
        }
        match self.links(n) {
            Some((np, _)) => *np = p,
            None => self.list(which).tail = p,
        }
        let list = self.list(which);
        list.len = list.len.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots come back at the index they were pushed at, across chunk
    /// boundaries, and a chunk is never larger than the limit still allows.
    #[test]
    fn slab_indexes_across_chunks() {
        let mut slab = Slab::new();
        let n = 2 * SLAB_CHUNK + 5;
        slab.push(0, n);
        // Growing never moves an entry (no copy, no second array at once).
        let first: *const usize = slab.get(0).unwrap();
        for i in 1..n {
            slab.push(i, n);
        }
        assert!(std::ptr::eq(first, slab.get(0).unwrap()));
        assert_eq!(slab.len(), n);
        for i in 0..n {
            assert_eq!(slab.get(i), Some(&i));
        }
        assert_eq!(slab.get(n), None);
        if let Some(v) = slab.get_mut(SLAB_CHUNK) {
            *v = 7;
        }
        assert_eq!(slab.get(SLAB_CHUNK), Some(&7));
        assert_eq!(slab.chunks.len(), 3);
        assert!(slab
            .chunks
            .last()
            .is_some_and(|c| c.capacity() < SLAB_CHUNK));
    }

    /// `buffered` (what the memcap bounds) equals the sum of every open
    /// flow's charges (assemblers and midstream copies) after every
    /// segment, under random traffic on two 4-tuples with provisional
    /// sides, corrections, tiny caps, RSTs and holds; and is 0 after
    /// `end_all`. (Written by a reviewer of the midstream correction.)
    mod accounting {
        use super::*;
        use crate::reassembly::{Direction, EndReason, FlowInfo, ReassemblyConfig, StreamHandler};
        use proptest::prelude::*;
        use std::net::{IpAddr, Ipv4Addr};

        /// Answers `Reread::Both` to restarts when told to.
        struct Nop(bool);
        impl StreamHandler<()> for Nop {
            fn on_data(&mut self, _: &FlowInfo, _: &mut (), _: Direction, _: Stamp, _: &[u8]) {}
            fn on_gap(&mut self, _: &FlowInfo, _: &mut (), _: Direction, _: u64) {}
            fn on_end(&mut self, _: &FlowInfo, _: &mut (), _: EndReason) {}
            fn on_restart(&mut self, _: &FlowInfo, _: &mut (), _: Direction) -> Reread {
                if self.0 {
                    Reread::Both
                } else {
                    Reread::Restarted
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]
            #[test]
            fn buffered_is_the_sum_of_charges(
                caps in (1usize..400, 200usize..3000, prop::bool::ANY, prop::bool::ANY),
                ops in prop::collection::vec(
                    (0u8..2, prop::bool::ANY, -300i32..300, prop::bool::ANY, -300i32..300,
                     0u8..8, 0usize..60, 0u64..3),
                    1..120),
            ) {
                let (per_flow, memcap, hold, reread_both) = caps;
                let cfg = ReassemblyConfig {
                    max_buffered_bytes_per_flow: per_flow,
                    memcap_bytes: memcap,
                    rst_hold_ns: if hold { 1_000 } else { 0 },
                    closed_linger_ns: 500,
                    idle_timeout_ns: 100_000,
                    ..ReassemblyConfig::default()
                };
                let mut t: FlowTable<()> = FlowTable::new(cfg);
                let mut h = Nop(reread_both);
                let payload = [b'x'; 64];
                let mut ts = 1u64;
                for (port, from_client, off, far, ack_off, fl, len, dt) in ops {
                    ts += dt * 300;
                    let base: u32 = if from_client { 1_000_000 } else { 7_000_000 };
                    let peer_base: u32 = if from_client { 7_000_000 } else { 1_000_000 };
                    let mut seq = base.wrapping_add(off as u32);
                    if far {
                        seq = seq.wrapping_add(1 << 30);
                    }
                    let ack = peer_base.wrapping_add(ack_off as u32);
                    let flags = match fl {
                        0 => TcpFlags::SYN,
                        1 => TcpFlags::SYN | TcpFlags::ACK,
                        2 => TcpFlags::RST,
                        3 => TcpFlags::FIN | TcpFlags::ACK,
                        4 => TcpFlags::PSH,
                        _ => TcpFlags::ACK,
                    };
                    let c = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000 + u16::from(port));
                    let s = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80u16);
                    let (a, b) = if from_client { (c, s) } else { (s, c) };
                    let seg = TcpSegment {
                        timestamp: None,
                        src: a.0,
                        dst: b.0,
                        src_port: a.1,
                        dst_port: b.1,
                        seq,
                        ack,
                        flags: TcpFlags(flags),
                        window: 65535,
                        urgent: 0,
                        payload: payload.get(..len).unwrap_or_default(),
                        tunnel: 0,
                    };
                    t.process(Timestamp(ts), &seg, &mut h);
                    // Includes `buffered` == the sum of every open flow's charges.
                    prop_assert_eq!(t.check_consistency(), Ok(()));
                }
                t.end_all(&mut h);
                prop_assert_eq!(t.buffered, 0);
                prop_assert_eq!(t.check_consistency(), Ok(()));
            }
        }
    }

    /// Review round 12, copy accounting (written in this module: it needs
    /// the stash's vector). `COPY_OVERHEAD_BYTES` charges each copy twice
    /// its vector entry on the ground that the vector grows by doubling,
    /// but `restart_from_stash` drops the copies far past the ACK with
    /// `retain` (which never shrinks the vector) and `keep_copies` keeps
    /// the rest, charged by their count. Scenario (all forgeable, one flow
    /// per 4-tuple, none of it decided afterwards): midstream client first
    /// data 2^30 ahead, 1,022 more forged one-byte segments after it, the
    /// real request, and a (forged or real) server pure ACK of the request:
    /// the client side restarts, one copy is kept for the silent server,
    /// in a vector with room for 1,024 (about 40 KiB), charged ~100 bytes.
    /// Over the ~233,000 flows `flow_memcap_bytes` allows, that is ~9 GiB
    /// beyond `memcap_bytes`. Expected: what a flow's copies hold on the
    /// heap (the vector's capacity plus the payloads) stays within twice
    /// what they are charged (e.g. `shrink_to_fit` after `retain`, or
    /// charge the capacity).
    #[test]
    fn copies_kept_after_a_restart_are_charged_their_vector() {
        use crate::reassembly::{EndReason, FlowInfo};
        use std::net::{IpAddr, Ipv4Addr};
        struct Quiet;
        impl StreamHandler<()> for Quiet {
            fn on_data(&mut self, _: &FlowInfo, _: &mut (), _: Direction, _: Stamp, _: &[u8]) {}
            fn on_gap(&mut self, _: &FlowInfo, _: &mut (), _: Direction, _: u64) {}
            fn on_end(&mut self, _: &FlowInfo, _: &mut (), _: EndReason) {}
            fn on_restart(&mut self, _: &FlowInfo, _: &mut (), _: Direction) -> Reread {
                Reread::Restarted
            }
        }
        let mut t: FlowTable<()> = FlowTable::new(ReassemblyConfig::default());
        let mut h = Quiet;
        let c = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let s = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let mk = |from_client: bool, seq: u32, ack: u32, payload: &'static [u8]| TcpSegment {
            timestamp: None,
            src: if from_client { c } else { s },
            dst: if from_client { s } else { c },
            src_port: if from_client { 40000 } else { 80 },
            dst_port: if from_client { 80 } else { 40000 },
            seq,
            ack,
            flags: TcpFlags(TcpFlags::ACK),
            window: 65535,
            urgent: 0,
            payload,
            tunnel: 0,
        };
        let (ci, si) = (1000u32, 5000u32);
        let forged = ci.wrapping_add(1 << 30);
        for i in 0..(MAX_CHUNKS_PER_DIRECTION as u32 - 1) {
            t.process(Timestamp(1), &mk(true, forged + i, si, b"x"), &mut h);
        }
        let req: &'static [u8] = b"GET /?q=<script>alert(1)</script> HTTP/1.1\r\n\r\n";
        t.process(Timestamp(2), &mk(true, ci, si, req), &mut h);
        t.process(
            Timestamp(3),
            &mk(false, si, ci + req.len() as u32, b""),
            &mut h,
        );
        assert_eq!(t.stats().midstream_start_corrected, 1);
        assert_eq!(t.check_consistency(), Ok(()));
        for i in 0..t.slab.len() {
            let Some(Slot::Occupied(Node {
                body: Body::Open(flow),
                ..
            })) = t.slab.get(i)
            else {
                continue;
            };
            let Some(st) = flow.stash.as_ref() else {
                continue;
            };
            for side in [&st.to_server, &st.to_client] {
                let held = side.segments.capacity() * std::mem::size_of::<Copy>() + side.bytes;
                assert!(
                    held <= 2 * side.charged(),
                    "copies hold {held} bytes on the heap, charged {} ({} copies, room for {})",
                    side.charged(),
                    side.segments.len(),
                    side.segments.capacity()
                );
            }
        }
        t.end_all(&mut h);
    }

    /// The module docs promise a small per-flow footprint; keep it honest.
    #[test]
    fn entry_size_stays_small() {
        let size = std::mem::size_of::<Slot<()>>();
        // 432 until the midstream stash pointer (8 bytes) came in, 440
        // until each direction's pending urgent byte (8 with padding), 456
        // until each direction's urgent pointers before its start (16).
        assert!(size <= 488, "slot is {size} bytes");
    }
}
