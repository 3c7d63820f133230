//! The orc daemon. [`Daemon`] is the composition root: it opens the Raft store, runs the
//! leader-only manager loop (orchestrator + scheduler), the agent that drives containerd
//! for this node's tasks, and the API server the CLI talks to.

mod agent;
mod api;
mod cluster;
mod config;
mod daemon;
mod error;
mod fencing;
mod identity;
mod manager;
mod membership;
mod net;
mod quorum;
mod security;
mod util;
mod views;
mod vip;
mod volumes;
mod writer;

pub use config::DaemonConfig;
pub use daemon::Daemon;
pub use error::DaemonError;
