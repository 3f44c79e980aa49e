//! The ClickHouse sink against a real server.
//!
//! Needs `SPECULA_TEST_CLICKHOUSE_URL` (e.g. from `scripts/clickhouse.sh
//! start`); without it every test fails with that message, never skips.
//! Each test uses its own database, so they run in parallel.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use specula::sink::clickhouse::schema::{self, ServerVersion};
use specula::sink::clickhouse::{AttackRow, ClickHouseConfig, ClickHouseSink};
use specula::sink::spool::DEAD_DIR;
use specula::sink::{AttackFields, Record, RecordSink};

fn url() -> String {
    std::env::var("SPECULA_TEST_CLICKHOUSE_URL").unwrap_or_else(|_| {
        panic!(
            "SPECULA_TEST_CLICKHOUSE_URL is not set: start a server with \
             `scripts/clickhouse.sh start` and export its URL"
        )
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The sensor's own client builder, as every ClickHouse client is made.
fn client() -> clickhouse::Client {
    specula::sink::clickhouse::client(&ClickHouseConfig {
        url: url(),
        ..ClickHouseConfig::default()
    })
    .unwrap()
}

fn exec(sql: &str) {
    rt().block_on(client().query_raw(sql).execute())
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn count(sql: &str) -> u64 {
    rt().block_on(client().query_raw(sql).fetch_one::<u64>())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A fresh database name for one test.
fn fresh_db(name: &str) -> String {
    let db = format!("specula_test_{name}_{}", std::process::id());
    exec(&format!("DROP DATABASE IF EXISTS {db}"));
    db
}

fn config(db: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: url(),
        database: db.into(),
        sensor: Some("test-sensor".into()),
        batch_max_age_ms: 50,
        retry_max_attempts: 2,
        retry_initial_delay_ms: 10,
        retry_max_delay_ms: 20,
        replay_interval_ms: 50,
        // The test rows are from 2024: keep them.
        retention_days: 0,
        ..ClickHouseConfig::default()
    }
}

fn record(i: u32, attack: bool) -> Record {
    Record {
        ts: format!("2024-05-01T12:{:02}:{:02}.{:06}Z", (i / 60) % 60, i % 60, i),
        src_ip: format!("10.0.{}.{}", i / 256 % 256, i % 256),
        src_port: 40000 + (i % 1000) as u16,
        dst_ip: "10.0.0.2".into(),
        dst_port: 8445,
        client_ip: format!("203.0.113.{}", i % 7),
        method: if i % 2 == 0 { "GET" } else { "POST" }.into(),
        uri: format!("/q?id={i}%27+OR+1=1&x=\u{e9}\\xFF"),
        host: (i % 3 != 0).then(|| "shop.example".to_string()),
        user_agent: (i % 4 != 0).then(|| format!("agent/{i}")),
        request_id: (i % 5 == 0).then(|| format!("rid-{i}")),
        body_len: u64::from(i) * 3,
        version: "HTTP/1.1".into(),
        complete: i % 6 != 0,
        request_key: format!("{:016x}-beef-0", u64::from(i) * 1_000_000_007),
        client_ip_from_header: i % 2 == 1,
        client_ip_claimed: None,
        response_status: 0,
        response_bytes: 0,
        response_time_ms: 0,
        blocked: false,
        attack: attack.then(|| AttackFields {
            attack_class: ["sqli", "xss", "rce"][(i % 3) as usize],
            rule_id: format!("rule-{}", i % 11),
            severity: "high",
            location: "query:id".into(),
            matched: format!("' OR 1=1 -- {i}"),
        }),
        context: None,
        attack_classes: (!attack).then(|| if i % 2 == 0 { vec!["sqli"] } else { vec![] }),
    }
}

fn read_back(db: &str) -> Vec<AttackRow> {
    let sql = format!("SELECT ?fields FROM {db}.attacks ORDER BY request_key, rule_id");
    rt().block_on(client().query(&sql).fetch_all::<AttackRow>())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn batch_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "batch")
        })
        .count()
}

#[test]
fn inserted_rows_read_back_field_by_field() {
    let db = fresh_db("roundtrip");
    let mut sink = ClickHouseSink::start(config(&db)).unwrap();
    let records: Vec<Record> = (0..50).map(|i| record(i, true)).collect();
    let requests: Vec<Record> = (0..10).map(|i| record(i, false)).collect();
    sink.write_batch(&records[..20]).unwrap();
    sink.write_batch(&requests).unwrap();
    sink.write_batch(&records[20..]).unwrap();
    sink.flush().unwrap();
    assert_eq!(sink.stats().records_written, 50);

    let mut want: Vec<AttackRow> = records
        .iter()
        .map(|r| AttackRow::from_record(r, "test-sensor").unwrap())
        .collect();
    want.sort_by(|a, b| (&a.request_key, &a.rule_id).cmp(&(&b.request_key, &b.rule_id)));
    let got = read_back(&db);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    // Spot checks against the record itself, not only the conversion.
    let r7 = &records[7];
    let g7 = got
        .iter()
        .find(|g| g.request_key == r7.request_key)
        .unwrap();
    assert_eq!(g7.uri, r7.uri);
    assert_eq!(g7.user_agent, r7.user_agent);
    assert_eq!(g7.request_id, None);
    assert_eq!(g7.ts_us, 7);
    assert_eq!(g7.attack_class, "xss");
    assert_eq!(
        count(&format!(
            "SELECT toUInt64(count()) FROM {db}.attacks WHERE ts = toDateTime('2024-05-01 12:00:07', 'UTC')"
        )),
        1
    );

    // The rollup: 10 requests, 5 of them attacked, over one minute.
    assert_eq!(
        count(&format!(
            "SELECT toUInt64(sum(requests)) FROM {db}.requests_1m"
        )),
        10
    );
    assert_eq!(
        count(&format!(
            "SELECT toUInt64(sum(attacked_requests)) FROM {db}.requests_1m"
        )),
        5
    );
    assert_eq!(
        count(&format!(
            "SELECT toUInt64(sum(body_bytes)) FROM {db}.requests_1m"
        )),
        (0..10u64).map(|i| i * 3).sum::<u64>()
    );
    // The views answer.
    for view in [
        "attacks_per_class_hourly",
        "top_client_ips",
        "top_targets",
        "newest_attacks",
    ] {
        assert!(count(&format!("SELECT toUInt64(count()) FROM {db}.{view}")) > 0);
    }
    assert_eq!(
        count(&format!(
            "SELECT toUInt64(sum(hits)) FROM {db}.attacks_per_class_hourly"
        )),
        50
    );
    drop(sink);
    exec(&format!("DROP DATABASE {db}"));
}

#[test]
fn ddl_is_idempotent_on_the_real_server() {
    let db = fresh_db("ddl");
    let v: String = rt()
        .block_on(client().query("SELECT version()").fetch_one())
        .unwrap();
    let version = ServerVersion::parse(&v).unwrap();
    for _ in 0..2 {
        for stmt in schema::ddl(&db, version, 30) {
            exec(&stmt);
        }
        // The oldest-server form also runs (it is what `specula schema` prints).
        for stmt in schema::ddl(&db, ServerVersion::OLDEST, 30) {
            exec(&stmt);
        }
    }
    exec(&format!(
        "INSERT INTO {db}.attacks (ts, attack_class) VALUES (now(), 'sqli')"
    ));
    for stmt in schema::ddl(&db, version, 30) {
        exec(&stmt);
    }
    assert_eq!(
        count(&format!("SELECT toUInt64(count()) FROM {db}.attacks")),
        1
    );
    // `schema_text` is the same statements, separated by `;`.
    let text = schema::schema_text_for(&db, ServerVersion::OLDEST, 30);
    for stmt in text.split(";\n\n").filter(|s| !s.trim().is_empty()) {
        exec(stmt);
    }
    exec(&format!("DROP DATABASE {db}"));
}

#[test]
fn an_older_table_is_upgraded_without_losing_rows() {
    let db = fresh_db("upgrade");
    exec(&format!("CREATE DATABASE {db}"));
    exec(&format!(
        "CREATE TABLE {db}.attacks (ts DateTime, attack_class String, client_ip String, \
         host String, request_key String, rule_id String, location String) \
         ENGINE = MergeTree() PARTITION BY toYYYYMMDD(ts) ORDER BY (ts, attack_class)"
    ));
    exec(&format!(
        "INSERT INTO {db}.attacks (ts, attack_class) VALUES (now(), 'old')"
    ));
    let mut sink = ClickHouseSink::start(config(&db)).unwrap();
    sink.write_batch(&[record(1, true)]).unwrap();
    sink.flush().unwrap();
    assert_eq!(
        count(&format!("SELECT toUInt64(count()) FROM {db}.attacks")),
        2
    );
    assert_eq!(
        count(&format!(
            "SELECT toUInt64(count()) FROM {db}.attacks WHERE rule_id = 'rule-1' AND ts_us = 1 AND sensor = 'test-sensor'"
        )),
        1
    );
    drop(sink);
    exec(&format!("DROP DATABASE {db}"));
}

#[test]
fn a_table_with_other_types_is_refused_at_start() {
    let db = fresh_db("mismatch");
    exec(&format!("CREATE DATABASE {db}"));
    exec(&format!(
        "CREATE TABLE {db}.attacks (ts DateTime, src_port String) \
         ENGINE = MergeTree() PARTITION BY toYYYYMMDD(ts) ORDER BY ts"
    ));
    let err = ClickHouseSink::start(config(&db)).err().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("attacks.src_port is String, expected UInt16"),
        "{msg}"
    );
    exec(&format!("DROP DATABASE {db}"));
}

/// A sink on `db` with a spool; `alter` statements run on its table once it
/// has made it, then two attack records are written and flushed.
fn sink_after_alter(db: &str, alter: &[&str]) -> (ClickHouseSink, tempfile::TempDir) {
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = config(db);
    cfg.spool_dir = Some(spool.path().to_path_buf());
    let mut sink = ClickHouseSink::start(cfg).unwrap();
    for a in alter {
        exec(&format!("ALTER TABLE {db}.attacks {a}"));
    }
    sink.write_batch(&[record(1, true), record(2, true)])
        .unwrap();
    sink.flush().unwrap();
    (sink, spool)
}

#[test]
fn a_column_dropped_under_the_running_sensor_is_restored_and_the_batch_goes_in() {
    let db = fresh_db("dropcol");
    // The inserts now name a column the server does not have (code 16): the
    // table is not the one the sensor made, not the batch at fault.
    let (sink, spool) = sink_after_alter(&db, &["DROP COLUMN body_excerpt"]);
    let s = sink.clickhouse_stats();
    assert_eq!(s.batches_dead_lettered, 0, "{s:?}");
    assert!(s.insert_retries >= 1, "the failed insert is retried: {s:?}");
    assert!(s.healthy, "{s:?}");
    // The retry checked the schema again and restored the column.
    assert_eq!(
        count(&format!("SELECT toUInt64(count()) FROM {db}.attacks")),
        2
    );
    assert_eq!(
        count(&format!(
            "SELECT toUInt64(count()) FROM system.columns WHERE database = '{db}' AND table = 'attacks' AND name = 'body_excerpt'"
        )),
        1
    );
    assert_eq!(batch_files(&spool.path().join(DEAD_DIR)), 0);
    assert_eq!(batch_files(spool.path()), 0);
    drop(sink);
    exec(&format!("DROP DATABASE {db}"));
}

#[test]
fn a_table_whose_types_changed_under_the_running_sensor_keeps_the_batch_in_the_spool() {
    let db = fresh_db("deadletter");
    // A column dropped (the insert fails, the schema is checked again) and
    // another's type changed (the check refuses the table): no insert of
    // this batch can succeed until someone fixes the table, which is the
    // server's fault, not the batch's: it waits in the spool (review
    // round 16), never in `dead/`.
    let (sink, spool) = sink_after_alter(
        &db,
        &["DROP COLUMN body_excerpt", "MODIFY COLUMN src_port String"],
    );
    let s = sink.clickhouse_stats();
    assert_eq!(s.batches_dead_lettered, 0, "{s:?}");
    assert_eq!(s.batches_spooled, 1, "{s:?}");
    assert!(!s.healthy, "a refused insert is a failure: {s:?}");
    let last = s.last_error.as_deref().unwrap_or("");
    assert!(last.contains("attacks.src_port is String"), "{s:?}");
    assert_eq!(batch_files(&spool.path().join(DEAD_DIR)), 0);
    assert_eq!(batch_files(spool.path()), 1);
    assert_eq!(
        count(&format!("SELECT toUInt64(count()) FROM {db}.attacks")),
        0
    );
    drop(sink);
    exec(&format!("DROP DATABASE {db}"));
}

/// Review round 16. Defect: once a column's type differs from the
/// sensor's (an operator's `ALTER ... MODIFY COLUMN`, a newer sensor
/// sharing the database), the schema check turns every insert into a
/// permanent failure: every new batch, and every batch waiting in the spool
/// when it is replayed, goes to `dead/`, which is never replayed and not
/// counted against the spool's cap. Fixing the table brings nothing back:
/// every attack seen meanwhile is gone from ClickHouse. The table being
/// wrong is a server configuration fault, like the full disk or changed
/// password the module doc keeps out of `dead/` ("a full disk or a changed
/// password on the server must not empty the spool into `dead/`"); the
/// batch itself is fine and goes in once the table is repaired. (Vector's
/// ClickHouse sink and Fluent Bit retry such failures, they do not drop
/// the buffer.) Severity: Medium (silent loss of evidence until restart,
/// unbounded `dead/` growth).
#[test]
fn review16_batches_held_while_a_column_type_is_wrong_go_in_once_it_is_fixed() {
    let db = fresh_db("typefix");
    let (mut sink, spool) = sink_after_alter(
        &db,
        &["DROP COLUMN body_excerpt", "MODIFY COLUMN src_port String"],
    );
    // A second batch while the table is still wrong.
    sink.write_batch(&[record(3, true), record(4, true)])
        .unwrap();
    sink.flush().unwrap();
    // The operator repairs the table; the sensor keeps running.
    exec(&format!(
        "ALTER TABLE {db}.attacks MODIFY COLUMN src_port UInt16"
    ));
    sink.write_batch(&[record(5, true), record(6, true)])
        .unwrap();
    sink.flush().unwrap();
    let s = sink.clickhouse_stats();
    let rows = count(&format!("SELECT toUInt64(count()) FROM {db}.attacks"));
    let dead = batch_files(&spool.path().join(DEAD_DIR));
    drop(sink);
    exec(&format!("DROP DATABASE {db}"));
    assert_eq!(
        dead, 0,
        "batches sent to dead/ while the table was wrong: {s:?}"
    );
    assert_eq!(
        rows, 6,
        "rows written while the table was wrong are lost: {s:?}"
    );
}

/// A TCP forwarder to the real server that can be switched on and off, to
/// stage an outage without disturbing the shared server.
struct Proxy {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Proxy {
    /// A port where nothing listens yet.
    /// A port nothing listens on. Tests run in parallel and some start
    /// proxies on the ports they got here, so a port is never handed out
    /// twice in this process (the kernel may give a just-released one again).
    fn closed_port() -> u16 {
        static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
        let mut given = GIVEN.lock().unwrap();
        loop {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            if !given.contains(&port) {
                given.push(port);
                return port;
            }
        }
    }

    fn start(port: u16) -> Proxy {
        let target = url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(&target) else {
                            continue;
                        };
                        let (mut c1, mut s1) =
                            (client.try_clone().unwrap(), server.try_clone().unwrap());
                        let (mut c2, mut s2) = (client, server);
                        thread::spawn(move || {
                            let _ = io::copy(&mut c1, &mut s1);
                            let _ = s1.shutdown(std::net::Shutdown::Write);
                        });
                        thread::spawn(move || {
                            let _ = io::copy(&mut s2, &mut c2);
                            let _ = c2.shutdown(std::net::Shutdown::Write);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[test]
fn an_outage_spools_then_replays_everything_exactly_once() {
    let db = fresh_db("outage");
    let spool = tempfile::tempdir().unwrap();
    let port = Proxy::closed_port();
    let mut cfg = config(&db);
    cfg.url = format!("http://127.0.0.1:{port}");
    cfg.spool_dir = Some(spool.path().to_path_buf());
    cfg.batch_max_rows = 100;
    // Server down at start: with a spool this is not fatal.
    let mut sink = ClickHouseSink::start(cfg).unwrap();
    let records: Vec<Record> = (0..1000).map(|i| record(i, true)).collect();
    for chunk in records.chunks(100) {
        sink.write_batch(chunk).unwrap();
    }
    sink.flush().unwrap();
    let s = sink.clickhouse_stats();
    assert_eq!(s.attack_rows_inserted, 0);
    assert!(s.batches_spooled >= 10, "{s:?}");
    assert!(batch_files(spool.path()) >= 10);
    // What the live metrics and /healthz see during the outage.
    let st = sink.stats();
    assert!(!st.healthy, "{st:?}");
    let err = st.last_error.clone().unwrap_or_default();
    assert!(!err.is_empty(), "{st:?}");
    assert_eq!(st.batches_spooled, s.batches_spooled);
    assert_eq!(st.spool_batches, batch_files(spool.path()) as u64);
    assert!(st.spool_bytes > 0, "{st:?}");

    // The server comes back: the spool drains on its own, in order.
    let _proxy = Proxy::start(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while batch_files(spool.path()) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    sink.flush().unwrap();
    let s = sink.clickhouse_stats();
    assert_eq!(batch_files(spool.path()), 0, "{s:?}");
    assert_eq!(s.attack_rows_inserted, 1000, "{s:?}");
    assert_eq!(s.batches_lost, 0);
    let st = sink.stats();
    assert!(st.healthy, "healthy again after the replay: {st:?}");
    assert_eq!((st.spool_batches, st.spool_bytes), (0, 0), "{st:?}");
    assert_eq!(st.batches_replayed, st.batches_spooled, "{st:?}");
    assert_eq!(
        st.last_error.as_deref(),
        Some(err.as_str()),
        "kept after recovery"
    );
    // Exactly once: no duplicate even before merges.
    assert_eq!(
        count(&format!("SELECT toUInt64(count()) FROM {db}.attacks")),
        1000
    );
    assert_eq!(
        count(&format!(
            "SELECT toUInt64(uniqExact(request_key, rule_id, location)) FROM {db}.attacks"
        )),
        1000
    );
    drop(sink);
    exec(&format!("DROP DATABASE {db}"));
}

#[test]
fn the_spool_survives_a_restart() {
    let db = fresh_db("restart");
    let spool = tempfile::tempdir().unwrap();
    {
        // First life: the server is unreachable, rows are spooled, the
        // sensor stops.
        let mut cfg = config(&db);
        cfg.url = "http://127.0.0.1:1".to_string(); // never bound: see the unreachable test
        cfg.spool_dir = Some(spool.path().to_path_buf());
        let mut sink = ClickHouseSink::start(cfg).unwrap();
        let records: Vec<Record> = (0..300).map(|i| record(i, true)).collect();
        sink.write_batch(&records).unwrap();
        sink.write_batch(&[record(5000, false)]).unwrap();
        sink.flush().unwrap();
        assert_eq!(batch_files(spool.path()), 2); // attacks + rollup
    }
    // Second life: a new instance replays at start.
    let mut cfg = config(&db);
    cfg.spool_dir = Some(spool.path().to_path_buf());
    let mut sink = ClickHouseSink::start(cfg).unwrap();
    sink.flush().unwrap();
    assert_eq!(batch_files(spool.path()), 0);
    assert_eq!(sink.clickhouse_stats().batches_replayed, 2);
    assert_eq!(
        count(&format!("SELECT toUInt64(count()) FROM {db}.attacks")),
        300
    );
    assert_eq!(
        count(&format!(
            "SELECT toUInt64(sum(requests)) FROM {db}.requests_1m"
        )),
        1
    );
    drop(sink);
    exec(&format!("DROP DATABASE {db}"));
}

#[test]
fn unreachable_without_a_spool_is_an_error_at_start() {
    let mut cfg = config("specula_test_unreachable");
    // Port 1 (tcpmux): privileged and never bound by these tests or their
    // neighbours, unlike a port borrowed from the kernel, which a parallel
    // process may take before the sink connects.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", 1)).is_err(),
        "something listens on 127.0.0.1:1; this test needs it closed"
    );
    cfg.url = "http://127.0.0.1:1".to_string();
    let err = ClickHouseSink::start(cfg).err().unwrap();
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}

/// Every row of a sustained stream of inserts arrives; the rate (rows/s and
/// MB/s) is printed for the report, not asserted (speed goals live in
/// `benches/clickhouse_insert.rs`).
#[test]
fn insert_throughput() {
    let db = fresh_db("throughput");
    let mut cfg = config(&db);
    cfg.batch_max_age_ms = 1000;
    let mut sink = ClickHouseSink::start(cfg).unwrap();
    let records: Vec<Record> = (0..10_000).map(|i| record(i, true)).collect();
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        for chunk in records.chunks(500) {
            sink.write_batch(chunk).unwrap();
        }
    }
    sink.flush().unwrap();
    let secs = t.elapsed().as_secs_f64();
    let s = sink.clickhouse_stats();
    let rows = s.attack_rows_inserted as f64;
    eprintln!(
        "clickhouse insert throughput: {:.0} rows/s, {:.1} MB/s ({} rows, {:.2} s)",
        rows / secs,
        s.bytes_inserted as f64 / secs / 1e6,
        s.attack_rows_inserted,
        secs
    );
    assert_eq!(s.attack_rows_inserted, 10_000 * rounds);
    // The 20 rounds re-send the same 10,000 hits: they collapse to one each.
    assert_eq!(
        count(&format!("SELECT count() FROM {db}.attacks FINAL")),
        10_000
    );
    drop(sink);
    exec(&format!("DROP DATABASE {db}"));
}

#[test]
fn the_documented_queries_run_and_answer() {
    use specula::sink::clickhouse::queries::{render, REPORTS};
    let db = fresh_db("queries");
    let mut sink = ClickHouseSink::start(config(&db)).unwrap();
    // Rows stamped now, so the time-windowed reports see them.
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let mut recs: Vec<Record> = (0..20).map(|i| record(i, true)).collect();
    recs.extend((0..20).map(|i| record(i, false)));
    for r in &mut recs {
        r.ts = now.clone();
    }
    sink.write_batch(&recs).unwrap();
    sink.flush().unwrap();
    let params = [
        ("client_ip", "203.0.113.1"),
        ("request_key", recs[0].request_key.as_str()),
    ];
    for report in REPORTS {
        let sql = render(report, &db, &params);
        let n = count(&format!("SELECT toUInt64(count()) FROM ({sql})"));
        assert!(n > 0, "{}: no rows", report.name);
    }
    // Attacks per thousand: 10 of 20 requests were attacked; per host,
    // the no-Host requests (i % 3 == 0) lead with 4 of 7.
    let sql = render(
        REPORTS
            .iter()
            .find(|r| r.name == "attacks-per-1000")
            .unwrap(),
        &db,
        &[],
    );
    assert_eq!(
        count(&format!("SELECT toUInt64(sum(attacked)) FROM ({sql})")),
        10
    );
    assert_eq!(
        count(&format!(
            "SELECT toUInt64(sum(total_requests)) FROM ({sql})"
        )),
        20
    );
    assert_eq!(
        count(&format!("SELECT toUInt64(per_1000) FROM ({sql}) LIMIT 1")),
        571
    );
    drop(sink);
    exec(&format!("DROP DATABASE {db}"));
}

#[test]
fn retention_removes_old_days() {
    let db = fresh_db("retention");
    // A first sensor keeps everything and stores 2024 rows.
    let mut sink = ClickHouseSink::start(config(&db)).unwrap();
    sink.write_batch(&[record(1, true), record(2, true)])
        .unwrap();
    sink.flush().unwrap();
    drop(sink);
    let sql = format!("SELECT toUInt64(count()) FROM {db}.attacks");
    assert_eq!(count(&sql), 2);
    // A sensor with a 30-day retention starts on the same database.
    let mut cfg = config(&db);
    cfg.retention_days = 30;
    let sink = ClickHouseSink::start(cfg).unwrap();
    let v: String = rt()
        .block_on(client().query("SELECT version()").fetch_one())
        .unwrap();
    if ServerVersion::parse(&v).unwrap().has_table_ttl() {
        // Current servers: the table's own TTL (set at creation) expires rows
        // at merge time; the sensor never rewrites an existing table's TTL.
        let ddl: String = rt()
            .block_on(
                client()
                    .query_raw(&format!("SHOW CREATE TABLE {db}.attacks"))
                    .fetch_one(),
            )
            .unwrap();
        assert!(!ddl.is_empty());
    } else {
        // 18.16 has no TTL: the sink's retention pass (at start, then
        // hourly) drops the day partitions past the retention.
        let deadline = Instant::now() + Duration::from_secs(10);
        while count(&sql) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(count(&sql), 0);
    }
    drop(sink);
    exec(&format!("DROP DATABASE {db}"));
}

/// Runs the real pipeline on a capture into `sink` (attack records).
fn run_pipeline(path: &Path, sink: Box<dyn RecordSink>) {
    run_pipeline_emit(path, sink, specula::config::EmitMode::Attacks);
}

/// Runs the real pipeline on a capture into `sink`, emitting `emit`.
fn run_pipeline_emit(path: &Path, sink: Box<dyn RecordSink>, emit: specula::config::EmitMode) {
    use specula::detect::{DetectLimits, Detector, RuleSet};
    use specula::pipeline::{offline, PipelineOptions};
    let opts = PipelineOptions {
        workers: 2,
        emit,
        ..PipelineOptions::new(Arc::new(Detector::new(
            &RuleSet::builtin(),
            DetectLimits::default(),
        )))
    };
    let run = offline::run(
        &[path.to_path_buf()],
        None,
        &mut specula::decode::Decoder::default(),
        opts,
        sink,
        &mut |_, _, _| {},
    )
    .expect("start the pipeline");
    assert!(
        run.outcomes.iter().all(|o| o.error.is_none()),
        "{:?}",
        run.outcomes
    );
    run.sink.unwrap();
}

/// A row read back, in the JSON Lines record's shape.
fn row_as_record_json(r: &AttackRow) -> serde_json::Value {
    let ts = chrono::DateTime::from_timestamp(i64::from(r.ts), r.ts_us * 1000)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let mut v = serde_json::json!({
        "ts": ts,
        "src_ip": r.src_ip, "src_port": r.src_port,
        "dst_ip": r.dst_ip, "dst_port": r.dst_port,
        "client_ip": r.client_ip,
        "method": r.method, "uri": r.uri,
        "host": if r.host.is_empty() { None } else { Some(&r.host) },
        "user_agent": r.user_agent, "request_id": r.request_id,
        "body_len": r.body_len,
        "version": r.version,
        "complete": r.complete == 1,
        "request_key": r.request_key,
        "client_ip_from_header": r.client_ip_from_header == 1,
        "response_status": r.response_status, "response_bytes": r.response_bytes,
        "response_time_ms": r.response_time_ms, "blocked": r.blocked == 1,
        "attack_class": r.attack_class, "rule_id": r.rule_id, "severity": r.severity,
        "location": r.location, "matched": r.matched,
        "request_line": r.request_line,
        "headers": r.header_names.iter().zip(&r.header_values).collect::<Vec<_>>(),
        "body_excerpt": r.body_excerpt,
    });
    if !r.client_ip_claimed.is_empty() {
        v["client_ip_claimed"] = r.client_ip_claimed.clone().into();
    }
    v
}

#[test]
fn a_capture_gives_the_same_rows_as_json_lines() {
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample-mirror.pcap");
    let out = tempfile::NamedTempFile::new().unwrap();
    let file = out.reopen().unwrap();
    run_pipeline(
        &capture,
        Box::new(specula::sink::JsonLinesWriter::new(Box::new(file), "tmp")),
    );
    let mut want: Vec<serde_json::Value> = std::fs::read_to_string(out.path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(want.len() > 10, "the capture has attacks: {}", want.len());

    let db = fresh_db("capture");
    run_pipeline(
        &capture,
        Box::new(ClickHouseSink::start(config(&db)).unwrap()),
    );
    let mut got: Vec<serde_json::Value> = read_back(&db).iter().map(row_as_record_json).collect();
    let key = |v: &serde_json::Value| v.to_string();
    want.sort_by_key(key);
    got.sort_by_key(key);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
    exec(&format!("DROP DATABASE {db}"));
}

/// The attack rows and the request count spooled in `dir`'s batch files.
fn spooled(dir: &Path) -> (Vec<(String, String, String)>, u64) {
    let mut hits = Vec::new();
    let mut requests = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if !path.extension().is_some_and(|x| x == "batch") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if name.ends_with("-attacks.batch") {
                let s = |k: &str| v[k].as_str().unwrap().to_string();
                hits.push((s("request_key"), s("rule_id"), s("location")));
            } else {
                requests += v["requests"].as_u64().unwrap();
            }
        }
    }
    (hits, requests)
}

/// The outage test with a real process: a sensor whose server is
/// down spools its batches, is killed with SIGKILL, and the next run (on an
/// empty capture) delivers every row exactly once and empties the spool.
#[test]
fn a_sigkilled_sensor_loses_nothing_and_the_next_run_delivers_once() {
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    let bin = env!("CARGO_BIN_EXE_specula");
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample-mirror.pcap");
    let bytes = std::fs::read(&capture).unwrap();
    // What the capture holds, from the JSON Lines path.
    let run_jsonl = |emit: &str| -> Vec<serde_json::Value> {
        let out = Command::new(bin)
            .args(["read", "--no-progress", "--emit", emit])
            .arg(&capture)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let mut want: Vec<(String, String, String)> = run_jsonl("attacks")
        .iter()
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            (s("request_key"), s("rule_id"), s("location"))
        })
        .collect();
    want.sort();
    let want_requests = run_jsonl("requests").len() as u64;
    assert!(want.len() > 10 && want_requests > 10, "{}", want.len());

    let db = fresh_db("sigkill");
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let config = dir.path().join("specula.toml");
    std::fs::write(
        &config,
        format!(
            "[pipeline]\n\
             # every segment goes to its worker at once: the pipe stays open\n\
             batch_segments = 1\n\
             [clickhouse]\n\
             database = \"{db}\"\n\
             spool_dir = \"{}\"\n\
             batch_max_age_ms = 50\n\
             retry_max_attempts = 1\n\
             replay_interval_ms = 50\n\
             retention_days = 0\n",
            spool.display()
        ),
    )
    .unwrap();
    let port = Proxy::closed_port();
    let ch_url = format!("http://127.0.0.1:{port}");

    // First life: the server is down; the capture arrives on a pipe that
    // stays open, so the sensor never reaches its orderly end.
    let stderr = std::fs::File::create(dir.path().join("first.stderr")).unwrap();
    let mut child = Command::new(bin)
        .args(["read", "--no-progress", "--config"])
        .arg(&config)
        .args(["--clickhouse", &ch_url, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes).unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (mut hits, requests) = if spool.is_dir() {
            spooled(&spool)
        } else {
            (Vec::new(), 0)
        };
        hits.sort();
        if hits == want && requests == want_requests {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "spool holds {} of {} hits and {requests} of {want_requests} requests; stderr: {}",
            hits.len(),
            want.len(),
            std::fs::read_to_string(dir.path().join("first.stderr")).unwrap()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sensor ended early"
        );
        thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no flush, no destructor runs
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status:?}");
    drop(stdin);
    assert!(batch_files(&spool) >= 2, "attacks and rollup batches");

    // Second life: the server is back; an empty capture (the same pcap
    // header, no packets) is enough for the spool to be replayed.
    let _proxy = Proxy::start(port);
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, bytes.get(..24).unwrap()).unwrap();
    let out = Command::new(bin)
        .args(["read", "--no-progress", "--config"])
        .arg(&config)
        .args(["--clickhouse", &ch_url])
        .arg(&empty)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(batch_files(&spool), 0, "the spool is empty");
    assert_eq!(batch_files(&spool.join(DEAD_DIR)), 0, "nothing rejected");
    let got: Vec<(String, String, String)> = rt()
        .block_on(
            client()
                .query(&format!(
                    "SELECT request_key, rule_id, location FROM {db}.attacks \
                     ORDER BY request_key, rule_id, location"
                ))
                .fetch_all(),
        )
        .unwrap();
    // Exactly once: the same multiset of hits, no duplicate before merges.
    assert_eq!(got, want);
    assert_eq!(
        count(&format!(
            "SELECT toUInt64(sum(requests)) FROM {db}.requests_1m"
        )),
        want_requests
    );
    exec(&format!("DROP DATABASE {db}"));
}

/// Two-sided captures: the attack rows carry the responses, the rollup the
/// status classes, and the documented report separates attacks that reached
/// the application from those refused.
#[test]
fn span_captures_separate_reached_from_blocked_attacks() {
    use specula::sink::clickhouse::queries::{render, REPORTS};
    let db = fresh_db("span");
    for name in ["span-keepalive.pcap", "span-pipelining.pcap"] {
        let capture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name);
        run_pipeline_emit(
            &capture,
            Box::new(ClickHouseSink::start(config(&db)).unwrap()),
            specula::config::EmitMode::Both,
        );
    }
    let mut rows: Vec<(String, u16, u64, u8)> = read_back(&db)
        .iter()
        .map(|r| {
            (
                r.request_id.clone().unwrap(),
                r.response_status,
                r.response_bytes,
                r.blocked,
            )
        })
        .collect();
    rows.sort();
    rows.dedup();
    assert_eq!(
        rows,
        [
            ("span-ka-2".to_string(), 403, 71, 1),
            ("span-ka-6".to_string(), 500, 47, 0),
            ("span-pipe-2".to_string(), 406, 2, 1),
        ]
    );
    // The rollup counts request records by status class (1..5, 0 unseen):
    // 200 OK ×4 + 201 Created; 304; 403 + 406; 500.
    let classes: Vec<(u8, u64)> = rt()
        .block_on(
            client()
                .query(&format!(
                    "SELECT status_class, toUInt64(sum(requests)) FROM {db}.requests_1m \
                     GROUP BY status_class ORDER BY status_class"
                ))
                .fetch_all::<(u8, u64)>(),
        )
        .unwrap();
    assert_eq!(classes, [(2, 6), (3, 1), (4, 2), (5, 1)]);
    // The report, without its time window (the fixtures are from 2026-01-01).
    let report = REPORTS
        .iter()
        .find(|r| r.name == "reached-vs-blocked")
        .unwrap();
    let sql = render(report, &db, &[]).replace("ts >= now() - 86400", "1");
    let got: Vec<(String, u64, u64, u64, u64)> = rt()
        .block_on(
            client()
                .query(&format!(
                    "SELECT attack_class, toUInt64(requests), toUInt64(refused), \
                     toUInt64(reached_app), toUInt64(no_response) FROM ({sql}) \
                     ORDER BY attack_class"
                ))
                .fetch_all::<(String, u64, u64, u64, u64)>(),
        )
        .unwrap();
    assert_eq!(
        got,
        [
            ("ptrav".to_string(), 1, 1, 0, 0),
            ("sqli".to_string(), 2, 1, 1, 0),
        ]
    );
    exec(&format!("DROP DATABASE {db}"));
}

/// The sink sends each batch in the table's sorting order (so the server
/// skips its own sort): the order it computes is the order the server gives
/// `ORDER BY` on the same rows, byte-level string corner cases included.
#[test]
fn batches_are_sent_in_the_servers_sorting_order() {
    use specula::sink::clickhouse::order::{sorted_chunks, KeyedRows};
    use specula::sink::clickhouse::rowbinary::decode_attacks;

    let db = fresh_db("sort_order");
    let mut cfg = config(&db);
    cfg.batch_max_age_ms = 60_000; // one batch, sent by the flush
    let mut sink = ClickHouseSink::start(cfg).unwrap();
    let hosts = ["", "a", "a\0", "a\u{1}", "ab", "b", "\u{e9}", "z"];
    let ips = ["203.0.113.9", "203.0.113.10", "2001:db8::1", ""];
    let records: Vec<Record> = (0..240u32)
        .map(|i| {
            let mut r = record(i, true);
            // Three hours, the later ones first in arrival order.
            r.ts = format!("2024-05-01T{:02}:{:02}:00.000001Z", 14 - i % 3, i % 60);
            r.host = Some(hosts[(i as usize * 5) % hosts.len()].to_string());
            r.client_ip = ips[(i as usize / 3) % ips.len()].to_string();
            if let Some(a) = r.attack.as_mut() {
                a.location = ["query:id", "query:i", "body", ""][(i % 4) as usize].into();
            }
            r
        })
        .collect();
    for chunk in records.chunks(37) {
        sink.write_batch(chunk).unwrap();
    }
    sink.flush().unwrap();
    assert_eq!(sink.clickhouse_stats().batches_inserted, 1); // one insert of every row

    let mut keyed = KeyedRows::default();
    for r in &records {
        keyed.push(&AttackRow::from_record(r, "test-sensor").unwrap());
    }
    let ours: Vec<String> = sorted_chunks(&[keyed], 4096)
        .iter()
        .flat_map(|c| decode_attacks(c).unwrap())
        .map(|r| r.request_key)
        .collect();
    let sql = format!(
        "SELECT request_key FROM {db}.attacks ORDER BY {}",
        schema::ATTACKS_ORDER_BY
    );
    let servers: Vec<String> = rt()
        .block_on(client().query(&sql).fetch_all::<String>())
        .unwrap();
    assert_eq!(servers.len(), 240);
    assert_eq!(ours, servers);
    drop(sink);
    exec(&format!("DROP DATABASE {db}"));
}
