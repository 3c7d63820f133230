//! Published ports as an nftables ruleset (table `ip orc`), kept in step with where
//! tasks run: ingress ports DNAT on every node's local addresses (so also on the VIP)
//! to any running task, spread at random; host ports only to this node's own tasks.
//! Replies from other nodes' tasks come back through this node thanks to masquerade.
//!
//! orc applies the text with the `nft` tool (`nft -f -`, one atomic transaction):
//! building nf_tables netlink messages by hand was more than this needed.

use crate::NetError;
use orc_model::{Directory, Ipv4Net};
use orc_spec::PublishMode;
use std::fmt::Write;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// The nftables table orc owns.
pub const TABLE: &str = "orc";

/// The ruleset for `directory` on the node holding `block` in `subnet`; empty when
/// nothing is published (then the table is removed).
pub fn ruleset(directory: &Directory, block: Ipv4Net, subnet: Ipv4Net) -> String {
    let mut jumps = String::new();
    let mut chains = String::new();
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
            let proto = p.protocol.as_str();
            let chain = format!("p_{proto}_{}", p.published);
            // Not the bridge's own address: the node's DNS answers there on port 53.
            let _ = writeln!(
                jumps,
                "\t\tfib daddr type local ip daddr != {} {proto} dport {} jump {chain}",
                orc_model::gateway(block),
                p.published
            );
            let _ = writeln!(chains, "\tchain {chain} {{");
            if backends.len() == 1 {
                let _ = writeln!(
                    chains,
                    "\t\tmeta l4proto {proto} dnat to {}:{}",
                    backends[0], p.target
                );
            } else {
                let arms: Vec<String> = (0..backends.len())
                    .map(|i| format!("{i} : goto {chain}_{i}"))
                    .collect();
                let _ = writeln!(
                    chains,
                    "\t\tnumgen random mod {} vmap {{ {} }}",
                    backends.len(),
                    arms.join(", ")
                );
            }
            let _ = writeln!(chains, "\t}}");
            if backends.len() > 1 {
                for (i, b) in backends.iter().enumerate() {
                    let _ = writeln!(
                        chains,
                        "\tchain {chain}_{i} {{\n\t\tmeta l4proto {proto} dnat to {b}:{}\n\t}}",
                        p.target
                    );
                }
            }
        }
    }
    let isolation = crate::isolation::rules(directory, subnet);
    if jumps.is_empty() {
        return isolation;
    }
    let nat = format!(
        "table ip {TABLE} {{\n\
         \tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n{jumps}\t}}\n\
         \tchain output {{\n\t\ttype nat hook output priority -100; policy accept;\n{jumps}\t}}\n\
         \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tct status dnat ip daddr {subnet} masquerade\n\t}}\n{chains}}}\n"
    );
    nat + &isolation
}

/// Whether table `ip orc` exists (left by an earlier run, say).
pub fn exists() -> bool {
    Command::new("nft")
        .args(["list", "tables"])
        .output()
        .is_ok_and(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            text.lines()
                .any(|l| l.trim() == format!("table ip {TABLE}"))
        })
}

/// Replaces table `ip orc` with `rules` in one transaction (removes it when empty).
pub fn apply(rules: &str) -> Result<(), NetError> {
    let script = format!("table ip {TABLE}\ndelete table ip {TABLE}\n{rules}");
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NetError::io("run nft (is the nftables package installed?)"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(NetError::io("write to nft"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(NetError::io("wait for nft"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetError::Io {
            op: "nft -f -".into(),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_model::DirectoryEntry;
    use orc_spec::{PortSpec, Protocol};
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
