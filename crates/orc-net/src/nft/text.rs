//! The ruleset as `nft -f` text: what the `nft` fallback applies and what people read.

use super::model::{Isolation, Published, Ruleset};
use super::{GUARD, TABLE};
use orc_model::Ipv4Net;
use std::fmt::Write;

impl Ruleset {
    /// The `nft -f` text of the table; empty when [`Ruleset::is_empty`].
    pub fn text(&self) -> String {
        let isolation = self
            .isolation
            .as_ref()
            .map(|i| isolation(i, self.subnet))
            .unwrap_or_default();
        if self.ports.is_empty() {
            return isolation;
        }
        let mut jumps = String::new();
        let mut chains = String::new();
        for p in &self.ports {
            port_text(p, self, &mut jumps, &mut chains);
        }
        let subnet = self.subnet;
        let nat = format!(
            "table ip {TABLE} {{\n\
             \tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n{jumps}\t}}\n\
             \tchain output {{\n\t\ttype nat hook output priority -100; policy accept;\n{jumps}\t}}\n\
             \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\tct status dnat ip daddr {subnet} masquerade\n\t}}\n\
             \tchain {GUARD} {{\n\t\ttype filter hook prerouting priority raw; policy accept;\n\
             \t\tiif != \"lo\" ip daddr 127.0.0.0/8 drop\n\
             \t\tiif != \"lo\" ip saddr 127.0.0.0/8 drop\n\t}}\n{chains}}}\n"
        );
        nat + &isolation
    }
}

fn port_text(p: &Published, r: &Ruleset, jumps: &mut String, chains: &mut String) {
    let proto = p.protocol.as_str();
    let chain = p.chain();
    // Not the bridge's own address: the node's DNS answers there on port 53.
    let _ = writeln!(
        jumps,
        "\t\tfib daddr type local ip daddr != {} {proto} dport {} jump {chain}",
        r.gateway, p.published
    );
    let _ = writeln!(chains, "\tchain {chain} {{");
    if let [only] = p.backends.as_slice() {
        let _ = writeln!(
            chains,
            "\t\tmeta l4proto {proto} dnat to {only}:{}",
            p.target
        );
        let _ = writeln!(chains, "\t}}");
        return;
    }
    let arms: Vec<String> = (0..p.backends.len())
        .map(|i| format!("{i} : goto {}", p.backend_chain(i)))
        .collect();
    let _ = writeln!(
        chains,
        "\t\tnumgen random mod {} vmap {{ {} }}",
        p.backends.len(),
        arms.join(", ")
    );
    let _ = writeln!(chains, "\t}}");
    for (i, b) in p.backends.iter().enumerate() {
        let _ = writeln!(
            chains,
            "\tchain {} {{\n\t\tmeta l4proto {proto} dnat to {b}:{}\n\t}}",
            p.backend_chain(i),
            p.target
        );
    }
}

pub(crate) fn isolation(isolation: &Isolation, subnet: Ipv4Net) -> String {
    let mut set = String::from("\tset pairs {\n\t\ttype ipv4_addr . ipv4_addr\n");
    if !isolation.pairs.is_empty() {
        let elements: Vec<String> = isolation
            .pairs
            .iter()
            .map(|(a, b)| format!("{a} . {b}"))
            .collect();
        let _ = writeln!(set, "\t\telements = {{ {} }}", elements.join(", "));
    }
    set.push_str("\t}\n");
    // A block's `.0` is its node's VXLAN address: published-port traffic another node
    // DNATed and masqueraded into the overlay. Containers never hold `.0` or `.1`.
    // Traffic between two containers of one node is bridged: the ip family sees it
    // through br_netfilter, which NodeNet::ensure_bridge turns on.
    format!(
        "table ip {TABLE} {{\n{set}\tchain forward {{\n\
         \t\ttype filter hook forward priority 0; policy accept;\n\
         \t\tct state established,related accept\n\
         \t\tct status dnat accept\n\
         \t\tip saddr & 0.0.0.255 == 0.0.0.0 accept\n\
         \t\tip saddr . ip daddr @pairs accept\n\
         \t\tip saddr {subnet} ip daddr {subnet} drop\n\t}}\n}}\n"
    )
}
