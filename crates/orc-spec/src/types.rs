//! The normalised, validated form of a stack. This is what the cluster stores (in Raft,
//! encoded with bincode), so: plain structs and enums only (no `untagged`, `flatten` or
//! `skip_serializing_if`), durations in milliseconds, sizes in bytes, CPUs in nano-CPUs.
//! Adding a field is a format change: bump `orc_model::FORMAT_VERSION`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole stack as deployed: its name and its services keyed by short name ("web").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackSpec {
    pub name: String,
    pub services: BTreeMap<String, ServiceSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Image reference as written ("demo/busybox:1").
    pub image: String,
    /// Overrides the image's entrypoint when set.
    pub entrypoint: Option<Vec<String>>,
    /// Overrides the image's cmd when set.
    pub command: Option<Vec<String>>,
    pub mode: ServiceMode,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub constraints: Vec<Constraint>,
    pub resources: Resources,
    pub restart: RestartPolicy,
    pub stop: StopPolicy,
    /// "uid", "uid:gid" or a name resolved in the image's /etc/passwd.
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    pub mounts: Vec<Mount>,
    pub network_mode: NetworkMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceMode {
    Replicated { replicas: u32 },
    Global,
}

/// `node.labels.disk == ssd`, `node.role != manager`, `node.hostname == rock1`, `node.id == …`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    pub key: ConstraintKey,
    pub op: ConstraintOp,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConstraintKey {
    NodeId,
    NodeHostname,
    NodeRole,
    NodeLabel(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConstraintOp {
    Eq,
    Ne,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub limits: ResourceSet,
    pub reservations: ResourceSet,
}

/// Zero means "not set".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSet {
    pub nano_cpus: u64,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartCondition {
    Any,
    OnFailure,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    pub condition: RestartCondition,
    pub delay_ms: u64,
    /// None = unlimited.
    pub max_attempts: Option<u32>,
    /// 0 = attempts are counted over the service's whole life.
    pub window_ms: u64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            condition: RestartCondition::Any,
            delay_ms: 5_000,
            max_attempts: None,
            window_ms: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopPolicy {
    /// Signal number (15 for SIGTERM).
    pub signal: i32,
    pub grace_period_ms: u64,
}

impl Default for StopPolicy {
    fn default() -> Self {
        StopPolicy {
            signal: 15,
            grace_period_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mount {
    Bind {
        source: String,
        target: String,
        read_only: bool,
    },
    Tmpfs {
        target: String,
        /// 0 = kernel default.
        size_bytes: u64,
        /// Octal permission bits, e.g. 0o1777.
        mode: Option<u32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    Host,
}
