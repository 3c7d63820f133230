//! This node's own containers, as a Docker engine on a swarm node lists them: the
//! tasks this node runs or ran (on a manager from the Raft state, on a worker from
//! the assignments the leader sent it) joined with what containerd says of each (state,
//! pid, exit code, image). A task whose container is gone but which ended here stays
//! listed as an exited container (Swarm keeps a few per slot the same way). The
//! Docker socket's `/containers/…` routes and `/info`'s counts read this.

use super::Ops;
use crate::DaemonError;
use orc_metrics::container::ContainerUsage;
use orc_model::{ClusterNetwork, ClusterState, NodeId, Task, TaskState};
use orc_runtime::ContainerState;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One of this node's containers.
#[derive(Debug, Clone)]
pub struct LocalContainer {
    pub task: Task,
    /// The stack of its service.
    pub stack: String,
    /// containerd's view; `None` when the container is gone (the task ended).
    pub runtime: Option<ContainerState>,
    /// The init process while it runs.
    pub pid: Option<u32>,
    /// containerd's exit code, else the task's.
    pub exit_code: Option<i32>,
    /// The image it was made from (normalised), or its task's once it is gone.
    pub image: String,
    /// The image's digest on this node (`sha256:…`), if it is here and was asked for
    /// ([`Ops::resolve_image_digests`]).
    pub image_digest: Option<String>,
    /// The process it runs (image and service merged), while containerd has it.
    pub args: Vec<String>,
}

impl LocalContainer {
    pub fn running(&self) -> bool {
        self.runtime == Some(ContainerState::Running)
    }
}

/// This node's containers, newest first, and the cluster network they are on.
#[derive(Debug, Clone, Default)]
pub struct LocalContainers {
    pub network: Option<ClusterNetwork>,
    pub containers: Vec<LocalContainer>,
}

impl LocalContainers {
    /// (running, paused, stopped), as `/info` counts them.
    pub fn counts(&self) -> (usize, usize, usize) {
        let running = self.containers.iter().filter(|c| c.running()).count();
        let paused = self
            .containers
            .iter()
            .filter(|c| c.runtime == Some(ContainerState::Paused))
            .count();
        (running, paused, self.containers.len() - running - paused)
    }
}

impl Ops {
    /// The state that says which tasks this node has: the Raft state on a manager,
    /// the leader's assignments on a worker; with this node's id.
    fn local_view(&self) -> Option<(Arc<ClusterState>, Option<NodeId>)> {
        if let Ok(c) = self.cluster() {
            return Some((c.snapshot(), Some(c.node_id)));
        }
        self.worker()?;
        let view = self
            .worker_view
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|rx| rx.borrow().clone())?;
        // The leader sends a worker only its own tasks.
        let node = view.tasks.values().find_map(|t| t.node_id);
        Some((view, node))
    }

    /// This node's containers (see the module's description), without their images'
    /// digests (counting them needs none). Not in a cluster: none.
    pub async fn local_containers(&self) -> Result<LocalContainers, DaemonError> {
        let Some((state, node)) = self.local_view() else {
            return Ok(LocalContainers::default());
        };
        let runtime = self.runtime.list_by_id().await?;
        let mine = state
            .tasks
            .values()
            .filter(|t| node.is_none() || t.node_id == node);
        let mut out: Vec<LocalContainer> = Vec::new();
        for t in mine {
            let c = runtime.get(&t.id);
            let ended = t.status.state.is_terminal() && t.status.state != TaskState::Rejected;
            let runtime_state = match c {
                Some(c) => Some(c.state),
                // Gone with its task's end: an exited container.
                None if ended => None,
                // Not made yet (preparing), or never made (rejected).
                None => continue,
            };
            let stack = state
                .services
                .get(&t.service_id)
                .map(|s| s.stack.clone())
                .unwrap_or_else(|| stack_of(&t.service_name));
            let image = c
                .map(|c| c.image.clone())
                .unwrap_or_else(|| orc_runtime::normalize_reference(&t.spec.image));
            out.push(LocalContainer {
                stack,
                runtime: runtime_state,
                pid: c.and_then(|c| c.pid),
                exit_code: c.and_then(|c| c.exit_code).or(t.status.exit_code),
                image,
                image_digest: None,
                args: c.map(|c| c.args.clone()).unwrap_or_default(),
                task: t.clone(),
            });
        }
        out.sort_by(|a, b| (b.task.created_at, &b.task.id).cmp(&(a.task.created_at, &a.task.id)));
        Ok(LocalContainers {
            network: state.network.clone(),
            containers: out,
        })
    }

    /// Fills in each container's image digest: one containerd lookup per image, not
    /// per container.
    pub async fn resolve_image_digests(&self, l: &mut LocalContainers) {
        let mut digests: BTreeMap<String, Option<String>> = BTreeMap::new();
        for c in &mut l.containers {
            if !digests.contains_key(&c.image) {
                let d = match self.runtime.get_image(&c.image).await {
                    Ok(i) => i.map(|i| i.digest),
                    Err(e) => {
                        tracing::debug!("containers: image {}: {e}", c.image);
                        None
                    }
                };
                digests.insert(c.image.clone(), d);
            }
            c.image_digest = digests.get(&c.image).cloned().flatten();
        }
    }

    /// What a running container uses now, from its init process `pid`'s cgroup and
    /// network namespace.
    pub async fn container_usage(&self, pid: u32) -> Result<ContainerUsage, DaemonError> {
        tokio::task::spawn_blocking(move || {
            orc_metrics::container::container_usage(
                Path::new("/proc"),
                Path::new("/sys/fs/cgroup"),
                pid,
            )
        })
        .await
        .map_err(|e| DaemonError::io("/proc", std::io::Error::other(e.to_string())))?
        .map_err(|e| DaemonError::io("/proc", std::io::Error::other(e.to_string())))
    }
}

/// "STACK_SERVICE" → "STACK" (a task whose service is unknown here, as on a worker).
fn stack_of(service_name: &str) -> String {
    service_name
        .split_once('_')
        .map(|(a, _)| a)
        .unwrap_or(service_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_from_service_names() {
        assert_eq!(stack_of("shop_web"), "shop");
        assert_eq!(stack_of("lonely"), "lonely");
    }
}
