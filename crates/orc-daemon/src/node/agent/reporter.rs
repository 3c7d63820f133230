//! Batches task status updates into one Raft command and retries until committed.
//! Status only moves forward in the state machine, so a retried or reordered report
//! can never move a task back.

use crate::cluster::writer::Writer;
use orc_model::{Command, TaskId, TaskStatus};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// One report, and who waits for it to be committed.
type Report = (TaskId, TaskStatus, Option<oneshot::Sender<()>>);

#[derive(Clone)]
pub struct Reporter {
    tx: mpsc::UnboundedSender<Report>,
}

impl Reporter {
    pub fn spawn(cluster: Writer) -> Reporter {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(cluster, rx));
        Reporter { tx }
    }

    pub fn report(&self, task: &str, status: TaskStatus) {
        tracing::debug!(task, state = %status.state, "status");
        let _ = self.tx.send((task.to_string(), status, None));
    }

    /// Reports `status` and completes once it (or a later report of the task that
    /// replaced it in the same batch) is committed. Never completes while the
    /// reporter retries; at once if the reporter is gone.
    pub async fn report_committed(&self, task: &str, status: TaskStatus) {
        tracing::debug!(task, state = %status.state, "status (waiting for commit)");
        let (done, committed) = oneshot::channel();
        if self.tx.send((task.to_string(), status, Some(done))).is_ok() {
            let _ = committed.await;
        }
    }
}

type Pending = HashMap<TaskId, (TaskStatus, Vec<oneshot::Sender<()>>)>;

async fn run(cluster: Writer, mut rx: mpsc::UnboundedReceiver<Report>) {
    let mut pending: Pending = HashMap::new();
    let mut backoff = Duration::from_millis(100);
    loop {
        if pending.is_empty() {
            match rx.recv().await {
                Some(r) => merge(&mut pending, r),
                None => return,
            }
        }
        // Gather whatever else arrives in the next few milliseconds into the same entry.
        let gather = tokio::time::sleep(Duration::from_millis(15));
        tokio::pin!(gather);
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(r) => merge(&mut pending, r),
                    None => break,
                },
                _ = &mut gather => break,
            }
        }
        let updates: Vec<(TaskId, TaskStatus)> = pending
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect();
        match cluster.propose(Command::UpdateTaskStatus { updates }).await {
            Ok(_) => {
                for (_, (_, waiters)) in pending.drain() {
                    for w in waiters {
                        let _ = w.send(());
                    }
                }
                backoff = Duration::from_millis(100);
            }
            Err(e) => {
                tracing::warn!("reporting task status failed, will retry: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Keeps the furthest state per task (and the newest report for the same state);
/// whoever waits for a replaced report waits for the one that replaced it.
fn merge(pending: &mut Pending, (id, st, waiter): Report) {
    let entry = pending
        .entry(id)
        .or_insert_with(|| (st.clone(), Vec::new()));
    if entry.0.state <= st.state {
        entry.0 = st;
    }
    entry.1.extend(waiter);
}
