//! Caps and edge cases of the defragmenter, driven with `Fragment`s.

use std::net::{IpAddr, Ipv4Addr};

use super::*;

fn frag(id: u32, offset: usize, more: bool, data: &[u8]) -> Fragment<'_> {
    Fragment {
        v6: false,
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        id,
        proto: 17,
        offset,
        more,
        data,
        tunnel: 0,
        header_len: 20,
    }
}

fn opts(f: impl FnOnce(&mut DefragOptions)) -> Defrag {
    let mut o = DefragOptions::default();
    f(&mut o);
    Defrag::new(o)
}

const T: Timestamp = Timestamp(0);

/// What `max_bytes` counts for a datagram with `bytes` of buffer and
/// `ranges` of range capacity.
fn cost(bytes: usize, ranges: usize) -> usize {
    ENTRY_BYTES + bytes + ranges * RANGE_BYTES
}

#[test]
fn completes_and_reuses_nothing_stale() {
    let mut d = Defrag::default();
    assert!(d.insert(T, &frag(1, 0, true, &[1; 16])).is_none());
    assert_eq!((d.datagrams(), d.bytes_held()), (1, cost(16, 1)));
    let c = d.insert(T, &frag(1, 16, false, &[2; 5])).unwrap();
    assert!(!c.v6 && c.proto == 17);
    assert_eq!(d.output(), [[1u8; 16].as_slice(), &[2; 5]].concat());
    assert_eq!((d.datagrams(), d.bytes_held()), (0, 0));
}

#[test]
fn tunnel_identity_is_part_of_the_key() {
    let mut d = Defrag::default();
    let mut a = frag(1, 0, true, &[1; 16]);
    a.tunnel = 5;
    assert!(d.insert(T, &a).is_none());
    let mut b = frag(1, 16, false, &[2; 4]);
    b.tunnel = 6;
    assert!(d.insert(T, &b).is_none());
    assert_eq!(d.datagrams(), 2);
    b.tunnel = 5;
    assert!(d.insert(T, &b).is_some());
}

#[test]
fn max_datagrams_drops_the_oldest() {
    let mut d = opts(|o| o.max_datagrams = 2);
    for id in 0..3 {
        d.insert(Timestamp(id.into()), &frag(id, 0, true, &[0; 8]));
    }
    assert_eq!(d.datagrams(), 2);
    assert_eq!(d.stats().dropped_max_datagrams, 1);
    // Datagram 0 is gone: its tail completes nothing; 2 completes.
    assert!(d.insert(T, &frag(0, 8, false, &[0; 8])).is_none());
    assert!(d.insert(T, &frag(2, 8, false, &[0; 8])).is_some());
    let mut z = opts(|o| o.max_datagrams = 0);
    assert!(z.insert(T, &frag(1, 0, false, &[0; 8])).is_none());
    assert_eq!(z.stats().dropped_max_datagrams, 1);
}

#[test]
fn memcap_drops_oldest_then_the_datagram_that_cannot_fit() {
    // Room for one datagram of 64 bytes in two fragments (two ranges of
    // capacity before they merge), not for two of 40.
    let mut d = opts(|o| o.max_bytes = cost(64, 2));
    d.insert(T, &frag(1, 0, true, &[0; 40]));
    d.insert(T, &frag(2, 0, true, &[0; 40]));
    assert_eq!((d.datagrams(), d.bytes_held()), (1, cost(40, 1)));
    assert_eq!(d.stats().dropped_memcap, 1);
    // At the cap exactly: fits.
    assert!(d.insert(T, &frag(2, 40, false, &[0; 24])).is_some());
    // Alone bigger than the cap: dropped.
    d.insert(T, &frag(3, 0, true, &[0; 96]));
    assert_eq!((d.datagrams(), d.bytes_held()), (0, 0));
    assert_eq!(d.stats().dropped_memcap, 2);
}

#[test]
fn fragment_count_size_and_consistency_limits() {
    let mut d = opts(|o| o.max_fragments_per_datagram = 2);
    d.insert(T, &frag(1, 0, true, &[0; 8]));
    d.insert(T, &frag(1, 8, true, &[0; 8]));
    assert!(d.insert(T, &frag(1, 16, false, &[0; 8])).is_none());
    assert_eq!((d.stats().dropped_max_fragments, d.datagrams()), (1, 0));

    let mut d = Defrag::default();
    // 65,528 + 16 > 65,535: ping of death, held as Linux holds it, never
    // completed (review21a_an_ipv4_fragment_past_65535_dooms_the_datagram_as_linux_does).
    d.insert(T, &frag(1, 0, true, &[0; 8]));
    assert!(d.insert(T, &frag(1, 65_528, false, &[0; 16])).is_none());
    assert_eq!(d.datagrams(), 1);
    // IPv6: that fragment alone is dropped.
    let mut d = Defrag::default();
    let mut f6 = frag(1, 65_528, false, &[0; 16]);
    f6.v6 = true;
    assert!(d.insert(T, &f6).is_none());
    assert_eq!((d.stats().dropped_too_big, d.datagrams()), (1, 0));
    // 65,528 + 7 = 65,535 is held, not complete.
    assert!(d.insert(T, &frag(2, 65_528, false, &[0; 7])).is_none());
    assert_eq!(d.datagrams(), 1);
    // Two different ends: inconsistent.
    assert!(d.insert(T, &frag(2, 64, false, &[0; 8])).is_none());
    assert_eq!((d.stats().dropped_malformed, d.datagrams()), (1, 0));
    // Data past a known end.
    d.insert(T, &frag(3, 8, false, &[0; 8]));
    assert!(d.insert(T, &frag(3, 16, true, &[0; 8])).is_none());
    assert_eq!(d.stats().dropped_malformed, 2);
    // IPv4 non-last fragment not a multiple of 8: cut, as Linux does.
    let mut d = Defrag::default();
    d.insert(T, &frag(4, 0, true, &[1; 12]));
    assert!(d.insert(T, &frag(4, 8, false, &[2; 4])).is_some());
    assert_eq!(d.output(), [1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
    // IPv6: discarded.
    let mut f6 = frag(5, 0, true, &[1; 12]);
    f6.v6 = true;
    assert!(d.insert(T, &f6).is_none());
    assert_eq!((d.stats().dropped_malformed, d.datagrams()), (1, 0));
}

#[test]
fn rfc1858_tiny_and_header_rewriting_fragments() {
    // Under the `first` policy (the `linux` one reads what Linux rebuilds:
    // review17_ipv4_tiny_fragments_that_linux_rebuilds_are_read).
    let mut d = opts(|o| o.ipv4_overlap = OverlapPolicy::First);
    let mut f = frag(1, 8, false, &[0; 12]);
    f.proto = 6;
    assert!(d.insert(T, &f).is_none());
    let mut f = frag(1, 0, true, &[0; 16]);
    f.proto = 6;
    assert!(d.insert(T, &f).is_none());
    assert!(d.insert(T, &frag(2, 0, true, &[])).is_none());
    assert_eq!(d.stats().dropped_tiny, 2);
    assert_eq!(d.datagrams(), 0);
    // UDP first fragment of 8 bytes holds the header: fine.
    assert!(d.insert(T, &frag(3, 0, true, &[0; 8])).is_none());
    assert_eq!(d.datagrams(), 1);
}

#[test]
fn drop_any_and_expiry_order() {
    let mut d = opts(|o| o.ipv4_overlap = OverlapPolicy::DropAny);
    d.insert(T, &frag(1, 0, true, &[0; 16]));
    assert!(d.insert(T, &frag(1, 8, false, &[0; 16])).is_none());
    assert_eq!(
        (d.stats().dropped_overlap, d.stats().overlaps_different),
        (1, 0)
    );
    let mut d = opts(|o| o.timeout_ns = 10);
    d.insert(Timestamp(0), &frag(1, 0, true, &[0; 8]));
    d.insert(Timestamp(5), &frag(2, 0, true, &[0; 8]));
    d.expire(Timestamp(12));
    assert_eq!((d.datagrams(), d.stats().timed_out), (1, 1));
    // A fragment at t=15 first expires datagram 2, then starts anew.
    d.insert(Timestamp(15), &frag(2, 8, false, &[0; 8]));
    assert_eq!((d.datagrams(), d.stats().timed_out), (1, 2));
}

#[test]
fn order_queue_stays_bounded() {
    let mut d = Defrag::default();
    for id in 0..10_000u32 {
        d.insert(T, &frag(id, 0, true, &[0; 8]));
        d.insert(T, &frag(id, 8, false, &[0; 8]));
    }
    assert_eq!(d.datagrams(), 0);
    assert!(d.order.len() <= 1024 + 1, "{}", d.order.len());
}

#[test]
fn the_end_of_the_capture_counts_what_is_still_waiting() {
    let mut d = Defrag::default();
    d.insert(T, &frag(1, 0, true, &[0; 16]));
    d.insert(T, &frag(2, 0, true, &[0; 16]));
    // The default timeout has not passed, but no fragment will come.
    d.expire(Timestamp(u64::MAX));
    assert_eq!(
        (d.datagrams(), d.bytes_held(), d.stats().timed_out),
        (0, 0, 2)
    );
}

/// A datagram's buffer is allocated to the bytes counted, not to twice
/// them: fragments arriving in order grow it exactly.
#[test]
fn buffers_hold_what_max_bytes_counts() {
    let mut d = Defrag::default();
    for i in 0..40 {
        assert!(d.insert(T, &frag(9, i * 1480, true, &[7; 1480])).is_none());
    }
    // In order, the ranges merge into one as they come: room for two (the
    // one held and the one being added) is all they take.
    assert_eq!(d.bytes_held(), cost(40 * 1480, 2));
    let capacity: usize = d.map.values().map(|g| g.buf.capacity()).sum();
    assert_eq!(capacity, 40 * 1480);
    assert_eq!(
        d.map.values().map(|g| g.covered.capacity()).sum::<usize>(),
        2
    );
}

/// A flood of lone fragments grows the table; once they time out its room
/// is given back.
#[test]
fn the_table_shrinks_after_a_burst_expires() {
    let mut d = Defrag::default();
    for id in 0..10_000 {
        d.insert(T, &frag(id, 0, true, &[0; 8]));
    }
    assert_eq!(d.datagrams(), 10_000);
    assert!(d.map.capacity() >= 10_000);
    assert!(d.order.capacity() >= 10_000);
    d.expire(Timestamp(T.0 + DefragOptions::default().timeout_ns));
    assert_eq!(d.datagrams(), 0);
    assert!(d.map.capacity() <= 512, "{}", d.map.capacity());
    assert!(d.order.capacity() <= 8192, "{}", d.order.capacity());
}

/// `max_bytes` bounds the table entries and held ranges too, not only the
/// buffers: lone 8-byte fragments cost far more than 8 bytes each, and
/// 128 disjoint fragments hold 128 ranges.
#[test]
fn max_bytes_counts_entries_and_ranges() {
    let max = 100 * cost(8, 1);
    let mut d = opts(|o| o.max_bytes = max);
    for id in 0..1000 {
        d.insert(T, &frag(id, 0, true, &[0; 8]));
    }
    assert_eq!(d.datagrams(), 100);
    assert_eq!(d.stats().dropped_memcap, 900);
    assert!(d.bytes_held() <= max);
    // Disjoint fragments: every other 8-byte block, 64 ranges.
    let mut d = Defrag::default();
    for i in 0..64 {
        d.insert(T, &frag(7, i * 16, true, &[1; 8]));
    }
    let g = d.map.values().next().unwrap();
    assert_eq!(g.covered.len(), 64);
    assert!(g.covered.capacity() <= 65);
    assert_eq!(d.bytes_held(), g.cost());
    assert_eq!(d.bytes_held(), cost(63 * 16 + 8, g.covered.capacity()));
}

/// One datagram that never completes holds the front of the creation
/// order while ordinary ones complete behind it: the order is compacted
/// now and then, and must not be shrunk and grown again each time.
#[test]
fn the_order_does_not_reallocate_in_steady_state() {
    let mut d = Defrag::default();
    d.insert(T, &frag(0, 0, true, &[0; 8]));
    let mut changes = 0;
    let mut cap = d.order.capacity();
    for id in 1..10_001u32 {
        let ts = Timestamp(T.0 + u64::from(id));
        d.insert(ts, &frag(id, 0, true, &[0; 8]));
        d.insert(ts, &frag(id, 8, false, &[0; 8]));
        // After a warm-up (the order grows to what compaction allows).
        if id > 2_000 && d.order.capacity() != cap {
            changes += 1;
        }
        cap = d.order.capacity();
    }
    assert_eq!(changes, 0, "order capacity changed {changes} times");
}

/// Review round 20. Defect: under the `linux` policy a fragment within
/// bytes already held is ignored as a duplicate even when it spans two
/// fragments that arrived out of order. Linux keeps fragments in runs
/// (`inet_frag_queue_insert`): a run grows only by in-order fragments
/// appended at the tail, and a fragment is a duplicate (`IPFRAG_DUP`) only
/// within one run; one across two runs is `IPFRAG_OVERLAP`, and
/// `ip_frag_queue` drops the whole datagram (RFC 5722). Here [8,16)
/// arrives before [0,8) (two runs), then [4,12): the server never gets the
/// datagram, Specula read it (a benign copy it never received takes the
/// place of the attack sent next at the same TCP numbers). Severity: High.
#[test]
fn review20a_a_fragment_across_two_out_of_order_runs_drops_the_datagram() {
    let mut d = Defrag::default();
    assert!(d.insert(T, &frag(1, 8, true, &[2; 8])).is_none());
    assert!(d.insert(T, &frag(1, 0, true, &[1; 8])).is_none());
    assert!(d.insert(T, &frag(1, 4, true, &[1; 8])).is_none());
    assert!(
        d.insert(T, &frag(1, 16, false, &[3; 4])).is_none(),
        "Linux dropped the datagram at the overlap"
    );
    assert_eq!(d.stats().dropped_overlap, 1);
    // In order, [0,8) then [8,16) form one run: [4,12) is a duplicate.
    let mut d = Defrag::default();
    assert!(d.insert(T, &frag(2, 0, true, &[1; 8])).is_none());
    assert!(d.insert(T, &frag(2, 8, true, &[2; 8])).is_none());
    assert!(d
        .insert(T, &frag(2, 4, true, &[1, 1, 1, 1, 2, 2, 2, 2]))
        .is_none());
    assert!(d.insert(T, &frag(2, 16, false, &[3; 4])).is_some());
}

fn frag6(id: u32, offset: usize, more: bool, data: &[u8]) -> Fragment<'_> {
    Fragment {
        v6: true,
        proto: 6,
        ..frag(id, offset, more, data)
    }
}

/// Review round 21. Defect: a fragment that carries no data (MF set and
/// empty, an IPv4 one of under 8 bytes cut to none, or an empty last one)
/// was ignored alone, or even completed the datagram. Linux since 5.1
/// ("ip: fail fast on IP defrag errors"): `ip_frag_queue` and
/// `ip6_frag_queue` find `end == offset` and `goto discard_qp` /
/// `discard_fq`, `inet_frag_kill` drops the whole queue. The fragments
/// sent after it then start a new datagram at the server: here the server
/// reads the second copy of [0,8) (2s), Specula kept the first (1s) and
/// took the empty one as the end. Severity: High.
#[test]
fn review21a_an_empty_fragment_drops_the_datagram() {
    for v6 in [false, true] {
        let f = |id, offset, more, data| Fragment {
            v6,
            ..frag(id, offset, more, data)
        };
        let mut d = Defrag::default();
        assert!(d.insert(T, &f(1, 0, true, &[1; 8])).is_none());
        assert!(d.insert(T, &f(1, 8, true, &[])).is_none());
        assert!(d.insert(T, &f(1, 0, true, &[2; 8])).is_none());
        assert!(d.insert(T, &f(1, 8, false, &[3; 4])).is_some());
        assert_eq!(d.output(), [2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3], "v6 {v6}");
        // An empty last fragment does not complete anything.
        assert!(d.insert(T, &f(2, 0, true, &[1; 8])).is_none());
        assert!(d.insert(T, &f(2, 8, false, &[])).is_none(), "v6 {v6}");
        assert_eq!(d.datagrams(), 0, "v6 {v6}");
    }
    // IPv4: a non-last fragment of under 8 bytes is cut to none.
    let mut d = Defrag::default();
    assert!(d.insert(T, &frag(3, 0, true, &[1; 8])).is_none());
    assert!(d.insert(T, &frag(3, 8, true, &[9; 4])).is_none());
    assert_eq!(d.datagrams(), 0);
}

/// Review round 21. Defect: an IPv6 fragment reaching past 65,535 bytes
/// dropped the datagram in progress. Linux's `ip6_frag_queue` returns
/// before touching the queue (`end > IPV6_MAXPLEN`: a parameter problem,
/// that fragment freed): the queue keeps its first [0,8) and ignores a
/// later copy as a duplicate, so the server reads 1s where Specula, having
/// started over, read the 2s of the copy. Severity: High.
#[test]
fn review21a_an_ipv6_fragment_past_65535_leaves_the_datagram() {
    let mut d = Defrag::default();
    assert!(d.insert(T, &frag6(1, 0, true, &[1; 24])).is_none());
    assert!(d.insert(T, &frag6(1, 65_528, true, &[0; 16])).is_none());
    assert_eq!(d.stats().dropped_too_big, 1);
    assert!(d.insert(T, &frag6(1, 0, true, &[2; 24])).is_none());
    assert!(d.insert(T, &frag6(1, 24, false, &[3; 4])).is_some());
    assert_eq!(&d.output()[..24], [1; 24]);
}

/// Review round 21. Defect: under the `linux` policy an IPv6 TCP fragment
/// at offset 8 was dropped as an RFC 1858 header rewrite. Linux has no
/// such rule for IPv6 (`ipv6_frag_rcv` checks only that a first fragment
/// holds the TCP header): it queues [8,16), and the first fragment [0,24)
/// then overlaps it and drops the whole datagram (`IPFRAG_OVERLAP`). The
/// server never got this TCP segment; Specula rebuilt it, and takes the
/// attack sent next at the same numbers for a retransmission. Severity:
/// High.
#[test]
fn review21a_an_ipv6_tcp_fragment_at_offset_8_is_held_as_linux_does() {
    let mut d = Defrag::default();
    assert!(d.insert(T, &frag6(1, 8, true, &[9; 8])).is_none());
    assert!(d.insert(T, &frag6(1, 0, true, &[1; 24])).is_none());
    assert!(
        d.insert(T, &frag6(1, 24, false, &[3; 4])).is_none(),
        "Linux dropped the datagram at the overlap"
    );
    assert_eq!(d.stats().dropped_overlap, 1);
}

/// Review round 21. Defect: an IPv4 fragment reaching past 65,535 bytes
/// dropped the datagram at once, and the fragments after it started a new
/// one. Linux's `ip_frag_queue` holds it (the queue's length becomes its
/// end) and finds the oversize only when reassembling (`ip_frag_reasm`:
/// header plus payload over 65,535, `inet_frag_kill`); meanwhile a copy of
/// [0,8) is a duplicate and a last fragment ending lower is corruption
/// (`end < qp->q.len`, `discard_qp`). The server never got this datagram;
/// Specula rebuilt it from the copy and takes the attack sent next at the
/// same TCP numbers for a retransmission. The limit counts the IPv4
/// header too: 65,516 payload bytes behind a 20-byte header are too many.
/// Severity: High.
#[test]
fn review21a_an_ipv4_fragment_past_65535_dooms_the_datagram_as_linux_does() {
    let mut d = Defrag::default();
    assert!(d.insert(T, &frag(1, 0, true, &[1; 8])).is_none());
    assert!(d.insert(T, &frag(1, 65_528, true, &[0; 16])).is_none());
    assert!(d.insert(T, &frag(1, 0, true, &[2; 8])).is_none());
    assert!(
        d.insert(T, &frag(1, 8, false, &[3; 4])).is_none(),
        "Linux dropped the datagram: its last fragment ends below held bytes"
    );
    assert_eq!(d.datagrams(), 0);
    // Payload plus the 20-byte header over 65,535: dropped when complete.
    let mut d = Defrag::default();
    let big = vec![7u8; 65_520];
    assert!(d.insert(T, &frag(2, 0, true, &big[..65_512])).is_none());
    assert!(d.insert(T, &frag(2, 65_512, false, &[8; 4])).is_none());
    assert_eq!((d.stats().dropped_too_big, d.datagrams()), (1, 0));
    // 65,515 is fine.
    assert!(d.insert(T, &frag(3, 0, true, &big[..65_512])).is_none());
    assert!(d.insert(T, &frag(3, 65_512, false, &[8; 3])).is_some());
}
