//! `orc secret …` and `orc config …`: values read from a file or standard input and
//! sent over the root-only socket to the daemon, which seals them; listings never
//! hold a secret's value.

use crate::cli::Cli;
use crate::cli::ValueCmd;
use anyhow::{bail, Context};
use orc_api::{Request, ValueRow};
use orc_spec::ClearValue;
use std::io::Read;
use std::path::Path;

/// Reads a value from `file` (`-` or none: standard input), refusing more than `max`
/// bytes with a message naming the file (never its content).
pub fn read_value(file: Option<&Path>, max: u64) -> anyhow::Result<ClearValue> {
    let (shown, mut r): (String, Box<dyn Read>) = match file {
        None => ("standard input".into(), Box::new(std::io::stdin())),
        Some(p) if p == Path::new("-") => ("standard input".into(), Box::new(std::io::stdin())),
        Some(p) => (
            p.display().to_string(),
            Box::new(std::fs::File::open(p).with_context(|| format!("reading {}", p.display()))?),
        ),
    };
    let mut buf = Vec::new();
    r.by_ref()
        .take(max + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("reading {shown}"))?;
    let v = ClearValue::new(buf);
    if v.len() as u64 > max {
        bail!(
            "{shown}: more than {} KiB, the most a value of this kind may hold",
            max / 1024
        );
    }
    Ok(v)
}

pub async fn run(cli: &Cli, kind: &str, cmd: &ValueCmd) -> anyhow::Result<()> {
    let max = if kind == "secret" {
        orc_spec::MAX_SECRET_BYTES
    } else {
        orc_spec::MAX_CONFIG_BYTES
    };
    let kind_s = kind.to_string();
    match cmd {
        ValueCmd::Create { name, file } => {
            let value = read_value(file.as_deref(), max)?;
            let v = super::call(
                cli,
                Request::ValueCreate {
                    kind: kind_s,
                    name: name.clone(),
                    value,
                },
            )
            .await?;
            println!("{kind} {name} created (revision {})", v["revision"]);
        }
        ValueCmd::Update { name, file } => {
            let value = read_value(file.as_deref(), max)?;
            let v = super::call(
                cli,
                Request::ValueUpdate {
                    kind: kind_s,
                    name: name.clone(),
                    value,
                },
            )
            .await?;
            let users = v["used_by"].as_array().map_or(0, |a| a.len());
            println!(
                "{kind} {name} updated to revision {}; {users} service(s) using it roll to it",
                v["revision"]
            );
        }
        ValueCmd::Ls(j) => {
            let v = super::call(cli, Request::ValueLs { kind: kind_s }).await?;
            let rows: Vec<ValueRow> = serde_json::from_value(v).context("the daemon's answer")?;
            if j.json {
                return crate::output::json(&rows);
            }
            crate::output::table(
                &["NAME", "REVISION", "SIZE", "STACK", "USED BY"],
                rows.into_iter()
                    .map(|r| {
                        vec![
                            r.name,
                            r.revision.to_string(),
                            crate::output::bytes(r.size),
                            r.stack.unwrap_or_else(|| "-".into()),
                            if r.used_by.is_empty() {
                                "-".into()
                            } else {
                                r.used_by
                                    .iter()
                                    .map(|(s, rev)| format!("{s}@{rev}"))
                                    .collect::<Vec<_>>()
                                    .join(",")
                            },
                        ]
                    })
                    .collect(),
            );
        }
        ValueCmd::Inspect { name, value } => {
            if *value && kind == "secret" {
                bail!("a secret's value is never shown (--value is for configs)");
            }
            let v = super::call(
                cli,
                Request::ValueInspect {
                    kind: kind_s,
                    name: name.clone(),
                    with_value: *value,
                },
            )
            .await?;
            crate::output::json(&v)?;
        }
        ValueCmd::Rm { name } => {
            super::call(
                cli,
                Request::ValueRm {
                    kind: kind_s,
                    name: name.clone(),
                },
            )
            .await?;
            println!("removed {kind} {name}");
        }
    }
    Ok(())
}
