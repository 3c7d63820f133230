//! The log driver as a stand-alone binary, for orc-runtime's own tests (the orc
//! binary runs the same code as its hidden `__logger` subcommand).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(orc_runtime::logger_main(&args));
}
