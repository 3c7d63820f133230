//! An orc VRRP instance running inside a node's namespace, on its own thread
//! with its own tokio runtime.

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use orc_vrrp::net::{VipAddr, VrrpConfig, VrrpInstance};
use orc_vrrp::{Counters, State};
use tokio::sync::{oneshot, watch};

use super::Node;

/// How to stop an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Shutdown: priority 0, VIP removed.
    Graceful,
    /// Everything dropped at once, as a SIGKILL would: no last advert, and
    /// the VIP stays where it was.
    Crash,
}

/// A running orc instance; stopped gracefully on drop.
pub struct OrcNode {
    /// Quorum guard input.
    pub eligible: watch::Sender<bool>,
    /// Counters published by the instance.
    pub status: watch::Receiver<Counters>,
    stop: Option<oneshot::Sender<Stop>>,
    thread: Option<JoinHandle<Option<Counters>>>,
}

/// A configuration for `eth0` with one VIP /24 and the given interval.
pub fn config(vrid: u8, priority: u8, vip: std::net::Ipv4Addr, interval: Duration) -> VrrpConfig {
    let mut cfg = VrrpConfig::new(
        "eth0",
        vrid,
        priority,
        vec![VipAddr {
            addr: vip,
            prefix_len: 24,
        }],
    );
    cfg.advert_interval = interval;
    cfg
}

impl OrcNode {
    /// Starts `config` inside `node`'s namespace, eligible; panics if it
    /// cannot start.
    pub fn start(node: &Node, config: VrrpConfig) -> OrcNode {
        Self::start_with(node, config, true)
    }

    /// Starts `config` with the given initial quorum input.
    pub fn start_with(node: &Node, config: VrrpConfig, eligible: bool) -> OrcNode {
        let (eligible, eligible_rx) = watch::channel(eligible);
        let (stop, stop_rx) = oneshot::channel::<Stop>();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let thread = node.spawn_in(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let instance = match VrrpInstance::new(config).await {
                    Ok(i) => i,
                    Err(e) => {
                        ready_tx.send(Err(e.to_string())).unwrap();
                        return None;
                    }
                };
                ready_tx.send(Ok(instance.status())).unwrap();
                let (graceful_tx, graceful_rx) = oneshot::channel::<()>();
                let run = instance.run(eligible_rx, async move {
                    let _ = graceful_rx.await;
                });
                tokio::pin!(run);
                tokio::select! {
                    res = &mut run => Some(res.expect("VRRP instance failed")),
                    stop = stop_rx => match stop.unwrap_or(Stop::Graceful) {
                        Stop::Crash => None,
                        Stop::Graceful => {
                            let _ = graceful_tx.send(());
                            Some(run.await.expect("VRRP instance failed to stop"))
                        }
                    },
                }
            })
        });
        let status = ready_rx.recv().unwrap().expect("start VRRP instance");
        OrcNode {
            eligible,
            status,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The latest counters.
    pub fn counters(&self) -> Counters {
        self.status.borrow().clone()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.status.borrow().state
    }

    /// Stops the instance and waits for its thread; returns its final
    /// counters after a graceful stop.
    pub fn stop(&mut self, how: Stop) -> Option<Counters> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(how);
        }
        self.thread.take().and_then(|t| t.join().ok().flatten())
    }
}

impl Drop for OrcNode {
    fn drop(&mut self) {
        self.stop(Stop::Graceful);
    }
}
