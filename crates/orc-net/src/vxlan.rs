//! The VXLAN driver (flannel-like, no flooding): one `orcvx` device per node with a MAC
//! derived from its block, the block's network address on it, and for every peer a
//! route `PEER_BLOCK via PEER_BLOCK.0 dev orcvx onlink`, a permanent neighbour entry
//! (that `.0` → the peer's MAC) and an FDB entry (the peer's MAC → its node address).

use crate::error::is_errno;
use crate::{NetError, NodeNet};
use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::AddressFamily;
use orc_model::{Ipv4Net, VXLAN_PORT, VXLAN_VNI};
use rtnetlink::{LinkUnspec, LinkVxlan};
use std::net::{IpAddr, Ipv4Addr};

/// The node's VXLAN device.
pub const VXLAN_DEV: &str = "orcvx";
/// Container MTU over VXLAN (50 bytes of encapsulation).
pub const VXLAN_MTU: u32 = 1450;

/// One other node, as the VXLAN driver needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VxlanPeer {
    /// Its container block.
    pub block: Ipv4Net,
    /// Its block's index in the cluster subnet (gives its VTEP MAC).
    pub index: u32,
    /// Its address on the LAN.
    pub node: Ipv4Addr,
}

/// The VTEP MAC of the node holding block `index`: locally administered, `02:6f:72:…`.
pub fn vtep_mac(index: u32) -> [u8; 6] {
    let [_, a, b, c] = index.to_be_bytes();
    [0x02, 0x6f, 0x72, a, b, c]
}

impl NodeNet {
    /// `orcvx`'s index and the local address it sends from, if it exists.
    async fn vxlan_local(&self) -> Result<Option<(u32, Option<Ipv4Addr>)>, NetError> {
        use netlink_packet_route::link::{InfoData, InfoVxlan, LinkAttribute, LinkInfo};
        let Some(link) = self.link(VXLAN_DEV).await? else {
            return Ok(None);
        };
        let local = link.attributes.iter().find_map(|a| match a {
            LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
                LinkInfo::Data(InfoData::Vxlan(v)) => v.iter().find_map(|x| match x {
                    InfoVxlan::Local(ip) => Some(*ip),
                    _ => None,
                }),
                _ => None,
            }),
            _ => None,
        });
        Ok(Some((link.header.index, local)))
    }

    /// Makes `orcvx` exist (VNI 4201, UDP 4789, local `me` on the device holding it,
    /// no learning), up, with `block`'s network address; returns its index.
    pub async fn ensure_vxlan(
        &self,
        me: Ipv4Addr,
        block: Ipv4Net,
        index: u32,
    ) -> Result<u32, NetError> {
        // A node whose address changed: the device still sends from the old one.
        if let Some((index, local)) = self.vxlan_local().await? {
            if local.is_some_and(|l| l != me) {
                tracing::info!(old = ?local, new = %me, "this node's address changed: recreating orcvx");
                self.handle
                    .link()
                    .del(index)
                    .execute()
                    .await
                    .map_err(NetError::netlink("delete vxlan orcvx"))?;
            }
        }
        if self.link_index(VXLAN_DEV).await?.is_none() {
            let dev = self.index_holding(me).await?;
            let msg = LinkVxlan::new(VXLAN_DEV, VXLAN_VNI)
                .dev(dev)
                .local(me)
                .port(VXLAN_PORT)
                .learning(false)
                .address(vtep_mac(index).to_vec())
                .build();
            match self.handle.link().add(msg).execute().await {
                Err(e) if !is_errno(&e, libc::EEXIST) => {
                    return Err(NetError::netlink("add vxlan orcvx")(e))
                }
                _ => {}
            }
        }
        let vx = self
            .link_index(VXLAN_DEV)
            .await?
            .ok_or_else(|| NetError::NoInterface(VXLAN_DEV.into()))?;
        match self
            .handle
            .address()
            .add(vx, IpAddr::V4(block.addr), 32)
            .execute()
            .await
        {
            Err(e) if !is_errno(&e, libc::EEXIST) => {
                return Err(NetError::netlink("address on orcvx")(e))
            }
            _ => {}
        }
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(vx).up().build())
            .execute()
            .await
            .map_err(NetError::netlink("set orcvx up"))?;
        Ok(vx)
    }

    /// Neighbour and FDB entries for exactly `peers`: replaced, so a node whose address
    /// changed is followed, and those of nodes no longer among them deleted.
    pub async fn sync_vxlan_peers(&self, vx: u32, peers: &[VxlanPeer]) -> Result<(), NetError> {
        self.prune_vxlan_peers(vx, peers).await?;
        for p in peers {
            let mac = vtep_mac(p.index);
            self.handle
                .neighbours()
                .add(vx, IpAddr::V4(p.block.addr))
                .link_layer_address(&mac)
                .state(NeighbourState::Permanent)
                .replace()
                .execute()
                .await
                .map_err(NetError::netlink(format!(
                    "neighbour {} on orcvx",
                    p.block.addr
                )))?;
            self.handle
                .neighbours()
                .add_bridge(vx, &mac)
                .destination(IpAddr::V4(p.node))
                .flags(NeighbourFlags::Own)
                .state(NeighbourState::Permanent)
                .replace()
                .execute()
                .await
                .map_err(NetError::netlink(format!(
                    "fdb entry for {} on orcvx",
                    p.node
                )))?;
        }
        Ok(())
    }

    /// Deletes the neighbour entries (VTEP address → MAC) and FDB entries (VTEP MAC →
    /// node address) on `vx` that belong to no peer of `peers`.
    async fn prune_vxlan_peers(&self, vx: u32, peers: &[VxlanPeer]) -> Result<(), NetError> {
        for family in [AddressFamily::Inet, AddressFamily::Bridge] {
            let entries: Vec<NeighbourMessage> = self
                .handle
                .neighbours()
                .get()
                .set_address_family(family)
                .execute()
                .try_collect()
                .await
                .map_err(NetError::netlink("list neighbours"))?;
            for e in entries.into_iter().filter(|e| e.header.ifindex == vx) {
                // An FDB entry's (AF_BRIDGE) destination parses as raw bytes.
                let dst = e.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(*ip),
                    NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                        <[u8; 4]>::try_from(b.as_slice()).ok().map(Ipv4Addr::from)
                    }
                    _ => None,
                });
                let mac = e.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::LinkLayerAddress(m) => Some(m.clone()),
                    _ => None,
                });
                let stale = match (family, dst, &mac) {
                    (AddressFamily::Inet, Some(ip), _) => !peers.iter().any(|p| p.block.addr == ip),
                    // Only FDB entries with an orc VTEP MAC: the kernel's own stay.
                    (_, Some(ip), Some(m)) if m.starts_with(&vtep_mac(0)[..3]) => !peers
                        .iter()
                        .any(|p| p.node == ip && vtep_mac(p.index)[..] == m[..]),
                    _ => false,
                };
                if stale {
                    self.delete_neighbour(e, dst, mac).await?;
                }
            }
        }
        Ok(())
    }

    /// Forgets what the bridge learnt about `address` (its ARP entry): a container
    /// that gets an address another one held moments before has another MAC, and a
    /// stale entry would send its first seconds of traffic into the void.
    pub(crate) async fn forget_neighbour(&self, address: Ipv4Addr) -> Result<(), NetError> {
        let Some(bridge) = self.link(crate::BRIDGE).await? else {
            return Ok(());
        };
        let bridge = bridge.header.index;
        let entries: Vec<NeighbourMessage> = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Inet)
            .execute()
            .try_collect()
            .await
            .map_err(NetError::netlink("list neighbours"))?;
        for e in entries.into_iter().filter(|e| e.header.ifindex == bridge) {
            let dst = e.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(*ip),
                _ => None,
            });
            if dst == Some(address) {
                self.delete_neighbour(e, dst, None).await?;
            }
        }
        Ok(())
    }

    /// Deletes one neighbour or FDB entry, named by its header, address and MAC only.
    async fn delete_neighbour(
        &self,
        entry: NeighbourMessage,
        dst: Option<Ipv4Addr>,
        mac: Option<Vec<u8>>,
    ) -> Result<(), NetError> {
        let bridge = entry.header.family == AddressFamily::Bridge;
        let mut msg = NeighbourMessage::default();
        msg.header = entry.header;
        if let Some(m) = mac.filter(|_| bridge) {
            msg.attributes.push(NeighbourAttribute::LinkLayerAddress(m));
        }
        if let Some(ip) = dst {
            msg.attributes
                .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
        }
        match self.handle.neighbours().del(msg).execute().await {
            Err(e) if !is_errno(&e, libc::ENOENT) => {
                Err(NetError::netlink(format!("delete neighbour {dst:?}"))(e))
            }
            _ => Ok(()),
        }
    }

    /// The index of the link holding address `ip`.
    async fn index_holding(&self, ip: Ipv4Addr) -> Result<u32, NetError> {
        let addrs: Vec<_> = self
            .handle
            .address()
            .get()
            .set_address_filter(IpAddr::V4(ip))
            .execute()
            .try_collect()
            .await
            .map_err(NetError::netlink("list addresses"))?;
        addrs
            .iter()
            .find(|m| {
                m.attributes
                    .iter()
                    .any(|a| matches!(a, AddressAttribute::Local(IpAddr::V4(l)) if *l == ip))
            })
            .map(|m| m.header.index)
            .ok_or_else(|| NetError::NoInterface(format!("(holding {ip})")))
    }
}
