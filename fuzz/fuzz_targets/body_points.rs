//! Request-point extraction (`detect::point`) over arbitrary bodies with
//! arbitrary content types, query strings and cookies, under the default
//! and under tight limits. Checks the limits hold (points, bytes per point,
//! location length, JSON depth, each limit hit counted) and that a reused
//! `Points` gives exactly what a fresh one gives.
//!
//! Input: `content-type \n request-target \n cookie \n body...`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::capture::Timestamp;
use specula::detect::point::{Kind, Points, MAX_JSON_DEPTH, MAX_LOCATION_LEN, MAX_LOCATION_NAME};
use specula::detect::{DetectLimits, DetectStats};
use specula::http::{Anomalies, Headers, Request, Version};
use specula::reassembly::Direction;

fn field<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let f = &rest[..i];
            *rest = &rest[i + 1..];
            f
        }
        None => std::mem::take(rest),
    }
}

/// Depth of the deepest value below `v` (its children are at depth 1).
fn json_depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => a.iter().map(|x| 1 + json_depth(x)).max().unwrap_or(0),
        serde_json::Value::Object(o) => o.values().map(|x| 1 + json_depth(x)).max().unwrap_or(0),
        _ => 0,
    }
}

type Snapshot = Vec<(Kind, String, String, Vec<u8>)>;

fn snapshot(p: &Points) -> Snapshot {
    p.points
        .iter()
        .map(|x| (x.kind, p.loc(x).to_string(), p.header_name(x).to_string(), p.value(x).to_vec()))
        .collect()
}

fn check(req: &Request, limits: &DetectLimits, reused: &mut Points) {
    let mut stats = DetectStats::default();
    let mut p = Points::default();
    p.extract(req, limits, &mut stats);

    // Past the budget, the query, each header line and `Cookie` header and
    // the body are still inspected whole: one point each, two when cut to
    // head and tail.
    let over_budget = 2 * (2 + 2 * req.headers.len());
    assert!(p.points.len() <= limits.max_points + over_budget);
    assert!(stats.point_limit_hits <= 1, "one limit hit per request");
    if stats.point_limit_hits == 1 {
        assert!(p.points.len() >= limits.max_points);
    } else {
        assert!(p.points.len() <= limits.max_points);
    }
    for x in &p.points {
        assert!(x.value.start <= x.value.end && x.value.end <= p.values.len());
        assert!(p.header_name_bytes(x).len() <= MAX_LOCATION_NAME);
        assert!(p.value(x).len() <= limits.max_point_bytes);
        assert!(p.loc(x).len() <= MAX_LOCATION_LEN, "location too long");
        assert!(p.header_name(x).chars().count() <= MAX_LOCATION_NAME);
    }
    assert!(p.values.len() <= (limits.max_points + over_budget) * limits.max_point_bytes);

    // JSON nested deeper than MAX_JSON_DEPTH is cut, and that is counted.
    let ct = req.header("content-type").unwrap_or_default();
    let mime = specula::detect::point::media_type(ct.trim_ascii());
    let is_json = mime.eq_ignore_ascii_case(b"application/json")
        || mime.len() >= 5 && mime[mime.len() - 5..].eq_ignore_ascii_case(b"+json");
    if is_json && stats.point_limit_hits == 0 {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&req.body) {
            let deep = json_depth(&v) > MAX_JSON_DEPTH;
            if deep {
                assert!(stats.decode_depth_hits > 0, "JSON deeper than the cap, not counted");
            }
        }
    }

    // A reused Points (arenas full of another request) gives the same.
    let mut st2 = DetectStats::default();
    reused.extract(req, limits, &mut st2);
    assert_eq!(snapshot(&p), snapshot(reused));
    assert_eq!(stats, st2);
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let ct = field(&mut rest);
    let uri = field(&mut rest);
    let cookie = field(&mut rest);
    let body = rest;
    let mut headers = Headers::new();
    headers.push(b"Content-Type", ct);
    if !cookie.is_empty() {
        headers.push(b"Cookie", cookie);
    }
    let req = Request {
        ts: Timestamp(0),
        seq: 0,
        dir: Direction::ToServer,
        index: 0,
        method: b"POST".to_vec(),
        uri: uri.to_vec(),
        version: Version::Http11,
        headers,
        trailers_from: None,
        body: body.to_vec(),
        body_len: body.len() as u64,
        anomalies: Anomalies::default(),
        complete: true,
    };
    // Fill the reused arenas with something else first.
    let mut reused = Points::default();
    let other = Request {
        uri: b"/x/../y?a=1&b=%3Cc%3E&a=2".to_vec(),
        body: b"q=1&r=2&s=3".to_vec(),
        headers: [(b"Content-Type", b"application/x-www-form-urlencoded")].into_iter().collect(),
        ..req.clone()
    };
    let tight = DetectLimits { max_points: 6, max_point_bytes: 16, max_decode_depth: 1, max_hits_per_request: 2, max_inflated_body_bytes: 4096, max_inflate_ratio: 10, ..DetectLimits::default() };
    for limits in [DetectLimits::default(), tight] {
        reused.extract(&other, &limits, &mut DetectStats::default());
        check(&req, &limits, &mut reused);
    }
});
