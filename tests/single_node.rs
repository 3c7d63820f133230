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

/// The README's first steps: `examples/hello` deployed, scaled to 3, answering on the
/// node's 127.0.0.1 through its published port from every task; a service whose tasks
/// keep failing is reported as failing (with the reason), not as converged, and
/// `service ps` shows each slot's last failure without `--all`.
#[test]
fn the_readme_example_scales_to_three_and_answers_on_localhost() -> Result<()> {
    let n = node_with_image()?;
    let example = orc_testbed::repo_root().join("examples/hello/stack.toml");
    let out = n.orc(&["stack", "deploy", example.to_str().context("path")?])?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    ensure!(stdout.contains("converged"), "deploy: {stdout}{stderr}");
    // The image came from `orc image load`: no registry is asked (none is reachable
    // here, so asking would say "not pinned (registry unreachable …)").
    ensure!(
        !stderr.contains("pinned") && !stderr.contains("registry"),
        "deploy asked a registry for a loaded image: {stderr}"
    );
    let out = n.orc(&["service", "scale", "hello_web=3"])?;
    ensure!(
        out.status.success() && String::from_utf8_lossy(&out.stderr).contains("3/3 running"),
        "scale: {out:?}"
    );
    assert_eq!(running_of(&n, "hello_web")?, (3, 3));
    let ps = n.json(&["service", "ps", "hello_web"])?;
    let addresses: Vec<String> = ps
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "running")
        .filter_map(|t| t["address"].as_str().map(str::to_string))
        .collect();
    ensure!(addresses.len() == 3, "{ps}");
    // Every task answers on its own address …
    for a in &addresses {
        let body = poll_until(CONVERGE, &format!("task {a}"), || {
            let out = n
                .command("curl")
                .args(["-s", "-m", "2", &format!("http://{a}/")])
                .output()
                .ok()?;
            let b = String::from_utf8_lossy(&out.stdout).into_owned();
            b.contains("hello from orc").then_some(b)
        })?;
        ensure!(body.contains("hello from orc"));
    }
    // … and the published port on 127.0.0.1 and localhost spreads over them: every
    // one of 30 requests answers (one dead backend would fail about a third).
    for host in ["127.0.0.1", "localhost"] {
        for i in 0..30 {
            let out = n
                .command("curl")
                .args(["-s", "-m", "5", &format!("http://{host}:8080/")])
                .output()?;
            let body = String::from_utf8_lossy(&out.stdout);
            ensure!(
                body.contains("hello from orc"),
                "request {i} to {host}:8080 got {body:?} ({})",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    n.ok(&["stack", "rm", "hello"])?;

    // The old example: host networking, three tasks on one port. Two fail with
    // "Address already in use" right after starting.
    let stack = write_stack(
        &n,
        "clash",
        r#"
[services.web]
image = "demo/busybox:1"
command = ["sh", "-c", "mkdir -p /tmp/www && exec httpd -f -p 18091 -h /tmp/www"]
network_mode = "host"
replicas = 3
restart = { condition = "any", delay = "1s" }
mounts = [{ type = "tmpfs", target = "/tmp" }]
stop = { signal = "SIGKILL", grace_period = "1s" }
"#,
    )?;
    let out = n.orc(&["stack", "deploy", &stack, "--timeout", "60"])?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "deploy said it converged:\n{text}");
    ensure!(
        text.contains("clash_web is not running") && text.contains("exited with code 1"),
        "deploy output lacks the failure and its reason:\n{text}"
    );
    ensure!(!text.contains("converged"), "{text}");
    // service scale says the same.
    let out = n.orc(&["service", "scale", "clash_web=2", "--timeout", "60"])?;
    ensure!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("clash_web is not running"),
        "scale: {out:?}"
    );
    // service ps, without --all: the slots that keep failing show their last failure.
    let table = n.ok(&["service", "ps", "clash_web"])?;
    ensure!(
        table.contains(" \\_ clash_web.") && table.contains("exited with code 1"),
        "service ps hides the failures:\n{table}"
    );
    let ps = n.json(&["service", "ps", "clash_web"])?;
    let rows = ps.as_array().cloned().unwrap_or_default();
    let failed: Vec<&Value> = rows.iter().filter(|t| t["state"] == "failed").collect();
    ensure!(!failed.is_empty(), "{ps}");
    // At most one failure per slot by default; --all lists them all.
    let mut slots: Vec<u64> = failed.iter().filter_map(|t| t["slot"].as_u64()).collect();
    let before = slots.len();
    slots.dedup();
    ensure!(slots.len() == before, "several failures of one slot: {ps}");
    let all = n.json(&["service", "ps", "clash_web", "--all"])?;
    ensure!(
        all.as_array().map_or(0, Vec::len) >= rows.len(),
        "--all lists fewer: {all}"
    );
    n.ok(&["stack", "rm", "clash"])?;
    Ok(())
}

/// `deploy/quickstart.sh` as the README gives it (as root, no sudo), run in a network
/// namespace of its own as the machine, with the demo directory in a temp dir and the
/// orc binary already built; `stop` on drop too, so a failing test cleans up.
struct Quickstart {
    ns: orc_testbed::SoloNetns,
    dir: tempfile::TempDir,
    stopped: bool,
}

impl Quickstart {
    fn demo(&self) -> std::path::PathBuf {
        self.dir.path().join("demo")
    }

    fn script(&self, args: &[&str]) -> Result<std::process::Output> {
        let out = self
            .ns
            .command("timeout")
            .args(["300", "./deploy/quickstart.sh"])
            .args(args)
            .current_dir(orc_testbed::repo_root())
            .env("ORC_DEMO_DIR", self.demo())
            .env("ORC_BINARY", orc_testbed::orc_binary()?)
            .output()?;
        Ok(out)
    }

    fn orc(&self, args: &[&str]) -> Result<std::process::Output> {
        Ok(self
            .ns
            .command(&self.demo().join("orc").to_string_lossy())
            .args(["--socket", &self.demo().join("orc.sock").to_string_lossy()])
            .args(args)
            .output()?)
    }

    /// The lines of `program args` run in the namespace.
    fn inside(&self, program: &str, args: &[&str]) -> String {
        self.ns
            .command(program)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.script(&["stop"]);
        }
    }
}

#[test]
fn quickstart_stop_leaves_the_machine_as_it_was() -> Result<()> {
    let mut q = Quickstart {
        ns: orc_testbed::SoloNetns::new()?,
        dir: tempfile::Builder::new()
            .prefix("orc-quickstart-")
            .tempdir()?,
        stopped: false,
    };
    let out = q.script(&[])?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "quickstart failed:\n{text}");
    let hello = poll_until(CONVERGE, "hello on 127.0.0.1:8080", || {
        let body = q.inside("curl", &["-s", "-m", "2", "http://127.0.0.1:8080/"]);
        body.contains("hello from orc").then_some(body)
    })?;
    ensure!(hello.contains("hello from orc"));
    // The newcomer deploys more: another stack, on the stack network and on the host's.
    let marker = format!("qs{}", std::process::id());
    let stack = q.dir.path().join("more.toml");
    std::fs::write(
        &stack,
        format!(
            r#"
[services.web]
image = "demo/busybox:1"
command = ["sh", "-c", "mkdir -p /tmp/{marker} && exec httpd -f -p 80 -h /tmp/{marker}"]
ports = ["8081:80", {{ published = 8082, target = 80, mode = "host" }}]
replicas = 2
mounts = [{{ type = "tmpfs", target = "/tmp" }}]

[services.hostnet]
image = "demo/busybox:1"
command = ["sh", "-c", "exec sleep 36{}"]
network_mode = "host"
"#,
            std::process::id() % 100 + 100
        ),
    )?;
    let out = q.orc(&["stack", "deploy", &stack.to_string_lossy()])?;
    ensure!(out.status.success(), "{out:?}");
    let sleep_arg = format!("36{}", std::process::id() % 100 + 100);
    let apps = || -> usize {
        let ps = std::process::Command::new("ps")
            .args(["-eo", "args"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        ps.lines()
            .filter(|l| {
                l.contains(&format!("/tmp/{marker}")) || l.ends_with(&format!("sleep {sleep_arg}"))
            })
            .count()
    };
    ensure!(
        apps() == 3,
        "expected 3 application processes, found {}",
        apps()
    );
    // Both published ports answer on the loopback: ingress and host mode (an empty
    // directory: httpd answers 404).
    for port in [8081, 8082] {
        poll_until(CONVERGE, &format!("127.0.0.1:{port}"), || {
            let url = format!("http://127.0.0.1:{port}/");
            let code = q.inside(
                "curl",
                &[
                    "-s",
                    "-m",
                    "2",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    &url,
                ],
            );
            (code == "404").then_some(())
        })?;
    }
    ensure!(q.inside("ip", &["link", "show", "orc0"]).contains("orc0"));
    ensure!(q
        .inside("nft", &["list", "tables"])
        .contains("table ip orc"));

    let out = q.script(&["stop"])?;
    q.stopped = true;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "stop failed:\n{text}");
    ensure!(
        text.contains("removed bridge orc0") && text.contains("removed nftables table ip orc"),
        "stop did not say what it removed:\n{text}"
    );
    // Nothing left: no process in the machine's namespace (containerd, daemon, shims,
    // loggers, host-network containers), nor any application process elsewhere, no
    // bridge, no table, no route_localnet, no mount, no directory.
    let pids = std::process::Command::new("ip")
        .args(["netns", "pids", q.ns.name()])
        .output()?;
    let pids = String::from_utf8_lossy(&pids.stdout).into_owned();
    ensure!(pids.trim().is_empty(), "processes left: {pids}\n{text}");
    ensure!(apps() == 0, "application processes left\n{text}");
    let links = q.inside("ip", &["-o", "link", "show"]);
    ensure!(!links.contains("orc"), "links left: {links}");
    let tables = q.inside("nft", &["list", "tables"]);
    ensure!(tables.trim().is_empty(), "tables left: {tables}");
    let localnet = q.inside("sysctl", &["-n", "net.ipv4.conf.all.route_localnet"]);
    ensure!(localnet.trim() == "0", "route_localnet {localnet}");
    let demo = q.demo().to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/mounts")?;
    ensure!(!mounts.contains(&demo), "mounts left under {demo}");
    ensure!(!q.demo().exists(), "{demo} left");
    Ok(())
}

/// README.md gives exactly two commands to a newcomer on a fresh Debian 12 machine; they
/// run as root without sudo (the scripts only use sudo to become root), the quickstart
/// one is run verbatim by `quickstart_stop_leaves_the_machine_as_it_was`, and CI runs
/// the test one.
#[test]
fn the_readme_commands_are_the_scripts_ci_and_the_tests_run() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let root = orc_testbed::repo_root();
    let readme = std::fs::read_to_string(root.join("README.md"))?;
    let block_after = |heading: &str| -> Option<String> {
        let rest = &readme[readme.find(heading)?..];
        let start = rest.find("```\n")? + 4;
        let end = rest[start..].find("```")?;
        Some(rest[start..start + end].trim().to_string())
    };
    ensure!(
        block_after("## Try it").as_deref() == Some("./deploy/quickstart.sh"),
        "{:?}",
        block_after("## Try it")
    );
    ensure!(
        block_after("## Run the tests").as_deref() == Some("./tests/run.sh"),
        "{:?}",
        block_after("## Run the tests")
    );
    ensure!(!readme.contains("sudo ./"), "README still says sudo");
    let ci = std::fs::read_to_string(root.join(".ci/run"))?;
    ensure!(ci.contains("exec ./tests/run.sh"), "{ci}");
    for script in ["deploy/quickstart.sh", "tests/run.sh", ".ci/run"] {
        let mode = std::fs::metadata(root.join(script))?.permissions().mode();
        ensure!(mode & 0o111 != 0, "{script} is not executable");
        let text = std::fs::read_to_string(root.join(script))?;
        // sudo only on the way to root (the block run when not root), never as root.
        let mut not_root = false;
        for l in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            if l.contains("\"$(id -u)\" != 0") {
                not_root = true;
            } else if not_root && l == "fi" {
                not_root = false;
            }
            ensure!(
                not_root || !l.contains("sudo"),
                "{script} uses sudo as root: {l}"
            );
        }
    }
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
