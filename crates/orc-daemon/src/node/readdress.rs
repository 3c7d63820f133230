//! A node whose address changed (a new DHCP lease) tells the cluster when its daemon
//! starts with `--advertise`, so the other nodes' routes and FDB entries follow.

use crate::net::remote::Remote;
use orc_model::{Command, Node};
use orc_rpc::wire::ForwardRequest;
use std::time::Duration;

/// How many times the worker tries before giving up (the leader may be electing).
const ATTEMPTS: u32 = 60;

/// Sends this worker's record with its current `address` to the leader until it is
/// accepted; the leader keeps everything else of the record it holds.
pub(crate) async fn announce(remote: Remote, node: Node) {
    for _ in 0..ATTEMPTS {
        match remote
            .forward(
                ForwardRequest::Command(Command::PutNode(node.clone())),
                None,
            )
            .await
        {
            Ok(_) => {
                tracing::info!(address = %node.address, "node address announced");
                return;
            }
            Err(e) => tracing::debug!("announcing node address: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tracing::warn!(address = %node.address, "node address not announced");
}

/// What the leader writes for a worker's `PutNode` of itself: its record as the
/// cluster holds it, with only the address taken from the worker. `None` when the
/// worker asks about another node or the address is not `IP:PORT`.
pub(crate) fn own_address_update(held: &Node, sent: &Node) -> Option<Option<Node>> {
    if sent.id != held.id || sent.address.parse::<std::net::SocketAddr>().is_err() {
        return None;
    }
    if sent.address == held.address {
        return Some(None);
    }
    let mut n = held.clone();
    n.address = sent.address.clone();
    n.updated_at = sent.updated_at.max(held.updated_at);
    Some(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: u64, address: &str) -> Node {
        let mut n = crate::util::test_node(id, orc_model::NodeRole::Worker, address);
        n.labels = [("keep".to_string(), "me".to_string())].into();
        n
    }

    #[test]
    fn only_the_address_of_the_workers_own_record_changes() {
        let held = node(7, "10.0.0.11:4747");
        let mut sent = node(7, "10.0.0.42:4747");
        sent.labels.clear();
        sent.hostname = "other".into();
        let n = own_address_update(&held, &sent).unwrap().unwrap();
        assert_eq!(n.address, "10.0.0.42:4747");
        assert_eq!(n.hostname, "b");
        assert_eq!(n.labels.get("keep").map(String::as_str), Some("me"));
        // Unchanged: nothing to write. Another node or a bad address: refused.
        assert!(own_address_update(&held, &held).unwrap().is_none());
        assert!(own_address_update(&held, &node(8, "10.0.0.42:4747")).is_none());
        assert!(own_address_update(&held, &node(7, "nowhere")).is_none());
    }
}
