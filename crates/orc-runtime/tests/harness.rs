//! The test harness itself: a killed containerd leaves its containers running (as a
//! crashed board would), and dropping it cleans up everything.

mod common;

use common::{Env, NAMESPACE};
use std::path::Path;

fn alive(pid: u32) -> bool {
    // A zombie is as good as dead: its parent just has not reaped it yet.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

/// Pids of processes whose command line has an argument containing `needle` and
/// whose program name contains `program`.
fn pids_with_arg(needle: &str, program: &str) -> Vec<u32> {
    orc_testbed::processes()
        .into_iter()
        .filter(|(_, args)| {
            args.first().is_some_and(|a| a.contains(program))
                && args.iter().skip(1).any(|a| a.contains(needle))
        })
        .map(|(pid, _)| pid as u32)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_hard_leaves_containers_and_drop_removes_everything() {
    let env = Env::with_image().await;
    let cfg = env.config("harness", &["sleep", "600"]);
    env.rt.run(&cfg).await.unwrap();
    let pid = env.rt.list().await.unwrap()[0].pid.unwrap();
    let Env {
        rt,
        logs,
        mut containerd,
    } = env;
    let dir = containerd.dir().to_path_buf();
    containerd.kill_hard().unwrap();
    assert!(rt.list().await.is_err(), "containerd is gone");
    assert!(alive(pid), "the container outlives containerd");
    let runc_state = Path::new("/run/containerd/runc")
        .join(NAMESPACE)
        .join(&cfg.id);
    assert!(runc_state.exists());
    let shim = pids_with_arg(&cfg.id, "containerd-shim");
    let logger = pids_with_arg(&cfg.log.dir.to_string_lossy(), "logger");
    assert_eq!(
        (shim.len(), logger.len()),
        (1, 1),
        "one shim, one log driver"
    );

    drop(containerd);
    assert!(!alive(pid), "the container was killed");
    assert!(!alive(shim[0]), "the shim was killed");
    common::poll(
        std::time::Duration::from_secs(5),
        "the log driver to exit",
        || async { (!alive(logger[0])).then_some(()) },
    )
    .await;
    assert!(!runc_state.exists(), "runc state deleted");
    assert!(!dir.exists(), "temp dir removed");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(dir.to_str().unwrap()),
        "nothing left mounted"
    );
    for c in ["memory", "pids"] {
        assert!(
            !Path::new("/sys/fs/cgroup")
                .join(c)
                .join(NAMESPACE)
                .join(&cfg.id)
                .exists(),
            "{c} cgroup removed"
        );
    }
    drop(logs);
}
