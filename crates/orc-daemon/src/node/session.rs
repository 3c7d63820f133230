//! The session every node except the leader keeps with the leader: heartbeats up,
//! the node's task assignments, network and storage down (used by workers; managers
//! read their own replicated state). Reaching any manager is enough: it points to the
//! leader.

use crate::cluster::Cluster;
use crate::net::remote::Remote;
use orc_model::{ClusterState, NodeId, NodeRole};
use orc_rpc::pb::Frame;
use orc_rpc::wire::{SessionDown, SessionUp};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

pub struct SessionConfig {
    pub node_id: NodeId,
    pub heartbeat: Duration,
    pub remote: Remote,
    /// Set for managers: whom to talk to comes from Raft, and nothing is needed while
    /// this node leads.
    pub cluster: Option<Cluster>,
    /// Set for workers: where the assignments are published for the agent.
    pub assignments: Option<watch::Sender<Arc<ClusterState>>>,
    /// Set for workers: the role the leader says this node has.
    pub role: Option<watch::Sender<Option<NodeRole>>>,
    /// Set for workers: where the service directory is published for the node's DNS.
    pub directory: Option<watch::Sender<Arc<orc_model::Directory>>>,
    /// Set for workers: where the secret and config values the leader sends go.
    pub values: Option<Arc<crate::node::values::NodeValues>>,
}

pub async fn run(cfg: SessionConfig, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            return;
        }
        let target = match &cfg.cluster {
            Some(c) if c.is_leader() => None,
            Some(c) => c
                .leader_addr()
                .map(|(id, a)| (a, Some(id)))
                .or_else(|| cfg.remote.addresses().first().map(|a| (a.clone(), None))),
            None => cfg.remote.addresses().first().map(|a| (a.clone(), None)),
        };
        if let Some((addr, id)) = target {
            match one_session(&cfg, &addr, id, &mut stop).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::debug!("session with {addr}: {e}");
                    // Try the next manager next time.
                    if let Ok(mut m) = cfg.remote.managers.lock() {
                        if m.len() > 1 && m.first() == Some(&addr) {
                            m.rotate_left(1);
                        }
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => {}
        }
        backoff = (backoff * 2).min(Duration::from_millis(1000));
    }
}

async fn one_session(
    cfg: &SessionConfig,
    addr: &str,
    id: Option<NodeId>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let mut client = cfg.remote.dialer.client(addr, id)?;
    let (tx, rx) = mpsc::channel::<Frame>(4);
    let enc = |m: &SessionUp| {
        orc_rpc::encode(m)
            .map(|payload| Frame { payload })
            .map_err(|e| e.to_string())
    };
    tx.send(enc(&SessionUp::Hello {
        node_id: cfg.node_id,
    })?)
    .await
    .map_err(|e| e.to_string())?;
    let resp = client
        .session(ReceiverStream::new(rx))
        .await
        .map_err(|s| s.message().to_string())?;
    let mut inbound = resp.into_inner();
    let mut beat = tokio::time::interval(cfg.heartbeat);
    let mut lead_check = tokio::time::interval(Duration::from_millis(250));
    let mut epoch = cfg.remote.dialer.epoch();
    // The last assignments and wanted images, combined into the worker's state.
    let mut last: Option<ClusterState> = None;
    let mut wanted: Vec<String> = Vec::new();
    let publish = |st: &ClusterState, wanted: &[String]| {
        if let Some(tx) = &cfg.assignments {
            let mut st = st.clone();
            st.image_wants = wanted
                .iter()
                .map(|n| (n.clone(), [cfg.node_id].into_iter().collect()))
                .collect();
            tx.send_replace(Arc::new(st));
        }
    };
    let mut network: Option<orc_model::ClusterNetwork> = None;
    let mut nodes = std::collections::BTreeMap::new();
    let mut storage = orc_model::Storage::default();
    loop {
        tokio::select! {
            _ = beat.tick() => {
                if tx.send(enc(&SessionUp::Heartbeat)?).await.is_err() {
                    return Err("session closed".into());
                }
            }
            m = inbound.next() => {
                let f = match m {
                    Some(Ok(f)) => f,
                    Some(Err(s)) => return Err(s.message().to_string()),
                    None => return Err("leader closed the session".into()),
                };
                match orc_rpc::decode::<SessionDown>(&f.payload).map_err(|e| e.to_string())? {
                    SessionDown::Welcome { managers, .. } => {
                        // The leader's list is current (managers come and go); the
                        // address this session uses stays first.
                        if let Ok(mut m) = cfg.remote.managers.lock() {
                            if !managers.is_empty() {
                                *m = managers;
                                m.retain(|x| x != addr);
                                m.insert(0, addr.to_string());
                            }
                        }
                    }
                    SessionDown::Tasks { revision, tasks } => {
                        let mut st = ClusterState { revision, ..Default::default() };
                        st.tasks = tasks.into_iter().map(|t| (t.id.clone(), t)).collect();
                        st.network = network.clone();
                        st.nodes = nodes.clone();
                        st.storage = storage.clone();
                        if let Some(v) = &cfg.values {
                            v.keep_only(&st, cfg.node_id);
                        }
                        publish(&st, &wanted);
                        last = Some(st);
                    }
                    SessionDown::Images { names } => {
                        wanted = names;
                        if let Some(st) = &last {
                            publish(st, &wanted);
                        }
                    }
                    SessionDown::Role { role } => {
                        if let Some(tx) = &cfg.role {
                            tx.send_replace(Some(role));
                        }
                    }
                    SessionDown::Network { network: n, nodes: all, directory: dir } => {
                        if let Some(d) = &cfg.directory {
                            d.send_replace(Arc::new(dir));
                        }
                        network = n;
                        nodes = all.into_iter().map(|n| (n.id, n)).collect();
                        if let Some(st) = last.as_mut() {
                            st.network = network.clone();
                            st.nodes = nodes.clone();
                            publish(st, &wanted);
                        }
                    }
                    SessionDown::Storage(s) => {
                        storage = s;
                        if let Some(st) = last.as_mut() {
                            st.storage = storage.clone();
                            publish(st, &wanted);
                        }
                    }
                    SessionDown::Values(values) => {
                        if let Some(v) = &cfg.values {
                            v.receive(values);
                        }
                    }
                    SessionDown::NotLeader { leader } => {
                        if let Some(l) = leader {
                            cfg.remote.set_leader_hint(&l);
                        }
                        return Ok(());
                    }
                }
            }
            _ = lead_check.tick() => {
                if let Some(c) = &cfg.cluster {
                    let now = c.leader_addr().map(|l| l.0);
                    if c.is_leader() || (id.is_some() && now != id) {
                        return Ok(());
                    }
                }
            }
            _ = epoch.changed() => return Err("this node's address changed: reconnecting".into()),
            _ = stop.changed() => return Ok(()),
        }
    }
}
