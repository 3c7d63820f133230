//! The Docker-Engine-API-compatible socket, end to end: the real `docker` CLI (its
//! client only; no Docker engine runs) and raw HTTP calls replaying what Traefik,
//! Telegraf and Portainer send, against a real orc daemon on real containerd. Each
//! answer is checked against orc's own view of the same cluster.

#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;

use anyhow::{ensure, Context, Result};
use orc_testbed::orc_node::OrcNode;
use orc_testbed::{busybox_image, poll_until, ImageFormat};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(60);

fn node_with_image() -> Result<OrcNode> {
    let n = OrcNode::start_initialised()?;
    let img = busybox_image(ImageFormat::Oci)?;
    n.ok(&["image", "load", img.to_str().context("path")?])?;
    poll_until(Duration::from_secs(10), "the docker socket", || {
        n.docker_socket().exists().then_some(())
    })?;
    Ok(n)
}

fn docker_bin() -> &'static str {
    if Path::new("/usr/local/bin/docker").exists() {
        "/usr/local/bin/docker"
    } else {
        "docker"
    }
}

/// `docker ARGS` against `socket` (a private config dir: no user settings).
fn docker_at(n: &OrcNode, socket: &Path, args: &[&str]) -> Result<Output> {
    let cfg = n.dir().join("docker-config");
    std::fs::create_dir_all(&cfg)?;
    Ok(Command::new(docker_bin())
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .env("DOCKER_CONFIG", &cfg)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_API_VERSION")
        .args(args)
        .output()?)
}

/// `docker ARGS` that must succeed: its standard output.
fn docker(n: &OrcNode, args: &[&str]) -> Result<String> {
    let o = docker_at(n, &n.docker_socket(), args)?;
    ensure!(
        o.status.success(),
        "docker {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// A raw HTTP call on a socket: (status, body).
fn http(socket: &Path, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
    let mut c = Command::new("curl");
    c.args(["-s", "-S", "-m", "20"]);
    if method == "HEAD" {
        c.arg("-I");
    } else {
        c.args(["-X", method]);
    }
    c.arg("--unix-socket")
        .arg(socket)
        .args(["-w", "\n%{http_code}"]);
    if let Some(b) = body {
        c.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    c.arg(format!("http://docker{path}"));
    let o = c.output()?;
    ensure!(
        o.status.success(),
        "curl {path}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').context("no status")?;
    Ok((code.trim().parse()?, body.to_string()))
}

fn get_json(n: &OrcNode, path: &str) -> Result<Value> {
    let (code, body) = http(&n.docker_socket(), "GET", path, None)?;
    ensure!(code == 200, "GET {path}: {code} {body}");
    serde_json::from_str(&body).with_context(|| format!("GET {path}: {body}"))
}

fn orc_service<'a>(rows: &'a Value, name: &str) -> Option<&'a Value> {
    rows.as_array()?.iter().find(|r| r["name"] == name)
}

fn orc_desired(n: &OrcNode, name: &str) -> Result<Option<(u64, u64, String)>> {
    let rows = n.json(&["service", "ls"])?;
    Ok(orc_service(&rows, name).map(|s| {
        (
            s["running"].as_u64().unwrap_or(0),
            s["desired"].as_u64().unwrap_or(0),
            s["image"].as_str().unwrap_or("").to_string(),
        )
    }))
}

const COMPOSE: &str = r#"
services:
  agent:
    image: demo/busybox:1
    command: ["sh", "-c", "test -S /var/run/docker.sock && echo docker-socket-present; echo token-$$(cat /run/secrets/token); exec sleep 3600"]
    stop_grace_period: 1s
    secrets: [token]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock:ro
  web:
    image: demo/busybox:1
    command: ["sh", "-c", "echo hello-from-docker-stack; exec sleep 3600"]
    environment:
      GREETING: hi
    stop_grace_period: 1s
    networks: [front]
    ports:
      - "PUBLISHED:8080"
    deploy:
      replicas: 2
      update_config:
        parallelism: 1
        order: start-first
        failure_action: rollback
      labels:
        traefik.enable: "true"
        traefik.http.services.web.loadbalancer.server.port: "80"
networks:
  front: {}
secrets:
  token:
    file: ./token.txt
"#;

#[test]
fn the_docker_cli_drives_a_stack() -> Result<()> {
    let n = node_with_image()?;
    let v = docker(
        &n,
        &[
            "version",
            "--format",
            "{{.Server.APIVersion}} {{.Server.Version}}",
        ],
    )?;
    ensure!(v.starts_with("1.44 "), "docker version: {v}");
    let info = docker(&n, &["info", "--format", "{{json .Swarm}}"])?;
    let sw: Value = serde_json::from_str(info.trim())?;
    let orc_info = n.json(&["cluster", "info"])?;
    ensure!(
        sw["LocalNodeState"] == "active" && sw["ControlAvailable"] == true,
        "{sw}"
    );
    ensure!(sw["NodeID"] == orc_info["node_id"], "{sw} vs {orc_info}");
    let nodes = docker(
        &n,
        &[
            "node",
            "ls",
            "--format",
            "{{.ID}} {{.Hostname}} {{.Status}} {{.ManagerStatus}}",
        ],
    )?;
    let orc_nodes = n.json(&["node", "ls"])?;
    let host = orc_nodes[0]["hostname"].as_str().context("hostname")?;
    ensure!(
        nodes.contains(host) && nodes.contains("Ready") && nodes.contains("Leader"),
        "{nodes}"
    );

    // stack deploy -c: the CLI's own compose conversion, then orc's stack.
    let compose = n.dir().join("compose.yml");
    let published = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    std::fs::write(
        &compose,
        COMPOSE.replace("PUBLISHED", &published.to_string()),
    )?;
    // The stack's secret: the CLI creates it through /secrets/create.
    std::fs::write(n.dir().join("token.txt"), "from-docker-stack")?;
    let out = docker(
        &n,
        &[
            "stack",
            "deploy",
            "-c",
            compose.to_str().context("path")?,
            "--resolve-image",
            "never",
            "demo",
        ],
    )?;
    ensure!(out.contains("demo_web"), "{out}");
    let stacks = n.json(&["stack", "ls"])?;
    ensure!(
        stacks[0]["name"] == "demo" && stacks[0]["services"] == 2,
        "{stacks}"
    );
    let ls = docker(&n, &["stack", "ls", "--format", "{{.Name}} {{.Services}}"])?;
    ensure!(ls.trim() == "demo 2", "docker stack ls: {ls}");
    poll_until(CONVERGE, "demo_web 2/2", || {
        orc_desired(&n, "demo_web")
            .ok()
            .flatten()
            .filter(|s| s.0 == 2 && s.1 == 2)
    })?;
    let services = docker(
        &n,
        &[
            "stack",
            "services",
            "demo",
            "--format",
            "{{.Name}} {{.Replicas}}",
        ],
    )?;
    ensure!(
        services.contains("demo_web 2/2"),
        "docker stack services: {services}"
    );
    // The agent bind-mounts the Docker socket: it gets this node's orc socket.
    poll_until(CONVERGE, "demo_agent to see the socket", || {
        docker(&n, &["service", "logs", "demo_agent"])
            .ok()
            .filter(|l| l.contains("docker-socket-present"))
    })?;
    // Its secret reached the agent at /run/secrets/token; orc lists it (no value).
    poll_until(CONVERGE, "demo_agent to read its secret", || {
        docker(&n, &["service", "logs", "demo_agent"])
            .ok()
            .filter(|l| l.contains("token-from-docker-stack"))
    })?;
    let secrets = docker(&n, &["secret", "ls", "--format", "{{.Name}}"])?;
    ensure!(
        secrets.trim() == "demo_token",
        "docker secret ls: {secrets}"
    );
    let ps = docker(
        &n,
        &[
            "service",
            "ps",
            "demo_web",
            "--format",
            "{{.Name}} {{.CurrentState}} {{.Node}}",
        ],
    )?;
    ensure!(
        ps.lines()
            .filter(|l| l.contains("Running") && l.contains(host))
            .count()
            == 2,
        "docker service ps: {ps}"
    );
    let sps = docker(&n, &["stack", "ps", "demo", "--format", "{{.Name}}"])?;
    ensure!(
        sps.contains("demo_web.1") && sps.contains("demo_web.2"),
        "docker stack ps: {sps}"
    );
    let inspect: Value = serde_json::from_str(&docker(&n, &["service", "inspect", "demo_web"])?)?;
    let spec = &inspect[0]["Spec"];
    ensure!(
        spec["Labels"]["com.docker.stack.namespace"] == "demo",
        "{spec}"
    );
    ensure!(spec["Labels"]["traefik.enable"] == "true", "{spec}");
    ensure!(
        spec["TaskTemplate"]["ContainerSpec"]["Env"][0] == "GREETING=hi",
        "{spec}"
    );
    ensure!(
        spec["UpdateConfig"]["Order"] == "start-first"
            && spec["UpdateConfig"]["FailureAction"] == "rollback",
        "{spec}"
    );
    let port = &inspect[0]["Endpoint"]["Ports"][0];
    ensure!(
        port["PublishedPort"] == published && port["TargetPort"] == 8080,
        "{}",
        inspect[0]
    );
    let logs = docker(&n, &["service", "logs", "demo_web"])?;
    ensure!(
        logs.matches("hello-from-docker-stack").count() >= 2,
        "docker service logs: {logs}"
    );
    ensure!(
        logs.contains("demo_web.1") || logs.contains("demo_web.2"),
        "{logs}"
    );

    // Deploying the same file again changes nothing (an update at the listed version).
    let version_before = inspect[0]["Version"]["Index"].clone();
    docker(
        &n,
        &[
            "stack",
            "deploy",
            "-c",
            compose.to_str().context("path")?,
            "--resolve-image",
            "never",
            "demo",
        ],
    )?;
    let again: Value = serde_json::from_str(&docker(&n, &["service", "inspect", "demo_web"])?)?;
    ensure!(
        again[0]["Version"]["Index"] == version_before,
        "a redeploy of the same file changed demo_web: {} -> {}",
        version_before,
        again[0]["Version"]["Index"]
    );

    let read = get_json(&n, "/services/demo_web")?;
    let read_index = read["Version"]["Index"].as_u64().context("index")?;
    docker(&n, &["service", "scale", "-d", "demo_web=3"])?;
    poll_until(CONVERGE, "demo_web 3/3", || {
        orc_desired(&n, "demo_web")
            .ok()
            .flatten()
            .filter(|s| s.0 == 3 && s.1 == 3)
    })?;
    // A writer still holding what it read before the scale can't put the old replica
    // count back: its `?version=` is not the service's change index any more. The
    // index is the Raft index of the service's last change: it moved past the read one
    // and is no newer than the cluster's last change (`/swarm`'s index).
    let (code, body) = http(
        &n.docker_socket(),
        "POST",
        &format!(
            "/services/{}/update?version={read_index}",
            read["ID"].as_str().context("ID")?
        ),
        Some(&read["Spec"].to_string()),
    )?;
    ensure!(
        code == 500 && body.contains("update out of sequence"),
        "a lost update was accepted: {code} {body}"
    );
    let now = get_json(&n, "/services/demo_web")?;
    ensure!(now["Spec"]["Mode"]["Replicated"]["Replicas"] == 3, "{now}");
    let index = now["Version"]["Index"].as_u64().context("index")?;
    let cluster_index = get_json(&n, "/swarm")?["Version"]["Index"]
        .as_u64()
        .context("swarm index")?;
    ensure!(
        read_index < index && index <= cluster_index,
        "indexes: read {read_index}, now {index}, cluster {cluster_index}"
    );
    // A stable revision first (its tasks passed monitor): `service rollback` goes there.
    wait_revision(&n, "demo_web", "a stable revision of demo_web", |r| {
        r["stable"] == true
    })?;

    docker(
        &n,
        &[
            "service",
            "update",
            "-d",
            "--image",
            "demo/busybox:2",
            "demo_web",
        ],
    )?;
    let (_, _, image) = orc_desired(&n, "demo_web")?.context("demo_web gone")?;
    ensure!(
        image == "demo/busybox:2",
        "orc service ls after update --image: {image}"
    );
    // demo/busybox:2 exists nowhere: its task is rejected and the update rolls back
    // on its own (failure_action: rollback), which Docker's UpdateStatus shows.
    let docker_update_state = || -> Option<(String, String)> {
        let v: Value =
            serde_json::from_str(&docker(&n, &["service", "inspect", "demo_web"]).ok()?).ok()?;
        Some((
            v[0]["UpdateStatus"]["State"].as_str()?.to_string(),
            v[0]["UpdateStatus"]["Message"].as_str()?.to_string(),
        ))
    };
    let (_, why) = poll_until(CONVERGE, "demo_web rolled back on its own", || {
        docker_update_state().filter(|s| s.0 == "rollback_completed")
    })?;
    ensure!(
        why.contains("demo_web.") && why.contains("rejected"),
        "{why}"
    );
    ensure!(orc_desired(&n, "demo_web")?.is_some_and(|s| s.2 == "demo/busybox:1"));
    // A good update, then `docker service rollback`: back to the stable spec before it.
    wait_revision(&n, "demo_web", "the rolled-back revision stable", |r| {
        r["current"] == true && r["stable"] == true
    })?;
    docker(
        &n,
        &[
            "service",
            "update",
            "-d",
            "--env-add",
            "GREETING=hello",
            "demo_web",
        ],
    )?;
    wait_revision(&n, "demo_web", "the good update stable", |r| {
        r["current"] == true && r["stable"] == true
    })?;
    let rb = docker_at(
        &n,
        &n.docker_socket(),
        &["service", "rollback", "-d", "demo_web"],
    )?;
    ensure!(
        rb.status.success(),
        "rollback: {}\n{}",
        String::from_utf8_lossy(&rb.stderr),
        n.ok(&["service", "history", "demo_web"])?
    );
    poll_until(CONVERGE, "demo_web rolled back by docker", || {
        let i = n.json(&["service", "inspect", "demo_web"]).ok()?;
        (i["spec"]["env"]["GREETING"] == "hi" && i["update"]["state"] == "rollback_completed")
            .then_some(())
    })?;

    // A service outside any stack file, created and removed by the CLI.
    docker(
        &n,
        &[
            "service",
            "create",
            "-d",
            "--name",
            "solo",
            "--cap-add",
            "NET_ADMIN",
            "--host",
            "printer.lan:192.168.77.20",
            "--init",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--ulimit",
            "nofile=1024:4096",
            "demo/busybox:1",
            "sleep",
            "3600",
        ],
    )?;
    poll_until(CONVERGE, "solo running", || {
        orc_desired(&n, "solo").ok().flatten().filter(|s| s.0 == 1)
    })?;
    // Its container options reached orc's spec (and come back in Docker's view).
    let cs: Value = serde_json::from_str(
        docker(
            &n,
            &[
                "service",
                "inspect",
                "solo",
                "--format",
                "{{json .Spec.TaskTemplate.ContainerSpec}}",
            ],
        )?
        .trim(),
    )?;
    ensure!(
        cs["CapabilityAdd"] == json!(["CAP_NET_ADMIN"])
            && cs["Hosts"] == json!(["192.168.77.20 printer.lan"])
            && cs["Init"] == true
            && cs["Sysctls"]["net.ipv4.ip_forward"] == "1"
            && cs["Ulimits"][0]["Hard"] == 4096,
        "container options after docker service create: {cs}"
    );
    docker(&n, &["service", "rm", "solo"])?;
    ensure!(
        orc_desired(&n, "solo")?.is_none(),
        "solo still listed by orc"
    );

    docker(&n, &["stack", "rm", "demo"])?;
    let stacks = n.json(&["stack", "ls"])?;
    ensure!(
        stacks.as_array().is_some_and(|a| a.is_empty()),
        "orc stack ls after docker stack rm: {stacks}"
    );
    // docker stack rm removed the stack's secret (found by its stack label).
    poll_until(CONVERGE, "the stack's secret to go", || {
        n.json(&["secret", "ls"])
            .ok()
            .filter(|s| s.as_array().is_some_and(|a| a.is_empty()))
    })?;
    poll_until(CONVERGE, "the stack's tasks to go", || {
        get_json(&n, "/tasks").ok().filter(|t| {
            t.as_array()
                .is_some_and(|a| a.iter().all(|t| t["DesiredState"] != "running"))
        })
    })?;
    Ok(())
}

/// `docker network create` makes a network that lives on its own (in Raft) until
/// removed, is refused removal while a service uses it, and `docker events` replays
/// what happened from `--since`.
#[test]
fn networks_live_on_their_own_and_events_replay_from_since() -> Result<()> {
    let n = node_with_image()?;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        .saturating_sub(1)
        .to_string();
    docker(
        &n,
        &[
            "network", "create", "-d", "overlay", "--label", "tier=db", "fam_back",
        ],
    )?;
    let ls = docker(&n, &["network", "ls", "--format", "{{.Name}} {{.Driver}}"])?;
    ensure!(ls.contains("fam_back overlay"), "network ls: {ls}");
    let tier = docker(
        &n,
        &[
            "network",
            "inspect",
            "fam_back",
            "--format",
            "{{index .Labels \"tier\"}}",
        ],
    )?;
    ensure!(tier.trim() == "db", "labels: {tier}");

    docker(
        &n,
        &[
            "service",
            "create",
            "-d",
            "--name",
            "fam_db",
            "--network",
            "fam_back",
            "demo/busybox:1",
            "sleep",
            "3600",
        ],
    )?;
    let o = docker_at(&n, &n.docker_socket(), &["network", "rm", "fam_back"])?;
    let err = String::from_utf8_lossy(&o.stderr);
    ensure!(
        !o.status.success() && err.contains("in use") && err.contains("fam_db"),
        "network rm while used: {err}"
    );
    docker(&n, &["service", "rm", "fam_db"])?;
    // The declared network outlives its last service.
    let ls = docker(&n, &["network", "ls", "--format", "{{.Name}}"])?;
    ensure!(
        ls.lines().any(|l| l == "fam_back"),
        "after service rm: {ls}"
    );
    docker(&n, &["network", "rm", "fam_back"])?;
    let ls = docker(&n, &["network", "ls", "--format", "{{.Name}}"])?;
    ensure!(
        !ls.lines().any(|l| l == "fam_back"),
        "after network rm: {ls}"
    );

    // History: everything since `since`, ending at `until` (now).
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 1)
    .to_string();
    let ev = docker(
        &n,
        &[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ],
    )?;
    let lines: Vec<&str> = ev.lines().collect();
    let at = |l: &str| lines.iter().position(|x| *x == l);
    let (Some(c), Some(sc), Some(sr), Some(r)) = (
        at("network create fam_back"),
        at("service create fam_db"),
        at("service remove fam_db"),
        at("network remove fam_back"),
    ) else {
        anyhow::bail!("docker events --since: {ev}");
    };
    ensure!(c < sc && sc < sr && sr < r, "out of order: {ev}");
    let only = docker(
        &n,
        &[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "type=network",
            "--format",
            "{{.Type}}",
        ],
    )?;
    ensure!(
        !only.trim().is_empty() && only.lines().all(|l| l == "network"),
        "filtered: {only}"
    );
    Ok(())
}

/// Log lines keep when they were written and which stream they came from: `docker
/// service logs` separates stdout from stderr and filters by `--since`, `-t` shows the
/// stored times; `orc service logs --timestamps --since` agrees.
#[test]
fn log_lines_keep_their_time_and_stream() -> Result<()> {
    let n = node_with_image()?;
    docker(
        &n,
        &[
            "service",
            "create",
            "-d",
            "--name",
            "lg_t",
            "demo/busybox:1",
            "sh",
            "-c",
            "echo early; echo oops >&2; sleep 2; echo late; exec sleep 3600",
        ],
    )?;
    let all = poll_until(CONVERGE, "the late line", || {
        docker(&n, &["service", "logs", "-t", "--raw", "lg_t"])
            .ok()
            .filter(|o| o.contains("late"))
    })?;
    // -t: each line behind its RFC 3339 time, as stored (not the time it was read).
    let time_of = |text: &str| -> Result<String> {
        all.lines()
            .find(|l| l.ends_with(text))
            .and_then(|l| l.split(' ').next())
            .map(str::to_string)
            .with_context(|| format!("{text} in {all}"))
    };
    let (early, late) = (time_of("early")?, time_of("late")?);
    ensure!(early.len() == 30 && early.ends_with('Z'), "{all}");
    ensure!(early < late, "early {early} not before late {late}");
    // stderr lines go to the CLI's stderr, stdout lines to its stdout.
    let o = docker_at(
        &n,
        &n.docker_socket(),
        &["service", "logs", "--raw", "lg_t"],
    )?;
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    ensure!(
        out.contains("early") && !out.contains("oops"),
        "stdout: {out}"
    );
    ensure!(
        err.contains("oops") && !err.contains("early"),
        "stderr: {err}"
    );
    // --since the late line's second: only it (early was written 2 s before).
    let secs = rfc3339_secs(&late)?;
    let since = docker(
        &n,
        &[
            "service",
            "logs",
            "--raw",
            "--since",
            &secs.to_string(),
            "lg_t",
        ],
    )?;
    ensure!(
        since.contains("late") && !since.contains("early"),
        "docker --since {secs}: {since}"
    );
    let orc = n.ok(&[
        "service",
        "logs",
        "lg_t",
        "--timestamps",
        "--since",
        &secs.to_string(),
    ])?;
    ensure!(
        orc.contains("late") && !orc.contains("early"),
        "orc --since: {orc}"
    );
    let orc = n.ok(&["service", "logs", "lg_t", "--timestamps"])?;
    ensure!(
        orc.lines().any(|l| l.ends_with("| err oops"))
            && orc.lines().any(|l| l.ends_with("| early")),
        "orc --timestamps: {orc}"
    );
    Ok(())
}

/// `2026-12-07T18:02:06.123456789Z` → Unix seconds (2026-era dates only: days from
/// the civil date).
/// Waits until one of `service`'s revisions (`orc service history`) matches.
fn wait_revision(
    n: &OrcNode,
    service: &str,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Result<()> {
    poll_until(CONVERGE, what, || {
        let rows = n.json(&["service", "history", service]).ok()?;
        rows.as_array()?.iter().any(&matches).then_some(())
    })
}

fn rfc3339_secs(t: &str) -> Result<u64> {
    let num = |a: usize, b: usize| -> Result<i64> {
        t.get(a..b)
            .context("short time")?
            .parse::<i64>()
            .context("time")
    };
    let (y, m, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hh, mm, ss) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss)?)
}

const STACK_TOML: &str = r#"
name = "shop"

[services.web]
image = "demo/busybox:1"
command = ["sh", "-c", "echo line-one; echo line-two; exec sleep 3600"]
replicas = 2
labels = { "traefik.enable" = "true", "traefik.http.services.web.loadbalancer.server.port" = "80" }
stop = { signal = "SIGKILL", grace_period = "1s" }
"#;

fn node_with_orc_stack() -> Result<OrcNode> {
    let n = node_with_image()?;
    let p = n.dir().join("shop.toml");
    std::fs::write(&p, STACK_TOML)?;
    n.ok(&[
        "stack",
        "deploy",
        p.to_str().context("path")?,
        "--timeout",
        "60",
    ])?;
    poll_until(CONVERGE, "shop_web's tasks to have addresses", || {
        let ps = n.json(&["service", "ps", "shop_web"]).ok()?;
        let a = ps.as_array()?;
        (a.len() == 2
            && a.iter()
                .all(|t| t["state"] == "running" && t["address"].is_string()))
        .then_some(())
    })?;
    Ok(n)
}

fn filter(v: &str) -> String {
    v.replace('{', "%7B")
        .replace('}', "%7D")
        .replace('"', "%22")
        .replace(':', "%3A")
        .replace(',', "%2C")
        .replace('[', "%5B")
        .replace(']', "%5D")
        .replace('=', "%3D")
}

/// What Traefik's swarm provider makes of each poll at API `prefix`: the backend
/// URLs of `traefik.enable` services (name → sorted "http://IP:PORT").
fn traefik_poll(n: &OrcNode, prefix: &str) -> Result<Vec<(String, Vec<String>)>> {
    let v = get_json(n, &format!("{prefix}/version"))?;
    ensure!(v["ApiVersion"] == "1.44" && v["Version"].is_string(), "{v}");
    let services = get_json(n, &format!("{prefix}/services"))?;
    let networks = get_json(
        n,
        &format!(
            "{prefix}/networks?filters={}",
            filter(r#"{"scope":{"swarm":true}}"#)
        ),
    )?;
    let net_ids: Vec<&str> = networks
        .as_array()
        .context("networks")?
        .iter()
        .filter_map(|x| x["Id"].as_str())
        .collect();
    let mut out = Vec::new();
    for s in services.as_array().context("services")? {
        let labels = &s["Spec"]["Labels"];
        if labels["traefik.enable"] != "true" {
            continue;
        }
        ensure!(s["Spec"]["EndpointSpec"]["Mode"] == "vip", "{s}");
        let port = labels["traefik.http.services.web.loadbalancer.server.port"]
            .as_str()
            .context("port label")?;
        let id = s["ID"].as_str().context("ID")?;
        let f = filter(&format!(
            r#"{{"service":{{"{id}":true}},"desired-state":{{"running":true}}}}"#
        ));
        let tasks = get_json(n, &format!("{prefix}/tasks?filters={f}"))?;
        let mut urls = Vec::new();
        for t in tasks.as_array().context("tasks")? {
            ensure!(t["Slot"].as_u64().is_some_and(|s| s > 0), "{t}");
            if t["Status"]["State"] != "running" {
                continue;
            }
            let node = t["NodeID"].as_str().context("NodeID")?;
            let nd = get_json(n, &format!("{prefix}/nodes/{node}"))?;
            ensure!(nd["Status"]["Addr"].is_string(), "{nd}");
            for att in t["NetworksAttachments"].as_array().context("attachments")? {
                let nid = att["Network"]["ID"].as_str().context("network id")?;
                if !net_ids.contains(&nid) {
                    continue;
                }
                let cidr = att["Addresses"][0].as_str().context("address")?;
                let (ip, prefix_len) = cidr.split_once('/').context("a CIDR")?;
                ensure!(prefix_len.parse::<u8>().is_ok(), "{cidr}");
                urls.push(format!("http://{ip}:{port}"));
            }
        }
        urls.sort();
        out.push((s["Spec"]["Name"].as_str().unwrap_or("").to_string(), urls));
    }
    Ok(out)
}

/// Multiplexed log frames → (stream, payload) pairs.
fn frames(mut b: &[u8]) -> Result<Vec<(u8, String)>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        ensure!(b.len() >= 8, "a truncated frame header");
        let len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        ensure!(b[1..4] == [0, 0, 0] && b.len() >= 8 + len, "a bad frame");
        out.push((b[0], String::from_utf8_lossy(&b[8..8 + len]).into_owned()));
        b = &b[8 + len..];
    }
    Ok(out)
}

#[test]
fn traefik_telegraf_and_portainer_calls_are_answered() -> Result<()> {
    let n = node_with_orc_stack()?;
    let ps = n.json(&["service", "ps", "shop_web"])?;
    let mut want: Vec<String> = ps
        .as_array()
        .context("ps")?
        .iter()
        .filter_map(|t| t["address"].as_str().map(|a| format!("http://{a}:80")))
        .collect();
    want.sort();
    ensure!(want.len() == 2, "{ps}");
    // Traefik v2 pins /v1.24; v3 negotiates (HEAD /_ping, then the reported version).
    let v2 = traefik_poll(&n, "/v1.24")?;
    ensure!(
        v2 == vec![("shop_web".to_string(), want.clone())],
        "traefik v2: {v2:?}"
    );
    let (code, _) = http(&n.docker_socket(), "HEAD", "/_ping", None)?;
    ensure!(code == 200);
    let hdr = Command::new("curl")
        .args(["-s", "-I", "--unix-socket"])
        .arg(n.docker_socket())
        .arg("http://docker/_ping")
        .output()?;
    let hdr = String::from_utf8_lossy(&hdr.stdout).to_lowercase();
    ensure!(
        hdr.contains("api-version: 1.44")
            && hdr.contains("swarm: active/manager")
            && hdr.contains("ostype: linux"),
        "{hdr}"
    );
    let v3 = traefik_poll(&n, "/v1.44")?;
    ensure!(v3 == v2, "traefik v3: {v3:?}");

    // Telegraf (pinned 1.24): info, containers, services, tasks.
    let info = get_json(&n, "/v1.24/info")?;
    for k in ["Name", "ServerVersion", "InitBinary"] {
        ensure!(
            info[k].as_str().is_some_and(|s| !s.is_empty()),
            "info.{k}: {info}"
        );
    }
    for k in [
        "NCPU",
        "MemTotal",
        "Containers",
        "ContainersRunning",
        "ContainersStopped",
        "ContainersPaused",
        "Images",
        "NFd",
        "NGoroutines",
        "NEventsListener",
    ] {
        ensure!(info[k].is_u64(), "info.{k}: {info}");
    }
    ensure!(info["ContainersRunning"] == 2, "{info}");
    // Its container gather: the list, then each container's inspect and stats.
    let mut task_ids: Vec<&str> = ps
        .as_array()
        .context("ps")?
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    task_ids.sort();
    let mut listed = Vec::new();
    for c in get_json(&n, "/v1.24/containers/json?all=1")?
        .as_array()
        .context("containers")?
    {
        let id = c["Id"].as_str().context("Id")?.to_string();
        ensure!(
            c["Names"][0]
                .as_str()
                .is_some_and(|x| x.starts_with("/shop_web.")
                    && x.ends_with(&id)
                    && x[1..] == c["Labels"]["com.docker.swarm.task.name"])
                && c["Image"] == "demo/busybox:1"
                && c["State"] == "running"
                && c["Labels"]["com.docker.swarm.service.name"] == "shop_web"
                && c["Labels"]["com.docker.stack.namespace"] == "shop"
                && c["Labels"]["traefik.enable"] == "true",
            "{c}"
        );
        let i = get_json(&n, &format!("/v1.24/containers/{id}/json"))?;
        ensure!(
            i["Config"]["Env"].is_array()
                && i["State"]["Status"] == "running"
                && i["State"]["Running"] == true
                && i["State"]["Pid"].as_u64().is_some_and(|p| p > 0)
                && i["State"]["StartedAt"]
                    .as_str()
                    .is_some_and(|t| t.ends_with('Z'))
                && i["State"].get("Health").is_none(),
            "{i}"
        );
        let st = get_json(&n, &format!("/v1.24/containers/{id}/stats?stream=false"))?;
        let positive = |v: &Value| v.as_u64().is_some_and(|x| x > 0);
        ensure!(
            st["id"] == id.as_str()
                && st["name"] == c["Names"][0]
                && st["read"].as_str().is_some_and(|t| t.ends_with('Z'))
                && st["cpu_stats"]["cpu_usage"]["total_usage"].is_u64()
                && st["cpu_stats"]["cpu_usage"]["usage_in_usermode"].is_u64()
                && positive(&st["cpu_stats"]["system_cpu_usage"])
                && positive(&st["cpu_stats"]["online_cpus"])
                && positive(&st["precpu_stats"]["system_cpu_usage"])
                && positive(&st["memory_stats"]["usage"])
                && positive(&st["memory_stats"]["limit"])
                && st["memory_stats"]["stats"].is_object()
                && positive(&st["pids_stats"]["current"])
                && st["blkio_stats"]["io_service_bytes_recursive"].is_array(),
            "{st}"
        );
        let nets = st["networks"].as_object().context("networks")?;
        ensure!(
            !nets.is_empty()
                && nets
                    .values()
                    .all(|x| x["rx_bytes"].is_u64() && x["tx_packets"].is_u64()),
            "{st}"
        );
        listed.push(id);
    }
    listed.sort();
    ensure!(
        listed == task_ids,
        "containers {listed:?} vs orc's tasks {task_ids:?}"
    );
    // Telegraf ≥ 1.39 asks for one sample only; a stream sends one a second.
    let id = &listed[0];
    let one = get_json(
        &n,
        &format!("/v1.44/containers/{id}/stats?stream=false&one-shot=true"),
    )?;
    ensure!(
        one["preread"] == "0001-01-01T00:00:00Z" && one["cpu_stats"]["online_cpus"].is_u64(),
        "{one}"
    );
    let streamed = Command::new("curl")
        .args(["-s", "-N", "-m", "5", "--unix-socket"])
        .arg(n.docker_socket())
        .arg(format!("http://docker/containers/{id}/stats"))
        .output()?;
    let samples: Vec<Value> = String::from_utf8_lossy(&streamed.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    ensure!(
        samples.len() >= 2 && samples[1]["preread"] == samples[0]["read"],
        "{samples:?}"
    );
    let (code, body) = http(
        &n.docker_socket(),
        "GET",
        "/v1.24/containers/nope/stats?stream=false",
        None,
    )?;
    ensure!(
        code == 404 && body.contains("No such container: nope"),
        "{code} {body}"
    );
    let services = get_json(&n, "/v1.24/services")?;
    let web = &services[0];
    ensure!(web["Spec"]["Mode"]["Replicated"]["Replicas"] == 2, "{web}");
    let tasks = get_json(&n, "/v1.24/tasks")?;
    let running = tasks
        .as_array()
        .context("tasks")?
        .iter()
        .filter(|t| {
            t["ServiceID"] == web["ID"]
                && t["DesiredState"] == "running"
                && t["Status"]["State"] == "running"
        })
        .count();
    ensure!(running == 2, "{tasks}");

    // Portainer 2.23's frontend (pinned /v1.41 when the server is newer).
    let info = get_json(&n, "/v1.41/info")?;
    ensure!(
        info["Swarm"]["NodeID"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{info}"
    );
    ensure!(
        info["Swarm"]["ControlAvailable"] == true && info["Swarm"]["Cluster"]["ID"].is_string(),
        "{info}"
    );
    // Its snapshot and container pages: the list, then each container's inspect; the
    // addresses are orc's.
    let mut addrs = Vec::new();
    for c in get_json(&n, "/v1.41/containers/json?all=1")?
        .as_array()
        .context("containers")?
    {
        ensure!(
            c["Status"].as_str().is_some_and(|s| s.starts_with("Up "))
                && c["Created"].is_u64()
                && c["Ports"].is_array()
                && c["Mounts"].is_array(),
            "{c}"
        );
        let i = get_json(
            &n,
            &format!("/v1.41/containers/{}/json", c["Id"].as_str().unwrap_or("")),
        )?;
        ensure!(
            i["Name"] == c["Names"][0]
                && i["Config"]["Image"] == "demo/busybox:1"
                && i["HostConfig"]["NetworkMode"] == c["HostConfig"]["NetworkMode"]
                && i["Mounts"].is_array(),
            "{i}"
        );
        let ip = &i["NetworkSettings"]["Networks"]["shop_default"]["IPAddress"];
        ensure!(
            c["NetworkSettings"]["Networks"]["shop_default"]["IPAddress"] == *ip,
            "{c} {i}"
        );
        addrs.push(format!("http://{}:80", ip.as_str().unwrap_or("")));
    }
    addrs.sort();
    ensure!(addrs == want, "{addrs:?} vs orc's {want:?}");
    let cluster_id = n.json(&["cluster", "info"])?["cluster_id"].clone();
    ensure!(get_json(&n, "/v1.41/swarm")?["ID"] == cluster_id);
    let nodes = get_json(&n, "/v1.41/nodes")?;
    ensure!(
        nodes[0]["Description"]["Engine"]["Plugins"].is_array(),
        "{nodes}"
    );
    ensure!(
        nodes[0]["Description"]["Resources"]["NanoCPUs"].is_u64(),
        "{nodes}"
    );
    let by_name = get_json(
        &n,
        &format!(
            "/v1.41/tasks?filters={}",
            filter(r#"{"service":["shop_web"]}"#)
        ),
    )?;
    ensure!(
        by_name.as_array().is_some_and(|a| a.len() == 2),
        "{by_name}"
    );
    let svc = get_json(
        &n,
        &format!("/v1.41/services/{}", web["ID"].as_str().unwrap_or("")),
    )?;
    ensure!(
        svc["Spec"]["EndpointSpec"].is_object() && svc["Version"]["Index"].is_u64(),
        "{svc}"
    );
    for p in [
        "/v1.41/secrets",
        "/v1.41/configs",
        "/v1.41/images/json",
        "/v1.41/plugins",
    ] {
        ensure!(get_json(&n, p)?.as_array().is_some(), "{p}");
    }
    // Portainer's image and volume pages: the node's images, the cluster's volumes.
    let images = get_json(&n, "/v1.41/images/json")?;
    ensure!(
        images
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["RepoTags"][0] == "demo/busybox:1"
                && i["Id"].as_str().is_some_and(|d| d.starts_with("sha256:")))),
        "images: {images}"
    );
    let vol_stack = n.dir().join("vols.toml");
    std::fs::write(
        &vol_stack,
        "[volumes.data]\ndriver = \"local\"\n\n[services.keeper]\nimage = \"demo/busybox:1\"\ncommand = [\"sleep\", \"3600\"]\nvolumes = [{ source = \"data\", target = \"/data\" }]\n",
    )?;
    n.ok(&[
        "stack",
        "deploy",
        vol_stack.to_str().context("path")?,
        "--name",
        "vols",
        "--detach",
    ])?;
    let vols = get_json(&n, "/v1.41/volumes")?;
    ensure!(
        vols["Volumes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v["Name"] == "vols_data"
                && v["Driver"] == "local"
                && v["Labels"]["com.docker.stack.namespace"] == "vols")),
        "volumes: {vols}"
    );
    let stacks = get_json(
        &n,
        &format!(
            "/v1.41/services?filters={}",
            filter(r#"{"label":["com.docker.stack.namespace=shop"]}"#)
        ),
    )?;
    ensure!(stacks.as_array().is_some_and(|a| a.len() == 1), "{stacks}");
    let none = get_json(
        &n,
        &format!(
            "/v1.41/services?filters={}",
            filter(r#"{"label":["com.docker.stack.namespace=other"]}"#)
        ),
    )?;
    ensure!(none.as_array().is_some_and(|a| a.is_empty()), "{none}");

    // Logs: one multiplexed frame per line, with the swarm details.
    let (code, _) = http(
        &n.docker_socket(),
        "GET",
        "/v1.44/services/shop_web/logs",
        None,
    )?;
    ensure!(code == 400, "logs without a stream must be refused");
    let raw = Command::new("curl")
        .args(["-s", "-m", "10", "--unix-socket"])
        .arg(n.docker_socket())
        .arg("http://docker/v1.44/services/shop_web/logs?stdout=1&stderr=1&details=1&tail=all")
        .output()?;
    let fr = frames(&raw.stdout)?;
    ensure!(fr.len() == 4, "{fr:?}");
    for (stream, line) in &fr {
        ensure!(*stream == 1, "{line}");
        ensure!(
            line.starts_with("com.docker.swarm.node.id=")
                && line.contains(",com.docker.swarm.service.id=")
                && line.contains(",com.docker.swarm.task.id="),
            "{line}"
        );
        ensure!(
            line.ends_with("line-one\n") || line.ends_with("line-two\n"),
            "{line}"
        );
    }
    let task_id = ps[0]["id"].as_str().context("task id")?;
    let raw = Command::new("curl")
        .args(["-s", "-m", "10", "--unix-socket"])
        .arg(n.docker_socket())
        .arg(format!(
            "http://docker/v1.44/tasks/{task_id}/logs?stdout=1&timestamps=1"
        ))
        .output()?;
    let fr = frames(&raw.stdout)?;
    ensure!(
        fr.len() == 2 && fr.iter().all(|(_, l)| l.len() > 31 && &l[30..31] == " "),
        "{fr:?}"
    );

    // docker service logs -f streams until stopped.
    let cfg = n.dir().join("docker-config");
    std::fs::create_dir_all(&cfg)?;
    let out_path = n.dir().join("follow.out");
    let mut child = Command::new(docker_bin())
        .env(
            "DOCKER_HOST",
            format!("unix://{}", n.docker_socket().display()),
        )
        .env("DOCKER_CONFIG", &cfg)
        .args(["service", "logs", "-f", "shop_web"])
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let seen = poll_until(
        Duration::from_secs(20),
        "docker service logs -f output",
        || {
            let s = std::fs::read_to_string(&out_path).ok()?;
            (s.matches("line-two").count() >= 2).then_some(s)
        },
    );
    let still_running = child.try_wait()?.is_none();
    let _ = child.kill();
    let _ = child.wait();
    let seen = seen?;
    ensure!(
        still_running,
        "docker service logs -f ended by itself: {seen}"
    );
    ensure!(seen.contains("shop_web."), "{seen}");

    // Events (Portainer): the cluster's changes, until `until`.
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 4;
    let ev_path = n.dir().join("events.out");
    let ev_headers = n.dir().join("events.headers");
    let mut events = Command::new("curl")
        .args(["-s", "-N", "-m", "30", "-D"])
        .arg(&ev_headers)
        .arg("--unix-socket")
        .arg(n.docker_socket())
        .arg(format!(
            "http://docker/v1.41/events?until={until}&filters={}",
            filter(r#"{"type":["service"]}"#)
        ))
        .stdout(std::fs::File::create(&ev_path)?)
        .spawn()?;
    // The answer's headers go out once the stream follows the state.
    let opened = poll_until(Duration::from_secs(10), "the events stream to open", || {
        std::fs::read_to_string(&ev_headers)
            .ok()
            .filter(|h| h.contains("200"))
    });
    if opened.is_err() {
        let _ = events.kill();
        let _ = events.wait();
    }
    opened?;
    n.ok(&["service", "scale", "--detach", "shop_web=3"])?;
    let done = events.wait()?;
    ensure!(done.success(), "the events stream did not end at `until`");
    let text = std::fs::read_to_string(&ev_path)?;
    let evs: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    ensure!(
        evs.iter().any(|e| e["Type"] == "service"
            && e["Action"] == "update"
            && e["Actor"]["Attributes"]["name"] == "shop_web"),
        "events: {text}"
    );
    ensure!(evs.iter().all(|e| e["Type"] == "service"), "{text}");
    Ok(())
}

#[test]
fn bad_input_is_refused_as_docker_does_and_changes_nothing() -> Result<()> {
    let n = node_with_orc_stack()?;
    let sock = n.docker_socket();
    let before = n.json(&["service", "ls"])?;
    let svc = get_json(&n, "/services/shop_web")?;
    let id = svc["ID"].as_str().context("ID")?.to_string();
    let version = svc["Version"]["Index"].as_u64().context("version")?;
    let message = |body: &str| -> Result<String> {
        let v: Value = serde_json::from_str(body).with_context(|| format!("not JSON: {body}"))?;
        Ok(v["message"].as_str().context("no message")?.to_string())
    };
    // Malformed JSON.
    let (code, body) = http(&sock, "POST", "/v1.44/services/create", Some("{\"Name\":"))?;
    ensure!(
        code == 400 && message(&body)?.contains("invalid JSON"),
        "{code} {body}"
    );
    // Each spec below is refused with a 400 whose message names the field.
    let refused_naming = |change: &dyn Fn(&mut Value), names: &str| -> Result<()> {
        let mut spec = svc["Spec"].clone();
        change(&mut spec);
        let (code, body) = http(
            &sock,
            "POST",
            &format!("/services/{id}/update?version={version}"),
            Some(&spec.to_string()),
        )?;
        ensure!(
            code == 400 && message(&body)?.contains(names),
            "{code} {body}"
        );
        Ok(())
    };
    // An unknown field, named.
    refused_naming(&|s| s["Bogus"] = 1.into(), "Bogus")?;
    // A field orc does not do, named.
    refused_naming(
        &|s| s["TaskTemplate"]["ContainerSpec"]["Groups"] = serde_json::json!(["audio"]),
        "ContainerSpec.Groups",
    )?;
    // A container option orc does, but with a value it refuses (not namespaced).
    refused_naming(
        &|s| {
            s["TaskTemplate"]["ContainerSpec"]["Sysctls"] = serde_json::json!({"kernel.panic": "1"})
        },
        "Sysctls.kernel.panic",
    )?;
    // A stale version: Docker's "update out of sequence", nothing changed.
    let mut spec = svc["Spec"].clone();
    spec["Mode"]["Replicated"]["Replicas"] = 5.into();
    let (code, body) = http(
        &sock,
        "POST",
        &format!("/services/{id}/update?version={}", version + 7),
        Some(&spec.to_string()),
    )?;
    ensure!(
        code == 500 && message(&body)?.contains("update out of sequence"),
        "{code} {body}"
    );
    // Unknown ids.
    for p in [
        "/services/nope",
        "/tasks/nope",
        "/nodes/nope",
        "/networks/nope",
        "/secrets/nope",
    ] {
        let (code, body) = http(&sock, "GET", p, None)?;
        ensure!(
            code == 404 && message(&body)?.contains("not found"),
            "{p}: {code} {body}"
        );
    }
    let (code, body) = http(&sock, "DELETE", "/services/nope", None)?;
    ensure!(code == 404, "{code} {body}");
    // An API version below the minimum, an unknown filter, an unknown path.
    let (code, body) = http(&sock, "GET", "/v1.12/info", None)?;
    ensure!(
        code == 400 && message(&body)?.contains("too old"),
        "{code} {body}"
    );
    let (code, body) = http(
        &sock,
        "GET",
        &format!("/services?filters={}", filter(r#"{"colour":["x"]}"#)),
        None,
    )?;
    ensure!(
        code == 400 && message(&body)? == "invalid filter 'colour'",
        "{code} {body}"
    );
    let (code, _) = http(&sock, "GET", "/v1.44/nope", None)?;
    ensure!(code == 404);
    // Secrets: created with their data (sealed by orc), listed and inspected without
    // it, a second create of the name refused, removed.
    let create = r#"{"Name":"api_pw","Data":"ZG9ja2VyLXNlY3JldC12YWx1ZQ==","Labels":{}}"#;
    let (code, body) = http(&sock, "POST", "/secrets/create", Some(create))?;
    ensure!(code == 201 && body.contains("\"ID\""), "{code} {body}");
    let listed = get_json(&n, "/v1.41/secrets")?;
    ensure!(listed[0]["Spec"]["Name"] == "api_pw", "{listed}");
    let one = get_json(&n, "/secrets/api_pw")?;
    for shown in [listed.to_string(), one.to_string()] {
        ensure!(
            !shown.contains("docker-secret-value") && !shown.contains("ZG9ja2Vy"),
            "a secret's value was shown: {shown}"
        );
    }
    let (code, body) = http(&sock, "POST", "/secrets/create", Some(create))?;
    ensure!(code == 409, "a second create: {code} {body}");
    // A label update at the index read applies (a new index, no new revision); the
    // same update at that index again is out of sequence and changes nothing.
    let index = one["Version"]["Index"].as_u64().context("secret index")?;
    let relabel = r#"{"Name":"api_pw","Labels":{"owner":"ops"}}"#;
    let update = format!("/secrets/api_pw/update?version={index}");
    let (code, body) = http(&sock, "POST", &update, Some(relabel))?;
    ensure!(code == 200, "label update: {code} {body}");
    let relabelled = get_json(&n, "/secrets/api_pw")?;
    ensure!(
        relabelled["Spec"]["Labels"]["owner"] == "ops"
            && relabelled["Version"]["Index"].as_u64() > Some(index),
        "{relabelled}"
    );
    let (code, body) = http(
        &sock,
        "POST",
        &update,
        Some(r#"{"Name":"api_pw","Labels":{}}"#),
    )?;
    ensure!(
        code == 500 && message(&body)?.contains("update out of sequence"),
        "{code} {body}"
    );
    ensure!(get_json(&n, "/secrets/api_pw")?["Spec"]["Labels"]["owner"] == "ops");
    let (code, body) = http(&sock, "DELETE", "/secrets/api_pw", None)?;
    ensure!(code == 204, "delete: {code} {body}");
    ensure!(
        get_json(&n, "/secrets")?
            .as_array()
            .is_some_and(|a| a.is_empty()),
        "the secret was not removed"
    );
    // Errors carry exactly application/json (the Go client compares the string).
    let hdr = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "--unix-socket"])
        .arg(&sock)
        .arg("http://docker/services/nope")
        .output()?;
    let hdr = String::from_utf8_lossy(&hdr.stdout).to_lowercase();
    ensure!(hdr.contains("content-type: application/json\r\n"), "{hdr}");
    ensure!(
        n.json(&["service", "ls"])? == before,
        "orc's services changed"
    );

    // The read-only socket: reads answer, every write route is refused with a 403.
    let ro = n.docker_socket_readonly();
    let (code, _) = http(&ro, "GET", "/v1.24/services", None)?;
    ensure!(code == 200);
    let net_id = get_json(&n, "/networks/shop_default")?["Id"]
        .as_str()
        .context("net id")?
        .to_string();
    let spec = svc["Spec"].to_string();
    let writes = [
        (
            "POST",
            "/v1.44/services/create".to_string(),
            Some(spec.as_str()),
        ),
        (
            "POST",
            format!("/services/{id}/update?version={version}"),
            Some(spec.as_str()),
        ),
        ("DELETE", format!("/services/{id}"), None),
        (
            "POST",
            "/networks/create".to_string(),
            Some(r#"{"Name":"shop_x"}"#),
        ),
        ("DELETE", format!("/networks/{net_id}"), None),
        ("POST", "/secrets/create".to_string(), Some("{}")),
        ("DELETE", "/secrets/x".to_string(), None),
        ("POST", "/configs/create".to_string(), Some("{}")),
        ("POST", "/nodes/x/update?version=1".to_string(), Some("{}")),
        ("DELETE", "/nodes/x".to_string(), None),
    ];
    for (m, p, b) in writes {
        let (code, body) = http(&ro, m, &p, b)?;
        ensure!(
            code == 403 && message(&body)?.contains("read-only"),
            "{m} {p}: {code} {body}"
        );
    }
    let o = docker_at(&n, &ro, &["service", "scale", "-d", "shop_web=3"])?;
    ensure!(
        !o.status.success(),
        "scale through the read-only socket succeeded"
    );
    ensure!(
        n.json(&["service", "ls"])? == before,
        "orc's services changed"
    );
    Ok(())
}

/// A Python venv with docker-py (PyPI `docker`), made once under target/ and reused.
fn docker_py() -> Result<std::path::PathBuf> {
    let venv = orc_testbed::target_dir()?.join("docker-py-venv");
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", "import docker"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready() {
        return Ok(python);
    }
    // Two tests may make it at once: a private copy, renamed into place.
    let tmp = venv.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let o = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&tmp)
        .output()?;
    ensure!(
        o.status.success(),
        "python3 -m venv: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new(tmp.join("bin/pip"))
        .args(["install", "-q", "docker>=7,<8"])
        .output()?;
    ensure!(
        o.status.success(),
        "pip install docker: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    if !ready() {
        let _ = std::fs::remove_dir_all(&venv);
        std::fs::rename(&tmp, &venv)?;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    ensure!(
        ready(),
        "docker-py is not importable from {}",
        venv.display()
    );
    Ok(python)
}

const DOCKER_PY: &str = r#"
import json, subprocess, sys, time
import docker

sock, orc, orc_sock = sys.argv[1], sys.argv[2], sys.argv[3]
c = docker.DockerClient(base_url="unix://" + sock)

def orc_services():
    out = subprocess.run([orc, "--socket", orc_sock, "service", "ls", "--json"],
                         check=True, capture_output=True).stdout
    return {s["name"]: s for s in json.loads(out)}

def wait(what, pred, secs=60):
    end = time.time() + secs
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise SystemExit("timed out waiting for " + what)

assert c.version()["ApiVersion"] == "1.44", c.version()

# This node's containers: shop_web's running tasks, as orc places them.
out = subprocess.run([orc, "--socket", orc_sock, "service", "ps", "shop_web", "--json"],
                     check=True, capture_output=True).stdout
running = {t["id"] for t in json.loads(out) if t["state"] == "running"}
cs = c.containers.list()
assert {x.id for x in cs} == running, ([x.id for x in cs], running)
for x in cs:
    assert x.name.startswith("shop_web.") and x.name.endswith(x.id), x.name
    assert x.status == "running", x.status
    assert x.labels["com.docker.swarm.service.name"] == "shop_web", x.labels
    attrs = c.containers.get(x.name).attrs
    assert attrs["Id"] == x.id and attrs["State"]["Running"], attrs
    assert c.containers.get(x.id[:12]).id == x.id
try:
    c.containers.get("nope")
    raise SystemExit("an unknown container was found")
except docker.errors.NotFound:
    pass
before = {s.name for s in c.services.list()}
assert before == set(orc_services()), (before, orc_services())

s = c.services.create("demo/busybox:1", name="py_app",
                      command=["sh", "-c", "echo from-docker-py; exec sleep 3600"])
assert "py_app" in orc_services()
wait("py_app running", lambda: orc_services()["py_app"]["running"] == 1)
assert [t["Status"]["State"] for t in s.tasks()] == ["running"], s.tasks()

s.reload()
assert s.scale(2)
wait("py_app 2 running", lambda: orc_services()["py_app"]["running"] == 2)
s.reload()
assert s.attrs["Spec"]["Mode"]["Replicated"]["Replicas"] == 2

logs = b"".join(s.logs(stdout=True, stderr=True))
assert logs.count(b"from-docker-py") == 2, logs

s.reload()
s.update(image="demo/busybox:2")
wait("the new image", lambda: orc_services()["py_app"]["image"] == "demo/busybox:2")

s.remove()
assert "py_app" not in orc_services()
assert "py_app" not in {x.name for x in c.services.list()}
try:
    c.services.get("py_app")
    raise SystemExit("py_app still inspectable")
except docker.errors.NotFound:
    pass
print("docker-py OK")
"#;

#[test]
fn docker_py_creates_scales_updates_and_removes_a_service() -> Result<()> {
    let python = docker_py()?;
    let n = node_with_orc_stack()?;
    let script = n.dir().join("docker_py_test.py");
    std::fs::write(&script, DOCKER_PY)?;
    let o = Command::new(&python)
        .arg(&script)
        .arg(n.docker_socket())
        .arg(orc_testbed::orc_binary()?)
        .arg(n.socket())
        .output()?;
    ensure!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("docker-py OK"),
        "docker-py: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(())
}

#[test]
fn three_managers_and_a_worker_answer_as_swarm_does() -> Result<()> {
    let c = harness::TestCluster::form(&["m1", "m2", "m3", "w1"], 3, 1, None, true)?;
    let (m, w) = (c.node(0), c.node(3));
    // Writes through any manager: created via one follower, seen by all, removed via
    // another.
    let leader = c.leader_index(0)?;
    let (f1, f2) = match leader {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    };
    docker(
        c.node(f1),
        &[
            "service",
            "create",
            "-d",
            "--name",
            "viafollower",
            "demo/busybox:1",
            "sleep",
            "60",
        ],
    )?;
    for i in 0..3 {
        poll_until(CONVERGE, "every manager to list viafollower", || {
            orc_desired(c.node(i), "viafollower").ok().flatten()
        })?;
    }
    let ls = docker(
        c.node(f2),
        &["service", "ls", "--format", "{{.Name}} {{.Mode}}"],
    )?;
    ensure!(ls.contains("viafollower replicated"), "{ls}");
    docker(c.node(f2), &["service", "rm", "viafollower"])?;
    poll_until(CONVERGE, "viafollower to go everywhere", || {
        (0..3)
            .all(|i| orc_desired(c.node(i), "viafollower").is_ok_and(|s| s.is_none()))
            .then_some(())
    })?;
    let hdr = Command::new("curl")
        .args(["-s", "-I", "--unix-socket"])
        .arg(w.docker_socket())
        .arg("http://docker/_ping")
        .output()?;
    let hdr = String::from_utf8_lossy(&hdr.stdout).to_lowercase();
    ensure!(hdr.contains("swarm: active/worker"), "{hdr}");
    let (code, body) = http(&w.docker_socket(), "GET", "/v1.44/info", None)?;
    let info: Value = serde_json::from_str(&body)?;
    ensure!(
        code == 200 && info["Swarm"]["ControlAvailable"] == false,
        "{body}"
    );
    ensure!(info["Swarm"]["LocalNodeState"] == "active", "{body}");
    ensure!(
        info["Swarm"]["NodeID"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    for p in ["/services", "/tasks", "/nodes", "/v1.24/networks", "/swarm"] {
        let (code, body) = http(&w.docker_socket(), "GET", p, None)?;
        ensure!(
            code == 503 && body.contains("This node is not a swarm manager"),
            "{p}: {code} {body}"
        );
    }
    let (code, _) = http(&w.docker_socket(), "GET", "/containers/json?all=1", None)?;
    ensure!(code == 200);
    let o = docker_at(w, &w.docker_socket(), &["service", "ls"])?;
    ensure!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not a swarm manager"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The manager lists both, as orc does.
    let nodes = docker(
        m,
        &["node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}"],
    )?;
    let orc_nodes = m.json(&["node", "ls"])?;
    for n in orc_nodes.as_array().context("nodes")? {
        let host = n["hostname"].as_str().unwrap_or("?");
        ensure!(
            nodes.lines().any(|l| l.starts_with(host)),
            "{host} missing from {nodes}"
        );
    }
    ensure!(
        nodes.lines().filter(|l| !l.trim().is_empty()).count() == 4
            && nodes.matches("Leader").count() == 1,
        "{nodes}"
    );

    // Node updates (Portainer's node page, `docker node update`) are orc's.
    let w_host = orc_nodes
        .as_array()
        .context("nodes")?
        .iter()
        .find(|n| n["role"] == "worker")
        .and_then(|n| n["hostname"].as_str())
        .context("no worker")?
        .to_string();
    docker(
        m,
        &[
            "node",
            "update",
            "--label-add",
            "disk=ssd",
            "--availability",
            "drain",
            &w_host,
        ],
    )?;
    let row = |m: &OrcNode| -> Result<Value> {
        m.json(&["node", "ls"])?
            .as_array()
            .context("nodes")?
            .iter()
            .find(|n| n["hostname"] == w_host.as_str())
            .cloned()
            .context("worker gone")
    };
    let r = row(m)?;
    ensure!(
        r["labels"]["disk"] == "ssd" && r["availability"] == "drain",
        "{r}"
    );
    docker(
        m,
        &[
            "node",
            "update",
            "--label-rm",
            "disk",
            "--availability",
            "active",
            &w_host,
        ],
    )?;
    let r = row(m)?;
    ensure!(
        r["labels"].get("disk").is_none() && r["availability"] == "active",
        "{r}"
    );
    let nd = get_json(m, &format!("/nodes/{w_host}"))?;
    let v = nd["Version"]["Index"].as_u64().context("version")?;
    let (code, body) = http(
        &m.docker_socket(),
        "POST",
        &format!("/nodes/{w_host}/update?version={}", v + 1),
        Some(r#"{"Availability":"pause","Role":"worker","Labels":{}}"#),
    )?;
    ensure!(
        code == 500 && body.contains("update out of sequence"),
        "{code} {body}"
    );
    ensure!(row(m)?["availability"] == "active");

    // Each node answers its own containers: a global service runs one task on every
    // node; the worker and a manager each list, inspect and read the stats of theirs.
    docker(
        m,
        &[
            "service",
            "create",
            "-d",
            "--mode",
            "global",
            "--name",
            "everywhere",
            "--label",
            "tier=edge",
            "--env",
            "GREETING=hi",
            "--stop-grace-period",
            "1s",
            "demo/busybox:1",
            "sleep",
            "3600",
        ],
    )?;
    let tasks = poll_until(CONVERGE, "everywhere on every node", || {
        let ps = m.json(&["service", "ps", "everywhere"]).ok()?;
        let rows: Vec<Value> = ps
            .as_array()?
            .iter()
            .filter(|t| t["state"] == "running" && t["address"].is_string())
            .cloned()
            .collect();
        (rows.len() == 4).then_some(rows)
    })?;
    for node in [w, m] {
        own_containers(node, &tasks)?;
    }
    // Removed: the worker runs none of it any more; what it still lists has exited.
    docker(m, &["service", "rm", "everywhere"])?;
    poll_until(CONVERGE, "the worker's container to stop", || {
        docker(w, &["ps", "-q", "--filter", "label=tier=edge"])
            .ok()
            .filter(|o| o.trim().is_empty())
    })?;
    let left = docker(
        w,
        &[
            "ps",
            "-a",
            "--filter",
            "label=tier=edge",
            "--format",
            "{{.Status}}",
        ],
    )?;
    ensure!(
        left.lines().all(|l| l.starts_with("Exited (")),
        "docker ps -a on the worker: {left}"
    );
    Ok(())
}

/// `docker ps`, `ps -a --filter label=…`, `inspect` and `stats --no-stream` against
/// `node`'s socket show exactly the one task of `tasks` (orc's `service ps` rows of
/// the global service `everywhere`) that orc placed on it.
fn own_containers(node: &OrcNode, tasks: &[Value]) -> Result<()> {
    // viafollower's container (its service was removed above) may still be stopping.
    let info = poll_until(CONVERGE, "one running container", || {
        get_json(node, "/info")
            .ok()
            .filter(|i| i["ContainersRunning"] == 1)
    })?;
    let host = info["Name"].as_str().context("info Name")?;
    let node_id = info["Swarm"]["NodeID"].as_str().context("NodeID")?;
    let mine: Vec<&Value> = tasks.iter().filter(|t| t["node"] == host).collect();
    ensure!(mine.len() == 1, "{host}: {tasks:?}");
    let id = mine[0]["id"].as_str().context("task id")?;
    let addr = mine[0]["address"].as_str().context("address")?;
    let name = format!("everywhere.{node_id}.{id}");
    let ps = docker(
        node,
        &[
            "ps",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Names}} {{.Status}}",
        ],
    )?;
    let lines: Vec<&str> = ps.lines().collect();
    ensure!(
        lines.len() == 1 && lines[0].starts_with(&format!("{id} {name} Up ")),
        "{host}: docker ps: {ps}"
    );
    let labelled = docker(
        node,
        &[
            "ps",
            "-a",
            "-q",
            "--no-trunc",
            "--filter",
            "label=tier=edge",
        ],
    )?;
    ensure!(labelled.trim() == id, "{host}: {labelled}");
    let none = docker(node, &["ps", "-a", "-q", "--filter", "label=tier=core"])?;
    ensure!(none.trim().is_empty(), "{host}: {none}");
    let inspected: Value = serde_json::from_str(&docker(node, &["inspect", &name])?)?;
    let i = &inspected[0];
    ensure!(
        i["Id"] == id
            && i["Name"] == format!("/{name}").as_str()
            && i["State"]["Running"] == true
            && i["State"]["Pid"].as_u64().is_some_and(|p| p > 0)
            // The process as containerd runs it.
            && i["Path"] == "sleep"
            && i["Args"] == serde_json::json!(["3600"])
            && i["Config"]["Image"] == "demo/busybox:1"
            && i["Config"]["Labels"]["com.docker.swarm.node.id"] == node_id
            && i["Config"]["Env"]
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x == "GREETING=hi")),
        "{host}: {i}"
    );
    ensure!(
        i["NetworkSettings"]["Networks"]["everywhere_default"]["IPAddress"] == addr,
        "{host}: {i}"
    );
    let stats = docker(
        node,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.ID}} {{.Name}} {{.MemUsage}}",
        ],
    )?;
    let lines: Vec<&str> = stats.lines().collect();
    ensure!(
        lines.len() == 1 && lines[0].starts_with(&format!("{} {name} ", &id[..12])),
        "{host}: docker stats: {stats}"
    );
    let (code, body) = http(&node.docker_socket(), "GET", "/containers/nope/json", None)?;
    ensure!(
        code == 404
            && serde_json::from_str::<Value>(&body)?["message"] == "No such container: nope",
        "{code} {body}"
    );
    Ok(())
}
