//! openraft's network over orc's gRPC service.

use crate::pb::cluster_client::ClusterClient;
use crate::pb::Frame;
use crate::wire::{decode, encode, RaftReply, RaftRpc};
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use orc_store::{BasicNode, RaftNodeId, TypeConfig};
use std::sync::Arc;
use tonic::transport::Channel;

/// Gives a (lazily connecting, mutually authenticated) channel to a peer.
pub trait Dialer: Send + Sync + 'static {
    fn channel(&self, node_id: u64, addr: &str) -> Result<Channel, String>;
}

/// The network factory handed to openraft.
#[derive(Clone)]
pub struct RaftNet {
    dialer: Arc<dyn Dialer>,
}

impl RaftNet {
    pub fn new(dialer: Arc<dyn Dialer>) -> RaftNet {
        RaftNet { dialer }
    }
}

pub struct Peer {
    target: RaftNodeId,
    client: Result<ClusterClient<Channel>, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

impl RaftNetworkFactory<TypeConfig> for RaftNet {
    type Network = Peer;

    async fn new_client(&mut self, target: RaftNodeId, node: &BasicNode) -> Peer {
        let client = self.dialer.channel(target, &node.addr).map(|c| {
            ClusterClient::new(c)
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(64 << 20)
        });
        Peer { target, client }
    }
}

impl Peer {
    async fn call<E: std::error::Error>(
        &mut self,
        rpc: RaftRpc,
    ) -> Result<RaftReply, RPCError<RaftNodeId, BasicNode, E>> {
        let client = match &mut self.client {
            Ok(c) => c,
            Err(e) => {
                return Err(RPCError::Unreachable(Unreachable::new(&Msg(format!(
                    "node {:016x}: {e}",
                    self.target
                )))))
            }
        };
        let payload = encode(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let resp = client.raft(Frame { payload }).await.map_err(|s| {
            if s.code() == tonic::Code::Unavailable {
                RPCError::Unreachable(Unreachable::new(&Msg(s.message().to_string())))
            } else {
                RPCError::Network(NetworkError::new(&Msg(format!(
                    "{}: {}",
                    s.code(),
                    s.message()
                ))))
            }
        })?;
        decode(&resp.into_inner().payload).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }
}

fn unexpected<E: std::error::Error>() -> RPCError<RaftNodeId, BasicNode, E> {
    RPCError::Network(NetworkError::new(&Msg(
        "peer answered a different raft message".into(),
    )))
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        AppendEntriesResponse<RaftNodeId>,
        RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId>>,
    > {
        match self.call(RaftRpc::Append(rpc)).await? {
            RaftReply::Append(r) => r.map_err(|e| {
                RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))
            }),
            _ => Err(unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<RaftNodeId>,
        RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId, InstallSnapshotError>>,
    > {
        match self.call(RaftRpc::Snapshot(rpc)).await? {
            RaftReply::Snapshot(r) => r.map_err(|e| {
                RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))
            }),
            _ => Err(unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<RaftNodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<RaftNodeId>, RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId>>>
    {
        match self.call(RaftRpc::Vote(rpc)).await? {
            RaftReply::Vote(r) => r.map_err(|e| {
                RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))
            }),
            _ => Err(unexpected()),
        }
    }
}
