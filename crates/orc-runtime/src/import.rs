//! `import_archive`: loading an OCI layout or `docker save` archive into containerd
//! through its content, diff, snapshots and images services (containerd 1.6 has no
//! transfer service), under a lease so nothing is collected half-way and a failed
//! import leaves nothing behind.

use crate::archive::{ArchiveScan, StreamedEntry};
use crate::client::Lease;
use crate::content::{BlobData, BlobWrite};
use crate::manifest::Descriptor;
use crate::plan::{docker_manifest, plan, Blob, PlannedImage, Top};
use crate::{ImageInfo, Runtime, RuntimeError};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long an import's lease outlives a crashed orc.
const LEASE_TTL: Duration = Duration::from_secs(3600);

pub(crate) const LABEL_UNCOMPRESSED: &str = "containerd.io/uncompressed";
pub(crate) const LABEL_GC_CONFIG: &str = "containerd.io/gc.ref.content.config";
pub(crate) const LABEL_GC_SNAPSHOT: &str = "containerd.io/gc.ref.snapshot.overlayfs";
/// The label `orc image load` puts on the image records it writes (value: "archive").
pub(crate) const LABEL_LOADED: &str = "orc.loaded-from";

impl Runtime {
    /// Imports every named image of an archive (OCI image layout or `docker save`
    /// format, plain or gzip-compressed), unpacks it for the overlayfs snapshotter
    /// and creates or updates its image records. Idempotent. Digests and sizes are
    /// verified; a bad archive gives [`RuntimeError::InvalidArchive`] and creates no
    /// image.
    pub async fn import_archive(&self, path: &Path) -> Result<Vec<ImageInfo>, RuntimeError> {
        let p = path.to_path_buf();
        let scan = tokio::task::spawn_blocking(move || ArchiveScan::scan(&p))
            .await
            .map_err(|e| RuntimeError::archive(format!("archive reader failed: {e}")))??;
        let scan = Arc::new(scan);
        let images = plan(&scan)?;
        let lease = self.create_lease("orc-import", LEASE_TTL).await?;
        let r = self.import_planned(&lease, scan, images).await;
        if let Err(e) = self.delete_lease(lease).await {
            tracing::warn!("deleting the import lease: {e}");
        }
        r
    }

    async fn import_planned(
        &self,
        lease: &Lease,
        scan: Arc<ArchiveScan>,
        images: Vec<PlannedImage>,
    ) -> Result<Vec<ImageInfo>, RuntimeError> {
        let layers = self.write_layers(lease, scan, &images).await?;
        let mut out = Vec::new();
        for img in images {
            let written: Vec<Descriptor> = img
                .layers
                .iter()
                .filter_map(|l| layers.get(&l.entry).cloned())
                .collect();
            if written.len() != img.layers.len() {
                return Err(RuntimeError::archive(format!(
                    "{}: a layer is missing from the archive",
                    img.names[0]
                )));
            }
            let chains = self.unpack(lease, &written, &img.config.diff_ids()).await?;
            let mut config_labels = HashMap::new();
            if let Some(top) = chains.last() {
                config_labels.insert(LABEL_GC_SNAPSHOT.to_string(), top.clone());
            }
            self.write_small(lease, &img.config_blob, config_labels)
                .await?;
            let (manifest, index) = match &img.top {
                Top::Oci { manifest, index } => ((**manifest).clone(), index.as_deref().cloned()),
                Top::Docker => (
                    docker_manifest(&img.config_blob.desc, written.clone())?,
                    None,
                ),
            };
            let mut labels = HashMap::from([(
                LABEL_GC_CONFIG.to_string(),
                img.config_blob.desc.digest.clone(),
            )]);
            for (i, l) in written.iter().enumerate() {
                labels.insert(
                    format!("containerd.io/gc.ref.content.l.{i}"),
                    l.digest.clone(),
                );
            }
            self.write_small(lease, &manifest, labels).await?;
            if let Some(index) = &index {
                let labels = HashMap::from([(
                    "containerd.io/gc.ref.content.m.0".to_string(),
                    manifest.desc.digest.clone(),
                )]);
                self.write_small(lease, index, labels).await?;
            }
            let target = index.as_ref().map(|b| &b.desc).unwrap_or(&manifest.desc);
            let size = manifest.desc.size
                + img.config_blob.desc.size
                + written.iter().map(|l| l.size).sum::<i64>();
            for name in &img.names {
                let loaded = HashMap::from([(LABEL_LOADED.to_string(), "archive".to_string())]);
                self.put_image(name, target, loaded).await?;
                out.push(ImageInfo {
                    name: name.clone(),
                    digest: manifest.desc.digest.clone(),
                    size: u64::try_from(size).unwrap_or(0),
                    created: img.config.created.clone(),
                    platform: img.config.platform().display(),
                });
            }
        }
        Ok(out)
    }

    pub(crate) async fn write_small(
        &self,
        lease: &Lease,
        blob: &Blob,
        labels: HashMap<String, String>,
    ) -> Result<(), RuntimeError> {
        let w = BlobWrite {
            reference: format!(
                "orc-import-{}-{}",
                crate::util::random_hex(4),
                blob.desc.digest
            ),
            expected: Some(blob.desc.digest.clone()),
            size: blob.data.len() as u64,
            labels,
            data: BlobData::Memory(&blob.data),
        };
        self.write_blob(lease, w).await.map(|_| ())
    }

    /// Writes every layer blob; returns archive entry → descriptor as written.
    async fn write_layers(
        &self,
        lease: &Lease,
        scan: Arc<ArchiveScan>,
        images: &[PlannedImage],
    ) -> Result<HashMap<String, Descriptor>, RuntimeError> {
        let mut todo = HashMap::new();
        for l in images.iter().flat_map(|i| &i.layers) {
            todo.entry(l.entry.clone()).or_insert_with(|| l.clone());
        }
        let mut done = HashMap::new();
        let mut streamed = HashSet::new();
        for (entry, l) in &todo {
            let data = scan.file(entry).and_then(|(_, f)| f.data.as_deref());
            let present = match &l.declared {
                Some(d) => self
                    .content_info(d)
                    .await?
                    .is_some_and(|i| i.size == l.size as i64),
                None => false,
            };
            if let (false, None) = (present, data) {
                streamed.insert(entry.clone());
                continue;
            }
            let data = BlobData::Memory(data.unwrap_or_default());
            let digest = self.write_layer(lease, l, data).await?;
            done.insert(entry.clone(), layer_desc(l, digest));
        }
        if streamed.is_empty() {
            return Ok(done);
        }
        let (tx, mut rx) = mpsc::channel::<StreamedEntry>(1);
        let wanted = streamed.clone();
        let reader = tokio::task::spawn_blocking(move || scan.stream(&wanted, tx));
        let mut result = Ok(());
        while let Some((entry, chunks)) = rx.recv().await {
            let Some(l) = todo.get(&entry) else { continue };
            match self.write_layer(lease, l, BlobData::Chunks(chunks)).await {
                Ok(digest) => {
                    streamed.remove(&entry);
                    done.insert(entry, layer_desc(l, digest));
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        drop(rx);
        let read = reader
            .await
            .map_err(|e| RuntimeError::archive(format!("archive reader failed: {e}")))?;
        result?;
        read?;
        if let Some(missing) = streamed.iter().next() {
            return Err(RuntimeError::archive(format!(
                "{missing} vanished between the two passes over the archive"
            )));
        }
        Ok(done)
    }

    async fn write_layer(
        &self,
        lease: &Lease,
        l: &crate::plan::LayerRef,
        data: BlobData<'_>,
    ) -> Result<String, RuntimeError> {
        let w = BlobWrite {
            reference: format!("orc-import-{}-{}", crate::util::random_hex(4), l.entry),
            expected: l.declared.clone(),
            size: l.size,
            labels: HashMap::from([(LABEL_UNCOMPRESSED.to_string(), l.diff_id.clone())]),
            data,
        };
        self.write_blob(lease, w).await
    }
}

fn layer_desc(l: &crate::plan::LayerRef, digest: String) -> Descriptor {
    Descriptor {
        media_type: l.media_type.clone(),
        digest,
        size: l.size as i64,
        platform: None,
        annotations: Default::default(),
    }
}
