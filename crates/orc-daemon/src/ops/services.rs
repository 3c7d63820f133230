//! Services: list, their tasks, scale, logs.

use super::{converge, views, Ops, Progress};
use crate::util::now_ms;
use crate::DaemonError;
use orc_api::{ServiceRow, TaskRow};
use orc_model::Command;
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
        follow: bool,
        tail: Option<usize>,
        progress: &Progress,
    ) -> Result<(), DaemonError> {
        converge::logs(self, name, follow, tail, progress).await
    }
}
