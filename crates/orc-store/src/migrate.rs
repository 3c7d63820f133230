//! Upgrading a store written by an older orc (model formats 2 and 3, see
//! `orc_model::legacy`, and 4, today's shapes without the change indexes) in place,
//! on open.
//!
//! Every value is rewritten under today's header: log entries are decoded in their old
//! shape and converted, the snapshot's state is re-encoded, and the small records
//! (vote, committed, purged, snapshot metadata), whose shapes did not change, get the
//! new header. Each space is rewritten in atomic batches of values still in the old
//! format, and the format marker changes last, after a flush: a crash part-way leaves
//! the old marker, and the next open finishes the job (values already rewritten are
//! recognised by their header and left alone).

use crate::codec::{encode, HEADER, STORE_FORMAT};
use crate::kv::{KvBackend, KvOp, Space};
use crate::types::Entry;
use crate::StoreError;
use openraft::EntryPayload;
use orc_model::legacy;
use std::ops::Bound;

/// Model formats an older orc wrote that this build upgrades.
pub(crate) const READABLE: [u8; 3] = [2, 3, 4];

/// Log entries rewritten per atomic batch.
const BATCH: usize = 256;

openraft::declare_raft_types!(
    /// Raft types whose commands have format 2's shape: only to decode old log entries.
    OldV2:
        D = legacy::Command<legacy::SpecV2>,
        R = orc_model::CommandResult,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<OldV2>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

openraft::declare_raft_types!(
    /// Raft types whose commands have format 3's shape.
    OldV3:
        D = legacy::Command<legacy::SpecV3>,
        R = orc_model::CommandResult,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<OldV3>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// Rewrites every value of a store in model format `from` in today's format, then its
/// format marker.
pub(crate) fn upgrade(kv: &dyn KvBackend, from: u8, marker_key: &[u8]) -> Result<(), StoreError> {
    tracing::info!(
        "upgrading the raft store from model format {from} to {}",
        orc_model::FORMAT_VERSION
    );
    let old = [STORE_FORMAT, from];
    match from {
        2 => upgrade_log::<OldV2>(kv, old)?,
        3 => upgrade_log::<OldV3>(kv, old)?,
        // Format 4's commands are today's (`Guarded` came after them, last): its log
        // entries decode as they are. Their `expect_version`s still mean the spec
        // version they meant then, so a replay decides as the first apply did.
        _ => upgrade_log::<crate::types::TypeConfig>(kv, old)?,
    }
    for (key, value) in kv.range(Space::Meta, Bound::Unbounded, Bound::Unbounded, usize::MAX)? {
        if key != marker_key && value.starts_with(&old) {
            kv.write(Space::Meta, vec![KvOp::Put(key, reheader(&value))])?;
        }
    }
    if let Some(meta) = kv.get(Space::Snapshot, b"meta")? {
        let data = kv.get(Space::Snapshot, b"data")?.unwrap_or_default();
        let mut ops = Vec::new();
        if meta.starts_with(&old) {
            ops.push(KvOp::Put(b"meta".to_vec(), reheader(&meta)));
        }
        if data.first() != Some(&orc_model::FORMAT_VERSION) {
            let state = orc_model::decode_state(&data).map_err(|source| StoreError::State {
                snapshot_id: "being upgraded".into(),
                source,
            })?;
            let data = orc_model::encode_state(&state).map_err(|source| StoreError::State {
                snapshot_id: "being upgraded".into(),
                source,
            })?;
            ops.push(KvOp::Put(b"data".to_vec(), data));
        }
        if !ops.is_empty() {
            kv.write(Space::Snapshot, ops)?;
        }
    }
    kv.flush()?;
    kv.write(
        Space::Meta,
        vec![KvOp::Put(marker_key.to_vec(), HEADER.to_vec())],
    )?;
    kv.flush()?;
    Ok(())
}

/// The same bytes under today's header (for values whose shape did not change).
fn reheader(value: &[u8]) -> Vec<u8> {
    let mut v = HEADER.to_vec();
    v.extend_from_slice(value.get(2..).unwrap_or_default());
    v
}

fn upgrade_log<C>(kv: &dyn KvBackend, old: [u8; 2]) -> Result<(), StoreError>
where
    C: openraft::RaftTypeConfig<NodeId = u64, Node = openraft::BasicNode>,
    C::D: Into<orc_model::Command>,
{
    let mut from: Option<Vec<u8>> = None;
    loop {
        let lower = from.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let page = kv.range(Space::Log, lower, Bound::Unbounded, BATCH)?;
        let Some((last, _)) = page.last() else {
            return Ok(());
        };
        from = Some(last.clone());
        let mut ops = Vec::new();
        for (key, value) in page {
            if !value.starts_with(&old) {
                continue;
            }
            let what = format!("log entry {}", index_of(&key));
            let (e, _): (openraft::Entry<C>, usize) =
                bincode::serde::decode_from_slice(&value[2..], bincode::config::standard())
                    .map_err(|source| StoreError::Decode {
                        what: what.clone(),
                        source,
                    })?;
            let payload = match e.payload {
                EntryPayload::Blank => EntryPayload::Blank,
                EntryPayload::Normal(c) => EntryPayload::Normal(c.into()),
                EntryPayload::Membership(m) => EntryPayload::Membership(m),
            };
            let entry = Entry {
                log_id: e.log_id,
                payload,
            };
            ops.push(KvOp::Put(key, encode(&what, &entry)?));
        }
        if !ops.is_empty() {
            kv.write(Space::Log, ops)?;
        }
    }
}

fn index_of(key: &[u8]) -> u64 {
    key.try_into().map(u64::from_be_bytes).unwrap_or(0)
}
