//! The normalised, validated form of a stack. This is what the cluster stores (in Raft,
//! encoded with bincode), so: plain structs and enums only (no `untagged`, `flatten` or
//! `skip_serializing_if`), durations in milliseconds, sizes in bytes, CPUs in nano-CPUs.
//! Adding a field is a format change: bump `orc_model::FORMAT_VERSION`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole stack as deployed: its name and its services keyed by short name ("web").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackSpec {
    /// The stack's name; services run as `STACKNAME_SERVICENAME`.
    pub name: String,
    /// Services by short name.
    pub services: BTreeMap<String, ServiceSpec>,
    /// The stack's networks by short name; always holds [`DEFAULT_NETWORK`].
    pub networks: BTreeMap<String, NetworkSpec>,
    /// Volumes by short name ("db"); the cluster names them `STACKNAME_VOLUME`.
    pub volumes: BTreeMap<String, VolumeSpec>,
    /// Secrets declared by the stack (`[secrets.NAME]`), by short name.
    pub secrets: BTreeMap<String, SecretSpec>,
    /// Configs declared by the stack (`[configs.NAME]`), by short name.
    pub configs: BTreeMap<String, SecretSpec>,
}

/// One service: what to run, how many, where, and with what limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Image reference as written ("demo/busybox:1").
    pub image: String,
    /// Overrides the image's entrypoint when set.
    pub entrypoint: Option<Vec<String>>,
    /// Overrides the image's cmd when set.
    pub command: Option<Vec<String>>,
    /// Replicated (a fixed number of tasks) or global (one task per eligible node).
    pub mode: ServiceMode,
    /// Environment variables, added to the image's.
    pub env: BTreeMap<String, String>,
    /// Labels on the service and its containers.
    pub labels: BTreeMap<String, String>,
    /// Placement constraints; a node must satisfy all of them.
    pub constraints: Vec<Constraint>,
    /// CPU and memory limits and reservations.
    pub resources: Resources,
    /// When and how often failed or exited tasks are replaced.
    pub restart: RestartPolicy,
    /// How tasks are stopped.
    pub stop: StopPolicy,
    /// "uid", "uid:gid" or a name resolved in the image's /etc/passwd.
    pub user: Option<String>,
    /// Absolute working directory; the image's when unset.
    pub working_dir: Option<String>,
    /// The container's hostname when set.
    pub hostname: Option<String>,
    /// Bind and tmpfs mounts, targets distinct.
    pub mounts: Vec<Mount>,
    /// The container's network: its own namespace on the stack's networks, or the node's.
    pub network_mode: NetworkMode,
    /// Placement preferences (soft: they order the nodes the constraints allow).
    pub placement: Placement,
    /// The stack networks (short names) the service is attached to; empty with
    /// [`NetworkMode::Host`].
    pub networks: Vec<String>,
    /// Ports published on the nodes, published numbers distinct per protocol.
    pub ports: Vec<PortSpec>,
    /// Privileges, devices, kernel settings and files of the container.
    pub container: ContainerOptions,
    /// Services of the same stack whose first start this one's first start waits for.
    pub depends_on: Vec<Dependency>,
    /// The health check; None = the image's own (if any).
    pub healthcheck: Option<HealthCheck>,
    /// How a changed spec rolls out over the tasks.
    pub update_config: UpdateConfig,
    /// How a rollback rolls out over the tasks.
    pub rollback_config: UpdateConfig,
    /// Secrets mounted as files (default under `/run/secrets/`).
    pub secrets: Vec<FileRef>,
    /// Configs mounted as files (default `/NAME`).
    pub configs: Vec<FileRef>,
}

/// What the container may do and see beyond the defaults (Docker's `docker run`
/// options of the same names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerOptions {
    /// Every capability, every device, no masked paths, no seccomp/AppArmor.
    pub privileged: bool,
    /// Capabilities added to Docker's default set (`CAP_NET_ADMIN`, or `ALL`).
    pub cap_add: Vec<String>,
    /// Capabilities removed from it (`CAP_CHOWN`, or `ALL`).
    pub cap_drop: Vec<String>,
    /// Host devices made available in the container.
    pub devices: Vec<Device>,
    /// Namespaced kernel parameters (`net.ipv4.ip_forward` → `1`).
    pub sysctls: BTreeMap<String, String>,
    /// Resource limits of the process (`nofile` → soft/hard).
    pub ulimits: BTreeMap<String, Ulimit>,
    /// Run a minimal init as PID 1 that reaps zombies and forwards signals.
    pub init: bool,
    /// Mount the container's root filesystem read-only.
    pub read_only: bool,
    /// Extra lines for /etc/hosts: hostname → IP address.
    pub extra_hosts: Vec<ExtraHost>,
    /// Name servers for the container (replace the node's as upstream).
    pub dns: Vec<String>,
    /// Search domains for the container's resolv.conf.
    pub dns_search: Vec<String>,
    /// Resolver options for the container's resolv.conf (`ndots:2`).
    pub dns_options: Vec<String>,
    /// Size of /dev/shm in bytes; 0 = 64 MiB (Docker's default).
    pub shm_size_bytes: u64,
    /// Most processes the container may have; 0 = unlimited.
    pub pids_limit: u32,
}

/// A host device in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Path on the node (`/dev/ttyUSB0`).
    pub source: String,
    /// Path in the container (same as source unless given).
    pub target: String,
    /// cgroup access: a combination of `r`, `w`, `m`.
    pub permissions: String,
}

/// One resource limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// Soft limit.
    pub soft: u64,
    /// Hard limit (>= soft).
    pub hard: u64,
}

/// One /etc/hosts entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraHost {
    /// The name.
    pub hostname: String,
    /// The IPv4 or IPv6 address it resolves to.
    pub ip: String,
}

/// A service another one waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// The service's short name, in the same stack.
    pub service: String,
    /// What it must have reached.
    pub condition: DependencyCondition,
}

/// When a dependency counts as ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DependencyCondition {
    /// One of its tasks is running.
    Started,
    /// One of its tasks is healthy.
    Healthy,
    /// It ran to completion with exit 0.
    CompletedSuccessfully,
}

/// A health check (Docker's HEALTHCHECK). A field left None inherits the image's
/// value, else Docker's default (interval 30s, timeout 30s, retries 3, start_period
/// 0s, start_interval 5s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// The probe; None = the image's.
    pub test: Option<HealthTest>,
    /// Time between probes.
    pub interval_ms: Option<u64>,
    /// A probe running longer fails.
    pub timeout_ms: Option<u64>,
    /// Consecutive failures that make the task unhealthy.
    pub retries: Option<u32>,
    /// Failures in this time after start do not count.
    pub start_period_ms: Option<u64>,
    /// Time between probes during the start period until the first success.
    pub start_interval_ms: Option<u64>,
    /// Whether an unhealthy task is replaced (per the restart policy).
    pub restart_on_unhealthy: bool,
}

/// The probe of a health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthTest {
    /// `["NONE"]`: no health check, not even the image's.
    None,
    /// `["CMD", args…]`: run args in the container.
    Cmd(Vec<String>),
    /// `["CMD-SHELL", "cmd"]`: run cmd with the container's shell.
    CmdShell(String),
    /// `["TCP", "8080"]`: a TCP connect from the task's network namespace.
    Tcp(u16),
    /// `["HTTP", "http://localhost:8080/health"]`: a GET answered 2xx/3xx.
    Http(String),
}

/// How tasks are replaced when a service changes (or rolls back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateConfig {
    /// Tasks replaced at once; 0 = all.
    pub parallelism: u32,
    /// Wait between batches.
    pub delay_ms: u64,
    /// What a failed update does.
    pub failure_action: FailureAction,
    /// How long after becoming healthy a new task's failure counts.
    pub monitor_ms: u64,
    /// Failures tolerated, as a fraction of the tasks, in millionths (0 = none).
    pub max_failure_ratio_ppm: u32,
    /// Stop the old task first, or start the new one first.
    pub order: UpdateOrder,
    /// A new task not healthy within this time counts as failed.
    pub healthy_deadline_ms: u64,
    /// A rollout not done within this time takes its failure action.
    pub progress_deadline_ms: u64,
    /// Rollback only: a service with volumes may be rolled back automatically.
    pub stateful_safe: bool,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            parallelism: 1,
            delay_ms: 0,
            failure_action: FailureAction::Pause,
            monitor_ms: 5_000,
            max_failure_ratio_ppm: 0,
            order: UpdateOrder::StopFirst,
            healthy_deadline_ms: 300_000,
            progress_deadline_ms: 900_000,
            stateful_safe: false,
        }
    }
}

/// What a failed update does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureAction {
    /// Stop the rollout where it is.
    Pause,
    /// Go on regardless.
    Continue,
    /// Go back to the last stable revision.
    Rollback,
}

/// The order of stopping and starting during an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateOrder {
    /// Stop the old task, then start the new one.
    StopFirst,
    /// Start the new one, stop the old one once it is healthy.
    StartFirst,
}

/// A service's use of a secret or config: which one, and the file it appears as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// The secret's or config's short name in the stack.
    pub source: String,
    /// Absolute path in the container.
    pub target: String,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Permission bits (0o444 by default).
    pub mode: u32,
    /// The cluster-wide name of the secret or config (`STACK_NAME`, or the declared
    /// `name`); set by the deploy, empty in a freshly parsed stack.
    pub name: String,
    /// The revision of the value this spec uses, pinned when the spec is committed
    /// (0 = not pinned yet: the value's current revision at commit time).
    pub revision: u64,
}

/// The largest secret value: 500 KiB (Docker's limit).
pub const MAX_SECRET_BYTES: u64 = 500 * 1024;
/// The largest config value: 1000 KiB (Docker's limit).
pub const MAX_CONFIG_BYTES: u64 = 1000 * 1024;

/// A secret or config declared by a stack: where its value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSpec {
    /// Where the value comes from.
    pub source: SecretSource,
    /// The cluster-wide name; default `STACKNAME_NAME`.
    pub name: Option<String>,
}

impl SecretSpec {
    /// Its name in the cluster: the declared `name`, else `STACK_KEY`, except for an
    /// external one, which is the cluster's own `KEY`.
    pub fn cluster_name(&self, stack: &str, key: &str) -> String {
        match (&self.name, &self.source) {
            (Some(n), _) => n.clone(),
            (None, SecretSource::External) => key.to_string(),
            (None, _) => format!("{stack}_{key}"),
        }
    }
}

/// Where a secret's or config's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecretSource {
    /// A file on the deploying machine (absolute path, resolved against the stack file).
    File(String),
    /// Already in the cluster under this name (`orc secret create`).
    External,
    /// An environment variable of the deploying process (its name).
    Environment(String),
    /// Inline content (configs only).
    Content(String),
}

/// `placement = { preferences = [{ spread = "node.labels.board" }] }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// Applied in order: the first spreads over its label's values, the next over
    /// its label's values within each of those, and so on.
    pub preferences: Vec<PlacementPreference>,
}

/// One placement preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlacementPreference {
    /// Spread the service's replicas evenly over the values of a node label (the key
    /// after `node.labels.`); nodes without the label count as one more value.
    Spread {
        /// The label's key ("board").
        label: String,
    },
}

impl ServiceSpec {
    /// A service running `image` with every other key at its stack.toml default:
    /// one replica, restart on any exit after 5 s, SIGTERM with 10 s grace, on the
    /// stack's default network, no published ports.
    pub fn new(image: impl Into<String>) -> ServiceSpec {
        ServiceSpec {
            image: image.into(),
            entrypoint: None,
            command: None,
            mode: ServiceMode::Replicated { replicas: 1 },
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            constraints: Vec::new(),
            resources: Resources::default(),
            restart: RestartPolicy::default(),
            stop: StopPolicy::default(),
            user: None,
            working_dir: None,
            hostname: None,
            mounts: Vec::new(),
            network_mode: NetworkMode::Stack,
            networks: vec![DEFAULT_NETWORK.to_string()],
            ports: Vec::new(),
            placement: Placement::default(),
            container: ContainerOptions::default(),
            depends_on: Vec::new(),
            healthcheck: None,
            update_config: UpdateConfig::default(),
            rollback_config: UpdateConfig::default(),
            secrets: Vec::new(),
            configs: Vec::new(),
        }
    }

    /// Why this service cannot run its old and new task side by side (start-first):
    /// a single-writer volume (rbd, local) would get a second writer, and a host-mode
    /// published port would fail to bind on a node running both. `None` when it can.
    pub fn start_first_conflict(&self) -> Option<String> {
        for m in &self.mounts {
            if let Mount::Volume { name, volume, .. } = m {
                if volume.driver.single_writer() {
                    return Some(format!(
                        "{} volume {name:?} has one writer at a time, and start-first would run a \
                         second task on it before the first stops; use order = \"stop-first\" \
                         (or a cephfs volume)",
                        volume.driver.name()
                    ));
                }
            }
        }
        if let Some(p) = self.ports.iter().find(|p| p.mode == PublishMode::Host) {
            return Some(format!(
                "port {} is published in host mode, and start-first would run two tasks \
                 binding it on one node; use order = \"stop-first\" (or the ingress mode)",
                p.published
            ));
        }
        None
    }
}

/// How many tasks a service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceMode {
    /// Exactly `replicas` tasks, placed by the scheduler.
    Replicated {
        /// Number of tasks (0..=1000).
        replicas: u32,
    },
    /// One task on every node that satisfies the constraints.
    Global,
}

/// `node.labels.disk == ssd`, `node.role != manager`, `node.hostname == rock1`, `node.id == …`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    /// The node attribute compared.
    pub key: ConstraintKey,
    /// Equal or not equal.
    pub op: ConstraintOp,
    /// The value compared with, as written.
    pub value: String,
}

/// The node attribute a constraint looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConstraintKey {
    /// `node.id`
    NodeId,
    /// `node.hostname`
    NodeHostname,
    /// `node.role`: "manager" or "worker".
    NodeRole,
    /// `node.labels.NAME`
    NodeLabel(String),
}

/// How a constraint compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConstraintOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

/// CPU and memory for a service's tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Hard caps enforced by the kernel (cgroup).
    pub limits: ResourceSet,
    /// What the scheduler sets aside on the node for each task.
    pub reservations: ResourceSet,
}

/// Zero means "not set".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSet {
    /// CPUs × 10⁹ (0.5 CPU = 500_000_000).
    pub nano_cpus: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
}

/// Which task exits lead to a replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartCondition {
    /// Any exit.
    Any,
    /// Only a non-zero exit (or a failure to start).
    OnFailure,
    /// Never.
    None,
}

/// When and how often tasks are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// Which exits lead to a replacement.
    pub condition: RestartCondition,
    /// Wait between an exit and the replacement.
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

/// How a task is stopped: this signal, then SIGKILL after the grace period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopPolicy {
    /// Signal number (15 for SIGTERM).
    pub signal: i32,
    /// Time allowed between the signal and SIGKILL.
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

/// A filesystem mounted into the container. Paths are absolute and cleaned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mount {
    /// A host directory or file.
    Bind {
        /// Path on the node.
        source: String,
        /// Path in the container.
        target: String,
        /// Mounted read-only.
        read_only: bool,
    },
    /// A fresh in-memory filesystem.
    Tmpfs {
        /// Path in the container.
        target: String,
        /// 0 = kernel default.
        size_bytes: u64,
        /// Octal permission bits, e.g. 0o1777.
        mode: Option<u32>,
    },
    /// A volume of the stack (service key `volumes`), attached on the node by the
    /// agent and bind-mounted in.
    Volume {
        /// The volume's cluster-wide name, `STACKNAME_VOLUME`.
        name: String,
        /// Path in the container.
        target: String,
        /// Mounted read-only.
        read_only: bool,
        /// The volume as declared (the agent needs it to attach).
        volume: VolumeSpec,
    },
}

/// The container's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// The node's own network namespace.
    Host,
    /// Its own network namespace, attached to the service's stack networks.
    Stack,
}

/// The network every stack has, and every service joins unless it lists `networks`.
pub const DEFAULT_NETWORK: &str = "default";

/// One `[networks.NAME]` table. No keys yet: declaring the name is what matters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {}

/// A port published on the nodes and forwarded to the service's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    /// The port on the nodes (1..=65535).
    pub published: u16,
    /// The port inside the container (1..=65535).
    pub target: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Every node (ingress) or only nodes running a task (host).
    pub mode: PublishMode,
}

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// "tcp" or "udp".
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// Where a published port answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PublishMode {
    /// On every node's addresses (and the VIP), spread over all running tasks.
    Ingress,
    /// Only on the nodes running a task, to that node's task.
    Host,
}

/// A named volume of a stack (`[volumes.NAME]`): created on first deploy, kept across
/// redeploys and `orc stack rm` (unless `--volumes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    /// Where the data lives.
    pub driver: VolumeDriver,
    /// rbd: the image size; cephfs: the quota (0 = none); local: unused (0).
    pub size_bytes: u64,
}

/// A volume driver with its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VolumeDriver {
    /// A directory on one node; the service is pinned to that node.
    Local,
    /// A Ceph RBD image, formatted on first attach; one writer at a time.
    Rbd {
        /// The RADOS pool holding the image.
        pool: String,
        /// The filesystem made on it: "ext4" or "xfs".
        fs_type: String,
    },
    /// A CephFS subvolume, mountable by several nodes at once.
    CephFs {
        /// The CephFS file system's name.
        fs_name: String,
        /// The subvolume group, Ceph's default group when unset.
        group: Option<String>,
    },
}

impl VolumeDriver {
    /// "local", "rbd" or "cephfs".
    pub fn name(&self) -> &'static str {
        match self {
            VolumeDriver::Local => "local",
            VolumeDriver::Rbd { .. } => "rbd",
            VolumeDriver::CephFs { .. } => "cephfs",
        }
    }

    /// Whether at most one node (and one task) may use the volume at a time.
    pub fn single_writer(&self) -> bool {
        !matches!(self, VolumeDriver::CephFs { .. })
    }
}
