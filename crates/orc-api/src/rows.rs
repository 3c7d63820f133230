//! What listings return: one struct per row; `--json` prints these as an array.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRow {
    pub id: String,
    pub hostname: String,
    pub role: String,
    pub status: String,
    pub availability: String,
    pub leader: bool,
    pub address: String,
    pub nano_cpus: u64,
    pub memory_bytes: u64,
    pub labels: std::collections::BTreeMap<String, String>,
    /// The node's container block on the cluster network ("10.201.1.0/24").
    #[serde(default)]
    pub subnet: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackRow {
    pub name: String,
    pub services: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRow {
    pub id: String,
    pub name: String,
    pub stack: String,
    pub mode: String,
    /// Tasks running / tasks wanted.
    pub running: usize,
    pub desired: usize,
    pub image: String,
    pub version: u64,
    /// The update state ("updating", "paused", "rollback_completed"…), if the service
    /// was ever updated.
    #[serde(default)]
    pub update: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRow {
    pub id: String,
    /// "hello_web.1" (replicated) or "hello_web.NODEID" (global).
    pub name: String,
    pub service: String,
    pub slot: u32,
    pub node: String,
    pub desired_state: String,
    pub state: String,
    /// Seconds since the state was entered.
    pub since_secs: u64,
    pub message: String,
    pub error: Option<String>,
    pub exit_code: Option<i32>,
    /// The container's address on the cluster network.
    #[serde(default)]
    pub address: Option<String>,
    /// What the task's health check found; `None` without a check.
    #[serde(default)]
    pub health: Option<TaskHealthRow>,
}

/// A task's health (`orc service ps`, `orc service inspect`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskHealthRow {
    /// "starting", "healthy" or "unhealthy".
    pub state: String,
    /// Consecutive failed probes.
    pub failing_streak: u32,
    /// Seconds since the state was entered.
    pub since_secs: u64,
    /// The last probes, oldest first.
    pub log: Vec<ProbeRow>,
}

/// One health probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRow {
    /// When it started and ended, ms since the epoch.
    pub started_ms: u64,
    pub ended_ms: u64,
    /// 0 = passed.
    pub exit_code: i32,
    /// Its output, truncated.
    pub output: String,
}

/// `orc service inspect`: the service, its spec and its tasks with their health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInspect {
    pub service: ServiceRow,
    pub spec: orc_spec::ServiceSpec,
    pub tasks: Vec<TaskRow>,
    /// Its update or rollback (the current version's, or the last one).
    #[serde(default)]
    pub update: Option<UpdateRow>,
    /// Its revisions, newest first.
    #[serde(default)]
    pub revisions: Vec<RevisionRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRow {
    pub name: String,
    pub digest: String,
    pub size: u64,
    pub platform: String,
    /// Hostnames of the cluster's nodes that hold the image (empty outside a cluster).
    #[serde(default)]
    pub nodes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfoReply {
    pub version: String,
    pub node_id: Option<String>,
    pub cluster_id: Option<String>,
    pub leader: Option<String>,
    pub is_manager: bool,
    /// The Raft voters as this manager's log has them (node ids).
    #[serde(default)]
    pub voters: Vec<String>,
    /// On a manager: the Raft members, node id → the address Raft dials it on.
    #[serde(default)]
    pub raft_members: std::collections::BTreeMap<String, String>,
    /// On a manager: the Raft term it is in (each election raises it).
    #[serde(default)]
    pub term: Option<u64>,
    /// A restored cluster whose services wait for `orc cluster resume`.
    #[serde(default)]
    pub held: bool,
    /// This manager waits for `orc cluster unlock` (autolock) before it signs or opens
    /// anything with the CA key.
    #[serde(default)]
    pub locked: bool,
    /// Autolock is on in this cluster.
    #[serde(default)]
    pub autolock: bool,
}

/// One line of `orc volume ls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeRow {
    /// `STACK_VOLUME`.
    pub name: String,
    /// "rbd", "cephfs" or "local".
    pub driver: String,
    /// Bytes (0 = none).
    pub size: u64,
    /// The node it is attached on (or a local volume's node), if any.
    pub node: Option<String>,
    /// Milliseconds since the epoch when that attachment began.
    pub since: Option<u64>,
    /// Nodes fenced off it.
    pub fenced: Vec<String>,
    /// The stack that declared it.
    #[serde(default)]
    pub stack: String,
    /// Milliseconds since the epoch when the first deploy created it.
    #[serde(default)]
    pub created_at: u64,
}

/// One running task's resource use (`orc stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatRow {
    pub task: String,
    /// "hello_web.1" (replicated) or "hello_web.NODEID" (global).
    pub name: String,
    pub service: String,
    pub node: String,
    /// Share of one CPU over the sampling interval (200 = two CPUs busy).
    pub cpu_percent: f64,
    pub cpu_seconds: f64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: Option<u64>,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
}

/// One line of `orc secret ls` / `orc config ls` (never the value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueRow {
    pub id: String,
    pub name: String,
    /// The current revision.
    pub revision: u64,
    /// The revisions kept (the current one and those still in use).
    pub revisions: Vec<u64>,
    /// The current revision's size in bytes.
    pub size: u64,
    /// Milliseconds since the epoch.
    pub created_at: u64,
    pub updated_at: u64,
    /// The stack whose file made it, if any.
    pub stack: Option<String>,
    /// The services using it, with the revision each pins.
    pub used_by: Vec<(String, u64)>,
}

/// One revision of a service (`orc service history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionRow {
    pub revision: u64,
    /// Milliseconds since the epoch.
    pub created_at: u64,
    pub image: String,
    /// Every task of it passed `monitor`: a rollback target.
    pub stable: bool,
    /// The service runs this revision now.
    pub current: bool,
    /// "rollback to 3", "forced", or empty.
    pub note: String,
}

/// A service's update or rollback (`orc service inspect`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateRow {
    /// "updating", "paused", "completed", "rollback_started", "rollback_paused",
    /// "rollback_completed".
    pub state: String,
    pub message: String,
    /// Milliseconds since the epoch.
    pub started_at: u64,
    pub ended_at: Option<u64>,
    pub from: u64,
    pub to: u64,
}
