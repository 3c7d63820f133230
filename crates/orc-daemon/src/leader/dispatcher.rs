//! The leader's view of node liveness: sessions touch a node on every heartbeat; a
//! node silent for longer than the grace period is marked down (its tasks are then
//! rescheduled by the orchestrator), and marked ready again when it is heard from.

use crate::cluster::Cluster;
use crate::util::now_ms;
use orc_model::{Command, NodeId, NodeStatus};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

pub struct Dispatcher {
    last_seen: Mutex<HashMap<NodeId, Instant>>,
    /// Nodes this daemon marked down for missed heartbeats while leading (metrics).
    failures: std::sync::atomic::AtomicU64,
    pub heartbeat: Duration,
    pub grace: Duration,
}

impl Dispatcher {
    pub fn new(heartbeat: Duration) -> Dispatcher {
        Dispatcher {
            last_seen: Mutex::new(HashMap::new()),
            failures: Default::default(),
            heartbeat,
            grace: heartbeat * 4,
        }
    }

    pub fn touch(&self, node: NodeId) {
        if let Ok(mut m) = self.last_seen.lock() {
            m.insert(node, Instant::now());
        }
    }

    /// This leader moved: every node's session to it is dead until that node notices
    /// (HTTP/2 keepalive) and reconnects, so nodes alive now get `extra` on top of
    /// the grace period. A node already silent gets nothing.
    pub fn hold_off(&self, extra: Duration) {
        if let Ok(mut m) = self.last_seen.lock() {
            let now = Instant::now();
            for t in m.values_mut() {
                if now.duration_since(*t) <= self.grace {
                    *t = now + extra;
                }
            }
        }
    }

    /// Seconds since each node's last heartbeat (0 while a node is inside a hold-off),
    /// as this node last tracked them: current only on the leader.
    pub fn heartbeat_ages(&self) -> Vec<(NodeId, Duration)> {
        let now = Instant::now();
        let Ok(m) = self.last_seen.lock() else {
            return Vec::new();
        };
        let mut v: Vec<_> = m
            .iter()
            .map(|(n, t)| (*n, now.saturating_duration_since(*t)))
            .collect();
        v.sort();
        v
    }

    /// Nodes marked down for missed heartbeats since the daemon started.
    pub fn failures(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn reset(&self, nodes: impl Iterator<Item = NodeId>) {
        if let Ok(mut m) = self.last_seen.lock() {
            let now = Instant::now();
            m.clear();
            m.extend(nodes.map(|n| (n, now)));
        }
    }

    fn seen(&self, node: NodeId) -> Option<Instant> {
        self.last_seen
            .lock()
            .ok()
            .and_then(|m| m.get(&node).copied())
    }

    pub async fn run(&self, cluster: Cluster, mut stop: watch::Receiver<bool>) {
        let mut was_leader = false;
        let mut tick = tokio::time::interval(self.heartbeat / 2);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let leader = cluster.is_leader();
            if !leader {
                was_leader = false;
                continue;
            }
            let state = cluster.snapshot();
            if !was_leader {
                // A new leader gives every node a full grace period to find it.
                self.reset(state.nodes.keys().copied());
                was_leader = true;
                continue;
            }
            let now = Instant::now();
            let mut cmds = Vec::new();
            for n in state.nodes.values() {
                if n.id == cluster.node_id {
                    if n.status != NodeStatus::Ready {
                        cmds.push(status(n.id, NodeStatus::Ready, ""));
                    }
                    continue;
                }
                let alive = self
                    .seen(n.id)
                    .is_some_and(|t| now.duration_since(t) <= self.grace);
                match (n.status, alive) {
                    (NodeStatus::Ready, false) | (NodeStatus::Unknown, false) => {
                        tracing::warn!(node = %format!("{:016x}", n.id), host = %n.hostname, "heartbeats missed: node down");
                        cmds.push(status(n.id, NodeStatus::Down, "heartbeat failure"));
                        self.failures
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    (NodeStatus::Down, true) | (NodeStatus::Unknown, true) => {
                        tracing::info!(node = %format!("{:016x}", n.id), host = %n.hostname, "node is back");
                        cmds.push(status(n.id, NodeStatus::Ready, ""));
                    }
                    _ => {}
                }
            }
            if !cmds.is_empty() {
                if let Err(e) = cluster.propose(Command::Batch(cmds)).await {
                    tracing::warn!("dispatcher: {e}");
                }
            }
        }
    }
}

fn status(id: NodeId, status: NodeStatus, message: &str) -> Command {
    Command::SetNodeStatus {
        id,
        status,
        message: message.into(),
        at: now_ms(),
    }
}
