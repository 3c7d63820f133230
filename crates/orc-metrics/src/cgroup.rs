//! A task's resource use from its cgroup.
//!
//! runc places a container at the `cgroupsPath` of its OCI spec (`/NAMESPACE/ID` for
//! orc); where exactly depends on the hierarchy, so the reader asks the kernel:
//! `/proc/PID/cgroup` of the container's init process names its cgroup per
//! hierarchy, and the path is relative to the hierarchy's mount:
//!
//! - cgroup v2 (the boards: Armbian/Debian 12): `0::/orc/ID` →
//!   `/sys/fs/cgroup/orc/ID/{cpu.stat,memory.current,memory.max,io.stat}`;
//! - cgroup v1 (and v1+v2 hybrid): `4:memory:/orc/ID` →
//!   `/sys/fs/cgroup/memory/orc/ID/memory.usage_in_bytes` and so on, with `cpuacct`
//!   and `blkio` likewise (a joint `cpu,cpuacct` mount is found under either name).
//!
//! A v2 line with an empty controller list in a hybrid system (`/sys/fs/cgroup/unified`)
//! holds no controllers: v1 is used whenever the memory controller is listed there.

use crate::{read, Error};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What one task used; counters since the container started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskUsage {
    pub cpu_seconds: f64,
    pub memory_bytes: u64,
    /// None: no limit.
    pub memory_limit_bytes: Option<u64>,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
}

/// The cgroups of a process, as `/proc/PID/cgroup` lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    /// The v2 (unified) path, "0::/…".
    pub unified: Option<String>,
    /// v1 controller → (its line's controller list, path); a joint hierarchy
    /// ("cpu,cpuacct") is listed under each of its controllers.
    pub v1: BTreeMap<String, (String, String)>,
}

pub fn parse_proc_cgroup(text: &str) -> Membership {
    let mut m = Membership::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            m.unified = Some(path.to_string());
        } else {
            for c in controllers.split(',') {
                m.v1.insert(c.to_string(), (controllers.to_string(), path.to_string()));
            }
        }
    }
    m
}

/// `cpu.stat` (v2) → `usage_usec` in seconds.
pub fn parse_v2_cpu_stat(text: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let v: u64 = l.strip_prefix("usage_usec ")?.trim().parse().ok()?;
        Some(v as f64 / 1e6)
    })
}

/// `memory.max` (v2): "max" is no limit.
pub fn parse_v2_memory_max(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// `io.stat` (v2): "8:0 rbytes=1 wbytes=2 rios=3 …" per device → (read, written).
pub fn parse_v2_io_stat(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0u64, 0u64);
    for field in text.split_ascii_whitespace() {
        if let Some(v) = field.strip_prefix("rbytes=") {
            r = r.saturating_add(v.parse().unwrap_or(0));
        } else if let Some(v) = field.strip_prefix("wbytes=") {
            w = w.saturating_add(v.parse().unwrap_or(0));
        }
    }
    (r, w)
}

/// `memory.limit_in_bytes` (v1): the kernel's "unlimited" is a page-rounded
/// `i64::MAX`; anything from 2^62 up is taken as no limit.
pub fn parse_v1_memory_limit(text: &str) -> Option<u64> {
    let v: u64 = text.trim().parse().ok()?;
    (v < 1 << 62).then_some(v)
}

/// `blkio.throttle.io_service_bytes` (v1): "8:0 Read 4096" lines per device and op,
/// then "Total N" → (read, written).
pub fn parse_v1_blkio(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0u64, 0u64);
    for line in text.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if let [_dev, op, n] = f[..] {
            let n: u64 = n.parse().unwrap_or(0);
            match op {
                "Read" => r = r.saturating_add(n),
                "Write" => w = w.saturating_add(n),
                _ => {}
            }
        }
    }
    (r, w)
}

fn number(path: &Path) -> Result<u64, Error> {
    let text = read(path)?;
    text.trim().parse().map_err(|_| Error::Parse {
        path: path.display().to_string(),
        what: format!("not a number: {}", text.trim()),
    })
}

/// Joins a cgroup path ("/orc/ID") under a mount.
pub(crate) fn under(mount: &Path, cgroup: &str) -> PathBuf {
    mount.join(cgroup.trim_start_matches('/'))
}

/// The v1 directory of `controller` for this membership, trying the joint mount names
/// (`cpu,cpuacct`) as well.
pub(crate) fn v1_dir(root: &Path, m: &Membership, controller: &str) -> Option<PathBuf> {
    let (group, path) = m.v1.get(controller)?;
    [controller, group.as_str()]
        .iter()
        .map(|name| under(&root.join(name), path))
        .find(|d| d.is_dir())
}

/// Reads a process's cgroup usage. `root` is the cgroup mount (`/sys/fs/cgroup`);
/// network counters are not filled here (see [`crate::netdev`]).
pub fn read_usage(root: &Path, m: &Membership) -> Result<TaskUsage, Error> {
    let mut u = TaskUsage::default();
    if m.v1.contains_key("memory") {
        let mem = v1_dir(root, m, "memory").ok_or_else(|| Error::Parse {
            path: root.display().to_string(),
            what: "no v1 memory cgroup directory".into(),
        })?;
        u.memory_bytes = number(&mem.join("memory.usage_in_bytes"))?;
        u.memory_limit_bytes = parse_v1_memory_limit(&read(&mem.join("memory.limit_in_bytes"))?);
        if let Some(cpu) = v1_dir(root, m, "cpuacct") {
            u.cpu_seconds = number(&cpu.join("cpuacct.usage"))? as f64 / 1e9;
        }
        if let Some(blk) = v1_dir(root, m, "blkio") {
            if let Ok(t) = read(&blk.join("blkio.throttle.io_service_bytes")) {
                (u.block_read_bytes, u.block_write_bytes) = parse_v1_blkio(&t);
            }
        }
        return Ok(u);
    }
    let path = m.unified.as_deref().ok_or_else(|| Error::Parse {
        path: root.display().to_string(),
        what: "process is in no cgroup".into(),
    })?;
    let dir = under(root, path);
    let cpu = dir.join("cpu.stat");
    u.cpu_seconds = parse_v2_cpu_stat(&read(&cpu)?).ok_or_else(|| Error::Parse {
        path: cpu.display().to_string(),
        what: "no usage_usec".into(),
    })?;
    u.memory_bytes = number(&dir.join("memory.current"))?;
    u.memory_limit_bytes = parse_v2_memory_max(&read(&dir.join("memory.max"))?);
    if let Ok(t) = read(&dir.join("io.stat")) {
        (u.block_read_bytes, u.block_write_bytes) = parse_v2_io_stat(&t);
    }
    Ok(u)
}

/// A task's usage from its init process: cgroup figures and its namespace's network
/// bytes. `proc` is `/proc`, `root` `/sys/fs/cgroup`.
pub fn task_usage(proc: &Path, root: &Path, pid: u32) -> Result<TaskUsage, Error> {
    let pid_dir = proc.join(pid.to_string());
    let m = parse_proc_cgroup(&read(&pid_dir.join("cgroup"))?);
    let mut u = read_usage(root, &m)?;
    if let Ok(dev) = read(&pid_dir.join("net/dev")) {
        let n = crate::netdev::parse_net_dev(&dev);
        u.net_rx_bytes = n.rx_bytes;
        u.net_tx_bytes = n.tx_bytes;
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "12:blkio:/orc/t1\n4:cpu,cpuacct:/orc/t1\n3:memory:/orc/t1\n\
1:name=systemd:/orc/t1\n0::/\n";
    const V2: &str = "0::/orc/t1\n";

    #[test]
    fn proc_cgroup_lines() {
        let m = parse_proc_cgroup(V1);
        assert_eq!(m.v1["memory"], ("memory".into(), "/orc/t1".into()));
        assert_eq!(m.v1["cpuacct"], ("cpu,cpuacct".into(), "/orc/t1".into()));
        assert_eq!(m.v1["cpu"], ("cpu,cpuacct".into(), "/orc/t1".into()));
        assert_eq!(m.unified.as_deref(), Some("/"));
        let m = parse_proc_cgroup(V2);
        assert!(m.v1.is_empty());
        assert_eq!(m.unified.as_deref(), Some("/orc/t1"));
    }

    #[test]
    fn v2_files() {
        assert_eq!(
            parse_v2_cpu_stat("usage_usec 2500000\nuser_usec 2000000\n"),
            Some(2.5)
        );
        assert_eq!(parse_v2_cpu_stat("user_usec 1\n"), None);
        assert_eq!(parse_v2_memory_max("max\n"), None);
        assert_eq!(parse_v2_memory_max("67108864\n"), Some(64 << 20));
        assert_eq!(
            parse_v2_io_stat(
                "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n\
                 179:0 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n"
            ),
            (4097, 8194)
        );
    }

    #[test]
    fn v1_files() {
        assert_eq!(parse_v1_memory_limit("9223372036854771712\n"), None);
        assert_eq!(parse_v1_memory_limit("67108864\n"), Some(64 << 20));
        assert_eq!(
            parse_v1_blkio(
                "8:0 Read 4096\n8:0 Write 512\n8:0 Sync 1\n8:0 Async 2\n8:0 Total 4608\n\
                 253:0 Read 4\n253:0 Write 0\nTotal 4612\n"
            ),
            (4100, 512)
        );
    }

    fn write(path: PathBuf, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn v1_tree_with_a_joint_cpu_mount() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(r.join("memory/orc/t1/memory.usage_in_bytes"), "1048576\n");
        write(r.join("memory/orc/t1/memory.limit_in_bytes"), "67108864\n");
        write(r.join("cpu,cpuacct/orc/t1/cpuacct.usage"), "1500000000\n");
        write(
            r.join("blkio/orc/t1/blkio.throttle.io_service_bytes"),
            "8:0 Read 10\n8:0 Write 20\nTotal 30\n",
        );
        let u = read_usage(r, &parse_proc_cgroup(V1)).unwrap();
        assert_eq!(
            u,
            TaskUsage {
                cpu_seconds: 1.5,
                memory_bytes: 1 << 20,
                memory_limit_bytes: Some(64 << 20),
                block_read_bytes: 10,
                block_write_bytes: 20,
                ..TaskUsage::default()
            }
        );
    }

    #[test]
    fn v2_tree() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(r.join("orc/t1/cpu.stat"), "usage_usec 750000\n");
        write(r.join("orc/t1/memory.current"), "2097152\n");
        write(r.join("orc/t1/memory.max"), "max\n");
        let u = read_usage(r, &parse_proc_cgroup(V2)).unwrap();
        assert_eq!(u.cpu_seconds, 0.75);
        assert_eq!(u.memory_bytes, 2 << 20);
        assert_eq!(u.memory_limit_bytes, None);
        // A cgroup that vanished (the task just ended) is an error naming the file.
        let err = read_usage(r, &parse_proc_cgroup("0::/orc/gone\n")).unwrap_err();
        assert!(err.to_string().contains("orc/gone/cpu.stat"), "{err}");
    }

    #[test]
    fn this_process_on_this_machine() {
        let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let m = parse_proc_cgroup(&text);
        if m.v1.is_empty() && m.unified.as_deref() == Some("/") {
            return; // the v2 root cgroup has no memory.current: nothing to read
        }
        let pid = std::process::id();
        let u = task_usage(Path::new("/proc"), Path::new("/sys/fs/cgroup"), pid).unwrap();
        assert!(u.memory_bytes > 0, "{u:?}");
        assert!(u.cpu_seconds > 0.0, "{u:?}");
    }
}
