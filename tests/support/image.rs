//! The busybox test image, built once per format with images/build-busybox.sh and
//! cached under the target directory.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Archive formats the image recipe produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// OCI image layout, uncompressed layer.
    Oci,
    /// OCI image layout, gzip-compressed layer.
    OciGzipLayer,
    /// `docker save` format, uncompressed layer.
    Docker,
    /// `docker save` format, gzip-compressed layer.
    DockerGzipLayer,
}

impl ImageFormat {
    fn slug(self) -> &'static str {
        match self {
            ImageFormat::Oci => "oci",
            ImageFormat::OciGzipLayer => "oci-gz",
            ImageFormat::Docker => "docker",
            ImageFormat::DockerGzipLayer => "docker-gz",
        }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            ImageFormat::Oci => &["--format", "oci"],
            ImageFormat::OciGzipLayer => &["--format", "oci", "--gzip-layer"],
            ImageFormat::Docker => &["--format", "docker"],
            ImageFormat::DockerGzipLayer => &["--format", "docker", "--gzip-layer"],
        }
    }
}

/// The name the test image carries.
pub const BUSYBOX_IMAGE: &str = "demo/busybox:1";

/// The repository root (this package's manifest dir).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// cargo's target directory, from the running test executable (target/PROFILE/deps/X).
pub fn target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable has no target dir")?;
    Ok(profile_dir.parent().unwrap_or(profile_dir).to_path_buf())
}

fn newer_than(a: &Path, b: &Path) -> bool {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((m(a), m(b)), (Some(x), Some(y)) if x >= y)
}

/// The busybox image (`demo/busybox:1`) as an archive in `format`, built on first
/// use and reused while newer than the recipe and /bin/busybox.
pub fn busybox_image(format: ImageFormat) -> Result<PathBuf> {
    build(format, BUSYBOX_IMAGE, format.slug(), None)
}

/// A busybox image named `name` (OCI layout) whose config carries Docker's
/// `Healthcheck` `healthcheck` (JSON), cached under `slug`.
pub fn busybox_image_with_healthcheck(
    name: &str,
    slug: &str,
    healthcheck: &str,
) -> Result<PathBuf> {
    build(ImageFormat::Oci, name, slug, Some(healthcheck))
}

fn build(
    format: ImageFormat,
    name: &str,
    slug: &str,
    healthcheck: Option<&str>,
) -> Result<PathBuf> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let script = repo_root().join("images/build-busybox.sh");
    let dir = target_dir()?.join("orc-testbed");
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(format!("busybox-{slug}.tar"));
    if newer_than(&out, &script) && newer_than(&out, Path::new("/bin/busybox")) {
        return Ok(out);
    }
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .arg(&out)
        .args(["--name", name])
        .args(format.args());
    if let Some(h) = healthcheck {
        cmd.args(["--healthcheck", h]);
    }
    let o = cmd.output().context("running images/build-busybox.sh")?;
    if !o.status.success() {
        bail!(
            "images/build-busybox.sh failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(out)
}

/// Where slow-to-build images are kept across test runs and worktrees (one per
/// package list): `ORC_TEST_IMAGE_CACHE`, default `/var/cache/orc-testbed`.
pub fn image_cache_dir() -> PathBuf {
    std::env::var_os("ORC_TEST_IMAGE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/orc-testbed"))
}

/// A real Debian image named `name` holding `packages` (debootstrap, minutes to
/// build): built once per recipe and package list into [`image_cache_dir`] and shared
/// by every test that asks for the same list, in this run and later ones. A file lock
/// makes tests running side by side wait for one build instead of each building.
pub fn debian_image(name: &str, packages: &[&str]) -> Result<PathBuf> {
    use sha2::{Digest, Sha256};
    let script = repo_root().join("images/build-debian.sh");
    let packer = repo_root().join("images/oci-pack.py");
    let mut pkgs: Vec<&str> = packages.to_vec();
    pkgs.sort_unstable();
    let mut h = Sha256::new();
    h.update(std::fs::read(&script).context("reading images/build-debian.sh")?);
    h.update(std::fs::read(&packer).context("reading images/oci-pack.py")?);
    h.update(name.as_bytes());
    h.update(pkgs.join(",").as_bytes());
    let key = hex::encode(&h.finalize()[..8]);
    let dir = image_cache_dir();
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(format!("debian-{key}.tar"));
    if out.exists() {
        return Ok(out);
    }
    // `flock` serialises builders; the one that gets the lock second finds it built.
    let o = Command::new("flock")
        .arg(dir.join(format!("debian-{key}.lock")))
        .args([
            "bash",
            "-c",
            r#"[ -e "$1" ] || bash "$2" "$1" --name "$3" --packages "$4""#,
            "build",
        ])
        .arg(&out)
        .arg(&script)
        .arg(name)
        .arg(pkgs.join(","))
        .output()
        .context("running images/build-debian.sh")?;
    if !o.status.success() || !out.exists() {
        bail!(
            "images/build-debian.sh failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(out)
}
