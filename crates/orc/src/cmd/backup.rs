//! `orc cluster backup [ls | verify]`, `orc cluster restore`.

use super::call;
use crate::cli::{BackupArgs, BackupCmd, Cli};
use crate::output;
use anyhow::{bail, Context};
use orc_api::{Request, Secret};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A passphrase from standard input (one line).
fn passphrase_stdin() -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the passphrase from standard input")?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    if p.is_empty() {
        bail!("empty passphrase on standard input");
    }
    Ok(Secret(p))
}

/// The daemon reads and writes files on this node: give it an absolute path.
fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("current directory")?
        .join(p))
}

fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn describe(v: &Value) -> String {
    format!(
        "cluster {} at Raft index {}, {} service(s), {} node(s){}, {} bytes",
        v["cluster_id"].as_str().unwrap_or("?"),
        v["raft_index"],
        v["services"],
        v["nodes"],
        if v["with_ca"] == true {
            ", with the CA key (sealed)"
        } else {
            ""
        },
        v["bytes"]
    )
}

pub async fn run(cli: &Cli, b: &BackupArgs) -> anyhow::Result<()> {
    match (&b.cmd, &b.file) {
        (Some(BackupCmd::Ls(j)), _) => {
            let v = call(cli, Request::BackupLs).await?;
            if j.json {
                return output::json(&v);
            }
            let rows = v
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| {
                            vec![
                                r["path"].as_str().unwrap_or("").to_string(),
                                r["raft_index"].to_string(),
                                age(r["age_secs"].as_u64().unwrap_or(0)),
                                r["services"].to_string(),
                                r["bytes"].to_string(),
                            ]
                        })
                        .collect()
                })
                .unwrap_or_default();
            output::table(&["FILE", "INDEX", "AGE", "SERVICES", "BYTES"], rows);
            Ok(())
        }
        (
            Some(BackupCmd::Verify {
                file,
                passphrase_stdin: p,
                json,
            }),
            _,
        ) => {
            let passphrase = if *p { Some(passphrase_stdin()?) } else { None };
            let v = call(
                cli,
                Request::BackupVerify {
                    path: absolute(file)?,
                    passphrase,
                },
            )
            .await?;
            if json.json {
                return output::json(&v);
            }
            println!("{}: valid: {}", file.display(), describe(&v));
            Ok(())
        }
        (None, Some(file)) => {
            let passphrase = if b.with_ca {
                eprintln!("passphrase for the CA key (standard input):");
                Some(passphrase_stdin()?)
            } else {
                None
            };
            let v = call(
                cli,
                Request::ClusterBackup {
                    path: absolute(file)?,
                    passphrase,
                },
            )
            .await?;
            if b.json.json {
                return output::json(&v);
            }
            println!("wrote {}: {}", file.display(), describe(&v));
            println!("not in a backup: volume data (Ceph, local disks) and images");
            Ok(())
        }
        (None, None) => bail!("give the file to write: orc cluster backup FILE"),
    }
}

pub async fn restore(
    cli: &Cli,
    file: &Path,
    advertise: Option<String>,
    passphrase: bool,
) -> anyhow::Result<()> {
    let passphrase = if passphrase {
        Some(passphrase_stdin()?)
    } else {
        None
    };
    let v = call(
        cli,
        Request::ClusterRestore {
            path: absolute(file)?,
            advertise,
            passphrase,
        },
    )
    .await?;
    println!(
        "restored cluster {} (from {} at Raft index {}) on node {}: {} service(s), held",
        v["cluster_id"].as_str().unwrap_or("?"),
        v["from_cluster"].as_str().unwrap_or("?"),
        v["raft_index"],
        v["node_id"].as_str().unwrap_or("?"),
        v["services"],
    );
    println!(
        "{} old node(s) revoked: they join again with new tokens (orc cluster join-token)",
        v["revoked_nodes"]
    );
    if v["secrets_restored"] != true {
        println!("sealed secrets were not restored: the backup's CA key was not opened (--passphrase-stdin with a --with-ca backup)");
    }
    println!("start the services with `orc cluster resume` once the old boards are off");
    Ok(())
}
