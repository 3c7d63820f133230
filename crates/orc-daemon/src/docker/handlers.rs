//! One function per route: parse the query and body, call the operations layer,
//! render with `orc-docker`. No handler decides anything about the cluster.

use super::{empty, json, stream, Body, Door};
use crate::ops::networks::NetworkInUse;
use crate::ops::services::PutService;
use crate::ops::{Event, Progress};
use crate::DaemonError;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Bytes, Frame};
use hyper::Response;
use orc_docker::filters::Filters;
use orc_docker::frame::{self, Stream};
use orc_docker::render;
use orc_docker::route::{ApiVersion, Route};
use orc_docker::{query_bool, ApiError, STACK_LABEL};
use orc_model::StackNetwork;
use orc_model::{ClusterState, Service, Task, TaskState};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A parsed request.
pub struct Req {
    pub method: String,
    pub version: ApiVersion,
    pub query: HashMap<String, String>,
    pub body: Bytes,
}

impl Req {
    fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    fn flag(&self, k: &str) -> bool {
        self.q(k).is_some_and(query_bool)
    }
    fn filters(&self, allowed: &[&str]) -> Result<Filters, ApiError> {
        Filters::parse(self.q("filters"), allowed)
    }
    /// `?version=N`, the change index the client read (needed by every update).
    fn index(&self, what: &str) -> Result<u64, ApiError> {
        self.q("version")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ApiError::bad(format!("invalid {what} version: ?version=N is required")))
    }
    fn json_body(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::bad("the request has no JSON body"));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad(format!("invalid JSON in the request body: {e}")))
    }
}

const NOT_MANAGER: &str = "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";
const NO_SWARM: &str = "This node is not a swarm manager. Use \"orc cluster init\" or \"orc cluster join\" to connect this node to a cluster and try again.";

/// Swarm's answer to a write whose `?version=` is not the object's index any more
/// (the clients look for "update out of sequence").
fn out_of_sequence(detail: &str) -> ApiError {
    ApiError::new(
        500,
        format!("rpc error: code = Unknown desc = update out of sequence ({detail})"),
    )
}

/// An operation's error as Docker's status and message.
fn api(e: DaemonError) -> ApiError {
    use orc_model::ApplyError as A;
    match e {
        DaemonError::NoCluster => ApiError::new(503, NO_SWARM),
        DaemonError::Apply(A::OutOfSequence { .. } | A::Stale { .. }) => {
            out_of_sequence(&e.to_string())
        }
        DaemonError::Apply(A::NameTaken { .. }) => ApiError::new(409, e.to_string()),
        DaemonError::Apply(A::NoSuchService(_) | A::NoSuchServiceId(_)) => {
            ApiError::not_found(e.to_string())
        }
        DaemonError::Apply(_) | DaemonError::Invalid(_) => ApiError::bad(e.to_string()),
        DaemonError::NoLeader | DaemonError::Raft(_) => ApiError::new(503, e.to_string()),
        other => ApiError::new(500, other.to_string()),
    }
}

fn ok(v: Value) -> Result<Response<Body>, ApiError> {
    Ok(json(200, &v))
}

pub async fn handle(door: &Door, route: Route, r: Req) -> Result<Response<Body>, ApiError> {
    let ops = &door.ops;
    // Swarm endpoints: managers only, as Docker answers on a worker.
    let state = if route.needs_manager() {
        match ops.state() {
            Ok(s) => Some(s),
            Err(_) if ops.worker().is_some() => return Err(ApiError::new(503, NOT_MANAGER)),
            Err(_) => return Err(ApiError::new(503, NO_SWARM)),
        }
    } else {
        ops.state().ok()
    };
    let st = || state.as_deref().ok_or_else(|| ApiError::new(503, NO_SWARM));
    match route {
        Route::Ping => Ok(ping(door, &r)),
        Route::Version => ok(render::version(&host(door, (0, 0)))),
        Route::Info => {
            let counts = super::containers::counts(door).await;
            ok(info(door, state.as_deref(), counts))
        }
        Route::Swarm => ok(render::swarm(st()?)),
        Route::Nodes => nodes(door, st()?, &r),
        Route::Node(id) => {
            let s = st()?;
            let n = resolve_node(s, &id)?;
            let leader = ops.cluster().ok().and_then(|c| c.leader());
            ok(render::node(
                n,
                s.node_index(n.id),
                leader,
                env!("CARGO_PKG_VERSION"),
            ))
        }
        Route::NodeUpdate(id) => node_update(door, st()?, &id, &r).await,
        Route::NodeDelete(id) => {
            let node = render::node_id(resolve_node(st()?, &id)?.id);
            crate::ops::nodes::remove(ops, &node, r.flag("force"))
                .await
                .map_err(api)?;
            ok(json!({}))
        }
        Route::Services => services(st()?, &r),
        Route::Service(id) => {
            let s = st()?;
            ok(render::service(s, resolve_service(s, &id)?, false))
        }
        Route::ServiceCreate => service_create(door, st()?, &r).await,
        Route::ServiceUpdate(id) => service_update(door, st()?, &id, &r).await,
        Route::ServiceDelete(id) => {
            let sid = resolve_service(st()?, &id)?.id.clone();
            ops.service_remove(&sid).await.map_err(api)?;
            Ok(empty(200))
        }
        Route::ServiceLogs(id) => {
            let sid = resolve_service(st()?, &id)?.id.clone();
            logs(door, sid, None, &r)
        }
        Route::Tasks => tasks(st()?, &r),
        Route::Task(id) => {
            let s = st()?;
            ok(render::task(s, resolve_task(s, &id)?))
        }
        Route::TaskLogs(id) => {
            let t = resolve_task(st()?, &id)?;
            logs(door, t.service_id.clone(), Some(t.id.clone()), &r)
        }
        Route::Networks => networks(door, st()?, &r),
        Route::Network(id) => {
            let s = st()?;
            let nets = seen(door, s.stack_networks());
            ok(render::network(s, resolve_network(&nets, &id)?))
        }
        Route::NetworkCreate => network_create(door, &r).await,
        Route::NetworkDelete(id) => {
            let s = door.ops.state().map_err(api)?;
            network_delete(door, &s, &id).await
        }
        Route::Plugins => ok(json!([])),
        Route::Containers => {
            let f = r.filters(orc_docker::containers::LIST_FILTERS)?;
            super::containers::list(door, r.flag("all"), r.q("limit"), &f).await
        }
        Route::Container(id) => super::containers::inspect(door, &id).await,
        Route::ContainerStats(id) => {
            // Docker streams unless told not to.
            let streaming = r.q("stream").is_none_or(query_bool);
            super::containers::stats(door, &id, streaming, r.flag("one-shot")).await
        }
        Route::Images => {
            let rows = crate::ops::images::list(&door.ops).await.map_err(api)?;
            let out: Vec<Value> = rows
                .iter()
                .map(|r| render::image(&r.name, &r.digest, r.size))
                .collect();
            ok(Value::Array(out))
        }
        Route::Volumes => {
            let s = st()?;
            let vols: Vec<Value> = crate::ops::volumes::list(s)
                .iter()
                .map(|v| render::volume(&v.name, &v.driver, &v.stack, v.created_at))
                .collect();
            ok(json!({ "Volumes": vols, "Warnings": [] }))
        }
        Route::Events => events(door, &r),
        Route::Distribution(name) => {
            let digest = ops
                .image_digest(&name)
                .await
                .map_err(|e| ApiError::not_found(e.to_string()))?;
            ok(json!({
                "Descriptor": { "mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": 0 },
                "Platforms": [],
            }))
        }
        Route::SecretsList(kind) => values_list(st()?, kind, &r),
        Route::SecretsGet(kind, id) => {
            let s = st()?;
            let v = resolve_value(s, kind, &id)?;
            ok(render::value(v, s.value_index(value_kind(kind), &v.name)))
        }
        Route::SecretsCreate(kind) => {
            let b = orc_docker::values::value_body(kind, r.json_body()?)?;
            let data = b
                .data
                .ok_or_else(|| ApiError::bad("Data: the value is needed"))?;
            let row = ops
                .value_create(value_kind(kind), &b.name, data, Some(b.labels))
                .await
                .map_err(value_error)?;
            Ok(json(201, &json!({ "ID": row.id })))
        }
        Route::SecretsUpdate(kind, id) => {
            let name = resolve_value(st()?, kind, &id)?.name.clone();
            let index = r.index(kind)?;
            let b = orc_docker::values::value_body(kind, r.json_body()?)?;
            if b.name != name {
                return Err(ApiError::bad(format!("Name: a {kind} can't be renamed")));
            }
            // Docker changes only labels; with Data, orc also makes a new revision,
            // and the services using it roll to it.
            ops.value_update_at(value_kind(kind), &name, index, b.data, b.labels)
                .await
                .map_err(value_error)?;
            Ok(empty(200))
        }
        Route::SecretsDelete(kind, id) => {
            let name = resolve_value(st()?, kind, &id)?.name.clone();
            ops.value_rm(value_kind(kind), &name)
                .await
                .map_err(value_error)?;
            Ok(empty(204))
        }
    }
}

fn ping(door: &Door, r: &Req) -> Response<Body> {
    let swarm = match (door.ops.cluster().is_ok(), door.ops.worker().is_some()) {
        (true, _) => "active/manager",
        (false, true) => "active/worker",
        _ => "inactive",
    };
    let body = if r.method == "HEAD" { "" } else { "OK" };
    super::base(200)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("Swarm", swarm)
        .header("Cache-Control", "no-cache, no-store, must-revalidate")
        .header("Pragma", "no-cache")
        .body(super::full(body))
        .unwrap_or_else(|_| empty(200))
}

/// This node as `/version` and `/info` show it; `containers`: (running, the others),
/// as the operations layer lists this node's containers.
fn host(door: &Door, containers: (usize, usize)) -> render::Host {
    let res = crate::util::host_resources();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    render::Host {
        version: env!("CARGO_PKG_VERSION").into(),
        hostname: door.ops.cfg.hostname.clone(),
        ncpu: res.nano_cpus / 1_000_000_000,
        mem_total: res.memory_bytes,
        kernel,
        arch: std::env::consts::ARCH.into(),
        go_arch: crate::util::host_platform().architecture,
        containers,
    }
}

fn info(door: &Door, state: Option<&ClusterState>, containers: (usize, usize)) -> Value {
    let h = host(door, containers);
    let cluster = door.ops.cluster().ok();
    let node = match &cluster {
        Some(c) => Some(c.node_id),
        None => crate::cluster::identity::load(&door.ops.cfg.data_dir)
            .ok()
            .flatten()
            .map(|i| i.node_id),
    };
    let address = state
        .zip(node)
        .and_then(|(s, n)| s.nodes.get(&n))
        .map(|n| n.address.clone())
        .unwrap_or_default();
    let m = render::Membership {
        state,
        node,
        manager: cluster.is_some(),
        leader: cluster.as_ref().and_then(|c| c.leader()),
        address,
    };
    render::info(&h, &m)
}

/// Something looked up by id, exact name, or unique id prefix.
fn lookup<'a, T>(
    kind: &str,
    key: &str,
    items: impl Iterator<Item = (&'a str, &'a str, T)> + Clone,
) -> Result<T, ApiError> {
    if let Some((_, _, t)) = items.clone().find(|(id, _, _)| *id == key) {
        return Ok(t);
    }
    if let Some((_, _, t)) = items.clone().find(|(_, name, _)| *name == key) {
        return Ok(t);
    }
    let mut by_prefix: Vec<T> = items
        .filter(|(id, _, _)| !key.is_empty() && id.starts_with(key))
        .map(|(_, _, t)| t)
        .collect();
    match by_prefix.len() {
        1 => Ok(by_prefix.remove(0)),
        0 => Err(ApiError::not_found(format!("{kind} {key} not found"))),
        n => Err(ApiError::bad(format!(
            "{kind} {key} is ambiguous ({n} matches found)"
        ))),
    }
}

fn resolve_service<'a>(s: &'a ClusterState, key: &str) -> Result<&'a Service, ApiError> {
    lookup(
        "service",
        key,
        s.services
            .values()
            .map(|x| (x.id.as_str(), x.name.as_str(), x)),
    )
}

fn resolve_task<'a>(s: &'a ClusterState, key: &str) -> Result<&'a Task, ApiError> {
    lookup(
        "task",
        key,
        s.tasks.values().map(|x| (x.id.as_str(), "", x)),
    )
}

fn resolve_node<'a>(s: &'a ClusterState, key: &str) -> Result<&'a orc_model::Node, ApiError> {
    let ids: Vec<(String, &orc_model::Node)> = s
        .nodes
        .values()
        .map(|n| (render::node_id(n.id), n))
        .collect();
    lookup(
        "node",
        key,
        ids.iter()
            .map(|(id, n)| (id.as_str(), n.hostname.as_str(), *n)),
    )
}

fn resolve_network<'a>(
    nets: &'a BTreeMap<String, StackNetwork>,
    key: &str,
) -> Result<&'a StackNetwork, ApiError> {
    let ids: Vec<(String, &StackNetwork)> = nets
        .values()
        .map(|n| (render::network_id(&n.name), n))
        .collect();
    lookup(
        "network",
        key,
        ids.iter().map(|(id, n)| (id.as_str(), n.name.as_str(), *n)),
    )
}

/// The service's labels as Docker shows them (with the stack label).
fn labels_of(s: &Service) -> BTreeMap<String, String> {
    let mut l = s.spec.labels.clone();
    l.insert(STACK_LABEL.into(), s.stack.clone());
    l
}

fn services(s: &ClusterState, r: &Req) -> Result<Response<Body>, ApiError> {
    let f = r.filters(&["id", "label", "mode", "name"])?;
    let status = r
        .q("status")
        .is_some_and(|v| matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True"));
    let mut out: Vec<Value> = s
        .services
        .values()
        .filter(|x| f.any("id", |v| x.id.starts_with(v)))
        .filter(|x| f.any("name", |v| x.name.starts_with(v)))
        .filter(|x| f.labels_match("label", &labels_of(x)))
        .filter(|x| {
            f.any("mode", |v| match x.spec.mode {
                orc_model::ServiceMode::Replicated { .. } => v == "replicated",
                orc_model::ServiceMode::Global => v == "global",
            })
        })
        .map(|x| render::service(s, x, status))
        .collect();
    out.sort_by(|a, b| a["Spec"]["Name"].as_str().cmp(&b["Spec"]["Name"].as_str()));
    ok(Value::Array(out))
}

fn tasks(s: &ClusterState, r: &Req) -> Result<Response<Body>, ApiError> {
    let f = r.filters(&[
        "id",
        "name",
        "service",
        "node",
        "label",
        "desired-state",
        "_up-to-date",
    ])?;
    let mut services = Vec::new();
    for v in f.get("service") {
        services.push(resolve_service(s, v)?.id.clone());
    }
    let mut nodes = Vec::new();
    for v in f.get("node") {
        nodes.push(resolve_node(s, v)?.id);
    }
    for v in f.get("desired-state") {
        if !matches!(v.as_str(), "running" | "shutdown" | "accepted") {
            return Err(ApiError::bad(format!(
                "invalid filter 'desired-state={v}': running, shutdown or accepted"
            )));
        }
    }
    let up_to_date = f.has("_up-to-date");
    let mut out: Vec<&Task> = s
        .tasks
        .values()
        .filter(|t| f.any("id", |v| t.id.starts_with(v)))
        .filter(|t| services.is_empty() || services.contains(&t.service_id))
        .filter(|t| nodes.is_empty() || t.node_id.is_some_and(|n| nodes.contains(&n)))
        .filter(|t| {
            f.any("desired-state", |v| match v {
                "running" | "accepted" => t.desired_state <= TaskState::Running,
                _ => t.desired_state > TaskState::Running,
            })
        })
        .filter(|t| f.any("name", |v| crate::ops::views::task_name(t).starts_with(v)))
        .filter(|t| {
            !f.has("label")
                || s.services
                    .get(&t.service_id)
                    .is_some_and(|x| f.labels_match("label", &labels_of(x)))
        })
        .filter(|t| {
            !up_to_date
                || s.services
                    .get(&t.service_id)
                    .is_some_and(|x| x.version == t.spec_version)
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.service_name, a.slot, b.created_at).cmp(&(&b.service_name, b.slot, a.created_at))
    });
    ok(Value::Array(
        out.into_iter().map(|t| render::task(s, t)).collect(),
    ))
}

fn nodes(door: &Door, s: &ClusterState, r: &Req) -> Result<Response<Body>, ApiError> {
    let f = r.filters(&["id", "name", "role", "membership", "label", "node.label"])?;
    let leader = door.ops.cluster().ok().and_then(|c| c.leader());
    let out: Vec<Value> = s
        .nodes
        .values()
        .filter(|n| f.any("id", |v| render::node_id(n.id).starts_with(v)))
        .filter(|n| f.any("name", |v| n.hostname.starts_with(v)))
        .filter(|n| f.any("role", |v| v == n.role.as_str()))
        .filter(|_| f.any("membership", |v| v == "accepted"))
        .filter(|n| f.labels_match("node.label", &n.labels))
        .filter(|n| f.labels_match("label", &n.labels))
        .map(|n| render::node(n, s.node_index(n.id), leader, env!("CARGO_PKG_VERSION")))
        .collect();
    ok(Value::Array(out))
}

/// `POST /nodes/{id}/update?version=N` with a whole `NodeSpec`: availability, role
/// and labels become orc's node update, promote or demote.
async fn node_update(
    door: &Door,
    s: &ClusterState,
    key: &str,
    r: &Req,
) -> Result<Response<Body>, ApiError> {
    let n = resolve_node(s, key)?;
    let id = render::node_id(n.id);
    let index = r.index("node")?;
    // A role change is no single entry to guard: the whole update is refused up
    // front when the node changed since its writer read it (the availability and
    // labels entry is guarded again when it is applied).
    let current = s.node_index(n.id);
    if index != current {
        return Err(out_of_sequence(&format!(
            "node {} changed since index {index} (it is at {current} now)",
            n.hostname
        )));
    }
    let body = r.json_body()?;
    let field = |k: &str| {
        body.as_object().and_then(|o| {
            o.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        })
    };
    if let Some(name) = field("Name").filter(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
        return Err(ApiError::bad(format!(
            "orc does not support the node field Name (got {name}): nodes are named by their hostname"
        )));
    }
    if let Some(obj) = body.as_object() {
        if let Some(k) = obj.keys().find(|k| {
            !["name", "labels", "role", "availability"].contains(&k.to_lowercase().as_str())
        }) {
            return Err(ApiError::bad(format!(
                "orc does not support the node field {k}"
            )));
        }
    }
    let availability = field("Availability")
        .and_then(|v| v.as_str().map(str::to_string))
        .filter(|a| !a.is_empty() && a != n.availability.as_str());
    let mut add = Vec::new();
    let mut rm = Vec::new();
    if let Some(l) = field("Labels") {
        let want: BTreeMap<String, String> =
            serde_json::from_value(l).map_err(|e| ApiError::bad(format!("Labels: {e}")))?;
        for (k, v) in &want {
            if n.labels.get(k) != Some(v) {
                add.push(format!("{k}={v}"));
            }
        }
        rm.extend(n.labels.keys().filter(|k| !want.contains_key(*k)).cloned());
    }
    if availability.is_some() || !add.is_empty() || !rm.is_empty() {
        crate::ops::nodes::update(&door.ops, &id, Some(index), availability, add, rm)
            .await
            .map_err(api)?;
    }
    let role = field("Role").and_then(|v| v.as_str().map(str::to_string));
    if let Some(role) = role.filter(|x| !x.is_empty() && x != n.role.as_str()) {
        let (tx, _rx) = mpsc::channel(16);
        let p = Progress::new(tx);
        match role.as_str() {
            "manager" => crate::ops::roles::promote(&door.ops, &id, &p).await,
            "worker" => crate::ops::roles::demote(&door.ops, &id, false, &p).await,
            other => {
                return Err(ApiError::bad(format!(
                    "Role: manager or worker, not {other:?}"
                )))
            }
        }
        .map_err(api)?;
    }
    ok(json!({}))
}

/// Remembers the networks shown, so a later delete by id finds them.
fn seen(door: &Door, nets: BTreeMap<String, StackNetwork>) -> BTreeMap<String, StackNetwork> {
    if let Ok(mut m) = door.seen_networks.lock() {
        for n in nets.values() {
            m.insert(render::network_id(&n.name), n.name.clone());
        }
    }
    nets
}

fn networks(door: &Door, s: &ClusterState, r: &Req) -> Result<Response<Body>, ApiError> {
    let f = r.filters(&["scope", "driver", "label", "name", "id", "type", "dangling"])?;
    let nets = seen(door, s.stack_networks());
    let out: Vec<Value> = nets
        .values()
        .filter(|_| f.any("scope", |v| v == "swarm"))
        .filter(|_| f.any("driver", |v| v == "overlay"))
        .filter(|_| f.any("type", |v| v == "custom"))
        .filter(|n| f.any("name", |v| n.name.contains(v)))
        .filter(|n| f.any("id", |v| render::network_id(&n.name).starts_with(v)))
        .filter(|n| f.labels_match("label", &render::network_labels(n)))
        .map(|n| render::network(s, n))
        .collect();
    ok(Value::Array(out))
}

/// "STACK_NET" → (stack, net), the stack label (if any) agreeing.
fn split_network(name: &str, label: Option<&str>) -> Result<(String, String), ApiError> {
    let (stack, net) = name.split_once('_').ok_or_else(|| {
        ApiError::bad(format!(
            "Name: orc's networks belong to a stack and are named STACK_NAME, not {name:?}"
        ))
    })?;
    if label.is_some_and(|l| l != stack) {
        return Err(ApiError::bad(format!(
            "Name: network {name:?} is not named after its stack {:?}",
            label.unwrap_or_default()
        )));
    }
    Ok((stack.to_string(), net.to_string()))
}

async fn network_create(door: &Door, r: &Req) -> Result<Response<Body>, ApiError> {
    let Value::Object(mut body) = r.json_body()? else {
        return Err(ApiError::bad("the network to create must be a JSON object"));
    };
    let mut take = |k: &str| {
        let key = body.keys().find(|x| x.eq_ignore_ascii_case(k)).cloned();
        key.and_then(|k| body.remove(&k)).filter(|v| !v.is_null())
    };
    let name = take("Name")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let labels = take("Labels").unwrap_or(Value::Null);
    let stack_label = labels.get(STACK_LABEL).and_then(Value::as_str);
    let (stack, net) = split_network(&name, stack_label)?;
    let mut kept = BTreeMap::new();
    for (k, v) in labels.as_object().into_iter().flatten() {
        let Some(v) = v.as_str() else {
            return Err(ApiError::bad(format!(
                "Labels.{k}: a label's value must be a string"
            )));
        };
        if k != STACK_LABEL {
            kept.insert(k.clone(), v.to_string());
        }
    }
    if let Some(d) = take("Driver") {
        if !matches!(d.as_str(), Some("overlay" | "")) {
            return Err(ApiError::bad(format!(
                "Driver: orc's stack networks are overlay networks, not {d}"
            )));
        }
    }
    if let Some(ipam) = take("IPAM") {
        let has_config = ipam
            .get("Config")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty());
        if has_config {
            return Err(ApiError::bad(
                "IPAM.Config: orc gives addresses from the cluster's subnet (orc cluster init --subnet); leave ipam out",
            ));
        }
    }
    for k in [
        "CheckDuplicate",
        "Scope",
        "Attachable",
        "Options",
        "EnableIPv6",
    ] {
        let _ = take(k);
    }
    for (k, v) in body.iter() {
        let zero = matches!(v, Value::Null | Value::Bool(false))
            || v.as_object().is_some_and(|o| o.is_empty())
            || v.as_str().is_some_and(str::is_empty);
        if !zero {
            return Err(ApiError::bad(format!(
                "orc does not support the network field {k} (got {v}); leave it out"
            )));
        }
    }
    door.ops
        .network_declare(&stack, &net, kept)
        .await
        .map_err(api)?;
    let id = render::network_id(&name);
    if let Ok(mut m) = door.seen_networks.lock() {
        m.insert(id.clone(), name);
    }
    Ok(json(201, &json!({ "Id": id, "Warning": "" })))
}

async fn network_delete(
    door: &Door,
    s: &ClusterState,
    key: &str,
) -> Result<Response<Body>, ApiError> {
    let nets = seen(door, s.stack_networks());
    let name = match resolve_network(&nets, key) {
        Ok(n) => n.name.clone(),
        Err(e) => {
            let known = door.seen_networks.lock().ok().and_then(|m| {
                m.get(key)
                    .cloned()
                    .or_else(|| m.values().find(|n| *n == key).cloned())
            });
            known.ok_or(e)?
        }
    };
    let (stack, net) = split_network(&name, None)?;
    match door.ops.network_remove(&stack, &net).await.map_err(api)? {
        NetworkInUse::Free => Ok(empty(204)),
        NetworkInUse::By(users) => Err(ApiError::new(
            409,
            format!(
                "network {name} is in use by service(s) {}",
                users.join(", ")
            ),
        )),
    }
}

/// Maps `Networks[].Target` (an id or a name) to a network name.
fn network_names(door: &Door, s: &ClusterState) -> impl Fn(&str) -> Option<String> {
    let mut m: HashMap<String, String> = door
        .seen_networks
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    for n in s.stack_networks().into_values() {
        m.insert(render::network_id(&n.name), n.name);
    }
    move |t: &str| m.get(t).cloned()
}

fn put(d: orc_docker::spec::DockerService) -> PutService {
    PutService {
        stack: d.stack,
        short_name: d.short_name,
        name: d.name,
        spec: d.spec,
    }
}

async fn service_create(
    door: &Door,
    s: &ClusterState,
    r: &Req,
) -> Result<Response<Body>, ApiError> {
    let names = network_names(door, s);
    let d = orc_docker::spec::from_docker(r.json_body()?, &names, None)?;
    let id = door.ops.service_create(put(d)).await.map_err(api)?;
    Ok(json(201, &json!({ "ID": id })))
}

async fn service_update(
    door: &Door,
    s: &ClusterState,
    key: &str,
    r: &Req,
) -> Result<Response<Body>, ApiError> {
    let svc = resolve_service(s, key)?;
    if r.q("rollback") == Some("previous") {
        // orc's rollback: to the last stable revision (`orc service rollback`), rolled
        // out by the leader; Docker returns at once, so does this.
        let (tx, _rx) = mpsc::channel(1);
        let index = r.q("version").and_then(|v| v.parse().ok());
        door.ops
            .service_rollback(
                &svc.name,
                None,
                index,
                true,
                std::time::Duration::from_secs(0),
                &Progress::new(tx),
            )
            .await
            .map_err(api)?;
        return ok(json!({ "Warnings": [] }));
    }
    let version = r.index("service")?;
    let names = network_names(door, s);
    let d = orc_docker::spec::from_docker(r.json_body()?, &names, Some(&svc.spec))?;
    if d.name != svc.name {
        return Err(ApiError::not_supported(format!(
            "renaming services is not supported (Name {} → {})",
            svc.name, d.name
        )));
    }
    door.ops
        .service_update(&svc.id, version, put(d))
        .await
        .map_err(api)?;
    ok(json!({ "Warnings": [] }))
}

/// `/events`: the cluster's changes as the operations layer records them (the kept
/// history from `since`, then live ones), one JSON object per line, until `until` if
/// given. Docker has no swarm events for tasks, leader changes or VIP moves: those are
/// left out.
fn events(door: &Door, r: &Req) -> Result<Response<Body>, ApiError> {
    let f = r.filters(&[
        "type", "event", "scope", "label", "service", "node", "network",
    ])?;
    let time = |key: &str| -> Result<Option<u64>, ApiError> {
        match r.q(key).filter(|u| !u.is_empty()) {
            Some(u) => orc_docker::time::parse_since(u)
                .map(Some)
                .ok_or_else(|| ApiError::bad(format!("{key}: {u:?} is not a time in seconds"))),
            None => Ok(None),
        }
    };
    let (since, until) = (time("since")?, time("until")?);
    // Only managers keep the cluster's events. A worker answers an open stream with
    // none (orc records no per-container events), until `until` if given: the docker
    // CLI's `stats` subscribes to container events before it lists the containers.
    if door.ops.cluster().is_err() && door.ops.worker().is_some() {
        let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(1);
        tokio::spawn(async move {
            match until {
                Some(u) => {
                    let wait = u.saturating_sub(crate::util::now_ms());
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_millis(wait)) => {}
                        _ = tx.closed() => {}
                    }
                }
                None => tx.closed().await,
            }
        });
        let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx)).boxed();
        return Ok(stream("application/json", body));
    }
    door.ops.cluster().map_err(api)?;
    let ops = door.ops.clone();
    let run = |progress: Progress| async move {
        if let Err(e) = ops.events(since, until, &[], &progress).await {
            tracing::debug!("docker events: {e}");
        }
    };
    let frame = move |ev: Event| {
        let Event::Cluster(e) = ev else { return None };
        let v = orc_docker::events::docker_event(&e)?;
        let kind = v["Type"].as_str().unwrap_or("");
        let action = v["Action"].as_str().unwrap_or("");
        let name = v["Actor"]["Attributes"]["name"].as_str().unwrap_or("");
        let id = v["Actor"]["ID"].as_str().unwrap_or("");
        // As Docker's FuzzyMatch: a service/node/network filter keeps the events
        // whose actor's id or name starts with one of its values.
        let about = |key: &str| f.any(key, |x| id.starts_with(x) || name.starts_with(x));
        let keep = f.any("type", |x| x == kind)
            && f.any("event", |x| x == action)
            && f.any("scope", |x| x == "swarm")
            && about("service")
            && about("node")
            && about("network");
        keep.then(|| Bytes::from(format!("{v}\n")))
    };
    Ok(stream_op("application/json", 64, run, frame))
}

/// Streams what an operation reports as an HTTP body: `run` is the operation, given
/// its [`Progress`]; `frame` turns each of its events into one chunk of the body
/// (`None`: left out), holding at most `depth` chunks the client hasn't read. The
/// operation is stopped when the client goes away.
fn stream_op<R, Fut>(
    content_type: &str,
    depth: usize,
    run: R,
    mut frame: impl FnMut(Event) -> Option<Bytes> + Send + 'static,
) -> Response<Body>
where
    R: FnOnce(Progress) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Event>(256);
    let (out_tx, out_rx) = mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(depth);
    let reader = tokio::spawn(run(Progress::new(tx)));
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            let Some(chunk) = frame(ev) else { continue };
            if out_tx.send(Ok(Frame::data(chunk))).await.is_err() {
                break;
            }
        }
        reader.abort();
    });
    let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(out_rx)).boxed();
    stream(content_type, body)
}

/// A log stream: one frame per line, `[timestamp ][details ]line`.
fn logs(
    door: &Door,
    service: String,
    task: Option<String>,
    r: &Req,
) -> Result<Response<Body>, ApiError> {
    if !r.flag("stdout") && !r.flag("stderr") {
        return Err(ApiError::bad(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let follow = r.flag("follow");
    let details = r.flag("details");
    let timestamps = r.flag("timestamps");
    let tail = match r.q("tail") {
        None | Some("all") | Some("") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| ApiError::bad(format!("tail: {n:?} is not a number or \"all\"")))?,
        ),
    };
    let (want_out, want_err) = (r.flag("stdout"), r.flag("stderr"));
    let since_ms = match r.q("since").filter(|v| !v.is_empty() && *v != "0") {
        Some(v) => Some(
            orc_docker::time::parse_since(v)
                .ok_or_else(|| ApiError::bad(format!("since: {v:?} is not a time in seconds")))?,
        ),
        None => None,
    };
    let opts = crate::ops::converge::LogOptions {
        follow,
        tail,
        since_ms,
    };
    let ops: Arc<crate::ops::Ops> = door.ops.clone();
    let reader_ops = ops.clone();
    let run = |progress: Progress| async move {
        if let Err(e) = reader_ops
            .task_logs(&service, task.as_deref(), opts, &progress)
            .await
        {
            tracing::debug!("docker logs: {e}");
        }
    };
    let line_frame = move |ev: Event| {
        let Event::Log {
            task,
            line,
            time_ns,
            stderr,
        } = ev
        else {
            return None; // notes (a node that could not be read) carry no details
        };
        if !(if stderr { want_err } else { want_out }) {
            return None;
        }
        let mut payload = String::new();
        if timestamps {
            // Lines stored before orc stamped them show the time they are read.
            let ns = time_ns.unwrap_or_else(|| crate::util::now_ms() * 1_000_000);
            payload.push_str(&orc_docker::time::rfc3339_nanos(ns));
            payload.push(' ');
        }
        if details {
            let st = ops.state().ok();
            let t = st.as_ref().and_then(|s| s.tasks.get(&task));
            let node = t
                .and_then(|t| t.node_id)
                .map(render::node_id)
                .unwrap_or_default();
            let sid = t.map(|t| t.service_id.clone()).unwrap_or_default();
            payload.push_str(&frame::details(&node, &sid, &task));
        }
        payload.push_str(&line);
        payload.push('\n');
        let which = if stderr {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        Some(Bytes::from(frame::frame(which, payload.as_bytes())))
    };
    Ok(stream_op(
        frame::content_type(r.version),
        256,
        run,
        line_frame,
    ))
}

fn value_kind(kind: &str) -> orc_model::ValueKind {
    if kind == "configs" {
        orc_model::ValueKind::Config
    } else {
        orc_model::ValueKind::Secret
    }
}

/// A secret or config by id, id prefix or name.
fn resolve_value<'a>(
    s: &'a ClusterState,
    kind: &str,
    id: &str,
) -> Result<&'a orc_model::StoredValue, ApiError> {
    let m = s.values.of(value_kind(kind));
    m.get(id)
        .or_else(|| m.values().find(|v| v.id == id))
        .or_else(|| {
            let mut hits = m.values().filter(|v| v.id.starts_with(id));
            let first = hits.next();
            first.filter(|_| hits.next().is_none())
        })
        .ok_or_else(|| {
            ApiError::not_found(format!("{} {id} not found", kind.trim_end_matches('s')))
        })
}

fn values_list(s: &ClusterState, kind: &str, r: &Req) -> Result<Response<Body>, ApiError> {
    let f = r.filters(&["id", "label", "name", "names"])?;
    let out: Vec<Value> = s
        .values
        .of(value_kind(kind))
        .values()
        .filter(|v| f.any("id", |x| v.id.starts_with(x)))
        .filter(|v| f.any("name", |x| v.name.starts_with(x)))
        .filter(|v| f.any("names", |x| v.name == x))
        .filter(|v| f.labels_match("label", &v.labels))
        .map(|v| render::value(v, s.value_index(value_kind(kind), &v.name)))
        .collect();
    ok(Value::Array(out))
}

/// A refused write says so as Docker would: 409 for a name taken or a value in use,
/// 404 for an unknown one, 400 otherwise.
fn value_error(e: DaemonError) -> ApiError {
    match &e {
        DaemonError::Apply(orc_model::ApplyError::ValueExists { .. })
        | DaemonError::Apply(orc_model::ApplyError::ValueInUse { .. }) => {
            ApiError::new(409, e.to_string())
        }
        DaemonError::Apply(orc_model::ApplyError::NoSuchValue { .. }) => {
            ApiError::not_found(e.to_string())
        }
        _ => api(e),
    }
}
