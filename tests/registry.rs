//! Registry pulls end to end: the real orc binary and daemon, a real containerd and
//! Debian's docker-registry on loopback, images pushed with skopeo.

use anyhow::{ensure, Context, Result};
use orc_testbed::orc_node::OrcNode;
use orc_testbed::{
    busybox_image, multi_arch_layout, orc_binary, poll_until, ImageFormat, Registry, MULTI_ARCH_REF,
};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(60);

fn write_stack(n: &OrcNode, name: &str, body: &str) -> Result<String> {
    let p = n.dir().join(format!("{name}.toml"));
    std::fs::write(&p, body)?;
    Ok(p.to_string_lossy().into_owned())
}

fn service(n: &OrcNode, name: &str) -> Result<Value> {
    let rows = n.json(&["service", "ls"])?;
    rows.as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == name).cloned())
        .with_context(|| format!("{name} not in {rows}"))
}

fn tasks(n: &OrcNode, name: &str) -> Vec<Value> {
    n.json(&["service", "ps", name, "--all"])
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// The seconds of the day in "registry unreachable (next try HH:MM:SS)".
fn next_try(message: &str) -> Result<u64> {
    let clock = message
        .strip_prefix("registry unreachable (next try ")
        .and_then(|m| m.strip_suffix(')'))
        .with_context(|| format!("message {message:?}"))?;
    let p: Vec<u64> = clock
        .split(':')
        .map(|x| x.parse::<u64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("clock in {message:?}"))?;
    ensure!(p.len() == 3, "clock in {message:?}");
    Ok(p[0] * 3600 + p[1] * 60 + p[2])
}

fn stack_body(service: &str, image: &str) -> String {
    format!(
        r#"
[services.{service}]
image = "{image}"
command = ["sh", "-c", "exec sleep 3600"]
restart = {{ condition = "any", delay = "300ms" }}
stop = {{ signal = "SIGKILL", grace_period = "1s" }}
"#
    )
}

#[test]
fn image_pull_shows_progress_and_lists_the_image() -> Result<()> {
    let n = OrcNode::start_initialised()?;
    let reg = Registry::start_in(n.netns())?;
    reg.push_archive(&busybox_image(ImageFormat::Oci)?, "demo/busybox:1")?;
    let image = format!("{}/demo/busybox:1", reg.host());
    let out = n.orc(&["image", "pull", &image])?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    ensure!(out.status.success(), "{stderr}");
    ensure!(stdout.contains(&format!("pulled {image}")), "{stdout}");
    ensure!(
        stderr.contains("resolved") && stderr.contains("MB"),
        "{stderr}"
    );
    let ls = n.json(&["image", "ls"])?;
    ensure!(ls.to_string().contains(&image), "{ls}");
    // Unknown image: a clear error, nothing listed.
    let out = n.orc(&["image", "pull", &format!("{}/demo/none:1", reg.host())])?;
    ensure!(!out.status.success());
    ensure!(
        String::from_utf8_lossy(&out.stderr).contains("unknown image"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
fn deploy_pins_the_digest_and_the_agent_pulls_the_missing_image() -> Result<()> {
    let n = OrcNode::start_initialised()?;
    let reg = Registry::start_in(n.netns())?;
    reg.push_archive(&busybox_image(ImageFormat::Oci)?, "demo/app:1")?;
    let pinned = reg.raw_manifest("demo/app:1")?;
    let image = format!("{}/demo/app:1", reg.host());
    let stack = write_stack(&n, "pin", &stack_body("app", &image))?;
    let out = n.orc(&["stack", "deploy", &stack, "--timeout", "60"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "{stderr}\n{}", n.daemon_log_tail(40));
    eprintln!("{stderr}");
    ensure!(
        stderr.contains(&format!(
            "pinned to registry digests: app → {image}@sha256:"
        )),
        "{stderr}"
    );
    let svc = service(&n, "pin_app")?;
    let img = svc["image"].as_str().unwrap_or_default().to_string();
    ensure!(img.starts_with(&format!("{image}@sha256:")), "{svc}");
    ensure!(pinned["layers"].is_array(), "{pinned}");

    // The tag moves; a new task (scale up) still runs the pinned bits.
    let dir = tempfile::tempdir()?;
    multi_arch_layout(
        &busybox_image(ImageFormat::Oci)?,
        dir.path(),
        &["amd64", "arm64"],
        "moved",
    )?;
    reg.push(
        &format!("oci:{}:{MULTI_ARCH_REF}", dir.path().display()),
        "demo/app:1",
        true,
    )?;
    n.ok(&["service", "scale", "pin_app=2", "--timeout", "60"])?;
    let ls = n.json(&["image", "ls"])?;
    let names: Vec<&str> = ls
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .collect();
    ensure!(names == vec![img.as_str()], "{names:?}");

    // --no-resolve keeps the tag as written.
    let stack2 = write_stack(&n, "tag", &stack_body("app", &image))?;
    n.ok(&[
        "stack",
        "deploy",
        &stack2,
        "--no-resolve",
        "--timeout",
        "60",
    ])?;
    ensure!(service(&n, "tag_app")?["image"] == image.as_str());
    Ok(())
}

#[test]
fn a_registry_down_rejects_the_task_with_the_reason_until_it_returns() -> Result<()> {
    let n = OrcNode::start_initialised()?;
    let mut reg = Registry::start_in(n.netns())?;
    reg.push_archive(&busybox_image(ImageFormat::Oci)?, "demo/app:1")?;
    reg.stop();
    let image = format!("{}/demo/app:1", reg.host());
    let stack = write_stack(&n, "down", &stack_body("app", &image))?;
    let out = n.orc(&["stack", "deploy", &stack, "--detach"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "{stderr}");
    ensure!(
        stderr.contains("not pinned (registry unreachable"),
        "{stderr}"
    );
    // Each failure pushes the next try back twice as far (1 s, 2 s, 4 s…), and the
    // rejected task says when: the gaps between those times grow.
    let rejected = poll_until(CONVERGE, "three rejected tasks", || {
        let r: Vec<Value> = tasks(&n, "down_app")
            .into_iter()
            .filter(|t| t["state"] == "rejected")
            .collect();
        (r.len() >= 3).then_some(r)
    })?;
    let mut next: Vec<u64> = rejected
        .iter()
        .map(|t| next_try(t["message"].as_str().unwrap_or_default()))
        .collect::<Result<_>>()?;
    next.sort_unstable();
    let gap = |a: u64, b: u64| (b + 86_400 - a) % 86_400;
    ensure!(
        gap(next[0], next[1]) >= 1 && gap(next[1], next[2]) >= 3,
        "no exponential backoff: next tries at {next:?}"
    );
    let rejected = &rejected[0];
    let err = rejected["error"].as_str().unwrap_or_default();
    ensure!(
        err.contains(&image) && err.contains("registry unreachable"),
        "{err}"
    );
    reg.restart()?;
    poll_until(
        CONVERGE,
        "the task to run once the registry is back",
        || {
            tasks(&n, "down_app")
                .into_iter()
                .find(|t| t["state"] == "running")
        },
    )?;
    Ok(())
}

#[test]
fn a_private_registry_needs_login() -> Result<()> {
    let n = OrcNode::start_initialised()?;
    let reg = Registry::start_with_auth_in(n.netns(), "orc", "pw-of-orc")?;
    reg.push_archive(&busybox_image(ImageFormat::Oci)?, "private/app:1")?;
    let image = format!("{}/private/app:1", reg.host());
    let out = n.orc(&["image", "pull", &image])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && stderr.contains("refused authentication"),
        "{stderr}"
    );

    let mut login = Command::new(orc_binary()?)
        .arg("--socket")
        .arg(n.socket())
        .args([
            "registry",
            "login",
            &reg.host(),
            "--username",
            "orc",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    login
        .stdin
        .take()
        .context("stdin")?
        .write_all(b"pw-of-orc\n")?;
    let out = login.wait_with_output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The password is in neither the daemon's log nor its data dir in clear.
    ensure!(!n.daemon_log().contains("pw-of-orc"));
    let grep = Command::new("grep")
        .args(["-r", "-l", "pw-of-orc"])
        .arg(n.data_dir())
        .output()?;
    ensure!(
        grep.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&grep.stdout)
    );

    let stack = write_stack(&n, "priv", &stack_body("app", &image))?;
    n.ok(&["stack", "deploy", &stack, "--timeout", "60"])?;
    ensure!(
        service(&n, "priv_app")?["image"]
            .as_str()
            .is_some_and(|i| i.contains("@sha256:")),
        "pinned with the stored credentials"
    );
    n.ok(&["registry", "logout", &reg.host()])?;
    let out = n.orc(&["image", "pull", &image])?;
    ensure!(!out.status.success());
    Ok(())
}

#[test]
fn prune_removes_only_images_no_service_uses_and_not_kept() -> Result<()> {
    let n = OrcNode::start_initialised()?;
    let reg = Registry::start_in(n.netns())?;
    let archive = busybox_image(ImageFormat::Oci)?;
    for repo in ["demo/used:1", "demo/kept:1", "demo/junk:1"] {
        reg.push_archive(&archive, repo)?;
    }
    let name = |repo: &str| format!("{}/{repo}", reg.host());
    for repo in ["demo/kept:1", "demo/junk:1"] {
        n.ok(&["image", "pull", &name(repo)])?;
    }
    let stack = write_stack(&n, "gc", &stack_body("app", &name("demo/used:1")))?;
    n.ok(&["stack", "deploy", &stack, "--no-resolve", "--timeout", "60"])?;
    let out = n.ok(&["image", "prune", "--keep", &name("demo/kept:1")])?;
    ensure!(
        out.contains(&format!("removed {}", name("demo/junk:1"))),
        "{out}"
    );
    ensure!(out.contains("1 image(s) removed, 2 kept"), "{out}");
    let ls = n.json(&["image", "ls"])?;
    let mut names: Vec<String> = ls
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect();
    names.sort();
    ensure!(
        names == vec![name("demo/kept:1"), name("demo/used:1")],
        "{names:?}"
    );
    Ok(())
}

fn image_names(n: &OrcNode) -> Vec<String> {
    let ls = n.json(&["image", "ls"]).unwrap_or_default();
    let mut names: Vec<String> = ls
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect();
    names.sort();
    names
}

#[test]
fn automatic_gc_removes_images_unused_for_the_grace_period_but_not_kept_ones() -> Result<()> {
    // The registry lives in the node's own network namespace, so the node is started
    // first and told to keep the image by the registry's address afterwards.
    let mut n = OrcNode::start()?;
    let reg = Registry::start_in(n.netns())?;
    let archive = busybox_image(ImageFormat::Oci)?;
    for repo in ["demo/used:1", "demo/kept:1", "demo/junk:1"] {
        reg.push_archive(&archive, repo)?;
    }
    let name = |repo: &str| format!("{}/{repo}", reg.host());
    let grace = Duration::from_secs(2);
    n.restart_daemon_with(&[
        "--image-gc-interval",
        "300ms",
        "--image-gc-grace",
        "2s",
        "--image-gc-keep",
        &name("demo/kept:1"),
    ])?;
    n.ok(&["cluster", "init"])?;
    let stack = write_stack(&n, "agc", &stack_body("app", &name("demo/used:1")))?;
    n.ok(&["stack", "deploy", &stack, "--no-resolve", "--timeout", "60"])?;
    n.ok(&["image", "pull", &name("demo/kept:1")])?;
    n.ok(&["image", "pull", &name("demo/junk:1")])?;
    let pulled = std::time::Instant::now();
    poll_until(CONVERGE, "the unused image to be collected", || {
        (!image_names(&n).contains(&name("demo/junk:1"))).then_some(())
    })?;
    ensure!(
        pulled.elapsed() >= grace - Duration::from_millis(500),
        "removed after {:?}, before the grace period",
        pulled.elapsed()
    );
    let names = image_names(&n);
    ensure!(
        names == vec![name("demo/kept:1"), name("demo/used:1")],
        "{names:?}"
    );
    // Once its stack is gone the service's image goes too; the kept one stays.
    n.ok(&["stack", "rm", "agc"])?;
    poll_until(
        CONVERGE,
        "the removed stack's image to be collected",
        || (!image_names(&n).contains(&name("demo/used:1"))).then_some(()),
    )?;
    ensure!(image_names(&n) == vec![name("demo/kept:1")]);
    Ok(())
}

#[test]
fn a_plain_http_registry_off_loopback_needs_insecure_registry() -> Result<()> {
    // An address of the node's own namespace that is not loopback.
    let mut n = OrcNode::start_initialised()?;
    let ip = "10.253.7.1";
    n.add_address(ip)?;
    let reg = Registry::start_on_in(n.netns(), ip)?;
    reg.push_archive(&busybox_image(ImageFormat::Oci)?, "demo/app:1")?;
    let image = format!("{}/demo/app:1", reg.host());
    // By default orc speaks TLS to it, which fails: no silent plain HTTP.
    let out = n.orc(&["image", "pull", &image])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && stderr.contains("registry TLS"),
        "{stderr}"
    );
    // Listed as insecure on the daemon: plain HTTP.
    n.restart_daemon_with(&["--insecure-registry", &reg.host()])?;
    n.ok(&["image", "pull", &image])?;
    Ok(())
}
