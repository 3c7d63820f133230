//! The rolling updater, pass by pass on a simulated cluster: batches, monitor counted
//! from healthy, delay, start-first, failures with their reasons, failure actions,
//! deadlines and stable revisions.

mod support;

use orc_model::{
    ClusterState, Command, HealthState, NewService, ProbeResult, Task, TaskHealth, TaskState,
    TaskStatus, UpdateState,
};
use orc_spec::{
    ConstraintOp, FailureAction, Mount, ServiceSpec, UpdateOrder, VolumeDriver, VolumeSpec,
};
use support::*;

const T0: u64 = 1_000_000;
const MONITOR: u64 = 1_000;

/// Three nodes and service `web` (3 replicas, parallelism 1, monitor 1 s) deployed
/// through the model (so revisions are recorded), running, and its revision 1 stable.
fn cluster(tune: impl Fn(&mut ServiceSpec)) -> (ClusterState, Ids) {
    let mut s = ClusterState::default();
    add_nodes(&mut s, [node(1), node(2), node(3)]);
    let mut sp = replicated(3);
    sp.update_config.monitor_ms = MONITOR;
    sp.rollback_config.monitor_ms = MONITOR;
    tune(&mut sp);
    deploy(&mut s, sp);
    let mut ids = Ids::default();
    run_cluster(&mut s, T0, &mut ids);
    run_cluster(&mut s, T0 + MONITOR, &mut ids);
    assert!(
        s.services["web"].rollout.revisions[0].stable,
        "revision 1 stable"
    );
    (s, ids)
}

fn deploy(s: &mut ClusterState, spec: ServiceSpec) {
    s.apply(&Command::DeployStack {
        stack: "st".into(),
        services: vec![NewService {
            id: "web".into(),
            short_name: "web".into(),
            spec,
        }],
        at: T0,
    });
}

fn update(s: &mut ClusterState, f: impl FnOnce(&mut ServiceSpec)) {
    let mut sp = s.services["web"].spec.clone();
    f(&mut sp);
    deploy(s, sp);
}

fn image_v2(s: &mut ClusterState) {
    update(s, |sp| sp.image = "demo/busybox:2".into());
}

/// Live tasks (desired running, not ended) per image.
fn live(s: &ClusterState, image: &str) -> usize {
    tasks_of(s, "web")
        .iter()
        .filter(|t| t.desired_state == TaskState::Running && !t.status.state.is_terminal())
        .filter(|t| t.spec.image == image)
        .count()
}

fn state_of(s: &ClusterState) -> Option<(UpdateState, String)> {
    s.services["web"]
        .rollout
        .update
        .as_ref()
        .map(|u| (u.state, u.message.clone()))
}

/// The newest task of the current version (the one a failure is simulated on).
fn newest(s: &ClusterState) -> Task {
    let v = s.services["web"].version;
    tasks_of(s, "web")
        .into_iter()
        .filter(|t| t.spec_version == v)
        .max_by_key(|t| (t.created_at, t.id.clone()))
        .cloned()
        .expect("a task of the new version")
}

#[test]
fn stop_first_replaces_one_slot_per_batch_after_monitor() {
    let (mut s, mut ids) = cluster(|_| {});
    image_v2(&mut s);
    let t = T0 + 10_000;
    run_cluster(&mut s, t, &mut ids);
    assert_eq!(state_of(&s).map(|x| x.0), Some(UpdateState::Updating));
    assert_eq!(
        (live(&s, "demo/busybox:1"), live(&s, "demo/busybox:2")),
        (2, 1)
    );
    // The new task runs, but monitor (counted from then) has not passed.
    run_cluster(&mut s, t + MONITOR - 1, &mut ids);
    assert_eq!(
        live(&s, "demo/busybox:2"),
        1,
        "the next batch waits for monitor"
    );
    run_cluster(&mut s, t + MONITOR, &mut ids);
    assert_eq!(live(&s, "demo/busybox:2"), 2);
    run_cluster(&mut s, t + 2 * MONITOR, &mut ids);
    assert_eq!(live(&s, "demo/busybox:2"), 3);
    assert_eq!(state_of(&s).map(|x| x.0), Some(UpdateState::Updating));
    run_cluster(&mut s, t + 3 * MONITOR, &mut ids);
    let svc = &s.services["web"];
    let u = svc.rollout.update.clone().expect("status");
    assert_eq!((u.state, u.from, u.to), (UpdateState::Completed, 1, 2));
    assert_eq!(u.ended_at, Some(t + 3 * MONITOR));
    assert!(svc.current_revision().is_some_and(|r| r.stable));
    check_settled(&s);
}

#[test]
fn parallelism_and_delay_shape_the_batches() {
    let (mut s, mut ids) = cluster(|sp| {
        sp.update_config.parallelism = 2;
        sp.update_config.delay_ms = 5_000;
    });
    image_v2(&mut s);
    let t = T0 + 10_000;
    run_cluster(&mut s, t, &mut ids);
    assert_eq!(live(&s, "demo/busybox:2"), 2, "a batch of two");
    run_cluster(&mut s, t + MONITOR, &mut ids);
    assert_eq!(live(&s, "demo/busybox:2"), 2, "settled, but the delay runs");
    run_cluster(&mut s, t + MONITOR + 4_999, &mut ids);
    assert_eq!(live(&s, "demo/busybox:2"), 2);
    run_cluster(&mut s, t + MONITOR + 5_000, &mut ids);
    assert_eq!(live(&s, "demo/busybox:2"), 3);
}

#[test]
fn parallelism_zero_replaces_everything_at_once() {
    let (mut s, mut ids) = cluster(|sp| sp.update_config.parallelism = 0);
    image_v2(&mut s);
    run_cluster(&mut s, T0 + 10_000, &mut ids);
    assert_eq!(live(&s, "demo/busybox:2"), 3);
}

#[test]
fn start_first_keeps_the_old_task_until_the_new_one_serves() {
    let (mut s, mut ids) = cluster(|sp| sp.update_config.order = UpdateOrder::StartFirst);
    image_v2(&mut s);
    let t = T0 + 10_000;
    // Orchestrate and place only: the new task exists beside the old one.
    settle(&mut s, t, &mut ids);
    assert_eq!(live(&s, "demo/busybox:1"), 3, "no old task stopped yet");
    assert_eq!(live(&s, "demo/busybox:2"), 1);
    let new = newest(&s);
    assert_eq!(new.slot, 1);
    let old = tasks_of(&s, "web")
        .into_iter()
        .find(|t| t.slot == 1 && t.spec.image == "demo/busybox:1")
        .map(|t| t.id.clone())
        .expect("the old task of slot 1");
    assert_eq!(s.tasks[&old].desired_state, TaskState::Running);
    // It runs with a health check still starting: not serving, the old one stays.
    let mut st = TaskStatus::new(TaskState::Running, t, "started");
    st.health = Some(TaskHealth {
        state: HealthState::Starting,
        since: t,
        failing_streak: 0,
        log: vec![],
    });
    s.apply(&Command::UpdateTaskStatus {
        updates: vec![(new.id.clone(), st.clone())],
    });
    settle(&mut s, t + 100, &mut ids);
    assert_eq!(live(&s, "demo/busybox:1"), 3);
    // Healthy: the old one is retired.
    st.health = Some(TaskHealth {
        state: HealthState::Healthy,
        since: t + 200,
        failing_streak: 0,
        log: vec![],
    });
    st.message = "healthy".into();
    s.apply(&Command::UpdateTaskStatus {
        updates: vec![(new.id.clone(), st)],
    });
    settle(&mut s, t + 200, &mut ids);
    assert_eq!(live(&s, "demo/busybox:1"), 2);
    assert_eq!(s.tasks[&old].desired_state, TaskState::Shutdown);
    // Monitor is counted from healthy (t + 200), not from running (t).
    run_cluster(&mut s, t + 200 + MONITOR - 1, &mut ids);
    assert_eq!(live(&s, "demo/busybox:2"), 1);
    run_cluster(&mut s, t + 200 + MONITOR, &mut ids);
    assert_eq!(live(&s, "demo/busybox:2"), 2);
    for k in 2..6 {
        run_cluster(&mut s, t + 200 + k * MONITOR, &mut ids);
    }
    assert_eq!(state_of(&s).map(|x| x.0), Some(UpdateState::Completed));
    assert_eq!(
        (live(&s, "demo/busybox:1"), live(&s, "demo/busybox:2")),
        (0, 3)
    );
    check_settled(&s);
}

#[test]
fn a_failed_new_task_rolls_back_to_the_last_stable_revision() {
    let (mut s, mut ids) = cluster(|sp| sp.update_config.failure_action = FailureAction::Rollback);
    image_v2(&mut s);
    let t = T0 + 10_000;
    run_cluster(&mut s, t, &mut ids);
    let bad = newest(&s);
    let mut st = TaskStatus::new(TaskState::Failed, t + 50, "exited with 1");
    st.err = Some("task exited with code 1".into());
    s.apply(&Command::UpdateTaskStatus {
        updates: vec![(bad.id.clone(), st)],
    });
    let cmds = orchestrate(&s, t + 60, &mut ids);
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::RollbackService { to: Some(1), .. })),
        "{cmds:?}"
    );
    apply_all(&mut s, &cmds);
    let svc = &s.services["web"];
    assert_eq!(svc.spec.image, "demo/busybox:1");
    let u = svc.rollout.update.clone().expect("status");
    assert_eq!(
        (u.state, u.from, u.to),
        (UpdateState::RollbackStarted, 2, 1)
    );
    assert_eq!(u.message, "task st_web.1 failed: task exited with code 1");
    for k in 0..5 {
        run_cluster(&mut s, t + 100 + k * MONITOR, &mut ids);
    }
    let (state, msg) = state_of(&s).expect("status");
    assert_eq!(state, UpdateState::RollbackCompleted);
    assert!(msg.contains("st_web.1 failed"), "{msg}");
    assert_eq!(
        (live(&s, "demo/busybox:1"), live(&s, "demo/busybox:2")),
        (3, 0)
    );
    let replaced = tasks_of(&s, "web")
        .iter()
        .filter(|t| t.spec.image == "demo/busybox:2")
        .map(|t| t.slot)
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        replaced.len(),
        1,
        "at most parallelism (1) slots got the bad version"
    );
    // The two untouched slots kept their original tasks.
    let originals = tasks_of(&s, "web")
        .iter()
        .filter(|t| t.spec_version == 1 && t.desired_state == TaskState::Running)
        .count();
    assert_eq!(originals, 2);
    check_settled(&s);
}

#[test]
fn an_unplaceable_task_fails_at_healthy_deadline_with_the_schedulers_reason() {
    let (mut s, mut ids) = cluster(|sp| sp.update_config.healthy_deadline_ms = 10_000);
    update(&mut s, |sp| {
        sp.constraints
            .push(constraint(label("zone"), ConstraintOp::Eq, "mars"))
    });
    let t = T0 + 10_000;
    run_cluster(&mut s, t, &mut ids);
    assert_eq!(state_of(&s).map(|x| x.0), Some(UpdateState::Updating));
    run_cluster(&mut s, t + 9_999, &mut ids);
    assert_eq!(state_of(&s).map(|x| x.0), Some(UpdateState::Updating));
    run_cluster(&mut s, t + 10_000, &mut ids);
    let (state, msg) = state_of(&s).expect("status");
    assert_eq!(state, UpdateState::Paused);
    assert!(
        msg.starts_with("task st_web.1 not placed within 10s: no suitable node"),
        "{msg}"
    );
    // Paused: nothing more is replaced.
    run_cluster(&mut s, t + 60_000, &mut ids);
    let running = tasks_of(&s, "web")
        .iter()
        .filter(|t| t.status.state == TaskState::Running)
        .count();
    assert_eq!(running, 2, "the two other old tasks still run");
}

#[test]
fn an_unhealthy_new_task_names_its_probe_output() {
    let (mut s, mut ids) = cluster(|_| {});
    image_v2(&mut s);
    let t = T0 + 10_000;
    run_cluster(&mut s, t, &mut ids);
    let new = newest(&s);
    let mut st = TaskStatus::new(TaskState::Running, t + 10, "unhealthy");
    st.health = Some(TaskHealth {
        state: HealthState::Unhealthy,
        since: t + 10,
        failing_streak: 3,
        log: vec![ProbeResult {
            started: t,
            ended: t + 1,
            exit_code: 1,
            output: "connection refused\n".into(),
        }],
    });
    s.apply(&Command::UpdateTaskStatus {
        updates: vec![(new.id.clone(), st)],
    });
    run_cluster(&mut s, t + 20, &mut ids);
    let (state, msg) = state_of(&s).expect("status");
    assert_eq!(state, UpdateState::Paused);
    assert_eq!(msg, "task st_web.1 unhealthy: exit 1: connection refused");
}

#[test]
fn a_service_with_volumes_pauses_instead_of_rolling_back_unless_safe() {
    for safe in [false, true] {
        let (mut s, mut ids) = cluster(|sp| {
            sp.update_config.failure_action = FailureAction::Rollback;
            sp.rollback_config.stateful_safe = safe;
            sp.mounts.push(Mount::Volume {
                name: "st_data".into(),
                target: "/data".into(),
                read_only: false,
                volume: VolumeSpec {
                    driver: VolumeDriver::CephFs {
                        fs_name: "cephfs".into(),
                        group: None,
                    },
                    size_bytes: 0,
                },
            });
        });
        image_v2(&mut s);
        let t = T0 + 10_000;
        run_cluster(&mut s, t, &mut ids);
        let bad = newest(&s);
        s.apply(&Command::UpdateTaskStatus {
            updates: vec![(
                bad.id.clone(),
                TaskStatus::new(TaskState::Failed, t + 5, "exited with 1"),
            )],
        });
        run_cluster(&mut s, t + 10, &mut ids);
        let (state, msg) = state_of(&s).expect("status");
        if safe {
            assert!(state.is_rollback(), "{state:?}");
        } else {
            assert_eq!(state, UpdateState::Paused);
            assert!(
                msg.contains("not rolled back automatically: the service has volumes"),
                "{msg}"
            );
        }
    }
}

#[test]
fn failures_up_to_the_ratio_are_tolerated_and_continue_goes_on() {
    let (mut s, mut ids) = cluster(|sp| {
        sp.update_config.failure_action = FailureAction::Continue;
        sp.restart.condition = orc_spec::RestartCondition::None;
    });
    image_v2(&mut s);
    let t = T0 + 10_000;
    run_cluster(&mut s, t, &mut ids);
    let bad = newest(&s);
    s.apply(&Command::UpdateTaskStatus {
        updates: vec![(
            bad.id.clone(),
            TaskStatus::new(TaskState::Failed, t + 5, "exited with 1"),
        )],
    });
    for k in 1..6 {
        run_cluster(&mut s, t + k * MONITOR, &mut ids);
    }
    let (state, msg) = state_of(&s).expect("status");
    assert_eq!(state, UpdateState::Completed);
    assert!(
        msg.starts_with("1 task(s) failed (last: task st_web.1 failed"),
        "{msg}"
    );
    assert!(
        !s.services["web"]
            .current_revision()
            .is_some_and(|r| r.stable),
        "a rollout with failures is no rollback target"
    );
}

#[test]
fn a_rollout_past_its_progress_deadline_pauses() {
    let (mut s, mut ids) = cluster(|sp| {
        sp.update_config.progress_deadline_ms = 30_000;
        sp.update_config.healthy_deadline_ms = 600_000;
    });
    image_v2(&mut s);
    let t = T0 + 10_000;
    // The new task is placed but never reports (a slow pull).
    settle(&mut s, t, &mut ids);
    settle(&mut s, t + 30_000, &mut ids);
    assert_eq!(state_of(&s).map(|x| x.0), Some(UpdateState::Updating));
    settle(&mut s, t + 30_001, &mut ids);
    let (state, msg) = state_of(&s).expect("status");
    assert_eq!(state, UpdateState::Paused);
    assert_eq!(
        msg,
        "not done within 30s (progress_deadline): 0 of 3 tasks updated"
    );
}

#[test]
fn a_newer_deploy_during_an_update_starts_a_new_rollout() {
    let (mut s, mut ids) = cluster(|_| {});
    image_v2(&mut s);
    let t = T0 + 10_000;
    run_cluster(&mut s, t, &mut ids);
    update(&mut s, |sp| sp.image = "demo/busybox:3".into());
    run_cluster(&mut s, t + 100, &mut ids);
    let u = s.services["web"].rollout.update.clone().expect("status");
    assert_eq!((u.state, u.from, u.to), (UpdateState::Updating, 2, 3));
    for k in 1..8 {
        run_cluster(&mut s, t + 100 + k * MONITOR, &mut ids);
    }
    assert_eq!(live(&s, "demo/busybox:3"), 3);
    assert_eq!(state_of(&s).map(|x| x.0), Some(UpdateState::Completed));
}

#[test]
fn a_drained_node_still_moves_its_tasks_during_an_update() {
    let (mut s, mut ids) = cluster(|_| {});
    image_v2(&mut s);
    let t = T0 + 10_000;
    run_cluster(&mut s, t, &mut ids);
    s.apply(&Command::SetNodeAvailability {
        id: 3,
        availability: orc_model::Availability::Drain,
        at: t,
    });
    run_cluster(&mut s, t + 1, &mut ids);
    assert!(s
        .tasks_on_node(3)
        .all(|t| t.desired_state == TaskState::Shutdown));
    check_settled(&s);
}

#[test]
fn a_revision_is_stable_only_once_its_tasks_served_through_monitor() {
    let mut s = ClusterState::default();
    add_nodes(&mut s, [node(1), node(2), node(3)]);
    let mut sp = replicated(3);
    sp.update_config.monitor_ms = 5_000;
    deploy(&mut s, sp);
    let mut ids = Ids::default();
    run_cluster(&mut s, T0, &mut ids);
    run_cluster(&mut s, T0 + 4_999, &mut ids);
    assert!(!s.services["web"].rollout.revisions[0].stable);
    run_cluster(&mut s, T0 + 5_000, &mut ids);
    assert!(s.services["web"].rollout.revisions[0].stable);
}

#[test]
fn force_rolls_out_every_task_though_the_spec_is_the_same() {
    let (mut s, mut ids) = cluster(|sp| sp.update_config.parallelism = 0);
    let before: Vec<String> = running_desired(&s, "web")
        .iter()
        .map(|t| t.id.clone())
        .collect();
    s.apply(&Command::ForceUpdate {
        id: "web".into(),
        at: T0 + 5_000,
    });
    let t = T0 + 10_000;
    run_cluster(&mut s, t, &mut ids);
    run_cluster(&mut s, t + MONITOR, &mut ids);
    let after: Vec<String> = running_desired(&s, "web")
        .iter()
        .map(|t| t.id.clone())
        .collect();
    assert_eq!(after.len(), 3);
    assert!(
        after.iter().all(|id| !before.contains(id)),
        "{before:?} {after:?}"
    );
    assert_eq!(state_of(&s).map(|x| x.0), Some(UpdateState::Completed));
}
