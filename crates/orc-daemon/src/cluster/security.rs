//! Glue to orc-pki: where a node keeps its keys, and join tokens derived from the CA key.
//!
//! A join secret is `sha256(domain ‖ CA key ‖ role ‖ salt)`. Only managers hold the CA
//! key (a root-only file, never in Raft; in memory in [`super::ca_key::CaKeys`]); Raft holds just the public salt. So every
//! manager can print the current token, nothing secret is stored, and rotating a token
//! is committing a new salt.

use crate::{DaemonConfig, DaemonError};
use orc_model::NodeRole;
use orc_pki::{ClusterCa, JoinToken, NodeFiles, Role};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

pub fn pki_dir(cfg: &DaemonConfig) -> PathBuf {
    cfg.data_dir.join("pki")
}

pub fn role(r: NodeRole) -> Role {
    match r {
        NodeRole::Manager => Role::Manager,
        NodeRole::Worker => Role::Worker,
    }
}

pub fn node_role(r: Role) -> NodeRole {
    match r {
        Role::Manager => NodeRole::Manager,
        Role::Worker => NodeRole::Worker,
    }
}

pub fn secret(ca: &ClusterCa, role: NodeRole, salt: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"orc join secret derivation v1\0");
    h.update(ca.to_pem().1.as_bytes());
    h.update([0, role.as_str().as_bytes()[0], 0]);
    h.update(salt.as_bytes());
    hex::encode(h.finalize())
}

pub fn token(ca: &ClusterCa, r: NodeRole, salt: &str) -> JoinToken {
    JoinToken {
        ca_fingerprint: ca.fingerprint(),
        secret: secret(ca, r, salt),
        role: role(r),
    }
}

pub fn load_node(cfg: &DaemonConfig) -> Result<NodeFiles, DaemonError> {
    orc_pki::load_node_files(&pki_dir(cfg))
        .map_err(|e| DaemonError::Invalid(format!("node certificate: {e}")))
}

pub fn pki_err(e: orc_pki::PkiError) -> DaemonError {
    DaemonError::Invalid(e.to_string())
}

/// The leader's side of a promotion: a manager certificate for the node, and the CA key.
pub(crate) fn manager_credentials(
    keys: &super::ca_key::CaKeys,
    node: &orc_model::Node,
) -> Result<orc_rpc::wire::ForwardReply, DaemonError> {
    let ca = keys.ca()?;
    let ips: Vec<std::net::IpAddr> = node
        .address
        .parse::<std::net::SocketAddr>()
        .map(|a| vec![a.ip()])
        .unwrap_or_default();
    let cert = ca
        .issue(node.id, orc_pki::Role::Manager, &node.hostname, &ips)
        .map_err(pki_err)?;
    Ok(orc_rpc::wire::ForwardReply::Credentials {
        cert_chain_pem: cert.cert_chain_pem.clone(),
        key_pem: cert.key_pem.clone(),
        ca_key_pem: ca.to_pem().1,
        address: node.address.clone(),
    })
}
