//! Lifting a fence: a node fenced off Ceph volumes (blocklisted while it was down)
//! that came back and reported every one of them released gets its blocklist entry
//! removed by the leader, which then commits `Command::Unfence`.

use orc_model::{ClusterState, NodeId, NodeStatus};
use std::collections::BTreeMap;

/// A blocklist entry the leader may lift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfenceRequest {
    /// The returned node.
    pub node: NodeId,
    /// Its address (what fencing blocklisted).
    pub address: String,
}

/// Nodes that are ready again and released every volume they were fenced off. The
/// blocklist entry covers the node's address for all of Ceph, so one volume still
/// unreleased keeps it. A node removed from the cluster stays blocklisted (the entry
/// expires at Ceph).
pub fn unfence_requests(state: &ClusterState) -> Vec<UnfenceRequest> {
    let mut clean: BTreeMap<NodeId, bool> = BTreeMap::new();
    for v in state.storage.volumes.values() {
        for n in &v.fenced {
            let ok = clean.entry(*n).or_insert(true);
            *ok &= v.released.contains(n);
        }
    }
    clean
        .into_iter()
        .filter(|(_, ok)| *ok)
        .filter_map(|(id, _)| {
            let n = state.nodes.get(&id)?;
            (n.status == NodeStatus::Ready).then(|| UnfenceRequest {
                node: id,
                address: n.address.clone(),
            })
        })
        .collect()
}

/// After a volume fenced off the nodes `fenced` was deleted: those of them that no
/// remaining volume fences, whose blocklist entries now protect nothing and would
/// only stop them using other Ceph volumes. Unlike [`unfence_requests`], a node needn't
/// be back: the deleted volume's data is gone, so its stale writes can't harm it.
pub fn lift_after_removal(
    state: &ClusterState,
    fenced: &std::collections::BTreeSet<NodeId>,
) -> Vec<UnfenceRequest> {
    fenced
        .iter()
        .filter(|n| {
            !state
                .storage
                .volumes
                .values()
                .any(|v| v.fenced.contains(*n))
        })
        .filter_map(|id| {
            let n = state.nodes.get(id)?;
            Some(UnfenceRequest {
                node: *id,
                address: n.address.clone(),
            })
        })
        .collect()
}
