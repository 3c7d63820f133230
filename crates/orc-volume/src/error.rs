use thiserror::Error;

/// Why a volume operation failed.
#[derive(Debug, Error)]
pub enum VolumeError {
    /// A Ceph volume on a cluster without `orc cluster ceph set`.
    #[error("{driver} volumes need Ceph: run `orc cluster ceph set --conf … --keyring … --user …` first")]
    NoCeph {
        /// The volume's driver.
        driver: &'static str,
    },
    /// A tool could not be started (not installed?).
    #[error("cannot run {program} (is it installed? {hint}): {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Which package has it.
        hint: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A tool ran and failed.
    #[error("{command} failed ({status}): {stderr}")]
    Tool {
        /// The command line, without secrets.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr (trimmed).
        stderr: String,
    },
    /// A file operation on the node.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Something else unexpected (tool output that doesn't parse…).
    #[error("{0}")]
    Other(String),
}

impl VolumeError {
    pub(crate) fn io(what: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        VolumeError::Io {
            what,
            path: path.display().to_string(),
            source,
        }
    }
}
