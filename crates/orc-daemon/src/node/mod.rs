//! What runs on every node, manager or worker: the [`agent`] (the only caller of
//! containerd: runs this node's tasks and moves them from preparing onwards), its
//! [`volumes`], the [`session`] with the leader (heartbeats up, assignments down),
//! secrets and configs into per-task tmpfs ([`values`]),
//! image [`peers`], and following this node's own address ([`address_watch`],
//! [`address_policy`], [`readdress`], [`cert_readdress`], [`manager_list`]).

pub mod address_policy;
pub mod address_watch;
pub mod agent;
pub mod cert_readdress;
pub mod manager_list;
pub mod peers;
pub mod readdress;
pub mod session;
pub mod values;
