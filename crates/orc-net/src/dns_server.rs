//! The DNS server orc runs on the node's bridge address (UDP port 53): service names
//! from the [`Directory`], scoped to the asking container; any other name is forwarded
//! to the node's own resolvers and the answer relayed.

use crate::dns::{answer, nameservers, parse_query, servfail};
use crate::NetError;
use orc_model::Directory;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::watch;

/// How long an upstream resolver may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves DNS on `listen:53` until the directory's sender is dropped. `upstream` are
/// the node's resolvers (from its resolv.conf).
pub async fn serve(
    listen: Ipv4Addr,
    directory: watch::Receiver<Arc<Directory>>,
    upstream: Vec<IpAddr>,
) -> Result<(), NetError> {
    let socket = UdpSocket::bind((listen, 53))
        .await
        .map_err(NetError::io(format!("bind DNS on {listen}:53")))?;
    let socket = Arc::new(socket);
    let upstream = Arc::new(upstream);
    let mut buf = vec![0u8; 1500];
    loop {
        let (n, from) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!("dns recv: {e}");
                    continue;
                }
            },
            _ = closed(directory.clone()) => return Ok(()),
        };
        let query = buf[..n].to_vec();
        let Some(q) = parse_query(&query) else {
            continue;
        };
        let asker = match from.ip() {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => continue,
        };
        let local = directory
            .borrow()
            .resolve(asker, &q.name)
            .map(<[_]>::to_vec);
        if let Some(addresses) = local {
            let _ = socket.send_to(&answer(&query, &q, &addresses), from).await;
            continue;
        }
        let (socket, upstream) = (socket.clone(), upstream.clone());
        tokio::spawn(async move {
            let reply = match forward(&query, &upstream).await {
                Some(r) => r,
                None => servfail(&query, &q),
            };
            let _ = socket.send_to(&reply, from).await;
        });
    }
}

async fn closed(mut rx: watch::Receiver<Arc<Directory>>) {
    while rx.changed().await.is_ok() {}
}

/// Asks each upstream in turn; the first answer wins.
async fn forward(query: &[u8], upstream: &[IpAddr]) -> Option<Vec<u8>> {
    for server in upstream {
        let bind: SocketAddr = match server {
            IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let Ok(s) = UdpSocket::bind(bind).await else {
            continue;
        };
        if s.send_to(query, (*server, 53)).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(UPSTREAM_TIMEOUT, s.recv(&mut buf)).await {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

/// The node's resolvers, from its resolv.conf at `path` (none if unreadable).
pub fn node_resolvers(path: &std::path::Path) -> Vec<IpAddr> {
    std::fs::read_to_string(path)
        .map(|t| nameservers(&t))
        .unwrap_or_default()
}
