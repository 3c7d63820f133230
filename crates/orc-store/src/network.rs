//! A Raft network for a cluster of one: every peer is unreachable.

use crate::types::{RaftNodeId, TypeConfig};
use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RaftNetwork, RaftNetworkFactory};

/// The error every RPC of [`SingleNodeNetwork`] fails with.
#[derive(Debug, thiserror::Error)]
#[error("single-node raft has no network: node {0} cannot be reached")]
pub struct NoNetwork(pub RaftNodeId);

/// A [`RaftNetworkFactory`] for a single voter, which never sends an RPC. Any peer it is
/// asked for (only if membership grows without a real network) is unreachable.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleNodeNetwork;

/// The client [`SingleNodeNetwork`] hands out.
#[derive(Debug, Clone, Copy)]
pub struct UnreachablePeer(RaftNodeId);

impl RaftNetworkFactory<TypeConfig> for SingleNodeNetwork {
    type Network = UnreachablePeer;

    async fn new_client(&mut self, target: RaftNodeId, _node: &BasicNode) -> UnreachablePeer {
        UnreachablePeer(target)
    }
}

fn unreachable<E: std::error::Error>(target: RaftNodeId) -> RPCError<RaftNodeId, BasicNode, E> {
    RPCError::Unreachable(Unreachable::new(&NoNetwork(target)))
}

impl RaftNetwork<TypeConfig> for UnreachablePeer {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        AppendEntriesResponse<RaftNodeId>,
        RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId>>,
    > {
        Err(unreachable(self.0))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<RaftNodeId>,
        RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId, InstallSnapshotError>>,
    > {
        Err(unreachable(self.0))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<RaftNodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<RaftNodeId>, RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId>>>
    {
        Err(unreachable(self.0))
    }
}
