//! The Raft side of a manager: open the store, start openraft, propose commands.

use crate::{DaemonConfig, DaemonError};
use openraft::BasicNode;
use orc_model::{ClusterState, Command, CommandResult, NodeId};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub type Raft = orc_store::Raft;

/// A running Raft member and the live view of the state it applies.
#[derive(Clone)]
pub struct Cluster {
    pub node_id: NodeId,
    pub raft: Raft,
    pub state: watch::Receiver<Arc<ClusterState>>,
}

fn raft_config() -> Result<Arc<openraft::Config>, DaemonError> {
    let cfg = openraft::Config {
        heartbeat_interval: 250,
        election_timeout_min: 1000,
        election_timeout_max: 2000,
        ..orc_store::default_raft_config("orc")
    };
    Ok(Arc::new(cfg.validate().map_err(|e| DaemonError::Raft(e.to_string()))?))
}

impl Cluster {
    /// Opens (or creates) the store under the data dir and starts Raft on it.
    pub async fn start(cfg: &DaemonConfig, node_id: NodeId) -> Result<Cluster, DaemonError> {
        let dir = cfg.raft_dir();
        std::fs::create_dir_all(&dir).map_err(|e| DaemonError::io(&dir, e))?;
        let store_cfg =
            orc_store::StoreConfig { cache_capacity: cfg.store_cache_bytes, ..Default::default() };
        let (log, sm) = orc_store::open(&dir, &store_cfg)?;
        let state = sm.subscribe();
        let raft = Raft::new(node_id, raft_config()?, orc_store::SingleNodeNetwork, log, sm)
            .await
            .map_err(|e| DaemonError::Raft(e.to_string()))?;
        Ok(Cluster { node_id, raft, state })
    }

    /// Makes this node the single voter of a new cluster.
    pub async fn initialize(&self, advertise: &str) -> Result<(), DaemonError> {
        let mut members = BTreeMap::new();
        members.insert(self.node_id, BasicNode { addr: advertise.to_string() });
        self.raft.initialize(members).await.map_err(|e| DaemonError::Raft(e.to_string()))
    }

    /// Waits until some node is leader (at most `timeout`).
    pub async fn wait_leader(&self, timeout: Duration) -> Result<NodeId, DaemonError> {
        let mut m = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(l) = m.borrow().current_leader {
                return Ok(l);
            }
            if tokio::time::timeout_at(deadline, m.changed()).await.is_err() {
                return Err(DaemonError::NoLeader);
            }
        }
    }

    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.node_id)
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    /// Commits a command and returns what applying it answered. Apply errors come back
    /// as `DaemonError::Apply`.
    pub async fn propose(&self, cmd: Command) -> Result<CommandResult, DaemonError> {
        let resp = self.raft.client_write(cmd).await.map_err(|e| match e {
            openraft::error::RaftError::APIError(openraft::error::ClientWriteError::ForwardToLeader(_)) => {
                DaemonError::NoLeader
            }
            other => DaemonError::Raft(other.to_string()),
        })?;
        let result = resp.data;
        if let Some(err) = result.error() {
            return Err(DaemonError::Apply(err.clone()));
        }
        Ok(result)
    }

    pub fn snapshot(&self) -> Arc<ClusterState> {
        self.state.borrow().clone()
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}
