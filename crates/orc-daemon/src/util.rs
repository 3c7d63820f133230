//! Small facts about the host and time; the only place that reads clocks or randomness.

use orc_model::{NodeResources, Platform, Timestamp};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A fresh random hex id of 12 bytes (24 characters): task and service ids.
pub fn random_id() -> String {
    let mut b = [0u8; 12];
    fill_random(&mut b);
    orc_model::new_id(&b)
}

pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    fill_random(&mut b);
    u64::from_le_bytes(b) | 1
}

fn fill_random(b: &mut [u8]) {
    if getrandom::fill(b).is_err() {
        // No OS randomness is a broken host; fall back to time + pid mixing so ids stay
        // unique on this node rather than refusing to work.
        let seed = (now_ms() as u128) << 32 | std::process::id() as u128;
        for (i, x) in b.iter_mut().enumerate() {
            *x = (seed.rotate_left(i as u32 * 7) as u8) ^ (i as u8);
        }
    }
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

pub fn host_resources() -> NodeResources {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                })
        })
        .unwrap_or(0)
        * 1024;
    NodeResources {
        nano_cpus: cpus * 1_000_000_000,
        memory_bytes: mem,
    }
}

pub fn host_platform() -> Platform {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        "arm" => "arm",
        other => other,
    };
    let variant = match arch {
        "arm64" => "v8",
        "arm" => "v7",
        _ => "",
    };
    Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: variant.into(),
    }
}

/// A ready, active node record for unit tests.
#[cfg(test)]
pub(crate) fn test_node(id: u64, role: orc_model::NodeRole, address: &str) -> orc_model::Node {
    orc_model::Node {
        id,
        hostname: "b".into(),
        role,
        availability: orc_model::Availability::Active,
        status: orc_model::NodeStatus::Ready,
        status_message: String::new(),
        address: address.into(),
        resources: NodeResources {
            nano_cpus: 1,
            memory_bytes: 1,
        },
        labels: Default::default(),
        platform: Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: String::new(),
        },
        created_at: 1,
        updated_at: 1,
    }
}

/// Sets a file's permission bits.
pub(crate) fn set_mode(path: &std::path::Path, mode: u32) -> Result<(), crate::DaemonError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| crate::DaemonError::io(path, e))
}

/// A node id as orc shows it: 16 hex digits.
pub fn node_id_str(id: orc_model::NodeId) -> String {
    format!("{id:016x}")
}

/// Listens on a fresh unix socket at `path` (its directory made, a stale socket file
/// replaced) with permission bits `mode`.
pub fn bind_unix(
    path: &std::path::Path,
    mode: u32,
) -> Result<tokio::net::UnixListener, crate::DaemonError> {
    use crate::DaemonError;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DaemonError::io(parent, e))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(DaemonError::io(path, e)),
    }
    let l = tokio::net::UnixListener::bind(path).map_err(|e| DaemonError::io(path, e))?;
    set_mode(path, mode)?;
    Ok(l)
}
