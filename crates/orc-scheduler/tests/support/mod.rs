//! Builders and a tiny simulated cluster for the orchestrator and scheduler tests.
#![allow(dead_code)]

use orc_model::{
    Availability, ClusterState, Command, Node, NodeId, NodeResources, NodeRole, NodeStatus,
    Platform, Service, ServiceMode, ServiceSpec, Task, TaskState, TaskStatus, Timestamp,
};
use orc_scheduler::{reconcile, schedule, OrchestratorConfig};
use orc_spec::{Constraint, ConstraintKey, ConstraintOp};
use std::collections::{BTreeMap, BTreeSet};

pub const GIB: u64 = 1 << 30;
pub const CPU: u64 = 1_000_000_000;

/// Deterministic task ids: t00001, t00002, …
#[derive(Debug, Default)]
pub struct Ids(pub u64);

impl Ids {
    pub fn next_id(&mut self) -> String {
        self.0 += 1;
        format!("t{:05}", self.0)
    }
}

pub fn node(id: NodeId) -> Node {
    Node {
        id,
        hostname: format!("node{id}"),
        role: NodeRole::Worker,
        availability: Availability::Active,
        status: NodeStatus::Ready,
        status_message: String::new(),
        address: format!("10.0.0.{id}:4747"),
        resources: NodeResources::default(),
        labels: BTreeMap::new(),
        platform: Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: "v8".into(),
        },
        created_at: 0,
        updated_at: 0,
    }
}

pub fn node_with(id: NodeId, cpus: u64, mem: u64) -> Node {
    let mut n = node(id);
    n.resources = NodeResources {
        nano_cpus: cpus,
        memory_bytes: mem,
    };
    n
}

pub fn spec(mode: ServiceMode) -> ServiceSpec {
    ServiceSpec {
        command: Some(vec!["sleep".into(), "1000".into()]),
        mode,
        ..ServiceSpec::new("demo/busybox:1")
    }
}

pub fn replicated(replicas: u32) -> ServiceSpec {
    spec(ServiceMode::Replicated { replicas })
}

pub fn global() -> ServiceSpec {
    spec(ServiceMode::Global)
}

pub fn constraint(key: ConstraintKey, op: ConstraintOp, value: &str) -> Constraint {
    Constraint {
        key,
        op,
        value: value.into(),
    }
}

pub fn label(k: &str) -> ConstraintKey {
    ConstraintKey::NodeLabel(k.into())
}

pub fn add_service(s: &mut ClusterState, id: &str, spec: ServiceSpec) {
    s.services.insert(
        id.into(),
        Service {
            id: id.into(),
            name: format!("st_{id}"),
            stack: "st".into(),
            short_name: id.into(),
            spec,
            version: 1,
            created_at: 0,
            updated_at: 0,
            rollout: Default::default(),
        },
    );
}

/// Changes a service's spec the way a deploy does (version + 1).
pub fn update_service(s: &mut ClusterState, id: &str, f: impl FnOnce(&mut ServiceSpec)) {
    let svc = s.services.get_mut(id).expect("service");
    f(&mut svc.spec);
    svc.version += 1;
}

pub fn add_nodes(s: &mut ClusterState, nodes: impl IntoIterator<Item = Node>) {
    for n in nodes {
        s.nodes.insert(n.id, n);
    }
}

pub fn apply_all(s: &mut ClusterState, cmds: &[Command]) {
    for c in cmds {
        let r = s.apply(c);
        assert!(r.error().is_none(), "{c:?} -> {r:?}");
    }
}

pub fn orchestrate(s: &ClusterState, now: Timestamp, ids: &mut Ids) -> Vec<Command> {
    reconcile(
        s,
        now,
        &mut || ids.next_id(),
        &OrchestratorConfig::default(),
    )
}

/// Reconcile then schedule, applying each, until both propose nothing. Panics when
/// that takes more than `limit` rounds.
pub fn settle(s: &mut ClusterState, now: Timestamp, ids: &mut Ids) -> usize {
    settle_with(s, now, ids, &OrchestratorConfig::default(), 20)
}

pub fn settle_with(
    s: &mut ClusterState,
    now: Timestamp,
    ids: &mut Ids,
    cfg: &OrchestratorConfig,
    limit: usize,
) -> usize {
    for round in 0..limit {
        let cmds = reconcile(s, now, &mut || ids.next_id(), cfg);
        apply_all(s, &cmds);
        let sched = schedule(s, now).into_commands(s, now);
        apply_all(s, &sched);
        if cmds.is_empty() && sched.is_empty() {
            return round;
        }
    }
    panic!("no convergence in {limit} rounds");
}

/// What the agents would report: assigned tasks start, retired ones stop, on nodes
/// that are up.
pub fn agents_report(s: &mut ClusterState, now: Timestamp) {
    let mut updates = Vec::new();
    for t in s.tasks.values() {
        let Some(n) = t.node_id.and_then(|id| s.nodes.get(&id)) else {
            continue;
        };
        if n.status != NodeStatus::Ready || t.status.state.is_terminal() {
            continue;
        }
        if t.desired_state >= TaskState::Shutdown {
            updates.push((
                t.id.clone(),
                TaskStatus::new(TaskState::Shutdown, now, "shut down"),
            ));
        } else if t.status.state < TaskState::Running {
            updates.push((
                t.id.clone(),
                TaskStatus::new(TaskState::Running, now, "started"),
            ));
        }
    }
    s.apply(&Command::UpdateTaskStatus { updates });
}

/// Settles, lets agents report, and settles again until nothing moves.
pub fn run_cluster(s: &mut ClusterState, now: Timestamp, ids: &mut Ids) {
    for _ in 0..20 {
        settle(s, now, ids);
        let before = s.revision;
        agents_report(s, now);
        if s.revision == before {
            return;
        }
    }
    panic!("cluster did not come to rest");
}

/// Ends a task as its agent would.
pub fn end_task(
    s: &mut ClusterState,
    id: &str,
    state: TaskState,
    exit: Option<i32>,
    at: Timestamp,
) {
    let mut st = TaskStatus::new(state, at, "ended");
    st.exit_code = exit;
    s.apply(&Command::UpdateTaskStatus {
        updates: vec![(id.into(), st)],
    });
}

pub fn tasks_of<'a>(s: &'a ClusterState, service: &str) -> Vec<&'a Task> {
    s.tasks
        .values()
        .filter(|t| t.service_id == service)
        .collect()
}

/// Tasks of a service the manager wants running.
pub fn running_desired<'a>(s: &'a ClusterState, service: &str) -> Vec<&'a Task> {
    tasks_of(s, service)
        .into_iter()
        .filter(|t| t.desired_state == TaskState::Running)
        .collect()
}

/// The one task desired running in a slot.
pub fn in_slot<'a>(s: &'a ClusterState, service: &str, slot: u32) -> &'a Task {
    let v: Vec<_> = running_desired(s, service)
        .into_iter()
        .filter(|t| t.slot == slot)
        .collect();
    assert_eq!(v.len(), 1, "slot {slot} of {service}: {v:?}");
    v[0]
}

/// Safety properties that must hold after any pass:
/// - no slot has two current tasks (desired running or complete);
/// - replicated services have no current task outside 1..=replicas;
/// - global services have at most one current task per node;
/// - every task of a removed service is retired.
pub fn check_invariants(s: &ClusterState) {
    let mut seen: BTreeSet<(String, u32, Option<NodeId>)> = BTreeSet::new();
    for t in s
        .tasks
        .values()
        .filter(|t| t.desired_state <= TaskState::Complete)
    {
        let Some(svc) = s.services.get(&t.service_id) else {
            panic!(
                "task {} of removed service {} still current",
                t.id, t.service_id
            );
        };
        let key = match svc.spec.mode {
            ServiceMode::Replicated { replicas } => {
                assert!(
                    t.slot >= 1 && t.slot <= replicas,
                    "task {} in slot {} of {replicas}",
                    t.id,
                    t.slot
                );
                (t.service_id.clone(), t.slot, None)
            }
            ServiceMode::Global => (t.service_id.clone(), 0, t.node_id),
        };
        assert!(seen.insert(key.clone()), "two current tasks in {key:?}");
    }
}

/// After settling: every replicated slot has exactly one current task, and every
/// service has exactly `replicas` tasks desired running unless the restart policy
/// stopped a slot (desired complete).
pub fn check_settled(s: &ClusterState) {
    check_invariants(s);
    for svc in s.services.values() {
        if let ServiceMode::Replicated { replicas } = svc.spec.mode {
            let current = tasks_of(s, &svc.id)
                .into_iter()
                .filter(|t| t.desired_state <= TaskState::Complete)
                .count();
            assert_eq!(current, replicas as usize, "service {}", svc.id);
        }
    }
}
