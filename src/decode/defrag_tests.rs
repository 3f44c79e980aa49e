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
    // 65,528 + 16 > 65,535: ping of death.
    d.insert(T, &frag(1, 0, true, &[0; 8]));
    assert!(d.insert(T, &frag(1, 65_528, false, &[0; 16])).is_none());
    assert_eq!((d.stats().dropped_too_big, d.datagrams()), (1, 0));
    // At the limit: 65,528 + 7 = 65,535 is fine (held, not complete).
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
