//! `/events`: the cluster's changes between two states as Docker's swarm events
//! (service, node and network; create, update, remove).

use crate::render::{network_id, networks, node_id};
use orc_model::ClusterState;
use serde_json::{json, Value};

fn event(kind: &str, action: &str, id: &str, name: &str, now_ms: u64) -> Value {
    json!({
        "Type": kind,
        "Action": action,
        "Actor": { "ID": id, "Attributes": { "name": name } },
        "scope": "swarm",
        "time": now_ms / 1000,
        "timeNano": now_ms as u128 * 1_000_000,
    })
}

/// The events that lead from `old` to `new`, stamped `now_ms`.
pub fn diff(old: &ClusterState, new: &ClusterState, now_ms: u64) -> Vec<Value> {
    let mut out = Vec::new();
    for (id, s) in &new.services {
        match old.services.get(id) {
            None => out.push(event("service", "create", id, &s.name, now_ms)),
            Some(o) if o.version != s.version => {
                out.push(event("service", "update", id, &s.name, now_ms))
            }
            _ => {}
        }
    }
    for (id, s) in &old.services {
        if !new.services.contains_key(id) {
            out.push(event("service", "remove", id, &s.name, now_ms));
        }
    }
    for (id, n) in &new.nodes {
        let action = match old.nodes.get(id) {
            None => "create",
            Some(o) if o != n => "update",
            _ => continue,
        };
        out.push(event("node", action, &node_id(*id), &n.hostname, now_ms));
    }
    for (id, n) in &old.nodes {
        if !new.nodes.contains_key(id) {
            out.push(event("node", "remove", &node_id(*id), &n.hostname, now_ms));
        }
    }
    let (a, b) = (networks(old), networks(new));
    for name in b.keys().filter(|n| !a.contains_key(*n)) {
        out.push(event("network", "create", &network_id(name), name, now_ms));
    }
    for name in a.keys().filter(|n| !b.contains_key(*n)) {
        out.push(event("network", "remove", &network_id(name), name, now_ms));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_model::{Command, NewService};
    use orc_spec::ServiceSpec;

    #[test]
    fn services_and_networks_coming_and_going() {
        let empty = ClusterState::default();
        let mut st = ClusterState::default();
        st.apply(&Command::DeployStack {
            stack: "web".into(),
            services: vec![NewService {
                id: "s1".into(),
                short_name: "app".into(),
                spec: ServiceSpec::new("a"),
            }],
            at: 1,
        });
        let ev = diff(&empty, &st, 5_000);
        let kinds: Vec<(String, String)> = ev
            .iter()
            .map(|e| (e["Type"].to_string(), e["Action"].to_string()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("\"service\"".into(), "\"create\"".into()),
                ("\"network\"".into(), "\"create\"".into())
            ]
        );
        assert_eq!(ev[0]["Actor"]["Attributes"]["name"], "web_app");
        assert_eq!(ev[0]["time"], 5);
        let back = diff(&st, &empty, 6_000);
        assert!(back.iter().all(|e| e["Action"] == "remove") && back.len() == 2);
        assert!(diff(&st, &st, 7_000).is_empty());
    }
}
