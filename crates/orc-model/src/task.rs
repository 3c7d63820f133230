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
