//! Content-Encoding of request bodies (RFC 9110 §8.4.1): `gzip`, `x-gzip`,
//! `deflate` (zlib, or raw deflate as some clients send it), `br` (RFC 7932:
//! ASP.NET Core's request decompression and Express 5's body-parser undo
//! it).
//!
//! Owns the inflation of a body into a caller-owned buffer under two caps:
//! an output size (`max_bytes`) and a ratio to the input (`max_ratio`, with a
//! floor of [`RATIO_FLOOR_BYTES`] so tiny, very compressible bodies are not
//! called bombs). Hands on the outcome; the caller counts it, turns a bomb
//! into a `protocol` finding and inspects what was inflated (up to the cap)
//! or, when nothing could be inflated, the raw body.

use std::io::Read;

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

/// Output below this size is never a bomb, whatever the ratio.
pub const RATIO_FLOOR_BYTES: usize = 4096;
/// The brotli decoder's input buffer.
const BROTLI_BUFFER_BYTES: usize = 4096;
/// Most codings applied in sequence (`Content-Encoding: gzip, gzip`).
pub const MAX_CODINGS: usize = 2;

/// A content coding that is not inflated (zstd, compress, unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported;

/// A supported content coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
    Brotli,
}

impl Coding {
    /// The coding named by one `Content-Encoding` list element; `None` for
    /// `identity` and the empty name; `Err(Unsupported)` for the rest.
    pub fn parse(name: &[u8]) -> Result<Option<Coding>, Unsupported> {
        let n = name.trim_ascii();
        if n.eq_ignore_ascii_case(b"gzip") || n.eq_ignore_ascii_case(b"x-gzip") {
            Ok(Some(Coding::Gzip))
        } else if n.eq_ignore_ascii_case(b"deflate") {
            Ok(Some(Coding::Deflate))
        } else if n.eq_ignore_ascii_case(b"br") {
            Ok(Some(Coding::Brotli))
        } else if n.is_empty() || n.eq_ignore_ascii_case(b"identity") {
            Ok(None)
        } else {
            Err(Unsupported)
        }
    }
}

/// The codings of `Content-Encoding` values (comma-separated lists, in the
/// order applied; `identity` and empty names skipped). `Err` when one is not
/// inflated here or there are more than [`MAX_CODINGS`].
pub fn codings<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<Coding>, Unsupported> {
    let mut codings = Vec::with_capacity(MAX_CODINGS);
    for value in values {
        for name in value.split(|&b| b == b',') {
            if let Some(c) = Coding::parse(name)? {
                codings.push(c);
            }
        }
    }
    if codings.len() > MAX_CODINGS {
        return Err(Unsupported);
    }
    Ok(codings)
}

/// What became of an inflation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inflated {
    /// The whole input inflated within the caps.
    Complete,
    /// The input ended early (a body cut at the inspection cap); `out` holds
    /// what it inflated to.
    Truncated,
    /// The size or ratio cap was exceeded; `out` holds the first bytes.
    Bomb,
    /// Not data of that coding (nothing usable in `out`).
    Invalid,
}

/// Inflate `input` into `out` (cleared first).
pub fn inflate(
    coding: Coding,
    input: &[u8],
    max_bytes: usize,
    max_ratio: usize,
    out: &mut Vec<u8>,
) -> Inflated {
    out.clear();
    let cap = input
        .len()
        .saturating_mul(max_ratio)
        .max(RATIO_FLOOR_BYTES)
        .min(max_bytes);
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let res = match coding {
        Coding::Gzip => MultiGzDecoder::new(input).take(limit).read_to_end(out),
        Coding::Deflate if is_zlib(input) => {
            let zlib = ZlibDecoder::new(input).take(limit).read_to_end(out);
            if zlib.is_ok() || out.len() > cap {
                zlib
            } else {
                // A raw stream may begin with a stored block whose first two
                // bytes pass the zlib header check: ASP.NET Core
                // (`DeflateStream`) and Go's `flate.NewReader` read it raw.
                let mut raw = Vec::new();
                let res = DeflateDecoder::new(input).take(limit).read_to_end(&mut raw);
                if res.is_ok() || raw.len() > out.len() {
                    *out = raw;
                    res
                } else {
                    zlib
                }
            }
        }
        Coding::Deflate => DeflateDecoder::new(input).take(limit).read_to_end(out),
        Coding::Brotli => brotli_decompressor::Decompressor::new(input, BROTLI_BUFFER_BYTES)
            .take(limit)
            .read_to_end(out),
    };
    if out.len() > cap {
        out.truncate(cap);
        return Inflated::Bomb;
    }
    match res {
        Ok(_) => Inflated::Complete,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {
            Inflated::Truncated
        }
        Err(_) if !out.is_empty() => Inflated::Truncated,
        Err(_) => Inflated::Invalid,
    }
}

/// A zlib header (RFC 1950 §2.2): method 8, header checksum a multiple of 31.
fn is_zlib(b: &[u8]) -> bool {
    match (b.first(), b.get(1)) {
        (Some(&cmf), Some(&flg)) => {
            cmf & 0x0f == 8 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use flate2::Compression;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_zlib_raw_deflate() {
        let data = b"id=1' union select password from users--";
        let mut out = Vec::new();
        assert_eq!(
            inflate(Coding::Gzip, &gz(data), 1 << 20, 100, &mut out),
            Inflated::Complete
        );
        assert_eq!(out, data);
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(data).unwrap();
        assert_eq!(
            inflate(
                Coding::Deflate,
                &z.finish().unwrap(),
                1 << 20,
                100,
                &mut out
            ),
            Inflated::Complete
        );
        assert_eq!(out, data);
        let mut d = DeflateEncoder::new(Vec::new(), Compression::default());
        d.write_all(data).unwrap();
        assert_eq!(
            inflate(
                Coding::Deflate,
                &d.finish().unwrap(),
                1 << 20,
                100,
                &mut out
            ),
            Inflated::Complete
        );
        assert_eq!(out, data);
        // Two gzip members one after the other are one body.
        let mut two = gz(b"ab");
        two.extend(gz(b"cd"));
        assert_eq!(
            inflate(Coding::Gzip, &two, 1 << 20, 100, &mut out),
            Inflated::Complete
        );
        assert_eq!(out, b"abcd");
    }

    /// Brotli bodies (made with Node's `zlib.brotliCompressSync`) inflate,
    /// under the same caps: 8 MiB of `A` in 14 bytes is a bomb.
    #[test]
    fn brotli() {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        let mut out = Vec::new();
        let body = b64("GykACB0HbqwemFg9TeuVlp60GSNDViU34JAD978FmZas2Oz+qG/USwIotQI=");
        assert_eq!(
            inflate(Coding::Brotli, &body, 1 << 20, 100, &mut out),
            Inflated::Complete
        );
        assert_eq!(out, b"id=1%27+union+select+password+from+users--");
        // A form of 385 bytes whose stream is cut in half (a body cut at the
        // inspection cap): what was decoded comes out, the attack first.
        let form = b64(
            "G4AB6BwHbqwevzMmmUZIMtsma3F2aqXFDba36nQERHREz9fG6kbifyFGgHE8k1eyRcaxFunRygXz24+H+caP/It5\
             EW6tv7H+6/A93HFWSxNHz2R4fDZjtExLdmS6YfBGLVxBqMPFRfs6dDvDZW1KtTSUzU03PThYaQviHUYsBUUvD94X\
             M+21tJAtopsxDlVOQb2HdS0lRsceDmOztsmp2n1kroMPXg==",
        );
        assert_eq!(
            inflate(Coding::Brotli, &form, 1 << 20, 100, &mut out),
            Inflated::Complete
        );
        assert_eq!(out.len(), 385);
        let half = form.get(..form.len() / 2).unwrap();
        assert_eq!(
            inflate(Coding::Brotli, half, 1 << 20, 100, &mut out),
            Inflated::Truncated
        );
        assert!(out.starts_with(b"q=1%27+union+select+password+from+users--&"));
        let bomb = b64("m///f/glguKxQCD3/g8=");
        assert_eq!(bomb.len(), 14);
        assert_eq!(
            inflate(Coding::Brotli, &bomb, 1 << 20, 100, &mut out),
            Inflated::Bomb
        );
        assert_eq!(out.len(), RATIO_FLOOR_BYTES);
        assert_eq!(
            inflate(Coding::Brotli, b"not brotli at all", 1 << 20, 100, &mut out),
            Inflated::Invalid
        );
        assert_eq!(
            codings([&b"gzip, br"[..]]),
            Ok(vec![Coding::Gzip, Coding::Brotli])
        );
        assert_eq!(codings([&b"zstd"[..]]), Err(Unsupported));
    }

    #[test]
    fn truncated_invalid_and_bombs() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let z = gz(&data);
        let mut out = Vec::new();
        let half = z.get(..z.len() / 2).unwrap();
        assert_eq!(
            inflate(Coding::Gzip, half, 1 << 20, 100, &mut out),
            Inflated::Truncated
        );
        assert!(!out.is_empty() && data.starts_with(&out));
        assert_eq!(
            inflate(Coding::Gzip, b"not gzip at all", 1 << 20, 100, &mut out),
            Inflated::Invalid
        );
        assert!(out.is_empty());
        assert_eq!(
            inflate(Coding::Gzip, b"", 1 << 20, 100, &mut out),
            Inflated::Invalid
        );

        // One MiB of zeros: about 1000:1.
        let bomb = gz(&vec![0u8; 1 << 20]);
        assert_eq!(
            inflate(Coding::Gzip, &bomb, 1 << 30, 100, &mut out),
            Inflated::Bomb
        );
        assert_eq!(out.len(), bomb.len() * 100);
        // The size cap, at the limit and one byte over.
        let zeros = gz(&[0u8; 10_000]);
        assert_eq!(
            inflate(Coding::Gzip, &zeros, 10_000, 1_000_000, &mut out),
            Inflated::Complete
        );
        assert_eq!(
            inflate(Coding::Gzip, &zeros, 9_999, 1_000_000, &mut out),
            Inflated::Bomb
        );
        assert_eq!(out.len(), 9_999);
        // Small and very compressible is not a bomb (ratio floor).
        assert_eq!(
            inflate(Coding::Gzip, &gz(&[b'a'; 4000]), 1 << 20, 2, &mut out),
            Inflated::Complete
        );
    }

    /// ASP.NET Core's request decompression undoes `deflate` with
    /// `DeflateStream` (raw RFC 1951), as a Go handler with `flate.NewReader`
    /// does. A raw stream may begin with a non-final stored block whose first
    /// two bytes (0x08, LEN low byte 0x1d) pass the RFC 1950 header check;
    /// the attack is in a compressed block after it. Specula read such a body
    /// as zlib only, failed, and inspected the raw (compressed) bytes.
    /// Severity: High.
    #[test]
    fn review35a_raw_deflate_that_looks_like_zlib() {
        let pad = b"x=aaaaaaaaaaaaaaaaaaaaaaaaaa&";
        assert_eq!(pad.len(), 0x1d);
        // BFINAL 0, BTYPE 00 (stored), LEN 29, NLEN !29, the padding...
        let mut body = vec![0x08, 0x1d, 0x00, 0xe2, 0xff];
        body.extend_from_slice(pad);
        // ...then a final compressed block starting on a byte boundary.
        let attack = b"q=1%27+union+select+password+from+users--";
        let mut d = DeflateEncoder::new(Vec::new(), Compression::default());
        d.write_all(attack).unwrap();
        body.extend(d.finish().unwrap());
        assert!(is_zlib(&body));
        let mut out = Vec::new();
        assert_eq!(
            inflate(Coding::Deflate, &body, 1 << 20, 100, &mut out),
            Inflated::Complete
        );
        assert_eq!(out, [&pad[..], &attack[..]].concat());
    }

    #[test]
    fn coding_names() {
        assert_eq!(Coding::parse(b" x-gzip "), Ok(Some(Coding::Gzip)));
        assert_eq!(Coding::parse(b"GZIP"), Ok(Some(Coding::Gzip)));
        assert_eq!(Coding::parse(b"deflate"), Ok(Some(Coding::Deflate)));
        assert_eq!(Coding::parse(b"identity"), Ok(None));
        assert_eq!(Coding::parse(b"BR"), Ok(Some(Coding::Brotli)));
        assert_eq!(Coding::parse(b"zstd"), Err(Unsupported));
    }
}
