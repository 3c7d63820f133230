//! Measures what an idle one-node Raft over the sled store writes to disk: starts Raft
//! in a temp dir (under `$ORC_IDLE_DIR`, default the system temp dir), commits a few
//! commands, lets it settle, then reads `/proc/self/io` before and after an idle period.
//!
//! `cargo run --release -p orc-store --example idle_io -- [SECONDS]` (default 60).

use orc_model::Command;
use orc_store::{default_raft_config, BasicNode, Raft, SingleNodeNetwork, StoreConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// `write_bytes` and `syscw` of this process.
fn io_counters() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("write_bytes:"), field("syscw:"))
}

fn rss_kib() -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let base: PathBuf = std::env::var_os("ORC_IDLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    println!("RSS at start: {} KiB", rss_kib());
    let (log, sm) = orc_store::open(dir.path(), &StoreConfig::default()).expect("open store");
    println!("RSS after opening the store: {} KiB", rss_kib());
    let cfg = Arc::new(default_raft_config("idle").validate().expect("config"));
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
    raft.client_write(Command::InitCluster {
        id: "idle".into(),
        at: 0,
    })
    .await
    .expect("write");
    for _ in 0..20 {
        raft.client_write(Command::Noop).await.expect("write");
    }
    println!("RSS after starting raft and 21 writes: {} KiB", rss_kib());
    // Let sled's background flusher write out whatever is still dirty.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (w0, c0) = io_counters();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (w1, c1) = io_counters();
    let per_min = |d: u64| d as f64 * 60.0 / secs as f64;
    println!(
        "idle {secs} s: write_bytes +{} ({:.0} B/min), write syscalls +{} ({:.1}/min), RSS {} KiB",
        w1 - w0,
        per_min(w1 - w0),
        c1 - c0,
        per_min(c1 - c0),
        rss_kib()
    );
    raft.shutdown().await.expect("shutdown");
}
