//! Harness: a bridged LAN of network namespaces, orc VRRP instances and
//! keepalived inside them, and raw-socket packet injection.

pub mod inject;
pub mod keepalived;
pub mod netns;
pub mod orc;

use std::time::{Duration, Instant};

pub use netns::{Lan, Node};

/// Polls `cond` every 20 ms until it holds or `timeout` passes; returns the
/// time it took, or `None`.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks that `cond` holds throughout `window`, polling every 50 ms; the
/// observation window itself is what is being tested.
pub fn holds_for(window: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < window {
        if !cond() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// Whether this process may create namespaces and raw sockets.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "these tests need root (network namespaces, raw sockets)"
    );
}
