//! A simulated LAN of hosts in network namespaces: a `lan` namespace holding a bridge
//! (STP off), and one namespace per host with a veth into the bridge and an address
//! in a private /24 that exists only inside these namespaces. Nothing is created in
//! the root namespace.
//!
//! Names carry the test process's pid (`oct-PID-N-…`), so namespaces left by a test
//! process that was killed are swept by the next [`Lan::new`]. Dropping a [`Lan`]
//! SIGKILLs every process still in its namespaces and deletes them, also when the
//! test panicked.

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

pub(crate) const NETNS_DIR: &str = "/var/run/netns";
pub(crate) const PREFIX: &str = "oct-";
/// The bridge in the lan namespace.
const BRIDGE: &str = "br0";
/// The host side of each veth.
const HOST_IF: &str = "eth0";

/// A host on a [`Lan`]: its namespace and address. Plain data; the [`Lan`] owns the
/// namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The namespace's name (`/var/run/netns/NAME`).
    pub netns: String,
    /// The host's address on the LAN.
    pub ip: Ipv4Addr,
    /// Its number on the LAN (1, 2, …).
    pub index: u32,
}

impl Host {
    /// `program` to be run inside this host's network namespace (via nsenter, which
    /// unlike `ip netns exec` leaves /sys and the cgroup mounts alone).
    pub fn command(&self, program: &str) -> Command {
        nsenter(&self.netns, program)
    }

    /// The bridge-side veth of this host, in the lan namespace (≤ 15 chars).
    fn port(&self) -> String {
        format!("h{}", self.index)
    }
}

/// `program` run inside network namespace `/var/run/netns/NS`.
pub fn nsenter(ns: &str, program: &str) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net={NETNS_DIR}/{ns}")).arg(program);
    c
}

/// A bridge in its own namespace, and the hosts plugged into it.
pub struct Lan {
    name: String,
    subnet: [u8; 3],
    hosts: Mutex<Vec<Host>>,
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

pub(crate) fn ip(args: &[&str]) -> Result<()> {
    run(Command::new("ip").args(args))
}

pub(crate) fn netns_exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

/// SIGKILLs every process in namespace `ns`, then deletes it.
pub(crate) fn destroy_netns(ns: &str) {
    for _ in 0..3 {
        let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
            break;
        };
        let pids: Vec<i32> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter(|p| *p > 1)
            .collect();
        if pids.is_empty() {
            break;
        }
        for p in pids {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = Command::new("ip")
        .args(["netns", "del", ns])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Deletes namespaces of ours whose test process no longer exists.
pub(crate) fn sweep_stale() {
    let Ok(rd) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            destroy_netns(&name);
        }
    }
}

impl Lan {
    /// A new lan namespace with a bridge, STP off. Its /24 (10.X.Y.0/24) is derived
    /// from the pid and a counter, so LANs of parallel tests differ.
    pub fn new() -> Result<Lan> {
        static N: AtomicU32 = AtomicU32::new(0);
        sweep_stale();
        let pid = std::process::id();
        let (name, n) = loop {
            let n = N.fetch_add(1, Ordering::Relaxed);
            let name = format!("{PREFIX}{pid}-{n}");
            if n > 1000 {
                bail!("no free namespace name for {PREFIX}{pid}-N");
            }
            if !netns_exists(&format!("{name}-lan")) {
                break (name, n);
            }
        };
        let tag = (pid.wrapping_mul(16).wrapping_add(n)) & 0xffff;
        // Never 10.201.x.0/24: that is orc's default container subnet.
        let tag = if tag >> 8 == 201 { tag ^ 0x0100 } else { tag };
        let lan = Lan {
            name,
            subnet: [10, (tag >> 8) as u8, (tag & 0xff) as u8],
            hosts: Mutex::new(Vec::new()),
        };
        let ns = lan.lan_ns();
        ip(&["netns", "add", &ns])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &ns,
            "link",
            "add",
            BRIDGE,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        ip(&["-n", &ns, "link", "set", BRIDGE, "up"])?;
        Ok(lan)
    }

    fn lan_ns(&self) -> String {
        format!("{}-lan", self.name)
    }

    /// The LAN's prefix, `10.X.Y.0/24`.
    pub fn subnet(&self) -> String {
        let [a, b, c] = self.subnet;
        format!("{a}.{b}.{c}.0/24")
    }

    /// A new host: its namespace, a veth into the bridge, the next address (.11, .12, …).
    pub fn add_host(&self) -> Result<Host> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        let index = hosts.len() as u32 + 1;
        if index > 200 {
            bail!("a LAN holds at most 200 hosts");
        }
        let [a, b, c] = self.subnet;
        let host = Host {
            netns: format!("{}-n{index}", self.name),
            ip: Ipv4Addr::new(a, b, c, 10 + index as u8),
            index,
        };
        let lan = self.lan_ns();
        let ns = host.netns.as_str();
        let port = host.port();
        ip(&["netns", "add", ns])?;
        hosts.push(host.clone());
        ip(&[
            "-n", &lan, "link", "add", &port, "type", "veth", "peer", "name", HOST_IF, "netns", ns,
        ])?;
        ip(&["-n", &lan, "link", "set", &port, "master", BRIDGE])?;
        ip(&["-n", &lan, "link", "set", &port, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{}/24", host.ip),
            "dev",
            HOST_IF,
        ])?;
        ip(&["-n", ns, "link", "set", HOST_IF, "up"])?;
        Ok(host)
    }

    /// The hosts added so far.
    pub fn hosts(&self) -> Vec<Host> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Unplugs `host`: its bridge port goes down, so its packets go nowhere (as when a
    /// cable is pulled). Processes on it keep running.
    pub fn cut(&self, host: &Host) -> Result<()> {
        ip(&["-n", &self.lan_ns(), "link", "set", &host.port(), "down"])
    }

    /// Separates `host` from every other host on the LAN with nft drop rules in its
    /// namespace (the link stays up; packets are silently dropped both ways).
    pub fn partition(&self, host: &Host) -> Result<()> {
        let others: Vec<String> = self
            .hosts()
            .iter()
            .filter(|h| h.netns != host.netns)
            .map(|h| h.ip.to_string())
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        let set = others.join(", ");
        let rules = format!(
            "table inet oct_partition {{\n\
             chain input {{ type filter hook input priority 0; policy accept; ip saddr {{ {set} }} drop; }}\n\
             chain output {{ type filter hook output priority 0; policy accept; ip daddr {{ {set} }} drop; }}\n\
             }}\n"
        );
        let mut child = host
            .command("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("running nft (apt-get install nftables)")?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin.write_all(rules.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "nft failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Undoes [`Lan::cut`] and [`Lan::partition`] for `host`.
    pub fn heal(&self, host: &Host) -> Result<()> {
        ip(&["-n", &self.lan_ns(), "link", "set", &host.port(), "up"])?;
        let _ = host
            .command("nft")
            .args(["delete", "table", "inet", "oct_partition"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        Ok(())
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for h in self.hosts() {
            destroy_netns(&h.netns);
        }
        destroy_netns(&self.lan_ns());
    }
}

/// Asks the DNS server at `server` for the A records of `name`, from inside the
/// network namespace at `netns` (as a container there would), on a thread of its own.
/// `None` when no answer came or it was not NOERROR.
pub fn dns_a(netns: &std::path::Path, server: &str, name: &str) -> Option<Vec<String>> {
    let ns = std::fs::File::open(netns).ok()?;
    let server = format!("{server}:53");
    let name = name.to_string();
    std::thread::spawn(move || -> Option<Vec<String>> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
        sock.set_read_timeout(Some(std::time::Duration::from_secs(3)))
            .ok()?;
        let mut q = vec![0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        sock.send_to(&q, &server).ok()?;
        let mut buf = [0u8; 1500];
        let n = sock.recv(&mut buf).ok()?;
        let r = &buf[..n];
        if r.len() < 12 || r[..2] != [0xab, 0xcd] || r[3] & 0x0f != 0 {
            return None;
        }
        let count = usize::from(u16::from_be_bytes([r[6], r[7]]));
        // Answers follow the question, 16 bytes each (name pointer, A, IN, TTL, 4 bytes).
        let start = q.len();
        Some(
            (0..count)
                .filter_map(|i| r.get(start + i * 16 + 12..start + i * 16 + 16))
                .map(|a| format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]))
                .collect(),
        )
    })
    .join()
    .ok()
    .flatten()
}
