//! Group commit at the proposer. openraft 0.9 waits for each log append to be flushed
//! before it appends the next, so concurrent `client_write`s each cost one fsync in
//! turn. [`CommandBatcher`] instead keeps one write in flight and sends every command
//! that queued meanwhile as a single [`Command::Batch`] entry: one fsync for all of them.

use crate::types::{ClientWriteError, LogId, Raft};
use orc_model::{Command, CommandResult};
use tokio::sync::{mpsc, oneshot};

/// A command's outcome once committed and applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The log entry that carried it (shared by every command of a batch).
    pub log_id: LogId,
    /// What applying it answered.
    pub result: CommandResult,
}

/// Why a batched write failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BatchWriteError {
    /// Raft refused or failed the write (`ForwardToLeader`, fatal errors, …).
    #[error(transparent)]
    Raft(Box<ClientWriteError>),
    /// The batcher's task has ended (Raft shut down or the runtime is stopping).
    #[error("the command batcher has stopped")]
    Stopped,
    /// The state machine answered a batch with a result of another shape (a bug).
    #[error("a batch of {sent} commands was answered with {answer}")]
    Mismatch {
        /// Commands in the batch.
        sent: usize,
        /// What came back, summarised.
        answer: String,
    },
}

struct Pending {
    cmd: Command,
    reply: oneshot::Sender<Result<Committed, BatchWriteError>>,
}

/// Sends commands to Raft in batches; cheap to clone. Dropping every clone ends its task.
#[derive(Debug, Clone)]
pub struct CommandBatcher {
    tx: mpsc::Sender<Pending>,
}

/// Default for [`CommandBatcher::spawn`]'s `max_batch`.
pub const DEFAULT_MAX_BATCH: usize = 256;

impl CommandBatcher {
    /// Starts the batching task on the current tokio runtime. At most `max_batch`
    /// commands go into one log entry (0 is taken as 1).
    pub fn spawn(raft: Raft, max_batch: usize) -> Self {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch * 4);
        tokio::spawn(run(raft, rx, max_batch));
        CommandBatcher { tx }
    }

    /// Proposes `cmd` and waits until it is committed and applied.
    pub async fn write(&self, cmd: Command) -> Result<Committed, BatchWriteError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending { cmd, reply })
            .await
            .map_err(|_| BatchWriteError::Stopped)?;
        rx.await.map_err(|_| BatchWriteError::Stopped)?
    }
}

async fn run(raft: Raft, mut rx: mpsc::Receiver<Pending>, max_batch: usize) {
    let mut pending = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut pending, max_batch).await > 0 {
        let (mut cmds, replies): (Vec<Command>, Vec<_>) =
            pending.drain(..).map(|p| (p.cmd, p.reply)).unzip();
        let sent = cmds.len();
        let proposal = match cmds.pop() {
            Some(only) if cmds.is_empty() => only,
            Some(last) => {
                cmds.push(last);
                Command::Batch(cmds)
            }
            None => continue,
        };
        let results: Vec<Result<Committed, BatchWriteError>> =
            match raft.client_write(proposal).await {
                Err(e) => vec![Err(BatchWriteError::Raft(Box::new(e))); sent],
                Ok(resp) if sent == 1 => vec![Ok(Committed {
                    log_id: resp.log_id,
                    result: resp.data,
                })],
                Ok(resp) => match resp.data {
                    CommandResult::Batch(rs) if rs.len() == sent => rs
                        .into_iter()
                        .map(|result| {
                            Ok(Committed {
                                log_id: resp.log_id,
                                result,
                            })
                        })
                        .collect(),
                    other => {
                        let e = BatchWriteError::Mismatch {
                            sent,
                            answer: format!("{other:?}").chars().take(200).collect(),
                        };
                        vec![Err(e); sent]
                    }
                },
            };
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have given up waiting; its command is committed regardless.
            let _ = reply.send(result);
        }
    }
}
