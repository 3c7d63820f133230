//! A private OCI registry for pull tests: Debian's `docker-registry` (distribution
//! 2.8) on a unique loopback port with its storage in a temp dir, optionally behind
//! htpasswd auth; images pushed with `skopeo`. Dropping it kills the registry.

use crate::poll_until;
use anyhow::{bail, Context, Result};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long the registry may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running (or stopped, see [`Registry::stop`]) private registry.
pub struct Registry {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    auth: Option<(String, String)>,
    /// The network namespace it runs in (its loopback), if not the test's.
    netns: Option<String>,
    /// The address it listens on.
    ip: String,
}

impl Registry {
    /// An anonymous registry.
    pub fn start() -> Result<Registry> {
        Registry::launch(None)
    }

    /// A registry that wants HTTP basic auth for `user`/`password` (bcrypt htpasswd).
    pub fn start_with_auth(user: &str, password: &str) -> Result<Registry> {
        Registry::launch(Some((user.to_string(), password.to_string())))
    }

    /// A registry wanting `user`/`password`, on the loopback of network namespace
    /// `netns` (a simulated host: only that host reaches it, over plain HTTP).
    pub fn start_with_auth_in(netns: &str, user: &str, password: &str) -> Result<Registry> {
        Registry::launch_in(
            Some((user.to_string(), password.to_string())),
            Some(netns.to_string()),
        )
    }

    /// An anonymous registry on the loopback of network namespace `netns`.
    pub fn start_in(netns: &str) -> Result<Registry> {
        Registry::launch_in(None, Some(netns.to_string()))
    }

    /// An anonymous registry serving plain HTTP on `ip`, an address of network
    /// namespace `netns` that is not loopback (orc then needs `--insecure-registry`).
    pub fn start_on_in(netns: &str, ip: &str) -> Result<Registry> {
        Registry::launch_full(None, Some(netns.to_string()), ip, None)
    }

    fn launch(auth: Option<(String, String)>) -> Result<Registry> {
        Registry::launch_in(auth, None)
    }

    fn launch_in(auth: Option<(String, String)>, netns: Option<String>) -> Result<Registry> {
        Registry::launch_full(auth, netns, "127.0.0.1", None)
    }

    /// An anonymous registry serving plain HTTP on `ip` (not loopback: orc then
    /// needs `--insecure-registry`).
    pub fn start_on(ip: &str) -> Result<Registry> {
        Registry::launch_full(None, None, ip, None)
    }

    /// An anonymous registry serving HTTPS on `ip` with the PEM files `cert` (chain)
    /// and `key`.
    pub fn start_tls(ip: &str, cert: &Path, key: &Path) -> Result<Registry> {
        Registry::launch_full(None, None, ip, Some((cert, key)))
    }

    fn launch_full(
        auth: Option<(String, String)>,
        netns: Option<String>,
        ip: &str,
        tls: Option<(&Path, &Path)>,
    ) -> Result<Registry> {
        let dir = tempfile::Builder::new().prefix("orc-registry-").tempdir()?;
        // In a namespace of its own any port is free; `ip` may exist only there.
        let probe_ip = if netns.is_some() { "127.0.0.1" } else { ip };
        let port = TcpListener::bind((probe_ip, 0))?.local_addr()?.port();
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {ip}:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((cert, key)) = tls {
            yaml.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some((user, password)) = &auth {
            let o = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .context("running htpasswd (apache2-utils)")?;
            if !o.status.success() {
                bail!("htpasswd: {}", String::from_utf8_lossy(&o.stderr));
            }
            std::fs::write(dir.path().join("htpasswd"), &o.stdout)?;
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: orc-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), yaml)?;
        let mut r = Registry {
            dir,
            port,
            child: None,
            auth,
            netns,
            ip: ip.to_string(),
        };
        r.restart()?;
        Ok(r)
    }

    /// `IP:PORT` (127.0.0.1 unless started with another address).
    pub fn host(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Kills the registry (the port and storage stay reserved for [`Registry::restart`]).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the registry (again) on its port with its storage; waits until it listens.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let log = std::fs::File::create(self.dir.path().join("registry.log"))?;
        let child = self
            .command("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting docker-registry (Debian package docker-registry)")?;
        self.child = Some(child);
        let addr = (self.ip.clone(), self.port);
        poll_until(START_TIMEOUT, "docker-registry to listen", || {
            match &self.netns {
                None => TcpStream::connect(addr.clone()).ok().map(|_| ()),
                Some(_) => {
                    let probe = format!("exec 3<>/dev/tcp/{}/{}", self.ip, self.port);
                    let ok = self
                        .command("bash")
                        .args(["-c", &probe])
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success());
                    ok.then_some(())
                }
            }
        })
        .with_context(|| self.log())?;
        Ok(())
    }

    /// `program`, run in the registry's network namespace.
    fn command(&self, program: &str) -> Command {
        match &self.netns {
            Some(ns) => crate::netns::nsenter(ns, program),
            None => Command::new(program),
        }
    }

    /// The registry's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `skopeo copy [--all] SRC docker://HOST/DEST` with this registry's credentials.
    pub fn push(&self, src: &str, dest: &str, all: bool) -> Result<()> {
        let mut cmd = self.command("skopeo");
        cmd.args([
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
        ]);
        if all {
            cmd.arg("--all");
        }
        if let Some((u, p)) = &self.auth {
            cmd.arg("--dest-creds").arg(format!("{u}:{p}"));
        }
        let o = cmd
            .arg(src)
            .arg(format!("docker://{}/{dest}", self.host()))
            .output()
            .context("running skopeo")?;
        if !o.status.success() {
            bail!(
                "skopeo copy {src} → {dest}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Ok(())
    }

    /// Pushes an OCI archive (one image) as `dest` (`repo:tag`).
    pub fn push_archive(&self, archive: &Path, dest: &str) -> Result<()> {
        self.push(&format!("oci-archive:{}", archive.display()), dest, false)
    }

    /// The raw manifest (or index) `dest` points at, as the registry serves it.
    pub fn raw_manifest(&self, dest: &str) -> Result<serde_json::Value> {
        let mut cmd = self.command("skopeo");
        cmd.args([
            "--insecure-policy",
            "inspect",
            "--raw",
            "--tls-verify=false",
        ]);
        if let Some((u, p)) = &self.auth {
            cmd.arg("--creds").arg(format!("{u}:{p}"));
        }
        let o = cmd
            .arg(format!("docker://{}/{dest}", self.host()))
            .output()
            .context("running skopeo inspect")?;
        if !o.status.success() {
            bail!(
                "skopeo inspect {dest}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Ok(serde_json::from_slice(&o.stdout)?)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
