//! A node fenced off a volume while it was away releases it when back: its mounts go
//! (see `Agent::reconcile`), its stale containers stop; then it reports the volume
//! released, and once every volume it was fenced off is, the leader lifts its
//! blocklist entry at Ceph.

use super::AgentCtx;
use orc_model::{ClusterState, Command, Task};
use std::collections::HashSet;
use std::sync::Arc;

/// The volumes this node still uses: those of tasks with a live worker or a container
/// here. `None` when a container no task owns is still being reaped (its volumes are
/// unknown, so none counts as released yet).
pub(super) fn volumes_in_use<'a>(
    mine: &std::collections::HashMap<&str, &Task>,
    live: impl Iterator<Item = &'a String>,
) -> Option<HashSet<String>> {
    let mut used = HashSet::new();
    for id in live {
        let t = mine.get(id.as_str())?;
        used.extend(orc_scheduler::task_volumes(t).map(String::from));
    }
    Some(used)
}

/// Reports each volume this node was fenced off, no longer mounts and no longer uses,
/// as released (once per volume at a time; a failed report is retried on the next
/// pass).
pub(super) fn report(ctx: &Arc<AgentCtx>, state: &ClusterState, used: &HashSet<String>) {
    let Some(writer) = &ctx.writer else { return };
    for v in state.storage.volumes.values() {
        let me = ctx.node_id;
        if !v.fenced.contains(&me)
            || v.released.contains(&me)
            || used.contains(&v.name)
            || ctx.volumes.is_attached(&v.name)
        {
            continue;
        }
        let Ok(mut busy) = ctx.releasing.lock() else {
            return;
        };
        if !busy.insert(v.name.clone()) {
            continue;
        }
        let (ctx, writer, name) = (ctx.clone(), writer.clone(), v.name.clone());
        tokio::spawn(async move {
            let cmd = Command::VolumeReleased {
                volume: name.clone(),
                node: ctx.node_id,
            };
            match writer.propose(cmd).await {
                Ok(_) => {
                    tracing::info!(volume = %name, "released a volume this node was fenced off")
                }
                Err(e) => {
                    tracing::warn!(volume = %name, "reporting the volume released: {e}");
                    // Tried again by the next pass.
                    ctx.wake_after(std::time::Duration::from_secs(2));
                }
            }
            if let Ok(mut busy) = ctx.releasing.lock() {
                busy.remove(&name);
            }
        });
    }
}
