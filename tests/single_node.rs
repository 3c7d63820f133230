//! One node, end to end: the real orc binary, a real containerd + runc.

use anyhow::{ensure, Context, Result};
use orc_testbed::orc_node::OrcNode;
use orc_testbed::{busybox_image, poll_until, ImageFormat};
use serde_json::Value;
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18080)
}

fn node_with_image() -> Result<OrcNode> {
    let n = OrcNode::start_initialised()?;
    let img = busybox_image(ImageFormat::Oci)?;
    n.ok(&["image", "load", img.to_str().context("path")?])?;
    Ok(n)
}

fn write_stack(n: &OrcNode, name: &str, body: &str) -> Result<String> {
    let p = n.dir().join(format!("{name}.toml"));
    std::fs::write(&p, body)?;
    Ok(p.to_string_lossy().into_owned())
}

fn service<'a>(rows: &'a Value, name: &str) -> Option<&'a Value> {
    rows.as_array()?.iter().find(|r| r["name"] == name)
}

fn running_of(n: &OrcNode, name: &str) -> Result<(u64, u64)> {
    let rows = n.json(&["service", "ls"])?;
    let s = service(&rows, name).with_context(|| format!("{name} not in {rows}"))?;
    Ok((
        s["running"].as_u64().unwrap_or(0),
        s["desired"].as_u64().unwrap_or(0),
    ))
}

/// `GET /` of `127.0.0.1:port` on the node (in its own namespace): status line,
/// headers and body.
fn http_get(n: &OrcNode, port: u16) -> Option<String> {
    let out = n
        .command("curl")
        .args(["-s", "-i", "-m", "2", &format!("http://127.0.0.1:{port}/")])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn deploy_scale_and_remove_leave_nothing_behind() -> Result<()> {
    let n = node_with_image()?;
    let port = free_port();
    let stack = write_stack(
        &n,
        "demo",
        &format!(
            r#"
[services.web]
image = "demo/busybox:1"
command = ["sh", "-c", "mkdir -p /tmp/www && echo hello-from-orc > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:{port} -h /tmp/www"]
network_mode = "host"
mounts = [{{ type = "tmpfs", target = "/tmp" }}]

[services.worker]
image = "demo/busybox:1"
command = ["sh", "-c", "echo worker-started; exec sleep 3600"]
replicas = 2
stop = {{ signal = "SIGKILL", grace_period = "1s" }}
"#
        ),
    )?;
    let out = n.ok(&["stack", "deploy", &stack, "--timeout", "60"])?;
    ensure!(out.contains("converged"), "deploy output: {out}");
    assert_eq!(running_of(&n, "demo_worker")?, (2, 2));
    assert_eq!(running_of(&n, "demo_web")?, (1, 1));
    // containerd itself runs exactly those three.
    assert_eq!(n.running_containers()?.len(), 3);
    let body = poll_until(Duration::from_secs(10), "httpd to answer", || {
        http_get(&n, port).filter(|b| b.contains("hello-from-orc"))
    })?;
    assert!(body.contains("200"), "{body}");

    // Deploying the same file again changes nothing.
    let before = n.running_containers()?;
    let out = n.ok(&["stack", "deploy", &stack])?;
    assert!(out.contains("0 created, 0 updated, 2 unchanged"), "{out}");
    assert_eq!(n.running_containers()?, before);

    // Logs of a service.
    let logs = poll_until(Duration::from_secs(10), "worker logs", || {
        n.ok(&["service", "logs", "demo_worker"])
            .ok()
            .filter(|l| l.matches("worker-started").count() == 2)
    })?;
    assert!(logs.contains("demo_worker.1"), "{logs}");

    // Scale up and down; containerd follows.
    n.ok(&["service", "scale", "demo_worker=4"])?;
    assert_eq!(running_of(&n, "demo_worker")?, (4, 4));
    assert_eq!(n.running_containers()?.len(), 5);
    n.ok(&["service", "scale", "demo_worker=1"])?;
    assert_eq!(running_of(&n, "demo_worker")?, (1, 1));
    poll_until(CONVERGE, "containerd to run 2 containers", || {
        (n.running_containers().ok()?.len() == 2).then_some(())
    })?;

    // Listings.
    let stacks = n.json(&["stack", "ls"])?;
    assert_eq!(
        stacks,
        serde_json::json!([{ "name": "demo", "services": 2 }])
    );
    let ps = n.json(&["service", "ps", "demo_worker"])?;
    assert_eq!(ps.as_array().map(|a| a.len()), Some(1), "{ps}");
    assert_eq!(ps[0]["state"], "running");
    let table = n.ok(&["service", "ls"])?;
    assert!(
        table.starts_with("ID") && table.contains("demo_worker") && table.contains("1/1"),
        "{table}"
    );

    // Remove: no container, task, active snapshot or log left.
    n.ok(&["stack", "rm", "demo"])?;
    assert!(
        n.containers()?.is_empty(),
        "containers left: {:?}",
        n.containers()?
    );
    assert_eq!(n.json(&["service", "ls"])?, serde_json::json!([]));
    let snaps = n.ctr(&["snapshots", "ls"])?;
    assert!(!snaps.contains("Active"), "active snapshots left:\n{snaps}");
    let logs_dir = n.data_dir().join("logs");
    poll_until(Duration::from_secs(10), "log dirs to be removed", || {
        (std::fs::read_dir(&logs_dir).ok()?.count() == 0).then_some(())
    })?;
    Ok(())
}

fn kill_container(n: &OrcNode, id: &str) -> Result<()> {
    n.ctr(&["tasks", "kill", "--signal", "SIGKILL", id])?;
    Ok(())
}

fn tasks(n: &OrcNode, svc: &str) -> Result<Vec<Value>> {
    Ok(n.json(&["service", "ps", svc, "--all"])?
        .as_array()
        .cloned()
        .unwrap_or_default())
}

#[test]
fn restart_policy_is_followed() -> Result<()> {
    let n = node_with_image()?;
    let stack = write_stack(
        &n,
        "rp",
        r#"
[services.always]
image = "demo/busybox:1"
command = ["sleep", "3600"]
restart = { condition = "any", delay = "200ms" }
stop = { signal = "SIGKILL", grace_period = "1s" }

[services.never]
image = "demo/busybox:1"
command = ["sleep", "3600"]
restart = { condition = "none" }
stop = { signal = "SIGKILL", grace_period = "1s" }
"#,
    )?;
    n.ok(&["stack", "deploy", &stack])?;
    let first_always = tasks(&n, "rp_always")?[0]["id"]
        .as_str()
        .context("id")?
        .to_string();
    let first_never = tasks(&n, "rp_never")?[0]["id"]
        .as_str()
        .context("id")?
        .to_string();
    kill_container(&n, &first_always)?;
    kill_container(&n, &first_never)?;

    // `any`: a new task runs in the slot; the old one is failed with exit 137.
    let ts = poll_until(CONVERGE, "rp_always to restart", || {
        let ts = tasks(&n, "rp_always").ok()?;
        let running = ts
            .iter()
            .any(|t| t["state"] == "running" && t["id"] != first_always.as_str());
        running.then_some(ts)
    })?;
    let old = ts
        .iter()
        .find(|t| t["id"] == first_always.as_str())
        .context("old task kept in history")?;
    assert_eq!(old["state"], "failed");
    assert_eq!(old["exit_code"], 137);
    assert!(n.running_containers()?.iter().any(|c| c != &first_always));

    // `none`: the task is failed and nothing replaces it.
    poll_until(CONVERGE, "rp_never to fail", || {
        let ts = tasks(&n, "rp_never").ok()?;
        ts.iter()
            .any(|t| t["id"] == first_never.as_str() && t["state"] == "failed")
            .then_some(())
    })?;
    // Make the manager do more passes over the whole state (a scale it must carry out),
    // then check it made no replacement for `none`.
    n.ok(&["service", "scale", "rp_always=2"])?;
    let never = tasks(&n, "rp_never")?;
    assert_eq!(never.len(), 1, "{never:?}");
    assert_eq!(running_of(&n, "rp_never")?.0, 0);
    Ok(())
}

/// `ctr tasks ls` as sorted (task, pid, status) rows: ctr lists in no fixed order.
fn task_pids(n: &OrcNode) -> Result<Vec<Vec<String>>> {
    let out = n.ctr(&["tasks", "ls"])?;
    let mut rows: Vec<Vec<String>> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .filter(|r: &Vec<String>| !r.is_empty())
        .collect();
    rows.sort();
    Ok(rows)
}

#[test]
fn daemon_sigkill_recovers_state_and_adopts_containers() -> Result<()> {
    let mut n = node_with_image()?;
    let stack = write_stack(
        &n,
        "keep",
        r#"
[services.app]
image = "demo/busybox:1"
command = ["sleep", "3600"]
replicas = 2
stop = { signal = "SIGKILL", grace_period = "1s" }
"#,
    )?;
    n.ok(&["stack", "deploy", &stack])?;
    let before = n.running_containers()?;
    assert_eq!(before.len(), 2);
    let pids_before = task_pids(&n)?;
    assert_eq!(pids_before.len(), 2, "{pids_before:?}");

    n.kill_daemon()?;
    // While the daemon is down: a container no task owns appears.
    n.ctr(&[
        "run",
        "-d",
        "docker.io/demo/busybox:1",
        "stray-container-x",
        "sleep",
        "3600",
    ])?;
    n.restart_daemon()?;

    poll_until(CONVERGE, "the stray container to be removed", || {
        (!n.containers()
            .ok()?
            .iter()
            .any(|c| c == "stray-container-x"))
        .then_some(())
    })?;
    assert_eq!(running_of(&n, "keep_app")?, (2, 2));
    // Same containers, same processes: adopted, not restarted.
    assert_eq!(n.running_containers()?, before);
    assert_eq!(task_pids(&n)?, pids_before);
    let stacks = n.json(&["stack", "ls"])?;
    assert_eq!(stacks[0]["name"], "keep");
    Ok(())
}

#[test]
fn unschedulable_task_stays_pending_with_reason() -> Result<()> {
    let n = node_with_image()?;
    let stack = write_stack(
        &n,
        "big",
        r#"
[services.hog]
image = "demo/busybox:1"
command = ["sleep", "3600"]
resources = { reservations = { memory = "100000G" } }
"#,
    )?;
    n.ok(&["stack", "deploy", &stack, "--detach"])?;
    let ps = poll_until(CONVERGE, "a pending reason", || {
        let ps = n.json(&["service", "ps", "big_hog"]).ok()?;
        let msg = ps[0]["message"].as_str()?.to_string();
        (ps[0]["state"] == "pending" && msg.contains("memory")).then_some(msg)
    })?;
    assert!(ps.contains("no suitable node"), "{ps}");
    assert!(n.running_containers()?.is_empty());
    Ok(())
}

#[test]
fn invalid_stack_is_rejected_and_changes_nothing() -> Result<()> {
    let n = OrcNode::start_initialised()?;
    let stack = write_stack(
        &n,
        "bad",
        "[services.web]\nimage = \"demo/busybox:1\"\nreplicas = -2\n",
    )?;
    let out = n.orc(&["stack", "deploy", &stack])?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:3:") && err.contains("services.web.replicas"),
        "{err}"
    );
    assert_eq!(n.json(&["stack", "ls"])?, serde_json::json!([]));
    // A port another stack publishes, or orc's own cluster port: refused, naming both.
    let web = |port: &str| {
        format!("[services.web]\nimage = \"demo/busybox:1\"\nports = [\"{port}:80\"]\n")
    };
    let one = write_stack(&n, "one", &web("18080"))?;
    n.ok(&["stack", "deploy", "--detach", &one])?;
    for (name, port, want) in [
        (
            "two",
            "18080",
            "already published by service one_web".to_string(),
        ),
        (
            "three",
            n.listen().rsplit(':').next().unwrap_or_default(),
            "orc's cluster port".to_string(),
        ),
    ] {
        let path = write_stack(&n, name, &web(port))?;
        let out = n.orc(&["stack", "deploy", "--detach", &path])?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}_web")) && err.contains(&want),
            "{name}: {err}"
        );
    }
    let stacks = n.json(&["stack", "ls"])?;
    assert_eq!(stacks.as_array().map(Vec::len), Some(1), "{stacks}");
    n.ok(&["stack", "rm", "one"])?;
    // validate needs no daemon at all.
    let out = std::process::Command::new(orc_testbed::orc_binary()?)
        .args([
            "--socket",
            "/nonexistent/orc.sock",
            "stack",
            "validate",
            &stack,
        ])
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("services.web.replicas"));
    Ok(())
}

#[test]
fn service_logs_follow_streams_new_lines() -> Result<()> {
    let n = node_with_image()?;
    let stack = write_stack(
        &n,
        "lg",
        r#"
[services.ticker]
image = "demo/busybox:1"
command = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done"]
stop = { signal = "SIGKILL", grace_period = "1s" }
"#,
    )?;
    n.ok(&["stack", "deploy", &stack])?;
    let follow = n.orc_stream(&["service", "logs", "lg_ticker", "--follow", "--tail", "1"])?;
    // Lines keep arriving after the command started: --follow streams, in order.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut ticks: Vec<u64> = Vec::new();
    while ticks.len() < 5 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = follow
            .lines
            .recv_timeout(left)
            .with_context(|| format!("only got {ticks:?}"))?;
        if let Some(i) = line
            .split("tick-")
            .nth(1)
            .and_then(|s| s.trim().parse().ok())
        {
            assert!(line.starts_with("lg_ticker.1"), "{line}");
            ticks.push(i);
        }
    }
    drop(follow);
    assert!(
        ticks.windows(2).all(|w| w[1] > w[0]),
        "not in order: {ticks:?}"
    );
    Ok(())
}

/// The agent asks containerd nothing while the node is idle: what changes behind its
/// back reaches it as containerd's events, well before its 60 s full pass.
#[test]
fn changes_behind_orcs_back_reach_the_agent_as_containerd_events() -> Result<()> {
    let n = node_with_image()?;
    // Idle: the load's own pass and inventory report are done.
    poll_until(CONVERGE, "the loaded image in the node's inventory", || {
        let v = n.json(&["image", "ls"]).ok()?;
        v.as_array()?
            .iter()
            .any(|r| r["nodes"].as_array().is_some_and(|a| !a.is_empty()))
            .then_some(())
    })?;
    let stray = orc_testbed::unique_id("stray");
    // A container alone (ctr exits once it is made): the agent may remove it at once.
    n.ctr(&[
        "containers",
        "create",
        "docker.io/demo/busybox:1",
        &stray,
        "sleep",
        "3600",
    ])?;
    n.ctr(&[
        "images",
        "tag",
        "docker.io/demo/busybox:1",
        "docker.io/demo/busybox:copy",
    ])?;
    // Deadlines well under the full pass: only an event can meet them.
    let soon = Duration::from_secs(20);
    poll_until(soon, "the stray container to be removed", || {
        (!n.containers().ok()?.contains(&stray)).then_some(())
    })?;
    poll_until(soon, "the tagged image in the node's inventory", || {
        let v = n.json(&["image", "ls"]).ok()?;
        v.as_array()?
            .iter()
            .any(|r| {
                r["name"]
                    .as_str()
                    .is_some_and(|s| s.ends_with("busybox:copy"))
                    && r["nodes"].as_array().is_some_and(|a| !a.is_empty())
            })
            .then_some(())
    })?;
    Ok(())
}
