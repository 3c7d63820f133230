//! orc's cluster PKI: the security boundary between nodes.
//!
//! - [`ClusterCa`]: the cluster's certificate authority, made by `orc cluster
//!   init`; it issues a [`NodeCert`] to every node at join, with the node id
//!   and [`Role`] written in it ([`identity`] says where; [`peer_identity`]
//!   reads them back).
//! - [`JoinToken`]: `ORC1-<m|w>-<CA fingerprint>-<secret>`. The joiner checks
//!   the cluster by the fingerprint ([`join_endpoint`] / [`JoinVerifier`]); the
//!   manager checks the joiner by the secret, of which it stores only a hash
//!   ([`hash_secret`], [`check_secret_hash`]).
//! - Files ([`save_node_files`], [`load_node_files`], [`save_ca`], [`load_ca`]):
//!   keys 0600, certificates 0644, directory 0700, written atomically.
//! - TLS for tonic: [`server_tls`] (client certificates from the cluster CA,
//!   optional so the join RPC is reachable), [`client_tls`] / [`node_endpoint`]
//!   (mutual TLS, server checked by [`PeerName`]), and [`authenticate`] /
//!   [`RequireNodeCertLayer`] to refuse calls without a member's certificate.
//!
//! # The join, end to end
//! 1. `cluster init`: `ClusterCa::generate`, `save_ca`, issue the first
//!    manager's own certificate, `save_node_files`; create one token per role
//!    and store only `token.secret_hash()` per role in Raft.
//! 2. joiner: `JoinToken::parse`, `connect_join(addr, &token.ca_fingerprint)`,
//!    send the token string over that channel.
//! 3. manager (join RPC, allow-listed in `RequireNodeCertLayer`):
//!    `JoinToken::parse`, check `token.ca_fingerprint` is its CA's and
//!    `check_secret_hash(stored_hash_for(token.role), &token.secret)`, assign an
//!    id, `ca.issue(id, token.role, hostname, ips)`, return the `NodeCert` and
//!    `ca.cert_pem()`.
//! 4. joiner: `save_node_files`, then serve with `server_tls` and dial with
//!    `node_endpoint`.
//!
//! # Crypto provider
//! rustls with *ring* only (no aws-lc: the aarch64 musl binary stays static and
//! small). tonic's server side uses rustls' process-default provider, which is
//! ring as long as nothing in the binary enables rustls' `aws_lc_rs` feature.
//!
//! # Not done yet
//! Certificate renewal (node certificates last a year), CSR-based issuance (the
//! manager generates the node key today), revocation towards clients (a removed
//! manager's certificate is refused by servers through [`authenticate`] but
//! still accepted by clients until it expires), and keeping the CA key in Raft.

mod auth;
mod ca;
mod error;
mod files;
pub mod identity;
mod join;
mod node;
mod pem;
mod tls;
mod token;

pub use auth::{authenticate, MembershipCheck, PeerNode, RequireNodeCert, RequireNodeCertLayer};
pub use ca::{fingerprint_of, ClusterCa, CA_VALIDITY, CLOCK_SKEW_ALLOWANCE, NODE_CERT_VALIDITY};
pub use error::{PkiError, Result, TokenError};
pub use files::{
    load_ca, load_node_files, read_key_file, replace_node_cert, save_ca, save_node_files,
    write_key_file, CA_CERT_FILE, CA_KEY_FILE, NODE_CERT_FILE, NODE_KEY_FILE,
};
pub use identity::{node_dns_name, peer_identity, PeerName, Role, MANAGER_DNS_NAME};
pub use join::{connect_join, join_endpoint, CaFingerprintMismatch, JoinVerifier};
pub use node::{NodeCert, NodeFiles};
pub use tls::{client_tls, node_endpoint, server_tls, TLS_HANDSHAKE_TIMEOUT};
pub use token::{check_secret_hash, constant_time_eq, hash_secret, JoinToken};
