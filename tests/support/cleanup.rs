//! Cleaning up after a containerd: its shims (which outlive it), their log drivers
//! and containers, runc state, cgroups and mounts.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Marker in the temp dir names of harness containerds (see containerd.rs).
pub(crate) const DIR_PREFIX: &str = "orc-containerd-";

/// A running containerd-shim process.
struct Shim {
    pid: Pid,
    namespace: String,
    id: String,
    address: PathBuf,
}

fn arg_after(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Every process on the machine with its command line (pid, argv), from /proc.
pub fn processes() -> Vec<(i32, Vec<String>)> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(p.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        out.push((pid, args));
    }
    out
}

/// Every containerd shim on the machine (from /proc/*/cmdline).
fn shims() -> Vec<Shim> {
    let mut out = Vec::new();
    for (pid, args) in processes() {
        if !args.first().is_some_and(|a| a.contains("containerd-shim")) {
            continue;
        }
        if let (Some(namespace), Some(id), Some(address)) = (
            arg_after(&args, "-namespace"),
            arg_after(&args, "-id"),
            arg_after(&args, "-address"),
        ) {
            out.push(Shim {
                pid: Pid::from_raw(pid),
                namespace,
                id,
                address: address.into(),
            });
        }
    }
    out
}

/// Direct children of `parent` (from /proc/*/stat).
fn children(parent: Pid) -> Vec<Pid> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|p| {
            let stat = std::fs::read_to_string(p.path().join("stat")).ok()?;
            let ppid: i32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let pid: i32 = p.file_name().to_str()?.parse().ok()?;
            (ppid == parent.as_raw()).then(|| Pid::from_raw(pid))
        })
        .collect()
}

/// The runc v2 bundle dirs under a containerd state dir:
/// STATE/io.containerd.runtime.v2.task/NAMESPACE/ID → (namespace, id, dir).
fn bundles(state: &Path) -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(nss) = std::fs::read_dir(state.join("io.containerd.runtime.v2.task")) else {
        return out;
    };
    for ns in nss.flatten() {
        let Ok(ids) = std::fs::read_dir(ns.path()) else {
            continue;
        };
        for id in ids.flatten() {
            let ns_name = ns.file_name().to_string_lossy().into_owned();
            out.push((
                ns_name,
                id.file_name().to_string_lossy().into_owned(),
                id.path(),
            ));
        }
    }
    out
}

fn pid_in(path: &Path) -> Option<Pid> {
    let n: i32 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
    (n > 1).then(|| Pid::from_raw(n))
}

/// Kills a task's processes (its whole cgroup), deletes its runc state and cgroups.
fn kill_task(ns: &str, id: &str, init: Option<Pid>, runc_root: &Path) {
    for pid in cgroup_pids(ns, id).into_iter().chain(init) {
        let _ = kill(pid, Signal::SIGKILL);
    }
    let _ = Command::new("runc")
        .arg("--root")
        .arg(runc_root.join(ns))
        .args(["delete", "--force", id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    remove_cgroups(ns, id);
}

/// Kills a shim, its children (log driver, container init) and its task.
fn kill_shim(shim: &Shim, runc_root: &Path) {
    for child in children(shim.pid) {
        let _ = kill(child, Signal::SIGKILL);
    }
    let _ = kill(shim.pid, Signal::SIGKILL);
    kill_task(&shim.namespace, &shim.id, None, runc_root);
}

/// Kills everything the containerd serving `socket` (state dir `state`) started:
/// its shims with their children, and the tasks of every bundle left in `state`.
pub(crate) fn kill_tasks(socket: &Path, state: &Path, runc_root: &Path) {
    for shim in shims().iter().filter(|s| s.address == socket) {
        kill_shim(shim, runc_root);
    }
    for (ns, id, bundle) in bundles(state) {
        kill_task(&ns, &id, pid_in(&bundle.join("init.pid")), runc_root);
        if let Ok(addr) = std::fs::read_to_string(bundle.join("address")) {
            if let Some(sock) = addr.trim().strip_prefix("unix://") {
                let _ = std::fs::remove_file(sock);
            }
        }
    }
}

/// Kills shims of harness containerds that no longer exist (a test process killed
/// before its Drop ran): their socket is gone.
pub(crate) fn sweep_stale(runc_root: &Path) {
    for shim in shims() {
        let ours = shim
            .address
            .to_string_lossy()
            .contains(&format!("/{DIR_PREFIX}"));
        if ours && !shim.address.exists() {
            kill_shim(&shim, runc_root);
        }
    }
}

/// cgroup v1 controller dirs (or the v2 root).
fn cgroup_roots() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        return vec![base.to_path_buf()];
    }
    std::fs::read_dir(base)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn cgroup_pids(ns: &str, id: &str) -> Vec<Pid> {
    let mut out = Vec::new();
    for root in cgroup_roots() {
        if let Ok(s) = std::fs::read_to_string(root.join(ns).join(id).join("cgroup.procs")) {
            out.extend(
                s.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .map(Pid::from_raw),
            );
        }
    }
    out
}

fn remove_cgroups(ns: &str, id: &str) {
    for root in cgroup_roots() {
        let _ = std::fs::remove_dir(root.join(ns).join(id));
    }
}

/// Lazily unmounts everything mounted at or below `dir`, deepest first.
pub(crate) fn unmount_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| p.replace("\\040", " "))
        .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    for p in points {
        let _ = Command::new("umount")
            .args(["-l", &p])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    // Loop devices backed by files under `dir` (orc's rbd-fuse volumes): from sysfs,
    // without touching the backing files.
    let Ok(rd) = std::fs::read_dir("/sys/block") else {
        return;
    };
    for e in rd.flatten() {
        let Ok(backing) = std::fs::read_to_string(e.path().join("loop/backing_file")) else {
            continue;
        };
        if backing.trim().starts_with(&format!("{prefix}/")) {
            let dev = format!("/dev/{}", e.file_name().to_string_lossy());
            let _ = Command::new("losetup")
                .args(["-d", &dev])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Unmounts the network namespaces an orc daemon pinned under `dir` (a killed daemon
/// cannot), so their veths go with the containers instead of outliving the test.
pub fn unmount_netns_under(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return;
    };
    let prefix = format!("{}/", dir.display());
    for line in mounts.lines() {
        let mut f = line.split_whitespace();
        let (Some(kind), Some(target)) = (f.next(), f.next()) else {
            continue;
        };
        if kind == "nsfs" && target.starts_with(&prefix) {
            let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_file(target);
        }
    }
}
