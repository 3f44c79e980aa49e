//! Two-sided (SPAN/TAP) fixtures for `testdata/`: requests and the responses
//! that answer them, with the response fields each record must carry in the
//! truth (`response_status`, `response_bytes`, `blocked`, and
//! `response_time_ms` where the timing is exact).
//!
//! The server listens on port 80 (not the mirror target's 8445, whose
//! answers are never paired). Packets are 1 ms apart, so response times are
//! whole milliseconds computed from the frames themselves.

use std::net::SocketAddr;

use super::conversation::DEFAULT_START;
use super::testdata::{request, Fixture};
use super::{write_pcap, SynthError, TcpConversation, Teardown, TruthRequest};
use crate::capture::{LinkType, Timestamp};

const HOST: &str = "app.example.com";
/// Time between packets: response times are whole milliseconds.
const STEP_NS: u64 = 1_000_000;

fn addrs(client_port: u16) -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::from(([10, 30, 0, 7], client_port)),
        SocketAddr::from(([10, 40, 0, 5], 80)),
    )
}

/// A response with `X-Answer: id` (to find its first frame) and a body.
fn response(id: &str, status: &str, extra: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status}\r\nServer: nginx\r\nX-Answer: {id}\r\n");
    for (k, v) in extra {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    if !extra.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("transfer-encoding") || k.eq_ignore_ascii_case("content-length")
    }) {
        s.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    s.push_str("\r\n");
    let mut v = s.into_bytes();
    v.extend_from_slice(body);
    v
}

fn answered(mut t: TruthRequest, status: u16, bytes: u64, blocked: bool) -> TruthRequest {
    t.response_status = Some(status);
    t.response_bytes = Some(bytes);
    t.blocked = Some(blocked);
    t
}

fn unanswered(t: TruthRequest) -> TruthRequest {
    answered(t, 0, 0, false)
}

fn attack(mut t: TruthRequest, class: &str, kind: &str, location: &str) -> TruthRequest {
    t.attack_class = Some(class.into());
    t.location_kind = Some(kind.into());
    t.location = Some(location.into());
    t.encoding = Some("percent".into());
    t
}

/// Time of the first frame holding `needle`.
fn first_ts(frames: &[(Timestamp, Vec<u8>)], needle: &str) -> Result<Timestamp, SynthError> {
    frames
        .iter()
        .find(|(_, f)| f.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(|(ts, _)| *ts)
        .ok_or_else(|| SynthError::Invalid(format!("no frame holds {needle:?}")))
}

/// Fill `response_time_ms` from the frames: first byte of the request
/// (its frame holds `X-Request-ID`) to the first byte of the answer.
fn timed(frames: &[(Timestamp, Vec<u8>)], truth: &mut [TruthRequest]) -> Result<(), SynthError> {
    for t in truth {
        if t.response_status.is_some_and(|s| s > 0) {
            let req = first_ts(frames, &format!("X-Request-ID: {}\r\n", t.request_id))?;
            let resp = first_ts(frames, &format!("X-Answer: {}\r\n", t.request_id))?;
            let ms = resp.0.saturating_sub(req.0) / 1_000_000;
            t.response_time_ms = Some(u32::try_from(ms).unwrap_or(u32::MAX));
        }
    }
    Ok(())
}

fn pcap(frames: &[(Timestamp, Vec<u8>)]) -> Result<Vec<u8>, SynthError> {
    let mut v = Vec::new();
    write_pcap(&mut v, LinkType::ETHERNET, frames, false, false)?;
    Ok(v)
}

fn fx(name: &str, bytes: Vec<u8>, truth: Vec<TruthRequest>) -> Fixture {
    Fixture {
        name: name.into(),
        bytes,
        truth,
    }
}

/// Every SPAN fixture.
pub fn fixtures() -> Result<Vec<Fixture>, SynthError> {
    Ok(vec![keepalive()?, pipelining()?, timeout()?, one_sided()?])
}

/// One keep-alive connection: 200, a WAF's 403, 100-continue then 201, HEAD,
/// 304, 500, and a chunked 200.
fn keepalive() -> Result<Fixture, SynthError> {
    let (c, s) = addrs(52000);
    let id = |n: u32| format!("span-ka-{n}");
    let sqli = "/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--";
    // Not refused: the 500 shows the payload reached the application.
    let sqli_reached = "/api/items?id=1%27%20OR%20%271%27%3D%271";
    let upload = b"title=holiday&text=a+plain+note";
    let waf_page = b"<html><body><h1>403 Forbidden</h1>Request blocked by WAF.</body></html>";
    let error_page = b"<html><body>Internal Server Error</body></html>";
    let conv = TcpConversation::new(c, s)
        .timing(DEFAULT_START, STEP_NS)
        .client(request(&id(1), "GET", "/index.html", HOST, &[], b""))
        .server(response(&id(1), "200 OK", &[], b"hello, world\n"))
        .client(request(&id(2), "GET", sqli, HOST, &[], b""))
        .server(response(&id(2), "403 Forbidden", &[], waf_page))
        .client({
            // Head first; the body only after the interim 100 (RFC 9110 §10.1.1).
            let full = request(
                &id(3),
                "POST",
                "/notes",
                HOST,
                &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Expect", "100-continue"),
                ],
                upload,
            );
            let head = full.len().saturating_sub(upload.len());
            full.get(..head).unwrap_or_default().to_vec()
        })
        .server(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec())
        .client(upload.to_vec())
        .server(response(&id(3), "201 Created", &[], b"{\"id\":7}"))
        .client(request(&id(4), "HEAD", "/report.pdf", HOST, &[], b""))
        .server(response(
            &id(4),
            "200 OK",
            &[
                ("Content-Length", "48213"),
                ("Content-Type", "application/pdf"),
            ],
            b"",
        ))
        .client(request(
            &id(5),
            "GET",
            "/style.css",
            HOST,
            &[("If-None-Match", "\"abc\"")],
            b"",
        ))
        .server(response(
            &id(5),
            "304 Not Modified",
            &[("ETag", "\"abc\""), ("Content-Length", "512")],
            b"",
        ))
        .client(request(&id(6), "GET", sqli_reached, HOST, &[], b""))
        .server(response(
            &id(6),
            "500 Internal Server Error",
            &[],
            error_page,
        ))
        .client(request(&id(7), "GET", "/feed", HOST, &[], b""))
        .server(response(
            &id(7),
            "200 OK",
            &[("Transfer-Encoding", "chunked")],
            b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
        ));
    let mut truth = vec![
        answered(
            TruthRequest::benign(&id(1), "GET", "/index.html", HOST),
            200,
            13,
            false,
        ),
        answered(
            attack(
                TruthRequest::benign(&id(2), "GET", sqli, HOST),
                "sqli",
                "query",
                "query:q",
            ),
            403,
            waf_page.len() as u64,
            true,
        ),
        answered(
            TruthRequest::benign(&id(3), "POST", "/notes", HOST),
            201,
            8,
            false,
        ),
        answered(
            TruthRequest::benign(&id(4), "HEAD", "/report.pdf", HOST),
            200,
            0,
            false,
        ),
        answered(
            TruthRequest::benign(&id(5), "GET", "/style.css", HOST),
            304,
            0,
            false,
        ),
        answered(
            attack(
                TruthRequest::benign(&id(6), "GET", sqli_reached, HOST),
                "sqli",
                "query",
                "query:id",
            ),
            500,
            error_page.len() as u64,
            false,
        ),
        answered(
            TruthRequest::benign(&id(7), "GET", "/feed", HOST),
            200,
            12,
            false,
        ),
    ];
    let frames = conv.frames(LinkType::ETHERNET)?;
    timed(&frames, &mut truth)?;
    Ok(fx("span-keepalive.pcap", pcap(&frames)?, truth))
}

/// Three pipelined requests in small segments; the answers come in order.
fn pipelining() -> Result<Fixture, SynthError> {
    let (c, s) = addrs(52001);
    let id = |n: u32| format!("span-pipe-{n}");
    let lfi = "/download?file=..%2F..%2F..%2Fetc%2Fpasswd";
    let mut all = request(&id(1), "GET", "/a", HOST, &[], b"");
    all.extend(request(&id(2), "GET", lfi, HOST, &[], b""));
    all.extend(request(&id(3), "GET", "/c", HOST, &[], b""));
    let mut resp = response(
        &id(1),
        "200 OK",
        &[("Transfer-Encoding", "chunked")],
        b"3\r\nabc\r\n0\r\n\r\n",
    );
    resp.extend(response(&id(2), "406 Not Acceptable", &[], b"no"));
    resp.extend(response(&id(3), "200 OK", &[], b"ccc"));
    let conv = TcpConversation::new(c, s)
        .timing(DEFAULT_START, STEP_NS)
        .mss(100)
        .client(all)
        .server(resp);
    let truth = vec![
        answered(
            TruthRequest::benign(&id(1), "GET", "/a", HOST),
            200,
            3,
            false,
        ),
        answered(
            attack(
                TruthRequest::benign(&id(2), "GET", lfi, HOST),
                "ptrav",
                "query",
                "query:file",
            ),
            406,
            2,
            true,
        ),
        answered(
            TruthRequest::benign(&id(3), "GET", "/c", HOST),
            200,
            3,
            false,
        ),
    ];
    Ok(fx(
        "span-pipelining.pcap",
        pcap(&conv.frames(LinkType::ETHERNET)?)?,
        truth,
    ))
}

/// A request the server ACKs but never answers, on a connection that stays
/// open; another connection 10 s later (past the 5 s pairing timeout)
/// is answered with a 429.
fn timeout() -> Result<Fixture, SynthError> {
    let (c1, s) = addrs(52002);
    let (c2, _) = addrs(52003);
    let silent = TcpConversation::new(c1, s)
        .timing(DEFAULT_START, STEP_NS)
        .teardown(Teardown::None)
        .client(request("span-timeout-1", "GET", "/slow", HOST, &[], b""));
    let later = TcpConversation::new(c2, s)
        .timing(Timestamp(DEFAULT_START.0 + 10_000_000_000), STEP_NS)
        .client(request("span-timeout-2", "GET", "/again", HOST, &[], b""))
        .server(response(
            "span-timeout-2",
            "429 Too Many Requests",
            &[],
            b"",
        ));
    let mut frames = silent.frames(LinkType::ETHERNET)?;
    frames.extend(later.frames(LinkType::ETHERNET)?);
    let mut truth = vec![
        unanswered(TruthRequest::benign("span-timeout-1", "GET", "/slow", HOST)),
        answered(
            TruthRequest::benign("span-timeout-2", "GET", "/again", HOST),
            429,
            0,
            true,
        ),
    ];
    timed(&frames, &mut truth)?;
    Ok(fx("span-timeout.pcap", pcap(&frames)?, truth))
}

/// Only the client's side (the SYN, then data; no SYN-ACK, no ACK): nothing
/// can be paired and nothing waits.
fn one_sided() -> Result<Fixture, SynthError> {
    let (c, s) = addrs(52004);
    let conv = TcpConversation::new(c, s)
        .timing(DEFAULT_START, STEP_NS)
        .server_silent(true)
        .client(request("span-one-sided-1", "GET", "/x", HOST, &[], b""))
        .server(response("span-one-sided-1", "200 OK", &[], b"unseen"))
        .client(request("span-one-sided-2", "GET", "/y", HOST, &[], b""));
    let truth = vec![
        unanswered(TruthRequest::benign("span-one-sided-1", "GET", "/x", HOST)),
        unanswered(TruthRequest::benign("span-one-sided-2", "GET", "/y", HOST)),
    ];
    Ok(fx(
        "span-one-sided.pcap",
        pcap(&conv.frames(LinkType::ETHERNET)?)?,
        truth,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_fixtures_show_what_their_truth_says() {
        let f = fixtures().unwrap();
        assert_eq!(f.len(), 4);
        let ka = &f[0];
        let has = |b: &[u8], s: &str| b.windows(s.len()).any(|w| w == s.as_bytes());
        for s in [
            "HTTP/1.1 100 Continue\r\n",
            "HTTP/1.1 403 Forbidden\r\n",
            "HTTP/1.1 304 Not Modified\r\n",
            "7;ext=1\r\n, world\r\n",
        ] {
            assert!(has(&ka.bytes, s), "{s}");
        }
        // Times are whole milliseconds taken from the frames: all positive.
        assert!(ka
            .truth
            .iter()
            .all(|t| t.response_time_ms.is_some_and(|ms| ms > 0)));
        let one = &f[3];
        assert!(!has(&one.bytes, "X-Answer"), "the server side is absent");
    }
}
