//! Switching this node between manager and worker while the daemon runs (`orc node
//! promote`, `orc node demote`) and leaving the cluster (`orc cluster leave`).
//!
//! A switch is a clean restart of the role's components inside the daemon: the current
//! ones are stopped (the VIP handed over, the agent detached from its containers, which
//! keep running, Raft shut down) and the other role's are started with the same node
//! id; the new agent adopts the containers. The role itself is cluster state
//! (`Command::SetNodeRole`): the leader's membership janitor turns it into Raft
//! membership (joint consensus), and the node follows it:
//!
//! - demoted: once its role is worker and it is no longer a voter, it wipes its Raft
//!   copy and the CA key and starts a worker session;
//! - promoted: its session reports the manager role; it fetches a manager certificate
//!   (name `orc-manager`) and the CA key from the leader, starts Raft on an empty log,
//!   and asks the leader to make it a learner, then a voter.

use super::Daemon;
use crate::cluster::identity;
use crate::cluster::security;
use crate::cluster::Cluster;
use crate::net::dialer::NetDialer;
use crate::net::remote::Remote;
use crate::DaemonError;
use orc_model::NodeRole;
use orc_rpc::wire::{ForwardReply, ForwardRequest};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

fn take<T>(m: &std::sync::Mutex<Option<T>>) -> Option<T> {
    m.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// Waits for a component's task, then cancels it if it did not end in time.
async fn join(task: Option<tokio::task::JoinHandle<()>>, what: &str, timeout: Duration) {
    if let Some(mut t) = task {
        if tokio::time::timeout(timeout, &mut t).await.is_err() {
            tracing::warn!("{what} did not stop within {timeout:?}; cancelled");
            t.abort();
        }
    }
}

fn remove_dir(dir: &std::path::Path) -> Result<(), DaemonError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DaemonError::io(dir, e)),
    }
}

impl Daemon {
    /// A fresh stop signal for the components of the role being started. It turns
    /// true on the next switch or when the daemon stops.
    pub(crate) fn new_role_stop(&self) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        let old = std::mem::replace(
            &mut *self.role_stop.lock().unwrap_or_else(|p| p.into_inner()),
            tx.clone(),
        );
        let _ = old.send(true);
        let mut global = self.stop_signal();
        tokio::spawn(async move {
            tokio::select! {
                _ = global.wait_for(|s| *s) => { let _ = tx.send(true); }
                _ = tx.closed() => {}
            }
        });
        rx
    }

    /// Stops the current role's components: the VIP is handed over (priority 0) and
    /// the agent has ended before Raft goes away, so no two agents ever act on the
    /// same containers.
    pub(crate) async fn deactivate(&self) {
        let _ = self
            .role_stop
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(true);
        join(
            take(&self.vip_task),
            "the VIP instance",
            Duration::from_secs(3),
        )
        .await;
        join(take(&self.agent_task), "the agent", Duration::from_secs(5)).await;
        join(
            take(&self.server_task),
            "the cluster port",
            Duration::from_secs(3),
        )
        .await;
        self.worker_tx.send_replace(None);
        if let Some(c) = self.cluster_tx.send_replace(None) {
            c.shutdown().await;
        }
    }

    /// This manager was demoted (its role is worker and it left the voters): continue
    /// as a worker with the same identity and certificate.
    pub(crate) async fn become_worker(self: Arc<Self>) -> Result<(), DaemonError> {
        let _guard = self.lifecycle.lock().await;
        let Some(mut id) = identity::load(&self.cfg.data_dir)? else {
            return Ok(());
        };
        let Ok(cluster) = self.cluster() else {
            return Ok(());
        };
        let own = cluster
            .snapshot()
            .nodes
            .get(&cluster.node_id)
            .map(|n| n.address.clone())
            .unwrap_or_default();
        let mut managers: Vec<String> = cluster
            .member_addrs()
            .into_iter()
            .filter(|a| *a != own)
            .collect();
        if let Some((_, l)) = cluster.leader_addr().filter(|l| l.1 != own) {
            managers.retain(|a| *a != l);
            managers.insert(0, l);
        }
        tracing::info!("demoted: switching to worker mode");
        self.deactivate().await;
        remove_dir(&self.cfg.raft_dir())?;
        self.ca_keys.forget()?;
        id.role = NodeRole::Worker;
        id.managers = managers.clone();
        identity::save(&self.cfg.data_dir, &id)?;
        let files = security::load_node(&self.cfg)?;
        self.clone()
            .activate_worker(id.node_id, Remote::new(NetDialer::new(files), managers));
        Ok(())
    }

    /// This worker was promoted: get manager credentials from the leader, start Raft
    /// and become a voter.
    pub(crate) async fn become_manager(self: Arc<Self>) -> Result<(), DaemonError> {
        let _guard = self.lifecycle.lock().await;
        let Some(mut id) = identity::load(&self.cfg.data_dir)? else {
            return Ok(());
        };
        let Some(remote) = self.worker_tx.borrow().clone() else {
            return Ok(());
        };
        let req = ForwardRequest::ManagerCredentials {
            node_id: id.node_id,
        };
        let ForwardReply::Credentials {
            cert_chain_pem,
            key_pem,
            ca_key_pem,
            address,
        } = remote.ask_leader(&req, Duration::from_secs(5)).await?
        else {
            return Err(DaemonError::Raft("unexpected answer to a promotion".into()));
        };
        let pki = security::pki_dir(&self.cfg);
        let old = security::load_node(&self.cfg)?;
        let ca_cert_pem = old.ca_cert_pem().to_string();
        let ca =
            orc_pki::ClusterCa::from_pem(&ca_cert_pem, &ca_key_pem).map_err(security::pki_err)?;
        let cert = orc_pki::NodeCert {
            node_id: id.node_id,
            role: orc_pki::Role::Manager,
            cert_chain_pem,
            key_pem,
        };
        // Checked before anything is replaced: the key must match the certificate.
        orc_pki::NodeFiles::from_node_cert(&ca_cert_pem, &cert).map_err(security::pki_err)?;
        tracing::info!("promoted: switching to manager mode");
        self.deactivate().await;
        let files =
            orc_pki::save_node_files(&pki, &ca_cert_pem, &cert).map_err(security::pki_err)?;
        self.ca_keys.install(&ca)?;
        remove_dir(&self.cfg.raft_dir())?;
        id.role = NodeRole::Manager;
        id.managers = remote.addresses();
        identity::save(&self.cfg.data_dir, &id)?;
        let cluster = Cluster::start(&self.cfg, id.node_id, NetDialer::new(files.clone())).await?;
        for m in remote.addresses().iter().rev() {
            cluster.remote.set_leader_hint(m);
        }
        self.clone().activate_manager(cluster.clone(), files);
        // Now that this node serves Raft, become a voter (retried: the leader may move).
        let mut last = None;
        for _ in 0..20 {
            let req = ForwardRequest::PromoteMe {
                node_id: id.node_id,
                address: address.clone(),
            };
            match cluster.remote.forward(req, None).await {
                Ok(_) => {
                    let keys = &self.ca_keys;
                    crate::cluster::autolock::settle(&cluster, keys, Duration::from_secs(5)).await;
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(last.unwrap_or(DaemonError::NoLeader))
    }

    /// `orc cluster leave`, the local part: stop everything, remove this node's
    /// containers, forget the cluster (identity, Raft copy, keys), then every trace of
    /// orc's networking; returns what networking it removed.
    pub(crate) async fn forget_cluster(self: &Arc<Self>) -> Result<Vec<String>, DaemonError> {
        self.deactivate().await;
        let files = security::load_node(&self.cfg).ok();
        if let Some(files) = files {
            let writer = crate::cluster::writer::Writer::Remote(Remote::new(
                NetDialer::new(files),
                Vec::new(),
            ));
            let agent = crate::node::agent::Agent::new(
                0,
                self.runtime.clone(),
                crate::node::agent::Reporter::spawn(writer),
                self.cfg.logs_dir(),
                self.cfg.logger_binary.clone(),
                self.cfg.log_max_bytes,
                self.cfg.log_max_files,
                self.volumes.clone(),
            )
            .with_network(
                self.cfg.data_dir.join("netns"),
                None,
                self.cfg.resolv_conf.clone(),
            );
            agent.clear(Duration::from_secs(30)).await?;
        }
        // What the containers used: their volumes' mounts and the Ceph files.
        for name in self.volumes.attached_names() {
            self.volumes.force_detach(&name).await;
        }
        self.volumes.set_ceph(None);
        let node_json = self.cfg.data_dir.join("node.json");
        if let Err(e) = std::fs::remove_file(&node_json) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(DaemonError::io(&node_json, e));
            }
        }
        remove_dir(&self.cfg.raft_dir())?;
        remove_dir(&security::pki_dir(&self.cfg))?;
        self.ca_keys.reload();
        // Bridge, veths, routes, VXLAN device, table ip orc, pinned namespaces.
        let net = orc_net::NodeNet::new(self.cfg.data_dir.join("netns"))?;
        let removed = net.teardown().await?;
        for what in &removed {
            tracing::info!("left the cluster: removed {what}");
        }
        Ok(removed)
    }
}

/// On a manager: switches to worker once the cluster says so (role worker, and no
/// longer a Raft voter).
pub(crate) async fn watch_demotion(
    daemon: Arc<Daemon>,
    cluster: Cluster,
    mut stop: watch::Receiver<bool>,
) {
    let mut state = cluster.state.clone();
    let mut metrics = cluster.raft.metrics();
    loop {
        let demoted = state
            .borrow_and_update()
            .nodes
            .get(&cluster.node_id)
            .is_some_and(|n| n.role == NodeRole::Worker);
        let voter = metrics
            .borrow_and_update()
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == cluster.node_id);
        if demoted && !voter {
            tokio::spawn(async move {
                if let Err(e) = daemon.become_worker().await {
                    tracing::error!("switching to worker mode: {e}");
                }
            });
            return;
        }
        tokio::select! {
            r = state.changed() => if r.is_err() { return },
            r = metrics.changed() => if r.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// On a worker: switches to manager once the leader reports the manager role.
pub(crate) async fn watch_promotion(
    daemon: Arc<Daemon>,
    mut role: watch::Receiver<Option<NodeRole>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            r = role.wait_for(|r| *r == Some(NodeRole::Manager)) => if r.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
        match daemon.clone().become_manager().await {
            Ok(()) => return,
            Err(e) => tracing::warn!("switching to manager mode (will retry): {e}"),
        }
        if *stop.borrow() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How long a manager gives its start (join, promotion) to make it a Raft voter
/// before it asks again itself, and how often it then asks.
const VOTER_GRACE: Duration = Duration::from_secs(10);
const VOTER_RETRY: Duration = Duration::from_secs(3);

/// A manager that is still not a Raft voter a while after it started asks the leader
/// to make it one, again and again, until it is or its role ends: it may have
/// crashed between starting Raft and asking, or the ask failed. The leader agrees
/// only while the node table says manager, so a node being demoted is refused.
pub(crate) async fn ensure_voter(cluster: Cluster, mut stop: watch::Receiver<bool>) {
    let mut wait = VOTER_GRACE;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        wait = VOTER_RETRY;
        if crate::leader::membership::voters(&cluster).contains(&cluster.node_id) {
            return;
        }
        let req = ForwardRequest::PromoteMe {
            node_id: cluster.node_id,
            address: String::new(),
        };
        match cluster.remote.forward(req, None).await {
            Ok(_) => tracing::info!("not a Raft voter after starting: asked the leader again"),
            Err(e) => tracing::debug!("asking to become a Raft voter: {e}"),
        }
    }
}
