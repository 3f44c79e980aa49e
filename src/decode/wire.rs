//! The layer parsers behind [`decode_frame_ext`](super::decode_frame_ext).
//!
//! Every read goes through `get`, so no input can make these functions
//! panic. Each parser takes the bytes it owns plus `short`: true when those
//! bytes may have been cut by the capture (snap length), false when an outer
//! header declared their exact length. Running out of bytes is then
//! `Truncated` if `short`, else the layer's `Malformed*` reason.
//!
//! The parsers share a [`Ctx`]: the options (which decapsulations, which
//! ports), what was crossed so far ([`DecodeInfo`], the folded tunnel
//! identity) and, when an IP fragment ends the walk, that fragment for the
//! defragmenter. The plain Ethernet → IP → TCP path reads no option.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::decoder::DecodeOptions;
use super::{DecodeInfo, SkipReason, TcpFlags, TcpSegment};
use crate::capture::LinkType;

/// What the layer parsers share while walking one frame.
pub(super) struct Ctx<'o, 'd> {
    pub opts: &'o DecodeOptions,
    pub info: DecodeInfo,
    /// Every tunnel id crossed so far (and VLAN ids if configured), folded:
    /// see [`Ctx::fold`]. 0 when none.
    pub key: u64,
    /// The IP fragment that ended the walk with `SkipReason::IpFragment`.
    pub frag: Option<Fragment<'d>>,
}

impl<'o, 'd> Ctx<'o, 'd> {
    pub fn new(opts: &'o DecodeOptions) -> Self {
        Ctx {
            opts,
            info: DecodeInfo::default(),
            key: 0,
            frag: None,
        }
    }

    /// Fold one level's identity into the key. The kind keeps a VXLAN VNI 5
    /// apart from a GRE key 5; the order of levels matters (a splitmix64
    /// step per level), so Geneve 7 carrying VXLAN 9 differs from the
    /// reverse. Never 0 once something was folded.
    fn fold(&mut self, kind: u64, id: u32) {
        let mut x = self.key ^ (kind << 32 | u64::from(id));
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        self.key = if x == 0 { 1 } else { x };
    }

    fn fold_tunnel(&mut self, kind: u64, id: u32) {
        if self.opts.tunnel_in_flow_key {
            self.fold(kind, id);
        }
    }
}

const KIND_VXLAN: u64 = 1;
const KIND_GENEVE: u64 = 2;
const KIND_GRE_KEY: u64 = 3;
const KIND_ERSPAN: u64 = 4;
const KIND_VLAN: u64 = 5;
const KIND_TEREDO: u64 = 6;

/// One IP fragment, as the defragmenter needs it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fragment<'d> {
    pub v6: bool,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4: the 16-bit identification; IPv6: the 32-bit one.
    pub id: u32,
    /// IPv4 protocol; IPv6: the fragment header's next header.
    pub proto: u8,
    /// Byte offset of `data` in the datagram's payload.
    pub offset: usize,
    /// More fragments follow (M / MF flag).
    pub more: bool,
    pub data: &'d [u8],
    /// The folded tunnel identity at this level ([`Ctx::key`]).
    pub tunnel: u64,
    /// What Linux's limit on a reassembled datagram counts besides the
    /// payload: IPv4, the header length; IPv6, the extension headers before
    /// the fragment header (`ip6_frag_reasm`'s payload length).
    pub header_len: usize,
}

/// Decode the payload of a reassembled datagram (what followed the IPv4
/// header, or the IPv6 fragment header) down to TCP.
pub(super) fn resume<'a>(
    v6: bool,
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    payload: &'a [u8],
    cx: &mut Ctx<'_, 'a>,
) -> Res<'a> {
    if v6 {
        ipv6_chain(proto, src, dst, payload, false, Chain::Reassembled, cx)
    } else {
        transport(proto, src, dst, payload, false, cx)
    }
}

/// Most tunnels crossed to reach TCP; deeper nesting is
/// [`SkipReason::EncapTooDeep`].
pub const MAX_ENCAP_DEPTH: u8 = 4;
/// Most VLAN tags / MPLS labels / PPPoE headers between a link header and IP.
pub const MAX_LINK_TAGS: usize = 8;

type Res<'a> = Result<TcpSegment<'a>, SkipReason>;

const ET_IPV4: u16 = 0x0800;
const ET_IPV6: u16 = 0x86DD;
const ET_VLAN: u16 = 0x8100;
const ET_QINQ: u16 = 0x88A8;
const ET_QINQ_OLD: u16 = 0x9100;
const ET_PPPOE_SESSION: u16 = 0x8864;
const ET_MPLS: u16 = 0x8847;
const ET_MPLS_MC: u16 = 0x8848;
const ET_TEB: u16 = 0x6558;
const ET_ERSPAN2: u16 = 0x88BE;
const ET_ERSPAN3: u16 = 0x22EB;

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_IPIP: u8 = 4;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_IPV6: u8 = 41;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_GRE: u8 = 47;
const IPPROTO_AH: u8 = 51;
const IPPROTO_DSTOPTS: u8 = 60;
const IPPROTO_MOBILITY: u8 = 135;
const IPPROTO_HIP: u8 = 139;
const IPPROTO_SHIM6: u8 = 140;

const PORT_TEREDO: u16 = 3544;

#[inline]
fn be16(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(b.try_into().ok()?))
}

#[inline]
fn be32(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

#[inline]
fn byte(d: &[u8], at: usize) -> Option<u8> {
    d.get(at).copied()
}

/// The reason for running out of bytes: see the module doc.
#[inline]
fn ran_out(short: bool, malformed: SkipReason) -> SkipReason {
    if short {
        SkipReason::Truncated
    } else {
        malformed
    }
}

#[inline]
fn enter_tunnel(cx: &mut Ctx<'_, '_>) -> Result<(), SkipReason> {
    cx.info.encap_depth = cx.info.encap_depth.saturating_add(1);
    if cx.info.encap_depth > MAX_ENCAP_DEPTH {
        return Err(SkipReason::EncapTooDeep);
    }
    Ok(())
}

/// Entry point: strip the link header named by `linktype`.
pub(super) fn link<'a>(linktype: LinkType, d: &'a [u8], cx: &mut Ctx<'_, 'a>) -> Res<'a> {
    let trunc = SkipReason::Truncated;
    match linktype {
        LinkType::ETHERNET => ethernet(d, true, cx),
        LinkType::NULL | LinkType::LOOP => {
            let af: [u8; 4] = d.get(..4).ok_or(trunc)?.try_into().map_err(|_| trunc)?;
            let rest = d.get(4..).ok_or(trunc)?;
            let be = u32::from_be_bytes(af);
            // NULL is in the capturing host's byte order: accept both.
            let host = if linktype == LinkType::NULL {
                u32::from_le_bytes(af)
            } else {
                be
            };
            let is = |v: u32| [host, be].contains(&v);
            if is(2) {
                ipv4(rest, true, cx)
            } else if is(24) || is(28) || is(30) {
                ipv6(rest, true, cx)
            } else {
                Err(SkipReason::NotIp)
            }
        }
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => ip_by_version(d, true, cx),
        LinkType::IPV4 => ipv4(d, true, cx),
        LinkType::IPV6 => ipv6(d, true, cx),
        LinkType::LINUX_SLL => {
            let proto = be16(d, 14).ok_or(trunc)?;
            ethertype(proto, d.get(16..).ok_or(trunc)?, true, cx)
        }
        LinkType::LINUX_SLL2 => {
            let proto = be16(d, 0).ok_or(trunc)?;
            ethertype(proto, d.get(20..).ok_or(trunc)?, true, cx)
        }
        LinkType::CHDLC => {
            let proto = be16(d, 2).ok_or(trunc)?;
            ethertype(proto, d.get(4..).ok_or(trunc)?, true, cx)
        }
        LinkType::VXLAN_PAYLOAD => vxlan(d, true, cx),
        LinkType::GENEVE_PAYLOAD => geneve(d, true, cx),
        _ => Err(SkipReason::UnsupportedLinkType),
    }
}

/// Ethernet II header (14 bytes), then the ethertype.
fn ethernet<'a>(d: &'a [u8], short: bool, cx: &mut Ctx<'_, 'a>) -> Res<'a> {
    let et = be16(d, 12).ok_or(ran_out(short, SkipReason::MalformedLink))?;
    let rest = d
        .get(14..)
        .ok_or(ran_out(short, SkipReason::MalformedLink))?;
    ethertype(et, rest, short, cx)
}

/// Dispatch on an ethertype, through VLAN tags, PPPoE and MPLS.
fn ethertype<'a>(mut et: u16, mut d: &'a [u8], short: bool, cx: &mut Ctx<'_, 'a>) -> Res<'a> {
    let cut = ran_out(short, SkipReason::MalformedLink);
    for _ in 0..=MAX_LINK_TAGS {
        match et {
            ET_IPV4 => return ipv4(d, short, cx),
            ET_IPV6 => return ipv6(d, short, cx),
            ET_VLAN | ET_QINQ | ET_QINQ_OLD => {
                // 802.1Q / 802.1ad tag: TCI, then the next ethertype.
                let tci = be16(d, 0).ok_or(cut)?;
                if cx.info.vlan_id == 0 {
                    cx.info.vlan_id = tci & 0x0fff;
                }
                if cx.opts.vlan_in_flow_key {
                    cx.fold(KIND_VLAN, u32::from(tci & 0x0fff));
                }
                et = be16(d, 2).ok_or(cut)?;
                d = d.get(4..).ok_or(cut)?;
            }
            ET_PPPOE_SESSION => {
                // RFC 2516: ver/type, code, session, length, then PPP protocol.
                // Linux's `pppoe_rcv` trims the frame to the length and drops
                // one shorter than it: an IP packet longer than what the
                // length leaves never reaches the server (review round 24).
                let len = usize::from(be16(d, 4).ok_or(cut)?);
                let ppp_frame = d.get(6..).ok_or(cut)?;
                let (ppp_frame, short) = match ppp_frame.get(..len) {
                    Some(exact) => (exact, false),
                    None if short => (ppp_frame, true),
                    None => return Err(SkipReason::MalformedLink),
                };
                let cut = ran_out(short, SkipReason::MalformedLink);
                let ppp = be16(ppp_frame, 0).ok_or(cut)?;
                let rest = ppp_frame.get(2..).ok_or(cut)?;
                return match ppp {
                    0x0021 => ipv4(rest, short, cx),
                    0x0057 => ipv6(rest, short, cx),
                    _ => Err(SkipReason::NotIp),
                };
            }
            ET_MPLS | ET_MPLS_MC => {
                if !cx.opts.decaps.mpls {
                    return Err(SkipReason::DecapDisabled);
                }
                // Label stack (RFC 3032): the S bit marks the last label;
                // the version nibble decides: IP, or 0 for the control word
                // of an Ethernet pseudowire (RFC 4385, RFC 4448: EoMPLS,
                // VPLS), whose frame the PE bridges to the server (review
                // round 24). A tunnel level, so that nesting stays bounded.
                let entry = be32(d, 0).ok_or(cut)?;
                d = d.get(4..).ok_or(cut)?;
                if entry & 0x100 != 0 {
                    if byte(d, 0).map(|b| b >> 4) == Some(0) {
                        enter_tunnel(cx)?;
                        return ethernet(d.get(4..).ok_or(cut)?, short, cx);
                    }
                    return ip_by_version(d, short, cx);
                }
            }
            _ => return Err(SkipReason::NotIp),
        }
    }
    Err(SkipReason::MalformedLink)
}

fn ip_by_version<'a>(d: &'a [u8], short: bool, cx: &mut Ctx<'_, 'a>) -> Res<'a> {
    match byte(d, 0).ok_or(ran_out(short, SkipReason::MalformedIp))? >> 4 {
        4 => ipv4(d, short, cx),
        6 => ipv6(d, short, cx),
        _ => Err(SkipReason::MalformedIp),
    }
}

/// IPv4 (RFC 791), options skipped via IHL.
fn ipv4<'a>(d: &'a [u8], short: bool, cx: &mut Ctx<'_, 'a>) -> Res<'a> {
    let cut = ran_out(short, SkipReason::MalformedIp);
    let vihl = byte(d, 0).ok_or(cut)?;
    if vihl >> 4 != 4 {
        return Err(SkipReason::MalformedIp);
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    if ihl < 20 {
        return Err(SkipReason::MalformedIp);
    }
    let hdr = d.get(..ihl).ok_or(cut)?;
    if ipv4_options_dropped(hdr.get(20..).unwrap_or_default()) {
        return Err(SkipReason::MalformedIp);
    }
    let mut total = usize::from(be16(hdr, 2).ok_or(cut)?);
    if total == 0 {
        // Segmentation offload captures carry total length 0: use what
        // was captured, as Wireshark does.
        total = d.len();
    }
    if total < ihl {
        return Err(SkipReason::MalformedIp);
    }
    if total > d.len() && !short {
        return Err(SkipReason::MalformedIp);
    }
    let frag = be16(hdr, 6).ok_or(cut)?;
    let proto = byte(hdr, 9).ok_or(cut)?;
    let src = Ipv4Addr::from(be32(hdr, 12).ok_or(cut)?);
    let dst = Ipv4Addr::from(be32(hdr, 16).ok_or(cut)?);
    let end = total.min(d.len());
    let payload = d.get(ihl..end).ok_or(cut)?;
    let inner_short = total > d.len();
    if frag & 0x3fff != 0 {
        // More-fragments set or a non-zero offset (RFC 791): a fragment
        // cut by the snap length cannot be reassembled.
        if inner_short {
            return Err(SkipReason::Truncated);
        }
        cx.frag = Some(Fragment {
            v6: false,
            src: src.into(),
            dst: dst.into(),
            id: u32::from(be16(hdr, 4).ok_or(cut)?),
            proto,
            offset: usize::from(frag & 0x1fff) * 8,
            more: frag & 0x2000 != 0,
            data: payload,
            tunnel: cx.key,
            header_len: ihl,
        });
        return Err(SkipReason::IpFragment);
    }
    transport(proto, src.into(), dst.into(), payload, inner_short, cx)
}

/// Whether Linux drops an IPv4 packet (or fragment) for its options
/// (`ip_rcv_finish_core` → `ip_rcv_options`, before any reassembly):
/// `ip_options_compile` refuses an option whose length is under 2 or runs
/// past the header, a record route or timestamp seen twice or whose pointer
/// is impossible, a timestamp whose overflow counter is full; and a loose or
/// strict source route is dropped unless `accept_source_route` is on for
/// `all` and the interface (`IN_DEV_SOURCE_ROUTE`; `all` is 0 by default).
/// A sensor that read such a packet would take bytes the server never
/// received as the stream's (review round 28).
fn ipv4_options_dropped(opts: &[u8]) -> bool {
    const IPOPT_END: u8 = 0;
    const IPOPT_NOOP: u8 = 1;
    const IPOPT_RR: u8 = 7;
    const IPOPT_TIMESTAMP: u8 = 68;
    const IPOPT_LSRR: u8 = 131;
    const IPOPT_SSRR: u8 = 137;
    const IPOPT_RA: u8 = 148;
    let (mut rr_seen, mut ts_seen) = (false, false);
    let mut at = 0;
    while let Some(kind) = byte(opts, at) {
        match kind {
            // The rest is padding.
            IPOPT_END => return false,
            IPOPT_NOOP => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let Some(len) = byte(opts, at + 1).map(usize::from) else {
            return true;
        };
        let Some(opt) = opts.get(at..at + len).filter(|_| len >= 2) else {
            return true;
        };
        // The pointer (RFC 791 §3.1), 0 when the option is too short for one.
        let pointer = byte(opt, 2).map_or(0, usize::from);
        let bad = match kind {
            IPOPT_LSRR | IPOPT_SSRR => true,
            IPOPT_RR => {
                let bad = rr_seen || pointer < 4 || (pointer <= len && pointer + 3 > len);
                rr_seen = true;
                bad
            }
            IPOPT_TIMESTAMP => {
                // Flags 1 (with addresses) and 3 (prespecified) need room
                // for an address too; a full option counts overflows.
                let flags = byte(opt, 3).unwrap_or(0);
                let room = if matches!(flags & 0x0f, 1 | 3) { 7 } else { 3 };
                let bad = ts_seen
                    || len < 4
                    || pointer < 5
                    || (pointer <= len && pointer + room > len)
                    || (pointer > len && flags & 0x0f != 3 && flags >> 4 == 15);
                ts_seen = true;
                bad
            }
            // Router alert carries a 16-bit value.
            IPOPT_RA => len < 4,
            _ => false,
        };
        if bad {
            return true;
        }
        at += len;
    }
    false
}

/// IPv6 (RFC 8200) with extension headers.
fn ipv6<'a>(d: &'a [u8], short: bool, cx: &mut Ctx<'_, 'a>) -> Res<'a> {
    let cut = ran_out(short, SkipReason::MalformedIp);
    let hdr = d.get(..40).ok_or(cut)?;
    if byte(hdr, 0).ok_or(cut)? >> 4 != 6 {
        return Err(SkipReason::MalformedIp);
    }
    let avail = d.len() - hdr.len();
    let mut plen = usize::from(be16(hdr, 4).ok_or(cut)?);
    if plen == 0 {
        // Jumbogram or segmentation offload: take what was captured.
        plen = avail;
    }
    if plen > avail && !short {
        return Err(SkipReason::MalformedIp);
    }
    let src: [u8; 16] = hdr.get(8..24).ok_or(cut)?.try_into().map_err(|_| cut)?;
    let dst: [u8; 16] = hdr.get(24..40).ok_or(cut)?.try_into().map_err(|_| cut)?;
    let inner_short = plen > avail;
    let p = d.get(40..40 + plen.min(avail)).ok_or(cut)?;
    let nh = byte(hdr, 6).ok_or(cut)?;
    let (src, dst) = (Ipv6Addr::from(src).into(), Ipv6Addr::from(dst).into());
    ipv6_chain(nh, src, dst, p, inner_short, Chain::First, cx)
}

/// Where an IPv6 extension header chain walk stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Chain {
    /// At the IPv6 header's own next header.
    First,
    /// Past at least one extension header, no fragment header yet.
    Later,
    /// Past an atomic fragment header, or in a reassembled datagram:
    /// Linux's `IP6SKB_FRAGMENTED`.
    Reassembled,
}

/// The IPv6 extension header chain starting with next header `nh`, then
/// the transport.
fn ipv6_chain<'a>(
    mut nh: u8,
    src: IpAddr,
    dst: IpAddr,
    mut p: &'a [u8],
    short: bool,
    mut at: Chain,
    cx: &mut Ctx<'_, 'a>,
) -> Res<'a> {
    let cut = ran_out(short, SkipReason::MalformedIp);
    // Bytes of extension headers walked (before a fragment header, what
    // Linux counts in a reassembled datagram's length).
    let mut walked = 0;
    // No count limit: Linux walks any number of extension headers, so a
    // segment behind nine of them reaches the server (review round 17).
    // Each header takes at least 8 bytes, so the walk ends with the bytes.
    loop {
        let len = match nh {
            // Linux reads Hop-by-Hop options only right after the IPv6
            // header (`ip6_rcv_core`); anywhere else no protocol handles
            // next header 0 and `ip6_protocol_deliver_rcu` drops the packet
            // (RFC 8200 §4.1) (review round 20).
            IPPROTO_HOPOPTS if at != Chain::First => return Err(SkipReason::MalformedIp),
            // No handler for these either (no `inet6_protos` entry): the
            // packet is dropped as an unknown next header, the TCP behind
            // them never read (review round 20).
            IPPROTO_MOBILITY | IPPROTO_HIP | IPPROTO_SHIM6 => return Err(SkipReason::NotTcp),
            IPPROTO_HOPOPTS | IPPROTO_DSTOPTS => {
                let len = (usize::from(byte(p, 1).ok_or(cut)?) + 1) * 8;
                let options = p.get(2..len).ok_or(cut)?;
                if ipv6_options_dropped(options, nh == IPPROTO_HOPOPTS) {
                    return Err(SkipReason::MalformedIp);
                }
                len
            }
            IPPROTO_ROUTING => (usize::from(byte(p, 1).ok_or(cut)?) + 1) * 8,
            IPPROTO_AH => (usize::from(byte(p, 1).ok_or(cut)?) + 2) * 4,
            // A second fragment header: `ipv6_frag_rcv` drops the packet
            // (`IP6SKB_FRAGMENTED`, `fail_hdr`) (review round 34).
            IPPROTO_FRAGMENT if at == Chain::Reassembled => return Err(SkipReason::MalformedIp),
            IPPROTO_FRAGMENT => {
                // RFC 8200 §4.5: next header, reserved, offset/flags, id.
                let off_m = be16(p, 2).ok_or(cut)?;
                // An "atomic" fragment (offset 0, M = 0) is a whole packet.
                if off_m & 0xfff9 != 0 {
                    if short {
                        return Err(SkipReason::Truncated);
                    }
                    cx.frag = Some(Fragment {
                        v6: true,
                        src,
                        dst,
                        id: be32(p, 4).ok_or(cut)?,
                        proto: byte(p, 0).ok_or(cut)?,
                        offset: usize::from(off_m & 0xfff8),
                        more: off_m & 0x0001 != 0,
                        data: p.get(8..).ok_or(cut)?,
                        tunnel: cx.key,
                        header_len: walked,
                    });
                    return Err(SkipReason::IpFragment);
                }
                at = Chain::Reassembled;
                8
            }
            _ => return transport(nh, src, dst, p, short, cx),
        };
        nh = byte(p, 0).ok_or(cut)?;
        p = p.get(len..).ok_or(cut)?;
        walked += len;
        if at == Chain::First {
            at = Chain::Later;
        }
    }
}

/// Whether Linux drops an IPv6 packet for the options of a Hop-by-Hop or
/// Destination Options header (`ip6_parse_tlv`; `options` follows the
/// header's 2 first bytes): a run of padding (Pad1, PadN) over 7 bytes, a
/// PadN holding anything but zeros (RFC 4942 §2.1.9.5), an option running
/// past the header, more than 8 other options (`max_hbh_opts_number`,
/// `max_dst_opts_number`) (review round 34); an option Linux does not
/// know whose type says "discard" (its two top bits not 00, RFC 8200
/// §4.2: `ip6_tlvopt_unknown` drops the packet for 01, 10 and 11 alike),
/// and a Router Alert whose data is not 2 bytes (`ipv6_hop_ra`).
fn ipv6_options_dropped(options: &[u8], hop_by_hop: bool) -> bool {
    const PAD1: u8 = 0;
    const PADN: u8 = 1;
    const MAX_PADDING: usize = 7;
    const MAX_OPTIONS: usize = 8;
    let (mut padding, mut count, mut at) = (0, 0, 0);
    while let Some(kind) = byte(options, at) {
        if kind == PAD1 {
            padding += 1;
            if padding > MAX_PADDING {
                return true;
            }
            at += 1;
            continue;
        }
        let Some(len) = byte(options, at + 1).map(|l| usize::from(l) + 2) else {
            return true;
        };
        let Some(option) = options.get(at..at + len) else {
            return true;
        };
        if kind == PADN {
            padding += len;
            if padding > MAX_PADDING || option.iter().skip(2).any(|&b| b != 0) {
                return true;
            }
        } else {
            count += 1;
            if count > MAX_OPTIONS || ipv6_option_dropped(kind, len, hop_by_hop) {
                return true;
            }
            padding = 0;
        }
        at += len;
    }
    false
}

/// One option (type `kind`, `len` bytes with its type and length) that
/// Linux drops the packet for. The options Linux handles itself are kept
/// but for the Router Alert's length: CALIPSO, IOAM and Jumbo Payload
/// (Hop-by-Hop), the Mobile IPv6 Home Address (Destination Options) have
/// checks of their own not modelled here.
fn ipv6_option_dropped(kind: u8, len: usize, hop_by_hop: bool) -> bool {
    const ROUTER_ALERT: u8 = 0x05;
    const CALIPSO: u8 = 0x07;
    const IOAM: u8 = 0x31;
    const JUMBO: u8 = 0xC2;
    const HOME_ADDRESS: u8 = 0xC9;
    match (hop_by_hop, kind) {
        (true, ROUTER_ALERT) => len != 4,
        (true, CALIPSO | IOAM | JUMBO) | (false, HOME_ADDRESS) => false,
        _ => kind & 0xC0 != 0,
    }
}

/// What the IP header says comes next.
fn transport<'a>(
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    p: &'a [u8],
    short: bool,
    cx: &mut Ctx<'_, 'a>,
) -> Res<'a> {
    match proto {
        IPPROTO_TCP => tcp(src, dst, p, short, cx.key),
        IPPROTO_IPIP | IPPROTO_IPV6 if !cx.opts.decaps.ipip => Err(SkipReason::DecapDisabled),
        IPPROTO_IPIP => {
            enter_tunnel(cx)?;
            ipv4(p, short, cx)
        }
        IPPROTO_IPV6 => {
            enter_tunnel(cx)?;
            ipv6(p, short, cx)
        }
        IPPROTO_GRE if !cx.opts.decaps.gre => Err(SkipReason::DecapDisabled),
        IPPROTO_GRE => gre(p, short, cx),
        IPPROTO_UDP => udp(p, short, cx),
        _ => Err(SkipReason::NotTcp),
    }
}

/// The timestamp option (RFC 7323 §3: kind 8, length 10) as Linux's
/// `tcp_parse_options` reads it: options walked until an end-of-list or a
/// length that is too small or runs past the header, the last well-formed
/// one winning. (TSval, TSecr).
fn tcp_timestamp(options: &[u8]) -> Option<(u32, u32)> {
    let mut found = None;
    let mut at = 0;
    while let Some(kind) = byte(options, at) {
        match kind {
            0 => break,
            1 => at += 1,
            _ => {
                let Some(len) = byte(options, at + 1).map(usize::from) else {
                    break;
                };
                if len < 2 || at + len > options.len() {
                    break;
                }
                if kind == 8 && len == 10 {
                    found = Some((be32(options, at + 2)?, be32(options, at + 6)?));
                }
                at += len;
            }
        }
    }
    found
}

/// TCP header (RFC 9293 §3.1); of the options, only the timestamps are read.
fn tcp(src: IpAddr, dst: IpAddr, p: &[u8], short: bool, tunnel: u64) -> Res<'_> {
    let cut = ran_out(short, SkipReason::MalformedTcp);
    let hdr = p.get(..20).ok_or(cut)?;
    let doff = usize::from(byte(hdr, 12).ok_or(cut)? >> 4) * 4;
    if doff < 20 {
        return Err(SkipReason::MalformedTcp);
    }
    let payload = p.get(doff..).ok_or(cut)?;
    let flags = TcpFlags(byte(hdr, 13).ok_or(cut)?);
    Ok(TcpSegment {
        src,
        dst,
        src_port: be16(hdr, 0).ok_or(cut)?,
        dst_port: be16(hdr, 2).ok_or(cut)?,
        seq: be32(hdr, 4).ok_or(cut)?,
        ack: be32(hdr, 8).ok_or(cut)?,
        flags,
        window: be16(hdr, 14).ok_or(cut)?,
        urgent: if flags.urg() {
            be16(hdr, 18).ok_or(cut)?
        } else {
            0
        },
        payload,
        timestamp: p.get(20..doff).and_then(tcp_timestamp),
        tunnel,
    })
}

/// UDP: only as a carrier of VXLAN, Geneve or Teredo.
fn udp<'a>(p: &'a [u8], short: bool, cx: &mut Ctx<'_, 'a>) -> Res<'a> {
    let (Some(sport), Some(dport), Some(ulen)) = (be16(p, 0), be16(p, 2), be16(p, 4)) else {
        return Err(SkipReason::NotTcp);
    };
    let o = cx.opts;
    // Which tunnel the ports name (disabled decapsulations are checked
    // below, after the length, so a bad datagram is still malformed).
    let vx = o.vxlan_ports.contains(&dport);
    let gn = !vx && o.geneve_ports.contains(&dport);
    let tunnel = vx || gn || dport == PORT_TEREDO || sport == PORT_TEREDO;
    let ulen = usize::from(ulen);
    if ulen < 8 || (ulen > p.len() && !short) {
        return Err(if tunnel {
            SkipReason::MalformedTunnel
        } else {
            SkipReason::NotTcp
        });
    }
    let short = ulen > p.len();
    let payload = p.get(8..ulen.min(p.len())).unwrap_or_default();
    match () {
        _ if vx && !o.decaps.vxlan => Err(SkipReason::DecapDisabled),
        _ if vx => vxlan(payload, short, cx),
        _ if gn && !o.decaps.geneve => Err(SkipReason::DecapDisabled),
        _ if gn => geneve(payload, short, cx),
        _ if !o.decaps.teredo => Err(if tunnel {
            SkipReason::DecapDisabled
        } else {
            SkipReason::NotTcp
        }),
        // Teredo relays use any port (the client's mapped port and the
        // relay's): like tshark's teredo heuristic, any other UDP datagram
        // that is exactly one IPv6 packet is decoded as Teredo. The exact
        // length check keeps ordinary UDP (DNS, QUIC, ...) out.
        _ if tunnel => teredo(payload, short, cx),
        _ => teredo(payload, short, cx).map_err(|_| SkipReason::NotTcp),
    }
}

/// VXLAN (RFC 7348): 8-byte header with the VNI, then Ethernet.
fn vxlan<'a>(p: &'a [u8], short: bool, cx: &mut Ctx<'_, 'a>) -> Res<'a> {
    let cut = ran_out(short, SkipReason::MalformedTunnel);
    let flags = byte(p, 0).ok_or(cut)?;
    let vni = be32(p, 4).ok_or(cut)? >> 8;
    if flags & 0x08 == 0 {
        return Err(SkipReason::MalformedTunnel);
    }
    enter_tunnel(cx)?;
    cx.info.tunnel_id = vni;
    cx.fold_tunnel(KIND_VXLAN, vni);
    ethernet(p.get(8..).ok_or(cut)?, short, cx)
}

/// Geneve (RFC 8926): 8-byte header plus options, then the protocol type.
fn geneve<'a>(p: &'a [u8], short: bool, cx: &mut Ctx<'_, 'a>) -> Res<'a> {
    let cut = ran_out(short, SkipReason::MalformedTunnel);
    let b0 = byte(p, 0).ok_or(cut)?;
    if b0 >> 6 != 0 {
        return Err(SkipReason::MalformedTunnel);
    }
    let hlen = 8 + usize::from(b0 & 0x3f) * 4;
    let proto = be16(p, 2).ok_or(cut)?;
    let vni = be32(p, 4).ok_or(cut)? >> 8;
    let rest = p.get(hlen..).ok_or(cut)?;
    enter_tunnel(cx)?;
    cx.info.tunnel_id = vni;
    cx.fold_tunnel(KIND_GENEVE, vni);
    if proto == ET_TEB {
        ethernet(rest, short, cx)
    } else {
        ethertype(proto, rest, short, cx)
    }
}

/// Teredo (RFC 4380): optional authentication and origin indication
/// headers, then IPv6 whose length must fill the datagram (as Suricata
/// checks), so that other traffic on port 3544 is not taken for IPv6.
fn teredo<'a>(mut p: &'a [u8], short: bool, cx: &mut Ctx<'_, 'a>) -> Res<'a> {
    let cut = ran_out(short, SkipReason::MalformedTunnel);
    if be16(p, 0) == Some(0x0001) {
        let id_len = usize::from(byte(p, 2).ok_or(cut)?);
        let au_len = usize::from(byte(p, 3).ok_or(cut)?);
        // Indicator, lengths, client id, authenticator, nonce, confirmation.
        p = p.get(4 + id_len + au_len + 8 + 1..).ok_or(cut)?;
    }
    if be16(p, 0) == Some(0x0000) {
        p = p.get(8..).ok_or(cut)?;
    }
    let version = byte(p, 0).map(|b| b >> 4);
    let plen = be16(p, 4).map(usize::from);
    let fits = match plen {
        Some(n) if short => 40 + n >= p.len(),
        Some(n) => 40 + n == p.len(),
        None => false,
    };
    if version != Some(6) || !fits {
        return Err(SkipReason::NotTcp);
    }
    enter_tunnel(cx)?;
    // Teredo has no id, but its segments are a flow of their own: a Linux
    // server never decapsulates a UDP datagram, so a copy of a native flow's
    // segment sent inside one must not join that flow (review round 24).
    cx.fold_tunnel(KIND_TEREDO, 0);
    ipv6(p, short, cx)
}

/// GRE (RFC 2784, key and sequence of RFC 2890), carrying IP, Ethernet or
/// ERSPAN.
fn gre<'a>(p: &'a [u8], short: bool, cx: &mut Ctx<'_, 'a>) -> Res<'a> {
    let cut = ran_out(short, SkipReason::MalformedTunnel);
    let flags = be16(p, 0).ok_or(cut)?;
    let proto = be16(p, 2).ok_or(cut)?;
    if flags & 0x0007 != 0 || flags & 0x4000 != 0 {
        // Version 1 (PPTP) and source routing are not decoded.
        return Err(SkipReason::NotTcp);
    }
    let mut off = 4;
    if flags & 0x8000 != 0 {
        off += 4; // checksum + reserved
    }
    let mut key = None;
    if flags & 0x2000 != 0 {
        key = Some(be32(p, off).ok_or(cut)?);
        off += 4;
    }
    let has_seq = flags & 0x1000 != 0;
    if has_seq {
        off += 4;
    }
    let rest = p.get(off..).ok_or(cut)?;
    let erspan = matches!(proto, ET_ERSPAN2 | ET_ERSPAN3);
    if erspan && !cx.opts.decaps.erspan {
        return Err(SkipReason::DecapDisabled);
    }
    enter_tunnel(cx)?;
    cx.info.tunnel_id = key.unwrap_or(0);
    if let Some(k) = key {
        cx.fold_tunnel(KIND_GRE_KEY, k);
    }
    match proto {
        ET_TEB => ethernet(rest, short, cx),
        ET_ERSPAN2 if !has_seq => ethernet(rest, short, cx), // ERSPAN type I: no header
        ET_ERSPAN2 => {
            let w0 = be16(rest, 0).ok_or(cut)?;
            let session = be16(rest, 2).ok_or(cut)? & 0x03ff;
            if w0 >> 12 != 1 {
                return Err(SkipReason::MalformedTunnel);
            }
            if key.is_none() {
                cx.info.tunnel_id = u32::from(session);
            }
            cx.fold_tunnel(KIND_ERSPAN, u32::from(session));
            ethernet(rest.get(8..).ok_or(cut)?, short, cx)
        }
        ET_ERSPAN3 => {
            let w0 = be16(rest, 0).ok_or(cut)?;
            let session = be16(rest, 2).ok_or(cut)? & 0x03ff;
            let b10 = byte(rest, 10).ok_or(cut)?;
            let b11 = byte(rest, 11).ok_or(cut)?;
            if w0 >> 12 != 2 {
                return Err(SkipReason::MalformedTunnel);
            }
            if (b10 >> 2) & 0x1f != 0 {
                // Frame type other than Ethernet.
                return Err(SkipReason::NotIp);
            }
            if key.is_none() {
                cx.info.tunnel_id = u32::from(session);
            }
            cx.fold_tunnel(KIND_ERSPAN, u32::from(session));
            // Optional 8-byte platform-specific subheader (O bit).
            let hlen = if b11 & 0x01 != 0 { 20 } else { 12 };
            ethernet(rest.get(hlen..).ok_or(cut)?, short, cx)
        }
        _ => ethertype(proto, rest, short, cx),
    }
}
