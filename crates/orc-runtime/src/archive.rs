//! Reading an image archive (an OCI image layout or a `docker save` tarball, either
//! optionally gzip-compressed) without unpacking it to disk: a first pass keeps the
//! small files (index, manifests, configs) in memory and notes the rest; a second
//! pass streams the large blobs that are needed.

use crate::RuntimeError;
use flate2::read::GzDecoder;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Files up to this size are kept in memory by the first pass.
const SMALL: u64 = 4 << 20;
/// Chunk size of streamed blobs.
pub(crate) const CHUNK: usize = 1 << 20;
/// Symlink hops followed before giving up.
const MAX_LINKS: usize = 8;

/// One regular file of the archive.
#[derive(Debug, Clone)]
pub(crate) struct ArchiveFile {
    pub size: u64,
    /// The content, for small files.
    pub data: Option<Vec<u8>>,
    /// The file starts with the gzip magic.
    pub gzip: bool,
}

/// What the first pass learnt about an archive.
#[derive(Debug)]
pub(crate) struct ArchiveScan {
    path: PathBuf,
    files: HashMap<String, ArchiveFile>,
    links: HashMap<String, String>,
}

/// A blob streamed by the second pass: its entry name and a channel of chunks.
pub(crate) type StreamedEntry = (String, mpsc::Receiver<std::io::Result<Vec<u8>>>);

fn open(path: &Path) -> Result<Box<dyn Read + Send>, RuntimeError> {
    let mut f = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(|e| RuntimeError::io(path, e))?;
    let f = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    let r = BufReader::with_capacity(256 << 10, f);
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(GzDecoder::new(r))
    } else {
        Box::new(r)
    })
}

/// `./a//b` → `a/b`; `None` for names escaping the archive.
fn clean(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn bad(path: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::archive(format!(
        "{}: not a readable tar archive: {e}",
        path.display()
    ))
}

impl ArchiveScan {
    /// First pass (blocking).
    pub(crate) fn scan(path: &Path) -> Result<ArchiveScan, RuntimeError> {
        let mut ar = tar::Archive::new(open(path)?);
        let mut files = HashMap::new();
        let mut links = HashMap::new();
        for entry in ar.entries().map_err(|e| bad(path, e))? {
            let mut entry = entry.map_err(|e| bad(path, e))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = clean(&raw) else { continue };
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned());
                let base = if kind.is_symlink() {
                    name.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
                } else {
                    ""
                };
                if let Some(t) = target.and_then(|t| clean(&format!("{base}/{t}"))) {
                    links.insert(name, t);
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let size = entry.size();
            let mut file = ArchiveFile {
                size,
                data: None,
                gzip: false,
            };
            if size <= SMALL {
                let mut data = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut data).map_err(|e| bad(path, e))?;
                file.gzip = data.starts_with(&[0x1f, 0x8b]);
                file.data = Some(data);
            } else {
                let mut magic = [0u8; 2];
                entry.read_exact(&mut magic).map_err(|e| bad(path, e))?;
                file.gzip = magic == [0x1f, 0x8b];
            }
            files.insert(name, file);
        }
        Ok(ArchiveScan {
            path: path.to_path_buf(),
            files,
            links,
        })
    }

    /// The regular file `name` resolves to (following symlinks), and its real name.
    pub(crate) fn file(&self, name: &str) -> Option<(&str, &ArchiveFile)> {
        let mut name = clean(name)?;
        for _ in 0..MAX_LINKS {
            if let Some((k, f)) = self.files.get_key_value(&name) {
                return Some((k.as_str(), f));
            }
            name = self.links.get(&name)?.clone();
        }
        None
    }

    /// The in-memory content of a small file, or an error naming what is missing.
    pub(crate) fn small(&self, name: &str) -> Result<&[u8], RuntimeError> {
        match self.file(name) {
            Some((_, ArchiveFile { data: Some(d), .. })) => Ok(d),
            Some(_) => Err(RuntimeError::archive(format!(
                "{name} is too large for a metadata file"
            ))),
            None => Err(RuntimeError::archive(format!("{name} is missing"))),
        }
    }

    /// True if the archive holds `name`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.file(name).is_some()
    }

    /// Second pass (blocking): sends each wanted large file, in archive order, as a
    /// channel of chunks. Stops early when the receiver goes away.
    pub(crate) fn stream(
        &self,
        wanted: &HashSet<String>,
        tx: mpsc::Sender<StreamedEntry>,
    ) -> Result<(), RuntimeError> {
        let path = &self.path;
        let mut ar = tar::Archive::new(open(path)?);
        let mut left = wanted.clone();
        for entry in ar.entries().map_err(|e| bad(path, e))? {
            if left.is_empty() {
                break;
            }
            let mut entry = entry.map_err(|e| bad(path, e))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = clean(&raw) else { continue };
            if !entry.header().entry_type().is_file() || !left.remove(&name) {
                continue;
            }
            let (ctx, crx) = mpsc::channel(4);
            if tx.blocking_send((name, crx)).is_err() {
                return Ok(());
            }
            loop {
                let mut buf = vec![0u8; CHUNK];
                let mut filled = 0;
                let res = loop {
                    match entry.read(&mut buf[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == CHUNK {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                match res {
                    Err(e) => {
                        let _ = ctx.blocking_send(Err(e));
                        return Ok(());
                    }
                    Ok(()) if filled == 0 => break,
                    Ok(()) => {
                        buf.truncate(filled);
                        if ctx.blocking_send(Ok(buf)).is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(
            clean("./blobs//sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(clean("a/../b").as_deref(), Some("b"));
        assert_eq!(clean("../x"), None);
    }

    fn tar_with(entries: &[(&str, &[u8])], link: Option<(&str, &str)>) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut b = tar::Builder::new(f.reopen().unwrap());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        if let Some((name, target)) = link {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, name, target).unwrap();
        }
        b.finish().unwrap();
        f
    }

    #[test]
    fn scan_keeps_small_files_and_follows_links() {
        let f = tar_with(
            &[("./a/layer.tar", b"hello"), ("manifest.json", b"[]")],
            Some(("b/layer.tar", "../a/layer.tar")),
        );
        let s = ArchiveScan::scan(f.path()).unwrap();
        assert_eq!(s.small("manifest.json").unwrap(), b"[]");
        let (real, file) = s.file("b/layer.tar").unwrap();
        assert_eq!(real, "a/layer.tar");
        assert_eq!(file.size, 5);
        assert!(s.small("nope").is_err());
    }

    #[test]
    fn a_non_tar_file_is_an_invalid_archive() {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), vec![7u8; 2000]).unwrap();
        assert!(matches!(
            ArchiveScan::scan(f.path()),
            Err(RuntimeError::InvalidArchive(_))
        ));
    }
}
