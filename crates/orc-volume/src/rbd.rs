//! `rbd`: an image per volume, formatted on first attach. Mapped with krbd (exclusive)
//! where the node has it, else exposed by rbd-fuse as a file and loop-mounted.

use crate::mounts::{is_mounted, make_dir, run, unmount};
use crate::{CephTool, Driver, VolumeError};
use orc_spec::{VolumeDriver, VolumeSpec};
use std::path::{Path, PathBuf};

/// The rbd driver.
pub struct Rbd<'a> {
    /// `DATA_DIR/volumes`.
    pub root: &'a Path,
    /// orc's Ceph identity on this node.
    pub tool: &'a CephTool,
}

fn pool_and_fs(spec: &VolumeSpec) -> (&str, &str) {
    match &spec.driver {
        VolumeDriver::Rbd { pool, fs_type } => (pool, fs_type),
        _ => ("rbd", "ext4"),
    }
}

/// Whether this kernel has the rbd block driver.
fn kernel_rbd() -> bool {
    Path::new("/sys/bus/rbd").exists()
}

/// Makes a filesystem on `dev` unless it holds one already.
fn format_if_blank(dev: &str, fs_type: &str) -> Result<(), VolumeError> {
    // blkid exits 2 when it finds no signature at all.
    match std::process::Command::new("blkid")
        .args(["-p", dev])
        .output()
    {
        Ok(o) if o.status.code() == Some(2) => {
            let mkfs = format!("mkfs.{fs_type}");
            let force = if fs_type == "xfs" { "-f" } else { "-F" };
            run(&mkfs, &["-q", force, dev]).map(drop)
        }
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(VolumeError::Other(format!(
            "blkid -p {dev}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ))),
        Err(e) => Err(VolumeError::io("running blkid on", Path::new(dev), e)),
    }
}

impl Rbd<'_> {
    fn exists(&self, image: &str) -> Result<bool, VolumeError> {
        match self.tool.rbd(&["info", image]) {
            Ok(_) => Ok(true),
            Err(VolumeError::Tool { stderr, .. }) if stderr.contains("No such file") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The krbd device the image is mapped on, if any.
    fn mapped(&self, pool: &str, name: &str) -> Result<Option<String>, VolumeError> {
        let out = self.tool.rbd(&["showmapped", "--format", "json"])?;
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        Ok(v.as_array().into_iter().flatten().find_map(|m| {
            (m["pool"] == pool && m["name"] == name)
                .then(|| m["device"].as_str().map(str::to_string))
                .flatten()
        }))
    }
}

impl Driver for Rbd<'_> {
    fn create(&self, name: &str, spec: &VolumeSpec) -> Result<(), VolumeError> {
        let (pool, _) = pool_and_fs(spec);
        let image = format!("{pool}/{name}");
        if self.exists(&image)? {
            return Ok(());
        }
        let size = format!("{}K", spec.size_bytes.div_ceil(1024).max(1024));
        self.tool
            .rbd(&["create", "--size", &size, &image])
            .map(drop)
    }

    fn attach(&self, name: &str, spec: &VolumeSpec) -> Result<PathBuf, VolumeError> {
        let (pool, fs_type) = pool_and_fs(spec);
        let dir = self.root.join(name);
        let mnt = dir.join("mnt");
        if is_mounted(&mnt) {
            return Ok(mnt);
        }
        make_dir(&mnt)?;
        self.create(name, spec)?;
        let m = mnt.display().to_string();
        if kernel_rbd() {
            let dev = match self.mapped(pool, name)? {
                Some(d) => d,
                None => self
                    .tool
                    .rbd(&["map", "--exclusive", &format!("{pool}/{name}")])?
                    .trim()
                    .to_string(),
            };
            format_if_blank(&dev, fs_type)?;
            run("mount", &[&dev, &m])?;
        } else {
            let fuse = dir.join("fuse");
            make_dir(&fuse)?;
            if !is_mounted(&fuse) {
                let f = fuse.display().to_string();
                self.tool.run(
                    "rbd-fuse",
                    &["-p", pool, "-r", name, &f],
                    "package rbd-fuse",
                )?;
            }
            let file = fuse.join(name).display().to_string();
            // losetup, not `mount -o loop`: the latter stats the backing file of every
            // loop device to avoid duplicates, and one served by a fenced (hung) FUSE
            // client never answers.
            let attached = format_if_blank(&file, fs_type).and_then(|()| {
                let dev = run("losetup", &["--find", "--show", &file])?;
                let dev = dev.trim().to_string();
                run("mount", &[&dev, &m]).map(drop).inspect_err(|_| {
                    let _ = run("losetup", &["-d", &dev]);
                })
            });
            if let Err(e) = attached {
                let _ = unmount(&fuse);
                return Err(e);
            }
        }
        Ok(mnt)
    }

    fn detach(&self, name: &str, spec: &VolumeSpec) -> Result<(), VolumeError> {
        let (pool, _) = pool_and_fs(spec);
        let dir = self.root.join(name);
        unmount(&dir.join("mnt"))?;
        for dev in loop_devices_under(&dir.join("fuse")) {
            run("losetup", &["-d", &dev])?;
        }
        unmount(&dir.join("fuse"))?;
        if kernel_rbd() {
            if let Some(dev) = self.mapped(pool, name)? {
                self.tool.rbd(&["unmap", &dev])?;
            }
        }
        Ok(())
    }

    fn fence(&self, name: &str, spec: &VolumeSpec, address: &str) -> Result<(), VolumeError> {
        self.tool.blocklist(address)?;
        // Break the image locks the fenced node held (librbd's exclusive lock), or
        // the next writer waits for an owner that will never answer.
        let (pool, _) = pool_and_fs(spec);
        let image = format!("{pool}/{name}");
        let ip = address.rsplit_once(':').map_or(address, |(ip, _)| ip);
        let out = self.tool.rbd(&["lock", "ls", "--format", "json", &image])?;
        let locks: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        for l in locks.as_array().into_iter().flatten() {
            let (Some(id), Some(locker), Some(addr)) = (
                l["id"].as_str(),
                l["locker"].as_str(),
                l["address"].as_str(),
            ) else {
                continue;
            };
            if addr.split(':').next() == Some(ip) {
                self.tool.rbd(&["lock", "rm", &image, id, locker])?;
            }
        }
        Ok(())
    }

    fn delete(&self, name: &str, spec: &VolumeSpec) -> Result<(), VolumeError> {
        let (pool, _) = pool_and_fs(spec);
        let image = format!("{pool}/{name}");
        if self.exists(&image)? {
            self.tool.rbd(&["rm", "--no-progress", &image])?;
        }
        Ok(())
    }
}

/// Loop devices whose backing file lies under `dir` (read from sysfs: nothing is
/// stat'ed, so a hung FUSE mount can't block it).
pub fn loop_devices_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    let Ok(rd) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let backing = std::fs::read_to_string(e.path().join("loop/backing_file")).ok()?;
            backing
                .trim()
                .starts_with(&prefix)
                .then(|| format!("/dev/{name}"))
        })
        .collect()
}
