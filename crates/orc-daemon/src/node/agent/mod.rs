//! The agent: makes this node's containers match the tasks assigned to it, reports
//! what it observes, adopts containers that outlived a daemon restart and removes the
//! ones no task owns.

mod backoff;
mod container;
mod health;
mod image_gc;
mod inventory;
mod network;
mod probe;
mod pull;
mod release;
mod reporter;
mod worker;

pub use image_gc::ImageGcConfig;
pub use reporter::Reporter;

use crate::util::now_ms;
use orc_model::{ClusterState, NodeId, Task, TaskId, TaskState, TaskStatus};
use orc_runtime::{ContainerState, LogConfig, Runtime};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use worker::{Mode, Worker};

pub use container::log_dir;

/// What every worker shares.
pub struct AgentCtx {
    pub node_id: NodeId,
    pub runtime: Runtime,
    pub reporter: Reporter,
    pub logs_root: PathBuf,
    pub logger_binary: PathBuf,
    pub log_max_bytes: u64,
    pub log_max_files: u32,
    /// Registry credentials for pulling missing images.
    pub registry: crate::cluster::registry_auth::PullAuth,
    /// Peers that may hold a missing image (asked before any registry).
    pub peers: Option<crate::node::peers::PeerList>,
    /// Where the image inventory is committed.
    pub writer: Option<crate::cluster::writer::Writer>,
    /// Automatic image GC settings, and what its sweeps remember.
    pub image_gc: image_gc::ImageGcConfig,
    gc: Mutex<image_gc::GcState>,
    /// True while a GC sweep runs.
    sweeping: std::sync::atomic::AtomicBool,
    /// Images whose pulls failed, and when each may be tried again.
    backoff: Mutex<backoff::PullBackoff>,
    /// Wanted images being fetched, or not to be tried again before the instant.
    fetching: Mutex<HashMap<String, std::time::Instant>>,
    /// True while an inventory report runs.
    reporting: std::sync::atomic::AtomicBool,
    /// The inventory last committed.
    reported: Mutex<Option<std::collections::BTreeMap<String, String>>>,
    /// Volumes attached on this node.
    pub volumes: Arc<crate::storage::NodeVolumes>,
    /// Tasks whose end this agent reported but the state may not show yet.
    ended: Mutex<HashMap<TaskId, TaskState>>,
    /// Volumes whose release (after fencing) is being reported.
    releasing: Mutex<HashSet<String>>,
    wake: Notify,
    /// Container networking (None when netlink is unavailable).
    pub net: Option<network::AgentNet>,
    /// This node's Docker-compatible socket: a task bind-mounting the Docker socket
    /// (`/var/run/docker.sock`) gets this one.
    pub docker_socket: Option<PathBuf>,
    /// Exec health probes running at once on this node ([`probe::MAX_EXEC_PROBES`]).
    exec_probes: tokio::sync::Semaphore,
    /// Where exec probes' output files go (each removed after its probe).
    probe_dir: PathBuf,
    /// Secrets and configs: where their values come from and the per-task tmpfs.
    pub values: Option<Arc<crate::node::values::NodeValues>>,
}

impl AgentCtx {
    fn log_config(&self, task_id: &str) -> LogConfig {
        LogConfig {
            dir: log_dir(&self.logs_root, task_id),
            max_bytes: self.log_max_bytes,
            max_files: self.log_max_files,
            logger_binary: self.logger_binary.clone(),
            logger_args: Vec::new(),
        }
    }

    fn finish(&self, id: &str, status: TaskStatus) {
        if let Ok(mut m) = self.ended.lock() {
            m.insert(id.to_string(), status.state);
        }
        self.reporter.report(id, status);
        self.wake.notify_one();
    }

    fn forget_logs(&self, id: &str) {
        let dir = log_dir(&self.logs_root, id);
        if dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!("removing {}: {e}", dir.display());
            }
        }
    }

    /// Starts an agent pass `after` from now (a retry of work a pass started).
    fn wake_after(self: &Arc<Self>, after: Duration) {
        let ctx = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            ctx.wake.notify_one();
        });
    }

    fn ended(&self, id: &str) -> bool {
        self.ended
            .lock()
            .map(|m| m.contains_key(id))
            .unwrap_or(false)
    }
}

/// How often the agent lists containerd's containers, tasks and images although no
/// event said anything changed (one missed would be caught here). Every change
/// containerd reports ([`orc_runtime::Runtime::changes`]), every state change and
/// every worker's end start a pass at once; a failed pass is retried after `resync`.
const FULL_RESYNC: Duration = Duration::from_secs(60);

/// Wakes the agent on every change containerd reports in its namespace, and once
/// more whenever the event stream breaks (events may have been lost), subscribing
/// again `retry` later.
fn watch_changes(ctx: Arc<AgentCtx>, retry: Duration, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            let mut changes = ctx.runtime.changes();
            loop {
                tokio::select! {
                    r = changes.next() => match r {
                        Ok(_) => ctx.wake.notify_one(),
                        Err(e) => {
                            tracing::debug!("containerd events: {e}");
                            break;
                        }
                    },
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
            ctx.wake.notify_one();
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    });
}

/// Completes when `rx` sees a new value; never without one (or once its sender is
/// gone).
async fn changed_or_never<T>(rx: &mut Option<watch::Receiver<T>>) {
    if let Some(r) = rx.as_mut() {
        if r.changed().await.is_ok() {
            return;
        }
    }
    *rx = None;
    std::future::pending::<()>().await
}

pub struct Agent {
    ctx: Arc<AgentCtx>,
    workers: HashMap<TaskId, Worker>,
}

impl Agent {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        node_id: NodeId,
        runtime: Runtime,
        reporter: Reporter,
        logs_root: PathBuf,
        logger_binary: PathBuf,
        log_max_bytes: u64,
        log_max_files: u32,
        volumes: Arc<crate::storage::NodeVolumes>,
    ) -> Agent {
        Agent {
            ctx: Arc::new(AgentCtx {
                node_id,
                runtime,
                reporter,
                probe_dir: probe::probe_dir(&logs_root),
                exec_probes: tokio::sync::Semaphore::new(probe::MAX_EXEC_PROBES),
                logs_root,
                logger_binary,
                log_max_bytes,
                log_max_files,
                registry: crate::cluster::registry_auth::PullAuth::new(None, Vec::new()),
                peers: None,
                writer: None,
                reported: Mutex::new(None),
                reporting: std::sync::atomic::AtomicBool::new(false),
                fetching: Mutex::new(HashMap::new()),
                backoff: Mutex::new(backoff::PullBackoff::default()),
                image_gc: ImageGcConfig {
                    interval: Duration::ZERO,
                    ..Default::default()
                },
                gc: Mutex::new(image_gc::GcState::default()),
                sweeping: std::sync::atomic::AtomicBool::new(false),
                volumes,
                ended: Mutex::new(HashMap::new()),
                releasing: Mutex::new(HashSet::new()),
                wake: Notify::new(),
                net: None,
                docker_socket: None,
                values: None,
            }),
            workers: HashMap::new(),
        }
    }

    /// Opens registry credentials with the CA key `keys` holds (managers, unlocked);
    /// may reach the `insecure` registries over plain HTTP.
    pub fn with_ca_keys(
        mut self,
        keys: Arc<crate::cluster::ca_key::CaKeys>,
        insecure: Vec<String>,
    ) -> Agent {
        if let Some(ctx) = Arc::get_mut(&mut self.ctx) {
            ctx.registry = crate::cluster::registry_auth::PullAuth::new(Some(keys), insecure);
        }
        self
    }

    /// Asks these peers for images missing here before their registries.
    pub fn with_docker_socket(mut self, socket: Option<PathBuf>) -> Agent {
        if let Some(ctx) = Arc::get_mut(&mut self.ctx) {
            ctx.docker_socket = socket;
        }
        self
    }

    pub fn with_peers(mut self, peers: crate::node::peers::PeerList) -> Agent {
        if let Some(ctx) = Arc::get_mut(&mut self.ctx) {
            ctx.peers = Some(peers);
        }
        self
    }

    /// Writes tasks' secrets and configs into per-task tmpfs from `values`.
    pub fn with_values(mut self, values: Arc<crate::node::values::NodeValues>) -> Agent {
        if let Some(ctx) = Arc::get_mut(&mut self.ctx) {
            ctx.values = Some(values);
        }
        self
    }

    /// Garbage-collects unused images with these settings.
    pub fn with_image_gc(mut self, cfg: ImageGcConfig) -> Agent {
        if let Some(ctx) = Arc::get_mut(&mut self.ctx) {
            ctx.image_gc = cfg;
        }
        self
    }

    /// Commits this node's image inventory through `writer`.
    pub fn with_writer(mut self, writer: crate::cluster::writer::Writer) -> Agent {
        if let Some(ctx) = Arc::get_mut(&mut self.ctx) {
            ctx.writer = Some(writer);
        }
        self
    }

    /// Puts containers of stack-network tasks in namespaces pinned under `dir`.
    /// Workers pass the `directory` their session receives; managers compute it.
    pub fn with_network(
        mut self,
        dir: PathBuf,
        directory: Option<watch::Receiver<Arc<orc_model::Directory>>>,
        resolv_conf: PathBuf,
    ) -> Agent {
        if let Some(ctx) = Arc::get_mut(&mut self.ctx) {
            ctx.net = network::AgentNet::new(dir, directory, resolv_conf);
        }
        self
    }

    /// Runs until `stop` turns true. Containers keep running when the agent stops: the
    /// next daemon adopts them.
    ///
    /// Nothing is touched until `ready` turns true: until this node's view of the
    /// cluster is current (after a restart the log may still be replaying, a worker may
    /// not have its assignments yet), acting on it could remove containers that are
    /// meant to run.
    pub async fn run(
        mut self,
        mut state: watch::Receiver<Arc<ClusterState>>,
        mut ready: watch::Receiver<bool>,
        resync: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        tokio::select! {
            _ = ready.wait_for(|r| *r) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        // containerd says when containers, images or tasks change: each change wakes
        // the loop, so an idle node asks containerd nothing between full passes.
        watch_changes(self.ctx.clone(), resync, stop.clone());
        let mut directory = self.ctx.net.as_ref().and_then(|n| n.directory_in());
        loop {
            if *stop.borrow() {
                // Containers outlive the agent (a role switch starts a new one that
                // adopts them): its workers are detached, not told to stop.
                for (_, w) in self.workers.drain() {
                    w.detach();
                }
                return;
            }
            let snapshot = state.borrow_and_update().clone();
            let next = match self.reconcile(&snapshot).await {
                Ok(()) => FULL_RESYNC,
                Err(e) => {
                    tracing::warn!("agent: {e}");
                    resync
                }
            };
            // Automatic image GC sweeps on its own interval (10 min by default, longer
            // than a full pass; shorter only when configured so).
            let gc_every = self.ctx.image_gc.interval;
            let next = if gc_every.is_zero() {
                next
            } else {
                next.min(gc_every)
            };
            pull::fetch_wanted(&self.ctx, &snapshot);
            image_gc::maybe_sweep(&self.ctx, &snapshot);
            inventory::spawn_report(&self.ctx);
            tokio::select! {
                r = state.changed() => if r.is_err() { return },
                _ = self.ctx.wake.notified() => {}
                _ = tokio::time::sleep(next) => {}
                _ = changed_or_never(&mut directory) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn reconcile(&mut self, state: &ClusterState) -> Result<(), orc_runtime::RuntimeError> {
        self.workers.retain(|_, w| !w.is_finished());
        self.ctx.registry.update(state);
        if let Some(v) = &self.ctx.values {
            v.update(state);
        }
        self.ctx.volumes.set_ceph(state.storage.ceph.as_ref());
        // Fenced off a volume while away: its clients here are blocklisted; drop them.
        for v in state.storage.volumes.values() {
            if v.fenced.contains(&self.ctx.node_id) && self.ctx.volumes.is_attached(&v.name) {
                tracing::warn!(volume = %v.name, "this node was fenced off the volume: releasing it");
                self.ctx.volumes.force_detach(&v.name).await;
            }
        }
        let containers = self.ctx.runtime.list_by_id().await?;
        let mine: HashMap<&str, &Task> = state
            .tasks_on_node(self.ctx.node_id)
            .map(|t| (t.id.as_str(), t))
            .collect();

        for (id, task) in &mine {
            let id = *id;
            let terminal = task.status.state.is_terminal() || self.ctx.ended(id);
            if task.desired_state == TaskState::Running && !terminal {
                if self.workers.contains_key(id) {
                    continue;
                }
                match containers.get(id) {
                    Some(c) if c.state == ContainerState::Running => {
                        tracing::info!(task = id, "adopting running container");
                        self.spawn(task, Mode::Adopt);
                    }
                    Some(c) if task.status.state >= TaskState::Starting => {
                        // It ended while nobody watched.
                        let code = c.exit_code.unwrap_or(-1);
                        let mut st = TaskStatus::new(
                            if code == 0 {
                                TaskState::Complete
                            } else {
                                TaskState::Failed
                            },
                            now_ms(),
                            format!("exited with code {code} while the agent was away"),
                        );
                        st.exit_code = c.exit_code;
                        let _ = self.ctx.runtime.remove(id).await;
                        self.ctx.finish(id, st);
                    }
                    Some(_) => {
                        // A half-made container from an interrupted start: begin again.
                        let _ = self.ctx.runtime.remove(id).await;
                        self.spawn(task, Mode::Start);
                    }
                    None if task.status.state <= TaskState::Assigned => {
                        self.spawn(task, Mode::Start)
                    }
                    None => {
                        let mut st = TaskStatus::new(TaskState::Failed, now_ms(), "container lost");
                        st.err = Some("the task's container no longer exists on this node".into());
                        self.ctx.finish(id, st);
                    }
                }
            } else if task.desired_state > TaskState::Running && !terminal {
                if let Some(w) = self.workers.get(id) {
                    w.stop();
                } else if containers.contains_key(id) {
                    let w = Worker::spawn(self.ctx.clone(), (*task).clone(), Mode::Adopt);
                    w.stop();
                    self.workers.insert(id.to_string(), w);
                } else {
                    self.ctx.finish(
                        id,
                        TaskStatus::new(TaskState::Shutdown, now_ms(), "shut down"),
                    );
                }
            } else if task.status.state.is_terminal() {
                // Ended in the cluster's view (e.g. orphaned while this node was cut
                // off, and run elsewhere since): nothing of it may keep running here.
                if let Some(w) = self.workers.get(id) {
                    w.stop();
                } else if containers.contains_key(id) {
                    let w = Worker::spawn(self.ctx.clone(), (*task).clone(), Mode::Adopt);
                    w.stop();
                    self.workers.insert(id.to_string(), w);
                }
            }
        }

        // Containers no task of this node owns: stop and remove them.
        for (id, c) in &containers {
            if mine.contains_key(id.as_str()) || self.workers.contains_key(id) {
                continue;
            }
            tracing::info!(container = %id, image = %c.image, "removing a container no task owns");
            let task = reap_task(id);
            let w = Worker::spawn(self.ctx.clone(), task, Mode::Reap);
            self.workers.insert(id.clone(), w);
        }

        // A task's namespace and its secrets' tmpfs stay while the task may still run
        // or its container exists.
        let live: HashSet<String> = mine
            .iter()
            .filter(|(_, t)| !t.status.state.is_terminal())
            .map(|(id, _)| id.to_string())
            .chain(containers.keys().cloned())
            .chain(self.workers.keys().cloned())
            .collect();
        if let Some(net) = &self.ctx.net {
            net.reconcile(state, self.ctx.node_id, &live).await;
        }
        if let Some(values) = &self.ctx.values {
            values.cleanup(&live);
        }

        // Fenced off a volume and clean of it now: say so (the leader unfences).
        self.workers.retain(|_, w| !w.is_finished());
        let live = self.workers.keys().chain(containers.keys());
        if let Some(used) = release::volumes_in_use(&mine, live) {
            release::report(&self.ctx, state, &used);
        }

        // Forget what the state no longer has; drop their logs.
        let known: HashSet<&str> = state.tasks.keys().map(|k| k.as_str()).collect();
        if let Ok(mut ended) = self.ctx.ended.lock() {
            ended.retain(|k, _| mine.contains_key(k.as_str()));
        }
        if let Ok(rd) = std::fs::read_dir(&self.ctx.logs_root) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if !known.contains(name.as_str()) && !self.workers.contains_key(&name) {
                    self.ctx.forget_logs(&name);
                }
            }
        }
        Ok(())
    }

    /// Stops and removes every container of this node (a node leaving the cluster),
    /// waiting at most `timeout`.
    pub async fn clear(mut self, timeout: Duration) -> Result<(), orc_runtime::RuntimeError> {
        self.reconcile(&ClusterState::default()).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        while self.workers.values().any(|w| !w.is_finished())
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    fn spawn(&mut self, task: &Task, mode: Mode) {
        let w = Worker::spawn(self.ctx.clone(), task.clone(), mode);
        self.workers.insert(task.id.clone(), w);
    }
}

/// A stand-in task for reaping a container whose task is unknown: default stop policy.
fn reap_task(id: &str) -> Task {
    Task {
        id: id.to_string(),
        service_id: String::new(),
        service_name: String::new(),
        slot: 0,
        node_id: None,
        spec_version: 0,
        spec: orc_spec::ServiceSpec::new(String::new()),
        desired_state: TaskState::Shutdown,
        status: TaskStatus::new(TaskState::Running, 0, ""),
        created_at: 0,
        not_before: 0,
        attempt: 0,
    }
}
