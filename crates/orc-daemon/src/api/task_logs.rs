//! Task logs across nodes: each node keeps its tasks' log files; the manager that
//! answers `orc service logs` reads its own and asks the other nodes for theirs over
//! the cluster port (mutual TLS).

use crate::cluster::Cluster;
use crate::Daemon;
use orc_model::{NodeId, Task};
use orc_rpc::wire::{ForwardReply, ForwardRequest};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long the answering manager waits for another node's logs.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// This node's lines of `tasks` (the last `tail` of each if given). A task whose
/// files cannot be read has no lines here (the error is logged).
pub(crate) fn task_logs(daemon: &Daemon, tasks: &[String], tail: Option<usize>) -> ForwardReply {
    let root = daemon.cfg.logs_dir();
    let out = tasks
        .iter()
        // Task ids name directories: only plain ids are read.
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|id| {
            let dir = crate::agent::log_dir(&root, id);
            let lines = orc_runtime::read_logs(&dir, tail).unwrap_or_else(|e| {
                tracing::warn!("reading {}: {e}", dir.display());
                Vec::new()
            });
            (id.clone(), lines)
        })
        .collect();
    ForwardReply::Logs(out)
}

/// The lines of `tasks` that run on other nodes, fetched per node. A node that does
/// not answer yields a note instead (its address and why).
pub(crate) async fn fetch_remote(
    cluster: &Cluster,
    tasks: &[&Task],
    tail: Option<usize>,
) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let state = cluster.snapshot();
    let mut by_node: BTreeMap<NodeId, Vec<String>> = BTreeMap::new();
    for t in tasks {
        if let Some(n) = t.node_id.filter(|n| *n != cluster.node_id) {
            by_node.entry(n).or_default().push(t.id.clone());
        }
    }
    let asks = by_node.into_iter().map(|(node, ids)| {
        let addr = state
            .nodes
            .get(&node)
            .map(|n| (n.address.clone(), n.hostname.clone()));
        async move {
            let Some((addr, host)) = addr else {
                return Err(format!("node {node:016x} is no longer in the cluster"));
            };
            let req = ForwardRequest::TaskLogs { tasks: ids, tail };
            match cluster
                .remote
                .ask(&addr, Some(node), &req, FETCH_TIMEOUT)
                .await
            {
                Ok(ForwardReply::Logs(v)) => Ok(v),
                Ok(other) => Err(format!("{host} ({addr}): unexpected answer {other:?}")),
                Err(e) => Err(format!("{host}: {e}")),
            }
        }
    });
    let mut lines = BTreeMap::new();
    let mut notes = Vec::new();
    for r in futures::future::join_all(asks).await {
        match r {
            Ok(v) => lines.extend(v),
            Err(e) => notes.push(format!("logs unavailable from {e}")),
        }
    }
    (lines, notes)
}
