//! One task's container, from start (or adoption) to exit or shutdown. The shape
//! follows swarmkit's controller: prepare, start, wait, shutdown, remove.

use super::AgentCtx;
use crate::util::now_ms;
use orc_model::{Task, TaskState, TaskStatus};
use orc_spec::Mount;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Worker {
    stop: watch::Sender<bool>,
    join: JoinHandle<()>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create and start the container.
    Start,
    /// The container already runs (after a daemon restart): wait on it.
    Adopt,
    /// Stop and remove a container no task wants any more.
    Reap,
}

impl Worker {
    pub fn spawn(ctx: Arc<AgentCtx>, task: Task, mode: Mode) -> Worker {
        let (stop, rx) = watch::channel(mode == Mode::Reap);
        let join = tokio::spawn(run(ctx, task, mode, rx));
        Worker { stop, join }
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Leaves the container as it is: the worker is cancelled, the container keeps
    /// running, and the next agent adopts it.
    pub fn detach(self) {
        self.join.abort();
    }

    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

fn status(state: TaskState, message: impl Into<String>) -> TaskStatus {
    TaskStatus::new(state, now_ms(), message)
}

fn failed(state: TaskState, message: &str, err: String) -> TaskStatus {
    let mut s = status(state, message);
    s.err = Some(err);
    s
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

async fn run(ctx: Arc<AgentCtx>, task: Task, mode: Mode, mut stop: watch::Receiver<bool>) {
    let id = task.id.clone();
    // The health check the task runs (None: none), and its running status.
    let mut check = None;
    let mut running_status: Option<TaskStatus> = None;
    if mode == Mode::Start {
        let wait = Duration::from_millis(task.not_before.saturating_sub(now_ms()));
        if !wait.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopped(&mut stop) => {
                    ctx.finish(&id, status(TaskState::Shutdown, "shut down before it started"));
                    return;
                }
            }
        }
        ctx.reporter
            .report(&id, status(TaskState::Preparing, "preparing"));
        match ctx.runtime.get_image(&task.spec.image).await {
            Ok(Some(_)) => {}
            // Absent, or its record lost its content: fetch it.
            Ok(None) | Err(orc_runtime::RuntimeError::NotFound(_)) => {
                // An earlier pull of this image failed: wait out its backoff.
                if let Some((next, reason)) = super::pull::backing_off(&ctx, &task.spec.image) {
                    let msg = format!("{reason}: next pull try {}", super::backoff::clock(next));
                    ctx.reporter.report(&id, status(TaskState::Preparing, msg));
                    let wait = Duration::from_millis(next.saturating_sub(now_ms()));
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stopped(&mut stop) => {
                            ctx.finish(&id, status(TaskState::Shutdown, "shut down before it started"));
                            return;
                        }
                    }
                }
                if let Err((short, msg)) =
                    super::pull::pull_missing(&ctx, &task.spec.image, Some(&id)).await
                {
                    ctx.finish(&id, failed(TaskState::Rejected, &short, msg));
                    return;
                }
            }
            Err(e) => {
                ctx.finish(
                    &id,
                    failed(TaskState::Rejected, "image lookup failed", e.to_string()),
                );
                return;
            }
        }
        check = effective_check(&ctx, &task).await;
        let volumes = match attach_volumes(&ctx, &task).await {
            Ok(v) => v,
            Err(e) => {
                ctx.finish(&id, failed(TaskState::Rejected, "volume attach failed", e));
                return;
            }
        };
        let plugged = match &ctx.net {
            Some(net) => net.plug(&task).await,
            None if task.spec.network_mode == orc_spec::NetworkMode::Stack => {
                Err("container networking is unavailable on this node".to_string())
            }
            None => Ok(None),
        };
        let plugged = match plugged {
            Ok(p) => p,
            Err(e) => {
                unplug(&ctx, &id).await;
                detach_volumes(&ctx, &task).await;
                ctx.finish(&id, failed(TaskState::Rejected, "network setup failed", e));
                return;
            }
        };
        let value_mounts = match &ctx.values {
            Some(v) => v.materialize(&task),
            None if task.spec.secrets.is_empty() && task.spec.configs.is_empty() => Ok(Vec::new()),
            None => Err("secrets and configs are unavailable on this node".to_string()),
        };
        let value_mounts = match value_mounts {
            Ok(m) => m,
            Err(e) => {
                unplug(&ctx, &id).await;
                detach_volumes(&ctx, &task).await;
                ctx.finish(
                    &id,
                    failed(TaskState::Rejected, "secret or config unavailable", e),
                );
                return;
            }
        };
        let address = plugged.as_ref().map(|p| p.address);
        let mut starting = status(TaskState::Starting, "starting");
        starting.address = address;
        ctx.reporter.report(&id, starting);
        let mut cfg = super::container::config(&task, ctx.log_config(&id), &volumes);
        if let Some(sock) = &ctx.docker_socket {
            super::container::docker_socket(&mut cfg.mounts, sock);
        }
        cfg.mounts.extend(value_mounts);
        if let Some(p) = plugged {
            for (source, target) in [(p.resolv_conf, "/etc/resolv.conf"), (p.hosts, "/etc/hosts")] {
                let taken = cfg.mounts.iter().any(|m| m.target() == target);
                if !taken {
                    cfg.mounts.push(orc_runtime::MountConfig::Bind {
                        source,
                        target: target.to_string(),
                        read_only: true,
                    });
                }
            }
            cfg.netns = Some(p.netns);
        }
        if let Err(e) = ctx.runtime.run(&cfg).await {
            let _ = ctx.runtime.remove(&id).await;
            forget_values(&ctx, &id);
            unplug(&ctx, &id).await;
            detach_volumes(&ctx, &task).await;
            ctx.finish(
                &id,
                failed(
                    TaskState::Rejected,
                    "container failed to start",
                    e.to_string(),
                ),
            );
            return;
        }
        let mut running = status(TaskState::Running, "started");
        running.address = address;
        // With a health check the task is reported running and starting at once: it
        // gets no traffic before its first passed probe.
        running.health = check
            .as_ref()
            .map(|_| super::health::starting(running.timestamp));
        ctx.reporter.report(&id, running.clone());
        running_status = Some(running);
    }
    if mode == Mode::Adopt {
        // After a daemon restart the mounts are still there: count this task in.
        if let Err(e) = attach_volumes(&ctx, &task).await {
            tracing::warn!(task = %id, "re-attaching volumes: {e}");
        }
        if task.desired_state == TaskState::Running {
            check = effective_check(&ctx, &task).await;
        }
        if task.status.state < TaskState::Running {
            // The daemon died between starting the container and reporting it: it runs.
            let mut running = status(TaskState::Running, "running (adopted)");
            running.address = task.status.address;
            running.health = check
                .as_ref()
                .map(|_| super::health::starting(running.timestamp));
            ctx.reporter.report(&id, running.clone());
            running_status = Some(running);
        } else if task.status.state == TaskState::Running {
            running_status = Some(task.status.clone());
        }
    }
    let signal = task.spec.stop.signal;
    let grace = Duration::from_millis(task.spec.stop.grace_period_ms);
    // The health check, while the container runs (never completes without one, or
    // while the task stays up; see health::monitor).
    let health = async {
        match (&check, &running_status) {
            (Some(c), Some(running)) => {
                let target = super::probe::Target::new(
                    &id,
                    ctx.net.as_ref().and_then(|n| n.netns_of(&task)),
                );
                let prior = running.health.clone().filter(|_| mode == Mode::Adopt);
                let tracker = super::health::Tracker::new(c.clone(), running.timestamp, prior);
                super::health::monitor(&ctx, target, running.clone(), tracker).await
            }
            _ => std::future::pending().await,
        }
    };
    let final_status = tokio::select! {
        r = ctx.runtime.wait(&id) => match r {
            Ok(exit) if exit.code == 0 => {
                let mut s = status(TaskState::Complete, "exited with code 0");
                s.exit_code = Some(0);
                s
            }
            Ok(exit) => {
                let mut s = failed(
                    TaskState::Failed,
                    &format!("exited with code {}", exit.code),
                    format!("task exited with code {}", exit.code),
                );
                s.exit_code = Some(exit.code);
                s
            }
            Err(e) => failed(TaskState::Failed, "lost track of the container", e.to_string()),
        },
        _ = stopped(&mut stop) => {
            let mut s = status(TaskState::Shutdown, "shut down");
            match ctx.runtime.stop(&id, signal, grace).await {
                Ok(exit) => s.exit_code = exit.map(|e| e.code),
                Err(e) => s.err = Some(format!("stopping: {e}")),
            }
            s
        }
        (probe, health) = health => {
            // Reported unhealthy and out of every backend list already: stop it; the
            // orchestrator replaces it per the restart policy.
            let why = super::health::failure_message(&probe);
            let mut s = failed(TaskState::Failed, &why, format!("task {why}"));
            match ctx.runtime.stop(&id, signal, grace).await {
                Ok(exit) => s.exit_code = exit.map(|e| e.code),
                Err(e) => s.err = Some(format!("{why}; stopping: {e}")),
            }
            s.address = task.status.address.or(running_status.as_ref().and_then(|r| r.address));
            s.health = Some(health);
            s
        }
    };
    if let Err(e) = ctx.runtime.remove(&id).await {
        tracing::warn!(task = %id, "removing container: {e}");
    }
    forget_values(&ctx, &id);
    unplug(&ctx, &id).await;
    if mode == Mode::Reap {
        ctx.forget_logs(&id);
        return;
    }
    // Detached before the end is reported: the leader then lets the volume move.
    detach_volumes(&ctx, &task).await;
    ctx.finish(&id, final_status);
}

/// Removes the task's secrets and configs (its tmpfs), once its container is gone.
fn forget_values(ctx: &AgentCtx, id: &str) {
    if let Some(v) = &ctx.values {
        v.remove(id);
    }
}

async fn unplug(ctx: &AgentCtx, id: &str) {
    if let Some(net) = &ctx.net {
        net.unplug(id).await;
    }
}

/// Attaches the task's volumes on this node (first use creates them); on failure
/// detaches those already attached.
async fn attach_volumes(ctx: &AgentCtx, task: &Task) -> Result<HashMap<String, PathBuf>, String> {
    let mut out = HashMap::new();
    for m in &task.spec.mounts {
        let Mount::Volume { name, volume, .. } = m else {
            continue;
        };
        ctx.reporter.report(
            &task.id,
            status(TaskState::Preparing, format!("attaching volume {name}")),
        );
        let started = std::time::Instant::now();
        match ctx.volumes.attach(name, volume).await {
            Ok(path) => {
                tracing::info!(
                    task = %task.id,
                    volume = %name,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "attached volume"
                );
                out.insert(name.clone(), path);
            }
            Err(e) => {
                for done in out.keys() {
                    if let Some(Mount::Volume { volume, .. }) = task
                        .spec
                        .mounts
                        .iter()
                        .find(|m| matches!(m, Mount::Volume { name, .. } if name == done))
                    {
                        let _ = ctx.volumes.detach(done, volume).await;
                    }
                }
                return Err(format!("volume {name}: {e}"));
            }
        }
    }
    Ok(out)
}

/// Detaches the task's volumes (the last task using one on this node unmounts it).
async fn detach_volumes(ctx: &AgentCtx, task: &Task) {
    for m in &task.spec.mounts {
        if let Mount::Volume { name, volume, .. } = m {
            if let Err(e) = ctx.volumes.detach(name, volume).await {
                tracing::warn!(task = %task.id, "detaching volume {name}: {e}");
            }
        }
    }
}

/// The health check `task` runs: its service's over its image's (Docker's rules,
/// `orc_spec::effective_healthcheck`). An image that can't be read counts as having
/// no check of its own.
async fn effective_check(ctx: &AgentCtx, task: &Task) -> Option<orc_spec::EffectiveHealthCheck> {
    let spec = task.spec.healthcheck.as_ref();
    if spec.is_some_and(|h| h.test == Some(orc_spec::HealthTest::None)) {
        return None;
    }
    let image = match ctx.runtime.image_healthcheck(&task.spec.image).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(task = %task.id, "reading the image's health check: {e}");
            None
        }
    };
    orc_spec::effective_healthcheck(spec, image.as_ref())
}
