//! Choosing the manifest of an index for a wanted platform.

use crate::manifest::{host_platform, is_manifest, Descriptor, Index, Platform};
use crate::RegistryError;

/// Parses `os/arch[/variant]`.
pub(crate) fn parse_platform(s: &str) -> Result<Platform, RegistryError> {
    let parts: Vec<&str> = s.trim().split('/').collect();
    let bad =
        || RegistryError::InvalidReference(format!("platform {s:?}: expected os/arch[/variant]"));
    match parts.as_slice() {
        [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: None,
        }),
        [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => Ok(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: Some(v.to_string()),
        }),
        _ => Err(bad()),
    }
}

/// The wanted platform: `s` parsed, or this host's.
pub(crate) fn wanted_platform(s: Option<&str>) -> Result<Platform, RegistryError> {
    s.map(parse_platform).unwrap_or_else(|| Ok(host_platform()))
}

fn variant_ok(want: &Platform, have: Option<&str>) -> bool {
    let norm = |v: Option<&str>| match (want.architecture.as_str(), v) {
        ("arm64", Some("v8")) => None,
        (_, v) => v.map(str::to_string),
    };
    match (norm(want.variant.as_deref()), norm(have)) {
        (None, _) | (_, None) => true,
        (Some(w), Some(h)) => w == h,
    }
}

/// The index entry for `want`: same OS and architecture, compatible variant.
pub(crate) fn select<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    index.manifests.iter().find(|d| {
        is_manifest(&d.media_type)
            && d.platform.as_ref().is_some_and(|p| {
                p.os == want.os
                    && p.architecture == want.architecture
                    && variant_ok(want, p.variant.as_deref())
            })
    })
}

/// The platforms an index offers, for error messages.
pub(crate) fn offered(index: &Index) -> String {
    let v: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref().map(Platform::display))
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: crate::manifest::MT_OCI_MANIFEST.into(),
            digest: format!("sha256:{arch}{}", variant.unwrap_or("")),
            size: 1,
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(String::from),
            }),
            annotations: Default::default(),
        }
    }

    #[test]
    fn picks_the_wanted_platform() {
        let index = Index {
            manifests: vec![
                entry("amd64", None),
                entry("arm", Some("v6")),
                entry("arm", Some("v7")),
                entry("arm64", Some("v8")),
            ],
        };
        let pick = |s: &str| select(&index, &parse_platform(s).unwrap()).map(|d| d.digest.clone());
        assert_eq!(pick("linux/arm64").as_deref(), Some("sha256:arm64v8"));
        assert_eq!(pick("linux/arm/v7").as_deref(), Some("sha256:armv7"));
        assert_eq!(pick("linux/amd64").as_deref(), Some("sha256:amd64"));
        assert_eq!(pick("linux/riscv64"), None);
        assert_eq!(pick("windows/amd64"), None);
        assert_eq!(
            offered(&index),
            "linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8"
        );
    }

    #[test]
    fn rejects_bad_platforms() {
        assert!(parse_platform("linux").is_err());
        assert!(parse_platform("linux//v7").is_err());
    }
}
