//! Reassembly: TCP flows and in-order byte streams, per direction.
//!
//! Owns the [`FlowTable`] (symmetric [`FlowKey`], caps on flows and buffered
//! bytes, idle timeouts driven by capture timestamps) and one assembler per
//! direction (out-of-order buffering, retransmissions, overlaps with a
//! Linux's overlap policy, gaps, FIN/RST, sequence wrap-around).
//! Knows only [`decode`](crate::decode). Hands on, through a
//! [`StreamHandler`], in-order data, gaps and flow ends, together with a
//! per-flow user state `S` that the table stores beside the flow.
//!
//! The observer is passive (a mirror port): it may miss packets, see one
//! direction only, and the sender picks every number. Nothing here panics on
//! wire data and everything that grows is capped.
//!
//! # Guarantees
//! - Per direction, bytes are handed on in stream order, each offset at most
//!   once; a byte never seen is reported exactly once inside an
//!   [`on_gap`](StreamHandler::on_gap) of the right length.
//! - In-order data is passed straight from the segment (no copy); only
//!   out-of-order data is copied and buffered.
//! - `on_end` is called exactly once per flow; `FlowInfo::id` is unique and
//!   increasing within a table.
//! - The [`Stamp`] given with data holds the capture time of the segment that
//!   carried its first byte and that byte's sequence number (the same when a
//!   restart reads the byte again).
//!
//! # Sequence numbers (RFC 9293 §3.4)
//! Each direction maps 32-bit sequence numbers to a 64-bit stream offset from
//! its first data byte, comparing with wrapping arithmetic within half the
//! number space around the next expected byte. A segment more than 2^31
//! bytes behind is old; one up to 2^31 ahead is out of order.
//!
//! # Roles and stream start
//! - SYN without ACK: its sender is the client, `handshake_seen` is set and
//!   that direction's data starts at ISN + 1. A SYN's payload (TCP Fast Open,
//!   RFC 7413) is data.
//! - SYN+ACK: its sender is the server; its direction starts at ISN + 1.
//! - Midstream pickup (no SYN seen): the first segment with payload (or FIN)
//!   in a direction fixes that direction's start. The endpoint with the lower
//!   port is guessed to be the server; with equal ports, the destination of
//!   the first segment. Data sent before that point is lost to us.
//!   The peer's word decides here too: a start fixed by a side's own first
//!   data is provisional, since that data may be forged (a made-up sequence
//!   number, a TTL too low to reach the receiver) so that the real bytes
//!   read as old, or the real request as far-off data behind a forged head.
//!   Until the peer's ACK decides, the side's data segments are also
//!   copied, in arrival order, with their FIN (bounded like one direction's
//!   out-of-order buffer, charged to the memcap; all copies together keep to
//!   a quarter of it, since a one-sided capture never shows the ACKs that
//!   would free them). The peer's ACK ends a run
//!   of the copied bytes, the one holding the byte before it (a FIN counts
//!   as a byte): a run starting where the side started confirms the start;
//!   one starting anywhere else disowns it (`midstream_start_corrected`),
//!   and that side starts again in place at the run: its consumer is told
//!   (`StreamHandler::on_restart`: the HTTP parser of that direction starts
//!   afresh; the request/response pairing forgets what that side's
//!   disowned bytes queued or answered; roles, tunnels and tunnel probes
//!   they decided are decided again), the copies are read again in
//!   arrival order (overlaps read as in any flow), then the ACK's
//!   segment. The flow, its id and the
//!   other direction go on untouched, so correcting one side never cuts
//!   what the other is sending, with one exception: when the disowned
//!   bytes had made their side the client (forged server-side data that
//!   looks like a request), the other side's bytes were parsed as
//!   responses, so its consumer asks (`Reread::Both`) for it to be read
//!   again from its start. For that, a side confirmed while its peer is
//!   still provisional keeps its copies (and goes on copying) until the
//!   peer is decided; both sides' copies are then read in arrival order
//!   (`midstream_reread_both`). An ACK that no run ends decides nothing: a
//!   run ending below it proves nothing (forged bytes below a hole look
//!   like the first part of a stream whose rest was not captured). This
//!   does not depend on which side was guessed to be the server. Copies
//!   past the caps (forged segments can fill them:
//!   `midstream_stash_full`) are dropped and the peer's next ACKs decide on
//!   their numbers alone: one within what was read in order confirms the
//!   start; one past it moves the side to the ACK (the peer took other
//!   bytes than a forged head below them); one below the start may be in
//!   flight from before the pickup, so only a second, later one below it
//!   moves the side there, and only past the first byte of a segment of
//!   that side read as old (a bulk upload picked up midstream shows such
//!   in-flight ACKs of bytes sent before the pickup, none of them seen).
//!   The peer's ACKs can be forged too (a forged ACK of forged first data
//!   confirms it): a side started by its own data stays watched once
//!   confirmed. Its copies out of its range (below its start, or past what
//!   it read by more than one direction's buffer) are kept through the
//!   confirmation, its later segments there are copied (the newest 64 KiB
//!   of them, within the copies' budget; a side whose copies were lost stays
//!   watched), and a later ACK of the peer outside what was read that ends a
//!   run of them starts the side again there, as a correction (no real receiver acknowledges below an ACK it
//!   already sent, so one of the two was forged; the bytes read before stay
//!   read). When watched bytes were lost (pushed out by newer ones, or over
//!   the budget), such an ACK that ends no run moves the side to its number
//!   (what came before is lost, not the rest of the connection). An ACK past
//!   what was read while the side holds bytes out of order past it is no
//!   correction: the capture lost or reordered what lies between (more than
//!   one direction's buffer), and the ACK skips it as a gap, as on any flow
//!   (review rounds 13–14; the real stream behind a forged start read as far
//!   ahead is held too, and read after the gap). Known
//!   limits: a watched side whose copies were lost is moved by one in-flight
//!   ACK of the peer below its start (a bulk upload picked up midstream when
//!   the copies' budget is spent restarts after a gap; review round 14, its
//!   test kept aside: such an ACK looks like the server's first ACK of a
//!   request whose copy was lost, and waiting for a second one, tried in
//!   session 26, loses the next request when the budget is spent, which
//!   `review13_an_evicted_mark_survives_a_segment_before_the_peers_ack`
//!   forbids); a client that forges the server's ACKs can move its side back
//!   and forth between runs it sent, each move a counted correction, so
//!   that a request read across two moves is read in two parts; one that
//!   pushes its request out of the watched copies (64 KiB out of range
//!   sent after it, before the server's ACK) loses that request. Either loses what came before, not the rest of
//!   the connection. A believed RST from a provisional side holds the flow
//!   as usual, but any later data of that side resumes it (it may be the
//!   real stream), as does a watched side's data out of its range (review
//!   round 13); a FIN from before its start is not taken (it may end the
//!   real stream read as old), only copied. Known limits: forged bytes
//!   placed right before the real ones without a hole are read with them,
//!   and forged bytes sent ahead of the real continuation win over it (the
//!   classic insertion, as in any flow); an ACK that decides nothing
//!   re-examines up to 1,024 copies (only when it differs from the last one
//!   that decided nothing); bytes lost to the capture between a side's
//!   first data and the run the first ACK ends read like a disowned start:
//!   the side restarts at that run (counted as a correction; as after a
//!   gap, each byte is read once); bytes read before a restart that the
//!   restarted side reads again (segments reordered at the pickup) are
//!   inspected twice (so are the requests before a tunnel that a restart
//!   closes, the other side being read again), so an attack among them can
//!   give two rows; both carry one `request_key` (the [`Stamp`] names the
//!   bytes), and `attacks` collapses them as it does a retried insert; a side whose copies overflowed before a restart that
//!   asks for it is not read again (`midstream_reread_unavailable`: a
//!   client can push the attack past its copies' cap with a long body
//!   first); a client whose first captured bytes are
//!   no request (the tail of a body) can make forged server-side data that
//!   looks like a request turn the roles, and keep them turned by never
//!   acknowledging the server's real bytes (its requests are then read as
//!   responses: the one case where the HTTP roles rest on a side no ACK
//!   ever decides); a side confirmed while its peer has not spoken keeps
//!   only its first 64 KiB of copies until the peer is decided; with the
//!   copies full, forged ACKs can
//!   restart a side at a point they pick (the other side goes on), and a
//!   bulk upload whose in-flight ACKs advance twice below the start is
//!   restarted at the second one (only past 1,024 segments without an ACK
//!   inside what was read).
//! - PAWS (RFC 7323 §5): a client segment (not a SYN or RST) whose TSval
//!   is more than 1 behind the newest TSecr the server sent is dropped
//!   (`ignored_segments`), as the server's `tcp_validate_incoming` drops
//!   it before reading its bytes: a forged copy with an old timestamp is
//!   not read in place of the real one (review round 23). Only the
//!   server's echoes count (forged packets come from the client's side),
//!   and only the client's segments are checked; a server packet forged
//!   with a TSecr far ahead would blind the sensor to the client. Until
//!   the client's ACK completes the handshake the window is 0, not 1 (the
//!   server's request socket: `tcp_check_req`, `tcp_paws_reject`).
//! - Segments without payload (pure ACK, FIN, RST) of an unknown flow create
//!   nothing and are counted in `ignored_segments`; SYNs and data create flows.
//! - A SYN starts its side only in its place in a handshake (a SYN before
//!   the other side spoke, a SYN-ACK from the server); out of place (a
//!   SYN-ACK from the client) it fixes nothing. A SYN with another ISN
//!   replaces the start of its side while nothing of that side was read and
//!   the peer has not answered; otherwise it is ignored (a real endpoint
//!   sends a challenge ACK, RFC 9293 §3.10.7.4). A SYN on a lingering
//!   closed 4-tuple (port reuse) starts a new flow with a new id.
//! - The server's SYN-ACK says which client ISN the server took, and has
//!   the last word (forged packets come from the client's side; the
//!   server's are taken as genuine). It agrees when it acknowledges the
//!   client's start, or the start plus the data of the SYN that fixed it
//!   (TCP Fast Open); a SYN-ACK of the start alone after the SYN's data was
//!   read refuses that data (Linux takes it only on a Fast Open server with
//!   a valid cookie; review round 16: a benign request on the SYN hid the
//!   attack sent after the handshake at the same numbers), unless two SYNs of that side made the reading
//!   ambiguous (one's data ending where the other starts, or both ending
//!   together: forged data crafted to read as Fast Open data of the real
//!   connection). Otherwise the client's side restarts at the acknowledged
//!   number while nothing of it was read, or the flow ends (`Superseded`)
//!   and a new one starts at the SYN-ACK. A flow started by a SYN-ACK has
//!   its client side pinned at the acknowledged number, so forged data
//!   below it is old. A SYN-ACK from the side taken for the client is the
//!   server's when the other side sent a pure SYN, which only a client
//!   does (roles reversed by forged data from a low port, by a SYN-ACK the
//!   client forged first, or by a client's data captured before its SYN
//!   to a server on a higher port): while nothing of its side was read,
//!   the flow is superseded by one with the roles it gives; any other
//!   SYN-ACK from the client's side is ignored (the client could forge
//!   it). Each correction counts `isn_corrected`.
//!   Known limits, all with Fast Open, which few HTTP clients and servers
//!   enable: the Fast Open data of a real SYN is not read when a forged SYN
//!   with data came first, or when the capture shows the SYN-ACK before the
//!   SYN; a forged SYN whose ISN follows the real Fast Open data splits the
//!   request in two flows (`Superseded`). On a one-sided capture (no
//!   server packet ever seen), a new connection reusing the 4-tuple after
//!   the client's FIN is still read as the old one: its SYN waits for a
//!   SYN-ACK the capture never shows, so its data is read only when its
//!   ISN lies above the old stream (data numbered below it is old bytes).
//!   Taking such a SYN as a new connection would let a FIN and SYN the
//!   server never receives (checksums are not verified) end the real
//!   stream's view, which the server goes on reading.
//!
//! # Overlaps: as Linux reads them
//! Bytes already delivered are never replaced by a later copy. A segment
//! carrying the next expected byte is read whole, over buffered copies of
//! its bytes (Linux's `tcp_data_queue` then drops them); among buffered
//! copies, a later one that starts lower, or at the same place and reaches
//! further, replaces the held bytes (`tcp_data_queue_ofo`; judged on where
//! each held copy's whole segment started and ended, not the part of it
//! kept, review round 29), any other
//! keeps them (review round 16: first data won, and a benign copy sent
//! ahead hid the attack the server read). A segment whose bytes overlap buffered data with different content
//! counts `overlap_different_data` (Suricata's check-overlap-different-data);
//! overlaps count `overlap_segments`. A segment that is entirely old counts
//! `retransmitted_segments` and is dropped; a partially new one delivers only
//! its new part. Re-sent bytes that were already *delivered* are compared
//! with fingerprints (offset, length, hash) of the last 3 delivered segments
//! per direction: a copy that fully covers one of them with different bytes
//! counts `overlap_different_data` too. Older or partially covering copies
//! cannot be compared (no window of delivered bytes is kept, to keep flows small).
//!
//! # Gaps
//! A hole in a direction is skipped (`on_gap(len)`, then what follows is
//! delivered; `gaps` and `gap_bytes` count it) when:
//! - that direction buffers more than `max_buffered_bytes_per_flow` bytes or
//!   more than 1024 separate chunks (`per_flow_cap_hits`, once per segment);
//! - the table buffers more than `memcap_bytes` (`memcap_hits`): the flow
//!   receiving the segment skips its holes until the table is back under the
//!   cap, so `buffered_bytes()` never exceeds the memcap between calls (and
//!   by at most one segment within one);
//! - the peer acknowledges bytes beyond the hole while we hold later data
//!   (the bytes were sent and received, our capture lost them): we skip up to
//!   the ACK, but never beyond the end of the data we hold;
//! - the flow ends for any reason: everything buffered is flushed, each hole
//!   reported as a gap.
//!
//! # Ends
//! - FIN: data up to the FIN is delivered as it completes; when both
//!   directions have delivered everything up to their FIN the flow is held
//!   with its state for `closed_linger_ns` (5 s, on its own list), then
//!   ends with [`EndReason::Fin`] and lingers. A FIN with a TTL too low
//!   never reaches the receiver, and two forged FINs, one each way (the
//!   server's goes towards the attacker itself), would otherwise end our
//!   view of a connection the server keeps open: data at or just past a
//!   side's FIN, or past what the side read (within one direction's
//!   buffer), during the hold disproves that FIN and resumes the flow with
//!   its state (`fin_resumed`), so a request split around forged FINs stays
//!   whole (review round 10); so does any data of a provisional side, or
//!   of a confirmed midstream side out of its range (it may be the real
//!   stream behind forged first data that carried a FIN, rounds 11–12). A FIN before bytes the side already read is not taken (a
//!   real sender sends nothing after it). RSTs
//!   and SYNs do not end the hold, the server's SYN-ACK of a new connection
//!   on the 4-tuple does (as after an RST); other data is a late
//!   retransmission and ignored. Held flows give way first when room is
//!   needed. A flow with one FIN that then goes idle ends with `Fin` (and
//!   counts `flows_timed_out`). The first FIN of a direction fixes its end;
//!   bytes sent after it are still handed on (a receiver would drop them,
//!   but showing them can only add detections, not hide any). Known limit:
//!   an attacker who waits out the hold (5 s without a byte) splits the
//!   request; what follows lingers ignored for `closed_linger_ns` more, then
//!   is picked up as a new midstream flow.
//! - RST: believed when its sequence number is exactly the next expected
//!   byte of its direction (one more after a FIN), or that direction is
//!   unknown; otherwise it is ignored (`ignored_segments`), as RFC 5961
//!   receivers (Linux, the BSDs, macOS, current Windows) answer it with a
//!   challenge ACK: a forged RST, in the window or not, cannot blind us to a
//!   connection that goes on. A believed RST does not end the flow at once:
//!   the flow is held with its state (buffered data, the handler's `S`) for
//!   `rst_hold_ns` (60 s), on its own list. An exact RST may still never reach
//!   the receiver (a TTL too low, a checksum its stack drops: the classic
//!   insertion); new data or a FIN from the side that sent the RST, in that
//!   time, resumes the flow where it was (`rst_resumed`), so a request split
//!   around such an RST stays whole. The other side's segments are fed as
//!   usual meanwhile (a response in flight) without resuming it. Otherwise
//!   it is flushed and ends with `Rst` when the hold is over, at the
//!   server's SYN-ACK of a new connection on its 4-tuple (a SYN alone can be
//!   forged like the RST, with a made-up ISN, and is ignored), or earlier
//!   when room is needed: held flows give way before open ones, both at
//!   `max_flows` and when the handler is over its memory budget. Known
//!   limits: an attacker who waits out the hold (longer than the default
//!   read timeout of nginx and Apache, which then close the connection
//!   themselves), or who can fill the table or the handler's budget, still
//!   splits the request (what follows is picked up as a new midstream
//!   flow, below).
//! - A flow ended by FIN or RST lingers `closed_linger_ns` (capture time) so
//!   late retransmissions and ACKs are ignored instead of creating a new
//!   midstream flow. Exception: data after an RST starts a new midstream flow
//!   (`data_after_rst`): the receiver may have dropped the RST (bad checksum,
//!   a stack that ignores it), and a sensor that believed it must not go
//!   blind to the rest of the connection. A SYN on such an entry is a new
//!   connection only after a FIN; after an RST only the server's SYN-ACK is.
//! - Idle for `idle_timeout_ns` of capture time: `IdleTimeout`. Time only
//!   moves forward: `process` expires flows when a segment's timestamp is the
//!   latest seen, `advance_time` does so explicitly.
//! - At `max_flows` entries (open, held and lingering), creating a flow first
//!   drops the oldest lingering entry, else ends the oldest held flow (`Rst`),
//!   else evicts the least recently seen open flow (`Evicted`,
//!   `flows_evicted`). With `max_flows == 0` nothing is tracked.
//! - `end_all`: every held flow ends with `Rst`, every open one with
//!   `Shutdown`.
//!
//! # Memory
//! Per flow: the slab entry (488 bytes on 64-bit, of which 96 are the
//! fingerprints of recently delivered segments, 32 the last hole skipped
//! and 16 the pending urgent byte and 16 the urgent pointers seen before the start in each direction; checked by a test) and its map entry (about 50 bytes) plus `S` plus its buffered
//! out-of-order chunks. `buffered_bytes()` (what `memcap_bytes` bounds)
//! counts payload bytes held plus 80 per chunk for its allocation and map
//! slot, so a flood of 1-byte segments is charged what it costs; the
//! per-direction cap counts payload and 1024 chunks. Idle expiry and eviction take O(1) per flow
//! affected (least-recently-seen lists); nothing scans the table.
//!
//! # Known gaps
//! Receive windows and window scaling are not tracked, so an out-of-order
//! segment up to 2^31 bytes ahead is accepted and buffered (bounded by the
//! caps). FIXME: a sender can therefore push junk far ahead until a cap
//! skips the hole, making the real bytes of the hole look old (they are then
//! dropped as retransmissions); the gap is reported, and the real bytes
//! arriving after it count `late_data_in_gap`, so the loss is visible.
//! Urgent data follows Linux's default: the byte before the newest urgent
//! pointer is taken out of the stream (`urgent_pointers`), as the server's
//! `recv` skips it; which pointer is newest when the application reads is
//! timing the capture cannot see, so a sender who sends several close
//! together may make the server read one of them inline.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod assembler;
mod seq;
mod table;
#[cfg(test)]
mod tests;

pub use table::FlowTable;

use std::net::IpAddr;

use crate::capture::Timestamp;
use crate::decode::TcpSegment;

/// One side of a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// Symmetric flow key: both directions of a connection give the same key
/// (`lo` is the smaller endpoint). `tunnel` is the segment's tunnel
/// identity ([`TcpSegment::tunnel`]): the same 4-tuple in two mirrored
/// networks (two VNIs, GRE keys, ERSPAN sessions) is two flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub lo: Endpoint,
    pub hi: Endpoint,
    pub tunnel: u64,
}

impl FlowKey {
    /// The key of an untunnelled connection between `a` and `b`.
    pub fn new(a: Endpoint, b: Endpoint) -> FlowKey {
        FlowKey::with_tunnel(a, b, 0)
    }

    pub fn with_tunnel(a: Endpoint, b: Endpoint, tunnel: u64) -> FlowKey {
        if a <= b {
            FlowKey {
                lo: a,
                hi: b,
                tunnel,
            }
        } else {
            FlowKey {
                lo: b,
                hi: a,
                tunnel,
            }
        }
    }

    pub fn of_segment(seg: &TcpSegment<'_>) -> FlowKey {
        FlowKey::with_tunnel(
            Endpoint {
                ip: seg.src,
                port: seg.src_port,
            },
            Endpoint {
                ip: seg.dst,
                port: seg.dst_port,
            },
            seg.tunnel,
        )
    }

    /// A hash that is the same for both directions, for every run and every
    /// version, part of each record's `request_key` (the key ClickHouse
    /// deduplicates on, so a capture read again gives the same keys). FNV-1a
    /// over the canonical key; the tunnel identity only when there is one,
    /// so untunnelled keys hash as they always did.
    pub fn stable_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for ep in [self.lo, self.hi] {
            match ep.ip {
                IpAddr::V4(v4) => eat(&v4.octets()),
                IpAddr::V6(v6) => eat(&v6.octets()),
            }
            eat(&ep.port.to_be_bytes());
        }
        if self.tunnel != 0 {
            eat(&self.tunnel.to_be_bytes());
        }
        h
    }

    /// The hash that picks a flow's worker: the same for both directions
    /// and every run, and cheap, since the capture thread computes it for
    /// every segment (a few multiplications over whole words, where
    /// [`Self::stable_hash`] takes one per byte). Not keyed: which worker
    /// a flow lands on is no secret, and the flow tables the workers keep
    /// hash with a random key of their own.
    pub fn worker_hash(&self) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        let (lo, hi) = (bits(self.lo.ip), bits(self.hi.ip));
        let ports = (u64::from(self.lo.port) << 16) | u64::from(self.hi.port);
        let mut h = self.tunnel;
        for w in [
            lo as u64,
            (lo >> 64) as u64,
            hi as u64,
            (hi >> 64) as u64,
            ports,
        ] {
            h = (h ^ w).wrapping_mul(K);
            h ^= h >> 29;
        }
        h
    }
}

/// Direction of a byte stream relative to the roles reassembly assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the endpoint reassembly believes is the client.
    ToServer,
    /// From the endpoint reassembly believes is the server.
    ToClient,
}

impl Direction {
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}

/// What the table knows of a flow, handed to the [`StreamHandler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowInfo {
    /// Unique within one `FlowTable` (a reused 4-tuple gets a new id).
    pub id: u64,
    pub key: FlowKey,
    /// The endpoint believed to be the client: the SYN sender when the
    /// handshake was seen, otherwise a guess (see module docs). Higher layers
    /// may learn better from the content.
    pub client: Endpoint,
    pub server: Endpoint,
    /// True when the flow started with a SYN from the client.
    pub handshake_seen: bool,
    pub first_ts: Timestamp,
    /// The newest TSecr the server sent (0: none yet, or only 0, which
    /// proves nothing): a floor of its `ts_recent`, the newest TSval of
    /// the client it took, which only grows (`tcp_replace_ts_recent` takes
    /// none behind it). The table's PAWS check; kept here, in what was
    /// padding, so a flow's slot does not grow.
    pub(crate) paws_floor: u32,
    /// The floor came from the server's SYN-ACK and the client's ACK that
    /// completes the handshake is not seen yet: the server's request socket
    /// applies PAWS with a window of 0 (`tcp_check_req`, `tcp_paws_reject`),
    /// not the established socket's 1.
    pub(crate) paws_syn_recv: bool,
}

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    Fin,
    Rst,
    IdleTimeout,
    /// Evicted to make room (flow cap or memcap).
    Evicted,
    /// The capture ended (end of file, shutdown).
    Shutdown,
    /// The server's SYN-ACK acknowledged another client ISN than the one
    /// this flow was read from: what was read was never the server's
    /// connection, and a new flow starts at the SYN-ACK.
    Superseded,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::Evicted => "evicted",
            EndReason::Shutdown => "shutdown",
            EndReason::Superseded => "superseded",
        }
    }
}

/// What a consumer asks after a restart ([`StreamHandler::on_restart`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reread {
    /// Only the restarted direction is read again.
    Restarted,
    /// The other direction too, from its start, before anything new: what
    /// was made of it rested on the disowned bytes (they decided which side
    /// is the client, so the other side's requests were read as responses).
    /// Done when the table still holds the other side's copies: a side
    /// confirmed while its peer was provisional keeps them until the peer is
    /// decided (`midstream_reread_both`); otherwise as `Restarted`.
    Both,
}

/// Where a chunk of in-order bytes was seen: the capture time of the
/// segment that carried its first byte, and that byte's sequence number.
/// The sequence number names a byte whatever offset a restart gives it, so
/// a consumer can tell bytes it read again from new ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamp {
    pub ts: Timestamp,
    pub seq: u32,
}

impl Stamp {
    /// The stamp of the byte `n` bytes further on in the same chunk.
    pub fn advanced(self, n: usize) -> Stamp {
        Stamp {
            ts: self.ts,
            // Sequence numbers wrap (RFC 9293 §3.4); so does a chunk's count.
            seq: self.seq.wrapping_add(n as u32),
        }
    }

    /// The stamp of a held buffer of `held` bytes that ends `n` bytes into
    /// a chunk stamped `self`: it may have begun in an earlier chunk (whose
    /// capture time `ts` is).
    pub fn of_held(self, ts: Timestamp, n: usize, held: usize) -> Stamp {
        Stamp {
            ts,
            seq: self.seq.wrapping_add(n as u32).wrapping_sub(held as u32),
        }
    }
}

/// Receives what reassembly produces. `state` is the per-flow user state
/// stored in the table (created with `S::default()` when the flow starts).
pub trait StreamHandler<S> {
    /// In-order bytes of one direction, stamped with the capture time of
    /// the segment that carried the first of them and its sequence number.
    fn on_data(&mut self, flow: &FlowInfo, state: &mut S, dir: Direction, at: Stamp, data: &[u8]);
    /// `len` bytes of one direction will never be seen (lost or skipped).
    fn on_gap(&mut self, flow: &FlowInfo, state: &mut S, dir: Direction, len: u64);
    /// The flow is gone; its state is dropped after this call.
    fn on_end(&mut self, flow: &FlowInfo, state: &mut S, reason: EndReason);
    /// `dir` reached its FIN: every byte before it was delivered (or
    /// reported as a gap), so its sender closed that side. Told once per
    /// FIN, long before the flow ends (the peer may keep its side open, and
    /// a closed flow lingers). Data past the FIN may still disprove it.
    fn on_fin(&mut self, _flow: &FlowInfo, _state: &mut S, _dir: Direction) {}
    /// What was delivered of `dir` so far was not the connection: a
    /// midstream start the peer's ACK disowned (forged first data). The
    /// direction starts again at another point of the stream: its consumer
    /// should finish what it held of it (it was read, it may be inspected)
    /// and take the next bytes as a fresh midstream start. The other
    /// direction goes on, unless the consumer answers [`Reread::Both`]:
    /// what it made of the other direction rested on the disowned bytes.
    fn on_restart(&mut self, flow: &FlowInfo, state: &mut S, dir: Direction) -> Reread;
    /// True while the handler's own per-flow state (parser buffers) is over
    /// its budget: the table then ends its least recently seen flows
    /// (`EndReason::Evicted`, counted in `flows_evicted_memcap`) until it is
    /// not, or only the flow being fed is left.
    fn over_memcap(&self) -> bool {
        false
    }
}

/// Limits of the flow table. Every cap has a counter in [`ReassemblyStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Most flows tracked at once; at the cap the least recently seen flow is
    /// evicted (its buffered data flushed with gaps) and `flows_evicted` counts it.
    pub max_flows: usize,
    /// Most bytes of flow-table memory (the slab of flow entries and the
    /// index); it lowers the effective `max_flows` to what fits, see
    /// `FlowTable::flow_capacity`. Parser buffers are bounded separately
    /// (`memcap_bytes`, `HttpLimits::max_buffered_bytes`).
    pub flow_memcap_bytes: usize,
    /// Most out-of-order bytes buffered per direction of a flow; beyond it the
    /// assembler skips the hole (a gap) and delivers what it holds.
    pub max_buffered_bytes_per_flow: usize,
    /// Most out-of-order bytes buffered in the whole table, each chunk
    /// charged 64 bytes of overhead besides its payload; beyond it new
    /// out-of-order segments force the hole to be skipped (counted).
    pub memcap_bytes: usize,
    /// A flow with no packet for this long (capture time) ends with `IdleTimeout`.
    pub idle_timeout_ns: u64,
    /// A flow whose two sides sent a FIN is held with its state this long
    /// (capture time: data past a FIN resumes it), then, like a flow that
    /// ended with an RST, kept as long again to absorb late retransmissions
    /// without creating a new midstream flow. 0: ends at once, no linger.
    pub closed_linger_ns: u64,
    /// A flow whose RST was believed is held with its state this long
    /// (capture time), in case the RST never reached the receiver: new data
    /// from its sender resumes it. 0 ends such flows at once. The default,
    /// 60 s, is the common servers' default read timeout (nginx
    /// `client_header_timeout` / `client_body_timeout`, Apache `Timeout`):
    /// an attacker who waits out the hold has the connection closed by
    /// such a server too.
    pub rst_hold_ns: u64,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            max_flows: 1_000_000,
            flow_memcap_bytes: 256 << 20,
            max_buffered_bytes_per_flow: 1 << 20,
            memcap_bytes: 64 << 20,
            idle_timeout_ns: 120 * 1_000_000_000,
            closed_linger_ns: 5 * 1_000_000_000,
            rst_hold_ns: 60 * 1_000_000_000,
        }
    }
}

/// Counters, all monotonic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    pub segments: u64,
    pub flows_created: u64,
    pub flows_ended: u64,
    pub flows_evicted: u64,
    /// Flows ended early because the handler's buffers were over budget
    /// (`StreamHandler::over_memcap`).
    pub flows_evicted_memcap: u64,
    pub flows_timed_out: u64,
    pub midstream_pickups: u64,
    pub retransmitted_segments: u64,
    pub out_of_order_segments: u64,
    pub overlap_segments: u64,
    pub overlap_different_data: u64,
    /// Urgent pointers taken: each takes one byte out of the stream, as
    /// the server's `recv` does (see `Assembler::urgent`). HTTP clients
    /// never send urgent data, so any is an evasion attempt.
    pub urgent_pointers: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub per_flow_cap_hits: u64,
    pub memcap_hits: u64,
    /// Segments ignored (no payload on an unknown flow, after close, ...).
    pub ignored_segments: u64,
    /// Data segments after an RST ended the flow, picked up as a new
    /// midstream flow (an RST the receiver ignored must not blind us).
    pub data_after_rst: u64,
    /// Flows that sent new data within `rst_hold_ns` of a believed
    /// RST and were resumed with their state: the RST never reached the
    /// receiver, or was forged to blind a sensor.
    pub rst_resumed: u64,
    /// Flows held after both FINs that sent data past a FIN and were
    /// resumed with their state: the FIN never reached the receiver, or
    /// was forged to blind a sensor.
    pub fin_resumed: u64,
    /// Server SYN-ACKs that acknowledged another client ISN than the flow
    /// had started at (an earlier SYN forged with a made-up ISN, or re-sent
    /// with a new one): the client's side moved to the acknowledged start,
    /// or, when some of it was already read, the flow ended (`Superseded`)
    /// and a new one started.
    pub isn_corrected: u64,
    /// Flows picked up midstream where a side's start, fixed by its first
    /// data, was disowned by the peer acknowledging bytes of that side from
    /// before it (forged first data with a made-up sequence number, or
    /// reordering or loss at the pickup): that side started again in place
    /// at the acknowledged run (`StreamHandler::on_restart`) and read its
    /// copied bytes again from there.
    pub midstream_start_corrected: u64,
    /// Provisional midstream sides whose copies reached the per-flow or
    /// table cap before the peer's ACK decided: taken as they were.
    pub midstream_stash_full: u64,
    /// Restarts after which the other direction was read again from its
    /// start too, at its consumer's request ([`Reread::Both`]).
    pub midstream_reread_both: u64,
    /// Restarts whose consumer asked for the other direction to be read
    /// again when its copies were not there (over a cap, never kept, or
    /// that side still undecided): what was made of it stands.
    pub midstream_reread_unavailable: u64,
    /// Segments carrying bytes of a hole already skipped as a gap: the
    /// receiver may have taken them, but they arrived too late to be
    /// inspected (the trace of an attacker forcing a skip, or of reordering
    /// beyond the caps).
    pub late_data_in_gap: u64,
}
