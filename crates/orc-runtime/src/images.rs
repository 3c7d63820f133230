//! Image records: create/update, list, get, remove, and resolving an image to its
//! manifest and config for this platform.

use crate::import::LABEL_LOADED;
use crate::manifest::{
    is_index, is_manifest, pick_manifest, Descriptor, ImageConfig, Index, Manifest,
};
use crate::{normalize_reference, ImageInfo, Runtime, RuntimeError};
use containerd_client::services::v1::{
    CreateImageRequest, DeleteImageRequest, GetImageRequest, Image, ListContainersRequest,
    ListImagesRequest, UpdateImageRequest,
};
use containerd_client::types;
use std::collections::HashMap;

/// An image resolved for this platform.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedImage {
    pub name: String,
    pub manifest_digest: String,
    pub manifest: Manifest,
    pub manifest_size: i64,
    pub manifest_media_type: String,
    pub config: ImageConfig,
}

impl ResolvedImage {
    pub(crate) fn info(&self) -> ImageInfo {
        let size = self.manifest_size
            + self.manifest.config.size
            + self.manifest.layers.iter().map(|l| l.size).sum::<i64>();
        ImageInfo {
            name: self.name.clone(),
            digest: self.manifest_digest.clone(),
            size: u64::try_from(size).unwrap_or(0),
            created: self.config.created.clone(),
            platform: self.config.platform().display(),
        }
    }
}

fn json<T: serde::de::DeserializeOwned>(what: &str, data: &[u8]) -> Result<T, RuntimeError> {
    serde_json::from_slice(data).map_err(|e| RuntimeError::Spec(format!("{what}: {e}")))
}

impl Runtime {
    /// Creates image `name` → `target`, or points an existing one at it; its labels
    /// become `labels` (a pull drops the mark of an earlier `image load`).
    pub(crate) async fn put_image(
        &self,
        name: &str,
        target: &Descriptor,
        labels: HashMap<String, String>,
    ) -> Result<(), RuntimeError> {
        let image = Image {
            name: name.to_string(),
            labels,
            target: Some(types::Descriptor {
                media_type: target.media_type.clone(),
                digest: target.digest.clone(),
                size: target.size,
                annotations: Default::default(),
            }),
            ..Default::default()
        };
        let create = CreateImageRequest {
            image: Some(image.clone()),
            source_date_epoch: None,
        };
        match self.images().create(create).await {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::AlreadyExists => {
                let mask = prost_types::FieldMask {
                    paths: vec!["target".into(), "labels".into()],
                };
                let update = UpdateImageRequest {
                    image: Some(image),
                    update_mask: Some(mask),
                    source_date_epoch: None,
                };
                self.images().update(update).await?;
                Ok(())
            }
            Err(s) => Err(s.into()),
        }
    }

    /// Reads an image's manifest (picking this platform's from an index) and config.
    async fn resolve(&self, image: Image) -> Result<ResolvedImage, RuntimeError> {
        let target = image
            .target
            .ok_or_else(|| RuntimeError::Spec(format!("image {} has no target", image.name)))?;
        let (mut digest, mut media_type, mut size) =
            (target.digest, target.media_type, target.size);
        if is_index(&media_type) {
            let index: Index = json(&digest, &self.read_blob(&digest).await?)?;
            let m = pick_manifest(&index).ok_or_else(|| {
                RuntimeError::Spec(format!(
                    "image {} has no manifest for this platform",
                    image.name
                ))
            })?;
            (digest, media_type, size) = (m.digest.clone(), m.media_type.clone(), m.size);
        }
        if !is_manifest(&media_type) {
            return Err(RuntimeError::Spec(format!(
                "image {}: unsupported media type {media_type}",
                image.name
            )));
        }
        let manifest: Manifest = json(&digest, &self.read_blob(&digest).await?)?;
        let config: ImageConfig = json(
            &manifest.config.digest,
            &self.read_blob(&manifest.config.digest).await?,
        )?;
        Ok(ResolvedImage {
            name: image.name,
            manifest_digest: digest,
            manifest,
            manifest_size: size,
            manifest_media_type: media_type,
            config,
        })
    }

    /// The image `reference` (normalised) resolved for this platform, or
    /// [`RuntimeError::ImageNotFound`].
    pub(crate) async fn resolve_image(
        &self,
        reference: &str,
    ) -> Result<ResolvedImage, RuntimeError> {
        let name = normalize_reference(reference);
        match self
            .images()
            .get(GetImageRequest { name: name.clone() })
            .await
        {
            Ok(r) => match r.into_inner().image {
                Some(img) => self.resolve(img).await,
                None => Err(RuntimeError::ImageNotFound(name)),
            },
            Err(s) if s.code() == tonic::Code::NotFound => Err(RuntimeError::ImageNotFound(name)),
            Err(s) => Err(s.into()),
        }
    }

    /// All images in the namespace, sorted by name. Images whose content is
    /// incomplete are skipped with a warning.
    pub async fn list_images(&self) -> Result<Vec<ImageInfo>, RuntimeError> {
        let images = self
            .images()
            .list(ListImagesRequest { filters: vec![] })
            .await?
            .into_inner()
            .images;
        let mut out = Vec::new();
        for img in images {
            let name = img.name.clone();
            match self.resolve(img).await {
                Ok(r) => out.push(r.info()),
                Err(e @ RuntimeError::Unavailable(_)) => return Err(e),
                Err(e) => tracing::warn!(image = %name, "skipping image: {e}"),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Whether this node holds image `reference` as `orc image load` wrote it (from an
    /// archive, not from a registry or a peer): such an image has no registry to ask.
    pub async fn image_was_loaded(&self, reference: &str) -> Result<bool, RuntimeError> {
        let name = normalize_reference(reference);
        match self.images().get(GetImageRequest { name }).await {
            Ok(r) => Ok(r
                .into_inner()
                .image
                .is_some_and(|i| i.labels.contains_key(LABEL_LOADED))),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
            Err(s) => Err(s.into()),
        }
    }

    /// The image `reference` (normalised, e.g. `busybox` → `docker.io/library/busybox:latest`).
    pub async fn get_image(&self, reference: &str) -> Result<Option<ImageInfo>, RuntimeError> {
        match self.resolve_image(reference).await {
            Ok(r) => Ok(Some(r.info())),
            Err(RuntimeError::ImageNotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the image record `reference`; containerd then collects its content
    /// and snapshots. Refuses with [`RuntimeError::ImageInUse`] while a container
    /// of this namespace was created from it.
    pub async fn remove_image(&self, reference: &str) -> Result<(), RuntimeError> {
        let name = normalize_reference(reference);
        let filter = format!("image==\"{name}\"");
        let users = self
            .containers()
            .list(ListContainersRequest {
                filters: vec![filter],
            })
            .await?
            .into_inner()
            .containers;
        if !users.is_empty() {
            let containers = users
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(RuntimeError::ImageInUse {
                image: name,
                containers,
            });
        }
        match self
            .images()
            .delete(DeleteImageRequest {
                name: name.clone(),
                sync: true,
                target: None,
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::NotFound => Err(RuntimeError::ImageNotFound(name)),
            Err(s) => Err(s.into()),
        }
    }
}
