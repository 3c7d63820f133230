//! The state machine: orc's [`ClusterState`] in memory, published on a watch channel;
//! snapshots persisted through the [`KvBackend`].

use crate::backend::{Backend, StoreClosed};
use crate::log_store::flush;
use crate::snapshot::{self, StoredSnapshot};
use crate::types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use crate::StoreError;
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use orc_model::{ClusterState, CommandResult};
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// Applies committed entries to [`ClusterState`] and keeps its snapshots.
///
/// Give it to `Raft::new`; call [`StateMachineStore::subscribe`] first to keep a
/// [`watch::Receiver`] that sees every applied state.
pub struct StateMachineStore {
    kv: Arc<Backend>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    state: Arc<watch::Sender<Arc<ClusterState>>>,
    snapshot_seq: Arc<AtomicU64>,
    /// When the stored snapshot was built (ms since the epoch; 0 = none, or unknown).
    built_at: Arc<AtomicU64>,
}

/// When the store's current snapshot was built, readable after the store went to Raft.
#[derive(Debug, Clone)]
pub struct SnapshotClock(Arc<AtomicU64>);

impl SnapshotClock {
    /// Milliseconds since the epoch; `None` without a snapshot or for one built before
    /// orc recorded the time.
    pub fn built_at_ms(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|t| *t > 0)
    }
}

impl StateMachineStore {
    /// Restores from the stored snapshot (or starts empty when there is none); openraft
    /// then re-applies the committed log after it.
    pub(crate) fn open(kv: Arc<Backend>) -> Result<Self, StoreError> {
        let mut built_at = 0;
        let (last_applied, membership, state) = match snapshot::load(&**kv)? {
            Some(snap) => {
                let state = snap.state()?;
                built_at = snapshot::built_at(&snap.meta.snapshot_id).unwrap_or(0);
                (snap.meta.last_log_id, snap.meta.last_membership, state)
            }
            None => (None, StoredMembership::default(), ClusterState::default()),
        };
        let (tx, _) = watch::channel(Arc::new(state));
        Ok(StateMachineStore {
            kv,
            last_applied,
            membership,
            state: Arc::new(tx),
            snapshot_seq: Arc::new(AtomicU64::new(0)),
            built_at: Arc::new(AtomicU64::new(built_at)),
        })
    }

    /// A handle on when the current snapshot was built (see [`SnapshotClock`]).
    pub fn snapshot_clock(&self) -> SnapshotClock {
        SnapshotClock(self.built_at.clone())
    }

    /// A receiver of the state after every applied batch of entries. It wakes when the
    /// state's `revision` changes (or a snapshot is installed).
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterState>> {
        self.state.subscribe()
    }

    /// The current state (a cheap `Arc` clone).
    pub fn current(&self) -> Arc<ClusterState> {
        self.state.borrow().clone()
    }

    /// A future that resolves once this store's backend is closed.
    pub fn closed(&self) -> StoreClosed {
        self.kv.closed()
    }

    /// The id of the last applied entry.
    pub fn last_applied(&self) -> Option<LogId> {
        self.last_applied
    }
}

/// Builds a snapshot of the state as it was when openraft asked for the builder.
pub struct SnapshotBuilder {
    kv: Arc<Backend>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    state: Arc<ClusterState>,
    snapshot_seq: Arc<AtomicU64>,
    built_at: Arc<AtomicU64>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let seq = self.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let snapshot_id = snapshot::new_id(self.last_applied.as_ref(), seq, now_ms);
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        let signature = meta.signature();
        let err = |e: &StoreError| StorageIOError::write_snapshot(Some(signature.clone()), e);
        let data = orc_model::encode_state(&self.state).map_err(|source| {
            err(&StoreError::State {
                snapshot_id: meta.snapshot_id.clone(),
                source,
            })
        })?;
        let stored = StoredSnapshot { meta, data };
        snapshot::save(&**self.kv, &stored).map_err(|e| err(&e))?;
        flush(&self.kv).await.map_err(|e| err(&e))?;
        self.built_at.store(
            snapshot::built_at(&stored.meta.snapshot_id).unwrap_or(0),
            Ordering::Relaxed,
        );
        tracing::debug!(id = %stored.meta.snapshot_id, bytes = stored.data.len(), "snapshot built");
        Ok(stored.into_snapshot())
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut results = Vec::new();
        let last_applied = &mut self.last_applied;
        let membership = &mut self.membership;
        self.state.send_if_modified(|state| {
            let mut changed = false;
            for entry in entries {
                *last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => results.push(CommandResult::Ok),
                    EntryPayload::Normal(cmd) => {
                        // Clones the state only if a reader still holds the previous one.
                        let s = Arc::make_mut(state);
                        let before = s.revision;
                        results.push(s.apply_at(entry.log_id.index, &cmd));
                        changed |= s.revision != before;
                    }
                    EntryPayload::Membership(m) => {
                        *membership = StoredMembership::new(Some(entry.log_id), m);
                        results.push(CommandResult::Ok);
                    }
                }
            }
            changed
        });
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            kv: self.kv.clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            state: self.current(),
            snapshot_seq: self.snapshot_seq.clone(),
            built_at: self.built_at.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let err = |e: &StoreError| StorageIOError::write_snapshot(Some(meta.signature()), e);
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        // Refuse data we cannot read before it replaces anything.
        let state = stored.state().map_err(|e| err(&e))?;
        snapshot::save(&**self.kv, &stored).map_err(|e| err(&e))?;
        flush(&self.kv).await.map_err(|e| err(&e))?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.built_at.store(
            snapshot::built_at(&meta.snapshot_id).unwrap_or(0),
            Ordering::Relaxed,
        );
        self.state.send_replace(Arc::new(state));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let stored =
            snapshot::load(&**self.kv).map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(stored.map(StoredSnapshot::into_snapshot))
    }
}
