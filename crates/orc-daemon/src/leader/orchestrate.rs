//! The leader-only loop: orchestrator (services → tasks) then scheduler (tasks → nodes).
//! It runs on every manager but acts only while this node leads.

use crate::cluster::Cluster;
use crate::util::{now_ms, random_id};
use orc_model::Command;
use std::time::Duration;
use tokio::sync::watch;

/// How often the manager loop looks while a rollout is under way.
const ROLLOUT_RESYNC: Duration = Duration::from_millis(250);

pub async fn run(
    cluster: Cluster,
    volumes: std::sync::Arc<crate::storage::NodeVolumes>,
    resync: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut state_rx = cluster.state.clone();
    let cfg = orc_scheduler::OrchestratorConfig::default();
    loop {
        if *stop.borrow() {
            return;
        }
        if cluster.is_leader() {
            if let Err(e) = pass(&cluster, &cfg, &volumes).await {
                tracing::warn!("manager pass: {e}");
            }
            if let Err(e) = crate::leader::membership::converge(&cluster).await {
                tracing::debug!("membership: {e}");
            }
            if let Err(e) = crate::leader::member_address::sync(&cluster).await {
                tracing::debug!("membership addresses: {e}");
            }
        }
        // A rollout moves on time (monitor, delay, deadlines), not only on changes:
        // look again soon while one is under way.
        let rolling = cluster.snapshot().services.values().any(|s| {
            s.rollout
                .update
                .as_ref()
                .is_some_and(|u| u.state.in_progress() && u.version == s.version)
        });
        let wait = if rolling {
            resync.min(ROLLOUT_RESYNC)
        } else {
            resync
        };
        tokio::select! {
            r = state_rx.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One round: orchestrate, commit; then schedule on the committed state, commit.
async fn pass(
    cluster: &Cluster,
    cfg: &orc_scheduler::OrchestratorConfig,
    volumes: &crate::storage::NodeVolumes,
) -> Result<(), crate::DaemonError> {
    let state = cluster.snapshot();
    let now = now_ms();
    if state.held {
        // A restored cluster: no task starts until `orc cluster resume`, but volume
        // attachments of the old (removed) nodes are fenced meanwhile.
        let plan = orc_scheduler::volume_claims(&state, &[], now);
        return crate::leader::fencing::fence(cluster, volumes, plan.fence).await;
    }
    let mut ids = random_id;
    let cmds = orc_scheduler::reconcile(&state, now, &mut ids, cfg);
    if !cmds.is_empty() {
        cluster.propose(Command::Batch(cmds)).await?;
    }
    let state = cluster.snapshot();
    let out = orc_scheduler::schedule(&state, now);
    // Volume claims go in the same entry as the placements they follow from.
    let plan = orc_scheduler::volume_claims(&state, &out.assignments, now);
    let mut cmds = out.into_commands(&state, now);
    cmds.extend(plan.commands);
    if !cmds.is_empty() {
        cluster.propose(Command::Batch(cmds)).await?;
    }
    crate::leader::fencing::fence(cluster, volumes, plan.fence).await?;
    let unfence = orc_scheduler::unfence_requests(&cluster.snapshot());
    crate::leader::fencing::unfence(cluster, volumes, unfence).await
}
