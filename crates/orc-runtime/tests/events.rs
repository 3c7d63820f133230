//! containerd's event stream for one namespace, against a real containerd.

mod common;

use common::Env;
use orc_runtime::Runtime;
use orc_testbed::{busybox_image, ImageFormat};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn changes_report_this_namespace_s_containers_and_end_with_containerd() {
    let mut env = Env::with_image().await;
    let mut changes = env.rt.changes();
    // The subscription is made in the background: label the image until its
    // update event arrives, so containerd has registered it.
    let mut n = 0;
    loop {
        n += 1;
        assert!(n < 100, "no /images/update event");
        env.ctr(&[
            "images",
            "label",
            "docker.io/demo/busybox:1",
            &format!("n={n}"),
        ]);
        match tokio::time::timeout(Duration::from_millis(200), changes.next()).await {
            Ok(t) => {
                assert_eq!(t.unwrap(), "/images/update");
                break;
            }
            Err(_) => continue,
        }
    }
    // Another namespace's change is not reported.
    let other = Runtime::new(&env.containerd.socket(), "orc-rt-other").unwrap();
    other
        .import_archive(&busybox_image(ImageFormat::Oci).unwrap())
        .await
        .unwrap();
    let cfg = env.config("ev", &["sh", "-c", "exit 0"]);
    env.rt.run(&cfg).await.unwrap();
    env.rt.wait(&cfg.id).await.unwrap();
    env.rt.remove(&cfg.id).await.unwrap();
    let mut topics = Vec::new();
    while topics.last().map(String::as_str) != Some("/containers/delete") {
        let t = tokio::time::timeout(Duration::from_secs(20), changes.next())
            .await
            .unwrap_or_else(|_| panic!("no more events after {topics:?}"))
            .unwrap();
        // Late updates from the labelling above.
        if t != "/images/update" {
            topics.push(t);
        }
    }
    // Task creation and start are not changes a mirror needs; the other
    // namespace's image import is not reported at all.
    assert_eq!(
        topics,
        [
            "/containers/create",
            "/tasks/exit",
            "/tasks/delete",
            "/containers/delete"
        ],
        "{topics:?}"
    );
    // containerd going away ends the stream with an error.
    tokio::task::spawn_blocking(move || {
        env.containerd.kill_hard().unwrap();
        env
    })
    .await
    .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(20), changes.next())
        .await
        .unwrap();
    assert!(end.is_err(), "{end:?}");
}
