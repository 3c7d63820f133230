//! Automatic image garbage collection on this node: images no task here uses, that
//! aren't wanted here (`image load --distribute`, `image pull --node`) and that the
//! keep list (`orc daemon --image-gc-keep REF`) doesn't name (nor, on a manager,
//! any service) are removed once they
//! have been unused for the grace period (`--image-gc-grace`, counted from the
//! first sweep that found them unused). Sweeps run every `--image-gc-interval`
//! (0 = never) and whenever the set of images this node's tasks use shrinks (a
//! `stack rm`, a rolled-back update). An image a container still uses is kept.

use super::AgentCtx;
use orc_model::ClusterState;
use orc_runtime::normalize_reference;
use std::collections::{BTreeSet, HashMap};

pub use crate::config::ImageGcConfig;

/// What the sweeps remember between runs.
#[derive(Debug, Default)]
pub struct GcState {
    /// Unused image → when a sweep first saw it unused (ms since the epoch).
    pub unused_since: HashMap<String, u64>,
    /// When the last sweep started (ms since the epoch).
    pub last_sweep_ms: u64,
    /// The images in use at the last sweep.
    pub last_used: BTreeSet<String>,
}

/// The images this node must keep: its tasks', the wanted ones, the keep list and,
/// on a manager (whose state holds the services), every service's image, so the
/// managers stay peer sources for the images in use; normalized.
pub fn in_use(state: &ClusterState, node: u64, keep: &[String]) -> BTreeSet<String> {
    let mut used: BTreeSet<String> = keep.iter().map(|k| normalize_reference(k)).collect();
    used.extend(
        state
            .tasks_on_node(node)
            .map(|t| normalize_reference(&t.spec.image)),
    );
    used.extend(state.images_wanted_on(node).map(normalize_reference));
    used.extend(
        state
            .services
            .values()
            .map(|s| normalize_reference(&s.spec.image)),
    );
    used
}

/// One sweep's decision: updates `unused_since` for the images `present` now and
/// returns those unused for at least `grace_ms` at `now_ms`.
pub fn expired(
    gc: &mut GcState,
    present: &[String],
    used: &BTreeSet<String>,
    now_ms: u64,
    grace_ms: u64,
) -> Vec<String> {
    gc.unused_since
        .retain(|name, _| present.contains(name) && !used.contains(name));
    let mut out = Vec::new();
    for name in present.iter().filter(|n| !used.contains(*n)) {
        let since = *gc.unused_since.entry(name.clone()).or_insert(now_ms);
        if now_ms.saturating_sub(since) >= grace_ms {
            out.push(name.clone());
        }
    }
    out
}

/// Whether a sweep is due: the interval passed, or an image stopped being used.
fn due(gc: &GcState, used: &BTreeSet<String>, now_ms: u64, interval_ms: u64) -> bool {
    now_ms.saturating_sub(gc.last_sweep_ms) >= interval_ms || !gc.last_used.is_subset(used)
}

/// Starts a sweep in the background if one is due and none runs.
pub fn maybe_sweep(ctx: &std::sync::Arc<AgentCtx>, state: &ClusterState) {
    use std::sync::atomic::Ordering;
    let cfg = &ctx.image_gc;
    if cfg.interval.is_zero() {
        return;
    }
    let used = in_use(state, ctx.node_id, &cfg.keep);
    let now = crate::util::now_ms();
    {
        let Ok(mut gc) = ctx.gc.lock() else { return };
        if !due(&gc, &used, now, cfg.interval.as_millis() as u64) {
            return;
        }
        if ctx.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        gc.last_sweep_ms = now;
        gc.last_used = used.clone();
    }
    let ctx = ctx.clone();
    tokio::spawn(async move {
        sweep(&ctx, &used, now).await;
        ctx.sweeping.store(false, Ordering::Release);
    });
}

async fn sweep(ctx: &AgentCtx, used: &BTreeSet<String>, now: u64) {
    let present: Vec<String> = match ctx.runtime.list_images().await {
        Ok(l) => l.into_iter().map(|i| i.name).collect(),
        Err(e) => {
            tracing::debug!("image gc: listing images: {e}");
            return;
        }
    };
    let doomed = match ctx.gc.lock() {
        Ok(mut gc) => expired(
            &mut gc,
            &present,
            used,
            now,
            ctx.image_gc.grace.as_millis() as u64,
        ),
        Err(_) => return,
    };
    let mut removed = false;
    for name in doomed {
        match ctx.runtime.remove_image(&name).await {
            Ok(()) => {
                tracing::info!(image = %name, "image gc: removed an image no task here uses");
                removed = true;
                if let Ok(mut gc) = ctx.gc.lock() {
                    gc.unused_since.remove(&name);
                }
            }
            Err(orc_runtime::RuntimeError::ImageInUse { .. }) => {}
            Err(e) => tracing::warn!(image = %name, "image gc: {e}"),
        }
    }
    if removed {
        ctx.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_images_unused_for_the_grace_period_expire() {
        let mut gc = GcState::default();
        let present = vec!["a".to_string(), "b".to_string(), "k".to_string()];
        let used = set(&["a", "k"]);
        assert!(expired(&mut gc, &present, &used, 1_000, 5_000).is_empty());
        assert!(expired(&mut gc, &present, &used, 5_999, 5_000).is_empty());
        assert_eq!(expired(&mut gc, &present, &used, 6_000, 5_000), ["b"]);
        // Used again: its clock starts over once it is unused again.
        assert!(expired(&mut gc, &present, &set(&["a", "b", "k"]), 7_000, 5_000).is_empty());
        assert!(expired(&mut gc, &present, &used, 8_000, 5_000).is_empty());
        assert_eq!(expired(&mut gc, &present, &used, 13_000, 5_000), ["b"]);
        // Gone images are forgotten.
        assert!(expired(&mut gc, &["a".to_string()], &used, 14_000, 5_000).is_empty());
        assert!(gc.unused_since.is_empty());
    }

    #[test]
    fn a_sweep_is_due_after_the_interval_or_when_an_image_is_dropped() {
        let gc = GcState {
            last_sweep_ms: 10_000,
            last_used: set(&["a", "b"]),
            ..Default::default()
        };
        assert!(!due(&gc, &set(&["a", "b"]), 15_000, 10_000));
        assert!(!due(&gc, &set(&["a", "b", "c"]), 15_000, 10_000));
        assert!(due(&gc, &set(&["a"]), 15_000, 10_000));
        assert!(due(&gc, &set(&["a", "b"]), 20_000, 10_000));
    }

    #[test]
    fn tasks_wanted_images_and_the_keep_list_are_in_use() {
        let state = ClusterState::default();
        let used = in_use(&state, 1, &["busybox".to_string()]);
        assert_eq!(used, set(&["docker.io/library/busybox:latest"]));
    }
}
