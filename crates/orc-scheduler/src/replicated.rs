//! Replicated services: slots 1..=replicas each hold exactly one current task.

use crate::orchestrator::{Ctx, ServiceView};
use crate::slot;
use orc_model::{Availability, Task, TaskState};

/// Reconciles one replicated service with `replicas` slots.
pub(crate) fn reconcile(cx: &mut Ctx<'_, '_>, view: &mut ServiceView<'_, '_>, replicas: u32) {
    let mut sorted: Vec<&Task> = view.tasks.to_vec();
    sorted.sort_by_key(|t| t.slot);
    let svc = view.svc;
    // Slots that have no task at all, found by walking the sorted slot numbers.
    let mut expect = 1u32;
    for n in sorted
        .iter()
        .map(|t| t.slot)
        .chain(std::iter::once(u32::MAX))
    {
        while expect < n.min(replicas.saturating_add(1)) {
            let t = cx.new_task(svc, expect, None, 0, 0);
            cx.plan.create(t);
            expect += 1;
        }
        expect = expect.max(n.saturating_add(1));
        if expect > replicas {
            break;
        }
    }
    for tasks in sorted.chunk_by(|a, b| a.slot == b.slot) {
        let n = tasks[0].slot;
        if n == 0 || n > replicas {
            // Scaled away (or a global service's task after a mode change).
            for t in tasks.iter().filter(|t| slot::is_current(t)) {
                cx.plan.raise_desired(t, TaskState::Shutdown);
            }
        } else {
            reconcile_slot(cx, view, n, tasks);
        }
        slot::trim(&mut cx.plan, tasks, cx.cfg.task_history);
    }
}

/// One slot within range: keep its current task, or retire it and start the next.
fn reconcile_slot(cx: &mut Ctx<'_, '_>, view: &mut ServiceView<'_, '_>, n: u32, tasks: &[&Task]) {
    let svc = view.svc;
    let Some(cur) = slot::pick_current(&mut cx.plan, tasks) else {
        // Every task of the slot was retired (scaled down, then up again).
        let t = cx.new_task(svc, n, None, slot::next_attempt(tasks), 0);
        cx.plan.create(t);
        return;
    };
    let forced = view.is_outdated(cur) || cx.is_lost(cur) || on_drained_node(cx, cur);
    cx.replace_current(svc, cur, tasks, forced, n, None);
}

/// A live task the manager wants running on a node being drained: it moves elsewhere.
fn on_drained_node(cx: &Ctx<'_, '_>, t: &Task) -> bool {
    slot::wants_running(t)
        && !t.status.state.is_terminal()
        && cx.node_availability(t) == Some(Availability::Drain)
}
