//! Where a pull's manifests and blobs come from: a registry, or a peer node that
//! has the image (`Runtime::serve_manifest` / `Runtime::blob_chunks` on its side).

use super::client::{Fetched, Session};
use crate::{RegistryError, Runtime, RuntimeError};
use http_body_util::BodyExt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc;

/// A boxed future that can cross threads.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A blob's bytes, in chunks, as they arrive.
pub type Chunks = mpsc::Receiver<std::io::Result<Vec<u8>>>;

/// A stalled download fails after this long without data.
const CHUNK_TIMEOUT: Duration = Duration::from_secs(60);

/// A manifest or index as fetched (its digest computed from its bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The raw bytes.
    pub bytes: Vec<u8>,
    /// Its media type.
    pub media_type: String,
    /// `sha256:` of the bytes.
    pub digest: String,
}

/// Where a pull gets content. Everything it returns is verified by the puller.
pub trait ImageSource: Send {
    /// The manifest or index `reference` (a tag, digest or full name) points at.
    fn manifest<'a>(
        &'a mut self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<FetchedManifest, RuntimeError>>;
    /// The bytes of blob `digest`.
    fn blob<'a>(&'a mut self, digest: &'a str) -> BoxFuture<'a, Result<Chunks, RuntimeError>>;
}

impl ImageSource for Session {
    fn manifest<'a>(
        &'a mut self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<FetchedManifest, RuntimeError>> {
        Box::pin(async move {
            let f: Fetched = Session::manifest(self, reference).await?;
            Ok(FetchedManifest {
                bytes: f.bytes.to_vec(),
                media_type: f.media_type,
                digest: f.digest,
            })
        })
    }

    fn blob<'a>(&'a mut self, digest: &'a str) -> BoxFuture<'a, Result<Chunks, RuntimeError>> {
        Box::pin(async move {
            let resp = Session::blob(self, digest).await?;
            let (tx, rx) = mpsc::channel(4);
            tokio::spawn(async move {
                let mut body = resp.into_body();
                loop {
                    let frame = match tokio::time::timeout(CHUNK_TIMEOUT, body.frame()).await {
                        Err(_) => Err("download stalled".to_string()),
                        Ok(None) => return,
                        Ok(Some(f)) => f.map_err(|e| e.to_string()),
                    };
                    let item = match frame {
                        Ok(f) => match f.into_data() {
                            Ok(d) => Ok(d.to_vec()),
                            Err(_) => continue,
                        },
                        Err(e) => Err(std::io::Error::other(
                            RegistryError::Unreachable(format!("download failed: {e}")).to_string(),
                        )),
                    };
                    let stop = item.is_err();
                    if tx.send(item).await.is_err() || stop {
                        return;
                    }
                }
            });
            Ok(rx)
        })
    }
}

impl Runtime {
    /// This node's image `reference` as a peer would fetch it: the platform
    /// manifest's bytes (None if the image is not here).
    pub async fn serve_manifest(
        &self,
        reference: &str,
    ) -> Result<Option<FetchedManifest>, RuntimeError> {
        let r = match self.resolve_image(reference).await {
            Ok(r) => r,
            Err(RuntimeError::ImageNotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let bytes = self.read_blob(&r.manifest_digest).await?;
        Ok(Some(FetchedManifest {
            bytes,
            media_type: r.manifest_media_type,
            digest: r.manifest_digest,
        }))
    }

    /// Streams blob `digest` from this node's content store.
    pub async fn blob_chunks(&self, digest: &str) -> Result<Chunks, RuntimeError> {
        let mut stream = self.blob_stream(digest).await?;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let item = match stream.message().await {
                    Ok(Some(m)) => Ok(m.data),
                    Ok(None) => return,
                    Err(s) => Err(std::io::Error::other(s.message().to_string())),
                };
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    return;
                }
            }
        });
        Ok(rx)
    }
}
