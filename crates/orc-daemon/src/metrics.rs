//! Front door: `orc daemon --metrics-addr ADDR:PORT` serves `GET /metrics` in the
//! Prometheus text format, on every node. Like the CLI socket it only reads through
//! the operations layer — the node's figures, its tasks' usage, and on a manager the
//! service listing, the replicated state and Raft's figures — and renders them with
//! orc-metrics; it changes nothing.

use crate::cluster::identity;
use crate::leader::dispatcher::Dispatcher;
use crate::ops::events::vrrp_name;
use crate::ops::{views, Ops};
use crate::DaemonError;
use orc_metrics::render::{self, ManagerFigures, NodeIdentity, ServiceCounts, TaskSample};
use orc_metrics::Exposition;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Binds the metrics address (at start, so a bad one fails the daemon at once).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, DaemonError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| DaemonError::Invalid(format!("--metrics-addr {addr}: {e}")))
}

/// `dispatcher`: the leader's liveness tracker, for heartbeat figures.
pub async fn serve(
    ops: Arc<Ops>,
    dispatcher: Arc<Dispatcher>,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
) {
    if let Ok(a) = listener.local_addr() {
        tracing::info!("metrics on http://{a}/metrics");
    }
    let render = move || {
        let ops = ops.clone();
        let d = dispatcher.clone();
        async move { render(&ops, &d).await }
    };
    orc_metrics::http::serve(listener, render, stop).await;
}

pub async fn render(ops: &Ops, dispatcher: &Dispatcher) -> String {
    let me = identity::load(&ops.cfg.data_dir).ok().flatten();
    let manager = ops.cluster().is_ok();
    let id = NodeIdentity {
        node_id: me
            .as_ref()
            .map(|i| views::node_id_str(i.node_id))
            .unwrap_or_default(),
        hostname: ops.cfg.hostname.clone(),
        role: match (&me, manager) {
            (None, _) => "none",
            (Some(_), true) => "manager",
            (Some(_), false) => "worker",
        }
        .into(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let (node, usage) = tokio::join!(ops.node_sample(), ops.task_stats_local());
    let state = ops.state().ok();
    let tasks: Vec<TaskSample> = usage
        .tasks
        .into_iter()
        .map(|r| TaskSample {
            stack: r.stack().to_string(),
            serves: state
                .as_ref()
                .and_then(|s| s.tasks.get(&r.task))
                .map(|t| t.serves()),
            task: r.task,
            service: r.service,
            slot: r.slot,
            usage: r.usage,
        })
        .collect();
    let mut e = Exposition::new();
    render::node(&mut e, &id, &node);
    render::tasks(&mut e, &tasks);
    if let (Ok(rows), Ok(state)) = (ops.service_ls(None), ops.state()) {
        let counts: Vec<ServiceCounts> = rows
            .into_iter()
            .map(|s| ServiceCounts {
                service: s.name,
                stack: s.stack,
                desired: s.desired as u64,
                running: s.running as u64,
            })
            .collect();
        render::cluster(&mut e, &state, &counts);
    }
    if let Some(r) = ops.raft_figures() {
        let leading = r.is_leader;
        render::raft(&mut e, &r);
        let vip = ops.vip_local();
        let state = ops.state().ok();
        let me = ops.cluster().ok().map(|c| c.node_id);
        let ages: Vec<(String, String, f64)> = if leading {
            dispatcher
                .heartbeat_ages()
                .into_iter()
                .filter_map(|(id, age)| {
                    let n = state.as_ref()?.nodes.get(&id)?;
                    (Some(id) != me).then(|| {
                        (
                            views::node_id_str(id),
                            n.hostname.clone(),
                            age.as_secs_f64(),
                        )
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let open = ages
            .iter()
            .filter(|(_, _, age)| *age <= dispatcher.grace.as_secs_f64())
            .count() as u64;
        render::manager(
            &mut e,
            &ManagerFigures {
                open_sessions: leading.then_some(open),
                heartbeat_failures: Some(dispatcher.failures()),
                heartbeat_ages: ages,
                vrrp_state: vip
                    .counters
                    .as_ref()
                    .map(|c| vrrp_name(c.state).to_string()),
                vrrp_transitions: vip.counters.as_ref().map(|c| c.transitions),
            },
        );
    }
    e.finish()
}
