//! The layer parsers behind [`decode_frame_ext`](super::decode_frame_ext).
//!
//! Every read goes through `get`, so no input can make these functions
//! panic. Each parser takes the bytes it owns plus `short`: true when those
//! bytes may have been cut by the capture (snap length), false when an outer
//! header declared their exact length. Running out of bytes is then
//! `Truncated` if `short`, else the layer's `Malformed*` reason.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{DecodeInfo, SkipReason, TcpFlags, TcpSegment};
use crate::capture::LinkType;

/// Most tunnels crossed to reach TCP; deeper nesting is
/// [`SkipReason::EncapTooDeep`].
pub const MAX_ENCAP_DEPTH: u8 = 4;
/// Most VLAN tags / MPLS labels / PPPoE headers between a link header and IP.
pub const MAX_LINK_TAGS: usize = 8;
/// Most IPv6 extension headers walked before TCP.
pub const MAX_IPV6_EXT_HEADERS: usize = 8;

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

const PORT_VXLAN: u16 = 4789;
const PORT_GENEVE: u16 = 6081;
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
fn enter_tunnel(info: &mut DecodeInfo) -> Result<(), SkipReason> {
    info.encap_depth = info.encap_depth.saturating_add(1);
    if info.encap_depth > MAX_ENCAP_DEPTH {
        return Err(SkipReason::EncapTooDeep);
    }
    Ok(())
}

/// Entry point: strip the link header named by `linktype`.
pub(super) fn link<'a>(linktype: LinkType, d: &'a [u8], info: &mut DecodeInfo) -> Res<'a> {
    let trunc = SkipReason::Truncated;
    match linktype {
        LinkType::ETHERNET => ethernet(d, true, info),
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
                ipv4(rest, true, info)
            } else if is(24) || is(28) || is(30) {
                ipv6(rest, true, info)
            } else {
                Err(SkipReason::NotIp)
            }
        }
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => ip_by_version(d, true, info),
        LinkType::IPV4 => ipv4(d, true, info),
        LinkType::IPV6 => ipv6(d, true, info),
        LinkType::LINUX_SLL => {
            let proto = be16(d, 14).ok_or(trunc)?;
            ethertype(proto, d.get(16..).ok_or(trunc)?, true, info)
        }
        LinkType::LINUX_SLL2 => {
            let proto = be16(d, 0).ok_or(trunc)?;
            ethertype(proto, d.get(20..).ok_or(trunc)?, true, info)
        }
        LinkType::CHDLC => {
            let proto = be16(d, 2).ok_or(trunc)?;
            ethertype(proto, d.get(4..).ok_or(trunc)?, true, info)
        }
        LinkType::VXLAN_PAYLOAD => vxlan(d, true, info),
        LinkType::GENEVE_PAYLOAD => geneve(d, true, info),
        _ => Err(SkipReason::UnsupportedLinkType),
    }
}

/// Ethernet II header (14 bytes), then the ethertype.
fn ethernet<'a>(d: &'a [u8], short: bool, info: &mut DecodeInfo) -> Res<'a> {
    let et = be16(d, 12).ok_or(ran_out(short, SkipReason::MalformedLink))?;
    let rest = d
        .get(14..)
        .ok_or(ran_out(short, SkipReason::MalformedLink))?;
    ethertype(et, rest, short, info)
}

/// Dispatch on an ethertype, through VLAN tags, PPPoE and MPLS.
fn ethertype<'a>(mut et: u16, mut d: &'a [u8], short: bool, info: &mut DecodeInfo) -> Res<'a> {
    let cut = ran_out(short, SkipReason::MalformedLink);
    for _ in 0..=MAX_LINK_TAGS {
        match et {
            ET_IPV4 => return ipv4(d, short, info),
            ET_IPV6 => return ipv6(d, short, info),
            ET_VLAN | ET_QINQ | ET_QINQ_OLD => {
                // 802.1Q / 802.1ad tag: TCI, then the next ethertype.
                let tci = be16(d, 0).ok_or(cut)?;
                if info.vlan_id == 0 {
                    info.vlan_id = tci & 0x0fff;
                }
                et = be16(d, 2).ok_or(cut)?;
                d = d.get(4..).ok_or(cut)?;
            }
            ET_PPPOE_SESSION => {
                // RFC 2516: ver/type, code, session, length, then PPP protocol.
                let ppp = be16(d, 6).ok_or(cut)?;
                let rest = d.get(8..).ok_or(cut)?;
                return match ppp {
                    0x0021 => ipv4(rest, short, info),
                    0x0057 => ipv6(rest, short, info),
                    _ => Err(SkipReason::NotIp),
                };
            }
            ET_MPLS | ET_MPLS_MC => {
                // Label stack (RFC 3032): the S bit marks the last label;
                // IP follows (no control word), version nibble decides.
                let entry = be32(d, 0).ok_or(cut)?;
                d = d.get(4..).ok_or(cut)?;
                if entry & 0x100 != 0 {
                    return ip_by_version(d, short, info);
                }
            }
            _ => return Err(SkipReason::NotIp),
        }
    }
    Err(SkipReason::MalformedLink)
}

fn ip_by_version<'a>(d: &'a [u8], short: bool, info: &mut DecodeInfo) -> Res<'a> {
    match byte(d, 0).ok_or(ran_out(short, SkipReason::MalformedIp))? >> 4 {
        4 => ipv4(d, short, info),
        6 => ipv6(d, short, info),
        _ => Err(SkipReason::MalformedIp),
    }
}

/// IPv4 (RFC 791), options skipped via IHL.
fn ipv4<'a>(d: &'a [u8], short: bool, info: &mut DecodeInfo) -> Res<'a> {
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
    if frag & 0x3fff != 0 {
        // More-fragments set or a non-zero offset.
        return Err(SkipReason::IpFragment);
    }
    let proto = byte(hdr, 9).ok_or(cut)?;
    let src = Ipv4Addr::from(be32(hdr, 12).ok_or(cut)?);
    let dst = Ipv4Addr::from(be32(hdr, 16).ok_or(cut)?);
    let end = total.min(d.len());
    let payload = d.get(ihl..end).ok_or(cut)?;
    let inner_short = total > d.len();
    transport(proto, src.into(), dst.into(), payload, inner_short, info)
}

/// IPv6 (RFC 8200) with extension headers.
fn ipv6<'a>(d: &'a [u8], short: bool, info: &mut DecodeInfo) -> Res<'a> {
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
    let inner_cut = ran_out(inner_short, SkipReason::MalformedIp);
    let mut p = d.get(40..40 + plen.min(avail)).ok_or(cut)?;
    let mut nh = byte(hdr, 6).ok_or(cut)?;
    for _ in 0..=MAX_IPV6_EXT_HEADERS {
        let len = match nh {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS | IPPROTO_MOBILITY
            | IPPROTO_HIP | IPPROTO_SHIM6 => (usize::from(byte(p, 1).ok_or(inner_cut)?) + 1) * 8,
            IPPROTO_AH => (usize::from(byte(p, 1).ok_or(inner_cut)?) + 2) * 4,
            IPPROTO_FRAGMENT => {
                let off_m = be16(p, 2).ok_or(inner_cut)?;
                // An "atomic" fragment (offset 0, M = 0) is a whole packet.
                if off_m & 0xfff9 != 0 {
                    return Err(SkipReason::IpFragment);
                }
                8
            }
            _ => {
                return transport(
                    nh,
                    Ipv6Addr::from(src).into(),
                    Ipv6Addr::from(dst).into(),
                    p,
                    inner_short,
                    info,
                )
            }
        };
        nh = byte(p, 0).ok_or(inner_cut)?;
        p = p.get(len..).ok_or(inner_cut)?;
    }
    Err(SkipReason::MalformedIp)
}

/// What the IP header says comes next.
fn transport<'a>(
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    p: &'a [u8],
    short: bool,
    info: &mut DecodeInfo,
) -> Res<'a> {
    match proto {
        IPPROTO_TCP => tcp(src, dst, p, short),
        IPPROTO_IPIP => {
            enter_tunnel(info)?;
            ipv4(p, short, info)
        }
        IPPROTO_IPV6 => {
            enter_tunnel(info)?;
            ipv6(p, short, info)
        }
        IPPROTO_GRE => gre(p, short, info),
        IPPROTO_UDP => udp(p, short, info),
        _ => Err(SkipReason::NotTcp),
    }
}

/// TCP header (RFC 9293 §3.1); options skipped via the data offset.
fn tcp(src: IpAddr, dst: IpAddr, p: &[u8], short: bool) -> Res<'_> {
    let cut = ran_out(short, SkipReason::MalformedTcp);
    let hdr = p.get(..20).ok_or(cut)?;
    let doff = usize::from(byte(hdr, 12).ok_or(cut)? >> 4) * 4;
    if doff < 20 {
        return Err(SkipReason::MalformedTcp);
    }
    let payload = p.get(doff..).ok_or(cut)?;
    Ok(TcpSegment {
        src,
        dst,
        src_port: be16(hdr, 0).ok_or(cut)?,
        dst_port: be16(hdr, 2).ok_or(cut)?,
        seq: be32(hdr, 4).ok_or(cut)?,
        ack: be32(hdr, 8).ok_or(cut)?,
        flags: TcpFlags(byte(hdr, 13).ok_or(cut)?),
        window: be16(hdr, 14).ok_or(cut)?,
        payload,
    })
}

/// UDP: only as a carrier of VXLAN, Geneve or Teredo.
fn udp<'a>(p: &'a [u8], short: bool, info: &mut DecodeInfo) -> Res<'a> {
    let (Some(sport), Some(dport), Some(ulen)) = (be16(p, 0), be16(p, 2), be16(p, 4)) else {
        return Err(SkipReason::NotTcp);
    };
    let tunnel =
        dport == PORT_VXLAN || dport == PORT_GENEVE || dport == PORT_TEREDO || sport == PORT_TEREDO;
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
    match dport {
        PORT_VXLAN => vxlan(payload, short, info),
        PORT_GENEVE => geneve(payload, short, info),
        // Teredo relays use any port (the client's mapped port and the
        // relay's): like tshark's teredo heuristic, any other UDP datagram
        // that is exactly one IPv6 packet is decoded as Teredo. The exact
        // length check keeps ordinary UDP (DNS, QUIC, ...) out.
        _ if tunnel => teredo(payload, short, info),
        _ => teredo(payload, short, info).map_err(|_| SkipReason::NotTcp),
    }
}

/// VXLAN (RFC 7348): 8-byte header with the VNI, then Ethernet.
fn vxlan<'a>(p: &'a [u8], short: bool, info: &mut DecodeInfo) -> Res<'a> {
    let cut = ran_out(short, SkipReason::MalformedTunnel);
    let flags = byte(p, 0).ok_or(cut)?;
    let vni = be32(p, 4).ok_or(cut)? >> 8;
    if flags & 0x08 == 0 {
        return Err(SkipReason::MalformedTunnel);
    }
    enter_tunnel(info)?;
    info.tunnel_id = vni;
    ethernet(p.get(8..).ok_or(cut)?, short, info)
}

/// Geneve (RFC 8926): 8-byte header plus options, then the protocol type.
fn geneve<'a>(p: &'a [u8], short: bool, info: &mut DecodeInfo) -> Res<'a> {
    let cut = ran_out(short, SkipReason::MalformedTunnel);
    let b0 = byte(p, 0).ok_or(cut)?;
    if b0 >> 6 != 0 {
        return Err(SkipReason::MalformedTunnel);
    }
    let hlen = 8 + usize::from(b0 & 0x3f) * 4;
    let proto = be16(p, 2).ok_or(cut)?;
    let vni = be32(p, 4).ok_or(cut)? >> 8;
    let rest = p.get(hlen..).ok_or(cut)?;
    enter_tunnel(info)?;
    info.tunnel_id = vni;
    if proto == ET_TEB {
        ethernet(rest, short, info)
    } else {
        ethertype(proto, rest, short, info)
    }
}

/// Teredo (RFC 4380): optional authentication and origin indication
/// headers, then IPv6 whose length must fill the datagram (as Suricata
/// checks), so that other traffic on port 3544 is not taken for IPv6.
fn teredo<'a>(mut p: &'a [u8], short: bool, info: &mut DecodeInfo) -> Res<'a> {
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
    enter_tunnel(info)?;
    ipv6(p, short, info)
}

/// GRE (RFC 2784, key and sequence of RFC 2890), carrying IP, Ethernet or
/// ERSPAN.
fn gre<'a>(p: &'a [u8], short: bool, info: &mut DecodeInfo) -> Res<'a> {
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
    enter_tunnel(info)?;
    info.tunnel_id = key.unwrap_or(0);
    match proto {
        ET_TEB => ethernet(rest, short, info),
        ET_ERSPAN2 if !has_seq => ethernet(rest, short, info), // ERSPAN type I: no header
        ET_ERSPAN2 => {
            let w0 = be16(rest, 0).ok_or(cut)?;
            let session = be16(rest, 2).ok_or(cut)? & 0x03ff;
            if w0 >> 12 != 1 {
                return Err(SkipReason::MalformedTunnel);
            }
            if key.is_none() {
                info.tunnel_id = u32::from(session);
            }
            ethernet(rest.get(8..).ok_or(cut)?, short, info)
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
                info.tunnel_id = u32::from(session);
            }
            // Optional 8-byte platform-specific subheader (O bit).
            let hlen = if b11 & 0x01 != 0 { 20 } else { 12 };
            ethernet(rest.get(hlen..).ok_or(cut)?, short, info)
        }
        _ => ethertype(proto, rest, short, info),
    }
}
