//! Unit tests of the runtime spec builder.

use super::*;
use crate::manifest::ExecConfig;
use crate::{LogConfig, MountConfig};

fn image(entrypoint: Option<&[&str]>, cmd: &[&str]) -> ImageConfig {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    ImageConfig {
        config: Some(ExecConfig {
            env: Some(v(&["PATH=/bin", "A=image", "B=image"])),
            entrypoint: entrypoint.map(v),
            cmd: Some(v(cmd)),
            working_dir: Some("/srv".into()),
            user: Some("nobody".into()),
            healthcheck: None,
        }),
        ..Default::default()
    }
}

fn cfg() -> ContainerConfig {
    let log = LogConfig {
        dir: "/logs".into(),
        max_bytes: 1,
        max_files: 1,
        logger_binary: "/bin/orc".into(),
        logger_args: vec![],
    };
    ContainerConfig {
        env: vec![("B".into(), "cfg".into()), ("C".into(), "cfg".into())],
        ..ContainerConfig::new("task-0123456789abcdef", "demo/busybox:1", log)
    }
}

#[test]
fn entrypoint_and_cmd_follow_docker() {
    let img = image(Some(&["/entry"]), &["default-arg"]);
    let mut c = cfg();
    assert_eq!(args(&c, &img), vec!["/entry", "default-arg"]);
    c.command = Some(vec!["x".into()]);
    assert_eq!(args(&c, &img), vec!["/entry", "x"]);
    c.command = None;
    c.entrypoint = Some(vec!["/other".into()]);
    assert_eq!(
        args(&c, &img),
        vec!["/other"],
        "a new entrypoint drops the image's Cmd"
    );
    c.entrypoint = Some(vec![]);
    c.command = Some(vec!["sh".into()]);
    assert_eq!(args(&c, &img), vec!["sh"], "an empty entrypoint clears it");
}

#[test]
fn env_merges_over_the_image() {
    let e = env(&cfg(), &image(None, &["sh"]));
    assert_eq!(e, vec!["PATH=/bin", "A=image", "B=cfg", "C=cfg"]);
    let none = ImageConfig::default();
    assert!(env(&cfg(), &none)[0].starts_with("PATH=/usr/local/sbin"));
    assert_eq!(user_spec(&cfg(), &image(None, &["sh"])), "nobody");
}

#[test]
fn the_spec_has_limits_host_networking_and_sane_defaults() {
    let mut c = cfg();
    c.memory_bytes = 64 << 20;
    c.nano_cpus = 1_500_000_000;
    c.mounts = vec![
        MountConfig::Tmpfs {
            target: "/run".into(),
            size_bytes: 4096,
            mode: Some(0o1777),
        },
        MountConfig::ValueFile {
            source: "/var/lib/orc/values/t1/0".into(),
            target: "/run/secrets/db_root".into(),
        },
    ];
    let s = build_spec(
        &c,
        &image(None, &["sh"]),
        &ResolvedUser {
            uid: 1,
            gid: 2,
            additional_gids: vec![],
        },
        "orc",
    )
    .unwrap();
    let j = serde_json::to_value(&s).unwrap();
    assert_eq!(j["hostname"], "task-0123456");
    assert_eq!(j["root"]["readonly"], false);
    assert_eq!(j["process"]["cwd"], "/srv");
    assert_eq!(j["process"]["user"]["uid"], 1);
    assert_eq!(j["process"]["rlimits"], serde_json::json!([]));
    assert_eq!(j["linux"]["cgroupsPath"], "/orc/task-0123456789abcdef");
    assert_eq!(j["linux"]["resources"]["memory"]["limit"], 64 << 20);
    assert_eq!(j["linux"]["resources"]["cpu"]["quota"], 150_000);
    assert_eq!(j["linux"]["resources"]["cpu"]["period"], 100_000);
    let ns: Vec<&str> = j["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(!ns.contains(&"network"), "{ns:?}");
    let caps = j["process"]["capabilities"]["bounding"].as_array().unwrap();
    assert_eq!(caps.len(), 14);
    assert!(!caps.contains(&serde_json::json!("CAP_SYS_ADMIN")));
    let runs: Vec<&serde_json::Value> = j["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destination"] == "/run")
        .collect();
    assert_eq!(runs.len(), 1, "the user's /run replaces the default");
    let secret = j["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/run/secrets/db_root")
        .expect("the secret's file is mounted");
    assert_eq!(secret["source"], "/var/lib/orc/values/t1/0");
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(
            secret["options"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!(o)),
            "{secret}"
        );
    }
    assert!(runs[0]["options"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("mode=1777")));

    c.netns = Some("/var/run/netns/x".into());
    let s = build_spec(&c, &image(None, &["sh"]), &ResolvedUser::default(), "orc").unwrap();
    let j = serde_json::to_value(&s).unwrap();
    let net = j["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["type"] == "network")
        .cloned();
    assert_eq!(net.unwrap()["path"], "/var/run/netns/x");
}

#[test]
fn nothing_to_run_is_an_error() {
    let c = cfg();
    assert!(build_spec(&c, &ImageConfig::default(), &ResolvedUser::default(), "orc").is_err());
    let mut c = cfg();
    c.working_dir = Some("relative".into());
    assert!(build_spec(&c, &image(None, &["sh"]), &ResolvedUser::default(), "orc").is_err());
}

#[test]
fn init_is_mounted_read_only_and_runs_the_command() {
    let mut c = cfg();
    c.command = Some(vec!["app".into(), "--flag".into()]);
    c.options.init = Some("/usr/bin/orc".into());
    let s = build_spec(&c, &image(None, &["sh"]), &ResolvedUser::default(), "orc").unwrap();
    let argv = s.process().as_ref().unwrap().args().clone().unwrap();
    assert_eq!(
        argv,
        vec![
            crate::INIT_PATH,
            crate::INIT_SUBCOMMAND,
            "--",
            "app",
            "--flag"
        ]
    );
    let m = s
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == std::path::Path::new(crate::INIT_PATH))
        .expect("the init binary is mounted");
    assert_eq!(
        m.source().as_deref(),
        Some(std::path::Path::new("/usr/bin/orc"))
    );
    assert!(m.options().as_ref().unwrap().iter().any(|o| o == "ro"));
    // Without init: the command as it is.
    c.options.init = None;
    let s = build_spec(&c, &image(None, &["sh"]), &ResolvedUser::default(), "orc").unwrap();
    assert_eq!(
        s.process().as_ref().unwrap().args().clone().unwrap(),
        vec!["app", "--flag"]
    );
}
