//! The agent's side of container networking: a namespace and address for each
//! stack-network task, routes to the other nodes' blocks, and cleanup of whatever a
//! gone task left behind (also after a restart or crash).

use orc_model::{
    free_address, gateway, ClusterState, Directory, Ipv4Net, NetworkDriver, NodeId, Task,
};
use orc_net::{NodeNet, VxlanPeer, MTU, VXLAN_MTU};
use orc_spec::NetworkMode;
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The node's networking and what the agent last applied.
pub struct AgentNet {
    net: NodeNet,
    /// This node's block and the driver, from the latest state (None: no cluster
    /// network yet).
    block: Mutex<Option<(Ipv4Net, NetworkDriver)>>,
    /// Serialises address choice + attach, so two tasks never pick one address.
    attach: tokio::sync::Mutex<()>,
    routes: tokio::sync::Mutex<Option<Vec<(Ipv4Net, Ipv4Addr)>>>,
    /// Workers: the directory their session receives. Managers compute it.
    directory_in: Option<watch::Receiver<Arc<Directory>>>,
    /// What the node's DNS server answers from.
    directory: watch::Sender<Arc<Directory>>,
    dns_running: Arc<AtomicBool>,
    /// The published-ports ruleset last applied (None: never touched nftables).
    ingress: tokio::sync::Mutex<Option<orc_net::nft::Ruleset>>,
    /// The node's resolv.conf: the resolvers other names are forwarded to.
    resolv_conf: PathBuf,
}

/// Where a task's container is plugged in.
pub struct Plugged {
    pub netns: PathBuf,
    pub address: Ipv4Addr,
    /// resolv.conf and hosts for the container.
    pub resolv_conf: PathBuf,
    pub hosts: PathBuf,
}

impl AgentNet {
    pub fn new(
        dir: PathBuf,
        directory_in: Option<watch::Receiver<Arc<Directory>>>,
        resolv_conf: PathBuf,
    ) -> Option<AgentNet> {
        match NodeNet::new(dir) {
            Ok(net) => Some(AgentNet {
                net,
                block: Mutex::new(None),
                attach: tokio::sync::Mutex::new(()),
                routes: tokio::sync::Mutex::new(None),
                directory_in,
                directory: watch::channel(Arc::new(Directory::default())).0,
                dns_running: Arc::new(AtomicBool::new(false)),
                ingress: tokio::sync::Mutex::new(None),
                resolv_conf,
            }),
            Err(e) => {
                tracing::warn!("container networking unavailable: {e}");
                None
            }
        }
    }

    /// Workers: the directory their session receives (the agent passes on changes).
    pub fn directory_in(&self) -> Option<watch::Receiver<Arc<Directory>>> {
        self.directory_in.clone()
    }

    /// The network namespace of `task`'s container: its own on a stack network,
    /// `None` for host networking (the node's).
    pub fn netns_of(&self, task: &Task) -> Option<PathBuf> {
        (task.spec.network_mode == NetworkMode::Stack).then(|| self.net.netns_path(&task.id))
    }

    /// Gives `task` its namespace and address when it runs on a stack network; `None`
    /// for host networking.
    pub async fn plug(&self, task: &Task) -> Result<Option<Plugged>, String> {
        if task.spec.network_mode != NetworkMode::Stack {
            return Ok(None);
        }
        let (block, driver) = self
            .block
            .lock()
            .ok()
            .and_then(|b| *b)
            .ok_or("this node has no block of the cluster network yet")?;
        let _one_at_a_time = self.attach.lock().await;
        let held = self
            .net
            .address_of(&task.id)
            .filter(|_| self.net.netns_path(&task.id).exists());
        let (netns, address) = match held {
            // Attached before (an interrupted start): keep the address it holds.
            Some(address) => (self.net.netns_path(&task.id), address),
            None => {
                let address = free_address(block, &self.net.taken())
                    .ok_or_else(|| format!("no free address left in {block}"))?;
                let netns = self
                    .net
                    .attach(&task.id, block, address, mtu(driver))
                    .await
                    .map_err(|e| e.to_string())?;
                (netns, address)
            }
        };
        let hostname = task
            .spec
            .hostname
            .clone()
            .unwrap_or_else(|| orc_model::short_id(&task.id).to_string());
        let (resolv_conf, hosts) = self
            .net
            .write_resolver_files(
                &task.id,
                gateway(block),
                address,
                &hostname,
                &super::container::resolver_extras(&task.spec),
            )
            .map_err(|e| e.to_string())?;
        self.ensure_dns(block);
        Ok(Some(Plugged {
            netns,
            address,
            resolv_conf,
            hosts,
        }))
    }

    /// Starts the node's DNS server on the bridge address, once (again if it stopped).
    fn ensure_dns(&self, block: Ipv4Net) {
        if self.dns_running.swap(true, Ordering::SeqCst) {
            return;
        }
        let running = self.dns_running.clone();
        let directory = self.directory.subscribe();
        let upstream = orc_net::node_resolvers(&self.resolv_conf);
        tokio::spawn(async move {
            let listen = gateway(block);
            if let Err(e) = orc_net::serve_dns(listen, directory, upstream).await {
                tracing::warn!("service DNS on {listen}: {e}");
            }
            running.store(false, Ordering::SeqCst);
        });
    }

    /// Releases `task_id`'s veth, namespace and address.
    pub async fn unplug(&self, task_id: &str) {
        let _one_at_a_time = self.attach.lock().await;
        if let Err(e) = self.net.detach(task_id).await {
            tracing::warn!(task = task_id, "removing the container's network: {e}");
        }
    }

    /// Follows the state: this node's block, routes to the others' blocks, and no
    /// namespace left for a task that is not `live`.
    pub async fn reconcile(&self, state: &ClusterState, me: NodeId, live: &HashSet<String>) {
        let Some(network) = state.network.as_ref() else {
            return;
        };
        if let Ok(mut b) = self.block.lock() {
            *b = network.block(me).map(|block| (block, network.driver));
        }
        let directory = match &self.directory_in {
            Some(rx) => rx.borrow().clone(),
            None => Arc::new(Directory::of(state)),
        };
        self.directory.send_if_modified(|d| {
            let changed = **d != *directory;
            *d = directory.clone();
            changed
        });
        if let Some(block) = network.block(me) {
            if !self.net.attached().is_empty() {
                // After a restart: adopted containers still ask the bridge address.
                self.ensure_dns(block);
            }
            self.sync_ingress(&directory, block, network.subnet).await;
        }
        for task in self.net.attached() {
            if !live.contains(&task) {
                tracing::info!(task, "removing a stale container network");
                self.unplug(&task).await;
            }
        }
        let peers: Vec<VxlanPeer> = state
            .nodes
            .values()
            .filter(|n| n.id != me)
            .filter_map(|n| {
                Some(VxlanPeer {
                    block: network.block(n.id)?,
                    index: *network.blocks.get(&n.id)?,
                    node: node_ip(&n.address)?,
                })
            })
            .collect();
        let mut routes = self.routes.lock().await;
        let wanted: Vec<(Ipv4Net, Ipv4Addr)> = match network.driver {
            NetworkDriver::HostGw => peers.iter().map(|p| (p.block, p.node)).collect(),
            NetworkDriver::Vxlan => peers.iter().map(|p| (p.block, p.block.addr)).collect(),
        };
        // The first pass always syncs: it removes routes an earlier run left. Over
        // VXLAN the routes name no node address: a node that moved changes only its
        // FDB entry, so the peers themselves are compared too.
        // This node's own address too: when it moves, the kernel drops the routes
        // through the old subnet's gateways, so they are put back.
        let own = network
            .block(me)
            .zip(state.nodes.get(&me).and_then(|n| node_ip(&n.address)));
        let key: Vec<(Ipv4Net, Ipv4Addr)> = wanted
            .iter()
            .copied()
            .chain(peers.iter().map(|p| (p.block, p.node)))
            .chain(own)
            .collect();
        if routes.as_ref() == Some(&key) {
            return;
        }
        let synced = match network.driver {
            NetworkDriver::HostGw => self.net.sync_routes(&wanted, None).await,
            NetworkDriver::Vxlan => self.sync_vxlan(state, network, me, &peers, &wanted).await,
        };
        match synced {
            Ok(()) => *routes = Some(key),
            Err(e) => tracing::warn!("routes to the other nodes' blocks: {e}"),
        }
    }

    /// Published ports: the nftables ruleset follows the running tasks.
    async fn sync_ingress(&self, directory: &Directory, block: Ipv4Net, subnet: Ipv4Net) {
        let rules = orc_net::nft::Ruleset::build(directory, block, subnet);
        let mut last = self.ingress.lock().await;
        if last.as_ref() == Some(&rules) {
            return;
        }
        if last.is_none() && rules.is_empty() {
            // First look (after a start): remove only what an earlier run left.
            let stale = tokio::task::spawn_blocking(orc_net::nft::exists)
                .await
                .unwrap_or(false);
            if !stale {
                *last = Some(rules);
                return;
            }
        }
        let wanted = rules.clone();
        match tokio::task::spawn_blocking(move || orc_net::nft::apply(&wanted)).await {
            Ok(Ok(())) => *last = Some(rules),
            Ok(Err(e)) => tracing::warn!("published ports: {e}"),
            Err(e) => tracing::warn!("published ports: {e}"),
        }
    }

    async fn sync_vxlan(
        &self,
        state: &ClusterState,
        network: &orc_model::ClusterNetwork,
        me: NodeId,
        peers: &[VxlanPeer],
        wanted: &[(Ipv4Net, Ipv4Addr)],
    ) -> Result<(), orc_net::NetError> {
        let (Some(block), Some(index), Some(ip)) = (
            network.block(me),
            network.blocks.get(&me),
            state.nodes.get(&me).and_then(|n| node_ip(&n.address)),
        ) else {
            return Ok(());
        };
        let vx = self.net.ensure_vxlan(ip, block, *index).await?;
        self.net.sync_vxlan_peers(vx, peers).await?;
        self.net.sync_routes(wanted, Some(vx)).await
    }
}

/// The IPv4 address of a node's cluster address "IP:PORT".
fn node_ip(address: &str) -> Option<Ipv4Addr> {
    address
        .rsplit_once(':')
        .map_or(address, |h| h.0)
        .parse()
        .ok()
}

fn mtu(driver: NetworkDriver) -> u32 {
    match driver {
        NetworkDriver::HostGw => MTU,
        NetworkDriver::Vxlan => VXLAN_MTU,
    }
}
