//! Registry pulls against a real `docker-registry` (distribution 2.8) on loopback,
//! images pushed with skopeo, into a real containerd.

mod common;

use common::{logs_when, Env};
use orc_runtime::{
    resolve_digest, Credentials, PullEvent, PullOptions, RegistryError, RegistryOptions,
    RuntimeError,
};
use orc_testbed::{busybox_image, multi_arch_layout, ImageFormat, Registry, MULTI_ARCH_REF};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn start_registry(auth: Option<(&str, &str)>) -> Registry {
    match auth {
        None => Registry::start().unwrap(),
        Some((u, p)) => Registry::start_with_auth(u, p).unwrap(),
    }
}

/// Pushes a multi-arch (amd64 + arm64) index as `dest`; returns the index.
fn push_multi_arch(reg: &Registry, dest: &str, tag: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let archive = busybox_image(ImageFormat::Oci).unwrap();
    multi_arch_layout(&archive, dir.path(), &["amd64", "arm64"], tag).unwrap();
    let src = format!("oci:{}:{MULTI_ARCH_REF}", dir.path().display());
    reg.push(&src, dest, true).unwrap();
    reg.raw_manifest(dest).unwrap()
}

fn platform_digest(index: &serde_json::Value, arch: &str) -> String {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == arch)
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pulled_image_runs_a_container() {
    let reg = start_registry(None);
    let archive = busybox_image(ImageFormat::Oci).unwrap();
    reg.push_archive(&archive, "demo/busybox:1").unwrap();
    let env = Env::start().await;
    let image = format!("{}/demo/busybox:1", reg.host());
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let opts = PullOptions {
        progress: Some(Arc::new(move |e| ev.lock().unwrap().push(e))),
        ..Default::default()
    };
    let t = Instant::now();
    let info = env.rt.pull_image(&image, &opts).await.unwrap();
    eprintln!("orc pull: {:?}", t.elapsed());
    assert_eq!(info.name, image);
    assert!(info.platform.starts_with("linux/"), "{info:?}");
    assert_eq!(env.rt.get_image(&image).await.unwrap(), Some(info.clone()));
    let events = events.lock().unwrap().clone();
    assert!(
        matches!(events.first(), Some(PullEvent::Resolved { layers: 1, .. })),
        "{events:?}"
    );
    assert!(
        events.iter().any(
            |e| matches!(e, PullEvent::Layer { done, total, cached: false, .. } if done == total)
        ),
        "{events:?}"
    );
    assert_eq!(events.last(), Some(&PullEvent::Done));

    let mut cfg = env.config("pulled", &["sh", "-c", "echo pulled-ok"]);
    cfg.image = image.clone();
    env.rt.run(&cfg).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), env.rt.wait(&cfg.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code, 0);
    let lines = logs_when(&cfg, |l| !l.is_empty()).await;
    assert_eq!(lines, vec!["pulled-ok".to_string()]);
    env.rt.remove(&cfg.id).await.unwrap();

    // Again: every blob is already there, nothing is downloaded.
    let t = Instant::now();
    let again = env
        .rt
        .pull_image(&image, &PullOptions::default())
        .await
        .unwrap();
    eprintln!("orc pull, already present: {:?}", t.elapsed());
    assert_eq!(again, info);

    // The same pull with ctr, for docs/performance.md (into its own namespace).
    let t = Instant::now();
    let out = std::process::Command::new("ctr")
        .arg("--address")
        .arg(env.containerd.socket())
        .args([
            "--namespace",
            "ctr-pull",
            "images",
            "pull",
            "--plain-http",
            &image,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("ctr pull: {:?}", t.elapsed());

    // Unknown tags and repositories are named as such.
    let missing = format!("{}/demo/busybox:nope", reg.host());
    match env.rt.pull_image(&missing, &PullOptions::default()).await {
        Err(RuntimeError::Registry(RegistryError::NotFound(n))) => assert_eq!(n, missing),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_arch_index_resolves_to_the_wanted_platform() {
    let reg = start_registry(None);
    let index = push_multi_arch(&reg, "demo/multi:1", "a");
    let env = Env::start().await;
    let image = format!("{}/demo/multi:1", reg.host());
    let arm = PullOptions {
        platform: Some("linux/arm64".into()),
        ..Default::default()
    };
    let info = env.rt.pull_image(&image, &arm).await.unwrap();
    assert_eq!(info.platform, "linux/arm64");
    assert_eq!(info.digest, platform_digest(&index, "arm64"));
    let v8 = PullOptions {
        platform: Some("linux/arm64/v8".into()),
        ..Default::default()
    };
    assert_eq!(
        env.rt.pull_image(&image, &v8).await.unwrap().digest,
        info.digest
    );

    // Default: this host's platform (amd64 here), and it runs.
    let host = env
        .rt
        .pull_image(&image, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(host.platform, "linux/amd64");
    assert_eq!(host.digest, platform_digest(&index, "amd64"));
    let mut cfg = env.config("multi", &["true"]);
    cfg.image = image.clone();
    env.rt.run(&cfg).await.unwrap();
    assert_eq!(env.rt.wait(&cfg.id).await.unwrap().code, 0);
    env.rt.remove(&cfg.id).await.unwrap();

    let riscv = PullOptions {
        platform: Some("linux/riscv64".into()),
        ..Default::default()
    };
    match env.rt.pull_image(&image, &riscv).await {
        Err(RuntimeError::Registry(e @ RegistryError::PlatformMissing { .. })) => {
            let msg = e.to_string();
            assert!(
                msg.contains("linux/riscv64") && msg.contains("linux/amd64, linux/arm64"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_htpasswd_registry_needs_credentials() {
    let reg = start_registry(Some(("orc", "s3cret-pw")));
    let archive = busybox_image(ImageFormat::Oci).unwrap();
    reg.push_archive(&archive, "private/app:1").unwrap();
    let env = Env::start().await;
    let image = format!("{}/private/app:1", reg.host());
    let with = |user: &str, password: &str| PullOptions {
        registry: RegistryOptions {
            credentials: Some(Credentials {
                username: user.into(),
                password: password.into(),
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    for opts in [PullOptions::default(), with("orc", "wrong")] {
        match env.rt.pull_image(&image, &opts).await {
            Err(RuntimeError::Registry(RegistryError::Unauthorized(host))) => {
                assert_eq!(host, reg.host())
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(env.rt.get_image(&image).await.unwrap().is_none());
    let info = env
        .rt
        .pull_image(&image, &with("orc", "s3cret-pw"))
        .await
        .unwrap();
    assert_eq!(info.name, image);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_down_is_a_clear_error_and_recovers() {
    let mut reg = start_registry(None);
    let archive = busybox_image(ImageFormat::Oci).unwrap();
    reg.push_archive(&archive, "demo/app:1").unwrap();
    let env = Env::start().await;
    let image = format!("{}/demo/app:1", reg.host());
    reg.stop();
    match env.rt.pull_image(&image, &PullOptions::default()).await {
        Err(RuntimeError::Registry(e @ RegistryError::Unreachable(_))) => {
            assert!(e.to_string().starts_with("registry unreachable: "), "{e}");
        }
        other => panic!("{other:?}"),
    }
    reg.restart().unwrap();
    env.rt
        .pull_image(&image, &PullOptions::default())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digest_reference_keeps_the_bits_a_moved_tag_changed() {
    let reg = start_registry(None);
    let archive = busybox_image(ImageFormat::Oci).unwrap();
    reg.push_archive(&archive, "demo/app:1").unwrap();
    let image = format!("{}/demo/app:1", reg.host());
    let pinned = resolve_digest(&image, &RegistryOptions::default())
        .await
        .unwrap();
    // The tag moves to another image.
    let index = push_multi_arch(&reg, "demo/app:1", "moved");
    let moved = resolve_digest(&image, &RegistryOptions::default())
        .await
        .unwrap();
    assert_ne!(moved, pinned);

    let env = Env::start().await;
    let by_digest = format!("{image}@{pinned}");
    let old = env
        .rt
        .pull_image(&by_digest, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(old.digest, pinned);
    assert_eq!(old.name, by_digest);
    let new = env
        .rt
        .pull_image(&image, &PullOptions::default())
        .await
        .unwrap();
    assert_eq!(new.digest, platform_digest(&index, "amd64"));
    // A digest that is not the content's is refused.
    let zero = format!("{image}@sha256:{}", "0".repeat(64));
    assert!(matches!(
        env.rt.pull_image(&zero, &PullOptions::default()).await,
        Err(RuntimeError::Registry(RegistryError::NotFound(_)))
    ));
}
