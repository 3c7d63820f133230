//! `orc image pull` and `orc registry login/logout`.

use super::call;
use crate::cli::{Cli, RegistryCmd};
use anyhow::{bail, Context};
use orc_api::{Request, Secret};
use std::io::BufRead;

pub async fn pull(
    cli: &Cli,
    reference: &str,
    platform: Option<String>,
    node: Option<String>,
) -> anyhow::Result<()> {
    let v = call(
        cli,
        Request::ImagePull {
            reference: reference.to_string(),
            platform,
            node: node.clone(),
        },
    )
    .await?;
    if let Some(node) = node {
        println!(
            "pulled {} on {node} ({})",
            v["name"].as_str().unwrap_or("?"),
            v["digest"].as_str().unwrap_or("?")
        );
        return Ok(());
    }
    println!(
        "pulled {} ({}, {})",
        v["name"].as_str().unwrap_or("?"),
        v["digest"].as_str().unwrap_or("?"),
        v["platform"].as_str().unwrap_or("?")
    );
    Ok(())
}

pub async fn prune(cli: &Cli, keep: &[String]) -> anyhow::Result<()> {
    let v = call(
        cli,
        Request::ImagePrune {
            keep: keep.to_vec(),
        },
    )
    .await?;
    for name in v["removed"].as_array().into_iter().flatten() {
        println!("removed {}", name.as_str().unwrap_or("?"));
    }
    println!(
        "{} image(s) removed, {} kept",
        v["removed"].as_array().map_or(0, Vec::len),
        v["kept"].as_array().map_or(0, Vec::len)
    );
    Ok(())
}

pub async fn run(cli: &Cli, sub: &RegistryCmd) -> anyhow::Result<()> {
    match sub {
        RegistryCmd::Login {
            registry,
            username,
            password_stdin,
        } => {
            if !password_stdin {
                bail!("give the password on standard input with --password-stdin");
            }
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            let password = line.trim_end_matches(['\r', '\n']).to_string();
            if password.is_empty() {
                bail!("empty password on standard input");
            }
            let v = call(
                cli,
                Request::RegistryLogin {
                    registry: registry.clone(),
                    username: username.clone(),
                    password: Secret(password),
                },
            )
            .await?;
            println!(
                "credentials for {} stored",
                v["registry"].as_str().unwrap_or(registry)
            );
        }
        RegistryCmd::Logout { registry } => {
            call(
                cli,
                Request::RegistryLogout {
                    registry: registry.clone(),
                },
            )
            .await?;
            println!("credentials for {registry} removed");
        }
    }
    Ok(())
}
