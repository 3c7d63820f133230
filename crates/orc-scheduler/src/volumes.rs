//! Placement against volumes, and the leader's volume claims.
//!
//! A local volume lives on one node (its home); a single-writer volume (rbd, local)
//! attached on a node stays there until that node detaches it (its task ended) or is
//! fenced (it went down). The scheduler places a task using such a volume only on
//! that node; [`volume_claims`] records attachments for new placements and asks for
//! fencing when the holder is down.

use crate::filter::{nodes, Filter, NodeInfo};
use orc_model::{Attachment, ClusterState, Command, NodeId, NodeStatus, Task, TaskId, Timestamp};
use orc_spec::{Mount, VolumeDriver};
use std::collections::{BTreeMap, BTreeSet};

/// The volumes of a task's spec, by full name.
pub fn task_volumes(task: &Task) -> impl Iterator<Item = &str> {
    task.spec.mounts.iter().filter_map(|m| match m {
        Mount::Volume { name, .. } => Some(name.as_str()),
        _ => None,
    })
}

/// Volumes that can be used on one node only right now, and that node.
pub fn volume_pins(state: &ClusterState) -> BTreeMap<String, NodeId> {
    state
        .storage
        .volumes
        .values()
        .filter_map(|v| {
            let node = match (&v.spec.driver, v.home_node, &v.attachment) {
                (VolumeDriver::Local, Some(home), _) => home,
                (d, _, Some(a)) if d.single_writer() => a.node,
                _ => return None,
            };
            Some((v.name.clone(), node))
        })
        .collect()
}

/// A task whose volume is pinned goes only on that node; a task with a Ceph volume
/// goes on no node fenced at Ceph (its address stays blocklisted until it released
/// what it held and the leader lifted the entry).
#[derive(Debug, Clone, Default)]
pub struct VolumeFilter {
    pins: BTreeMap<String, NodeId>,
    fenced: BTreeSet<NodeId>,
}

impl VolumeFilter {
    /// The pins of `state`.
    pub fn new(state: &ClusterState) -> VolumeFilter {
        VolumeFilter {
            pins: volume_pins(state),
            fenced: state
                .storage
                .volumes
                .values()
                .flat_map(|v| v.fenced.iter().copied())
                .collect(),
        }
    }
}

impl Filter for VolumeFilter {
    fn name(&self) -> &'static str {
        "volumes"
    }
    fn check(&self, task: &Task, node: &NodeInfo<'_>) -> bool {
        let ceph = task.spec.mounts.iter().any(
            |m| matches!(m, Mount::Volume { volume, .. } if volume.driver != VolumeDriver::Local),
        );
        task_volumes(task).all(|v| self.pins.get(v).is_none_or(|n| *n == node.node.id))
            && !(ceph && self.fenced.contains(&node.node.id))
    }
    fn explain(&self, nodes_failed: usize) -> String {
        format!(
            "{} cannot attach its volume (held by another node: a local volume's own node, \
             or the node a single-writer volume is attached on until it detaches or is fenced; \
             or fenced off Ceph until it released its volumes)",
            nodes(nodes_failed)
        )
    }
}

/// Fencing the leader must do (at Ceph) before a volume may move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceRequest {
    /// The volume.
    pub volume: String,
    /// The down node holding it.
    pub node: NodeId,
    /// That node's address (what gets blocklisted).
    pub address: String,
}

/// What the leader does about volume attachments after a scheduling pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumePlan {
    /// Attachments to record or release (commit with the assignments).
    pub commands: Vec<Command>,
    /// Fencing to do first; each then commits `Command::FenceNode`.
    pub fence: Vec<FenceRequest>,
}

/// Claims single-writer volumes for the tasks just placed (`assignments`), releases
/// those whose holder is live and no longer runs a task using them, and asks for
/// fencing when the holder is down (its tasks orphaned).
pub fn volume_claims(
    state: &ClusterState,
    assignments: &[(TaskId, NodeId)],
    now: Timestamp,
) -> VolumePlan {
    let mut plan = VolumePlan::default();
    // Nodes where a live task uses each volume (placed earlier or just now).
    let mut users: BTreeMap<&str, Vec<NodeId>> = BTreeMap::new();
    let placed: BTreeMap<&str, NodeId> =
        assignments.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    for t in state.tasks.values() {
        let node = match placed.get(t.id.as_str()) {
            Some(n) => *n,
            None if !t.status.state.is_terminal() => match t.node_id {
                Some(n) => n,
                None => continue,
            },
            None => continue,
        };
        for v in task_volumes(t) {
            users.entry(v).or_default().push(node);
        }
    }
    let client = state
        .storage
        .ceph
        .as_ref()
        .map(|c| format!("client.{}", c.user))
        .unwrap_or_default();
    for v in state.storage.volumes.values() {
        if !v.spec.driver.single_writer() {
            continue;
        }
        let on = users.get(v.name.as_str());
        match &v.attachment {
            None => {
                if let Some(node) = on.and_then(|n| n.first()) {
                    let address = state
                        .nodes
                        .get(node)
                        .map(|n| n.address.clone())
                        .unwrap_or_default();
                    let local = v.spec.driver == VolumeDriver::Local;
                    plan.commands.push(Command::SetVolumeAttachment {
                        name: v.name.clone(),
                        attachment: Some(Attachment {
                            node: *node,
                            since: now,
                            client: if local { String::new() } else { client.clone() },
                            address,
                        }),
                    });
                }
            }
            Some(a) if on.is_some_and(|n| n.contains(&a.node)) => {}
            Some(a) => match state.nodes.get(&a.node) {
                Some(n) if n.status == NodeStatus::Down && v.spec.driver != VolumeDriver::Local => {
                    plan.fence.push(FenceRequest {
                        volume: v.name.clone(),
                        node: a.node,
                        address: a.address.clone(),
                    })
                }
                // A live node whose tasks ended has detached (agents detach before
                // reporting the end); a local volume stays home anyway.
                Some(n) if n.status != NodeStatus::Down => {
                    plan.commands.push(Command::SetVolumeAttachment {
                        name: v.name.clone(),
                        attachment: None,
                    })
                }
                Some(_) => {}
                // The node was removed from the cluster.
                None => plan.fence.push(FenceRequest {
                    volume: v.name.clone(),
                    node: a.node,
                    address: a.address.clone(),
                }),
            },
        }
    }
    plan
}
