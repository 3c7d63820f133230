//! A task's container configuration, derived from its spec.

use orc_model::Task;
use orc_runtime::{ContainerConfig, ContainerOptions, DeviceConfig, LogConfig, MountConfig};
use orc_spec::Mount;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const LABEL_TASK: &str = "orc.task.id";
pub const LABEL_SERVICE: &str = "orc.service.id";
pub const LABEL_SERVICE_NAME: &str = "orc.service.name";
pub const LABEL_SLOT: &str = "orc.task.slot";

/// Where containers expect the Docker socket.
const DOCKER_SOCKETS: &[&str] = &["/var/run/docker.sock", "/run/docker.sock"];

/// A bind mount of the Docker socket becomes a bind of `ours` (this node's
/// Docker-compatible socket), so Traefik, Portainer or Telegraf in a task talk to orc.
pub fn docker_socket(mounts: &mut [MountConfig], ours: &Path) {
    for m in mounts {
        if let MountConfig::Bind { source, .. } = m {
            if DOCKER_SOCKETS.iter().any(|d| source == Path::new(d)) {
                *source = ours.to_path_buf();
            }
        }
    }
}

/// `volumes` maps each volume mount's name to the directory attached on this node.
pub fn config(task: &Task, log: LogConfig, volumes: &HashMap<String, PathBuf>) -> ContainerConfig {
    let spec = &task.spec;
    let mut labels: HashMap<String, String> = spec
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(LABEL_TASK.into(), task.id.clone());
    labels.insert(LABEL_SERVICE.into(), task.service_id.clone());
    labels.insert(LABEL_SERVICE_NAME.into(), task.service_name.clone());
    labels.insert(LABEL_SLOT.into(), task.slot.to_string());
    let mounts = spec
        .mounts
        .iter()
        .map(|m| match m {
            Mount::Bind {
                source,
                target,
                read_only,
            } => MountConfig::Bind {
                source: source.into(),
                target: target.clone(),
                read_only: *read_only,
            },
            Mount::Tmpfs {
                target,
                size_bytes,
                mode,
            } => MountConfig::Tmpfs {
                target: target.clone(),
                size_bytes: *size_bytes,
                mode: *mode,
            },
            Mount::Volume {
                name,
                target,
                read_only,
                ..
            } => MountConfig::Bind {
                source: volumes.get(name).cloned().unwrap_or_default(),
                target: target.clone(),
                read_only: *read_only,
            },
        })
        .collect();
    ContainerConfig {
        id: task.id.clone(),
        image: spec.image.clone(),
        labels,
        entrypoint: spec.entrypoint.clone(),
        command: spec.command.clone(),
        env: spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        user: spec.user.clone(),
        working_dir: spec.working_dir.clone(),
        hostname: spec.hostname.clone(),
        mounts,
        nano_cpus: spec.resources.limits.nano_cpus,
        memory_bytes: spec.resources.limits.memory_bytes,
        netns: None,
        options: ContainerOptions {
            // orc's own (static) binary is the init it mounts.
            init: spec.container.init.then(|| log.logger_binary.clone()),
            ..options(&spec.container)
        },
        log,
    }
}

/// The spec's container options in the runtime's terms.
fn options(o: &orc_spec::ContainerOptions) -> ContainerOptions {
    ContainerOptions {
        privileged: o.privileged,
        cap_add: o.cap_add.clone(),
        cap_drop: o.cap_drop.clone(),
        devices: o
            .devices
            .iter()
            .map(|d| DeviceConfig {
                source: d.source.clone().into(),
                target: d.target.clone(),
                permissions: d.permissions.clone(),
            })
            .collect(),
        sysctls: o.sysctls.clone().into_iter().collect(),
        ulimits: o
            .ulimits
            .iter()
            .map(|(name, l)| (name.clone(), l.soft, l.hard))
            .collect(),
        read_only: o.read_only,
        shm_size_bytes: o.shm_size_bytes,
        pids_limit: o.pids_limit,
        init: None,
    }
}

/// What the service adds to its containers' /etc/hosts and /etc/resolv.conf.
pub fn resolver_extras(spec: &orc_spec::ServiceSpec) -> orc_net::ResolverExtras {
    let o = &spec.container;
    orc_net::ResolverExtras {
        hosts: o
            .extra_hosts
            .iter()
            .map(|h| (h.hostname.clone(), h.ip.clone()))
            .collect(),
        search: o.dns_search.clone(),
        options: o.dns_options.clone(),
    }
}

pub fn log_dir(logs_root: &Path, task_id: &str) -> std::path::PathBuf {
    logs_root.join(task_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_socket_bind_gets_this_node_s_socket() {
        let mut m = vec![
            MountConfig::Bind {
                source: "/var/run/docker.sock".into(),
                target: "/var/run/docker.sock".into(),
                read_only: true,
            },
            MountConfig::Bind {
                source: "/srv/data".into(),
                target: "/data".into(),
                read_only: false,
            },
        ];
        docker_socket(&mut m, Path::new("/run/orc/docker.sock"));
        let sources: Vec<_> = m
            .iter()
            .map(|m| match m {
                MountConfig::Bind { source, .. } => source.clone(),
                MountConfig::Tmpfs { .. } | MountConfig::ValueFile { .. } => PathBuf::new(),
            })
            .collect();
        assert_eq!(
            sources,
            vec![
                PathBuf::from("/run/orc/docker.sock"),
                PathBuf::from("/srv/data")
            ]
        );
    }
}
