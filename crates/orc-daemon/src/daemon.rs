//! The composition root: what runs in `orc daemon`.

use crate::agent::{Agent, Reporter};
use crate::cluster::Cluster;
use crate::identity::{self, Identity};
use crate::util::{host_platform, host_resources, now_ms, random_id, random_u64};
use crate::{DaemonConfig, DaemonError};
use orc_model::{Availability, Command, Node, NodeRole, NodeStatus};
use orc_runtime::Runtime;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex};

pub struct Daemon {
    pub(crate) cfg: DaemonConfig,
    pub(crate) runtime: Runtime,
    cluster: Mutex<Option<Cluster>>,
    /// A cheap copy for readers that must not wait on the mutex.
    cluster_rx: watch::Sender<Option<Cluster>>,
    stop: watch::Sender<bool>,
}

impl Daemon {
    pub fn new(cfg: DaemonConfig) -> Result<Arc<Daemon>, DaemonError> {
        for dir in [&cfg.data_dir, &cfg.logs_dir()] {
            std::fs::create_dir_all(dir).map_err(|e| DaemonError::io(dir, e))?;
            set_mode(dir, 0o700)?;
        }
        let runtime = Runtime::new(&cfg.containerd, &cfg.namespace)?;
        Ok(Arc::new(Daemon {
            cfg,
            runtime,
            cluster: Mutex::new(None),
            cluster_rx: watch::channel(None).0,
            stop: watch::channel(false).0,
        }))
    }

    /// Runs until SIGTERM or SIGINT.
    pub async fn run(self: Arc<Self>) -> Result<(), DaemonError> {
        if let Some(id) = identity::load(&self.cfg.data_dir)? {
            let cluster = Cluster::start(&self.cfg, id.node_id).await?;
            self.clone().activate(cluster).await;
            tracing::info!(cluster = %id.cluster_id, node = %crate::views::node_id_str(id.node_id), "rejoined cluster state from disk");
        } else {
            tracing::info!("not in a cluster yet: waiting for `orc cluster init`");
        }
        let listener = crate::api::bind(&self.cfg.socket)?;
        tracing::info!(socket = %self.cfg.socket.display(), "orc daemon ready");
        let server = tokio::spawn(crate::api::serve(self.clone(), listener));
        wait_for_signal().await;
        tracing::info!("shutting down (containers keep running; the next start adopts them)");
        server.abort();
        let _ = self.stop.send(true);
        if let Some(c) = self.cluster.lock().await.take() {
            c.shutdown().await;
        }
        let _ = std::fs::remove_file(&self.cfg.socket);
        Ok(())
    }

    pub(crate) fn cluster(&self) -> Result<Cluster, DaemonError> {
        self.cluster_rx.borrow().clone().ok_or(DaemonError::NoCluster)
    }

    /// Starts the loops that run while this node is in a cluster.
    async fn activate(self: Arc<Self>, cluster: Cluster) {
        let reporter = Reporter::spawn(cluster.clone());
        let agent = Agent::new(
            cluster.node_id,
            self.runtime.clone(),
            reporter,
            self.cfg.logs_dir(),
            self.cfg.logger_binary.clone(),
            self.cfg.log_max_bytes,
            self.cfg.log_max_files,
        );
        tokio::spawn(agent.run(cluster.state.clone(), self.cfg.resync, self.stop.subscribe()));
        tokio::spawn(crate::manager::run(cluster.clone(), self.cfg.resync, self.stop.subscribe()));
        tokio::spawn(announce(self.clone(), cluster.clone()));
        *self.cluster.lock().await = Some(cluster.clone());
        self.cluster_rx.send_replace(Some(cluster));
    }

    fn this_node(&self, id: u64, advertise: &str) -> Node {
        let now = now_ms();
        Node {
            id,
            hostname: self.cfg.hostname.clone(),
            role: NodeRole::Manager,
            availability: Availability::Active,
            status: NodeStatus::Ready,
            status_message: String::new(),
            address: advertise.to_string(),
            resources: host_resources(),
            labels: Default::default(),
            platform: host_platform(),
            created_at: now,
            updated_at: now,
        }
    }

    /// `orc cluster init`: a one-voter cluster with this node as manager.
    pub(crate) async fn init_cluster(self: Arc<Self>, advertise: Option<String>) -> Result<Identity, DaemonError> {
        let mut guard = self.cluster.lock().await;
        if let Some(id) = identity::load(&self.cfg.data_dir)? {
            return Err(DaemonError::AlreadyInCluster(id.cluster_id));
        }
        // A Raft dir without an identity is a half-done earlier init: nothing committed
        // there was ever acknowledged, so start it afresh.
        let raft_dir = self.cfg.raft_dir();
        if raft_dir.exists() {
            std::fs::remove_dir_all(&raft_dir).map_err(|e| DaemonError::io(&raft_dir, e))?;
        }
        let advertise = advertise.unwrap_or_else(|| self.cfg.listen.clone());
        let node_id = random_u64();
        let cluster = Cluster::start(&self.cfg, node_id).await?;
        cluster.initialize(&advertise).await?;
        cluster.wait_leader(Duration::from_secs(10)).await?;
        let id = Identity { format: 1, node_id, cluster_id: random_id() };
        cluster
            .propose(Command::Batch(vec![
                Command::InitCluster { id: id.cluster_id.clone(), at: now_ms() },
                Command::PutNode(self.this_node(node_id, &advertise)),
            ]))
            .await?;
        identity::save(&self.cfg.data_dir, &id)?;
        drop(guard.take());
        drop(guard);
        self.clone().activate(cluster).await;
        Ok(id)
    }
}

/// After a (re)start: once a leader is known, mark this node ready with fresh facts.
async fn announce(daemon: Arc<Daemon>, cluster: Cluster) {
    for attempt in 0u32.. {
        if cluster.wait_leader(Duration::from_secs(5)).await.is_ok() {
            let state = cluster.snapshot();
            if let Some(n) = state.nodes.get(&cluster.node_id) {
                let mut fresh = n.clone();
                fresh.hostname = daemon.cfg.hostname.clone();
                fresh.resources = host_resources();
                fresh.platform = host_platform();
                fresh.status = NodeStatus::Ready;
                fresh.status_message.clear();
                if fresh != *n {
                    fresh.updated_at = now_ms();
                }
                match cluster.propose(Command::PutNode(fresh)).await {
                    Ok(_) => return,
                    Err(e) => tracing::debug!("announcing node: {e}"),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt.min(10) + 1))).await;
        if *daemon.stop.borrow() {
            return;
        }
    }
}

pub(crate) fn set_mode(path: &std::path::Path, mode: u32) -> Result<(), DaemonError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| DaemonError::io(path, e))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        // Without signal handlers the daemon can still be killed; just run forever.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
