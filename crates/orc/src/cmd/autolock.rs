//! `orc cluster autolock enable|disable`, `orc cluster unlock`, `orc cluster unlock-key`.

use super::call;
use crate::cli::{AutolockCmd, Cli};
use anyhow::{bail, Context};
use orc_api::{Request, Secret};
use std::io::{BufRead, IsTerminal, Write};

fn print_key(key: &str) {
    println!("\n    {key}\n");
    println!("Keep this unlock key somewhere safe, off the cluster: a manager that restarts");
    println!("stays locked until `orc cluster unlock` is given it, and orc stores it nowhere.");
}

pub async fn set(cli: &Cli, sub: &AutolockCmd) -> anyhow::Result<()> {
    let enable = matches!(sub, AutolockCmd::Enable);
    let v = call(cli, Request::Autolock { enable }).await?;
    match (enable, v["changed"] == true) {
        (true, true) => {
            println!("Autolock is on. The unlock key:");
            print_key(v["unlock_key"].as_str().unwrap_or_default());
        }
        (true, false) => {
            println!("autolock is already on (`orc cluster unlock-key` prints the key)")
        }
        (false, true) => println!("autolock is off: managers store the CA key plain again"),
        (false, false) => println!("autolock is already off"),
    }
    Ok(())
}

pub async fn show_key(cli: &Cli, rotate: bool, quiet: bool) -> anyhow::Result<()> {
    let v = call(cli, Request::UnlockKey { rotate }).await?;
    let key = v["unlock_key"].as_str().unwrap_or_default();
    if quiet {
        println!("{key}");
        return Ok(());
    }
    if rotate {
        println!("The unlock key was rotated; the old one no longer works. The new key:");
    } else {
        println!("The unlock key:");
    }
    print_key(key);
    Ok(())
}

/// Reads one line from the terminal with echo off (so the key isn't left on screen).
fn prompt() -> anyhow::Result<String> {
    eprint!("Unlock key: ");
    let _ = std::io::stderr().flush();
    let fd = libc::STDIN_FILENO;
    // SAFETY: `termios` is plain data that tcgetattr fills in; fd 0 is a terminal
    // (checked by the caller) and stays open for the call.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `old` is a valid, writable termios.
    let have = unsafe { libc::tcgetattr(fd, &mut old) } == 0;
    if have {
        let mut quiet = old;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: `quiet` is a valid termios derived from the terminal's own.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if have {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    }
    eprintln!();
    read.context("reading the unlock key")?;
    Ok(line)
}

pub async fn unlock(cli: &Cli, key_stdin: bool) -> anyhow::Result<()> {
    let line = if key_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the unlock key from standard input")?;
        line
    } else if std::io::stdin().is_terminal() {
        prompt()?
    } else {
        bail!(
            "give the unlock key at the prompt (a terminal) or on standard input with --key-stdin"
        );
    };
    let key = line.trim().to_string();
    if key.is_empty() {
        bail!("no unlock key given");
    }
    call(cli, Request::ClusterUnlock { key: Secret(key) }).await?;
    println!("unlocked: this manager holds the cluster CA key again");
    Ok(())
}
