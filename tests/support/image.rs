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
