//! VRRPv3 advertisements for IPv4 (RFC 5798 §5): encoding, validation and the
//! checksum over the IPv4 pseudo-header.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::drop_reason::DropReason;

/// IP protocol number of VRRP.
pub const VRRP_PROTOCOL: u8 = 112;
/// The IPv4 multicast group VRRP advertisements are sent to.
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The TTL every advertisement is sent with and must arrive with.
pub const VRRP_TTL: u8 = 255;
/// VRRP version implemented here.
pub const VRRP_VERSION: u8 = 3;
/// VRRP message type of an advertisement.
pub const VRRP_TYPE_ADVERT: u8 = 1;
/// Length of the fixed VRRP header, before the addresses.
pub const HEADER_LEN: usize = 8;
/// Largest value of the 12-bit interval field, in centiseconds.
pub const MAX_INTERVAL_CS: u16 = 0x0fff;

/// A VRRPv3 advertisement carrying IPv4 addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advert {
    /// Virtual router id (1–255).
    pub vrid: u8,
    /// Sender's priority: 255 = address owner, 0 = the master is leaving.
    pub priority: u8,
    /// Maximum advertisement interval, in centiseconds (12 bits).
    pub max_advert_interval_cs: u16,
    /// The virtual addresses the sender protects.
    pub addresses: Vec<Ipv4Addr>,
}

/// Why an [`Advert`] cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The count field is one byte.
    #[error("an advertisement carries at most 255 addresses, got {0}")]
    TooManyAddresses(usize),
    /// The interval field is 12 bits of centiseconds.
    #[error("advert interval must be 1..=4095 centiseconds, got {0}")]
    IntervalOutOfRange(u16),
}

impl Advert {
    /// The advertised interval as a duration.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.max_advert_interval_cs) * 10)
    }

    /// Encodes the VRRP message (no IP header) as sent from `src`; the
    /// checksum covers the pseudo-header `src, 224.0.0.18, 0, 112, length`.
    pub fn encode(&self, src: Ipv4Addr) -> Result<Vec<u8>, EncodeError> {
        let count = u8::try_from(self.addresses.len())
            .map_err(|_| EncodeError::TooManyAddresses(self.addresses.len()))?;
        if self.max_advert_interval_cs == 0 || self.max_advert_interval_cs > MAX_INTERVAL_CS {
            return Err(EncodeError::IntervalOutOfRange(self.max_advert_interval_cs));
        }
        let mut out = Vec::with_capacity(HEADER_LEN + 4 * self.addresses.len());
        out.push((VRRP_VERSION << 4) | VRRP_TYPE_ADVERT);
        out.push(self.vrid);
        out.push(self.priority);
        out.push(count);
        out.extend_from_slice(&self.max_advert_interval_cs.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        for addr in &self.addresses {
            out.extend_from_slice(&addr.octets());
        }
        let sum = checksum(src, VRRP_GROUP_V4, &out);
        out[6..8].copy_from_slice(&sum.to_be_bytes());
        Ok(out)
    }
}

/// Validates and decodes a VRRP message received from `src` for `dst` with
/// IP TTL `ttl`. The VRID is checked by the state machine, not here.
///
/// Checks, in order: destination group, TTL 255, header length, version 3,
/// type 1, length against the address count, checksum, non-zero interval.
pub fn parse(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload: &[u8]) -> Result<Advert, DropReason> {
    if dst != VRRP_GROUP_V4 {
        return Err(DropReason::BadDestination);
    }
    if ttl != VRRP_TTL {
        return Err(DropReason::BadTtl);
    }
    let header = payload.get(..HEADER_LEN).ok_or(DropReason::Truncated)?;
    if header[0] >> 4 != VRRP_VERSION {
        return Err(DropReason::BadVersion);
    }
    if header[0] & 0x0f != VRRP_TYPE_ADVERT {
        return Err(DropReason::BadType);
    }
    let count = usize::from(header[3]);
    let expected = HEADER_LEN + 4 * count;
    if payload.len() < expected {
        return Err(DropReason::Truncated);
    }
    if payload.len() > expected {
        return Err(DropReason::BadLength);
    }
    if checksum(src, dst, payload) != 0 {
        return Err(DropReason::BadChecksum);
    }
    let max_advert_interval_cs = u16::from_be_bytes([header[4], header[5]]) & MAX_INTERVAL_CS;
    if max_advert_interval_cs == 0 {
        return Err(DropReason::ZeroInterval);
    }
    let addresses = payload[HEADER_LEN..]
        .chunks_exact(4)
        .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
        .collect();
    Ok(Advert {
        vrid: header[1],
        priority: header[2],
        max_advert_interval_cs,
        addresses,
    })
}

/// The Internet checksum (RFC 1071) of the IPv4 pseudo-header
/// `src, dst, 0, 112, len(message)` followed by `message`.
///
/// Computed over a message whose checksum field is zero it gives the value to
/// store; over a message with a correct checksum it gives 0.
pub fn checksum(src: Ipv4Addr, dst: Ipv4Addr, message: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(u16::from_be_bytes([*last, 0]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    // A VRRP message is at most 8 + 4 × 255 bytes, far below u16::MAX; longer
    // input (only from a forged datagram) saturates and simply fails to match.
    let len = u16::try_from(message.len()).unwrap_or(u16::MAX);
    add(&[0, VRRP_PROTOCOL]);
    add(&len.to_be_bytes());
    add(message);
    fold(sum)
}

/// Folds a 32-bit one's-complement sum into the 16-bit checksum.
pub(crate) fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // After folding the sum fits in 16 bits.
    !(sum as u16)
}

#[cfg(test)]
#[path = "tests/packet.rs"]
mod tests;
