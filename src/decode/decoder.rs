//! The stateful front of decoding, one per capture thread: the configured
//! decapsulations (and their ports) plus IP defragmentation state. Hands
//! on the same [`TcpSegment`] views as [`decode_frame_ext`]; a segment
//! rebuilt from fragments borrows from the decoder until its next call.
//!
//! [`decode_frame_ext`]: super::decode_frame_ext

use super::defrag::{Defrag, DefragOptions, DefragStats};
use super::wire::{self, Ctx};
use super::{DecodeInfo, SkipReason, TcpSegment};
use crate::capture::{LinkType, Timestamp};

/// Which decapsulations are opened. A disabled one is counted as
/// [`SkipReason::DecapDisabled`] (its traffic is not analysed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decaps {
    /// GRE (RFC 2784/2890) carrying IP or Ethernet.
    pub gre: bool,
    /// ERSPAN types I, II and III inside GRE.
    pub erspan: bool,
    /// VXLAN on [`DecodeOptions::vxlan_ports`].
    pub vxlan: bool,
    /// Geneve on [`DecodeOptions::geneve_ports`].
    pub geneve: bool,
    /// IPv4 or IPv6 directly in IP (protocols 4 and 41, incl. 6in4).
    pub ipip: bool,
    /// Teredo (UDP 3544, and any UDP datagram that is exactly one IPv6
    /// packet).
    pub teredo: bool,
    /// MPLS label stacks.
    pub mpls: bool,
}

impl Default for Decaps {
    fn default() -> Self {
        Decaps {
            gre: true,
            erspan: true,
            vxlan: true,
            geneve: true,
            ipip: true,
            teredo: true,
            mpls: true,
        }
    }
}

/// What the decoder opens and how much state it may keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// UDP destination ports decoded as VXLAN. Default 4789 (IANA; AWS VPC
    /// Traffic Mirroring, Azure virtual network TAP, VMware NSX) and 8472
    /// (the Linux kernel's historical default, still used by flannel and
    /// Cilium overlays).
    pub vxlan_ports: Vec<u16>,
    /// UDP destination ports decoded as Geneve. Default 6081 (IANA; AWS
    /// Gateway Load Balancer).
    pub geneve_ports: Vec<u16>,
    pub decaps: Decaps,
    /// Fold tunnel ids (VNI, GRE key, ERSPAN session, every level) into
    /// [`TcpSegment::tunnel`] and so into the flow key. Default true.
    pub tunnel_in_flow_key: bool,
    /// Fold 802.1Q/802.1ad VLAN ids into the flow key too. Default false:
    /// on SPAN and TAP ports the two directions of a connection often carry
    /// different tags (routed between VLANs, or tagged per direction by a
    /// TAP aggregator), and keying on them would split every such flow into
    /// two one-sided halves. Turn on when VLANs reuse the same addresses
    /// (Suricata's `vlan.use-for-tracking`).
    pub vlan_in_flow_key: bool,
    pub defrag: DefragOptions,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            vxlan_ports: vec![4789, 8472],
            geneve_ports: vec![6081],
            decaps: Decaps::default(),
            tunnel_in_flow_key: true,
            vlan_in_flow_key: false,
            defrag: DefragOptions::default(),
        }
    }
}

/// Decoder of one capture thread: see the module doc.
#[derive(Debug, Default)]
pub struct Decoder {
    opts: DecodeOptions,
    defrag: Defrag,
}

impl Decoder {
    pub fn new(opts: DecodeOptions) -> Decoder {
        let defrag = Defrag::new(opts.defrag.clone());
        Decoder { opts, defrag }
    }

    pub fn options(&self) -> &DecodeOptions {
        &self.opts
    }

    /// Defragmentation counters so far.
    pub fn stats(&self) -> &DefragStats {
        self.defrag.stats()
    }

    /// Datagrams being reassembled and the bytes they hold.
    pub fn defrag_in_progress(&self) -> (usize, usize) {
        (self.defrag.datagrams(), self.defrag.bytes_held())
    }

    /// Decode one frame captured at `ts` down to the innermost TCP segment.
    /// A fragment that completes a datagram yields the segment inside it
    /// (borrowing the decoder's buffer); other fragments are
    /// [`SkipReason::IpFragment`].
    pub fn decode<'a>(
        &'a mut self,
        ts: Timestamp,
        linktype: LinkType,
        data: &'a [u8],
    ) -> Result<(TcpSegment<'a>, DecodeInfo), SkipReason> {
        let Decoder { opts, defrag } = self;
        let opts: &'a DecodeOptions = opts;
        let mut cx = Ctx::new(opts);
        match wire::link(linktype, data, &mut cx) {
            Ok(seg) => return Ok((seg, cx.info)),
            Err(SkipReason::IpFragment) => {}
            Err(e) => return Err(e),
        }
        let Some(frag) = cx.frag.take() else {
            return Err(SkipReason::IpFragment);
        };
        if !opts.defrag.enabled {
            return Err(SkipReason::IpFragment);
        }
        let Some(done) = defrag.insert(ts, &frag) else {
            return Err(SkipReason::IpFragment);
        };
        let defrag: &'a Defrag = defrag;
        // A fragment inside the reassembled datagram (fragmented at two
        // levels) ends here as `IpFragment`: the buffer it would borrow
        // from is the one being read.
        let seg = wire::resume(
            done.v6,
            done.proto,
            frag.src,
            frag.dst,
            defrag.output(),
            &mut cx,
        )?;
        Ok((seg, cx.info))
    }

    /// Forget datagrams whose first fragment is older than the timeout
    /// (the capture clock is `now`); each counts `timed_out`.
    pub fn expire(&mut self, now: Timestamp) {
        self.defrag.expire(now);
    }

    /// The capture is over: datagrams still waiting for fragments will never
    /// complete; they are dropped and counted as timed out.
    pub fn finish(&mut self) {
        self.defrag.expire(Timestamp(u64::MAX));
    }
}
