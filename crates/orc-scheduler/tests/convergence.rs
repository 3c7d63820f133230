//! Convergence: passes applied to the state settle in a few rounds and then propose
//! nothing (see random_walk.rs for the randomized version).
mod support;

use orc_model::{Availability, ClusterState, Command, NodeStatus, TaskState};
use orc_scheduler::schedule;
use support::*;

#[test]
fn a_mixed_cluster_settles_and_stays_settled() {
    let mut s = ClusterState::default();
    add_nodes(&mut s, (1..=5).map(|i| node_with(i, 4 * CPU, 8 * GIB)));
    for (i, n) in [3u32, 7, 1, 12].iter().enumerate() {
        let mut sp = replicated(*n);
        sp.resources.reservations.memory_bytes = GIB / 2;
        add_service(&mut s, &format!("svc{i}"), sp);
    }
    add_service(&mut s, "mon", global());
    let mut ids = Ids::default();
    let rounds = settle(&mut s, 1_000, &mut ids);
    assert!(rounds <= 3, "settled in {rounds} rounds");
    check_settled(&s);
    run_cluster(&mut s, 1_000, &mut ids);
    check_settled(&s);
    assert!(s
        .tasks
        .values()
        .all(|t| t.status.state == TaskState::Running));
    assert_eq!(s.tasks.len(), 3 + 7 + 1 + 12 + 5);
    let before = s.clone();
    assert_eq!(settle(&mut s, 2_000, &mut ids), 0);
    assert_eq!(s, before, "a settled cluster proposes nothing");
}

#[test]
fn a_cluster_too_small_settles_with_reasons_and_recovers_when_nodes_join() {
    let mut s = ClusterState::default();
    add_nodes(&mut s, [node_with(1, CPU, GIB)]);
    let mut sp = replicated(4);
    sp.resources.reservations.memory_bytes = GIB / 2;
    add_service(&mut s, "web", sp);
    let mut ids = Ids::default();
    run_cluster(&mut s, 1_000, &mut ids);
    check_settled(&s);
    let pending: Vec<_> = s.tasks.values().filter(|t| t.node_id.is_none()).collect();
    assert_eq!(pending.len(), 2);
    assert!(pending
        .iter()
        .all(|t| t.status.message == "no suitable node (1 node insufficient memory)"));
    let rev = s.revision;
    assert_eq!(settle(&mut s, 2_000, &mut ids), 0);
    assert_eq!(s.revision, rev, "unchanged reasons are not proposed again");

    s.apply(&Command::PutNode(node_with(2, CPU, GIB)));
    run_cluster(&mut s, 3_000, &mut ids);
    check_settled(&s);
    assert!(s
        .tasks
        .values()
        .all(|t| t.status.state == TaskState::Running));
    assert!(schedule(&s, 3_000).assignments.is_empty());
}

#[test]
fn a_sequence_of_operations_keeps_every_slot_filled() {
    let mut s = ClusterState::default();
    add_nodes(&mut s, (1..=4).map(node));
    add_service(&mut s, "web", replicated(6));
    add_service(&mut s, "mon", global());
    let mut ids = Ids::default();
    type Step = Box<dyn Fn(&mut ClusterState)>;
    let steps: Vec<Step> = vec![
        Box::new(|s| {
            s.apply(&Command::SetNodeStatus {
                id: 1,
                status: NodeStatus::Down,
                message: String::new(),
                at: 0,
            });
        }),
        Box::new(|s| update_service(s, "web", |sp| sp.image = "v2".into())),
        Box::new(|s| {
            s.apply(&Command::SetNodeAvailability {
                id: 2,
                availability: Availability::Drain,
                at: 0,
            });
        }),
        Box::new(|s| {
            s.apply(&Command::ScaleService {
                name: "st_web".into(),
                replicas: 9,
                at: 0,
            });
        }),
        Box::new(|s| {
            s.apply(&Command::SetNodeStatus {
                id: 1,
                status: NodeStatus::Ready,
                message: String::new(),
                at: 0,
            });
        }),
        Box::new(|s| {
            s.apply(&Command::RemoveNode { id: 3 });
        }),
        Box::new(|s| {
            s.apply(&Command::ScaleService {
                name: "st_web".into(),
                replicas: 2,
                at: 0,
            });
        }),
    ];
    for (i, step) in steps.iter().enumerate() {
        let now = 10_000 * (i as u64 + 1);
        step(&mut s);
        run_cluster(&mut s, now, &mut ids);
        check_settled(&s);
        for t in running_desired(&s, "web") {
            let n = t
                .node_id
                .and_then(|id| s.nodes.get(&id))
                .expect("placed on a live node");
            assert_eq!(
                (n.status, n.availability),
                (NodeStatus::Ready, Availability::Active),
                "step {i}"
            );
            assert_eq!(t.status.state, TaskState::Running, "step {i}");
        }
    }
    assert_eq!(running_desired(&s, "web").len(), 2);
    assert_eq!(
        running_desired(&s, "mon").len(),
        2,
        "nodes 1 and 4 (2 drained, 3 gone)"
    );
}
