//! One service at a time from the CLI: update (rolled out by the leader's updater),
//! rollback, inspect, history, remove. The waits are `converge`'s: they end when the
//! rollout ended, with an error when it paused or rolled back.

use super::{converge, Ops, Progress};
use crate::util::now_ms;
use crate::DaemonError;
use orc_api::{RevisionRow, ServiceChange, UpdateRow};
use orc_model::{ClusterState, Command, Guard, NewService, Service};
use orc_spec::{ServiceMode, ServiceSpec, UpdateOrder};
use serde::Serialize;
use std::time::Duration;

/// What `orc service update` / `rollback` committed.
#[derive(Debug, Clone, Serialize)]
pub struct Rolled {
    pub service: String,
    /// The version the service is at after the command.
    pub version: u64,
    /// The update state when the command returned.
    pub update: Option<String>,
}

fn find<'a>(state: &'a ClusterState, name: &str) -> Result<&'a Service, DaemonError> {
    state
        .service_by_name(name)
        .ok_or_else(|| DaemonError::Invalid(format!("no service named {name}")))
}

/// `KEY=VALUE` → (KEY, VALUE), with `what` naming the flag in errors.
fn pair(s: &str, what: &str) -> Result<(String, String), DaemonError> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(DaemonError::Invalid(format!(
            "{what} {s:?}: expected KEY=VALUE"
        ))),
    }
}

/// The spec `change` makes of `spec`; refused changes name the flag.
pub fn changed_spec(
    spec: &ServiceSpec,
    change: &ServiceChange,
) -> Result<ServiceSpec, DaemonError> {
    let mut spec = spec.clone();
    if let Some(image) = &change.image {
        if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DaemonError::Invalid(format!(
                "--image {image:?} is not an image reference"
            )));
        }
        spec.image = image.clone();
    }
    for e in &change.env_add {
        let (k, v) = pair(e, "--env-add")?;
        spec.env.insert(k, v);
    }
    for k in &change.env_rm {
        spec.env.remove(k);
    }
    for l in &change.label_add {
        let (k, v) = pair(l, "--label-add")?;
        spec.labels.insert(k, v);
    }
    for k in &change.label_rm {
        spec.labels.remove(k);
    }
    if let Some(n) = change.replicas {
        match spec.mode {
            ServiceMode::Global => {
                return Err(DaemonError::Invalid(
                    "--replicas: the service is global (one task per node)".into(),
                ))
            }
            ServiceMode::Replicated { .. } => {
                if i64::from(n) > orc_spec::MAX_REPLICAS {
                    return Err(DaemonError::Invalid(format!(
                        "--replicas {n}: at most {}",
                        orc_spec::MAX_REPLICAS
                    )));
                }
                spec.mode = ServiceMode::Replicated { replicas: n };
            }
        }
    }
    check_start_first(&spec)?;
    Ok(spec)
}

/// Start-first is refused for a service that can't run two tasks side by side.
pub fn check_start_first(spec: &ServiceSpec) -> Result<(), DaemonError> {
    for (key, cfg) in [
        ("update_config", spec.update_config),
        ("rollback_config", spec.rollback_config),
    ] {
        if cfg.order == UpdateOrder::StartFirst {
            if let Some(why) = spec.start_first_conflict() {
                return Err(DaemonError::Invalid(format!(
                    "{key}: order = \"start-first\" is refused: {why}"
                )));
            }
        }
    }
    Ok(())
}

fn rolled(state: &ClusterState, name: &str) -> Rolled {
    let s = state.service_by_name(name);
    Rolled {
        service: name.to_string(),
        version: s.map_or(0, |s| s.version),
        update: s
            .and_then(|s| s.rollout.update.as_ref())
            .map(|u| u.state.as_str().to_string()),
    }
}

impl Ops {
    /// `orc service update NAME [--image …] [--env-add …] [--replicas N] [--force] …`:
    /// one Raft entry with the new spec (and the forced version); the leader's updater
    /// rolls it out. Waits unless `detach`: an error when it paused or rolled back.
    pub async fn service_change(
        &self,
        name: &str,
        change: &ServiceChange,
        detach: bool,
        timeout: Duration,
        progress: &Progress,
    ) -> Result<Rolled, DaemonError> {
        let cluster = self.cluster()?;
        let state = cluster.snapshot();
        let s = find(&state, name)?;
        let spec = changed_spec(&s.spec, change)?;
        if spec == s.spec && !change.force {
            progress
                .progress(format!(
                    "{name}: nothing to change (--force replaces every task)"
                ))
                .await;
            return Ok(rolled(&state, name));
        }
        let at = now_ms();
        let mut cmds = Vec::new();
        if spec != s.spec {
            cmds.push(Command::PutService {
                service: Box::new(NewService {
                    id: s.id.clone(),
                    short_name: s.short_name.clone(),
                    spec,
                }),
                stack: s.stack.clone(),
                name: s.name.clone(),
                expect_version: Some(s.version),
                at,
            });
        }
        if change.force {
            cmds.push(Command::ForceUpdate {
                id: s.id.clone(),
                at,
            });
        }
        cluster.propose(Command::Batch(cmds)).await?;
        let version = cluster
            .snapshot()
            .service_by_name(name)
            .map_or(0, |s| s.version);
        progress
            .progress(format!("{name}: version {version} committed"))
            .await;
        if !detach {
            converge::rollout(&cluster, name, false, timeout, progress).await?;
        }
        Ok(rolled(&cluster.snapshot(), name))
    }

    /// `orc service rollback NAME [--to REV]`: back to revision REV, else to the last
    /// stable one (never a bad revision deployed twice), rolled out with
    /// rollback_config. Waits unless `detach`: an error when the rollback paused.
    /// With `index` (the Docker API's `?version=`), only if the service is still at
    /// that change index.
    pub async fn service_rollback(
        &self,
        name: &str,
        to: Option<u64>,
        index: Option<u64>,
        detach: bool,
        timeout: Duration,
        progress: &Progress,
    ) -> Result<Rolled, DaemonError> {
        let cluster = self.cluster()?;
        let state = cluster.snapshot();
        let s = find(&state, name)?;
        let target = s
            .rollback_target(to)
            .map_err(|why| DaemonError::Invalid(format!("{name} cannot be rolled back: {why}")))?;
        check_start_first(&s.with_current_mode(&target.spec))?;
        let number = target.number;
        // Orc's own CLI guards on the spec version (a rollout's status changing
        // meanwhile is no conflict); a Docker client on everything it read.
        let rollback = Command::RollbackService {
            id: s.id.clone(),
            to: Some(number),
            expect_version: index.is_none().then_some(s.version),
            reason: format!("rollback to revision {number} asked by `orc service rollback`"),
            at: now_ms(),
        };
        cluster
            .propose(super::guarded(
                Guard::Service(s.id.clone()),
                index,
                rollback,
            ))
            .await?;
        progress
            .progress(format!("{name}: rolling back to revision {number}"))
            .await;
        if !detach {
            converge::rollout(&cluster, name, true, timeout, progress).await?;
        }
        Ok(rolled(&cluster.snapshot(), name))
    }

    /// `orc service history NAME`: its revisions, newest first.
    pub fn service_history(&self, name: &str) -> Result<Vec<RevisionRow>, DaemonError> {
        let state = self.state()?;
        Ok(history(find(&state, name)?))
    }

    /// `orc service rm NAME`: removes the service; waits (unless `detach`) until its
    /// tasks are gone.
    pub async fn service_rm(
        &self,
        name: &str,
        detach: bool,
        timeout: Duration,
        progress: &Progress,
    ) -> Result<String, DaemonError> {
        let cluster = self.cluster()?;
        let id = find(&cluster.snapshot(), name)?.id.clone();
        cluster
            .propose(Command::RemoveService { id: id.clone() })
            .await?;
        if !detach {
            converge::gone(&cluster, &[id], timeout, progress).await?;
        }
        Ok(name.to_string())
    }
}

/// The service's update as a row (`orc service inspect`).
pub fn update_row(s: &Service) -> Option<UpdateRow> {
    s.rollout.update.as_ref().map(|u| UpdateRow {
        state: u.state.as_str().to_string(),
        message: u.message.clone(),
        started_at: u.started_at,
        ended_at: u.ended_at,
        from: u.from,
        to: u.to,
    })
}

/// The service's revisions, newest first.
pub fn history(s: &Service) -> Vec<RevisionRow> {
    s.rollout
        .revisions
        .iter()
        .rev()
        .map(|r| RevisionRow {
            revision: r.number,
            created_at: r.created_at,
            image: r.spec.image.clone(),
            stable: r.stable,
            current: r.number == s.version,
            note: r.note.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_edits_only_what_its_flags_name() {
        let mut spec = ServiceSpec::new("demo/busybox:1");
        spec.env.insert("A".into(), "1".into());
        spec.env.insert("B".into(), "2".into());
        let change = ServiceChange {
            image: Some("demo/busybox:2".into()),
            env_add: vec!["C=3".into()],
            env_rm: vec!["A".into()],
            replicas: Some(3),
            label_add: vec!["tier=web".into()],
            ..Default::default()
        };
        let out = changed_spec(&spec, &change).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.image, "demo/busybox:2");
        assert_eq!(
            out.env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
            vec!["B=2", "C=3"]
        );
        assert_eq!(out.mode, ServiceMode::Replicated { replicas: 3 });
        assert_eq!(out.labels.get("tier").map(String::as_str), Some("web"));
        let bad = ServiceChange {
            env_add: vec!["novalue".into()],
            ..Default::default()
        };
        assert!(changed_spec(&spec, &bad)
            .unwrap_err()
            .to_string()
            .contains("--env-add \"novalue\": expected KEY=VALUE"));
    }

    #[test]
    fn start_first_with_a_host_port_is_refused() {
        let mut spec = ServiceSpec::new("demo/busybox:1");
        spec.update_config.order = UpdateOrder::StartFirst;
        spec.ports.push(orc_spec::PortSpec {
            published: 8080,
            target: 80,
            protocol: orc_spec::Protocol::Tcp,
            mode: orc_spec::PublishMode::Host,
        });
        let e = changed_spec(&spec, &ServiceChange::default()).unwrap_err();
        assert!(
            e.to_string()
                .contains("port 8080 is published in host mode"),
            "{e}"
        );
    }
}
