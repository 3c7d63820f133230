//! The fixed parts of every container's runtime spec: Docker's default
//! capabilities, containerd's default mounts, masked and read-only paths; and the
//! user's mounts in OCI form.

use crate::{MountConfig, RuntimeError};
use oci_spec::runtime::{Capability, Mount, MountBuilder};
use std::collections::HashSet;

fn err(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Spec(e.to_string())
}

/// Docker's default capability set.
pub(crate) fn default_caps() -> HashSet<Capability> {
    use Capability::*;
    [
        Chown,
        DacOverride,
        Fsetid,
        Fowner,
        Mknod,
        NetRaw,
        Setgid,
        Setuid,
        Setfcap,
        Setpcap,
        NetBindService,
        SysChroot,
        Kill,
        AuditWrite,
    ]
    .into_iter()
    .collect()
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount, RuntimeError> {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(err)
}

/// containerd's default mounts.
pub(crate) fn default_mounts() -> Result<Vec<Mount>, RuntimeError> {
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        )?,
        mount(
            "/run",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
    ])
}

pub(crate) fn user_mount(m: &MountConfig) -> Result<Mount, RuntimeError> {
    match m {
        MountConfig::Bind {
            source,
            target,
            read_only,
        } => {
            if !source.is_absolute() {
                return Err(err(format!(
                    "bind mount source {} must be an absolute path",
                    source.display()
                )));
            }
            let source = source
                .to_str()
                .ok_or_else(|| err(format!("bind source {source:?} is not UTF-8")))?;
            mount(
                target,
                "bind",
                source,
                &["rbind", if *read_only { "ro" } else { "rw" }, "rprivate"],
            )
        }
        MountConfig::Tmpfs {
            target,
            size_bytes,
            mode,
        } => {
            let mut opts = vec!["nosuid".to_string(), "nodev".to_string()];
            if *size_bytes > 0 {
                opts.push(format!("size={size_bytes}"));
            }
            if let Some(mode) = mode {
                opts.push(format!("mode={mode:o}"));
            }
            let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
            mount(target, "tmpfs", "tmpfs", &opts)
        }
        MountConfig::ValueFile { source, target } => {
            let source = source
                .to_str()
                .ok_or_else(|| err(format!("value file {source:?} is not UTF-8")))?;
            mount(
                target,
                "bind",
                source,
                &["rbind", "ro", "nosuid", "nodev", "noexec", "rprivate"],
            )
        }
    }
}

/// containerd's default masked paths.
pub(crate) fn masked_paths() -> Vec<String> {
    [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/proc/scsi",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// containerd's default read-only paths.
pub(crate) fn readonly_paths() -> Vec<String> {
    [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
