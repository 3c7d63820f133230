//! Reading a task's rotated logs: the last N lines, and following new lines as the
//! log driver writes them (across rotations).

use crate::log_writer::log_file;
use std::future::Future;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// How often `follow_logs` looks for new data.
const FOLLOW_POLL: Duration = Duration::from_millis(200);
/// Rotated files looked at (more than any sane max_files).
const MAX_ROTATED: u32 = 1000;

fn read_or_empty(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        r => r,
    }
}

fn lines_of(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The lines of a task's logs as stored (each behind its time and stream, see
/// [`crate::LogLine`]), oldest first; only the last `tail` if given. A
/// missing directory has no lines.
pub fn read_log_records(dir: &Path, tail: Option<usize>) -> std::io::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    // Newest first (current.log, .1, .2 …) until enough lines are collected.
    for n in 0..=MAX_ROTATED {
        let path = log_file(dir, n);
        if n > 0 && !path.exists() {
            break;
        }
        let mut lines = lines_of(&read_or_empty(&path)?);
        lines.append(&mut out);
        out = lines;
        if tail.is_some_and(|t| out.len() >= t) {
            break;
        }
    }
    if let Some(t) = tail {
        let skip = out.len().saturating_sub(t);
        out.drain(..skip);
    }
    Ok(out)
}

/// The text of a task's log lines (times and streams dropped), oldest first; only the
/// last `tail` if given.
pub fn read_logs(dir: &Path, tail: Option<usize>) -> std::io::Result<Vec<String>> {
    Ok(read_log_records(dir, tail)?
        .iter()
        .map(|l| crate::LogLine::parse(l).text)
        .collect())
}

/// The file being followed.
struct Followed {
    file: std::fs::File,
    ino: u64,
    partial: Vec<u8>,
}

fn open_current(dir: &Path, from_end: bool) -> std::io::Result<Option<Followed>> {
    let mut file = match std::fs::File::open(log_file(dir, 0)) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if from_end {
        file.seek(SeekFrom::End(0))?;
    }
    let ino = file.metadata()?.ino();
    Ok(Some(Followed {
        file,
        ino,
        partial: Vec::new(),
    }))
}

/// Complete new lines of `f`.
fn drain(f: &mut Followed) -> std::io::Result<Vec<String>> {
    let mut buf = Vec::new();
    f.file.read_to_end(&mut buf)?;
    f.partial.extend_from_slice(&buf);
    match f.partial.iter().rposition(|b| *b == b'\n') {
        Some(i) => {
            let lines = lines_of(&f.partial[..=i]);
            f.partial.drain(..=i);
            Ok(lines)
        }
        None => Ok(Vec::new()),
    }
}

/// Follows a task's log, calling `on_line` for each new line until it returns
/// false or the directory is removed. With `from_end`, only lines written from now
/// on; otherwise the whole log first (rotated files included), then new lines.
pub async fn follow_logs<F, Fut>(dir: &Path, from_end: bool, mut on_line: F) -> std::io::Result<()>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut current = open_current(dir, from_end)?;
    if !from_end {
        // The rotated files, oldest first, then current.log through `current`.
        let mut rotated = Vec::new();
        for n in 1..=MAX_ROTATED {
            let p = log_file(dir, n);
            if !p.exists() {
                break;
            }
            rotated.push(p);
        }
        for p in rotated.iter().rev() {
            for l in lines_of(&read_or_empty(p)?) {
                if !on_line(l).await {
                    return Ok(());
                }
            }
        }
    }
    loop {
        if let Some(f) = current.as_mut() {
            for l in drain(f)? {
                if !on_line(l).await {
                    return Ok(());
                }
            }
        }
        // Rotated (or created) since? Finish the old file, then start the new one.
        let now = match std::fs::metadata(log_file(dir, 0)) {
            Ok(m) => Some(m.ino()),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        if now.is_some() && now != current.as_ref().map(|f| f.ino) {
            if let Some(f) = current.as_mut() {
                for l in drain(f)? {
                    if !on_line(l).await {
                        return Ok(());
                    }
                }
            }
            current = open_current(dir, false)?;
            continue;
        }
        if !dir.exists() {
            return Ok(());
        }
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RotatingLog;
    use std::sync::{Arc, Mutex};

    #[test]
    fn tail_spans_rotated_files() {
        let d = tempfile::tempdir().unwrap();
        let mut log = RotatingLog::open(d.path(), 30, 2).unwrap();
        for i in 0..10 {
            log.write_lines(format!("line {i}\n").as_bytes()).unwrap();
        }
        let all = read_logs(d.path(), None).unwrap();
        assert_eq!(all.last().map(String::as_str), Some("line 9"));
        assert!(all.len() < 10, "old files were dropped: {all:?}");
        let tail = read_logs(d.path(), Some(5)).unwrap();
        assert_eq!(
            tail,
            (5..10).map(|i| format!("line {i}")).collect::<Vec<_>>()
        );
        assert!(read_logs(&d.path().join("nope"), Some(3))
            .unwrap()
            .is_empty());
    }

    async fn seen_within(seen: &Mutex<Vec<String>>, line: &str, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if seen.lock().unwrap().iter().any(|l| l == line) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn follow_sees_new_lines_across_rotation_and_stops_when_told() {
        let d = tempfile::tempdir().unwrap();
        let mut log = RotatingLog::open(d.path(), 40, 3).unwrap();
        log.write_lines(b"before\n").unwrap();
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let s2 = seen.clone();
        let dir = d.path().to_path_buf();
        let follower = tokio::spawn(async move {
            follow_logs(&dir, true, move |l| {
                let s2 = s2.clone();
                async move {
                    s2.lock().unwrap().push(l.clone());
                    l != "line 19"
                }
            })
            .await
        });
        // Until the follower reads, it may open the file after any of these.
        let mut synced = false;
        for _ in 0..200 {
            log.write_lines(b"sync\n").unwrap();
            if seen_within(&seen, "sync", Duration::from_millis(50)).await {
                synced = true;
                break;
            }
        }
        assert!(synced, "the follower never saw a line");
        // One line at a time, each seen before the next: rotations (every few
        // lines at 40 bytes) must not lose any.
        for i in 0..20 {
            let line = format!("line {i}");
            log.write_lines(format!("{line}\n").as_bytes()).unwrap();
            assert!(
                seen_within(&seen, &line, Duration::from_secs(10)).await,
                "{line} not seen"
            );
        }
        tokio::time::timeout(Duration::from_secs(10), follower)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let seen: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| *l != "sync")
            .cloned()
            .collect();
        assert_eq!(
            seen,
            (0..20).map(|i| format!("line {i}")).collect::<Vec<_>>()
        );
        assert!(
            std::fs::metadata(log_file(d.path(), 2)).is_ok(),
            "rotation happened"
        );
    }
}
