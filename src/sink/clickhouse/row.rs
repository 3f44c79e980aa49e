//! Row types of the ClickHouse tables, built from [`Record`]s.
//!
//! Field order and types follow `schema::ATTACK_COLUMNS` / `ROLLUP_COLUMNS`
//! exactly (RowBinary is positional; a test checks the names). The rows are
//! also the spool's payload (JSON Lines), hence `Deserialize`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::sink::Record;

/// Default longest body excerpt, in bytes; the excerpt itself is cut (and
/// masked) by the pipeline (`[masking] body_excerpt_bytes`).
pub const BODY_EXCERPT_MAX_BYTES: usize = 1024;

/// One row of `attacks`.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
pub struct AttackRow {
    /// Seconds since the epoch (`DateTime`).
    pub ts: u32,
    /// Microseconds within `ts`.
    pub ts_us: u32,
    pub sensor: String,
    pub request_key: String,
    pub src_ip: String,
    pub src_port: u16,
    pub dst_ip: String,
    pub dst_port: u16,
    pub client_ip: String,
    pub client_ip_from_header: u8,
    /// An untrusted source's `X-Real-IP`/`X-Forwarded-For` claim; empty if none.
    #[serde(default)]
    pub client_ip_claimed: String,
    pub method: String,
    pub uri: String,
    /// Empty when the request had no `Host` (it is part of the sorting key,
    /// which cannot be `Nullable`).
    pub host: String,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub body_len: u64,
    pub version: String,
    pub complete: u8,
    /// Response fields (0 when no response was seen). Defaulted so that
    /// spool files written before they existed still replay.
    #[serde(default)]
    pub response_status: u16,
    #[serde(default)]
    pub response_bytes: u64,
    #[serde(default)]
    pub response_time_ms: u32,
    #[serde(default)]
    pub blocked: u8,
    pub attack_class: String,
    pub rule_id: String,
    pub severity: String,
    pub location: String,
    pub matched: String,
    pub request_line: String,
    pub header_names: Vec<String>,
    pub header_values: Vec<String>,
    pub body_excerpt: String,
}

/// One row of `requests_1m` (summed by the server).
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
pub struct RollupRow {
    /// Start of the minute, seconds since the epoch.
    pub minute: u32,
    pub sensor: String,
    pub host: String,
    pub method: String,
    /// 1..=5 for 1xx..5xx, 0 when the response was not seen.
    pub status_class: u8,
    pub requests: u64,
    pub body_bytes: u64,
    pub attacked_requests: u64,
}

/// Splits the record's RFC 3339 `ts` into (seconds, micros); the epoch when
/// it cannot be parsed (the pipeline always formats it, so that is a bug
/// upstream, not wire data).
pub fn parse_ts(ts: &str) -> (u32, u32) {
    match chrono::DateTime::parse_from_rfc3339(ts) {
        Ok(dt) => (
            u32::try_from(dt.timestamp()).unwrap_or(0),
            dt.timestamp_subsec_micros(),
        ),
        Err(_) => (0, 0),
    }
}

impl AttackRow {
    /// The row of an attack record; `None` for a request record.
    pub fn from_record(r: &Record, sensor: &str) -> Option<AttackRow> {
        let a = r.attack.as_ref()?;
        let (ts, ts_us) = parse_ts(&r.ts);
        // The request context, as the JSON record carries it (masked by the
        // pipeline). Records built without one (older callers, tests) give
        // what the record has: the rebuilt line and the known headers.
        let (request_line, header_names, header_values, body_excerpt) = match &r.context {
            Some(c) => (
                c.request_line.clone(),
                c.headers.iter().map(|(n, _)| n.clone()).collect(),
                c.headers.iter().map(|(_, v)| v.clone()).collect(),
                c.body_excerpt.clone(),
            ),
            None => {
                let mut names = Vec::new();
                let mut values = Vec::new();
                for (name, value) in [
                    ("Host", &r.host),
                    ("User-Agent", &r.user_agent),
                    ("X-Request-ID", &r.request_id),
                ] {
                    if let Some(v) = value {
                        names.push(name.to_string());
                        values.push(v.clone());
                    }
                }
                (
                    format!("{} {} {}", r.method, r.uri, r.version),
                    names,
                    values,
                    String::new(),
                )
            }
        };
        Some(AttackRow {
            ts,
            ts_us,
            sensor: sensor.to_string(),
            request_key: r.request_key.clone(),
            src_ip: r.src_ip.clone(),
            src_port: r.src_port,
            dst_ip: r.dst_ip.clone(),
            dst_port: r.dst_port,
            client_ip: r.client_ip.clone(),
            client_ip_from_header: u8::from(r.client_ip_from_header),
            client_ip_claimed: r.client_ip_claimed.clone().unwrap_or_default(),
            method: r.method.clone(),
            uri: r.uri.clone(),
            host: r.host.clone().unwrap_or_default(),
            user_agent: r.user_agent.clone(),
            request_id: r.request_id.clone(),
            body_len: r.body_len,
            version: r.version.clone(),
            complete: u8::from(r.complete),
            response_status: r.response_status,
            response_bytes: r.response_bytes,
            response_time_ms: r.response_time_ms,
            blocked: u8::from(r.blocked),
            attack_class: a.attack_class.to_string(),
            rule_id: a.rule_id.clone(),
            severity: a.severity.to_string(),
            location: a.location.clone(),
            matched: a.matched.clone(),
            request_line,
            header_names,
            header_values,
            body_excerpt,
        })
    }

    /// Rough RowBinary size, for the batch byte limit.
    pub fn approx_bytes(&self) -> usize {
        let strings = self.sensor.len()
            + self.request_key.len()
            + self.src_ip.len()
            + self.dst_ip.len()
            + self.client_ip.len()
            + self.method.len()
            + self.uri.len()
            + self.host.len()
            + self.user_agent.as_ref().map_or(0, String::len)
            + self.request_id.as_ref().map_or(0, String::len)
            + self.version.len()
            + self.attack_class.len()
            + self.rule_id.len()
            + self.severity.len()
            + self.location.len()
            + self.matched.len()
            + self.request_line.len()
            + self.header_names.iter().map(String::len).sum::<usize>()
            + self.header_values.iter().map(String::len).sum::<usize>()
            + self.body_excerpt.len();
        // Fixed-width columns plus one length byte per string.
        strings + 80
    }
}

/// 1..=5 for a 1xx..5xx response, 0 when none was seen (or nonsense).
pub fn status_class(status: u16) -> u8 {
    match status / 100 {
        c @ 1..=5 => c as u8,
        _ => 0,
    }
}

/// Key of one rollup cell.
type RollupKey = (u32, String, String, u8);

/// Per-minute request counts accumulated between inserts.
#[derive(Debug, Default)]
pub struct Rollup {
    cells: HashMap<RollupKey, (u64, u64, u64)>,
}

/// Most distinct (minute, host, method) cells held before a flush is forced.
pub const ROLLUP_MAX_CELLS: usize = 100_000;

impl Rollup {
    /// Counts a request record (one without `attack`); attack records are
    /// hits, not requests, and are ignored here.
    pub fn add(&mut self, r: &Record) {
        if r.attack.is_some() {
            return;
        }
        let (ts, _) = parse_ts(&r.ts);
        let key = (
            ts - ts % 60,
            r.host.clone().unwrap_or_default(),
            r.method.clone(),
            status_class(r.response_status),
        );
        let attacked = r.attack_classes.as_ref().is_some_and(|c| !c.is_empty());
        let cell = self.cells.entry(key).or_default();
        cell.0 += 1;
        cell.1 = cell.1.saturating_add(r.body_len);
        cell.2 += u64::from(attacked);
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: Rollup) {
        for (k, (n, b, a)) in other.cells {
            let cell = self.cells.entry(k).or_default();
            cell.0 += n;
            cell.1 = cell.1.saturating_add(b);
            cell.2 += a;
        }
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The rows to insert, emptying the rollup.
    pub fn take(&mut self, sensor: &str) -> Vec<RollupRow> {
        let mut rows: Vec<RollupRow> = self
            .cells
            .drain()
            .map(
                |((minute, host, method, status_class), (requests, body_bytes, attacked))| {
                    RollupRow {
                        minute,
                        sensor: sensor.to_string(),
                        host,
                        method,
                        status_class,
                        requests,
                        body_bytes,
                        attacked_requests: attacked,
                    }
                },
            )
            .collect();
        rows.sort_by(|a, b| {
            (a.minute, &a.host, &a.method, a.status_class).cmp(&(
                b.minute,
                &b.host,
                &b.method,
                b.status_class,
            ))
        });
        rows
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sink::clickhouse::schema::{ATTACK_COLUMNS, ROLLUP_COLUMNS};
    use crate::sink::AttackFields;

    pub(crate) fn record(i: u32, attack: bool) -> Record {
        Record {
            ts: format!("2024-05-01T12:00:{:02}.{:06}Z", i % 60, i),
            src_ip: "10.0.0.1".into(),
            src_port: 40000,
            dst_ip: "10.0.0.2".into(),
            dst_port: 80,
            client_ip: "203.0.113.9".into(),
            method: "GET".into(),
            uri: format!("/q?id={i}%27+OR+1=1"),
            host: Some("example.test".into()),
            user_agent: Some("curl/8".into()),
            request_id: None,
            body_len: 5,
            version: "HTTP/1.1".into(),
            complete: true,
            request_key: format!("{i:x}-abc-0"),
            client_ip_from_header: false,
            client_ip_claimed: None,
            response_status: 0,
            response_bytes: 0,
            response_time_ms: 0,
            blocked: false,
            attack: attack.then(|| AttackFields {
                attack_class: "sqli",
                rule_id: "sqli-001".into(),
                severity: "high",
                location: "query:id".into(),
                matched: "' OR 1=1".into(),
            }),
            context: None,
            attack_classes: (!attack).then(|| vec!["sqli"]),
        }
    }

    #[test]
    fn row_fields_follow_the_schema_order() {
        let row = AttackRow::from_record(&record(1, true), "s").unwrap();
        let v = serde_json::to_value(&row).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut cols: Vec<&str> = ATTACK_COLUMNS.iter().map(|(n, _)| *n).collect();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        cols.sort_unstable();
        assert_eq!(keys_sorted, cols);
        // RowBinary is positional: the declaration order must be the DDL's.
        let names: Vec<&str> = <AttackRow as clickhouse::Row>::COLUMN_NAMES.to_vec();
        let order: Vec<&str> = ATTACK_COLUMNS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, order);
        let names: Vec<&str> = <RollupRow as clickhouse::Row>::COLUMN_NAMES.to_vec();
        let order: Vec<&str> = ROLLUP_COLUMNS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, order);
    }

    #[test]
    fn attack_row_from_record() {
        let row = AttackRow::from_record(&record(7, true), "sensor-a").unwrap();
        assert_eq!(row.ts, 1_714_564_807);
        assert_eq!(row.ts_us, 7);
        assert_eq!(row.sensor, "sensor-a");
        assert_eq!(row.attack_class, "sqli");
        assert_eq!(row.host, "example.test");
        assert_eq!(row.request_line, "GET /q?id=7%27+OR+1=1 HTTP/1.1");
        assert_eq!(row.header_names, ["Host", "User-Agent"]);
        assert_eq!(row.header_values, ["example.test", "curl/8"]);
        assert!(AttackRow::from_record(&record(7, false), "s").is_none());
    }

    #[test]
    fn attack_row_carries_the_records_context() {
        let mut r = record(3, true);
        r.context = Some(std::sync::Arc::new(crate::sink::RequestContext {
            request_line: "POST /login?password=[masked:0123456789ab] HTTP/1.1".into(),
            headers: vec![
                ("Host".into(), "example.test".into()),
                (
                    "Authorization".into(),
                    "Bearer [masked:a1a1a1a1a1a1]".into(),
                ),
                ("X-Odd".into(), "\\xFF".into()),
            ],
            body_excerpt: "user=bob&password=[masked:0123456789ab]".into(),
        }));
        let row = AttackRow::from_record(&r, "s").unwrap();
        assert_eq!(
            row.request_line,
            "POST /login?password=[masked:0123456789ab] HTTP/1.1"
        );
        assert_eq!(row.header_names, ["Host", "Authorization", "X-Odd"]);
        assert_eq!(
            row.header_values,
            ["example.test", "Bearer [masked:a1a1a1a1a1a1]", "\\xFF"]
        );
        assert_eq!(row.body_excerpt, "user=bob&password=[masked:0123456789ab]");
        // JSON and ClickHouse carry the same values: the row's pairs are the record's.
        let json = serde_json::to_value(&r).unwrap();
        let pairs: Vec<(String, String)> = row
            .header_names
            .iter()
            .cloned()
            .zip(row.header_values.iter().cloned())
            .collect();
        assert_eq!(json["headers"], serde_json::to_value(&pairs).unwrap());
        assert_eq!(json["request_line"], row.request_line.as_str());
        assert_eq!(json["body_excerpt"], row.body_excerpt.as_str());
    }

    #[test]
    fn bad_ts_is_the_epoch_not_a_panic() {
        assert_eq!(parse_ts("nonsense"), (0, 0));
        assert_eq!(parse_ts("1960-01-01T00:00:00Z"), (0, 0));
    }

    #[test]
    fn rollup_counts_requests_per_minute() {
        let mut r = Rollup::default();
        for i in 0..3 {
            r.add(&record(i, false));
        }
        r.add(&record(4, true)); // a hit: not a request
        let rows = r.take("s");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].requests, 3);
        assert_eq!(rows[0].body_bytes, 15);
        assert_eq!(rows[0].attacked_requests, 3);
        assert_eq!(rows[0].minute % 60, 0);
        assert!(r.is_empty());
    }

    #[test]
    fn attack_row_carries_the_response_fields() {
        let mut r = record(2, true);
        r.response_status = 403;
        r.response_bytes = 162;
        r.response_time_ms = 12;
        r.blocked = true;
        let row = AttackRow::from_record(&r, "s").unwrap();
        assert_eq!(
            (
                row.response_status,
                row.response_bytes,
                row.response_time_ms,
                row.blocked
            ),
            (403, 162, 12, 1)
        );
    }

    #[test]
    fn spooled_rows_of_the_previous_version_still_replay() {
        let row = AttackRow::from_record(&record(5, true), "s").unwrap();
        let mut v = serde_json::to_value(&row).unwrap();
        let obj = v.as_object_mut().unwrap();
        for k in [
            "response_status",
            "response_bytes",
            "response_time_ms",
            "blocked",
        ] {
            assert!(obj.remove(k).is_some(), "{k}");
        }
        let old: AttackRow = serde_json::from_value(v).unwrap();
        assert_eq!(old, row);
        assert_eq!((old.response_status, old.blocked), (0, 0));
    }

    #[test]
    fn rollup_uses_the_status_class() {
        assert_eq!(
            [0, 99, 100, 204, 304, 403, 503, 600, 999].map(status_class),
            [0, 0, 1, 2, 3, 4, 5, 0, 0]
        );
        let mut roll = Rollup::default();
        for (i, status) in [(0, 200), (1, 200), (2, 403), (3, 0)] {
            let mut r = record(i, false);
            r.response_status = status;
            roll.add(&r);
        }
        let rows = roll.take("s");
        let classes: Vec<(u8, u64)> = rows.iter().map(|r| (r.status_class, r.requests)).collect();
        assert_eq!(classes, [(0, 1), (2, 2), (4, 1)]);
    }
}
