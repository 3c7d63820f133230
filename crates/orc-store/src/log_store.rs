//! The Raft log: openraft's v2 [`RaftLogStorage`] over a [`KvBackend`].

use crate::backend::{Backend, StoreClosed};
use crate::codec::{decode, encode};
use crate::kv::{KvOp, Space};
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::StoreError;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogId, RaftLogReader, StorageIOError};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

pub(crate) const KEY_VOTE: &[u8] = b"vote";
pub(crate) const KEY_COMMITTED: &[u8] = b"committed";
pub(crate) const KEY_LAST_PURGED: &[u8] = b"last_purged";

/// The Raft log, vote and committed marker. Cheap to clone (it is its own log reader).
#[derive(Clone)]
pub struct LogStore {
    kv: Arc<Backend>,
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn key_index(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| StoreError::Truncated {
        what: "log entry key".to_string(),
        len: key.len(),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

fn byte_bound(b: Bound<&u64>) -> Bound<[u8; 8]> {
    match b {
        Bound::Included(i) => Bound::Included(index_key(*i)),
        Bound::Excluded(i) => Bound::Excluded(index_key(*i)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn as_slice(b: &Bound<[u8; 8]>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn read_err(e: StoreError) -> StorageError {
    StorageIOError::read_logs(&e).into()
}

fn write_err(e: StoreError) -> StorageError {
    StorageIOError::write_logs(&e).into()
}

/// Returns once every write so far is durable.
pub(crate) async fn flush(kv: &Arc<Backend>) -> Result<(), StoreError> {
    kv.flush().await
}

impl LogStore {
    pub(crate) fn new(kv: Arc<Backend>) -> Self {
        LogStore { kv }
    }

    /// A future that resolves once this store's backend is closed.
    pub fn closed(&self) -> StoreClosed {
        self.kv.closed()
    }

    fn meta<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        let what = String::from_utf8_lossy(key);
        match self.kv.get(Space::Meta, key)? {
            Some(bytes) => Ok(Some(decode(&what, &bytes)?)),
            None => Ok(None),
        }
    }

    fn put_meta<T: serde::Serialize>(&self, key: &[u8], value: &T) -> Result<(), StoreError> {
        let bytes = encode(&String::from_utf8_lossy(key), value)?;
        self.kv
            .write(Space::Meta, vec![KvOp::Put(key.to_vec(), bytes)])?;
        Ok(())
    }

    fn entries<RB: RangeBounds<u64>>(&self, range: RB) -> Result<Vec<Entry>, StoreError> {
        let from = byte_bound(range.start_bound());
        let to = byte_bound(range.end_bound());
        let pairs = self
            .kv
            .range(Space::Log, as_slice(&from), as_slice(&to), usize::MAX)?;
        pairs
            .into_iter()
            .map(|(k, v)| {
                let index = key_index(&k)?;
                let entry: Entry = decode(&format!("log entry {index}"), &v)?;
                if entry.get_log_id().index != index {
                    return Err(StoreError::MisplacedEntry {
                        key: index,
                        found: entry.get_log_id().index,
                    });
                }
                Ok(entry)
            })
            .collect()
    }

    fn log_state(&self) -> Result<LogState<TypeConfig>, StoreError> {
        let last_purged: Option<LogId> = self.meta(KEY_LAST_PURGED)?;
        let last = match self.kv.last(Space::Log)? {
            Some((k, v)) => {
                let index = key_index(&k)?;
                let entry: Entry = decode(&format!("log entry {index}"), &v)?;
                Some(*entry.get_log_id())
            }
            None => None,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last.or(last_purged),
        })
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.entries(range).map_err(read_err)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        self.log_state().map_err(read_err)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let res = match self.put_meta(KEY_VOTE, vote) {
            Ok(()) => flush(&self.kv).await,
            Err(e) => Err(e),
        };
        res.map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.meta(KEY_VOTE)
            .map_err(|e| StorageIOError::read_vote(&e).into())
    }

    /// Not flushed on its own: losing the latest `committed` only delays re-applying the
    /// tail until the leader commits again; the next append or the background flush
    /// persists it.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.put_meta(KEY_COMMITTED, &committed)
            .map_err(|e| StorageIOError::write(&e).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let c: Option<Option<LogId>> = self
            .meta(KEY_COMMITTED)
            .map_err(|e| StorageIOError::read(&e))?;
        Ok(c.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut ops = Vec::new();
        for entry in entries {
            let index = entry.get_log_id().index;
            let bytes = encode(&format!("log entry {index}"), &entry).map_err(write_err)?;
            ops.push(KvOp::Put(index_key(index).to_vec(), bytes));
        }
        self.kv
            .write(Space::Log, ops)
            .map_err(|e| write_err(e.into()))?;
        // Durable later, in a group with whatever else is queued by then.
        self.kv.append_flushed(callback);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let from = index_key(log_id.index);
        self.kv
            .remove_range(
                Space::Log,
                Bound::Included(from.as_slice()),
                Bound::Unbounded,
            )
            .map_err(|e| write_err(e.into()))?;
        flush(&self.kv).await.map_err(write_err)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first: after a crash between the two writes, entries at
        // or below it are merely ignored and removed by the next purge.
        self.put_meta(KEY_LAST_PURGED, &log_id).map_err(write_err)?;
        let to = index_key(log_id.index);
        self.kv
            .remove_range(Space::Log, Bound::Unbounded, Bound::Included(to.as_slice()))
            .map_err(|e| write_err(e.into()))?;
        flush(&self.kv).await.map_err(write_err)
    }
}
