//! A private IPv4 address local to this host (on one end of a veth pair: this kernel
//! has no dummy links), for servers that must not be on loopback. Dropping it
//! deletes the pair.

use anyhow::{bail, Result};
use std::process::Command;

/// `ip`/32 held by a veth of the root namespace.
pub struct LocalAddress {
    link: String,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl LocalAddress {
    /// Adds `addr` (e.g. "10.254.7.1") on a fresh veth pair, both ends up.
    pub fn add(addr: &str) -> Result<LocalAddress> {
        let id: String = crate::unique_id("")
            .chars()
            .filter(char::is_ascii_hexdigit)
            .collect();
        let tail = &id[id.len().saturating_sub(8)..];
        let (link, peer) = (format!("orcreg{tail}"), format!("orcregp{tail}"));
        ip(&["link", "add", &link, "type", "veth", "peer", "name", &peer])?;
        let a = LocalAddress { link };
        ip(&["addr", "add", &format!("{addr}/32"), "dev", &a.link])?;
        ip(&["link", "set", &a.link, "up"])?;
        ip(&["link", "set", &peer, "up"])?;
        Ok(a)
    }
}

impl Drop for LocalAddress {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.link]);
    }
}
