//! The rolling updater's cost, pure: one orchestrator pass (which runs the updater
//! for every service) over 1,000 services × 10 replicas on 50 nodes — steady (every
//! revision stable), and with every service mid-update (a start-first batch of 2 in
//! flight, monitoring).
//!
//! Run with `cargo bench -p orc-testbed --bench updater`.

// The scheduler tests' builders (a node as the tests make one).
#[path = "../crates/orc-scheduler/tests/support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use orc_model::{
    ClusterState, Command, NewService, ServiceMode, ServiceSpec, TaskState, TaskStatus,
};
use orc_scheduler::{reconcile, schedule, OrchestratorConfig};
use orc_spec::UpdateOrder;
use std::time::Duration;
use support::node;

const NODES: u64 = 50;
const SERVICES: u32 = 1_000;
const REPLICAS: u32 = 10;
const T0: u64 = 1_700_000_000_000;

fn spec(i: u32, version: &str) -> ServiceSpec {
    let mut s = ServiceSpec::new(format!("demo/app{i}:{version}"));
    s.mode = ServiceMode::Replicated { replicas: REPLICAS };
    s.update_config.parallelism = 2;
    s.update_config.order = UpdateOrder::StartFirst;
    s.update_config.monitor_ms = 1_000;
    s
}

fn deploy(s: &mut ClusterState, version: &str) {
    let services = (0..SERVICES)
        .map(|i| NewService {
            id: format!("svc{i:04}"),
            short_name: format!("app{i}"),
            spec: spec(i, version),
        })
        .collect();
    s.apply(&Command::DeployStack {
        stack: "bench".into(),
        services,
        at: T0,
    });
}

fn ids() -> impl FnMut() -> String {
    let mut n = 0u64;
    move || {
        n += 1;
        format!("{n:024x}")
    }
}

/// Reconcile and schedule until nothing moves; every placed task reports running.
fn settle(s: &mut ClusterState, now: u64, ids: &mut impl FnMut() -> String) {
    let cfg = OrchestratorConfig::default();
    for _ in 0..10 {
        let cmds = reconcile(s, now, ids, &cfg);
        for c in &cmds {
            s.apply(c);
        }
        let sched = schedule(s, now).into_commands(s, now);
        for c in &sched {
            s.apply(c);
        }
        let updates: Vec<_> = s
            .tasks
            .values()
            .filter(|t| t.node_id.is_some() && t.status.state < TaskState::Running)
            .filter(|t| t.desired_state == TaskState::Running)
            .map(|t| {
                (
                    t.id.clone(),
                    TaskStatus::new(TaskState::Running, now, "started"),
                )
            })
            .collect();
        let idle = cmds.is_empty() && sched.is_empty() && updates.is_empty();
        s.apply(&Command::UpdateTaskStatus { updates });
        if idle {
            return;
        }
    }
}

fn bench_updater(c: &mut Criterion) {
    let cfg = OrchestratorConfig::default();
    let mut s = ClusterState::default();
    for id in 1..=NODES {
        s.nodes.insert(id, node(id));
    }
    deploy(&mut s, "1");
    let mut ids = ids();
    settle(&mut s, T0, &mut ids);
    settle(&mut s, T0 + 2_000, &mut ids);
    assert_eq!(s.tasks.len() as u32, SERVICES * REPLICAS);
    assert!(s.services.values().all(|v| v.rollout.revisions[0].stable));

    let mut g = c.benchmark_group("updater");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(u64::from(SERVICES * REPLICAS)));
    let steady = s.clone();
    assert!(reconcile(&steady, T0 + 3_000, &mut ids, &cfg).is_empty());
    g.bench_function("pass_1000_services_x10_steady", |b| {
        b.iter(|| reconcile(&steady, T0 + 3_000, &mut ids, &cfg))
    });

    // Every service gets a new image: the first batch (2 start-first tasks each)
    // starts and runs, monitoring.
    deploy(&mut s, "2");
    settle(&mut s, T0 + 10_000, &mut ids);
    let rolling = s.clone();
    let new = rolling
        .tasks
        .values()
        .filter(|t| t.spec_version == 2 && t.status.state == TaskState::Running)
        .count();
    assert_eq!(new as u32, SERVICES * 2, "one batch of 2 per service");
    g.bench_function("pass_1000_services_x10_mid_update", |b| {
        b.iter(|| reconcile(&rolling, T0 + 10_500, &mut ids, &cfg))
    });
    g.finish();
}

criterion_group!(benches, bench_updater);
criterion_main!(benches);
