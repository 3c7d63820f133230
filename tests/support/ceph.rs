//! A real one-node Ceph cluster (Debian 12's Ceph 16) in a temp dir: 1 mon, 1 mgr,
//! 1 BlueStore OSD on a sparse file, 1 MDS, cephx everywhere, a CephFS named
//! `cephfs` and an `rbd` pool. The daemons run in the foreground as children of the
//! test (no systemd), optionally inside a network namespace so that hosts of a
//! [`crate::Lan`] reach the mon at that host's address.
//!
//! Starting costs ~20 s and ~600 MB: start one per test binary. Dropping a [`Ceph`]
//! SIGKILLs every daemon, unmounts every FUSE mount under its dir and deletes it,
//! also when the test panicked.

use crate::{poll_until, Host};
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Marker in the temp dir names of harness Ceph clusters.
const DIR_PREFIX: &str = "orc-ceph-";
/// Binaries a cluster needs (Debian packages in brackets, for the skip message).
const NEEDED: &[(&str, &str)] = &[
    ("ceph-mon", "ceph-mon"),
    ("ceph-mgr", "ceph-mgr"),
    ("ceph-osd", "ceph-osd"),
    ("ceph-mds", "ceph-mds"),
    ("ceph", "ceph-common"),
    ("rbd", "ceph-common"),
    ("ceph-fuse", "ceph-fuse"),
    ("rbd-fuse", "rbd-fuse"),
    ("mkfs.ext4", "e2fsprogs"),
];
/// From nothing to every PG active+clean takes ~20 s on 2 idle cores.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// A running one-node Ceph cluster.
pub struct Ceph {
    dir: tempfile::TempDir,
    netns: Option<String>,
    ip: Ipv4Addr,
    daemons: Vec<Child>,
}

/// `Some(missing packages)` when this machine cannot run Ceph.
pub fn missing_packages() -> Option<Vec<&'static str>> {
    let mut missing: Vec<&str> = NEEDED
        .iter()
        .filter(|(bin, _)| !on_path(bin))
        .map(|(_, pkg)| *pkg)
        .collect();
    missing.dedup();
    (!missing.is_empty()).then_some(missing)
}

fn on_path(bin: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|d| d.join(bin).is_file())
}

/// Prints a loud skip banner and returns true when Ceph isn't installed.
pub fn skip_without_ceph(test: &str) -> bool {
    match missing_packages() {
        None => false,
        Some(pkgs) => {
            eprintln!(
                "\n*** SKIPPED {test}: Ceph is not installed (missing: {}). \
                 tests/run.sh installs it; run it or apt-get install them. ***\n",
                pkgs.join(" ")
            );
            true
        }
    }
}

/// Two free TCP ports on `ip` (the mon's msgr2 and msgr1 ports).
fn free_ports(ip: Ipv4Addr, netns: Option<&str>) -> Result<(u16, u16)> {
    if netns.is_some() {
        // A fresh namespace: every port is free.
        return Ok((3300, 6789));
    }
    let a = TcpListener::bind((ip, 0))?;
    let b = TcpListener::bind((ip, 0))?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

impl Ceph {
    /// Starts a cluster in the root namespace, its mon on 127.0.0.1.
    pub fn start() -> Result<Ceph> {
        Self::launch(None, Ipv4Addr::LOCALHOST)
    }

    /// Starts a cluster inside `host`'s namespace, its mon on the host's address, so
    /// every other host of the LAN reaches it.
    pub fn start_on(host: &Host) -> Result<Ceph> {
        Self::launch(Some(host.netns.clone()), host.ip)
    }

    fn launch(netns: Option<String>, ip: Ipv4Addr) -> Result<Ceph> {
        if let Some(pkgs) = missing_packages() {
            bail!("Ceph is not installed (missing: {})", pkgs.join(" "));
        }
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .context("creating a temp dir")?;
        let mut ceph = Ceph {
            dir,
            netns,
            ip,
            daemons: Vec::new(),
        };
        let started = std::time::Instant::now();
        ceph.bootstrap()
            .with_context(|| format!("starting Ceph; logs:\n{}", ceph.log_tails(20)))?;
        eprintln!("ceph: cluster ready in {:?}", started.elapsed());
        Ok(ceph)
    }

    /// The temp dir holding config, keyrings, data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The cluster's config file (clients use it as is).
    pub fn conf(&self) -> PathBuf {
        self.dir().join("ceph.conf")
    }

    /// The client.admin keyring.
    pub fn admin_keyring(&self) -> PathBuf {
        self.dir().join("client.admin.keyring")
    }

    /// The mon's address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// `program` with the cluster's config, in the cluster's namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = match &self.netns {
            Some(ns) => crate::netns::nsenter(ns, program),
            None => Command::new(program),
        };
        c.arg("-c").arg(self.conf()).stdin(Stdio::null());
        c
    }

    /// Runs the ceph CLI as client.admin; its stdout on success.
    pub fn ceph(&self, args: &[&str]) -> Result<String> {
        let mut c = self.command("ceph");
        c.args(["--connect-timeout", "20"]).args(args);
        checked(&mut c)
    }

    /// Runs the rbd CLI as client.admin; its stdout on success.
    pub fn rbd(&self, args: &[&str]) -> Result<String> {
        let mut c = self.command("rbd");
        c.args(args);
        checked(&mut c)
    }

    fn write_conf(&self, v2: u16, v1: u16) -> Result<()> {
        let d = self.dir().display();
        let ip = self.ip;
        let fsid = uuid()?;
        let conf = format!(
            "[global]
fsid = {fsid}
mon host = [v2:{ip}:{v2},v1:{ip}:{v1}]
public addr = {ip}
cluster addr = {ip}
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
run dir = {d}/run
pid file = {d}/run/$name.pid
log file = {d}/log/$name.log
admin socket = {d}/run/$name.asok
mon data = {d}/mon/$cluster-$id
osd data = {d}/osd/$cluster-$id
mds data = {d}/mds/$cluster-$id
mgr data = {d}/mgr/$cluster-$id
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 4294967296
osd memory target = 939524096
mds cache memory limit = 67108864
ms bind ipv6 = false

[client]
keyring = {d}/$name.keyring
admin socket = {d}/run/$name.$pid.asok
pid file = {d}/run/$name.$pid.pid
log file = {d}/log/$name.$pid.log
"
        );
        std::fs::write(self.conf(), conf)?;
        Ok(())
    }

    fn bootstrap(&mut self) -> Result<()> {
        let d = self.dir().to_path_buf();
        for sub in [
            "run",
            "log",
            "mon",
            "osd/ceph-0",
            "mds/ceph-a",
            "mgr/ceph-x",
        ] {
            std::fs::create_dir_all(d.join(sub))?;
        }
        let (v2, v1) = free_ports(self.ip, self.netns.as_deref())?;
        self.write_conf(v2, v1)?;
        let mon_kr = d.join("mon.keyring");
        let admin_kr = self.admin_keyring();
        let p = |p: &Path| p.display().to_string();
        checked(Command::new("ceph-authtool").args([
            "--create-keyring",
            &p(&mon_kr),
            "--gen-key",
            "-n",
            "mon.",
            "--cap",
            "mon",
            "allow *",
        ]))?;
        checked(Command::new("ceph-authtool").args([
            "--create-keyring",
            &p(&admin_kr),
            "--gen-key",
            "-n",
            "client.admin",
            "--cap",
            "mon",
            "allow *",
            "--cap",
            "osd",
            "allow *",
            "--cap",
            "mds",
            "allow *",
            "--cap",
            "mgr",
            "allow *",
        ]))?;
        checked(Command::new("ceph-authtool").args([
            &p(&mon_kr),
            "--import-keyring",
            &p(&admin_kr),
        ]))?;
        let monmap = d.join("monmap");
        let addrs = format!("[v2:{}:{v2},v1:{}:{v1}]", self.ip, self.ip);
        checked(Command::new("monmaptool").args([
            "--create",
            "--addv",
            "a",
            &addrs,
            "--fsid",
            &self.fsid()?,
            &p(&monmap),
        ]))?;
        checked(self.command("ceph-mon").args([
            "-i",
            "a",
            "--mkfs",
            "--monmap",
            &p(&monmap),
            "--keyring",
            &p(&mon_kr),
        ]))?;
        self.spawn("ceph-mon", &["-i", "a"])?;
        poll_until(READY_TIMEOUT, "the Ceph mon to answer", || {
            self.ceph(&["health"]).ok()
        })?;
        // Before the mgr starts: a module change later makes it respawn (+20 s).
        for m in ["restful", "iostat", "nfs"] {
            let _ = self.ceph(&["mgr", "module", "disable", m]);
        }
        self.keyring(
            "mgr.x",
            &d.join("mgr/ceph-x/keyring"),
            &[
                "mon",
                "allow profile mgr",
                "osd",
                "allow *",
                "mds",
                "allow *",
            ],
        )?;
        self.spawn("ceph-mgr", &["-i", "x"])?;

        let osd_uuid = uuid()?;
        let id = self.ceph(&["osd", "new", &osd_uuid])?;
        if id.trim() != "0" {
            bail!("expected osd id 0, got {id:?}");
        }
        self.keyring(
            "osd.0",
            &d.join("osd/ceph-0/keyring"),
            &[
                "mon",
                "allow profile osd",
                "mgr",
                "allow profile osd",
                "osd",
                "allow *",
            ],
        )?;
        checked(
            self.command("ceph-osd")
                .args(["-i", "0", "--mkfs", "--osd-uuid", &osd_uuid]),
        )?;
        self.spawn("ceph-osd", &["-i", "0"])?;
        self.keyring(
            "mds.a",
            &d.join("mds/ceph-a/keyring"),
            &[
                "mon",
                "allow profile mds",
                "osd",
                "allow rwx",
                "mds",
                "allow",
                "mgr",
                "allow profile mds",
            ],
        )?;
        self.spawn("ceph-mds", &["-i", "a"])?;
        for pool in ["cephfs_metadata", "cephfs_data", "rbd"] {
            self.ceph(&["osd", "pool", "create", pool, "8"])?;
        }
        self.ceph(&["fs", "new", "cephfs", "cephfs_metadata", "cephfs_data"])?;
        self.ceph(&["fs", "set", "cephfs", "standby_count_wanted", "0"])?;
        self.rbd(&["pool", "init", "rbd"])?;
        poll_until(READY_TIMEOUT, "every Ceph PG active+clean", || {
            self.pgs_clean().then_some(())
        })?;
        poll_until(READY_TIMEOUT, "the CephFS MDS to be active", || {
            let s = self.ceph(&["mds", "stat"]).ok()?;
            s.contains("up:active").then_some(())
        })?;
        Ok(())
    }

    fn fsid(&self) -> Result<String> {
        let conf = std::fs::read_to_string(self.conf())?;
        conf.lines()
            .find_map(|l| l.strip_prefix("fsid = "))
            .map(str::to_string)
            .context("no fsid in ceph.conf")
    }

    /// `ceph auth get-or-create NAME CAPS… -o FILE`.
    fn keyring(&self, name: &str, file: &Path, caps: &[&str]) -> Result<()> {
        let mut args = vec!["auth", "get-or-create", name];
        args.extend_from_slice(caps);
        let f = file.display().to_string();
        args.extend_from_slice(&["-o", &f]);
        self.ceph(&args).map(drop)
    }

    fn pgs_clean(&self) -> bool {
        let Ok(out) = self.ceph(&["pg", "stat", "-f", "json"]) else {
            return false;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&out) else {
            return false;
        };
        let summary = &v["pg_summary"];
        let total = summary["num_pgs"].as_u64().unwrap_or(0);
        let clean: u64 = summary["num_pg_by_state"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["name"] == "active+clean")
            .filter_map(|s| s["num"].as_u64())
            .sum();
        total > 0 && clean == total
    }

    fn spawn(&mut self, daemon: &str, args: &[&str]) -> Result<()> {
        let log = std::fs::File::create(self.dir().join(format!("log/{daemon}.out")))?;
        let child = self
            .command(daemon)
            .args(args)
            .arg("-f")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {daemon}"))?;
        self.daemons.push(child);
        Ok(())
    }

    /// The last `n` lines of every daemon's log.
    pub fn log_tails(&self, n: usize) -> String {
        let mut out = String::new();
        let Ok(rd) = std::fs::read_dir(self.dir().join("log")) else {
            return out;
        };
        for e in rd.flatten() {
            let s = std::fs::read_to_string(e.path()).unwrap_or_default();
            let lines: Vec<&str> = s.lines().collect();
            out.push_str(&format!("--- {}\n", e.path().display()));
            out.push_str(&lines[lines.len().saturating_sub(n)..].join("\n"));
            out.push('\n');
        }
        out
    }
}

impl Drop for Ceph {
    fn drop(&mut self) {
        // FUSE mounts first: their daemons would otherwise hang on a dead cluster.
        crate::cleanup::unmount_under(self.dir.path());
        for c in &mut self.daemons {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGKILL);
            let _ = c.wait();
        }
        crate::cleanup::unmount_under(self.dir.path());
    }
}

fn uuid() -> Result<String> {
    Ok(checked(&mut Command::new("uuidgen"))?.trim().to_string())
}

fn checked(cmd: &mut Command) -> Result<String> {
    let out: Output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
