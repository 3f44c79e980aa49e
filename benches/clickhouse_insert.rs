//! Sustained insert throughput of the ClickHouse sink into a real server
//! (`SPECULA_TEST_CLICKHOUSE_URL`, e.g. from `scripts/clickhouse.sh start`).
//!
//! Prints rows/s and MB/s (approximate uncompressed RowBinary bytes) for the
//! whole path (`Record` → row conversion on the caller's thread → batching,
//! RowBinary, LZ4 and HTTP on the inserter thread → server), and the rate of
//! the conversion alone. `SPECULA_BENCH_ROWS` sets the row count (default
//! 1,000,000), `SPECULA_BENCH_BATCH_ROWS` the batch size (default 10,000);
//! `SPECULA_BENCH_COMPRESSION=0` turns LZ4 off.

use std::time::Instant;

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

    let db = format!("specula_bench_{}", std::process::id());
    let mut sink = ClickHouseSink::start(ClickHouseConfig {
        url,
        database: db.clone(),
        sensor: Some("bench".into()),
        retention_days: 0,
        batch_max_rows: std::env::var("SPECULA_BENCH_BATCH_ROWS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10_000),
        compression: std::env::var("SPECULA_BENCH_COMPRESSION").map_or(true, |v| v != "0"),
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
        "clickhouse insert: {:.0} rows/s, {:.1} MB/s ({} rows in {} batches, {:.2} s)",
        s.attack_rows_inserted as f64 / secs,
        s.bytes_inserted as f64 / secs / 1e6,
        s.attack_rows_inserted,
        s.batches_inserted,
        secs
    );
    drop(sink);
    if std::env::var("SPECULA_BENCH_KEEP").is_ok() {
        println!("kept database {db}");
        return;
    }
    let _ = std::process::Command::new("curl")
        .args(["-sS", "--data-binary", &format!("DROP DATABASE {db}")])
        .arg(std::env::var("SPECULA_TEST_CLICKHOUSE_URL").unwrap_or_default())
        .status();
}
