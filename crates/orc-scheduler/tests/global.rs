//! The orchestrator on global services: one task per eligible node, following nodes
//! as they join, drain, pause, go down, change labels and leave.
mod support;

use orc_model::{Availability, ClusterState, Command, NodeStatus, TaskState};
use orc_spec::{ConstraintOp, RestartCondition};
use support::*;

const NOW: u64 = 50_000;

fn mon_on(s: &ClusterState) -> Vec<u64> {
    let mut v: Vec<u64> = running_desired(s, "mon")
        .iter()
        .filter_map(|t| t.node_id)
        .collect();
    v.sort();
    v
}

fn global_cluster(nodes: u64) -> (ClusterState, Ids) {
    let mut s = ClusterState::default();
    add_nodes(&mut s, (1..=nodes).map(node));
    add_service(&mut s, "mon", global());
    let mut ids = Ids::default();
    run_cluster(&mut s, NOW, &mut ids);
    (s, ids)
}

#[test]
fn one_assigned_task_per_ready_active_node() {
    let mut s = ClusterState::default();
    let mut down = node(3);
    down.status = NodeStatus::Down;
    let mut paused = node(4);
    paused.availability = Availability::Pause;
    add_nodes(&mut s, [node(1), node(2), down, paused]);
    add_service(&mut s, "mon", global());
    let cmds = orchestrate(&s, NOW, &mut Ids::default());
    let [Command::CreateTasks(tasks)] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    assert_eq!(
        tasks.iter().map(|t| t.node_id).collect::<Vec<_>>(),
        vec![Some(1), Some(2)]
    );
    assert!(tasks
        .iter()
        .all(|t| t.status.state == TaskState::Assigned && t.slot == 0));
    apply_all(&mut s, &cmds);
    assert!(orchestrate(&s, NOW, &mut Ids(9)).is_empty());
    assert!(
        orc_scheduler::schedule(&s, NOW).assignments.is_empty(),
        "nothing for the scheduler"
    );
}

#[test]
fn follows_nodes_joining_draining_and_leaving() {
    let (mut s, mut ids) = global_cluster(2);
    assert_eq!(mon_on(&s), vec![1, 2]);

    s.apply(&Command::PutNode(node(3)));
    run_cluster(&mut s, NOW, &mut ids);
    assert_eq!(mon_on(&s), vec![1, 2, 3]);

    s.apply(&Command::SetNodeAvailability {
        id: 2,
        availability: Availability::Drain,
        at: NOW,
    });
    run_cluster(&mut s, NOW, &mut ids);
    assert_eq!(mon_on(&s), vec![1, 3]);
    assert!(s
        .tasks_on_node(2)
        .all(|t| t.status.state == TaskState::Shutdown));

    s.apply(&Command::SetNodeAvailability {
        id: 2,
        availability: Availability::Active,
        at: NOW,
    });
    run_cluster(&mut s, NOW, &mut ids);
    assert_eq!(mon_on(&s), vec![1, 2, 3]);

    s.apply(&Command::RemoveNode { id: 3 });
    let cmds = orchestrate(&s, NOW, &mut ids);
    assert!(
        !cmds.iter().any(|c| matches!(c, Command::CreateTasks(_))),
        "nothing replaces it"
    );
    run_cluster(&mut s, NOW, &mut ids);
    assert_eq!(mon_on(&s), vec![1, 2]);
    assert_eq!(
        s.tasks.values().filter(|t| t.node_id == Some(3)).count(),
        0,
        "gone with the node"
    );
    check_invariants(&s);
}

#[test]
fn node_down_orphans_and_coming_back_starts_a_new_task() {
    let (mut s, mut ids) = global_cluster(2);
    let old = s.tasks_on_node(2).next().unwrap().id.clone();
    s.apply(&Command::SetNodeStatus {
        id: 2,
        status: NodeStatus::Down,
        message: String::new(),
        at: NOW,
    });
    let cmds = orchestrate(&s, NOW, &mut ids);
    assert!(!cmds.iter().any(|c| matches!(c, Command::CreateTasks(_))));
    apply_all(&mut s, &cmds);
    assert_eq!(s.tasks[&old].status.state, TaskState::Orphaned);
    assert_eq!(mon_on(&s), vec![1]);
    s.apply(&Command::SetNodeStatus {
        id: 2,
        status: NodeStatus::Ready,
        message: String::new(),
        at: NOW,
    });
    run_cluster(&mut s, NOW, &mut ids);
    assert_eq!(mon_on(&s), vec![1, 2]);
    assert_eq!(
        running_desired(&s, "mon")
            .iter()
            .find(|t| t.node_id == Some(2))
            .unwrap()
            .attempt,
        1
    );
}

#[test]
fn constraints_and_label_changes() {
    let mut s = ClusterState::default();
    let mut a = node(1);
    a.labels.insert("zone".into(), "a".into());
    add_nodes(&mut s, [a, node(2)]);
    let mut sp = global();
    sp.constraints
        .push(constraint(label("zone"), ConstraintOp::Eq, "a"));
    add_service(&mut s, "mon", sp);
    let mut ids = Ids::default();
    run_cluster(&mut s, NOW, &mut ids);
    assert_eq!(mon_on(&s), vec![1]);
    s.apply(&Command::SetNodeLabels {
        id: 2,
        labels: [("zone".to_string(), "a".to_string())].into(),
        at: NOW,
    });
    s.apply(&Command::SetNodeLabels {
        id: 1,
        labels: Default::default(),
        at: NOW,
    });
    run_cluster(&mut s, NOW, &mut ids);
    assert_eq!(mon_on(&s), vec![2]);
}

#[test]
fn pause_keeps_tasks_and_defers_restarts_and_updates() {
    let (mut s, mut ids) = global_cluster(1);
    let first = s.tasks.values().next().unwrap().id.clone();
    s.apply(&Command::SetNodeAvailability {
        id: 1,
        availability: Availability::Pause,
        at: NOW,
    });
    update_service(&mut s, "mon", |sp| sp.image = "demo/busybox:2".into());
    assert!(
        orchestrate(&s, NOW, &mut ids).is_empty(),
        "no update on a paused node"
    );
    end_task(&mut s, &first, TaskState::Failed, Some(1), NOW + 1);
    assert!(
        orchestrate(&s, NOW + 1, &mut ids).is_empty(),
        "no restart on a paused node"
    );
    s.apply(&Command::SetNodeAvailability {
        id: 1,
        availability: Availability::Active,
        at: NOW,
    });
    run_cluster(&mut s, NOW + 2, &mut ids);
    let t = running_desired(&s, "mon")[0];
    assert_eq!(
        (t.spec_version, t.attempt, t.status.state),
        (2, 1, TaskState::Running)
    );
}

#[test]
fn restart_policy_applies_per_node() {
    let mut s = ClusterState::default();
    add_nodes(&mut s, [node(1), node(2)]);
    let mut sp = global();
    sp.restart.condition = RestartCondition::OnFailure;
    sp.restart.delay_ms = 700;
    add_service(&mut s, "mon", sp);
    let mut ids = Ids::default();
    run_cluster(&mut s, NOW, &mut ids);
    let on1 = s.tasks_on_node(1).next().unwrap().id.clone();
    let on2 = s.tasks_on_node(2).next().unwrap().id.clone();
    end_task(&mut s, &on1, TaskState::Failed, Some(3), NOW + 1);
    end_task(&mut s, &on2, TaskState::Complete, Some(0), NOW + 1);
    let cmds = orchestrate(&s, NOW + 1, &mut ids);
    apply_all(&mut s, &cmds);
    let new1 = running_desired(&s, "mon");
    assert_eq!(new1.len(), 1);
    assert_eq!(
        (new1[0].node_id, new1[0].not_before, new1[0].attempt),
        (Some(1), NOW + 701, 1)
    );
    assert_eq!(s.tasks[&on2].desired_state, TaskState::Complete);
    run_cluster(&mut s, NOW + 1, &mut ids);
    check_invariants(&s);
}

#[test]
fn switching_modes_replaces_every_task() {
    let (mut s, mut ids) = global_cluster(2);
    update_service(&mut s, "mon", |sp| {
        sp.mode = orc_model::ServiceMode::Replicated { replicas: 3 }
    });
    run_cluster(&mut s, NOW, &mut ids);
    check_settled(&s);
    assert_eq!(running_desired(&s, "mon").len(), 3);
    assert!(running_desired(&s, "mon").iter().all(|t| t.slot >= 1));
    update_service(&mut s, "mon", |sp| sp.mode = orc_model::ServiceMode::Global);
    run_cluster(&mut s, NOW, &mut ids);
    check_settled(&s);
    assert_eq!(mon_on(&s), vec![1, 2]);
}
