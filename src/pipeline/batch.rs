//! Owned batches of TCP segments crossing from the capture thread to a worker.

use std::net::IpAddr;

use crate::capture::Timestamp;
use crate::decode::{TcpFlags, TcpSegment};

#[derive(Debug, Clone, Copy)]
struct SegmentMeta {
    ts: Timestamp,
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    urgent: u16,
    timestamp: Option<(u32, u32)>,
    tunnel: u64,
    start: usize,
    len: usize,
}

/// Segments with their payloads packed in one buffer; recycled between uses
/// so the steady state allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct SegmentBatch {
    payload: Vec<u8>,
    segs: Vec<SegmentMeta>,
    /// Capture time when the batch was sent: workers advance their clock to it.
    pub now: Timestamp,
}

impl SegmentBatch {
    pub fn with_capacity(segments: usize) -> Self {
        SegmentBatch {
            payload: Vec::with_capacity(segments * 512),
            segs: Vec::with_capacity(segments),
            now: Timestamp(0),
        }
    }

    pub fn push(&mut self, ts: Timestamp, seg: &TcpSegment<'_>) {
        let start = self.payload.len();
        self.payload.extend_from_slice(seg.payload);
        self.segs.push(SegmentMeta {
            ts,
            src: seg.src,
            dst: seg.dst,
            src_port: seg.src_port,
            dst_port: seg.dst_port,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: seg.window,
            urgent: seg.urgent,
            timestamp: seg.timestamp,
            tunnel: seg.tunnel,
            start,
            len: seg.payload.len(),
        });
    }

    pub fn len(&self) -> usize {
        self.segs.len()
    }

    pub fn payload_len(&self) -> usize {
        self.payload.len()
    }

    pub fn clear(&mut self) {
        self.payload.clear();
        self.segs.clear();
        self.now = Timestamp(0);
    }

    /// The segments, borrowing their payloads from the batch.
    pub fn iter(&self) -> impl Iterator<Item = (Timestamp, TcpSegment<'_>)> + '_ {
        self.segs.iter().map(move |m| {
            let payload = self.payload.get(m.start..m.start + m.len).unwrap_or(&[]);
            (
                m.ts,
                TcpSegment {
                    timestamp: m.timestamp,
                    src: m.src,
                    dst: m.dst,
                    src_port: m.src_port,
                    dst_port: m.dst_port,
                    seq: m.seq,
                    ack: m.ack,
                    flags: m.flags,
                    window: m.window,
                    urgent: m.urgent,
                    payload,
                    tunnel: m.tunnel,
                },
            )
        })
    }
}
