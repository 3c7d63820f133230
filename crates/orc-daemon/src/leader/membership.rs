//! Raft membership changes (openraft's joint consensus), and the quorum checks that
//! refuse a change which would leave the cluster unable to decide.

use crate::cluster::Cluster;
use crate::DaemonError;
use openraft::{BasicNode, ChangeMembers};
use orc_model::{NodeId, NodeStatus};

/// The current Raft membership: voters, and every member node (voters and learners).
pub fn members(cluster: &Cluster) -> (Vec<NodeId>, Vec<NodeId>) {
    let m = cluster.raft.metrics().borrow().membership_config.clone();
    let mem = m.membership();
    (
        mem.voter_ids().collect(),
        mem.nodes().map(|(k, _)| *k).collect(),
    )
}

/// The current Raft voters.
pub fn voters(cluster: &Cluster) -> Vec<NodeId> {
    members(cluster).0
}

async fn change(cluster: &Cluster, c: ChangeMembers<NodeId, BasicNode>) -> Result<(), DaemonError> {
    cluster
        .raft
        .change_membership(c, false)
        .await
        .map(|_| ())
        .map_err(|e| DaemonError::Raft(e.to_string()))
}

pub async fn add_voter(cluster: &Cluster, id: NodeId, addr: &str) -> Result<(), DaemonError> {
    let (voters, _) = members(cluster);
    if voters.contains(&id) {
        return Ok(());
    }
    cluster
        .raft
        .add_learner(
            id,
            BasicNode {
                addr: addr.to_string(),
            },
            true,
        )
        .await
        .map_err(|e| DaemonError::Raft(e.to_string()))?;
    change(
        cluster,
        ChangeMembers::AddVoterIds([id].into_iter().collect()),
    )
    .await?;
    Ok(())
}

/// Would removing `leaving` from the voters leave a majority of reachable voters?
/// Refuses with the reason otherwise.
pub fn check_quorum_without(cluster: &Cluster, leaving: NodeId) -> Result<(), DaemonError> {
    let (voters, _) = members(cluster);
    if !voters.contains(&leaving) {
        return Ok(());
    }
    let state = cluster.snapshot();
    let remaining: Vec<NodeId> = voters.iter().copied().filter(|v| *v != leaving).collect();
    if remaining.is_empty() {
        return Err(DaemonError::Invalid(
            "this is the last manager: removing it would destroy the cluster (use --force to do it anyway)".into(),
        ));
    }
    let reachable = remaining
        .iter()
        .filter(|v| {
            state
                .nodes
                .get(v)
                .is_some_and(|n| n.status == NodeStatus::Ready)
        })
        .count();
    let need = remaining.len() / 2 + 1;
    if reachable < need {
        return Err(DaemonError::Invalid(format!(
            "it would leave {reachable} reachable manager(s) of {}, fewer than the {need} a quorum needs (use --force to do it anyway)",
            remaining.len()
        )));
    }
    Ok(())
}

/// The leader's membership janitor: Raft membership follows the node table. A voter
/// whose node was demoted (role worker) or removed leaves the voters (joint
/// consensus); a non-voter member in that case leaves the membership. A leader that
/// removes itself steps down once the change commits; the next leader finishes.
pub async fn converge(cluster: &Cluster) -> Result<(), DaemonError> {
    if !cluster.is_leader() {
        return Ok(());
    }
    let state = cluster.snapshot();
    let gone = |id: &NodeId| {
        state.revoked_nodes.contains(id)
            || state
                .nodes
                .get(id)
                .is_some_and(|n| n.role == orc_model::NodeRole::Worker)
    };
    let (voters, nodes) = members(cluster);
    let leaving: std::collections::BTreeSet<NodeId> =
        voters.iter().copied().filter(|v| gone(v)).collect();
    if !leaving.is_empty() && leaving.len() < voters.len() {
        tracing::info!(
            ?leaving,
            "removing demoted or removed managers from the Raft voters"
        );
        // Kept as learners (retain): they must still receive the config that no
        // longer counts them, or they would think themselves voters and campaign.
        return cluster
            .raft
            .change_membership(ChangeMembers::RemoveVoters(leaving), true)
            .await
            .map(|_| ())
            .map_err(|e| DaemonError::Raft(e.to_string()));
    }
    // A demoted node switches once it holds the config without it as voter: it
    // leaves the membership only after that reached it (or if it is unreachable).
    let metrics = cluster.raft.metrics().borrow().clone();
    let config_at = *metrics.membership_config.log_id();
    let has_config = |n: &NodeId| {
        metrics
            .replication
            .as_ref()
            .and_then(|r| r.get(n).cloned())
            .is_some_and(|matched| matched >= config_at)
    };
    let unreachable = |n: &NodeId| {
        state
            .nodes
            .get(n)
            .is_none_or(|node| node.status != NodeStatus::Ready)
    };
    let stale: std::collections::BTreeSet<NodeId> = nodes
        .iter()
        .copied()
        .filter(|n| !voters.contains(n) && gone(n) && (has_config(n) || unreachable(n)))
        .collect();
    if !stale.is_empty() {
        return change(cluster, ChangeMembers::RemoveNodes(stale)).await;
    }
    Ok(())
}

/// Waits until this node's view of the Raft membership satisfies `holds`; false if it
/// still doesn't after `timeout`.
async fn wait_membership(
    cluster: &Cluster,
    timeout: std::time::Duration,
    holds: impl Fn(&openraft::Membership<NodeId, BasicNode>) -> bool,
) -> bool {
    let mut m = cluster.raft.metrics();
    let reached = tokio::time::timeout(
        timeout,
        m.wait_for(|m| holds(m.membership_config.membership())),
    )
    .await
    .is_ok();
    reached
}

/// Waits until node `id` is no member at all (neither voter nor learner); false if it
/// still is after `timeout`.
pub async fn wait_not_member(cluster: &Cluster, id: NodeId, timeout: std::time::Duration) -> bool {
    wait_membership(cluster, timeout, |m| !m.nodes().any(|(n, _)| *n == id)).await
}

/// Waits until node `id` is (`voter`) or is not a Raft voter; false after `timeout`.
pub async fn wait_voter(
    cluster: &Cluster,
    id: NodeId,
    voter: bool,
    timeout: std::time::Duration,
) -> bool {
    wait_membership(cluster, timeout, |m| {
        m.voter_ids().any(|v| v == id) == voter
    })
    .await
}
