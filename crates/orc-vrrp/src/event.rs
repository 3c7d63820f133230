//! What the state machine is told, and what it asks the I/O layer to do.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::packet::Advert;

/// An input of the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The instance starts (RFC 5798 `Startup`).
    Startup,
    /// The instance stops: a master sends priority 0 and releases the VIPs.
    Shutdown,
    /// A valid advertisement arrived (already checked by
    /// [`crate::packet::parse`]; the VRID is checked by the machine).
    AdvertReceived {
        /// The sender's primary address (IP source).
        src: Ipv4Addr,
        /// The advertisement.
        advert: Advert,
    },
    /// The deadline of the last [`Action::SetTimer`] passed.
    TimerFired,
    /// This router's priority changed (1–255; other values are ignored).
    PriorityChanged(u8),
    /// Whether this node is in the Raft majority: while not, it must not be
    /// master (orc's quorum guard).
    QuorumChanged(bool),
}

/// An effect the I/O layer must carry out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this advertisement to 224.0.0.18.
    SendAdvert(Advert),
    /// Add the virtual addresses to the interface (idempotent).
    AddVip,
    /// Remove the virtual addresses from the interface (idempotent).
    RemoveVip,
    /// Send `count` gratuitous ARPs for every virtual address, without
    /// delaying adverts.
    SendGratuitousArp {
        /// How many per address.
        count: u8,
    },
    /// Deliver [`Event::TimerFired`] at this time (replaces any earlier timer).
    SetTimer(Duration),
    /// No timer is needed.
    CancelTimer,
}
