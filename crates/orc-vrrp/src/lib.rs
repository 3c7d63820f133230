//! VRRPv3 (RFC 5798) for orc's cluster virtual IP, compatible with keepalived.
//!
//! Two layers:
//! - a pure core, without I/O or clocks: [`packet`] (wire format),
//!   [`ipv4`] (the IP header raw sockets deliver), [`Machine`] (the state
//!   machine, time passed in), [`Counters`];
//! - a thin tokio adapter, [`net`]: raw sockets, rtnetlink, gratuitous ARP,
//!   and [`net::VrrpInstance`] driving the machine.
//!
//! orc adds a quorum guard to VRRP: a node outside the Raft majority is never
//! master ([`Event::QuorumChanged`]), which closes keepalived's split brain
//! when a master is cut off from the rest of the LAN.

#![warn(missing_docs)]

pub mod config;
pub mod counters;
pub mod drop_reason;
pub mod event;
pub mod ipv4;
pub mod machine;
pub mod net;
pub mod packet;

pub use config::{ConfigError, GarpPolicy, MachineConfig};
pub use counters::{Cause, Counters, State, Transition};
pub use drop_reason::DropReason;
pub use event::{Action, Event};
pub use machine::Machine;
pub use packet::{parse, Advert, EncodeError};
