//! What idle containers cost on one node (issue 20): the orc daemon's and containerd's
//! memory, CPU and disk writes, and the memory of each task's own processes (its
//! containerd shim and its log driver), with N = 10 and then N = 50 idle tasks,
//! against real containerd. Prints the table of docs/performance-boards.md.
//!
//! Run (root, after `cargo build -p orc`): `cargo bench -p orc-testbed --bench
//! idle_cost`. `IDLE_SECS` sets the measured idle window (default 60), `IDLE_SETTLE_SECS`
//! the wait before it (default 30), `IDLE_COUNTS` the task counts (default `10,50`);
//! `ORC_BIN` picks another orc binary (e.g. a release build).

#[path = "cost/mod.rs"]
#[allow(dead_code)]
mod cost;

use anyhow::{Context, Result};
use cost::{env_u64, sample, sum, task_processes, Sample, TICKS};
use orc_testbed::orc_node::{NodeOptions, OrcNode};
use orc_testbed::{busybox_image, orc_binary, poll_until, ImageFormat};
use std::time::Duration;

fn stack(n: &OrcNode, replicas: usize) -> Result<String> {
    let s = format!(
        "[services.t]\nimage = \"demo/busybox:1\"\ncommand = [\"sleep\", \"86400\"]\nreplicas = {replicas}\nnetwork_mode = \"host\"\nstop = {{ signal = \"SIGKILL\", grace_period = \"1s\" }}\n"
    );
    let p = n.dir().join(format!("idle{replicas}.toml"));
    std::fs::write(&p, s)?;
    Ok(p.to_string_lossy().into_owned())
}

/// One column of the table.
struct Column {
    tasks: usize,
    daemon: Sample,
    containerd: Sample,
    shims: Sample,
    loggers: Sample,
    /// CPU-seconds per minute over the window: daemon, containerd, shims + loggers.
    cpu: [f64; 3],
    /// Bytes written per minute over the window: daemon, containerd, shims + loggers.
    writes: [f64; 3],
}

fn measure(n: &OrcNode, tasks: usize, settle: u64, idle: u64) -> Result<Column> {
    let f = stack(n, tasks)?;
    n.ok(&["stack", "deploy", &f, "--name", "idle"])?;
    poll_until(
        Duration::from_secs(300),
        "every task and log driver",
        || {
            let (s, l) = task_processes(n);
            (n.running_containers().ok()?.len() == tasks && s.len() == tasks && l.len() == tasks)
                .then_some(())
        },
    )?;
    std::thread::sleep(Duration::from_secs(settle));
    let w = cost::measure_window(n, idle, sample)?;
    let cpu = w
        .per_min(|a, b| b.cpu_ticks.saturating_sub(a.cpu_ticks))
        .map(|t| t / TICKS);
    let writes = w.per_min(|a, b| b.write_bytes.saturating_sub(a.write_bytes));
    let (after, shims, loggers) = (w.after, w.shims, w.loggers);
    Ok(Column {
        tasks,
        daemon: after[0],
        containerd: after[1],
        shims: sum(&shims),
        loggers: sum(&loggers),
        cpu,
        writes,
    })
}

fn mib(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

fn print(cols: &[Column], idle: u64) {
    let head: Vec<String> = cols.iter().map(|c| format!("{} tasks", c.tasks)).collect();
    println!("\nidle cost on one node, idle window {idle} s (MiB; CPU-s/min; KB/min)");
    println!("| | {} |", head.join(" | "));
    println!("|---|{}", "---|".repeat(cols.len()));
    let row = |name: &str, f: &dyn Fn(&Column) -> String| {
        let v: Vec<String> = cols.iter().map(f).collect();
        println!("| {name} | {} |", v.join(" | "));
    };
    row("daemon VmRSS / PSS", &|c| {
        format!("{} / {}", mib(c.daemon.rss_kb), mib(c.daemon.pss_kb))
    });
    row("daemon VmRSS: anonymous / files (code)", &|c| {
        format!(
            "{} / {}",
            mib(c.daemon.anon_kb),
            mib(c.daemon.rss_kb - c.daemon.anon_kb)
        )
    });
    row("containerd VmRSS / PSS", &|c| {
        format!(
            "{} / {}",
            mib(c.containerd.rss_kb),
            mib(c.containerd.pss_kb)
        )
    });
    row("task processes PSS, all (shims + log drivers)", &|c| {
        format!(
            "{} ({} + {})",
            mib(c.shims.pss_kb + c.loggers.pss_kb),
            mib(c.shims.pss_kb),
            mib(c.loggers.pss_kb)
        )
    });
    row("per task PSS (shim + log driver)", &|c| {
        let t = c.tasks.max(1) as u64;
        format!(
            "{} ({} + {})",
            mib((c.shims.pss_kb + c.loggers.pss_kb) / t),
            mib(c.shims.pss_kb / t),
            format_args!("{:.2}", c.loggers.pss_kb as f64 / t as f64 / 1024.0)
        )
    });
    row("containerd idle CPU", &|c| format!("{:.3}", c.cpu[1]));
    row("daemon idle CPU", &|c| format!("{:.3}", c.cpu[0]));
    row("shims + log drivers idle CPU", &|c| {
        format!("{:.3}", c.cpu[2])
    });
    row(
        "idle disk writes: daemon / containerd / shims + drivers",
        &|c| {
            format!(
                "{:.1} / {:.1} / {:.1}",
                c.writes[0] / 1000.0,
                c.writes[1] / 1000.0,
                c.writes[2] / 1000.0
            )
        },
    );
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let idle = env_u64("IDLE_SECS", 60);
    let settle = env_u64("IDLE_SETTLE_SECS", 30);
    let counts: Vec<usize> = std::env::var("IDLE_COUNTS")
        .unwrap_or_else(|_| "10,50".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("orc binary: {}", orc_binary()?.display());
    let n = OrcNode::start_with(NodeOptions {
        log: Some("info".into()),
        ..NodeOptions::default()
    })?;
    let advertise = n.listen().to_string();
    n.ok(&["cluster", "init", "--advertise", &advertise])?;
    let img = busybox_image(ImageFormat::Oci)?;
    n.ok(&["image", "load", img.to_str().context("path")?])?;
    let mut cols = Vec::new();
    for tasks in counts {
        let c = measure(&n, tasks, settle, idle)?;
        print(std::slice::from_ref(&c), idle);
        cols.push(c);
    }
    print(&cols, idle);
    n.ok(&["stack", "rm", "idle"])?;
    Ok(())
}
