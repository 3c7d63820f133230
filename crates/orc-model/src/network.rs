//! The cluster's container network: one IPv4 subnet chosen at `cluster init`, cut into
//! one /24 block per node (allocated in Raft, so every node agrees), and the way blocks
//! reach each other (plain routes or VXLAN). Pure: parsing and arithmetic only.

use crate::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// The subnet used when `orc cluster init` is not given `--subnet`.
pub const DEFAULT_SUBNET: &str = "10.201.0.0/16";
/// The VXLAN network identifier orc uses (one overlay per cluster).
pub const VXLAN_VNI: u32 = 4201;
/// The VXLAN UDP port (IANA's).
pub const VXLAN_PORT: u16 = 4789;

/// How packets between two nodes' blocks travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkDriver {
    /// A plain route to each block via its node's address: nodes share one LAN.
    HostGw,
    /// A VXLAN overlay (VNI [`VXLAN_VNI`], UDP [`VXLAN_PORT`]) with static FDB and
    /// neighbour entries: nodes only need to reach each other over UDP.
    Vxlan,
}

impl NetworkDriver {
    /// "host-gw" or "vxlan", as `--network-driver` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkDriver::HostGw => "host-gw",
            NetworkDriver::Vxlan => "vxlan",
        }
    }

    /// Parses `--network-driver`.
    pub fn parse(text: &str) -> Result<NetworkDriver, String> {
        match text {
            "host-gw" => Ok(NetworkDriver::HostGw),
            "vxlan" => Ok(NetworkDriver::Vxlan),
            other => Err(format!(
                "unknown network driver {other:?}; use \"host-gw\" or \"vxlan\""
            )),
        }
    }
}

/// An IPv4 network in CIDR form; the address has no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ipv4Net {
    /// The network address.
    pub addr: Ipv4Addr,
    /// The prefix length, 0..=32.
    pub prefix: u8,
}

impl Ipv4Net {
    /// Parses "10.201.0.0/16"; host bits must be zero.
    pub fn parse(text: &str) -> Result<Ipv4Net, String> {
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not in CIDR form, e.g. \"10.201.0.0/16\""))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("prefix length {prefix:?} is not 0..=32"))?;
        let net = Ipv4Net { addr, prefix };
        if net.network() != addr {
            return Err(format!(
                "{text} has host bits set; did you mean {}/{prefix}?",
                net.network()
            ));
        }
        Ok(net)
    }

    fn mask(self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    /// The address with the host bits cleared.
    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// Whether `ip` lies in this network.
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    /// Whether the two networks share any address.
    pub fn overlaps(self, other: Ipv4Net) -> bool {
        let shorter = if self.prefix <= other.prefix {
            self
        } else {
            other
        };
        let longer = if self.prefix <= other.prefix {
            other
        } else {
            self
        };
        shorter.contains(longer.network())
    }

    /// The `index`-th address of the network (0 is the network address).
    pub fn host(self, index: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()).wrapping_add(index))
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The cluster's container network, as replicated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNetwork {
    /// The whole container subnet (default [`DEFAULT_SUBNET`]); prefix 8..=23.
    pub subnet: Ipv4Net,
    /// How blocks reach each other.
    pub driver: NetworkDriver,
    /// Each node's /24 block, by index within the subnet (block `i` is
    /// `subnet + i * 256`). Index 0 is never used, so no container gets `x.y.0.z`.
    pub blocks: BTreeMap<NodeId, u32>,
}

impl ClusterNetwork {
    /// A network with no blocks yet; `subnet` must leave room for at least two /24s.
    pub fn new(subnet: Ipv4Net, driver: NetworkDriver) -> Result<ClusterNetwork, String> {
        if !(8..=23).contains(&subnet.prefix) {
            return Err(format!(
                "subnet {subnet} must have a prefix length of 8 to 23: each node takes a /24"
            ));
        }
        Ok(ClusterNetwork {
            subnet,
            driver,
            blocks: BTreeMap::new(),
        })
    }

    /// How many blocks the subnet holds (index 0 included, though never used).
    pub fn capacity(&self) -> u32 {
        1u32 << (24 - u32::from(self.subnet.prefix))
    }

    /// The node's /24, if it has one.
    pub fn block(&self, node: NodeId) -> Option<Ipv4Net> {
        let index = *self.blocks.get(&node)?;
        Some(Ipv4Net {
            addr: self.subnet.host(index << 8),
            prefix: 24,
        })
    }

    /// Gives `node` the lowest free block (keeping one it has). `None` when full.
    pub fn allocate(&mut self, node: NodeId) -> Option<u32> {
        if let Some(i) = self.blocks.get(&node) {
            return Some(*i);
        }
        let used: std::collections::BTreeSet<u32> = self.blocks.values().copied().collect();
        let free = (1..self.capacity()).find(|i| !used.contains(i))?;
        self.blocks.insert(node, free);
        Some(free)
    }
}

/// The bridge's (gateway's) address in a node's block: `.1`.
pub fn gateway(block: Ipv4Net) -> Ipv4Addr {
    block.host(1)
}

/// The lowest address of `block` (from `.2` to `.254`) that is not in `taken`.
pub fn free_address(
    block: Ipv4Net,
    taken: &std::collections::BTreeSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    (2..255).map(|i| block.host(i)).find(|a| !taken.contains(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_overlap() {
        let net = Ipv4Net::parse(DEFAULT_SUBNET).unwrap();
        assert_eq!(net.prefix, 16);
        assert!(Ipv4Net::parse("10.201.0.1/16").is_err());
        assert!(Ipv4Net::parse("10.201.0.0").is_err());
        assert!(Ipv4Net::parse("10.201.0.0/33").is_err());
        assert!(Ipv4Net::parse("10.301.0.0/16").is_err());
        let lan = Ipv4Net::parse("10.201.7.0/24").unwrap();
        assert!(net.overlaps(lan) && lan.overlaps(net));
        assert!(!net.overlaps(Ipv4Net::parse("192.168.1.0/24").unwrap()));
        assert!(Ipv4Net::parse("0.0.0.0/0").unwrap().overlaps(net));
    }

    #[test]
    fn blocks_are_allocated_lowest_first_and_kept() {
        let subnet = Ipv4Net::parse("10.201.0.0/22").unwrap();
        let mut n = ClusterNetwork::new(subnet, NetworkDriver::HostGw).unwrap();
        assert_eq!(n.capacity(), 4);
        assert_eq!(n.allocate(7), Some(1));
        assert_eq!(n.allocate(9), Some(2));
        assert_eq!(n.allocate(7), Some(1));
        assert_eq!(n.block(9).unwrap().to_string(), "10.201.2.0/24");
        assert_eq!(n.allocate(11), Some(3));
        assert_eq!(n.allocate(12), None, "full");
        n.blocks.remove(&9);
        assert_eq!(n.allocate(12), Some(2), "a freed block is reused");
        assert!(
            ClusterNetwork::new(Ipv4Net::parse("10.0.0.0/24").unwrap(), NetworkDriver::Vxlan)
                .is_err()
        );
    }

    #[test]
    fn addresses_skip_the_gateway_and_taken_ones() {
        let block = Ipv4Net::parse("10.201.3.0/24").unwrap();
        assert_eq!(gateway(block), Ipv4Addr::new(10, 201, 3, 1));
        let mut taken = std::collections::BTreeSet::new();
        assert_eq!(
            free_address(block, &taken),
            Some(Ipv4Addr::new(10, 201, 3, 2))
        );
        taken.insert(Ipv4Addr::new(10, 201, 3, 2));
        assert_eq!(
            free_address(block, &taken),
            Some(Ipv4Addr::new(10, 201, 3, 3))
        );
        let all = (2..255).map(|i| block.host(i)).collect();
        assert_eq!(free_address(block, &all), None);
    }
}

/// A stack network declared on its own (`docker network create`), before or without
/// any service on it. A network a service uses exists without being declared.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeclaredNetwork {
    pub stack: String,
    /// The name within the stack.
    pub short_name: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub created_at: crate::Timestamp,
}

/// A stack network as clients list it: declared, used by services, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackNetwork {
    /// "STACK_NAME".
    pub name: String,
    pub stack: String,
    pub labels: std::collections::BTreeMap<String, String>,
    /// When it was declared, or the earliest creation of a service using it.
    pub created_at: crate::Timestamp,
    /// The services attached to it (full names).
    pub users: Vec<String>,
}

impl crate::ClusterState {
    /// Every stack network by full name: the declared ones and those services use.
    pub fn stack_networks(&self) -> std::collections::BTreeMap<String, StackNetwork> {
        let mut out: std::collections::BTreeMap<String, StackNetwork> = self
            .declared_networks
            .iter()
            .map(|(name, d)| {
                let n = StackNetwork {
                    name: name.clone(),
                    stack: d.stack.clone(),
                    labels: d.labels.clone(),
                    created_at: d.created_at,
                    users: Vec::new(),
                };
                (name.clone(), n)
            })
            .collect();
        for s in self.services.values() {
            if s.spec.network_mode != orc_spec::NetworkMode::Stack {
                continue;
            }
            for n in &s.spec.networks {
                let name = format!("{}_{n}", s.stack);
                let e = out.entry(name.clone()).or_insert_with(|| StackNetwork {
                    name,
                    stack: s.stack.clone(),
                    labels: Default::default(),
                    created_at: s.created_at,
                    users: Vec::new(),
                });
                e.created_at = e.created_at.min(s.created_at);
                e.users.push(s.name.clone());
            }
        }
        out
    }
}
