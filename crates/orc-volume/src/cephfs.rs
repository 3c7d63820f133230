//! `cephfs`: a subvolume per volume and a Ceph key limited to its path. Mounted with
//! the kernel client where the node has it, else with ceph-fuse.

use crate::mounts::{is_mounted, make_dir, output, run, unmount};
use crate::{CephTool, Driver, VolumeError};
use orc_spec::{VolumeDriver, VolumeSpec};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The cephfs driver.
pub struct CephFs<'a> {
    /// `DATA_DIR/volumes`.
    pub root: &'a Path,
    /// orc's Ceph identity on this node.
    pub tool: &'a CephTool,
}

/// The Ceph user holding a key limited to the volume's path.
pub fn volume_user(name: &str) -> String {
    format!("orc-vol-{name}")
}

fn fs_and_group(spec: &VolumeSpec) -> (&str, Option<&str>) {
    match &spec.driver {
        VolumeDriver::CephFs { fs_name, group } => (fs_name, group.as_deref()),
        _ => ("cephfs", None),
    }
}

/// Whether this kernel has the CephFS client.
fn kernel_client() -> bool {
    std::fs::read_to_string("/proc/filesystems").is_ok_and(|f| {
        f.lines()
            .any(|l| l.split_whitespace().last() == Some("ceph"))
    })
}

/// Writes `text` to `path`, readable by root only.
fn write_secret(path: &Path, text: &str) -> Result<(), VolumeError> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| VolumeError::io("writing", path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| VolumeError::io("writing", path, e))
}

impl CephFs<'_> {
    fn subvolume_args<'s>(
        &self,
        verb: &'s str,
        name: &'s str,
        spec: &'s VolumeSpec,
    ) -> Vec<&'s str> {
        let (fs, group) = fs_and_group(spec);
        let mut args = vec!["fs", "subvolume", verb, fs, name];
        if let Some(g) = group {
            args.extend_from_slice(&["--group_name", g]);
        }
        args
    }

    /// The subvolume's path inside the file system.
    fn path(&self, name: &str, spec: &VolumeSpec) -> Result<String, VolumeError> {
        Ok(self
            .tool
            .ceph(&self.subvolume_args("getpath", name, spec))?
            .trim()
            .to_string())
    }

    /// The volume user's keyring (created, limited to `path`, on first use).
    fn keyring(&self, name: &str, spec: &VolumeSpec, path: &str) -> Result<String, VolumeError> {
        let entity = format!("client.{}", volume_user(name));
        if let Ok(k) = self.tool.ceph(&["auth", "get", &entity]) {
            return Ok(k);
        }
        let (fs, _) = fs_and_group(spec);
        self.tool
            .ceph(&["fs", "authorize", fs, &entity, path, "rw"])
    }
}

impl Driver for CephFs<'_> {
    fn create(&self, name: &str, spec: &VolumeSpec) -> Result<(), VolumeError> {
        let (_, group) = fs_and_group(spec);
        if let Some(g) = group {
            let (fs, _) = fs_and_group(spec);
            self.tool.ceph(&["fs", "subvolumegroup", "create", fs, g])?;
        }
        let size = spec.size_bytes.to_string();
        let mut args = self.subvolume_args("create", name, spec);
        if spec.size_bytes > 0 {
            args.extend_from_slice(&["--size", &size]);
        }
        self.tool.ceph(&args).map(drop)
    }

    fn attach(&self, name: &str, spec: &VolumeSpec) -> Result<PathBuf, VolumeError> {
        let dir = self.root.join(name);
        let mnt = dir.join("mnt");
        if is_mounted(&mnt) {
            return Ok(mnt);
        }
        make_dir(&mnt)?;
        self.create(name, spec)?;
        let path = self.path(name, spec)?;
        let keyring = dir.join("keyring");
        write_secret(&keyring, &self.keyring(name, spec, &path)?)?;
        let user = volume_user(name);
        let m = mnt.display().to_string();
        if kernel_client() {
            let key = std::process::Command::new("ceph-authtool")
                .args(["-p", "-n", &format!("client.{user}")])
                .arg(&keyring)
                .output()
                .map_err(|e| VolumeError::io("running ceph-authtool on", &keyring, e))?;
            let secret = dir.join("secret");
            write_secret(&secret, String::from_utf8_lossy(&key.stdout).trim())?;
            let opts = format!(
                "name={user},secretfile={},conf={}",
                secret.display(),
                self.tool.conf.display()
            );
            run(
                "mount",
                &["-t", "ceph", &format!(":{path}"), &m, "-o", &opts],
            )?;
        } else {
            let mut c = std::process::Command::new("ceph-fuse");
            c.arg("-c")
                .arg(&self.tool.conf)
                .args(["--id", &user, "--keyring"])
                .arg(&keyring)
                .args(["-r", &path, &m]);
            output(
                c,
                "ceph-fuse",
                &format!("--id {user} -r {path} {m}"),
                "package ceph-fuse",
            )?;
        }
        if !is_mounted(&mnt) {
            return Err(VolumeError::Other(format!(
                "cephfs volume {name}: {m} is not mounted after mounting it"
            )));
        }
        Ok(mnt)
    }

    fn detach(&self, name: &str, _spec: &VolumeSpec) -> Result<(), VolumeError> {
        let dir = self.root.join(name);
        unmount(&dir.join("mnt"))?;
        for f in ["keyring", "secret"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        Ok(())
    }

    fn fence(&self, _name: &str, _spec: &VolumeSpec, address: &str) -> Result<(), VolumeError> {
        self.tool.blocklist(address)
    }

    fn delete(&self, name: &str, spec: &VolumeSpec) -> Result<(), VolumeError> {
        let mut args = self.subvolume_args("rm", name, spec);
        args.push("--force");
        self.tool.ceph(&args)?;
        let entity = format!("client.{}", volume_user(name));
        let _ = self.tool.ceph(&["auth", "rm", &entity]);
        Ok(())
    }
}
