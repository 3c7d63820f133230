//! orc-testbed: the end-to-end harness. Real parts only: private containerd
//! instances ([`Containerd`]), the busybox test image ([`busybox_image`]), the built
//! `orc` binary ([`orc_binary`]) and daemons on it ([`orc_node::OrcNode`]), simulated
//! LANs of hosts in network namespaces ([`Lan`]), and polling with deadlines
//! ([`poll_until`]) instead of sleeps.

pub mod ceph;
mod cleanup;
pub use cleanup::processes;
mod containerd;
mod image;
mod local_addr;
mod multi_arch;
pub mod netns;
pub mod orc_node;
mod registry;
pub mod solo_netns;

pub use ceph::Ceph;
pub use containerd::Containerd;
pub use image::{
    busybox_image, busybox_image_with_healthcheck, debian_image, image_cache_dir, repo_root,
    target_dir, ImageFormat, BUSYBOX_IMAGE,
};
pub use local_addr::LocalAddress;
pub use multi_arch::{multi_arch_layout, MULTI_ARCH_REF};
pub use netns::{Host, Lan};
pub use registry::Registry;
pub use solo_netns::SoloNetns;

use anyhow::{bail, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Interval between polls.
const POLL: Duration = Duration::from_millis(25);

/// Calls `f` until it returns `Some`, for at most `deadline`; the error names `what`.
pub fn poll_until<T>(
    deadline: Duration,
    what: &str,
    mut f: impl FnMut() -> Option<T>,
) -> Result<T> {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() >= end {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(POLL);
    }
}

/// The built `orc` binary: `$ORC_BIN`, else `orc` in the test executable's profile
/// dir (target/PROFILE/orc).
pub fn orc_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORC_BIN") {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("ORC_BIN={} does not exist", p.display());
        }
        return Ok(p);
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe.parent().and_then(|d| d.parent());
    match profile_dir.map(|d| d.join("orc")) {
        Some(p) if p.is_file() => Ok(p),
        Some(p) => bail!("the orc binary is not built ({} missing): run `cargo build -p orc` first or set ORC_BIN", p.display()),
        None => bail!("cannot locate the target dir from {}", exe.display()),
    }
}

/// An id unique across the tests running on this machine (containerd and runc
/// state are shared by every containerd): `PREFIX-PID-COUNTER-NANOS` (hex).
pub fn unique_id(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "{prefix}-{:x}-{:x}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
