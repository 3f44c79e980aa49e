//! Fixtures for every link type, layer and tunnel, built with etherparse's
//! `PacketBuilder` for the inner IP/TCP and wrapped by hand.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::PacketBuilder;
use proptest::prelude::*;

use super::*;
use crate::capture::LinkType;
use crate::capture::Timestamp;

const PAYLOAD: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
const SRC4: [u8; 4] = [10, 0, 0, 1];
const DST4: [u8; 4] = [10, 0, 0, 2];
const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn ip4_tcp(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4(SRC4, DST4, 64)
        .tcp(40000, 80, 1000, 512)
        .ack(2000)
        .psh();
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).unwrap();
    v
}

fn ip6_tcp(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv6(SRC6, DST6, 64)
        .tcp(40000, 80, 1000, 512)
        .ack(2000)
        .psh();
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).unwrap();
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn eth(ethertype: u16, inner: &[u8]) -> Vec<u8> {
    let mut v = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(inner);
    v
}

/// Ethernet with VLAN tags: `tags` are (tpid, vid), outermost first.
fn eth_tagged(tags: &[(u16, u16)], et: u16, inner: &[u8]) -> Vec<u8> {
    let mut v = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    let mut tpids: Vec<u16> = tags.iter().map(|t| t.0).collect();
    tpids.push(et);
    v.extend_from_slice(&tpids[0].to_be_bytes());
    for (i, (_, vid)) in tags.iter().enumerate() {
        v.extend_from_slice(&vid.to_be_bytes());
        v.extend_from_slice(&tpids[i + 1].to_be_bytes());
    }
    v.extend_from_slice(inner);
    v
}

fn udp(sport: u16, dport: u16, inner: &[u8]) -> Vec<u8> {
    let len = (8 + inner.len()) as u16;
    cat(&[
        &sport.to_be_bytes(),
        &dport.to_be_bytes(),
        &len.to_be_bytes(),
        &[0, 0],
        inner,
    ])
}

/// Outer IPv4 header (no options) around `inner` with protocol `proto`.
fn ip4_wrap(proto: u8, inner: &[u8]) -> Vec<u8> {
    let total = (20 + inner.len()) as u16;
    let mut v = vec![0x45, 0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    v.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]);
    v.extend_from_slice(inner);
    v
}

fn ip6_wrap(nh: u8, inner: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&(inner.len() as u16).to_be_bytes());
    v.extend_from_slice(&[nh, 64]);
    v.extend_from_slice(&SRC6);
    v.extend_from_slice(&DST6);
    v.extend_from_slice(inner);
    v
}

fn assert_v4(seg: &TcpSegment<'_>) {
    assert_eq!(seg.src, IpAddr::V4(Ipv4Addr::from(SRC4)));
    assert_eq!(seg.dst, IpAddr::V4(Ipv4Addr::from(DST4)));
    assert_eq!((seg.src_port, seg.dst_port), (40000, 80));
    assert_eq!((seg.seq, seg.ack, seg.window), (1000, 2000, 512));
    assert!(seg.flags.ack() && seg.flags.psh() && !seg.flags.syn());
    assert_eq!(seg.payload, PAYLOAD);
}

fn assert_v6(seg: &TcpSegment<'_>) {
    assert_eq!(seg.src, IpAddr::V6(Ipv6Addr::from(SRC6)));
    assert_eq!(seg.dst, IpAddr::V6(Ipv6Addr::from(DST6)));
    assert_eq!((seg.src_port, seg.dst_port, seg.seq), (40000, 80, 1000));
    assert_eq!(seg.payload, PAYLOAD);
}

/// Decode a frame that must yield a segment. The bytes are leaked so that
/// fixtures can be built inline (tests only).
fn ok(lt: LinkType, d: &[u8]) -> (TcpSegment<'static>, DecodeInfo) {
    let d: &'static [u8] = Box::leak(d.to_vec().into_boxed_slice());
    match decode_frame_ext(lt, d) {
        Ok(x) => x,
        Err(e) => panic!("expected a segment, got {e:?}"),
    }
}

// ---- link layers -------------------------------------------------------

#[test]
fn ethernet_ipv4_and_ipv6() {
    let f = eth(0x0800, &ip4_tcp(PAYLOAD));
    let (s, info) = ok(LinkType::ETHERNET, &f);
    assert_v4(&s);
    assert_eq!(info, DecodeInfo::default());
    assert_v6(&ok(LinkType::ETHERNET, &eth(0x86dd, &ip6_tcp(PAYLOAD))).0);
    // Built by etherparse end to end, too.
    let b = PacketBuilder::ethernet2([2; 6], [3; 6])
        .ipv4(SRC4, DST4, 64)
        .tcp(40000, 80, 1000, 512)
        .ack(2000)
        .psh();
    let mut v = Vec::new();
    b.write(&mut v, PAYLOAD).unwrap();
    assert_v4(&decode_frame(LinkType::ETHERNET, &v).unwrap());
}

#[test]
fn ethernet_padding_is_trimmed() {
    // A bare ACK is 54 bytes; Ethernet pads it to 60.
    let mut f = eth(0x0800, &ip4_tcp(b""));
    f.extend_from_slice(&[0xAA; 6]);
    let s = decode_frame(LinkType::ETHERNET, &f).unwrap();
    assert_eq!(s.payload, b"");
    let mut f = eth(0x86dd, &ip6_tcp(b"x"));
    f.extend_from_slice(&[0xAA; 9]);
    assert_eq!(decode_frame(LinkType::ETHERNET, &f).unwrap().payload, b"x");
}

#[test]
fn snaplen_cut_payload_hands_on_captured_bytes() {
    let f = eth(0x0800, &ip4_tcp(PAYLOAD));
    let cut = &f[..f.len() - 5];
    let s = decode_frame(LinkType::ETHERNET, cut).unwrap();
    assert_eq!(s.payload, &PAYLOAD[..PAYLOAD.len() - 5]);
    let f = eth(0x86dd, &ip6_tcp(PAYLOAD));
    let s = decode_frame(LinkType::ETHERNET, &f[..f.len() - 3]).unwrap();
    assert_eq!(s.payload, &PAYLOAD[..PAYLOAD.len() - 3]);
}

#[test]
fn vlan_qinq_and_8021ad() {
    let ip = ip4_tcp(PAYLOAD);
    let (s, info) = ok(
        LinkType::ETHERNET,
        &eth_tagged(&[(0x8100, 100)], 0x0800, &ip),
    );
    assert_v4(&s);
    assert_eq!(info.vlan_id, 100);
    let f = eth_tagged(&[(0x88a8, 200), (0x8100, 300)], 0x86dd, &ip6_tcp(PAYLOAD));
    let (s, info) = ok(LinkType::ETHERNET, &f);
    assert_v6(&s);
    assert_eq!(info.vlan_id, 200);
    let f = eth_tagged(&[(0x9100, 7), (0x9100, 8), (0x8100, 9)], 0x0800, &ip);
    assert_v4(&ok(LinkType::ETHERNET, &f).0);
    // etherparse's double VLAN agrees.
    let b = PacketBuilder::ethernet2([2; 6], [3; 6])
        .double_vlan(
            etherparse::VlanId::try_new(5).unwrap(),
            etherparse::VlanId::try_new(6).unwrap(),
        )
        .ipv4(SRC4, DST4, 64)
        .tcp(40000, 80, 1000, 512)
        .ack(2000)
        .psh();
    let mut v = Vec::new();
    b.write(&mut v, PAYLOAD).unwrap();
    let (s, info) = ok(LinkType::ETHERNET, &v);
    assert_v4(&s);
    assert_eq!(info.vlan_id, 5);
}

#[test]
fn too_many_vlan_tags_is_malformed_link() {
    let tags = vec![(0x8100u16, 1u16); MAX_LINK_TAGS + 1];
    let f = eth_tagged(&tags, 0x0800, &ip4_tcp(PAYLOAD));
    assert_eq!(
        decode_frame(LinkType::ETHERNET, &f),
        Err(SkipReason::MalformedLink)
    );
    let tags = vec![(0x8100u16, 1u16); MAX_LINK_TAGS];
    let f = eth_tagged(&tags, 0x0800, &ip4_tcp(PAYLOAD));
    assert_v4(&decode_frame(LinkType::ETHERNET, &f).unwrap());
}

#[test]
fn ethernet_non_ip_and_truncation() {
    assert_eq!(
        decode_frame(LinkType::ETHERNET, &eth(0x0806, &[0; 28])),
        Err(SkipReason::NotIp)
    );
    let f = eth(0x0800, &ip4_tcp(PAYLOAD));
    for n in [0, 5, 13] {
        assert_eq!(
            decode_frame(LinkType::ETHERNET, &f[..n]),
            Err(SkipReason::Truncated)
        );
    }
    // Cut inside a VLAN tag.
    let f = eth_tagged(&[(0x8100, 1)], 0x0800, &ip4_tcp(PAYLOAD));
    assert_eq!(
        decode_frame(LinkType::ETHERNET, &f[..16]),
        Err(SkipReason::Truncated)
    );
}

#[test]
fn pppoe_and_mpls() {
    let ip = ip4_tcp(PAYLOAD);
    let pppoe = cat(&[
        &[0x11, 0, 0, 1],
        &((ip.len() + 2) as u16).to_be_bytes(),
        &[0, 0x21],
        &ip,
    ]);
    assert_v4(&ok(LinkType::ETHERNET, &eth(0x8864, &pppoe)).0);
    // Two labels, the second with bottom-of-stack.
    let mpls = cat(&[
        &[0, 0x01, 0x00, 64],
        &[0, 0x02, 0x01, 64],
        &ip6_tcp(PAYLOAD),
    ]);
    assert_v6(&ok(LinkType::ETHERNET, &eth(0x8847, &mpls)).0);
}

#[test]
fn null_loop_both_byte_orders() {
    let ip4 = ip4_tcp(PAYLOAD);
    let ip6 = ip6_tcp(PAYLOAD);
    for af in [2u32.to_le_bytes(), 2u32.to_be_bytes()] {
        assert_v4(&decode_frame(LinkType::NULL, &cat(&[&af, &ip4])).unwrap());
    }
    for v in [24u32, 28, 30] {
        for af in [v.to_le_bytes(), v.to_be_bytes()] {
            assert_v6(&decode_frame(LinkType::NULL, &cat(&[&af, &ip6])).unwrap());
        }
    }
    assert_v4(&decode_frame(LinkType::LOOP, &cat(&[&2u32.to_be_bytes(), &ip4])).unwrap());
    assert_v6(&decode_frame(LinkType::LOOP, &cat(&[&30u32.to_be_bytes(), &ip6])).unwrap());
    // LOOP is network order only.
    assert_eq!(
        decode_frame(LinkType::LOOP, &cat(&[&2u32.to_le_bytes(), &ip4])),
        Err(SkipReason::NotIp)
    );
    assert_eq!(
        decode_frame(LinkType::NULL, &cat(&[&7u32.to_le_bytes(), &ip4])),
        Err(SkipReason::NotIp)
    );
    assert_eq!(
        decode_frame(LinkType::NULL, &[2, 0, 0]),
        Err(SkipReason::Truncated)
    );
}

#[test]
fn raw_ipv4_ipv6_linktypes() {
    let ip4 = ip4_tcp(PAYLOAD);
    let ip6 = ip6_tcp(PAYLOAD);
    for lt in [LinkType::RAW, LinkType::RAW_12, LinkType::RAW_14] {
        assert_v4(&decode_frame(lt, &ip4).unwrap());
        assert_v6(&decode_frame(lt, &ip6).unwrap());
        assert_eq!(decode_frame(lt, &[]), Err(SkipReason::Truncated));
        assert_eq!(decode_frame(lt, &[0x50; 40]), Err(SkipReason::MalformedIp));
    }
    assert_v4(&decode_frame(LinkType::IPV4, &ip4).unwrap());
    assert_v6(&decode_frame(LinkType::IPV6, &ip6).unwrap());
    assert_eq!(
        decode_frame(LinkType::IPV4, &ip6),
        Err(SkipReason::MalformedIp)
    );
    assert_eq!(
        decode_frame(LinkType::IPV6, &ip4),
        Err(SkipReason::MalformedIp)
    );
}

#[test]
fn linux_sll_and_sll2() {
    let ip4 = ip4_tcp(PAYLOAD);
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
    sll.extend_from_slice(&0x0800u16.to_be_bytes());
    assert_v4(&decode_frame(LinkType::LINUX_SLL, &cat(&[&sll, &ip4])).unwrap());
    assert_eq!(
        decode_frame(LinkType::LINUX_SLL, &sll[..15]),
        Err(SkipReason::Truncated)
    );
    // etherparse builds the same SLL header.
    let b = PacketBuilder::linux_sll(
        etherparse::LinuxSllPacketType::OUTGOING,
        6,
        [2, 0, 0, 0, 0, 1, 0, 0],
    )
    .ipv4(SRC4, DST4, 64)
    .tcp(40000, 80, 1000, 512)
    .ack(2000)
    .psh();
    let mut v = Vec::new();
    b.write(&mut v, PAYLOAD).unwrap();
    assert_v4(&decode_frame(LinkType::LINUX_SLL, &v).unwrap());

    let mut sll2 = 0x86ddu16.to_be_bytes().to_vec();
    sll2.extend_from_slice(&[0, 0, 0, 0, 0, 2, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(sll2.len(), 20);
    assert_v6(&decode_frame(LinkType::LINUX_SLL2, &cat(&[&sll2, &ip6_tcp(PAYLOAD)])).unwrap());
    assert_eq!(
        decode_frame(LinkType::LINUX_SLL2, &sll2[..19]),
        Err(SkipReason::Truncated)
    );
    let mut arp = sll2.clone();
    arp[..2].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(
        decode_frame(LinkType::LINUX_SLL2, &arp),
        Err(SkipReason::NotIp)
    );
}

#[test]
fn chdlc() {
    let f = cat(&[&[0x0f, 0x00, 0x08, 0x00], &ip4_tcp(PAYLOAD)]);
    assert_v4(&decode_frame(LinkType::CHDLC, &f).unwrap());
    let f = cat(&[&[0x8f, 0x00, 0x86, 0xdd], &ip6_tcp(PAYLOAD)]);
    assert_v6(&decode_frame(LinkType::CHDLC, &f).unwrap());
    assert_eq!(
        decode_frame(LinkType::CHDLC, &[0x0f, 0, 8]),
        Err(SkipReason::Truncated)
    );
}

#[test]
fn unsupported_linktype() {
    assert_eq!(
        decode_frame(LinkType(146), &ip4_tcp(PAYLOAD)),
        Err(SkipReason::UnsupportedLinkType)
    );
}

// ---- IPv4 --------------------------------------------------------------

/// IPv4+TCP with `opts` inserted as IPv4 options (length multiple of 4).
fn ip4_with_options(opts: &[u8]) -> Vec<u8> {
    let base = ip4_tcp(PAYLOAD);
    let mut v = cat(&[&base[..20], opts, &base[20..]]);
    v[0] = 0x40 | ((20 + opts.len()) / 4) as u8;
    let total = v.len() as u16;
    v[2..4].copy_from_slice(&total.to_be_bytes());
    v
}

#[test]
fn ipv4_options_are_skipped() {
    let v = ip4_with_options(&[0x94, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00]);
    assert_v4(&decode_frame(LinkType::RAW, &v).unwrap());
}

#[test]
fn ipv4_impossible_lengths() {
    let base = ip4_tcp(PAYLOAD);
    let mut v = base.clone();
    v[0] = 0x44; // IHL 4 < 5
    assert_eq!(
        decode_frame(LinkType::RAW, &v),
        Err(SkipReason::MalformedIp)
    );
    let mut v = base.clone();
    v[2..4].copy_from_slice(&19u16.to_be_bytes()); // total < IHL
    assert_eq!(
        decode_frame(LinkType::RAW, &v),
        Err(SkipReason::MalformedIp)
    );
    let mut v = base.clone();
    v[2..4].copy_from_slice(&30u16.to_be_bytes()); // TCP header beyond IP length
    assert_eq!(
        decode_frame(LinkType::RAW, &v),
        Err(SkipReason::MalformedTcp)
    );
    // IHL beyond the captured bytes.
    let mut v = base[..24].to_vec();
    v[0] = 0x47;
    assert_eq!(decode_frame(LinkType::RAW, &v), Err(SkipReason::Truncated));
    for n in [1, 19, 20, 39] {
        assert_eq!(
            decode_frame(LinkType::RAW, &base[..n]),
            Err(SkipReason::Truncated),
            "{n}"
        );
    }
}

#[test]
fn ipv4_total_length_zero_uses_captured_bytes() {
    let mut v = ip4_tcp(PAYLOAD);
    v[2..4].copy_from_slice(&[0, 0]);
    assert_v4(&decode_frame(LinkType::RAW, &v).unwrap());
}

#[test]
fn ipv4_fragments_are_skipped() {
    let base = ip4_tcp(PAYLOAD);
    for flags in [[0x20u8, 0x00], [0x00, 0x10], [0x20, 0x01]] {
        let mut v = base.clone();
        v[6..8].copy_from_slice(&flags);
        assert_eq!(decode_frame(LinkType::RAW, &v), Err(SkipReason::IpFragment));
    }
    let mut v = base.clone();
    v[6..8].copy_from_slice(&[0x40, 0x00]); // DF only: a whole packet
    assert_v4(&decode_frame(LinkType::RAW, &v).unwrap());
}

#[test]
fn ipv4_not_tcp() {
    let v = ip4_wrap(1, &[8, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(decode_frame(LinkType::RAW, &v), Err(SkipReason::NotTcp));
    let v = ip4_wrap(17, &udp(1234, 53, b"q"));
    assert_eq!(decode_frame(LinkType::RAW, &v), Err(SkipReason::NotTcp));
}

// ---- IPv6 --------------------------------------------------------------

/// IPv6+TCP with extension headers `exts` (each (type, bytes), bytes[0] is
/// overwritten with the next header).
fn ip6_with_ext(exts: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let base = ip6_tcp(PAYLOAD);
    let mut body = Vec::new();
    for (i, (_, bytes)) in exts.iter().enumerate() {
        let mut b = bytes.clone();
        b[0] = exts.get(i + 1).map(|e| e.0).unwrap_or(6);
        body.extend_from_slice(&b);
    }
    body.extend_from_slice(&base[40..]);
    let mut v = base[..40].to_vec();
    v[4..6].copy_from_slice(&(body.len() as u16).to_be_bytes());
    v[6] = exts.first().map(|e| e.0).unwrap_or(6);
    v.extend_from_slice(&body);
    v
}

fn opts8() -> Vec<u8> {
    vec![0, 0, 1, 4, 0, 0, 0, 0] // PadN
}

#[test]
fn ipv6_extension_headers() {
    let routing = vec![0, 2, 0, 0, 0, 0, 0, 0]
        .into_iter()
        .chain(DST6.iter().copied())
        .collect::<Vec<_>>();
    let frag_atomic = vec![0, 0, 0, 0, 0, 0, 0, 42];
    let v = ip6_with_ext(&[
        (0, opts8()),
        (60, opts8()),
        (43, routing),
        (44, frag_atomic),
        (51, vec![0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2]),
    ]);
    assert_v6(&decode_frame(LinkType::RAW, &v).unwrap());
}

#[test]
fn ipv6_fragments_are_skipped() {
    for off_m in [[0u8, 1], [0, 8], [1, 0]] {
        let v = ip6_with_ext(&[(44, vec![0, 0, off_m[0], off_m[1], 0, 0, 0, 1])]);
        assert_eq!(
            decode_frame(LinkType::RAW, &v),
            Err(SkipReason::IpFragment),
            "{off_m:?}"
        );
    }
}

#[test]
fn ipv6_impossible_lengths() {
    let base = ip6_tcp(PAYLOAD);
    for n in [0, 1, 39, 40, 59] {
        assert_eq!(
            decode_frame(LinkType::RAW, &base[..n]),
            Err(SkipReason::Truncated),
            "{n}"
        );
    }
    // Payload length smaller than the TCP header.
    let mut v = base.clone();
    v[4..6].copy_from_slice(&10u16.to_be_bytes());
    assert_eq!(
        decode_frame(LinkType::RAW, &v),
        Err(SkipReason::MalformedTcp)
    );
    // Extension header longer than the payload length.
    let mut v = ip6_with_ext(&[(0, opts8())]);
    v[41] = 200;
    assert_eq!(
        decode_frame(LinkType::RAW, &v),
        Err(SkipReason::MalformedIp)
    );
    // ... or cut by the capture.
    let v = ip6_with_ext(&[(0, opts8())]);
    assert_eq!(
        decode_frame(LinkType::RAW, &v[..45]),
        Err(SkipReason::Truncated)
    );
    // Any number of extension headers is walked (as Linux does; review
    // round 17): see review17_ipv6_many_extension_headers_are_walked.
    // No next header.
    let v = ip6_wrap(59, &[]);
    assert_eq!(decode_frame(LinkType::RAW, &v), Err(SkipReason::NotTcp));
}

// ---- TCP ---------------------------------------------------------------

#[test]
fn tcp_bad_data_offset_and_options() {
    let mut v = ip4_tcp(PAYLOAD);
    v[20 + 12] = 0x40; // data offset 4
    assert_eq!(
        decode_frame(LinkType::RAW, &v),
        Err(SkipReason::MalformedTcp)
    );
    let mut v = ip4_tcp(PAYLOAD);
    v[20 + 12] = 0xf0; // 60 bytes: beyond the IP length
    assert_eq!(
        decode_frame(LinkType::RAW, &v),
        Err(SkipReason::MalformedTcp)
    );
    // Options counted by the data offset.
    let mut v = ip4_tcp(PAYLOAD);
    v[20 + 12] = 0x60;
    let s = decode_frame(LinkType::RAW, &v).unwrap();
    assert_eq!(s.payload, &PAYLOAD[4..]);
    // TCP cut by the capture.
    let v = ip4_tcp(PAYLOAD);
    assert_eq!(
        decode_frame(LinkType::RAW, &v[..30]),
        Err(SkipReason::Truncated)
    );
}

// ---- tunnels -----------------------------------------------------------

#[test]
fn ip_in_ip() {
    let (s, info) = ok(LinkType::RAW, &ip4_wrap(4, &ip4_tcp(PAYLOAD)));
    assert_v4(&s);
    assert_eq!(info.encap_depth, 1);
    let (s, info) = ok(LinkType::RAW, &ip4_wrap(41, &ip6_tcp(PAYLOAD)));
    assert_v6(&s);
    assert_eq!(info.encap_depth, 1);
    let (s, info) = ok(LinkType::RAW, &ip6_wrap(4, &ip4_tcp(PAYLOAD)));
    assert_v4(&s);
    assert_eq!(info.encap_depth, 1);
    // Inner IP claims more than the outer payload holds.
    let mut inner = ip4_tcp(PAYLOAD);
    inner[2..4].copy_from_slice(&500u16.to_be_bytes());
    assert_eq!(
        decode_frame(LinkType::RAW, &ip4_wrap(4, &inner)),
        Err(SkipReason::MalformedIp)
    );
}

#[test]
fn encapsulation_depth_limit() {
    let mut p = ip4_tcp(PAYLOAD);
    for _ in 0..MAX_ENCAP_DEPTH {
        p = ip4_wrap(4, &p);
    }
    let (s, info) = ok(LinkType::RAW, &p);
    assert_v4(&s);
    assert_eq!(info.encap_depth, MAX_ENCAP_DEPTH);
    let p = ip4_wrap(4, &p);
    assert_eq!(
        decode_frame(LinkType::RAW, &p),
        Err(SkipReason::EncapTooDeep)
    );
}

fn gre(flags: u16, proto: u16, extra: &[u8], inner: &[u8]) -> Vec<u8> {
    cat(&[&flags.to_be_bytes(), &proto.to_be_bytes(), extra, inner])
}

#[test]
fn gre_ip_and_key() {
    let (s, info) = ok(
        LinkType::RAW,
        &ip4_wrap(47, &gre(0, 0x0800, &[], &ip4_tcp(PAYLOAD))),
    );
    assert_v4(&s);
    assert_eq!((info.encap_depth, info.tunnel_id), (1, 0));
    // Checksum + key + sequence present.
    let extra = [0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 9];
    let g = gre(0xb000, 0x86dd, &extra, &ip6_tcp(PAYLOAD));
    let (s, info) = ok(LinkType::RAW, &ip4_wrap(47, &g));
    assert_v6(&s);
    assert_eq!(info.tunnel_id, 0x1234);
    // Transparent Ethernet bridging.
    let g = gre(
        0x2000,
        0x6558,
        &[0, 0, 0, 7],
        &eth(0x0800, &ip4_tcp(PAYLOAD)),
    );
    let (s, info) = ok(LinkType::RAW, &ip6_wrap(47, &g));
    assert_v4(&s);
    assert_eq!(info.tunnel_id, 7);
    // Cut GRE header; PPTP (version 1) is not decoded.
    assert_eq!(
        decode_frame(LinkType::RAW, &ip4_wrap(47, &[0, 0, 8])),
        Err(SkipReason::MalformedTunnel)
    );
    let g = gre(0x3001, 0x880b, &[0, 0, 0, 0, 0, 0, 0, 0], &[]);
    assert_eq!(
        decode_frame(LinkType::RAW, &ip4_wrap(47, &g)),
        Err(SkipReason::NotTcp)
    );
}

#[test]
fn gre_erspan() {
    let inner = eth(0x0800, &ip4_tcp(PAYLOAD));
    // Type II: GRE with sequence, 8-byte ERSPAN header, version 1, session 0x155.
    let hdr2 = [0x10, 0x64, 0x01, 0x55, 0, 0, 0, 0];
    let g = gre(0x1000, 0x88be, &[0, 0, 0, 1], &cat(&[&hdr2, &inner]));
    let (s, info) = ok(LinkType::ETHERNET, &eth(0x0800, &ip4_wrap(47, &g)));
    assert_v4(&s);
    assert_eq!((info.encap_depth, info.tunnel_id), (1, 0x155));
    // Type I: no sequence, no ERSPAN header.
    let g = gre(0, 0x88be, &[], &inner);
    assert_v4(&ok(LinkType::RAW, &ip4_wrap(47, &g)).0);
    // Type III, with and without the platform-specific subheader.
    let hdr3 = [0x20, 0x00, 0x00, 0x2a, 0, 0, 0, 0, 0, 0, 0, 0];
    let g = gre(0x1000, 0x22eb, &[0, 0, 0, 1], &cat(&[&hdr3, &inner]));
    let (s, info) = ok(LinkType::RAW, &ip4_wrap(47, &g));
    assert_v4(&s);
    assert_eq!(info.tunnel_id, 42);
    let mut hdr3o = hdr3.to_vec();
    hdr3o[11] = 1;
    hdr3o.extend_from_slice(&[0; 8]);
    let g = gre(0x1000, 0x22eb, &[0, 0, 0, 1], &cat(&[&hdr3o, &inner]));
    assert_v4(&ok(LinkType::RAW, &ip4_wrap(47, &g)).0);
    // Bad ERSPAN version; truncated ERSPAN header.
    let mut bad = hdr2;
    bad[0] = 0x30;
    let g = gre(0x1000, 0x88be, &[0, 0, 0, 1], &cat(&[&bad, &inner]));
    assert_eq!(
        decode_frame(LinkType::RAW, &ip4_wrap(47, &g)),
        Err(SkipReason::MalformedTunnel)
    );
    let g = gre(0x1000, 0x22eb, &[0, 0, 0, 1], &hdr3[..6]);
    assert_eq!(
        decode_frame(LinkType::RAW, &ip4_wrap(47, &g)),
        Err(SkipReason::MalformedTunnel)
    );
}

#[test]
fn vxlan() {
    let vx = cat(&[
        &[0x08, 0, 0, 0, 0x00, 0x30, 0x39, 0],
        &eth(0x0800, &ip4_tcp(PAYLOAD)),
    ]);
    let f = eth(0x0800, &ip4_wrap(17, &udp(50000, 4789, &vx)));
    let (s, info) = ok(LinkType::ETHERNET, &f);
    assert_v4(&s);
    assert_eq!((info.encap_depth, info.tunnel_id), (1, 12345));
    // I flag missing; header cut.
    let mut bad = vx.clone();
    bad[0] = 0;
    assert_eq!(
        decode_frame(LinkType::RAW, &ip4_wrap(17, &udp(1, 4789, &bad))),
        Err(SkipReason::MalformedTunnel)
    );
    assert_eq!(
        decode_frame(LinkType::RAW, &ip4_wrap(17, &udp(1, 4789, &vx[..5]))),
        Err(SkipReason::MalformedTunnel)
    );
}

#[test]
fn geneve() {
    // One 8-byte option (length 2 words), Ethernet payload, VNI 77.
    let hdr = [
        0x02, 0, 0x65, 0x58, 0, 0, 77, 0, 0x01, 0x02, 0x03, 0x01, 0, 0, 0, 0,
    ];
    let g = cat(&[&hdr, &eth(0x86dd, &ip6_tcp(PAYLOAD))]);
    let (s, info) = ok(LinkType::RAW, &ip6_wrap(17, &udp(1, 6081, &g)));
    assert_v6(&s);
    assert_eq!((info.encap_depth, info.tunnel_id), (1, 77));
    // IPv4 directly.
    let g = cat(&[&[0, 0, 0x08, 0x00, 0, 0, 1, 0], &ip4_tcp(PAYLOAD)[..]]);
    assert_v4(&ok(LinkType::RAW, &ip4_wrap(17, &udp(1, 6081, &g))).0);
    // Options longer than the datagram.
    let g = [0x3f, 0, 0x65, 0x58, 0, 0, 1, 0];
    assert_eq!(
        decode_frame(LinkType::RAW, &ip4_wrap(17, &udp(1, 6081, &g))),
        Err(SkipReason::MalformedTunnel)
    );
}

#[test]
fn teredo() {
    let ip6 = ip6_tcp(PAYLOAD);
    let (s, info) = ok(LinkType::RAW, &ip4_wrap(17, &udp(3544, 50000, &ip6)));
    assert_v6(&s);
    assert_eq!(info.encap_depth, 1);
    // Origin indication, then IPv6.
    let oi = cat(&[&[0, 0, 0x12, 0x34, 1, 2, 3, 4], &ip6]);
    assert_v6(&ok(LinkType::RAW, &ip4_wrap(17, &udp(50000, 3544, &oi))).0);
    // Authentication (id 1 byte, auth 0), then origin indication, then IPv6.
    let auth = cat(&[&[0, 1, 1, 0, 9], &[0; 8], &[0], &oi]);
    assert_v6(&ok(LinkType::RAW, &ip4_wrap(17, &udp(50000, 3544, &auth))).0);
    // Something else on port 3544 is just UDP.
    assert_eq!(
        decode_frame(LinkType::RAW, &ip4_wrap(17, &udp(3544, 1, b"hello teredo"))),
        Err(SkipReason::NotTcp)
    );
    let mut padded = ip6.clone();
    padded.push(0);
    assert_eq!(
        decode_frame(LinkType::RAW, &ip4_wrap(17, &udp(3544, 1, &padded))),
        Err(SkipReason::NotTcp)
    );
    // Relays use other ports (decode-teredo-01 in the corpus: 3797 <-> 32900):
    // an exact IPv6 packet in any UDP datagram is Teredo.
    assert_v6(&ok(LinkType::RAW, &ip4_wrap(17, &udp(3797, 32900, &ip6))).0);
    // Ordinary UDP elsewhere stays UDP, whatever it looks like.
    assert_eq!(
        decode_frame(LinkType::RAW, &ip4_wrap(17, &udp(53, 40000, &padded))),
        Err(SkipReason::NotTcp)
    );
    assert_eq!(
        decode_frame(
            LinkType::RAW,
            &ip4_wrap(17, &udp(53, 40000, &[0, 1, 200, 200, 1]))
        ),
        Err(SkipReason::NotTcp)
    );
}

#[test]
fn skip_reason_names_are_stable_and_unique() {
    let names: Vec<&str> = SkipReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "unsupported_link_type",
            "not_ip",
            "not_tcp",
            "ip_fragment",
            "malformed_link",
            "malformed_ip",
            "malformed_tcp",
            "truncated",
            "malformed_tunnel",
            "encap_too_deep",
            "decap_disabled"
        ]
    );
}

const LINKTYPES: [LinkType; 12] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW_12,
    LinkType::RAW_14,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType::CHDLC,
    LinkType(147),
];

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(lt in 0usize..LINKTYPES.len(), data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_frame_ext(LINKTYPES[lt], &data);
    }

    /// Mutating bytes of valid tunnelled frames reaches deep code paths.
    #[test]
    fn never_panics_on_mutated_frames(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let vx = cat(&[&[0x08, 0, 0, 0, 0, 0, 1, 0], &eth(0x0800, &ip4_tcp(PAYLOAD))]);
        let mut f = match which {
            0 => eth(0x0800, &ip4_wrap(17, &udp(1, 4789, &vx))),
            1 => eth(0x86dd, &ip6_with_ext(&[(0, opts8()), (44, vec![0; 8])])),
            2 => eth(0x0800, &ip4_wrap(47, &gre(0x1000, 0x22eb, &[0, 0, 0, 1], &cat(&[&[0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], &[0; 8], &vx])))),
            _ => eth(0x0800, &ip4_wrap(17, &udp(3544, 1, &ip6_tcp(PAYLOAD)))),
        };
        for (at, b) in edits {
            let n = f.len();
            f[at % n] = b;
        }
        let n = cut % (f.len() + 1);
        if let Ok((seg, _)) = decode_frame_ext(LinkType::ETHERNET, &f[..n]) {
            // The payload always lies inside the frame.
            let start = seg.payload.as_ptr() as usize - f.as_ptr() as usize;
            prop_assert!(start + seg.payload.len() <= n);
        }
    }
}

// ---- options, tunnel identity, Decoder defragmentation -----------------

fn vxlan_frame(vni: u32, dport: u16, inner: &[u8]) -> Vec<u8> {
    let v = vni.to_be_bytes();
    let vx = cat(&[&[0x08, 0, 0, 0, v[1], v[2], v[3], 0], inner]);
    eth(0x0800, &ip4_wrap(17, &udp(50000, dport, &vx)))
}

fn geneve_hdr(vni: u32, proto: u16) -> Vec<u8> {
    let v = vni.to_be_bytes();
    let p = proto.to_be_bytes();
    vec![0, 0, p[0], p[1], v[1], v[2], v[3], 0]
}

fn decoder(f: impl FnOnce(&mut DecodeOptions)) -> Decoder {
    let mut o = DecodeOptions::default();
    f(&mut o);
    Decoder::new(o)
}

#[test]
fn tunnel_identity_separates_vnis_and_is_symmetric() {
    let inner = eth(0x0800, &ip4_tcp(PAYLOAD));
    let a = ok(LinkType::ETHERNET, &vxlan_frame(1, 4789, &inner)).0;
    let b = ok(LinkType::ETHERNET, &vxlan_frame(2, 4789, &inner)).0;
    let plain = ok(LinkType::ETHERNET, &inner).0;
    assert_ne!(a.tunnel, b.tunnel);
    assert_ne!(a.tunnel, 0);
    assert_eq!(plain.tunnel, 0);
    // VNI 1 in VXLAN differs from GRE key 1.
    let g = gre(0x2000, 0x6558, &[0, 0, 0, 1], &inner);
    let c = ok(LinkType::RAW, &ip4_wrap(47, &g)).0;
    assert_ne!(a.tunnel, c.tunnel);
    // Nesting folds every level: Geneve 7 carrying VXLAN 9 differs from
    // Geneve 8 carrying VXLAN 9, and from VXLAN 9 alone.
    let nested = |outer: u32| {
        let vx = vxlan_frame(9, 4789, &inner);
        let g = cat(&[&geneve_hdr(outer, 0x6558), &vx]);
        ok(LinkType::RAW, &ip4_wrap(17, &udp(1, 6081, &g))).0.tunnel
    };
    let vx9 = ok(LinkType::ETHERNET, &vxlan_frame(9, 4789, &inner))
        .0
        .tunnel;
    assert_ne!(nested(7), nested(8));
    assert_ne!(nested(7), vx9);
    assert_eq!(nested(7), nested(7));
    // Off: no tunnel identity.
    let mut d = decoder(|o| o.tunnel_in_flow_key = false);
    let f = vxlan_frame(1, 4789, &inner);
    assert_eq!(
        d.decode(Timestamp(0), LinkType::ETHERNET, &f)
            .unwrap()
            .0
            .tunnel,
        0
    );
}

#[test]
fn vlan_in_flow_key_is_opt_in() {
    let f = eth_tagged(&[(0x8100, 10)], 0x0800, &ip4_tcp(PAYLOAD));
    let g = eth_tagged(&[(0x8100, 20)], 0x0800, &ip4_tcp(PAYLOAD));
    assert_eq!(ok(LinkType::ETHERNET, &f).0.tunnel, 0);
    let mut d = decoder(|o| o.vlan_in_flow_key = true);
    let a = d
        .decode(Timestamp(0), LinkType::ETHERNET, &f)
        .unwrap()
        .0
        .tunnel;
    let b = d
        .decode(Timestamp(0), LinkType::ETHERNET, &g)
        .unwrap()
        .0
        .tunnel;
    assert!(a != 0 && b != 0 && a != b);
}

#[test]
fn ports_and_disabled_decapsulations() {
    let inner = eth(0x0800, &ip4_tcp(PAYLOAD));
    // 8472 is VXLAN by default; 4790 only when configured.
    assert_v4(&ok(LinkType::ETHERNET, &vxlan_frame(5, 8472, &inner)).0);
    let f = vxlan_frame(5, 4790, &inner);
    assert_eq!(
        decode_frame(LinkType::ETHERNET, &f),
        Err(SkipReason::NotTcp)
    );
    let mut d = decoder(|o| o.vxlan_ports = vec![4790]);
    assert_v4(&d.decode(Timestamp(0), LinkType::ETHERNET, &f).unwrap().0);
    let f = vxlan_frame(5, 4789, &inner);
    assert_eq!(
        d.decode(Timestamp(0), LinkType::ETHERNET, &f).unwrap_err(),
        SkipReason::NotTcp
    );
    // Each decapsulation off is `DecapDisabled`.
    let g = cat(&[&geneve_hdr(3, 0x6558), &inner]);
    let gre_ip = ip4_wrap(47, &gre(0, 0x0800, &[], &ip4_tcp(PAYLOAD)));
    let erspan = ip4_wrap(47, &gre(0, 0x88be, &[], &inner));
    type Case = (fn(&mut Decaps), LinkType, Vec<u8>);
    let cases: Vec<Case> = vec![
        (|c| c.vxlan = false, LinkType::ETHERNET, f.clone()),
        (
            |c| c.geneve = false,
            LinkType::RAW,
            ip4_wrap(17, &udp(1, 6081, &g)),
        ),
        (|c| c.gre = false, LinkType::RAW, gre_ip.clone()),
        (|c| c.erspan = false, LinkType::RAW, erspan.clone()),
        (
            |c| c.ipip = false,
            LinkType::RAW,
            ip4_wrap(4, &ip4_tcp(PAYLOAD)),
        ),
        (
            |c| c.ipip = false,
            LinkType::RAW,
            ip4_wrap(41, &ip6_tcp(PAYLOAD)),
        ),
        (
            |c| c.mpls = false,
            LinkType::ETHERNET,
            eth(0x8847, &cat(&[&[0, 0, 0x11, 64], &ip4_tcp(PAYLOAD)[..]])),
        ),
        (
            |c| c.teredo = false,
            LinkType::RAW,
            ip4_wrap(17, &udp(3544, 40000, &ip6_tcp(PAYLOAD))),
        ),
    ];
    for (off, lt, frame) in cases {
        assert!(decode_frame(lt, &frame).is_ok());
        let mut o = DecodeOptions::default();
        off(&mut o.decaps);
        let mut d = Decoder::new(o);
        assert_eq!(
            d.decode(Timestamp(0), lt, &frame).unwrap_err(),
            SkipReason::DecapDisabled
        );
    }
    // GRE off does not hide ERSPAN's neighbour traffic: plain TCP still works.
    let mut d = decoder(|o| o.decaps.gre = false);
    assert_v4(
        &d.decode(Timestamp(0), LinkType::RAW, &ip4_tcp(PAYLOAD))
            .unwrap()
            .0,
    );
}

/// IPv4 fragment of `payload` (what follows the IP header) at byte `off`.
fn frag4(proto: u8, id: u16, off: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let total = (20 + data.len()) as u16;
    let fo = (off / 8) as u16 | if more { 0x2000 } else { 0 };
    let mut v = vec![0x45, 0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&fo.to_be_bytes());
    v.extend_from_slice(&[64, proto, 0, 0]);
    v.extend_from_slice(&SRC4);
    v.extend_from_slice(&DST4);
    v.extend_from_slice(data);
    v
}

/// IPv6 fragment (fragment header directly after the fixed header).
fn frag6(nh: u8, id: u32, off: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let om = (off as u16) | u16::from(more);
    let fh = cat(&[&[nh, 0], &om.to_be_bytes(), &id.to_be_bytes(), data]);
    ip6_wrap(44, &fh)
}

/// Feed frames to a decoder; the segments it yields (owned payloads).
fn feed(d: &mut Decoder, lt: LinkType, frames: &[Vec<u8>]) -> Vec<(TcpSegment<'static>, u8)> {
    let mut out = Vec::new();
    for f in frames {
        if let Ok((s, info)) = d.decode(Timestamp(1), lt, f) {
            let p: &'static [u8] = Box::leak(s.payload.to_vec().into_boxed_slice());
            out.push((TcpSegment { payload: p, ..s }, info.encap_depth));
        }
    }
    out
}

#[test]
fn decoder_reassembles_ipv4_in_any_order() {
    let body = [PAYLOAD; 4].concat();
    let tcp = &ip4_tcp(&body)[20..];
    let parts = [(0, 24), (24, 48), (48, tcp.len())];
    let frames: Vec<Vec<u8>> = parts
        .iter()
        .map(|&(a, b)| frag4(6, 7, a, b != tcp.len(), &tcp[a..b]))
        .collect();
    for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
        let mut d = Decoder::default();
        let fs: Vec<Vec<u8>> = order.iter().map(|&i| frames[i].clone()).collect();
        let segs = feed(&mut d, LinkType::RAW, &fs);
        assert_eq!(segs.len(), 1, "order {order:?}");
        assert_eq!(segs[0].0.payload, &body[..]);
        assert_eq!((segs[0].0.src_port, segs[0].0.dst_port), (40000, 80));
        assert_eq!(d.stats().fragments, 3);
        assert_eq!(d.stats().reassembled, 1);
        assert_eq!(d.defrag_in_progress(), (0, 0));
    }
    // Defragmentation off: fragments are skipped as before.
    let mut d = decoder(|o| o.defrag.enabled = false);
    assert!(feed(&mut d, LinkType::RAW, &frames).is_empty());
    assert_eq!(d.stats().fragments, 0);
}

#[test]
fn decoder_reassembles_ipv6_and_fragmented_vxlan_outer() {
    let tcp = &ip6_tcp(PAYLOAD)[40..];
    let frames = vec![
        frag6(6, 0xdead_beef, 16, false, &tcp[16..]),
        frag6(6, 0xdead_beef, 0, true, &tcp[..16]),
    ];
    // A first fragment shorter than a TCP header is dropped (RFC 1858).
    let mut d = Decoder::default();
    assert!(feed(&mut d, LinkType::RAW, &frames).is_empty());
    assert_eq!(d.stats().dropped_tiny, 1);
    let frames = vec![
        frag6(6, 0xdead_beef, 24, false, &tcp[24..]),
        frag6(6, 0xdead_beef, 0, true, &tcp[..24]),
    ];
    let mut d = Decoder::default();
    let segs = feed(&mut d, LinkType::RAW, &frames);
    assert_eq!(segs.len(), 1);
    assert_v6(&segs[0].0);

    // The outer IPv4 of a VXLAN packet, fragmented (cloud mirror MTU).
    let inner = eth(0x0800, &ip4_tcp(PAYLOAD));
    let v = 0x00_abcd_u32.to_be_bytes();
    let vx = cat(&[&[0x08, 0, 0, 0, v[1], v[2], v[3], 0], &inner[..]]);
    let dgram = udp(50000, 4789, &vx);
    let cut = 32;
    let frames = vec![
        eth(0x0800, &frag4(17, 99, 0, true, &dgram[..cut])),
        eth(0x0800, &frag4(17, 99, cut, false, &dgram[cut..])),
    ];
    let mut d = Decoder::default();
    let segs = feed(&mut d, LinkType::ETHERNET, &frames);
    assert_eq!(segs.len(), 1);
    assert_v4(&segs[0].0);
    assert_eq!(segs[0].1, 1, "one tunnel crossed");
    let whole = ok(LinkType::ETHERNET, &vxlan_frame(0xabcd, 4789, &inner)).0;
    assert_eq!(segs[0].0.tunnel, whole.tunnel);
}

#[test]
fn decoder_overlap_policies_are_visible() {
    let tcp = ip4_tcp(b"GET /aaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n")[20..].to_vec();
    let mut evil = tcp.clone();
    evil[40..48].copy_from_slice(b"bbbbbbbb");
    // First fragment 0..48, then an overlapping copy of 40..end with other
    // bytes at 40..48, then the real tail.
    let frames = vec![
        frag4(6, 1, 0, true, &tcp[..48]),
        frag4(6, 1, 40, false, &evil[40..]),
    ];
    let run = |p: OverlapPolicy| {
        let mut d = decoder(|o| o.defrag.ipv4_overlap = p);
        let segs = feed(&mut d, LinkType::RAW, &frames);
        (
            segs.first().map(|s| s.0.payload.to_vec()),
            d.stats().clone(),
        )
    };
    let (first, st) = run(OverlapPolicy::First);
    assert_eq!(first.as_deref(), Some(&tcp[20..]));
    assert_eq!((st.overlaps, st.overlaps_different), (1, 1));
    let (last, _) = run(OverlapPolicy::Last);
    assert_eq!(last.as_deref(), Some(&evil[20..]));
    let (none, st) = run(OverlapPolicy::DropDifferent);
    assert_eq!((none, st.dropped_overlap), (None, 1));
    // IPv6 defaults to what Linux does: a partial overlap drops the
    // datagram, whether its bytes differ or not (RFC 5722)...
    let t6 = &ip6_tcp(PAYLOAD)[40..];
    let mut e6 = t6.to_vec();
    e6[24] ^= 0xff;
    let mut d = Decoder::default();
    let f = vec![
        frag6(6, 5, 0, true, &t6[..32]),
        frag6(6, 5, 24, false, &e6[24..]),
    ];
    assert!(feed(&mut d, LinkType::RAW, &f).is_empty());
    assert_eq!(d.stats().dropped_overlap, 1);
    let f = vec![
        frag6(6, 6, 0, true, &t6[..32]),
        frag6(6, 6, 24, false, &t6[24..]),
    ];
    assert!(feed(&mut d, LinkType::RAW, &f).is_empty());
    assert_eq!(d.stats().dropped_overlap, 2);
    // ...while an exact duplicate (a mirror may send one) is ignored, the
    // first copy kept even when the second differs (erratum 3089).
    let mut e6 = t6.to_vec();
    e6[10] ^= 0xff;
    let f = vec![
        frag6(6, 7, 0, true, &t6[..32]),
        frag6(6, 7, 0, true, &e6[..32]),
        frag6(6, 7, 32, false, &t6[32..]),
    ];
    let segs = feed(&mut d, LinkType::RAW, &f);
    assert_eq!(segs.len(), 1);
    assert_eq!(d.stats().dropped_overlap, 2);
}

/// The default IPv4 policy is Linux's too: fragments that a Linux server
/// drops (a partial overlap, identical bytes or not) never reach the
/// stream, so their bytes cannot take the place of the server's real copy
/// sent later unfragmented.
#[test]
fn ipv4_fragments_a_linux_server_drops_are_dropped_by_default() {
    let tcp = ip4_tcp(b"GET /benign HTTP/1.1\r\nHost: a\r\n\r\n")[20..].to_vec();
    let mut d = Decoder::default();
    let f = vec![
        frag4(6, 1, 0, true, &tcp[..32]),
        frag4(6, 1, 24, false, &tcp[24..]),
    ];
    assert!(feed(&mut d, LinkType::RAW, &f).is_empty());
    assert_eq!(d.stats().dropped_overlap, 1);
    // An exact duplicate with other bytes: ignored, the first kept.
    let mut other = tcp.clone();
    other[28] ^= 0xff;
    let f = vec![
        frag4(6, 2, 0, true, &tcp[..32]),
        frag4(6, 2, 0, true, &other[..32]),
        frag4(6, 2, 32, false, &tcp[32..]),
    ];
    let segs = feed(&mut d, LinkType::RAW, &f);
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].0.payload, &tcp[20..]);
    assert_eq!(d.stats().dropped_overlap, 1);
}

#[test]
fn decoder_times_out_datagrams_on_the_capture_clock() {
    let tcp = &ip4_tcp(PAYLOAD)[20..];
    let a = frag4(6, 3, 0, true, &tcp[..24]);
    let b = frag4(6, 3, 24, false, &tcp[24..]);
    let mut d = Decoder::default();
    assert!(d.decode(Timestamp(0), LinkType::RAW, &a).is_err());
    d.expire(Timestamp(29_000_000_000));
    assert_eq!(d.defrag_in_progress().0, 1);
    d.expire(Timestamp(30_000_000_000));
    assert_eq!(d.defrag_in_progress(), (0, 0));
    assert_eq!(d.stats().timed_out, 1);
    // The tail alone, later, completes nothing.
    assert!(d
        .decode(Timestamp(31_000_000_000), LinkType::RAW, &b)
        .is_err());
    assert_eq!(d.stats().reassembled, 0);
}

// ---- review round 17 ----------------------------------------------------

/// An IPv4 TCP segment in a first fragment of 8 bytes (ports and sequence
/// number) and the rest at offset 8: nothing overlaps, and Linux (no RFC
/// 1858 filter on the receive path, `ip_frag_queue`) rebuilds the datagram
/// and hands the request to the server. A firewall that filters tiny
/// fragments drops them before the server too, so dropping them here can
/// only lose what the server reads.
#[test]
fn review17_ipv4_tiny_fragments_that_linux_rebuilds_are_read() {
    let body = b"GET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n";
    let tcp = ip4_tcp(body)[20..].to_vec();
    let frames = vec![
        frag4(6, 17, 0, true, &tcp[..8]),
        frag4(6, 17, 8, false, &tcp[8..]),
    ];
    let mut d = Decoder::default();
    let segs = feed(&mut d, LinkType::RAW, &frames);
    assert_eq!(segs.len(), 1, "the request the server reads is read");
    assert_eq!(segs[0].0.payload, &body[..]);
}

/// Linux walks any number of IPv6 extension headers
/// (`ip6_protocol_deliver_rcu` resubmits per header, no count limit):
/// nine Destination Options headers before TCP reach the server, so the
/// segment must not be skipped.
#[test]
fn review17_ipv6_many_extension_headers_are_walked() {
    let exts: Vec<(u8, Vec<u8>)> = (0..9).map(|_| (60, opts8())).collect();
    let v = ip6_with_ext(&exts);
    let seg = decode_frame(LinkType::RAW, &v);
    assert!(seg.is_ok(), "segment skipped: {seg:?}");
    assert_v6(&seg.unwrap());
}

/// Review round 20. Defect: a Hop-by-Hop Options header anywhere but right
/// after the IPv6 header, and a Mobility (135), HIP (139) or Shim6 (140)
/// header, are walked to the TCP behind them. Linux parses Hop-by-Hop
/// options only in `ip6_rcv_core` (first header, RFC 8200 §4.1); later in
/// the chain, as for 135/139/140, `ip6_protocol_deliver_rcu` finds no
/// `inet6_protos` handler and drops the packet with a parameter problem.
/// The server never reads that segment: a benign copy sent that way takes
/// the place, for Specula, of the attack sent next at the same sequence
/// numbers (read as a retransmission). Severity: High (an insertion).
#[test]
fn review20a_ipv6_headers_linux_drops_hide_the_segment() {
    let cases: [Vec<(u8, Vec<u8>)>; 5] = [
        vec![(60, opts8()), (0, opts8())],
        vec![(0, opts8()), (0, opts8())],
        vec![(135, opts8())],
        vec![(139, opts8())],
        vec![(140, opts8())],
    ];
    for exts in cases {
        let types: Vec<u8> = exts.iter().map(|e| e.0).collect();
        let v = ip6_with_ext(&exts);
        assert!(
            decode_frame(LinkType::RAW, &v).is_err(),
            "a segment behind {types:?} reaches no server"
        );
    }
    // Hop-by-Hop first is read.
    assert_v6(&decode_frame(LinkType::RAW, &ip6_with_ext(&[(0, opts8())])).unwrap());
}

/// The TCP timestamp option (the flow table's PAWS check) is read as
/// Linux's `tcp_parse_options` reads it: after other options and NOPs,
/// and not past an option whose length is too small.
#[test]
fn tcp_timestamp_option_is_read_as_linux_reads_it() {
    use etherparse::TcpOptionElement::{MaximumSegmentSize, Noop, Timestamp};
    let frame = |options: &[etherparse::TcpOptionElement]| {
        let b = PacketBuilder::ethernet2([2; 6], [3; 6])
            .ipv4(SRC4, DST4, 64)
            .tcp(40000, 80, 1000, 512)
            .options(options)
            .unwrap()
            .ack(2000);
        let mut v = Vec::new();
        b.write(&mut v, PAYLOAD).unwrap();
        v
    };
    let ts = |f: &[u8]| decode_frame(LinkType::ETHERNET, f).unwrap().timestamp;
    assert_eq!(ts(&frame(&[])), None);
    let with_ts = frame(&[MaximumSegmentSize(1460), Noop, Noop, Timestamp(7, 9)]);
    assert_eq!(ts(&with_ts), Some((7, 9)));
    assert_eq!(
        ts(&frame(&[Noop, Noop, Timestamp(u32::MAX, 1)])),
        Some((u32::MAX, 1))
    );
    // An MSS whose length byte says 1: Linux stops there.
    let mut broken = with_ts.clone();
    assert_eq!(broken[14 + 20..][20..22], [2, 4]);
    broken[14 + 20 + 21] = 1;
    assert_eq!(ts(&broken), None);
    // The payload is the same whatever the options.
    assert_eq!(
        decode_frame(LinkType::ETHERNET, &with_ts).unwrap().payload,
        PAYLOAD
    );
}

/// Review round 24. Defect: a segment reached through Teredo folds nothing
/// into the tunnel identity, so it lands in the same flow as the native
/// IPv6 segment with the same 4-tuple. A Linux server has no Teredo in the
/// kernel: a UDP datagram sent to it (on 3544 or, by the any-port
/// heuristic, on any port) that holds a copy of the client's own segment is
/// dropped by `udp_rcv` (no socket, or a socket that reads it as data),
/// never decapsulated. The client sends such a copy with benign bytes first,
/// then the attack over its real connection at the same sequence numbers:
/// Specula keeps the copy and reads the attack as a retransmission, the
/// server reads the attack. Both directions of a Teredo flow still come
/// through Teredo (client to relay on 3544, relay to client from 3544), so
/// one identity for all Teredo keeps them joined. Severity: High (an
/// insertion that hides the attack).
#[test]
fn review24c_a_teredo_copy_is_not_the_native_flow() {
    let ip6 = ip6_tcp(PAYLOAD);
    let native = ok(LinkType::RAW, &ip6).0;
    let to_relay = ok(LinkType::RAW, &ip4_wrap(17, &udp(50000, 3544, &ip6))).0;
    let from_relay = ok(LinkType::RAW, &ip4_wrap(17, &udp(3544, 50000, &ip6))).0;
    let any_port = ok(LinkType::RAW, &ip4_wrap(17, &udp(40000, 443, &ip6))).0;
    assert_v6(&to_relay);
    assert_ne!(to_relay.tunnel, native.tunnel);
    assert_ne!(any_port.tunnel, native.tunnel);
    assert_eq!(to_relay.tunnel, from_relay.tunnel);
}

/// Review round 24. Defect: MPLS is read as carrying IP only; an Ethernet
/// pseudowire (EoMPLS, VPLS: RFC 4448, with the RFC 4385 control word whose
/// first nibble is 0) after the bottom label is `MalformedIp`. The PE
/// strips the labels and the control word and bridges the Ethernet frame
/// to the server, which reads the request; Suricata (`DecodeMPLS`,
/// `MPLS_PROTO_ETHERNET_PW`) decodes it. A SPAN of a provider core link
/// carrying the customer's traffic shows Specula none of its HTTP.
/// Severity: Medium (counted as malformed, not silent).
#[test]
fn review24c_mpls_ethernet_pseudowire_with_control_word_is_decoded() {
    let pw = cat(&[
        &[0, 0x01, 0x01, 64],
        &[0, 0, 0, 0x2a],
        &eth(0x0800, &ip4_tcp(PAYLOAD)),
    ]);
    let (s, info) = ok(LinkType::ETHERNET, &eth(0x8847, &pw));
    assert_v4(&s);
    assert_eq!(info.encap_depth, 1);
    // VLAN-tagged customer frame inside.
    let pw = cat(&[
        &[0, 0x01, 0x01, 64],
        &[0, 0, 0, 0],
        &eth_tagged(&[(0x8100, 7)], 0x86dd, &ip6_tcp(PAYLOAD)),
    ]);
    assert_v6(&ok(LinkType::ETHERNET, &eth(0x8847, &pw)).0);
}

/// Review round 24. Defect: the PPPoE length field is ignored. Linux's
/// `pppoe_rcv` trims the frame to it (`pskb_trim_rcsum`, and drops a frame
/// shorter than it); an IPv4 packet longer than what the PPPoE length
/// leaves is then dropped by `ip_rcv_core` (skb->len < tot_len), so a
/// Linux access concentrator (accel-ppp, pppd) never forwards it to the
/// server. Specula reads the whole IP packet: a subscriber's benign copy
/// sent that way takes the place of the attack sent next at the same
/// sequence numbers. Severity: High (an insertion, where the sensor sees
/// the PPPoE access side).
#[test]
fn review24c_the_pppoe_length_bounds_the_packet_as_linux_trims_it() {
    let ip = ip4_tcp(PAYLOAD);
    let pppoe = |len: usize, tail: &[u8]| {
        let f = cat(&[
            &[0x11, 0, 0, 1],
            &(len as u16).to_be_bytes(),
            &[0, 0x21],
            &ip,
            tail,
        ]);
        eth(0x8864, &f)
    };
    // Declared 10 bytes short of the IP packet: Linux drops it.
    assert_eq!(
        decode_frame(LinkType::ETHERNET, &pppoe(ip.len() + 2 - 10, &[])),
        Err(SkipReason::MalformedIp)
    );
    // Exact, and exact with Ethernet padding after: read.
    assert_v4(&ok(LinkType::ETHERNET, &pppoe(ip.len() + 2, &[])).0);
    assert_v4(&ok(LinkType::ETHERNET, &pppoe(ip.len() + 2, &[0; 6])).0);
    // No room for the PPP protocol.
    assert!(decode_frame(LinkType::ETHERNET, &pppoe(1, &[])).is_err());
}

/// IPv4 options Linux refuses. `ip_rcv_finish_core` calls `ip_rcv_options`
/// for every packet (and every fragment, before `ip_defrag`) with IHL > 5:
/// `ip_options_compile` fails an option whose length is under 2 or runs past
/// the header, a second record route or timestamp, a pointer that is too
/// small or leaves no room, a full timestamp whose overflow counter is 15;
/// and any loose or strict source route is dropped unless
/// `accept_source_route` is set for `all` and the interface
/// (`IN_DEV_SOURCE_ROUTE` is an AND; `all` is 0 by default, devinet.c). The
/// server never reads such a packet; Specula skipped the options by IHL and
/// read its segment, so a client could send benign bytes in one (an
/// insertion: the sensor takes them as the stream's) and the attack in a
/// clean copy with the same sequence numbers, which the sensor then drops
/// as a retransmission while the server reads it.
/// Severity: High (an attack the server receives is read differently).
#[test]
fn review28a_ipv4_options_linux_drops_hide_the_segment() {
    let dropped: [(&str, &[u8]); 10] = [
        ("LSRR", &[0x83, 7, 4, 10, 0, 0, 2, 0]),
        ("SSRR", &[0x89, 7, 4, 10, 0, 0, 2, 0]),
        ("LSRR, route used up", &[0x83, 7, 8, 10, 0, 0, 2, 0]),
        ("length past the header", &[0x94, 12, 0, 0, 1, 1, 1, 0]),
        ("length 1", &[0x01, 0x07, 1, 0]),
        ("RR pointer 3", &[7, 7, 3, 0, 0, 0, 0, 0]),
        ("RR twice", &[7, 3, 4, 7, 3, 4, 0, 0]),
        ("TS pointer leaves no room", &[0x44, 8, 7, 0, 0, 0, 0, 0]),
        ("TS overflow full", &[0x44, 4, 5, 0xf0]),
        ("router alert length 3", &[0x94, 3, 0, 0]),
    ];
    for (what, opts) in dropped {
        let v = ip4_with_options(opts);
        assert_eq!(
            decode_frame(LinkType::RAW, &v),
            Err(SkipReason::MalformedIp),
            "{what}"
        );
    }
    // Linux checks each fragment's options before reassembly.
    let mut v = ip4_with_options(&[0x83, 7, 4, 10, 0, 0, 2, 0]);
    v[6..8].copy_from_slice(&[0x20, 0x00]);
    assert_eq!(
        decode_frame(LinkType::RAW, &v),
        Err(SkipReason::MalformedIp)
    );
    // What Linux accepts is still read: a record route with room or full,
    // a timestamp, router alert, unknown options, padding after the end.
    let accepted: [&[u8]; 5] = [
        &[7, 7, 4, 0, 0, 0, 0, 0],
        &[7, 7, 8, 10, 0, 0, 1, 0],
        &[0x44, 8, 5, 0, 0, 0, 0, 0],
        &[0x94, 4, 0, 0, 0x1e, 2, 0, 0],
        &[0, 0x83, 7, 4],
    ];
    for opts in accepted {
        let v = ip4_with_options(opts);
        assert_v4(&decode_frame(LinkType::RAW, &v).unwrap());
    }
}

// ---- review round 34 ----------------------------------------------------

/// Review round 34b. Defect: an IPv6 fragment header after an atomic
/// fragment header, or any fragment header inside a datagram rebuilt from
/// fragments, was walked past (an atomic one) to the TCP behind it. Linux's
/// `ipv6_frag_rcv` marks the packet `IP6SKB_FRAGMENTED` when it passes an
/// atomic fragment header and when `ip6_frag_reasm` rebuilds a datagram,
/// and a second fragment header on such a packet is `goto fail_hdr` (a
/// parameter problem, the packet dropped). The server never reads that
/// segment; Specula did, and takes the attack sent next at the same
/// sequence numbers for a retransmission. Severity: High (an insertion).
#[test]
fn review34b_a_second_ipv6_fragment_header_drops_the_packet() {
    let atomic = vec![0, 0, 0, 0, 0, 0, 0, 42];
    let v = ip6_with_ext(&[(44, atomic.clone()), (44, atomic.clone())]);
    assert!(
        decode_frame(LinkType::RAW, &v).is_err(),
        "two fragment headers: Linux drops the packet"
    );
    let v = ip6_with_ext(&[(44, atomic.clone()), (60, opts8()), (44, atomic.clone())]);
    assert!(decode_frame(LinkType::RAW, &v).is_err());
    // One atomic fragment header is still read.
    assert_v6(&decode_frame(LinkType::RAW, &ip6_with_ext(&[(44, atomic.clone())])).unwrap());

    // A reassembled datagram whose payload starts with an atomic fragment
    // header.
    let mut inner = atomic.clone();
    inner[0] = 6;
    inner.extend_from_slice(&ip6_tcp(PAYLOAD)[40..]);
    let frames = vec![
        frag6(44, 9, 0, true, &inner[..32]),
        frag6(44, 9, 32, false, &inner[32..]),
    ];
    let mut d = Decoder::default();
    assert!(
        feed(&mut d, LinkType::RAW, &frames).is_empty(),
        "a fragment header inside a rebuilt datagram: Linux drops it"
    );
    assert_eq!(d.stats().reassembled, 1);
}

/// Review round 34b. Defect: an IPv6 first fragment whose TCP header is
/// cut behind extension headers that follow the fragment header (here a
/// Destination Options header, then 8 of the 20 TCP header bytes) was
/// held, and the datagram rebuilt. Linux's `ipv6_frag_rcv` checks every
/// first fragment with `ipv6frag_thdr_truncated` (RFC 8200 §4.5: the
/// headers through the upper-layer header must all be in it): it walks the
/// extension headers (`ipv6_skip_exthdr`) and drops the fragment when the
/// TCP (20), UDP (8) or ICMPv6 (8) header, or one byte of another, does
/// not fit. Specula checked only a TCP header right after the fragment
/// header. The server never rebuilds this datagram; Specula read its
/// segment and takes the real one sent next at the same sequence numbers
/// for a retransmission. Severity: High (an insertion).
#[test]
fn review34b_an_ipv6_first_fragment_cut_behind_extension_headers_is_dropped() {
    let tcp = ip6_tcp(PAYLOAD)[40..].to_vec();
    let mut dst_opts = opts8();
    dst_opts[0] = 6;
    let payload = cat(&[&dst_opts, &tcp]);
    let frames = vec![
        frag6(60, 11, 0, true, &payload[..16]),
        frag6(60, 11, 16, false, &payload[16..]),
    ];
    let mut d = Decoder::default();
    assert!(
        feed(&mut d, LinkType::RAW, &frames).is_empty(),
        "Linux drops the first fragment: the datagram never completes"
    );
    assert_eq!(d.stats().dropped_tiny, 1);
    // With the whole TCP header in the first fragment, it is read.
    let frames = vec![
        frag6(60, 12, 0, true, &payload[..32]),
        frag6(60, 12, 32, false, &payload[32..]),
    ];
    let mut d = Decoder::default();
    let segs = feed(&mut d, LinkType::RAW, &frames);
    assert_eq!(segs.len(), 1);
    assert_v6(&segs[0].0);
}

/// Review round 34b. Defect: the 65,535-byte limit on a rebuilt IPv6
/// datagram did not count the extension headers before the fragment
/// header. Linux's `ip6_frag_reasm` computes the new payload length as
/// those headers plus the reassembled part and drops the datagram
/// (`out_oversize`) when it is over `IPV6_MAXPLEN`: here an 8-byte
/// Destination Options header and a 65,532-byte TCP segment. Specula
/// rebuilt the segment the server never receives (an insertion within a
/// large receive window). Severity: Medium.
#[test]
fn review34b_ipv6_reassembly_limit_counts_the_unfragmentable_headers() {
    let body = vec![b'a'; 65_512];
    let b = PacketBuilder::ipv6(SRC6, DST6, 64)
        .tcp(40000, 80, 1000, 512)
        .ack(2000);
    let mut whole = Vec::new();
    b.write(&mut whole, &body).unwrap();
    let tcp = &whole[40..];
    assert_eq!(tcp.len(), 65_532);
    let frag_with_dst_opts = |off: usize, more: bool, data: &[u8]| {
        let om = (off as u16) | u16::from(more);
        let mut dst_opts = opts8();
        dst_opts[0] = 44;
        let body = cat(&[
            &dst_opts,
            &[6, 0],
            &om.to_be_bytes(),
            &13u32.to_be_bytes(),
            data,
        ]);
        ip6_wrap(60, &body)
    };
    let frames: Vec<Vec<u8>> = (0..tcp.len())
        .step_by(8192)
        .map(|off| {
            let end = (off + 8192).min(tcp.len());
            frag_with_dst_opts(off, end != tcp.len(), &tcp[off..end])
        })
        .collect();
    let mut d = Decoder::default();
    assert!(
        feed(&mut d, LinkType::RAW, &frames).is_empty(),
        "8 + 65,532 bytes of payload: Linux drops the datagram"
    );
    assert_eq!(d.stats().dropped_too_big, 1);
    // Without the Destination Options header it fits.
    let frames: Vec<Vec<u8>> = (0..tcp.len())
        .step_by(8192)
        .map(|off| {
            let end = (off + 8192).min(tcp.len());
            frag6(6, 14, off, end != tcp.len(), &tcp[off..end])
        })
        .collect();
    let mut d = Decoder::default();
    assert_eq!(feed(&mut d, LinkType::RAW, &frames).len(), 1);
}

/// Review round 34b. Defect: Hop-by-Hop and Destination Options headers
/// were skipped by their length, their options never read. Linux's
/// `ip6_parse_tlv` drops the packet when a run of padding (Pad1, PadN) is
/// longer than 7 bytes, when a PadN carries a byte other than zero (RFC
/// 4942 §2.1.9.5), when an option runs past the header, and when there are
/// more than 8 other options (`max_dst_opts_number`,
/// `max_hbh_opts_number`). Such a packet never reaches the server; Specula
/// read its segment and takes the attack sent next at the same sequence
/// numbers for a retransmission. Severity: High (an insertion).
#[test]
fn review34b_ipv6_options_linux_refuses_drop_the_packet() {
    // Options after the 2-byte header start, each header a multiple of 8.
    let header = |opts: &[u8]| {
        assert_eq!((opts.len() + 2) % 8, 0);
        cat(&[&[0, ((opts.len() + 2) / 8 - 1) as u8], opts])
    };
    let padn14 = header(&[1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let pad1x14 = header(&[0; 14]);
    let padn_nonzero = header(&[1, 4, 0, 0, 0, 1]);
    let overrun = header(&[0x1e, 5, 0, 0, 0, 0]);
    let unknown = [0x1e, 0]; // action 00: skipped
    let nine = header(
        &[&unknown[..]; 9]
            .concat()
            .iter()
            .chain(&[1, 2, 0, 0])
            .copied()
            .collect::<Vec<_>>(),
    );
    for (name, h) in [
        ("PadN of 14", &padn14),
        ("14 Pad1", &pad1x14),
        ("PadN not zero", &padn_nonzero),
        ("option past the header", &overrun),
        ("9 options", &nine),
    ] {
        for kind in [0, 60] {
            let v = ip6_with_ext(&[(kind, h.clone())]);
            assert!(
                decode_frame(LinkType::RAW, &v).is_err(),
                "{name} in header {kind}: Linux drops the packet"
            );
        }
    }
    // What Linux accepts: 8 options, padding of 7 between options.
    let eight = header(
        &[&unknown[..]; 8]
            .concat()
            .iter()
            .chain(&[1, 4, 0, 0, 0, 0])
            .copied()
            .collect::<Vec<_>>(),
    );
    let padded = header(&[1, 5, 0, 0, 0, 0, 0, 0x1e, 0, 1, 3, 0, 0, 0]);
    for h in [&eight, &padded] {
        for kind in [0, 60] {
            let v = ip6_with_ext(&[(kind, h.clone())]);
            assert_v6(&decode_frame(LinkType::RAW, &v).unwrap());
        }
    }
}

/// An option Linux does not know whose type's two top bits say "discard"
/// (01, 10, 11: `ip6_tlvopt_unknown`) drops the packet, as does a Router
/// Alert whose data is not 2 bytes (`ipv6_hop_ra`); type 00 is skipped and
/// the options Linux checks itself (Jumbo, Home Address) are kept.
#[test]
fn ipv6_options_of_a_discarding_type_drop_the_packet() {
    let header = |opts: &[u8]| {
        assert_eq!((opts.len() + 2) % 8, 0);
        cat(&[&[0, ((opts.len() + 2) / 8 - 1) as u8], opts])
    };
    for (kind, opt) in [
        (0, [0x5e, 4, 0, 0, 0, 0]),
        (60, [0x9e, 4, 0, 0, 0, 0]),
        (60, [0xde, 4, 0, 0, 0, 0]),
        (0, [0x05, 4, 0, 0, 0, 0]),
    ] {
        let v = ip6_with_ext(&[(kind, header(&opt))]);
        assert!(
            decode_frame(LinkType::RAW, &v).is_err(),
            "option {opt:02x?} in header {kind}: Linux drops the packet"
        );
    }
    for (kind, opt) in [
        (0, [0x1e, 4, 0, 0, 0, 0]),
        (60, [0x1e, 4, 0, 0, 0, 0]),
        (0, [0x05, 2, 0, 0, 0, 0]),
        (0, [0xc2, 4, 0, 0, 0, 0]),
        // A Router Alert's type in Destination Options is an unknown one
        // of type 00: skipped.
        (60, [0x05, 4, 0, 0, 0, 0]),
    ] {
        let v = ip6_with_ext(&[(kind, header(&opt))]);
        assert_v6(&decode_frame(LinkType::RAW, &v).unwrap());
    }
}
