//! What travels between nodes. Every frame is `[WIRE_VERSION, orc_model::FORMAT_VERSION]
//! ++ bincode(T)`: the frames carry commands, tasks and specs, so a peer of another wire
//! or model version is refused with a clear error instead of being misread. (Version 1
//! frames had only the first byte; a version-1 peer reads this one's `2` and refuses it
//! the same way.)

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use orc_model::{Command, CommandResult, NodeId, NodeResources, NodeRole, Platform, Task};
use orc_store::TypeConfig;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub const WIRE_VERSION: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("empty frame")]
    Empty,
    #[error("peer speaks wire version {0}, this node {WIRE_VERSION}: upgrade the older one")]
    Version(u8),
    #[error(
        "peer's cluster state format is {0}, this node's {this}: run one orc version on \
         every manager (see docs/boards.md, upgrades)",
        this = orc_model::FORMAT_VERSION
    )]
    Format(u8),
    #[error("encode: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("decode: {0}")]
    Decode(#[from] bincode::error::DecodeError),
}

pub fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, WireError> {
    let mut out = vec![WIRE_VERSION, orc_model::FORMAT_VERSION];
    out.extend(bincode::serde::encode_to_vec(
        v,
        bincode::config::standard(),
    )?);
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T, WireError> {
    let (&v, rest) = b.split_first().ok_or(WireError::Empty)?;
    if v != WIRE_VERSION {
        return Err(WireError::Version(v));
    }
    let (&f, rest) = rest.split_first().ok_or(WireError::Empty)?;
    if f != orc_model::FORMAT_VERSION {
        return Err(WireError::Format(f));
    }
    Ok(bincode::serde::decode_from_slice(rest, bincode::config::standard())?.0)
}

/// Raft messages between managers.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRpc {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RaftReply {
    Append(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    Snapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
}

/// A node without a certificate asks to join with a token's secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    pub secret: String,
    pub role: NodeRole,
    pub hostname: String,
    /// Where the cluster reaches the joiner ("10.0.0.12:4747").
    pub advertise: String,
    pub resources: NodeResources,
    pub platform: Platform,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum JoinReply {
    Joined {
        node_id: NodeId,
        cluster_id: String,
        ca_cert_pem: String,
        cert_chain_pem: String,
        key_pem: String,
        /// Managers get the CA key so any of them can issue certificates as leader.
        ca_key_pem: Option<String>,
        managers: Vec<String>,
    },
    /// Ask the leader instead (its address).
    NotLeader {
        leader: Option<String>,
    },
    Refused {
        reason: String,
    },
}

/// A write for the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardRequest {
    Command(Command),
    /// A manager that joined and now serves Raft asks to become a voter.
    PromoteMe {
        node_id: NodeId,
        address: String,
    },
    /// A worker whose role was set to manager asks for a manager certificate (with
    /// the `orc-manager` name) and the CA key.
    ManagerCredentials {
        node_id: NodeId,
    },
    /// Any manager (leader or not) answers with its VRRP instance's status
    /// (`orc vip status` across the managers). JSON, as the CLI shows it.
    VipStatus,
    /// A manager asks the node running these tasks for their log lines
    /// (`orc service logs` across nodes); answered with [`ForwardReply::Logs`].
    TaskLogs {
        tasks: Vec<String>,
        tail: Option<usize>,
    },
    /// A manager asks a node for its running tasks' resource use (`orc stats`);
    /// answered with [`ForwardReply::Json`] holding orc-metrics' `NodeTaskStats`.
    TaskStats,
}

/// A manager asks the node running `task` to stream its log lines (the Logs RPC),
/// each line a frame holding a `String`. With `from_end`, only lines written from
/// now on; otherwise the whole log first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FollowLogs {
    pub task: String,
    pub from_end: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ForwardReply {
    /// Committed and applied at this log index on the leader.
    Done(CommandResult, u64),
    NotLeader {
        leader: Option<String>,
    },
    Refused {
        reason: String,
    },
    /// Answer to [`ForwardRequest::ManagerCredentials`].
    Credentials {
        cert_chain_pem: String,
        key_pem: String,
        ca_key_pem: String,
        /// The node's cluster address, as the cluster knows it.
        address: String,
    },
    /// Answer to [`ForwardRequest::VipStatus`]: a JSON document.
    Json(String),
    /// Answer to [`ForwardRequest::TaskLogs`]: each task's lines, oldest first.
    Logs(Vec<(String, Vec<String>)>),
}

/// Node → leader on a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SessionUp {
    Hello { node_id: NodeId },
    Heartbeat,
}

/// Leader → node on a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SessionDown {
    /// Everything assigned to the node now (sent on every change).
    Tasks {
        revision: u64,
        tasks: Vec<Task>,
    },
    /// How often to heartbeat, and where the managers are.
    Welcome {
        heartbeat_ms: u64,
        managers: Vec<String>,
    },
    NotLeader {
        leader: Option<String>,
    },
    /// The node's role in the cluster (sent first and on every change): a worker
    /// that reads `Manager` promotes itself.
    Role {
        role: NodeRole,
    },
    /// Images the node should hold without waiting for a task (sent on change).
    Images {
        names: Vec<String>,
    },
    /// The cluster network and the node table (addresses, blocks): what a worker needs
    /// to route to the other nodes' containers. Sent before `Tasks`, on every change.
    Network {
        network: Option<orc_model::ClusterNetwork>,
        nodes: Vec<orc_model::Node>,
        /// Every stack-network service and its tasks' addresses (for the node's DNS).
        directory: orc_model::Directory,
    },
    /// Volumes and the Ceph setting (its keyring a secret: this channel is mutual TLS,
    /// and `Debug` redacts it): what a worker's agent needs to attach Ceph volumes and
    /// to release those it was fenced off. Sent before `Tasks`, on every change.
    Storage(orc_model::Storage),
    /// Secret and config values the node's tasks need and it was not sent yet in this
    /// session, opened by the leader (workers hold no CA key): only ever those of
    /// tasks assigned to the node, only inside this mutual-TLS stream, `Debug`
    /// redacted. Sent before the `Tasks` that use them.
    Values(Vec<DeliveredValue>),
}

/// One revision of a secret or config, in clear, for the node that runs its users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveredValue {
    pub key: orc_model::ValueKey,
    pub value: orc_model::ClearValue,
}

/// A peer's question about an image this node may hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ImageRequest {
    /// The platform manifest of image `name` (any spelling Docker accepts).
    Manifest { name: String },
    /// The bytes of a blob.
    Blob { digest: String },
    /// The stored credentials for a registry host (a manager opens them for a member
    /// that has to pull; they only ever travel inside the mutual-TLS channel).
    Credentials { registry: String },
    /// Which other nodes hold image `name`, by their inventories (asked of a manager).
    Holders { name: String },
}

/// Answers on an Image stream: one `Manifest` or `NotFound`, or `Chunk`s of a blob,
/// or one `Credentials` (whose `Debug` hides the password).
#[derive(Clone, Serialize, Deserialize)]
pub enum ImageReply {
    Manifest {
        bytes: Vec<u8>,
        media_type: String,
        digest: String,
    },
    NotFound,
    Chunk(Vec<u8>),
    Credentials {
        username: String,
        password: String,
    },
    /// The nodes (id, cluster address) that hold the image asked about.
    Holders {
        nodes: Vec<(u64, String)>,
    },
}

impl std::fmt::Debug for ImageReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageReply::Manifest { digest, .. } => write!(f, "Manifest({digest})"),
            ImageReply::NotFound => f.write_str("NotFound"),
            ImageReply::Chunk(d) => write!(f, "Chunk({} bytes)", d.len()),
            ImageReply::Credentials { username, .. } => write!(f, "Credentials({username})"),
            ImageReply::Holders { nodes } => write!(f, "Holders({nodes:?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Vote};
    use orc_store::BasicNode;

    #[test]
    fn raft_messages_survive_bincode() {
        let entry: Entry<TypeConfig> = Entry {
            log_id: LogId::new(CommittedLeaderId::new(3, 7), 42),
            payload: EntryPayload::Normal(Command::Noop),
        };
        let req = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 7),
            prev_log_id: Some(LogId::new(CommittedLeaderId::new(3, 7), 41)),
            entries: vec![entry],
            leader_commit: None,
        };
        let b = encode(&RaftRpc::Append(req.clone())).expect("encode");
        match decode::<RaftRpc>(&b).expect("decode") {
            RaftRpc::Append(r) => assert_eq!(format!("{r:?}"), format!("{req:?}")),
            other => panic!("{other:?}"),
        }
        let mut mem = std::collections::BTreeMap::new();
        mem.insert(
            7u64,
            BasicNode {
                addr: "10.0.0.1:4747".into(),
            },
        );
        let m: Entry<TypeConfig> = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 7), 1),
            payload: EntryPayload::Membership(openraft::Membership::new(
                vec![[7u64].into_iter().collect()],
                mem,
            )),
        };
        let b = encode(&m).expect("encode");
        let back: Entry<TypeConfig> = decode(&b).expect("decode membership entry");
        assert_eq!(format!("{back:?}"), format!("{m:?}"));
    }

    #[test]
    fn storage_travels_whole_and_never_shows_the_keyring() {
        let storage = orc_model::Storage {
            volumes: Default::default(),
            ceph: Some(orc_model::CephSetting {
                conf: "[global]".into(),
                user: "orc".into(),
                keyring: "AQSECRETKEY==".into(),
            }),
        };
        let msg = SessionDown::Storage(storage.clone());
        assert!(!format!("{msg:?}").contains("AQSECRETKEY"));
        let b = encode(&msg).expect("encode");
        assert!(matches!(decode::<SessionDown>(&b), Ok(SessionDown::Storage(s)) if s == storage));
    }

    #[test]
    fn role_logs_and_credentials_messages_survive_bincode() {
        let b = encode(&SessionDown::Role {
            role: NodeRole::Manager,
        })
        .expect("encode");
        assert!(matches!(
            decode::<SessionDown>(&b),
            Ok(SessionDown::Role {
                role: NodeRole::Manager
            })
        ));
        let req = ForwardRequest::TaskLogs {
            tasks: vec!["abc".into()],
            tail: Some(5),
        };
        let b = encode(&req).expect("encode");
        assert!(matches!(
            decode::<ForwardRequest>(&b),
            Ok(ForwardRequest::TaskLogs { tasks, tail: Some(5) }) if tasks == ["abc"]
        ));
        let reply = ForwardReply::Logs(vec![("abc".into(), vec!["a line".into()])]);
        let b = encode(&reply).expect("encode");
        assert!(matches!(
            decode::<ForwardReply>(&b),
            Ok(ForwardReply::Logs(v)) if v[0].1 == ["a line"]
        ));
        let b = encode(&ForwardRequest::ManagerCredentials { node_id: 7 }).expect("encode");
        assert!(matches!(
            decode::<ForwardRequest>(&b),
            Ok(ForwardRequest::ManagerCredentials { node_id: 7 })
        ));
    }

    #[test]
    fn delivered_values_travel_whole_and_never_show() {
        let msg = SessionDown::Values(vec![DeliveredValue {
            key: orc_model::ValueKey {
                kind: orc_model::ValueKind::Secret,
                name: "db_root".into(),
                revision: 3,
            },
            value: orc_model::ClearValue::new(b"p4ssw0rd-xyz".to_vec()),
        }]);
        assert!(!format!("{msg:?}").contains("p4ssw0rd"));
        let b = encode(&msg).expect("encode");
        match decode::<SessionDown>(&b) {
            Ok(SessionDown::Values(v)) => {
                assert_eq!(v[0].value.as_bytes(), b"p4ssw0rd-xyz");
                assert_eq!(v[0].key.revision, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_versions_are_refused() {
        let mut b = encode(&SessionUp::Heartbeat).expect("encode");
        b[0] = 9;
        assert!(matches!(
            decode::<SessionUp>(&b),
            Err(WireError::Version(9))
        ));
        assert!(matches!(decode::<SessionUp>(&[]), Err(WireError::Empty)));
        let mut b = encode(&SessionUp::Heartbeat).expect("encode");
        b[1] = orc_model::FORMAT_VERSION - 1;
        let e = decode::<SessionUp>(&b).unwrap_err();
        assert!(matches!(e, WireError::Format(f) if f == orc_model::FORMAT_VERSION - 1));
        assert!(e.to_string().contains("one orc version on"), "{e}");
        // A round-1 peer's frame: [1] ++ bincode.
        assert!(matches!(
            decode::<SessionUp>(&[1, 0]),
            Err(WireError::Version(1))
        ));
    }
}
