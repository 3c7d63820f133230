use crate::{NodeId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    pub hostname: String,
    pub role: NodeRole,
    pub availability: Availability,
    pub status: NodeStatus,
    pub status_message: String,
    /// Address other nodes reach this node's cluster port on ("10.0.0.11:4747").
    pub address: String,
    pub resources: NodeResources,
    pub labels: BTreeMap<String, String>,
    pub platform: Platform,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NodeRole {
    Manager,
    Worker,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Manager => "manager",
            NodeRole::Worker => "worker",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Availability {
    Active,
    Pause,
    Drain,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Active => "active",
            Availability::Pause => "pause",
            Availability::Drain => "drain",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeStatus {
    Unknown,
    Ready,
    Down,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Unknown => "unknown",
            NodeStatus::Ready => "ready",
            NodeStatus::Down => "down",
        }
    }
}

/// What a node offers to reservations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeResources {
    pub nano_cpus: u64,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// "linux"
    pub os: String,
    /// OCI architecture name: "arm64", "amd64", "arm".
    pub architecture: String,
    /// "v7", "v8" or empty.
    pub variant: String,
}

/// A ready, active node record named `rock<ID>` for unit tests.
#[cfg(test)]
pub(crate) fn test_node(id: u64, role: NodeRole, address: &str) -> Node {
    Node {
        id,
        hostname: format!("rock{id}"),
        role,
        availability: Availability::Active,
        status: NodeStatus::Ready,
        status_message: String::new(),
        address: address.into(),
        resources: Default::default(),
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
