//! The VIP's quorum guard: is this manager in the Raft majority right now?
//!
//! A node may hold the cluster's virtual IP only while it is in the majority:
//! - the **leader** while a quorum acknowledged it within [`LEASE`]: openraft 0.9's
//!   `RaftMetrics::millis_since_quorum_ack`, computed when the metrics were published,
//!   plus how long ago that was (openraft republishes metrics on every loop turn, at
//!   least every tick, so the sum grows while acks stop);
//! - a **follower** while it has a committed leader and heard from it within [`LEASE`]:
//!   `RaftState::vote_last_modified()`, which openraft touches on every accepted
//!   AppendEntries, heartbeats included (read with `Raft::with_raft_state`).
//!
//! Candidates, learners and a stopped Raft are never eligible. The check runs every
//! [`EVERY`], so a cut-off node becomes ineligible within `LEASE + EVERY` of the last
//! message from the majority: less than the 0.6–0.9 s election timeout, so the old holder
//! releases before the majority elects a new leader. The price: the majority's
//! followers also go ineligible `LEASE` after the old leader's last heartbeat, so when
//! the cut-off holder was the leader nobody holds the VIP until a new leader is elected.

use crate::cluster::Cluster;
use openraft::ServerState;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How recent the evidence of a majority must be: three Raft heartbeats (150 ms each).
///
/// A cut-off holder keeps the VIP for at most `LEASE + EVERY` after its last contact,
/// while the others take over one Master_Down_Interval (MDI) after its last advert;
/// two holders overlap for at most about `LEASE + EVERY + interval - MDI`, which stays
/// under one MDI down to 100 ms adverts (MDI 361 ms). A longer lease would tolerate a
/// slower machine but break that bound; a shorter one would flap between heartbeats.
pub const LEASE: Duration = Duration::from_millis(500);
/// How often eligibility is re-evaluated.
const EVERY: Duration = Duration::from_millis(50);

/// Starts the guard; the receiver says whether this node may hold the VIP. It closes
/// (which VRRP treats as ineligible) when `stop` turns true.
pub fn guard(cluster: Cluster, mut stop: watch::Receiver<bool>) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut metrics = cluster.raft.metrics();
        let mut received = Instant::now();
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                r = stop.wait_for(|s| *s) => { let _ = r; break; }
            }
            if metrics.has_changed().unwrap_or(false) {
                metrics.borrow_and_update();
                received = Instant::now();
            }
            let m = metrics.borrow().clone();
            let ok = match m.state {
                ServerState::Leader if m.current_leader == Some(cluster.node_id) => {
                    let voters = m.membership_config.membership().voter_ids().count();
                    voters <= 1
                        || m.millis_since_quorum_ack.is_some_and(|ms| {
                            Duration::from_millis(ms) + received.elapsed() < LEASE
                        })
                }
                ServerState::Follower if m.current_leader.is_some() => {
                    cluster.heard_leader_within(LEASE).await
                }
                _ => false,
            };
            tx.send_if_modified(|v| {
                if *v != ok {
                    tracing::info!(eligible = ok, state = ?m.state, "VIP quorum guard");
                    *v = ok;
                    true
                } else {
                    false
                }
            });
        }
    });
    rx
}
