//! The backend shared by the log store and the state machine: the key-value store, the
//! flusher thread that makes writes durable in groups, and the signal that it has been
//! closed (so the same directory can be opened again in-process).

use crate::kv::KvBackend;
use crate::types::TypeConfig;
use crate::StoreError;
use openraft::storage::LogFlushed;
use std::ops::Deref;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use tokio::sync::{oneshot, watch};

/// Someone waiting for the writes made so far to be durable.
enum Waiter {
    /// openraft's callback for a log append.
    Append(LogFlushed<TypeConfig>),
    /// An async caller (vote, truncate, purge, snapshot).
    Notify(oneshot::Sender<Result<(), String>>),
}

/// The key-value backend as the stores share it (in an `Arc`).
///
/// Durability is group commit: waiters queue for one flusher thread, which takes every
/// waiter queued so far, flushes once, and answers them all in order. Appends therefore
/// return at once and openraft keeps batching client writes while the disk syncs.
///
/// When the last holder is dropped, the flusher stops, the backend closes, then every
/// [`StoreClosed`] wakes.
pub(crate) struct Backend {
    flusher: Option<(mpsc::Sender<Waiter>, JoinHandle<()>)>,
    // Dropped after `Drop::drop` has joined the flusher, `kv` before `closed`.
    kv: Arc<dyn KvBackend>,
    closed: watch::Sender<()>,
}

impl Backend {
    pub fn new(kv: Arc<dyn KvBackend>) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel();
        let flushing = kv.clone();
        let handle = std::thread::Builder::new()
            .name("orc-store-flush".into())
            .spawn(move || run_flusher(flushing.as_ref(), rx))
            .map_err(|e| StoreError::Task(format!("cannot start the flusher thread: {e}")))?;
        Ok(Backend {
            flusher: Some((tx, handle)),
            kv,
            closed: watch::channel(()).0,
        })
    }

    pub fn closed(&self) -> StoreClosed {
        StoreClosed(self.closed.subscribe())
    }

    fn queue(&self, waiter: Waiter) -> Result<(), Waiter> {
        match &self.flusher {
            Some((tx, _)) => tx.send(waiter).map_err(|e| e.0),
            None => Err(waiter),
        }
    }

    /// Calls `callback` once every write made so far is durable.
    pub fn append_flushed(&self, callback: LogFlushed<TypeConfig>) {
        if let Err(Waiter::Append(cb)) = self.queue(Waiter::Append(callback)) {
            cb.log_io_completed(Err(std::io::Error::other("raft store flusher stopped")));
        }
    }

    /// Returns once every write made so far is durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        let stopped = || StoreError::Task("raft store flusher stopped".into());
        self.queue(Waiter::Notify(tx)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?.map_err(StoreError::Task)
    }
}

fn run_flusher(kv: &dyn KvBackend, rx: mpsc::Receiver<Waiter>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let result = kv.flush().map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, "raft store flush failed");
        }
        for waiter in batch {
            match waiter {
                Waiter::Append(cb) => {
                    cb.log_io_completed(result.clone().map_err(std::io::Error::other))
                }
                Waiter::Notify(tx) => {
                    let _ = tx.send(result.clone());
                }
            }
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.flusher.take() {
            drop(tx);
            // The flusher ends once the queue is empty; it answers every waiter first.
            let _ = handle.join();
        }
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
