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
mod readdress;
mod registry_auth;
mod role;
mod security;
mod subnet;
mod util;
mod views;
mod vip;
mod vip_report;
mod volumes;
mod writer;
// Nodes that change address (issue #7).
mod address_policy;
mod address_watch;
mod cert_readdress;
mod manager_list;
mod member_address;

pub use agent::ImageGcConfig;
pub use config::DaemonConfig;
pub use daemon::Daemon;
pub use error::DaemonError;

/// The bridge orc puts this node's containers on.
pub const BRIDGE_NAME: &str = "orc0";
