//! A minimal HTTP/1.1 responder for `GET /metrics`: one request per connection
//! (`Connection: close`), which Prometheus, Telegraf and curl all handle. The request
//! head parser and the response writer are pure; [`serve`] is the thin tokio loop.

use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A request head larger than this is refused.
const MAX_HEAD: usize = 8 * 1024;
/// A client that doesn't finish its request head within this is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; further ones wait in the listen backlog, so a burst
/// of scrapers can't make a small board read its cgroups many times over.
const MAX_CONCURRENT: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    pub method: String,
    /// The path without its query string.
    pub path: String,
}

/// Where the head ends (after `\r\n\r\n`), if it has.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses "GET /metrics?x HTTP/1.1" from a complete head.
pub fn parse_head(head: &[u8]) -> Result<RequestLine, &'static str> {
    let text = std::str::from_utf8(head).map_err(|_| "request head is not UTF-8")?;
    let line = text.lines().next().ok_or("empty request")?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed request line");
    };
    if !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return Err("malformed request line");
    }
    let path = target.split('?').next().unwrap_or(target);
    Ok(RequestLine {
        method: method.into(),
        path: path.into(),
    })
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    /// The bytes to send. `head_only`: a HEAD request's answer.
    pub fn encode(&self, head_only: bool) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Error",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// Routes a request: `GET /metrics` gets the exposition `render` builds.
pub async fn respond<F, Fut>(req: &RequestLine, render: &F) -> Response
where
    F: Fn() -> Fut,
    Fut: Future<Output = String>,
{
    if req.method != "GET" && req.method != "HEAD" {
        return Response::text(405, "only GET\n");
    }
    match req.path.as_str() {
        "/metrics" => Response {
            status: 200,
            content_type: crate::expo::CONTENT_TYPE,
            body: render().await,
        },
        "/" => Response::text(200, "orc metrics: GET /metrics\n"),
        _ => Response::text(404, "not found: try /metrics\n"),
    }
}

/// Serves connections until `stop` turns true; each connection is one request.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    render: F,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = String> + Send,
{
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT));
    loop {
        let conn = tokio::select! {
            c = async {
                let permit = slots.clone().acquire_owned().await;
                (listener.accept().await, permit)
            } => c,
            _ = stop.wait_for(|s| *s) => return,
        };
        let (conn, Ok(permit)) = conn else {
            return;
        };
        let Ok((mut sock, _peer)) = conn else {
            // EMFILE and the like: don't spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let render = render.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut buf = Vec::with_capacity(512);
            let head = tokio::time::timeout(READ_TIMEOUT, async {
                let mut chunk = [0u8; 1024];
                loop {
                    if let Some(end) = head_end(&buf) {
                        return Some(end);
                    }
                    if buf.len() > MAX_HEAD {
                        return None;
                    }
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return None,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            })
            .await;
            let resp = match head {
                Ok(Some(end)) => match parse_head(&buf[..end]) {
                    Ok(req) => {
                        let r = respond(&req, &render).await;
                        r.encode(req.method == "HEAD")
                    }
                    Err(why) => Response::text(400, format!("{why}\n")).encode(false),
                },
                _ => return,
            };
            let _ = sock.write_all(&resp).await;
            let _ = sock.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(
            parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap(),
            RequestLine {
                method: "GET".into(),
                path: "/metrics".into()
            }
        );
        assert!(parse_head(b"GET /metrics\r\n\r\n").is_err());
        assert!(parse_head(b"GET /metrics SPDY/3\r\n\r\n").is_err());
        assert!(parse_head(b"\xff\xfe\r\n\r\n").is_err());
    }

    #[test]
    fn response_bytes() {
        let r = Response::text(404, "nope\n").encode(false);
        assert_eq!(
            String::from_utf8(r).unwrap(),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnope\n"
        );
        let r = Response::text(200, "body").encode(true);
        assert!(String::from_utf8(r)
            .unwrap()
            .ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n"));
    }

    #[tokio::test]
    async fn serves_metrics_over_tcp() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(serve(l, || async { "orc_up 1\n".to_string() }, stop));
        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("Content-Type: text/plain; version=0.0.4"),
            "{ok}"
        );
        assert!(ok.ends_with("\r\n\r\norc_up 1\n"), "{ok}");
        assert!(get("/nope").await.starts_with("HTTP/1.1 404"));
        stop_tx.send(true).unwrap();
        server.await.unwrap();
    }
}
