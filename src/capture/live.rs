//! Live capture with libpcap: one interface, BPF filter, kernel statistics,
//! and kernel fan-out (`PACKET_FANOUT`) to split one interface's flows across
//! several capture sockets and threads.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};

use crate::capture::{CaptureError, Frame, LinkType, Timestamp};

/// Options of a live capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOptions {
    /// Interface name (`eth1`, `lo`, `any`).
    pub interface: String,
    /// BPF filter, compiled by libpcap for the interface's link type.
    pub filter: String,
    /// Bytes captured per packet.
    pub snaplen: i32,
    pub promiscuous: bool,
    /// Kernel ring buffer size in bytes.
    pub buffer_bytes: i32,
    /// Deliver packets at once instead of batching in the kernel (see
    /// `[capture] immediate` for why it is off by default).
    pub immediate: bool,
    /// Join a kernel fan-out group: this socket gets a share of the
    /// interface's flows, the group's other members the rest.
    pub fanout: Option<Fanout>,
}

/// A place in a kernel fan-out group (Linux `PACKET_FANOUT`, hash mode): the
/// kernel hashes each packet's flow, both directions alike, and hands it to
/// one member socket. IP fragments carry no ports, so the kernel hashes them
/// (first fragments too) on addresses alone: a datagram's fragments reach one
/// member, whose decoder reassembles them under Specula's own overlap policy
/// and caps (the kernel's `PACKET_FANOUT_FLAG_DEFRAG` would replace both and
/// count nothing, so it is not used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fanout {
    /// The group to join; `None` asks the kernel for a new group with an id
    /// no other socket uses (read back with [`LiveCapture::fanout_group`]),
    /// so that two sensors on one host never share a group by accident.
    pub group: Option<u16>,
    /// This member's index, `0..members` (names the source: `eth1#1`).
    pub member: u16,
    pub members: u16,
}

// No safe PACKET_FANOUT call exists in nix or pcap, so nix's option macro
// defines one. Its expansion holds nix's own `unsafe` setsockopt/getsockopt
// calls, which `forbid(unsafe_code)` does not see (the lint skips other
// crates' macros); they are sound for a plain 4-byte integer option.
sockopt_impl!(
    /// `SOL_PACKET` / `PACKET_FANOUT`: join or create a fan-out group. Read
    /// back: id in bits 0-15, mode in 16-23, flags in 24-31.
    PacketFanout,
    Both,
    libc::SOL_PACKET,
    libc::PACKET_FANOUT,
    u32
);

/// Fan-out mode: by flow hash.
const FANOUT_MODE: u32 = libc::PACKET_FANOUT_HASH;

/// The `PACKET_FANOUT` argument: group id in the low 16 bits, mode and flags
/// in the high 16 (a new, kernel-chosen id when `group` is None).
fn fanout_arg(group: Option<u16>) -> u32 {
    let flags = match group {
        None => libc::PACKET_FANOUT_FLAG_UNIQUEID,
        Some(_) => 0,
    };
    u32::from(group.unwrap_or(0)) | ((FANOUT_MODE | flags) << 16)
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            interface: "any".into(),
            filter: "tcp port 8445".into(),
            snaplen: 65535,
            promiscuous: true,
            buffer_bytes: 64 << 20,
            immediate: false,
            fanout: None,
        }
    }
}

/// Kernel and interface counters of a live capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub received: u64,
    pub dropped_by_kernel: u64,
    pub dropped_by_interface: u64,
}

/// An open live capture.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    linktype: LinkType,
    interface: String,
    /// The interface, or `interface#member` for a fan-out member.
    source: String,
    /// This socket's place in a fan-out group, `group` as the kernel set it.
    fanout: Option<Fanout>,
}

/// How long one `next_frame` waits before returning `Ok(None)`, so that the
/// caller can look at its stop flag and advance time.
const READ_TIMEOUT_MS: i32 = 100;

impl LiveCapture {
    pub fn open(opts: &LiveOptions) -> Result<LiveCapture, CaptureError> {
        let err = |e: pcap::Error| CaptureError::Live {
            interface: opts.interface.clone(),
            message: e.to_string(),
        };
        let mut cap = pcap::Capture::from_device(opts.interface.as_str())
            .map_err(err)?
            .promisc(opts.promiscuous)
            .snaplen(opts.snaplen)
            .buffer_size(opts.buffer_bytes)
            .immediate_mode(opts.immediate)
            .timeout(READ_TIMEOUT_MS)
            .open()
            .map_err(err)?;
        let source = match &opts.fanout {
            Some(f) => format!("{}#{}", opts.interface, f.member),
            None => opts.interface.clone(),
        };
        let mut fanout = opts.fanout;
        if let Some(f) = &mut fanout {
            let fail = |message: String| CaptureError::Live {
                interface: source.clone(),
                message: format!("packet fan-out ({} sockets): {message}", f.members),
            };
            nix::sys::socket::setsockopt(&cap.as_fd(), PacketFanout, &fanout_arg(f.group))
                .map_err(|e| {
                    fail(match e {
                        Errno::EINVAL => format!(
                            "cannot join group {}: {e} (in use with other settings, or not supported)",
                            f.group.map_or("new".to_string(), |g| g.to_string())
                        ),
                        e => format!("cannot join the group: {e}"),
                    })
                })?;
            let got = nix::sys::socket::getsockopt(&cap.as_fd(), PacketFanout)
                .map_err(|e| fail(format!("cannot read the group back: {e}")))?;
            // The kernel echoes the id and mode (the UNIQUEID flag is not kept).
            let (id, mode) = (got & 0xffff, (got >> 16) & 0xff);
            if mode != FANOUT_MODE || f.group.is_some_and(|g| u32::from(g) != id) {
                return Err(fail(format!(
                    "the kernel reports group {id} in mode {mode}"
                )));
            }
            f.group = u16::try_from(id).ok();
        }
        cap.filter(&super::filter::with_unfilterable(&opts.filter), true)
            .map_err(|e| CaptureError::Filter {
                expr: opts.filter.clone(),
                message: e.to_string(),
            })?;
        // Non-blocking: a blocking read is restarted after a signal and, with
        // no traffic, would never return to look at the stop flag.
        let cap = cap.setnonblock().map_err(err)?;
        // libpcap reports DLT_ values; those we decode equal their LINKTYPE_ (DLT_RAW is 12 or 14).
        let linktype = LinkType(u32::try_from(cap.get_datalink().0).unwrap_or(u32::MAX));
        Ok(LiveCapture {
            cap,
            linktype,
            interface: opts.interface.clone(),
            source,
            fanout,
        })
    }

    /// Block until a frame is waiting or `timeout` has passed, without using
    /// CPU: `poll` on the capture's socket, which the kernel wakes as soon as
    /// a frame lands in the ring (immediate mode) or a block is retired.
    /// `Ok(true)` when something is ready; `Ok(false)` on timeout or when a
    /// signal interrupted the wait (the caller looks at its stop flag).
    pub fn wait_readable(&self, timeout: Duration) -> Result<bool, CaptureError> {
        let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.cap.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::from(millis)) {
            Ok(n) => Ok(n > 0),
            Err(Errno::EINTR) => Ok(false),
            Err(e) => Err(CaptureError::Live {
                interface: self.source.clone(),
                message: format!("poll: {e}"),
            }),
        }
    }

    /// The next frame, or `Ok(None)` when none is waiting (the caller then
    /// blocks in [`LiveCapture::wait_readable`]).
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.cap.next_packet() {
            Ok(p) => {
                let secs = u64::try_from(p.header.ts.tv_sec).unwrap_or(0);
                let micros = u32::try_from(p.header.ts.tv_usec).unwrap_or(0).min(999_999);
                Ok(Some(Frame {
                    ts: Timestamp::from_secs_nanos(secs, micros * 1000),
                    linktype: self.linktype,
                    data: p.data,
                    orig_len: p.header.len,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => Ok(None),
            Err(e) => Err(CaptureError::Live {
                interface: self.source.clone(),
                message: e.to_string(),
            }),
        }
    }

    /// The interface name this capture was opened on.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The kernel fan-out group this socket belongs to, if any (the other
    /// members of an interface join this id).
    pub fn fanout_group(&self) -> Option<u16> {
        self.fanout.and_then(|f| f.group)
    }

    /// What this capture is called in metrics and logs: the interface, or
    /// `interface#member` for a member of a fan-out group.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Kernel counters of this socket. The interface's own drops are the
    /// interface's, whichever socket asks: in a fan-out group only the first
    /// member reports them, so that a sum over members counts them once.
    pub fn stats(&mut self) -> LiveStats {
        let reports_interface = self.fanout.map_or(true, |f| f.member == 0);
        match self.cap.stats() {
            Ok(s) => LiveStats {
                received: u64::from(s.received),
                dropped_by_kernel: u64::from(s.dropped),
                dropped_by_interface: if reports_interface {
                    u64::from(s.if_dropped)
                } else {
                    0
                },
            },
            Err(_) => LiveStats::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fanout_argument_layout() {
        // Id in bits 0-15; mode (hash = 0) and flags in 16-31; a new group
        // asks for a kernel-chosen id (UNIQUEID, 0x2000) with id 0.
        assert_eq!(fanout_arg(None), 0x2000_0000);
        assert_eq!(fanout_arg(Some(7)), 0x0000_0007);
        assert_eq!(fanout_arg(Some(0xffff)), 0x0000_ffff);
    }
}
