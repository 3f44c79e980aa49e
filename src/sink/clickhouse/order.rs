//! Puts a batch of attack rows in the `attacks` table's sorting order
//! before it is sent.
//!
//! Why: ClickHouse sorts every inserted block by the table's `ORDER BY` and
//! then permutes every column, unless the block is already in that order
//! (`isAlreadySorted`, in 18.16 as in current releases; counted by the
//! server as `MergeTreeDataWriterBlocksAlreadySorted`). 18.16 runs an
//! insert on one thread, so its sort is on the serial path of the sink:
//! 100,000 typical rows took the server 0.55 s unsorted and 0.36 s sorted
//! (docs/CLICKHOUSE.md). The sort moves here, off the server.
//!
//! The work is split so the serial part stays small: the sink thread builds
//! each row's key while it encodes the row ([`KeyedRows::push`]); the
//! batcher thread only sorts references and copies each row once into
//! chunks ([`sorted_chunks`]), while the inserter sends the previous batch.
//!
//! The key is [`schema::ATTACKS_ORDER_BY`]: `(toStartOfHour(ts),
//! attack_class, client_ip, host, request_key, rule_id, location)`, encoded
//! so that comparing two keys as bytes gives the tuple's order: the hour as
//! a big-endian `u32`, then each string with `0x00` escaped as `0x00 0xFF`
//! and closed by `0x00 0x00` (so a string sorts before its extensions, as
//! ClickHouse compares `String`s: unsigned bytes, then length).
//!
//! `toStartOfHour` is taken in UTC. A server whose time zone is not a whole
//! number of hours from UTC draws hour boundaries elsewhere; a batch that
//! spans one of them is then not in the server's order, and the server
//! sorts it as before. The order never changes what is stored.
//!
//! [`schema::ATTACKS_ORDER_BY`]: super::schema::ATTACKS_ORDER_BY

use bytes::Bytes;

use super::row::AttackRow;
use super::rowbinary;

/// RowBinary rows, each with its sort key.
#[derive(Debug, Default)]
pub struct KeyedRows {
    rows: Vec<u8>,
    keys: Vec<u8>,
    /// Per row: where its bytes and its key end in `rows` and `keys` (each
    /// starts where the previous row's ends).
    ends: Vec<(usize, usize)>,
}

impl KeyedRows {
    /// Encodes `row` and its key.
    pub fn push(&mut self, row: &AttackRow) {
        rowbinary::encode_attack(row, &mut self.rows);
        push_key(row, &mut self.keys);
        self.ends.push((self.rows.len(), self.keys.len()));
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes of encoded rows (what the insert sends, before compression).
    pub fn row_bytes(&self) -> usize {
        self.rows.len()
    }

    /// (key, row bytes) of every row, in arrival order.
    fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let mut row_start = 0;
        let mut key_start = 0;
        self.ends.iter().map(move |&(row_end, key_end)| {
            let row = self.rows.get(row_start..row_end).unwrap_or_default();
            let key = self.keys.get(key_start..key_end).unwrap_or_default();
            row_start = row_end;
            key_start = key_end;
            (key, row)
        })
    }
}

/// Appends `row`'s sort key to `out` (see the module doc).
pub fn push_key(row: &AttackRow, out: &mut Vec<u8>) {
    out.extend_from_slice(&(row.ts / 3600).to_be_bytes());
    for s in [
        &row.attack_class,
        &row.client_ip,
        &row.host,
        &row.request_key,
        &row.rule_id,
        &row.location,
    ] {
        for &b in s.as_bytes() {
            out.push(b);
            if b == 0 {
                out.push(0xFF);
            }
        }
        out.extend_from_slice(&[0, 0]);
    }
}

/// Every row of `groups` in key order, copied into chunks of at most `chunk_bytes` (a single
/// longer row gets a chunk of its own).
pub fn sorted_chunks(groups: &[KeyedRows], chunk_bytes: usize) -> Vec<Bytes> {
    // The key's first 16 bytes ride along as an integer, so most
    // comparisons never reach the keys themselves (scattered in memory).
    let mut entries: Vec<(u128, &[u8], &[u8])> =
        Vec::with_capacity(groups.iter().map(KeyedRows::len).sum());
    for g in groups {
        entries.extend(g.entries().map(|(key, row)| (prefix(key), key, row)));
    }
    if !entries.windows(2).all(|w| match w {
        [a, b] => (a.0, a.1) <= (b.0, b.1),
        _ => true,
    }) {
        // Equal keys are the same hit sent twice: their order is moot.
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    }
    // One buffer for the whole batch, cut into chunks that share it: one
    // allocation instead of one per chunk (each would be fresh pages).
    let mut buf = Vec::with_capacity(groups.iter().map(KeyedRows::row_bytes).sum());
    let mut cuts = Vec::new();
    let mut chunk_start = 0;
    for (_, _, row) in entries {
        if buf.len() > chunk_start && buf.len() - chunk_start + row.len() > chunk_bytes {
            cuts.push(buf.len());
            chunk_start = buf.len();
        }
        buf.extend_from_slice(row);
    }
    let buf = Bytes::from(buf);
    let mut chunks = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for end in cuts.into_iter().chain(std::iter::once(buf.len())) {
        if end > start {
            chunks.push(buf.slice(start..end));
        }
        start = end;
    }
    chunks
}

/// The first 16 bytes of `key` as a big-endian integer, zero-padded: if two
/// prefixes differ, so do the keys, the same way round.
fn prefix(key: &[u8]) -> u128 {
    let mut p = [0u8; 16];
    let n = key.len().min(16);
    if let (Some(dst), Some(src)) = (p.get_mut(..n), key.get(..n)) {
        dst.copy_from_slice(src);
    }
    u128::from_be_bytes(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::clickhouse::row::tests::record;
    use proptest::prelude::*;

    fn row(i: u32) -> AttackRow {
        AttackRow::from_record(&record(i, true), "s").unwrap()
    }

    type Tuple<'a> = (
        u32,
        &'a [u8],
        &'a [u8],
        &'a [u8],
        &'a [u8],
        &'a [u8],
        &'a [u8],
    );

    /// The tuple ClickHouse sorts by, compared the way it compares.
    fn tuple(r: &AttackRow) -> Tuple<'_> {
        (
            r.ts / 3600,
            r.attack_class.as_bytes(),
            r.client_ip.as_bytes(),
            r.host.as_bytes(),
            r.request_key.as_bytes(),
            r.rule_id.as_bytes(),
            r.location.as_bytes(),
        )
    }

    fn key(r: &AttackRow) -> Vec<u8> {
        let mut k = Vec::new();
        push_key(r, &mut k);
        k
    }

    fn decode(chunks: &[Bytes]) -> Vec<AttackRow> {
        chunks
            .iter()
            .flat_map(|c| rowbinary::decode_attacks(c).unwrap())
            .collect()
    }

    #[test]
    fn strings_sort_as_clickhouse_compares_them() {
        let mut a = row(1);
        let mut b = row(1);
        for (x, y) in [
            ("a", "a\0"),
            ("a", "ab"),
            ("a\0", "a\u{1}"),
            ("", "\0"),
            ("z", "é"), // bytes >= 0x80 sort after ASCII
            ("ab", "b"),
        ] {
            a.host = x.into();
            b.host = y.into();
            assert!(key(&a) < key(&b), "{x:?} < {y:?}");
            assert!(tuple(&a) < tuple(&b));
        }
        // Earlier fields decide before later ones, whatever their lengths.
        a.host = "zzzz".into();
        b.host = "a".into();
        a.client_ip = "1".into();
        b.client_ip = "2".into();
        assert!(key(&a) < key(&b));
        // The hour decides first; seconds within the hour do not.
        a.ts = 7200 + 3599;
        b.ts = 7200;
        a.attack_class = "a".into();
        b.attack_class = "b".into();
        assert!(key(&a) < key(&b));
        b.ts = 3599;
        assert!(key(&a) > key(&b));
    }

    #[test]
    fn chunks_hold_every_row_once_in_order_within_the_byte_bound() {
        let mut groups = vec![KeyedRows::default(), KeyedRows::default()];
        for i in 0..40 {
            let mut r = row(i);
            r.client_ip = format!("10.0.0.{}", (i * 7) % 13);
            groups[(i % 2) as usize].push(&r);
        }
        let one = groups[0].row_bytes() / 20;
        let chunks = sorted_chunks(&groups, one * 3);
        assert!(chunks.iter().all(|c| c.len() <= one * 3 + one));
        assert!(chunks.len() > 10);
        let rows = decode(&chunks);
        assert_eq!(rows.len(), 40);
        assert!(rows.windows(2).all(|w| tuple(&w[0]) <= tuple(&w[1])));
        let mut keys: Vec<String> = rows.iter().map(|r| r.request_key.clone()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 40);
    }

    #[test]
    fn a_row_longer_than_a_chunk_is_a_chunk_of_its_own() {
        let mut g = KeyedRows::default();
        let mut big = row(1);
        big.body_excerpt = "x".repeat(5000);
        g.push(&row(0));
        g.push(&big);
        g.push(&row(2));
        let chunks = sorted_chunks(&[g], 1000);
        assert_eq!(decode(&chunks).len(), 3);
        assert!(chunks.iter().any(|c| c.len() > 5000));
        assert!(sorted_chunks(&[], 1000).is_empty());
    }

    proptest! {
        #[test]
        fn key_order_is_the_tuple_order(
            fields in proptest::collection::vec(
                (0u32..20_000, "[a\\x00\\x01b]{0,3}", "[\\x00a-c]{0,3}", "[a\\x00é]{0,3}"),
                2..30,
            )
        ) {
            let rows: Vec<AttackRow> = fields
                .iter()
                .enumerate()
                .map(|(i, (ts, class, ip, loc))| {
                    let mut r = row(i as u32);
                    r.ts = *ts;
                    r.attack_class = class.clone();
                    r.client_ip = ip.clone();
                    r.host = String::new();
                    r.request_key = "k".into();
                    r.location = loc.clone();
                    r
                })
                .collect();
            let mut g = KeyedRows::default();
            for r in &rows {
                g.push(r);
            }
            let sorted = decode(&sorted_chunks(&[g], 256));
            prop_assert_eq!(sorted.len(), rows.len());
            prop_assert!(sorted.windows(2).all(|w| tuple(&w[0]) <= tuple(&w[1])));
            for r in &rows {
                for s in &rows {
                    prop_assert_eq!(key(r).cmp(&key(s)), tuple(r).cmp(&tuple(s)));
                }
            }
        }
    }
}
