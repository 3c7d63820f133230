//! Where a node's writes go: its own Raft (a manager; forwarded to the leader when it
//! is not it) or, for a worker, straight to the leader over the Forward RPC.

use crate::cluster::Cluster;
use crate::net::remote::Remote;
use crate::DaemonError;
use orc_model::{Command, CommandResult};
use orc_rpc::wire::ForwardRequest;

#[derive(Clone)]
pub enum Writer {
    Raft(Cluster),
    Remote(Remote),
}

impl Writer {
    pub async fn propose(&self, cmd: Command) -> Result<CommandResult, DaemonError> {
        match self {
            Writer::Raft(c) => c.propose(cmd).await,
            Writer::Remote(r) => r.forward(ForwardRequest::Command(cmd), None).await,
        }
    }
}
