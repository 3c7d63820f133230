//! The one holder of this node's cluster CA key in memory ([`CaKeys`]), owned by the
//! composition root. Everything that signs certificates, derives join tokens or opens
//! sealed values asks it ([`CaKeys::ca`], [`CaKeys::key_pem`]); nothing else reads the
//! key file.
//!
//! On disk a manager keeps the key either plain (`pki/ca-key.pem`) or, with autolock,
//! wrapped under the unlock key (`pki/ca-key.locked`, see [`super::unlock_key`]). A
//! manager that starts with only the wrapped file is **locked**: every reader gets
//! [`CaKeyError::Locked`] until [`CaKeys::unlock`] is given the right unlock key,
//! which is kept nowhere (the clear key then exists only in this process's memory).

use super::unlock_key::{self, UnlockKey, UnlockKeyError, WrappedKey};
use crate::DaemonError;
use orc_pki::ClusterCa;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::sync::watch;

/// The wrapped CA key of a manager with autolock on.
pub const LOCKED_KEY_FILE: &str = "ca-key.locked";

#[derive(Debug, thiserror::Error)]
pub enum CaKeyError {
    #[error("this manager ({0}) is locked (autolock is on): run `orc cluster unlock` on {0}")]
    Locked(String),
    #[error("no cluster CA key on this node: only managers hold it")]
    Absent,
    #[error("this manager is not locked")]
    NotLocked,
    #[error(transparent)]
    Key(#[from] UnlockKeyError),
    #[error("cluster CA key: {0}")]
    Pki(#[from] orc_pki::PkiError),
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
}

impl From<CaKeyError> for DaemonError {
    fn from(e: CaKeyError) -> DaemonError {
        match e {
            CaKeyError::Locked(host) => DaemonError::Locked { host },
            other => DaemonError::Invalid(other.to_string()),
        }
    }
}

/// Where this node's CA key is, as [`CaKeys::status`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// No CA key (a worker, or not in a cluster).
    Absent,
    /// Only the wrapped key: waiting for `orc cluster unlock`.
    Locked,
    /// The key is in memory.
    Unlocked,
}

/// What the pki dir holds (the holder's view, for the autolock follower).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskForm {
    pub plain: bool,
    /// The key id of the wrapped file, if there is one.
    pub wrapped: Option<String>,
}

enum Held {
    Absent,
    Locked,
    Open { cert_pem: String, key_pem: String },
}

pub struct CaKeys {
    dir: PathBuf,
    host: String,
    held: Mutex<Held>,
    changed: watch::Sender<u64>,
}

impl CaKeys {
    /// The holder for the pki dir `dir` of the node called `host`, as the disk has it.
    pub fn load(dir: &Path, host: &str) -> CaKeys {
        let keys = CaKeys {
            dir: dir.to_path_buf(),
            host: host.to_string(),
            held: Mutex::new(Held::Absent),
            changed: watch::channel(0).0,
        };
        keys.reload();
        keys
    }

    /// Reads the disk again (after init, join, a role switch or leaving).
    pub fn reload(&self) {
        let plain = self.dir.join(orc_pki::CA_KEY_FILE);
        let held = if plain.exists() {
            match self.read_plain() {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!("{e}");
                    Held::Absent
                }
            }
        } else if self.dir.join(LOCKED_KEY_FILE).exists() {
            Held::Locked
        } else {
            Held::Absent
        };
        self.set(held);
    }

    fn read_plain(&self) -> Result<Held, CaKeyError> {
        let key_pem = orc_pki::read_key_file(&self.dir.join(orc_pki::CA_KEY_FILE))?;
        let cert_pem = self.cert_pem()?;
        ClusterCa::from_pem(&cert_pem, &key_pem)?;
        Ok(Held::Open { cert_pem, key_pem })
    }

    fn cert_pem(&self) -> Result<String, CaKeyError> {
        let p = self.dir.join(orc_pki::CA_CERT_FILE);
        std::fs::read_to_string(&p).map_err(|e| CaKeyError::File {
            path: p,
            reason: e.to_string(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, held: Held) {
        *self.lock() = held;
        self.changed.send_modify(|n| *n += 1);
    }

    /// Bumped whenever the key is installed, unlocked or forgotten.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub fn status(&self) -> KeyStatus {
        match &*self.lock() {
            Held::Absent => KeyStatus::Absent,
            Held::Locked => KeyStatus::Locked,
            Held::Open { .. } => KeyStatus::Unlocked,
        }
    }

    /// The CA key PEM (what sealing keys and join secrets derive from).
    pub fn key_pem(&self) -> Result<String, CaKeyError> {
        match &*self.lock() {
            Held::Open { key_pem, .. } => Ok(key_pem.clone()),
            Held::Locked => Err(CaKeyError::Locked(self.host.clone())),
            Held::Absent => Err(CaKeyError::Absent),
        }
    }

    /// The cluster CA, to sign certificates with.
    pub fn ca(&self) -> Result<ClusterCa, CaKeyError> {
        match &*self.lock() {
            Held::Open { cert_pem, key_pem } => Ok(ClusterCa::from_pem(cert_pem, key_pem)?),
            Held::Locked => Err(CaKeyError::Locked(self.host.clone())),
            Held::Absent => Err(CaKeyError::Absent),
        }
    }

    /// Saves `ca` (plain: the autolock follower wraps it if the cluster says so) and
    /// holds it: `cluster init`, `join` and `restore` as a manager, a promotion.
    pub fn install(&self, ca: &ClusterCa) -> Result<(), CaKeyError> {
        orc_pki::save_ca(&self.dir, ca)?;
        remove(&self.dir.join(LOCKED_KEY_FILE))?;
        let (cert_pem, key_pem) = ca.to_pem();
        self.set(Held::Open { cert_pem, key_pem });
        Ok(())
    }

    /// Removes the key from disk and memory (a demotion; leaving the cluster).
    pub fn forget(&self) -> Result<(), CaKeyError> {
        remove(&self.dir.join(orc_pki::CA_KEY_FILE))?;
        remove(&self.dir.join(LOCKED_KEY_FILE))?;
        self.set(Held::Absent);
        Ok(())
    }

    /// What the pki dir holds now.
    pub fn disk(&self) -> DiskForm {
        let _held = self.lock();
        DiskForm {
            plain: self.dir.join(orc_pki::CA_KEY_FILE).exists(),
            wrapped: self.read_wrapped().ok().map(|w| w.key_id),
        }
    }

    fn read_wrapped(&self) -> Result<WrappedKey, CaKeyError> {
        let p = self.dir.join(LOCKED_KEY_FILE);
        let text = orc_pki::read_key_file(&p)?;
        serde_json::from_str(&text).map_err(|e| CaKeyError::File {
            path: p,
            reason: format!("not a wrapped CA key: {e}"),
        })
    }

    /// Autolock on (or a new unlock key): writes the key wrapped under `key` for the
    /// cluster's `key_id`, then removes the plain file. Needs the key in memory.
    pub fn wrap(&self, key: &UnlockKey, key_id: &str) -> Result<(), CaKeyError> {
        let held = self.lock();
        let Held::Open { key_pem, .. } = &*held else {
            return Err(self.not_open(&held));
        };
        let w = unlock_key::wrap(key_pem, key, key_id)?;
        let text = serde_json::to_string(&w).map_err(|e| CaKeyError::File {
            path: self.dir.join(LOCKED_KEY_FILE),
            reason: e.to_string(),
        })?;
        orc_pki::write_key_file(&self.dir.join(LOCKED_KEY_FILE), &text)?;
        remove(&self.dir.join(orc_pki::CA_KEY_FILE))
    }

    /// Autolock off: writes the plain key file again, then removes the wrapped one.
    pub fn unwrap_to_plain(&self) -> Result<(), CaKeyError> {
        let held = self.lock();
        let Held::Open { key_pem, .. } = &*held else {
            return Err(self.not_open(&held));
        };
        orc_pki::write_key_file(&self.dir.join(orc_pki::CA_KEY_FILE), key_pem)?;
        remove(&self.dir.join(LOCKED_KEY_FILE))
    }

    fn not_open(&self, held: &Held) -> CaKeyError {
        match held {
            Held::Locked => CaKeyError::Locked(self.host.clone()),
            _ => CaKeyError::Absent,
        }
    }

    /// `orc cluster unlock`: opens the wrapped key with `key` and holds it. A wrong
    /// key changes nothing.
    pub fn unlock(&self, key: &UnlockKey) -> Result<(), CaKeyError> {
        {
            let held = self.lock();
            match &*held {
                Held::Locked => {}
                Held::Open { .. } => return Err(CaKeyError::NotLocked),
                Held::Absent => return Err(CaKeyError::Absent),
            }
        }
        let w = self.read_wrapped()?;
        let key_pem = unlock_key::unwrap(&w, key)?;
        let cert_pem = self.cert_pem()?;
        ClusterCa::from_pem(&cert_pem, &key_pem)?;
        self.set(Held::Open { cert_pem, key_pem });
        Ok(())
    }
}

fn remove(p: &Path) -> Result<(), CaKeyError> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CaKeyError::File {
            path: p.to_path_buf(),
            reason: e.to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager() -> (tempfile::TempDir, ClusterCa) {
        let dir = tempfile::tempdir().unwrap();
        let ca = ClusterCa::generate("locktest").unwrap();
        orc_pki::save_ca(dir.path(), &ca).unwrap();
        (dir, ca)
    }

    #[test]
    fn a_wrapped_key_comes_back_locked_and_opens_only_with_its_key() {
        let (dir, ca) = manager();
        let (_, key_pem) = ca.to_pem();
        let keys = CaKeys::load(dir.path(), "m1");
        assert_eq!(keys.status(), KeyStatus::Unlocked);
        let k = UnlockKey::generate().unwrap();
        keys.wrap(&k, "id1").unwrap();
        assert_eq!(
            keys.disk(),
            DiskForm {
                plain: false,
                wrapped: Some("id1".into())
            }
        );
        // Nothing in the pki dir holds the clear key any more.
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            assert!(!bytes.windows(40).any(|w| key_pem.as_bytes()[30..70] == *w));
        }
        // "Restart": locked; readers get the typed error.
        let keys = CaKeys::load(dir.path(), "m1");
        assert_eq!(keys.status(), KeyStatus::Locked);
        assert!(matches!(keys.ca(), Err(CaKeyError::Locked(h)) if h == "m1"));
        assert!(matches!(keys.key_pem(), Err(CaKeyError::Locked(_))));
        let err = DaemonError::from(keys.key_pem().unwrap_err()).to_string();
        assert!(
            err.contains("locked") && err.contains("orc cluster unlock"),
            "{err}"
        );
        // A wrong key is refused and changes nothing.
        let wrong = UnlockKey::generate().unwrap();
        assert!(matches!(
            keys.unlock(&wrong),
            Err(CaKeyError::Key(UnlockKeyError::Wrong))
        ));
        assert_eq!(keys.status(), KeyStatus::Locked);
        keys.unlock(&k).unwrap();
        assert_eq!(keys.key_pem().unwrap(), key_pem);
        assert_eq!(keys.ca().unwrap().fingerprint(), ca.fingerprint());
        assert!(matches!(keys.unlock(&k), Err(CaKeyError::NotLocked)));
        // Disable: plain again, and a restart is unlocked.
        keys.unwrap_to_plain().unwrap();
        assert_eq!(
            keys.disk(),
            DiskForm {
                plain: true,
                wrapped: None
            }
        );
        assert_eq!(CaKeys::load(dir.path(), "m1").status(), KeyStatus::Unlocked);
    }

    #[test]
    fn a_tampered_wrapped_file_is_refused() {
        let (dir, _) = manager();
        let keys = CaKeys::load(dir.path(), "m1");
        let k = UnlockKey::generate().unwrap();
        keys.wrap(&k, "id1").unwrap();
        let p = dir.path().join(LOCKED_KEY_FILE);
        let mut w: WrappedKey =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let mut b = hex::decode(&w.sealed).unwrap();
        b[0] ^= 0x80;
        w.sealed = hex::encode(b);
        orc_pki::write_key_file(&p, &serde_json::to_string(&w).unwrap()).unwrap();
        let keys = CaKeys::load(dir.path(), "m1");
        assert!(matches!(
            keys.unlock(&k),
            Err(CaKeyError::Key(UnlockKeyError::Wrong))
        ));
        orc_pki::write_key_file(&p, "garbage").unwrap();
        assert!(matches!(keys.unlock(&k), Err(CaKeyError::File { .. })));
        assert_eq!(keys.status(), KeyStatus::Locked);
    }

    #[test]
    fn forgetting_removes_both_forms() {
        let (dir, _) = manager();
        let keys = CaKeys::load(dir.path(), "m1");
        keys.wrap(&UnlockKey::generate().unwrap(), "x").unwrap();
        keys.forget().unwrap();
        assert_eq!(keys.status(), KeyStatus::Absent);
        assert!(matches!(keys.ca(), Err(CaKeyError::Absent)));
        assert_eq!(
            keys.disk(),
            DiskForm {
                plain: false,
                wrapped: None
            }
        );
    }
}
