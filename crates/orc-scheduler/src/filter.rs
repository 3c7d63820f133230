//! Placement filters: each says whether a task may go on a node, and explains in a few
//! words why the nodes it turned down were unsuitable.

use crate::constraint::constraints_match;
use orc_model::{Availability, Node, NodeStatus, Task};
use orc_spec::ResourceSet;

/// What the filters see of a node during one scheduling pass.
#[derive(Debug, Clone, Copy)]
pub struct NodeInfo<'a> {
    /// The node itself.
    pub node: &'a Node,
    /// Sum of the reservations of the node's live tasks that are desired running,
    /// including the placements made earlier in the same pass.
    pub reserved: ResourceSet,
    /// How many such tasks the node has.
    pub tasks: u32,
}

/// One stage of the placement pipeline.
pub trait Filter {
    /// Short name, for logs and tests.
    fn name(&self) -> &'static str;
    /// Whether `task` may be placed on `node`.
    fn check(&self, task: &Task, node: &NodeInfo<'_>) -> bool;
    /// Why `nodes_failed` nodes failed this filter: "2 nodes insufficient memory".
    fn explain(&self, nodes_failed: usize) -> String;
}

/// "1 node" / "3 nodes".
pub(crate) fn nodes(n: usize) -> String {
    if n == 1 {
        "1 node".to_string()
    } else {
        format!("{n} nodes")
    }
}

/// The node's agent is connected and reporting.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadyFilter;

impl Filter for ReadyFilter {
    fn name(&self) -> &'static str {
        "ready"
    }
    fn check(&self, _task: &Task, node: &NodeInfo<'_>) -> bool {
        node.node.status == NodeStatus::Ready
    }
    fn explain(&self, nodes_failed: usize) -> String {
        format!("{} not ready", nodes(nodes_failed))
    }
}

/// The node accepts new tasks (not paused or drained).
#[derive(Debug, Clone, Copy, Default)]
pub struct AvailabilityFilter;

impl Filter for AvailabilityFilter {
    fn name(&self) -> &'static str {
        "availability"
    }
    fn check(&self, _task: &Task, node: &NodeInfo<'_>) -> bool {
        node.node.availability == Availability::Active
    }
    fn explain(&self, nodes_failed: usize) -> String {
        format!("{} not available", nodes(nodes_failed))
    }
}

/// The task's placement constraints hold on the node.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConstraintFilter;

impl Filter for ConstraintFilter {
    fn name(&self) -> &'static str {
        "constraints"
    }
    fn check(&self, task: &Task, node: &NodeInfo<'_>) -> bool {
        constraints_match(&task.spec.constraints, node.node)
    }
    fn explain(&self, nodes_failed: usize) -> String {
        format!("{} not matching constraints", nodes(nodes_failed))
    }
}

/// A resource reservations are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Nano-CPUs.
    Cpu,
    /// Bytes of memory.
    Memory,
}

/// The node has room for the task's reservation of one resource. A node reporting 0
/// (unknown) and a task reserving 0 are never restricted.
#[derive(Debug, Clone, Copy)]
pub struct ResourceFilter(pub Resource);

impl Filter for ResourceFilter {
    fn name(&self) -> &'static str {
        match self.0 {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
        }
    }
    fn check(&self, task: &Task, node: &NodeInfo<'_>) -> bool {
        let want = task.spec.resources.reservations;
        let (want, used, cap) = match self.0 {
            Resource::Cpu => (
                want.nano_cpus,
                node.reserved.nano_cpus,
                node.node.resources.nano_cpus,
            ),
            Resource::Memory => (
                want.memory_bytes,
                node.reserved.memory_bytes,
                node.node.resources.memory_bytes,
            ),
        };
        want == 0 || cap == 0 || used.checked_add(want).is_some_and(|total| total <= cap)
    }
    fn explain(&self, nodes_failed: usize) -> String {
        format!("{} insufficient {}", nodes(nodes_failed), self.name())
    }
}
