//! Who is where on the stack networks: every stack-network service with its networks
//! and its tasks' addresses. Computed from the state (pure) and sent to workers, so
//! each node's DNS answers the same, scoped to the asking container's networks.

use crate::{ClusterState, TaskState};
use orc_spec::NetworkMode;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// One service on stack networks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// The stack it belongs to.
    pub stack: String,
    /// Its short name ("web").
    pub short_name: String,
    /// Its full name ("shop_web").
    pub name: String,
    /// The stack networks it is on (short names; scoped to the stack).
    pub networks: Vec<String>,
    /// Addresses of its tasks that serve ([`crate::Task::serves`]: running and, with a
    /// health check, healthy): what names resolve to and published ports balance over.
    pub running: Vec<Ipv4Addr>,
    /// Addresses of all its tasks that hold one (to recognise who asks).
    pub members: Vec<Ipv4Addr>,
    /// Its published ports.
    pub ports: Vec<orc_spec::PortSpec>,
    /// The name servers its tasks' other names are forwarded to (`dns`); empty = the
    /// node's own resolvers.
    pub dns: Vec<std::net::IpAddr>,
}

/// Every stack-network service, sorted by full name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// The services.
    pub entries: Vec<DirectoryEntry>,
}

impl Directory {
    /// The directory of `state`.
    pub fn of(state: &ClusterState) -> Directory {
        let mut entries: Vec<DirectoryEntry> = state
            .services
            .values()
            .filter(|s| s.spec.network_mode == NetworkMode::Stack)
            .map(|s| {
                let mut e = DirectoryEntry {
                    stack: s.stack.clone(),
                    short_name: s.short_name.clone(),
                    name: s.name.clone(),
                    networks: s.spec.networks.clone(),
                    running: Vec::new(),
                    members: Vec::new(),
                    ports: s.spec.ports.clone(),
                    dns: s
                        .spec
                        .container
                        .dns
                        .iter()
                        .filter_map(|a| a.parse().ok())
                        .collect(),
                };
                for t in state.tasks_of_service(&s.id) {
                    let Some(a) = t.status.address else { continue };
                    if t.status.state.is_terminal() {
                        continue;
                    }
                    e.members.push(a);
                    // Only tasks that serve: running and, with a health check,
                    // healthy (a starting or unhealthy task gets no traffic).
                    if t.serves() && t.desired_state == TaskState::Running {
                        e.running.push(a);
                    }
                }
                e.running.sort();
                e.members.sort();
                e
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Directory { entries }
    }

    /// The service whose task holds `address`.
    pub fn owner(&self, address: Ipv4Addr) -> Option<&DirectoryEntry> {
        self.entries.iter().find(|e| e.members.contains(&address))
    }

    /// The name servers that names not in the directory are forwarded to for the
    /// container at `asker`: its service's `dns`, if it sets any.
    pub fn upstream_for(&self, asker: Ipv4Addr) -> Option<&[std::net::IpAddr]> {
        self.owner(asker)
            .map(|e| e.dns.as_slice())
            .filter(|d| !d.is_empty())
    }

    /// What `name` (`web`, `shop_web`, `tasks.web`, any case, trailing dot or not)
    /// resolves to for the container at `asker`: the running tasks of a service that
    /// shares one of its stack networks. `None`: not a service it may see.
    pub fn resolve(&self, asker: Ipv4Addr, name: &str) -> Option<&[Ipv4Addr]> {
        let me = self.owner(asker)?;
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let name = name.strip_prefix("tasks.").unwrap_or(&name);
        self.entries
            .iter()
            .filter(|e| e.stack == me.stack)
            .filter(|e| e.name == name || e.short_name == name)
            .find(|e| e.networks.iter().any(|n| me.networks.contains(n)))
            .map(|e| e.running.as_slice())
    }

    /// The name of the task at `address` for the container at `asker` (a reverse
    /// lookup): its service's full name (`shop_web`, which resolves back to it while it
    /// runs), when that service shares one of the asker's stack networks. `None`: not
    /// a task address the asker may see.
    pub fn reverse(&self, asker: Ipv4Addr, address: Ipv4Addr) -> Option<&str> {
        let me = self.owner(asker)?;
        self.entries
            .iter()
            .filter(|e| e.stack == me.stack && e.members.contains(&address))
            .find(|e| e.networks.iter().any(|n| me.networks.contains(n)))
            .map(|e| e.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stack: &str, short: &str, nets: &[&str], ip: u8) -> DirectoryEntry {
        let a = Ipv4Addr::new(10, 201, 1, ip);
        DirectoryEntry {
            stack: stack.into(),
            short_name: short.into(),
            name: format!("{stack}_{short}"),
            networks: nets.iter().map(|n| n.to_string()).collect(),
            running: vec![a],
            members: vec![a],
            ports: Vec::new(),
            dns: Vec::new(),
        }
    }

    #[test]
    fn a_services_dns_servers_are_its_tasks_upstream() {
        let mut custom = entry("shop", "web", &["front"], 2);
        custom.dns = vec!["9.9.9.9".parse().unwrap()];
        let d = Directory {
            entries: vec![custom, entry("shop", "api", &["front"], 3)],
        };
        let nine: std::net::IpAddr = "9.9.9.9".parse().unwrap();
        assert_eq!(
            d.upstream_for(Ipv4Addr::new(10, 201, 1, 2)),
            Some(&[nine][..])
        );
        assert_eq!(d.upstream_for(Ipv4Addr::new(10, 201, 1, 3)), None);
        assert_eq!(d.upstream_for(Ipv4Addr::new(10, 9, 9, 9)), None);
    }

    #[test]
    fn names_resolve_only_across_a_shared_network_of_the_same_stack() {
        let d = Directory {
            entries: vec![
                entry("shop", "web", &["front"], 2),
                entry("shop", "api", &["front", "back"], 3),
                entry("shop", "db", &["back"], 4),
                entry("blog", "web", &["default"], 5),
            ],
        };
        let web = Ipv4Addr::new(10, 201, 1, 2);
        let api = Ipv4Addr::new(10, 201, 1, 3);
        let blog = Ipv4Addr::new(10, 201, 1, 5);
        assert_eq!(d.resolve(web, "api"), Some(&[api][..]));
        assert_eq!(d.resolve(web, "SHOP_API."), Some(&[api][..]));
        assert_eq!(d.resolve(web, "tasks.api"), Some(&[api][..]));
        assert_eq!(d.resolve(web, "db"), None, "web is not on back");
        assert!(d.resolve(api, "db").is_some());
        assert_eq!(d.resolve(blog, "shop_api"), None, "another stack");
        assert_eq!(
            d.resolve(blog, "web"),
            Some(&[blog][..]),
            "its own stack's web"
        );
        assert_eq!(
            d.resolve(Ipv4Addr::new(10, 9, 9, 9), "web"),
            None,
            "unknown asker"
        );
        assert_eq!(d.resolve(web, "example.com"), None);
    }

    #[test]
    fn addresses_resolve_back_only_across_a_shared_network_of_the_same_stack() {
        let d = Directory {
            entries: vec![
                entry("shop", "web", &["front"], 2),
                entry("shop", "api", &["front", "back"], 3),
                entry("shop", "db", &["back"], 4),
                entry("blog", "web", &["default"], 5),
            ],
        };
        let ip = |n| Ipv4Addr::new(10, 201, 1, n);
        assert_eq!(d.reverse(ip(2), ip(3)), Some("shop_api"));
        assert_eq!(d.reverse(ip(4), ip(3)), Some("shop_api"));
        assert_eq!(d.reverse(ip(2), ip(2)), Some("shop_web"), "itself");
        assert_eq!(d.reverse(ip(2), ip(4)), None, "web is not on back");
        assert_eq!(d.reverse(ip(5), ip(2)), None, "another stack");
        assert_eq!(d.reverse(ip(2), ip(99)), None, "no task there");
        assert_eq!(d.reverse(ip(99), ip(2)), None, "unknown asker");
    }
}
