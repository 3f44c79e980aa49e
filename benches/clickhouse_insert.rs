//! Sustained insert throughput of the ClickHouse sink into a real server
//! (`SPECULA_TEST_CLICKHOUSE_URL`, e.g. from `scripts/clickhouse.sh start`).
//!
//! Two phases, rows/s and MB/s (approximate uncompressed RowBinary bytes):
//! - `sink`: the whole path (`Record` → row conversion on the caller's
//!   thread → batching, RowBinary, LZ4 and HTTP on the inserter thread →
//!   server), plus the rate of the conversion alone;
//! - `rows`: realistic rows as the sensor will write them (a 1 KiB body
//!   excerpt and 12 headers each), inserted in batches exactly as the
//!   inserter does (one insert in flight), with the levers below, so each
//!   lever is measured alone.
//!
//! Environment: `SPECULA_BENCH_ROWS` (default 1,000,000),
//! `SPECULA_BENCH_BATCH_ROWS` (default 10,000), `SPECULA_BENCH_COMPRESSION=0`
//! (LZ4 off), `SPECULA_BENCH_PHASES` (`sink,rows`),
//! `SPECULA_BENCH_SETTINGS` (`name=value,...`, per-insert server settings,
//! `rows` phase), `SPECULA_BENCH_ENGINE` (`rows` phase: `replacing`, the real
//! table; `merge`, a `MergeTree` with the same key; `merge_ts`, a
//! `MergeTree` ordered by `ts` only), `SPECULA_BENCH_KEEP` (keep the database).

use std::time::Instant;

use specula::sink::clickhouse::schema::ATTACK_COLUMNS;
use specula::sink::clickhouse::{AttackRow, ClickHouseConfig, ClickHouseSink};
use specula::sink::{AttackFields, Record, RecordSink};

fn record(i: u32) -> Record {
    Record {
        ts: format!(
            "2024-05-01T12:{:02}:{:02}.{:06}Z",
            (i / 60) % 60,
            i % 60,
            i % 1_000_000
        ),
        src_ip: format!("10.0.{}.{}", i / 256 % 256, i % 256),
        src_port: 40000 + (i % 1000) as u16,
        dst_ip: "10.0.0.2".into(),
        dst_port: 8445,
        client_ip: format!("203.0.113.{}", i % 250),
        method: "GET".into(),
        uri: format!("/search?q={i}%27%20UNION%20SELECT%20password%20FROM%20users--"),
        host: Some("shop.example".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) sqlmap/1.7".into()),
        request_id: None,
        body_len: 0,
        version: "HTTP/1.1".into(),
        complete: true,
        request_key: format!("{:016x}-beef-0", u64::from(i) * 1_000_000_007),
        client_ip_from_header: false,
        response_status: 0,
        response_bytes: 0,
        response_time_ms: 0,
        blocked: false,
        attack: Some(AttackFields {
            attack_class: "sqli",
            rule_id: "sqli-union-select".into(),
            severity: "high",
            location: "query:q".into(),
            matched: "' UNION SELECT password FROM users--".into(),
        }),
        context: None,
        attack_classes: None,
    }
}

/// A row as the sensor will write it once the record carries the request's
/// headers and body: 12 headers and a 1 KiB body excerpt.
fn realistic_row(i: u32) -> AttackRow {
    let mut row = AttackRow::from_record(&record(i), "bench").unwrap_or_else(|| panic!("attack"));
    let headers = [
        ("Host", "shop.example".to_string()),
        (
            "User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64) sqlmap/1.7".to_string(),
        ),
        (
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8".to_string(),
        ),
        ("Accept-Language", "en-US,en;q=0.5".to_string()),
        ("Accept-Encoding", "gzip, deflate, br".to_string()),
        (
            "Content-Type",
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("Content-Length", "1024".to_string()),
        (
            "Cookie",
            format!("session={:032x}; theme=dark", u64::from(i) * 2_654_435_761),
        ),
        ("Referer", "https://shop.example/search".to_string()),
        (
            "X-Forwarded-For",
            format!("203.0.113.{}, 10.0.0.1", i % 250),
        ),
        (
            "X-Request-ID",
            format!("{:08x}-7f3a-4c2e-9b1d-{:012x}", i, u64::from(i) * 31),
        ),
        ("Connection", "keep-alive".to_string()),
    ];
    row.header_names = headers.iter().map(|(n, _)| (*n).to_string()).collect();
    row.header_values = headers.into_iter().map(|(_, v)| v).collect();
    let mut body = format!("id={i}&q=%27%20UNION%20SELECT%20password%20FROM%20users--&data=");
    while body.len() < 1024 {
        body.push_str("lorem%20ipsum%20dolor%20sit%20amet%2C%20");
    }
    body.truncate(1024);
    row.body_excerpt = body;
    row
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The `rows` phase: see the module doc.
fn rows_phase(url: &str, db: &str, n: u32, batch: usize, compression: bool) {
    let rows: Vec<AttackRow> = (0..n).map(realistic_row).collect();
    let bytes: usize = rows.iter().map(AttackRow::approx_bytes).sum();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut client = clickhouse::Client::default()
        .with_url(url)
        .with_validation(false)
        .with_compression(if compression {
            clickhouse::Compression::Lz4
        } else {
            clickhouse::Compression::None
        });
    let settings = std::env::var("SPECULA_BENCH_SETTINGS").unwrap_or_default();
    for kv in settings.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .unwrap_or_else(|| panic!("bad setting {kv}"));
        client = client.with_setting(k, v);
    }
    let engine = std::env::var("SPECULA_BENCH_ENGINE").unwrap_or_else(|_| "replacing".into());
    let table = format!("rows_{engine}");
    let cols: Vec<String> = ATTACK_COLUMNS
        .iter()
        .map(|(n, t)| format!("{n} {t}"))
        .collect();
    let (eng, key) = match engine.as_str() {
        "replacing" => (
            "ReplacingMergeTree()",
            "(toStartOfHour(ts), attack_class, client_ip, host, request_key, rule_id, location)",
        ),
        "merge" => (
            "MergeTree()",
            "(toStartOfHour(ts), attack_class, client_ip, host, request_key, rule_id, location)",
        ),
        "merge_ts" => ("MergeTree()", "ts"),
        other => panic!("SPECULA_BENCH_ENGINE={other}: replacing, merge or merge_ts"),
    };
    let admin = client.clone();
    let ddl = format!(
        "CREATE TABLE {db}.{table} ({}) ENGINE = {eng} PARTITION BY toYYYYMMDD(ts) ORDER BY {key}",
        cols.join(", ")
    );
    rt.block_on(admin.query_raw(&ddl).execute())
        .unwrap_or_else(|e| panic!("{ddl}: {e}"));
    let client = client.with_database(db);
    let t = Instant::now();
    for chunk in rows.chunks(batch) {
        rt.block_on(async {
            let mut ins = client.insert::<AttackRow>(&table).await?;
            for r in chunk {
                ins.write(r).await?;
            }
            ins.end().await
        })
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "rows phase ({engine}, batch {batch}, lz4 {compression}, settings [{settings}]): {:.0} rows/s, {:.1} MB/s ({} rows of ~{} bytes, {:.2} s)",
        f64::from(n) / secs,
        bytes as f64 / secs / 1e6,
        n,
        bytes / rows.len().max(1),
        secs
    );
    // Encoding alone (RowBinary into memory), the client's share of the work.
    let t = Instant::now();
    let mut sink = Vec::with_capacity(bytes + rows.len() * 64);
    for r in &rows {
        encode_row_binary(r, &mut sink);
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "  row building + copy into a buffer alone: {:.0} rows/s ({} bytes)",
        f64::from(n) / secs,
        sink.len()
    );
}

/// A stand-in for the crate's RowBinary encoder: the same bytes moved, to
/// bound the client's share (length-prefixed strings and fixed integers).
fn encode_row_binary(r: &AttackRow, out: &mut Vec<u8>) {
    fn s(out: &mut Vec<u8>, v: &str) {
        let mut n = v.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(&r.ts.to_le_bytes());
    out.extend_from_slice(&r.ts_us.to_le_bytes());
    for v in [&r.sensor, &r.request_key, &r.src_ip] {
        s(out, v);
    }
    out.extend_from_slice(&r.src_port.to_le_bytes());
    s(out, &r.dst_ip);
    out.extend_from_slice(&r.dst_port.to_le_bytes());
    s(out, &r.client_ip);
    out.push(r.client_ip_from_header);
    for v in [&r.method, &r.uri, &r.host] {
        s(out, v);
    }
    for v in [&r.user_agent, &r.request_id] {
        match v {
            Some(v) => {
                out.push(0);
                s(out, v);
            }
            None => out.push(1),
        }
    }
    out.extend_from_slice(&r.body_len.to_le_bytes());
    s(out, &r.version);
    out.push(r.complete);
    for v in [
        &r.attack_class,
        &r.rule_id,
        &r.severity,
        &r.location,
        &r.matched,
        &r.request_line,
    ] {
        s(out, v);
    }
    for list in [&r.header_names, &r.header_values] {
        out.push(list.len() as u8);
        for v in list {
            s(out, v);
        }
    }
    s(out, &r.body_excerpt);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes harness=false benches.
    }
    let Ok(url) = std::env::var("SPECULA_TEST_CLICKHOUSE_URL") else {
        eprintln!("SPECULA_TEST_CLICKHOUSE_URL is not set (scripts/clickhouse.sh start)");
        std::process::exit(2);
    };
    let n: u32 = std::env::var("SPECULA_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let batch_rows: usize = env_or("SPECULA_BENCH_BATCH_ROWS", 10_000);
    let compression = std::env::var("SPECULA_BENCH_COMPRESSION").map_or(true, |v| v != "0");
    let phases = std::env::var("SPECULA_BENCH_PHASES").unwrap_or_else(|_| "sink,rows".into());
    let db = format!("specula_bench_{}", std::process::id());
    if phases.contains("sink") {
        sink_phase(&url, &db, n, batch_rows, compression);
    }
    if phases.contains("rows") {
        let ddl = format!("CREATE DATABASE IF NOT EXISTS {db}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let client = clickhouse::Client::default().with_url(url.as_str());
        rt.block_on(client.query_raw(&ddl).execute())
            .unwrap_or_else(|e| panic!("{e}"));
        rows_phase(&url, &db, n, batch_rows, compression);
    }
    if std::env::var("SPECULA_BENCH_KEEP").is_ok() {
        println!("kept database {db}");
        return;
    }
    let _ = std::process::Command::new("curl")
        .args([
            "-sS",
            "--data-binary",
            &format!("DROP DATABASE IF EXISTS {db}"),
        ])
        .arg(&url)
        .status();
}

/// The `sink` phase: see the module doc.
fn sink_phase(url: &str, db: &str, n: u32, batch_rows: usize, compression: bool) {
    let records: Vec<Record> = (0..n).map(record).collect();

    let t = Instant::now();
    let rows: usize = records
        .iter()
        .filter_map(|r| AttackRow::from_record(r, "bench"))
        .map(|r| r.approx_bytes())
        .sum();
    let conv = t.elapsed().as_secs_f64();
    println!(
        "conversion only: {:.0} rows/s ({:.1} MB/s)",
        f64::from(n) / conv,
        rows as f64 / conv / 1e6
    );

    let mut sink = ClickHouseSink::start(ClickHouseConfig {
        url: url.to_string(),
        database: db.to_string(),
        sensor: Some("bench".into()),
        retention_days: 0,
        batch_max_rows: batch_rows,
        compression,
        ..ClickHouseConfig::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    for chunk in records.chunks(1024) {
        sink.write_batch(chunk).unwrap_or_else(|e| panic!("{e}"));
    }
    sink.flush().unwrap_or_else(|e| panic!("{e}"));
    let secs = t.elapsed().as_secs_f64();
    let s = sink.clickhouse_stats();
    println!(
        "sink phase (batch {batch_rows}, lz4 {compression}): {:.0} rows/s, {:.1} MB/s ({} rows in {} batches, {:.2} s)",
        s.attack_rows_inserted as f64 / secs,
        s.bytes_inserted as f64 / secs / 1e6,
        s.attack_rows_inserted,
        s.batches_inserted,
        secs
    );
    drop(sink);
}
