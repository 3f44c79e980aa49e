//! One direction of a TCP connection: sequence space to in-order bytes.
//!
//! Owns the mapping of 32-bit sequence numbers to a 64-bit stream offset
//! (relative to the first data byte, RFC 9293 §3.4), the out-of-order buffer
//! and the FIN position. Guarantees: in-order data is handed on without a
//! copy; every byte offset is delivered at most once, and in increasing order;
//! the buffered chunks never overlap one another and all start after the next
//! expected byte; a skipped hole is always reported as a gap of its exact
//! length. Overlaps follow Linux: bytes already delivered are never
//! replaced; an in-order copy wins over buffered ones, and buffered
//! copies give way to a later one that starts lower (see `insert`).

use std::collections::BTreeMap;

use super::seq::{seq_at, seq_diff};
use super::{ReassemblyStats, Stamp};
use crate::capture::Timestamp;

/// Most separate out-of-order chunks held per direction. Chunks are at least
/// one byte, so without this an attacker sending one-byte segments with holes
/// between them would make the per-chunk overhead dwarf the byte count. At the
/// cap the assembler skips holes like at the per-flow byte cap.
pub(crate) const MAX_CHUNKS_PER_DIRECTION: usize = 1024;

/// What one buffered chunk costs beyond its payload, charged with it to the
/// table's memcap: its map slot (offset, timestamp, segment bounds, boxed
/// slice: 40 bytes in leaves about half full) and the allocator's rounding of a small box.
/// Without it a flood of 1-byte segments over many flows would hold ~60
/// times what the memcap counts. (The per-direction cap counts payload: one
/// direction's overhead is bounded by `MAX_CHUNKS_PER_DIRECTION`.)
pub(crate) const CHUNK_OVERHEAD_BYTES: usize = 80;

/// How many recently delivered segments are fingerprinted per direction to
/// notice a retransmission that carries *different* bytes at offsets already
/// delivered (the classic insertion/evasion: the sensor kept the first copy,
/// the server may have kept the second). 16 bytes each.
const RECENT_SEGMENTS: usize = 3;

/// Most urgent pointers kept for a side before it starts (see
/// `Assembler::early_urgent`), besides those another one makes moot (from
/// a segment no lower, to a byte no lower), which are not kept. Real
/// clients send none.
const MAX_EARLY_URGENT: usize = 2;

/// Widest receive window a Linux server reaches by default (`tcp_rmem[2]`,
/// 6 MiB, bounds the buffer its window is carved from). A segment starting
/// further past the next expected byte is dropped before its urgent
/// pointer is looked at (`tcp_sequence`); the real window, unknown here
/// (the scale is in the handshake's options), may be narrower.
const MAX_RECEIVE_WINDOW: i128 = 6 << 20;

/// Offset, length and hash of a delivered segment.
#[derive(Debug, Default, Clone, Copy)]
struct Fingerprint {
    start: u64,
    len: u32,
    /// Low half of a 64-bit keyed hash (see [`fingerprint_hash`]).
    hash: u32,
}

/// The hash of a delivered segment's bytes, keyed once per process from the
/// OS (fixed under `cfg(fuzzing)`, see [`crate::table_hasher`]). The key is
/// what makes a forged collision cost: with seeds known from the source, an
/// attacker could search offline for a different payload with the same 32
/// bits (~2^32 hashes, minutes on one core) and slip an insertion past the
/// check; with a secret key each guess needs a retransmission on the wire
/// and reveals nothing.
fn fingerprint_hash(data: &[u8]) -> u32 {
    static KEY: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();
    KEY.get_or_init(crate::table_hasher).hash_one(data) as u32
}

/// Where an assembler hands in-order data and gaps.
pub(crate) trait Deliver {
    fn data(&mut self, at: Stamp, data: &[u8]);
    fn gap(&mut self, len: u64);
}

/// Counters an assembler updates: the table's stats and its total of
/// buffered bytes (kept equal to the sum of every assembler's `buffered`).
pub(crate) struct Acct<'a> {
    pub stats: &'a mut ReassemblyStats,
    pub total: &'a mut usize,
}

/// An out-of-order segment (or the new part of one), copied.
#[derive(Debug)]
struct Chunk {
    /// Capture time of the segment that carried these bytes.
    ts: Timestamp,
    /// How far the segment that carried these bytes started before them,
    /// and ended after them: Linux queues whole segments and decides
    /// overlaps on where they start and end (`tcp_data_queue_ofo`), so the
    /// part of one past a held neighbour is judged as that whole segment
    /// (review round 29).
    head: u32,
    tail: u32,
    data: Box<[u8]>,
}

impl Chunk {
    fn end(&self, start: u64) -> u64 {
        start.saturating_add(self.data.len() as u64)
    }

    /// Stream offsets where the segment that carried these bytes started
    /// and ended, for a chunk at `start`.
    fn segment(&self, start: u64) -> (u64, u64) {
        (
            start.saturating_sub(u64::from(self.head)),
            self.end(start).saturating_add(u64::from(self.tail)),
        )
    }
}

/// A distance within one segment, as a chunk keeps it.
fn within(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The bit of `Assembler::fin_plus_one` saying the FIN was told.
const FIN_TOLD: u64 = 1 << 63;

/// Per-direction reassembly state.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    /// False until a SYN, data or FIN told us where the stream starts.
    started: bool,
    /// Sequence number of stream offset 0.
    base: u32,
    /// Stream offset of the next byte to deliver (everything before it was
    /// delivered or reported as a gap).
    next: u64,
    /// Stream offset just after the data of the first FIN seen, plus one;
    /// 0 when no FIN was seen. Its top bit ([`FIN_TOLD`]) records that the
    /// handler was told the side reached it (a plain u64 keeps the flow
    /// slot small; a stream offset never reaches 2^63).
    fin_plus_one: u64,
    /// Bytes held in `chunks`.
    buffered: usize,
    /// Out-of-order data by stream offset; non-overlapping, all > `next`.
    chunks: BTreeMap<u64, Chunk>,
    /// Fingerprints of the last delivered segments (a ring).
    recent: [Fingerprint; RECENT_SEGMENTS],
    recent_pos: u8,
    /// The last hole skipped as a gap, `[start, end)` stream offsets.
    last_gap: (u64, u64),
    /// Sequence number of the pending urgent byte, if `urgent_pending`
    /// (see [`Assembler::urgent`]; a u32 and a flag keep the slot small).
    urgent_seq: u32,
    urgent_pending: bool,
    /// Urgent pointers taken before the side started (a midstream pickup:
    /// on pure ACKs before its first data), as (sequence number of the
    /// segment, pointer), the first `early_urgent_len`. Which of them the
    /// server took depends on where its window was (`tcp_sequence` drops a
    /// segment below `rcv_wup`, `tcp_check_urg` keeps the pending pointer
    /// against one not after it), known only once the first data fixes the
    /// start: they are read then, as on a started side, and again after a
    /// restart (review round 20).
    early_urgent: [(u32, u16); MAX_EARLY_URGENT],
    early_urgent_len: u8,
    /// The peer's newest acknowledgment of this direction (its receiver's
    /// `rcv_wup`: the window edge it last announced); the start until one.
    wup: u32,
    /// This direction sent a believed RST and the flow is held after it
    /// (kept by the flow table, see `Flow::reset` there).
    pub(crate) rst_held: bool,
    /// Both directions finished and the flow is held (kept by the flow
    /// table in the client's direction, see `Flow::closing` there).
    pub(crate) fin_held: bool,
    /// Payload bytes the SYN that fixed the start carried (TCP Fast Open),
    /// saturated; 0 when no SYN fixed it.
    syn_len: u16,
    /// A pure SYN (no ACK) was seen from this side: it is a client.
    pub(crate) sent_syn: bool,
    /// Two SYNs of this side were seen whose readings the peer's SYN-ACK
    /// could not tell apart (one's data ends where the other starts, or
    /// both end at the same number): Fast Open data is then not taken on
    /// the acknowledgment's word. Never cleared.
    syn_doubt: bool,
    /// The start was fixed by this side's first data (a midstream pickup)
    /// and the peer's ACK has not yet confirmed it (see the flow table's
    /// `Stash`).
    pub(crate) provisional: bool,
    /// The start was fixed by this side's first data, whether confirmed
    /// since or not: the peer's ACKs that confirmed it may have been forged
    /// too, so bytes read as out of its range are still watched (see the
    /// flow table's `Stash`). Kept through a restart.
    pub(crate) midstream: bool,
}

impl Assembler {
    pub(crate) fn started(&self) -> bool {
        self.started
    }

    /// A fresh side for a restart at `seq` (see the flow table's
    /// `restart_from_stash`): only what this side's SYNs said is kept.
    pub(crate) fn restarted(&self, seq: u32) -> Assembler {
        let mut fresh = Assembler {
            sent_syn: self.sent_syn,
            syn_doubt: self.syn_doubt,
            midstream: self.midstream,
            ..Assembler::default()
        };
        fresh.start(seq);
        // Pointers taken before the first start, read from the new one
        // (forged first data that fixed the old start placed them before
        // it, and they were dropped) (review round 20).
        fresh.early_urgent = self.early_urgent;
        fresh.early_urgent_len = self.early_urgent_len;
        fresh.take_early_urgent();
        fresh
    }

    /// Fix the stream start: `seq` is the sequence number of the first data
    /// byte (ISN + 1 after a SYN, RFC 9293 §3.4).
    pub(crate) fn start(&mut self, seq: u32) {
        self.started = true;
        self.base = seq;
        self.wup = seq;
        self.next = 0;
        self.syn_len = 0;
        self.provisional = false;
        // A pointer taken before: relative to a start now disowned, or
        // sent before the side's SYN (no socket took it then).
        self.urgent_pending = false;
        self.early_urgent_len = 0;
    }

    /// Fix the start from this side's first data (a midstream pickup). An
    /// urgent pointer seen before it, on a pure ACK, is read now: the
    /// server's socket took it (`tcp_urg` looks at segments without payload
    /// too) if its segment was in the window (review rounds 19, 20).
    pub(crate) fn start_midstream(&mut self, seq: u32) {
        let early = (self.early_urgent, self.early_urgent_len);
        self.start(seq);
        self.provisional = true;
        self.midstream = true;
        (self.early_urgent, self.early_urgent_len) = early;
        self.take_early_urgent();
    }

    /// Read the pointers kept before the start as a started side reads
    /// them: one on a segment below the start (the server's `rcv_wup`: a
    /// client sends its pure ACKs at its `snd_nxt`, where its next data
    /// starts) was dropped with it, one not after the pending one is moot.
    fn take_early_urgent(&mut self) {
        let len = usize::from(self.early_urgent_len).min(MAX_EARLY_URGENT);
        let early = self.early_urgent;
        for &(seq, ptr) in early.get(..len).unwrap_or_default() {
            self.urgent(seq, 0, ptr);
        }
    }

    /// Keep a pointer seen before the side started (see `early_urgent`).
    /// False if another one makes it moot.
    fn keep_early_urgent(&mut self, seq: u32, ptr: u16) -> bool {
        let byte = |(s, p): (u32, u16)| s.wrapping_add(u32::from(p).saturating_sub(1));
        // `a` is taken wherever `b` is (its segment is no lower) and marks
        // a byte no lower: `b` never decides.
        let covers = |a: (u32, u16), b: (u32, u16)| {
            seq_diff(a.0, b.0) >= 0 && seq_diff(byte(a), byte(b)) >= 0
        };
        let new = (seq, ptr);
        let len = usize::from(self.early_urgent_len).min(MAX_EARLY_URGENT);
        let mut kept: Vec<(u32, u16)> = self.early_urgent.get(..len).unwrap_or_default().to_vec();
        if kept.iter().any(|&old| covers(old, new)) {
            return false;
        }
        kept.retain(|&old| !covers(new, old));
        if kept.len() >= MAX_EARLY_URGENT {
            // Full: the one from the lowest segment goes, the likeliest
            // to be below the window.
            kept.sort_by_key(|&(s, _)| seq_diff(s, seq));
            kept.remove(0);
        }
        kept.push(new);
        for (slot, &p) in self.early_urgent.iter_mut().zip(&kept) {
            *slot = p;
        }
        self.early_urgent_len = u8::try_from(kept.len()).unwrap_or(0);
        true
    }

    /// Keep a pointer from a pure ACK of a provisional side for a restart
    /// (`restarted` reads it against the corrected start): forged first
    /// data may have placed it before the start (review round 22).
    pub(crate) fn keep_urgent_for_restart(&mut self, seq: u32, ptr: u16) {
        self.keep_early_urgent(seq, ptr);
    }

    /// Forget a pending urgent pointer: the peer's SYN-ACK came after it,
    /// so the server's request socket dropped the segment that carried it
    /// (`tcp_check_req`: no ACK, or an ACK of a SYN-ACK not yet sent)
    /// (review round 19).
    pub(crate) fn forget_urgent(&mut self) {
        self.urgent_pending = false;
        self.early_urgent_len = 0;
    }

    /// Sequence number of stream offset 0.
    pub(crate) fn base(&self) -> u32 {
        self.base
    }

    /// Signed distance of `seq` from the stream start (offset 0).
    pub(crate) fn since_start(&self, seq: u32) -> i64 {
        i64::from(seq_diff(seq, self.base))
    }

    /// Whether `seq` is the sequence number of stream offset 0 (a
    /// retransmitted SYN carries the same ISN).
    pub(crate) fn starts_at(&self, seq: u32) -> bool {
        self.base == seq
    }

    /// Nothing of this direction was read yet: no byte delivered or
    /// buffered, no FIN. Only then may its start still move.
    pub(crate) fn untouched(&self) -> bool {
        self.next == 0 && self.chunks.is_empty() && !self.fin_seen()
    }

    /// The SYN that fixed the start carried data, and it was read.
    pub(crate) fn syn_data_read(&self) -> bool {
        self.syn_len > 0 && self.next > 0
    }

    /// The start was fixed by a SYN carrying `len` payload bytes.
    pub(crate) fn set_syn_len(&mut self, len: usize) {
        self.syn_len = u16::try_from(len).unwrap_or(u16::MAX);
    }

    /// A SYN whose data would start at `seq`, carrying `len` bytes, with
    /// another ISN than this direction's start. Notes the doubt when the
    /// peer's SYN-ACK could acknowledge either SYN with the same number
    /// (Fast Open data of one ending where the other starts, or both ending
    /// together): two SYNs crafted so that forged data reads as Fast Open
    /// data of the real connection.
    pub(crate) fn note_other_syn(&mut self, seq: u32, len: usize) {
        let new_len = u32::try_from(len).unwrap_or(u32::MAX);
        let cur_len = u32::from(self.syn_len);
        let cur_end = self.base.wrapping_add(cur_len);
        let new_end = seq.wrapping_add(new_len);
        if (cur_len > 0 && cur_end == seq)
            || (new_len > 0 && new_end == self.base)
            || ((cur_len > 0 || new_len > 0) && cur_end == new_end)
        {
            self.syn_doubt = true;
        }
    }

    /// Whether the peer's SYN-ACK acknowledgment `ack` agrees with this
    /// direction's start: it acknowledges the start, or the start plus the
    /// SYN's own data (TCP Fast Open, accepted whole or not at all) unless
    /// another SYN made that reading doubtful.
    pub(crate) fn agrees_with_syn_ack(&self, ack: u32) -> bool {
        ack == self.base
            || (!self.syn_doubt
                && self.syn_len > 0
                && ack == self.base.wrapping_add(u32::from(self.syn_len)))
    }

    /// Payload bytes buffered (what the per-direction cap counts).
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// What this direction adds to the table's memcap: payload plus
    /// [`CHUNK_OVERHEAD_BYTES`] per chunk.
    pub(crate) fn charged(&self) -> usize {
        self.buffered + self.chunks.len() * CHUNK_OVERHEAD_BYTES
    }

    /// Stream offset just past the last byte held (`next` when none).
    pub(crate) fn held_end(&self) -> u64 {
        self.chunks
            .last_key_value()
            .map_or(self.next, |(&k, c)| c.end(k))
    }

    /// Stream offset of the next byte to deliver.
    pub(crate) fn next_offset(&self) -> u64 {
        self.next
    }

    /// Signed distance of `seq` from the next expected byte.
    pub(crate) fn rel(&self, seq: u32) -> i64 {
        i64::from(seq_diff(seq, seq_at(self.base, self.next)))
    }

    fn abs(&self, rel: i64) -> u64 {
        self.next.saturating_add_signed(rel)
    }

    /// An urgent pointer `ptr` (URG set) on a segment whose sequence number
    /// is `seq`. A server on Linux (`tcp_stdurg` 0 and no `SO_OOBINLINE`:
    /// how nginx, Apache, Go and Node run) takes the byte just before the
    /// pointer out of band (`tcp_check_urg`, `tcp_urg`) and its `recv`
    /// skips it, so `<scrXipt>` with X urgent is `<script>` to the server
    /// (review round 17). As there, a pointer to bytes already delivered
    /// is ignored, and the newest pointer wins: one further on replaces a
    /// pending one, whose byte is then read inline, as Linux reads it when
    /// the application had not read up to it yet. True if it was taken.
    ///
    /// `len` is the segment's sequence length (payload, SYN and FIN). A
    /// segment wholly before the receiver's last acknowledgment is dropped
    /// by Linux before its pointer is looked at (`tcp_sequence`: end before
    /// `rcv_wup`), so a stale segment cannot mark a byte still to come, nor
    /// one past the window (see `MAX_RECEIVE_WINDOW`) a byte far ahead; and
    /// a zero pointer marks the segment's first byte (`tcp_check_urg` takes
    /// one only from a non-zero pointer) (review round 18).
    pub(crate) fn urgent(&mut self, seq: u32, len: usize, ptr: u16) -> bool {
        if !self.started {
            // A side picked up midstream, before its first data: kept for
            // `start_midstream`; a SYN's `start` forgets it.
            return self.keep_early_urgent(seq, ptr);
        }
        let at = seq.wrapping_add(u32::from(ptr).saturating_sub(1));
        let wup = self.offset_of(self.wup).min(i128::from(self.next));
        if self.offset_of(seq).saturating_add(len as i128) < wup {
            return false;
        }
        if self.offset_of(seq) > i128::from(self.next).saturating_add(MAX_RECEIVE_WINDOW) {
            // Past the server's window: dropped, and kept pending it made a
            // real lower pointer moot (review round 22).
            return false;
        }
        let Ok(byte) = u64::try_from(self.offset_of(at)) else {
            return false;
        };
        if byte < self.next
            || (self.urgent_pending && i128::from(byte) <= self.pending_urgent_byte())
        {
            return false;
        }
        self.urgent_seq = at;
        self.urgent_pending = true;
        true
    }

    /// Stream offset of the pending urgent byte (negative: before the
    /// stream, never read; it once read as offset 0, skipping the first
    /// byte).
    fn pending_urgent_byte(&self) -> i128 {
        self.offset_of(self.urgent_seq)
    }

    /// Hand `data` (at offset `next`) on, without the pending urgent byte
    /// if it is among them (skipped as the server skips it: its offset is
    /// passed, not delivered).
    fn emit<D: Deliver>(&mut self, out: &mut D, ts: Timestamp, data: &[u8]) {
        let fin = self.fin_plus_one().wrapping_sub(1);
        if self.fin_seen() && self.next < fin && fin < self.next.saturating_add(data.len() as u64) {
            // Bytes crossing a FIN not reached yet: Linux drops an
            // out-of-order FIN that in-order data went past
            // (`tcp_ofo_queue`: its `end_seq` is not after `rcv_nxt`), and
            // a later FIN may then close the side (review round 34).
            self.unfin();
        }
        if self.urgent_pending {
            let byte = self.pending_urgent_byte();
            if byte < i128::from(self.next) {
                // Skipped in a gap, or before the stream.
                self.urgent_pending = false;
            } else if let Some(k) = usize::try_from(byte - i128::from(self.next))
                .ok()
                .filter(|&k| k < data.len())
            {
                self.urgent_pending = false;
                self.emit_run(out, ts, data.get(..k).unwrap_or_default());
                self.next = self.next.saturating_add(1);
                self.emit_run(out, ts, data.get(k + 1..).unwrap_or_default());
                return;
            }
        }
        self.emit_run(out, ts, data);
    }

    /// Hand `data` (at offset `next`) on, remember its fingerprint, advance.
    fn emit_run<D: Deliver>(&mut self, out: &mut D, ts: Timestamp, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        out.data(
            Stamp {
                ts,
                seq: seq_at(self.base, self.next),
            },
            data,
        );
        let pos = usize::from(self.recent_pos) % RECENT_SEGMENTS;
        if let Some(slot) = self.recent.get_mut(pos) {
            *slot = Fingerprint {
                start: self.next,
                len: u32::try_from(data.len()).unwrap_or(u32::MAX),
                hash: fingerprint_hash(data),
            };
        }
        self.recent_pos = ((pos + 1) % RECENT_SEGMENTS) as u8;
        self.next = self.next.saturating_add(data.len() as u64);
    }

    /// Whether re-sent bytes `data` starting at stream offset `start` (all
    /// before `next`) differ from a recently delivered segment they fully
    /// cover. Re-sent bytes that only partly cover a remembered segment, or
    /// that are older than the last few segments, cannot be compared.
    fn resent_differs(&self, start: u64, data: &[u8]) -> bool {
        self.recent.iter().any(|f| {
            if f.len == 0 || f.start < start {
                return false;
            }
            let lo = usize::try_from(f.start - start).unwrap_or(usize::MAX);
            let hi = lo.saturating_add(f.len as usize);
            data.get(lo..hi)
                .is_some_and(|same_range| fingerprint_hash(same_range) != f.hash)
        })
    }

    /// Whether a FIN was seen and every byte before it was delivered (or
    /// skipped as a gap).
    pub(crate) fn finished(&self) -> bool {
        self.fin_seen() && self.next >= self.fin_plus_one() - 1
    }

    fn fin_plus_one(&self) -> u64 {
        self.fin_plus_one & !FIN_TOLD
    }

    /// Whether the handler still has to be told this side reached its FIN
    /// (`StreamHandler::on_fin`); true once per FIN, then false until data
    /// past it disproves it and another one is reached.
    pub(crate) fn take_fin_to_tell(&mut self) -> bool {
        let tell = self.finished() && self.fin_plus_one & FIN_TOLD == 0;
        if tell {
            self.fin_plus_one |= FIN_TOLD;
        }
        tell
    }

    pub(crate) fn fin_seen(&self) -> bool {
        self.fin_plus_one() != 0
    }

    /// Whether a segment at `seq` with `len` payload bytes carries bytes at
    /// or past this direction's FIN: after a real FIN there are none, so
    /// the FIN never reached the receiver (see the flow table's FIN hold).
    /// Only bytes within `horizon` past the FIN count: a far-off number is
    /// no continuation (another connection's, or forged).
    pub(crate) fn past_fin(&self, seq: u32, len: usize, horizon: usize) -> bool {
        // Bytes past what was read disprove it as well (review round 11).
        let fin = (i128::from(self.fin_plus_one()) - 1).max(i128::from(self.next));
        let start = self.offset_of(seq);
        let end = start + len as i128;
        self.fin_seen() && len > 0 && end > fin && start - fin <= horizon as i128
    }

    /// Forget the FIN (it was disproved by data past it, see [`Self::past_fin`]).
    pub(crate) fn unfin(&mut self) {
        self.fin_plus_one = 0;
    }

    /// Record a FIN carried by a segment at `seq` with `len` payload bytes.
    /// The first FIN wins (a real receiver would not accept a second one).
    /// A FIN before bytes already read is not taken: a real sender sends
    /// nothing after its FIN, and one forged far below them would finish
    /// the side at once (review round 11).
    pub(crate) fn set_fin(&mut self, seq: u32, len: usize) {
        let end = self.rel(seq).saturating_add(len as i64);
        if !self.fin_seen() && end >= 0 {
            self.fin_plus_one = self.abs(end).saturating_add(1) & !FIN_TOLD;
        }
    }

    /// Stream offset of `seq` (64 bits: a side that read more than 2 GiB
    /// still places it right), which may be negative: before offset 0.
    pub(crate) fn offset_of(&self, seq: u32) -> i128 {
        i128::from(self.next) + i128::from(self.rel(seq))
    }

    /// Feed the payload of one segment whose first byte has sequence `seq`.
    pub(crate) fn segment<D: Deliver>(
        &mut self,
        seq: u32,
        data: &[u8],
        ts: Timestamp,
        out: &mut D,
        acct: &mut Acct<'_>,
    ) {
        if data.is_empty() {
            return;
        }
        let rel = self.rel(seq);
        let end = rel.saturating_add(data.len() as i64);
        if end <= 0 {
            // Everything in it was already delivered (or skipped).
            acct.stats.retransmitted_segments += 1;
            if self.resent_differs(self.abs(rel), data) {
                acct.stats.overlap_different_data += 1;
            }
            self.note_late(self.abs(rel), self.abs(end), acct);
            return;
        }
        if rel > 0 {
            acct.stats.out_of_order_segments += 1;
            self.insert(self.abs(rel), data, ts, acct);
            return;
        }
        // rel <= 0 < end: it carries the next expected byte.
        let Some(new) = data.get(rel.unsigned_abs() as usize..) else {
            return;
        };
        let old_part = rel < 0;
        // Its old part against what was delivered, buffered chunks or not.
        let mut old_differs = false;
        if old_part {
            self.note_late(self.abs(rel), self.next, acct);
            let old = data.get(..data.len() - new.len()).unwrap_or_default();
            old_differs = self.resent_differs(self.abs(rel), old);
        }
        if self.chunks.is_empty() {
            // Hot path: in order, nothing buffered, no copy.
            if old_part {
                acct.stats.overlap_segments += 1;
            }
            if old_differs {
                acct.stats.overlap_different_data += 1;
            }
            self.emit(out, ts, new);
            return;
        }
        let (overlap, different) = self.deliver_over_chunks(new, ts, out, acct);
        if overlap || old_part {
            acct.stats.overlap_segments += 1;
        }
        if different || old_differs {
            acct.stats.overlap_different_data += 1;
        }
    }

    /// Deliver `new` (whose first byte is at `next`) whole: as in Linux,
    /// the in-order copy wins over buffered chunks it covers
    /// (`tcp_data_queue` queues it at `rcv_nxt`, then `tcp_ofo_queue` drops
    /// the out-of-order data it covers), then what became contiguous.
    /// Returns (overlapped, overlapped with different bytes).
    fn deliver_over_chunks<D: Deliver>(
        &mut self,
        new: &[u8],
        ts: Timestamp,
        out: &mut D,
        acct: &mut Acct<'_>,
    ) -> (bool, bool) {
        let start = self.next;
        let end = start.saturating_add(new.len() as u64);
        let mut overlap = false;
        let mut different = false;
        for (&cs, chunk) in self.chunks.range(..end) {
            let lo = cs.max(start);
            let hi = chunk.end(cs).min(end);
            if lo < hi {
                overlap = true;
                if slice(&chunk.data, lo - cs, hi - cs) != slice(new, lo - start, hi - start) {
                    different = true;
                }
            }
        }
        self.emit(out, ts, new);
        self.drain(out, acct);
        (overlap, different)
    }

    /// Deliver every buffered chunk that has become contiguous.
    fn drain<D: Deliver>(&mut self, out: &mut D, acct: &mut Acct<'_>) {
        while let Some(entry) = self.chunks.first_entry() {
            if *entry.key() > self.next {
                break;
            }
            let (cs, chunk) = entry.remove_entry();
            self.release(chunk.data.len(), acct);
            let skip = usize::try_from(self.next.saturating_sub(cs)).unwrap_or(usize::MAX);
            if let Some(held) = chunk.data.get(skip..) {
                self.emit(out, chunk.ts, held);
            }
        }
    }

    /// A chunk of `n` payload bytes left the buffer.
    fn release(&mut self, n: usize, acct: &mut Acct<'_>) {
        self.buffered = self.buffered.saturating_sub(n);
        *acct.total = acct.total.saturating_sub(n + CHUNK_OVERHEAD_BYTES);
    }

    /// Buffer an out-of-order segment at stream offset `start` (> `next`);
    /// where held chunks cover the same offsets, the copy Linux would read
    /// wins (see below).
    fn insert(&mut self, start: u64, data: &[u8], ts: Timestamp, acct: &mut Acct<'_>) {
        let end = start.saturating_add(data.len() as u64);
        // A chunk starting before `start` may reach into the segment.
        let from = match self.chunks.range(..start).next_back() {
            Some((&k, c)) if c.end(k) > start => k,
            _ => start,
        };
        let mut overlap = false;
        let mut different = false;
        // Linux (`tcp_data_queue_ofo`): a held chunk whose segment starts
        // after the segment, or at the same place and ends before it, gives
        // way (`merge_right`, "skb covers skb1"; where the segment only
        // partly covers it, the lower one is read first); one whose segment
        // starts before it, or at the same place and reaches as far, keeps
        // its bytes (the piece of a segment past a held neighbour starts
        // where that segment did, not where the piece does).
        let mut replaced: Vec<u64> = Vec::new();
        for (&cs, chunk) in self.chunks.range(from..end) {
            let (seg_start, seg_end) = chunk.segment(cs);
            let ce = chunk.end(cs);
            let lo = cs.max(start);
            let hi = ce.min(end);
            if lo < hi {
                overlap = true;
                if slice(&chunk.data, lo - cs, hi - cs) != slice(data, lo - start, hi - start) {
                    different = true;
                }
            }
            if seg_start > start || (seg_start == start && seg_end < end) {
                replaced.push(cs);
            }
        }
        for cs in replaced {
            let Some(chunk) = self.chunks.remove(&cs) else {
                continue;
            };
            let ce = chunk.end(cs);
            self.release(chunk.data.len(), acct);
            if ce > end {
                let tail = slice(&chunk.data, end - cs, ce - cs);
                self.buffered = self.buffered.saturating_add(tail.len());
                *acct.total = acct.total.saturating_add(tail.len() + CHUNK_OVERHEAD_BYTES);
                self.chunks.insert(
                    end,
                    Chunk {
                        ts: chunk.ts,
                        head: chunk.head.saturating_add(within(end - cs)),
                        tail: chunk.tail,
                        data: tail.into(),
                    },
                );
            }
        }
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let mut cursor = start;
        for (&cs, chunk) in self.chunks.range(from..end) {
            if cs > cursor {
                pieces.push((cursor, cs));
            }
            cursor = cursor.max(chunk.end(cs));
        }
        if cursor < end {
            pieces.push((cursor, end));
        }
        for (lo, hi) in pieces {
            let bytes = slice(data, lo - start, hi - start);
            if bytes.is_empty() {
                continue;
            }
            self.buffered = self.buffered.saturating_add(bytes.len());
            *acct.total = acct
                .total
                .saturating_add(bytes.len() + CHUNK_OVERHEAD_BYTES);
            self.chunks.insert(
                lo,
                Chunk {
                    ts,
                    head: within(lo - start),
                    tail: within(end - hi),
                    data: bytes.into(),
                },
            );
        }
        if overlap {
            acct.stats.overlap_segments += 1;
        }
        if different {
            acct.stats.overlap_different_data += 1;
        }
    }

    /// Skip the first hole: report it as a gap and deliver what follows it.
    /// Returns false when nothing is buffered.
    fn skip_hole<D: Deliver>(&mut self, out: &mut D, acct: &mut Acct<'_>) -> bool {
        let Some(cs) = self.chunks.first_key_value().map(|(&k, _)| k) else {
            return false;
        };
        self.gap_to(cs, out, acct);
        self.drain(out, acct);
        true
    }

    /// Count a segment whose old bytes `[start, end)` fall in the last hole
    /// skipped as a gap: bytes the receiver took but we reported lost and
    /// never inspected (a junk-ahead evasion forcing the skip, or heavy
    /// reordering past the caps).
    fn note_late(&self, start: u64, end: u64, acct: &mut Acct<'_>) {
        let (gap_start, gap_end) = self.last_gap;
        if start < gap_end && gap_start < end {
            acct.stats.late_data_in_gap += 1;
        }
    }

    fn gap_to<D: Deliver>(&mut self, to: u64, out: &mut D, acct: &mut Acct<'_>) {
        if to > self.next {
            self.last_gap = (self.next, to);
            let len = to - self.next;
            out.gap(len);
            acct.stats.gaps += 1;
            acct.stats.gap_bytes = acct.stats.gap_bytes.saturating_add(len);
            self.next = to;
        }
    }

    /// The peer acknowledged `ack`: bytes before it were sent and received,
    /// so a hole before it will not be filled by a retransmission we could
    /// see. If we hold data, skip the holes up to the ACK (never beyond the
    /// end of what we hold: an ACK is attacker-controlled too).
    pub(crate) fn ack<D: Deliver>(&mut self, ack: u32, out: &mut D, acct: &mut Acct<'_>) {
        if self.started && seq_diff(ack, self.wup) > 0 {
            self.wup = ack;
        }
        if !self.started || self.chunks.is_empty() {
            return;
        }
        let rel = self.rel(ack);
        if rel <= 0 {
            return;
        }
        let held_end = self
            .chunks
            .last_key_value()
            .map_or(self.next, |(&k, c)| c.end(k));
        let target = self.abs(rel).min(held_end);
        while self.next < target {
            match self.chunks.first_key_value().map(|(&k, _)| k) {
                Some(cs) if cs <= target => {
                    self.skip_hole(out, acct);
                }
                Some(_) => {
                    self.gap_to(target, out, acct);
                    break;
                }
                None => break,
            }
        }
    }

    /// Apply the per-direction caps and the table memcap after buffering.
    pub(crate) fn enforce_caps<D: Deliver>(
        &mut self,
        max_per_flow: usize,
        memcap: usize,
        out: &mut D,
        acct: &mut Acct<'_>,
    ) {
        let over_flow_cap =
            |a: &Self| a.buffered > max_per_flow || a.chunks.len() > MAX_CHUNKS_PER_DIRECTION;
        if over_flow_cap(self) {
            acct.stats.per_flow_cap_hits += 1;
            while over_flow_cap(self) && self.skip_hole(out, acct) {}
        }
        if *acct.total > memcap {
            acct.stats.memcap_hits += 1;
            while *acct.total > memcap && self.skip_hole(out, acct) {}
        }
    }

    /// Deliver everything buffered, reporting each hole as a gap.
    pub(crate) fn flush<D: Deliver>(&mut self, out: &mut D, acct: &mut Acct<'_>) {
        while self.skip_hole(out, acct) {}
    }
}

/// `data[lo..hi]`, empty when out of range (cannot happen for the callers'
/// computed bounds, but wire data never gets to panic).
fn slice(data: &[u8], lo: u64, hi: u64) -> &[u8] {
    let (Ok(lo), Ok(hi)) = (usize::try_from(lo), usize::try_from(hi)) else {
        return &[];
    };
    data.get(lo..hi).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fingerprint key is secret (per process), not seeds an attacker
    /// can read in the source: neither the seeds it once had nor the fixed
    /// fuzzing key give its hashes (a chance failure needs four 32-bit
    /// collisions at once).
    #[test]
    fn fingerprints_use_a_secret_key() {
        let inputs: [&[u8]; 4] = [b"GET / HTTP/1.1", b"a", b"", &[0u8; 1460]];
        for seeds in [
            (0x5bd1_e995, 0x27d4_eb2f, 0x1656_67b1, 0x9e37_79b9),
            (1, 2, 3, 4),
        ] {
            let public = ahash::RandomState::with_seeds(seeds.0, seeds.1, seeds.2, seeds.3);
            assert!(
                inputs
                    .iter()
                    .any(|d| fingerprint_hash(d) != public.hash_one(d) as u32),
                "fingerprints computed with public seeds {seeds:x?}"
            );
        }
        // Stable within the process, which the comparison needs.
        assert_eq!(fingerprint_hash(b"abc"), fingerprint_hash(b"abc"));
    }

    #[derive(Default)]
    struct Rec {
        out: Vec<u8>,
        gaps: Vec<u64>,
        calls: Vec<(Timestamp, usize)>,
        seqs: Vec<u32>,
    }

    impl Deliver for Rec {
        fn data(&mut self, at: Stamp, data: &[u8]) {
            self.out.extend_from_slice(data);
            self.calls.push((at.ts, data.len()));
            self.seqs.push(at.seq);
        }
        fn gap(&mut self, len: u64) {
            self.gaps.push(len);
        }
    }

    struct Fixture {
        a: Assembler,
        rec: Rec,
        stats: ReassemblyStats,
        total: usize,
    }

    impl Fixture {
        fn new(isn: u32) -> Self {
            let mut a = Assembler::default();
            a.start(isn);
            Fixture {
                a,
                rec: Rec::default(),
                stats: ReassemblyStats::default(),
                total: 0,
            }
        }
        fn seg(&mut self, seq: u32, data: &[u8], ts: u64) {
            let mut acct = Acct {
                stats: &mut self.stats,
                total: &mut self.total,
            };
            self.a
                .segment(seq, data, Timestamp(ts), &mut self.rec, &mut acct);
        }
        fn caps(&mut self, per_flow: usize, memcap: usize) {
            let mut acct = Acct {
                stats: &mut self.stats,
                total: &mut self.total,
            };
            self.a
                .enforce_caps(per_flow, memcap, &mut self.rec, &mut acct);
        }
        fn ack(&mut self, ack: u32) {
            let mut acct = Acct {
                stats: &mut self.stats,
                total: &mut self.total,
            };
            self.a.ack(ack, &mut self.rec, &mut acct);
        }
        fn flush(&mut self) {
            let mut acct = Acct {
                stats: &mut self.stats,
                total: &mut self.total,
            };
            self.a.flush(&mut self.rec, &mut acct);
        }
    }

    #[test]
    fn in_order_is_delivered_at_once() {
        let mut f = Fixture::new(1000);
        f.seg(1000, b"abc", 1);
        f.seg(1003, b"def", 2);
        assert_eq!(f.rec.out, b"abcdef");
        assert_eq!(f.rec.calls, vec![(Timestamp(1), 3), (Timestamp(2), 3)]);
        assert_eq!(f.total, 0);
    }

    #[test]
    fn out_of_order_waits_for_the_hole() {
        let mut f = Fixture::new(0);
        f.seg(3, b"def", 2);
        assert!(f.rec.out.is_empty());
        // The memcap total also counts the chunk's own overhead.
        assert_eq!((f.a.buffered(), f.total), (3, 3 + CHUNK_OVERHEAD_BYTES));
        f.seg(0, b"abc", 3);
        assert_eq!(f.rec.out, b"abcdef");
        // The buffered bytes keep the time of the segment that carried them.
        assert_eq!(f.rec.calls, vec![(Timestamp(3), 3), (Timestamp(2), 3)]);
        assert_eq!((f.a.buffered(), f.total), (0, 0));
        assert_eq!(f.stats.out_of_order_segments, 1);
    }

    #[test]
    fn later_in_order_copy_wins_over_buffered_data_as_on_linux() {
        let mut f = Fixture::new(0);
        f.seg(2, b"XY", 1);
        f.seg(0, b"abcdef", 2);
        assert_eq!(f.rec.out, b"abcdef");
        assert_eq!(f.stats.overlap_segments, 1);
        assert_eq!(f.stats.overlap_different_data, 1);
    }

    #[test]
    fn overlapping_out_of_order_starting_lower_wins_as_on_linux() {
        let mut f = Fixture::new(0);
        f.seg(4, b"EF", 1);
        f.seg(2, b"cdXXgh", 2);
        assert_eq!(f.a.buffered(), 6);
        f.seg(0, b"ab", 3);
        assert_eq!(f.rec.out, b"abcdXXgh");
        assert_eq!(f.stats.overlap_different_data, 1);
    }

    #[test]
    fn resent_delivered_bytes_that_differ_are_counted() {
        let mut f = Fixture::new(0);
        f.seg(0, b"GET /good HTTP/1.1", 1);
        f.seg(0, b"GET /good HTTP/1.1", 2);
        assert_eq!(
            f.stats.overlap_different_data, 0,
            "an exact copy is not an anomaly"
        );
        f.seg(0, b"GET /evil HTTP/1.1", 3);
        assert_eq!(f.stats.overlap_different_data, 1);
        // Delivered bytes stay: the evil copy is never delivered.
        assert_eq!(f.rec.out, b"GET /good HTTP/1.1");
        // A copy that is old in part and new in part is compared too.
        f.seg(0, b"GET /evil HTTP/1.1 more", 4);
        assert_eq!(f.stats.overlap_different_data, 2);
        assert_eq!(f.rec.out, b"GET /good HTTP/1.1 more");
    }

    #[test]
    fn full_retransmission_is_dropped() {
        let mut f = Fixture::new(0);
        f.seg(0, b"abcd", 1);
        f.seg(0, b"abcd", 2);
        f.seg(2, b"cd", 2);
        assert_eq!(f.rec.out, b"abcd");
        assert_eq!(f.stats.retransmitted_segments, 2);
    }

    #[test]
    fn partially_new_segment_delivers_only_new_part() {
        let mut f = Fixture::new(0);
        f.seg(0, b"abcd", 1);
        f.seg(2, b"cdef", 2);
        assert_eq!(f.rec.out, b"abcdef");
        assert_eq!(f.stats.overlap_segments, 1);
    }

    #[test]
    fn wraps_around_u32() {
        let isn = u32::MAX - 2;
        let mut f = Fixture::new(isn);
        f.seg(isn.wrapping_add(4), b"efgh", 1);
        f.seg(isn, b"abcd", 2);
        f.seg(isn.wrapping_add(8), b"ij", 3);
        assert_eq!(f.rec.out, b"abcdefghij");
        assert_eq!(f.a.next_offset(), 10);
    }

    #[test]
    fn per_flow_cap_skips_hole() {
        let mut f = Fixture::new(0);
        f.seg(10, b"0123", 1);
        f.caps(4, 1000);
        assert!(f.rec.out.is_empty());
        f.seg(20, b"x", 1);
        f.caps(4, 1000);
        // Only the first hole is skipped: that is enough to get under the cap.
        assert_eq!(f.rec.gaps, vec![10]);
        assert_eq!(f.rec.out, b"0123");
        assert_eq!(f.stats.per_flow_cap_hits, 1);
        assert_eq!(f.stats.gap_bytes, 10);
        assert_eq!((f.a.buffered(), f.total), (1, 1 + CHUNK_OVERHEAD_BYTES));
    }

    /// A re-sent segment whose old part differs from what was delivered is
    /// counted while later data is buffered too, not only on the hot path.
    #[test]
    fn resent_old_bytes_that_differ_count_while_chunks_are_buffered() {
        let mut f = Fixture::new(0);
        f.seg(0, b"abcd", 1);
        f.seg(10, b"zz", 1);
        assert_eq!(f.stats.overlap_different_data, 0);
        // Offsets 0..4 again with other bytes, and 4..6 new.
        f.seg(0, b"ABCDef", 2);
        assert_eq!(f.stats.overlap_different_data, 1);
        assert_eq!(f.rec.out, b"abcdef");
    }

    /// Bytes of a hole that was skipped as a gap, arriving afterwards, are
    /// counted: the receiver may have taken them, we never inspected them.
    #[test]
    fn late_bytes_of_a_skipped_hole_are_counted() {
        let mut f = Fixture::new(0);
        f.seg(10, b"0123", 1);
        f.seg(20, b"x", 1);
        f.caps(4, 1000);
        assert_eq!(f.rec.gaps, vec![10]);
        assert_eq!(f.stats.late_data_in_gap, 0);
        // A plain retransmission of delivered bytes is not late data.
        f.seg(10, b"0123", 2);
        assert_eq!(f.stats.late_data_in_gap, 0);
        // The hole's bytes, wholly old, then partly old.
        f.seg(0, b"GET /?q=<s", 3);
        assert_eq!(f.stats.late_data_in_gap, 1);
        f.seg(5, b"q=<s0123xyz", 4);
        assert_eq!(f.stats.late_data_in_gap, 2);
        assert_eq!(f.stats.retransmitted_segments, 2);
    }

    /// The memcap sees what tiny chunks really cost: 1-byte segments are
    /// charged their overhead, so a memcap of 10 chunks' worth holds 10.
    #[test]
    fn tiny_chunks_are_charged_their_overhead_against_the_memcap() {
        let mut f = Fixture::new(0);
        let cap = 10 * (1 + CHUNK_OVERHEAD_BYTES);
        for i in 0..100u32 {
            f.seg(2 * i + 1, b"x", 1);
            f.caps(usize::MAX, cap);
            assert!(f.total <= cap, "total {} over {cap}", f.total);
        }
        assert!(f.a.chunks.len() <= 10, "{} chunks", f.a.chunks.len());
        assert!(f.stats.memcap_hits > 0);
    }

    #[test]
    fn many_tiny_chunks_hit_the_chunk_cap() {
        let mut f = Fixture::new(0);
        for i in 0..=MAX_CHUNKS_PER_DIRECTION as u32 {
            f.seg(2 * i + 1, b"x", 1);
            f.caps(usize::MAX, usize::MAX);
        }
        assert_eq!(f.stats.per_flow_cap_hits, 1);
        assert!(f.a.chunks.len() <= MAX_CHUNKS_PER_DIRECTION);
    }

    #[test]
    fn ack_beyond_hole_skips_to_buffered_data() {
        let mut f = Fixture::new(0);
        f.seg(5, b"fgh", 1);
        f.ack(3); // inside the hole: gap up to the ACK only
        assert_eq!(f.rec.gaps, vec![3]);
        f.ack(1000); // beyond: skip to the data, never past what we hold
        assert_eq!(f.rec.gaps, vec![3, 2]);
        assert_eq!(f.rec.out, b"fgh");
        assert_eq!(f.a.next_offset(), 8);
    }

    #[test]
    fn ack_without_buffered_data_does_nothing() {
        let mut f = Fixture::new(0);
        f.seg(0, b"ab", 1);
        f.ack(100);
        assert!(f.rec.gaps.is_empty());
        assert_eq!(f.a.next_offset(), 2);
    }

    #[test]
    fn flush_reports_every_hole() {
        let mut f = Fixture::new(0);
        f.seg(2, b"c", 1);
        f.seg(5, b"f", 1);
        f.flush();
        assert_eq!(f.rec.gaps, vec![2, 2]);
        assert_eq!(f.rec.out, b"cf");
        assert_eq!(f.total, 0);
    }

    #[test]
    fn fin_position_and_finished() {
        let mut f = Fixture::new(0);
        f.a.set_fin(4, 0);
        assert!(!f.a.finished());
        f.seg(0, b"abcd", 1);
        assert!(f.a.finished());
    }

    #[test]
    fn seq_far_behind_is_old() {
        let mut f = Fixture::new(0);
        f.seg(0x8000_0001, b"zz", 1);
        assert!(f.rec.out.is_empty());
        assert_eq!(f.stats.retransmitted_segments, 1);
    }
}
