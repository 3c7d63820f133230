//! Table `ip orc` (published ports and stack-network isolation) applied through
//! nf_tables netlink messages built in Rust: no `nft` tool, no C library, static builds.
//!
//! The ruleset is first a typed, pure model ([`Ruleset`], built from the directory),
//! rendered two ways: `nft -f` text ([`Ruleset::text`], for people and the fallback) and
//! one netlink batch (NFNL_MSG_BATCH_BEGIN … END) that creates the table if missing,
//! deletes it and recreates it with its chains, sets, set elements and rules — one
//! kernel transaction, so a refused batch leaves the previous table untouched. Every
//! message asks for an ACK; a refusal names the object (table, chain, set, rule).
//!
//! The socket is opened in the calling thread's network namespace (the daemon's own).
//! Fallback: when the kernel answers that nf_tables is not there (EPROTONOSUPPORT,
//! EAFNOSUPPORT, EOPNOTSUPP) and the `nft` tool is installed, the text goes through
//! `nft -f -` instead. Which path applied is logged once.

mod attr;
mod batch;
mod expr;
mod model;
mod rules;
mod socket;
pub(crate) mod text;
pub mod tool;

pub use model::{Isolation, Published, Ruleset};

use crate::NetError;
use socket::Failure;
use std::sync::atomic::{AtomicU8, Ordering};

/// The nftables table orc owns.
pub const TABLE: &str = "orc";
/// The chain (prerouting, before conntrack) that drops anything addressing 127.0.0.0/8
/// from outside the node: published ports need `route_localnet`, which would let it in.
pub const GUARD: &str = "loopback";

/// Which paths have been logged (bit 1: netlink, bit 2: the nft tool).
static LOGGED: AtomicU8 = AtomicU8::new(0);

fn log_path(bit: u8, what: &str) {
    if LOGGED.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
        tracing::info!("nftables: table ip {TABLE} applied {what}");
    }
}

impl Failure {
    /// Whether the kernel lacks nf_tables (then the `nft` tool may do better).
    fn unsupported(&self) -> bool {
        let code = match self {
            Failure::Socket { source, .. } => source.raw_os_error(),
            Failure::Refused { errno, .. } => Some(*errno),
        };
        matches!(
            code,
            Some(libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT | libc::EOPNOTSUPP)
        )
    }
}

impl From<Failure> for NetError {
    fn from(f: Failure) -> NetError {
        match f {
            Failure::Socket { op, source } => NetError::Io {
                op: op.into(),
                source,
            },
            Failure::Refused { object, errno } => NetError::Nft {
                object,
                source: std::io::Error::from_raw_os_error(errno),
            },
        }
    }
}

/// Replaces table `ip orc` with `ruleset` through netlink only (no fallback).
pub fn apply_netlink(ruleset: &Ruleset) -> Result<(), NetError> {
    socket::send(&batch::encode(ruleset, 0)).map_err(NetError::from)
}

/// Replaces table `ip orc` with `ruleset` (removes it when empty): netlink, or the `nft`
/// tool when the kernel has no nf_tables netlink and the tool is installed.
///
/// The kernel switches published ports need follow the table
/// ([`crate::ingress::kernel_paths`]): turned off before a table without ports replaces
/// one with them, turned on once the table holding the loopback guard is in.
pub fn apply(ruleset: &Ruleset) -> Result<(), NetError> {
    let published = !ruleset.ports.is_empty();
    if !published {
        crate::ingress::kernel_paths(false)?;
    }
    match socket::send(&batch::encode(ruleset, 0)) {
        Ok(()) => log_path(1, "through nf_tables netlink"),
        Err(f) if f.unsupported() && tool::available() => {
            tool::apply(&ruleset.text())?;
            log_path(
                2,
                &format!("with the nft tool (netlink: {})", NetError::from(f)),
            );
        }
        Err(f) => return Err(f.into()),
    }
    if published {
        crate::ingress::kernel_paths(true)?;
    }
    Ok(())
}

/// Removes table `ip orc` (and turns `route_localnet` off); true when it existed.
pub fn remove() -> Result<bool, NetError> {
    if !exists() {
        crate::ingress::kernel_paths(false)?;
        return Ok(false);
    }
    apply(&Ruleset::none())?;
    Ok(true)
}

/// Whether table `ip orc` exists (left by an earlier run, say); false when unknown.
pub fn exists() -> bool {
    match socket::table_exists() {
        Ok(found) => found,
        Err(f) if f.unsupported() => tool::exists(),
        Err(f) => {
            tracing::warn!("nftables: {}", NetError::from(f));
            false
        }
    }
}

/// The encoded batch for `ruleset` (for measurements and tests): its size in bytes and
/// its number of acknowledged messages.
pub fn batch_size(ruleset: &Ruleset) -> (usize, usize) {
    let b = batch::encode(ruleset, 0);
    (b.bytes.len(), b.objects.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_nf_tables_falls_back_to_the_tool() {
        let refused = |errno| Failure::Refused {
            object: "chain x".into(),
            errno,
        };
        assert!(refused(libc::EOPNOTSUPP).unsupported());
        assert!(Failure::Socket {
            op: "open",
            source: std::io::Error::from_raw_os_error(libc::EPROTONOSUPPORT),
        }
        .unsupported());
        // A refused object is a bug or bad input, not a missing kernel feature.
        assert!(!refused(libc::EINVAL).unsupported());
        assert!(!refused(libc::ENOENT).unsupported());
        let e = NetError::from(refused(libc::ERANGE));
        assert!(e.to_string().starts_with("nf_tables chain x: "), "{e}");
    }
}
