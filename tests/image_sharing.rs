//! Images shared between nodes without a registry: a node that lacks a task's image
//! fetches it from a peer over the cluster's mutual-TLS gRPC (real namespaces, real
//! containerds, real daemons).

#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;

use anyhow::{ensure, Result};
use harness::{TestCluster, CONVERGE};
use orc_testbed::{busybox_image, orc_binary, ImageFormat, Registry};
use std::io::Write;
use std::time::Duration;

#[test]
fn an_image_loaded_on_one_node_runs_on_another_that_never_saw_it() -> Result<()> {
    // A manager and a worker; neither has the image.
    let c = TestCluster::form(&["m", "w"], 1, 1, Some(250), false)?;
    let (m, w) = (0, 1);
    let img = busybox_image(ImageFormat::Oci)?;
    c.node(m).ok(&["image", "load", &img.to_string_lossy()])?;
    ensure!(c.node(w).ctr(&["images", "ls", "-q"])?.trim().is_empty());

    let t = std::time::Instant::now();
    c.deploy(
        m,
        "share",
        r#"
[services.app]
image = "demo/busybox:1"
command = ["sleep", "3600"]
constraints = ["node.role == worker"]
stop = { signal = "SIGKILL", grace_period = "1s" }
"#,
    )?;
    c.wait_service(m, "share_app", 1)?;
    eprintln!(
        "deploy → running on a node that fetched the image from a peer: {:?}",
        t.elapsed()
    );
    let on = c.running_by_node(m, "share_app")?;
    ensure!(on.len() == 1, "{on:?}");
    // The worker now holds the image, with the manager's digest.
    let images = c.node(w).ctr(&["images", "ls"])?;
    ensure!(images.contains("docker.io/demo/busybox:1"), "{images}");
    let digest = |n: usize| -> Result<String> {
        let v = c.node(n).json(&["image", "ls"])?;
        Ok(v[0]["digest"].as_str().unwrap_or_default().to_string())
    };
    ensure!(digest(w)? == digest(m)?);
    // `image ls` on the manager says which nodes hold it (from their inventories).
    c.poll(
        Duration::from_secs(30),
        "both nodes in the image's NODES",
        Duration::from_millis(200),
        || {
            let v = c.node(m).json(&["image", "ls"]).ok()?;
            let nodes = v[0]["nodes"].as_array()?.len();
            (nodes == 2).then_some(())
        },
    )?;
    Ok(())
}

#[test]
fn an_image_loaded_only_on_one_worker_runs_on_another_worker() -> Result<()> {
    // No registry, and the manager never holds the image: worker b finds worker a
    // through the inventories (asking the manager who holds it) and fetches from it.
    let c = TestCluster::form(&["m", "wa", "wb"], 1, 2, Some(250), false)?;
    let (m, a, b) = (0, 1, 2);
    let img = busybox_image(ImageFormat::Oci)?;
    c.node(a).ok(&["image", "load", &img.to_string_lossy()])?;
    c.poll(
        Duration::from_secs(30),
        "worker a's inventory in the state",
        Duration::from_millis(200),
        || {
            let v = c.node(m).json(&["image", "ls"]).ok()?;
            let row = v
                .as_array()?
                .iter()
                .find(|r| r["name"] == "docker.io/demo/busybox:1")?;
            (row["nodes"] == serde_json::json!(["wa"])).then_some(())
        },
    )?;
    c.deploy(
        m,
        "wshare",
        r#"
[services.app]
image = "demo/busybox:1"
command = ["sleep", "3600"]
constraints = ["node.hostname == wb"]
stop = { signal = "SIGKILL", grace_period = "1s" }
"#,
    )?;
    c.wait_service(m, "wshare_app", 1)?;
    let images = c.node(b).ctr(&["images", "ls"])?;
    ensure!(images.contains("docker.io/demo/busybox:1"), "{images}");
    ensure!(c.node(m).ctr(&["images", "ls", "-q"])?.trim().is_empty());
    Ok(())
}

#[test]
fn pull_on_a_node_and_load_distribute_spread_an_image_from_peers() -> Result<()> {
    let c = TestCluster::form(&["m", "w1", "w2"], 1, 2, Some(250), false)?;
    let (m, w1, w2) = (0, 1, 2);
    let img = busybox_image(ImageFormat::Oci)?;
    let has = |n: usize| -> Result<bool> {
        Ok(c.node(n)
            .ctr(&["images", "ls", "-q"])?
            .contains("docker.io/demo/busybox:1"))
    };
    c.node(m).ok(&["image", "load", &img.to_string_lossy()])?;
    // One node, on request: it fetches from the peer that has it.
    let out = c
        .node(m)
        .ok(&["image", "pull", "demo/busybox:1", "--node", "w1"])?;
    ensure!(
        out.contains("pulled docker.io/demo/busybox:1 on w1"),
        "{out}"
    );
    ensure!(has(w1)? && !has(w2)?);
    // Every node: load --distribute waits until all hold it.
    let out = c
        .node(m)
        .orc(&["image", "load", &img.to_string_lossy(), "--distribute"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "{stderr}");
    ensure!(stderr.contains("on 3/3 node(s)"), "{stderr}");
    ensure!(has(w2)?);
    Ok(())
}

#[test]
fn a_worker_pulls_from_a_private_registry_with_credentials_a_manager_hands_it() -> Result<()> {
    let c = TestCluster::form(&["m", "w"], 1, 1, Some(250), false)?;
    let (m, w) = (0, 1);
    // The registry is on the worker's own loopback: only the worker reaches it.
    let reg = Registry::start_with_auth_in(&c.host(w).netns, "orc", "pw-of-orc")?;
    reg.push_archive(&busybox_image(ImageFormat::Oci)?, "private/app:1")?;
    let image = format!("{}/private/app:1", reg.host());
    let stack = format!(
        r#"
[services.app]
image = "{image}"
command = ["sleep", "3600"]
constraints = ["node.role == worker"]
restart = {{ condition = "any", delay = "300ms" }}
stop = {{ signal = "SIGKILL", grace_period = "1s" }}
"#
    );
    let p = c.node(m).dir().join("priv.toml");
    std::fs::write(&p, stack)?;
    c.node(m).ok(&[
        "stack",
        "deploy",
        &p.to_string_lossy(),
        "--name",
        "priv",
        "--detach",
        "--no-resolve",
    ])?;
    let ps = |state: &str| -> Option<serde_json::Value> {
        c.node(m)
            .json(&["service", "ps", "priv_app", "--all"])
            .ok()?
            .as_array()?
            .iter()
            .find(|t| t["state"] == state)
            .cloned()
    };
    let rejected = c.poll(
        CONVERGE,
        "a task rejected for auth",
        Duration::from_millis(200),
        || ps("rejected"),
    )?;
    ensure!(
        rejected["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("registry auth refused (next try ")),
        "{rejected}"
    );

    let mut login = std::process::Command::new(orc_binary()?)
        .arg("--socket")
        .arg(c.node(m).socket())
        .args([
            "registry",
            "login",
            &reg.host(),
            "-u",
            "orc",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = login.stdin.take() {
        stdin.write_all(b"pw-of-orc\n")?;
    }
    let out = login.wait_with_output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The worker's next attempt gets the credentials from the manager.
    c.wait_service(m, "priv_app", 1)?;
    ensure!(!c.node(w).daemon_log().contains("pw-of-orc"));
    ensure!(!c.node(m).daemon_log().contains("pw-of-orc"));
    Ok(())
}
