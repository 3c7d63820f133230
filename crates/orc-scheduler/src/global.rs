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
    // The rollout counts the nodes where it may replace tasks (ready, active,
    // matching): a paused node's task is left alone until it is active again.
    let eligible: Vec<NodeId> = cx
        .state
        .nodes
        .values()
        .filter(|n| {
            may_stay(view, n)
                && n.status == NodeStatus::Ready
                && n.availability == Availability::Active
        })
        .map(|n| n.id)
        .collect();
    let slots: Vec<&[&Task]> = eligible
        .iter()
        .filter_map(|id| by_node.get(id).map(Vec::as_slice))
        .collect();
    let mut gate = crate::update::plan(cx, view, &slots, eligible.len());
    for node in cx.state.nodes.values() {
        let tasks = by_node.get(&node.id).unwrap_or(&empty);
        reconcile_node(cx, view, node, tasks, &mut gate);
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

/// Whether the service's task may stay on `node` (not down, not drained, matching).
fn may_stay(view: &ServiceView<'_, '_>, node: &Node) -> bool {
    constraints_match(&view.svc.spec.constraints, node)
        && node.status != NodeStatus::Down
        && node.availability != Availability::Drain
}

/// The service's slot on one node.
fn reconcile_node(
    cx: &mut Ctx<'_, '_>,
    view: &mut ServiceView<'_, '_>,
    node: &Node,
    tasks: &[&Task],
    gate: &mut crate::update::Gate,
) {
    let svc = view.svc;
    let matches = constraints_match(&svc.spec.constraints, node);
    let eligible =
        matches && node.status == NodeStatus::Ready && node.availability == Availability::Active;
    let may_stay = may_stay(view, node);
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
    cx.reconcile_current(view, tasks, 0, Some(node.id), gate);
}
