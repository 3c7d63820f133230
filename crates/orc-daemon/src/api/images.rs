//! Registry requests: `image pull` with progress, `registry login/logout`, and
//! pinning a stack's image tags to digests at deploy.

use super::Sink;
use crate::registry_auth::{seal, PullAuth};
use crate::{security, Daemon, DaemonError};
use orc_api::ImageRow;
use orc_model::Command;
use orc_runtime::{resolve_digest, Credentials, ImageRef, PullEvent, PullOptions};
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
    let i = r?;
    serde_json::to_value(ImageRow {
        name: i.name,
        digest: i.digest,
        size: i.size,
        platform: i.platform,
    })
    .map_err(|e| DaemonError::Invalid(e.to_string()))
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
