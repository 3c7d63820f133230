//! The interface (index, MAC, own address) and its virtual addresses, via
//! rtnetlink.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags};
use netlink_packet_route::link::LinkAttribute;
use rtnetlink::Handle;
use serde::{Deserialize, Serialize};

use super::error::NetError;

/// A virtual address with the prefix length it is added with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VipAddr {
    /// The address.
    pub addr: Ipv4Addr,
    /// Prefix length, 0–32 (32 when written without one, as keepalived).
    pub prefix_len: u8,
}

/// A malformed `ADDR[/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid virtual address {0:?}: expected A.B.C.D or A.B.C.D/0-32")]
pub struct VipParseError(pub String);

impl FromStr for VipAddr {
    type Err = VipParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VipParseError(s.to_owned());
        let (addr, prefix) = s.split_once('/').unwrap_or((s, "32"));
        let addr = addr.parse().map_err(|_| err())?;
        let prefix_len = prefix.parse().map_err(|_| err())?;
        if prefix_len > 32 {
            return Err(err());
        }
        Ok(VipAddr { addr, prefix_len })
    }
}

impl fmt::Display for VipAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// What VRRP needs to know about its interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Ethernet address.
    pub mac: [u8; 6],
    /// The first IPv4 address that is primary and not a VIP.
    pub primary_ip: Ipv4Addr,
}

/// Looks up interface `name`; `vips` are never taken as its own address.
pub async fn lookup_link(handle: &Handle, name: &str, vips: &[VipAddr]) -> Result<Link, NetError> {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    let link = match links.try_next().await {
        Ok(Some(link)) => link,
        // The kernel answers ENODEV for an unknown name.
        Ok(None) | Err(rtnetlink::Error::NetlinkError(_)) => {
            return Err(NetError::NoInterface(name.to_owned()))
        }
        Err(e) => return Err(NetError::netlink("get link")(e)),
    };
    let index = link.header.index;
    let mac = link
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Address(bytes) => <[u8; 6]>::try_from(bytes.as_slice()).ok(),
            _ => None,
        })
        .ok_or_else(|| NetError::NoMac(name.to_owned()))?;

    let mut addrs = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    while let Some(msg) = addrs
        .try_next()
        .await
        .map_err(NetError::netlink("get addresses"))?
    {
        if msg.header.flags.contains(AddressHeaderFlags::Secondary) {
            continue;
        }
        let own = msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
            _ => None,
        });
        if let Some(ip) = own.filter(|ip| !vips.iter().any(|v| v.addr == *ip)) {
            return Ok(Link {
                index,
                mac,
                primary_ip: ip,
            });
        }
    }
    Err(NetError::NoAddress(name.to_owned()))
}

/// Adds `vip` to interface `index`; already present is success.
pub async fn add_vip(handle: &Handle, index: u32, vip: VipAddr) -> Result<(), NetError> {
    let req = handle
        .address()
        .add(index, IpAddr::V4(vip.addr), vip.prefix_len);
    match req.execute().await {
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(()),
        other => other.map_err(NetError::netlink("add address")),
    }
}

/// Removes `vip` from interface `index` (whatever its prefix); absent is
/// success.
pub async fn remove_vip(handle: &Handle, index: u32, vip: VipAddr) -> Result<(), NetError> {
    let found: Vec<_> = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .set_address_filter(IpAddr::V4(vip.addr))
        .execute()
        .try_collect()
        .await
        .map_err(NetError::netlink("get addresses"))?;
    for msg in found {
        match handle.address().del(msg).execute().await {
            Err(rtnetlink::Error::NetlinkError(e))
                if e.raw_code() == -libc::EADDRNOTAVAIL || e.raw_code() == -libc::ENOENT => {}
            other => other.map_err(NetError::netlink("delete address"))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vips_like_keepalived() {
        let v: VipAddr = "10.77.0.100/24".parse().unwrap();
        assert_eq!((v.addr, v.prefix_len), (Ipv4Addr::new(10, 77, 0, 100), 24));
        assert_eq!("10.1.2.3".parse::<VipAddr>().unwrap().prefix_len, 32);
        assert_eq!(v.to_string(), "10.77.0.100/24");
        for bad in ["", "10.1.2.3/33", "10.1.2/24", "x/1", "10.1.2.3/"] {
            assert!(bad.parse::<VipAddr>().is_err(), "{bad}");
        }
    }
}
