//! The updater: how a changed service replaces its outdated tasks. Pure, like the rest
//! of the orchestrator: it reads the service, its tasks and the time, and answers how
//! many outdated slots may start their replacement in this pass (a [`Gate`]) plus the
//! rollout's new state, as commands.
//!
//! - **Batches**: `parallelism` slots at a time (0 = all); the next batch starts once
//!   every slot of the previous one is *settled* — its new task has served
//!   ([`Task::serves`]: running, and healthy if it has a check) for `monitor`, counted
//!   from when it became healthy (from running without a check) — and `delay` has
//!   passed since the last one settled.
//! - **Order**: stop-first retires the old task and starts the new one; start-first
//!   starts the new one beside the old one, which is retired once the new one serves
//!   (run as stop-first when the spec has a single-writer volume or a host-mode port,
//!   which validation refuses anyway: see `ServiceSpec::start_first_conflict`).
//! - **Failures** of a task made for this rollout: it failed, was rejected, exited,
//!   turned unhealthy, or did not serve within `healthy_deadline` (a task still
//!   pending names the scheduler's reason). More than `max_failure_ratio` × slots of
//!   them take `failure_action`: pause, continue, or rollback to the last stable
//!   revision — not for a service with volumes unless `rollback_config.stateful =
//!   "safe"` (it pauses and says why). A rollout not done within `progress_deadline`
//!   takes its failure action too (`continue` pauses then), so nothing stays
//!   "updating" for ever.
//! - **Revisions**: once every slot's task of the current version passed `monitor`
//!   (and the rollout, if any, completed without failures), the revision is marked
//!   stable: a rollback target.

use crate::orchestrator::{Ctx, ServiceView};
use orc_model::{
    short_id, Command, HealthState, Service, Task, TaskState, Timestamp, UpdateState, UpdateStatus,
};
use orc_spec::{FailureAction, Mount, UpdateConfig, UpdateOrder};

/// How many outdated slots may start their replacement in this pass, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gate {
    budget: u32,
    /// Start the new task beside the old one.
    pub(crate) start_first: bool,
}

impl Gate {
    /// Nothing gated: every outdated slot is replaced at once, stop-first (no rollout).
    pub(crate) fn open() -> Gate {
        Gate {
            budget: u32::MAX,
            start_first: false,
        }
    }

    /// Takes one slot from the batch; false when the batch is full (or paused).
    pub(crate) fn take(&mut self) -> bool {
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        true
    }
}

/// Where one slot stands in the rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SlotClass {
    /// An outdated task runs (or is on its way) and nothing replaces it yet.
    Old,
    /// Nothing current alive: the restart policy (or this pass) makes a new one.
    Free,
    /// Its current task was up to date before the rollout began.
    Done,
    /// A task of this rollout that has not served yet.
    Starting,
    /// Served since `since`; settles at `since + monitor`.
    Monitoring,
    /// Served through `monitor`; settled at this time.
    Settled(Timestamp),
    /// Its current task of this rollout failed (the restart policy deals with it).
    Failed,
}

/// A failure of a task made for the rollout: when, and "task web.2 failed: …".
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    at: Timestamp,
    task: String,
    why: String,
}

/// "web.2" for a replica, "web.<task id>" for a global task.
fn label(t: &Task) -> String {
    if t.slot > 0 {
        format!("{}.{}", t.service_name, t.slot)
    } else {
        format!("{}.{}", t.service_name, short_id(&t.id))
    }
}

/// A duration as the stack file would write it ("30s", "5m", "1.5s").
fn human(ms: u64) -> String {
    if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}ms", ms)
    }
}

/// When `t` began serving (healthy since, or running since without a check).
fn serving_since(t: &Task) -> Option<Timestamp> {
    if !t.serves() {
        return None;
    }
    Some(
        t.status
            .health
            .as_ref()
            .map_or(t.status.timestamp, |h| h.since),
    )
}

/// Why `t`, a task of the rollout, counts as failed, if it does.
fn failure(t: &Task, cfg: &UpdateConfig, now: Timestamp) -> Option<Failure> {
    let st = &t.status;
    let detail = || st.err.clone().unwrap_or_else(|| st.message.clone());
    let ended = |what: &str| Failure {
        at: st.timestamp,
        task: label(t),
        why: format!("{what}: {}", detail()),
    };
    match st.state {
        TaskState::Failed => return Some(ended("failed")),
        TaskState::Rejected => return Some(ended("rejected")),
        // Ended on its own (not asked to stop): a service's task that exits failed.
        TaskState::Complete | TaskState::Shutdown if t.desired_state < TaskState::Shutdown => {
            return Some(ended("exited"))
        }
        // Node loss is no fault of the version; stopped tasks were stopped by us.
        s if s.is_terminal() => return None,
        _ => {}
    }
    if let Some(h) = st
        .health
        .as_ref()
        .filter(|h| h.state == HealthState::Unhealthy)
    {
        let probe = h
            .log
            .last()
            .map(|p| {
                // One line, as it goes into a status message.
                let out: Vec<&str> = p.output.split_whitespace().collect();
                let mut out = out.join(" ");
                if out.len() > 200 {
                    let cut = (0..=200)
                        .rev()
                        .find(|i| out.is_char_boundary(*i))
                        .unwrap_or(0);
                    out.truncate(cut);
                    out.push('…');
                }
                format!("exit {}: {out}", p.exit_code)
            })
            .unwrap_or_else(|| "no probe result".into());
        return Some(Failure {
            at: h.since,
            task: label(t),
            why: format!("unhealthy: {probe}"),
        });
    }
    let deadline = t.created_at.saturating_add(cfg.healthy_deadline_ms);
    if !t.serves() && now >= deadline {
        let d = human(cfg.healthy_deadline_ms);
        let why = if st.state <= TaskState::Pending {
            format!("not placed within {d}: {}", st.message)
        } else {
            format!("not healthy within {d} ({}: {})", st.state, detail())
        };
        return Some(Failure {
            at: deadline,
            task: label(t),
            why,
        });
    }
    None
}

/// Whether the spec holds a stack volume (its data may not survive a downgrade).
fn has_volumes(svc: &Service) -> bool {
    svc.spec
        .mounts
        .iter()
        .any(|m| matches!(m, Mount::Volume { .. }))
}

/// The better of two current tasks of one slot: alive, then up to date, then the
/// newest attempt, then the newest, then the id.
fn rank<'a>(view: &mut ServiceView<'_, '_>, t: &'a Task) -> (bool, bool, u32, Timestamp, &'a str) {
    (
        !t.status.state.is_terminal(),
        !view.is_outdated(t),
        t.attempt,
        t.created_at,
        t.id.as_str(),
    )
}

/// The slot's current task: alive and up to date preferred (after a rollback the old
/// task is the one to keep).
pub(crate) fn pick<'a>(view: &mut ServiceView<'_, '_>, tasks: &[&'a Task]) -> Option<&'a Task> {
    let mut best: Option<&'a Task> = None;
    for t in tasks.iter().copied().filter(|t| crate::slot::is_current(t)) {
        best = match best {
            Some(b) if rank(view, b) >= rank(view, t) => Some(b),
            _ => Some(t),
        };
    }
    best
}

/// A start-first replacement under way in a slot: the outdated task still alive and
/// its up-to-date replacement (a newer attempt), both current.
pub(crate) fn start_first_pair<'a>(
    view: &mut ServiceView<'_, '_>,
    tasks: &[&'a Task],
) -> Option<(&'a Task, &'a Task)> {
    let current: Vec<&'a Task> = tasks
        .iter()
        .copied()
        .filter(|t| crate::slot::is_current(t))
        .collect();
    if current.len() < 2 {
        return None;
    }
    let mut new: Option<&'a Task> = None;
    let mut old: Option<&'a Task> = None;
    for t in current {
        if view.is_outdated(t) {
            if !t.status.state.is_terminal() && old.is_none_or(|o| t.attempt > o.attempt) {
                old = Some(t);
            }
        } else if new.is_none_or(|n| (t.attempt, t.created_at) > (n.attempt, n.created_at)) {
            new = Some(t);
        }
    }
    match (old, new) {
        (Some(o), Some(n)) if n.attempt > o.attempt => Some((o, n)),
        _ => None,
    }
}

/// One pass of the updater over one service: `slots` are its slots within range (a
/// replica's tasks, or a global service's tasks on one node that may keep them);
/// `wanted` is how many slots it should have (none may be missing to be settled).
/// Commands for the rollout go into the plan; the gate says how many outdated slots
/// may start their replacement now.
pub(crate) fn plan(
    cx: &mut Ctx<'_, '_>,
    view: &mut ServiceView<'_, '_>,
    slots: &[&[&Task]],
    wanted: usize,
) -> Gate {
    let svc = view.svc;
    let now = cx.now;
    let version = svc.version;
    let mut status = svc.rollout.update.clone().filter(|u| u.version == version);
    let rollback = status.as_ref().is_some_and(|u| u.state.is_rollback());
    let cfg = if rollback {
        svc.spec.rollback_config
    } else {
        svc.spec.update_config
    };
    let start_first =
        cfg.order == UpdateOrder::StartFirst && svc.spec.start_first_conflict().is_none();
    let started = status.as_ref().map_or(now, |u| u.started_at);

    let mut classes = Vec::with_capacity(slots.len());
    let mut failures: Vec<Failure> = Vec::new();
    for tasks in slots {
        let (class, mut f) = classify(view, tasks, &cfg, started, now);
        classes.push(class);
        failures.append(&mut f);
    }
    let any_old = classes.contains(&SlotClass::Old);
    let all_settled = wanted > 0
        && slots.len() == wanted
        && classes
            .iter()
            .all(|c| matches!(c, SlotClass::Settled(_) | SlotClass::Done))
        && slots.iter().all(|tasks| {
            pick(view, tasks).is_some_and(|t| {
                serving_since(t).is_some_and(|s| s.saturating_add(cfg.monitor_ms) <= now)
            })
        });

    let Some(st) = status.as_mut() else {
        if any_old {
            // A new version with tasks to replace: the rollout begins.
            let from = svc
                .rollout
                .revisions
                .iter()
                .map(|r| r.number)
                .filter(|n| *n < version)
                .max()
                .unwrap_or(version.saturating_sub(1));
            let st = UpdateStatus {
                state: UpdateState::Updating,
                message: String::new(),
                started_at: now,
                ended_at: None,
                from,
                to: version,
                version,
            };
            cx.plan.service(Command::SetUpdateStatus {
                id: svc.id.clone(),
                status: st,
            });
            return batch(&cfg, start_first);
        }
        if all_settled {
            mark_stable(cx, svc);
        }
        return Gate::open();
    };

    if !st.state.in_progress() {
        if matches!(
            st.state,
            UpdateState::Completed | UpdateState::RollbackCompleted
        ) && all_settled
        {
            mark_stable(cx, svc);
        }
        return match st.state {
            UpdateState::Paused | UpdateState::RollbackPaused => Gate {
                budget: 0,
                start_first,
            },
            _ => batch(&cfg, start_first),
        };
    }

    failures.sort_by(|a, b| (a.at, &a.task).cmp(&(b.at, &b.task)));
    failures.dedup();
    let total = slots.len().max(1) as u64;
    let too_many =
        (failures.len() as u64) * 1_000_000 > u64::from(cfg.max_failure_ratio_ppm) * total;
    let cont = cfg.failure_action == FailureAction::Continue;
    if too_many && !cont {
        if let Some(f) = failures.first() {
            let cause = format!("task {} {}", f.task, f.why);
            take_failure_action(cx, svc, st, &cfg, cause);
            return Gate {
                budget: 0,
                start_first,
            };
        }
    }
    if now > st.started_at.saturating_add(cfg.progress_deadline_ms) {
        let settled = classes
            .iter()
            .filter(|c| matches!(c, SlotClass::Settled(_) | SlotClass::Done))
            .count();
        let cause = format!(
            "not done within {} (progress_deadline): {settled} of {} tasks updated",
            human(cfg.progress_deadline_ms),
            slots.len()
        );
        let mut cfg = cfg;
        if cont {
            cfg.failure_action = FailureAction::Pause;
        }
        take_failure_action(cx, svc, st, &cfg, cause);
        return Gate {
            budget: 0,
            start_first,
        };
    }
    // A failed slot is counted (above), not waited for: the restart policy has it.
    let done = classes.iter().all(|c| {
        matches!(
            c,
            SlotClass::Settled(_) | SlotClass::Done | SlotClass::Failed
        )
    });
    if done {
        let mut next = st.clone();
        next.state = if rollback {
            UpdateState::RollbackCompleted
        } else {
            UpdateState::Completed
        };
        next.ended_at = Some(now);
        if let Some(f) = failures.last() {
            let note = format!(
                "{} task(s) failed (last: task {} {})",
                failures.len(),
                f.task,
                f.why
            );
            // A rollback keeps its cause; an update's "continuing after" gives way.
            next.message = if rollback && !next.message.is_empty() {
                format!("{}; {note}", next.message)
            } else {
                note
            };
        } else if all_settled {
            mark_stable(cx, svc);
        }
        cx.plan.service(Command::SetUpdateStatus {
            id: svc.id.clone(),
            status: next,
        });
        return batch(&cfg, start_first);
    }
    if cont {
        if let Some(f) = failures.last() {
            let msg = format!("continuing after task {} {}", f.task, f.why);
            if st.message != msg && !rollback {
                let mut next = st.clone();
                next.message = msg;
                cx.plan.service(Command::SetUpdateStatus {
                    id: svc.id.clone(),
                    status: next,
                });
            }
        }
    }
    // The next batch waits for every slot of this one to settle, then for `delay`.
    let in_flight = classes.iter().any(|c| {
        matches!(
            c,
            SlotClass::Free | SlotClass::Starting | SlotClass::Monitoring
        )
    });
    if in_flight {
        return Gate {
            budget: 0,
            start_first,
        };
    }
    let last_settled = classes
        .iter()
        .filter_map(|c| match c {
            SlotClass::Settled(at) => Some(*at),
            _ => None,
        })
        .max();
    if let Some(at) = last_settled {
        if cfg.delay_ms > 0 && now < at.saturating_add(cfg.delay_ms) {
            return Gate {
                budget: 0,
                start_first,
            };
        }
    }
    batch(&cfg, start_first)
}

/// A full batch.
fn batch(cfg: &UpdateConfig, start_first: bool) -> Gate {
    Gate {
        budget: if cfg.parallelism == 0 {
            u32::MAX
        } else {
            cfg.parallelism
        },
        start_first,
    }
}

fn mark_stable(cx: &mut Ctx<'_, '_>, svc: &Service) {
    if svc.current_revision().is_some_and(|r| !r.stable) {
        cx.plan.service(Command::MarkStable {
            id: svc.id.clone(),
            revision: svc.version,
        });
    }
}

/// Pause, or roll back (an update, to the last stable revision; never a service with
/// volumes unless `rollback_config.stateful = "safe"`).
fn take_failure_action(
    cx: &mut Ctx<'_, '_>,
    svc: &Service,
    st: &UpdateStatus,
    cfg: &UpdateConfig,
    cause: String,
) {
    let rollback = st.state.is_rollback();
    let pause = |cx: &mut Ctx<'_, '_>, message: String| {
        let mut next = st.clone();
        next.state = if rollback {
            UpdateState::RollbackPaused
        } else {
            UpdateState::Paused
        };
        next.message = if rollback && !st.message.is_empty() {
            format!("{}; rollback failed: {message}", st.message)
        } else {
            message
        };
        next.ended_at = Some(cx.now);
        cx.plan.service(Command::SetUpdateStatus {
            id: svc.id.clone(),
            status: next,
        });
    };
    if cfg.failure_action != FailureAction::Rollback || rollback {
        pause(cx, cause);
        return;
    }
    if has_volumes(svc) && !svc.spec.rollback_config.stateful_safe {
        pause(
            cx,
            format!(
                "{cause}; not rolled back automatically: the service has volumes, whose data \
                 the new version may have migrated (rollback_config.stateful = \"safe\" allows it; \
                 `orc service rollback` does it by hand)"
            ),
        );
        return;
    }
    match svc.rollback_target(None) {
        Ok(rev) => cx.plan.service(Command::RollbackService {
            id: svc.id.clone(),
            to: Some(rev.number),
            expect_version: Some(svc.version),
            reason: cause,
            at: cx.now,
        }),
        Err(why) => pause(cx, format!("{cause}; not rolled back: {why}")),
    }
}

/// One slot's class and the failures of the rollout's tasks in it.
fn classify(
    view: &mut ServiceView<'_, '_>,
    tasks: &[&Task],
    cfg: &UpdateConfig,
    started: Timestamp,
    now: Timestamp,
) -> (SlotClass, Vec<Failure>) {
    let mut failures = Vec::new();
    for t in tasks {
        if t.created_at >= started && !view.is_outdated(t) {
            if let Some(f) = failure(t, cfg, now) {
                failures.push(f);
            }
        }
    }
    let old_alive = tasks.iter().any(|t| {
        crate::slot::is_current(t) && !t.status.state.is_terminal() && view.is_outdated(t)
    });
    let fresh = tasks
        .iter()
        .copied()
        .filter(|t| crate::slot::is_current(t) && !view.is_outdated(t))
        .max_by_key(|t| (t.attempt, t.created_at, t.id.as_str()));
    let class = match fresh {
        None if old_alive => SlotClass::Old,
        None => SlotClass::Free,
        Some(t) if t.created_at < started => SlotClass::Done,
        Some(t) => match serving_since(t) {
            Some(since) if since.saturating_add(cfg.monitor_ms) <= now => {
                SlotClass::Settled(since.saturating_add(cfg.monitor_ms))
            }
            Some(_) => SlotClass::Monitoring,
            // A slot whose task of this rollout failed before (now restarting) is
            // counted as failed, not waited for.
            None if !failures.is_empty() || t.status.state.is_terminal() => SlotClass::Failed,
            None => SlotClass::Starting,
        },
    };
    (class, failures)
}
