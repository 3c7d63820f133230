//! Container options applied by a real containerd and runc: capabilities, a
//! read-only root, devices, sysctls, ulimits, /dev/shm's size, the pids limit and
//! privileged mode, each observed from inside the container.

mod common;

use common::{logs_when, Env};
use orc_runtime::{ContainerConfig, ContainerOptions, DeviceConfig, MountConfig};
use std::time::Duration;

/// Runs `script` in busybox with `options`, waits for it to exit, returns its
/// exit code and output lines.
async fn run(env: &Env, name: &str, options: ContainerOptions, script: &str) -> (i32, Vec<String>) {
    let cfg = ContainerConfig {
        options,
        ..env.config(name, &["sh", "-c", &format!("{script}; echo END")])
    };
    env.rt.run(&cfg).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), env.rt.wait(&cfg.id))
        .await
        .expect("the container exits")
        .unwrap();
    let dir = cfg.log.dir.clone();
    let lines = tokio::time::timeout(
        Duration::from_secs(10),
        logs_when(&cfg, |l| l.iter().any(|x| x == "END")),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no END line (exit {}): {:?}",
            exit.code,
            orc_runtime::read_logs(&dir, None)
        )
    });
    env.rt.remove(&cfg.id).await.unwrap();
    (exit.code, lines)
}

/// The effective capability mask from /proc/self/status as printed by the script.
fn cap_eff(lines: &[String]) -> u64 {
    let line = lines
        .iter()
        .find(|l| l.starts_with("CapEff:"))
        .unwrap_or_else(|| panic!("no CapEff in {lines:?}"));
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).unwrap()
}

const CAP_CHOWN: u64 = 1 << 0;
const CAP_NET_ADMIN: u64 = 1 << 12;
const CAP_SYS_ADMIN: u64 = 1 << 21;

#[tokio::test(flavor = "multi_thread")]
async fn capabilities_are_added_and_dropped() {
    let env = Env::with_image().await;
    let script = "grep CapEff /proc/self/status";
    let (_, default) = run(&env, "caps-default", ContainerOptions::default(), script).await;
    let default = cap_eff(&default);
    assert_eq!(
        default & CAP_NET_ADMIN,
        0,
        "NET_ADMIN is not a default capability"
    );
    assert_ne!(default & CAP_CHOWN, 0);
    let opts = ContainerOptions {
        cap_add: vec!["CAP_NET_ADMIN".into()],
        cap_drop: vec!["CAP_CHOWN".into()],
        ..Default::default()
    };
    let (_, changed) = run(
        &env,
        "caps-changed",
        opts,
        &format!("{script}; touch /f; chown 1 /f; echo chown=$?"),
    )
    .await;
    let caps = cap_eff(&changed);
    assert_ne!(caps & CAP_NET_ADMIN, 0, "{changed:?}");
    assert_eq!(caps & CAP_CHOWN, 0, "{changed:?}");
    assert!(
        changed.contains(&"chown=1".to_string()),
        "chown worked without CAP_CHOWN: {changed:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_root_refuses_writes_but_mounts_stay_writable() {
    let env = Env::with_image().await;
    let opts = ContainerOptions {
        read_only: true,
        ..Default::default()
    };
    let cfg_script = "touch /root-file; echo root=$?; touch /scratch/f; echo scratch=$?";
    let cfg = ContainerConfig {
        options: opts,
        mounts: vec![MountConfig::Tmpfs {
            target: "/scratch".into(),
            size_bytes: 1 << 20,
            mode: None,
        }],
        ..env.config("ro", &["sh", "-c", &format!("{cfg_script}; echo END")])
    };
    env.rt.run(&cfg).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), env.rt.wait(&cfg.id))
        .await
        .unwrap()
        .unwrap();
    let lines = logs_when(&cfg, |l| l.iter().any(|x| x == "END")).await;
    env.rt.remove(&cfg.id).await.unwrap();
    assert!(lines.contains(&"root=1".to_string()), "{lines:?}");
    assert!(lines.contains(&"scratch=0".to_string()), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_is_usable_under_its_new_name() {
    let env = Env::with_image().await;
    let opts = ContainerOptions {
        devices: vec![DeviceConfig {
            source: "/dev/null".into(),
            target: "/dev/mynull".into(),
            permissions: "rwm".into(),
        }],
        ..Default::default()
    };
    let (code, lines) = run(
        &env,
        "dev",
        opts,
        "echo data > /dev/mynull && echo write=ok; stat -c 'type=%F major=%t minor=%T' /dev/mynull",
    )
    .await;
    assert_eq!(code, 0, "{lines:?}");
    assert!(lines.contains(&"write=ok".to_string()), "{lines:?}");
    assert!(
        lines.contains(&"type=character special file major=1 minor=3".to_string()),
        "{lines:?}"
    );
    // Without the option the device is not there.
    let (_, lines) = run(
        &env,
        "nodev",
        ContainerOptions::default(),
        "test -e /dev/mynull; echo exists=$?",
    )
    .await;
    assert!(lines.contains(&"exists=1".to_string()), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sysctls_ulimits_shm_and_pids_take_effect() {
    let env = Env::with_image().await;
    let opts = ContainerOptions {
        // An IPC-namespaced sysctl: containers have their own IPC namespace.
        sysctls: [("kernel.msgmax".to_string(), "12345".to_string())].into(),
        ulimits: vec![("nofile".into(), 1000, 2000)],
        shm_size_bytes: 16 << 20,
        pids_limit: 6,
        ..Default::default()
    };
    let script = "echo msgmax=$(cat /proc/sys/kernel/msgmax); \
                  grep 'Max open files' /proc/self/limits | tr -s ' ' | sed 's/^/limits=/'; \
                  grep ' /dev/shm ' /proc/mounts | grep -o 'size=[0-9]*k' | sed 's/^/shm=/'; \
                  sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; wait' 2>/dev/null; \
                  echo forks=$?";
    let (_, lines) = run(&env, "limits", opts, script).await;
    assert!(lines.contains(&"msgmax=12345".to_string()), "{lines:?}");
    assert!(
        lines.contains(&"limits=Max open files 1000 2000 files ".to_string())
            || lines.contains(&"limits=Max open files 1000 2000 files".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"shm=size=16384k".to_string()), "{lines:?}");
    // The shell that starts 10 sleeps fails to fork within a limit of 6 processes.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("forks=") && l != "forks=0"),
        "the pids limit let 10 processes start: {lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn privileged_has_every_capability_and_the_host_devices() {
    let env = Env::with_image().await;
    let opts = ContainerOptions {
        privileged: true,
        ..Default::default()
    };
    let (_, lines) = run(
        &env,
        "priv",
        opts,
        "grep CapEff /proc/self/status; test -c /dev/kmsg && echo kmsg=yes; echo data > /dev/null && echo null=ok",
    )
    .await;
    assert_ne!(cap_eff(&lines) & CAP_SYS_ADMIN, 0, "{lines:?}");
    assert!(lines.contains(&"null=ok".to_string()), "{lines:?}");
    if std::path::Path::new("/dev/kmsg").exists() {
        assert!(lines.contains(&"kmsg=yes".to_string()), "{lines:?}");
    }
}

/// The init (as the test's logger binary, which also handles the init subcommand)
/// run on the host: exit codes pass through, signals are forwarded, orphans reaped.
mod init {
    use super::common::logger_binary;
    use std::process::Command;
    use std::time::{Duration, Instant};

    fn init(script: &str) -> Command {
        let mut c = Command::new(logger_binary());
        c.args([orc_runtime::INIT_SUBCOMMAND, "--", "sh", "-c", script]);
        c
    }

    #[test]
    fn the_commands_exit_code_passes_through() {
        assert_eq!(init("exit 3").status().unwrap().code(), Some(3));
        assert_eq!(init("exit 0").status().unwrap().code(), Some(0));
        let missing = Command::new(logger_binary())
            .args([orc_runtime::INIT_SUBCOMMAND, "--", "/nonexistent/program"])
            .status()
            .unwrap();
        assert_eq!(missing.code(), Some(127));
    }

    #[test]
    fn signals_reach_the_command_and_orphans_are_reaped() {
        // The command traps TERM and exits 7; its background child is orphaned
        // to init when the command's shell exits first.
        let mut child =
            init("trap 'exit 7' TERM; (sleep 30 &) ; echo ready; while true; do sleep 0.05; done")
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut buf = [0u8; 6];
        std::io::Read::read_exact(&mut out, &mut buf).unwrap();
        assert_eq!(&buf, b"ready\n");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < end, "init did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(7), "the command's trap did not run");
    }
}
