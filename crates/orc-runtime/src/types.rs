//! The values the runtime takes and returns.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::SystemTime;

/// An image known to containerd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Normalised name, e.g. `docker.io/demo/busybox:1`.
    pub name: String,
    /// Digest of the image's manifest for this host's platform (`sha256:…`).
    pub digest: String,
    /// Bytes of content: manifest, config and layers as stored (compressed).
    pub size: u64,
    /// The image config's `created` timestamp, as written there.
    pub created: Option<String>,
    /// `os/architecture[/variant]` from the image config.
    pub platform: String,
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit code; 128 + N when killed by signal N (137 = SIGKILL).
    pub code: i32,
    /// When it exited, if containerd knows.
    pub exited_at: Option<SystemTime>,
}

/// The state of a container's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContainerState {
    /// The task exists but was not started.
    Created,
    /// The task runs.
    Running,
    /// The task is frozen (pausing or paused).
    Paused,
    /// The task exited; its exit code is known.
    Stopped,
    /// The container has no task (never started, or already deleted).
    None,
    /// containerd reported a state this adapter does not know.
    Unknown,
}

/// A container in orc's namespace with its task status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Container id (== orc task id).
    pub id: String,
    /// The normalised image name it was created from.
    pub image: String,
    /// The container's labels.
    pub labels: HashMap<String, String>,
    /// Task state.
    pub state: ContainerState,
    /// The task's init pid while it runs (or exists).
    pub pid: Option<u32>,
    /// Exit code once stopped.
    pub exit_code: Option<i32>,
    /// The process it runs, as its OCI spec says (the image's entrypoint and command
    /// merged with the service's); empty if the spec can't be read.
    pub args: Vec<String>,
}

/// A mount into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountConfig {
    /// A bind mount of a host path.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Path in the container.
        target: String,
        /// Mount read-only.
        read_only: bool,
    },
    /// A fresh tmpfs.
    Tmpfs {
        /// Path in the container.
        target: String,
        /// Size limit in bytes; 0 = the kernel's default (half of RAM).
        size_bytes: u64,
        /// Permission bits of the tmpfs root (e.g. 0o1777); None = 0o755 (kernel default).
        mode: Option<u32>,
    },
    /// A secret's or config's file (in the node's per-task tmpfs), bind-mounted
    /// read-only, nosuid, nodev, noexec.
    ValueFile {
        /// Host path of the file.
        source: PathBuf,
        /// Path in the container.
        target: String,
    },
}

impl MountConfig {
    /// The path in the container.
    pub fn target(&self) -> &str {
        match self {
            MountConfig::Bind { target, .. }
            | MountConfig::Tmpfs { target, .. }
            | MountConfig::ValueFile { target, .. } => target,
        }
    }
}

/// Where a container's stdout and stderr go: a per-task directory of rotated files
/// written by the log driver binary (see [`crate::logger_main`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Per-task directory; `current.log` and `current.log.1…` live there.
    pub dir: PathBuf,
    /// Rotate when `current.log` would grow past this many bytes (0 = never rotate).
    pub max_bytes: u64,
    /// Files to keep, `current.log` included (at least 1).
    pub max_files: u32,
    /// Absolute path of the binary containerd's shim starts as the log driver.
    pub logger_binary: PathBuf,
    /// The argument that makes `logger_binary` act as the log driver (its hidden
    /// subcommand). At most one: the shim passes its URI's query as unordered
    /// key/value pairs. Empty = [`crate::LOGGER_SUBCOMMAND`].
    pub logger_args: Vec<String>,
}

/// Everything needed to create and start one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    /// Container id (== orc task id); must be unique on the machine.
    pub id: String,
    /// Image reference as the user wrote it; normalised here.
    pub image: String,
    /// Labels stored on the container record.
    pub labels: HashMap<String, String>,
    /// Overrides the image's Entrypoint (an empty vector clears it).
    pub entrypoint: Option<Vec<String>>,
    /// Overrides the image's Cmd.
    pub command: Option<Vec<String>>,
    /// Merged over the image config's Env (same name: this wins).
    pub env: Vec<(String, String)>,
    /// `uid[:gid]` or `name[:group]` resolved in the image's /etc/passwd and /etc/group.
    pub user: Option<String>,
    /// Overrides the image's WorkingDir.
    pub working_dir: Option<String>,
    /// Hostname inside the container; default: the first 12 characters of the id.
    pub hostname: Option<String>,
    /// Bind and tmpfs mounts.
    pub mounts: Vec<MountConfig>,
    /// CPU limit in 1e-9 CPUs (0 = none): becomes cgroup cpu quota / period.
    pub nano_cpus: u64,
    /// Memory limit in bytes (0 = none).
    pub memory_bytes: u64,
    /// A network namespace to join; None = host networking.
    pub netns: Option<PathBuf>,
    /// Where stdout/stderr go.
    pub log: LogConfig,
    /// Privileges, devices and kernel settings beyond the defaults.
    pub options: ContainerOptions,
}

/// What a container may do and see beyond Docker's defaults (`docker run` options of
/// the same names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerOptions {
    /// Every capability, every host device, no masked or read-only paths.
    pub privileged: bool,
    /// Capabilities added to the default set (`CAP_NET_ADMIN`, or `ALL`).
    pub cap_add: Vec<String>,
    /// Capabilities removed from it (`CAP_CHOWN`, or `ALL`).
    pub cap_drop: Vec<String>,
    /// Host devices (a directory such as /dev/dri brings every device under it).
    pub devices: Vec<DeviceConfig>,
    /// Namespaced kernel parameters.
    pub sysctls: HashMap<String, String>,
    /// Process resource limits: (name such as `nofile`, soft, hard).
    pub ulimits: Vec<(String, u64, u64)>,
    /// A read-only root filesystem.
    pub read_only: bool,
    /// Size of /dev/shm; 0 = 64 MiB.
    pub shm_size_bytes: u64,
    /// Most processes in the container; 0 = no limit.
    pub pids_limit: u32,
    /// Run the command under this init binary (a static binary that handles
    /// [`crate::INIT_SUBCOMMAND`], i.e. orc itself), mounted at [`crate::INIT_PATH`].
    pub init: Option<PathBuf>,
}

/// A host device in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// Path on the host.
    pub source: PathBuf,
    /// Path in the container.
    pub target: String,
    /// cgroup access: letters of `rwm`.
    pub permissions: String,
}

impl ContainerConfig {
    /// A container of `image` with the image's own entrypoint, command, user and
    /// working dir, no extra env, labels, mounts or limits, host networking, logging
    /// as `log` says. Set the other fields on the result.
    pub fn new(id: impl Into<String>, image: impl Into<String>, log: LogConfig) -> ContainerConfig {
        ContainerConfig {
            id: id.into(),
            image: image.into(),
            labels: HashMap::new(),
            entrypoint: None,
            command: None,
            env: Vec::new(),
            user: None,
            working_dir: None,
            hostname: None,
            mounts: Vec::new(),
            nano_cpus: 0,
            memory_bytes: 0,
            netns: None,
            log,
            options: ContainerOptions::default(),
        }
    }
}
