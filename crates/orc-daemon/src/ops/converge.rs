//! Waiting, with progress, until the cluster reaches what a command asked for.

use super::Progress;
use super::{views, Ops};
use crate::cluster::Cluster;
use crate::util::now_ms;
use crate::DaemonError;
use orc_model::{ClusterState, Service, TaskState, UpdateState, UpdateStatus};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long every task must have been running before a service counts as converged: a
/// container that fails right after it starts (a port already taken, a bad config)
/// shows as running first. Like Swarm's update monitor, shorter.
const STABLE: Duration = Duration::from_secs(2);
/// Tasks of one service that fail (their container ran and failed; not rejected
/// before it started, which image pulls retry) while a command waits, after which it
/// stops waiting and reports why (the cluster goes on restarting them).
const GIVE_UP_AFTER: usize = 3;
/// How often a wait looks again without a state change (for [`STABLE`]).
const RECHECK: Duration = Duration::from_millis(250);

/// What one wait has seen: when each task was first seen running, and the tasks that
/// failed meanwhile (reported once each).
struct Watch {
    running_since: HashMap<String, Instant>,
    /// Failed or rejected tasks already reported (or there before the wait began).
    seen: HashSet<String>,
    /// Per service id: the failures seen during the wait, newest last.
    failures: HashMap<String, Vec<String>>,
    first: bool,
    /// Per service id: its version when the wait began (the command's version); a
    /// rollout of that version or a later one (a rollback) is the one waited for.
    since: HashMap<String, u64>,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            running_since: HashMap::new(),
            seen: HashSet::new(),
            failures: HashMap::new(),
            first: true,
            since: HashMap::new(),
        }
    }

    /// Notes the running tasks of `ids`; the failures of a first look are history:
    /// listed, not counted.
    fn look(&mut self, state: &ClusterState, ids: &[String]) -> Vec<String> {
        let now = Instant::now();
        for t in state.tasks.values().filter(|t| ids.contains(&t.service_id)) {
            if t.serves() {
                self.running_since.entry(t.id.clone()).or_insert(now);
            }
        }
        let errors = task_errors(state, ids, &mut self.seen);
        if !self.first {
            for (service, failed, line) in &errors {
                if *failed {
                    self.failures
                        .entry(service.clone())
                        .or_default()
                        .push(line.clone());
                }
            }
        }
        self.first = false;
        errors.into_iter().map(|(_, _, l)| l).collect()
    }

    /// Converged: as many tasks run as the service wants, each for [`STABLE`] (seen so
    /// here, or by the time its node reported), and no task that is being replaced or
    /// shut down still runs.
    fn converged(&self, state: &ClusterState, s: &Service) -> bool {
        let want = views::desired_count(state, s);
        let now = now_ms();
        let mut running = 0;
        for t in state.tasks_of_service(&s.id) {
            if !t.status.state.is_terminal() && t.desired_state > TaskState::Running {
                return false;
            }
            // Running, and healthy if it has a health check (counted from then).
            if t.desired_state != TaskState::Running || !t.serves() {
                continue;
            }
            let since = t
                .status
                .health
                .as_ref()
                .map_or(t.status.timestamp, |h| h.since);
            let by_clock = now.saturating_sub(since) >= STABLE.as_millis() as u64;
            let by_watch = self
                .running_since
                .get(&t.id)
                .is_some_and(|at| at.elapsed() >= STABLE);
            if !(by_clock || by_watch) {
                return false;
            }
            running += 1;
        }
        running == want
    }

    /// The error that ends the wait when a service that has not converged keeps failing.
    fn failing(&self, state: &ClusterState, s: &Service) -> Option<DaemonError> {
        let failures = self.failures.get(&s.id)?;
        if failures.len() < GIVE_UP_AFTER || self.converged(state, s) {
            return None;
        }
        let last = failures.last().map(String::as_str).unwrap_or_default();
        Some(DaemonError::Invalid(format!(
            "{} is not running: {}/{} running, {} of its tasks failed meanwhile (last: {last}); \
             orc keeps restarting them: see `orc service ps {0}` and `orc service logs {0}`",
            s.name,
            views::running_count(state, s),
            views::desired_count(state, s),
            failures.len(),
        )))
    }
}

/// Where a changed service's rollout stands, for a wait.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Pending,
    Done,
    /// Paused or rolled back (when not asked): the error, naming the cause.
    Failed(String),
}

/// Whether a task that should run was made from another spec (a rollout will or
/// should replace it).
fn needs_rollout(state: &ClusterState, s: &Service) -> bool {
    state.tasks_of_service(&s.id).any(|t| {
        t.desired_state <= TaskState::Running
            && !t.status.state.is_terminal()
            && orc_scheduler::task_outdated(s, t)
    })
}

/// "web: paused: task web.2 failed: exited with 1" for a rollout that ended badly.
fn rollout_error(s: &Service, u: &UpdateStatus) -> String {
    let what = match u.state {
        UpdateState::Paused => "update paused".to_string(),
        UpdateState::RollbackCompleted => format!("rolled back to revision {}", u.to),
        UpdateState::RollbackPaused => "rollback paused".to_string(),
        other => other.as_str().to_string(),
    };
    format!(
        "{}: {what}: {} (see `orc service inspect {0}`)",
        s.name, u.message
    )
}

/// "web: updating 2/3, 1 healthy" while a rollout is under way.
fn rollout_line(state: &ClusterState, s: &Service, u: &UpdateStatus) -> String {
    let fresh: Vec<_> = state
        .tasks_of_service(&s.id)
        .filter(|t| t.desired_state == TaskState::Running && !t.status.state.is_terminal())
        .filter(|t| !orc_scheduler::task_outdated(s, t))
        .collect();
    let healthy = fresh.iter().filter(|t| t.serves()).count();
    let mut l = format!(
        "{}: {} {}/{}, {healthy} healthy",
        s.name,
        u.state,
        fresh.len(),
        views::desired_count(state, s)
    );
    if !u.message.is_empty() {
        l = format!("{l} ({})", u.message);
    }
    l
}

impl Watch {
    /// A changed service: its rollout (of the version it had when the wait began, or
    /// a later one) must end — completed, or rolled back when `rollback_asked` — and
    /// the service converge. The line shows the rollout while it runs.
    fn outcome(
        &mut self,
        state: &ClusterState,
        s: &Service,
        rollback_asked: bool,
    ) -> (Outcome, Option<String>) {
        let since = *self.since.entry(s.id.clone()).or_insert(s.version);
        let status = s.rollout.update.as_ref().filter(|u| u.version >= since);
        match status {
            Some(u) if u.state.in_progress() => (Outcome::Pending, Some(rollout_line(state, s, u))),
            Some(u)
                if u.state.is_failure()
                    && !(rollback_asked && u.state == UpdateState::RollbackCompleted) =>
            {
                (Outcome::Failed(rollout_error(s, u)), None)
            }
            None if needs_rollout(state, s) => (Outcome::Pending, None),
            _ if self.converged(state, s) => (Outcome::Done, None),
            _ => (Outcome::Pending, None),
        }
    }
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

/// Each failed or rejected task of the watched services, once: (service id, whether it
/// failed, line).
fn task_errors(
    state: &ClusterState,
    ids: &[String],
    seen: &mut HashSet<String>,
) -> Vec<(String, bool, String)> {
    let mut out = Vec::new();
    let mut failed: Vec<_> = state
        .tasks
        .values()
        .filter(|t| ids.contains(&t.service_id))
        .filter(|t| matches!(t.status.state, TaskState::Failed | TaskState::Rejected))
        .collect();
    failed.sort_by_key(|t| t.status.timestamp);
    for t in failed {
        if seen.insert(t.id.clone()) {
            let why = t
                .status
                .err
                .clone()
                .unwrap_or_else(|| t.status.message.clone());
            out.push((
                t.service_id.clone(),
                t.status.state == TaskState::Failed,
                format!(
                    "{} task {} {}: {why}",
                    t.service_name,
                    orc_model::short_id(&t.id),
                    t.status.state
                ),
            ));
        }
    }
    out
}

/// Looks at the state on every change (and every [`RECHECK`]) until `check` says done
/// (`Ok(true)`) or fails; progress lines are sent when they change.
async fn wait_for(
    cluster: &Cluster,
    timeout: Duration,
    progress: &Progress,
    what: &str,
    mut check: impl FnMut(&ClusterState) -> Result<(bool, Vec<String>), DaemonError>,
) -> Result<(), DaemonError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut rx = cluster.state.clone();
    let mut last: BTreeMap<usize, String> = BTreeMap::new();
    loop {
        let state = rx.borrow_and_update().clone();
        let (done, lines) = check(&state)?;
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
            _ = tokio::time::sleep(RECHECK) => {}
            _ = tokio::time::sleep_until(deadline) => {
                return Err(DaemonError::Timeout { secs: timeout.as_secs(), what: what.into() });
            }
        }
    }
}

/// Until every service of the stack has converged and removed services' tasks are gone;
/// the services in `changed` (names) must also have finished their rollout. An error
/// naming each service whose rollout paused or rolled back (with the cause), or the
/// service and its last failure when one keeps failing.
pub async fn stack(
    cluster: &Cluster,
    stack: &str,
    changed: &[String],
    timeout: Duration,
    progress: &Progress,
) -> Result<(), DaemonError> {
    let mut watch = Watch::new();
    let what = format!("stack {stack} to converge (see `orc service ps`)");
    wait_for(cluster, timeout, progress, &what, |state| {
        let services: Vec<&Service> = state.services_in_stack(stack).collect();
        let ids: Vec<String> = services.iter().map(|s| s.id.clone()).collect();
        let errs = watch.look(state, &ids);
        let mut lines = Vec::new();
        let mut done = true;
        let mut failed = Vec::new();
        for s in &services {
            let stuck = s.rollout.update.as_ref().filter(|u| {
                u.version == s.version
                    && matches!(u.state, UpdateState::Paused | UpdateState::RollbackPaused)
            });
            let (outcome, rollout) = if changed.contains(&s.name) {
                watch.outcome(state, s, false)
            } else if let Some(u) = stuck {
                // Unchanged by this deploy but still paused: say so (not a timeout).
                (Outcome::Failed(rollout_error(s, u)), None)
            } else if watch.converged(state, s) {
                (Outcome::Done, None)
            } else {
                (Outcome::Pending, None)
            };
            lines.push(rollout.unwrap_or_else(|| line(state, s)));
            match outcome {
                Outcome::Done => {}
                Outcome::Pending => done = false,
                Outcome::Failed(e) => failed.push(e),
            }
        }
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
        // Keeps failing outside a rollout (a rollout has its own deadlines).
        if let Some(e) = services
            .iter()
            .filter(|s| !rolling(s))
            .find_map(|s| watch.failing(state, s))
        {
            return Err(e);
        }
        lines.extend(errs);
        if done && orphans == 0 && !failed.is_empty() {
            return Err(DaemonError::Invalid(failed.join("; ")));
        }
        let done = done && orphans == 0;
        Ok((done, lines.into_iter().filter(|l| !l.is_empty()).collect()))
    })
    .await
}

/// Whether a rollout of the service is under way.
fn rolling(s: &Service) -> bool {
    s.rollout
        .update
        .as_ref()
        .is_some_and(|u| u.state.in_progress() && u.version == s.version)
}

/// Until the service's rollout ended and it converged (`orc service update` /
/// `rollback`): an error naming the cause when it paused, or rolled back when that
/// was not what was asked (`rollback_asked`).
pub async fn rollout(
    cluster: &Cluster,
    name: &str,
    rollback_asked: bool,
    timeout: Duration,
    progress: &Progress,
) -> Result<(), DaemonError> {
    let mut watch = Watch::new();
    let what = format!("service {name} to finish its rollout");
    wait_for(cluster, timeout, progress, &what, |state| {
        let Some(s) = state.service_by_name(name) else {
            return Err(DaemonError::Invalid(format!("service {name} was removed")));
        };
        let mut lines = Vec::new();
        let (outcome, rollout) = watch.outcome(state, s, rollback_asked);
        lines.push(rollout.unwrap_or_else(|| line(state, s)));
        lines.extend(watch.look(state, std::slice::from_ref(&s.id)));
        match outcome {
            Outcome::Failed(e) => Err(DaemonError::Invalid(e)),
            Outcome::Done => Ok((true, lines)),
            Outcome::Pending => {
                if !rolling(s) {
                    if let Some(e) = watch.failing(state, s) {
                        return Err(e);
                    }
                }
                Ok((false, lines))
            }
        }
    })
    .await
}

/// Until the service has converged; an error with its last failure when it keeps
/// failing.
pub async fn service(
    cluster: &Cluster,
    name: &str,
    timeout: Duration,
    progress: &Progress,
) -> Result<(), DaemonError> {
    let mut watch = Watch::new();
    let what = format!("service {name} to converge");
    wait_for(cluster, timeout, progress, &what, |state| {
        match state.service_by_name(name) {
            None => Ok((true, vec![])),
            Some(s) => {
                let mut lines = vec![line(state, s)];
                lines.extend(watch.look(state, std::slice::from_ref(&s.id)));
                if let Some(e) = watch.failing(state, s) {
                    return Err(e);
                }
                Ok((watch.converged(state, s), lines))
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
        Ok((left == 0, vec![format!("{left} task(s) left")]))
    })
    .await
}

/// `orc service logs`: the service's tasks' logs, from this node's files and, for
/// tasks on other nodes, fetched from those nodes. `--follow` then follows every
/// task, new ones too: this node's from its files, other nodes' over the Logs RPC.
pub async fn logs(
    ops: &Ops,
    name: &str,
    opts: LogOptions,
    progress: &Progress,
) -> Result<(), DaemonError> {
    logs_of(ops, LogSelect::ByName(name.to_string()), opts, progress).await
}

/// Which lines [`logs_of`] gives.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOptions {
    /// Then keep streaming new lines.
    pub follow: bool,
    /// Only the last N lines of each task (before `since` is applied).
    pub tail: Option<usize>,
    /// Only lines the log driver read at or after this time (ms since the epoch);
    /// lines from before orc stamped them have no time and are left out too.
    pub since_ms: Option<u64>,
}

impl LogOptions {
    /// Whether `line` passes `since`.
    fn keeps(&self, line: &orc_runtime::LogLine) -> bool {
        self.since_ms
            .is_none_or(|since| line.time_ns.is_some_and(|t| t / 1_000_000 >= since))
    }
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
    opts: LogOptions,
    progress: &Progress,
) -> Result<(), DaemonError> {
    let LogOptions { follow, tail, .. } = opts;
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
            orc_runtime::read_log_records(&dir, tail).map_err(|e| DaemonError::io(&dir, e))?
        } else {
            remote.remove(&t.id).unwrap_or_default()
        };
        for l in lines.iter().map(|l| orc_runtime::LogLine::parse(l)) {
            if !opts.keeps(&l) {
                continue;
            }
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
                        let _ =
                            orc_runtime::follow_logs(&dir, from_end, |l| {
                                let progress = progress.clone();
                                let label = label.clone();
                                async move {
                                    progress.log(&label, orc_runtime::LogLine::parse(&l)).await
                                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use orc_model::{Task, TaskStatus};

    fn service() -> Service {
        let mut spec = orc_spec::ServiceSpec::new("demo/busybox:1");
        spec.mode = orc_spec::ServiceMode::Replicated { replicas: 2 };
        Service {
            id: "s".into(),
            name: "st_web".into(),
            stack: "st".into(),
            short_name: "web".into(),
            spec,
            version: 1,
            created_at: 0,
            updated_at: 0,
            rollout: Default::default(),
        }
    }

    fn task(id: &str, slot: u32, state: TaskState, since: u64) -> Task {
        let desired = if state == TaskState::Running {
            TaskState::Running
        } else {
            TaskState::Shutdown
        };
        let mut status = TaskStatus::new(state, since, "");
        if state == TaskState::Failed {
            status.err = Some("task exited with code 1".into());
        }
        Task {
            id: id.into(),
            service_id: "s".into(),
            service_name: "st_web".into(),
            slot,
            node_id: None,
            spec_version: 1,
            spec: orc_spec::ServiceSpec::new("demo/busybox:1"),
            desired_state: desired,
            status,
            created_at: since,
            not_before: 0,
            attempt: 0,
        }
    }

    fn state(tasks: Vec<Task>) -> ClusterState {
        let mut st = ClusterState::default();
        st.services.insert("s".into(), service());
        for t in tasks {
            st.tasks.insert(t.id.clone(), t);
        }
        st
    }

    #[test]
    fn a_service_converges_once_its_tasks_have_kept_running() {
        let now = now_ms();
        let w = Watch::new();
        let s = service();
        // Both running for a while (as their nodes reported): converged.
        let old = state(vec![
            task("a", 1, TaskState::Running, now - 10_000),
            task("b", 2, TaskState::Running, now - 10_000),
        ]);
        assert!(w.converged(&old, &s));
        // One just started: not yet (it may be about to fail).
        let fresh = state(vec![
            task("a", 1, TaskState::Running, now - 10_000),
            task("b", 2, TaskState::Running, now),
        ]);
        assert!(!w.converged(&fresh, &s));
        // One short.
        let short = state(vec![task("a", 1, TaskState::Running, now - 10_000)]);
        assert!(!w.converged(&short, &s));
    }

    #[test]
    fn three_failures_during_the_wait_end_it_with_the_reason() {
        let now = now_ms();
        let s = service();
        let ids = vec!["s".to_string()];
        let mut w = Watch::new();
        // Failures from before the command: listed, not counted.
        let mut tasks = vec![
            task("old1", 1, TaskState::Failed, now - 60_000),
            task("old2", 1, TaskState::Failed, now - 50_000),
            task("old3", 1, TaskState::Failed, now - 40_000),
            task("a", 1, TaskState::Running, now),
        ];
        let lines = w.look(&state(tasks.clone()), &ids);
        assert_eq!(lines.len(), 3);
        assert!(w.failing(&state(tasks.clone()), &s).is_none());
        for (i, id) in ["n1", "n2", "n3"].iter().enumerate() {
            tasks.push(task(id, 2, TaskState::Failed, now + i as u64));
            let st = state(tasks.clone());
            w.look(&st, &ids);
            let failing = w.failing(&st, &s);
            assert_eq!(failing.is_some(), i == 2, "after {} failures", i + 1);
        }
        let e = w.failing(&state(tasks), &s).map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.starts_with("st_web is not running: 1/2 running, 3 of its tasks failed")
                && e.contains("task exited with code 1"),
            "{e}"
        );
    }
}
