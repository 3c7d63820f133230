//! The sled implementation of [`KvBackend`], configured for small boards.

use crate::kv::{KvBackend, KvOp, KvPair, Space};
use crate::{KvError, StoreConfig};
use std::ops::Bound;
use std::path::Path;

/// A sled database with one tree per [`Space`].
#[derive(Clone)]
pub struct SledKv {
    db: sled::Db,
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
        let tree = |s: Space| db.open_tree(s.name()).map_err(kv_err);
        Ok(SledKv {
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
        self.db.flush().map(|_| ()).map_err(kv_err)
    }
}
