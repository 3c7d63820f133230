//! The image formats orc reads: OCI index and manifest (and Docker's schema 2
//! equivalents), the image config, and `docker save`'s manifest.json. Parsed
//! leniently: unknown fields are ignored.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub(crate) const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const MT_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub(crate) const MT_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub(crate) const MT_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// containerd's annotation with the full image name.
pub(crate) const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI annotation with the reference (a tag, or by common use a full name).
pub(crate) const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A content descriptor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

/// An image platform.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub(crate) struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `os/arch[/variant]`.
    pub(crate) fn display(&self) -> String {
        match &self.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{}", self.os, self.architecture, v),
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// An OCI index or Docker manifest list.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Index {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// An OCI or Docker schema 2 manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub media_type: String,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// The parts of an image config orc uses.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub config: Option<ExecConfig>,
    #[serde(default)]
    pub rootfs: Option<RootFs>,
}

impl ImageConfig {
    pub(crate) fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone(),
        }
    }

    pub(crate) fn diff_ids(&self) -> Vec<String> {
        self.rootfs
            .as_ref()
            .map(|r| r.diff_ids.clone())
            .unwrap_or_default()
    }
}

/// The image's defaults for running it.
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct ExecConfig {
    #[serde(rename = "User", default)]
    pub user: Option<String>,
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Entrypoint", default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default)]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "WorkingDir", default)]
    pub working_dir: Option<String>,
    #[serde(rename = "Healthcheck", default)]
    pub healthcheck: Option<ImageHealthConfig>,
}

/// Docker's `config.Healthcheck` in an image config (durations in nanoseconds).
#[derive(Debug, Clone, Deserialize, Default)]
pub(crate) struct ImageHealthConfig {
    #[serde(rename = "Test", default)]
    pub test: Option<Vec<String>>,
    #[serde(rename = "Interval", default)]
    pub interval: Option<i64>,
    #[serde(rename = "Timeout", default)]
    pub timeout: Option<i64>,
    #[serde(rename = "StartPeriod", default)]
    pub start_period: Option<i64>,
    #[serde(rename = "StartInterval", default)]
    pub start_interval: Option<i64>,
    #[serde(rename = "Retries", default)]
    pub retries: Option<i64>,
}

impl ImageHealthConfig {
    /// As orc-spec reads it (negative or absent values: not set).
    pub(crate) fn to_spec(&self) -> orc_spec::ImageHealthcheck {
        let ns = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        orc_spec::ImageHealthcheck {
            test: self.test.clone().unwrap_or_default(),
            interval_ns: ns(self.interval),
            timeout_ns: ns(self.timeout),
            start_period_ns: ns(self.start_period),
            start_interval_ns: ns(self.start_interval),
            retries: self
                .retries
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(0),
        }
    }
}

/// The layer stack of an image config.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One entry of `docker save`'s manifest.json.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DockerSaveEntry {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    pub layers: Vec<String>,
}

/// True for media types of an index / manifest list.
pub(crate) fn is_index(media_type: &str) -> bool {
    media_type == MT_OCI_INDEX || media_type == MT_DOCKER_LIST
}

/// True for media types of a single-platform manifest.
pub(crate) fn is_manifest(media_type: &str) -> bool {
    media_type == MT_OCI_MANIFEST || media_type == MT_DOCKER_MANIFEST
}

/// This machine's platform in OCI terms.
pub(crate) fn host_platform() -> Platform {
    let (architecture, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", None),
        "arm" => ("arm", Some("v7")),
        "x86" => ("386", None),
        "powerpc64" => ("ppc64le", None),
        "riscv64" => ("riscv64", None),
        "s390x" => ("s390x", None),
        other => (other, None),
    };
    Platform {
        architecture: architecture.into(),
        os: "linux".into(),
        variant: variant.map(String::from),
    }
}

/// Whether an image for `p` runs on this host (variants are not compared for arm64;
/// a missing platform matches).
pub(crate) fn platform_matches(p: Option<&Platform>) -> bool {
    let Some(p) = p else { return true };
    let host = host_platform();
    if p.os != host.os || p.architecture != host.architecture {
        return false;
    }
    match (&host.variant, &p.variant) {
        (Some(h), Some(v)) => v <= h,
        _ => true,
    }
}

/// Picks the manifest for this host from an index's entries.
pub(crate) fn pick_manifest(index: &Index) -> Option<&Descriptor> {
    index
        .manifests
        .iter()
        .find(|d| is_manifest(&d.media_type) && platform_matches(d.platform.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_platform_matches_itself_and_not_others() {
        let h = host_platform();
        assert!(platform_matches(Some(&h)));
        assert!(platform_matches(None));
        let other = Platform {
            architecture: "mips".into(),
            os: "linux".into(),
            variant: None,
        };
        assert!(!platform_matches(Some(&other)));
        let windows = Platform {
            os: "windows".into(),
            ..h
        };
        assert!(!platform_matches(Some(&windows)));
    }

    #[test]
    fn config_parses_leniently() {
        let c: ImageConfig = serde_json::from_str(
            r#"{"architecture":"arm","variant":"v7","os":"linux","extra":1,
                "config":{"Env":["A=1"],"Cmd":["sh"],"Labels":{"x":"y"}},
                "rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"#,
        )
        .unwrap();
        assert_eq!(c.platform().display(), "linux/arm/v7");
        assert_eq!(c.diff_ids(), vec!["sha256:aa".to_string()]);
        assert_eq!(c.config.unwrap().cmd, Some(vec!["sh".to_string()]));
    }
}
