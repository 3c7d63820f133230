//! Real keepalived inside a node's namespace.

use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{wait_for, Node};

/// A keepalived process (parent + VRRP child); killed on drop.
pub struct Keepalived {
    child: Child,
    dir: tempfile::TempDir,
}

impl Keepalived {
    /// Starts keepalived (VRRPv3) in `node`'s namespace with one instance on
    /// eth0, and waits for its VRRP child to write its pid file.
    pub fn start(
        node: &Node,
        vrid: u8,
        priority: u8,
        vip: Ipv4Addr,
        interval: Duration,
    ) -> Keepalived {
        let dir = tempfile::Builder::new()
            .prefix("orc-vrrp-ka")
            .tempdir()
            .unwrap();
        let secs = interval.as_secs_f64();
        let conf = format!(
            "global_defs {{\n  router_id {ns}\n  vrrp_version 3\n}}\n\
             vrrp_instance VI_{vrid} {{\n  state BACKUP\n  interface eth0\n  \
             virtual_router_id {vrid}\n  priority {priority}\n  advert_int {secs}\n  \
             virtual_ipaddress {{\n    {vip}/24\n  }}\n}}\n",
            ns = node.ns
        );
        let conf_path = dir.path().join("keepalived.conf");
        fs::write(&conf_path, conf).unwrap();
        let log = fs::File::create(dir.path().join("log")).unwrap();
        let p = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
        let child = Command::new("ip")
            .args(["netns", "exec", &node.ns, "keepalived", "-n", "-l", "-f"])
            .arg(&conf_path)
            .args(["--pid", &p("k.pid"), "--vrrp_pid", &p("v.pid")])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("keepalived must be installed (Debian package keepalived)");
        let ka = Keepalived { child, dir };
        let started = wait_for(Duration::from_secs(10), || ka.vrrp_pid().is_some());
        assert!(started.is_some(), "keepalived did not start:\n{}", ka.log());
        ka
    }

    fn vrrp_pid(&self) -> Option<i32> {
        fs::read_to_string(self.path("v.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.path("log")).unwrap_or_default()
    }

    /// SIGTERM: keepalived sends priority 0 and removes its VIP.
    pub fn terminate(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }

    /// SIGKILL to the VRRP child and the parent (the parent alone would
    /// restart the child): no last advert.
    pub fn crash(&mut self) {
        if let Some(pid) = self.vrrp_pid() {
            // SAFETY: kill(2) on keepalived's VRRP child, read from its pid file.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.crash();
        }
    }
}
