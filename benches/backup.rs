//! Backup cost (issue #19): encoding and verifying a backup of a cluster of 1,000
//! services × 10 tasks (30 nodes), and the file's size. The CA-key sealing (PBKDF2,
//! 100,000 rounds) is measured apart: it is paid once per `--with-ca` backup.
//!
//! Run with `cargo bench -p orc-testbed --bench backup`.

use criterion::{criterion_group, criterion_main, Criterion};
use orc_model::{
    decode_backup, encode_backup, BackupHeader, ClusterState, Command, NewService, NodeRole,
};
use orc_scheduler::{reconcile, OrchestratorConfig};
use std::time::Duration;

const SERVICES: usize = 1_000;
const NOW: u64 = 1_700_000_000_000;

fn state() -> ClusterState {
    let mut text = String::new();
    for i in 0..SERVICES {
        text.push_str(&format!(
            "[services.s{i}]\nimage = \"registry.lan/app{i}:1.{i}\"\ncommand = [\"sleep\", \"3600\"]\nreplicas = 10\nenv = {{ MODE = \"prod\", SLOT = \"{i}\" }}\n\n"
        ));
    }
    let stack = orc_spec::parse_stack(&text, "bench.toml", Some("bench"), "bench").expect("stack");
    let mut s = ClusterState::default();
    for id in 1..=30u64 {
        let role = if id <= 3 {
            NodeRole::Manager
        } else {
            NodeRole::Worker
        };
        let mut n = orc_model::Node {
            id,
            hostname: format!("rock{id}"),
            role,
            availability: orc_model::Availability::Active,
            status: orc_model::NodeStatus::Ready,
            status_message: String::new(),
            address: format!("10.0.0.{id}:4747"),
            resources: Default::default(),
            labels: Default::default(),
            platform: orc_model::Platform {
                os: "linux".into(),
                architecture: "arm64".into(),
                variant: "v8".into(),
            },
            created_at: 0,
            updated_at: 0,
        };
        n.labels.insert("zone".into(), format!("z{}", id % 3));
        s.apply(&Command::PutNode(n));
    }
    let services = stack
        .services
        .iter()
        .enumerate()
        .map(|(i, (name, spec))| NewService {
            id: format!("{i:024x}"),
            short_name: name.clone(),
            spec: spec.clone(),
        })
        .collect();
    s.apply(&Command::DeployStack {
        stack: "bench".into(),
        services,
        at: NOW,
    });
    let mut n = 0u64;
    let mut ids = move || {
        n += 1;
        format!("{n:024x}")
    };
    for c in reconcile(&s, NOW, &mut ids, &OrchestratorConfig::default()) {
        s.apply(&c);
    }
    assert_eq!(s.tasks.len(), SERVICES * 10);
    s
}

fn header() -> BackupHeader {
    BackupHeader {
        cluster_id: "bench".into(),
        raft_index: 1,
        orc_version: "bench".into(),
        created_at: NOW,
        services: SERVICES,
        nodes: 30,
    }
}

fn bench(c: &mut Criterion) {
    let s = state();
    let bytes = encode_backup(header(), &s, None).expect("encode");
    println!(
        "backup of {} services, {} tasks, {} nodes: {} bytes",
        s.services.len(),
        s.tasks.len(),
        s.nodes.len(),
        bytes.len()
    );
    let mut g = c.benchmark_group("backup_1000x10");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("encode", |b| b.iter(|| encode_backup(header(), &s, None)));
    g.bench_function("decode_and_verify", |b| b.iter(|| decode_backup(&bytes)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
