//! The errors of the PKI crate.

use std::path::PathBuf;

/// Why a join token string was refused by [`JoinToken::parse`](crate::JoinToken::parse).
///
/// The messages are meant for the operator who pasted the token: they say
/// which part is wrong without ever echoing the secret back.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The token does not start with `ORC1-`.
    #[error("not an orc join token: it must start with \"ORC1-\"")]
    WrongPrefix,
    /// The token does not have the four `-`-separated fields
    /// `ORC1-<role>-<fingerprint>-<secret>`.
    #[error(
        "malformed join token: expected ORC1-<m|w>-<ca fingerprint>-<secret>, found {0} fields"
    )]
    WrongFieldCount(usize),
    /// The role field is not `m` (manager) or `w` (worker).
    #[error("malformed join token: role must be 'm' (manager) or 'w' (worker)")]
    BadRole,
    /// The CA fingerprint is not 64 hexadecimal digits.
    #[error("malformed join token: the CA fingerprint must be 64 hex digits (got {0} characters)")]
    BadFingerprint(usize),
    /// The secret is not 64 hexadecimal digits.
    #[error("malformed join token: the secret must be 64 hex digits (got {0} characters)")]
    BadSecret(usize),
}

/// Everything that can go wrong in the cluster PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen could not build or sign a certificate, or could not load a key.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM document was missing, empty or unreadable.
    #[error("invalid PEM for {what}: {reason}")]
    Pem {
        /// Which document (e.g. "node certificate chain").
        what: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// A certificate failed to parse or to verify.
    #[error("invalid certificate ({what}): {source}")]
    Certificate {
        /// Which certificate.
        what: &'static str,
        /// The verifier's reason.
        source: webpki::Error,
    },
    /// A certificate parsed and verified but is not one orc issues
    /// (missing or inconsistent `orc:` names).
    #[error("not an orc certificate: {0}")]
    NotOrcCertificate(String),
    /// A private key does not belong to the certificate it was stored with.
    #[error("the private key does not match the {0}")]
    KeyMismatch(&'static str),
    /// A cluster name is empty, too long or has characters outside `[A-Za-z0-9._-]`.
    #[error("invalid cluster name {0:?}: use 1-63 characters from [A-Za-z0-9._-]")]
    InvalidClusterName(String),
    /// A join token string was refused.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The operating system's random number generator failed.
    #[error("random number generator: {0}")]
    Random(String),
    /// A file or directory operation failed.
    #[error("{op} {path}: {source}", path = path.display())]
    Io {
        /// What was being done ("write", "read", "rename"…).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A private key file is readable by group or others; it is refused like ssh does.
    #[error("{path} has mode {mode:o}: private keys must not be readable by group or others (chmod 600)", path = path.display())]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// An address given for a TLS endpoint was not usable (e.g. an `http://` URI).
    #[error("invalid endpoint address {addr:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        addr: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// rustls refused a configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// tonic refused an endpoint or could not connect.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

impl PkiError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PkiError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn cert(what: &'static str, source: webpki::Error) -> Self {
        PkiError::Certificate { what, source }
    }
}

/// The crate's result type.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;
