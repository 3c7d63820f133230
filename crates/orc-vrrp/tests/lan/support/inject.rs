//! Sends hand-built IPv4 datagrams (IP_HDRINCL) from a node onto the LAN.

use std::net::{Ipv4Addr, SocketAddrV4};

use orc_vrrp::ipv4::build_datagram;
use orc_vrrp::packet::{VRRP_GROUP_V4, VRRP_PROTOCOL};
use socket2::{Domain, Protocol, Socket, Type};

use super::Node;

/// A VRRP datagram from `src` to 224.0.0.18 with the given TTL and payload.
pub fn vrrp_datagram(src: Ipv4Addr, ttl: u8, payload: &[u8]) -> Vec<u8> {
    build_datagram(src, VRRP_GROUP_V4, ttl, 0xc0, VRRP_PROTOCOL, payload)
}

/// Sends each datagram out of `node`'s eth0 as is.
pub fn inject(node: &Node, datagrams: Vec<Vec<u8>>) {
    let src = node.ip;
    node.spawn_in(move || {
        let proto = Protocol::from(i32::from(VRRP_PROTOCOL));
        let s = Socket::new(Domain::IPV4, Type::RAW, Some(proto)).unwrap();
        s.set_header_included_v4(true).unwrap();
        s.bind_device(Some(b"eth0")).unwrap();
        s.set_multicast_if_v4(&src).unwrap();
        let dst = SocketAddrV4::new(VRRP_GROUP_V4, 0).into();
        for d in datagrams {
            s.send_to(&d, &dst).unwrap();
        }
    })
    .join()
    .unwrap();
}
