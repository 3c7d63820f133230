//! `orc vip status` across the managers: the answering manager asks every other
//! manager for its VRRP instance's state over the cluster port (mutual TLS, short
//! timeout) and marks the ones that did not answer.

use super::{views, Ops};
use crate::cluster::Cluster;
use crate::DaemonError;
use orc_model::NodeRole;
use orc_rpc::wire::{ForwardReply, ForwardRequest};
use serde_json::{json, Value};
use std::time::Duration;

/// How long the answering manager waits for each other manager.
const ASK_TIMEOUT: Duration = Duration::from_millis(1500);

/// This manager's VRRP instance, as `orc vip status` shows it.
pub fn local(ops: &Ops, cluster: &Cluster) -> Value {
    let local = ops.vip_local();
    json!({
        "setting": cluster.snapshot().vip,
        "node_id": views::node_id_str(cluster.node_id),
        "local": local.counters,
        "running": local.setting,
        "error": local.error,
    })
}

/// One row per manager of the node table: its instance's state, priority and last
/// transitions, or `reachable: false` with the reason.
pub async fn managers(ops: &Ops, cluster: &Cluster) -> Vec<Value> {
    let state = cluster.snapshot();
    let asks = state
        .nodes
        .values()
        .filter(|n| n.role == NodeRole::Manager)
        .map(|n| {
            let n = n.clone();
            async move {
                let answer = if n.id == cluster.node_id {
                    Ok(local(ops, cluster))
                } else {
                    match cluster
                        .remote
                        .ask(
                            &n.address,
                            Some(n.id),
                            &ForwardRequest::VipStatus,
                            ASK_TIMEOUT,
                        )
                        .await
                    {
                        Ok(ForwardReply::Json(s)) => {
                            serde_json::from_str::<Value>(&s).map_err(|e| e.to_string())
                        }
                        Ok(other) => Err(format!("unexpected answer {other:?}")),
                        Err(e) => Err(e.to_string()),
                    }
                };
                row(&n, answer)
            }
        });
    futures::future::join_all(asks).await
}

fn row(n: &orc_model::Node, answer: Result<Value, String>) -> Value {
    let base = json!({
        "node_id": views::node_id_str(n.id),
        "hostname": n.hostname,
        "address": n.address,
    });
    let mut out = base;
    match answer {
        Ok(v) => {
            let c = &v["local"];
            out["reachable"] = json!(true);
            for k in [
                "state",
                "priority",
                "eligible",
                "transitions",
                "last_transition",
                "master_ip",
            ] {
                out[k] = c[k].clone();
            }
            out["error"] = v["error"].clone();
        }
        Err(e) => {
            out["reachable"] = json!(false);
            out["error"] = json!(e);
        }
    }
    out
}

impl Ops {
    /// `orc vip set ADDRESS --interface IF [--vrid N] [--advert-interval D]`.
    pub async fn vip_set(
        &self,
        address: &str,
        interface: &str,
        vrid: u8,
        advert_interval_ms: u64,
    ) -> Result<orc_model::VipSetting, DaemonError> {
        let setting = crate::vip::validate(address, interface, vrid, advert_interval_ms)
            .map_err(DaemonError::Invalid)?;
        self.cluster()?
            .propose(orc_model::Command::SetVip(Some(setting.clone())))
            .await?;
        Ok(setting)
    }

    /// `orc vip unset`.
    pub async fn vip_unset(&self) -> Result<Value, DaemonError> {
        self.cluster()?
            .propose(orc_model::Command::SetVip(None))
            .await?;
        Ok(json!({ "removed": true }))
    }

    /// `orc vip status`: this manager's instance and every manager's.
    pub async fn vip_status(&self) -> Result<Value, DaemonError> {
        let c = self.cluster()?;
        let mut v = local(self, &c);
        v["managers"] = Value::Array(managers(self, &c).await);
        Ok(v)
    }
}
