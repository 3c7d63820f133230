//! Data from another version, foreign data and corrupt data give clear errors — never a
//! silently empty state.

mod support;

use openraft::storage::RaftLogStorage;
use openraft::RaftLogReader;
use orc_model::Command;
use orc_store::{StoreConfig, StoreError, HEADER};
use std::path::Path;
use support::{deploy, service, start, AT, DEADLINE};

/// Runs a one-node Raft in `dir` with a few entries and a snapshot, then stops it.
async fn populate(dir: &Path) {
    let one = start(dir, 100).await;
    one.initialize().await;
    one.write(Command::InitCluster {
        id: "c".into(),
        at: AT,
    })
    .await;
    let (last, _) = one
        .write(deploy("s", vec![service("web", "nginx", 1)]))
        .await;
    one.raft.trigger().snapshot().await.unwrap();
    one.raft
        .wait(Some(DEADLINE))
        .snapshot(
            openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), last),
            "snap",
        )
        .await
        .unwrap();
    one.stop().await;
}

/// Edits the raw sled database of a closed store. The stopped store's last handle
/// (a background task of Raft's) may drop a moment after `stop` returns: until then
/// sled's file lock is held, so opening is retried for a while.
fn with_sled(dir: &Path, f: impl FnOnce(&sled::Db)) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let db = loop {
        match sled::open(dir) {
            Ok(db) => break db,
            Err(e) if std::time::Instant::now() < deadline && e.to_string().contains("lock") => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("opening {}: {e}", dir.display()),
        }
    };
    f(&db);
    db.flush().unwrap();
}

/// The error opening the store gives. sled's own background thread may still hold the
/// file lock a moment after `with_sled` dropped its handle: that is waited out (10 s),
/// as `support::reopen` does, so only the store's own verdict counts.
fn open_err(dir: &Path) -> StoreError {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match orc_store::open(dir, &StoreConfig::default()) {
            Ok(_) => panic!("opening {} should fail", dir.display()),
            Err(e) if std::time::Instant::now() < deadline && e.to_string().contains("lock") => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return e,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_data_of_another_model_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path()).await;
    with_sled(dir.path(), |db| {
        let t = db.open_tree("snapshot").unwrap();
        let mut data = t.get("data").unwrap().unwrap().to_vec();
        data[0] = orc_model::FORMAT_VERSION + 1;
        t.insert("data", data).unwrap();
    });
    let err = open_err(dir.path());
    assert!(
        matches!(
            &err,
            StoreError::State { source: orc_model::CodecError::Version { found }, .. }
                if *found == orc_model::FORMAT_VERSION + 1
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not supported"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_snapshot_data_and_metadata_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path()).await;
    with_sled(dir.path(), |db| {
        let t = db.open_tree("snapshot").unwrap();
        let mut data = t.get("data").unwrap().unwrap().to_vec();
        data.truncate(data.len() / 2);
        t.insert("data", data).unwrap();
    });
    let err = open_err(dir.path());
    assert!(matches!(err, StoreError::State { .. }), "{err:?}");

    with_sled(dir.path(), |db| {
        db.open_tree("snapshot")
            .unwrap()
            .insert("meta", &[HEADER[0], HEADER[1], 0xff])
            .unwrap();
    });
    let err = open_err(dir.path());
    assert!(matches!(err, StoreError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("snapshot metadata"), "{err}");

    with_sled(dir.path(), |db| {
        db.open_tree("snapshot").unwrap().remove("data").unwrap();
    });
    assert!(matches!(open_err(dir.path()), StoreError::Truncated { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_of_another_format_version_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path()).await;
    with_sled(dir.path(), |db| {
        db.open_tree("meta")
            .unwrap()
            .insert("format", &[HEADER[0] + 1, HEADER[1]])
            .unwrap();
    });
    let err = open_err(dir.path());
    assert!(
        matches!(err, StoreError::Version { found_store, .. } if found_store == HEADER[0] + 1),
        "{err:?}"
    );
}

#[test]
fn foreign_database_is_not_taken_for_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    with_sled(dir.path(), |db| {
        db.open_tree("log")
            .unwrap()
            .insert([0u8; 8], b"x".as_slice())
            .unwrap();
    });
    let err = open_err(dir.path());
    assert!(matches!(err, StoreError::NotAnOrcStore(_)), "{err:?}");
}

#[test]
fn garbage_in_the_database_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_log, _sm) = orc_store::open(dir.path(), &StoreConfig::default()).unwrap();
    }
    let garbage: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join("db"), garbage).unwrap();
    std::fs::write(dir.path().join("conf"), b"not a sled config").unwrap();
    let err = open_err(dir.path());
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_entries_and_vote_of_another_version_are_read_errors() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path()).await;
    with_sled(dir.path(), |db| {
        let log = db.open_tree("log").unwrap();
        let (k, v) = log.last().unwrap().unwrap();
        let mut v = v.to_vec();
        v[1] = orc_model::FORMAT_VERSION + 1;
        log.insert(k, v).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("vote", &[HEADER[0], HEADER[1]])
            .unwrap();
    });
    let (mut log, _sm) = orc_store::open(dir.path(), &StoreConfig::default()).unwrap();
    let err = log.get_log_state().await.unwrap_err();
    assert!(err.to_string().contains("model format"), "{err}");
    let err = log.try_get_log_entries(0..).await.unwrap_err();
    assert!(err.to_string().contains("log entry"), "{err}");
    let err = log.read_vote().await.unwrap_err();
    assert!(err.to_string().contains("vote"), "{err}");
}
