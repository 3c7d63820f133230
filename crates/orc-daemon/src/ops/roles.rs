//! `orc node promote`, `orc node demote` and `orc cluster leave`. The role is cluster
//! state; the leader's membership janitor and the node itself follow it (see
//! `crate::role`). These handlers commit it, then wait until Raft membership shows it.

use super::Progress;
use super::{views, Ops};
use crate::cluster::identity;
use crate::leader::membership;
use crate::util::now_ms;
use crate::DaemonError;
use orc_model::{Command, NodeRole, NodeStatus};
use orc_rpc::wire::ForwardRequest;
use serde_json::{json, Value};
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
    progress: &Progress,
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
            format!("{host} has the manager role but did not become a Raft voter within {secs} s (is it running? see its ops log)"),
        ),
        NodeRole::Worker => (
            false,
            "worker role committed, waiting for it to leave the Raft voters",
            format!("{host} has the worker role but is still a Raft voter after {secs} s (is a quorum of managers up?)"),
        ),
    };
    progress.progress(format!("{host}: {waiting}")).await;
    if !membership::wait_voter(cluster, id, voter, SWITCH_TIMEOUT).await {
        return Err(DaemonError::Invalid(failed));
    }
    Ok(())
}

pub async fn promote(ops: &Ops, node: &str, progress: &Progress) -> Result<Value, DaemonError> {
    let cluster = ops.cluster()?;
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
    // Demoted a moment ago, it may still be a Raft learner on its way out. Its Raft
    // restarts on an empty log when it becomes a manager again, which a leader still
    // replicating to its old log refuses (openraft: follower log reversion): let it
    // leave the membership first.
    if membership::members(&cluster).1.contains(&id) {
        progress
            .progress(format!(
                "{host}: waiting for it to leave the Raft membership (demoted a moment ago)"
            ))
            .await;
        if !membership::wait_not_member(&cluster, id, SWITCH_TIMEOUT).await {
            return Err(DaemonError::Invalid(format!(
                "{host} is still in the Raft membership {} s after its demotion (is a quorum of managers up?); try again",
                SWITCH_TIMEOUT.as_secs()
            )));
        }
    }
    commit_role(&cluster, id, &host, NodeRole::Manager, progress).await?;
    Ok(json!({ "promoted": views::node_id_str(id), "hostname": host }))
}

pub async fn demote(
    ops: &Ops,
    node: &str,
    force: bool,
    progress: &Progress,
) -> Result<Value, DaemonError> {
    let cluster = ops.cluster()?;
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
    commit_role(&cluster, id, &host, NodeRole::Worker, progress).await?;
    Ok(json!({ "demoted": views::node_id_str(id), "hostname": host }))
}

pub async fn leave(ops: &Ops, force: bool, progress: &Progress) -> Result<Value, DaemonError> {
    let _guard = ops.lifecycle.lock().await;
    let Some(me) = identity::load(&ops.cfg.data_dir)? else {
        return Err(DaemonError::NoCluster);
    };
    match ops.cluster() {
        Ok(cluster) => {
            let voters = membership::voters(&cluster);
            let last = voters == [me.node_id];
            if !force {
                membership::check_quorum_without(&cluster, me.node_id)?;
            }
            if !last {
                let out = leave_as_manager(&cluster, me.node_id, progress).await;
                if let Err(e) = out {
                    if !force {
                        return Err(e);
                    }
                    tracing::warn!("leaving with --force despite: {e}");
                }
            }
        }
        Err(_) => {
            let remote = ops.worker();
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
    progress.progress("removing this node's containers").await;
    let removed = ops.life.forget_cluster().await?;
    Ok(json!({
        "left": me.cluster_id,
        "node_id": views::node_id_str(me.node_id),
        "removed": removed,
    }))
}

/// Leaves the voters first (so the cluster keeps deciding), then the node table.
async fn leave_as_manager(
    cluster: &crate::cluster::Cluster,
    id: orc_model::NodeId,
    progress: &Progress,
) -> Result<(), DaemonError> {
    cluster
        .propose(Command::SetNodeRole {
            id,
            role: NodeRole::Worker,
            at: now_ms(),
        })
        .await?;
    progress.progress("leaving the Raft voters").await;
    if !membership::wait_voter(cluster, id, false, SWITCH_TIMEOUT).await {
        return Err(DaemonError::Invalid(
            "still a Raft voter: is a quorum of managers up?".into(),
        ));
    }
    cluster.wait_leader(Duration::from_secs(10)).await?;
    cluster.propose(Command::RemoveNode { id }).await?;
    Ok(())
}
