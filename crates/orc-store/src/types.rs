//! orc's openraft type configuration and the aliases the daemon uses.

use orc_model::{Command, CommandResult};

openraft::declare_raft_types!(
    /// orc's Raft: requests are [`Command`]s, responses [`CommandResult`]s, nodes are
    /// `u64` ids (the same ids as `orc_model::NodeId`) with their address.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A running Raft node.
pub type Raft = openraft::Raft<TypeConfig>;
/// A Raft node id.
pub type RaftNodeId = u64;
/// A member's address as Raft stores it in membership (`addr` is "host:port").
pub use openraft::BasicNode;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log entry's id (leader term and node, index).
pub type LogId = openraft::LogId<RaftNodeId>;
/// A vote.
pub type Vote = openraft::Vote<RaftNodeId>;
/// Membership as of some log id.
pub type StoredMembership = openraft::StoredMembership<RaftNodeId, BasicNode>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::SnapshotMeta<RaftNodeId, BasicNode>;
/// A snapshot: metadata and data.
pub type Snapshot = openraft::Snapshot<TypeConfig>;
/// openraft's storage error, as the storage traits return it.
pub type StorageError = openraft::StorageError<RaftNodeId>;
/// Raft metrics (leader, term, last applied, …) as `raft.metrics()` publishes them.
pub type RaftMetrics = openraft::RaftMetrics<RaftNodeId, BasicNode>;
/// What `raft.client_write` answers on success.
pub type ClientWriteResponse = openraft::raft::ClientWriteResponse<TypeConfig>;
/// What `raft.client_write` fails with (`ForwardToLeader` among them).
pub type ClientWriteError = openraft::error::RaftError<
    RaftNodeId,
    openraft::error::ClientWriteError<RaftNodeId, BasicNode>,
>;
