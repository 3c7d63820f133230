//! Image reference normalisation with Docker's rules.

/// The registry Docker assumes when a reference names none.
const DEFAULT_DOMAIN: &str = "docker.io";

/// Normalises an image reference the way Docker does:
/// `busybox` → `docker.io/library/busybox:latest`, `demo/busybox:1` →
/// `docker.io/demo/busybox:1`, `localhost:5000/x` → `localhost:5000/x:latest`.
/// A digest (`name@sha256:…`) is kept and no tag is added to it. Surrounding
/// whitespace is removed; nothing else is validated.
pub fn normalize_reference(r: &str) -> String {
    let r = r.trim();
    if r.is_empty() {
        return String::new();
    }
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    let mut full = match name.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            name.to_string()
        }
        Some(_) => format!("{DEFAULT_DOMAIN}/{name}"),
        None => format!("{DEFAULT_DOMAIN}/library/{name}"),
    };
    // Docker Hub's official images live under library/.
    if let Some(rest) = full.strip_prefix("docker.io/") {
        if !rest.contains('/') {
            full = format!("docker.io/library/{rest}");
        }
    }
    let last = full.rsplit('/').next().unwrap_or_default();
    match digest {
        Some(d) => format!("{full}@{d}"),
        None if !last.contains(':') => format!("{full}:latest"),
        None => full,
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_reference as n;

    #[test]
    fn docker_rules() {
        assert_eq!(n("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(n("demo/busybox:1"), "docker.io/demo/busybox:1");
        assert_eq!(n("docker.io/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("docker.io/demo/busybox:1"), "docker.io/demo/busybox:1");
        assert_eq!(n("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(n("localhost/app:2"), "localhost/app:2");
        assert_eq!(n("ghcr.io/a/b/c:v1"), "ghcr.io/a/b/c:v1");
        assert_eq!(n("registry:5000/x"), "registry:5000/x:latest");
        assert_eq!(n(" busybox "), "docker.io/library/busybox:latest");
    }

    #[test]
    fn digests_are_kept() {
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            n(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            n(&format!("demo/app:1@{d}")),
            format!("docker.io/demo/app:1@{d}")
        );
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for r in [
            "busybox",
            "demo/busybox:1",
            "localhost:5000/app",
            "quay.io/x/y@sha256:ab",
        ] {
            assert_eq!(n(&n(r)), n(r));
        }
    }
}
