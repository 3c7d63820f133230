//! orc's own small key-value interface: the store needs only this much from a backend, so
//! sled (today) can be swapped for another engine without touching the Raft code.

use crate::KvError;
use std::ops::Bound;

/// The key spaces the store keeps apart (sled trees; column families elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Space {
    /// Raft log entries keyed by big-endian `u64` index, so byte order is index order.
    Log,
    /// Small records: vote, committed log id, last purged log id, format marker.
    Meta,
    /// The last snapshot: its metadata and its data.
    Snapshot,
}

impl Space {
    /// Every space, for iteration.
    pub const ALL: [Space; 3] = [Space::Log, Space::Meta, Space::Snapshot];

    /// The space's name in the backend.
    pub fn name(self) -> &'static str {
        match self {
            Space::Log => "log",
            Space::Meta => "meta",
            Space::Snapshot => "snapshot",
        }
    }
}

/// One write in an atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOp {
    /// Sets `key` to `value`.
    Put(Vec<u8>, Vec<u8>),
    /// Removes `key` (no error if absent).
    Delete(Vec<u8>),
}

/// A key and its value.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// The operations the Raft store needs from a key-value engine.
///
/// Writes are applied in memory and become durable only after [`KvBackend::flush`];
/// a backend must recover, after a crash, a prefix of the writes in the order they were
/// made (sled does), so one flush makes every earlier write durable.
pub trait KvBackend: Send + Sync + 'static {
    /// The value at `key`.
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;

    /// Applies `ops` atomically: after a crash either all or none are visible.
    fn write(&self, space: Space, ops: Vec<KvOp>) -> Result<(), KvError>;

    /// Pairs with keys in `[from, to)` bounds, in key order, at most `limit` of them.
    fn range(
        &self,
        space: Space,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KvPair>, KvError>;

    /// The pair with the greatest key.
    fn last(&self, space: Space) -> Result<Option<KvPair>, KvError>;

    /// Removes every key within the bounds (atomically).
    fn remove_range(
        &self,
        space: Space,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
    ) -> Result<(), KvError>;

    /// True when the space holds no key.
    fn is_empty(&self, space: Space) -> Result<bool, KvError>;

    /// Makes every write made so far durable (fsync). Blocking: call it off the async
    /// executor's threads.
    fn flush(&self) -> Result<(), KvError>;
}
