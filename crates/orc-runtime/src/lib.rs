//! orc-runtime: orc's adapter to containerd (1.6 and later) over its gRPC socket.
//!
//! - [`Runtime`]: a lazy client bound to one containerd namespace.
//! - Images: [`Runtime::import_archive`] loads OCI image layouts and `docker save`
//!   archives without a registry (content, diff, snapshots and images services);
//!   list, get, remove. [`Runtime::pull_image`] pulls from OCI registries
//!   (platform-resolved, digest-verified) through the same path.
//! - Containers: [`Runtime::run`] builds the OCI runtime spec (image defaults,
//!   overrides, Docker's capabilities, cgroup limits, host or given network
//!   namespace), creates the container, snapshot and task and starts it;
//!   [`Runtime::wait`], [`Runtime::stop`], [`Runtime::remove`], [`Runtime::list`].
//! - Logs: each task's stdout/stderr go through containerd's binary logging to
//!   [`logger_main`] (the orc binary's hidden subcommand), which writes rotated,
//!   bounded files per task; [`read_logs`] and [`follow_logs`] read them back.

mod archive;
mod client;
mod container;
mod content;
mod error;
mod events;
mod exec;
mod images;
mod import;
mod init;
mod log_line;
mod log_reader;
mod log_writer;
mod logger;
mod manifest;
mod plan;
mod reference;
mod registry;
mod spec;
mod spec_defaults;
mod spec_options;
mod task;
mod types;
mod unpack;
mod user;
mod util;

pub use client::Runtime;
pub use error::RuntimeError;
pub use events::Changes;
pub use exec::{ExecOutcome, ExecTemplate};
pub use init::{init_main, INIT_PATH, INIT_SUBCOMMAND};
pub use log_line::LogLine;
pub use log_reader::{follow_logs, read_logs};
pub use log_writer::{RotatingLog, CURRENT_LOG};
pub use logger::{logger_main, stdio_uri, LoggerSettings, LOGGER_SUBCOMMAND};
pub use reference::normalize_reference;
pub use registry::{
    is_loopback, parse_challenge, resolve_digest, BoxFuture, Challenge, Chunks, Credentials,
    FetchedManifest, ImageRef, ImageSource, PullEvent, PullOptions, PullProgress, RegistryError,
    RegistryOptions,
};
pub use task::WAIT_RECONNECT;
pub use types::{
    ContainerConfig, ContainerInfo, ContainerOptions, ContainerState, DeviceConfig, ExitInfo,
    ImageInfo, LogConfig, MountConfig,
};
