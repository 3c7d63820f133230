use crate::{Node, NodeId, ServiceId, Task, TaskId, Timestamp};
use orc_spec::ServiceSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub id: String,
    pub created_at: Timestamp,
    /// The cluster CA's certificate (public); nodes pin its fingerprint.
    pub ca_cert_pem: String,
    /// Public salts of the current join secrets: a secret is derived from the CA key
    /// (which only managers hold, never in Raft) and its salt, so no secret is stored
    /// anywhere and rotating is choosing a new salt.
    pub worker_token_salt: String,
    pub manager_token_salt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub id: ServiceId,
    /// "STACK_SERVICE": unique in the cluster.
    pub name: String,
    pub stack: String,
    pub short_name: String,
    pub spec: ServiceSpec,
    /// Bumped on every spec change; tasks record the version they were made from.
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Its revisions and the state of its update or rollback. Last.
    pub rollout: crate::ServiceRollout,
}

/// Everything the managers replicate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub cluster: Option<ClusterInfo>,
    pub nodes: BTreeMap<NodeId, Node>,
    pub services: BTreeMap<ServiceId, Service>,
    pub tasks: BTreeMap<TaskId, Task>,
    /// Nodes removed from the cluster: their certificates are refused from then on.
    pub revoked_nodes: std::collections::BTreeSet<NodeId>,
    /// The Raft log index of the last entry that changed something (a count of the
    /// changes in states written before model format 5): watchers compare it, and it
    /// is the cluster's `Version.Index`.
    pub revision: u64,
    /// The cluster's virtual IP (`orc vip set`), held by one manager at a time. Last,
    /// so snapshots written before it existed still decode (see `decode_state`).
    #[serde(default)]
    pub vip: Option<VipSetting>,
    /// Registry credentials by registry host (`orc registry login`), each sealed
    /// (encrypted and authenticated) with a key only managers can derive; never clear.
    #[serde(default)]
    pub registry_auth: BTreeMap<String, Vec<u8>>,
    /// The images each node reported holding: image name → manifest digest.
    #[serde(default)]
    pub node_images: BTreeMap<NodeId, BTreeMap<String, String>>,
    /// Images nodes should fetch (from a peer or the registry) without waiting for a
    /// task: image name → the nodes (empty = every node). `image load --distribute`,
    /// `image pull --node`.
    #[serde(default)]
    pub image_wants: BTreeMap<String, std::collections::BTreeSet<NodeId>>,
    /// The container network (subnet, driver, each node's block); set at init.
    #[serde(default)]
    pub network: Option<crate::ClusterNetwork>,
    /// Volumes and the Ceph setting. Last, like `vip` (see `decode_state`).
    #[serde(default)]
    pub storage: crate::Storage,
    /// Set by a restore: services keep their desired replicas but nothing starts until
    /// `orc cluster resume` (old boards may still be running them). Last (see
    /// `decode_state`).
    #[serde(default)]
    pub held: bool,
    /// Stack networks declared on their own (`docker network create`), by full name
    /// ("STACK_NET"). Removed with their stack.
    #[serde(default)]
    pub declared_networks: BTreeMap<String, crate::DeclaredNetwork>,
    /// The manager holding the VIP, as it reported on becoming VRRP master (so every
    /// manager's events and metrics see the VIP move). Cleared when the VIP setting
    /// changes.
    #[serde(default)]
    pub vip_holder: Option<VipHolder>,
    /// Autolock (`orc cluster autolock enable`): every manager keeps the CA key on its
    /// disk only wrapped under the unlock key, which is here only sealed under the CA
    /// key itself. `None`: off. Last (see `decode_state`).
    #[serde(default)]
    pub autolock: Option<AutolockSetting>,
    /// Secrets and configs, every revision sealed by its proposer (never clear). Last
    /// (see `decode_state`).
    #[serde(default)]
    pub values: crate::Values,
    /// Each object's change index (Docker's `Version.Index`, and what a
    /// [`crate::Command::Guarded`] write checks). Last (see `decode_state`).
    #[serde(default)]
    pub versions: crate::Versions,
}

/// Who holds the VIP, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipHolder {
    pub node: NodeId,
    pub since: Timestamp,
}

impl ClusterState {
    /// The images `node` should hold (see [`ClusterState::image_wants`]).
    pub fn images_wanted_on(&self, node: NodeId) -> impl Iterator<Item = &str> {
        self.image_wants
            .iter()
            .filter(move |(_, nodes)| nodes.is_empty() || nodes.contains(&node))
            .map(|(name, _)| name.as_str())
    }
}

/// The cluster's autolock: which unlock key managers wrap the CA key under.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutolockSetting {
    /// Names the current unlock key (random, public): a manager whose wrapped key file
    /// carries another id wraps it again under this one (after a rotation).
    pub key_id: String,
    /// The unlock key, sealed (nonce ‖ ciphertext ‖ tag) under a key derived from the
    /// CA private key: only an unlocked manager opens it.
    pub sealed_key: Vec<u8>,
}

impl std::fmt::Debug for AutolockSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutolockSetting")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The cluster's virtual IP: a VRRPv3 virtual router every manager runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipSetting {
    /// The address with its prefix, "192.168.1.100/24".
    pub address: String,
    /// The interface every manager holds it on ("eth0").
    pub interface: String,
    /// The VRRP virtual router id, 1–255.
    pub vrid: u8,
    /// The advertisement interval in milliseconds (10 ms steps, 10–40 950).
    pub advert_interval_ms: u32,
}

impl ClusterState {
    pub fn service_by_name(&self, name: &str) -> Option<&Service> {
        self.services.values().find(|s| s.name == name)
    }

    pub fn services_in_stack<'a>(&'a self, stack: &'a str) -> impl Iterator<Item = &'a Service> {
        self.services.values().filter(move |s| s.stack == stack)
    }

    pub fn tasks_of_service<'a>(&'a self, service_id: &'a str) -> impl Iterator<Item = &'a Task> {
        self.tasks
            .values()
            .filter(move |t| t.service_id == service_id)
    }

    pub fn tasks_on_node(&self, node: NodeId) -> impl Iterator<Item = &Task> {
        self.tasks.values().filter(move |t| t.node_id == Some(node))
    }

    pub fn managers(&self) -> impl Iterator<Item = &Node> {
        self.nodes
            .values()
            .filter(|n| n.role == crate::NodeRole::Manager)
    }

    /// Stack names with at least one service, sorted.
    pub fn stacks(&self) -> Vec<String> {
        let mut v: Vec<String> = self.services.values().map(|s| s.stack.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
}
