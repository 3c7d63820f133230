//! Pulling a task's image when it is missing on this node, and the short reason a
//! rejected task shows in `orc service ps` when that fails.

use super::AgentCtx;
use orc_runtime::{PullOptions, RegistryError, RuntimeError};

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

/// Pulls `image` for this node's platform; the error is (short reason, details).
/// The task's restart policy then retries it after its delay.
pub async fn pull_missing(ctx: &AgentCtx, image: &str) -> Result<(), (&'static str, String)> {
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
            let msg = format!("image {image} is not on this node and pulling it failed: {e}");
            tracing::warn!("{msg}");
            Err((short, msg))
        }
    }
}
