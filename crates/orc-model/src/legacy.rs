//! Reading what older orc versions wrote, so an upgrade keeps the cluster.
//!
//! bincode is positional: a struct that gained a field in the middle of a value (a
//! service spec inside a task, a status inside a task) cannot be read by padding the
//! end. So the shapes of the formats still readable are frozen here and converted to
//! today's types, the new fields taking their defaults:
//!
//! - format 2 (round 1): service specs end at `ports`; task statuses end at `address`;
//!   the state has no `held`; the commands end at `Unfence`.
//! - format 3: specs as today but for the secret/config references (without the
//!   pinned `name` and `revision`; dropped, see [`FileRefV3`]); statuses without
//!   `health`.
//!
//! The types are generic over the service spec, the one part that differs between the
//! two; everything that did not change since format 2 is today's type.

use crate::{
    Availability, ClusterInfo, ClusterNetwork, Node, NodeId, NodeStatus, ServiceId, Storage,
    TaskId, TaskState, Timestamp, VipSetting,
};
use orc_spec::{
    Constraint, Mount, NetworkMode, Placement, PortSpec, Resources, RestartPolicy, ServiceMode,
    StopPolicy,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A format this build can still read, with its service spec shape.
pub trait Format: Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync {
    /// Today's spec.
    fn upgrade(self) -> orc_spec::ServiceSpec;
}

/// Format 2's service spec: today's first twenty fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpecV2 {
    image: String,
    entrypoint: Option<Vec<String>>,
    command: Option<Vec<String>>,
    mode: ServiceMode,
    env: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    constraints: Vec<Constraint>,
    resources: Resources,
    restart: RestartPolicy,
    stop: StopPolicy,
    user: Option<String>,
    working_dir: Option<String>,
    hostname: Option<String>,
    mounts: Vec<Mount>,
    network_mode: NetworkMode,
    placement: Placement,
    networks: Vec<String>,
    ports: Vec<PortSpec>,
}

impl Format for SpecV2 {
    fn upgrade(self) -> orc_spec::ServiceSpec {
        orc_spec::ServiceSpec {
            image: self.image,
            entrypoint: self.entrypoint,
            command: self.command,
            mode: self.mode,
            env: self.env,
            labels: self.labels,
            constraints: self.constraints,
            resources: self.resources,
            restart: self.restart,
            stop: self.stop,
            user: self.user,
            working_dir: self.working_dir,
            hostname: self.hostname,
            mounts: self.mounts,
            network_mode: self.network_mode,
            placement: self.placement,
            networks: self.networks,
            ports: self.ports,
            ..orc_spec::ServiceSpec::new(String::new())
        }
    }
}

/// Format 3's secret/config reference. Format 3 parsed them but delivered nothing, and
/// no value existed to pin them to, so the upgrade leaves them out: the upgraded
/// service runs as it did, and its stack's next deploy (which creates the values)
/// brings them back. Keeping them unpinned would instead make replayed deploys fail
/// now that a deploy pins every reference to an existing value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRefV3 {
    source: String,
    target: String,
    uid: u32,
    gid: u32,
    mode: u32,
}

/// Format 3's service spec: format 2's and the container options, dependencies,
/// health check, update configs and secret/config references.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpecV3 {
    base: SpecV2,
    container: orc_spec::ContainerOptions,
    depends_on: Vec<orc_spec::Dependency>,
    healthcheck: Option<orc_spec::HealthCheck>,
    update_config: orc_spec::UpdateConfig,
    rollback_config: orc_spec::UpdateConfig,
    secrets: Vec<FileRefV3>,
    configs: Vec<FileRefV3>,
}

impl Format for SpecV3 {
    fn upgrade(self) -> orc_spec::ServiceSpec {
        orc_spec::ServiceSpec {
            container: self.container,
            depends_on: self.depends_on,
            healthcheck: self.healthcheck,
            update_config: self.update_config,
            rollback_config: self.rollback_config,
            secrets: Vec::new(),
            configs: Vec::new(),
            ..self.base.upgrade()
        }
    }
}

/// A task status before health checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskStatus {
    state: TaskState,
    timestamp: Timestamp,
    message: String,
    err: Option<String>,
    exit_code: Option<i32>,
    address: Option<std::net::Ipv4Addr>,
}

impl From<TaskStatus> for crate::TaskStatus {
    fn from(s: TaskStatus) -> Self {
        crate::TaskStatus {
            state: s.state,
            timestamp: s.timestamp,
            message: s.message,
            err: s.err,
            exit_code: s.exit_code,
            address: s.address,
            health: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "S: Format")]
pub struct Task<S> {
    id: TaskId,
    service_id: ServiceId,
    service_name: String,
    slot: u32,
    node_id: Option<NodeId>,
    spec_version: u64,
    spec: S,
    desired_state: TaskState,
    status: TaskStatus,
    created_at: Timestamp,
    not_before: Timestamp,
    attempt: u32,
}

impl<S: Format> From<Task<S>> for crate::Task {
    fn from(t: Task<S>) -> Self {
        crate::Task {
            id: t.id,
            service_id: t.service_id,
            service_name: t.service_name,
            slot: t.slot,
            node_id: t.node_id,
            spec_version: t.spec_version,
            spec: t.spec.upgrade(),
            desired_state: t.desired_state,
            status: t.status.into(),
            created_at: t.created_at,
            not_before: t.not_before,
            attempt: t.attempt,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "S: Format")]
pub struct Service<S> {
    id: ServiceId,
    name: String,
    stack: String,
    short_name: String,
    spec: S,
    version: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl<S: Format> From<Service<S>> for crate::Service {
    fn from(s: Service<S>) -> Self {
        // Its spec becomes its first revision (not stable until the updater saw its
        // tasks pass monitor).
        let mut svc = crate::Service {
            id: s.id,
            name: s.name,
            stack: s.stack,
            short_name: s.short_name,
            spec: s.spec.upgrade(),
            version: s.version,
            created_at: s.created_at,
            updated_at: s.updated_at,
            rollout: Default::default(),
        };
        svc.record_revision(s.updated_at, String::new());
        svc
    }
}

/// The replicated state as formats 2 and 3 wrote it (format 2 ends before `held`:
/// `decode_state` pads it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "S: Format")]
pub struct ClusterState<S> {
    cluster: Option<ClusterInfo>,
    nodes: BTreeMap<NodeId, Node>,
    services: BTreeMap<ServiceId, Service<S>>,
    tasks: BTreeMap<TaskId, Task<S>>,
    revoked_nodes: BTreeSet<NodeId>,
    revision: u64,
    vip: Option<VipSetting>,
    registry_auth: BTreeMap<String, Vec<u8>>,
    node_images: BTreeMap<NodeId, BTreeMap<String, String>>,
    image_wants: BTreeMap<String, BTreeSet<NodeId>>,
    network: Option<ClusterNetwork>,
    storage: Storage,
    held: bool,
}

impl<S: Format> From<ClusterState<S>> for crate::ClusterState {
    fn from(s: ClusterState<S>) -> Self {
        crate::ClusterState {
            cluster: s.cluster,
            nodes: s.nodes,
            services: s.services.into_iter().map(|(k, v)| (k, v.into())).collect(),
            tasks: s.tasks.into_iter().map(|(k, v)| (k, v.into())).collect(),
            revoked_nodes: s.revoked_nodes,
            revision: s.revision,
            vip: s.vip,
            registry_auth: s.registry_auth,
            node_images: s.node_images,
            image_wants: s.image_wants,
            network: s.network,
            storage: s.storage,
            held: s.held,
            declared_networks: BTreeMap::new(),
            vip_holder: None,
            autolock: None,
            values: Default::default(),
            versions: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "S: Format")]
pub struct NewService<S> {
    id: ServiceId,
    short_name: String,
    spec: S,
}

impl<S: Format> From<NewService<S>> for crate::NewService {
    fn from(s: NewService<S>) -> Self {
        crate::NewService {
            id: s.id,
            short_name: s.short_name,
            spec: s.spec.upgrade(),
        }
    }
}

/// The commands of formats 2 (up to `Unfence`) and 3 (all of these).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound = "S: Format")]
pub enum Command<S> {
    Noop,
    InitCluster {
        id: String,
        at: Timestamp,
    },
    SetClusterSecurity {
        ca_cert_pem: String,
        worker_token_salt: String,
        manager_token_salt: String,
    },
    RotateJoinToken {
        role: crate::NodeRole,
        salt: String,
    },
    SetNodeRole {
        id: NodeId,
        role: crate::NodeRole,
        at: Timestamp,
    },
    PutNode(Node),
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
    DeployStack {
        stack: String,
        services: Vec<NewService<S>>,
        at: Timestamp,
    },
    RemoveStack {
        stack: String,
    },
    ScaleService {
        name: String,
        replicas: u32,
        at: Timestamp,
    },
    CreateTasks(Vec<Task<S>>),
    AssignTasks {
        assignments: Vec<(TaskId, NodeId)>,
        at: Timestamp,
    },
    SetDesiredState {
        updates: Vec<(TaskId, TaskState)>,
    },
    UpdateTaskStatus {
        updates: Vec<(TaskId, TaskStatus)>,
    },
    RemoveTasks {
        ids: Vec<TaskId>,
    },
    Batch(Vec<Command<S>>),
    SetVip(Option<VipSetting>),
    SetRegistryAuth {
        registry: String,
        sealed: Option<Vec<u8>>,
    },
    SetNodeImages {
        node: NodeId,
        images: BTreeMap<String, String>,
    },
    WantImage {
        image: String,
        nodes: BTreeSet<NodeId>,
    },
    UnwantImage {
        image: String,
    },
    SetClusterNetwork(ClusterNetwork),
    EnsureVolumes {
        stack: String,
        volumes: Vec<(String, orc_spec::VolumeSpec)>,
        at: Timestamp,
    },
    RemoveVolume {
        name: String,
    },
    SetVolumeAttachment {
        name: String,
        attachment: Option<crate::Attachment>,
    },
    FenceNode {
        volume: String,
        node: NodeId,
        at: Timestamp,
    },
    SetCeph(Option<crate::CephSetting>),
    VolumeReleased {
        volume: String,
        node: NodeId,
    },
    Unfence {
        node: NodeId,
    },
    Restore {
        from: Box<ClusterState<S>>,
        keep_sealed: bool,
    },
    Resume,
    PutService {
        service: Box<NewService<S>>,
        stack: String,
        name: String,
        expect_version: Option<u64>,
        at: Timestamp,
    },
    RemoveService {
        id: ServiceId,
    },
}

impl<S: Format> From<Command<S>> for crate::Command {
    fn from(c: Command<S>) -> Self {
        use crate::Command as C;
        match c {
            Command::Noop => C::Noop,
            Command::InitCluster { id, at } => C::InitCluster { id, at },
            Command::SetClusterSecurity {
                ca_cert_pem,
                worker_token_salt,
                manager_token_salt,
            } => C::SetClusterSecurity {
                ca_cert_pem,
                worker_token_salt,
                manager_token_salt,
            },
            Command::RotateJoinToken { role, salt } => C::RotateJoinToken { role, salt },
            Command::SetNodeRole { id, role, at } => C::SetNodeRole { id, role, at },
            Command::PutNode(n) => C::PutNode(n),
            Command::RemoveNode { id } => C::RemoveNode { id },
            Command::SetNodeStatus {
                id,
                status,
                message,
                at,
            } => C::SetNodeStatus {
                id,
                status,
                message,
                at,
            },
            Command::SetNodeAvailability {
                id,
                availability,
                at,
            } => C::SetNodeAvailability {
                id,
                availability,
                at,
            },
            Command::SetNodeLabels { id, labels, at } => C::SetNodeLabels { id, labels, at },
            Command::DeployStack {
                stack,
                services,
                at,
            } => C::DeployStack {
                stack,
                services: services.into_iter().map(Into::into).collect(),
                at,
            },
            Command::RemoveStack { stack } => C::RemoveStack { stack },
            Command::ScaleService { name, replicas, at } => C::ScaleService { name, replicas, at },
            Command::CreateTasks(v) => C::CreateTasks(v.into_iter().map(Into::into).collect()),
            Command::AssignTasks { assignments, at } => C::AssignTasks { assignments, at },
            Command::SetDesiredState { updates } => C::SetDesiredState { updates },
            Command::UpdateTaskStatus { updates } => C::UpdateTaskStatus {
                updates: updates.into_iter().map(|(i, s)| (i, s.into())).collect(),
            },
            Command::RemoveTasks { ids } => C::RemoveTasks { ids },
            Command::Batch(v) => C::Batch(v.into_iter().map(Into::into).collect()),
            Command::SetVip(v) => C::SetVip(v),
            Command::SetRegistryAuth { registry, sealed } => {
                C::SetRegistryAuth { registry, sealed }
            }
            Command::SetNodeImages { node, images } => C::SetNodeImages { node, images },
            Command::WantImage { image, nodes } => C::WantImage { image, nodes },
            Command::UnwantImage { image } => C::UnwantImage { image },
            Command::SetClusterNetwork(n) => C::SetClusterNetwork(n),
            Command::EnsureVolumes { stack, volumes, at } => {
                C::EnsureVolumes { stack, volumes, at }
            }
            Command::RemoveVolume { name } => C::RemoveVolume { name },
            Command::SetVolumeAttachment { name, attachment } => {
                C::SetVolumeAttachment { name, attachment }
            }
            Command::FenceNode { volume, node, at } => C::FenceNode { volume, node, at },
            Command::SetCeph(c) => C::SetCeph(c),
            Command::VolumeReleased { volume, node } => C::VolumeReleased { volume, node },
            Command::Unfence { node } => C::Unfence { node },
            Command::Restore { from, keep_sealed } => C::Restore {
                from: Box::new((*from).into()),
                keep_sealed,
            },
            Command::Resume => C::Resume,
            Command::PutService {
                service,
                stack,
                name,
                expect_version,
                at,
            } => C::PutService {
                service: Box::new((*service).into()),
                stack,
                name,
                expect_version,
                at,
            },
            Command::RemoveService { id } => C::RemoveService { id },
        }
    }
}
