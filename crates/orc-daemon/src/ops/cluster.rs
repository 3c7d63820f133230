//! The cluster itself: `cluster info`, `init`, `join`, join tokens.

use super::{subnet, views, Ops};
use crate::cluster::security;
use crate::util::{host_platform, now_ms, random_u64};
use crate::DaemonError;
use orc_api::InfoReply;
use orc_model::{Availability, Command, Node, NodeRole, NodeStatus};
use orc_rpc::wire::{JoinReply, JoinRequest};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};

/// What `orc cluster recover --force-new-cluster` did.
#[derive(Debug, Clone, Serialize)]
pub struct Recovered {
    pub node_id: String,
    pub removed_managers: Vec<String>,
}

/// What `orc cluster init` / `join` made of this node.
#[derive(Debug, Clone, Serialize)]
pub struct Joined {
    pub cluster_id: String,
    pub node_id: String,
    pub role: &'static str,
}

impl Ops {
    /// `orc cluster info`: answers on any node, in a cluster or not.
    pub fn cluster_info(&self) -> InfoReply {
        let c = self.cluster().ok();
        let state = c.as_ref().map(|c| c.snapshot());
        InfoReply {
            version: env!("CARGO_PKG_VERSION").into(),
            node_id: c.as_ref().map(|c| views::node_id_str(c.node_id)),
            cluster_id: state
                .as_ref()
                .and_then(|s| s.cluster.as_ref().map(|i| i.id.clone())),
            leader: c.as_ref().and_then(|c| c.leader()).map(views::node_id_str),
            is_manager: c.is_some(),
            voters: c
                .as_ref()
                .map(crate::leader::membership::voters)
                .unwrap_or_default()
                .into_iter()
                .map(views::node_id_str)
                .collect(),
            raft_members: c
                .as_ref()
                .map(crate::leader::member_address::members)
                .unwrap_or_default()
                .into_iter()
                .map(|(id, a)| (views::node_id_str(id), a))
                .collect(),
            term: c.as_ref().map(|c| c.raft.metrics().borrow().current_term),
            held: state.as_ref().is_some_and(|s| s.held),
            locked: self.is_locked(),
            autolock: state.as_ref().is_some_and(|s| s.autolock.is_some()),
        }
    }

    /// `orc cluster init [--advertise A] [--subnet S] [--network-driver D]`.
    pub async fn cluster_init(
        &self,
        advertise: Option<String>,
        subnet: Option<&str>,
        network_driver: Option<&str>,
    ) -> Result<Joined, DaemonError> {
        let network = subnet::cluster_network(subnet, network_driver)?;
        let id = self.life.init_cluster(advertise, network).await?;
        Ok(Joined {
            cluster_id: id.cluster_id,
            node_id: views::node_id_str(id.node_id),
            role: id.role.as_str(),
        })
    }

    /// `orc cluster recover --force-new-cluster`: on a surviving manager when the
    /// majority is gone for good. Refused while a quorum is reachable (watched for a
    /// few seconds, an election may be under way). Keeps every entry this node holds;
    /// the lost managers leave the membership and the node table (their certificates
    /// are refused from then on); new managers may join.
    pub async fn cluster_recover(
        &self,
        force_new_cluster: bool,
        progress: &super::Progress,
    ) -> Result<Recovered, DaemonError> {
        if !force_new_cluster {
            return Err(DaemonError::Invalid(
                "this makes this manager the cluster's only voter: say --force-new-cluster".into(),
            ));
        }
        let cluster = self.cluster()?;
        progress
            .progress("checking that no majority of managers is reachable")
            .await;
        // A leader lost a moment ago is still "heard" for a few hundred ms: judge on
        // the last second of a three-second look.
        let start = tokio::time::Instant::now();
        let until = start + std::time::Duration::from_secs(3);
        while tokio::time::Instant::now() < until {
            let late = start.elapsed() >= std::time::Duration::from_secs(2);
            if late && cluster.in_majority().await {
                let leader = cluster
                    .leader_addr()
                    .map(|l| format!(" (leader {})", l.1))
                    .unwrap_or_default();
                return Err(DaemonError::Invalid(format!(
                    "a quorum of managers is still reachable{leader}: recovering would split the cluster; refused"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let me = cluster.node_id;
        drop(cluster);
        progress
            .progress("restarting Raft as the single voter")
            .await;
        self.life.recover_cluster().await?;
        let cluster = self.cluster()?;
        cluster
            .wait_leader(std::time::Duration::from_secs(10))
            .await?;
        let lost: Vec<Node> = cluster
            .snapshot()
            .nodes
            .values()
            .filter(|n| n.role == NodeRole::Manager && n.id != me)
            .cloned()
            .collect();
        for n in &lost {
            cluster.propose(Command::RemoveNode { id: n.id }).await?;
            progress
                .progress(format!("removed lost manager {}", n.hostname))
                .await;
        }
        Ok(Recovered {
            node_id: views::node_id_str(me),
            removed_managers: lost.into_iter().map(|n| n.hostname).collect(),
        })
    }

    /// `orc cluster join --token T ADDR [--advertise A]`.
    pub async fn cluster_join(
        &self,
        token: String,
        address: String,
        advertise: Option<String>,
    ) -> Result<Joined, DaemonError> {
        let id = self.life.join_cluster(token, address, advertise).await?;
        Ok(Joined {
            cluster_id: id.cluster_id,
            node_id: views::node_id_str(id.node_id),
            role: id.role.as_str(),
        })
    }

    /// The leader's side of `orc cluster join`: checks the token's secret, picks a
    /// node id, issues its certificate (and hands a manager the CA key) and commits
    /// the node. A follower answers with the leader's address.
    pub async fn admit_node(&self, jr: JoinRequest) -> Result<JoinReply, DaemonError> {
        let cluster = self.cluster()?;
        if !cluster.is_leader() {
            return Ok(JoinReply::NotLeader {
                leader: cluster.leader_addr().map(|l| l.1),
            });
        }
        let state = cluster.snapshot();
        let info = state.cluster.as_ref().ok_or(DaemonError::NoCluster)?;
        // A locked leader can't sign: it refuses, naming itself (joins always go
        // to the leader, so they wait for it to be unlocked or replaced).
        let ca = match self.ca_keys.ca() {
            Ok(ca) => ca,
            Err(e) => {
                tracing::warn!(host = %jr.hostname, "join refused: {e}");
                return Ok(JoinReply::Refused {
                    reason: format!("the cluster's leader can't admit nodes now: {e}"),
                });
            }
        };
        let salt = match jr.role {
            NodeRole::Manager => &info.manager_token_salt,
            NodeRole::Worker => &info.worker_token_salt,
        };
        let expected = security::secret(&ca, jr.role, salt);
        if !orc_pki::constant_time_eq(expected.as_bytes(), jr.secret.as_bytes()) {
            tracing::warn!(host = %jr.hostname, "join refused: wrong or rotated token");
            return Ok(JoinReply::Refused {
                reason: "the join token is not valid (wrong, or rotated)".into(),
            });
        }
        let mut node_id = random_u64();
        while state.nodes.contains_key(&node_id) || state.revoked_nodes.contains(&node_id) {
            node_id = random_u64();
        }
        let ips: Vec<IpAddr> = jr
            .advertise
            .parse::<SocketAddr>()
            .map(|a| vec![a.ip()])
            .or_else(|_| jr.advertise.parse::<IpAddr>().map(|i| vec![i]))
            .unwrap_or_default();
        let cert = ca
            .issue(node_id, security::role(jr.role), &jr.hostname, &ips)
            .map_err(security::pki_err)?;
        let now = now_ms();
        let node = Node {
            id: node_id,
            hostname: jr.hostname.clone(),
            role: jr.role,
            availability: Availability::Active,
            status: NodeStatus::Ready,
            status_message: String::new(),
            address: jr.advertise.clone(),
            resources: jr.resources,
            labels: Default::default(),
            platform: if jr.platform.os.is_empty() {
                host_platform()
            } else {
                jr.platform.clone()
            },
            created_at: now,
            updated_at: now,
        };
        cluster.propose(Command::PutNode(node)).await?;
        tracing::info!(node = %format!("{node_id:016x}"), host = %jr.hostname, role = jr.role.as_str(), "node joined");
        Ok(JoinReply::Joined {
            node_id,
            cluster_id: info.id.clone(),
            ca_cert_pem: ca.cert_pem().to_string(),
            cert_chain_pem: cert.cert_chain_pem.clone(),
            key_pem: cert.key_pem.clone(),
            ca_key_pem: (jr.role == NodeRole::Manager).then(|| ca.to_pem().1),
            managers: manager_addrs(&cluster),
        })
    }
}

/// The managers' cluster addresses, the leader's first: Raft voters, as the node
/// table knows them (a demoted node can linger in the membership as a learner).
pub fn manager_addrs(cluster: &crate::cluster::Cluster) -> Vec<String> {
    let state = cluster.snapshot();
    let voters = crate::leader::membership::voters(cluster);
    let mut v: Vec<String> = voters
        .iter()
        .filter_map(|id| state.nodes.get(id))
        .filter(|n| n.role == NodeRole::Manager)
        .map(|n| n.address.clone())
        .collect();
    if v.is_empty() {
        v = cluster.member_addrs();
    }
    if let Some((_, l)) = cluster.leader_addr() {
        v.retain(|a| *a != l);
        v.insert(0, l);
    }
    v
}
