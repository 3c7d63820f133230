//! The IPv4 header that an `AF_INET` raw socket delivers with every packet,
//! and building whole datagrams (for `IP_HDRINCL` senders such as the
//! injection tests).

use std::net::Ipv4Addr;

use crate::drop_reason::DropReason;
use crate::packet::{self, Advert};

/// The fields of a received IPv4 datagram that VRRP checks, and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live as received.
    pub ttl: u8,
    /// IP protocol number.
    pub protocol: u8,
    /// Bytes after the header, bounded by the header's total length.
    pub payload: &'a [u8],
}

/// Splits a datagram as read from a raw socket into header fields and payload.
pub fn parse_datagram(buf: &[u8]) -> Result<Datagram<'_>, DropReason> {
    let first = *buf.first().ok_or(DropReason::BadIpHeader)?;
    if first >> 4 != 4 {
        return Err(DropReason::BadIpHeader);
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || buf.len() < ihl {
        return Err(DropReason::BadIpHeader);
    }
    let total = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if total < ihl || total > buf.len() {
        return Err(DropReason::BadIpHeader);
    }
    Ok(Datagram {
        src: Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]),
        dst: Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]),
        ttl: buf[8],
        protocol: buf[9],
        payload: &buf[ihl..total],
    })
}

/// Parses a whole received datagram down to an advertisement: IP header,
/// protocol, then [`packet::parse`].
pub fn parse_advert(buf: &[u8]) -> Result<(Ipv4Addr, Advert), DropReason> {
    let d = parse_datagram(buf)?;
    if d.protocol != packet::VRRP_PROTOCOL {
        return Err(DropReason::BadProtocol);
    }
    packet::parse(d.src, d.dst, d.ttl, d.payload).map(|a| (d.src, a))
}

/// Builds an IPv4 datagram (20-byte header, no options, header checksum
/// filled in) around `payload`. Panics never; a payload longer than
/// 65 515 bytes is cut to fit.
pub fn build_datagram(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    tos: u8,
    protocol: u8,
    payload: &[u8],
) -> Vec<u8> {
    let payload = &payload[..payload.len().min(usize::from(u16::MAX) - 20)];
    let total = u16::try_from(20 + payload.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(usize::from(total));
    out.extend_from_slice(&[0x45, tos]);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, ttl, protocol, 0, 0]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    let sum = out
        .chunks_exact(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    out[10..12].copy_from_slice(&packet::fold(sum).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::VRRP_GROUP_V4;

    /// The IPv4 header keepalived's advert arrived with (captured), then the
    /// VRRP message.
    const CAPTURED: [u8; 32] = [
        0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x42, 0x0a, 0x4d, 0x00,
        0x0b, 0xe0, 0x00, 0x00, 0x12, 0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x74, 0xcf, 0x0a, 0x4d,
        0x00, 0x64,
    ];

    #[test]
    fn parses_a_captured_keepalived_datagram() {
        let (src, advert) = parse_advert(&CAPTURED).unwrap();
        assert_eq!(src, Ipv4Addr::new(10, 77, 0, 11));
        assert_eq!((advert.vrid, advert.priority), (51, 100));
    }

    #[test]
    fn builds_the_same_header_keepalived_sent() {
        let mut built = build_datagram(
            Ipv4Addr::new(10, 77, 0, 11),
            VRRP_GROUP_V4,
            255,
            0xc0,
            112,
            &CAPTURED[20..],
        );
        // keepalived's id field was 1; ours is 0: patch and re-check the sum.
        built[5] = 1;
        built[10..12].copy_from_slice(&[0, 0]);
        let sum = built[..20]
            .chunks_exact(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        built[10..12].copy_from_slice(&packet::fold(sum).to_be_bytes());
        assert_eq!(built, CAPTURED);
    }

    #[test]
    fn bad_headers_are_dropped() {
        assert_eq!(parse_datagram(&[]), Err(DropReason::BadIpHeader));
        assert_eq!(
            parse_datagram(&CAPTURED[..19]),
            Err(DropReason::BadIpHeader)
        );
        let mut v6 = CAPTURED;
        v6[0] = 0x65;
        assert_eq!(parse_datagram(&v6), Err(DropReason::BadIpHeader));
        let mut long = CAPTURED;
        long[3] = 0x40;
        assert_eq!(parse_datagram(&long), Err(DropReason::BadIpHeader));
        let mut proto = CAPTURED;
        proto[9] = 17;
        assert_eq!(parse_advert(&proto), Err(DropReason::BadProtocol));
        let mut ttl = CAPTURED;
        ttl[8] = 254;
        assert_eq!(parse_advert(&ttl), Err(DropReason::BadTtl));
    }

    #[test]
    fn total_length_bounds_the_payload() {
        let mut padded = CAPTURED.to_vec();
        padded.extend_from_slice(&[0; 14]); // Ethernet-style padding
        assert_eq!(parse_datagram(&padded).unwrap().payload, &CAPTURED[20..]);
    }
}
