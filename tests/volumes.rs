//! Volumes against a real Ceph cluster the harness starts once for this binary
//! (starting one costs ~20 s and ~600 MB): one test runs the scenarios in sequence.

use anyhow::{ensure, Context, Result};
use orc_spec::{VolumeDriver, VolumeSpec};
use orc_testbed::ceph::skip_without_ceph;
use orc_testbed::orc_node::OrcNode;
use orc_testbed::{busybox_image, poll_until, Ceph, ImageFormat};
use orc_volume::{is_mounted, CephTool, Volumes};
use std::time::Duration;

fn tool(ceph: &Ceph) -> CephTool {
    CephTool {
        conf: ceph.conf(),
        keyring: ceph.admin_keyring(),
        user: "admin".into(),
    }
}

/// A driver round trip: attach, write, detach, attach again, read, delete.
fn driver_keeps_data(ceph: &Ceph, spec: VolumeSpec, name: &str) {
    let root = tempfile::tempdir().unwrap();
    let vols = Volumes::new(root.path(), Some(tool(ceph)));
    let d = vols.driver(&spec).unwrap();
    let mnt = d.attach(name, &spec).unwrap();
    assert!(is_mounted(&mnt), "{} mounted", mnt.display());
    std::fs::write(mnt.join("hello"), "data survives").unwrap();
    d.detach(name, &spec).unwrap();
    assert!(!is_mounted(&mnt));
    assert!(
        !mnt.join("hello").exists(),
        "the data is on Ceph, not in the mount point"
    );
    let mnt = d.attach(name, &spec).unwrap();
    assert_eq!(
        std::fs::read_to_string(mnt.join("hello")).unwrap(),
        "data survives"
    );
    d.detach(name, &spec).unwrap();
    d.delete(name, &spec).unwrap();
    assert!(!is_mounted(&mnt));
}

#[test]
fn ceph_volumes() {
    if skip_without_ceph("ceph_volumes") {
        return;
    }
    let ceph = Ceph::start().expect("start ceph");
    driver_keeps_data(
        &ceph,
        VolumeSpec {
            driver: VolumeDriver::CephFs {
                fs_name: "cephfs".into(),
                group: None,
            },
            size_bytes: 64 << 20,
        },
        "t_files",
    );
    driver_keeps_data(
        &ceph,
        VolumeSpec {
            driver: VolumeDriver::Rbd {
                pool: "rbd".into(),
                fs_type: "ext4".into(),
            },
            size_bytes: 64 << 20,
        },
        "t_db",
    );
    service_data_survives_redeploy(&ceph).unwrap();
}

/// Through orc: a service writes to an rbd and a cephfs volume, the stack is removed
/// (the volumes detach, nothing stays mounted) and redeployed, and the data is there.
fn service_data_survives_redeploy(ceph: &Ceph) -> Result<()> {
    let n = OrcNode::start_initialised()?;
    let img = busybox_image(ImageFormat::Oci)?;
    n.ok(&["image", "load", img.to_str().context("path")?])?;
    let conf = ceph.conf();
    let keyring = ceph.admin_keyring();
    let out = n.ok(&[
        "cluster",
        "ceph",
        "set",
        "--conf",
        conf.to_str().context("path")?,
        "--keyring",
        keyring.to_str().context("path")?,
        "--user",
        "admin",
    ])?;
    ensure!(out.contains("client.admin"), "{out}");
    ensure!(!out.contains("key"), "the keyring is never echoed: {out}");
    let stack = n.dir().join("st.toml");
    std::fs::write(
        &stack,
        r#"
[volumes.db]
driver = "rbd"
size = "64M"

[volumes.files]
driver = "cephfs"
size = "64M"

[services.app]
image = "demo/busybox:1"
command = ["sh", "-c", "echo run >> /db/runs && echo run >> /files/runs && exec sleep 3600"]
stop = { signal = "SIGKILL", grace_period = "1s" }
volumes = [{ source = "db", target = "/db" }, { source = "files", target = "/files" }]
"#,
    )?;
    let stack = stack.to_str().context("path")?;
    let vols = n.data_dir().join("volumes");
    let runs = |v: &str| std::fs::read_to_string(vols.join(v).join("mnt/runs")).unwrap_or_default();
    for round in 1..=2 {
        let out = n.ok(&["stack", "deploy", stack, "--timeout", "120"])?;
        ensure!(
            out.contains("converged"),
            "deploy: {out}\n{}",
            n.daemon_log_tail(40)
        );
        let want = "run\n".repeat(round);
        poll_until(
            Duration::from_secs(30),
            "the service to write to both volumes",
            || (runs("st_db") == want && runs("st_files") == want).then_some(()),
        )?;
        let ls = n.json(&["volume", "ls"])?;
        let db = ls
            .as_array()
            .and_then(|a| a.iter().find(|r| r["name"] == "st_db"))
            .with_context(|| format!("st_db in {ls}"))?;
        ensure!(db["driver"] == "rbd" && db["node"].is_string(), "{db}");
        n.ok(&["stack", "rm", "st", "--timeout", "60"])?;
        // The volumes detach with the task: nothing of them stays mounted.
        poll_until(
            Duration::from_secs(30),
            "the volumes to be unmounted",
            || (!mounted_under(&vols)).then_some(()),
        )?;
        // …and the leader releases the rbd claim.
        poll_until(
            Duration::from_secs(10),
            "the rbd volume to be released",
            || {
                let ls = n.json(&["volume", "ls"]).ok()?;
                let db = ls
                    .as_array()?
                    .iter()
                    .find(|r| r["name"] == "st_db")?
                    .clone();
                db["node"].is_null().then_some(())
            },
        )?;
    }
    ensure!(
        ceph.rbd(&["ls", "rbd"])?.contains("st_db"),
        "the image is kept by stack rm"
    );
    // Deploy once more, then remove with --volumes: the data goes too.
    n.ok(&["stack", "deploy", stack, "--timeout", "120"])?;
    n.ok(&["stack", "rm", "st", "--volumes", "--timeout", "60"])?;
    ensure!(n
        .json(&["volume", "ls"])?
        .as_array()
        .is_some_and(Vec::is_empty));
    ensure!(
        !ceph.rbd(&["ls", "rbd"])?.contains("st_db"),
        "the image is deleted"
    );
    ensure!(!mounted_under(&vols));
    Ok(())
}

fn mounted_under(dir: &std::path::Path) -> bool {
    let prefix = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|p| p.starts_with(&prefix))
}
