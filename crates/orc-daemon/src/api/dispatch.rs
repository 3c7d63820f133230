//! One line per request: parse nothing more, call the operations layer, render its
//! result as JSON. No arm holds logic; each operation lives in `ops`.

use crate::ops::stacks::DeployOptions;
use crate::ops::{images, nodes, registry, roles, secrets, spread, volumes, Ops, Progress};
use crate::DaemonError;
use orc_api::Request;
use serde_json::Value;
use std::time::Duration;

fn json<T: serde::Serialize>(v: T) -> Result<Value, DaemonError> {
    serde_json::to_value(v).map_err(|e| DaemonError::Invalid(e.to_string()))
}

pub async fn handle(ops: &Ops, req: Request, p: &Progress) -> Result<Value, DaemonError> {
    use Request as R;
    let secs = Duration::from_secs;
    match req {
        R::Info => json(ops.cluster_info()),
        R::ClusterInit {
            advertise,
            subnet,
            network_driver,
        } => json(
            ops.cluster_init(advertise, subnet.as_deref(), network_driver.as_deref())
                .await?,
        ),
        R::ClusterJoin {
            token,
            address,
            advertise,
        } => json(ops.cluster_join(token, address, advertise).await?),
        R::ClusterLeave { force } => roles::leave(ops, force, p).await,
        R::ClusterBackup { path, passphrase } => {
            json(ops.cluster_backup(&path, passphrase.map(|s| s.0)).await?)
        }
        R::BackupLs => json(ops.backup_ls()?),
        R::BackupVerify { path, passphrase } => {
            json(ops.backup_verify(&path, passphrase.map(|s| s.0))?)
        }
        R::ClusterRestore {
            path,
            advertise,
            passphrase,
        } => json(
            ops.cluster_restore(&path, advertise, passphrase.map(|s| s.0))
                .await?,
        ),
        R::ClusterResume => ops.cluster_resume().await,
        R::ClusterRecover { force_new_cluster } => {
            json(ops.cluster_recover(force_new_cluster, p).await?)
        }
        R::JoinToken { role, rotate } => nodes::join_token(ops, &role, rotate).await,
        R::NodeLs => json(ops.node_ls()?),
        R::NodeUpdate {
            node,
            availability,
            label_add,
            label_rm,
        } => nodes::update(ops, &node, None, availability, label_add, label_rm).await,
        R::NodeRm { node, force } => nodes::remove(ops, &node, force).await,
        R::NodePromote { node } => roles::promote(ops, &node, p).await,
        R::NodeDemote { node, force } => roles::demote(ops, &node, force, p).await,
        R::StackDeploy {
            stack,
            detach,
            timeout_secs,
            no_resolve,
            values,
        } => {
            let opts = DeployOptions {
                detach,
                timeout: secs(timeout_secs),
                no_resolve,
            };
            json(ops.stack_deploy(stack, values, opts, p).await?)
        }
        R::StackLs => json(ops.stack_ls()?),
        R::StackRm {
            name,
            detach,
            timeout_secs,
            volumes,
        } => json(
            ops.stack_rm(&name, detach, secs(timeout_secs), volumes, p)
                .await?,
        ),
        R::ServiceLs { stack } => json(ops.service_ls(stack.as_deref())?),
        R::ServicePs { name, all } => json(ops.service_ps(&name, all)?),
        R::ServiceScale {
            name,
            replicas,
            detach,
            timeout_secs,
        } => json(
            ops.service_scale(&name, replicas, detach, secs(timeout_secs), p)
                .await?,
        ),
        R::ServiceLogs {
            name,
            follow,
            tail,
            since_ms,
        } => {
            let opts = crate::ops::converge::LogOptions {
                follow,
                tail,
                since_ms,
            };
            ops.service_logs(&name, opts, p).await?;
            Ok(Value::Null)
        }
        R::ServiceUpdate {
            name,
            change,
            detach,
            timeout_secs,
        } => json(
            ops.service_change(&name, &change, detach, secs(timeout_secs), p)
                .await?,
        ),
        R::ServiceRollback {
            name,
            to,
            detach,
            timeout_secs,
        } => json(
            ops.service_rollback(&name, to, None, detach, secs(timeout_secs), p)
                .await?,
        ),
        R::ServiceHistory { name } => json(ops.service_history(&name)?),
        R::ServiceRm {
            name,
            detach,
            timeout_secs,
        } => json(ops.service_rm(&name, detach, secs(timeout_secs), p).await?),
        R::ImageLoad { path, distribute } => json(ops.image_load(&path, distribute, p).await?),
        R::ImageLs => json(images::list(ops).await?),
        R::ImageRm { reference } => ops.image_rm(&reference).await,
        R::ImagePull {
            reference,
            platform,
            node: Some(node),
        } => spread::pull_on_node(ops, &reference, platform, &node, p).await,
        R::ImagePull {
            reference,
            platform,
            node: None,
        } => images::pull(ops, &reference, platform, p).await,
        R::ImagePrune { keep } => json(images::prune(ops, &keep).await?),
        R::RegistryLogin {
            registry,
            username,
            password,
        } => registry::login(ops, &registry, username, password.0).await,
        R::RegistryLogout { registry } => registry::logout(ops, &registry).await,
        R::VolumeLs => json(volumes::list(&*ops.state()?)),
        R::VolumeInspect { name } => volumes::inspect(&*ops.state()?, &name),
        R::VolumeRm { name } => volumes::remove(ops, &name).await,
        R::CephSet {
            conf,
            keyring,
            user,
        } => volumes::set_ceph(ops, conf, keyring, user).await,
        R::VipSet {
            address,
            interface,
            vrid,
            advert_interval_ms,
        } => json(
            ops.vip_set(&address, &interface, vrid, advert_interval_ms)
                .await?,
        ),
        R::VipUnset => ops.vip_unset().await,
        R::VipStatus => ops.vip_status().await,
        R::Events {
            since,
            until,
            filter,
        } => {
            ops.events(since, until, &filter, p).await?;
            Ok(Value::Null)
        }
        R::Stats {
            services,
            interval_ms,
        } => {
            let interval = interval_ms.unwrap_or(1000).clamp(100, 10_000);
            json(
                ops.stats(&services, Duration::from_millis(interval))
                    .await?,
            )
        }
        R::Autolock { enable } => json(ops.autolock_set(enable).await?),
        R::UnlockKey { rotate } => json(ops.unlock_key(rotate).await?),
        R::ClusterUnlock { key } => json(ops.cluster_unlock(&key.0)?),
        R::ServiceInspect { name } => json(ops.service_inspect(&name)?),
        R::ValueCreate { kind, name, value } => json(
            ops.value_create(secrets::kind(&kind)?, &name, value, None)
                .await?,
        ),
        R::ValueUpdate { kind, name, value } => json(
            ops.value_update(secrets::kind(&kind)?, &name, value)
                .await?,
        ),
        R::ValueLs { kind } => json(ops.value_ls(secrets::kind(&kind)?)?),
        R::ValueInspect {
            kind,
            name,
            with_value,
        } => ops.value_inspect(secrets::kind(&kind)?, &name, with_value),
        R::ValueRm { kind, name } => ops.value_rm(secrets::kind(&kind)?, &name).await,
    }
}
