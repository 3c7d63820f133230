//! Waiting, with progress, until the cluster reaches what a command asked for.

use super::Progress;
use super::{views, Ops};
use crate::cluster::Cluster;
use crate::DaemonError;
use orc_model::{ClusterState, Service, TaskState};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// Converged: as many tasks run as the service wants, and no task that is being
/// replaced or shut down still runs.
fn converged(state: &ClusterState, s: &Service) -> bool {
    let want = views::desired_count(state, s);
    let running = views::running_count(state, s);
    let stale = state
        .tasks_of_service(&s.id)
        .any(|t| !t.status.state.is_terminal() && t.desired_state > TaskState::Running);
    running == want && !stale
}

fn line(state: &ClusterState, s: &Service) -> String {
    let mut l = format!(
        "{}: {}/{} running",
        s.name,
        views::running_count(state, s),
        views::desired_count(state, s)
    );
    // Image pulls under way, per node.
    let pulls: Vec<String> = state
        .tasks_of_service(&s.id)
        .filter(|t| t.status.state == TaskState::Preparing)
        .filter(|t| t.status.message.starts_with("pulling "))
        .map(|t| {
            let node = t
                .node_id
                .and_then(|n| state.nodes.get(&n))
                .map_or("?", |n| n.hostname.as_str());
            format!("{node}: {}", t.status.message)
        })
        .collect();
    if !pulls.is_empty() {
        l = format!("{l} ({})", pulls.join("; "));
    }
    l
}

/// Reports each task error of the watched services once.
fn task_errors(state: &ClusterState, ids: &[String], seen: &mut HashSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for t in state.tasks.values().filter(|t| ids.contains(&t.service_id)) {
        if matches!(t.status.state, TaskState::Failed | TaskState::Rejected)
            && seen.insert(t.id.clone())
        {
            let why = t
                .status
                .err
                .clone()
                .unwrap_or_else(|| t.status.message.clone());
            out.push(format!(
                "{} task {} {}: {why}",
                t.service_name,
                orc_model::short_id(&t.id),
                t.status.state
            ));
        }
    }
    out
}

async fn wait_for(
    cluster: &Cluster,
    timeout: Duration,
    progress: &Progress,
    what: &str,
    mut check: impl FnMut(&ClusterState) -> (bool, Vec<String>),
) -> Result<(), DaemonError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut rx = cluster.state.clone();
    let mut last: BTreeMap<usize, String> = BTreeMap::new();
    loop {
        let state = rx.borrow_and_update().clone();
        let (done, lines) = check(&state);
        for (i, l) in lines.into_iter().enumerate() {
            if last.get(&i) != Some(&l) {
                progress.progress(l.clone()).await;
                last.insert(i, l);
            }
        }
        if done {
            return Ok(());
        }
        if progress.closed() {
            return Ok(());
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() { return Err(DaemonError::NoLeader) },
            _ = tokio::time::sleep_until(deadline) => {
                return Err(DaemonError::Timeout { secs: timeout.as_secs(), what: what.into() });
            }
        }
    }
}

/// Until every service of the stack has converged and removed services' tasks are gone.
pub async fn stack(
    cluster: &Cluster,
    stack: &str,
    timeout: Duration,
    progress: &Progress,
) -> Result<(), DaemonError> {
    let mut seen = HashSet::new();
    let what = format!("stack {stack} to converge (see `orc service ps`)");
    wait_for(cluster, timeout, progress, &what, |state| {
        let services: Vec<&Service> = state.services_in_stack(stack).collect();
        let ids: Vec<String> = services.iter().map(|s| s.id.clone()).collect();
        let mut lines: Vec<String> = services.iter().map(|s| line(state, s)).collect();
        let orphans = state
            .tasks
            .values()
            .filter(|t| {
                t.service_name.starts_with(&format!("{stack}_"))
                    && !state.services.contains_key(&t.service_id)
            })
            .count();
        lines.push(if orphans > 0 {
            format!("{orphans} task(s) of removed services stopping")
        } else {
            String::new()
        });
        let errs = task_errors(state, &ids, &mut seen);
        lines.extend(errs);
        let done = services.iter().all(|s| converged(state, s)) && orphans == 0;
        (done, lines.into_iter().filter(|l| !l.is_empty()).collect())
    })
    .await
}

pub async fn service(
    cluster: &Cluster,
    name: &str,
    timeout: Duration,
    progress: &Progress,
) -> Result<(), DaemonError> {
    let mut seen = HashSet::new();
    let what = format!("service {name} to converge");
    wait_for(cluster, timeout, progress, &what, |state| {
        match state.service_by_name(name) {
            None => (true, vec![]),
            Some(s) => {
                let mut lines = vec![line(state, s)];
                lines.extend(task_errors(state, std::slice::from_ref(&s.id), &mut seen));
                (converged(state, s), lines)
            }
        }
    })
    .await
}

/// Until no task of these services is left.
pub async fn gone(
    cluster: &Cluster,
    ids: &[String],
    timeout: Duration,
    progress: &Progress,
) -> Result<(), DaemonError> {
    wait_for(cluster, timeout, progress, "tasks to be removed", |state| {
        let left = state
            .tasks
            .values()
            .filter(|t| ids.contains(&t.service_id))
            .count();
        (left == 0, vec![format!("{left} task(s) left")])
    })
    .await
}

/// `orc service logs`: the service's tasks' logs, from this node's files and, for
/// tasks on other nodes, fetched from those nodes. `--follow` then follows every
/// task, new ones too: this node's from its files, other nodes' over the Logs RPC.
pub async fn logs(
    ops: &Ops,
    name: &str,
    follow: bool,
    tail: Option<usize>,
    progress: &Progress,
) -> Result<(), DaemonError> {
    logs_of(
        ops,
        LogSelect::ByName(name.to_string()),
        follow,
        tail,
        progress,
    )
    .await
}

/// Whose logs [`logs_of`] reads, and how it labels their lines.
pub enum LogSelect {
    /// A service by name; lines labelled with the task's name (`web.1`).
    ByName(String),
    /// A service by id, or only one of its tasks; lines labelled with the task's id.
    ById {
        service: String,
        task: Option<String>,
    },
}

pub async fn logs_of(
    ops: &Ops,
    sel: LogSelect,
    follow: bool,
    tail: Option<usize>,
    progress: &Progress,
) -> Result<(), DaemonError> {
    let cluster = ops.cluster()?;
    let state = cluster.snapshot();
    let (s, only, by_id) = match &sel {
        LogSelect::ByName(name) => (
            state
                .service_by_name(name)
                .ok_or_else(|| DaemonError::Invalid(format!("no service named {name}")))?,
            None,
            false,
        ),
        LogSelect::ById { service, task } => (
            state
                .services
                .get(service)
                .ok_or_else(|| DaemonError::Invalid(format!("no service with id {service}")))?,
            task.clone(),
            true,
        ),
    };
    let label_of = move |t: &orc_model::Task| {
        if by_id {
            t.id.clone()
        } else {
            super::views::task_name(t)
        }
    };
    let mut all: Vec<_> = state
        .tasks_of_service(&s.id)
        .filter(|t| t.node_id.is_some())
        .filter(|t| only.as_ref().is_none_or(|o| *o == t.id))
        .collect();
    all.sort_by_key(|t| t.created_at);
    let (mut remote, notes) = super::logs::fetch_remote(&cluster, &all, tail).await;
    for n in notes {
        progress.progress(n).await;
    }
    let root = ops.cfg.logs_dir();
    for t in &all {
        let label = label_of(t);
        let lines = if t.node_id == Some(cluster.node_id) {
            let dir = crate::node::agent::log_dir(&root, &t.id);
            orc_runtime::read_logs(&dir, tail).map_err(|e| DaemonError::io(&dir, e))?
        } else {
            remote.remove(&t.id).unwrap_or_default()
        };
        for l in lines {
            if !progress.log(&label, l).await {
                return Ok(());
            }
        }
    }
    if follow {
        let service_id = s.id.clone();
        let mut followed: HashSet<String> = HashSet::new();
        let mut rx = cluster.state.clone();
        let mut handles = Vec::new();
        loop {
            let state = rx.borrow_and_update().clone();
            for t in state.tasks_of_service(&service_id) {
                let Some(node) = t.node_id else { continue };
                if only.as_ref().is_some_and(|o| *o != t.id) {
                    continue;
                }
                if !followed.insert(t.id.clone()) {
                    continue;
                }
                let label = label_of(t);
                // Lines already shown above: only new ones from here.
                let from_end = all.iter().any(|x| x.id == t.id);
                if node != cluster.node_id {
                    let (cluster, progress, t) = (cluster.clone(), progress.clone(), t.clone());
                    handles.push(tokio::spawn(async move {
                        super::logs::follow_remote(&cluster, node, &t, label, from_end, &progress)
                            .await;
                    }));
                    continue;
                }
                {
                    let dir = crate::node::agent::log_dir(&root, &t.id);
                    let progress = progress.clone();
                    handles.push(tokio::spawn(async move {
                        let _ = orc_runtime::follow_logs(&dir, from_end, |l| {
                            let progress = progress.clone();
                            let label = label.clone();
                            async move { progress.log(&label, l).await }
                        })
                        .await;
                    }));
                }
            }
            if progress.closed() || !state.services.contains_key(&service_id) {
                break;
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { break },
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        for h in handles {
            h.abort();
        }
    }
    Ok(())
}
