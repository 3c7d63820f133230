//! Raw IPv4 sockets for protocol 112: one joined to 224.0.0.18 to receive,
//! one bound to the node's own address to send (a raw socket bound to a
//! unicast address receives nothing sent to the group, as in keepalived).

use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddrV4};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::packet::{VRRP_GROUP_V4, VRRP_PROTOCOL, VRRP_TTL};

/// IP TOS of adverts: precedence "internetwork control", as keepalived.
pub const VRRP_TOS: u32 = 0xc0;

/// The sockets of one VRRP instance on one interface.
#[derive(Debug)]
pub struct VrrpSocket {
    rx: AsyncFd<Socket>,
    tx: Socket,
    group: SockAddr,
}

fn raw() -> io::Result<Socket> {
    let s = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(i32::from(VRRP_PROTOCOL))),
    )?;
    s.set_nonblocking(true)?;
    s.set_cloexec(true)?;
    Ok(s)
}

impl VrrpSocket {
    /// Opens both sockets on `interface` (index `index`), sending from `src`.
    /// Needs `CAP_NET_RAW`; must run inside the interface's network namespace.
    pub fn open(interface: &str, index: u32, src: Ipv4Addr) -> io::Result<Self> {
        let rx = raw()?;
        rx.bind_device(Some(interface.as_bytes()))?;
        rx.join_multicast_v4_n(&VRRP_GROUP_V4, &InterfaceIndexOrAddress::Index(index))?;
        // Only the groups this socket joined, not every group of the host.
        rx.set_multicast_all_v4(false)?;

        let tx = raw()?;
        tx.bind(&SocketAddrV4::new(src, 0).into())?;
        tx.bind_device(Some(interface.as_bytes()))?;
        tx.set_multicast_if_v4(&src)?;
        tx.set_multicast_ttl_v4(u32::from(VRRP_TTL))?;
        tx.set_multicast_loop_v4(false)?;
        tx.set_tos_v4(VRRP_TOS)?;
        // SAFETY: `Socket` owns its descriptor, which stays open and the same
        // until the `AsyncFd` (its owner from here on) drops it.
        let rx = unsafe { AsyncFd::register_with_interest(rx, Interest::READABLE) }?;
        Ok(VrrpSocket {
            rx,
            tx,
            group: SocketAddrV4::new(VRRP_GROUP_V4, 0).into(),
        })
    }

    /// Receives one datagram, IPv4 header included (as raw sockets deliver).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.rx.readable().await?;
            let res = guard.try_io(|fd| {
                // SAFETY: `recv` only writes initialised bytes into the
                // buffer, and `u8` has no invalid bit patterns; viewing the
                // initialised `&mut [u8]` as `&mut [MaybeUninit<u8>]` is sound
                // because nothing uninitialised is written through it.
                let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
                fd.get_ref().recv(uninit)
            });
            match res {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends one VRRP message (the kernel adds the IP header) without
    /// waiting: a full socket buffer is an error, never a delay.
    pub fn send(&self, message: &[u8]) -> io::Result<()> {
        let n = self.tx.send_to(message, &self.group)?;
        if n == message.len() {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::WriteZero, "short send"))
        }
    }
}
