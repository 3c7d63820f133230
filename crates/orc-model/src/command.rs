use crate::{
    ApplyError, Availability, Node, NodeId, NodeStatus, ServiceId, Task, TaskId, TaskState,
    TaskStatus, Timestamp,
};
use orc_spec::ServiceSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A service as a deploy proposes it. `id` is used only if the service is new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewService {
    pub id: ServiceId,
    pub short_name: String,
    pub spec: ServiceSpec,
}

/// Every change to cluster state. Proposers fill in ids and times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Does nothing; used to check the leader can commit.
    Noop,
    InitCluster {
        id: String,
        at: Timestamp,
    },
    /// The CA certificate and the salts of the join secrets (set at init).
    SetClusterSecurity {
        ca_cert_pem: String,
        worker_token_salt: String,
        manager_token_salt: String,
    },
    /// Replaces one role's join secret salt (`orc cluster join-token --rotate`).
    RotateJoinToken {
        role: crate::NodeRole,
        salt: String,
    },
    SetNodeRole {
        id: NodeId,
        role: crate::NodeRole,
        at: Timestamp,
    },
    /// Adds a node or replaces its record.
    PutNode(Node),
    /// Removes the node and revokes its certificate.
    RemoveNode {
        id: NodeId,
    },
    SetNodeStatus {
        id: NodeId,
        status: NodeStatus,
        message: String,
        at: Timestamp,
    },
    SetNodeAvailability {
        id: NodeId,
        availability: Availability,
        at: Timestamp,
    },
    SetNodeLabels {
        id: NodeId,
        labels: BTreeMap<String, String>,
        at: Timestamp,
    },
    /// Makes the stack's services exactly `services`: creates, updates (version + 1 when
    /// the spec differs) and removes services of that stack not listed.
    DeployStack {
        stack: String,
        services: Vec<NewService>,
        at: Timestamp,
    },
    /// Removes every service of the stack; their tasks are then shut down and removed by
    /// the orchestrator.
    RemoveStack {
        stack: String,
    },
    /// Sets a replicated service's replica count (by service name).
    ScaleService {
        name: String,
        replicas: u32,
        at: Timestamp,
    },
    /// Adds tasks (the orchestrator's output). Existing ids are left alone.
    CreateTasks(Vec<Task>),
    /// Places tasks (the scheduler's output): sets the node and moves state to Assigned.
    AssignTasks {
        assignments: Vec<(TaskId, NodeId)>,
        at: Timestamp,
    },
    /// Raises desired states; a lower desired state than the task has is ignored.
    SetDesiredState {
        updates: Vec<(TaskId, TaskState)>,
    },
    /// Observed status from agents (and the scheduler's pending reasons). Applied only
    /// where the state moves forward (or stays and the message changes).
    UpdateTaskStatus {
        updates: Vec<(TaskId, TaskStatus)>,
    },
    RemoveTasks {
        ids: Vec<TaskId>,
    },
    /// Several commands in one log entry; applied in order, each on its own.
    Batch(Vec<Command>),
    /// Sets (`Some`) or removes (`None`) the cluster's virtual IP. Validated by the
    /// proposer, not here. Last, so older log entries keep their variant numbers.
    SetVip(Option<crate::VipSetting>),
    /// Stores (`Some`, sealed by the proposer) or removes (`None`) the credentials of
    /// one registry host.
    SetRegistryAuth {
        registry: String,
        sealed: Option<Vec<u8>>,
    },
    /// A node's image inventory (name → manifest digest), replacing what it reported
    /// before.
    SetNodeImages {
        node: NodeId,
        images: BTreeMap<String, String>,
    },
    /// `image` should be on `nodes` (empty = every node); added to what was wanted.
    WantImage {
        image: String,
        nodes: std::collections::BTreeSet<NodeId>,
    },
    /// `image` is no longer wanted anywhere.
    UnwantImage {
        image: String,
    },
    /// Sets the container network (once, at init) and gives every node a block.
    SetClusterNetwork(crate::ClusterNetwork),
    /// Creates the stack's volumes that don't exist yet (first deploy); an existing one
    /// declared with another driver is an error and nothing changes.
    EnsureVolumes {
        stack: String,
        volumes: Vec<(String, orc_spec::VolumeSpec)>,
        at: Timestamp,
    },
    /// Forgets a volume (its data was deleted by the proposer first).
    RemoveVolume {
        name: String,
    },
    /// Records (`Some`) or clears (`None`) where a volume is attached. A single-writer
    /// volume attached on one node cannot be attached on another.
    SetVolumeAttachment {
        name: String,
        attachment: Option<crate::Attachment>,
    },
    /// Records that `node` was fenced off `volume` at Ceph; clears its attachment there.
    FenceNode {
        volume: String,
        node: NodeId,
        at: Timestamp,
    },
    /// Sets or removes how nodes reach Ceph.
    SetCeph(Option<crate::CephSetting>),
    /// `node`, fenced off `volume`, reports it released: its stale containers stopped
    /// and the volume unmounted there.
    VolumeReleased {
        volume: String,
        node: NodeId,
    },
    /// The leader lifted `node`'s blocklist entry at Ceph: it leaves every volume's
    /// `fenced` (and `released`) set and may attach Ceph volumes again.
    Unfence {
        node: NodeId,
    },
    /// `orc cluster restore`, on the new cluster this node just made: the backed-up
    /// state's services, volumes, settings and sealed secrets (see
    /// [`ClusterState::restore_from`]); every old node is revoked and the services are
    /// held until [`Command::Resume`].
    Restore {
        from: Box<crate::ClusterState>,
        /// False when the backup's CA is not this cluster's: its sealed values (which
        /// only that CA opens) are dropped.
        keep_sealed: bool,
    },
    /// `orc cluster resume`: restored services may start.
    Resume,
    /// Creates one service (a new id and name) or replaces the spec of the service
    /// with that id (its name and stack stay), for front doors that manage services
    /// one at a time (the Docker API). With `expect_version`, an update applies only
    /// if the service's version is still that one.
    PutService {
        service: Box<NewService>,
        /// The stack the service belongs to.
        stack: String,
        /// The full name ("STACK_SERVICE", or the stack's name for a one-service stack).
        name: String,
        expect_version: Option<u64>,
        at: Timestamp,
    },
    /// Removes one service by id; its tasks are then shut down by the orchestrator.
    RemoveService {
        id: crate::ServiceId,
    },
    /// Declares a stack network on its own; declaring it again replaces its labels.
    DeclareNetwork {
        stack: String,
        short_name: String,
        labels: BTreeMap<String, String>,
        at: Timestamp,
    },
    /// Forgets a declared network; refused while a service uses it.
    RemoveNetwork {
        name: String,
    },
    /// `node` became VRRP master of the cluster's VIP (ignored without a VIP).
    SetVipHolder {
        node: NodeId,
        at: Timestamp,
    },
    /// Turns autolock on (or rotates its unlock key) or off (`None`); every manager
    /// then wraps or unwraps its own copy of the CA key.
    SetAutolock(Option<crate::AutolockSetting>),
    /// Creates a secret or config, or adds a revision (sealed by the proposer, never
    /// clear) and makes it current; with `roll`, the services using it are re-pinned
    /// to the new revision (`orc secret update`), so their tasks roll.
    PutValue {
        kind: crate::ValueKind,
        name: String,
        /// Used only if the value is new.
        id: String,
        revision: crate::SealedRevision,
        mode: crate::PutMode,
        roll: bool,
        /// The stack whose file made it, if any (used only if the value is new).
        stack: Option<String>,
        at: Timestamp,
        /// Replaces the value's labels when set (the Docker API's); kept when `None`.
        labels: Option<BTreeMap<String, String>>,
    },
    /// Removes a secret or config, refused while a service uses it.
    RemoveValue {
        kind: crate::ValueKind,
        name: String,
    },
    /// The updater's verdict on a service's rollout: recorded only if the service is
    /// still at `status.version` (a newer spec makes it stale).
    SetUpdateStatus {
        id: crate::ServiceId,
        status: crate::UpdateStatus,
    },
    /// Every task of `revision` passed `monitor`: it may be rolled back to.
    MarkStable {
        id: crate::ServiceId,
        revision: u64,
    },
    /// Puts back the spec of revision `to`, else of the last stable revision (the
    /// replica count stays), as a new version rolled out with `rollback_config`.
    /// With `expect_version`, only if the service is still at that version.
    RollbackService {
        id: crate::ServiceId,
        to: Option<u64>,
        expect_version: Option<u64>,
        /// Why (shown as the rollback's message).
        reason: String,
        at: Timestamp,
    },
    /// `orc service update --force`: a new version with the same spec whose rollout
    /// replaces every task.
    ForceUpdate {
        id: crate::ServiceId,
        at: Timestamp,
    },
    /// Applies `then` only if `guard`'s object is still at change index `index`
    /// (the one its writer read), else answers out of sequence and changes nothing:
    /// the Docker API's `?version=` on service, node, secret and config updates.
    Guarded {
        guard: crate::Guard,
        index: u64,
        then: Box<Command>,
    },
    /// Replaces a secret's or config's labels (no new revision: nothing rolls).
    SetValueLabels {
        kind: crate::ValueKind,
        name: String,
        labels: BTreeMap<String, String>,
        at: Timestamp,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployOutcome {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
}

/// What applying one command answered. Errors are part of the replicated result
/// (every replica reaches the same one), never a reason to stop applying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    Ok,
    Deployed(DeployOutcome),
    Batch(Vec<CommandResult>),
    Err(ApplyError),
}

impl CommandResult {
    /// The first error in this result (looking inside batches).
    pub fn error(&self) -> Option<&ApplyError> {
        match self {
            CommandResult::Err(e) => Some(e),
            CommandResult::Batch(v) => v.iter().find_map(|r| r.error()),
            _ => None,
        }
    }
}
