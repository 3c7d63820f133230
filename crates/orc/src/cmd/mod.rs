//! Each command: build a request, call the daemon, print the answer. Thin on purpose.

mod autolock;
mod backup;
mod daemon;
mod listing;
mod observe;
mod registry;
mod stack_file;
mod value;
mod vip;
mod volume;

use crate::cli::{CephCmd, VolumeCmd};
use crate::cli::{Cli, ClusterCmd, Command, ImageCmd, NodeCmd, ServiceCmd, StackCmd, VipCmd};
use anyhow::{bail, Context};
use orc_api::{Client, Reply, Request};
use serde_json::Value;

/// Calls the daemon, printing progress lines as they come.
async fn call(cli: &Cli, req: Request) -> anyhow::Result<Value> {
    let client = Client::new(&cli.socket);
    let v = client
        .call(&req, |r| match r {
            Reply::Progress { message } => eprintln!("  {message}"),
            Reply::Log { task, line, .. } => println!("{task}  | {line}"),
            _ => {}
        })
        .await?;
    Ok(v)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Daemon(args) => daemon::run(args, &cli.socket).await,
        Command::Events(args) => observe::events(&cli, args).await,
        Command::Stats(args) => observe::stats(&cli, args).await,
        Command::Version(j) => {
            let info = call(&cli, Request::Info).await.ok();
            if j.json {
                return crate::output::json(&serde_json::json!({
                    "client": env!("CARGO_PKG_VERSION"),
                    "state_format": orc_model::FORMAT_VERSION,
                    "daemon": info,
                }));
            }
            println!(
                "orc {} (cluster state format {})",
                env!("CARGO_PKG_VERSION"),
                orc_model::FORMAT_VERSION
            );
            if let Some(v) = info
                .as_ref()
                .and_then(|i| i.get("version"))
                .and_then(|v| v.as_str())
            {
                println!("daemon {v}");
            }
            Ok(())
        }
        Command::Cluster(ClusterCmd::Init {
            advertise,
            subnet,
            network_driver,
        }) => {
            let v = call(
                &cli,
                Request::ClusterInit {
                    advertise: advertise.clone(),
                    subnet: Some(subnet.clone()),
                    network_driver: Some(network_driver.clone()),
                },
            )
            .await?;
            println!(
                "cluster {} initialised; this node ({}) is its first manager",
                v["cluster_id"].as_str().unwrap_or("?"),
                v["node_id"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        Command::Cluster(ClusterCmd::Info(j)) => {
            let v = call(&cli, Request::Info).await?;
            if j.json {
                return crate::output::json(&v);
            }
            for k in [
                "version",
                "cluster_id",
                "node_id",
                "leader",
                "is_manager",
                "term",
            ] {
                println!(
                    "{k:<12} {}",
                    v.get(k)
                        .map(|x| x.to_string())
                        .unwrap_or_default()
                        .trim_matches('"')
                );
            }
            let voters: Vec<&str> = v["voters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str())
                .collect();
            // The Raft members, one line each: id, the address Raft dials, voter or not.
            if let Some(members) = v["raft_members"].as_object().filter(|m| !m.is_empty()) {
                println!("raft members");
                for (id, addr) in members {
                    let kind = if voters.contains(&id.as_str()) {
                        "voter"
                    } else {
                        "learner"
                    };
                    println!("  {id}  {:<21}  {kind}", addr.as_str().unwrap_or_default());
                }
            }
            if v["held"] == true {
                println!("held: restored services wait for `orc cluster resume`");
            }
            if v["autolock"] == true {
                println!("autolock    on");
            }
            if v["locked"] == true {
                println!("locked: this manager signs and opens nothing until `orc cluster unlock`");
            }
            Ok(())
        }
        Command::Cluster(ClusterCmd::Join {
            token,
            address,
            advertise,
        }) => {
            let v = call(
                &cli,
                Request::ClusterJoin {
                    token: token.clone(),
                    address: address.clone(),
                    advertise: advertise.clone(),
                },
            )
            .await?;
            println!(
                "joined cluster {} as {} (node {})",
                v["cluster_id"].as_str().unwrap_or("?"),
                v["role"].as_str().unwrap_or("?"),
                v["node_id"].as_str().unwrap_or("?")
            );
            Ok(())
        }
        Command::Cluster(ClusterCmd::JoinToken {
            role,
            rotate,
            quiet,
        }) => {
            let v = call(
                &cli,
                Request::JoinToken {
                    role: role.clone(),
                    rotate: *rotate,
                },
            )
            .await?;
            let token = v["token"].as_str().unwrap_or_default();
            if *quiet {
                println!("{token}");
            } else {
                if *rotate {
                    println!("The {role} token was rotated; the old one no longer works.");
                }
                println!("To add a {role} to this cluster, run on it:\n\n    orc cluster join --token {token} {}\n", v["address"].as_str().unwrap_or("MANAGER:4747"));
            }
            Ok(())
        }
        Command::Node(NodeCmd::Update {
            node,
            availability,
            label_add,
            label_rm,
        }) => {
            call(
                &cli,
                Request::NodeUpdate {
                    node: node.clone(),
                    availability: availability.clone(),
                    label_add: label_add.clone(),
                    label_rm: label_rm.clone(),
                },
            )
            .await?;
            println!("{node} updated");
            Ok(())
        }
        Command::Node(NodeCmd::Rm { node, force }) => {
            call(
                &cli,
                Request::NodeRm {
                    node: node.clone(),
                    force: *force,
                },
            )
            .await?;
            println!("{node} removed");
            Ok(())
        }
        Command::Node(NodeCmd::Promote { node }) => {
            call(&cli, Request::NodePromote { node: node.clone() }).await?;
            println!("{node} promoted to manager");
            Ok(())
        }
        Command::Node(NodeCmd::Demote { node, force }) => {
            call(
                &cli,
                Request::NodeDemote {
                    node: node.clone(),
                    force: *force,
                },
            )
            .await?;
            println!("{node} demoted to worker");
            Ok(())
        }
        Command::Cluster(ClusterCmd::Backup(b)) => backup::run(&cli, b).await,
        Command::Cluster(ClusterCmd::Autolock(sub)) => autolock::set(&cli, sub).await,
        Command::Cluster(ClusterCmd::Unlock { key_stdin }) => {
            autolock::unlock(&cli, *key_stdin).await
        }
        Command::Cluster(ClusterCmd::UnlockKey { rotate, quiet }) => {
            autolock::show_key(&cli, *rotate, *quiet).await
        }
        Command::Cluster(ClusterCmd::Restore {
            file,
            advertise,
            passphrase_stdin,
        }) => backup::restore(&cli, file, advertise.clone(), *passphrase_stdin).await,
        Command::Cluster(ClusterCmd::Recover { force_new_cluster }) => {
            let v = call(
                &cli,
                Request::ClusterRecover {
                    force_new_cluster: *force_new_cluster,
                },
            )
            .await?;
            let removed: Vec<String> = v["removed_managers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            println!(
                "this manager is now the cluster's only voter; removed lost managers: {}",
                if removed.is_empty() {
                    "none".to_string()
                } else {
                    removed.join(", ")
                }
            );
            println!("add managers again with `orc cluster join-token manager`");
            Ok(())
        }
        Command::Cluster(ClusterCmd::Resume) => {
            let v = call(&cli, Request::ClusterResume).await?;
            if v["resumed"] == true {
                println!("resumed: the restored services start now");
            } else {
                println!("nothing was held");
            }
            Ok(())
        }
        Command::Cluster(ClusterCmd::Leave { force }) => {
            let v = call(&cli, Request::ClusterLeave { force: *force }).await?;
            println!("left the cluster");
            for what in v["removed"].as_array().into_iter().flatten() {
                println!("  removed {}", what.as_str().unwrap_or_default());
            }
            Ok(())
        }
        Command::Image(ImageCmd::Load { file, distribute }) => {
            let path =
                std::fs::canonicalize(file).with_context(|| format!("{}", file.display()))?;
            let v = call(
                &cli,
                Request::ImageLoad {
                    path,
                    distribute: *distribute,
                },
            )
            .await?;
            for img in v.as_array().into_iter().flatten() {
                println!(
                    "loaded {} ({})",
                    img["name"].as_str().unwrap_or("?"),
                    img["digest"].as_str().unwrap_or("?")
                );
            }
            Ok(())
        }
        Command::Image(ImageCmd::Ls(j)) => {
            listing::images(call(&cli, Request::ImageLs).await?, j.json)
        }
        Command::Image(ImageCmd::Rm { reference }) => {
            call(
                &cli,
                Request::ImageRm {
                    reference: reference.clone(),
                },
            )
            .await?;
            println!("removed {reference}");
            Ok(())
        }
        Command::Stack(StackCmd::Validate(source)) => {
            let loaded = stack_file::load(source)?;
            loaded.read_values()?;
            println!(
                "{}: stack {} is valid ({} service(s))",
                loaded.shown,
                loaded.spec.name,
                loaded.spec.services.len()
            );
            Ok(())
        }
        Command::Stack(StackCmd::Convert(source)) => {
            let loaded = stack_file::load(source)?;
            let Some(toml) = loaded.toml else {
                bail!("{} is already a stack.toml file", loaded.shown);
            };
            print!("{toml}");
            Ok(())
        }
        Command::Stack(StackCmd::Deploy {
            source,
            wait,
            no_resolve,
        }) => {
            let loaded = stack_file::load(source)?;
            let values = loaded.read_values()?;
            let stack = loaded.spec.clone();
            let stack_name = stack.name.clone();
            eprintln!("deploying stack {stack_name}");
            let v = call(
                &cli,
                Request::StackDeploy {
                    stack,
                    detach: wait.detach,
                    timeout_secs: wait.timeout,
                    no_resolve: *no_resolve,
                    values,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", loaded.locate(&e.to_string())))?;
            let count = |k: &str| v[k].as_array().map(|a| a.len()).unwrap_or(0);
            println!(
                "stack {stack_name}: {} created, {} updated, {} unchanged, {} removed{}",
                count("created"),
                count("updated"),
                count("unchanged"),
                count("removed"),
                if wait.detach {
                    ""
                } else {
                    "; all services converged"
                }
            );
            Ok(())
        }
        Command::Stack(StackCmd::Ls(j)) => {
            listing::stacks(call(&cli, Request::StackLs).await?, j.json)
        }
        Command::Stack(StackCmd::Rm {
            name,
            volumes,
            wait,
        }) => {
            call(
                &cli,
                Request::StackRm {
                    name: name.clone(),
                    detach: wait.detach,
                    timeout_secs: wait.timeout,
                    volumes: *volumes,
                },
            )
            .await?;
            println!("removed stack {name}");
            Ok(())
        }
        Command::Service(ServiceCmd::Ls { stack, json }) => listing::services(
            call(
                &cli,
                Request::ServiceLs {
                    stack: stack.clone(),
                },
            )
            .await?,
            json.json,
        ),
        Command::Service(ServiceCmd::Ps { name, all, json }) => listing::tasks(
            call(
                &cli,
                Request::ServicePs {
                    name: name.clone(),
                    all: *all,
                },
            )
            .await?,
            json.json,
        ),
        Command::Service(ServiceCmd::Inspect { name, json, .. }) => listing::service_inspect(
            call(&cli, Request::ServiceInspect { name: name.clone() }).await?,
            json.json,
        ),
        Command::Service(ServiceCmd::Scale { pairs, wait }) => {
            let mut parsed = Vec::new();
            for p in pairs {
                let Some((name, n)) = p.split_once('=') else {
                    bail!("{p}: expected SERVICE=REPLICAS");
                };
                let n: u32 = n
                    .parse()
                    .with_context(|| format!("{p}: replicas must be a whole number"))?;
                parsed.push((name.to_string(), n));
            }
            for (name, replicas) in parsed {
                call(
                    &cli,
                    Request::ServiceScale {
                        name: name.clone(),
                        replicas,
                        detach: wait.detach,
                        timeout_secs: wait.timeout,
                    },
                )
                .await?;
                println!("{name} scaled to {replicas}");
            }
            Ok(())
        }
        Command::Service(ServiceCmd::Logs {
            name,
            follow,
            tail,
            since,
            timestamps,
        }) => {
            let since_ms = since
                .as_deref()
                .map(|s| observe::parse_time(s, observe::now_ms()))
                .transpose()
                .context("--since")?;
            let req = Request::ServiceLogs {
                name: name.clone(),
                follow: *follow,
                tail: *tail,
                since_ms,
            };
            let client = Client::new(&cli.socket);
            client
                .call(&req, |r| match r {
                    Reply::Progress { message } => eprintln!("  {message}"),
                    Reply::Log {
                        task,
                        line,
                        time_ns,
                        stderr,
                    } => {
                        if *timestamps {
                            let at = time_ns.map_or_else(
                                || "-".repeat(24),
                                |ns| orc_metrics::events::format_utc(ns / 1_000_000),
                            );
                            let err = if *stderr { "err " } else { "" };
                            println!("{at} {task}  | {err}{line}");
                        } else {
                            println!("{task}  | {line}");
                        }
                    }
                    _ => {}
                })
                .await?;
            Ok(())
        }
        Command::Service(ServiceCmd::Update {
            name,
            image,
            env_add,
            env_rm,
            replicas,
            force,
            label_add,
            label_rm,
            wait,
        }) => {
            let change = orc_api::ServiceChange {
                image: image.clone(),
                env_add: env_add.clone(),
                env_rm: env_rm.clone(),
                replicas: *replicas,
                force: *force,
                label_add: label_add.clone(),
                label_rm: label_rm.clone(),
            };
            let v = call(
                &cli,
                Request::ServiceUpdate {
                    name: name.clone(),
                    change,
                    detach: wait.detach,
                    timeout_secs: wait.timeout,
                },
            )
            .await?;
            listing::rolled(&v, wait.detach);
            Ok(())
        }
        Command::Service(ServiceCmd::Rollback { name, to, wait }) => {
            let v = call(
                &cli,
                Request::ServiceRollback {
                    name: name.clone(),
                    to: *to,
                    detach: wait.detach,
                    timeout_secs: wait.timeout,
                },
            )
            .await?;
            listing::rolled(&v, wait.detach);
            Ok(())
        }
        Command::Service(ServiceCmd::History { name, json }) => listing::history(
            call(&cli, Request::ServiceHistory { name: name.clone() }).await?,
            json.json,
        ),
        Command::Service(ServiceCmd::Rm { name, wait }) => {
            call(
                &cli,
                Request::ServiceRm {
                    name: name.clone(),
                    detach: wait.detach,
                    timeout_secs: wait.timeout,
                },
            )
            .await?;
            println!("removed service {name}");
            Ok(())
        }
        Command::Node(NodeCmd::Ls(j)) => listing::nodes(call(&cli, Request::NodeLs).await?, j.json),
        Command::Vip(sub) => {
            let v = call(&cli, vip::request(sub)?).await?;
            match sub {
                VipCmd::Set {
                    address, interface, ..
                } => println!("virtual IP {address} set on {interface}"),
                VipCmd::Unset => println!("virtual IP removed"),
                VipCmd::Status(j) => vip::print_status(&v, j.json)?,
            }
            Ok(())
        }
        Command::Image(ImageCmd::Pull {
            reference,
            platform,
            node,
        }) => registry::pull(&cli, reference, platform.clone(), node.clone()).await,
        Command::Registry(sub) => registry::run(&cli, sub).await,
        Command::Secret(sub) => value::run(&cli, "secret", sub).await,
        Command::Config(sub) => value::run(&cli, "config", sub).await,
        Command::Image(ImageCmd::Prune { keep }) => registry::prune(&cli, keep).await,
        Command::Volume(VolumeCmd::Ls(j)) => {
            volume::list(call(&cli, Request::VolumeLs).await?, j.json)
        }
        Command::Volume(VolumeCmd::Inspect { name }) => {
            crate::output::json(&call(&cli, Request::VolumeInspect { name: name.clone() }).await?)
        }
        Command::Volume(VolumeCmd::Rm { name }) => {
            call(&cli, Request::VolumeRm { name: name.clone() }).await?;
            println!("removed volume {name}");
            Ok(())
        }
        Command::Cluster(ClusterCmd::Ceph(CephCmd::Set {
            conf,
            keyring,
            user,
        })) => {
            let v = call(&cli, volume::ceph_set_request(conf, keyring, user)?).await?;
            println!(
                "Ceph set for user client.{} (health: {})",
                v["user"].as_str().unwrap_or("?"),
                v["health"].as_str().unwrap_or("?")
            );
            Ok(())
        }
    }
}
