//! UDP tunnel listener: the receiving end of cloud traffic mirroring.
//!
//! AWS VPC Traffic Mirroring and Azure virtual network TAP send every
//! mirrored packet as a VXLAN datagram (UDP 4789, RFC 7348) to a target;
//! AWS Gateway Load Balancer sends Geneve (UDP 6081, RFC 8926). Such a
//! target is a plain UDP socket, not a capture interface. This module owns
//! that socket: binding it (errors name the address), its kernel receive
//! buffer (`SO_RCVBUF`, forced past `net.core.rmem_max` when privileged),
//! receiving one datagram at a time into one fixed 64 KiB buffer (a UDP
//! payload cannot be larger, so nothing is ever cut), the kernel's
//! timestamp of each datagram (`SO_TIMESTAMPNS`) and the count of
//! datagrams the kernel dropped because the buffer was full
//! (`SO_RXQ_OVFL`). It also owns the VNI filter ([`VniFilter`]) and the
//! allow-list of outer sources (`UdpTunnelOptions::sources`): anyone who
//! reaches the port could otherwise send forged "mirrored" packets, fake
//! flows or segments of real ones that the reassembler would take as the
//! stream.
//!
//! Hands on [`Datagram`]s: the UDP payload (starting with the VXLAN or
//! Geneve header, i.e. [`LinkType::VXLAN_PAYLOAD`] / `GENEVE_PAYLOAD`),
//! borrowed until the next receive. A receive waits at most
//! [`RECV_TIMEOUT`], so the caller can look at its stop flag.

use std::io::IoSliceMut;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use ipnet::IpNet;
use nix::errno::Errno;
use nix::sys::socket::{self, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use nix::sys::time::TimeVal;

use crate::capture::{CaptureError, LinkType, Timestamp};

/// Largest UDP payload (65,535 − 8 bytes of UDP header, rounded up): the
/// receive buffer holds any datagram whole.
pub const MAX_DATAGRAM_BYTES: usize = 65_536;

/// Largest receive buffer asked of the kernel (1 GiB); larger requests are
/// cut to it.
pub const MAX_RECV_BUFFER_BYTES: usize = 1 << 30;

/// How long one [`UdpTunnelSocket::recv`] waits before returning `Ok(None)`.
pub const RECV_TIMEOUT: Duration = Duration::from_millis(100);

/// Which tunnel a listener receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// VXLAN, RFC 7348 (AWS VPC Traffic Mirroring, Azure vTAP): UDP 4789.
    Vxlan,
    /// Geneve, RFC 8926 (AWS Gateway Load Balancer): UDP 6081.
    Geneve,
}

impl TunnelKind {
    /// The pseudo link type the decoder reads such a payload with.
    pub const fn linktype(self) -> LinkType {
        match self {
            TunnelKind::Vxlan => LinkType::VXLAN_PAYLOAD,
            TunnelKind::Geneve => LinkType::GENEVE_PAYLOAD,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
        }
    }

    /// The IANA port of the tunnel.
    pub const fn default_port(self) -> u16 {
        match self {
            TunnelKind::Vxlan => 4789,
            TunnelKind::Geneve => 6081,
        }
    }

    /// The 24-bit VNI of a datagram's tunnel header, if the header is whole
    /// and valid: VXLAN needs its I flag (RFC 7348 §5), Geneve version 0
    /// (RFC 8926 §3.4). Both keep the VNI in bytes 4..7.
    pub fn vni(self, payload: &[u8]) -> Option<u32> {
        let head = payload.get(..8)?;
        let first = *head.first()?;
        let ok = match self {
            TunnelKind::Vxlan => first & 0x08 != 0,
            TunnelKind::Geneve => first >> 6 == 0,
        };
        if !ok {
            return None;
        }
        let b = head.get(4..7)?;
        Some(b.iter().fold(0u32, |acc, x| (acc << 8) | u32::from(*x)))
    }
}

/// Largest VNI (24 bits).
pub const MAX_VNI: u32 = 0xFF_FFFF;

/// Which VNIs a listener analyses: all when empty, else only those listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VniFilter {
    /// Sorted, without duplicates.
    vnis: Vec<u32>,
}

/// What the filter decided about one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VniVerdict {
    /// Analyse it.
    Pass,
    /// A whole header with a VNI not listed: count and drop.
    Filtered,
    /// A filter is set and the header is short or invalid, so its VNI is
    /// unknown: count as a malformed tunnel and drop.
    Malformed,
}

impl VniFilter {
    pub fn new(vnis: &[u32]) -> VniFilter {
        let mut vnis = vnis.to_vec();
        vnis.sort_unstable();
        vnis.dedup();
        VniFilter { vnis }
    }

    /// True when every VNI passes.
    pub fn is_empty(&self) -> bool {
        self.vnis.is_empty()
    }

    pub fn vnis(&self) -> &[u32] {
        &self.vnis
    }

    pub fn check(&self, kind: TunnelKind, payload: &[u8]) -> VniVerdict {
        if self.vnis.is_empty() {
            // The decoder judges (and counts) the header itself.
            return VniVerdict::Pass;
        }
        match kind.vni(payload) {
            Some(v) if self.vnis.binary_search(&v).is_ok() => VniVerdict::Pass,
            Some(_) => VniVerdict::Filtered,
            None => VniVerdict::Malformed,
        }
    }
}

/// Options of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpTunnelOptions {
    pub kind: TunnelKind,
    pub listen: SocketAddr,
    /// Kernel receive buffer (`SO_RCVBUF`) in bytes, at most
    /// [`MAX_RECV_BUFFER_BYTES`]: what absorbs bursts while the thread is
    /// busy. Beyond it the kernel drops (counted).
    pub recv_buffer_bytes: usize,
    /// Outer source addresses datagrams are accepted from (the mirror
    /// sources' ENIs, the GWLB's subnet); empty = any. Others are marked
    /// (`source_allowed` false) and dropped before any state.
    pub sources: Vec<IpNet>,
}

/// One received datagram, borrowed from the socket until the next receive.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// When the kernel received it (wall clock), else when it was read.
    pub ts: Timestamp,
    /// The UDP payload: the tunnel header and what it carries.
    pub payload: &'a [u8],
    /// The kernel cut the datagram to fit the buffer (cannot happen for UDP
    /// with [`MAX_DATAGRAM_BYTES`]; checked all the same).
    pub truncated: bool,
    /// The outer (UDP) source, when the kernel gave it.
    pub from: Option<SocketAddr>,
    /// `from` is in the listener's `sources` (always true without a list).
    pub source_allowed: bool,
}

/// A bound listener; see the module doc.
pub struct UdpTunnelSocket {
    socket: UdpSocket,
    kind: TunnelKind,
    name: String,
    local: SocketAddr,
    buf: Vec<u8>,
    cmsg: Vec<u8>,
    kernel_dropped: u64,
    recv_buffer_bytes: usize,
    sources: Vec<IpNet>,
}

impl std::fmt::Debug for UdpTunnelSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpTunnelSocket")
            .field("name", &self.name)
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl UdpTunnelSocket {
    /// Bind `opts.listen` (needs root only below port 1024: bind before
    /// privileges are dropped anyway, as `live` does).
    pub fn bind(opts: &UdpTunnelOptions) -> Result<UdpTunnelSocket, CaptureError> {
        let name = format!("{}:{}", opts.kind.as_str(), opts.listen);
        let err = |what: &str, e: &dyn std::fmt::Display| CaptureError::Listen {
            listen: name.clone(),
            message: format!("{what}: {e}"),
        };
        let socket = UdpSocket::bind(opts.listen).map_err(|e| err("cannot bind", &e))?;
        // The kernel takes an int and doubles it: larger values would wrap.
        let want = opts.recv_buffer_bytes.min(MAX_RECV_BUFFER_BYTES);
        // Forcing passes net.core.rmem_max but needs CAP_NET_ADMIN; without
        // it the kernel caps the plain option at rmem_max.
        if socket::setsockopt(&socket, sockopt::RcvBufForce, &want).is_err() {
            socket::setsockopt(&socket, sockopt::RcvBuf, &want)
                .map_err(|e| err("cannot set the receive buffer", &e))?;
        }
        socket::setsockopt(&socket, sockopt::RxqOvfl, &1)
            .map_err(|e| err("cannot enable SO_RXQ_OVFL", &e))?;
        socket::setsockopt(&socket, sockopt::ReceiveTimestampns, &true)
            .map_err(|e| err("cannot enable SO_TIMESTAMPNS", &e))?;
        socket::setsockopt(
            &socket,
            sockopt::ReceiveTimeout,
            &TimeVal::new(0, RECV_TIMEOUT.as_micros() as i64),
        )
        .map_err(|e| err("cannot set the receive timeout", &e))?;
        // The kernel reports twice what was set (its bookkeeping share).
        let recv_buffer_bytes = socket::getsockopt(&socket, sockopt::RcvBuf).unwrap_or(0) / 2;
        let local = socket
            .local_addr()
            .map_err(|e| err("cannot read the bound address", &e))?;
        Ok(UdpTunnelSocket {
            socket,
            kind: opts.kind,
            name: format!("{}:{local}", opts.kind.as_str()),
            local,
            buf: vec![0; MAX_DATAGRAM_BYTES],
            cmsg: nix::cmsg_space!(u32, nix::sys::time::TimeSpec),
            kernel_dropped: 0,
            recv_buffer_bytes,
            sources: opts.sources.clone(),
        })
    }

    /// `vxlan:ADDR:PORT` or `geneve:ADDR:PORT` with the bound address (the
    /// source name in metrics and logs).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> TunnelKind {
        self.kind
    }

    /// The bound address (the kernel's port when `listen` asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The receive buffer the kernel granted, in bytes (may be less than
    /// asked for when unprivileged: `net.core.rmem_max`).
    pub fn recv_buffer_bytes(&self) -> usize {
        self.recv_buffer_bytes
    }

    /// Datagrams the kernel dropped since the bind because the receive
    /// buffer was full. Known as of the last datagram received (the kernel
    /// reports the count with each datagram).
    pub fn kernel_dropped(&self) -> u64 {
        self.kernel_dropped
    }

    /// The next datagram, or `Ok(None)` after [`RECV_TIMEOUT`] with none,
    /// on a signal, or on a transient error (the socket stays usable).
    pub fn recv(&mut self) -> Result<Option<Datagram<'_>>, CaptureError> {
        let fd = self.socket.as_raw_fd();
        let mut iov = [IoSliceMut::new(&mut self.buf)];
        let msg = match socket::recvmsg::<SockaddrStorage>(
            fd,
            &mut iov,
            Some(&mut self.cmsg),
            MsgFlags::empty(),
        ) {
            Ok(m) => m,
            // Timeout, signal, or what an unconnected UDP socket can report
            // for an earlier ICMP error or memory pressure: try again.
            Err(
                Errno::EAGAIN | Errno::EINTR | Errno::ECONNREFUSED | Errno::ENOBUFS | Errno::ENOMEM,
            ) => return Ok(None),
            Err(e) => {
                return Err(CaptureError::Listen {
                    listen: self.name.clone(),
                    message: format!("receive failed: {e}"),
                })
            }
        };
        let len = msg.bytes;
        let from = msg.address.as_ref().and_then(sockaddr_to_std);
        let source_allowed = self.sources.is_empty()
            || from.is_some_and(|a| {
                // A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d.
                let ip = a.ip().to_canonical();
                self.sources.iter().any(|n| n.contains(&ip))
            });
        let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
        let mut ts = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                match c {
                    ControlMessageOwned::RxqOvfl(n) => self.kernel_dropped = u64::from(n),
                    ControlMessageOwned::ScmTimestampns(t) => {
                        let secs = u64::try_from(t.tv_sec()).unwrap_or(0);
                        let nanos = u32::try_from(t.tv_nsec()).unwrap_or(0).min(999_999_999);
                        ts = Some(Timestamp::from_secs_nanos(secs, nanos));
                    }
                    _ => {}
                }
            }
        }
        let payload = self.buf.get(..len).unwrap_or(&self.buf);
        Ok(Some(Datagram {
            ts: ts.unwrap_or_else(wall_clock),
            payload,
            truncated,
            from,
            source_allowed,
        }))
    }
}

fn sockaddr_to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    let v6 = a.as_sockaddr_in6()?;
    Some(SocketAddr::from((v6.ip(), v6.port())))
}

/// Now, as a capture timestamp.
pub fn wall_clock() -> Timestamp {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => Timestamp::from_secs_nanos(d.as_secs(), d.subsec_nanos()),
        Err(_) => Timestamp(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kind: TunnelKind, listen: &str) -> UdpTunnelOptions {
        UdpTunnelOptions {
            kind,
            listen: listen.parse().unwrap(),
            recv_buffer_bytes: 1 << 20,
            sources: Vec::new(),
        }
    }

    fn vxlan(vni: u32, inner: &[u8]) -> Vec<u8> {
        let mut d = vec![0x08, 0, 0, 0];
        d.extend_from_slice(&(vni << 8).to_be_bytes());
        d.extend_from_slice(inner);
        d
    }

    #[test]
    fn vni_of_vxlan_and_geneve_headers() {
        assert_eq!(TunnelKind::Vxlan.vni(&vxlan(7, b"x")), Some(7));
        assert_eq!(TunnelKind::Vxlan.vni(&vxlan(MAX_VNI, b"")), Some(MAX_VNI));
        // The I flag is required; too short is unknown.
        assert_eq!(TunnelKind::Vxlan.vni(&[0, 0, 0, 0, 0, 0, 7, 0]), None);
        assert_eq!(TunnelKind::Vxlan.vni(&[0x08, 0, 0, 0, 0, 0, 7]), None);
        assert_eq!(TunnelKind::Vxlan.vni(&[]), None);
        // Geneve: version 0, options length, protocol, VNI, reserved.
        let g = [0x00, 0x00, 0x65, 0x58, 0x12, 0x34, 0x56, 0x00];
        assert_eq!(TunnelKind::Geneve.vni(&g), Some(0x12_3456));
        let mut bad_version = g;
        bad_version[0] = 0x40;
        assert_eq!(TunnelKind::Geneve.vni(&bad_version), None);
    }

    #[test]
    fn vni_filter_passes_listed_vnis_only() {
        let all = VniFilter::new(&[]);
        assert!(all.is_empty());
        assert_eq!(all.check(TunnelKind::Vxlan, b"junk"), VniVerdict::Pass);
        let f = VniFilter::new(&[9, 7, 7]);
        assert_eq!(f.vnis(), &[7, 9]);
        assert_eq!(f.check(TunnelKind::Vxlan, &vxlan(7, b"")), VniVerdict::Pass);
        assert_eq!(
            f.check(TunnelKind::Vxlan, &vxlan(8, b"")),
            VniVerdict::Filtered
        );
        assert_eq!(f.check(TunnelKind::Vxlan, b"junk"), VniVerdict::Malformed);
    }

    #[test]
    fn receives_a_datagram_with_a_timestamp() {
        let mut s = UdpTunnelSocket::bind(&opts(TunnelKind::Vxlan, "127.0.0.1:0")).unwrap();
        assert_eq!(s.name(), format!("vxlan:{}", s.local_addr()));
        assert_ne!(s.local_addr().port(), 0);
        assert!(s.recv_buffer_bytes() > 0);
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent = vxlan(7, &[0xab; 1400]);
        tx.send_to(&sent, s.local_addr()).unwrap();
        let before = wall_clock();
        let d = loop {
            if let Some(d) = s.recv().unwrap() {
                break d;
            }
        };
        assert_eq!(d.payload, &sent[..]);
        assert!(!d.truncated);
        // Stamped by the kernel, not in the future of our clock.
        assert!(d.ts.0 > 0 && d.ts <= wall_clock() && d.ts.secs() + 60 > before.secs());
        assert_eq!(s.kernel_dropped(), 0);
    }

    #[test]
    fn a_largest_datagram_arrives_whole() {
        let mut s = UdpTunnelSocket::bind(&opts(TunnelKind::Geneve, "127.0.0.1:0")).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent = vec![0x5a; 65_507];
        tx.send_to(&sent, s.local_addr()).unwrap();
        let d = loop {
            if let Some(d) = s.recv().unwrap() {
                break d;
            }
        };
        assert_eq!(d.payload.len(), sent.len());
        assert!(!d.truncated);
    }

    #[test]
    fn an_idle_receive_returns_none_after_the_timeout() {
        let mut s = UdpTunnelSocket::bind(&opts(TunnelKind::Vxlan, "127.0.0.1:0")).unwrap();
        assert!(s.recv().unwrap().is_none());
    }

    #[test]
    fn kernel_drops_are_counted_when_the_buffer_overflows() {
        // The smallest buffer the kernel grants, flooded before any read.
        let mut o = opts(TunnelKind::Vxlan, "127.0.0.1:0");
        o.recv_buffer_bytes = 1;
        let mut s = UdpTunnelSocket::bind(&o).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent = vxlan(1, &[0; 1000]);
        for _ in 0..200 {
            tx.send_to(&sent, s.local_addr()).unwrap();
        }
        let mut got = 0u64;
        while s.recv().unwrap().is_some() {
            got += 1;
        }
        // One more after the drops: the count comes with a datagram.
        tx.send_to(&sent, s.local_addr()).unwrap();
        while s.recv().unwrap().is_some() {
            got += 1;
        }
        assert!(got < 201, "{got}");
        assert_eq!(s.kernel_dropped(), 201 - got);
    }

    /// Review 31c: any host that reaches the listener's port could send
    /// forged "mirrored" datagrams, fake flows or segments of real ones
    /// (an insertion attack: the reassembler keeps the first copy of a byte,
    /// as Linux's tcp_data_queue does). AWS Traffic Mirroring sends from the
    /// source ENI's address, a GWLB from its own: the listener takes a list of
    /// the outer sources it accepts and marks the others, which the pipeline
    /// drops before any state. Without it nothing but the security group
    /// stood between a forged datagram and the rows. Severity: High.
    #[test]
    fn review31c_datagrams_from_outside_the_tunnel_sources_are_marked() {
        let mut o = opts(TunnelKind::Vxlan, "127.0.0.1:0");
        o.sources = vec!["192.0.2.0/24".parse().unwrap()];
        let mut s = UdpTunnelSocket::bind(&o).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(&vxlan(7, b"forged"), s.local_addr()).unwrap();
        let d = loop {
            if let Some(d) = s.recv().unwrap() {
                break d;
            }
        };
        assert_eq!(d.from, Some(tx.local_addr().unwrap()));
        assert!(!d.source_allowed);
        // A listed source (a whole address as a /32) passes.
        let mut o = opts(TunnelKind::Vxlan, "127.0.0.1:0");
        o.sources = vec!["127.0.0.1/32".parse().unwrap()];
        let mut s = UdpTunnelSocket::bind(&o).unwrap();
        tx.send_to(&vxlan(7, b"real"), s.local_addr()).unwrap();
        let d = loop {
            if let Some(d) = s.recv().unwrap() {
                break d;
            }
        };
        assert!(d.source_allowed);
        // An IPv4 sender seen by a dual-stack socket (::ffff:127.0.0.1).
        if let Ok(mut s6) = UdpTunnelSocket::bind(&UdpTunnelOptions {
            listen: "[::]:0".parse().unwrap(),
            ..o.clone()
        }) {
            let port = s6.local_addr().port();
            tx.send_to(&vxlan(7, b"v4"), ("127.0.0.1", port)).unwrap();
            let d = loop {
                if let Some(d) = s6.recv().unwrap() {
                    break d;
                }
            };
            assert!(d.source_allowed, "{:?}", d.from);
        }
    }

    #[test]
    fn bind_errors_name_the_address() {
        let first = UdpTunnelSocket::bind(&opts(TunnelKind::Vxlan, "127.0.0.1:0")).unwrap();
        let taken = first.local_addr();
        let e = UdpTunnelSocket::bind(&UdpTunnelOptions {
            kind: TunnelKind::Geneve,
            listen: taken,
            recv_buffer_bytes: 1 << 20,
            sources: Vec::new(),
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains(&format!("geneve:{taken}")), "{e}");
        assert!(e.contains("cannot bind"), "{e}");
        // An address this host does not have.
        let e = UdpTunnelSocket::bind(&opts(TunnelKind::Vxlan, "192.0.2.1:4789"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("vxlan:192.0.2.1:4789"), "{e}");
    }
}
