//! containerd's content store: streaming blobs in (verified against their digest)
//! and reading small ones back.

use crate::archive::CHUNK;
use crate::client::{leased, Lease};
use crate::error::ignore_not_found;
use crate::{Runtime, RuntimeError};
use containerd_client::services::v1::{
    AbortRequest, Info, InfoRequest, ReadContentRequest, UpdateRequest, WriteAction,
    WriteContentRequest,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Where a blob's bytes come from.
pub(crate) enum BlobData<'a> {
    /// Already in memory.
    Memory(&'a [u8]),
    /// Chunks from the archive reader.
    Chunks(mpsc::Receiver<std::io::Result<Vec<u8>>>),
}

impl BlobData<'_> {
    async fn next(&mut self) -> Option<std::io::Result<Vec<u8>>> {
        match self {
            BlobData::Memory([]) => None,
            BlobData::Memory(d) => {
                let n = d.len().min(CHUNK);
                let (head, rest) = d.split_at(n);
                *d = rest;
                Some(Ok(head.to_vec()))
            }
            BlobData::Chunks(rx) => rx.recv().await,
        }
    }
}

/// A blob to write.
pub(crate) struct BlobWrite<'a> {
    /// Ingest reference (unique per concurrent writer).
    pub reference: String,
    /// The digest the data must have; None = whatever it hashes to.
    pub expected: Option<String>,
    /// The exact size.
    pub size: u64,
    /// Labels to set (also on an already-present blob).
    pub labels: HashMap<String, String>,
    /// The bytes.
    pub data: BlobData<'a>,
}

impl Runtime {
    /// The content store's record of `digest`, if present.
    pub(crate) async fn content_info(&self, digest: &str) -> Result<Option<Info>, RuntimeError> {
        match self
            .content()
            .info(InfoRequest {
                digest: digest.to_string(),
            })
            .await
        {
            Ok(r) => Ok(r.into_inner().info),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(s.into()),
        }
    }

    /// Sets `labels` on an existing blob.
    pub(crate) async fn content_label(
        &self,
        digest: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), RuntimeError> {
        if labels.is_empty() {
            return Ok(());
        }
        let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
        let info = Info {
            digest: digest.to_string(),
            labels: labels.clone(),
            ..Default::default()
        };
        self.content()
            .update(UpdateRequest {
                info: Some(info),
                update_mask: Some(prost_types::FieldMask { paths }),
            })
            .await?;
        Ok(())
    }

    /// Opens blob `digest` in the content store, as containerd's stream of chunks.
    pub(crate) async fn blob_stream(
        &self,
        digest: &str,
    ) -> Result<tonic::Streaming<containerd_client::services::v1::ReadContentResponse>, RuntimeError>
    {
        Ok(self
            .content()
            .read(ReadContentRequest {
                digest: digest.to_string(),
                offset: 0,
                size: 0,
            })
            .await?
            .into_inner())
    }

    /// Reads a whole (small) blob.
    pub(crate) async fn read_blob(&self, digest: &str) -> Result<Vec<u8>, RuntimeError> {
        let mut stream = self.blob_stream(digest).await?;
        let mut out = Vec::new();
        while let Some(msg) = stream.message().await? {
            out.extend_from_slice(&msg.data);
        }
        Ok(out)
    }

    /// Writes a blob under `lease`, hashing it on the way; returns its digest. An
    /// already-present blob only gets its labels. A digest or size mismatch aborts
    /// the write and gives [`RuntimeError::InvalidArchive`].
    pub(crate) async fn write_blob(
        &self,
        lease: &Lease,
        mut blob: BlobWrite<'_>,
    ) -> Result<String, RuntimeError> {
        if let Some(expected) = &blob.expected {
            if let Some(info) = self.content_info(expected).await? {
                if u64::try_from(info.size).ok() == Some(blob.size) {
                    self.content_label(expected, &blob.labels).await?;
                    return Ok(expected.clone());
                }
            }
        }
        let r = self.write_blob_stream(lease, &mut blob).await;
        if r.is_err() {
            let abort = self
                .content()
                .abort(AbortRequest {
                    r#ref: blob.reference.clone(),
                })
                .await;
            let _ = ignore_not_found(abort.map(|_| ()).map_err(RuntimeError::from));
        }
        r
    }

    async fn write_blob_stream(
        &self,
        lease: &Lease,
        blob: &mut BlobWrite<'_>,
    ) -> Result<String, RuntimeError> {
        let total =
            i64::try_from(blob.size).map_err(|_| RuntimeError::archive("blob too large"))?;
        let (tx, rx) = mpsc::channel::<WriteContentRequest>(2);
        let base = WriteContentRequest {
            r#ref: blob.reference.clone(),
            total,
            ..Default::default()
        };
        // containerd answers each message; the first must be queued before the call
        // returns because the server sends its headers with the first answer.
        let stat = WriteContentRequest {
            action: WriteAction::Stat as i32,
            ..base.clone()
        };
        tx.send(stat)
            .await
            .map_err(|_| RuntimeError::Unavailable("content write closed".into()))?;
        let mut answers = self
            .content()
            .write(leased(ReceiverStream::new(rx), lease))
            .await?
            .into_inner();
        answers.message().await?;
        let mut hasher = Sha256::new();
        let mut offset: i64 = 0;
        while let Some(chunk) = blob.data.next().await {
            let chunk = chunk
                .map_err(|e| RuntimeError::archive(format!("reading {}: {e}", blob.reference)))?;
            hasher.update(&chunk);
            let len = chunk.len() as i64;
            let req = WriteContentRequest {
                action: WriteAction::Write as i32,
                offset,
                data: chunk,
                ..base.clone()
            };
            tx.send(req)
                .await
                .map_err(|_| RuntimeError::Unavailable("content write closed".into()))?;
            answers.message().await?;
            offset += len;
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        if offset != total {
            return Err(RuntimeError::archive(format!(
                "{}: size {offset}, expected {total}",
                blob.reference
            )));
        }
        if let Some(expected) = &blob.expected {
            if *expected != digest {
                return Err(RuntimeError::archive(format!(
                    "{}: content has digest {digest}, expected {expected}",
                    blob.reference
                )));
            }
        }
        let commit = WriteContentRequest {
            action: WriteAction::Commit as i32,
            offset,
            expected: digest.clone(),
            labels: blob.labels.clone(),
            ..base
        };
        tx.send(commit)
            .await
            .map_err(|_| RuntimeError::Unavailable("content write closed".into()))?;
        match answers.message().await {
            Ok(_) => Ok(digest),
            Err(s) if s.code() == tonic::Code::AlreadyExists => {
                self.content_label(&digest, &blob.labels).await?;
                Ok(digest)
            }
            Err(s) => Err(s.into()),
        }
    }
}
