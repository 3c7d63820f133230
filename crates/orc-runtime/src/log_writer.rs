//! A size-bounded, rotated log file: `current.log`, then `current.log.1` (newest
//! rotated) … `current.log.N`. Whole lines only; a line longer than the limit is
//! written alone into a fresh file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Name of the file being written.
pub const CURRENT_LOG: &str = "current.log";

/// Writes lines into `DIR/current.log`, rotating at `max_bytes`, keeping `max_files`.
#[derive(Debug)]
pub struct RotatingLog {
    dir: PathBuf,
    max_bytes: u64,
    max_files: u32,
    file: File,
    size: u64,
}

/// The path of rotated file `n` (0 = `current.log`).
pub(crate) fn log_file(dir: &Path, n: u32) -> PathBuf {
    if n == 0 {
        dir.join(CURRENT_LOG)
    } else {
        dir.join(format!("{CURRENT_LOG}.{n}"))
    }
}

impl RotatingLog {
    /// Opens (appending) `DIR/current.log`, creating the directory. `max_bytes` 0 =
    /// never rotate; `max_files` below 1 counts as 1.
    pub fn open(dir: &Path, max_bytes: u64, max_files: u32) -> std::io::Result<RotatingLog> {
        std::fs::create_dir_all(dir)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_file(dir, 0))?;
        let size = file.metadata()?.len();
        Ok(RotatingLog {
            dir: dir.to_path_buf(),
            max_bytes,
            max_files: max_files.max(1),
            file,
            size,
        })
    }

    /// Appends complete lines (each ending in `\n`), rotating between lines as needed.
    pub fn write_lines(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let room = if self.max_bytes == 0 {
                u64::MAX
            } else {
                self.max_bytes.saturating_sub(self.size)
            };
            // The longest run of whole lines that fits.
            let mut take = 0usize;
            for (i, b) in data.iter().enumerate() {
                if (i as u64) >= room {
                    break;
                }
                if *b == b'\n' {
                    take = i + 1;
                }
            }
            if take == 0 {
                if self.size > 0 {
                    self.rotate()?;
                    continue;
                }
                // One line bigger than a whole file: write it alone.
                take = data
                    .iter()
                    .position(|b| *b == b'\n')
                    .map(|i| i + 1)
                    .unwrap_or(data.len());
            }
            self.file.write_all(&data[..take])?;
            self.size += take as u64;
            data = &data[take..];
        }
        Ok(())
    }

    /// current.log → .1 → .2 …, dropping what exceeds `max_files`.
    fn rotate(&mut self) -> std::io::Result<()> {
        let keep = self.max_files - 1;
        if keep == 0 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(log_file(&self.dir, keep));
        for n in (0..keep).rev() {
            match std::fs::rename(log_file(&self.dir, n), log_file(&self.dir, n + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_file(&self.dir, 0))?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rotates_at_the_limit_and_keeps_max_files() {
        let d = tempfile::tempdir().unwrap();
        let mut log = RotatingLog::open(d.path(), 100, 3).unwrap();
        for i in 0..100 {
            log.write_lines(format!("line {i:04} ..........\n").as_bytes())
                .unwrap();
        }
        let f = files(d.path());
        assert_eq!(f.len(), 3, "{f:?}");
        assert!(f.iter().all(|(_, len)| *len <= 100), "{f:?}");
        let last = std::fs::read_to_string(log_file(d.path(), 0)).unwrap();
        assert!(last.ends_with("line 0099 ..........\n"), "{last}");
        let older = std::fs::read_to_string(log_file(d.path(), 1)).unwrap();
        assert!(older.lines().all(|l| l.starts_with("line 00")));
    }

    #[test]
    fn a_huge_line_gets_a_file_of_its_own_and_one_file_means_truncate() {
        let d = tempfile::tempdir().unwrap();
        let mut log = RotatingLog::open(d.path(), 10, 1).unwrap();
        log.write_lines(b"short\n").unwrap();
        log.write_lines(b"a very long line indeed\n").unwrap();
        assert_eq!(files(d.path()), vec![(CURRENT_LOG.to_string(), 24)]);
        log.write_lines(b"x\ny\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(log_file(d.path(), 0)).unwrap(),
            "x\ny\n"
        );
    }

    #[test]
    fn reopening_continues_the_size_count() {
        let d = tempfile::tempdir().unwrap();
        RotatingLog::open(d.path(), 20, 2)
            .unwrap()
            .write_lines(b"0123456789\n")
            .unwrap();
        let mut log = RotatingLog::open(d.path(), 20, 2).unwrap();
        log.write_lines(b"0123456789\n").unwrap();
        assert_eq!(files(d.path()).len(), 2);
    }
}
