//! Shared helpers for the store's integration tests: commands built from orc types and
//! a one-node Raft over the sled store.
#![allow(dead_code)]

use orc_model::{
    Availability, ClusterState, Command, NewService, Node, NodeResources, NodeRole, NodeStatus,
    Platform,
};
use orc_spec::{ServiceMode, ServiceSpec};
use orc_store::{BasicNode, Raft, SingleNodeNetwork};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// A generous deadline for anything Raft does locally.
pub const DEADLINE: Duration = Duration::from_secs(20);
pub const NODE: u64 = 1;
pub const AT: u64 = 1_700_000_000_000;

pub fn service(short_name: &str, image: &str, replicas: u32) -> NewService {
    NewService {
        id: format!("svc-{short_name}-{image}"),
        short_name: short_name.to_string(),
        spec: ServiceSpec {
            command: Some(vec!["sleep".into(), "3600".into()]),
            mode: ServiceMode::Replicated { replicas },
            env: BTreeMap::from([("A".to_string(), "1".to_string())]),
            ..ServiceSpec::new(image)
        },
    }
}

pub fn node(id: u64) -> Node {
    Node {
        id,
        hostname: format!("board{id}"),
        role: NodeRole::Manager,
        availability: Availability::Active,
        status: NodeStatus::Ready,
        status_message: String::new(),
        address: "127.0.0.1:4242".into(),
        resources: NodeResources {
            nano_cpus: 4_000_000_000,
            memory_bytes: 2 << 30,
        },
        labels: BTreeMap::new(),
        platform: Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: "v8".into(),
        },
        created_at: AT,
        updated_at: AT,
    }
}

pub fn deploy(stack: &str, services: Vec<NewService>) -> Command {
    Command::DeployStack {
        stack: stack.to_string(),
        services,
        at: AT,
    }
}

/// A running one-node Raft and the receiver its state machine publishes on.
pub struct OneNode {
    pub raft: Raft,
    pub state: watch::Receiver<Arc<ClusterState>>,
    pub closed: orc_store::StoreClosed,
}

/// Opens the store in `dir` and starts Raft over it. `keep` is the number of log entries
/// kept after a snapshot.
pub async fn start(dir: &Path, keep: u64) -> OneNode {
    let (log, sm) = reopen(dir);
    start_with(log, sm, keep).await
}

pub async fn start_with(
    log: orc_store::LogStore,
    sm: orc_store::StateMachineStore,
    keep: u64,
) -> OneNode {
    let state = sm.subscribe();
    let closed = log.closed();
    let mut cfg = orc_store::default_raft_config("orc-store-test");
    cfg.max_in_snapshot_log_to_keep = keep;
    cfg.purge_batch_size = 1;
    let cfg = Arc::new(cfg.validate().expect("raft config"));
    let raft = Raft::new(NODE, cfg, SingleNodeNetwork, log, sm)
        .await
        .expect("start raft");
    OneNode {
        raft,
        state,
        closed,
    }
}

impl OneNode {
    /// Makes this node the cluster's only voter and waits until it leads.
    pub async fn initialize(&self) {
        self.raft
            .initialize(BTreeMap::from([(NODE, BasicNode::new("127.0.0.1:0"))]))
            .await
            .expect("initialize");
        self.wait_leader().await;
    }

    pub async fn wait_leader(&self) {
        self.raft
            .wait(Some(DEADLINE))
            .current_leader(NODE, "node leads")
            .await
            .expect("leader");
    }

    /// Waits until entries up to `index` are applied.
    pub async fn wait_applied(&self, index: u64) {
        self.raft
            .wait(Some(DEADLINE))
            .applied_index_at_least(Some(index), "applied")
            .await
            .expect("applied");
    }

    pub async fn write(&self, cmd: Command) -> (u64, orc_model::CommandResult) {
        let resp = self.raft.client_write(cmd).await.expect("client_write");
        (resp.log_id.index, resp.data)
    }

    /// Waits until the published state satisfies `f` and returns it.
    pub async fn state_where(
        &mut self,
        f: impl FnMut(&Arc<ClusterState>) -> bool,
    ) -> Arc<ClusterState> {
        let r = tokio::time::timeout(DEADLINE, self.state.wait_for(f))
            .await
            .expect("state in time")
            .expect("state channel open");
        r.clone()
    }

    /// Shuts Raft down and waits until the store is closed.
    pub async fn stop(self) {
        self.raft.shutdown().await.expect("shutdown");
        drop(self.raft);
        tokio::time::timeout(DEADLINE, self.closed.wait())
            .await
            .expect("store closed after shutdown");
    }
}

/// Opens the store in `dir` again after a stop. sled releases its file lock from its
/// own background thread a moment after the last handle is dropped, so the open is
/// retried while the lock is still held (at most 10 s).
pub fn reopen(dir: &std::path::Path) -> (orc_store::LogStore, orc_store::StateMachineStore) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match orc_store::open(dir, &Default::default()) {
            Ok(s) => return s,
            Err(e) if std::time::Instant::now() < deadline && e.to_string().contains("lock") => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("reopening {}: {e}", dir.display()),
        }
    }
}
