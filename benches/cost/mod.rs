//! What a node's processes cost, read from /proc: CPU ticks, memory, disk writes of
//! one process, and the task processes (containerd shims and their log drivers) of a
//! node's containerd. Shared by the benches that measure a node (idle_cost,
//! health_cost).

use orc_testbed::orc_node::OrcNode;
use orc_testbed::processes;
use std::collections::HashSet;

/// Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ).
pub const TICKS: f64 = 100.0;

pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// `KEY: N kB`-style field of a /proc file (the number).
pub fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime of the whole process (dead threads included), in ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
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

/// [`cpu_ticks`] plus the CPU of its children that ended and were waited for
/// (cutime + cstime): a shim's `runc exec` runs and the processes it reaped.
pub fn cpu_ticks_with_reaped(pid: u32) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 to 17 of stat(5): utime, stime, cutime, cstime.
    (14..=17)
        .map(|i| {
            f.get(i - 3)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// One process's figures at one instant.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sample {
    pub rss_kb: u64,
    /// Private memory (heap, stacks): VmRSS minus the mapped files (code).
    pub anon_kb: u64,
    pub pss_kb: u64,
    pub cpu_ticks: u64,
    pub write_bytes: u64,
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

pub fn sample(pid: u32) -> Sample {
    Sample {
        rss_kb: proc_field(pid, "status", "VmRSS:").unwrap_or(0),
        anon_kb: proc_field(pid, "status", "RssAnon:").unwrap_or(0),
        pss_kb: proc_field(pid, "smaps_rollup", "Pss:").unwrap_or(0),
        cpu_ticks: cpu_ticks(pid),
        write_bytes: proc_field(pid, "io", "write_bytes:").unwrap_or(0),
    }
}

pub fn sum(pids: &[u32]) -> Sample {
    pids.iter()
        .map(|p| sample(*p))
        .fold(Sample::default(), |a, b| a + b)
}

pub fn ppid(pid: u32) -> Option<u32> {
    proc_field(pid, "status", "PPid:").map(|p| p as u32)
}

/// The shims of this node's containerd and their children (the log drivers).
pub fn task_processes(n: &OrcNode) -> (Vec<u32>, Vec<u32>) {
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

/// What one measuring window saw: the figures of the daemon, containerd and the task
/// processes (shims + log drivers, summed) at its start and end, its length, and the
/// task processes it covered.
pub struct Window<T> {
    pub before: [T; 3],
    pub after: [T; 3],
    pub secs: f64,
    pub shims: Vec<u32>,
    pub loggers: Vec<u32>,
}

impl<T: Copy> Window<T> {
    /// Each group's change over the window, per minute, by `delta(before, after)`.
    pub fn per_min(&self, delta: impl Fn(T, T) -> u64) -> [f64; 3] {
        std::array::from_fn(|i| delta(self.before[i], self.after[i]) as f64 * 60.0 / self.secs)
    }
}

/// Samples the node's processes with `sample`, waits `secs` seconds, samples again;
/// an error if a task process came or went meanwhile (a task restarted).
pub fn measure_window<T>(
    n: &OrcNode,
    secs: u64,
    sample: impl Fn(u32) -> T,
) -> anyhow::Result<Window<T>>
where
    T: Copy + Default + std::ops::Add<Output = T>,
{
    use anyhow::Context;
    let daemon = n.daemon_pid().context("daemon pid")?;
    let containerd = n.containerd.pid().context("containerd pid")?;
    let (shims, loggers) = task_processes(n);
    let tasks = |s: &dyn Fn(u32) -> T| {
        shims
            .iter()
            .chain(&loggers)
            .map(|p| s(*p))
            .fold(T::default(), |a, b| a + b)
    };
    let before = [sample(daemon), sample(containerd), tasks(&sample)];
    let t0 = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_secs(secs));
    let secs = t0.elapsed().as_secs_f64();
    let after = [sample(daemon), sample(containerd), tasks(&sample)];
    if task_processes(n) != (shims.clone(), loggers.clone()) {
        anyhow::bail!("task processes changed during the window (a task restarted?)");
    }
    Ok(Window {
        before,
        after,
        secs,
        shims,
        loggers,
    })
}
