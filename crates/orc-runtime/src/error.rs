//! The errors of the containerd adapter.

use std::path::PathBuf;

/// What can go wrong talking to containerd or handling images, specs and logs.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The object (container, task, snapshot…) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The object exists already.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// No image of that name is in containerd.
    #[error("image not found: {0}")]
    ImageNotFound(String),
    /// An image is still used by a container and cannot be removed.
    #[error("image {image} is used by container(s) {containers}")]
    ImageInUse {
        /// The normalised image name.
        image: String,
        /// The ids of the containers using it, comma separated.
        containers: String,
    },
    /// containerd cannot be reached (not running, socket missing, restarting).
    #[error("containerd is unavailable: {0}")]
    Unavailable(String),
    /// The image archive is malformed, incomplete or fails digest verification.
    #[error("invalid image archive: {0}")]
    InvalidArchive(String),
    /// containerd answered with an error not mapped to a variant above.
    #[error("containerd: {0}")]
    Grpc(Box<tonic::Status>),
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The container configuration cannot be turned into an OCI runtime spec.
    #[error("container spec: {0}")]
    Spec(String),
    /// A registry pull failed (unknown image, auth refused, platform missing, down…).
    #[error(transparent)]
    Registry(#[from] crate::RegistryError),
}

impl RuntimeError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> RuntimeError {
        RuntimeError::Io {
            path: path.into(),
            source,
        }
    }

    /// An invalid-archive error with a message.
    pub(crate) fn archive(msg: impl Into<String>) -> RuntimeError {
        RuntimeError::InvalidArchive(msg.into())
    }

    /// True for [`RuntimeError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, RuntimeError::NotFound(_))
    }

    /// True for [`RuntimeError::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, RuntimeError::AlreadyExists(_))
    }
}

/// True if the call failed because the connection to containerd broke (containerd
/// stopped or restarted mid-call): tonic reports that as `Unknown` with a transport
/// error as its source.
fn is_transport_failure(s: &tonic::Status) -> bool {
    let mut src = std::error::Error::source(s);
    while let Some(e) = src {
        if e.is::<tonic::transport::Error>() {
            return true;
        }
        src = e.source();
    }
    false
}

impl From<tonic::Status> for RuntimeError {
    fn from(s: tonic::Status) -> RuntimeError {
        if is_transport_failure(&s) {
            return RuntimeError::Unavailable(s.to_string());
        }
        match s.code() {
            tonic::Code::NotFound => RuntimeError::NotFound(s.message().to_string()),
            tonic::Code::AlreadyExists => RuntimeError::AlreadyExists(s.message().to_string()),
            tonic::Code::Unavailable => RuntimeError::Unavailable(s.message().to_string()),
            _ => RuntimeError::Grpc(Box::new(s)),
        }
    }
}

/// `Ok(())` for results whose error is "not found": for idempotent deletes.
pub(crate) fn ignore_not_found(r: Result<(), RuntimeError>) -> Result<(), RuntimeError> {
    match r {
        Err(e) if e.is_not_found() => Ok(()),
        r => r,
    }
}
