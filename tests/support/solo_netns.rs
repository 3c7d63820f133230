//! A private network namespace for one node that is on no LAN: only loopback, up.
//! Whatever a daemon makes there (the `orc0` bridge, the `ip orc` nft table, routes,
//! container veths) is its own and vanishes with the namespace, so single-node tests
//! running in parallel never see each other's network, and the machine's root
//! namespace is never touched.
//!
//! Named `oct-PID-sN` like a [`crate::Lan`]'s namespaces, so one left by a killed
//! test process is swept by the next [`SoloNetns::new`] or [`crate::Lan::new`].
//! Dropping it SIGKILLs every process still inside and deletes it.

use crate::netns::{destroy_netns, ip, netns_exists, nsenter, sweep_stale, PREFIX};
use anyhow::{bail, Result};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh namespace with loopback up, deleted on drop.
#[derive(Debug)]
pub struct SoloNetns {
    name: String,
}

impl SoloNetns {
    /// Creates `oct-PID-sN` with `lo` up.
    pub fn new() -> Result<SoloNetns> {
        static N: AtomicU32 = AtomicU32::new(0);
        sweep_stale();
        let pid = std::process::id();
        let name = loop {
            let n = N.fetch_add(1, Ordering::Relaxed);
            if n > 10_000 {
                bail!("no free namespace name for {PREFIX}{pid}-sN");
            }
            let name = format!("{PREFIX}{pid}-s{n}");
            if !netns_exists(&name) {
                break name;
            }
        };
        ip(&["netns", "add", &name])?;
        let ns = SoloNetns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name (`/var/run/netns/NAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds `addr`/32 on its loopback: a local address that is not 127.x (for servers
    /// that must not look like loopback to the daemon).
    pub fn add_address(&self, addr: &str) -> Result<()> {
        ip(&[
            "-n",
            &self.name,
            "addr",
            "add",
            &format!("{addr}/32"),
            "dev",
            "lo",
        ])
    }

    /// `program` to be run inside it.
    pub fn command(&self, program: &str) -> Command {
        nsenter(&self.name, program)
    }
}

impl Drop for SoloNetns {
    fn drop(&mut self) {
        destroy_netns(&self.name);
    }
}
