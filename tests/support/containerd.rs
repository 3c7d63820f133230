//! A private containerd in a temp dir: own root, state, socket and config (no CRI).
//! Dropping it kills containerd, every shim and container it started, cleans runc's
//! shared state, unmounts and deletes its directory.

use crate::poll_until;
use anyhow::{bail, Context, Result};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long containerd may take to answer on its socket.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Where runc keeps its state for containerd's runc shims, per namespace (shared by
/// every containerd on the machine).
const RUNC_ROOT: &str = "/run/containerd/runc";

/// A running private containerd.
pub struct Containerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    netns: Option<String>,
}

fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.opt",
  "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""
"#
    )
}

impl Containerd {
    /// Starts a containerd in a fresh temp dir and waits until its socket answers.
    pub fn start() -> Result<Containerd> {
        Self::launch(None)
    }

    /// Like [`Containerd::start`], inside network namespace `/var/run/netns/NAME`
    /// (via nsenter: `ip netns exec` would remount /sys and hide the cgroups).
    pub fn start_in_netns(name: &str) -> Result<Containerd> {
        Self::launch(Some(name.to_string()))
    }

    fn launch(netns: Option<String>) -> Result<Containerd> {
        crate::cleanup::sweep_stale(Path::new(RUNC_ROOT));
        let dir = tempfile::Builder::new()
            .prefix(crate::cleanup::DIR_PREFIX)
            .tempdir()
            .context("creating a temp dir")?;
        std::fs::write(dir.path().join("config.toml"), config(dir.path()))?;
        let mut c = Containerd {
            dir,
            child: None,
            netns,
        };
        c.spawn()?;
        Ok(c)
    }

    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/var/run/netns/{ns}"))
                    .arg("containerd");
                c
            }
            None => Command::new("containerd"),
        };
        cmd.arg("--config").arg(self.dir.path().join("config.toml"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting containerd (apt-get install containerd runc)")?;
        self.child = Some(child);
        let socket = self.socket();
        let ready = poll_until(START_TIMEOUT, "containerd to answer on its socket", || {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Some(Err(status));
            }
            UnixStream::connect(&socket).ok().map(|_| Ok(()))
        });
        match ready {
            Ok(Ok(())) => Ok(()),
            Ok(Err(status)) => bail!("containerd exited ({status}):\n{}", self.log_tail(30)),
            Err(e) => Err(e.context(self.log_tail(30))),
        }
    }

    /// The gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// The temp dir holding root, state, socket, config and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// containerd's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("containerd.log")
    }

    /// The last `n` lines of containerd's log.
    pub fn log_tail(&self, n: usize) -> String {
        let s = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// SIGKILLs containerd only: shims and containers keep running, as when a board's
    /// containerd crashes. [`Containerd::restart`] or drop afterwards.
    pub fn kill_hard(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// Stops containerd (SIGTERM; SIGKILL after 10 s) and starts it again on the
    /// same root, state and socket. Running tasks survive.
    pub fn restart(&mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let exited = poll_until(Duration::from_secs(10), "containerd to exit", || {
                c.try_wait().ok().flatten()
            });
            if exited.is_err() {
                c.kill()?;
                c.wait()?;
            }
        }
        self.spawn()
    }

    /// Kills every shim this containerd started (they outlive it) with its log driver
    /// and container, deletes their runc state and cgroups. Safe to call more than
    /// once; [`Containerd::kill_hard`] first, or containerd restarts the tasks' shims.
    pub fn kill_tasks(&self) {
        crate::cleanup::kill_tasks(
            &self.socket(),
            &self.dir.path().join("state"),
            Path::new(RUNC_ROOT),
        );
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.kill_hard();
        self.kill_tasks();
        crate::cleanup::unmount_under(self.dir.path());
        // TempDir's own Drop then removes the directory.
    }
}
