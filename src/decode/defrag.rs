//! IP defragmentation, IPv4 (RFC 791) and IPv6 (RFC 8200 §4.5), for the
//! [`Decoder`](super::Decoder) of one capture thread.
//!
//! Owns the datagrams in progress, keyed by (source, destination,
//! identification, protocol for IPv4, tunnel identity), so fragments of two
//! mirrored networks or two tunnels never mix. Hands on, when the last
//! missing byte arrives, the datagram's payload (what followed the IPv4
//! header or the IPv6 fragment header) in one buffer reused between
//! datagrams.
//!
//! Everything is bounded and every limit counts in [`DefragStats`]:
//! - bytes held (`max_bytes`): each datagram counts its buffer (as long as
//!   the highest byte seen, allocated to that length exactly), its held
//!   ranges (16 bytes each, allocated exactly) and its entry in the table
//!   ([`ENTRY_BYTES`]), so a flood of lone small fragments is bounded like a
//!   few large datagrams. At the cap the oldest datagrams are dropped, and a
//!   datagram that alone would not fit is dropped (`dropped_memcap`);
//!   the table's spare capacity is not counted there: it is bounded by
//!   `max_datagrams` (the map has room for at most about 2.3 times that many
//!   entries, power-of-two growth at a 7/8 load factor; the creation order
//!   for about twice that plus 1,024, rounded up to a power of two), and
//!   shrinks back once a burst has expired;
//! - datagrams in progress (`max_datagrams`): at the cap the oldest is
//!   dropped to make room (`dropped_max_datagrams`), so a flood of lone
//!   fragments cannot freeze reassembly for a whole timeout;
//! - fragments per datagram (`max_fragments_per_datagram`,
//!   `dropped_max_fragments`) and payload size (65,535 bytes with the IPv4
//!   header; larger, the "ping of death" or a jumbogram, is
//!   `dropped_too_big`: an IPv6 fragment alone, an IPv4 datagram when
//!   complete, as Linux);
//! - time (`timeout_ns`, capture clock, from the first fragment seen, as
//!   Linux's `ipfrag_time`): `timed_out`, checked on every fragment and on
//!   [`Defrag::expire`].
//!
//! Evasion (RFC 1858, RFC 5722): a TCP fragment at offset 8 (it would
//! rewrite the flags of the TCP header) and a first fragment too short to
//! hold the TCP (20) or UDP (8) header are dropped (`dropped_tiny`), except
//! IPv4 ones under the `linux` policy: Linux rebuilds those (a rewriting
//! fragment overlaps and drops the datagram as any overlap does).
//! Overlaps count `overlaps` (and `overlaps_different` when the bytes
//! differ) and follow [`OverlapPolicy`], per IP version. Inconsistent
//! fragments (two different ends, data past the end, an IPv6 non-last
//! fragment whose length is not a multiple of 8) drop the datagram or the
//! fragment (`dropped_malformed`); an IPv4 one is cut to a multiple of 8 as
//! Linux does.

use std::collections::VecDeque;
use std::net::IpAddr;

use ahash::AHashMap;

use super::wire::Fragment;
use crate::capture::Timestamp;

/// Largest datagram payload reassembled (the IP length field's range).
pub const MAX_DATAGRAM_BYTES: usize = 65_535;

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// What to do when a fragment overlaps bytes already held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlapPolicy {
    /// Keep the bytes that arrived first (BSD, older Linux, Suricata's
    /// "bsd"/"linux" policies for the common cases).
    First,
    /// The later fragment's bytes replace earlier ones (Windows-like).
    Last,
    /// Drop the whole datagram when overlapping bytes differ; identical
    /// copies (retransmissions, duplicated mirror packets) are harmless.
    DropDifferent,
    /// Drop the whole datagram on any overlap (RFC 5722 to the letter).
    DropAny,
    /// What Linux does since 4.19 (`inet_frag_queue_insert`, RFC 5722 with
    /// erratum 3089, for IPv4 too): a fragment that lies wholly inside bytes
    /// already held is a duplicate and is ignored (the first bytes stay,
    /// whatever it carries); any other overlap drops the whole datagram.
    /// Linux compares against runs of fragments, we against the held ranges
    /// (adjacent runs merged): the same answer but for a fragment spanning
    /// two runs received out of order. The default for both versions: a
    /// sensor that rebuilt a datagram the server dropped would take its
    /// bytes as the stream's and the server's real copy as a retransmission.
    Linux,
}

impl OverlapPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            OverlapPolicy::First => "first",
            OverlapPolicy::Last => "last",
            OverlapPolicy::DropDifferent => "drop_different",
            OverlapPolicy::DropAny => "drop_any",
            OverlapPolicy::Linux => "linux",
        }
    }
}

/// Limits and policies of defragmentation; see the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefragOptions {
    /// Reassemble fragments at all; when off they are `ip_fragment` skips.
    pub enabled: bool,
    /// Most bytes held by datagrams in progress. Default 32 MiB.
    pub max_bytes: usize,
    /// Most datagrams in progress. Default 10,000.
    pub max_datagrams: usize,
    /// Most fragments in one datagram. Default 128 (a 65,535-byte datagram
    /// over a 576-byte MTU needs 118).
    pub max_fragments_per_datagram: usize,
    /// A datagram not complete this long after its first fragment (capture
    /// time) is dropped. Default 30 s (Linux's `ipfrag_time`).
    pub timeout_ns: u64,
    /// IPv4 overlaps. Default `Linux`.
    pub ipv4_overlap: OverlapPolicy,
    /// IPv6 overlaps. Default `Linux` (RFC 5722 forbids overlaps; exact
    /// duplicates, as a mirror may send, are ignored).
    pub ipv6_overlap: OverlapPolicy,
}

impl Default for DefragOptions {
    fn default() -> Self {
        DefragOptions {
            enabled: true,
            max_bytes: 32 << 20,
            max_datagrams: 10_000,
            max_fragments_per_datagram: 128,
            timeout_ns: 30 * 1_000_000_000,
            ipv4_overlap: OverlapPolicy::Linux,
            ipv6_overlap: OverlapPolicy::Linux,
        }
    }
}

/// Defragmentation counters, all monotonic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Fragments handed to the defragmenter.
    pub fragments: u64,
    /// Datagrams completed and decoded on.
    pub reassembled: u64,
    /// Datagrams dropped incomplete at their timeout.
    pub timed_out: u64,
    /// Datagrams dropped to stay under `max_bytes`.
    pub dropped_memcap: u64,
    /// Datagrams dropped to stay under `max_datagrams`.
    pub dropped_max_datagrams: u64,
    /// Datagrams dropped for having more than `max_fragments_per_datagram`.
    pub dropped_max_fragments: u64,
    /// Datagrams dropped for reaching past 65,535 bytes.
    pub dropped_too_big: u64,
    /// Fragments that overlapped bytes already held.
    pub overlaps: u64,
    /// ... of which with different bytes (an evasion signal).
    pub overlaps_different: u64,
    /// Datagrams dropped by the overlap policy.
    pub dropped_overlap: u64,
    /// Fragments dropped as RFC 1858 tiny or TCP-header-overlapping.
    pub dropped_tiny: u64,
    /// Fragments or datagrams dropped as inconsistent.
    pub dropped_malformed: u64,
}

impl DefragStats {
    pub fn add(&mut self, o: &DefragStats) {
        self.fragments += o.fragments;
        self.reassembled += o.reassembled;
        self.timed_out += o.timed_out;
        self.dropped_memcap += o.dropped_memcap;
        self.dropped_max_datagrams += o.dropped_max_datagrams;
        self.dropped_max_fragments += o.dropped_max_fragments;
        self.dropped_too_big += o.dropped_too_big;
        self.overlaps += o.overlaps;
        self.overlaps_different += o.overlaps_different;
        self.dropped_overlap += o.dropped_overlap;
        self.dropped_tiny += o.dropped_tiny;
        self.dropped_malformed += o.dropped_malformed;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    /// IPv4 protocol; 0 for IPv6 (RFC 8200 keys on addresses and id only).
    proto: u8,
    tunnel: u64,
}

/// What a datagram in progress costs besides its buffer and ranges: its
/// map entry and its place in the creation order.
pub(super) const ENTRY_BYTES: usize =
    std::mem::size_of::<(Key, Datagram)>() + std::mem::size_of::<(Key, u64)>();

/// One held range.
pub(super) const RANGE_BYTES: usize = std::mem::size_of::<(usize, usize)>();

/// One seam between fragment runs (see `Datagram::seams`).
const SEAM_BYTES: usize = std::mem::size_of::<usize>();

#[derive(Debug)]
struct Datagram {
    buf: Vec<u8>,
    /// Byte ranges held, sorted, disjoint and not adjacent.
    covered: Vec<(usize, usize)>,
    /// Offsets inside a held range where two of Linux's fragment runs
    /// meet (`inet_frag_queue_insert`: a run grows only by a fragment
    /// appended at the tail; one placed lower is a run of its own). A
    /// fragment across one is an overlap there, not a duplicate, and the
    /// datagram is dropped (review round 20).
    seams: Vec<usize>,
    /// Payload length, once the last fragment (M = 0) was seen.
    total: Option<usize>,
    /// Protocol of the payload (from the first fragment for IPv6).
    proto: u8,
    /// IPv4 header length of the first fragment (see `Fragment`).
    header_len: usize,
    fragments: usize,
    created: Timestamp,
    generation: u64,
    v6: bool,
}

impl Datagram {
    /// Bytes counted against `max_bytes` (see the module doc).
    fn cost(&self) -> usize {
        ENTRY_BYTES
            + self.buf.capacity()
            + self.covered.capacity() * RANGE_BYTES
            + self.seams.capacity() * SEAM_BYTES
    }
}

/// A datagram just completed; its payload is [`Defrag::output`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Completed {
    pub v6: bool,
    pub proto: u8,
}

/// Datagrams in progress; see the module doc.
#[derive(Debug)]
pub(super) struct Defrag {
    opts: DefragOptions,
    map: AHashMap<Key, Datagram>,
    /// (key, generation) in creation order, so expiry and eviction take
    /// the oldest in O(1); entries of datagrams already gone are skipped.
    order: VecDeque<(Key, u64)>,
    next_generation: u64,
    bytes: usize,
    out: Vec<u8>,
    stats: DefragStats,
}

impl Default for Defrag {
    fn default() -> Self {
        Defrag::new(DefragOptions::default())
    }
}

impl Defrag {
    pub fn new(opts: DefragOptions) -> Defrag {
        Defrag {
            opts,
            map: AHashMap::with_hasher(crate::table_hasher()),
            order: VecDeque::new(),
            next_generation: 0,
            bytes: 0,
            out: Vec::new(),
            stats: DefragStats::default(),
        }
    }

    pub fn stats(&self) -> &DefragStats {
        &self.stats
    }

    pub fn datagrams(&self) -> usize {
        self.map.len()
    }

    pub fn bytes_held(&self) -> usize {
        self.bytes
    }

    /// The payload of the datagram the last `insert` completed.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Drop datagrams whose first fragment is `timeout_ns` older than `now`.
    pub fn expire(&mut self, now: Timestamp) {
        while let Some(&(key, generation)) = self.order.front() {
            match self.map.get(&key) {
                Some(d) if d.generation == generation => {
                    if now.since(d.created) < self.opts.timeout_ns {
                        break;
                    }
                    self.remove(&key);
                    self.stats.timed_out += 1;
                }
                _ => {}
            }
            self.order.pop_front();
        }
        self.shrink_after_burst();
    }

    /// Give back the table's room after a burst (a fragment flood): its
    /// spare capacity is bounded by `max_datagrams` but not counted in
    /// `max_bytes`, and would otherwise stay at the burst's size.
    fn shrink_after_burst(&mut self) {
        // Room for twice the live entries, never below a floor; shrinking
        // only past twice that keeps a steady table from rehashing. The
        // order's floor is above what `compact_order` lets stale entries
        // grow it to in steady state (one stuck datagram at its front and
        // 1,024 completed ones behind), so it does not cycle either.
        const MAP_FLOOR: usize = 256;
        const ORDER_FLOOR: usize = 4096;
        let keep = (self.map.len() * 2).max(MAP_FLOOR);
        if self.map.capacity() > 2 * keep {
            self.map.shrink_to(keep);
        }
        let keep = (self.order.len() * 2).max(ORDER_FLOOR);
        if self.order.capacity() > 2 * keep {
            self.order.shrink_to(keep);
        }
    }

    /// Add one fragment captured at `ts`. Returns the completed datagram,
    /// if this fragment completed one (its payload is then [`Self::output`]).
    pub fn insert(&mut self, ts: Timestamp, f: &Fragment<'_>) -> Option<Completed> {
        self.stats.fragments += 1;
        self.expire(ts);
        let policy = if f.v6 {
            self.opts.ipv6_overlap
        } else {
            self.opts.ipv4_overlap
        };
        let mut len = f.data.len();
        if f.more && len % 8 != 0 {
            if f.v6 {
                // RFC 8200 §4.5: such a fragment is discarded.
                self.stats.dropped_malformed += 1;
                return None;
            }
            len &= !7;
        }
        let data = f.data.get(..len)?;
        let start = f.offset;
        let end = start + len;
        let key = Key {
            src: f.src,
            dst: f.dst,
            id: f.id,
            proto: if f.v6 { 0 } else { f.proto },
            tunnel: f.tunnel,
        };
        // IPv6: Linux frees that fragment alone (`ip6_frag_queue`,
        // `end > IPV6_MAXPLEN`), the queue goes on. IPv4: it holds it, and
        // finds the datagram too big when complete (`ip_frag_reasm`) or
        // drops it earlier as inconsistent; fragments meanwhile join it
        // (review round 21). An offset takes 13 bits, so the buffer stays
        // under twice the limit.
        if f.v6 && end > MAX_DATAGRAM_BYTES {
            self.stats.dropped_too_big += 1;
            return None;
        }
        if len == 0 {
            // No data (an IPv4 one cut to none too): Linux drops the whole
            // datagram (`end == offset`, `goto discard_qp` / `discard_fq`
            // since 5.1), and later fragments start a new one; an IPv6
            // first fragment is freed alone before that, as it lacks the
            // transport header (`ipv6frag_thdr_truncated`) (review round 21).
            if !(f.v6 && start == 0) {
                self.remove(&key);
            }
            self.stats.dropped_malformed += 1;
            return None;
        }
        // RFC 1858 §3: a TCP fragment at offset 8 can rewrite the flags of
        // the header another fragment carried; a first fragment shorter
        // than the transport header hides the ports and flags from filters.
        // Linux filters neither on IPv4 (`ip_frag_queue`): it rebuilds a
        // datagram cut after 8 bytes and the server reads it (review round
        // 17), and under its policy a rewriting fragment overlaps and
        // drops the datagram anyway. IPv6 first fragments must hold the
        // transport header (RFC 8200 §4.5, Linux's `ipv6_frag_thdr_truncated`).
        // Linux has no offset-8 rule for IPv6 either: it holds such a
        // fragment, and the first one then overlaps it (review round 21).
        // The IPv6 check walks the extension headers that follow the
        // fragment header too (review round 34).
        let linux = policy == OverlapPolicy::Linux;
        let tiny = match f.proto {
            _ if !f.v6 && linux => false,
            _ if f.v6 && start == 0 && f.more => ipv6_upper_header_cut(f.proto, data),
            IPPROTO_TCP => (start == 8 && !linux) || (start == 0 && f.more && len < 20),
            IPPROTO_UDP => start == 0 && f.more && len < 8,
            _ => false,
        };
        if tiny {
            self.stats.dropped_tiny += 1;
            return None;
        }

        if !self.map.contains_key(&key) {
            if self.opts.max_datagrams == 0 {
                self.stats.dropped_max_datagrams += 1;
                return None;
            }
            while self.map.len() >= self.opts.max_datagrams {
                if !self.drop_oldest(None) {
                    break;
                }
                self.stats.dropped_max_datagrams += 1;
            }
            let generation = self.next_generation;
            self.next_generation += 1;
            self.map.insert(
                key,
                Datagram {
                    buf: Vec::new(),
                    covered: Vec::new(),
                    seams: Vec::new(),
                    total: None,
                    proto: f.proto,
                    header_len: f.header_len,
                    fragments: 0,
                    created: ts,
                    generation,
                    v6: f.v6,
                },
            );
            self.bytes += ENTRY_BYTES;
            self.order.push_back((key, generation));
            self.compact_order();
        }

        // At most: the buffer up to `end`, one more range, and the seams
        // it makes (`linux`).
        let (held, seams) = self.map.get(&key).map_or((0, 0), |d| {
            let seams = if policy == OverlapPolicy::Linux {
                new_seams(d, start, end).iter().flatten().count()
            } else {
                0
            };
            (d.buf.len(), seams)
        });
        let grow = end.saturating_sub(held) + RANGE_BYTES + seams * SEAM_BYTES;
        while grow > 0 && self.bytes + grow > self.opts.max_bytes {
            let made_room = self.drop_oldest(Some(&key));
            self.stats.dropped_memcap += 1;
            if !made_room {
                self.remove(&key);
                return None;
            }
        }

        let Defrag {
            map, bytes, stats, ..
        } = self;
        let d = map.get_mut(&key)?;
        d.fragments += 1;
        let mut drop = d.fragments > self.opts.max_fragments_per_datagram;
        if drop {
            stats.dropped_max_fragments += 1;
        } else if inconsistent(d, f.more, end) {
            stats.dropped_malformed += 1;
            drop = true;
        }
        if !drop {
            let (overlapped, different) = overlap(d, start, data);
            if overlapped {
                stats.overlaps += 1;
                if different {
                    stats.overlaps_different += 1;
                }
                // Within one range, and for Linux within one run.
                let duplicate = d.covered.iter().any(|&(s, e)| s <= start && end <= e)
                    && !(policy == OverlapPolicy::Linux
                        && d.seams.iter().any(|&seam| start < seam && seam < end));
                if policy == OverlapPolicy::Linux && duplicate {
                    // Ignored, the first bytes kept: nothing else changes.
                    return None;
                }
                drop = match policy {
                    OverlapPolicy::DropAny | OverlapPolicy::Linux => true,
                    OverlapPolicy::DropDifferent => different,
                    OverlapPolicy::First | OverlapPolicy::Last => false,
                };
                if drop {
                    stats.dropped_overlap += 1;
                }
            }
        }
        if drop {
            self.remove(&key);
            return None;
        }

        if !f.more {
            d.total = Some(end);
        }
        if start == 0 {
            d.proto = f.proto;
            d.header_len = f.header_len;
        }
        let before = d.cost();
        if d.buf.len() < end {
            // Exactly: `max_bytes` counts lengths, and amortized growth
            // could hold up to twice that. A datagram grows at most 128
            // times (`max_fragments_per_datagram`), so the copies stay small.
            d.buf.reserve_exact(end - d.buf.len());
            d.buf.resize(end, 0);
        }
        if policy == OverlapPolicy::Last {
            copy(&mut d.buf, start, data, start, end);
        } else {
            // First (or an identical overlap): fill only the holes.
            let mut pos = start;
            for &(s, e) in &d.covered {
                if e <= pos {
                    continue;
                }
                if s >= end {
                    break;
                }
                if s > pos {
                    copy(&mut d.buf, start, data, pos, s);
                }
                pos = pos.max(e);
            }
            if pos < end {
                copy(&mut d.buf, start, data, pos, end);
            }
        }
        if policy == OverlapPolicy::Linux {
            for seam in new_seams(d, start, end).into_iter().flatten() {
                d.seams.reserve_exact(1);
                d.seams.push(seam);
            }
        }
        cover(&mut d.covered, start, end);
        *bytes = *bytes - before + d.cost();

        let complete = d.total.is_some_and(|t| d.covered == [(0, t)]);
        if !complete {
            return None;
        }
        let d = self.map.remove(&key)?;
        self.bytes -= d.cost();
        if d.buf.len() + d.header_len > MAX_DATAGRAM_BYTES {
            // The IP length field cannot say it: the ping of death.
            self.stats.dropped_too_big += 1;
            return None;
        }
        self.out = d.buf;
        self.stats.reassembled += 1;
        Some(Completed {
            v6: d.v6,
            proto: d.proto,
        })
    }

    fn remove(&mut self, key: &Key) {
        if let Some(d) = self.map.remove(key) {
            self.bytes -= d.cost();
        }
    }

    /// Drop the oldest datagram, unless it is `keep`. False when there was
    /// nothing (else) to drop.
    fn drop_oldest(&mut self, keep: Option<&Key>) -> bool {
        while let Some(&(key, generation)) = self.order.front() {
            let live = self
                .map
                .get(&key)
                .is_some_and(|d| d.generation == generation);
            if live {
                if keep == Some(&key) {
                    return false;
                }
                self.remove(&key);
                self.order.pop_front();
                return true;
            }
            self.order.pop_front();
        }
        false
    }

    /// Keep `order` within twice the live datagrams (entries of completed
    /// or dropped datagrams linger until they reach the front).
    fn compact_order(&mut self) {
        if self.order.len() > 2 * self.map.len() + 1024 {
            let map = &self.map;
            self.order
                .retain(|(k, g)| map.get(k).is_some_and(|d| d.generation == *g));
        }
    }
}

/// Whether an IPv6 first fragment (`data`, after the fragment header whose
/// next header is `nh`) lacks part of the headers through the upper-layer
/// one, as Linux's `ipv6frag_thdr_truncated` finds it: the extension
/// headers walked as `ipv6_skip_exthdr` walks them (a header it cannot
/// read, or No Next Header, ends the check with "not cut"), then the TCP
/// (20), UDP (8) or ICMPv6 (8) header, or one byte of any other.
fn ipv6_upper_header_cut(mut nh: u8, data: &[u8]) -> bool {
    const HOPOPTS: u8 = 0;
    const ROUTING: u8 = 43;
    const FRAGMENT: u8 = 44;
    const AH: u8 = 51;
    const ICMPV6: u8 = 58;
    const NONE: u8 = 59;
    const DSTOPTS: u8 = 60;
    let mut at: usize = 0;
    loop {
        let Some(&[next, len_field]) = data.get(at..at.saturating_add(2)) else {
            if matches!(nh, HOPOPTS | ROUTING | FRAGMENT | AH | NONE | DSTOPTS) {
                return false;
            }
            break;
        };
        let len = match nh {
            NONE => return false,
            HOPOPTS | ROUTING | DSTOPTS => (usize::from(len_field) + 1) * 8,
            AH => (usize::from(len_field) + 2) * 4,
            FRAGMENT => {
                let Some(&[hi, lo]) = data.get(at.saturating_add(2)..at.saturating_add(4)) else {
                    return false;
                };
                if u16::from_be_bytes([hi, lo]) & 0xfff8 != 0 {
                    // Not a first fragment: not checked.
                    return false;
                }
                8
            }
            _ => break,
        };
        nh = next;
        at = at.saturating_add(len);
    }
    let upper = match nh {
        IPPROTO_TCP => 20,
        IPPROTO_UDP | ICMPV6 => 8,
        _ => 1,
    };
    at.saturating_add(upper) > data.len()
}

/// A fragment that contradicts what the datagram already knows.
fn inconsistent(d: &Datagram, more: bool, end: usize) -> bool {
    let held_end = d.covered.last().map_or(0, |&(_, e)| e);
    match (more, d.total) {
        // A second last fragment with another end, or data past the end.
        (false, Some(t)) => t != end,
        (false, None) => held_end > end,
        (true, Some(t)) => end > t,
        (true, None) => false,
    }
}

/// Whether `data` at `start` overlaps held bytes, and whether they differ.
fn overlap(d: &Datagram, start: usize, data: &[u8]) -> (bool, bool) {
    let end = start + data.len();
    let (mut overlapped, mut different) = (false, false);
    for &(s, e) in &d.covered {
        let (os, oe) = (s.max(start), e.min(end));
        if os < oe {
            overlapped = true;
            if d.buf.get(os..oe) != data.get(os - start..oe - start) {
                different = true;
            }
        }
    }
    (overlapped, different)
}

/// Where a fragment `start..end` that overlaps nothing held meets held
/// bytes when Linux makes it a run of its own: placed below the tail (the
/// highest bytes held) rather than appended to it (`inet_frag_queue_insert`).
fn new_seams(d: &Datagram, start: usize, end: usize) -> [Option<usize>; 2] {
    let below_tail = d
        .covered
        .last()
        .is_some_and(|&(_, tail_end)| end <= tail_end);
    let meets = |at: usize| {
        (below_tail && d.covered.iter().any(|&(s, e)| s == at || e == at)).then_some(at)
    };
    [meets(start), meets(end)]
}

/// Copy `data` (which sits at `start`) bytes `from..to` into `buf`.
fn copy(buf: &mut [u8], start: usize, data: &[u8], from: usize, to: usize) {
    if let (Some(dst), Some(src)) = (buf.get_mut(from..to), data.get(from - start..to - start)) {
        dst.copy_from_slice(src);
    }
}

/// Add `start..end` to the sorted, merged ranges, in place. Capacity grows
/// one range at a time, so it never exceeds the most ranges held at once
/// plus one (what `max_bytes` counts, without amortized doubling).
fn cover(covered: &mut Vec<(usize, usize)>, start: usize, end: usize) {
    covered.reserve_exact(1);
    covered.push((start, end));
    covered.sort_unstable();
    let mut kept: usize = 0;
    for i in 0..covered.len() {
        let Some(&(s, e)) = covered.get(i) else { break };
        match kept.checked_sub(1).and_then(|k| covered.get_mut(k)) {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => {
                if let Some(slot) = covered.get_mut(kept) {
                    *slot = (s, e);
                }
                kept += 1;
            }
        }
    }
    covered.truncate(kept);
}

#[cfg(test)]
#[path = "defrag_tests.rs"]
mod tests;
