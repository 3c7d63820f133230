//! Published ports as an nftables ruleset (table `ip orc`), kept in step with where
//! tasks run: ingress ports DNAT on every node's local addresses (so also on the VIP)
//! to any running task, spread at random; host ports only to this node's own tasks.
//! Replies from other nodes' tasks come back through this node thanks to masquerade.
//!
//! The model and both renderers live in [`crate::nft`]; this module keeps the text view.

use crate::NetError;
use orc_model::{Directory, Ipv4Net};

/// The nftables table orc owns.
pub const TABLE: &str = crate::nft::TABLE;

/// The `nft -f` text of the ruleset for `directory` on the node holding `block` in
/// `subnet`; empty when nothing is published nor isolated (then the table is removed).
pub fn ruleset(directory: &Directory, block: Ipv4Net, subnet: Ipv4Net) -> String {
    crate::nft::Ruleset::build(directory, block, subnet).text()
}

/// Whether table `ip orc` exists (left by an earlier run, say).
pub fn exists() -> bool {
    crate::nft::exists()
}

/// Replaces table `ip orc` with the text `rules` through the `nft` tool (removes it
/// when empty).
pub fn apply(rules: &str) -> Result<(), NetError> {
    crate::nft::tool::apply(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_model::DirectoryEntry;
    use orc_spec::{PortSpec, Protocol, PublishMode};
    use std::net::Ipv4Addr;

    fn net(s: &str) -> Ipv4Net {
        Ipv4Net::parse(s).unwrap()
    }

    #[test]
    fn ingress_spreads_and_host_stays_local() {
        let a = Ipv4Addr::new(10, 201, 1, 2);
        let b = Ipv4Addr::new(10, 201, 2, 2);
        let port = |published, mode| PortSpec {
            published,
            target: 80,
            protocol: Protocol::Tcp,
            mode,
        };
        let d = Directory {
            entries: vec![DirectoryEntry {
                stack: "s".into(),
                short_name: "web".into(),
                name: "s_web".into(),
                networks: vec!["default".into()],
                running: vec![a, b],
                members: vec![a, b],
                ports: vec![
                    port(8080, PublishMode::Ingress),
                    port(9090, PublishMode::Host),
                ],
                dns: Vec::new(),
            }],
        };
        let r = ruleset(&d, net("10.201.2.0/24"), net("10.201.0.0/16"));
        assert!(
            r.contains(
                "fib daddr type local ip daddr != 10.201.2.1 tcp dport 8080 jump p_tcp_8080"
            ),
            "{r}"
        );
        assert!(
            r.contains("numgen random mod 2 vmap { 0 : goto p_tcp_8080_0, 1 : goto p_tcp_8080_1 }")
        );
        assert!(r.contains("dnat to 10.201.1.2:80") && r.contains("dnat to 10.201.2.2:80"));
        assert!(r.contains("ct status dnat ip daddr 10.201.0.0/16 masquerade"));
        // Host mode: only this node's task.
        let host_chain = r.split("chain p_tcp_9090 {").nth(1).unwrap();
        assert!(
            host_chain
                .trim_start()
                .starts_with("meta l4proto tcp dnat to 10.201.2.2:80"),
            "{r}"
        );
        let elsewhere = ruleset(&d, net("10.201.3.0/24"), net("10.201.0.0/16"));
        assert!(!elsewhere.contains("9090") && elsewhere.contains("8080"));
        assert_eq!(
            ruleset(
                &Directory::default(),
                net("10.201.3.0/24"),
                net("10.201.0.0/16")
            ),
            ""
        );
    }
}
