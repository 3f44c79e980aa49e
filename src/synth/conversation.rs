//! One TCP connection: sequence bookkeeping (RFC 9293 §3.4), segmentation,
//! impairments and rendering to link-layer frames.

use std::net::{IpAddr, SocketAddr};

use etherparse::{
    EtherType, Ethernet2Header, LinuxSllHeader, LinuxSllPacketType, LinuxSllProtocolType,
    PacketBuilder, SingleVlanHeader, VlanId, VlanPcp,
};

use super::{Rng, SynthError};
use crate::capture::{LinkType, Timestamp};

/// Which side sent a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

/// How the connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teardown {
    /// Client FIN, server FIN+ACK, client ACK (RFC 9293 §3.6).
    Fin,
    /// Client sends RST.
    Rst,
    /// No teardown: the capture just ends.
    None,
}

/// Impairments applied to the client→server data segments. `index` counts
/// the client data segments in sending order before any impairment (0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Impairment {
    /// Shuffle client data segments within consecutive windows of `window`
    /// segments (2 = swap neighbours).
    Reorder { window: usize },
    /// Send segment `index` again (same bytes) after the next segment.
    Retransmit { index: usize },
    /// After segment `index + 1`, re-send a segment spanning the second half
    /// of `index` and the first half of `index + 1`, with the same bytes.
    OverlapRetransmit { index: usize },
    /// Lose segment `index`: a hole in the stream.
    Drop { index: usize },
    /// Right after segment `index`, send the same sequence range again with
    /// `data` (cycled/truncated to the segment's length). A first-wins
    /// reassembler keeps the original bytes.
    OverlapDifferent { index: usize, data: Vec<u8> },
    /// Right after segment `index`, an RST from the client at the exact next
    /// sequence number, as an attacker sends it with a TTL too low to reach
    /// the server: the connection goes on, the next segment continues the
    /// stream where the RST claimed it ended.
    ForgedRst { index: usize },
    /// Before the real handshake, a client SYN with a made-up ISN (the real
    /// one plus 2^30), as an attacker sends it with a TTL too low to reach
    /// the server, then `data` (when not empty) at that ISN: a stream the
    /// server never sees.
    ForgedSyn { data: Vec<u8> },
    /// Right before the first client data segment, `data` from the client
    /// at a made-up sequence number (the real one plus 2^30), as an
    /// attacker sends it with a TTL too low to reach the server: in a flow
    /// picked up midstream (no handshake) it comes first and fixes where
    /// the sensor thinks the client's stream starts, so the real bytes look
    /// 2^30 bytes old.
    ForgedFirstData { data: Vec<u8> },
}

/// A TCP segment before link rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub dir: Direction,
    pub seq: u32,
    pub ack: u32,
    /// TCP flag bits as in [`crate::decode::TcpFlags`].
    pub flags: u8,
    pub payload: Vec<u8>,
    /// Index among the client data segments before impairments.
    pub(crate) client_index: Option<usize>,
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// Largest segment payload accepted: keeps IPv4/IPv6 total length (with a
/// 60-byte IP header and 60-byte TCP header) under 65535.
pub const MAX_SEGMENT_BYTES: usize = 65_000;

/// Next sequence numbers of both sides; every addition wraps (RFC 9293 §3.4).
#[derive(Debug, Clone)]
pub(crate) struct SeqState {
    pub(crate) client_next: u32,
    pub(crate) server_next: u32,
}

impl SeqState {
    pub(crate) fn new(client_isn: u32, server_isn: u32) -> SeqState {
        SeqState {
            client_next: client_isn,
            server_next: server_isn,
        }
    }

    pub(crate) fn handshake(&mut self, out: &mut Vec<Segment>) {
        let (c, s) = (self.client_next, self.server_next);
        out.push(seg(Direction::ClientToServer, c, 0, SYN, Vec::new()));
        out.push(seg(
            Direction::ServerToClient,
            s,
            c.wrapping_add(1),
            SYN | ACK,
            Vec::new(),
        ));
        self.client_next = c.wrapping_add(1);
        self.server_next = s.wrapping_add(1);
        out.push(seg(
            Direction::ClientToServer,
            self.client_next,
            self.server_next,
            ACK,
            Vec::new(),
        ));
    }

    /// Segment `data` at `mss` bytes; PSH on the last segment.
    pub(crate) fn send(&mut self, dir: Direction, data: &[u8], mss: usize, out: &mut Vec<Segment>) {
        let mss = mss.clamp(1, MAX_SEGMENT_BYTES);
        let n = data.chunks(mss).count();
        for (i, chunk) in data.chunks(mss).enumerate() {
            let flags = if i + 1 == n { ACK | PSH } else { ACK };
            let (seq, ack) = match dir {
                Direction::ClientToServer => (self.client_next, self.server_next),
                Direction::ServerToClient => (self.server_next, self.client_next),
            };
            out.push(seg(dir, seq, ack, flags, chunk.to_vec()));
            let len = chunk.len() as u32;
            match dir {
                Direction::ClientToServer => self.client_next = seq.wrapping_add(len),
                Direction::ServerToClient => self.server_next = seq.wrapping_add(len),
            }
        }
    }

    /// Pure ACK from `dir`'s sender acknowledging everything so far.
    pub(crate) fn ack(&self, dir: Direction, out: &mut Vec<Segment>) {
        let (seq, ack) = match dir {
            Direction::ClientToServer => (self.client_next, self.server_next),
            Direction::ServerToClient => (self.server_next, self.client_next),
        };
        out.push(seg(dir, seq, ack, ACK, Vec::new()));
    }

    pub(crate) fn teardown(&mut self, how: Teardown, server_packets: bool, out: &mut Vec<Segment>) {
        match how {
            Teardown::None => {}
            Teardown::Rst => out.push(seg(
                Direction::ClientToServer,
                self.client_next,
                self.server_next,
                RST | ACK,
                Vec::new(),
            )),
            Teardown::Fin => {
                out.push(seg(
                    Direction::ClientToServer,
                    self.client_next,
                    self.server_next,
                    FIN | ACK,
                    Vec::new(),
                ));
                self.client_next = self.client_next.wrapping_add(1);
                if server_packets {
                    out.push(seg(
                        Direction::ServerToClient,
                        self.server_next,
                        self.client_next,
                        FIN | ACK,
                        Vec::new(),
                    ));
                    self.server_next = self.server_next.wrapping_add(1);
                    self.ack(Direction::ClientToServer, out);
                }
            }
        }
    }
}

fn seg(dir: Direction, seq: u32, ack: u32, flags: u8, payload: Vec<u8>) -> Segment {
    Segment {
        dir,
        seq,
        ack,
        flags,
        payload,
        client_index: None,
    }
}

/// Number client data segments in order, for [`Impairment`] indices.
pub(crate) fn number_client_data(segs: &mut [Segment]) {
    let mut i = 0;
    for s in segs.iter_mut() {
        if s.dir == Direction::ClientToServer && !s.payload.is_empty() {
            s.client_index = Some(i);
            i += 1;
        }
    }
}

fn position(segs: &[Segment], index: usize) -> Option<usize> {
    segs.iter().position(|s| s.client_index == Some(index))
}

/// Apply one impairment. Indices that do not exist are ignored (the
/// impairment simply does not happen), so random schedules stay valid.
pub(crate) fn impair(segs: &mut Vec<Segment>, imp: &Impairment, rng: &mut Rng) {
    let is_data = |s: &Segment| s.dir == Direction::ClientToServer && !s.payload.is_empty();
    match imp {
        Impairment::Drop { index } => {
            if let Some(p) = position(segs, *index) {
                segs.remove(p);
            }
        }
        Impairment::Retransmit { index } => {
            if let Some((p, orig)) = found(segs, *index) {
                let mut copy = orig.clone();
                copy.client_index = None;
                segs.insert((p + 2).min(segs.len()), copy);
            }
        }
        Impairment::OverlapRetransmit { index } => {
            if let (Some((p, a)), Some((q, b))) = (found(segs, *index), found(segs, index + 1)) {
                let half_a = a.payload.len() / 2;
                let mut payload = a.payload.get(half_a..).unwrap_or_default().to_vec();
                payload.extend_from_slice(
                    b.payload
                        .get(..b.payload.len().div_ceil(2))
                        .unwrap_or_default(),
                );
                let copy = seg(
                    a.dir,
                    a.seq.wrapping_add(half_a as u32),
                    b.ack,
                    ACK,
                    payload,
                );
                segs.insert(p.max(q) + 1, copy);
            }
        }
        Impairment::OverlapDifferent { index, data } => {
            if let Some((p, orig)) = found(segs, *index) {
                let mut copy = orig.clone();
                copy.client_index = None;
                for (b, d) in copy.payload.iter_mut().zip(data.iter().cycle()) {
                    *b = *d;
                }
                segs.insert(p + 1, copy);
            }
        }
        Impairment::ForgedRst { index } => {
            if let Some((p, orig)) = found(segs, *index) {
                let next = orig.seq.wrapping_add(orig.payload.len() as u32);
                segs.insert(p + 1, seg(orig.dir, next, orig.ack, RST | ACK, Vec::new()));
            }
        }
        Impairment::ForgedSyn { data } => {
            let real = segs
                .iter()
                .find(|s| s.dir == Direction::ClientToServer && s.flags & SYN != 0);
            if let Some(real) = real {
                let isn = real.seq.wrapping_add(1 << 30);
                let mut forged = vec![seg(real.dir, isn, 0, SYN, Vec::new())];
                if !data.is_empty() {
                    forged.push(seg(real.dir, isn.wrapping_add(1), 0, ACK, data.clone()));
                }
                segs.splice(0..0, forged);
            }
        }
        Impairment::ForgedFirstData { data } => {
            if let Some((p, first)) = found(segs, 0) {
                let forged = seg(
                    first.dir,
                    first.seq.wrapping_add(1 << 30),
                    first.ack,
                    ACK,
                    data.clone(),
                );
                segs.insert(p, forged);
            }
        }
        Impairment::Reorder { window } => {
            let window = (*window).max(1);
            // Runs of consecutive client data segments are shuffled in
            // windows; control and server segments keep their place.
            let mut i = 0;
            while i < segs.len() {
                let mut j = i;
                while j < segs.len() && j - i < window && segs.get(j).is_some_and(is_data) {
                    j += 1;
                }
                if j == i {
                    i += 1;
                    continue;
                }
                if let Some(run) = segs.get_mut(i..j) {
                    rng.shuffle(run);
                }
                i = j;
            }
        }
    }
}

/// Position and a copy of client data segment `index`.
fn found(segs: &[Segment], index: usize) -> Option<(usize, Segment)> {
    let p = position(segs, index)?;
    Some((p, segs.get(p)?.clone()))
}

/// Everything the link layer needs: addresses and tags.
#[derive(Debug, Clone)]
pub(crate) struct LinkSpec {
    pub(crate) linktype: LinkType,
    pub(crate) client: SocketAddr,
    pub(crate) server: SocketAddr,
    pub(crate) vlans: Vec<u16>,
    pub(crate) null_big_endian: bool,
}

const CLIENT_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x02];
/// BSD AF_INET6 as NetBSD/OpenBSD number it (libpcap also accepts 28/30).
const BSD_AF_INET6: u32 = 24;
const BSD_AF_INET: u32 = 2;

impl LinkSpec {
    pub(crate) fn check(&self) -> Result<(), SynthError> {
        if self.client.is_ipv4() != self.server.is_ipv4() {
            return Err(SynthError::Invalid(
                "client and server must both be IPv4 or IPv6".into(),
            ));
        }
        if self.vlans.len() > 2 {
            return Err(SynthError::Invalid("at most 2 VLAN tags (QinQ)".into()));
        }
        if !self.vlans.is_empty() && self.linktype != LinkType::ETHERNET {
            return Err(SynthError::Invalid(
                "VLAN tags need the Ethernet link type".into(),
            ));
        }
        if let Some(v) = self.vlans.iter().find(|v| **v > 4095) {
            return Err(SynthError::Invalid(format!("VLAN id {v} > 4095")));
        }
        match self.linktype {
            LinkType::ETHERNET
            | LinkType::RAW
            | LinkType::LINUX_SLL
            | LinkType::LINUX_SLL2
            | LinkType::NULL => Ok(()),
            other => Err(SynthError::Invalid(format!(
                "unsupported link type {other:?}"
            ))),
        }
    }

    /// Render one segment as a frame of this link type.
    pub(crate) fn render(&self, s: &Segment) -> Result<Vec<u8>, SynthError> {
        let (src, dst) = match s.dir {
            Direction::ClientToServer => (self.client, self.server),
            Direction::ServerToClient => (self.server, self.client),
        };
        let ip = ip_tcp(src, dst, s)?;
        let v6 = src.is_ipv6();
        let ether_type = if v6 { EtherType::IPV6 } else { EtherType::IPV4 };
        let mut out = Vec::with_capacity(ip.len() + 24);
        match self.linktype {
            LinkType::ETHERNET => {
                let (smac, dmac) = match s.dir {
                    Direction::ClientToServer => (CLIENT_MAC, SERVER_MAC),
                    Direction::ServerToClient => (SERVER_MAC, CLIENT_MAC),
                };
                let outer_type = match self.vlans.len() {
                    0 => ether_type,
                    1 => EtherType::VLAN_TAGGED_FRAME,
                    _ => EtherType::PROVIDER_BRIDGING,
                };
                let eth = Ethernet2Header {
                    source: smac,
                    destination: dmac,
                    ether_type: outer_type,
                };
                out.extend_from_slice(&eth.to_bytes());
                for (i, id) in self.vlans.iter().enumerate() {
                    let next = if i + 1 < self.vlans.len() {
                        EtherType::VLAN_TAGGED_FRAME
                    } else {
                        ether_type
                    };
                    let vlan_id =
                        VlanId::try_new(*id).map_err(|e| SynthError::Invalid(e.to_string()))?;
                    let tag = SingleVlanHeader {
                        pcp: VlanPcp::ZERO,
                        drop_eligible_indicator: false,
                        vlan_id,
                        ether_type: next,
                    };
                    out.extend_from_slice(&tag.to_bytes());
                }
                out.extend_from_slice(&ip);
                // Ethernet minimum frame (without FCS) is 60 bytes; real
                // captures carry the padding, which decode must trim.
                if out.len() < 60 {
                    out.resize(60, 0);
                }
            }
            LinkType::RAW => out.extend_from_slice(&ip),
            LinkType::LINUX_SLL => {
                let mut addr = [0u8; 8];
                let (mac, pkt_type) = match s.dir {
                    Direction::ClientToServer => (CLIENT_MAC, LinuxSllPacketType::HOST),
                    Direction::ServerToClient => (SERVER_MAC, LinuxSllPacketType::OUTGOING),
                };
                addr[..6].copy_from_slice(&mac);
                let h = LinuxSllHeader {
                    packet_type: pkt_type,
                    arp_hrd_type: etherparse::ArpHardwareId::ETHERNET,
                    sender_address_valid_length: 6,
                    sender_address: addr,
                    protocol_type: LinuxSllProtocolType::EtherType(ether_type),
                };
                out.extend_from_slice(&h.to_bytes());
                out.extend_from_slice(&ip);
            }
            LinkType::LINUX_SLL2 => {
                // SLL2 (https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html):
                // protocol, reserved, ifindex, ARPHRD, packet type, addr len, addr[8].
                let (mac, pkt_type) = match s.dir {
                    Direction::ClientToServer => (CLIENT_MAC, 0u8),
                    Direction::ServerToClient => (SERVER_MAC, 4u8),
                };
                out.extend_from_slice(&ether_type.0.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&3u32.to_be_bytes());
                out.extend_from_slice(&1u16.to_be_bytes());
                out.push(pkt_type);
                out.push(6);
                out.extend_from_slice(&mac);
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&ip);
            }
            LinkType::NULL => {
                let af = if v6 { BSD_AF_INET6 } else { BSD_AF_INET };
                if self.null_big_endian {
                    out.extend_from_slice(&af.to_be_bytes());
                } else {
                    out.extend_from_slice(&af.to_le_bytes());
                }
                out.extend_from_slice(&ip);
            }
            other => {
                return Err(SynthError::Invalid(format!(
                    "unsupported link type {other:?}"
                )))
            }
        }
        Ok(out)
    }
}

/// IP + TCP bytes of one segment, built with etherparse's `PacketBuilder`
/// (checksums computed).
pub(crate) fn ip_tcp(src: SocketAddr, dst: SocketAddr, s: &Segment) -> Result<Vec<u8>, SynthError> {
    let step = match (src.ip(), dst.ip()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => PacketBuilder::ipv4(a.octets(), b.octets(), 64),
        (IpAddr::V6(a), IpAddr::V6(b)) => PacketBuilder::ipv6(a.octets(), b.octets(), 64),
        _ => return Err(SynthError::Invalid("mixed IPv4/IPv6 addresses".into())),
    };
    let mut t = step.tcp(src.port(), dst.port(), s.seq, 64240);
    if s.flags & SYN != 0 {
        t = t.syn();
    }
    if s.flags & ACK != 0 {
        t = t.ack(s.ack);
    }
    if s.flags & FIN != 0 {
        t = t.fin();
    }
    if s.flags & RST != 0 {
        t = t.rst();
    }
    if s.flags & PSH != 0 {
        t = t.psh();
    }
    let mut out = Vec::with_capacity(t.size(s.payload.len()));
    t.write(&mut out, &s.payload)
        .map_err(|e| SynthError::Build(e.to_string()))?;
    Ok(out)
}

/// One TCP connection, described step by step and rendered to frames.
///
/// ```
/// use specula::synth::{TcpConversation, Teardown};
/// use specula::capture::LinkType;
/// let frames = TcpConversation::new("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:8445".parse().unwrap())
///     .client(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec())
///     .server(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec())
///     .teardown(Teardown::Fin)
///     .frames(LinkType::ETHERNET)
///     .unwrap();
/// // handshake, request, response + ACK, FIN exchange
/// assert_eq!(frames.len(), 3 + 1 + 2 + 3);
/// ```
#[derive(Debug, Clone)]
pub struct TcpConversation {
    client: SocketAddr,
    server: SocketAddr,
    client_isn: u32,
    server_isn: u32,
    handshake: bool,
    exchanges: Vec<(Direction, Vec<u8>)>,
    mss: usize,
    teardown: Teardown,
    vlans: Vec<u16>,
    impairments: Vec<Impairment>,
    seed: u64,
    server_silent: bool,
    skip_client_bytes: usize,
    start: Timestamp,
    step_ns: u64,
    null_big_endian: bool,
}

/// 2026-01-01T00:00:00Z, the default start of synthetic captures.
pub const DEFAULT_START: Timestamp = Timestamp::from_secs_nanos(1_767_225_600, 0);

impl TcpConversation {
    /// A connection with handshake, ISNs 1000/5000, MSS 1460, FIN teardown,
    /// no tags, no impairments, 100 µs between packets.
    pub fn new(client: SocketAddr, server: SocketAddr) -> TcpConversation {
        TcpConversation {
            client,
            server,
            client_isn: 1000,
            server_isn: 5000,
            handshake: true,
            exchanges: Vec::new(),
            mss: 1460,
            teardown: Teardown::Fin,
            vlans: Vec::new(),
            impairments: Vec::new(),
            seed: 0,
            server_silent: false,
            skip_client_bytes: 0,
            start: DEFAULT_START,
            step_ns: 100_000,
            null_big_endian: false,
        }
    }
    /// Initial sequence numbers (any value; arithmetic wraps).
    pub fn isns(mut self, client: u32, server: u32) -> Self {
        self.client_isn = client;
        self.server_isn = server;
        self
    }
    /// With (default) or without the three-way handshake.
    pub fn handshake(mut self, yes: bool) -> Self {
        self.handshake = yes;
        self
    }
    /// Append client→server data (one application write).
    pub fn client(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.exchanges
            .push((Direction::ClientToServer, data.into()));
        self
    }
    /// Append server→client data.
    pub fn server(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.exchanges
            .push((Direction::ServerToClient, data.into()));
        self
    }
    /// Maximum payload bytes per segment (clamped to 1..=65000).
    pub fn mss(mut self, mss: usize) -> Self {
        self.mss = mss;
        self
    }
    pub fn teardown(mut self, how: Teardown) -> Self {
        self.teardown = how;
        self
    }
    /// 0, 1 or 2 (QinQ: outer 802.1ad, inner 802.1Q) VLAN ids; Ethernet only.
    pub fn vlans(mut self, ids: &[u16]) -> Self {
        self.vlans = ids.to_vec();
        self
    }
    pub fn impair(mut self, imp: Impairment) -> Self {
        self.impairments.push(imp);
        self
    }
    /// Seed for randomised impairments (reorder).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// No server packets at all (one-sided capture: no SYN-ACK, no ACKs,
    /// no server data even if given).
    pub fn server_silent(mut self, yes: bool) -> Self {
        self.server_silent = yes;
        self
    }
    /// Start the capture `n` bytes into the first client write (midstream
    /// pickup; combine with `handshake(false)`).
    pub fn skip_client_bytes(mut self, n: usize) -> Self {
        self.skip_client_bytes = n;
        self
    }
    /// Time of the first packet and the gap between packets.
    pub fn timing(mut self, start: Timestamp, step_ns: u64) -> Self {
        self.start = start;
        self.step_ns = step_ns;
        self
    }
    /// BSD null header in big-endian (for big-endian pcaps); default little.
    pub fn null_big_endian(mut self, yes: bool) -> Self {
        self.null_big_endian = yes;
        self
    }

    /// The client byte stream as the application wrote it (before skipping
    /// and impairments).
    pub fn client_bytes(&self) -> Vec<u8> {
        self.exchanges
            .iter()
            .filter(|(d, _)| *d == Direction::ClientToServer)
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }

    /// The segments in sending order, impairments applied.
    pub fn segments(&self) -> Vec<Segment> {
        let mut st = SeqState::new(self.client_isn, self.server_isn);
        let mut out = Vec::new();
        let server = !self.server_silent;
        if self.handshake {
            if server {
                st.handshake(&mut out);
            } else {
                out.push(seg(
                    Direction::ClientToServer,
                    self.client_isn,
                    0,
                    SYN,
                    Vec::new(),
                ));
                st.client_next = self.client_isn.wrapping_add(1);
            }
        }
        let mut skip = self.skip_client_bytes;
        for (i, (dir, data)) in self.exchanges.iter().enumerate() {
            match dir {
                Direction::ClientToServer => {
                    let data = if skip > 0 {
                        let cut = skip.min(data.len());
                        st.client_next = st.client_next.wrapping_add(cut as u32);
                        skip = 0;
                        data.get(cut..).unwrap_or_default()
                    } else {
                        data.as_slice()
                    };
                    st.send(*dir, data, self.mss, &mut out);
                    let next_is_server = matches!(
                        self.exchanges.get(i + 1),
                        Some((Direction::ServerToClient, _))
                    );
                    if server && !next_is_server {
                        st.ack(Direction::ServerToClient, &mut out);
                    }
                }
                Direction::ServerToClient => {
                    if server {
                        st.send(*dir, data, self.mss, &mut out);
                        st.ack(Direction::ClientToServer, &mut out);
                    }
                }
            }
        }
        st.teardown(self.teardown, server, &mut out);
        number_client_data(&mut out);
        let mut rng = Rng::new(self.seed);
        for imp in &self.impairments {
            impair(&mut out, imp, &mut rng);
        }
        out
    }

    /// Frames of `linktype`, timestamped `start + i * step`.
    pub fn frames(&self, linktype: LinkType) -> Result<Vec<(Timestamp, Vec<u8>)>, SynthError> {
        let spec = LinkSpec {
            linktype,
            client: self.client,
            server: self.server,
            vlans: self.vlans.clone(),
            null_big_endian: self.null_big_endian,
        };
        spec.check()?;
        self.segments()
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let ts = Timestamp(
                    self.start
                        .0
                        .saturating_add(self.step_ns.saturating_mul(i as u64)),
                );
                Ok((ts, spec.render(s)?))
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn conv() -> TcpConversation {
        TcpConversation::new(
            "192.0.2.10:40000".parse().unwrap(),
            "192.0.2.20:8445".parse().unwrap(),
        )
    }

    /// Parse frames with etherparse and re-join the client payload by
    /// sequence number (first data wins), checking every frame parses.
    pub(crate) fn rejoin(
        frames: &[(Timestamp, Vec<u8>)],
        linktype: LinkType,
        client_port: u16,
    ) -> Vec<u8> {
        let mut pieces: Vec<(u32, Vec<u8>)> = Vec::new();
        let mut isn = None;
        for (_, f) in frames {
            let p = match linktype {
                LinkType::ETHERNET => SlicedPacket::from_ethernet(f).unwrap(),
                LinkType::LINUX_SLL => SlicedPacket::from_linux_sll(f).unwrap(),
                LinkType::RAW => SlicedPacket::from_ip(f).unwrap(),
                LinkType::LINUX_SLL2 => SlicedPacket::from_ip(&f[20..]).unwrap(),
                LinkType::NULL => SlicedPacket::from_ip(&f[4..]).unwrap(),
                _ => unreachable!(),
            };
            assert!(matches!(
                p.net,
                Some(NetSlice::Ipv4(_)) | Some(NetSlice::Ipv6(_))
            ));
            let Some(TransportSlice::Tcp(t)) = p.transport else {
                panic!("not tcp")
            };
            if t.source_port() != client_port {
                continue;
            }
            if t.syn() {
                isn = Some(t.sequence_number().wrapping_add(1));
            }
            if !t.payload().is_empty() {
                pieces.push((t.sequence_number(), t.payload().to_vec()));
            }
        }
        let base = isn.unwrap_or_else(|| pieces.iter().map(|p| p.0).min().unwrap());
        let mut out: Vec<Option<u8>> = Vec::new();
        for (seq, data) in pieces {
            let off = seq.wrapping_sub(base) as usize;
            if out.len() < off + data.len() {
                out.resize(off + data.len(), None);
            }
            for (i, b) in data.iter().enumerate() {
                out[off + i].get_or_insert(*b);
            }
        }
        out.into_iter().map(|b| b.unwrap_or(b'?')).collect()
    }

    #[test]
    fn handshake_data_fin_counts() {
        let c = conv()
            .client(vec![b'a'; 3000])
            .server(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec());
        let segs = c.segments();
        // SYN, SYN-ACK, ACK, 3 data (1460,1460,80), 1 server data, client ACK, FIN, FIN-ACK, ACK
        assert_eq!(segs.len(), 3 + 3 + 1 + 1 + 3);
        assert_eq!(segs[3].seq, 1001);
        assert_eq!(segs[4].seq, 1001 + 1460);
        assert_eq!(segs[5].payload.len(), 80);
        assert_eq!(segs[5].flags, ACK | PSH);
        assert_eq!(segs[6].ack, 1001 + 3000);
    }

    #[test]
    fn every_link_type_parses_and_rejoins() {
        let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        for lt in [
            LinkType::ETHERNET,
            LinkType::RAW,
            LinkType::LINUX_SLL,
            LinkType::LINUX_SLL2,
            LinkType::NULL,
        ] {
            for mss in [1, 7, 536, 1460] {
                let c = conv()
                    .mss(mss)
                    .client(payload.clone())
                    .server(b"x".to_vec());
                let frames = c.frames(lt).unwrap();
                assert_eq!(rejoin(&frames, lt, 40000), payload, "{lt:?} mss {mss}");
            }
        }
    }

    #[test]
    fn ipv6_qinq_and_wrap() {
        let payload = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(40);
        let c = TcpConversation::new(
            "[2001:db8::1]:5555".parse().unwrap(),
            "[2001:db8::2]:80".parse().unwrap(),
        )
        .isns(u32::MAX - 100, u32::MAX)
        .vlans(&[100, 200])
        .mss(333)
        .client(payload.clone());
        let frames = c.frames(LinkType::ETHERNET).unwrap();
        // outer 802.1ad, inner 802.1Q
        assert_eq!(&frames[0].1[12..14], &[0x88, 0xa8]);
        assert_eq!(&frames[0].1[16..18], &[0x81, 0x00]);
        assert_eq!(&frames[0].1[20..22], &[0x86, 0xdd]);
        assert_eq!(rejoin(&frames, LinkType::ETHERNET, 5555), payload);
        let segs = c.segments();
        assert!(
            segs.iter().any(|s| s.seq < 1000 && !s.payload.is_empty()),
            "seq wrapped"
        );
    }

    #[test]
    fn small_ethernet_frames_are_padded() {
        let frames = conv()
            .client(b"hi".to_vec())
            .frames(LinkType::ETHERNET)
            .unwrap();
        assert!(frames.iter().all(|(_, f)| f.len() >= 60));
    }

    #[test]
    fn null_header_byte_order() {
        let le = conv().client(b"a".to_vec()).frames(LinkType::NULL).unwrap();
        assert_eq!(&le[0].1[..4], &[2, 0, 0, 0]);
        let be = conv()
            .null_big_endian(true)
            .client(b"a".to_vec())
            .frames(LinkType::NULL)
            .unwrap();
        assert_eq!(&be[0].1[..4], &[0, 0, 0, 2]);
    }

    #[test]
    fn invalid_specs_are_errors() {
        assert!(conv().vlans(&[1]).frames(LinkType::RAW).is_err());
        assert!(conv().vlans(&[1, 2, 3]).frames(LinkType::ETHERNET).is_err());
        assert!(conv().vlans(&[5000]).frames(LinkType::ETHERNET).is_err());
        assert!(conv().frames(LinkType(147)).is_err());
        let mixed = TcpConversation::new("10.0.0.1:1".parse().unwrap(), "[::1]:2".parse().unwrap());
        assert!(mixed.frames(LinkType::RAW).is_err());
    }

    #[test]
    fn impairments_keep_or_hole_the_stream() {
        let payload: Vec<u8> = (0..2000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let base = conv().mss(100).client(payload.clone()).seed(9);
        let c = base
            .clone()
            .impair(Impairment::Reorder { window: 4 })
            .impair(Impairment::Retransmit { index: 3 })
            .impair(Impairment::OverlapRetransmit { index: 7 });
        let segs = c.segments();
        assert!(segs.len() > base.segments().len());
        let data_seqs: Vec<u32> = segs
            .iter()
            .filter(|s| s.client_index.is_some())
            .map(|s| s.seq)
            .collect();
        assert!(data_seqs.windows(2).any(|w| w[1] < w[0]), "reordered");
        assert_eq!(
            rejoin(&c.frames(LinkType::RAW).unwrap(), LinkType::RAW, 40000),
            payload
        );

        let dropped = base.clone().impair(Impairment::Drop { index: 5 });
        let got = rejoin(
            &dropped.frames(LinkType::RAW).unwrap(),
            LinkType::RAW,
            40000,
        );
        assert_eq!(&got[500..600], &[b'?'; 100][..]);
        assert_eq!(&got[600..], &payload[600..]);

        let over = base.impair(Impairment::OverlapDifferent {
            index: 2,
            data: b"Z".to_vec(),
        });
        let segs = over.segments();
        assert_eq!(
            segs.iter().filter(|s| s.payload == vec![b'Z'; 100]).count(),
            1
        );
        assert_eq!(
            rejoin(&over.frames(LinkType::RAW).unwrap(), LinkType::RAW, 40000),
            payload
        );
    }

    #[test]
    fn one_sided_and_midstream() {
        let c = conv()
            .handshake(false)
            .server_silent(true)
            .skip_client_bytes(10)
            .teardown(Teardown::None)
            .client(b"0123456789GET / HTTP/1.1\r\n\r\n".to_vec())
            .server(b"ignored".to_vec());
        let segs = c.segments();
        assert!(segs.iter().all(|s| s.dir == Direction::ClientToServer));
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].seq, 1010);
        assert_eq!(segs[0].payload, b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn mss_is_clamped_at_the_limits() {
        let big = vec![b'x'; MAX_SEGMENT_BYTES + 5000];
        let segs = conv().mss(usize::MAX).client(big.clone()).segments();
        let data: Vec<usize> = segs
            .iter()
            .filter(|s| !s.payload.is_empty())
            .map(|s| s.payload.len())
            .collect();
        assert_eq!(data, vec![MAX_SEGMENT_BYTES, 5000]);
        // The largest segment still renders (IPv4 and IPv6 length fields).
        assert_eq!(
            rejoin(
                &conv()
                    .mss(usize::MAX)
                    .client(big.clone())
                    .frames(LinkType::RAW)
                    .unwrap(),
                LinkType::RAW,
                40000
            ),
            big
        );
        let v6 = TcpConversation::new("[::1]:40000".parse().unwrap(), "[::2]:80".parse().unwrap());
        assert!(v6.mss(usize::MAX).client(big).frames(LinkType::RAW).is_ok());
        let segs = conv().mss(0).client(b"abc".to_vec()).segments();
        assert_eq!(segs.iter().filter(|s| s.payload.len() == 1).count(), 3);
    }

    #[test]
    fn timestamps_follow_timing() {
        let f = conv()
            .timing(Timestamp(5_000_000_123), 7)
            .client(b"a".to_vec())
            .frames(LinkType::RAW)
            .unwrap();
        let ts: Vec<u64> = f.iter().map(|(t, _)| t.0).collect();
        assert_eq!(ts[0], 5_000_000_123);
        assert!(ts.windows(2).all(|w| w[1] == w[0] + 7));
    }

    #[test]
    fn out_of_range_impairments_are_ignored() {
        let base = conv().client(b"abc".to_vec());
        let imp = base
            .clone()
            .impair(Impairment::Drop { index: 99 })
            .impair(Impairment::Retransmit { index: 99 })
            .impair(Impairment::OverlapRetransmit { index: 0 })
            .impair(Impairment::OverlapDifferent {
                index: 99,
                data: vec![],
            });
        assert_eq!(imp.segments(), base.segments());
    }

    #[test]
    fn rst_teardown() {
        let segs = conv()
            .client(b"a".to_vec())
            .teardown(Teardown::Rst)
            .segments();
        assert_eq!(segs.last().unwrap().flags & RST, RST);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Any MSS, any ISN (wrap included), any link type, with exact and
        /// overlapping retransmissions and reordering: the client stream
        /// re-joined from the parsed frames is the payload.
        #[test]
        fn any_segmentation_rejoins(
            len in 1usize..3000,
            mss in 1usize..1500,
            isn in proptest::prelude::any::<u32>(),
            lt in 0usize..5,
            window in 1usize..6,
            retrans in 0usize..20,
            v6 in proptest::prelude::any::<bool>(),
        ) {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let lt = [LinkType::ETHERNET, LinkType::RAW, LinkType::LINUX_SLL, LinkType::LINUX_SLL2, LinkType::NULL][lt];
            let (c, s) = if v6 {
                ("[2001:db8::1]:40000".parse().unwrap(), "[2001:db8::2]:80".parse().unwrap())
            } else {
                ("192.0.2.1:40000".parse().unwrap(), "192.0.2.2:80".parse().unwrap())
            };
            let conv = TcpConversation::new(c, s)
                .isns(isn, isn.wrapping_mul(3))
                .mss(mss)
                .seed(len as u64)
                .client(payload.clone())
                .server(b"ok".to_vec())
                .impair(Impairment::Retransmit { index: retrans })
                .impair(Impairment::OverlapRetransmit { index: retrans / 2 })
                .impair(Impairment::Reorder { window });
            let frames = conv.frames(lt).unwrap();
            proptest::prop_assert_eq!(rejoin(&frames, lt, 40000), payload);
        }
    }
}
