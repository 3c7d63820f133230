//! Listings: a table by default, the daemon's rows as JSON with --json.

use crate::output::{ago, bytes, json, table};
use orc_api::{ImageRow, NodeRow, RevisionRow, ServiceInspect, ServiceRow, StackRow, TaskRow};
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
        &["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "UPDATE"],
        rs.into_iter()
            .map(|s| {
                vec![
                    s.id,
                    s.name,
                    s.mode,
                    format!("{}/{}", s.running, s.desired),
                    s.image,
                    s.update.unwrap_or_default(),
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
                let current = format!("{} {}", state_with_health(&t), ago(t.since_secs));
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
                    current,
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

/// "running (healthy)", "running (starting)", "running (unhealthy, 3 failing)": the
/// task's state with its health, when it has a check and runs.
fn state_with_health(t: &TaskRow) -> String {
    match &t.health {
        Some(h) if t.state == "running" => {
            if h.failing_streak > 0 {
                format!("{} ({}, {} failing)", t.state, h.state, h.failing_streak)
            } else {
                format!("{} ({})", t.state, h.state)
            }
        }
        _ => t.state.clone(),
    }
}

/// HH:MM:SS (UTC) of `ms` since the epoch.
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600 % 24, s / 60 % 60, s % 60)
}

/// `orc service inspect`: JSON with --json, else the service, its health check and
/// each task's last probe results.
pub fn service_inspect(v: Value, as_json: bool) -> anyhow::Result<()> {
    let si: ServiceInspect = serde_json::from_value(v)?;
    if as_json {
        return json(&si);
    }
    let s = &si.service;
    println!("Service:   {} ({})", s.name, s.id);
    println!("Stack:     {}", s.stack);
    println!("Mode:      {}, {}/{} running", s.mode, s.running, s.desired);
    println!("Image:     {}", s.image);
    println!("Version:   {}", s.version);
    match &si.spec.healthcheck {
        Some(h) => {
            let ms = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{v}ms"));
            println!(
                "Health:    {} (interval {}, timeout {}, retries {}, start_period {}, start_interval {}, restart_on_unhealthy {})",
                h.test.as_ref().map_or("(the image's)".to_string(), |t| format!("{t:?}")),
                ms(h.interval_ms),
                ms(h.timeout_ms),
                h.retries.map_or("-".to_string(), |r| r.to_string()),
                ms(h.start_period_ms),
                ms(h.start_interval_ms),
                h.restart_on_unhealthy,
            );
        }
        None => println!("Health:    the image's check, if it has one"),
    }
    match &si.update {
        None => println!("Update:    none yet"),
        Some(u) => {
            println!(
                "Update:    {} (revision {} -> {}), started {}{}",
                u.state,
                u.from,
                u.to,
                ms_ago(u.started_at),
                u.ended_at
                    .map(|e| format!(", ended {}", ms_ago(e)))
                    .unwrap_or_default()
            );
            if !u.message.is_empty() {
                println!("  Message: {}", u.message);
            }
        }
    }
    println!("Revisions:");
    for r in &si.revisions {
        println!(
            "  {:>4}{} {} {}{}",
            r.revision,
            if r.current { "*" } else { " " },
            r.image,
            if r.stable { "stable" } else { "not stable" },
            if r.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.note)
            }
        );
    }
    println!("Tasks:");
    for t in &si.tasks {
        println!(
            "  {}  {}  {}  {}",
            t.id.get(..12).unwrap_or(&t.id),
            t.name,
            t.node,
            state_with_health(t)
        );
        if let Some(e) = &t.error {
            println!("      error: {e}");
        }
        if let Some(h) = &t.health {
            for r in &h.log {
                let out: String = r.output.split_whitespace().collect::<Vec<_>>().join(" ");
                println!(
                    "      {}  exit {:>3}  {:>5} ms  {}",
                    clock(r.started_ms),
                    r.exit_code,
                    r.ended_ms.saturating_sub(r.started_ms),
                    out
                );
            }
        }
    }
    Ok(())
}
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn ms_ago(at: u64) -> String {
    ago(now_ms().saturating_sub(at) / 1000)
}

/// `orc service history`.
pub fn history(v: Value, as_json: bool) -> anyhow::Result<()> {
    let rs: Vec<RevisionRow> = rows(v)?;
    if as_json {
        return json(&rs);
    }
    table(
        &["REVISION", "CREATED", "IMAGE", "STABLE", "NOTE"],
        rs.into_iter()
            .map(|r| {
                vec![
                    if r.current {
                        format!("{} (current)", r.revision)
                    } else {
                        r.revision.to_string()
                    },
                    ms_ago(r.created_at),
                    r.image,
                    if r.stable { "yes" } else { "no" }.into(),
                    r.note,
                ]
            })
            .collect(),
    );
    Ok(())
}

/// What `orc service update` / `rollback` ended with.
pub fn rolled(v: &Value, detached: bool) {
    let name = v["service"].as_str().unwrap_or_default();
    let version = v["version"].as_u64().unwrap_or_default();
    match (detached, v["update"].as_str()) {
        (true, _) => println!("{name}: version {version} committed; rolling out"),
        (false, Some(state)) => println!("{name}: version {version}, {state}"),
        (false, None) => println!("{name}: version {version}"),
    }
}
