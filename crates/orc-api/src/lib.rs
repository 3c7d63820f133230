//! The CLI ↔ daemon protocol. One request per connection, written as one JSON line;
//! the daemon answers with any number of [`Reply::Progress`] / [`Reply::Log`] lines and
//! ends with exactly one [`Reply::Done`] or [`Reply::Error`].
//!
//! JSON rather than a binary format: it is the same shape `--json` prints, it can be
//! spoken with `socat` when debugging a board, and the socket never leaves the machine.

mod client;
mod rows;

pub use client::{Client, ClientError};
pub use rows::*;

use orc_spec::StackSpec;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Default path of the daemon's socket.
pub const DEFAULT_SOCKET: &str = "/run/orc/orc.sock";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Daemon and cluster facts.
    Info,
    ClusterInit {
        advertise: Option<String>,
        /// The container subnet (`--subnet`); default 10.201.0.0/16.
        #[serde(default)]
        subnet: Option<String>,
        /// `host-gw` (default) or `vxlan`.
        #[serde(default)]
        network_driver: Option<String>,
    },
    ClusterJoin {
        token: String,
        /// A manager's cluster address ("10.0.0.11:4747").
        address: String,
        advertise: Option<String>,
    },
    /// Prints (and with `rotate`, first replaces) the join token of a role.
    JoinToken {
        role: String,
        rotate: bool,
    },
    NodeUpdate {
        node: String,
        availability: Option<String>,
        label_add: Vec<String>,
        label_rm: Vec<String>,
    },
    NodeRm {
        node: String,
        force: bool,
    },
    ImageLoad {
        path: PathBuf,
        /// Also have every node of the cluster fetch it (from this node).
        #[serde(default)]
        distribute: bool,
    },
    ImageLs,
    ImageRm {
        reference: String,
    },
    StackDeploy {
        stack: StackSpec,
        /// Return once the change is committed instead of waiting for convergence.
        detach: bool,
        /// Seconds to wait for convergence.
        timeout_secs: u64,
        /// Keep image tags as written instead of pinning them to their current digest.
        #[serde(default)]
        no_resolve: bool,
        /// The values of the stack's secrets and configs that come from its files
        /// (read by the CLI; sealed by the daemon before anything is stored).
        #[serde(default)]
        values: Vec<StackValue>,
    },
    StackLs,
    StackRm {
        name: String,
        detach: bool,
        timeout_secs: u64,
        /// Also delete the stack's volumes and their data.
        #[serde(default)]
        volumes: bool,
    },
    ServiceLs {
        stack: Option<String>,
    },
    ServicePs {
        name: String,
        /// Include tasks that ended.
        all: bool,
    },
    ServiceScale {
        name: String,
        replicas: u32,
        detach: bool,
        timeout_secs: u64,
    },
    ServiceLogs {
        name: String,
        follow: bool,
        tail: Option<usize>,
        /// Only lines from this time on (ms since the epoch).
        #[serde(default)]
        since_ms: Option<u64>,
    },
    NodeLs,
    /// Sets the cluster's virtual IP (`orc vip set`).
    VipSet {
        /// "192.168.1.100/24".
        address: String,
        interface: String,
        vrid: u8,
        advert_interval_ms: u64,
    },
    /// Removes the cluster's virtual IP.
    VipUnset,
    /// The VIP setting and this manager's VRRP state and counters.
    VipStatus,
    /// Makes a worker a manager (a Raft voter).
    NodePromote {
        node: String,
    },
    /// Makes a manager a worker; refused if it would lose quorum, unless `force`.
    NodeDemote {
        node: String,
        force: bool,
    },
    /// This node leaves the cluster; a manager whose leaving would lose quorum is
    /// refused unless `force`.
    ClusterLeave {
        force: bool,
    },
    /// Writes a backup of the cluster state to `path` (on this node); with a
    /// passphrase the CA key is in it too, sealed under it.
    ClusterBackup {
        path: PathBuf,
        passphrase: Option<Secret>,
    },
    /// This manager's scheduled backups.
    BackupLs,
    /// Checks a backup file (and that the passphrase opens its CA key, if given).
    BackupVerify {
        path: PathBuf,
        passphrase: Option<Secret>,
    },
    /// Makes a new cluster on this node from a backup, services held.
    ClusterRestore {
        path: PathBuf,
        advertise: Option<String>,
        passphrase: Option<Secret>,
    },
    /// Lets a restored cluster's services start.
    ClusterResume,
    /// Makes this manager the single voter when the majority is gone for good.
    ClusterRecover {
        force_new_cluster: bool,
    },
    /// Pulls an image from its registry into this node's containerd.
    ImagePull {
        reference: String,
        /// `os/arch[/variant]`; default: this node's.
        platform: Option<String>,
        /// Pull on that node (hostname or id) instead of this one.
        #[serde(default)]
        node: Option<String>,
    },
    /// Stores credentials for a registry host in the cluster state (sealed).
    RegistryLogin {
        registry: String,
        username: String,
        password: Secret,
    },
    /// Removes a registry host's stored credentials.
    RegistryLogout {
        registry: String,
    },
    /// Removes this node's images that no service uses, no container was created
    /// from, and `keep` does not name.
    ImagePrune {
        keep: Vec<String>,
    },
    /// Every volume with its driver and attachment.
    VolumeLs,
    /// One volume in full (spec, attachment, fenced nodes).
    VolumeInspect {
        name: String,
    },
    /// Deletes a volume and its data; refused while a task uses it.
    VolumeRm {
        name: String,
    },
    /// Sets how nodes reach Ceph. The keyring is a secret: sent over the root-only
    /// socket, stored in Raft, never echoed back.
    CephSet {
        /// ceph.conf's text.
        conf: String,
        /// The keyring's text.
        keyring: String,
        /// The Ceph user, without `client.`.
        user: String,
    },
    /// The cluster's changes as this manager applied them (`orc events`): the kept
    /// ones from `since` (ms since the epoch), then, unless `until` is given, new
    /// ones as they are committed, each a [`Reply::Event`].
    Events {
        #[serde(default)]
        since: Option<u64>,
        #[serde(default)]
        until: Option<u64>,
        /// `KEY=VALUE` filters (type, action, name, id, node).
        #[serde(default)]
        filter: Vec<String>,
    },
    /// Every running task's resource use, each node reporting its own (`orc stats`):
    /// counters sampled twice `interval_ms` apart for the CPU share.
    Stats {
        /// Services to show (all when empty).
        #[serde(default)]
        services: Vec<String>,
        #[serde(default)]
        interval_ms: Option<u64>,
    },
    /// Turns autolock on (the reply carries the new unlock key) or off.
    Autolock {
        enable: bool,
    },
    /// Shows (or with `rotate`, first replaces) the unlock key.
    UnlockKey {
        rotate: bool,
    },
    /// Opens this locked manager's CA key with the unlock key.
    ClusterUnlock {
        key: Secret,
    },
    /// One service in full: spec and live tasks with their health (`orc service
    /// inspect`).
    ServiceInspect {
        name: String,
    },
    /// `orc service update`: changes to one service's spec, rolled out per its
    /// update_config; waits (unless `detach`) until the rollout ended.
    ServiceUpdate {
        name: String,
        #[serde(default)]
        change: ServiceChange,
        detach: bool,
        timeout_secs: u64,
    },
    /// `orc service rollback`: back to revision `to`, else the last stable one.
    ServiceRollback {
        name: String,
        to: Option<u64>,
        detach: bool,
        timeout_secs: u64,
    },
    /// The service's revisions.
    ServiceHistory {
        name: String,
    },
    /// Removes one service; waits (unless `detach`) until its tasks are gone.
    ServiceRm {
        name: String,
        detach: bool,
        timeout_secs: u64,
    },
    /// `orc secret|config create NAME`: a new value (sealed before it is stored).
    ValueCreate {
        /// "secret" or "config".
        kind: String,
        name: String,
        value: orc_spec::ClearValue,
    },
    /// `orc secret|config update NAME`: a new revision; services using it roll.
    ValueUpdate {
        kind: String,
        name: String,
        value: orc_spec::ClearValue,
    },
    /// Every secret (or config), never with its value.
    ValueLs {
        kind: String,
    },
    /// One secret or config; a config's value only with `with_value`.
    ValueInspect {
        kind: String,
        name: String,
        #[serde(default)]
        with_value: bool,
    },
    /// Removes a secret or config; refused while a service uses it.
    ValueRm {
        kind: String,
        name: String,
    },
}

/// A stack's secret or config value read from the deploying machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackValue {
    /// "secret" or "config".
    pub kind: String,
    /// Its key in the stack (`[secrets.KEY]`).
    pub key: String,
    pub value: orc_spec::ClearValue,
}

/// A password on the wire: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// A step of long work ("web: 1/2 running").
    Progress { message: String },
    /// One log line of a task: when orc's log driver read it (ns since the epoch;
    /// absent for lines stored before it stamped them) and whether it came from
    /// standard error.
    Log {
        task: String,
        line: String,
        #[serde(default)]
        time_ns: Option<u64>,
        #[serde(default)]
        stderr: bool,
    },
    /// One cluster event (`orc events`), as orc-metrics' `Event` serialises.
    Event { event: serde_json::Value },
    /// The end: the command's result (a row list, or an object).
    Done { value: serde_json::Value },
    /// The end: the command failed; nothing more follows.
    Error { message: String },
}

/// What `orc service update` changes (unset = unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceChange {
    pub image: Option<String>,
    /// KEY=VALUE
    #[serde(default)]
    pub env_add: Vec<String>,
    /// KEY
    #[serde(default)]
    pub env_rm: Vec<String>,
    pub replicas: Option<u32>,
    /// Replace every task even if nothing else changed.
    #[serde(default)]
    pub force: bool,
    /// KEY=VALUE
    #[serde(default)]
    pub label_add: Vec<String>,
    /// KEY
    #[serde(default)]
    pub label_rm: Vec<String>,
}
