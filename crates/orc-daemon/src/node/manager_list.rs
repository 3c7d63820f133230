//! A worker keeps the managers' addresses its sessions hear on disk (`node.json`),
//! so a worker restarting after a manager moved still finds the cluster.

use crate::cluster::identity;
use crate::net::remote::Remote;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// How often the in-memory list is compared with the saved one.
const CHECK_EVERY: Duration = Duration::from_secs(1);

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Saves the manager list whenever its set of addresses changes (not its order:
/// sessions rotate it).
pub(crate) async fn persist(data_dir: PathBuf, remote: Remote, mut stop: watch::Receiver<bool>) {
    let mut saved = match identity::load(&data_dir) {
        Ok(Some(id)) => sorted(id.managers),
        _ => return,
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        let now = remote.addresses();
        if now.is_empty() || sorted(now.clone()) == saved {
            continue;
        }
        let result = identity::load(&data_dir).and_then(|id| match id {
            Some(mut id) => {
                id.managers = now.clone();
                identity::save(&data_dir, &id)
            }
            None => Ok(()),
        });
        match result {
            Ok(()) => {
                tracing::info!(managers = ?now, "saved the managers' new addresses");
                saved = sorted(now);
            }
            Err(e) => tracing::warn!("saving the managers' addresses: {e}"),
        }
    }
}
