//! The output record and its text encodings.

use serde::Serialize;

use crate::capture::Timestamp;

/// One output row: a request, or one attack hit on a request (then
/// `attack` is set). Field names are the external contract
/// (`shared/CONTRACT.md`); strings hold bytes escaped by [`escape_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// RFC 3339 UTC with microseconds, time of the request's first byte.
    pub ts: String,
    pub src_ip: String,
    pub src_port: u16,
    pub dst_ip: String,
    pub dst_port: u16,
    pub client_ip: String,
    pub method: String,
    pub uri: String,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub body_len: u64,
    /// HTTP version as sent (`HTTP/1.1`, `HTTP/0.9` when absent).
    pub version: String,
    /// True when the whole request was seen (no gap, not cut by the end).
    pub complete: bool,
    /// Groups the hits of one request: `<ts ns hex>-<flow hash hex>-<index>`.
    pub request_key: String,
    /// True when `client_ip` came from a trusted proxy's header.
    pub client_ip_from_header: bool,
    /// What a source that is not a trusted proxy claimed in `X-Real-IP` /
    /// `X-Forwarded-For` (not believed: `client_ip` is the packet's source).
    /// Absent when nothing was claimed or the claim was believed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip_claimed: Option<String>,
    /// Status of the response that answered this request; 0 when none was
    /// seen (one-sided capture, no answer within `[responses] timeout_ms`,
    /// flow cut, mirror-target port, pairing off).
    pub response_status: u16,
    /// Body bytes of that response after de-chunking; 0 when unseen.
    pub response_bytes: u64,
    /// Response's first byte minus the request's first byte, capture clock,
    /// in milliseconds; 0 when unseen.
    pub response_time_ms: u32,
    /// True when the response status is one of `[responses]
    /// blocked_statuses` (default 403, 406, 429): the request was refused.
    pub blocked: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub attack: Option<AttackFields>,
    /// Attack records only: what was sent, secrets masked (see
    /// `pipeline::mask`). Absent from request records (size). Shared by
    /// the hit records of one request (up to `max_hits_per_request`), not
    /// copied into each.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub context: Option<std::sync::Arc<RequestContext>>,
    /// With `--emit requests`: the classes detected on this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attack_classes: Option<Vec<&'static str>>,
}

impl Record {
    /// Heap and inline bytes this record holds, roughly (string lengths,
    /// not capacities), leaving out its shared request context
    /// ([`RequestContext::approx_bytes`]): what holding it back costs, for
    /// memory caps.
    pub fn own_bytes(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let mut n = std::mem::size_of::<Record>()
            + self.ts.len()
            + self.src_ip.len()
            + self.dst_ip.len()
            + self.client_ip.len()
            + self.method.len()
            + self.uri.len()
            + opt(&self.host)
            + opt(&self.user_agent)
            + opt(&self.request_id)
            + self.version.len()
            + self.request_key.len()
            + opt(&self.client_ip_claimed);
        if let Some(a) = &self.attack {
            n += a.rule_id.len() + a.location.len() + a.matched.len();
        }
        if let Some(classes) = &self.attack_classes {
            n += classes.len() * std::mem::size_of::<&str>();
        }
        n
    }
}

impl RequestContext {
    /// Bytes this context holds, roughly (string lengths).
    pub fn approx_bytes(&self) -> usize {
        std::mem::size_of::<RequestContext>()
            + self.request_line.len()
            + self.body_excerpt.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2 * std::mem::size_of::<String>())
                .sum::<usize>()
    }
}

/// The fields an attack record adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttackFields {
    pub attack_class: &'static str,
    pub rule_id: String,
    pub severity: &'static str,
    pub location: String,
    pub matched: String,
}

/// The request as sent, carried by attack records, with secrets masked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestContext {
    /// `METHOD SP target SP version` (no version for HTTP/0.9), rebuilt
    /// from the parsed line; the target masked like `uri`.
    pub request_line: String,
    /// Every header field in order (then trailers), as `[name, value]`.
    pub headers: Vec<(String, String)>,
    /// The first `[masking] body_excerpt_bytes` of the body (after
    /// de-chunking), cut on a character boundary, never inside a mask.
    pub body_excerpt: String,
}

/// Bytes to a string, never losing one: valid UTF-8 is kept as is, every
/// byte of an invalid sequence becomes `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// RFC 3339 UTC with microseconds (`2024-05-01T12:00:00.123456Z`).
pub fn format_ts(ts: Timestamp) -> String {
    let secs = i64::try_from(ts.secs()).unwrap_or(i64::MAX);
    match chrono::DateTime::from_timestamp(secs, ts.subsec_nanos()) {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => "1970-01-01T00:00:00.000000Z".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_keeps_utf8_and_escapes_the_rest() {
        assert_eq!(escape_bytes(b"abc"), "abc");
        assert_eq!(escape_bytes("é".as_bytes()), "é");
        assert_eq!(escape_bytes(b"a\xffb\xc3"), "a\\xFFb\\xC3");
        assert_eq!(escape_bytes(b""), "");
    }

    #[test]
    fn context_is_flattened_into_attack_records_only() {
        let mut r = Record {
            ts: "t".into(),
            src_ip: "1".into(),
            src_port: 1,
            dst_ip: "2".into(),
            dst_port: 2,
            client_ip: "1".into(),
            method: "GET".into(),
            uri: "/".into(),
            host: None,
            user_agent: None,
            request_id: None,
            body_len: 0,
            version: "HTTP/1.1".into(),
            complete: true,
            request_key: "k".into(),
            client_ip_from_header: false,
            client_ip_claimed: None,
            response_status: 0,
            response_bytes: 0,
            response_time_ms: 0,
            blocked: false,
            attack: None,
            context: None,
            attack_classes: Some(vec![]),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert!(v.get("headers").is_none() && v.get("request_line").is_none());
        r.context = Some(std::sync::Arc::new(RequestContext {
            request_line: "GET / HTTP/1.1".into(),
            headers: vec![("Host".into(), "a".into()), ("X".into(), "\\xFF".into())],
            body_excerpt: "b".into(),
        }));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["request_line"], "GET / HTTP/1.1");
        assert_eq!(
            v["headers"],
            serde_json::json!([["Host", "a"], ["X", "\\xFF"]])
        );
        assert_eq!(v["body_excerpt"], "b");
    }

    #[test]
    fn ts_is_rfc3339_micro_utc() {
        assert_eq!(
            format_ts(Timestamp::from_secs_nanos(0, 0)),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            format_ts(Timestamp::from_secs_nanos(1_700_000_000, 123_456_789)),
            "2023-11-14T22:13:20.123456Z"
        );
    }
}
