//! Every manager follows the cluster's autolock setting with its own copy of the CA
//! key: wraps it under the current unlock key when autolock is on (also after a
//! rotation, or on the first start after autolock was turned on while this manager
//! was down, or right after it joined), writes it plain again when autolock is off.
//! Only an unlocked manager can (it opens the unlock key in Raft with the CA key); a
//! locked one waits for `orc cluster unlock`.

use super::ca_key::{CaKeyError, CaKeys, KeyStatus};
use super::unlock_key;
use super::Cluster;
use orc_model::AutolockSetting;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What [`reconcile`] did to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Wrapped,
    Unwrapped,
}

/// Brings the disk form of the key in line with `want` (if this manager is unlocked).
pub fn reconcile(
    want: Option<&AutolockSetting>,
    keys: &CaKeys,
) -> Result<Option<Step>, CaKeyError> {
    if keys.status() != KeyStatus::Unlocked {
        return Ok(None);
    }
    let disk = keys.disk();
    match want {
        Some(s) if disk.plain || disk.wrapped.as_deref() != Some(s.key_id.as_str()) => {
            let k = unlock_key::open_setting(&keys.key_pem()?, s)?;
            keys.wrap(&k, &s.key_id)?;
            Ok(Some(Step::Wrapped))
        }
        None if disk.wrapped.is_some() || !disk.plain => {
            keys.unwrap_to_plain()?;
            Ok(Some(Step::Unwrapped))
        }
        _ => Ok(None),
    }
}

/// Right after this manager received the CA key (a join, a promotion): waits (at most
/// `limit`) until its log caught up, then wraps the key at once if autolock is on.
/// [`follow`] does it too, later, should the log still lag here.
pub async fn settle(cluster: &Cluster, keys: &CaKeys, limit: Duration) {
    let mut caught_up = cluster.caught_up();
    let _ = tokio::time::timeout(limit, caught_up.wait_for(|c| *c)).await;
    let want = cluster.snapshot().autolock.clone();
    match reconcile(want.as_ref(), keys) {
        Ok(Some(_)) => tracing::info!("autolock: the CA key received is stored wrapped"),
        Ok(None) => {}
        Err(e) => tracing::warn!("autolock: {e}"),
    }
}

/// Runs [`reconcile`] once this manager caught up with the log, and again on every
/// change of the state or of the key holder (and every few seconds, after a failure).
pub async fn follow(cluster: Cluster, keys: Arc<CaKeys>, mut stop: watch::Receiver<bool>) {
    let mut caught_up = cluster.caught_up();
    tokio::select! {
        _ = caught_up.wait_for(|c| *c) => {}
        _ = stop.changed() => return,
    }
    let mut state = cluster.state.clone();
    let mut held = keys.subscribe();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        let want = state.borrow_and_update().autolock.clone();
        match reconcile(want.as_ref(), &keys) {
            Ok(Some(Step::Wrapped)) => {
                tracing::info!(
                    "autolock: this manager's CA key is now wrapped under the unlock key"
                )
            }
            Ok(Some(Step::Unwrapped)) => {
                tracing::info!("autolock is off: this manager's CA key is stored plain again")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("autolock: {e}"),
        }
        tokio::select! {
            r = state.changed() => if r.is_err() { return },
            r = held.changed() => if r.is_err() { return },
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disk_follows_the_setting_only_when_unlocked() {
        let dir = tempfile::tempdir().unwrap();
        let ca = orc_pki::ClusterCa::generate("follow").unwrap();
        orc_pki::save_ca(dir.path(), &ca).unwrap();
        let keys = CaKeys::load(dir.path(), "m");
        let pem = keys.key_pem().unwrap();
        let k1 = unlock_key::UnlockKey::generate().unwrap();
        let s1 = unlock_key::setting(&pem, &k1).unwrap();
        assert_eq!(reconcile(None, &keys).unwrap(), None);
        assert_eq!(reconcile(Some(&s1), &keys).unwrap(), Some(Step::Wrapped));
        assert_eq!(reconcile(Some(&s1), &keys).unwrap(), None);
        // Rotated: wrapped again under the new key; the old key no longer opens it.
        let k2 = unlock_key::UnlockKey::generate().unwrap();
        let s2 = unlock_key::setting(&pem, &k2).unwrap();
        assert_eq!(reconcile(Some(&s2), &keys).unwrap(), Some(Step::Wrapped));
        let locked = CaKeys::load(dir.path(), "m");
        assert!(locked.unlock(&k1).is_err());
        // Locked: nothing happens whatever the setting says.
        assert_eq!(reconcile(None, &locked).unwrap(), None);
        assert_eq!(locked.disk().wrapped.as_deref(), Some(s2.key_id.as_str()));
        locked.unlock(&k2).unwrap();
        assert_eq!(reconcile(None, &locked).unwrap(), Some(Step::Unwrapped));
        assert!(locked.disk().plain && locked.disk().wrapped.is_none());
    }
}
