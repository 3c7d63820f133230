//! This node's membership: on a manager the Raft member ([`Cluster`]: open the store,
//! start openraft, propose commands), and on every node its [`identity`], PKI files
//! ([`security`]), the sealing of values under the CA key ([`seal`]: registry
//! credentials in [`registry_auth`], secrets and configs) and
//! the path of its own writes ([`writer`]: Raft on a manager, forwarded on a worker).
//! The CA key itself is held in memory by [`ca_key`] (locked or not, see [`autolock`]
//! and [`unlock_key`]).

pub mod autolock;
pub mod ca_key;
pub mod identity;
pub mod passphrase;
pub mod registry_auth;
pub mod seal;
pub mod security;
pub mod unlock_key;
pub mod writer;

use crate::net::dialer::NetDialer;
use crate::net::remote::Remote;
use crate::{DaemonConfig, DaemonError};
use openraft::BasicNode;
use orc_model::{ClusterState, Command, CommandResult, NodeId};
use orc_rpc::wire::{ForwardReply, ForwardRequest};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub type Raft = orc_store::Raft;

/// How long a leader waits for a write to commit before saying there is no quorum.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// A follower that heard nothing from its leader for this long doesn't send it writes
/// (three heartbeats; an election starts at 0.6 s).
const LEADER_SILENCE: Duration = Duration::from_millis(450);

/// Why a write this leader appended did not come back done.
enum LeaderWrite {
    /// openraft answered ForwardToLeader: leadership moved before the write was
    /// appended, or its uncommitted entry was truncated. Not applied: safe to send on.
    NotApplied,
    /// Refused, failed, or its outcome is unknown: not to be sent again.
    Failed(DaemonError),
}

/// Why a forwarded write did not come back done.
enum Forward {
    /// It never reached a leader: safe to send to the next one.
    NotSent(String),
    /// Refused, failed, or its outcome is unknown: not to be sent again.
    Failed(DaemonError),
}

/// A running Raft member and the live view of the state it applies.
#[derive(Clone)]
pub struct Cluster {
    pub node_id: NodeId,
    pub raft: Raft,
    pub state: watch::Receiver<Arc<ClusterState>>,
    /// Forwards writes to the leader when this manager is not it.
    pub remote: Remote,
    /// Group commit while leading: concurrent writes share one log entry (one fsync).
    pub batcher: orc_store::CommandBatcher,
    /// When this manager's Raft snapshot was built (its age is a metric).
    pub snapshot_clock: orc_store::SnapshotClock,
}

fn raft_config() -> Result<Arc<openraft::Config>, DaemonError> {
    let cfg = openraft::Config {
        // A follower calls an election 0.6–0.9 s after the leader's last heartbeat.
        // openraft 0.9 makes a voter refuse votes for `election_timeout_max` after it
        // last heard a leader (its lease), so the first candidate usually waits a
        // second timeout: a lost leader is replaced 1.2–1.8 s after its loss
        // (docs/performance.md). Four heartbeats must go missing before any election,
        // which a busy board doesn't do by accident (benches/elections.rs). The VIP
        // quorum guard's lease (500 ms, checked every 50 ms) stays under the 0.6 s.
        heartbeat_interval: 150,
        election_timeout_min: 600,
        election_timeout_max: 900,
        ..orc_store::default_raft_config("orc")
    };
    Ok(Arc::new(
        cfg.validate()
            .map_err(|e| DaemonError::Raft(e.to_string()))?,
    ))
}

impl Cluster {
    /// Opens (or creates) the store under the data dir and starts Raft on it.
    pub async fn start(
        cfg: &DaemonConfig,
        node_id: NodeId,
        dialer: Arc<NetDialer>,
    ) -> Result<Cluster, DaemonError> {
        let dir = cfg.raft_dir();
        std::fs::create_dir_all(&dir).map_err(|e| DaemonError::io(&dir, e))?;
        let store_cfg = orc_store::StoreConfig {
            cache_capacity: cfg.store_cache_bytes,
            ..Default::default()
        };
        let (log, sm) = orc_store::open(&dir, &store_cfg)?;
        let state = sm.subscribe();
        let snapshot_clock = sm.snapshot_clock();
        let net = orc_rpc::RaftNet::new(dialer.clone());
        let raft = Raft::new(node_id, raft_config()?, net, log, sm)
            .await
            .map_err(|e| DaemonError::Raft(e.to_string()))?;
        let batcher = orc_store::CommandBatcher::spawn(raft.clone(), orc_store::DEFAULT_MAX_BATCH);
        Ok(Cluster {
            node_id,
            raft,
            state,
            remote: Remote::new(dialer, Vec::new()),
            batcher,
            snapshot_clock,
        })
    }

    /// Makes this node the single voter of a new cluster.
    pub async fn initialize(&self, advertise: &str) -> Result<(), DaemonError> {
        let mut members = BTreeMap::new();
        members.insert(
            self.node_id,
            BasicNode {
                addr: advertise.to_string(),
            },
        );
        self.raft
            .initialize(members)
            .await
            .map_err(|e| DaemonError::Raft(e.to_string()))
    }

    /// Waits until some node is leader (at most `timeout`).
    pub async fn wait_leader(&self, timeout: Duration) -> Result<NodeId, DaemonError> {
        let mut m = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(l) = m.borrow().current_leader {
                return Ok(l);
            }
            if tokio::time::timeout_at(deadline, m.changed())
                .await
                .is_err()
            {
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
        let started = std::time::Instant::now();
        let r = self.propose_once(cmd).await;
        if r.is_ok() {
            observe_apply(started.elapsed());
        }
        r
    }

    async fn propose_once(&self, cmd: Command) -> Result<CommandResult, DaemonError> {
        let deadline = tokio::time::Instant::now() + PROPOSE_TIMEOUT;
        let mut metrics = self.raft.metrics();
        // A leader that could not even be connected to: never sent the write.
        let mut unreachable: Option<NodeId> = None;
        loop {
            if self.is_leader() {
                match self.propose_as_leader(cmd.clone()).await {
                    // Leadership moved before the write was appended, or its entry was
                    // truncated (never committed): it was not applied anywhere, so it
                    // goes to the new leader like a follower's write.
                    Err(LeaderWrite::NotApplied) => {
                        tracing::info!("leadership moved before the write committed: sending it to the new leader");
                    }
                    Err(LeaderWrite::Failed(e)) => return Err(e),
                    Ok(r) => return Ok(r),
                }
            }
            // Not the leader: the leader does it, but only a leader this node still
            // hears. One that went silent (killed, cut off) is not sent the write;
            // the write waits for its successor instead, within the same deadline.
            if let Some((id, addr)) = self
                .leader_addr()
                .filter(|l| Some(l.0) != unreachable && l.0 != self.node_id)
            {
                if self.hears_leader().await {
                    match self.forward_to(cmd.clone(), id, addr).await {
                        Err(Forward::NotSent(e)) => {
                            tracing::info!(
                                "leader {id:016x} unreachable ({e}): waiting for the next one"
                            );
                            unreachable = Some(id);
                        }
                        Err(Forward::Failed(e)) => return Err(e),
                        Ok(r) => return Ok(r),
                    }
                }
            }
            let tick = tokio::time::Instant::now() + Duration::from_millis(50);
            if tokio::time::timeout_at(tick.min(deadline), metrics.changed())
                .await
                .is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return Err(DaemonError::Raft(format!(
                    "no quorum: no leader answered within {} s (are a majority of managers reachable?); the write was not sent",
                    PROPOSE_TIMEOUT.as_secs()
                )));
            }
        }
    }

    /// Whether this manager is in a working majority right now: a leader a quorum
    /// answers (one heartbeat round), or a follower that hears its leader.
    pub async fn in_majority(&self) -> bool {
        let m = self.raft.metrics().borrow().clone();
        if m.current_leader == Some(self.node_id) {
            // A round of heartbeats a quorum must answer.
            return matches!(
                tokio::time::timeout(Duration::from_millis(1500), self.raft.ensure_linearizable())
                    .await,
                Ok(Ok(_))
            );
        }
        m.current_leader.is_some() && self.hears_leader().await
    }

    /// Whether this follower heard from its leader within two heartbeats' worth of
    /// the quorum guard's lease.
    async fn hears_leader(&self) -> bool {
        self.heard_leader_within(LEADER_SILENCE).await
    }

    /// Whether this node accepted an AppendEntries (heartbeats included) within
    /// `within`: openraft touches the vote on each. False if Raft doesn't answer in
    /// 500 ms.
    pub async fn heard_leader_within(&self, within: Duration) -> bool {
        let heard = self
            .raft
            .with_raft_state(|st| st.vote_last_modified().map(|t| t.elapsed()));
        matches!(
            tokio::time::timeout(Duration::from_millis(500), heard).await,
            Ok(Ok(Some(age))) if age < within
        )
    }

    /// A follower's write, sent to the leader it hears. If the leader is lost while
    /// the write is on its way, whether it was applied can't be known here: the error
    /// says so, and the write is not sent again (it might then apply twice).
    async fn forward_to(
        &self,
        cmd: Command,
        id: NodeId,
        addr: String,
    ) -> Result<CommandResult, Forward> {
        match self
            .remote
            .ask(
                &addr,
                Some(id),
                &ForwardRequest::Command(cmd),
                PROPOSE_TIMEOUT,
            )
            .await
        {
            Ok(ForwardReply::Done(r, index)) => {
                if let Some(e) = r.error() {
                    return Err(Forward::Failed(DaemonError::Apply(e.clone())));
                }
                // Readers on this node (convergence, listings) must see the write.
                self.wait_applied(index, Duration::from_secs(5)).await;
                Ok(r)
            }
            // Not the leader any more, or not yet: nothing was appended there.
            Ok(ForwardReply::NotLeader { .. }) => Err(Forward::NotSent("not the leader".into())),
            Ok(ForwardReply::Refused { reason }) => {
                Err(Forward::Failed(DaemonError::Invalid(reason)))
            }
            Ok(other) => Err(Forward::Failed(DaemonError::Raft(format!(
                "{addr}: unexpected answer {other:?}"
            )))),
            // No connection could be made: the write never left this node.
            Err(DaemonError::Raft(e)) if e.contains("connect error") => Err(Forward::NotSent(e)),
            Err(e) => Err(Forward::Failed(DaemonError::Raft(format!(
                "the leader ({addr}) was lost while the write was on its way ({e}): it may or may not have been applied; check before retrying"
            )))),
        }
    }

    async fn propose_as_leader(&self, cmd: Command) -> Result<CommandResult, LeaderWrite> {
        // Leading: append here. If leadership is lost meanwhile (a partition), the
        // outcome is unknown and the write is NOT re-sent to the new leader: a client
        // that gave up must never see its stale write land after newer ones.
        let write = tokio::time::timeout(PROPOSE_TIMEOUT, self.batcher.write(cmd));
        let resp = match write.await {
            Ok(Ok(r)) => r,
            Ok(Err(orc_store::BatchWriteError::Raft(e))) if matches!(*e, openraft::error::RaftError::APIError(openraft::error::ClientWriteError::ForwardToLeader(_))) => {
                return Err(LeaderWrite::NotApplied)
            }
            Ok(Err(e)) => return Err(LeaderWrite::Failed(DaemonError::Raft(e.to_string()))),
            Err(_) => {
                return Err(LeaderWrite::Failed(DaemonError::Raft(format!(
                    "no quorum: the write was not committed within {} s (are a majority of managers reachable?)",
                    PROPOSE_TIMEOUT.as_secs()
                ))))
            }
        };
        let result = resp.result;
        if let Some(err) = result.error() {
            return Err(LeaderWrite::Failed(DaemonError::Apply(err.clone())));
        }
        Ok(result)
    }

    /// Turns true once a leader is known and this node has applied every entry it
    /// holds: its view of the cluster is then current enough to act on.
    pub fn caught_up(&self) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        let mut m = self.raft.metrics();
        tokio::spawn(async move {
            let _ = m
                .wait_for(|m| {
                    m.current_leader.is_some()
                        && m.last_log_index.is_some()
                        && m.last_applied.map(|l| l.index) >= m.last_log_index
                })
                .await;
            let _ = tx.send(true);
        });
        rx
    }

    /// Waits (at most `timeout`) until this node has applied log index `index`.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) {
        let mut m = self.raft.metrics();
        let _ = tokio::time::timeout(
            timeout,
            m.wait_for(|m| m.last_applied.is_some_and(|l| l.index >= index)),
        )
        .await;
    }

    /// The leader's cluster address, from Raft membership.
    pub fn leader_addr(&self) -> Option<(NodeId, String)> {
        let m = self.raft.metrics().borrow().clone();
        let id = m.current_leader?;
        let addr = m.membership_config.membership().get_node(&id)?.addr.clone();
        Some((id, addr))
    }

    /// Addresses of all Raft members.
    pub fn member_addrs(&self) -> Vec<String> {
        let m = self.raft.metrics().borrow().clone();
        m.membership_config
            .membership()
            .nodes()
            .map(|(_, n)| n.addr.clone())
            .collect()
    }

    pub fn snapshot(&self) -> Arc<ClusterState> {
        self.state.borrow().clone()
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}

/// Buckets of the apply latency histogram, in seconds: a local fsync on an SD card
/// takes milliseconds, a forwarded write a round trip more, a stuck one up to the
/// 10 s no-quorum limit.
const APPLY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Proposal → applied here, of every write this manager proposed (metrics).
static APPLY_LATENCY: std::sync::Mutex<Option<orc_metrics::Histogram>> =
    std::sync::Mutex::new(None);

fn observe_apply(took: Duration) {
    let mut h = APPLY_LATENCY.lock().unwrap_or_else(|p| p.into_inner());
    h.get_or_insert_with(|| orc_metrics::Histogram::new(&APPLY_BUCKETS))
        .observe(took.as_secs_f64());
}

/// The apply latency histogram so far.
pub fn apply_latency() -> orc_metrics::Histogram {
    APPLY_LATENCY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_else(|| orc_metrics::Histogram::new(&APPLY_BUCKETS))
}
