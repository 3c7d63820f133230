//! The orc daemon, laid out by where each part runs (see docs/ARCHITECTURE.md):
//!
//! | layer | modules | runs |
//! |---|---|---|
//! | 0 foundation | `config`, `error`, `util` | everywhere |
//! | 1 transport | `net` (dialing peers, leader-following client) | every node |
//! | 2 membership | `cluster` (the Raft member, identity, PKI files, sealing, writes) | every node |
//! | 3 components | `leader` (leader-only loops), `vip` (every manager), `node` (every node: agent, volumes, session, address following) | by role |
//! | 4 operations | `ops`: the only place a user's intent becomes Raft commands, and the only place listings are built | the node a request reaches |
//! | 5 front doors | `api` (the CLI's unix socket), `rpc` (the cluster port's gRPC server), `metrics` (Prometheus `GET /metrics`), `docker` (the Docker-Engine-API-compatible socket) | the edge |
//! | 6 composition root | `daemon`: wires everything, role switches | — |
//!
//! A module imports only from layers below its own (`tests::layering` checks it), and
//! the layer-3 groups don't import each other.

// Without the Docker API, the operations only it calls are unused.
#![cfg_attr(not(feature = "docker-api"), allow(dead_code))]

mod config;
mod error;
mod util;

mod net;
mod storage;

mod cluster;

mod leader;
mod node;
mod vip;

mod ops;

mod api;
#[cfg(feature = "docker-api")]
mod docker;
mod metrics;
mod rpc;

mod daemon;

#[cfg(test)]
mod layering;

pub use config::DaemonConfig;
pub use config::ImageGcConfig;
pub use daemon::Daemon;
pub use error::DaemonError;

/// The bridge orc puts this node's containers on.
pub const BRIDGE_NAME: &str = "orc0";
