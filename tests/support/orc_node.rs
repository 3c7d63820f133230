//! A real `orc daemon` process with its own containerd, data dir and socket.

use crate::netns::{nsenter, Host};
use crate::solo_netns::SoloNetns;
use crate::{orc_binary, poll_until, Containerd};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A loopback address with a port nobody listens on now, so parallel tests' daemons
/// never share a cluster port.
fn free_loopback_addr() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.to_string())
        .unwrap_or_else(|_| format!("127.0.0.1:{}", 20000 + std::process::id() % 20000))
}

/// How to run a node's daemon. The default is a node alone in a fresh network
/// namespace of its own ([`SoloNetns`], only loopback), listening on
/// `127.0.0.1:FREE_PORT`, with the daemon's own hostname and heartbeat: never in the
/// machine's root namespace, where every daemon would make the same `orc0` bridge and
/// `ip orc` nft table.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// Network namespace the node's containerd and daemon run in (`None`: a fresh
    /// one of its own, deleted with the node).
    pub netns: Option<String>,
    /// `--listen ADDR:PORT`.
    pub listen: Option<String>,
    /// `--hostname NAME`.
    pub hostname: Option<String>,
    /// `--heartbeat-ms N`.
    pub heartbeat_ms: Option<u64>,
    /// More `orc daemon` arguments.
    pub extra_args: Vec<String>,
    /// `--log FILTER` (default: info, with orc_daemon's debug lines).
    pub log: Option<String>,
}

impl NodeOptions {
    /// A node on `host`: in its namespace, listening on `HOST_IP:4747`, named `hostname`.
    pub fn on(host: &Host, hostname: &str) -> NodeOptions {
        NodeOptions {
            netns: Some(host.netns.clone()),
            listen: Some(format!("{}:4747", host.ip)),
            hostname: Some(hostname.to_string()),
            heartbeat_ms: None,
            extra_args: Vec::new(),
            log: None,
        }
    }

    /// The same with `--heartbeat-ms ms`.
    pub fn heartbeat_ms(mut self, ms: u64) -> NodeOptions {
        self.heartbeat_ms = Some(ms);
        self
    }
}

/// A running `orc` command and its stdout, line by line ([`OrcNode::orc_stream`]).
pub struct OrcStream {
    child: Child,
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for OrcStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct OrcNode {
    pub containerd: Containerd,
    dir: tempfile::TempDir,
    child: Option<Child>,
    opts: NodeOptions,
    /// The namespace made for this node when `opts` named none; dropped last, after
    /// containerd has killed its shims.
    solo: Option<SoloNetns>,
}

impl OrcNode {
    /// A fresh containerd and a daemon on it; not yet in a cluster.
    pub fn start() -> Result<OrcNode> {
        OrcNode::start_with(NodeOptions::default())
    }

    /// A fresh containerd and a daemon on it as `opts` say (e.g. inside a namespace of
    /// a [`crate::Lan`]); not yet in a cluster.
    pub fn start_with(mut opts: NodeOptions) -> Result<OrcNode> {
        if opts.listen.is_none() {
            opts.listen = Some(free_loopback_addr());
        }
        let solo = match &opts.netns {
            Some(_) => None,
            None => Some(SoloNetns::new()?),
        };
        if let Some(s) = &solo {
            opts.netns = Some(s.name().to_string());
        }
        let ns = opts.netns.as_deref().unwrap_or_default();
        let containerd = Containerd::start_in_netns(ns)?;
        let dir = tempfile::Builder::new().prefix("orc-node-").tempdir()?;
        let mut n = OrcNode {
            containerd,
            dir,
            child: None,
            opts,
            solo,
        };
        n.spawn_daemon()?;
        Ok(n)
    }

    /// The hostname this node reports, if one was given.
    pub fn hostname(&self) -> Option<&str> {
        self.opts.hostname.as_deref()
    }

    /// The network namespace its containerd, daemon and host-network containers run in.
    pub fn netns(&self) -> &str {
        self.opts.netns.as_deref().unwrap_or_default()
    }

    /// `program`, run in the node's network namespace (e.g. `curl` of a port it
    /// publishes on its loopback).
    pub fn command(&self, program: &str) -> Command {
        nsenter(self.netns(), program)
    }

    /// Adds `addr`/32 on the loopback of the node's own namespace (see
    /// [`NodeOptions::netns`]); an error for a node on a shared namespace.
    pub fn add_address(&self, addr: &str) -> Result<()> {
        match &self.solo {
            Some(s) => s.add_address(addr),
            None => bail!("node in a shared namespace: add addresses on its host"),
        }
    }

    /// The cluster address it listens on (`--listen`).
    pub fn listen(&self) -> &str {
        self.opts.listen.as_deref().unwrap_or("127.0.0.1:4747")
    }

    /// A daemon in a one-node cluster.
    pub fn start_initialised() -> Result<OrcNode> {
        let n = OrcNode::start()?;
        let advertise = n.listen().to_string();
        n.ok(&["cluster", "init", "--advertise", &advertise])?;
        Ok(n)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("orc.sock")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Its Docker-compatible socket (`--docker-socket`; never the host's
    /// /var/run/docker.sock, so tests side by side don't share one).
    pub fn docker_socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// Its read-only Docker-compatible socket (`--docker-socket-readonly`).
    pub fn docker_socket_readonly(&self) -> PathBuf {
        self.dir.path().join("docker-ro.sock")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    fn spawn_daemon(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let bin = orc_binary()?;
        let bin = bin.to_string_lossy();
        let mut cmd = nsenter(self.netns(), &bin);
        cmd.arg("--socket")
            .arg(self.socket())
            .arg("daemon")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--containerd")
            .arg(self.containerd.socket())
            .args(["--listen", self.listen()])
            .arg("--docker-socket")
            .arg(self.docker_socket())
            .arg("--docker-socket-readonly")
            .arg(self.docker_socket_readonly())
            .arg("--log")
            .arg(
                self.opts
                    .log
                    .as_deref()
                    .unwrap_or("info,openraft=warn,orc_daemon=debug"),
            );
        if let Some(h) = &self.opts.hostname {
            cmd.args(["--hostname", h]);
        }
        if let Some(ms) = self.opts.heartbeat_ms {
            cmd.args(["--heartbeat-ms", &ms.to_string()]);
        }
        cmd.args(&self.opts.extra_args);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting orc daemon")?;
        self.child = Some(child);
        poll_until(Duration::from_secs(20), "the orc daemon to answer", || {
            self.orc(&["version", "--json"])
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok())
                .filter(|v| !v["daemon"].is_null())
        })
        .with_context(|| format!("daemon log:\n{}", self.daemon_log()))?;
        Ok(())
    }

    /// Runs `orc ARGS` against this daemon.
    pub fn orc(&self, args: &[&str]) -> Result<Output> {
        Ok(Command::new(orc_binary()?)
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::null())
            .output()?)
    }

    /// Runs `orc ARGS` against this daemon with `input` on its standard input.
    pub fn orc_input(&self, args: &[&str], input: &str) -> Result<Output> {
        use std::io::Write;
        let mut child = Command::new(orc_binary()?)
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes())?;
        }
        Ok(child.wait_with_output()?)
    }

    /// Starts `orc ARGS` against this daemon (a command that streams, such as
    /// `service logs --follow`); its stdout lines arrive on [`OrcStream::lines`]. The
    /// command is killed when the stream is dropped.
    pub fn orc_stream(&self, args: &[&str]) -> Result<OrcStream> {
        let mut child = Command::new(orc_binary()?)
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let out = child.stdout.take().context("stdout")?;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(OrcStream { child, lines })
    }

    /// Runs `orc ARGS`, fails with its stderr and the daemon's log if it fails.
    pub fn ok(&self, args: &[&str]) -> Result<String> {
        let out = self.orc(args)?;
        if !out.status.success() {
            bail!(
                "orc {} failed: {}\n--- daemon log (tail) ---\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr),
                self.daemon_log_tail(60)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `orc ARGS --json` and parses the output.
    pub fn json(&self, args: &[&str]) -> Result<Value> {
        let mut a = args.to_vec();
        a.push("--json");
        let s = self.ok(&a)?;
        serde_json::from_str(&s).with_context(|| format!("orc {}: not JSON: {s}", a.join(" ")))
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn daemon_log_tail(&self, n: usize) -> String {
        let s = self.daemon_log();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// SIGKILLs the daemon (containers and containerd keep running).
    pub fn kill_daemon(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    pub fn restart_daemon(&mut self) -> Result<()> {
        self.kill_daemon()?;
        self.spawn_daemon()
    }

    /// Restarts the daemon with `extra` added to its `orc daemon` arguments (its data
    /// and containers stay).
    pub fn restart_daemon_with(&mut self, extra: &[&str]) -> Result<()> {
        self.opts
            .extra_args
            .extend(extra.iter().map(|a| a.to_string()));
        self.restart_daemon()
    }

    /// Forgets the arguments earlier restarts added; the next restart runs without them.
    pub fn clear_extra_args(&mut self) {
        self.opts.extra_args.clear();
    }

    /// Restarts the daemon listening on `listen` instead (as after a new address),
    /// with `extra` added to its arguments.
    pub fn restart_daemon_on(&mut self, listen: &str, extra: &[&str]) -> Result<()> {
        self.opts.listen = Some(listen.to_string());
        self.restart_daemon_with(extra)
    }

    pub fn daemon_pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The daemon's exit code if it exited on its own (waits at most `deadline`).
    pub fn wait_daemon_exit(&mut self, deadline: std::time::Duration) -> Option<i32> {
        let end = std::time::Instant::now() + deadline;
        loop {
            let c = self.child.as_mut()?;
            if let Ok(Some(status)) = c.try_wait() {
                self.child = None;
                return status.code();
            }
            if std::time::Instant::now() >= end {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Whether the daemon process is running (started and not killed).
    pub fn daemon_running(&self) -> bool {
        self.child.is_some()
    }

    /// `ctr` against this node's containerd, in orc's namespace: an independent view.
    pub fn ctr(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.containerd.socket())
            .args(["--namespace", "orc"])
            .args(args)
            .output()
            .context("running ctr")?;
        if !out.status.success() {
            bail!(
                "ctr {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Ids of containers whose task is RUNNING, according to containerd itself.
    pub fn running_containers(&self) -> Result<Vec<String>> {
        let out = self.ctr(&["tasks", "ls"])?;
        let mut v: Vec<String> = out
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 3 && f[2] == "RUNNING").then(|| f[0].to_string())
            })
            .collect();
        v.sort();
        Ok(v)
    }

    pub fn containers(&self) -> Result<Vec<String>> {
        Ok(self
            .ctr(&["containers", "ls", "-q"])?
            .lines()
            .map(str::to_string)
            .collect())
    }
}

impl Drop for OrcNode {
    fn drop(&mut self) {
        let _ = self.kill_daemon();
        // Volumes the agent attached (FUSE and loop mounts under the data dir): their
        // FUSE daemons first (a fenced one would hang every unmount).
        orc_volume::kill_fuse_daemons(self.dir.path());
        crate::cleanup::unmount_under(self.dir.path());
        crate::cleanup::unmount_netns_under(self.dir.path());
        // containerd's own Drop then kills shims and containers and removes its dir.
    }
}
