//! The OCI runtime spec of a container: the image's defaults with the
//! configuration's overrides, Docker's default capabilities, cgroup limits, and host
//! networking unless a network namespace is given.

use crate::manifest::ImageConfig;
use crate::user::ResolvedUser;
use crate::{ContainerConfig, MountConfig, RuntimeError};
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder,
    LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, Mount,
    MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};
use std::collections::HashSet;

/// containerd's type URL for a runtime spec stored in a container record.
pub(crate) const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// CFS period for CPU limits (100 ms, as Docker).
const CPU_PERIOD: u64 = 100_000;

fn err(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Spec(e.to_string())
}

/// Docker's default capability set.
fn default_caps() -> HashSet<Capability> {
    use Capability::*;
    [
        Chown,
        DacOverride,
        Fsetid,
        Fowner,
        Mknod,
        NetRaw,
        Setgid,
        Setuid,
        Setfcap,
        Setpcap,
        NetBindService,
        SysChroot,
        Kill,
        AuditWrite,
    ]
    .into_iter()
    .collect()
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount, RuntimeError> {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(err)
}

/// containerd's default mounts.
fn default_mounts() -> Result<Vec<Mount>, RuntimeError> {
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        )?,
        mount(
            "/run",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
    ])
}

fn user_mount(m: &MountConfig) -> Result<Mount, RuntimeError> {
    match m {
        MountConfig::Bind {
            source,
            target,
            read_only,
        } => {
            if !source.is_absolute() {
                return Err(err(format!(
                    "bind mount source {} must be an absolute path",
                    source.display()
                )));
            }
            let source = source
                .to_str()
                .ok_or_else(|| err(format!("bind source {source:?} is not UTF-8")))?;
            mount(
                target,
                "bind",
                source,
                &["rbind", if *read_only { "ro" } else { "rw" }, "rprivate"],
            )
        }
        MountConfig::Tmpfs {
            target,
            size_bytes,
            mode,
        } => {
            let mut opts = vec!["nosuid".to_string(), "nodev".to_string()];
            if *size_bytes > 0 {
                opts.push(format!("size={size_bytes}"));
            }
            if let Some(mode) = mode {
                opts.push(format!("mode={mode:o}"));
            }
            let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
            mount(target, "tmpfs", "tmpfs", &opts)
        }
    }
}

/// The process arguments: Docker's Entrypoint/Cmd rules (overriding the entrypoint
/// drops the image's Cmd).
pub(crate) fn args(cfg: &ContainerConfig, image: &ImageConfig) -> Vec<String> {
    let exec = image.config.clone().unwrap_or_default();
    let entrypoint = cfg
        .entrypoint
        .clone()
        .or(exec.entrypoint)
        .unwrap_or_default();
    let cmd = match (&cfg.command, &cfg.entrypoint) {
        (Some(c), _) => c.clone(),
        (None, Some(_)) => Vec::new(),
        (None, None) => exec.cmd.unwrap_or_default(),
    };
    entrypoint.into_iter().chain(cmd).collect()
}

/// The environment: the image's, then the configuration's (same name wins), with a
/// default PATH.
pub(crate) fn env(cfg: &ContainerConfig, image: &ImageConfig) -> Vec<String> {
    let mut out: Vec<String> = image
        .config
        .as_ref()
        .and_then(|c| c.env.clone())
        .unwrap_or_default();
    for (k, v) in &cfg.env {
        let prefix = format!("{k}=");
        out.retain(|e| !e.starts_with(&prefix) && e != k);
        out.push(format!("{k}={v}"));
    }
    if !out.iter().any(|e| e.starts_with("PATH=")) {
        out.insert(0, DEFAULT_PATH.to_string());
    }
    out
}

/// The user spec to resolve: the configuration's, else the image's.
pub(crate) fn user_spec(cfg: &ContainerConfig, image: &ImageConfig) -> String {
    cfg.user
        .clone()
        .or_else(|| image.config.as_ref().and_then(|c| c.user.clone()))
        .unwrap_or_default()
}

/// Builds the runtime spec. `namespace` names the cgroup parent (`/NAMESPACE/ID`).
pub(crate) fn build_spec(
    cfg: &ContainerConfig,
    image: &ImageConfig,
    user: &ResolvedUser,
    namespace: &str,
) -> Result<Spec, RuntimeError> {
    let args = args(cfg, image);
    if args.is_empty() {
        return Err(err(
            "no command: the image has no Entrypoint/Cmd and none was given",
        ));
    }
    let cwd = cfg
        .working_dir
        .clone()
        .or_else(|| image.config.as_ref().and_then(|c| c.working_dir.clone()))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(err(format!("working directory {cwd:?} must be absolute")));
    }
    let caps = default_caps();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()
        .map_err(err)?;
    let user = UserBuilder::default()
        .uid(user.uid)
        .gid(user.gid)
        .additional_gids(user.additional_gids.clone())
        .build()
        .map_err(err)?;
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(user)
        .args(args)
        .env(env(cfg, image))
        .cwd(cwd)
        .capabilities(capabilities)
        // No rlimits: the container inherits containerd's (Docker's behaviour).
        .rlimits(Vec::new())
        .no_new_privileges(false)
        .build()
        .map_err(err)?;

    let mut mounts = default_mounts()?;
    for m in &cfg.mounts {
        let m = user_mount(m)?;
        mounts.retain(|d| d.destination() != m.destination());
        mounts.push(m);
    }

    let mut namespaces = Vec::new();
    for t in [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ] {
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(t)
                .build()
                .map_err(err)?,
        );
    }
    if let Some(path) = &cfg.netns {
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .path(path)
                .build()
                .map_err(err)?,
        );
    }

    let mut resources =
        LinuxResourcesBuilder::default().devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .map_err(err)?]);
    if cfg.memory_bytes > 0 {
        let limit = i64::try_from(cfg.memory_bytes).map_err(|_| err("memory limit too large"))?;
        resources = resources.memory(
            LinuxMemoryBuilder::default()
                .limit(limit)
                .build()
                .map_err(err)?,
        );
    }
    if cfg.nano_cpus > 0 {
        let quota = i64::try_from(cfg.nano_cpus.saturating_mul(CPU_PERIOD) / 1_000_000_000)
            .map_err(|_| err("cpu limit too large"))?
            .max(1000);
        let cpu = LinuxCpuBuilder::default()
            .quota(quota)
            .period(CPU_PERIOD)
            .build()
            .map_err(err)?;
        resources = resources.cpu(cpu);
    }
    let masked: Vec<String> = [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/proc/scsi",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let readonly: Vec<String> = [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let linux = LinuxBuilder::default()
        .cgroups_path(format!("/{namespace}/{}", cfg.id))
        .namespaces(namespaces)
        .resources(resources.build().map_err(err)?)
        .masked_paths(masked)
        .readonly_paths(readonly)
        .build()
        .map_err(err)?;

    let hostname = cfg
        .hostname
        .clone()
        .unwrap_or_else(|| cfg.id.chars().take(12).collect());
    SpecBuilder::default()
        .version("1.0.2-dev")
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(false)
                .build()
                .map_err(err)?,
        )
        .hostname(hostname)
        .process(process)
        .mounts(mounts)
        .linux(linux)
        .build()
        .map_err(err)
}

/// The spec as containerd stores it in a container record.
pub(crate) fn spec_any(spec: &Spec) -> Result<prost_types::Any, RuntimeError> {
    let value = serde_json::to_vec(spec).map_err(err)?;
    Ok(prost_types::Any {
        type_url: SPEC_TYPE_URL.into(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ExecConfig;
    use crate::LogConfig;

    fn image(entrypoint: Option<&[&str]>, cmd: &[&str]) -> ImageConfig {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ImageConfig {
            config: Some(ExecConfig {
                env: Some(v(&["PATH=/bin", "A=image", "B=image"])),
                entrypoint: entrypoint.map(v),
                cmd: Some(v(cmd)),
                working_dir: Some("/srv".into()),
                user: Some("nobody".into()),
            }),
            ..Default::default()
        }
    }

    fn cfg() -> ContainerConfig {
        ContainerConfig {
            id: "task-0123456789abcdef".into(),
            image: "demo/busybox:1".into(),
            labels: Default::default(),
            entrypoint: None,
            command: None,
            env: vec![("B".into(), "cfg".into()), ("C".into(), "cfg".into())],
            user: None,
            working_dir: None,
            hostname: None,
            mounts: vec![],
            nano_cpus: 0,
            memory_bytes: 0,
            netns: None,
            log: LogConfig {
                dir: "/logs".into(),
                max_bytes: 1,
                max_files: 1,
                logger_binary: "/bin/orc".into(),
                logger_args: vec![],
            },
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
        c.mounts = vec![MountConfig::Tmpfs {
            target: "/run".into(),
            size_bytes: 4096,
            mode: Some(0o1777),
        }];
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
}
