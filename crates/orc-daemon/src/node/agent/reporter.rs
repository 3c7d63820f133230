//! Batches task status updates into one Raft command and retries until committed.
//! Status only moves forward in the state machine, so a retried or reordered report
//! can never move a task back.

use crate::cluster::writer::Writer;
use orc_model::{Command, TaskId, TaskStatus};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct Reporter {
    tx: mpsc::UnboundedSender<(TaskId, TaskStatus)>,
}

impl Reporter {
    pub fn spawn(cluster: Writer) -> Reporter {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(cluster, rx));
        Reporter { tx }
    }

    pub fn report(&self, task: &str, status: TaskStatus) {
        tracing::debug!(task, state = %status.state, "status");
        let _ = self.tx.send((task.to_string(), status));
    }
}

async fn run(cluster: Writer, mut rx: mpsc::UnboundedReceiver<(TaskId, TaskStatus)>) {
    let mut pending: HashMap<TaskId, TaskStatus> = HashMap::new();
    let mut backoff = Duration::from_millis(100);
    loop {
        if pending.is_empty() {
            match rx.recv().await {
                Some((id, st)) => merge(&mut pending, id, st),
                None => return,
            }
        }
        // Gather whatever else arrives in the next few milliseconds into the same entry.
        let gather = tokio::time::sleep(Duration::from_millis(15));
        tokio::pin!(gather);
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Some((id, st)) => merge(&mut pending, id, st),
                    None => break,
                },
                _ = &mut gather => break,
            }
        }
        let updates: Vec<(TaskId, TaskStatus)> = pending
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match cluster.propose(Command::UpdateTaskStatus { updates }).await {
            Ok(_) => {
                pending.clear();
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

/// Keeps the furthest state per task (and the newest report for the same state).
fn merge(pending: &mut HashMap<TaskId, TaskStatus>, id: TaskId, st: TaskStatus) {
    match pending.get(&id) {
        Some(cur) if cur.state > st.state => {}
        _ => {
            pending.insert(id, st);
        }
    }
}
