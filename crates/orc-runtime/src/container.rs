//! Container lifecycle: create (record, snapshot, task) and start; remove; list.

use crate::client::SNAPSHOTTER;
use crate::error::ignore_not_found;
use crate::logger::stdio_uri;
use crate::spec::{build_spec, spec_any, user_spec};
use crate::user::{guess_user, resolve_in_rootfs};
use crate::util::chain_ids;
use crate::{ContainerConfig, ContainerInfo, ContainerState, Runtime, RuntimeError};
use containerd_client::services::v1::container::Runtime as ContainerRuntime;
use containerd_client::services::v1::snapshots::PrepareSnapshotRequest;
use containerd_client::services::v1::{
    Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest,
    ListContainersRequest, ListTasksRequest, StartRequest, UpdateContainerRequest,
};
use containerd_client::types::v1::Status;
use std::collections::HashMap;

/// The shim orc runs containers with.
const RUNC_V2: &str = "io.containerd.runc.v2";

/// containerd's rule for ids: alphanumerics, then also `.`, `_`, `-`; at most 76.
fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= 76
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

pub(crate) fn state_of(status: i32) -> ContainerState {
    match Status::try_from(status) {
        Ok(Status::Created) => ContainerState::Created,
        Ok(Status::Running) => ContainerState::Running,
        Ok(Status::Paused | Status::Pausing) => ContainerState::Paused,
        Ok(Status::Stopped) => ContainerState::Stopped,
        _ => ContainerState::Unknown,
    }
}

impl Runtime {
    /// Creates and starts container `cfg.id`: container record, snapshot of the
    /// image, task (stdout/stderr to the log driver), start. On failure everything
    /// it created is removed again. [`RuntimeError::AlreadyExists`] if the id is
    /// taken (nothing is touched then), [`RuntimeError::ImageNotFound`] if the image
    /// is not here.
    pub async fn run(&self, cfg: &ContainerConfig) -> Result<(), RuntimeError> {
        if !valid_id(&cfg.id) {
            return Err(RuntimeError::Spec(format!(
                "invalid container id {:?}",
                cfg.id
            )));
        }
        let stdio = stdio_uri(&cfg.log)?;
        if !cfg.log.logger_binary.is_file() {
            return Err(RuntimeError::Spec(format!(
                "logger binary {} not found",
                cfg.log.logger_binary.display()
            )));
        }
        let image = self.resolve_image(&cfg.image).await?;
        let Some(parent) = chain_ids(&image.config.diff_ids()).pop() else {
            return Err(RuntimeError::Spec(format!(
                "image {} has no layers",
                image.name
            )));
        };
        if !self.snapshot_exists(&parent).await? {
            return Err(RuntimeError::Spec(format!(
                "image {} is not unpacked (load it again)",
                image.name
            )));
        }
        let user = user_spec(cfg, &image.config);
        let guessed = guess_user(&user);
        let spec = build_spec(cfg, &image.config, &guessed, self.namespace())?;
        let container = Container {
            id: cfg.id.clone(),
            labels: cfg.labels.clone(),
            image: image.name.clone(),
            runtime: Some(ContainerRuntime {
                name: RUNC_V2.into(),
                options: None,
            }),
            spec: Some(spec_any(&spec)?),
            snapshotter: SNAPSHOTTER.into(),
            snapshot_key: cfg.id.clone(),
            ..Default::default()
        };
        // The record first: it keeps the snapshot from garbage collection.
        self.containers()
            .create(CreateContainerRequest {
                container: Some(container.clone()),
            })
            .await?;
        let started = self
            .start_created(cfg, container, &parent, &user, &guessed, &stdio)
            .await;
        if let Err(e) = started {
            if let Err(c) = self.remove(&cfg.id).await {
                tracing::warn!(container = %cfg.id, "cleaning up after a failed start: {c}");
            }
            return Err(e);
        }
        Ok(())
    }

    async fn start_created(
        &self,
        cfg: &ContainerConfig,
        mut container: Container,
        parent: &str,
        user: &str,
        guessed: &crate::user::ResolvedUser,
        stdio: &str,
    ) -> Result<(), RuntimeError> {
        let prep = PrepareSnapshotRequest {
            snapshotter: SNAPSHOTTER.into(),
            key: cfg.id.clone(),
            parent: parent.into(),
            labels: HashMap::new(),
        };
        let mounts = self.snapshots().prepare(prep).await?.into_inner().mounts;
        let resolved = resolve_in_rootfs(user, &mounts)?;
        if resolved != *guessed {
            let image = self.resolve_image(&container.image).await?;
            let spec = build_spec(cfg, &image.config, &resolved, self.namespace())?;
            container.spec = Some(spec_any(&spec)?);
            let mask = prost_types::FieldMask {
                paths: vec!["spec".into()],
            };
            let update = UpdateContainerRequest {
                container: Some(container),
                update_mask: Some(mask),
            };
            self.containers().update(update).await?;
        }
        std::fs::create_dir_all(&cfg.log.dir).map_err(|e| RuntimeError::io(&cfg.log.dir, e))?;
        let create = CreateTaskRequest {
            container_id: cfg.id.clone(),
            rootfs: mounts,
            stdin: String::new(),
            stdout: stdio.into(),
            stderr: stdio.into(),
            terminal: false,
            ..Default::default()
        };
        self.tasks().create(create).await?;
        self.tasks()
            .start(StartRequest {
                container_id: cfg.id.clone(),
                exec_id: String::new(),
            })
            .await?;
        Ok(())
    }

    /// Removes container `id`: kills and deletes its task, deletes the record and
    /// its snapshot. Idempotent: whatever is already gone is skipped.
    pub async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        self.delete_task(id).await?;
        let r = self
            .containers()
            .delete(DeleteContainerRequest { id: id.to_string() })
            .await;
        ignore_not_found(r.map(|_| ()).map_err(RuntimeError::from))?;
        self.remove_snapshot(id).await
    }

    /// Every container of the namespace with its labels and task state, sorted by id.
    pub async fn list(&self) -> Result<Vec<ContainerInfo>, RuntimeError> {
        let containers = self
            .containers()
            .list(ListContainersRequest { filters: vec![] })
            .await?
            .into_inner()
            .containers;
        let tasks = self
            .tasks()
            .list(ListTasksRequest {
                filter: String::new(),
            })
            .await?
            .into_inner()
            .tasks;
        // containerd 1.6 fills Process.id with the container id, later versions
        // container_id as well.
        let tasks: HashMap<String, _> = tasks
            .into_iter()
            .map(|t| {
                (
                    if t.container_id.is_empty() {
                        t.id.clone()
                    } else {
                        t.container_id.clone()
                    },
                    t,
                )
            })
            .collect();
        let mut out: Vec<ContainerInfo> = containers
            .into_iter()
            .map(|c| {
                let task = tasks.get(&c.id);
                let state = task
                    .map(|t| state_of(t.status))
                    .unwrap_or(ContainerState::None);
                let args = c
                    .spec
                    .as_ref()
                    .map(|s| process_args(&s.value))
                    .unwrap_or_default();
                ContainerInfo {
                    args,
                    id: c.id,
                    image: c.image,
                    labels: c.labels,
                    state,
                    pid: task
                        .map(|t| t.pid)
                        .filter(|p| *p > 0 && state != ContainerState::Stopped),
                    exit_code: (state == ContainerState::Stopped)
                        .then(|| task.map(|t| t.exit_status as i32))
                        .flatten(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// [`Runtime::list`] by container id.
    pub async fn list_by_id(&self) -> Result<HashMap<String, ContainerInfo>, RuntimeError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect())
    }
}

/// `process.args` of an OCI runtime spec (JSON); empty when it has none or can't be
/// read.
fn process_args(spec: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Spec {
        process: Option<Process>,
    }
    #[derive(serde::Deserialize)]
    struct Process {
        #[serde(default)]
        args: Vec<String>,
    }
    serde_json::from_slice::<Spec>(spec)
        .ok()
        .and_then(|s| s.process)
        .map(|p| p.args)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{process_args, valid_id};

    #[test]
    fn the_process_args_come_from_the_oci_spec() {
        let spec = br#"{"ociVersion":"1.1.0","process":{"args":["docker-entrypoint.sh","mariadbd"],"cwd":"/"}}"#;
        assert_eq!(process_args(spec), ["docker-entrypoint.sh", "mariadbd"]);
        assert!(process_args(br#"{"ociVersion":"1.1.0"}"#).is_empty());
        assert!(process_args(b"not json").is_empty());
    }

    #[test]
    fn ids_follow_containerds_rule() {
        assert!(valid_id("abc-1.2_3"));
        assert!(!valid_id(""));
        assert!(!valid_id("-a"));
        assert!(!valid_id("a/b"));
        assert!(!valid_id(&"a".repeat(77)));
    }
}
