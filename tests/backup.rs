//! Disaster recovery, end to end (issue #19): a backup taken while a client writes,
//! verified, refused when damaged, restored on a fresh node at another address with
//! its services held until `cluster resume`; a worker joins the new cluster with a new
//! token; scheduled backups keep the newest five.

#[allow(dead_code)]
#[path = "cluster/harness.rs"]
mod harness;

use anyhow::{ensure, Context, Result};
use harness::{TestCluster, CONVERGE};
use orc_testbed::orc_node::{NodeOptions, OrcNode};
use orc_testbed::poll_until;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const STACK: &str = r#"
[volumes.data]
driver = "local"

# Writes into its volume, then waits (its own retry loop) until the stack's DNS
# answers for api.
[services.web]
image = "demo/busybox:1"
command = ["sh", "-c", "echo run >> /data/runs; until nslookup api >/dev/null 2>&1; do sleep 0.2; done; echo dns-ok; exec sleep 3600"]
replicas = 1
stop = { signal = "SIGKILL", grace_period = "1s" }
volumes = [{ source = "data", target = "/data" }]

[services.api]
image = "demo/busybox:1"
command = ["sleep", "3600"]
replicas = 1
stop = { signal = "SIGKILL", grace_period = "1s" }

# Never placed: its replicas only count the client's writes.
[services.load]
image = "demo/busybox:1"
command = ["sleep", "3600"]
replicas = 1
constraints = ["node.labels.nowhere == true"]
"#;

const PASSPHRASE: &str = "family photos 2026\n";

fn fail_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_backup_taken_during_writes_restores_on_a_fresh_node_held_until_resumed() -> Result<()> {
    // m1 is the old cluster; "fresh" and "w2" are new boards in no cluster yet.
    let c = TestCluster::form(&["m1", "fresh", "w2"], 1, 0, None, true)?;
    // Detached: s_load never converges (nothing may run it).
    let stack = c.node(0).dir().join("s.toml");
    std::fs::write(&stack, STACK)?;
    c.node(0).ok(&[
        "stack",
        "deploy",
        &stack.to_string_lossy(),
        "--name",
        "s",
        "--detach",
        "--no-resolve",
    ])?;
    c.wait_service(0, "s_web", 1)?;
    let old_id = c.node(0).json(&["cluster", "info"])?["cluster_id"].clone();
    // A VIP setting (an address of the test LAN) comes back with the backup.
    let ip = c.host(0).ip.octets();
    let vip = format!("{}.{}.{}.250/24", ip[0], ip[1], ip[2]);
    c.node(0)
        .ok(&["vip", "set", &vip, "--interface", "eth0", "--vrid", "77"])?;
    // A secret and a config: in the backup sealed only, restored with the CA.
    let secret = orc_testbed::unique_id("backed-up-secret");
    let config = orc_testbed::unique_id("backed-up-config");
    for (kind, name, v) in [("secret", "bk_pw", &secret), ("config", "bk_conf", &config)] {
        let out = c.node(0).orc_input(&[kind, "create", name, "-"], v)?;
        ensure!(out.status.success(), "{kind} create: {}", fail_text(&out));
    }

    // A client scales s_load up by one per write, recording when each was acknowledged.
    let acks: Arc<Mutex<Vec<(u64, Instant, Instant)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acks, stop) = (acks.clone(), stop.clone());
        let sock = c.node(0).socket();
        std::thread::spawn(move || -> Result<()> {
            for n in 2u64..10_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let start = Instant::now();
                let out = std::process::Command::new(orc_testbed::orc_binary()?)
                    .arg("--socket")
                    .arg(&sock)
                    .args(["service", "scale", &format!("s_load={n}"), "--detach"])
                    .output()?;
                ensure!(out.status.success(), "scale {n}: {}", fail_text(&out));
                acks.lock()
                    .map_err(|_| anyhow::anyhow!("lock"))?
                    .push((n, start, Instant::now()));
            }
            Ok(())
        })
    };
    let acked = || acks.lock().map(|a| a.len()).unwrap_or(0);
    poll_until(CONVERGE, "5 writes before the backup", || {
        (acked() >= 5).then_some(())
    })?;
    let file = c.node(0).dir().join("cluster.orcbak");
    let file_s = file.to_string_lossy().to_string();
    let started = Instant::now();
    let out = c.node(0).orc_input(
        &["cluster", "backup", &file_s, "--with-ca", "--json"],
        PASSPHRASE,
    )?;
    let ended = Instant::now();
    ensure!(out.status.success(), "backup: {}", fail_text(&out));
    let bytes = std::fs::read(&file)?;
    for v in [&secret, &config] {
        ensure!(
            !bytes.windows(v.len()).any(|w| w == v.as_bytes()),
            "the backup holds a value in clear"
        );
    }
    let n_before = acked();
    poll_until(CONVERGE, "5 writes after the backup", || {
        (acked() >= n_before + 5).then_some(())
    })?;
    stop.store(true, Ordering::Relaxed);
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer panicked"))??;
    let acks = acks.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone();
    // Every write acknowledged before the backup started is in it; none begun after
    // it ended is.
    let lo = acks
        .iter()
        .filter(|a| a.2 < started)
        .map(|a| a.0)
        .max()
        .unwrap_or(1);
    let hi = acks
        .iter()
        .filter(|a| a.1 > ended)
        .map(|a| a.0)
        .min()
        .context("a write after")?;

    // verify: good file, right and wrong passphrase, damaged copies, a newer format.
    c.node(0).ok(&["cluster", "backup", "verify", &file_s])?;
    let out = c.node(0).orc_input(
        &["cluster", "backup", "verify", &file_s, "--passphrase-stdin"],
        PASSPHRASE,
    )?;
    ensure!(
        out.status.success(),
        "verify with passphrase: {}",
        fail_text(&out)
    );
    let out = c.node(0).orc_input(
        &["cluster", "backup", "verify", &file_s, "--passphrase-stdin"],
        "not the passphrase\n",
    )?;
    ensure!(
        !out.status.success() && fail_text(&out).contains("passphrase"),
        "a wrong passphrase was accepted: {}",
        fail_text(&out)
    );
    let bytes = std::fs::read(&file)?;
    let bad = |name: &str, data: Vec<u8>| -> Result<String> {
        let p = c.node(0).dir().join(name);
        std::fs::write(&p, data)?;
        let out = c
            .node(0)
            .orc(&["cluster", "backup", "verify", &p.to_string_lossy()])?;
        ensure!(!out.status.success(), "{name} was accepted");
        Ok(fail_text(&out))
    };
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    let e = bad("flipped.orcbak", flipped)?;
    ensure!(
        e.contains("checksum") || e.contains("damaged"),
        "flipped: {e}"
    );
    let e = bad("truncated.orcbak", bytes[..bytes.len() - 10].to_vec())?;
    ensure!(
        e.contains("damaged") || e.contains("truncated"),
        "truncated: {e}"
    );
    let mut newer = bytes.clone();
    newer[9] += 1;
    let e = bad("newer.orcbak", newer)?;
    ensure!(e.contains("newer"), "newer format: {e}");

    // A wrong passphrase changes nothing on the fresh node: it stays out of any cluster.
    let out = c.node(1).orc_input(
        &["cluster", "restore", &file_s, "--passphrase-stdin"],
        "not the passphrase\n",
    )?;
    ensure!(
        !out.status.success(),
        "restore with a wrong passphrase succeeded"
    );
    ensure!(
        c.node(1).json(&["cluster", "info"])?["cluster_id"].is_null(),
        "a refused restore left a cluster behind"
    );

    // Restore on the fresh node (its own address), CA opened.
    let addr = c.node(1).listen().to_string();
    let out = c.node(1).orc_input(
        &[
            "cluster",
            "restore",
            &file_s,
            "--advertise",
            &addr,
            "--passphrase-stdin",
        ],
        PASSPHRASE,
    )?;
    ensure!(out.status.success(), "restore: {}", fail_text(&out));
    let info = c.node(1).json(&["cluster", "info"])?;
    ensure!(
        info["cluster_id"] != old_id,
        "the restored cluster kept the old id"
    );
    let load = c.service_row(1, "s_load").context("s_load restored")?;
    let desired = load["desired"].as_u64().context("desired")?;
    ensure!(
        (lo..=hi).contains(&desired),
        "restored s_load={desired}: acknowledged before the backup {lo}, begun after it {hi}"
    );
    // Held: nothing starts (the web task would run on this node at once otherwise).
    let web = c.service_row(1, "s_web").context("s_web restored")?;
    ensure!(
        web["desired"] == 1 && web["running"] == 0,
        "held service: {web}"
    );
    let tasks = c.node(1).json(&["service", "ps", "s_web"])?;
    ensure!(
        tasks.as_array().is_some_and(|t| t.is_empty()),
        "a held service has tasks: {tasks}"
    );
    ensure!(
        c.node(1).json(&["cluster", "info"])?["held"] == true,
        "cluster info does not say held"
    );
    let status = c.node(1).json(&["vip", "status"])?;
    ensure!(
        status["setting"]["address"] == vip.as_str(),
        "VIP setting after restore: {status}"
    );
    let vols = c.node(1).json(&["volume", "ls"])?;
    ensure!(
        vols.to_string().contains("\"s_data\""),
        "volumes after restore: {vols}"
    );
    // Restored with the CA: the sealed values came back and still open.
    let shown: serde_json::Value =
        serde_json::from_str(&c.node(1).ok(&["config", "inspect", "bk_conf", "--value"])?)?;
    ensure!(
        shown["value"] == config.as_str(),
        "restored config: {shown}"
    );
    let secrets = c.node(1).json(&["secret", "ls"])?;
    ensure!(secrets[0]["name"] == "bk_pw", "restored secrets: {secrets}");
    c.node(1).ok(&["cluster", "resume"])?;
    c.wait_service(1, "s_web", 1)?;
    c.wait_service(1, "s_api", 1)?;
    // The restored stack works: its network's DNS answers, its local volume is made
    // anew on the node the service now runs on (a local volume's data stayed on the
    // old board; a Ceph volume's stays in Ceph).
    poll_until(CONVERGE, "s_web to resolve api after the restore", || {
        c.node(1)
            .ok(&["service", "logs", "s_web"])
            .ok()
            .filter(|l| l.contains("dns-ok"))
    })?;
    let runs = c.node(1).data_dir().join("volumes/s_data/data/runs");
    let text = std::fs::read_to_string(&runs).with_context(|| runs.display().to_string())?;
    ensure!(text.trim() == "run", "{}: {text:?}", runs.display());
    // The old manager's certificate (same CA: restored with it) is refused by the
    // new cluster: its node was revoked.
    let answer = grpc_probe(&c, 0, &c.host(1).ip.to_string())?;
    ensure!(
        answer.contains("grpc-status: 7")
            && answer.contains("not%20a%20manager%20of%20this%20cluster"),
        "the old node's certificate was not refused: {answer}"
    );

    // A new board joins with a new token; the old manager's node is not a member.
    let token = c
        .node(1)
        .ok(&["cluster", "join-token", "worker", "-q"])?
        .trim()
        .to_string();
    c.try_join(2, &token, 1)?.map_err(anyhow::Error::msg)?;
    c.wait_ready(1, 2)?;
    // A member's certificate passes the same gate (the empty request then fails).
    let member = grpc_probe(&c, 2, &c.host(1).ip.to_string())?;
    ensure!(
        !member.contains("grpc-status: 7"),
        "a member's certificate was refused: {member}"
    );
    let nodes = c.node(1).json(&["node", "ls"])?;
    ensure!(
        !nodes.to_string().contains("\"m1\""),
        "the old manager is still in the node table: {nodes}"
    );
    Ok(())
}

#[test]
fn scheduled_backups_keep_the_newest_five_and_the_oldest_restores() -> Result<()> {
    let opts = NodeOptions {
        extra_args: vec![
            "--backup-interval".into(),
            "300ms".into(),
            "--backup-keep".into(),
            "5".into(),
        ],
        ..NodeOptions::default()
    };
    let n = OrcNode::start_with(opts)?;
    let advertise = n.listen().to_string();
    n.ok(&["cluster", "init", "--advertise", &advertise])?;
    let dir = n.data_dir().join("backups");
    let count = || {
        std::fs::read_dir(&dir)
            .map(|r| {
                r.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".orcbak"))
                    .count()
            })
            .unwrap_or(0)
    };
    // More than five were written (the names carry their time), five are kept.
    let first: Vec<String> = poll_until(CONVERGE, "5 scheduled backups", || {
        (count() == 5).then(|| names(&dir))
    })?;
    poll_until(CONVERGE, "the oldest rotated out", || {
        let now = names(&dir);
        (now.len() == 5 && !now.contains(&first[0])).then_some(())
    })?;
    ensure!(count() == 5, "{} backups kept", count());
    let ls = n.json(&["cluster", "backup", "ls"])?;
    ensure!(
        ls.as_array().is_some_and(|a| a.len() == 5),
        "backup ls: {ls}"
    );
    // The oldest one kept restores on a fresh node.
    let oldest = dir.join(&names(&dir)[0]);
    let fresh = OrcNode::start()?;
    let addr = fresh.listen().to_string();
    fresh.ok(&[
        "cluster",
        "restore",
        &oldest.to_string_lossy(),
        "--advertise",
        &addr,
    ])?;
    let info = fresh.json(&["cluster", "info"])?;
    ensure!(info["is_manager"] == true, "restored node: {info}");
    Ok(())
}

/// A gRPC call to `target`'s cluster port from node `from`'s namespace with its node
/// certificate (curl over HTTP/2); the response headers, where gRPC puts its status.
fn grpc_probe(c: &TestCluster, from: usize, target: &str) -> Result<String> {
    let pki = c.node(from).data_dir().join("pki");
    let out = orc_testbed::netns::nsenter(&c.host(from).netns, "curl")
        .args(["-sk", "-i", "--http2", "--max-time", "5"])
        .arg("--cert")
        .arg(pki.join("node.pem"))
        .arg("--key")
        .arg(pki.join("node-key.pem"))
        .args([
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            "--data-binary",
            "",
            &format!("https://{target}:4747/orc.v1.Cluster/Forward"),
        ])
        .output()?;
    Ok(fail_text(&out))
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".orcbak"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_lone_surviving_manager_forces_a_new_cluster_and_keeps_every_acknowledged_write() -> Result<()>
{
    // m1..m3 managers; m4 and m5 new boards that join afterwards.
    let mut c = TestCluster::form(&["m1", "m2", "m3", "m4", "m5"], 3, 0, None, true)?;
    let stack = |name: &str| {
        format!(
            r#"
[services.{name}]
image = "demo/busybox:1"
command = ["sleep", "3600"]
replicas = 1
stop = {{ signal = "SIGKILL", grace_period = "1s" }}
"#
        )
    };
    c.deploy(0, "a", &stack("one"))?;
    c.node(0).ok(&["service", "scale", "a_one=2"])?;
    // While 3 of 3 (and then 2 of 3) are up, it is refused.
    let out = c
        .node(2)
        .orc(&["cluster", "recover", "--force-new-cluster"])?;
    ensure!(
        !out.status.success() && fail_text(&out).contains("quorum"),
        "recover with a quorum up: {}",
        fail_text(&out)
    );
    c.node_mut(0).kill_daemon()?;
    c.lan.partition(c.host(0))?;
    let out = c
        .node(2)
        .orc(&["cluster", "recover", "--force-new-cluster"])?;
    ensure!(
        !out.status.success() && fail_text(&out).contains("quorum"),
        "recover with 2 of 3 up: {}",
        fail_text(&out)
    );
    // The last acknowledged write before the loss: on m2 (through whoever leads).
    c.node(1).ok(&["service", "scale", "a_one=3", "--detach"])?;
    c.node_mut(1).kill_daemon()?;
    c.lan.partition(c.host(1))?;
    let out = c
        .node(2)
        .orc(&["cluster", "recover", "--force-new-cluster"])?;
    ensure!(out.status.success(), "recover: {}", fail_text(&out));
    let text = fail_text(&out);
    ensure!(
        text.contains("m1") && text.contains("m2"),
        "the lost managers were not named: {text}"
    );
    // Every acknowledged write is there, and the cluster takes new ones.
    c.wait_service(2, "a_one", 3)?;
    c.deploy(2, "b", &stack("two"))?;
    let info = c.node(2).json(&["cluster", "info"])?;
    ensure!(
        info["voters"].as_array().map(|v| v.len()) == Some(1),
        "voters after recovery: {info}"
    );
    // Two new managers join.
    let token = c
        .node(2)
        .ok(&["cluster", "join-token", "manager", "-q"])?
        .trim()
        .to_string();
    for i in [3, 4] {
        c.try_join(i, &token, 2)?.map_err(anyhow::Error::msg)?;
    }
    poll_until(CONVERGE, "3 voters", || {
        let info = c.node(2).json(&["cluster", "info"]).ok()?;
        (info["voters"].as_array()?.len() == 3).then_some(())
    })?;
    c.wait_ready(2, 3)?;
    c.node(3).ok(&["service", "scale", "b_two=2"])?;
    Ok(())
}
