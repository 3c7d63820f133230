//! Follows this node's address live (`--advertise auto`, the default): on every
//! rtnetlink IPv4 address event (and every [`PROBE_FALLBACK`]; every [`PROBE_EVERY`]
//! without events) it asks the kernel whether the advertised IP is still on an
//! interface and which source address it routes toward the other managers from;
//! [`crate::node::address_policy::next_address`] decides, and a changed address is
//! announced like a restart with `--advertise` would (a `PutNode` of the node's own
//! record; the leader's janitor then moves a manager's Raft membership address).

use crate::cluster::Cluster;
use crate::net::remote::Remote;
use crate::node::address_policy::{self, Probe};
use crate::util::now_ms;
use orc_model::{ClusterState, Command, Node, NodeId};
use orc_rpc::wire::ForwardRequest;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often the kernel is asked (two syscalls each, no packet sent) without
/// rtnetlink address events.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How often it is asked anyway while address events arrive.
const PROBE_FALLBACK: Duration = Duration::from_secs(2);
/// An address announced this recently is not announced again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Whether `ip` is on one of this node's interfaces (binding to it succeeds).
fn is_local(ip: IpAddr) -> bool {
    UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// The source address the kernel would use toward `peer` (a connected UDP socket:
/// a route lookup, nothing sent).
fn route_source(peer: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = if peer.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(any).ok()?;
    s.connect(peer).ok()?;
    Some(s.local_addr().ok()?.ip())
}

/// Probes the kernel about `advertised`, routing toward the first reachable peer.
fn probe(advertised: IpAddr, peers: &[SocketAddr]) -> Probe {
    Probe {
        advertised_is_local: is_local(advertised),
        route_source: peers.iter().find_map(|p| route_source(*p)),
    }
}

/// What both roles share: whether to announce now, remembering the last address
/// tried so a change is announced once (retried after [`RETRY_AFTER`] until the
/// record shows it).
struct Follower {
    attempted: Option<(SocketAddr, Instant)>,
}

impl Follower {
    /// The record to announce now, if the address changed (and was not just tried).
    fn check(&mut self, own: &Node, peers: &[SocketAddr]) -> Option<(Node, bool)> {
        let recorded = own.address.parse::<SocketAddr>().ok()?;
        let new = address_policy::next_address(recorded, probe(recorded.ip(), peers))?;
        let fresh_try = self.attempted.is_none_or(|(a, _)| a != new);
        if !fresh_try
            && self
                .attempted
                .is_some_and(|(_, t)| t.elapsed() < RETRY_AFTER)
        {
            return None;
        }
        if fresh_try {
            tracing::info!(old = %recorded, new = %new, "this node's address changed: re-advertising");
        }
        self.attempted = Some((new, Instant::now()));
        let mut n = own.clone();
        n.address = new.to_string();
        n.updated_at = now_ms().max(own.updated_at);
        Some((n, fresh_try))
    }
}

/// The kernel's address events, or (when they can't be had) nothing: then the
/// probe runs every [`PROBE_EVERY`].
fn subscribe() -> Option<orc_net::AddressEvents> {
    orc_net::AddressEvents::subscribe()
        .inspect_err(|e| tracing::info!("address events: {e}; polling every {PROBE_EVERY:?}"))
        .ok()
}

async fn next_event(events: &mut Option<orc_net::AddressEvents>) -> bool {
    match events {
        Some(e) => e.changed().await,
        None => std::future::pending().await,
    }
}

/// Waits for an address event or the probe period; `false` once the role stops.
async fn tick(
    stop: &mut watch::Receiver<bool>,
    events: &mut Option<orc_net::AddressEvents>,
) -> bool {
    let period = if events.is_some() {
        PROBE_FALLBACK
    } else {
        PROBE_EVERY
    };
    tokio::select! {
        _ = tokio::time::sleep(period) => {}
        open = next_event(events) => if !open { *events = None },
        _ = stop.changed() => {}
    }
    !*stop.borrow()
}

fn parse_all<'a>(addrs: impl IntoIterator<Item = &'a String>) -> Vec<SocketAddr> {
    addrs.into_iter().filter_map(|a| a.parse().ok()).collect()
}

/// How long a leader that moved waits for the nodes' sessions to find it again
/// before counting their heartbeats as missed (keepalive 2 + 2 s, then redirects).
const RECONNECT_GRACE: Duration = Duration::from_secs(10);

/// On a manager: re-advertise through Raft (forwarded to the leader when following).
pub(crate) async fn follow_manager(
    cfg: crate::DaemonConfig,
    keys: std::sync::Arc<crate::cluster::ca_key::CaKeys>,
    hold_off: Box<dyn Fn(Duration) + Send + Sync>,
    cluster: Cluster,
    mut stop: watch::Receiver<bool>,
) {
    let mut f = Follower { attempted: None };
    let mut events = subscribe();
    while tick(&mut stop, &mut events).await {
        let state = cluster.snapshot();
        let Some(own) = state.nodes.get(&cluster.node_id).cloned() else {
            continue;
        };
        // Toward the other managers first; a lone manager looks toward its workers.
        let mut peers = other_members(&cluster);
        peers.extend(
            state
                .nodes
                .values()
                .filter(|n| n.id != cluster.node_id)
                .map(|n| n.address.clone()),
        );
        let Some((node, fresh)) = f.check(&own, &parse_all(&peers)) else {
            continue;
        };
        if fresh {
            // Connections from the old address are dead: dial (and stream) anew.
            cluster.remote.dialer.reset();
            if cluster.is_leader() {
                hold_off(RECONNECT_GRACE);
            }
        }
        let address = node.address.clone();
        match propose_own(&cluster, node).await {
            Ok(_) => {
                tracing::info!(%address, "new address announced");
                crate::node::cert_readdress::reissue_logged(cfg.clone(), keys.clone(), address)
                    .await;
            }
            Err(e) => tracing::info!(%address, "announcing the new address: {e} (retrying)"),
        }
    }
}

/// Commits this manager's own record. A manager that moved may know no leader (the
/// leader's heartbeats go to its old address), so then it asks the other members,
/// following their "not leader" answers.
pub(crate) async fn propose_own(
    cluster: &Cluster,
    node: Node,
) -> Result<orc_model::CommandResult, crate::DaemonError> {
    if cluster.leader_addr().is_some() {
        return cluster.propose(Command::PutNode(node)).await;
    }
    if let Ok(mut m) = cluster.remote.managers.lock() {
        for a in other_members(cluster) {
            if !m.contains(&a) {
                m.push(a);
            }
        }
    }
    cluster
        .remote
        .forward(ForwardRequest::Command(Command::PutNode(node)), None)
        .await
}

/// The Raft members' addresses but this node's.
fn other_members(cluster: &Cluster) -> Vec<String> {
    let m = cluster.raft.metrics().borrow().membership_config.clone();
    m.membership()
        .nodes()
        .filter(|(id, _)| **id != cluster.node_id)
        .map(|(_, n)| n.addr.clone())
        .collect()
}

/// On a worker: re-advertise to the leader (which takes only the address from it).
pub(crate) async fn follow_worker(
    node_id: NodeId,
    remote: Remote,
    view: watch::Receiver<Arc<ClusterState>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut f = Follower { attempted: None };
    let mut events = subscribe();
    while tick(&mut stop, &mut events).await {
        let Some(own) = view.borrow().nodes.get(&node_id).cloned() else {
            continue;
        };
        let Some((node, fresh)) = f.check(&own, &parse_all(&remote.addresses())) else {
            continue;
        };
        if fresh {
            remote.dialer.reset();
        }
        let address = node.address.clone();
        match remote
            .forward(ForwardRequest::Command(Command::PutNode(node)), None)
            .await
        {
            Ok(_) => tracing::info!(%address, "new address announced"),
            Err(e) => tracing::info!(%address, "announcing the new address: {e} (retrying)"),
        }
    }
}
