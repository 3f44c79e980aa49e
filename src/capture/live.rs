//! Live capture with libpcap: one interface, BPF filter, kernel statistics.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

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
        cap.filter(&opts.filter, true)
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
                interface: self.interface.clone(),
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
                interface: self.interface.clone(),
                message: e.to_string(),
            }),
        }
    }

    /// The interface name this capture was opened on.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    pub fn stats(&mut self) -> LiveStats {
        match self.cap.stats() {
            Ok(s) => LiveStats {
                received: u64::from(s.received),
                dropped_by_kernel: u64::from(s.dropped),
                dropped_by_interface: u64::from(s.if_dropped),
            },
            Err(_) => LiveStats::default(),
        }
    }
}
