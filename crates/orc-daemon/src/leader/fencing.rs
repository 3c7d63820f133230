//! The leader fences a down node off its single-writer volumes at Ceph (blocklists its
//! address: its writes fail from then on), records that in Raft, and only then does
//! the scheduler let the volume's task start elsewhere (the attachment pin holds it
//! until `FenceNode` clears it).

use crate::cluster::Cluster;
use crate::storage::NodeVolumes;
use orc_model::Command;
use orc_scheduler::FenceRequest;

/// Fences each request's node at Ceph, then commits `FenceNode`. A failure (Ceph
/// unreachable) is logged and retried on the next manager pass; the volume stays
/// pinned to the dead node meanwhile, so no two nodes ever write it.
pub async fn fence(
    cluster: &Cluster,
    volumes: &NodeVolumes,
    requests: Vec<FenceRequest>,
) -> Result<(), crate::DaemonError> {
    for r in requests {
        let state = cluster.snapshot();
        let Some(v) = state.storage.volumes.get(&r.volume) else {
            continue;
        };
        volumes.set_ceph(state.storage.ceph.as_ref());
        let started = std::time::Instant::now();
        match volumes.fence(&r.volume, &v.spec, &r.address).await {
            Ok(()) => {
                cluster
                    .propose(Command::FenceNode {
                        volume: r.volume.clone(),
                        node: r.node,
                        at: crate::util::now_ms(),
                    })
                    .await?;
                tracing::info!(
                    volume = %r.volume,
                    node = %crate::util::node_id_str(r.node),
                    address = %r.address,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "fenced a down node off a volume at Ceph"
                );
            }
            Err(e) => tracing::warn!(volume = %r.volume, "fencing {}: {e}", r.address),
        }
    }
    Ok(())
}

/// Lifts the blocklist entry of each returned node that released every volume it was
/// fenced off, then commits `Unfence` (it may attach Ceph volumes again). A failure
/// is logged and retried on the next pass; the node stays fenced meanwhile.
pub async fn unfence(
    cluster: &Cluster,
    volumes: &NodeVolumes,
    requests: Vec<orc_scheduler::UnfenceRequest>,
) -> Result<(), crate::DaemonError> {
    for r in requests {
        if unblocklist(cluster, volumes, &r).await {
            cluster.propose(Command::Unfence { node: r.node }).await?;
            tracing::info!(
                node = %crate::util::node_id_str(r.node),
                address = %r.address,
                "a fenced node released its volumes: lifted its blocklist entry"
            );
        }
    }
    Ok(())
}

/// Removes `r`'s blocklist entry at Ceph; a failure is logged (false).
async fn unblocklist(
    cluster: &Cluster,
    volumes: &NodeVolumes,
    r: &orc_scheduler::UnfenceRequest,
) -> bool {
    volumes.set_ceph(cluster.snapshot().storage.ceph.as_ref());
    match volumes.unblocklist(&r.address).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("lifting the blocklist entry of {}: {e}", r.address);
            false
        }
    }
}

/// Lifts the blocklist entries of nodes fenced off a volume that was then deleted
/// (see [`orc_scheduler::lift_after_removal`]); nothing to commit, as the volume's
/// fenced set went with it. A failure is logged: the entry then expires at Ceph.
pub async fn lift(
    cluster: &Cluster,
    volumes: &NodeVolumes,
    requests: Vec<orc_scheduler::UnfenceRequest>,
) {
    for r in requests {
        if unblocklist(cluster, volumes, &r).await {
            tracing::info!(
                node = %crate::util::node_id_str(r.node),
                address = %r.address,
                "its fenced volume was deleted: lifted its blocklist entry"
            );
        }
    }
}
