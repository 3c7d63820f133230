use crate::{Reply, Request};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the orc daemon at {path}: {source} (is `orc daemon` running? set --socket or ORC_SOCKET)")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lost the connection to the orc daemon: {0}")]
    Io(#[from] std::io::Error),
    #[error("the daemon sent something this client does not understand: {0}")]
    Protocol(String),
    #[error("the daemon closed the connection before answering")]
    Closed,
    #[error("{0}")]
    Remote(String),
}

/// One request/answer exchange with the local daemon.
pub struct Client {
    path: PathBuf,
}

impl Client {
    pub fn new(path: impl AsRef<Path>) -> Client {
        Client {
            path: path.as_ref().to_path_buf(),
        }
    }

    /// Sends `req`, hands every progress/log reply to `on_reply`, and returns the final
    /// value (or the daemon's error).
    pub async fn call(
        &self,
        req: &Request,
        mut on_reply: impl FnMut(&Reply),
    ) -> Result<serde_json::Value, ClientError> {
        let stream =
            UnixStream::connect(&self.path)
                .await
                .map_err(|source| ClientError::Connect {
                    path: self.path.clone(),
                    source,
                })?;
        let (rd, mut wr) = stream.into_split();
        let mut line = serde_json::to_vec(req).map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        wr.write_all(&line).await?;
        wr.flush().await?;
        let mut lines = BufReader::new(rd).lines();
        while let Some(l) = lines.next_line().await? {
            let reply: Reply =
                serde_json::from_str(&l).map_err(|e| ClientError::Protocol(format!("{e}: {l}")))?;
            match reply {
                Reply::Done { value } => return Ok(value),
                Reply::Error { message } => return Err(ClientError::Remote(message)),
                other => on_reply(&other),
            }
        }
        Err(ClientError::Closed)
    }
}
