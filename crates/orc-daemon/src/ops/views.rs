//! Cluster state → the rows listings print.

use orc_api::{NodeRow, ProbeRow, ServiceRow, StackRow, TaskHealthRow, TaskRow};
use orc_model::{short_id, ClusterState, NodeId, Service, ServiceMode, Task, TaskState};

pub use crate::util::node_id_str;

pub fn nodes(state: &ClusterState, leader: Option<NodeId>) -> Vec<NodeRow> {
    state
        .nodes
        .values()
        .map(|n| NodeRow {
            id: node_id_str(n.id),
            hostname: n.hostname.clone(),
            role: n.role.as_str().into(),
            status: n.status.as_str().into(),
            availability: n.availability.as_str().into(),
            leader: leader == Some(n.id),
            address: n.address.clone(),
            nano_cpus: n.resources.nano_cpus,
            memory_bytes: n.resources.memory_bytes,
            labels: n.labels.clone(),
            subnet: state
                .network
                .as_ref()
                .and_then(|net| net.block(n.id))
                .map(|b| b.to_string()),
        })
        .collect()
}

pub fn stacks(state: &ClusterState) -> Vec<StackRow> {
    state
        .stacks()
        .into_iter()
        .map(|name| StackRow {
            services: state.services_in_stack(&name).count(),
            name,
        })
        .collect()
}

/// How many tasks the service wants running now.
pub fn desired_count(state: &ClusterState, s: &Service) -> usize {
    match s.spec.mode {
        ServiceMode::Replicated { replicas } => replicas as usize,
        ServiceMode::Global => state
            .tasks_of_service(&s.id)
            .filter(|t| t.desired_state == TaskState::Running)
            .count(),
    }
}

/// Tasks of the service that serve (run and, with a health check, are healthy) and
/// are meant to run. (A task being replaced by an update already has desired state
/// shutdown; a scale keeps the running tasks, whose spec_version may be older than
/// the service's.)
pub fn running_count(state: &ClusterState, s: &Service) -> usize {
    state
        .tasks_of_service(&s.id)
        .filter(|t| t.desired_state == TaskState::Running && t.serves())
        .count()
}

pub fn services(state: &ClusterState, stack: Option<&str>) -> Vec<ServiceRow> {
    let mut rows: Vec<ServiceRow> = state
        .services
        .values()
        .filter(|s| stack.is_none_or(|st| s.stack == st))
        .map(|s| ServiceRow {
            id: short_id(&s.id).to_string(),
            name: s.name.clone(),
            stack: s.stack.clone(),
            mode: match s.spec.mode {
                ServiceMode::Replicated { .. } => "replicated".into(),
                ServiceMode::Global => "global".into(),
            },
            running: running_count(state, s),
            desired: desired_count(state, s),
            image: s.spec.image.clone(),
            version: s.version,
            update: s
                .rollout
                .update
                .as_ref()
                .map(|u| u.state.as_str().to_string()),
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

pub fn task_row(state: &ClusterState, t: &Task, now: u64) -> TaskRow {
    let node = t
        .node_id
        .map(|n| {
            state
                .nodes
                .get(&n)
                .map(|n| n.hostname.clone())
                .unwrap_or_else(|| node_id_str(n))
        })
        .unwrap_or_default();
    let name = task_name(t);
    TaskRow {
        id: t.id.clone(),
        name,
        service: t.service_name.clone(),
        slot: t.slot,
        node,
        desired_state: t.desired_state.as_str().into(),
        state: t.status.state.as_str().into(),
        since_secs: now.saturating_sub(t.status.timestamp) / 1000,
        message: t.status.message.clone(),
        error: t.status.err.clone(),
        exit_code: t.status.exit_code,
        address: t.status.address.map(|a| a.to_string()),
        health: t.status.health.as_ref().map(|h| TaskHealthRow {
            state: h.state.as_str().into(),
            failing_streak: h.failing_streak,
            since_secs: now.saturating_sub(h.since) / 1000,
            log: h
                .log
                .iter()
                .map(|r| ProbeRow {
                    started_ms: r.started,
                    ended_ms: r.ended,
                    exit_code: r.exit_code,
                    output: r.output.clone(),
                })
                .collect(),
        }),
    }
}

/// `orc service ps`: the live tasks and, per slot (per node for a global service), the
/// last one that failed or was rejected, so why a slot keeps failing shows without
/// `--all` (which lists every task). Per slot the newest comes first.
pub fn tasks(state: &ClusterState, service: &Service, all: bool, now: u64) -> Vec<TaskRow> {
    let live = |t: &Task| t.desired_state == TaskState::Running || !t.status.state.is_terminal();
    let slot = |t: &Task| (t.slot, if t.slot == 0 { t.node_id } else { None });
    let mut last_failure: std::collections::HashMap<_, &Task> = Default::default();
    for t in state.tasks_of_service(&service.id) {
        if live(t) || !matches!(t.status.state, TaskState::Failed | TaskState::Rejected) {
            continue;
        }
        let newest = last_failure.entry(slot(t)).or_insert(t);
        if t.created_at > newest.created_at {
            *newest = t;
        }
    }
    let mut ts: Vec<&Task> = state
        .tasks_of_service(&service.id)
        .filter(|t| all || live(t) || last_failure.get(&slot(t)).is_some_and(|f| f.id == t.id))
        .collect();
    ts.sort_by_key(|t| (t.slot, t.node_id, std::cmp::Reverse(t.created_at)));
    ts.into_iter().map(|t| task_row(state, t, now)).collect()
}

/// A task's name as listings and logs show it: `STACK_SERVICE.SLOT` for a replicated
/// service, `STACK_SERVICE.NODEID` for a global one (slot 0).
pub fn task_name(t: &Task) -> String {
    if t.slot > 0 {
        format!("{}.{}", t.service_name, t.slot)
    } else {
        format!(
            "{}.{}",
            t.service_name,
            t.node_id.map(node_id_str).unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_model::TaskStatus;

    fn task(id: &str, slot: u32, created_at: u64, desired: TaskState, state: TaskState) -> Task {
        Task {
            id: id.into(),
            service_id: "s".into(),
            service_name: "st_web".into(),
            slot,
            node_id: None,
            spec_version: 1,
            spec: orc_spec::ServiceSpec::new("demo/busybox:1"),
            desired_state: desired,
            status: TaskStatus::new(state, created_at, ""),
            created_at,
            not_before: 0,
            attempt: 0,
        }
    }

    #[test]
    fn service_ps_shows_each_slots_last_failure_without_all() {
        use TaskState::{Failed, Rejected, Running, Shutdown};
        let mut state = ClusterState::default();
        let service = Service {
            id: "s".into(),
            name: "st_web".into(),
            stack: "st".into(),
            short_name: "web".into(),
            spec: orc_spec::ServiceSpec::new("demo/busybox:1"),
            version: 1,
            created_at: 0,
            updated_at: 0,
            rollout: Default::default(),
        };
        state.services.insert("s".into(), service.clone());
        for t in [
            // Slot 1 keeps failing: two failures, then a running task.
            task("a1", 1, 1, Shutdown, Failed),
            task("a2", 1, 2, Shutdown, Failed),
            task("a3", 1, 3, Running, Running),
            // Slot 2 runs; an earlier task was shut down (an update), not failed.
            task("b1", 2, 1, Shutdown, Shutdown),
            task("b2", 2, 2, Running, Running),
            // Slot 3 was rejected once (image pull) and now runs.
            task("c1", 3, 1, Shutdown, Rejected),
            task("c2", 3, 2, Running, Running),
        ] {
            state.tasks.insert(t.id.clone(), t);
        }
        let ids = |all| -> Vec<String> {
            tasks(&state, &service, all, 10)
                .into_iter()
                .map(|r| r.id)
                .collect()
        };
        assert_eq!(ids(false), ["a3", "a2", "b2", "c2", "c1"]);
        assert_eq!(ids(true), ["a3", "a2", "a1", "b2", "b1", "c2", "c1"]);
    }
}
