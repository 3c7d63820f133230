//! Volume drivers on one node. orc's binary stays static, so Ceph is reached through
//! the `ceph`, `rbd`, `ceph-fuse` and `rbd-fuse` tools installed on the node (as
//! ceph-csi does), never by linking librados. Every call blocks: run them on a
//! blocking thread.
//!
//! [`Volumes::driver`] gives the [`Driver`] for a volume's spec: [`local::Local`] (a
//! directory), [`cephfs::CephFs`] (a subvolume with a key limited to its path, mounted
//! with the kernel client where the node has it, else ceph-fuse) or [`rbd::Rbd`] (an
//! image formatted on first attach, krbd-mapped where the node has it, else rbd-fuse
//! plus a loop mount).
#![warn(missing_docs)]

pub mod cephfs;
mod error;
pub mod local;
mod mounts;
pub mod rbd;
mod tool;

pub use error::VolumeError;
pub use mounts::{is_mounted, kill_fuse_daemons, unmount};
pub use tool::CephTool;

use orc_spec::{VolumeDriver, VolumeSpec};
use std::path::{Path, PathBuf};

/// What a driver does with one volume on this node. Every call is idempotent: a
/// retry after a failure or a crash finishes the job or cleans up.
pub trait Driver {
    /// Makes the volume exist (image, subvolume, directory); nothing if it does.
    fn create(&self, name: &str, spec: &VolumeSpec) -> Result<(), VolumeError>;
    /// Makes the volume usable on this node; the returned directory is what gets
    /// bind-mounted into containers.
    fn attach(&self, name: &str, spec: &VolumeSpec) -> Result<PathBuf, VolumeError>;
    /// Undoes [`Driver::attach`]: unmounts, unmaps, leaves nothing mounted.
    fn detach(&self, name: &str, spec: &VolumeSpec) -> Result<(), VolumeError>;
    /// Cuts the node at `address` off the volume at Ceph (blocklist), so its writes
    /// fail from now on; run from another node.
    fn fence(&self, name: &str, spec: &VolumeSpec, address: &str) -> Result<(), VolumeError>;
    /// Deletes the volume's data.
    fn delete(&self, name: &str, spec: &VolumeSpec) -> Result<(), VolumeError>;
}

/// This node's volumes: a root directory (`DATA_DIR/volumes`) and, when the cluster
/// has a Ceph setting, the tools to reach Ceph.
pub struct Volumes {
    root: PathBuf,
    ceph: Option<CephTool>,
}

impl Volumes {
    /// Volumes under `root`; Ceph volumes need `ceph`.
    pub fn new(root: impl Into<PathBuf>, ceph: Option<CephTool>) -> Volumes {
        Volumes {
            root: root.into(),
            ceph,
        }
    }

    /// The directory holding `name`'s mount points and files on this node.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Tears `name` down on a node that was fenced off it: its Ceph clients are
    /// blocklisted and would hang every unmount, so they are killed first, then the
    /// mounts are detached lazily and loop devices released. Any driver.
    pub fn force_detach(&self, name: &str) {
        let dir = self.dir(name);
        mounts::kill_fuse_daemons(&dir);
        mounts::unmount_lazy(&dir.join("mnt"));
        for dev in rbd::loop_devices_under(&dir.join("fuse")) {
            let _ = mounts::run("losetup", &["-d", &dev]);
        }
        mounts::unmount_lazy(&dir.join("fuse"));
    }

    /// The driver for `spec`.
    pub fn driver(&self, spec: &VolumeSpec) -> Result<Box<dyn Driver + '_>, VolumeError> {
        let ceph = || {
            self.ceph.as_ref().ok_or(VolumeError::NoCeph {
                driver: spec.driver.name(),
            })
        };
        Ok(match &spec.driver {
            VolumeDriver::Local => Box::new(local::Local { root: &self.root }),
            VolumeDriver::CephFs { .. } => Box::new(cephfs::CephFs {
                root: &self.root,
                tool: ceph()?,
            }),
            VolumeDriver::Rbd { .. } => Box::new(rbd::Rbd {
                root: &self.root,
                tool: ceph()?,
            }),
        })
    }
}
