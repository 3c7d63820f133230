//! What runs only on the Raft leader, started and stopped with leadership:
//! the manager loop ([`orchestrate`]: orchestrator + scheduler, turning services into
//! placed tasks), the [`dispatcher`] (heartbeats → node down/ready), the membership
//! janitor ([`membership`]: Raft voters follow the node table), [`member_address`]
//! (a moved manager's Raft address) and [`fencing`] (Ceph blocklists before a volume
//! moves). Placement itself is decided in the pure `orc-scheduler` crate.

pub mod dispatcher;
pub mod fencing;
pub mod member_address;
pub mod membership;
pub mod orchestrate;
