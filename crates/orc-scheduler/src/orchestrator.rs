//! The orchestrator: turns services into tasks. One pass reads the cluster state and
//! proposes the commands that move it towards what the services ask for; running it
//! again on the state with those commands applied proposes nothing.
//!
//! Desired states it writes: Running (new tasks), Shutdown (retire a task: scaled
//! away, replaced, node drained, service removed) and Complete — "finished, and the
//! restart policy says no replacement" — which keeps the slot's last task as its
//! current one until the spec changes.

use crate::plan::Plan;
use crate::spec::same_spec;
use crate::FastMap;
use crate::{global, replicated, slot};
use orc_model::{
    Availability, ClusterState, Command, NodeId, NodeStatus, Service, ServiceMode, Task, TaskState,
    TaskStatus, Timestamp,
};
use orc_spec::DependencyCondition;
use std::collections::BTreeMap;

/// Knobs of the orchestrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrchestratorConfig {
    /// Terminal tasks kept per slot (per service and node for global services) besides
    /// the current one; older ones are removed.
    pub task_history: usize,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        OrchestratorConfig { task_history: 5 }
    }
}

/// Whether each dependency of a service (same stack, `depends_on`) has reached its
/// condition: `service_started` = one of its tasks runs; `service_healthy` = one of its
/// tasks serves (runs and, with a health check, is healthy); `service_completed_successfully` = one of its
/// tasks exited 0. A dependency that is not in the state does not hold anything back.
fn dependencies_ready<'s>(
    state: &'s ClusterState,
    by_service: &FastMap<&str, Vec<&'s Task>>,
) -> impl Fn(&Service) -> bool + 's {
    let mut by_name: FastMap<(&'s str, &'s str), Vec<&'s Task>> = FastMap::default();
    for svc in state.services.values() {
        let tasks = by_service.get(svc.id.as_str()).cloned().unwrap_or_default();
        by_name.insert((svc.stack.as_str(), svc.short_name.as_str()), tasks);
    }
    move |svc: &Service| {
        svc.spec.depends_on.iter().all(|dep| {
            let Some(tasks) = by_name.get(&(svc.stack.as_str(), dep.service.as_str())) else {
                return true;
            };
            tasks.iter().any(|t| match dep.condition {
                DependencyCondition::Started => t.status.state == TaskState::Running,
                DependencyCondition::Healthy => t.serves(),
                DependencyCondition::CompletedSuccessfully => {
                    t.status.state == TaskState::Complete && t.status.exit_code == Some(0)
                }
            })
        })
    }
}

/// One orchestrator pass over `state` at time `now`. New task ids come from `ids`
/// (called once per task created, in a deterministic order). Pure: the same inputs
/// give the same commands.
pub fn reconcile(
    state: &ClusterState,
    now: Timestamp,
    ids: &mut dyn FnMut() -> String,
    cfg: &OrchestratorConfig,
) -> Vec<Command> {
    let mut by_service: FastMap<&str, Vec<&Task>> = FastMap::default();
    for t in state.tasks.values() {
        by_service.entry(t.service_id.as_str()).or_default().push(t);
    }
    let nodes = state
        .nodes
        .values()
        .map(|n| (n.id, (n.status, n.availability)))
        .collect();
    let mut cx = Ctx {
        state,
        now,
        ids,
        cfg,
        nodes,
        plan: Plan::default(),
    };
    let ready = dependencies_ready(state, &by_service);
    for svc in state.services.values() {
        let tasks = by_service.remove(svc.id.as_str()).unwrap_or_default();
        cx.orphan_lost(&tasks);
        // depends_on orders a service's first start: no task until its dependencies
        // have reached their condition.
        if tasks.is_empty() && !ready(svc) {
            continue;
        }
        let mut view = ServiceView {
            svc,
            tasks: &tasks,
            outdated: FastMap::default(),
        };
        match svc.spec.mode {
            ServiceMode::Replicated { replicas } => {
                replicated::reconcile(&mut cx, &mut view, replicas)
            }
            ServiceMode::Global => global::reconcile(&mut cx, &mut view),
        }
    }
    // Services gone from the state, in id order so the output is deterministic.
    let gone: BTreeMap<&str, Vec<&Task>> = by_service.into_iter().collect();
    for tasks in gone.values() {
        cx.reap_removed_service(tasks);
    }
    cx.plan.into_commands()
}

/// Whether `t` was made from a spec its service no longer runs (its rollout will
/// replace it): another spec (replica count aside), or older than a forced update.
pub fn task_outdated(svc: &Service, t: &Task) -> bool {
    t.spec_version != svc.version
        && (t.spec_version < svc.rollout.force || !same_spec(&t.spec, &svc.spec))
}

/// What one pass carries around.
pub(crate) struct Ctx<'a, 'i> {
    pub(crate) state: &'a ClusterState,
    pub(crate) now: Timestamp,
    ids: &'i mut dyn FnMut() -> String,
    pub(crate) cfg: &'a OrchestratorConfig,
    /// Status and availability of every node, for the per-task checks.
    nodes: FastMap<NodeId, (NodeStatus, Availability)>,
    pub(crate) plan: Plan,
}

/// A service with its tasks and a per-version cache of "does this version's spec
/// differ from the service's".
pub(crate) struct ServiceView<'a, 't> {
    pub(crate) svc: &'a Service,
    pub(crate) tasks: &'t [&'a Task],
    outdated: FastMap<u64, bool>,
}

impl ServiceView<'_, '_> {
    /// Whether `t` was made from a spec that differs from the service's current one.
    pub(crate) fn is_outdated(&mut self, t: &Task) -> bool {
        if t.spec_version == self.svc.version {
            return false;
        }
        let svc = self.svc;
        // `orc service update --force`: older tasks are outdated whatever their spec.
        if t.spec_version < svc.rollout.force {
            return true;
        }
        *self
            .outdated
            .entry(t.spec_version)
            .or_insert_with(|| !same_spec(&t.spec, &svc.spec))
    }
}

impl Ctx<'_, '_> {
    /// Why `t`'s node can no longer report on it: down, or gone from the cluster.
    /// `None` when the node is fine or `t` is not on a node.
    pub(crate) fn node_lost(&self, t: &Task) -> Option<&'static str> {
        let id = t.node_id?;
        match self.nodes.get(&id) {
            None => Some("node left the cluster"),
            Some((NodeStatus::Down, _)) => Some("node is down"),
            Some(_) => None,
        }
    }

    /// The availability of `t`'s node, if it is on a node that exists.
    pub(crate) fn node_availability(&self, t: &Task) -> Option<Availability> {
        t.node_id
            .and_then(|id| self.nodes.get(&id))
            .map(|(_, a)| *a)
    }

    /// A task that has not ended but whose node is down or gone: it will never report
    /// again, so the orchestrator declares it orphaned (and retires it).
    pub(crate) fn is_lost(&self, t: &Task) -> bool {
        !t.status.state.is_terminal() && self.node_lost(t).is_some()
    }

    /// Marks every lost task of a live service orphaned.
    fn orphan_lost(&mut self, tasks: &[&Task]) {
        for t in tasks {
            if t.status.state.is_terminal() {
                continue;
            }
            if let Some(why) = self.node_lost(t) {
                self.plan
                    .set_status(t, TaskStatus::new(TaskState::Orphaned, self.now, why));
                self.plan.raise_desired(t, TaskState::Shutdown);
            }
        }
    }

    /// Tasks of a service that no longer exists: shut down, then removed once they
    /// ended, never left the manager, or sit on a node that is down or gone.
    fn reap_removed_service(&mut self, tasks: &[&Task]) {
        for t in tasks {
            let retired = !slot::wants_running(t);
            if t.status.state.is_terminal()
                || self.node_lost(t).is_some()
                || (retired && slot::is_unassigned(t))
            {
                self.plan.remove(t);
            } else {
                self.plan.raise_desired(t, TaskState::Shutdown);
            }
        }
    }

    /// One slot's current task(s) under the rollout `gate`: a start-first pair keeps
    /// its old task until the new one serves; a lost or drained task is replaced at
    /// once; an outdated one when the gate lets its slot into the batch (stop-first:
    /// retired and replaced; start-first: a new task starts beside it); an ended one
    /// per its restart policy.
    pub(crate) fn reconcile_current(
        &mut self,
        view: &mut ServiceView<'_, '_>,
        tasks: &[&Task],
        slot: u32,
        node: Option<NodeId>,
        gate: &mut crate::update::Gate,
    ) {
        let svc = view.svc;
        if let Some((old, new)) = crate::update::start_first_pair(view, tasks) {
            for t in tasks
                .iter()
                .filter(|t| crate::slot::is_current(t) && t.id != old.id && t.id != new.id)
            {
                self.plan.raise_desired(t, TaskState::Shutdown);
            }
            if new.serves() || self.is_lost(old) || self.on_drained_node(old) {
                self.plan.raise_desired(old, TaskState::Shutdown);
            }
            let forced = self.is_lost(new) || self.on_drained_node(new);
            self.replace_current(svc, new, tasks, forced, slot, node);
            return;
        }
        let Some(cur) = crate::update::pick(view, tasks) else {
            let t = self.new_task(svc, slot, node, crate::slot::next_attempt(tasks), 0);
            self.plan.create(t);
            return;
        };
        for t in tasks
            .iter()
            .filter(|t| crate::slot::is_current(t) && t.id != cur.id)
        {
            self.plan.raise_desired(t, TaskState::Shutdown);
        }
        if self.is_lost(cur) || self.on_drained_node(cur) {
            self.replace_current(svc, cur, tasks, true, slot, node);
            return;
        }
        if view.is_outdated(cur) {
            let ended = cur.status.state.is_terminal() || crate::slot::is_unassigned(cur);
            if ended {
                // Nothing running to keep: the new version takes the slot at once.
                self.replace_current(svc, cur, tasks, true, slot, node);
            } else if gate.take() {
                if gate.start_first {
                    let attempt = crate::slot::next_attempt(tasks);
                    let t = self.new_task(svc, slot, node, attempt, 0);
                    self.plan.create(t);
                } else {
                    self.replace_current(svc, cur, tasks, true, slot, node);
                }
            }
            return;
        }
        self.replace_current(svc, cur, tasks, false, slot, node);
    }

    /// A live task the manager wants running on a node being drained: it moves elsewhere.
    pub(crate) fn on_drained_node(&self, t: &Task) -> bool {
        crate::slot::wants_running(t)
            && !t.status.state.is_terminal()
            && self.node_availability(t) == Some(Availability::Drain)
    }

    /// Replaces a slot's current task when `forced` (outdated, node lost or drained) or
    /// when it ended and its restart policy allows another run; a task whose policy
    /// says stop gets desired state Complete. The replacement starts at `not_before`.
    pub(crate) fn replace_current(
        &mut self,
        svc: &Service,
        cur: &Task,
        slot_tasks: &[&Task],
        forced: bool,
        slot: u32,
        node: Option<NodeId>,
    ) {
        let not_before = if forced {
            0
        } else if cur.status.state.is_terminal() && crate::slot::wants_running(cur) {
            match crate::restart::decide(cur, slot_tasks, self.now) {
                crate::restart::RestartDecision::Replace { not_before } => not_before,
                crate::restart::RestartDecision::Stop => {
                    self.plan.raise_desired(cur, TaskState::Complete);
                    return;
                }
            }
        } else {
            return;
        };
        self.plan.raise_desired(cur, TaskState::Shutdown);
        let t = self.new_task(
            svc,
            slot,
            node,
            crate::slot::next_attempt(slot_tasks),
            not_before,
        );
        self.plan.create(t);
    }

    /// A fresh task of `svc` for `slot`. Replicated tasks start Pending for the
    /// scheduler; global ones (`node` set) start Assigned to their node.
    pub(crate) fn new_task(
        &mut self,
        svc: &Service,
        slot: u32,
        node: Option<NodeId>,
        attempt: u32,
        not_before: Timestamp,
    ) -> Task {
        let status = match node {
            Some(_) => TaskStatus::new(TaskState::Assigned, self.now, "assigned"),
            None => TaskStatus::new(TaskState::Pending, self.now, "pending"),
        };
        Task {
            id: (self.ids)(),
            service_id: svc.id.clone(),
            service_name: svc.name.clone(),
            slot,
            node_id: node,
            spec_version: svc.version,
            spec: svc.spec.clone(),
            desired_state: TaskState::Running,
            status,
            created_at: self.now,
            not_before,
            attempt,
        }
    }
}
