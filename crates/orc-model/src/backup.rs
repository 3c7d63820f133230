//! Cluster backups: the file format (pure encode/decode, checksummed) and how a
//! backed-up state becomes a new cluster's state ([`ClusterState::restore_from`]).
//!
//! A file is `ORCBACKUP` + one format byte + a bincode [`BackupFile`]: a header (format,
//! cluster id, Raft index, orc version, time), the state in the versioned state codec,
//! optionally the cluster CA sealed under a passphrase, and a SHA-256 over all of it.
//! Volume data and images are not in a backup.

use crate::codec::{decode_state, encode_state, CodecError};
use crate::{ClusterState, NodeId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: &[u8] = b"ORCBACKUP";
/// The backup file format this build writes and reads.
pub const BACKUP_FORMAT: u8 = 1;

/// What a backup says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    pub cluster_id: String,
    /// Every write acknowledged before the backup was taken is at or below this index.
    pub raft_index: u64,
    pub orc_version: String,
    /// Milliseconds since the epoch.
    pub created_at: u64,
    pub services: usize,
    pub nodes: usize,
}

/// The cluster CA, its key sealed under a passphrase (see orc-daemon's sealing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedCa {
    pub cert_pem: String,
    /// PBKDF2 salt.
    pub salt: Vec<u8>,
    pub iterations: u32,
    /// ChaCha20-Poly1305 nonce and the sealed key PEM.
    pub nonce: Vec<u8>,
    pub sealed_key: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct BackupFile {
    header: BackupHeader,
    /// The state, encoded by the state codec (its own version byte first).
    state: Vec<u8>,
    ca: Option<SealedCa>,
    sha256: [u8; 32],
}

/// A decoded, verified backup.
#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    pub header: BackupHeader,
    pub state: ClusterState,
    pub ca: Option<SealedCa>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not an orc backup (no ORCBACKUP header)")]
    NotABackup,
    #[error(
        "backup format {0} is newer than this orc reads (format {BACKUP_FORMAT}): use a newer orc"
    )]
    TooNew(u8),
    #[error("the backup is damaged or truncated: {0}")]
    Damaged(String),
    #[error("the backup's checksum does not match: the file was changed or damaged")]
    Checksum,
    #[error("the backup's state: {0}")]
    State(#[from] CodecError),
}

fn digest(
    header: &BackupHeader,
    state: &[u8],
    ca: &Option<SealedCa>,
) -> Result<[u8; 32], BackupError> {
    let cfg = bincode::config::standard();
    let mut h = Sha256::new();
    for part in [
        bincode::serde::encode_to_vec(header, cfg),
        Ok(state.to_vec()),
        bincode::serde::encode_to_vec(ca, cfg),
    ] {
        h.update(part.map_err(|e| BackupError::Damaged(e.to_string()))?);
    }
    Ok(h.finalize().into())
}

/// The bytes of a backup of `state`.
pub fn encode_backup(
    header: BackupHeader,
    state: &ClusterState,
    ca: Option<SealedCa>,
) -> Result<Vec<u8>, BackupError> {
    let state = encode_state(state)?;
    let sha256 = digest(&header, &state, &ca)?;
    let file = BackupFile {
        header,
        state,
        ca,
        sha256,
    };
    let mut out = MAGIC.to_vec();
    out.push(BACKUP_FORMAT);
    out.extend(
        bincode::serde::encode_to_vec(&file, bincode::config::standard())
            .map_err(|e| BackupError::Damaged(e.to_string()))?,
    );
    Ok(out)
}

/// Reads and verifies a backup: its format, checksum and state.
pub fn decode_backup(bytes: &[u8]) -> Result<Backup, BackupError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(BackupError::NotABackup)?;
    let (&format, rest) = rest.split_first().ok_or(BackupError::NotABackup)?;
    if format > BACKUP_FORMAT {
        return Err(BackupError::TooNew(format));
    }
    if format != BACKUP_FORMAT {
        return Err(BackupError::Damaged(format!("unknown format {format}")));
    }
    let (file, used): (BackupFile, usize) =
        bincode::serde::decode_from_slice(rest, bincode::config::standard())
            .map_err(|e| BackupError::Damaged(e.to_string()))?;
    if used != rest.len() {
        return Err(BackupError::Damaged(format!(
            "{} bytes after the end",
            rest.len() - used
        )));
    }
    if digest(&file.header, &file.state, &file.ca)? != file.sha256 {
        return Err(BackupError::Checksum);
    }
    Ok(Backup {
        state: decode_state(&file.state)?,
        header: file.header,
        ca: file.ca,
    })
}

impl ClusterState {
    /// This new cluster's state (its id, security, this node, its network) with the
    /// backed-up services, volumes, settings and wanted images. Every node of the old
    /// cluster is revoked (its certificate, if the CA was restored, is refused); tasks
    /// are not restored (the services are `held` until resumed); volume attachments
    /// stay, on nodes that no longer exist, so the leader fences them at Ceph before
    /// a task may use them elsewhere. Sealed values are kept only if `keep_sealed`
    /// (this cluster has the backup's CA).
    pub fn restore_from(&mut self, from: &ClusterState, keep_sealed: bool) {
        let mine: std::collections::BTreeSet<NodeId> = self.nodes.keys().copied().collect();
        self.revoked_nodes.extend(
            from.nodes
                .keys()
                .chain(from.revoked_nodes.iter())
                .filter(|id| !mine.contains(id)),
        );
        self.services = from.services.clone();
        self.tasks.clear();
        self.vip = from.vip.clone();
        // Whoever held it was an old node.
        self.vip_holder = None;
        self.registry_auth = if keep_sealed {
            from.registry_auth.clone()
        } else {
            Default::default()
        };
        // Secrets and configs are sealed under the CA too: kept with it, else dropped.
        self.values = if keep_sealed {
            from.values.clone()
        } else {
            Default::default()
        };
        self.image_wants = from.image_wants.clone();
        for nodes in self.image_wants.values_mut() {
            nodes.retain(|n| mine.contains(n));
        }
        self.storage = from.storage.clone();
        self.declared_networks = from.declared_networks.clone();
        for v in self.storage.volumes.values_mut() {
            v.fenced.retain(|n| mine.contains(n));
            v.released.retain(|n| mine.contains(n));
            if v.home_node.is_some_and(|n| !mine.contains(&n)) {
                v.home_node = None;
            }
        }
        self.held = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::test_node;

    fn header() -> BackupHeader {
        BackupHeader {
            cluster_id: "c1".into(),
            raft_index: 42,
            orc_version: "0.1.0".into(),
            created_at: 1,
            services: 0,
            nodes: 1,
        }
    }

    fn state() -> ClusterState {
        let mut s = ClusterState::default();
        s.nodes
            .insert(7, test_node(7, crate::NodeRole::Manager, "10.0.0.7:4747"));
        s.revoked_nodes.insert(3);
        s.registry_auth.insert("r.lan".into(), vec![1, 2, 3]);
        s.values.secrets.insert(
            "pw".into(),
            crate::StoredValue {
                id: "v1".into(),
                name: "pw".into(),
                created_at: 1,
                updated_at: 1,
                current: 1,
                revisions: [(
                    1,
                    crate::SealedRevision {
                        sealed: vec![9, 9, 9],
                        size: 2,
                        created_at: 1,
                    },
                )]
                .into_iter()
                .collect(),
                stack: None,
                labels: Default::default(),
            },
        );
        s
    }

    #[test]
    fn a_backup_reads_back_as_written() {
        let bytes = encode_backup(header(), &state(), None).unwrap();
        let b = decode_backup(&bytes).unwrap();
        assert_eq!(b.header, header());
        assert_eq!(b.state, state());
        assert!(b.ca.is_none());
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_refused() {
        let bytes = encode_backup(header(), &state(), None).unwrap();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(
                decode_backup(&bad).is_err(),
                "byte {i} flipped was accepted"
            );
            assert!(
                decode_backup(&bytes[..i]).is_err(),
                "truncated at {i} was accepted"
            );
        }
    }

    #[test]
    fn a_newer_format_is_refused_by_name() {
        let mut bytes = encode_backup(header(), &state(), None).unwrap();
        bytes[MAGIC.len()] = BACKUP_FORMAT + 1;
        let e = decode_backup(&bytes).unwrap_err().to_string();
        assert!(e.contains("newer"), "{e}");
    }

    #[test]
    fn restoring_revokes_the_old_nodes_and_holds_the_services() {
        let mut new = ClusterState::default();
        new.nodes
            .insert(9, test_node(9, crate::NodeRole::Manager, "10.0.0.9:4747"));
        new.restore_from(&state(), false);
        assert!(new.held);
        assert!(new.revoked_nodes.contains(&7) && new.revoked_nodes.contains(&3));
        assert!(!new.revoked_nodes.contains(&9));
        assert!(
            new.registry_auth.is_empty() && new.values.is_empty(),
            "sealed values kept without the CA"
        );
        let mut with_ca = ClusterState::default();
        with_ca.restore_from(&state(), true);
        assert_eq!(with_ca.registry_auth.len(), 1);
        assert_eq!(with_ca.values.secrets["pw"].revisions[&1].sealed, [9, 9, 9]);
        with_ca.apply(&crate::Command::Resume);
        assert!(!with_ca.held);
    }
}
