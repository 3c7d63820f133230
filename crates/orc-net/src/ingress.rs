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

/// IPv4 forwarding (sysctl `net.ipv4.ip_forward`).
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
/// `route_localnet` of every interface (`net.ipv4.conf.all.route_localnet`).
const ROUTE_LOCALNET: &str = "/proc/sys/net/ipv4/conf/all/route_localnet";

/// What published ports need from the kernel beside table `ip orc`, in the calling
/// thread's network namespace:
/// - forwarding, also on a node without containers of its own (the VIP holder, say),
///   which passes the traffic on to other nodes' tasks; left on once on (the bridge
///   needs it too);
/// - `route_localnet`, so a connection to 127.0.0.1 can be DNATed out of the loopback
///   to a container (locally originated, loopback-sourced: the kernel otherwise
///   refuses to route it, and refuses the replies) and masqueraded. It is on only while
///   ports are published; table `ip orc`'s chain `loopback` drops anything addressed to
///   or from 127.0.0.0/8 that arrives from outside meanwhile.
pub fn kernel_paths(published: bool) -> Result<(), NetError> {
    if published {
        set_sysctl(IP_FORWARD, "1")?;
    }
    set_sysctl(ROUTE_LOCALNET, if published { "1" } else { "0" })
}

/// Writes `value` to the sysctl file `path` unless it already holds it.
fn set_sysctl(path: &str, value: &str) -> Result<(), NetError> {
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(path, value).map_err(NetError::io(format!("write {value} to {path}")))
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
        // route_localnet is on while ports are published: loopback only from inside.
        assert!(
            r.contains("chain loopback {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tiif != \"lo\" ip daddr 127.0.0.0/8 drop\n\t\tiif != \"lo\" ip saddr 127.0.0.0/8 drop\n"),
            "{r}"
        );
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
