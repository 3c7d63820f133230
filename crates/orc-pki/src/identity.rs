//! How a node's identity is written into its certificate, and read back.
//!
//! A node certificate issued by [`ClusterCa::issue`](crate::ClusterCa::issue) carries:
//!
//! | field | value | used for |
//! |---|---|---|
//! | subject CN | `orc-node-<id as 16 hex digits>` | humans (`openssl x509 -text`) |
//! | subject OU | `manager` or `worker` | humans |
//! | SAN URI | `orc:node:<id as 16 hex digits>:<manager\|worker>` | [`peer_identity`]: the authoritative identity |
//! | SAN DNS | `orc-node-<id as 16 hex digits>` | verifying a peer whose id is known ([`PeerName::Node`]) |
//! | SAN DNS | `orc-manager` (managers only) | verifying "any manager" ([`PeerName::AnyManager`]) |
//! | SAN IP | the addresses given at issue time | tools that dial by IP (grpcurl, openssl) |
//!
//! [`peer_identity`] insists that these agree with each other, so a certificate
//! that is not exactly what orc issues is refused even if some CA signed it.
//! Everything here is parsed by `rustls-webpki` (the same parser rustls uses for
//! the handshake): orc has no ASN.1 parser of its own on the network path.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{PkiError, Result};

/// The DNS name every manager certificate carries, so a node that dials a
/// manager by address (without knowing its id) can still insist on a manager.
pub const MANAGER_DNS_NAME: &str = "orc-manager";

/// The role a node was admitted with; it is fixed in the node's certificate.
///
/// Promotion and demotion change the role in the cluster state but not in an
/// already issued certificate: authorization must compare the role from
/// [`peer_identity`] with the cluster state (see [`authenticate`](crate::authenticate)),
/// and a promoted or demoted node needs a new certificate (future work).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A Raft voter that answers the CLI and schedules.
    Manager,
    /// A node that only runs tasks.
    Worker,
}

impl Role {
    /// The lowercase name used in certificates and tokens' documentation: `manager` / `worker`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Worker => "worker",
        }
    }

    /// The one-letter form used in join tokens: `m` / `w`.
    pub fn token_char(self) -> char {
        match self {
            Role::Manager => 'm',
            Role::Worker => 'w',
        }
    }

    fn from_str_exact(s: &str) -> Option<Role> {
        match s {
            "manager" => Some(Role::Manager),
            "worker" => Some(Role::Worker),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name a TLS client expects the server's certificate to carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerName {
    /// Exactly this node (DNS SAN `orc-node-<016x id>`): used when the caller
    /// knows whom it dials, e.g. a manager dialling another Raft member.
    Node(u64),
    /// Any manager of the cluster (DNS SAN `orc-manager`): used when a node
    /// dials an address without knowing the id behind it, e.g. a worker or a
    /// joining node dialling `--join 192.168.1.11:4747` or the cluster VIP.
    AnyManager,
}

impl PeerName {
    /// The DNS name checked against the server certificate.
    pub fn dns_name(self) -> String {
        match self {
            PeerName::Node(id) => node_dns_name(id),
            PeerName::AnyManager => MANAGER_DNS_NAME.to_string(),
        }
    }
}

/// `orc-node-<id as 16 lowercase hex digits>`: the certificate CN and DNS SAN of a node.
pub fn node_dns_name(node_id: u64) -> String {
    format!("orc-node-{node_id:016x}")
}

/// `orc:node:<id as 16 hex digits>:<role>`: the URI SAN that carries the identity.
pub(crate) fn node_uri(node_id: u64, role: Role) -> String {
    format!("orc:node:{node_id:016x}:{role}")
}

/// Reads the node id and role back from a DER certificate issued by
/// [`ClusterCa::issue`](crate::ClusterCa::issue).
///
/// This does **not** check who signed the certificate: it is meant for
/// certificates the TLS layer has already verified against the cluster CA
/// (tonic's `Request::peer_certs()`, first element). It does check that the
/// certificate has exactly one `orc:node:` URI and that the DNS names agree
/// with it (`orc-node-<id>`, and `orc-manager` if and only if the role is manager).
pub fn peer_identity(cert_der: &[u8]) -> Result<(u64, Role)> {
    let der = rustls_pki_types::CertificateDer::from(cert_der);
    let cert =
        webpki::EndEntityCert::try_from(&der).map_err(|e| PkiError::cert("peer certificate", e))?;

    let mut uris = cert
        .valid_uri_names()
        .filter(|u| u.starts_with("orc:node:"));
    let uri = uris
        .next()
        .ok_or_else(|| PkiError::NotOrcCertificate("no orc:node: URI name".into()))?;
    if uris.next().is_some() {
        return Err(PkiError::NotOrcCertificate(
            "more than one orc:node: URI name".into(),
        ));
    }
    let (id, role) = parse_node_uri(uri)?;

    let dns: Vec<&str> = cert.valid_dns_names().collect();
    if !dns.iter().any(|n| *n == node_dns_name(id)) {
        return Err(PkiError::NotOrcCertificate(format!(
            "URI names node {id:016x} but DNS name {} is missing",
            node_dns_name(id)
        )));
    }
    let has_manager_name = dns.contains(&MANAGER_DNS_NAME);
    if has_manager_name != (role == Role::Manager) {
        return Err(PkiError::NotOrcCertificate(format!(
            "role {role} disagrees with the {MANAGER_DNS_NAME} DNS name"
        )));
    }
    Ok((id, role))
}

fn parse_node_uri(uri: &str) -> Result<(u64, Role)> {
    let bad = || PkiError::NotOrcCertificate(format!("malformed node URI {uri:?}"));
    let rest = uri.strip_prefix("orc:node:").ok_or_else(bad)?;
    let (id_hex, role) = rest.split_once(':').ok_or_else(bad)?;
    if id_hex.len() != 16 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let id = u64::from_str_radix(id_hex, 16).map_err(|_| bad())?;
    let role = Role::from_str_exact(role).ok_or_else(bad)?;
    Ok((id, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_uri_round_trips() {
        for (id, role) in [
            (0, Role::Worker),
            (u64::MAX, Role::Manager),
            (42, Role::Manager),
        ] {
            assert_eq!(parse_node_uri(&node_uri(id, role)).unwrap(), (id, role));
        }
    }

    #[test]
    fn malformed_node_uris_are_refused() {
        for uri in [
            "orc:node:2a:manager",
            "orc:node:000000000000002a:admin",
            "orc:node:000000000000002a",
            "orc:node:+00000000000002a:worker",
            "orc:node:000000000000002g:worker",
            "orc:nod:000000000000002a:worker",
        ] {
            assert!(parse_node_uri(uri).is_err(), "{uri} accepted");
        }
    }

    #[test]
    fn names() {
        assert_eq!(node_dns_name(42), "orc-node-000000000000002a");
        assert_eq!(PeerName::AnyManager.dns_name(), "orc-manager");
        assert_eq!(Role::Worker.to_string(), "worker");
    }
}
