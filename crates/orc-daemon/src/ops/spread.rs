//! Putting an image on other nodes: `image load --distribute` (every node) and
//! `image pull --node` (one node), through `WantImage` in the state; the nodes fetch
//! from a peer (else the registry) and report their inventory, which this waits for.

use super::Ops;
use super::Progress;
use crate::DaemonError;
use orc_model::Command;
use orc_runtime::normalize_reference;
use serde_json::{json, Value};
use std::time::Duration;

/// How long `image load --distribute` and `image pull --node` wait for the nodes.
const SPREAD_TIMEOUT: Duration = Duration::from_secs(300);

/// Waits until every node in `nodes` reports holding `image`, with progress.
async fn wait_held(
    ops: &Ops,
    image: &str,
    nodes: &[orc_model::NodeId],
    progress: &Progress,
) -> Result<(), DaemonError> {
    let cluster = ops.cluster()?;
    let mut state = cluster.state.clone();
    let end = tokio::time::Instant::now() + SPREAD_TIMEOUT;
    let mut last = usize::MAX;
    loop {
        let missing: Vec<String> = {
            let st = state.borrow_and_update();
            nodes
                .iter()
                .filter(|n| !st.node_images.get(n).is_some_and(|i| i.contains_key(image)))
                .map(|n| {
                    st.nodes
                        .get(n)
                        .map_or_else(|| format!("{n:016x}"), |n| n.hostname.clone())
                })
                .collect()
        };
        if missing.len() != last {
            last = missing.len();
            progress
                .progress(format!(
                    "{image}: on {}/{} node(s)",
                    nodes.len() - missing.len(),
                    nodes.len()
                ))
                .await;
        }
        if missing.is_empty() {
            return Ok(());
        }
        tokio::select! {
            r = state.changed() => if r.is_err() { return Err(DaemonError::Invalid("ops stopping".into())) },
            _ = tokio::time::sleep_until(end) => {
                return Err(DaemonError::Invalid(format!(
                    "{image} is not on {} yet (their ops logs say why); they keep trying",
                    missing.join(", ")
                )))
            }
        }
    }
}

/// `image load --distribute`: every node (now and joining later) should hold
/// `names`; they fetch them from a peer. Waits until the current ready nodes do.
pub async fn distribute(
    ops: &Ops,
    names: &[String],
    progress: &Progress,
) -> Result<(), DaemonError> {
    let cluster = ops.cluster()?;
    for name in names {
        cluster
            .propose(Command::WantImage {
                image: name.clone(),
                nodes: Default::default(),
            })
            .await?;
    }
    let ready: Vec<orc_model::NodeId> = cluster
        .snapshot()
        .nodes
        .values()
        .filter(|n| n.status == orc_model::NodeStatus::Ready)
        .map(|n| n.id)
        .collect();
    for name in names {
        wait_held(ops, name, &ready, progress).await?;
    }
    Ok(())
}

/// `image pull --node NODE [--platform P]`: a node pulls its own platform only.
pub async fn pull_on_node(
    ops: &Ops,
    reference: &str,
    platform: Option<String>,
    node: &str,
    progress: &Progress,
) -> Result<Value, DaemonError> {
    if platform.is_some() {
        return Err(DaemonError::Invalid(
            "--platform and --node don't go together: a node pulls its own platform".into(),
        ));
    }
    pull_on(ops, reference, node, progress).await
}

/// `image pull --node NODE`: that node fetches the image (from a peer, else its
/// registry); waits until it reports holding it.
pub async fn pull_on(
    ops: &Ops,
    reference: &str,
    node: &str,
    progress: &Progress,
) -> Result<Value, DaemonError> {
    let cluster = ops.cluster()?;
    let id = super::nodes::resolve(&cluster.snapshot(), node)?;
    let name = normalize_reference(reference);
    cluster
        .propose(Command::WantImage {
            image: name.clone(),
            nodes: [id].into_iter().collect(),
        })
        .await?;
    progress
        .progress(format!("{node} is fetching {name}"))
        .await;
    wait_held(ops, &name, &[id], progress).await?;
    let digest = cluster
        .snapshot()
        .node_images
        .get(&id)
        .and_then(|i| i.get(&name).cloned())
        .unwrap_or_default();
    Ok(json!({ "name": name, "digest": digest, "node": node }))
}
