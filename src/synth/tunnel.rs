//! Tunnel and fragment fixtures for `testdata/`: the raw IP packets of a
//! [`TcpConversation`] wrapped the way cloud and switch mirrors send them
//! (VXLAN, Geneve carrying VXLAN, ERSPAN I/II/III, GRE with key, MPLS,
//! IP-in-IP, 6in4) or split into IP fragments (in order, out of order,
//! overlapping, timed out, fragmented outer IP of VXLAN, IPv6).
//! Deterministic: no randomness, fixed ids and addresses.
//!
//! Indexing is allowed here: the packets are our own, built just above.
#![allow(clippy::indexing_slicing)]

use super::testdata::{basic, fx, pcap, Fixture};
use super::{SynthError, TruthRequest};
use crate::capture::{LinkType, Timestamp};

type Frames = Vec<(Timestamp, Vec<u8>)>;

const MIRROR_SRC: [u8; 4] = [172, 31, 5, 10];
const MIRROR_DST: [u8; 4] = [172, 31, 9, 20];

fn checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// IPv4 header (no options) + payload; `frag` is the flags/offset field.
fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, id: u16, frag: u16, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn eth(ethertype: u16, inner: &[u8]) -> Vec<u8> {
    let mut v = vec![0x0a, 0, 0, 0, 0, 2, 0x0a, 0, 0, 0, 0, 1];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(inner);
    v
}

fn ethertype_of(ip: &[u8]) -> u16 {
    if ip.first().map(|b| b >> 4) == Some(6) {
        0x86dd
    } else {
        0x0800
    }
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = sport.to_be_bytes().to_vec();
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(payload);
    v
}

fn vxlan(vni: u32, inner_eth: &[u8]) -> Vec<u8> {
    let n = vni.to_be_bytes();
    let mut v = vec![0x08, 0, 0, 0, n[1], n[2], n[3], 0];
    v.extend_from_slice(inner_eth);
    v
}

/// AWS VPC Traffic Mirroring: outer Ethernet/IPv4/UDP 4789, VXLAN with the
/// session's VNI, the mirrored Ethernet frame.
fn wrap_vxlan(vni: u32, id: u16, ip: &[u8]) -> Vec<u8> {
    let inner = eth(ethertype_of(ip), ip);
    let u = udp(49152 + (id % 1024), 4789, &vxlan(vni, &inner));
    eth(0x0800, &ipv4(MIRROR_SRC, MIRROR_DST, 17, id, 0x4000, &u))
}

/// AWS Gateway Load Balancer: Geneve (with a GWLB-style option, class
/// 0x0108) carrying the IPv4 packet of a VXLAN mirror.
fn wrap_geneve_vxlan(geneve_vni: u32, vxlan_vni: u32, id: u16, ip: &[u8]) -> Vec<u8> {
    let inner = match wrap_vxlan(vxlan_vni, id, ip).get(14..) {
        Some(v) => v.to_vec(),
        None => Vec::new(),
    };
    let n = geneve_vni.to_be_bytes();
    // Version 0, 2 option words; protocol IPv4; VNI; option class 0x0108
    // type 1 length 1 word (the GWLB endpoint id, here fixed).
    let mut g = vec![0x02, 0, 0x08, 0x00, n[1], n[2], n[3], 0];
    g.extend_from_slice(&[0x01, 0x08, 0x01, 0x01, 0xde, 0xad, 0xbe, 0xef]);
    g.extend_from_slice(&inner);
    let u = udp(40000, 6081, &g);
    eth(
        0x0800,
        &ipv4([10, 1, 0, 1], [10, 1, 0, 2], 17, id, 0x4000, &u),
    )
}

fn gre(flags: u16, proto: u16, extra: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut v = flags.to_be_bytes().to_vec();
    v.extend_from_slice(&proto.to_be_bytes());
    v.extend_from_slice(extra);
    v.extend_from_slice(inner);
    v
}

/// ERSPAN type `kind` (1, 2 or 3) of session `session`; type III carries
/// the capture time (100 µs granularity) and, on every other packet, the
/// platform subheader with the upper timestamp bits.
fn wrap_erspan(kind: u8, session: u16, seq: u32, ts: Timestamp, ip: &[u8]) -> Vec<u8> {
    let inner = eth(ethertype_of(ip), ip);
    let g = match kind {
        1 => gre(0, 0x88be, &[], &inner),
        2 => {
            let mut h = vec![0x10, 0x64];
            h.extend_from_slice(&(session & 0x3ff).to_be_bytes());
            h.extend_from_slice(&[0, 0, 0, 0]);
            h.extend_from_slice(&inner);
            gre(0x1000, 0x88be, &seq.to_be_bytes(), &h)
        }
        _ => {
            let units = ts.0 / 100_000; // 100 µs
            let with_sub = seq % 2 == 0;
            let mut h = vec![0x20, 0x64];
            h.extend_from_slice(&(session & 0x3ff).to_be_bytes());
            h.extend_from_slice(&(units as u32).to_be_bytes());
            h.extend_from_slice(&[0, 0]); // SGT
            h.push(0x01); // P=0, FT=0 (Ethernet), HW ID high bits 01
            h.push(if with_sub { 0x01 } else { 0x00 }); // Gra 00, O
            if with_sub {
                // Platform ID 3: upper 32 bits of the timestamp.
                let hi = ((units >> 32) as u32) & 0x03ff_ffff;
                h.extend_from_slice(&(0x0c00_0000u32 | (hi >> 16)).to_be_bytes());
                h.extend_from_slice(&(hi << 16).to_be_bytes());
            }
            h.extend_from_slice(&inner);
            gre(0x1000, 0x22eb, &seq.to_be_bytes(), &h)
        }
    };
    eth(
        0x0800,
        &ipv4(MIRROR_SRC, MIRROR_DST, 47, seq as u16, 0x4000, &g),
    )
}

/// Split an IPv4 packet into fragments at payload offsets `cuts`
/// (multiples of 8). Returns the fragments in order.
fn fragment_v4(ip: &[u8], id: u16, cuts: &[usize]) -> Vec<Vec<u8>> {
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let (src, dst, proto) = (
        [ip[12], ip[13], ip[14], ip[15]],
        [ip[16], ip[17], ip[18], ip[19]],
        ip[9],
    );
    let payload = &ip[ihl..];
    let mut bounds: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&c| c < payload.len())
        .collect();
    bounds.insert(0, 0);
    bounds.push(payload.len());
    bounds
        .windows(2)
        .map(|w| {
            let more = w[1] != payload.len();
            let field = (w[0] / 8) as u16 | if more { 0x2000 } else { 0 };
            ipv4(src, dst, proto, id, field, &payload[w[0]..w[1]])
        })
        .collect()
}

/// Split an IPv6 packet (TCP directly after the fixed header) into
/// fragments with a fragment header, at offsets `cuts`.
fn fragment_v6(ip: &[u8], id: u32, cuts: &[usize]) -> Vec<Vec<u8>> {
    let nh = ip[6];
    let payload = &ip[40..];
    let mut bounds: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&c| c < payload.len())
        .collect();
    bounds.insert(0, 0);
    bounds.push(payload.len());
    bounds
        .windows(2)
        .map(|w| {
            let more = w[1] != payload.len();
            let mut v = ip[..40].to_vec();
            v[6] = 44;
            v[4..6].copy_from_slice(&((8 + w[1] - w[0]) as u16).to_be_bytes());
            v.extend_from_slice(&[nh, 0]);
            v.extend_from_slice(&(w[0] as u16 | u16::from(more)).to_be_bytes());
            v.extend_from_slice(&id.to_be_bytes());
            v.extend_from_slice(&payload[w[0]..w[1]]);
            v
        })
        .collect()
}

fn raw(prefix: &str, v6: bool) -> Result<(Frames, Vec<TruthRequest>), SynthError> {
    let (c, t) = basic(prefix, v6);
    Ok((c.frames(LinkType::RAW)?, t))
}

fn eth_pcap(frames: &Frames) -> Result<Vec<u8>, SynthError> {
    pcap(frames, LinkType::ETHERNET)
}

fn map(frames: &Frames, f: impl Fn(usize, Timestamp, &[u8]) -> Vec<u8>) -> Frames {
    frames
        .iter()
        .enumerate()
        .map(|(i, (ts, ip))| (*ts, f(i, *ts, ip)))
        .collect()
}

/// Every tunnel and fragment fixture.
pub fn fixtures() -> Result<Vec<Fixture>, SynthError> {
    let mut out = Vec::new();

    let (f, t) = raw("tunnel-vxlan-aws", false)?;
    let f = map(&f, |i, _, ip| wrap_vxlan(0x5a_c3_01, i as u16, ip));
    out.push(fx("tunnel-vxlan-aws.pcap", eth_pcap(&f)?, t));

    let (f, t) = raw("tunnel-geneve-vxlan", false)?;
    let f = map(&f, |i, _, ip| {
        wrap_geneve_vxlan(0x00_0b_0b, 0x5a_c3_02, i as u16, ip)
    });
    out.push(fx("tunnel-geneve-vxlan.pcap", eth_pcap(&f)?, t));

    for kind in [1u8, 2, 3] {
        let name = format!("tunnel-erspan{kind}");
        let (f, t) = raw(&name, false)?;
        let f = map(&f, |i, ts, ip| wrap_erspan(kind, 0x155, i as u32, ts, ip));
        out.push(fx(&format!("{name}.pcap"), eth_pcap(&f)?, t));
    }

    let (f, t) = raw("tunnel-gre-key", false)?;
    let f = map(&f, |i, _, ip| {
        let g = gre(0x2000, 0x0800, &0x0000_beefu32.to_be_bytes(), ip);
        eth(
            0x0800,
            &ipv4(MIRROR_SRC, MIRROR_DST, 47, i as u16, 0x4000, &g),
        )
    });
    out.push(fx("tunnel-gre-key.pcap", eth_pcap(&f)?, t));

    let (f, t) = raw("tunnel-mpls", false)?;
    let f = map(&f, |_, _, ip| {
        // Two labels: 1001, then 2002 with the bottom-of-stack bit.
        let mut v = ((1001u32 << 12) | 64).to_be_bytes().to_vec();
        v.extend_from_slice(&((2002u32 << 12) | 0x100 | 64).to_be_bytes());
        v.extend_from_slice(ip);
        eth(0x8847, &v)
    });
    out.push(fx("tunnel-mpls.pcap", eth_pcap(&f)?, t));

    for (name, v6) in [("tunnel-ipip", false), ("tunnel-6in4", true)] {
        let (f, t) = raw(name, v6)?;
        let proto = if v6 { 41 } else { 4 };
        let f = map(&f, |i, _, ip| {
            eth(
                0x0800,
                &ipv4(MIRROR_SRC, MIRROR_DST, proto, i as u16, 0, ip),
            )
        });
        out.push(fx(&format!("{name}.pcap"), eth_pcap(&f)?, t));
    }

    // The same inner 5-tuple in two VPCs (two VNIs), interleaved: two flows.
    let (a, mut ta) = raw("tunnel-two-vnis-a", false)?;
    let (c, tb) = basic("tunnel-two-vnis-b", false);
    let b = c.isns(0x7000_0000, 0x0100_0000).frames(LinkType::RAW)?;
    let mut f = Vec::new();
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        f.push((x.0, wrap_vxlan(101, i as u16, &x.1)));
        f.push((x.0, wrap_vxlan(202, i as u16, &y.1)));
    }
    ta.extend(tb);
    out.push(fx("tunnel-two-vnis.pcap", eth_pcap(&f)?, ta));

    out.extend(fragments()?);
    Ok(out)
}

/// Every data packet split at 48 and 120 bytes of IP payload.
const CUTS: [usize; 2] = [48, 120];

fn fragments() -> Result<Vec<Fixture>, SynthError> {
    let mut out = Vec::new();
    let split = |frames: &Frames, reverse: bool| -> Frames {
        let mut v = Vec::new();
        for (i, (ts, ip)) in frames.iter().enumerate() {
            let mut parts = fragment_v4(ip, 0x4000 + i as u16, &CUTS);
            if reverse {
                parts.reverse();
            }
            v.extend(parts.into_iter().map(|p| (*ts, eth(0x0800, &p))));
        }
        v
    };

    let (f, t) = raw("frag-in-order", false)?;
    out.push(fx("frag-in-order.pcap", eth_pcap(&split(&f, false))?, t));

    let (f, t) = raw("frag-out-of-order", false)?;
    out.push(fx("frag-out-of-order.pcap", eth_pcap(&split(&f, true))?, t));

    // Overlap: after the first two fragments of each data packet, a third
    // one re-sends bytes 40..120 with the request target's letters changed;
    // the default (first) policy keeps the original bytes.
    let (f, t) = raw("frag-overlap", false)?;
    let mut v = Vec::new();
    for (i, (ts, ip)) in f.iter().enumerate() {
        let id = 0x5000 + i as u16;
        let mut parts = fragment_v4(ip, id, &CUTS);
        if parts.len() == 3 {
            let mut evil = ip[20..].to_vec();
            for b in evil.iter_mut().take(120).skip(40) {
                if b.is_ascii_lowercase() {
                    *b = b'x';
                }
            }
            let e = fragment_v4(
                &ipv4(ip_src(ip), ip_dst(ip), 6, id, 0, &evil),
                id,
                &[40, 120],
            );
            if let Some(mid) = e.get(1) {
                parts.insert(2, mid.clone());
            }
        }
        v.extend(parts.into_iter().map(|p| (*ts, eth(0x0800, &p))));
    }
    out.push(fx("frag-overlap.pcap", eth_pcap(&v)?, t));

    // Timed out: the last fragment of request 2's packet arrives 31 s late
    // (after every other packet), so that packet is never rebuilt and
    // request 2 is lost; 1 and 3 are whole.
    let (f, t) = raw("frag-timeout", false)?;
    let mut v = Vec::new();
    let mut late = None;
    for (i, (ts, ip)) in f.iter().enumerate() {
        let mut parts = fragment_v4(ip, 0x6000 + i as u16, &CUTS);
        let is_req2 = ip.windows(14).any(|w| w == b"frag-timeout-2");
        if is_req2 && parts.len() == 3 {
            late = parts.pop().map(|p| (Timestamp(ts.0 + 31_000_000_000), p));
        }
        v.extend(parts.into_iter().map(|p| (*ts, eth(0x0800, &p))));
    }
    if let Some((ts, p)) = late {
        let last = v.last().map_or(ts, |x| Timestamp(x.0 .0.max(ts.0)));
        v.push((last, eth(0x0800, &p)));
    }
    let t: Vec<TruthRequest> = t
        .into_iter()
        .map(|mut r| {
            if r.request_id == "frag-timeout-2" {
                r.partial = true;
                r.note = Some("its packet's last fragment came after the 30 s timeout".into());
            }
            r
        })
        .collect();
    out.push(fx("frag-timeout.pcap", eth_pcap(&v)?, t));

    // VXLAN whose outer IPv4 is fragmented (cloud mirror MTU).
    let (f, t) = raw("frag-vxlan-outer", false)?;
    let mut v = Vec::new();
    for (i, (ts, ip)) in f.iter().enumerate() {
        let outer = wrap_vxlan(0x5a_c3_03, 0x7000 + i as u16, ip);
        let outer_ip = &outer[14..];
        for p in fragment_v4(outer_ip, 0x7000 + i as u16, &[96, 200]) {
            v.push((*ts, eth(0x0800, &p)));
        }
    }
    out.push(fx("frag-vxlan-outer.pcap", eth_pcap(&v)?, t));

    // IPv6 fragments, the last one first.
    let (f, t) = raw("frag-ipv6", true)?;
    let mut v = Vec::new();
    for (i, (ts, ip)) in f.iter().enumerate() {
        let mut parts = fragment_v6(ip, 0x0001_0000 + i as u32, &CUTS);
        parts.rotate_right(1);
        v.extend(parts.into_iter().map(|p| (*ts, eth(0x86dd, &p))));
    }
    out.push(fx("frag-ipv6.pcap", eth_pcap(&v)?, t));
    Ok(out)
}

fn ip_src(ip: &[u8]) -> [u8; 4] {
    [ip[12], ip[13], ip[14], ip[15]]
}

fn ip_dst(ip: &[u8]) -> [u8; 4] {
    [ip[16], ip[17], ip[18], ip[19]]
}
