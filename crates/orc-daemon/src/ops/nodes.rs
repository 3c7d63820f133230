//! Node management requests.

use super::{views, Ops};
use crate::cluster::security;
use crate::leader::membership;
use crate::util::{now_ms, random_id};
use crate::DaemonError;
use orc_model::{Availability, ClusterState, Command, Guard, NodeId, NodeRole};
use serde_json::{json, Value};

/// A node by id (or unique id prefix) or hostname.
pub fn resolve(state: &ClusterState, s: &str) -> Result<NodeId, DaemonError> {
    let by_name: Vec<NodeId> = state
        .nodes
        .values()
        .filter(|n| n.hostname == s)
        .map(|n| n.id)
        .collect();
    if by_name.len() == 1 {
        return Ok(by_name[0]);
    }
    let by_id: Vec<NodeId> = state
        .nodes
        .keys()
        .copied()
        .filter(|id| views::node_id_str(*id).starts_with(&s.to_lowercase()))
        .collect();
    match (by_name.len(), by_id.len()) {
        (_, 1) if !s.is_empty() => Ok(by_id[0]),
        (0, 0) => Err(DaemonError::Invalid(format!("no node named {s}"))),
        _ => Err(DaemonError::Invalid(format!(
            "{s} names more than one node: use its id"
        ))),
    }
}

pub async fn join_token(ops: &Ops, role: &str, rotate: bool) -> Result<Value, DaemonError> {
    let role = match role {
        "worker" => NodeRole::Worker,
        "manager" => NodeRole::Manager,
        other => {
            return Err(DaemonError::Invalid(format!(
                "role must be worker or manager, not {other}"
            )))
        }
    };
    let cluster = ops.cluster()?;
    if rotate {
        cluster
            .propose(Command::RotateJoinToken {
                role,
                salt: random_id(),
            })
            .await?;
    }
    let state = cluster.snapshot();
    let info = state.cluster.as_ref().ok_or(DaemonError::NoCluster)?;
    let salt = match role {
        NodeRole::Manager => &info.manager_token_salt,
        NodeRole::Worker => &info.worker_token_salt,
    };
    let ca = ops.ca_keys.ca()?;
    let token = security::token(&ca, role, salt).to_string();
    let addr = cluster
        .leader_addr()
        .map(|l| l.1)
        .unwrap_or_else(|| ops.cfg.listen.clone());
    Ok(json!({ "role": role.as_str(), "token": token, "address": addr, "rotated": rotate }))
}

/// Changes a node's availability and labels in one entry; with `index` (the Docker
/// API's `?version=`), only if the node is still at that change index.
pub async fn update(
    ops: &Ops,
    node: &str,
    index: Option<u64>,
    availability: Option<String>,
    label_add: Vec<String>,
    label_rm: Vec<String>,
) -> Result<Value, DaemonError> {
    let cluster = ops.cluster()?;
    let state = cluster.snapshot();
    let id = resolve(&state, node)?;
    let Some(n) = state.nodes.get(&id) else {
        return Err(DaemonError::Invalid(format!("no node named {node}")));
    };
    let mut cmds = Vec::new();
    if let Some(a) = availability {
        let availability = match a.as_str() {
            "active" => Availability::Active,
            "pause" => Availability::Pause,
            "drain" => Availability::Drain,
            other => {
                return Err(DaemonError::Invalid(format!(
                    "availability must be active, pause or drain, not {other}"
                )))
            }
        };
        cmds.push(Command::SetNodeAvailability {
            id,
            availability,
            at: now_ms(),
        });
    }
    if !label_add.is_empty() || !label_rm.is_empty() {
        let mut labels = n.labels.clone();
        for l in &label_add {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            if k.is_empty() {
                return Err(DaemonError::Invalid(format!(
                    "--label-add {l}: expected KEY=VALUE"
                )));
            }
            labels.insert(k.to_string(), v.to_string());
        }
        for k in &label_rm {
            labels.remove(k);
        }
        cmds.push(Command::SetNodeLabels {
            id,
            labels,
            at: now_ms(),
        });
    }
    if cmds.is_empty() {
        return Err(DaemonError::Invalid(
            "nothing to update: give --availability, --label-add or --label-rm".into(),
        ));
    }
    cluster
        .propose(super::guarded(Guard::Node(id), index, Command::Batch(cmds)))
        .await?;
    Ok(json!({ "node": views::node_id_str(id) }))
}

pub async fn remove(ops: &Ops, node: &str, force: bool) -> Result<Value, DaemonError> {
    let cluster = ops.cluster()?;
    let state = cluster.snapshot();
    let id = resolve(&state, node)?;
    let n = state
        .nodes
        .get(&id)
        .cloned()
        .ok_or_else(|| DaemonError::Invalid(format!("no node named {node}")))?;
    if n.role == NodeRole::Manager {
        if !force {
            membership::check_quorum_without(&cluster, id)?;
        }
        if id == cluster.node_id {
            return Err(DaemonError::Invalid(
                "a manager cannot remove itself: run `orc node rm` on another manager".into(),
            ));
        }
        // The leader's membership janitor (`membership::converge`) takes a removed
        // node out of the Raft voters (joint consensus), from whichever manager this
        // runs on.
    } else if n.status == orc_model::NodeStatus::Ready && !force {
        return Err(DaemonError::Invalid(format!(
            "node {} is up: drain and stop it first, or use --force",
            n.hostname
        )));
    }
    cluster.propose(Command::RemoveNode { id }).await?;
    Ok(json!({ "removed": views::node_id_str(id) }))
}

impl Ops {
    /// `orc node ls`.
    pub fn node_ls(&self) -> Result<Vec<orc_api::NodeRow>, DaemonError> {
        let c = self.cluster()?;
        Ok(views::nodes(&c.snapshot(), c.leader()))
    }
}
