//! Pulling a task's image when it is missing on this node, and the short reason a
//! rejected task shows in `orc service ps` when that fails.

use super::AgentCtx;
use crate::net::images::PeerSource;
use orc_runtime::{normalize_reference, PullOptions, RegistryError, RuntimeError};

/// The `service ps` message for a failed pull.
pub fn reason(e: &RuntimeError) -> &'static str {
    match e {
        RuntimeError::Registry(r) => match r {
            RegistryError::NotFound(_) | RegistryError::InvalidReference(_) => "unknown image",
            RegistryError::Unauthorized(_) => "registry auth refused",
            RegistryError::PlatformMissing { .. } => "no image for this platform",
            RegistryError::Unreachable(_) | RegistryError::Tls(_) => "registry unreachable",
            RegistryError::Protocol(_) | RegistryError::Verification(_) => "bad registry answer",
        },
        _ => "image pull failed",
    }
}

/// Fetches `image` from the first peer that holds it (blobs verified as from a
/// registry). False if none could give it.
async fn from_peers(ctx: &AgentCtx, image: &str) -> bool {
    let Some(peers) = &ctx.peers else {
        return false;
    };
    let name = normalize_reference(image);
    for (dialer, addr, id) in peers() {
        let Ok(mut src) = PeerSource::new(&dialer, &addr, id) else {
            continue;
        };
        match ctx
            .runtime
            .pull_from(&mut src, &name, &name, &PullOptions::default())
            .await
        {
            Ok(info) => {
                tracing::info!(image, peer = %addr, digest = %info.digest, "fetched from a peer");
                return true;
            }
            Err(e) => tracing::debug!(image, peer = %addr, "not from this peer: {e}"),
        }
    }
    false
}

/// Gets `image` for this node's platform: from a peer that has it, else from its
/// registry; the error is (short reason, details). The task's restart policy then
/// retries it after its delay.
pub async fn pull_missing(ctx: &AgentCtx, image: &str) -> Result<(), (&'static str, String)> {
    if from_peers(ctx, image).await {
        return Ok(());
    }
    tracing::info!(image, "pulling a missing image");
    let opts = PullOptions {
        registry: ctx.registry.options(image),
        ..Default::default()
    };
    match ctx.runtime.pull_image(image, &opts).await {
        Ok(info) => {
            tracing::info!(image, digest = %info.digest, "pulled");
            Ok(())
        }
        Err(e) => {
            let short = reason(&e);
            let msg =
                format!("image {image} is on no peer and pulling it from its registry failed: {e}");
            tracing::warn!("{msg}");
            Err((short, msg))
        }
    }
}
