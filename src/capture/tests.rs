//! Captures written with pcap-file's writers, damaged on purpose, and the
//! shared corpus.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::SectionHeaderBlock;
use pcap_file::pcapng::{Block, PcapNgWriter, RawBlock};
use pcap_file::{DataLink, Endianness, TsResolution};

use super::*;

/// An owned copy of a frame, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owned {
    ts: Timestamp,
    linktype: LinkType,
    data: Vec<u8>,
    orig_len: u32,
}

fn read_all(r: &mut FileReader) -> (Vec<Owned>, Option<CaptureError>) {
    let mut out = Vec::new();
    loop {
        match r.next_frame() {
            Ok(Some(f)) => out.push(Owned {
                ts: f.ts,
                linktype: f.linktype,
                data: f.data.to_vec(),
                orig_len: f.orig_len,
            }),
            Ok(None) => return (out, None),
            Err(e) => {
                // After an error: the end, for ever.
                assert!(matches!(r.next_frame(), Ok(None)));
                assert!(matches!(r.next_frame(), Ok(None)));
                return (out, Some(e));
            }
        }
    }
}

fn temp_with(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    f
}

fn open_bytes(bytes: &[u8]) -> (tempfile::NamedTempFile, FileReader) {
    let f = temp_with(bytes);
    let r = FileReader::open(f.path()).unwrap();
    (f, r)
}

fn packets() -> Vec<(Duration, Vec<u8>)> {
    vec![
        (Duration::new(1_700_000_000, 123_456_000), vec![1; 60]),
        (Duration::new(1_700_000_001, 999_999_000), vec![2; 1514]),
        (Duration::new(1_700_000_002, 0), vec![3; 1]),
    ]
}

fn pcap_bytes(endianness: Endianness, res: TsResolution, datalink: DataLink) -> Vec<u8> {
    let header = PcapHeader {
        endianness,
        ts_resolution: res,
        datalink,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (ts, data) in packets() {
        let orig = data.len() as u32 + 4;
        w.write_packet(&PcapPacket::new(ts, orig, &data)).unwrap();
    }
    w.into_writer()
}

#[test]
fn pcap_both_byte_orders_and_resolutions() {
    for endianness in [Endianness::Big, Endianness::Little] {
        for res in [TsResolution::MicroSecond, TsResolution::NanoSecond] {
            let bytes = pcap_bytes(endianness, res, DataLink::ETHERNET);
            let (_f, mut r) = open_bytes(&bytes);
            assert_eq!(r.file_len(), Some(bytes.len() as u64));
            let (frames, err) = read_all(&mut r);
            assert!(err.is_none(), "{err:?}");
            assert_eq!(frames.len(), 3);
            assert_eq!(r.frames(), 3);
            assert_eq!(r.bytes_read(), bytes.len() as u64);
            for (got, (ts, data)) in frames.iter().zip(packets()) {
                assert_eq!(
                    got.ts,
                    Timestamp::from_secs_nanos(ts.as_secs(), ts.subsec_nanos())
                );
                assert_eq!(got.linktype, LinkType::ETHERNET);
                assert_eq!(got.data, data);
                assert_eq!(got.orig_len, data.len() as u32 + 4);
            }
        }
    }
}

#[test]
fn pcap_nanosecond_precision_is_kept() {
    let header = PcapHeader {
        ts_resolution: TsResolution::NanoSecond,
        datalink: DataLink::RAW,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
    w.write_packet(&PcapPacket::new(
        Duration::new(5, 123_456_789),
        3,
        &[0x45, 0, 0],
    ))
    .unwrap();
    let (_f, mut r) = open_bytes(&w.into_writer());
    let (frames, _) = read_all(&mut r);
    assert_eq!(frames[0].ts, Timestamp(5_123_456_789));
    assert_eq!(frames[0].linktype, LinkType::RAW);
}

#[test]
fn gzip_of_pcap_and_concatenated_members() {
    let bytes = pcap_bytes(
        Endianness::Little,
        TsResolution::MicroSecond,
        DataLink::ETHERNET,
    );
    let (first, second) = bytes.split_at(bytes.len() / 2);
    let mut gz = Vec::new();
    for part in [first, second] {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part).unwrap();
        gz.extend_from_slice(&e.finish().unwrap());
    }
    let (_f, mut r) = open_bytes(&gz);
    let (frames, err) = read_all(&mut r);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[1].data, vec![2; 1514]);
    // Progress counts compressed bytes from the file.
    assert_eq!(r.bytes_read(), gz.len() as u64);
    assert_eq!(r.file_len(), Some(gz.len() as u64));
}

#[test]
fn truncated_in_the_middle_of_a_packet() {
    let bytes = pcap_bytes(
        Endianness::Big,
        TsResolution::MicroSecond,
        DataLink::ETHERNET,
    );
    // Header 24 + (16 + 60) + (16 + 1514): cut 100 bytes into the second packet.
    let cut = 24 + 16 + 60 + 16 + 100;
    let f = temp_with(&bytes[..cut]);
    let mut r = FileReader::open(f.path()).unwrap();
    let (frames, err) = read_all(&mut r);
    assert_eq!(frames.len(), 1);
    match err {
        Some(CaptureError::Damaged {
            path,
            frame,
            reason,
        }) => {
            assert_eq!(path, f.path());
            assert_eq!(frame, 2);
            assert!(reason.contains("ends in the middle"), "{reason}");
        }
        other => panic!("expected Damaged, got {other:?}"),
    }
    // Cut inside a record header, too.
    let (_g, mut r) = open_bytes(&bytes[..24 + 16 + 60 + 7]);
    let (frames, err) = read_all(&mut r);
    assert_eq!(frames.len(), 1);
    assert!(matches!(err, Some(CaptureError::Damaged { frame: 2, .. })));
    // A truncated gzip stream is damage as well.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&bytes).unwrap();
    let gz = e.finish().unwrap();
    let (_h, mut r) = open_bytes(&gz[..gz.len() - 12]);
    let (_, err) = read_all(&mut r);
    assert!(matches!(err, Some(CaptureError::Damaged { .. })), "{err:?}");
}

#[test]
fn absurd_record_length_is_damage_not_allocation() {
    let mut bytes = pcap_bytes(
        Endianness::Little,
        TsResolution::MicroSecond,
        DataLink::ETHERNET,
    );
    // incl_len of the first record: 4 GiB - 1.
    bytes[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let (_f, mut r) = open_bytes(&bytes);
    let (frames, err) = read_all(&mut r);
    assert!(frames.is_empty());
    match err {
        Some(CaptureError::Damaged {
            frame: 1, reason, ..
        }) => {
            assert!(reason.contains("limit"), "{reason}")
        }
        other => panic!("expected Damaged, got {other:?}"),
    }
}

#[test]
fn record_larger_than_initial_buffer_grows_it() {
    let header = PcapHeader {
        snaplen: 4 << 20,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
    let big = vec![7u8; file::INITIAL_BUFFER_BYTES + 1000];
    w.write_packet(&PcapPacket::new(Duration::ZERO, big.len() as u32, &big))
        .unwrap();
    w.write_packet(&PcapPacket::new(Duration::ZERO, 1, &[1]))
        .unwrap();
    let (_f, mut r) = open_bytes(&w.into_writer());
    let (frames, err) = read_all(&mut r);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].data.len(), big.len());
}

#[test]
fn not_a_capture_says_what_it_saw() {
    let f = temp_with(b"GET / HTTP/1.1\r\n");
    let err = FileReader::open(f.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, CaptureError::NotACapture { .. }));
    assert!(msg.contains(&f.path().display().to_string()), "{msg}");
    assert!(msg.contains("47 45 54 20") && msg.contains("GET "), "{msg}");
    assert!(!msg.contains('\n'));

    let f = temp_with(b"");
    let err = FileReader::open(f.path()).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");

    // gzip of something else.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b"hello world").unwrap();
    let f = temp_with(&e.finish().unwrap());
    let err = FileReader::open(f.path()).unwrap_err();
    assert!(err.to_string().contains("gzip-compressed"), "{err}");

    // A pcap magic with a cut file header.
    let f = temp_with(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
    let err = FileReader::open(f.path()).unwrap_err();
    assert!(err.to_string().contains("cut short"), "{err}");

    let err = FileReader::open(Path::new("/nonexistent/x.pcap")).unwrap_err();
    assert!(matches!(err, CaptureError::Open { .. }));
    assert!(err.to_string().contains("/nonexistent/x.pcap"));
}

fn idb(linktype: DataLink, tsresol: Option<u8>) -> Block<'static> {
    let mut options = Vec::new();
    if let Some(v) = tsresol {
        options.push(InterfaceDescriptionOption::IfTsResol(v));
    }
    Block::InterfaceDescription(InterfaceDescriptionBlock {
        linktype,
        snaplen: 0xffff,
        options,
    })
}

fn epb(interface_id: u32, ticks: u64, data: &[u8]) -> Block<'_> {
    Block::EnhancedPacket(EnhancedPacketBlock {
        interface_id,
        // pcap-file writes the Duration's nanoseconds as the raw tick count.
        timestamp: Duration::from_nanos(ticks),
        original_len: data.len() as u32,
        data: Cow::Borrowed(data),
        options: vec![],
    })
}

fn raw_block(type_: u32, body: &[u8]) -> RawBlock<'_> {
    let len = 12 + body.len() as u32;
    RawBlock {
        type_,
        initial_len: len,
        body: Cow::Borrowed(body),
        trailer_len: len,
    }
}

#[test]
fn pcapng_interfaces_resolutions_sections_and_blocks() {
    let mut w = PcapNgWriter::with_endianness(Vec::new(), Endianness::Little).unwrap();
    w.write_block(&idb(DataLink::ETHERNET, None)).unwrap(); // microseconds
    w.write_block(&idb(DataLink::RAW, Some(9))).unwrap(); // nanoseconds
    w.write_block(&idb(DataLink::LINUX_SLL, Some(0x80 | 10)))
        .unwrap(); // 2^-10 s
    w.write_block(&epb(0, 1_500_000, &[0xe0; 14])).unwrap();
    w.write_block(&epb(1, 2_000_000_001, &[0x45; 21])).unwrap();
    w.write_block(&epb(2, 3 * 1024 + 512, &[0x16; 16])).unwrap();
    // Unknown block and interface statistics: skipped.
    w.write_raw_block(&raw_block(0x0000_0BAD, &[1, 2, 3, 4]))
        .unwrap();
    w.write_raw_block(&raw_block(5, &[0; 12])).unwrap();
    // Simple packet block (first interface): original length, padded data.
    let mut spb = 5u32.to_le_bytes().to_vec();
    spb.extend_from_slice(&[9, 9, 9, 9, 9, 0, 0, 0]);
    w.write_raw_block(&raw_block(3, &spb)).unwrap();
    // A second section, big-endian, with its own interface 0 (SLL2).
    w.write_block(&Block::SectionHeader(SectionHeaderBlock {
        endianness: Endianness::Big,
        ..SectionHeaderBlock::default()
    }))
    .unwrap();
    w.write_block(&idb(DataLink::LINUX_SLL2, Some(3))).unwrap(); // milliseconds
    w.write_block(&epb(0, 42, &[0x86; 20])).unwrap();
    let bytes = w.into_inner();

    let (_f, mut r) = open_bytes(&bytes);
    let (frames, err) = read_all(&mut r);
    assert!(err.is_none(), "{err:?}");
    let summary: Vec<(u64, u32, usize)> = frames
        .iter()
        .map(|f| (f.ts.0, f.linktype.0, f.data.len()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1_500_000_000, 1, 14),
            (2_000_000_001, 101, 21),
            (3_500_000_000, 113, 16),
            (3_500_000_000, 1, 5), // SPB: no timestamp, the last one is kept
            (42_000_000, 276, 20),
        ]
    );
    assert_eq!(frames[3].data, vec![9; 5]);
    assert_eq!(r.skipped_blocks(), 2 + 3 + 1 + 1); // unknown, ISB, IDBs, SHB
    assert_eq!(r.bytes_read(), bytes.len() as u64);
}

#[test]
fn pcapng_packet_for_missing_interface_is_damage() {
    let mut w = PcapNgWriter::with_endianness(Vec::new(), Endianness::Big).unwrap();
    w.write_block(&idb(DataLink::ETHERNET, None)).unwrap();
    w.write_block(&epb(0, 1, &[1; 10])).unwrap();
    let mut bytes = w.into_inner();
    // Write an EPB naming interface 3 by hand (the writer refuses to).
    let mut body = 3u32.to_be_bytes().to_vec();
    body.extend_from_slice(&[0; 8]);
    body.extend_from_slice(&4u32.to_be_bytes());
    body.extend_from_slice(&4u32.to_be_bytes());
    body.extend_from_slice(&[1, 2, 3, 4]);
    let mut w2 = PcapNgWriter::with_endianness(Vec::new(), Endianness::Big).unwrap();
    w2.write_raw_block(&raw_block(6, &body)).unwrap();
    let shb_len = w2.get_ref().len() - (12 + body.len());
    bytes.extend_from_slice(&w2.get_ref()[shb_len..]);
    let (_f, mut r) = open_bytes(&bytes);
    let (frames, err) = read_all(&mut r);
    assert_eq!(frames.len(), 1);
    match err {
        Some(CaptureError::Damaged {
            frame: 2, reason, ..
        }) => {
            assert!(reason.contains("interface 3"), "{reason}")
        }
        other => panic!("expected Damaged, got {other:?}"),
    }
}

#[test]
fn pcapng_truncated_block() {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    w.write_block(&idb(DataLink::ETHERNET, None)).unwrap();
    w.write_block(&epb(0, 1, &[1; 100])).unwrap();
    w.write_block(&epb(0, 2, &[2; 100])).unwrap();
    let bytes = w.into_inner();
    let (_f, mut r) = open_bytes(&bytes[..bytes.len() - 30]);
    let (frames, err) = read_all(&mut r);
    assert_eq!(frames.len(), 1);
    assert!(
        matches!(err, Some(CaptureError::Damaged { frame: 2, .. })),
        "{err:?}"
    );
}

#[test]
fn ts_units() {
    use file::tests_support::to_nanos;
    assert_eq!(to_nanos(6, 1), 1_000);
    assert_eq!(to_nanos(9, 7), 7);
    assert_eq!(to_nanos(0, 2), 2_000_000_000);
    assert_eq!(to_nanos(12, 5_000), 5);
    assert_eq!(to_nanos(30, u64::MAX), 0);
    assert_eq!(to_nanos(0x80 | 1, 3), 1_500_000_000);
    assert_eq!(to_nanos(0x80 | 127, u64::MAX), 0);
    assert_eq!(to_nanos(0, u64::MAX), u64::MAX);
}

#[test]
fn frame_filter_validates_and_matches() {
    let err = FrameFilter::new("tcp port").unwrap_err();
    assert!(matches!(err, CaptureError::Filter { .. }));
    assert!(err.to_string().contains("tcp port"));

    let mut filt = FrameFilter::new("tcp port 80").unwrap();
    let b = etherparse::PacketBuilder::ethernet2([2; 6], [3; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 80, 1, 1024);
    let mut eth = Vec::new();
    b.write(&mut eth, b"x").unwrap();
    let frame = |linktype, data| Frame {
        ts: Timestamp(0),
        linktype,
        data,
        orig_len: 0,
    };
    assert!(filt.matches(&frame(LinkType::ETHERNET, &eth)).unwrap());
    // Same packet as raw IP: a second program, compiled on demand.
    assert!(filt.matches(&frame(LinkType::RAW, &eth[14..])).unwrap());
    let b = etherparse::PacketBuilder::ethernet2([2; 6], [3; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(53, 53);
    let mut udp = Vec::new();
    b.write(&mut udp, b"x").unwrap();
    assert!(!filt.matches(&frame(LinkType::ETHERNET, &udp)).unwrap());
    assert!(!filt.matches(&frame(LinkType::ETHERNET, &[])).unwrap());

    // An expression valid for Ethernet but not for raw IP.
    let mut mac = FrameFilter::new("ether host 02:02:02:02:02:02").unwrap();
    assert!(mac.matches(&frame(LinkType::ETHERNET, &eth)).unwrap());
    let err = mac.matches(&frame(LinkType::RAW, &eth[14..])).unwrap_err();
    assert!(err.to_string().contains("link type 101"), "{err}");
}

fn corpus_dir() -> Option<PathBuf> {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/suricata-verify");
    [local, PathBuf::from("/work/shared/corpus/suricata-verify")]
        .into_iter()
        .find(|p| p.is_dir())
}

/// (frames, frames decoded to TCP, damage found).
fn count_frames(path: &Path) -> (u64, u64, bool) {
    let mut r = FileReader::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut tcp = 0;
    let mut damaged = false;
    loop {
        match r.next_frame() {
            Ok(Some(f)) => {
                if crate::decode::decode_frame(f.linktype, f.data).is_ok() {
                    tcp += 1;
                }
            }
            Ok(None) => break,
            Err(CaptureError::Damaged { .. }) => damaged = true,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(r.bytes_read(), r.file_len().unwrap());
    (r.frames(), tcp, damaged)
}

#[test]
fn corpus_reads_without_error() {
    let Some(dir) = corpus_dir() else {
        eprintln!("corpus not found; skipped");
        return;
    };
    let mut files = 0;
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.contains(".pcap") {
            continue;
        }
        files += 1;
        let (frames, _, damaged) = count_frames(&path);
        total += frames;
        // tshark: "appears to have been cut short in the middle of a packet".
        assert_eq!(damaged, name == "http-mime-truncated.pcap", "{name}");
    }
    // Counts from `capinfos -c` / `tshark -r F | wc -l`.
    assert_eq!(files, 189);
    assert_eq!(total, 17_135);
    assert_eq!(
        count_frames(&dir.join("decode-chdlc-01.pcap")),
        (17, 17, false)
    );
    assert_eq!(
        count_frames(&dir.join("decode-sll2-01.pcap")),
        (5, 5, false)
    );
    // 55 TCP: `tshark -o teredo.heuristic_teredo:TRUE -Y tcp` (Teredo relays
    // use ports other than 3544; without the heuristic tshark counts 33).
    assert_eq!(
        count_frames(&dir.join("decode-teredo-01.pcap")),
        (78, 55, false)
    );
    assert_eq!(
        count_frames(&dir.join("http-post-file@pcapng.pcapng")).0,
        28
    );
    assert_eq!(
        count_frames(&dir.join("http-mime-truncated.pcap")),
        (2696, 2696, true)
    );
}

/// A reader that hands out at most 7 bytes per call, to exercise refills.
struct Trickle(std::io::Cursor<Vec<u8>>);

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(7);
        self.0.read(&mut buf[..n])
    }
}

#[test]
fn from_reader_with_tiny_reads() {
    let bytes = pcap_bytes(
        Endianness::Little,
        TsResolution::NanoSecond,
        DataLink::ETHERNET,
    );
    let mut r = FileReader::from_reader(
        Path::new("pipe"),
        Trickle(std::io::Cursor::new(bytes.clone())),
    )
    .unwrap();
    assert_eq!(r.file_len(), None);
    let (frames, err) = read_all(&mut r);
    assert!(err.is_none());
    assert_eq!(frames.len(), 3);
    assert_eq!(r.bytes_read(), bytes.len() as u64);
}

fn pcapng_sample() -> Vec<u8> {
    let mut w = PcapNgWriter::with_endianness(Vec::new(), Endianness::Little).unwrap();
    w.write_block(&idb(DataLink::ETHERNET, Some(9))).unwrap();
    w.write_block(&epb(0, 1, &[1; 30])).unwrap();
    w.write_block(&idb(DataLink::RAW, None)).unwrap();
    w.write_block(&epb(1, 2, &[2; 7])).unwrap();
    let mut spb = 3u32.to_le_bytes().to_vec();
    spb.extend_from_slice(&[9, 9, 9, 0]);
    w.write_raw_block(&raw_block(3, &spb)).unwrap();
    w.into_inner()
}

proptest::proptest! {
    /// Damaged input of any kind: never a panic, the end after one error
    /// (checked by `read_all`), and every frame backed by a whole record
    /// (at least 12 bytes: a pcapng block; pcap records take 16).
    #[test]
    fn reader_survives_mutation_and_truncation(
        ng in proptest::bool::ANY,
        edits in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 0..6),
        cut in proptest::num::usize::ANY,
    ) {
        let mut bytes = if ng {
            pcapng_sample()
        } else {
            pcap_bytes(Endianness::Big, TsResolution::MicroSecond, DataLink::ETHERNET)
        };
        let n = bytes.len();
        for (at, b) in edits {
            bytes[at % n] = b;
        }
        bytes.truncate(cut % (n + 1));
        let total = bytes.len() as u64;
        if let Ok(mut r) = FileReader::from_reader(Path::new("fuzz"), std::io::Cursor::new(bytes)) {
            let (frames, _err) = read_all(&mut r);
            proptest::prop_assert!(frames.len() as u64 <= total / 12);
            proptest::prop_assert!(r.bytes_read() <= total);
        }
    }
}

#[test]
fn pcapng_block_with_impossible_length_is_damage() {
    let mut bytes = pcapng_sample();
    // The first IDB follows the 28-byte SHB: make its length not a multiple of 4.
    bytes[28 + 4] = 0x15;
    let (_f, mut r) = open_bytes(&bytes);
    let (frames, err) = read_all(&mut r);
    assert!(frames.is_empty());
    match err {
        Some(CaptureError::Damaged {
            frame: 1, reason, ..
        }) => {
            assert!(reason.contains("bad pcapng block"), "{reason}")
        }
        other => panic!("expected Damaged, got {other:?}"),
    }
}

#[test]
fn reader_and_filter_can_move_to_a_capture_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<FileReader>();
    assert_send::<FrameFilter>();
}

/// One pcapng block written by hand in the given byte order (the body is
/// padded to 32 bits).
fn ng_block(type_: u32, body: &[u8], big: bool) -> Vec<u8> {
    let u32b = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut body = body.to_vec();
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let len = 12 + body.len() as u32;
    let mut out = u32b(type_).to_vec();
    out.extend_from_slice(&u32b(len));
    out.extend_from_slice(&body);
    out.extend_from_slice(&u32b(len));
    out
}

/// A pcapng option: code, length, value, padding.
fn ng_opt(code: u16, value: &[u8], big: bool) -> Vec<u8> {
    let u16b = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = u16b(code).to_vec();
    out.extend_from_slice(&u16b(value.len() as u16));
    out.extend_from_slice(value);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}

fn ng_shb(big: bool, options: &[u8]) -> Vec<u8> {
    let mut body = if big {
        let mut b = 0x1A2B_3C4Du32.to_be_bytes().to_vec();
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b
    } else {
        let mut b = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b
    };
    body.extend_from_slice(&(-1i64).to_le_bytes());
    body.extend_from_slice(options);
    ng_block(0x0A0D_0D0A, &body, big)
}

fn ng_idb(linktype: u16, options: &[u8], big: bool) -> Vec<u8> {
    let mut body = if big {
        let mut b = linktype.to_be_bytes().to_vec();
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&0xffffu32.to_be_bytes());
        b
    } else {
        let mut b = linktype.to_le_bytes().to_vec();
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&0xffffu32.to_le_bytes());
        b
    };
    body.extend_from_slice(options);
    ng_block(1, &body, big)
}

fn ng_epb(if_id: u32, ticks: u64, data: &[u8], big: bool) -> Vec<u8> {
    let u32b = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut body = u32b(if_id).to_vec();
    body.extend_from_slice(&u32b((ticks >> 32) as u32));
    body.extend_from_slice(&u32b(ticks as u32));
    body.extend_from_slice(&u32b(data.len() as u32));
    body.extend_from_slice(&u32b(data.len() as u32));
    body.extend_from_slice(data);
    ng_block(6, &body, big)
}

/// libpcap reads only `if_tsresol` and `if_tsoffset` from an Interface
/// Description Block and ignores every other option whatever it holds
/// (sf-pcapng.c `process_idb_options`), and it never looks inside the
/// section header's options nor at the IDB's reserved field; Wireshark
/// likewise skips options it cannot use. So `tcpdump -r` / `tshark -r` read
/// every packet of a capture whose IDB carries an `if_tzone` (4 bytes, as
/// the pcapng draft defines it), an `if_description` that is not UTF-8 (a
/// Windows adapter name in a legacy code page), an empty `if_filter`, or a
/// section header whose `shb_hardware` is not UTF-8. Specula handed the
/// blocks to pcap-file, which parses every option strictly: the first such
/// IDB ended the file as "damaged" (every packet after it lost, attacks in
/// them never seen), and such a section header refused the whole file.
/// Severity: Medium (a capture tshark reads is lost from the damage on).
#[test]
fn review31a_pcapng_options_libpcap_ignores_do_not_lose_packets() {
    for big in [false, true] {
        let mut idb_opts = ng_opt(10, &[0, 0, 0, 0], big); // if_tzone, 4 bytes
        idb_opts.extend(ng_opt(3, b"Realtek \xc4thernet", big)); // Latin-1
        idb_opts.extend(ng_opt(11, b"", big)); // empty if_filter
        idb_opts.extend(ng_opt(9, &[9], big)); // nanoseconds
        idb_opts.extend(ng_opt(0, b"", big));
        let mut bytes = ng_shb(big, &[]);
        bytes.extend(ng_idb(1, &[], big));
        bytes.extend(ng_epb(0, 1_000_000, &[1; 20], big));
        bytes.extend(ng_idb(101, &idb_opts, big));
        bytes.extend(ng_epb(1, 2_000_000_005, &[2; 20], big));
        bytes.extend(ng_epb(0, 3_000_000, &[3; 20], big));
        // A second section whose header holds a non-UTF-8 shb_hardware.
        let mut shb_opts = ng_opt(2, b"Intel \xaeXeon", big);
        shb_opts.extend(ng_opt(0, b"", big));
        bytes.extend(ng_shb(!big, &shb_opts));
        bytes.extend(ng_idb(113, &[], !big));
        bytes.extend(ng_epb(0, 4_000_000, &[4; 20], !big));
        let (_f, mut r) = open_bytes(&bytes);
        let (frames, err) = read_all(&mut r);
        assert!(err.is_none(), "big={big}: {err:?}");
        let summary: Vec<(u64, u32, u8)> = frames
            .iter()
            .map(|f| (f.ts.0, f.linktype.0, f.data[0]))
            .collect();
        assert_eq!(
            summary,
            vec![
                (1_000_000_000, 1, 1),
                (2_000_000_005, 101, 2),
                (3_000_000_000, 1, 3),
                (4_000_000_000, 113, 4),
            ],
            "big={big}"
        );
        // The same header as the file's first section.
        let mut first = ng_shb(big, &shb_opts);
        first.extend(ng_idb(1, &[], big));
        first.extend(ng_epb(0, 1_000_000, &[1; 20], big));
        let (_g, mut r) = open_bytes(&first);
        let (frames, err) = read_all(&mut r);
        assert!(err.is_none(), "big={big}: {err:?}");
        assert_eq!(frames.len(), 1);
    }
}

/// `if_tsoffset` is a signed number of seconds (pcapng draft §4.2; libpcap
/// and Wireshark keep it in an int64), added to every timestamp of the
/// interface. Specula read it as unsigned: an offset of -10 s became
/// 2^64 - 10 seconds and every timestamp of the interface saturated to the
/// same instant at the end of time, so reassembly and PAWS timing (which
/// run on capture time) saw no time pass at all.
/// Severity: Low (writers of negative offsets are rare).
#[test]
fn review31a_pcapng_negative_tsoffset_is_subtracted() {
    let mut opts = ng_opt(14, &(-10i64).to_le_bytes(), false);
    opts.extend(ng_opt(0, b"", false));
    let mut bytes = ng_shb(false, &[]);
    bytes.extend(ng_idb(1, &opts, false));
    bytes.extend(ng_epb(0, 100_000_000, &[1; 20], false)); // 100 s
    bytes.extend(ng_epb(0, 101_500_000, &[2; 20], false));
    let (_f, mut r) = open_bytes(&bytes);
    let (frames, err) = read_all(&mut r);
    assert!(err.is_none(), "{err:?}");
    let ts: Vec<u64> = frames.iter().map(|f| f.ts.0).collect();
    assert_eq!(ts, vec![90_000_000_000, 91_500_000_000]);
}

/// The pcap file header's link-type field carries the link type in its low
/// 26 bits only; bits 26-31 say whether the frames end in an FCS and how
/// long it is (libpcap `LT_LINKTYPE()` / `LT_FCS_LENGTH_PRESENT()`,
/// pcap-common.h; Wireshark's libpcap.c does the same). tcpdump and tshark
/// read a header of 0x24000001 as Ethernet with a 4-byte FCS. Specula took
/// the whole 32-bit field as the link type: every frame of the file was an
/// unknown link type and skipped, no request of the capture was analysed.
/// Severity: Medium (a whole capture silently unread).
#[test]
fn review31a_pcap_linktype_fcs_bits_are_not_the_link_type() {
    let mut bytes = pcap_bytes(
        Endianness::Little,
        TsResolution::MicroSecond,
        DataLink::ETHERNET,
    );
    bytes[20..24].copy_from_slice(&0x2400_0001u32.to_le_bytes());
    let (_f, mut r) = open_bytes(&bytes);
    let (frames, err) = read_all(&mut r);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| f.linktype == LinkType::ETHERNET));
}

/// Alexey Kuznetzov's modified pcap (magic a1b2cd34, written by the patched
/// tcpdump of Red Hat 6-9 and SuSE) has 24-byte record headers: the usual
/// 16 bytes, then ifindex (4), protocol (2), packet type (1) and a pad byte.
/// libpcap (sf-pcap.c `KUZNETZOV_TCPDUMP_MAGIC`, `PASS_THROUGH` → skips the
/// extra 8 bytes) and Wireshark read such files. Specula refused them as
/// "not a pcap or pcapng capture".
/// Severity: Low (old format; the error is clear).
#[test]
fn review31a_pcap_kuznetzov_magic_is_read() {
    for big in [false, true] {
        let u32b = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u16b = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut bytes = u32b(0xA1B2_CD34).to_vec();
        bytes.extend_from_slice(&u16b(2));
        bytes.extend_from_slice(&u16b(4));
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&u32b(65535));
        bytes.extend_from_slice(&u32b(1));
        for (i, len) in [(1u8, 60u32), (2, 1514)] {
            bytes.extend_from_slice(&u32b(1_700_000_000 + u32::from(i)));
            bytes.extend_from_slice(&u32b(250_000));
            bytes.extend_from_slice(&u32b(len));
            bytes.extend_from_slice(&u32b(len));
            bytes.extend_from_slice(&u32b(2)); // ifindex
            bytes.extend_from_slice(&u16b(0x0800)); // protocol
            bytes.extend_from_slice(&[0, 0]); // packet type, pad
            bytes.extend(std::iter::repeat(i).take(len as usize));
        }
        let (_f, mut r) = open_bytes(&bytes);
        let (frames, err) = read_all(&mut r);
        assert!(err.is_none(), "big={big}: {err:?}");
        let summary: Vec<(u64, usize, u8)> = frames
            .iter()
            .map(|f| (f.ts.0, f.data.len(), f.data[0]))
            .collect();
        assert_eq!(
            summary,
            vec![
                (1_700_000_001_250_000_000, 60, 1),
                (1_700_000_002_250_000_000, 1514, 2)
            ],
            "big={big}"
        );
    }
}

/// A port filter (`tcp port 80`, what docs/DEPLOYMENT.md advises on a SPAN
/// port; `tcp port 8445` is `live`'s default) must not hide packets the
/// server's kernel reassembles into a request. libpcap compiles `tcp port
/// 80` to "IPv4, offset 0, port at ip[hl]" and "IPv6 whose *first* next
/// header is TCP" (gencode.c `gen_port`/`gen_portop` add `gen_ipfrag`, and
/// `gen_proto` for IPv6 reads `ip6[6]` only): so it drops every IPv4
/// fragment but the first, every IPv6 fragment and every IPv6 segment with
/// a Destination Options header. Linux accepts all three (`ip_defrag`,
/// `ipv6_frag_rcv`, `ip6_parse_tlv` with PadN) and nginx reads the request;
/// Specula's decoder handles them (`[decode] defrag`), but never gets them:
/// an attacker who fragments, or adds one empty option header, is not seen.
/// Severity: High.
#[test]
fn review35c_port_filter_passes_fragments_and_ipv6_extension_headers() {
    fn frame(data: &[u8]) -> Frame<'_> {
        Frame {
            ts: Timestamp(0),
            linktype: LinkType::ETHERNET,
            data,
            orig_len: 0,
        }
    }
    let eth = |ethertype: [u8; 2], ip: &[u8]| {
        let mut f = vec![2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3];
        f.extend_from_slice(&ethertype);
        f.extend_from_slice(ip);
        f
    };
    // TCP header to port 80 (PSH|ACK).
    let tcp: [u8; 20] = [
        0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 4, 0, 0, 0, 0, 0,
    ];
    // An IPv4 fragment at offset 24 bytes: the middle of the request.
    let mut v4 = vec![
        0x45, 0, 0, 28, 0, 7, 0, 3, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    v4.extend_from_slice(b"/?q=<scr");
    let v6_header = |next: u8, payload: usize| {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&u16::try_from(payload).unwrap().to_be_bytes());
        h.extend_from_slice(&[next, 64]);
        h.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        h
    };
    // IPv6, Destination Options (one PadN), then TCP.
    let mut v6_opts = v6_header(60, 8 + tcp.len());
    v6_opts.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
    v6_opts.extend_from_slice(&tcp);
    // IPv6 first fragment (offset 0, more fragments), then TCP.
    let mut v6_frag = v6_header(44, 8 + tcp.len());
    v6_frag.extend_from_slice(&[6, 0, 0, 1, 0, 0, 0, 9]);
    v6_frag.extend_from_slice(&tcp);
    for expr in ["tcp port 80", "port 80", "tcp dst port 80"] {
        let mut filt = FrameFilter::new(expr).unwrap();
        for (what, data) in [
            ("IPv4 later fragment", eth([8, 0], &v4)),
            ("IPv6 destination options", eth([0x86, 0xdd], &v6_opts)),
            ("IPv6 fragment", eth([0x86, 0xdd], &v6_frag)),
        ] {
            assert!(
                filt.matches(&frame(&data)).unwrap(),
                "{expr}: {what} filtered out"
            );
        }
    }
    // What the filter is for still goes: other TCP, UDP.
    let mut filt = FrameFilter::new("tcp port 80").unwrap();
    let b = etherparse::PacketBuilder::ethernet2([2; 6], [3; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 22, 1, 1024);
    let mut ssh = Vec::new();
    b.write(&mut ssh, b"x").unwrap();
    assert!(!filt.matches(&frame(&ssh)).unwrap());
    let b = etherparse::PacketBuilder::ethernet2([2; 6], [3; 6])
        .ipv6([1; 16], [2; 16], 64)
        .udp(53, 53);
    let mut dns = Vec::new();
    b.write(&mut dns, b"x").unwrap();
    assert!(!filt.matches(&frame(&dns)).unwrap());
}
