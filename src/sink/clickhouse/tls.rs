//! The one place that builds a ClickHouse client: the sink's inserter, its
//! schema checks, the benches and the tests all call [`client`], so an
//! `https://` URL is verified the same way everywhere.
//!
//! Owns: the HTTP(S) connector. `http://` URLs go over plain TCP; `https://`
//! URLs over rustls (ring provider, TLS 1.2 and 1.3) verifying the server's
//! certificate chain and host name (an IP address in the URL must be an IP
//! SAN of the certificate). The roots are the PEM file
//! [`ClickHouseConfig::tls_ca_file`] when set (a private CA, as sensors
//! usually use; it *replaces* the system roots), else the system's store.
//! With [`ClickHouseConfig::tls_client_cert_file`] and
//! [`ClickHouseConfig::tls_client_key_file`] the client presents a
//! certificate (mutual TLS). There is deliberately no switch that skips
//! verification.
//!
//! Hands on: a `clickhouse::Client` with the URL, credentials, compression
//! and no row validation set. A server that fails verification is not a
//! configuration error: the connection fails like an unreachable server
//! (retriable), so batches are retried and spooled, and [`describe`] words the
//! failure so that the log says it was the certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::ClickHouseConfig;

/// Same as the `clickhouse` crate's default client: ClickHouse closes idle
/// connections after 3 s (18.16's `keep_alive_timeout`), so we drop ours first.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// The TLS settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("[clickhouse] {key} = {path}: {reason}")]
    File {
        key: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("[clickhouse] tls_client_cert_file and tls_client_key_file go together (only {given} is set)")]
    HalfClientIdentity { given: &'static str },
    #[error("[clickhouse] {key} is set but the URL {url} is not https://")]
    NotHttps { key: &'static str, url: String },
    #[error("no trusted root certificate: {0}")]
    NoRoots(String),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Whether the URL asks for TLS.
pub fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// A ClickHouse client for `cfg` (URL, credentials, compression, TLS).
/// The database is not set: the schema checks run without one.
pub fn client(cfg: &ClickHouseConfig) -> Result<clickhouse::Client, TlsError> {
    let mut http = HttpConnector::new();
    http.set_keepalive(Some(TCP_KEEPALIVE));
    let mut builder = HyperClient::builder(TokioExecutor::new());
    builder.pool_idle_timeout(POOL_IDLE_TIMEOUT);
    let base = if is_https(&cfg.url) {
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(client_config(cfg)?)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        clickhouse::Client::with_http_client(builder.build(connector))
    } else {
        for (key, set) in [
            ("tls_ca_file", cfg.tls_ca_file.is_some()),
            ("tls_client_cert_file", cfg.tls_client_cert_file.is_some()),
            ("tls_client_key_file", cfg.tls_client_key_file.is_some()),
        ] {
            if set {
                return Err(TlsError::NotHttps {
                    key,
                    url: super::redact_url(&cfg.url),
                });
            }
        }
        clickhouse::Client::with_http_client(builder.build(http))
    };
    let mut c = base
        .with_url(cfg.url.clone())
        .with_validation(false)
        .with_compression(if cfg.compression {
            clickhouse::Compression::Lz4
        } else {
            clickhouse::Compression::None
        });
    if let Some(u) = &cfg.user {
        c = c.with_user(u.clone());
    }
    if let Some(p) = &cfg.password {
        c = c.with_password(p.clone());
    }
    Ok(c)
}

/// The rustls configuration: roots, protocol versions, client identity.
pub fn client_config(cfg: &ClickHouseConfig) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.tls_ca_file {
        Some(path) => {
            let certs = read_certs("tls_ca_file", path)?;
            let (added, ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(file_error(
                    "tls_ca_file",
                    path,
                    format!("no usable CA certificate ({ignored} unparsable)"),
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "the system store is empty".into(), ToString::to_string);
                return Err(TlsError::NoRoots(format!(
                    "{why}; set [clickhouse] tls_ca_file to the CA that signed the server's certificate"
                )));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match (&cfg.tls_client_cert_file, &cfg.tls_client_key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = read_certs("tls_client_cert_file", cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| file_error("tls_client_key_file", key, e.to_string()))?;
            builder.with_client_auth_cert(chain, key)?
        }
        (Some(_), None) => {
            return Err(TlsError::HalfClientIdentity {
                given: "tls_client_cert_file",
            })
        }
        (None, Some(_)) => {
            return Err(TlsError::HalfClientIdentity {
                given: "tls_client_key_file",
            })
        }
    };
    Ok(config)
}

fn file_error(key: &'static str, path: &Path, reason: String) -> TlsError {
    TlsError::File {
        key,
        path: path.to_path_buf(),
        reason,
    }
}

/// Every certificate of a PEM file; an empty or unreadable file is an error.
fn read_certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| file_error(key, path, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(
            key,
            path,
            "no PEM certificate in the file".into(),
        ));
    }
    Ok(certs)
}

/// An error with its causes (`a: b: c`): the `clickhouse` crate shows only
/// "network error: client error (Connect)"; the certificate problem is in
/// the sources. A certificate failure gets a hint on what to check.
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    if is_certificate_failure(&out) {
        out.push_str(
            " (TLS: the server's certificate was not accepted; check [clickhouse] tls_ca_file \
             and that the URL's host is a name or IP address of the certificate)",
        );
    }
    out
}

/// Whether a described error is a failed certificate verification.
pub fn is_certificate_failure(message: &str) -> bool {
    message.contains("invalid peer certificate") || message.contains("certificate not valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> ClickHouseConfig {
        ClickHouseConfig {
            url: url.into(),
            ..ClickHouseConfig::default()
        }
    }

    #[test]
    fn scheme() {
        assert!(is_https("https://ch:8443"));
        assert!(is_https("HTTPS://ch:8443"));
        assert!(!is_https("http://ch:8123"));
        assert!(!is_https("https:/"));
    }

    #[test]
    fn tls_keys_need_an_https_url() {
        let c = ClickHouseConfig {
            tls_ca_file: Some("/nonexistent/ca.pem".into()),
            ..cfg("http://u:secret@127.0.0.1:8123")
        };
        let e = client(&c).map(|_| ()).unwrap_err().to_string();
        assert!(
            e.contains("tls_ca_file") && e.contains("not https://"),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
        assert!(client(&cfg("http://127.0.0.1:8123")).is_ok());
    }

    #[test]
    fn a_missing_or_empty_ca_file_names_the_file() {
        let c = ClickHouseConfig {
            tls_ca_file: Some("/nonexistent/ca.pem".into()),
            ..cfg("https://127.0.0.1:8443")
        };
        let e = client(&c).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("tls_ca_file = /nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let c = ClickHouseConfig {
            tls_ca_file: Some(empty),
            ..cfg("https://127.0.0.1:8443")
        };
        let e = client(&c).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn client_identity_needs_both_files() {
        let c = ClickHouseConfig {
            tls_client_cert_file: Some("/x/client.pem".into()),
            ..cfg("https://127.0.0.1:8443")
        };
        let e = client_config(&c).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("go together"), "{e}");
    }

    #[test]
    fn describe_walks_the_causes() {
        #[derive(Debug, thiserror::Error)]
        #[error("network error: client error (Connect)")]
        struct Outer(#[source] std::io::Error);
        let inner = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        let d = describe(&Outer(inner));
        assert!(
            d.starts_with(
                "network error: client error (Connect): invalid peer certificate: UnknownIssuer"
            ),
            "{d}"
        );
        assert!(d.contains("tls_ca_file"), "{d}");
        let plain = describe(&std::io::Error::other("connection refused"));
        assert_eq!(plain, "connection refused");
    }
}
