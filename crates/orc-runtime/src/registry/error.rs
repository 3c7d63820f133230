//! What can go wrong pulling from a registry; each variant is a reason a user sees.

/// A registry pull failure.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    /// The reference cannot be parsed.
    #[error("invalid image reference {0}")]
    InvalidReference(String),
    /// The registry doesn't know the repository, tag or digest.
    #[error("unknown image {0}")]
    NotFound(String),
    /// The registry refused the credentials (or wants some and none are stored).
    #[error("registry refused authentication for {0}")]
    Unauthorized(String),
    /// The image has no manifest for the wanted platform.
    #[error("image {image} has no manifest for platform {platform} (it has: {available})")]
    PlatformMissing {
        /// The image name.
        image: String,
        /// The wanted `os/arch[/variant]`.
        platform: String,
        /// The platforms the index lists, comma separated.
        available: String,
    },
    /// The registry cannot be reached or answered with a server error.
    #[error("registry unreachable: {0}")]
    Unreachable(String),
    /// TLS setup or handshake failed.
    #[error("registry TLS: {0}")]
    Tls(String),
    /// The registry answered something orc cannot use.
    #[error("registry protocol error: {0}")]
    Protocol(String),
    /// Content did not match its digest or size.
    #[error("registry content failed verification: {0}")]
    Verification(String),
}
