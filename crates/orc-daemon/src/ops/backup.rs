//! Cluster backups (`orc cluster backup`, `backup ls`, `backup verify`), restoring one on
//! a fresh node (`orc cluster restore`, then `orc cluster resume`), and the scheduled
//! backups every manager keeps in `DATA_DIR/backups`.
//!
//! A backup is taken online: a no-op write goes through Raft first, so once it is
//! applied here every write acknowledged before the backup started is in the state
//! read. Sealed values stay sealed; the CA key is added only on request, sealed under a
//! passphrase. Volume data and images are not in a backup.

use super::{views, Ops};
use crate::cluster::{passphrase, security};
use crate::util::now_ms;
use crate::DaemonError;
use orc_model::{decode_backup, encode_backup, Backup, BackupHeader, Command};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The file name scheduled backups get: `backup-<ms>-<index>.orcbak`.
const SCHEDULED_PREFIX: &str = "backup-";
const SUFFIX: &str = ".orcbak";

/// What a backup holds, as `backup`, `backup ls` and `backup verify` show it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupInfo {
    pub path: PathBuf,
    pub cluster_id: String,
    pub raft_index: u64,
    pub orc_version: String,
    pub created_at: u64,
    pub age_secs: u64,
    pub services: usize,
    pub nodes: usize,
    /// The CA key is in it (sealed under a passphrase).
    pub with_ca: bool,
    pub bytes: u64,
}

/// What `orc cluster restore` made.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub cluster_id: String,
    pub node_id: String,
    pub from_cluster: String,
    pub raft_index: u64,
    pub services: usize,
    /// Old nodes whose certificates are refused from now on.
    pub revoked_nodes: usize,
    /// Whether sealed values (registry credentials) came back: needs the CA.
    pub secrets_restored: bool,
    pub held: bool,
}

fn info(path: &Path, b: &Backup, bytes: u64) -> BackupInfo {
    BackupInfo {
        path: path.to_path_buf(),
        cluster_id: b.header.cluster_id.clone(),
        raft_index: b.header.raft_index,
        orc_version: b.header.orc_version.clone(),
        created_at: b.header.created_at,
        age_secs: now_ms().saturating_sub(b.header.created_at) / 1000,
        services: b.header.services,
        nodes: b.header.nodes,
        with_ca: b.ca.is_some(),
        bytes,
    }
}

fn read(path: &Path) -> Result<(Backup, u64), DaemonError> {
    let bytes = std::fs::read(path).map_err(|e| DaemonError::io(path, e))?;
    let b = decode_backup(&bytes)
        .map_err(|e| DaemonError::Invalid(format!("{}: {e}", path.display())))?;
    Ok((b, bytes.len() as u64))
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one: a
/// temporary file beside it, synced, renamed over it (0600).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DaemonError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| DaemonError::io(&dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "backup".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", crate::util::random_id()));
    let result = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(DaemonError::io(path, e));
    }
    Ok(())
}

impl Ops {
    /// Takes a backup of the whole cluster state at a committed index, in memory.
    async fn take_backup(&self, passphrase: Option<&str>) -> Result<Vec<u8>, DaemonError> {
        let cluster = self.cluster()?;
        // The barrier: applied here once every earlier acknowledged write is.
        cluster.propose(Command::Noop).await?;
        let raft_index = cluster
            .raft
            .metrics()
            .borrow()
            .last_applied
            .map(|l| l.index)
            .unwrap_or(0);
        let state = cluster.snapshot();
        let cluster_id = state
            .cluster
            .as_ref()
            .map(|c| c.id.clone())
            .ok_or(DaemonError::NoCluster)?;
        let ca = match passphrase {
            Some(p) => {
                let ca = self.ca_keys.ca()?;
                let (cert, key) = ca.to_pem();
                Some(
                    passphrase::seal(&cert, &key, p)
                        .map_err(|e| DaemonError::Invalid(e.to_string()))?,
                )
            }
            None => None,
        };
        let header = BackupHeader {
            cluster_id,
            raft_index,
            orc_version: env!("CARGO_PKG_VERSION").into(),
            created_at: now_ms(),
            services: state.services.len(),
            nodes: state.nodes.len(),
        };
        encode_backup(header, &state, ca).map_err(|e| DaemonError::Invalid(e.to_string()))
    }

    /// `orc cluster backup FILE [--with-ca]`: from any manager, nothing stopped.
    pub async fn cluster_backup(
        &self,
        path: &Path,
        passphrase: Option<String>,
    ) -> Result<BackupInfo, DaemonError> {
        let bytes = self.take_backup(passphrase.as_deref()).await?;
        write_atomically(path, &bytes)?;
        let (b, len) = read(path)?;
        Ok(info(path, &b, len))
    }

    /// This manager's scheduled backups, newest first.
    pub fn backup_ls(&self) -> Result<Vec<BackupInfo>, DaemonError> {
        let dir = self.cfg.data_dir.join("backups");
        let mut out = Vec::new();
        for p in scheduled_files(&dir) {
            match read(&p) {
                Ok((b, len)) => out.push(info(&p, &b, len)),
                Err(e) => tracing::warn!("{e}"),
            }
        }
        out.sort_by_key(|b| std::cmp::Reverse(b.raft_index));
        Ok(out)
    }

    /// `orc cluster backup verify FILE`: format, checksum, state; and, given the
    /// passphrase, that it opens the CA key.
    pub fn backup_verify(
        &self,
        path: &Path,
        passphrase: Option<String>,
    ) -> Result<BackupInfo, DaemonError> {
        let (b, len) = read(path)?;
        if let Some(p) = passphrase {
            let sealed = b.ca.as_ref().ok_or_else(|| {
                DaemonError::Invalid(format!("{}: holds no CA key", path.display()))
            })?;
            passphrase::open(sealed, &p).map_err(|e| DaemonError::Invalid(e.to_string()))?;
        }
        Ok(info(path, &b, len))
    }

    /// `orc cluster restore FILE [--advertise A]` on a node in no cluster: a new
    /// cluster with this node its only manager and the backup's services held.
    pub async fn cluster_restore(
        &self,
        path: &Path,
        advertise: Option<String>,
        passphrase: Option<String>,
    ) -> Result<Restored, DaemonError> {
        let (b, _) = read(path)?;
        let ca = match (&b.ca, passphrase) {
            (Some(sealed), Some(p)) => {
                let key = passphrase::open(sealed, &p)
                    .map_err(|e| DaemonError::Invalid(e.to_string()))?;
                Some(
                    orc_pki::ClusterCa::from_pem(&sealed.cert_pem, &key)
                        .map_err(security::pki_err)?,
                )
            }
            (None, Some(_)) => {
                return Err(DaemonError::Invalid(format!(
                    "{}: holds no CA key (taken without --with-ca); restore without a passphrase",
                    path.display()
                )))
            }
            (_, None) => None,
        };
        let secrets_restored = ca.is_some();
        let from_cluster = b.header.cluster_id.clone();
        let raft_index = b.header.raft_index;
        let old_nodes = b.state.nodes.len() + b.state.revoked_nodes.len();
        let services = b.state.services.len();
        let id = self
            .life
            .restore_cluster(advertise, Box::new(b.state), ca)
            .await?;
        Ok(Restored {
            cluster_id: id.cluster_id,
            node_id: views::node_id_str(id.node_id),
            from_cluster,
            raft_index,
            services,
            revoked_nodes: old_nodes,
            secrets_restored,
            held: true,
        })
    }

    /// `orc cluster resume`: a restored cluster's services may start.
    pub async fn cluster_resume(&self) -> Result<serde_json::Value, DaemonError> {
        let cluster = self.cluster()?;
        let was = cluster.snapshot().held;
        cluster.propose(Command::Resume).await?;
        Ok(serde_json::json!({ "resumed": was }))
    }
}

fn scheduled_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .is_some_and(|n| n.starts_with(SCHEDULED_PREFIX) && n.ends_with(SUFFIX))
        })
        .collect()
}

/// Scheduled backups on this manager: one every `every` into `DATA_DIR/backups`,
/// keeping the newest `keep`. Runs until `stop`.
pub async fn scheduled(
    ops: Arc<Ops>,
    every: Duration,
    keep: usize,
    mut stop: watch::Receiver<bool>,
) {
    if every.is_zero() || keep == 0 {
        return;
    }
    let dir = ops.cfg.data_dir.join("backups");
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let bytes = match ops.take_backup(None).await {
            Ok(b) => b,
            Err(e) => {
                tracing::info!("scheduled backup skipped: {e}");
                continue;
            }
        };
        let index = decode_backup(&bytes)
            .map(|b| b.header.raft_index)
            .unwrap_or(0);
        let path = dir.join(format!("{SCHEDULED_PREFIX}{}-{index}{SUFFIX}", now_ms()));
        if let Err(e) = write_atomically(&path, &bytes) {
            tracing::warn!("scheduled backup: {e}");
            continue;
        }
        let mut files = scheduled_files(&dir);
        // Names sort by time (fixed-width milliseconds for centuries to come).
        files.sort();
        let excess = files.len().saturating_sub(keep);
        for old in &files[..excess] {
            if let Err(e) = std::fs::remove_file(old) {
                tracing::warn!("removing old backup {}: {e}", old.display());
            }
        }
    }
}
