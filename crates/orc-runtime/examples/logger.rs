//! The log driver as a stand-alone binary, for orc-runtime's own tests (the orc
//! binary runs the same code as its hidden `__logger` subcommand).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Also the container init, for the init tests (as the orc binary is).
    if args.first().map(String::as_str) == Some(orc_runtime::INIT_SUBCOMMAND) {
        std::process::exit(orc_runtime::init_main(&args[1..]));
    }
    std::process::exit(orc_runtime::logger_main(&args));
}
