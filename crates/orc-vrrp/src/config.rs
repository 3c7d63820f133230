//! Settings of one virtual router, as the pure state machine sees them.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::packet::MAX_INTERVAL_CS;

/// Gratuitous ARP on becoming master: a burst at once, and a second burst
/// later so switches that missed the first still learn the new port
/// (keepalived: 5, then 5 more after 5 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpPolicy {
    /// Gratuitous ARPs per VIP sent on becoming master.
    pub count: u8,
    /// Delay of the second burst; `None` for none.
    pub repeat_after: Option<Duration>,
    /// Gratuitous ARPs per VIP in the second burst.
    pub repeat_count: u8,
}

impl Default for GarpPolicy {
    fn default() -> Self {
        GarpPolicy {
            count: 5,
            repeat_after: Some(Duration::from_secs(5)),
            repeat_count: 5,
        }
    }
}

/// Configuration of the VRRP state machine for one VRID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineConfig {
    /// Virtual router id, 1–255, shared by every router of the group.
    pub vrid: u8,
    /// This router's priority, 1–255 (255 = owns the addresses).
    pub priority: u8,
    /// Advertisement interval in centiseconds, 1–4095 (100 = 1 s).
    pub advert_interval_cs: u16,
    /// Whether a higher-priority backup takes over from a lower-priority
    /// master (RFC 5798 `Preempt_Mode`, default true).
    pub preempt: bool,
    /// This router's own address on the interface: the source of its adverts
    /// and the tie-breaker between equal priorities.
    pub primary_ip: Ipv4Addr,
    /// The virtual addresses.
    pub vips: Vec<Ipv4Addr>,
    /// Gratuitous ARP policy.
    pub garp: GarpPolicy,
}

/// An invalid [`MachineConfig`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// VRID 0 is reserved.
    #[error("VRID must be 1..=255")]
    ZeroVrid,
    /// Priority 0 is reserved for "master leaving".
    #[error("priority must be 1..=255")]
    ZeroPriority,
    /// The interval field is 12 bits of centiseconds.
    #[error("advert interval must be 10 ms..=40.95 s in 10 ms steps, got {0} cs")]
    Interval(u16),
    /// A virtual router needs at least one address and at most 255.
    #[error("need 1..=255 virtual addresses, got {0}")]
    VipCount(usize),
}

impl MachineConfig {
    /// A configuration with keepalived's defaults: 1 s adverts, preemption on,
    /// 5 + 5 gratuitous ARPs.
    pub fn new(vrid: u8, priority: u8, primary_ip: Ipv4Addr, vips: Vec<Ipv4Addr>) -> Self {
        MachineConfig {
            vrid,
            priority,
            advert_interval_cs: 100,
            preempt: true,
            primary_ip,
            vips,
            garp: GarpPolicy::default(),
        }
    }

    /// Converts an interval to whole centiseconds, rounding down (no range check).
    pub fn interval_cs(interval: Duration) -> u16 {
        u16::try_from(interval.as_millis() / 10).unwrap_or(u16::MAX)
    }

    /// Checks the ranges the protocol allows.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.vrid == 0 {
            return Err(ConfigError::ZeroVrid);
        }
        if self.priority == 0 {
            return Err(ConfigError::ZeroPriority);
        }
        if self.advert_interval_cs == 0 || self.advert_interval_cs > MAX_INTERVAL_CS {
            return Err(ConfigError::Interval(self.advert_interval_cs));
        }
        if self.vips.is_empty() || self.vips.len() > 255 {
            return Err(ConfigError::VipCount(self.vips.len()));
        }
        Ok(())
    }
}
