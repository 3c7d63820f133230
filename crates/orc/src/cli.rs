use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "orc",
    version,
    about = "A small Raft-replicated container orchestrator for ARM boards"
)]
pub struct Cli {
    /// The local daemon's socket.
    #[arg(long, global = true, env = "ORC_SOCKET", default_value = orc_api::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the node daemon (normally from the systemd unit).
    Daemon(Box<DaemonArgs>),
    /// Create or inspect the cluster.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Load, list and remove images.
    #[command(subcommand)]
    Image(ImageCmd),
    /// Deploy, list and remove stacks.
    #[command(subcommand)]
    Stack(StackCmd),
    /// Inspect, scale and read the logs of services.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// List the cluster's nodes.
    #[command(subcommand)]
    Node(NodeCmd),
    /// Print the client's and the daemon's version.
    Version(JsonFlag),
    /// The cluster's virtual IP (VRRPv3, held by one manager in the Raft majority).
    #[command(subcommand)]
    Vip(VipCmd),
    /// Credentials for private registries, stored sealed in the cluster state.
    #[command(subcommand)]
    Registry(RegistryCmd),
    /// List, inspect and remove volumes.
    #[command(subcommand)]
    Volume(VolumeCmd),
    /// The cluster's changes as they are committed (tasks, services, nodes, leader, VIP).
    Events(EventsArgs),
    /// Every running task's CPU, memory, network and block I/O, like `docker stats`.
    Stats(StatsArgs),
    /// Secrets: values sealed in the cluster, mounted as files under /run/secrets.
    #[command(subcommand)]
    Secret(ValueCmd),
    /// Configs: values mounted as files in containers (shown with `inspect --value`).
    #[command(subcommand)]
    Config(ValueCmd),
}

/// `orc secret …` and `orc config …`.
#[derive(Subcommand, Debug)]
pub enum ValueCmd {
    /// Create one from FILE, or standard input with `-` or no FILE.
    Create { name: String, file: Option<PathBuf> },
    /// Every one: current revision, size, the services using it (never the value).
    Ls(JsonFlag),
    /// One in full (JSON, never a secret's value).
    Inspect {
        name: String,
        /// Show a config's value too.
        #[arg(long)]
        value: bool,
    },
    /// A new revision from FILE (or standard input); the services using it roll to it.
    Update { name: String, file: Option<PathBuf> },
    /// Remove one (refused while a service uses it).
    Rm { name: String },
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show kept events from this time on: a duration ago ("10m", "1h") or Unix
    /// seconds. Default: only new events.
    #[arg(long)]
    pub since: Option<String>,
    /// Stop at this time (same forms) instead of streaming.
    #[arg(long)]
    pub until: Option<String>,
    /// KEY=VALUE (repeatable, all must match): type=task|service|node|network|secret|config|leader|vip,
    /// action=…, name=SERVICE|HOSTNAME, id=PREFIX, node=ID|HOSTNAME.
    #[arg(long, short)]
    pub filter: Vec<String>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Only these services (STACK_SERVICE); all when none.
    pub services: Vec<String>,
    /// Print one sample and exit.
    #[arg(long)]
    pub no_stream: bool,
    /// JSON (an array per sample).
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum RegistryCmd {
    /// Store credentials for a registry host (e.g. registry.home.lan:5000).
    Login {
        registry: String,
        #[arg(long, short)]
        username: String,
        /// Read the password (or token) from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Forget a registry host's credentials.
    Logout { registry: String },
}

#[derive(Subcommand, Debug)]
pub enum VolumeCmd {
    /// Every volume: driver, size, the node holding it, fenced nodes.
    Ls(JsonFlag),
    /// One volume in full (JSON).
    Inspect { name: String },
    /// Delete a volume and its data (refused while a service uses it).
    Rm { name: String },
}

#[derive(Subcommand, Debug)]
pub enum CephCmd {
    /// Tell every node how to reach Ceph (checked from this node first).
    Set {
        /// The cluster's ceph.conf.
        #[arg(long)]
        conf: PathBuf,
        /// The user's keyring (a secret: kept in Raft, 0600 on nodes, never printed).
        #[arg(long)]
        keyring: PathBuf,
        /// The Ceph user (without `client.`).
        #[arg(long, default_value = "orc")]
        user: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum VipCmd {
    /// Set (or change) the cluster's virtual IP.
    Set {
        /// The address with its prefix length, e.g. 192.168.1.100/24.
        address: String,
        /// The interface every manager holds it on.
        #[arg(long)]
        interface: String,
        /// The VRRP virtual router id (1-255), unique on the LAN.
        #[arg(long)]
        vrid: u8,
        /// Advertisement interval (10ms..40.95s, in 10 ms steps).
        #[arg(long, default_value = "1s")]
        advert_interval: String,
    },
    /// Show the VIP, the master and this manager's VRRP state and counters.
    Status(JsonFlag),
    /// Remove the cluster's virtual IP.
    Unset,
}

#[derive(Args, Debug)]
pub struct DaemonArgs {
    #[arg(long, default_value = "/var/lib/orc")]
    pub data_dir: PathBuf,
    #[arg(long, default_value = "/run/containerd/containerd.sock")]
    pub containerd: PathBuf,
    /// Cluster port for node-to-node traffic.
    #[arg(long, default_value = "0.0.0.0:4747")]
    pub listen: String,
    /// containerd namespace for orc's containers.
    #[arg(long, default_value = "orc")]
    pub namespace: String,
    /// Name this node reports (default: the host name).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Per-task log file size before rotation, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub log_max_bytes: u64,
    /// Rotated log files kept per task.
    #[arg(long, default_value_t = 3)]
    pub log_max_files: u32,
    /// Heartbeat period in milliseconds; a node silent for 4 periods is marked down
    /// and its tasks rescheduled.
    #[arg(long, default_value_t = 500)]
    pub heartbeat_ms: u64,
    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "ORC_LOG", default_value = "info,openraft=error,sled=warn")]
    pub log: String,
    /// A registry (HOST[:PORT]) this node may reach over plain HTTP (repeatable);
    /// loopback registries always may.
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// How often to remove images no task on this node uses ("10m"; "0" = never).
    #[arg(long, default_value = "10m", value_parser = orc_spec::parse_duration)]
    pub image_gc_interval: u64,
    /// How long an image must have been unused before automatic GC removes it.
    #[arg(long, default_value = "1h", value_parser = orc_spec::parse_duration)]
    pub image_gc_grace: u64,
    /// An image automatic GC never removes (repeatable).
    #[arg(long = "image-gc-keep")]
    pub image_gc_keep: Vec<String>,
    /// The resolv.conf whose name servers container DNS forwards other names to
    /// (e.g. /run/systemd/resolve/resolv.conf under systemd-resolved).
    #[arg(long, default_value = "/etc/resolv.conf")]
    pub resolv_conf: std::path::PathBuf,
    /// This node's cluster address: `auto` (the default) follows the address the
    /// kernel uses toward the cluster, live: when the advertised IP leaves every
    /// interface (a new DHCP lease) the node re-advertises the new one, managers
    /// included (needs --listen on a wildcard address such as 0.0.0.0:PORT). A
    /// literal IP[:PORT] stays fixed and is announced at start when it differs from
    /// the one the cluster holds (e.g. a manager whose address changed while down).
    #[arg(long)]
    pub advertise: Option<String>,
    /// How often every manager writes a backup into DATA_DIR/backups ("12h"; "0" = off).
    #[arg(long, default_value = "12h", value_parser = orc_spec::parse_duration)]
    pub backup_interval: u64,
    /// Scheduled backups kept per manager.
    #[arg(long, default_value_t = 5)]
    pub backup_keep: usize,
    /// Serve Prometheus metrics on ADDR:PORT (`GET /metrics`), e.g. 127.0.0.1:9323
    /// or the node's LAN address. Off unless given.
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Tests only: exit at this named point as if the node crashed.
    #[arg(long, hide = true)]
    pub failpoint: Option<String>,
    /// Where to answer the Docker Engine API (the swarm-mode subset: docker CLI,
    /// docker-py, Traefik, Portainer…); "off" for none. Left alone (one log line)
    /// when a Docker engine answers there.
    #[arg(
        long,
        env = "ORC_DOCKER_SOCKET",
        default_value = "/var/run/docker.sock"
    )]
    pub docker_socket: String,
    /// A second Docker-compatible socket that answers reads and refuses every write
    /// (for Traefik and Telegraf containers).
    #[arg(long)]
    pub docker_socket_readonly: Option<PathBuf>,
    /// The group (name or number) owning the Docker sockets (mode 0660); root's by
    /// default.
    #[arg(long)]
    pub docker_socket_group: Option<String>,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct JsonFlag {
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// Make this node the first manager of a new cluster.
    Init {
        /// Address other nodes reach this one on (ADDR or ADDR:PORT).
        #[arg(long)]
        advertise: Option<String>,
        /// The containers' subnet, cut into one /24 per node.
        #[arg(long, default_value = "10.201.0.0/16")]
        subnet: String,
        /// How nodes reach each other's containers: host-gw (one LAN) or vxlan.
        #[arg(long, default_value = "host-gw")]
        network_driver: String,
    },
    /// Show this node's cluster membership.
    Info(JsonFlag),
    /// Join an existing cluster through one of its managers.
    Join {
        #[arg(long)]
        token: String,
        /// A manager's address, ADDR:PORT.
        address: String,
        /// Address the cluster reaches this node on (ADDR or ADDR:PORT).
        #[arg(long)]
        advertise: Option<String>,
    },
    /// Print the command that joins a node as worker or manager.
    JoinToken {
        /// worker or manager
        role: String,
        /// Replace the token first; the old one stops working.
        #[arg(long)]
        rotate: bool,
        /// Print the token alone.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Leave the cluster: this node's containers are removed and it forgets the cluster.
    Leave {
        /// Leave even if the managers left behind could not form a quorum.
        #[arg(long)]
        force: bool,
    },
    /// How nodes reach Ceph for rbd and cephfs volumes.
    #[command(subcommand)]
    Ceph(CephCmd),
    /// Write a backup of the whole cluster state (from any manager, nothing stops);
    /// `backup ls` lists this manager's scheduled backups, `backup verify` checks a file.
    /// Volume data and images are not in a backup.
    #[command(args_conflicts_with_subcommands = true)]
    Backup(BackupArgs),
    /// Make a new cluster on this node (in no cluster yet) from a backup: this node
    /// its only manager, every old node revoked, services held until `cluster resume`.
    Restore {
        file: PathBuf,
        /// Address other nodes reach this one on (ADDR or ADDR:PORT).
        #[arg(long)]
        advertise: Option<String>,
        /// Read the passphrase of a `--with-ca` backup from standard input (its
        /// sealed secrets then open; without it they are dropped).
        #[arg(long)]
        passphrase_stdin: bool,
    },
    /// Let a restored cluster's services start (once the old boards are gone).
    Resume,
    /// On a surviving manager when a majority of managers is gone for good: become
    /// the cluster's only Raft voter with the state it has (refused while a quorum is
    /// reachable); the lost managers are removed, new ones can join.
    Recover {
        /// Required: this discards the lost managers.
        #[arg(long)]
        force_new_cluster: bool,
    },
    /// Keep the CA key (which signs certificates and opens secrets) on every manager's
    /// disk only encrypted under an unlock key: a restarted manager stays locked until
    /// `orc cluster unlock`.
    #[command(subcommand)]
    Autolock(AutolockCmd),
    /// Unlock this manager after a restart with autolock on (the unlock key is read
    /// from a prompt, or from standard input with --key-stdin).
    Unlock {
        /// Read the unlock key from standard input (one line).
        #[arg(long)]
        key_stdin: bool,
    },
    /// Print the current unlock key (on an unlocked manager).
    UnlockKey {
        /// Replace it first; the old key stops working.
        #[arg(long)]
        rotate: bool,
        /// Print the key alone.
        #[arg(long, short)]
        quiet: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AutolockCmd {
    /// Turn autolock on: prints the unlock key (note it down: orc never stores it).
    Enable,
    /// Turn autolock off: managers store the CA key plain again.
    Disable,
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Where to write the backup (on this node).
    pub file: Option<PathBuf>,
    /// Also store the cluster CA key, sealed under a passphrase read from standard
    /// input (needed to open secrets on new boards).
    #[arg(long)]
    pub with_ca: bool,
    #[command(flatten)]
    pub json: JsonFlag,
    #[command(subcommand)]
    pub cmd: Option<BackupCmd>,
}

#[derive(Subcommand, Debug)]
pub enum BackupCmd {
    /// This manager's scheduled backups (DATA_DIR/backups), newest first.
    Ls(JsonFlag),
    /// Check a backup file without restoring it.
    Verify {
        file: PathBuf,
        /// Also check that the passphrase (standard input) opens its CA key.
        #[arg(long)]
        passphrase_stdin: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    /// Import an OCI or `docker save` archive.
    Load {
        file: PathBuf,
        /// Also have every node of the cluster fetch it from this one (and wait).
        #[arg(long)]
        distribute: bool,
    },
    /// The images on this node and which nodes hold each.
    Ls(JsonFlag),
    /// Remove an image from this node's containerd.
    Rm { reference: String },
    /// Remove this node's images that no service uses (and no container was created from).
    Prune {
        /// Keep this image anyway (repeatable).
        #[arg(long)]
        keep: Vec<String>,
    },
    /// Pull an image from its registry into this node's containerd.
    Pull {
        reference: String,
        /// os/arch[/variant] to pull (default: this node's).
        #[arg(long)]
        platform: Option<String>,
        /// Pull on this node (hostname or id) instead: from a peer that has it, else
        /// its registry.
        #[arg(long)]
        node: Option<String>,
    },
}

#[derive(Args, Debug, Clone, Copy)]
pub struct WaitArgs {
    /// Return once the change is committed, without waiting for tasks.
    #[arg(long, short)]
    pub detach: bool,
    /// Seconds to wait for convergence.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// Where a stack comes from: a stack.toml or compose FILE, or (Swarm's form) `-c`
/// compose files and the stack's NAME.
#[derive(Args, Debug)]
pub struct StackSource {
    /// The stack file (stack.toml, or a compose file: .yml/.yaml or YAML content);
    /// with -c, the stack's name.
    pub target: Option<String>,
    /// A compose file (repeatable: later files are merged over earlier ones).
    #[arg(short = 'c', long = "compose-file", value_name = "FILE")]
    pub compose_file: Vec<PathBuf>,
    /// The stack's name (default: the file's `name`, else its directory or stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Compose: read interpolation variables from this file instead of the `.env`
    /// beside the compose file (repeatable; the environment still wins).
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Compose: also deploy the services of this profile (repeatable).
    #[arg(long)]
    pub profile: Vec<String>,
    /// Compose: print where each interpolated variable's value came from.
    #[arg(long, short)]
    pub verbose: bool,
}

#[derive(Subcommand, Debug)]
pub enum StackCmd {
    /// Check a stack file without deploying it (needs no daemon).
    Validate(StackSource),
    /// Create or update a stack from a file; shows each service converging.
    Deploy {
        #[command(flatten)]
        source: StackSource,
        /// Keep image tags as written instead of pinning them to their current digest.
        #[arg(long)]
        no_resolve: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Print the stack.toml equivalent of a compose file (needs no daemon).
    Convert(StackSource),
    /// The stacks, with how many services each has.
    Ls(JsonFlag),
    /// Remove a stack's services (its volumes stay unless --volumes).
    Rm {
        name: String,
        /// Also delete the stack's volumes and their data.
        #[arg(long)]
        volumes: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
    /// The services, with their mode and running/desired replicas.
    Ls {
        /// Only this stack's services.
        #[arg(long)]
        stack: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// The service's tasks: where they run and why one is pending.
    Ps {
        name: String,
        /// Include ended tasks.
        #[arg(long, short)]
        all: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// SERVICE=REPLICAS ...
    Scale {
        #[arg(required = true)]
        pairs: Vec<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Change one service (rolled out per its update_config) and wait until the
    /// rollout ended: non-zero when it paused or rolled back, naming the cause.
    Update {
        name: String,
        /// The new image.
        #[arg(long)]
        image: Option<String>,
        /// KEY=VALUE (repeatable)
        #[arg(long)]
        env_add: Vec<String>,
        /// KEY (repeatable)
        #[arg(long)]
        env_rm: Vec<String>,
        /// The new replica count.
        #[arg(long)]
        replicas: Option<u32>,
        /// Replace every task even if nothing else changed.
        #[arg(long)]
        force: bool,
        /// KEY=VALUE (repeatable)
        #[arg(long)]
        label_add: Vec<String>,
        /// KEY (repeatable)
        #[arg(long)]
        label_rm: Vec<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Go back to the last stable revision (or --to REV), rolled out per the
    /// service's rollback_config; waits like update.
    Rollback {
        name: String,
        /// The revision to go back to (`orc service history`).
        #[arg(long)]
        to: Option<u64>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// The service's revisions (the last 10 specs), newest first.
    History {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Remove one service; waits until its tasks are gone.
    Rm {
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// The service's log lines from every node, each under its task's name.
    Logs {
        name: String,
        /// Keep streaming new lines, from every node and from tasks started later.
        #[arg(long, short)]
        follow: bool,
        /// Only the last N lines of each task.
        #[arg(long)]
        tail: Option<usize>,
        /// Only lines from this time on: a duration ago ("10m", "1h") or Unix seconds.
        #[arg(long)]
        since: Option<String>,
        /// Show when each line was written (UTC), and `err` for standard error lines.
        #[arg(long, short)]
        timestamps: bool,
    },
    /// The service in full: its spec, its tasks and their health checks' last results,
    /// its update state and its revisions (text; --json for JSON).
    Inspect {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
        /// Text (the default; accepted for Docker habits).
        #[arg(long, conflicts_with = "json")]
        pretty: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum NodeCmd {
    /// The nodes: role, status, availability, address and which manager leads.
    Ls(JsonFlag),
    /// Change a node's availability or labels.
    Update {
        node: String,
        #[arg(long, value_parser = ["active", "pause", "drain"])]
        availability: Option<String>,
        /// KEY=VALUE (repeatable)
        #[arg(long)]
        label_add: Vec<String>,
        /// KEY (repeatable)
        #[arg(long)]
        label_rm: Vec<String>,
    },
    /// Remove a node from the cluster (its certificate stops working).
    Rm {
        node: String,
        #[arg(long)]
        force: bool,
    },
    /// Make a worker a manager (a Raft voter).
    Promote { node: String },
    /// Make a manager a worker.
    Demote {
        node: String,
        /// Demote even if the managers left could not form a quorum.
        #[arg(long)]
        force: bool,
    },
}
