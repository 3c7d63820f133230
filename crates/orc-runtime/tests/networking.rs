//! Host networking and joining a given network namespace.

mod common;

use common::{logs_when, Env};
use orc_runtime::Runtime;
use orc_testbed::{busybox_image, Containerd, ImageFormat, NetNs};
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
    let ns = NetNs::new("ortn").unwrap();
    ns.ip(&[
        "link",
        "add",
        "orcdummy0",
        "type",
        "veth",
        "peer",
        "name",
        "orcpeer0",
    ])
    .unwrap();
    let seen = interfaces(&env, Some(ns.path())).await;
    assert!(seen.contains(&"orcdummy0".to_string()), "{seen:?}");
    assert!(seen.contains(&"lo".to_string()), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn host_networking_is_the_containerds_namespace() {
    let ns = NetNs::new("orth").unwrap();
    ns.ip(&[
        "link",
        "add",
        "orcdummy1",
        "type",
        "veth",
        "peer",
        "name",
        "orcpeer1",
    ])
    .unwrap();
    let name = ns.name().to_string();
    let containerd = tokio::task::spawn_blocking(move || Containerd::start_in_netns(&name))
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
    assert!(seen.contains(&"orcdummy1".to_string()), "{seen:?}");
    assert_eq!(
        seen.len(),
        3,
        "only the node namespace's interfaces (lo and the veth pair): {seen:?}"
    );
}
