//! Failover from SIGKILL of the master to the VIP on the new holder, orc vs
//! keepalived. Slow; run on demand:
//! `cargo test -p orc-vrrp --test lan measure -- --ignored --nocapture`.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::keepalived::Keepalived;
use crate::support::orc::{config, OrcNode, Stop};
use crate::support::{require_root, wait_for, Lan, Node};

/// `ip monitor address` on a node: reports when `vip` is added, without
/// polling (which starves a busy machine).
struct VipMonitor {
    child: Child,
    added: mpsc::Receiver<Instant>,
}

impl VipMonitor {
    fn start(node: &Node, vip: Ipv4Addr) -> VipMonitor {
        let mut child = Command::new("ip")
            .args(["-n", &node.ns, "monitor", "address", "dev", "eth0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, added) = mpsc::channel();
        let needle = format!("inet {vip}/");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains(&needle) && !line.starts_with("Deleted") {
                    let _ = tx.send(Instant::now());
                }
            }
        });
        VipMonitor { child, added }
    }
}

impl Drop for VipMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One trial: two nodes of one kind, SIGKILL (or equivalent) of the holder.
fn trial(keepalived: bool, interval: Duration) -> Duration {
    let mut lan = Lan::new();
    let (a, b) = (lan.node("a", 11), lan.node("b", 12));
    let vip = lan.addr(100);
    let timeout = interval * 10 + Duration::from_secs(5);
    if keepalived {
        let mut ka = Keepalived::start(&a, 91, 200, vip, interval);
        let _kb = Keepalived::start(&b, 91, 100, vip, interval);
        wait_for(timeout, || a.has(vip) && !b.has(vip)).expect("no holder");
        let mon = VipMonitor::start(&b, vip);
        let start = Instant::now();
        ka.crash();
        mon.added.recv_timeout(timeout).expect("no failover") - start
    } else {
        let mut na = OrcNode::start(&a, config(91, 200, vip, interval));
        let _nb = OrcNode::start(&b, config(91, 100, vip, interval));
        wait_for(timeout, || a.has(vip) && !b.has(vip)).expect("no holder");
        let mon = VipMonitor::start(&b, vip);
        let start = Instant::now();
        na.stop(Stop::Crash);
        mon.added.recv_timeout(timeout).expect("no failover") - start
    }
}

#[test]
#[ignore = "slow measurement; run with --ignored --nocapture"]
fn measure_crash_failover_orc_vs_keepalived() {
    require_root();
    let trials: usize = std::env::var("VRRP_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    for interval in [Duration::from_millis(100), Duration::from_secs(1)] {
        for keepalived in [false, true] {
            let times: Vec<_> = (0..trials).map(|_| trial(keepalived, interval)).collect();
            let name = if keepalived { "keepalived" } else { "orc" };
            eprintln!(
                "{name:>10} advert {interval:?}: median {:?}  all {times:?}",
                median(times.clone())
            );
        }
    }
}
