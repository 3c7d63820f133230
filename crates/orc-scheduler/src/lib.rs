//! orc's orchestrator and scheduler: pure functions from the cluster state to the
//! [`Command`](orc_model::Command)s the leader proposes to Raft.
//!
//! - [`reconcile`] (the orchestrator) makes every service's tasks exist: replicas per
//!   slot, one task per eligible node for global services, replacements after spec
//!   changes, node loss, drains and exits (the restart policy), and cleanup.
//! - [`schedule`] places pending tasks on nodes through a [`Pipeline`] of [`Filter`]s,
//!   spreading each service over the nodes.
//!
//! Neither does I/O, reads a clock or draws randomness: time and new ids come from the
//! caller. Running either again on the state with its commands applied proposes
//! nothing more.

#![warn(missing_docs)]

mod constraint;
mod filter;
mod global;
mod orchestrator;
mod pipeline;
mod plan;
mod replicated;
mod restart;
mod scheduler;
mod slot;
mod spec;
mod spread;
mod unfence;
mod update;
mod volumes;

/// Hash map for per-pass indexes: a fast hash with a fixed seed (keys are ids the
/// cluster chose, not attacker-controlled input, and a fixed seed keeps runs identical).
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

pub use constraint::{constraint_matches, constraints_match};
pub use filter::{
    AvailabilityFilter, ConstraintFilter, Filter, NodeInfo, ReadyFilter, Resource, ResourceFilter,
};
pub use orchestrator::{reconcile, task_outdated, OrchestratorConfig};
pub use pipeline::Pipeline;
pub use scheduler::{schedule, schedule_with, SchedulerOutput};
pub use unfence::{lift_after_removal, unfence_requests, UnfenceRequest};
pub use volumes::{
    task_volumes, volume_claims, volume_pins, FenceRequest, VolumeFilter, VolumePlan,
};
