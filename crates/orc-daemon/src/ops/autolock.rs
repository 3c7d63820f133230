//! Autolock: `orc cluster autolock enable|disable`, `orc cluster unlock-key
//! [--rotate]` and `orc cluster unlock`. The setting is in Raft (the unlock key sealed
//! under the CA key); each manager wraps its own copy of the CA key
//! ([`crate::cluster::autolock`]), this one at once.

use super::Ops;
use crate::cluster::ca_key::{CaKeyError, KeyStatus};
use crate::cluster::unlock_key::{self, UnlockKey};
use crate::DaemonError;
use orc_model::Command;
use serde::Serialize;

/// What an autolock operation did.
#[derive(Debug, Clone, Serialize)]
pub struct AutolockReply {
    /// Autolock is on afterwards.
    pub enabled: bool,
    /// Whether this changed anything.
    pub changed: bool,
    /// The unlock key to note down (after enable, rotate, or when asked to show it).
    pub unlock_key: Option<String>,
}

/// What `orc cluster unlock` did.
#[derive(Debug, Clone, Serialize)]
pub struct UnlockReply {
    pub node: String,
    pub unlocked: bool,
}

impl Ops {
    /// `orc cluster autolock enable|disable`. Needs this manager unlocked (enabling
    /// seals the new unlock key under the CA key; disabling writes the key plain).
    pub async fn autolock_set(&self, enable: bool) -> Result<AutolockReply, DaemonError> {
        let cluster = self.cluster()?;
        let current = cluster.snapshot().autolock.clone();
        if current.is_some() == enable {
            return Ok(AutolockReply {
                enabled: enable,
                changed: false,
                unlock_key: None,
            });
        }
        let key_pem = self.ca_keys.key_pem()?;
        if !enable {
            cluster.propose(Command::SetAutolock(None)).await?;
            self.ca_keys.unwrap_to_plain()?;
            tracing::info!("autolock turned off");
            return Ok(AutolockReply {
                enabled: false,
                changed: true,
                unlock_key: None,
            });
        }
        let key = self.new_unlock_key(&key_pem).await?;
        tracing::info!("autolock turned on");
        Ok(AutolockReply {
            enabled: true,
            changed: true,
            unlock_key: Some(key.display()),
        })
    }

    /// `orc cluster unlock-key [--rotate]`: shows the current unlock key, or replaces
    /// it (every unlocked manager wraps its key again; the old one stops working).
    pub async fn unlock_key(&self, rotate: bool) -> Result<AutolockReply, DaemonError> {
        let cluster = self.cluster()?;
        let Some(current) = cluster.snapshot().autolock.clone() else {
            return Err(DaemonError::Invalid(
                "autolock is off: `orc cluster autolock enable` turns it on".into(),
            ));
        };
        let key_pem = self.ca_keys.key_pem()?;
        let key = if rotate {
            let k = self.new_unlock_key(&key_pem).await?;
            tracing::info!("autolock: unlock key rotated");
            k
        } else {
            unlock_key::open_setting(&key_pem, &current).map_err(CaKeyError::from)?
        };
        Ok(AutolockReply {
            enabled: true,
            changed: rotate,
            unlock_key: Some(key.display()),
        })
    }

    /// A new unlock key: committed (sealed) and this manager's key wrapped under it.
    async fn new_unlock_key(&self, key_pem: &str) -> Result<UnlockKey, DaemonError> {
        let cluster = self.cluster()?;
        let key = UnlockKey::generate().map_err(CaKeyError::from)?;
        let setting = unlock_key::setting(key_pem, &key).map_err(CaKeyError::from)?;
        let id = setting.key_id.clone();
        cluster.propose(Command::SetAutolock(Some(setting))).await?;
        if cluster.snapshot().autolock.as_ref().map(|a| &a.key_id) != Some(&id) {
            return Err(DaemonError::Invalid(
                "another autolock change was committed at the same time: see `orc cluster unlock-key`"
                    .into(),
            ));
        }
        self.ca_keys.wrap(&key, &id)?;
        Ok(key)
    }

    /// `orc cluster unlock`: opens this manager's wrapped CA key. A wrong key is
    /// refused and changes nothing.
    pub fn cluster_unlock(&self, key: &str) -> Result<UnlockReply, DaemonError> {
        let key = UnlockKey::parse(key).map_err(CaKeyError::from)?;
        match self.ca_keys.status() {
            KeyStatus::Absent => {
                return Err(DaemonError::Invalid(
                    "this node holds no CA key (not a manager): nothing to unlock".into(),
                ))
            }
            KeyStatus::Unlocked => {
                return Err(DaemonError::Invalid("this manager is not locked".into()))
            }
            KeyStatus::Locked => {}
        }
        self.ca_keys.unlock(&key).map_err(|e| match e {
            CaKeyError::Key(unlock_key::UnlockKeyError::Wrong) => DaemonError::Invalid(
                "wrong unlock key: it does not open this manager's CA key (still locked; if the key was rotated while this manager was locked, it needs the key from before)".into(),
            ),
            other => other.into(),
        })?;
        tracing::info!("unlocked: the CA key is in memory again");
        Ok(UnlockReply {
            node: self.cfg.hostname.clone(),
            unlocked: true,
        })
    }

    /// Whether this manager waits for `orc cluster unlock`.
    pub fn is_locked(&self) -> bool {
        self.ca_keys.status() == KeyStatus::Locked
    }
}
