//! An image reference split into the parts the distribution API needs.

use crate::normalize_reference;
use crate::RegistryError;
use std::net::IpAddr;

/// Docker Hub's API host for the `docker.io` registry name.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// `registry/repository[:tag][@digest]`, normalised with Docker's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry as written in the name (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Repository path (`library/busybox`).
    pub repository: String,
    /// Tag, if any.
    pub tag: Option<String>,
    /// Digest (`sha256:…`), if any; wins over the tag.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses (and normalises) `reference`.
    pub fn parse(reference: &str) -> Result<ImageRef, RegistryError> {
        let full = normalize_reference(reference);
        let bad = |why: &str| RegistryError::InvalidReference(format!("{reference:?}: {why}"));
        let (name, digest) = match full.split_once('@') {
            Some((n, d)) => (n, Some(d.to_string())),
            None => (full.as_str(), None),
        };
        if let Some(d) = &digest {
            let hex = d
                .strip_prefix("sha256:")
                .ok_or_else(|| bad("only sha256 digests"))?;
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("a sha256 digest has 64 hex digits"));
            }
        }
        let (registry, path) = name.split_once('/').ok_or_else(|| bad("no repository"))?;
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), Some(t.to_string())),
            _ => (path.to_string(), None),
        };
        if repository.is_empty()
            || !repository
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
        {
            return Err(bad(
                "repository names use lowercase letters, digits, . _ - /",
            ));
        }
        if registry.is_empty() {
            return Err(bad("empty registry"));
        }
        Ok(ImageRef {
            registry: registry.to_string(),
            repository,
            tag,
            digest,
        })
    }

    /// What to ask the manifests endpoint for: the digest, else the tag, else `latest`.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// `host[:port]` of the registry's API.
    pub fn api_host(&self) -> &str {
        if self.registry == "docker.io" {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The full name (`registry/repository:tag` or `…@digest`).
    pub fn name(&self) -> String {
        let mut s = format!("{}/{}", self.registry, self.repository);
        if let Some(t) = &self.tag {
            s = format!("{s}:{t}");
        }
        if let Some(d) = &self.digest {
            s = format!("{s}@{d}");
        }
        s
    }

    /// This reference pinned to `digest` (the tag kept for readability).
    pub fn pinned(&self, digest: &str) -> ImageRef {
        ImageRef {
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }
}

/// True if `host` (`name[:port]`, `[v6]:port`) is a loopback address.
pub fn is_loopback(host: &str) -> bool {
    let h = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    h == "localhost" || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_names() {
        let r = ImageRef::parse("busybox").unwrap();
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/busybox");
        assert_eq!(r.manifest_reference(), "latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = ImageRef::parse("127.0.0.1:5000/a/b:v1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "a/b")
        );
        assert_eq!(r.tag.as_deref(), Some("v1"));
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("ghcr.io/o/app:1@{d}")).unwrap();
        assert_eq!(r.manifest_reference(), d);
        assert_eq!(r.name(), format!("ghcr.io/o/app:1@{d}"));
    }

    #[test]
    fn rejects_bad_references() {
        assert!(ImageRef::parse("x@sha256:12").is_err());
        assert!(ImageRef::parse("x@md5:12").is_err());
        assert!(ImageRef::parse("Upper/Case").is_err());
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.home.lan:5000"));
        assert!(!is_loopback("10.0.0.1"));
    }
}
