//! The operations layer: everything a user can ask of a node, as typed Rust calls.
//!
//! **Front doors call this layer, nothing else proposes a user's commands.** The CLI's
//! JSON-lines socket (`api`), the cluster port's forwarded reads (`rpc`), and later the
//! Docker-compatible socket, metrics and a web page only parse their wire format, call
//! an [`Ops`] method, and render its result. This is the only place that turns a
//! user's intent into Raft commands (`Cluster::propose`) and the only place that builds
//! listings ([`views`]). The leader's own loops (orchestrator, scheduler, dispatcher,
//! fencing, membership) and the agent's status reports propose the cluster's *own*
//! commands; they live in `leader/` and `node/`.
//!
//! One file per group of operations: [`stacks`], [`services`], [`nodes`] and
//! [`roles`], [`cluster`], [`images`] (with [`registry`] and [`spread`]), [`volumes`],
//! [`vip`], [`secrets`] (secrets and configs); [`converge`] waits for the cluster to reach what was asked, with progress;
//! [`logs`] reads task logs across nodes; [`events`] records and streams the
//! cluster's changes, [`stats`] reads what nodes and tasks use (`orc stats`, metrics);
//! [`containers`] lists this node's own containers (the Docker socket's `/containers`).

pub mod autolock;
pub mod backup;
pub mod cluster;
pub mod containers;
pub mod converge;
pub mod events;
pub mod images;
pub mod logs;
pub mod networks;
pub mod nodes;
pub mod registry;
pub mod roles;
pub mod rollouts;
pub mod secrets;
pub mod services;
pub mod spread;
pub mod stacks;
pub mod stats;
pub mod subnet;
pub mod views;
pub mod vip;
pub mod volumes;

use crate::cluster::ca_key::CaKeys;
use crate::cluster::identity::Identity;
use crate::cluster::Cluster;
use crate::net::remote::Remote;
use crate::storage::NodeVolumes;
use crate::vip::VipLocal;
use crate::{DaemonConfig, DaemonError};
use orc_model::ClusterState;
use orc_runtime::Runtime;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{mpsc, watch, Mutex};

/// What an operation reports while it runs, before its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A line of progress ("web: 2/3 running").
    Progress(String),
    /// A task's log line (`service logs`): its text, when the log driver read it (ns
    /// since the epoch; `None` for lines stored before orc stamped them) and whether
    /// it came from standard error.
    Log {
        task: String,
        line: String,
        time_ns: Option<u64>,
        stderr: bool,
    },
    /// A change of the cluster (`orc events`).
    Cluster(orc_metrics::Event),
}

/// `then`, applied only if `guard`'s object is still at change index `index` when
/// one is given (the Docker API's `?version=`), else as it is.
pub(crate) fn guarded(
    guard: orc_model::Guard,
    index: Option<u64>,
    then: orc_model::Command,
) -> orc_model::Command {
    match index {
        Some(index) => orc_model::Command::Guarded {
            guard,
            index,
            then: Box::new(then),
        },
        None => then,
    }
}

/// Where an operation sends its [`Event`]s; the front door renders them.
#[derive(Clone)]
pub struct Progress(mpsc::Sender<Event>);

impl Progress {
    pub fn new(tx: mpsc::Sender<Event>) -> Progress {
        Progress(tx)
    }

    pub async fn progress(&self, message: impl Into<String>) {
        let _ = self.0.send(Event::Progress(message.into())).await;
    }

    /// One of `task`'s log lines. False once the caller went away.
    pub async fn log(&self, task: &str, l: orc_runtime::LogLine) -> bool {
        self.0
            .send(Event::Log {
                task: task.to_string(),
                line: l.text,
                time_ns: l.time_ns,
                stderr: l.stderr,
            })
            .await
            .is_ok()
    }

    /// False once the caller went away.
    pub async fn cluster_event(&self, e: orc_metrics::Event) -> bool {
        self.0.send(Event::Cluster(e)).await.is_ok()
    }

    pub fn closed(&self) -> bool {
        self.0.is_closed()
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Joining, making and leaving a cluster start and stop this node's components, which
/// only the composition root (`daemon`) knows how to wire: it implements this.
pub trait Lifecycle: Send + Sync {
    /// `orc cluster init`: a new cluster with this node as its only manager.
    fn init_cluster(
        &self,
        advertise: Option<String>,
        network: orc_model::ClusterNetwork,
    ) -> BoxFuture<'_, Result<Identity, DaemonError>>;
    /// `orc cluster join`.
    fn join_cluster(
        &self,
        token: String,
        address: String,
        advertise: Option<String>,
    ) -> BoxFuture<'_, Result<Identity, DaemonError>>;
    /// `orc cluster restore`: like `init_cluster` (with the backup's CA if given, else
    /// a new one), then [`orc_model::Command::Restore`] of `from`.
    fn restore_cluster(
        &self,
        advertise: Option<String>,
        from: Box<ClusterState>,
        ca: Option<orc_pki::ClusterCa>,
    ) -> BoxFuture<'_, Result<Identity, DaemonError>>;
    /// `orc cluster recover --force-new-cluster`: this manager becomes the single Raft
    /// voter with the log it holds (checked by the caller: no majority reachable).
    fn recover_cluster(&self) -> BoxFuture<'_, Result<(), DaemonError>>;
    /// The local part of `orc cluster leave`: stop every component, remove this
    /// node's containers, forget the cluster, remove orc's networking (what was
    /// removed is returned). Called with [`Ops::lifecycle`] held.
    fn forget_cluster(&self) -> BoxFuture<'_, Result<Vec<String>, DaemonError>>;
}

/// This node's handles that operations need, shared with the composition root.
pub struct Ops {
    pub(crate) cfg: DaemonConfig,
    pub(crate) runtime: Runtime,
    pub(crate) volumes: Arc<NodeVolumes>,
    /// Set while this node is a manager.
    cluster: watch::Receiver<Option<Cluster>>,
    /// Set while this node is a worker.
    worker: watch::Receiver<Option<Remote>>,
    /// This manager's VRRP instance.
    vip: watch::Receiver<VipLocal>,
    /// Serialises init/join/leave and role switches.
    pub(crate) lifecycle: Arc<Mutex<()>>,
    life: Arc<dyn Lifecycle>,
    /// A manager's event recorder (`orc events`); its loop runs while managing.
    pub(crate) observer: Arc<events::Observer>,
    /// This node's CA key (locked or not): the only reader of it.
    pub(crate) ca_keys: Arc<CaKeys>,
    /// On a worker: the assignments the leader last sent it ([`containers`]).
    pub(crate) worker_view: WorkerView,
}

/// On a worker: the state the leader last sent it (`None` on a manager).
pub type WorkerView = Arc<std::sync::Mutex<Option<watch::Receiver<Arc<ClusterState>>>>>;

/// The handles [`Ops`] is made from.
pub struct OpsParts {
    pub cfg: DaemonConfig,
    pub runtime: Runtime,
    pub volumes: Arc<NodeVolumes>,
    pub cluster: watch::Receiver<Option<Cluster>>,
    pub worker: watch::Receiver<Option<Remote>>,
    pub vip: watch::Receiver<VipLocal>,
    pub lifecycle: Arc<Mutex<()>>,
    pub life: Arc<dyn Lifecycle>,
    pub ca_keys: Arc<CaKeys>,
    pub worker_view: WorkerView,
}

impl Ops {
    pub fn new(p: OpsParts) -> Ops {
        Ops {
            cfg: p.cfg,
            runtime: p.runtime,
            volumes: p.volumes,
            cluster: p.cluster,
            worker: p.worker,
            vip: p.vip,
            lifecycle: p.lifecycle,
            life: p.life,
            observer: Default::default(),
            ca_keys: p.ca_keys,
            worker_view: p.worker_view,
        }
    }

    /// This node's Raft member, if it is a manager.
    pub fn cluster(&self) -> Result<Cluster, DaemonError> {
        if let Some(c) = self.cluster.borrow().clone() {
            return Ok(c);
        }
        if self.worker.borrow().is_some() {
            return Err(DaemonError::Invalid(
                "this node is a worker: run this command on a manager".into(),
            ));
        }
        Err(DaemonError::NoCluster)
    }

    /// The session to the leader, if this node is a worker.
    pub fn worker(&self) -> Option<Remote> {
        self.worker.borrow().clone()
    }

    /// The committed state as this manager applied it (the read side of every listing).
    pub fn state(&self) -> Result<Arc<ClusterState>, DaemonError> {
        Ok(self.cluster()?.snapshot())
    }

    pub fn vip_local(&self) -> VipLocal {
        self.vip.borrow().clone()
    }
}
