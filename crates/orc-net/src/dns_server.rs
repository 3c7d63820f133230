//! The DNS server orc runs on the node's bridge address (UDP port 53): service names
//! from the [`Directory`], scoped to the asking container, and reverse (PTR) lookups of
//! the task addresses on its networks; any other question is forwarded to the node's
//! own resolvers and the answer relayed.

use crate::dns::{
    answer, answer_ptr, nameservers, parse_query, reverse_address, servfail, TYPE_PTR,
};
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
/// the node's resolvers (from its resolv.conf); a service that sets `dns` has its
/// tasks' other names forwarded to those servers instead.
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
        let reverse = (q.qtype == TYPE_PTR)
            .then(|| reverse_address(&q.name))
            .flatten()
            .and_then(|a| directory.borrow().reverse(asker, a).map(str::to_owned));
        if let Some(name) = reverse {
            let _ = socket.send_to(&answer_ptr(&query, &q, &name), from).await;
            continue;
        }
        let local = directory
            .borrow()
            .resolve(asker, &q.name)
            .map(<[_]>::to_vec);
        if let Some(addresses) = local {
            let _ = socket.send_to(&answer(&query, &q, &addresses), from).await;
            continue;
        }
        // A service with its own name servers (`dns`) has its other names sent there.
        let custom = directory.borrow().upstream_for(asker).map(<[_]>::to_vec);
        let upstream = match custom {
            Some(servers) => Arc::new(servers),
            None => upstream.clone(),
        };
        let socket = socket.clone();
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

#[cfg(test)]
mod tests {
    use super::*;
    use orc_model::DirectoryEntry;

    /// A query for `example.com` A.
    fn query(id: u16) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in ["example", "com"] {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        q
    }

    /// A fake resolver on `addr:53` that answers every query with the query's bytes
    /// followed by `mark`.
    async fn fake_upstream(addr: Ipv4Addr, mark: u8) -> tokio::task::JoinHandle<()> {
        let s = UdpSocket::bind((addr, 53)).await.unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 1500];
            while let Ok((n, from)) = s.recv_from(&mut buf).await {
                let mut reply = buf[..n].to_vec();
                reply.push(mark);
                let _ = s.send_to(&reply, from).await;
            }
        })
    }

    #[tokio::test]
    async fn a_services_dns_servers_answer_its_other_names() {
        // Loopback addresses of this test only (127.0.0.0/8 all reaches lo).
        let ip = |d: u8| Ipv4Addr::new(127, 77, 53, d);
        let (server, node_dns, custom_dns, with_dns, without) = (ip(1), ip(2), ip(3), ip(4), ip(5));
        let up1 = fake_upstream(node_dns, 2).await;
        let up2 = fake_upstream(custom_dns, 3).await;
        let entry = |name: &str, member: Ipv4Addr, dns: Vec<IpAddr>| DirectoryEntry {
            stack: "s".into(),
            short_name: name.into(),
            name: format!("s_{name}"),
            networks: vec!["default".into()],
            running: vec![member],
            members: vec![member],
            ports: Vec::new(),
            dns,
        };
        let directory = Directory {
            entries: vec![
                entry("custom", with_dns, vec![IpAddr::V4(custom_dns)]),
                entry("plain", without, Vec::new()),
            ],
        };
        let (tx, rx) = watch::channel(Arc::new(directory));
        let dns = tokio::spawn(serve(server, rx, vec![IpAddr::V4(node_dns)]));
        for (asker, want) in [(with_dns, 3u8), (without, 2u8)] {
            let client = UdpSocket::bind((asker, 0)).await.unwrap();
            let q = query(7);
            let mut buf = vec![0u8; 1500];
            // The server may still be binding: retry until it answers (bounded).
            let mut got = None;
            for _ in 0..50 {
                client.send_to(&q, (server, 53)).await.unwrap();
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(200), client.recv(&mut buf)).await
                {
                    got = Some(buf[..n].to_vec());
                    break;
                }
            }
            let got = got.expect("the DNS server answers");
            assert_eq!(
                got.last(),
                Some(&want),
                "asker {asker} went to the wrong upstream"
            );
        }
        drop(tx);
        let _ = dns.await;
        up1.abort();
        up2.abort();
    }
}
