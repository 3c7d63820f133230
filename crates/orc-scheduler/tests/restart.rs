//! The restart policy: conditions, delay, max attempts and the window.
mod support;

use orc_model::{ClusterState, TaskState};
use orc_spec::{RestartCondition, RestartPolicy};
use support::*;

const T0: u64 = 100_000;

/// One node, one replica of `web` with `policy`, running.
fn one_replica(policy: RestartPolicy) -> (ClusterState, Ids) {
    let mut s = ClusterState::default();
    add_nodes(&mut s, [node(1)]);
    let mut sp = replicated(1);
    sp.restart = policy;
    add_service(&mut s, "web", sp);
    let mut ids = Ids::default();
    run_cluster(&mut s, T0, &mut ids);
    (s, ids)
}

fn policy(condition: RestartCondition) -> RestartPolicy {
    RestartPolicy {
        condition,
        delay_ms: 2_000,
        max_attempts: None,
        window_ms: 0,
    }
}

/// Ends the slot's current task with `state` at `at`, runs one orchestrator pass and
/// returns whether a replacement was created.
fn end_and_reconcile(
    s: &mut ClusterState,
    ids: &mut Ids,
    state: TaskState,
    exit: Option<i32>,
    at: u64,
) -> bool {
    let cur = in_slot(s, "web", 1).id.clone();
    end_task(s, &cur, state, exit, at);
    let cmds = orchestrate(s, at, ids);
    apply_all(s, &cmds);
    // A second pass may only trim history (the task just retired joins it).
    let cmds = orchestrate(s, at, ids);
    assert!(
        cmds.iter()
            .all(|c| matches!(c, orc_model::Command::RemoveTasks { .. })),
        "{cmds:?}"
    );
    apply_all(s, &cmds);
    assert!(orchestrate(s, at, ids).is_empty(), "settled");
    let replaced = s.tasks[&cur].desired_state == TaskState::Shutdown;
    if replaced {
        let new = in_slot(s, "web", 1);
        assert_eq!(new.attempt, s.tasks[&cur].attempt + 1);
        assert_eq!(new.not_before, at + s.tasks[&cur].spec.restart.delay_ms);
        run_cluster(s, at, ids);
    } else {
        assert_eq!(
            s.tasks[&cur].desired_state,
            TaskState::Complete,
            "slot stays finished"
        );
    }
    check_invariants(s);
    replaced
}

#[test]
fn any_replaces_after_every_exit_with_the_delay() {
    let (mut s, mut ids) = one_replica(policy(RestartCondition::Any));
    assert!(end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Complete,
        Some(0),
        T0 + 1
    ));
    assert!(end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(1),
        T0 + 2
    ));
    assert!(end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Shutdown,
        None,
        T0 + 3
    ));
}

#[test]
fn on_failure_replaces_failures_but_not_clean_exits() {
    let (mut s, mut ids) = one_replica(policy(RestartCondition::OnFailure));
    assert!(end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(2),
        T0 + 1
    ));
    assert!(end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Rejected,
        None,
        T0 + 2
    ));
    assert!(!end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Complete,
        Some(0),
        T0 + 3
    ));
    assert!(running_desired(&s, "web").is_empty());
}

#[test]
fn none_never_replaces_until_the_spec_changes() {
    let (mut s, mut ids) = one_replica(policy(RestartCondition::None));
    assert!(!end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(1),
        T0 + 1
    ));
    assert!(
        orchestrate(&s, T0 + 100_000, &mut ids).is_empty(),
        "stays finished"
    );
    update_service(&mut s, "web", |sp| {
        sp.env.insert("A".into(), "1".into());
    });
    run_cluster(&mut s, T0 + 2, &mut ids);
    let t = in_slot(&s, "web", 1);
    assert_eq!(
        (t.spec_version, t.not_before, t.status.state),
        (2, 0, TaskState::Running)
    );
}

#[test]
fn max_attempts_stops_restarting_and_a_spec_change_resets_it() {
    let mut p = policy(RestartCondition::Any);
    p.max_attempts = Some(2);
    let (mut s, mut ids) = one_replica(p);
    assert!(end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(1),
        T0 + 1
    ));
    assert!(end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(1),
        T0 + 2
    ));
    assert!(!end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(1),
        T0 + 3
    ));
    assert_eq!(tasks_of(&s, "web").len(), 3, "first run + two restarts");

    update_service(&mut s, "web", |sp| sp.image = "demo/busybox:2".into());
    run_cluster(&mut s, T0 + 4, &mut ids);
    assert_eq!(in_slot(&s, "web", 1).attempt, 3);
    assert!(end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(1),
        T0 + 5
    ));
    assert!(end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(1),
        T0 + 6
    ));
    assert!(!end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(1),
        T0 + 7
    ));
}

#[test]
fn scaling_does_not_reset_the_count() {
    let mut p = policy(RestartCondition::Any);
    p.max_attempts = Some(1);
    let (mut s, mut ids) = one_replica(p);
    assert!(end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(1),
        T0 + 1
    ));
    s.apply(&orc_model::Command::ScaleService {
        name: "st_web".into(),
        replicas: 1,
        at: T0,
    });
    s.apply(&orc_model::Command::ScaleService {
        name: "st_web".into(),
        replicas: 2,
        at: T0,
    });
    s.apply(&orc_model::Command::ScaleService {
        name: "st_web".into(),
        replicas: 1,
        at: T0,
    });
    run_cluster(&mut s, T0 + 2, &mut ids);
    assert!(!end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(1),
        T0 + 3
    ));
}

#[test]
fn max_attempts_counts_only_restarts_within_the_window() {
    let mut p = policy(RestartCondition::Any);
    p.max_attempts = Some(2);
    p.window_ms = 10_000;
    let (mut s, mut ids) = one_replica(p);
    // Restarts made 20 s apart never reach two within 10 s.
    for i in 1..=5 {
        assert!(
            end_and_reconcile(
                &mut s,
                &mut ids,
                TaskState::Failed,
                Some(1),
                T0 + i * 20_000
            ),
            "restart {i}"
        );
    }
    // Then a burst: two restarts inside the window, the third is refused.
    let t = T0 + 200_000;
    assert!(end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(1),
        t
    ));
    assert!(end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(1),
        t + 100
    ));
    assert!(!end_and_reconcile(
        &mut s,
        &mut ids,
        TaskState::Failed,
        Some(1),
        t + 200
    ));
}

#[test]
fn max_attempts_beyond_history_still_stops() {
    let mut p = policy(RestartCondition::Any);
    p.max_attempts = Some(8);
    let (mut s, mut ids) = one_replica(p);
    let mut restarts = 0;
    for i in 1..=20 {
        if !end_and_reconcile(&mut s, &mut ids, TaskState::Failed, Some(1), T0 + i) {
            break;
        }
        restarts += 1;
    }
    assert_eq!(restarts, 8);
    assert!(tasks_of(&s, "web").len() <= 6, "history trimmed meanwhile");
}
