//! What a VRRP instance has done, for `orc vip status` and metrics.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::drop_reason::DropReason;

/// RFC 5798 states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not started, or stopped.
    #[default]
    Initialize,
    /// Watching a master, ready to take over.
    Backup,
    /// Holding the virtual addresses.
    Master,
}

/// Why a transition happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The instance started.
    Startup,
    /// The instance stopped.
    Shutdown,
    /// No advert from a master for `Master_Down_Interval` (or the skew time
    /// after a priority-0 advert).
    MasterDown,
    /// A master with a higher priority (or an equal one and a higher
    /// address) advertised.
    HigherPriority,
    /// The node left the Raft majority (quorum guard).
    QuorumLost,
}

/// One state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// State left.
    pub from: State,
    /// State entered.
    pub to: State,
    /// Why.
    pub cause: Cause,
    /// When, in milliseconds of the machine's clock.
    pub at_ms: u64,
}

/// Counters and current facts of one VRRP instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Current state.
    pub state: State,
    /// Current priority.
    pub priority: u8,
    /// Whether the node may be master (in the Raft majority).
    pub eligible: bool,
    /// Adverts sent, priority 0 included.
    pub adverts_sent: u64,
    /// Priority-0 ("master leaving") adverts sent.
    pub priority_zero_sent: u64,
    /// Valid adverts received for this VRID.
    pub adverts_received: u64,
    /// Priority-0 adverts received for this VRID.
    pub priority_zero_received: u64,
    /// Dropped packets by [`DropReason::as_str`].
    pub dropped: BTreeMap<String, u64>,
    /// Number of state changes.
    pub transitions: u64,
    /// Times this node became master.
    pub became_master: u64,
    /// The current master: the sender of the last accepted advert, or this
    /// node while it is master.
    pub master_ip: Option<Ipv4Addr>,
    /// The last state change.
    pub last_transition: Option<Transition>,
    /// When this node last became master (machine clock, ms).
    pub last_master_at_ms: Option<u64>,
    /// When this node last became backup (machine clock, ms).
    pub last_backup_at_ms: Option<u64>,
    /// Adverts the I/O layer failed to send.
    pub send_errors: u64,
    /// Failed VIP additions or removals.
    pub vip_errors: u64,
    /// Gratuitous ARP frames sent.
    pub garp_sent: u64,
    /// Wall-clock time (Unix ms) of the machine clock's zero, set by the I/O
    /// layer, so `*_at_ms` fields can be shown as dates.
    pub clock_origin_unix_ms: Option<u64>,
}

impl Counters {
    /// Counts one packet dropped for `reason`.
    pub fn record_drop(&mut self, reason: DropReason) {
        *self.dropped.entry(reason.as_str().to_owned()).or_default() += 1;
    }

    /// Packets dropped for `reason` so far.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(reason.as_str()).copied().unwrap_or(0)
    }

    /// Packets dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}
