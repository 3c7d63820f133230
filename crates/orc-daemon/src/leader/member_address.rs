//! The leader keeps each manager's Raft membership address equal to the address in
//! its node record: a manager that moved (a new DHCP lease, `--advertise`) commits
//! its record, and this makes the voters dial it there (`ChangeMembers::SetNodes`,
//! one config change: the voter set stays the same).

use crate::cluster::Cluster;
use crate::DaemonError;
use openraft::{BasicNode, ChangeMembers};
use orc_model::{ClusterState, NodeId, NodeRole};
use std::collections::BTreeMap;

/// Members whose node record (a manager's, not revoked) holds another valid
/// `IP:PORT` than the membership: id → the record's address.
pub(crate) fn moved(
    members: &BTreeMap<NodeId, String>,
    state: &ClusterState,
) -> BTreeMap<NodeId, String> {
    members
        .iter()
        .filter(|(id, _)| !state.revoked_nodes.contains(id))
        .filter_map(|(id, addr)| {
            let n = state.nodes.get(id)?;
            let valid = n.address.parse::<std::net::SocketAddr>().is_ok();
            (n.role == NodeRole::Manager && valid && n.address != *addr)
                .then(|| (*id, n.address.clone()))
        })
        .collect()
}

/// The Raft members: node id → the address Raft dials it on.
pub(crate) fn members(cluster: &Cluster) -> BTreeMap<NodeId, String> {
    let m = cluster.raft.metrics().borrow().membership_config.clone();
    m.membership()
        .nodes()
        .map(|(id, n)| (*id, n.addr.clone()))
        .collect()
}

/// On the leader: moves the membership addresses of managers whose record changed.
pub(crate) async fn sync(cluster: &Cluster) -> Result<(), DaemonError> {
    if !cluster.is_leader() {
        return Ok(());
    }
    let moved = moved(&members(cluster), &cluster.snapshot());
    if moved.is_empty() {
        return Ok(());
    }
    tracing::info!(
        ?moved,
        "managers changed address: updating the Raft membership"
    );
    let nodes = moved
        .into_iter()
        .map(|(id, addr)| (id, BasicNode { addr }))
        .collect();
    cluster
        .raft
        .change_membership(ChangeMembers::SetNodes(nodes), false)
        .await
        .map(|_| ())
        .map_err(|e| DaemonError::Raft(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: NodeId, role: NodeRole, address: &str) -> orc_model::Node {
        crate::util::test_node(id, role, address)
    }

    #[test]
    fn only_managers_whose_record_holds_a_new_valid_address_move() {
        let mut state = ClusterState::default();
        for n in [
            node(1, NodeRole::Manager, "10.0.0.1:4747"),
            node(2, NodeRole::Manager, "10.0.0.42:4747"),
            node(3, NodeRole::Worker, "10.0.0.43:4747"),
            node(4, NodeRole::Manager, "not-an-address"),
            node(5, NodeRole::Manager, "10.0.0.45:4747"),
        ] {
            state.nodes.insert(n.id, n);
        }
        state.revoked_nodes.insert(5);
        let members: BTreeMap<NodeId, String> =
            (1..=6).map(|i| (i, format!("10.0.0.{i}:4747"))).collect();
        let m = moved(&members, &state);
        assert_eq!(m, [(2, "10.0.0.42:4747".to_string())].into());
    }
}
