//! The ordered filters a placement goes through. A node is counted against the first
//! filter it fails, so a pending task's reason adds up to the number of nodes.

use crate::filter::{
    AvailabilityFilter, ConstraintFilter, Filter, NodeInfo, ReadyFilter, Resource, ResourceFilter,
};
use orc_model::Task;

/// Filters in two stages: *placement* filters depend only on the node and the task's
/// spec, so a pass evaluates them once per (task group, node); *resource* filters
/// depend on what the pass already placed and run for every placement.
pub struct Pipeline {
    placement: Vec<Box<dyn Filter + Send + Sync>>,
    resources: Vec<Box<dyn Filter + Send + Sync>>,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline::standard()
    }
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names =
            |v: &[Box<dyn Filter + Send + Sync>]| v.iter().map(|x| x.name()).collect::<Vec<_>>();
        f.debug_struct("Pipeline")
            .field("placement", &names(&self.placement))
            .field("resources", &names(&self.resources))
            .finish()
    }
}

impl Pipeline {
    /// Ready, availability, constraints; then cpu and memory reservations.
    pub fn standard() -> Self {
        Pipeline {
            placement: vec![
                Box::new(ReadyFilter),
                Box::new(AvailabilityFilter),
                Box::new(ConstraintFilter),
            ],
            resources: vec![
                Box::new(ResourceFilter(Resource::Cpu)),
                Box::new(ResourceFilter(Resource::Memory)),
            ],
        }
    }

    /// Appends a placement filter.
    pub fn add_placement(&mut self, filter: Box<dyn Filter + Send + Sync>) {
        self.placement.push(filter);
    }

    /// A pipeline of the given filters (see [`Pipeline`] for the two stages).
    pub fn new(
        placement: Vec<Box<dyn Filter + Send + Sync>>,
        resources: Vec<Box<dyn Filter + Send + Sync>>,
    ) -> Self {
        Pipeline {
            placement,
            resources,
        }
    }

    /// How many filters there are (indexes of [`Self::first_placement_failure`] and
    /// [`Self::first_resource_failure`] run over `0..len()`).
    pub fn len(&self) -> usize {
        self.placement.len() + self.resources.len()
    }

    /// Whether the pipeline has no filters at all (every node fits).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index of the first placement filter `node` fails for `task`.
    pub fn first_placement_failure(&self, task: &Task, node: &NodeInfo<'_>) -> Option<usize> {
        self.placement.iter().position(|f| !f.check(task, node))
    }

    /// Index (after the placement filters) of the first resource filter `node` fails.
    pub fn first_resource_failure(&self, task: &Task, node: &NodeInfo<'_>) -> Option<usize> {
        self.resources
            .iter()
            .position(|f| !f.check(task, node))
            .map(|i| i + self.placement.len())
    }

    /// "no suitable node (1 node not available; 2 nodes insufficient memory)" from the
    /// number of nodes that failed each filter (indexed like the failure methods).
    pub fn explain(&self, failed: &[usize]) -> String {
        let parts: Vec<String> = self
            .placement
            .iter()
            .chain(self.resources.iter())
            .zip(failed.iter().copied().chain(std::iter::repeat(0)))
            .filter(|(_, n)| *n > 0)
            .map(|(f, n)| f.explain(n))
            .collect();
        if parts.is_empty() {
            "no suitable node (no nodes in the cluster)".to_string()
        } else {
            format!("no suitable node ({})", parts.join("; "))
        }
    }
}
