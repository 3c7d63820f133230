//! The finer figures of one container that Docker's `/containers/{id}/stats` shows
//! (and Telegraf's docker input reads), beyond [`crate::cgroup::TaskUsage`]: CPU time
//! split into user and kernel mode, the process count, the memory controller's
//! `memory.stat`, per-interface network counters, and the host's CPU time for the
//! share. Parsers are pure; [`container_usage`] is the thin reader.

use crate::cgroup::{parse_proc_cgroup, read_usage, under, v1_dir, Membership, TaskUsage};
use crate::{read, Error};
use std::collections::BTreeMap;
use std::path::Path;

/// `/proc/stat` and `cpuacct.stat` count in USER_HZ (100 on every target).
const USER_HZ: u64 = 100;

/// One network interface's counters (`/proc/PID/net/dev`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// What one container uses, read at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerUsage {
    /// CPU, memory, block I/O (network bytes summed over the interfaces).
    pub usage: TaskUsage,
    /// CPU time in user and kernel mode, nanoseconds (0 when the kernel doesn't say).
    pub cpu_user_ns: u64,
    pub cpu_kernel_ns: u64,
    /// Processes in the cgroup.
    pub pids: u64,
    /// `memory.stat`, key → value.
    pub memory_stat: BTreeMap<String, u64>,
    /// Every interface but loopback, in the file's order.
    pub interfaces: Vec<Interface>,
    /// The host's CPU time over all CPUs and modes, nanoseconds (`/proc/stat`).
    pub system_cpu_ns: u64,
    /// The host's CPUs (`cpuN` lines of `/proc/stat`).
    pub online_cpus: u32,
}

/// Flat keyed files (`memory.stat`, `cpu.stat`, `cpuacct.stat`): "key value" lines.
pub fn parse_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// `/proc/PID/net/dev` → each interface but loopback.
pub fn parse_interfaces(text: &str) -> Vec<Interface> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let name = name.trim();
            if name == "lo" {
                return None;
            }
            let f: Vec<u64> = rest
                .split_ascii_whitespace()
                .map_while(|x| x.parse().ok())
                .collect();
            (f.len() >= 12).then(|| Interface {
                name: name.to_string(),
                rx_bytes: f[0],
                rx_packets: f[1],
                rx_errors: f[2],
                rx_dropped: f[3],
                tx_bytes: f[8],
                tx_packets: f[9],
                tx_errors: f[10],
                tx_dropped: f[11],
            })
        })
        .collect()
}

/// `/proc/stat` → (the aggregate line's total in ns, the number of CPUs).
pub fn parse_system_cpu(text: &str) -> (u64, u32) {
    let mut total = 0u64;
    let mut cpus = 0u32;
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        match f.next() {
            Some("cpu") => {
                let ticks: u64 = f.filter_map(|x| x.parse::<u64>().ok()).sum();
                total = ticks.saturating_mul(1_000_000_000 / USER_HZ);
            }
            Some(c) if c.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total, cpus)
}

/// (user, kernel) CPU ns from cgroup v2's `cpu.stat` (µs) or v1's `cpuacct.stat`
/// (USER_HZ ticks).
pub fn cpu_split(stat: &BTreeMap<String, u64>) -> (u64, u64) {
    match (stat.get("user_usec"), stat.get("system_usec")) {
        (Some(u), Some(s)) => (u.saturating_mul(1000), s.saturating_mul(1000)),
        _ => {
            let tick = 1_000_000_000 / USER_HZ;
            (
                stat.get("user").copied().unwrap_or(0).saturating_mul(tick),
                stat.get("system")
                    .copied()
                    .unwrap_or(0)
                    .saturating_mul(tick),
            )
        }
    }
}

/// The directory holding `controller`'s files for this membership (v1 when the
/// controller is mounted there, the unified hierarchy otherwise).
fn controller_dir(root: &Path, m: &Membership, controller: &str) -> Option<std::path::PathBuf> {
    if m.v1.contains_key(controller) {
        return v1_dir(root, m, controller);
    }
    if m.v1.contains_key("memory") {
        return None; // a v1 system without this controller
    }
    m.unified.as_deref().map(|p| under(root, p))
}

/// Reads a container's figures from its init process `pid`: `proc` is `/proc`,
/// `root` `/sys/fs/cgroup`. Files that only add detail may be missing (zero then).
pub fn container_usage(proc: &Path, root: &Path, pid: u32) -> Result<ContainerUsage, Error> {
    let pid_dir = proc.join(pid.to_string());
    let m = parse_proc_cgroup(&read(&pid_dir.join("cgroup"))?);
    let mut out = ContainerUsage {
        usage: read_usage(root, &m)?,
        ..Default::default()
    };
    if let Ok(dev) = read(&pid_dir.join("net/dev")) {
        out.interfaces = parse_interfaces(&dev);
        out.usage.net_rx_bytes = out.interfaces.iter().map(|i| i.rx_bytes).sum();
        out.usage.net_tx_bytes = out.interfaces.iter().map(|i| i.tx_bytes).sum();
    }
    let keyed = |controller: &str, file: &str| {
        controller_dir(root, &m, controller)
            .and_then(|d| read(&d.join(file)).ok())
            .map(|t| parse_keyed(&t))
    };
    let cpu = keyed("cpu", "cpu.stat")
        .filter(|s| s.contains_key("user_usec"))
        .or_else(|| keyed("cpuacct", "cpuacct.stat"))
        .unwrap_or_default();
    (out.cpu_user_ns, out.cpu_kernel_ns) = cpu_split(&cpu);
    out.memory_stat = keyed("memory", "memory.stat").unwrap_or_default();
    out.pids = controller_dir(root, &m, "pids")
        .and_then(|d| read(&d.join("pids.current")).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    if let Ok(stat) = read(&proc.join("stat")) {
        (out.system_cpu_ns, out.online_cpus) = parse_system_cpu(&stat);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n  \
eth0:   5000      40    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n";

    #[test]
    fn interfaces_with_packets_and_errors() {
        let i = parse_interfaces(NET_DEV);
        assert_eq!(
            i,
            vec![Interface {
                name: "eth0".into(),
                rx_bytes: 5000,
                rx_packets: 40,
                rx_errors: 1,
                rx_dropped: 2,
                tx_bytes: 3000,
                tx_packets: 30,
                tx_errors: 3,
                tx_dropped: 4,
            }]
        );
        assert!(parse_interfaces("").is_empty());
    }

    #[test]
    fn system_cpu_and_split() {
        let (total, cpus) = parse_system_cpu(
            "cpu  100 0 50 850 0 0 0 0 0 0\ncpu0 50 0 25 425\ncpu1 50 0 25 425\nintr 1\n",
        );
        assert_eq!((total, cpus), (10_000_000_000, 2));
        let v2 = parse_keyed("usage_usec 30\nuser_usec 20\nsystem_usec 10\n");
        assert_eq!(cpu_split(&v2), (20_000, 10_000));
        let v1 = parse_keyed("user 3\nsystem 1\n");
        assert_eq!(cpu_split(&v1), (30_000_000, 10_000_000));
        assert_eq!(cpu_split(&BTreeMap::new()), (0, 0));
    }

    fn write(path: std::path::PathBuf, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn reads_a_v1_container() {
        let d = tempfile::tempdir().unwrap();
        let (proc, root) = (d.path().join("proc"), d.path().join("cg"));
        write(
            proc.join("7/cgroup"),
            "5:pids:/orc/t1\n4:cpu,cpuacct:/orc/t1\n3:memory:/orc/t1\n0::/\n",
        );
        write(proc.join("7/net/dev"), NET_DEV);
        write(proc.join("stat"), "cpu  1 1 1 1\ncpu0 1 1 1 1\n");
        write(root.join("memory/orc/t1/memory.usage_in_bytes"), "4096\n");
        write(root.join("memory/orc/t1/memory.limit_in_bytes"), "8192\n");
        write(root.join("memory/orc/t1/memory.stat"), "cache 1\nrss 2\n");
        write(root.join("cpu,cpuacct/orc/t1/cpuacct.usage"), "500\n");
        write(
            root.join("cpu,cpuacct/orc/t1/cpuacct.stat"),
            "user 2\nsystem 1\n",
        );
        write(root.join("pids/orc/t1/pids.current"), "3\n");
        let u = container_usage(&proc, &root, 7).unwrap();
        assert_eq!(u.usage.memory_bytes, 4096);
        assert_eq!(u.usage.net_rx_bytes, 5000);
        assert_eq!((u.cpu_user_ns, u.cpu_kernel_ns), (20_000_000, 10_000_000));
        assert_eq!(u.pids, 3);
        assert_eq!(u.memory_stat["rss"], 2);
        assert_eq!((u.system_cpu_ns, u.online_cpus), (40_000_000, 1));
    }
}
