//! Errors of the store: opening, the key-value backend, and decoding what is on disk.

use std::path::PathBuf;

/// A failure of the key-value backend (sled today), kept opaque so the backend can change.
#[derive(Debug, thiserror::Error)]
#[error("{backend}: {source}")]
pub struct KvError {
    /// Which backend failed ("sled").
    pub backend: &'static str,
    /// The backend's own error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Everything that can go wrong opening or using the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database directory could not be created or opened.
    #[error("cannot open the raft store at {path}: {source}")]
    Open {
        /// The directory given to [`crate::open`].
        path: PathBuf,
        /// Why.
        #[source]
        source: KvError,
    },
    /// A read or write of the backend failed.
    #[error("raft store: {0}")]
    Kv(#[from] KvError),
    /// A value was written by another (older or newer) version of orc.
    #[error(
        "{what}: written in store format {found_store}/model format {found_model}; \
         this build reads {want_store}/{want_model} (upgrade or migrate the data directory)"
    )]
    Version {
        /// What was being read ("vote", "log entry 12", …).
        what: String,
        /// Store format byte found.
        found_store: u8,
        /// Model format byte found.
        found_model: u8,
        /// Store format byte this build writes.
        want_store: u8,
        /// Model format byte this build writes.
        want_model: u8,
    },
    /// A value is too short to hold even its version header.
    #[error("{what}: truncated value ({len} bytes)")]
    Truncated {
        /// What was being read.
        what: String,
        /// How many bytes there were.
        len: usize,
    },
    /// A value has the right version but does not decode: the data is corrupt.
    #[error("{what}: corrupt data: {source}")]
    Decode {
        /// What was being read.
        what: String,
        /// The decoder's complaint.
        #[source]
        source: bincode::error::DecodeError,
    },
    /// A value could not be encoded (a bug rather than a disk problem).
    #[error("{what}: cannot encode: {source}")]
    Encode {
        /// What was being written.
        what: String,
        /// The encoder's complaint.
        #[source]
        source: bincode::error::EncodeError,
    },
    /// Snapshot data (the encoded cluster state) is corrupt or of another model version.
    #[error("snapshot {snapshot_id}: cluster state: {source}")]
    State {
        /// The snapshot's id.
        snapshot_id: String,
        /// What orc-model said.
        #[source]
        source: orc_model::CodecError,
    },
    /// The directory holds a database that orc did not write (or that lost its marker).
    #[error("{0} holds data but no orc store format marker: not an orc raft store")]
    NotAnOrcStore(PathBuf),
    /// A log entry is stored under a key that does not match its own index.
    #[error("log entry stored at index {key} claims index {found}: the log is corrupt")]
    MisplacedEntry {
        /// The key it was stored under.
        key: u64,
        /// The index inside the entry.
        found: u64,
    },
    /// A blocking I/O task could not be run to completion.
    #[error("raft store background task failed: {0}")]
    Task(String),
}
