//! Throughput of the pure orchestrator and scheduler on a large cluster:
//! 1,000 nodes (10 zones, ssd/hdd disks, 3 managers, 4 CPUs and 8 GiB each) and 100
//! services of 1,000 replicas (100,000 tasks); a quarter of the services carry a
//! placement constraint, half reserve CPU and memory.
//!
//! Run with `cargo bench --bench scheduler`. Needs in the root Cargo.toml:
//! `[[bench]] name = "scheduler"  harness = false`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use orc_model::{
    Availability, ClusterState, Command, Node, NodeResources, NodeRole, NodeStatus, Platform,
    Service, ServiceMode, ServiceSpec, TaskState, TaskStatus,
};
use orc_scheduler::{reconcile, schedule, OrchestratorConfig};
use orc_spec::{Constraint, ConstraintKey, ConstraintOp, Resources};
use std::collections::BTreeMap;
use std::time::Duration;

const NODES: u64 = 1_000;
const SERVICES: u32 = 100;
const REPLICAS: u32 = 1_000;
const TASKS: u64 = SERVICES as u64 * REPLICAS as u64;
const NOW: u64 = 1_700_000_000_000;
const GIB: u64 = 1 << 30;

fn node(id: u64) -> Node {
    let labels = BTreeMap::from([
        ("zone".to_string(), format!("z{}", id % 10)),
        (
            "disk".to_string(),
            if id.is_multiple_of(3) { "ssd" } else { "hdd" }.to_string(),
        ),
    ]);
    Node {
        id,
        hostname: format!("rock{id}"),
        role: if id <= 3 {
            NodeRole::Manager
        } else {
            NodeRole::Worker
        },
        availability: Availability::Active,
        status: NodeStatus::Ready,
        status_message: String::new(),
        address: format!("10.0.{}.{}:4747", id / 250, id % 250),
        resources: NodeResources {
            nano_cpus: 4_000_000_000,
            memory_bytes: 8 * GIB,
        },
        labels,
        platform: Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: "v8".into(),
        },
        created_at: 0,
        updated_at: 0,
    }
}

fn spec(i: u32) -> ServiceSpec {
    let constraints = match i % 8 {
        0 => vec![Constraint {
            key: ConstraintKey::NodeLabel("zone".into()),
            op: ConstraintOp::Eq,
            value: format!("z{}", i % 10),
        }],
        1 => vec![Constraint {
            key: ConstraintKey::NodeLabel("disk".into()),
            op: ConstraintOp::Eq,
            value: "ssd".into(),
        }],
        _ => vec![],
    }
    .into_iter()
    .chain((i % 4 == 2).then(|| Constraint {
        key: ConstraintKey::NodeRole,
        op: ConstraintOp::Ne,
        value: "manager".into(),
    }))
    .collect();
    let mut resources = Resources::default();
    if i.is_multiple_of(2) {
        resources.reservations.nano_cpus = 10_000_000; // 0.01 CPU
        resources.reservations.memory_bytes = 16 << 20; // 16 MiB
    }
    ServiceSpec {
        command: Some(vec!["serve".into()]),
        mode: ServiceMode::Replicated { replicas: REPLICAS },
        env: BTreeMap::from([("SERVICE".to_string(), i.to_string())]),
        constraints,
        resources,
        ..ServiceSpec::new(format!("demo/app{i}:1"))
    }
}

/// Nodes and services, no tasks yet.
fn services_only() -> ClusterState {
    let mut s = ClusterState::default();
    for id in 1..=NODES {
        s.nodes.insert(id, node(id));
    }
    for i in 0..SERVICES {
        let id = format!("svc{i:03}");
        s.services.insert(
            id.clone(),
            Service {
                id,
                name: format!("bench_app{i}"),
                stack: "bench".into(),
                short_name: format!("app{i}"),
                spec: spec(i),
                version: 1,
                created_at: 0,
                updated_at: 0,
                rollout: Default::default(),
            },
        );
    }
    s
}

fn ids() -> impl FnMut() -> String {
    let mut n = 0u64;
    move || {
        n += 1;
        format!("{n:024x}")
    }
}

fn apply(s: &mut ClusterState, cmds: &[Command]) {
    for c in cmds {
        s.apply(c);
    }
}

/// 100,000 pending tasks, none placed.
fn pending_state() -> ClusterState {
    let mut s = services_only();
    let cmds = reconcile(&s, NOW, &mut ids(), &OrchestratorConfig::default());
    apply(&mut s, &cmds);
    assert_eq!(s.tasks.len() as u64, TASKS);
    s
}

/// Every task placed and running.
fn running_state() -> ClusterState {
    let mut s = pending_state();
    let cmds = schedule(&s, NOW).into_commands(&s, NOW);
    apply(&mut s, &cmds);
    let updates = s
        .tasks
        .keys()
        .map(|id| {
            (
                id.clone(),
                TaskStatus::new(TaskState::Running, NOW, "started"),
            )
        })
        .collect();
    s.apply(&Command::UpdateTaskStatus { updates });
    assert!(s
        .tasks
        .values()
        .all(|t| t.status.state == TaskState::Running));
    s
}

fn bench_schedule(c: &mut Criterion) {
    let s = pending_state();
    let out = schedule(&s, NOW);
    assert_eq!(
        out.assignments.len() as u64,
        TASKS,
        "everything fits: {:?}",
        out.pending.first()
    );
    let mut g = c.benchmark_group("scheduler");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(TASKS));
    g.bench_function("schedule_100k_tasks_1k_nodes", |b| {
        b.iter(|| schedule(&s, NOW))
    });
    g.bench_function("schedule_and_commands_100k", |b| {
        b.iter(|| schedule(&s, NOW).into_commands(&s, NOW))
    });
    g.finish();
}

fn bench_reconcile(c: &mut Criterion) {
    let cfg = OrchestratorConfig::default();
    let mut g = c.benchmark_group("orchestrator");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(TASKS));

    let empty = services_only();
    g.bench_function("reconcile_create_100k_tasks", |b| {
        b.iter(|| reconcile(&empty, NOW, &mut ids(), &cfg))
    });

    let running = running_state();
    assert!(reconcile(&running, NOW, &mut ids(), &cfg).is_empty());
    g.bench_function("reconcile_steady_100k_tasks", |b| {
        b.iter(|| reconcile(&running, NOW, &mut ids(), &cfg))
    });

    // A tenth of the services get a new image: 10,000 replacements.
    let mut updated = running.clone();
    for svc in updated.services.values_mut().take(10) {
        svc.spec.image.push_str("-new");
        svc.version += 1;
    }
    g.bench_function("reconcile_update_10_services", |b| {
        b.iter(|| reconcile(&updated, NOW, &mut ids(), &cfg))
    });

    // 100 nodes go down: their tasks are orphaned and replaced.
    let mut down = running;
    for id in 1..=100 {
        if let Some(n) = down.nodes.get_mut(&id) {
            n.status = NodeStatus::Down;
        }
    }
    g.bench_function("reconcile_100_nodes_down", |b| {
        b.iter(|| reconcile(&down, NOW, &mut ids(), &cfg))
    });
    g.finish();
}

criterion_group!(benches, bench_schedule, bench_reconcile);
criterion_main!(benches);
