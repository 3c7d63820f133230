//! Image requests: `image pull` with progress, `image ls` across nodes, `image prune`.

use super::Ops;
use super::Progress;
use crate::cluster::registry_auth::PullAuth;
use crate::DaemonError;
use orc_api::ImageRow;
use orc_runtime::{normalize_reference, PullEvent, PullOptions};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Credentials as this node can open them (none on a worker or outside a cluster).
pub(super) fn auth(ops: &Ops) -> PullAuth {
    let auth = PullAuth::new(
        Some(ops.ca_keys.clone()),
        ops.cfg.insecure_registries.clone(),
    );
    if let Ok(c) = ops.cluster() {
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
    ops: &Ops,
    reference: &str,
    platform: Option<String>,
    progress: &Progress,
) -> Result<Value, DaemonError> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PullEvent>();
    let opts = PullOptions {
        registry: auth(ops).options(reference),
        platform,
        progress: Some(Arc::new(move |e| {
            let _ = tx.send(e);
        })),
    };
    progress.progress(format!("pulling {reference}")).await;
    let forward = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut last = HashMap::new();
            while let Some(e) = rx.recv().await {
                if let Some(line) = progress_line(&e, &mut last) {
                    progress.progress(line).await;
                }
            }
        })
    };
    let r = ops.runtime.pull_image(reference, &opts).await;
    drop(opts);
    let _ = forward.await;
    serde_json::to_value(image_row(r?)).map_err(|e| DaemonError::Invalid(e.to_string()))
}

/// `orc image ls`: this node's images and, in a cluster, which nodes hold each
/// (from the inventories nodes report), including images this node lacks.
pub async fn list(ops: &Ops) -> Result<Vec<ImageRow>, DaemonError> {
    let mut rows: Vec<ImageRow> = ops
        .runtime
        .list_images()
        .await?
        .into_iter()
        .map(image_row)
        .collect();
    let Ok(c) = ops.cluster() else {
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
pub async fn prune(ops: &Ops, keep: &[String]) -> Result<Pruned, DaemonError> {
    let mut wanted: std::collections::BTreeSet<String> =
        keep.iter().map(|k| normalize_reference(k)).collect();
    if let Ok(c) = ops.cluster() {
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
    for img in ops.runtime.list_images().await? {
        if wanted.contains(&img.name) {
            out.kept.push(img.name);
            continue;
        }
        match ops.runtime.remove_image(&img.name).await {
            Ok(()) => out.removed.push(img.name),
            Err(orc_runtime::RuntimeError::ImageInUse { .. }) => out.kept.push(img.name),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// An image of this node's containerd as a listing row (the nodes are filled in by
/// [`list`]).
pub(crate) fn image_row(i: orc_runtime::ImageInfo) -> ImageRow {
    ImageRow {
        name: i.name,
        digest: i.digest,
        size: i.size,
        platform: i.platform,
        nodes: Vec::new(),
    }
}

impl Ops {
    /// `orc image load FILE [--distribute]`.
    pub async fn image_load(
        &self,
        path: &std::path::Path,
        distribute: bool,
        progress: &Progress,
    ) -> Result<Vec<ImageRow>, DaemonError> {
        progress
            .progress(format!("importing {}", path.display()))
            .await;
        let images = self.runtime.import_archive(path).await?;
        if distribute {
            let names: Vec<String> = images.iter().map(|i| i.name.clone()).collect();
            super::spread::distribute(self, &names, progress).await?;
        }
        Ok(images.into_iter().map(image_row).collect())
    }

    /// `orc image rm REF` (this node's containerd).
    pub async fn image_rm(&self, reference: &str) -> Result<Value, DaemonError> {
        self.runtime.remove_image(reference).await?;
        Ok(serde_json::json!({ "removed": reference }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
