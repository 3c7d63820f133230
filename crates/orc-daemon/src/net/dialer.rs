//! Mutual-TLS channels to other nodes, one lazily connecting channel per address.

use orc_pki::{NodeFiles, PeerName};
use orc_rpc::pb::cluster_client::ClusterClient;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tonic::transport::Channel;

pub struct NetDialer {
    files: NodeFiles,
    channels: Mutex<HashMap<(String, Option<u64>), Channel>>,
    /// Bumped by [`NetDialer::reset`]: long-lived streams (sessions) restart on it.
    epoch: tokio::sync::watch::Sender<u64>,
}

impl NetDialer {
    pub fn new(files: NodeFiles) -> Arc<NetDialer> {
        Arc::new(NetDialer {
            files,
            channels: Mutex::new(HashMap::new()),
            epoch: tokio::sync::watch::channel(0).0,
        })
    }

    /// A channel to `addr`; the server must prove it is node `id` (or any manager).
    pub fn channel_to(&self, addr: &str, id: Option<u64>) -> Result<Channel, String> {
        let key = (addr.to_string(), id);
        if let Ok(m) = self.channels.lock() {
            if let Some(c) = m.get(&key) {
                return Ok(c.clone());
            }
        }
        let name = id.map(PeerName::Node).unwrap_or(PeerName::AnyManager);
        let ep = orc_pki::node_endpoint(addr, &self.files, name).map_err(|e| e.to_string())?;
        let ch = ep
            .connect_timeout(std::time::Duration::from_millis(500))
            .timeout(std::time::Duration::from_secs(5))
            // A connection whose local address vanished never errors by itself:
            // HTTP/2 pings find it dead so the channel reconnects from the new one.
            .http2_keep_alive_interval(std::time::Duration::from_secs(2))
            .keep_alive_timeout(std::time::Duration::from_secs(2))
            .keep_alive_while_idle(true)
            .connect_lazy();
        if let Ok(mut m) = self.channels.lock() {
            m.insert(key, ch.clone());
        }
        Ok(ch)
    }

    /// Forgets every channel (this node's address changed: connections from the old
    /// one are dead) and tells long-lived streams to restart.
    pub fn reset(&self) {
        if let Ok(mut m) = self.channels.lock() {
            m.clear();
        }
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Changes when [`NetDialer::reset`] is called.
    pub fn epoch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.epoch.subscribe()
    }

    pub fn client(&self, addr: &str, id: Option<u64>) -> Result<ClusterClient<Channel>, String> {
        Ok(ClusterClient::new(self.channel_to(addr, id)?).max_decoding_message_size(64 << 20))
    }
}

impl orc_rpc::Dialer for NetDialer {
    fn channel(&self, node_id: u64, addr: &str) -> Result<Channel, String> {
        self.channel_to(addr, Some(node_id))
    }
}
