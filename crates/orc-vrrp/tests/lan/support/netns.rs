//! A LAN of network namespaces: a `lan` namespace holding a bridge (STP and
//! multicast snooping off) and one namespace per node with a veth `eth0`
//! into it. Everything is deleted on drop.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Runs `ip ARGS`, panicking with its stderr on failure.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The LAN; its namespaces are deleted when it drops.
pub struct Lan {
    prefix: String,
    /// The /24 used inside the namespaces: 10.77.`subnet`.0/24.
    pub subnet: u8,
    namespaces: Vec<String>,
}

/// One node: a namespace with `eth0` on the LAN.
#[derive(Debug, Clone)]
pub struct Node {
    /// Namespace name (usable with `ip -n` and `/var/run/netns/`).
    pub ns: String,
    /// The node's address on `eth0`.
    pub ip: Ipv4Addr,
}

impl Lan {
    /// Creates the `lan` namespace and its bridge.
    pub fn new() -> Lan {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        // A subnet that differs between tests of this run and, likely, runs.
        let subnet = ((pid.wrapping_mul(31) ^ nanos ^ n.wrapping_mul(97)) % 250 + 1) as u8;
        let prefix = format!("ovr{pid}n{n}");
        let mut lan = Lan {
            prefix,
            subnet,
            namespaces: Vec::new(),
        };
        let ns = lan.add_ns("lan");
        ip(&[
            "-n",
            &ns,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "mcast_snooping",
            "0",
        ]);
        ip(&["-n", &ns, "link", "set", "br0", "up"]);
        lan
    }

    fn add_ns(&mut self, suffix: &str) -> String {
        let ns = format!("{}{}", self.prefix, suffix);
        ip(&["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        ns
    }

    fn lan_ns(&self) -> &str {
        &self.namespaces[0]
    }

    /// An address of this LAN: 10.77.subnet.`host`.
    pub fn addr(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.subnet, host)
    }

    /// Adds node `name` with address 10.77.subnet.`host`/24 on `eth0`.
    pub fn node(&mut self, name: &str, host: u8) -> Node {
        let ns = self.add_ns(name);
        let port = format!("v{name}");
        let lan = self.lan_ns().to_owned();
        ip(&[
            "-n", &lan, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        ip(&["-n", &lan, "link", "set", &port, "master", "br0", "up"]);
        let addr = self.addr(host);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        Node { ns, ip: addr }
    }
}

impl Lan {
    /// Detaches (`false`) or re-attaches (`true`) a node's port from the
    /// bridge: the node's own link stays up, it just hears nobody.
    pub fn connect(&self, node_name: &str, connected: bool) {
        let port = format!("v{node_name}");
        let master: &[&str] = if connected {
            &["master", "br0"]
        } else {
            &["nomaster"]
        };
        let mut args = vec!["-n", self.lan_ns(), "link", "set", port.as_str()];
        args.extend_from_slice(master);
        ip(&args);
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

impl Node {
    /// Whether `vip` is on this node's `eth0` (`ip -n NS addr`).
    pub fn has(&self, vip: Ipv4Addr) -> bool {
        let out = ip(&["-n", &self.ns, "-4", "-o", "addr", "show", "dev", "eth0"]);
        let needle = format!("inet {vip}/");
        out.contains(&needle)
    }

    /// Runs `f` on a new thread inside this node's network namespace.
    pub fn spawn_in<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/var/run/netns/{}", self.ns);
        std::thread::spawn(move || {
            enter(&path);
            f()
        })
    }
}

/// Moves the calling thread into the network namespace at `path`.
pub fn enter(path: &str) {
    let file = std::fs::File::open(path).expect("open netns");
    use std::os::fd::AsRawFd;
    // SAFETY: setns on a valid namespace fd; it affects only this thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
}
