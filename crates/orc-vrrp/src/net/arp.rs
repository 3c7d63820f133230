//! Gratuitous ARP through an `AF_PACKET` socket: an ARP request to the
//! broadcast address with sender = target = the VIP, as keepalived sends.

use std::io;
use std::net::Ipv4Addr;

use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, Socket, Type};

const ETH_P_ARP: u16 = 0x0806;
const BROADCAST: [u8; 6] = [0xff; 6];
/// Length of an Ethernet frame holding an IPv4 ARP packet (no padding).
pub const GARP_FRAME_LEN: usize = 42;

/// The Ethernet frame of a gratuitous ARP for `vip` from `mac`.
pub fn garp_frame(mac: [u8; 6], vip: Ipv4Addr) -> [u8; GARP_FRAME_LEN] {
    let mut f = [0u8; GARP_FRAME_LEN];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    // Ethernet, IPv4, hardware length 6, protocol length 4, request.
    f[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&vip.octets());
    f[32..38].copy_from_slice(&BROADCAST);
    f[38..42].copy_from_slice(&vip.octets());
    f
}

/// Sends gratuitous ARPs out of one interface.
#[derive(Debug)]
pub struct GarpSender {
    socket: Socket,
    dest: SockAddr,
    mac: [u8; 6],
}

impl GarpSender {
    /// Opens an `AF_PACKET` socket for interface `index` with address `mac`.
    pub fn open(index: u32, mac: [u8; 6]) -> io::Result<Self> {
        let proto = Protocol::from(i32::from(ETH_P_ARP.to_be()));
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(proto))?;
        socket.set_nonblocking(true)?;
        socket.set_cloexec(true)?;
        let ifindex = i32::try_from(index)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index"))?;
        let mut storage = SockAddrStorage::zeroed();
        // SAFETY: `SockAddrStorage` is large enough and suitably aligned for
        // any socket address, `sockaddr_ll` included, and it is zeroed.
        let ll: &mut libc::sockaddr_ll = unsafe { storage.view_as() };
        ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
        ll.sll_protocol = ETH_P_ARP.to_be();
        ll.sll_ifindex = ifindex;
        ll.sll_halen = 6;
        ll.sll_addr[..6].copy_from_slice(&BROADCAST);
        let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: the storage holds an initialised `sockaddr_ll` of family
        // AF_PACKET, and `len` is its size.
        let dest = unsafe { SockAddr::new(storage, len) };
        Ok(GarpSender { socket, dest, mac })
    }

    /// Sends one gratuitous ARP for `vip`.
    pub fn send(&self, vip: Ipv4Addr) -> io::Result<()> {
        self.socket
            .send_to(&garp_frame(self.mac, vip), &self.dest)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_an_arp_request_announcing_the_vip() {
        let mac = [0x6a, 0xb8, 0x98, 0x7f, 0xae, 0xc5];
        let f = garp_frame(mac, Ipv4Addr::new(10, 77, 0, 100));
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &mac);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 1], "opcode request");
        assert_eq!(&f[22..28], &mac, "sender MAC");
        assert_eq!(&f[28..32], &[10, 77, 0, 100], "sender IP");
        assert_eq!(&f[38..42], &[10, 77, 0, 100], "target IP");
    }
}
