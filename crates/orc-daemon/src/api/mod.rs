//! The local API: a root-only unix socket speaking orc-api's JSON lines.

mod converge;
mod handlers;
mod images;
mod nodes;
mod roles;
pub(crate) mod task_logs;

pub(crate) use task_logs::task_logs;
mod registry;
mod spread;
mod volumes;

use crate::{Daemon, DaemonError};
use orc_api::{Reply, Request};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

/// Where a handler sends progress, log lines and its end.
#[derive(Clone)]
pub struct Sink(mpsc::Sender<Reply>);

impl Sink {
    pub async fn progress(&self, message: impl Into<String>) {
        let _ = self
            .0
            .send(Reply::Progress {
                message: message.into(),
            })
            .await;
    }

    pub async fn log(&self, task: &str, line: String) -> bool {
        self.0
            .send(Reply::Log {
                task: task.to_string(),
                line,
            })
            .await
            .is_ok()
    }

    pub fn closed(&self) -> bool {
        self.0.is_closed()
    }
}

pub fn bind(path: &Path) -> Result<UnixListener, DaemonError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DaemonError::io(parent, e))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(DaemonError::io(path, e)),
    }
    let l = UnixListener::bind(path).map_err(|e| DaemonError::io(path, e))?;
    crate::daemon::set_mode(path, 0o600)?;
    Ok(l)
}

pub async fn serve(daemon: Arc<Daemon>, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(daemon.clone(), stream));
            }
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(daemon: Arc<Daemon>, stream: UnixStream) {
    let (rd, mut wr) = stream.into_split();
    let mut lines = BufReader::new(rd).lines();
    let line = match lines.next_line().await {
        Ok(Some(l)) => l,
        _ => return,
    };
    let (tx, mut rx) = mpsc::channel::<Reply>(64);
    let writer = tokio::spawn(async move {
        while let Some(r) = rx.recv().await {
            let Ok(mut buf) = serde_json::to_vec(&r) else {
                continue;
            };
            buf.push(b'\n');
            if wr.write_all(&buf).await.is_err() {
                return;
            }
        }
    });
    let sink = Sink(tx.clone());
    let end = match serde_json::from_str::<Request>(&line) {
        Ok(req) => match handlers::handle(daemon, req, &sink).await {
            Ok(value) => Reply::Done { value },
            Err(e) => Reply::Error {
                message: e.to_string(),
            },
        },
        Err(e) => Reply::Error {
            message: format!("bad request: {e}"),
        },
    };
    let _ = tx.send(end).await;
    drop(tx);
    drop(sink);
    let _ = writer.await;
}
