//! The command batcher puts concurrent proposals into one log entry and hands each
//! caller its own result.

mod support;

use orc_model::{ApplyError, Command, CommandResult};
use orc_store::{BatchWriteError, CommandBatcher};
use std::collections::BTreeSet;
use support::{node, start, AT};
use tokio::task::JoinSet;

#[tokio::test(flavor = "current_thread")]
async fn concurrent_writes_share_log_entries_and_get_their_own_results() {
    let dir = tempfile::tempdir().unwrap();
    let mut one = start(dir.path(), 100).await;
    one.initialize().await;
    one.write(Command::InitCluster {
        id: "c".into(),
        at: AT,
    })
    .await;
    let before = one.raft.metrics().borrow().last_log_index.unwrap();

    let batcher = CommandBatcher::spawn(one.raft.clone(), 64);
    let mut writers = JoinSet::new();
    for id in 1..=32u64 {
        let b = batcher.clone();
        writers.spawn(async move { (id, b.write(Command::PutNode(node(id))).await) });
    }
    // One command in the same batches fails on its own, without failing the others.
    let b = batcher.clone();
    writers.spawn(async move { (0, b.write(Command::RemoveNode { id: 999 }).await) });

    let mut log_ids = BTreeSet::new();
    while let Some(joined) = writers.join_next().await {
        let (id, res) = joined.unwrap();
        let committed = res.unwrap();
        log_ids.insert(committed.log_id);
        if id == 0 {
            assert_eq!(
                committed.result,
                CommandResult::Err(ApplyError::NoSuchNode(999))
            );
        } else {
            assert_eq!(committed.result, CommandResult::Ok, "node {id}");
        }
    }
    assert!(
        log_ids.len() <= 2,
        "33 queued commands took {} entries",
        log_ids.len()
    );
    let after = one.raft.metrics().borrow().last_log_index.unwrap();
    assert_eq!(after - before, log_ids.len() as u64);
    let state = one.state_where(|s| s.nodes.len() == 32).await;
    assert!(state.nodes.contains_key(&32));
    drop(batcher);
    one.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_lead_refuses_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let one = start(dir.path(), 100).await;
    let batcher = CommandBatcher::spawn(one.raft.clone(), 8);
    let (a, b) = tokio::join!(batcher.write(Command::Noop), batcher.write(Command::Noop));
    for r in [a, b] {
        match r {
            Err(BatchWriteError::Raft(e)) => assert!(e.forward_to_leader().is_some(), "{e}"),
            other => panic!("expected ForwardToLeader, got {other:?}"),
        }
    }
    drop(batcher);
    one.stop().await;
}
