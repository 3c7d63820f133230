//! orc's container networking on a node, over rtnetlink (pure Rust, no CNI plugins):
//! the `orc0` bridge with the node block's `.1`, a veth per container moved into a
//! network namespace orc creates and pins under its data directory (containerd gets the
//! path in the OCI spec), and routes to every other node's block: plain (host-gw) or over VXLAN with static
//! neighbour and FDB entries.
//! Published ports and isolation are table `ip orc`, programmed with nf_tables netlink
//! messages built here ([`nft`]); the `nft` tool is only a fallback.
#![warn(missing_docs)]

mod address_events;
pub mod dns;
mod dns_server;
mod error;
pub mod ingress;
pub mod isolation;
pub mod netns;
pub mod nft;
mod node;
mod vxlan;

pub use address_events::AddressEvents;
pub use dns_server::{node_resolvers, serve as serve_dns};
pub use error::NetError;
pub use node::{
    resolv_conf, veth_name, NodeNet, ResolverExtras, BRIDGE, MTU, ROUTE_PROTOCOL, VETH_PREFIX,
};
pub use vxlan::{vtep_mac, VxlanPeer, VXLAN_DEV, VXLAN_MTU};
