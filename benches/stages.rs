//! Criterion benchmarks, one per stage, so a regression shows where it happens.
//! Throughput is reported in bytes (or elements) per second.

/// The binary's allocator (src/main.rs), so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use specula::capture::{LinkType, Timestamp};
use specula::decode::{decode_frame, TcpFlags, TcpSegment};
use specula::detect::{DetectLimits, DetectStats, Detector, RuleSet};
use specula::http::{HttpEvent, HttpLimits, HttpSession, HttpStats, Request};
use specula::reassembly::{
    Direction, EndReason, FlowInfo, FlowTable, ReassemblyConfig, Reread, Stamp, StreamHandler,
};
use specula::sink::clickhouse::order::{sorted_chunks, KeyedRows};
use specula::sink::clickhouse::AttackRow;
use specula::sink::{JsonLinesWriter, Record, RecordSink};

const REQ: &[u8] = b"POST /api/v1/orders?id=1234&ref=home HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36\r\nAccept: application/json\r\nCookie: session=abc123; _ga=GA1.2.3\r\nX-Real-IP: 198.51.100.23\r\nX-Request-ID: 5f0c2d1e-aaaa-bbbb-cccc-0123456789ab\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 47\r\n\r\nitem=widget&qty=3&note=please+deliver+after+5pm";

fn ethernet_frame(payload: &[u8]) -> Vec<u8> {
    let builder = etherparse::PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 8445, 1000, 65535)
        .ack(1)
        .psh();
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).expect("frame");
    out
}

fn bench_decode(c: &mut Criterion) {
    let frame = ethernet_frame(REQ);
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("ethernet_ipv4_tcp", |b| {
        b.iter(|| black_box(decode_frame(LinkType::ETHERNET, black_box(&frame))))
    });
    g.finish();
}

struct Count(u64);
impl StreamHandler<()> for Count {
    fn on_data(&mut self, _: &FlowInfo, _: &mut (), _: Direction, _: Stamp, data: &[u8]) {
        self.0 += data.len() as u64;
    }
    fn on_gap(&mut self, _: &FlowInfo, _: &mut (), _: Direction, _: u64) {}
    fn on_end(&mut self, _: &FlowInfo, _: &mut (), _: EndReason) {}
    fn on_restart(&mut self, _: &FlowInfo, _: &mut (), _: Direction) -> Reread {
        Reread::Restarted
    }
}

fn seg(seq: u32, flags: u8, payload: &[u8], port: u16) -> TcpSegment<'_> {
    TcpSegment {
        timestamp: None,
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        src_port: port,
        dst_port: 8445,
        seq,
        ack: 1,
        flags: TcpFlags(flags),
        window: 65535,
        urgent: 0,
        payload,
        tunnel: 0,
    }
}

fn bench_reassembly(c: &mut Criterion) {
    // 1000 flows x 10 in-order segments of 1400 bytes, interleaved.
    let payload = vec![b'a'; 1400];
    let mut g = c.benchmark_group("reassembly");
    g.throughput(Throughput::Bytes(1000 * 10 * 1400));
    g.bench_function("in_order_1000_flows", |b| {
        b.iter_batched(
            || FlowTable::<()>::new(ReassemblyConfig::default()),
            |mut table| {
                let mut h = Count(0);
                for i in 0..10u32 {
                    for f in 0..1000u16 {
                        let s = seg(
                            1000 + i * 1400,
                            TcpFlags::ACK | TcpFlags::PSH,
                            &payload,
                            20000 + f,
                        );
                        table.process(Timestamp(u64::from(i) + 1), &s, &mut h);
                    }
                }
                black_box(h.0)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn pipelined(n: usize) -> Vec<u8> {
    REQ.iter().copied().cycle().take(REQ.len() * n).collect()
}

fn bench_http(c: &mut Criterion) {
    let data = pipelined(100);
    let limits = HttpLimits::default();
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Bytes(data.len() as u64));
    for chunk in [1460usize, 64] {
        g.bench_function(format!("100_requests_chunks_of_{chunk}"), |b| {
            b.iter(|| {
                let mut s = HttpSession::default();
                let mut stats = HttpStats::default();
                let mut out = Vec::with_capacity(128);
                for part in data.chunks(chunk) {
                    s.on_data(
                        &limits,
                        &mut stats,
                        Direction::ToServer,
                        Stamp::default(),
                        part,
                        &mut out,
                    );
                }
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn parsed_requests() -> Vec<Request> {
    let attack = b"GET /search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--&page=2 HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0\r\n\r\n";
    vec![parse_one(REQ), parse_one(attack)]
}

fn bench_detect(c: &mut Criterion) {
    let reqs = parsed_requests();
    assert_eq!(reqs.len(), 2, "bench fixture must parse");
    // Cold: the clean-value cache off, so every iteration inspects every
    // value (the cost of a request whose values were never seen before).
    let cold = Detector::new(
        &RuleSet::builtin(),
        DetectLimits {
            clean_cache_bytes: 0,
            ..DetectLimits::default()
        },
    );
    // Warm: the default cache, and the same request again: what repeated
    // header values cost once they are remembered as clean.
    let warm = Detector::new(&RuleSet::builtin(), DetectLimits::default());
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(1));
    let cases = [
        ("benign_form_post", &cold, &reqs[0]),
        ("sqli_query", &cold, &reqs[1]),
        ("benign_form_post_repeated_warm_cache", &warm, &reqs[0]),
    ];
    for (name, det, req) in cases {
        g.bench_function(name, |b| {
            let mut stats = DetectStats::default();
            let mut hits = Vec::new();
            b.iter(|| {
                hits.clear();
                det.inspect(black_box(req), &mut stats, &mut hits);
                black_box(hits.len())
            })
        });
    }
    g.finish();
}

/// One request parsed from `raw`, which must hold exactly one.
fn parse_one(raw: &[u8]) -> Request {
    let mut out = Vec::new();
    HttpSession::default().on_data(
        &HttpLimits::default(),
        &mut HttpStats::default(),
        Direction::ToServer,
        Stamp::default(),
        raw,
        &mut out,
    );
    let mut reqs = out.into_iter().filter_map(|e| match e {
        HttpEvent::Request(r) => Some(r),
        HttpEvent::Response(_) => None,
    });
    let req = reqs.next().expect("bench fixture must parse");
    assert!(reqs.next().is_none(), "one request per fixture");
    req
}

/// Inspection of one point shape at a time, cache off: each request is the
/// bare `base` plus one kind of value of the benchmark mix (`specula-gen
/// mix`), so a regression in one kind of point shows apart (subtract
/// `base`).
fn bench_detect_points(c: &mut Criterion) {
    let cold = Detector::new(
        &RuleSet::builtin(),
        DetectLimits {
            clean_cache_bytes: 0,
            ..DetectLimits::default()
        },
    );
    let get = |extra_head: &str, target: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: a\r\n{extra_head}\r\n")
    };
    let post = |ctype: &str, body: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let cases = [
        ("base", get("", "/")),
        ("path_with_id", get("", "/api/v1/users/4422/orders")),
        (
            "path_and_query",
            get("", "/api/v1/users/6239/orders?status=open&sort=desc"),
        ),
        (
            "hex_request_id",
            get("X-Request-ID: 00000001000011df1419e55629059384\r\n", "/"),
        ),
        (
            "bearer_token",
            get(
                "Authorization: Bearer 3ea55c2fd6a963737b3b52be263b5d35\r\n",
                "/",
            ),
        ),
        (
            "session_cookie",
            get("Cookie: session=1262d5b022e92ea9; theme=dark\r\n", "/"),
        ),
        (
            "form_body",
            post(
                "application/x-www-form-urlencoded",
                "username=alice732&comment=alert+the+admin+when+done&submit=Send",
            ),
        ),
        (
            "json_body",
            post(
                "application/json",
                r#"{"name":"alice732","items":[1,2,3],"note":"abcdefghijklmnop"}"#,
            ),
        ),
    ];
    let mut g = c.benchmark_group("detect_point");
    g.throughput(Throughput::Elements(1));
    for (name, raw) in cases {
        let req = parse_one(raw.as_bytes());
        g.bench_function(name, |b| {
            let mut stats = DetectStats::default();
            let mut hits = Vec::new();
            b.iter(|| {
                hits.clear();
                cold.inspect(black_box(&req), &mut stats, &mut hits);
                black_box(hits.len())
            })
        });
    }
    g.finish();
}

fn bench_record_encoding(c: &mut Criterion) {
    let rec = Record {
        ts: "2024-05-01T12:00:00.123456Z".into(),
        src_ip: "10.0.0.1".into(),
        src_port: 40000,
        dst_ip: "10.0.0.2".into(),
        dst_port: 8445,
        client_ip: "198.51.100.23".into(),
        method: "GET".into(),
        uri: "/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--".into(),
        host: Some("shop.example.com".into()),
        user_agent: Some("Mozilla/5.0".into()),
        request_id: Some("5f0c2d1e-aaaa-bbbb-cccc-0123456789ab".into()),
        body_len: 0,
        version: "HTTP/1.1".into(),
        complete: true,
        request_key: "0000000000000001-00000000000000ff-0".into(),
        client_ip_from_header: true,
        client_ip_claimed: None,
        response_status: 0,
        response_bytes: 0,
        response_time_ms: 0,
        blocked: false,
        attack: Some(specula::sink::AttackFields {
            attack_class: "sqli",
            rule_id: "sqli-union-select".into(),
            severity: "high",
            location: "query:q".into(),
            matched: "UNION SELECT password".into(),
        }),
        context: None,
        attack_classes: None,
    };
    let batch = vec![rec.clone(); 1000];
    let mut g = c.benchmark_group("sink");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("json_lines_1000_records", |b| {
        let mut w = JsonLinesWriter::new(Box::new(std::io::sink()), "null");
        b.iter(|| w.write_batch(black_box(&batch)))
    });
    g.finish();

    // ClickHouse: a row's conversion, RowBinary encoding and sort key (the
    // sink thread's share), then ordering a 100,000-row batch into chunks
    // (the inserter's serial share, see `sink::clickhouse::order`).
    let rows: Vec<AttackRow> = (0..100_000u32)
        .map(|i| {
            let mut r = AttackRow::from_record(&rec, "sensor-1").unwrap_or_else(|| unreachable!());
            r.client_ip = format!("203.0.{}.{}", (i * 7919) % 256, i % 251);
            r.request_key = format!("{:016x}-00000000000000ff-0", u64::from(i) * 0x9E37_79B9);
            r
        })
        .collect();
    let mut g = c.benchmark_group("sink");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("clickhouse_encode_keyed_1000_records", |b| {
        b.iter(|| {
            let mut keyed = KeyedRows::default();
            for r in black_box(&batch) {
                if let Some(row) = AttackRow::from_record(r, "sensor-1") {
                    keyed.push(&row);
                }
            }
            keyed
        })
    });
    let mut keyed = KeyedRows::default();
    for r in &rows {
        keyed.push(r);
    }
    let groups = vec![keyed];
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.sample_size(20);
    g.bench_function("clickhouse_sort_100000_rows", |b| {
        b.iter(|| sorted_chunks(black_box(&groups), 256 << 10))
    });
    let mut presorted = KeyedRows::default();
    for c in sorted_chunks(&groups, 256 << 10) {
        for r in specula::sink::clickhouse::rowbinary::decode_attacks(&c).unwrap_or_default() {
            presorted.push(&r);
        }
    }
    let presorted = vec![presorted];
    g.bench_function("clickhouse_sort_100000_rows_presorted", |b| {
        b.iter(|| sorted_chunks(black_box(&presorted), 256 << 10))
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_decode,
    bench_reassembly,
    bench_http,
    bench_detect,
    bench_detect_points,
    bench_record_encoding
);
criterion_main!(benches);
