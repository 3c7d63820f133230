//! Mount points: is something mounted here, unmount it, and run plain tools.

use crate::VolumeError;
use std::path::Path;
use std::process::{Command, Stdio};

/// Whether `path` is a mount point (from /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy().replace(' ', "\\040");
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|p| p == want)
}

/// Unmounts `path` if mounted (also a FUSE mount, whose daemon then exits).
pub fn unmount(path: &Path) -> Result<(), VolumeError> {
    if !is_mounted(path) {
        return Ok(());
    }
    let p = path.display().to_string();
    if run("umount", &[&p]).is_err() {
        // Busy (a process still has files open): detach it lazily, it goes when they do.
        run("umount", &["-l", &p])?;
    }
    Ok(())
}

/// Runs `program args`; its stdout on success.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<String, VolumeError> {
    let mut c = Command::new(program);
    c.args(args);
    output(c, program, &args.join(" "), hint(program))
}

/// Runs a prepared command; `shown` is what error messages print of its arguments.
pub(crate) fn output(
    mut c: Command,
    program: &str,
    shown: &str,
    hint: &'static str,
) -> Result<String, VolumeError> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|source| VolumeError::Spawn {
            program: program.to_string(),
            hint,
            source,
        })?;
    if !out.status.success() {
        return Err(VolumeError::Tool {
            command: format!("{program} {shown}"),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn hint(program: &str) -> &'static str {
    match program {
        "mkfs.ext4" => "package e2fsprogs",
        "mkfs.xfs" => "package xfsprogs",
        "ceph-fuse" => "package ceph-fuse",
        "rbd-fuse" => "package rbd-fuse",
        _ => "package util-linux",
    }
}

/// Makes `dir` (and its parents), mode 0700.
pub(crate) fn make_dir(dir: &Path) -> Result<(), VolumeError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| VolumeError::io("creating", dir, e))
}

/// SIGKILLs FUSE daemons (ceph-fuse, rbd-fuse) whose command line names a path under
/// `dir`. A fenced client never answers again; killing it makes every request waiting
/// on its mount fail instead of hanging.
pub fn kill_fuse_daemons(dir: &Path) -> usize {
    let prefix = format!("{}/", dir.display());
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
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
        let fuse = args
            .first()
            .is_some_and(|a| a.ends_with("ceph-fuse") || a.ends_with("rbd-fuse"));
        if fuse && args.iter().any(|a| a.starts_with(&prefix)) {
            let pid = nix::unistd::Pid::from_raw(pid);
            if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
    }
    killed
}

/// Lazily unmounts `path` if mounted (never waits on the filesystem).
pub(crate) fn unmount_lazy(path: &Path) {
    if is_mounted(path) {
        let _ = run("umount", &["-l", &path.display().to_string()]);
    }
}
