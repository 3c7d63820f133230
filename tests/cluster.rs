//! A real cluster, end to end: every node is its own network namespace on a simulated
//! LAN (a veth into a bridge), with its own containerd and its own `orc daemon`.
//! Nodes are killed with SIGKILL, unplugged and partitioned; every wait polls with a
//! deadline.

#[path = "cluster/harness.rs"]
mod harness;

use anyhow::{ensure, Context, Result};
use harness::{assert_no_duplicates, timed_orc, TestCluster, CONVERGE};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// A service of `replicas` sleepers that stop at once.
fn sleepers(svc: &str, replicas: u32, extra: &str) -> String {
    format!(
        r#"
[services.{svc}]
image = "demo/busybox:1"
command = ["sleep", "3600"]
replicas = {replicas}
stop = {{ signal = "SIGKILL", grace_period = "1s" }}
{extra}
"#
    )
}

#[test]
fn joins_need_the_right_token_and_the_clusters_ca() -> Result<()> {
    // Cluster X (one manager), cluster Y (one manager), and a node that wants to join X.
    let c = TestCluster::form(&["x", "y", "j"], 1, 0, Some(250), false)?;
    let (x, y, j) = (0, 1, 2);
    c.init_other(y)?;
    let token = c
        .node(x)
        .ok(&["cluster", "join-token", "worker", "-q"])?
        .trim()
        .to_string();
    let fields: Vec<&str> = token.split('-').collect();
    ensure!(
        fields.len() == 4 && fields[2].len() == 64 && fields[3].len() == 64,
        "token shape: {token}"
    );
    let flip = |s: &str| -> String {
        s.chars()
            .map(|ch| if ch == '0' { '1' } else { '0' })
            .collect()
    };

    // A wrong secret: the manager refuses it.
    let bad_secret = format!(
        "{}-{}-{}-{}",
        fields[0],
        fields[1],
        fields[2],
        flip(fields[3])
    );
    let err = c
        .try_join(j, &bad_secret, x)?
        .expect_err("a wrong secret must be refused");
    ensure!(
        err.contains("join refused") && err.contains("not valid"),
        "unclear error: {err}"
    );
    // A wrong CA fingerprint: the joiner refuses the manager.
    let bad_ca = format!(
        "{}-{}-{}-{}",
        fields[0],
        fields[1],
        flip(fields[2]),
        fields[3]
    );
    let err = c
        .try_join(j, &bad_ca, x)?
        .expect_err("a wrong CA fingerprint must be refused");
    ensure!(
        err.to_lowercase().contains("fingerprint"),
        "unclear error: {err}"
    );
    // Y's manager token carries Y's CA: refused by X as well.
    let y_token = c
        .node(y)
        .ok(&["cluster", "join-token", "worker", "-q"])?
        .trim()
        .to_string();
    let err = c
        .try_join(j, &y_token, x)?
        .expect_err("another cluster's token must be refused");
    ensure!(
        err.to_lowercase().contains("fingerprint"),
        "unclear error: {err}"
    );
    let hosts: Vec<String> = c
        .nodes(x)?
        .iter()
        .map(|n| n["hostname"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        hosts,
        vec!["x".to_string()],
        "refused joins left no node behind"
    );

    // The right token works (and the refusals left nothing that would stop it).
    c.try_join(j, &token, x)?.map_err(anyhow::Error::msg)?;
    c.wait_ready(x, 2)?;

    // j now holds a certificate from X's CA. Presented to Y's cluster port it is
    // refused: Y drops the connection when it sees it, before any HTTP exchange; Y's own node certificate is accepted (and so is
    // j's at X): the refusal is about the CA, not about the client.
    let forward = |from: usize, to: usize, client: usize, trust: usize| {
        c.grpc_call(from, to, client, trust, "Forward")
    };
    let (ok, out) = forward(j, y, j, y)?;
    ensure!(
        !ok && !out.contains("HTTP/2"),
        "Y answered a node holding X's certificate:\n{out}"
    );
    let (ok, out) = forward(y, y, y, y)?;
    ensure!(
        ok && out.contains("grpc-status"),
        "Y refused its own node's certificate:\n{out}"
    );
    let (ok, out) = forward(j, x, j, x)?;
    ensure!(
        ok && out.contains("grpc-status"),
        "X refused its member's certificate:\n{out}"
    );
    assert_eq!(c.nodes(y)?.len(), 1, "Y's node list is untouched");
    Ok(())
}

#[test]
fn a_write_issued_as_the_leader_dies_lands_on_its_successor() -> Result<()> {
    // Issue #19: a write on a follower right after the leader is lost (SIGKILL and its
    // link cut) waits for the new leader and lands there, on the first try.
    let mut c = TestCluster::form(&["m1", "m2", "m3"], 3, 0, None, true)?;
    c.deploy(0, "s", &sleepers("app", 1, ""))?;
    let old = c.leader_index(0)?;
    let other = (0..3).find(|i| *i != old).context("a follower")?;
    c.node_mut(old).kill_daemon()?;
    c.lan.partition(c.host(old))?;
    let lost = Instant::now();
    let out = timed_orc(
        c.node(other),
        20,
        &["service", "scale", "s_app=2", "--detach"],
    )?;
    let landed = lost.elapsed();
    ensure!(
        out.status.success(),
        "the first write after the leader's loss failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "MEASURE leader SIGKILLed + cut -> first write on a follower acknowledged {} ms",
        landed.as_millis()
    );
    let new = c.wait_new_leader(other, old)?;
    ensure!(new != old, "the dead manager still leads");
    c.wait_service(other, "s_app", 2)?;
    c.lan.heal(c.host(old))?;
    Ok(())
}

#[test]
fn managers_survive_leader_loss_and_a_partition() -> Result<()> {
    let mut c = TestCluster::form(&["m1", "m2", "m3", "w1"], 3, 1, Some(250), true)?;
    c.deploy(0, "before", &sleepers("app", 2, ""))?;

    // SIGKILL the leader: another manager leads, and the next write commits.
    let old = c.leader_index(0)?;
    let other = (0..3).find(|i| *i != old).context("a second manager")?;
    c.node_mut(old).kill_daemon()?;
    let killed = Instant::now();
    let new = c.wait_new_leader(other, old)?;
    let elected = killed.elapsed();
    c.poll(
        CONVERGE,
        "a write after the leader died",
        Duration::from_millis(50),
        || {
            c.node(other)
                .ok(&["service", "scale", "before_app=3", "--detach"])
                .ok()
                .map(|_| ())
        },
    )?;
    let committed = killed.elapsed();
    println!(
        "MEASURE leader SIGKILLed -> new leader {} ms, next committed write {} ms",
        elected.as_millis(),
        committed.as_millis()
    );
    // Deploys keep working, through either surviving manager; nothing acknowledged is lost.
    c.deploy(new, "after", &sleepers("web", 1, ""))?;
    c.wait_service(other, "before_app", 3)?;
    c.wait_service(other, "after_web", 1)?;

    // The old leader comes back as a follower and catches up.
    c.node_mut(old).restart_daemon()?;
    c.wait_ready(other, 4)?;
    c.wait_service(old, "after_web", 1)?;
    c.wait_service(old, "before_app", 3)?;
    assert_no_duplicates(&c, other, &[("before_app", 3), ("after_web", 1)])?;

    // Partition the current leader from the other managers (and the worker).
    let p = c.leader_index(other)?;
    let majority: Vec<usize> = (0..3).filter(|i| *i != p).collect();
    c.lan.partition(c.host(p))?;
    let m = majority[0];
    c.wait_new_leader(m, p)?;
    // The minority accepts no write: it fails or never returns.
    let out = timed_orc(
        c.node(p),
        6,
        &["service", "scale", "after_web=2", "--detach"],
    )?;
    ensure!(
        !out.status.success(),
        "the minority acknowledged a write: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The majority carries on.
    c.deploy(majority[1], "during", &sleepers("job", 2, ""))?;
    c.node(m).ok(&["service", "scale", "after_web=3"])?;
    c.wait_service(m, "after_web", 3)?;

    // Heal: the old leader catches up, and the minority's write never happened.
    c.lan.heal(c.host(p))?;
    c.wait_ready(m, 4)?;
    c.wait_service(p, "during_job", 2)?;
    let desired = |via: usize| {
        c.service_row(via, "after_web")
            .and_then(|r| r["desired"].as_u64())
    };
    c.poll(CONVERGE, "after_web to stay at the majority's 3 replicas", Duration::from_millis(200), || {
        match (desired(p), desired(m)) {
            (Some(2), _) | (_, Some(2)) => Some(Err(anyhow::anyhow!(
                "the write the minority never acknowledged (after_web=2) was applied after the heal, \
                 over the majority's later after_web=3"
            ))),
            (Some(3), Some(3)) => Some(Ok(())),
            _ => None,
        }
    })??;
    c.wait_service(p, "after_web", 3)?;
    assert_no_duplicates(
        &c,
        m,
        &[("before_app", 3), ("after_web", 3), ("during_job", 2)],
    )?;
    Ok(())
}

/// Waits until `svc` runs `n` tasks on nodes other than `gone`; returns how long it took.
fn wait_moved(
    c: &TestCluster,
    via: usize,
    svc: &str,
    n: usize,
    gone: &str,
    since: Instant,
) -> Result<Duration> {
    c.poll(
        CONVERGE,
        &format!("{svc} to run {n} tasks away from {gone}"),
        Duration::from_millis(50),
        || {
            let by = c.running_by_node(via, svc).ok()?;
            (by.values().sum::<usize>() == n && !by.contains_key(gone)).then_some(())
        },
    )?;
    Ok(since.elapsed())
}

#[test]
fn a_lost_worker_s_tasks_move_and_no_duplicate_remains() -> Result<()> {
    // Default heartbeat (500 ms): the figures printed are the defaults'.
    let mut c = TestCluster::form(&["m1", "m2", "m3", "w1"], 3, 1, None, true)?;
    let w = 3;
    c.deploy(0, "s", &sleepers("app", 8, ""))?;
    let by = c.running_by_node(0, "s_app")?;
    ensure!(
        by.get("w1").copied().unwrap_or(0) >= 1,
        "the worker got no task: {by:?}"
    );

    // SIGKILL the worker's daemon: containerd and its containers keep running.
    c.node_mut(w).kill_daemon()?;
    let t0 = Instant::now();
    let took = wait_moved(&c, 0, "s_app", 8, "w1", t0)?;
    println!(
        "MEASURE node lost (daemon SIGKILLed, heartbeat 500 ms) -> tasks running elsewhere: {} ms",
        took.as_millis()
    );
    c.wait_status(0, "w1", "down")?;
    ensure!(
        !c.node(w).running_containers()?.is_empty(),
        "the stale containers should still run on w1"
    );
    // It comes back: ready again, and what was moved away no longer runs there.
    c.node_mut(w).restart_daemon()?;
    c.wait_status(0, "w1", "ready")?;
    assert_no_duplicates(&c, 0, &[("s_app", 8)])?;

    // Give w1 tasks again, then unplug it.
    c.node(0).ok(&["service", "scale", "s_app=11"])?;
    let by = c.running_by_node(0, "s_app")?;
    ensure!(
        by.get("w1").copied().unwrap_or(0) >= 1,
        "the worker got no new task: {by:?}"
    );
    c.lan.cut(c.host(w))?;
    let t0 = Instant::now();
    let took = wait_moved(&c, 0, "s_app", 11, "w1", t0)?;
    println!(
        "MEASURE node lost (link cut, heartbeat 500 ms) -> tasks running elsewhere: {} ms",
        took.as_millis()
    );
    ensure!(
        !c.node(w).running_containers()?.is_empty(),
        "the cut-off worker keeps its containers"
    );
    c.lan.heal(c.host(w))?;
    c.wait_status(0, "w1", "ready")?;
    assert_no_duplicates(&c, 0, &[("s_app", 11)])?;
    Ok(())
}

#[test]
fn scheduling_follows_spread_labels_drain_and_joins() -> Result<()> {
    let mut c = TestCluster::form(&["m1", "m2", "m3", "w1"], 3, 1, None, true)?;
    // Spread: 6 replicas on 4 nodes, no node with more than 2.
    c.deploy(0, "sp", &sleepers("app", 6, ""))?;
    let by = c.running_by_node(0, "sp_app")?;
    ensure!(
        by.len() == 4 && by.values().all(|n| *n <= 2),
        "not spread: {by:?}"
    );

    // Labels and a constraint: only the labelled nodes run it.
    for n in ["m2", "w1"] {
        c.node(0)
            .ok(&["node", "update", "--label-add", "disk=ssd", n])?;
    }
    c.deploy(
        1,
        "lb",
        &sleepers("db", 4, r#"constraints = ["node.labels.disk == ssd"]"#),
    )?;
    let by = c.running_by_node(0, "lb_db")?;
    let on: BTreeSet<&str> = by.keys().map(String::as_str).collect();
    ensure!(
        on == BTreeSet::from(["m2", "w1"]),
        "constraint not followed: {by:?}"
    );
    let nodes = c.nodes(0)?;
    let m2 = nodes
        .iter()
        .find(|n| n["hostname"] == "m2")
        .context("m2 in node ls")?;
    assert_eq!(m2["labels"]["disk"], "ssd", "{m2}");

    // A placement preference: spread over the board label (w1 is the only rpi4),
    // so half the replicas go to w1 rather than one per node.
    c.node(0)
        .ok(&["node", "update", "--label-add", "board=rpi4", "w1"])?;
    c.deploy(
        0,
        "pf",
        &sleepers(
            "app",
            4,
            r#"placement = { preferences = [{ spread = "node.labels.board" }] }"#,
        ),
    )?;
    let by = c.running_by_node(0, "pf_app")?;
    ensure!(
        by.get("w1") == Some(&2) && by.values().sum::<usize>() == 4,
        "not spread over the board label: {by:?}"
    );

    // `orc service logs` on one manager shows the lines of every node's task,
    // fetched over the cluster port from the other managers and the worker.
    c.deploy(0, "lg", "[services.echo]\nimage = \"demo/busybox:1\"\ncommand = [\"sh\", \"-c\", \"echo log-marker; while true; do sleep 0.3; echo tick; done\"]\nmode = \"global\"\nstop = { signal = \"SIGKILL\", grace_period = \"1s\" }\n")?;
    c.poll(
        CONVERGE,
        "4 nodes' log lines through m1",
        Duration::from_millis(200),
        || {
            let out = c.node(0).ok(&["service", "logs", "lg_echo"]).ok()?;
            (out.matches("log-marker").count() == 4).then_some(())
        },
    )?;
    // --follow through m1 streams new lines of every node's task (the others' over
    // the Logs RPC), each under its own task name.
    let tickers = follow_labels(&c, "lg_echo", "tick", 4)?;
    ensure!(tickers.len() == 4, "ticks from {tickers:?}");
    c.node(0).ok(&["stack", "rm", "lg", "--timeout", "60"])?;

    // Drain w1: everything moves away, and its containerd runs nothing.
    c.node(0)
        .ok(&["node", "update", "--availability", "drain", "w1"])?;
    wait_moved(&c, 0, "sp_app", 6, "w1", Instant::now())?;
    wait_moved(&c, 0, "lb_db", 4, "w1", Instant::now())?;
    ensure!(
        c.running_by_node(0, "lb_db")?.keys().all(|n| n == "m2"),
        "lb_db left its constraint"
    );
    c.poll(
        CONVERGE,
        "w1 to run no container",
        Duration::from_millis(200),
        || {
            c.node(3)
                .running_containers()
                .ok()?
                .is_empty()
                .then_some(())
        },
    )?;
    c.node(0)
        .ok(&["node", "update", "--availability", "active", "w1"])?;

    // A global service: one task per node, a new node gets one, a drained node loses it.
    c.deploy(2, "gl", "[services.agent]\nimage = \"demo/busybox:1\"\ncommand = [\"sleep\", \"3600\"]\nmode = \"global\"\nstop = { signal = \"SIGKILL\", grace_period = \"1s\" }\n")?;
    let every = |c: &TestCluster, hosts: &[&str]| -> Result<()> {
        c.poll(
            CONVERGE,
            &format!("gl_agent on exactly {hosts:?}"),
            Duration::from_millis(100),
            || {
                let by = c.running_by_node(0, "gl_agent").ok()?;
                (by.len() == hosts.len() && hosts.iter().all(|h| by.get(*h) == Some(&1)))
                    .then_some(())
            },
        )
    };
    every(&c, &["m1", "m2", "m3", "w1"])?;
    let w2 = c.add_node("w2", false)?;
    every(&c, &["m1", "m2", "m3", "w1", "w2"])?;
    ensure!(
        c.node(w2).running_containers()?.len() == 1,
        "w2's containerd runs its global task"
    );
    c.node(0)
        .ok(&["node", "update", "--availability", "drain", "w2"])?;
    every(&c, &["m1", "m2", "m3", "w1"])?;
    c.poll(
        CONVERGE,
        "w2 to run no container",
        Duration::from_millis(200),
        || {
            c.node(w2)
                .running_containers()
                .ok()?
                .is_empty()
                .then_some(())
        },
    )?;
    Ok(())
}

/// Role of `host` in `orc node ls` as seen by node `via`.
fn role_of(c: &TestCluster, via: usize, host: &str) -> Option<String> {
    c.nodes(via)
        .ok()?
        .iter()
        .find(|n| n["hostname"] == host)
        .and_then(|n| n["role"].as_str().map(str::to_string))
}

#[test]
fn promote_demote_and_leave_switch_roles_at_runtime() -> Result<()> {
    let mut c = TestCluster::form(&["m1", "m2", "w1", "w2"], 2, 2, None, true)?;
    c.deploy(0, "rl", &sleepers("app", 4, ""))?;
    let before_w1 = c.node(2).running_containers()?;
    ensure!(!before_w1.is_empty(), "w1 runs a replica");

    // A worker answers no cluster command until it is promoted.
    let out = c.node(2).orc(&["node", "ls"])?;
    ensure!(!out.status.success(), "a worker listed the nodes");

    // Promote w1: it becomes a Raft voter and serves the API; its containers stay.
    let p = timed_orc(c.node(0), 90, &["node", "promote", "w1"])?;
    ensure!(
        p.status.success(),
        "promote failed: {}\n{}",
        String::from_utf8_lossy(&p.stderr),
        c.logs_tail()
    );
    ensure!(role_of(&c, 0, "w1").as_deref() == Some("manager"));
    c.poll(
        CONVERGE,
        "w1 to answer as a manager",
        Duration::from_millis(200),
        || (role_of(&c, 2, "w1").as_deref() == Some("manager")).then_some(()),
    )?;
    // A write through the promoted node commits.
    c.node(2)
        .ok(&["node", "update", "--label-add", "board=rock5", "w2"])?;
    ensure!(
        c.node(2).running_containers()? == before_w1,
        "w1's containers were restarted by the promotion"
    );

    // Managers m1, m2 and w1. With m2 down, demoting w1 would lose quorum (m1 alone
    // of m1 and m2): refused with the reason, and nothing changes.
    c.node_mut(1).kill_daemon()?;
    c.wait_status(0, "m2", "down")?;
    let out = c.node(0).orc(&["node", "demote", "w1"])?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && err.contains("quorum") && err.contains("--force"),
        "demote that loses quorum: {err}"
    );
    ensure!(role_of(&c, 0, "w1").as_deref() == Some("manager"));
    c.node_mut(1).restart_daemon()?;
    c.wait_ready(0, 4)?;
    assert_no_duplicates(&c, 0, &[("rl_app", 4)])?;

    // Demote m2 through w1: m2 becomes a worker with its containers still running.
    let before_m2 = c.node(1).running_containers()?;
    c.node(2).ok(&["node", "demote", "m2"])?;
    ensure!(role_of(&c, 0, "m2").as_deref() == Some("worker"));
    c.poll(
        CONVERGE,
        "m2 to act as a worker",
        Duration::from_millis(200),
        || {
            let out = c.node(1).orc(&["node", "ls"]).ok()?;
            String::from_utf8_lossy(&out.stderr)
                .contains("worker")
                .then_some(())
        },
    )?;
    c.wait_ready(0, 4)?;
    c.node(0).ok(&["service", "scale", "rl_app=5"])?;
    c.wait_service(0, "rl_app", 5)?;
    ensure!(
        before_m2
            .iter()
            .all(|id| c.node(1).running_containers().is_ok_and(|r| r.contains(id))),
        "m2's containers were restarted by the demotion"
    );
    assert_no_duplicates(&c, 0, &[("rl_app", 5)])?;

    // Demote the leader itself (through itself): it steps down, w1 leads. Then the
    // earlier-demoted m2 becomes a manager again (on a fresh Raft copy).
    let leader = c.leader_index(0)?;
    ensure!(leader == 0 || leader == 2, "leader {leader} is a manager");
    let (old, other) = if leader == 0 { ("m1", 2) } else { ("w1", 0) };
    c.node(leader).ok(&["node", "demote", old])?;
    c.poll(CONVERGE, "a new leader", Duration::from_millis(200), || {
        (c.leader_index(other).ok()? == other).then_some(())
    })?;
    ensure!(role_of(&c, other, old).as_deref() == Some("worker"));
    c.node(other).ok(&["node", "promote", "m2"])?;
    c.wait_ready(1, 4)?;
    c.node(1).ok(&["service", "scale", "rl_app=4"])?;
    c.wait_service(other, "rl_app", 4)?;
    assert_no_duplicates(&c, 1, &[("rl_app", 4)])?;

    // Demoted and promoted again at once: the promotion waits until m2 has left the
    // Raft membership (its Raft restarts on an empty log), then m2 is a voter again.
    c.node(other).ok(&["node", "demote", "m2"])?;
    let p = timed_orc(c.node(other), 90, &["node", "promote", "m2"])?;
    ensure!(
        p.status.success(),
        "promote right after demote: {}\n{}",
        String::from_utf8_lossy(&p.stderr),
        c.logs_tail()
    );
    ensure!(role_of(&c, other, "m2").as_deref() == Some("manager"));
    c.wait_ready(1, 4)?;
    c.node(1).ok(&["service", "scale", "rl_app=3"])?;
    c.wait_service(other, "rl_app", 3)?;
    c.node(1).ok(&["service", "scale", "rl_app=4"])?;
    c.wait_service(other, "rl_app", 4)?;

    // A manager leaves: the cluster goes on without it, and it runs nothing.
    let (gone, gone_name) = (other, if other == 0 { "m1" } else { "w1" });
    c.node(gone).ok(&["cluster", "leave"])?;
    c.poll(
        CONVERGE,
        "the manager gone from node ls",
        Duration::from_millis(200),
        || (role_of(&c, 1, gone_name).is_none()).then_some(()),
    )?;
    ensure!(
        c.node(gone).running_containers()?.is_empty(),
        "{gone_name} still runs containers"
    );
    // A worker leaves too.
    c.node(3).ok(&["cluster", "leave"])?;
    ensure!(
        c.node(3).running_containers()?.is_empty(),
        "w2 still runs containers"
    );
    c.wait_ready(1, 2)?;
    c.wait_service(1, "rl_app", 4)?;
    assert_no_duplicates(&c, 1, &[("rl_app", 4)])?;
    Ok(())
}

/// A small seeded generator (xorshift64*), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the client may find for a service afterwards: the last acknowledged replica
/// count, plus the counts of later writes whose outcome is unknown (they failed, but
/// may have committed).
#[derive(Debug, Default, Clone)]
struct Expect {
    acked: Option<u32>,
    maybe: BTreeSet<u32>,
}

#[test]
fn randomized_faults_lose_no_acknowledged_change() -> Result<()> {
    let seed = std::env::var("ORC_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1;
    println!("chaos seed {seed} (rerun with ORC_CHAOS_SEED={seed})");
    let mut c = TestCluster::form(&["m1", "m2", "m3", "w1"], 3, 1, Some(250), true)?;
    let sockets: Vec<std::path::PathBuf> = (0..3).map(|i| c.node(i).socket()).collect();
    let dir = tempfile::Builder::new().prefix("orc-chaos-").tempdir()?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let phase = Duration::from_secs(35);

    let (expect, faults) = std::thread::scope(|s| -> Result<_> {
        // The client: deploys new services and scales existing ones through a random
        // manager, recording what each acknowledged.
        let client = s.spawn(|| -> Result<BTreeMap<String, Expect>> {
            let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
            let mut expect: BTreeMap<String, Expect> = BTreeMap::new();
            let mut k = 0;
            let mut ops = 0;
            let started = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let via = &sockets[rng.below(3) as usize];
                let replicas = 1 + rng.below(3) as u32;
                let (svc, args): (String, Vec<String>) = if expect.is_empty() || rng.below(3) == 0 {
                    k += 1;
                    let name = format!("ch{k}");
                    let p = dir.path().join(format!("{name}.toml"));
                    std::fs::write(&p, sleepers("app", replicas, ""))?;
                    let args = [
                        "stack",
                        "deploy",
                        &p.to_string_lossy(),
                        "--name",
                        &name,
                        "--detach",
                    ];
                    (
                        format!("{name}_app"),
                        args.iter().map(|a| a.to_string()).collect(),
                    )
                } else {
                    let names: Vec<&String> = expect.keys().collect();
                    let svc = names[rng.below(names.len() as u64) as usize].clone();
                    let args = vec![
                        "service".into(),
                        "scale".into(),
                        format!("{svc}={replicas}"),
                        "--detach".into(),
                    ];
                    (svc, args)
                };
                let out = std::process::Command::new("timeout")
                    .args(["-s", "KILL", "20"])
                    .arg(orc_testbed::orc_binary()?)
                    .arg("--socket")
                    .arg(via)
                    .args(&args)
                    .stdin(std::process::Stdio::null())
                    .output()?;
                let e = expect.entry(svc.clone()).or_default();
                if out.status.success() {
                    e.acked = Some(replicas);
                    e.maybe.clear();
                } else {
                    e.maybe.insert(replicas);
                    let err = String::from_utf8_lossy(&out.stderr);
                    let last = err.lines().last().unwrap_or("").to_string();
                    println!(
                        "{:>5} ms {svc}={replicas}: {last}",
                        started.elapsed().as_millis()
                    );
                    // Pace retries against a dead daemon (not a synchronisation).
                    std::thread::sleep(Duration::from_millis(100));
                }
                ops += 1;
                if ops >= 80 {
                    break;
                }
            }
            Ok(expect)
        });
        // The faults, one at a time so a majority can make progress: SIGKILL and
        // restart a manager, or unplug and replug its link.
        let mut rng = Rng(seed);
        let mut faults = Vec::new();
        let start = Instant::now();
        while start.elapsed() < phase && faults.len() < 12 {
            let i = rng.below(3) as usize;
            let hold = Duration::from_millis(500 + rng.below(2500));
            if rng.below(2) == 0 {
                faults.push(format!("kill m{} for {hold:?}", i + 1));
                c.node_mut(i).kill_daemon()?;
                std::thread::sleep(hold);
                c.node_mut(i).restart_daemon()?;
            } else {
                faults.push(format!("cut m{} for {hold:?}", i + 1));
                c.lan.cut(c.host(i))?;
                std::thread::sleep(hold);
                c.lan.heal(c.host(i))?;
            }
            std::thread::sleep(Duration::from_millis(300 + rng.below(1500)));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let expect = client
            .join()
            .map_err(|_| anyhow::anyhow!("the client panicked"))??;
        Ok((expect, faults))
    })?;
    println!("faults: {faults:?}");
    println!("expected: {expect:?}");

    // Afterwards: every acknowledged change is present, and each service runs exactly
    // its replicas, once.
    c.wait_ready(0, 4)?;
    let mut want: Vec<(String, usize)> = Vec::new();
    let rows = c.node(0).json(&["service", "ls"])?;
    let rows = rows.as_array().cloned().unwrap_or_default();
    for (svc, e) in &expect {
        let row = rows.iter().find(|r| r["name"] == svc.as_str());
        let Some(row) = row else {
            ensure!(
                e.acked.is_none(),
                "seed {seed}: acknowledged service {svc} is missing ({e:?})"
            );
            continue;
        };
        let desired = row["desired"].as_u64().context("desired")? as u32;
        ensure!(
            e.acked == Some(desired) || e.maybe.contains(&desired),
            "seed {seed}: {svc} wants {desired} replicas; acknowledged {e:?}"
        );
        want.push((svc.clone(), desired as usize));
    }
    ensure!(
        expect.values().any(|e| e.acked.is_some()),
        "seed {seed}: no write was acknowledged at all during the faults"
    );
    for (svc, n) in &want {
        c.wait_service(0, svc, *n as u64)?;
    }
    let want: Vec<(&str, usize)> = want.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    assert_no_duplicates(&c, 0, &want)?;
    Ok(())
}

/// Runs `orc service logs SVC --follow --tail 0` through node 0 until lines holding
/// `needle` arrived under `want` different task names; returns those names.
fn follow_labels(
    c: &TestCluster,
    svc: &str,
    needle: &str,
    want: usize,
) -> Result<std::collections::BTreeSet<String>> {
    let follow = c
        .node(0)
        .orc_stream(&["service", "logs", svc, "--follow", "--tail", "0"])?;
    let deadline = Instant::now() + CONVERGE;
    let mut labels = std::collections::BTreeSet::new();
    let got = loop {
        if labels.len() >= want {
            break Ok(labels);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match follow.lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => {
                // "lg_echo.NODEID | tick"
                if let Some(label) = line.split_whitespace().next() {
                    labels.insert(label.to_string());
                }
            }
            Ok(_) => {}
            Err(_) => break Err(anyhow::anyhow!("{needle} only from {labels:?}")),
        }
    };
    drop(follow);
    got
}

/// A manager that crashed while joining, after starting Raft but before asking to
/// become a voter, asks again once restarted: it becomes a voter, so with another
/// manager down the cluster still has a majority.
#[test]
fn a_manager_that_crashed_before_becoming_a_voter_asks_again() -> Result<()> {
    let mut c = TestCluster::form(&["m1", "m2", "m3"], 2, 0, Some(250), false)?;
    c.node_mut(2)
        .restart_daemon_with(&["--failpoint", "join-before-promote"])?;
    let token = c.node(0).ok(&["cluster", "join-token", "manager", "-q"])?;
    let joined = c.try_join(2, token.trim(), 0)?;
    ensure!(joined.is_err(), "the join went through the failpoint");
    let code = c.node_mut(2).wait_daemon_exit(CONVERGE);
    ensure!(
        code == Some(86),
        "m3's daemon exit at the failpoint: {code:?}"
    );
    let voters = |c: &TestCluster, via: usize| -> Option<Vec<String>> {
        let v = c.node(via).json(&["cluster", "info"]).ok()?;
        Some(
            v["voters"]
                .as_array()?
                .iter()
                .filter_map(|x| Some(x.as_str()?.to_string()))
                .collect(),
        )
    };
    let before = voters(&c, 0).context("voters")?;
    ensure!(before.len() == 2, "voters before: {before:?}");
    c.node_mut(2).clear_extra_args();
    c.node_mut(2).restart_daemon()?;
    c.poll(
        CONVERGE,
        "m3 to become a voter",
        Duration::from_millis(250),
        || (voters(&c, 0)?.len() == 3).then_some(()),
    )?;
    c.wait_status(0, "m3", "ready")?;
    let info = c.node(0).ok(&["cluster", "info"])?;
    let listed = info
        .lines()
        .filter(|l| l.trim_end().ends_with(" voter"))
        .count();
    ensure!(listed == 3, "cluster info lists 3 voters: {info}");
    // m2 down: m1 and m3 are two of three voters, and a write commits.
    c.node_mut(1).kill_daemon()?;
    c.poll(
        CONVERGE,
        "a write with m2 down",
        Duration::from_millis(250),
        || {
            c.node(0)
                .ok(&["node", "update", "--label-add", "quorum=kept", "m1"])
                .ok()
        },
    )?;
    Ok(())
}
