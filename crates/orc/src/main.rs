//! `orc`: the command line and, as `orc daemon`, the node daemon.

mod cli;
mod cmd;
mod output;

use clap::Parser;

/// glibc gives each thread that allocates its own heap ("arena", up to 8 per core),
/// and memory freed in one is not reused by another: one arena for the whole
/// process keeps the daemon's heap ~0.4 MiB smaller at idle (docs/performance-boards.md).
/// The boards' musl allocator has no per-thread arenas.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // containerd starts this binary as the log driver of each container.
    if args.get(1).map(String::as_str) == Some(orc_runtime::LOGGER_SUBCOMMAND) {
        return std::process::ExitCode::from(orc_runtime::logger_main(&args[2..]) as u8);
    }
    // In a container with `init: true`, this binary (mounted there) is PID 1.
    if args.get(1).map(String::as_str) == Some(orc_runtime::INIT_SUBCOMMAND) {
        return std::process::ExitCode::from(orc_runtime::init_main(&args[2..]) as u8);
    }
    limit_malloc_arenas();
    let cli = cli::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(cmd::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
