//! Raft membership changes (openraft's joint consensus), and the quorum checks that
//! refuse a change which would leave the cluster unable to decide.

use crate::cluster::Cluster;
use crate::DaemonError;
use openraft::{BasicNode, ChangeMembers};
use orc_model::{NodeId, NodeStatus};
use std::collections::{BTreeMap, BTreeSet};

pub async fn add_voter(cluster: &Cluster, id: NodeId, addr: &str) -> Result<(), DaemonError> {
    let voters: BTreeSet<NodeId> = cluster
        .raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .collect();
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
    cluster
        .raft
        .change_membership(
            ChangeMembers::AddVoterIds([id].into_iter().collect()),
            false,
        )
        .await
        .map_err(|e| DaemonError::Raft(e.to_string()))?;
    Ok(())
}

/// Removes a voter (and its node entry from membership).
pub async fn remove_voter(cluster: &Cluster, id: NodeId) -> Result<(), DaemonError> {
    let members: BTreeMap<NodeId, BasicNode> = cluster
        .raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .nodes()
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    if !members.contains_key(&id) {
        return Ok(());
    }
    cluster
        .raft
        .change_membership(
            ChangeMembers::RemoveVoters([id].into_iter().collect()),
            false,
        )
        .await
        .map_err(|e| DaemonError::Raft(e.to_string()))?;
    let _ = cluster
        .raft
        .change_membership(
            ChangeMembers::RemoveNodes([id].into_iter().collect()),
            false,
        )
        .await;
    Ok(())
}

/// Would removing `leaving` from the voters leave a majority of reachable voters?
/// Refuses with the reason otherwise.
pub fn check_quorum_without(cluster: &Cluster, leaving: NodeId) -> Result<(), DaemonError> {
    let voters: Vec<NodeId> = cluster
        .raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .collect();
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
