//! `pull_image`: a registry image into containerd through the same content →
//! unpack → image-record path archives take, under a lease, every blob verified.

use super::client::{sha256, RegistryOptions, Session, SMALL_LIMIT};
use super::platform::{offered, select, wanted_platform};
use super::reference::ImageRef;
use super::source::{FetchedManifest, ImageSource};
use crate::content::{BlobData, BlobWrite};
use crate::import::{LABEL_GC_CONFIG, LABEL_GC_SNAPSHOT, LABEL_UNCOMPRESSED};
use crate::manifest::{is_index, is_manifest, Descriptor, ImageConfig, Index, Manifest};
use crate::plan::Blob;
use crate::{ImageInfo, RegistryError, Runtime, RuntimeError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a pull's lease outlives a crashed orc.
const LEASE_TTL: Duration = Duration::from_secs(3600);

/// Progress of one pull, reported as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// The reference resolved to this platform manifest.
    Resolved {
        /// Manifest digest.
        digest: String,
        /// `os/arch[/variant]`.
        platform: String,
        /// Number of layers.
        layers: usize,
    },
    /// Bytes of a layer received so far (`done == total` when complete).
    Layer {
        /// Layer digest.
        digest: String,
        /// Bytes received.
        done: u64,
        /// Layer size.
        total: u64,
        /// True when the layer was already in containerd.
        cached: bool,
    },
    /// Layers unpacked, image record written.
    Done,
}

/// Receives [`PullEvent`]s.
pub type PullProgress = Arc<dyn Fn(PullEvent) + Send + Sync>;

/// What to pull and how.
#[derive(Clone, Default)]
pub struct PullOptions {
    /// Registry access (credentials, insecure registries).
    pub registry: RegistryOptions,
    /// `os/arch[/variant]` to resolve an index to; None = this host's.
    pub platform: Option<String>,
    /// Progress callback.
    pub progress: Option<PullProgress>,
}

impl PullOptions {
    fn report(&self, e: PullEvent) {
        if let Some(p) = &self.progress {
            p(e);
        }
    }
}

/// The digest `reference` resolves to in its registry now (an index's digest for a
/// multi-platform image): for pinning a service to what a tag points at.
pub async fn resolve_digest(
    reference: &str,
    opts: &RegistryOptions,
) -> Result<String, RegistryError> {
    let image = ImageRef::parse(reference)?;
    let r = image.manifest_reference().to_string();
    let mut s = Session::new(image, opts.clone());
    Ok(s.manifest(&r).await?.digest)
}

/// Resolves `top` (index or manifest) to the platform manifest.
async fn platform_manifest(
    s: &mut dyn ImageSource,
    name: &str,
    top: FetchedManifest,
    opts: &PullOptions,
) -> Result<(FetchedManifest, Manifest), RuntimeError> {
    let m = if is_index(&top.media_type) {
        let index: Index = serde_json::from_slice(&top.bytes)
            .map_err(|e| RegistryError::Protocol(format!("index {}: {e}", top.digest)))?;
        let want = wanted_platform(opts.platform.as_deref())?;
        let d = select(&index, &want).ok_or_else(|| RegistryError::PlatformMissing {
            image: name.to_string(),
            platform: want.display(),
            available: offered(&index),
        })?;
        s.manifest(&d.digest.clone()).await?
    } else {
        top
    };
    if !is_manifest(&m.media_type) {
        return Err(RegistryError::Protocol(format!(
            "{name}: unsupported manifest type {:?}",
            m.media_type
        ))
        .into());
    }
    let manifest: Manifest = serde_json::from_slice(&m.bytes)
        .map_err(|e| RegistryError::Protocol(format!("manifest {}: {e}", m.digest)))?;
    Ok((m, manifest))
}

impl Runtime {
    /// Pulls `reference` from its registry for the wanted platform (default: this
    /// host's), unpacks it for the overlayfs snapshotter and creates or updates the
    /// image record (its target is the platform manifest). Layers already in
    /// containerd are not downloaded again. Failures name their reason
    /// ([`RuntimeError::Registry`]).
    pub async fn pull_image(
        &self,
        reference: &str,
        opts: &PullOptions,
    ) -> Result<ImageInfo, RuntimeError> {
        let image = ImageRef::parse(reference)?;
        let mut s = Session::new(image.clone(), opts.registry.clone());
        self.pull_from(&mut s, &image.name(), image.manifest_reference(), opts)
            .await
    }

    /// Pulls from any [`ImageSource`] (a registry session, a peer node): asks it for
    /// `reference`, resolves an index to the wanted platform, verifies every blob
    /// against its digest, unpacks, and names the image record `name`.
    pub async fn pull_from(
        &self,
        s: &mut dyn ImageSource,
        name: &str,
        reference: &str,
        opts: &PullOptions,
    ) -> Result<ImageInfo, RuntimeError> {
        let top = s.manifest(reference).await?;
        let (m, manifest) = platform_manifest(s, name, top, opts).await?;
        let config_bytes = small_blob(s, &manifest.config.digest).await?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| RegistryError::Protocol(format!("image config: {e}")))?;
        let diff_ids = config.diff_ids();
        if diff_ids.len() != manifest.layers.len() {
            return Err(RegistryError::Protocol(format!(
                "{name}: {} layers but {} diff ids",
                manifest.layers.len(),
                diff_ids.len()
            ))
            .into());
        }
        opts.report(PullEvent::Resolved {
            digest: m.digest.clone(),
            platform: config.platform().display(),
            layers: manifest.layers.len(),
        });
        let manifest_desc = Descriptor {
            media_type: m.media_type.clone(),
            digest: m.digest.clone(),
            size: m.bytes.len() as i64,
            platform: None,
            annotations: Default::default(),
        };
        // The image record is written under the lease too: until it references the
        // manifest, only the lease keeps containerd's GC off the content.
        let lease = self.create_lease("orc-pull", LEASE_TTL).await?;
        let mut r = self
            .pull_content(&lease, s, &m, &manifest, config_bytes, &diff_ids, opts)
            .await;
        if r.is_ok() {
            r = self
                .put_image(name, &manifest_desc, Default::default())
                .await;
        }
        if let Err(e) = self.delete_lease(lease).await {
            tracing::warn!("deleting the pull lease: {e}");
        }
        r?;
        opts.report(PullEvent::Done);
        let size = m.bytes.len() as i64
            + manifest.config.size
            + manifest.layers.iter().map(|l| l.size).sum::<i64>();
        Ok(ImageInfo {
            name: name.to_string(),
            digest: m.digest,
            size: u64::try_from(size).unwrap_or(0),
            created: config.created.clone(),
            platform: config.platform().display(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn pull_content(
        &self,
        lease: &crate::client::Lease,
        s: &mut dyn ImageSource,
        m: &FetchedManifest,
        manifest: &Manifest,
        config_bytes: Vec<u8>,
        diff_ids: &[String],
        opts: &PullOptions,
    ) -> Result<(), RuntimeError> {
        for (layer, diff_id) in manifest.layers.iter().zip(diff_ids) {
            self.pull_layer(lease, s, layer, diff_id, opts).await?;
        }
        let chains = self.unpack(lease, &manifest.layers, diff_ids).await?;
        let mut config_labels = HashMap::new();
        if let Some(top) = chains.last() {
            config_labels.insert(LABEL_GC_SNAPSHOT.to_string(), top.clone());
        }
        let config_blob = Blob {
            desc: manifest.config.clone(),
            data: config_bytes,
        };
        self.write_small(lease, &config_blob, config_labels).await?;
        let mut labels =
            HashMap::from([(LABEL_GC_CONFIG.to_string(), manifest.config.digest.clone())]);
        for (i, l) in manifest.layers.iter().enumerate() {
            labels.insert(
                format!("containerd.io/gc.ref.content.l.{i}"),
                l.digest.clone(),
            );
        }
        let manifest_blob = Blob {
            desc: Descriptor {
                media_type: m.media_type.clone(),
                digest: sha256(&m.bytes),
                size: m.bytes.len() as i64,
                platform: None,
                annotations: Default::default(),
            },
            data: m.bytes.clone(),
        };
        self.write_small(lease, &manifest_blob, labels).await
    }

    async fn pull_layer(
        &self,
        lease: &crate::client::Lease,
        s: &mut dyn ImageSource,
        layer: &Descriptor,
        diff_id: &str,
        opts: &PullOptions,
    ) -> Result<(), RuntimeError> {
        let total = u64::try_from(layer.size).map_err(|_| {
            RegistryError::Protocol(format!("layer {}: negative size", layer.digest))
        })?;
        let labels = HashMap::from([(LABEL_UNCOMPRESSED.to_string(), diff_id.to_string())]);
        let present = self
            .content_info(&layer.digest)
            .await?
            .is_some_and(|i| i.size == layer.size);
        if present {
            self.content_label(&layer.digest, &labels).await?;
            opts.report(PullEvent::Layer {
                digest: layer.digest.clone(),
                done: total,
                total,
                cached: true,
            });
            return Ok(());
        }
        let mut chunks = s.blob(&layer.digest).await?;
        // Relay the chunks, counting them for progress and keeping the source's error.
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
        let (digest, progress) = (layer.digest.clone(), opts.clone());
        let relay = tokio::spawn(async move {
            let mut done = 0u64;
            while let Some(item) = chunks.recv().await {
                let err = item.as_ref().err().map(|e| e.to_string());
                if let Ok(d) = &item {
                    done += d.len() as u64;
                    progress.report(PullEvent::Layer {
                        digest: digest.clone(),
                        done,
                        total,
                        cached: false,
                    });
                }
                if tx.send(item).await.is_err() {
                    return err;
                }
                if err.is_some() {
                    return err;
                }
            }
            None
        });
        let w = BlobWrite {
            reference: format!("orc-pull-{}-{}", crate::util::random_hex(4), layer.digest),
            expected: Some(layer.digest.clone()),
            size: total,
            labels,
            data: BlobData::Chunks(rx),
        };
        let written = self.write_blob(lease, w).await;
        let source_error = relay.await.ok().flatten();
        match (written, source_error) {
            (Ok(_), _) => Ok(()),
            (Err(_), Some(e)) => {
                Err(RegistryError::Unreachable(format!("downloading {}: {e}", layer.digest)).into())
            }
            (Err(RuntimeError::InvalidArchive(e)), None) => {
                Err(RegistryError::Verification(e).into())
            }
            (Err(e), None) => Err(e),
        }
    }
}

/// Reads a whole small blob from `s`, verified against `digest`.
async fn small_blob(s: &mut dyn ImageSource, digest: &str) -> Result<Vec<u8>, RuntimeError> {
    let mut rx = s.blob(digest).await?;
    let mut out = Vec::new();
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk.map_err(|e| RegistryError::Unreachable(format!("{digest}: {e}")))?;
        out.extend_from_slice(&chunk);
        if out.len() > SMALL_LIMIT {
            return Err(RegistryError::Protocol(format!("{digest}: too large")).into());
        }
    }
    if sha256(&out) != digest {
        return Err(RegistryError::Verification(format!(
            "blob {digest} has digest {}",
            sha256(&out)
        ))
        .into());
    }
    Ok(out)
}
