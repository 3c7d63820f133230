//! A minimal init for containers (`init: true`): run as PID 1, it starts the task's
//! command, forwards the signals it gets to it, reaps every zombie, and exits with
//! the command's status. The orc binary itself is mounted into the container and run
//! with [`INIT_SUBCOMMAND`]; it is static, so it runs in any image.

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The hidden subcommand that makes the orc binary act as the container's init.
pub const INIT_SUBCOMMAND: &str = "__init";
/// Where the runtime mounts the init binary in a container.
pub const INIT_PATH: &str = "/sbin/orc-init";

/// The signals passed on to the command (SIGCHLD is handled, the rest forwarded).
const FORWARDED: &[Signal] = &[
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGTSTP,
];

/// Runs `command` (program and arguments) under this process as init; returns the
/// exit code to exit with: the command's, 128 + N if a signal N killed it, 127 if it
/// could not be started.
pub fn init_main(command: &[String]) -> i32 {
    let command = match command.first().map(String::as_str) {
        Some("--") => &command[1..],
        _ => command,
    };
    let Some((program, args)) = command.split_first() else {
        eprintln!("orc-init: no command to run");
        return 127;
    };
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in FORWARDED {
        set.add(*s);
    }
    // Blocked here and waited for below; the child starts with an empty mask (std
    // resets it before exec).
    if let Err(e) = set.thread_block() {
        eprintln!("orc-init: blocking signals: {e}");
        return 127;
    }
    let child = match std::process::Command::new(program).args(args).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("orc-init: cannot run {program}: {e}");
            return 127;
        }
    };
    let pid = Pid::from_raw(child.id() as i32);
    loop {
        let Ok(signal) = set.wait() else { continue };
        if signal != Signal::SIGCHLD {
            let _ = kill(pid, signal);
            continue;
        }
        // Reap everything that exited: the command, and orphans re-parented to us.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p == pid => return code,
                Ok(WaitStatus::Signaled(p, s, _)) if p == pid => return 128 + s as i32,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}
