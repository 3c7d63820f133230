//! This node's volumes: the Ceph identity the cluster set (written for the CLI tools
//! as DATA_DIR/ceph/ceph.conf and a 0600 keyring), attach/detach with a count of the
//! tasks using each mount, and fencing and deletion for the leader and the API.

use orc_model::CephSetting;
use orc_spec::VolumeSpec;
use orc_volume::{CephTool, VolumeError, Volumes};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A node's volumes.
pub struct NodeVolumes {
    root: PathBuf,
    ceph_dir: PathBuf,
    /// The setting the files were written for, and the tool using them.
    ceph: Mutex<Option<(CephSetting, CephTool)>>,
    /// Tasks using each attached volume here; serialises attach and detach.
    refs: tokio::sync::Mutex<HashMap<String, usize>>,
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl NodeVolumes {
    /// Volumes under `DATA_DIR/volumes`, Ceph files under `DATA_DIR/ceph`.
    pub fn new(data_dir: &Path) -> NodeVolumes {
        NodeVolumes {
            root: data_dir.join("volumes"),
            ceph_dir: data_dir.join("ceph"),
            ceph: Mutex::new(None),
            refs: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Follows the cluster's Ceph setting: (re)writes the conf and keyring files when
    /// it changed. The keyring is never logged.
    pub fn set_ceph(&self, setting: Option<&CephSetting>) {
        let Ok(mut cur) = self.ceph.lock() else {
            return;
        };
        if cur.as_ref().map(|(s, _)| s) == setting {
            return;
        }
        let Some(s) = setting else {
            *cur = None;
            let _ = std::fs::remove_file(self.ceph_dir.join("keyring"));
            return;
        };
        let tool = CephTool {
            conf: self.ceph_dir.join("ceph.conf"),
            keyring: self.ceph_dir.join("keyring"),
            user: s.user.clone(),
        };
        let written = std::fs::create_dir_all(&self.ceph_dir)
            .and_then(|()| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&self.ceph_dir, std::fs::Permissions::from_mode(0o700))
            })
            .and_then(|()| write_private(&tool.conf, &s.conf))
            .and_then(|()| write_private(&tool.keyring, &s.keyring));
        match written {
            Ok(()) => *cur = Some((s.clone(), tool)),
            Err(e) => tracing::warn!("writing the Ceph files in {}: {e}", self.ceph_dir.display()),
        }
    }

    fn volumes(&self) -> Volumes {
        let tool = self
            .ceph
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|(_, t)| t.clone()));
        Volumes::new(self.root.clone(), tool)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Volumes) -> Result<T, VolumeError> + Send + 'static,
    ) -> Result<T, VolumeError> {
        let vols = self.volumes();
        tokio::task::spawn_blocking(move || f(vols))
            .await
            .map_err(|e| VolumeError::Other(format!("volume worker: {e}")))?
    }

    /// Attaches `name` for one more task; the directory to bind-mount.
    pub async fn attach(&self, name: &str, spec: &VolumeSpec) -> Result<PathBuf, VolumeError> {
        let mut refs = self.refs.lock().await;
        let (n, s) = (name.to_string(), spec.clone());
        let path = self.blocking(move |v| v.driver(&s)?.attach(&n, &s)).await?;
        *refs.entry(name.to_string()).or_default() += 1;
        Ok(path)
    }

    /// One task fewer uses `name`; the last one detaches it.
    pub async fn detach(&self, name: &str, spec: &VolumeSpec) -> Result<(), VolumeError> {
        let mut refs = self.refs.lock().await;
        let left = refs.get(name).map_or(0, |n| n.saturating_sub(1));
        if left > 0 {
            refs.insert(name.to_string(), left);
            return Ok(());
        }
        refs.remove(name);
        let (n, s) = (name.to_string(), spec.clone());
        self.blocking(move |v| v.driver(&s)?.detach(&n, &s)).await
    }

    /// Cuts the node at `address` off the volume at Ceph.
    pub async fn fence(
        &self,
        name: &str,
        spec: &VolumeSpec,
        address: &str,
    ) -> Result<(), VolumeError> {
        let (n, s, a) = (name.to_string(), spec.clone(), address.to_string());
        self.blocking(move |v| v.driver(&s)?.fence(&n, &s, &a))
            .await
    }

    /// Deletes the volume's data (Ceph image or subvolume; a local directory here).
    pub async fn delete(&self, name: &str, spec: &VolumeSpec) -> Result<(), VolumeError> {
        let (n, s) = (name.to_string(), spec.clone());
        self.blocking(move |v| v.driver(&s)?.delete(&n, &s)).await
    }

    fn tool(&self) -> Result<CephTool, VolumeError> {
        self.ceph
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|(_, t)| t.clone()))
            .ok_or(VolumeError::NoCeph { driver: "ceph" })
    }

    /// `ceph health` with the current setting.
    pub async fn health(&self) -> Result<String, VolumeError> {
        let tool = self.tool()?;
        tokio::task::spawn_blocking(move || tool.ceph(&["health"]))
            .await
            .map_err(|e| VolumeError::Other(format!("volume worker: {e}")))?
    }

    /// Lifts the blocklist entry fencing put on the node at `address`.
    pub async fn unblocklist(&self, address: &str) -> Result<(), VolumeError> {
        let tool = self.tool()?;
        let a = address.to_string();
        tokio::task::spawn_blocking(move || tool.unblocklist(&a))
            .await
            .map_err(|e| VolumeError::Other(format!("volume worker: {e}")))?
    }

    /// Deletes the Ceph files (for a probe copy).
    pub fn forget(&self) {
        let _ = std::fs::remove_dir_all(&self.ceph_dir);
        if let Some(parent) = self.ceph_dir.parent() {
            let _ = std::fs::remove_dir(parent.join("volumes"));
            let _ = std::fs::remove_dir(parent);
        }
    }

    /// This node was fenced off `name`: kill its clients and drop its mounts.
    pub async fn force_detach(&self, name: &str) {
        let mut refs = self.refs.lock().await;
        refs.remove(name);
        let n = name.to_string();
        let _ = self
            .blocking(move |v| {
                v.force_detach(&n);
                Ok(())
            })
            .await;
    }

    /// The volumes mounted on this node now.
    pub fn attached_names(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| self.is_attached(n))
            .collect()
    }

    /// Whether `name` is mounted on this node.
    pub fn is_attached(&self, name: &str) -> bool {
        orc_volume::is_mounted(&self.root.join(name).join("mnt"))
    }
}
