//! [`NodeNet`]: this node's half of the cluster network — the `orc0` bridge holding the
//! node block's `.1`, one veth per container into a namespace orc creates, and routes
//! to the other nodes' blocks.

use crate::error::is_errno;
use crate::{netns, NetError};
use futures::TryStreamExt;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteProtocol};
use orc_model::{gateway, Ipv4Net};
use rtnetlink::{Handle, LinkBridge, LinkBridgePort, LinkUnspec, LinkVeth, RouteMessageBuilder};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// The bridge every container of the node is plugged into.
pub const BRIDGE: &str = "orc0";
/// Host-side veth names start with this (then 12 characters of the task id).
pub const VETH_PREFIX: &str = "orc";
/// The routing protocol number orc's routes carry, so orc finds (and only removes) its own.
pub const ROUTE_PROTOCOL: u8 = 79;
/// MTU of container links when packets travel as plain routes.
pub const MTU: u32 = 1500;

/// The host-side veth of a task's container: `orc` + the first 12 characters of its id.
pub fn veth_name(task_id: &str) -> String {
    let short: String = task_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("{VETH_PREFIX}{short}")
}

fn peer_name(task_id: &str) -> String {
    let short: String = task_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("orp{short}")
}

/// This node's container networking, over one rtnetlink connection.
pub struct NodeNet {
    pub(crate) handle: Handle,
    dir: PathBuf,
}

impl NodeNet {
    /// Opens a netlink connection (driven on the current tokio runtime); namespaces
    /// and address records live in `dir`.
    pub fn new(dir: PathBuf) -> Result<NodeNet, NetError> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(NetError::io("netlink socket"))?;
        tokio::spawn(conn);
        Ok(NodeNet { handle, dir })
    }

    /// Where task `task_id`'s network namespace is pinned.
    pub fn netns_path(&self, task_id: &str) -> PathBuf {
        self.dir.join(task_id)
    }

    fn address_file(&self, task_id: &str) -> PathBuf {
        self.dir.join(format!("{task_id}.ip"))
    }

    /// The address task `task_id` holds on this node, if it is attached.
    pub fn address_of(&self, task_id: &str) -> Option<Ipv4Addr> {
        std::fs::read_to_string(self.address_file(task_id))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Tasks with a namespace here.
    pub fn attached(&self) -> Vec<String> {
        netns::list(&self.dir)
    }

    /// Every address a container on this node holds (attached tasks' records).
    pub fn taken(&self) -> BTreeSet<Ipv4Addr> {
        self.attached()
            .iter()
            .filter_map(|t| self.address_of(t))
            .collect()
    }

    pub(crate) async fn link(&self, name: &str) -> Result<Option<LinkMessage>, NetError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute();
        match links.try_next().await {
            Ok(link) => Ok(link),
            Err(e) if is_errno(&e, libc::ENODEV) => Ok(None),
            Err(e) => Err(NetError::netlink(format!("get link {name}"))(e)),
        }
    }

    pub(crate) async fn link_index(&self, name: &str) -> Result<Option<u32>, NetError> {
        Ok(self.link(name).await?.map(|l| l.header.index))
    }

    async fn index(&self, name: &str) -> Result<u32, NetError> {
        self.link(name)
            .await?
            .map(|l| l.header.index)
            .ok_or_else(|| NetError::NoInterface(name.to_owned()))
    }

    /// Makes `orc0` exist, up, holding `block`'s `.1/24`; turns on IPv4 forwarding.
    pub async fn ensure_bridge(&self, block: Ipv4Net) -> Result<u32, NetError> {
        if self.link(BRIDGE).await?.is_none() {
            let add = self.handle.link().add(LinkBridge::new(BRIDGE).build());
            match add.execute().await {
                Err(e) if !is_errno(&e, libc::EEXIST) => {
                    return Err(NetError::netlink("add bridge orc0")(e))
                }
                _ => {}
            }
        }
        let index = self.index(BRIDGE).await?;
        let gw = gateway(block);
        match self
            .handle
            .address()
            .add(index, IpAddr::V4(gw), 24)
            .execute()
            .await
        {
            Err(e) if !is_errno(&e, libc::EEXIST) => {
                return Err(NetError::netlink(format!("add {gw}/24 to orc0"))(e))
            }
            _ => {}
        }
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(NetError::netlink("set orc0 up"))?;
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
            .map_err(NetError::io("enable ip_forward"))?;
        // Bridged traffic through the ip family's hooks: network isolation between
        // containers of one node depends on it.
        if let Err(e) = std::fs::write("/proc/sys/net/bridge/bridge-nf-call-iptables", "1") {
            tracing::warn!(
                "br_netfilter unavailable ({e}): containers of one node are not isolated"
            );
        }
        Ok(index)
    }

    /// Gives task `task_id` a namespace with `eth0` at `address` in `block`, routed via
    /// the bridge; returns the namespace's path for the OCI spec.
    pub async fn attach(
        &self,
        task_id: &str,
        block: Ipv4Net,
        address: Ipv4Addr,
        mtu: u32,
    ) -> Result<PathBuf, NetError> {
        let bridge = self.ensure_bridge(block).await?;
        self.detach(task_id).await?;
        self.forget_neighbour(address).await?;
        let path = self.netns_path(task_id);
        netns::create(&path)?;
        let record = self.address_file(task_id);
        std::fs::write(&record, address.to_string())
            .map_err(NetError::io(format!("write {}", record.display())))?;
        let (host, peer) = (veth_name(task_id), peer_name(task_id));
        self.handle
            .link()
            .add(LinkVeth::new(&host, &peer).mtu(mtu).build())
            .execute()
            .await
            .map_err(NetError::netlink(format!("add veth {host}")))?;
        let peer_index = self.index(&peer).await?;
        let ns =
            std::fs::File::open(&path).map_err(NetError::io(format!("open {}", path.display())))?;
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(peer_index)
                    .setns_by_fd(ns.as_raw_fd())
                    .build(),
            )
            .execute()
            .await
            .map_err(NetError::netlink(format!(
                "move {peer} into the container's netns"
            )))?;
        let host_index = self.index(&host).await?;
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(host_index)
                    .controller(bridge)
                    .mtu(mtu)
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(NetError::netlink(format!("plug {host} into orc0")))?;
        // Hairpin: a container may reach its own node's published ports (DNAT back
        // out of the port it came in on).
        self.handle
            .link()
            .set_port(LinkBridgePort::new(host_index).hairpin(true).build())
            .execute()
            .await
            .map_err(NetError::netlink(format!("hairpin on {host}")))?;
        let gw = gateway(block);
        netns::within(&path, move |h| inside(h, peer, address, gw, mtu))?;
        Ok(path)
    }

    /// Removes task `task_id`'s veth, namespace and address record; absent is success.
    pub async fn detach(&self, task_id: &str) -> Result<(), NetError> {
        if let Some(address) = self.address_of(task_id) {
            self.forget_neighbour(address).await?;
        }
        if let Some(link) = self.link(&veth_name(task_id)).await? {
            match self.handle.link().del(link.header.index).execute().await {
                Err(e) if !is_errno(&e, libc::ENODEV) => {
                    return Err(NetError::netlink("delete veth")(e))
                }
                _ => {}
            }
        }
        netns::remove(&self.netns_path(task_id))?;
        for ext in ["ip", "resolv", "hosts"] {
            let _ = std::fs::remove_file(self.dir.join(format!("{task_id}.{ext}")));
        }
        Ok(())
    }

    /// Writes the container's resolv.conf (the node's DNS on the bridge) and hosts file
    /// (localhost, its own name at its address); returns their paths to bind-mount.
    pub fn write_resolver_files(
        &self,
        task_id: &str,
        dns: Ipv4Addr,
        address: Ipv4Addr,
        hostname: &str,
        extra: &ResolverExtras,
    ) -> Result<(PathBuf, PathBuf), NetError> {
        let resolv = self.dir.join(format!("{task_id}.resolv"));
        let hosts = self.dir.join(format!("{task_id}.hosts"));
        std::fs::write(&resolv, resolv_conf(dns, extra))
            .map_err(NetError::io(format!("write {}", resolv.display())))?;
        let mut hosts_text =
            format!("127.0.0.1\tlocalhost\n::1\tlocalhost\n{address}\t{hostname}\n");
        for (name, ip) in &extra.hosts {
            hosts_text.push_str(&format!("{ip}\t{name}\n"));
        }
        std::fs::write(&hosts, hosts_text)
            .map_err(NetError::io(format!("write {}", hosts.display())))?;
        Ok((resolv, hosts))
    }

    /// Makes orc's routes exactly `routes` (block → the node that holds it, or with
    /// `dev`, → the peer's VTEP address on that device, onlink).
    pub async fn sync_routes(
        &self,
        routes: &[(Ipv4Net, Ipv4Addr)],
        dev: Option<u32>,
    ) -> Result<(), NetError> {
        for r in self.orc_route_messages().await? {
            let wanted = route_of(&r).is_some_and(|k| routes.contains(&k));
            if !wanted {
                match self.handle.route().del(r).execute().await {
                    Err(e) if !is_errno(&e, libc::ESRCH) => {
                        return Err(NetError::netlink("delete route")(e))
                    }
                    _ => {}
                }
            }
        }
        for (block, via) in routes {
            let mut msg = RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(block.addr, block.prefix)
                .gateway(*via)
                .protocol(RouteProtocol::Other(ROUTE_PROTOCOL));
            if let Some(dev) = dev {
                msg = msg.output_interface(dev).onlink();
            }
            let msg = msg.build();
            self.handle
                .route()
                .add(msg)
                .replace()
                .execute()
                .await
                .map_err(NetError::netlink(format!("route {block} via {via}")))?;
        }
        Ok(())
    }

    /// Removes every trace of orc's networking on this node — the containers'
    /// namespaces and veths, orc's routes (protocol 79), the `orc0` bridge, the VXLAN
    /// device `orcvx` (its neighbour and FDB entries go with it), table `ip orc` and
    /// `route_localnet` — and says what it removed (nothing found: an empty list).
    /// Leaving a cluster calls it once the containers are gone.
    pub async fn teardown(&self) -> Result<Vec<String>, NetError> {
        let mut removed = Vec::new();
        let tasks = self.attached();
        for task in &tasks {
            self.detach(task).await?;
        }
        if !tasks.is_empty() {
            removed.push(format!(
                "{} container network namespace(s) under {}",
                tasks.len(),
                self.dir.display()
            ));
        }
        let veths = self.stray_veths().await?;
        for (index, name) in &veths {
            match self.handle.link().del(*index).execute().await {
                Err(e) if !is_errno(&e, libc::ENODEV) => {
                    return Err(NetError::netlink(format!("delete veth {name}"))(e))
                }
                _ => {}
            }
        }
        if !veths.is_empty() {
            let names: Vec<&str> = veths.iter().map(|(_, n)| n.as_str()).collect();
            removed.push(format!("veth(s) {}", names.join(", ")));
        }
        let routes = self.orc_routes().await?;
        self.sync_routes(&[], None).await?;
        if !routes.is_empty() {
            let list: Vec<String> = routes
                .iter()
                .map(|(block, via)| format!("{block} via {via}"))
                .collect();
            removed.push(format!("route(s) {}", list.join(", ")));
        }
        for (name, what) in [(BRIDGE, "bridge"), (crate::VXLAN_DEV, "VXLAN device")] {
            if let Some(link) = self.link(name).await? {
                match self.handle.link().del(link.header.index).execute().await {
                    Err(e) if !is_errno(&e, libc::ENODEV) => {
                        return Err(NetError::netlink(format!("delete {name}"))(e))
                    }
                    _ => removed.push(format!("{what} {name}")),
                }
            }
        }
        let table = tokio::task::spawn_blocking(crate::nft::remove)
            .await
            .map_err(|e| NetError::Io {
                op: "remove table ip orc".into(),
                source: std::io::Error::other(e.to_string()),
            })??;
        if table {
            removed.push(format!("nftables table ip {}", crate::nft::TABLE));
        }
        // The directory of pinned namespaces, when nothing else is left in it.
        let _ = std::fs::remove_dir(&self.dir);
        Ok(removed)
    }

    /// orc's route messages (protocol 79) now in the kernel.
    async fn orc_route_messages(&self) -> Result<Vec<RouteMessage>, NetError> {
        let all: Vec<RouteMessage> = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .map_err(NetError::netlink("list routes"))?;
        Ok(all
            .into_iter()
            .filter(|r| r.header.protocol == RouteProtocol::Other(ROUTE_PROTOCOL))
            .collect())
    }

    /// orc's routes (protocol 79) now in the kernel.
    async fn orc_routes(&self) -> Result<Vec<(Ipv4Net, Ipv4Addr)>, NetError> {
        Ok(self
            .orc_route_messages()
            .await?
            .iter()
            .filter_map(route_of)
            .collect())
    }

    /// Host-side veths named like orc's (`orc` + 12 characters) still in this namespace
    /// (their container's namespace is gone or held elsewhere): index and name.
    async fn stray_veths(&self) -> Result<Vec<(u32, String)>, NetError> {
        use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo};
        let links: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(NetError::netlink("list links"))?;
        Ok(links
            .iter()
            .filter_map(|l| {
                let name = l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                })?;
                let veth = l.attributes.iter().any(|a| {
                    matches!(a, LinkAttribute::LinkInfo(infos)
                        if infos.iter().any(|i| matches!(i, LinkInfo::Kind(InfoKind::Veth))))
                });
                (veth && name.starts_with(VETH_PREFIX) && name.len() == VETH_PREFIX.len() + 12)
                    .then_some((l.header.index, name))
            })
            .collect())
    }
}

/// `(destination block, gateway)` of one of orc's routes.
fn route_of(r: &RouteMessage) -> Option<(Ipv4Net, Ipv4Addr)> {
    let mut dst = None;
    let mut via = None;
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => dst = Some(*ip),
            RouteAttribute::Gateway(RouteAddress::Inet(ip)) => via = Some(*ip),
            _ => {}
        }
    }
    Some((
        Ipv4Net {
            addr: dst?,
            prefix: r.header.destination_prefix_length,
        },
        via?,
    ))
}

/// Inside the container's namespace: lo up, the veth renamed eth0 with its address and
/// MTU, a default route via the bridge.
async fn inside(
    h: Handle,
    peer: String,
    address: Ipv4Addr,
    gw: Ipv4Addr,
    mtu: u32,
) -> Result<(), NetError> {
    let index_of = |name: String| {
        let h = h.clone();
        async move {
            let mut links = h.link().get().match_name(name.clone()).execute();
            match links.try_next().await {
                Ok(Some(l)) => Ok(l.header.index),
                _ => Err(NetError::NoInterface(name)),
            }
        }
    };
    let lo = index_of("lo".into()).await?;
    h.link()
        .set(LinkUnspec::new_with_index(lo).up().build())
        .execute()
        .await
        .map_err(NetError::netlink("lo up"))?;
    let eth = index_of(peer).await?;
    h.link()
        .set(
            LinkUnspec::new_with_index(eth)
                .name("eth0")
                .mtu(mtu)
                .build(),
        )
        .execute()
        .await
        .map_err(NetError::netlink("rename eth0"))?;
    h.link()
        .set(LinkUnspec::new_with_index(eth).up().build())
        .execute()
        .await
        .map_err(NetError::netlink("eth0 up"))?;
    h.address()
        .add(eth, IpAddr::V4(address), 24)
        .execute()
        .await
        .map_err(NetError::netlink(format!("add {address}/24 to eth0")))?;
    h.route()
        .add(RouteMessageBuilder::<Ipv4Addr>::new().gateway(gw).build())
        .execute()
        .await
        .map_err(NetError::netlink("default route"))?;
    Ok(())
}

/// What a service adds to its containers' /etc/hosts and /etc/resolv.conf
/// (`extra_hosts`, `dns_search`, `dns_options`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolverExtras {
    /// (hostname, IP address) lines for /etc/hosts.
    pub hosts: Vec<(String, String)>,
    /// Search domains.
    pub search: Vec<String>,
    /// Resolver options besides `ndots:0` (a given `ndots:N` replaces it).
    pub options: Vec<String>,
}

/// The container's resolv.conf: orc's DNS on the bridge, then the search domains and
/// options.
pub fn resolv_conf(dns: Ipv4Addr, extra: &ResolverExtras) -> String {
    let mut text = format!("nameserver {dns}\n");
    if !extra.search.is_empty() {
        text.push_str(&format!("search {}\n", extra.search.join(" ")));
    }
    let mut options = Vec::new();
    if !extra.options.iter().any(|o| o.starts_with("ndots:")) {
        options.push("ndots:0".to_string());
    }
    options.extend(extra.options.iter().cloned());
    text.push_str(&format!("options {}\n", options.join(" ")));
    text
}

#[cfg(test)]
mod resolver_tests {
    use super::*;

    #[test]
    fn resolv_conf_keeps_orcs_dns_first_and_adds_search_and_options() {
        let dns = Ipv4Addr::new(10, 201, 3, 1);
        assert_eq!(
            resolv_conf(dns, &ResolverExtras::default()),
            "nameserver 10.201.3.1\noptions ndots:0\n"
        );
        let extra = ResolverExtras {
            hosts: vec![],
            search: vec!["home.lan".into(), "lan".into()],
            options: vec!["ndots:2".into(), "timeout:1".into()],
        };
        assert_eq!(
            resolv_conf(dns, &extra),
            "nameserver 10.201.3.1\nsearch home.lan lan\noptions ndots:2 timeout:1\n"
        );
    }
}
