//! RowBinary encoding (and decoding) of attack rows, done on the sink
//! thread.
//!
//! Why not the `clickhouse` crate's typed `Insert<AttackRow>`: it serializes
//! on the inserter thread, which also frees every row's ~25 strings there
//! (memory the sink thread allocated, so glibc pays cross-thread frees and
//! arena consolidation). Profiles of `benches/clickhouse_insert.rs` put that
//! at a third of the inserter's CPU; the inserter is the serial part of the
//! path, beside the server. Here each row is encoded right after it is
//! built, by the thread that built it, into a chunk that the inserter sends
//! as is (`InsertFormatted`, which still compresses it with LZ4).
//!
//! [`ATTACK_CODEC`] is the single list of columns in wire order, each with
//! its encoder and decoder: adding a column is one line there (a test holds
//! it equal to `schema::ATTACK_COLUMNS`). The insert names its columns, so a
//! server table with more columns takes the rows as well. Decoding is used
//! only when a batch goes to the spool (which keeps JSON Lines) and by
//! tests; it never panics on bad input.

use super::row::AttackRow;

/// A RowBinary payload could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("rowbinary: truncated in column {0}")]
    Truncated(&'static str),
    #[error("rowbinary: column {0} is not UTF-8")]
    NotUtf8(&'static str),
    #[error("rowbinary: column {0} has a bad length or marker")]
    Bad(&'static str),
}

type Input<'a> = &'a [u8];
type Enc = fn(&AttackRow, &mut Vec<u8>);
type Dec = fn(&mut AttackRow, &mut Input<'_>, &'static str) -> Result<(), DecodeError>;

/// `attacks` columns in RowBinary order: (name, encode, decode).
#[rustfmt::skip]
pub const ATTACK_CODEC: &[(&str, Enc, Dec)] = &[
    ("ts", |r, o| put_u32(o, r.ts), |r, i, c| get_u32(i, c).map(|v| r.ts = v)),
    ("ts_us", |r, o| put_u32(o, r.ts_us), |r, i, c| get_u32(i, c).map(|v| r.ts_us = v)),
    ("sensor", |r, o| put_str(o, &r.sensor), |r, i, c| get_str(i, c).map(|v| r.sensor = v)),
    ("request_key", |r, o| put_str(o, &r.request_key), |r, i, c| get_str(i, c).map(|v| r.request_key = v)),
    ("src_ip", |r, o| put_str(o, &r.src_ip), |r, i, c| get_str(i, c).map(|v| r.src_ip = v)),
    ("src_port", |r, o| put_u16(o, r.src_port), |r, i, c| get_u16(i, c).map(|v| r.src_port = v)),
    ("dst_ip", |r, o| put_str(o, &r.dst_ip), |r, i, c| get_str(i, c).map(|v| r.dst_ip = v)),
    ("dst_port", |r, o| put_u16(o, r.dst_port), |r, i, c| get_u16(i, c).map(|v| r.dst_port = v)),
    ("client_ip", |r, o| put_str(o, &r.client_ip), |r, i, c| get_str(i, c).map(|v| r.client_ip = v)),
    ("client_ip_from_header", |r, o| o.push(r.client_ip_from_header), |r, i, c| get_u8(i, c).map(|v| r.client_ip_from_header = v)),
    ("client_ip_claimed", |r, o| put_str(o, &r.client_ip_claimed), |r, i, c| get_str(i, c).map(|v| r.client_ip_claimed = v)),
    ("method", |r, o| put_str(o, &r.method), |r, i, c| get_str(i, c).map(|v| r.method = v)),
    ("uri", |r, o| put_str(o, &r.uri), |r, i, c| get_str(i, c).map(|v| r.uri = v)),
    ("host", |r, o| put_str(o, &r.host), |r, i, c| get_str(i, c).map(|v| r.host = v)),
    ("user_agent", |r, o| put_opt(o, r.user_agent.as_deref()), |r, i, c| get_opt(i, c).map(|v| r.user_agent = v)),
    ("request_id", |r, o| put_opt(o, r.request_id.as_deref()), |r, i, c| get_opt(i, c).map(|v| r.request_id = v)),
    ("body_len", |r, o| put_u64(o, r.body_len), |r, i, c| get_u64(i, c).map(|v| r.body_len = v)),
    ("version", |r, o| put_str(o, &r.version), |r, i, c| get_str(i, c).map(|v| r.version = v)),
    ("complete", |r, o| o.push(r.complete), |r, i, c| get_u8(i, c).map(|v| r.complete = v)),
    ("response_status", |r, o| put_u16(o, r.response_status), |r, i, c| get_u16(i, c).map(|v| r.response_status = v)),
    ("response_bytes", |r, o| put_u64(o, r.response_bytes), |r, i, c| get_u64(i, c).map(|v| r.response_bytes = v)),
    ("response_time_ms", |r, o| put_u32(o, r.response_time_ms), |r, i, c| get_u32(i, c).map(|v| r.response_time_ms = v)),
    ("blocked", |r, o| o.push(r.blocked), |r, i, c| get_u8(i, c).map(|v| r.blocked = v)),
    ("attack_class", |r, o| put_str(o, &r.attack_class), |r, i, c| get_str(i, c).map(|v| r.attack_class = v)),
    ("rule_id", |r, o| put_str(o, &r.rule_id), |r, i, c| get_str(i, c).map(|v| r.rule_id = v)),
    ("severity", |r, o| put_str(o, &r.severity), |r, i, c| get_str(i, c).map(|v| r.severity = v)),
    ("location", |r, o| put_str(o, &r.location), |r, i, c| get_str(i, c).map(|v| r.location = v)),
    ("matched", |r, o| put_str(o, &r.matched), |r, i, c| get_str(i, c).map(|v| r.matched = v)),
    ("request_line", |r, o| put_str(o, &r.request_line), |r, i, c| get_str(i, c).map(|v| r.request_line = v)),
    ("header_names", |r, o| put_strs(o, &r.header_names), |r, i, c| get_strs(i, c).map(|v| r.header_names = v)),
    ("header_values", |r, o| put_strs(o, &r.header_values), |r, i, c| get_strs(i, c).map(|v| r.header_values = v)),
    ("body_excerpt", |r, o| put_str(o, &r.body_excerpt), |r, i, c| get_str(i, c).map(|v| r.body_excerpt = v)),
];

/// The statement that inserts [`encode_attack`]'s rows into `table`
/// (already quoted), naming the columns.
pub fn insert_sql(table: &str) -> String {
    let cols: Vec<&str> = ATTACK_CODEC.iter().map(|(n, _, _)| *n).collect();
    format!("INSERT INTO {table} ({}) FORMAT RowBinary", cols.join(", "))
}

/// Appends `row` to `out`.
pub fn encode_attack(row: &AttackRow, out: &mut Vec<u8>) {
    for (_, enc, _) in ATTACK_CODEC {
        enc(row, out);
    }
}

/// Every row of a payload made by [`encode_attack`].
pub fn decode_attacks(mut data: &[u8]) -> Result<Vec<AttackRow>, DecodeError> {
    let mut rows = Vec::new();
    while !data.is_empty() {
        let mut row = empty_row();
        for (name, _, dec) in ATTACK_CODEC {
            dec(&mut row, &mut data, name)?;
        }
        rows.push(row);
    }
    Ok(rows)
}

fn empty_row() -> AttackRow {
    AttackRow {
        ts: 0,
        ts_us: 0,
        sensor: String::new(),
        request_key: String::new(),
        src_ip: String::new(),
        src_port: 0,
        dst_ip: String::new(),
        dst_port: 0,
        client_ip: String::new(),
        client_ip_from_header: 0,
        client_ip_claimed: String::new(),
        method: String::new(),
        uri: String::new(),
        host: String::new(),
        user_agent: None,
        request_id: None,
        body_len: 0,
        version: String::new(),
        complete: 0,
        response_status: 0,
        response_bytes: 0,
        response_time_ms: 0,
        blocked: 0,
        attack_class: String::new(),
        rule_id: String::new(),
        severity: String::new(),
        location: String::new(),
        matched: String::new(),
        request_line: String::new(),
        header_names: Vec::new(),
        header_values: Vec::new(),
        body_excerpt: String::new(),
    }
}

fn put_u16(o: &mut Vec<u8>, v: u16) {
    o.extend_from_slice(&v.to_le_bytes());
}

fn put_u32(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(o: &mut Vec<u8>, v: u64) {
    o.extend_from_slice(&v.to_le_bytes());
}

/// LEB128, as RowBinary prefixes string lengths and array sizes.
fn put_len(o: &mut Vec<u8>, mut n: usize) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            o.push(b);
            return;
        }
        o.push(b | 0x80);
    }
}

fn put_str(o: &mut Vec<u8>, s: &str) {
    put_len(o, s.len());
    o.extend_from_slice(s.as_bytes());
}

/// `Nullable(String)`: a marker byte, 1 for NULL, then the value.
fn put_opt(o: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            o.push(0);
            put_str(o, s);
        }
        None => o.push(1),
    }
}

fn put_strs(o: &mut Vec<u8>, v: &[String]) {
    put_len(o, v.len());
    for s in v {
        put_str(o, s);
    }
}

fn take<'a>(i: &mut Input<'a>, n: usize, col: &'static str) -> Result<&'a [u8], DecodeError> {
    if i.len() < n {
        return Err(DecodeError::Truncated(col));
    }
    let (head, rest) = i.split_at(n);
    *i = rest;
    Ok(head)
}

fn get_u8(i: &mut Input<'_>, col: &'static str) -> Result<u8, DecodeError> {
    let b = take(i, 1, col)?;
    Ok(b.first().copied().unwrap_or(0))
}

fn get_array<const N: usize>(i: &mut Input<'_>, col: &'static str) -> Result<[u8; N], DecodeError> {
    take(i, N, col)?
        .try_into()
        .map_err(|_| DecodeError::Truncated(col))
}

fn get_u16(i: &mut Input<'_>, col: &'static str) -> Result<u16, DecodeError> {
    get_array(i, col).map(u16::from_le_bytes)
}

fn get_u32(i: &mut Input<'_>, col: &'static str) -> Result<u32, DecodeError> {
    get_array(i, col).map(u32::from_le_bytes)
}

fn get_u64(i: &mut Input<'_>, col: &'static str) -> Result<u64, DecodeError> {
    get_array(i, col).map(u64::from_le_bytes)
}

fn get_len(i: &mut Input<'_>, col: &'static str) -> Result<usize, DecodeError> {
    let mut n: usize = 0;
    for shift in (0..64).step_by(7) {
        let b = get_u8(i, col)?;
        n |= usize::from(b & 0x7f)
            .checked_shl(shift)
            .ok_or(DecodeError::Bad(col))?;
        if b & 0x80 == 0 {
            // A length beyond what is left is damage, not a reason to allocate.
            return if n <= i.len() {
                Ok(n)
            } else {
                Err(DecodeError::Truncated(col))
            };
        }
    }
    Err(DecodeError::Bad(col))
}

fn get_str(i: &mut Input<'_>, col: &'static str) -> Result<String, DecodeError> {
    let n = get_len(i, col)?;
    let b = take(i, n, col)?;
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError::NotUtf8(col))
}

fn get_opt(i: &mut Input<'_>, col: &'static str) -> Result<Option<String>, DecodeError> {
    match get_u8(i, col)? {
        0 => get_str(i, col).map(Some),
        1 => Ok(None),
        _ => Err(DecodeError::Bad(col)),
    }
}

fn get_strs(i: &mut Input<'_>, col: &'static str) -> Result<Vec<String>, DecodeError> {
    // Every element takes at least its length byte: bounds the count.
    let n = get_len(i, col)?;
    (0..n).map(|_| get_str(i, col)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::clickhouse::row::tests::record;
    use crate::sink::clickhouse::schema::ATTACK_COLUMNS;

    fn rows() -> Vec<AttackRow> {
        let mut v: Vec<AttackRow> = (0..5)
            .map(|i| AttackRow::from_record(&record(i, true), "sensor-é").unwrap())
            .collect();
        v[1].user_agent = None;
        v[2].request_id = Some(String::new());
        v[3].body_excerpt = "x".repeat(300); // a two-byte length
        v[4].header_names = vec!["A".into(), String::new()];
        v[4].header_values = vec!["1".into(), "ü".into()];
        v
    }

    #[test]
    fn columns_are_the_schemas() {
        let ours: Vec<&str> = ATTACK_CODEC.iter().map(|(n, _, _)| *n).collect();
        let schema: Vec<&str> = ATTACK_COLUMNS.iter().map(|(n, _)| *n).collect();
        assert_eq!(ours, schema);
        assert!(insert_sql("`db`.attacks")
            .starts_with("INSERT INTO `db`.attacks (ts, ts_us, sensor, request_key, "));
        assert!(insert_sql("t").ends_with(", body_excerpt) FORMAT RowBinary"));
    }

    #[test]
    fn round_trips() {
        let rows = rows();
        let mut buf = Vec::new();
        for r in &rows {
            encode_attack(r, &mut buf);
        }
        assert_eq!(decode_attacks(&buf).unwrap(), rows);
        assert_eq!(decode_attacks(&[]).unwrap(), Vec::<AttackRow>::new());
    }

    #[test]
    fn wire_layout_is_rowbinary() {
        let mut r = rows().remove(1);
        r.header_names.clear();
        r.header_values.clear();
        let mut buf = Vec::new();
        encode_attack(&r, &mut buf);
        assert_eq!(&buf[..4], &r.ts.to_le_bytes());
        assert_eq!(&buf[4..8], &r.ts_us.to_le_bytes());
        assert_eq!(usize::from(buf[8]), r.sensor.len());
        assert_eq!(&buf[9..9 + r.sensor.len()], r.sensor.as_bytes());
        // The tail: two empty arrays, then the body excerpt.
        let tail_len = 2 + 1 + r.body_excerpt.len();
        assert_eq!(
            buf[buf.len() - tail_len..][..3],
            [0, 0, r.body_excerpt.len() as u8]
        );
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        let mut buf = Vec::new();
        for r in &rows() {
            encode_attack(r, &mut buf);
        }
        for cut in 1..buf.len() {
            let _ = decode_attacks(&buf[..cut]);
        }
        assert_eq!(decode_attacks(&buf[..3]), Err(DecodeError::Truncated("ts")));
        // A huge length, a bad NULL marker, invalid UTF-8.
        let mut huge = vec![0; 8];
        huge.extend_from_slice(&[0xff; 12]);
        assert!(decode_attacks(&huge).is_err());
        let mut r = rows().remove(0);
        r.sensor = "\u{7f}".into();
        let mut b = Vec::new();
        encode_attack(&r, &mut b);
        b[9] = 0xff;
        assert_eq!(decode_attacks(&b), Err(DecodeError::NotUtf8("sensor")));
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            let mut noisy = buf.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = (x % noisy.len() as u64) as usize;
                noisy[at] = (x >> 32) as u8;
            }
            let _ = decode_attacks(&noisy);
        }
    }
}
