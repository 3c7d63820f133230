//! Shared setup for orc-runtime's tests against a real containerd.
#![allow(dead_code)]

use orc_runtime::{ContainerConfig, LogConfig, Runtime};
use orc_testbed::{busybox_image, unique_id, Containerd, ImageFormat};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const NAMESPACE: &str = "orc-rt-test";
pub const IMAGE: &str = "demo/busybox:1";

/// A private containerd, a runtime on it, and a temp dir for logs.
pub struct Env {
    pub rt: Runtime,
    pub logs: tempfile::TempDir,
    // Dropped last: kills whatever the test left running.
    pub containerd: Containerd,
}

impl Env {
    pub async fn start() -> Env {
        let containerd = tokio::task::spawn_blocking(Containerd::start)
            .await
            .unwrap()
            .unwrap();
        let rt = Runtime::new(&containerd.socket(), NAMESPACE).unwrap();
        rt.wait_ready(Duration::from_secs(10)).await.unwrap();
        let logs = tempfile::Builder::new()
            .prefix("orc-rt-logs-")
            .tempdir()
            .unwrap();
        Env {
            rt,
            logs,
            containerd,
        }
    }

    /// With the busybox image imported.
    pub async fn with_image() -> Env {
        let env = Env::start().await;
        let img = busybox_image(ImageFormat::Oci).unwrap();
        env.rt.import_archive(&img).await.unwrap();
        env
    }

    /// A container config running `args` in busybox, logging to a fresh dir.
    pub fn config(&self, prefix: &str, args: &[&str]) -> ContainerConfig {
        let id = unique_id(prefix);
        let log = LogConfig {
            dir: self.logs.path().join(&id),
            max_bytes: 1 << 20,
            max_files: 3,
            logger_binary: logger_binary(),
            logger_args: vec![],
        };
        ContainerConfig {
            labels: HashMap::from([("orc.test".to_string(), prefix.to_string())]),
            command: Some(args.iter().map(|s| s.to_string()).collect()),
            ..ContainerConfig::new(id, IMAGE, log)
        }
    }

    /// `ctr` against this containerd in the test namespace.
    pub fn ctr(&self, args: &[&str]) -> String {
        let out = Command::new("ctr")
            .arg("--address")
            .arg(self.containerd.socket())
            .args(["--namespace", NAMESPACE])
            .args(args)
            .output()
            .expect("running ctr");
        assert!(
            out.status.success(),
            "ctr {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The log driver example binary (target/PROFILE/examples/logger).
pub fn logger_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap();
    let p = profile.join("examples").join("logger");
    assert!(
        p.is_file(),
        "{} missing: cargo test builds examples; run `cargo test -p orc-runtime`",
        p.display()
    );
    p
}

/// Polls `f` every 20 ms until it gives `Some`, for at most `limit`.
pub async fn poll<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The log lines of `cfg`'s task once `pred` holds for them.
pub async fn logs_when(cfg: &ContainerConfig, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
    let dir = cfg.log.dir.clone();
    poll(Duration::from_secs(10), "log lines", || {
        let lines = orc_runtime::read_logs(&dir, None).unwrap();
        let ok = pred(&lines);
        async move { ok.then_some(lines) }
    })
    .await
}
