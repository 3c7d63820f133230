//! Secrets and configs on a node: where the clear values come from and where they go.
//!
//! - **From**: a manager opens the sealed revision in its replicated state with the
//!   CA-derived key ([`crate::cluster::seal`]); a worker, which holds no CA key, gets
//!   the clear value from the leader over its mutual-TLS session, only for tasks
//!   assigned to it ([`NodeValues::receive`]), and forgets it when no task of its
//!   needs it any more ([`NodeValues::keep_only`]).
//! - **To**: a per-task tmpfs at `DATA_DIR/values/TASK_ID` (mode 0700, nosuid, nodev,
//!   noexec: memory, never the disk), one file per reference with the reference's
//!   uid/gid/mode, each bind-mounted read-only, nosuid, nodev, noexec into the
//!   container at its target. The tmpfs is unmounted and its directory removed when
//!   the task's container is removed, and any left over (a crash, an agent restart)
//!   by the agent's next pass.
//!
//! Nothing here logs a value; log lines name the value and its revision.

use orc_model::{ClearValue, ClusterState, Task, ValueKey, ValueKind, Values};
use orc_rpc::wire::DeliveredValue;
use orc_runtime::MountConfig;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct NodeValues {
    /// This node's CA key holder (a manager's opens values; a worker has none).
    keys: std::sync::Arc<crate::cluster::ca_key::CaKeys>,
    /// `DATA_DIR/values`: one tmpfs mount point per task.
    root: PathBuf,
    /// What the leader sent (workers).
    received: Mutex<BTreeMap<ValueKey, ClearValue>>,
    /// The sealed values of the replicated state (managers).
    sealed: Mutex<Values>,
}

impl NodeValues {
    pub fn new(
        keys: std::sync::Arc<crate::cluster::ca_key::CaKeys>,
        data_dir: &Path,
    ) -> NodeValues {
        NodeValues {
            keys,
            root: data_dir.join("values"),
            received: Mutex::new(BTreeMap::new()),
            sealed: Mutex::new(Values::default()),
        }
    }

    /// Takes values the leader sent (a worker's session).
    pub fn receive(&self, values: Vec<DeliveredValue>) {
        let Ok(mut m) = self.received.lock() else {
            return;
        };
        for v in values {
            tracing::info!("received {} from the leader", v.key);
            m.insert(v.key, v.value);
        }
    }

    /// Forgets the values the node's tasks no longer need (a worker's session, on
    /// every new assignment list).
    pub fn keep_only(&self, state: &ClusterState, node: orc_model::NodeId) {
        let keep = state.values_for_node(node);
        if let Ok(mut m) = self.received.lock() {
            m.retain(|k, _| keep.contains(k));
        }
    }

    /// Takes the sealed values of a manager's new state.
    pub fn update(&self, state: &ClusterState) {
        if let Ok(mut s) = self.sealed.lock() {
            if *s != state.values {
                *s = state.values.clone();
            }
        }
    }

    /// The clear value of one revision: sent by the leader, or opened here.
    fn get(&self, key: &ValueKey) -> Result<ClearValue, String> {
        if let Some(v) = self.received.lock().ok().and_then(|m| m.get(key).cloned()) {
            return Ok(v);
        }
        let sealed = self
            .sealed
            .lock()
            .ok()
            .and_then(|s| s.sealed(key).map(|r| r.sealed.clone()));
        let Some(sealed) = sealed else {
            return Err(format!("{key} has not reached this node"));
        };
        crate::cluster::seal::open(
            &self.keys,
            key.kind.into(),
            &crate::cluster::seal::value_aad(key.kind, &key.name),
            &sealed,
        )
        .map(ClearValue::new)
        .map_err(|e| format!("{key}: {e}"))
    }

    fn dir(&self, task: &str) -> PathBuf {
        self.root.join(task)
    }

    /// Writes the task's secrets and configs into its own tmpfs and returns the
    /// mounts of its files. A task without any gets nothing (no tmpfs).
    pub fn materialize(&self, task: &Task) -> Result<Vec<MountConfig>, String> {
        let refs: Vec<(ValueKind, &orc_spec::FileRef)> = [ValueKind::Secret, ValueKind::Config]
            .into_iter()
            .flat_map(|k| k.refs(&task.spec).iter().map(move |r| (k, r)))
            .collect();
        if refs.is_empty() {
            return Ok(Vec::new());
        }
        let mut values = Vec::new();
        for (kind, r) in &refs {
            let key = ValueKey {
                kind: *kind,
                name: r.name.clone(),
                revision: r.revision,
            };
            values.push((self.get(&key)?, *r, key));
        }
        let dir = self.dir(&task.id);
        // A left-over from an interrupted start: begin again.
        self.remove(&task.id);
        std::fs::create_dir_all(&self.root).map_err(|e| format!("{}: {e}", self.root.display()))?;
        let _ = crate::util::set_mode(&self.root, 0o700);
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let total: usize = values.iter().map(|(v, _, _)| v.len() + 4096).sum();
        let size = total.div_ceil(4096) * 4096 + 65536;
        use nix::mount::{mount, MsFlags};
        if let Err(e) = mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some(format!("mode=0700,size={size}").as_str()),
        ) {
            let _ = std::fs::remove_dir(&dir);
            return Err(format!("mounting a tmpfs at {}: {e}", dir.display()));
        }
        let mut mounts = Vec::new();
        for (i, (value, r, key)) in values.iter().enumerate() {
            let file = dir.join(i.to_string());
            if let Err(e) = write_file(&file, value, r) {
                self.remove(&task.id);
                return Err(format!("{key}: writing its file: {e}"));
            }
            tracing::info!(task = %task.id, "{key} is at {} in the task", r.target);
            mounts.push(MountConfig::ValueFile {
                source: file,
                target: r.target.clone(),
            });
        }
        Ok(mounts)
    }

    /// Unmounts and removes the task's tmpfs, if it has one.
    pub fn remove(&self, task: &str) {
        let dir = self.dir(task);
        if !dir.exists() {
            return;
        }
        match nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => tracing::warn!(task, "unmounting {}: {e}", dir.display()),
        }
        // Only an empty directory is left (the files were in the tmpfs).
        if let Err(e) = std::fs::remove_dir(&dir) {
            tracing::warn!(task, "removing {}: {e}", dir.display());
        }
    }

    /// Removes the tmpfs of every task not in `live` (ended while the agent was away,
    /// or reaped).
    pub fn cleanup(&self, live: &HashSet<String>) {
        let Ok(rd) = std::fs::read_dir(&self.root) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !live.contains(&name) {
                self.remove(&name);
            }
        }
    }
}

/// One value's file: created 0600, written, then given the reference's owner and mode.
fn write_file(path: &Path, value: &ClearValue, r: &orc_spec::FileRef) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(value.as_bytes())?;
    drop(f);
    std::os::unix::fs::chown(path, Some(r.uid), Some(r.gid))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(r.mode))
}
