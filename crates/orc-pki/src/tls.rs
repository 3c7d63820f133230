//! Mutual-TLS configurations for node-to-node gRPC (tonic 0.14, rustls, ring).
//!
//! One listener serves everything:
//! - the server ([`server_tls`]) presents the node's certificate and *asks* for
//!   a client certificate from the cluster CA but does not require one
//!   (`client_auth_optional`), so a node that has no certificate yet can reach
//!   the join RPC. A client certificate that is presented must verify against
//!   the cluster CA or the handshake fails: "no certificate" is the only
//!   unauthenticated case, and a certificate from another CA is never accepted;
//! - every RPC except join must therefore check the caller with
//!   [`authenticate`](crate::authenticate) or sit behind
//!   [`RequireNodeCertLayer`](crate::RequireNodeCertLayer), which does it for
//!   the whole server (default deny, join allow-listed);
//! - clients ([`client_tls`], [`node_endpoint`]) trust only the cluster CA,
//!   present their node certificate and check the server's name
//!   ([`PeerName`]): `orc-node-<id>` when the id is known, `orc-manager` when a
//!   node dials a manager by address.
//!
//! Use [`node_endpoint`] rather than `Endpoint::tls_config` by hand: tonic
//! applies TLS only to `https://` URIs and silently talks plaintext to an
//! `http://` URI even when a TLS config is set.
//!
//! Revocation: a removed node's certificate stays cryptographically valid
//! until it expires. Servers refuse it through the membership check of
//! `authenticate`; clients do not yet refuse a removed *manager* (CRLs or
//! short-lived certificates are future work).

use std::time::Duration;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

use crate::error::{PkiError, Result};
use crate::identity::PeerName;
use crate::node::NodeFiles;

/// How long a TLS handshake may take before the connection is dropped, on
/// both sides (stops a peer from holding a half-open handshake forever).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server side: the node's certificate chain and key, client
/// certificates verified against the cluster CA, optional (see the module docs).
pub fn server_tls(node: &NodeFiles) -> ServerTlsConfig {
    ServerTlsConfig::new()
        .identity(identity(node))
        .client_ca_root(Certificate::from_pem(node.ca_cert_pem()))
        .client_auth_optional(true)
        .timeout(TLS_HANDSHAKE_TIMEOUT)
}

/// The client side: trust only the cluster CA, present this node's
/// certificate, and require the server certificate to carry `server`'s name.
///
/// Only takes effect on `https://` endpoints; prefer [`node_endpoint`].
pub fn client_tls(node: &NodeFiles, server: PeerName) -> ClientTlsConfig {
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(node.ca_cert_pem()))
        .identity(identity(node))
        .domain_name(server.dns_name())
        .timeout(TLS_HANDSHAKE_TIMEOUT)
}

/// An endpoint for `addr` (`host:port`, or an `https://` URI) with
/// [`client_tls`] applied. Refuses any other scheme, so the connection can
/// only be TLS. Connect it with `.connect().await` or `.connect_lazy()`.
pub fn node_endpoint(addr: &str, node: &NodeFiles, server: PeerName) -> Result<Endpoint> {
    Ok(Endpoint::from_shared(https_uri(addr)?)?.tls_config(client_tls(node, server))?)
}

fn identity(node: &NodeFiles) -> Identity {
    Identity::from_pem(node.cert_chain_pem(), node.key_pem())
}

/// `https://addr` for a bare `host:port`; an `https://` URI as is; anything else refused.
pub(crate) fn https_uri(addr: &str) -> Result<String> {
    match addr.split_once("://") {
        None if addr.is_empty() => Err(PkiError::InvalidAddress {
            addr: addr.into(),
            reason: "empty address",
        }),
        None => Ok(format!("https://{addr}")),
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => Ok(addr.to_string()),
        Some(_) => Err(PkiError::InvalidAddress {
            addr: addr.into(),
            reason: "node-to-node traffic is TLS only: give host:port or an https:// URI",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_addresses() {
        assert_eq!(https_uri("10.0.0.1:4747").unwrap(), "https://10.0.0.1:4747");
        assert_eq!(https_uri("[::1]:4747").unwrap(), "https://[::1]:4747");
        assert_eq!(https_uri("https://m1:4747").unwrap(), "https://m1:4747");
        assert!(https_uri("http://10.0.0.1:4747").is_err());
        assert!(https_uri("unix://x").is_err());
        assert!(https_uri("").is_err());
    }
}
