//! Global services: one current task on every eligible node.
//!
//! A node is eligible for a new task when it is ready, active and matches the
//! constraints. A task already there may stay while the node is not down, not
//! drained and still matches; on a paused node nothing is added, updated or
//! restarted until it is active again.

use crate::constraint::constraints_match;
use crate::orchestrator::{Ctx, ServiceView};
use crate::slot;
use orc_model::{Availability, Node, NodeId, NodeStatus, Task, TaskState};
use std::collections::BTreeMap;

/// Reconciles one global service.
pub(crate) fn reconcile(cx: &mut Ctx<'_, '_>, view: &mut ServiceView<'_, '_>) {
    let mut by_node: BTreeMap<NodeId, Vec<&Task>> = BTreeMap::new();
    let mut strays: Vec<&Task> = Vec::new();
    for t in view.tasks {
        match t.node_id {
            Some(id) if t.slot == 0 => by_node.entry(id).or_default().push(t),
            // A replicated service's task after a mode change.
            _ => strays.push(t),
        }
    }
    for t in strays.iter().filter(|t| slot::is_current(t)) {
        cx.plan.raise_desired(t, TaskState::Shutdown);
    }
    slot::trim(&mut cx.plan, &strays, cx.cfg.task_history);

    let empty = Vec::new();
    for node in cx.state.nodes.values() {
        let tasks = by_node.get(&node.id).unwrap_or(&empty);
        reconcile_node(cx, view, node, tasks);
        slot::trim(&mut cx.plan, tasks, cx.cfg.task_history);
    }
    // Nodes gone from the cluster: their tasks were orphaned; nothing worth keeping.
    for (id, tasks) in &by_node {
        if !cx.state.nodes.contains_key(id) {
            for t in tasks.iter().filter(|t| slot::is_current(t)) {
                cx.plan.raise_desired(t, TaskState::Shutdown);
            }
            slot::trim(&mut cx.plan, tasks, 0);
        }
    }
}

/// The service's slot on one node.
fn reconcile_node(
    cx: &mut Ctx<'_, '_>,
    view: &mut ServiceView<'_, '_>,
    node: &Node,
    tasks: &[&Task],
) {
    let svc = view.svc;
    let matches = constraints_match(&svc.spec.constraints, node);
    let eligible =
        matches && node.status == NodeStatus::Ready && node.availability == Availability::Active;
    let may_stay =
        matches && node.status != NodeStatus::Down && node.availability != Availability::Drain;
    let Some(cur) = slot::pick_current(&mut cx.plan, tasks) else {
        if eligible {
            let t = cx.new_task(svc, 0, Some(node.id), slot::next_attempt(tasks), 0);
            cx.plan.create(t);
        }
        return;
    };
    if !may_stay {
        cx.plan.raise_desired(cur, TaskState::Shutdown);
        return;
    }
    if !eligible {
        return;
    }
    let forced = view.is_outdated(cur);
    cx.replace_current(svc, cur, tasks, forced, 0, Some(node.id));
}
