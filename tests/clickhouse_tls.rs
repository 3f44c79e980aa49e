//! TLS to ClickHouse against a real server (Debian's 18.16 serving
//! `<https_port>` with a certificate from a private CA).
//!
//! Needs `SPECULA_TEST_CLICKHOUSE_TLS_URL` (`https://127.0.0.1:PORT`) and
//! `SPECULA_TEST_CLICKHOUSE_CA` (the CA's PEM file), as `scripts/clickhouse.sh
//! start` sets up and `https-url` / `ca` print; without them every test fails
//! with that message, never skips. Beside the CA the script leaves
//! `other-ca.crt` (a CA that signed nothing of this server) and
//! `client.crt`/`client.key` (a client certificate from the CA). The server
//! certificate names the IP 127.0.0.1 only, so `https://localhost:PORT` is
//! a host-name mismatch. Each test uses its own database.

use std::path::{Path, PathBuf};
use std::process::Output;

use specula::sink::clickhouse::{client, ClickHouseConfig};

mod common;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: start a server with `scripts/clickhouse.sh start DIR` and export \
             SPECULA_TEST_CLICKHOUSE_TLS_URL=$(scripts/clickhouse.sh https-url DIR) and \
             SPECULA_TEST_CLICKHOUSE_CA=$(scripts/clickhouse.sh ca DIR)"
        )
    })
}

fn tls_url() -> String {
    env("SPECULA_TEST_CLICKHOUSE_TLS_URL")
}

fn ca() -> PathBuf {
    PathBuf::from(env("SPECULA_TEST_CLICKHOUSE_CA"))
}

/// A file the script generated beside the CA.
fn beside_ca(name: &str) -> PathBuf {
    let p = ca().with_file_name(name);
    assert!(p.is_file(), "{} is missing", p.display());
    p
}

fn admin() -> clickhouse::Client {
    client(&ClickHouseConfig {
        url: tls_url(),
        tls_ca_file: Some(ca()),
        ..ClickHouseConfig::default()
    })
    .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn exec(sql: &str) {
    rt().block_on(admin().query_raw(sql).execute())
        .unwrap_or_else(|e| panic!("{sql}: {}", specula::sink::clickhouse::tls::describe(&e)));
}

fn fresh_db(name: &str) -> String {
    let db = format!("specula_tls_{name}_{}", std::process::id());
    exec(&format!("DROP DATABASE IF EXISTS {db}"));
    db
}

fn capture() -> PathBuf {
    common::repo().join("testdata/sample-mirror.pcap")
}

type Hit = (String, String, String, String, String);

/// The attack hits of the capture, from the JSON Lines path.
fn json_hits() -> Vec<Hit> {
    let cap = capture();
    let mut hits: Vec<Hit> = common::run_jsonl(&[
        "read",
        "--no-progress",
        "--emit",
        "attacks",
        cap.to_str().unwrap(),
    ])
    .iter()
    .map(|v| {
        let s = |k: &str| common::s(v, k);
        (
            s("request_key"),
            s("rule_id"),
            s("location"),
            s("matched"),
            s("client_ip"),
        )
    })
    .collect();
    hits.sort();
    assert!(hits.len() > 10, "the capture has attacks: {}", hits.len());
    hits
}

fn db_hits(db: &str) -> Vec<Hit> {
    rt().block_on(
        admin()
            .query(&format!(
                "SELECT request_key, rule_id, location, matched, client_ip FROM {db}.attacks \
                 ORDER BY request_key, rule_id, location, matched"
            ))
            .fetch_all::<Hit>(),
    )
    .unwrap()
}

/// A config file for `specula read`: `[clickhouse]` with these extra lines.
fn config_file(dir: &Path, db: &str, extra: &str) -> PathBuf {
    let path = dir.join("specula.toml");
    std::fs::write(
        &path,
        format!(
            "[clickhouse]\n\
             database = \"{db}\"\n\
             batch_max_age_ms = 50\n\
             retry_max_attempts = 2\n\
             retry_initial_delay_ms = 10\n\
             retry_max_delay_ms = 20\n\
             retention_days = 0\n\
             {extra}"
        ),
    )
    .unwrap();
    path
}

fn read(config: &Path, url: &str, file: &Path) -> Output {
    read_with_roots(config, url, file, None)
}

/// `specula read`; `roots` stands in for the system's trust store
/// (`SSL_CERT_FILE`, read by rustls-native-certs), so the test does not
/// depend on the machine's CA bundle.
fn read_with_roots(config: &Path, url: &str, file: &Path, roots: Option<&Path>) -> Output {
    let mut cmd = common::specula();
    if let Some(r) = roots {
        cmd.env("SSL_CERT_FILE", r).env_remove("SSL_CERT_DIR");
    }
    cmd.args(["read", "--no-progress", "--config"])
        .arg(config)
        .args(["--clickhouse", url])
        .arg(file)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn batch_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "batch")
        })
        .count()
    })
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "\\\\")
}

#[test]
fn https_with_the_private_ca_inserts_the_json_rows() {
    let want = json_hits();
    let db = fresh_db("ok");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(
        dir.path(),
        &db,
        &format!("tls_ca_file = \"{}\"\n", toml_path(&ca())),
    );
    let out = read(&cfg, &tls_url(), &capture());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(db_hits(&db), want);
    exec(&format!("DROP DATABASE {db}"));
}

#[test]
fn a_client_certificate_from_the_ca_is_accepted_one_from_another_ca_is_not() {
    let want = json_hits();
    let db = fresh_db("mtls");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(
        dir.path(),
        &db,
        &format!(
            "tls_ca_file = \"{}\"\ntls_client_cert_file = \"{}\"\ntls_client_key_file = \"{}\"\n",
            toml_path(&ca()),
            toml_path(&beside_ca("client.crt")),
            toml_path(&beside_ca("client.key")),
        ),
    );
    let out = read(&cfg, &tls_url(), &capture());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(db_hits(&db), want);

    // The server asks for a client certificate and refuses one it cannot
    // verify (`verificationMode relaxed` with the CA as `caConfig`).
    let cfg = config_file(
        dir.path(),
        &db,
        &format!(
            "tls_ca_file = \"{}\"\ntls_client_cert_file = \"{}\"\ntls_client_key_file = \"{}\"\n",
            toml_path(&ca()),
            toml_path(&beside_ca("other-ca.crt")),
            toml_path(&beside_ca("other-ca.key")),
        ),
    );
    let out = read(&cfg, &tls_url(), &capture());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.to_ascii_lowercase().contains("unknownca")
            || err.to_ascii_lowercase().contains("unknown ca"),
        "{err}"
    );
    exec(&format!("DROP DATABASE {db}"));
}

/// Without a spool an unverifiable server stops the run at start, with the
/// URL and the reason.
#[test]
fn a_wrong_ca_a_wrong_host_name_or_no_ca_fail_clearly() {
    let db = fresh_db("refused");
    let dir = tempfile::tempdir().unwrap();
    let url = tls_url();
    let port = url.rsplit(':').next().unwrap().to_string();
    let localhost = format!("https://localhost:{port}");
    let with_ca = |ca: &Path| format!("tls_ca_file = \"{}\"\n", toml_path(ca));
    let other = beside_ca("other-ca.crt");
    for (name, extra, roots, url, reason) in [
        (
            "another CA",
            with_ca(&other),
            None,
            url.as_str(),
            "UnknownIssuer",
        ),
        (
            "the system roots (without the private CA)",
            String::new(),
            Some(other.as_path()),
            url.as_str(),
            "UnknownIssuer",
        ),
        (
            "a host name the certificate does not name",
            with_ca(&ca()),
            None,
            localhost.as_str(),
            "not valid for name",
        ),
    ] {
        let cfg = config_file(dir.path(), &db, &extra);
        let out = read_with_roots(&cfg, url, &capture(), roots);
        let err = stderr(&out);
        assert!(!out.status.success(), "{name}: {err}");
        assert!(err.contains(url), "{name}: the URL is named: {err}");
        assert!(err.contains("invalid peer certificate"), "{name}: {err}");
        assert!(err.contains(reason), "{name}: {err}");
        assert!(err.contains("tls_ca_file"), "{name}: a hint: {err}");
    }
    exec(&format!("DROP DATABASE IF EXISTS {db}"));
}

/// With a spool, a server that fails verification is an unreachable server:
/// every batch is spooled (nothing lost), and a run with the right CA
/// replays them.
#[test]
fn batches_refused_by_verification_are_spooled_then_replayed() {
    let want = json_hits();
    let db = fresh_db("spooled");
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let spool_line = format!(
        "spool_dir = \"{}\"\nreplay_interval_ms = 50\n",
        toml_path(&spool)
    );
    let cfg = config_file(
        dir.path(),
        &db,
        &format!(
            "{spool_line}tls_ca_file = \"{}\"\n",
            toml_path(&beside_ca("other-ca.crt"))
        ),
    );
    let out = read(&cfg, &tls_url(), &capture());
    let err = stderr(&out);
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(
        batch_files(&spool) >= 2,
        "attack and rollup batches spooled: {err}"
    );

    // The right CA: an empty capture is enough for the spool to be replayed.
    let empty = dir.path().join("empty.pcap");
    let bytes = std::fs::read(capture()).unwrap();
    std::fs::write(&empty, bytes.get(..24).unwrap()).unwrap();
    let cfg = config_file(
        dir.path(),
        &db,
        &format!("{spool_line}tls_ca_file = \"{}\"\n", toml_path(&ca())),
    );
    let out = read(&cfg, &tls_url(), &empty);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(batch_files(&spool), 0, "the spool is empty");
    assert_eq!(db_hits(&db), want);
    exec(&format!("DROP DATABASE {db}"));
}
