//! The fallback: the same table applied as text with the `nft` tool (`nft -f -`).

use super::TABLE;
use crate::NetError;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// Whether the `nft` tool can be run.
pub(crate) fn available() -> bool {
    Command::new("nft")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `nft list tables` shows table `ip orc`.
pub(crate) fn exists() -> bool {
    Command::new("nft")
        .args(["list", "tables"])
        .output()
        .is_ok_and(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            text.lines()
                .any(|l| l.trim() == format!("table ip {TABLE}"))
        })
}

/// Replaces table `ip orc` with `rules` (text) in one transaction; removes it when empty.
pub fn apply(rules: &str) -> Result<(), NetError> {
    let script = format!("table ip {TABLE}\ndelete table ip {TABLE}\n{rules}");
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NetError::io("run nft (is the nftables package installed?)"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(NetError::io("write to nft"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(NetError::io("wait for nft"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetError::Io {
            op: "nft -f -".into(),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        })
    }
}
