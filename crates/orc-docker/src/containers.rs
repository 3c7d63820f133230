//! A node's own containers (orc's tasks on it) as a Docker engine on a swarm node
//! shows them: `/containers/json` (with its filters), `/containers/{id}/json` and
//! `/containers/{id}/stats`. Names, labels and states follow Swarm's: a task's
//! container is `/SERVICE.SLOT.TASKID` (`/SERVICE.NODEID.TASKID` for a global
//! service) and carries the `com.docker.swarm.*` labels. Environment values are the
//! spec's own (`K=V`); secrets are files and never appear here.

use crate::filters::Filters;
use crate::render::{familiar, network_id, node_id, untagged};
use crate::spec::to_docker;
use crate::time::{rfc3339, rfc3339_nanos};
use crate::{ApiError, STACK_LABEL};
use orc_metrics::container::ContainerUsage;
use orc_model::{gateway, ClusterNetwork, HealthState, Task};
use orc_spec::{Mount, NetworkMode, PublishMode};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Go's zero time, as Docker writes a time that never happened.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A container's state as Docker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Created,
    Running,
    Paused,
    Exited,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Created => "created",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Exited => "exited",
        }
    }
}

/// One container, as the operations layer found it.
#[derive(Debug, Clone)]
pub struct Container<'a> {
    pub task: &'a Task,
    /// Its service's stack.
    pub stack: &'a str,
    pub run: RunState,
    /// The init process (0 when not running).
    pub pid: u32,
    pub exit_code: i32,
    /// The image's digest on the node (`sha256:…`), or "".
    pub image_id: &'a str,
    /// The process it runs as containerd has it (the image's entrypoint and command
    /// merged with the service's); empty when unknown (the container is gone).
    pub args: &'a [String],
    /// The cluster network (addresses' prefix, the node's gateway).
    pub network: Option<&'a ClusterNetwork>,
}

/// The filter keys `/containers/json` takes (Docker's).
pub const LIST_FILTERS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// The container's name, without the leading "/": `SERVICE.SLOT.TASKID`, or
/// `SERVICE.NODEID.TASKID` for a global service's task.
pub fn name(t: &Task) -> String {
    let slot = if t.slot > 0 {
        t.slot.to_string()
    } else {
        t.node_id.map(node_id).unwrap_or_default()
    };
    format!("{}.{slot}.{}", t.service_name, t.id)
}

/// The container's labels: the service's, the stack's, and Swarm's own.
pub fn labels(c: &Container<'_>) -> BTreeMap<String, String> {
    let t = c.task;
    let mut l = t.spec.labels.clone();
    l.insert(STACK_LABEL.into(), c.stack.to_string());
    l.insert("com.docker.swarm.service.id".into(), t.service_id.clone());
    l.insert(
        "com.docker.swarm.service.name".into(),
        t.service_name.clone(),
    );
    l.insert("com.docker.swarm.task".into(), String::new());
    l.insert("com.docker.swarm.task.id".into(), t.id.clone());
    // Swarm names the task as its container.
    l.insert("com.docker.swarm.task.name".into(), name(t));
    if let Some(n) = t.node_id {
        l.insert("com.docker.swarm.node.id".into(), node_id(n));
    }
    l
}

/// The health a running container shows (only with a health check).
fn health(c: &Container<'_>) -> Option<HealthState> {
    c.task.status.health.as_ref().map(|h| h.state)
}

/// When it started (ms): the running task's status time.
fn started_ms(c: &Container<'_>) -> Option<u64> {
    match c.run {
        RunState::Running | RunState::Paused => Some(c.task.status.timestamp),
        RunState::Exited => Some(c.task.created_at),
        RunState::Created => None,
    }
}

/// When it exited (ms): the ended task's status time; unknown while the cluster
/// doesn't know yet that a stopped container's task ended.
fn finished_ms(c: &Container<'_>) -> Option<u64> {
    (c.run == RunState::Exited && c.task.status.state.is_terminal())
        .then_some(c.task.status.timestamp)
}

/// Docker's human durations ("Less than a second", "About a minute", "5 minutes",
/// "About an hour", "3 hours", "2 days", "3 weeks", "4 months", "2 years").
pub fn human_duration(ms: u64) -> String {
    let secs = ms / 1000;
    let mins = secs / 60;
    // Hours are rounded to the nearest.
    let hours = (ms + 1_800_000) / 3_600_000;
    match () {
        _ if secs < 1 => "Less than a second".into(),
        _ if secs == 1 => "1 second".into(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if mins == 1 => "About a minute".into(),
        _ if mins < 60 => format!("{mins} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", ms / 3_600_000 / 24 / 365),
    }
}

/// The `Status` column: "Up 5 minutes (healthy)", "Exited (0) 3 minutes ago",
/// "Created".
pub fn status(c: &Container<'_>, now_ms: u64) -> String {
    match c.run {
        RunState::Running | RunState::Paused => {
            let up = human_duration(now_ms.saturating_sub(started_ms(c).unwrap_or(now_ms)));
            let suffix = if c.run == RunState::Paused {
                " (Paused)".to_string()
            } else {
                match health(c) {
                    Some(HealthState::Starting) => " (health: starting)".into(),
                    Some(h) => format!(" ({})", h.as_str()),
                    None => String::new(),
                }
            };
            format!("Up {up}{suffix}")
        }
        RunState::Exited => {
            let ago = now_ms.saturating_sub(finished_ms(c).unwrap_or(now_ms));
            format!("Exited ({}) {} ago", c.exit_code, human_duration(ago))
        }
        RunState::Created => "Created".into(),
    }
}

/// The process it runs: as containerd has it (the image's entrypoint and command
/// merged with the service's), else (the container is gone) the spec's own.
fn argv(c: &Container<'_>) -> Vec<String> {
    if !c.args.is_empty() {
        return c.args.to_vec();
    }
    let t = c.task;
    let mut v = t.spec.entrypoint.clone().unwrap_or_default();
    v.extend(t.spec.command.clone().unwrap_or_default());
    v
}

/// The stack networks it is on: (name, its attachment as Docker shows it).
fn networks(c: &Container<'_>) -> Map<String, Value> {
    let t = c.task;
    let mut out = Map::new();
    if t.spec.network_mode == NetworkMode::Host {
        out.insert(
            "host".into(),
            json!({ "NetworkID": "host", "EndpointID": "", "Gateway": "", "IPAddress": "",
                    "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                    "GlobalIPv6PrefixLen": 0, "MacAddress": "" }),
        );
        return out;
    }
    let prefix = c.network.map(|n| n.subnet.prefix).unwrap_or(24);
    let gw = c
        .network
        .zip(t.node_id)
        .and_then(|(n, node)| n.block(node))
        .map(|b| gateway(b).to_string())
        .unwrap_or_default();
    let running = matches!(c.run, RunState::Running | RunState::Paused);
    let addr = t.status.address.filter(|_| running).map(|a| a.to_string());
    let short = t
        .service_name
        .strip_prefix(&format!("{}_", c.stack))
        .unwrap_or(&t.service_name);
    for n in &t.spec.networks {
        let full = format!("{}_{n}", c.stack);
        out.insert(
            full.clone(),
            json!({
                "Aliases": [short, &t.id[..t.id.len().min(12)]],
                "NetworkID": network_id(&full),
                "EndpointID": "",
                "Gateway": if addr.is_some() { gw.clone() } else { String::new() },
                "IPAddress": addr.clone().unwrap_or_default(),
                "IPPrefixLen": if addr.is_some() { prefix } else { 0 },
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "MacAddress": "",
            }),
        );
    }
    out
}

fn network_mode(t: &Task) -> &'static str {
    match t.spec.network_mode {
        NetworkMode::Host => "host",
        NetworkMode::Stack => "default",
    }
}

/// The mounts as a container's `Mounts` lists them.
fn mounts(t: &Task) -> Vec<Value> {
    t.spec
        .mounts
        .iter()
        .map(|m| match m {
            Mount::Bind {
                source,
                target,
                read_only,
            } => json!({ "Type": "bind", "Source": source, "Destination": target,
                         "Mode": if *read_only { "ro" } else { "" }, "RW": !read_only,
                         "Propagation": "rprivate" }),
            Mount::Tmpfs { target, .. } => json!({ "Type": "tmpfs", "Source": "",
                         "Destination": target, "Mode": "", "RW": true, "Propagation": "" }),
            Mount::Volume {
                name,
                target,
                read_only,
                ..
            } => json!({ "Type": "volume", "Name": name, "Source": "", "Destination": target,
                         "Driver": "local", "Mode": if *read_only { "ro" } else { "z" },
                         "RW": !read_only, "Propagation": "" }),
        })
        .collect()
}

/// `Ports` of the list: host-mode published ports with their node port, the other
/// targets as exposed.
fn ports(t: &Task) -> Vec<Value> {
    t.spec
        .ports
        .iter()
        .map(|p| match p.mode {
            PublishMode::Host => json!({ "IP": "0.0.0.0", "PrivatePort": p.target,
                                          "PublicPort": p.published, "Type": p.protocol.as_str() }),
            PublishMode::Ingress => {
                json!({ "PrivatePort": p.target, "Type": p.protocol.as_str() })
            }
        })
        .collect()
}

/// One entry of `/containers/json`.
pub fn summary(c: &Container<'_>, now_ms: u64) -> Value {
    let t = c.task;
    json!({
        "Id": t.id,
        "Names": [format!("/{}", name(t))],
        "Image": t.spec.image,
        "ImageID": c.image_id,
        "Command": argv(c).join(" "),
        "Created": t.created_at / 1000,
        "Ports": ports(t),
        "Labels": labels(c),
        "State": c.run.as_str(),
        "Status": status(c, now_ms),
        "HostConfig": { "NetworkMode": network_mode(t) },
        "NetworkSettings": { "Networks": networks(c) },
        "Mounts": mounts(t),
    })
}

/// `/containers/{id}/json`.
pub fn inspect(c: &Container<'_>) -> Value {
    let t = c.task;
    let spec = to_docker(&t.service_name, c.stack, &t.spec, &network_id);
    let cs = &spec["TaskTemplate"]["ContainerSpec"];
    let args = argv(c);
    // Docker splits the process into the image's entrypoint and command; orc knows
    // the split only where the service sets them: otherwise the whole process is the
    // command.
    let (entrypoint, cmd) = match (&t.spec.entrypoint, &t.spec.command) {
        (None, None) => (Vec::new(), args.clone()),
        (e, c) => (e.clone().unwrap_or_default(), c.clone().unwrap_or_default()),
    };
    let running = matches!(c.run, RunState::Running | RunState::Paused);
    let mut state = json!({
        "Status": c.run.as_str(),
        "Running": running,
        "Paused": c.run == RunState::Paused,
        "Restarting": false,
        "OOMKilled": false,
        "Dead": false,
        "Pid": if running { c.pid } else { 0 },
        "ExitCode": if c.run == RunState::Exited { c.exit_code } else { 0 },
        "Error": t.status.err.clone().unwrap_or_default(),
        "StartedAt": started_ms(c).map(rfc3339).unwrap_or_else(|| ZERO_TIME.into()),
        "FinishedAt": finished_ms(c).map(rfc3339).unwrap_or_else(|| ZERO_TIME.into()),
    });
    if let Some(h) = &t.status.health {
        let log: Vec<Value> = h
            .log
            .iter()
            .map(|p| {
                json!({ "Start": rfc3339(p.started), "End": rfc3339(p.ended),
                             "ExitCode": p.exit_code, "Output": p.output })
            })
            .collect();
        state["Health"] =
            json!({ "Status": h.state.as_str(), "FailingStreak": h.failing_streak, "Log": log });
    }
    let env: Vec<String> = t.spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut config = json!({
        "Hostname": t.spec.hostname.clone().unwrap_or_else(|| t.id[..t.id.len().min(12)].to_string()),
        "Domainname": "",
        "User": t.spec.user.clone().unwrap_or_default(),
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": false,
        "OpenStdin": false,
        "StdinOnce": false,
        "Env": env,
        "Cmd": cmd,
        "Image": t.spec.image,
        "WorkingDir": t.spec.working_dir.clone().unwrap_or_default(),
        "Entrypoint": entrypoint,
        "Labels": labels(c),
        "StopSignal": t.spec.stop.signal.to_string(),
        "StopTimeout": t.spec.stop.grace_period_ms / 1000,
    });
    if let Some(h) = cs.get("Healthcheck") {
        config["Healthcheck"] = h.clone();
    }
    let o = &t.spec.container;
    let mut port_map = Map::new();
    for p in &t.spec.ports {
        let key = format!("{}/{}", p.target, p.protocol.as_str());
        let bind = match p.mode {
            PublishMode::Host => {
                json!([{ "HostIp": "0.0.0.0", "HostPort": p.published.to_string() }])
            }
            PublishMode::Ingress => json!([]),
        };
        port_map.insert(key, bind);
    }
    let host_config = json!({
        "NetworkMode": network_mode(t),
        "RestartPolicy": { "Name": "no", "MaximumRetryCount": 0 },
        "AutoRemove": false,
        "Privileged": o.privileged,
        "ReadonlyRootfs": o.read_only,
        "CapAdd": o.cap_add,
        "CapDrop": o.cap_drop,
        "Init": o.init,
        "Memory": t.spec.resources.limits.memory_bytes,
        "NanoCpus": t.spec.resources.limits.nano_cpus,
        "PidsLimit": o.pids_limit,
        "ShmSize": o.shm_size_bytes,
        "Sysctls": o.sysctls,
        "LogConfig": { "Type": "orc", "Config": {} },
        "PortBindings": {},
        "Mounts": cs.get("Mounts").cloned().unwrap_or_else(|| json!([])),
    });
    json!({
        "Id": t.id,
        "Created": rfc3339(t.created_at),
        "Path": args.first().cloned().unwrap_or_default(),
        "Args": args.get(1..).unwrap_or_default(),
        "State": state,
        "Image": c.image_id,
        "ResolvConfPath": "",
        "HostnamePath": "",
        "HostsPath": "",
        "LogPath": "",
        "Name": format!("/{}", name(t)),
        "RestartCount": 0,
        "Driver": "overlayfs",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": [],
        "HostConfig": host_config,
        "GraphDriver": { "Name": "overlayfs", "Data": {} },
        "Mounts": mounts(t),
        "Config": config,
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "SandboxKey": "",
            "HairpinMode": false,
            "Ports": port_map,
            "Networks": networks(c),
        },
    })
}

/// A container by full id, name (with or without the leading "/") or unique id
/// prefix; Docker's 404 otherwise.
pub fn lookup<'c, 'a>(cs: &'c [Container<'a>], key: &str) -> Result<&'c Container<'a>, ApiError> {
    let bare = key.strip_prefix('/').unwrap_or(key);
    if let Some(c) = cs.iter().find(|c| c.task.id == key || name(c.task) == bare) {
        return Ok(c);
    }
    let hits: Vec<&Container<'a>> = if key.is_empty() {
        Vec::new()
    } else {
        cs.iter().filter(|c| c.task.id.starts_with(key)).collect()
    };
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(ApiError::not_found(format!("No such container: {key}"))),
        _ => Err(ApiError::bad(format!(
            "multiple IDs found with provided prefix: {key}"
        ))),
    }
}

/// Docker's `name` filter is a regular expression; orc takes its common forms:
/// `^x`, `x$`, `^x$` and a plain substring.
fn name_matches(name: &str, pattern: &str) -> bool {
    let p = pattern.trim_start_matches('^');
    let anchored_start = pattern.starts_with('^');
    let (p, anchored_end) = match p.strip_suffix('$') {
        Some(x) => (x, true),
        None => (p, false),
    };
    let p = p.strip_prefix('/').unwrap_or(p);
    match (anchored_start, anchored_end) {
        (true, true) => name == p,
        (true, false) => name.starts_with(p),
        (false, true) => name.ends_with(p),
        (false, false) => name.contains(p),
    }
}

/// Whether image reference `want` names the container's image: as written, without
/// its tag (`busybox` for `busybox:1`), with Docker Hub's prefixes, or by image id
/// prefix.
fn ancestor_matches(c: &Container<'_>, want: &str) -> bool {
    let image = familiar(&c.task.spec.image);
    let want_b = familiar(want);
    let repo = untagged(image);
    let id = c.image_id.strip_prefix("sha256:").unwrap_or(c.image_id);
    let want_id = want.strip_prefix("sha256:").unwrap_or(want);
    image == want_b
        || repo == want_b
        || (want_b == format!("{repo}:latest") && !image.contains(':'))
        || (!id.is_empty() && want_id.len() >= 4 && id.starts_with(want_id))
}

/// "80", "80/tcp" → (port, protocol, if given).
fn port_filter(v: &str) -> Result<(u16, Option<&str>), ApiError> {
    let (p, proto) = match v.split_once('/') {
        Some((p, x)) => (p, Some(x)),
        None => (v, None),
    };
    let port = p
        .parse()
        .map_err(|_| ApiError::bad(format!("invalid filter: {v:?} is not a port")))?;
    Ok((port, proto))
}

/// `/containers/json`: the containers that pass `f`, running ones only unless `all`
/// (or a `status` filter, or a `limit`), at most `limit` (0: no limit), newest first
/// as given.
pub fn list(
    cs: &[Container<'_>],
    all: bool,
    limit: usize,
    f: &Filters,
    now_ms: u64,
) -> Result<Vec<Value>, ApiError> {
    for s in f.get("status") {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ApiError::bad(format!("invalid filter 'status={s}'")));
        }
    }
    for h in f.get("health") {
        if !["starting", "healthy", "unhealthy", "none"].contains(&h.as_str()) {
            return Err(ApiError::bad(format!("invalid filter 'health={h}'")));
        }
    }
    for v in f.get("is-task") {
        if !["true", "false", "1", "0"].contains(&v.as_str()) {
            return Err(ApiError::bad(format!("invalid filter 'is-task={v}'")));
        }
    }
    let mut exited = Vec::new();
    for v in f.get("exited") {
        exited.push(
            v.parse::<i32>()
                .map_err(|_| ApiError::bad(format!("invalid filter 'exited={v}'")))?,
        );
    }
    let mut publish = Vec::new();
    for v in f.get("publish") {
        publish.push(port_filter(v)?);
    }
    let mut expose = Vec::new();
    for v in f.get("expose") {
        expose.push(port_filter(v)?);
    }
    let before = f
        .get("before")
        .iter()
        .map(|k| lookup(cs, k).map(|c| c.task.created_at))
        .collect::<Result<Vec<_>, _>>()?;
    let since = f
        .get("since")
        .iter()
        .map(|k| lookup(cs, k).map(|c| c.task.created_at))
        .collect::<Result<Vec<_>, _>>()?;
    let all = all || limit > 0 || f.has("status") || f.has("exited");
    let mut out = Vec::new();
    for c in cs {
        let t = c.task;
        let health_word = match (c.run, health(c)) {
            (RunState::Running, Some(h)) => h.as_str(),
            _ => "none",
        };
        let port_ok = |(port, proto): &(u16, Option<&str>), host_only: bool| {
            t.spec.ports.iter().any(|p| {
                let n = if host_only { p.published } else { p.target };
                n == *port && proto.is_none_or(|x| x == p.protocol.as_str())
            })
        };
        let keep = (all || c.run == RunState::Running)
            && f.any("id", |v| t.id.starts_with(v))
            && f.any("name", |v| name_matches(&name(t), v))
            && (!f.has("label") || f.labels_match("label", &labels(c)))
            && f.any("status", |v| v == c.run.as_str())
            && f.any("ancestor", |v| ancestor_matches(c, v))
            && f.any("health", |v| v == health_word)
            && f.any("is-task", |v| v == "true" || v == "1")
            && f.any("isolation", |v| v == "default" || v == "process")
            && f.any("network", |v| {
                networks(c).iter().any(|(n, a)| {
                    n == v || a["NetworkID"].as_str().is_some_and(|i| i.starts_with(v))
                })
            })
            && f.any("volume", |v| {
                mounts(t)
                    .iter()
                    .any(|m| m["Destination"] == v || m["Source"] == v || m["Name"] == v)
            })
            && (exited.is_empty() || (c.run == RunState::Exited && exited.contains(&c.exit_code)))
            && (publish.is_empty() || publish.iter().any(|p| port_ok(p, true)))
            && (expose.is_empty() || expose.iter().any(|p| port_ok(p, false)))
            && before.iter().all(|b| t.created_at < *b)
            && since.iter().all(|s| t.created_at > *s);
        if keep {
            out.push(summary(c, now_ms));
            if limit > 0 && out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

/// One CPU figure set (`cpu_stats`, `precpu_stats`).
fn cpu_stats(u: Option<&ContainerUsage>) -> Value {
    let Some(u) = u else {
        return json!({
            "cpu_usage": { "total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0 },
            "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 },
        });
    };
    json!({
        "cpu_usage": {
            "total_usage": (u.usage.cpu_seconds * 1e9) as u64,
            "usage_in_kernelmode": u.cpu_kernel_ns,
            "usage_in_usermode": u.cpu_user_ns,
        },
        "system_cpu_usage": u.system_cpu_ns,
        "online_cpus": u.online_cpus,
        "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 },
    })
}

/// One `/containers/{id}/stats` sample: `now` read at `now_ns`, `pre` (the previous
/// sample and when it was read) for the CPU share; `mem_total` stands for a limit the
/// container doesn't have, as Docker reports the host's memory.
pub fn stats(
    c: &Container<'_>,
    now_ns: u64,
    now: &ContainerUsage,
    pre: Option<(u64, &ContainerUsage)>,
    mem_total: u64,
) -> Value {
    let u = &now.usage;
    let mut networks = Map::new();
    for i in &now.interfaces {
        networks.insert(
            i.name.clone(),
            json!({
                "rx_bytes": i.rx_bytes, "rx_packets": i.rx_packets, "rx_errors": i.rx_errors,
                "rx_dropped": i.rx_dropped, "tx_bytes": i.tx_bytes, "tx_packets": i.tx_packets,
                "tx_errors": i.tx_errors, "tx_dropped": i.tx_dropped,
            }),
        );
    }
    let mut v = json!({
        "read": rfc3339_nanos(now_ns),
        "preread": pre.map(|(at, _)| rfc3339_nanos(at)).unwrap_or_else(|| ZERO_TIME.into()),
        "pids_stats": { "current": now.pids },
        "blkio_stats": {
            "io_service_bytes_recursive": [
                { "major": 0, "minor": 0, "op": "read", "value": u.block_read_bytes },
                { "major": 0, "minor": 0, "op": "write", "value": u.block_write_bytes },
            ],
            "io_serviced_recursive": [],
            "io_queue_recursive": [],
            "io_service_time_recursive": [],
            "io_wait_time_recursive": [],
            "io_merged_recursive": [],
            "io_time_recursive": [],
            "sectors_recursive": [],
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_stats(Some(now)),
        "precpu_stats": cpu_stats(pre.map(|(_, p)| p)),
        "memory_stats": {
            "usage": u.memory_bytes,
            "limit": u.memory_limit_bytes.unwrap_or(mem_total),
            "stats": now.memory_stat,
        },
        "name": format!("/{}", name(c.task)),
        "id": c.task.id,
    });
    if !networks.is_empty() {
        v["networks"] = Value::Object(networks);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_model::{TaskHealth, TaskState, TaskStatus};
    use orc_spec::{PortSpec, Protocol, ServiceSpec};

    fn task() -> Task {
        let mut spec = ServiceSpec::new("demo/busybox:1");
        spec.command = Some(vec!["sleep".into(), "3600".into()]);
        spec.env.insert("GREETING".into(), "hi".into());
        spec.labels.insert("team".into(), "ops".into());
        spec.ports.push(PortSpec {
            published: 8080,
            target: 80,
            protocol: Protocol::Tcp,
            mode: PublishMode::Host,
        });
        let mut status = TaskStatus::new(TaskState::Running, 1_000_000, "started");
        status.address = Some("10.201.1.5".parse().unwrap());
        Task {
            id: "abcdef0123456789abcdef012".into(),
            service_id: "svc1".into(),
            service_name: "shop_web".into(),
            slot: 2,
            node_id: Some(7),
            spec_version: 1,
            spec,
            desired_state: TaskState::Running,
            status,
            created_at: 900_000,
            not_before: 0,
            attempt: 0,
        }
    }

    fn net() -> ClusterNetwork {
        let mut n = ClusterNetwork::new(
            orc_model::Ipv4Net::parse("10.201.0.0/16").unwrap(),
            orc_model::NetworkDriver::HostGw,
        )
        .unwrap();
        n.allocate(7);
        n
    }

    fn container<'a>(t: &'a Task, n: &'a ClusterNetwork, run: RunState) -> Container<'a> {
        Container {
            task: t,
            stack: "shop",
            run,
            pid: 42,
            exit_code: 0,
            image_id: "sha256:0123456789abcdef",
            args: &[],
            network: Some(n),
        }
    }

    #[test]
    fn the_process_is_containerds_when_the_image_sets_it() {
        let (mut t, n) = (task(), net());
        t.spec.command = None;
        t.spec.entrypoint = None;
        let args = ["docker-entrypoint.sh".to_string(), "mariadbd".to_string()];
        let mut c = container(&t, &n, RunState::Running);
        c.args = &args;
        let v = inspect(&c);
        assert_eq!(v["Path"], "docker-entrypoint.sh");
        assert_eq!(v["Args"], json!(["mariadbd"]));
        assert_eq!(
            v["Config"]["Cmd"],
            json!(["docker-entrypoint.sh", "mariadbd"])
        );
        assert_eq!(
            summary(&c, 1_000_000)["Command"],
            "docker-entrypoint.sh mariadbd"
        );
    }

    #[test]
    fn a_task_as_docker_ps_lists_it() {
        let (t, n) = (task(), net());
        let c = container(&t, &n, RunState::Running);
        let v = summary(&c, 1_000_000 + 5 * 60_000);
        assert_eq!(v["Names"][0], "/shop_web.2.abcdef0123456789abcdef012");
        assert_eq!(v["State"], "running");
        assert_eq!(v["Status"], "Up 5 minutes");
        assert_eq!(v["Created"], 900);
        assert_eq!(v["Command"], "sleep 3600");
        assert_eq!(v["Labels"]["com.docker.swarm.task.id"], t.id.as_str());
        assert_eq!(v["Labels"]["com.docker.swarm.node.id"], "0000000000000007");
        assert_eq!(v["Labels"]["com.docker.swarm.service.name"], "shop_web");
        assert_eq!(v["Labels"][STACK_LABEL], "shop");
        assert_eq!(v["Labels"]["team"], "ops");
        assert_eq!(v["Ports"][0]["PublicPort"], 8080);
        let eth = &v["NetworkSettings"]["Networks"]["shop_default"];
        assert_eq!(eth["IPAddress"], "10.201.1.5");
        assert_eq!(eth["IPPrefixLen"], 16);
        assert_eq!(eth["Gateway"], "10.201.1.1");
        assert_eq!(eth["NetworkID"], network_id("shop_default"));
        assert_eq!(v["HostConfig"]["NetworkMode"], "default");
        assert!(v["Mounts"].as_array().is_some_and(|m| m.is_empty()));
        // A global task is named after its node.
        let mut g = task();
        g.slot = 0;
        assert_eq!(
            name(&g),
            "shop_web.0000000000000007.abcdef0123456789abcdef012"
        );
    }

    #[test]
    fn statuses_read_as_dockers() {
        let (mut t, n) = (task(), net());
        t.status.health = Some(TaskHealth {
            state: HealthState::Starting,
            since: 0,
            failing_streak: 0,
            log: Vec::new(),
        });
        let at = 1_000_000 + 3_600_000;
        assert_eq!(
            status(&container(&t, &n, RunState::Running), at),
            "Up About an hour (health: starting)"
        );
        t.status.health.as_mut().unwrap().state = HealthState::Healthy;
        assert_eq!(
            status(&container(&t, &n, RunState::Running), 1_000_500),
            "Up Less than a second (healthy)"
        );
        let mut c = container(&t, &n, RunState::Exited);
        c.exit_code = 137;
        // Stopped, the cluster not told yet: just now.
        assert_eq!(
            status(&c, 1_000_000 + 180_000),
            "Exited (137) Less than a second ago"
        );
        let mut ended = t.clone();
        ended.status.state = TaskState::Failed;
        let mut c = container(&ended, &n, RunState::Exited);
        c.exit_code = 137;
        assert_eq!(
            status(&c, 1_000_000 + 180_000),
            "Exited (137) 3 minutes ago"
        );
        assert_eq!(inspect(&c)["State"]["FinishedAt"], rfc3339(1_000_000));
        assert_eq!(status(&container(&t, &n, RunState::Created), 0), "Created");
        assert_eq!(human_duration(47 * 3_600_000), "47 hours");
        assert_eq!(human_duration(3 * 86_400_000), "3 days");
        assert_eq!(human_duration(1_000), "1 second");
    }

    #[test]
    fn inspect_has_what_telegraf_and_portainer_read() {
        let (mut t, n) = (task(), net());
        t.spec.secrets.push(orc_spec::FileRef {
            source: "pw".into(),
            target: "/run/secrets/pw".into(),
            uid: 0,
            gid: 0,
            mode: 0o444,
            name: "shop_pw".into(),
            revision: 1,
        });
        t.status.health = Some(TaskHealth {
            state: HealthState::Unhealthy,
            since: 0,
            failing_streak: 3,
            log: vec![orc_model::ProbeResult {
                started: 1,
                ended: 2,
                exit_code: 1,
                output: "no".into(),
            }],
        });
        let v = inspect(&container(&t, &n, RunState::Running));
        assert_eq!(v["Name"], "/shop_web.2.abcdef0123456789abcdef012");
        assert_eq!(v["Path"], "sleep");
        assert_eq!(v["Args"], json!(["3600"]));
        assert_eq!(v["State"]["Status"], "running");
        assert_eq!(v["State"]["Running"], true);
        assert_eq!(v["State"]["Pid"], 42);
        assert_eq!(v["State"]["Health"]["Status"], "unhealthy");
        assert_eq!(v["State"]["Health"]["FailingStreak"], 3);
        assert_eq!(v["State"]["Health"]["Log"][0]["ExitCode"], 1);
        assert_eq!(v["Config"]["Env"], json!(["GREETING=hi"]));
        assert_eq!(v["Config"]["Image"], "demo/busybox:1");
        assert_eq!(v["Config"]["Cmd"], json!(["sleep", "3600"]));
        assert_eq!(v["Config"]["Entrypoint"], json!([]));
        assert_eq!(v["Image"], "sha256:0123456789abcdef");
        assert!(v["Created"].as_str().unwrap().ends_with('Z'));
        assert_eq!(v["State"]["FinishedAt"], ZERO_TIME);
        assert_eq!(
            v["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
            "8080"
        );
        // A secret is a file: its name may show, never a value, and never in Env.
        let text = v.to_string();
        assert!(!v["Config"]["Env"].to_string().contains("pw"));
        assert!(!text.contains("null"), "{text}");
    }

    #[test]
    fn lookups_and_filters() {
        let n = net();
        let a = task();
        let mut b = task();
        b.id = "abd000".into();
        b.slot = 1;
        b.created_at = 950_000;
        b.spec.labels.insert("tier".into(), "db".into());
        b.status.state = TaskState::Complete;
        let cs = vec![
            container(&b, &n, RunState::Exited),
            container(&a, &n, RunState::Running),
        ];
        assert_eq!(lookup(&cs, &a.id).unwrap().task.id, a.id);
        assert_eq!(
            lookup(&cs, &format!("/{}", name(&a))).unwrap().task.id,
            a.id
        );
        assert_eq!(lookup(&cs, &name(&b)).unwrap().task.id, b.id);
        assert_eq!(lookup(&cs, "abc").unwrap().task.id, a.id);
        assert_eq!(lookup(&cs, "ab").unwrap_err().status, 400);
        let e = lookup(&cs, "nope").unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (404, "No such container: nope")
        );

        let ids = |all: bool, raw: &str| -> Vec<String> {
            let f = Filters::parse(Some(raw), LIST_FILTERS).unwrap();
            list(&cs, all, 0, &f, 2_000_000)
                .unwrap()
                .iter()
                .map(|v| v["Id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(ids(false, "{}"), vec![a.id.clone()]);
        assert_eq!(ids(true, "{}"), vec![b.id.clone(), a.id.clone()]);
        assert_eq!(ids(true, r#"{"label":["tier=db"]}"#), vec![b.id.clone()]);
        assert_eq!(ids(true, r#"{"label":{"tier":true}}"#), vec![b.id.clone()]);
        assert_eq!(ids(false, r#"{"status":["exited"]}"#), vec![b.id.clone()]);
        assert_eq!(ids(true, r#"{"name":["shop_web.2"]}"#), vec![a.id.clone()]);
        assert_eq!(ids(true, r#"{"id":["abd"]}"#), vec![b.id.clone()]);
        assert_eq!(ids(true, r#"{"ancestor":["demo/busybox"]}"#).len(), 2);
        assert_eq!(
            ids(true, r#"{"ancestor":["docker.io/demo/busybox:1"]}"#).len(),
            2
        );
        assert!(ids(true, r#"{"ancestor":["nginx"]}"#).is_empty());
        assert_eq!(ids(true, r#"{"health":["none"]}"#).len(), 2);
        assert_eq!(ids(true, r#"{"exited":["0"]}"#), vec![b.id.clone()]);
        assert_eq!(ids(true, r#"{"publish":["8080/tcp"]}"#).len(), 2);
        assert_eq!(ids(true, r#"{"network":["shop_default"]}"#).len(), 2);
        assert_eq!(
            ids(true, &format!(r#"{{"before":["{}"]}}"#, b.id)),
            vec![a.id.clone()]
        );
        assert_eq!(
            ids(true, &format!(r#"{{"since":["{}"]}}"#, a.id)),
            vec![b.id.clone()]
        );
        let f = Filters::parse(Some(r#"{"status":["sleepy"]}"#), LIST_FILTERS).unwrap();
        assert_eq!(list(&cs, true, 0, &f, 0).unwrap_err().status, 400);
        assert!(Filters::parse(Some(r#"{"colour":["x"]}"#), LIST_FILTERS).is_err());
        let f = Filters::default();
        assert_eq!(list(&cs, false, 1, &f, 0).unwrap().len(), 1);
    }

    #[test]
    fn a_stats_sample_as_telegraf_reads_it() {
        let (t, n) = (task(), net());
        let c = container(&t, &n, RunState::Running);
        let mut now = ContainerUsage::default();
        now.usage.cpu_seconds = 2.0;
        now.usage.memory_bytes = 4096;
        now.system_cpu_ns = 20_000_000_000;
        now.online_cpus = 4;
        now.pids = 2;
        now.interfaces.push(orc_metrics::container::Interface {
            name: "eth0".into(),
            rx_bytes: 10,
            tx_packets: 3,
            ..Default::default()
        });
        let mut pre = now.clone();
        pre.usage.cpu_seconds = 1.0;
        let v = stats(
            &c,
            5_000_000_000,
            &now,
            Some((4_000_000_000, &pre)),
            1 << 30,
        );
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 2_000_000_000u64);
        assert_eq!(
            v["precpu_stats"]["cpu_usage"]["total_usage"],
            1_000_000_000u64
        );
        assert_eq!(v["cpu_stats"]["online_cpus"], 4);
        assert_eq!(v["memory_stats"]["usage"], 4096);
        assert_eq!(v["memory_stats"]["limit"], 1u64 << 30);
        assert_eq!(v["networks"]["eth0"]["rx_bytes"], 10);
        assert_eq!(v["networks"]["eth0"]["tx_packets"], 3);
        assert_eq!(v["pids_stats"]["current"], 2);
        assert_eq!(v["name"], "/shop_web.2.abcdef0123456789abcdef012");
        assert!(v["read"].as_str().unwrap().ends_with('Z'));
        let one = stats(&c, 5_000_000_000, &now, None, 1 << 30);
        assert_eq!(one["preread"], ZERO_TIME);
        assert_eq!(one["precpu_stats"]["cpu_usage"]["total_usage"], 0);
        assert!(!one.to_string().contains("null"));
    }
}
