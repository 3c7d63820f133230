//! The thin tokio I/O adapter: raw VRRP sockets, VIPs over rtnetlink,
//! gratuitous ARP, and [`VrrpInstance`] tying them to the pure
//! [`crate::Machine`].

pub mod arp;
pub mod error;
pub mod instance;
pub mod socket;
pub mod vip;
mod worker;

pub use arp::{garp_frame, GarpSender};
pub use error::NetError;
pub use instance::{run, VrrpConfig, VrrpInstance};
pub use socket::VrrpSocket;
pub use vip::{add_vip, lookup_link, remove_vip, Link, VipAddr, VipParseError};
