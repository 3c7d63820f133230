//! One health probe of a running task. `CMD` / `CMD-SHELL` run inside the container
//! through containerd's exec (at most [`MAX_EXEC_PROBES`] at once per node); `TCP` and
//! `HTTP` are run by the agent itself on a short-lived thread that entered the task's
//! network namespace (no process in the container, nothing forked).

use super::AgentCtx;
use orc_spec::HealthTest;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Probe output kept in memory per result (Docker keeps 4 KiB too).
pub const MAX_OUTPUT: usize = 4096;

/// Exec probes (`CMD`, `CMD-SHELL`) that may run at once on a node: each is a runc
/// exec (a fork of runc, a process in the container), the costly kind on a small
/// board; more wait for a free slot. TCP and HTTP probes are not limited.
pub const MAX_EXEC_PROBES: usize = 4;

/// What a probe found: exit code (0 = healthy) and output (at most [`MAX_OUTPUT`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub exit_code: i32,
    pub output: String,
}

impl Outcome {
    fn new(exit_code: i32, output: impl Into<String>) -> Outcome {
        Outcome {
            exit_code,
            output: truncate(output.into(), MAX_OUTPUT),
        }
    }
}

/// The task a probe runs against.
pub struct Target {
    pub task_id: String,
    /// The task's network namespace; `None`: the node's own (host networking).
    pub netns: Option<PathBuf>,
    /// The container's process spec, read at the first exec probe.
    template: Option<orc_runtime::ExecTemplate>,
}

impl Target {
    pub fn new(task_id: &str, netns: Option<PathBuf>) -> Target {
        Target {
            task_id: task_id.to_string(),
            netns,
            template: None,
        }
    }
}

/// `s` cut to at most `max` bytes (on a character boundary).
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Runs `test` once against `target`, for at most `timeout`.
pub async fn run(
    ctx: &AgentCtx,
    target: &mut Target,
    test: &HealthTest,
    timeout: Duration,
) -> Outcome {
    match test {
        HealthTest::None => Outcome::new(0, ""),
        HealthTest::Cmd(args) => exec(ctx, target, args.clone(), timeout).await,
        HealthTest::CmdShell(cmd) => {
            let args = vec!["/bin/sh".to_string(), "-c".to_string(), cmd.clone()];
            exec(ctx, target, args, timeout).await
        }
        HealthTest::Tcp(port) => {
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), *port);
            native(target, timeout, move || tcp(addr, timeout)).await
        }
        HealthTest::Http(url) => match parse_http_url(url) {
            Ok(u) => native(target, timeout, move || http(&u, timeout)).await,
            Err(e) => Outcome::new(1, e),
        },
    }
}

static EXEC_SEQ: AtomicU64 = AtomicU64::new(0);

async fn exec(
    ctx: &AgentCtx,
    target: &mut Target,
    args: Vec<String>,
    timeout: Duration,
) -> Outcome {
    let Ok(_slot) = ctx.exec_probes.acquire().await else {
        return Outcome::new(-1, "the agent is shutting down");
    };
    let template = match &target.template {
        Some(t) => t.clone(),
        None => match ctx.runtime.exec_template(&target.task_id).await {
            Ok(t) => target.template.insert(t).clone(),
            Err(e) => return Outcome::new(-1, format!("reading the container's spec: {e}")),
        },
    };
    if let Err(e) = std::fs::create_dir_all(&ctx.probe_dir) {
        return Outcome::new(-1, format!("{}: {e}", ctx.probe_dir.display()));
    }
    let seq = EXEC_SEQ.fetch_add(1, Ordering::Relaxed);
    let exec_id = format!("health-{}-{seq}", std::process::id());
    let out = ctx.probe_dir.join(format!("{}.{exec_id}", target.task_id));
    let r = ctx
        .runtime
        .exec(
            &target.task_id,
            &exec_id,
            &template,
            &args,
            &out,
            timeout,
            MAX_OUTPUT,
        )
        .await;
    match r {
        Ok(o) => {
            let output = String::from_utf8_lossy(&o.output).into_owned();
            match o.exit_code {
                Some(code) => Outcome::new(code, output),
                None => Outcome::new(
                    -1,
                    format!(
                        "health check exceeded its timeout ({timeout:?}), killed{}",
                        tail(&output)
                    ),
                ),
            }
        }
        Err(e) => Outcome::new(-1, format!("exec: {e}")),
    }
}

fn tail(output: &str) -> String {
    let o = output.trim();
    if o.is_empty() {
        String::new()
    } else {
        format!(": {o}")
    }
}

/// Runs the blocking probe `f` inside the target's network namespace (its own thread),
/// or on the blocking pool for host networking; gives up a second after `timeout`.
async fn native<F>(target: &Target, timeout: Duration, f: F) -> Outcome
where
    F: FnOnce() -> Outcome + Send + 'static,
{
    let run = async {
        match &target.netns {
            Some(ns) => orc_net::netns::blocking_in(ns, f)
                .await
                .unwrap_or_else(|e| {
                    Outcome::new(-1, format!("entering the task's network namespace: {e}"))
                }),
            None => tokio::task::spawn_blocking(f)
                .await
                .unwrap_or_else(|e| Outcome::new(-1, format!("probe thread: {e}"))),
        }
    };
    match tokio::time::timeout(timeout + Duration::from_secs(1), run).await {
        Ok(o) => o,
        Err(_) => Outcome::new(
            -1,
            format!("health check exceeded its timeout ({timeout:?})"),
        ),
    }
}

fn tcp(addr: SocketAddr, timeout: Duration) -> Outcome {
    match TcpStream::connect_timeout(&addr, timeout) {
        Ok(_) => Outcome::new(0, format!("connected to {addr}")),
        Err(e) => Outcome::new(1, format!("connect {addr}: {e}")),
    }
}

/// An `HTTP` test's URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// `http://host[:port][/path]` (no userinfo, no https). `localhost` is 127.0.0.1.
pub fn parse_http_url(url: &str) -> Result<HttpUrl, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs can be probed"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{url:?}: expected http://HOST[:PORT]/PATH"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            let port = p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{url:?}: port {p:?} is not a port number"))?;
            (h, port)
        }
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    Ok(HttpUrl {
        host: host.to_string(),
        port,
        path,
    })
}

/// The status code of an HTTP response starting with `head` (`HTTP/1.x NNN …`).
pub fn http_status(head: &[u8]) -> Result<u16, String> {
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let line = line.trim_end();
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code
            .parse::<u16>()
            .ok()
            .filter(|c| (100..1000).contains(c))
            .ok_or_else(|| format!("not an HTTP status line: {line:?}")),
        _ if line.is_empty() => Err("no answer".to_string()),
        _ => Err(format!("not an HTTP status line: {line:?}")),
    }
}

/// A GET of `u` over HTTP/1.0 (the server closes after answering); 2xx and 3xx are
/// healthy. Output: the status line, and the start of the body when unhealthy.
fn http(u: &HttpUrl, timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    let addr = match resolve(&u.host, u.port) {
        Ok(a) => a,
        Err(e) => return Outcome::new(1, e),
    };
    let mut s = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => return Outcome::new(1, format!("connect {addr}: {e}")),
    };
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let _ = s.set_write_timeout(Some(left()));
    let req = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: orc-health\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        u.path, u.host
    );
    if let Err(e) = s.write_all(req.as_bytes()) {
        return Outcome::new(1, format!("sending the request to {addr}: {e}"));
    }
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let mut read_err = None;
    while buf.len() < MAX_OUTPUT {
        let _ = s.set_read_timeout(Some(left()));
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                // Healthy needs no body: don't wait for a server that keeps the
                // connection open despite HTTP/1.0.
                if buf.contains(&b'\n') && http_status(&buf).is_ok_and(|c| (200..400).contains(&c))
                {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                read_err = Some(e);
                break;
            }
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    match http_status(&buf) {
        Ok(code) => {
            let text = String::from_utf8_lossy(&buf);
            let status_line = text.lines().next().unwrap_or_default().trim().to_string();
            if (200..400).contains(&code) {
                Outcome::new(0, status_line)
            } else {
                let body = text
                    .split_once("\r\n\r\n")
                    .map(|(_, b)| b.trim())
                    .unwrap_or("");
                Outcome::new(1, format!("{status_line}{}", tail(body)))
            }
        }
        Err(e) => match read_err {
            Some(r) => Outcome::new(1, format!("reading the answer from {addr}: {r}")),
            None => Outcome::new(1, format!("{addr}: {e}")),
        },
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))
}

/// Where exec probes' output files go: `probes/` beside the logs directory.
pub fn probe_dir(logs_root: &Path) -> PathBuf {
    logs_root.with_file_name("probes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_are_taken_apart() {
        let u = parse_http_url("http://localhost:8080/health?x=1").unwrap();
        assert_eq!(
            u,
            HttpUrl {
                host: "localhost".into(),
                port: 8080,
                path: "/health?x=1".into()
            }
        );
        let u = parse_http_url("http://10.0.0.1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("10.0.0.1", 80, "/")
        );
        let u = parse_http_url("http://[::1]:81/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 81));
        let u = parse_http_url("http://h?q").unwrap();
        assert_eq!(u.path, "/?q");
        for bad in [
            "https://x/",
            "http://",
            "http://:80/",
            "http://h:0/",
            "http://h:99999/",
            "http://u@h/",
        ] {
            assert!(parse_http_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_lines_are_read() {
        assert_eq!(http_status(b"HTTP/1.0 200 OK\r\nA: b\r\n\r\nhi"), Ok(200));
        assert_eq!(http_status(b"HTTP/1.1 404 Not Found\r\n"), Ok(404));
        assert_eq!(http_status(b"HTTP/1.0 302\r\n"), Ok(302));
        assert!(http_status(b"").unwrap_err().contains("no answer"));
        assert!(http_status(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(http_status(b"HTTP/1.0 abc\r\n").is_err());
    }

    #[test]
    fn output_is_cut_on_a_character_boundary() {
        assert_eq!(truncate("héllo".into(), 2), "h");
        assert_eq!(truncate("héllo".into(), 3), "hé");
        assert_eq!(truncate("abc".into(), 10), "abc");
    }

    /// The native probes against real sockets on this machine's loopback.
    #[test]
    fn tcp_and_http_probes_against_a_local_server() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for (i, conn) in l.incoming().take(3).enumerate() {
                let mut c = conn.unwrap();
                if i == 0 {
                    continue; // the TCP probe: connect only
                }
                let mut req = [0u8; 512];
                let n = c.read(&mut req).unwrap_or(0);
                let req = String::from_utf8_lossy(&req[..n]).to_string();
                let answer = if req.starts_with("GET /ok HTTP/1.0\r\n") {
                    "HTTP/1.0 200 OK\r\n\r\nfine".to_string()
                } else {
                    "HTTP/1.0 503 Service Unavailable\r\n\r\ndown for maintenance".to_string()
                };
                c.write_all(answer.as_bytes()).unwrap();
            }
        });
        let t = Duration::from_secs(5);
        let o = tcp(SocketAddr::from(([127, 0, 0, 1], port)), t);
        assert_eq!(o.exit_code, 0, "{o:?}");
        let ok = parse_http_url(&format!("http://localhost:{port}/ok")).unwrap();
        let o = http(&ok, t);
        assert_eq!(o, Outcome::new(0, "HTTP/1.0 200 OK"));
        let bad = parse_http_url(&format!("http://127.0.0.1:{port}/bad")).unwrap();
        let o = http(&bad, t);
        assert_eq!(o.exit_code, 1);
        assert_eq!(
            o.output,
            "HTTP/1.0 503 Service Unavailable: down for maintenance"
        );
        server.join().unwrap();
        // Nothing listens any more: refused.
        let o = tcp(SocketAddr::from(([127, 0, 0, 1], port)), t);
        assert_eq!(o.exit_code, 1);
        assert!(o.output.contains("refused"), "{o:?}");
    }
}
