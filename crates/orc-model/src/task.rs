use crate::{NodeId, ServiceId, TaskId, Timestamp};
use orc_spec::ServiceSpec;
use serde::{Deserialize, Serialize};

/// One run of one container. Immutable once created except for `node_id` (set once by
/// the scheduler), `desired_state` (written by managers) and `status` (written by the
/// agent), and both states only move forward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub service_id: ServiceId,
    /// "STACK_SERVICE", kept so a task outliving its service can still be named.
    pub service_name: String,
    /// Replicated services: 1..=replicas. Global services: 0 (one task per node).
    pub slot: u32,
    pub node_id: Option<NodeId>,
    pub spec_version: u64,
    pub spec: ServiceSpec,
    pub desired_state: TaskState,
    pub status: TaskStatus,
    pub created_at: Timestamp,
    /// The agent does not start the container before this time (restart delay).
    pub not_before: Timestamp,
    /// How many tasks this slot had before this one (0 for the first).
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub state: TaskState,
    pub timestamp: Timestamp,
    /// Human-readable: "started", "no suitable node (…)", "exited with 137".
    pub message: String,
    pub err: Option<String>,
    pub exit_code: Option<i32>,
    /// The container's address on the cluster network (stack-network tasks), once the
    /// node gave it one. Every node learns it from here (DNS, ingress).
    pub address: Option<std::net::Ipv4Addr>,
    /// The task's health as its node's probes last found it; `None` when the task
    /// has no health check (it then counts as healthy once running).
    pub health: Option<TaskHealth>,
}

/// What a task's health check found (see [`TaskStatus::health`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskHealth {
    pub state: HealthState,
    /// When `state` was last entered (the updater counts `monitor` from healthy).
    pub since: Timestamp,
    /// Consecutive failed probes (0 after a success).
    pub failing_streak: u32,
    /// The last probes (at most [`TaskHealth::LOG_LEN`]), oldest first.
    pub log: Vec<ProbeResult>,
}

impl TaskHealth {
    /// Probe results kept per task.
    pub const LOG_LEN: usize = 5;
}

/// A task's health state, as Docker names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HealthState {
    /// No probe succeeded yet (and it is not unhealthy yet).
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Starting => "starting",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

/// One probe: when it ran, its exit code (0 = passed) and its output, truncated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub started: Timestamp,
    pub ended: Timestamp,
    pub exit_code: i32,
    pub output: String,
}

impl Task {
    /// Whether the task should receive traffic and counts as up for updates: it runs
    /// and its health check (if any) last found it healthy. Service DNS, `tasks.NAME`,
    /// published-port backends, the ingress and the updater all use this one test.
    pub fn serves(&self) -> bool {
        self.status.state == TaskState::Running
            && self
                .status
                .health
                .as_ref()
                .is_none_or(|h| h.state == HealthState::Healthy)
    }
}

impl TaskStatus {
    pub fn new(state: TaskState, timestamp: Timestamp, message: impl Into<String>) -> Self {
        TaskStatus {
            state,
            timestamp,
            message: message.into(),
            err: None,
            exit_code: None,
            address: None,
            health: None,
        }
    }
}

/// Task states in the order they may be reached: a task's state never goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskState {
    New,
    Pending,
    Assigned,
    Preparing,
    Starting,
    Running,
    Complete,
    Shutdown,
    Failed,
    Rejected,
    Orphaned,
}

impl TaskState {
    pub fn is_terminal(self) -> bool {
        self > TaskState::Running
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::New => "new",
            TaskState::Pending => "pending",
            TaskState::Assigned => "assigned",
            TaskState::Preparing => "preparing",
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Complete => "complete",
            TaskState::Shutdown => "shutdown",
            TaskState::Failed => "failed",
            TaskState::Rejected => "rejected",
            TaskState::Orphaned => "orphaned",
        }
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
