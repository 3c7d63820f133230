//! Host networking and joining a given network namespace.

mod common;

use common::{logs_when, Env};
use orc_runtime::Runtime;
use orc_testbed::{busybox_image, Containerd, ImageFormat, Lan};
use std::time::Duration;

/// Runs `cat /proc/net/dev` in a container of `env` (netns optional) and returns
/// the interface names it saw.
async fn interfaces(env: &Env, netns: Option<std::path::PathBuf>) -> Vec<String> {
    let mut cfg = env.config("net", &["sh", "-c", "cat /proc/net/dev; echo end-of-list"]);
    cfg.netns = netns;
    env.rt.run(&cfg).await.unwrap();
    assert_eq!(env.rt.wait(&cfg.id).await.unwrap().code, 0);
    let lines = logs_when(&cfg, |l| l.iter().any(|x| x == "end-of-list")).await;
    env.rt.remove(&cfg.id).await.unwrap();
    lines
        .iter()
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_given_netns_is_joined() {
    let env = Env::with_image().await;
    let lan = Lan::new().unwrap();
    let host = lan.add_host().unwrap();
    let netns = std::path::Path::new("/var/run/netns").join(&host.netns);
    let seen = interfaces(&env, Some(netns)).await;
    assert_eq!(
        seen,
        vec!["lo".to_string(), "eth0".to_string()],
        "the host's interfaces"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn host_networking_is_the_containerds_namespace() {
    let lan = Lan::new().unwrap();
    let host = lan.add_host().unwrap();
    let containerd = tokio::task::spawn_blocking(move || Containerd::start_in_netns(&host.netns))
        .await
        .unwrap()
        .unwrap();
    let rt = Runtime::new(&containerd.socket(), common::NAMESPACE).unwrap();
    rt.wait_ready(Duration::from_secs(10)).await.unwrap();
    rt.import_archive(&busybox_image(ImageFormat::Oci).unwrap())
        .await
        .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let env = Env {
        rt,
        logs,
        containerd,
    };
    let seen = interfaces(&env, None).await;
    assert_eq!(
        seen,
        vec!["lo".to_string(), "eth0".to_string()],
        "the node namespace's interfaces"
    );
}
