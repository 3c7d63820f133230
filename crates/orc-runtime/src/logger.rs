//! The log driver: containerd's shim starts it (task stdio URI
//! `binary:///PATH?SUBCOMMAND=CONFIG`) with the container's stdout on fd 3, stderr
//! on fd 4 and a "ready" pipe on fd 5, and signals SIGTERM when the task is deleted.
//! It appends both streams, line by line, to the task's rotating log. Being the
//! shim's child, it keeps logging while the orc daemon restarts.

use crate::log_writer::RotatingLog;
use crate::{LogConfig, RuntimeError};
use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::path::PathBuf;

/// The default hidden subcommand that makes a binary act as orc's log driver.
pub const LOGGER_SUBCOMMAND: &str = "__logger";
/// A partial line is written out once this long.
const MAX_LINE: usize = 16 << 10;
const CONFIG_VERSION: &str = "v1";

/// The log driver's settings, as passed through the stdio URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggerSettings {
    /// Per-task log directory.
    pub dir: PathBuf,
    /// Rotation size.
    pub max_bytes: u64,
    /// Files kept.
    pub max_files: u32,
}

impl LoggerSettings {
    /// One string: `v1;MAX_BYTES;MAX_FILES;DIR` (the directory last, taken whole).
    pub fn encode(&self) -> Result<String, RuntimeError> {
        let dir = self
            .dir
            .to_str()
            .ok_or_else(|| RuntimeError::Spec(format!("log dir {:?} is not UTF-8", self.dir)))?;
        Ok(format!(
            "{CONFIG_VERSION};{};{};{dir}",
            self.max_bytes, self.max_files
        ))
    }

    /// Parses [`LoggerSettings::encode`]'s output.
    pub fn decode(s: &str) -> Option<LoggerSettings> {
        let mut parts = s.splitn(4, ';');
        if parts.next()? != CONFIG_VERSION {
            return None;
        }
        let max_bytes = parts.next()?.parse().ok()?;
        let max_files = parts.next()?.parse().ok()?;
        let dir = PathBuf::from(parts.next()?);
        dir.is_absolute().then_some(LoggerSettings {
            dir,
            max_bytes,
            max_files,
        })
    }
}

/// Percent-encodes everything but unreserved characters (and `/` if `keep_slash`).
fn pct(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The task stdio URI that makes the shim run the log driver for `log`.
pub fn stdio_uri(log: &LogConfig) -> Result<String, RuntimeError> {
    let bin = &log.logger_binary;
    if !bin.is_absolute() {
        return Err(RuntimeError::Spec(format!(
            "logger binary {} must be an absolute path",
            bin.display()
        )));
    }
    let bin = bin
        .to_str()
        .ok_or_else(|| RuntimeError::Spec(format!("logger binary {bin:?} is not UTF-8")))?;
    if log.logger_args.len() > 1 {
        return Err(RuntimeError::Spec(
            "at most one logger argument is supported".into(),
        ));
    }
    let key = log
        .logger_args
        .first()
        .map(String::as_str)
        .unwrap_or(LOGGER_SUBCOMMAND);
    let settings = LoggerSettings {
        dir: log.dir.clone(),
        max_bytes: log.max_bytes,
        max_files: log.max_files,
    };
    if !settings.dir.is_absolute() {
        return Err(RuntimeError::Spec(format!(
            "log dir {} must be absolute",
            settings.dir.display()
        )));
    }
    Ok(format!(
        "binary://{}?{}={}",
        pct(bin, true),
        pct(key, false),
        pct(&settings.encode()?, false)
    ))
}

/// True if descriptor `fd` is open and a pipe.
fn is_pipe(fd: i32) -> bool {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .is_ok_and(|l| l.to_string_lossy().starts_with("pipe:"))
}

/// Takes an inherited pipe descriptor.
fn inherited(fd: i32) -> Option<File> {
    if !is_pipe(fd) {
        return None;
    }
    // SAFETY: the descriptor is an open pipe (checked just above) inherited from the
    // shim for this purpose, before this process opened anything itself; nothing
    // else owns it, and it is taken exactly once (3 and 4, once each).
    Some(unsafe { File::from_raw_fd(fd) })
}

/// Bytes read from a stream at a time (on the stack: only what a read fills is touched).
const READ_CHUNK: usize = 16 << 10;

/// One inherited stream and its partial last line.
struct Stream {
    src: File,
    pending: Vec<u8>,
    /// The container's standard error (else its standard output).
    stderr: bool,
}

/// Writes `data` (whole lines) to the log, if there is one, each line behind its
/// time and stream (see [`crate::LogLine`]).
fn write(log: &mut Option<RotatingLog>, data: &[u8], stderr: bool) {
    let Some(l) = log.as_mut() else { return };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let prefix = crate::log_line::prefix(now, stderr);
    let mut out = Vec::with_capacity(data.len() + prefix.len() * 4);
    for line in data.split_inclusive(|b| *b == b'\n') {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(line);
    }
    if let Err(e) = l.write_lines(&out) {
        eprintln!("orc log driver: {e}");
    }
}

impl Stream {
    /// Appends what was read; writes out every complete line, and a partial one once
    /// it reaches [`MAX_LINE`].
    fn take(&mut self, data: &[u8], log: &mut Option<RotatingLog>) {
        self.pending.extend_from_slice(data);
        if let Some(last_nl) = self.pending.iter().rposition(|b| *b == b'\n') {
            write(log, &self.pending[..=last_nl], self.stderr);
            self.pending.drain(..=last_nl);
        }
        if self.pending.len() >= MAX_LINE {
            self.pending.push(b'\n');
            write(log, &self.pending, self.stderr);
            self.pending.clear();
        }
        if self.pending.is_empty() && self.pending.capacity() > READ_CHUNK {
            // A burst of long lines is over: give the memory back.
            self.pending = Vec::new();
        }
    }

    /// At end of stream: the unterminated last line, terminated.
    fn finish(mut self, log: &mut Option<RotatingLog>) {
        if !self.pending.is_empty() {
            self.pending.push(b'\n');
            write(log, &self.pending, self.stderr);
        }
    }
}

/// Reads every stream until each reaches end of file, on this one thread (poll(2)):
/// no thread stacks, no per-thread allocator arenas, one read buffer.
fn pump(streams: Vec<(File, bool)>, log: &mut Option<RotatingLog>) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut open: Vec<Stream> = streams
        .into_iter()
        .map(|(src, stderr)| Stream {
            src,
            pending: Vec::new(),
            stderr,
        })
        .collect();
    let mut buf = [0u8; READ_CHUNK];
    while !open.is_empty() {
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd> = open
                .iter()
                .map(|s| PollFd::new(s.src.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => fds.iter().map(|f| f.any().unwrap_or(true)).collect(),
                Err(nix::errno::Errno::EINTR) => continue,
                // Cannot wait: read each stream in turn (reads block).
                Err(_) => vec![true; open.len()],
            }
        };
        let mut i = 0;
        let mut ready = ready.into_iter();
        while i < open.len() {
            if !ready.next().unwrap_or(false) {
                i += 1;
                continue;
            }
            match open[i].src.read(&mut buf) {
                Ok(0) => open.remove(i).finish(log),
                Ok(n) => {
                    open[i].take(&buf[..n], log);
                    i += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => i += 1,
                Err(_) => open.remove(i).finish(log),
            }
        }
    }
}

/// The log driver's entry point; `args` is `[SETTINGS]` or `[SUBCOMMAND, SETTINGS]`.
/// Returns the process exit code. Never fails before signalling ready, so the
/// container cannot block on it: without a usable log directory it discards output.
pub fn logger_main(args: &[String]) -> i32 {
    let args: Vec<&String> = args
        .iter()
        .filter(|a| a.as_str() != LOGGER_SUBCOMMAND)
        .collect();
    let settings = args.first().and_then(|a| LoggerSettings::decode(a));
    // The shim sends SIGTERM when the task is deleted, after closing the pipes'
    // write ends: keep reading to EOF so nothing is lost.
    let mut block = nix::sys::signal::SigSet::empty();
    block.add(nix::sys::signal::Signal::SIGTERM);
    let _ = block.thread_block();
    // Take the inherited descriptors before opening anything that could reuse them.
    // 3 is the container's standard output, 4 its standard error.
    let streams: Vec<(File, bool)> = [(3, false), (4, true)]
        .into_iter()
        .filter_map(|(fd, stderr)| inherited(fd).map(|f| (f, stderr)))
        .collect();
    // Ready: the shim waits for fd 5 to close before starting the container.
    if is_pipe(5) {
        let _ = nix::unistd::close(5);
    }
    let log = match &settings {
        Some(s) => match RotatingLog::open(&s.dir, s.max_bytes, s.max_files) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("orc log driver: {}: {e}", s.dir.display());
                None
            }
        },
        None => {
            eprintln!("orc log driver: bad arguments {args:?}");
            None
        }
    };
    let mut log = log;
    pump(streams, &mut log);
    if settings.is_some() && log.is_some() {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn one_thread_pumps_both_streams_into_whole_lines() {
        let d = tempfile::tempdir().unwrap();
        let (out_r, out_w) = nix::unistd::pipe().unwrap();
        let (err_r, err_w) = nix::unistd::pipe().unwrap();
        let (mut out_w, mut err_w) = (File::from(out_w), File::from(err_w));
        let long = "x".repeat(MAX_LINE + 10);
        let writer = std::thread::spawn(move || {
            out_w.write_all(b"out 1\nout ").unwrap();
            err_w.write_all(b"err 1\n").unwrap();
            out_w.write_all(b"2\n").unwrap();
            err_w.write_all(long.as_bytes()).unwrap();
            drop(err_w);
            out_w.write_all(b"no newline at the end").unwrap();
        });
        let mut log = Some(RotatingLog::open(d.path(), 0, 1).unwrap());
        pump(
            vec![(File::from(out_r), false), (File::from(err_r), true)],
            &mut log,
        );
        writer.join().unwrap();
        let parsed: Vec<crate::LogLine> = crate::read_logs(d.path(), None)
            .unwrap()
            .iter()
            .map(|l| crate::LogLine::parse(l))
            .collect();
        assert!(parsed.iter().all(|l| l.time_ns.is_some()));
        assert!(parsed
            .iter()
            .all(|l| l.stderr == (l.text.starts_with("err") || l.text.starts_with('x'))));
        let lines: Vec<String> = parsed.into_iter().map(|l| l.text).collect();
        // A partial line is cut once it reaches MAX_LINE (where exactly depends on
        // how the reads fall); nothing of it is lost.
        let (xs, mut rest): (Vec<String>, Vec<String>) =
            lines.iter().cloned().partition(|l| l.starts_with('x'));
        assert_eq!(xs.concat(), "x".repeat(MAX_LINE + 10));
        assert!(
            xs[0].len() >= MAX_LINE,
            "{:?}",
            xs.iter().map(String::len).collect::<Vec<_>>()
        );
        rest.sort();
        assert_eq!(rest, ["err 1", "no newline at the end", "out 1", "out 2"]);
        // Each stream's lines keep their order.
        let pos = |l: &str| lines.iter().position(|x| x == l).unwrap();
        assert!(pos("out 1") < pos("out 2"));
        assert!(pos("out 2") < pos("no newline at the end"));
        assert!(pos("err 1") < pos(&xs[0]));
    }

    #[test]
    fn settings_round_trip_with_odd_directories() {
        let s = LoggerSettings {
            dir: "/var/lib/orc/logs/a;b c".into(),
            max_bytes: 1 << 20,
            max_files: 5,
        };
        assert_eq!(LoggerSettings::decode(&s.encode().unwrap()), Some(s));
        assert_eq!(LoggerSettings::decode("v1;1;1;relative"), None);
        assert_eq!(LoggerSettings::decode("v0;1;1;/x"), None);
    }

    #[test]
    fn uri_is_percent_encoded() {
        let log = LogConfig {
            dir: "/logs/t 1".into(),
            max_bytes: 10,
            max_files: 2,
            logger_binary: "/usr/bin/orc".into(),
            logger_args: vec![],
        };
        assert_eq!(
            stdio_uri(&log).unwrap(),
            "binary:///usr/bin/orc?__logger=v1%3B10%3B2%3B%2Flogs%2Ft%201"
        );
        let rel = LogConfig {
            logger_binary: "orc".into(),
            ..log
        };
        assert!(stdio_uri(&rel).is_err());
    }
}
