//! Listings: a table by default, the daemon's rows as JSON with --json.

use crate::output::{ago, bytes, json, table};
use orc_api::{ImageRow, NodeRow, ServiceRow, StackRow, TaskRow};
use serde::de::DeserializeOwned;
use serde_json::Value;

fn rows<T: DeserializeOwned>(v: Value) -> anyhow::Result<Vec<T>> {
    Ok(serde_json::from_value(v)?)
}

pub fn nodes(v: Value, as_json: bool) -> anyhow::Result<()> {
    let rs: Vec<NodeRow> = rows(v)?;
    if as_json {
        return json(&rs);
    }
    table(
        &[
            "ID",
            "HOSTNAME",
            "ROLE",
            "STATUS",
            "AVAILABILITY",
            "LEADER",
            "ADDRESS",
            "CPUS",
            "MEMORY",
        ],
        rs.into_iter()
            .map(|n| {
                vec![
                    n.id.get(..12).unwrap_or(&n.id).to_string(),
                    n.hostname,
                    n.role,
                    n.status,
                    n.availability,
                    if n.leader { "*".into() } else { String::new() },
                    n.address,
                    format!("{}", n.nano_cpus as f64 / 1e9),
                    bytes(n.memory_bytes),
                ]
            })
            .collect(),
    );
    Ok(())
}

pub fn stacks(v: Value, as_json: bool) -> anyhow::Result<()> {
    let rs: Vec<StackRow> = rows(v)?;
    if as_json {
        return json(&rs);
    }
    table(
        &["NAME", "SERVICES"],
        rs.into_iter()
            .map(|s| vec![s.name, s.services.to_string()])
            .collect(),
    );
    Ok(())
}

pub fn services(v: Value, as_json: bool) -> anyhow::Result<()> {
    let rs: Vec<ServiceRow> = rows(v)?;
    if as_json {
        return json(&rs);
    }
    table(
        &["ID", "NAME", "MODE", "REPLICAS", "IMAGE"],
        rs.into_iter()
            .map(|s| {
                vec![
                    s.id,
                    s.name,
                    s.mode,
                    format!("{}/{}", s.running, s.desired),
                    s.image,
                ]
            })
            .collect(),
    );
    Ok(())
}

pub fn tasks(v: Value, as_json: bool) -> anyhow::Result<()> {
    let rs: Vec<TaskRow> = rows(v)?;
    if as_json {
        return json(&rs);
    }
    // Earlier tasks of a slot (after its newest) are marked as its history, as
    // `docker service ps` does.
    let mut previous = String::new();
    table(
        &[
            "ID", "NAME", "NODE", "DESIRED", "CURRENT", "ADDRESS", "ERROR",
        ],
        rs.into_iter()
            .map(|t| {
                let name = if t.name == previous {
                    format!(" \\_ {}", t.name)
                } else {
                    previous = t.name.clone();
                    t.name
                };
                let why = match (&t.error, t.state.as_str()) {
                    (Some(e), _) => e.clone(),
                    (None, "pending") => t.message.clone(),
                    _ => String::new(),
                };
                vec![
                    t.id.get(..12).unwrap_or(&t.id).to_string(),
                    name,
                    t.node,
                    t.desired_state,
                    format!("{} {}", t.state, ago(t.since_secs)),
                    t.address.unwrap_or_else(|| "-".into()),
                    why,
                ]
            })
            .collect(),
    );
    Ok(())
}

pub fn images(v: Value, as_json: bool) -> anyhow::Result<()> {
    let rs: Vec<ImageRow> = rows(v)?;
    if as_json {
        return json(&rs);
    }
    let cluster = rs.iter().any(|i| !i.nodes.is_empty());
    let mut head = vec!["NAME", "DIGEST", "SIZE", "PLATFORM"];
    if cluster {
        head.push("NODES");
    }
    table(
        &head,
        rs.into_iter()
            .map(|i| {
                let mut row = vec![
                    i.name,
                    i.digest.get(..19).unwrap_or(&i.digest).to_string(),
                    if i.size == 0 {
                        "-".into()
                    } else {
                        bytes(i.size)
                    },
                    if i.platform.is_empty() {
                        "-".into()
                    } else {
                        i.platform
                    },
                ];
                if cluster {
                    row.push(i.nodes.join(","));
                }
                row
            })
            .collect(),
    );
    Ok(())
}
