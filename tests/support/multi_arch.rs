//! A multi-platform test image: the busybox OCI archive re-labelled as an image
//! index with one manifest per platform (each with its own config naming its
//! architecture), written as an OCI layout directory for `skopeo copy --all`.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

/// The `org.opencontainers.image.ref.name` of the index in the layout.
pub const MULTI_ARCH_REF: &str = "multi";

fn put_blob(dir: &Path, data: &[u8]) -> Result<(String, usize)> {
    let hex = hex::encode(Sha256::digest(data));
    std::fs::write(dir.join("blobs/sha256").join(&hex), data)?;
    Ok((format!("sha256:{hex}"), data.len()))
}

fn get_blob(dir: &Path, digest: &str) -> Result<Value> {
    let hex = digest.strip_prefix("sha256:").context("digest")?;
    let data = std::fs::read(dir.join("blobs/sha256").join(hex))?;
    Ok(serde_json::from_slice(&data)?)
}

/// Writes into `dir` (empty) an OCI layout whose index `multi` lists one manifest
/// per `architectures` entry (linux), all sharing the busybox layer of `archive`
/// (an OCI archive from [`crate::busybox_image`]). `tag` goes into each config's
/// labels so different calls give different digests.
pub fn multi_arch_layout(
    archive: &Path,
    dir: &Path,
    architectures: &[&str],
    tag: &str,
) -> Result<()> {
    let o = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(dir)
        .output()?;
    if !o.status.success() {
        bail!("tar: {}", String::from_utf8_lossy(&o.stderr));
    }
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json"))?)?;
    let top = index["manifests"][0]["digest"]
        .as_str()
        .context("index.json without a manifest")?;
    let manifest = get_blob(dir, top)?;
    let config = get_blob(
        dir,
        manifest["config"]["digest"].as_str().context("config")?,
    )?;
    let mut entries = Vec::new();
    for arch in architectures {
        let mut c = config.clone();
        c["architecture"] = json!(arch);
        if let Some(o) = c.as_object_mut() {
            o.remove("variant");
        }
        c["config"]["Labels"] = json!({ "orc.test.tag": tag, "orc.test.arch": arch });
        let (cd, cs) = put_blob(dir, &serde_json::to_vec(&c)?)?;
        let mut m = manifest.clone();
        m["config"]["digest"] = json!(cd);
        m["config"]["size"] = json!(cs);
        let (md, ms) = put_blob(dir, &serde_json::to_vec(&m)?)?;
        entries.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md,
            "size": ms,
            "platform": { "os": "linux", "architecture": arch },
        }));
    }
    let image_index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    });
    let (id, is) = put_blob(dir, &serde_json::to_vec(&image_index)?)?;
    let layout_index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": id,
            "size": is,
            "annotations": { "org.opencontainers.image.ref.name": MULTI_ARCH_REF },
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&layout_index)?)?;
    Ok(())
}
