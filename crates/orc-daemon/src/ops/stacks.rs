//! Stacks: deploy (create, update and remove its services in one Raft entry), remove,
//! list.

use super::{converge, registry, secrets, views, volumes, Ops, Progress};
use crate::util::{now_ms, random_id};
use crate::DaemonError;
use orc_api::StackRow;
use orc_model::{Command, CommandResult, DeployOutcome, NewService};
use orc_spec::StackSpec;
use serde::Serialize;
use std::time::Duration;

/// How `orc stack deploy` runs.
#[derive(Debug, Clone, Copy)]
pub struct DeployOptions {
    /// Return once committed instead of waiting for the services to converge.
    pub detach: bool,
    pub timeout: Duration,
    /// Keep image tags as written (no registry digest lookup).
    pub no_resolve: bool,
}

/// The clear values of a stack's secrets and configs read from its files by the CLI.
pub type StackValues = Vec<orc_api::StackValue>;

/// What `orc stack rm` did.
#[derive(Debug, Clone, Serialize)]
pub struct StackRemoved {
    pub removed: String,
    pub services: usize,
    pub volumes: Vec<String>,
}

impl Ops {
    /// `orc stack deploy`: checks the stack against the cluster (reserved ports),
    /// seals its new or changed secret and config values, pins image digests,
    /// creates its volumes, then commits the values and the services in one entry.
    pub async fn stack_deploy(
        &self,
        mut stack: StackSpec,
        values: StackValues,
        opts: DeployOptions,
        progress: &Progress,
    ) -> Result<DeployOutcome, DaemonError> {
        let cluster = self.cluster()?;
        if let Some(why) = cluster.snapshot().reserved_port_clash(&stack) {
            return Err(DaemonError::Invalid(why));
        }
        let mut cmds = secrets::resolve_stack(self, &cluster, &mut stack, values)?;
        for c in &cmds {
            if let Command::PutValue { kind, name, .. } = c {
                progress
                    .progress(format!("{} {name}: new revision", kind.as_str()))
                    .await;
            }
        }
        if !opts.no_resolve {
            registry::pin_images(self, &mut stack, progress).await;
        }
        volumes::ensure(&cluster, &stack).await?;
        let services = stack
            .services
            .iter()
            .map(|(name, spec)| NewService {
                id: random_id(),
                short_name: name.clone(),
                spec: spec.clone(),
            })
            .collect();
        cmds.push(Command::DeployStack {
            stack: stack.name.clone(),
            services,
            at: now_ms(),
        });
        let cmd = if cmds.len() == 1 {
            cmds.remove(0)
        } else {
            Command::Batch(cmds)
        };
        let r = cluster.propose(cmd).await?;
        let r = match r {
            CommandResult::Batch(mut v) => v.pop().unwrap_or(CommandResult::Ok),
            r => r,
        };
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
                progress.progress(format!("{verb} service {n}")).await;
            }
        }
        if !opts.detach {
            let changed: Vec<String> = outcome
                .updated
                .iter()
                .chain(&outcome.created)
                .cloned()
                .collect();
            converge::stack(&cluster, &stack.name, &changed, opts.timeout, progress).await?;
        }
        Ok(outcome)
    }

    /// `orc stack rm [--volumes]`.
    pub async fn stack_rm(
        &self,
        name: &str,
        detach: bool,
        timeout: Duration,
        with_volumes: bool,
        progress: &Progress,
    ) -> Result<StackRemoved, DaemonError> {
        if with_volumes && detach {
            return Err(DaemonError::Invalid(
                "--volumes waits for the services to go: drop --detach".into(),
            ));
        }
        let cluster = self.cluster()?;
        let state = cluster.snapshot();
        let ids: Vec<String> = state
            .services_in_stack(name)
            .map(|s| s.id.clone())
            .collect();
        let has_volumes = state.volumes_in_stack(name).next().is_some();
        if ids.is_empty() && !(with_volumes && has_volumes) {
            return Err(DaemonError::Invalid(format!("no stack named {name}")));
        }
        cluster
            .propose(Command::RemoveStack {
                stack: name.to_string(),
            })
            .await?;
        progress
            .progress(format!("removing {} service(s) of stack {name}", ids.len()))
            .await;
        if !detach {
            converge::gone(&cluster, &ids, timeout, progress).await?;
        }
        let mut removed_volumes = Vec::new();
        if with_volumes {
            for v in volumes::remove_stack_volumes(self, name).await? {
                progress.progress(format!("removed volume {v}")).await;
                removed_volumes.push(v);
            }
        }
        Ok(StackRemoved {
            removed: name.to_string(),
            services: ids.len(),
            volumes: removed_volumes,
        })
    }

    /// `orc stack ls`.
    pub fn stack_ls(&self) -> Result<Vec<StackRow>, DaemonError> {
        Ok(views::stacks(&*self.state()?))
    }
}
