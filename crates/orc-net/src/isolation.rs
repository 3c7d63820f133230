//! Network isolation between stack networks, as nftables rules: a container may only
//! reach containers it shares a stack network with, on any node (the `ip` forward
//! hook; bridged traffic too, via br_netfilter). Published ports (DNATed
//! connections) stay reachable from anywhere.

use orc_model::{Directory, Ipv4Net};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Every (from, to) pair of container addresses that share a stack network.
pub fn allowed_pairs(directory: &Directory) -> BTreeSet<(Ipv4Addr, Ipv4Addr)> {
    let mut pairs = BTreeSet::new();
    for a in &directory.entries {
        for b in &directory.entries {
            let share = a.stack == b.stack && a.networks.iter().any(|n| b.networks.contains(n));
            if !share {
                continue;
            }
            for x in &a.members {
                for y in &b.members {
                    if x != y {
                        pairs.insert((*x, *y));
                    }
                }
            }
        }
    }
    pairs
}

/// The forward filter of table `ip orc` as `nft -f` text; empty when no container
/// holds an address.
pub fn rules(directory: &Directory, subnet: Ipv4Net) -> String {
    if directory.entries.iter().all(|e| e.members.is_empty()) {
        return String::new();
    }
    let isolation = crate::nft::Isolation {
        pairs: allowed_pairs(directory),
    };
    crate::nft::text::isolation(&isolation, subnet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_model::DirectoryEntry;

    fn entry(stack: &str, nets: &[&str], ip: u8) -> DirectoryEntry {
        let a = Ipv4Addr::new(10, 201, 1, ip);
        DirectoryEntry {
            stack: stack.into(),
            short_name: format!("s{ip}"),
            name: format!("{stack}_s{ip}"),
            networks: nets.iter().map(|n| n.to_string()).collect(),
            running: vec![a],
            members: vec![a],
            ports: Vec::new(),
            dns: Vec::new(),
        }
    }

    #[test]
    fn only_a_shared_network_of_one_stack_connects() {
        let d = Directory {
            entries: vec![
                entry("shop", &["front"], 2),
                entry("shop", &["front", "back"], 3),
                entry("shop", &["back"], 4),
                entry("blog", &["front"], 5),
            ],
        };
        let ip = |n| Ipv4Addr::new(10, 201, 1, n);
        let p = allowed_pairs(&d);
        assert!(p.contains(&(ip(2), ip(3))) && p.contains(&(ip(3), ip(2))));
        assert!(p.contains(&(ip(3), ip(4))));
        assert!(!p.contains(&(ip(2), ip(4))), "front and back only");
        assert!(
            !p.iter().any(|(a, b)| *a == ip(5) || *b == ip(5)),
            "another stack"
        );
        let r = rules(&d, Ipv4Net::parse("10.201.0.0/16").unwrap());
        assert!(r.contains("ct status dnat accept"));
        assert!(r.contains("10.201.1.2 . 10.201.1.3"));
        assert_eq!(
            rules(
                &Directory::default(),
                Ipv4Net::parse("10.201.0.0/16").unwrap()
            ),
            ""
        );
    }
}
