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
fn corrupt(src: &std::path::Path, victim: impl Fn(&str, usize) -> bool) -> tempfile::NamedTempFile {
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
        if !hit && h.entry_type().is_file() && victim(&name, data.len()) && data.len() > 5000 {
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
        let bad = corrupt(&busybox_image(format).unwrap(), |n, _| n.contains(victim));
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

/// Pseudo-random, incompressible bytes.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A two-layer image, busybox plus a layer holding `big.bin` (6 MiB, more than
/// what the importer keeps in memory, so it streams), in `format` ("oci" with a
/// gzip top layer, or "docker"). Returns the archive and big.bin's sha256.
fn two_layer_archive(format: &str) -> (tempfile::NamedTempFile, String) {
    let base = busybox_image(ImageFormat::Oci).unwrap();
    let mut ar = tar::Archive::new(std::fs::File::open(&base).unwrap());
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut d = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut d).unwrap();
        if e.path().unwrap().starts_with("blobs") {
            blobs.push(d);
        }
    }
    let layer1 = blobs.iter().max_by_key(|b| b.len()).unwrap().clone();
    let base_config: serde_json::Value = blobs
        .iter()
        .find_map(|b| {
            serde_json::from_slice::<serde_json::Value>(b)
                .ok()
                .filter(|v| v["rootfs"].is_object())
        })
        .unwrap();
    let big = noise(6 << 20, 0x9e3779b97f4a7c15);
    let big_sha = sha(&big)[7..].to_string();
    let layer2 = tar_of(&[("big.bin", &big)]);
    let diff_ids = [sha(&layer1), sha(&layer2)];
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": base_config["architecture"], "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut b = tar::Builder::new(out.reopen().unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    if format == "docker" {
        add("config.json", &config);
        add("l1/layer.tar", &layer1);
        add("l2/layer.tar", &layer2);
        let m = serde_json::json!([{"Config": "config.json", "RepoTags": ["demo/big:1"], "Layers": ["l1/layer.tar", "l2/layer.tar"]}]);
        add("manifest.json", &serde_json::to_vec(&m).unwrap());
    } else {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&layer2).unwrap();
        let layer2 = gz.finish().unwrap();
        let desc = |mt: &str, d: &[u8]| serde_json::json!({"mediaType": mt, "digest": sha(d), "size": d.len()});
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": desc("application/vnd.oci.image.config.v1+json", &config),
            "layers": [desc("application/vnd.oci.image.layer.v1.tar", &layer1),
                       desc("application/vnd.oci.image.layer.v1.tar+gzip", &layer2)],
        }))
        .unwrap();
        let mut mdesc = desc("application/vnd.oci.image.manifest.v1+json", &manifest);
        mdesc["annotations"] =
            serde_json::json!({"org.opencontainers.image.ref.name": "demo/big:1"});
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        add(
            "index.json",
            &serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [mdesc]}))
                .unwrap(),
        );
        for blob in [&config, &manifest, &layer1, &layer2] {
            add(&format!("blobs/sha256/{}", &sha(blob)[7..]), blob);
        }
    }
    b.finish().unwrap();
    drop(b);
    (out, big_sha)
}

#[tokio::test(flavor = "multi_thread")]
async fn large_layers_stream_and_stack() {
    let env = Env::start().await;
    for format in ["oci", "docker"] {
        let (archive, big_sha) = two_layer_archive(format);
        let t = Instant::now();
        let imported = env.rt.import_archive(archive.path()).await.unwrap();
        eprintln!("import two-layer {format} (8 MB): {:?}", t.elapsed());
        assert_eq!(imported[0].name, "docker.io/demo/big:1");
        assert!(imported[0].size > 6 << 20, "{imported:?}");
        let mut cfg = env.config("big", &["sha256sum", "/big.bin"]);
        cfg.image = "demo/big:1".into();
        env.rt.run(&cfg).await.unwrap();
        assert_eq!(env.rt.wait(&cfg.id).await.unwrap().code, 0);
        common::logs_when(&cfg, |l| l.iter().any(|x| x.starts_with(&big_sha))).await;
        env.rt.remove(&cfg.id).await.unwrap();
        env.rt.remove_image("demo/big:1").await.unwrap();

        // A corrupt large (streamed) layer is caught too.
        let bad = corrupt(archive.path(), |_, len| len > 4 << 20);
        let err = env.rt.import_archive(bad.path()).await.unwrap_err();
        assert!(
            matches!(err, RuntimeError::InvalidArchive(_)),
            "{format}: {err}"
        );
        assert!(env.rt.list_images().await.unwrap().is_empty());
    }
}
