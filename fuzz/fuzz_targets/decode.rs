//! Every link type's decoder on arbitrary bytes: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::capture::LinkType;
use specula::decode::decode_frame;

const LINKTYPES: [u32; 11] = [0, 1, 12, 14, 101, 104, 108, 113, 228, 229, 276];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else { return };
    let lt = LINKTYPES[usize::from(sel) % LINKTYPES.len()];
    let _ = decode_frame(LinkType(lt), frame);
});
