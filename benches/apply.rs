//! The Raft state machine's pure apply on a cluster of 100 services × 10 tasks on 10
//! nodes, with change indexes (every apply compares what its command may change and
//! stamps it): a task status report (1 and 50 tasks per entry, the agents' common
//! case), and Docker-style guarded writes of a service and of a node.
//!
//! Run with `cargo bench -p orc-testbed --bench apply`.

#[path = "../crates/orc-scheduler/tests/support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use orc_model::{
    ClusterState, Command, Guard, NewService, ServiceMode, ServiceSpec, Task, TaskState, TaskStatus,
};
use std::time::Duration;

const NODES: u64 = 10;
const SERVICES: u32 = 100;
const REPLICAS: u32 = 10;
const T0: u64 = 1_700_000_000_000;

fn cluster() -> ClusterState {
    let mut s = ClusterState::default();
    for id in 1..=NODES {
        s.apply(&Command::PutNode(support::node(id)));
    }
    let services = (0..SERVICES)
        .map(|i| {
            let mut spec = ServiceSpec::new(format!("demo/app{i}:1"));
            spec.mode = ServiceMode::Replicated { replicas: REPLICAS };
            NewService {
                id: format!("svc{i:04}"),
                short_name: format!("app{i}"),
                spec,
            }
        })
        .collect();
    s.apply(&Command::DeployStack {
        stack: "bench".into(),
        services,
        at: T0,
    });
    let tasks: Vec<Task> = s
        .services
        .values()
        .flat_map(|svc| {
            (1..=REPLICAS).map(move |slot| Task {
                id: format!("{}-{slot}", svc.id),
                service_id: svc.id.clone(),
                service_name: svc.name.clone(),
                slot,
                node_id: Some(u64::from(slot) % NODES + 1),
                spec_version: svc.version,
                spec: svc.spec.clone(),
                desired_state: TaskState::Running,
                status: TaskStatus::new(TaskState::Running, T0, "started"),
                created_at: T0,
                not_before: 0,
                attempt: 0,
            })
        })
        .collect();
    s.apply(&Command::CreateTasks(tasks));
    assert_eq!(s.tasks.len() as u32, SERVICES * REPLICAS);
    s
}

fn statuses(s: &ClusterState, n: usize, flip: bool) -> Command {
    let msg = if flip { "probe a" } else { "probe b" };
    Command::UpdateTaskStatus {
        updates: s
            .tasks
            .keys()
            .take(n)
            .map(|id| (id.clone(), TaskStatus::new(TaskState::Running, T0, msg)))
            .collect(),
    }
}

fn bench_apply(c: &mut Criterion) {
    let mut s = cluster();
    let mut g = c.benchmark_group("apply_100_services_x10");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    for n in [1usize, 50] {
        let cmds = [statuses(&s, n, true), statuses(&s, n, false)];
        let mut i = 0;
        g.bench_function(format!("task_status_{n}"), |b| {
            b.iter(|| {
                i += 1;
                let before = s.revision;
                s.apply(&cmds[i % 2]);
                assert_eq!(s.revision, before + 1, "every report changes a task");
            })
        });
    }
    let put = |image: &str| Command::PutService {
        service: Box::new(NewService {
            id: "svc0042".into(),
            short_name: "app42".into(),
            spec: {
                let mut spec = ServiceSpec::new(image);
                spec.mode = ServiceMode::Replicated { replicas: REPLICAS };
                spec
            },
        }),
        stack: "bench".into(),
        name: "bench_app42".into(),
        expect_version: None,
        at: T0,
    };
    let puts = [put("demo/app42:2"), put("demo/app42:3")];
    let mut i = 0;
    g.bench_function("guarded_service_update", |b| {
        b.iter(|| {
            i += 1;
            let cmd = Command::Guarded {
                guard: Guard::Service("svc0042".into()),
                index: s.service_index("svc0042"),
                then: Box::new(puts[i % 2].clone()),
            };
            assert_eq!(s.apply(&cmd).error(), None);
        })
    });
    let mut i = 0;
    g.bench_function("guarded_node_labels", |b| {
        b.iter(|| {
            i += 1;
            let cmd = Command::Guarded {
                guard: Guard::Node(3),
                index: s.node_index(3),
                then: Box::new(Command::SetNodeLabels {
                    id: 3,
                    labels: [("n".to_string(), (i % 2).to_string())].into(),
                    at: T0,
                }),
            };
            assert_eq!(s.apply(&cmd).error(), None);
        })
    });
    g.finish();
}

criterion_group!(benches, bench_apply);
criterion_main!(benches);
