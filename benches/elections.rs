//! False elections under load (issue #19): three managers in network namespaces, a
//! client writing every 200 ms, each manager's Raft term sampled every 500 ms for
//! ELECTION_SECS (default 600). No manager is lost, so every term change is an
//! election nobody needed. Prints the count; run it while the machine is busy (e.g.
//! beside `cargo build`): `cargo bench -p orc-testbed --bench elections`.

#[allow(dead_code)]
#[path = "../tests/cluster/harness.rs"]
mod harness;

use anyhow::{Context, Result};
use harness::TestCluster;
use std::time::{Duration, Instant};

fn term(c: &TestCluster, i: usize) -> Option<u64> {
    c.node(i).json(&["cluster", "info"]).ok()?["term"].as_u64()
}

fn main() -> Result<()> {
    let secs: u64 = std::env::var("ELECTION_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let c = TestCluster::form(&["m1", "m2", "m3"], 3, 0, None, true)?;
    c.deploy(
        0,
        "load",
        "[services.app]\nimage = \"demo/busybox:1\"\ncommand = [\"sleep\", \"3600\"]\nreplicas = 1\n",
    )?;
    let start_terms: Vec<u64> = (0..3)
        .map(|i| term(&c, i).context("term"))
        .collect::<Result<_>>()?;
    let start = Instant::now();
    let (mut writes, mut failed, mut n) = (0u64, 0u64, 1u32);
    let mut last_sample = Instant::now();
    let mut max_term = *start_terms.iter().max().unwrap_or(&0);
    while start.elapsed() < Duration::from_secs(secs) {
        n = n % 3 + 1;
        let via = (n as usize) % 3;
        match c
            .node(via)
            .orc(&["service", "scale", &format!("load_app={n}"), "--detach"])
        {
            Ok(o) if o.status.success() => writes += 1,
            _ => failed += 1,
        }
        if last_sample.elapsed() >= Duration::from_millis(500) {
            for i in 0..3 {
                if let Some(t) = term(&c, i) {
                    max_term = max_term.max(t);
                }
            }
            last_sample = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let first = *start_terms.iter().max().unwrap_or(&0);
    println!(
        "MEASURE {secs} s, 3 managers, {writes} writes ({failed} failed): term {first} -> {max_term}: {} election(s) without a loss; load average {}",
        max_term - first,
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    Ok(())
}
