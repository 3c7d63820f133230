//! Deploy overhead, idle RSS and idle disk writes of the orc daemon, against real
//! containerd. Prints figures; run with `cargo bench -p orc-testbed --bench deploy`
//! (root needed). Set DEPLOY_IDLE_SECS to change the idle window (default 60).

use anyhow::{Context, Result};
use orc_runtime::{ContainerConfig, LogConfig, Runtime};
use orc_testbed::orc_node::OrcNode;
use orc_testbed::{busybox_image, orc_binary, ImageFormat};
use std::time::{Duration, Instant};

const SERVICES: usize = 10;
const ROUNDS: usize = 5;

fn stack_file(n: &OrcNode, round: usize) -> Result<String> {
    let mut s = String::new();
    for i in 0..SERVICES {
        s.push_str(&format!(
            // Host networking, like the direct-runtime baseline (no netns plumbing).
            "[services.s{i}]\nimage = \"demo/busybox:1\"\ncommand = [\"sleep\", \"3600\"]\nnetwork_mode = \"host\"\nstop = {{ signal = \"SIGKILL\", grace_period = \"1s\" }}\n\n"
        ));
    }
    let p = n.dir().join(format!("bench{round}.toml"));
    std::fs::write(&p, s)?;
    Ok(p.to_string_lossy().into_owned())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn floor(n: &OrcNode, round: usize) -> Result<f64> {
    let rt = Runtime::new(&n.containerd.socket(), "orc-floor")?;
    let img = busybox_image(ImageFormat::Oci)?;
    rt.import_archive(&img).await?;
    let logs = n.dir().join("floor-logs");
    let t0 = Instant::now();
    let mut ids = Vec::new();
    for i in 0..SERVICES {
        let id = format!("floor-{}-{round}-{i}", std::process::id());
        let log = LogConfig {
            dir: logs.join(&id),
            max_bytes: 1 << 20,
            max_files: 2,
            logger_binary: orc_binary()?,
            logger_args: vec![],
        };
        let cfg = ContainerConfig {
            command: Some(vec!["sleep".into(), "3600".into()]),
            ..ContainerConfig::new(id.clone(), "demo/busybox:1", log)
        };
        rt.run(&cfg).await?;
        ids.push(id);
    }
    let took = t0.elapsed().as_secs_f64();
    for id in ids {
        let _ = rt.stop(&id, 9, Duration::from_secs(1)).await;
        let _ = rt.remove(&id).await;
    }
    Ok(took)
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let rt = tokio::runtime::Runtime::new()?;
    let n = OrcNode::start_initialised()?;
    let img = busybox_image(ImageFormat::Oci)?;
    n.ok(&["image", "load", img.to_str().context("path")?])?;
    let mut orc_times = Vec::new();
    let mut floor_times = Vec::new();
    for round in 0..ROUNDS {
        floor_times.push(rt.block_on(floor(&n, round))?);
        let f = stack_file(&n, round)?;
        // Until every task runs, read from `service ls` every 20 ms: `stack deploy`
        // itself also waits until they have kept running for 2 s (its stability check).
        let t0 = Instant::now();
        n.ok(&["stack", "deploy", &f, "--name", "bench", "--detach"])?;
        loop {
            let rows = n.json(&["service", "ls"])?;
            let running = rows
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["running"].as_u64() == Some(1))
                .count();
            if running == SERVICES {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        orc_times.push(t0.elapsed().as_secs_f64());
        if round + 1 < ROUNDS {
            n.ok(&["stack", "rm", "bench"])?;
        }
    }
    let (o, f) = (median(orc_times.clone()), median(floor_times.clone()));
    println!("deploy of {SERVICES} single-replica services until all run (median of {ROUNDS}):");
    println!("  orc stack deploy        {o:.3} s   runs: {orc_times:.3?}");
    println!("  containerd API, serial  {f:.3} s   runs: {floor_times:.3?}");
    println!("  ratio                   {:.2}x", o / f);

    let pid = n.daemon_pid().context("daemon pid")?;
    let idle: u64 = std::env::var("DEPLOY_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    // Let the deploy's after-effects (status batches, sled flush) settle first.
    std::thread::sleep(Duration::from_secs(5));
    let w0 = proc_field(pid, "io", "write_bytes:").unwrap_or(0);
    std::thread::sleep(Duration::from_secs(idle));
    let w1 = proc_field(pid, "io", "write_bytes:").unwrap_or(0);
    let rss = proc_field(pid, "status", "VmRSS:").unwrap_or(0);
    let hwm = proc_field(pid, "status", "VmHWM:").unwrap_or(0);
    println!("daemon with the {SERVICES}-service stack running, idle for {idle} s:");
    println!(
        "  RSS {:.1} MiB (peak {:.1} MiB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "  disk writes {:.1} KB/min",
        (w1 - w0) as f64 / 1000.0 * 60.0 / idle as f64
    );
    n.ok(&["stack", "rm", "bench"])?;
    Ok(())
}
