//! What a valid stack asks for that orc parses but does not act on yet: said out
//! loud at validate and deploy time instead of being silently dropped.

use crate::{NetworkMode, StackSpec};

/// One line per key that is parsed but not (fully) enforced, `services.NAME.KEY: why`.
pub fn not_enforced(stack: &StackSpec) -> Vec<String> {
    let mut out = Vec::new();
    for (name, s) in &stack.services {
        let mut note = |key: &str, why: &str| out.push(format!("services.{name}.{key}: {why}"));
        if !s.container.dns.is_empty() && s.network_mode == NetworkMode::Host {
            note("dns", "not applied with network_mode = \"host\": the container uses the node's resolv.conf");
        }
        let c = &s.container;
        let resolver =
            !c.extra_hosts.is_empty() || !c.dns_search.is_empty() || !c.dns_options.is_empty();
        if resolver && s.network_mode == NetworkMode::Host {
            note("extra_hosts", "not applied with network_mode = \"host\": extra_hosts, dns_search and dns_options go into the files orc writes for tasks on the stack's networks");
        }
    }
    out
}
