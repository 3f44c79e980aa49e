//! Capture file writers: classic pcap (µs or ns, either byte order),
//! pcapng with several interfaces, and gzip of either.

use std::io::Write;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness, TsResolution};

use super::SynthError;
use crate::capture::{LinkType, Timestamp};

/// Snap length written in headers: frames are never cut by the writer.
pub const SNAPLEN: u32 = 262_144;

fn duration(ts: Timestamp) -> Duration {
    Duration::new(ts.secs(), ts.subsec_nanos())
}

/// Write a classic pcap: one link type, microsecond (magic a1b2c3d4) or
/// nanosecond (a1b23c4d) timestamps, little- or big-endian. Microsecond
/// files drop the sub-microsecond part of timestamps. Returns bytes written.
pub fn write_pcap<W: Write>(
    out: W,
    linktype: LinkType,
    frames: &[(Timestamp, Vec<u8>)],
    nanosecond: bool,
    big_endian: bool,
) -> Result<u64, SynthError> {
    let mut w = pcap_writer(out, linktype, nanosecond, big_endian)?;
    let mut n = 24u64;
    for (ts, data) in frames {
        n += write_frame(&mut w, *ts, data)? as u64;
    }
    Ok(n)
}

pub(crate) fn pcap_writer<W: Write>(
    out: W,
    linktype: LinkType,
    nanosecond: bool,
    big_endian: bool,
) -> Result<PcapWriter<W>, SynthError> {
    let header = PcapHeader {
        snaplen: SNAPLEN,
        datalink: DataLink::from(linktype.0),
        ts_resolution: if nanosecond {
            TsResolution::NanoSecond
        } else {
            TsResolution::MicroSecond
        },
        endianness: if big_endian {
            Endianness::Big
        } else {
            Endianness::Little
        },
        ..PcapHeader::default()
    };
    Ok(PcapWriter::with_header(out, header)?)
}

pub(crate) fn write_frame<W: Write>(
    w: &mut PcapWriter<W>,
    ts: Timestamp,
    data: &[u8],
) -> Result<usize, SynthError> {
    let len = u32::try_from(data.len()).map_err(|_| SynthError::Invalid("frame > 4 GiB".into()))?;
    Ok(w.write_packet(&PcapPacket::new(duration(ts), len, data))?)
}

/// One pcapng interface: its link type and its frames. Frames of all
/// interfaces are merged by timestamp (stable: ties keep interface order).
#[derive(Debug, Clone)]
pub struct PcapNgInterface {
    pub linktype: LinkType,
    pub frames: Vec<(Timestamp, Vec<u8>)>,
}

/// Write a pcapng file: one section, one Interface Description Block per
/// interface (with `if_tsresol` = 9, nanoseconds, because that is the unit
/// pcap-file writes in Enhanced Packet Blocks), then the packets of all
/// interfaces in time order. Returns bytes written.
pub fn write_pcapng<W: Write>(out: W, interfaces: &[PcapNgInterface]) -> Result<u64, SynthError> {
    let mut w = PcapNgWriter::with_endianness(out, Endianness::Little)?;
    let mut n = 28u64;
    for i in interfaces {
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::from(i.linktype.0),
            snaplen: SNAPLEN,
            options: vec![InterfaceDescriptionOption::IfTsResol(9)],
        };
        n += w.write_pcapng_block(idb)? as u64;
    }
    let mut all: Vec<(Timestamp, u32, &[u8])> = Vec::new();
    for (id, i) in interfaces.iter().enumerate() {
        let id =
            u32::try_from(id).map_err(|_| SynthError::Invalid("too many interfaces".into()))?;
        all.extend(i.frames.iter().map(|(ts, d)| (*ts, id, d.as_slice())));
    }
    all.sort_by_key(|(ts, id, _)| (*ts, *id));
    for (ts, id, data) in all {
        let len =
            u32::try_from(data.len()).map_err(|_| SynthError::Invalid("frame > 4 GiB".into()))?;
        let epb = EnhancedPacketBlock {
            interface_id: id,
            timestamp: duration(ts),
            original_len: len,
            data: data.into(),
            options: vec![],
        };
        n += w.write_pcapng_block(epb)? as u64;
    }
    Ok(n)
}

/// Gzip `bytes` (a whole capture file) deterministically: no file name and
/// mtime 0 in the gzip header, so output depends on the input only.
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, SynthError> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)?;
    Ok(enc.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;
    use pcap_file::pcapng::{Block, PcapNgReader};

    fn frames() -> Vec<(Timestamp, Vec<u8>)> {
        vec![
            (Timestamp::from_secs_nanos(10, 123_456_789), vec![1, 2, 3]),
            (Timestamp::from_secs_nanos(11, 5), vec![4; 70]),
        ]
    }

    #[test]
    fn pcap_round_trip_all_formats() {
        for (ns, be) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut buf = Vec::new();
            let n = write_pcap(&mut buf, LinkType::RAW, &frames(), ns, be).unwrap();
            assert_eq!(n, buf.len() as u64);
            let magic: [u8; 4] = match (ns, be) {
                (false, false) => [0xd4, 0xc3, 0xb2, 0xa1],
                (true, false) => [0x4d, 0x3c, 0xb2, 0xa1],
                (false, true) => [0xa1, 0xb2, 0xc3, 0xd4],
                (true, true) => [0xa1, 0xb2, 0x3c, 0x4d],
            };
            assert_eq!(&buf[..4], &magic);
            let mut r = PcapReader::new(&buf[..]).unwrap();
            assert_eq!(u32::from(r.header().datalink), 101);
            let p = r.next_packet().unwrap().unwrap();
            let want = if ns { 123_456_789 } else { 123_456_000 };
            assert_eq!(p.timestamp, Duration::new(10, want));
            assert_eq!(&*p.data, &[1, 2, 3]);
            assert_eq!(r.next_packet().unwrap().unwrap().data.len(), 70);
            assert!(r.next_packet().is_none());
        }
    }

    #[test]
    fn pcapng_two_interfaces_in_time_order() {
        let a = PcapNgInterface {
            linktype: LinkType::ETHERNET,
            frames: frames(),
        };
        let b = PcapNgInterface {
            linktype: LinkType::LINUX_SLL,
            frames: vec![(Timestamp::from_secs_nanos(10, 500), vec![9; 20])],
        };
        let mut buf = Vec::new();
        let n = write_pcapng(&mut buf, &[a, b]).unwrap();
        assert_eq!(n, buf.len() as u64);
        let mut r = PcapNgReader::new(&buf[..]).unwrap();
        let mut got = Vec::new();
        while let Some(block) = r.next_block() {
            match block.unwrap() {
                Block::InterfaceDescription(i) => {
                    assert!(i
                        .options
                        .contains(&InterfaceDescriptionOption::IfTsResol(9)));
                }
                Block::EnhancedPacket(p) => got.push((p.interface_id, p.timestamp)),
                _ => {}
            }
        }
        assert_eq!(
            got,
            vec![
                (1, Duration::new(10, 500)),
                (0, Duration::new(10, 123_456_789)),
                (0, Duration::new(11, 5))
            ]
        );
    }

    #[test]
    fn gzip_is_deterministic_and_decodes() {
        let data = b"hello pcap".repeat(100);
        let a = gzip(&data).unwrap();
        assert_eq!(a, gzip(&data).unwrap());
        let mut d = flate2::read::GzDecoder::new(&a[..]);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut d, &mut back).unwrap();
        assert_eq!(back, data);
    }
}
