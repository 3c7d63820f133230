//! Times one small write plus [`KvBackend::flush`] on the sled backend, to separate the
//! store's flush cost from Raft's. `cargo run --release -p orc-store --example flush_probe`

use orc_store::{KvBackend, KvOp, SledKv, Space, StoreConfig};
use std::time::{Duration, Instant};

fn main() {
    let base = std::env::var_os("ORC_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let kv = SledKv::open(dir.path(), &StoreConfig::default()).expect("open");
    let mut lat: Vec<Duration> = Vec::new();
    for i in 0u64..1000 {
        let t = Instant::now();
        kv.write(
            Space::Log,
            vec![KvOp::Put(i.to_be_bytes().to_vec(), vec![0; 200])],
        )
        .expect("write");
        kv.flush().expect("flush");
        lat.push(t.elapsed());
    }
    lat.sort();
    let p = |q: f64| lat[(lat.len() as f64 * q) as usize].as_micros();
    println!(
        "write+flush: p50 {} us, p90 {} us, p99 {} us",
        p(0.5),
        p(0.9),
        p(0.99)
    );
}
