//! The ClickHouse schema: tables, views, and the upgrade of older tables.
//!
//! One list of columns per table ([`ATTACK_COLUMNS`], [`ROLLUP_COLUMNS`]) is
//! the single source for `CREATE TABLE`, for adding columns that an older
//! sensor's table lacks, and (by test) for the row types in `row.rs`.
//!
//! Compatibility: everything here runs on ClickHouse 18.16 (Debian's) and on
//! current releases. No `DateTime64` (time is `ts DateTime` + `ts_us UInt32`
//! micros), no IP domain types (addresses are strings), no `LowCardinality`.
//! Table `TTL` only from 19.6 on ([`ServerVersion::has_table_ttl`]); older
//! servers get retention by dropping whole day partitions (see
//! [`expired_partitions_query`]).
//!
//! Deduplication: `attacks` is a `ReplacingMergeTree` whose sorting key ends
//! with `(request_key, rule_id, location)`, which identify one hit. A batch
//! inserted twice (at-least-once delivery: the server committed but the
//! answer was lost, then the batch was retried or replayed) collapses into
//! one row at the next merge; exact counts before that use `FINAL` or
//! `uniqExact(request_key, rule_id, location)`. The rollup is a
//! `SummingMergeTree`: a duplicate batch there over-counts (documented in
//! the sink's delivery guarantee; the rollup is a traffic gauge).

use std::fmt::Write as _;

/// A server version, as returned by `SELECT version()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ServerVersion {
    /// The oldest supported server: Debian's `clickhouse-server`.
    pub const OLDEST: ServerVersion = ServerVersion {
        major: 18,
        minor: 16,
        patch: 0,
    };

    /// Parses `18.16.1` or `24.3.2.23`; `None` when it is not a version.
    pub fn parse(s: &str) -> Option<ServerVersion> {
        let mut it = s.trim().split('.').map(|p| p.parse::<u32>().ok());
        let major = it.next()??;
        let minor = it.next()??;
        let patch = it.next().flatten().unwrap_or(0);
        Some(ServerVersion {
            major,
            minor,
            patch,
        })
    }

    /// Table-level `TTL` exists from 19.6.
    pub fn has_table_ttl(self) -> bool {
        (self.major, self.minor) >= (19, 6)
    }
}

impl std::fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Name of the attack table.
pub const ATTACKS_TABLE: &str = "attacks";

/// The sorting key of `attacks`: the common queries' filters (time range,
/// class, client, host), then the hit's identity, which `ReplacingMergeTree`
/// collapses duplicates on. The sink sends rows already in this order
/// (`order`), which spares the server its sort.
pub const ATTACKS_ORDER_BY: &str =
    "toStartOfHour(ts), attack_class, client_ip, host, request_key, rule_id, location";

/// Name of the per-minute request rollup table.
pub const ROLLUP_TABLE: &str = "requests_1m";

/// Columns of `attacks`, in row order: (name, type, comment).
pub const ATTACK_COLUMNS: &[(&str, &str)] = &[
    ("ts", "DateTime"),
    ("ts_us", "UInt32"),
    ("sensor", "String"),
    ("request_key", "String"),
    ("src_ip", "String"),
    ("src_port", "UInt16"),
    ("dst_ip", "String"),
    ("dst_port", "UInt16"),
    ("client_ip", "String"),
    ("client_ip_from_header", "UInt8"),
    ("client_ip_claimed", "String"),
    ("method", "String"),
    ("uri", "String"),
    ("host", "String"),
    ("user_agent", "Nullable(String)"),
    ("request_id", "Nullable(String)"),
    ("body_len", "UInt64"),
    ("version", "String"),
    ("complete", "UInt8"),
    ("response_status", "UInt16"),
    ("response_bytes", "UInt64"),
    ("response_time_ms", "UInt32"),
    ("blocked", "UInt8"),
    ("attack_class", "String"),
    ("rule_id", "String"),
    ("severity", "String"),
    ("location", "String"),
    ("matched", "String"),
    ("request_line", "String"),
    ("header_names", "Array(String)"),
    ("header_values", "Array(String)"),
    ("body_excerpt", "String"),
];

/// Columns of `requests_1m`, in row order.
pub const ROLLUP_COLUMNS: &[(&str, &str)] = &[
    ("minute", "DateTime"),
    ("sensor", "String"),
    ("host", "String"),
    ("method", "String"),
    ("status_class", "UInt8"),
    ("requests", "UInt64"),
    ("body_bytes", "UInt64"),
    ("attacked_requests", "UInt64"),
];

/// The views created next to the tables: (name, SELECT over `{db}`).
const VIEWS: &[(&str, &str)] = &[
    (
        "attacks_per_class_hourly",
        "SELECT toStartOfHour(ts) AS hour, attack_class, count() AS hits, \
         uniqExact(request_key) AS requests, uniqExact(client_ip) AS clients \
         FROM {db}.attacks GROUP BY hour, attack_class",
    ),
    (
        "top_client_ips",
        "SELECT client_ip, count() AS hits, uniqExact(request_key) AS requests, \
         groupUniqArray(attack_class) AS classes, min(ts) AS first_seen, max(ts) AS last_seen \
         FROM {db}.attacks GROUP BY client_ip ORDER BY hits DESC LIMIT 100",
    ),
    (
        "top_targets",
        "SELECT host, splitByChar('?', uri)[1] AS path, count() AS hits, \
         uniqExact(client_ip) AS clients, groupUniqArray(attack_class) AS classes \
         FROM {db}.attacks GROUP BY host, path ORDER BY hits DESC LIMIT 100",
    ),
    (
        "newest_attacks",
        "SELECT ts, ts_us, sensor, client_ip, host, method, uri, attack_class, rule_id, \
         severity, location, matched, request_key \
         FROM {db}.attacks ORDER BY ts DESC, ts_us DESC LIMIT 1000",
    ),
];

/// Quotes an identifier with backticks (names come from configuration).
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('`');
    for c in name.chars() {
        match c {
            '`' => out.push_str("\\`"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('`');
    out
}

fn columns_sql(cols: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (i, (name, ty)) in cols.iter().enumerate() {
        let sep = if i + 1 == cols.len() { "" } else { "," };
        let _ = writeln!(s, "    {name} {ty}{sep}");
    }
    s
}

/// The statements that create everything, in order; each one is idempotent
/// (`IF NOT EXISTS`) and none drops or changes existing data.
/// `retention_days == 0` keeps data forever.
pub fn ddl(database: &str, version: ServerVersion, retention_days: u32) -> Vec<String> {
    let db = quote_ident(database);
    let ttl = |col: &str| {
        if retention_days > 0 && version.has_table_ttl() {
            format!("\nTTL {col} + toIntervalDay({retention_days})")
        } else {
            String::new()
        }
    };
    let mut out = vec![format!("CREATE DATABASE IF NOT EXISTS {db}")];
    out.push(format!(
        "CREATE TABLE IF NOT EXISTS {db}.{ATTACKS_TABLE}\n(\n{})\n\
         ENGINE = ReplacingMergeTree()\n\
         PARTITION BY toYYYYMMDD(ts)\n\
         ORDER BY ({ATTACKS_ORDER_BY}){}",
        columns_sql(ATTACK_COLUMNS),
        ttl("ts")
    ));
    out.push(format!(
        "CREATE TABLE IF NOT EXISTS {db}.{ROLLUP_TABLE}\n(\n{})\n\
         ENGINE = SummingMergeTree((requests, body_bytes, attacked_requests))\n\
         PARTITION BY toYYYYMMDD(minute)\n\
         ORDER BY (minute, sensor, host, method, status_class){}",
        columns_sql(ROLLUP_COLUMNS),
        ttl("minute")
    ));
    for (name, select) in VIEWS {
        out.push(format!(
            "CREATE VIEW IF NOT EXISTS {db}.{name} AS {}",
            select.replace("{db}", &db)
        ));
    }
    out
}

/// The DDL `specula schema` prints: for the oldest supported server, with
/// the default database and retention, one statement per paragraph.
pub fn schema_text() -> String {
    schema_text_for(
        "specula",
        ServerVersion::OLDEST,
        super::DEFAULT_RETENTION_DAYS,
    )
}

/// Like [`schema_text`] for a given database, server and retention.
pub fn schema_text_for(database: &str, version: ServerVersion, retention_days: u32) -> String {
    let mut s = String::new();
    for stmt in ddl(database, version, retention_days) {
        s.push_str(&stmt);
        s.push_str(";\n\n");
    }
    s
}

/// `ALTER TABLE ADD COLUMN` for each expected column missing from `present`
/// (the names in `system.columns`). Checking first instead of `ADD COLUMN IF
/// NOT EXISTS` keeps it valid on servers without that clause.
pub fn add_missing_columns(
    database: &str,
    table: &str,
    expected: &[(&str, &str)],
    present: &[String],
) -> Vec<String> {
    let db = quote_ident(database);
    let mut after: Option<&str> = None;
    let mut out = Vec::new();
    for (name, ty) in expected {
        if !present.iter().any(|p| p == name) {
            // AFTER keeps the declared order for readers of `DESCRIBE`.
            let pos = after.map(|a| format!(" AFTER {a}")).unwrap_or_default();
            out.push(format!(
                "ALTER TABLE {db}.{table} ADD COLUMN {name} {ty}{pos}"
            ));
        }
        after = Some(name);
    }
    out
}

/// Columns whose type differs from the expected one: (name, expected, found).
/// Such a table cannot take our rows; the sensor reports it and never alters
/// types itself (that could lose data).
pub fn mismatched_columns<'a>(
    expected: &[(&'a str, &'a str)],
    present: &[(String, String)],
) -> Vec<(&'a str, &'a str, String)> {
    expected
        .iter()
        .filter_map(|(name, ty)| {
            present
                .iter()
                .find(|(n, _)| n == name)
                .filter(|(_, t)| t != ty)
                .map(|(_, t)| (*name, *ty, t.clone()))
        })
        .collect()
}

/// Lists the day partitions of `table` older than `retention_days` before
/// `today` (`YYYYMMDD`), for servers without table TTL.
pub fn expired_partitions_query(database: &str, table: &str) -> String {
    format!(
        "SELECT DISTINCT partition FROM system.parts WHERE database = '{}' AND table = '{}' AND active",
        database.replace('\\', "\\\\").replace('\'', "\\'"),
        table
    )
}

/// The `DROP PARTITION` statements for partitions (`YYYYMMDD` strings)
/// strictly older than `cutoff_yyyymmdd`.
pub fn drop_partitions(
    database: &str,
    table: &str,
    partitions: &[String],
    cutoff_yyyymmdd: u32,
) -> Vec<String> {
    let db = quote_ident(database);
    partitions
        .iter()
        .filter_map(|p| p.trim_matches('\'').parse::<u32>().ok())
        .filter(|p| *p < cutoff_yyyymmdd)
        .map(|p| format!("ALTER TABLE {db}.{table} DROP PARTITION {p}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(
            ServerVersion::parse("18.16.1"),
            Some(ServerVersion {
                major: 18,
                minor: 16,
                patch: 1
            })
        );
        assert_eq!(
            ServerVersion::parse("24.3.2.23").map(|v| (v.major, v.minor)),
            Some((24, 3))
        );
        assert_eq!(ServerVersion::parse("x"), None);
        assert_eq!(ServerVersion::parse("19"), None);
        assert!(!ServerVersion::OLDEST.has_table_ttl());
        assert!(ServerVersion::parse("19.6").unwrap().has_table_ttl());
        assert!(!ServerVersion::parse("19.5.9").unwrap().has_table_ttl());
    }

    #[test]
    fn ddl_is_idempotent_and_version_gated() {
        let old = ddl("specula", ServerVersion::OLDEST, 30);
        assert!(old.iter().all(|s| s.contains("IF NOT EXISTS")));
        assert!(old.iter().all(|s| !s.contains("DROP")));
        assert!(old.iter().all(|s| !s.contains("TTL")));
        assert!(old.iter().all(|s| !s.contains("DateTime64")));
        assert!(old.iter().all(|s| !s.contains("LowCardinality")));
        let new = ddl("specula", ServerVersion::parse("24.8").unwrap(), 30);
        assert!(new[1].contains("TTL ts + toIntervalDay(30)"));
        assert!(new[2].contains("TTL minute + toIntervalDay(30)"));
        let forever = ddl("specula", ServerVersion::parse("24.8").unwrap(), 0);
        assert!(forever.iter().all(|s| !s.contains("TTL")));
    }

    #[test]
    fn every_contract_field_is_a_column() {
        for f in [
            "ts",
            "src_ip",
            "src_port",
            "dst_ip",
            "dst_port",
            "client_ip",
            "method",
            "uri",
            "host",
            "user_agent",
            "request_id",
            "body_len",
            "attack_class",
            "rule_id",
            "severity",
            "location",
            "matched",
            "sensor",
        ] {
            assert!(ATTACK_COLUMNS.iter().any(|(n, _)| *n == f), "{f}");
        }
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("specula"), "`specula`");
        assert_eq!(quote_ident("a`b"), "`a\\`b`");
        assert!(ddl("x`; DROP", ServerVersion::OLDEST, 1)[0].ends_with("`x\\`; DROP`"));
    }

    #[test]
    fn upgrade_adds_only_missing_columns_in_place() {
        let present: Vec<String> = ["ts", "ts_us", "sensor"].map(String::from).to_vec();
        let alters = add_missing_columns("specula", ATTACKS_TABLE, &ATTACK_COLUMNS[..5], &present);
        assert_eq!(
            alters,
            [
                "ALTER TABLE `specula`.attacks ADD COLUMN request_key String AFTER sensor",
                "ALTER TABLE `specula`.attacks ADD COLUMN src_ip String AFTER request_key",
            ]
        );
        let all: Vec<String> = ATTACK_COLUMNS.iter().map(|(n, _)| n.to_string()).collect();
        assert!(add_missing_columns("specula", ATTACKS_TABLE, ATTACK_COLUMNS, &all).is_empty());
    }

    #[test]
    fn type_mismatches_are_found() {
        let present = vec![
            ("src_port".to_string(), "String".to_string()),
            ("ts".to_string(), "DateTime".to_string()),
        ];
        assert_eq!(
            mismatched_columns(ATTACK_COLUMNS, &present),
            [("src_port", "UInt16", "String".to_string())]
        );
    }

    #[test]
    fn retention_drops_only_older_partitions() {
        let parts = ["20240101", "20240102", "'20240103'", "junk"].map(String::from);
        assert_eq!(
            drop_partitions("specula", ATTACKS_TABLE, &parts, 20240103),
            [
                "ALTER TABLE `specula`.attacks DROP PARTITION 20240101",
                "ALTER TABLE `specula`.attacks DROP PARTITION 20240102",
            ]
        );
    }
}
