//! Task logs across nodes: each node keeps its tasks' log files; the manager that
//! answers `orc service logs` reads its own and asks the other nodes for theirs over
//! the cluster port (mutual TLS). `--follow` streams the other nodes' new lines
//! through the Logs RPC.

use super::Ops;
use super::Progress;
use crate::cluster::Cluster;
use orc_model::{NodeId, Task};
use orc_rpc::pb::Frame;
use orc_rpc::wire::{FollowLogs, ForwardReply, ForwardRequest};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::Status;

/// How long the answering manager waits for another node's logs.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Task ids name directories: only plain ids are read.
fn plain_task_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// This node's lines of `tasks` (the last `tail` of each if given). A task whose
/// files cannot be read has no lines here (the error is logged).
pub(crate) fn task_logs(ops: &Ops, tasks: &[String], tail: Option<usize>) -> ForwardReply {
    let root = ops.cfg.logs_dir();
    let out = tasks
        .iter()
        .filter(|id| plain_task_id(id))
        .map(|id| {
            let dir = crate::node::agent::log_dir(&root, id);
            let lines = orc_runtime::read_log_records(&dir, tail).unwrap_or_else(|e| {
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

/// The node side of the Logs RPC: streams `req.task`'s lines from this node's log
/// files into `tx` until the caller hangs up or the task's logs are removed.
pub(crate) async fn serve_follow(
    ops: std::sync::Arc<Ops>,
    req: FollowLogs,
    tx: mpsc::Sender<Result<Frame, Status>>,
) {
    if !plain_task_id(&req.task) {
        let _ = tx
            .send(Err(Status::invalid_argument("not a task id")))
            .await;
        return;
    }
    let dir = crate::node::agent::log_dir(&ops.cfg.logs_dir(), &req.task);
    let lines = tx.clone();
    let follow = orc_runtime::follow_logs(&dir, req.from_end, move |line| {
        let tx = lines.clone();
        async move {
            match orc_rpc::encode(&line) {
                Ok(payload) => tx.send(Ok(Frame { payload })).await.is_ok(),
                Err(_) => false,
            }
        }
    });
    tokio::select! {
        r = follow => {
            if let Err(e) = r {
                let _ = tx.send(Err(Status::unavailable(format!("{}: {e}", dir.display())))).await;
            }
        }
        // An idle log writes nothing: notice the caller leaving all the same.
        _ = tx.closed() => {}
    }
}

/// Follows `task`'s lines on node `node` (another node) through the Logs RPC into
/// `progress` under `label`, until the progress or the stream ends. A node that can't be
/// reached or drops the stream yields one note.
pub(crate) async fn follow_remote(
    cluster: &Cluster,
    node: NodeId,
    task: &Task,
    label: String,
    from_end: bool,
    progress: &Progress,
) {
    let state = cluster.snapshot();
    let Some(n) = state.nodes.get(&node) else {
        return;
    };
    let (addr, host) = (n.address.clone(), n.hostname.clone());
    let req = FollowLogs {
        task: task.id.clone(),
        from_end,
    };
    let opened = async {
        let mut client = cluster.remote.dialer.client(&addr, Some(node))?;
        let payload = orc_rpc::encode(&req).map_err(|e| e.to_string())?;
        let stream = client
            .logs(Frame { payload })
            .await
            .map_err(|s| s.message().to_string())?;
        Ok::<_, String>(stream.into_inner())
    };
    let mut stream = match opened.await {
        Ok(s) => s,
        Err(e) => {
            progress
                .progress(format!("logs of {label} unavailable from {host}: {e}"))
                .await;
            return;
        }
    };
    loop {
        match stream.message().await {
            Ok(Some(f)) => {
                let Ok(line) = orc_rpc::decode::<String>(&f.payload) else {
                    continue;
                };
                if !progress
                    .log(&label, orc_runtime::LogLine::parse(&line))
                    .await
                {
                    return;
                }
            }
            Ok(None) => return,
            Err(s) => {
                progress
                    .progress(format!(
                        "logs of {label} from {host} ended: {}",
                        s.message()
                    ))
                    .await;
                return;
            }
        }
    }
}
