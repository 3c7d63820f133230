//! The container options of a [`ContainerConfig`] applied to its runtime spec:
//! capabilities, privileged mode, devices, sysctls, rlimits, a read-only root,
//! /dev/shm's size and the pids limit.

use crate::spec_defaults::default_caps;
use crate::{ContainerOptions, RuntimeError};
use oci_spec::runtime::{
    Capability, LinuxCapabilitiesBuilder, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup,
    LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxPidsBuilder, PosixRlimit, PosixRlimitBuilder,
    PosixRlimitType, Spec,
};
use std::collections::HashSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

fn err(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Spec(e.to_string())
}

/// Every capability oci-spec knows (for `ALL` and privileged mode).
fn all_caps() -> HashSet<Capability> {
    // Capability has no iterator: its serde names are tried one by one.
    const NAMES: &[&str] = orc_spec::LINUX_CAPABILITIES;
    // NAMES is in Linux's numbering; only the capabilities in this process's bounding
    // set (what the kernel knows, less what the host withholds) can be granted.
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .filter_map(|(_, n)| capability(&format!("CAP_{n}")).ok())
        .collect()
}

fn capability(name: &str) -> Result<Capability, RuntimeError> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| err(format!("unknown capability {name}")))
}

/// The capability set: Docker's default, all when privileged, then drops and adds
/// (`ALL` in cap_drop starts from none).
pub(crate) fn capabilities(o: &ContainerOptions) -> Result<HashSet<Capability>, RuntimeError> {
    if o.privileged {
        return Ok(all_caps());
    }
    let mut caps = default_caps();
    for c in &o.cap_drop {
        if c == "ALL" {
            caps.clear();
        } else {
            caps.remove(&capability(c)?);
        }
    }
    for c in &o.cap_add {
        if c == "ALL" {
            caps.extend(all_caps());
        } else {
            caps.insert(capability(c)?);
        }
    }
    Ok(caps)
}

/// Linux's (major, minor) of a device number.
fn major_minor(dev: u64) -> (i64, i64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as i64, minor as i64)
}

/// The device nodes at `source` (a device, or a directory searched recursively),
/// each placed under `target`.
fn device_nodes(
    source: &Path,
    target: &str,
    out: &mut Vec<LinuxDevice>,
) -> Result<(), RuntimeError> {
    let meta =
        std::fs::metadata(source).map_err(|e| err(format!("device {}: {e}", source.display())))?;
    let ft = meta.file_type();
    if ft.is_dir() {
        let entries = std::fs::read_dir(source)
            .map_err(|e| err(format!("device {}: {e}", source.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_link = entry.file_type().map(|t| t.is_symlink()).unwrap_or(true);
            if is_link {
                continue;
            }
            device_nodes(
                &entry.path(),
                &format!("{}/{name}", target.trim_end_matches('/')),
                out,
            )?;
        }
        return Ok(());
    }
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return Err(err(format!("{} is not a device", source.display())));
    };
    let (major, minor) = major_minor(meta.rdev());
    out.push(
        LinuxDeviceBuilder::default()
            .path(target)
            .typ(typ)
            .major(major)
            .minor(minor)
            .file_mode(meta.mode() & 0o7777)
            .uid(meta.uid())
            .gid(meta.gid())
            .build()
            .map_err(err)?,
    );
    Ok(())
}

/// Every device node of the host's /dev (privileged mode), without pts/shm/mqueue.
fn host_devices(out: &mut Vec<LinuxDevice>) {
    fn walk(dir: &Path, out: &mut Vec<LinuxDevice>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_symlink() {
                continue;
            }
            if ft.is_dir() {
                let skip = ["/dev/pts", "/dev/shm", "/dev/mqueue"];
                if !skip.iter().any(|s| path == Path::new(s)) {
                    walk(&path, out);
                }
                continue;
            }
            if ft.is_char_device() || ft.is_block_device() {
                let target = path.display().to_string();
                if target == "/dev/console" {
                    continue;
                }
                let _ = device_nodes(&path, &target, out);
            }
        }
    }
    walk(Path::new("/dev"), out);
}

fn rlimit(name: &str) -> Result<PosixRlimitType, RuntimeError> {
    let full = format!("RLIMIT_{}", name.to_ascii_uppercase());
    serde_json::from_value(serde_json::Value::String(full))
        .map_err(|_| err(format!("unknown ulimit {name}")))
}

/// Applies `o` to a built spec.
pub(crate) fn apply(spec: &mut Spec, o: &ContainerOptions) -> Result<(), RuntimeError> {
    let caps = capabilities(o)?;
    if let Some(process) = spec.process_mut() {
        let set = LinuxCapabilitiesBuilder::default()
            .bounding(caps.clone())
            .effective(caps.clone())
            .permitted(caps)
            .build()
            .map_err(err)?;
        process.set_capabilities(Some(set));
        let mut rlimits: Vec<PosixRlimit> = Vec::new();
        for (name, soft, hard) in &o.ulimits {
            rlimits.push(
                PosixRlimitBuilder::default()
                    .typ(rlimit(name)?)
                    .soft(*soft)
                    .hard(*hard)
                    .build()
                    .map_err(err)?,
            );
        }
        process.set_rlimits(Some(rlimits));
    }
    if o.read_only {
        if let Some(root) = spec.root_mut() {
            root.set_readonly(Some(true));
        }
    }
    if o.shm_size_bytes > 0 {
        if let Some(mounts) = spec.mounts_mut() {
            for m in mounts.iter_mut() {
                if m.destination() == Path::new("/dev/shm") {
                    let opts: Vec<String> = ["nosuid", "noexec", "nodev", "mode=1777"]
                        .iter()
                        .map(|s| s.to_string())
                        .chain([format!("size={}k", o.shm_size_bytes.div_ceil(1024))])
                        .collect();
                    m.set_options(Some(opts));
                }
            }
        }
    }
    let mut devices = Vec::new();
    for d in &o.devices {
        device_nodes(&d.source, &d.target, &mut devices)?;
    }
    let mut rules: Vec<LinuxDeviceCgroup> = Vec::new();
    for (d, cfg) in devices.iter().zip(device_permissions(o, &devices)) {
        let mut rule = LinuxDeviceCgroup::from(d);
        rule.set_access(Some(cfg));
        rules.push(rule);
    }
    if o.privileged {
        host_devices(&mut devices);
        rules.push(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .access("rwm")
                .build()
                .map_err(err)?,
        );
    }
    if let Some(linux) = spec.linux_mut() {
        if o.privileged {
            linux.set_masked_paths(Some(Vec::new()));
            linux.set_readonly_paths(Some(Vec::new()));
        }
        if !o.sysctls.is_empty() {
            linux.set_sysctl(Some(o.sysctls.clone()));
        }
        if !devices.is_empty() {
            linux.set_devices(Some(devices));
        }
        if let Some(resources) = linux.resources_mut() {
            if !rules.is_empty() {
                let mut all = resources.devices().clone().unwrap_or_default();
                all.extend(rules);
                resources.set_devices(Some(all));
            }
            if o.pids_limit > 0 {
                resources.set_pids(Some(
                    LinuxPidsBuilder::default()
                        .limit(i64::from(o.pids_limit))
                        .build()
                        .map_err(err)?,
                ));
            }
        }
    }
    if o.privileged {
        // Docker mounts /sys read-write for privileged containers.
        if let Some(mounts) = spec.mounts_mut() {
            for m in mounts.iter_mut() {
                if m.destination() == Path::new("/sys")
                    || m.destination() == Path::new("/sys/fs/cgroup")
                {
                    let opts: Vec<String> = m
                        .options()
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|o| o != "ro")
                        .collect();
                    m.set_options(Some(opts));
                }
            }
        }
    }
    Ok(())
}

/// The cgroup access of each device node: that of the configured device it came from.
fn device_permissions(o: &ContainerOptions, devices: &[LinuxDevice]) -> Vec<String> {
    devices
        .iter()
        .map(|d| {
            let path = d.path().display().to_string();
            o.devices
                .iter()
                .filter(|c| {
                    path == c.target
                        || path.starts_with(&format!("{}/", c.target.trim_end_matches('/')))
                })
                .map(|c| c.permissions.clone())
                .next()
                .unwrap_or_else(|| "rwm".into())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_add_and_drop() {
        let o = ContainerOptions {
            cap_add: vec!["CAP_NET_ADMIN".into()],
            cap_drop: vec!["CAP_CHOWN".into()],
            ..Default::default()
        };
        let caps = capabilities(&o).unwrap();
        assert!(caps.contains(&Capability::NetAdmin));
        assert!(!caps.contains(&Capability::Chown));
        assert!(caps.contains(&Capability::Kill));
        let none = ContainerOptions {
            cap_drop: vec!["ALL".into()],
            cap_add: vec!["CAP_KILL".into()],
            ..Default::default()
        };
        assert_eq!(
            capabilities(&none).unwrap(),
            HashSet::from([Capability::Kill])
        );
        let all = ContainerOptions {
            privileged: true,
            ..Default::default()
        };
        assert!(capabilities(&all).unwrap().contains(&Capability::SysAdmin));
        assert!(capabilities(&ContainerOptions {
            cap_add: vec!["CAP_NOPE".into()],
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn device_numbers() {
        // /dev/null is 1:3 on Linux.
        let mut out = Vec::new();
        device_nodes(Path::new("/dev/null"), "/dev/mynull", &mut out).unwrap();
        assert_eq!((out[0].major(), out[0].minor()), (1, 3));
        assert_eq!(out[0].path(), Path::new("/dev/mynull"));
        assert_eq!(out[0].typ(), LinuxDeviceType::C);
        assert!(device_nodes(Path::new("/proc/self/status"), "/x", &mut out).is_err());
    }
}
