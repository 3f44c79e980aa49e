//! Capture: where frames come from.
//!
//! Owns reading pcap / pcapng / gzip-compressed captures (files or standard
//! input) with a fixed-size buffer, live libpcap capture, and UDP tunnel
//! listeners (VXLAN/Geneve mirror targets, [`udp`]). Hands on
//! [`Frame`]s: a timestamp, a link type and the captured bytes, borrowed from
//! the reader's buffer until the next call.
//!
//! Guarantees: memory use is bounded by [`file::MAX_RECORD_BYTES`] whatever
//! the file's size; wire bytes never cause a panic; a damaged file yields the
//! frames before the damage, then one [`CaptureError::Damaged`], then the end.
//! [`FrameFilter`] applies a BPF expression to frames read from files.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::fmt;
use std::io;
use std::path::PathBuf;

pub mod file;
pub mod filter;
pub mod live;
pub mod udp;

pub use file::FileReader;
pub use filter::FrameFilter;
pub use live::{Fanout, LiveCapture, LiveOptions, LiveStats};
pub use udp::{TunnelKind, UdpTunnelOptions, UdpTunnelSocket, VniFilter};

/// Why a capture could not be opened or read further. Every message is one
/// line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file (or standard input) could not be opened or its header read.
    #[error("cannot read capture {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The content is neither pcap, pcapng nor gzip of one of them.
    #[error("{} is not a pcap or pcapng capture: {reason}", .path.display())]
    NotACapture { path: PathBuf, reason: String },
    /// The file is damaged or truncated at frame number `frame` (1-based:
    /// the frame that could not be read).
    #[error("capture {} is damaged at frame {frame}: {reason}", .path.display())]
    Damaged {
        path: PathBuf,
        frame: u64,
        reason: String,
    },
    /// A BPF filter expression was rejected by libpcap.
    #[error("invalid capture filter {expr:?}: {message}")]
    Filter { expr: String, message: String },
    /// A live interface could not be opened or read.
    #[error("interface {interface}: {message}")]
    Live { interface: String, message: String },
    /// A UDP tunnel listener (`vxlan:ADDR:PORT`) could not be bound or read.
    #[error("UDP listener {listen}: {message}")]
    Listen { listen: String, message: String },
}

/// Capture time in nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const fn from_secs_nanos(secs: u64, nanos: u32) -> Self {
        Timestamp(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(nanos as u64),
        )
    }
    pub const fn secs(self) -> u64 {
        self.0 / 1_000_000_000
    }
    pub const fn subsec_nanos(self) -> u32 {
        (self.0 % 1_000_000_000) as u32
    }
    /// Nanoseconds from `earlier` to `self`, zero if `earlier` is later.
    pub const fn since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A pcap LINKTYPE_ value (<https://www.tcpdump.org/linktypes.html>).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: 4-byte address family in host byte order.
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    /// DLT_RAW as some platforms number it.
    pub const RAW_12: LinkType = LinkType(12);
    /// DLT_RAW as OpenBSD numbers it.
    pub const RAW_14: LinkType = LinkType(14);
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// Cisco HDLC: 4-byte header, protocol (an ethertype) at bytes 2..4.
    pub const CHDLC: LinkType = LinkType(104);
    /// Specula's own (DLT_USER0): a UDP datagram's payload that starts with
    /// a VXLAN header, as the UDP tunnel listener receives it.
    pub const VXLAN_PAYLOAD: LinkType = LinkType(147);
    /// Specula's own (DLT_USER1): a UDP payload starting with a Geneve header.
    pub const GENEVE_PAYLOAD: LinkType = LinkType(148);
}

impl fmt::Debug for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkType({})", self.0)
    }
}

/// One captured frame, borrowed from the reader until its next call.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub ts: Timestamp,
    pub linktype: LinkType,
    /// Captured bytes (at most the snap length).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
}

#[cfg(test)]
mod tests;
