//! The scheduler: places pending tasks on nodes.
//!
//! One pass groups the pending tasks by service and spec version (tasks of a group
//! share constraints and reservations), runs the placement filters once per (group,
//! node), then places the group's tasks one by one on the node with the fewest tasks
//! of the same service, then the fewest tasks overall, then the lowest id — kept in a
//! heap so each placement costs O(log nodes). Resource filters run per placement; a
//! node that lacks room for one task of the group lacks it for the rest too, so it
//! leaves the heap.

use crate::pipeline::Pipeline;
use crate::slot::wants_running;
use crate::spread::Spread;
use crate::FastMap;
use orc_model::{ClusterState, Command, Node, NodeId, TaskId, TaskState, TaskStatus, Timestamp};
use orc_spec::ResourceSet;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::filter::NodeInfo;

/// What one scheduling pass decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulerOutput {
    /// Tasks to place, in the order they were placed.
    pub assignments: Vec<(TaskId, NodeId)>,
    /// Tasks that fit nowhere, with the reason ("no suitable node (…)").
    pub pending: Vec<(TaskId, String)>,
}

impl SchedulerOutput {
    /// The commands to propose: one `AssignTasks`, and an `UpdateTaskStatus` for the
    /// pending tasks whose reason is new (so a pass that changes nothing proposes
    /// nothing).
    pub fn into_commands(self, state: &ClusterState, now: Timestamp) -> Vec<Command> {
        let mut cmds = Vec::new();
        if !self.assignments.is_empty() {
            cmds.push(Command::AssignTasks {
                assignments: self.assignments,
                at: now,
            });
        }
        let updates: Vec<(TaskId, TaskStatus)> = self
            .pending
            .into_iter()
            .filter(|(id, reason)| {
                state.tasks.get(id).is_some_and(|t| {
                    t.status.state < TaskState::Pending
                        || (t.status.state == TaskState::Pending
                            && (t.status.message != *reason || t.status.err.is_some()))
                })
            })
            .map(|(id, reason)| (id, TaskStatus::new(TaskState::Pending, now, reason)))
            .collect();
        if !updates.is_empty() {
            cmds.push(Command::UpdateTaskStatus { updates });
        }
        cmds
    }
}

/// One scheduling pass with the standard [`Pipeline`]. `now` is unused today (the
/// agent, not the scheduler, honours `not_before`) and kept for future policies.
/// With volumes, a [`crate::VolumeFilter`] joins the placement filters.
pub fn schedule(state: &ClusterState, now: Timestamp) -> SchedulerOutput {
    let mut pipeline = Pipeline::standard();
    if !state.storage.volumes.is_empty() {
        pipeline.add_placement(Box::new(crate::VolumeFilter::new(state)));
    }
    schedule_with(state, now, &pipeline)
}

/// Per-node usage during a pass.
struct Usage<'a> {
    reserved: Vec<ResourceSet>,
    tasks: Vec<u32>,
    /// Tasks per service per node index (sparse: most services sit on few nodes).
    per_service: FastMap<&'a str, FastMap<usize, u32>>,
}

/// One scheduling pass with the given pipeline. Places tasks that are pending (state
/// New or Pending, no node) and desired running.
pub fn schedule_with(
    state: &ClusterState,
    _now: Timestamp,
    pipeline: &Pipeline,
) -> SchedulerOutput {
    let nodes: Vec<&Node> = state.nodes.values().collect();
    let index: FastMap<NodeId, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let mut usage = Usage {
        reserved: vec![ResourceSet::default(); nodes.len()],
        tasks: vec![0; nodes.len()],
        per_service: FastMap::default(),
    };
    let mut groups: FastMap<(&str, u64), Vec<&orc_model::Task>> = FastMap::default();
    for t in state.tasks.values() {
        if !wants_running(t) || t.status.state.is_terminal() {
            continue;
        }
        match t.node_id {
            None if t.status.state <= TaskState::Pending => {
                groups
                    .entry((t.service_id.as_str(), t.spec_version))
                    .or_default()
                    .push(t);
            }
            None => {}
            Some(id) => {
                if let Some(&i) = index.get(&id) {
                    add(&mut usage.reserved[i], &t.spec.resources.reservations);
                    usage.tasks[i] += 1;
                    let per_node = usage.per_service.entry(t.service_id.as_str()).or_default();
                    *per_node.entry(i).or_default() += 1;
                }
            }
        }
    }

    // Groups in (service, version) order, tasks within a group in id order.
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_unstable_by_key(|(k, _)| *k);
    let mut out = SchedulerOutput::default();
    for ((service_id, _), group) in groups {
        let rep = group[0];
        let mut failed = vec![0usize; pipeline.len()];
        let per_node = usage.per_service.entry(service_id).or_default();
        let mut candidates = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let info = NodeInfo {
                node,
                reserved: usage.reserved[i],
                tasks: usage.tasks[i],
            };
            match pipeline.first_placement_failure(rep, &info) {
                Some(f) => failed[f] += 1,
                None => {
                    let same = per_node.get(&i).copied().unwrap_or(0);
                    candidates.push(Reverse((same, usage.tasks[i], i)));
                }
            }
        }
        let prefs = &rep.spec.placement.preferences;
        if !prefs.is_empty() {
            // Placement preferences: the least loaded label value first, then the
            // usual order. A linear scan per placement (such services are few).
            let mut spread = Spread::new(prefs, &nodes, |i| per_node.get(&i).copied().unwrap_or(0));
            let mut open: Vec<usize> = candidates.iter().map(|Reverse((_, _, i))| *i).collect();
            let mut reason: Option<String> = None;
            for t in group {
                loop {
                    let best = open
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, &i)| {
                            (
                                spread.key(i),
                                per_node.get(&i).copied().unwrap_or(0),
                                usage.tasks[i],
                                i,
                            )
                        })
                        .map(|(k, &i)| (k, i));
                    let Some((k, i)) = best else {
                        let why = reason.get_or_insert_with(|| pipeline.explain(&failed));
                        out.pending.push((t.id.clone(), why.clone()));
                        break;
                    };
                    let info = NodeInfo {
                        node: nodes[i],
                        reserved: usage.reserved[i],
                        tasks: usage.tasks[i],
                    };
                    if let Some(f) = pipeline.first_resource_failure(t, &info) {
                        failed[f] += 1;
                        open.swap_remove(k);
                        continue;
                    }
                    add(&mut usage.reserved[i], &t.spec.resources.reservations);
                    usage.tasks[i] += 1;
                    *per_node.entry(i).or_default() += 1;
                    spread.add(i, 1);
                    out.assignments.push((t.id.clone(), nodes[i].id));
                    break;
                }
            }
            continue;
        }
        let mut heap = BinaryHeap::from(candidates);
        let mut reason: Option<String> = None;
        for t in group {
            loop {
                let Some(Reverse((same, total, i))) = heap.pop() else {
                    let why = reason.get_or_insert_with(|| pipeline.explain(&failed));
                    out.pending.push((t.id.clone(), why.clone()));
                    break;
                };
                let info = NodeInfo {
                    node: nodes[i],
                    reserved: usage.reserved[i],
                    tasks: total,
                };
                if let Some(f) = pipeline.first_resource_failure(t, &info) {
                    failed[f] += 1;
                    continue;
                }
                add(&mut usage.reserved[i], &t.spec.resources.reservations);
                usage.tasks[i] += 1;
                *per_node.entry(i).or_default() += 1;
                heap.push(Reverse((same + 1, total + 1, i)));
                out.assignments.push((t.id.clone(), nodes[i].id));
                break;
            }
        }
    }
    out
}

fn add(acc: &mut ResourceSet, r: &ResourceSet) {
    acc.nano_cpus = acc.nano_cpus.saturating_add(r.nano_cpus);
    acc.memory_bytes = acc.memory_bytes.saturating_add(r.memory_bytes);
}
