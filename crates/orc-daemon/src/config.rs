use std::path::PathBuf;
use std::time::Duration;

/// Everything a daemon needs to know; every path and address is settable so tests can
/// run several daemons side by side.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub data_dir: PathBuf,
    /// The CLI's unix socket (root only).
    pub socket: PathBuf,
    /// containerd's socket.
    pub containerd: PathBuf,
    /// The Docker-Engine-API-compatible socket (`--docker-socket`); none: off.
    pub docker_socket: Option<PathBuf>,
    /// A second Docker socket that refuses every write (`--docker-socket-readonly`).
    pub docker_socket_readonly: Option<PathBuf>,
    /// The group (name or number) owning the Docker sockets (mode 0660); root's
    /// when unset.
    pub docker_socket_group: Option<String>,
    /// containerd namespace orc's containers live in.
    pub namespace: String,
    /// Cluster port (node-to-node traffic).
    pub listen: String,
    pub hostname: String,
    /// The binary containerd starts as the log driver of each container (this one).
    pub logger_binary: PathBuf,
    /// Per-task log retention.
    pub log_max_bytes: u64,
    pub log_max_files: u32,
    /// How often the agent and manager re-check even without a state change.
    pub resync: Duration,
    /// sled page cache.
    pub store_cache_bytes: u64,
    /// How often nodes heartbeat the leader; a node silent for 4 periods is down.
    pub heartbeat: Duration,
    /// Registries this node may reach over plain HTTP (besides loopback ones).
    pub insecure_registries: Vec<String>,
    /// Automatic removal of images no task on this node uses.
    pub image_gc: ImageGcConfig,
    /// The node's resolv.conf: where container DNS forwards names orc doesn't know.
    pub resolv_conf: PathBuf,
    /// The address this node announces at start when it differs from its record
    /// (`orc daemon --advertise`, e.g. after a new DHCP lease).
    pub advertise: Option<String>,
    /// Scheduled backups into `DATA_DIR/backups` on every manager (zero: off), and
    /// how many to keep.
    pub backup_interval: Duration,
    pub backup_keep: usize,
    /// Tests only: a named point where the daemon exits as if it crashed
    /// (`join-before-promote`: a joining manager, after starting Raft, before it
    /// asks to become a voter).
    pub failpoint: Option<String>,
    /// Where to serve Prometheus metrics (`GET /metrics`); off when None.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl DaemonConfig {
    pub fn new(data_dir: PathBuf) -> DaemonConfig {
        DaemonConfig {
            data_dir,
            socket: PathBuf::from(orc_api::DEFAULT_SOCKET),
            containerd: PathBuf::from("/run/containerd/containerd.sock"),
            docker_socket: None,
            docker_socket_readonly: None,
            docker_socket_group: None,
            namespace: "orc".into(),
            listen: "0.0.0.0:4747".into(),
            hostname: crate::util::hostname(),
            logger_binary: std::env::current_exe()
                .unwrap_or_else(|_| PathBuf::from("/usr/local/bin/orc")),
            log_max_bytes: 1 << 20,
            log_max_files: 3,
            resync: Duration::from_secs(2),
            store_cache_bytes: 4 << 20,
            heartbeat: Duration::from_millis(500),
            insecure_registries: Vec::new(),
            backup_interval: Duration::from_secs(12 * 3600),
            backup_keep: 5,
            image_gc: ImageGcConfig::default(),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            advertise: None,
            failpoint: None,
            metrics_addr: None,
        }
    }

    pub fn raft_dir(&self) -> PathBuf {
        self.data_dir.join("raft")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }
}

/// The node's automatic image GC settings (daemon flags; the agent runs the sweeps).
#[derive(Debug, Clone)]
pub struct ImageGcConfig {
    /// How often to sweep; zero turns automatic GC off.
    pub interval: Duration,
    /// How long an image must have been unused before it is removed.
    pub grace: Duration,
    /// References never removed (normalized when compared).
    pub keep: Vec<String>,
}

impl Default for ImageGcConfig {
    fn default() -> Self {
        ImageGcConfig {
            interval: Duration::from_secs(600),
            grace: Duration::from_secs(3600),
            keep: Vec::new(),
        }
    }
}
