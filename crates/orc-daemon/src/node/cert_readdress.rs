//! A manager that moved gets a certificate naming its new IP. Managers hold the CA
//! key, so it signs its own, for its existing key: only `node.pem` is replaced (one
//! atomic write). The IP SANs are informational (peers verify the `orc-node-<id>` /
//! `orc-manager` names), so the running daemon keeps serving the certificate it
//! loaded; the new one is used from the next start.

use crate::cluster::ca_key::CaKeys;
use crate::cluster::security;
use crate::{DaemonConfig, DaemonError};
use std::net::IpAddr;
use std::sync::Arc;

/// Reissues this manager's certificate for `ip` (not while locked: it keeps the old one).
pub(crate) fn reissue(cfg: &DaemonConfig, keys: &CaKeys, ip: IpAddr) -> Result<(), DaemonError> {
    let ca = keys.ca()?;
    let files = security::load_node(cfg)?;
    let cert = ca
        .reissue(
            files.node_id(),
            files.role(),
            &cfg.hostname,
            &[ip],
            files.key_pem(),
        )
        .map_err(security::pki_err)?;
    orc_pki::replace_node_cert(&security::pki_dir(cfg), &cert).map_err(security::pki_err)?;
    Ok(())
}

/// [`reissue`] off the async runtime, logging the outcome.
pub(crate) async fn reissue_logged(cfg: DaemonConfig, keys: Arc<CaKeys>, address: String) {
    let Ok(addr) = address.parse::<std::net::SocketAddr>() else {
        return;
    };
    let done = tokio::task::spawn_blocking(move || reissue(&cfg, &keys, addr.ip())).await;
    match done {
        Ok(Ok(())) => {
            tracing::info!(ip = %addr.ip(), "node certificate reissued for the new address")
        }
        Ok(Err(e)) => tracing::warn!("reissuing the node certificate: {e}"),
        Err(e) => tracing::warn!("reissuing the node certificate: {e}"),
    }
}
