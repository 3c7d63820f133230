//! `orc stats`: what a node reports of its running tasks, and the CPU share between
//! two such reports.

use crate::TaskUsage;
use serde::{Deserialize, Serialize};

/// One running task on a node: who it is (from its container's labels) and what it
/// used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    pub task: String,
    /// "STACK_SERVICE".
    pub service: String,
    pub slot: u32,
    pub usage: TaskUsage,
}

impl TaskReport {
    /// The stack part of the service name (stack names have no '_').
    pub fn stack(&self) -> &str {
        self.service
            .split_once('_')
            .map(|(s, _)| s)
            .unwrap_or_default()
    }
}

/// One node's running tasks and their counters, read at `at_ms` (the node's clock).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeTaskStats {
    pub at_ms: u64,
    /// By task id.
    pub tasks: Vec<TaskReport>,
}

impl NodeTaskStats {
    pub fn get(&self, task: &str) -> Option<&TaskUsage> {
        self.tasks.iter().find(|r| r.task == task).map(|r| &r.usage)
    }
}

/// CPU share between two reports of one node, in percent of one CPU (200 = two
/// CPUs busy). 0 when the interval is empty or the counter went back (a new
/// container under the same id).
pub fn cpu_percent(before: &TaskUsage, at_before: u64, after: &TaskUsage, at_after: u64) -> f64 {
    let dt = at_after.saturating_sub(at_before) as f64 / 1000.0;
    let used = after.cpu_seconds - before.cpu_seconds;
    if dt <= 0.0 || used < 0.0 {
        return 0.0;
    }
    used / dt * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(s: f64) -> TaskUsage {
        TaskUsage {
            cpu_seconds: s,
            ..TaskUsage::default()
        }
    }

    #[test]
    fn shares() {
        assert_eq!(cpu_percent(&cpu(1.0), 1000, &cpu(1.5), 2000), 50.0);
        assert_eq!(cpu_percent(&cpu(1.0), 1000, &cpu(3.0), 2000), 200.0);
        assert_eq!(cpu_percent(&cpu(5.0), 1000, &cpu(1.0), 2000), 0.0);
        assert_eq!(cpu_percent(&cpu(1.0), 1000, &cpu(2.0), 1000), 0.0);
    }

    #[test]
    fn lookup() {
        let s = NodeTaskStats {
            at_ms: 1,
            tasks: vec![TaskReport {
                task: "a".into(),
                service: "hello_web".into(),
                slot: 1,
                usage: cpu(2.0),
            }],
        };
        assert_eq!(s.get("a").map(|u| u.cpu_seconds), Some(2.0));
        assert!(s.get("b").is_none());
        assert_eq!(s.tasks[0].stack(), "hello");
    }
}
