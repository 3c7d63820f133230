//! What idle containers cost on one node (issue 20): the orc daemon's and containerd's
//! memory, CPU and disk writes, and the memory of each task's own processes (its
//! containerd shim and its log driver), with N = 10 and then N = 50 idle tasks,
//! against real containerd. Prints the table of docs/performance-boards.md.
//!
//! Run (root, after `cargo build -p orc`): `cargo bench -p orc-testbed --bench
//! idle_cost`. `IDLE_SECS` sets the measured idle window (default 60), `IDLE_SETTLE_SECS`
//! the wait before it (default 30), `IDLE_COUNTS` the task counts (default `10,50`);
//! `ORC_BIN` picks another orc binary (e.g. a release build).

use anyhow::{bail, Context, Result};
use orc_testbed::orc_node::{NodeOptions, OrcNode};
use orc_testbed::{busybox_image, orc_binary, poll_until, processes, ImageFormat};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ).
const TICKS: f64 = 100.0;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// `KEY: N kB`-style field of a /proc file (the number).
fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime of the whole process (dead threads included), in ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name is in parentheses and may hold spaces: count after it.
    let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let get = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(14) + get(15)
}

/// One process's figures at one instant.
#[derive(Debug, Default, Clone, Copy)]
struct Sample {
    rss_kb: u64,
    /// Private memory (heap, stacks): VmRSS minus the mapped files (code).
    anon_kb: u64,
    pss_kb: u64,
    cpu_ticks: u64,
    write_bytes: u64,
}

impl std::ops::Add for Sample {
    type Output = Sample;
    fn add(self, o: Sample) -> Sample {
        Sample {
            rss_kb: self.rss_kb + o.rss_kb,
            anon_kb: self.anon_kb + o.anon_kb,
            pss_kb: self.pss_kb + o.pss_kb,
            cpu_ticks: self.cpu_ticks + o.cpu_ticks,
            write_bytes: self.write_bytes + o.write_bytes,
        }
    }
}

fn sample(pid: u32) -> Sample {
    Sample {
        rss_kb: proc_field(pid, "status", "VmRSS:").unwrap_or(0),
        anon_kb: proc_field(pid, "status", "RssAnon:").unwrap_or(0),
        pss_kb: proc_field(pid, "smaps_rollup", "Pss:").unwrap_or(0),
        cpu_ticks: cpu_ticks(pid),
        write_bytes: proc_field(pid, "io", "write_bytes:").unwrap_or(0),
    }
}

fn sum(pids: &[u32]) -> Sample {
    pids.iter()
        .map(|p| sample(*p))
        .fold(Sample::default(), |a, b| a + b)
}

fn ppid(pid: u32) -> Option<u32> {
    proc_field(pid, "status", "PPid:").map(|p| p as u32)
}

/// The shims of this node's containerd and their children (the log drivers).
fn task_processes(n: &OrcNode) -> (Vec<u32>, Vec<u32>) {
    let socket = n.containerd.socket().to_string_lossy().into_owned();
    let all = processes();
    let shims: Vec<u32> = all
        .iter()
        .filter(|(_, a)| {
            a.first().is_some_and(|p| p.contains("containerd-shim")) && a.contains(&socket)
        })
        .map(|(p, _)| *p as u32)
        .collect();
    let set: HashSet<u32> = shims.iter().copied().collect();
    let loggers: Vec<u32> = all
        .iter()
        .map(|(p, _)| *p as u32)
        .filter(|p| ppid(*p).is_some_and(|pp| set.contains(&pp)))
        .filter(|p| {
            // The shim's children are the containers' init processes and the log
            // drivers: only the latter run the orc binary's logger.
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("__logger"))
                .unwrap_or(false)
        })
        .collect();
    (shims, loggers)
}

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
    let daemon = n.daemon_pid().context("daemon pid")?;
    let containerd = n.containerd.pid().context("containerd pid")?;
    let (shims, loggers) = task_processes(n);
    let before = [
        sample(daemon),
        sample(containerd),
        sum(&shims) + sum(&loggers),
    ];
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(idle));
    let secs = t0.elapsed().as_secs_f64();
    let after = [
        sample(daemon),
        sample(containerd),
        sum(&shims) + sum(&loggers),
    ];
    if task_processes(n) != (shims.clone(), loggers.clone()) {
        bail!("task processes changed during the idle window");
    }
    let per_min = |a: u64, b: u64| (b.saturating_sub(a)) as f64 * 60.0 / secs;
    let mut cpu = [0.0; 3];
    let mut writes = [0.0; 3];
    for i in 0..3 {
        cpu[i] = per_min(before[i].cpu_ticks, after[i].cpu_ticks) / TICKS;
        writes[i] = per_min(before[i].write_bytes, after[i].write_bytes);
    }
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
