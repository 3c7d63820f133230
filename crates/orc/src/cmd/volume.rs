//! `orc volume ls` and `orc cluster ceph set`.

use anyhow::Context;
use orc_api::{Request, VolumeRow};
use serde_json::Value;
use std::path::Path;

/// Prints `VolumeLs` as a table (or JSON).
pub fn list(v: Value, as_json: bool) -> anyhow::Result<()> {
    let rows: Vec<VolumeRow> = serde_json::from_value(v).context("the daemon's answer")?;
    if as_json {
        return crate::output::json(&rows);
    }
    crate::output::table(
        &["NAME", "DRIVER", "SIZE", "NODE", "FENCED"],
        rows.into_iter()
            .map(|r| {
                vec![
                    r.name,
                    r.driver,
                    if r.size == 0 {
                        "-".into()
                    } else {
                        crate::output::bytes(r.size)
                    },
                    r.node.unwrap_or_else(|| "-".into()),
                    if r.fenced.is_empty() {
                        "-".into()
                    } else {
                        r.fenced.join(",")
                    },
                ]
            })
            .collect(),
    );
    Ok(())
}

/// Reads the conf and keyring files into a `CephSet` request.
pub fn ceph_set_request(conf: &Path, keyring: &Path, user: &str) -> anyhow::Result<Request> {
    let read =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    Ok(Request::CephSet {
        conf: read(conf)?,
        keyring: read(keyring)?,
        user: user.to_string(),
    })
}
