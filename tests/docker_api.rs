//! The Docker-Engine-API-compatible socket, end to end: the real `docker` CLI (its
//! client only; no Docker engine runs) and raw HTTP calls replaying what Traefik,
//! Telegraf and Portainer send, against a real orc daemon on real containerd. Each
//! answer is checked against orc's own view of the same cluster.

use anyhow::{ensure, Context, Result};
use orc_testbed::orc_node::OrcNode;
use orc_testbed::{busybox_image, poll_until, ImageFormat};
use serde_json::Value;
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
    c.args(["-s", "-S", "-m", "20", "-X", method, "--unix-socket"])
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
  web:
    image: demo/busybox:1
    command: ["sh", "-c", "echo hello-from-docker-stack; exec sleep 3600"]
    environment:
      GREETING: hi
    stop_grace_period: 1s
    networks: [front]
    deploy:
      replicas: 2
      labels:
        traefik.enable: "true"
        traefik.http.services.web.loadbalancer.server.port: "80"
networks:
  front: {}
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
    std::fs::write(&compose, COMPOSE)?;
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
        stacks[0]["name"] == "demo" && stacks[0]["services"] == 1,
        "{stacks}"
    );
    let ls = docker(&n, &["stack", "ls", "--format", "{{.Name}} {{.Services}}"])?;
    ensure!(ls.trim() == "demo 1", "docker stack ls: {ls}");
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
        services.trim() == "demo_web 2/2",
        "docker stack services: {services}"
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

    docker(&n, &["service", "scale", "-d", "demo_web=3"])?;
    poll_until(CONVERGE, "demo_web 3/3", || {
        orc_desired(&n, "demo_web")
            .ok()
            .flatten()
            .filter(|s| s.0 == 3 && s.1 == 3)
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
    let rb = docker_at(
        &n,
        &n.docker_socket(),
        &["service", "rollback", "-d", "demo_web"],
    )?;
    ensure!(!rb.status.success(), "rollback should be refused");
    ensure!(
        String::from_utf8_lossy(&rb.stderr).contains("rollback"),
        "{}",
        String::from_utf8_lossy(&rb.stderr)
    );

    // A service outside any stack file, created and removed by the CLI.
    docker(
        &n,
        &[
            "service",
            "create",
            "-d",
            "--name",
            "solo",
            "demo/busybox:1",
            "sleep",
            "3600",
        ],
    )?;
    poll_until(CONVERGE, "solo running", || {
        orc_desired(&n, "solo").ok().flatten().filter(|s| s.0 == 1)
    })?;
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
    poll_until(CONVERGE, "the stack's tasks to go", || {
        get_json(&n, "/tasks").ok().filter(|t| {
            t.as_array()
                .is_some_and(|a| a.iter().all(|t| t["DesiredState"] != "running"))
        })
    })?;
    Ok(())
}
