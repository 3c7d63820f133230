//! `orc volume ls/inspect/rm`, `orc cluster ceph set`, and the volume side of stack
//! deploy and rm.

use super::{views, Ops};
use crate::cluster::Cluster;
use crate::util::now_ms;
use crate::DaemonError;
use orc_api::VolumeRow;
use orc_model::{CephSetting, ClusterState, Command, Volume};
use orc_spec::StackSpec;
use serde_json::{json, Value};

/// Creates the stack's volumes that don't exist yet (before its services).
pub async fn ensure(cluster: &Cluster, stack: &StackSpec) -> Result<(), DaemonError> {
    if stack.volumes.is_empty() {
        return Ok(());
    }
    let r = cluster
        .propose(Command::EnsureVolumes {
            stack: stack.name.clone(),
            volumes: stack
                .volumes
                .iter()
                .map(|(n, s)| (n.clone(), s.clone()))
                .collect(),
            at: now_ms(),
        })
        .await?;
    match r.error() {
        Some(e) => Err(DaemonError::Apply(e.clone())),
        None => Ok(()),
    }
}

fn row(v: &Volume) -> VolumeRow {
    VolumeRow {
        name: v.name.clone(),
        driver: v.spec.driver.name().to_string(),
        size: v.spec.size_bytes,
        node: v
            .attachment
            .as_ref()
            .map(|a| a.node)
            .or(v.home_node)
            .map(views::node_id_str),
        since: v.attachment.as_ref().map(|a| a.since),
        fenced: v.fenced.iter().map(|n| views::node_id_str(*n)).collect(),
        stack: v.stack.clone(),
        created_at: v.created_at,
    }
}

/// `orc volume ls`.
pub fn list(state: &ClusterState) -> Vec<VolumeRow> {
    state.storage.volumes.values().map(row).collect()
}

/// `orc volume inspect NAME`.
pub fn inspect(state: &ClusterState, name: &str) -> Result<Value, DaemonError> {
    let v = state
        .storage
        .volumes
        .get(name)
        .ok_or_else(|| DaemonError::Invalid(format!("no volume named {name}")))?;
    serde_json::to_value(v).map_err(|e| DaemonError::Invalid(e.to_string()))
}

/// Services whose tasks still use the volume.
fn users(state: &ClusterState, name: &str) -> Vec<String> {
    let mut out: Vec<String> = state
        .tasks
        .values()
        .filter(|t| !t.status.state.is_terminal())
        .filter(|t| orc_scheduler::task_volumes(t).any(|v| v == name))
        .map(|t| t.service_name.clone())
        .chain(
            state
                .services
                .values()
                .filter(|s| {
                    s.spec
                        .mounts
                        .iter()
                        .any(|m| matches!(m, orc_spec::Mount::Volume { name: n, .. } if n == name))
                })
                .map(|s| s.name.clone()),
        )
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `orc volume rm NAME`: deletes the data, then forgets the volume.
pub async fn remove(ops: &Ops, name: &str) -> Result<Value, DaemonError> {
    let cluster = ops.cluster()?;
    let state = cluster.snapshot();
    let v = state
        .storage
        .volumes
        .get(name)
        .ok_or_else(|| DaemonError::Invalid(format!("no volume named {name}")))?;
    let users = users(&state, name);
    if !users.is_empty() {
        return Err(DaemonError::Invalid(format!(
            "volume {name} is in use by {}; remove those services first",
            users.join(", ")
        )));
    }
    if v.spec.driver.single_writer() {
        if let Some(a) = &v.attachment {
            return Err(DaemonError::Invalid(format!(
                "volume {name} is still attached on node {}; try again once it detached",
                views::node_id_str(a.node)
            )));
        }
    }
    ops.volumes.set_ceph(state.storage.ceph.as_ref());
    ops.volumes
        .delete(name, &v.spec)
        .await
        .map_err(|e| DaemonError::Invalid(format!("deleting volume {name}: {e}")))?;
    let fenced = v.fenced.clone();
    cluster
        .propose(Command::RemoveVolume {
            name: name.to_string(),
        })
        .await?;
    // Nodes fenced off this volume alone would stay blocklisted at Ceph (until the
    // entry expires) with nothing left to protect: lift their entries.
    let lift = orc_scheduler::lift_after_removal(&cluster.snapshot(), &fenced);
    crate::leader::fencing::lift(&cluster, &ops.volumes, lift).await;
    Ok(json!({ "removed": name }))
}

/// The volumes of `stack` (`orc stack rm --volumes`), once its services are gone.
pub async fn remove_stack_volumes(ops: &Ops, stack: &str) -> Result<Vec<String>, DaemonError> {
    let names: Vec<String> = ops
        .cluster()?
        .snapshot()
        .volumes_in_stack(stack)
        .map(|v| v.name.clone())
        .collect();
    for n in &names {
        // The leader releases a claim once the task's end (after its detach) is in.
        let released = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        while ops
            .cluster()?
            .snapshot()
            .storage
            .volumes
            .get(n)
            .is_some_and(|v| v.attachment.is_some() && v.spec.driver.single_writer())
            && tokio::time::Instant::now() < released
        {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        remove(ops, n).await?;
    }
    Ok(names)
}

/// `orc cluster ceph set`: checks the files and that Ceph answers with them from this
/// node, then commits the setting. The keyring is never echoed or logged.
pub async fn set_ceph(
    ops: &Ops,
    conf: String,
    keyring: String,
    user: String,
) -> Result<Value, DaemonError> {
    let user = user.strip_prefix("client.").unwrap_or(&user).to_string();
    if user.is_empty() || user.contains(char::is_whitespace) {
        return Err(DaemonError::Invalid(format!("invalid Ceph user {user:?}")));
    }
    if !conf.contains("mon host") && !conf.contains("mon_host") {
        return Err(DaemonError::Invalid(
            "the ceph.conf has no `mon host` line: nodes could not find the monitors".into(),
        ));
    }
    if !keyring.contains("key =") && !keyring.contains("key=") {
        return Err(DaemonError::Invalid(
            "the keyring holds no `key = …` line".into(),
        ));
    }
    let setting = CephSetting {
        conf,
        keyring,
        user,
    };
    let cluster = ops.cluster()?;
    // Probe with a private copy, so a bad setting changes nothing.
    let probe = crate::storage::NodeVolumes::new(&ops.cfg.data_dir.join("ceph-probe"));
    probe.set_ceph(Some(&setting));
    let health = probe.health().await;
    probe.forget();
    let health = health.map_err(|e| {
        DaemonError::Invalid(format!("Ceph does not answer with this setting: {e}"))
    })?;
    cluster
        .propose(Command::SetCeph(Some(setting.clone())))
        .await?;
    Ok(json!({ "user": setting.user, "health": health.trim() }))
}
