//! Images shared between nodes without a registry: a node that lacks a task's image
//! fetches it from a peer over the cluster's mutual-TLS gRPC (real namespaces, real
//! containerds, real daemons).

#[path = "cluster/harness.rs"]
#[allow(dead_code)]
mod harness;

use anyhow::{ensure, Result};
use harness::TestCluster;
use orc_testbed::{busybox_image, ImageFormat};
use std::time::Duration;

#[test]
fn an_image_loaded_on_one_node_runs_on_another_that_never_saw_it() -> Result<()> {
    // A manager and a worker; neither has the image.
    let c = TestCluster::form(&["m", "w"], 1, 1, Some(250), false)?;
    let (m, w) = (0, 1);
    let img = busybox_image(ImageFormat::Oci)?;
    c.node(m).ok(&["image", "load", &img.to_string_lossy()])?;
    ensure!(c.node(w).ctr(&["images", "ls", "-q"])?.trim().is_empty());

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
