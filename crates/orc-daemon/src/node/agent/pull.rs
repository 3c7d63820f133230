//! Pulling a task's image when it is missing on this node, and the short reason a
//! rejected task shows in `orc service ps` when that fails.

use super::AgentCtx;
use crate::node::peers::PeerSource;
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
    let mut list = peers(&name);
    // A worker knows only the managers: ask one which nodes hold the image, and try
    // those first.
    if let Some((dialer, addr, None)) = list.first().cloned() {
        if let Ok(mut m) = PeerSource::new(&dialer, &addr, None) {
            let holders = m.holders(&name).await;
            let found = holders
                .into_iter()
                .map(|(id, a)| (dialer.clone(), a, Some(id)));
            list = found.chain(list).collect();
        }
    }
    let mut tried = std::collections::HashSet::new();
    for (dialer, addr, id) in list {
        if !tried.insert(addr.clone()) {
            continue;
        }
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

/// The stored credentials for `image`'s registry, opened by a manager for this node
/// (workers hold no CA key) and handed over the mutual-TLS channel.
async fn credentials_from_peers(ctx: &AgentCtx, image: &str) -> Option<orc_runtime::Credentials> {
    let peers = ctx.peers.as_ref()?;
    let registry = orc_runtime::ImageRef::parse(image).ok()?.registry;
    // Only managers open credentials.
    for (dialer, addr, id) in peers("") {
        let Ok(mut src) = PeerSource::new(&dialer, &addr, id) else {
            continue;
        };
        if let Some(c) = src.credentials(&registry).await {
            return Some(c);
        }
    }
    None
}

/// Reports a pull's progress as the task's `preparing` message ("pulling IMAGE:
/// 3.1/7.9 MB"), at most once a second, so `stack deploy` and `service ps` show it.
fn task_progress(ctx: &AgentCtx, task: &str, image: &str) -> orc_runtime::PullProgress {
    let (reporter, task, image) = (ctx.reporter.clone(), task.to_string(), image.to_string());
    let last = std::sync::Mutex::new(None::<std::time::Instant>);
    let sizes = std::sync::Mutex::new(std::collections::HashMap::<String, (u64, u64)>::new());
    std::sync::Arc::new(move |e: orc_runtime::PullEvent| {
        let orc_runtime::PullEvent::Layer {
            digest,
            done,
            total,
            ..
        } = e
        else {
            return;
        };
        let Ok(mut sizes) = sizes.lock() else { return };
        sizes.insert(digest, (done, total));
        let (done, total) = sizes
            .values()
            .fold((0, 0), |(d, t), (ld, lt)| (d + ld, t + lt));
        let Ok(mut last) = last.lock() else { return };
        if last.is_some_and(|l| l.elapsed() < std::time::Duration::from_secs(1)) && done < total {
            return;
        }
        *last = Some(std::time::Instant::now());
        let msg = format!(
            "pulling {image}: {:.1}/{:.1} MB",
            done as f64 / 1e6,
            total as f64 / 1e6
        );
        let status =
            orc_model::TaskStatus::new(orc_model::TaskState::Preparing, crate::util::now_ms(), msg);
        reporter.report(&task, status);
    })
}

/// Gets `image` for this node's platform: from a peer that has it, else from its
/// registry, reporting progress on `task` if given; the error is (short reason
/// with the time of the next try, details). Failures back off per image (see
/// [`super::backoff`]); a success resets that.
pub async fn pull_missing(
    ctx: &AgentCtx,
    image: &str,
    task: Option<&str>,
) -> Result<(), (String, String)> {
    let r = fetch(ctx, image, task).await;
    let Ok(mut b) = ctx.backoff.lock() else {
        return r.map_err(|(short, msg)| (short.to_string(), msg));
    };
    match r {
        Ok(()) => {
            b.succeeded(image);
            Ok(())
        }
        Err((short, msg)) => {
            let next = b.failed(image, crate::util::now_ms(), short);
            let short = format!("{short} (next try {})", super::backoff::clock(next));
            Err((short, msg))
        }
    }
}

/// When a pull of `image` may be tried again and why it failed last, if that is
/// still ahead.
pub fn backing_off(ctx: &AgentCtx, image: &str) -> Option<(u64, String)> {
    let b = ctx.backoff.lock().ok()?;
    b.waiting(image, crate::util::now_ms())
        .map(|a| (a.next_ms, a.reason.clone()))
}

async fn fetch(
    ctx: &AgentCtx,
    image: &str,
    task: Option<&str>,
) -> Result<(), (&'static str, String)> {
    if from_peers(ctx, image).await {
        return Ok(());
    }
    tracing::info!(image, "pulling a missing image");
    let mut opts = PullOptions {
        registry: ctx.registry.options(image),
        progress: task.map(|t| task_progress(ctx, t, image)),
        ..Default::default()
    };
    if opts.registry.credentials.is_none() {
        opts.registry.credentials = credentials_from_peers(ctx, image).await;
    }
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

/// A wanted image present here is checked again after this long (a failed fetch
/// is retried after its backoff).
const WANT_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// Starts fetching every image the state wants on this node that it lacks (from a
/// peer, else the registry), one background task per image; a failure is logged
/// and retried after [`WANT_RETRY`].
pub fn fetch_wanted(ctx: &std::sync::Arc<AgentCtx>, state: &orc_model::ClusterState) {
    let now = std::time::Instant::now();
    for name in state.images_wanted_on(ctx.node_id) {
        let Ok(mut busy) = ctx.fetching.lock() else {
            return;
        };
        if busy.get(name).is_some_and(|until| *until > now) {
            continue;
        }
        // Busy until the fetch ends (then: retry time, or removed on success).
        busy.insert(
            name.to_string(),
            now + std::time::Duration::from_secs(86_400),
        );
        drop(busy);
        let (ctx, name) = (ctx.clone(), name.to_string());
        tokio::spawn(async move {
            // Absent, or its record is broken (content gone): fetch it (again).
            let (ok, fetched) = match ctx.runtime.get_image(&name).await {
                Ok(Some(_)) => (true, false),
                _ => match pull_missing(&ctx, &name, None).await {
                    Ok(()) => (true, true),
                    Err((_, msg)) => {
                        tracing::warn!("wanted image: {msg}");
                        (false, false)
                    }
                },
            };
            // Present: checked again (cheaply) by the first pass after the retry
            // time (an image removed here wakes the agent through containerd's
            // events); failed: retried after its backoff.
            let retry = match backing_off(&ctx, &name) {
                Some((next, _)) if !ok => {
                    std::time::Duration::from_millis(next.saturating_sub(crate::util::now_ms()))
                }
                _ => WANT_RETRY,
            };
            if let Ok(mut busy) = ctx.fetching.lock() {
                busy.insert(name, std::time::Instant::now() + retry);
            }
            if fetched {
                ctx.wake.notify_one();
            } else if !ok {
                ctx.wake_after(retry);
            }
        });
    }
}
