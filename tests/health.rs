//! Health checks end to end: a one-node cluster in its own network namespace with its
//! own containerd; probes (HTTP, TCP, CMD-SHELL, CMD) run by the agent against real
//! containers; what is checked is read back from the CLI, from the node's DNS server
//! (as a container asks it), from the kernel's nftables ruleset and from containerd.

#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;

use anyhow::{ensure, Context, Result};
use harness::TestCluster;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const LOOK: Duration = Duration::from_millis(100);

/// A one-node cluster (the node initialises it) with the busybox image loaded.
fn one_node() -> Result<TestCluster> {
    TestCluster::form(&["h"], 1, 0, Some(250), true)
}

/// `orc stack deploy` of `body` as stack `name`, returning once committed (a service
/// whose check cannot pass would hold a waiting deploy for its whole timeout).
fn deploy(c: &TestCluster, name: &str, body: &str) -> Result<()> {
    let p = c.node(0).dir().join(format!("{name}.toml"));
    std::fs::write(&p, body)?;
    c.node(0).ok(&[
        "stack",
        "deploy",
        &p.to_string_lossy(),
        "--name",
        name,
        "--detach",
    ])?;
    Ok(())
}

/// `orc service ps SVC --json` rows (live tasks and each slot's last failure).
fn ps(c: &TestCluster, svc: &str, all: bool) -> Vec<Value> {
    let mut args = vec!["service", "ps", svc];
    if all {
        args.push("--all");
    }
    c.node(0)
        .json(&args)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// The live (desired running, state running) tasks of `svc`.
fn live(c: &TestCluster, svc: &str) -> Vec<Value> {
    ps(c, svc, false)
        .into_iter()
        .filter(|t| t["state"] == "running" && t["desired_state"] == "running")
        .collect()
}

fn health_of(t: &Value) -> &str {
    t["health"]["state"].as_str().unwrap_or("-")
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The network namespace of task `id` on node 0.
fn netns_of(c: &TestCluster, id: &str) -> PathBuf {
    c.node(0).data_dir().join("netns").join(id)
}

/// The DNS server of a container at `addr`: the bridge's `.1`.
fn gateway_of(addr: &str) -> String {
    addr.rsplit_once('.')
        .map(|(n, _)| format!("{n}.1"))
        .unwrap_or_default()
}

/// The A records (sorted) the node's DNS server at `server` gives for `name` to the
/// container whose namespace is `netns`; `None` when no NOERROR answer came.
fn resolve(netns: &Path, server: &str, name: &str) -> Option<Vec<String>> {
    let mut a = orc_testbed::netns::dns_a(netns, server, name)?;
    a.sort();
    Some(a)
}

/// The published port's DNAT targets (`ADDR:PORT`) in node 0's nftables ruleset.
fn port_backends(c: &TestCluster, target: u16) -> Vec<String> {
    let out = c
        .host(0)
        .command("nft")
        .args(["list", "table", "ip", "orc"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut v: Vec<String> = out
        .lines()
        .filter_map(|l| l.trim().split("dnat to ").nth(1))
        .map(|t| t.split_whitespace().next().unwrap_or(t).to_string())
        .filter(|t| t.ends_with(&format!(":{target}")))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Runs `ARGS` inside task `id`'s container (ctr task exec).
fn exec_in(c: &TestCluster, id: &str, exec_id: &str, args: &[&str]) -> Result<String> {
    let mut a = vec!["tasks", "exec", "--exec-id", exec_id, id];
    a.extend_from_slice(args);
    c.node(0).ctr(&a)
}

/// A container task's processes: (pid, INFO column) from `ctr task ps`.
fn task_pids(c: &TestCluster, id: &str) -> Vec<(u32, String)> {
    c.node(0)
        .ctr(&["tasks", "ps", id])
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let pid = f.next()?.parse().ok()?;
            Some((pid, f.collect::<Vec<_>>().join(" ")))
        })
        .collect()
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

const CHECKS: &str = r#"
[services.web]
image = "demo/busybox:1"
command = ["sh", "-c", "mkdir -p /www && echo ok > /www/health && exec httpd -f -p 8080 -h /www"]
ports = ["18181:8080"]
healthcheck = { test = ["HTTP", "http://localhost:8080/health"], interval = "1s", start_interval = "200ms", timeout = "2s", retries = 1 }
stop = { signal = "SIGKILL", grace_period = "1s" }

[services.tcp]
image = "demo/busybox:1"
command = ["sh", "-c", "mkdir -p /www && exec httpd -f -p 9000 -h /www"]
healthcheck = { test = ["TCP", "9000"], interval = "1s", start_interval = "200ms", timeout = "2s" }
stop = { signal = "SIGKILL", grace_period = "1s" }

[services.slow]
image = "demo/busybox:1"
command = ["sleep", "3600"]
healthcheck = { test = ["CMD-SHELL", "test -f /ready && echo ready"], interval = "1s", start_interval = "200ms", timeout = "2s", retries = 1000 }
stop = { signal = "SIGKILL", grace_period = "1s" }

[services.client]
image = "demo/busybox:1"
command = ["sleep", "3600"]
stop = { signal = "SIGKILL", grace_period = "1s" }
"#;

/// HTTP, TCP and CMD-SHELL checks make their tasks healthy; a task whose check has not
/// passed yet runs but is in no DNS answer, and appears once it passes.
#[test]
fn http_tcp_and_shell_checks_reach_healthy_and_a_starting_task_is_never_in_dns() -> Result<()> {
    let c = one_node()?;
    deploy(&c, "hc1", CHECKS)?;
    let (client, slow) = c.poll(harness::CONVERGE, "client and slow running", LOOK, || {
        let client = live(&c, "hc1_client").pop()?;
        let slow = live(&c, "hc1_slow").pop()?;
        Some((client, slow))
    })?;
    ensure!(
        health_of(&slow) == "starting",
        "slow's check cannot pass yet: {slow}"
    );
    let client_ns = netns_of(&c, &s(&client["id"]));
    let dns = gateway_of(&s(&client["address"]));
    // HTTP and TCP checks pass: healthy, and their names resolve.
    for svc in ["hc1_web", "hc1_tcp"] {
        let t = c
            .poll(harness::CONVERGE, &format!("{svc} healthy"), LOOK, || {
                live(&c, svc).pop().filter(|t| health_of(t) == "healthy")
            })
            .with_context(|| c.describe(0, svc))?;
        let short = svc.trim_start_matches("hc1_");
        let addr = s(&t["address"]);
        c.poll(harness::CONVERGE, &format!("{short} in DNS"), LOOK, || {
            resolve(&client_ns, &dns, short).filter(|a| *a == [addr.clone()])
        })?;
    }
    // The published port's backend is the healthy web task.
    let web = live(&c, "hc1_web").pop().context("web")?;
    let web_backend = format!("{}:8080", s(&web["address"]));
    c.poll(harness::CONVERGE, "web behind its port", LOOK, || {
        (port_backends(&c, 8080) == [web_backend.clone()]).then_some(())
    })?;
    // service inspect carries the probe results: passed, with the status line.
    let inspect = c.node(0).json(&["service", "inspect", "hc1_web"])?;
    let log = inspect["tasks"][0]["health"]["log"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        log.iter()
            .any(|r| r["exit_code"] == 0 && s(&r["output"]).contains("200")),
        "{inspect}"
    );

    // `slow` still starting: running, yet no DNS answer, for its name nor tasks.NAME.
    let slow = live(&c, "hc1_slow").pop().context("slow")?;
    ensure!(health_of(&slow) == "starting", "{slow}");
    for name in ["slow", "tasks.slow", "hc1_slow"] {
        let a = resolve(&client_ns, &dns, name);
        ensure!(a == Some(vec![]), "{name} resolved to {a:?} while starting");
    }
    let table = c.node(0).ok(&["service", "ps", "hc1_slow"])?;
    ensure!(table.contains("running (starting"), "{table}");
    // Its check passes once /ready exists: healthy, and then it resolves.
    exec_in(&c, &s(&slow["id"]), "mkready", &["touch", "/ready"])?;
    let slow_addr = s(&slow["address"]);
    c.poll(harness::CONVERGE, "slow healthy and in DNS", LOOK, || {
        let t = live(&c, "hc1_slow").pop()?;
        (health_of(&t) == "healthy").then_some(())?;
        resolve(&client_ns, &dns, "tasks.slow").filter(|a| *a == [slow_addr.clone()])
    })?;
    let table = c.node(0).ok(&["service", "ps", "hc1_slow"])?;
    ensure!(table.contains("running (healthy)"), "{table}");
    let text = c.node(0).ok(&["service", "inspect", "hc1_slow"])?;
    ensure!(
        text.contains("exit   0") && text.contains("ready"),
        "{text}"
    );
    Ok(())
}

const FLAKY: &str = r#"
[services.web]
image = "demo/busybox:1"
# The shell ignores SIGTERM, so the container outlives the stop's grace period (8 s):
# the test sees the task out of DNS while its container still runs.
command = ["sh", "-c", "mkdir -p /www && echo ok > /www/health && httpd -p 8080 -h /www && trap '' TERM && while true; do sleep 1; done"]
replicas = 2
ports = ["18182:8080"]
healthcheck = { test = ["HTTP", "http://localhost:8080/health"], interval = "1s", start_interval = "200ms", timeout = "2s", retries = 1 }
restart = { condition = "any", delay = "0s" }
stop = { signal = "SIGTERM", grace_period = "8s" }

[services.client]
image = "demo/busybox:1"
command = ["sleep", "3600"]
stop = { signal = "SIGKILL", grace_period = "1s" }
"#;

/// A probe that starts failing: the task leaves DNS, tasks.NAME and the published
/// port's backends while its container still runs, is then stopped and reported
/// failed with the probe's output, and a new task replaces it and becomes healthy.
#[test]
fn a_task_whose_probe_fails_leaves_every_backend_list_before_it_stops_and_is_replaced() -> Result<()>
{
    let c = one_node()?;
    deploy(&c, "hc2", FLAKY)?;
    let (client, web) = c.poll(harness::CONVERGE, "two healthy web tasks", LOOK, || {
        let client = live(&c, "hc2_client").pop()?;
        let web: Vec<Value> = live(&c, "hc2_web")
            .into_iter()
            .filter(|t| health_of(t) == "healthy")
            .collect();
        (web.len() == 2).then_some((client, web))
    })?;
    let client_ns = netns_of(&c, &s(&client["id"]));
    let dns = gateway_of(&s(&client["address"]));
    let mut addrs: Vec<String> = web.iter().map(|t| s(&t["address"])).collect();
    addrs.sort();
    let backends: Vec<String> = addrs.iter().map(|a| format!("{a}:8080")).collect();
    c.poll(
        harness::CONVERGE,
        "both in DNS and behind the port",
        LOOK,
        || {
            (resolve(&client_ns, &dns, "web")? == addrs && port_backends(&c, 8080) == backends)
                .then_some(())
        },
    )?;

    // Break the first task's health endpoint.
    let (bad, good) = (&web[0], &web[1]);
    let bad_id = s(&bad["id"]);
    let good_addr = s(&good["address"]);
    exec_in(&c, &bad_id, "breakit", &["rm", "/www/health"])?;
    // Out of DNS (name and tasks.NAME) and of the port's backends, its container
    // still running: removed before it is stopped.
    let mut seen_running_while_out = false;
    c.poll(
        harness::CONVERGE,
        "the broken task out of every list",
        LOOK,
        || {
            let name = resolve(&client_ns, &dns, "web")?;
            let tasks = resolve(&client_ns, &dns, "tasks.web")?;
            let port = port_backends(&c, 8080);
            let out = name == [good_addr.clone()]
                && tasks == [good_addr.clone()]
                && port == [format!("{good_addr}:8080")];
            if out && c.node(0).running_containers().ok()?.contains(&bad_id) {
                seen_running_while_out = true;
            }
            out.then_some(())
        },
    )?;
    ensure!(
        seen_running_while_out,
        "the broken task's container had stopped before it left DNS and the port"
    );
    // Then stopped, failed with the probe's output, and replaced by a healthy task.
    let failed = c.poll(harness::CONVERGE, "the broken task failed", LOOK, || {
        ps(&c, "hc2_web", true)
            .into_iter()
            .find(|t| s(&t["id"]) == bad_id && t["state"] == "failed")
    })?;
    let err = s(&failed["error"]);
    ensure!(
        err.contains("unhealthy: exit 1") && err.contains("404"),
        "{failed}"
    );
    let replaced = c
        .poll(harness::CONVERGE, "a healthy replacement", LOOK, || {
            let web = live(&c, "hc2_web");
            let fresh: Vec<&Value> = web
                .iter()
                .filter(|t| s(&t["id"]) != bad_id && health_of(t) == "healthy")
                .collect();
            (fresh.len() == 2).then(|| fresh.iter().map(|t| s(&t["address"])).collect::<Vec<_>>())
        })
        .with_context(|| c.describe(0, "hc2_web"))?;
    let mut want = replaced.clone();
    want.sort();
    c.poll(harness::CONVERGE, "the replacement in DNS", LOOK, || {
        (resolve(&client_ns, &dns, "tasks.web")? == want).then_some(())
    })?;
    ensure!(!c.node(0).running_containers()?.contains(&bad_id));
    Ok(())
}

const KEEP: &str = r#"
[services.db]
image = "demo/busybox:1"
command = ["sh", "-c", "mkdir -p /www && echo ok > /www/ok && exec httpd -f -p 8080 -h /www"]
ports = ["18183:8080"]
healthcheck = { test = ["CMD-SHELL", "cat /www/ok"], interval = "500ms", start_interval = "200ms", timeout = "2s", retries = 1, restart_on_unhealthy = false }
stop = { signal = "SIGKILL", grace_period = "1s" }

[services.hang]
image = "demo/busybox:1"
command = ["sleep", "7200"]
healthcheck = { test = ["CMD", "sleep", "3600"], interval = "1s", start_interval = "1s", timeout = "300ms", retries = 1000, restart_on_unhealthy = false }
stop = { signal = "SIGKILL", grace_period = "1s" }

[services.client]
image = "demo/busybox:1"
command = ["sleep", "3600"]
stop = { signal = "SIGKILL", grace_period = "1s" }
"#;

/// `restart_on_unhealthy = false`: an unhealthy task keeps running, out of DNS and of
/// its port's backends, and is back once it passes again. A CMD probe that hangs past
/// its timeout is killed and its exec process deleted: containerd holds none.
#[test]
fn an_unhealthy_task_kept_running_stays_out_and_a_hung_probe_leaves_nothing() -> Result<()> {
    let c = one_node()?;
    deploy(&c, "hc3", KEEP)?;
    let (client, db) = c.poll(harness::CONVERGE, "db healthy", LOOK, || {
        let client = live(&c, "hc3_client").pop()?;
        let db = live(&c, "hc3_db")
            .pop()
            .filter(|t| health_of(t) == "healthy")?;
        Some((client, db))
    })?;
    let client_ns = netns_of(&c, &s(&client["id"]));
    let dns = gateway_of(&s(&client["address"]));
    let (db_id, db_addr) = (s(&db["id"]), s(&db["address"]));
    c.poll(
        harness::CONVERGE,
        "db in DNS and behind its port",
        LOOK,
        || {
            (resolve(&client_ns, &dns, "db")? == [db_addr.clone()]
                && port_backends(&c, 8080) == [format!("{db_addr}:8080")])
            .then_some(())
        },
    )?;
    exec_in(&c, &db_id, "breakdb", &["rm", "/www/ok"])?;
    c.poll(
        harness::CONVERGE,
        "db unhealthy, out of DNS and the port",
        LOOK,
        || {
            let t = live(&c, "hc3_db").pop()?;
            (s(&t["id"]) == db_id && health_of(&t) == "unhealthy").then_some(())?;
            (resolve(&client_ns, &dns, "db")?.is_empty() && port_backends(&c, 8080).is_empty())
                .then_some(())
        },
    )?;
    let table = c.node(0).ok(&["service", "ps", "hc3_db"])?;
    ensure!(table.contains("running (unhealthy"), "{table}");
    // Kept running: the same task passes again once the file is back.
    exec_in(&c, &db_id, "fixdb", &["sh", "-c", "echo ok > /www/ok"])?;
    c.poll(
        harness::CONVERGE,
        "the same db task healthy and back",
        LOOK,
        || {
            let t = live(&c, "hc3_db").pop()?;
            (s(&t["id"]) == db_id && health_of(&t) == "healthy").then_some(())?;
            (resolve(&client_ns, &dns, "db")? == [db_addr.clone()]).then_some(())
        },
    )?;
    let all = ps(&c, "hc3_db", true);
    ensure!(all.len() == 1, "no task was replaced: {all:?}");

    // The hung CMD probe: it times out and is killed (the first result is reported;
    // the log is refreshed in Raft once a minute after that).
    let hang = c.poll(harness::CONVERGE, "a timed-out probe", LOOK, || {
        let t = live(&c, "hc3_hang").pop()?;
        let log = t["health"]["log"].as_array()?.clone();
        log.iter()
            .any(|r| r["exit_code"] == -1 && s(&r["output"]).contains("timeout"))
            .then_some(t)
    })?;
    ensure!(health_of(&hang) == "starting", "{hang}");
    let hang_id = s(&hang["id"]);
    // Between two probes, the container holds its own processes only: no exec process
    // (ctr shows its exec id in INFO) and no `sleep 3600` probe left behind.
    let mut last = Vec::new();
    c.poll(harness::CONVERGE, "no leftover exec process", LOOK, || {
        last = task_pids(&c, &hang_id);
        let leftover = last
            .iter()
            .any(|(pid, info)| info.contains("health-") || cmdline(*pid) == "sleep 3600");
        (!last.is_empty() && !leftover).then_some(())
    })
    .with_context(|| format!("processes: {last:?}"))?;
    // Several probes later, still nothing accumulated.
    let probes_dir = c.node(0).data_dir().join("probes");
    c.poll(
        harness::CONVERGE,
        "probe output files removed",
        LOOK,
        || {
            let n = std::fs::read_dir(&probes_dir)
                .map(|d| d.count())
                .unwrap_or(0);
            (n == 0).then_some(())
        },
    )?;
    let pids = task_pids(&c, &hang_id);
    let sleeps = pids
        .iter()
        .filter(|(p, _)| cmdline(*p) == "sleep 3600")
        .count();
    ensure!(sleeps <= 1, "hung probes pile up: {pids:?}");
    Ok(())
}

/// Docker's `config.Healthcheck` of the second test image: durations in nanoseconds.
const IMAGE_CHECK: &str = r#"{"Test":["CMD-SHELL","cat /tmp/img-ok"],"Interval":500000000,"StartInterval":200000000,"Retries":1}"#;

const FROM_IMAGE: &str = r#"
[services.own]
image = "demo/busybox-hc:1"
command = ["sh", "-c", "echo image-check > /tmp/img-ok && exec sleep 3600"]
stop = { signal = "SIGKILL", grace_period = "1s" }

[services.off]
image = "demo/busybox-hc:1"
command = ["sleep", "3600"]
healthcheck = { test = ["NONE"] }
stop = { signal = "SIGKILL", grace_period = "1s" }

[services.mine]
image = "demo/busybox-hc:1"
command = ["sleep", "3600"]
healthcheck = { test = ["CMD-SHELL", "echo stack-check"] }
stop = { signal = "SIGKILL", grace_period = "1s" }
"#;

/// The image's own HEALTHCHECK applies when the stack sets none; `["NONE"]` turns it
/// off; a stack test replaces the image's (the field-by-field merge itself is
/// unit-tested in orc-spec's `health.rs`).
#[test]
fn the_images_own_check_applies_unless_the_stack_says_otherwise() -> Result<()> {
    let c = one_node()?;
    let img = orc_testbed::busybox_image_with_healthcheck("demo/busybox-hc:1", "hc", IMAGE_CHECK)?;
    c.node(0).ok(&["image", "load", &img.to_string_lossy()])?;
    deploy(&c, "hc4", FROM_IMAGE)?;
    let (own, off, mine) = c
        .poll(
            harness::CONVERGE,
            "own and mine healthy, off running",
            LOOK,
            || {
                let own = live(&c, "hc4_own")
                    .pop()
                    .filter(|t| health_of(t) == "healthy")?;
                let off = live(&c, "hc4_off").pop()?;
                let mine = live(&c, "hc4_mine")
                    .pop()
                    .filter(|t| health_of(t) == "healthy")?;
                Some((own, off, mine))
            },
        )
        .with_context(|| c.describe(0, "hc4_own"))?;
    let outputs = |t: &Value| -> Vec<String> {
        t["health"]["log"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| s(&r["output"]))
            .collect()
    };
    ensure!(
        outputs(&own).iter().any(|o| o.contains("image-check")),
        "the image's check ran: {own}"
    );
    ensure!(off["health"].is_null(), "NONE: no check at all: {off}");
    ensure!(
        outputs(&mine).iter().any(|o| o.contains("stack-check")),
        "the stack's test ran: {mine}"
    );
    Ok(())
}
