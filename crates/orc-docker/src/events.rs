//! `/events`: orc's cluster events (the operations layer's history and live stream,
//! see `orc_metrics::events`) as Docker's swarm events: service, node, network, secret
//! and config; create, update, remove.

use crate::render::{network_id, node_id};
use orc_metrics::{Event, EventKind};
use serde_json::{json, Value};

/// `e` as Docker shows it, or `None` for what Docker has no swarm event for (tasks,
/// leader changes, VIP moves).
pub fn docker_event(e: &Event) -> Option<Value> {
    let (kind, action, id) = match e.kind {
        // A rollout's state change is an update whose `updatestate.new` says it.
        EventKind::Service => match e.action.as_str() {
            a @ ("create" | "update" | "remove") => ("service", a, e.id.clone()),
            _ => ("service", "update", e.id.clone()),
        },
        EventKind::Node => {
            let action = match e.action.as_str() {
                "join" => "create",
                "remove" => "remove",
                _ => "update",
            };
            let id = e.id.parse().map(node_id).unwrap_or_else(|_| e.id.clone());
            ("node", action, id)
        }
        EventKind::Network => ("network", e.action.as_str(), network_id(&e.id)),
        EventKind::Secret => ("secret", e.action.as_str(), e.id.clone()),
        EventKind::Config => ("config", e.action.as_str(), e.id.clone()),
        EventKind::Task | EventKind::Leader | EventKind::Vip => return None,
    };
    let mut attributes = serde_json::Map::new();
    attributes.insert("name".into(), Value::String(e.name.clone()));
    if kind == "service" && !matches!(e.action.as_str(), "create" | "update" | "remove") {
        attributes.insert("updatestate.new".into(), Value::String(e.action.clone()));
    }
    if kind == "node" && action == "update" {
        // What changed, as Docker's node events say it.
        let attr = |k: &str| e.attributes.get(k).cloned().unwrap_or_default();
        let changed: Vec<(&str, String)> = match e.action.as_str() {
            "availability" => vec![("availability.new", attr("availability"))],
            "role" => vec![("role.new", attr("role"))],
            "labels" | "address" => vec![],
            state => vec![
                ("state.new", state.to_string()),
                ("state.old", attr("from")),
            ],
        };
        for (k, v) in changed.into_iter().filter(|(_, v)| !v.is_empty()) {
            attributes.insert(k.into(), Value::String(v));
        }
    }
    Some(json!({
        "Type": kind,
        "Action": action,
        "Actor": { "ID": id, "Attributes": attributes },
        "scope": "swarm",
        "time": e.time / 1000,
        "timeNano": u128::from(e.time) * 1_000_000,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_model::{ClusterState, Command, NewService};
    use orc_spec::ServiceSpec;

    fn events(a: &ClusterState, b: &ClusterState, now: u64) -> Vec<Value> {
        orc_metrics::events::diff(a, b, now)
            .iter()
            .filter_map(docker_event)
            .collect()
    }

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
            at: 5_000,
        });
        let ev = events(&empty, &st, 5_000);
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
        assert_eq!(ev[1]["Actor"]["ID"], network_id("web_default"));
        let back = events(&st, &empty, 6_000);
        assert!(back.iter().all(|e| e["Action"] == "remove") && back.len() == 2);
        assert!(events(&st, &st, 7_000).is_empty());
    }

    #[test]
    fn secrets_created_updated_and_removed_never_with_their_value() {
        let put = |b: u8, mode| Command::PutValue {
            kind: orc_model::ValueKind::Secret,
            name: "db_pw".into(),
            id: "sid1".into(),
            revision: orc_model::SealedRevision {
                sealed: vec![b; 40],
                size: 8,
                created_at: 3,
            },
            mode,
            roll: true,
            stack: None,
            at: 4_000,
            labels: None,
        };
        let empty = ClusterState::default();
        let mut a = empty.clone();
        a.apply(&put(1, orc_model::PutMode::Create));
        let mut b = a.clone();
        b.apply(&put(2, orc_model::PutMode::Update));
        let mut c = b.clone();
        c.apply(&Command::RemoveValue {
            kind: orc_model::ValueKind::Secret,
            name: "db_pw".into(),
        });
        let seen: Vec<(String, String, String)> = [(&empty, &a), (&a, &b), (&b, &c)]
            .iter()
            .flat_map(|(x, y)| events(x, y, 9_000))
            .map(|e| {
                (
                    e["Type"].as_str().unwrap_or("").to_string(),
                    e["Action"].as_str().unwrap_or("").to_string(),
                    e["Actor"]["ID"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let want = |a: &str| ("secret".to_string(), a.to_string(), "sid1".to_string());
        assert_eq!(seen, [want("create"), want("update"), want("remove")]);
    }

    #[test]
    fn a_node_joining_and_drained_as_docker_names_it() {
        let e = Event::new(EventKind::Node, "join", "7", "board7", 1_000);
        let v = docker_event(&e).unwrap();
        assert_eq!(
            (v["Action"].as_str(), v["Actor"]["ID"].as_str()),
            (Some("create"), Some("0000000000000007"))
        );
        let e = Event::new(EventKind::Node, "availability", "7", "board7", 2_000)
            .attr("availability", "drain");
        let v = docker_event(&e).unwrap();
        assert_eq!(v["Action"], "update");
        assert_eq!(v["Actor"]["Attributes"]["availability.new"], "drain");
        let t = Event::new(EventKind::Task, "running", "t1", "web_app", 3_000);
        assert!(docker_event(&t).is_none());
        // A rollout's state: Docker's service update with `updatestate.new`.
        let r = Event::new(
            EventKind::Service,
            "rollback_started",
            "s1",
            "web_app",
            4_000,
        );
        let v = docker_event(&r).unwrap();
        assert_eq!(v["Action"], "update");
        assert_eq!(
            v["Actor"]["Attributes"]["updatestate.new"],
            "rollback_started"
        );
    }
}
