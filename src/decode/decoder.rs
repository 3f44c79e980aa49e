//! The stateful front of decoding, one per capture thread: the configured
//! decapsulations (and their ports) plus IP defragmentation state. Hands
//! on the same [`TcpSegment`] views as [`decode_frame_ext`]; a segment
//! rebuilt from fragments borrows from the decoder until its next call.

use super::{decode_frame_ext, DecodeInfo, SkipReason, TcpSegment};
use crate::capture::{LinkType, Timestamp};

/// What the decoder opens and how much state it may keep.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecodeOptions {}

/// Decoder of one capture thread: see the module doc.
#[derive(Debug, Default)]
pub struct Decoder {
    opts: DecodeOptions,
}

impl Decoder {
    pub fn new(opts: DecodeOptions) -> Decoder {
        Decoder { opts }
    }

    pub fn options(&self) -> &DecodeOptions {
        &self.opts
    }

    /// Decode one frame captured at `ts` down to the innermost TCP segment.
    pub fn decode<'a>(
        &'a mut self,
        _ts: Timestamp,
        linktype: LinkType,
        data: &'a [u8],
    ) -> Result<(TcpSegment<'a>, DecodeInfo), SkipReason> {
        decode_frame_ext(linktype, data)
    }

    /// Forget state older than its timeout (the capture clock is `now`).
    pub fn expire(&mut self, _now: Timestamp) {}
}
