//! The parts of apply that keep the container network consistent: node blocks and
//! published ports unique across the cluster.

use crate::{ApplyError, ClusterState, CommandResult, NewService};

impl ClusterState {
    /// Gives every node without a block the lowest free one (no-op without a network).
    pub(crate) fn allocate_blocks(&mut self, changed: &mut bool) -> CommandResult {
        let Some(net) = self.network.as_mut() else {
            return CommandResult::Ok;
        };
        for id in self.nodes.keys() {
            if net.blocks.contains_key(id) {
                continue;
            }
            if net.allocate(*id).is_none() {
                return CommandResult::Err(ApplyError::SubnetFull(*id));
            }
            *changed = true;
        }
        CommandResult::Ok
    }

    /// A port `services` would publish that a service of another stack already does
    /// (or that two of `services` share: the spec parser catches that first).
    pub(crate) fn port_conflict(&self, stack: &str, services: &[NewService]) -> Option<ApplyError> {
        let mut seen: Vec<(u16, orc_spec::Protocol, String)> = self
            .services
            .values()
            .filter(|s| s.stack != stack)
            .flat_map(|s| {
                s.spec
                    .ports
                    .iter()
                    .map(|p| (p.published, p.protocol, s.name.clone()))
            })
            .collect();
        for ns in services {
            let name = format!("{stack}_{}", ns.short_name);
            for p in &ns.spec.ports {
                if let Some((_, _, other)) = seen
                    .iter()
                    .find(|(port, proto, _)| *port == p.published && *proto == p.protocol)
                {
                    return Some(ApplyError::PortTaken {
                        port: p.published,
                        protocol: p.protocol.as_str().to_string(),
                        name,
                        other: other.clone(),
                    });
                }
                seen.push((p.published, p.protocol, name.clone()));
            }
        }
        None
    }
}
