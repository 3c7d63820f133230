//! The ceph and rbd command-line tools, as one Ceph user.

use crate::mounts::output;
use crate::VolumeError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How this node reaches Ceph: a ceph.conf, a keyring file (0600) and a user.
#[derive(Debug, Clone)]
pub struct CephTool {
    /// The ceph.conf file.
    pub conf: PathBuf,
    /// The keyring file.
    pub keyring: PathBuf,
    /// The user, without `client.`.
    pub user: String,
}

impl CephTool {
    /// `program -c CONF --id USER --keyring KEYRING`.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.arg("-c")
            .arg(&self.conf)
            .arg("--id")
            .arg(&self.user)
            .arg("--keyring")
            .arg(&self.keyring);
        c
    }

    /// Runs `ceph ARGS` (with a connect timeout, so an unreachable cluster is an error).
    pub fn ceph(&self, args: &[&str]) -> Result<String, VolumeError> {
        let mut c = self.command("ceph");
        c.args(["--connect-timeout", "15"]).args(args);
        output(c, "ceph", &args.join(" "), "package ceph-common")
    }

    /// Runs `rbd ARGS`.
    pub fn rbd(&self, args: &[&str]) -> Result<String, VolumeError> {
        let mut c = self.command("rbd");
        c.args(args);
        output(c, "rbd", &args.join(" "), "package ceph-common")
    }

    /// Runs `program` with the tool's identity and `args`.
    pub fn run(
        &self,
        program: &str,
        args: &[&str],
        hint: &'static str,
    ) -> Result<String, VolumeError> {
        let mut c = self.command(program);
        c.args(args);
        output(c, program, &args.join(" "), hint)
    }

    /// Blocklists every Ceph client at `address` (an IP: all its clients).
    pub fn blocklist(&self, address: &str) -> Result<(), VolumeError> {
        let ip = address.rsplit_once(':').map_or(address, |(ip, _)| ip);
        let entry = format!("{ip}:0/0");
        self.ceph(&["osd", "blocklist", "add", &entry]).map(drop)
    }

    /// Lifts the blocklist entry [`CephTool::blocklist`] added for `address`.
    pub fn unblocklist(&self, address: &str) -> Result<(), VolumeError> {
        let ip = address.rsplit_once(':').map_or(address, |(ip, _)| ip);
        let entry = format!("{ip}:0/0");
        match self.ceph(&["osd", "blocklist", "rm", &entry]) {
            // Gone already (expired, or lifted by a previous try): done.
            Err(VolumeError::Tool { stderr, .. }) if stderr.contains("isn't blocklisted") => Ok(()),
            r => r.map(drop),
        }
    }

    /// The conf file.
    pub fn conf(&self) -> &Path {
        &self.conf
    }
}
