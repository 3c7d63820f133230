//! `orc cluster init --subnet --network-driver`: the container network's settings,
//! checked against the networks this node already routes (a subnet overlapping the LAN
//! would cut the boards off from it).

use crate::DaemonError;
use orc_model::{ClusterNetwork, Ipv4Net, NetworkDriver, DEFAULT_SUBNET};
use std::net::Ipv4Addr;

/// The cluster network from the init flags, refused if it overlaps a route of this node.
pub(crate) fn cluster_network(
    subnet: Option<&str>,
    driver: Option<&str>,
) -> Result<ClusterNetwork, DaemonError> {
    let text = subnet.unwrap_or(DEFAULT_SUBNET);
    let net = Ipv4Net::parse(text).map_err(|e| DaemonError::Invalid(format!("--subnet: {e}")))?;
    let driver = NetworkDriver::parse(driver.unwrap_or("host-gw"))
        .map_err(|e| DaemonError::Invalid(format!("--network-driver: {e}")))?;
    let network = ClusterNetwork::new(net, driver)
        .map_err(|e| DaemonError::Invalid(format!("--subnet: {e}")))?;
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    if let Some((dest, dev)) = local_routes(&routes)
        .into_iter()
        .find(|(dest, dev)| dest.prefix > 0 && dev != crate::BRIDGE_NAME && dest.overlaps(net))
    {
        return Err(DaemonError::Invalid(format!(
            "--subnet {net} overlaps {dest}, a network this node already reaches on {dev}; \
             choose another subnet"
        )));
    }
    Ok(network)
}

/// `(destination, device)` of every IPv4 route in `/proc/net/route` text.
fn local_routes(text: &str) -> Vec<(Ipv4Net, String)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dev = f.first()?;
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The kernel prints them in host byte order (little-endian here).
            let addr = Ipv4Addr::from(u32::from_be(dest.to_le()));
            let prefix = u32::from_be(mask.to_le()).leading_ones() as u8;
            Some((Ipv4Net { addr, prefix }, dev.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_route_parses() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let routes = local_routes(text);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[1].0.to_string(), "192.168.1.0/24");
        assert_eq!(routes[0].0.prefix, 0);
    }
}
