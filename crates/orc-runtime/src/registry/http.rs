//! A minimal HTTP/1.1 GET client for registries: one connection per request
//! (hyper's low-level client), TLS with rustls + ring and the system's CA bundle,
//! redirects followed, plain HTTP only where the caller allows it.

use crate::RegistryError;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Connecting and receiving the response head must finish within this.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects followed per request (blob downloads go to CDNs).
const MAX_REDIRECTS: usize = 5;
/// CA bundles tried in order (Debian/Armbian, then Fedora-likes); `SSL_CERT_FILE` first.
const CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// The TLS client config, built once from the system's CA bundle.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, RegistryError> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let env = std::env::var("SSL_CERT_FILE").ok();
            for path in env
                .iter()
                .map(String::as_str)
                .chain(CA_BUNDLES.iter().copied())
            {
                if let Ok(certs) = CertificateDer::pem_file_iter(path) {
                    for c in certs.flatten() {
                        let _ = roots.add(c);
                    }
                }
                if !roots.is_empty() {
                    break;
                }
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(cfg))
        })
        .clone()
        .map_err(RegistryError::Tls)
}

/// Sends GET `uri` with `headers`, following redirects (headers other than
/// `Accept` are dropped when a redirect leaves the host). `plain_http_ok` decides
/// whether an `http://` URL may be used.
pub(crate) async fn get(
    uri: &str,
    headers: &HeaderMap,
    plain_http_ok: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Response<Incoming>, RegistryError> {
    let mut uri: Uri = uri
        .parse()
        .map_err(|e| RegistryError::Protocol(format!("bad URL {uri}: {e}")))?;
    let mut headers = headers.clone();
    let first_host = uri.authority().map(|a| a.to_string());
    for _ in 0..=MAX_REDIRECTS {
        let resp = tokio::time::timeout(HEAD_TIMEOUT, get_once(&uri, &headers, plain_http_ok))
            .await
            .map_err(|_| RegistryError::Unreachable(format!("{uri}: timed out")))??;
        if !resp.status().is_redirection() || resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(resp);
        }
        let loc = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Protocol(format!("{uri}: redirect without Location")))?;
        let next = resolve_location(&uri, loc)?;
        if next.authority().map(|a| a.to_string()) != first_host {
            let accept = headers.get(header::ACCEPT).cloned();
            headers = HeaderMap::new();
            if let Some(a) = accept {
                headers.insert(header::ACCEPT, a);
            }
        }
        uri = next;
    }
    Err(RegistryError::Protocol(format!(
        "{uri}: too many redirects"
    )))
}

fn resolve_location(base: &Uri, loc: &str) -> Result<Uri, RegistryError> {
    let bad = |e: String| RegistryError::Protocol(format!("redirect to {loc}: {e}"));
    if loc.starts_with("http://") || loc.starts_with("https://") {
        return loc
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(e.to_string()));
    }
    let scheme = base.scheme_str().unwrap_or("https");
    let auth = base.authority().map(|a| a.as_str()).unwrap_or_default();
    format!("{scheme}://{auth}{loc}")
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(e.to_string()))
}

async fn get_once(
    uri: &Uri,
    headers: &HeaderMap,
    plain_http_ok: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Response<Incoming>, RegistryError> {
    let authority = uri
        .authority()
        .ok_or_else(|| RegistryError::Protocol(format!("{uri}: no host")))?
        .clone();
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") if plain_http_ok(authority.as_str()) => false,
        Some("http") => {
            return Err(RegistryError::Protocol(format!(
                "{uri}: plain HTTP refused (only loopback or insecure registries)"
            )))
        }
        _ => {
            return Err(RegistryError::Protocol(format!(
                "{uri}: unsupported scheme"
            )))
        }
    };
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| RegistryError::Unreachable(format!("{authority}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = Request::get(path)
        .body(Empty::<Bytes>::new())
        .map_err(|e| RegistryError::Protocol(e.to_string()))?;
    *req.headers_mut() = headers.clone();
    let host_value = HeaderValue::from_str(authority.as_str())
        .map_err(|e| RegistryError::Protocol(e.to_string()))?;
    req.headers_mut().insert(header::HOST, host_value);
    req.headers_mut().insert(
        header::USER_AGENT,
        HeaderValue::from_static(concat!("orc/", env!("CARGO_PKG_VERSION"))),
    );
    if tls {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| RegistryError::Protocol(format!("{host}: {e}")))?;
        let stream = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, tcp)
            .await
            .map_err(|e| RegistryError::Tls(format!("{authority}: {e}")))?;
        send(stream, req, &authority).await
    } else {
        send(tcp, req, &authority).await
    }
}

async fn send<S>(
    io: S,
    req: Request<Empty<Bytes>>,
    authority: &http::uri::Authority,
) -> Result<Response<Incoming>, RegistryError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let down = |e: hyper::Error| RegistryError::Unreachable(format!("{authority}: {e}"));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(down)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await.map_err(down)
}

/// Reads a whole body of at most `limit` bytes.
pub(crate) async fn read_body(
    resp: Response<Incoming>,
    limit: usize,
) -> Result<Bytes, RegistryError> {
    let body = http_body_util::Limited::new(resp.into_body(), limit);
    body.collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| RegistryError::Protocol(format!("reading a response: {e}")))
}
