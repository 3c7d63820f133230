//! Placement preferences: spreading a service over the values of node labels.
mod support;

use orc_model::{ClusterState, Node};
use orc_scheduler::schedule;
use orc_spec::{PlacementPreference, ServiceSpec};
use std::collections::BTreeMap;
use support::*;

const NOW: u64 = 1_000;

fn labelled(id: u64, labels: &[(&str, &str)]) -> Node {
    let mut n = node(id);
    n.labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    n
}

fn spread(replicas: u32, labels: &[&str]) -> ServiceSpec {
    let mut s = replicated(replicas);
    s.placement.preferences = labels
        .iter()
        .map(|l| PlacementPreference::Spread {
            label: l.to_string(),
        })
        .collect();
    s
}

/// Tasks of every service per value of `label`, after settling.
fn per_value(s: &ClusterState, label: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for t in s.tasks.values() {
        if let Some(n) = t.node_id.and_then(|id| s.nodes.get(&id)) {
            let v = n.labels.get(label).cloned().unwrap_or_default();
            *m.entry(v).or_default() += 1;
        }
    }
    m
}

#[test]
fn spreads_over_label_values_not_nodes() {
    // Three rock5 boards and one rpi4: spreading over nodes would put 3 of 4 on rock5;
    // spreading over the board label puts 2 on each board type.
    let mut s = ClusterState::default();
    add_nodes(
        &mut s,
        vec![
            labelled(1, &[("board", "rock5")]),
            labelled(2, &[("board", "rock5")]),
            labelled(3, &[("board", "rock5")]),
            labelled(4, &[("board", "rpi4")]),
        ],
    );
    add_service(&mut s, "web", spread(4, &["board"]));
    settle(&mut s, NOW, &mut Ids::default());
    assert_eq!(
        per_value(&s, "board"),
        BTreeMap::from([("rock5".into(), 2), ("rpi4".into(), 2)])
    );
    // Within rock5, the two go to different boards.
    let on_rock5: Vec<u64> = s
        .tasks
        .values()
        .filter_map(|t| t.node_id)
        .filter(|n| *n != 4)
        .collect();
    assert_eq!(on_rock5.len(), 2);
    assert_ne!(on_rock5[0], on_rock5[1]);
}

#[test]
fn unlabelled_nodes_count_as_one_more_value_and_existing_tasks_count() {
    let mut s = ClusterState::default();
    add_nodes(
        &mut s,
        vec![
            labelled(1, &[("board", "a")]),
            labelled(2, &[("board", "b")]),
            node(3),
            node(4),
        ],
    );
    add_service(&mut s, "web", spread(3, &["board"]));
    settle(&mut s, NOW, &mut Ids::default());
    assert_eq!(
        per_value(&s, "board"),
        BTreeMap::from([("".into(), 1), ("a".into(), 1), ("b".into(), 1)])
    );
    // Scaling to 6 keeps the values even, counting the tasks already placed.
    update_service(&mut s, "web", |sp| {
        sp.mode = orc_model::ServiceMode::Replicated { replicas: 6 }
    });
    settle(&mut s, NOW, &mut Ids::default());
    assert_eq!(
        per_value(&s, "board"),
        BTreeMap::from([("".into(), 2), ("a".into(), 2), ("b".into(), 2)])
    );
}

#[test]
fn nested_preferences_and_full_nodes() {
    // rack x board: 2 racks, each with boards a and b; 8 tasks → 2 per (rack, board).
    let mut s = ClusterState::default();
    let mut nodes = Vec::new();
    for (id, rack, board) in [
        (1, "r1", "a"),
        (2, "r1", "b"),
        (3, "r1", "b"),
        (4, "r2", "a"),
        (5, "r2", "a"),
        (6, "r2", "b"),
    ] {
        nodes.push(labelled(id, &[("rack", rack), ("board", board)]));
    }
    add_nodes(&mut s, nodes);
    add_service(&mut s, "web", spread(8, &["rack", "board"]));
    settle(&mut s, NOW, &mut Ids::default());
    let mut by: BTreeMap<(String, String), usize> = BTreeMap::new();
    for t in s.tasks.values() {
        let n = &s.nodes[&t.node_id.unwrap()];
        *by.entry((n.labels["rack"].clone(), n.labels["board"].clone()))
            .or_default() += 1;
    }
    assert!(by.values().all(|c| *c == 2), "{by:?}");

    // A preference is soft: when the emptier value has no room, the task goes elsewhere.
    let mut s = ClusterState::default();
    let mut big = labelled(1, &[("board", "a")]);
    big.resources.memory_bytes = 8 * GIB;
    let mut small = labelled(2, &[("board", "b")]);
    small.resources.memory_bytes = GIB;
    add_nodes(&mut s, vec![big, small]);
    let mut sp = spread(4, &["board"]);
    sp.resources.reservations.memory_bytes = GIB;
    add_service(&mut s, "web", sp);
    settle(&mut s, NOW, &mut Ids::default());
    assert_eq!(
        per_value(&s, "board"),
        BTreeMap::from([("a".into(), 3), ("b".into(), 1)])
    );
    assert!(schedule(&s, NOW).pending.is_empty());
}
