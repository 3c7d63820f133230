//! What `GET /metrics` costs the daemon: CPU time per scrape and the daemon's RSS,
//! with no task and with 100 tasks on the node, against real containerd. Prints
//! figures; run with `cargo bench -p orc-testbed --bench metrics_scrape` (root
//! needed). SCRAPE_TASKS changes the task count (default 100).

use anyhow::{bail, Context, Result};
use orc_testbed::orc_node::{NodeOptions, OrcNode};
use orc_testbed::{busybox_image, poll_until, ImageFormat};
use std::time::Duration;

const SCRAPES: usize = 20;
const PORT: u16 = 9323;

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) end with ')'.
    let rest = s.rsplit_once(')').context("stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11).context("utime")?.parse()?;
    let stime: f64 = f.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / 100.0)
}

fn rss_kib(pid: u32) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS")
}

/// One scrape through curl in the node's namespace: (bytes, seconds).
fn scrape(n: &OrcNode) -> Result<(usize, f64)> {
    let out = n
        .command("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{time_total}"])
        .arg(format!("http://127.0.0.1:{PORT}/metrics"))
        .output()?;
    if !out.status.success() {
        bail!("curl: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8(out.stdout)?;
    let (body, time) = text.rsplit_once('\n').context("curl output")?;
    Ok((body.len(), time.trim().parse()?))
}

/// Scrapes SCRAPES times; prints CPU per scrape, wall time and RSS.
fn measure(n: &OrcNode, label: &str) -> Result<()> {
    let pid = n.daemon_pid().context("daemon pid")?;
    scrape(n)?; // warm: first-use allocations
    let rss_before = rss_kib(pid)?;
    let cpu0 = cpu_seconds(pid)?;
    let mut walls = Vec::new();
    let mut size = 0;
    for _ in 0..SCRAPES {
        let (b, t) = scrape(n)?;
        size = b;
        walls.push(t);
    }
    let cpu = (cpu_seconds(pid)? - cpu0) / SCRAPES as f64;
    walls.sort_by(|a, b| a.total_cmp(b));
    let rss_after = rss_kib(pid)?;
    println!(
        "{label}: {:.1} ms CPU per scrape (daemon utime+stime over {SCRAPES}), median wall {:.1} ms, {} KiB body; daemon RSS {} KiB before, {} KiB after",
        cpu * 1000.0,
        walls[walls.len() / 2] * 1000.0,
        size / 1024,
        rss_before,
        rss_after
    );
    Ok(())
}

fn main() -> Result<()> {
    let tasks: usize = std::env::var("SCRAPE_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let n = OrcNode::start_with(NodeOptions {
        extra_args: vec!["--metrics-addr".into(), format!("127.0.0.1:{PORT}")],
        ..NodeOptions::default()
    })?;
    let advertise = n.listen().to_string();
    n.ok(&["cluster", "init", "--advertise", &advertise])?;
    let img = busybox_image(ImageFormat::Oci)?;
    n.ok(&["image", "load", &img.to_string_lossy()])?;
    measure(&n, "0 tasks")?;

    let stack = format!(
        "[services.s]\nimage = \"demo/busybox:1\"\ncommand = [\"sleep\", \"3600\"]\nreplicas = {tasks}\nnetwork_mode = \"host\"\nstop = {{ signal = \"SIGKILL\", grace_period = \"1s\" }}\n"
    );
    let f = n.dir().join("scrape.toml");
    std::fs::write(&f, stack)?;
    n.ok(&[
        "stack",
        "deploy",
        &f.to_string_lossy(),
        "--name",
        "scr",
        "--detach",
    ])?;
    poll_until(Duration::from_secs(600), "every task running", || {
        let rows = n.json(&["service", "ls"]).ok()?;
        let r = rows.as_array()?.first()?.clone();
        (r["running"].as_u64()? == tasks as u64).then_some(())
    })?;
    measure(&n, &format!("{tasks} tasks"))?;
    n.ok(&["stack", "rm", "scr", "--timeout", "300"])?;
    Ok(())
}
