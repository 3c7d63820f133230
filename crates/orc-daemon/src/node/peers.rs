//! Fetching images from other nodes without a registry: which peers to ask
//! ([`peer_list`]) and [`PeerSource`], the pulling side of the Image RPC, which feeds
//! orc-runtime's verified pull path. The serving side is `rpc::images`.

use crate::cluster::Cluster;
use crate::net::dialer::NetDialer;
use crate::net::remote::Remote;
use orc_model::{NodeRole, NodeStatus};
use orc_rpc::pb::cluster_client::ClusterClient;
use orc_rpc::pb::Frame;
use orc_rpc::wire::{ImageReply, ImageRequest};
use orc_runtime::{BoxFuture, Chunks, FetchedManifest, ImageSource, RegistryError, RuntimeError};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tonic::transport::Channel;
use tonic::Status;

/// A node to ask for an image: its dialer, address and id (None = any manager).
pub type Peer = (Arc<NetDialer>, String, Option<u64>);
/// The peers to ask right now for an image (by its normalized name).
pub type PeerList = Arc<dyn Fn(&str) -> Vec<Peer> + Send + Sync>;

/// The nodes other than `except` that hold image `name` (normalized) by their
/// inventories and aren't down: (id, cluster address).
pub fn holders(state: &orc_model::ClusterState, name: &str, except: u64) -> Vec<(u64, String)> {
    state
        .node_images
        .iter()
        .filter(|(id, images)| **id != except && images.contains_key(name))
        .filter_map(|(id, _)| state.nodes.get(id))
        .filter(|n| n.status != NodeStatus::Down)
        .map(|n| (n.id, n.address.clone()))
        .collect()
}

/// The nodes to ask for an image, other than `me`. On a manager: the nodes whose
/// inventories hold it (managers or workers), then the other managers. On a worker:
/// the managers (from the leader's list), which [`PeerSource::holders`] then asks
/// who holds it.
pub fn peer_list(
    cluster: watch::Receiver<Option<Cluster>>,
    worker: watch::Receiver<Option<Remote>>,
    me: u64,
) -> PeerList {
    Arc::new(move |name: &str| {
        let manager = cluster.borrow().clone();
        if let Some(c) = manager {
            let state = c.snapshot();
            let dialer = &c.remote.dialer;
            let mut peers: Vec<Peer> = holders(&state, name, me)
                .into_iter()
                .map(|(id, a)| (dialer.clone(), a, Some(id)))
                .collect();
            let held: Vec<Option<u64>> = peers.iter().map(|p| p.2).collect();
            let managers = state.nodes.values().filter(|n| {
                n.id != me
                    && n.role == NodeRole::Manager
                    && n.status != NodeStatus::Down
                    && !held.contains(&Some(n.id))
            });
            peers.extend(managers.map(|n| (dialer.clone(), n.address.clone(), Some(n.id))));
            return peers;
        }
        let remote = worker.borrow().clone();
        match remote {
            Some(r) => r
                .addresses()
                .into_iter()
                .map(|a| (r.dialer.clone(), a, None))
                .collect(),
            None => Vec::new(),
        }
    })
}

/// A peer node as an [`ImageSource`].
pub struct PeerSource {
    client: ClusterClient<Channel>,
    addr: String,
}

impl PeerSource {
    /// The node at `addr` (`id`: the node it must prove to be; None = any manager).
    pub fn new(dialer: &NetDialer, addr: &str, id: Option<u64>) -> Result<PeerSource, String> {
        Ok(PeerSource {
            client: dialer.client(addr, id)?,
            addr: addr.to_string(),
        })
    }

    fn down(&self, s: &Status) -> RuntimeError {
        RegistryError::Unreachable(format!("peer {}: {}", self.addr, s.message())).into()
    }

    async fn call(&mut self, req: &ImageRequest) -> Result<tonic::Streaming<Frame>, RuntimeError> {
        let payload = orc_rpc::encode(req).map_err(|e| RegistryError::Protocol(e.to_string()))?;
        match self.client.image(Frame { payload }).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) if s.code() == tonic::Code::NotFound => {
                Err(
                    RegistryError::NotFound(format!("{} on peer {}", s.message(), self.addr))
                        .into(),
                )
            }
            Err(s) => Err(self.down(&s)),
        }
    }
}

impl PeerSource {
    /// The credentials the cluster stores for `registry`, opened by this peer (a
    /// manager) for us; None if it has none or can't answer.
    pub async fn credentials(&mut self, registry: &str) -> Option<orc_runtime::Credentials> {
        let req = ImageRequest::Credentials {
            registry: registry.to_string(),
        };
        let mut stream = self.call(&req).await.ok()?;
        let f = stream.message().await.ok()??;
        match orc_rpc::decode::<ImageReply>(&f.payload).ok()? {
            ImageReply::Credentials { username, password } => {
                Some(orc_runtime::Credentials { username, password })
            }
            _ => None,
        }
    }
}

impl PeerSource {
    /// The nodes that hold image `name` (id, address), as this peer (a manager)
    /// knows from the inventories; empty if it can't say.
    pub async fn holders(&mut self, name: &str) -> Vec<(u64, String)> {
        let req = ImageRequest::Holders {
            name: name.to_string(),
        };
        let Ok(mut stream) = self.call(&req).await else {
            return Vec::new();
        };
        let Ok(Some(f)) = stream.message().await else {
            return Vec::new();
        };
        match orc_rpc::decode::<ImageReply>(&f.payload) {
            Ok(ImageReply::Holders { nodes }) => nodes,
            _ => Vec::new(),
        }
    }
}

impl ImageSource for PeerSource {
    fn manifest<'a>(
        &'a mut self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<FetchedManifest, RuntimeError>> {
        Box::pin(async move {
            let req = ImageRequest::Manifest {
                name: reference.to_string(),
            };
            let mut stream = self.call(&req).await?;
            let first = stream.message().await.map_err(|s| self.down(&s))?;
            let reply = first
                .map(|f| orc_rpc::decode::<ImageReply>(&f.payload))
                .transpose()
                .map_err(|e| RegistryError::Protocol(e.to_string()))?;
            match reply {
                Some(ImageReply::Manifest {
                    bytes,
                    media_type,
                    digest,
                }) => Ok(FetchedManifest {
                    bytes,
                    media_type,
                    digest,
                }),
                _ => Err(
                    RegistryError::NotFound(format!("{reference} on peer {}", self.addr)).into(),
                ),
            }
        })
    }

    fn blob<'a>(&'a mut self, digest: &'a str) -> BoxFuture<'a, Result<Chunks, RuntimeError>> {
        Box::pin(async move {
            let req = ImageRequest::Blob {
                digest: digest.to_string(),
            };
            let mut stream = self.call(&req).await?;
            let (tx, rx) = mpsc::channel(4);
            let addr = self.addr.clone();
            tokio::spawn(async move {
                loop {
                    let item = match stream.message().await {
                        Ok(None) => return,
                        Ok(Some(f)) => match orc_rpc::decode::<ImageReply>(&f.payload) {
                            Ok(ImageReply::Chunk(d)) => Ok(d),
                            Ok(_) => Err(std::io::Error::other(format!(
                                "peer {addr}: unexpected answer"
                            ))),
                            Err(e) => Err(std::io::Error::other(format!("peer {addr}: {e}"))),
                        },
                        Err(s) => Err(std::io::Error::other(format!(
                            "peer {addr}: {}",
                            s.message()
                        ))),
                    };
                    let stop = item.is_err();
                    if tx.send(item).await.is_err() || stop {
                        return;
                    }
                }
            });
            Ok(rx)
        })
    }
}
