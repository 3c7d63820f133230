//! Services: list, their tasks, scale, logs.

use super::{converge, views, Ops, Progress};
use crate::util::{now_ms, random_id};
use crate::DaemonError;
use orc_api::{ServiceInspect, ServiceRow, TaskRow};
use orc_model::{Command, Guard, NewService};
use serde::Serialize;
use std::time::Duration;

/// What `orc service scale` committed.
#[derive(Debug, Clone, Serialize)]
pub struct Scaled {
    pub service: String,
    pub replicas: u32,
}

impl Ops {
    /// `orc service ls [--stack S]`.
    pub fn service_ls(&self, stack: Option<&str>) -> Result<Vec<ServiceRow>, DaemonError> {
        Ok(views::services(&*self.state()?, stack))
    }

    /// `orc service ps NAME [--all]`.
    pub fn service_ps(&self, name: &str, all: bool) -> Result<Vec<TaskRow>, DaemonError> {
        let state = self.state()?;
        let s = state
            .service_by_name(name)
            .ok_or_else(|| DaemonError::Invalid(format!("no service named {name}")))?;
        Ok(views::tasks(&state, s, all, now_ms()))
    }

    /// `orc service inspect NAME`: the spec, and the live tasks with their health.
    pub fn service_inspect(&self, name: &str) -> Result<ServiceInspect, DaemonError> {
        let state = self.state()?;
        let s = state
            .service_by_name(name)
            .ok_or_else(|| DaemonError::Invalid(format!("no service named {name}")))?;
        let service = views::services(&state, Some(&s.stack))
            .into_iter()
            .find(|r| r.name == s.name)
            .ok_or_else(|| DaemonError::Invalid(format!("no service named {name}")))?;
        Ok(ServiceInspect {
            service,
            spec: s.spec.clone(),
            tasks: views::tasks(&state, s, false, now_ms()),
            update: super::rollouts::update_row(s),
            revisions: super::rollouts::history(s),
        })
    }

    /// `orc service scale NAME=N`.
    pub async fn service_scale(
        &self,
        name: &str,
        replicas: u32,
        detach: bool,
        timeout: Duration,
        progress: &Progress,
    ) -> Result<Scaled, DaemonError> {
        let cluster = self.cluster()?;
        cluster
            .propose(Command::ScaleService {
                name: name.to_string(),
                replicas,
                at: now_ms(),
            })
            .await?;
        progress
            .progress(format!("{name} scaled to {replicas}"))
            .await;
        if !detach {
            converge::service(&cluster, name, timeout, progress).await?;
        }
        Ok(Scaled {
            service: name.to_string(),
            replicas,
        })
    }

    /// `orc service logs NAME [--follow] [--tail N]`: lines go to `progress` as they come.
    pub async fn service_logs(
        &self,
        name: &str,
        opts: converge::LogOptions,
        progress: &Progress,
    ) -> Result<(), DaemonError> {
        converge::logs(self, name, opts, progress).await
    }
}

/// One service as a front door that manages services one at a time (the Docker API)
/// gives it: which stack, its names, its normalised spec.
#[derive(Debug, Clone)]
pub struct PutService {
    pub stack: String,
    pub short_name: String,
    /// The full name: "STACK_SERVICE", or the stack's own name for a service that is
    /// its stack's only one.
    pub name: String,
    pub spec: orc_spec::ServiceSpec,
}

impl Ops {
    /// Creates a service; returns its id. The name must be free.
    pub async fn service_create(&self, s: PutService) -> Result<String, DaemonError> {
        let cluster = self.cluster()?;
        let id = random_id();
        self.check_reserved_ports(&cluster, &s)?;
        super::rollouts::check_start_first(&s.spec)?;
        cluster
            .propose(Command::PutService {
                service: Box::new(NewService {
                    id: id.clone(),
                    short_name: s.short_name,
                    spec: s.spec,
                }),
                stack: s.stack,
                name: s.name,
                expect_version: None,
                at: now_ms(),
            })
            .await?;
        Ok(id)
    }

    /// Replaces service `id`'s spec if the service is still at change index `index`
    /// (Docker's `Version.Index`: nothing about it changed since its writer read it);
    /// its stack and names stay: a rename is refused.
    pub async fn service_update(
        &self,
        id: &str,
        index: u64,
        s: PutService,
    ) -> Result<(), DaemonError> {
        let cluster = self.cluster()?;
        let state = cluster.snapshot();
        let current = state
            .services
            .get(id)
            .ok_or_else(|| DaemonError::Invalid(format!("no service with id {id}")))?;
        if current.name != s.name {
            return Err(DaemonError::Invalid(format!(
                "service {} cannot be renamed to {} (remove it and create the new one)",
                current.name, s.name
            )));
        }
        self.check_reserved_ports(&cluster, &s)?;
        super::rollouts::check_start_first(&s.spec)?;
        let put = Command::PutService {
            service: Box::new(NewService {
                id: id.to_string(),
                short_name: current.short_name.clone(),
                spec: s.spec,
            }),
            stack: current.stack.clone(),
            name: current.name.clone(),
            expect_version: None,
            at: now_ms(),
        };
        cluster
            .propose(Command::Guarded {
                guard: Guard::Service(id.to_string()),
                index,
                then: Box::new(put),
            })
            .await?;
        Ok(())
    }

    /// Removes service `id`; its tasks are then stopped by the orchestrator.
    pub async fn service_remove(&self, id: &str) -> Result<(), DaemonError> {
        self.cluster()?
            .propose(Command::RemoveService { id: id.to_string() })
            .await?;
        Ok(())
    }

    /// Ports orc itself uses on the nodes (as `stack deploy` checks them).
    fn check_reserved_ports(
        &self,
        cluster: &crate::cluster::Cluster,
        s: &PutService,
    ) -> Result<(), DaemonError> {
        let mut stack = orc_spec::StackSpec {
            name: s.stack.clone(),
            services: Default::default(),
            networks: Default::default(),
            volumes: Default::default(),
            secrets: Default::default(),
            configs: Default::default(),
        };
        stack.services.insert(s.short_name.clone(), s.spec.clone());
        match cluster.snapshot().reserved_port_clash(&stack) {
            Some(why) => Err(DaemonError::Invalid(why)),
            None => Ok(()),
        }
    }

    /// The lines of one task, or of every task of a service, labelled with the task's
    /// id (for front doors that name tasks by id); `follow` as `service logs`.
    pub async fn task_logs(
        &self,
        service_id: &str,
        task: Option<&str>,
        opts: converge::LogOptions,
        progress: &Progress,
    ) -> Result<(), DaemonError> {
        let sel = converge::LogSelect::ById {
            service: service_id.to_string(),
            task: task.map(str::to_string),
        };
        converge::logs_of(self, sel, opts, progress).await
    }
}
