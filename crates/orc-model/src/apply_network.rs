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

impl ClusterState {
    /// A port of `stack` that orc itself uses on the nodes, which publishing would
    /// hijack on every node: a node's cluster port (TCP, from its advertised address)
    /// and, on a VXLAN cluster, the overlay's UDP port. The message names the service.
    /// Checked before a deploy is proposed (not in apply, so replaying an old log
    /// reaches the same state).
    pub fn reserved_port_clash(&self, stack: &orc_spec::StackSpec) -> Option<String> {
        let mut reserved: Vec<(u16, orc_spec::Protocol, String)> = self
            .nodes
            .values()
            .filter_map(|n| {
                let port = n.address.parse::<std::net::SocketAddr>().ok()?.port();
                Some((
                    port,
                    orc_spec::Protocol::Tcp,
                    format!("orc's cluster port on node {}", n.hostname),
                ))
            })
            .collect();
        if self
            .network
            .as_ref()
            .is_some_and(|n| n.driver == crate::NetworkDriver::Vxlan)
        {
            reserved.push((
                crate::network::VXLAN_PORT,
                orc_spec::Protocol::Udp,
                "orc's VXLAN overlay".into(),
            ));
        }
        for (short, spec) in &stack.services {
            for p in &spec.ports {
                if let Some((_, _, what)) = reserved
                    .iter()
                    .find(|(port, proto, _)| *port == p.published && *proto == p.protocol)
                {
                    return Some(format!(
                        "port {}/{} of service {}_{short} is {what}: publish another port",
                        p.published,
                        p.protocol.as_str(),
                        stack.name
                    ));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::node::test_node;
    use crate::{ClusterNetwork, ClusterState, Ipv4Net, NetworkDriver, Node, NodeRole};

    fn node(id: u64, address: &str) -> Node {
        test_node(id, NodeRole::Manager, address)
    }

    fn stack(ports: &str) -> orc_spec::StackSpec {
        let text = format!("[services.web]\nimage = \"demo/busybox:1\"\nports = [{ports}]\n");
        orc_spec::parse_stack(&text, "stack.toml", Some("s"), "stack").unwrap()
    }

    #[test]
    fn orcs_own_ports_are_not_published() {
        let mut s = ClusterState::default();
        s.nodes.insert(1, node(1, "10.0.0.1:4747"));
        s.nodes.insert(2, node(2, "10.0.0.2:5000"));
        let e = s.reserved_port_clash(&stack("\"5000:80\"")).unwrap();
        assert_eq!(
            e,
            "port 5000/tcp of service s_web is orc's cluster port on node rock2: publish another port"
        );
        assert!(s.reserved_port_clash(&stack("\"4747:80\"")).is_some());
        // The cluster port is TCP; UDP 4747 and other ports are free.
        assert!(s.reserved_port_clash(&stack("\"4747:80/udp\"")).is_none());
        assert!(s.reserved_port_clash(&stack("\"8080:80\"")).is_none());
        // 4789/udp only on a VXLAN cluster.
        assert!(s.reserved_port_clash(&stack("\"4789:80/udp\"")).is_none());
        let subnet = Ipv4Net::parse("10.201.0.0/16").unwrap();
        s.network = Some(ClusterNetwork::new(subnet, NetworkDriver::Vxlan).unwrap());
        let e = s.reserved_port_clash(&stack("\"4789:80/udp\"")).unwrap();
        assert!(e.contains("VXLAN"), "{e}");
    }
}
