//! Writes from a node that is not the leader: forwarded to the leader over the
//! Forward RPC, following "not leader" answers.

use super::dialer::NetDialer;
use crate::DaemonError;
use orc_model::CommandResult;
use orc_rpc::pb::Frame;
use orc_rpc::wire::{ForwardReply, ForwardRequest};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct Remote {
    pub dialer: Arc<NetDialer>,
    /// Managers' addresses as last heard; the first is tried first.
    pub managers: Arc<Mutex<Vec<String>>>,
}

impl Remote {
    pub fn new(dialer: Arc<NetDialer>, managers: Vec<String>) -> Remote {
        Remote {
            dialer,
            managers: Arc::new(Mutex::new(managers)),
        }
    }

    pub fn set_leader_hint(&self, addr: &str) {
        if let Ok(mut m) = self.managers.lock() {
            m.retain(|a| a != addr);
            m.insert(0, addr.to_string());
        }
    }

    pub fn addresses(&self) -> Vec<String> {
        self.managers.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub async fn forward(
        &self,
        req: ForwardRequest,
        first: Option<(String, Option<u64>)>,
    ) -> Result<CommandResult, DaemonError> {
        self.forward_indexed(req, first).await.map(|r| r.0)
    }

    /// Like [`Remote::forward`], also giving the log index the write was applied at.
    pub async fn forward_indexed(
        &self,
        req: ForwardRequest,
        first: Option<(String, Option<u64>)>,
    ) -> Result<(CommandResult, u64), DaemonError> {
        let payload = orc_rpc::encode(&req).map_err(|e| DaemonError::Raft(e.to_string()))?;
        let mut targets: Vec<(String, Option<u64>)> = first.into_iter().collect();
        targets.extend(self.addresses().into_iter().map(|a| (a, None)));
        let mut last_err = DaemonError::NoLeader;
        let mut tried = 0;
        while let Some((addr, id)) = targets.first().cloned() {
            targets.remove(0);
            tried += 1;
            if tried > 8 {
                break;
            }
            let mut client = match self.dialer.client(&addr, id) {
                Ok(c) => c,
                Err(e) => {
                    last_err = DaemonError::Raft(e);
                    continue;
                }
            };
            match client
                .forward(Frame {
                    payload: payload.clone(),
                })
                .await
            {
                Ok(resp) => match orc_rpc::decode::<ForwardReply>(&resp.into_inner().payload) {
                    Ok(ForwardReply::Done(r, index)) => {
                        if id.is_none() {
                            self.set_leader_hint(&addr);
                        }
                        if let Some(e) = r.error() {
                            return Err(DaemonError::Apply(e.clone()));
                        }
                        return Ok((r, index));
                    }
                    Ok(ForwardReply::NotLeader { leader: Some(l) }) if l != addr => {
                        targets.insert(0, (l, None))
                    }
                    Ok(ForwardReply::NotLeader { .. }) => last_err = DaemonError::NoLeader,
                    Ok(ForwardReply::Refused { reason }) => {
                        return Err(DaemonError::Invalid(reason))
                    }
                    Ok(other) => {
                        return Err(DaemonError::Raft(format!(
                            "{addr}: unexpected answer {other:?}"
                        )))
                    }
                    Err(e) => last_err = DaemonError::Raft(e.to_string()),
                },
                Err(s) => last_err = DaemonError::Raft(format!("{addr}: {}", s.message())),
            }
        }
        Err(last_err)
    }

    /// One request to one node (`id` if known), its answer as it comes: no
    /// following of "not leader".
    pub async fn ask(
        &self,
        addr: &str,
        id: Option<u64>,
        req: &ForwardRequest,
        timeout: std::time::Duration,
    ) -> Result<ForwardReply, DaemonError> {
        let payload = orc_rpc::encode(req).map_err(|e| DaemonError::Raft(e.to_string()))?;
        let mut client = self.dialer.client(addr, id).map_err(DaemonError::Raft)?;
        let call = client.forward(Frame { payload });
        let resp = tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| DaemonError::Raft(format!("{addr}: no answer within {timeout:?}")))?
            .map_err(|s| DaemonError::Raft(format!("{addr}: {}", s.message())))?;
        orc_rpc::decode::<ForwardReply>(&resp.into_inner().payload)
            .map_err(|e| DaemonError::Raft(e.to_string()))
    }

    /// Asks the leader (following "not leader" answers from the known managers).
    pub async fn ask_leader(
        &self,
        req: &ForwardRequest,
        timeout: std::time::Duration,
    ) -> Result<ForwardReply, DaemonError> {
        let mut targets = self.addresses();
        let mut last_err = DaemonError::NoLeader;
        for _ in 0..8 {
            let Some(addr) = targets.first().cloned() else {
                break;
            };
            targets.remove(0);
            match self.ask(&addr, None, req, timeout).await {
                Ok(ForwardReply::NotLeader { leader: Some(l) }) if l != addr => {
                    targets.insert(0, l)
                }
                Ok(ForwardReply::NotLeader { .. }) => last_err = DaemonError::NoLeader,
                Ok(ForwardReply::Refused { reason }) => return Err(DaemonError::Invalid(reason)),
                Ok(r) => {
                    self.set_leader_hint(&addr);
                    return Ok(r);
                }
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }
}
