//! The composition root: what runs in `orc daemon`. [`Daemon`] builds the operations
//! layer and starts, per role, the components of `leader/`, `vip/`, `node/` and the
//! front doors (`api/`, `rpc/`); [`role`] switches roles at runtime.

pub mod role;

use crate::cluster::ca_key::CaKeys;
use crate::cluster::identity::{self, Identity};
use crate::cluster::security;
use crate::cluster::writer::Writer;
use crate::cluster::Cluster;
use crate::leader::dispatcher::Dispatcher;
use crate::net::dialer::NetDialer;
use crate::net::remote::Remote;
use crate::node::agent::{Agent, Reporter};
use crate::node::session::{self, SessionConfig};
use crate::ops::{BoxFuture, Lifecycle, Ops, OpsParts};
use crate::rpc::{RpcContext, WorkerView};
use crate::util::set_mode;
use crate::util::{host_platform, host_resources, now_ms, random_id, random_u64};
use crate::{DaemonConfig, DaemonError};
use orc_model::{Availability, ClusterState, Command, Node, NodeRole, NodeStatus};
use orc_rpc::wire::{ForwardRequest, JoinReply, JoinRequest};
use orc_runtime::Runtime;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{watch, Mutex};

pub struct Daemon {
    pub(crate) cfg: DaemonConfig,
    pub(crate) runtime: Runtime,
    pub(crate) dispatcher: Arc<Dispatcher>,
    /// The operations layer every front door calls.
    pub(crate) ops: Arc<Ops>,
    /// Serialises init/join/leave and role switches (shared with `ops`).
    pub(crate) lifecycle: Arc<Mutex<()>>,
    /// Set while this node is a manager.
    pub(crate) cluster_tx: watch::Sender<Option<Cluster>>,
    /// Set while this node is a worker.
    pub(crate) worker_tx: watch::Sender<Option<Remote>>,
    pub(crate) stop: watch::Sender<bool>,
    /// Stops the current role's components (a role switch, or the daemon stopping).
    pub(crate) role_stop: std::sync::Mutex<watch::Sender<bool>>,
    /// The agent and the cluster port of the current role: awaited on a role switch.
    pub(crate) agent_task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub(crate) server_task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// This manager's VRRP instance for the cluster VIP, as `orc vip status` shows it.
    pub(crate) vip_status: watch::Sender<crate::vip::VipLocal>,
    /// The VIP task: awaited at shutdown so the VIP is handed over (priority 0) first.
    pub(crate) vip_task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// This node's volumes (agent attach/detach, leader fencing, `orc volume rm`).
    pub(crate) volumes: Arc<crate::storage::NodeVolumes>,
    /// On a worker: what the leader sends it (its node table lets the cluster port
    /// serve other workers' image fetches).
    pub(crate) worker_view: WorkerView,
    /// This node's CA key, the one holder every reader asks (locked with autolock).
    pub(crate) ca_keys: Arc<CaKeys>,
    /// Secrets and configs on this node: what the leader sent (a worker), how to open
    /// them (a manager), the per-task tmpfs they are written into.
    pub(crate) values: Arc<crate::node::values::NodeValues>,
}

/// Joining, making and leaving a cluster, for the operations layer.
struct Roles(Weak<Daemon>);

impl Roles {
    fn daemon(&self) -> Result<Arc<Daemon>, DaemonError> {
        self.0.upgrade().ok_or(DaemonError::NoCluster)
    }
}

impl Lifecycle for Roles {
    fn init_cluster(
        &self,
        advertise: Option<String>,
        network: orc_model::ClusterNetwork,
    ) -> BoxFuture<'_, Result<Identity, DaemonError>> {
        Box::pin(async move { self.daemon()?.init_cluster(advertise, network).await })
    }

    fn join_cluster(
        &self,
        token: String,
        address: String,
        advertise: Option<String>,
    ) -> BoxFuture<'_, Result<Identity, DaemonError>> {
        Box::pin(async move { self.daemon()?.join_cluster(token, address, advertise).await })
    }

    fn restore_cluster(
        &self,
        advertise: Option<String>,
        from: Box<ClusterState>,
        ca: Option<orc_pki::ClusterCa>,
    ) -> BoxFuture<'_, Result<Identity, DaemonError>> {
        Box::pin(async move {
            let network = match &from.network {
                Some(n) => orc_model::ClusterNetwork::new(n.subnet, n.driver)
                    .map_err(DaemonError::Invalid)?,
                None => crate::ops::subnet::cluster_network(None, None)?,
            };
            let keep_sealed = ca.is_some();
            let restore = Command::Restore { from, keep_sealed };
            self.daemon()?
                .make_cluster(advertise, network, ca, Some(restore))
                .await
        })
    }

    fn recover_cluster(&self) -> BoxFuture<'_, Result<(), DaemonError>> {
        Box::pin(async move { self.daemon()?.recover_cluster().await })
    }

    fn forget_cluster(&self) -> BoxFuture<'_, Result<Vec<String>, DaemonError>> {
        Box::pin(async move { self.daemon()?.forget_cluster().await })
    }
}

impl Daemon {
    pub fn new(cfg: DaemonConfig) -> Result<Arc<Daemon>, DaemonError> {
        for dir in [&cfg.data_dir, &cfg.logs_dir()] {
            std::fs::create_dir_all(dir).map_err(|e| DaemonError::io(dir, e))?;
            set_mode(dir, 0o700)?;
        }
        let runtime = Runtime::new(&cfg.containerd, &cfg.namespace)?;
        let volumes = Arc::new(crate::storage::NodeVolumes::new(&cfg.data_dir));
        let cluster_tx = watch::channel(None).0;
        let worker_tx = watch::channel(None).0;
        let vip_status = watch::channel(Default::default()).0;
        let lifecycle = Arc::new(Mutex::new(()));
        let ca_keys = Arc::new(CaKeys::load(&security::pki_dir(&cfg), &cfg.hostname));
        let cfg_values = cfg.clone();
        let ca_keys_values = ca_keys.clone();
        let worker_view: crate::ops::WorkerView = Default::default();
        Ok(Arc::new_cyclic(|me| {
            let ops = Arc::new(Ops::new(OpsParts {
                cfg: cfg.clone(),
                runtime: runtime.clone(),
                volumes: volumes.clone(),
                cluster: cluster_tx.subscribe(),
                worker: worker_tx.subscribe(),
                vip: vip_status.subscribe(),
                lifecycle: lifecycle.clone(),
                life: Arc::new(Roles(me.clone())),
                ca_keys: ca_keys.clone(),
                worker_view: worker_view.clone(),
            }));
            Daemon {
                ca_keys,
                volumes,
                dispatcher: Arc::new(Dispatcher::new(cfg.heartbeat)),
                ops,
                cfg,
                runtime,
                lifecycle,
                cluster_tx,
                worker_tx,
                worker_view,
                stop: watch::channel(false).0,
                role_stop: std::sync::Mutex::new(watch::channel(false).0),
                agent_task: std::sync::Mutex::new(None),
                server_task: std::sync::Mutex::new(None),
                vip_status,
                vip_task: std::sync::Mutex::new(None),
                values: Arc::new(crate::node::values::NodeValues::new(
                    ca_keys_values,
                    &cfg_values.data_dir,
                )),
            }
        }))
    }

    /// Runs until SIGTERM or SIGINT.
    pub async fn run(self: Arc<Self>) -> Result<(), DaemonError> {
        if let Some(id) = identity::load(&self.cfg.data_dir)? {
            let files = security::load_node(&self.cfg)?;
            let dialer = NetDialer::new(files.clone());
            match id.role {
                NodeRole::Manager => {
                    let cluster = Cluster::start(&self.cfg, id.node_id, dialer).await?;
                    // Where to ask while this node's log doesn't know the leader yet.
                    for m in &id.managers {
                        cluster.remote.set_leader_hint(m);
                    }
                    self.clone().activate_manager(cluster, files);
                    if self.ca_keys.status() == crate::cluster::ca_key::KeyStatus::Locked {
                        tracing::warn!("this manager is LOCKED (autolock): it runs its containers and takes part in Raft, but signs and opens nothing until `orc cluster unlock`");
                    }
                }
                NodeRole::Worker => self
                    .clone()
                    .activate_worker(id.node_id, Remote::new(dialer, id.managers.clone())),
            }
            tracing::info!(cluster = %id.cluster_id, node = %crate::ops::views::node_id_str(id.node_id), role = id.role.as_str(), "cluster state recovered from disk");
        } else {
            tracing::info!(
                "not in a cluster yet: waiting for `orc cluster init` or `orc cluster join`"
            );
        }
        let metrics = match self.cfg.metrics_addr {
            Some(a) => Some(crate::metrics::bind(a).await?),
            None => None,
        };
        let listener = crate::api::bind(&self.cfg.socket)?;
        tracing::info!(socket = %self.cfg.socket.display(), "orc daemon ready");
        let server = tokio::spawn(crate::api::serve(self.ops.clone(), listener));
        if let Some(l) = metrics {
            let stop = self.stop_signal();
            let d = self.dispatcher.clone();
            tokio::spawn(crate::metrics::serve(self.ops.clone(), d, l, stop));
        }
        let docker = self.start_docker_sockets().await?;
        wait_for_signal().await;
        tracing::info!("shutting down (containers keep running; the next start adopts them)");
        server.abort();
        for (task, path) in docker {
            task.abort();
            let _ = std::fs::remove_file(path);
        }
        let _ = self.stop.send(true);
        self.deactivate().await;
        let _ = std::fs::remove_file(&self.cfg.socket);
        Ok(())
    }

    /// The Docker-compatible sockets: `--docker-socket` (off with one log line when
    /// a Docker engine answers there) and `--docker-socket-readonly`.
    #[cfg(not(feature = "docker-api"))]
    async fn start_docker_sockets(
        &self,
    ) -> Result<Vec<(tokio::task::JoinHandle<()>, std::path::PathBuf)>, DaemonError> {
        if self.cfg.docker_socket_readonly.is_some() {
            tracing::warn!("this orc is built without the Docker API (feature docker-api): no Docker-compatible socket");
        }
        Ok(Vec::new())
    }

    #[cfg(feature = "docker-api")]
    async fn start_docker_sockets(
        &self,
    ) -> Result<Vec<(tokio::task::JoinHandle<()>, std::path::PathBuf)>, DaemonError> {
        let mut out = Vec::new();
        let sockets = [
            (self.cfg.docker_socket.clone(), false),
            (self.cfg.docker_socket_readonly.clone(), true),
        ];
        for (path, read_only) in sockets {
            let Some(path) = path else { continue };
            if crate::docker::in_use(&path).await {
                tracing::warn!(socket = %path.display(), "a Docker engine answers on this socket: orc's Docker-compatible socket is off");
                continue;
            }
            let listener = crate::docker::bind(&path, self.cfg.docker_socket_group.as_deref())?;
            tracing::info!(socket = %path.display(), read_only, "Docker-compatible socket ready");
            let door = crate::docker::Door::new(self.ops.clone(), read_only);
            out.push((tokio::spawn(crate::docker::serve(door, listener)), path));
        }
        Ok(out)
    }

    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// This node's Raft member, if it is a manager.
    pub(crate) fn cluster(&self) -> Result<Cluster, DaemonError> {
        self.ops.cluster()
    }

    /// What the cluster port's server needs of this node.
    fn rpc_context(&self) -> Arc<RpcContext> {
        Arc::new(RpcContext {
            ops: self.ops.clone(),
            dispatcher: self.dispatcher.clone(),
            worker_view: self.worker_view.clone(),
        })
    }

    fn start_loops(
        self: &Arc<Self>,
        node_id: u64,
        state: watch::Receiver<Arc<ClusterState>>,
        ready: watch::Receiver<bool>,
        writer: Writer,
        stop: watch::Receiver<bool>,
        directory: Option<watch::Receiver<Arc<orc_model::Directory>>>,
    ) {
        let reporter = Reporter::spawn(writer.clone());
        let agent = Agent::new(
            node_id,
            self.runtime.clone(),
            reporter,
            self.cfg.logs_dir(),
            self.cfg.logger_binary.clone(),
            self.cfg.log_max_bytes,
            self.cfg.log_max_files,
            self.volumes.clone(),
        )
        .with_docker_socket(
            self.cfg
                .docker_socket
                .clone()
                .filter(|_| cfg!(feature = "docker-api")),
        )
        .with_ca_keys(self.ca_keys.clone(), self.cfg.insecure_registries.clone())
        .with_peers(crate::node::peers::peer_list(
            self.cluster_tx.subscribe(),
            self.worker_tx.subscribe(),
            node_id,
        ))
        .with_writer(writer)
        .with_values(self.values.clone())
        .with_image_gc(self.cfg.image_gc.clone())
        .with_network(
            self.cfg.data_dir.join("netns"),
            directory,
            self.cfg.resolv_conf.clone(),
        );
        let task = tokio::spawn(agent.run(state, ready, self.cfg.resync, stop));
        *self.agent_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    /// Starts what runs on a manager: agent, leader loops, dispatcher, session, server.
    pub(crate) fn activate_manager(self: Arc<Self>, cluster: Cluster, files: orc_pki::NodeFiles) {
        let stop = self.new_role_stop();
        tokio::spawn(crate::daemon::role::ensure_voter(
            cluster.clone(),
            stop.clone(),
        ));
        self.start_loops(
            cluster.node_id,
            cluster.state.clone(),
            cluster.caught_up(),
            Writer::Raft(cluster.clone()),
            stop.clone(),
            None,
        );
        tokio::spawn(crate::leader::orchestrate::run(
            cluster.clone(),
            self.volumes.clone(),
            self.cfg.resync,
            stop.clone(),
        ));
        let dispatcher = self.dispatcher.clone();
        let c = cluster.clone();
        let s = stop.clone();
        tokio::spawn(async move { dispatcher.run(c, s).await });
        let sc = SessionConfig {
            node_id: cluster.node_id,
            heartbeat: self.cfg.heartbeat,
            remote: cluster.remote.clone(),
            cluster: Some(cluster.clone()),
            assignments: None,
            role: None,
            directory: None,
            values: None,
        };
        tokio::spawn(session::run(sc, stop.clone()));
        tokio::spawn(announce(self.clone(), cluster.clone()));
        if self.follows_address() {
            let dispatcher = self.dispatcher.clone();
            tokio::spawn(crate::node::address_watch::follow_manager(
                self.cfg.clone(),
                self.ca_keys.clone(),
                Box::new(move |extra| dispatcher.hold_off(extra)),
                cluster.clone(),
                stop.clone(),
            ));
        }
        tokio::spawn(crate::cluster::autolock::follow(
            cluster.clone(),
            self.ca_keys.clone(),
            stop.clone(),
        ));
        tokio::spawn(crate::ops::backup::scheduled(
            self.ops.clone(),
            self.cfg.backup_interval,
            self.cfg.backup_keep,
            stop.clone(),
        ));
        tokio::spawn(self.ops.observer.clone().run(
            cluster.clone(),
            self.vip_status.subscribe(),
            stop.clone(),
        ));
        let vip = tokio::spawn(crate::vip::run(
            cluster.clone(),
            self.vip_status.clone(),
            stop.clone(),
        ));
        *self.vip_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(vip);
        let ctx = self.rpc_context();
        let s = stop.clone();
        let server = tokio::spawn(async move {
            if let Err(e) = crate::rpc::server::serve(ctx, files, s).await {
                tracing::error!("cluster port: {e}");
            }
        });
        *self.server_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(server);
        tokio::spawn(crate::daemon::role::watch_demotion(
            self.clone(),
            cluster.clone(),
            stop,
        ));
        self.cluster_tx.send_replace(Some(cluster));
    }

    /// Starts what runs on a worker: the session that brings its assignments, and the agent.
    pub(crate) fn activate_worker(self: Arc<Self>, node_id: u64, remote: Remote) {
        if let Some(a) = self.fixed_advertise() {
            let node = self.this_node(node_id, NodeRole::Worker, &a);
            tokio::spawn(crate::node::readdress::announce(remote.clone(), node));
        }
        let stop = self.new_role_stop();
        tokio::spawn(crate::node::manager_list::persist(
            self.cfg.data_dir.clone(),
            remote.clone(),
            stop.clone(),
        ));
        let (tx, rx) = watch::channel(Arc::new(ClusterState::default()));
        // Ready once the leader has sent this node's assignments (revision > 0).
        let (ready_tx, ready_rx) = watch::channel(false);
        let mut first = rx.clone();
        tokio::spawn(async move {
            if first.wait_for(|s| s.revision > 0).await.is_ok() {
                let _ = ready_tx.send(true);
            }
        });
        let (dir_tx, dir_rx) = watch::channel(Arc::new(orc_model::Directory::default()));
        *self.worker_view.lock().unwrap_or_else(|p| p.into_inner()) = Some(rx.clone());
        let rx_view = rx.clone();
        self.start_loops(
            node_id,
            rx,
            ready_rx,
            Writer::Remote(remote.clone()),
            stop.clone(),
            Some(dir_rx),
        );
        let (role_tx, role_rx) = watch::channel(None);
        let sc = SessionConfig {
            node_id,
            heartbeat: self.cfg.heartbeat,
            remote: remote.clone(),
            cluster: None,
            assignments: Some(tx),
            role: Some(role_tx),
            directory: Some(dir_tx),
            values: Some(self.values.clone()),
        };
        tokio::spawn(session::run(sc, stop.clone()));
        if self.follows_address() {
            tokio::spawn(crate::node::address_watch::follow_worker(
                node_id,
                remote.clone(),
                rx_view,
                stop.clone(),
            ));
        }
        // The cluster port serves managers' log reads (`orc service logs`).
        match security::load_node(&self.cfg) {
            Ok(files) => {
                let ctx = self.rpc_context();
                let s = stop.clone();
                let server = tokio::spawn(async move {
                    if let Err(e) = crate::rpc::server::serve(ctx, files, s).await {
                        tracing::error!("cluster port: {e}");
                    }
                });
                *self.server_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(server);
            }
            Err(e) => tracing::error!("cluster port not served: {e}"),
        }
        tokio::spawn(crate::daemon::role::watch_promotion(
            self.clone(),
            role_rx,
            stop,
        ));
        self.worker_tx.send_replace(Some(remote));
    }

    fn this_node(&self, id: u64, role: NodeRole, advertise: &str) -> Node {
        let now = now_ms();
        Node {
            id,
            hostname: self.cfg.hostname.clone(),
            role,
            availability: Availability::Active,
            status: NodeStatus::Ready,
            status_message: String::new(),
            address: advertise.to_string(),
            resources: host_resources(),
            labels: Default::default(),
            platform: host_platform(),
            created_at: now,
            updated_at: now,
        }
    }

    /// The literal `orc daemon --advertise IP[:PORT]`, if one was given (not `auto`).
    fn fixed_advertise(&self) -> Option<String> {
        match crate::node::address_policy::mode(self.cfg.advertise.as_deref(), &self.cfg.listen) {
            crate::node::address_policy::AdvertiseMode::Fixed(a) => Some(a),
            crate::node::address_policy::AdvertiseMode::Auto => None,
        }
    }

    /// Whether this node follows its address live (`--advertise auto`, the default,
    /// and a cluster port listening on every address).
    fn follows_address(&self) -> bool {
        if self.fixed_advertise().is_some() {
            return false;
        }
        match crate::node::address_policy::auto_allowed(&self.cfg.listen) {
            Ok(()) => true,
            Err(e) if self.cfg.advertise.is_some() => {
                tracing::warn!("--advertise auto: {e}");
                false
            }
            Err(e) => {
                tracing::info!("{e}");
                false
            }
        }
    }

    fn ensure_not_member(&self) -> Result<(), DaemonError> {
        if let Some(id) = identity::load(&self.cfg.data_dir)? {
            return Err(DaemonError::AlreadyInCluster(id.cluster_id));
        }
        // A Raft or PKI dir without an identity is a half-done earlier init or join:
        // nothing there was ever acknowledged, so start afresh.
        for dir in [self.cfg.raft_dir(), security::pki_dir(&self.cfg)] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| DaemonError::io(&dir, e))?;
            }
        }
        self.ca_keys.reload();
        Ok(())
    }

    fn advertise(&self, advertise: Option<String>) -> String {
        let a = advertise.unwrap_or_else(|| self.cfg.listen.clone());
        if a.contains(':') {
            a
        } else {
            let port = self.cfg.listen.rsplit(':').next().unwrap_or("4747");
            format!("{a}:{port}")
        }
    }

    /// `orc cluster init`: a new cluster CA, and a one-voter cluster with this node as manager.
    pub(crate) async fn init_cluster(
        self: Arc<Self>,
        advertise: Option<String>,
        network: orc_model::ClusterNetwork,
    ) -> Result<Identity, DaemonError> {
        self.make_cluster(advertise, network, None, None).await
    }

    /// A one-voter cluster with this node as manager, under `ca` (a new one if none),
    /// and `then` committed after its first entry (a restore).
    pub(crate) async fn make_cluster(
        self: Arc<Self>,
        advertise: Option<String>,
        network: orc_model::ClusterNetwork,
        ca: Option<orc_pki::ClusterCa>,
        then: Option<Command>,
    ) -> Result<Identity, DaemonError> {
        let _guard = self.lifecycle.lock().await;
        self.ensure_not_member()?;
        let advertise = self.advertise(advertise);
        let node_id = random_u64();
        let cluster_id = random_id();
        let pki = security::pki_dir(&self.cfg);
        let ca = match ca {
            Some(ca) => ca,
            None => orc_pki::ClusterCa::generate(&format!("orc-{cluster_id}"))
                .map_err(security::pki_err)?,
        };
        self.ca_keys.install(&ca)?;
        let ips: Vec<std::net::IpAddr> = advertise
            .parse::<std::net::SocketAddr>()
            .map(|a| vec![a.ip()])
            .unwrap_or_default();
        let cert = ca
            .issue(node_id, orc_pki::Role::Manager, &self.cfg.hostname, &ips)
            .map_err(security::pki_err)?;
        let files =
            orc_pki::save_node_files(&pki, ca.cert_pem(), &cert).map_err(security::pki_err)?;
        let dialer = NetDialer::new(files.clone());
        let cluster = Cluster::start(&self.cfg, node_id, dialer).await?;
        cluster.initialize(&advertise).await?;
        cluster.wait_leader(Duration::from_secs(10)).await?;
        let id = Identity {
            format: 1,
            node_id,
            cluster_id: cluster_id.clone(),
            role: NodeRole::Manager,
            managers: vec![advertise.clone()],
        };
        cluster
            .propose(Command::Batch(vec![
                Command::InitCluster {
                    id: cluster_id,
                    at: now_ms(),
                },
                Command::SetClusterSecurity {
                    ca_cert_pem: ca.cert_pem().to_string(),
                    worker_token_salt: random_id(),
                    manager_token_salt: random_id(),
                },
                Command::PutNode(self.this_node(node_id, NodeRole::Manager, &advertise)),
                Command::SetClusterNetwork(network),
            ]))
            .await?;
        if let Some(cmd) = then {
            cluster.propose(cmd).await?;
        }
        identity::save(&self.cfg.data_dir, &id)?;
        self.clone().activate_manager(cluster, files);
        Ok(id)
    }

    /// `orc cluster recover --force-new-cluster`, once the caller found no majority:
    /// stops this manager's components and Raft, makes its store a one-voter
    /// cluster (orc-store), and starts it all again.
    pub(crate) async fn recover_cluster(self: Arc<Self>) -> Result<(), DaemonError> {
        let _guard = self.lifecycle.lock().await;
        let cluster = self.cluster()?;
        let me = cluster.node_id;
        let addr = cluster
            .snapshot()
            .nodes
            .get(&me)
            .map(|n| n.address.clone())
            .or_else(|| {
                let m = cluster.raft.metrics().borrow().clone();
                m.membership_config
                    .membership()
                    .get_node(&me)
                    .map(|n| n.addr.clone())
            })
            .ok_or_else(|| DaemonError::Invalid("this manager's own address is unknown".into()))?;
        drop(cluster);
        self.deactivate().await;
        let store_cfg = orc_store::StoreConfig {
            cache_capacity: self.cfg.store_cache_bytes,
            ..Default::default()
        };
        let dir = self.cfg.raft_dir();
        // The store's last handle may linger a moment after Raft stopped.
        let mut tries = 0;
        let r = loop {
            match orc_store::force_single_voter(&dir, &store_cfg, me, &addr) {
                Err(e) if tries < 50 => {
                    tracing::debug!("reopening the Raft store: {e}");
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => break other,
            }
        }?;
        tracing::warn!(
            index = r.index,
            term = r.term,
            "forced a new cluster: this manager is the single voter"
        );
        let files = security::load_node(&self.cfg)?;
        let cluster = Cluster::start(&self.cfg, me, NetDialer::new(files.clone())).await?;
        self.clone().activate_manager(cluster, files);
        Ok(())
    }

    /// `orc cluster join --token T ADDR`.
    pub(crate) async fn join_cluster(
        self: Arc<Self>,
        token: String,
        addr: String,
        advertise: Option<String>,
    ) -> Result<Identity, DaemonError> {
        let _guard = self.lifecycle.lock().await;
        self.ensure_not_member()?;
        let token = orc_pki::JoinToken::parse(&token)
            .map_err(|e| DaemonError::Invalid(format!("join token: {e}")))?;
        let role = security::node_role(token.role);
        let advertise = self.advertise(advertise);
        let req = JoinRequest {
            secret: token.secret.clone(),
            role,
            hostname: self.cfg.hostname.clone(),
            advertise: advertise.clone(),
            resources: host_resources(),
            platform: host_platform(),
        };
        let payload = orc_rpc::encode(&req).map_err(|e| DaemonError::Raft(e.to_string()))?;
        let mut target = addr.clone();
        let reply = 'outer: {
            for _ in 0..5 {
                let ch = orc_pki::connect_join(&target, &token.ca_fingerprint)
                    .await
                    .map_err(|e| {
                        // The cause (e.g. the CA fingerprint mismatch) is deep in the chain.
                        let causes =
                            std::iter::successors(std::error::Error::source(&e), |s| s.source());
                        let causes: String = causes.map(|c| format!(": {c}")).collect();
                        DaemonError::Invalid(format!("joining via {target}: {e}{causes}"))
                    })?;
                let mut client = orc_rpc::pb::cluster_client::ClusterClient::new(ch);
                let resp = client
                    .join(orc_rpc::pb::Frame {
                        payload: payload.clone(),
                    })
                    .await
                    .map_err(|s| {
                        DaemonError::Invalid(format!("joining via {target}: {}", s.message()))
                    })?;
                match orc_rpc::decode::<JoinReply>(&resp.into_inner().payload)
                    .map_err(|e| DaemonError::Invalid(e.to_string()))?
                {
                    JoinReply::NotLeader { leader: Some(l) } => target = l,
                    JoinReply::NotLeader { leader: None } => return Err(DaemonError::NoLeader),
                    JoinReply::Refused { reason } => {
                        return Err(DaemonError::Invalid(format!("join refused: {reason}")))
                    }
                    joined => break 'outer joined,
                }
            }
            return Err(DaemonError::NoLeader);
        };
        let JoinReply::Joined {
            node_id,
            cluster_id,
            ca_cert_pem,
            cert_chain_pem,
            key_pem,
            ca_key_pem,
            managers,
        } = reply
        else {
            return Err(DaemonError::NoLeader);
        };
        let pki = security::pki_dir(&self.cfg);
        let cert = orc_pki::NodeCert {
            node_id,
            role: security::role(role),
            cert_chain_pem,
            key_pem,
        };
        let files =
            orc_pki::save_node_files(&pki, &ca_cert_pem, &cert).map_err(security::pki_err)?;
        if let Some(key) = &ca_key_pem {
            let ca = orc_pki::ClusterCa::from_pem(&ca_cert_pem, key).map_err(security::pki_err)?;
            // Plain for a moment: `autolock::settle` below (or, should the log still
            // lag, the follower) wraps it once this manager's log shows the setting.
            self.ca_keys.install(&ca)?;
        }
        let dialer = NetDialer::new(files.clone());
        let id = Identity {
            format: 1,
            node_id,
            cluster_id,
            role,
            managers: managers.clone(),
        };
        match role {
            NodeRole::Manager => {
                let cluster = Cluster::start(&self.cfg, node_id, dialer).await?;
                for m in &managers {
                    cluster.remote.set_leader_hint(m);
                }
                if let Some(l) = managers.first() {
                    cluster.remote.set_leader_hint(l);
                }
                identity::save(&self.cfg.data_dir, &id)?;
                self.clone().activate_manager(cluster.clone(), files);
                if self.cfg.failpoint.as_deref() == Some("join-before-promote") {
                    tracing::warn!("failpoint join-before-promote: exiting");
                    std::process::exit(86);
                }
                // Now that this node serves Raft, become a voter.
                cluster
                    .remote
                    .forward(
                        ForwardRequest::PromoteMe {
                            node_id,
                            address: advertise,
                        },
                        None,
                    )
                    .await?;
                cluster.wait_leader(Duration::from_secs(10)).await?;
                let keys = &self.ca_keys;
                crate::cluster::autolock::settle(&cluster, keys, Duration::from_secs(5)).await;
            }
            NodeRole::Worker => {
                identity::save(&self.cfg.data_dir, &id)?;
                self.clone()
                    .activate_worker(node_id, Remote::new(dialer, managers));
            }
        }
        Ok(id)
    }
}

/// After a (re)start: once a leader is known, mark this node ready with fresh facts.
async fn announce(daemon: Arc<Daemon>, cluster: Cluster) {
    for attempt in 0u32.. {
        // A manager restarted on a new address may hear no leader (it is dialed at
        // the old one): with `--advertise IP:PORT` it asks the other members.
        let leader = cluster.wait_leader(Duration::from_secs(5)).await.is_ok();
        if leader || daemon.fixed_advertise().is_some() {
            let state = cluster.snapshot();
            if let Some(n) = state.nodes.get(&cluster.node_id) {
                let mut fresh = n.clone();
                fresh.hostname = daemon.cfg.hostname.clone();
                fresh.resources = host_resources();
                fresh.platform = host_platform();
                // Restarted with `--advertise IP:PORT` after the address changed: the
                // leader then moves this manager's Raft membership address too.
                if let Some(a) = daemon.fixed_advertise() {
                    if a.parse::<std::net::SocketAddr>().is_ok() {
                        fresh.address = a;
                    }
                }
                if fresh == *n {
                    return;
                }
                fresh.updated_at = now_ms();
                let moved = (fresh.address != n.address).then(|| fresh.address.clone());
                match crate::node::address_watch::propose_own(&cluster, fresh).await {
                    Ok(_) => {
                        if let Some(a) = moved {
                            crate::node::cert_readdress::reissue_logged(
                                daemon.cfg.clone(),
                                daemon.ca_keys.clone(),
                                a,
                            )
                            .await;
                        }
                        return;
                    }
                    Err(e) => tracing::debug!("announcing node: {e}"),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt.min(10) + 1))).await;
        if *daemon.stop.borrow() {
            return;
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the daemon can still be killed; just run forever.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
