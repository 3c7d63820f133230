//! The typed, pure model of table `ip orc`: what the published ports and the network
//! isolation need, built from the service directory. The text and netlink renderers
//! both read it.

use orc_model::{Directory, Ipv4Net};
use orc_spec::{Protocol, PublishMode};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Everything table `ip orc` holds on one node; [`Ruleset::is_empty`] means "no table".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    /// The overlay subnet every container address is in (masquerade, isolation).
    pub subnet: Ipv4Net,
    /// The node bridge's own address (`.1` of the block): never DNATed, DNS answers there.
    pub gateway: Ipv4Addr,
    /// Published ports with at least one backend, in directory order.
    pub ports: Vec<Published>,
    /// The forward filter, present when some container holds an address.
    pub isolation: Option<Isolation>,
}

/// One published port: DNAT from any local address to one of `backends`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The port on the node.
    pub published: u16,
    /// The port in the container.
    pub target: u16,
    /// Container addresses, never empty; several are spread at random.
    pub backends: Vec<Ipv4Addr>,
}

impl Published {
    /// The chain the prerouting and output hooks jump to: `p_tcp_8080`.
    pub fn chain(&self) -> String {
        format!("p_{}_{}", self.protocol.as_str(), self.published)
    }

    /// The chain of backend `i` when there are several: `p_tcp_8080_0`.
    pub fn backend_chain(&self, i: usize) -> String {
        format!("{}_{i}", self.chain())
    }
}

/// The forward filter between stack networks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Isolation {
    /// Every (from, to) pair of container addresses allowed to talk (set `pairs`).
    pub pairs: BTreeSet<(Ipv4Addr, Ipv4Addr)>,
}

impl Ruleset {
    /// The ruleset for `directory` on the node holding `block` in `subnet`.
    pub fn build(directory: &Directory, block: Ipv4Net, subnet: Ipv4Net) -> Ruleset {
        let mut ports = Vec::new();
        for e in &directory.entries {
            for p in &e.ports {
                let backends: Vec<_> = match p.mode {
                    PublishMode::Ingress => e.running.clone(),
                    PublishMode::Host => e
                        .running
                        .iter()
                        .copied()
                        .filter(|a| block.contains(*a))
                        .collect(),
                };
                if backends.is_empty() {
                    continue;
                }
                ports.push(Published {
                    protocol: p.protocol,
                    published: p.published,
                    target: p.target,
                    backends,
                });
            }
        }
        let isolation =
            (!directory.entries.iter().all(|e| e.members.is_empty())).then(|| Isolation {
                pairs: crate::isolation::allowed_pairs(directory),
            });
        Ruleset {
            subnet,
            gateway: orc_model::gateway(block),
            ports,
            isolation,
        }
    }

    /// No table at all (applying it removes table `ip orc`).
    pub fn none() -> Ruleset {
        Ruleset {
            subnet: Ipv4Net {
                addr: Ipv4Addr::UNSPECIFIED,
                prefix: 0,
            },
            gateway: Ipv4Addr::UNSPECIFIED,
            ports: Vec::new(),
            isolation: None,
        }
    }

    /// Whether the table should not exist at all.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty() && self.isolation.is_none()
    }
}
