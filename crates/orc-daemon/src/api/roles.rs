//! `orc node promote`, `orc node demote` and `orc cluster leave`. The role is cluster
//! state; the leader's membership janitor and the node itself follow it (see
//! `crate::role`). These handlers commit it, then wait until Raft membership shows it.

use super::Sink;
use crate::util::now_ms;
use crate::{identity, membership, views, Daemon, DaemonError};
use orc_model::{Command, NodeRole, NodeStatus};
use orc_rpc::wire::ForwardRequest;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long a role change may take to show in Raft membership.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(60);

/// Commits `role` for node `id`, then waits until Raft membership follows it: a
/// manager becomes a voter, a worker stops being one.
async fn commit_role(
    cluster: &crate::cluster::Cluster,
    id: u64,
    host: &str,
    role: NodeRole,
    sink: &Sink,
) -> Result<(), DaemonError> {
    cluster
        .propose(Command::SetNodeRole {
            id,
            role,
            at: now_ms(),
        })
        .await?;
    let secs = SWITCH_TIMEOUT.as_secs();
    let (voter, waiting, failed) = match role {
        NodeRole::Manager => (
            true,
            "manager role committed, waiting for it to join the Raft voters",
            format!("{host} has the manager role but did not become a Raft voter within {secs} s (is it running? see its daemon log)"),
        ),
        NodeRole::Worker => (
            false,
            "worker role committed, waiting for it to leave the Raft voters",
            format!("{host} has the worker role but is still a Raft voter after {secs} s (is a quorum of managers up?)"),
        ),
    };
    sink.progress(format!("{host}: {waiting}")).await;
    if !membership::wait_voter(cluster, id, voter, SWITCH_TIMEOUT).await {
        return Err(DaemonError::Invalid(failed));
    }
    Ok(())
}

pub async fn promote(daemon: &Daemon, node: &str, sink: &Sink) -> Result<Value, DaemonError> {
    let cluster = daemon.cluster()?;
    let state = cluster.snapshot();
    let id = super::nodes::resolve(&state, node)?;
    let n = state
        .nodes
        .get(&id)
        .ok_or_else(|| DaemonError::Invalid(format!("no node named {node}")))?;
    if n.role == NodeRole::Manager {
        return Err(DaemonError::Invalid(format!(
            "{} is already a manager",
            n.hostname
        )));
    }
    if n.status != NodeStatus::Ready {
        return Err(DaemonError::Invalid(format!(
            "{} is {}: only a reachable node can become a manager",
            n.hostname,
            n.status.as_str()
        )));
    }
    let host = n.hostname.clone();
    commit_role(&cluster, id, &host, NodeRole::Manager, sink).await?;
    Ok(json!({ "promoted": views::node_id_str(id), "hostname": host }))
}

pub async fn demote(
    daemon: &Daemon,
    node: &str,
    force: bool,
    sink: &Sink,
) -> Result<Value, DaemonError> {
    let cluster = daemon.cluster()?;
    let state = cluster.snapshot();
    let id = super::nodes::resolve(&state, node)?;
    let n = state
        .nodes
        .get(&id)
        .ok_or_else(|| DaemonError::Invalid(format!("no node named {node}")))?;
    if n.role == NodeRole::Worker {
        return Err(DaemonError::Invalid(format!(
            "{} is already a worker",
            n.hostname
        )));
    }
    let voters = membership::voters(&cluster);
    if voters == [id] {
        return Err(DaemonError::Invalid(format!(
            "{} is the last manager: promote another node first",
            n.hostname
        )));
    }
    if !force {
        membership::check_quorum_without(&cluster, id)?;
    }
    let host = n.hostname.clone();
    commit_role(&cluster, id, &host, NodeRole::Worker, sink).await?;
    Ok(json!({ "demoted": views::node_id_str(id), "hostname": host }))
}

pub async fn leave(daemon: Arc<Daemon>, force: bool, sink: &Sink) -> Result<Value, DaemonError> {
    let _guard = daemon.lifecycle.lock().await;
    let Some(me) = identity::load(&daemon.cfg.data_dir)? else {
        return Err(DaemonError::NoCluster);
    };
    match daemon.cluster() {
        Ok(cluster) => {
            let voters = membership::voters(&cluster);
            let last = voters == [me.node_id];
            if !force {
                membership::check_quorum_without(&cluster, me.node_id)?;
            }
            if !last {
                let out = leave_as_manager(&cluster, me.node_id, sink).await;
                if let Err(e) = out {
                    if !force {
                        return Err(e);
                    }
                    tracing::warn!("leaving with --force despite: {e}");
                }
            }
        }
        Err(_) => {
            let remote = daemon.worker_tx.borrow().clone();
            if let Some(remote) = remote {
                let cmd = Command::RemoveNode { id: me.node_id };
                if let Err(e) = remote.forward(ForwardRequest::Command(cmd), None).await {
                    if !force {
                        return Err(DaemonError::Invalid(format!(
                            "the managers could not be told ({e}); use --force to leave anyway"
                        )));
                    }
                }
            }
        }
    }
    sink.progress("removing this node's containers").await;
    daemon.forget_cluster().await?;
    Ok(json!({ "left": me.cluster_id, "node_id": views::node_id_str(me.node_id) }))
}

/// Leaves the voters first (so the cluster keeps deciding), then the node table.
async fn leave_as_manager(
    cluster: &crate::cluster::Cluster,
    id: orc_model::NodeId,
    sink: &Sink,
) -> Result<(), DaemonError> {
    cluster
        .propose(Command::SetNodeRole {
            id,
            role: NodeRole::Worker,
            at: now_ms(),
        })
        .await?;
    sink.progress("leaving the Raft voters").await;
    if !membership::wait_voter(cluster, id, false, SWITCH_TIMEOUT).await {
        return Err(DaemonError::Invalid(
            "still a Raft voter: is a quorum of managers up?".into(),
        ));
    }
    cluster.wait_leader(Duration::from_secs(10)).await?;
    cluster.propose(Command::RemoveNode { id }).await?;
    Ok(())
}
