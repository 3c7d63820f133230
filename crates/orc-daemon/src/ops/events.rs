//! The cluster's changes as events (`orc events`): every manager runs an
//! [`Observer`] that diffs each applied state against the previous one (orc-metrics'
//! pure `diff`), adds leader changes from Raft's metrics and its own VRRP state
//! changes, keeps the last ones for `--since` and hands new ones to live streams.

use super::{Ops, Progress};
use crate::cluster::Cluster;
use crate::util::now_ms;
use crate::vip::VipLocal;
use crate::DaemonError;
use orc_metrics::events::{diff, Event, EventKind, EventLog, Filter};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};

/// Events kept for `orc events --since` (about 1 MB at most).
const KEPT: usize = 4096;

pub struct Observer {
    log: Mutex<EventLog>,
    live: broadcast::Sender<Event>,
    leader_changes: AtomicU64,
}

impl Default for Observer {
    fn default() -> Self {
        Observer {
            log: Mutex::new(EventLog::new(KEPT)),
            live: broadcast::channel(1024).0,
            leader_changes: AtomicU64::new(0),
        }
    }
}

pub fn vrrp_name(s: orc_vrrp::State) -> &'static str {
    match s {
        orc_vrrp::State::Initialize => "initialize",
        orc_vrrp::State::Backup => "backup",
        orc_vrrp::State::Master => "master",
    }
}

impl Observer {
    fn record(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        for e in log.record(events) {
            // No subscriber is fine.
            let _ = self.live.send(e);
        }
    }

    /// The kept events in `[since, until]` and a receiver of every later one, with
    /// no gap between them (taken under the log's lock).
    fn subscribe(
        &self,
        since: u64,
        until: Option<u64>,
    ) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        (log.between(since, until), self.live.subscribe())
    }

    /// Leader changes this manager saw since the daemon started.
    pub fn leader_changes(&self) -> u64 {
        self.leader_changes.load(Ordering::Relaxed)
    }

    /// Runs while this node is a manager (started by the composition root).
    pub async fn run(
        self: Arc<Self>,
        cluster: Cluster,
        mut vip: watch::Receiver<VipLocal>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut state = cluster.state.clone();
        let mut prev = state.borrow_and_update().clone();
        let mut raft = cluster.raft.metrics();
        let mut leader = raft.borrow().current_leader;
        raft.borrow_and_update();
        let mut vrrp = vip.borrow_and_update().counters.as_ref().map(|c| c.state);
        let me = super::views::node_id_str(cluster.node_id);
        loop {
            tokio::select! {
                r = state.changed() => {
                    if r.is_err() {
                        return;
                    }
                    let next = state.borrow_and_update().clone();
                    self.record(diff(&prev, &next, now_ms()));
                    prev = next;
                }
                r = raft.changed() => {
                    if r.is_err() {
                        return;
                    }
                    let m = raft.borrow_and_update().clone();
                    if m.current_leader == leader {
                        continue;
                    }
                    leader = m.current_leader;
                    self.leader_changes.fetch_add(1, Ordering::Relaxed);
                    let (action, id) = match leader {
                        Some(l) => ("elected", super::views::node_id_str(l)),
                        None => ("lost", String::new()),
                    };
                    let host = leader
                        .and_then(|l| prev.nodes.get(&l).map(|n| n.hostname.clone()))
                        .unwrap_or_default();
                    let e = Event::new(EventKind::Leader, action, &id, &host, now_ms())
                        .attr("term", m.current_term)
                        .attr("seen_by", &me);
                    self.record(vec![e]);
                }
                r = vip.changed() => {
                    if r.is_err() {
                        return;
                    }
                    let local = vip.borrow_and_update().clone();
                    let now = local.counters.as_ref().map(|c| c.state);
                    if now == vrrp {
                        continue;
                    }
                    vrrp = now;
                    if let Some(s) = now {
                        let host = prev
                            .nodes
                            .get(&cluster.node_id)
                            .map(|n| n.hostname.clone())
                            .unwrap_or_default();
                        let addr = local.setting.map(|v| v.address).unwrap_or_default();
                        let e = Event::new(EventKind::Vip, vrrp_name(s), &me, &host, now_ms())
                            .attr("address", addr);
                        self.record(vec![e]);
                    }
                }
                _ = stop.changed() => {
                    if *stop.borrow() {
                        return;
                    }
                }
            }
        }
    }
}

impl Ops {
    /// `orc events`: the kept events from `since` (default: now), then new ones as
    /// they are recorded, until `until` or until the caller goes away.
    pub async fn events(
        &self,
        since: Option<u64>,
        until: Option<u64>,
        filter: &[String],
        p: &Progress,
    ) -> Result<(), DaemonError> {
        let filter = Filter::parse(filter).map_err(DaemonError::Invalid)?;
        // Only managers apply the state the events come from.
        self.cluster()?;
        let now = now_ms();
        let (kept, mut live) = self.observer.subscribe(since.unwrap_or(now), until);
        for e in kept.iter().filter(|e| filter.matches(e)) {
            if !p.cluster_event(e.clone()).await {
                return Ok(());
            }
        }
        let last_seq = kept.last().map(|e| e.seq).unwrap_or(0);
        if until.is_some_and(|u| u <= now) {
            return Ok(());
        }
        let deadline = until
            .map(|u| tokio::time::Instant::now() + Duration::from_millis(u.saturating_sub(now)));
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                r = live.recv() => match r {
                    Ok(e) => {
                        if e.seq <= last_seq || !filter.matches(&e) {
                            continue;
                        }
                        if until.is_some_and(|u| e.time > u) {
                            return Ok(());
                        }
                        if !p.cluster_event(e).await {
                            return Ok(());
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        p.progress(format!("{n} events were lost (read too slowly)")).await;
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                _ = tick.tick() => {
                    let past = deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
                    if p.closed() || past {
                        return Ok(());
                    }
                }
            }
        }
    }
}
