//! Placement preferences: spread a service's tasks evenly over the values of node
//! labels (Swarm's `--placement-pref spread=node.labels.X`). With several
//! preferences, the first splits the nodes by its label's value, the next splits each
//! of those by its own, and so on; a task goes to the least loaded value at each level.

use crate::FastMap;
use orc_model::Node;
use orc_spec::PlacementPreference;

/// This service's task counts per label-value path, during one scheduling pass.
pub(crate) struct Spread<'a> {
    /// Per node index: its label values, one per preference ("" when unlabelled).
    paths: Vec<Vec<&'a str>>,
    /// Tasks of the service under each path prefix.
    counts: FastMap<Vec<&'a str>, u32>,
}

impl<'a> Spread<'a> {
    /// `existing(i)` is how many of the service's tasks node `i` already holds.
    pub(crate) fn new(
        prefs: &'a [PlacementPreference],
        nodes: &[&'a Node],
        existing: impl Fn(usize) -> u32,
    ) -> Spread<'a> {
        let paths: Vec<Vec<&'a str>> = nodes
            .iter()
            .map(|n| {
                prefs
                    .iter()
                    .map(|p| match p {
                        PlacementPreference::Spread { label } => {
                            n.labels.get(label).map(String::as_str).unwrap_or("")
                        }
                    })
                    .collect()
            })
            .collect();
        let mut s = Spread {
            paths,
            counts: FastMap::default(),
        };
        for i in 0..nodes.len() {
            let n = existing(i);
            if n > 0 {
                s.add(i, n);
            }
        }
        s
    }

    /// The counts along node `i`'s path, most significant first: smaller is better.
    pub(crate) fn key(&self, i: usize) -> Vec<u32> {
        let path = &self.paths[i];
        (1..=path.len())
            .map(|k| self.counts.get(&path[..k]).copied().unwrap_or(0))
            .collect()
    }

    /// Counts `n` more tasks on node `i`.
    pub(crate) fn add(&mut self, i: usize, n: u32) {
        let path = &self.paths[i];
        for k in 1..=path.len() {
            *self.counts.entry(path[..k].to_vec()).or_default() += n;
        }
    }
}
