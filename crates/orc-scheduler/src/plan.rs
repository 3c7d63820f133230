//! The orchestrator's output while it is being built: every change keyed by task id so
//! a task is touched at most once per kind, turned into commands at the end.

use orc_model::{Command, Task, TaskId, TaskState, TaskStatus};
use std::collections::{BTreeMap, BTreeSet};

/// Changes one reconcile pass wants, gathered before they become [`Command`]s.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    status: BTreeMap<TaskId, TaskStatus>,
    desired: BTreeMap<TaskId, TaskState>,
    create: Vec<Task>,
    remove: BTreeSet<TaskId>,
    /// Rollout commands (update status, stable revisions, rollbacks), applied last.
    service: Vec<Command>,
}

impl Plan {
    /// Raises `task`'s desired state to `desired` unless it is already there or higher
    /// (apply ignores lowering, and proposing a no-op would keep the loop from settling).
    pub(crate) fn raise_desired(&mut self, task: &Task, desired: TaskState) {
        if task.desired_state < desired {
            let e = self.desired.entry(task.id.clone()).or_insert(desired);
            *e = (*e).max(desired);
        }
    }

    /// Records an observed-status change the orchestrator makes itself (orphaning).
    pub(crate) fn set_status(&mut self, task: &Task, status: TaskStatus) {
        self.status.insert(task.id.clone(), status);
    }

    pub(crate) fn create(&mut self, task: Task) {
        self.create.push(task);
    }

    pub(crate) fn service(&mut self, cmd: Command) {
        self.service.push(cmd);
    }

    pub(crate) fn remove(&mut self, task: &Task) {
        self.remove.insert(task.id.clone());
    }

    /// The commands, in the order they must be applied: observed status, desired states,
    /// new tasks, removals. Empty kinds are left out, so a settled state gives nothing.
    pub(crate) fn into_commands(self) -> Vec<Command> {
        let Plan {
            status,
            desired,
            create,
            remove,
            service,
        } = self;
        let mut cmds = Vec::new();
        let status: Vec<_> = status
            .into_iter()
            .filter(|(id, _)| !remove.contains(id))
            .collect();
        if !status.is_empty() {
            cmds.push(Command::UpdateTaskStatus { updates: status });
        }
        let desired: Vec<_> = desired
            .into_iter()
            .filter(|(id, _)| !remove.contains(id))
            .collect();
        if !desired.is_empty() {
            cmds.push(Command::SetDesiredState { updates: desired });
        }
        if !create.is_empty() {
            cmds.push(Command::CreateTasks(create));
        }
        if !remove.is_empty() {
            cmds.push(Command::RemoveTasks {
                ids: remove.into_iter().collect(),
            });
        }
        cmds.extend(service);
        cmds
    }
}
