//! `local`: a directory on one node. Nothing to mount; the scheduler pins the
//! volume's tasks to the node that holds it.

use crate::mounts::make_dir;
use crate::{Driver, VolumeError};
use orc_spec::VolumeSpec;
use std::path::{Path, PathBuf};

/// The local driver.
pub struct Local<'a> {
    /// `DATA_DIR/volumes`.
    pub root: &'a Path,
}

impl Local<'_> {
    fn data(&self, name: &str) -> PathBuf {
        self.root.join(name).join("data")
    }
}

impl Driver for Local<'_> {
    fn create(&self, name: &str, _spec: &VolumeSpec) -> Result<(), VolumeError> {
        make_dir(&self.data(name))
    }

    fn attach(&self, name: &str, spec: &VolumeSpec) -> Result<PathBuf, VolumeError> {
        self.create(name, spec)?;
        Ok(self.data(name))
    }

    fn detach(&self, _name: &str, _spec: &VolumeSpec) -> Result<(), VolumeError> {
        Ok(())
    }

    fn fence(&self, _name: &str, _spec: &VolumeSpec, _address: &str) -> Result<(), VolumeError> {
        // Only its own node can reach a local volume: nothing to fence.
        Ok(())
    }

    fn delete(&self, name: &str, _spec: &VolumeSpec) -> Result<(), VolumeError> {
        let dir = self.root.join(name);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(VolumeError::io("removing", &dir, e))
            }
            _ => Ok(()),
        }
    }
}
