//! orc's observability core.
//!
//! - [`expo`]: the Prometheus text exposition format (0.0.4), hand-written: HELP and
//!   TYPE lines, label escaping, counters, gauges and histograms.
//! - [`node`]: the node's own figures from `/proc` and `/sys` (CPU seconds, memory,
//!   load, filesystems, thermal zones, eMMC wear, the daemon's RSS and disk writes).
//! - [`cgroup`]: a task's CPU, memory and block I/O from its cgroup (v1 or v2), found
//!   through `/proc/PID/cgroup`; [`netdev`]: its network bytes from `/proc/PID/net/dev`.
//! - [`container`]: the finer figures Docker's container stats show (CPU user/system
//!   split, pids, `memory.stat`, per-interface network counters).
//! - [`events`]: the cluster's changes derived by diffing two applied states.
//!
//! Every parser takes file contents and is pure; the readers around them are thin.

pub mod cgroup;
pub mod container;
pub mod events;
pub mod expo;
pub mod http;
pub mod netdev;
pub mod node;
pub mod render;
pub mod stats;

pub use cgroup::TaskUsage;
pub use events::{diff, Event, EventKind, EventLog};
pub use expo::{Exposition, Histogram, Kind};

/// Reading a file the kernel should provide failed, or its contents made no sense.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Parse { path: String, what: String },
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read(path: &std::path::Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}
