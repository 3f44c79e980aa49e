//! Sustained insert throughput of the ClickHouse sink into a real server
//! (`SPECULA_TEST_CLICKHOUSE_URL`, e.g. from `scripts/clickhouse.sh start`).
//!
//! Every case goes through the whole sink ([`ClickHouseSink`]): `Record` →
//! row conversion, RowBinary and sort key on the caller's thread (in groups
//! of 256, as the pipeline's workers hand them on) → batching and sorting
//! on the batcher thread → LZ4 and HTTP on the inserter thread (one insert
//! in flight) → server. Cases:
//! - `small`: the default record of a typical attack (request line, Host
//!   and User-Agent, no body), ~470 bytes of row; the rows of the shared
//!   CRS corpus average the same size;
//! - `full`: a record with a full context (12 headers, a 1 KiB body
//!   excerpt), ~1.9 KB of row: the worst case of the default masking
//!   settings;
//!
//! each at the high-rate batch (100,000 rows / 64 MiB) and at the default
//! (10,000 rows / 16 MiB). Each case runs `SPECULA_BENCH_REPEAT` times
//! (default 3), each time into a fresh database, and prints the median.
//!
//! Figures per run: wall rows/s and MB/s (uncompressed RowBinary bytes of
//! the rows) from the first write to the end of the final flush; the CPU time
//! of this process (row conversion, encoding, compression, HTTP) per row;
//! and, when the server's pid is known (`SPECULA_BENCH_SERVER_PID`, or the
//! `pid` file of `scripts/clickhouse.sh` in `SPECULA_CH_DIR`), the server's
//! CPU time per row, counted until its background merges of the run are
//! over: that is the sustained cost, which wall figures on a busy machine
//! hide. CPU times come from `/proc/<pid>/stat` (`USER_HZ` = 100 ticks/s).
//!
//! Environment: `SPECULA_BENCH_ROWS` (small rows per run, default
//! 1,000,000; full rows: a quarter), `SPECULA_BENCH_REPEAT` (3),
//! `SPECULA_BENCH_CASES` (a comma list of `small-default`, `small-10k`,
//! `full-default`, `full-10k`; default all), `SPECULA_BENCH_COMPRESSION=0`
//! (LZ4 off), `SPECULA_BENCH_KEEP` (keep the databases).

/// The binary's allocator (src/main.rs), so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use specula::sink::clickhouse::{rowbinary, AttackRow, ClickHouseConfig, ClickHouseSink};
use specula::sink::{AttackFields, Record, RecordSink, RequestContext};

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
        client_ip_claimed: None,
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

/// A record with a full context: 12 headers and a 1 KiB body excerpt.
fn full_record(i: u32) -> Record {
    let mut r = record(i);
    r.method = "POST".into();
    r.body_len = 4096;
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
        ("Content-Length", "4096".to_string()),
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
    let mut body = format!("id={i}&q=%27%20UNION%20SELECT%20password%20FROM%20users--&data=");
    while body.len() < 1024 {
        body.push_str("lorem%20ipsum%20dolor%20sit%20amet%2C%20");
    }
    body.truncate(1024);
    r.context = Some(std::sync::Arc::new(RequestContext {
        request_line: format!("POST {} HTTP/1.1", r.uri),
        headers: headers
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect(),
        body_excerpt: body,
    }));
    r
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// utime + stime of a process, in seconds (`/proc/<pid>/stat`, fields 14
/// and 15 in `USER_HZ` ticks; the command name may hold spaces, so fields
/// are counted after its closing parenthesis).
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn server_pid() -> Option<String> {
    if let Ok(p) = std::env::var("SPECULA_BENCH_SERVER_PID") {
        return Some(p);
    }
    let dir = std::env::var("SPECULA_CH_DIR").ok()?;
    let pid = std::fs::read_to_string(format!("{dir}/pid")).ok()?;
    Some(pid.trim().to_string())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().next().unwrap_or("?").to_string())
        .unwrap_or_else(|_| "?".into())
}

struct Case {
    name: &'static str,
    full: bool,
    batch_rows: usize,
    batch_bytes: usize,
}

const CASES: &[Case] = &[
    Case {
        name: "small-100k",
        full: false,
        batch_rows: 100_000,
        batch_bytes: 64 << 20,
    },
    Case {
        name: "small-default-10k",
        full: false,
        batch_rows: 10_000,
        batch_bytes: 16 << 20,
    },
    Case {
        name: "full-100k",
        full: true,
        batch_rows: 100_000,
        batch_bytes: 64 << 20,
    },
    Case {
        name: "full-default-10k",
        full: true,
        batch_rows: 10_000,
        batch_bytes: 16 << 20,
    },
];

/// One run's figures.
struct Run {
    rows_per_s: f64,
    mb_per_s: f64,
    client_us_per_row: f64,
    /// Until the end of the last insert, and until merges were over.
    server_us_per_row: Option<(f64, f64)>,
    batches: u64,
}

struct Env {
    url: String,
    rt: tokio::runtime::Runtime,
    admin: clickhouse::Client,
    server: Option<String>,
    compression: bool,
    keep: bool,
}

impl Env {
    fn sql(&self, q: &str) {
        self.rt
            .block_on(self.admin.query_raw(q).execute())
            .unwrap_or_else(|e| panic!("{q}: {e}"));
    }

    /// Waits until the server runs no merge of `db` (three empty polls in a row).
    fn wait_merges(&self, db: &str) {
        let mut idle = 0;
        let deadline = Instant::now() + Duration::from_secs(600);
        while idle < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            let n: u64 = self
                .rt
                .block_on(
                    self.admin
                        .query("SELECT count() FROM system.merges WHERE database = ?")
                        .bind(db)
                        .fetch_one(),
                )
                .unwrap_or_else(|e| panic!("system.merges: {e}"));
            idle = if n == 0 { idle + 1 } else { 0 };
        }
    }
}

fn run_case(env: &Env, case: &Case, records: &[Record], rep: usize) -> Run {
    let db = format!("specula_bench_{}_{}_{rep}", std::process::id(), case.name).replace('-', "_");
    let mut sink = ClickHouseSink::start(ClickHouseConfig {
        url: env.url.clone(),
        database: db.clone(),
        sensor: Some("bench".into()),
        retention_days: 0,
        batch_max_rows: case.batch_rows,
        batch_max_bytes: case.batch_bytes,
        compression: env.compression,
        ..ClickHouseConfig::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let me = std::process::id().to_string();
    let server0 = env.server.as_deref().and_then(cpu_secs);
    let client0 = cpu_secs(&me).unwrap_or(0.0);
    let t = Instant::now();
    for chunk in records.chunks(256) {
        sink.write_batch(chunk).unwrap_or_else(|e| panic!("{e}"));
    }
    sink.flush().unwrap_or_else(|e| panic!("{e}"));
    let secs = t.elapsed().as_secs_f64();
    let client = cpu_secs(&me).unwrap_or(0.0) - client0;
    let server1 = env.server.as_deref().and_then(cpu_secs);
    let s = sink.clickhouse_stats();
    drop(sink);
    env.wait_merges(&db);
    let server2 = env.server.as_deref().and_then(cpu_secs);
    let rows = s.attack_rows_inserted as f64;
    assert_eq!(s.attack_rows_inserted, records.len() as u64, "rows lost");
    if !env.keep {
        env.sql(&format!("DROP DATABASE IF EXISTS {db}"));
    }
    Run {
        rows_per_s: rows / secs,
        mb_per_s: s.bytes_inserted as f64 / secs / 1e6,
        client_us_per_row: client * 1e6 / rows,
        server_us_per_row: match (server0, server1, server2) {
            (Some(a), Some(b), Some(c)) => Some(((b - a) * 1e6 / rows, (c - a) * 1e6 / rows)),
            _ => None,
        },
        batches: s.batches_inserted,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes harness=false benches.
    }
    let Ok(url) = std::env::var("SPECULA_TEST_CLICKHOUSE_URL") else {
        eprintln!("SPECULA_TEST_CLICKHOUSE_URL is not set (scripts/clickhouse.sh start)");
        std::process::exit(2);
    };
    let n: u32 = env_or("SPECULA_BENCH_ROWS", 1_000_000);
    let repeat: usize = env_or("SPECULA_BENCH_REPEAT", 3).max(1);
    let wanted = std::env::var("SPECULA_BENCH_CASES").unwrap_or_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let env = Env {
        // The sensor's own builder (TLS for an https:// URL, with the CA
        // in SPECULA_TEST_CLICKHOUSE_CA).
        admin: specula::sink::clickhouse::client(&specula::sink::clickhouse::ClickHouseConfig {
            url: url.clone(),
            tls_ca_file: specula::sink::clickhouse::tls::is_https(&url)
                .then(|| std::env::var_os("SPECULA_TEST_CLICKHOUSE_CA").map(Into::into))
                .flatten(),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}")),
        url,
        rt,
        server: server_pid(),
        compression: std::env::var("SPECULA_BENCH_COMPRESSION").map_or(true, |v| v != "0"),
        keep: std::env::var("SPECULA_BENCH_KEEP").is_ok(),
    };
    if env.server.is_none() {
        println!("server CPU: unknown (set SPECULA_BENCH_SERVER_PID or SPECULA_CH_DIR)");
    }
    let mut small: Vec<Record> = Vec::new();
    let mut full: Vec<Record> = Vec::new();
    for case in CASES {
        if !wanted.is_empty() && !wanted.split(',').any(|w| w == case.name) {
            continue;
        }
        let records = if case.full {
            if full.is_empty() {
                full = (0..(n / 4).max(1)).map(full_record).collect();
            }
            &full
        } else {
            if small.is_empty() {
                small = (0..n).map(record).collect();
            }
            &small
        };
        let row_bytes = records
            .first()
            .and_then(|r| AttackRow::from_record(r, "bench"))
            .map_or(0, |r| {
                let mut buf = Vec::new();
                rowbinary::encode_attack(&r, &mut buf);
                buf.len()
            });
        let mut runs = Vec::new();
        for rep in 0..repeat {
            let load_before = load();
            let r = run_case(&env, case, records, rep);
            let server = r
                .server_us_per_row
                .map_or("server ? µs/row".into(), |(i, m)| {
                    format!("server {i:.2} µs/row inserting, {m:.2} with merges")
                });
            println!(
                "{} run {}: {:.0} rows/s, {:.1} MB/s, {} batches; client {:.2} µs/row; {server}; load {load_before}",
                case.name,
                rep + 1,
                r.rows_per_s,
                r.mb_per_s,
                r.batches,
                r.client_us_per_row,
            );
            runs.push(r);
        }
        let sustained: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.server_us_per_row.map(|(_, m)| m))
            .collect();
        let server = if sustained.is_empty() {
            String::new()
        } else {
            let us = median(sustained);
            format!(
                "; server {us:.2} µs/row with merges = {:.0} rows per server CPU second",
                1e6 / us
            )
        };
        println!(
            "== {} ({} rows of ~{row_bytes} B, batch {} rows / {} MiB, lz4 {}): median of {repeat}: {:.0} rows/s, {:.1} MB/s; client {:.2} µs/row{server}; load now {}",
            case.name,
            records.len(),
            case.batch_rows,
            case.batch_bytes >> 20,
            env.compression,
            median(runs.iter().map(|r| r.rows_per_s).collect()),
            median(runs.iter().map(|r| r.mb_per_s).collect()),
            median(runs.iter().map(|r| r.client_us_per_row).collect()),
            load(),
        );
    }
}
