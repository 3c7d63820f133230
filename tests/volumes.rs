//! Volumes against a real Ceph cluster. Starting Ceph costs ~20 s and ~600 MB, so this
//! binary starts one, on its own host of a simulated LAN, and one test runs every
//! scenario in sequence on a 4-node orc cluster (3 managers, 1 worker) that reaches it.

#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;

use anyhow::{ensure, Context, Result};
use harness::TestCluster;
use orc_testbed::ceph::skip_without_ceph;
use orc_testbed::Ceph;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(90);
const LOOK: Duration = Duration::from_millis(200);

const STATEFUL: &str = r#"
[volumes.db]
driver = "rbd"
size = "64M"

[volumes.files]
driver = "cephfs"
size = "64M"

[services.app]
image = "demo/busybox:1"
command = ["sh", "-c", "echo run >> /db/runs && echo run >> /files/runs && sync && exec sleep 3600"]
stop = { signal = "SIGKILL", grace_period = "1s" }
restart = { delay = "100ms" }
volumes = [{ source = "db", target = "/db" }, { source = "files", target = "/files" }]
# The manager scenarios: the worker has its own (ON_WORKER), and the stack is removed
# through the node that failed over, which must be able to answer the CLI.
constraints = ["node.role == manager"]
"#;

/// Runs on the worker only: while the worker is down (or fenced) it stays pending.
const ON_WORKER: &str = r#"
[volumes.db]
driver = "rbd"
size = "64M"

[volumes.files]
driver = "cephfs"
size = "64M"

[services.app]
image = "demo/busybox:1"
command = ["sh", "-c", "echo run >> /db/runs && echo run >> /files/runs && sync && exec sleep 3600"]
stop = { signal = "SIGKILL", grace_period = "1s" }
restart = { delay = "100ms" }
constraints = ["node.role == worker"]
volumes = [{ source = "db", target = "/db" }, { source = "files", target = "/files" }]
"#;

const PINNED: &str = r#"
[volumes.cache]
driver = "local"

[services.app]
image = "demo/busybox:1"
command = ["sh", "-c", "echo run >> /cache/runs && exec sleep 3600"]
stop = { signal = "SIGKILL", grace_period = "1s" }
restart = { delay = "100ms" }
volumes = [{ source = "cache", target = "/cache" }]
"#;

struct Env {
    c: TestCluster,
    names: Vec<&'static str>,
}

impl Env {
    fn index(&self, hostname: &str) -> Result<usize> {
        self.names
            .iter()
            .position(|n| *n == hostname)
            .with_context(|| format!("no node {hostname}"))
    }

    fn volumes_dir(&self, i: usize) -> PathBuf {
        self.c.node(i).data_dir().join("volumes")
    }

    /// The lines of `runs` in volume `vol` as mounted on node `i`.
    fn runs(&self, i: usize, vol: &str) -> usize {
        std::fs::read_to_string(self.volumes_dir(i).join(vol).join("mnt/runs"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    /// The node (index) running `svc`'s one task, as `via` sees it.
    fn running_on(&self, via: usize, svc: &str) -> Option<usize> {
        let tasks = self.c.running_tasks(via, svc).ok()?;
        let (_, node) = tasks.first()?;
        self.index(node).ok()
    }

    fn volume(&self, via: usize, name: &str) -> Result<Value> {
        let out = self.c.node(via).ok(&["volume", "inspect", name])?;
        Ok(serde_json::from_str(&out)?)
    }

    fn node_id(&self, via: usize, i: usize) -> Result<String> {
        let nodes = self.c.nodes(via)?;
        nodes
            .iter()
            .find(|n| n["hostname"] == self.names[i])
            .and_then(|n| n["id"].as_str().map(str::to_string))
            .context("node id")
    }
}

fn mounted_under(dir: &std::path::Path) -> bool {
    let prefix = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|p| p.starts_with(&prefix))
}

#[test]
fn ceph_volumes() {
    if skip_without_ceph("ceph_volumes") {
        return;
    }
    let names = vec!["n1", "n2", "n3", "w1"];
    let c = TestCluster::form(&names, 3, 1, Some(250), true).expect("form the cluster");
    let ceph_host = c.lan.add_host().expect("a host for Ceph");
    // Declared after the cluster: dropped first would kill Ceph under live mounts, so
    // the cluster (nodes, mounts) goes first — see the end of this function.
    let ceph = Ceph::start_on(&ceph_host).expect("start Ceph");
    let mut env = Env { c, names };
    let result = scenarios(&mut env, &ceph);
    if let Err(e) = &result {
        eprintln!("{}", ceph.log_tails(15));
        panic!("{e:?}");
    }
    drop(env);
    drop(ceph);
}

fn scenarios(env: &mut Env, ceph: &Ceph) -> Result<()> {
    let n = env.c.node(0);
    let conf = ceph.conf();
    let keyring = ceph.admin_keyring();
    let out = n.ok(&[
        "cluster",
        "ceph",
        "set",
        "--conf",
        conf.to_str().context("path")?,
        "--keyring",
        keyring.to_str().context("path")?,
        "--user",
        "admin",
    ])?;
    ensure!(out.contains("client.admin"), "{out}");
    data_survives_redeploy(env, ceph)?;
    let fenced = failover_fences_the_dead_node(env, ceph)?;
    local_volume_pins_its_service(env)?;
    a_fenced_worker_releases_and_attaches_again(env, ceph)?;
    // The fenced node was unfenced: it manages Ceph again.
    let via = fenced;
    // Remove the stack with its volumes and their data.
    env.c
        .node(via)
        .ok(&["stack", "rm", "st", "--volumes", "--timeout", "60"])?;
    let ls = env.c.node(via).json(&["volume", "ls"])?;
    ensure!(
        ls.as_array().is_some_and(Vec::is_empty),
        "volumes left: {ls}"
    );
    ensure!(
        !ceph.rbd(&["ls", "rbd"])?.contains("st_db"),
        "the image is deleted"
    );
    Ok(())
}

/// A service writes to an rbd and a cephfs volume; the stack is removed (the volumes
/// detach, nothing stays mounted) and redeployed, and the data is there.
fn data_survives_redeploy(env: &Env, ceph: &Ceph) -> Result<()> {
    for round in 1..=2 {
        env.c.deploy(0, "st", STATEFUL)?;
        env.c.wait_service(0, "st_app", 1)?;
        let on = env.running_on(0, "st_app").context("st_app runs")?;
        env.c
            .poll(WAIT, "the service to write to both volumes", LOOK, || {
                (env.runs(on, "st_db") == round && env.runs(on, "st_files") == round).then_some(())
            })?;
        let ls = env.c.node(0).json(&["volume", "ls"])?;
        let db = ls
            .as_array()
            .and_then(|a| a.iter().find(|r| r["name"] == "st_db"))
            .with_context(|| format!("st_db in {ls}"))?;
        ensure!(
            db["driver"] == "rbd" && db["node"] == env.node_id(0, on)?,
            "{db}"
        );
        env.c
            .node(0)
            .ok(&["stack", "rm", "st", "--timeout", "60"])?;
        env.c.poll(WAIT, "the volumes to be unmounted", LOOK, || {
            (!mounted_under(&env.volumes_dir(on))).then_some(())
        })?;
        env.c
            .poll(WAIT, "the rbd claim to be released", LOOK, || {
                env.volume(0, "st_db").ok()?["attachment"]
                    .is_null()
                    .then_some(())
            })
            .with_context(|| {
                let warn: Vec<String> = (0..3)
                    .flat_map(|i| {
                        env.c
                            .node(i)
                            .daemon_log()
                            .lines()
                            .filter(|l| l.contains("WARN"))
                            .map(str::to_string)
                            .collect::<Vec<_>>()
                    })
                    .collect();
                format!(
                    "{:?}\n{}\n{}",
                    env.volume(0, "st_db"),
                    env.c.describe(0, "st_app"),
                    warn.join("\n")
                )
            })?;
    }
    ensure!(
        ceph.rbd(&["ls", "rbd"])?.contains("st_db"),
        "stack rm keeps the image"
    );
    Ok(())
}

/// The node running the stateful service loses its daemon (its container and Ceph
/// clients keep running, as on a hung board): the leader fences it at Ceph, then the
/// service runs on another node with its data, and the dead node's writes fail.
fn failover_fences_the_dead_node(env: &mut Env, ceph: &Ceph) -> Result<usize> {
    env.c.deploy(0, "st", STATEFUL)?;
    env.c.wait_service(0, "st_app", 1)?;
    let x = env.running_on(0, "st_app").context("st_app runs")?;
    env.c.poll(WAIT, "the third run", LOOK, || {
        (env.runs(x, "st_db") == 3).then_some(())
    })?;
    let via = (x + 1) % 3;
    let x_id = env.node_id(via, x)?;
    kill_daemon(env, x)?;
    let t0 = Instant::now();
    env.c.wait_status(via, env.names[x], "down")?;
    let detected = t0.elapsed();
    env.c.poll(WAIT, "the dead node to be fenced", LOOK, || {
        let v = env.volume(via, "st_db").ok()?;
        v["fenced"]
            .as_array()?
            .iter()
            .any(|n| n.as_u64().map(|id| format!("{id:016x}")) == Some(x_id.clone()))
            .then_some(())
    })?;
    let fenced = t0.elapsed();
    let y = env
        .c
        .poll(WAIT, "st_app to run on another node", LOOK, || {
            env.running_on(via, "st_app").filter(|y| *y != x)
        })
        .with_context(|| {
            format!(
                "rbd status: {:?}\nrbd locks: {:?}\nblocklist: {:?}",
                ceph.rbd(&["status", "rbd/st_db"]),
                ceph.rbd(&["lock", "ls", "rbd/st_db"]),
                ceph.ceph(&["osd", "blocklist", "ls"])
            )
        })?;
    let running = t0.elapsed();
    env.c
        .poll(WAIT, "the new task to see the old data", LOOK, || {
            (env.runs(y, "st_db") == 4 && env.runs(y, "st_files") == 4).then_some(())
        })?;
    let attach_ms = env
        .c
        .node(y)
        .daemon_log()
        .lines()
        .rfind(|l| l.contains("attached volume") && l.contains("st_db"))
        .and_then(|l| l.rsplit('=').next())
        .map(|r| {
            r.trim_start_matches("\u{1b}[0m")
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .unwrap_or_default();
    println!(
        "MEASURE stateful failover (daemon SIGKILLed, heartbeat 250 ms): down after {} ms, fenced after {} ms, running elsewhere after {} ms (of which rbd attach {attach_ms} ms)",
        detected.as_millis(),
        fenced.as_millis(),
        running.as_millis()
    );
    // The dead node is fenced: a Ceph client there can no longer write the image.
    let data = env.c.node(x).data_dir();
    let out = env
        .c
        .host(x)
        .command("timeout")
        .args(["-s", "KILL", "30", "rbd", "-c"])
        .arg(data.join("ceph/ceph.conf"))
        .args(["--id", "admin", "--keyring"])
        .arg(data.join("ceph/keyring"))
        .args([
            "bench",
            "--io-type",
            "write",
            "--io-size",
            "4K",
            "--io-total",
            "4K",
            "rbd/st_db",
        ])
        .output()?;
    ensure!(
        !out.status.success(),
        "the fenced node could still write the image: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    println!(
        "fenced write on the dead node: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
    );

    // It comes back: its stale container is stopped and its mounts go.
    restart_daemon(env, x)?;
    env.c.wait_status(via, env.names[x], "ready")?;
    env.c.poll(WAIT, "the stale container to stop", LOOK, || {
        env.c
            .node(x)
            .running_containers()
            .ok()?
            .is_empty()
            .then_some(())
    })?;
    env.c
        .poll(WAIT, "the returning node to unmount", LOOK, || {
            (!mounted_under(&env.volumes_dir(x))).then_some(())
        })?;
    ensure!(
        env.running_on(via, "st_app") == Some(y),
        "the service stayed on {}",
        env.names[y]
    );
    // Clean now: it reported so, and the leader lifted its blocklist entry.
    wait_unfenced(env, ceph, via, x)?;
    Ok(x)
}

/// Waits until node `i` is in no volume's `fenced` set and its address is off Ceph's
/// blocklist; the time it took.
fn wait_unfenced(env: &Env, ceph: &Ceph, via: usize, i: usize) -> Result<Duration> {
    let t0 = Instant::now();
    let id = env.node_id(via, i)?;
    let entry = format!("{}:0/0", env.c.host(i).ip);
    env.c
        .poll(WAIT, "the returned node to be unfenced", LOOK, || {
            let ls = env.c.node(via).json(&["volume", "ls"]).ok()?;
            let fenced = ls.as_array()?.iter().any(|v| {
                v["fenced"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|n| n.as_str() == Some(id.as_str())))
            });
            let listed = ceph
                .ceph(&["osd", "blocklist", "ls"])
                .ok()?
                .contains(&entry);
            (!fenced && !listed).then_some(())
        })
        .with_context(|| {
            format!(
                "{:?}\nblocklist: {:?}",
                env.c.node(via).json(&["volume", "ls"]),
                ceph.ceph(&["osd", "blocklist", "ls"])
            )
        })?;
    Ok(t0.elapsed())
}

/// The worker receives the Ceph setting and the volume records over its session: it
/// runs a service on an rbd and a cephfs volume. Its daemon dies: it is fenced, and
/// the service (worker-only) waits. It comes back: it releases the volumes, the
/// leader unfences it, and the service runs there again with its data.
fn a_fenced_worker_releases_and_attaches_again(env: &mut Env, ceph: &Ceph) -> Result<()> {
    let w = env.index("w1")?;
    env.c.deploy(0, "wk", ON_WORKER)?;
    env.c.wait_service(0, "wk_app", 1)?;
    ensure!(
        env.running_on(0, "wk_app") == Some(w),
        "wk_app on the worker"
    );
    env.c
        .poll(WAIT, "the worker to write both volumes", LOOK, || {
            (env.runs(w, "wk_db") == 1 && env.runs(w, "wk_files") == 1).then_some(())
        })?;
    let keyring = env.c.node(w).data_dir().join("ceph/keyring");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&keyring)?.permissions());
    ensure!(
        mode & 0o077 == 0,
        "the worker's keyring is private: {mode:o}"
    );
    ensure!(
        !env.c.node(w).daemon_log().contains("key ="),
        "the keyring is never logged"
    );
    kill_daemon(env, w)?;
    env.c.wait_status(0, "w1", "down")?;
    let w_id = env.node_id(0, w)?;
    env.c.poll(WAIT, "the worker to be fenced", LOOK, || {
        let v = env.volume(0, "wk_db").ok()?;
        v["fenced"]
            .as_array()?
            .iter()
            .any(|n| n.as_u64().map(|id| format!("{id:016x}")) == Some(w_id.clone()))
            .then_some(())
    })?;
    let t0 = Instant::now();
    restart_daemon(env, w)?;
    let unfenced = wait_unfenced(env, ceph, 0, w)?;
    env.c
        .poll(WAIT, "wk_app to run on the worker again", LOOK, || {
            (env.running_on(0, "wk_app") == Some(w)).then_some(())
        })?;
    env.c
        .poll(WAIT, "the worker to see its data again", LOOK, || {
            (env.runs(w, "wk_db") == 2 && env.runs(w, "wk_files") == 2).then_some(())
        })?;
    println!(
        "MEASURE fenced worker back: unfenced {} ms after its restart, running with its data after {} ms",
        unfenced.as_millis(),
        t0.elapsed().as_millis()
    );
    // Fenced again, and then its volumes are deleted while it is down: its blocklist
    // entry protects nothing any more and is lifted at once.
    kill_daemon(env, w)?;
    env.c.wait_status(0, "w1", "down")?;
    env.c
        .poll(WAIT, "the worker to be fenced again", LOOK, || {
            let v = env.volume(0, "wk_db").ok()?;
            (!v["fenced"].as_array()?.is_empty()).then_some(())
        })?;
    let entry = format!("{}:0/0", env.c.host(w).ip);
    ensure!(
        ceph.ceph(&["osd", "blocklist", "ls"])?.contains(&entry),
        "fenced at Ceph"
    );
    env.c
        .node(0)
        .ok(&["stack", "rm", "wk", "--volumes", "--timeout", "60"])?;
    let blocklist = ceph.ceph(&["osd", "blocklist", "ls"])?;
    ensure!(
        !blocklist.contains(&entry),
        "still blocklisted after its volumes were deleted: {blocklist}"
    );
    restart_daemon(env, w)?;
    env.c.wait_status(0, "w1", "ready")?;
    Ok(())
}

/// A local volume pins its service to its node; while that node is down the service
/// stays pending and says why; it comes back there.
fn local_volume_pins_its_service(env: &mut Env) -> Result<()> {
    env.c.deploy(0, "lo", PINNED)?;
    env.c.wait_service(0, "lo_app", 1)?;
    let home = env.running_on(0, "lo_app").context("lo_app runs")?;
    let via = (home + 1) % 3;
    kill_daemon(env, home)?;
    env.c.wait_status(via, env.names[home], "down")?;
    let reason = env.c.poll(WAIT, "lo_app pending with a reason", LOOK, || {
        let ps = env.c.node(via).json(&["service", "ps", "lo_app"]).ok()?;
        ps.as_array()?
            .iter()
            .find(|t| t["state"] == "pending")
            .and_then(|t| t["message"].as_str().map(str::to_string))
            .filter(|m| m.contains("cannot attach its volume"))
    })?;
    println!("pending: {reason}");
    ensure!(
        env.running_on(via, "lo_app").is_none(),
        "it must not run elsewhere"
    );
    restart_daemon(env, home)?;
    env.c.poll(WAIT, "lo_app back on its node", LOOK, || {
        (env.running_on(via, "lo_app") == Some(home)).then_some(())
    })?;
    env.c.poll(WAIT, "the local data kept", LOOK, || {
        let runs =
            std::fs::read_to_string(env.volumes_dir(home).join("lo_cache/data/runs")).ok()?;
        (runs.lines().count() >= 2).then_some(())
    })?;
    env.c
        .node(via)
        .ok(&["stack", "rm", "lo", "--volumes", "--timeout", "60"])?;
    Ok(())
}

fn kill_daemon(env: &mut Env, i: usize) -> Result<()> {
    env.c.node_mut(i).kill_daemon()
}

fn restart_daemon(env: &mut Env, i: usize) -> Result<()> {
    env.c.node_mut(i).restart_daemon()
}
