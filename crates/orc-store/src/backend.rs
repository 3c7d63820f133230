//! The backend shared by the log store and the state machine, and the signal that it
//! has been closed (so the same directory can be opened again in-process).

use crate::kv::KvBackend;
use std::ops::Deref;
use tokio::sync::watch;

/// The key-value backend as the stores share it (in an `Arc`). When the last holder is
/// dropped the backend closes first, then every [`StoreClosed`] wakes.
pub(crate) struct Backend {
    // Field order matters: `kv` is dropped (the database closed) before `closed`.
    kv: Box<dyn KvBackend>,
    closed: watch::Sender<()>,
}

impl Backend {
    pub fn new(kv: Box<dyn KvBackend>) -> Self {
        Backend {
            kv,
            closed: watch::channel(()).0,
        }
    }

    pub fn closed(&self) -> StoreClosed {
        StoreClosed(self.closed.subscribe())
    }
}

impl Deref for Backend {
    type Target = dyn KvBackend;

    fn deref(&self) -> &Self::Target {
        self.kv.as_ref()
    }
}

/// Resolves once the store's backend is closed, i.e. once both the [`crate::LogStore`]
/// and the [`crate::StateMachineStore`] (and every clone of them) are dropped. Raft
/// drops them on shutdown, but its state machine task ends shortly after
/// `Raft::shutdown` returns: await this before opening the same directory again.
#[derive(Debug, Clone)]
pub struct StoreClosed(watch::Receiver<()>);

impl StoreClosed {
    /// Waits until the backend is closed.
    pub async fn wait(mut self) {
        while self.0.changed().await.is_ok() {}
    }
}
