//! The cluster port: orc's gRPC service over mutual TLS. Join is the only call that
//! needs no node certificate; everything else is refused without a member's one.

use super::RpcContext;
use crate::DaemonError;
use orc_model::{Command, NodeRole, Task};
use orc_pki::PeerNode;
use orc_rpc::pb::cluster_server::{Cluster as ClusterRpc, ClusterServer};
use orc_rpc::pb::Frame;
use orc_rpc::wire::{
    ForwardReply, ForwardRequest, JoinReply, JoinRequest, RaftReply, RaftRpc, SessionDown,
    SessionUp,
};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

pub struct NodeService {
    ctx: Arc<RpcContext>,
}

fn frame<T: serde::Serialize>(v: &T) -> Result<Response<Frame>, Status> {
    orc_rpc::encode(v)
        .map(|payload| Response::new(Frame { payload }))
        .map_err(|e| Status::internal(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(f: &Frame) -> Result<T, Status> {
    orc_rpc::decode(&f.payload).map_err(|e| Status::invalid_argument(e.to_string()))
}

fn peer<T>(req: &Request<T>) -> Result<u64, Status> {
    req.extensions()
        .get::<PeerNode>()
        .map(|p| p.node_id)
        .ok_or_else(|| Status::unauthenticated("no node certificate"))
}

/// The caller, if it is a manager: its certificate says so and, where this node
/// holds the node table, so does the table (a demoted node's old certificate is
/// refused). Task logs are read by managers only.
fn manager_peer<T>(ctx: &RpcContext, req: &Request<T>) -> Result<u64, Status> {
    let p = req
        .extensions()
        .get::<PeerNode>()
        .ok_or_else(|| Status::unauthenticated("no node certificate"))?;
    let table = ctx
        .ops
        .cluster()
        .ok()
        .map(|c| c.snapshot().nodes.get(&p.node_id).map(|n| n.role));
    if reads_logs(p.role, table) {
        Ok(p.node_id)
    } else {
        Err(Status::permission_denied("task logs are for managers"))
    }
}

/// Whether a caller whose certificate says `cert` may read task logs; `table` is
/// its role in this node's node table (`None`: this node holds no table, a worker;
/// `Some(None)`: not in it).
fn reads_logs(cert: orc_pki::Role, table: Option<Option<NodeRole>>) -> bool {
    cert == orc_pki::Role::Manager && table.is_none_or(|r| r == Some(NodeRole::Manager))
}

/// Serves the cluster port until the daemon stops.
pub async fn serve(
    ctx: Arc<RpcContext>,
    files: orc_pki::NodeFiles,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), DaemonError> {
    let addr: SocketAddr = ctx
        .ops
        .cfg
        .listen
        .parse()
        .map_err(|e| DaemonError::Invalid(format!("--listen {}: {e}", ctx.ops.cfg.listen)))?;
    let d = ctx.clone();
    let is_member: Arc<orc_pki::MembershipCheck> = Arc::new(move |id, role| {
        // TLS already proved the certificate is our CA's. What remains is revocation:
        // a removed node is refused. (A node still catching up knows no members yet,
        // so presence in the node table can't be the test.) Roles are checked per call
        // against the replicated node table, not the certificate. A worker (no node
        // table) serves managers' certificates (log reads, image fetches) and those
        // of the workers in the node table the leader sent it (image fetches).
        match d.ops.cluster() {
            Ok(c) => !c.snapshot().revoked_nodes.contains(&id),
            Err(_) => role == orc_pki::Role::Manager || d.worker_knows(id),
        }
    });
    let layer =
        orc_pki::RequireNodeCertLayer::new(is_member).allow_without_cert("/orc.v1.Cluster/Join");
    let svc = ClusterServer::new(NodeService { ctx: ctx.clone() })
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    tonic::transport::Server::builder()
        .tls_config(orc_pki::server_tls(&files))
        .map_err(|e| DaemonError::Invalid(format!("TLS: {e}")))?
        .layer(layer)
        .add_service(svc)
        .serve_with_shutdown(addr, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
        .map_err(|e| DaemonError::Invalid(format!("cluster port {addr}: {e}")))
}

impl NodeService {
    fn manager(&self) -> Result<crate::cluster::Cluster, Status> {
        self.ctx
            .ops
            .cluster()
            .map_err(|_| Status::unavailable("this node is not a manager"))
    }
}

/// Only its own tasks' status (and its image inventory) may a worker write.
fn worker_may(cmd: &Command, state: &orc_model::ClusterState, node: u64) -> bool {
    match cmd {
        Command::UpdateTaskStatus { updates } => updates
            .iter()
            .all(|(id, _)| state.tasks.get(id).is_some_and(|t| t.node_id == Some(node))),
        Command::Batch(v) => v.iter().all(|c| worker_may(c, state, node)),
        // `orc cluster leave` on a worker.
        Command::RemoveNode { id } => *id == node,
        // ... and its own image inventory.
        Command::SetNodeImages { node: n, .. } => *n == node,
        // ... and that it released a volume it was fenced off.
        Command::VolumeReleased { node: n, .. } => *n == node,
        _ => false,
    }
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<Frame, Status>> + Send>>;

#[tonic::async_trait]
impl ClusterRpc for NodeService {
    async fn join(&self, req: Request<Frame>) -> Result<Response<Frame>, Status> {
        let jr: JoinRequest = parse(req.get_ref())?;
        let reply = self
            .ctx
            .ops
            .admit_node(jr)
            .await
            .unwrap_or_else(|e| JoinReply::Refused {
                reason: e.to_string(),
            });
        if let JoinReply::Joined { node_id, .. } = &reply {
            self.ctx.dispatcher.touch(*node_id);
        }
        frame(&reply)
    }

    async fn raft(&self, req: Request<Frame>) -> Result<Response<Frame>, Status> {
        let from = peer(&req)?;
        let cluster = self.manager()?;
        let state = cluster.snapshot();
        // A demoted manager is still a Raft member until the membership change that
        // removes it commits (it may even be the leader committing it).
        let member = cluster
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&from)
            .is_some();
        if !member
            && state
                .nodes
                .get(&from)
                .is_some_and(|n| n.role != NodeRole::Manager)
        {
            return Err(Status::permission_denied("raft is for managers"));
        }
        let reply = match parse::<RaftRpc>(req.get_ref())? {
            RaftRpc::Append(r) => RaftReply::Append(cluster.raft.append_entries(r).await),
            RaftRpc::Vote(r) => RaftReply::Vote(cluster.raft.vote(r).await),
            RaftRpc::Snapshot(r) => RaftReply::Snapshot(cluster.raft.install_snapshot(r).await),
        };
        frame(&reply)
    }

    async fn forward(&self, req: Request<Frame>) -> Result<Response<Frame>, Status> {
        let from = peer(&req)?;
        let fr: ForwardRequest = parse(req.get_ref())?;
        if let ForwardRequest::TaskStats = &fr {
            // Every node answers for its own containers, to managers.
            manager_peer(&self.ctx, &req)?;
            let s = self.ctx.ops.task_stats_local().await;
            let json = serde_json::to_string(&s).map_err(|e| Status::internal(e.to_string()))?;
            return frame(&ForwardReply::Json(json));
        }
        if let ForwardRequest::TaskLogs { tasks, tail } = &fr {
            // Every node answers for the logs it keeps, to managers.
            manager_peer(&self.ctx, &req)?;
            return frame(&crate::ops::logs::task_logs(&self.ctx.ops, tasks, *tail));
        }
        let cluster = self.manager()?;
        let state = cluster.snapshot();
        let Some(from_node) = state.nodes.get(&from) else {
            return frame(&ForwardReply::Refused {
                reason: "unknown node".into(),
            });
        };
        if let ForwardRequest::VipStatus = fr {
            // Any manager answers for itself.
            let v = crate::ops::vip::local(&self.ctx.ops, &cluster);
            return frame(&ForwardReply::Json(v.to_string()));
        }
        if !cluster.is_leader() {
            return frame(&ForwardReply::NotLeader {
                leader: cluster.leader_addr().map(|l| l.1),
            });
        }
        let reply = match fr {
            ForwardRequest::TaskLogs { tasks, tail } => {
                crate::ops::logs::task_logs(&self.ctx.ops, &tasks, tail)
            }
            // Answered above, before the leader check.
            ForwardRequest::TaskStats => ForwardReply::Refused {
                reason: "unreachable".into(),
            },
            ForwardRequest::VipStatus => {
                ForwardReply::Json(crate::ops::vip::local(&self.ctx.ops, &cluster).to_string())
            }
            ForwardRequest::ManagerCredentials { node_id } => {
                if node_id != from || from_node.role != NodeRole::Manager {
                    return frame(&ForwardReply::Refused {
                        reason: "only a node promoted to manager gets manager credentials".into(),
                    });
                }
                crate::cluster::security::manager_credentials(&self.ctx.ops.ca_keys, from_node)
                    .unwrap_or_else(|e| ForwardReply::Refused {
                        reason: e.to_string(),
                    })
            }
            ForwardRequest::Command(Command::PutNode(sent))
                if from_node.role == NodeRole::Worker =>
            {
                // A worker may only announce its own new address.
                match crate::node::readdress::own_address_update(from_node, &sent) {
                    None => ForwardReply::Refused {
                        reason: "a worker may only change its own address (IP:PORT)".into(),
                    },
                    Some(None) => ForwardReply::Done(orc_model::CommandResult::Ok, 0),
                    Some(Some(n)) => match cluster.batcher.write(Command::PutNode(n)).await {
                        Ok(r) => ForwardReply::Done(r.result, r.log_id.index),
                        Err(e) => ForwardReply::Refused {
                            reason: e.to_string(),
                        },
                    },
                }
            }
            ForwardRequest::Command(cmd) => {
                if from_node.role == NodeRole::Worker && !worker_may(&cmd, &state, from) {
                    return frame(&ForwardReply::Refused {
                        reason: "workers may only report their own tasks".into(),
                    });
                }
                match cluster.batcher.write(cmd).await {
                    Ok(r) => ForwardReply::Done(r.result, r.log_id.index),
                    Err(e) => ForwardReply::Refused {
                        reason: e.to_string(),
                    },
                }
            }
            ForwardRequest::PromoteMe { node_id, address } => {
                if node_id != from || from_node.role != NodeRole::Manager {
                    return frame(&ForwardReply::Refused {
                        reason: "only a manager may ask to become a voter".into(),
                    });
                }
                // No address given (a restarted manager asking again): its record's.
                let address = if address.is_empty() {
                    from_node.address.clone()
                } else {
                    address
                };
                match crate::leader::membership::add_voter(&cluster, node_id, &address).await {
                    Ok(()) => ForwardReply::Done(orc_model::CommandResult::Ok, 0),
                    Err(e) => ForwardReply::Refused {
                        reason: e.to_string(),
                    },
                }
            }
        };
        frame(&reply)
    }

    type SessionStream = SessionStream;
    type ImageStream = SessionStream;

    async fn image(&self, req: Request<Frame>) -> Result<Response<SessionStream>, Status> {
        let from = peer(&req)?;
        let r: orc_rpc::wire::ImageRequest = parse(req.get_ref())?;
        let (tx, rx) = mpsc::channel::<Result<Frame, Status>>(4);
        tokio::spawn(super::images::serve(self.ctx.clone(), from, r, tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type LogsStream = SessionStream;

    async fn logs(&self, req: Request<Frame>) -> Result<Response<SessionStream>, Status> {
        manager_peer(&self.ctx, &req)?;
        let r: orc_rpc::wire::FollowLogs = parse(req.get_ref())?;
        let (tx, rx) = mpsc::channel::<Result<Frame, Status>>(64);
        tokio::spawn(crate::ops::logs::serve_follow(self.ctx.ops.clone(), r, tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn session(
        &self,
        req: Request<Streaming<Frame>>,
    ) -> Result<Response<SessionStream>, Status> {
        let from = peer(&req)?;
        let cluster = self.manager()?;
        let (tx, rx) = mpsc::channel::<Result<Frame, Status>>(16);
        let send = |tx: &mpsc::Sender<Result<Frame, Status>>, m: &SessionDown| {
            let tx = tx.clone();
            let f = orc_rpc::encode(m).map(|payload| Frame { payload });
            async move {
                match f {
                    Ok(f) => tx.send(Ok(f)).await.is_ok(),
                    Err(_) => false,
                }
            }
        };
        if !cluster.is_leader() {
            send(
                &tx,
                &SessionDown::NotLeader {
                    leader: cluster.leader_addr().map(|l| l.1),
                },
            )
            .await;
            return Ok(Response::new(Box::pin(ReceiverStream::new(rx))));
        }
        let mut inbound = req.into_inner();
        let ctx = self.ctx.clone();
        ctx.dispatcher.touch(from);
        tokio::spawn(async move {
            let hb = ctx.dispatcher.heartbeat.as_millis() as u64;
            if !send(
                &tx,
                &SessionDown::Welcome {
                    heartbeat_ms: hb,
                    managers: crate::ops::cluster::manager_addrs(&cluster),
                },
            )
            .await
            {
                return;
            }
            let mut state_rx = cluster.state.clone();
            let mut last: Option<Vec<Task>> = None;
            let mut last_role = None;
            let mut last_managers = crate::ops::cluster::manager_addrs(&cluster);
            let mut last_images: Option<Vec<String>> = None;
            let mut last_net = None;
            let mut last_storage: Option<orc_model::Storage> = None;
            let mut sent_values = std::collections::BTreeSet::new();
            let keys = ctx.ops.ca_keys.clone();
            let mut lead_check = tokio::time::interval(std::time::Duration::from_millis(250));
            loop {
                let state = state_rx.borrow_and_update().clone();
                // Managers come and go (promote, demote, leave): keep the node's list current.
                let managers = crate::ops::cluster::manager_addrs(&cluster);
                if managers != last_managers {
                    let msg = SessionDown::Welcome {
                        heartbeat_ms: hb,
                        managers: managers.clone(),
                    };
                    if !send(&tx, &msg).await {
                        return;
                    }
                    last_managers = managers;
                }
                let role = state.nodes.get(&from).map(|n| n.role);
                if let Some(role) = role.filter(|r| last_role != Some(*r)) {
                    if !send(&tx, &SessionDown::Role { role }).await {
                        return;
                    }
                    last_role = Some(role);
                }
                let net = (
                    state.network.clone(),
                    state.nodes.values().cloned().collect::<Vec<_>>(),
                    orc_model::Directory::of(&state),
                );
                if last_net.as_ref() != Some(&net) {
                    let msg = SessionDown::Network {
                        network: net.0.clone(),
                        nodes: net.1.clone(),
                        directory: net.2.clone(),
                    };
                    if !send(&tx, &msg).await {
                        return;
                    }
                    last_net = Some(net);
                }
                if last_storage.as_ref() != Some(&state.storage) {
                    if !send(&tx, &SessionDown::Storage(state.storage.clone())).await {
                        return;
                    }
                    last_storage = Some(state.storage.clone());
                }
                // A worker's tasks' secrets and configs, opened here, before the
                // tasks that use them (managers open their own).
                if role == Some(NodeRole::Worker) {
                    let want = state.values_for_node(from);
                    let new: Vec<_> = want.difference(&sent_values).cloned().collect();
                    if !new.is_empty() {
                        let values = open_values(&keys, &state, new);
                        if !send(&tx, &SessionDown::Values(values)).await {
                            return;
                        }
                    }
                    sent_values = want;
                }
                let mine: Vec<Task> = state.tasks_on_node(from).cloned().collect();
                if last.as_ref() != Some(&mine) {
                    let msg = SessionDown::Tasks {
                        revision: state.revision,
                        tasks: mine.clone(),
                    };
                    if !send(&tx, &msg).await {
                        return;
                    }
                    last = Some(mine);
                }
                let images: Vec<String> = state.images_wanted_on(from).map(String::from).collect();
                if last_images.as_ref() != Some(&images) {
                    if !send(
                        &tx,
                        &SessionDown::Images {
                            names: images.clone(),
                        },
                    )
                    .await
                    {
                        return;
                    }
                    last_images = Some(images);
                }
                tokio::select! {
                    m = inbound.next() => match m {
                        Some(Ok(f)) => match orc_rpc::decode::<SessionUp>(&f.payload) {
                            Ok(_) => ctx.dispatcher.touch(from),
                            Err(e) => { tracing::debug!("session from {from:016x}: {e}"); return; }
                        },
                        _ => return,
                    },
                    r = state_rx.changed() => if r.is_err() { return },
                    _ = lead_check.tick() => {
                        if !cluster.is_leader() {
                            send(&tx, &SessionDown::NotLeader { leader: cluster.leader_addr().map(|l| l.1) }).await;
                            return;
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Opens `keys` (sealed in `state`) with this manager's CA-derived key, for the
/// worker whose tasks use them. One that can't be opened is logged (by name) and
/// left out: the task that needs it fails to start and says so.
fn open_values(
    ca: &crate::cluster::ca_key::CaKeys,
    state: &orc_model::ClusterState,
    keys: Vec<orc_model::ValueKey>,
) -> Vec<orc_rpc::wire::DeliveredValue> {
    use crate::cluster::seal;
    keys.into_iter()
        .filter_map(|key| {
            let sealed = state.values.sealed(&key)?;
            match seal::open(
                ca,
                key.kind.into(),
                &seal::value_aad(key.kind, &key.name),
                &sealed.sealed,
            ) {
                Ok(v) => Some(orc_rpc::wire::DeliveredValue {
                    key,
                    value: orc_model::ClearValue::new(v),
                }),
                Err(e) => {
                    tracing::warn!("{key}: {e}");
                    None
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_pki::Role;

    #[test]
    fn only_managers_read_task_logs() {
        // A worker (no node table) trusts a manager's certificate.
        assert!(reads_logs(Role::Manager, None));
        assert!(reads_logs(Role::Manager, Some(Some(NodeRole::Manager))));
        // A worker's certificate, or a demoted manager's old one, is refused.
        assert!(!reads_logs(Role::Worker, None));
        assert!(!reads_logs(Role::Worker, Some(Some(NodeRole::Worker))));
        assert!(!reads_logs(Role::Manager, Some(Some(NodeRole::Worker))));
        assert!(!reads_logs(Role::Manager, Some(None)));
    }
}
