//! Commit latency and throughput of a one-node orc Raft over the sled store, with every
//! append fsynced (sled flush + fdatasync): one client writing sequentially, then N
//! concurrent clients calling `client_write` directly (openraft 0.9 flushes each append
//! before the next, so they queue), then the same N through `orc_store::CommandBatcher`
//! (commands queued during a write go together in one `Command::Batch` entry).
//! Also the raw `fdatasync` latency of the same disk, for comparison.
//!
//! Run with `cargo bench --bench raft_commit` (the store lives in a temp dir under
//! `$ORC_BENCH_DIR`, default the system temp dir: point it at the disk to measure).
//! Needs in the root Cargo.toml: `[[bench]] name = "raft_commit"  harness = false`, and
//! the dev-dependencies `orc-store`, `orc-model` and `tokio`.

use orc_model::{
    Availability, Command, Node, NodeResources, NodeRole, NodeStatus, Platform, Timestamp,
};
use orc_store::{
    default_raft_config, BasicNode, CommandBatcher, Raft, SingleNodeNetwork, StoreConfig,
    DEFAULT_MAX_BATCH,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEQUENTIAL: usize = 2_000;
const CONCURRENT_TOTAL: usize = 8_000;
const CLIENTS: [usize; 3] = [4, 16, 64];

fn node(id: u64, at: Timestamp) -> Node {
    Node {
        id,
        hostname: format!("board{id}"),
        role: NodeRole::Worker,
        availability: Availability::Active,
        status: NodeStatus::Ready,
        status_message: String::new(),
        address: format!("10.0.0.{id}:4242"),
        resources: NodeResources {
            nano_cpus: 4_000_000_000,
            memory_bytes: 2 << 30,
        },
        labels: BTreeMap::from([("disk".to_string(), "sd".to_string())]),
        platform: Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: "v8".into(),
        },
        created_at: 0,
        updated_at: at,
    }
}

/// A small command that changes state: a node record with a new timestamp.
fn command(i: u64) -> Command {
    Command::PutNode(node(i % 16, i))
}

struct Stats(Vec<Duration>);

impl Stats {
    fn line(mut self, label: &str, wall: Duration) -> String {
        self.0.sort();
        let n = self.0.len();
        let pct = |p: f64| self.0[((n as f64 * p) as usize).min(n - 1)];
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        format!(
            "{label:<28} {n:>6} ops  {:>9.0} ops/s  latency us: p50 {:>7.0}  p90 {:>7.0}  p99 {:>7.0}  max {:>7.0}",
            n as f64 / wall.as_secs_f64(),
            us(pct(0.50)),
            us(pct(0.90)),
            us(pct(0.99)),
            us(self.0[n - 1]),
        )
    }
}

async fn start(dir: &Path) -> Raft {
    let (log, sm) = orc_store::open(dir, &StoreConfig::default()).expect("open store");
    let cfg = Arc::new(default_raft_config("bench").validate().expect("config"));
    let raft = Raft::new(1, cfg, SingleNodeNetwork, log, sm)
        .await
        .expect("raft");
    raft.initialize(BTreeMap::from([(1, BasicNode::new("127.0.0.1:0"))]))
        .await
        .expect("initialize");
    raft.wait(Some(Duration::from_secs(10)))
        .current_leader(1, "leader")
        .await
        .expect("leader");
    raft
}

async fn sequential(raft: &Raft, base: u64) -> String {
    let mut lat = Vec::with_capacity(SEQUENTIAL);
    let t0 = Instant::now();
    for i in 0..SEQUENTIAL as u64 {
        let t = Instant::now();
        raft.client_write(command(base + i)).await.expect("write");
        lat.push(t.elapsed());
    }
    Stats(lat).line("1 client, sequential", t0.elapsed())
}

async fn concurrent(raft: &Raft, clients: usize, base: u64, batched: bool) -> String {
    let per_client = CONCURRENT_TOTAL / clients;
    let batcher = batched.then(|| CommandBatcher::spawn(raft.clone(), DEFAULT_MAX_BATCH));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let raft = raft.clone();
        let batcher = batcher.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_client);
            for i in 0..per_client as u64 {
                let t = Instant::now();
                let cmd = command(base + (c * per_client) as u64 + i);
                match &batcher {
                    Some(b) => drop(b.write(cmd).await.expect("batched write")),
                    None => drop(raft.client_write(cmd).await.expect("write")),
                }
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("client task"));
    }
    let how = if batched { "batched" } else { "direct" };
    Stats(lat).line(&format!("{clients} clients, {how}"), t0.elapsed())
}

/// Raw cost of writing 256 bytes and `fdatasync` on this disk.
fn fdatasync_line(dir: &Path) -> String {
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).expect("probe file");
    let mut lat = Vec::new();
    let t0 = Instant::now();
    for _ in 0..500 {
        let t = Instant::now();
        f.write_all(&[7u8; 256]).expect("write");
        f.sync_data().expect("fdatasync");
        lat.push(t.elapsed());
    }
    Stats(lat).line("raw write+fdatasync", t0.elapsed())
}

fn main() {
    let base: PathBuf = std::env::var_os("ORC_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&base).expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "raft_commit: one-node raft, sled store in {}",
        dir.path().display()
    );
    println!("{}", fdatasync_line(dir.path()));
    rt.block_on(async {
        let raft = start(&dir.path().join("store")).await;
        for i in 0..100 {
            raft.client_write(command(i)).await.expect("warm-up");
        }
        println!("{}", sequential(&raft, 1_000).await);
        let mut base = 100_000;
        for batched in [false, true] {
            for clients in CLIENTS {
                println!("{}", concurrent(&raft, clients, base, batched).await);
                base += 100_000;
            }
        }
        let m = raft.metrics().borrow().clone();
        println!(
            "log index {:?}, snapshot {:?}, purged {:?}",
            m.last_log_index, m.snapshot, m.purged
        );
        raft.shutdown().await.expect("shutdown");
    });
}
