//! The restart policy: whether a task that ended while it should have been running
//! gets a replacement in its slot.
//!
//! Restarts are counted from the state alone (no memory between passes), using each
//! task's `attempt` (how many tasks its slot had before it): the restarts of the dead
//! task's spec are `dead.attempt - a0`, where `a0` is the attempt of the first task of
//! that spec in the slot, i.e. one past the newest task whose spec differs (changing
//! the spec resets the count, as in swarmkit). When history trimming has removed every
//! older-spec task, `a0` falls back to 0: the count can then only be too high, so a
//! crash loop still stops. Replacements after node loss or drain count as restarts.

use crate::spec::same_spec;
use orc_model::{Task, TaskState, Timestamp};
use orc_spec::RestartCondition;

/// What to do with a task that reached a terminal state while desired running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestartDecision {
    /// Start a replacement, not before this time.
    Replace { not_before: Timestamp },
    /// Leave the slot with this finished task: the policy says no more runs.
    Stop,
}

/// Applies `dead`'s restart policy. `slot` holds every task of the slot (including
/// `dead`), `now` is the pass's time.
pub(crate) fn decide(dead: &Task, slot: &[&Task], now: Timestamp) -> RestartDecision {
    let policy = dead.spec.restart;
    let wanted = match policy.condition {
        RestartCondition::Any => true,
        // Anything but a clean exit is a failure: failed, rejected, shut down or
        // orphaned without being asked to.
        RestartCondition::OnFailure => dead.status.state != TaskState::Complete,
        RestartCondition::None => false,
    };
    if !wanted {
        return RestartDecision::Stop;
    }
    if let Some(max) = policy.max_attempts {
        if restarts(dead, slot, policy.window_ms, now) >= u64::from(max) {
            return RestartDecision::Stop;
        }
    }
    RestartDecision::Replace {
        not_before: now.saturating_add(policy.delay_ms),
    }
}

/// How many times the slot has restarted `dead`'s spec, counting only restarts made
/// at or after `now - window_ms` when `window_ms` is non-zero.
pub(crate) fn restarts(dead: &Task, slot: &[&Task], window_ms: u64, now: Timestamp) -> u64 {
    let a0 = slot
        .iter()
        .filter(|t| t.attempt < dead.attempt && !same_spec(&t.spec, &dead.spec))
        .map(|t| t.attempt + 1)
        .max()
        .unwrap_or(0);
    let mut first_counted = a0;
    if window_ms > 0 {
        let cutoff = now.saturating_sub(window_ms);
        // Creation times grow with the attempt: the newest restart made before the
        // window hides every earlier one. A trimmed task between two known ones is
        // assumed inside the window (the safe side: it can only stop restarts early).
        if let Some(k) = slot
            .iter()
            .filter(|t| t.attempt > a0 && t.attempt <= dead.attempt && t.created_at < cutoff)
            .map(|t| t.attempt)
            .max()
        {
            first_counted = k;
        }
    }
    u64::from(dead.attempt.saturating_sub(first_counted))
}
