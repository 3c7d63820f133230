//! The cluster's virtual IP on this manager: a VRRPv3 instance (orc-vrrp) that follows
//! `ClusterState::vip`, started, restarted on change and stopped (priority 0, VIP
//! removed) on unset or shutdown, and that may be master only while the quorum guard
//! says this node is in the Raft majority.

pub mod quorum;

use crate::cluster::Cluster;
use orc_model::VipSetting;
use orc_vrrp::net::{VipAddr, VrrpConfig, VrrpInstance};
use orc_vrrp::Counters;
use serde::Serialize;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// Every manager runs with the same priority: equal priorities never preempt a
/// working master, and the higher primary address breaks ties deterministically.
pub const PRIORITY: u8 = 100;
/// Between attempts to start an instance that failed (e.g. the interface is missing).
const RETRY: Duration = Duration::from_secs(2);

/// What `orc vip status` shows about this manager.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VipLocal {
    /// The setting the running instance was made from.
    pub setting: Option<VipSetting>,
    /// The instance's live counters (state, priority, master seen, transitions).
    pub counters: Option<Counters>,
    /// Why the instance is not running, if it failed.
    pub error: Option<String>,
}

/// Checks a setting as `orc vip set` sends it; returns it ready to store.
pub fn validate(
    address: &str,
    interface: &str,
    vrid: u8,
    advert_interval_ms: u64,
) -> Result<VipSetting, String> {
    address
        .parse::<VipAddr>()
        .map_err(|e| format!("{address}: {e} (expected ADDRESS/PREFIX, e.g. 192.168.1.100/24)"))?;
    if !address.contains('/') {
        return Err(format!(
            "{address}: give the prefix length too, e.g. {address}/24"
        ));
    }
    if interface.is_empty() {
        return Err("the interface must not be empty".into());
    }
    if vrid == 0 {
        return Err("VRID must be 1..=255".into());
    }
    if !(10..=40_950).contains(&advert_interval_ms) || !advert_interval_ms.is_multiple_of(10) {
        return Err(format!(
            "advert interval {advert_interval_ms} ms: must be 10 ms..=40.95 s in 10 ms steps (VRRPv3 counts centiseconds)"
        ));
    }
    Ok(VipSetting {
        address: address.to_string(),
        interface: interface.to_string(),
        vrid,
        advert_interval_ms: advert_interval_ms as u32,
    })
}

struct Running {
    setting: VipSetting,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Follows the cluster state until `stop` turns true, then stops the instance (which
/// sends priority 0 and removes the VIP) before returning.
pub async fn run(
    cluster: Cluster,
    status: watch::Sender<VipLocal>,
    mut stop: watch::Receiver<bool>,
) {
    tokio::spawn(report_holder(
        cluster.clone(),
        status.subscribe(),
        stop.clone(),
    ));
    // Started with the first VIP setting: a cluster without a VIP needs no guard
    // waking 20 times a second.
    let mut eligible: Option<watch::Receiver<bool>> = None;
    let mut state = cluster.state.clone();
    let mut current: Option<Running> = None;
    loop {
        let want = state.borrow_and_update().vip.clone();
        if current.as_ref().map(|r| &r.setting) != want.as_ref() {
            if let Some(r) = current.take() {
                tracing::info!(address = %r.setting.address, "stopping the VIP instance");
                r.stop().await;
            }
            status.send_replace(VipLocal::default());
            if let Some(setting) = want {
                let eligible = eligible
                    .get_or_insert_with(|| crate::vip::quorum::guard(cluster.clone(), stop.clone()))
                    .clone();
                current = Some(start(setting, eligible, status.clone()));
            }
        }
        tokio::select! {
            r = state.changed() => if r.is_err() { break },
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    if let Some(r) = current.take() {
        r.stop().await;
    }
}

/// Records in Raft that this manager holds the VIP whenever it becomes VRRP master
/// and the state names another holder, so every manager's events and metrics see the
/// move. A master is in the majority (the quorum guard), so the write can commit; one
/// that fails is tried again a second later while this node is still master.
async fn report_holder(
    cluster: Cluster,
    mut local: watch::Receiver<VipLocal>,
    mut stop: watch::Receiver<bool>,
) {
    let mut state = cluster.state.clone();
    loop {
        let master = local
            .borrow_and_update()
            .counters
            .as_ref()
            .is_some_and(|c| c.state == orc_vrrp::State::Master);
        let holder = state
            .borrow_and_update()
            .vip_holder
            .as_ref()
            .map(|h| h.node);
        if master && holder != Some(cluster.node_id) {
            let cmd = orc_model::Command::SetVipHolder {
                node: cluster.node_id,
                at: crate::util::now_ms(),
            };
            if let Err(e) = cluster.propose(cmd).await {
                tracing::debug!("recording this node as the VIP holder: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
        tokio::select! {
            r = local.changed() => if r.is_err() { return },
            r = state.changed() => if r.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

fn start(
    setting: VipSetting,
    eligible: watch::Receiver<bool>,
    status: watch::Sender<VipLocal>,
) -> Running {
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let s = setting.clone();
    let task = tokio::spawn(async move {
        loop {
            let vip = match s.address.parse::<VipAddr>() {
                Ok(v) => v,
                Err(e) => {
                    status.send_replace(VipLocal {
                        setting: Some(s.clone()),
                        counters: None,
                        error: Some(e.to_string()),
                    });
                    return;
                }
            };
            let mut cfg = VrrpConfig::new(s.interface.clone(), s.vrid, PRIORITY, vec![vip]);
            cfg.advert_interval = Duration::from_millis(u64::from(s.advert_interval_ms));
            let instance = match VrrpInstance::new(cfg).await {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!(interface = %s.interface, "VIP instance: {e}; retrying");
                    status.send_replace(VipLocal {
                        setting: Some(s.clone()),
                        counters: None,
                        error: Some(e.to_string()),
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => continue,
                        _ = &mut stop_rx => return,
                    }
                }
            };
            tracing::info!(address = %s.address, interface = %s.interface, vrid = s.vrid, "VIP instance started");
            let mut counters = instance.status();
            let fwd_status = status.clone();
            let fwd_setting = s.clone();
            let forward = tokio::spawn(async move {
                loop {
                    let c = counters.borrow_and_update().clone();
                    fwd_status.send_replace(VipLocal {
                        setting: Some(fwd_setting.clone()),
                        counters: Some(c),
                        error: None,
                    });
                    if counters.changed().await.is_err() {
                        return;
                    }
                }
            });
            let stopped = async {
                let _ = (&mut stop_rx).await;
            };
            let r = instance.run(eligible.clone(), stopped).await;
            let _ = forward.await;
            match r {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!("VIP instance failed: {e}; restarting");
                    status.send_modify(|l| l.error = Some(e.to_string()));
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => {}
                        _ = &mut stop_rx => return,
                    }
                }
            }
        }
    });
    Running {
        setting,
        stop: stop_tx,
        task,
    }
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn validate_accepts_a_good_setting_and_names_each_mistake() {
        let v = validate("10.1.2.100/24", "eth0", 51, 100).unwrap();
        assert_eq!((v.vrid, v.advert_interval_ms), (51, 100));
        assert!(validate("10.1.2.100", "eth0", 51, 100)
            .unwrap_err()
            .contains("prefix"));
        assert!(validate("10.1.2.300/24", "eth0", 51, 100).is_err());
        assert!(validate("10.1.2.100/24", "", 51, 100).is_err());
        assert!(validate("10.1.2.100/24", "eth0", 0, 100)
            .unwrap_err()
            .contains("VRID"));
        assert!(validate("10.1.2.100/24", "eth0", 51, 5).is_err());
        assert!(validate("10.1.2.100/24", "eth0", 51, 105).is_err());
        assert!(validate("10.1.2.100/24", "eth0", 51, 40_960).is_err());
        assert!(validate("10.1.2.100/24", "eth0", 51, 40_950).is_ok());
    }
}
