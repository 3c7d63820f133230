//! What health checks cost on one node (issue 14): N tasks (default 30) probed every
//! 5 s, with an exec probe (`["CMD", "true"]`: a runc exec in the container), a TCP
//! probe and an HTTP probe (both run by the agent from the task's network namespace),
//! against the same tasks without a check. Measures the CPU-seconds per minute the orc
//! daemon, containerd and the task processes (shims + log drivers, with the `runc exec`
//! runs and probe processes the shims reaped) use over a window,
//! against real containerd. Prints the table of docs/performance.md.
//!
//! Run (root, after `cargo build -p orc`): `cargo bench -p orc-testbed --bench
//! health_cost --profile dev`. `HEALTH_TASKS` sets the task count (default 30),
//! `HEALTH_SECS` the measured window (default 60), `HEALTH_SETTLE_SECS` the wait before
//! it (default 10), `HEALTH_KINDS` what to measure (default `none,exec,tcp,http`);
//! `ORC_BIN` picks another orc binary (e.g. a release build).

#[path = "cost/mod.rs"]
#[allow(dead_code)]
mod cost;

use anyhow::{bail, Context, Result};
use cost::{cpu_ticks_with_reaped, env_u64, task_processes, TICKS};
use orc_testbed::orc_node::{NodeOptions, OrcNode};
use orc_testbed::{busybox_image, orc_binary, poll_until, ImageFormat};
use std::time::Duration;

/// The stack: `tasks` busybox httpd tasks, each in its own network namespace, with
/// the health check of `kind` every 5 s.
fn stack(n: &OrcNode, kind: &str, tasks: usize) -> Result<String> {
    let test = match kind {
        "none" => None,
        "exec" => Some(r#"["CMD", "true"]"#),
        "tcp" => Some(r#"["TCP", "8080"]"#),
        "http" => Some(r#"["HTTP", "http://localhost:8080/"]"#),
        other => bail!("unknown kind {other}: none, exec, tcp or http"),
    };
    let mut s = format!(
        "[services.p]\nimage = \"demo/busybox:1\"\n\
         command = [\"sh\", \"-c\", \"mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www\"]\n\
         replicas = {tasks}\nstop = {{ signal = \"SIGKILL\", grace_period = \"1s\" }}\n"
    );
    if let Some(t) = test {
        s += &format!(
            "healthcheck = {{ test = {t}, interval = \"5s\", start_interval = \"1s\", timeout = \"5s\" }}\n"
        );
    }
    let p = n.dir().join(format!("health-{kind}.toml"));
    std::fs::write(&p, s)?;
    Ok(p.to_string_lossy().into_owned())
}

/// CPU-seconds per minute over the window: daemon, containerd, shims + log drivers.
fn measure(n: &OrcNode, kind: &str, tasks: usize, settle: u64, window: u64) -> Result<[f64; 3]> {
    let f = stack(n, kind, tasks)?;
    n.ok(&["stack", "deploy", &f, "--name", "hc", "--detach"])?;
    // Every task serving (running, and healthy when it has a check).
    poll_until(Duration::from_secs(600), "every task serving", || {
        let rows = n.json(&["service", "ls"]).ok()?;
        let row = rows
            .as_array()?
            .iter()
            .find(|r| r["name"] == "hc_p")?
            .clone();
        let (s, l) = task_processes(n);
        (row["running"] == tasks as u64 && s.len() == tasks && l.len() == tasks).then_some(())
    })?;
    std::thread::sleep(Duration::from_secs(settle));
    // Each process's CPU with what its children used and it reaped: the runc execs
    // of exec probes run as children of the task's shim.
    let w = cost::measure_window(n, window, cpu_ticks_with_reaped)?;
    let cpu = w.per_min(|a, b| b.saturating_sub(a)).map(|t| t / TICKS);
    n.ok(&["stack", "rm", "hc"])?;
    poll_until(Duration::from_secs(300), "the tasks gone", || {
        n.containers().ok()?.is_empty().then_some(())
    })?;
    Ok(cpu)
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let tasks = env_u64("HEALTH_TASKS", 30) as usize;
    let window = env_u64("HEALTH_SECS", 60);
    let settle = env_u64("HEALTH_SETTLE_SECS", 10);
    let kinds: Vec<String> = std::env::var("HEALTH_KINDS")
        .unwrap_or_else(|_| "none,exec,tcp,http".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
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
    let mut rows = Vec::new();
    for kind in &kinds {
        let cpu = measure(&n, kind, tasks, settle, window)?;
        println!(
            "{kind}: daemon {:.3}, containerd {:.3}, shims + log drivers {:.3} CPU-s/min",
            cpu[0], cpu[1], cpu[2]
        );
        rows.push((kind.clone(), cpu));
    }
    println!("\n{tasks} tasks probed every 5 s, window {window} s (CPU-seconds per minute)");
    println!("| probe | orc daemon | containerd | shims + log drivers | total |");
    println!("|---|---|---|---|---|");
    for (kind, c) in rows {
        println!(
            "| {kind} | {:.3} | {:.3} | {:.3} | {:.3} |",
            c[0],
            c[1],
            c[2],
            c[0] + c[1] + c[2]
        );
    }
    Ok(())
}
