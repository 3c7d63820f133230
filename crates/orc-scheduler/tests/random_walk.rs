//! A seeded random walk over clusters (nodes flapping, draining, leaving; tasks
//! failing; services scaled, updated, added and removed): every pass keeps the safety
//! invariants, never overcommits a node, and the cluster settles after every step.
mod support;

use orc_model::{
    Availability, ClusterState, Command, NodeRole, NodeStatus, ServiceMode, TaskState, TaskStatus,
};
use orc_scheduler::{constraints_match, reconcile, schedule, OrchestratorConfig};
use orc_spec::{ConstraintKey, ConstraintOp, RestartCondition, RestartPolicy, ServiceSpec};
use support::*;

/// splitmix64: a seeded generator so a failing case can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn random_node(r: &mut Rng, id: u64) -> orc_model::Node {
    let mut n = if r.chance(50) {
        node(id)
    } else {
        node_with(id, (1 + r.below(4)) * CPU, (1 + r.below(4)) * GIB)
    };
    n.status = [
        NodeStatus::Ready,
        NodeStatus::Ready,
        NodeStatus::Ready,
        NodeStatus::Down,
        NodeStatus::Unknown,
    ][r.below(5) as usize];
    n.availability = [
        Availability::Active,
        Availability::Active,
        Availability::Pause,
        Availability::Drain,
    ][r.below(4) as usize];
    if r.chance(30) {
        n.role = NodeRole::Manager;
    }
    n.labels
        .insert("zone".into(), ["a", "b"][r.below(2) as usize].into());
    n
}

fn random_spec(r: &mut Rng) -> ServiceSpec {
    let mut sp = if r.chance(25) {
        global()
    } else {
        replicated(r.below(6) as u32)
    };
    match r.below(4) {
        0 => sp
            .constraints
            .push(constraint(label("zone"), ConstraintOp::Eq, "a")),
        1 => sp.constraints.push(constraint(
            ConstraintKey::NodeRole,
            ConstraintOp::Ne,
            "manager",
        )),
        _ => {}
    }
    if r.chance(40) {
        sp.resources.reservations.memory_bytes = (1 + r.below(3)) * GIB / 2;
        sp.resources.reservations.nano_cpus = r.below(2) * CPU;
    }
    sp.restart = RestartPolicy {
        condition: [
            RestartCondition::Any,
            RestartCondition::OnFailure,
            RestartCondition::None,
        ][r.below(3) as usize],
        delay_ms: r.below(3) * 1_000,
        max_attempts: [None, Some(0), Some(1), Some(3)][r.below(4) as usize],
        window_ms: [0, 5_000][r.below(2) as usize],
    };
    sp.image = format!("img:{}", r.below(3));
    sp
}

/// Every assignment the pass made left its node within capacity for the resources
/// the placed tasks reserve.
fn check_capacity(s: &ClusterState, assigned: &[(String, u64)]) {
    for &(_, n) in assigned {
        let Some(node) = s.nodes.get(&n) else {
            panic!("assigned to unknown node {n}")
        };
        let live: Vec<_> = s
            .tasks
            .values()
            .filter(|t| {
                t.node_id == Some(n)
                    && t.desired_state <= TaskState::Running
                    && !t.status.state.is_terminal()
            })
            .collect();
        let placed: Vec<_> = assigned
            .iter()
            .filter(|(_, m)| *m == n)
            .map(|(id, _)| &s.tasks[id])
            .collect();
        let mem: u64 = live
            .iter()
            .map(|t| t.spec.resources.reservations.memory_bytes)
            .sum();
        let cpu: u64 = live
            .iter()
            .map(|t| t.spec.resources.reservations.nano_cpus)
            .sum();
        if node.resources.memory_bytes > 0
            && placed
                .iter()
                .any(|t| t.spec.resources.reservations.memory_bytes > 0)
        {
            assert!(
                mem <= node.resources.memory_bytes,
                "node {n} memory overcommitted"
            );
        }
        if node.resources.nano_cpus > 0
            && placed
                .iter()
                .any(|t| t.spec.resources.reservations.nano_cpus > 0)
        {
            assert!(
                cpu <= node.resources.nano_cpus,
                "node {n} cpu overcommitted"
            );
        }
        assert!(node.status == NodeStatus::Ready && node.availability == Availability::Active);
    }
}

/// Settled means: replicated slots each have one current task; global services have
/// one current task on every eligible node and none where they may not stay; no
/// desired-running live task sits on a lost or drained node.
fn check_settled_random(s: &ClusterState) {
    check_settled(s);
    for svc in s.services.values() {
        let current: Vec<_> = tasks_of(s, &svc.id)
            .into_iter()
            .filter(|t| t.desired_state <= TaskState::Complete)
            .collect();
        for t in &current {
            if t.status.state.is_terminal() || t.node_id.is_none() {
                continue;
            }
            let node = s
                .nodes
                .get(&t.node_id.unwrap())
                .expect("live task on a missing node");
            assert_ne!(
                node.status,
                NodeStatus::Down,
                "live task {} on a down node",
                t.id
            );
            assert_ne!(
                node.availability,
                Availability::Drain,
                "live task {} on a drained node",
                t.id
            );
        }
        if svc.spec.mode == ServiceMode::Global {
            for node in s.nodes.values() {
                let here = current
                    .iter()
                    .filter(|t| t.node_id == Some(node.id))
                    .count();
                let matches = constraints_match(&svc.spec.constraints, node);
                if matches
                    && node.status == NodeStatus::Ready
                    && node.availability == Availability::Active
                {
                    assert_eq!(here, 1, "global {} on eligible node {}", svc.id, node.id);
                }
                if !matches
                    || node.availability == Availability::Drain
                    || node.status == NodeStatus::Down
                {
                    assert_eq!(here, 0, "global {} on ineligible node {}", svc.id, node.id);
                }
            }
        }
    }
}

/// Reconcile and schedule until nothing is proposed, checking each pass.
fn settle_checked(s: &mut ClusterState, now: u64, ids: &mut Ids, cfg: &OrchestratorConfig) {
    for _ in 0..12 {
        let mut again = Ids(ids.0);
        let a = reconcile(s, now, &mut || ids.next_id(), cfg);
        let b = reconcile(s, now, &mut || again.next_id(), cfg);
        assert_eq!(a, b, "reconcile is deterministic");
        apply_all(s, &a);
        check_invariants(s);
        let out = schedule(s, now);
        let assigned = out.assignments.clone();
        let cmds = out.into_commands(s, now);
        apply_all(s, &cmds);
        check_capacity(s, &assigned);
        if a.is_empty() && cmds.is_empty() {
            check_settled_random(s);
            return;
        }
    }
    panic!("did not settle");
}

/// One random thing that happens to a cluster.
fn random_event(r: &mut Rng, s: &mut ClusterState, now: u64) {
    let node_ids: Vec<u64> = s.nodes.keys().copied().collect();
    let task_ids: Vec<String> = s.tasks.keys().cloned().collect();
    let svc_ids: Vec<String> = s.services.keys().cloned().collect();
    let pick = |r: &mut Rng, v: &[u64]| v.get(r.below(v.len().max(1) as u64) as usize).copied();
    match r.below(10) {
        0 | 1 => {
            // Agents report on a few tasks: start, fail, complete, get rejected.
            for id in &task_ids {
                let t = &s.tasks[id];
                let up = t
                    .node_id
                    .and_then(|n| s.nodes.get(&n))
                    .is_some_and(|n| n.status == NodeStatus::Ready);
                if !up || t.status.state.is_terminal() || !r.chance(40) {
                    continue;
                }
                let (state, exit) = if t.desired_state >= TaskState::Shutdown {
                    (TaskState::Shutdown, None)
                } else {
                    [
                        (TaskState::Running, None),
                        (TaskState::Running, None),
                        (TaskState::Failed, Some(1)),
                        (TaskState::Complete, Some(0)),
                        (TaskState::Rejected, None),
                    ][r.below(5) as usize]
                };
                let mut st = TaskStatus::new(state, now, "agent");
                st.exit_code = exit;
                s.apply(&Command::UpdateTaskStatus {
                    updates: vec![(id.clone(), st)],
                });
            }
        }
        2 => {
            if let Some(id) = pick(r, &node_ids) {
                let status =
                    [NodeStatus::Ready, NodeStatus::Down, NodeStatus::Unknown][r.below(3) as usize];
                s.apply(&Command::SetNodeStatus {
                    id,
                    status,
                    message: String::new(),
                    at: now,
                });
            }
        }
        3 => {
            if let Some(id) = pick(r, &node_ids) {
                let availability = [
                    Availability::Active,
                    Availability::Pause,
                    Availability::Drain,
                ][r.below(3) as usize];
                s.apply(&Command::SetNodeAvailability {
                    id,
                    availability,
                    at: now,
                });
            }
        }
        4 => {
            if r.chance(50) {
                if let Some(id) = pick(r, &node_ids) {
                    s.apply(&Command::RemoveNode { id });
                }
            } else {
                let id = 100 + r.below(20);
                let n = random_node(r, id);
                s.apply(&Command::PutNode(n));
            }
        }
        5 => {
            if let Some(id) = pick(r, &node_ids) {
                let zone = ["a", "b"][r.below(2) as usize];
                s.apply(&Command::SetNodeLabels {
                    id,
                    labels: [("zone".to_string(), zone.to_string())].into(),
                    at: now,
                });
            }
        }
        6 => {
            if let Some(svc) = svc_ids.get(r.below(svc_ids.len().max(1) as u64) as usize) {
                let name = s.services[svc].name.clone();
                s.apply(&Command::ScaleService {
                    name,
                    replicas: r.below(7) as u32,
                    at: now,
                });
            }
        }
        7 => {
            if let Some(svc) = svc_ids.get(r.below(svc_ids.len().max(1) as u64) as usize) {
                let sp = random_spec(r);
                update_service(s, svc, |old| *old = sp);
            }
        }
        8 => {
            if r.chance(50) {
                if let Some(svc) = svc_ids.get(r.below(svc_ids.len().max(1) as u64) as usize) {
                    s.apply(&Command::RemoveService { id: svc.clone() });
                }
            } else {
                let id = format!("svc{}", r.below(12));
                let sp = random_spec(r);
                add_service(s, &id, sp);
            }
        }
        _ => {}
    }
}

#[test]
fn random_clusters_settle_and_keep_their_invariants() {
    for seed in 0..150u64 {
        let mut r = Rng(seed);
        let mut s = ClusterState::default();
        for id in 1..=(1 + r.below(7)) {
            let n = random_node(&mut r, id);
            s.nodes.insert(id, n);
        }
        for i in 0..(1 + r.below(5)) {
            let sp = random_spec(&mut r);
            add_service(&mut s, &format!("svc{i}"), sp);
        }
        let cfg = OrchestratorConfig {
            task_history: r.below(4) as usize,
        };
        let mut ids = Ids::default();
        let mut now = 1_000_000;
        for step in 0..40 {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                settle_checked(&mut s, now, &mut ids, &cfg);
            }));
            if let Err(e) = result {
                panic!("seed {seed} step {step}: {e:?}");
            }
            for _ in 0..=r.below(3) {
                random_event(&mut r, &mut s, now);
            }
            now += r.below(8_000);
        }
        settle_checked(&mut s, now, &mut ids, &cfg);
        // History stays bounded: per slot, current + task_history terminal + live retired.
        for svc in s.services.values() {
            let n = tasks_of(&s, &svc.id).len();
            let slots = match svc.spec.mode {
                ServiceMode::Replicated { .. } => tasks_of(&s, &svc.id)
                    .iter()
                    .map(|t| t.slot)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
                // A replicated service's tasks left from before a mode change are
                // their own slots (trimmed as such), besides one per node.
                ServiceMode::Global => tasks_of(&s, &svc.id)
                    .iter()
                    .map(|t| (t.slot, if t.slot == 0 { t.node_id } else { None }))
                    .collect::<std::collections::BTreeSet<_>>()
                    .len(),
            };
            let live_retired = tasks_of(&s, &svc.id)
                .iter()
                .filter(|t| t.desired_state >= TaskState::Shutdown && !t.status.state.is_terminal())
                .count();
            assert!(
                n <= slots * (1 + cfg.task_history) + live_retired,
                "seed {seed}: {n} tasks in {slots} slots"
            );
        }
    }
}
