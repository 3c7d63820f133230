//! The cluster's virtual IP, end to end: 3 orc managers, each in its own network
//! namespace on a bridged LAN, run VRRPv3 for `orc vip set`. Exactly one holds the VIP;
//! it moves on SIGKILL, SIGTERM and when the holder is cut off from the Raft majority
//! (never two holders for longer than a Master_Down_Interval); `orc vip unset` removes
//! it everywhere. Holders are read with `ip addr` in each node's namespace.

#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;

use anyhow::{bail, ensure, Result};
use harness::TestCluster;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use orc_testbed::poll_until;
use std::time::{Duration, Instant};

/// Advert interval under test.
const ADVERT_MS: u64 = 100;
/// Master_Down_Interval at priority 100: 3 × interval + (256 − 100) × interval / 256.
const MASTER_DOWN: Duration = Duration::from_millis(3 * ADVERT_MS + (256 - 100) * ADVERT_MS / 256);
/// Between two samples of the holders while the VIP moves.
const SAMPLE: Duration = Duration::from_millis(20);
/// How long a move may take at most (generous: the 2 cores are shared by every test).
const MOVE: Duration = Duration::from_secs(20);

/// Whether the namespace's eth0 carries `vip`.
fn holds(c: &TestCluster, i: usize, vip: &str) -> bool {
    let out = c
        .host(i)
        .command("ip")
        .args(["-4", "-o", "addr", "show", "dev", "eth0"])
        .output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout).contains(&format!(" {vip}/")),
        Err(_) => false,
    }
}

/// Indexes of the nodes in `among` whose eth0 carries the VIP.
fn holders(c: &TestCluster, among: &[usize], vip: &str) -> Vec<usize> {
    among
        .iter()
        .copied()
        .filter(|&i| holds(c, i, vip))
        .collect()
}

/// Samples every [`SAMPLE`] until `done(holders)` holds; fails if two or more of
/// `among` hold the VIP for longer than a Master_Down_Interval in a row. Returns the
/// holders at the end and the time it took.
fn watch_move(
    c: &TestCluster,
    among: &[usize],
    vip: &str,
    what: &str,
    done: impl Fn(&[usize]) -> bool,
) -> Result<(Vec<usize>, Duration)> {
    let start = Instant::now();
    let mut split_since: Option<Instant> = None;
    let mut worst_split = Duration::ZERO;
    loop {
        let t = Instant::now();
        let h = holders(c, among, vip);
        if h.len() >= 2 {
            let since = *split_since.get_or_insert(t);
            worst_split = worst_split.max(t - since);
            ensure!(
                t - since <= MASTER_DOWN,
                "{what}: nodes {h:?} all held {vip} for {:?} (> Master_Down_Interval {MASTER_DOWN:?})\n{}",
                t - since,
                c.logs_tail()
            );
        } else {
            split_since = None;
        }
        if done(&h) {
            eprintln!(
                "{what}: done after {:?} (holders {h:?}, worst overlap {worst_split:?})",
                start.elapsed()
            );
            return Ok((h, start.elapsed()));
        }
        if start.elapsed() > MOVE {
            bail!(
                "{what}: timed out after {MOVE:?}; holders {h:?}\n{}",
                c.logs_tail()
            );
        }
        std::thread::sleep(SAMPLE.saturating_sub(t.elapsed()));
    }
}

/// Exactly one holder among `among`, and it stays so for a few adverts.
fn one_holder(c: &TestCluster, among: &[usize], vip: &str, what: &str) -> Result<usize> {
    let deadline = Instant::now() + MOVE;
    loop {
        let (h, _) = watch_move(c, among, vip, what, |h| h.len() == 1)?;
        // Still exactly one a little later: no second master appears after the first.
        let settle = Instant::now() + Duration::from_millis(5 * ADVERT_MS);
        while Instant::now() < settle {
            let now = holders(c, among, vip);
            ensure!(
                now.len() <= 1,
                "{what}: two holders {now:?} after settling\n{}",
                c.logs_tail()
            );
            std::thread::sleep(SAMPLE);
        }
        // At startup two nodes can both become master and the lower address yield
        // (RFC 5798 tie-break): the holder may have changed hands while settling.
        if holders(c, among, vip) == h {
            return Ok(h[0]);
        }
        ensure!(
            Instant::now() < deadline,
            "{what}: the holder kept changing\n{}",
            c.logs_tail()
        );
    }
}

/// Waits until one node reports master, holds the VIP, and both others report an
/// eligible backup following it: the group is steady, so a failover measured from here
/// is clean. Returns the master. (The master may differ from the last one seen: a
/// restarted manager can start a Raft election, and the quorum guard makes a holder
/// that misses the new leader's heartbeats release.)
fn settled(c: &TestCluster, vip: &str) -> Result<usize> {
    let last = std::cell::RefCell::new(Vec::new());
    let r = c.poll(
        MOVE,
        "a steady VRRP group",
        Duration::from_millis(100),
        || {
            last.borrow_mut().clear();
            let mut states = Vec::new();
            for i in 0..3 {
                let s = c.node(i).json(&["vip", "status"]).ok()?;
                last.borrow_mut().push(format!("node {i}: {s}"));
                states.push(s["local"].clone());
            }
            let masters: Vec<usize> = (0..3).filter(|&i| states[i]["state"] == "master").collect();
            let [m] = masters[..] else { return None };
            let ip = c.host(m).ip.to_string();
            let steady = states
                .iter()
                .all(|l| l["eligible"] == true && l["master_ip"] == ip.as_str());
            (steady && holders(c, &[0, 1, 2], vip) == [m]).then_some(m)
        },
    );
    r.map_err(|e| anyhow::anyhow!("{e}\nlast statuses:\n{}", last.borrow().join("\n")))
}

fn alive_except(n: usize, except: usize) -> Vec<usize> {
    (0..n).filter(|&i| i != except).collect()
}

#[test]
fn the_vip_is_held_by_one_manager_in_the_majority() -> Result<()> {
    let mut c = TestCluster::form(&["vip-a", "vip-b", "vip-c"], 3, 0, Some(250), false)?;
    let subnet = c.lan.subnet();
    let vip = subnet.replace(".0/24", ".100");
    let all = [0usize, 1, 2];

    // Bad settings are refused by the daemon.
    let bad = c
        .node(0)
        .orc(&["vip", "set", &vip, "--interface", "eth0", "--vrid", "0"])?;
    ensure!(!bad.status.success(), "VRID 0 accepted");
    let bad = c.node(0).orc(&[
        "vip",
        "set",
        &format!("{vip}/24"),
        "--interface",
        "eth0",
        "--vrid",
        "51",
        "--advert-interval",
        "5ms",
    ])?;
    ensure!(!bad.status.success(), "a 5 ms advert interval was accepted");

    c.node(0).ok(&[
        "vip",
        "set",
        &format!("{vip}/24"),
        "--interface",
        "eth0",
        "--vrid",
        "51",
        "--advert-interval",
        "100ms",
    ])?;
    let holder = one_holder(&c, &all, &vip, "first holder")?;
    let status = c.node(holder).json(&["vip", "status"])?;
    ensure!(
        status["local"]["state"] == "master",
        "holder's status: {status}"
    );
    ensure!(status["setting"]["vrid"] == 51, "status: {status}");
    let table = c.node(holder).ok(&["vip", "status"])?;
    ensure!(
        table.contains("master") && table.contains(&vip),
        "status table:\n{table}"
    );

    // Every manager's VRRP state, as one manager sees them over the cluster port: the
    // one reported master is the one whose namespace holds the address.
    let names = ["vip-a", "vip-b", "vip-c"];
    let holder = settled(&c, &vip)?;
    let asker = (holder + 1) % 3;
    let rows = |c: &TestCluster| -> Result<Vec<serde_json::Value>> {
        let s = c.node(asker).json(&["vip", "status"])?;
        Ok(s["managers"].as_array().cloned().unwrap_or_default())
    };
    let ms = rows(&c)?;
    ensure!(ms.len() == 3, "three managers in vip status: {ms:?}");
    for m in &ms {
        let i = names
            .iter()
            .position(|n| m["hostname"] == *n)
            .ok_or_else(|| anyhow::anyhow!("unknown manager row {m}"))?;
        let want = if i == holder { "master" } else { "backup" };
        ensure!(
            m["reachable"] == true && m["state"] == want && m["priority"] == 100,
            "row of {} (holder {}): {m}",
            names[i],
            names[holder]
        );
        ensure!(m["transitions"].as_u64() >= Some(1), "transitions in {m}");
    }
    // The holder records itself in Raft on becoming master, so another manager's
    // event log (and metrics) see the VIP move too.
    poll_until(
        Duration::from_secs(10),
        "the VIP move in another manager's events",
        || {
            let ev = c
                .node(asker)
                .ok(&[
                    "events", "--since", "1h", "--until", "0m", "--json", "--filter", "type=vip",
                ])
                .ok()?;
            let last = ev
                .lines()
                .rev()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|e| e["action"] == "moved")?;
            (last["name"] == names[holder]).then_some(())
        },
    )?;
    let table = c.node(asker).ok(&["vip", "status"])?;
    ensure!(
        names.iter().all(|n| table.contains(n)),
        "status table lists every manager:\n{table}"
    );
    // A manager that does not answer is marked, and the others still are shown.
    let silent = (holder + 2) % 3;
    c.node_mut(silent).kill_daemon()?;
    let started = Instant::now();
    let ms = rows(&c)?;
    let took = started.elapsed();
    let row = ms
        .iter()
        .find(|m| m["hostname"] == names[silent])
        .ok_or_else(|| anyhow::anyhow!("no row for the killed manager: {ms:?}"))?;
    ensure!(row["reachable"] == false, "killed manager's row: {row}");
    ensure!(took < Duration::from_secs(5), "vip status took {took:?}");
    ensure!(
        ms.iter()
            .any(|m| m["hostname"] == names[holder] && m["state"] == "master"),
        "holder still shown as master: {ms:?}"
    );
    c.node_mut(silent).restart_daemon()?;
    c.wait_ready(asker, 3)?;
    let holder = one_holder(&c, &all, &vip, "after the status check")?;

    // Cut the holder off from the other two (its adverts still reach them; nothing
    // from them reaches it): the quorum guard makes it release, a majority node takes it.
    c.lan.partition(c.host(holder))?;
    let (h, t) = watch_move(&c, &all, &vip, "partitioned holder", |h| {
        h.len() == 1 && h[0] != holder
    })?;
    eprintln!(
        "partition: VIP moved from node {holder} to node {} in {t:?}",
        h[0]
    );
    c.lan.heal(c.host(holder))?;
    c.wait_ready(h[0], 3)?;
    let holder = one_holder(&c, &all, &vip, "after healing")?;

    // Unplug the holder (nothing gets through, adverts included): the others take
    // over after Master_Down_Interval while the quorum guard makes it release.
    c.lan.cut(c.host(holder))?;
    let (h, t) = watch_move(&c, &all, &vip, "unplugged holder", |h| {
        h.len() == 1 && h[0] != holder
    })?;
    eprintln!(
        "unplugged: VIP moved from node {holder} to node {} in {t:?}",
        h[0]
    );
    c.lan.heal(c.host(holder))?;
    c.wait_ready(h[0], 3)?;
    let holder = one_holder(&c, &all, &vip, "after plugging back")?;

    // Graceful stop: priority 0, another node takes over at once.
    let pid = c
        .node(holder)
        .daemon_pid()
        .ok_or_else(|| anyhow::anyhow!("no daemon pid"))?;
    let others = alive_except(3, holder);
    kill(Pid::from_raw(pid as i32), Signal::SIGTERM)?;
    let (h, t) = watch_move(&c, &all, &vip, "SIGTERM", |h| {
        h.len() == 1 && h[0] != holder
    })?;
    eprintln!("SIGTERM: VIP on node {} after {t:?}", h[0]);
    ensure!(t < Duration::from_secs(2), "graceful handover took {t:?}");
    c.node_mut(holder).restart_daemon()?;
    c.wait_ready(others[0], 3)?;
    one_holder(&c, &all, &vip, "after the restart")?;

    // SIGKILL: the dead daemon cannot remove its VIP (like a crashed keepalived); a live
    // node takes it within Master_Down_Interval (+ the time to notice, on a busy box).
    // Then the killed node comes back, drops its stale copy and stays backup.
    let mut times = Vec::new();
    for trial in 0..3 {
        let holder = settled(&c, &vip)?;
        let others = alive_except(3, holder);
        // If the holder is also the Raft leader, the survivors lose their quorum lease
        // with it and may take the VIP only once they have elected a new leader (the
        // quorum guard at work): the bound is then the election plus the VRRP timers.
        let holder_leads = c.leader_index(others[0])? == holder;
        let bound = if holder_leads {
            Duration::from_secs(8)
        } else {
            Duration::from_secs(3)
        };
        let killed = Instant::now();
        c.node_mut(holder).kill_daemon()?;
        let (h, _) = watch_move(&c, &others, &vip, "SIGKILL", |h| h.len() == 1)?;
        let failover = killed.elapsed();
        eprintln!(
            "SIGKILL trial {trial}: VIP from node {holder} (raft leader: {holder_leads}) to node {} after {failover:?}",
            h[0]
        );
        ensure!(
            failover < bound,
            "failover took {failover:?} (holder was raft leader: {holder_leads})"
        );
        times.push(failover);
        c.node_mut(holder).restart_daemon()?;
        c.poll(
            MOVE,
            "the restarted node to drop its stale VIP",
            SAMPLE,
            || (!holds(&c, holder, &vip)).then_some(()),
        )?;
        c.wait_ready(h[0], 3)?;
        one_holder(&c, &all, &vip, "after the killed node came back")?;
    }
    times.sort();
    eprintln!(
        "SIGKILL failover at {ADVERT_MS} ms adverts: median {:?} of {times:?}",
        times[times.len() / 2]
    );

    // Unset: nobody holds it.
    c.node(0).ok(&["vip", "unset"])?;
    watch_move(&c, &all, &vip, "unset", |h| h.is_empty())?;
    let status = c.node(0).json(&["vip", "status"])?;
    ensure!(status["setting"].is_null(), "status after unset: {status}");
    Ok(())
}

/// A port published by a service answers on the VIP too, from a host of the LAN that is
/// not in the cluster, also when the task runs on another node than the VIP's holder.
#[test]
fn a_published_port_answers_on_the_vip() -> Result<()> {
    let c = TestCluster::form(&["pv-a", "pv-b", "pv-c"], 3, 0, Some(250), true)?;
    let vip = c.lan.subnet().replace(".0/24", ".100");
    c.node(0).ok(&[
        "vip",
        "set",
        &format!("{vip}/24"),
        "--interface",
        "eth0",
        "--vrid",
        "52",
        "--advert-interval",
        "100ms",
    ])?;
    let holder = one_holder(&c, &[0, 1, 2], &vip, "VIP holder")?;
    let holder_name = ["pv-a", "pv-b", "pv-c"][holder];
    c.deploy(
        0,
        "pub",
        &format!(
            r#"
[services.web]
image = "demo/busybox:1"
command = ["sh", "-c", "mkdir -p /tmp/www && echo hello-over-the-vip > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"]
constraints = ["node.hostname != {holder_name}"]
ports = ["8080:80"]
mounts = [{{ type = "tmpfs", target = "/tmp" }}]
stop = {{ signal = "SIGKILL", grace_period = "1s" }}
"#
        ),
    )?;
    c.wait_service(0, "pub_web", 1)?;
    let on = c.running_tasks(0, "pub_web")?;
    ensure!(
        on.iter().all(|(_, node)| node != holder_name),
        "web runs on the holder {holder_name}: {on:?}"
    );
    let client = c.lan.add_host()?;
    let url = format!("http://{vip}:8080/");
    let body = c.poll(
        harness::CONVERGE,
        "the published port on the VIP",
        Duration::from_millis(200),
        || {
            let out = client
                .command("curl")
                .args(["-s", "-m", "2", &url])
                .output()
                .ok()?;
            let body = String::from_utf8_lossy(&out.stdout).into_owned();
            body.contains("hello-over-the-vip").then_some(body)
        },
    )?;
    ensure!(body.contains("hello-over-the-vip"), "{body}");
    // And on every node's own loopback, tasks there or not (DNAT in the output hook,
    // route_localnet, masquerade).
    for i in 0..3 {
        c.poll(
            harness::CONVERGE,
            &format!("the published port on 127.0.0.1 of node {i}"),
            Duration::from_millis(200),
            || {
                let out = c
                    .host(i)
                    .command("curl")
                    .args(["-s", "-m", "2", "http://127.0.0.1:8080/"])
                    .output()
                    .ok()?;
                String::from_utf8_lossy(&out.stdout)
                    .contains("hello-over-the-vip")
                    .then_some(())
            },
        )?;
    }
    Ok(())
}
