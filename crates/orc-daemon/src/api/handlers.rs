//! One function per request.

use super::{converge, Sink};
use crate::util::{now_ms, random_id};
use crate::{views, Daemon, DaemonError};
use orc_api::{ImageRow, InfoReply, Request};
use orc_model::{Command, CommandResult, NewService};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

fn to_value<T: serde::Serialize>(v: T) -> Result<Value, DaemonError> {
    serde_json::to_value(v).map_err(|e| DaemonError::Invalid(e.to_string()))
}

pub async fn handle(daemon: Arc<Daemon>, req: Request, sink: &Sink) -> Result<Value, DaemonError> {
    match req {
        Request::Info => {
            let c = daemon.cluster().ok();
            let state = c.as_ref().map(|c| c.snapshot());
            to_value(InfoReply {
                version: env!("CARGO_PKG_VERSION").into(),
                node_id: c.as_ref().map(|c| views::node_id_str(c.node_id)),
                cluster_id: state
                    .as_ref()
                    .and_then(|s| s.cluster.as_ref().map(|i| i.id.clone())),
                leader: c.as_ref().and_then(|c| c.leader()).map(views::node_id_str),
                is_manager: c.is_some(),
                voters: c
                    .as_ref()
                    .map(crate::membership::voters)
                    .unwrap_or_default()
                    .into_iter()
                    .map(views::node_id_str)
                    .collect(),
                raft_members: c
                    .as_ref()
                    .map(crate::member_address::members)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(id, a)| (views::node_id_str(id), a))
                    .collect(),
            })
        }
        Request::ClusterInit {
            advertise,
            subnet,
            network_driver,
        } => {
            let network =
                crate::subnet::cluster_network(subnet.as_deref(), network_driver.as_deref())?;
            let id = daemon.init_cluster(advertise, network).await?;
            Ok(json!({ "cluster_id": id.cluster_id, "node_id": views::node_id_str(id.node_id) }))
        }
        Request::ClusterJoin {
            token,
            address,
            advertise,
        } => {
            let id = daemon.join_cluster(token, address, advertise).await?;
            Ok(
                json!({ "cluster_id": id.cluster_id, "node_id": views::node_id_str(id.node_id), "role": id.role.as_str() }),
            )
        }
        Request::JoinToken { role, rotate } => {
            super::nodes::join_token(&daemon, &role, rotate).await
        }
        Request::NodeUpdate {
            node,
            availability,
            label_add,
            label_rm,
        } => super::nodes::update(&daemon, &node, availability, label_add, label_rm).await,
        Request::NodeRm { node, force } => super::nodes::remove(&daemon, &node, force).await,
        Request::NodePromote { node } => super::roles::promote(&daemon, &node, sink).await,
        Request::NodeDemote { node, force } => {
            super::roles::demote(&daemon, &node, force, sink).await
        }
        Request::ClusterLeave { force } => super::roles::leave(daemon.clone(), force, sink).await,
        Request::ImageLoad { path, distribute } => {
            sink.progress(format!("importing {}", path.display())).await;
            let images = daemon.runtime.import_archive(&path).await?;
            if distribute {
                let names: Vec<String> = images.iter().map(|i| i.name.clone()).collect();
                super::spread::distribute(&daemon, &names, sink).await?;
            }
            to_value(images.into_iter().map(image_row).collect::<Vec<_>>())
        }
        Request::ImageLs => to_value(super::images::list(&daemon).await?),
        Request::ImageRm { reference } => {
            daemon.runtime.remove_image(&reference).await?;
            Ok(json!({ "removed": reference }))
        }
        Request::StackDeploy {
            mut stack,
            detach,
            timeout_secs,
            no_resolve,
        } => {
            let cluster = daemon.cluster()?;
            if let Some(why) = cluster.snapshot().reserved_port_clash(&stack) {
                return Err(DaemonError::Invalid(why));
            }
            if !no_resolve {
                super::registry::pin_images(&daemon, &mut stack, sink).await;
            }
            super::volumes::ensure(&cluster, &stack).await?;
            let services = stack
                .services
                .iter()
                .map(|(name, spec)| NewService {
                    id: random_id(),
                    short_name: name.clone(),
                    spec: spec.clone(),
                })
                .collect();
            let r = cluster
                .propose(Command::DeployStack {
                    stack: stack.name.clone(),
                    services,
                    at: now_ms(),
                })
                .await?;
            let outcome = match r {
                CommandResult::Deployed(o) => o,
                _ => Default::default(),
            };
            for (verb, names) in [
                ("creating", &outcome.created),
                ("updating", &outcome.updated),
                ("removing", &outcome.removed),
            ] {
                for n in names {
                    sink.progress(format!("{verb} service {n}")).await;
                }
            }
            if !detach {
                converge::stack(
                    &cluster,
                    &stack.name,
                    Duration::from_secs(timeout_secs),
                    sink,
                )
                .await?;
            }
            to_value(outcome)
        }
        Request::StackLs => to_value(views::stacks(&daemon.cluster()?.snapshot())),
        Request::StackRm {
            name,
            detach,
            timeout_secs,
            volumes,
        } => {
            if volumes && detach {
                return Err(DaemonError::Invalid(
                    "--volumes waits for the services to go: drop --detach".into(),
                ));
            }
            let cluster = daemon.cluster()?;
            let state = cluster.snapshot();
            let ids: Vec<String> = state
                .services_in_stack(&name)
                .map(|s| s.id.clone())
                .collect();
            let has_volumes = state.volumes_in_stack(&name).next().is_some();
            if ids.is_empty() && !(volumes && has_volumes) {
                return Err(DaemonError::Invalid(format!("no stack named {name}")));
            }
            cluster
                .propose(Command::RemoveStack {
                    stack: name.clone(),
                })
                .await?;
            sink.progress(format!("removing {} service(s) of stack {name}", ids.len()))
                .await;
            if !detach {
                converge::gone(&cluster, &ids, Duration::from_secs(timeout_secs), sink).await?;
            }
            let mut removed_volumes = Vec::new();
            if volumes {
                for v in super::volumes::remove_stack_volumes(&daemon, &name).await? {
                    sink.progress(format!("removed volume {v}")).await;
                    removed_volumes.push(v);
                }
            }
            Ok(json!({ "removed": name, "services": ids.len(), "volumes": removed_volumes }))
        }
        Request::ServiceLs { stack } => to_value(views::services(
            &daemon.cluster()?.snapshot(),
            stack.as_deref(),
        )),
        Request::ServicePs { name, all } => {
            let state = daemon.cluster()?.snapshot();
            let s = state
                .service_by_name(&name)
                .ok_or_else(|| DaemonError::Invalid(format!("no service named {name}")))?;
            to_value(views::tasks(&state, s, all, now_ms()))
        }
        Request::ServiceScale {
            name,
            replicas,
            detach,
            timeout_secs,
        } => {
            let cluster = daemon.cluster()?;
            cluster
                .propose(Command::ScaleService {
                    name: name.clone(),
                    replicas,
                    at: now_ms(),
                })
                .await?;
            sink.progress(format!("{name} scaled to {replicas}")).await;
            if !detach {
                converge::service(&cluster, &name, Duration::from_secs(timeout_secs), sink).await?;
            }
            Ok(json!({ "service": name, "replicas": replicas }))
        }
        Request::ServiceLogs { name, follow, tail } => {
            crate::api::converge::logs(&daemon, &name, follow, tail, sink).await?;
            Ok(Value::Null)
        }
        Request::VipSet {
            address,
            interface,
            vrid,
            advert_interval_ms,
        } => {
            let setting = crate::vip::validate(&address, &interface, vrid, advert_interval_ms)
                .map_err(DaemonError::Invalid)?;
            daemon
                .cluster()?
                .propose(Command::SetVip(Some(setting.clone())))
                .await?;
            to_value(setting)
        }
        Request::VipUnset => {
            daemon.cluster()?.propose(Command::SetVip(None)).await?;
            Ok(json!({ "removed": true }))
        }
        Request::VipStatus => {
            let c = daemon.cluster()?;
            let mut v = crate::vip_report::local(&daemon, &c);
            v["managers"] = Value::Array(crate::vip_report::managers(&daemon, &c).await);
            Ok(v)
        }
        Request::ImagePull {
            reference,
            platform,
            node: Some(node),
        } => {
            if platform.is_some() {
                return Err(DaemonError::Invalid(
                    "--platform and --node don't go together: a node pulls its own platform".into(),
                ));
            }
            super::spread::pull_on(&daemon, &reference, &node, sink).await
        }
        Request::ImagePull {
            reference,
            platform,
            node: None,
        } => super::images::pull(&daemon, &reference, platform, sink).await,
        Request::RegistryLogin {
            registry,
            username,
            password,
        } => {
            let creds = orc_runtime::Credentials {
                username,
                password: password.0,
            };
            super::registry::login(&daemon, &registry, creds).await
        }
        Request::ImagePrune { keep } => to_value(super::images::prune(&daemon, &keep).await?),
        Request::RegistryLogout { registry } => super::registry::logout(&daemon, &registry).await,
        Request::VolumeLs => to_value(super::volumes::list(&daemon.cluster()?.snapshot())),
        Request::VolumeInspect { name } => {
            super::volumes::inspect(&daemon.cluster()?.snapshot(), &name)
        }
        Request::VolumeRm { name } => super::volumes::remove(&daemon, &name).await,
        Request::CephSet {
            conf,
            keyring,
            user,
        } => super::volumes::set_ceph(&daemon, conf, keyring, user).await,
        Request::NodeLs => {
            let c = daemon.cluster()?;
            to_value(views::nodes(&c.snapshot(), c.leader()))
        }
    }
}

pub(super) fn image_row(i: orc_runtime::ImageInfo) -> ImageRow {
    ImageRow {
        name: i.name,
        digest: i.digest,
        size: i.size,
        platform: i.platform,
        nodes: Vec::new(),
    }
}
