//! A store written by round 1 (model format 2) opens in this build: its snapshot and
//! log are upgraded in place and Raft carries on from them.
//!
//! `fixtures/round1-store.kv` holds every key and value a round-1 orc (commit 317ac9d)
//! wrote for a one-node cluster: a stack deployed, two tasks, a status, a snapshot, then
//! a scale and a redeploy that only the log holds. One line per value: space, key and
//! value in hex. `fixtures/session4-store.kv` is the same from the end of session 4
//! (commit f61bdf3, model format 3): specs with a health check, an update config,
//! secret and config references and container options. `fixtures/session5-store.kv`
//! is from the end of session 5 (commit daef3df, model format 4, before change
//! indexes): a secret, a stack using it and tasks in the snapshot, then in the log an
//! update guarded by the service's spec version, a stale one the guard refused, and a
//! node label change.

mod support;

use orc_model::{HealthState, TaskState};
use orc_store::{KvBackend, KvOp, SledKv, Space, StoreConfig};
use support::{reopen, start_with};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Writes a fixture's values into a fresh sled store in `dir`.
fn load(dir: &std::path::Path, text: &str) {
    let kv = SledKv::open(dir, &StoreConfig::default()).expect("sled");
    for line in text.lines() {
        let mut f = line.split(' ');
        let (Some(space), Some(k), Some(v)) = (f.next(), f.next(), f.next()) else {
            panic!("bad fixture line {line:?}");
        };
        let space = match space {
            "log" => Space::Log,
            "meta" => Space::Meta,
            "snapshot" => Space::Snapshot,
            other => panic!("unknown space {other}"),
        };
        kv.write(space, vec![KvOp::Put(unhex(k), unhex(v))])
            .expect("write");
    }
    kv.flush().expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_one_store_is_upgraded_and_raft_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), include_str!("fixtures/round1-store.kv"));

    let (log, sm) = reopen(dir.path());
    // The snapshot, converted: services and tasks as round 1 left them at that point.
    let snap = sm.current();
    assert_eq!(
        snap.cluster.as_ref().map(|c| c.id.as_str()),
        Some("c-round1")
    );
    let t1 = &snap.tasks["t1"];
    assert_eq!(t1.status.state, TaskState::Running);
    assert_eq!(t1.status.address, Some("10.210.0.7".parse().unwrap()));
    assert_eq!(t1.status.health, None, "round 1 had no health checks");
    assert_eq!(
        sm.snapshot_clock().built_at_ms(),
        None,
        "round 1 did not record when it built a snapshot"
    );

    // Raft replays the upgraded log after the snapshot.
    let mut one = start_with(log, sm, 0).await;
    let state = one
        .state_where(|s| {
            s.service_by_name("family_db")
                .is_some_and(|d| d.spec.image == "demo/db:2")
        })
        .await;
    let db = state.service_by_name("family_db").unwrap();
    assert_eq!(db.spec.env.get("MODE").map(String::as_str), Some("new"));
    assert_eq!(
        db.spec.mode,
        orc_model::ServiceMode::Replicated { replicas: 3 }
    );
    assert!(db.spec.healthcheck.is_none());
    let web = state.service_by_name("family_web").unwrap();
    assert_eq!(web.spec.ports[0].published, 8080);
    assert_eq!(web.spec.mounts.len(), 1);
    assert_eq!(state.tasks["t2"].status.state, TaskState::Failed);
    assert_eq!(state.nodes[&1].hostname, "board1");

    // New writes in today's format land after the upgraded ones.
    one.wait_leader().await;
    let (_, r) = one
        .write(orc_model::Command::ScaleService {
            name: "family_web".into(),
            replicas: 4,
            at: support::AT + 20,
        })
        .await;
    assert_eq!(r.error(), None);
    let mut t1 = state.tasks["t1"].status.clone();
    t1.health = Some(orc_model::TaskHealth {
        state: HealthState::Healthy,
        since: support::AT + 21,
        failing_streak: 0,
        log: Vec::new(),
    });
    one.write(orc_model::Command::UpdateTaskStatus {
        updates: vec![("t1".into(), t1)],
    })
    .await;
    one.stop().await;

    // Reopened: nothing left in the old format, everything there.
    let (log, sm) = reopen(dir.path());
    let mut one = start_with(log, sm, 0).await;
    let state = one
        .state_where(|s| {
            s.service_by_name("family_web")
                .is_some_and(|w| w.spec.mode == orc_model::ServiceMode::Replicated { replicas: 4 })
        })
        .await;
    assert_eq!(
        state.service_by_name("family_db").unwrap().spec.image,
        "demo/db:2"
    );
    one.stop().await;
    assert_all_current(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_four_store_keeps_its_specs_options_and_references() {
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), include_str!("fixtures/session4-store.kv"));
    let (log, sm) = reopen(dir.path());
    let t1 = sm.current().tasks["t1"].clone();
    assert_eq!(t1.status.state, TaskState::Running);
    assert_eq!(t1.status.health, None);
    let hc = t1
        .spec
        .healthcheck
        .clone()
        .expect("the task's health check");
    assert_eq!(hc.interval_ms, Some(5_000));
    assert_eq!(hc.retries, Some(2));
    let mut one = start_with(log, sm, 0).await;
    let state = one
        .state_where(|s| {
            s.service_by_name("family_web")
                .is_some_and(|w| w.spec.image == "demo/web:2")
        })
        .await;
    let web = &state.service_by_name("family_web").unwrap().spec;
    assert_eq!(web.update_config.order, orc_spec::UpdateOrder::StartFirst);
    assert_eq!(web.update_config.parallelism, 2);
    assert!(web.container.init);
    assert_eq!(web.container.cap_add, vec!["CAP_NET_ADMIN".to_string()]);
    // Format 3 delivered no secrets: the references are left out until the stack's
    // next deploy creates the values (a replayed deploy must not fail on them).
    assert!(web.secrets.is_empty() && web.configs.is_empty());
    assert_eq!(state.tasks["t2"].status.state, TaskState::Failed);
    assert!(!state.held, "the Resume after the snapshot was replayed");
    one.stop().await;
}

/// Every value of the store in `dir` is in today's format.
fn assert_all_current(dir: &std::path::Path) {
    let kv = SledKv::open(dir, &StoreConfig::default()).expect("sled");
    for space in Space::ALL {
        for (k, v) in kv
            .range(
                space,
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                usize::MAX,
            )
            .unwrap()
        {
            let current = if space == Space::Snapshot && k == b"data" {
                v.first() == Some(&orc_model::FORMAT_VERSION)
            } else {
                v.starts_with(&orc_store::HEADER)
            };
            assert!(current, "{} {:?} still in an old format", space.name(), k);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_five_store_replays_its_guards_as_they_were_and_gets_indexes() {
    use orc_model::{Command, Guard, ValueKind};
    let dir = tempfile::tempdir().unwrap();
    load(dir.path(), include_str!("fixtures/session5-store.kv"));
    let (log, sm) = reopen(dir.path());
    let snap = sm.current();
    assert_eq!(snap.tasks["t1"].status.state, TaskState::Running);
    assert_eq!(snap.values.secrets["family_db_pw"].labels["k"], "v");
    // Written before change indexes: every object reads as index 0.
    assert_eq!(snap.service_index("svc-web"), 0);
    assert_eq!(snap.value_index(ValueKind::Secret, "family_db_pw"), 0);

    let mut one = start_with(log, sm, 0).await;
    let state = one
        .state_where(|s| {
            s.nodes
                .get(&2)
                .is_some_and(|n| n.labels.contains_key("disk"))
        })
        .await;
    // The log's guarded update applied and the stale one stayed refused, as first.
    let web = state.service_by_name("family_web").unwrap();
    assert_eq!(web.spec.image, "demo/web:2");
    let web_index = state.service_index(&web.id);
    let node_index = state.node_index(2);
    // The fixture's log holds entries 9 (the update), 10 (the stale one) and 11 (the
    // labels): each object's index is the Raft index of the entry that changed it.
    assert_eq!((web_index, node_index), (9, 11));
    assert_eq!(state.revision, 11, "the label change was the last change");
    assert_eq!(
        state.service_index("svc-db"),
        0,
        "untouched since the upgrade"
    );
    assert_eq!(state.node_index(1), 0);

    // New guarded writes: the index read is the one that counts.
    one.wait_leader().await;
    let labels = |v: &str| Command::SetNodeLabels {
        id: 2,
        labels: [("disk".to_string(), v.to_string())].into(),
        at: support::AT + 30,
    };
    let guarded = |index, then| Command::Guarded {
        guard: Guard::Node(2),
        index,
        then: Box::new(then),
    };
    let (_, r) = one.write(guarded(web_index, labels("hdd"))).await;
    assert!(
        matches!(r.error(), Some(orc_model::ApplyError::Stale { .. })),
        "{r:?}"
    );
    let (_, r) = one.write(guarded(node_index, labels("nvme"))).await;
    assert_eq!(r.error(), None);
    let state = one
        .state_where(|s| s.nodes[&2].labels.get("disk").map(String::as_str) == Some("nvme"))
        .await;
    assert_eq!(state.node_index(2), state.revision);
    one.stop().await;
    assert_all_current(dir.path());
}
