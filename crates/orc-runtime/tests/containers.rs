//! Container lifecycle against a real containerd and runc.

mod common;

use common::{logs_when, poll, Env};
use orc_runtime::{ContainerState, MountConfig, Runtime, RuntimeError};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn exit_code_and_output_reach_wait_and_the_log() {
    let env = Env::with_image().await;
    let cfg = env.config(
        "echo",
        &[
            "sh",
            "-c",
            "echo hello-stdout; echo hello-stderr >&2; exit 3",
        ],
    );
    env.rt.run(&cfg).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), env.rt.wait(&cfg.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code, 3);
    assert!(exit.exited_at.is_some());
    let lines = logs_when(&cfg, |l| l.len() >= 2).await;
    assert!(lines.contains(&"hello-stdout".to_string()), "{lines:?}");
    assert!(lines.contains(&"hello-stderr".to_string()), "{lines:?}");
    // Waiting again on the exited task answers at once with the same code.
    assert_eq!(env.rt.wait(&cfg.id).await.unwrap().code, 3);
    let listed = env.rt.list().await.unwrap();
    let c = listed.iter().find(|c| c.id == cfg.id).unwrap();
    assert_eq!((c.state, c.exit_code), (ContainerState::Stopped, Some(3)));
    env.rt.remove(&cfg.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_kills_after_the_grace_period_and_remove_leaves_nothing() {
    let env = Env::with_image().await;
    // sleep as PID 1 ignores SIGTERM: only the SIGKILL after the grace ends it.
    let cfg = env.config("stop", &["sleep", "600"]);
    env.rt.run(&cfg).await.unwrap();
    let t = Instant::now();
    let exit = env
        .rt
        .stop(&cfg.id, 15, Duration::from_millis(300))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code, 137);
    assert!(t.elapsed() >= Duration::from_millis(300));
    // Stopping a stopped task reports the same exit; no task at all is None.
    assert_eq!(
        env.rt
            .stop(&cfg.id, 15, Duration::ZERO)
            .await
            .unwrap()
            .map(|e| e.code),
        Some(137)
    );
    env.rt.remove(&cfg.id).await.unwrap();
    assert_eq!(
        env.rt.stop(&cfg.id, 15, Duration::ZERO).await.unwrap(),
        None
    );
    assert!(env.rt.list().await.unwrap().is_empty());
    assert_eq!(env.ctr(&["tasks", "ls", "-q"]).trim(), "");
    assert_eq!(env.ctr(&["containers", "ls", "-q"]).trim(), "");
    let snaps = env.ctr(&["snapshots", "ls"]);
    assert!(!snaps.contains(&cfg.id), "{snaps}");
    // Idempotent.
    env.rt.remove(&cfg.id).await.unwrap();
    assert!(matches!(
        env.rt.wait(&cfg.id).await,
        Err(RuntimeError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trapped_sigterm_ends_the_task_within_the_grace() {
    let env = Env::with_image().await;
    let cfg = env.config(
        "trap",
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; while true; do sleep 0.1; done",
        ],
    );
    env.rt.run(&cfg).await.unwrap();
    logs_when(&cfg, |l| l.contains(&"ready".to_string())).await;
    let exit = env
        .rt
        .stop(&cfg.id, 15, Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code, 42);
    env.rt.remove(&cfg.id).await.unwrap();
}

/// The container's cgroup dir for `controller` (cgroup v1), from /proc/PID/cgroup.
fn cgroup_dir(pid: u32, controller: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in text.lines() {
        let f: Vec<&str> = line.splitn(3, ':').collect();
        if f[1].split(',').any(|c| c == controller) {
            return std::path::Path::new("/sys/fs/cgroup")
                .join(f[1])
                .join(f[2].trim_start_matches('/'));
        }
    }
    panic!("no {controller} cgroup in {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_and_cpu_limits_reach_the_cgroup() {
    let env = Env::with_image().await;
    let mut cfg = env.config("limits", &["sleep", "600"]);
    cfg.memory_bytes = 64 << 20;
    cfg.nano_cpus = 500_000_000;
    env.rt.run(&cfg).await.unwrap();
    let listed = env.rt.list().await.unwrap();
    let pid = listed
        .iter()
        .find(|c| c.id == cfg.id)
        .and_then(|c| c.pid)
        .unwrap();
    let mem = cgroup_dir(pid, "memory");
    assert!(
        mem.ends_with(format!("{}/{}", common::NAMESPACE, cfg.id)),
        "{mem:?}"
    );
    let limit = std::fs::read_to_string(mem.join("memory.limit_in_bytes")).unwrap();
    assert_eq!(limit.trim(), (64u64 << 20).to_string());
    let cpu = cgroup_dir(pid, "cpu");
    assert_eq!(
        std::fs::read_to_string(cpu.join("cpu.cfs_quota_us"))
            .unwrap()
            .trim(),
        "50000"
    );
    assert_eq!(
        std::fs::read_to_string(cpu.join("cpu.cfs_period_us"))
            .unwrap()
            .trim(),
        "100000"
    );
    env.rt.remove(&cfg.id).await.unwrap();
    assert!(!mem.exists(), "cgroup removed with the task");
}

#[tokio::test(flavor = "multi_thread")]
async fn env_user_workdir_hostname_and_mounts_take_effect() {
    let env = Env::with_image().await;
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("file"), "from-the-host\n").unwrap();
    let script = "echo env=$GREETING path=$PATH; echo uid=$(id -u) gid=$(id -g); echo pwd=$(pwd); \
                  echo host=$(hostname); cat /ro/file; (echo x > /ro/new) 2>/dev/null && echo ro-writable || echo ro-refused; \
                  echo y > /scratch/f && echo tmpfs-writable; grep ' /scratch ' /proc/mounts; \
                  ls -ld /scratch | cut -c1-10";
    let mut cfg = env.config("env", &["sh", "-c", script]);
    cfg.env = vec![("GREETING".into(), "hi there".into())];
    cfg.user = Some("nobody".into());
    cfg.working_dir = Some("/tmp".into());
    cfg.hostname = Some("orc-test-host".into());
    cfg.mounts = vec![
        MountConfig::Bind {
            source: host.path().to_path_buf(),
            target: "/ro".into(),
            read_only: true,
        },
        MountConfig::Tmpfs {
            target: "/scratch".into(),
            size_bytes: 1 << 20,
            mode: Some(0o1777),
        },
    ];
    env.rt.run(&cfg).await.unwrap();
    assert_eq!(env.rt.wait(&cfg.id).await.unwrap().code, 0);
    let lines = logs_when(&cfg, |l| l.iter().any(|x| x.starts_with("drwxrwxrwt"))).await;
    let has = |s: &str| lines.iter().any(|l| l.contains(s));
    assert!(has("env=hi there path=/usr/local/sbin"), "{lines:?}");
    assert!(has("uid=65534 gid=65534"), "{lines:?}");
    assert!(has("pwd=/tmp"), "{lines:?}");
    assert!(has("host=orc-test-host"), "{lines:?}");
    assert!(has("from-the-host"), "{lines:?}");
    assert!(has("ro-refused"), "{lines:?}");
    assert!(has("tmpfs-writable"), "{lines:?}");
    assert!(
        has("tmpfs /scratch tmpfs") && has("size=1024k"),
        "{lines:?}"
    );
    assert!(!host.path().join("new").exists());
    env.rt.remove(&cfg.id).await.unwrap();

    // Numeric uid:gid works without any passwd entry.
    let mut cfg = env.config("uid", &["sh", "-c", "echo $(id -u):$(id -g)"]);
    cfg.user = Some("4321:99".into());
    env.rt.run(&cfg).await.unwrap();
    assert_eq!(env.rt.wait(&cfg.id).await.unwrap().code, 0);
    logs_when(&cfg, |l| l.contains(&"4321:99".to_string())).await;
    env.rt.remove(&cfg.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_typed_and_leave_nothing() {
    let env = Env::with_image().await;
    let mut cfg = env.config("noimage", &["true"]);
    cfg.image = "demo/nothing:9".into();
    assert!(matches!(
        env.rt.run(&cfg).await,
        Err(RuntimeError::ImageNotFound(_))
    ));

    let cfg = env.config("noexec", &["/no/such/binary"]);
    assert!(env.rt.run(&cfg).await.is_err());
    let mut cfg2 = env.config("badusr", &["true"]);
    cfg2.user = Some("ghost".into());
    assert!(matches!(
        env.rt.run(&cfg2).await,
        Err(RuntimeError::Spec(_))
    ));
    assert!(
        env.rt.list().await.unwrap().is_empty(),
        "failed runs cleaned up"
    );
    assert!(!env.ctr(&["snapshots", "ls"]).contains("Active"));

    let cfg = env.config("dup", &["sleep", "600"]);
    env.rt.run(&cfg).await.unwrap();
    assert!(matches!(
        env.rt.run(&cfg).await,
        Err(RuntimeError::AlreadyExists(_))
    ));
    assert_eq!(
        env.rt.list().await.unwrap()[0].state,
        ContainerState::Running,
        "the first one is untouched"
    );
    env.rt.remove(&cfg.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn list_shows_labels_and_a_new_client_adopts_running_tasks() {
    let env = Env::with_image().await;
    let mut cfg = env.config(
        "adopt",
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; while true; do sleep 0.1; done",
        ],
    );
    cfg.labels.insert("orc.task.slot".into(), "2".into());
    env.rt.run(&cfg).await.unwrap();
    let listed = env.rt.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    let c = &listed[0];
    assert_eq!(c.id, cfg.id);
    assert_eq!(c.image, "docker.io/demo/busybox:1");
    assert_eq!(c.labels.get("orc.task.slot").map(String::as_str), Some("2"));
    assert_eq!(c.labels.get("orc.test").map(String::as_str), Some("adopt"));
    assert_eq!(c.state, ContainerState::Running);
    assert!(c.pid.is_some() && c.exit_code.is_none());

    // A fresh client (as after an orc daemon restart) waits on and stops it.
    let rt2 = Runtime::new(&env.containerd.socket(), common::NAMESPACE).unwrap();
    let waiter = {
        let rt2 = rt2.clone();
        let id = cfg.id.clone();
        tokio::spawn(async move { rt2.wait(&id).await })
    };
    drop(env.rt.clone());
    let exit = rt2
        .stop(&cfg.id, 15, Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code, 7);
    assert_eq!(waiter.await.unwrap().unwrap().code, 7);
    rt2.remove(&cfg.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_waits_and_logs_survive_a_containerd_restart() {
    let mut env = Env::with_image().await;
    let cfg = env.config(
        "survive",
        &[
            "sh",
            "-c",
            "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done",
        ],
    );
    env.rt.run(&cfg).await.unwrap();
    let waiter = {
        let rt = env.rt.clone();
        let id = cfg.id.clone();
        tokio::spawn(async move { rt.wait(&id).await })
    };
    logs_when(&cfg, |l| !l.is_empty()).await;
    tokio::task::block_in_place(|| env.containerd.restart()).unwrap();
    let before = orc_runtime::read_logs(&cfg.log.dir, None).unwrap().len();
    env.rt.wait_ready(Duration::from_secs(10)).await.unwrap();
    let state = poll(
        Duration::from_secs(10),
        "the task to be listed again",
        || {
            let rt = env.rt.clone();
            async move {
                rt.list()
                    .await
                    .ok()
                    .and_then(|l| l.first().map(|c| c.state))
            }
        },
    )
    .await;
    assert_eq!(state, ContainerState::Running);
    // The log driver (a child of the shim) kept writing.
    logs_when(&cfg, |l| l.len() > before + 5).await;
    assert_eq!(
        env.rt
            .stop(&cfg.id, 9, Duration::ZERO)
            .await
            .unwrap()
            .map(|e| e.code),
        Some(137)
    );
    // A wait that began before the restart still reports the exit.
    let exit = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.unwrap().code, 137);
    env.rt.remove(&cfg.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn run_to_running_takes_little_time() {
    let env = Env::with_image().await;
    let mut times = Vec::new();
    for _ in 0..10 {
        let cfg = env.config("speed", &["sleep", "600"]);
        let t = Instant::now();
        env.rt.run(&cfg).await.unwrap();
        times.push(t.elapsed());
        let l = env.rt.list().await.unwrap();
        assert_eq!(
            l.iter().find(|c| c.id == cfg.id).map(|c| c.state),
            Some(ContainerState::Running)
        );
        env.rt.remove(&cfg.id).await.unwrap();
    }
    times.sort();
    eprintln!(
        "run() → running: median {:?}, min {:?}, max {:?}",
        times[5], times[0], times[9]
    );
    assert!(times[5] < Duration::from_secs(5), "{times:?}");
}
