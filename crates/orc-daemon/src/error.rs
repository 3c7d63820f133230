use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] orc_store::StoreError),
    #[error("containerd: {0}")]
    Runtime(#[from] orc_runtime::RuntimeError),
    #[error("raft: {0}")]
    Raft(String),
    #[error("this node is not part of a cluster yet: run `orc cluster init`")]
    NoCluster,
    #[error("this node is already part of cluster {0}")]
    AlreadyInCluster(String),
    #[error("no leader is known right now; try again in a moment")]
    NoLeader,
    #[error("{0}")]
    Apply(#[from] orc_model::ApplyError),
    #[error("{0}")]
    Invalid(String),
    #[error("networking: {0}")]
    Net(#[from] orc_net::NetError),
    #[error("{path}: identity file is corrupt: {reason}")]
    Identity { path: PathBuf, reason: String },
    #[error("timed out after {secs} s waiting for {what}")]
    Timeout { secs: u64, what: String },
    /// Autolock: this manager holds the CA key only wrapped until a human unlocks it.
    #[error(
        "this manager ({host}) is locked (autolock is on): run `orc cluster unlock` on {host}"
    )]
    Locked { host: String },
}

impl DaemonError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DaemonError::Io {
            path: path.into(),
            source,
        }
    }
}
