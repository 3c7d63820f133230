//! A one-node Raft over the sled store: writes are applied and published, and survive
//! restarts — from the log alone, and from a snapshot with the log purged behind it.

mod support;

use openraft::storage::RaftLogStorage;
use openraft::{LogIdOptionExt, RaftLogReader};
use orc_model::{Command, CommandResult, DeployOutcome};
use support::{deploy, node, service, start, start_with, AT, DEADLINE, NODE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_publish_and_survive_restarts_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();

    // --- first run: initialise, write, watch.
    let mut one = start(dir.path(), 0).await;
    assert_eq!(one.state.borrow().revision, 0);
    one.initialize().await;
    let (_, r) = one
        .write(Command::InitCluster {
            id: "c1".into(),
            at: AT,
        })
        .await;
    assert_eq!(r, CommandResult::Ok);
    let seen = one.state_where(|s| s.cluster.is_some()).await;
    assert_eq!(seen.cluster.as_ref().unwrap().id, "c1");

    one.write(Command::PutNode(node(NODE))).await;
    let (deployed, r) = one
        .write(deploy(
            "app",
            vec![service("web", "nginx:1", 2), service("db", "pg:16", 1)],
        ))
        .await;
    assert_eq!(
        r,
        CommandResult::Deployed(DeployOutcome {
            created: vec!["app_web".into(), "app_db".into()],
            ..Default::default()
        }),
        "{r:?}"
    );
    // An error result is replicated too, and changes nothing.
    let (last, r) = one
        .write(Command::InitCluster {
            id: "c2".into(),
            at: AT,
        })
        .await;
    assert!(r.error().is_some(), "{r:?}");
    let first = one.state_where(|s| s.services.len() == 2).await;
    // The revision is the Raft index of the last entry that changed the state (the
    // refused InitCluster after it changed nothing), and so is each service's index.
    assert_eq!(first.revision, deployed);
    assert!(last > deployed);
    let web = first.service_by_name("app_web").unwrap();
    assert_eq!(first.service_index(&web.id), deployed);
    assert!(first.service_by_name("app_web").is_some());
    one.stop().await;

    // --- second run: state comes back from the log; then snapshot and purge.
    let mut one = start(dir.path(), 0).await;
    one.wait_applied(last).await;
    let replayed = one.state_where(|s| s.revision == deployed).await;
    assert_eq!(*replayed, *first, "state replayed from the log differs");
    one.wait_leader().await;

    one.raft.trigger().snapshot().await.unwrap();
    let m = one
        .raft
        .wait(Some(DEADLINE))
        .metrics(|m| m.snapshot.index() >= Some(last), "snapshot built")
        .await
        .unwrap();
    let snap = m.snapshot.unwrap();
    // max_in_snapshot_log_to_keep = 0: everything up to the snapshot is purged.
    one.raft
        .wait(Some(DEADLINE))
        .purged(Some(snap), "log purged up to the snapshot")
        .await
        .unwrap();

    // Entries after the snapshot.
    one.write(Command::ScaleService {
        name: "app_web".into(),
        replicas: 5,
        at: AT + 1,
    })
    .await;
    let (last, _) = one
        .write(deploy("app", vec![service("web", "nginx:2", 5)]))
        .await;
    let second = one
        .state_where(|s| s.services.len() == 1 && s.revision == last)
        .await;
    let web = second.service_by_name("app_web").unwrap();
    assert_eq!(web.spec.image, "nginx:2");
    assert_eq!(
        web.version, 3,
        "scale and image change each bump the version"
    );
    one.stop().await;

    // --- third run: the state machine starts from the snapshot, Raft replays the rest.
    let (mut log, sm) = support::reopen(dir.path());
    let log_state = log.get_log_state().await.unwrap();
    assert_eq!(log_state.last_purged_log_id, Some(snap));
    assert!(log_state.last_log_id.index() >= Some(last));
    let below = log.try_get_log_entries(0..=snap.index).await.unwrap();
    assert!(
        below.is_empty(),
        "purged entries still stored: {}",
        below.len()
    );
    assert_eq!(sm.last_applied(), Some(snap));
    // When the snapshot was built survives the restart (its age is a metric).
    let built = sm.snapshot_clock().built_at_ms().expect("build time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        built <= now && now - built < 600_000,
        "built {built}, now {now}"
    );
    assert_eq!(
        *sm.current(),
        *first,
        "snapshot holds the state at the snapshot"
    );

    let mut one = start_with(log, sm, 0).await;
    one.wait_applied(last).await;
    let recovered = one.state_where(|s| s.revision == last).await;
    assert_eq!(
        *recovered, *second,
        "state recovered from snapshot + log differs"
    );
    one.wait_leader().await;
    let (_, r) = one.write(Command::Noop).await;
    assert_eq!(r, CommandResult::Ok);
    one.stop().await;
}
