//! Reporting which images this node holds, so `orc image ls` can say where each
//! image is and the cluster knows which peers can share one.

use super::AgentCtx;
use orc_model::Command;
use std::collections::BTreeMap;

/// A failed report is tried again after this long.
const REPORT_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Reports the inventory in the background (one report at a time), so a slow or
/// quorum-less commit never holds up the agent's loop.
pub fn spawn_report(ctx: &std::sync::Arc<AgentCtx>) {
    use std::sync::atomic::Ordering;
    if ctx.writer.is_none() || ctx.reporting.swap(true, Ordering::AcqRel) {
        return;
    }
    let ctx = ctx.clone();
    tokio::spawn(async move {
        report(&ctx).await;
        ctx.reporting.store(false, Ordering::Release);
    });
}

/// Lists this node's images and, if that changed since the last successful report,
/// commits the new inventory.
async fn report(ctx: &std::sync::Arc<AgentCtx>) {
    let Some(writer) = &ctx.writer else { return };
    let images = match ctx.runtime.list_images().await {
        Ok(l) => l
            .into_iter()
            .map(|i| (i.name, i.digest))
            .collect::<BTreeMap<_, _>>(),
        Err(e) => {
            tracing::debug!("listing images for the inventory: {e}");
            return;
        }
    };
    let same = ctx
        .reported
        .lock()
        .map(|r| r.as_ref() == Some(&images))
        .unwrap_or(false);
    if same {
        return;
    }
    let cmd = Command::SetNodeImages {
        node: ctx.node_id,
        images: images.clone(),
    };
    match writer.propose(cmd).await {
        Ok(_) => {
            if let Ok(mut r) = ctx.reported.lock() {
                *r = Some(images);
            }
        }
        Err(e) => {
            tracing::debug!("reporting the image inventory: {e}");
            ctx.wake_after(REPORT_RETRY);
        }
    }
}
