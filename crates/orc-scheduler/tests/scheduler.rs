//! Placement: filters, reservations, spread and pending reasons.
mod support;

use orc_model::{Availability, ClusterState, NodeRole, NodeStatus, TaskState};
use orc_scheduler::schedule;
use orc_spec::{ConstraintKey, ConstraintOp};
use std::collections::BTreeMap;
use support::*;

const NOW: u64 = 1_000;

/// A cluster with `nodes`, one service `id` with `replicas` tasks created (pending).
fn cluster(nodes: Vec<orc_model::Node>, id: &str, spec: orc_spec::ServiceSpec) -> ClusterState {
    let mut s = ClusterState::default();
    add_nodes(&mut s, nodes);
    add_service(&mut s, id, spec);
    let cmds = orchestrate(&s, NOW, &mut Ids::default());
    apply_all(&mut s, &cmds);
    s
}

fn placed_on(s: &ClusterState) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for (_, n) in schedule(s, NOW).assignments {
        *m.entry(n).or_default() += 1;
    }
    m
}

#[test]
fn spreads_replicas_evenly_and_deterministically() {
    let s = cluster((1..=3).map(node).collect(), "web", replicated(7));
    let out = schedule(&s, NOW);
    assert!(out.pending.is_empty());
    assert_eq!(out.assignments.len(), 7);
    assert_eq!(placed_on(&s), BTreeMap::from([(1, 3), (2, 2), (3, 2)]));
    assert_eq!(out, schedule(&s, NOW), "same state, same placement");
}

#[test]
fn spread_prefers_nodes_without_the_service_then_emptier_nodes() {
    let mut s = cluster((1..=3).map(node).collect(), "web", replicated(2));
    // Node 1 already runs two tasks of another service; web goes to 2 and 3.
    add_service(&mut s, "db", replicated(2));
    let mut ids = Ids(100);
    let cmds = orchestrate(&s, NOW, &mut ids);
    apply_all(&mut s, &cmds);
    let db: Vec<String> = tasks_of(&s, "db").iter().map(|t| t.id.clone()).collect();
    s.apply(&orc_model::Command::AssignTasks {
        assignments: db.iter().map(|id| (id.clone(), 1)).collect(),
        at: NOW,
    });
    assert_eq!(placed_on(&s), BTreeMap::from([(2, 1), (3, 1)]));
}

#[test]
fn reservations_are_respected_within_and_across_passes() {
    let mut sp = replicated(5);
    sp.resources.reservations.memory_bytes = GIB;
    sp.resources.reservations.nano_cpus = CPU / 2;
    let mut s = cluster(
        vec![node_with(1, 4 * CPU, 2 * GIB), node_with(2, CPU, 4 * GIB)],
        "web",
        sp,
    );
    let out = schedule(&s, NOW);
    // Node 1: 2 GiB → 2 tasks; node 2: 1 CPU → 2 tasks; one left over.
    assert_eq!(out.assignments.len(), 4);
    assert_eq!(out.pending.len(), 1);
    assert_eq!(
        out.pending[0].1,
        "no suitable node (1 node insufficient cpu; 1 node insufficient memory)"
    );
    let cmds = out.into_commands(&s, NOW);
    apply_all(&mut s, &cmds);
    let pending = s.tasks.values().find(|t| t.node_id.is_none()).unwrap();
    assert_eq!(pending.status.state, TaskState::Pending);
    assert!(pending.status.message.starts_with("no suitable node"));
    // A second pass sees the node usage from the state: nothing new to do.
    assert!(schedule(&s, NOW).into_commands(&s, NOW).is_empty());
}

#[test]
fn unknown_node_resources_and_zero_reservations_do_not_restrict() {
    let mut sp = replicated(6);
    sp.resources.reservations.memory_bytes = 10 * GIB;
    let s = cluster(vec![node(1)], "big", sp);
    assert_eq!(
        schedule(&s, NOW).assignments.len(),
        6,
        "node reports 0 = unknown"
    );
    let s = cluster(vec![node_with(1, CPU, GIB)], "small", replicated(6));
    assert_eq!(
        schedule(&s, NOW).assignments.len(),
        6,
        "task reserves nothing"
    );
}

#[test]
fn tasks_fitting_nowhere_stay_pending_with_each_filter_named() {
    let mut n2 = node(2);
    n2.status = NodeStatus::Down;
    let mut n3 = node(3);
    n3.availability = Availability::Pause;
    let mut n4 = node(4);
    n4.availability = Availability::Drain;
    let n5 = node_with(5, CPU, GIB);
    let mut sp = replicated(2);
    sp.constraints
        .push(constraint(label("disk"), ConstraintOp::Eq, "ssd"));
    let mut n1 = node(1);
    n1.labels.insert("disk".into(), "hdd".into());
    let mut s = cluster(vec![n1, n2, n3, n4, n5.clone()], "web", sp);
    let out = schedule(&s, NOW);
    assert!(out.assignments.is_empty());
    let why = "no suitable node (1 node not ready; 2 nodes not available; 2 nodes not matching constraints)";
    assert_eq!(
        out.pending,
        vec![("t00001".into(), why.into()), ("t00002".into(), why.into())]
    );
    let cmds = out.into_commands(&s, NOW);
    assert_eq!(cmds.len(), 1);
    apply_all(&mut s, &cmds);
    assert!(
        schedule(&s, NOW).into_commands(&s, NOW).is_empty(),
        "unchanged reason: no command"
    );

    // The label appears but the node is too small: the reason changes once.
    let mut n5 = n5;
    n5.labels.insert("disk".into(), "ssd".into());
    s.apply(&orc_model::Command::PutNode(n5));
    update_service(&mut s, "web", |sp| {
        sp.resources.reservations.memory_bytes = 2 * GIB
    });
    let mut ids = Ids(10);
    let cmds = orchestrate(&s, NOW, &mut ids);
    apply_all(&mut s, &cmds);
    let out = schedule(&s, NOW);
    assert!(
        out.pending.iter().all(|(_, why)| why
            .ends_with("1 node not matching constraints; 1 node insufficient memory)")),
        "{out:?}"
    );
}

#[test]
fn no_nodes_at_all() {
    let s = cluster(vec![], "web", replicated(1));
    let out = schedule(&s, NOW);
    assert_eq!(
        out.pending[0].1,
        "no suitable node (no nodes in the cluster)"
    );
}

#[test]
fn constraints_on_each_key_with_eq_and_ne() {
    let mut m = node(1);
    m.role = NodeRole::Manager;
    m.hostname = "rock1".into();
    m.labels.insert("disk".into(), "ssd".into());
    let w = node(2);
    let cases: Vec<(ConstraintKey, ConstraintOp, &str, u64)> = vec![
        (
            ConstraintKey::NodeId,
            ConstraintOp::Eq,
            "0000000000000001",
            1,
        ),
        (ConstraintKey::NodeId, ConstraintOp::Eq, "2", 2),
        (
            ConstraintKey::NodeId,
            ConstraintOp::Ne,
            "0000000000000001",
            2,
        ),
        (ConstraintKey::NodeHostname, ConstraintOp::Eq, "rock1", 1),
        (ConstraintKey::NodeHostname, ConstraintOp::Ne, "rock1", 2),
        (ConstraintKey::NodeRole, ConstraintOp::Eq, "manager", 1),
        (ConstraintKey::NodeRole, ConstraintOp::Ne, "manager", 2),
        (ConstraintKey::NodeRole, ConstraintOp::Eq, "worker", 2),
        (label("disk"), ConstraintOp::Eq, "ssd", 1),
        (label("disk"), ConstraintOp::Ne, "ssd", 2),
    ];
    for (key, op, value, want) in cases {
        let mut sp = replicated(3);
        sp.constraints.push(constraint(key.clone(), op, value));
        let s = cluster(vec![m.clone(), w.clone()], "web", sp);
        assert_eq!(
            placed_on(&s),
            BTreeMap::from([(want, 3)]),
            "{key:?} {op:?} {value}"
        );
    }
}

#[test]
fn paused_and_drained_nodes_get_nothing_new() {
    let mut p = node(1);
    p.availability = Availability::Pause;
    let mut d = node(2);
    d.availability = Availability::Drain;
    let s = cluster(vec![p, d, node(3)], "web", replicated(4));
    assert_eq!(placed_on(&s), BTreeMap::from([(3, 4)]));
}

#[test]
fn ignores_assigned_retired_and_global_tasks() {
    let mut s = cluster(vec![node(1), node(2)], "web", replicated(2));
    add_service(&mut s, "mon", global());
    let mut ids = Ids(50);
    let cmds = orchestrate(&s, NOW, &mut ids);
    apply_all(&mut s, &cmds);
    // Two global tasks arrive assigned; only web's two pending tasks are placed.
    let out = schedule(&s, NOW);
    assert_eq!(out.assignments.len(), 2);
    assert!(out
        .assignments
        .iter()
        .all(|(id, _)| s.tasks[id].service_id == "web"));
    // A retired pending task is not placed.
    let id = out.assignments[0].0.clone();
    s.apply(&orc_model::Command::SetDesiredState {
        updates: vec![(id.clone(), TaskState::Shutdown)],
    });
    assert!(schedule(&s, NOW).assignments.iter().all(|(t, _)| *t != id));
}
