//! Turning a scanned archive into the list of images to import: which blobs, in
//! which roles, under which names. Small blobs are verified against their digests
//! here; large layers are verified while they stream into containerd.

use crate::archive::ArchiveScan;
use crate::manifest::{
    is_index, is_manifest, pick_manifest, platform_matches, Descriptor, DockerSaveEntry,
    ImageConfig, Index, Manifest, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME,
    MT_DOCKER_CONFIG, MT_DOCKER_LAYER, MT_DOCKER_LAYER_GZIP, MT_DOCKER_MANIFEST,
};
use crate::util::{is_sha256_digest, sha256_digest};
use crate::{normalize_reference, RuntimeError};

/// A small blob held in memory.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub desc: Descriptor,
    pub data: Vec<u8>,
}

/// One layer of an image: where it is in the archive and what it must unpack to.
#[derive(Debug, Clone)]
pub(crate) struct LayerRef {
    /// Archive entry (symlinks resolved).
    pub entry: String,
    /// Media type to record.
    pub media_type: String,
    /// The digest the archive declares (OCI); docker-save layers are hashed instead.
    pub declared: Option<String>,
    pub size: u64,
    /// The uncompressed digest from the image config.
    pub diff_id: String,
}

/// How the image's manifest is obtained.
#[derive(Debug, Clone)]
pub(crate) enum Top {
    /// From the archive; `index` is set when the archive's entry is an index.
    Oci {
        manifest: Box<Blob>,
        index: Option<Box<Blob>>,
    },
    /// Synthesised (Docker schema 2) once the layer digests are known.
    Docker,
}

/// One image to import.
#[derive(Debug, Clone)]
pub(crate) struct PlannedImage {
    /// Normalised names.
    pub names: Vec<String>,
    pub config: ImageConfig,
    pub config_blob: Blob,
    pub layers: Vec<LayerRef>,
    pub top: Top,
}

/// Plans an import: OCI layout if the archive has one, else `docker save` format.
pub(crate) fn plan(scan: &ArchiveScan) -> Result<Vec<PlannedImage>, RuntimeError> {
    let images = if scan.has("index.json") && scan.has("oci-layout") {
        plan_oci(scan)?
    } else if scan.has("manifest.json") {
        plan_docker(scan)?
    } else {
        return Err(RuntimeError::archive(
            "neither an OCI image layout (index.json) nor a docker save archive",
        ));
    };
    if images.is_empty() {
        return Err(RuntimeError::archive(
            "the archive holds no image with a name for this platform",
        ));
    }
    Ok(images)
}

fn json<T: serde::de::DeserializeOwned>(what: &str, data: &[u8]) -> Result<T, RuntimeError> {
    serde_json::from_slice(data).map_err(|e| RuntimeError::archive(format!("{what}: {e}")))
}

fn blob_path(digest: &str) -> Result<String, RuntimeError> {
    match digest.split_once(':') {
        Some((alg, hex)) if is_sha256_digest(digest) => Ok(format!("blobs/{alg}/{hex}")),
        _ => Err(RuntimeError::archive(format!(
            "unsupported digest {digest:?}"
        ))),
    }
}

/// A small OCI blob, verified against its descriptor.
fn oci_blob(scan: &ArchiveScan, desc: &Descriptor) -> Result<Blob, RuntimeError> {
    let data = scan.small(&blob_path(&desc.digest)?)?.to_vec();
    let actual = sha256_digest(&data);
    if actual != desc.digest || data.len() as i64 != desc.size {
        return Err(RuntimeError::archive(format!(
            "blob {} has digest {actual} and size {}, its descriptor says {} bytes",
            desc.digest,
            data.len(),
            desc.size
        )));
    }
    Ok(Blob {
        desc: desc.clone(),
        data,
    })
}

fn config_of(what: &str, data: &[u8]) -> Result<ImageConfig, RuntimeError> {
    let config: ImageConfig = json(what, data)?;
    if !platform_matches(Some(&config.platform())) {
        return Err(RuntimeError::archive(format!(
            "image is for {}, this host runs {}",
            config.platform().display(),
            crate::manifest::host_platform().display()
        )));
    }
    Ok(config)
}

fn oci_names(desc: &Descriptor) -> Vec<String> {
    let name = desc
        .annotations
        .get(ANNOTATION_CONTAINERD_NAME)
        .or_else(|| {
            // By the spec a tag, often a full reference: only the latter names an image.
            desc.annotations
                .get(ANNOTATION_REF_NAME)
                .filter(|r| r.contains('/') || r.contains(':'))
        });
    name.map(|n| normalize_reference(n)).into_iter().collect()
}

fn plan_oci(scan: &ArchiveScan) -> Result<Vec<PlannedImage>, RuntimeError> {
    let index: Index = json("index.json", scan.small("index.json")?)?;
    let mut out = Vec::new();
    for desc in &index.manifests {
        let names = oci_names(desc);
        if names.is_empty() {
            tracing::warn!(digest = %desc.digest, "skipping an image without a name in index.json");
            continue;
        }
        let (manifest_blob, index_blob) = if is_index(&desc.media_type) {
            let ib = oci_blob(scan, desc)?;
            let nested: Index = json(&desc.digest, &ib.data)?;
            let Some(m) = pick_manifest(&nested) else {
                return Err(RuntimeError::archive(format!(
                    "{} has no manifest for this platform",
                    names[0]
                )));
            };
            (oci_blob(scan, m)?, Some(ib))
        } else if is_manifest(&desc.media_type) {
            (oci_blob(scan, desc)?, None)
        } else {
            continue;
        };
        let manifest: Manifest = json(&manifest_blob.desc.digest, &manifest_blob.data)?;
        let config_blob = oci_blob(scan, &manifest.config)?;
        let config = config_of(&manifest.config.digest, &config_blob.data)?;
        let diff_ids = config.diff_ids();
        if diff_ids.len() != manifest.layers.len() {
            return Err(RuntimeError::archive(format!(
                "{}: {} layers but {} diff_ids",
                names[0],
                manifest.layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (l, diff_id) in manifest.layers.iter().zip(diff_ids) {
            let path = blob_path(&l.digest)?;
            let Some((entry, file)) = scan.file(&path) else {
                return Err(RuntimeError::archive(format!(
                    "layer {} is missing",
                    l.digest
                )));
            };
            if file.size as i64 != l.size {
                return Err(RuntimeError::archive(format!(
                    "layer {}: {} bytes, expected {}",
                    l.digest, file.size, l.size
                )));
            }
            layers.push(LayerRef {
                entry: entry.to_string(),
                media_type: l.media_type.clone(),
                declared: Some(l.digest.clone()),
                size: file.size,
                diff_id,
            });
        }
        out.push(PlannedImage {
            names,
            config,
            config_blob,
            layers,
            top: Top::Oci {
                manifest: Box::new(manifest_blob),
                index: index_blob.map(Box::new),
            },
        });
    }
    Ok(out)
}

fn plan_docker(scan: &ArchiveScan) -> Result<Vec<PlannedImage>, RuntimeError> {
    let entries: Vec<DockerSaveEntry> = json("manifest.json", scan.small("manifest.json")?)?;
    let mut out = Vec::new();
    for e in entries {
        let names: Vec<String> = e
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| normalize_reference(t))
            .collect();
        if names.is_empty() {
            tracing::warn!(config = %e.config, "skipping an image without RepoTags in manifest.json");
            continue;
        }
        let data = scan.small(&e.config)?.to_vec();
        let digest = sha256_digest(&data);
        // Config files are named after their digest (HEX.json or blobs/sha256/HEX).
        let stem = e
            .config
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".json");
        if stem.len() == 64
            && stem.bytes().all(|b| b.is_ascii_hexdigit())
            && digest != format!("sha256:{stem}")
        {
            return Err(RuntimeError::archive(format!(
                "{}: content has digest {digest}",
                e.config
            )));
        }
        let config = config_of(&e.config, &data)?;
        let diff_ids = config.diff_ids();
        if diff_ids.len() != e.layers.len() {
            return Err(RuntimeError::archive(format!(
                "{}: {} layers but {} diff_ids",
                names[0],
                e.layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (l, diff_id) in e.layers.iter().zip(diff_ids) {
            let Some((entry, file)) = scan.file(l) else {
                return Err(RuntimeError::archive(format!("layer {l} is missing")));
            };
            let media_type = if file.gzip {
                MT_DOCKER_LAYER_GZIP
            } else {
                MT_DOCKER_LAYER
            };
            layers.push(LayerRef {
                entry: entry.to_string(),
                media_type: media_type.into(),
                declared: None,
                size: file.size,
                diff_id,
            });
        }
        let desc = Descriptor {
            media_type: MT_DOCKER_CONFIG.into(),
            digest,
            size: data.len() as i64,
            platform: None,
            annotations: Default::default(),
        };
        out.push(PlannedImage {
            names,
            config,
            config_blob: Blob { desc, data },
            layers,
            top: Top::Docker,
        });
    }
    Ok(out)
}

/// The Docker schema 2 manifest for a docker-save image, given its written layers.
pub(crate) fn docker_manifest(
    config: &Descriptor,
    layers: Vec<Descriptor>,
) -> Result<Blob, RuntimeError> {
    let m = Manifest {
        schema_version: 2,
        media_type: MT_DOCKER_MANIFEST.into(),
        config: config.clone(),
        layers,
    };
    let data =
        serde_json::to_vec(&m).map_err(|e| RuntimeError::archive(format!("manifest: {e}")))?;
    let desc = Descriptor {
        media_type: MT_DOCKER_MANIFEST.into(),
        digest: sha256_digest(&data),
        size: data.len() as i64,
        platform: None,
        annotations: Default::default(),
    };
    Ok(Blob { desc, data })
}
