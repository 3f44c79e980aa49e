//! Every link type's decoder on arbitrary bytes, through one `Decoder` over
//! a sequence of frames so that defragmentation state is fuzzed too: never
//! panics, and the defragmenter stays within its caps.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::capture::{LinkType, Timestamp};
use specula::decode::{DecodeOptions, Decoder, OverlapPolicy};

const LINKTYPES: [u32; 13] = [0, 1, 12, 14, 101, 104, 108, 113, 228, 229, 276, 147, 148];
const POLICIES: [OverlapPolicy; 4] = [
    OverlapPolicy::First,
    OverlapPolicy::Last,
    OverlapPolicy::DropDifferent,
    OverlapPolicy::DropAny,
];

// Input: a policy byte, then frames as [linktype selector, time step,
// length (2 bytes, big endian), bytes...].
fuzz_target!(|data: &[u8]| {
    let Some((&sel, mut rest)) = data.split_first() else { return };
    let mut opts = DecodeOptions::default();
    opts.defrag.ipv4_overlap = POLICIES[usize::from(sel) % 4];
    opts.defrag.ipv6_overlap = POLICIES[usize::from(sel >> 2) % 4];
    opts.defrag.max_bytes = 1 << 16;
    opts.defrag.max_datagrams = 8;
    opts.defrag.timeout_ns = 1_000;
    opts.vlan_in_flow_key = sel & 0x10 != 0;
    let mut d = Decoder::new(opts);
    let mut now = 0u64;
    while rest.len() >= 4 {
        let lt = LINKTYPES[usize::from(rest[0]) % LINKTYPES.len()];
        now += u64::from(rest[1]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]])).min(rest.len() - 4);
        let frame = &rest[4..4 + len];
        rest = &rest[4 + len..];
        if let Ok((seg, _)) = d.decode(Timestamp(now), LinkType(lt), frame) {
            assert!(seg.payload.len() <= 65_535);
        }
        let (n, bytes) = d.defrag_in_progress();
        assert!(n <= 8 && bytes <= 1 << 16);
        if now % 7 == 0 {
            d.expire(Timestamp(now));
        }
    }
});
