//! What goes wrong while plumbing container networks.

/// A failed networking step, naming what orc was doing.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A netlink request failed.
    #[error("{op}: {source}")]
    Netlink {
        /// The step, e.g. "add veth orc0123456789ab".
        op: String,
        /// The kernel's answer.
        #[source]
        source: rtnetlink::Error,
    },
    /// A system call or file operation failed.
    #[error("{op}: {source}")]
    Io {
        /// The step.
        op: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An interface orc expected is missing.
    #[error("no interface named {0}")]
    NoInterface(String),
    /// The kernel refused an nf_tables object (the whole batch was rolled back).
    #[error("nf_tables {object}: {source}")]
    Nft {
        /// What the refused message creates, e.g. "chain p_tcp_8080".
        object: String,
        /// The kernel's errno.
        #[source]
        source: std::io::Error,
    },
}

impl NetError {
    pub(crate) fn netlink(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetError {
        let op = op.into();
        move |source| NetError::Netlink { op, source }
    }

    pub(crate) fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetError {
        let op = op.into();
        move |source| NetError::Io { op, source }
    }

    pub(crate) fn errno(op: impl Into<String>) -> impl FnOnce(nix::Error) -> NetError {
        let op = op.into();
        move |e| NetError::Io {
            op,
            source: std::io::Error::from(e),
        }
    }
}

/// Whether a netlink error is the kernel's `code` (a positive errno such as EEXIST).
pub(crate) fn is_errno(e: &rtnetlink::Error, code: i32) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -code)
}
