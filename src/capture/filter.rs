//! BPF filtering of frames read from files.
//!
//! libpcap compiles the expression; the expression is validated up front
//! against Ethernet, then compiled lazily once per link type met (a pcapng
//! can mix link types). Programs live as long as the filter.

use pcap::{BpfProgram, Capture, Linktype};

use super::{CaptureError, Frame, LinkType};

/// Most distinct link types one filter keeps a program for. A capture with
/// more is reported as an error rather than growing without bound.
pub const MAX_FILTER_LINKTYPES: usize = 16;

/// A BPF expression applied to [`Frame`]s.
pub struct FrameFilter {
    expr: String,
    /// One compiled program (or the compile error) per link type seen.
    programs: Vec<(LinkType, Result<BpfProgram, String>)>,
}

impl std::fmt::Debug for FrameFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameFilter")
            .field("expr", &self.expr)
            .field("linktypes", &self.programs.len())
            .finish()
    }
}

/// libpcap's DLT_RAW on this platform.
#[cfg(target_os = "openbsd")]
const DLT_RAW: i32 = 14;
#[cfg(not(target_os = "openbsd"))]
const DLT_RAW: i32 = 12;

/// `pcap_open_dead` takes a DLT_ value, files carry LINKTYPE_ values; they
/// agree except for a few low numbers (libpcap's `pcap-common.c`), of which
/// raw IP is the one we meet.
fn dlt_of(linktype: LinkType) -> Result<i32, String> {
    match linktype {
        LinkType::RAW | LinkType::RAW_12 | LinkType::RAW_14 => Ok(DLT_RAW),
        LinkType(v) => i32::try_from(v).map_err(|_| format!("link type {v} out of range")),
    }
}

fn compile(expr: &str, linktype: LinkType) -> Result<BpfProgram, String> {
    let cap = Capture::dead(Linktype(dlt_of(linktype)?)).map_err(|e| e.to_string())?;
    cap.compile(&with_unfilterable(expr), true)
        .map_err(|e| e.to_string())
}

/// `expr` as compiled, for files and live captures alike: it also passes the
/// IP packets whose transport header a BPF program cannot find, which the
/// server's kernel still reassembles into a request. libpcap's port and
/// protocol tests drop every IPv4 fragment but the first (`gen_portop`
/// checks the fragment offset) and every IPv6 packet whose first next
/// header is an extension header (`gen_proto` reads `ip6[6]` only), so
/// `tcp port 80` alone would hide a request sent in fragments, or with one
/// empty Destination Options header, from the decoder that handles them
/// (review round 35). Such packets are rare, so those of other ports that
/// now pass too (analysed: the decoder cannot apply `expr` to a reassembled
/// datagram) cost little; the defragmenter's caps bound the fragments. The
/// additions come first: a `vlan` in `expr` shifts the offsets of whatever
/// follows it. Empty stays empty (everything passes already).
pub fn with_unfilterable(expr: &str) -> String {
    if expr.trim().is_empty() {
        return String::new();
    }
    // IPv4 past offset 0; IPv6 starting with hop-by-hop, routing, fragment,
    // AH or destination options.
    format!(
        "(ip[6:2] & 0x1fff != 0) or (ip6 and (ip6[6] == 0 or ip6[6] == 43 \
         or ip6[6] == 44 or ip6[6] == 51 or ip6[6] == 60)) or ({expr})"
    )
}

impl FrameFilter {
    /// Validate `expr` by compiling it for Ethernet.
    pub fn new(expr: &str) -> Result<FrameFilter, CaptureError> {
        let eth = compile(expr, LinkType::ETHERNET).map_err(|message| CaptureError::Filter {
            expr: expr.to_owned(),
            message,
        })?;
        Ok(FrameFilter {
            expr: expr.to_owned(),
            programs: vec![(LinkType::ETHERNET, Ok(eth))],
        })
    }

    /// The expression this filter was built from.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Whether `frame` passes the filter. Errors if the expression cannot be
    /// compiled for the frame's link type (e.g. `ether host` on raw IP).
    pub fn matches(&mut self, frame: &Frame<'_>) -> Result<bool, CaptureError> {
        let idx = match self
            .programs
            .iter()
            .position(|(lt, _)| *lt == frame.linktype)
        {
            Some(i) => i,
            None => {
                if self.programs.len() >= MAX_FILTER_LINKTYPES {
                    return Err(self.error(format!(
                        "more than {MAX_FILTER_LINKTYPES} link types in one capture"
                    )));
                }
                let prog = compile(&self.expr, frame.linktype);
                self.programs.push((frame.linktype, prog));
                self.programs.len() - 1
            }
        };
        match self.programs.get(idx) {
            Some((_, Ok(prog))) => Ok(prog.filter(frame.data)),
            Some((lt, Err(msg))) => {
                Err(self.error(format!("cannot compile for link type {}: {msg}", lt.0)))
            }
            None => Err(self.error("internal: program table out of step".into())),
        }
    }

    fn error(&self, message: String) -> CaptureError {
        CaptureError::Filter {
            expr: self.expr.clone(),
            message,
        }
    }
}
