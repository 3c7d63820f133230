//! `orc`: the command line and, as `orc daemon`, the node daemon.

mod cli;
mod cmd;
mod output;

use clap::Parser;

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
