//! Transcript tests (libhtp `.t` style, inline): client chunks, server
//! chunks and gaps in capture order, with the expected requests and
//! responses. Plus property tests over arbitrary splits and bytes.

use proptest::prelude::*;

use super::*;

/// A chunk's stamp where sequence numbers play no part.
fn at(ts: u64) -> Stamp {
    Stamp {
        ts: Timestamp(ts),
        seq: 0,
    }
}

/// Sequence numbers of the first client and server bytes in transcripts
/// (near the wrap, so that stamps are checked across it).
const CLIENT_ISN: u32 = u32::MAX - 40;
const SERVER_ISN: u32 = 7_000;

/// One step of a transcript.
#[derive(Debug, Clone)]
enum Step {
    /// Client → server bytes.
    C(&'static [u8]),
    /// Server → client bytes.
    S(&'static [u8]),
    GapC(u64),
    GapS(u64),
    /// The client's direction starts again elsewhere (`on_restart`).
    RestartC,
    /// The server's direction starts again elsewhere.
    RestartS,
}
use Step::{GapC, GapS, RestartC, RestartS, C, S};

struct Run {
    reqs: Vec<Request>,
    resps: Vec<Response>,
    stats: HttpStats,
    /// What each restart step answered, in order.
    rereads: Vec<Reread>,
}

fn run_with(limits: &HttpLimits, steps: &[Step]) -> Run {
    let mut s = HttpSession::default();
    let mut stats = HttpStats::default();
    let mut out = Vec::new();
    let mut rereads = Vec::new();
    // Each side's bytes are numbered on from its ISN (gaps included; a
    // restart's new bytes too, as a transcript does not say where they are).
    let (mut c_seq, mut s_seq) = (CLIENT_ISN, SERVER_ISN);
    for (i, st) in steps.iter().enumerate() {
        let ts = Timestamp(i as u64);
        match st {
            C(d) => {
                let at = Stamp { ts, seq: c_seq };
                c_seq = c_seq.wrapping_add(d.len() as u32);
                s.on_data(limits, &mut stats, Direction::ToServer, at, d, &mut out)
            }
            S(d) => {
                let at = Stamp { ts, seq: s_seq };
                s_seq = s_seq.wrapping_add(d.len() as u32);
                s.on_data(limits, &mut stats, Direction::ToClient, at, d, &mut out)
            }
            GapC(n) => {
                c_seq = c_seq.wrapping_add(*n as u32);
                s.on_gap(limits, &mut stats, Direction::ToServer, *n, &mut out)
            }
            GapS(n) => {
                s_seq = s_seq.wrapping_add(*n as u32);
                s.on_gap(limits, &mut stats, Direction::ToClient, *n, &mut out)
            }
            RestartC => {
                rereads.push(s.on_restart(limits, &mut stats, Direction::ToServer, &mut out))
            }
            RestartS => {
                rereads.push(s.on_restart(limits, &mut stats, Direction::ToClient, &mut out))
            }
        }
    }
    s.on_end(limits, &mut stats, &mut out);
    let mut reqs = Vec::new();
    let mut resps = Vec::new();
    for e in out {
        match e {
            HttpEvent::Request(r) => reqs.push(r),
            HttpEvent::Response(r) => resps.push(r),
        }
    }
    Run {
        reqs,
        resps,
        stats,
        rereads,
    }
}

fn run(steps: &[Step]) -> Run {
    run_with(&HttpLimits::default(), steps)
}

fn anomalies(list: &[Anomaly]) -> Anomalies {
    let mut a = Anomalies::default();
    for x in list {
        a.set(*x);
    }
    a
}

/// Check the main fields of a request.
#[track_caller]
fn check(
    r: &Request,
    method: &str,
    uri: &str,
    version: Version,
    body: &[u8],
    an: &[Anomaly],
    complete: bool,
) {
    assert_eq!(String::from_utf8_lossy(&r.method), method);
    assert_eq!(String::from_utf8_lossy(&r.uri), uri);
    assert_eq!(r.version, version);
    assert_eq!(r.body, body);
    assert_eq!(
        r.anomalies,
        anomalies(an),
        "anomalies {:?}",
        r.anomalies.iter().collect::<Vec<_>>()
    );
    assert_eq!(r.complete, complete);
}

#[test]
fn simple_get() {
    let r = run(&[
        C(b"GET /index.html?a=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
    ]);
    assert_eq!(r.reqs.len(), 1);
    let q = &r.reqs[0];
    check(q, "GET", "/index.html?a=1", Version::Http11, b"", &[], true);
    assert_eq!(q.header("host"), Some(&b"example.com"[..]));
    assert_eq!(q.header("USER-AGENT"), Some(&b"t"[..]));
    assert_eq!(
        (q.index, q.ts, q.dir),
        (0, Timestamp(0), Direction::ToServer)
    );
    assert_eq!(
        r.resps,
        vec![Response {
            ts: Timestamp(1),
            status: 200,
            body_len: 5,
            request_index: Some(0)
        }]
    );
    assert_eq!(r.stats.requests, 1);
    assert_eq!(r.stats.responses, 1);
}

#[test]
fn keep_alive_and_pairing() {
    let r = run(&[
        C(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        C(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
        S(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 2);
    check(&r.reqs[1], "GET", "/b", Version::Http11, b"", &[], true);
    assert_eq!((r.reqs[1].index, r.reqs[1].ts), (1, Timestamp(2)));
    let pairs: Vec<_> = r
        .resps
        .iter()
        .map(|x| (x.status, x.request_index))
        .collect();
    assert_eq!(pairs, vec![(200, Some(0)), (404, Some(1))]);
}

#[test]
fn pipelining_in_one_chunk() {
    let r = run(&[C(
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /y HTTP/1.1\r\nHost: h\r\n\r\n",
    )]);
    assert_eq!(r.reqs.len(), 2);
    check(&r.reqs[0], "POST", "/x", Version::Http11, b"abc", &[], true);
    check(&r.reqs[1], "GET", "/y", Version::Http11, b"", &[], true);
    assert_eq!(r.reqs[1].index, 1);
}

#[test]
fn content_length_body_split() {
    let r = run(&[
        C(b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123"),
        C(b"456789"),
    ]);
    check(
        &r.reqs[0],
        "POST",
        "/f",
        Version::Http11,
        b"0123456789",
        &[],
        true,
    );
    assert_eq!(r.reqs[0].body_len, 10);
    assert_eq!(r.reqs[0].ts, Timestamp(0));
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let r = run(&[C(
        b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
          3;name=val\r\nabc\r\n2\r\nde\r\n0;last\r\nX-Trailer: yes\r\n\r\nGET /n HTTP/1.1\r\nHost: h\r\n\r\n",
    )]);
    assert_eq!(r.reqs.len(), 2);
    check(
        &r.reqs[0],
        "POST",
        "/c",
        Version::Http11,
        b"abcde",
        &[],
        true,
    );
    assert_eq!(r.reqs[0].body_len, 5);
    // Trailer fields follow the head's fields, marked as such: `header`
    // reads the head only.
    assert_eq!(r.reqs[0].trailers_from, Some(2));
    let last = r.reqs[0].headers.iter().next_back().unwrap();
    assert_eq!((last.name, last.value), (&b"X-Trailer"[..], &b"yes"[..]));
    assert_eq!(r.reqs[0].header("x-trailer"), None);
    check(&r.reqs[1], "GET", "/n", Version::Http11, b"", &[], true);
}

#[test]
fn expect_100_continue() {
    let r = run(&[
        C(b"PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
        S(b"HTTP/1.1 100 Continue\r\n\r\n"),
        C(b"data"),
        S(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 1);
    check(&r.reqs[0], "PUT", "/u", Version::Http11, b"data", &[], true);
    let pairs: Vec<_> = r
        .resps
        .iter()
        .map(|x| (x.status, x.request_index))
        .collect();
    assert_eq!(pairs, vec![(100, Some(0)), (201, Some(0))]);
}

#[test]
fn http10_and_http09() {
    let r = run(&[C(b"GET /old HTTP/1.0\r\n\r\n")]);
    check(&r.reqs[0], "GET", "/old", Version::Http10, b"", &[], true);
    let r = run(&[C(b"GET /path\r\nGET /two HTTP/1.1\r\nHost: h\r\n\r\n")]);
    assert_eq!(r.reqs.len(), 2);
    check(
        &r.reqs[0],
        "GET",
        "/path",
        Version::Http09,
        b"",
        &[Anomaly::UnusualVersion],
        true,
    );
    assert!(r.reqs[0].headers.is_empty());
    check(&r.reqs[1], "GET", "/two", Version::Http11, b"", &[], true);
}

#[test]
fn unusual_version_and_missing_host() {
    let r = run(&[C(
        b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.2\r\nHost: h\r\n\r\n",
    )]);
    check(
        &r.reqs[0],
        "GET",
        "/",
        Version::Http11,
        b"",
        &[Anomaly::MissingHost],
        true,
    );
    check(
        &r.reqs[1],
        "GET",
        "/",
        Version::Other(1, 2),
        b"",
        &[Anomaly::UnusualVersion],
        true,
    );
}

#[test]
fn cl_and_te_te_wins() {
    let r = run(&[C(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n\
          1\r\nA\r\n0\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n",
    )]);
    assert_eq!(r.reqs.len(), 2);
    check(
        &r.reqs[0],
        "POST",
        "/",
        Version::Http11,
        b"A",
        &[Anomaly::ClAndTe],
        true,
    );
    check(&r.reqs[1], "GET", "/after", Version::Http11, b"", &[], true);
}

#[test]
fn duplicate_and_invalid_cl() {
    let r = run(&[C(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nabGET / HTTP/1.1\r\nHost: h\r\n\r\n")]);
    assert_eq!(r.reqs.len(), 2);
    check(
        &r.reqs[0],
        "POST",
        "/",
        Version::Http11,
        b"ab",
        &[Anomaly::DuplicateCl],
        true,
    );
    let r = run(&[C(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\nGET /n HTTP/1.1\r\nHost: h\r\n\r\n")]);
    assert_eq!(r.reqs.len(), 2);
    check(
        &r.reqs[0],
        "POST",
        "/",
        Version::Http11,
        b"",
        &[Anomaly::InvalidCl],
        true,
    );
    check(&r.reqs[1], "GET", "/n", Version::Http11, b"", &[], true);
}

#[test]
fn invalid_chunk_size_resyncs_on_smuggled_request() {
    let r = run(&[C(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n\
          GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
    )]);
    assert_eq!(r.reqs.len(), 2);
    check(
        &r.reqs[0],
        "POST",
        "/",
        Version::Http11,
        b"ab",
        &[Anomaly::InvalidChunk],
        false,
    );
    check(
        &r.reqs[1],
        "GET",
        "/smuggled",
        Version::Http11,
        b"",
        &[],
        true,
    );
    // Garbage size: skipped up to the next request line.
    let r = run(&[C(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /n HTTP/1.1\r\nHost: h\r\n\r\n")]);
    assert_eq!(r.reqs.len(), 2);
    check(
        &r.reqs[1],
        "GET",
        "/n",
        Version::Http11,
        b"",
        &[Anomaly::GarbageBeforeRequest],
        true,
    );
    assert_eq!(r.stats.resync_bytes_skipped, 4);
}

#[test]
fn bare_cr_and_lf_only() {
    let r = run(&[C(b"GET /lf HTTP/1.1\nHost: h\n\n")]);
    check(
        &r.reqs[0],
        "GET",
        "/lf",
        Version::Http11,
        b"",
        &[Anomaly::BareLf],
        true,
    );
    assert_eq!(r.reqs[0].header("host"), Some(&b"h"[..]));
    let r = run(&[C(b"GET /cr HTTP/1.1\r\nHost: h\rX: y\r\n\r\n")]);
    assert_eq!(r.reqs.len(), 1);
    assert!(r.reqs[0].anomalies.has(Anomaly::BareCr));
    assert_eq!(r.reqs[0].uri, b"/cr");
    assert!(r.reqs[0].complete);
}

#[test]
fn spaces_in_uri_and_bad_headers() {
    let r = run(&[C(b"GET /a b c HTTP/1.1\r\nHost: h\r\n\r\n")]);
    check(
        &r.reqs[0],
        "GET",
        "/a b c",
        Version::Http11,
        b"",
        &[Anomaly::SpaceInUri],
        true,
    );
    let r = run(&[C(
        b"GET / HTTP/1.1\r\nHost : h\r\nnocolon\r\nX: a\r\n  folded\r\n\r\n",
    )]);
    let q = &r.reqs[0];
    check(
        q,
        "GET",
        "/",
        Version::Http11,
        b"",
        &[Anomaly::HeaderWhitespace, Anomaly::InvalidHeader],
        true,
    );
    assert_eq!(q.header("host"), Some(&b"h"[..]));
    assert_eq!(q.header("x"), Some(&b"a folded"[..]));
    assert_eq!(q.header("nocolon"), Some(&b""[..]));
}

#[test]
fn header_too_long_at_and_over_limit() {
    const HEAD: &[u8] = b"GET /l HTTP/1.1\r\nHost: h\r\nX-Long: aaaaaaaaaa\r\n\r\n";
    let at = HttpLimits {
        max_header_bytes: HEAD.len(),
        ..HttpLimits::default()
    };
    let r = run_with(&at, &[C(HEAD), C(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")]);
    check(&r.reqs[0], "GET", "/l", Version::Http11, b"", &[], true);
    assert_eq!(r.reqs[0].header("x-long"), Some(&b"aaaaaaaaaa"[..]));
    assert_eq!(r.stats.header_limit_hits, 0);
    let over = HttpLimits {
        max_header_bytes: HEAD.len() - 1,
        ..HttpLimits::default()
    };
    let r = run_with(
        &over,
        &[C(HEAD), C(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n")],
    );
    assert_eq!(r.reqs.len(), 2);
    check(
        &r.reqs[0],
        "GET",
        "/l",
        Version::Http11,
        b"",
        &[Anomaly::HeaderTooLong],
        true,
    );
    assert_eq!(r.reqs[0].header("host"), Some(&b"h"[..]));
    // Only the final LF was cut: every header line was read.
    assert_eq!(r.reqs[0].header("x-long"), Some(&b"aaaaaaaaaa"[..]));
    check(&r.reqs[1], "GET", "/next", Version::Http11, b"", &[], true);
    assert_eq!(r.stats.header_limit_hits, 1);
    // A request line longer than the limit: version read from its end.
    let tiny = HttpLimits {
        max_header_bytes: 18,
        ..HttpLimits::default()
    };
    let r = run_with(
        &tiny,
        &[C(
            b"GET /very/long/path HTTP/1.0\r\nX: 1\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        )],
    );
    assert_eq!(r.reqs.len(), 2);
    check(
        &r.reqs[0],
        "GET",
        "/very/long/pat",
        Version::Http10,
        b"",
        &[Anomaly::HeaderTooLong],
        true,
    );
    check(&r.reqs[1], "GET", "/", Version::Http10, b"", &[], true);
    // FIXME(today's behaviour): a Content-Length lost to the cut leaves the
    // body to resynchronisation, which may take `okGET` for a method.
}

#[test]
fn too_many_headers_at_and_over_limit() {
    let lim = HttpLimits {
        max_headers: 3,
        ..HttpLimits::default()
    };
    let r = run_with(
        &lim,
        &[C(b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n")],
    );
    check(&r.reqs[0], "GET", "/", Version::Http11, b"", &[], true);
    assert_eq!(r.reqs[0].headers.len(), 3);
    let r = run_with(
        &lim,
        &[C(
            b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
        )],
    );
    check(
        &r.reqs[0],
        "GET",
        "/",
        Version::Http11,
        b"",
        &[Anomaly::TooManyHeaders],
        true,
    );
    assert_eq!(r.reqs[0].headers.len(), 3);
    assert_eq!(r.stats.header_count_limit_hits, 1);
}

#[test]
fn body_over_inspect_limit() {
    let lim = HttpLimits {
        max_body_inspect_bytes: 4,
        ..HttpLimits::default()
    };
    let r = run_with(
        &lim,
        &[C(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789",
        )],
    );
    check(&r.reqs[0], "POST", "/", Version::Http11, b"0123", &[], true);
    assert_eq!(r.reqs[0].body_len, 10);
    assert_eq!(r.stats.body_bytes_skipped, 6);
}

#[test]
fn gap_in_body_is_absorbed() {
    let r = run(&[
        C(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab"),
        GapC(5),
        C(b"xyzGET /n HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 2);
    check(
        &r.reqs[0],
        "POST",
        "/",
        Version::Http11,
        b"abxyz",
        &[Anomaly::Gap],
        true,
    );
    assert_eq!(r.reqs[0].body_len, 10);
    check(&r.reqs[1], "GET", "/n", Version::Http11, b"", &[], true);
    assert_eq!(r.stats.gaps, 1);
}

#[test]
fn gap_in_head_then_resync() {
    let r = run(&[
        C(b"GET /first HTTP/1.1\r\nHost: h\r\nX-A"),
        GapC(100),
        C(b"rest of a header\r\n\r\nGET /second HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 2);
    check(
        &r.reqs[0],
        "GET",
        "/first",
        Version::Http11,
        b"",
        &[Anomaly::Gap],
        false,
    );
    assert_eq!(r.reqs[0].header("host"), Some(&b"h"[..]));
    check(
        &r.reqs[1],
        "GET",
        "/second",
        Version::Http11,
        b"",
        &[],
        true,
    );
    // The blank line is skipped silently (RFC 9112 §2.2), not counted.
    assert_eq!(r.stats.resync_bytes_skipped, 18);
    assert_eq!(r.stats.incomplete_requests, 1);
}

#[test]
fn gap_beyond_body_resyncs() {
    let r = run(&[
        C(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\na"),
        GapC(50),
        C(b"GET /n HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 2);
    check(
        &r.reqs[0],
        "POST",
        "/",
        Version::Http11,
        b"a",
        &[Anomaly::Gap],
        false,
    );
    check(&r.reqs[1], "GET", "/n", Version::Http11, b"", &[], true);
}

#[test]
fn garbage_before_request() {
    let r = run(&[C(
        b"\x00\x01binary body tail\r\nmore junk\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n",
    )]);
    assert_eq!(r.reqs.len(), 1);
    check(&r.reqs[0], "GET", "/x", Version::Http11, b"", &[], true);
    assert_eq!(r.stats.non_http_bytes, 30);
    // Only garbage: counted, nothing reported.
    let r = run(&[C(b"\x16\x03\x01 tls hello")]);
    assert!(r.reqs.is_empty());
    assert_eq!(r.stats.non_http_bytes, 13);
}

#[test]
fn end_mid_body_and_mid_head() {
    let r = run(&[C(
        b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc",
    )]);
    check(
        &r.reqs[0],
        "POST",
        "/p",
        Version::Http11,
        b"abc",
        &[Anomaly::Incomplete],
        false,
    );
    assert_eq!(r.stats.incomplete_requests, 1);
    let r = run(&[C(b"GET /h HTTP/1.1\r\nHost: h\r\nUser-Ag")]);
    check(
        &r.reqs[0],
        "GET",
        "/h",
        Version::Http11,
        b"",
        &[Anomaly::Incomplete],
        false,
    );
    assert_eq!(r.reqs[0].headers.len(), 1);
    let r = run(&[C(b"GET /unterminated")]);
    check(
        &r.reqs[0],
        "GET",
        "/unterminated",
        Version::Http09,
        b"",
        &[Anomaly::Incomplete, Anomaly::UnusualVersion],
        false,
    );
}

#[test]
fn head_204_304_responses_have_no_body() {
    let r = run(&[
        C(b"HEAD /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\nGET /d HTTP/1.1\r\nHost: h\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        S(b"HTTP/1.1 204 No Content\r\n\r\n"),
        S(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 4);
    let got: Vec<_> = r
        .resps
        .iter()
        .map(|x| (x.status, x.body_len, x.request_index))
        .collect();
    assert_eq!(
        got,
        vec![
            (200, 0, Some(0)),
            (204, 0, Some(1)),
            (304, 0, Some(2)),
            (200, 5, Some(3))
        ]
    );
}

#[test]
fn response_until_close() {
    let r = run(&[
        C(b"GET / HTTP/1.0\r\n\r\n"),
        S(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nsome"),
        GapS(10),
        S(b" more"),
    ]);
    assert_eq!(r.resps.len(), 1);
    assert_eq!((r.resps[0].status, r.resps[0].body_len), (200, 19));
}

#[test]
fn websocket_upgrade_then_frames_ignored() {
    let r = run(&[
        C(b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
        S(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"),
        C(b"\x81\x85GET / HTTP/1.1\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 1);
    assert_eq!(r.resps.len(), 1);
    assert_eq!(
        (r.resps[0].status, r.resps[0].request_index),
        (101, Some(0))
    );
    assert_eq!(r.stats.non_http_bytes, 7 + 20 + 19);
}

#[test]
fn unrequested_101_does_not_blind_the_sensor() {
    let r = run(&[
        C(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        S(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
        C(b"GET /attack HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 2);
    check(
        &r.reqs[1],
        "GET",
        "/attack",
        Version::Http11,
        b"",
        &[],
        true,
    );
}

#[test]
fn connect_tunnel_carrying_cleartext_http_is_parsed() {
    // http-connect-fragmented in the corpus: a proxy tunnel to a plain-HTTP
    // origin, the tunnelled request split after two bytes.
    let r = run(&[
        C(b"CONNECT abc:80 HTTP/1.1\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\n\r\n"),
        C(b"GE"),
        C(b"T /inner?q=1 HTTP/1.1\r\nHost: abc\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let uris: Vec<&[u8]> = r.reqs.iter().map(|q| q.uri.as_slice()).collect();
    assert_eq!(uris, vec![&b"abc:80"[..], b"/inner?q=1"]);
    assert_eq!(r.stats.non_http_bytes, 0);
    // A gap before the tunnel's first bytes: a tunnel is assumed.
    let r = run(&[
        C(b"CONNECT abc:80 HTTP/1.1\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\n\r\n"),
        GapC(10),
        C(b"GET /x HTTP/1.1\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 1);
    // Blank lines before the tunnelled request line, as servers skip them
    // (however many, in as many segments), do not hide it.
    let blank_lines: &'static [u8] = b"\r\n".repeat(100).leak();
    let r = run(&[
        C(b"CONNECT abc:80 HTTP/1.1\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\n\r\n"),
        C(b"\r\n"),
        C(blank_lines),
        C(b"\r\nGET /?x=<script>alert(1)</script> HTTP/1.1\r\nHost: abc\r\n\r\n"),
    ]);
    let uris: Vec<&[u8]> = r.reqs.iter().map(|q| q.uri.as_slice()).collect();
    assert_eq!(uris, vec![&b"abc:80"[..], b"/?x=<script>alert(1)</script>"]);
    assert_eq!(r.stats.non_http_bytes, 0);
}

#[test]
fn connect_tunnel() {
    let r = run(&[
        C(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
        S(b"HTTP/1.1 200 Connection established\r\n\r\n"),
        C(b"\x16\x03\x01\x02\x00GET / HTTP/1.1\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 1);
    check(
        &r.reqs[0],
        "CONNECT",
        "example.com:443",
        Version::Http11,
        b"",
        &[],
        true,
    );
    assert_eq!(r.stats.non_http_bytes, 23);
    // A refused CONNECT keeps the flow HTTP.
    let r = run(&[
        C(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
        S(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
        C(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 2);
}

#[test]
fn role_swap() {
    let r = run(&[
        C(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        S(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"),
        C(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 1);
    check(&r.reqs[0], "GET", "/x", Version::Http11, b"", &[], true);
    assert_eq!(
        (r.reqs[0].dir, r.reqs[0].ts),
        (Direction::ToClient, Timestamp(1))
    );
    assert_eq!(r.resps.len(), 2);
    // ToServer starting with HTTP/ alone is not enough.
    let r = run(&[C(b"HTTP/1.1 200 OK\r\n\r\n"), S(b"\x00\x00junk")]);
    assert!(r.reqs.is_empty());
}

/// A one-sided midstream capture where reassembly took the client for the
/// server (client port 53, server port 80): only `ToClient` carries data,
/// and it is requests.
#[test]
fn one_sided_requests_on_the_guessed_server_side() {
    let r = run(&[
        S(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"),
        S(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    let uris: Vec<&[u8]> = r.reqs.iter().map(|q| q.uri.as_slice()).collect();
    assert_eq!(uris, vec![&b"/a"[..], b"/b"]);
    assert!(r.reqs.iter().all(|q| q.dir == Direction::ToClient));
    assert!(r.resps.is_empty());
    // When both sides send request lines, the side that spoke first is the client.
    let r = run(&[
        C(b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n"),
        S(b"GET /s HTTP/1.1\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 1);
    assert_eq!(r.reqs[0].uri, b"/c");
}

#[test]
fn tx_queue_is_bounded() {
    let lim = HttpLimits {
        max_tx_per_flow: 2,
        ..HttpLimits::default()
    };
    let r = run_with(
        &lim,
        &[
            C(b"GET /0 HTTP/1.1\r\nHost: h\r\n\r\nGET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"),
            S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ],
    );
    assert_eq!(r.stats.tx_queue_overflows, 1);
    assert_eq!(r.resps[0].request_index, Some(1));
}

#[test]
fn byte_at_a_time_trickle() {
    const INPUT: &[u8] =
        b"POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n";
    let lim = HttpLimits::default();
    let mut s = HttpSession::default();
    let mut stats = HttpStats::default();
    let mut out = Vec::new();
    for (i, b) in INPUT.iter().enumerate() {
        s.on_data(
            &lim,
            &mut stats,
            Direction::ToServer,
            at(i as u64),
            std::slice::from_ref(b),
            &mut out,
        );
    }
    assert_eq!(out.len(), 1);
    let HttpEvent::Request(q) = &out[0] else {
        panic!("not a request")
    };
    check(q, "POST", "/t", Version::Http11, b"abcd", &[], true);
    assert_eq!(q.ts, Timestamp(0));
}

/// Events without timestamps, for split-invariance.
fn normalised(events: &[HttpEvent]) -> Vec<HttpEvent> {
    events
        .iter()
        .cloned()
        .map(|e| match e {
            HttpEvent::Request(mut r) => {
                r.ts = Timestamp(0);
                HttpEvent::Request(r)
            }
            HttpEvent::Response(mut r) => {
                r.ts = Timestamp(0);
                HttpEvent::Response(r)
            }
        })
        .collect()
}

fn feed_split(lim: &HttpLimits, input: &[u8], cuts: &[usize]) -> (Vec<HttpEvent>, HttpStats) {
    let mut s = HttpSession::default();
    let mut stats = HttpStats::default();
    let mut out = Vec::new();
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut prev = 0;
    for (i, c) in cuts.iter().chain(std::iter::once(&input.len())).enumerate() {
        let at = Stamp {
            ts: Timestamp(i as u64),
            seq: CLIENT_ISN.wrapping_add(prev as u32),
        };
        s.on_data(
            lim,
            &mut stats,
            Direction::ToServer,
            at,
            &input[prev..*c],
            &mut out,
        );
        prev = *c;
    }
    s.on_end(lim, &mut stats, &mut out);
    (out, stats)
}

const PIPELINE: &[u8] = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n\
POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world\
POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nabcde\r\n3\r\nfgh\r\n0\r\nT: v\r\n\r\n\
GET /d b HTTP/1.0\nX:  y \n\n\
GET /e\r\n\
PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n123\
GET /g HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n12";

proptest! {
    #[test]
    fn any_split_gives_same_requests(cuts in proptest::collection::vec(0usize..400, 0..12)) {
        let lim = HttpLimits { max_body_inspect_bytes: 7, max_header_bytes: 80, ..HttpLimits::default() };
        let (whole, whole_stats) = feed_split(&lim, PIPELINE, &[]);
        let (split, split_stats) = feed_split(&lim, PIPELINE, &cuts);
        prop_assert_eq!(normalised(&whole), normalised(&split));
        prop_assert_eq!(whole_stats, split_stats);
        prop_assert_eq!(whole.len(), 7);
    }

    /// Each request is stamped with the sequence number of its first byte
    /// however the stream is cut, also when its method token is split
    /// after the unknown tail of a body (held across chunks at a midstream
    /// start) or after a broken chunk size line.
    #[test]
    fn requests_are_stamped_with_their_first_bytes_sequence_number(
        cuts in proptest::collection::vec(0usize..500, 0..12),
    ) {
        let mut input = b"tail of a body we did not see".to_vec();
        input.extend_from_slice(PIPELINE);
        input.extend_from_slice(b"POST /h HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nGET /i HTTP/1.1\r\n\r\n");
        let lim = HttpLimits { max_body_inspect_bytes: 7, max_header_bytes: 80, ..HttpLimits::default() };
        let (events, _) = feed_split(&lim, &input, &cuts);
        let mut lines = Vec::new();
        for e in &events {
            if let HttpEvent::Request(r) = e {
                let line = [&r.method[..], b" ", &r.uri[..]].concat();
                let off = input.windows(line.len()).position(|w| w == &line[..]);
                prop_assert!(off.is_some(), "{:?}", String::from_utf8_lossy(&line));
                let off = off.unwrap_or_default();
                prop_assert_eq!(r.seq, CLIENT_ISN.wrapping_add(off as u32), "{}", String::from_utf8_lossy(&line));
                lines.push(String::from_utf8_lossy(&line).into_owned());
            }
        }
        // Every request was found: the tail's, the pipeline's and the one
        // read from the broken size line.
        prop_assert_eq!(lines.len(), 9, "{:?}", lines);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded(
        chunks in proptest::collection::vec(
            (0u8..6, proptest::collection::vec(prop_oneof![
                Just(b'\r'), Just(b'\n'), Just(b' '), Just(b':'), Just(b'0'), Just(b'a'),
                Just(b'G'), Just(b'/'), any::<u8>()
            ], 0..64)),
            0..40),
        seed in proptest::collection::vec(0usize..6, 0..4),
    ) {
        let lim = HttpLimits { max_header_bytes: 40, max_headers: 3, max_body_inspect_bytes: 16, max_tx_per_flow: 2, ..HttpLimits::default() };
        let mut s = HttpSession::default();
        let mut stats = HttpStats::default();
        let mut out = Vec::new();
        // Seed with real prefixes so the fuzzing reaches heads and bodies.
        let prefixes: [&[u8]; 6] = [
            b"GET / HTTP/1.1\r\n", b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 101 S\r\n\r\n", b"CONNECT a HTTP/1.1\r\nUpgrade: x\r\n\r\n",
        ];
        for p in &seed {
            s.on_data(&lim, &mut stats, Direction::ToServer, at(0), prefixes[*p], &mut out);
        }
        for (i, (kind, bytes)) in chunks.iter().enumerate() {
            match kind {
                0 | 1 => s.on_data(&lim, &mut stats, Direction::ToServer, at(i as u64), bytes, &mut out),
                2 | 3 => s.on_data(&lim, &mut stats, Direction::ToClient, at(i as u64), bytes, &mut out),
                4 => s.on_gap(&lim, &mut stats, Direction::ToServer, bytes.len() as u64, &mut out),
                _ => s.on_gap(&lim, &mut stats, Direction::ToClient, bytes.len() as u64, &mut out),
            }
            // A head (or the request parsed from it), the body kept for
            // inspection and a chunked trailer line (its vector may have
            // grown to twice the line's bound).
            let held = s.held_bytes();
            let bound = lim.max_header_bytes
                + lim.max_body_inspect_bytes
                + 2 * (lim.max_header_bytes + 1)
                + 64;
            prop_assert!(held <= bound, "held {}", held);
        }
        s.on_end(&lim, &mut stats, &mut out);
        for e in &out {
            if let HttpEvent::Request(r) = e {
                prop_assert!(r.body.len() <= lim.max_body_inspect_bytes);
                prop_assert!(r.headers.len() <= lim.max_headers);
                prop_assert!(r.body_len >= r.body.len() as u64);
            }
        }
        prop_assert_eq!(stats.requests, out.iter().filter(|e| matches!(e, HttpEvent::Request(_))).count() as u64);
    }
}

#[test]
fn hostile_responses_do_not_disturb_requests() {
    let r = run(&[
        C(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nHTTP/1.1 101 x\r\n\r\n"),
        C(b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"),
        S(b"\x00garbage\r\nHTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"),
        GapS(1000),
        C(b"GET /3 HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    let uris: Vec<_> = r
        .reqs
        .iter()
        .map(|q| (q.uri.clone(), q.complete, q.anomalies))
        .collect();
    assert_eq!(
        uris,
        vec![
            (b"/1".to_vec(), true, Anomalies::default()),
            (b"/2".to_vec(), true, Anomalies::default()),
            (b"/3".to_vec(), true, Anomalies::default()),
        ]
    );
}

#[test]
fn gap_in_response_head_and_body() {
    let r = run(&[
        C(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab"),
        GapS(8),
        S(b"HTTP/1.1 404 Not"),
        GapS(5),
        S(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let got: Vec<_> = r
        .resps
        .iter()
        .map(|x| (x.status, x.body_len, x.request_index))
        .collect();
    assert_eq!(got, vec![(200, 10, Some(0)), (500, 0, Some(1))]);
    assert_eq!(r.stats.gaps, 2);
}

#[test]
fn roles_held_while_undecided_are_bounded() {
    let lim = HttpLimits {
        max_header_bytes: 32,
        ..HttpLimits::default()
    };
    // ToServer looks like a server, ToClient stays silent: after the limit
    // the default roles are taken and the bytes go to the request side.
    let r = run_with(
        &lim,
        &[
            C(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            C(b"GET /late HTTP/1.1\r\nHost: h\r\n\r\n"),
        ],
    );
    assert_eq!(r.reqs.len(), 1);
    check(&r.reqs[0], "GET", "/late", Version::Http11, b"", &[], true);
    assert_eq!(r.stats.non_http_bytes, 36);
}

#[test]
fn candidate_split_across_chunks_keeps_first_ts() {
    let r = run(&[C(b"junk\r\nGE"), C(b"T /x HTTP/1.1\r\nHost: h\r\n\r\n")]);
    check(&r.reqs[0], "GET", "/x", Version::Http11, b"", &[], true);
    assert_eq!(r.reqs[0].ts, Timestamp(0));
}

/// A conversation with both directions, a 100-continue, HEAD, chunked
/// responses and a role-neutral order of steps.
const CONVERSATION: &[(Direction, &[u8])] = &[
    (
        Direction::ToServer,
        b"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\nPOST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
    ),
    (
        Direction::ToClient,
        b"HTTP/1.1 200 OK\r\nContent-Length: 123\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n",
    ),
    (Direction::ToServer, b"a\r\n0123456789\r\n0\r\n\r\n"),
    (
        Direction::ToClient,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ),
];

fn feed_conversation(cuts: &[usize]) -> Vec<HttpEvent> {
    let lim = HttpLimits::default();
    let mut s = HttpSession::default();
    let mut stats = HttpStats::default();
    let mut out = Vec::new();
    let mut next = [CLIENT_ISN, SERVER_ISN];
    for (dir, data) in CONVERSATION {
        let mut cs: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        cs.sort_unstable();
        let mut prev = 0;
        let seq = &mut next[usize::from(*dir == Direction::ToClient)];
        for c in cs.iter().chain(std::iter::once(&data.len())) {
            let at = Stamp {
                ts: Timestamp(0),
                seq: *seq,
            };
            *seq = seq.wrapping_add((*c - prev) as u32);
            s.on_data(&lim, &mut stats, *dir, at, &data[prev..*c], &mut out);
            prev = *c;
        }
    }
    s.on_end(&lim, &mut stats, &mut out);
    out
}

proptest! {
    #[test]
    fn any_split_of_a_conversation_gives_same_events(cuts in proptest::collection::vec(0usize..200, 0..8)) {
        let whole = feed_conversation(&[]);
        prop_assert_eq!(&whole, &feed_conversation(&cuts));
        let statuses: Vec<_> = whole
            .iter()
            .filter_map(|e| match e {
                HttpEvent::Response(r) => Some((r.status, r.body_len, r.request_index)),
                HttpEvent::Request(_) => None,
            })
            .collect();
        prop_assert_eq!(statuses, vec![(200, 0, Some(0)), (100, 0, Some(1)), (200, 3, Some(1))]);
    }
}

#[test]
fn large_head_trickled_byte_by_byte_is_linear() {
    // 60 KiB of headers one byte per call: a quadratic end-of-head search
    // would take billions of steps here.
    let mut input = b"GET /big HTTP/1.1\r\nHost: h\r\n".to_vec();
    let mut pads = 0;
    while input.len() < 60 * 1024 {
        input.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        pads += 1;
    }
    input.extend_from_slice(b"\r\n");
    let lim = HttpLimits {
        max_headers: 2000,
        ..HttpLimits::default()
    };
    let mut s = HttpSession::default();
    let mut stats = HttpStats::default();
    let mut out = Vec::new();
    for b in &input {
        s.on_data(
            &lim,
            &mut stats,
            Direction::ToServer,
            at(0),
            std::slice::from_ref(b),
            &mut out,
        );
        assert!(s.held_bytes() <= lim.max_header_bytes);
    }
    assert_eq!(out.len(), 1);
    let HttpEvent::Request(q) = &out[0] else {
        panic!("not a request")
    };
    assert!(q.complete && q.anomalies.is_empty());
    assert_eq!(q.headers.len(), pads + 1);
}

/// Bytes between two complete requests cannot be a lost tail: anomaly.
/// Bytes at a midstream start or after a gap are expected: none.
#[test]
fn garbage_is_an_anomaly_only_between_known_messages() {
    let r = run(&[C(
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nxx junk\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
    )]);
    assert_eq!(r.reqs.len(), 2);
    check(&r.reqs[0], "GET", "/a", Version::Http11, b"", &[], true);
    check(
        &r.reqs[1],
        "GET",
        "/b",
        Version::Http11,
        b"",
        &[Anomaly::GarbageBeforeRequest],
        true,
    );
}

/// A midstream pickup inside a body: the next request follows the body's
/// last byte directly, on the same line.
#[test]
fn midstream_finds_a_request_in_the_middle_of_a_line() {
    let r = run(&[C(
        b"name=x&note=tail of a bodyGET /next?q=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    )]);
    assert_eq!(r.reqs.len(), 1);
    check(
        &r.reqs[0],
        "GET",
        "/next?q=1",
        Version::Http11,
        b"",
        &[],
        true,
    );
    // The same after a gap on a keep-alive connection.
    let r = run(&[
        C(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
        GapC(10),
        C(b"cd\r\n0\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    let uris: Vec<&[u8]> = r.reqs.iter().map(|q| q.uri.as_slice()).collect();
    assert_eq!(uris, vec![&b"/a"[..], b"/p", b"/c"]);
}

#[test]
fn buffered_bytes_follow_what_sessions_hold() {
    let limits = HttpLimits::default();
    let mut stats = HttpStats::default();
    let mut out = Vec::new();
    let mut a = HttpSession::default();
    let mut b = HttpSession::default();
    let head = b"GET /a HTTP/1.1\r\nHost: x\r\n";
    a.on_data(
        &limits,
        &mut stats,
        Direction::ToServer,
        at(1),
        head,
        &mut out,
    );
    b.on_data(
        &limits,
        &mut stats,
        Direction::ToServer,
        at(1),
        head,
        &mut out,
    );
    assert_eq!(stats.buffered_bytes, 2 * head.len() as u64);
    // Completing the head hands the request on: nothing left held.
    a.on_data(
        &limits,
        &mut stats,
        Direction::ToServer,
        at(2),
        b"\r\n",
        &mut out,
    );
    assert_eq!(stats.buffered_bytes, head.len() as u64);
    assert_eq!(out.len(), 1);
    // A POST whose body streams: target, headers and kept body are held.
    let post = b"POST /p HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345";
    a.on_data(
        &limits,
        &mut stats,
        Direction::ToServer,
        at(3),
        post,
        &mut out,
    );
    assert_eq!(
        stats.buffered_bytes,
        head.len() as u64 + a.buffered_bytes() as u64
    );
    assert!(a.buffered_bytes() >= 5 + 2 + 4 + 14 + 2);
    // Ending a session releases all it held.
    a.on_end(&limits, &mut stats, &mut out);
    b.on_end(&limits, &mut stats, &mut out);
    assert_eq!(stats.buffered_bytes, 0);
}

/// Fuzz finding `http_split-resync-counter` (minimised): a response
/// trailer line over `max_header_bytes` ended the chunked body when it came
/// in one segment (the rest was skipped as resync bytes) but not when cut,
/// so `resync_bytes_skipped` depended on the cut. The line is dropped and
/// the body ends at the empty line, however the bytes arrive.
#[test]
fn response_trailer_over_limit_same_whole_and_cut() {
    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
3\r\nabc\r\n0\r\nX-Long: 01234567890123456789012345678901234567890123456789\r\nxyz\r\n\r\n";
    let lim = HttpLimits {
        max_header_bytes: 48,
        ..HttpLimits::default()
    };
    let whole = run_with(&lim, &[C(GET), S(RESP)]);
    let mut steps = vec![C(GET)];
    steps.extend(RESP.chunks(1).map(S));
    let cut = run_with(&lim, &steps);
    assert_eq!(whole.stats, cut.stats);
    assert_eq!(whole.stats.resync_bytes_skipped, 0);
    assert_eq!((whole.resps.len(), cut.resps.len()), (1, 1));
}

proptest! {
    /// `Headers` hands back exactly the fields pushed, in order, through
    /// every accessor; an obs-fold continuation extends only the last value.
    #[test]
    fn headers_hand_back_what_was_pushed(
        fields in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..12), proptest::collection::vec(any::<u8>(), 0..12)),
            0..10,
        ),
        more in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut h = Headers::new();
        for (n, v) in &fields {
            prop_assert!(h.push(n, v));
        }
        prop_assert_eq!(h.len(), fields.len());
        prop_assert_eq!(h.is_empty(), fields.is_empty());
        prop_assert_eq!(h.byte_len(), fields.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>());
        let got: Vec<(Vec<u8>, Vec<u8>)> = h.iter().map(|f| (f.name.to_vec(), f.value.to_vec())).collect();
        prop_assert_eq!(&got, &fields);
        let backwards: Vec<(Vec<u8>, Vec<u8>)> = h.iter().rev().map(|f| (f.name.to_vec(), f.value.to_vec())).collect();
        prop_assert!(backwards.iter().eq(fields.iter().rev()));
        for (i, (n, v)) in fields.iter().enumerate() {
            let f = h.get(i).unwrap();
            prop_assert_eq!((f.name, f.value), (n.as_slice(), v.as_slice()));
        }
        prop_assert!(h.get(fields.len()).is_none());
        let collected: Headers = fields.iter().map(|(n, v)| (n, v)).collect();
        prop_assert_eq!(&collected, &h);

        let mut folded = h.clone();
        prop_assert_eq!(folded.extend_last_value(&more), !fields.is_empty());
        let mut expect = fields.clone();
        if let Some(last) = expect.last_mut() {
            last.1.extend_from_slice(&more);
        }
        let got: Vec<(Vec<u8>, Vec<u8>)> = folded.iter().map(|f| (f.name.to_vec(), f.value.to_vec())).collect();
        prop_assert_eq!(got, expect);
        // Equality is by fields, not by how the buffer was filled.
        let rebuilt: Headers = folded.iter().collect();
        prop_assert_eq!(&rebuilt, &folded);
        prop_assert_eq!(folded == h, more.is_empty() || fields.is_empty());
    }
}

/// What a session holds while it skips an over-long head, or reads a long
/// chunked trailer line, counts towards `http.max_buffered_bytes`: those
/// flows can be evicted at the memory cap like any other.
#[test]
fn over_long_heads_and_trailer_lines_are_counted_as_held() {
    let lim = HttpLimits::default();
    let feed = |parts: &[&[u8]]| {
        let mut s = HttpSession::default();
        let mut stats = HttpStats::default();
        let mut out = Vec::new();
        for p in parts {
            s.on_data(&lim, &mut stats, Direction::ToServer, at(1), p, &mut out);
        }
        s.buffered_bytes()
    };
    let long = vec![b'a'; 70_000];
    // Past `max_header_bytes` (64 KiB): the request parsed from the cut
    // head is kept while the rest of the head is skipped.
    let held = feed(&[b"GET /", &long]);
    assert!(held >= 60_000, "held {held}");
    // A trailer line is kept up to the head bound.
    let held = feed(&[
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ",
        &long[..60_000],
    ]);
    assert!(held >= 60_000, "held {held}");
}

/// Segments held while the roles are undecided cost what they hold: a
/// trickle of 1-byte segments in one direction joins one chunk (not 64
/// thousand 1-byte vectors), and segments alternating direction are charged
/// their overhead, so they settle the roles after about a thousand.
#[test]
fn one_byte_segments_held_while_roles_are_undecided_cost_what_they_hold() {
    let lim = HttpLimits::default();
    let bound = lim.max_header_bytes / (1 + PENDING_CHUNK_OVERHEAD_BYTES) + 1;
    for alternate in [false, true] {
        let mut s = HttpSession::default();
        let mut stats = HttpStats::default();
        let mut out = Vec::new();
        let mut most = 0;
        for i in 0..70_000u64 {
            let dir = if alternate && i % 2 == 1 {
                Direction::ToClient
            } else {
                Direction::ToServer
            };
            s.on_data(&lim, &mut stats, dir, at(i), b"\x16", &mut out);
            if let Roles::Undecided(p) = &s.roles {
                most = most.max(p.chunks.len());
            }
        }
        assert!(most > 0, "the roles were decided at once: nothing tested");
        let bound = if alternate { bound } else { 1 };
        assert!(most <= bound, "{most} segments held (bound {bound})");
    }
}

/// A request already started when the CONNECT's 2xx comes is cleartext
/// HTTP through the tunnel, as the tunnel probe would judge it: it is
/// parsed to its end and inspected whole, and so is what follows. (Until
/// review round 7 the tunnel opened at once and the request was emitted
/// incomplete; split after its method, `GET` | ` /?q=…`, it was lost.)
#[test]
fn a_request_started_before_a_tunnel_opens_is_parsed_whole() {
    let r = run(&[
        C(b"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\nGET /?q=' OR 1=1-- HTTP/1.1\r\nHost: a\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        C(b"\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n"),
    ]);
    let uris: Vec<&[u8]> = r.reqs.iter().map(|q| q.uri.as_slice()).collect();
    assert_eq!(uris, vec![&b"/x"[..], b"/?q=' OR 1=1--", b"/next"]);
    assert!(!r.reqs[1].anomalies.has(Anomaly::Incomplete));
    let r = run(&[
        C(b"CONNECT a:80 HTTP/1.1\r\nHost: a\r\n\r\nGET"),
        S(b"HTTP/1.1 200 OK\r\n\r\n"),
        C(b" /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    let uris: Vec<&[u8]> = r.reqs.iter().map(|q| q.uri.as_slice()).collect();
    assert_eq!(uris, vec![&b"a:80"[..], b"/?q=<script>alert(1)</script>"]);
    assert_eq!(r.stats.non_http_bytes, 0);
}

/// Once pipelining overflowed a flow's transaction queue, responses may
/// pair with the wrong request: a 2xx then never opens a tunnel (nor a
/// tunnel probe) that could hide the rest of the flow from inspection.
#[test]
fn no_tunnel_from_a_pairing_shifted_by_a_queue_overflow() {
    let lim = HttpLimits {
        max_tx_per_flow: 2,
        ..HttpLimits::default()
    };
    let mut s = HttpSession::default();
    let mut stats = HttpStats::default();
    let mut out = Vec::new();
    let steps: [(Direction, &[u8]); 4] = [
        (
            Direction::ToServer,
            b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
        ),
        (Direction::ToServer, b"CONNECT x:443 HTTP/1.1\r\n\r\n"),
        // Answers to /1 and /2; the queue forgot both, so the second pairs
        // with the CONNECT.
        (
            Direction::ToClient,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ),
        (
            Direction::ToClient,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ),
    ];
    for (i, (dir, data)) in steps.iter().enumerate() {
        s.on_data(&lim, &mut stats, *dir, at(i as u64), data, &mut out);
    }
    assert!(stats.tx_queue_overflows > 0);
    assert!(
        !s.tunnel && s.probe.is_none(),
        "the flow switched to a tunnel"
    );
    s.on_data(
        &lim,
        &mut stats,
        Direction::ToServer,
        at(9),
        b"GET /after?x=<script> HTTP/1.1\r\nHost: a\r\n\r\n",
        &mut out,
    );
    s.on_end(&lim, &mut stats, &mut out);
    let uris: Vec<Vec<u8>> = out
        .iter()
        .filter_map(|e| match e {
            HttpEvent::Request(r) => Some(r.uri.clone()),
            HttpEvent::Response(_) => None,
        })
        .collect();
    assert_eq!(
        uris.last().map(Vec::as_slice),
        Some(&b"/after?x=<script>"[..]),
        "{uris:?}"
    );
}

/// A restarted request direction (forged first data the server's ACK
/// disowned): what was started is emitted, incomplete and inspected, and
/// what follows is parsed afresh, not as the body the forged head
/// announced. Numbering goes on.
#[test]
fn a_restarted_request_side_parses_afresh() {
    let r = run(&[
        C(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999\r\n\r\nab"),
        RestartC,
        C(b"GET /?q=<script> HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 2);
    assert!(r.reqs[0].anomalies.has(Anomaly::Incomplete));
    check(
        &r.reqs[1],
        "GET",
        "/?q=<script>",
        Version::Http11,
        b"",
        &[],
        true,
    );
    assert_eq!(r.reqs[1].index, 1);
    assert_eq!(r.stats.buffered_bytes, 0);
}

/// A restarted response direction leaves a request in progress alone.
#[test]
fn a_restarted_response_side_does_not_cut_the_request() {
    let r = run(&[
        C(b"GET /?q=<scr"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nxx"),
        RestartS,
        C(b"ipt> HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 1);
    check(
        &r.reqs[0],
        "GET",
        "/?q=<script>",
        Version::Http11,
        b"",
        &[],
        true,
    );
    assert_eq!(r.stats.buffered_bytes, 0);
}

/// While the roles are undecided, a restarted direction's bytes are
/// dropped: they neither decide the roles nor prefix the real stream.
#[test]
fn a_restart_before_the_roles_are_decided_drops_that_sides_bytes() {
    let r = run(&[
        C(b"GE"),
        RestartC,
        C(b"GET /real HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 1);
    check(&r.reqs[0], "GET", "/real", Version::Http11, b"", &[], true);
    assert_eq!(r.stats.buffered_bytes, 0);
}

/// Pairs each response's status with the target of the request it answered.
fn pairing(r: &Run) -> Vec<(u16, Option<String>)> {
    r.resps
        .iter()
        .map(|p| {
            let uri = r
                .reqs
                .iter()
                .find(|q| Some(q.index) == p.request_index)
                .map(|q| String::from_utf8_lossy(&q.uri).into_owned());
            (p.status, uri)
        })
        .collect()
}

/// Benign reordering at a midstream pickup: the client's second request
/// came first and was parsed, the server's ACK restarted the side, and the
/// replay reads both. The requests read before the restart no longer wait
/// for an answer, so the responses pair with the right ones (review round
/// 5: every response paired with the request before its own).
#[test]
fn a_request_side_restart_does_not_shift_response_pairing() {
    let r = run(&[
        C(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
        RestartC,
        C(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        S(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(
        pairing(&r),
        vec![(200, Some("/a".into())), (404, Some("/b".into()))]
    );
}

/// Forged first data carrying a CONNECT, disowned by the server's ACK: the
/// server's 200 to the real GET must not pair with it and turn the flow
/// into an opaque tunnel (every later request would be lost). Review round 5.
#[test]
fn a_disowned_connect_does_not_open_a_tunnel() {
    let r = run(&[
        C(b"CONNECT evil:443 HTTP/1.1\r\nHost: evil\r\n\r\n"),
        RestartC,
        C(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        C(b"\r\nGET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert!(r
        .reqs
        .iter()
        .any(|q| q.uri == b"/?q=<script>alert(1)</script>"));
    assert_eq!(r.stats.non_http_bytes, 0);
}

/// A tunnel opened by a response of a response side restarted afterwards
/// (its 200 was read from the disowned bytes) is closed again: both sides
/// parse HTTP.
#[test]
fn a_tunnel_from_disowned_bytes_is_closed_by_the_restart() {
    let r = run(&[
        C(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\n\r\n"),
        RestartS,
        C(b"GET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert!(r
        .reqs
        .iter()
        .any(|q| q.uri == b"/?q=<script>alert(1)</script>"));
}

/// The same on the response side (the server's segments reordered at the
/// pickup, decided by the client's ACK): what the responses read before
/// the restart answered waits again, so after the replay the 200 pairs
/// with `/a` and the 404 with `/b`. Review round 5.
#[test]
fn a_response_side_restart_does_not_shift_pairing() {
    let r = run(&[
        C(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
        S(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        RestartS,
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let after: Vec<_> = pairing(&r).into_iter().skip(1).collect();
    assert_eq!(
        after,
        vec![(200, Some("/a".into())), (404, Some("/b".into()))]
    );
}

// Review round 6: what disowned bytes left behind steered the session.

/// A response read before a request-side restart paired with a request
/// from the disowned bytes (a CONNECT) and, the request side being idle,
/// armed the tunnel probe instead of opening the tunnel. The restart only
/// clears an opened tunnel: the probe survives and judges the first bytes
/// of the real stream, whose midstream start is the tail of a body, so the
/// flow turns into an opaque tunnel and the attack is never parsed.
#[test]
fn a_request_side_restart_drops_a_probe_armed_by_disowned_bytes() {
    let r = run(&[
        C(b"CONNECT evil:443 HTTP/1.1\r\nHost: evil\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        RestartC,
        C(b"\"}\r\nGET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert!(r
        .reqs
        .iter()
        .any(|q| q.uri == b"/?q=<script>alert(1)</script>"));
    // Only the body's tail before the request is skipped (a tunnel took
    // all 59 bytes).
    assert_eq!(r.stats.non_http_bytes, 4);
}

/// The same probe armed by a 200 read from disowned server bytes survives
/// a response-side restart (only an opened tunnel is closed): the client's
/// next bytes are judged by a switch the server never made.
#[test]
fn a_response_side_restart_drops_a_probe_armed_by_disowned_bytes() {
    let r = run(&[
        C(b"CONNECT evil:443 HTTP/1.1\r\nHost: evil\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\n\r\n"),
        RestartS,
        S(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"),
        C(b"\"}\r\nGET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert!(r
        .reqs
        .iter()
        .any(|q| q.uri == b"/?q=<script>alert(1)</script>"));
}

/// Roles decided by disowned bytes stay decided: forged server-side first
/// data that reads as a request line makes ToClient the request direction
/// before the client said anything; the client's ACK disowns it, but the
/// client's real requests are then read as responses and never inspected.
#[test]
fn roles_decided_by_disowned_bytes_are_undone() {
    let r = run(&[
        S(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        RestartS,
        C(b"GET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert!(r
        .reqs
        .iter()
        .any(|q| q.uri == b"/?q=<script>alert(1)</script>"));
}

/// The same forged server-side request line after the client's first
/// bytes, which were no request (the tail of a body: a pickup in the middle
/// of an upload), so the roles turned: the client's attack was parsed as a
/// response. Undoing the roles is not enough; the restart asks for the
/// client's side to be read again (`Reread::Both`), which the flow table
/// does from the copies it kept (here the replay is the second pair of `C`
/// steps): the attack is then a request.
#[test]
fn a_restart_of_the_side_that_made_itself_the_client_rereads_the_other() {
    let attack: &'static [u8] = b"GET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n";
    let tail: &'static [u8] = b"end of an upload body\r\n";
    let r = run(&[
        C(tail),
        S(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        C(attack),
        RestartS,
        C(tail),
        C(attack),
        S(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(r.rereads, vec![Reread::Both]);
    let hits: Vec<_> = r
        .reqs
        .iter()
        .filter(|q| q.uri == b"/?q=<script>alert(1)</script>")
        .collect();
    assert_eq!(hits.len(), 1, "{:?}", r.reqs);
    assert_eq!(
        pairing(&r),
        vec![(404, Some("/?q=<script>alert(1)</script>".to_string()))]
    );
}

/// Forged server-side first data that looks like a request does not turn
/// the roles while the side taken for the client has not spoken: the
/// client's own request line, when it comes, wins. (Review round 8: a
/// client that never acknowledges the server's real bytes, so that no
/// restart ever comes, kept its requests read as responses.)
#[test]
fn a_server_side_request_line_waits_for_the_client() {
    let r = run(&[
        S(b"GET /forged HTTP/1.1\r\nHost: h\r\n\r\n"),
        C(b"GET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n"),
        S(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_xss_request(&r);
    assert!(r.reqs.iter().all(|q| q.uri != b"/forged"));
    // Alone, it decides at the end (nothing else will come).
    let r = run(&[S(b"GET /only HTTP/1.1\r\nHost: h\r\n\r\n")]);
    let uris: Vec<&[u8]> = r.reqs.iter().map(|q| q.uri.as_slice()).collect();
    assert_eq!(uris, vec![&b"/only"[..]]);
}

/// A restart of the side the roles made the server does not ask for the
/// other side: its requests were read as requests. Nor does a restart of
/// a side whose bytes did not decide the roles.
#[test]
fn only_a_restart_of_the_side_taken_for_the_client_rereads_the_other() {
    let ok: &'static [u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let get: &'static [u8] = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    // The server's first bytes decided (a response): restart of that side.
    let r = run(&[S(ok), C(get), RestartS]);
    assert_eq!(r.rereads, vec![Reread::Restarted]);
    // The client's first bytes decided; the server's side restarts.
    let r = run(&[C(get), S(ok), RestartS]);
    assert_eq!(r.rereads, vec![Reread::Restarted]);
    // The client's first bytes decided, and its side restarts: the
    // responses are read again with the real requests.
    let r = run(&[C(get), S(ok), RestartC]);
    assert_eq!(r.rereads, vec![Reread::Both]);
    // Undecided roles: nothing to read again.
    let r = run(&[C(b"GE"), RestartC]);
    assert_eq!(r.rereads, vec![Reread::Restarted]);
}

/// `unanswer` can overflow the queue (answered + still waiting > the
/// bound) and drops the newest requests without setting `tx_overflowed`:
/// the pairing is shifted from then on, yet a CONNECT may still open a
/// tunnel on the 200 that answered a dropped GET, hiding the rest.
#[test]
fn unanswer_overflow_marks_the_pairing_unreliable() {
    let lim = HttpLimits {
        max_tx_per_flow: 2,
        ..HttpLimits::default()
    };
    let ok: &'static [u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let r = run_with(
        &lim,
        &[
            C(b"GET /a1 HTTP/1.1\r\nHost: h\r\n\r\nGET /a2 HTTP/1.1\r\nHost: h\r\n\r\n"),
            S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            C(b"GET /b1 HTTP/1.1\r\nHost: h\r\n\r\nGET /b2 HTTP/1.1\r\nHost: h\r\n\r\n"),
            RestartS,
            S(ok),
            S(ok),
            C(b"CONNECT evil:443 HTTP/1.1\r\nHost: evil\r\n\r\nPOST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n"),
            S(ok),
            C(b"abcdGET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n"),
        ],
    );
    assert!(r
        .reqs
        .iter()
        .any(|q| q.uri == b"/?q=<script>alert(1)</script>"));
}

// Review round 7 (a helper, session 23).

/// The test attack `/?q=<script>alert(1)</script>` was parsed as a request.
fn assert_xss_request(r: &Run) {
    let uris: Vec<_> = r
        .reqs
        .iter()
        .map(|q| String::from_utf8_lossy(&q.uri).into_owned())
        .collect();
    assert!(
        uris.iter().any(|u| u == "/?q=<script>alert(1)</script>"),
        "requests: {uris:?}, pairing {:?}, non_http_bytes {}",
        pairing(r),
        r.stats.non_http_bytes
    );
}

/// A response-side restart while the tunnel probe holds the client's first
/// bytes (a short segment: the method alone) keeps them: they are the
/// client's, whose direction is not restarted. Review round 7 found them
/// dropped with the probe: the request line lost its method and the
/// attack was never parsed.
#[test]
fn a_response_side_restart_keeps_the_clients_probe_bytes() {
    let r = run(&[
        C(b"CONNECT a:80 HTTP/1.1\r\nHost: a\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\n\r\n"),
        C(b"GET"),
        RestartS,
        C(b" /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_xss_request(&r);
}

/// The same when the restarted side's replay reads the (real) 200 again
/// and pairs it with the CONNECT given back: the client is in the middle
/// of a request (`GET`), so the flow stays HTTP. Review round 7 found the
/// probe re-armed, judging the continuation (" /a ...") not HTTP: an
/// opaque tunnel hid every later request.
#[test]
fn a_response_side_restart_with_replayed_200_does_not_tunnel_the_rest() {
    let r = run(&[
        C(b"CONNECT a:80 HTTP/1.1\r\nHost: a\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\n\r\n"),
        C(b"GET"),
        RestartS,
        S(b"HTTP/1.1 200 OK\r\n\r\n"),
        C(b" /a HTTP/1.1\r\nHost: h\r\n\r\n"),
        C(b"GET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_xss_request(&r);
}

/// Roles decided with neither side's first bytes a request (a pickup in
/// the middle of an upload's body, the server answering) rest on both
/// sides; a restart of the *server's* direction leaves the client's parser
/// alone. Review round 7 found it reset, cutting the request in progress:
/// emitted with half its target, the rest of the line skipped.
#[test]
fn a_response_side_restart_does_not_cut_the_request_when_roles_rest_on_both() {
    let r = run(&[
        C(b"tail of an upload body\r\n"),
        S(b"HTTP/1.1 100 Continue\r\n\r\n"),
        C(b"GET /?q=<scr"),
        RestartS,
        C(b"ipt>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_xss_request(&r);
}

/// Nor does it forget the client's real requests awaiting an answer. Review
/// round 7 found them forgotten: the server's answer to `/slow` paired
/// with the CONNECT sent after the restart, opened a tunnel the server
/// never opened, and the rest of the flow (the attack) was opaque.
#[test]
fn a_response_side_restart_keeps_the_clients_real_requests_queued() {
    let r = run(&[
        C(b"tail of an upload body\r\n"),
        S(b"HTTP/1.1 100 Continue\r\n\r\n"),
        C(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n"),
        RestartS,
        C(b"CONNECT evil:443 HTTP/1.1\r\nHost: evil\r\n\r\nGET /x HTTP/1.1\r\nHo"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        S(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"),
        C(b"st: h\r\n\r\nGET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_xss_request(&r);
}

/// Every session keeps what its last responses answered, for a
/// response-side restart that only a provisional midstream side can have:
/// on an ordinary keep-alive flow it is kept for the flow's life, outside
/// `buffered_bytes`. Review round 7 found 64 entries per flow (the
/// `max_tx_per_flow` bound); now `ANSWERED_KEPT`.
#[test]
fn answered_requests_kept_per_flow_are_few() {
    let lim = HttpLimits::default();
    let mut s = HttpSession::default();
    let mut stats = HttpStats::default();
    let mut out = Vec::new();
    for i in 0..100u64 {
        s.on_data(
            &lim,
            &mut stats,
            Direction::ToServer,
            at(i),
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
            &mut out,
        );
        s.on_data(
            &lim,
            &mut stats,
            Direction::ToClient,
            at(i),
            b"HTTP/1.1 204 No Content\r\n\r\n",
            &mut out,
        );
    }
    assert_eq!(stats.buffered_bytes, 0);
    assert!(lim.max_tx_per_flow > request::ANSWERED_KEPT);
    assert_eq!(s.answered.len(), request::ANSWERED_KEPT);
    assert!(s.answered.capacity() <= 2 * request::ANSWERED_KEPT);
}

/// A CONNECT's 2xx that arrives while a pipelined request is in progress,
/// in its head or in its body, keeps the flow HTTP (the client's bytes
/// after the CONNECT were HTTP): the next request is seen. Review round 8
/// found the tunnel opened at once in the body case.
#[test]
fn a_connect_2xx_during_a_pipelined_body_does_not_hide_the_next_request() {
    let ok: &'static [u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let connect: &'static [u8] = b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n";
    let attack: &'static [u8] = b"GET /?q=<script>x</script> HTTP/1.1\r\nHost: a\r\n\r\n";
    // Mid-head: kept HTTP (change 3).
    let r = run(&[
        C(connect),
        C(b"POST /p HTTP/1.1\r\nHost: a\r\n"),
        S(ok),
        C(b"Content-Length: 0\r\n\r\n"),
        C(attack),
        S(ok),
        S(ok),
    ]);
    assert!(r.reqs.iter().any(|q| q.uri.starts_with(b"/?q=")));
    // Mid-body: tunnel.
    let r = run(&[
        C(connect),
        C(b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345"),
        S(ok),
        C(b"67890"),
        C(attack),
        S(ok),
        S(ok),
    ]);
    let uris: Vec<_> = r
        .reqs
        .iter()
        .map(|q| String::from_utf8_lossy(&q.uri).into_owned())
        .collect();
    assert!(uris.iter().any(|u| u.starts_with("/?q=")), "{uris:?}");
}

/// The rest of the 2xx's segment, when the flow stays HTTP, is read as
/// responses: a response after it pairs with its own request. Review round
/// 8 found it dropped as tunnel bytes, shifting the pairing from then on.
#[test]
fn a_response_after_a_connect_2xx_kept_http_is_read() {
    let r = run(&[
        C(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\n"),
        S(b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        C(b"Host: a\r\n\r\n"),
        S(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let st: Vec<_> = r
        .resps
        .iter()
        .map(|p| (p.status, p.request_index))
        .collect();
    assert_eq!(st, vec![(200, Some(0)), (404, Some(1)), (500, Some(2))]);
}

// Review round 10 (a helper, session 24).

/// Review round 10. Forged server-side data that looks like a request turns
/// the roles when the client's first captured bytes are no request; here
/// they are no request only because the client's two segments were
/// captured in reverse order (the attacker sends its own segments so). The
/// server's ACK then restarts the client's side: its first bytes, which
/// decided the roles together with the forged ones (`roles_rest_on` is
/// `[true, true]`), are disowned, and the replay starts with a request
/// line. `on_restart` promises that "roles the restarted side's first
/// bytes decided are decided again", but it re-decides only when the
/// restarted side is the request side: here the client's requests stay
/// parsed as responses, and the attack is lost for as long as the client
/// does not acknowledge the server's real bytes (no server-side restart).
/// Expected: the roles are decided again after the restart (the replayed
/// request line wins), and the attack is a request.
#[test]
fn a_restart_of_the_side_whose_non_request_turned_the_roles_decides_them_again() {
    let attack_rest: &'static [u8] = b" /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: h\r\n\r\n";
    let r = run(&[
        // The client's second segment, captured first: no request line.
        C(attack_rest),
        // Forged server-side first data: a request line.
        S(b"GET /forged HTTP/1.1\r\nHost: h\r\n\r\n"),
        // The server's ACK disowns the client's start; the replay.
        RestartC,
        C(b"GET"),
        C(attack_rest),
        C(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"),
    ]);
    assert_xss_request(&r);
}

// Review round 13 (session 25, reviewer b).

/// The attack request `/?q=<script>alert(1)</script>` was parsed, whole.
#[track_caller]
fn assert_xss_complete(r: &Run) {
    let uris: Vec<_> = r
        .reqs
        .iter()
        .map(|q| (String::from_utf8_lossy(&q.uri).into_owned(), q.complete))
        .collect();
    assert!(
        uris.iter()
            .any(|(u, c)| u == "/?q=<script>alert(1)</script>" && *c),
        "requests: {uris:?}, non_http_bytes {}, resync_bytes_skipped {}",
        r.stats.non_http_bytes,
        r.stats.resync_bytes_skipped
    );
}

/// nginx (`sw_spaces_before_uri` loops on SP without bound), Node's llhttp
/// (`req_spaces_before_url`) and Tomcat (tolerant of any run of SP/HT)
/// take any number of spaces between the method and the target. Specula
/// takes at most 8 (`MAX_EXTRA_SPACES`): with 9 or more the request line
/// is no plausible start and the whole request is skipped unseen, on a
/// fresh connection (counted as non-HTTP bytes only) and between two
/// requests of a keep-alive connection alike.
#[test]
fn review13_many_spaces_between_method_and_target() {
    let attack: &'static [u8] =
        b"GET            /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n";
    let r = run(&[
        C(attack),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_xss_complete(&r);
    let r = run(&[
        C(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        C(attack),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_xss_complete(&r);
}

/// Tomcat's request-line parser (Http11InputBuffer, phase 2: "Spec says
/// method name is a token followed by a single SP but also be tolerant of
/// multiple SP and/or HT") ends the method at a HTAB as at a SP. Specula's
/// classifier wants a SP right after the method, so `GET<HT>/...` is
/// skipped unseen.
#[test]
fn review13_tab_between_method_and_target() {
    let r = run(&[
        C(b"GET\t/?q=<script>alert(1)</script>\tHTTP/1.1\r\nHost: a\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_xss_complete(&r);
}

/// Go's net/http takes any token as a method (`validMethod`: non-empty,
/// all tchar, no length bound) and a pre-1.22 `ServeMux` pattern, like
/// most Go handlers, serves every method; Tomcat reads any token too (and
/// Spring's FrameworkServlet processes methods it does not know). Specula's
/// classifier refuses a method token over 24 bytes (`MAX_METHOD_LEN`), so
/// the request is skipped unseen.
#[test]
fn review13_long_method_token() {
    let r = run(&[
        C(b"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_xss_complete(&r);
}

/// nginx (`ngx_http_parse_chunked` accumulates any number of digits, only
/// the value is bounded), Apache httpd (`parse_chunk_size`: "ignore
/// leading zeros") and Node's llhttp read a chunk size padded with leading
/// zeros as its value. Specula refuses a size line of more than 16 digits
/// (`MAX_CHUNK_DIGITS`), zeros included: the body is cut at once
/// (`InvalidChunk`, a Medium protocol hit) and the attack in the chunk
/// data is never inspected (it is skipped as garbage).
#[test]
fn review13_chunk_size_with_leading_zeros() {
    let r = run(&[
        C(b"POST /search HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
        C(b"0000000000000000001b\r\nq=<script>alert(1)</script>\r\n0\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let got: Vec<_> = r
        .reqs
        .iter()
        .map(|q| (String::from_utf8_lossy(&q.body).into_owned(), q.complete))
        .collect();
    assert_eq!(
        got,
        vec![("q=<script>alert(1)</script>".to_string(), true)],
        "anomalies {:?}",
        r.reqs
            .iter()
            .map(|q| q.anomalies.iter().collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
}

/// Apache httpd bounds a chunk-size line (extensions included) by
/// `LimitRequestFieldSize` (8190 by default) and nginx does not bound the
/// extension at all; a chunk extension of 5,000 bytes is read by both.
/// Specula gives up past 4,096 bytes of extension (`MAX_CHUNK_EXT_BYTES`):
/// the body is cut (`InvalidChunk`) and its data skipped uninspected.
#[test]
fn review13_chunk_extension_over_4k() {
    let mut body = b"1b;x=".to_vec();
    body.extend(std::iter::repeat(b'a').take(5000));
    body.extend_from_slice(b"\r\nq=<script>alert(1)</script>\r\n0\r\n\r\n");
    let body: &'static [u8] = body.leak();
    let r = run(&[
        C(b"POST /search HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
        C(body),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let got: Vec<_> = r
        .reqs
        .iter()
        .map(|q| (String::from_utf8_lossy(&q.body).into_owned(), q.complete))
        .collect();
    assert_eq!(got, vec![("q=<script>alert(1)</script>".to_string(), true)]);
}

/// Go's net/http (no field-count limit, 1 MB of head), nginx (only the
/// buffer size) and Node's llhttp (its parser frames with every field;
/// `maxHeadersCount` only limits what JavaScript sees) frame the body with
/// a Transfer-Encoding or Content-Length that comes after 256 other fields.
/// Specula frames with the fields it kept (`max_headers`): past the cap the
/// framing header is dropped, the request is taken to have no body, and
/// the body (the attack) is skipped as garbage between requests.
#[test]
fn review13_framing_header_past_the_header_count_cap() {
    let mut head = b"POST /search HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..300 {
        head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"Content-Length: 27\r\n\r\nq=<script>alert(1)</script>");
    let req: &'static [u8] = head.leak();
    let r = run(&[C(req), S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]);
    let got: Vec<_> = r
        .reqs
        .iter()
        .map(|q| (String::from_utf8_lossy(&q.body).into_owned(), q.complete))
        .collect();
    assert_eq!(got, vec![("q=<script>alert(1)</script>".to_string(), true)]);
    assert_eq!(r.stats.header_count_limit_hits, 1);
}

/// The same past the head-size cap: Go's net/http reads heads up to
/// `MaxHeaderBytes` (1 MB by default) and frames the body with a
/// Content-Length after 64 KiB of fields; Specula cuts the head at
/// `max_header_bytes` (64 KiB, `HeaderTooLong`), skips the rest of it
/// without looking at the framing fields, takes the request to have no
/// body and skips the body as garbage.
#[test]
fn review13_framing_header_past_the_head_size_cap() {
    let mut head = b"POST /search HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..100 {
        head.extend_from_slice(format!("X-{i}: {}\r\n", "v".repeat(1000)).as_bytes());
    }
    head.extend_from_slice(b"Content-Length: 27\r\n\r\nq=<script>alert(1)</script>");
    let req: &'static [u8] = head.leak();
    let r = run(&[C(req), S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]);
    let got: Vec<_> = r
        .reqs
        .iter()
        .map(|q| String::from_utf8_lossy(&q.body).into_owned())
        .collect();
    assert_eq!(got, vec!["q=<script>alert(1)</script>".to_string()]);
}

/// Framing fields spotted in the skipped part of an over-long head are
/// kept, but only a few: a head of endless `Content-Length` lines holds no
/// more than a short one.
#[test]
fn framing_fields_of_a_skipped_head_are_bounded() {
    let lim = HttpLimits {
        max_header_bytes: 1024,
        ..HttpLimits::default()
    };
    let mut s = HttpSession::default();
    let mut stats = HttpStats::default();
    let mut out = Vec::new();
    s.on_data(
        &lim,
        &mut stats,
        Direction::ToServer,
        at(0),
        b"POST / HTTP/1.1\r\n",
        &mut out,
    );
    for i in 0..20_000u64 {
        s.on_data(
            &lim,
            &mut stats,
            Direction::ToServer,
            at(i),
            b"Content-Length: 1\r\n",
            &mut out,
        );
        assert!(
            s.buffered_bytes() <= 2 * lim.max_header_bytes,
            "{} held",
            s.buffered_bytes()
        );
    }
    s.on_data(
        &lim,
        &mut stats,
        Direction::ToServer,
        at(0),
        b"\r\nx",
        &mut out,
    );
    s.on_end(&lim, &mut stats, &mut out);
    let Some(HttpEvent::Request(r)) = out.first() else {
        panic!("{out:?}")
    };
    assert!(r.anomalies.has(Anomaly::HeaderTooLong));
    assert_eq!(r.body, b"x");
}

/// nginx (`ngx_atoof`), Apache httpd (`ap_parse_strict_length`, strtoll),
/// Node's llhttp, Go (`strconv.ParseUint`) and Tomcat read a Content-Length
/// padded with leading zeros as its value. Specula refuses more than 19
/// digits, zeros included (`parse_decimal`): `InvalidCl`, the request is
/// taken to have no body and the body (the attack) is skipped as garbage.
#[test]
fn review13_content_length_with_leading_zeros() {
    let r = run(&[
        C(b"POST /search HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000000027\r\n\r\nq=<script>alert(1)</script>"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let got: Vec<_> = r
        .reqs
        .iter()
        .map(|q| (String::from_utf8_lossy(&q.body).into_owned(), q.complete))
        .collect();
    assert_eq!(
        got,
        vec![("q=<script>alert(1)</script>".to_string(), true)],
        "anomalies {:?}",
        r.reqs
            .iter()
            .map(|q| q.anomalies.iter().collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
}

/// After a CONNECT's 2xx the tunnel probe judges the client's first 24
/// bytes (`TUNNEL_PROBE_BYTES`), but a request line the classifier accepts
/// may need more before it says Yes: a method of 23 or 24 bytes (it accepts
/// up to `MAX_METHOD_LEN` = 24) followed by SP and `/`. Outside a tunnel
/// such a request is parsed; through a proxy tunnel to a plain-HTTP origin
/// (a Go origin takes any token as a method) the probe answers `More` at
/// its bound and the flow becomes an opaque tunnel: the request is hidden.
#[test]
fn review13_tunnel_probe_shorter_than_an_accepted_request_line() {
    let attack: &'static [u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVW /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n";
    // Outside a tunnel: parsed.
    let r = run(&[
        C(attack),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_xss_complete(&r);
    // Through a CONNECT tunnel to a plain-HTTP origin: hidden.
    let r = run(&[
        C(b"CONNECT origin:80 HTTP/1.1\r\nHost: origin:80\r\n\r\n"),
        S(b"HTTP/1.1 200 Connection Established\r\n\r\n"),
        C(attack),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_xss_complete(&r);
}

/// Go's net/http (`parseTransferEncoding`: "Issue 12785; ignore
/// Transfer-Encoding on HTTP/1.0 requests") and Tomcat (Http11Processor
/// reads Transfer-Encoding only `if (http11)`) give an HTTP/1.0 request
/// with `Transfer-Encoding: chunked` and no Content-Length no body: with
/// `Connection: keep-alive` the next bytes are the next request. Specula
/// reads them as chunks, and its chunk-size reader swallows a request line
/// in two ways: a line that starts with a CR is an "empty size line"
/// (tolerated, whatever follows the CR up to the LF), which Go (after a
/// POST it discards up to 4 leading CR/LF) and Tomcat (it skips any CR/LF
/// before a request line) skip; and a method made of hex digits (`ACE`,
/// any token for Go, and for Spring's FrameworkServlet) is a chunk size
/// with the target and version as an ignored extension. No anomaly at all
/// in the second case (only `InvalidChunk` on the carrier in the first):
/// the attack request is never parsed.
#[test]
fn review13_http10_transfer_encoding_hides_the_next_request() {
    let carrier: &'static [u8] =
        b"POST /x HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n";
    let ok: &'static [u8] =
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
    let mut failures = Vec::new();
    for attack in [
        &b"\rGET /?q=<script>alert(1)</script> HTTP/1.0\r\n\r\n"[..],
        &b"ACE /?q=<script>alert(1)</script> HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"[..],
    ] {
        let r = run(&[C(carrier), C(attack), S(ok), S(ok)]);
        let seen = r
            .reqs
            .iter()
            .any(|q| q.uri == b"/?q=<script>alert(1)</script>");
        if !seen {
            failures.push((
                String::from_utf8_lossy(attack).into_owned(),
                r.reqs
                    .iter()
                    .map(|q| {
                        (
                            String::from_utf8_lossy(&q.uri).into_owned(),
                            q.complete,
                            q.anomalies.iter().collect::<Vec<_>>(),
                        )
                    })
                    .collect::<Vec<_>>(),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "attack request not parsed: {failures:#?}"
    );
}

/// Round 13 let a candidate grow to `MAX_METHOD_LEN + MAX_EXTRA_SPACES`
/// (~8.4 KiB), but `Seek::feed` still hands the whole candidate to the
/// classifier after every byte it adds, and `plausible_request` rescans the
/// method and the run of spaces each time: a line of `GET` and 8,193
/// spaces (refused at its last space) costs about 8,200²/2 ≈ 34 million
/// byte visits, some 4,000 per input byte, in every position where
/// requests are sought (between two requests of any keep-alive connection,
/// after a gap, at a midstream start), however the bytes are segmented.
/// The module promises "every byte is examined a bounded number of times".
#[test]
fn review14_seek_rescans_a_long_candidate_for_every_byte() {
    let mut line = b"GET".to_vec();
    line.extend(std::iter::repeat(b' ').take(head::MAX_EXTRA_SPACES + 1));
    line.push(b'\n');
    // A long method token too (refused at its 257th byte).
    line.extend(std::iter::repeat(b'A').take(head::MAX_METHOD_LEN + 1));
    line.push(b'\n');
    let input = line.repeat(4);
    head::JUDGED.with(|c| c.set(0));
    let mut seek = seek::Seek::default();
    let mut skipped = 0u64;
    let found = seek.feed(&input, Timestamp(0), head::LineKind::Request, &mut skipped);
    assert!(found.is_none());
    assert_eq!(skipped, input.len() as u64);
    let examined = head::JUDGED.with(|c| c.get());
    let per_byte = examined / input.len() as u64;
    assert!(
        per_byte <= 2,
        "{} input bytes, {examined} bytes judged ({per_byte} per input byte)",
        input.len()
    );
}

/// h11 (uvicorn without httptools, hypercorn) reads a Content-Length that
/// is a list of one repeated value as that value (`normalize_and_validate`:
/// `{length.strip() for length in value.split(b",")}` must be one value;
/// RFC 9110 §8.6 lets a recipient do so). Specula's `parse_decimal`
/// refuses `27, 27` (`InvalidCl`), takes the request to have no body and
/// skips the body (the attack) as garbage between requests: never
/// inspected.
#[test]
fn review14_content_length_list_of_one_repeated_value() {
    let r = run(&[
        C(b"POST /search HTTP/1.1\r\nHost: a\r\nContent-Length: 27, 27\r\n\r\nq=<script>alert(1)</script>"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let got: Vec<_> = r
        .reqs
        .iter()
        .map(|q| {
            (
                String::from_utf8_lossy(&q.body).into_owned(),
                q.complete,
                q.anomalies.iter().collect::<Vec<_>>(),
            )
        })
        .collect();
    assert!(
        got.iter()
            .any(|(b, c, _)| b == "q=<script>alert(1)</script>" && *c),
        "requests {got:?}"
    );
}

/// Round 13 keeps framing fields from the skipped part of an over-long
/// head, but only the first `FRAMING_LINE_BYTES` (64) of each line, and
/// reads the value from that cut: `Content-Length: ` and 60 leading zeros
/// then `27` is kept as `Content-Length: 000…0`, a length of 0 with no
/// anomaly but `HeaderTooLong`. Go's net/http (heads up to 1 MB,
/// `strconv.ParseUint` takes the zeros) and Apache httpd (100 fields of up
/// to 8,190 bytes, `apr_strtoff`) read 27: the body (the attack) is skipped
/// as garbage, uninspected.
#[test]
fn review14_framing_line_of_a_skipped_head_is_read_from_its_cut() {
    let mut head = b"POST /search HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..100 {
        head.extend_from_slice(format!("X-{i}: {}\r\n", "v".repeat(1000)).as_bytes());
    }
    head.extend_from_slice(b"Content-Length: ");
    head.extend(std::iter::repeat(b'0').take(60));
    head.extend_from_slice(b"27\r\n\r\nq=<script>alert(1)</script>");
    let req: &'static [u8] = head.leak();
    let r = run(&[C(req), S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]);
    let got: Vec<_> = r
        .reqs
        .iter()
        .map(|q| {
            (
                String::from_utf8_lossy(&q.body).into_owned(),
                q.header("content-length")
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
                q.anomalies.iter().collect::<Vec<_>>(),
            )
        })
        .collect();
    assert!(
        got.iter()
            .any(|(b, _, _)| b == "q=<script>alert(1)</script>"),
        "requests {got:?}"
    );
}

/// Methods are case-sensitive (RFC 9110 §9.1); Go's net/http takes `head`
/// as a method of its own (`r.Method == "HEAD"` is false) and a handler
/// answers it with a body. Specula marks any case of `HEAD` as HEAD
/// (`eq_ignore_ascii_case`) for response framing, so that body is read as
/// responses: a status line in it (reflected content) is a response of its
/// own, and every later response is paired with the wrong request.
#[test]
fn review14_lowercase_head_method_shifts_response_pairing() {
    let r = run(&[
        C(b"head /echo HTTP/1.1\r\nHost: a\r\n\r\n"),
        C(b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\nHTTP/1.1 404 X\r\n\r\nab\r\n"),
        S(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let got: Vec<_> = r
        .resps
        .iter()
        .map(|x| (x.status, x.request_index))
        .collect();
    assert_eq!(got, vec![(200, Some(0)), (500, Some(1))]);
}

/// Apache httpd honours `Transfer-Encoding: chunked` on an HTTP/1.0
/// request (`ap_read_request` checks the coding, not the version, and
/// `ap_http_filter` de-chunks it), as the round-13 fix's own comment says.
/// Since that fix Specula frames such a request as having no body (Go's and
/// Tomcat's reading): the chunked body, which Apache hands to the
/// application (mod_php, mod_wsgi, a proxied backend), is skipped as
/// garbage and never inspected; only `InvalidTe` is left.
#[test]
fn review14_http10_chunked_body_that_apache_reads_is_not_inspected() {
    let r = run(&[
        C(b"POST /search HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
        C(b"1b\r\nq=<script>alert(1)</script>\r\n0\r\n\r\n"),
        S(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let got: Vec<_> = r
        .reqs
        .iter()
        .map(|q| {
            (
                String::from_utf8_lossy(&q.body).into_owned(),
                q.anomalies.iter().collect::<Vec<_>>(),
            )
        })
        .collect();
    assert!(
        got.iter()
            .any(|(b, _)| b.contains("<script>alert(1)</script>")),
        "requests {got:?}, resync_bytes_skipped {}",
        r.stats.resync_bytes_skipped
    );
}

/// What decides the roles and the tunnel probe grow a segment at a time up
/// to ~8.4 KiB (`ROLE_PREFIX_BYTES`, `TUNNEL_PROBE_BYTES`): each byte is
/// judged once, not the whole prefix again per segment (~8,400 byte visits
/// per one-byte segment of `GET` and spaces before).
#[test]
fn role_prefixes_and_tunnel_probes_are_judged_once_per_byte() {
    let lim = HttpLimits::default();
    let mut spaces = b"GET".to_vec();
    spaces.extend(std::iter::repeat_n(b' ', 8000));
    // Feed `spaces` a byte per segment from the client: at most two bytes
    // judged per byte.
    let feed_one_byte_at_a_time = |s: &mut HttpSession, stats: &mut HttpStats, out: &mut Vec<_>| {
        head::JUDGED.with(|c| c.set(0));
        for (i, b) in spaces.iter().enumerate() {
            s.on_data(
                &lim,
                stats,
                Direction::ToServer,
                at(i as u64),
                std::slice::from_ref(b),
                out,
            );
        }
        let judged = head::JUDGED.with(|c| c.get());
        assert!(
            judged <= 2 * spaces.len() as u64,
            "{judged} bytes judged for {}",
            spaces.len()
        );
    };
    // Roles undecided: only the client's side has spoken.
    let mut s = HttpSession::default();
    let mut stats = HttpStats::default();
    let mut out = Vec::new();
    feed_one_byte_at_a_time(&mut s, &mut stats, &mut out);
    // A tunnel probe after a CONNECT's 2xx.
    let mut s = HttpSession::default();
    s.on_data(
        &lim,
        &mut stats,
        Direction::ToServer,
        at(0),
        b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
        &mut out,
    );
    s.on_data(
        &lim,
        &mut stats,
        Direction::ToClient,
        at(1),
        b"HTTP/1.1 200 OK\r\n\r\n",
        &mut out,
    );
    assert!(s.probe.is_some());
    feed_one_byte_at_a_time(&mut s, &mut stats, &mut out);
}

/// An unknown method with an absolute-form target of any scheme is a
/// request to Go's net/http (`validMethod`, then `url.ParseRequestURI`:
/// `x://a/search?q=…` has path `/search`, so a `ServeMux` route without a
/// method pattern serves it), to nginx (`sw_spaces_before_uri` takes any
/// `ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")` scheme, and `proxy_pass`
/// forwards unknown methods) and to Apache httpd (`ap_parse_uri`: the
/// path starts with `/`; unregistered methods are allowed by default).
/// Specula's line judge wants `/` or `http` after an unknown method
/// (`Phase::Http`), so the line is skipped as garbage and the request is
/// never recorded.
#[test]
fn review15_unknown_method_with_an_absolute_target_of_another_scheme() {
    let r = run(&[
        C(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        C(b"FOO x://a/search?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let got: Vec<_> = r
        .reqs
        .iter()
        .map(|q| {
            (
                String::from_utf8_lossy(&q.method).into_owned(),
                String::from_utf8_lossy(&q.uri).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("GET".to_string(), "/".to_string()),
            (
                "FOO".to_string(),
                "x://a/search?q=<script>alert(1)</script>".to_string()
            ),
        ]
    );
}

/// The same request as the first bytes of a flow, and as the client's
/// first bytes in a CONNECT tunnel (the tunnel probe judges them as the
/// seeker does): the flow's only request is lost, and after a CONNECT's
/// 2xx the whole tunnel is taken for opaque bytes.
#[test]
fn review15_unknown_method_with_an_absolute_target_first_and_in_a_tunnel() {
    let attack: &[u8] =
        b"FOO ws://a/search?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n";
    let r = run(&[
        C(attack),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 1, "first request of a flow");
    let r = run(&[
        C(b"CONNECT a:80 HTTP/1.1\r\nHost: a:80\r\n\r\n"),
        S(b"HTTP/1.1 200 Connection established\r\n\r\n"),
        C(attack),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let methods: Vec<_> = r
        .reqs
        .iter()
        .map(|q| String::from_utf8_lossy(&q.method).into_owned())
        .collect();
    assert_eq!(methods, vec!["CONNECT", "FOO"], "in a CONNECT tunnel");
}

/// A head over `max_header_bytes` (64 KiB) that Apache httpd reads whole
/// (`LimitRequestFields` 100 × `LimitRequestFieldSize` 8190), 70 fields of
/// 1 KB and then the framing field.
fn review15_long_head(framing: &[u8], body: &[u8]) -> &'static [u8] {
    let mut head = b"POST /search HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..70 {
        head.extend_from_slice(format!("X-{i}: {}\r\n", "v".repeat(1000)).as_bytes());
    }
    head.extend_from_slice(framing);
    head.extend_from_slice(b"\r\n");
    head.extend_from_slice(body);
    head.leak()
}

fn review15_bodies(r: &Run) -> Vec<String> {
    r.reqs
        .iter()
        .map(|q| String::from_utf8_lossy(&q.body).into_owned())
        .collect()
}

/// The review15_skipped_head_* tests below: the chunked body after a head over
/// `max_header_bytes` whose skipped part frames it with `framing`.
fn review15_chunked_after_a_long_head(framing: &[u8]) {
    let req = review15_long_head(framing, b"1b\r\nq=<script>alert(1)</script>\r\n0\r\n\r\n");
    let r = run(&[C(req), S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]);
    assert_eq!(
        review15_bodies(&r),
        vec!["q=<script>alert(1)</script>".to_string()]
    );
}

/// Apache httpd frames a request as chunked when the last coding of its
/// (merged) Transfer-Encoding is `chunked` (`ap_is_chunked`:
/// `find_last_token`, whatever comes before it; protocol.c answers 400
/// only when it is not). In the skipped part of an over-long head Specula
/// keeps only the first `FRAMING_LINE_BYTES` (64) of a framing line
/// (`keep_framing_prefix`), so a coding list longer than ~46 bytes is read
/// from its cut (`gzip, deflate, x-compress, x-gzip, iden`): not chunked,
/// no body, and the chunked body is skipped as garbage, uninspected.
#[test]
fn review15_skipped_head_transfer_coding_list_cut_before_chunked() {
    review15_chunked_after_a_long_head(
        b"Transfer-Encoding: gzip, deflate, x-compress, x-gzip, identity, chunked\r\n",
    );
}

/// Apache httpd merges repeated fields (`apr_table_compress(...,
/// APR_OVERLAP_TABLES_MERGE)`), so four `Transfer-Encoding: gzip` lines and
/// a `Transfer-Encoding: chunked` are `gzip, gzip, gzip, gzip, chunked`:
/// chunked. In the skipped part of an over-long head Specula keeps the
/// first `SKIPPED_FRAMING_FIELDS` (4) framing fields and drops the rest, so
/// the deciding last one is never seen: no body, the chunked body skipped.
#[test]
fn review15_skipped_head_last_transfer_encoding_dropped_after_four() {
    review15_chunked_after_a_long_head(
        b"Transfer-Encoding: gzip\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: gzip\r\n\
          Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
    );
}

/// Apache httpd joins an obs-fold line to its field in either
/// `HttpProtocolOptions` mode (`ap_get_mime_headers_core`: "Replace
/// obs-fold w/ SP"), so `Transfer-Encoding: gzip,` folded onto ` chunked`
/// is `gzip, chunked`: chunked. A short head gets this right (the lenient
/// parser joins the lines); in the skipped part of an over-long head the
/// continuation line is not joined (`framing_line` wants a colon), the
/// field is read as `gzip,`, and the chunked body is skipped.
#[test]
fn review15_skipped_head_folded_transfer_encoding() {
    review15_chunked_after_a_long_head(b"Transfer-Encoding: gzip,\r\n chunked\r\n");
    // The same fields in a short head: read as chunked already.
    let r = run(&[
        C(
            b"POST /search HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n\
            1b\r\nq=<script>alert(1)</script>\r\n0\r\n\r\n",
        ),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(
        review15_bodies(&r),
        vec!["q=<script>alert(1)</script>".to_string()]
    );
}

/// Go's net/http drops `Transfer-Encoding` on an HTTP/1.0 request
/// (transfer.go `parseTransferEncoding`: "Issue 12785; ignore
/// Transfer-Encoding on HTTP/1.0 requests") and then frames the body by its
/// Content-Length (`fixLength`); Tomcat parses `transfer-encoding` only
/// `if (http11)` and then adds the identity (Content-Length) filter. With a
/// Content-Length, Specula's `ChunkedIfSized` still decides by the first
/// line only: a body that is not a size line is "no body" and is skipped as
/// garbage (Go hands it to the handler, uninspected here).
#[test]
fn review15_http10_te_with_content_length_body_not_inspected() {
    let r = run(&[
        C(
            b"POST /search HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\
            Content-Length: 27\r\n\r\nq=<script>alert(1)</script>",
        ),
        S(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert!(
        review15_bodies(&r)
            .iter()
            .any(|b| b.contains("<script>alert(1)</script>")),
        "bodies {:?}",
        review15_bodies(&r)
    );
}

/// The other half (reviewer's test kept aside, a known limit): a body that
/// is a plain size line for Go's 4-byte Content-Length (`48\r\n`) is read
/// chunked (Apache httpd's reading), so the request Go reads next on the
/// keep-alive connection (`GET /?q=<script>…`) is not parsed as a request.
/// Its bytes are inspected all the same, as the carrier's body, which
/// carries `InvalidTe` and `ClAndTe`.
#[test]
fn review15_http10_te_with_content_length_and_a_size_line_is_read_chunked() {
    let smuggled: &[u8] =
        b"GET /?q=<script>alert(1)</script> HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let size = format!("{:02x}\r\n", smuggled.len());
    let mut req = format!(
        "POST /x HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\
         Content-Length: {}\r\n\r\n{size}",
        size.len()
    )
    .into_bytes();
    req.extend_from_slice(smuggled);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    let ok: &'static [u8] =
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
    let r = run(&[C(req.leak()), S(ok), S(ok)]);
    let carrier = &r.reqs[0];
    assert_eq!(carrier.body, smuggled);
    assert!(carrier.anomalies.has(Anomaly::ClAndTe));
    assert!(carrier.anomalies.has(Anomaly::InvalidTe));
}

/// The Content-Length reading of a doubtful HTTP/1.0 body starts at the
/// body's first byte even when its first line began like a size line with
/// leading zeros (which the size parser drops): the next request is found
/// exactly where Go reads it. (The dropped zeros are not in the kept body:
/// nothing to inspect in them.)
#[test]
fn http10_te_with_content_length_after_leading_zeros_frames_by_the_length() {
    let body: &[u8] = b"000q=<script>alert(1)</script>";
    let mut req = format!(
        "POST /x HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req.extend_from_slice(b"GET /next HTTP/1.0\r\n\r\n");
    let ok: &'static [u8] =
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
    for split in [1, 20, req.len()] {
        let (a, b) = req.split_at(split.min(req.len()));
        let r = run(&[C(a.to_vec().leak()), C(b.to_vec().leak()), S(ok), S(ok)]);
        let got: Vec<_> = r
            .reqs
            .iter()
            .map(|q| (q.uri.clone(), q.body.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (b"/x".to_vec(), body[2..].to_vec()),
                (b"/next".to_vec(), Vec::new())
            ],
            "split at {split}"
        );
    }
}

/// A prior-knowledge HTTP/2 connection (RFC 9113 §3.4): the preface is one
/// request, so the detector can report it (`http2-prior-knowledge`); the
/// frames after it are skipped, not read as requests. Before, `PRI *` was
/// not a plausible request line and the connection left no trace.
#[test]
fn an_http2_preface_is_a_request_and_its_frames_are_skipped() {
    let r = run(&[
        C(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64\x00\x04\x40\x00\x00\x00\x00\x02\x00\x00\x00\x00"),
        // HEADERS: GET / over HPACK.
        C(b"\x00\x00\x0e\x01\x05\x00\x00\x00\x01\x82\x84\x86\x41\x8a\xa0\xe4\x1d\x13\x9d\x09\xb8\xf0\x1e\x07"),
        S(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64"),
    ]);
    assert_eq!(r.reqs.len(), 1, "{:?}", r.reqs);
    assert!(r.reqs[0].is_http2_preface(), "{:?}", r.reqs[0]);
    assert!(r.stats.resync_bytes_skipped > 0, "{:?}", r.stats);
}

/// A request asking for cleartext HTTP/2, and the server's yes.
const H2C_UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
const H2C_SWITCHED: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";

/// After `Upgrade: h2c` and its 101 the client's HTTP/2 preface starts the
/// tunnel (the upgrade is the finding there): no HTTP/1 request is read
/// from it, as before PRI became a known method.
#[test]
fn the_http2_preface_after_an_h2c_upgrade_starts_the_tunnel() {
    let r = run(&[
        C(H2C_UPGRADE),
        S(H2C_SWITCHED),
        C(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"),
    ]);
    assert_eq!(r.reqs.len(), 1, "{:?}", r.reqs);
    assert_eq!(r.reqs[0].method, b"GET");
    assert!(r.stats.non_http_bytes > 0, "{:?}", r.stats);
}

/// Review round 18: after a 101 any client bytes starting `PRI ` opened
/// the tunnel, though only the HTTP/2 preface line `PRI * HTTP/2.0` is
/// what an h2c server reads as its start. `PRI /admin?… HTTP/1.1` is an
/// HTTP/1 request (PRI is a token method to Go, Node/llhttp, Tomcat) where
/// the bytes after a 101 are still read as HTTP/1 (the case the probe is
/// for), and it hid every request after it. Severity: Medium.
#[test]
fn review18_a_pri_request_line_that_is_no_preface_is_read_as_http() {
    let r = run(&[
        C(H2C_UPGRADE),
        S(H2C_SWITCHED),
        C(b"PRI /admin?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 2, "{:?}", r.reqs);
    assert_eq!(r.reqs[1].uri, b"/admin?q=<script>alert(1)</script>");
}

/// The h2c preface split after `PRI ` still opens the tunnel once its line
/// is complete (companion of the review round 18 fix).
#[test]
fn review18_a_split_preface_after_h2c_still_starts_the_tunnel() {
    let r = run(&[
        C(H2C_UPGRADE),
        S(H2C_SWITCHED),
        C(b"PRI "),
        C(b"* HTT"),
        C(b"P/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"),
    ]);
    assert_eq!(r.reqs.len(), 1, "{:?}", r.reqs);
    assert!(r.stats.non_http_bytes > 0, "{:?}", r.stats);
}

// Review round 23 (reviewer a): HTTP/1.1 request framing.

/// nginx reads any method token of `A-Z`, `_` and `-` (`sw_method`: an
/// unknown one is `NGX_HTTP_UNKNOWN`, which `proxy_pass` forwards) and
/// then loops on SP in `sw_spaces_before_uri` whatever the method, before
/// a `/` or a scheme; Tomcat (Http11InputBuffer: "tolerant of multiple SP
/// and/or HT") reads any token the same way. Specula takes a run of
/// whitespace after a known method only (`Phase::Spaces`): after an unknown
/// one the byte after the first SP must be `/` or a scheme letter, so
/// `FOO  /?q=<attack> HTTP/1.1` is skipped as garbage, as a flow's first
/// request and between two requests alike, and never inspected.
/// Severity: High.
#[test]
fn review23a_unknown_method_with_many_spaces_before_the_target() {
    let attack: &'static [u8] = b"FOO   /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n";
    let r = run(&[
        C(attack),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_xss_complete(&r);
    let r = run(&[
        C(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        C(attack),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_xss_complete(&r);
    // A tab among them (Tomcat), and an absolute target after the spaces
    // (nginx `sw_schema`).
    let r = run(&[
        C(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        C(b"FOO \t /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n"),
        C(b"FOO  http://a/?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n"),
    ]);
    let uris: Vec<_> = r
        .reqs
        .iter()
        .map(|q| String::from_utf8_lossy(&q.uri).into_owned())
        .collect();
    assert_eq!(
        uris,
        [
            "/",
            "/?q=<script>alert(1)</script>",
            "http://a/?q=<script>alert(1)</script>"
        ]
    );
}

/// An absolute-form target's scheme has no length bound in the servers
/// that take one after an unknown method: Go (`url.getScheme` reads
/// `ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")` up to the `:` however long)
/// and nginx (`sw_schema` loops on the same bytes until `:`, within its
/// 8 KiB request-line buffer). Specula's line judge gives up after 14
/// bytes of scheme (`MAX_SCHEME_LEN`), so `FOO aaaaaaaaaaaaaaa://a/?q=…`
/// is skipped as garbage and the attack in its target never inspected.
/// Severity: High.
#[test]
fn review23a_unknown_method_with_a_long_scheme() {
    let attack: &'static [u8] =
        b"FOO averyveryverylongscheme://a/?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n";
    let r = run(&[
        C(attack),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(r.reqs.len(), 1, "first request of a flow: {:?}", r.stats);
    let r = run(&[
        C(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        C(attack),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let uris: Vec<_> = r
        .reqs
        .iter()
        .map(|q| String::from_utf8_lossy(&q.uri).into_owned())
        .collect();
    assert_eq!(
        uris,
        [
            "/",
            "averyveryverylongscheme://a/?q=<script>alert(1)</script>"
        ]
    );
}

/// A capture gap between two requests of a keep-alive connection (the
/// request side between messages, in `Seek`) can swallow the start of the
/// next request: the bytes after it are that request's unknown tail (its
/// body), and the request after it follows that tail directly, mid-line,
/// as nginx and every server read it (the body ends at its length, not at
/// a line end). A gap inside a head or a body resynchronises in `anywhere`
/// mode (`after_gap`), which finds `GET ` in mid-line; a gap in `Seek`
/// only restarts the line-start seeker (`Seek::restart`), so the request
/// after the lost one is skipped unseen (and the tail is not expected, so
/// what is found later is marked `GarbageBeforeRequest`).
/// Severity: Medium (a capture loss at that point is needed).
#[test]
fn review23a_gap_between_requests_resyncs_in_the_middle_of_a_line() {
    let r = run(&[
        C(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        // Lost: `POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\na=1`.
        GapC(51),
        C(b"&b=2GET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n"),
    ]);
    assert_xss_complete(&r);
    let got = r.reqs.last().map(|q| q.anomalies);
    assert_eq!(got, Some(Anomalies::default()), "{:?}", r.reqs);
}

// Review round 25 (reviewer a): finding where a request starts.

/// A midstream pickup (or a gap) inside a body leaves Specula seeking the
/// next request in `anywhere` mode. The body's last line may be `A` and
/// spaces (any bytes of the body, which the client picks); the next
/// request follows it directly, as nginx reads it after the body's
/// Content-Length (`ngx_http_read_client_request_body`, then
/// `ngx_http_parse_request_line` from the next byte). Specula judges the
/// line `A  GET /?q=…` from its start: an unknown method, spaces (taken
/// since review round 23), then `GET` as a URI scheme refused at its
/// space; the refused candidate's bytes are dropped, the `GET ` in them
/// with them, and the mid-line search goes on after it: the request is
/// never inspected. Severity: Medium (a pickup or gap inside the body).
#[test]
fn review25a_request_after_a_body_line_of_a_token_and_spaces() {
    // Picked up in the middle of the body.
    let r = run(&[
        C(b"a=1&b=2\nA  GET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_xss_complete(&r);
    // A gap between two requests took the head of the one with the body
    // (`POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\na=1`).
    let r = run(&[
        C(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        GapC(51),
        C(b"&b=2\nA  GET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n"),
    ]);
    assert_xss_complete(&r);
}

// Review round 26 (reviewer a): finding where a request starts.

/// Round 25 judges a refused candidate again from the first method token
/// inside it. After a body Specula did not frame (midstream pickup, a gap)
/// whose last line is `XGET` and spaces (bytes the client picks), the next
/// request follows directly, as nginx reads it after the body's
/// Content-Length (`ngx_http_parse_request_line` from the next byte: method
/// `GET`, target `/?q=…`). Specula judges `XGET  GET ` from the line start
/// (an unknown method, spaces, the scheme `GET` refused at its space), then
/// again from the `GET ` inside `XGET`: a known method, spaces, and `G`
/// accepted. The request Specula parses is `GET  GET /?q=… HTTP/1.1`,
/// its target read as `GET /?q=…` where the server's is `/?q=…` (the path
/// differs). Severity: Low (a pickup or gap
/// inside the body is needed; the query is still split).
#[test]
fn review26a_rejudged_candidate_starts_at_the_token_in_the_method() {
    for tail in [&b"a=1\nXGET  "[..], b"a=1\nAGET\t", b"a=1\nPUTS  "] {
        let mut c = tail.to_vec();
        c.extend_from_slice(b"GET /?q=<script>alert(1)</script> HTTP/1.1\r\nHost: a\r\n\r\n");
        let c: &'static [u8] = Box::leak(c.into_boxed_slice());
        let r = run(&[C(c), S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]);
        assert_xss_complete(&r);
    }
}

// Review round 28 (reviewer b): HTTP/1.x framing fields.

/// The bodies of the requests of a run, with whether each is complete.
fn review28b_bodies(r: &Run) -> Vec<(String, bool)> {
    r.reqs
        .iter()
        .map(|q| (String::from_utf8_lossy(&q.body).into_owned(), q.complete))
        .collect()
}

/// nginx ends a header line at a run of CRs before its LF
/// (`ngx_http_parse_header_line`, 1.22 and later alike: `sw_value` stops the
/// value at the first CR, `sw_almost_done` loops on further CRs until the
/// LF), so `Content-Length: 27\r\r\n` is a Content-Length of 27 and
/// `Transfer-Encoding: chunked\r\r\n` is chunked: nginx reads the body and
/// hands it to the application. Specula strips one CR per line: the value
/// is `27\r` (`InvalidCl`) or `chunked\r` (not chunked), the request is
/// taken to have no body and the body, the attack, is skipped as garbage,
/// never inspected. Severity: High (a body the server receives is missed).
#[test]
fn review28b_framing_field_line_ended_by_several_crs() {
    let r = run(&[
        C(b"POST /search HTTP/1.1\r\nHost: a\r\nContent-Length: 27\r\r\n\r\nq=<script>alert(1)</script>"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(
        review28b_bodies(&r),
        vec![("q=<script>alert(1)</script>".to_string(), true)]
    );
    assert!(r.reqs[0].anomalies.has(Anomaly::BareCr));
    let r = run(&[
        C(b"POST /search HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\r\r\n\r\n1b\r\nq=<script>alert(1)</script>\r\n0\r\n\r\n"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(
        review28b_bodies(&r),
        vec![("q=<script>alert(1)</script>".to_string(), true)]
    );
    // The same in the skipped part of an over-long head (nginx with larger
    // `large_client_header_buffers`).
    review15_chunked_after_a_long_head(b"Transfer-Encoding: chunked\r\r\n");
}

/// Tomcat (8.5 to 11, `TokenList.parseTokenList` since 2021: "Could be
/// empty element (which is OK for 1#token - see RFC 7230 section 7)")
/// skips empty list elements, so `Transfer-Encoding: chunked,` (or
/// `chunked, ,`) is the one coding `chunked`: `Http11Processor` adds the
/// chunked input filter and reads the chunked body (RFC 9110 §5.6.1.2: a
/// recipient MUST parse and ignore a reasonable number of empty list
/// elements). Specula takes the text after the last comma, the empty
/// element, as the final coding: not chunked, no body, and the chunked
/// body (the attack) is skipped as garbage, never inspected. Severity:
/// High (a body the server receives is missed).
#[test]
fn review28b_transfer_encoding_with_a_trailing_empty_list_element() {
    for te in [
        &b"chunked,"[..],
        b"chunked, ",
        b"chunked , ,",
        b"chunked,\t",
    ] {
        let mut c = b"POST /search HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ".to_vec();
        c.extend_from_slice(te);
        c.extend_from_slice(b"\r\n\r\n1b\r\nq=<script>alert(1)</script>\r\n0\r\n\r\n");
        let c: &'static [u8] = Box::leak(c.into_boxed_slice());
        let r = run(&[C(c), S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]);
        assert_eq!(
            review28b_bodies(&r),
            vec![("q=<script>alert(1)</script>".to_string(), true)],
            "{}",
            String::from_utf8_lossy(te)
        );
        assert!(r.reqs[0].anomalies.has(Anomaly::InvalidTe));
    }
    // The same in the skipped part of an over-long head (Tomcat with a
    // larger `maxHttpHeaderSize`), the line cut or not.
    review15_chunked_after_a_long_head(b"Transfer-Encoding: chunked,\r\n");
    review15_chunked_after_a_long_head(
        b"Transfer-Encoding: , , , , , , , , , , , , , , , , , , , , , , , , chunked, \r\n",
    );
}

/// Apache httpd joins an obs-fold line to its field
/// (`ap_get_mime_headers_core`: the continuation is appended to the
/// field set aside, "Replace obs-fold w/ SP" in 2.4.25 and later), then
/// skips the whitespace before the value: `Content-Length:` folded onto
/// ` 27` is `Content-Length: 27`, and the 27-byte body is read and handed
/// to the application. Apache reads heads over 64 KiB by default
/// (`LimitRequestFields` 100 × `LimitRequestFieldSize` 8190). In a short
/// head Specula's lenient parser joins the lines too; in the skipped part
/// of an over-long head only a folded Transfer-Encoding is joined (review
/// round 15), so the Content-Length is read as empty (`InvalidCl`), the
/// request has no body and its body, the attack, is skipped as garbage,
/// never inspected. Severity: High (a body the server receives is missed).
#[test]
fn review33a_skipped_head_folded_content_length() {
    for framing in [
        &b"Content-Length:\r\n 27\r\n"[..],
        b"Content-Length: \r\n\t27\r\n",
    ] {
        let req = review15_long_head(framing, b"q=<script>alert(1)</script>");
        let r = run(&[C(req), S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]);
        assert_eq!(
            review15_bodies(&r),
            vec!["q=<script>alert(1)</script>".to_string()],
            "{}",
            String::from_utf8_lossy(framing)
        );
    }
    // The same field in a short head: read already.
    let r = run(&[
        C(b"POST /search HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n 27\r\n\r\nq=<script>alert(1)</script>"),
        S(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(
        review15_bodies(&r),
        vec!["q=<script>alert(1)</script>".to_string()]
    );
}

/// Review round 36b. A server that is no proxy answers a CONNECT like any
/// other request: Go's net/http passes `CONNECT /path HTTP/1.1` to the
/// handler (`readRequest` only treats a target without `/` as an
/// authority), and a catch-all handler answers `200 OK` with a body framed
/// by its Content-Length, then reads the next request on the connection as
/// HTTP (no Hijack, no tunnel). Specula opens its tunnel at the 2xx; the
/// client's next bytes are HTTP, so it resumes, but the response side then
/// seeks a status line from the 2xx's head on, through that response's own
/// body. Reflected text in it (`HTTP/1.1 403 Forbidden…`) is taken for the
/// answer to the next request: an attack that succeeded (`200`) is stored
/// as answered by 403, `blocked = true`, and every later pairing is shifted.
/// Expected: the 2xx's body, framed by its Content-Length or chunked coding
/// (RFC 9112 §6.3; a tunnelling proxy sends neither), is skipped whole.
/// Severity: Medium (the outcome of an attack is forged; requests are
/// still seen).
#[test]
fn review36b_a_connect_2xx_body_is_not_read_as_the_next_response() {
    let connect: &'static [u8] = b"CONNECT /echo HTTP/1.1\r\nHost: h\r\n\r\n";
    let attack: &'static [u8] = b"GET /?id=1'or'1'='1 HTTP/1.1\r\nHost: h\r\n\r\n";
    let fake: &'static [u8] = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    let head_cl: &'static [u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 45\r\n\r\n";
    assert_eq!(fake.len(), 45);
    let real: &'static [u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let pairs = |r: &Run| -> Vec<(u16, Option<u32>)> {
        r.resps
            .iter()
            .map(|p| (p.status, p.request_index))
            .collect()
    };
    // The client's next request comes after the 2xx's head (the tunnel
    // probe decides), the body after it.
    let r = run(&[C(connect), S(head_cl), C(attack), S(fake), S(real)]);
    assert_eq!(r.reqs.len(), 2);
    assert_eq!(pairs(&r), vec![(200, Some(0)), (200, Some(1))]);
    // The client's next request already begun when the 2xx comes: the rest
    // of its segment is read again from the 2xx's head on.
    let both: &'static [u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 45\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    let r = run(&[
        C(connect),
        C(b"GET /?id=1'or'1'='1 HTTP"),
        S(both),
        C(b"/1.1\r\nHost: h\r\n\r\n"),
        S(real),
    ]);
    assert_eq!(r.reqs.len(), 2);
    assert_eq!(pairs(&r), vec![(200, Some(0)), (200, Some(1))]);
    // Chunked, the same.
    let r = run(&[
        C(connect),
        S(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        C(attack),
        S(b"2d\r\nHTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n\r\n0\r\n\r\n"),
        S(real),
    ]);
    assert_eq!(pairs(&r), vec![(200, Some(0)), (200, Some(1))]);
    // A proxy's 2xx without framing still carries the tunnel's HTTP at once.
    let r = run(&[
        C(connect),
        S(b"HTTP/1.1 200 Connection established\r\n\r\n"),
        C(attack),
        S(real),
    ]);
    assert_eq!(pairs(&r), vec![(200, Some(0)), (200, Some(1))]);
}
