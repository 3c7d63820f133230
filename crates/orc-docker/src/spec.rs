//! A Docker `ServiceSpec` ↔ orc's normalised [`ServiceSpec`].
//!
//! Docker clients send the whole spec back on every update (with keys in any case:
//! Go's JSON decoding ignores case and docker-py sends `"replicated"`), so every field
//! orc renders is read back, fields left at their zero value are accepted, and any
//! other field is refused with a 400 naming it: nothing is dropped silently.

use crate::{ApiError, STACK_LABEL};
use orc_spec::{
    Constraint, ConstraintKey, ConstraintOp, FailureAction, HealthCheck, HealthTest, Mount,
    NetworkMode, PlacementPreference, PortSpec, Protocol, PublishMode, RestartCondition,
    ServiceMode, ServiceSpec, UpdateConfig, UpdateOrder,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A Docker service spec as orc reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerService {
    /// The service's full name as Docker shows it.
    pub name: String,
    /// The orc stack (the `com.docker.stack.namespace` label, else the name's part
    /// before `_`, else the name itself).
    pub stack: String,
    /// The name within the stack.
    pub short_name: String,
    pub spec: ServiceSpec,
}

const NS: u64 = 1_000_000;

/// A JSON object whose keys are taken case-insensitively; what is left over at the
/// end is refused unless it is a zero value.
struct Obj {
    path: String,
    map: Map<String, Value>,
}

impl Obj {
    fn new(path: &str, v: Value) -> Result<Obj, ApiError> {
        match v {
            Value::Object(map) => Ok(Obj {
                path: path.to_string(),
                map,
            }),
            Value::Null => Ok(Obj {
                path: path.to_string(),
                map: Map::new(),
            }),
            other => Err(ApiError::bad(format!(
                "{path}: expected an object, got {other}"
            ))),
        }
    }

    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        let k = self
            .map
            .keys()
            .find(|k| k.eq_ignore_ascii_case(key))?
            .clone();
        self.map.remove(&k).filter(|v| !v.is_null())
    }

    fn obj(&mut self, key: &str) -> Result<Obj, ApiError> {
        let f = self.field(key);
        Obj::new(&f, self.take(key).unwrap_or(Value::Null))
    }

    fn string(&mut self, key: &str) -> Result<Option<String>, ApiError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ApiError::bad(format!(
                "{}: expected a string, got {other}",
                self.field(key)
            ))),
        }
    }

    fn u64(&mut self, key: &str) -> Result<Option<u64>, ApiError> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                ApiError::bad(format!(
                    "{}: expected a non-negative integer, got {v}",
                    self.field(key)
                ))
            }),
        }
    }

    fn bool(&mut self, key: &str) -> Result<bool, ApiError> {
        match self.take(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(b),
            Some(other) => Err(ApiError::bad(format!(
                "{}: expected true or false, got {other}",
                self.field(key)
            ))),
        }
    }

    fn strings(&mut self, key: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .into_iter()
                .map(|x| match x {
                    Value::String(s) => Ok(s),
                    other => Err(ApiError::bad(format!(
                        "{}: expected strings, got {other}",
                        self.field(key)
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(ApiError::bad(format!(
                "{}: expected a list of strings, got {other}",
                self.field(key)
            ))),
        }
    }

    fn list(&mut self, key: &str) -> Result<Vec<Value>, ApiError> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a),
            Some(other) => Err(ApiError::bad(format!(
                "{}: expected a list, got {other}",
                self.field(key)
            ))),
        }
    }

    fn labels(&mut self, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
        let o = self.obj(key)?;
        let mut out = BTreeMap::new();
        for (k, v) in o.map {
            match v {
                Value::String(s) => {
                    out.insert(k, s);
                }
                other => {
                    return Err(ApiError::bad(format!(
                        "{}.{k}: a label value must be a string, got {other}",
                        o.path
                    )))
                }
            }
        }
        Ok(out)
    }

    /// Refuses what is left unless it is a zero value.
    fn done(self) -> Result<(), ApiError> {
        for (k, v) in &self.map {
            if !is_zero(v) {
                return Err(unsupported(&self.field(k), v));
            }
        }
        Ok(())
    }
}

/// `ContainerSpec`'s `Init`, `ReadOnly`, `CapabilityAdd`/`CapabilityDrop`, `Sysctls`,
/// `Ulimits`, `Hosts` and `DNSConfig` onto orc's container options (checked as a stack
/// file's are).
fn container_options(cs: &mut Obj, spec: &mut ServiceSpec) -> Result<(), ApiError> {
    let c = &mut spec.container;
    c.init = cs.bool("Init")?;
    c.read_only = cs.bool("ReadOnly")?;
    for (key, list) in [
        ("CapabilityAdd", &mut c.cap_add),
        ("CapabilityDrop", &mut c.cap_drop),
    ] {
        for cap in cs.strings(key)?.unwrap_or_default() {
            let field = cs.field(key);
            list.push(
                orc_spec::normalize_capability(&cap)
                    .map_err(|why| ApiError::bad(format!("{field}: {why}")))?,
            );
        }
    }
    let field = cs.field("Sysctls");
    for (k, v) in cs.labels("Sysctls")? {
        orc_spec::check_sysctl(&k).map_err(|why| ApiError::bad(format!("{field}.{k}: {why}")))?;
        c.sysctls.insert(k, v);
    }
    for (i, u) in cs.list("Ulimits")?.into_iter().enumerate() {
        let path = format!("{}[{i}]", cs.field("Ulimits"));
        let mut u = Obj::new(&path, u)?;
        let name = u.string("Name")?.unwrap_or_default();
        let (soft, hard) = (u.u64("Soft")?.unwrap_or(0), u.u64("Hard")?.unwrap_or(0));
        u.done()?;
        if name.is_empty() || soft > hard {
            return Err(ApiError::bad(format!(
                "{path}: a ulimit needs a Name and Soft <= Hard"
            )));
        }
        c.ulimits.insert(name, orc_spec::Ulimit { soft, hard });
    }
    // /etc/hosts lines: "IP NAME [ALIAS…]" (Docker's swarm form), or "NAME:IP".
    for line in cs.strings("Hosts")?.unwrap_or_default() {
        let field = cs.field("Hosts");
        let bad = |why: String| ApiError::bad(format!("{field}: {line:?}: {why}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let pairs: Vec<(&str, &str)> = match words.as_slice() {
            [one] => match one.split_once(':') {
                Some((name, ip)) => vec![(name, ip)],
                None => return Err(bad("expected \"IP NAME\"".into())),
            },
            [ip, names @ ..] => names.iter().map(|n| (*n, *ip)).collect(),
            [] => return Err(bad("empty".into())),
        };
        for (name, ip) in pairs {
            c.extra_hosts
                .push(orc_spec::check_extra_host(name, ip).map_err(bad)?);
        }
    }
    let mut dns = cs.obj("DNSConfig")?;
    c.dns = dns.strings("Nameservers")?.unwrap_or_default();
    c.dns_search = dns.strings("Search")?.unwrap_or_default();
    c.dns_options = dns.strings("Options")?.unwrap_or_default();
    dns.done()?;
    Ok(())
}

fn unsupported(field: &str, v: &Value) -> ApiError {
    ApiError::bad(format!(
        "orc does not support the service field {field} (got {v}); leave it out"
    ))
}

/// null, false, 0, "", [] and objects holding only those.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_zero),
    }
}

fn ns_to_ms(ns: Option<u64>) -> Option<u64> {
    ns.map(|n| n / NS)
}

/// Reads a Docker `ServiceSpec` (a create or update body). `network_name` maps a
/// network id or name from `Networks[].Target` to the network's name, if it exists.
///
/// `base` is the service's current spec on an update: what this conversion does not
/// cover (health check, update config, secrets… set through orc's stack files) is
/// kept from it rather than dropped.
pub fn from_docker(
    body: Value,
    network_name: &dyn Fn(&str) -> Option<String>,
    base: Option<&ServiceSpec>,
) -> Result<DockerService, ApiError> {
    let mut top = Obj::new("", body)?;
    let name = top
        .string("Name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad("Name: a service needs a name"))?;
    let mut labels = top.labels("Labels")?;
    let (stack, short_name) = split_name(&name, labels.remove(STACK_LABEL))?;
    let mut tt = top.obj("TaskTemplate")?;
    let mut cs = tt.obj("ContainerSpec")?;
    let image = cs
        .string("Image")?
        .filter(|i| !i.is_empty())
        .ok_or_else(|| {
            ApiError::bad("TaskTemplate.ContainerSpec.Image: a service needs an image")
        })?;
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::bad(format!(
            "TaskTemplate.ContainerSpec.Image: {image:?} contains whitespace"
        )));
    }
    let fresh = ServiceSpec::new(image);
    let mut spec = match base {
        None => fresh,
        // Every field read below starts from its default, the others from `base`.
        Some(b) => ServiceSpec {
            image: fresh.image,
            entrypoint: fresh.entrypoint,
            command: fresh.command,
            mode: fresh.mode,
            env: fresh.env,
            labels: fresh.labels,
            constraints: fresh.constraints,
            resources: fresh.resources,
            restart: fresh.restart,
            stop: fresh.stop,
            user: fresh.user,
            working_dir: fresh.working_dir,
            hostname: fresh.hostname,
            mounts: fresh.mounts,
            network_mode: fresh.network_mode,
            placement: fresh.placement,
            networks: fresh.networks,
            ports: fresh.ports,
            // Docker's ContainerSpec has no privileged mode, devices or /dev/shm size:
            // those stay as they were; the rest of the options come from the request.
            container: orc_spec::ContainerOptions {
                privileged: b.container.privileged,
                devices: b.container.devices.clone(),
                shm_size_bytes: b.container.shm_size_bytes,
                ..fresh.container
            },
            ..b.clone()
        },
    };
    spec.labels = labels;
    // Container labels: only the stack label (orc labels service and containers alike).
    let cl = cs.labels("Labels")?;
    if let Some((k, v)) = cl.iter().find(|(k, _)| *k != STACK_LABEL) {
        return Err(ApiError::bad(format!(
            "orc does not support the service field TaskTemplate.ContainerSpec.Labels \
             ({k}={v}): put labels on the service (compose deploy.labels)"
        )));
    }
    spec.entrypoint = cs.strings("Command")?;
    spec.command = cs.strings("Args")?;
    spec.hostname = cs.string("Hostname")?.filter(|h| !h.is_empty());
    spec.working_dir = cs.string("Dir")?.filter(|h| !h.is_empty());
    spec.user = cs.string("User")?.filter(|h| !h.is_empty());
    for e in cs.strings("Env")?.unwrap_or_default() {
        let Some((k, v)) = e.split_once('=') else {
            return Err(ApiError::bad(format!(
                "TaskTemplate.ContainerSpec.Env: {e:?} has no '=' (orc sets variables, it \
                 does not pass the daemon's through)"
            )));
        };
        if k.is_empty() {
            return Err(ApiError::bad(format!(
                "TaskTemplate.ContainerSpec.Env: {e:?} has an empty name"
            )));
        }
        spec.env.insert(k.to_string(), v.to_string());
    }
    if let Some(g) = ns_to_ms(cs.u64("StopGracePeriod")?) {
        spec.stop.grace_period_ms = g;
    }
    if let Some(s) = cs.string("StopSignal")?.filter(|s| !s.is_empty()) {
        spec.stop.signal = orc_spec::parse_signal(&s).map_err(|why| {
            ApiError::bad(format!("TaskTemplate.ContainerSpec.StopSignal: {why}"))
        })?;
    }
    for (i, m) in cs.list("Mounts")?.into_iter().enumerate() {
        spec.mounts.push(mount(i, m)?);
    }
    if let Some(h) = cs.take("Healthcheck") {
        spec.healthcheck = healthcheck(h, base.and_then(|b| b.healthcheck.as_ref()))?;
    }
    for (key, config) in [("Secrets", false), ("Configs", true)] {
        let mut refs = file_refs(
            &format!("TaskTemplate.ContainerSpec.{key}"),
            cs.list(key)?,
            config,
        )?;
        // A reference the service already had keeps the revision it pins.
        let before = base.map(|b| if config { &b.configs } else { &b.secrets });
        for r in &mut refs {
            if let Some(old) = before
                .into_iter()
                .flatten()
                .find(|o| o.name == r.name && o.target == r.target)
            {
                r.revision = old.revision;
            }
        }
        if config {
            spec.configs = refs;
        } else {
            spec.secrets = refs;
        }
    }
    container_options(&mut cs, &mut spec)?;
    if let Some(iso) = cs.string("Isolation")? {
        if iso != "default" && !iso.is_empty() {
            return Err(unsupported(
                "TaskTemplate.ContainerSpec.Isolation",
                &Value::String(iso),
            ));
        }
    }
    cs.done()?;

    let mut res = tt.obj("Resources")?;
    for (key, set) in [
        ("Limits", &mut spec.resources.limits),
        ("Reservations", &mut spec.resources.reservations),
    ] {
        let mut o = res.obj(key)?;
        set.nano_cpus = o.u64("NanoCPUs")?.unwrap_or(0);
        set.memory_bytes = o.u64("MemoryBytes")?.unwrap_or(0);
        if key == "Limits" {
            spec.container.pids_limit = o
                .u64("Pids")?
                .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
        }
        o.done()?;
    }
    res.done()?;

    if let Some(rp) = tt.take("RestartPolicy") {
        let mut rp = Obj::new("TaskTemplate.RestartPolicy", rp)?;
        spec.restart.condition = match rp.string("Condition")?.as_deref() {
            None | Some("") | Some("any") => RestartCondition::Any,
            Some("on-failure") => RestartCondition::OnFailure,
            Some("none") => RestartCondition::None,
            Some(other) => {
                return Err(ApiError::bad(format!(
                    "TaskTemplate.RestartPolicy.Condition: unknown condition {other:?} \
                     (any, on-failure or none)"
                )))
            }
        };
        if let Some(d) = ns_to_ms(rp.u64("Delay")?) {
            spec.restart.delay_ms = d;
        }
        spec.restart.max_attempts = rp
            .u64("MaxAttempts")?
            .filter(|n| *n > 0)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        spec.restart.window_ms = ns_to_ms(rp.u64("Window")?).unwrap_or(0);
        rp.done()?;
    }

    let mut pl = tt.obj("Placement")?;
    for c in pl.strings("Constraints")?.unwrap_or_default() {
        spec.constraints
            .push(orc_spec::parse_constraint(&c).map_err(|why| {
                ApiError::bad(format!("TaskTemplate.Placement.Constraints: {c:?}: {why}"))
            })?);
    }
    for (i, p) in pl.list("Preferences")?.into_iter().enumerate() {
        let path = format!("TaskTemplate.Placement.Preferences[{i}]");
        let mut p = Obj::new(&path, p)?;
        let mut sp = p.obj("Spread")?;
        let d = sp.string("SpreadDescriptor")?.unwrap_or_default();
        let Some(label) = d.strip_prefix("node.labels.").filter(|l| !l.is_empty()) else {
            return Err(ApiError::bad(format!(
                "{path}.Spread.SpreadDescriptor: orc spreads over node labels only \
                 (node.labels.NAME), not {d:?}"
            )));
        };
        spec.placement
            .preferences
            .push(PlacementPreference::Spread {
                label: label.to_string(),
            });
        sp.done()?;
        p.done()?;
    }
    // Platforms come from the image (set by `docker stack deploy`); orc picks each
    // node's platform from the image index itself.
    let _ = pl.take("Platforms");
    pl.done()?;

    // Networks: TaskTemplate.Networks, or the deprecated top-level list.
    let mut nets = tt.list("Networks")?;
    if nets.is_empty() {
        nets = top.list("Networks")?;
    } else {
        let _ = top.take("Networks");
    }
    if !nets.is_empty() {
        spec.networks.clear();
    }
    for (i, n) in nets.into_iter().enumerate() {
        let path = format!("TaskTemplate.Networks[{i}]");
        let mut n = Obj::new(&path, n)?;
        let target = n.string("Target")?.unwrap_or_default();
        if let Some(aliases) = n.strings("Aliases")? {
            if aliases.iter().any(|a| *a != short_name) {
                return Err(ApiError::bad(format!(
                    "{path}.Aliases: orc names a service on its networks by its name in \
                     the stack ({short_name}) only"
                )));
            }
        }
        n.done()?;
        if target == "host" {
            spec.network_mode = NetworkMode::Host;
            continue;
        }
        let full = network_name(&target).unwrap_or_else(|| target.clone());
        let Some(net) = full
            .strip_prefix(&format!("{stack}_"))
            .filter(|n| orc_spec::check_name(n).is_ok())
        else {
            return Err(ApiError::bad(format!(
                "{path}.Target: orc attaches a service only to networks of its own stack \
                 ({stack}_NAME), not {target:?}"
            )));
        };
        if !spec.networks.iter().any(|x| x == net) {
            spec.networks.push(net.to_string());
        }
    }
    if spec.network_mode == NetworkMode::Host {
        if !spec.networks.is_empty() && spec.networks != [orc_spec::DEFAULT_NETWORK] {
            return Err(ApiError::bad(
                "TaskTemplate.Networks: the host network cannot be combined with others",
            ));
        }
        spec.networks.clear();
    }
    if let Some(ld) = tt.take("LogDriver") {
        if !is_zero(&ld) {
            return Err(unsupported("TaskTemplate.LogDriver", &ld));
        }
    }
    if let Some(rt) = tt.string("Runtime")? {
        if rt != "container" && !rt.is_empty() {
            return Err(unsupported("TaskTemplate.Runtime", &Value::String(rt)));
        }
    }
    tt.done()?;

    let mut mode = top.obj("Mode")?;
    if let Some(r) = mode.take("Replicated") {
        let mut r = Obj::new("Mode.Replicated", r)?;
        let n = r.u64("Replicas")?.unwrap_or(1);
        if n > orc_spec::MAX_REPLICAS as u64 {
            return Err(ApiError::bad(format!(
                "Mode.Replicated.Replicas: {n} is above the limit of {}",
                orc_spec::MAX_REPLICAS
            )));
        }
        spec.mode = ServiceMode::Replicated { replicas: n as u32 };
        r.done()?;
    } else if let Some(g) = mode.take("Global") {
        Obj::new("Mode.Global", g)?.done()?;
        spec.mode = ServiceMode::Global;
    }
    mode.done()?;

    let mut ep = top.obj("EndpointSpec")?;
    match ep.string("Mode")?.as_deref() {
        None | Some("") | Some("vip") => {}
        Some(other) => {
            return Err(unsupported(
                "EndpointSpec.Mode",
                &Value::String(other.to_string()),
            ))
        }
    }
    for (i, p) in ep.list("Ports")?.into_iter().enumerate() {
        spec.ports.push(port(i, p)?);
    }
    ep.done()?;

    if let Some(v) = top.take("UpdateConfig") {
        spec.update_config = update_config("UpdateConfig", v)?;
    }
    if let Some(v) = top.take("RollbackConfig") {
        spec.rollback_config = update_config("RollbackConfig", v)?;
    }
    top.done()?;
    if spec.network_mode == NetworkMode::Host && !spec.ports.is_empty() {
        return Err(ApiError::bad(
            "EndpointSpec.Ports: a service on the host network publishes no ports",
        ));
    }
    Ok(DockerService {
        name,
        stack,
        short_name,
        spec,
    })
}

/// `UpdateConfig`/`RollbackConfig` → orc's rollout settings (unset keys: orc's
/// defaults, which are Docker's).
fn update_config(key: &str, v: Value) -> Result<UpdateConfig, ApiError> {
    let mut o = Obj::new(key, v)?;
    let mut u = UpdateConfig::default();
    if let Some(p) = o.u64("Parallelism")? {
        u.parallelism = u32::try_from(p).unwrap_or(u32::MAX);
    }
    if let Some(d) = ns_to_ms(o.u64("Delay")?) {
        u.delay_ms = d;
    }
    if let Some(m) = ns_to_ms(o.u64("Monitor")?).filter(|m| *m > 0) {
        u.monitor_ms = m;
    }
    u.failure_action = match o.string("FailureAction")?.as_deref() {
        None | Some("") | Some("pause") => FailureAction::Pause,
        Some("continue") => FailureAction::Continue,
        Some("rollback") => FailureAction::Rollback,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "{key}.FailureAction: pause, continue or rollback, not {other:?}"
            )))
        }
    };
    u.order = match o.string("Order")?.as_deref() {
        None | Some("") | Some("stop-first") => UpdateOrder::StopFirst,
        Some("start-first") => UpdateOrder::StartFirst,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "{key}.Order: stop-first or start-first, not {other:?}"
            )))
        }
    };
    if let Some(r) = o.take("MaxFailureRatio") {
        let r = r
            .as_f64()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| {
                ApiError::bad(format!(
                    "{key}.MaxFailureRatio: a number from 0 to 1, got {r}"
                ))
            })?;
        u.max_failure_ratio_ppm = (r * 1_000_000.0).round() as u32;
    }
    o.done()?;
    Ok(u)
}

/// `ContainerSpec.Healthcheck` → orc's health check (`restart_on_unhealthy` from
/// `base`, which Docker has no field for).
fn healthcheck(v: Value, base: Option<&HealthCheck>) -> Result<Option<HealthCheck>, ApiError> {
    let path = "TaskTemplate.ContainerSpec.Healthcheck";
    let mut o = Obj::new(path, v)?;
    let test = o.strings("Test")?.unwrap_or_default();
    let test = match test.split_first() {
        None => None,
        Some((k, _)) if k == "NONE" => Some(HealthTest::None),
        Some((k, rest)) if k == "CMD" && !rest.is_empty() => Some(HealthTest::Cmd(rest.to_vec())),
        Some((k, rest)) if k == "CMD-SHELL" && rest.len() == 1 => {
            Some(HealthTest::CmdShell(rest[0].clone()))
        }
        Some(_) => {
            return Err(ApiError::bad(format!(
            "{path}.Test: [\"NONE\"], [\"CMD\", ARGS…] or [\"CMD-SHELL\", COMMAND], not {test:?}"
        )))
        }
    };
    let h = HealthCheck {
        test,
        interval_ms: ns_to_ms(o.u64("Interval")?).filter(|x| *x > 0),
        timeout_ms: ns_to_ms(o.u64("Timeout")?).filter(|x| *x > 0),
        retries: o
            .u64("Retries")?
            .filter(|x| *x > 0)
            .map(|r| u32::try_from(r).unwrap_or(u32::MAX)),
        start_period_ms: ns_to_ms(o.u64("StartPeriod")?).filter(|x| *x > 0),
        start_interval_ms: ns_to_ms(o.u64("StartInterval")?).filter(|x| *x > 0),
        restart_on_unhealthy: base.is_some_and(|b| b.restart_on_unhealthy),
    };
    o.done()?;
    Ok(Some(h))
}

fn health_json(h: &HealthCheck) -> Option<Value> {
    let test: Vec<String> = match &h.test {
        None => Vec::new(),
        Some(HealthTest::None) => vec!["NONE".into()],
        Some(HealthTest::Cmd(args)) => std::iter::once("CMD".to_string())
            .chain(args.iter().cloned())
            .collect(),
        Some(HealthTest::CmdShell(c)) => vec!["CMD-SHELL".into(), c.clone()],
        // orc's own probes have no Docker form: not shown (and kept on updates).
        Some(HealthTest::Tcp(_)) | Some(HealthTest::Http(_)) => return None,
    };
    let mut o = Map::new();
    if !test.is_empty() {
        o.insert("Test".into(), json!(test));
    }
    for (k, v) in [
        ("Interval", h.interval_ms),
        ("Timeout", h.timeout_ms),
        ("StartPeriod", h.start_period_ms),
        ("StartInterval", h.start_interval_ms),
    ] {
        if let Some(ms) = v {
            o.insert(k.into(), json!(ms * NS));
        }
    }
    if let Some(r) = h.retries {
        o.insert("Retries".into(), json!(r));
    }
    Some(Value::Object(o))
}

fn update_json(u: &UpdateConfig) -> Value {
    json!({
        "Parallelism": u.parallelism,
        "Delay": u.delay_ms * NS,
        "FailureAction": match u.failure_action {
            FailureAction::Pause => "pause",
            FailureAction::Continue => "continue",
            FailureAction::Rollback => "rollback",
        },
        "Monitor": u.monitor_ms * NS,
        "MaxFailureRatio": u.max_failure_ratio_ppm as f64 / 1_000_000.0,
        "Order": match u.order {
            UpdateOrder::StopFirst => "stop-first",
            UpdateOrder::StartFirst => "start-first",
        },
    })
}

/// The stack and short name of a Docker service name.
fn split_name(name: &str, label: Option<String>) -> Result<(String, String), ApiError> {
    let check = |what: &str, n: &str| {
        orc_spec::check_name(n).map_err(|why| ApiError::bad(format!("Name: {what}: {why}")))
    };
    match label {
        Some(stack) => {
            check("the stack (label com.docker.stack.namespace)", &stack)?;
            let Some(short) = name.strip_prefix(&format!("{stack}_")) else {
                return Err(ApiError::bad(format!(
                    "Name: a service of stack {stack} is named {stack}_NAME, not {name:?}"
                )));
            };
            check("the service", short)?;
            Ok((stack, short.to_string()))
        }
        None => match name.split_once('_') {
            Some((stack, short)) => {
                check("the stack (before '_')", stack)?;
                check("the service (after '_')", short)?;
                Ok((stack.to_string(), short.to_string()))
            }
            None => {
                check("the service", name)?;
                Ok((name.to_string(), name.to_string()))
            }
        },
    }
}

fn mount(i: usize, v: Value) -> Result<Mount, ApiError> {
    let path = format!("TaskTemplate.ContainerSpec.Mounts[{i}]");
    let mut m = Obj::new(&path, v)?;
    let ty = m.string("Type")?.unwrap_or_else(|| "volume".into());
    let target = m.string("Target")?.unwrap_or_default();
    if !target.starts_with('/') {
        return Err(ApiError::bad(format!(
            "{path}.Target: {target:?} is not an absolute path"
        )));
    }
    let read_only = m.bool("ReadOnly")?;
    if let Some(c) = m.string("Consistency")? {
        if !matches!(c.as_str(), "" | "default" | "consistent") {
            return Err(unsupported(&format!("{path}.Consistency"), &json!(c)));
        }
    }
    let out = match ty.as_str() {
        "bind" => {
            let source = m.string("Source")?.unwrap_or_default();
            if !source.starts_with('/') {
                return Err(ApiError::bad(format!(
                    "{path}.Source: {source:?} is not an absolute path"
                )));
            }
            let bo = m.obj("BindOptions")?;
            bo.done()?;
            Mount::Bind {
                source,
                target,
                read_only,
            }
        }
        "tmpfs" => {
            let mut to = m.obj("TmpfsOptions")?;
            let size_bytes = to.u64("SizeBytes")?.unwrap_or(0);
            let mode = to
                .u64("Mode")?
                .filter(|m| *m != 0)
                .map(|m| u32::try_from(m).unwrap_or(0o1777));
            to.done()?;
            Mount::Tmpfs {
                target,
                size_bytes,
                mode,
            }
        }
        other => {
            return Err(ApiError::bad(format!(
                "{path}.Type: orc mounts bind and tmpfs here, not {other:?}; declare named \
                 volumes in an orc stack file (see docs/stack.md)"
            )))
        }
    };
    m.done()?;
    Ok(out)
}

fn port(i: usize, v: Value) -> Result<PortSpec, ApiError> {
    let path = format!("EndpointSpec.Ports[{i}]");
    let mut p = Obj::new(&path, v)?;
    let protocol = match p.string("Protocol")?.as_deref() {
        None | Some("") | Some("tcp") => Protocol::Tcp,
        Some("udp") => Protocol::Udp,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "{path}.Protocol: orc publishes tcp and udp, not {other:?}"
            )))
        }
    };
    let port_no = |p: &mut Obj, key: &str| -> Result<u16, ApiError> {
        let n = p.u64(key)?.unwrap_or(0);
        u16::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::bad(format!("{path}.{key}: must be 1 to 65535, got {n}")))
    };
    let target = port_no(&mut p, "TargetPort")?;
    let published = port_no(&mut p, "PublishedPort")?;
    let mode = match p.string("PublishMode")?.as_deref() {
        None | Some("") | Some("ingress") => PublishMode::Ingress,
        Some("host") => PublishMode::Host,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "{path}.PublishMode: ingress or host, not {other:?}"
            )))
        }
    };
    let _ = p.take("Name");
    p.done()?;
    Ok(PortSpec {
        published,
        target,
        protocol,
        mode,
    })
}

fn constraint_str(c: &Constraint) -> String {
    let key = match &c.key {
        ConstraintKey::NodeId => "node.id".to_string(),
        ConstraintKey::NodeHostname => "node.hostname".to_string(),
        ConstraintKey::NodeRole => "node.role".to_string(),
        ConstraintKey::NodeLabel(l) => format!("node.labels.{l}"),
    };
    let op = match c.op {
        ConstraintOp::Eq => "==",
        ConstraintOp::Ne => "!=",
    };
    format!("{key}{op}{}", c.value)
}

/// A service's `Secrets` or `Configs`: `{ SecretName, SecretID, File: { Name, UID,
/// GID, Mode } }` (`Config…` for configs). The name is the cluster's; a relative
/// `File.Name` goes under `/run/secrets/` (secrets) or `/` (configs).
fn file_refs(
    path: &str,
    list: Vec<Value>,
    config: bool,
) -> Result<Vec<orc_spec::FileRef>, ApiError> {
    let (id_key, name_key) = if config {
        ("ConfigID", "ConfigName")
    } else {
        ("SecretID", "SecretName")
    };
    let mut out: Vec<orc_spec::FileRef> = Vec::new();
    for (i, v) in list.into_iter().enumerate() {
        let mut o = Obj::new(&format!("{path}[{i}]"), v)?;
        let name = o
            .string(name_key)?
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::bad(format!("{path}[{i}].{name_key}: name it")))?;
        let _ = o.string(id_key)?;
        let mut f = o.obj("File")?;
        let target = f.string("Name")?.filter(|n| !n.is_empty());
        let mut r = orc_spec::file_ref(&name, target.as_deref(), config);
        for (key, slot) in [("UID", &mut r.uid), ("GID", &mut r.gid)] {
            if let Some(s) = f.string(key)?.filter(|s| !s.is_empty()) {
                *slot = s.parse().map_err(|_| {
                    ApiError::bad(format!("{path}[{i}].File.{key}: {s:?} is not a number"))
                })?;
            }
        }
        if let Some(m) = f.u64("Mode")? {
            r.mode = u32::try_from(m)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| ApiError::bad(format!("{path}[{i}].File.Mode: {m}")))?;
        }
        f.done()?;
        o.done()?;
        r.name = name;
        if out.iter().any(|x| x.target == r.target) {
            return Err(ApiError::bad(format!(
                "{path}[{i}].File.Name: target {} is used twice",
                r.target
            )));
        }
        out.push(r);
    }
    Ok(out)
}

/// The Docker form of [`file_refs`]; `id` gives a value's id from its name.
fn file_refs_json(refs: &[orc_spec::FileRef], config: bool, id: &dyn Fn(&str) -> String) -> Value {
    let (id_key, name_key) = if config {
        ("ConfigID", "ConfigName")
    } else {
        ("SecretID", "SecretName")
    };
    refs.iter()
        .map(|r| {
            let file = if config {
                r.target.clone()
            } else {
                r.target
                    .strip_prefix("/run/secrets/")
                    .unwrap_or(&r.target)
                    .to_string()
            };
            json!({
                id_key: id(&r.name),
                name_key: r.name,
                "File": { "Name": file, "UID": r.uid.to_string(), "GID": r.gid.to_string(), "Mode": r.mode },
            })
        })
        .collect()
}

/// The Docker `ServiceSpec` of an orc service. `network_id` gives a stack network's
/// id from its full name.
pub fn to_docker(
    name: &str,
    stack: &str,
    spec: &ServiceSpec,
    network_id: &dyn Fn(&str) -> String,
) -> Value {
    let mut labels = spec.labels.clone();
    labels.insert(STACK_LABEL.to_string(), stack.to_string());
    let mut cs = Map::new();
    cs.insert("Image".into(), json!(spec.image));
    cs.insert("Labels".into(), json!({ STACK_LABEL: stack }));
    if let Some(e) = &spec.entrypoint {
        cs.insert("Command".into(), json!(e));
    }
    if let Some(c) = &spec.command {
        cs.insert("Args".into(), json!(c));
    }
    if let Some(h) = &spec.hostname {
        cs.insert("Hostname".into(), json!(h));
    }
    if !spec.env.is_empty() {
        let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        cs.insert("Env".into(), json!(env));
    }
    if let Some(d) = &spec.working_dir {
        cs.insert("Dir".into(), json!(d));
    }
    if let Some(u) = &spec.user {
        cs.insert("User".into(), json!(u));
    }
    let c = &spec.container;
    if c.init {
        cs.insert("Init".into(), json!(true));
    }
    if c.read_only {
        cs.insert("ReadOnly".into(), json!(true));
    }
    if !c.cap_add.is_empty() {
        cs.insert("CapabilityAdd".into(), json!(c.cap_add));
    }
    if !c.cap_drop.is_empty() {
        cs.insert("CapabilityDrop".into(), json!(c.cap_drop));
    }
    if !c.sysctls.is_empty() {
        cs.insert("Sysctls".into(), json!(c.sysctls));
    }
    if !c.ulimits.is_empty() {
        let u: Vec<Value> = c
            .ulimits
            .iter()
            .map(|(n, u)| json!({"Name": n, "Soft": u.soft, "Hard": u.hard}))
            .collect();
        cs.insert("Ulimits".into(), json!(u));
    }
    if !c.extra_hosts.is_empty() {
        let h: Vec<String> = c
            .extra_hosts
            .iter()
            .map(|h| format!("{} {}", h.ip, h.hostname))
            .collect();
        cs.insert("Hosts".into(), json!(h));
    }
    if !(c.dns.is_empty() && c.dns_search.is_empty() && c.dns_options.is_empty()) {
        cs.insert(
            "DNSConfig".into(),
            json!({"Nameservers": c.dns, "Search": c.dns_search, "Options": c.dns_options}),
        );
    }
    let mounts: Vec<Value> = spec
        .mounts
        .iter()
        .map(|m| match m {
            Mount::Bind {
                source,
                target,
                read_only,
            } => json!({"Type": "bind", "Source": source, "Target": target, "ReadOnly": read_only}),
            Mount::Tmpfs {
                target,
                size_bytes,
                mode,
            } => {
                let mut o = json!({"Type": "tmpfs", "Target": target});
                let mut opts = Map::new();
                if *size_bytes > 0 {
                    opts.insert("SizeBytes".into(), json!(size_bytes));
                }
                if let Some(m) = mode {
                    opts.insert("Mode".into(), json!(m));
                }
                if !opts.is_empty() {
                    o["TmpfsOptions"] = Value::Object(opts);
                }
                o
            }
            Mount::Volume {
                name,
                target,
                read_only,
                ..
            } => json!({"Type": "volume", "Source": name, "Target": target, "ReadOnly": read_only}),
        })
        .collect();
    if !mounts.is_empty() {
        cs.insert("Mounts".into(), json!(mounts));
    }
    cs.insert(
        "StopGracePeriod".into(),
        json!(spec.stop.grace_period_ms * NS),
    );
    if spec.stop.signal != 15 {
        cs.insert("StopSignal".into(), json!(spec.stop.signal.to_string()));
    }
    if let Some(h) = spec.healthcheck.as_ref().and_then(health_json) {
        cs.insert("Healthcheck".into(), h);
    }
    for (key, refs, config) in [
        ("Secrets", &spec.secrets, false),
        ("Configs", &spec.configs, true),
    ] {
        if !refs.is_empty() {
            cs.insert(key.into(), file_refs_json(refs, config, &|n| n.to_string()));
        }
    }
    let set = |s: &orc_spec::ResourceSet| {
        let mut o = Map::new();
        if s.nano_cpus > 0 {
            o.insert("NanoCPUs".into(), json!(s.nano_cpus));
        }
        if s.memory_bytes > 0 {
            o.insert("MemoryBytes".into(), json!(s.memory_bytes));
        }
        Value::Object(o)
    };
    let mut restart = json!({
        "Condition": match spec.restart.condition {
            RestartCondition::Any => "any",
            RestartCondition::OnFailure => "on-failure",
            RestartCondition::None => "none",
        },
        "Delay": spec.restart.delay_ms * NS,
        "MaxAttempts": spec.restart.max_attempts.unwrap_or(0),
    });
    if spec.restart.window_ms > 0 {
        restart["Window"] = json!(spec.restart.window_ms * NS);
    }
    let mut placement = Map::new();
    if !spec.constraints.is_empty() {
        let c: Vec<String> = spec.constraints.iter().map(constraint_str).collect();
        placement.insert("Constraints".into(), json!(c));
    }
    if !spec.placement.preferences.is_empty() {
        let p: Vec<Value> = spec
            .placement
            .preferences
            .iter()
            .map(|PlacementPreference::Spread { label }| {
                json!({"Spread": {"SpreadDescriptor": format!("node.labels.{label}")}})
            })
            .collect();
        placement.insert("Preferences".into(), json!(p));
    }
    let networks: Vec<Value> = match spec.network_mode {
        NetworkMode::Host => vec![json!({"Target": "host"})],
        NetworkMode::Stack => spec
            .networks
            .iter()
            .map(|n| {
                json!({
                    "Target": network_id(&format!("{stack}_{n}")),
                    "Aliases": [name.strip_prefix(&format!("{stack}_")).unwrap_or(name)],
                })
            })
            .collect(),
    };
    let mut limits = set(&spec.resources.limits);
    if spec.container.pids_limit > 0 {
        limits["Pids"] = json!(spec.container.pids_limit);
    }
    let mut tt = json!({
        "ContainerSpec": Value::Object(cs),
        "Resources": {"Limits": limits, "Reservations": set(&spec.resources.reservations)},
        "RestartPolicy": restart,
        "Placement": Value::Object(placement),
        "ForceUpdate": 0,
        "Runtime": "container",
    });
    if !networks.is_empty() {
        tt["Networks"] = json!(networks);
    }
    let mode = match spec.mode {
        ServiceMode::Replicated { replicas } => json!({"Replicated": {"Replicas": replicas}}),
        ServiceMode::Global => json!({"Global": {}}),
    };
    let mut ep = json!({"Mode": "vip"});
    if !spec.ports.is_empty() {
        ep["Ports"] = json!(ports(&spec.ports));
    }
    json!({
        "Name": name,
        "Labels": labels,
        "TaskTemplate": tt,
        "Mode": mode,
        "UpdateConfig": update_json(&spec.update_config),
        "RollbackConfig": update_json(&spec.rollback_config),
        "EndpointSpec": ep,
    })
}

/// Published ports as Docker's `PortConfig` list.
pub fn ports(ports: &[PortSpec]) -> Vec<Value> {
    ports
        .iter()
        .map(|p| {
            json!({
                "Protocol": p.protocol.as_str(),
                "TargetPort": p.target,
                "PublishedPort": p.published,
                "PublishMode": match p.mode { PublishMode::Ingress => "ingress", PublishMode::Host => "host" },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(t: &str) -> Option<String> {
        (t == "netid1").then(|| "web_front".to_string())
    }

    fn cli_create() -> Value {
        // What `docker service create --name web_app --replicas 2 -p 8080:80 nginx`
        // sends (CLI 28): zero values everywhere else.
        json!({
            "Name": "web_app",
            "Labels": {},
            "TaskTemplate": {
                "ContainerSpec": {"Image": "nginx:1", "Labels": null, "Env": null, "Init": null,
                    "DNSConfig": {}, "Isolation": "default", "Healthcheck": null},
                "Resources": {"Limits": {}, "Reservations": {}},
                "Placement": {},
                "ForceUpdate": 0,
                "Networks": [{"Target": "netid1"}]
            },
            "Mode": {"Replicated": {"Replicas": 2}},
            "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5000000000u64,
                "MaxFailureRatio": 0, "Order": "stop-first"},
            "RollbackConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5000000000u64,
                "MaxFailureRatio": 0, "Order": "stop-first"},
            "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80,
                "PublishedPort": 8080, "PublishMode": "ingress"}]}
        })
    }

    #[test]
    fn reads_a_cli_create() {
        let d = from_docker(cli_create(), &names, None).unwrap();
        assert_eq!((d.stack.as_str(), d.short_name.as_str()), ("web", "app"));
        assert_eq!(d.spec.mode, ServiceMode::Replicated { replicas: 2 });
        assert_eq!(d.spec.networks, vec!["front".to_string()]);
        assert_eq!(d.spec.ports[0].published, 8080);
        assert_eq!(d.spec.image, "nginx:1");
    }

    #[test]
    fn round_trips_what_it_renders() {
        let d = from_docker(cli_create(), &names, None).unwrap();
        let rendered = to_docker(&d.name, &d.stack, &d.spec, &|n| {
            if n == "web_front" {
                "netid1".into()
            } else {
                n.into()
            }
        });
        let back = from_docker(rendered, &names, None).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn container_options_map_both_ways() {
        let mut v = cli_create();
        let cs = &mut v["TaskTemplate"]["ContainerSpec"];
        cs["Init"] = json!(true);
        cs["ReadOnly"] = json!(true);
        cs["CapabilityAdd"] = json!(["NET_ADMIN"]);
        cs["CapabilityDrop"] = json!(["CAP_CHOWN"]);
        cs["Sysctls"] = json!({"net.ipv4.ip_forward": "1"});
        cs["Ulimits"] = json!([{"Name": "nofile", "Soft": 1024, "Hard": 4096}]);
        cs["Hosts"] = json!(["10.0.0.1 db db.lan", "printer:192.168.1.9"]);
        cs["DNSConfig"] =
            json!({"Nameservers": ["1.1.1.1"], "Search": ["lan"], "Options": ["ndots:2"]});
        v["TaskTemplate"]["Resources"]["Limits"]["Pids"] = json!(200);
        let d = from_docker(v, &names, None).unwrap();
        let c = &d.spec.container;
        assert!(c.init && c.read_only);
        assert_eq!(c.cap_add, ["CAP_NET_ADMIN"]);
        assert_eq!(c.cap_drop, ["CAP_CHOWN"]);
        assert_eq!(c.sysctls["net.ipv4.ip_forward"], "1");
        assert_eq!(
            (c.ulimits["nofile"].soft, c.ulimits["nofile"].hard),
            (1024, 4096)
        );
        let hosts: Vec<(&str, &str)> = c
            .extra_hosts
            .iter()
            .map(|h| (h.hostname.as_str(), h.ip.as_str()))
            .collect();
        assert_eq!(
            hosts,
            [
                ("db", "10.0.0.1"),
                ("db.lan", "10.0.0.1"),
                ("printer", "192.168.1.9")
            ]
        );
        assert_eq!(
            (c.dns.len(), c.dns_search.len(), c.dns_options.len()),
            (1, 1, 1)
        );
        assert_eq!(c.pids_limit, 200);
        let rendered = to_docker(&d.name, &d.stack, &d.spec, &|n| n.into());
        assert_eq!(
            from_docker(rendered, &names, None).unwrap().spec.container,
            *c
        );
        // What Docker can't say (privileged, devices) stays on an update.
        let mut base = d.spec.clone();
        base.container.privileged = true;
        let back = from_docker(cli_create(), &names, Some(&base)).unwrap();
        assert!(back.spec.container.privileged && !back.spec.container.init);
    }

    #[test]
    fn lowercase_keys_and_missing_replicas() {
        let v = json!({"Name": "solo", "TaskTemplate": {"ContainerSpec": {"Image": "a"}},
            "Mode": {"replicated": {}}});
        let d = from_docker(v, &names, None).unwrap();
        assert_eq!(d.spec.mode, ServiceMode::Replicated { replicas: 1 });
        assert_eq!((d.stack.as_str(), d.short_name.as_str()), ("solo", "solo"));
        let g = json!({"name": "a_b", "taskTemplate": {"containerSpec": {"image": "a"}},
            "mode": {"global": {}}});
        assert_eq!(
            from_docker(g, &names, None).unwrap().spec.mode,
            ServiceMode::Global
        );
    }

    #[test]
    fn refuses_what_orc_does_not_do_naming_the_field() {
        let mut v = cli_create();
        v["TaskTemplate"]["ContainerSpec"]["Groups"] = json!(["audio"]);
        let e = from_docker(v, &names, None).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            e.message.contains("TaskTemplate.ContainerSpec.Groups"),
            "{}",
            e.message
        );
        // Container options are checked as a stack file's are.
        let mut v = cli_create();
        v["TaskTemplate"]["ContainerSpec"]["CapabilityAdd"] = json!(["CAP_BOGUS"]);
        let e = from_docker(v, &names, None).unwrap_err();
        assert!(
            e.message.contains("ContainerSpec.CapabilityAdd"),
            "{}",
            e.message
        );
        let mut v = cli_create();
        v["TaskTemplate"]["ContainerSpec"]["Sysctls"] = json!({"kernel.panic": "1"});
        let e = from_docker(v, &names, None).unwrap_err();
        assert!(
            e.message.contains("ContainerSpec.Sysctls.kernel.panic"),
            "{}",
            e.message
        );
        let mut v = cli_create();
        v["Mode"] = json!({"ReplicatedJob": {"TotalCompletions": 1}});
        assert!(from_docker(v, &names, None)
            .unwrap_err()
            .message
            .contains("Mode.ReplicatedJob"));
        let mut v = cli_create();
        v["Colour"] = json!("blue");
        assert!(from_docker(v, &names, None)
            .unwrap_err()
            .message
            .contains("Colour"));
        let mut v = cli_create();
        v["UpdateConfig"]["Order"] = json!("sideways");
        assert!(from_docker(v, &names, None)
            .unwrap_err()
            .message
            .contains("UpdateConfig.Order"));
        let mut v = cli_create();
        v["TaskTemplate"]["Networks"] = json!([{"Target": "other_net"}]);
        assert!(from_docker(v, &names, None)
            .unwrap_err()
            .message
            .contains("Networks[0].Target"));
    }

    #[test]
    fn health_checks_and_update_configs_round_trip() {
        let mut v = cli_create();
        v["TaskTemplate"]["ContainerSpec"]["Healthcheck"] = json!({"Test": ["CMD-SHELL", "wget -q -O- localhost"],
            "Interval": 2_000_000_000u64, "Retries": 3});
        v["UpdateConfig"] = json!({"Parallelism": 2, "Delay": 1_000_000_000u64, "FailureAction": "rollback",
            "Order": "start-first", "MaxFailureRatio": 0.25});
        let d = from_docker(v, &names, None).unwrap();
        assert_eq!(d.spec.update_config.parallelism, 2);
        assert_eq!(d.spec.update_config.order, UpdateOrder::StartFirst);
        assert_eq!(d.spec.update_config.max_failure_ratio_ppm, 250_000);
        let h = d.spec.healthcheck.clone().unwrap();
        assert_eq!(
            h.test,
            Some(HealthTest::CmdShell("wget -q -O- localhost".into()))
        );
        assert_eq!((h.interval_ms, h.retries), (Some(2_000), Some(3)));
        let rendered = to_docker(&d.name, &d.stack, &d.spec, &|n| {
            if n == "web_front" {
                "netid1".into()
            } else {
                n.into()
            }
        });
        assert_eq!(rendered["UpdateConfig"]["FailureAction"], "rollback");
        assert_eq!(from_docker(rendered, &names, None).unwrap(), d);
    }

    #[test]
    fn secrets_and_configs_map_both_ways_and_keep_their_pinned_revision() {
        let mut body = cli_create();
        body["TaskTemplate"]["ContainerSpec"]["Secrets"] = json!([{
            "SecretID": "x1", "SecretName": "db_root",
            "File": {"Name": "db_root", "UID": "0", "GID": "0", "Mode": 292}
        }]);
        body["TaskTemplate"]["ContainerSpec"]["Configs"] = json!([{
            "ConfigID": "c1", "ConfigName": "nginx",
            "File": {"Name": "/etc/nginx.conf", "UID": "33", "GID": "33", "Mode": 288}
        }]);
        let d = from_docker(body.clone(), &names, None).unwrap();
        let s = &d.spec.secrets[0];
        assert_eq!(
            (s.name.as_str(), s.target.as_str()),
            ("db_root", "/run/secrets/db_root")
        );
        assert_eq!((s.mode, s.revision), (0o444, 0));
        let c = &d.spec.configs[0];
        assert_eq!(
            (c.target.as_str(), c.uid, c.mode),
            ("/etc/nginx.conf", 33, 0o440)
        );
        let out = to_docker(&d.name, &d.stack, &d.spec, &|n| n.into());
        assert_eq!(
            out["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["File"]["Name"],
            "db_root"
        );
        assert_eq!(from_docker(out.clone(), &names, None).unwrap(), d);
        // An update keeps the revision the service pins.
        let mut base = d.spec.clone();
        base.secrets[0].revision = 3;
        let back = from_docker(out, &names, Some(&base)).unwrap();
        assert_eq!(back.spec.secrets[0].revision, 3);
        body["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["File"]["Mode"] = json!(99999);
        assert!(from_docker(body, &names, None).is_err());
    }

    #[test]
    fn an_update_keeps_what_docker_does_not_show() {
        let d = from_docker(cli_create(), &names, None).unwrap();
        let mut base = d.spec.clone();
        base.depends_on = vec![];
        base.secrets = vec![];
        base.env.insert("OLD".into(), "1".into());
        base.healthcheck = Some(HealthCheck {
            test: Some(HealthTest::Tcp(80)),
            interval_ms: None,
            timeout_ms: None,
            retries: None,
            start_period_ms: None,
            start_interval_ms: None,
            restart_on_unhealthy: true,
        });
        let back = from_docker(cli_create(), &names, Some(&base)).unwrap();
        // Kept: fields Docker's spec does not carry here; replaced: those it does.
        assert_eq!(back.spec.healthcheck, base.healthcheck);
        assert!(!back.spec.env.contains_key("OLD"));
        assert_eq!(back.spec.ports, d.spec.ports);
    }

    #[test]
    fn names_and_stack_labels() {
        let mut v = cli_create();
        v["Labels"] = json!({STACK_LABEL: "shop"});
        let e = from_docker(v.clone(), &names, None).unwrap_err();
        assert!(e.message.contains("shop_NAME"), "{}", e.message);
        v["Name"] = json!("shop_app");
        v["TaskTemplate"]["Networks"] = json!([{"Target": "shop_default", "Aliases": ["app"]}]);
        let d = from_docker(v, &names, None).unwrap();
        assert_eq!((d.stack.as_str(), d.short_name.as_str()), ("shop", "app"));
        assert_eq!(d.spec.networks, vec!["default".to_string()]);
        assert!(!d.spec.labels.contains_key(STACK_LABEL));
        let mut v = cli_create();
        v["Name"] = json!("Bad_Name");
        assert_eq!(from_docker(v, &names, None).unwrap_err().status, 400);
        assert_eq!(
            from_docker(json!([1]), &names, None).unwrap_err().status,
            400
        );
    }
}
