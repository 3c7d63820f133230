//! A compose file deployed unchanged on a real cluster (three nodes in network
//! namespaces, real containerd): a db (its data on a named volume, a secret and a
//! health check declared) and an app that depends on it being healthy, interpolation
//! from a `.env`, a published port, extra_hosts, cap_add and a read-only root seen
//! from inside the app; then an update from a second `-c` file, and the loss of the
//! node running the app.

#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;

use anyhow::{ensure, Result};
use harness::TestCluster;
use std::time::Duration;

const COMPOSE: &str = r#"
x-defaults: &defaults
  restart: unless-stopped
  stop_signal: SIGKILL
  stop_grace_period: 1s

services:
  db:
    <<: *defaults
    image: demo/busybox:1
    # Its data on a named volume: what it serves was written there first.
    command: sh -c 'mkdir -p /tmp/www && echo db-ok > /data/marker && { cat /data/marker; cat $$DB_PASSWORD_FILE; } > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www'
    container_name: db
    tmpfs: [/tmp]
    volumes:
      - db-data:/data
    environment:
      DB_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://localhost/"]
      interval: 2s
    deploy:
      placement:
        constraints: [node.role == manager]
  app:
    <<: *defaults
    image: "demo/busybox:${APP_TAG:-0}"
    depends_on:
      db:
        condition: service_healthy
    # The page shows what the container sees: its capabilities, whether its root is
    # writable, its extra host, the db through its name, and its greeting.
    command:
      - sh
      - -c
      - >-
        mkdir -p /tmp/www;
        touch /rootfile 2>/dev/null; rw=$$?;
        {
        echo "greeting=$$GREETING";
        grep CapEff /proc/self/status;
        echo "rootwrite=$$rw";
        grep printer.lan /etc/hosts;
        for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        wget -q -O- http://db/ > /tmp/db && break; sleep 0.5; done;
        sed 's/^/db=/' /tmp/db;
        } > /tmp/www/index.html;
        exec httpd -f -p 80 -h /tmp/www
    environment:
      - GREETING=${GREETING}
    ports:
      - "18090:80"
    read_only: true
    tmpfs:
      - /tmp
    cap_add: [NET_ADMIN]
    extra_hosts:
      - "printer.lan:192.168.77.20"
    deploy:
      placement:
        constraints: [node.role == worker]

volumes:
  db-data:

secrets:
  db_password:
    file: ./db_password.txt
"#;

const UPDATE: &str = r#"
services:
  app:
    environment:
      GREETING: updated
"#;

/// The app's page through node `via`'s published port, once `want` is on it.
fn page(c: &TestCluster, via: usize, want: &str) -> Result<String> {
    let url = format!("http://{}:18090/", c.host(via).ip);
    c.poll(
        harness::CONVERGE,
        &format!("{url} showing {want}"),
        Duration::from_millis(200),
        || {
            let out = c
                .host(via)
                .command("curl")
                .args(["-s", "-m", "2", &url])
                .output()
                .ok()?;
            let body = String::from_utf8_lossy(&out.stdout).into_owned();
            body.contains(want).then_some(body)
        },
    )
}

fn app_node(c: &TestCluster) -> Option<String> {
    let rows = c.node(0).json(&["service", "ps", "cmp_app"]).ok()?;
    rows.as_array()?.iter().find_map(|t| {
        (t["state"] == "running").then_some(())?;
        t["node"].as_str().map(str::to_string)
    })
}

#[test]
fn a_compose_stack_deploys_unchanged_updates_and_survives_a_node_loss() -> Result<()> {
    let c = TestCluster::form(&["m", "w1", "w2"], 1, 2, Some(250), true)?;
    let dir = tempfile::Builder::new().prefix("orc-compose-").tempdir()?;
    let file = dir.path().join("docker-compose.yml");
    std::fs::write(&file, COMPOSE)?;
    std::fs::write(
        dir.path().join(".env"),
        "APP_TAG=1\nGREETING=hello-from-dotenv\n",
    )?;
    std::fs::write(
        dir.path().join("db_password.txt"),
        "delivered-from-a-file\n",
    )?;
    let over = dir.path().join("docker-compose.update.yml");
    std::fs::write(&over, UPDATE)?;
    let file_s = file.to_string_lossy().to_string();

    // validate and convert need no daemon; both name the dropped key.
    let out = c.node(0).orc(&["stack", "validate", &file_s, "-v"])?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "validate: {err}");
    ensure!(
        err.contains("container_name"),
        "no warning for container_name: {err}"
    );
    ensure!(
        err.contains("$APP_TAG from") && err.contains(".env:1"),
        "-v: {err}"
    );
    let toml = c.node(0).ok(&["stack", "convert", &file_s])?;
    ensure!(toml.contains("# dropped `container_name`"), "{toml}");

    c.node(0)
        .ok(&["stack", "deploy", "-c", &file_s, "cmp", "--timeout", "90"])?;
    let body = page(&c, 0, "db=db-ok")?;
    // The compose secret reached the db as a file (/run/secrets/db_password).
    ensure!(body.contains("db=delivered-from-a-file"), "{body}");
    ensure!(body.contains("greeting=hello-from-dotenv"), "{body}");
    ensure!(body.contains("192.168.77.20\tprinter.lan"), "{body}");
    ensure!(
        body.contains("rootwrite=1"),
        "the root was writable: {body}"
    );
    let caps = body
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap_or(0);
    ensure!(caps & (1 << 12) != 0, "no CAP_NET_ADMIN: {body}");
    // The published port answers on every node.
    for i in 1..3 {
        page(&c, i, "db=db-ok")?;
    }

    // An update from a second compose file merged over the first.
    c.node(0).ok(&[
        "stack",
        "deploy",
        "-c",
        &file_s,
        "-c",
        &over.to_string_lossy(),
        "cmp",
        "--timeout",
        "90",
    ])?;
    page(&c, 0, "greeting=updated")?;

    // The node running the app goes away: the app comes back on the other worker.
    let on = c.poll(
        harness::CONVERGE,
        "the app's node",
        Duration::from_millis(200),
        || app_node(&c),
    )?;
    let lost = if on == "w1" { 1 } else { 2 };
    c.lan.cut(c.host(lost))?;
    let moved = c.poll(
        harness::CONVERGE,
        "the app elsewhere",
        Duration::from_millis(200),
        || app_node(&c).filter(|n| *n != on),
    )?;
    println!("app page:\n{body}\napp moved from {on} to {moved}");
    ensure!(moved != on);
    page(&c, 0, "greeting=updated")?;
    c.lan.heal(c.host(lost))?;
    c.node(0).ok(&["stack", "rm", "cmp"])?;
    Ok(())
}
