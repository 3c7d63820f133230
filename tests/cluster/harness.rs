//! Forming and inspecting a cluster of [`OrcNode`]s, each on its own host of a [`Lan`].

use anyhow::{bail, Context, Result};
use orc_testbed::orc_node::{NodeOptions, OrcNode};
use orc_testbed::{busybox_image, orc_binary, Host, ImageFormat, Lan};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long anything may take to converge.
pub const CONVERGE: Duration = Duration::from_secs(60);
/// Between two looks at the cluster (each look runs the CLI: keep the 2 cores free).
const LOOK: Duration = Duration::from_millis(200);
/// The cluster port.
const PORT: u16 = 4747;

/// Nodes on a LAN. Field order matters: the nodes (daemons, containerds, their
/// containers) go before the LAN's namespaces.
pub struct TestCluster {
    nodes: Vec<OrcNode>,
    hosts: Vec<Host>,
    names: Vec<String>,
    pub lan: Lan,
    heartbeat_ms: Option<u64>,
    image: Option<PathBuf>,
    dir: tempfile::TempDir,
    /// Daemons listen on 0.0.0.0:4747 (they then follow address changes live).
    listen_any: bool,
}

fn start_node(
    host: &Host,
    name: &str,
    heartbeat_ms: Option<u64>,
    image: Option<&PathBuf>,
    listen_any: bool,
) -> Result<OrcNode> {
    let mut opts = NodeOptions::on(host, name);
    opts.heartbeat_ms = heartbeat_ms;
    if listen_any {
        opts.listen = Some(format!("0.0.0.0:{PORT}"));
    }
    let n = OrcNode::start_with(opts).with_context(|| format!("starting {name}"))?;
    if let Some(img) = image {
        n.ok(&["image", "load", &img.to_string_lossy()])?;
    }
    Ok(n)
}

impl TestCluster {
    /// Starts a node per name (in parallel), each on its own host; the first inits a
    /// cluster, the next `managers - 1` join it as managers, the next `workers` as
    /// workers; any others are left out of it. With `image`, every node loads the
    /// busybox image first.
    pub fn form(
        names: &[&str],
        managers: usize,
        workers: usize,
        heartbeat_ms: Option<u64>,
        image: bool,
    ) -> Result<TestCluster> {
        TestCluster::form_with(names, managers, workers, heartbeat_ms, image, false)
    }

    /// [`TestCluster::form`], with every daemon listening on 0.0.0.0 when `listen_any`.
    pub fn form_with(
        names: &[&str],
        managers: usize,
        workers: usize,
        heartbeat_ms: Option<u64>,
        image: bool,
        listen_any: bool,
    ) -> Result<TestCluster> {
        let lan = Lan::new()?;
        let hosts: Vec<Host> = names
            .iter()
            .map(|_| lan.add_host())
            .collect::<Result<_>>()?;
        let image = if image {
            Some(busybox_image(ImageFormat::Oci)?)
        } else {
            None
        };
        let nodes: Vec<OrcNode> = std::thread::scope(|s| {
            let handles: Vec<_> = hosts
                .iter()
                .zip(names)
                .map(|(h, n)| {
                    s.spawn(|| start_node(h, n, heartbeat_ms, image.as_ref(), listen_any))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| bail!("a node's start panicked"))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        let c = TestCluster {
            nodes,
            hosts,
            names: names.iter().map(|s| s.to_string()).collect(),
            lan,
            heartbeat_ms,
            image,
            dir: tempfile::Builder::new().prefix("orc-cluster-").tempdir()?,
            listen_any,
        };
        if managers == 0 {
            return Ok(c);
        }
        c.init_other(0)?;
        let mtoken = c
            .node(0)
            .ok(&["cluster", "join-token", "manager", "-q"])?
            .trim()
            .to_string();
        let wtoken = c
            .node(0)
            .ok(&["cluster", "join-token", "worker", "-q"])?
            .trim()
            .to_string();
        for i in 1..managers + workers {
            let token = if i < managers { &mtoken } else { &wtoken };
            c.try_join(i, token, 0)?.map_err(anyhow::Error::msg)?;
        }
        c.wait_ready(0, managers + workers)?;
        Ok(c)
    }

    pub fn node(&self, i: usize) -> &OrcNode {
        &self.nodes[i]
    }

    pub fn node_mut(&mut self, i: usize) -> &mut OrcNode {
        &mut self.nodes[i]
    }

    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    fn addr(&self, i: usize) -> String {
        format!("{}:{PORT}", self.hosts[i].ip)
    }

    /// Node `i` inits a cluster of its own.
    pub fn init_other(&self, i: usize) -> Result<()> {
        self.node(i)
            .ok(&["cluster", "init", "--advertise", &self.addr(i)])?;
        Ok(())
    }

    /// Node `i` joins through node `via` with `token`: `Err(stderr)` when refused.
    pub fn try_join(&self, i: usize, token: &str, via: usize) -> Result<Result<(), String>> {
        let out = self.node(i).orc(&[
            "cluster",
            "join",
            "--token",
            token,
            &self.addr(via),
            "--advertise",
            &self.addr(i),
        ])?;
        Ok(if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        })
    }

    /// A new host and node `name`, joined as manager or worker; returns its index.
    pub fn add_node(&mut self, name: &str, manager: bool) -> Result<usize> {
        let host = self.lan.add_host()?;
        let n = start_node(
            &host,
            name,
            self.heartbeat_ms,
            self.image.as_ref(),
            self.listen_any,
        )?;
        self.nodes.push(n);
        self.hosts.push(host);
        self.names.push(name.to_string());
        let i = self.nodes.len() - 1;
        let via = self.leader_index(0)?;
        let role = if manager { "manager" } else { "worker" };
        let token = self
            .node(via)
            .ok(&["cluster", "join-token", role, "-q"])?
            .trim()
            .to_string();
        self.try_join(i, &token, via)?.map_err(anyhow::Error::msg)?;
        self.wait_status(via, name, "ready")?;
        Ok(i)
    }

    /// Calls `f` every `every` until it returns `Some`, for at most `deadline`.
    pub fn poll<T>(
        &self,
        deadline: Duration,
        what: &str,
        every: Duration,
        mut f: impl FnMut() -> Option<T>,
    ) -> Result<T> {
        let end = Instant::now() + deadline;
        loop {
            let started = Instant::now();
            if let Some(v) = f() {
                return Ok(v);
            }
            if Instant::now() >= end {
                bail!(
                    "timed out after {deadline:?} waiting for {what}\n{}",
                    self.logs_tail()
                );
            }
            std::thread::sleep(every.saturating_sub(started.elapsed()));
        }
    }

    /// The tail of every running daemon's log, for failure messages.
    pub fn logs_tail(&self) -> String {
        self.nodes
            .iter()
            .zip(&self.names)
            .map(|(n, name)| {
                let log = n.daemon_log();
                let ours: Vec<&str> = log.lines().filter(|l| l.contains("orc_daemon")).collect();
                let tail = ours[ours.len().saturating_sub(12)..].join("\n");
                format!("--- {name} ---\n{tail}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `orc node ls` on node `via`.
    pub fn nodes(&self, via: usize) -> Result<Vec<Value>> {
        Ok(self
            .node(via)
            .json(&["node", "ls"])?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    fn index_of(&self, hostname: &str) -> Result<usize> {
        self.names
            .iter()
            .position(|n| n == hostname)
            .with_context(|| format!("no node {hostname}"))
    }

    /// Waits until `via` lists `n` nodes, all ready, one of them leader.
    pub fn wait_ready(&self, via: usize, n: usize) -> Result<()> {
        self.poll(
            CONVERGE,
            &format!("{n} ready nodes with a leader"),
            LOOK,
            || {
                let v = self.nodes(via).ok()?;
                let ready = v.iter().filter(|r| r["status"] == "ready").count();
                let leaders = v.iter().filter(|r| r["leader"] == true).count();
                (v.len() == n && ready == n && leaders == 1).then_some(())
            },
        )
    }

    /// The leader's index, as `via` sees it.
    pub fn leader_index(&self, via: usize) -> Result<usize> {
        let name = self.poll(CONVERGE, "a leader", LOOK, || {
            let v = self.nodes(via).ok()?;
            v.iter()
                .find(|r| r["leader"] == true)
                .and_then(|r| r["hostname"].as_str().map(str::to_string))
        })?;
        self.index_of(&name)
    }

    /// Waits until `via` sees a leader other than node `old`; returns it.
    pub fn wait_new_leader(&self, via: usize, old: usize) -> Result<usize> {
        let name = self.poll(CONVERGE, "a new leader", Duration::from_millis(50), || {
            let v = self.nodes(via).ok()?;
            let l = v.iter().find(|r| r["leader"] == true)?;
            let h = l["hostname"].as_str()?;
            (h != self.names[old]).then(|| h.to_string())
        })?;
        self.index_of(&name)
    }

    /// Waits until `via` shows node `hostname` with `status`.
    pub fn wait_status(&self, via: usize, hostname: &str, status: &str) -> Result<()> {
        self.poll(
            CONVERGE,
            &format!("{hostname} to be {status}"),
            LOOK,
            || {
                let v = self.nodes(via).ok()?;
                v.iter()
                    .any(|r| r["hostname"] == hostname && r["status"] == status)
                    .then_some(())
            },
        )
    }

    /// `orc stack deploy` of `body` as stack `name` through node `via` (waits for it).
    pub fn deploy(&self, via: usize, name: &str, body: &str) -> Result<String> {
        let p = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&p, body)?;
        self.node(via).ok(&[
            "stack",
            "deploy",
            &p.to_string_lossy(),
            "--name",
            name,
            "--timeout",
            "60",
        ])
    }

    /// Waits until `via` shows `svc` with `n` of `n` running.
    pub fn wait_service(&self, via: usize, svc: &str, n: u64) -> Result<()> {
        self.poll(
            CONVERGE,
            &format!("{svc} at {n}/{n} on node {}", self.names[via]),
            LOOK,
            || {
                let rows = self.node(via).json(&["service", "ls"]).ok()?;
                let s = rows.as_array()?.iter().find(|r| r["name"] == svc)?;
                (s["running"] == n && s["desired"] == n).then_some(())
            },
        )
        .with_context(|| self.describe(via, svc))
    }

    /// `svc`'s row of `orc service ls` on node `via`.
    pub fn service_row(&self, via: usize, svc: &str) -> Option<Value> {
        let rows = self.node(via).json(&["service", "ls"]).ok()?;
        rows.as_array()?.iter().find(|r| r["name"] == svc).cloned()
    }

    /// `svc` as `via` shows it (node ls, service ls and ps --all), for failure messages.
    pub fn describe(&self, via: usize, svc: &str) -> String {
        let text = |args: &[&str]| match self.node(via).orc(args) {
            Ok(o) => format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => e.to_string(),
        };
        format!(
            "--- as {} sees it ---\n{}{}{}",
            self.names[via],
            text(&["node", "ls"]),
            text(&["service", "ls"]),
            text(&["service", "ps", svc, "--all"])
        )
    }

    /// `svc`'s running tasks (id, node) as `via` sees them.
    pub fn running_tasks(&self, via: usize, svc: &str) -> Result<Vec<(String, String)>> {
        let rows = self.node(via).json(&["service", "ps", svc])?;
        Ok(rows
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["state"] == "running" && t["desired_state"] == "running")
            .filter_map(|t| {
                Some((
                    t["id"].as_str()?.to_string(),
                    t["node"].as_str()?.to_string(),
                ))
            })
            .collect())
    }

    /// How many running tasks of `svc` each node has, as `via` sees it.
    pub fn running_by_node(&self, via: usize, svc: &str) -> Result<BTreeMap<String, usize>> {
        let mut m = BTreeMap::new();
        for (_, node) in self.running_tasks(via, svc)? {
            *m.entry(node).or_insert(0) += 1;
        }
        Ok(m)
    }

    /// Sends an empty gRPC call to `METHOD` of node `to`'s cluster port from node
    /// `from`'s namespace, presenting node `client`'s certificate and trusting node
    /// `trust`'s CA. Returns whether curl got an HTTP answer, and its output.
    pub fn grpc_call(
        &self,
        from: usize,
        to: usize,
        client: usize,
        trust: usize,
        method: &str,
    ) -> Result<(bool, String)> {
        let pki = |i: usize, f: &str| self.node(i).data_dir().join("pki").join(f);
        let out = self.hosts[from]
            .command("curl")
            .args(["-sS", "-i", "--http2", "--max-time", "10", "-X", "POST"])
            .arg("--cacert")
            .arg(pki(trust, "ca.pem"))
            .arg("--cert")
            .arg(pki(client, "node.pem"))
            .arg("--key")
            .arg(pki(client, "node-key.pem"))
            .args([
                "-H",
                "content-type: application/grpc",
                "-H",
                "te: trailers",
                "--data-binary",
                "@/dev/null",
            ])
            .arg(format!("https://{}/orc.v1.Cluster/{method}", self.addr(to)))
            .stdin(Stdio::null())
            .output()
            .context("running curl (apt-get install curl)")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status.success(), text))
    }
}

/// `orc ARGS` against `node`, killed after `secs` seconds (`timeout` exits 124 then).
pub fn timed_orc(node: &OrcNode, secs: u32, args: &[&str]) -> Result<Output> {
    Ok(Command::new("timeout")
        .args(["-s", "KILL", &secs.to_string()])
        .arg(orc_binary()?)
        .arg("--socket")
        .arg(node.socket())
        .args(args)
        .stdin(Stdio::null())
        .output()?)
}

/// Waits until each service in `expected` runs exactly its count of tasks (as `via`
/// sees it) and the containerds of the nodes whose daemon runs hold exactly those
/// tasks' containers, each on the node its task is placed on: nothing a node ran
/// before the cluster moved it away still runs.
pub fn assert_no_duplicates(c: &TestCluster, via: usize, expected: &[(&str, usize)]) -> Result<()> {
    let mut last = String::new();
    let done = c.poll(CONVERGE, "no duplicate containers", LOOK, || {
        let mut placed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (svc, n) in expected {
            let tasks = c.running_tasks(via, svc).ok()?;
            if tasks.len() != *n {
                last = format!("{svc}: {} running tasks, want {n}", tasks.len());
                return None;
            }
            for (id, node) in tasks {
                placed.entry(node).or_default().insert(id);
            }
        }
        for (i, name) in c.names.iter().enumerate() {
            if !c.node(i).daemon_running() {
                continue;
            }
            let running: BTreeSet<String> =
                c.node(i).running_containers().ok()?.into_iter().collect();
            let want = placed.get(name).cloned().unwrap_or_default();
            if running != want {
                last = format!("{name} runs {running:?}, the cluster placed {want:?} there");
                return None;
            }
        }
        Some(())
    });
    done.with_context(|| last.clone())
}
