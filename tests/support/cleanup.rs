//! Cleaning up after a containerd: its shims, containers, runc state, cgroups and
//! mounts.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The runc v2 shims' bundle dirs under a containerd state dir:
/// STATE/io.containerd.runtime.v2.task/NAMESPACE/ID.
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
            out.push((
                ns.file_name().to_string_lossy().into_owned(),
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

/// SIGKILLs each task's processes (all of its cgroup, then init) and its shim,
/// removes the shim's socket, `runc delete -f`s it and removes its cgroups.
pub(crate) fn kill_tasks(state: &Path, runc_root: &Path) {
    for (ns, id, bundle) in bundles(state) {
        for pid in cgroup_pids(&ns, &id) {
            let _ = kill(pid, Signal::SIGKILL);
        }
        if let Some(pid) = pid_in(&bundle.join("init.pid")) {
            let _ = kill(pid, Signal::SIGKILL);
        }
        if let Some(pid) = pid_in(&bundle.join("shim.pid")) {
            let _ = kill(pid, Signal::SIGKILL);
        }
        if let Ok(addr) = std::fs::read_to_string(bundle.join("address")) {
            if let Some(sock) = addr.trim().strip_prefix("unix://") {
                let _ = std::fs::remove_file(sock);
            }
        }
        let _ = Command::new("runc")
            .arg("--root")
            .arg(runc_root.join(&ns))
            .args(["delete", "--force", &id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        remove_cgroups(&ns, &id);
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
}
