//! Why a received packet was discarded.

use serde::{Deserialize, Serialize};

/// The reason a received VRRP packet was dropped, counted per reason in
/// [`crate::Counters`].
///
/// [`DropReason::as_str`] is stable: it names the counter in `orc vip status`
/// and in metrics, so existing names must never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The IPv4 header delivered by the raw socket was unreadable.
    BadIpHeader,
    /// The IP protocol is not 112 (VRRP).
    BadProtocol,
    /// The destination is not the VRRP multicast group 224.0.0.18.
    BadDestination,
    /// The IP TTL is not 255, so the packet may have crossed a router
    /// (RFC 5798 §7.1).
    BadTtl,
    /// Shorter than the 8-byte VRRP header, or than the addresses it counts.
    Truncated,
    /// The VRRP version is not 3.
    BadVersion,
    /// The VRRP type is not 1 (advertisement).
    BadType,
    /// Bytes left over after the addresses the header counts.
    BadLength,
    /// The checksum over the pseudo-header and the message does not match.
    BadChecksum,
    /// The advertised maximum interval is 0.
    ZeroInterval,
    /// The advertisement belongs to another virtual router (VRID).
    WrongVrid,
}

impl DropReason {
    /// Every reason, in a stable order.
    pub const ALL: [DropReason; 11] = [
        DropReason::BadIpHeader,
        DropReason::BadProtocol,
        DropReason::BadDestination,
        DropReason::BadTtl,
        DropReason::Truncated,
        DropReason::BadVersion,
        DropReason::BadType,
        DropReason::BadLength,
        DropReason::BadChecksum,
        DropReason::ZeroInterval,
        DropReason::WrongVrid,
    ];

    /// The stable counter name of this reason.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::BadIpHeader => "bad_ip_header",
            DropReason::BadProtocol => "bad_protocol",
            DropReason::BadDestination => "bad_destination",
            DropReason::BadTtl => "bad_ttl",
            DropReason::Truncated => "truncated",
            DropReason::BadVersion => "bad_version",
            DropReason::BadType => "bad_type",
            DropReason::BadLength => "bad_length",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::ZeroInterval => "zero_interval",
            DropReason::WrongVrid => "wrong_vrid",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_match_serde() {
        let mut names: Vec<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        for r in DropReason::ALL {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::ALL.len());
    }
}
