//! The OCI runtime spec of a container: the image's defaults with the
//! configuration's overrides, Docker's default capabilities, cgroup limits, and host
//! networking unless a network namespace is given.

use crate::manifest::ImageConfig;
use crate::spec_defaults::{
    default_caps, default_mounts, masked_paths, readonly_paths, user_mount,
};
use crate::user::ResolvedUser;
use crate::{ContainerConfig, RuntimeError};
use oci_spec::runtime::{
    LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder,
    LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

/// containerd's type URL for a runtime spec stored in a container record.
pub(crate) const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// CFS period for CPU limits (100 ms, as Docker).
const CPU_PERIOD: u64 = 100_000;

fn err(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Spec(e.to_string())
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
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    match &cfg.options.init {
        Some(_) if !argv.is_empty() => [
            crate::INIT_PATH.to_string(),
            crate::INIT_SUBCOMMAND.into(),
            "--".into(),
        ]
        .into_iter()
        .chain(argv)
        .collect(),
        _ => argv,
    }
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
    if let Some(init) = &cfg.options.init {
        mounts.push(user_mount(&crate::MountConfig::Bind {
            source: init.clone(),
            target: crate::INIT_PATH.into(),
            read_only: true,
        })?);
    }
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
    let linux = LinuxBuilder::default()
        .cgroups_path(format!("/{namespace}/{}", cfg.id))
        .namespaces(namespaces)
        .resources(resources.build().map_err(err)?)
        .masked_paths(masked_paths())
        .readonly_paths(readonly_paths())
        .build()
        .map_err(err)?;

    let hostname = cfg
        .hostname
        .clone()
        .unwrap_or_else(|| cfg.id.chars().take(12).collect());
    let mut spec = SpecBuilder::default()
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
        .map_err(err)?;
    crate::spec_options::apply(&mut spec, &cfg.options)?;
    Ok(spec)
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
#[path = "spec_tests.rs"]
mod tests;
