//! The orchestrator on replicated services: scaling, updates, node loss, drains,
//! removed services and history.
mod support;

use orc_model::{Availability, ClusterState, Command, NodeStatus, TaskState};
use orc_scheduler::{reconcile, OrchestratorConfig};
use support::*;

const NOW: u64 = 10_000;

fn running_cluster(nodes: u64, replicas: u32) -> (ClusterState, Ids) {
    let mut s = ClusterState::default();
    add_nodes(&mut s, (1..=nodes).map(node));
    add_service(&mut s, "web", replicated(replicas));
    let mut ids = Ids::default();
    run_cluster(&mut s, NOW, &mut ids);
    (s, ids)
}

#[test]
fn creates_one_pending_task_per_slot_from_the_service() {
    let mut s = ClusterState::default();
    add_service(&mut s, "web", replicated(3));
    let cmds = orchestrate(&s, NOW, &mut Ids::default());
    let [Command::CreateTasks(tasks)] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    let slots: Vec<u32> = tasks.iter().map(|t| t.slot).collect();
    assert_eq!(slots, vec![1, 2, 3]);
    for t in tasks {
        assert_eq!(t.status.state, TaskState::Pending);
        assert_eq!(t.desired_state, TaskState::Running);
        assert_eq!((t.node_id, t.attempt, t.spec_version), (None, 0, 1));
        assert_eq!(t.spec, s.services["web"].spec);
        assert_eq!(t.service_name, "st_web");
    }
    apply_all(&mut s, &cmds);
    assert!(
        orchestrate(&s, NOW, &mut Ids(9)).is_empty(),
        "second pass proposes nothing"
    );
}

#[test]
fn scale_up_and_down() {
    let (mut s, mut ids) = running_cluster(2, 2);
    s.apply(&Command::ScaleService {
        name: "st_web".into(),
        replicas: 4,
        at: NOW,
    });
    let before: Vec<String> = running_desired(&s, "web")
        .iter()
        .map(|t| t.id.clone())
        .collect();
    run_cluster(&mut s, NOW, &mut ids);
    check_settled(&s);
    let after = running_desired(&s, "web");
    assert_eq!(after.len(), 4);
    // Scaling bumped the version, but the old tasks were not replaced.
    assert!(before
        .iter()
        .all(|id| s.tasks[id].desired_state == TaskState::Running));

    s.apply(&Command::ScaleService {
        name: "st_web".into(),
        replicas: 1,
        at: NOW,
    });
    let cmds = orchestrate(&s, NOW, &mut ids);
    let [Command::SetDesiredState { updates }] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    let mut slots: Vec<u32> = updates.iter().map(|(id, _)| s.tasks[id].slot).collect();
    slots.sort();
    assert_eq!(slots, vec![2, 3, 4]);
    assert!(updates.iter().all(|(_, d)| *d == TaskState::Shutdown));
    run_cluster(&mut s, NOW, &mut ids);
    check_settled(&s);
    assert_eq!(in_slot(&s, "web", 1).id, before[0]);
}

#[test]
fn scaling_down_unplaced_tasks_removes_them_after_shutdown() {
    let mut s = ClusterState::default();
    add_service(&mut s, "web", replicated(3));
    let mut ids = Ids::default();
    settle(&mut s, NOW, &mut ids); // no nodes: three pending tasks
    s.apply(&Command::ScaleService {
        name: "st_web".into(),
        replicas: 1,
        at: NOW,
    });
    settle(&mut s, NOW, &mut ids);
    assert_eq!(s.tasks.len(), 1, "tasks that never ran leave no history");
    check_settled(&s);
}

#[test]
fn spec_update_replaces_every_task_in_its_slot() {
    let (mut s, mut ids) = running_cluster(2, 3);
    let old: Vec<(String, u32)> = running_desired(&s, "web")
        .iter()
        .map(|t| (t.id.clone(), t.slot))
        .collect();
    // All at once (parallelism 0): the rolling updater's batches are in tests/update.rs.
    update_service(&mut s, "web", |sp| {
        sp.image = "demo/busybox:2".into();
        sp.update_config.parallelism = 0;
    });
    let cmds = orchestrate(&s, NOW + 1, &mut ids);
    apply_all(&mut s, &cmds);
    for (id, slot) in &old {
        assert_eq!(s.tasks[id].desired_state, TaskState::Shutdown);
        let new = in_slot(&s, "web", *slot);
        assert_eq!((new.spec_version, new.attempt, new.not_before), (2, 1, 0));
        assert_eq!(new.spec.image, "demo/busybox:2");
    }
    run_cluster(&mut s, NOW + 1, &mut ids);
    check_settled(&s);
    assert_eq!(s.tasks.len(), 6, "old tasks kept as history");
}

#[test]
fn node_down_orphans_its_tasks_and_replaces_them_elsewhere() {
    let (mut s, mut ids) = running_cluster(2, 4);
    let on1: Vec<String> = s.tasks_on_node(1).map(|t| t.id.clone()).collect();
    assert_eq!(on1.len(), 2);
    s.apply(&Command::SetNodeStatus {
        id: 1,
        status: NodeStatus::Down,
        message: "no heartbeat".into(),
        at: NOW,
    });
    let cmds = orchestrate(&s, NOW + 5, &mut ids);
    apply_all(&mut s, &cmds);
    for id in &on1 {
        let t = &s.tasks[id];
        assert_eq!(t.status.state, TaskState::Orphaned);
        assert_eq!(t.status.message, "node is down");
        assert_eq!(t.desired_state, TaskState::Shutdown);
        let new = in_slot(&s, "web", t.slot);
        assert_eq!((new.node_id, new.not_before), (None, 0));
    }
    run_cluster(&mut s, NOW + 5, &mut ids);
    check_settled(&s);
    assert!(running_desired(&s, "web")
        .iter()
        .all(|t| t.node_id == Some(2)));
}

#[test]
fn node_removed_counts_as_lost() {
    let (mut s, mut ids) = running_cluster(2, 2);
    s.apply(&Command::RemoveNode { id: 2 });
    let cmds = orchestrate(&s, NOW, &mut ids);
    apply_all(&mut s, &cmds);
    let orphaned: Vec<_> = s
        .tasks
        .values()
        .filter(|t| t.status.state == TaskState::Orphaned)
        .collect();
    assert_eq!(orphaned.len(), 1);
    assert_eq!(orphaned[0].status.message, "node left the cluster");
    run_cluster(&mut s, NOW, &mut ids);
    check_settled(&s);
}

#[test]
fn drain_moves_tasks_and_pause_keeps_them() {
    let (mut s, mut ids) = running_cluster(3, 3);
    s.apply(&Command::SetNodeAvailability {
        id: 1,
        availability: Availability::Pause,
        at: NOW,
    });
    assert!(
        orchestrate(&s, NOW, &mut ids).is_empty(),
        "pause leaves running tasks alone"
    );
    s.apply(&Command::SetNodeAvailability {
        id: 2,
        availability: Availability::Drain,
        at: NOW,
    });
    let on2 = s.tasks_on_node(2).next().unwrap().id.clone();
    run_cluster(&mut s, NOW, &mut ids);
    check_settled(&s);
    assert_eq!(s.tasks[&on2].status.state, TaskState::Shutdown);
    let nodes: Vec<_> = running_desired(&s, "web")
        .iter()
        .map(|t| t.node_id)
        .collect();
    assert_eq!(
        nodes.iter().filter(|n| **n == Some(3)).count(),
        2,
        "{nodes:?}"
    );
    assert_eq!(
        nodes.iter().filter(|n| **n == Some(1)).count(),
        1,
        "{nodes:?}"
    );
}

#[test]
fn removed_service_tasks_are_shut_down_then_removed() {
    let (mut s, mut ids) = running_cluster(2, 2);
    add_service(&mut s, "queued", replicated(1)); // never placed: no nodes fit
    update_service(&mut s, "queued", |sp| {
        sp.constraints
            .push(constraint(label("x"), orc_spec::ConstraintOp::Eq, "y"))
    });
    settle(&mut s, NOW, &mut ids);
    s.apply(&Command::RemoveStack { stack: "st".into() });
    let cmds = orchestrate(&s, NOW, &mut ids);
    let [Command::SetDesiredState { updates }] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    assert_eq!(updates.len(), 3);
    apply_all(&mut s, &cmds);
    // The unplaced one goes at once; the running ones after their agents stop them.
    let cmds = orchestrate(&s, NOW, &mut ids);
    assert!(
        matches!(cmds.as_slice(), [Command::RemoveTasks { ids }] if ids.len() == 1),
        "{cmds:?}"
    );
    apply_all(&mut s, &cmds);
    assert_eq!(s.tasks.len(), 2);
    assert!(
        orchestrate(&s, NOW, &mut ids).is_empty(),
        "running ones wait for their agents"
    );
    agents_report(&mut s, NOW);
    settle(&mut s, NOW, &mut ids);
    assert!(s.tasks.is_empty());
}

#[test]
fn removed_service_tasks_on_a_down_node_go_at_once() {
    let (mut s, mut ids) = running_cluster(1, 1);
    s.apply(&Command::SetNodeStatus {
        id: 1,
        status: NodeStatus::Down,
        message: String::new(),
        at: NOW,
    });
    s.apply(&Command::RemoveStack { stack: "st".into() });
    let cmds = orchestrate(&s, NOW, &mut ids);
    assert!(
        matches!(cmds.as_slice(), [Command::RemoveTasks { ids }] if ids.len() == 1),
        "{cmds:?}"
    );
}

#[test]
fn history_keeps_the_newest_terminal_tasks_per_slot() {
    let (mut s, mut ids) = running_cluster(1, 1);
    let cfg = OrchestratorConfig { task_history: 2 };
    for i in 0..6u64 {
        let cur = in_slot(&s, "web", 1).id.clone();
        end_task(&mut s, &cur, TaskState::Failed, Some(1), NOW + i);
        settle_with(&mut s, NOW + i, &mut ids, &cfg, 20);
        agents_report(&mut s, NOW + i);
    }
    let mut attempts: Vec<u32> = tasks_of(&s, "web").iter().map(|t| t.attempt).collect();
    attempts.sort();
    assert_eq!(attempts, vec![4, 5, 6], "current + two newest terminal");
    let mut ids2 = Ids(1000);
    assert!(reconcile(&s, NOW + 10, &mut || ids2.next_id(), &cfg).is_empty());
}

#[test]
fn fills_gaps_between_existing_slots_and_retires_strays() {
    let mut s = ClusterState::default();
    add_service(&mut s, "web", replicated(4));
    let cmds = orchestrate(&s, NOW, &mut Ids::default());
    let [Command::CreateTasks(tasks)] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    // Keep slots 2 and 4 only, move slot 4's task to slot 6 and add one in slot 0.
    let mut kept = vec![tasks[1].clone(), tasks[3].clone(), tasks[0].clone()];
    kept[1].slot = 6;
    kept[2].slot = 0;
    s.apply(&Command::CreateTasks(kept.clone()));
    let cmds = orchestrate(&s, NOW, &mut Ids(100));
    let created: Vec<u32> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::CreateTasks(v) => Some(v.iter().map(|t| t.slot).collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(created, vec![1, 3, 4]);
    let retired = cmds.iter().find_map(|c| match c {
        Command::SetDesiredState { updates } => Some(updates.clone()),
        _ => None,
    });
    let mut retired: Vec<String> = retired.unwrap().into_iter().map(|(id, _)| id).collect();
    retired.sort();
    assert_eq!(retired, vec![kept[2].id.clone(), kept[1].id.clone()]);
    apply_all(&mut s, &cmds);
    settle(&mut s, NOW, &mut Ids(200));
    check_settled(&s);
}
