//! Front door for the other nodes: the cluster port's gRPC server (mutual TLS). It
//! answers Join (issuing certificates), carries Raft, takes forwarded writes from
//! followers and workers, serves the leader's Session stream (heartbeats into the
//! dispatcher), image blobs to peers ([`images`]) and task logs — reads through the
//! operations layer.

pub mod images;
pub mod server;

use crate::leader::dispatcher::Dispatcher;
use crate::ops::Ops;
use std::sync::Arc;

/// On a worker: the state the leader last sent it (`None` on a manager).
pub use crate::ops::WorkerView;

/// What the cluster port needs of this node.
pub struct RpcContext {
    pub ops: Arc<Ops>,
    pub dispatcher: Arc<Dispatcher>,
    pub worker_view: WorkerView,
}

impl RpcContext {
    /// On a worker: whether node `id` is in the node table the leader last sent
    /// (removed nodes drop out of it).
    pub fn worker_knows(&self, id: u64) -> bool {
        let view = self.worker_view.lock().unwrap_or_else(|p| p.into_inner());
        view.as_ref()
            .is_some_and(|v| v.borrow().nodes.contains_key(&id))
    }
}
