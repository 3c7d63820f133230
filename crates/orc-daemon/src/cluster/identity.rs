//! This node's identity on disk: which cluster it belongs to and its node id.

use crate::DaemonError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub format: u32,
    pub node_id: u64,
    pub cluster_id: String,
    pub role: orc_model::NodeRole,
    /// Managers' cluster addresses as last known (how a worker finds the cluster).
    #[serde(default)]
    pub managers: Vec<String>,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("node.json")
}

pub fn load(data_dir: &Path) -> Result<Option<Identity>, DaemonError> {
    let p = path(data_dir);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| DaemonError::Identity {
                path: p,
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DaemonError::io(p, e)),
    }
}

/// Written atomically (temp file + rename + fsync) so a crash never leaves half a file.
pub fn save(data_dir: &Path, id: &Identity) -> Result<(), DaemonError> {
    use std::io::Write;
    let p = path(data_dir);
    let tmp = data_dir.join("node.json.tmp");
    let body = serde_json::to_vec_pretty(id).map_err(|e| DaemonError::Invalid(e.to_string()))?;
    let mut f = std::fs::File::create(&tmp).map_err(|e| DaemonError::io(&tmp, e))?;
    f.write_all(&body)
        .and_then(|_| f.sync_all())
        .map_err(|e| DaemonError::io(&tmp, e))?;
    std::fs::rename(&tmp, &p).map_err(|e| DaemonError::io(&p, e))
}
