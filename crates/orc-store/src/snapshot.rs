//! The last snapshot as persisted: its metadata (versioned bincode) and its data (the
//! cluster state as `orc_model::encode_state` wrote it), in one atomic batch.

use crate::codec::{decode, encode};
use crate::kv::{KvBackend, KvOp, Space};
use crate::types::{Snapshot, SnapshotMeta};
use crate::StoreError;
use orc_model::ClusterState;
use std::io::Cursor;

const KEY_META: &[u8] = b"meta";

/// A snapshot id for the one built now: `LEADER-INDEX-SEQ-tMILLIS` (the build time in
/// ms since the epoch, so its age is known after a restart and on the followers that
/// install it).
pub(crate) fn new_id(last: Option<&crate::types::LogId>, seq: u64, now_ms: u64) -> String {
    match last {
        Some(l) => format!("{}-{}-{seq}-t{now_ms}", l.leader_id, l.index),
        None => format!("empty-{seq}-t{now_ms}"),
    }
}

/// When the snapshot with this id was built (ms since the epoch), if its id says so
/// (ids from before orc recorded it don't).
pub fn built_at(snapshot_id: &str) -> Option<u64> {
    snapshot_id.rsplit_once("-t")?.1.parse().ok()
}
const KEY_DATA: &[u8] = b"data";

/// A snapshot as stored.
#[derive(Debug, Clone)]
pub(crate) struct StoredSnapshot {
    pub meta: SnapshotMeta,
    pub data: Vec<u8>,
}

impl StoredSnapshot {
    /// Decodes the cluster state the snapshot holds.
    pub fn state(&self) -> Result<ClusterState, StoreError> {
        orc_model::decode_state(&self.data).map_err(|source| StoreError::State {
            snapshot_id: self.meta.snapshot_id.clone(),
            source,
        })
    }

    /// The snapshot in openraft's form.
    pub fn into_snapshot(self) -> Snapshot {
        Snapshot {
            meta: self.meta,
            snapshot: Box::new(Cursor::new(self.data)),
        }
    }
}

/// Reads the stored snapshot, if any. Metadata without data (or the reverse) cannot
/// come from [`save`] and is reported as corruption.
pub(crate) fn load(kv: &dyn KvBackend) -> Result<Option<StoredSnapshot>, StoreError> {
    let meta = kv.get(Space::Snapshot, KEY_META)?;
    let data = kv.get(Space::Snapshot, KEY_DATA)?;
    match (meta, data) {
        (None, None) => Ok(None),
        (Some(meta), Some(data)) => Ok(Some(StoredSnapshot {
            meta: decode("snapshot metadata", &meta)?,
            data,
        })),
        (Some(_), None) => Err(StoreError::Truncated {
            what: "snapshot (metadata without data)".to_string(),
            len: 0,
        }),
        (None, Some(_)) => Err(StoreError::Truncated {
            what: "snapshot (data without metadata)".to_string(),
            len: 0,
        }),
    }
}

/// Replaces the stored snapshot (not flushed: the caller flushes).
pub(crate) fn save(kv: &dyn KvBackend, snap: &StoredSnapshot) -> Result<(), StoreError> {
    let meta = encode("snapshot metadata", &snap.meta)?;
    kv.write(
        Space::Snapshot,
        vec![
            KvOp::Put(KEY_META.to_vec(), meta),
            KvOp::Put(KEY_DATA.to_vec(), snap.data.clone()),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_id_carries_its_build_time() {
        let id = new_id(None, 3, 1_765_000_000_123);
        assert_eq!(id, "empty-3-t1765000000123");
        assert_eq!(built_at(&id), Some(1_765_000_000_123));
        // Ids from before the time was recorded.
        assert_eq!(built_at("1-6-0"), None);
        assert_eq!(built_at("empty-0"), None);
    }
}
