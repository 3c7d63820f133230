//! `orc cluster recover --force-new-cluster`: a manager whose Raft majority is gone for
//! good becomes the single voter of its cluster, with the log it holds.
//!
//! Done on the closed store: a membership entry naming only this node is appended after
//! its last entry, under a term above any it has seen, and its vote goes to itself in
//! that term. On restart openraft takes the newest membership entry as the effective
//! one, so this node alone is a quorum: it elects itself and commits the whole log it
//! holds, as any new leader would (every entry a majority acknowledged is in it, since
//! it was in every majority).

use crate::codec::{decode, encode};
use crate::log_store::{KEY_LAST_PURGED, KEY_VOTE};
use crate::types::{Entry, LogId, RaftNodeId, Vote};
use crate::{check_format, KvBackend, KvOp, SledKv, Space, StoreConfig, StoreError};
use openraft::{BasicNode, CommittedLeaderId, EntryPayload, Membership};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What [`force_single_voter`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// The index of the new membership entry (every entry before it is kept).
    pub index: u64,
    /// The term the node voted for itself in.
    pub term: u64,
}

/// Makes the (closed) store in `dir` a one-voter cluster of `me` at `addr`.
pub fn force_single_voter(
    dir: &Path,
    cfg: &StoreConfig,
    me: RaftNodeId,
    addr: &str,
) -> Result<Recovered, StoreError> {
    let kv = SledKv::open(dir, cfg).map_err(|source| StoreError::Open {
        path: dir.to_path_buf(),
        source,
    })?;
    check_format(&kv, dir)?;
    let last: Option<LogId> = match kv.last(Space::Log)? {
        Some((_, v)) => Some(decode::<Entry>("last log entry", &v)?.log_id),
        None => match kv.get(Space::Meta, KEY_LAST_PURGED)? {
            Some(v) => decode("last purged log id", &v)?,
            None => None,
        },
    };
    let vote: Option<Vote> = match kv.get(Space::Meta, KEY_VOTE)? {
        Some(v) => Some(decode("vote", &v)?),
        None => None,
    };
    let seen = vote
        .map(|v| v.leader_id().term)
        .max(last.map(|l| l.leader_id.term))
        .unwrap_or(0);
    let term = seen + 1;
    let index = last.map(|l| l.index + 1).unwrap_or(0);
    let nodes: BTreeMap<RaftNodeId, BasicNode> = [(
        me,
        BasicNode {
            addr: addr.to_string(),
        },
    )]
    .into();
    let voters: BTreeSet<RaftNodeId> = [me].into();
    let entry = Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, me), index),
        payload: EntryPayload::Membership(Membership::new(vec![voters], nodes)),
    };
    kv.write(
        Space::Log,
        vec![KvOp::Put(
            index.to_be_bytes().to_vec(),
            encode(&format!("log entry {index}"), &entry)?,
        )],
    )?;
    kv.write(
        Space::Meta,
        vec![KvOp::Put(
            KEY_VOTE.to_vec(),
            encode("vote", &Vote::new(term, me))?,
        )],
    )?;
    kv.flush()?;
    Ok(Recovered { index, term })
}
