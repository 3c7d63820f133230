//! A slot: the tasks of one replica (service + slot number) or of one global service
//! on one node. At most one of them is *current* (desired running or complete); the
//! rest are retired (desired shutdown) and kept as history.

use crate::plan::Plan;
use orc_model::{Task, TaskState};
use std::cmp::Reverse;

/// Whether the manager still wants `t` to run (or to stay finished, see
/// [`TaskState::Complete`] as a desired state): it is the slot's current task.
pub(crate) fn is_current(t: &Task) -> bool {
    t.desired_state <= TaskState::Complete
}

/// Whether the manager wants `t` running (desired states below Running count too).
pub(crate) fn wants_running(t: &Task) -> bool {
    t.desired_state <= TaskState::Running
}

/// Never left the manager: no node, not beyond Pending.
pub(crate) fn is_unassigned(t: &Task) -> bool {
    t.node_id.is_none() && t.status.state <= TaskState::Pending
}

/// Picks the slot's current task and retires any other current one (there should be
/// at most one; a second can only come from a bug or a lost race, never twice).
/// Preference: still alive, then the newest attempt, then the newest, then the id.
pub(crate) fn pick_current<'a>(plan: &mut Plan, tasks: &[&'a Task]) -> Option<&'a Task> {
    let best = tasks
        .iter()
        .copied()
        .filter(|t| is_current(t))
        .max_by_key(|t| {
            (
                !t.status.state.is_terminal(),
                t.attempt,
                t.created_at,
                t.id.as_str(),
            )
        })?;
    for t in tasks.iter().filter(|t| is_current(t) && t.id != best.id) {
        plan.raise_desired(t, TaskState::Shutdown);
    }
    Some(best)
}

/// The attempt number a new task in this slot gets.
pub(crate) fn next_attempt(tasks: &[&Task]) -> u32 {
    tasks
        .iter()
        .map(|t| t.attempt.saturating_add(1))
        .max()
        .unwrap_or(0)
}

/// Removes what the slot no longer needs: retired tasks that never left the manager,
/// and terminal retired tasks beyond the newest `keep`. Only tasks already retired
/// in the input state are touched, so the current pass's own retirements wait a pass.
pub(crate) fn trim(plan: &mut Plan, tasks: &[&Task], keep: usize) {
    let mut history: Vec<&Task> = Vec::new();
    for t in tasks.iter().copied().filter(|t| !is_current(t)) {
        if is_unassigned(t) {
            plan.remove(t);
        } else if t.status.state.is_terminal() {
            history.push(t);
        }
    }
    if history.len() > keep {
        history
            .sort_by_key(|t| Reverse((t.attempt, t.status.timestamp, t.created_at, t.id.as_str())));
        for t in &history[keep..] {
            plan.remove(t);
        }
    }
}
