//! Running a command inside a running container (health probes): containerd's task
//! Exec with the container's own process spec and new args, output to a file, killed
//! on timeout, the exec process always deleted.

use crate::error::ignore_not_found;
use crate::{Runtime, RuntimeError};
use containerd_client::services::v1::{
    DeleteProcessRequest, ExecProcessRequest, GetContainerRequest, KillRequest, StartRequest,
    WaitRequest,
};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PROCESS_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";
const SIGKILL: u32 = 9;
/// How long a SIGKILLed exec process may take to be reported dead.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// A container's process spec (user, env, cwd, capabilities…): what an exec in it
/// runs with, args aside. Read once per container with [`Runtime::exec_template`].
#[derive(Debug, Clone)]
pub struct ExecTemplate(serde_json::Value);

/// How an exec'd command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    /// Its exit code; `None` when it ran past the timeout and was killed.
    pub exit_code: Option<i32>,
    /// Its stdout and stderr, interleaved, at most the limit asked for.
    pub output: Vec<u8>,
}

impl Runtime {
    /// The process spec of container `id` (from its record), for [`Runtime::exec`].
    pub async fn exec_template(&self, id: &str) -> Result<ExecTemplate, RuntimeError> {
        let c = self
            .containers()
            .get(GetContainerRequest { id: id.into() })
            .await?
            .into_inner()
            .container
            .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))?;
        let spec = c
            .spec
            .ok_or_else(|| RuntimeError::Spec(format!("container {id} has no spec")))?;
        let v: serde_json::Value = serde_json::from_slice(&spec.value)
            .map_err(|e| RuntimeError::Spec(format!("container {id} spec: {e}")))?;
        match v.get("process") {
            Some(p) if p.is_object() => Ok(ExecTemplate(p.clone())),
            _ => Err(RuntimeError::Spec(format!(
                "container {id} spec has no process"
            ))),
        }
    }

    /// Runs `args` in container `id`'s running task as exec process `exec_id` (unique
    /// in the container while it runs), with the container's own process spec
    /// (`template`) and stdout/stderr to `out_file` (the shim writes it; it is read
    /// back, at most `max_output` bytes, and removed). A process still running after
    /// `timeout` is SIGKILLed (`exit_code: None`). The exec process is deleted from
    /// containerd whatever happened — also when the caller stops waiting (the work
    /// runs on a task of its own).
    #[allow(clippy::too_many_arguments)]
    pub async fn exec(
        &self,
        id: &str,
        exec_id: &str,
        template: &ExecTemplate,
        args: &[String],
        out_file: &Path,
        timeout: Duration,
        max_output: usize,
    ) -> Result<ExecOutcome, RuntimeError> {
        let mut process = template.0.clone();
        process["args"] = serde_json::json!(args);
        process["terminal"] = serde_json::Value::Bool(false);
        if let Some(p) = process.as_object_mut() {
            p.remove("consoleSize");
        }
        let spec = prost_types::Any {
            type_url: PROCESS_TYPE_URL.into(),
            value: serde_json::to_vec(&process)
                .map_err(|e| RuntimeError::Spec(format!("exec process spec: {e}")))?,
        };
        let rt = self.clone();
        let (id, exec_id, out) = (id.to_string(), exec_id.to_string(), out_file.to_path_buf());
        tokio::spawn(async move {
            let r = rt.exec_inner(&id, &exec_id, spec, &out, timeout).await;
            // Always: the exec process goes (NotFound: it never came to be).
            let del = rt
                .tasks()
                .delete_process(DeleteProcessRequest {
                    container_id: id.clone(),
                    exec_id: exec_id.clone(),
                })
                .await
                .map(|_| ())
                .map_err(RuntimeError::from);
            let output = read_head(&out, max_output);
            let _ = std::fs::remove_file(&out);
            let exit_code = r?;
            if let Err(e) = ignore_not_found(del) {
                tracing::warn!(container = %id, exec = %exec_id, "deleting exec process: {e}");
            }
            Ok(ExecOutcome { exit_code, output })
        })
        .await
        .map_err(|e| RuntimeError::Unavailable(format!("exec task: {e}")))?
    }

    async fn exec_inner(
        &self,
        id: &str,
        exec_id: &str,
        spec: prost_types::Any,
        out: &PathBuf,
        timeout: Duration,
    ) -> Result<Option<i32>, RuntimeError> {
        let _ = std::fs::remove_file(out);
        let uri = format!("file://{}", out.display());
        self.tasks()
            .exec(ExecProcessRequest {
                container_id: id.into(),
                stdin: String::new(),
                stdout: uri.clone(),
                stderr: uri,
                terminal: false,
                spec: Some(spec),
                exec_id: exec_id.into(),
            })
            .await?;
        self.tasks()
            .start(StartRequest {
                container_id: id.into(),
                exec_id: exec_id.into(),
            })
            .await?;
        let wait = || {
            let mut tasks = self.tasks();
            let req = WaitRequest {
                container_id: id.into(),
                exec_id: exec_id.into(),
            };
            async move { tasks.wait(req).await }
        };
        if let Ok(r) = tokio::time::timeout(timeout, wait()).await {
            return Ok(Some(r?.into_inner().exit_status as i32));
        }
        let kill = self
            .tasks()
            .kill(KillRequest {
                container_id: id.into(),
                exec_id: exec_id.into(),
                signal: SIGKILL,
                all: false,
            })
            .await;
        ignore_not_found(kill.map(|_| ()).map_err(RuntimeError::from))?;
        match tokio::time::timeout(KILL_WAIT, wait()).await {
            Ok(r) => {
                r?;
                Ok(None)
            }
            Err(_) => Err(RuntimeError::Unavailable(format!(
                "exec {exec_id} in {id} did not die within {KILL_WAIT:?} of SIGKILL"
            ))),
        }
    }

    /// The `Healthcheck` of image `reference`'s config (Docker's image format), if it
    /// has one.
    pub async fn image_healthcheck(
        &self,
        reference: &str,
    ) -> Result<Option<orc_spec::ImageHealthcheck>, RuntimeError> {
        let image = self.resolve_image(reference).await?;
        Ok(image
            .config
            .config
            .and_then(|c| c.healthcheck)
            .map(|h| h.to_spec()))
    }
}

/// The first `max` bytes of `path` (empty if it cannot be read).
fn read_head(path: &Path, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(max as u64).read_to_end(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::manifest::ImageConfig;

    #[test]
    fn an_images_healthcheck_is_read_from_its_config() {
        let config = r#"{"architecture":"arm64","os":"linux","config":{
            "Cmd":["postgres"],
            "Healthcheck":{"Test":["CMD-SHELL","pg_isready"],"Interval":10000000000,
                           "Timeout":3000000000,"StartPeriod":0,"Retries":5}},
            "rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c: ImageConfig = serde_json::from_str(config).unwrap();
        let h = c.config.and_then(|c| c.healthcheck).unwrap().to_spec();
        assert_eq!(
            h,
            orc_spec::ImageHealthcheck {
                test: vec!["CMD-SHELL".into(), "pg_isready".into()],
                interval_ns: 10_000_000_000,
                timeout_ns: 3_000_000_000,
                start_period_ns: 0,
                start_interval_ns: 0,
                retries: 5,
            }
        );
        // No Healthcheck, or a negative value: not set.
        let c: ImageConfig = serde_json::from_str(r#"{"config":{"Cmd":["sh"]}}"#).unwrap();
        assert!(c.config.and_then(|c| c.healthcheck).is_none());
        let c: ImageConfig =
            serde_json::from_str(r#"{"config":{"Healthcheck":{"Interval":-1,"Retries":-2}}}"#)
                .unwrap();
        let h = c.config.and_then(|c| c.healthcheck).unwrap().to_spec();
        assert_eq!((h.interval_ns, h.retries, h.test.len()), (0, 0, 0));
    }
}
