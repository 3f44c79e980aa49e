//! Decode: link and network layers, zero-copy.
//!
//! Owns turning a [`Frame`](crate::capture::Frame) into a [`TcpSegment`] view:
//! link layers (Ethernet, VLAN/QinQ, Linux SLL/SLL2, BSD null/loop, raw IP),
//! IPv4 and IPv6 with extension headers, then TCP. Allocates nothing, does no
//! I/O, never panics; anything it cannot or will not decode is a
//! [`SkipReason`] that the caller counts. Hands on `TcpSegment`s.
//!
//! Also decoded: 802.1Q/802.1ad/QinQ tags, PPPoE sessions, MPLS, Cisco HDLC,
//! and tunnels down to the innermost TCP (IP-in-IP, GRE with ERSPAN II/III
//! and transparent Ethernet, VXLAN, Geneve, Teredo), at most
//! [`MAX_ENCAP_DEPTH`] deep; [`decode_frame_ext`] says which. Which of them
//! are opened, and on which UDP ports, is a [`DecodeOptions`] choice.
//!
//! The [`Decoder`] (one per capture thread) adds IP defragmentation
//! (IPv4 and IPv6, `defrag`): the one place where decoding keeps state,
//! bounded by [`DefragOptions`].
//!
//! Length policy: the payload is trimmed to the IP length (Ethernet padding
//! dropped); when the capture holds fewer bytes than the IP length (snap
//! length), the captured bytes are handed on. Running out of captured bytes
//! inside a header is [`SkipReason::Truncated`]; lengths that contradict each
//! other (a header longer than the IP length that holds it, IHL < 5, TCP
//! data offset < 5) are `Malformed*`, and so are IPv4 options Linux refuses
//! (malformed ones, source routes: `ip_rcv_options`). Checksums are not verified: offloading
//! makes bad ones common in captures.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::net::IpAddr;

mod decoder;
mod defrag;
mod wire;

pub use decoder::{Decaps, DecodeOptions, Decoder};
pub use defrag::{DefragOptions, DefragStats, OverlapPolicy};
pub use wire::{MAX_ENCAP_DEPTH, MAX_LINK_TAGS};

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

/// A decoded TCP segment; `payload` borrows from the frame (or from the
/// [`Decoder`]'s defragmentation buffer) and is trimmed to the IP length
/// (no Ethernet padding).
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
    /// The urgent pointer when URG is set (RFC 9293 §3.1: the offset from
    /// `seq` just past the urgent byte, as Linux reads it), else 0.
    pub urgent: u16,
    pub payload: &'a [u8],
    /// The timestamp option (TSval, TSecr; RFC 7323 §3), when present: the
    /// flow table drops what Linux's PAWS check drops.
    pub timestamp: Option<(u32, u32)>,
    /// Identity of the tunnels the segment came through, part of the flow
    /// key: every level's VXLAN/Geneve VNI, GRE key and ERSPAN session id,
    /// a Teredo level (no id, but never the native flow), and VLAN ids if
    /// `vlan_in_flow_key`, folded into one number, so that
    /// two mirrored networks reusing the same addresses stay apart. 0 when
    /// none (or `tunnel_in_flow_key = false`). Both directions of a flow are
    /// assumed to arrive in the same tunnel session (true of VPC Traffic
    /// Mirroring, GWLB, ERSPAN and RSPAN sessions that mirror both
    /// directions of a source); a mirror that sends each direction in its
    /// own session needs `tunnel_in_flow_key = false`.
    pub tunnel: u64,
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
    /// An IP fragment that completed no datagram: held by the
    /// [`Decoder`]'s defragmenter, dropped by it (its counters say why), or
    /// seen by a stateless decode ([`decode_frame`]) or with defragmentation
    /// off.
    IpFragment,
    /// A header was cut short or held impossible values.
    MalformedLink,
    MalformedIp,
    MalformedTcp,
    /// The frame was captured shorter than its headers (snap length).
    Truncated,
    /// A tunnel header (GRE, ERSPAN, VXLAN, Geneve, Teredo) was cut short
    /// or held impossible values.
    MalformedTunnel,
    /// More than [`MAX_ENCAP_DEPTH`] tunnels were nested.
    EncapTooDeep,
    /// A tunnel or label stack whose decapsulation is turned off
    /// ([`Decaps`]).
    DecapDisabled,
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
            SkipReason::MalformedTunnel => "malformed_tunnel",
            SkipReason::EncapTooDeep => "encap_too_deep",
            SkipReason::DecapDisabled => "decap_disabled",
        }
    }
    pub const ALL: [SkipReason; 11] = [
        SkipReason::UnsupportedLinkType,
        SkipReason::NotIp,
        SkipReason::NotTcp,
        SkipReason::IpFragment,
        SkipReason::MalformedLink,
        SkipReason::MalformedIp,
        SkipReason::MalformedTcp,
        SkipReason::Truncated,
        SkipReason::MalformedTunnel,
        SkipReason::EncapTooDeep,
        SkipReason::DecapDisabled,
    ];
}

/// What lay around the TCP segment: tunnels and VLAN tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeInfo {
    /// Tunnels crossed to reach the TCP segment (0: not tunnelled).
    pub encap_depth: u8,
    /// Innermost tunnel id: VXLAN/Geneve VNI, GRE key, else ERSPAN session
    /// id; 0 if none.
    pub tunnel_id: u32,
    /// Outermost 802.1Q/802.1ad VLAN id; 0 if untagged.
    pub vlan_id: u16,
}

/// Decode one frame down to TCP.
#[inline]
pub fn decode_frame(linktype: LinkType, data: &[u8]) -> Result<TcpSegment<'_>, SkipReason> {
    decode_frame_ext(linktype, data).map(|(seg, _)| seg)
}

/// Decode one frame down to the innermost TCP, with tunnel and VLAN
/// details, with the default [`DecodeOptions`] and no defragmentation
/// (fragments are [`SkipReason::IpFragment`]); see [`Decoder`] for both.
pub fn decode_frame_ext(
    linktype: LinkType,
    data: &[u8],
) -> Result<(TcpSegment<'_>, DecodeInfo), SkipReason> {
    static DEFAULT: std::sync::OnceLock<DecodeOptions> = std::sync::OnceLock::new();
    let mut cx = wire::Ctx::new(DEFAULT.get_or_init(DecodeOptions::default));
    let seg = wire::link(linktype, data, &mut cx)?;
    Ok((seg, cx.info))
}

#[cfg(test)]
mod tests;
