//! The Docker-compatible socket's listings at scale: `GET /services?status=true` and
//! `GET /tasks` with 100 services × 10 tasks.
//!
//! 1. End to end: a real orc daemon (real containerd) holding 100 services of 10
//!    replicas each, constrained to a node label no node has, so the 1000 tasks exist
//!    (pending) without 1000 containers; each request is a fresh connection to the
//!    socket, timed from connect to the last byte.
//! 2. In process: the same listings rendered by `orc-docker` from a synthetic state,
//!    with a counting allocator (allocations and bytes per listing); and a node's
//!    `GET /containers/json?all=1` with [`NODE_CONTAINERS`] of those tasks on it.
//!
//! Run: `cargo bench -p orc-testbed --bench docker_api` (root needed).

use anyhow::{ensure, Context, Result};
use orc_model::{ClusterState, Command, NewService, Task, TaskState, TaskStatus};
use orc_spec::{ServiceMode, ServiceSpec};
use orc_testbed::orc_node::OrcNode;
use orc_testbed::poll_until;
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SERVICES: usize = 100;
const REPLICAS: usize = 10;
const ROUNDS: usize = 50;
/// Containers on one node for the `/containers/json` render (a busy board).
const NODE_CONTAINERS: usize = 100;

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(l.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn get(sock: &std::path::Path, path: &str) -> Result<(Duration, usize)> {
    let t0 = Instant::now();
    let mut s = std::os::unix::net::UnixStream::connect(sock)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let took = t0.elapsed();
    ensure!(
        buf.starts_with(b"HTTP/1.1 200"),
        "{path}: {}",
        String::from_utf8_lossy(&buf[..buf.len().min(200)])
    );
    Ok((took, buf.len()))
}

fn median_ms(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(v[v.len() / 2]), ms(v[v.len() * 95 / 100]))
}

fn end_to_end() -> Result<()> {
    let n = OrcNode::start_initialised()?;
    let mut toml = String::from("name = \"bench\"\n");
    for i in 0..SERVICES {
        toml.push_str(&format!(
            "[services.s{i}]\nimage = \"demo/busybox:1\"\nreplicas = {REPLICAS}\nconstraints = [\"node.labels.bench == never\"]\nlabels = {{ \"traefik.enable\" = \"true\" }}\n\n"
        ));
    }
    let p = n.dir().join("bench.toml");
    std::fs::write(&p, toml)?;
    n.ok(&[
        "stack",
        "deploy",
        p.to_str().context("path")?,
        "--detach",
        "--no-resolve",
    ])?;
    let sock = n.docker_socket();
    poll_until(Duration::from_secs(60), "1000 tasks", || {
        let (_, len) = get(&sock, "/v1.44/tasks").ok()?;
        // Each rendered task is well over 500 bytes.
        (len > SERVICES * REPLICAS * 500).then_some(())
    })?;
    for path in [
        "/v1.44/services?status=true",
        "/v1.44/services",
        "/v1.44/tasks",
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..ROUNDS {
            let (t, len) = get(&sock, path)?;
            times.push(t);
            size = len;
        }
        let (med, p95) = median_ms(times);
        println!(
            "MEASURE GET {path} ({SERVICES} services x {REPLICAS} tasks, socket, fresh connection): median {med:.2} ms, p95 {p95:.2} ms, {} KiB",
            size / 1024
        );
    }
    Ok(())
}

fn synthetic() -> ClusterState {
    let mut st = ClusterState::default();
    let mut services = Vec::new();
    for i in 0..SERVICES {
        let mut spec = ServiceSpec::new("demo/busybox:1");
        spec.mode = ServiceMode::Replicated {
            replicas: REPLICAS as u32,
        };
        spec.labels.insert("traefik.enable".into(), "true".into());
        services.push(NewService {
            id: format!("svc{i:021}"),
            short_name: format!("s{i}"),
            spec,
        });
    }
    st.apply(&Command::DeployStack {
        stack: "bench".into(),
        services: services.clone(),
        at: 1,
    });
    let mut tasks = Vec::new();
    for s in &services {
        for slot in 1..=REPLICAS {
            let mut status = TaskStatus::new(TaskState::Running, 2, "started");
            status.address = Some(std::net::Ipv4Addr::new(10, 201, 1, slot as u8));
            tasks.push(Task {
                id: format!("{}t{slot}", s.id),
                service_id: s.id.clone(),
                service_name: format!("bench_{}", s.short_name),
                slot: slot as u32,
                node_id: Some(1),
                spec_version: 1,
                spec: s.spec.clone(),
                desired_state: TaskState::Running,
                status,
                created_at: 2,
                not_before: 0,
                attempt: 0,
            });
        }
    }
    st.apply(&Command::CreateTasks(tasks));
    st
}

fn in_process() {
    let st = synthetic();
    let net = {
        let mut n = orc_model::ClusterNetwork::new(
            orc_model::Ipv4Net::parse("10.201.0.0/16").expect("subnet"),
            orc_model::NetworkDriver::HostGw,
        )
        .expect("network");
        n.allocate(1);
        n
    };
    let node_tasks: Vec<&Task> = st.tasks.values().take(NODE_CONTAINERS).collect();
    let containers: Vec<orc_docker::containers::Container> = node_tasks
        .iter()
        .map(|t| orc_docker::containers::Container {
            task: t,
            stack: "bench",
            run: orc_docker::containers::RunState::Running,
            pid: 4242,
            exit_code: 0,
            image_id: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            args: &[],
            network: Some(&net),
        })
        .collect();
    let no_filters = orc_docker::filters::Filters::default();
    let listings: [(&str, &dyn Fn() -> String); 3] = [
        ("services?status=true", &|| {
            let v: Vec<_> = st
                .services
                .values()
                .map(|s| orc_docker::render::service(&st, s, true))
                .collect();
            serde_json::Value::Array(v).to_string()
        }),
        ("tasks", &|| {
            let v: Vec<_> = st
                .tasks
                .values()
                .map(|t| orc_docker::render::task(&st, t))
                .collect();
            serde_json::Value::Array(v).to_string()
        }),
        (
            "containers/json?all=1, 100 of the tasks on one node,",
            &|| {
                let v = orc_docker::containers::list(&containers, true, 0, &no_filters, 10_000)
                    .expect("list");
                serde_json::Value::Array(v).to_string()
            },
        ),
    ];
    for (name, f) in listings {
        let _ = f();
        let (a0, b0) = (
            ALLOCS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        );
        let t0 = Instant::now();
        let mut len = 0;
        for _ in 0..ROUNDS {
            len = f().len();
        }
        let per = t0.elapsed() / ROUNDS as u32;
        let allocs = (ALLOCS.load(Ordering::Relaxed) - a0) / ROUNDS as u64;
        let bytes = (BYTES.load(Ordering::Relaxed) - b0) / ROUNDS as u64;
        println!(
            "MEASURE render {name} ({SERVICES} services x {REPLICAS} tasks, in process): {:.2} ms, {allocs} allocations, {} KiB allocated, {} KiB of JSON",
            per.as_secs_f64() * 1000.0,
            bytes / 1024,
            len / 1024
        );
    }
}

fn main() -> Result<()> {
    in_process();
    if std::env::args().any(|a| a == "--in-process-only") {
        return Ok(());
    }
    end_to_end()
}
