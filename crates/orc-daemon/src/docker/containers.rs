//! `/containers/json`, `/containers/{id}/json` and `/containers/{id}/stats`: this
//! node's own containers, as the operations layer lists them
//! ([`crate::ops::Ops::local_containers`]), rendered by `orc_docker::containers`.
//! Every node answers these, manager or worker, as a Docker engine on a swarm node
//! does.

use super::{json, stream, Body, Door};
use crate::ops::containers::{LocalContainer, LocalContainers};
use crate::ops::Ops;
use crate::DaemonError;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Bytes, Frame};
use hyper::Response;
use orc_docker::containers::{self as dc, Container, RunState};
use orc_docker::filters::Filters;
use orc_docker::ApiError;
use orc_metrics::container::ContainerUsage;
use orc_model::{ClusterNetwork, TaskState};
use orc_runtime::ContainerState;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often a streamed `/stats` sends a sample (Docker's period).
const STATS_PERIOD: Duration = Duration::from_secs(1);

fn run_state(c: &LocalContainer) -> RunState {
    match c.runtime {
        Some(ContainerState::Running) => RunState::Running,
        Some(ContainerState::Paused) => RunState::Paused,
        Some(ContainerState::Stopped) | None => RunState::Exited,
        // No process (any more): one that ran, or is being stopped, has exited; one
        // that is still being started is created.
        Some(_)
            if c.task.status.state >= TaskState::Running
                || c.task.desired_state > TaskState::Running =>
        {
            RunState::Exited
        }
        Some(_) => RunState::Created,
    }
}

fn view<'a>(c: &'a LocalContainer, network: Option<&'a ClusterNetwork>) -> Container<'a> {
    Container {
        task: &c.task,
        stack: &c.stack,
        run: run_state(c),
        pid: c.pid.unwrap_or(0),
        exit_code: c.exit_code.unwrap_or(0),
        image_id: c.image_digest.as_deref().unwrap_or(""),
        args: &c.args,
        network,
    }
}

fn views(l: &LocalContainers) -> Vec<Container<'_>> {
    l.containers
        .iter()
        .map(|c| view(c, l.network.as_ref()))
        .collect()
}

/// Reading this node's containers failed (containerd, /proc): a server error.
fn internal(e: DaemonError) -> ApiError {
    ApiError::new(500, e.to_string())
}

/// This node's containers with their images' digests (what the routes below show).
async fn listed(door: &Door) -> Result<LocalContainers, ApiError> {
    let mut local = door.ops.local_containers().await.map_err(internal)?;
    door.ops.resolve_image_digests(&mut local).await;
    Ok(local)
}

/// `GET /containers/json?all=&limit=&filters=` (`size` is ignored); `f` parsed with
/// [`dc::LIST_FILTERS`].
pub(super) async fn list(
    door: &Door,
    all: bool,
    limit: Option<&str>,
    f: &Filters,
) -> Result<Response<Body>, ApiError> {
    let limit = match limit.filter(|v| !v.is_empty()) {
        None => 0,
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| ApiError::bad(format!("limit: {v:?} is not a number")))?
            .max(0) as usize,
    };
    let local = listed(door).await?;
    let out = dc::list(&views(&local), all, limit, f, crate::util::now_ms())?;
    Ok(json(200, &Value::Array(out)))
}

/// `GET /containers/{id}/json`.
pub(super) async fn inspect(door: &Door, key: &str) -> Result<Response<Body>, ApiError> {
    let local = listed(door).await?;
    let cs = views(&local);
    Ok(json(200, &dc::inspect(dc::lookup(&cs, key)?)))
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One reading (when, what); a container that isn't running reads as zero, as
/// Docker's do.
async fn sample(ops: &Ops, pid: Option<u32>) -> Result<(u64, ContainerUsage), ApiError> {
    let u = match pid {
        Some(pid) => ops.container_usage(pid).await.map_err(internal)?,
        None => ContainerUsage::default(),
    };
    Ok((now_ns(), u))
}

/// `GET /containers/{id}/stats?stream=&one-shot=`: with `stream=false` one sample
/// (after a second, so the CPU share has a previous reading, unless `one-shot`);
/// otherwise one per second until the client goes away.
pub(super) async fn stats(
    door: &Door,
    key: &str,
    streaming: bool,
    one_shot: bool,
) -> Result<Response<Body>, ApiError> {
    // A sample shows no image: no digest lookups.
    let local = door.ops.local_containers().await.map_err(internal)?;
    let cs = views(&local);
    let c = dc::lookup(&cs, key)?;
    let owned: LocalContainer = local
        .containers
        .iter()
        .find(|x| x.task.id == c.task.id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("No such container: {key}")))?;
    let pid = owned.pid.filter(|_| c.run == RunState::Running);
    let mem_total = crate::util::host_resources().memory_bytes;
    let network = local.network.clone();
    let render = move |now: &(u64, ContainerUsage), pre: Option<&(u64, ContainerUsage)>| {
        let v = view(&owned, network.as_ref());
        dc::stats(&v, now.0, &now.1, pre.map(|(at, u)| (*at, u)), mem_total)
    };
    if !streaming {
        let first = sample(&door.ops, pid).await?;
        if one_shot || pid.is_none() {
            return Ok(json(200, &render(&first, None)));
        }
        tokio::time::sleep(STATS_PERIOD).await;
        let second = sample(&door.ops, pid).await?;
        return Ok(json(200, &render(&second, Some(&first))));
    }
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(2);
    let ops: Arc<Ops> = door.ops.clone();
    tokio::spawn(async move {
        let mut prev: Option<(u64, ContainerUsage)> = None;
        loop {
            let now = match sample(&ops, pid).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("docker stats: {}", e.message);
                    return;
                }
            };
            let line = format!("{}\n", render(&now, prev.as_ref()));
            if tx.send(Ok(Frame::data(Bytes::from(line)))).await.is_err() {
                return;
            }
            prev = Some(now);
            tokio::select! {
                _ = tokio::time::sleep(STATS_PERIOD) => {}
                _ = tx.closed() => return,
            }
        }
    });
    let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx)).boxed();
    Ok(stream("application/json", body))
}

/// `/info`'s container counts: (running, the others).
pub(super) async fn counts(door: &Door) -> (usize, usize) {
    match door.ops.local_containers().await {
        Ok(l) => {
            let (running, paused, stopped) = l.counts();
            (running, paused + stopped)
        }
        Err(e) => {
            tracing::debug!("docker info: listing containers: {e}");
            (0, 0)
        }
    }
}
