//! Registry credentials (`orc registry login/logout`) and pinning a stack's image
//! tags to digests at deploy.

use super::Ops;
use super::Progress;
use crate::cluster::registry_auth::seal;
use crate::DaemonError;
use orc_model::Command;
use orc_runtime::{resolve_digest, Credentials, ImageRef};
use orc_spec::StackSpec;
use serde_json::{json, Value};
use std::time::Duration;

/// A deploy waits at most this long per image for its registry to name a digest.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// `orc registry login`: seals the credentials on this manager and commits them.
pub async fn login(
    ops: &Ops,
    registry: &str,
    username: String,
    password: String,
) -> Result<Value, DaemonError> {
    let creds = Credentials { username, password };
    let host = registry_host(registry)?;
    let cluster = ops.cluster()?;
    let sealed =
        seal(&ops.ca_keys, &host, &creds).map_err(|e| DaemonError::Invalid(e.to_string()))?;
    cluster
        .propose(Command::SetRegistryAuth {
            registry: host.clone(),
            sealed: Some(sealed),
        })
        .await?;
    Ok(json!({ "registry": host, "username": creds.username }))
}

/// `orc registry logout`.
pub async fn logout(ops: &Ops, registry: &str) -> Result<Value, DaemonError> {
    let host = registry_host(registry)?;
    ops.cluster()?
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
/// node runs the same bits however the tag moves later; one line says which were
/// pinned. An image this node holds from `orc image load` came from no registry: it
/// keeps its tag and no registry is asked. A registry image that can't be resolved
/// keeps its tag too, with a line saying why.
pub async fn pin_images(ops: &Ops, stack: &mut StackSpec, progress: &Progress) {
    let auth = super::images::auth(ops);
    let mut pinned = Vec::new();
    for (name, spec) in stack.services.iter_mut() {
        let Ok(r) = ImageRef::parse(&spec.image) else {
            continue;
        };
        if r.digest.is_some() {
            continue;
        }
        match ops.runtime.image_was_loaded(&spec.image).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::debug!(image = %spec.image, "is it a loaded image? {e}"),
        }
        let opts = auth.options(&spec.image);
        match tokio::time::timeout(RESOLVE_TIMEOUT, resolve_digest(&spec.image, &opts)).await {
            Ok(Ok(d)) => {
                spec.image = r.pinned(&d).name();
                pinned.push(format!("{name} → {}", spec.image));
            }
            Ok(Err(e)) => {
                progress
                    .progress(format!("{name}: image {} not pinned ({e})", spec.image))
                    .await
            }
            Err(_) => {
                progress
                    .progress(format!(
                        "{name}: image {} not pinned (registry did not answer)",
                        spec.image
                    ))
                    .await
            }
        }
    }
    if !pinned.is_empty() {
        progress
            .progress(format!("pinned to registry digests: {}", pinned.join(", ")))
            .await;
    }
}

impl Ops {
    /// The manifest digest `image`'s registry names now (`sha256:…`), with the
    /// cluster's credentials for that registry.
    pub async fn image_digest(&self, image: &str) -> Result<String, DaemonError> {
        ImageRef::parse(image).map_err(|e| DaemonError::Invalid(format!("{image}: {e}")))?;
        let opts = super::images::auth(self).options(image);
        match tokio::time::timeout(RESOLVE_TIMEOUT, resolve_digest(image, &opts)).await {
            Ok(Ok(d)) => Ok(d),
            Ok(Err(e)) => Err(DaemonError::Invalid(format!("{image}: {e}"))),
            Err(_) => Err(DaemonError::Invalid(format!(
                "{image}: the registry did not answer"
            ))),
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
}
