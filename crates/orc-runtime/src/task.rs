//! Tasks: waiting for an exit, stopping with a grace period, deleting.

use crate::container::state_of;
use crate::error::ignore_not_found;
use crate::{ContainerState, ExitInfo, Runtime, RuntimeError};
use containerd_client::services::v1::{DeleteTaskRequest, GetRequest, KillRequest, WaitRequest};
use containerd_client::types::v1::Process;
use std::time::{Duration, Instant, SystemTime};

const SIGKILL: u32 = 9;
const SIGTERM: u32 = 15;
/// How long [`Runtime::wait`] keeps reconnecting to an unreachable containerd.
pub const WAIT_RECONNECT: Duration = Duration::from_secs(120);
/// How long a SIGKILLed task may take to be reported dead.
const KILL_WAIT: Duration = Duration::from_secs(10);

fn exited_at(ts: Option<prost_types::Timestamp>) -> Option<SystemTime> {
    // containerd reports the zero time (0001-01-01) for "not exited".
    ts.and_then(|t| SystemTime::try_from(t).ok())
        .filter(|t| *t > SystemTime::UNIX_EPOCH)
}

impl Runtime {
    /// The task of container `id`, if it has one.
    async fn task(&self, id: &str) -> Result<Option<Process>, RuntimeError> {
        match self
            .tasks()
            .get(GetRequest {
                container_id: id.into(),
                exec_id: String::new(),
            })
            .await
        {
            Ok(r) => Ok(r.into_inner().process),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(s.into()),
        }
    }

    /// Blocks until container `id`'s task exits and returns how; at once if it has
    /// exited already. Works for tasks started by another process (adoption) and
    /// rides out containerd restarts (reconnecting for up to
    /// [`WAIT_RECONNECT`]). [`RuntimeError::NotFound`] if there is no task.
    pub async fn wait(&self, id: &str) -> Result<ExitInfo, RuntimeError> {
        let mut down_since: Option<Instant> = None;
        loop {
            let started = Instant::now();
            match self.wait_once(id).await {
                Err(RuntimeError::Unavailable(msg)) => {
                    // A call that was answered for a while means containerd was up.
                    if started.elapsed() > Duration::from_secs(1) {
                        down_since = None;
                    }
                    let since = *down_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > WAIT_RECONNECT {
                        return Err(RuntimeError::Unavailable(msg));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                r => return r,
            }
        }
    }

    async fn wait_once(&self, id: &str) -> Result<ExitInfo, RuntimeError> {
        let req = WaitRequest {
            container_id: id.into(),
            exec_id: String::new(),
        };
        let r = self.tasks().wait(req).await?.into_inner();
        Ok(ExitInfo {
            code: r.exit_status as i32,
            exited_at: exited_at(r.exited_at),
        })
    }

    async fn kill(&self, id: &str, signal: u32, all: bool) -> Result<(), RuntimeError> {
        let req = KillRequest {
            container_id: id.into(),
            exec_id: String::new(),
            signal,
            all,
        };
        // NotFound: the process has exited already.
        ignore_not_found(
            self.tasks()
                .kill(req)
                .await
                .map(|_| ())
                .map_err(RuntimeError::from),
        )
    }

    /// Stops container `id`: sends `signal` (0 = SIGTERM), waits up to `grace`,
    /// then SIGKILLs. Returns how the task ended; None if it has no task.
    pub async fn stop(
        &self,
        id: &str,
        signal: i32,
        grace: Duration,
    ) -> Result<Option<ExitInfo>, RuntimeError> {
        let Some(task) = self.task(id).await? else {
            return Ok(None);
        };
        if state_of(task.status) == ContainerState::Stopped {
            return Ok(Some(ExitInfo {
                code: task.exit_status as i32,
                exited_at: exited_at(task.exited_at),
            }));
        }
        let signal = u32::try_from(signal)
            .ok()
            .filter(|s| *s > 0)
            .unwrap_or(SIGTERM);
        let wait = self.wait(id);
        tokio::pin!(wait);
        if signal != SIGKILL {
            self.kill(id, signal, false).await?;
            if let Ok(r) = tokio::time::timeout(grace, &mut wait).await {
                return r.map(Some);
            }
        }
        self.kill(id, SIGKILL, true).await?;
        match tokio::time::timeout(KILL_WAIT, &mut wait).await {
            Ok(r) => r.map(Some),
            Err(_) => Err(RuntimeError::Unavailable(format!(
                "task {id} did not die within {KILL_WAIT:?} of SIGKILL"
            ))),
        }
    }

    /// Deletes container `id`'s task, killing it first if it still runs.
    pub(crate) async fn delete_task(&self, id: &str) -> Result<(), RuntimeError> {
        let Some(task) = self.task(id).await? else {
            return Ok(());
        };
        if state_of(task.status) != ContainerState::Stopped {
            self.stop(id, SIGKILL as i32, Duration::ZERO).await?;
        }
        let r = self
            .tasks()
            .delete(DeleteTaskRequest {
                container_id: id.into(),
            })
            .await;
        ignore_not_found(r.map(|_| ()).map_err(RuntimeError::from))
    }
}
