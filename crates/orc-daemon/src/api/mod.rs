//! Front door: the CLI's root-only unix socket speaking orc-api's JSON lines. It parses
//! a [`Request`], calls the operations layer ([`dispatch`]) and writes its progress
//! events and result as [`Reply`] lines.

mod dispatch;

use crate::ops::{Event, Ops, Progress};
use crate::DaemonError;
use orc_api::{Reply, Request};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

/// The CLI's socket: root only.
pub fn bind(path: &Path) -> Result<UnixListener, DaemonError> {
    crate::util::bind_unix(path, 0o600)
}

pub async fn serve(ops: Arc<Ops>, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(ops.clone(), stream));
            }
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

fn reply(e: Event) -> Reply {
    match e {
        Event::Progress(message) => Reply::Progress { message },
        Event::Log {
            task,
            line,
            time_ns,
            stderr,
        } => Reply::Log {
            task,
            line,
            time_ns,
            stderr,
        },
        Event::Cluster(e) => Reply::Event {
            event: serde_json::to_value(e).unwrap_or_default(),
        },
    }
}

async fn write(wr: &mut tokio::net::unix::OwnedWriteHalf, r: &Reply) -> bool {
    let Ok(mut buf) = serde_json::to_vec(r) else {
        return true;
    };
    buf.push(b'\n');
    wr.write_all(&buf).await.is_ok()
}

async fn connection(ops: Arc<Ops>, stream: UnixStream) {
    let (rd, mut wr) = stream.into_split();
    let mut lines = BufReader::new(rd).lines();
    let line = match lines.next_line().await {
        Ok(Some(l)) => l,
        _ => return,
    };
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    let (end_tx, end_rx) = tokio::sync::oneshot::channel::<Reply>();
    // Events in order, then the end once the operation returned (events still queued
    // then are written first; the operation's own spawned tasks may outlive it).
    let writer = tokio::spawn(async move {
        let mut end_rx = end_rx;
        loop {
            tokio::select! {
                biased;
                Some(e) = rx.recv() => {
                    if !write(&mut wr, &reply(e)).await {
                        return;
                    }
                }
                end = &mut end_rx => {
                    while let Ok(e) = rx.try_recv() {
                        if !write(&mut wr, &reply(e)).await {
                            return;
                        }
                    }
                    if let Ok(end) = end {
                        write(&mut wr, &end).await;
                    }
                    return;
                }
            }
        }
    });
    let progress = Progress::new(tx);
    let end = match serde_json::from_str::<Request>(&line) {
        Ok(req) => match dispatch::handle(&ops, req, &progress).await {
            Ok(value) => Reply::Done { value },
            Err(e) => Reply::Error {
                message: e.to_string(),
            },
        },
        Err(e) => Reply::Error {
            message: format!("bad request: {e}"),
        },
    };
    drop(progress);
    let _ = end_tx.send(end);
    let _ = writer.await;
}
