//! The metrics endpoint: Prometheus text at `GET /metrics`, health at
//! `GET /healthz` (`specula live --metrics 127.0.0.1:9108`).
//!
//! It owns the listening socket and nothing else: the content comes from
//! closures supplied by the caller (the pipeline's live snapshot), so this
//! module knows nothing of the pipeline. The closures run on the server's
//! blocking pool (`spawn_blocking`, at most 2 threads), so a slow snapshot
//! never stalls the accept loop or other connections' I/O; they run at most
//! once per request, and requests at once are bounded by the connection cap.
//!
//! | path | GET / HEAD | other methods |
//! | --- | --- | --- |
//! | `/metrics` | 200, `text/plain; version=0.0.4; charset=utf-8` | 405 |
//! | `/healthz` | 200 when healthy else 503, `application/json` | 405 |
//! | anything else | 404 | 404 |
//!
//! Bounds (see [`crate::mirror_target`] for the machinery): 64 connections
//! ([`MAX_CONNECTIONS`], more are closed at once), 10 s to send a request
//! head, 30 s idle, 16 KiB request heads.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

use crate::mirror_target::{Limits, MirrorTargetStats, ServeError, Server};

/// Produces the Prometheus text exposition (called once per scrape).
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// The answer of a health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// 200 when true, 503 when false.
    pub healthy: bool,
    /// JSON text, sent as is.
    pub body: String,
}

/// Produces the health answer (called once per `/healthz` request).
pub type CheckHealth = Arc<dyn Fn() -> Health + Send + Sync>;

/// Connections served at once; more are accepted and closed at once.
pub const MAX_CONNECTIONS: usize = 64;

const LIMITS: Limits = Limits {
    max_connections: MAX_CONNECTIONS,
    header_timeout: Duration::from_secs(10),
    idle_timeout: Duration::from_secs(30),
    max_head_bytes: 16 * 1024,
};

const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const JSON: &str = "application/json";

/// The running metrics endpoint.
pub struct MetricsServer {
    server: Server,
}

impl MetricsServer {
    /// Binds synchronously (errors are immediate), then serves on its own
    /// named thread (`specula-metrics`) with a current-thread tokio runtime.
    pub fn start(
        listen: SocketAddr,
        render: RenderMetrics,
        health: CheckHealth,
    ) -> Result<MetricsServer, ServeError> {
        // No peer list: `/metrics` is meant for any scraper that reaches it.
        let server = Server::start(
            "specula-metrics",
            listen,
            LIMITS,
            Vec::new(),
            move |_counters| {
                move |req: Request<Incoming>| route(req, Arc::clone(&render), Arc::clone(&health))
            },
        )?;
        Ok(MetricsServer { server })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The endpoint's own connection counters (same meaning as the mirror
    /// target's; `body_bytes_discarded` stays 0).
    pub fn stats(&self) -> MirrorTargetStats {
        self.server.stats()
    }

    /// Stops accepting, closes the connections and joins the thread.
    pub fn shutdown(self) {
        self.server.shutdown();
    }
}

async fn route(
    req: Request<Incoming>,
    render: RenderMetrics,
    health: CheckHealth,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let readable = matches!(*req.method(), Method::GET | Method::HEAD);
    let resp = match req.uri().path() {
        "/metrics" | "/healthz" if !readable => {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        }
        "/metrics" => match tokio::task::spawn_blocking(move || render()).await {
            Ok(text) => with_type(StatusCode::OK, text, PROMETHEUS_TEXT),
            Err(e) => failed("metrics", &e),
        },
        "/healthz" => match tokio::task::spawn_blocking(move || health()).await {
            Ok(h) => {
                let status = if h.healthy {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                with_type(status, h.body, JSON)
            }
            Err(e) => failed("health", &e),
        },
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    };
    Ok(resp)
}

/// A closure that panicked (or a runtime shutting down): 500, logged.
fn failed(what: &str, e: &tokio::task::JoinError) -> Response<Full<Bytes>> {
    tracing::warn!(error = %e, "{what} closure failed");
    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    with_type(status, text.to_owned(), "text/plain; charset=utf-8")
}

fn with_type(
    status: StatusCode,
    body: String,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    struct Fixture {
        server: MetricsServer,
        healthy: Arc<AtomicBool>,
        renders: Arc<AtomicU64>,
    }

    fn fixture() -> Fixture {
        let healthy = Arc::new(AtomicBool::new(true));
        let renders = Arc::new(AtomicU64::new(0));
        let render: RenderMetrics = {
            let renders = Arc::clone(&renders);
            Arc::new(move || {
                let n = renders.fetch_add(1, Ordering::SeqCst) + 1;
                format!("# TYPE specula_test_total counter\nspecula_test_total {n}\n")
            })
        };
        let health: CheckHealth = {
            let healthy = Arc::clone(&healthy);
            Arc::new(move || {
                let ok = healthy.load(Ordering::SeqCst);
                Health {
                    healthy: ok,
                    body: format!("{{\"healthy\":{ok}}}"),
                }
            })
        };
        let server =
            MetricsServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), render, health).unwrap();
        Fixture {
            server,
            healthy,
            renders,
        }
    }

    /// One request with `Connection: close`: (status, lower-cased head, body).
    fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head[9..12].parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    #[test]
    fn scrape_metrics() {
        let f = fixture();
        let (status, head, body) = request(f.server.local_addr(), "GET", "/metrics");
        assert_eq!(status, 200);
        assert!(head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"));
        assert_eq!(
            body,
            "# TYPE specula_test_total counter\nspecula_test_total 1\n"
        );
        let (_, _, body) = request(f.server.local_addr(), "GET", "/metrics?x=1");
        assert!(body.ends_with("specula_test_total 2\n"));
        // HEAD: same status, no body.
        let (status, _, body) = request(f.server.local_addr(), "HEAD", "/metrics");
        assert_eq!((status, body.as_str()), (200, ""));
        f.server.shutdown();
    }

    #[test]
    fn healthz_200_then_503() {
        let f = fixture();
        let (status, head, body) = request(f.server.local_addr(), "GET", "/healthz");
        assert_eq!(status, 200);
        assert!(head.contains("content-type: application/json"));
        assert_eq!(body, r#"{"healthy":true}"#);
        f.healthy.store(false, Ordering::SeqCst);
        let (status, head, body) = request(f.server.local_addr(), "GET", "/healthz");
        assert_eq!(status, 503);
        assert!(head.contains("content-type: application/json"));
        assert_eq!(body, r#"{"healthy":false}"#);
        assert_eq!(f.renders.load(Ordering::SeqCst), 0);
        f.server.shutdown();
    }

    #[test]
    fn unknown_paths_404_other_methods_405() {
        let f = fixture();
        let addr = f.server.local_addr();
        assert_eq!(request(addr, "GET", "/").0, 404);
        assert_eq!(request(addr, "GET", "/metrics/extra").0, 404);
        assert_eq!(request(addr, "DELETE", "/nothing").0, 404);
        let (status, head, _) = request(addr, "POST", "/metrics");
        assert_eq!(status, 405);
        assert!(head.contains("allow: get, head"), "{head}");
        assert_eq!(request(addr, "PUT", "/healthz").0, 405);
        assert_eq!(f.renders.load(Ordering::SeqCst), 0);
        f.server.shutdown();
    }

    #[test]
    fn concurrent_scrapes() {
        let f = fixture();
        let addr = f.server.local_addr();
        let threads: Vec<_> = (0..16)
            .map(|_| {
                std::thread::spawn(move || {
                    for _ in 0..5 {
                        let (status, _, body) = request(addr, "GET", "/metrics");
                        assert_eq!(status, 200);
                        assert!(body.starts_with("# TYPE specula_test_total counter\n"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(f.renders.load(Ordering::SeqCst), 80);
        let st = f.server.stats();
        assert_eq!(st.connections_accepted, 80);
        assert_eq!(st.requests_answered, 80);
        assert_eq!(st.connection_errors, 0);
        f.server.shutdown();
    }

    #[test]
    fn a_panicking_render_is_a_500_and_the_server_goes_on() {
        let render: RenderMetrics = Arc::new(|| panic!("render failed on purpose"));
        let health: CheckHealth = Arc::new(|| Health {
            healthy: true,
            body: "{}".into(),
        });
        let server =
            MetricsServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), render, health).unwrap();
        assert_eq!(request(server.local_addr(), "GET", "/metrics").0, 500);
        assert_eq!(request(server.local_addr(), "GET", "/healthz").0, 200);
        server.shutdown();
    }

    #[test]
    fn shutdown_stops_serving() {
        let f = fixture();
        let addr = f.server.local_addr();
        assert_eq!(request(addr, "GET", "/healthz").0, 200);
        // A keep-alive connection left open does not hold shutdown up.
        let mut open = TcpStream::connect(addr).unwrap();
        open.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        open.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 512];
        assert!(open.read(&mut buf).unwrap() > 0);
        let started = std::time::Instant::now();
        f.server.shutdown();
        assert!(started.elapsed() < Duration::from_secs(2));
        let mut rest = Vec::new();
        assert!(matches!(open.read_to_end(&mut rest), Ok(0) | Err(_)));
        assert!(TcpStream::connect(addr).is_err());
    }
}
