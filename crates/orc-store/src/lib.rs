//! orc's Raft storage: the log and the state machine of openraft (v2 storage traits),
//! persisted in sled behind orc's own small [`KvBackend`] trait.
//!
//! - [`LogStore`] keeps log entries (big-endian `u64` keys), the vote, the committed
//!   log id and the last purged log id. Appends, votes, truncations and purges are
//!   flushed to disk before openraft is told they are done.
//! - [`StateMachineStore`] keeps [`orc_model::ClusterState`] in memory, applies
//!   entries with `ClusterState::apply`, and publishes each applied state on a
//!   `tokio::sync::watch` channel ([`StateMachineStore::subscribe`]). Snapshots (the
//!   encoded state plus last applied log id and membership) are persisted; after a
//!   restart the state comes back from the last snapshot and openraft re-applies the
//!   committed log after it.
//! - Snapshot and purge policy are openraft `Config` settings:
//!   [`default_raft_config`] sets orc's defaults (a snapshot every
//!   [`SNAPSHOT_EVERY_LOGS`] entries, keeping [`LOGS_KEPT_AFTER_SNAPSHOT`]).
//! - [`SingleNodeNetwork`] is the network of a one-manager cluster.
//! - [`CommandBatcher`] groups concurrent proposals into one log entry (one fsync):
//!   openraft 0.9 flushes each append before taking the next.
//!
//! Every stored value carries a version header; data from another version or corrupt
//! data is an error, never an empty state.

#![warn(missing_docs)]

mod backend;
mod batcher;
mod codec;
mod config;
mod error;
mod kv;
mod log_store;
mod migrate;
mod network;
mod recover;
mod sled_kv;
mod snapshot;
mod state_machine;
mod types;

pub use backend::StoreClosed;
pub use batcher::{BatchWriteError, CommandBatcher, Committed, DEFAULT_MAX_BATCH};
pub use codec::{HEADER, STORE_FORMAT};
pub use config::{
    default_raft_config, StoreConfig, DEFAULT_CACHE_CAPACITY, DEFAULT_FLUSH_EVERY_MS,
    LOGS_KEPT_AFTER_SNAPSHOT, SNAPSHOT_EVERY_LOGS,
};
pub use error::{KvError, StoreError};
pub use kv::{KvBackend, KvOp, KvPair, Space};
pub use log_store::LogStore;
pub use network::{NoNetwork, SingleNodeNetwork, UnreachablePeer};
pub use recover::{force_single_voter, Recovered};
pub use sled_kv::SledKv;
pub use snapshot::built_at as snapshot_built_at;
pub use state_machine::SnapshotClock;
pub use state_machine::{SnapshotBuilder, StateMachineStore};
pub use types::{
    BasicNode, ClientWriteError, ClientWriteResponse, Entry, LogId, Raft, RaftMetrics, RaftNodeId,
    Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig, Vote,
};

use backend::Backend;
use std::path::Path;
use std::sync::Arc;

/// Key of the format marker in [`Space::Meta`].
const KEY_FORMAT: &[u8] = b"format";

/// Opens (or creates) the Raft store in `dir` with sled.
pub fn open(dir: &Path, cfg: &StoreConfig) -> Result<(LogStore, StateMachineStore), StoreError> {
    let kv = SledKv::open(dir, cfg).map_err(|source| StoreError::Open {
        path: dir.to_path_buf(),
        source,
    })?;
    open_with(kv, dir)
}

/// Opens the Raft store over any backend; `origin` names it in errors.
pub fn open_with(
    kv: impl KvBackend,
    origin: &Path,
) -> Result<(LogStore, StateMachineStore), StoreError> {
    check_format(&kv, origin)?;
    let kv = Arc::new(Backend::new(Arc::new(kv))?);
    let sm = StateMachineStore::open(kv.clone())?;
    Ok((LogStore::new(kv), sm))
}

/// Checks the format marker, writing it into an empty store.
pub(crate) fn check_format(kv: &dyn KvBackend, origin: &Path) -> Result<(), StoreError> {
    match kv.get(Space::Meta, KEY_FORMAT)? {
        Some(found) => match found.as_slice() {
            [s, m] if [*s, *m] == HEADER => Ok(()),
            [s, m] if *s == HEADER[0] && migrate::READABLE.contains(m) => {
                migrate::upgrade(kv, *m, KEY_FORMAT)
            }
            [s, m] => Err(StoreError::Version {
                what: format!("raft store {}", origin.display()),
                found_store: *s,
                found_model: *m,
                want_store: HEADER[0],
                want_model: HEADER[1],
            }),
            other => Err(StoreError::Truncated {
                what: format!("format marker of {}", origin.display()),
                len: other.len(),
            }),
        },
        None => {
            for space in Space::ALL {
                if !kv.is_empty(space)? {
                    return Err(StoreError::NotAnOrcStore(origin.to_path_buf()));
                }
            }
            kv.write(
                Space::Meta,
                vec![KvOp::Put(KEY_FORMAT.to_vec(), HEADER.to_vec())],
            )?;
            kv.flush()?;
            Ok(())
        }
    }
}
