//! Errors of the I/O adapter.

use std::io;

use crate::config::ConfigError;
use crate::packet::EncodeError;

/// Why a VRRP instance could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The configuration is out of the protocol's ranges.
    #[error("invalid VRRP configuration: {0}")]
    Config(#[from] ConfigError),
    /// The advertisement cannot be encoded.
    #[error("cannot encode advertisement: {0}")]
    Encode(#[from] EncodeError),
    /// No interface of that name in this network namespace.
    #[error("interface {0:?} not found")]
    NoInterface(String),
    /// The interface has no IPv4 address to send adverts from.
    #[error("interface {0:?} has no IPv4 address of its own")]
    NoAddress(String),
    /// The interface has no Ethernet address for gratuitous ARP.
    #[error("interface {0:?} has no Ethernet address")]
    NoMac(String),
    /// A socket operation failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A netlink request failed.
    #[error("netlink {op}: {source}")]
    Netlink {
        /// What was being done.
        op: &'static str,
        /// The netlink error.
        #[source]
        source: rtnetlink::Error,
    },
}

impl NetError {
    pub(crate) fn io(op: &'static str) -> impl FnOnce(io::Error) -> NetError {
        move |source| NetError::Io { op, source }
    }

    pub(crate) fn netlink(op: &'static str) -> impl FnOnce(rtnetlink::Error) -> NetError {
        move |source| NetError::Netlink { op, source }
    }
}
