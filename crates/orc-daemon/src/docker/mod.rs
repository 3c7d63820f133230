//! Front door: a Docker-Engine-API-compatible unix socket (`orc daemon
//! --docker-socket`), so Swarm's tools (the docker CLI, docker-py, Traefik, Telegraf,
//! Portainer) run unchanged against orc. HTTP/1.1 with hyper; each request is routed
//! and rendered by the pure `orc-docker` crate, and every operation is an [`Ops`]
//! call ([`handlers`]). A read-only socket refuses every write with a 403.

mod containers;
mod handlers;

use crate::ops::Ops;
use crate::DaemonError;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use orc_docker::ApiError;
use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::net::UnixListener;

pub type Body = BoxBody<Bytes, Infallible>;

/// One Docker socket's settings.
pub struct Door {
    pub ops: Arc<Ops>,
    /// Refuse every write (403).
    pub read_only: bool,
    /// Network ids this socket has shown, by id → name, so that a network listed
    /// before its last service went can still be deleted by id (`docker stack rm`).
    pub(crate) seen_networks: Mutex<HashMap<String, String>>,
}

impl Door {
    pub fn new(ops: Arc<Ops>, read_only: bool) -> Arc<Door> {
        Arc::new(Door {
            ops,
            read_only,
            seen_networks: Mutex::new(HashMap::new()),
        })
    }
}

/// Whether a server answers on `path` (a Docker engine owning it).
pub async fn in_use(path: &Path) -> bool {
    tokio::net::UnixStream::connect(path).await.is_ok()
}

/// Binds `path` (a stale socket file is replaced), mode 0660, group `group` (a name
/// or number) if given.
pub fn bind(path: &Path, group: Option<&str>) -> Result<UnixListener, DaemonError> {
    let gid = match group {
        None => None,
        Some(g) => Some(match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => nix::unistd::Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| {
                    DaemonError::Invalid(format!("--docker-socket-group: no group named {g}"))
                })?
                .gid
                .as_raw(),
        }),
    };
    let l = crate::util::bind_unix(path, 0o660)?;
    if let Some(g) = gid {
        nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(g)))
            .map_err(|e| DaemonError::io(path, std::io::Error::from(e)))?;
    }
    Ok(l)
}

pub async fn serve(door: Arc<Door>, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let door = door.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let door = door.clone();
                        async move { Ok::<_, Infallible>(handle(&door, req).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await
                    {
                        tracing::debug!("docker socket connection: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("docker socket accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// The headers every Docker answer carries.
fn base(status: u16) -> hyper::http::response::Builder {
    Response::builder()
        .status(status)
        .header("Api-Version", orc_docker::API_VERSION)
        .header("Docker-Experimental", "false")
        .header("Ostype", "linux")
        .header(
            "Server",
            concat!("Docker/", env!("CARGO_PKG_VERSION"), " (linux; orc)"),
        )
}

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

pub(crate) fn json(status: u16, v: &serde_json::Value) -> Response<Body> {
    base(status)
        .header("Content-Type", "application/json")
        .body(full(v.to_string()))
        .unwrap_or_else(|_| Response::new(full("")))
}

pub(crate) fn empty(status: u16) -> Response<Body> {
    base(status)
        .body(full(""))
        .unwrap_or_else(|_| Response::new(full("")))
}

pub(crate) fn error(e: &ApiError) -> Response<Body> {
    base(e.status)
        .header("Content-Type", "application/json")
        .body(full(e.body()))
        .unwrap_or_else(|_| Response::new(full("")))
}

pub(crate) fn stream(content_type: &str, body: Body) -> Response<Body> {
    base(200)
        .header("Content-Type", content_type)
        .body(body)
        .unwrap_or_else(|_| Response::new(full("")))
}

/// `?a=1&b=x%20y` → map (values percent- and '+'-decoded; the last one wins).
fn query(q: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(unescape(k), unescape(v));
    }
    out
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(x) => {
                        out.push(x);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(door: &Door, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let q = query(req.uri().query());
    let (version, rest) = match orc_docker::route::split_version(&path) {
        Ok(x) => x,
        Err(e) => return error(&e),
    };
    let route = match orc_docker::route::route(&method, rest) {
        Ok(r) => r,
        Err(e) => return error(&e),
    };
    if door.read_only && route.is_write() {
        return error(&ApiError::new(
            403,
            format!(
                "this socket is read-only (orc daemon --docker-socket-readonly): {method} {rest} is refused"
            ),
        ));
    }
    let body = if matches!(method.as_str(), "POST" | "PUT") {
        match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return error(&ApiError::bad(format!("reading the request body: {e}"))),
        }
    } else {
        Bytes::new()
    };
    let r = handlers::Req {
        method,
        version,
        query: q,
        body,
    };
    match handlers::handle(door, route, r).await {
        Ok(resp) => resp,
        Err(e) => error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_decoded() {
        let q = query(Some("filters=%7B%22a%22%3A1%7D&x=a+b&flag"));
        assert_eq!(q["filters"], "{\"a\":1}");
        assert_eq!(q["x"], "a b");
        assert_eq!(q["flag"], "");
        assert_eq!(unescape("100%"), "100%");
    }
}
