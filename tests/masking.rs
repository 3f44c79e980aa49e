//! Secrets never leave the sensor: a synthetic capture whose requests carry
//! known secrets (Authorization Basic/Bearer, cookies, `password=` in query,
//! form and multipart, JSON `password`/`api_key`, an API-key header, a card
//! number) and attacks in those same requests, run through the `specula`
//! binary. The attacks are found; no secret appears in the output file or on
//! standard error; equal secrets get equal masks; with masking disabled the
//! secrets do appear (so this test can fail).

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use specula::capture::LinkType;
use specula::synth::{write_pcap, TcpConversation, Teardown};

use common::{parse_jsonl, s, specula};

const PASSWORD: &str = "Qz7hunter2Secret";
const BASIC: &str = "dXNlcjpTM2NyZXRQYXNzOTk="; // user:S3cretPass99
const BEARER: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlc2VjcmV0";
const SESSION: &str = "SESSxyz7733secret";
const JSON_PASSWORD: &str = "J50nPassw0rd!";
const API_KEY: &str = "AK-7f3e9d2c1b";
const HEADER_KEY: &str = "XK-99secretkey88";
const FORM_PASSWORD: &str = "F0rmPassw0rd42";
const MULTIPART_PASSWORD: &str = "MultiPartP4ss";
const CARD: &str = "4111 1111 1111 1111";

/// Every secret, and the forms it could leak in.
fn secrets() -> Vec<&'static str> {
    vec![
        PASSWORD,
        BASIC,
        "S3cretPass99",
        BEARER,
        SESSION,
        JSON_PASSWORD,
        API_KEY,
        HEADER_KEY,
        FORM_PASSWORD,
        MULTIPART_PASSWORD,
        CARD,
        "4111111111111111",
    ]
}

fn requests() -> Vec<u8> {
    let mut out = Vec::new();
    // 1: SQL injection in `q`; password in the query, Basic auth, a session cookie.
    out.extend_from_slice(
        format!(
            "GET /search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--&password={PASSWORD}&user=bob HTTP/1.1\r\n\
             Host: shop.example\r\n\
             Authorization: Basic {BASIC}\r\n\
             Cookie: session={SESSION}; theme=dark\r\n\
             \r\n"
        )
        .as_bytes(),
    );
    // 2: SQL injection in the form's password field itself, a Bearer token.
    let form = format!("user=admin&password={FORM_PASSWORD}%27%20OR%20%271%27%3D%271&remember=1");
    out.extend_from_slice(
        format!(
            "POST /login HTTP/1.1\r\n\
             Host: shop.example\r\n\
             Authorization: Bearer {BEARER}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\
             \r\n{form}",
            form.len()
        )
        .as_bytes(),
    );
    // 3: XSS in a JSON comment; JSON password and api_key, a card number, the same session.
    let json = format!(
        r#"{{"user":"bob","password":"{JSON_PASSWORD}","api_key":"{API_KEY}","comment":"<script>alert(document.cookie)</script>","card":"{CARD}"}}"#
    );
    out.extend_from_slice(
        format!(
            "POST /api/v1/profile HTTP/1.1\r\n\
             Host: shop.example\r\n\
             Cookie: session={SESSION}\r\n\
             Content-Type: application/json\r\n\
             Content-Length: {}\r\n\
             \r\n{json}",
            json.len()
        )
        .as_bytes(),
    );
    // 4: path traversal; the same query password, an API key header.
    out.extend_from_slice(
        format!(
            "GET /download?file=../../../../etc/passwd&password={PASSWORD} HTTP/1.1\r\n\
             Host: shop.example\r\n\
             X-Api-Key: {HEADER_KEY}\r\n\
             \r\n"
        )
        .as_bytes(),
    );
    // 5: multipart: XSS in `bio`, a password field.
    let mp = format!(
        "--BND\r\nContent-Disposition: form-data; name=\"bio\"\r\n\r\n<script>alert(1)</script>\r\n\
         --BND\r\nContent-Disposition: form-data; name=\"new_password\"\r\n\r\n{MULTIPART_PASSWORD}\r\n\
         --BND--\r\n"
    );
    out.extend_from_slice(
        format!(
            "POST /account HTTP/1.1\r\n\
             Host: shop.example\r\n\
             Content-Type: multipart/form-data; boundary=BND\r\n\
             Content-Length: {}\r\n\
             \r\n{mp}",
            mp.len()
        )
        .as_bytes(),
    );
    out
}

fn capture(dir: &Path) -> PathBuf {
    let client: SocketAddr = "198.51.100.7:51000".parse().unwrap();
    let server: SocketAddr = "10.0.0.2:8445".parse().unwrap();
    let frames = TcpConversation::new(client, server)
        .handshake(true)
        .client(requests())
        .server_silent(true)
        .mss(536)
        .teardown(Teardown::Fin)
        .frames(LinkType::ETHERNET)
        .unwrap();
    let path = dir.join("secrets.pcap");
    let file = std::fs::File::create(&path).unwrap();
    write_pcap(file, LinkType::ETHERNET, &frames, false, false).unwrap();
    path
}

/// `specula read` of the capture with an optional config and mask key;
/// returns (records, whole output file, stderr).
fn run(
    dir: &Path,
    pcap: &Path,
    config: Option<&str>,
    key: Option<&str>,
    emit: &str,
) -> (Vec<Value>, String, String) {
    let out_path = dir.join(format!("out-{}.jsonl", rand_suffix()));
    let mut cmd = specula();
    cmd.env_remove("SPECULA_MASK_KEY");
    if let Some(k) = key {
        cmd.env("SPECULA_MASK_KEY", k);
    }
    cmd.args(["read", "--no-progress", "--emit", emit, "--output"])
        .arg(&out_path);
    if let Some(c) = config {
        let cp = dir.join(format!("config-{}.toml", rand_suffix()));
        std::fs::write(&cp, c).unwrap();
        cmd.arg("--config").arg(cp);
    }
    cmd.arg(pcap);
    let o: Output = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "specula failed: {stderr}");
    let text = std::fs::read_to_string(&out_path).unwrap();
    (parse_jsonl(text.as_bytes()), text, stderr)
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

fn header(r: &Value, name: &str) -> Option<String> {
    r["headers"].as_array()?.iter().find_map(|pair| {
        let n = pair.get(0)?.as_str()?;
        n.eq_ignore_ascii_case(name)
            .then(|| pair.get(1)?.as_str().map(str::to_string))
            .flatten()
    })
}

/// The `[masked:…]` right after `prefix` in `text`.
fn mask_after(text: &str, prefix: &str) -> String {
    let i = text
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} not in {text:?}"));
    let rest = &text[i + prefix.len()..];
    assert!(
        rest.starts_with("[masked:"),
        "{prefix:?} not masked in {text:?}"
    );
    rest[..21].to_string()
}

fn by_uri<'a>(recs: &'a [Value], part: &str) -> Vec<&'a Value> {
    recs.iter().filter(|r| s(r, "uri").contains(part)).collect()
}

#[test]
fn secrets_are_masked_and_attacks_still_found() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture(dir.path());
    let (recs, text, stderr) = run(dir.path(), &pcap, None, None, "attacks");

    // The attacks are found, in the very requests that carry the secrets.
    let classes: std::collections::BTreeSet<String> =
        recs.iter().map(|r| s(r, "attack_class")).collect();
    for c in ["sqli", "xss", "ptrav"] {
        assert!(classes.contains(c), "{c} missing: {classes:?}\n{text}");
    }
    for part in [
        "/search",
        "/login",
        "/api/v1/profile",
        "/download",
        "/account",
    ] {
        assert!(
            !by_uri(&recs, part).is_empty(),
            "no attack record for {part}\n{text}"
        );
    }
    // The SQLi in the password field is detected, its text masked.
    let login = by_uri(&recs, "/login");
    let pw_hit = login
        .iter()
        .find(|r| s(r, "location") == "body:password")
        .unwrap_or_else(|| panic!("no hit in body:password: {login:?}"));
    assert_eq!(s(pw_hit, "attack_class"), "sqli");
    assert!(s(pw_hit, "matched").starts_with("[masked:"), "{pw_hit}");

    // Not one secret, anywhere.
    for secret in secrets() {
        assert!(
            !text.contains(secret),
            "{secret:?} leaked into the output:\n{text}"
        );
        assert!(!stderr.contains(secret), "{secret:?} leaked to stderr");
    }

    // Context is there, masked.
    let search = by_uri(&recs, "/search")[0];
    assert!(s(search, "request_line").starts_with("GET /search?q="));
    assert!(s(search, "request_line").ends_with(" HTTP/1.1"));
    let auth = header(search, "authorization").unwrap();
    assert!(auth.starts_with("Basic [masked:"), "{auth}");
    assert_eq!(header(search, "host").as_deref(), Some("shop.example"));
    let login_auth = header(login[0], "authorization").unwrap();
    assert!(login_auth.starts_with("Bearer [masked:"), "{login_auth}");
    let excerpt = s(login[0], "body_excerpt");
    assert!(
        excerpt.starts_with("user=admin&password=[masked:"),
        "{excerpt}"
    );
    assert!(excerpt.ends_with("&remember=1"), "{excerpt}");
    let profile = by_uri(&recs, "/api/v1/profile")[0];
    let excerpt = s(profile, "body_excerpt");
    assert!(excerpt.contains(r#""user":"bob""#), "{excerpt}");
    assert!(
        excerpt.contains("<script>"),
        "the attack text is kept: {excerpt}"
    );
    assert!(excerpt.contains(r#""card":"[masked:"#), "{excerpt}");

    // Equal secrets, equal masks: the session cookie in /search and
    // /api/v1/profile; the query password in /search and /download.
    let c1 = mask_after(&header(search, "cookie").unwrap(), "session=");
    let c3 = mask_after(&header(profile, "cookie").unwrap(), "session=");
    assert_eq!(c1, c3);
    // Every cookie value is masked, names kept.
    assert!(header(search, "cookie")
        .unwrap()
        .contains("; theme=[masked:"));
    let download = by_uri(&recs, "/download")[0];
    let p1 = mask_after(&s(search, "uri"), "password=");
    let p4 = mask_after(&s(download, "uri"), "password=");
    assert_eq!(p1, p4);
    assert_eq!(mask_after(&s(download, "request_line"), "password="), p4);
    // Same mask for every hit of one request.
    for r in by_uri(&recs, "/search") {
        assert_eq!(mask_after(&s(r, "uri"), "password="), p1);
    }
    assert_ne!(c1, p1, "different secrets, different masks");
}

#[test]
fn disabled_masking_shows_the_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture(dir.path());
    let (recs, text, _) = run(
        dir.path(),
        &pcap,
        Some("[masking]\nenabled = false\n"),
        None,
        "attacks",
    );
    assert!(!recs.is_empty());
    for secret in [
        PASSWORD,
        BASIC,
        BEARER,
        SESSION,
        JSON_PASSWORD,
        API_KEY,
        HEADER_KEY,
        CARD,
    ] {
        assert!(
            text.contains(secret),
            "{secret:?} should show when masking is off"
        );
    }
    assert!(!text.contains("[masked:"));
}

#[test]
fn the_key_decides_the_masks() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture(dir.path());
    let mask = |config: Option<&str>, key: Option<&str>| {
        let (recs, _, _) = run(dir.path(), &pcap, config, key, "attacks");
        mask_after(&s(by_uri(&recs, "/search")[0], "uri"), "password=")
    };
    let key = "a-long-enough-masking-key-0123456789";
    let env1 = mask(None, Some(key));
    assert_eq!(
        env1,
        mask(None, Some(key)),
        "same key, same mask across runs"
    );
    let key_file = dir.path().join("mask.key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let cfg = format!("[masking]\nkey_file = {:?}\n", key_file.to_str().unwrap());
    assert_eq!(mask(Some(&cfg), None), env1, "the key file keys alike");
    assert_ne!(mask(None, Some("another-key-of-enough-length")), env1);
    // No key: random per run.
    assert_ne!(mask(None, None), mask(None, None));

    // A short key is refused with a message, exit 2, and no output.
    let o = specula()
        .env("SPECULA_MASK_KEY", "short")
        .args(["read", "--no-progress", "--output"])
        .arg(dir.path().join("never.jsonl"))
        .arg(&pcap)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("SPECULA_MASK_KEY"), "{err}");
    assert!(
        !err.contains("short"),
        "the key itself is never printed: {err}"
    );
}

#[test]
fn request_records_carry_a_masked_uri_and_no_context() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = capture(dir.path());
    let (recs, text, _) = run(dir.path(), &pcap, None, None, "requests");
    assert_eq!(recs.len(), 5, "{text}");
    for r in &recs {
        assert!(r.get("headers").is_none() && r.get("request_line").is_none());
        assert!(r.get("body_excerpt").is_none());
    }
    for secret in secrets() {
        assert!(!text.contains(secret), "{secret:?} leaked:\n{text}");
    }
    assert!(s(&recs[0], "uri").contains("password=[masked:"));
}
