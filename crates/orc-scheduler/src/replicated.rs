//! Replicated services: slots 1..=replicas each hold exactly one current task.

use crate::orchestrator::{Ctx, ServiceView};
use crate::slot;
use orc_model::{Task, TaskState};

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
    let in_range: Vec<&[&Task]> = sorted
        .chunk_by(|a, b| a.slot == b.slot)
        .filter(|tasks| (1..=replicas).contains(&tasks[0].slot))
        .collect();
    let mut gate = crate::update::plan(cx, view, &in_range, replicas as usize);
    for tasks in sorted.chunk_by(|a, b| a.slot == b.slot) {
        let n = tasks[0].slot;
        if n == 0 || n > replicas {
            // Scaled away (or a global service's task after a mode change).
            for t in tasks.iter().filter(|t| slot::is_current(t)) {
                cx.plan.raise_desired(t, TaskState::Shutdown);
            }
        } else {
            cx.reconcile_current(view, tasks, n, None, &mut gate);
        }
        slot::trim(&mut cx.plan, tasks, cx.cfg.task_history);
    }
}
