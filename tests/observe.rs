//! Seeing the cluster (issue 18), end to end on a namespace cluster: a real
//! Prometheus (Debian's `prometheus`) scraping two orc nodes' `/metrics`, the
//! `orc events` stream, and `orc stats` across nodes.

#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;

use anyhow::{bail, ensure, Context, Result};
use harness::{TestCluster, CONVERGE};
use orc_testbed::poll_until;
use serde_json::Value;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const METRICS_PORT: u16 = 9323;

/// Restarts every daemon of `c` serving metrics on its LAN address.
fn serve_metrics(c: &mut TestCluster, n: usize) -> Result<()> {
    for i in 0..n {
        let addr = format!("{}:{METRICS_PORT}", c.host(i).ip);
        c.node_mut(i)
            .restart_daemon_with(&["--metrics-addr", &addr])?;
    }
    c.wait_ready(0, n)
}

/// `GET http://ADDR/PATH` from node `from`'s namespace.
fn http_get(c: &TestCluster, from: usize, url: &str) -> Result<String> {
    let out = c
        .host(from)
        .command("curl")
        .args(["-sS", "--max-time", "5", "--fail", url])
        .output()?;
    ensure!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// The value of the sample `name{labels…}` whose labels include all of `want`.
fn sample(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => r.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        want.iter()
            .all(|(k, v)| labels.contains(&format!("{k}=\"{v}\"")))
            .then(|| value.trim().parse().ok())?
    })
}

/// A task's memory use as its cgroup says (v2 `memory.current`, v1
/// `memory.usage_in_bytes`), found through its init process.
fn cgroup_memory(c: &TestCluster, node: usize, task: &str) -> Result<u64> {
    let info = c.node(node).ctr(&["tasks", "ls"])?;
    let pid = info
        .lines()
        .find(|l| l.starts_with(task))
        .and_then(|l| l.split_whitespace().nth(1))
        .with_context(|| format!("no containerd task {task}:\n{info}"))?;
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let v1 = cg.lines().find_map(|l| {
        let mut p = l.splitn(3, ':');
        let (_, controllers, path) = (p.next()?, p.next()?, p.next()?);
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then(|| path.to_string())
    });
    let file = match v1 {
        Some(path) => format!("/sys/fs/cgroup/memory{path}/memory.usage_in_bytes"),
        None => {
            let path = cg
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .context("no cgroup v2 line")?;
            format!("/sys/fs/cgroup{path}/memory.current")
        }
    };
    Ok(std::fs::read_to_string(&file)
        .with_context(|| file.clone())?
        .trim()
        .parse()?)
}

/// Prometheus in node 0's namespace, scraping `targets` every second; its data in a
/// temp dir; killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(c: &TestCluster, targets: &[String]) -> Result<Prometheus> {
        let dir = tempfile::Builder::new().prefix("orc-prom-").tempdir()?;
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let cfg = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: orc\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        );
        let cfg_path = dir.path().join("prometheus.yml");
        std::fs::write(&cfg_path, cfg)?;
        let listen = format!("{}:9090", c.host(0).ip);
        let log = std::fs::File::create(dir.path().join("prometheus.log"))?;
        let child = c
            .host(0)
            .command("prometheus")
            .arg(format!("--config.file={}", cfg_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={listen}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting prometheus (Debian package `prometheus`)")?;
        let p = Prometheus {
            child,
            url: format!("http://{listen}"),
            _dir: dir,
        };
        poll_until(Duration::from_secs(30), "prometheus to answer", || {
            http_get(c, 0, &format!("{}/-/ready", p.url)).ok()
        })?;
        Ok(p)
    }

    /// The single value of an instant query, if it has exactly one series.
    fn query(&self, c: &TestCluster, q: &str) -> Option<f64> {
        let out = c
            .host(0)
            .command("curl")
            .args(["-sS", "--max-time", "5", "--fail", "-G"])
            .arg(format!("{}/api/v1/query", self.url))
            .arg("--data-urlencode")
            .arg(format!("query={q}"))
            .output()
            .ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        let r = v["data"]["result"].as_array()?;
        if r.len() != 1 {
            return None;
        }
        r[0]["value"][1].as_str()?.parse().ok()
    }
}

fn sleepers(replicas: u32) -> String {
    format!(
        r#"
[services.web]
image = "demo/busybox:1"
command = ["sh", "-c", "head -c 4000000 /dev/zero > /tmp/fill; sleep 3600"]
replicas = {replicas}
resources = {{ limits = {{ memory = "64M" }} }}
stop = {{ signal = "SIGKILL", grace_period = "1s" }}
"#
    )
}

#[test]
fn prometheus_scrapes_two_nodes() -> Result<()> {
    let mut c = TestCluster::form(&["pm1", "pw1"], 1, 1, Some(250), true)?;
    serve_metrics(&mut c, 2)?;
    c.deploy(0, "obs", &sleepers(2))?;
    c.wait_service(0, "obs_web", 2)?;

    // The endpoint itself: text format, node and task families, manager families
    // only on the manager.
    let m = http_get(
        &c,
        0,
        &format!("http://{}:{METRICS_PORT}/metrics", c.host(0).ip),
    )?;
    let w = http_get(
        &c,
        0,
        &format!("http://{}:{METRICS_PORT}/metrics", c.host(1).ip),
    )?;
    for text in [&m, &w] {
        ensure!(
            text.contains("# TYPE orc_node_cpu_seconds_total counter"),
            "{text}"
        );
        ensure!(
            sample(text, "orc_node_memory_total_bytes", &[]).unwrap_or(0.0) > 0.0,
            "{text}"
        );
    }
    ensure!(
        sample(
            &m,
            "orc_node_info",
            &[("role", "manager"), ("hostname", "pm1")]
        ) == Some(1.0),
        "{m}"
    );
    ensure!(
        sample(
            &w,
            "orc_node_info",
            &[("role", "worker"), ("hostname", "pw1")]
        ) == Some(1.0),
        "{w}"
    );
    ensure!(
        !w.contains("orc_raft_term"),
        "a worker has no Raft figures:\n{w}"
    );
    // The leader hears the worker's heartbeats.
    ensure!(sample(&m, "orc_sessions_open", &[]) == Some(1.0), "{m}");
    let age = sample(&m, "orc_node_heartbeat_age_seconds", &[("hostname", "pw1")]);
    ensure!(age.is_some_and(|a| a < 5.0), "heartbeat age {age:?}:\n{m}");
    // Prometheus' own linter accepts both (names, HELP/TYPE, units, histograms).
    for text in [&m, &w] {
        let mut lint = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("promtool (Debian package `prometheus`)")?;
        use std::io::Write;
        lint.stdin
            .take()
            .context("promtool stdin")?
            .write_all(text.as_bytes())?;
        let out = lint.wait_with_output()?;
        ensure!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let prom = Prometheus::start(
        &c,
        &[
            format!("{}:{METRICS_PORT}", c.host(0).ip),
            format!("{}:{METRICS_PORT}", c.host(1).ip),
        ],
    )?;
    // Both targets up.
    poll_until(CONVERGE, "prometheus to scrape both nodes", || {
        (prom.query(&c, "count(up == 1)")? == 2.0).then_some(())
    })?;

    // Running replicas as `orc service ls` shows them.
    let row = c.service_row(0, "obs_web").context("obs_web row")?;
    let running = row["running"].as_f64().context("running")?;
    poll_until(
        CONVERGE,
        "orc_service_replicas_running to match service ls",
        || {
            let q = "orc_service_replicas_running{service=\"obs_web\"}";
            (prom.query(&c, q)? == running).then_some(())
        },
    )?;

    // A task's memory within 10 % of its cgroup's figure, for a task on each node.
    let tasks = c.running_tasks(0, "obs_web")?;
    ensure!(tasks.len() == 2, "{tasks:?}");
    for (task, _) in &tasks {
        let node = (0..2)
            .find(|i| {
                c.node(*i)
                    .running_containers()
                    .is_ok_and(|v| v.iter().any(|id| id == task))
            })
            .with_context(|| format!("no node runs {task}"))?;
        let q = format!("orc_task_memory_bytes{{task=\"{task}\"}}");
        poll_until(CONVERGE, "a task's memory to match its cgroup", || {
            let scraped = prom.query(&c, &q)?;
            let actual = cgroup_memory(&c, node, task).ok()? as f64;
            ((scraped - actual).abs() <= actual * 0.10).then_some(())
        })
        .with_context(|| format!("{q} vs the cgroup of {task}"))?;
        let limit = prom
            .query(
                &c,
                &format!("orc_task_memory_limit_bytes{{task=\"{task}\"}}"),
            )
            .context("memory limit")?;
        ensure!(limit == 64.0 * 1024.0 * 1024.0, "limit {limit}");
    }

    // The commit index rises with writes.
    let q = "orc_raft_commit_index";
    let before = poll_until(CONVERGE, "a commit index", || prom.query(&c, q))?;
    for n in [3, 2] {
        c.node(0)
            .ok(&["service", "scale", &format!("obs_web={n}")])?;
    }
    poll_until(CONVERGE, "the commit index to rise", || {
        (prom.query(&c, q)? > before).then_some(())
    })?;
    Ok(())
}

/// Waits for an event line of `stream` matching `pred`; returns it.
fn next_event(
    lines: &std::sync::mpsc::Receiver<String>,
    seen: &mut Vec<Value>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let deadline = Instant::now() + CONVERGE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .map_err(|_| anyhow::anyhow!("no event {what}; saw {seen:#?}"))?;
        let v: Value = serde_json::from_str(&line).with_context(|| line.clone())?;
        seen.push(v.clone());
        if pred(&v) {
            return Ok(v);
        }
    }
}

#[test]
fn events_show_a_failure_its_replacement_and_a_node_loss() -> Result<()> {
    let mut c = TestCluster::form(&["em1", "ew1"], 1, 1, Some(250), true)?;
    let body = r#"
[services.web]
image = "demo/busybox:1"
command = ["sleep", "3600"]
replicas = 1
constraints = ["node.role == manager"]
stop = { signal = "SIGKILL", grace_period = "1s" }
"#;
    c.deploy(0, "ev", body)?;
    c.wait_service(0, "ev_web", 1)?;
    let (task, _) = c.running_tasks(0, "ev_web")?.pop().context("a task")?;

    let stream = c.node(0).orc_stream(&["events", "--json"])?;
    // The CLI subscribes some time after it starts: change a label until the stream
    // shows such a change, so it is known to be live before the kill.
    let mut seen = Vec::new();
    // A new value each try: a label already set changes nothing and makes no event.
    let mut tries = 0u32;
    poll_until(CONVERGE, "the event stream to be live", || {
        tries += 1;
        let probe = format!("probe={tries}");
        c.node(0)
            .ok(&["node", "update", "--label-add", &probe, "ew1"])
            .ok()?;
        let line = stream.lines.recv_timeout(Duration::from_secs(1)).ok()?;
        let v: Value = serde_json::from_str(&line).ok()?;
        seen.push(v.clone());
        (v["type"] == "node" && v["action"] == "labels").then_some(())
    })?;

    c.node(0)
        .ctr(&["tasks", "kill", "--signal", "SIGKILL", &task])?;
    let failed = next_event(&stream.lines, &mut seen, "task failed", |e| {
        e["type"] == "task" && e["id"] == task.as_str() && e["action"] == "failed"
    })?;
    ensure!(
        failed["attributes"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "a failure has a reason: {failed}"
    );
    let running = next_event(&stream.lines, &mut seen, "replacement running", |e| {
        e["type"] == "task"
            && e["name"] == "ev_web"
            && e["id"] != task.as_str()
            && e["action"] == "running"
    })?;
    ensure!(running["attributes"]["slot"] == "1", "{running}");

    c.node_mut(1).kill_daemon()?;
    let down = next_event(&stream.lines, &mut seen, "node down", |e| {
        e["type"] == "node" && e["action"] == "down" && e["name"] == "ew1"
    })?;
    ensure!(
        down["attributes"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{down}"
    );
    // In the order they happened.
    let seqs: Vec<u64> = [&failed, &running, &down]
        .iter()
        .map(|e| e["seq"].as_u64().unwrap_or(0))
        .collect();
    ensure!(seqs[0] < seqs[1] && seqs[1] < seqs[2], "order {seqs:?}");
    // They are kept: `--since` replays them, `--until` ends the stream.
    let replay = c.node(0).ok(&[
        "events",
        "--json",
        "--since",
        "10m",
        "--until",
        "0m",
        "--filter",
        "type=node",
    ])?;
    ensure!(
        replay
            .lines()
            .any(|l| l.contains("\"down\"") && l.contains("ew1")),
        "{replay}"
    );
    ensure!(!replay.contains("\"type\":\"task\""), "{replay}");
    // The same as text: one line per event, time first.
    let text = c.node(0).ok(&[
        "events",
        "--since",
        "10m",
        "--until",
        "0m",
        "--filter",
        "type=node",
        "--filter",
        "action=down",
    ])?;
    ensure!(
        text.lines().count() == 1
            && text.contains(" node down ew1 ")
            && text.contains("reason=\"heartbeat failure\""),
        "{text}"
    );
    Ok(())
}

#[test]
fn stats_report_every_task_of_two_nodes() -> Result<()> {
    let c = TestCluster::form(&["sm1", "sw1"], 1, 1, Some(250), true)?;
    // One busy loop per node (a fifth of a CPU each: the test machine is shared).
    let body = r#"
[services.spin]
image = "demo/busybox:1"
command = ["sh", "-c", "while :; do :; done"]
mode = "global"
resources = { limits = { cpus = 0.2, memory = "32M" } }
stop = { signal = "SIGKILL", grace_period = "1s" }
"#;
    c.deploy(0, "st", body)?;
    c.wait_service(0, "st_spin", 2)?;
    let tasks = c.running_tasks(0, "st_spin")?;
    let rows = poll_until(CONVERGE, "stats of both tasks", || {
        let v = c.node(0).json(&["stats", "--no-stream"]).ok()?;
        let rows = v.as_array()?.clone();
        (rows.len() == 2).then_some(rows)
    })?;
    for (task, _) in &tasks {
        let r = rows
            .iter()
            .find(|r| r["task"] == task.as_str())
            .with_context(|| format!("no row for {task}: {rows:#?}"))?;
        ensure!(r["cpu_percent"].as_f64().unwrap_or(0.0) > 0.0, "{r}");
        ensure!(r["memory_limit_bytes"] == 32 * 1024 * 1024, "{r}");
        ensure!(r["memory_bytes"].as_u64().unwrap_or(0) > 0, "{r}");
    }
    let nodes: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r["node"].as_str()).collect();
    ensure!(nodes.len() == 2, "one task per node: {rows:#?}");
    // The table: a header and a row per task.
    let table = c.node(0).ok(&["stats", "--no-stream", "st_spin"])?;
    ensure!(
        table
            .lines()
            .next()
            .is_some_and(|h| h.contains("CPU %") && h.contains("MEM USAGE / LIMIT")),
        "{table}"
    );
    ensure!(
        table.lines().filter(|l| l.contains("st_spin.")).count() == 2
            && table.contains("/ 32.0 MiB"),
        "{table}"
    );
    // A service that doesn't exist is an error.
    let out = c.node(0).orc(&["stats", "--no-stream", "st_nope"])?;
    if out.status.success() {
        bail!("stats of an unknown service succeeded");
    }
    Ok(())
}
