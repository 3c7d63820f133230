//! What this node and its tasks use: each node reads its own running containers'
//! cgroups and network namespaces ([`Ops::task_stats_local`], also answered to
//! managers over the cluster port); `orc stats` ([`Ops::stats`]) gathers every
//! node's report twice for the CPU share. The metrics front door reads its figures
//! here too ([`Ops::node_sample`], [`Ops::raft_figures`]).

use super::{views, Ops};
use crate::cluster::Cluster;
use crate::util::now_ms;
use crate::DaemonError;
use orc_api::TaskStatRow;
use orc_metrics::node::{NodeSample, Roots};
use orc_metrics::render::RaftFigures;
use orc_metrics::stats::{cpu_percent, NodeTaskStats, TaskReport};
use orc_model::{ClusterState, NodeId, TaskState};
use orc_rpc::wire::{ForwardReply, ForwardRequest};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// How long the asking manager waits for another node's report.
const ASK_TIMEOUT: Duration = Duration::from_secs(3);

/// The container labels the agent sets (node::agent::container).
const LABEL_SERVICE_NAME: &str = "orc.service.name";
const LABEL_SLOT: &str = "orc.task.slot";

impl Ops {
    /// This node's running containers and what they use. A container whose cgroup
    /// can't be read (it just ended) is left out.
    pub async fn task_stats_local(&self) -> NodeTaskStats {
        let containers = match self.runtime.list().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("stats: listing containers: {e}");
                return NodeTaskStats {
                    at_ms: now_ms(),
                    tasks: Vec::new(),
                };
            }
        };
        let running: Vec<(TaskReport, u32)> = containers
            .into_iter()
            .filter_map(|c| {
                let pid = c.pid?;
                let report = TaskReport {
                    service: c
                        .labels
                        .get(LABEL_SERVICE_NAME)
                        .cloned()
                        .unwrap_or_default(),
                    slot: c
                        .labels
                        .get(LABEL_SLOT)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0),
                    task: c.id,
                    usage: Default::default(),
                };
                Some((report, pid))
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            let tasks = running
                .into_iter()
                .filter_map(|(mut r, pid)| {
                    let proc = Path::new("/proc");
                    match orc_metrics::cgroup::task_usage(proc, Path::new("/sys/fs/cgroup"), pid) {
                        Ok(u) => {
                            r.usage = u;
                            Some(r)
                        }
                        Err(e) => {
                            tracing::debug!("stats: task {}: {e}", r.task);
                            None
                        }
                    }
                })
                .collect();
            NodeTaskStats {
                at_ms: now_ms(),
                tasks,
            }
        })
        .await
        .unwrap_or_default()
    }

    /// The node's own figures (CPU, memory, load, / and the data dir, thermal
    /// zones, eMMC wear, this daemon's RSS and disk writes).
    pub async fn node_sample(&self) -> NodeSample {
        let data_dir = self.cfg.data_dir.clone();
        tokio::task::spawn_blocking(move || {
            orc_metrics::node::sample(
                &Roots::default(),
                &[("/", Path::new("/")), ("data", &data_dir)],
            )
        })
        .await
        .unwrap_or_default()
    }

    /// This manager's Raft figures; None on a worker.
    pub fn raft_figures(&self) -> Option<RaftFigures> {
        let c = self.cluster().ok()?;
        let m = c.raft.metrics().borrow().clone();
        let applied = m.last_applied.map(|l| l.index).unwrap_or(0);
        let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
        let leading = m.current_leader == Some(c.node_id);
        // openraft 0.9 doesn't publish the commit index: the leader's is the highest
        // index a majority of voters hold; a follower applies what it learns is
        // committed at once, so its applied index stands for it.
        let commit = match (&m.replication, leading) {
            (Some(rep), true) => {
                let mut matched: Vec<u64> = voters
                    .iter()
                    .map(|v| {
                        if *v == c.node_id {
                            m.last_log_index.unwrap_or(0)
                        } else {
                            rep.get(v).and_then(|l| l.map(|l| l.index)).unwrap_or(0)
                        }
                    })
                    .collect();
                matched.sort_unstable_by(|a, b| b.cmp(a));
                matched
                    .get(voters.len() / 2)
                    .copied()
                    .unwrap_or(0)
                    .max(applied)
            }
            _ => applied,
        };
        Some(RaftFigures {
            term: m.current_term,
            commit_index: commit,
            applied_index: applied,
            is_leader: leading,
            leader_changes: self.observer.leader_changes(),
            snapshot_age_seconds: c
                .snapshot_clock
                .built_at_ms()
                .map(|t| crate::util::now_ms().saturating_sub(t) as f64 / 1000.0),
            snapshot_index: m.snapshot.map(|l| l.index),
            apply_latency: Some(crate::cluster::apply_latency()),
            voters: voters.len() as u64,
        })
    }

    /// `orc stats`: every node's report twice, `interval` apart; one row per task
    /// running both times, only `services` when given.
    pub async fn stats(
        &self,
        services: &[String],
        interval: Duration,
    ) -> Result<Vec<TaskStatRow>, DaemonError> {
        let cluster = self.cluster()?;
        let state = cluster.snapshot();
        for s in services {
            if state.service_by_name(s).is_none() {
                return Err(DaemonError::Invalid(format!("no service named {s}")));
            }
        }
        let first = self.gather(&cluster, &state).await;
        tokio::time::sleep(interval).await;
        let state = cluster.snapshot();
        let second = self.gather(&cluster, &state).await;
        let mut rows = Vec::new();
        for (node, report) in &second {
            let host = state
                .nodes
                .get(node)
                .map(|n| n.hostname.clone())
                .unwrap_or_else(|| views::node_id_str(*node));
            for r in &report.tasks {
                let Some(t) = state.tasks.get(&r.task) else {
                    continue;
                };
                if !services.is_empty() && !services.contains(&t.service_name) {
                    continue;
                }
                let u = &r.usage;
                let cpu = first
                    .get(node)
                    .and_then(|f| Some((f.at_ms, f.get(&r.task)?)))
                    .map(|(at, before)| cpu_percent(before, at, u, report.at_ms))
                    .unwrap_or(0.0);
                rows.push(TaskStatRow {
                    task: r.task.clone(),
                    name: views::task_name(t),
                    service: t.service_name.clone(),
                    node: host.clone(),
                    cpu_percent: (cpu * 10.0).round() / 10.0,
                    cpu_seconds: u.cpu_seconds,
                    memory_bytes: u.memory_bytes,
                    memory_limit_bytes: u.memory_limit_bytes,
                    net_rx_bytes: u.net_rx_bytes,
                    net_tx_bytes: u.net_tx_bytes,
                    block_read_bytes: u.block_read_bytes,
                    block_write_bytes: u.block_write_bytes,
                });
            }
        }
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(rows)
    }

    /// The report of every node that runs a task (this one's read here), by node.
    /// A node that doesn't answer is left out (logged).
    async fn gather(
        &self,
        cluster: &Cluster,
        state: &ClusterState,
    ) -> BTreeMap<NodeId, NodeTaskStats> {
        let mut nodes: Vec<NodeId> = state
            .tasks
            .values()
            .filter(|t| t.status.state == TaskState::Running)
            .filter_map(|t| t.node_id)
            .filter(|n| *n != cluster.node_id)
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        let asks = nodes.into_iter().filter_map(|id| {
            let addr = state.nodes.get(&id)?.address.clone();
            Some(async move {
                let r = cluster
                    .remote
                    .ask(&addr, Some(id), &ForwardRequest::TaskStats, ASK_TIMEOUT)
                    .await;
                let parsed = match r {
                    Ok(ForwardReply::Json(s)) => {
                        serde_json::from_str::<NodeTaskStats>(&s).map_err(|e| e.to_string())
                    }
                    Ok(other) => Err(format!("unexpected answer {other:?}")),
                    Err(e) => Err(e.to_string()),
                };
                parsed
                    .map(|s| (id, s))
                    .map_err(|e| tracing::warn!("stats from {addr}: {e}"))
                    .ok()
            })
        });
        let (mine, others) = tokio::join!(self.task_stats_local(), futures::future::join_all(asks));
        let mut out: BTreeMap<NodeId, NodeTaskStats> = others.into_iter().flatten().collect();
        out.insert(cluster.node_id, mine);
        out
    }
}
