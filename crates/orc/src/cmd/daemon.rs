use crate::cli::DaemonArgs;
use anyhow::Context;

pub async fn run(args: &DaemonArgs, socket: &std::path::Path) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&args.log).context("--log")?)
        .with_writer(std::io::stderr)
        .init();
    let mut cfg = orc_daemon::DaemonConfig::new(args.data_dir.clone());
    cfg.socket = socket.to_path_buf();
    cfg.containerd = args.containerd.clone();
    cfg.listen = args.listen.clone();
    cfg.namespace = args.namespace.clone();
    if let Some(h) = &args.hostname {
        cfg.hostname = h.clone();
    }
    cfg.log_max_bytes = args.log_max_bytes;
    cfg.log_max_files = args.log_max_files;
    cfg.heartbeat = std::time::Duration::from_millis(args.heartbeat_ms);
    cfg.insecure_registries = args.insecure_registries.clone();
    cfg.resolv_conf = args.resolv_conf.clone();
    cfg.advertise = args.advertise.clone();
    cfg.failpoint = args.failpoint.clone();
    cfg.backup_interval = std::time::Duration::from_millis(args.backup_interval);
    cfg.backup_keep = args.backup_keep;
    cfg.metrics_addr = args.metrics_addr;
    cfg.image_gc = orc_daemon::ImageGcConfig {
        interval: std::time::Duration::from_millis(args.image_gc_interval),
        grace: std::time::Duration::from_millis(args.image_gc_grace),
        keep: args.image_gc_keep.clone(),
    };
    if args.docker_socket != "off" && !args.docker_socket.is_empty() {
        cfg.docker_socket = Some(args.docker_socket.clone().into());
    }
    cfg.docker_socket_readonly = args.docker_socket_readonly.clone();
    cfg.docker_socket_group = args.docker_socket_group.clone();
    cfg.logger_binary = std::env::current_exe().context("locating the orc binary")?;
    let daemon = orc_daemon::Daemon::new(cfg).context("starting the daemon")?;
    daemon.run().await.context("daemon")?;
    Ok(())
}
