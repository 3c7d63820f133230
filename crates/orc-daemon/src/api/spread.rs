//! Putting an image on other nodes: `image load --distribute` (every node) and
//! `image pull --node` (one node), through `WantImage` in the state; the nodes fetch
//! from a peer (else the registry) and report their inventory, which this waits for.

use super::Sink;
use crate::{Daemon, DaemonError};
use orc_model::Command;
use orc_runtime::normalize_reference;
use serde_json::{json, Value};
use std::time::Duration;

/// How long `image load --distribute` and `image pull --node` wait for the nodes.
const SPREAD_TIMEOUT: Duration = Duration::from_secs(300);

/// Waits until every node in `nodes` reports holding `image`, with progress.
async fn wait_held(
    daemon: &Daemon,
    image: &str,
    nodes: &[orc_model::NodeId],
    sink: &Sink,
) -> Result<(), DaemonError> {
    let cluster = daemon.cluster()?;
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
            sink.progress(format!(
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
            r = state.changed() => if r.is_err() { return Err(DaemonError::Invalid("daemon stopping".into())) },
            _ = tokio::time::sleep_until(end) => {
                return Err(DaemonError::Invalid(format!(
                    "{image} is not on {} yet (their daemon logs say why); they keep trying",
                    missing.join(", ")
                )))
            }
        }
    }
}

/// `image load --distribute`: every node (now and joining later) should hold
/// `names`; they fetch them from a peer. Waits until the current ready nodes do.
pub async fn distribute(daemon: &Daemon, names: &[String], sink: &Sink) -> Result<(), DaemonError> {
    let cluster = daemon.cluster()?;
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
        wait_held(daemon, name, &ready, sink).await?;
    }
    Ok(())
}

/// `image pull --node NODE`: that node fetches the image (from a peer, else its
/// registry); waits until it reports holding it.
pub async fn pull_on(
    daemon: &Daemon,
    reference: &str,
    node: &str,
    sink: &Sink,
) -> Result<Value, DaemonError> {
    let cluster = daemon.cluster()?;
    let id = super::nodes::resolve(&cluster.snapshot(), node)?;
    let name = normalize_reference(reference);
    cluster
        .propose(Command::WantImage {
            image: name.clone(),
            nodes: [id].into_iter().collect(),
        })
        .await?;
    sink.progress(format!("{node} is fetching {name}")).await;
    wait_held(daemon, &name, &[id], sink).await?;
    let digest = cluster
        .snapshot()
        .node_images
        .get(&id)
        .and_then(|i| i.get(&name).cloned())
        .unwrap_or_default();
    Ok(json!({ "name": name, "digest": digest, "node": node }))
}
