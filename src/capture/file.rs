//! Offline captures: pcap, pcapng, and gzip of either, from a file or stdin.
//!
//! The format is recognised from the first bytes, never from the name. Records
//! are parsed in place in our own buffer, so frames are handed out borrowed
//! from it: no per-frame allocation, and memory stays bounded by
//! [`MAX_RECORD_BYTES`] however big the file is (a 10 GB file streams).
//!
//! pcapng: every section and every interface is honoured (link type and
//! `if_tsresol`/`if_tsoffset` per interface); Enhanced, Simple and the
//! obsolete Packet blocks yield frames; every other block is skipped and
//! counted ([`FileReader::skipped_blocks`]). Like libpcap, only the options
//! that change how packets are read are looked at: a comment or name that
//! is not UTF-8 never makes a file unreadable (review 31a).
//!
//! pcap: both byte orders, micro- and nanosecond magics, Kuznetzov's
//! modified format (24-byte record headers), and the FCS bits of the
//! link-type field (libpcap's `LT_LINKTYPE`).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use super::{CaptureError, Frame, LinkType, Timestamp};

/// Size of the read buffer at start: records are parsed in place from it.
pub const INITIAL_BUFFER_BYTES: usize = 1 << 20;

/// Largest single record (pcap packet record or pcapng block) we accept. The
/// buffer grows up to this size for a larger record; a record claiming more
/// is reported as damage (real snap lengths are at most 256 KiB).
pub const MAX_RECORD_BYTES: usize = 16 << 20;

const PCAP_FILE_HEADER: usize = 24;
const PCAP_RECORD_HEADER: usize = 16;
/// Kuznetzov's records add ifindex, protocol, packet type and a pad byte.
const PCAP_MODIFIED_RECORD_HEADER: usize = 24;
/// The link type proper; the bits above say whether frames end in an FCS
/// (libpcap pcap-common.h `LT_LINKTYPE`).
const PCAP_LINKTYPE_MASK: u32 = 0x03FF_FFFF;
const SHB_MAGIC: u32 = 0x1A2B_3C4D;
const BLOCK_SHB: u32 = 0x0A0D_0D0A;
const BLOCK_IDB: u32 = 0x0000_0001;
const BLOCK_PB: u32 = 0x0000_0002;
const BLOCK_SPB: u32 = 0x0000_0003;
const BLOCK_EPB: u32 = 0x0000_0006;

/// A `Read` that counts the bytes it hands on, shared with the reader so
/// that progress is known even below a gzip decoder.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Timestamp units of one pcapng interface.
#[derive(Debug, Clone, Copy)]
enum TsUnit {
    /// Ticks are 10^-n seconds.
    Decimal(u8),
    /// Ticks are 2^-n seconds.
    Binary(u8),
}

impl TsUnit {
    fn from_tsresol(v: u8) -> Self {
        if v & 0x80 == 0 {
            TsUnit::Decimal(v)
        } else {
            TsUnit::Binary(v & 0x7f)
        }
    }

    fn to_nanos(self, ticks: u64) -> u64 {
        match self {
            TsUnit::Decimal(9) => ticks,
            TsUnit::Decimal(6) => ticks.saturating_mul(1_000),
            TsUnit::Decimal(n) if n < 9 => ticks.saturating_mul(10u64.pow(9 - u32::from(n))),
            TsUnit::Decimal(n) => {
                // 10^-n with n > 9: divide; 10^20 exceeds u64, so clamp.
                let div = 10u128.checked_pow(u32::from(n) - 9).unwrap_or(u128::MAX);
                u64::try_from(u128::from(ticks) / div).unwrap_or(u64::MAX)
            }
            TsUnit::Binary(n) => {
                let ns = u128::from(ticks) * 1_000_000_000;
                let ns = if n >= 127 { 0 } else { ns >> n };
                u64::try_from(ns).unwrap_or(u64::MAX)
            }
        }
    }
}

/// What we need per pcapng interface, precomputed from its description.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: LinkType,
    unit: TsUnit,
    /// `if_tsoffset` is signed seconds (pcapng draft, libpcap's int64).
    offset_ns: i64,
    snaplen: u32,
}

enum Format {
    /// Only while `open` reads the file header.
    Pending,
    Pcap {
        linktype: LinkType,
        nanos: bool,
        big_endian: bool,
        record_header: usize,
    },
    PcapNg {
        /// Byte order of the current section.
        big_endian: bool,
        interfaces: Vec<Interface>,
        last_ts: Timestamp,
    },
}

/// One parse step on the buffered bytes, as offsets so that the buffer is
/// borrowed only when the frame is handed out.
enum Step {
    Frame {
        consumed: usize,
        start: usize,
        len: usize,
        ts: Timestamp,
        linktype: LinkType,
        orig_len: u32,
    },
    Skip {
        consumed: usize,
    },
    Incomplete {
        /// Total record length if the header says so.
        needed: Option<usize>,
    },
    Damaged(String),
}

/// Streaming reader for pcap / pcapng / gzip files and standard input.
pub struct FileReader {
    path: PathBuf,
    input: Box<dyn Read + Send>,
    counter: Arc<AtomicU64>,
    file_len: Option<u64>,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    eof: bool,
    done: bool,
    format: Format,
    frames: u64,
    skipped_blocks: u64,
}

impl std::fmt::Debug for FileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .field("bytes_read", &self.bytes_read())
            .finish_non_exhaustive()
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let Some(rest) = buf.get_mut(got..) else {
            break;
        };
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn hex_prefix(bytes: &[u8]) -> String {
    let mut s = String::new();
    for b in bytes.iter().take(8) {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    let printable: String = bytes
        .iter()
        .take(8)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    format!("{s} ({printable:?})")
}

fn rd_u32(bytes: &[u8], at: usize, big: bool) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

fn rd_u16(bytes: &[u8], at: usize, big: bool) -> Option<u16> {
    let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    })
}

impl FileReader {
    /// Open a capture file; `-` means standard input. The format is detected
    /// from the content (gzip, then pcap in either byte order and resolution,
    /// or pcapng).
    pub fn open(path: &Path) -> Result<FileReader, CaptureError> {
        let is_stdin = path.as_os_str() == "-";
        let shown = if is_stdin {
            PathBuf::from("(standard input)")
        } else {
            path.to_path_buf()
        };
        let open_err = |source: io::Error| CaptureError::Open {
            path: shown.clone(),
            source,
        };
        let (raw, file_len): (Box<dyn Read + Send>, Option<u64>) = if is_stdin {
            (Box::new(io::stdin()), None)
        } else {
            let f = File::open(path).map_err(open_err)?;
            let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
            (Box::new(f), len)
        };
        Self::from_boxed(shown, raw, file_len)
    }

    /// Read a capture from any byte stream (a pipe, a socket, memory);
    /// `name` is used in messages. Format detection as for [`open`](Self::open).
    pub fn from_reader<R: Read + Send + 'static>(
        name: &Path,
        reader: R,
    ) -> Result<FileReader, CaptureError> {
        Self::from_boxed(name.to_path_buf(), Box::new(reader), None)
    }

    fn from_boxed(
        shown: PathBuf,
        raw: Box<dyn Read + Send>,
        file_len: Option<u64>,
    ) -> Result<FileReader, CaptureError> {
        let counter = Arc::new(AtomicU64::new(0));
        let mut raw = CountingReader {
            inner: raw,
            count: Arc::clone(&counter),
        };
        let mut magic = [0u8; 2];
        let got = read_full(&mut raw, &mut magic).map_err(|source| CaptureError::Open {
            path: shown.clone(),
            source,
        })?;
        let prefix = io::Cursor::new(magic.get(..got).unwrap_or_default().to_vec());
        let gzip = magic == [0x1f, 0x8b];
        let input: Box<dyn Read + Send> = if gzip {
            Box::new(MultiGzDecoder::new(prefix.chain(raw)))
        } else {
            Box::new(prefix.chain(raw))
        };
        Self::from_input(shown, input, counter, file_len, gzip)
    }

    fn from_input(
        path: PathBuf,
        input: Box<dyn Read + Send>,
        counter: Arc<AtomicU64>,
        file_len: Option<u64>,
        gzip: bool,
    ) -> Result<FileReader, CaptureError> {
        let mut r = FileReader {
            path,
            input,
            counter,
            file_len,
            buf: vec![0; INITIAL_BUFFER_BYTES],
            pos: 0,
            len: 0,
            eof: false,
            done: false,
            // Replaced below once the header is parsed.
            format: Format::Pending,
            frames: 0,
            skipped_blocks: 0,
        };
        let gz = if gzip { "gzip-compressed, but " } else { "" };
        // Read until we have the 4-byte magic or the end.
        while r.len < 4 && !r.eof {
            r.fill().map_err(|e| r.open_error(e))?;
        }
        let head = r.buf.get(..r.len).unwrap_or_default();
        if head.is_empty() {
            return Err(r.not_capture(format!("{gz}the content is empty")));
        }
        let magic = rd_u32(head, 0, true);
        match magic {
            Some(
                magic @ (0xA1B2_C3D4 | 0xD4C3_B2A1 | 0xA1B2_3C4D | 0x4D3C_B2A1 | 0xA1B2_CD34
                | 0x34CD_B2A1),
            ) => {
                while r.len < PCAP_FILE_HEADER && !r.eof {
                    r.fill().map_err(|e| r.open_error(e))?;
                }
                let head = r.buf.get(..r.len).unwrap_or_default();
                let big_endian = matches!(magic, 0xA1B2_C3D4 | 0xA1B2_3C4D | 0xA1B2_CD34);
                let Some(linktype) = rd_u32(head, 20, big_endian) else {
                    return Err(r.not_capture(format!(
                        "{gz}the pcap file header is cut short ({} of 24 bytes)",
                        head.len()
                    )));
                };
                let modified = matches!(magic, 0xA1B2_CD34 | 0x34CD_B2A1);
                r.pos = PCAP_FILE_HEADER;
                r.format = Format::Pcap {
                    linktype: LinkType(linktype & PCAP_LINKTYPE_MASK),
                    nanos: matches!(magic, 0xA1B2_3C4D | 0x4D3C_B2A1),
                    big_endian,
                    record_header: if modified {
                        PCAP_MODIFIED_RECORD_HEADER
                    } else {
                        PCAP_RECORD_HEADER
                    },
                };
                Ok(r)
            }
            Some(BLOCK_SHB) => loop {
                let avail = r.buf.get(r.pos..r.len).unwrap_or_default();
                match split_block(avail, true) {
                    Split::Block {
                        consumed,
                        big_endian,
                        ..
                    } => {
                        r.pos += consumed;
                        r.format = Format::PcapNg {
                            big_endian,
                            interfaces: Vec::new(),
                            last_ts: Timestamp(0),
                        };
                        return Ok(r);
                    }
                    Split::Incomplete { .. } if !r.eof && r.len < r.buf.len() => {
                        r.fill().map_err(|e| r.open_error(e))?;
                    }
                    Split::Incomplete { .. } => {
                        return Err(r.not_capture(format!(
                            "{gz}the pcapng section header block is cut short"
                        )))
                    }
                    Split::Bad(e) => {
                        return Err(r.not_capture(format!("{gz}bad pcapng section header: {e}")))
                    }
                }
            },
            _ => Err(r.not_capture(format!(
                "{gz}the content starts with {}; expected a pcap magic \
                 (a1b2c3d4, d4c3b2a1, a1b23c4d, 4d3cb2a1, a1b2cd34), pcapng (0a0d0d0a) or gzip (1f8b)",
                hex_prefix(head)
            ))),
        }
    }

    fn open_error(&self, source: io::Error) -> CaptureError {
        CaptureError::Open {
            path: self.path.clone(),
            source,
        }
    }

    fn not_capture(&self, reason: String) -> CaptureError {
        CaptureError::NotACapture {
            path: self.path.clone(),
            reason,
        }
    }

    /// Bytes consumed from the underlying file so far (compressed bytes for
    /// gzip), for progress reporting.
    pub fn bytes_read(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }

    /// Size of the underlying file; `None` for standard input or a pipe.
    pub fn file_len(&self) -> Option<u64> {
        self.file_len
    }

    /// Frames handed out so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// pcapng blocks skipped because they carry no packet (statistics, name
    /// resolution, custom and unknown blocks).
    pub fn skipped_blocks(&self) -> u64 {
        self.skipped_blocks
    }

    /// The path as shown in messages (`(standard input)` for `-`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Move unparsed bytes to the front of the buffer and read more.
    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
        let Some(space) = self.buf.get_mut(self.len..) else {
            return Ok(());
        };
        loop {
            match self.input.read(space) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn damaged(&mut self, reason: String) -> CaptureError {
        self.done = true;
        CaptureError::Damaged {
            path: self.path.clone(),
            frame: self.frames + 1,
            reason,
        }
    }

    /// The next frame, borrowed until the next call. `Ok(None)` at the clean
    /// end of the capture. A damaged capture yields the frames before the
    /// damage, then one [`CaptureError::Damaged`], then `Ok(None)` forever.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let avail = self.buf.get(self.pos..self.len).unwrap_or_default();
            let step = match &mut self.format {
                Format::Pcap {
                    linktype,
                    nanos,
                    big_endian,
                    record_header,
                } => pcap_step(avail, *linktype, *nanos, *big_endian, *record_header),
                Format::PcapNg {
                    big_endian,
                    interfaces,
                    last_ts,
                } => pcapng_step(big_endian, interfaces, last_ts, avail),
                Format::Pending => Step::Damaged("no file header was read".into()),
            };
            match step {
                Step::Frame {
                    consumed,
                    start,
                    len,
                    ts,
                    linktype,
                    orig_len,
                } => {
                    let start = self.pos + start;
                    self.pos += consumed;
                    self.frames += 1;
                    let data = self
                        .buf
                        .get(start..start.saturating_add(len))
                        .unwrap_or_default();
                    return Ok(Some(Frame {
                        ts,
                        linktype,
                        data,
                        orig_len,
                    }));
                }
                Step::Skip { consumed } => {
                    self.pos += consumed;
                    self.skipped_blocks += 1;
                }
                Step::Damaged(reason) => return Err(self.damaged(reason)),
                Step::Incomplete { needed } => {
                    let have = avail.len();
                    if self.eof {
                        if have == 0 {
                            self.done = true;
                            return Ok(None);
                        }
                        let reason = format!(
                            "the file ends in the middle of a record ({have} bytes left over{})",
                            needed.map(|n| format!(" of {n}")).unwrap_or_default()
                        );
                        return Err(self.damaged(reason));
                    }
                    if let Some(n) = needed {
                        if n > MAX_RECORD_BYTES {
                            let reason = format!(
                                "a record claims {n} bytes, more than the {MAX_RECORD_BYTES}-byte limit"
                            );
                            return Err(self.damaged(reason));
                        }
                        if n > self.buf.len() {
                            self.buf
                                .resize(n.next_power_of_two().min(MAX_RECORD_BYTES), 0);
                        }
                    } else if have == self.buf.len() {
                        if self.buf.len() >= MAX_RECORD_BYTES {
                            let reason = format!(
                                "a record is larger than the {MAX_RECORD_BYTES}-byte limit"
                            );
                            return Err(self.damaged(reason));
                        }
                        let grown = (self.buf.len() * 2).min(MAX_RECORD_BYTES);
                        self.buf.resize(grown, 0);
                    }
                    if let Err(e) = self.fill() {
                        let reason = format!("read error: {e}");
                        return Err(self.damaged(reason));
                    }
                }
            }
        }
    }
}

fn pcap_step(
    avail: &[u8],
    linktype: LinkType,
    nanos: bool,
    big: bool,
    record_header: usize,
) -> Step {
    let fields = (
        rd_u32(avail, 0, big),
        rd_u32(avail, 4, big),
        rd_u32(avail, 8, big),
        rd_u32(avail, 12, big),
    );
    let (Some(ts_sec), Some(ts_frac), Some(incl_len), Some(orig_len)) = fields else {
        return Step::Incomplete { needed: None };
    };
    let total = (incl_len as usize).saturating_add(record_header);
    if avail.len() < total {
        return Step::Incomplete {
            needed: Some(total),
        };
    }
    let frac = u64::from(ts_frac);
    let frac_ns = if nanos {
        frac
    } else {
        frac.saturating_mul(1_000)
    };
    let ts = Timestamp(
        u64::from(ts_sec)
            .saturating_mul(1_000_000_000)
            .saturating_add(frac_ns),
    );
    Step::Frame {
        consumed: total,
        start: record_header,
        len: incl_len as usize,
        ts,
        linktype,
        orig_len,
    }
}

/// One pcapng block cut from the buffer, not yet interpreted.
enum Split<'a> {
    Block {
        consumed: usize,
        type_: u32,
        /// The block's byte order: a section header brings its own.
        big_endian: bool,
        body: &'a [u8],
    },
    Incomplete {
        needed: Option<usize>,
    },
    Bad(String),
}

/// Cut the next block: type, total length, body, trailing length.
fn split_block(avail: &[u8], big: bool) -> Split<'_> {
    let Some(type_) = rd_u32(avail, 0, big) else {
        return Split::Incomplete { needed: None };
    };
    // A section header's length is in its own byte order, given by the
    // magic after it (the block type reads the same both ways).
    let big = if type_ == BLOCK_SHB {
        match rd_u32(avail, 8, true) {
            None => return Split::Incomplete { needed: None },
            Some(SHB_MAGIC) => true,
            Some(m) if m == SHB_MAGIC.swap_bytes() => false,
            Some(m) => return Split::Bad(format!("section header with byte-order magic {m:08x}")),
        }
    } else {
        big
    };
    let Some(len) = rd_u32(avail, 4, big) else {
        return Split::Incomplete { needed: None };
    };
    let len = len as usize;
    if len < 12 || len % 4 != 0 || (type_ == BLOCK_SHB && len < 28) {
        return Split::Bad(format!("block of type {type_:#x} with length {len}"));
    }
    let Some(block) = avail.get(..len) else {
        return Split::Incomplete { needed: Some(len) };
    };
    if rd_u32(block, len - 4, big) != Some(len as u32) {
        return Split::Bad("block's trailing length differs from its leading length".into());
    }
    Split::Block {
        consumed: len,
        type_,
        big_endian: big,
        body: block.get(8..len - 4).unwrap_or_default(),
    }
}

/// An Interface Description Block's body. As libpcap does
/// (`process_idb_options`), only `if_tsresol` and `if_tsoffset` are read;
/// any other option, well-formed or not, is passed over.
fn interface_of(body: &[u8], big: bool) -> Option<Interface> {
    let linktype = rd_u16(body, 0, big)?;
    let snaplen = rd_u32(body, 4, big)?;
    let mut unit = TsUnit::Decimal(6);
    let mut offset_ns = 0i64;
    let mut at = 8usize;
    while let (Some(code), Some(len)) = (rd_u16(body, at, big), rd_u16(body, at + 2, big)) {
        let len = usize::from(len);
        let Some(value) = body.get(at + 4..at + 4 + len) else {
            break;
        };
        match (code, value) {
            (0, _) => break,
            (9, &[v]) => unit = TsUnit::from_tsresol(v),
            (14, v) => {
                if let Ok(b) = <[u8; 8]>::try_from(v) {
                    let secs = if big {
                        i64::from_be_bytes(b)
                    } else {
                        i64::from_le_bytes(b)
                    };
                    offset_ns = secs.saturating_mul(1_000_000_000);
                }
            }
            _ => {}
        }
        at += 4 + ((len + 3) & !3);
    }
    Some(Interface {
        linktype: LinkType(u32::from(linktype)),
        unit,
        offset_ns,
        snaplen,
    })
}

fn pcapng_step(
    section_big: &mut bool,
    interfaces: &mut Vec<Interface>,
    last_ts: &mut Timestamp,
    avail: &[u8],
) -> Step {
    let (consumed, type_, big, body) = match split_block(avail, *section_big) {
        Split::Block {
            consumed,
            type_,
            big_endian,
            body,
        } => (consumed, type_, big_endian, body),
        Split::Incomplete { needed } => return Step::Incomplete { needed },
        Split::Bad(reason) => return Step::Damaged(format!("bad pcapng block: {reason}")),
    };
    match type_ {
        BLOCK_SHB => {
            *section_big = big;
            interfaces.clear();
            Step::Skip { consumed }
        }
        BLOCK_IDB => {
            let Some(iface) = interface_of(body, big) else {
                return Step::Damaged("interface description block shorter than its header".into());
            };
            interfaces.push(iface);
            Step::Skip { consumed }
        }
        BLOCK_EPB | BLOCK_PB => {
            // EPB: if_id u32; PB: if_id u16 + drops u16. Then
            // ts high, ts low, captured len, original len, data.
            let if_id = if type_ == BLOCK_EPB {
                rd_u32(body, 0, big)
            } else {
                rd_u16(body, 0, big).map(u32::from)
            };
            let fields = (
                if_id,
                rd_u32(body, 4, big),
                rd_u32(body, 8, big),
                rd_u32(body, 12, big),
                rd_u32(body, 16, big),
            );
            let (Some(if_id), Some(hi), Some(lo), Some(caplen), Some(orig_len)) = fields else {
                return Step::Damaged("packet block shorter than its header".into());
            };
            let Some(iface) = interfaces.get(if_id as usize) else {
                return Step::Damaged(format!(
                    "packet block names interface {if_id}, but the section describes {}",
                    interfaces.len()
                ));
            };
            let caplen = caplen as usize;
            if caplen > body.len().saturating_sub(20) {
                return Step::Damaged(format!(
                    "packet block claims {caplen} captured bytes in a {}-byte block",
                    body.len()
                ));
            }
            let ticks = (u64::from(hi) << 32) | u64::from(lo);
            let ts = Timestamp(
                iface
                    .unit
                    .to_nanos(ticks)
                    .saturating_add_signed(iface.offset_ns),
            );
            *last_ts = ts;
            Step::Frame {
                consumed,
                start: 8 + 20,
                len: caplen,
                ts,
                linktype: iface.linktype,
                orig_len,
            }
        }
        BLOCK_SPB => {
            // Simple packet block: original length, then data
            // captured up to the first interface's snap length.
            let Some(orig_len) = rd_u32(body, 0, big) else {
                return Step::Damaged("simple packet block shorter than its header".into());
            };
            let Some(iface) = interfaces.first() else {
                return Step::Damaged(
                    "simple packet block before any interface description".into(),
                );
            };
            let mut caplen = (orig_len as usize).min(body.len().saturating_sub(4));
            if iface.snaplen != 0 {
                caplen = caplen.min(iface.snaplen as usize);
            }
            Step::Frame {
                consumed,
                start: 8 + 4,
                len: caplen,
                ts: *last_ts,
                linktype: iface.linktype,
                orig_len,
            }
        }
        _ => Step::Skip { consumed },
    }
}

#[cfg(test)]
pub(super) mod tests_support {
    /// Nanoseconds for `ticks` at pcapng `if_tsresol` value `tsresol`.
    pub fn to_nanos(tsresol: u8, ticks: u64) -> u64 {
        super::TsUnit::from_tsresol(tsresol).to_nanos(ticks)
    }
}
