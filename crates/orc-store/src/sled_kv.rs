//! The sled implementation of [`KvBackend`], configured for small boards.

use crate::kv::{KvBackend, KvOp, KvPair, Space};
use crate::{KvError, StoreConfig};
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A sled database with one tree per [`Space`].
///
/// sled 0.34's own flush ends, on Linux, with `sync_file_range`, which neither flushes
/// the device's write cache nor syncs file metadata, and it never syncs the blob files
/// it writes for items over ~128 KiB. [`KvBackend::flush`] therefore first syncs new
/// blob files (and their directory), then flushes sled, then `fdatasync`s sled's data
/// file, so that a flushed write survives power loss.
#[derive(Clone)]
pub struct SledKv {
    db: sled::Db,
    data_file: Arc<File>,
    blobs_dir: PathBuf,
    synced_blobs: Arc<Mutex<HashSet<OsString>>>,
    log: sled::Tree,
    meta: sled::Tree,
    snapshot: sled::Tree,
}

fn kv_err(e: sled::Error) -> KvError {
    KvError {
        backend: "sled",
        source: Box::new(e),
    }
}

fn io_err(e: std::io::Error) -> KvError {
    KvError {
        backend: "sled",
        source: Box::new(e),
    }
}

impl SledKv {
    /// Opens (or creates) the database in `dir` with the cache and flush settings of `cfg`.
    /// No compression: it would pull zstd-sys (C) into the static musl build.
    pub fn open(dir: &Path, cfg: &StoreConfig) -> Result<Self, KvError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cfg.cache_capacity)
            .flush_every_ms(cfg.flush_every_ms)
            .mode(sled::Mode::LowSpace)
            .use_compression(false)
            .open()
            .map_err(kv_err)?;
        // sled 0.34 keeps everything in one file, `db`, inside its directory.
        let data_file = File::open(dir.join("db")).map_err(io_err)?;
        let tree = |s: Space| db.open_tree(s.name()).map_err(kv_err);
        Ok(SledKv {
            data_file: Arc::new(data_file),
            blobs_dir: dir.join("blobs"),
            synced_blobs: Arc::default(),
            log: tree(Space::Log)?,
            meta: tree(Space::Meta)?,
            snapshot: tree(Space::Snapshot)?,
            db,
        })
    }

    fn tree(&self, space: Space) -> &sled::Tree {
        match space {
            Space::Log => &self.log,
            Space::Meta => &self.meta,
            Space::Snapshot => &self.snapshot,
        }
    }

    /// Syncs blob files not synced before, then their directory if there were any.
    fn sync_new_blobs(&self) -> std::io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut synced = self
            .synced_blobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut present = HashSet::new();
        let mut new = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                match File::open(entry.path()) {
                    Ok(f) => f.sync_data()?,
                    // sled removed it meanwhile (garbage collection).
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new = true;
            }
            present.insert(name);
        }
        *synced = present;
        if new {
            File::open(&self.blobs_dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Bytes the database occupies on disk, as sled reports it.
    pub fn size_on_disk(&self) -> Result<u64, KvError> {
        self.db.size_on_disk().map_err(kv_err)
    }
}

fn owned(b: Bound<&[u8]>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl KvBackend for SledKv {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self
            .tree(space)
            .get(key)
            .map_err(kv_err)?
            .map(|v| v.to_vec()))
    }

    fn write(&self, space: Space, ops: Vec<KvOp>) -> Result<(), KvError> {
        let mut batch = sled::Batch::default();
        for op in ops {
            match op {
                KvOp::Put(k, v) => batch.insert(k, v),
                KvOp::Delete(k) => batch.remove(k),
            }
        }
        self.tree(space).apply_batch(batch).map_err(kv_err)
    }

    fn range(
        &self,
        space: Space,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KvPair>, KvError> {
        self.tree(space)
            .range::<Vec<u8>, _>((owned(from), owned(to)))
            .take(limit)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(kv_err))
            .collect()
    }

    fn last(&self, space: Space) -> Result<Option<KvPair>, KvError> {
        let last = self.tree(space).last().map_err(kv_err)?;
        Ok(last.map(|(k, v)| (k.to_vec(), v.to_vec())))
    }

    fn remove_range(
        &self,
        space: Space,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
    ) -> Result<(), KvError> {
        let tree = self.tree(space);
        let mut batch = sled::Batch::default();
        for key in tree.range::<Vec<u8>, _>((owned(from), owned(to))).keys() {
            batch.remove(key.map_err(kv_err)?);
        }
        tree.apply_batch(batch).map_err(kv_err)
    }

    fn is_empty(&self, space: Space) -> Result<bool, KvError> {
        Ok(self.tree(space).is_empty())
    }

    fn flush(&self) -> Result<(), KvError> {
        self.sync_new_blobs().map_err(io_err)?;
        self.db.flush().map_err(kv_err)?;
        self.data_file.sync_data().map_err(io_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_values_go_to_synced_blobs_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 251) as u8).collect();
        {
            let kv = SledKv::open(dir.path(), &StoreConfig::default()).unwrap();
            kv.write(
                Space::Snapshot,
                vec![KvOp::Put(b"data".to_vec(), big.clone())],
            )
            .unwrap();
            kv.flush().unwrap();
            let blobs = std::fs::read_dir(dir.path().join("blobs")).unwrap().count();
            assert!(blobs >= 1, "a 300 KiB value should be a sled blob");
            assert_eq!(kv.synced_blobs.lock().unwrap().len(), blobs);
        }
        let kv = SledKv::open(dir.path(), &StoreConfig::default()).unwrap();
        assert_eq!(kv.get(Space::Snapshot, b"data").unwrap(), Some(big));
    }

    #[test]
    fn ranges_and_removals_follow_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let kv = SledKv::open(dir.path(), &StoreConfig::default()).unwrap();
        let ops = (1u64..=5)
            .map(|i| KvOp::Put(i.to_be_bytes().to_vec(), vec![i as u8]))
            .collect();
        kv.write(Space::Log, ops).unwrap();
        let k = |i: u64| i.to_be_bytes();
        let (k2, k4) = (k(2), k(4));
        let got = kv
            .range(Space::Log, Bound::Included(&k2), Bound::Excluded(&k4), 10)
            .unwrap();
        assert_eq!(
            got.iter().map(|(_, v)| v[0]).collect::<Vec<_>>(),
            vec![2, 3]
        );
        kv.remove_range(Space::Log, Bound::Unbounded, Bound::Included(&k2))
            .unwrap();
        let rest = kv
            .range(Space::Log, Bound::Unbounded, Bound::Unbounded, 2)
            .unwrap();
        assert_eq!(
            rest.iter().map(|(_, v)| v[0]).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert_eq!(kv.last(Space::Log).unwrap().map(|(_, v)| v[0]), Some(5));
        assert!(kv.is_empty(Space::Meta).unwrap());
    }
}
