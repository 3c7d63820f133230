//! Raft membership changes (openraft's joint consensus), and the quorum checks that
//! refuse a change which would leave the cluster unable to decide.

use crate::cluster::Cluster;
use crate::DaemonError;
use openraft::{BasicNode, ChangeMembers};
use orc_model::{NodeId, NodeStatus};

/// The current Raft membership: voters, and every member node (voters and learners).
fn members(cluster: &Cluster) -> (Vec<NodeId>, Vec<NodeId>) {
    let m = cluster.raft.metrics().borrow().membership_config.clone();
    let mem = m.membership();
    (
        mem.voter_ids().collect(),
        mem.nodes().map(|(k, _)| *k).collect(),
    )
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

/// Removes a voter (and its node entry from membership).
pub async fn remove_voter(cluster: &Cluster, id: NodeId) -> Result<(), DaemonError> {
    let (_, nodes) = members(cluster);
    if !nodes.contains(&id) {
        return Ok(());
    }
    change(
        cluster,
        ChangeMembers::RemoveVoters([id].into_iter().collect()),
    )
    .await?;
    let _ = change(
        cluster,
        ChangeMembers::RemoveNodes([id].into_iter().collect()),
    )
    .await;
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
