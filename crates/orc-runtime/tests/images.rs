//! Image import, listing and removal against a real containerd.

mod common;

use common::{Env, IMAGE};
use orc_runtime::{normalize_reference, RuntimeError};
use orc_testbed::{busybox_image, ImageFormat};
use std::io::Write;
use std::time::Instant;

const FULL: &str = "docker.io/demo/busybox:1";

async fn import_and_check(format: ImageFormat, gzip_whole: bool) {
    let env = Env::start().await;
    let mut path = busybox_image(format).unwrap();
    let gz;
    if gzip_whole {
        gz = tempfile::NamedTempFile::new().unwrap();
        let mut enc =
            flate2::write::GzEncoder::new(gz.reopen().unwrap(), flate2::Compression::fast());
        enc.write_all(&std::fs::read(&path).unwrap()).unwrap();
        enc.finish().unwrap();
        path = gz.path().to_path_buf();
    }
    let t = Instant::now();
    let imported = env.rt.import_archive(&path).await.unwrap();
    eprintln!(
        "import {format:?} (whole archive gzipped: {gzip_whole}): {:?}",
        t.elapsed()
    );
    assert_eq!(imported.len(), 1);
    let info = &imported[0];
    assert_eq!(info.name, FULL);
    assert!(info.digest.starts_with("sha256:"), "{info:?}");
    assert!(info.size > 500_000, "{info:?}");
    assert!(info.platform.starts_with("linux/"), "{info:?}");
    assert_eq!(info.created.as_deref(), Some("1970-01-01T00:00:00Z"));

    // What ctr sees: the image, unpacked (a committed snapshot for its layer).
    let images = env.ctr(&["images", "ls", "-q"]);
    assert_eq!(images.trim(), FULL);
    let snaps = env.ctr(&["snapshots", "ls"]);
    assert!(snaps.contains("Committed"), "{snaps}");

    assert_eq!(env.rt.list_images().await.unwrap(), imported);
    assert_eq!(env.rt.get_image(IMAGE).await.unwrap().as_ref(), Some(info));
    assert_eq!(env.rt.get_image("demo/busybox:2").await.unwrap(), None);

    // Idempotent.
    let t = Instant::now();
    let again = env.rt.import_archive(&path).await.unwrap();
    eprintln!("re-import {format:?}: {:?}", t.elapsed());
    assert_eq!(again, imported);
    assert_eq!(env.rt.list_images().await.unwrap().len(), 1);

    env.rt.remove_image(IMAGE).await.unwrap();
    assert!(env.rt.list_images().await.unwrap().is_empty());
    assert!(matches!(
        env.rt.remove_image(IMAGE).await,
        Err(RuntimeError::ImageNotFound(_))
    ));
    // Removal lets containerd collect content and snapshots.
    assert!(!env.ctr(&["snapshots", "ls"]).contains("Committed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn imports_an_oci_layout() {
    import_and_check(ImageFormat::Oci, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn imports_an_oci_layout_with_a_gzip_layer_gzipped_whole() {
    import_and_check(ImageFormat::OciGzipLayer, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn imports_docker_save_archives() {
    import_and_check(ImageFormat::Docker, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn imports_docker_save_with_a_gzip_layer() {
    import_and_check(ImageFormat::DockerGzipLayer, true).await;
}

/// Copies `src` (a tar) flipping one byte in the file named `victim` (a suffix).
fn corrupt(src: &std::path::Path, victim: impl Fn(&str) -> bool) -> tempfile::NamedTempFile {
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut ar = tar::Archive::new(std::fs::File::open(src).unwrap());
    let mut b = tar::Builder::new(out.reopen().unwrap());
    let mut hit = false;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut h = e.header().clone();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if !hit && h.entry_type().is_file() && victim(&name) && data.len() > 5000 {
            data[4000] ^= 0x55;
            hit = true;
        }
        h.set_cksum();
        b.append_data(&mut h, &name, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
    assert!(hit, "nothing to corrupt");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_layer_is_refused_and_leaves_nothing() {
    let env = Env::start().await;
    for (format, victim) in [
        (ImageFormat::Oci, "blobs/sha256/"),
        (ImageFormat::Docker, "layer.tar"),
    ] {
        let bad = corrupt(&busybox_image(format).unwrap(), |n| n.contains(victim));
        let err = env.rt.import_archive(bad.path()).await.unwrap_err();
        assert!(
            matches!(err, RuntimeError::InvalidArchive(_)),
            "{format:?}: {err}"
        );
        assert!(env.rt.list_images().await.unwrap().is_empty());
        assert_eq!(env.ctr(&["images", "ls", "-q"]).trim(), "");
    }
    // Garbage in general is an invalid archive too.
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), b"not a tar at all, not even close").unwrap();
    assert!(matches!(
        env.rt.import_archive(junk.path()).await,
        Err(RuntimeError::InvalidArchive(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_in_use_cannot_be_removed() {
    let env = Env::with_image().await;
    let cfg = env.config("inuse", &["sleep", "60"]);
    env.rt.run(&cfg).await.unwrap();
    match env.rt.remove_image(IMAGE).await {
        Err(RuntimeError::ImageInUse { image, containers }) => {
            assert_eq!(image, normalize_reference(IMAGE));
            assert_eq!(containers, cfg.id);
        }
        other => panic!("expected ImageInUse, got {other:?}"),
    }
    env.rt.remove(&cfg.id).await.unwrap();
    env.rt.remove_image(IMAGE).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn containerd_down_is_unavailable_and_new_never_fails() {
    let dir = tempfile::tempdir().unwrap();
    let rt = orc_runtime::Runtime::new(&dir.path().join("nothing.sock"), "orc").unwrap();
    let err = rt.list_images().await.unwrap_err();
    assert!(matches!(err, RuntimeError::Unavailable(_)), "{err:?}");
    assert!(rt
        .wait_ready(std::time::Duration::from_millis(300))
        .await
        .is_err());
}
