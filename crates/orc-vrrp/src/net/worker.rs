//! Side work that must never delay the advert timer: VIP changes over
//! netlink and gratuitous ARP bursts, done in order by a separate task.

use rtnetlink::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::arp::GarpSender;
use super::vip::{add_vip, remove_vip, VipAddr};

/// One unit of side work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    AddVip,
    RemoveVip,
    Garp(u8),
}

/// What a unit of work achieved, for the counters.
#[derive(Debug)]
pub(crate) enum Done {
    VipError,
    GarpSent(u64),
    GarpError(std::io::Error),
}

/// Runs work items in order until the sender is dropped.
pub(crate) fn spawn(
    handle: Handle,
    index: u32,
    vips: Vec<VipAddr>,
    garp: GarpSender,
) -> (
    mpsc::UnboundedSender<Work>,
    mpsc::UnboundedReceiver<Done>,
    JoinHandle<()>,
) {
    let (work_tx, mut work_rx) = mpsc::unbounded_channel::<Work>();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some(work) = work_rx.recv().await {
            for vip in &vips {
                let res = match work {
                    Work::AddVip => add_vip(&handle, index, *vip).await,
                    Work::RemoveVip => remove_vip(&handle, index, *vip).await,
                    Work::Garp(count) => {
                        let mut sent = 0;
                        for _ in 0..count {
                            match garp.send(vip.addr) {
                                Ok(()) => sent += 1,
                                Err(e) => {
                                    let _ = done_tx.send(Done::GarpError(e));
                                    break;
                                }
                            }
                        }
                        let _ = done_tx.send(Done::GarpSent(sent));
                        Ok(())
                    }
                };
                if let Err(e) = res {
                    tracing::warn!(?work, vip = %vip, error = %e, "VRRP address change failed");
                    let _ = done_tx.send(Done::VipError);
                }
            }
        }
    });
    (work_tx, done_rx, task)
}
