//! Registry requests: `image pull` with progress, `registry login/logout`, and
//! pinning a stack's image tags to digests at deploy.

use super::Sink;
use crate::registry_auth::{seal, PullAuth};
use crate::{security, Daemon, DaemonError};
use orc_api::ImageRow;
use orc_model::Command;
use orc_runtime::{
    normalize_reference, resolve_digest, Credentials, ImageRef, PullEvent, PullOptions,
};
use orc_spec::StackSpec;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A deploy waits at most this long per image for its registry to name a digest.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Credentials as this node can open them (none on a worker or outside a cluster).
fn auth(daemon: &Daemon) -> PullAuth {
    let auth = PullAuth::new(security::pki_dir(&daemon.cfg));
    if let Ok(c) = daemon.cluster() {
        auth.update(&c.snapshot());
    }
    auth
}

/// Turns pull events into progress lines: each layer at every 25 %.
fn progress_line(e: &PullEvent, last: &mut HashMap<String, u64>) -> Option<String> {
    let short = |d: &str| {
        d.trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect::<String>()
    };
    match e {
        PullEvent::Resolved {
            digest,
            platform,
            layers,
        } => Some(format!(
            "resolved {} for {platform}, {layers} layer(s)",
            short(digest)
        )),
        PullEvent::Layer {
            digest,
            cached: true,
            ..
        } => Some(format!("layer {}: already present", short(digest))),
        PullEvent::Layer {
            digest,
            done,
            total,
            ..
        } => {
            let quarter = done.saturating_mul(4) / (*total).max(1);
            let prev = last.insert(digest.clone(), quarter);
            (prev != Some(quarter)).then(|| {
                format!(
                    "layer {}: {:.1}/{:.1} MB",
                    short(digest),
                    *done as f64 / 1e6,
                    *total as f64 / 1e6
                )
            })
        }
        PullEvent::Done => Some("unpacked".into()),
    }
}

/// `orc image pull`.
pub async fn pull(
    daemon: &Daemon,
    reference: &str,
    platform: Option<String>,
    sink: &Sink,
) -> Result<Value, DaemonError> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PullEvent>();
    let opts = PullOptions {
        registry: auth(daemon).options(reference),
        platform,
        progress: Some(Arc::new(move |e| {
            let _ = tx.send(e);
        })),
    };
    sink.progress(format!("pulling {reference}")).await;
    let forward = {
        let sink = sink.clone();
        tokio::spawn(async move {
            let mut last = HashMap::new();
            while let Some(e) = rx.recv().await {
                if let Some(line) = progress_line(&e, &mut last) {
                    sink.progress(line).await;
                }
            }
        })
    };
    let r = daemon.runtime.pull_image(reference, &opts).await;
    drop(opts);
    let _ = forward.await;
    serde_json::to_value(super::handlers::image_row(r?))
        .map_err(|e| DaemonError::Invalid(e.to_string()))
}

/// `orc image ls`: this node's images and, in a cluster, which nodes hold each
/// (from the inventories nodes report), including images this node lacks.
pub async fn list(daemon: &Daemon) -> Result<Vec<ImageRow>, DaemonError> {
    let mut rows: Vec<ImageRow> = daemon
        .runtime
        .list_images()
        .await?
        .into_iter()
        .map(super::handlers::image_row)
        .collect();
    let Ok(c) = daemon.cluster() else {
        return Ok(rows);
    };
    let state = c.snapshot();
    let mut holders: std::collections::BTreeMap<&str, (Vec<String>, &str)> = Default::default();
    // This node's own images are the live list, not its last report.
    for (node, images) in &state.node_images {
        let Some(n) = state.nodes.get(node).filter(|n| n.id != c.node_id) else {
            continue;
        };
        for (name, digest) in images {
            let e = holders.entry(name).or_insert((Vec::new(), digest));
            e.0.push(n.hostname.clone());
        }
    }
    let me = state.nodes.get(&c.node_id).map(|n| n.hostname.clone());
    for r in &mut rows {
        r.nodes.extend(me.clone());
        if let Some((nodes, _)) = holders.remove(r.name.as_str()) {
            r.nodes.extend(nodes);
        }
        r.nodes.sort();
    }
    for (name, (nodes, digest)) in holders {
        rows.push(ImageRow {
            name: name.to_string(),
            digest: digest.to_string(),
            size: 0,
            platform: String::new(),
            nodes,
        });
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

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

/// `orc registry login`: seals the credentials on this manager and commits them.
pub async fn login(
    daemon: &Daemon,
    registry: &str,
    creds: Credentials,
) -> Result<Value, DaemonError> {
    let host = registry_host(registry)?;
    let cluster = daemon.cluster()?;
    let sealed = seal(&security::pki_dir(&daemon.cfg), &host, &creds)
        .map_err(|e| DaemonError::Invalid(e.to_string()))?;
    cluster
        .propose(Command::SetRegistryAuth {
            registry: host.clone(),
            sealed: Some(sealed),
        })
        .await?;
    Ok(json!({ "registry": host, "username": creds.username }))
}

/// `orc registry logout`.
pub async fn logout(daemon: &Daemon, registry: &str) -> Result<Value, DaemonError> {
    let host = registry_host(registry)?;
    daemon
        .cluster()?
        .propose(Command::SetRegistryAuth {
            registry: host.clone(),
            sealed: None,
        })
        .await?;
    Ok(json!({ "registry": host, "removed": true }))
}

/// A registry host as image names spell it (`docker.io` for Docker Hub).
fn registry_host(registry: &str) -> Result<String, DaemonError> {
    let r = registry
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let r = r.trim_end_matches('/');
    let r = match r {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        r => r,
    };
    ImageRef::parse(&format!("{r}/x"))
        .ok()
        .filter(|i| i.registry == r && !r.is_empty())
        .map(|i| i.registry)
        .ok_or_else(|| DaemonError::Invalid(format!("{registry:?} is not a registry host")))
}

/// Pins every service's image tag to the digest its registry names now, so every
/// node runs the same bits however the tag moves later. An image whose registry
/// can't be asked (e.g. one loaded with `orc image load`) keeps its tag.
pub async fn pin_images(daemon: &Daemon, stack: &mut StackSpec, sink: &Sink) {
    let auth = auth(daemon);
    for (name, spec) in stack.services.iter_mut() {
        let Ok(r) = ImageRef::parse(&spec.image) else {
            continue;
        };
        if r.digest.is_some() {
            continue;
        }
        let opts = auth.options(&spec.image);
        match tokio::time::timeout(RESOLVE_TIMEOUT, resolve_digest(&spec.image, &opts)).await {
            Ok(Ok(d)) => {
                spec.image = r.pinned(&d).name();
                sink.progress(format!("{name}: image pinned to {}", spec.image))
                    .await;
            }
            Ok(Err(e)) => {
                sink.progress(format!("{name}: image {} not pinned ({e})", spec.image))
                    .await
            }
            Err(_) => {
                sink.progress(format!(
                    "{name}: image {} not pinned (registry did not answer)",
                    spec.image
                ))
                .await
            }
        }
    }
}

/// What `orc image prune` did.
#[derive(Debug, serde::Serialize)]
pub struct Pruned {
    /// Images removed.
    pub removed: Vec<String>,
    /// Images kept: used by a service, by a container, or named in the keep list.
    pub kept: Vec<String>,
}

/// `orc image prune`: garbage-collects this node's images that no service (in the
/// replicated state, on a manager) uses, that aren't wanted on nodes (`--distribute`,
/// `pull --node`), and that the keep list doesn't name. An image a
/// container was created from is never removed (containerd's record says so).
pub async fn prune(daemon: &Daemon, keep: &[String]) -> Result<Pruned, DaemonError> {
    let mut wanted: std::collections::BTreeSet<String> =
        keep.iter().map(|k| normalize_reference(k)).collect();
    if let Ok(c) = daemon.cluster() {
        let state = c.snapshot();
        wanted.extend(
            state
                .services
                .values()
                .map(|s| normalize_reference(&s.spec.image)),
        );
        wanted.extend(
            state
                .tasks
                .values()
                .map(|t| normalize_reference(&t.spec.image)),
        );
        wanted.extend(state.image_wants.keys().cloned());
    }
    let mut out = Pruned {
        removed: Vec::new(),
        kept: Vec::new(),
    };
    for img in daemon.runtime.list_images().await? {
        if wanted.contains(&img.name) {
            out.kept.push(img.name);
            continue;
        }
        match daemon.runtime.remove_image(&img.name).await {
            Ok(()) => out.removed.push(img.name),
            Err(orc_runtime::RuntimeError::ImageInUse { .. }) => out.kept.push(img.name),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts() {
        assert_eq!(registry_host("r.lan:5000").unwrap(), "r.lan:5000");
        assert_eq!(
            registry_host("https://index.docker.io/").unwrap(),
            "docker.io"
        );
        assert!(registry_host("not a host").is_err());
    }

    #[test]
    fn layer_progress_every_quarter() {
        let mut last = HashMap::new();
        let ev = |done| PullEvent::Layer {
            digest: "sha256:abc".into(),
            done,
            total: 100,
            cached: false,
        };
        let lines: Vec<_> = [1, 10, 30, 60, 99, 100]
            .into_iter()
            .filter_map(|d| progress_line(&ev(d), &mut last))
            .collect();
        assert_eq!(lines.len(), 5, "{lines:?}");
    }
}
