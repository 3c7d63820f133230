//! [`VrrpInstance`]: drives the pure [`Machine`] with real sockets, a timer
//! and netlink.

use std::future::Future;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::arp::GarpSender;
use super::error::NetError;
use super::socket::VrrpSocket;
use super::vip::{lookup_link, Link, VipAddr};
use super::worker::{self, Done, Work};
use crate::config::{GarpPolicy, MachineConfig};
use crate::counters::Counters;
use crate::event::{Action, Event};
use crate::ipv4;
use crate::machine::Machine;

/// Configuration of one VRRP instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpConfig {
    /// Interface to run on (e.g. `eth0`).
    pub interface: String,
    /// Virtual router id, 1–255; the same on every node (and keepalived).
    pub vrid: u8,
    /// This node's priority, 1–255.
    pub priority: u8,
    /// Advertisement interval, 10 ms – 40.95 s in 10 ms steps.
    pub advert_interval: Duration,
    /// Whether a higher priority takes over from a lower master.
    pub preempt: bool,
    /// The virtual addresses.
    pub vips: Vec<VipAddr>,
    /// Gratuitous ARP policy.
    pub garp: GarpPolicy,
    /// Source address of adverts; default: the interface's first own address.
    pub source: Option<Ipv4Addr>,
}

impl VrrpConfig {
    /// A configuration with keepalived's defaults (1 s, preempt, 5 + 5 GARPs).
    pub fn new(interface: impl Into<String>, vrid: u8, priority: u8, vips: Vec<VipAddr>) -> Self {
        VrrpConfig {
            interface: interface.into(),
            vrid,
            priority,
            advert_interval: Duration::from_secs(1),
            preempt: true,
            vips,
            garp: GarpPolicy::default(),
            source: None,
        }
    }
}

/// One VRRP instance bound to its interface, ready to [`run`](Self::run).
#[derive(Debug)]
pub struct VrrpInstance {
    config: VrrpConfig,
    link: Link,
    machine: Machine,
    socket: VrrpSocket,
    garp: GarpSender,
    handle: rtnetlink::Handle,
    status: watch::Sender<Counters>,
}

impl VrrpInstance {
    /// Resolves the interface and opens the sockets (needs `CAP_NET_RAW` and
    /// `CAP_NET_ADMIN`, in the interface's network namespace, inside a tokio
    /// runtime).
    pub async fn new(config: VrrpConfig) -> Result<Self, NetError> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(NetError::io("netlink socket"))?;
        tokio::spawn(conn);
        let mut link = lookup_link(&handle, &config.interface, &config.vips).await?;
        if let Some(src) = config.source {
            link.primary_ip = src;
        }
        let mcfg = MachineConfig {
            vrid: config.vrid,
            priority: config.priority,
            advert_interval_cs: MachineConfig::interval_cs(config.advert_interval),
            preempt: config.preempt,
            primary_ip: link.primary_ip,
            vips: config.vips.iter().map(|v| v.addr).collect(),
            garp: config.garp,
        };
        let machine = Machine::new(mcfg, false)?;
        let socket = VrrpSocket::open(&config.interface, link.index, link.primary_ip)
            .map_err(NetError::io("open VRRP socket"))?;
        let garp =
            GarpSender::open(link.index, link.mac).map_err(NetError::io("open ARP socket"))?;
        let (status, _) = watch::channel(machine.counters().clone());
        Ok(VrrpInstance {
            config,
            link,
            machine,
            socket,
            garp,
            handle,
            status,
        })
    }

    /// The interface as resolved (index, MAC, source address).
    pub fn link(&self) -> Link {
        self.link
    }

    /// Counters, updated as the instance runs.
    pub fn status(&self) -> watch::Receiver<Counters> {
        self.status.subscribe()
    }

    /// Runs until `shutdown` completes, then sends priority 0 (if master) and
    /// removes the VIPs. `eligible` is the quorum guard: while false the node
    /// is never master; a closed channel counts as false.
    pub async fn run(
        self,
        mut eligible: watch::Receiver<bool>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Counters, NetError> {
        let VrrpInstance {
            config,
            link,
            mut machine,
            socket,
            garp,
            handle,
            status,
        } = self;
        let (work, mut done, worker) = worker::spawn(handle, link.index, config.vips, garp);
        let mut driver = Driver {
            epoch: Instant::now(),
            timer: None,
            socket: &socket,
            work,
        };
        let origin = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        machine.set_clock_origin_unix_ms(u64::try_from(origin.as_millis()).unwrap_or(0));
        let initial = *eligible.borrow_and_update();
        driver.handle(&mut machine, Event::QuorumChanged(initial));
        driver.handle(&mut machine, Event::Startup);
        let mut watching = true;
        let mut buf = vec![0u8; 4096];
        tokio::pin!(shutdown);
        let result = loop {
            publish(&status, &machine);
            let timer = driver.timer;
            tokio::select! {
                biased;
                () = &mut shutdown => break Ok(()),
                () = sleep_until(timer) => driver.handle(&mut machine, Event::TimerFired),
                r = socket.recv(&mut buf) => match r {
                    Ok(n) => match ipv4::parse_advert(&buf[..n]) {
                        Ok((src, advert)) => {
                            driver.handle(&mut machine, Event::AdvertReceived { src, advert });
                        }
                        Err(reason) => machine.record_drop(reason),
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(NetError::Io { op: "receive advert", source: e }),
                },
                r = eligible.changed(), if watching => {
                    let now_eligible = match r {
                        Ok(()) => *eligible.borrow_and_update(),
                        Err(_) => {
                            watching = false;
                            false
                        }
                    };
                    driver.handle(&mut machine, Event::QuorumChanged(now_eligible));
                }
                Some(d) = done.recv() => record(&mut machine, d),
            }
        };
        driver.handle(&mut machine, Event::Shutdown);
        drop(driver);
        // The worker finishes the queued removal, then ends.
        let _ = worker.await;
        while let Ok(d) = done.try_recv() {
            record(&mut machine, d);
        }
        publish(&status, &machine);
        result.map(|()| machine.counters().clone())
    }
}

/// Resolves the interface, opens the sockets and runs the instance (see
/// [`VrrpInstance::run`]).
pub async fn run(
    config: VrrpConfig,
    eligible: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()>,
) -> Result<Counters, NetError> {
    VrrpInstance::new(config)
        .await?
        .run(eligible, shutdown)
        .await
}

/// Carries out the machine's actions: adverts inline (a non-blocking send),
/// everything else queued to the worker.
struct Driver<'a> {
    epoch: Instant,
    timer: Option<Instant>,
    socket: &'a VrrpSocket,
    work: mpsc::UnboundedSender<Work>,
}

impl Driver<'_> {
    fn handle(&mut self, machine: &mut Machine, event: Event) {
        let now = self.epoch.elapsed();
        let src = machine.config().primary_ip;
        for action in machine.handle(now, event) {
            match action {
                Action::SendAdvert(advert) => {
                    let sent = advert
                        .encode(src)
                        .map_err(|e| e.to_string())
                        .and_then(|msg| self.socket.send(&msg).map_err(|e| e.to_string()));
                    if let Err(e) = sent {
                        tracing::warn!(error = %e, "sending VRRP advert failed");
                        machine.record_send_error();
                    }
                }
                Action::AddVip => self.queue(Work::AddVip),
                Action::RemoveVip => self.queue(Work::RemoveVip),
                Action::SendGratuitousArp { count } => self.queue(Work::Garp(count)),
                Action::SetTimer(at) => self.timer = Some(self.epoch + at),
                Action::CancelTimer => self.timer = None,
            }
        }
    }

    fn queue(&self, work: Work) {
        // The worker lives as long as the driver; a send can only fail if it
        // panicked, which its JoinHandle reports.
        let _ = self.work.send(work);
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn record(machine: &mut Machine, done: Done) {
    match done {
        Done::VipError => machine.record_vip_error(),
        Done::GarpSent(n) => machine.record_garp_sent(n),
        Done::GarpError(e) => tracing::warn!(error = %e, "gratuitous ARP failed"),
    }
}

fn publish(status: &watch::Sender<Counters>, machine: &Machine) {
    status.send_if_modified(|c| {
        let changed = c != machine.counters();
        if changed {
            c.clone_from(machine.counters());
        }
        changed
    });
}
